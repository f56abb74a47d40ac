#!/usr/bin/env bash
# Times `pkgxfer package add` and `pkgxfer package update` against the shell tools that do the same
# work, in the same run:
#
#   bench/package_bench.sh [path/to/pkgxfer]
#
# Build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -t pkgxfer
#
# 1. add: `package add` of ADD_FILES random files (sizes uniform in 4 KiB..256 KiB, ADD_DIRS
#    folders) into a fresh site (new data_dir, config, database, content library each round) vs
#    `find SRC -type f -print0 | xargs -0 sha256sum` + `cp -r SRC DEST` (fresh DEST each round);
#    the baseline is the sum of the two. `sync` (not timed) runs before every timed command, so
#    that no command pays for the previous one's dirty pages (pkgxfer's syncfs() would flush
#    them). `sync` right after `cp -r` is timed too, as a reference (cp itself makes nothing
#    durable; pkgxfer does).
# 2. update: `package update` of an unchanged UPD_FILES-file source (1..4 KiB, UPD_DIRS folders),
#    added once beforehand (timed once, reported), vs `rsync -a SRC/ COPY/` with nothing to do and
#    `find SRC -type f | wc -l`.
#
# Environment: BASE (scratch dir, default /tmp/pkgxfer-package-bench, deleted afterwards unless
# KEEP=1), RUNS (default 5; the median is reported), ADD_FILES (10000), ADD_DIRS (100), UPD_FILES
# (100000), UPD_DIRS (1000), SKIP_ADD=1 / SKIP_UPDATE=1. Sources are read once before timing:
# every run is warm (page cache, dentries and inodes cached); caches are never dropped. Commands
# are interleaved round by round so that machine drift hits every contender alike. Everything
# lives on one file system (BASE).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PKGXFER=${1:-build/bin/pkgxfer}
BASE=${BASE:-/tmp/pkgxfer-package-bench}
RUNS=${RUNS:-5}
ADD_FILES=${ADD_FILES:-10000}
ADD_DIRS=${ADD_DIRS:-100}
UPD_FILES=${UPD_FILES:-100000}
UPD_DIRS=${UPD_DIRS:-1000}

[[ -x $PKGXFER ]] || { echo "no pkgxfer binary at $PKGXFER" >&2; exit 2; }
PKGXFER=$(readlink -f "$PKGXFER")
for tool in python3 bc rsync sha256sum; do
  command -v $tool > /dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 2; }
done
mkdir -p "$BASE"
# Deleting the ~300k files of the update case takes 2-9 minutes on the project VM (ext4 with
# `discard`): not part of any measurement, but count it in the wall time of a run.
cleanup() { [[ ${KEEP:-0} == 1 ]] || rm -rf "$BASE"; }
trap cleanup EXIT


# site DIR: an empty site (config + data folder) in DIR; prints the config path.
site() {
  mkdir -p "$1"
  cat > "$1/pkgxfer.json" << 'EOF'
{"site": {"code": "PS1", "data_dir": "site"}, "logging": {"dir": "log"},
 "components": ["distmgr"], "distribution_points": []}
EOF
  echo "$1/pkgxfer.json"
}

declare -A T
# time_cmd NAME COMMAND...: appends the wall time to T[NAME]; the output goes to $BASE/NAME.out.
time_cmd() {
  local name=$1; shift
  local t0 t1
  sync
  t0=$(now)
  "$@" > "$BASE/$name.out" 2>&1 || { echo "$name failed:" >&2; cat "$BASE/$name.out" >&2; exit 1; }
  t1=$(now)
  T[$name]+="$(echo "$t1 - $t0" | bc -l) "
}
list() { tr ' ' '\n' <<< "$1" | grep -v '^$' | xargs printf '%.2f ' ; }
loads=""
load() { loads+="$(cut -d' ' -f1 /proc/loadavg) "; echo "$1 (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }
sha_all() { find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null; }
count() { find "$1" -type f | wc -l; }
bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s}'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf 'machine: %s, %s cores, %s GiB RAM; %s (%s)\n' "$cpu" "$(nproc)" \
  "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" \
  "$(df -T "$BASE" | awk 'NR == 2 {print $2}')" "$BASE"
