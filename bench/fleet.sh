#!/usr/bin/env bash
# bench/fleet.sh - deploying a fleet: DBS fresh databases (default 100), each getting the first
# MIGRATIONS langfuse migrations (default 100), by
#   (a) a shell loop of `migrated deploy`, one database after another (the baseline),
#   (b) a shell loop of `prisma migrate deploy` (Prisma 6.19.3; only with PRISMA=1: it is slow),
#   (c) one fleet deploy through the daemon (POST /v1/fleet/deploy, a targets file of the DBS
#       databases, on_error continue) with parallel P for each P of PARALLEL (default "1 4 8"),
# at each round trip of RTTS (default "0 10"): 0 is direct to PostgreSQL on loopback, anything
# else goes through bench/lagproxy.py adding that round trip (the CLIs and the targets file's
# URLs point at the proxy). Every mode starts on DBS freshly created databases (from an empty
# template, FILE_COPY) and is checked afterwards: every database must hold MIGRATIONS finished,
# not rolled back rows in _prisma_migrations, or the bench fails. Wall time of the whole fleet,
# ratio against (a) at the same round trip. The daemon runs with backup_before_deploy = false
# (the CLI takes no backup either) and its other defaults (lint gate warn, preflight, probe).
# STATE_DIR=/dev/shm/x puts the daemons' state (the job journal, fdatasync'd on every record)
# elsewhere, to see what the journal's syncs cost. DBS=10 MIGRATIONS=20 is a quick mode. Goal: fleet P=8 at 10 ms well under the loop's time.
. "$(dirname "$0")/lib.sh"
shared=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
src=$shared/corpus/langfuse/migrations
[ -d "$src" ] || { echo "fleet: skipped (no $shared/corpus)"; exit 0; }
DBS=${DBS:-100} MIGRATIONS=${MIGRATIONS:-100} RTTS=${RTTS:-0 10} PARALLEL=${PARALLEL:-1 4 8}
bench_pg_up
unset DATABASE_URL DIRECT_URL MIGRATED_CONFIG
w=$BENCH_TMP/fleet; rm -rf "$w"; mkdir -p "$w"
pids=()
cleanup() {
  local rc=$? p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # the databases stay after a failure, to be looked at; the next run recreates them
  [ "$rc" = 0 ] && [ -f "$w/drop.sql" ] && PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -d postgres -f "$w/drop.sql" >/dev/null 2>&1
  true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "fleet: FAILED: $*" >&2; exit 1; }
forget() { local p keep=(); for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; pids=("${keep[@]}"); }

# The first MIGRATIONS migrations in Prisma's order (byte order of the folder names; two names
# hold a space).
mig=$w/migrations; mkdir -p "$mig"; cp "$src/migration_lock.toml" "$mig/"
find "$src" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort | head -n "$MIGRATIONS" >"$w/names"
[ "$(wc -l <"$w/names")" -eq "$MIGRATIONS" ] || die "langfuse has fewer than $MIGRATIONS migrations"
while IFS= read -r d; do cp -r "$src/$d" "$mig/"; done <"$w/names"
chmod -R u+w "$mig"

if [ -n "${PRISMA:-}" ]; then
  "$BENCH_TOP/scripts/prisma-cli.sh" 6 >"$w/prisma-cli.out" || die "cannot install the Prisma CLI (scripts/prisma-cli.sh 6)"
  read -r _ prisma <"$w/prisma-cli.out"
  proj=$w/prisma; mkdir -p "$proj/prisma"; cp -r "$mig" "$proj/prisma/migrations"
  printf 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n' >"$proj/prisma/schema.prisma"
fi

# The databases, their template and the SQL that recreates and checks them (one psql each).
dbs=(); for i in $(seq 1 "$DBS"); do dbs+=("$(printf 'fleet_%03d' "$i")"); done
PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres \
  -c "DROP DATABASE IF EXISTS fleet_template WITH (FORCE)" -c "CREATE DATABASE fleet_template IS_TEMPLATE true" >/dev/null
