#!/usr/bin/env bash
# bench/deploy500.sh - deploy of 500 generated migrations (a table, an index and a 100-row
# insert each) on an empty database, against the floor measured in the same run: ONE psql
# session running each migration in its own transaction plus a bookkeeping insert. Goal:
# migrated within 1.15x of the floor (dbmate and sql-migrate measure 1.2-1.35x).
. "$(dirname "$0")/lib.sh"
bench_pg_up
gen=$BENCH_TMP/gen500; floor_sql=$BENCH_TMP/floor500.sql
if [ ! -f "$floor_sql" ]; then
  rm -rf "$gen"; : >"$floor_sql.tmp"
  echo "CREATE TABLE book (name text primary key, at timestamptz default now());" >>"$floor_sql.tmp"
  for i in $(seq -w 1 500); do
    sql="CREATE TABLE t_$i (id bigserial primary key, v text not null default '', created_at timestamptz not null default now()); CREATE INDEX t_${i}_v_idx ON t_$i(v); INSERT INTO t_$i(v) SELECT md5(i::text) FROM generate_series(1,100) i;"
    mkmig "$gen" "20240101$(printf %06d $((10#$i)))_m$i" "$sql"
    printf 'BEGIN;\n%s\nINSERT INTO book(name) VALUES (%s);\nCOMMIT;\n' "$sql" "'m$i'" >>"$floor_sql.tmp"
  done
  mv "$floor_sql.tmp" "$floor_sql"
fi
fl=(); us=()
for r in $(seq 1 "$ROUNDS"); do
  fresh_db bench_floor >/dev/null
  fl+=("$(ms "$PSQL" -X -q -v ON_ERROR_STOP=1 -d bench_floor -f "$floor_sql")")
  url=$(fresh_db bench_us)
  us+=("$(DATABASE_URL=$url ms "$MIGRATED" deploy --migrations "$gen")")
done
F=$(median "${fl[@]}"); U=$(median "${us[@]}")
echo "deploy500: migrated ${U} ms vs floor (one psql session) ${F} ms = $(ratio "$U" "$F")x  (goal <= 1.15; medians of $ROUNDS; floor runs: ${fl[*]}; migrated runs: ${us[*]})"
