#!/usr/bin/env bash
# Times pulls by a pull DP (issue 15) against curl downloading the same bodies from the same
# source DP, in the same run, interleaved round by round:
#
#   bench/pull_bench.sh path/to/bin
#
# The folder holding pkgxferd and pkgxfer (build: cmake --build build -t pkgxferd pkgxfer).
# Three processes on loopback, started once: the site (distmgr, pkgxfermgr, statusreceiver with
# site.listen), a standard HTTP DP "src01" (components ["dp"]) and a pull DP "pdp01" (["dp",
# "pulldp"], sources ["src01"]); all share one token file. Everything lives under $BASE; every
# server listens on 127.0.0.1 only; every process the script starts is stopped on exit (trap).
#
# Cases (each its own package, added once and distributed to src01 once, untimed):
# 1. big:   one BIG_MB file of random bytes.
# 2. small: SMALL_FILES distinct files of SMALL_SIZE bytes (SMALL_DIRS folders).
# 3. tiny:  one file of 4 KiB: the fixed cost of a pull (the site's source check, the notification
#           round trip, the pull DP's 250 ms job poll, the status back to the site).
#
# How a pull is timed: wall clock from just before `pkgxfer distribute PKG --dp pdp01` until the
# site logs "... is installed on pull DP pdp01" (followed by one Python process that wakes every
# 5 ms; the site logs the line just before it records the state); then `status --json` must say
# installed and the pull DP's FileLib must hold every body. From pulldp.log the script also takes
# the pull DP's own job time ("Job N done: ... in X s": from the job's start to its manifest
# commit). A pull DP downloads a job's bodies one after another on one keep-alive connection per
# source (src/pulldp/pull_job.cpp: one http::Client per origin, a serial loop over the bodies), so
# the baseline is one curl process with a config file of url/output pairs (`curl -K`: sequential,
# one keep-alive connection) from http://127.0.0.1:SRC/v1/files/SHA256 (anonymous GET), run
#   _null:  to /dev/null;
#   _files: to files in a new folder on the same disk as the pull DP's library;
#   _sync:  to files, then `sync -f` (syncfs): the pull DP fsyncs every 8 MiB and installs in
#           durable batches, and it verifies each body's SHA-256, which curl does not.
# The previous round's curl files are deleted just before the _files/_sync runs, as the pull DP's
# bodies are deleted before its pull (next paragraph), so both create files just after a delete.
#
# Between rounds the pull DP's library must lack the content again: `pkgxfer remove PKG --dp
# pdp01`, until the pair is `removed` and the pull DP's FileLib is empty (removeContent deletes the
# manifest and then the bodies no other manifest references), untimed. The same package ID and
# version are distributed again in the next round: the pull DP starts from an empty library and
# no resume points (the job ended), as a new DP would. (A new package ID per round would not
# work: the bodies are the same, the pull DP would find them present.)
#
# Environment: BASE (scratch dir, default /tmp/pkgxfer-pull-bench, deleted afterwards unless
# KEEP=1), RUNS (5; medians reported), BIG_MB (1024), SMALL_FILES (10000), SMALL_SIZE (4096),
# SMALL_DIRS (100), CASES ("big small tiny"), LOGLEVEL (info), SRC_PORT / PDP_PORT / SITE_PORT
# (free ports picked by the OS), WARM_MEMORY (1: fill the page cache first, as
# distribution_bench.sh does).
#
# CPU: every time also has NAME_cpu_*: the user + system seconds (/proc/PID/stat) that the pull
# DP (pdp), the source DP (src) and the site (site) used during the run, or curl (bash `times`)
# and the source DP. With 2 cores the wall time can not be less than the CPU total / 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=${1:?usage: $0 path/to/bin}
BIN=$(readlink -f "$BIN")
PKGXFERD=$BIN/pkgxferd
PKGXFER=$BIN/pkgxfer
BASE=${BASE:-/tmp/pkgxfer-pull-bench}
RUNS=${RUNS:-5}
BIG_MB=${BIG_MB:-1024}
SMALL_FILES=${SMALL_FILES:-10000}
SMALL_SIZE=${SMALL_SIZE:-4096}
SMALL_DIRS=${SMALL_DIRS:-100}
CASES=${CASES:-big small tiny}
LOGLEVEL=${LOGLEVEL:-info}

for x in "$PKGXFERD" "$PKGXFER"; do
  [[ -x $x ]] || { echo "no binary $x" >&2; exit 2; }
