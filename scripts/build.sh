#!/usr/bin/env bash
# Configures and builds pkgxfer into build/ (or $PKGXFER_BUILD_DIR). PKGXFER_SANITIZE=1 builds
# with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ instead.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/install-deps.sh"

sanitize=${PKGXFER_SANITIZE:-0}
if [[ "$sanitize" == 1 ]]; then
  build_dir=${PKGXFER_BUILD_DIR:-build-asan}
  extra=(-DPKGXFER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
else
  build_dir=${PKGXFER_BUILD_DIR:-build}
  extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
werror=OFF
[[ -n "${CI:-}" ]] && werror=ON

cmake -S . -B "$build_dir" -DPKGXFER_WERROR=$werror "${extra[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
