#!/usr/bin/env bash
# Installs the Debian 12 packages that pkgxfer's build, tests and demo need, only those missing,
# so a second run takes well under a second. Needs root (apt-get) only when something is missing.
#   scripts/install-deps.sh            the packages listed below
#   scripts/install-deps.sh PKG...     those packages instead (scripts/build-windows.sh uses this)
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libboost-dev            # Asio, Beast (header-only)
  libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3
  nlohmann-json3-dev
  libgtest-dev libgmock-dev
  libssl-dev
  openssl                 # the CLI: the http tests make their own CA and certificates
  libcli11-dev
  libsmbclient-dev        # SMB transport (optional: -DPKGXFER_WITH_SMB=OFF builds without it)
  samba smbclient         # the SMB tests' private smbd (scripts/smbd.sh) and the SMB benchmark
  tzdata                  # IANA zones for site.timezone and schedules
  libhowardhinnant-date-dev  # date/tz: reads those zones (g++ 12 lacks std::chrono::tzdb)
  clang-14 libclang-rt-14-dev  # libFuzzer and its sanitizers: the fuzz targets (tests/fuzz)
)
if (($# > 0)); then
  packages=("$@")
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
