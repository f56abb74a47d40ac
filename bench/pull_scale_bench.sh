#!/usr/bin/env bash
# Pull DPs at ConfigMgr's scale (issue 15): a site with TOTAL (2,000) pull DPs configured, LIVE
# (200) of them live `pkgxferd` processes and the rest unreachable (nothing listens on their
# ports), one small package distributed to all of them:
#
#   bench/pull_scale_bench.sh path/to/bin
#
# The folder holding pkgxferd and pkgxfer (build: cmake --build build -t pkgxferd pkgxfer).
# Processes, all on 127.0.0.1, one shared token file, everything under $BASE, every process the
# script starts stopped on exit (trap): the site (distmgr, pkgxfermgr, statusreceiver with
# site.listen), a standard HTTP DP "src01" (["dp"]) and LIVE pull DPs (["dp", "pulldp"], each its
# own library, port and logs, sources ["src01"], pulldp.site_status_url = the site). The site config
# lists TOTAL pull DPs pdp0001..; every STRIDE-th (TOTAL / LIVE) is live, the others point at
# ports checked to be closed (below the ephemeral range, so no outgoing socket takes them).
#
# Measures:
# 1. startup: seconds to start the LIVE pull DPs (all at once) and their RSS and PSS afterwards
#             (RSS counts the shared binary text in every process, PSS divides it).
# 2. fanout:  the package (FILES files of FILE_KB KiB, distributed to src01 first, untimed), then
#             one `pkgxfer distribute PKG --dp pdp0001 --dp pdp0002 ...` for all TOTAL pull DPs;
#             wall clock until the site's distmgr.log says "is installed on pull DP X" for every
#             live X (checked every 0.5 s), then `status --json` must agree.
# 3. site CPU (utime + stime, /proc/PID/stat) and RSS (VmRSS) sampled every second during the
#    fanout and for IDLE_SECS (60) afterwards, while the unreachable ones keep failing; also the
#    pull DPs' summed CPU and the size of the site's logs.
# 4. log flooding and backoff: per unreachable DP, the lines of pkgxfermgr.log and distmgr.log that
#    name it and its "PullDP notification failed ... Failure count = N" attempts; lines per attempt
#    and the intervals between successive attempts (they must grow, pull_source_recheck / 20
#    doubling up to pull_source_recheck).
#
# PULL_RECHECK (30s; the default 20m would show one retry an hour into the run) sets
# distribution.pull_source_recheck and with it the notification backoff.
#
# Environment: BASE (/tmp/pkgxfer-pull-scale-bench; removed unless KEEP=1), LIVE (200), TOTAL
# (2000), FILES (20), FILE_KB (64), IDLE_SECS (60), PULL_RECHECK (30s), PDP_JOBS (2: each pull
# DP's pulldp.max_concurrent_jobs, one thread each; the default 50 would give 200 x 50 idle
# threads), PORT0 (20000: live pull DPs get PORT0+1.., dead ones PORT0+LIVE+1..; must lie below
# the ephemeral range), LOGLEVEL (info), WAIT_SECS (900: give up on the fanout).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=$(readlink -f "${1:?usage: $0 path/to/bin}")
BASE=${BASE:-/tmp/pkgxfer-pull-scale-bench}
LIVE=${LIVE:-200}
TOTAL=${TOTAL:-2000}
FILES=${FILES:-20}
FILE_KB=${FILE_KB:-64}
IDLE_SECS=${IDLE_SECS:-60}
PULL_RECHECK=${PULL_RECHECK:-30s}
PDP_JOBS=${PDP_JOBS:-2}
PORT0=${PORT0:-20000}
LOGLEVEL=${LOGLEVEL:-info}
WAIT_SECS=${WAIT_SECS:-900}
STRIDE=$((TOTAL / LIVE))
((STRIDE >= 1 && LIVE <= TOTAL)) || { echo "need LIVE <= TOTAL" >&2; exit 2; }
for x in "$BIN/pkgxferd" "$BIN/pkgxfer"; do [[ -x $x ]] || { echo "no binary $x" >&2; exit 2; }; done
for tool in python3 openssl ss; do command -v $tool > /dev/null || { echo "missing $tool" >&2; exit 2; }; done
read -r eph_lo _ < /proc/sys/net/ipv4/ip_local_port_range
((PORT0 + TOTAL + 2 < eph_lo)) || { echo "PORT0 + TOTAL must stay below $eph_lo" >&2; exit 2; }

