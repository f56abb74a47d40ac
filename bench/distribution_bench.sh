#!/usr/bin/env bash
# Times distribution to file:// DPs (pkgxferd: distmgr + pkgxfermgr) against the shell tools that
# do the same work, in the same run:
#
#   bench/distribution_bench.sh path/to/bin [path/to/other/bin]
#
# The folder holding pkgxferd and pkgxfer. With a second folder (e.g. a build of the commit
# before a change), every pkgxfer round also runs with that build, in the same round, the order
# of the two alternating from round to round; its times are reported with the suffix _B and the
# report ends with the ratios of the first build to the second.
#
# Build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
#              cmake --build build -t pkgxferd pkgxfer
#
# 1. big:    one BIG_MB file to one DP, verify on, vs `cp` + `sha256sum` of the copy.
# 2. small:  SMALL_FILES random files (4 KiB..256 KiB, SMALL_DIRS folders) to one empty DP vs
#            `rsync -a SRC/ EMPTY/`. Every round writes to new folders and the old ones are only
#            moved aside (see retire()): RUNS x 5 copies must fit on the disk (~6.7 GB a round).
# 3. noop:   NOOP_FILES files (1..4 KiB, NOOP_DIRS folders) that the DP already holds: a second
#            `distribute` of the same version (checking -> installed, nothing sent) vs an
#            `rsync -a SRC/ COPY/` that has nothing to do.
# 4. fanout: one package (FAN_BIG files of FAN_BIG_MB + FAN_SMALL files of 4..252 KiB) to NDPS
#            empty DPs vs one `cp -r SRC DPn` per DP in sequence.
#
# How pkgxfer is timed: each case has its own site (config, database, content library), and the
# package is added once (`package add`, not timed). Each round starts `pkgxferd` once, waits for
# "pkgxferd running" in pkgxferd.log (start-up is NOT timed), empties the DP folders, runs `sync`,
# then times wall clock from just before `pkgxfer distribute` until every pair is done (polled
# every 20 ms: the "Finished: content" lines in pkgxfermgr.log, or for the no-op the "already
# holds" lines in distmgr.log; then `status --json` must say installed). This includes the
# service's wake-up latency (both components check for new work every 50 ms). From the logs
# the script also takes the job time ("Found send request" to the last "Finished" line, ms
# resolution) and, for the no-op, "Found request" to "already holds". pkgxferd is stopped (SIGTERM)
# after the round. Baselines run in the same round, after a `sync` (not timed) so that no command
# pays for the previous one's dirty pages; `cp -r` / `rsync` make nothing durable, pkgxfer fsyncs
# every body, so `+ sync` variants are timed too as a reference.
#
# Environment: BASE (scratch dir on the same file system, default /tmp/pkgxfer-dist-bench,
# deleted afterwards unless KEEP=1), RUNS (3; median reported), NOOP_RUNS (3), BIG_MB (1024),
# SMALL_FILES (10000), SMALL_DIRS (100), NOOP_FILES (100000), NOOP_DIRS (1000), NDPS (20),
# FAN_BIG (4), FAN_BIG_MB (40), FAN_SMALL (400) (about 210 MiB x 20 DPs: 1 GiB x 20 took more
# than 5 min per round here), LOGLEVEL (info; debug logs every file),
# CASES ("big small noop fanout"), VERIFY (true), SMALL_BOTH (1: case 2 also runs pkgxfer with
# the other verify setting, on a second site), NOOP_SEED (copy: the no-op DP is seeded with
# `cp -a` of the site's ContentLib, which has the DP library's layout, because sending 100k tiny
# bodies once is slower than a copy; "distribute" sends them with pkgxferd instead). Sources are read once before timing (warm).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=${1:?usage: $0 path/to/bin [path/to/other/bin]}
BIN=$(readlink -f "$BIN")
BIN_B=${2:-}
[[ -n $BIN_B ]] && BIN_B=$(readlink -f "$BIN_B")
PKGXFERD=$BIN/pkgxferd
PKGXFER=$BIN/pkgxfer
SUF=
# use_bin A|B: the build the next pkgxfer commands run; SUF is the suffix of its time names.
use_bin() {
  if [[ $1 == B ]]; then PKGXFERD=$BIN_B/pkgxferd; PKGXFER=$BIN_B/pkgxfer; SUF=_B
  else PKGXFERD=$BIN/pkgxferd; PKGXFER=$BIN/pkgxfer; SUF=; fi
}
# builds ROUND: the builds to run in this round, in this round's order.
builds() {
  if [[ -z $BIN_B ]]; then echo A; elif (($1 % 2)); then echo A B; else echo B A; fi
}
BASE=${BASE:-/tmp/pkgxfer-dist-bench}
RUNS=${RUNS:-3}
NOOP_RUNS=${NOOP_RUNS:-3}
BIG_MB=${BIG_MB:-1024}
SMALL_FILES=${SMALL_FILES:-10000}
SMALL_DIRS=${SMALL_DIRS:-100}
NOOP_FILES=${NOOP_FILES:-100000}
NOOP_DIRS=${NOOP_DIRS:-1000}
NDPS=${NDPS:-20}
FAN_BIG=${FAN_BIG:-4}
FAN_BIG_MB=${FAN_BIG_MB:-40}
FAN_SMALL=${FAN_SMALL:-400}
LOGLEVEL=${LOGLEVEL:-info}
VERIFY=${VERIFY:-true}
CASES=${CASES:-big small noop fanout}
NOOP_SEED=${NOOP_SEED:-copy}

