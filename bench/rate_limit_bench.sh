#!/usr/bin/env bash
# Measures RateLimiter accuracy and cost and compares it with `rsync --bwlimit` and
# `curl --limit-rate` in the same run (docs/performance.md, "Rate limits").
#
#   bench/rate_limit_bench.sh [path/to/pkgxfer_rate_limit_bench]
#
# Build the bench first: cmake -B build -DPKGXFER_BUILD_BENCH=ON && cmake --build build -t
# pkgxfer_rate_limit_bench. Environment: BASE (scratch dir, default /tmp/pkgxfer-rate-bench),
# WINDOW (seconds per max_rate case, default 30), PULSE_WINDOW (default 20), RATES_MIB (default
# "1 10 50", MiB/s), SENDERS (default "1 5 15"), BASELINE_MIB (file size for rsync/curl, default
# 100), PORT (default 18531, http.server on 127.0.0.1 only). Each line printed is key=value; the
# load average (1 min) is sampled after every case.
set -euo pipefail

BENCH=${1:-build/bin/pkgxfer_rate_limit_bench}
BASE=${BASE:-/tmp/pkgxfer-rate-bench}
WINDOW=${WINDOW:-30}
PULSE_WINDOW=${PULSE_WINDOW:-20}
RATES_MIB=${RATES_MIB:-"1 10 50"}
SENDERS=${SENDERS:-"1 5 15"}
BASELINE_MIB=${BASELINE_MIB:-100}
PORT=${PORT:-18531}
MIB=1048576

[[ -x $BENCH ]] || { echo "no bench binary at $BENCH" >&2; exit 2; }
mkdir -p "$BASE/send" "$BASE/src" "$BASE/dst" "$BASE/http"
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2> /dev/null || true
  rm -rf "$BASE"
}
trap cleanup EXIT
load() { echo "load1=$(cut -d' ' -f1 /proc/loadavg)"; }

echo "start $(date -Is) $(nproc) cpus $(load)"

# 1 and 3: max_rate accuracy; the 15-sender 50 MiB/s case is also the CPU case.
for r in $RATES_MIB; do
  for s in $SENDERS; do
    echo "$("$BENCH" maxrate $((r * MIB)) "$s" "$WINDOW" "$BASE/send") $(load)"
  done
done
# CPU baseline: the same writes at the same rate, paced by each thread, no limiter.
echo "$("$BENCH" paced $((50 * MIB)) 15 "$WINDOW" "$BASE/send") $(load)"

# 2: pulse mode.
echo "$("$BENCH" pulse 65536 1000 3 "$PULSE_WINDOW" "$BASE/send") $(load)"

# 4: baselines at 10 MiB/s on a BASELINE_MIB file.
SRC=$BASE/src/big.bin
head -c $((BASELINE_MIB * MIB)) /dev/urandom > "$SRC"
cat "$SRC" > /dev/null
BYTES=$(stat -c %s "$SRC")
LIMIT=$((10 * MIB))

t0=$(date +%s.%N)
rsync --bwlimit=10240 "$SRC" "$BASE/dst/"
t1=$(date +%s.%N)
cmp -s "$SRC" "$BASE/dst/big.bin" || { echo "rsync copy differs" >&2; exit 1; }
echo "tool=rsync limit=$LIMIT bytes=$BYTES seconds=$(echo "$t1 - $t0" | bc -l)" \
  "achieved=$(echo "$BYTES / ($t1 - $t0)" | bc -l | cut -d. -f1)" \
  "err_pct=$(echo "100 * ($BYTES / ($t1 - $t0) / $LIMIT - 1)" | bc -l | xargs printf '%+.2f')" \
  "$(load)"

cp "$SRC" "$BASE/http/big.bin"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$BASE/http" > /dev/null 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.1
done
read -r size total speed < <(curl -s -o /dev/null --limit-rate 10M \
  -w '%{size_download} %{time_total} %{speed_download}\n' "http://127.0.0.1:$PORT/big.bin")
kill "$SERVER_PID"
wait "$SERVER_PID" 2> /dev/null || true
SERVER_PID=
echo "tool=curl limit=$LIMIT bytes=$size seconds=$total speed_download=$speed" \
  "achieved=$(echo "$size / $total" | bc -l | cut -d. -f1)" \
  "err_pct=$(echo "100 * ($size / $total / $LIMIT - 1)" | bc -l | xargs printf '%+.2f') $(load)"
echo "end $(date -Is) $(load)"
