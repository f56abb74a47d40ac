#!/usr/bin/env bash
# pkgxferd.exe as a Windows service under Wine, end to end (ctest label "windows"):
#   1. a fresh WINEPREFIX, booted, with a persistent wineserver (without one, each `wine` command
#      is its own session and the service dies a second after `net start` returns);
#   2. `pkgxferd.exe install --config C:\pkgxfer\pkgxfer.json`, whose site data, logs and file DP
#      live on the prefix's C: drive (paths written as C:\... and file:///C:/...);
#   3. `net start pkgxferd`, then `sc query` until RUNNING (net start returns while START_PENDING);
#   4. `pkgxfer.exe package add` and `distribute` to the DP, then `status --json` until installed;
#   5. from Linux: every body in the DP's FileLib hashes to its name (SHA-256 by CNG on the Windows
#      side, sha256sum here), the manifest is there, and pkgxfermgr.log parses in the trace format
#      with the bias Wine reports for the zone (TZ=Asia/Kolkata: -330, so sign and minutes count);
#   6. `net stop pkgxferd` exits 0, `sc query` reaches STOPPED with exit code 0, pkgxferd.log says
#      it stopped cleanly; `pkgxferd.exe uninstall` removes the service.
#
#   tests/scripts/windows_service_test.sh WINDOWS_BUILD_DIR
set -euo pipefail

build=${1:?usage: $0 WINDOWS_BUILD_DIR}
for exe in pkgxferd.exe pkgxfer.exe; do
  if [[ ! -f $build/bin/$exe ]]; then
    echo "$build/bin/$exe is missing: run scripts/build-windows.sh (scripts/test.sh does)"
    [[ -n ${CI:-} ]] && exit 1
    exit 77  # skipped (SKIP_RETURN_CODE): a local build without the Windows programs
  fi
done
command -v wine >/dev/null || { echo "FAIL: wine is not installed (scripts/build-windows.sh)"; exit 1; }

work=$(mktemp -d /tmp/pkgxfer-wine.XXXXXX)
export WINEPREFIX=$work/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="  # no Mono or Gecko installer at boot
export TZ=Asia/Kolkata                     # UTC+05:30 all year: Windows bias -330
export LC_ALL=C.UTF-8                      # Wine reads Unix arguments and file names as UTF-8
expected_bias=-330
c=$WINEPREFIX/drive_c
server_up=0

