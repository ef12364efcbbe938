#!/usr/bin/env bash
# bench/wan.sh - deploys over a slow link: through bench/lagproxy.py (loopback only), at round
# trips of 0, 2, 10 and 40 ms (RTTS="0 2 10 40"), a corpus (CORPUS=langfuse; trigger.dev
# too) deployed into an empty database by `migrated deploy` (pipelined, the default), by
# `migrated deploy` one migration at a time (pipeline_depth = 1, the previous behaviour) and by
# one psql session \i-ing every migration.sql in Prisma's order (the floor). Also the round
# trips of `status` and of a no-op deploy (connection set-up included). With PRISMA=1, the
# Prisma 6.19 CLI too (scripts/prisma-cli.sh installs it). Goals at 10 ms: deploy <= 0.35x the
# psql floor and >= 5x faster than Prisma; status and a no-op deploy <= 4 round trips.
. "$(dirname "$0")/lib.sh"
bench_pg_up
shared=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
[ -d "$shared/corpus" ] || { echo "wan: skipped (no $shared/corpus)"; exit 0; }
corpus=${CORPUS:-langfuse}
c=$shared/corpus/$corpus/migrations
w=$BENCH_TMP/wan; mkdir -p "$w"
find "$c" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort | while IFS= read -r d; do
  [ -f "$c/$d/migration.sql" ] && printf "\\\\i '%s'\n" "$c/$d/migration.sql"
done >"$w/floor.psql"
n=$(wc -l <"$w/floor.psql")
if [ -n "${PRISMA:-}" ]; then
  "$BENCH_TOP/scripts/prisma-cli.sh" 6 >"$w/prisma-cli.out" || { echo "wan: cannot install the Prisma CLI"; exit 1; }
  read -r _ prisma <"$w/prisma-cli.out"
  proj=$w/prisma-$corpus; rm -rf "$proj"; mkdir -p "$proj/prisma"; cp -r "$c" "$proj/prisma/"
  printf 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n' >"$proj/prisma/schema.prisma"
fi
rts() { sleep 0.3; awk '{s+=$1} END {print s+0}' "$1"; : >"$1"; }
echo "wan: $corpus ($n migrations), empty database, through a proxy adding the round trip shown"
for rtt in ${RTTS:-0 2 10 40}; do
  port=$(free_port); st=$w/rt-$rtt.counts; : >"$st"
  python3 "$BENCH_TOP/bench/lagproxy.py" "$port" "$BENCH_PORT" "$(echo "scale=1; $rtt / 2" | bc)" "$st" 2>"$w/proxy.log" &
  proxy=$!
  for _ in $(seq 1 50); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
  url() { echo "postgresql://postgres@127.0.0.1:$port/$1"; }
  fresh_db wan_floor >/dev/null; : >"$st"
  floor=$(ms "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$(url wan_floor)" -f "$w/floor.psql"); frt=$(rts "$st")
  fresh_db wan_one >/dev/null
  one=$(DATABASE_URL=$(url wan_one) MIGRATED_PIPELINE_DEPTH=1 ms "$MIGRATED" deploy --migrations "$c"); ort=$(rts "$st")
  fresh_db wan_us >/dev/null
  us=$(DATABASE_URL=$(url wan_us) ms "$MIGRATED" deploy --migrations "$c"); urt=$(rts "$st")
  DATABASE_URL=$(url wan_us) "$MIGRATED" status --migrations "$c" >/dev/null; srt=$(rts "$st")
  DATABASE_URL=$(url wan_us) "$MIGRATED" deploy --migrations "$c" >/dev/null; nrt=$(rts "$st")
  line="  rtt ${rtt} ms: migrated ${us} ms (${urt} round trips) vs psql floor ${floor} ms (${frt}) = $(ratio "$us" "$floor")x; one at a time ${one} ms (${ort}) = $(ratio "$one" "$floor")x; status ${srt} round trips, no-op deploy ${nrt}"
  if [ -n "${PRISMA:-}" ]; then
    fresh_db wan_prisma >/dev/null
    pr=$(DATABASE_URL=$(url wan_prisma) ms "$prisma" "$proj" migrate deploy); : >"$st"
    line="$line; Prisma ${pr} ms = $(ratio "$pr" "$us")x slower than migrated"
  fi
  echo "$line"
  kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null
done
