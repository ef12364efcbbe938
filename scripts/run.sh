#!/usr/bin/env bash
# scripts/run.sh - runs migrated for real on a fresh Debian 12 machine: installs what is
# missing, builds, and starts the daemon (migrated serve) in the foreground, printing curl lines
# to try. Without DATABASE_URL (or DIRECT_URL) it starts a scratch PostgreSQL cluster in
# .scratch/pg and serves the example migrations in examples/; state and an admin token live in
# .scratch/ too. Ctrl-C stops the daemon (the scratch cluster keeps running).
#   scripts/run.sh                                   scratch database + examples/prisma/migrations
#   DATABASE_URL=postgresql://... scripts/run.sh --migrations path/to/prisma/migrations
#   scripts/run.sh --cli                             one-shot CLI status + deploy instead of the daemon
# Environment: MIGRATED_LISTEN (default: a free port on 127.0.0.1), MIGRATED_STATE_DIR (default
# .scratch/state), MIGRATED_TOKEN_FILE (default: .scratch/tokens, generated with one admin token).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
migrations=""
mode=serve
while [ $# -gt 0 ]; do
  case $1 in
    --migrations) migrations=${2:?--migrations needs a folder}; shift 2;;
    --cli) mode=cli; shift;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
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

if [ $mode = cli ]; then
  echo; echo "== migrated status (before) =="
  "$bin" status --migrations "$migrations" || true
  echo; echo "== migrated deploy =="
  "$bin" deploy --migrations "$migrations"
  echo; echo "== migrated status =="
  "$bin" status --all --migrations "$migrations"
  exit 0
fi

# A free loopback port: the first from 8080 up that nobody answers on.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${MIGRATED_LISTEN:-}" ]; then
  p=8080
  while ! port_free $p; do p=$((p + 1)); done
  MIGRATED_LISTEN=127.0.0.1:$p
fi
export MIGRATED_LISTEN
: "${MIGRATED_STATE_DIR:=$top/.scratch/state}"
export MIGRATED_STATE_DIR
mkdir -p "$MIGRATED_STATE_DIR"

# A token file with one admin token, made once and kept (mode 0600: it holds secrets).
if [ -z "${MIGRATED_TOKEN_FILE:-}" ]; then
  MIGRATED_TOKEN_FILE=$top/.scratch/tokens
  if [ ! -s "$MIGRATED_TOKEN_FILE" ]; then
    mkdir -p "$(dirname "$MIGRATED_TOKEN_FILE")"
    (umask 077; printf '# NAME ROLE SECRET\nquickstart admin %s\n' \
      "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$MIGRATED_TOKEN_FILE")
  fi
fi
export MIGRATED_TOKEN_FILE
token=$(awk '!/^#/ && $2 == "admin" {print $3; exit}' "$MIGRATED_TOKEN_FILE" 2>/dev/null || true)
[ -n "$token" ] || token='<an admin token from '"$MIGRATED_TOKEN_FILE"'>'
api=http://$MIGRATED_LISTEN

cat <<EOF

migrated serve: API on $api, migrations $migrations, state $MIGRATED_STATE_DIR
Tokens are in $MIGRATED_TOKEN_FILE. Try, from another terminal:

  export TOKEN=$token
  curl $api/v1/health
  curl -H "Authorization: Bearer \$TOKEN" -H 'Accept: text/plain' $api/v1/status
  curl -H "Authorization: Bearer \$TOKEN" '$api/v1/plan?pretty'
  curl -i -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       --data '{}' $api/v1/deploy
  curl -N -H "Authorization: Bearer \$TOKEN" $api/v1/jobs/JOB_ID/events    # JOB_ID from the Location header
  curl -H "Authorization: Bearer \$TOKEN" -H 'Accept: text/plain' $api/v1/jobs

Ctrl-C stops the daemon.

EOF
exec "$bin" serve --migrations "$migrations"
