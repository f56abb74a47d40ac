#!/usr/bin/env bash
# Checks the module boundaries written down in docs/architecture.md ("Module boundaries"): every
# #include "pkgxfer/<module>/..." in src/<m>/ and include/pkgxfer/<m>/ names <m> itself or a
# module the table lets <m> include, and the rules under the table hold:
#   - only store/ includes SQLite;
#   - nlohmann/json only in config/, http/, content/ (its own formats), transport/ and dp/ (the
#     DP's HTTP API) and cli/ (status --json);
#   - _WIN32 only in platform/ and in the file-system implementations (src/fs/).
# The table is read from the document itself, so the document and the code cannot drift apart
# silently. Prints every violation with its file and line; exits 1 if there is any. Tests are not
# a module and are not checked.
#   scripts/check-modules.sh [ROOT]    ROOT: the source tree to check (default: this one)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

doc=docs/architecture.md
[[ -f $doc ]] || { echo "check-modules: $doc is missing" >&2; exit 1; }

declare -A allowed
# The table: from the "## Module boundaries" heading to the next heading, rows
# "| `module` | `dep`, `dep` ... | notes |".
while IFS='|' read -r _ module deps _; do
  module=$(grep -o '`[a-z_]*`' <<< "$module" | head -1 | tr -d '`' || true)
  [[ -n $module ]] || continue
  allowed[$module]=" $(grep -o '`[a-z_]*`' <<< "$deps" | tr -d '`' | tr '\n' ' ' || true)"
done < <(awk '/^## Module boundaries/ {on = 1; next} /^## / {on = 0} on && /^\| *`/' "$doc")

if ((${#allowed[@]} == 0)); then
  echo "check-modules: no module table under '## Module boundaries' in $doc" >&2
  exit 1
fi

fail=0
report() {
  echo "$1"
  fail=1
}

modules=()
for d in src/*/ include/pkgxfer/*/; do
  m=$(basename "$d")
  [[ " ${modules[*]} " == *" $m "* ]] || modules+=("$m")
done

for m in "${modules[@]}"; do
  if [[ ! -v allowed[$m] ]]; then
    report "$doc: module $m (src/$m or include/pkgxfer/$m) is not in the module table"
    continue
  fi
  dirs=()
  [[ -d src/$m ]] && dirs+=("src/$m")
  [[ -d include/pkgxfer/$m ]] && dirs+=("include/pkgxfer/$m")
  while IFS=: read -r file line text; do
    dep=${text#*\"pkgxfer/}
    dep=${dep%%/*}
    [[ $dep == "$m" || ${allowed[$m]} == *" $dep "* ]] && continue
    report "$file:$line: module $m includes $dep, which the table in $doc does not allow"
  done < <(grep -rnE '^\s*#\s*include\s+"pkgxfer/[a-z_]+/' "${dirs[@]}" \
             --include='*.h' --include='*.cpp' || true)
done

# SQLite: only store/.
while IFS=: read -r file line _; do
  [[ $file == src/store/* || $file == include/pkgxfer/store/* ]] && continue
  report "$file:$line: includes SQLite; only store/ may"
done < <(grep -rnE '^\s*#\s*include\s+[<"]sqlite3\.h[>"]' src include || true)

# nlohmann/json: config, http, content's formats, the DP's HTTP API (transport, dp), the CLI's
# status --json.
while IFS=: read -r file line _; do
  case $file in
    src/config/* | include/pkgxfer/config/* | src/http/* | include/pkgxfer/http/* | \
      src/content/* | src/transport/* | src/dp/* | src/cli/*) ;;
    *) report "$file:$line: includes nlohmann/json; only config/, http/, content/, transport/, dp/ and cli/ may" ;;
  esac
done < <(grep -rnE '^\s*#\s*include\s+[<"]nlohmann/' src include || true)

# _WIN32: platform/ and the file-system implementations.
while IFS=: read -r file line _; do
  case $file in
    src/platform/* | include/pkgxfer/platform/* | src/fs/*) ;;
    *) report "$file:$line: uses _WIN32; only platform/ and src/fs/ may (split by file instead)" ;;
  esac
done < <(grep -rnE '^\s*#\s*(if|ifdef|ifndef|elif).*\b_WIN32\b' src include || true)

if ((fail)); then
  echo "check-modules: module boundaries violated (see $doc, \"Module boundaries\")" >&2
  exit 1
fi
echo "check-modules: ${#modules[@]} modules within the boundaries of $doc"
