#pragma once

// What every pkgxfer subcommand works with: the loaded config and the site database.

#include <cstdio>
#include <memory>
#include <string>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/package_repository.h"

namespace pkgxfer::cli {

// Exit codes of pkgxfer (SPEC §5).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the operation failed on well-formed input
inline constexpr int kExitUsage = 2;   // bad usage or bad config

class CliContext {
 public:
  explicit CliContext(config::Config config) : config_(std::move(config)) {}

  const config::Config& config() const { return config_; }
  Clock& clock() { return SystemClock::instance(); }
  // Opens the site database on first use. The CLI commits with Durability::Full: once it says a
  // request is queued, that request survives even a power loss.
  Result<store::Database*> database();
  // The package `id` (normalized). NotFound "unknown package <id>" if there is none.
  Result<store::PackageRow> findPackage(const std::string& id);

 private:
  config::Config config_;
  std::unique_ptr<store::Database> db_;
};

// Prints "pkgxfer: <message>" to stderr and returns `code`.
int fail(int code, const std::string& message);

}  // namespace pkgxfer::cli
