// libFuzzer target: the config reader (config::parseConfig: JSON parse, shape, typed values,
// ranges, cross-field checks). Relative paths resolve against a scratch folder holding empty files
// under the names the example configs use, so the checks of certificate and CA files are reached.
// Properties: no crash, UB or exception (the reader never throws); a rejected config is
// InvalidArgument with a message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pkgxfer/config/config.h"

namespace {

std::filesystem::path g_base;

void removeBase() {
  std::error_code ec;
  std::filesystem::remove_all(g_base, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string dir =
      (std::filesystem::temp_directory_path() / "pkgxfer-config-fuzz.XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) return 0;
  g_base = dir;
  for (const char* name : {"site.token", "dp-ca.pem", "dp03.pem", "dp03.key", "ca.pem"}) {
    std::ofstream(g_base / name) << "x";
  }
  std::atexit(removeBase);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pkgxfer::fuzz::check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = pkgxfer::config::parseConfig(text, g_base.empty() ? "/nonexistent" : g_base);
  if (!config.ok()) {
    check(config.error().code() == pkgxfer::Status::Code::InvalidArgument,
          "a rejected config is InvalidArgument, not " + config.error().toString());
    check(!config.error().message().empty(), "a rejected config says why");
  }
  return 0;
}
