#include "pkgxfer/store/distribution_point_repository.h"

#include <cstdio>
#include <map>
#include <set>

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "name, type, address, content_url, sources, in_config, added_at, updated_at, removed_at";

std::string_view typeText(config::DpType type) {
  return type == config::DpType::Pull ? "pull" : "standard";
}

Result<config::DpType> parseType(std::string_view text) {
  if (text == "standard") return config::DpType::Standard;
  if (text == "pull") return config::DpType::Pull;
  return Status::Corruption("invalid distribution point type '" + std::string(text) + "'");
}

// A JSON array of strings. (The store does not include a JSON library; SQLite parses it back.)
std::string toJsonArray(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (unsigned char c : values[i]) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

Result<std::vector<std::string>> fromJsonArray(Connection& conn, const std::string& json) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                           conn.prepare("SELECT value FROM json_each(?1) ORDER BY key"));
  stmt.bindAll(json);
  std::vector<std::string> values;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    values.push_back(stmt.columnText(0));
  }
  return values;
}

Result<DistributionPointRow> readRow(Connection& conn, const Statement& stmt) {
  DistributionPointRow row;
  row.name = stmt.columnText(0);
  PKGXFER_ASSIGN_OR_RETURN(row.type, parseType(stmt.columnText(1)));
  row.address = stmt.columnText(2);
  row.content_url = stmt.columnText(3);
  PKGXFER_ASSIGN_OR_RETURN(row.sources, fromJsonArray(conn, stmt.columnText(4)));
  row.in_config = stmt.columnInt64(5) != 0;
  PKGXFER_ASSIGN_OR_RETURN(row.added_at, stmt.columnTime(6));
  PKGXFER_ASSIGN_OR_RETURN(row.updated_at, stmt.columnTime(7));
  PKGXFER_ASSIGN_OR_RETURN(row.removed_at, stmt.columnOptionalTime(8));
  return row;
}

Result<std::vector<DistributionPointRow>> readAll(Connection& conn, bool include_removed) {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt,
      conn.prepare(std::string("SELECT ") + std::string(kColumns) + " FROM distribution_points" +
                   (include_removed ? "" : " WHERE in_config = 1") + " ORDER BY name"));
  std::vector<DistributionPointRow> rows;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    PKGXFER_ASSIGN_OR_RETURN(DistributionPointRow row, readRow(conn, stmt));
    rows.push_back(std::move(row));
  }
  return rows;
}

bool sameSettings(const DistributionPointRow& row, const config::DistributionPointConfig& dp) {
  return row.type == dp.type && row.address == dp.address && row.content_url == dp.content_url &&
         row.sources == dp.sources;
}

}  // namespace

Result<DpSyncSummary> DistributionPointRepository::syncFromConfig(
    const std::vector<config::DistributionPointConfig>& dps) {
  auto run = [&]() -> Result<DpSyncSummary> {
    std::set<std::string> names;
    for (const auto& dp : dps) {
      if (dp.name.empty()) return Status::InvalidArgument("a distribution point has no name");
      if (!names.insert(dp.name).second) {
        return Status::InvalidArgument("distribution point " + dp.name + " is listed twice");
      }
    }
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    const Timestamp now = conn.now();

    std::map<std::string, DistributionPointRow> existing;
    {
      PKGXFER_ASSIGN_OR_RETURN(std::vector<DistributionPointRow> rows, readAll(conn, true));
      for (auto& row : rows) existing.emplace(row.name, std::move(row));
    }

    DpSyncSummary summary;
    for (const auto& dp : dps) {
      auto it = existing.find(dp.name);
      if (it == existing.end()) {
        PKGXFER_ASSIGN_OR_RETURN(
            Statement stmt,
            conn.prepare("INSERT INTO distribution_points (name, type, address, content_url, "
                         "sources, in_config, added_at, updated_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)"));
        stmt.bindAll(dp.name, typeText(dp.type), dp.address, dp.content_url,
                     toJsonArray(dp.sources), now);
        PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext("add " + dp.name));
        summary.added.push_back(dp.name);
        continue;
      }
      const DistributionPointRow& row = it->second;
      if (row.in_config && sameSettings(row, dp)) continue;
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE distribution_points SET type = ?2, address = ?3, "
                       "content_url = ?4, sources = ?5, in_config = 1, removed_at = NULL, "
                       "updated_at = ?6 WHERE name = ?1"));
      stmt.bindAll(dp.name, typeText(dp.type), dp.address, dp.content_url, toJsonArray(dp.sources),
                   now);
      PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext("update " + dp.name));
      (row.in_config ? summary.changed : summary.restored).push_back(dp.name);
    }

    for (const auto& [name, row] : existing) {
      if (!row.in_config || names.count(name) != 0) continue;
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE distribution_points SET in_config = 0, removed_at = ?2, "
                       "updated_at = ?2 WHERE name = ?1"));
      stmt.bindAll(name, now);
      PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext("mark " + name + " removed"));
      summary.removed.push_back(name);
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return summary;
  };
  return internal::withContext(run(), "sync distribution points from the config");
}

Result<DistributionPointRow> DistributionPointRepository::get(std::string_view name) {
  auto run = [&]() -> Result<DistributionPointRow> {
    Connection& conn = db_.connection();
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                             conn.prepare("SELECT " + std::string(kColumns) +
                                          " FROM distribution_points WHERE name = ?1"));
    stmt.bindAll(name);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) {
      return Status::NotFound("distribution point " + std::string(name) + " does not exist");
    }
    return readRow(conn, stmt);
  };
  return internal::withContext(run(), "get distribution point " + std::string(name));
}

Result<std::vector<DistributionPointRow>> DistributionPointRepository::list(bool include_removed) {
  return internal::withContext(readAll(db_.connection(), include_removed),
                               "list distribution points");
}

}  // namespace pkgxfer::store
