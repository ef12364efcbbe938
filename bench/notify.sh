#!/usr/bin/env bash
# bench/notify.sh - what hanging webhook receivers cost the daemon: GET /v1/health under
# `wrk -t2 -c64` (requests/s and p99) and the wall time of a deploy job (POST to its end), first
# with no endpoint, then with 5 endpoints whose receivers accept the request and never answer
# (each attempt runs to notify_timeout, 10 s, then retries) and deliveries pending for all of
# them. Notifications run on their own thread, so the ratios should be ~1. DUR=5 by default.
. "$(dirname "$0")/lib.sh"
bench_pg_up
command -v wrk >/dev/null || { echo "notify: wrk is missing (scripts/deps.sh installs it)"; exit 1; }
DUR=${DUR:-5}
RCV=$BENCH_TOP/tests/integration/notify_receiver.py
tokens=$BENCH_TMP/tokens; printf 'bench admin bench-admin-0123456789abcdef\n' >"$tokens"; chmod 600 "$tokens"
ADMIN="Authorization: Bearer bench-admin-0123456789abcdef"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# daemon NAME CONF: migrated serve on a fresh database; sets DPORT.
daemon() {
  local st=$BENCH_TMP/state-$1 mig=$BENCH_TMP/mig-$1; rm -rf "$st" "$mig"; mkdir -p "$st"; DPORT=$(free_port)
  mkmig "$mig" 20240101000000_a "CREATE TABLE a (id int);"
  DATABASE_URL=$(fresh_db "bench_$1") "$MIGRATED" serve --listen "127.0.0.1:$DPORT" --migrations "$mig" \
    --state-dir "$st" --token-file "$tokens" --config "$2" >"$st.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$DPORT/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "daemon did not start: $(tail -n 3 "$st.log")"; exit 1
}
# deploy_ms: POST /v1/deploy, poll the job until it ends; wall milliseconds.
deploy_ms() {
  local s e id; s=$(date +%s%N)
  id=$(curl -fs -X POST -H "$ADMIN" "http://127.0.0.1:$DPORT/v1/deploy" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
  until [ "$(curl -fs -H "$ADMIN" "http://127.0.0.1:$DPORT/v1/jobs/$id" | python3 -c 'import sys,json;print(json.load(sys.stdin)["state"])')" = succeeded ]; do
    sleep 0.01
  done
  e=$(date +%s%N); echo $(((e - s) / 1000000))
}
wrk_run() {
  local out; out=$(wrk -t2 -c64 -d"${DUR}s" --latency "$1" 2>&1)
  echo "$(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}')"
}

printf 'backup_before_deploy = false\n' >"$BENCH_TMP/none.conf"
daemon none "$BENCH_TMP/none.conf"
b_deploy=$(deploy_ms)
read -r b_rps b_p99 <<<"$(wrk_run "http://127.0.0.1:$DPORT/v1/health")"

conf=$BENCH_TMP/hang.conf; printf 'backup_before_deploy = false\nnotify_timeout = 10s\n' >"$conf"
for i in 1 2 3 4 5; do
  p=$(free_port); rm -f "$BENCH_TMP/hang$i.jsonl"
  python3 "$RCV" serve "$p" "$BENCH_TMP/hang$i.jsonl" --sleep 3600 & pids+=("$!")
  echo "notify_url = hang$i http://127.0.0.1:$p/" >>"$conf"
done
sleep 0.5
daemon hang "$conf"
h_deploy=$(deploy_ms)
read -r h_rps h_p99 <<<"$(wrk_run "http://127.0.0.1:$DPORT/v1/health")"
pending=$(curl -fs "http://127.0.0.1:$DPORT/metrics" | awk '$1=="migrated_notify_pending"{print $2}')
echo "notify: health with 5 hanging receivers ${h_rps} req/s, p99 ${h_p99} ms vs none ${b_rps} req/s, p99 ${b_p99} ms = $(ratio "$h_rps" "$b_rps")x req/s, $(ratio "$h_p99" "$b_p99")x p99; deploy ${h_deploy} ms vs ${b_deploy} ms; ${pending} deliveries pending"