printf 'pkgxfer: %s; %s; %s\n\n' "$PKGXFER" "$(rsync --version | head -1)" \
  "$(sha256sum --version | head -1)"

# ---- 1. package add vs sha256sum + cp -r -------------------------------------------------------

if [[ ${SKIP_ADD:-0} != 1 ]]; then
  SRC=$BASE/add-src
  if [[ ! -d $SRC ]]; then
    echo "creating $ADD_FILES files (4-256 KiB) in $ADD_DIRS folders under $SRC..." >&2
    gen "$SRC" "$ADD_FILES" "$ADD_DIRS" 4096 262144 42
  fi
  ADD_BYTES=$(bytes "$SRC")
  warm "$SRC"
  for ((run = 1; run <= RUNS; run++)); do
    load "add run $run/$RUNS"
    rm -rf "$BASE/add-site" "$BASE/add-dest"
    cfg=$(site "$BASE/add-site")
    time_cmd add_pkgxfer "$PKGXFER" --config "$cfg" package add --id PS100001 --name bench \
      --source "$SRC"
    grep -q 'added' "$BASE/add_pkgxfer.out"
    T[add_pkgxfer_cli]+="$(grep -o 'in [0-9.]* s$' "$BASE/add_pkgxfer.out" | cut -d' ' -f2) "
    rm -rf "$BASE/add-site"
    time_cmd add_sha256sum sha_all "$SRC"
    time_cmd add_cp cp -r "$SRC" "$BASE/add-dest"
    t0=$(now); sync; t1=$(now)  # what it costs to make cp's copy durable (reference only)
    T[add_cp_sync]+="$(echo "$t1 - $t0" | bc -l) "
    rm -rf "$BASE/add-dest"
  done
  add_last_out=$(cat "$BASE/add_pkgxfer.out")
  rm -rf "$SRC"
fi

# ---- 2. package update of an unchanged source vs rsync -a no-op and find -----------------------

if [[ ${SKIP_UPDATE:-0} != 1 ]]; then
  SRC=$BASE/upd-src
  if [[ ! -d $SRC ]]; then
    echo "creating $UPD_FILES files (1-4 KiB) in $UPD_DIRS folders under $SRC..." >&2
    gen "$SRC" "$UPD_FILES" "$UPD_DIRS" 1024 4096 43
  fi
  UPD_BYTES=$(bytes "$SRC")
  warm "$SRC"
  rm -rf "$BASE/upd-site" "$BASE/upd-copy"
  cfg=$(site "$BASE/upd-site")
  load "update: adding the package once"
  time_cmd upd_add_once "$PKGXFER" --config "$cfg" package add --id PS100002 --name bench \
    --source "$SRC"
  upd_add_out=$(cat "$BASE/upd_add_once.out")
  time_cmd upd_rsync_copy rsync -a "$SRC/" "$BASE/upd-copy/"
  for ((run = 1; run <= RUNS; run++)); do
    load "update run $run/$RUNS"
    time_cmd upd_pkgxfer "$PKGXFER" --config "$cfg" package update PS100002
    grep -q 'unchanged' "$BASE/upd_pkgxfer.out" ||
      { echo "update did not say unchanged:" >&2; cat "$BASE/upd_pkgxfer.out" >&2; exit 1; }
    T[upd_pkgxfer_cli]+="$(grep -o 'in [0-9.]* s$' "$BASE/upd_pkgxfer.out" | cut -d' ' -f2) "
    time_cmd upd_rsync rsync -a "$SRC/" "$BASE/upd-copy/"
    time_cmd upd_find count "$SRC"
  done
  upd_last_out=$(cat "$BASE/upd_pkgxfer.out")
  [[ $(cat "$BASE/upd_find.out") == "$UPD_FILES" ]] || { echo "find counted wrong" >&2; exit 1; }
fi

# ---- report ------------------------------------------------------------------------------------

