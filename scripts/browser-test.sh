#!/usr/bin/env bash
# scripts/browser-test.sh - the web console's tests in a real browser (tests/browser/): installs
# puppeteer-core and axe-core with `npm ci` from tests/browser/package-lock.json (once per lock),
# starts a throwaway PostgreSQL (scripts/pg-scratch.sh: its own directory and a free loopback
# port, run as the postgres OS user when we are root) and five `migrated serve` daemons on free
# loopback ports, runs tests/browser/console.test.mjs in Debian's chromium, and stops everything.
# Screenshots (1280x800 and 390x844 of every page) go to build/browser-shots/.
#   scripts/browser-test.sh      uses build/migrated (MIGRATED_BIN to override)
# Ends with "browser: N passed, N failed"; exit 0 only when nothing failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MIGRATED_BIN:-$top/build/migrated}
shots=$top/build/browser-shots
fail() { echo "browser: $*"; echo "browser: 0 passed, 1 failed"; exit 1; }

[ -x "$bin" ] || fail "no $bin (run scripts/build.sh first)"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "no $chromium (scripts/deps.sh installs Debian's chromium)"
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (scripts/deps.sh)"

# The test tools, exactly as the lock file pins them; reinstalled only when the lock changes.
mods=$top/tests/browser/node_modules
stamp=$(sha256sum "$top/tests/browser/package-lock.json" | cut -c1-16)
if [ "$(cat "$mods/.migrated-lock" 2>/dev/null)" != "$stamp" ]; then
  (cd "$top/tests/browser" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >/tmp/migrated-browser-npm.log 2>&1 ||
    fail "npm ci in tests/browser failed: $(tail -n 3 /tmp/migrated-browser-npm.log | tr '\n' ' ')"
  echo "$stamp" >"$mods/.migrated-lock"
fi

work=$(mktemp -d /tmp/migrated-browser-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  "$top/scripts/pg-scratch.sh" stop "$work/pg" >/dev/null 2>&1
  [ -n "${MD_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

url=$("$top/scripts/pg-scratch.sh" start "$work/pg") || fail "could not start PostgreSQL (see $work/pg)"
server=${url%/*}
db() { psql -X -q -d "$server/postgres" -c "CREATE DATABASE $1" >/dev/null && echo "$server/$1"; }

mig() { # mig DIR NAME SQL [DOWN]
  mkdir -p "$1/$2"
  [ -f "$1/migration_lock.toml" ] || printf 'provider = "postgresql"\n' >"$1/migration_lock.toml"
  printf '%s\n' "$3" >"$1/$2/migration.sql"
  [ -z "${4:-}" ] || printf '%s\n' "$4" >"$1/$2/down.sql"
}
X='<img src=x onerror=alert(1)>'
mig "$work/ok" 20240101000000_init "CREATE TABLE console_a (id bigint PRIMARY KEY, name text);"
mig "$work/ok" 20240102000000_seed "INSERT INTO console_a VALUES (1, 'seed'); SELECT pg_sleep(2);"
mig "$work/ok" 20240103000000_more "CREATE TABLE console_b (id bigint PRIMARY KEY);" "DROP TABLE console_b;"
mig "$work/bad" 20240101000000_init "CREATE TABLE console_a (id bigint PRIMARY KEY);"
mig "$work/bad" 20240102000000_markup "-- $X <script>alert(3)</script>
CREATE TABLE console_c (note text DEFAULT '$X');
DO \$\$ BEGIN RAISE EXCEPTION '$X <script>alert(3)</script>' USING ERRCODE = 'division_by_zero', HINT = 'see $X'; END \$\$;"
mig "$work/resume" 20240101000000_init "CREATE TABLE console_r (id bigint PRIMARY KEY);"
mig "$work/resume" 20240102000000_slow "SELECT pg_sleep(2);"
mig "$work/cancel" 20240101000000_wait "CREATE TABLE console_w (id int); SELECT pg_sleep(60);"

admin=browser-admin-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
read=browser-read-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
printf 'ops admin %s\nmon read %s\n' "$admin" "$read" >"$work/tokens"
chmod 600 "$work/tokens"

daemon() { # daemon NAME FOLDER DATABASE_URL [VAR=VALUE...]: sets base (not in a subshell: pids)
  local name=$1 folder=$2 dburl=$3 port
  shift 3
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$work/state-$name"
  env DATABASE_URL="$dburl" "$@" setsid "$bin" serve --listen "127.0.0.1:$port" --migrations "$folder" \
    --state-dir "$work/state-$name" --token-file "$work/tokens" >"$work/daemon-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && { base=http://127.0.0.1:$port; return 0; }
    sleep 0.1
  done
  echo "daemon $name did not answer within 10 s: $(tail -n 3 "$work/daemon-$name.log")" >&2
  return 1
}
ok_url=$(db console_ok) && bad_url=$(db console_bad) && resume_url=$(db console_resume) && cancel_url=$(db console_cancel) ||
  fail "could not create the databases"
# The daemons run away from the source tree: the console must come from the binary.
cd "$work" || fail "no $work"
daemon ok "$work/ok" "$ok_url" && ok=$base || fail "daemon ok did not start"
daemon bad "$work/bad" "$bad_url" && bad=$base || fail "daemon bad did not start"
daemon open "$work/ok" "$ok_url" MIGRATED_READ_AUTH=false && open=$base || fail "daemon open did not start"
daemon resume "$work/resume" "$resume_url" && resume=$base || fail "daemon resume did not start"
daemon cancel "$work/cancel" "$cancel_url" && cancel=$base || fail "daemon cancel did not start"

rm -rf "$shots"; mkdir -p "$shots"
CONSOLE_OK=$ok CONSOLE_BAD=$bad CONSOLE_OPEN=$open CONSOLE_RESUME=$resume CONSOLE_CANCEL=$cancel CONSOLE_ADMIN=$admin CONSOLE_READ=$read \
  UI_DIR=$top/ui SHOTS_DIR=$shots AXE_JS=$mods/axe-core/axe.min.js CHROMIUM=$chromium \
  timeout -k 10 300 node "$top/tests/browser/console.test.mjs" 2>"$work/node.log" | tee "$work/out.log"
rc=${PIPESTATUS[0]}
grep -q '^browser: [0-9]* passed' "$work/out.log" || { tail -n 5 "$work/node.log"; echo "browser: 0 passed, 1 failed"; exit 1; }
if [ "$rc" != 0 ]; then
  for f in "$work"/daemon-*.log; do echo "--- $(basename "$f")"; tail -n 15 "$f"; done
fi
exit "$rc"