for x in "$PKGXFERD" "$PKGXFER" ${BIN_B:+"$BIN_B/pkgxferd" "$BIN_B/pkgxfer"}; do
  [[ -x $x ]] || { echo "no binary $x" >&2; exit 2; }
done
for tool in python3 rsync sha256sum; do
  command -v $tool > /dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 2; }
done
mkdir -p "$BASE"
BASE=$(readlink -f "$BASE")
DAEMON_PID=
cleanup() {
  if [[ -n $DAEMON_PID ]]; then kill -TERM "$DAEMON_PID" 2> /dev/null || true; wait "$DAEMON_PID" 2> /dev/null || true; fi
  [[ ${KEEP:-0} == 1 ]] && return
  find "$BASE" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r -P 4 rm -rf
  rm -rf "$BASE"
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
declare -A T        # name -> "s1 s2 ..."
declare -a NAMES=()
add_time() {  # name seconds
  [[ -v T[$1] ]] || NAMES+=("$1")
  T[$1]+="$2 "
}
time_cmd() {  # name command...
  local name=$1; shift
  sync
  local t0 t1
  t0=$(now)
  "$@" > /dev/null 2>&1
  t1=$(now)
  add_time "$name" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
}


# make_site NAME NDPS [VERIFY]: $BASE/NAME/{pkgxfer.json,site,log,dp/dpNN}
make_site() {
  local name=$1 n=$2 dir=$BASE/$1 dps="" i verify=${3:-$VERIFY}
  mkdir -p "$dir/site" "$dir/log" "$dir/dp"
  for ((i = 1; i <= n; i++)); do
    dps+=$(printf '%s{"name": "dp%02d", "type": "standard", "address": "file://%s/dp/dp%02d"}' \
      "$([[ $i -gt 1 ]] && echo ,)" "$i" "$dir" "$i")
    mkdir -p "$(printf '%s/dp/dp%02d' "$dir" "$i")"
  done
  cat > "$dir/pkgxfer.json" << EOF
{
  "site": {"code": "PS1", "data_dir": "$dir/site", "listen": "127.0.0.1:18530"},
  "logging": {"dir": "$dir/log", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["distmgr", "pkgxfermgr"],
  "distribution": {"max_concurrent_packages": 3, "max_threads_per_package": 5, "verify": $verify},
  "distribution_points": [$dps]
}
EOF
  "$PKGXFERD" --check-config --config "$dir/pkgxfer.json" > /dev/null
}
# retire PATH: moves PATH out of the way into $BASE/trash (deleted at exit) instead of deleting
# it. On ext4 without a journal (this VM's root), creating inodes just after thousands were
# deleted was ~30% of the CPU in a profile (find_inode_bit() skips every inode deleted in the last
# 60-360 s, one by one), which no DP sees in real life and which hits whoever runs next. Rounds that create
# thousands of files therefore delete nothing until the end.
TRASH_N=0
retire() {
  [[ -e $1 ]] || return 0
  mkdir -p "$BASE/trash"
  TRASH_N=$((TRASH_N + 1))
  mv "$1" "$BASE/trash/$TRASH_N"
}
# The library's identity file (pkgxfer-library.json) stays: a DP root without it where the site
# has put content is refused as "not the one this site initialised" (an unmounted share).
reset_dps() {  # NAME [retire]: empty every DP folder (not timed)
  local d id
  for d in "$BASE/$1"/dp/dp*; do
    id=
    [[ -f $d/pkgxfer-library.json ]] && id=$(cat "$d/pkgxfer-library.json")
    if [[ ${2:-} == retire ]]; then
      retire "$d"; mkdir "$d"
    else
      find "$d" -mindepth 1 -maxdepth 1 ! -name pkgxfer-library.json -print0 |
        xargs -0 -r -P 4 rm -rf
    fi
    [[ -n $id ]] && printf '%s' "$id" > "$d/pkgxfer-library.json"
  done
  return 0
}
start_daemon() {  # NAME
  local dir=$BASE/$1 n
  n=$(cat "$dir/log/pkgxferd.log" 2> /dev/null | grep -c 'pkgxferd running' || true)
  "$PKGXFERD" --config "$dir/pkgxfer.json" > "$dir/daemon.out" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ $(grep -c 'pkgxferd running' "$dir/log/pkgxferd.log" 2> /dev/null || true) -gt $n ]] && return
    sleep 0.05
  done
  echo "pkgxferd did not start; see $dir/daemon.out" >&2
  exit 1
}
stop_daemon() {
  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID" || true
  DAEMON_PID=
}
# log_secs FILE START_PATTERN END_PATTERN FROM_LINE: seconds from the first START line to the last
# END line after line FROM_LINE (trace format stamps, ms resolution).
log_secs() {
  python3 - "$@" << 'EOF'
import re, sys, datetime
path, start, end, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stamp = re.compile(r"<(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3})[+-]\d+>")
def t(line):
    m = stamp.search(line)
    mo, d, y, H, M, S, ms = map(int, m.groups())
    return datetime.datetime(y, mo, d, H, M, S, ms * 1000).timestamp()
t0 = t1 = None
with open(path, errors="replace") as f:
    for i, line in enumerate(f):
        if i < first: continue
        if t0 is None and start in line: t0 = t(line)
        if end in line: t1 = t(line)
print(f"{t1 - t0:.3f}" if t0 is not None and t1 is not None else "nan")
EOF
}
lines() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }
# follow_log FILE FROM_LINE PATTERN COUNT READY_FILE: one process that follows FILE past line
# FROM_LINE until COUNT lines hold PATTERN, then prints the clock (as `now`) when it saw the last
# one. Exits 1 at an ERROR line, 2 after 900 s. It touches READY_FILE once it is running, so that
# its start-up is not timed; then it wakes every 5 ms and reads only what is new. (The shell loop
# it replaces ran tail, grep and python3 every 20 ms: ~0.1-0.3 s of the two cores per round, taken
# from the service it was timing.)
follow_log() {
  python3 - "$@" << 'EOF'
import os, sys, time
path, first, pat, count, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]), sys.argv[5]
fd = os.open(path, os.O_RDONLY)
open(ready, "w").close()
deadline, seen, line_no, rest = time.time() + 900, 0, 0, b""
while True:
    chunk = os.read(fd, 1 << 20)
    if not chunk:
        if time.time() > deadline: sys.exit(2)
        time.sleep(0.005)
        continue
    lines = (rest + chunk).split(b"\n")
    rest = lines.pop()
    for line in lines:
        line_no += 1
        if line_no <= first: continue
        if b"ERROR:" in line:
            print(line.decode(errors="replace"), file=sys.stderr); sys.exit(1)
        if pat in line:
            seen += 1
            if seen >= count:
                print(f"{time.time():.6f}"); sys.exit(0)
