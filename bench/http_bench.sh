#!/usr/bin/env bash
# Times pushes to and downloads from an HTTP DP (a site pkgxferd: distmgr + pkgxfermgr, and a DP
# pkgxferd: dp, two processes on loopback) against nginx's WebDAV module and curl, in the same
# run, interleaved round by round (issue 14):
#
#   bench/http_bench.sh path/to/bin
#
# The folder holding pkgxferd and pkgxfer (build: cmake --build build -t pkgxferd pkgxfer).
# Installs nginx-light and curl with apt-get if they are missing (bookworm's nginx-light is built
# --with-http_dav_module). Everything lives under $BASE; every server listens on 127.0.0.1 only,
# and every process the script starts is stopped on exit (trap).
#
# 1. big:   one BIG_MB file of random bytes pushed to an empty DP (`pkgxfer distribute` until
#           the pair is installed) vs `curl -T` of the same file to nginx (WebDAV PUT), and vs
#           `curl -T` + `sync FILE DIR` (nginx never fsyncs; our DP makes the body durable:
#           fdatasync every 8 MiB checkpoint, again at install, then the folder).
# 2. small: SMALL_FILES distinct files of SMALL_SIZE bytes (SMALL_DIRS folders) as one package to
#           an empty DP (8 streams per job) vs curl uploading the same files to nginx with one
#           config file of upload-file/url pairs: sequentially over one keep-alive connection
#           (`curl -K`), and with `curl -Z --parallel-max PARALLEL` (8 = our streams per job);
#           each also + `sync -f` (syncfs, what the DP's install batches do).
# 3. get:   GET of the BIG_MB body from the DP (`curl -o /dev/null .../v1/files/SHA`, anonymous)
#           vs the same file (the DP's FileLib body, aliased into nginx) from nginx with sendfile
#           on (its usual configuration), and with sendfile off (read + write, like the DP). The
#           body is read into the page cache before each GET (warm, untimed). Runs inside the
#           big case's rounds, right after the push (it needs the body on the DP).
# 4. ingest (optional: CASES="big get small ingest"; needs big): the DP alone, fed by one curl
#           process instead of the site: the BIG_MB body in the site's requests (1 MiB PUTs to
#           /v1/uploads/{id} with Expect: 100-continue, a POST .../checkpoint every 8 MiB), and in
#           8 MiB PUTs with ?checkpoint=1. If these take as long as the push, the DP is the limit.
#
# How pkgxfer is timed (as bench/distribution_bench.sh does): each case has its own site (config,
# database, content library) and its own DP library; the package is added once (untimed).
# Each round stops the DP, empties its library (FileLib, DataLib and PkgLib are moved aside, the
# identity file pkgxfer-library.json stays: the site would refuse a library that changed
# identity), starts the DP and the site (start-up untimed), runs `sync`, then times wall clock
# from just before `pkgxfer distribute` until the "Finished: content" line appears in
# pkgxfermgr.log (followed by one Python process that wakes every 5 ms); then `status --json`
# must say installed and the DP's FileLib must hold every body. The site reads the same version
# again, finds no manifest on the DP and sends everything, as to a new DP. From the log the
# script also takes the job time ("Found send request" to "Finished"). Both daemons stop after
# the round. curl runs are timed the same way (wall clock, process start included, after an
# untimed `sync`), each to a new folder. The order of pkgxfer and nginx alternates by round.
#
# verify: an HTTP DP hashes every body as it arrives (and refuses a mismatch); the site never
# reads a body back, so `"verify": false` changes nothing on this path and is not measured.
#
# Environment: BASE (scratch dir, default /tmp/pkgxfer-http-bench, deleted afterwards unless
# KEEP=1), RUNS (5; medians reported), BIG_MB (1024), SMALL_FILES (10000), SMALL_SIZE (4096),
# SMALL_DIRS (100), PARALLEL (8), CASES ("big get small"; get and ingest need big), LOGLEVEL (info),
# DP_PORT / SITE_PORT / NGINX_PORT (free ports picked by the OS), WARM_MEMORY (1: fill the page
# cache first, as distribution_bench.sh does), PROFILE (empty; "strace" and/or "perf": one extra
# untimed push per case with `strace -c -f` / `perf record -g` attached to the DP and the site,
# summaries in $BASE/profile and printed at the end; keep them with KEEP=1).
#
# CPU: every time also has a NAME_cpu: the user + system seconds the DP and site processes used
# (/proc/PID/stat), or nginx's processes plus curl (bash `times`). With 2 cores the wall time can
# not be less than CPU / 2; this is the less load-sensitive half of the comparison.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=${1:?usage: $0 path/to/bin}
BIN=$(readlink -f "$BIN")
PKGXFERD=$BIN/pkgxferd
PKGXFER=$BIN/pkgxfer
BASE=${BASE:-/tmp/pkgxfer-http-bench}
RUNS=${RUNS:-5}
BIG_MB=${BIG_MB:-1024}
SMALL_FILES=${SMALL_FILES:-10000}
SMALL_SIZE=${SMALL_SIZE:-4096}
SMALL_DIRS=${SMALL_DIRS:-100}
PARALLEL=${PARALLEL:-8}
CASES=${CASES:-big get small}
LOGLEVEL=${LOGLEVEL:-info}
PROFILE=${PROFILE:-}

