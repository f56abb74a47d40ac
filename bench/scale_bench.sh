#!/usr/bin/env bash
# A site at ConfigMgr's limits (SPEC §8; issue 13): NDPS standard DPs (file:// folders, 5,000 by
# default, ConfigMgr's maximum per primary site) and NPKGS registered packages (1,000).
#
#   bench/scale_bench.sh path/to/bin
#
# 1. idle:       pkgxferd with nothing to do: its CPU (utime + stime from /proc, as % of one core)
#                and RSS over IDLE_SECS (20), after a 5 s settle.
# 2. fanout:     `distribute --all-dps` of a 10-file package (FILE_KB each) until every pair is
#                installed (counted in the site database every 200 ms): wall time and jobs per
#                second, against `cp -r` of the same package folder to every DP in sequence.
# 3. latency:    then one package of high priority to one DP: seconds from `distribute` until it
#                is installed, while the site still works on (or has just finished) the fanout.
# 4. status:     `pkgxfer status --json` and `status` (table) over PAIRS (50,000) pairs: the
#                pairs beyond what the fanout made are written to the database directly (state
#                installed), as a large site's history would be.
#
# Environment: BASE (/tmp/pkgxfer-scale-bench; removed unless KEEP=1), NDPS (5000), NPKGS (1000),
# FILE_KB (16), IDLE_SECS (20), PAIRS (50000).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=$(readlink -f "${1:?usage: $0 path/to/bin}")
BASE=${BASE:-/tmp/pkgxfer-scale-bench}
NDPS=${NDPS:-5000}
NPKGS=${NPKGS:-1000}
FILE_KB=${FILE_KB:-16}
IDLE_SECS=${IDLE_SECS:-20}
PAIRS=${PAIRS:-50000}
HZ=$(getconf CLK_TCK)

rm -rf "$BASE"
mkdir -p "$BASE/dps" "$BASE/src"
trap '[[ -n ${PID:-} ]] && kill -TERM $PID 2> /dev/null; [[ ${KEEP:-0} == 1 ]] || rm -rf "$BASE"' EXIT

echo "== $(date -Iseconds), load $(cut -d' ' -f1-3 /proc/loadavg); $NDPS DPs, $NPKGS packages"
python3 - "$BASE" "$NDPS" << 'EOF'
import json, os, sys
base, n = sys.argv[1], int(sys.argv[2])
dps = []
for i in range(1, n + 1):
    name = "dp%04d" % i
    os.makedirs(os.path.join(base, "dps", name), exist_ok=True)
    dps.append({"name": name, "address": "file://" + os.path.join(base, "dps", name)})
config = {
    "site": {"code": "PS1", "data_dir": os.path.join(base, "site")},
    "logging": {"dir": os.path.join(base, "log"), "level": "info", "max_size": "64MB"},
    "components": ["distmgr", "pkgxfermgr"],
    "distribution": {"retry_delay": "1s"},
    "distribution_points": dps,
}
json.dump(config, open(os.path.join(base, "pkgxfer.json"), "w"), indent=1)
EOF
CFG=$BASE/pkgxfer.json
px() { "$BIN/pkgxfer" --config "$CFG" "$@"; }

# Packages: PS1xxxxx, one small file each (registering is not timed).
t0=$(now)
for ((i = 1; i <= NPKGS; i++)); do
  id=$(printf 'PS1%05d' "$i")
  mkdir -p "$BASE/src/$id"
  echo "package $i" > "$BASE/src/$id/readme.txt"
  px package add --id "$id" --name "package $i" --source "$BASE/src/$id" > /dev/null
done
# The fanout package: 10 files of FILE_KB KiB; the latency package: one file, high priority.
mkdir -p "$BASE/src/FANOUT" "$BASE/src/URGENT"
for ((f = 0; f < 10; f++)); do head -c $((FILE_KB * 1024)) /dev/urandom > "$BASE/src/FANOUT/f$f.bin"; done
head -c 4096 /dev/urandom > "$BASE/src/URGENT/fix.bin"
px package add --id PS190001 --name fanout --source "$BASE/src/FANOUT" > /dev/null
px package add --id PS190002 --name urgent --source "$BASE/src/URGENT" --priority high > /dev/null
echo "registered $((NPKGS + 2)) packages in $(python3 -c "print(round($(now) - $t0, 1))") s"

