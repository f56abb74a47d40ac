#include "pkgxfer/common/crash_point.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace pkgxfer {

#if PKGXFER_CRASH_POINTS

namespace {

struct Armed {
  std::string name;  // empty: nothing armed
  long at = 1;       // die at this reach
  std::atomic<long> reached{0};
};

Armed& armed() {
  static Armed* a = [] {
    auto* out = new Armed;  // never destroyed: points may be reached during exit
    const char* env = std::getenv("PKGXFER_CRASH_POINT");
    if (env == nullptr || *env == '\0') return out;
    std::string_view spec(env);
    const auto at = spec.find('@');
    out->name = std::string(spec.substr(0, at));
    if (at != std::string_view::npos) {
      std::string_view n = spec.substr(at + 1);
      long value = 0;
      auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), value);
      if (ec == std::errc() && end == n.data() + n.size() && value >= 1) out->at = value;
    }
    return out;
  }();
  return *a;
}

}  // namespace

bool crashPointsEnabled() { return true; }

void crashPoint(std::string_view name) {
  Armed& a = armed();
  if (a.name.empty() || a.name != name) return;
  if (a.reached.fetch_add(1) + 1 != a.at) return;
  const std::string line = "pkgxferd: crash point " + a.name + " reached\n";
  // write(2), not stdio: nothing buffered survives _exit.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
  ::_exit(kCrashPointExitCode);
}

#else

bool crashPointsEnabled() { return false; }
void crashPoint(std::string_view) {}

#endif

}  // namespace pkgxfer