for x in "$PKGXFERD" "$PKGXFER"; do
  [[ -x $x ]] || { echo "no binary $x" >&2; exit 2; }
done
if [[ " $CASES " == *" get "* || " $CASES " == *" ingest "* ]] && [[ " $CASES " != *" big "* ]]; then
  echo "CASES: get and ingest need the big case; add big" >&2
  exit 2
fi

# ---------------------------------------------------------------- tools
need=()
command -v nginx > /dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v curl > /dev/null || need+=(curl)
if ((${#need[@]})); then
  [[ $EUID == 0 ]] || { echo "missing ${need[*]}: apt-get install -y ${need[*]} (as root)" >&2; exit 2; }
  echo "installing ${need[*]}..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${need[@]}" > /dev/null || { apt-get update > /dev/null && apt-get install -y "${need[@]}" > /dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -V 2>&1 | grep -q http_dav_module || { echo "$NGINX has no WebDAV module" >&2; exit 2; }
for tool in python3 openssl; do
  command -v $tool > /dev/null || { echo "missing $tool" >&2; exit 2; }
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
DP_PORT=${DP_PORT:-$(free_port)}
SITE_PORT=${SITE_PORT:-$(free_port)}
NGINX_PORT=${NGINX_PORT:-$(free_port)}

mkdir -p "$BASE"
BASE=$(readlink -f "$BASE")
# A private copy of the binaries: a rebuild during the run (a shared checkout) must not change
# what is measured, nor catch a half-written file.
mkdir -p "$BASE/bin"
cp "$PKGXFERD" "$PKGXFER" "$BASE/bin/"
BIN_INFO="$(stat -c '%y' "$PKGXFERD" | cut -d. -f1), $("$BASE/bin/pkgxferd" --version 2>&1 | head -1)"
PKGXFERD=$BASE/bin/pkgxferd
PKGXFER=$BASE/bin/pkgxfer

# ---------------------------------------------------------------- processes
# Every process started here is in PIDS (name -> pid) until it is stopped; the trap stops the rest.
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

# wait_line FILE PATTERN COUNT_BEFORE WHAT: until FILE holds more than COUNT_BEFORE PATTERN lines.
count_lines() {
  local n
  n=$(grep -c "$2" "$1" 2> /dev/null) || true
  echo "${n:-0}"
}
wait_line() {
  local i
  for ((i = 0; i < 600; i++)); do
    (($(count_lines "$1" "$2") > $3)) && return 0
    sleep 0.05
  done
  echo "$4 did not start; see $1" >&2
  exit 1
}
start_dp() {  # CASE
  local dir=$BASE/$1 n
  n=$(count_lines "$dir/dplog/dp.log" 'serving the content library')
  "$PKGXFERD" --config "$dir/dp.json" > "$dir/dp.out" 2>&1 &
  PIDS[dp]=$!
  wait_line "$dir/dplog/dp.log" 'serving the content library' "$n" "the DP pkgxferd"
}
start_site() {  # CASE
  local dir=$BASE/$1 n
  n=$(count_lines "$dir/log/pkgxferd.log" 'pkgxferd running')
  "$PKGXFERD" --config "$dir/site.json" > "$dir/site.out" 2>&1 &
  PIDS[site]=$!
  wait_line "$dir/log/pkgxferd.log" 'pkgxferd running' "$n" "the site pkgxferd"
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
# cpu_of PID...: their CPU time so far (user + system, every thread), in clock ticks.
CLK_TCK=$(getconf CLK_TCK)
cpu_of() {
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
# time_cmd NAME COMMAND...: wall clock after an untimed sync. NAME_cpu gets the CPU time of the
# command and its children (bash `times`) plus that of the server processes in SRV (pids).
SRV=
time_cmd() {
  local name=$1; shift
  sync
  local t0 t1 c0 c1 kids
  c0=$(cpu_of $SRV)
  t0=$(now)
  kids=$( ("$@" > /dev/null || exit 1; times) | tail -n 1) || { echo "$name failed: $*" >&2; exit 1; }
  t1=$(now)
  c1=$(cpu_of $SRV)
  add_time "$name" "$(secs "$t0" "$t1")"
  add_time "${name}_cpu" "$(python3 -c "
import re
k = sum(int(m) * 60 + float(s) for m, s in re.findall(r'(\\d+)m([\\d.]+)s', '$kids'))
print(f'{k + ($c1 - $c0) / $CLK_TCK:.2f}')")"
}

# Moves PATH aside into $BASE/trash (deleted at exit): creating inodes just after thousands were
# deleted is slow on this VM's ext4 (see distribution_bench.sh, retire()).
TRASH_N=0
retire() {
  [[ -e $1 ]] || return 0
  mkdir -p "$BASE/trash"
  TRASH_N=$((TRASH_N + 1))
  mv "$1" "$BASE/trash/$TRASH_N"
}
# empty_dp CASE: the DP's library without its content; the identity file stays. DP stopped.
empty_dp() {
  local lib=$BASE/$1/dplib d
  for d in FileLib DataLib PkgLib; do retire "$lib/$d"; done
}

# The log helpers of distribution_bench.sh: log_secs (seconds between two log lines after a line
# number) and follow_log (one process following a log until a line, printing the clock then).
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
# timed_distribute CASE NAME: distribute PS100001 to dp01; wall clock until "Finished: content";
# then the pair must be installed and the DP must hold NBODIES[CASE] bodies.
declare -A NBODIES=()
timed_distribute() {
  local cs=$1 name=$2 log=$BASE/$1/log/pkgxfermgr.log from t0 t1 follower
  from=$(lines "$log")
  rm -f "$BASE/follow.ready"
  follow_log "$log" "$from" 'Finished: content' 1 "$BASE/follow.ready" > "$BASE/follow.out" &
  follower=$!
  PIDS[follower]=$follower
  while [[ ! -e $BASE/follow.ready ]]; do
    kill -0 "$follower" 2> /dev/null || { echo "$name: cannot follow $log" >&2; exit 1; }
    sleep 0.01
  done
  sync
  local c0 c1
  c0=$(cpu_of "${PIDS[dp]}" "${PIDS[site]}")
  t0=$(now)
  "$PKGXFER" --config "$BASE/$cs/site.json" distribute PS100001 --dp dp01 > /dev/null
  if ! wait "$follower"; then unset "PIDS[follower]"; echo "$name: failed or timed out; see $log" >&2; exit 1; fi
  c1=$(cpu_of "${PIDS[dp]}" "${PIDS[site]}")
  unset "PIDS[follower]"
  t1=$(cat "$BASE/follow.out")
  add_time "$name" "$(secs "$t0" "$t1")"
  add_time "${name}_cpu" "$(ticks "$c0" "$c1")"
  local state bodies
  state=$("$PKGXFER" --config "$BASE/$cs/site.json" status PS100001 --json |
    python3 -c 'import json,sys; print(",".join(r["state"] for r in json.load(sys.stdin)))')
  [[ $state == installed ]] || { echo "$name: state $state, not installed" >&2; exit 1; }
  bodies=$(find "$BASE/$cs/dplib/FileLib" -type f ! -name '.*' | wc -l)
  [[ $bodies == "${NBODIES[$cs]}" ]] || { echo "$name: the DP holds $bodies bodies, not ${NBODIES[$cs]}" >&2; exit 1; }
  add_time "${name}_job" "$(log_secs "$log" 'Found send request' 'Finished: content' "$from")"
}

# ---------------------------------------------------------------- configs
printf 'http-bench-token-%s\n' "$(openssl rand -hex 16)" > "$BASE/site.token"
chmod 600 "$BASE/site.token"
make_case() {  # CASE: $BASE/CASE/{site.json,dp.json,site,log,dplib,dplog}
  local dir=$BASE/$1
  mkdir -p "$dir/site" "$dir/log" "$dir/dplib" "$dir/dplog"
  cat > "$dir/dp.json" << EOF
{
  "logging": {"dir": "$dir/dplog", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["dp"],
  "dp": {"name": "dp01", "content_library": "$dir/dplib", "listen": "127.0.0.1:$DP_PORT",
         "token_file": "$BASE/site.token"}
}
EOF
  cat > "$dir/site.json" << EOF
{
  "site": {"code": "PS1", "data_dir": "$dir/site", "listen": "127.0.0.1:$SITE_PORT",
           "token_file": "$BASE/site.token"},
  "logging": {"dir": "$dir/log", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["distmgr", "pkgxfermgr"],
  "distribution": {"max_concurrent_packages": 3, "max_threads_per_package": 5},
  "distribution_points": [{"name": "dp01", "type": "standard", "address": "http://127.0.0.1:$DP_PORT"}]
}
EOF
  "$PKGXFERD" --check-config --config "$dir/dp.json" > /dev/null
  "$PKGXFERD" --check-config --config "$dir/site.json" > /dev/null
}

# nginx: the baselines' recipe (research/baselines.md), plus /dplib/ (the big case's DP library,
# read only) with sendfile on, and /nosendfile/ (the same files) with sendfile off.
NG=$BASE/nginx
mkdir -p "$NG"/{logs,tmp,upload}
cat > "$NG/nginx.conf" << EOF
$([[ $EUID == 0 ]] && echo 'user root;')
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_max_body_size 0;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = / { return 204; }
    location /upload/ {
      root $NG;
      dav_methods PUT DELETE MKCOL COPY MOVE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_body_buffer_size 1m;
    }
    location /dplib/ { alias $BASE/big/dplib/; }
    location /nosendfile/ { alias $BASE/big/dplib/; sendfile off; output_buffers 2 1m; }
  }
}
EOF
"$NGINX" -t -q -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf"
"$NGINX" -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf" -g 'daemon off;' &
PIDS[nginx]=$!
for ((i = 0; i < 100; i++)); do
  curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/" 2> /dev/null && break
  sleep 0.05
done
curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/" || { echo "nginx did not start; see $NG/logs" >&2; exit 1; }
NGX=http://127.0.0.1:$NGINX_PORT
NGINX_PIDS="${PIDS[nginx]} $(pgrep -P "${PIDS[nginx]}" | xargs)"

echo "== $(date -Is), load $(load); DP :$DP_PORT, nginx :$NGINX_PORT" >&2

# Warm memory (as distribution_bench.sh): fill the page cache with a sparse file read once, so
# that every contender's writes reuse cached pages instead of pages the VM gave back to the host.
if [[ ${WARM_MEMORY:-1} == 1 ]]; then
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  ballast_mb=$((avail_kb / 1024 - 4096))
  if ((ballast_mb > 0)); then
    echo "filling the page cache with ${ballast_mb} MiB (WARM_MEMORY=0 to skip)..." >&2
    truncate -s "${ballast_mb}M" "$BASE/ballast"
    cat "$BASE/ballast" > /dev/null
  fi
fi

declare -A INFO=()
order() { (($1 % 2)) && echo "ours nginx" || echo "nginx ours"; }  # ROUND

# ---------------------------------------------------------------- setup: big
if [[ " $CASES " == *" big "* ]]; then
  make_case big
  mkdir -p "$BASE/data/big"
  echo "creating ${BIG_MB} MiB file..." >&2
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$BASE/data/big/big.bin"
  BIG_BYTES=$(stat -c %s "$BASE/data/big/big.bin")
  BIG_SHA=$(openssl dgst -sha256 -r "$BASE/data/big/big.bin" | cut -d' ' -f1)
  BIG_REL=FileLib/${BIG_SHA:0:4}/$BIG_SHA
  NBODIES[big]=1
  "$PKGXFER" --config "$BASE/big/site.json" package add --id PS100001 --name big \
    --source "$BASE/data/big" > /dev/null
  warm "$BASE/data/big"; warm "$BASE/big/site"
  INFO[big]="1 file, $BIG_BYTES B, sha256 $BIG_SHA"
fi

# ---------------------------------------------------------------- setup: small
if [[ " $CASES " == *" small "* ]]; then
  make_case small
  echo "creating $SMALL_FILES files of $SMALL_SIZE B..." >&2
  gen "$BASE/data/small" "$SMALL_FILES" "$SMALL_DIRS" "$SMALL_SIZE" "$SMALL_SIZE" 42
  (cd "$BASE/data/small" && find . -type f -printf '%P\n' | sort) > "$BASE/small.list"
  SMALL_BYTES=$(find "$BASE/data/small" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  NBODIES[small]=$(find "$BASE/data/small" -type f -print0 | xargs -0 openssl dgst -sha256 -r |
    cut -d' ' -f1 | sort -u | wc -l)
  "$PKGXFER" --config "$BASE/small/site.json" package add --id PS100001 --name small \
    --source "$BASE/data/small" > /dev/null
  warm "$BASE/data/small"; warm "$BASE/small/site"
  INFO[small]="$SMALL_FILES files of $SMALL_SIZE B ($SMALL_BYTES B, ${NBODIES[small]} distinct), $SMALL_DIRS folders"
fi

# curl_config ROUND_DIR: upload-file/url pairs of every small file under /upload/ROUND_DIR/.
curl_config() {
  awk -v src="$BASE/data/small" -v url="$NGX/upload/$1" \
    '{printf "upload-file = \"%s/%s\"\nurl = \"%s/%s\"\n", src, $0, url, $0}' "$BASE/small.list" \
    > "$BASE/curl-$1.cfg"
  echo "$BASE/curl-$1.cfg"
}
# The file system's file-create rate, timed in every small round: 2,000 empty files in a new
# folder. On this VM's ext4 (no journal) every new inode skips, one by one, the inodes deleted in
# the last 60 s (360 s while their table block is dirty; recently_deleted() in find_inode_bit()),
# so for minutes after a large delete (a previous run's clean-up, another job's tests) creating
# files is several times slower, for pkgxfer and nginx alike. A slow probe flags such a round.
create_probe() {
  local d=$BASE/probe/$1
  mkdir -p "$d"
  time_cmd fs_create_probe_2000 python3 -c "
import os
for i in range(2000): open(os.path.join('$d', 'p%d' % i), 'w').close()"
}
check_count() {  # DIR EXPECTED NAME
  local n
  n=$(find "$1" -type f | wc -l)
  [[ $n == "$2" ]] || { echo "$3: $n files in $1, not $2" >&2; exit 1; }
}

# ---------------------------------------------------------------- rounds
for ((r = 1; r <= RUNS; r++)); do
  # ---- 1. big (and 3. get)
  if [[ " $CASES " == *" big "* ]]; then
    echo "big round $r/$RUNS (load $(load))" >&2
    for who in $(order "$r"); do
      if [[ $who == nginx ]]; then
        SRV=$NGINX_PIDS
        retire "$NG/upload/big"
        time_cmd big_nginx curl -fsS -T "$BASE/data/big/big.bin" "$NGX/upload/big/$r/big.bin"
        [[ $(stat -c %s "$NG/upload/big/$r/big.bin") == "$BIG_BYTES" ]] || { echo "nginx: short big.bin" >&2; exit 1; }
        retire "$NG/upload/big"
        time_cmd big_nginx_fsync bash -c "curl -fsS -T '$BASE/data/big/big.bin' '$NGX/upload/big/$r/big.bin' &&
          sync '$NG/upload/big/$r/big.bin' '$NG/upload/big/$r'"
        retire "$NG/upload/big"
      else
        empty_dp big
        start_dp big
        start_site big
        timed_distribute big big_pkgxfer
        stop_proc site
        if [[ " $CASES " == *" get "* ]]; then
          # The same file through both servers, read into the page cache before each GET.
          for g in $(order "$r"); do
            warm "$BASE/big/dplib/$BIG_REL"
            if [[ $g == ours ]]; then
              SRV=${PIDS[dp]}
              time_cmd get_pkgxfer curl -fsS -o /dev/null "http://127.0.0.1:$DP_PORT/v1/files/$BIG_SHA"
            else
              SRV=$NGINX_PIDS
              time_cmd get_nginx curl -fsS -o /dev/null "$NGX/dplib/$BIG_REL"
              warm "$BASE/big/dplib/$BIG_REL"
              time_cmd get_nginx_nosendfile curl -fsS -o /dev/null "$NGX/nosendfile/$BIG_REL"
            fi
          done
        fi
        stop_proc dp
      fi
    done
  fi
  # ---- 2. small
  if [[ " $CASES " == *" small "* ]]; then
    echo "small round $r/$RUNS (load $(load))" >&2
    SRV='' create_probe "$r"
    for who in $(order "$r"); do
      if [[ $who == nginx ]]; then
        SRV=$NGINX_PIDS
        cfg=$(curl_config "seq$r")
        time_cmd small_nginx_seq curl -sS -f -K "$cfg"
        check_count "$NG/upload/seq$r" "$SMALL_FILES" small_nginx_seq
        cfg=$(curl_config "par$r")
        time_cmd small_nginx_par curl -sS --no-progress-meter -f -Z --parallel-max "$PARALLEL" -K "$cfg"
        check_count "$NG/upload/par$r" "$SMALL_FILES" small_nginx_par
        cfg=$(curl_config "seqsync$r")
        time_cmd small_nginx_seq_sync bash -c "curl -sS -f -K '$cfg' && sync -f '$NG/upload'"
        check_count "$NG/upload/seqsync$r" "$SMALL_FILES" small_nginx_seq_sync
        cfg=$(curl_config "parsync$r")
        time_cmd small_nginx_par_sync bash -c "curl -sS --no-progress-meter -f -Z --parallel-max $PARALLEL -K '$cfg' && sync -f '$NG/upload'"
        check_count "$NG/upload/parsync$r" "$SMALL_FILES" small_nginx_par_sync
        for d in seq par seqsync parsync; do retire "$NG/upload/$d$r"; done
      else
        empty_dp small
        start_dp small
        start_site small
        timed_distribute small small_pkgxfer
        stop_proc site
        stop_proc dp
      fi
    done
  fi
done

# ---------------------------------------------------------------- 4. ingest (optional)
# The DP alone, fed by one curl process over one connection instead of by the site: the body in
# the site's requests (1 MiB PUTs with Expect: 100-continue, a POST .../checkpoint every 8 MiB),
# and in 8 MiB PUTs that each end with ?checkpoint=1. The pieces are split off beforehand.
# ingest_config DIR ID EVERY SEPARATE_POST EXPECT: curl -K lines, one PUT per piece.
ingest_config() {
  local dir=$1 id=$2 every=$3 post=$4 expect=$5 off=0 f n i=0 q first=1 size=$BIG_BYTES
  local common
  common=$(printf 'header = "Authorization: Bearer %s"\noutput = "/dev/null"\nfail\nsilent\nshow-error' "$TOKEN")
  for f in "$dir"/p*; do
    n=$(stat -c %s "$f"); i=$((i + 1)); q=
    ((first)) || echo next
    first=0
    ((i % every == 0 && off + n < size)) && [[ $post == 0 ]] && q='?checkpoint=1'
    printf 'upload-file = "%s"\nurl = "http://127.0.0.1:%s/v1/uploads/%s%s"\n' "$f" "$DP_PORT" "$id" "$q"
    printf 'header = "Content-Range: bytes %d-%d/%d"\nheader = "Expect:%s"\n%s\n' \
      "$off" $((off + n - 1)) "$size" "$expect" "$common"
    if ((i % every == 0 && off + n < size)) && [[ $post == 1 ]]; then
      printf 'next\nrequest = "POST"\nurl = "http://127.0.0.1:%s/v1/uploads/%s/checkpoint"\n%s\n' \
        "$DP_PORT" "$id" "$common"
    fi
    off=$((off + n))
  done
}
ingest_run() {  # NAME DIR EVERY SEPARATE_POST EXPECT
  local id
  id=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"sha256\": \"$BIG_SHA\", \"size\": $BIG_BYTES, \"owner\": \"bench\"}" \
    "http://127.0.0.1:$DP_PORT/v1/uploads" | python3 -c 'import json, sys; print(json.load(sys.stdin)["upload"])')
  ingest_config "$2" "$id" "$3" "$4" "$5" > "$BASE/ingest.cfg"
  SRV=${PIDS[dp]} time_cmd "$1" curl -K "$BASE/ingest.cfg"
  curl -fsS -X DELETE -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$DP_PORT/v1/uploads/$id"
}
if [[ " $CASES " == *" ingest "* ]]; then
  TOKEN=$(tr -d '\n' < "$BASE/site.token")
  mkdir -p "$BASE/data/pieces1" "$BASE/data/pieces8"
  split -b 1M -a 5 -d "$BASE/data/big/big.bin" "$BASE/data/pieces1/p"
  split -b 8M -a 5 -d "$BASE/data/big/big.bin" "$BASE/data/pieces8/p"
  warm "$BASE/data/pieces1"; warm "$BASE/data/pieces8"
  empty_dp big
  start_dp big
  for ((r = 1; r <= RUNS; r++)); do
    echo "ingest round $r/$RUNS (load $(load))" >&2
    for v in $( (($r % 2)) && echo "site 8m" || echo "8m site"); do
      if [[ $v == site ]]; then
        ingest_run ingest_curl_like_site "$BASE/data/pieces1" 8 1 ' 100-continue'
      else
        ingest_run ingest_curl_8mib_puts "$BASE/data/pieces8" 1 0 ''
      fi
    done
  done
  stop_proc dp
fi

# ---------------------------------------------------------------- profile (untimed)
# PROFILE="strace": one more push per case with `strace -c -f` attached to the DP and the site
# (syscall counts and times; strace slows them several times). PROFILE="perf": one more push with
# `perf record -g` on both (samples by process and symbol). Both: "strace perf".
declare -a PROFILES=()
profile_push() {  # CASE TOOL
  local cs=$1 tool=$2 out=$BASE/profile/$1-$2
  echo "profile: $cs push under $tool (untimed)" >&2
  empty_dp "$cs"
  start_dp "$cs"
  start_site "$cs"
  if [[ $tool == strace ]]; then
    strace -c -f -o "$out-dp.txt" -p "${PIDS[dp]}" 2> /dev/null &
    PIDS[prof_dp]=$!
    strace -c -f -o "$out-site.txt" -p "${PIDS[site]}" 2> /dev/null &
    PIDS[prof_site]=$!
  else
    perf record -q -F 999 -g -o "$out-dp.data" -p "${PIDS[dp]}" 2> /dev/null &
    PIDS[prof_dp]=$!
    perf record -q -F 999 -g -o "$out-site.data" -p "${PIDS[site]}" 2> /dev/null &
    PIDS[prof_site]=$!
  fi
  sleep 1
  timed_distribute "$cs" "profile_${cs}_under_$tool"
  kill -INT "${PIDS[prof_dp]}" ${PIDS[prof_site]:-}
  wait "${PIDS[prof_dp]}" ${PIDS[prof_site]:-} || true
  unset "PIDS[prof_dp]" "PIDS[prof_site]"
  if [[ $tool == perf ]]; then
    local who
    for who in dp site; do
      {
        perf report -i "$out-$who.data" --stdio --no-children -g none --sort dso --percent-limit 1 2> /dev/null
        perf report -i "$out-$who.data" --stdio --no-children -g none --sort sym --percent-limit 0.8 2> /dev/null
      } | grep -v '^#' | grep -v '^$' | cut -c1-150 > "$out-$who.txt"
    done
  fi
  PROFILES+=("$out-dp.txt" "$out-site.txt")
  stop_proc site
  stop_proc dp
}
if [[ -n $PROFILE ]]; then
  mkdir -p "$BASE/profile"
  for tool in $PROFILE; do
    [[ $tool == strace || $tool == perf ]] || { echo "PROFILE: strace and/or perf" >&2; exit 2; }
    command -v "$tool" > /dev/null || { echo "PROFILE=$tool: not installed" >&2; continue; }
    for cs in big small; do
      if [[ " $CASES " == *" $cs "* ]]; then profile_push "$cs" "$tool"; fi
    done
  done
fi

# ---------------------------------------------------------------- report
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '\nmachine: %s, %s cores, %s; %s; %s GiB RAM\n' "$cpu" "$(nproc)" \
  "$(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI)" "$(uname -r)" \
  "$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
printf 'pkgxferd built %s (copied from %s)\n' "$BIN_INFO" "$BIN"
printf 'nginx %s, curl %s; load at the end: %s; %s rounds, log level %s\n' \
  "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')" "$(curl -V | head -1 | cut -d' ' -f2)" "$(load)" "$RUNS" "$LOGLEVEL"
for k in "${!INFO[@]}"; do printf 'data %s: %s\n' "$k" "${INFO[$k]}"; done
printf '\n(_cpu: user + system seconds of the DP and site pkgxferd, or of nginx and curl)\n'
printf '%-32s %9s   %s\n' time median runs
for name in "${NAMES[@]}"; do
  printf '%-32s %9.3f   %s\n' "$name" "$(median "${T[$name]}")" "${T[$name]}"
done
# row LABEL OURS NGINX BYTES FILES: median times, throughput, files/s, median CPU seconds, and
# the ratio ours/nginx in throughput (= nginx time / our time; higher is better, target >= 0.9).
row() {
  [[ -v T[$2] && -v T[$3] ]] || return 0
  local oc=nan nc=nan
  if [[ -v T[$2_cpu] ]]; then oc=$(median "${T[$2_cpu]}"); fi
  if [[ -v T[$3_cpu] ]]; then nc=$(median "${T[$3_cpu]}"); fi
  python3 - "$1" "$(median "${T[$2]}")" "$(median "${T[$3]}")" "$4" "$5" "$oc" "$nc" << 'EOF'
import sys, math
label, ours, ng, nbytes, files = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
oc, nc = float(sys.argv[6]), float(sys.argv[7])
fps = lambda t: f"{files / t:,.0f}" if files > 1 else "-"
cpu = lambda c: "-" if math.isnan(c) else f"{c:.2f}"
print(f"| {label} | {ours:.3f} | {nbytes / ours / 1e6:,.0f} | {fps(ours)} | {cpu(oc)} | {ng:.3f} | "
      f"{nbytes / ng / 1e6:,.0f} | {fps(ng)} | {cpu(nc)} | **{ng / ours:.2f}** |")
EOF
}
printf '\nthroughput in MB/s (10^6 B/s) from the medians; CPU = median user+sys seconds;\n'
printf 'ratio = ours / nginx (throughput), target >= 0.9\n\n'
printf '| case | ours s | ours MB/s | ours files/s | ours CPU s | nginx s | nginx MB/s | nginx files/s | nginx+curl CPU s | ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
if [[ -v BIG_BYTES ]]; then
  row "1 big push vs curl -T" big_pkgxfer big_nginx "$BIG_BYTES" 1
  row "1 big push vs curl -T + fsync" big_pkgxfer big_nginx_fsync "$BIG_BYTES" 1
  row "  (job time from the log) vs curl -T" big_pkgxfer_job big_nginx "$BIG_BYTES" 1
  row "4 DP fed by curl, the site's requests, vs curl -T" ingest_curl_like_site big_nginx "$BIG_BYTES" 1
  row "4 DP fed by curl, 8 MiB PUTs, vs curl -T" ingest_curl_8mib_puts big_nginx "$BIG_BYTES" 1
  row "3 GET vs nginx (sendfile on)" get_pkgxfer get_nginx "$BIG_BYTES" 1
  row "3 GET vs nginx (sendfile off)" get_pkgxfer get_nginx_nosendfile "$BIG_BYTES" 1
fi
if [[ -v SMALL_BYTES ]]; then
  row "2 small push vs curl -K (1 connection)" small_pkgxfer small_nginx_seq "$SMALL_BYTES" "$SMALL_FILES"
  row "2 small push vs curl -Z ($PARALLEL connections)" small_pkgxfer small_nginx_par "$SMALL_BYTES" "$SMALL_FILES"
  row "2 small push vs curl -K + sync -f" small_pkgxfer small_nginx_seq_sync "$SMALL_BYTES" "$SMALL_FILES"
  row "2 small push vs curl -Z + sync -f" small_pkgxfer small_nginx_par_sync "$SMALL_BYTES" "$SMALL_FILES"
  row "  (job time from the log) vs curl -Z" small_pkgxfer_job small_nginx_par "$SMALL_BYTES" "$SMALL_FILES"
fi
for p in "${PROFILES[@]}"; do
  printf '\n== %s\n' "$(basename "$p" .txt)"
  if [[ $p == *strace* ]]; then head -n 22 "$p"; else head -n 45 "$p"; fi
done