rm -rf "$BASE"
mkdir -p "$BASE/bin"
BASE=$(readlink -f "$BASE")
# A private copy of the binaries: a rebuild during the run must not change what is measured.
cp "$BIN/pkgxferd" "$BIN/pkgxfer" "$BASE/bin/"
BIN_INFO="$(stat -c '%y' "$BIN/pkgxferd" | cut -d. -f1), $("$BASE/bin/pkgxferd" --version 2>&1 | head -1)"
PKGXFERD=$BASE/bin/pkgxferd
PKGXFER=$BASE/bin/pkgxfer
px() { "$PKGXFER" --config "$BASE/site.json" "$@"; }

# ---------------------------------------------------------------- processes
declare -A PIDS=()
cleanup() {
  local name pid
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2> /dev/null || true; done
  for name in "${!PIDS[@]}"; do
    pid=${PIDS[$name]}
    for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  [[ ${KEEP:-0} == 1 ]] && { echo "kept $BASE" >&2; return; }
  rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log_has() { grep -q "$2" "$1" 2> /dev/null; }
wait_ready() {  # NAME LOG PATTERN SECONDS
  local i
  for ((i = 0; i < $4 * 20; i++)); do
    log_has "$2" "$3" && return 0
    kill -0 "${PIDS[$1]}" 2> /dev/null || { echo "$1 exited; see $BASE/out/$1.out" >&2; exit 1; }
    sleep 0.05
  done
  echo "$1 did not start; see $2" >&2
  exit 1
}
start() {  # NAME CONFIG
  "$PKGXFERD" --config "$2" > "$BASE/out/$1.out" 2>&1 &
  PIDS[$1]=$!
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2> /dev/null || echo 0; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2> /dev/null || echo 0; }
state_counts() {  # PKG: "state=count ..." over the pull DPs
  px status "$1" --json | python3 -c '
import collections, json, sys
c = collections.Counter(r["state"] for r in json.load(sys.stdin) if r["dp"] != "src01")
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))'
}

# ---------------------------------------------------------------- configs
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SITE_PORT=$(free_port)
SRC_PORT=$(free_port)
# No listener may hold the fixed ports: live ones are bound later by their pull DP, dead ones
# must stay closed.
busy=$(ss -Hltn | awk -v lo=$((PORT0 + 1)) -v hi=$((PORT0 + TOTAL)) \
  '{n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) print p}' | sort -u | head -5)
[[ -z $busy ]] || { echo "ports in use in $((PORT0 + 1))..$((PORT0 + TOTAL)): $busy; set PORT0" >&2; exit 2; }

printf 'pull-scale-token-%s\n' "$(openssl rand -hex 16)" > "$BASE/site.token"
chmod 600 "$BASE/site.token"
mkdir -p "$BASE/out" "$BASE/site" "$BASE/log" "$BASE/src/lib" "$BASE/src/log" "$BASE/pdp"
python3 - "$BASE" "$LIVE" "$TOTAL" "$STRIDE" "$PORT0" "$SITE_PORT" "$SRC_PORT" "$PULL_RECHECK" \
  "$PDP_JOBS" "$LOGLEVEL" << 'EOF'
import json, os, sys
base, live, total, stride, port0, site_port, src_port = sys.argv[1], *map(int, sys.argv[2:8])
recheck, pdp_jobs, level = sys.argv[8], int(sys.argv[9]), sys.argv[10]
tok = os.path.join(base, "site.token")
logging = lambda d: {"dir": d, "level": level, "max_size": "1GB", "history": 1}
dps = [{"name": "src01", "type": "standard", "address": f"http://127.0.0.1:{src_port}"}]
live_list, dead_list, nlive, ndead = [], [], 0, 0
for i in range(1, total + 1):
    name = "pdp%04d" % i
    if (i - 1) % stride == 0 and nlive < live:
        nlive += 1
        port = port0 + nlive
        live_list.append(name)
        d = os.path.join(base, "pdp", name)
        os.makedirs(os.path.join(d, "lib"), exist_ok=True)
        json.dump({"logging": logging(os.path.join(d, "log")), "components": ["dp", "pulldp"],
                   "dp": {"name": name, "content_library": os.path.join(d, "lib"),
                          "listen": f"127.0.0.1:{port}", "token_file": tok},
                   "pulldp": {"site_status_url": f"http://127.0.0.1:{site_port}",
                              "max_concurrent_jobs": pdp_jobs}},
                  open(os.path.join(d, "pdp.json"), "w"), indent=1)
    else:
        ndead += 1
        port = port0 + live + ndead
        dead_list.append(name)
    dps.append({"name": name, "type": "pull", "address": f"http://127.0.0.1:{port}",
                "sources": ["src01"]})