done
for tool in curl python3 openssl; do
  command -v $tool > /dev/null || { echo "missing $tool" >&2; exit 2; }
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SRC_PORT=${SRC_PORT:-$(free_port)}
PDP_PORT=${PDP_PORT:-$(free_port)}
SITE_PORT=${SITE_PORT:-$(free_port)}
SRC=http://127.0.0.1:$SRC_PORT

mkdir -p "$BASE"
BASE=$(readlink -f "$BASE")
# A private copy of the binaries: a rebuild during the run must not change what is measured.
mkdir -p "$BASE/bin"
cp "$PKGXFERD" "$PKGXFER" "$BASE/bin/"
BIN_INFO="$(stat -c '%y' "$PKGXFERD" | cut -d. -f1), $("$BASE/bin/pkgxferd" --version 2>&1 | head -1)"
PKGXFERD=$BASE/bin/pkgxferd
PKGXFER=$BASE/bin/pkgxfer

# ---------------------------------------------------------------- processes
declare -A PIDS=()
stop_proc() {  # NAME: SIGTERM, then wait for it
  local pid=${PIDS[$1]:-}
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  unset "PIDS[$1]"
}
cleanup() {
  local name
  for name in "${!PIDS[@]}"; do stop_proc "$name"; done
  [[ ${KEEP:-0} == 1 ]] && { echo "kept $BASE" >&2; return; }
  find "$BASE" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r -P 4 rm -rf
  rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

count_lines() {
  local n
  n=$(grep -c "$2" "$1" 2> /dev/null) || true
  echo "${n:-0}"
}
wait_line() {  # FILE PATTERN COUNT_BEFORE WHAT
  local i
  for ((i = 0; i < 600; i++)); do
    (($(count_lines "$1" "$2") > $3)) && return 0
    sleep 0.05
  done
  echo "$4 did not start; see $1" >&2
  exit 1
}
start_daemon() {  # NAME CONFIG LOG READY_PATTERN
  "$PKGXFERD" --config "$2" > "$BASE/$1.out" 2>&1 &
  PIDS[$1]=$!
  wait_line "$3" "$4" 0 "$1"
}

# ---------------------------------------------------------------- timing
load() { cut -d' ' -f1-3 /proc/loadavg; }
declare -A T=()
declare -a NAMES=()
add_time() {  # name seconds
  [[ -v T[$1] ]] || NAMES+=("$1")
  T[$1]+="$2 "
}
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
CLK_TCK=$(getconf CLK_TCK)
cpu_of() {  # PID...: their CPU time so far (user + system, every thread), in clock ticks
  local p f sum=0
  local -a a
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2> /dev/null) || continue
    read -r -a a <<< "${f##*) }"  # a[0] is field 3 (state): utime is field 14, stime 15
    sum=$((sum + a[11] + a[12]))
  done
  echo "$sum"
}
ticks() { python3 -c "print(f'{($2 - $1) / $CLK_TCK:.2f}')"; }
# time_cmd NAME COMMAND...: wall clock after an untimed sync; NAME_cpu_curl (the command and its
# children, bash `times`) and NAME_cpu_src (the source DP).
time_cmd() {
  local name=$1; shift
  sync
  local t0 t1 c0 c1 kids
  c0=$(cpu_of "${PIDS[src]}")
  t0=$(now)
  kids=$( ("$@" > /dev/null || exit 1; times) | tail -n 1) || { echo "$name failed: $*" >&2; exit 1; }
  t1=$(now)
  c1=$(cpu_of "${PIDS[src]}")
  add_time "$name" "$(secs "$t0" "$t1")"
  add_time "${name}_cpu_curl" "$(python3 -c "
import re
k = sum(int(m) * 60 + float(s) for m, s in re.findall(r'(\\d+)m([\\d.]+)s', '$kids'))
print(f'{k:.2f}')")"
  add_time "${name}_cpu_src" "$(ticks "$c0" "$c1")"
}

