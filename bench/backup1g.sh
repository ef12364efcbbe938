#!/usr/bin/env bash
# bench/backup1g.sh - the backup step on a 1 GB database (pgbench -i -s 70) against the same
# pg_dump command run directly, in the same run, rounds interleaved: migrated's step adds the
# free-space check, the migration head, the sha256 of the archive, the rename and the sidecar.
# Goal: within 1.10x. ROUNDS=3 by default (each dump takes tens of seconds); SCALE=70.
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; SCALE=${SCALE:-70}
bench_pg_up
PGBENCH=$PGBIN/pgbench; PGDUMP=$PGBIN/pg_dump
db=bench_backup
if [ "$("$PSQL" -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$db'")" != 1 ] ||
   [ "$("$PSQL" -X -At -d "$db" -c "SELECT count(*) FROM pgbench_branches" 2>/dev/null)" != "$SCALE" ]; then
  url=$(fresh_db "$db")
  "$PGBENCH" -q -i -s "$SCALE" -d "$db" >/dev/null 2>&1
  # A history table with one applied migration, as a managed database has.
  m=$BENCH_TMP/backup-mig; rm -rf "$m"; mkmig "$m" 20240101000000_noop "SELECT 1;"
  DATABASE_URL="$url?schema=public" "$MIGRATED" resolve --applied 20240101000000_noop --migrations "$m" >/dev/null
fi
url="postgresql://postgres@127.0.0.1:$BENCH_PORT/$db"
size=$("$PSQL" -X -At -d "$db" -c "SELECT pg_size_pretty(pg_database_size('$db'))")
out=$BENCH_TMP/backups; mkdir -p "$out"
direct=(); ours=()
for r in $(seq 1 "$ROUNDS"); do
  rm -f "$out"/direct.dump
  direct+=("$(ms "$PGDUMP" --format=custom --no-password --file="$out/direct.dump" --dbname="$url")")
  rm -rf "$out/state"
  ours+=("$(DATABASE_URL=$url MIGRATED_BACKUP_KEEP=1 ms "$MIGRATED" backup --state-dir "$out/state")")
done
D=$(median "${direct[@]}"); U=$(median "${ours[@]}")
arch=$(du -h "$out"/state/backups/*.dump | cut -f1)
rm -rf "$out"
echo "backup1g: migrated backup ${U} ms vs pg_dump directly ${D} ms = $(ratio "$U" "$D")x on a ${size} database (archive ${arch}; goal <= 1.10; medians of $ROUNDS; direct: ${direct[*]}; migrated: ${ours[*]})"
