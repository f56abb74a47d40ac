#!/usr/bin/env bash
# Builds pkgxfer and runs a whole demo site in the foreground on config/pkgxfer.json: the site
# server components with local folder DPs under var/. Stop it with Ctrl+C.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/build.sh"

config=config/pkgxfer.json
mkdir -p var
echo "demo: logs in var/log/, site database in var/site/, DPs in var/dp0*/"
exec build/bin/pkgxferd --config "$config" --foreground