EOF
}
# timed_distribute CASE NAME LOGFILE DONE_PATTERN COUNT DP_ARGS...: wall clock from the CLI call
# until COUNT new DONE_PATTERN lines are in LOGFILE; then every pair must be installed.
timed_distribute() {
  local cs=$1 name=$2 log=$BASE/$1/log/$3 pat=$4 count=$5; shift 5
  local from t0 t1 follower
  from=$(lines "$log")
  rm -f "$BASE/follow.ready"
  follow_log "$log" "$from" "$pat" "$count" "$BASE/follow.ready" > "$BASE/follow.out" &
  follower=$!
  while [[ ! -e $BASE/follow.ready ]]; do
    kill -0 "$follower" 2> /dev/null || { echo "$name: cannot follow $log" >&2; exit 1; }
    sleep 0.01
  done
  sync
  t0=$(now)
  "$PKGXFER" --config "$BASE/$cs/pkgxfer.json" distribute PS100001 "$@" > /dev/null
  if ! wait "$follower"; then echo "$name: failed or timed out; see $log" >&2; exit 1; fi
  t1=$(cat "$BASE/follow.out")
  add_time "$name" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
  local bad
  bad=$("$PKGXFER" --config "$BASE/$cs/pkgxfer.json" status PS100001 --json |
    python3 -c 'import json,sys
d=json.load(sys.stdin)
rows=d if isinstance(d,list) else next(v for v in d.values() if isinstance(v,list))
print(sum(1 for r in rows if r.get("state")!="installed"))')
  [[ $bad == 0 ]] || { echo "$name: $bad pair(s) not installed" >&2; exit 1; }
  LAST_FROM=$from
}

declare -A INFO
echo "== $(date -Is), load $(load)" >&2

# Warm memory (WARM_MEMORY=1, the default): a DP or site server that has run for a while has its
# memory full of page cache, and new files reuse those pages. This VM instead hands free memory
# back to the host, and writing into pages the guest has not touched lately is several times
# slower, which made every contender's rounds spread 2-3x. So before the cases, the page cache is
# filled with a sparse file read once (all but ~2 GiB of the available memory; not timed) that
# stays until the end: from then on, every contender's writes take pages from the cache, as on a
# busy server.
if [[ ${WARM_MEMORY:-1} == 1 ]]; then
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  ballast_mb=$((avail_kb / 1024 - 2048))
  if ((ballast_mb > 0)); then
    echo "filling the page cache with ${ballast_mb} MiB (WARM_MEMORY=0 to skip)..." >&2
    truncate -s "${ballast_mb}M" "$BASE/ballast"
    cat "$BASE/ballast" > /dev/null
  fi
fi

# ---------------------------------------------------------------- 1. big
if [[ " $CASES " == *" big "* ]]; then
  make_site big 1
  mkdir -p "$BASE/big/src"
  echo "creating ${BIG_MB} MiB file..." >&2
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$BASE/big/src/big.bin"
  "$PKGXFER" --config "$BASE/big/pkgxfer.json" package add --id PS100001 --name big \
    --source "$BASE/big/src" > /dev/null
  warm "$BASE/big/src"; warm "$BASE/big/site"
  INFO[big]="1 file, $(stat -c %s "$BASE/big/src/big.bin") B"
  for ((r = 1; r <= RUNS; r++)); do
    echo "big round $r/$RUNS (load $(load))" >&2
    rm -rf "$BASE/big/cp"
    time_cmd big_cp_sha256sum bash -c "cp '$BASE/big/src/big.bin' '$BASE/big/cp' && sha256sum '$BASE/big/cp'"
    rm -rf "$BASE/big/cp"
    time_cmd big_cp_sync_sha256sum bash -c "cp '$BASE/big/src/big.bin' '$BASE/big/cp' && sync && sha256sum '$BASE/big/cp'"
    rm -rf "$BASE/big/cp"
    time_cmd big_cp_openssl bash -c "cp '$BASE/big/src/big.bin' '$BASE/big/cp' && openssl dgst -sha256 '$BASE/big/cp'"
    rm -rf "$BASE/big/cp"
    for b in $(builds "$r"); do
      use_bin "$b"
      reset_dps big
      start_daemon big
      timed_distribute big big_pkgxfer$SUF pkgxfermgr.log 'Finished: content' 1 --dp dp01
      add_time big_pkgxfer_job$SUF "$(log_secs "$BASE/big/log/pkgxfermgr.log" 'Found send request' 'Finished: content' "$LAST_FROM")"
      stop_daemon
    done
    use_bin A
  done
fi

# ---------------------------------------------------------------- 2. small
if [[ " $CASES " == *" small "* ]]; then
  make_site small 1
  echo "creating $SMALL_FILES small files..." >&2
  gen "$BASE/small/src" "$SMALL_FILES" "$SMALL_DIRS" 4096 262144 42
  "$PKGXFER" --config "$BASE/small/pkgxfer.json" package add --id PS100001 --name small \
    --source "$BASE/small/src" > /dev/null
  warm "$BASE/small/src"; warm "$BASE/small/site"
  # The same package on a second site with the other `verify` setting: verify off checks the
  # hash of the bytes as written, which is what rsync's whole-file checksum checks.
  SMALL_OTHER=$([[ $VERIFY == true ]] && echo false || echo true)
  if [[ ${SMALL_BOTH:-1} == 1 ]]; then
    make_site small_v$SMALL_OTHER 1 "$SMALL_OTHER"
    "$PKGXFER" --config "$BASE/small_v$SMALL_OTHER/pkgxfer.json" package add --id PS100001 \
      --name small --source "$BASE/small/src" > /dev/null
    warm "$BASE/small_v$SMALL_OTHER/site"
  fi
  INFO[small]="$SMALL_FILES files, $(du -sb "$BASE/small/src" | cut -f1) B (du)"
  for ((r = 1; r <= RUNS; r++)); do
    echo "small round $r/$RUNS (load $(load))" >&2
    retire "$BASE/small/rs"; mkdir "$BASE/small/rs"
    time_cmd small_rsync rsync -a "$BASE/small/src/" "$BASE/small/rs/"
    retire "$BASE/small/rs"; mkdir "$BASE/small/rs"
    time_cmd small_rsync_sync bash -c "rsync -a '$BASE/small/src/' '$BASE/small/rs/' && sync"
    retire "$BASE/small/rs"; mkdir "$BASE/small/rs"
    time_cmd small_cp_r cp -r "$BASE/small/src" "$BASE/small/rs/x"
    retire "$BASE/small/rs"
    for b in $(builds "$r"); do
      use_bin "$b"
      reset_dps small retire
      start_daemon small
      timed_distribute small small_pkgxfer$SUF pkgxfermgr.log 'Finished: content' 1 --dp dp01
      add_time small_pkgxfer_job$SUF "$(log_secs "$BASE/small/log/pkgxfermgr.log" 'Found send request' 'Finished: content' "$LAST_FROM")"
      stop_daemon
      if [[ ${SMALL_BOTH:-1} == 1 ]]; then
        reset_dps "small_v$SMALL_OTHER" retire
        start_daemon "small_v$SMALL_OTHER"
        timed_distribute "small_v$SMALL_OTHER" "small_pkgxfer_verify_$SMALL_OTHER$SUF" \
          pkgxfermgr.log 'Finished: content' 1 --dp dp01
        stop_daemon
      fi
    done
    use_bin A
  done
fi

# ---------------------------------------------------------------- 3. noop
if [[ " $CASES " == *" noop "* ]]; then
  make_site noop 1
  echo "creating $NOOP_FILES tiny files..." >&2
  t0=$(now)
  gen "$BASE/noop/src" "$NOOP_FILES" "$NOOP_DIRS" 1024 4096 7
  echo "  generated in $(python3 -c "print(f'{$(now) - $t0:.1f}')") s; package add..." >&2
  t0=$(now)
  "$PKGXFER" --config "$BASE/noop/pkgxfer.json" package add --id PS100001 --name noop \
    --source "$BASE/noop/src" > /dev/null
  INFO[noop_add]=$(python3 -c "print(f'{$(now) - $t0:.1f}')")
  echo "  package add took ${INFO[noop_add]} s; first (untimed) distribute..." >&2
  if [[ $NOOP_SEED == copy ]]; then
    # Sending 100k tiny bodies takes ~190 bodies/s (fsync per body): seed the DP with a copy of
    # the site library (same layout), and let the first distribute find everything present.
    cp -a "$BASE/noop/site/ContentLib/." "$BASE/noop/dp/dp01/"
    sync
  fi
  start_daemon noop
  if [[ $NOOP_SEED == copy ]]; then
    timed_distribute noop noop_first_distribute distmgr.log 'already holds' 1 --dp dp01
  else
    timed_distribute noop noop_first_distribute pkgxfermgr.log 'Finished: content' 1 --dp dp01
  fi
  stop_daemon
  echo "  first distribute took $(median "${T[noop_first_distribute]}") s; rsync copy..." >&2
  rsync -a "$BASE/noop/src/" "$BASE/noop/rs/"
  warm "$BASE/noop/src"; warm "$BASE/noop/site"; warm "$BASE/noop/dp"
  find "$BASE/noop/rs" > /dev/null
  INFO[noop]="$NOOP_FILES files, $(du -sb "$BASE/noop/src" | cut -f1) B (du)"
  # One service for all rounds (the first check after a start lists more), one per build.
  noop_round() {  # builds the round runs with, their services already started
    before=$("$PKGXFER" --config "$BASE/noop/pkgxfer.json" status PS100001 --json)
    timed_distribute noop noop_pkgxfer$SUF distmgr.log 'already holds' 1 --dp dp01
    after=$("$PKGXFER" --config "$BASE/noop/pkgxfer.json" status PS100001 --json)
    [[ $before != "$after" ]] || { echo "noop: status did not change" >&2; exit 1; }
    add_time noop_pkgxfer_check$SUF "$(log_secs "$BASE/noop/log/distmgr.log" 'Found request' 'already holds' "$LAST_FROM")"
    add_time noop_pkgxfer_checkonly$SUF "$(log_secs "$BASE/noop/log/distmgr.log" 'Checking DP' 'already holds' "$LAST_FROM")"
  }
  for ((r = 1; r <= NOOP_RUNS; r++)); do
    echo "noop round $r/$NOOP_RUNS (load $(load))" >&2
    time_cmd noop_rsync rsync -a "$BASE/noop/src/" "$BASE/noop/rs/"
    time_cmd noop_find_count bash -c "find '$BASE/noop/src' -type f | wc -l"
    for b in $(builds "$r"); do
      use_bin "$b"
      start_daemon noop
      # The first check after a start is not what is timed: warm the service up once.
      [[ -z $BIN_B ]] || timed_distribute noop "noop_warmup$SUF" distmgr.log 'already holds' 1 --dp dp01
      noop_round
      stop_daemon
    done
    use_bin A
  done
fi

# ---------------------------------------------------------------- 4. fanout
if [[ " $CASES " == *" fanout "* ]]; then
  make_site fanout "$NDPS"
  echo "creating the fan-out package..." >&2
  mkdir -p "$BASE/fanout/src/big"
  for ((i = 0; i < FAN_BIG; i++)); do
    head -c $((FAN_BIG_MB * 1024 * 1024)) /dev/urandom > "$BASE/fanout/src/big/b$i.bin"
  done
  gen "$BASE/fanout/src/small" "$FAN_SMALL" 20 4096 258048 11
  "$PKGXFER" --config "$BASE/fanout/pkgxfer.json" package add --id PS100001 --name fanout \
    --source "$BASE/fanout/src" > /dev/null
  warm "$BASE/fanout/src"; warm "$BASE/fanout/site"
  FAN_BYTES=$(find "$BASE/fanout/src" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  INFO[fanout]="$((FAN_BIG + FAN_SMALL)) files, $FAN_BYTES B, x $NDPS DPs"
  cpall() {  # cp -r per DP in sequence
    local i
    for ((i = 1; i <= NDPS; i++)); do cp -r "$BASE/fanout/src" "$BASE/fanout/cp/dp$i"; done
  }
  for ((r = 1; r <= RUNS; r++)); do
    echo "fanout round $r/$RUNS (load $(load))" >&2
    rm -rf "$BASE/fanout/cp"; mkdir "$BASE/fanout/cp"
    time_cmd fanout_cp_r cpall
    find "$BASE/fanout/cp" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r -P 4 rm -rf; sync
    time_cmd fanout_cp_r_sync bash -c "$(declare -f cpall); BASE='$BASE' NDPS=$NDPS; cpall; sync"
    find "$BASE/fanout/cp" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r -P 4 rm -rf
    for b in $(builds "$r"); do
      use_bin "$b"
      reset_dps fanout
      start_daemon fanout
      timed_distribute fanout fanout_pkgxfer$SUF pkgxfermgr.log 'Finished: content' "$NDPS" --all-dps
      add_time fanout_pkgxfer_job$SUF "$(log_secs "$BASE/fanout/log/pkgxfermgr.log" 'Found send request' 'Finished: content' "$LAST_FROM")"
      stop_daemon
      reset_dps fanout
    done
    use_bin A
  done
fi

# ---------------------------------------------------------------- report
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '\nmachine: %s, %s cores, %s; %s\n' "$cpu" "$(nproc)" \
  "$(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI)" "$(uname -r)"
printf 'load at the end: %s; verify %s; log level %s\n' "$(load)" "$VERIFY" "$LOGLEVEL"
for k in "${!INFO[@]}"; do printf 'data %s: %s\n' "$k" "${INFO[$k]}"; done
printf '\n%-26s %9s   %s\n' case median runs
for name in "${NAMES[@]}"; do
  printf '%-26s %9.3f   %s\n' "$name" "$(median "${T[$name]}")" "${T[$name]}"
done
ratio() { python3 -c "print(f'{$(median "${T[$1]}") / $(median "${T[$2]}"):.2f}')"; }
has() { [[ -v T[$1] && -v T[$2] ]]; }
printf '\nratios (pkgxfer time / baseline time, lower is better):\n'
has big_pkgxfer big_cp_sha256sum && printf '  1 big:    distribute / (cp + sha256sum)       = %s (target <= 1.0)\n' "$(ratio big_pkgxfer big_cp_sha256sum)"
has big_pkgxfer_job big_cp_sha256sum && printf '            job time (log) / (cp + sha256sum)   = %s\n' "$(ratio big_pkgxfer_job big_cp_sha256sum)"
has big_pkgxfer big_cp_openssl && printf '            distribute / (cp + openssl dgst)    = %s\n' "$(ratio big_pkgxfer big_cp_openssl)"
has small_pkgxfer small_rsync && printf '  2 small:  distribute / rsync -a               = %s (target <= 0.8)\n' "$(ratio small_pkgxfer small_rsync)"
has small_pkgxfer_job small_rsync && printf '            job time (log) / rsync -a           = %s\n' "$(ratio small_pkgxfer_job small_rsync)"
has small_pkgxfer small_rsync_sync && printf '            distribute / (rsync -a + sync)      = %s\n' "$(ratio small_pkgxfer small_rsync_sync)"
for v in true false; do
  has small_pkgxfer_verify_$v small_rsync && printf '            distribute, verify %-5s / rsync -a  = %s (vs rsync -a + sync %s)\n' \
    $v "$(ratio small_pkgxfer_verify_$v small_rsync)" "$(ratio small_pkgxfer_verify_$v small_rsync_sync)"
done
has noop_pkgxfer noop_rsync && printf '  3 noop:   distribute / rsync -a no-op         = %s (target <= 0.5)\n' "$(ratio noop_pkgxfer noop_rsync)"
has noop_pkgxfer_check noop_rsync && printf '            request->installed (log) / rsync    = %s\n' "$(ratio noop_pkgxfer_check noop_rsync)"
has fanout_pkgxfer fanout_cp_r && printf '  4 fanout: distribute / cp -r per DP           = %s\n' "$(ratio fanout_pkgxfer fanout_cp_r)"
has fanout_pkgxfer fanout_cp_r_sync && printf '            distribute / (cp -r per DP + sync)  = %s\n' "$(ratio fanout_pkgxfer fanout_cp_r_sync)"
has fanout_pkgxfer_job fanout_cp_r && printf '            job time (log) / cp -r per DP       = %s\n' "$(ratio fanout_pkgxfer_job fanout_cp_r)"
if [[ -v T[fanout_pkgxfer] ]]; then
  printf '  fanout throughput: pkgxfer %s MB/s, cp -r %s MB/s\n' \
    "$(python3 -c "print(int($FAN_BYTES * $NDPS / $(median "${T[fanout_pkgxfer]}") / 1e6))")" \
    "$(python3 -c "print(int($FAN_BYTES * $NDPS / $(median "${T[fanout_cp_r]}") / 1e6))")"
fi
if [[ -n $BIN_B ]]; then
  printf '\nthis build / the other build (%s vs %s), same rounds, lower is better:\n' "$BIN" "$BIN_B"
  for name in big_pkgxfer big_pkgxfer_job small_pkgxfer small_pkgxfer_job \
    small_pkgxfer_verify_true small_pkgxfer_verify_false noop_pkgxfer noop_pkgxfer_check \
    fanout_pkgxfer fanout_pkgxfer_job; do
    has "$name" "${name}_B" && printf '  %-28s %s\n' "$name" "$(ratio "$name" "${name}_B")"
  done
fi
