#!/usr/bin/env bash
# The module-boundary check fails, naming the file and the rule, on each kind of violation, and
# passes on the tree as it is. Runs on copies in a temp folder.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
check=$src/scripts/check-modules.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$check" "$src" > /dev/null || { echo "FAIL: the tree itself does not pass"; exit 1; }

expect_violation() {  # NAME FILE LINE PATTERN
  local name=$1 file=$2 line=$3 pattern=$4 out
  rm -rf "$tmp/tree"
  mkdir -p "$tmp/tree"
  cp -r "$src/src" "$src/include" "$src/docs" "$tmp/tree/"
  mkdir -p "$(dirname "$tmp/tree/$file")"
  printf '%s\n' "$line" >> "$tmp/tree/$file"
  if out=$("$check" "$tmp/tree" 2>&1); then
    echo "FAIL: $name was not found"; exit 1
  fi
  grep -q -- "$pattern" <<< "$out" || { echo "FAIL: $name: unexpected report: $out"; exit 1; }
  echo "ok: $name"
}

expect_violation "content including store" src/content/manifest.cpp \
  '#include "pkgxfer/store/database.h"' "src/content/manifest.cpp:.*module content includes store"
expect_violation "distmgr including pkgxfermgr" src/distmgr/distmgr.cpp \
  '#include "pkgxfer/pkgxfermgr/job_runner.h"' "module distmgr includes pkgxfermgr"
expect_violation "transport including a component" include/pkgxfer/transport/transport.h \
  '#include "pkgxfer/distmgr/distmgr.h"' "module transport includes distmgr"
expect_violation "SQLite outside store" src/cli/main.cpp '#include <sqlite3.h>' \
  "src/cli/main.cpp:.*includes SQLite"
expect_violation "json outside its modules" src/host/runtime.cpp \
  '#include <nlohmann/json.hpp>' "src/host/runtime.cpp:.*includes nlohmann/json"
expect_violation "_WIN32 outside platform and fs" src/content/sha256.cpp '#ifdef _WIN32' \
  "src/content/sha256.cpp:.*uses _WIN32"
expect_violation "a module missing from the table" src/newmod/x.cpp '// new' \
  "module newmod .* is not in the module table"
echo "check-modules catches every kind of violation"
