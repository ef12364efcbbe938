#!/usr/bin/env bash
# bench/http.sh - the daemon's HTTP figures, each against a baseline from the same run:
#  - GET /v1/health under `wrk -t2 -c64`: requests/s against bench/mhd_bare.c (the same bytes
#    from a bare libmicrohttpd server), p99 latency, and CPU time per request (user + system
#    ticks of each server over its run: what scheduling noise moves least); then the same while a deploy of 500
#    migrations runs in the daemon;
#  - GET /metrics under the same load: requests/s against the bare server;
#  - what health polling costs the database: transactions on the daemon's database during a
#    run of /v1/health against the same time idle (the probe's own queries only, both times);
#  - GET /v1/status on 1,000 applied migrations: requests/s;
#  - resident memory idle, under load, and its growth over 100k+ requests.
# DUR=10 (seconds per wrk run) by default.
. "$(dirname "$0")/lib.sh"
bench_pg_up
command -v wrk >/dev/null || { echo "http: wrk is missing (scripts/deps.sh installs it)"; exit 1; }
DUR=${DUR:-10}
bare=$BENCH_TMP/mhd_bare
cc -O2 -o "$bare" "$BENCH_TOP/bench/mhd_bare.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread || exit 1
tokens=$BENCH_TMP/tokens; printf 'bench admin bench-admin-0123456789abcdef\nmon read bench-read-0123456789abcdef\n' >"$tokens"; chmod 600 "$tokens"
READ="Authorization: Bearer bench-read-0123456789abcdef"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# daemon MIGRATIONS DB: starts migrated serve; sets DPORT and DPID.
daemon() {
  local st=$BENCH_TMP/state-$2; rm -rf "$st"; mkdir -p "$st"; DPORT=$(free_port)
  DATABASE_URL=$(fresh_db "$2") "$MIGRATED" serve --listen "127.0.0.1:$DPORT" --migrations "$1" --state-dir "$st" \
    --token-file "$tokens" >"$st.log" 2>&1 &
  DPID=$!; pids+=("$DPID")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$DPORT/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "daemon did not start: $(tail -n 3 "$st.log")"; exit 1
}
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
# wrk_run URL [HEADER]: prints "REQS_PER_S P99_MS REQUESTS" whatever order wrk prints them in.
wrk_run() {
  local out; out=$(wrk -t2 -c64 -d"${DUR}s" --latency ${2:+-H "$2"} "$1" 2>&1)
  local rps p99 n
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}')
  n=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$rps $p99 $n"
}

small=$BENCH_TMP/one; rm -rf "$small"; mkmig "$small" 20240101000000_a "CREATE TABLE a (id int);"
daemon "$small" bench_http
idle=$(rss "$DPID")
BPORT=$(free_port); "$bare" "$BPORT" & BPID=$!; pids+=("$BPID"); sleep 0.3
# CPU ticks (user + system) a process used: per request, the figure scheduling noise moves least.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bt0=$(ticks "$BPID"); read -r b_rps b_p99 b_n <<<"$(wrk_run "http://127.0.0.1:$BPORT/v1/health")"; bt1=$(ticks "$BPID")
dt0=$(ticks "$DPID"); read -r d_rps d_p99 d_n <<<"$(wrk_run "http://127.0.0.1:$DPORT/v1/health")"; dt1=$(ticks "$DPID")
loaded=$(rss "$DPID")
hz=$(getconf CLK_TCK)
b_us=$(echo "scale=2; ($bt1 - $bt0) * 1000000 / $hz / $b_n" | bc); d_us=$(echo "scale=2; ($dt1 - $dt0) * 1000000 / $hz / $d_n" | bc)
echo "health: migrated ${d_rps} req/s vs bare libmicrohttpd ${b_rps} req/s = $(ratio "$d_rps" "$b_rps")x (goal >= 0.8); p99 ${d_p99} ms (bare ${b_p99} ms; goal < 5)"
echo "health CPU per request: migrated ${d_us} us vs bare ${b_us} us = $(ratio "$d_us" "$b_us")x"
read -r m_rps m_p99 _ <<<"$(wrk_run "http://127.0.0.1:$DPORT/metrics" "$READ")"
echo "metrics: migrated ${m_rps} req/s vs bare ${b_rps} req/s = $(ratio "$m_rps" "$b_rps")x; p99 ${m_p99} ms"
# Queries health polling causes: transactions on the daemon's database, idle vs under wrk.
xacts() { "$PSQL" -X -At -h 127.0.0.1 -p "$BENCH_PORT" -U postgres -d postgres \
  -c "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench_http'" | tail -n 1; }
