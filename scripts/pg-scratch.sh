#!/usr/bin/env bash
# scripts/pg-scratch.sh - a scratch PostgreSQL cluster for trying migrated (not for production):
# initdb into DIR, its own socket directory and a free loopback port, run as the postgres OS
# user when we are root (initdb refuses root).
#   scripts/pg-scratch.sh start DIR   prints a DATABASE_URL for the database "migrated_example"
#   scripts/pg-scratch.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin
as_server() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
case $cmd in
stop)
  [ -f "$dir/data/postmaster.pid" ] && as_server "$bindir/pg_ctl -D '$dir/data' -m fast -w stop" >/dev/null
  exit 0;;
start)
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_server "$bindir/initdb -D '$dir/data' -A trust -U postgres -E UTF8 --locale=C --no-sync" >"$dir/initdb.log"
  fi
  if [ -f "$dir/port" ] && as_server "$bindir/pg_ctl -D '$dir/data' status" >/dev/null 2>&1; then
    port=$(cat "$dir/port")
  else
    port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    as_server "$bindir/pg_ctl -D '$dir/data' -w -l '$dir/server.log' -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1\" start" >/dev/null
    echo "$port" >"$dir/port"
  fi
  "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'migrated_example'" | grep -q 1 ||
    "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE migrated_example"
  echo "postgresql://postgres@127.0.0.1:$port/migrated_example";;
*) echo "usage: $0 start|stop DIR" >&2; exit 2;;
esac