lines() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }
# follow_log FILE FIRST_LINE PATTERN READY_FILE: prints the clock when PATTERN appears after
# FIRST_LINE; fails on an "ERROR:" line or after 900 s.
follow_log() {
  python3 - "$@" << 'EOF'
import os, sys, time
path, first, pat, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
fd = os.open(path, os.O_RDONLY)
open(ready, "w").close()
deadline, line_no, rest = time.time() + 900, 0, b""
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
            print(f"{time.time():.6f}"); sys.exit(0)
EOF
}
state_of() {  # PKG DP
  "$PKGXFER" --config "$BASE/site.json" status "$1" --json |
    python3 -c 'import json, sys; print(",".join(r["state"] for r in json.load(sys.stdin) if r["dp"] == sys.argv[1]))' "$2"
}
wait_state() {  # PKG DP STATE
  local i s
  for ((i = 0; i < 3000; i++)); do
    s=$(state_of "$1" "$2")
    [[ $s == "$3" ]] && return 0
    sleep 0.2
  done
  echo "$1 on $2: state $s, not $3 after 600 s" >&2
  exit 1
}
bodies_on_pdp() { find "$BASE/pdplib/FileLib" -type f ! -name '.*' 2> /dev/null | wc -l; }

declare -A PKG=() NBODIES=() INFO=() BYTES=() FILES=()
# timed_pull CASE: distribute PKG[CASE] to pdp01, wall clock until the site logs it installed.
timed_pull() {
  local cs=$1 pkg=${PKG[$1]} name=$1_pull log=$BASE/log/distmgr.log plog=$BASE/pdplog/pulldp.log
  local from pfrom t0 t1 follower c0 c1 s0 s1 w0 w1
  [[ $(bodies_on_pdp) == 0 ]] || { echo "$name: the pull DP's FileLib is not empty" >&2; exit 1; }
  from=$(lines "$log")
  pfrom=$(lines "$plog")
  rm -f "$BASE/follow.ready"
  follow_log "$log" "$from" "is installed on pull DP pdp01" "$BASE/follow.ready" > "$BASE/follow.out" &
  follower=$!
  PIDS[follower]=$follower
  while [[ ! -e $BASE/follow.ready ]]; do
    kill -0 "$follower" 2> /dev/null || { echo "$name: cannot follow $log" >&2; exit 1; }
    sleep 0.01
  done
  sync
  c0=$(cpu_of "${PIDS[pdp]}"); s0=$(cpu_of "${PIDS[src]}"); w0=$(cpu_of "${PIDS[site]}")
  t0=$(now)
  "$PKGXFER" --config "$BASE/site.json" distribute "$pkg" --dp pdp01 > /dev/null
  if ! wait "$follower"; then unset "PIDS[follower]"; echo "$name: failed or timed out; see $log" >&2; exit 1; fi
  c1=$(cpu_of "${PIDS[pdp]}"); s1=$(cpu_of "${PIDS[src]}"); w1=$(cpu_of "${PIDS[site]}")
  unset "PIDS[follower]"
  t1=$(cat "$BASE/follow.out")
  add_time "$name" "$(secs "$t0" "$t1")"
  add_time "${name}_cpu_pdp" "$(ticks "$c0" "$c1")"
  add_time "${name}_cpu_src" "$(ticks "$s0" "$s1")"
  add_time "${name}_cpu_site" "$(ticks "$w0" "$w1")"
  local state bodies job
  state=$(state_of "$pkg" pdp01)
  [[ $state == installed ]] || { echo "$name: state $state, not installed" >&2; exit 1; }
  bodies=$(bodies_on_pdp)
  [[ $bodies == "${NBODIES[$cs]}" ]] || { echo "$name: the pull DP holds $bodies bodies, not ${NBODIES[$cs]}" >&2; exit 1; }
  # The pull DP's own time: "Job N done: PKG v1 installed (... in X s)".
  job=$(tail -n +"$((pfrom + 1))" "$plog" | grep "done: $pkg " | tail -1 | sed -n 's/.* in \([0-9.]*\) s).*/\1/p')
  add_time "${name}_job" "${job:-nan}"
  # Back to an empty library, untimed.
  "$PKGXFER" --config "$BASE/site.json" remove "$pkg" --dp pdp01 > /dev/null
  wait_state "$pkg" pdp01 removed
  [[ $(bodies_on_pdp) == 0 ]] || { echo "$name: bodies left on the pull DP after the removal" >&2; exit 1; }
}
# curl_config CASE TARGET: url/output pairs of every body of CASE; TARGET: null or a folder.
curl_config() {
  awk -v src="$SRC" -v out="$2" '{
      printf "url = \"%s/v1/files/%s\"\n", src, $1
      if (out == "null") print "output = \"/dev/null\""; else printf "output = \"%s/%s\"\n", out, $1
    }' "$BASE/$1.shas" > "$BASE/curl-$1-$(basename "$2").cfg"
  echo "$BASE/curl-$1-$(basename "$2").cfg"
}
timed_curl() {  # CASE
  local cs=$1 out=$BASE/curlout/$1 cfg
  cfg=$(curl_config "$cs" null)
  time_cmd "${cs}_curl_null" curl -sS -f -K "$cfg"
  rm -rf "$out"; mkdir -p "$out"
  cfg=$(curl_config "$cs" "$out")
  time_cmd "${cs}_curl_files" curl -sS -f -K "$cfg"
  [[ $(find "$out" -type f | wc -l) == "${NBODIES[$cs]}" ]] || { echo "curl: short $out" >&2; exit 1; }
  rm -rf "$out"; mkdir -p "$out"
  time_cmd "${cs}_curl_sync" bash -c "curl -sS -f -K '$cfg' && sync -f '$out'"
  [[ $(find "$out" -type f | wc -l) == "${NBODIES[$cs]}" ]] || { echo "curl: short $out" >&2; exit 1; }
}

