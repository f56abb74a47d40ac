#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest.
#   ./scripts/test.sh                      the normal build (what CI runs), then the fuzz targets
#                                          for 30 s each (build-fuzz/, clang; PKGXFER_FUZZ=0 skips)
#   PKGXFER_SANITIZE=1 ./scripts/test.sh   the same tests under ASan + UBSan (build-asan/)
#   PKGXFER_TSAN=1 ./scripts/test.sh       the same tests under ThreadSanitizer (build-tsan/)
# The normal mode also cross-builds the Windows programs (scripts/build-windows.sh, build-windows/)
# and runs the tests labelled "windows" under Wine. PKGXFER_WINDOWS=0 skips both for a quick local
# run; CI (CI set) never skips them.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/build.sh"

windows=${PKGXFER_WINDOWS:-1}
[[ "${PKGXFER_SANITIZE:-0}" == 1 || "${PKGXFER_TSAN:-0}" == 1 ]] && windows=0
if [[ -n "${CI:-}" && "$windows" != 1 && "${PKGXFER_SANITIZE:-0}" != 1 && "${PKGXFER_TSAN:-0}" != 1 ]]; then
  echo "test: CI runs the Windows tests; PKGXFER_WINDOWS=0 is ignored" >&2
  windows=1
fi
ctest_args=()
if [[ "$windows" == 1 ]]; then
  "./scripts/build-windows.sh"
else
  ctest_args+=(-LE windows)
fi

build_dir=build
[[ "${PKGXFER_SANITIZE:-0}" == 1 ]] && build_dir=build-asan
[[ "${PKGXFER_TSAN:-0}" == 1 ]] && build_dir=build-tsan
build_dir=${PKGXFER_BUILD_DIR:-$build_dir}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A race fails the test that hit it (exit code 66), in a test binary or in a pkgxferd it ran.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 600 "${ctest_args[@]}"

# The fuzz targets (tests/fuzz/CMakeLists.txt), in the normal mode only: a build of their own with
# clang and libFuzzer, then each runs for PKGXFER_FUZZ_SECONDS (30) as a ctest labelled "fuzz".
if [[ "${PKGXFER_SANITIZE:-0}" != 1 && "${PKGXFER_TSAN:-0}" != 1 && "${PKGXFER_FUZZ:-1}" != 0 ]]; then
  fuzz_dir=${PKGXFER_FUZZ_BUILD_DIR:-build-fuzz}
  cmake -S . -B "$fuzz_dir" -DPKGXFER_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
  cmake --build "$fuzz_dir" -j "$(nproc)"
  ctest --test-dir "$fuzz_dir" -L fuzz --output-on-failure -j "$(nproc)"
fi