for d in "${dbs[@]}"; do
  echo "DROP DATABASE IF EXISTS $d WITH (FORCE);" >>"$w/drop.sql"
  printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\nCREATE DATABASE %s TEMPLATE fleet_template STRATEGY FILE_COPY;\n' "$d" "$d" >>"$w/create.sql"
  printf '\\c %s\nSELECT current_database(), count(*) FILTER (WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL), count(*) FROM _prisma_migrations;\n' "$d" >>"$w/check.sql"
done
echo "ALTER DATABASE fleet_template IS_TEMPLATE false; DROP DATABASE fleet_template;" >>"$w/drop.sql"
recreate() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -f "$w/create.sql" >/dev/null || die "cannot create the databases"; }
# check MODE: every database has MIGRATIONS finished rows (read directly, not through the proxy).
check() {
  local out bad
  out=$("$PSQL" -X -q -At -F ' ' -v ON_ERROR_STOP=1 -d postgres -f "$w/check.sql" 2>&1) || die "$1: the check could not read every database: $(echo "$out" | tail -n 2)"
  bad=$(echo "$out" | awk -v m="$MIGRATIONS" '!($2 == m && $3 == m)')
  [ "$(echo "$out" | awk -v m="$MIGRATIONS" '$2 == m && $3 == m' | wc -l)" -eq "$DBS" ] && [ -z "$bad" ] ||
    die "$1: not every database ended with $MIGRATIONS finished migrations (database finished rows): $(echo "$bad" | head -n 5 | tr '\n' ';')"
}
now() { date +%s%N; }
x() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }

# proxy_up RTT: starts bench/lagproxy.py for a round trip of RTT ms; sets PPORT and PROXY.
proxy_up() {
  PPORT=$(free_port)
  python3 "$BENCH_TOP/bench/lagproxy.py" "$PPORT" "$BENCH_PORT" "$(echo "scale=1; $1 / 2" | bc)" 2>"$w/proxy-$1.log" &
  PROXY=$!; pids+=("$PROXY")
  for _ in $(seq 1 50); do grep -q listening "$w/proxy-$1.log" 2>/dev/null && return 0; sleep 0.1; done
  die "the proxy did not start: $(tail -n 3 "$w/proxy-$1.log")"
}

