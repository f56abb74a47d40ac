#!/usr/bin/env bash
# Builds pkgxfer and runs a whole demo site in the foreground on config/pkgxfer.json: the site
# server components with three local folder DPs under var/ and an HTTP DP (dp04) the same process
# serves with its dp component. On first run it defines a sample
# package (PS100001, made from a generated folder) and queues its distribution to every DP, so
# the service has work to do at once. Follow it from another terminal with
#   build/bin/pkgxfer --config config/pkgxfer.json status --watch
# Stop the service with Ctrl+C; run the script again to resume where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/build.sh"

config=config/pkgxfer.json
cli=(build/bin/pkgxfer --config "$config")
source_dir=var/demo-source

# "Install" the demo DPs: a file DP is a folder that must exist (a missing one is an unreachable
# DP, which distmgr retries). dp04 is an HTTP DP the same process serves (its dp component), with
# its library in var/dp04.
mkdir -p var/dp01 var/dp02 var/dp03 var/site
# The site's bearer token: HTTP DPs accept changes only from whoever holds it (a DP machine's
# dp.token_file is a copy of it). Made once, never printed.
if [[ ! -s var/site/site.token ]]; then
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > var/site/site.token)
fi

if ! "${cli[@]}" package show PS100001 >/dev/null 2>&1; then
  echo "demo: creating the sample package PS100001 from $source_dir"
  mkdir -p "$source_dir/bin" "$source_dir/docs" "$source_dir/logs"  # logs/ stays empty
  head -c $((8 * 1024 * 1024)) /dev/urandom > "$source_dir/bin/setup.exe"
  head -c $((256 * 1024)) /dev/urandom > "$source_dir/bin/setup.dll"
  cp "$source_dir/bin/setup.dll" "$source_dir/bin/setup-copy.dll"  # stored once in the library
  printf 'Sample package for the pkgxfer demo.\n' > "$source_dir/docs/read me.txt"
  "${cli[@]}" package add --id PS100001 --name "Demo package" --source "$source_dir" --priority high
  "${cli[@]}" distribute PS100001 --all-dps
fi

echo "demo: logs in var/log/, site database and library in var/site/, DPs in var/dp0*/ (dp04 over"
echo "      HTTP: curl http://127.0.0.1:8531/v1/content/PS100001/1 shows its manifest once installed)"
exec build/bin/pkgxferd --config "$config" --foreground
