#include "cli_context.h"

namespace pkgxfer::cli {

Result<store::Database*> CliContext::database() {
  if (db_) return db_.get();
  if (!config_.site) {
    return Status::InvalidArgument(config_.file.string() +
                                   ": this config has no `site` block; pkgxfer needs the site "
                                   "server's config");
  }
  store::DatabaseOptions options;
  options.durability = store::Durability::Full;
  options.integrity_check = false;  // the service checks at start; the CLI must stay fast
  PKGXFER_ASSIGN_OR_RETURN(
      auto db,
      store::Database::open(store::siteDatabasePath(config_.site->data_dir), clock(), options));
  db_ = std::move(db);
  return db_.get();
}

Result<store::PackageRow> CliContext::findPackage(const std::string& id) {
  PKGXFER_ASSIGN_OR_RETURN(store::Database * db, database());
  store::PackageRepository packages(*db);
  auto package = packages.get(id);
  if (!package.ok() && package.error().code() == Status::Code::NotFound) {
    return Status::NotFound("unknown package " + id);
  }
  return package;
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "pkgxfer: %s\n", message.c_str());
  return code;
}

}  // namespace pkgxfer::cli