tokens=$w/tokens; printf 'bench deploy bench-deploy-0123456789abcdef\n' >"$tokens"; chmod 600 "$tokens"
# fleet_run PORT P: a daemon with a targets file of the databases at PORT (started, and stopped
# after, outside the timing), one fleet deploy with parallel P; sets T to the wall ms from the
# POST to the job's end, as seen by polling GET /v1/jobs/ID every 20 ms.
fleet_run() {
  local port=$1 par=$2 st=${STATE_DIR:-$w}/state-$1-$2 dport d out rc=0
  rm -rf "$st"; mkdir -p "$st"; dport=$(free_port)
  for d in "${dbs[@]}"; do echo "$d postgresql://postgres@127.0.0.1:$port/$d"; done >"$st.targets"
  chmod 600 "$st.targets"
  printf 'backup_before_deploy = false\ntargets_file = %s\n' "$st.targets" >"$st.conf"
  "$MIGRATED" serve --listen "127.0.0.1:$dport" --migrations "$mig" --state-dir "$st" --token-file "$tokens" \
    --config "$st.conf" >"$st.log" 2>&1 &
  DAEMON=$!; pids+=("$DAEMON")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$dport/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$dport/healthz" >/dev/null || die "the daemon did not start: $(tail -n 3 "$st.log")"
  out=$(python3 - "$dport" "$par" <<'PY'
import json, sys, time, urllib.request
port, par = sys.argv[1], int(sys.argv[2])
auth = {"Authorization": "Bearer bench-deploy-0123456789abcdef", "Content-Type": "application/json"}
def call(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method, headers=auth,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        return json.load(r)
t0 = time.monotonic()
job = call("POST", "/v1/fleet/deploy", {"parallel": par, "on_error": "continue"})
while job["state"] not in ("succeeded", "failed", "cancelled", "interrupted"):
    time.sleep(0.02)
    job = call("GET", "/v1/jobs/" + job["id"])
t1 = time.monotonic()
res = job.get("result") or {}
print(int((t1 - t0) * 1000), job["state"], res.get("succeeded"), res.get("failed"), res.get("parallel"))
if job["state"] != "succeeded":
    print(json.dumps(job.get("error")), file=sys.stderr)
    sys.exit(1)
PY
  ) || rc=$?
  kill "$DAEMON" 2>/dev/null; wait "$DAEMON" 2>/dev/null || true; forget "$DAEMON"
  [ "$rc" = 0 ] || die "fleet deploy P=$par through port $port: ${out:-no answer} (daemon log: $st.log)"
  set -- $out
  [ "$4" = 0 ] && [ "$3" = "$DBS" ] && [ "$5" = "$par" ] || die "fleet deploy P=$par: $out (ms state succeeded failed parallel)"
  T=$1
}
# loop_run PORT CMD...: CMD once a database, one after another, DATABASE_URL at PORT; sets T
# to the wall ms.
loop_run() {
  local port=$1 s e d; shift; s=$(now)
  for d in "${dbs[@]}"; do
    DATABASE_URL="postgresql://postgres@127.0.0.1:$port/$d" "$@" >"$w/loop.out" 2>&1 || die "$* on $d: $(tail -n 3 "$w/loop.out")"
  done
  e=$(now); T=$(((e - s) / 1000000))
}

echo "fleet: $DBS databases x the first $MIGRATIONS langfuse migrations, fresh databases for every mode"
[ -n "${PRISMA:-}" ] || echo "fleet: the Prisma loop is skipped (PRISMA=1 runs it; about ${DBS} x 2-7 s)"
rows=()
for rtt in $RTTS; do
  if [ "$rtt" = 0 ]; then port=$BENCH_PORT; where="direct"; else proxy_up "$rtt"; port=$PPORT; where="proxy"; fi
  recreate
  loop_run "$port" "$MIGRATED" deploy --migrations "$mig"; base=$T; check "loop of migrated deploy, rtt $rtt"
  rows+=("$rtt|$where|loop of migrated deploy|$base|1.00")
  echo "  rtt $rtt ms: loop of migrated deploy ${base} ms" >&2
  if [ -n "${PRISMA:-}" ]; then
    recreate
    loop_run "$port" "$prisma" "$proj" migrate deploy; t=$T; check "loop of prisma migrate deploy, rtt $rtt"
    rows+=("$rtt|$where|loop of prisma migrate deploy|$t|$(x "$t" "$base")")
    echo "  rtt $rtt ms: loop of prisma migrate deploy ${t} ms" >&2
  fi
  for par in $PARALLEL; do
    recreate
    fleet_run "$port" "$par"; t=$T; check "fleet deploy P=$par, rtt $rtt"
    rows+=("$rtt|$where|fleet deploy, parallel $par|$t|$(x "$t" "$base")")
    echo "  rtt $rtt ms: fleet deploy P=$par ${t} ms" >&2
  done
  if [ "$rtt" != 0 ]; then kill "$PROXY" 2>/dev/null; wait "$PROXY" 2>/dev/null || true; forget "$PROXY"; fi
done
printf '\n%-8s %-7s %-30s %10s %12s\n' "rtt ms" "path" "mode" "wall ms" "vs loop (a)"
for r in "${rows[@]}"; do
  IFS='|' read -r rtt where mode t x <<<"$r"
  printf '%-8s %-7s %-30s %10s %11sx\n' "$rtt" "$where" "$mode" "$t" "$x"
done
echo "check: after every mode, all $DBS databases held $MIGRATIONS finished migrations in _prisma_migrations"