start_service() {
  "$BIN/pkgxferd" --config "$CFG" > "$BASE/pkgxferd.out" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    grep -q "pkgxferd running" "$BASE/log/pkgxferd.log" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "pkgxferd did not start" >&2
  exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
installed() {
  python3 - "$BASE/site/site.db" "$1" << 'EOF'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
print(db.execute("SELECT count(*) FROM distributions WHERE package_id = ? AND state = 'installed'",
                 (sys.argv[2],)).fetchone()[0])
EOF
}

# 1. idle
start_service
sleep 5
c0=$(cpu_ticks $PID)
sleep "$IDLE_SECS"
c1=$(cpu_ticks $PID)
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
idle_cpu=$(python3 -c "print(f'{($c1 - $c0) / $HZ / $IDLE_SECS * 100:.3f}')")
echo "idle: ${idle_cpu}% of a core over ${IDLE_SECS} s, RSS $((rss_kb / 1024)) MB" \
  "(threads $(ls /proc/$PID/task | wc -l))"

# 2. fanout
t0=$(now)
px distribute PS190001 --all-dps > /dev/null
while (($(installed PS190001) < NDPS)); do sleep 0.2; done
fan=$(python3 -c "print(round($(now) - $t0, 2))")
echo "fanout: $NDPS DPs installed in $fan s ($(python3 -c "print(round($NDPS / $fan, 1))") jobs/s)"

# 3. latency of a high-priority package to one DP
t0=$(now)
px distribute PS190002 --dp dp0001 > /dev/null
while (($(installed PS190002) < 1)); do sleep 0.05; done
echo "latency: high-priority package to one DP installed $(python3 -c "print(round($(now) - $t0, 2))") s after distribute"
kill -TERM $PID
wait $PID || true
PID=

# Baseline: cp -r of the fanout package to every DP, in sequence.
t0=$(now)
for ((i = 1; i <= NDPS; i++)); do cp -r "$BASE/src/FANOUT" "$BASE/dps/$(printf 'dp%04d' "$i")/cp-copy"; done
sync
cp_s=$(python3 -c "print(round($(now) - $t0, 2))")
echo "cp -r to $NDPS DPs + sync: $cp_s s (pkgxfer/cp = $(python3 -c "print(round($fan / $cp_s, 2))"))"

# 4. status over PAIRS pairs: fill the database with installed pairs of the registered packages.
python3 - "$BASE/site/site.db" "$PAIRS" << 'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
want = int(sys.argv[2])
have = db.execute("SELECT count(*) FROM distributions").fetchone()[0]
dps = [r[0] for r in db.execute("SELECT name FROM distribution_points ORDER BY name")]
pkgs = [r[0] for r in db.execute(
    "SELECT package_id FROM packages WHERE package_id LIKE 'PS1%' ORDER BY package_id")]
now = db.execute("SELECT created_at FROM distributions LIMIT 1").fetchone()[0]
rows = []
for p in pkgs:
    for d in dps:
        if have + len(rows) >= want:
            break
        rows.append((p, d, now, now))
db.executemany(
    "INSERT OR IGNORE INTO distributions (package_id, dp, version, state, created_at, updated_at) "
    "VALUES (?, ?, 1, 'installed', ?, ?)", rows)
db.commit()
print("pairs in the database:", db.execute("SELECT count(*) FROM distributions").fetchone()[0])
EOF
for mode in --json ""; do
  times=
  for _ in 1 2 3; do
    t0=$(now)
    px status $mode > /dev/null
    times="$times $(python3 -c "print(round($(now) - $t0, 3))")"
  done
  echo "status ${mode:-(table)} over $PAIRS pairs: median $(median "$times") s ($times )"
done
