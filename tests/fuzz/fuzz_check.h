#pragma once

// What the fuzzers share: a check that stops the run (abort: libFuzzer keeps the input as a crash)
// when a property of a parser does not hold.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace pkgxfer::fuzz {

inline void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
    std::abort();
  }
}

}  // namespace pkgxfer::fuzz
