#!/usr/bin/env bash
# Times distribution to an SMB DP (pkgxferd over libsmbclient) against smbclient pushing the same
# files to the same server, in the same run, rounds interleaved:
#
#   bench/smb_bench.sh path/to/bin
#
# The folder holding pkgxferd and pkgxfer (a build with SMB). Needs root (a private smbd,
# scripts/smbd.sh, on 127.0.0.1:$PORT with two shares: "dp" for pkgxfer, "raw" for smbclient).
#
# 1. big:   one BIG_MB file: `pkgxfer distribute` to an empty SMB DP vs `smbclient -c 'put'`.
# 2. small: SMALL_FILES random files (4 KiB..256 KiB, SMALL_DIRS folders) vs
#           `smbclient -c 'prompt off; recurse on; mput *'`.
# Each pkgxfer case runs twice per round: with `verify` on (every body read back from the share
# and hashed before it is renamed into place) and off (hashed as it is written), so the read-back
# is reported separately. smbclient verifies nothing.
#
# How pkgxfer is timed: as bench/distribution_bench.sh (its helpers in lib.sh): a site per verify
# setting, the package added once (not timed), pkgxferd started per round (not timed), the DP's
# share emptied (all but its identity file), then wall clock from `pkgxfer distribute` until the
# "Finished: content" line, and `status` must say installed. smbclient is timed from start to exit
# into an emptied share. Every round alternates which contender goes first. Each round's pushes
# are checked: the share holds every file (count and bytes).
#
# Environment: BASE (/tmp/pkgxfer-smb-bench; deleted afterwards unless KEEP=1), RUNS (3; medians
# reported), BIG_MB (1024), SMALL_FILES (10000), SMALL_DIRS (100), PORT (4490), CASES ("big
# small"), LOGLEVEL (info).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMBD="$ROOT/scripts/smbd.sh"

BIN=${1:?usage: $0 path/to/bin}
BIN=$(readlink -f "$BIN")
PKGXFERD=$BIN/pkgxferd
PKGXFER=$BIN/pkgxfer
BASE=${BASE:-/tmp/pkgxfer-smb-bench}
RUNS=${RUNS:-3}
BIG_MB=${BIG_MB:-1024}
SMALL_FILES=${SMALL_FILES:-10000}
SMALL_DIRS=${SMALL_DIRS:-100}
PORT=${PORT:-4490}
CASES=${CASES:-big small}
LOGLEVEL=${LOGLEVEL:-info}
PASSWORD=bench-password
export PKGXFER_BENCH_SMB_PASSWORD=$PASSWORD

for x in "$PKGXFERD" "$PKGXFER"; do [[ -x $x ]] || { echo "no binary $x" >&2; exit 2; }; done
"$SMBD" install
mkdir -p "$BASE"
BASE=$(readlink -f "$BASE")
DAEMON_PID=
cleanup() {
  if [[ -n $DAEMON_PID ]]; then kill -TERM "$DAEMON_PID" 2> /dev/null || true; wait "$DAEMON_PID" 2> /dev/null || true; fi
  "$SMBD" stop --dir "$BASE/smb" || true
  [[ ${KEEP:-0} == 1 ]] && return
  rm -rf "$BASE"
}
trap cleanup EXIT

"$SMBD" start --dir "$BASE/smb" --port "$PORT" --password "$PASSWORD" --share dp --share raw
SHARE_DP=$BASE/smb/shares/dp
SHARE_RAW=$BASE/smb/shares/raw
smbc() { "$SMBD" smbclient --dir "$BASE/smb" raw -- "$@"; }
smbclient_version=$(smbc --version 2>/dev/null | head -1 || true)

load() { cut -d' ' -f1-3 /proc/loadavg; }
declare -A T
declare -a NAMES=()
add_time() {
  [[ -v T[$1] ]] || NAMES+=("$1")
  T[$1]+="$2 "
}