x0=$(xacts); sleep "$DUR"; x1=$(xacts)
read -r _ _ h_n <<<"$(wrk_run "http://127.0.0.1:$DPORT/v1/health")"
x2=$(xacts)
echo "database transactions on the daemon's database: $((x1 - x0)) in ${DUR} s idle, $((x2 - x1)) in ${DUR} s of ${h_n} health requests (the probe's, every probe_interval; none per request)"
# Growth: a mixed load twice; the second must not need more memory than the first.
for round in 1 2; do
  for path in /v1/health /v1/status /v1/jobs; do wrk_run "http://127.0.0.1:$DPORT$path" "$READ" >/dev/null; done
  eval "rss_$round=$(rss "$DPID")"
done
echo "memory: idle ${idle} KiB (goal < 10240), after ${d_n} health requests ${loaded} KiB (goal < 32768), after two rounds of mixed load ${rss_1} -> ${rss_2} KiB (growth $((rss_2 - rss_1)) KiB)"
kill "$DPID"; wait "$DPID" 2>/dev/null

# Health while a deploy of 500 migrations runs (each builds a table, an index and 2,000 rows).
gen=$BENCH_TMP/gen500h
if [ ! -f "$gen/.complete" ]; then
  rm -rf "$gen"
  for i in $(seq -w 1 500); do
    mkmig "$gen" "20240101$(printf %06d $((10#$i)))_m$i" "CREATE TABLE t_$i (id bigserial primary key, v text); CREATE INDEX ON t_$i (v); INSERT INTO t_$i (v) SELECT md5(i::text) FROM generate_series(1, 2000) i;"
  done
  touch "$gen/.complete"
fi
# The baseline under the same load: the bare server while the CLI deploys the same folder.
url_cli=$(fresh_db bench_http_cli)
DATABASE_URL=$url_cli "$MIGRATED" deploy --migrations "$gen" >/dev/null 2>&1 & cli=$!
sleep 0.3
read -r bd_rps bd_p99 _ <<<"$(DUR=$((DUR / 2 > 2 ? DUR / 2 : 2)) wrk_run "http://127.0.0.1:$BPORT/v1/health")"
kill -0 $cli 2>/dev/null && cli_state=running || cli_state=finished
wait $cli
daemon "$gen" bench_http_deploy
curl -fs -o /dev/null -X POST -H "Authorization: Bearer bench-admin-0123456789abcdef" -H 'Content-Type: application/json' --data '{}' "http://127.0.0.1:$DPORT/v1/deploy"
sleep 0.3
read -r dd_rps dd_p99 _ <<<"$(DUR=$((DUR / 2 > 2 ? DUR / 2 : 2)) wrk_run "http://127.0.0.1:$DPORT/v1/health")"
state=$(curl -s -H "$READ" "http://127.0.0.1:$DPORT/v1/jobs?limit=1" | python3 -c 'import sys,json;print(json.load(sys.stdin)["jobs"][0]["state"])')
echo "health during a 500-migration deploy (job ${state} when wrk ended): ${dd_rps} req/s, p99 ${dd_p99} ms; bare server during the same deploy by the CLI (${cli_state} when wrk ended): ${bd_rps} req/s, p99 ${bd_p99} ms = $(ratio "$dd_rps" "$bd_rps")x"
kill "$DPID"; wait "$DPID" 2>/dev/null

# Status on 1,000 applied migrations.
g1k=$BENCH_TMP/gen1000
if [ ! -f "$g1k/.complete" ]; then
  rm -rf "$g1k"
  for i in $(seq -w 1 1000); do mkmig "$g1k" "2024$(printf %010d $((10#$i * 60)))_m$i" "CREATE TABLE IF NOT EXISTS t_$((10#$i % 20)) (id int);"; done
  touch "$g1k/.complete"
fi
daemon "$g1k" bench_status
DATABASE_URL="postgresql://postgres@127.0.0.1:$BENCH_PORT/bench_status" "$MIGRATED" deploy --migrations "$g1k" >/dev/null
read -r s_rps s_p99 _ <<<"$(wrk_run "http://127.0.0.1:$DPORT/v1/status" "$READ")"
size=$(curl -s -H "$READ" "http://127.0.0.1:$DPORT/v1/status" | wc -c)
echo "status (1,000 applied migrations, ${size}-byte answer): ${s_rps} req/s (goal >= 2000), p99 ${s_p99} ms; RSS $(rss "$DPID") KiB"
