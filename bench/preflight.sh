#!/usr/bin/env bash
# bench/preflight.sh - the data preflight on a 1,000,000-row table: a pending migration adds a
# UNIQUE index on one column and SET NOT NULL on another. (1) The preflight's questions (from
# `migrated plan --json`: "preflight.duration_ms", and the plan's wall time) against the same two
# questions asked by hand with psql (GROUP BY ... HAVING count(*) > 1, count(*) WHERE ... IS
# NULL), in the same run; (2) the whole preflight of a deploy against the time of that deploy
# (`migrated deploy --json`: "preflight.duration_ms" / "duration_ms" plus the preflight), on
# clean data so the deploy runs. Medians of ROUNDS (default 5).
. "$(dirname "$0")/lib.sh"
bench_pg_up
ROWS=${ROWS:-1000000}
url=$(fresh_db bench_preflight)
db=bench_preflight
q() { "$PSQL" -X -q -At -d "$db" -c "$1"; }
m=$BENCH_TMP/preflight-mig; rm -rf "$m"
mkmig "$m" 20240101000000_base "CREATE TABLE bp (id bigint PRIMARY KEY, email text, nick text);"
DATABASE_URL=$url "$MIGRATED" deploy --migrations "$m" >/dev/null
# 1M rows; 50 duplicated emails, 100 NULL nicks.
q "INSERT INTO bp SELECT i, 'u' || (CASE WHEN i % 20000 = 0 THEN i - 1 ELSE i END) || '@example.test',
   CASE WHEN i % 10000 = 0 THEN NULL ELSE 'n' || i END FROM generate_series(1, $ROWS) i; ANALYZE bp"
mkmig "$m" 20240102000000_constraints 'CREATE UNIQUE INDEX "bp_email_key" ON "bp"("email");
ALTER TABLE "bp" ALTER COLUMN "nick" SET NOT NULL;'

pf_ms=(); plan_ms=(); psql_ms=()
by_hand() {
  "$PSQL" -X -q -At -d "$db" -c "SELECT email, count(*) FROM bp GROUP BY email HAVING count(*) > 1" \
    -c "SELECT count(*) FROM bp WHERE nick IS NULL" >/dev/null
}
for r in $(seq 1 "$ROUNDS"); do
  psql_ms+=("$(ms by_hand)")
  s=$(date +%s%N)
  out=$(DATABASE_URL=$url "$MIGRATED" plan --json --migrations "$m")
  e=$(date +%s%N)
  plan_ms+=($(((e - s) / 1000000)))
  pf_ms+=("$(echo "$out" | python3 -c 'import json,sys; p=json.load(sys.stdin)["preflight"]
assert p["status"] == "fails" and p["failed"] == 2, p
print(int(p["duration_ms"]))')")
done
P=$(median "${pf_ms[@]}"); W=$(median "${plan_ms[@]}"); H=$(median "${psql_ms[@]}")
echo "preflight of UNIQUE + NOT NULL on $ROWS rows: questions ${P} ms, whole plan ${W} ms vs the same questions by hand with psql ${H} ms = $(ratio "$P" "$H")x (plan: $(ratio "$W" "$H")x) (runs: ${pf_ms[*]} / ${psql_ms[*]})"

# (2) Clean data, then deploy: what the preflight costs in the deploy it protects.
q "UPDATE bp SET email = 'fixed' || id || '@example.test' WHERE id % 20000 = 0; UPDATE bp SET nick = 'n' WHERE nick IS NULL"
q "VACUUM ANALYZE bp"
# The same questions on the clean data (the path every deploy takes).
cpf_ms=(); cpsql_ms=()
for r in $(seq 1 "$ROUNDS"); do
  cpsql_ms+=("$(ms by_hand)")
  cpf_ms+=("$(DATABASE_URL=$url "$MIGRATED" plan --json --migrations "$m" | python3 -c 'import json,sys; p=json.load(sys.stdin)["preflight"]
assert p["status"] == "ok", p
print(int(p["duration_ms"]))')")
done
CP=$(median "${cpf_ms[@]}"); CH=$(median "${cpsql_ms[@]}")
echo "the same on clean data (no violation: one pass per question): questions ${CP} ms vs psql ${CH} ms = $(ratio "$CP" "$CH")x (runs: ${cpf_ms[*]} / ${cpsql_ms[*]})"
dep_ms=(); dpf_ms=()
for r in $(seq 1 "$ROUNDS"); do
  q 'DROP INDEX IF EXISTS bp_email_key; ALTER TABLE bp ALTER COLUMN nick DROP NOT NULL;
     DELETE FROM _prisma_migrations WHERE migration_name = $$20240102000000_constraints$$'
  out=$(DATABASE_URL=$url "$MIGRATED" deploy --json --migrations "$m")
  read -r d p < <(echo "$out" | python3 -c 'import json,sys; j=json.load(sys.stdin)
assert j["ok"] and j["preflight"]["status"] == "ok", j.get("error")
print(int(j["duration_ms"]), int(j["preflight"]["duration_ms"]))')
  dep_ms+=("$d"); dpf_ms+=("$p")
done
D=$(median "${dep_ms[@]}"); F=$(median "${dpf_ms[@]}")
echo "deploy of the same migration on clean data: preflight ${F} ms vs the deploy itself ${D} ms = $(ratio "$F" "$D")x of the deploy (runs: ${dpf_ms[*]} / ${dep_ms[*]})"
