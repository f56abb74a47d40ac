#pragma once

// A fixture for store tests: a fresh site.db in a temp dir, a FakeClock, and small builders for
// packages and DPs.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fakes/fake_clock.h"
#include "fakes/test_util.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/distribution_point_repository.h"
#include "pkgxfer/store/package_repository.h"
#include "sqlite.h"

namespace pkgxfer::store {

// A deterministic fake SHA-256 (64 lower-case hex digits) for `seed`.
inline std::string fakeSha(int seed) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016x", static_cast<unsigned>(seed) * 2654435761u);
  std::string hex;
  for (int i = 0; i < 4; ++i) hex += buf;
  return hex;
}

// `count` files "dir<i%3>/file<i>.bin" of size 100 + i.
inline PackageContent makeContent(int count, int seed = 0) {
  PackageContent content;
  content.manifest_sha256 = fakeSha(seed * 1000 + 999);
  for (int i = 0; i < count; ++i) {
    PackageFile file;
    file.path = "dir" + std::to_string(i % 3) + "/file" + std::to_string(i) + ".bin";
    file.size = 100 + static_cast<std::uint64_t>(i);
    file.sha256 = fakeSha(seed * 1000 + i);
    file.mtime = Timestamp(std::chrono::milliseconds(1'700'000'000'000LL + i));
    file.attributes = 0x20;
    content.files.push_back(file);
  }
  for (int d = 0; d < 3 && d < count; ++d) content.dirs.push_back("dir" + std::to_string(d));
  content.dirs.push_back("empty");
  return content;
}

inline config::DistributionPointConfig makeDp(const std::string& name,
                                              config::DpType type = config::DpType::Standard) {
  config::DistributionPointConfig dp;
  dp.name = name;
  dp.type = type;
  dp.address = type == config::DpType::Pull ? "http://" + name + ":8532" : "file:///srv/" + name;
  return dp;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open(dbPath(), clock_);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    db_ = std::move(*db);
  }

  std::filesystem::path dbPath() const { return dir_.path() / "site.db"; }
  Database& db() { return *db_; }
  internal::Connection& conn() { return db_->connection(); }

  // Adds DPs to the configured set and syncs it.
  void addDps(const std::vector<std::string>& names,
              config::DpType type = config::DpType::Standard) {
    for (const auto& name : names) configured_.push_back(makeDp(name, type));
    auto synced = DistributionPointRepository(db()).syncFromConfig(configured_);
    ASSERT_TRUE(synced.ok()) << synced.status().toString();
  }

  void addPackage(const std::string& id, Priority priority = Priority::Medium, int files = 3) {
    NewPackage package{id, "Package " + id, "/src/" + id, priority};
    Status status = PackageRepository(db()).add(package, makeContent(files));
    ASSERT_TRUE(status.ok()) << status.toString();
  }

  // The number of rows `sql` (a SELECT count(*) ...) counts.
  std::int64_t count(const std::string& sql) {
    auto stmt = conn().prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status().toString();
    if (!stmt.ok()) return -1;
    auto row = stmt->step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    return stmt->columnInt64(0);
  }

  Timestamp nowMs() const {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(clock_.systemNow());
  }

  pkgxfer::testing::TempDir dir_;
  pkgxfer::testing::FakeClock clock_;
  std::unique_ptr<Database> db_;
  std::vector<config::DistributionPointConfig> configured_;
};

}  // namespace pkgxfer::store
