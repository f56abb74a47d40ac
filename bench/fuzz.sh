#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for RUNS executions (default 10^6) and reports, per
# target, the executions, the speed, the corpus it grew to and whether it crashed. Exits 1 if any
# target crashed (the input is kept under $BUILD/tests/fuzz/artifacts/: replay it with
# `$BUILD/fuzz/pkgxfer_<target>_fuzzer <file>`).
#
#   bench/fuzz.sh [target ...]          default: units syntax config manifest
#
# Builds build-fuzz/ first (clang++, -DPKGXFER_FUZZ=ON; ccache if installed). Environment: RUNS,
# BUILD (default build-fuzz), JOBS (build parallelism, default 1), CXX (default clang++-14).
# The grown corpus stays in $BUILD/tests/fuzz/corpus/<target>/ (seeds: tests/fuzz/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1000000}
BUILD=${BUILD:-build-fuzz}
JOBS=${JOBS:-1}
CXX=${CXX:-clang++-14}
targets=("$@")
((${#targets[@]})) || targets=(units syntax config manifest)

launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -DPKGXFER_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" > /dev/null
cmake --build "$BUILD" -j "$JOBS" > /dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
printf '%-10s %12s %10s %10s %8s  %s\n' target executions exec/s corpus crashes result
for t in "${targets[@]}"; do
  corpus=$BUILD/tests/fuzz/corpus/$t
  artifacts=$BUILD/tests/fuzz/artifacts
  mkdir -p "$corpus" "$artifacts"
  log=$BUILD/tests/fuzz/$t.log
  start=$(date +%s.%N)
  rc=0
  "$BUILD/fuzz/pkgxfer_${t}_fuzzer" -runs="$RUNS" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$corpus" "tests/fuzz/$t" > "$log" 2>&1 || rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  execs=${execs:-0}
  crashes=0
  result=ok
  if ((rc != 0)); then
    crashes=1
    result="CRASH (rc $rc): $(grep -m1 -E 'ERROR|fuzz check failed|runtime error' "$log" || true)"
    failed=1
  fi
  printf '%-10s %12s %10.0f %10s %8s  %s\n' "$t" "$execs" "$(awk -v n="$execs" -v s="$secs" 'BEGIN {print n / s}')" \
    "$(ls "$corpus" | wc -l)" "$crashes" "$result"
done
exit $failed
