#!/usr/bin/env bash
# bench/rss_trigger.sh - peak resident memory of `migrated deploy` of the trigger.dev history
# (820 migrations) on an empty database (goal under 16 MiB), beside the peak RSS of the real psql
# binary applying the same files in one session, measured in the same run.
. "$(dirname "$0")/lib.sh"
bench_pg_up
shared=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
dir=$shared/corpus/trigger.dev/migrations
peak() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1; }
us=(); ps=()
all=$BENCH_TMP/trigger-all.sql
( cd "$dir" && for d in $(ls -d */ | LC_ALL=C sort); do cat "$d/migration.sql"; printf '\n;\n'; done ) >"$all"
for r in $(seq 1 "${ROUNDS:-3}"); do
  url=$(fresh_db bench_rss)
  us+=("$(DATABASE_URL=$url peak "$MIGRATED" deploy --migrations "$dir")")
  fresh_db bench_rss_psql >/dev/null
  ps+=("$(peak "$PSQL" -X -q -d bench_rss_psql -f "$all")")
done
U=$(median "${us[@]}"); P=$(median "${ps[@]}")
echo "rss_trigger: migrated deploy peak ${U} KiB ($(echo "scale=1; $U/1024" | bc) MiB, goal < 16 MiB); psql -f of the same SQL ${P} KiB = $(ratio "$U" "$P")x"
