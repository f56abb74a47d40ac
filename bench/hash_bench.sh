#!/usr/bin/env bash
# Compares pkgxfer's SHA-256 hashing with sha256sum and `openssl dgst -sha256` in the same run.
#
#   bench/hash_bench.sh [path/to/pkgxfer_hash_bench]
#
# Build the bench first: cmake -B build -DPKGXFER_BUILD_BENCH=ON && cmake --build build -t
# pkgxfer_hash_bench. Environment: BASE (scratch dir, default /tmp/pkgxfer-hash-bench), RUNS
# (default 5, the median is reported), BIG_MB (default 1024), NFILES (default 2000, sizes uniform
# in 256 KiB..1 MiB), KEEP=1 keeps the data set. All runs are warm (files in the page cache): this
# measures hashing, not the disk. Commands are interleaved run by run so that machine drift hits
# every contender alike.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BENCH=${1:-build/bin/pkgxfer_hash_bench}
BASE=${BASE:-/tmp/pkgxfer-hash-bench}
RUNS=${RUNS:-5}
BIG_MB=${BIG_MB:-1024}
NFILES=${NFILES:-2000}

[[ -x $BENCH ]] || { echo "no bench binary at $BENCH" >&2; exit 2; }
mkdir -p "$BASE"
cleanup() { [[ ${KEEP:-0} == 1 ]] || rm -rf "$BASE"; }
trap cleanup EXIT

BIG=$BASE/big.bin
SMALL=$BASE/small
if [[ ! -f $BIG ]]; then
  echo "creating $BIG ($BIG_MB MiB)..." >&2
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$BIG"
fi
if [[ ! -d $SMALL ]]; then
  echo "creating $NFILES files under $SMALL..." >&2
  RANDOM=42
  for ((i = 0; i < NFILES; i++)); do
    d=$SMALL/d$((i % 20))
    mkdir -p "$d"
    size=$((262144 + (RANDOM * 32768 + RANDOM) % 786433))
    head -c $size /dev/urandom > "$d/f$i.bin"
  done
fi
SMALL_BYTES=$(find "$SMALL" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
BIG_BYTES=$(stat -c %s "$BIG")
cat "$BIG" > /dev/null
find "$SMALL" -type f -print0 | xargs -0 cat > /dev/null

# Sanity: every tool agrees on the digest.
want=$(sha256sum "$BIG" | cut -d' ' -f1)
got=$("$BENCH" single "$BIG" 2>/dev/null | cut -d' ' -f1)
[[ $want == "$got" ]] || { echo "digest mismatch: $want vs $got" >&2; exit 1; }

declare -A T
time_cmd() {  # name command...
  local name=$1; shift
  local t0 t1
  t0=$(now)
  "$@" > /dev/null 2>&1
  t1=$(now)
  T[$name]+="$(echo "$t1 - $t0" | bc -l) "
}

small_list=$BASE/small.list
find "$SMALL" -type f -print0 > "$small_list"

for ((run = 1; run <= RUNS; run++)); do
  echo "run $run/$RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  time_cmd big_sha256sum sha256sum "$BIG"
  time_cmd big_openssl openssl dgst -sha256 "$BIG"
  time_cmd big_pkgxfer "$BENCH" single "$BIG"
  time_cmd small_sha256sum xargs -0 -a "$small_list" sha256sum
  time_cmd small_openssl xargs -0 -a "$small_list" openssl dgst -sha256
  time_cmd small_pkgxfer_1t "$BENCH" many "$SMALL" 1
  time_cmd small_pkgxfer_2t "$BENCH" many "$SMALL" 2
done

mbps() { echo "scale=0; $1 / $2 / 1000000" | bc -l; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '\nmachine: %s, %s cores, %s\n' "$cpu" \
  "$(nproc)" "$(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI)"
printf 'data: big %s B; small %s files, %s B; median of %s warm runs\n\n' "$BIG_BYTES" "$NFILES" \
  "$SMALL_BYTES" "$RUNS"
printf '%-22s %10s %10s %10s\n' case seconds MB/s files/s
for name in big_sha256sum big_openssl big_pkgxfer; do
  m=$(median "${T[$name]}")
  printf '%-22s %10.3f %10s %10s\n' "$name" "$m" "$(mbps "$BIG_BYTES" "$m")" "-"
done
for name in small_sha256sum small_openssl small_pkgxfer_1t small_pkgxfer_2t; do
  m=$(median "${T[$name]}")
  printf '%-22s %10.3f %10s %10.0f\n' "$name" "$m" "$(mbps "$SMALL_BYTES" "$m")" \
    "$(echo "$NFILES / $m" | bc -l)"
done
ratio() { echo "scale=2; $(median "${T[$2]}") / $(median "${T[$1]}")" | bc -l; }
printf '\nratios (throughput, higher is better for pkgxfer):\n'
printf '  big:   pkgxfer / openssl dgst   = %s (target >= 0.95)\n' \
  "$(ratio big_pkgxfer big_openssl)"
printf '  big:   pkgxfer / sha256sum      = %s\n' "$(ratio big_pkgxfer big_sha256sum)"
printf '  small: pkgxfer 2t / sha256sum   = %s (target > 1.5)\n' \
  "$(ratio small_pkgxfer_2t small_sha256sum)"
printf '  small: pkgxfer 1t / sha256sum   = %s\n' "$(ratio small_pkgxfer_1t small_sha256sum)"
printf '  small: pkgxfer 2t / openssl dgst (xargs, 1 process at a time) = %s\n' \
  "$(ratio small_pkgxfer_2t small_openssl)"
printf '  small: pkgxfer 2t / pkgxfer 1t  = %s\n' "$(ratio small_pkgxfer_2t small_pkgxfer_1t)"
