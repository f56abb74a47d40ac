#!/usr/bin/env bash
# Cross-builds the Windows programs with Debian's mingw-w64 into build-windows/ (or
# $PKGXFER_WINDOWS_BUILD_DIR): bin/pkgxferd.exe and bin/pkgxfer.exe, statically linked, so they run
# on Windows (or under Wine) with nothing else installed, and tests/pkgxfer_windows_test.exe, the
# unit tests that must pass on Windows itself (tests/windows). Installs what it needs first.
#
# What goes in, and from where (all from Debian's archive):
#   - the compiler: g++-mingw-w64-x86-64-posix (the posix thread model: std::thread, std::mutex);
#   - header-only libraries from Debian's -dev packages, through deps/include, a folder of links to
#     exactly those headers (never -I/usr/include);
#   - SQLite: Debian ships no amalgamation, so the script takes Debian's sqlite3 source package,
#     checks its upstream tarball against the version and SHA-256 pinned below, applies Debian's
#     patches (its security fixes) and makes sqlite3.c with SQLite's own `make sqlite3.c`. The
#     result is kept in deps/sqlite with a VERSION file naming the package and the checksums, which
#     the build prints; a later run reuses it while the pin is unchanged.
#   - wine, which the Windows tests run under (tests/scripts/windows_service_test.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${PKGXFER_WINDOWS_BUILD_DIR:-$root/build-windows}
deps=$out/deps

# The pin: Debian 12's sqlite3 source package, upstream 3.40.1.
sqlite_upstream=3.40.1
sqlite_orig_sha256=aaa776260ab4dc976db34aa7891819484c8676b5b2783123ebc6301e2ca5d655

packages=(
  cmake make xz-utils
  g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev binutils-mingw-w64-x86-64
  libboost-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  googletest             # /usr/src/googletest, compiled for Windows for tests/windows
  gcc tcl dpkg-dev       # SQLite's `make sqlite3.c` (its generators, tclsh) and dpkg-source
  wine wine64
)
"$root/scripts/install-deps.sh" "${packages[@]}"

# Header-only libraries: links to exactly their folders.
mkdir -p "$deps/include"
for d in boost nlohmann CLI spdlog fmt; do
  [[ -d /usr/include/$d ]] || { echo "build-windows: /usr/include/$d is missing" >&2; exit 1; }
  ln -sfn "/usr/include/$d" "$deps/include/$d"
done

# SQLite's amalgamation from Debian's source package.
sqlite=$deps/sqlite
if ! grep -qs "orig.tar.xz sha256 $sqlite_orig_sha256" "$sqlite/VERSION"; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # A private apt configuration with a deb-src line for Debian's archive, so the machine's own
  # sources are left as they are. The archive's signed Release file vouches for the .dsc, whose
  # checksums apt checks on the tarballs; the pin above checks the upstream tarball once more.
  mkdir -p "$work/lists/partial"
  cat > "$work/debian.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_opts=(-q -o "Dir::Etc::SourceList=$work/debian.sources" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "sqlite3" >/dev/null)
  orig=$work/sqlite3_${sqlite_upstream}.orig.tar.xz
  if [[ ! -f $orig ]]; then
    echo "build-windows: Debian's sqlite3 source package is no longer upstream $sqlite_upstream;" \
         "update the pin in $0" >&2
    ls "$work" >&2
    exit 1
  fi
  got=$(sha256sum "$orig" | cut -d' ' -f1)
  if [[ $got != "$sqlite_orig_sha256" ]]; then
    echo "build-windows: $orig has SHA-256 $got, expected $sqlite_orig_sha256" >&2
    exit 1
  fi
  dsc=$(ls "$work"/sqlite3_*.dsc)
  (cd "$work" && dpkg-source -x --no-check "$dsc" src >/dev/null)
  mkdir -p "$work/src/bld"
  (cd "$work/src/bld" && ../configure --disable-tcl >/dev/null && make sqlite3.c >/dev/null)
  mkdir -p "$sqlite"
  cp "$work/src/bld/sqlite3.c" "$work/src/bld/sqlite3.h" "$sqlite/"
  {
    echo "Debian source package $(basename "$dsc" .dsc)"
    echo "sqlite3_${sqlite_upstream}.orig.tar.xz sha256 $sqlite_orig_sha256"
    echo "sqlite3.c sha256 $(sha256sum "$sqlite/sqlite3.c" | cut -d' ' -f1)"
  } > "$sqlite/VERSION.tmp"
  mv "$sqlite/VERSION.tmp" "$sqlite/VERSION"
  rm -rf "$work"
  trap - EXIT
fi

werror=OFF
[[ -n "${CI:-}" ]] && werror=ON
cmake -S "$root" -B "$out" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake" \
  -DPKGXFER_WINDOWS_DEPS="$deps" -DCMAKE_BUILD_TYPE=Release -DPKGXFER_WERROR=$werror >/dev/null
cmake --build "$out" -j "$(nproc)"
