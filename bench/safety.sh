#!/usr/bin/env bash
# bench/safety.sh - lint of the trigger.dev corpus (821 migrations; goal under 1 s) against
# reading the same files with cat, and a drift check of the langfuse corpus with a warm
# expected-schema cache (goal under 2 s) against `migrated status` on the same database (which
# connects and reads the history too); the cold check (a temporary shadow database built from
# 434 migrations) is shown for scale; then the same through the daemon, with and without a
# shadow (?shadow=0). Medians of ROUNDS (default 5).
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

# The daemon's drift check without a shadow (GET /v1/drift?shadow=0: the live fingerprint
# against the one its deploy recorded) and with the warm cache, on the same corpus, against
# the same `migrated status` baseline.
tokens=$BENCH_TMP/safety-tokens; printf 'bench admin bench-admin-0123456789abcdef\n' >"$tokens"; chmod 600 "$tokens"
AUTH="Authorization: Bearer bench-admin-0123456789abcdef"
dst=$BENCH_TMP/state-safety; rm -rf "$dst"; mkdir -p "$dst"; durl=$(fresh_db bench_drift_daemon)
DPORT=$(free_port)
DATABASE_URL=$durl "$MIGRATED" serve --listen "127.0.0.1:$DPORT" --migrations "$lang" --state-dir "$dst" \
  --token-file "$tokens" >"$dst.log" 2>&1 &
DPID=$!; trap 'kill "$DPID" 2>/dev/null || true' EXIT
API=http://127.0.0.1:$DPORT
for _ in $(seq 1 100); do curl -fs "$API/healthz" >/dev/null && break; sleep 0.1; done
job=$(curl -fs -X POST -H "$AUTH" -H 'Content-Type: application/json' --data '{"backup": false}' "$API/v1/deploy" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 600); do
  state=$(curl -fs -H "$AUTH" "$API/v1/jobs/$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  [ "$state" = succeeded ] && break
  case $state in failed | cancelled | interrupted) echo "deploy $state: $(tail -n 3 "$dst.log")"; exit 1 ;; esac
  sleep 0.1
done
curl -fs -H "$AUTH" "$API/v1/drift?shadow=0" | grep -Eq '"drift": *false' || { echo "fingerprint check found a change on a fresh deploy"; exit 1; }
curl -fs -H "$AUTH" "$API/v1/drift" >/dev/null # builds the expected-schema cache
fpm=(); dwm=(); st2=()
for r in $(seq 1 "$ROUNDS"); do
  fpm+=("$(ms curl -fs -H "$AUTH" "$API/v1/drift?shadow=0")")
  dwm+=("$(ms curl -fs -H "$AUTH" "$API/v1/drift")")
  st2+=("$(DATABASE_URL=$durl ms "$MIGRATED" status --migrations "$lang")")
done
F=$(median "${fpm[@]}"); D=$(median "${dwm[@]}"); S2=$(median "${st2[@]}")
echo "daemon drift langfuse: fingerprint only (?shadow=0) ${F} ms, warm cache ${D} ms vs migrated status ${S2} ms = $(ratio "$F" "$S2")x and $(ratio "$D" "$S2")x (runs: ${fpm[*]} / ${dwm[*]})"