json.dump({"site": {"code": "PS1", "data_dir": os.path.join(base, "site"),
                    "listen": f"127.0.0.1:{site_port}", "token_file": tok},
           "logging": logging(os.path.join(base, "log")),
           "components": ["distmgr", "pkgxfermgr", "statusreceiver"],
           "distribution": {"pull_source_recheck": recheck},
           "distribution_points": dps}, open(os.path.join(base, "site.json"), "w"), indent=1)
open(os.path.join(base, "live.txt"), "w").write("\n".join(live_list) + "\n")
open(os.path.join(base, "dead.txt"), "w").write("\n".join(dead_list) + "\n")
json.dump({"logging": logging(os.path.join(base, "src", "log")), "components": ["dp"],
           "dp": {"name": "src01", "content_library": os.path.join(base, "src", "lib"),
                  "listen": f"127.0.0.1:{src_port}", "token_file": tok}},
          open(os.path.join(base, "src.json"), "w"), indent=1)
EOF
mapfile -t LIVE_DPS < "$BASE/live.txt"
mapfile -t DEAD_DPS < "$BASE/dead.txt"
echo "== $(date -Is), load $(cut -d' ' -f1-3 /proc/loadavg); site :$SITE_PORT, src01 :$SRC_PORT," \
  "${#LIVE_DPS[@]} live + ${#DEAD_DPS[@]} unreachable pull DPs" >&2

# ---------------------------------------------------------------- start
start src "$BASE/src.json"
wait_ready src "$BASE/src/log/dp.log" 'serving the content library' 30
start site "$BASE/site.json"
wait_ready site "$BASE/log/pkgxferd.log" 'pkgxferd running' 60
SITE=${PIDS[site]}
echo "starting ${#LIVE_DPS[@]} pull DPs..." >&2
t0=$(now)
for n in "${LIVE_DPS[@]}"; do start "$n" "$BASE/pdp/$n/pdp.json"; done
for n in "${LIVE_DPS[@]}"; do wait_ready "$n" "$BASE/pdp/$n/log/dp.log" 'serving the content library' 300; done
t1=$(now)
PDP_START=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
PDP_PIDS=()
for n in "${LIVE_DPS[@]}"; do PDP_PIDS+=("${PIDS[$n]}"); done
printf '%s\n' "${PDP_PIDS[@]}" > "$BASE/pdp.pids"
sleep 3
pdp_rss() {  # min/median/max/sum of the pull DPs' VmRSS, MB; threads of the first
  for p in "${PDP_PIDS[@]}"; do rss_kb "$p"; done | sort -n |
    awk -v th="$(threads "${PDP_PIDS[0]}")" '{a[NR] = $1; s += $1}
      END {printf "min %.1f / median %.1f / max %.1f MB, sum %.0f MB (%d threads each)",
           a[1] / 1024, a[int((NR + 1) / 2)] / 1024, a[NR] / 1024, s / 1024, th}'
  # PSS: RSS with each shared page divided among its users (the binary's text is shared by all).
  for p in "${PDP_PIDS[@]}"; do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2> /dev/null; done |
    awk '{s += $1} END {printf "; PSS sum %.0f MB = %.1f MB per pull DP", s / 1024, s / NR / 1024}'
}
site_mem() {  # RSS, PSS, anonymous memory and open files of the site
  awk '/^(Rss|Pss|Anonymous):/ {printf "%s %.1f MB, ", $1, $2 / 1024}' "/proc/$SITE/smaps_rollup"
  echo "$(ls "/proc/$SITE/fd" | wc -l) open files"
}
PDP_RSS_IDLE=$(pdp_rss)
SITE_RSS0=$(rss_kb "$SITE")
SITE_MEM0=$(site_mem)
echo "pull DPs up in $PDP_START s; RSS $PDP_RSS_IDLE; site RSS $((SITE_RSS0 / 1024)) MB" >&2

