#pragma once

// Crash points: named places along a distribution where a test build of pkgxferd can be made to
// die at once, as kill -9 or a power cut would stop it, so that the tests can check what a
// restart recovers (tests/integration/crash_points_test.cpp).
//
// Armed by the environment variable PKGXFER_CRASH_POINT="<name>" or "<name>@<n>" (die the n-th
// time the point is reached; default 1). When reached, the process writes "pkgxferd: crash point
// <name> reached" to stderr and ends with _exit(kCrashPointExitCode): no destructor, no flush, no
// stop sequence. Honoured only by builds made with the CMake option PKGXFER_CRASH_POINTS (on
// where the tests are built, off by default otherwise); in other builds crashPoint() does nothing
// and the variable is ignored. Thread-safe.
//
// The names are a contract with the tests: "<component>.<step>", e.g. "job.sealed". Each is
// listed where it is reached and in docs/architecture.md ("Crash points").

#include <string_view>

namespace pkgxfer {

inline constexpr int kCrashPointExitCode = 86;

// Whether this build honours PKGXFER_CRASH_POINT.
bool crashPointsEnabled();

// Dies here if PKGXFER_CRASH_POINT names this point (and this is its n-th reach).
void crashPoint(std::string_view name);

}  // namespace pkgxfer