# make_site NAME VERIFY: a site whose one DP, smb01, is the library folder NAME on share "dp".
make_site() {
  local name=$1 verify=$2 dir=$BASE/$1
  mkdir -p "$dir/site" "$dir/log" "$SHARE_DP/$name"
  cat > "$dir/pkgxfer.json" << EOF
{
  "site": {"code": "PS1", "data_dir": "$dir/site"},
  "logging": {"dir": "$dir/log", "level": "$LOGLEVEL", "max_size": "1GB", "history": 1},
  "components": ["distmgr", "pkgxfermgr"],
  "distribution": {"verify": $verify},
  "distribution_points": [{"name": "smb01", "address": "smb://127.0.0.1:$PORT/dp/$name",
    "credentials": {"user": "pkgxfer", "password_env": "PKGXFER_BENCH_SMB_PASSWORD"}}]
}
EOF
  "$PKGXFERD" --check-config --config "$dir/pkgxfer.json" > /dev/null
}
# Empties the DP's library folder on the share but its identity file (not timed).
reset_dp() {
  local d=$SHARE_DP/$1
  find "$d" -mindepth 1 -maxdepth 1 ! -name pkgxfer-library.json -exec rm -rf {} +
}
start_daemon() {
  local dir=$BASE/$1 n i
  n=$(grep -c 'pkgxferd running' "$dir/log/pkgxferd.log" 2> /dev/null || true)
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
# timed_pkgxfer SITE NAME: distribute PS100001 to smb01 and time it until "Finished: content".
timed_pkgxfer() {
  local site=$1 name=$2 log=$BASE/$1/log/pkgxfermgr.log from t0 t1 i
  reset_dp "$site"
  start_daemon "$site"
  from=$(grep -c 'Finished: content' "$log" 2> /dev/null || true)
  sync
  t0=$(now)
  "$PKGXFER" --config "$BASE/$site/pkgxfer.json" distribute PS100001 --dp smb01 > /dev/null
  for ((i = 0; ; i++)); do
    [[ $(grep -c 'Finished: content' "$log" 2> /dev/null || true) -gt $from ]] && break
    if grep -q 'ERROR:' "$log" 2> /dev/null && ((i > 0)); then
      grep 'ERROR:' "$log" | tail -3 >&2
      echo "$name: failed; see $log" >&2
      exit 1
    fi
    ((i < 180000)) || { echo "$name: timed out" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(now)
  stop_daemon
  "$PKGXFER" --config "$BASE/$site/pkgxfer.json" status PS100001 --json | grep -q '"installed"' ||
    { echo "$name: not installed" >&2; exit 1; }
  add_time "$name" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
}
# timed_smbclient NAME SRC_DIR COMMANDS: smbclient into the emptied "raw" share.
timed_smbclient() {
  local name=$1 src=$2 cmds=$3 t0 t1
  find "$SHARE_RAW" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  sync
  t0=$(now)
  (cd "$src" && smbc -c "$cmds" > /dev/null)
  t1=$(now)
  add_time "$name" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
}
# check_arrived DIR NFILES BYTES WHAT: the share folder holds that many regular files and bytes.
check_arrived() {
  local n b
  n=$(find "$1" -type f ! -name 'pkgxfer-library.json' ! -path '*/DataLib/*' ! -path '*/PkgLib/*' | wc -l)
  b=$(find "$1" -type f ! -name 'pkgxfer-library.json' ! -path '*/DataLib/*' ! -path '*/PkgLib/*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  [[ $n -eq $2 && $b -eq $3 ]] || { echo "$4: $n files / $b B arrived, expected $2 / $3" >&2; exit 1; }
}

echo "== $(date -Is), load $(load), $smbclient_version" >&2

# ---------------------------------------------------------------- 1. big
if [[ " $CASES " == *" big "* ]]; then
  mkdir -p "$BASE/data/big"
  echo "creating ${BIG_MB} MiB file..." >&2
  head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$BASE/data/big/big.bin"
  big_bytes=$(stat -c %s "$BASE/data/big/big.bin")
  for v in true false; do
    make_site "big_v$v" $v
    "$PKGXFER" --config "$BASE/big_v$v/pkgxfer.json" package add --id PS100001 --name big \
      --source "$BASE/data/big" > /dev/null
  done
  warm "$BASE/data/big"
  for ((r = 1; r <= RUNS; r++)); do
    echo "big round $r/$RUNS (load $(load))" >&2
    order=(pkgxfer smbclient)
    ((r % 2)) || order=(smbclient pkgxfer)
    for who in "${order[@]}"; do
      if [[ $who == pkgxfer ]]; then
        for v in true false; do
          timed_pkgxfer "big_v$v" "big_pkgxfer_verify_$v"
          check_arrived "$SHARE_DP/big_v$v/FileLib" 1 "$big_bytes" "big pkgxfer verify=$v"
        done
      else
        timed_smbclient big_smbclient_put "$BASE/data/big" "put big.bin"
        check_arrived "$SHARE_RAW" 1 "$big_bytes" "big smbclient"
      fi
    done
  done
fi

# ---------------------------------------------------------------- 2. small
if [[ " $CASES " == *" small "* ]]; then
  echo "creating $SMALL_FILES small files..." >&2
  gen "$BASE/data/small" "$SMALL_FILES" "$SMALL_DIRS" 4096 262144 42
  small_bytes=$(find "$BASE/data/small" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  # Random bodies: every file is its own body (no duplicates to skip).
  for v in true false; do
    make_site "small_v$v" $v
    "$PKGXFER" --config "$BASE/small_v$v/pkgxfer.json" package add --id PS100001 --name small \
      --source "$BASE/data/small" > /dev/null
  done
  warm "$BASE/data/small"
  for ((r = 1; r <= RUNS; r++)); do
    echo "small round $r/$RUNS (load $(load))" >&2
    order=(pkgxfer smbclient)
    ((r % 2)) || order=(smbclient pkgxfer)
    for who in "${order[@]}"; do
      if [[ $who == pkgxfer ]]; then
        for v in true false; do
          timed_pkgxfer "small_v$v" "small_pkgxfer_verify_$v"
          check_arrived "$SHARE_DP/small_v$v/FileLib" "$SMALL_FILES" "$small_bytes" \
            "small pkgxfer verify=$v"
        done
      else
        timed_smbclient small_smbclient_mput "$BASE/data/small" "prompt off; recurse on; mput *"
        check_arrived "$SHARE_RAW" "$SMALL_FILES" "$small_bytes" "small smbclient"
      fi
    done
  done
fi

# ---------------------------------------------------------------- report
printf '\n%-30s %9s   %s\n' case median runs
for name in "${NAMES[@]}"; do
  printf '%-30s %9.3f   %s\n' "$name" "$(median "${T[$name]}")" "${T[$name]}"
done
has() { [[ -v T[$1] && -v T[$2] ]]; }
# Throughput ratio pkgxfer / smbclient = smbclient time / pkgxfer time (higher is better).
ratio() { python3 -c "print(f'{$(median "${T[$2]}") / $(median "${T[$1]}"):.2f}')"; }
rate() { python3 -c "print(f'{$1 / $(median "${T[$2]}") / 1e6:.0f}')"; }
printf '\nthroughput ratios (pkgxfer / smbclient, target >= 0.9):\n'
if has big_pkgxfer_verify_false big_smbclient_put; then
  printf '  big:   verify off %s (%s vs %s MB/s); verify on (read-back) %s (%s MB/s)\n' \
    "$(ratio big_pkgxfer_verify_false big_smbclient_put)" \
    "$(rate "$big_bytes" big_pkgxfer_verify_false)" "$(rate "$big_bytes" big_smbclient_put)" \
    "$(ratio big_pkgxfer_verify_true big_smbclient_put)" "$(rate "$big_bytes" big_pkgxfer_verify_true)"
fi
if has small_pkgxfer_verify_false small_smbclient_mput; then
  files_rate() { python3 -c "print(f'{$SMALL_FILES / $(median "${T[$1]}"):.0f}')"; }
  printf '  small: verify off %s (%s vs %s files/s); verify on (read-back) %s (%s files/s)\n' \
    "$(ratio small_pkgxfer_verify_false small_smbclient_mput)" \
    "$(files_rate small_pkgxfer_verify_false)" "$(files_rate small_smbclient_mput)" \
    "$(ratio small_pkgxfer_verify_true small_smbclient_mput)" "$(files_rate small_pkgxfer_verify_true)"
fi