mbps() { if (($(echo "$2 == 0" | bc -l))); then echo nan; else echo "scale=0; $1 / $2 / 1000000" | bc -l; fi; }
f3() { printf '%.3f' "$1"; }
loads_sorted=$(tr ' ' '\n' <<< "$loads" | grep -v '^$' | sort -g)
printf '\nload average (1 min) at the start of each round: %s .. %s\n' \
  "$(head -1 <<< "$loads_sorted")" "$(tail -1 <<< "$loads_sorted")"

# div A B: A / B, or nan when B is 0 (a case so small that it took 0.000 s).
div() {
  if (($(echo "$2 == 0" | bc -l))); then echo nan; else echo "$1 / $2" | bc -l; fi
}

if [[ ${SKIP_ADD:-0} != 1 ]]; then
  # The baseline of a round is the sum of its sha256sum and cp -r times.
  read -ra s <<< "${T[add_sha256sum]}"
  read -ra c <<< "${T[add_cp]}"
  for i in "${!s[@]}"; do T[add_baseline]+="$(echo "${s[$i]} + ${c[$i]}" | bc -l) "; done
  read -ra p <<< "${T[add_pkgxfer]}"
  read -ra b <<< "${T[add_baseline]}"
  for i in "${!p[@]}"; do T[add_ratio]+="$(div "${p[$i]}" "${b[$i]}") "; done
  printf '\n1. package add: %s files, %s B (%s MB), %s folders; median of %s warm runs\n' \
    "$ADD_FILES" "$ADD_BYTES" "$((ADD_BYTES / 1000000))" "$ADD_DIRS" "$RUNS"
  printf '%-36s %9s %7s %9s  %s\n' case seconds MB/s files/s 'all runs'
  for name in add_pkgxfer add_pkgxfer_cli add_sha256sum add_cp add_baseline add_cp_sync; do
    m=$(median "${T[$name]}")
    printf '%-36s %9s %7s %9.0f  %s\n' "$name" "$(f3 "$m")" "$(mbps "$ADD_BYTES" "$m")" \
      "$(div "$ADD_FILES" "$m")" "$(list "${T[$name]}")"
  done
  printf 'ratio pkgxfer / (sha256sum + cp -r), lower is better: %.2f (medians); per round: %s\n' \
    "$(div "$(median "${T[add_pkgxfer]}")" "$(median "${T[add_baseline]}")")" \
    "$(list "${T[add_ratio]}")"
  printf 'last pkgxfer output: %s\n' "$add_last_out"
fi

if [[ ${SKIP_UPDATE:-0} != 1 ]]; then
  printf '\n2. package update, unchanged: %s files, %s B (%s MB), %s folders; median of %s warm runs\n' \
    "$UPD_FILES" "$UPD_BYTES" "$((UPD_BYTES / 1000000))" "$UPD_DIRS" "$RUNS"
  printf 'initial add (once): %s s (%s)\n' "$(f3 "$(median "${T[upd_add_once]}")")" "$upd_add_out"
  printf 'initial rsync -a copy (once): %s s\n' "$(f3 "$(median "${T[upd_rsync_copy]}")")"
  printf '%-36s %9s %9s  %s\n' case seconds files/s 'all runs'
  for name in upd_pkgxfer upd_pkgxfer_cli upd_rsync upd_find; do
    m=$(median "${T[$name]}")
    printf '%-36s %9s %9.0f  %s\n' "$name" "$(f3 "$m")" "$(div "$UPD_FILES" "$m")" \
      "$(list "${T[$name]}")"
  done
  m=$(median "${T[upd_pkgxfer]}")
  printf 'update target < 2 s: %s (median %s s)\n' \
    "$( (($(echo "$m < 2" | bc -l))) && echo met || echo MISSED)" "$(f3 "$m")"
  printf 'ratios: pkgxfer / rsync no-op = %.2f, pkgxfer / find = %.2f\n' \
    "$(div "$m" "$(median "${T[upd_rsync]}")")" \
    "$(div "$m" "$(median "${T[upd_find]}")")"
  printf 'last pkgxfer output: %s\n' "$upd_last_out"
fi
printf '\nbenchmark time: %d s (data generation included, the final clean-up not)\n' "$SECONDS"
echo "deleting $BASE..." >&2
