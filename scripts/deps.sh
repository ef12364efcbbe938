#!/usr/bin/env bash
# scripts/deps.sh - installs the Debian 12 packages migrated needs to build, run and test, and
# only those that are missing. Needs root (or sudo) when something is missing.
#   scripts/deps.sh            build + run + test dependencies
#   scripts/deps.sh --runtime  only what building and running needs (no test tools)
set -euo pipefail

build_pkgs=(build-essential autoconf automake autoconf-archive pkg-config
            libpq-dev libmicrohttpd-dev libjansson-dev libsystemd-dev libicu-dev nettle-dev uuid-dev check libcurl4-openssl-dev
            scdoc           # the man pages (man/*.scd)
            python3         # scripts/embed-ui.py: the web console embedded in the binary
            debhelper)      # scripts/deb.sh: the Debian package (pulls dpkg-dev)
run_pkgs=(postgresql-15 postgresql-client-15)
test_pkgs=(valgrind nodejs npm curl bc wrk hyperfine python3 python3-yaml clang-format git clang libclang-rt-14-dev
           prometheus systemd  # promtool checks /metrics; systemd-analyze, -socket-activate, -sysusers for the unit tests
           pgbouncer openssl   # the tls and pgbouncer suites: a real transaction pooler, a throwaway CA
           lintian man-db      # the package is lintian-clean; the man pages render without warnings
           chromium)           # the web console's browser tests (scripts/browser-test.sh; puppeteer-core from npm drives it)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "${1:-}" = --runtime ] || want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node from elsewhere (nvm, a newer distribution) is fine for the Prisma interop tests.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vxE 'nodejs|npm' || true))
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