# ---------------------------------------------------------------- package to src01 (untimed)
PKG=PS100001
gen "$BASE/data" "$FILES" 1 $((FILE_KB * 1024)) $((FILE_KB * 1024)) 15
px package add --id "$PKG" --name scale --source "$BASE/data" > /dev/null
px distribute "$PKG" --dp src01 > /dev/null
for ((i = 0; ; i++)); do
  s=$(px status "$PKG" --json | python3 -c 'import json, sys; print(",".join(r["state"] for r in json.load(sys.stdin) if r["dp"] == "src01"))')
  [[ $s == installed ]] && break
  ((i < 600)) || { echo "src01: $s" >&2; exit 1; }
  sleep 0.2
done

# ---------------------------------------------------------------- sampler
# Every second: time, site ticks, site RSS kB, site threads, pull DPs' summed ticks, log bytes.
python3 - "$SITE" "$BASE/pdp.pids" "$BASE/log" "$BASE/samples.tsv" << 'EOF' &
import os, sys, time
site, pids, logdir, out = int(sys.argv[1]), open(sys.argv[2]).read().split(), sys.argv[3], sys.argv[4]
def ticks(p):
    try: f = open(f"/proc/{p}/stat").read()
    except OSError: return 0
    a = f.rsplit(")", 1)[1].split()
    return int(a[11]) + int(a[12])
def status(p, key):
    try:
        for line in open(f"/proc/{p}/status"):
            if line.startswith(key): return int(line.split()[1])
    except OSError: pass
    return 0
size = lambda n: os.path.getsize(os.path.join(logdir, n)) if os.path.exists(os.path.join(logdir, n)) else 0
with open(out, "w", buffering=1) as f:
    nxt = time.time()
    while True:
        f.write(f"{time.time():.3f}\t{ticks(site)}\t{status(site, 'VmRSS:')}\t{status(site, 'Threads:')}\t"
                f"{sum(ticks(p) for p in pids)}\t{size('pkgxfermgr.log')}\t{size('distmgr.log')}\n")
        nxt += 1
        time.sleep(max(0, nxt - time.time()))
EOF
PIDS[sampler]=$!
sleep 5  # a baseline before the fanout

