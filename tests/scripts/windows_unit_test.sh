#!/usr/bin/env bash
# Runs the Windows build's unit tests (tests/windows: Win32 file system, SHA-256 by CNG, time zone)
# under Wine, in a fresh WINEPREFIX of their own (ctest label "windows").
#   tests/scripts/windows_unit_test.sh WINDOWS_BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 WINDOWS_BUILD_DIR}
exe=$build/tests/pkgxfer_windows_test.exe
if [[ ! -f $exe ]]; then
  echo "$exe is missing: run scripts/build-windows.sh (scripts/test.sh does)"
  [[ -n ${CI:-} ]] && exit 1
  exit 77  # skipped (SKIP_RETURN_CODE): a local build without the Windows programs
fi
command -v wine >/dev/null || { echo "FAIL: wine is not installed (scripts/build-windows.sh)"; exit 1; }

work=$(mktemp -d /tmp/pkgxfer-wine-unit.XXXXXX)
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
trap 'wineserver -k 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 143' TERM INT
wineboot -i >/dev/null 2>&1
wineserver -w
# Into a file, not a pipe: Wine's services inherit the output and would hold a pipe open.
rc=0
wine "$exe" --gtest_color=no > "$work/out" 2>&1 || rc=$?
tr -d '\r' < "$work/out"
exit $rc
