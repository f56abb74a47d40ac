#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest.
#   ./scripts/test.sh                   the normal build (what CI runs)
#   PKGXFER_SANITIZE=1 ./scripts/test.sh   the same tests under ASan + UBSan (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/build.sh"

build_dir=build
[[ "${PKGXFER_SANITIZE:-0}" == 1 ]] && build_dir=build-asan
build_dir=${PKGXFER_BUILD_DIR:-$build_dir}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 600
