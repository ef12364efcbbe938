#!/usr/bin/env bash
# scripts/run.sh - runs migrated for real on a fresh Debian 12 machine: installs what is
# missing, builds, and deploys. Without DATABASE_URL (or DIRECT_URL) it starts a scratch
# PostgreSQL cluster in .scratch/pg and deploys the example migrations in examples/.
#   scripts/run.sh                                   scratch database + examples/prisma/migrations
#   DATABASE_URL=postgresql://... scripts/run.sh --migrations path/to/prisma/migrations
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
migrations=""
while [ $# -gt 0 ]; do
  case $1 in
    --migrations) migrations=${2:?--migrations needs a folder}; shift 2;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "scripts/run.sh: unknown argument $1 (try --help)" >&2; exit 2;;
  esac
done

"$top/scripts/deps.sh" --runtime
build=$("$top/scripts/build.sh")
bin=$build/migrated

if [ -z "${DATABASE_URL:-}" ] && [ -z "${DIRECT_URL:-}" ]; then
  DATABASE_URL=$("$top/scripts/pg-scratch.sh" start "$top/.scratch/pg")
  export DATABASE_URL
  echo "No DATABASE_URL given: started a scratch PostgreSQL at $DATABASE_URL"
  echo "(stop it with: scripts/pg-scratch.sh stop .scratch/pg)"
  : "${migrations:=$top/examples/prisma/migrations}"
fi
: "${migrations:=prisma/migrations}"

echo
echo "== migrated status (before) =="
"$bin" status --migrations "$migrations" || true
echo
echo "== migrated deploy =="
"$bin" deploy --migrations "$migrations"
echo
echo "== migrated status =="
"$bin" status --all --migrations "$migrations"
echo
echo "The binary is $bin; try:  $bin status --json --migrations $migrations"
