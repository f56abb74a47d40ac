#pragma once

// The site database's schema as an ordered list of migration steps. Step N takes a database at
// user_version N-1 to N. A released step is never edited: a schema change is a new step appended
// to the list, so every existing site.db can be brought forward.

#include <span>
#include <string_view>

#include "pkgxfer/common/status.h"
#include "sqlite.h"

namespace pkgxfer::store::internal {

struct Migration {
  int version;                   // user_version after the step; 1, 2, ... without gaps
  std::string_view description;  // for error messages
  std::string_view sql;          // one or more statements
};

// The steps of this build, in order.
std::span<const Migration> schemaMigrations();
// The steps of a pull DP's own database (pulldp.db), numbered on their own.
std::span<const Migration> pullDpSchemaMigrations();

// Brings the database to the last version of `migrations`. Each step runs in its own write
// transaction that also sets user_version, so a failed step leaves the previous version intact and
// two processes opening a fresh file concurrently apply each step once.
// Errors: InvalidArgument "database schema version N is newer than this pkgxfer supports (M)";
// Internal if `migrations` is not numbered 1..M; a failing step's Status, prefixed with
// "migrate to schema version N (description)".
Status migrate(Connection& conn, std::span<const Migration> migrations);

// PRAGMA user_version.
Result<int> readUserVersion(Connection& conn);

}  // namespace pkgxfer::store::internal
