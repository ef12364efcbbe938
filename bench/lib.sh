# bench/lib.sh - shared by the benchmark scripts: a scratch PostgreSQL (fsync off, own port and
# socket dir, run as the postgres OS user when root), fresh databases, timing and medians.
# Every script compares against a baseline measured in the same run: read the ratios.
set -euo pipefail
BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
PSQL=$PGBIN/psql   # the real binary: Debian's /usr/bin/psql wrapper adds ~60 ms per start
MIGRATED=${MIGRATED:-$BENCH_TOP/build/migrated}
ROUNDS=${ROUNDS:-5}
BENCH_TMP=${BENCH_TMP:-/tmp/migrated-bench}

# free_port: a loopback TCP port nobody listens on now.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

as_server() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

bench_pg_up() {
  [ -x "$MIGRATED" ] || "$BENCH_TOP/scripts/build.sh" >/dev/null
  mkdir -p "$BENCH_TMP"; [ "$(id -u)" = 0 ] && chown postgres "$BENCH_TMP"
  if [ -f "$BENCH_TMP/port" ] && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$BENCH_TMP/port")"; then
    BENCH_PORT=$(cat "$BENCH_TMP/port")
  else
    rm -rf "$BENCH_TMP/data"
    as_server "$PGBIN/initdb -D $BENCH_TMP/data -A trust -U postgres -E UTF8 --locale=C --no-sync" >/dev/null
    BENCH_PORT=$(free_port)
    as_server "$PGBIN/pg_ctl -D $BENCH_TMP/data -w -l $BENCH_TMP/server.log -o \"-p $BENCH_PORT -k $BENCH_TMP -c fsync=off -c listen_addresses=127.0.0.1 -c max_connections=200\" start" >/dev/null
    echo "$BENCH_PORT" >"$BENCH_TMP/port"
  fi
  export PGHOST=127.0.0.1 PGPORT=$BENCH_PORT PGUSER=postgres
}
bench_pg_down() { as_server "$PGBIN/pg_ctl -D $BENCH_TMP/data -m fast -w stop" >/dev/null 2>&1 || true; rm -f "$BENCH_TMP/port"; }

# fresh_db NAME: drops and creates it; prints its URL.
fresh_db() {
  PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -d postgres \
    -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\"" >/dev/null
  echo "postgresql://postgres@127.0.0.1:$BENCH_PORT/$1"
}

# ms CMD...: wall milliseconds of one run (fails if the command fails).
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || return 1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { echo "scale=3; $1 / $2" | bc; }

# mkmig DIR NAME SQL
mkmig() {
  mkdir -p "$1/$2"
  [ -f "$1/migration_lock.toml" ] || printf 'provider = "postgresql"\n' >"$1/migration_lock.toml"
  printf '%s\n' "$3" >"$1/$2/migration.sql"
}