# ---------------------------------------------------------------- fanout (timed)
installed_live() {
  { grep -o 'is installed on pull DP pdp[0-9]*' "$BASE/log/distmgr.log" 2> /dev/null || true; } | sort -u | wc -l
}
args=()
for ((i = 1; i <= TOTAL; i++)); do args+=(--dp "$(printf 'pdp%04d' "$i")"); done
echo "distributing to $TOTAL pull DPs (load $(cut -d' ' -f1-3 /proc/loadavg))..." >&2
T_START=$(now)
px distribute "$PKG" "${args[@]}" > /dev/null
T_CLI=$(now)
first=""
while :; do
  n=$(installed_live)
  [[ -z $first && $n -gt 0 ]] && first=$(now)
  ((n >= ${#LIVE_DPS[@]})) && break
  if python3 -c "import sys; sys.exit(0 if $(now) - $T_START > $WAIT_SECS else 1)"; then
    echo "only $n of ${#LIVE_DPS[@]} installed after $WAIT_SECS s" >&2
    break
  fi
  sleep 0.5
done
T_DONE=$(now)
N_INSTALLED=$n
echo "$N_INSTALLED live pull DPs installed in $(python3 -c "print(f'{$T_DONE - $T_START:.1f}')") s" >&2
PDP_RSS_AFTER=$(pdp_rss)
STATES_DONE=$(state_counts "$PKG")
echo "states: $STATES_DONE" >&2

# ---------------------------------------------------------------- idle with the unreachable ones
echo "idle for $IDLE_SECS s..." >&2
sleep "$IDLE_SECS"
T_END=$(now)
STATES_END=$(state_counts "$PKG")
SITE_MEM_END=$(site_mem)
kill -TERM "${PIDS[sampler]}" 2> /dev/null || true
wait "${PIDS[sampler]}" 2> /dev/null || true
unset "PIDS[sampler]"
live_ok=$(px status "$PKG" --json | python3 -c '
import json, sys
live = set(open(sys.argv[1]).read().split())
print(sum(1 for r in json.load(sys.stdin) if r["dp"] in live and r["state"] == "installed"))' "$BASE/live.txt")

# ---------------------------------------------------------------- report
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '\nmachine: %s, %s cores, %s, %s GiB RAM; load at the end %s\n' "$cpu" "$(nproc)" "$(uname -r)" \
  "$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'pkgxferd built %s (copied from %s)\n' "$BIN_INFO" "$BIN"
printf 'config: %d pull DPs, %d live (every %d-th), %d unreachable; pull_source_recheck %s; ' \
  "$TOTAL" "${#LIVE_DPS[@]}" "$STRIDE" "${#DEAD_DPS[@]}" "$PULL_RECHECK"
printf 'package %d x %d KiB; pulldp.max_concurrent_jobs %d; log level %s\n' "$FILES" "$FILE_KB" "$PDP_JOBS" "$LOGLEVEL"
printf 'pull DPs: started in %s s; RSS idle: %s; after the pull: %s\n' "$PDP_START" "$PDP_RSS_IDLE" "$PDP_RSS_AFTER"
printf 'site before the fanout: %s\nsite after the idle phase: %s\n' "$SITE_MEM0" "$SITE_MEM_END"
python3 - "$BASE" "$T_START" "$T_CLI" "${first:-$T_DONE}" "$T_DONE" "$T_END" "$N_INSTALLED" "$live_ok" \
  "$(getconf CLK_TCK)" "$STATES_DONE" "$STATES_END" << 'EOF'
import collections, datetime, os, re, statistics, sys
base = sys.argv[1]
t_start, t_cli, t_first, t_done, t_end = map(float, sys.argv[2:7])
n_inst, live_ok, hz = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
live = open(f"{base}/live.txt").read().split()
dead = open(f"{base}/dead.txt").read().split()
print(f"\nfanout: `distribute` CLI {t_cli - t_start:.1f} s; first live pull DP installed after "
      f"{t_first - t_start:.1f} s; {n_inst}/{len(live)} installed (distmgr.log) after "
      f"**{t_done - t_start:.1f} s**; status --json at the end: {live_ok}/{len(live)} live installed")
print(f"states of the {len(live) + len(dead)} pull DPs when the live ones were done: {sys.argv[10]}")
print(f"                                   after the idle phase: {sys.argv[11]}")

rows = [list(map(float, l.split("\t"))) for l in open(f"{base}/samples.tsv") if l.strip()]
def phase(a, b, label):
    r = [x for x in rows if a <= x[0] <= b]
    if len(r) < 2: print(f"{label}: too few samples"); return
    secs = r[-1][0] - r[0][0]
    cpu = (r[-1][1] - r[0][1]) / hz
    pdp = (r[-1][4] - r[0][4]) / hz
    steps = [(y[1] - x[1]) / hz / (y[0] - x[0]) * 100 for x, y in zip(r, r[1:])]
    rss = [x[2] / 1024 for x in r]
    logb = (r[-1][5] + r[-1][6]) - (r[0][5] + r[0][6])
    print(f"| {label} | {secs:.0f} | {cpu:.2f} ({cpu / secs * 100:.1f} %) | {max(steps):.0f} % | "
          f"{statistics.mean(rss):.1f} / {max(rss):.1f} MB | {int(max(x[3] for x in r))} | "
          f"{pdp:.2f} | {logb / 1024:.1f} KiB ({logb / secs / 1024:.2f} KiB/s) |")
print("\n| phase | s | site CPU s (avg % of a core) | site CPU peak (1 s) | site RSS avg / peak | "
      "site threads | pull DPs' CPU s (sum) | site log growth |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
phase(rows[0][0], t_start, "before (5 s)")
phase(t_start, t_done, "fanout until the live ones are installed")
phase(t_done, t_end, "idle, unreachable ones retrying")

# Log lines per unreachable DP. Trace format: MESSAGE $$<COMP><MM-DD-YYYY HH:MM:SS.mmm+BIAS><...>
stamp = re.compile(r"\$\$<[^>]*><(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3})")
name_re = re.compile(r"\bpdp\d{4}\b")
fail_re = re.compile(r"PullDP notification failed.*Failure count = (\d+)/")
dead_set = set(dead)
def scan(fn):
    per = collections.defaultdict(list)  # dp -> [(time, line)]
    total = 0
    for line in open(f"{base}/log/{fn}", errors="replace"):
        total += 1
        names = set(name_re.findall(line)) & dead_set
        m = stamp.search(line)
        t = datetime.datetime.strptime(m.group(1), "%m-%d-%Y %H:%M:%S.%f").timestamp() if m else None
        for n in names: per[n].append((t, line))
    return per, total
mgr, mgr_total = scan("pkgxfermgr.log")
dist, dist_total = scan("distmgr.log")
print(f"\nsite logs at the end: pkgxfermgr.log {os.path.getsize(f'{base}/log/pkgxfermgr.log') / 1024:.0f} KiB "
      f"({mgr_total} lines), distmgr.log {os.path.getsize(f'{base}/log/distmgr.log') / 1024:.0f} KiB "
      f"({dist_total} lines)")
attempts, fixed, per_attempt, gaps = [], [], [], collections.defaultdict(list)
grow_bad, kinds = 0, collections.Counter()
for n in dead:
    fails = [(t, l) for t, l in mgr.get(n, []) if fail_re.search(l)]
    counts = collections.Counter(int(fail_re.search(l).group(1)) for _, l in fails)
    attempts.append(len(counts))
    per_attempt.append(max(counts.values(), default=0))  # lines logged for one attempt
    other = [l for _, l in mgr.get(n, []) + dist.get(n, []) if not fail_re.search(l)]
    fixed.append(len(other))
    for l in other: kinds[re.sub(r"\d+", "N", l.split(" $$<")[0])[:110]] += 1
    ts = [t for t, _ in fails]
    d = [b - a_ for a_, b in zip(ts, ts[1:])]
    for i, x in enumerate(d): gaps[i + 1].append(x)
    if any(y < x * 0.9 for x, y in zip(d, d[1:])): grow_bad += 1  # 10 % for scheduling jitter
c = collections.Counter(attempts)
print(f"unreachable DPs: {len(dead)}; notification attempts per DP over the run: "
      + ", ".join(f"{k} attempts: {v} DPs" for k, v in sorted(c.items())))
print(f"failure lines per (unreachable DP, attempt): max {max(per_attempt)} "
      f"(DPs with more than one line for an attempt: {sum(1 for x in per_attempt if x > 1)})")
print(f"other lines naming one unreachable DP (once per job, pkgxfermgr.log + distmgr.log): "
      f"min {min(fixed)}, median {statistics.median(fixed)}, max {max(fixed)}; by kind (numbers as N):")
for k, v in kinds.most_common(8): print(f"  {v:6d}  {k}")
print("interval between attempt k and k+1 (seconds, over the unreachable DPs: median [min-max]):")
for k in sorted(gaps):
    g = gaps[k]
    print(f"  {k} -> {k + 1}: {statistics.median(g):7.2f} [{min(g):.2f}-{max(g):.2f}] ({len(g)} DPs)")
print(f"DPs with an interval more than 10 % shorter than the one before: {grow_bad}")
# Failure lines per second in the idle phase.
idle = [t for n in dead for t, l in mgr.get(n, []) if t and fail_re.search(l) and t_done <= t <= t_end]
print(f"failure lines in the idle phase: {len(idle)} in {t_end - t_done:.0f} s = {len(idle) / (t_end - t_done):.1f} lines/s")
EOF
echo
echo "one unreachable DP's lines (${DEAD_DPS[0]}):"
grep -h "${DEAD_DPS[0]}\b" "$BASE/log/pkgxfermgr.log" "$BASE/log/distmgr.log" | cut -c1-260 | head -12 || true
echo "errors/warnings in the site logs other than notification failures:"
grep -h 'ERROR:\|WARNING:' "$BASE/log/"*.log | grep -v 'PullDP notification failed' | cut -c1-260 | sort | uniq -c | sort -rn | head -10 || true
echo "errors/warnings in the pull DPs' logs (type 2/3):"
cat "$BASE"/pdp/*/log/*.log | grep 'type="[23]"' | sed 's/<!\[LOG\[\(.*\)\]LOG\]!>.*/\1/' | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -10 || true
