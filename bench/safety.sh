#!/usr/bin/env bash
# bench/safety.sh - lint of the trigger.dev corpus (821 migrations; goal under 1 s) against
# reading the same files with cat, and a drift check of the langfuse corpus with a warm
# expected-schema cache (goal under 2 s) against `migrated status` on the same database (which
# connects and reads the history too); the cold check (a temporary shadow database built from
# 434 migrations) is shown for scale. Medians of ROUNDS (default 5).
. "$(dirname "$0")/lib.sh"
bench_pg_up
SHARED=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
trig=$SHARED/corpus/trigger.dev/migrations; lang=$SHARED/corpus/langfuse/migrations
cat_all() { cat "$trig"/*/migration.sql >/dev/null; }
lint_ms=(); cat_ms=()
for r in $(seq 1 "$ROUNDS"); do
  cat_ms+=("$(ms cat_all)")
  s=$(date +%s%N); "$MIGRATED" lint --json --migrations "$trig" >/dev/null || true; e=$(date +%s%N) # exit 1: findings
  lint_ms+=($(((e - s) / 1000000)))
done
L=$(median "${lint_ms[@]}"); C=$(median "${cat_ms[@]}")
echo "lint trigger.dev ($(find "$trig" -name migration.sql | wc -l) migrations): ${L} ms (goal < 1000) vs cat of the same files ${C} ms = $(ratio "$L" "$((C > 0 ? C : 1))")x (runs: ${lint_ms[*]})"
url=$(fresh_db bench_drift)
DATABASE_URL=$url "$MIGRATED" deploy --migrations "$lang" >/dev/null
st=$BENCH_TMP/drift-state; rm -rf "$st"; mkdir -p "$st"
s=$(date +%s%N); DATABASE_URL=$url "$MIGRATED" drift --migrations "$lang" --state-dir "$st" >/dev/null || { echo "drift found differences on a clean corpus"; exit 1; }; e=$(date +%s%N)
cold=$(((e - s) / 1000000))
warm=(); status=()
for r in $(seq 1 "$ROUNDS"); do
  warm+=("$(DATABASE_URL=$url ms "$MIGRATED" drift --migrations "$lang" --state-dir "$st")")
  status+=("$(DATABASE_URL=$url ms "$MIGRATED" status --migrations "$lang")")
done
W=$(median "${warm[@]}"); S=$(median "${status[@]}")
echo "drift langfuse, warm cache: ${W} ms (goal < 2000) vs migrated status ${S} ms = $(ratio "$W" "$S")x; cold (temporary shadow database, 434 migrations): ${cold} ms (runs: ${warm[*]})"