step() { echo "--- $(date +%T) $*"; }
fail() {
  echo "FAIL: $*"
  for f in "$c"/pkgxfer/logs/*.log; do
    [[ -f $f ]] && { echo "=== $f (last 30 lines)"; tail -n 30 "$f"; }
  done
  exit 1
}
# Runs a Windows command and prints its output without the CRs. Never through a pipe: the Wine
# services a command starts (services.exe, winedevice.exe...) inherit its stdout and keep a pipe
# open long after the command ended, so a reader of the pipe would wait for ever. A file of its
# own per command, so nothing those services write later mixes into another command's output.
w() {
  local rc=0 out
  out=$(mktemp "$work/out.XXXXXX")
  wine "$@" > "$out" 2>&1 || rc=$?
  tr -d '\r' < "$out"
  rm -f "$out"
  return $rc
}

cleanup() {
  if [[ -n ${PKGXFER_WINE_KEEP:-} ]]; then
    echo "PKGXFER_WINE_KEEP: left $WINEPREFIX and its wineserver running"
    return
  fi
  if ((server_up)); then
    # Never `wineserver -k` a running service without a stop control (it would be killed).
    wine net stop pkgxferd >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do
      w sc query pkgxferd 2>/dev/null | grep -q "STOPPED\|1060" && break
      sleep 0.2
    done
    wine 'C:\pkgxfer\bin\pkgxferd.exe' uninstall >/dev/null 2>&1 || true
    wineserver -k 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # ctest's timeout: still stop the service and the wineserver

# sc query's STATE line: "        STATE              : 4  RUNNING" -> "4  RUNNING".
state() { w sc query pkgxferd | sed -n 's/^ *STATE *: *//p' | head -1; }
wait_state() {  # wait_state "4  RUNNING" SECONDS
  local want=$1 deadline=$((SECONDS + $2)) got
  while ((SECONDS < deadline)); do
    got=$(state || true)
    [[ $got == "$want"* ]] && return 0
    sleep 0.5
  done
  fail "service state is '$got' after $2 s, expected '$want'"
}

step "boot a fresh prefix in $WINEPREFIX"
wineboot -i >/dev/null 2>&1
wineserver -w                  # the boot session ends; only then start the persistent server
wineserver -p
server_up=1
# The session's first command starts Wine's services, which keep its output as theirs.
wine cmd /c exit > /dev/null 2>&1

# The DP's folder exists, as a share would: a missing DP root is refused (an unmounted share).
# The source folder's name is not ASCII either: it reaches pkgxfer.exe as an argument.
src_dir="$c/pkgxfer/Quelle-Ü"
mkdir -p "$c/pkgxfer/bin" "$c/pkgxfer/dp01" "$src_dir/bin" "$src_dir/docs"
cp "$build/bin/pkgxferd.exe" "$build/bin/pkgxfer.exe" "$c/pkgxfer/bin/"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom > "$src_dir/bin/setup.exe"
head -c 4096 /dev/urandom > "$src_dir/bin/setup.dll"
cp "$src_dir/bin/setup.dll" "$src_dir/bin/copy.dll"  # one body for two files
printf 'Read me, under Wine.\n' > "$src_dir/docs/read me.txt"
# A name outside ASCII: UTF-8 in the manifest, UTF-16 at every Win32 call in between.
printf 'Lies mich.\n' > "$src_dir/docs/Lies mich – Übersicht.txt"
cat > "$c/pkgxfer/pkgxfer.json" <<'EOF'
{
  "site": { "code": "WN1", "data_dir": "C:\\pkgxfer\\site" },
  "logging": { "dir": "C:\\pkgxfer\\logs", "level": "debug" },
  "components": ["distmgr", "pkgxfermgr"],
  "distribution": { "retry_delay": "5s" },
  "distribution_points": [
    { "name": "dp01", "type": "standard", "address": "file:///C:/pkgxfer/dp01" }
  ]
}
EOF
daemon='C:\pkgxfer\bin\pkgxferd.exe'
cli=('C:\pkgxfer\bin\pkgxfer.exe' --config 'C:\pkgxfer\pkgxfer.json')

step "a build without TLS refuses https:// and a dp.tls block in the config"
sed 's|"file:///C:/pkgxfer/dp01"|"https://dp01.example:8531"|' "$c/pkgxfer/pkgxfer.json" \
  > "$c/pkgxfer/https.json"
rc=0
out=$(w "$daemon" --check-config --config 'C:\pkgxfer\https.json') || rc=$?
((rc == 2)) && grep -q 'TLS was not built' <<< "$out" || fail "https:// config: exit $rc: $out"
cat > "$c/pkgxfer/tls.json" <<'EOF'
{
  "logging": { "dir": "C:\\pkgxfer\\logs" },
  "components": ["dp"],
  "dp": { "name": "dp01", "content_library": "C:\\pkgxfer\\dplib", "listen": "127.0.0.1:8531",
          "token_file": "C:\\pkgxfer\\dp.token",
          "tls": { "cert_file": "C:\\pkgxfer\\dp.pem", "key_file": "C:\\pkgxfer\\dp.key" } }
}
EOF
rc=0
out=$(w "$daemon" --check-config --config 'C:\pkgxfer\tls.json') || rc=$?
((rc == 2)) && grep -q '/dp/tls: TLS was not built' <<< "$out" || fail "dp.tls block: exit $rc: $out"

step "install the service"
out=$(w "$daemon" install --config 'C:\pkgxfer\pkgxfer.json') || fail "install: $out"
echo "$out"
# The SCM's record (Wine's sc.exe has no `qc`): Start 2 = automatic, and the command line. (The
# restart-on-failure actions are not checked: Wine 8 accepts them but does not keep them.)
reg=$(w reg query 'HKLM\System\CurrentControlSet\Services\pkgxferd') || fail "reg query: $reg"
echo "$reg"
grep -qE 'Start +REG_DWORD +0x2$' <<< "$reg" || fail "not automatic start"
grep -qF '"C:\pkgxfer\bin\pkgxferd.exe" "--config" "C:\pkgxfer\pkgxfer.json"' <<< "$reg" ||
  fail "the command line does not carry the config"

step "net start pkgxferd"
out=$(w net start pkgxferd) || fail "net start: $out"
wait_state "4  RUNNING" 120

step "a second pkgxferd on the same site is refused (single-instance lock)"
rc=0
out=$(w "$daemon" --config 'C:\pkgxfer\pkgxfer.json') || rc=$?
((rc == 1)) && grep -q 'another pkgxferd (pid [0-9]*) is running on' <<< "$out" ||
  fail "second instance: exit $rc: $out"

step "add a package and distribute it"
out=$(w "${cli[@]}" package add --id WN100001 --name "Wine package" --source 'C:\pkgxfer\Quelle-Ü') ||
  fail "package add: $out"
echo "$out"
out=$(w "${cli[@]}" distribute WN100001 --dp dp01) || fail "distribute: $out"
echo "$out"

step "wait for installed"
deadline=$((SECONDS + 300))
while :; do
  status=$(w "${cli[@]}" status --json) || fail "status --json: $status"
  grep -q '"state": "installed"' <<< "$status" && break
  ((SECONDS < deadline)) || fail "not installed after 300 s: $status"
  sleep 1
done
echo "$status"

step "check the DP's library from Linux"
lib=$c/pkgxfer/dp01
[[ -f $lib/DataLib/WN100001.1.json && -f $lib/PkgLib/WN100001.json ]] ||
  fail "manifest or PkgLib entry missing: $(find "$lib" -maxdepth 2 | sort)"
bodies=0
while IFS= read -r -d '' body; do
  name=$(basename "$body")
  [[ $(basename "$(dirname "$body")") == "${name:0:4}" ]] || fail "$body is in the wrong folder"
  sum=$(sha256sum "$body" | cut -d' ' -f1)
  [[ $sum == "$name" ]] || fail "$body hashes to $sum"
  bodies=$((bodies + 1))
done < <(find "$lib/FileLib" -type f -print0)
((bodies == 4)) || fail "expected 4 bodies (5 files, 2 alike), found $bodies"
grep -q '"docs/Lies mich – Übersicht.txt"' "$lib/DataLib/WN100001.1.json" ||
  fail "the manifest does not hold the non-ASCII name as UTF-8: $(cat "$lib/DataLib/WN100001.1.json")"
for f in bin/setup.exe bin/setup.dll docs/read\ me.txt "docs/Lies mich – Übersicht.txt"; do
  grep -q "$(sha256sum "$src_dir/$f" | cut -d' ' -f1)" "$lib/DataLib/WN100001.1.json" ||
    fail "the manifest does not name $f's hash"
done

step "pkgxfermgr.log in the trace format, bias $expected_bias"
log=$c/pkgxfer/logs/pkgxfermgr.log
[[ -s $log ]] || fail "$log is missing or empty"
trace='^.* \$\$<SMS_PACKAGE_TRANSFER_MANAGER><[0-1][0-9]-[0-3][0-9]-20[0-9][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}([+-][0-9]+)><thread=[0-9]+ \(0x[0-9A-F]+\)>$'
lines=0
while IFS= read -r line; do
  line=${line%$'\r'}
  [[ $line =~ $trace ]] || fail "not a trace line: $line"
  [[ ${BASH_REMATCH[1]} == "$expected_bias" ]] || fail "bias ${BASH_REMATCH[1]}, expected $expected_bias: $line"
  lines=$((lines + 1))
done < "$log"
grep -q 'WN100001' "$log" || fail "pkgxfermgr.log does not mention the package"
echo "$lines lines parse"
# The log's time is the local time Wine keeps (UTC+05:30 here): within a few minutes of now.
last=$(tail -n 1 "$log" | grep -oE '<[0-9]{2}-[0-9]{2}-[0-9]{4} [0-9:]{8}' | tr -d '<')
logged=$(date -d "$(echo "$last" | awk '{split($1,d,"-"); print d[3]"-"d[1]"-"d[2]" "$2}')" +%s)
now=$(date +%s)
((logged > now - 600 && logged < now + 60)) || fail "last entry at $last (local) is not near now"

step "net stop pkgxferd"
out=$(w net stop pkgxferd) || fail "net stop exit code $?: $out"
wait_state "1  STOPPED" 120
exit_code=$(w sc query pkgxferd | sed -n 's/^ *WIN32_EXIT_CODE *: *\([0-9]*\).*/\1/p')
[[ ${exit_code:-0} == 0 ]] || fail "the service stopped with exit code $exit_code"
grep -q 'pkgxferd stopped cleanly' "$c/pkgxfer/logs/pkgxferd.log" ||
  fail "pkgxferd.log does not say it stopped cleanly"

step "uninstall"
out=$(w "$daemon" uninstall) || fail "uninstall: $out"
if w sc query pkgxferd >/dev/null; then fail "the service is still registered"; fi

step "from a console: pkgxferd.exe --config in the foreground, stopped by Ctrl+C"
# Wine turns SIGINT into the console's Ctrl+C event, which the C runtime raises as SIGINT.
plog=$c/pkgxfer/logs/pkgxferd.log
runs=$(grep -c 'pkgxferd running with' "$plog")
clean=$(grep -c 'pkgxferd stopped cleanly' "$plog")
wine "$daemon" --config 'C:\pkgxfer\pkgxfer.json' > "$work/console" 2>&1 &
console=$!
deadline=$((SECONDS + 120))
until (($(grep -c 'pkgxferd running with' "$plog") > runs)); do
  ((SECONDS < deadline)) || fail "the console run did not start: $(tr -d '\r' < "$work/console")"
  sleep 0.5
done
kill -INT "$console"
rc=0
wait "$console" || rc=$?
((rc == 0)) || fail "the console run exited $rc: $(tr -d '\r' < "$work/console")"
grep -q 'Stop requested (SIGINT)' "$plog" || fail "pkgxferd.log shows no stop request by Ctrl+C"
(($(grep -c 'pkgxferd stopped cleanly' "$plog") > clean)) || fail "the console run did not stop cleanly"
tr -d '\r' < "$work/console" | grep -q 'stopped cleanly' ||
  fail "no readable log copy on the console: $(tr -d '\r' < "$work/console")"

wineserver -k 2>/dev/null || true
server_up=0
echo "PASS"