# ---------------------------------------------------------------- configs
printf 'pull-bench-token-%s\n' "$(openssl rand -hex 16)" > "$BASE/site.token"
chmod 600 "$BASE/site.token"
mkdir -p "$BASE/site" "$BASE/log" "$BASE/srclib" "$BASE/srclog" "$BASE/pdplib" "$BASE/pdplog" "$BASE/curlout"
cat > "$BASE/src.json" << EOF
{
  "logging": {"dir": "$BASE/srclog", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["dp"],
  "dp": {"name": "src01", "content_library": "$BASE/srclib", "listen": "127.0.0.1:$SRC_PORT",
         "token_file": "$BASE/site.token"}
}
EOF
cat > "$BASE/pdp.json" << EOF
{
  "logging": {"dir": "$BASE/pdplog", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["dp", "pulldp"],
  "dp": {"name": "pdp01", "content_library": "$BASE/pdplib", "listen": "127.0.0.1:$PDP_PORT",
         "token_file": "$BASE/site.token"},
  "pulldp": {"site_status_url": "http://127.0.0.1:$SITE_PORT"}
}
EOF
cat > "$BASE/site.json" << EOF
{
  "site": {"code": "PS1", "data_dir": "$BASE/site", "listen": "127.0.0.1:$SITE_PORT",
           "token_file": "$BASE/site.token"},
  "logging": {"dir": "$BASE/log", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["distmgr", "pkgxfermgr", "statusreceiver"],
  "distribution_points": [
    {"name": "src01", "type": "standard", "address": "$SRC"},
    {"name": "pdp01", "type": "pull", "address": "http://127.0.0.1:$PDP_PORT", "sources": ["src01"]}
  ]
}
EOF

start_daemon src "$BASE/src.json" "$BASE/srclog/dp.log" 'serving the content library'
start_daemon pdp "$BASE/pdp.json" "$BASE/pdplog/dp.log" 'serving the content library'
start_daemon site "$BASE/site.json" "$BASE/log/pkgxferd.log" 'pkgxferd running'
echo "== $(date -Is), load $(load); source DP :$SRC_PORT, pull DP :$PDP_PORT, site :$SITE_PORT" >&2

if [[ ${WARM_MEMORY:-1} == 1 ]]; then
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  ballast_mb=$((avail_kb / 1024 - 4096))
  if ((ballast_mb > 0)); then
    echo "filling the page cache with ${ballast_mb} MiB (WARM_MEMORY=0 to skip)..." >&2
    truncate -s "${ballast_mb}M" "$BASE/ballast"
    cat "$BASE/ballast" > /dev/null
  fi
fi

# ---------------------------------------------------------------- setup (untimed)
# add_case CASE PKG: package add, distribute to src01 until installed, list the distinct bodies.
add_case() {
  local cs=$1 dir=$BASE/data/$1
  PKG[$cs]=$2
  (cd "$dir" && find . -type f -print0 | xargs -0 openssl dgst -sha256 -r | cut -d' ' -f1 | sort -u) > "$BASE/$cs.shas"
  NBODIES[$cs]=$(wc -l < "$BASE/$cs.shas")
  FILES[$cs]=$(find "$dir" -type f | wc -l)
  BYTES[$cs]=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  "$PKGXFER" --config "$BASE/site.json" package add --id "$2" --name "$cs" --source "$dir" > /dev/null
  "$PKGXFER" --config "$BASE/site.json" distribute "$2" --dp src01 > /dev/null
  wait_state "$2" src01 installed
  warm "$BASE/srclib/FileLib"
  INFO[$cs]="${FILES[$cs]} file(s), ${BYTES[$cs]} B, ${NBODIES[$cs]} distinct bodies"
}
if [[ " $CASES " == *" big "* ]]; then
  mkdir -p "$BASE/data/big"
  echo "creating ${BIG_MB} MiB file..." >&2
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$BASE/data/big/big.bin"
  add_case big PS100001
fi
if [[ " $CASES " == *" small "* ]]; then
  echo "creating $SMALL_FILES files of $SMALL_SIZE B..." >&2
  gen "$BASE/data/small" "$SMALL_FILES" "$SMALL_DIRS" "$SMALL_SIZE" "$SMALL_SIZE" 42
  add_case small PS100002
fi
if [[ " $CASES " == *" tiny "* ]]; then
  mkdir -p "$BASE/data/tiny"
  head -c 4096 /dev/urandom > "$BASE/data/tiny/tiny.bin"
  add_case tiny PS100003
fi

# ---------------------------------------------------------------- rounds
order() { (($1 % 2)) && echo "ours curl" || echo "curl ours"; }  # ROUND
for ((r = 1; r <= RUNS; r++)); do
  for cs in big small tiny; do
    [[ " $CASES " == *" $cs "* ]] || continue
    echo "$cs round $r/$RUNS (load $(load))" >&2
    for who in $(order "$r"); do
      if [[ $who == ours ]]; then timed_pull "$cs"; elif [[ $cs != tiny ]]; then timed_curl "$cs"; fi
    done
  done
done

# ---------------------------------------------------------------- report
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '\nmachine: %s, %s cores, %s; %s; %s GiB RAM\n' "$cpu" "$(nproc)" \
  "$(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI)" "$(uname -r)" \
  "$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
printf 'pkgxferd built %s (copied from %s)\n' "$BIN_INFO" "$BIN"
printf 'curl %s; load at the end: %s; %s rounds, log level %s\n' \
  "$(curl -V | head -1 | cut -d' ' -f2)" "$(load)" "$RUNS" "$LOGLEVEL"
for k in "${!INFO[@]}"; do printf 'data %s: %s\n' "$k" "${INFO[$k]}"; done
printf '\n(_cpu_pdp/_src/_site/_curl: user + system seconds of the pull DP, source DP, site, curl)\n'
printf '%-28s %9s   %s\n' time median runs
for name in "${NAMES[@]}"; do
  printf '%-28s %9.3f   %s\n' "$name" "$(median "${T[$name]}")" "${T[$name]}"
done
# row LABEL OURS CURL CASE: median times, MB/s, files/s, and the ratio ours/curl in throughput
# (= curl time / our time; higher is better, target >= 0.9).
row() {
  [[ -v T[$2] && -v T[$3] ]] || return 0
  python3 - "$1" "$(median "${T[$2]}")" "$(median "${T[$3]}")" "${BYTES[$4]}" "${FILES[$4]}" << 'EOF'
import sys
label, ours, cu, nbytes, files = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fps = lambda t: f"{files / t:,.0f}" if files > 1 else "-"
print(f"| {label} | {ours:.3f} | {nbytes / ours / 1e6:,.0f} | {fps(ours)} | {cu:.3f} | "
      f"{nbytes / cu / 1e6:,.0f} | {fps(cu)} | **{cu / ours:.2f}** |")
EOF
}
printf '\nthroughput in MB/s (10^6 B/s) from the medians; ratio = ours / curl (throughput), target >= 0.9\n\n'
printf '| case | ours s | ours MB/s | ours files/s | curl s | curl MB/s | curl files/s | ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
for cs in big small; do
  [[ -v BYTES[$cs] ]] || continue
  row "$cs: pull vs curl to /dev/null" "${cs}_pull" "${cs}_curl_null" "$cs"
  row "$cs: pull vs curl to files" "${cs}_pull" "${cs}_curl_files" "$cs"
  row "$cs: pull vs curl to files + sync -f" "${cs}_pull" "${cs}_curl_sync" "$cs"
  row "$cs: pull DP job time vs curl to files + sync -f" "${cs}_pull_job" "${cs}_curl_sync" "$cs"
done
if [[ -v T[tiny_pull] ]]; then
  printf '\nfixed cost of a pull (1 file of 4 KiB): %s s wall, %s s pull DP job (medians)\n' \
    "$(median "${T[tiny_pull]}")" "$(median "${T[tiny_pull_job]}")"
fi
