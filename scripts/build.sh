#!/usr/bin/env bash
# Configures and builds pkgxfer into build/ (or $PKGXFER_BUILD_DIR). PKGXFER_SANITIZE=1 builds
# with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ instead, PKGXFER_TSAN=1 with
# ThreadSanitizer into build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/install-deps.sh"

sanitize=${PKGXFER_SANITIZE:-0}
tsan=${PKGXFER_TSAN:-0}
if [[ "$sanitize" == 1 && "$tsan" == 1 ]]; then
  echo "build: PKGXFER_SANITIZE and PKGXFER_TSAN cannot be combined" >&2
  exit 2
fi
if [[ "$sanitize" == 1 ]]; then
  build_dir=${PKGXFER_BUILD_DIR:-build-asan}
  extra=(-DPKGXFER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
elif [[ "$tsan" == 1 ]]; then
  # -O1 keeps TSan's 5-15x slowdown bearable for the integration tests; still full debug info.
  build_dir=${PKGXFER_BUILD_DIR:-build-tsan}
  extra=(-DPKGXFER_TSAN=ON -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1")
else
  build_dir=${PKGXFER_BUILD_DIR:-build}
  extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
werror=OFF
[[ -n "${CI:-}" ]] && werror=ON

cmake -S . -B "$build_dir" -DPKGXFER_WERROR=$werror "${extra[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
