#pragma once

// A site in a temp folder for end-to-end tests: a config (site PS1, data in site/, logs in log/,
// file DPs dp01..dpNN under the folder) and a runner for the real pkgxfer binary.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/test_util.h"

namespace pkgxfer::testing {

class SiteFixture : public ::testing::Test {
 protected:
  // Writes pkgxfer.json with `dp_count` file DPs. Tests may overwrite it.
  void writeSiteConfig(int dp_count = 1) {
    std::string dps;
    for (int i = 1; i <= dp_count; ++i) {
      std::string name = (i < 10 ? "dp0" : "dp") + std::to_string(i);
      dps += std::string(dps.empty() ? "" : ", ") + R"({ "name": ")" + name +
             R"(", "address": "file://)" + name + R"(" })";
    }
    writeFile(dir_ / "pkgxfer.json", R"({
      "site": { "code": "PS1", "data_dir": "site" },
      "logging": { "dir": "log" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution_points": [ )" + dps + R"( ]
    })");
  }
  void SetUp() override { writeSiteConfig(); }

  // Runs `pkgxfer --config <the site's config> args...`.
  RunResult pkgxfer(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  TempDir dir_;
};

}  // namespace pkgxfer::testing
