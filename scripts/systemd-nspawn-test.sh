#!/usr/bin/env bash
# scripts/systemd-nspawn-test.sh - the package under a real systemd: boots Debian 12 in a
# systemd-nspawn container (root filesystem by mmdebstrap from Debian's mirror, cached in
# /var/tmp/migrated-nspawn/base), installs build/deb/migrated_*.deb there with a PostgreSQL 15,
# and checks what only a real systemd shows: `systemctl start` returns after READY=1 with the
# service active (running), the watchdog is fed, `systemctl reload` applies a new token, a
# deploy with its pg_dump backup works inside the unit's sandbox, journalctl shows the JOB_ID
# and MIGRATION fields, migrated.socket activation answers, and `systemctl stop` during a
# deploy records the job interrupted. Needs root; scripts/test.sh runs it (a minute; the first
# run downloads ~150 MB). Prints "nspawn: N passed, N failed".
#   scripts/systemd-nspawn-test.sh [DEB]     (default: the newest build/deb/migrated_*.deb)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${MIGRATED_NSPAWN_CACHE:-/var/tmp/migrated-nspawn}
deb=${1:-$(ls -t "$top"/build/deb/migrated_*.deb 2>/dev/null | head -n 1)}
[ -f "$deb" ] || { echo "no package: run scripts/deb.sh first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "systemd-nspawn needs root" >&2; exit 1; }
for p in systemd-container mmdebstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

# The base root filesystem, once (again when this list changes): systemd, PostgreSQL 15, curl
# for the checks, and the package's dependencies (dpkg -i refuses a missing one, so
# a dependency the package forgot to declare shows here only when the base lacks it too).
include=systemd,systemd-sysv,dbus,postgresql-15,postgresql-client-15,curl,libpq5,libmicrohttpd12,libjansson4,libnettle8,procps
if [ "$(cat "$cache/base/.complete" 2>/dev/null)" != "$include" ]; then
  rm -rf "$cache/base"; mkdir -p "$cache"
  mmdebstrap --variant=apt --include="$include" bookworm "$cache/base" http://deb.debian.org/debian \
    >"$cache/mmdebstrap.log" 2>&1 || { tail -n 20 "$cache/mmdebstrap.log"; echo "mmdebstrap failed" >&2; exit 1; }
  echo "$include" >"$cache/base/.complete"
fi

root=$cache/run-$$
machine=mdtest$$
nspawn_pid=
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null # nspawn asks the container's systemd to power off
    for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null
  fi
  rm -rf "$root"
  [ "${failed:-1}" != 0 ] || rm -f "$cache/boot-$$.log" # the container's console, kept on a failure
}
trap cleanup EXIT
cp -a --reflink=auto "$cache/base" "$root"
cp "$deb" "$root/root/migrated.deb"
mkdir -p "$root/srv/app/prisma"
cp -r "$top/examples/prisma/migrations" "$root/srv/app/prisma/"

# A private network: the container's PostgreSQL (5432) and migrated (8080) do not meet the host's.
systemd-nspawn -q -D "$root" -M "$machine" --register=no --keep-unit --private-network --boot \
  --console=pipe </dev/null >"$cache/boot-$$.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$nspawn_pid" 2>/dev/null | head -n 1)
  [ -n "$leader" ] && break
  sleep 0.1
done
[ -n "$leader" ] || { cat "$cache/boot-$$.log"; echo "the container did not start" >&2; exit 1; }
ct() { nsenter -t "$leader" -a -- "$@"; }
insh() { nsenter -t "$leader" -a -- /bin/sh -c "$1"; }
passed=0 failed=0
ok() { echo "  ok   $1"; passed=$((passed + 1)); }
no() { echo "  FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else no "$name"; return 1; fi; }

state=
for _ in $(seq 1 120); do # until the container's systemd answers on its bus
  state=$(timeout 120 nsenter -t "$leader" -a -- systemctl is-system-running --wait 2>&1) && break
  case $state in degraded) break ;; esac
  sleep 0.5
done
case $state in running | degraded) ok "systemd boots in the container ($state)" ;; *) no "systemd boots" "$state"; exit 1 ;; esac

out=$(insh 'DEBIAN_FRONTEND=noninteractive dpkg -i /root/migrated.deb 2>&1')
# The unit's ExecReload= runs /bin/kill: the package must pull it in (procps).
check "the package depends on procps (/bin/kill for ExecReload=)" insh 'dpkg -s migrated | grep -q "^Depends:.*procps"'
check "the package installs" insh 'dpkg -s migrated >/dev/null 2>&1'
check "install says how to configure, does not start it" \
  bash -c "grep -q 'neither enabled nor started' <<<\"\$1\" && ! nsenter -t $leader -a -- systemctl -q is-active migrated.service" _ "$out"

# The database, the migrations, a token; the URL as the credential the unit loads.
insh "systemctl start postgresql@15-main && su postgres -c \"psql -qc \\\"CREATE ROLE app LOGIN SUPERUSER PASSWORD 'secret'\\\"\" && su postgres -c 'createdb -O app app'" >/dev/null 2>&1 ||
  no "PostgreSQL starts in the container"
insh "sed -i 's|^#migrations = .*|migrations = /srv/app/prisma/migrations\nshutdown_timeout = 2s|' /etc/migrated/migrated.conf"
# Started before it has a database URL (the package's empty credential file), the daemon runs
# and says what to set.
ct timeout 30 systemctl start migrated.service >/dev/null 2>&1
st=$(ct systemctl status migrated.service --no-pager -n 20 2>&1)
check "without a database URL the daemon starts and names /etc/migrated/database-url" \
  bash -c 'grep -q "no DATABASE_URL" <<<"$1" && grep -q "/etc/migrated/database-url" <<<"$1"' _ "$st" ||
  sed 's/^/    /' <<<"$st"
ct systemctl stop migrated.service
# Fixed ports on purpose: --private-network gives the container a loopback of its own, and what is
# checked is the package as installed, with its default listen address 127.0.0.1:8080.
insh "umask 077; echo 'postgresql://app:secret@127.0.0.1:5432/app' >/etc/migrated/database-url"
admin=$(insh 'migrated token add ops admin' | tail -n 1)
check "token add prints a 64-digit secret" test "${#admin}" = 64

# start: Type=notify, so `systemctl start` returns once READY=1 arrived.
check "the unit is Type=notify" test "$(ct systemctl show -P Type migrated.service)" = notify
check "systemctl start migrated succeeds" ct timeout 60 systemctl start migrated.service
sub=$(ct systemctl show -P SubState migrated.service)
check "the service is active (running) after start" test "$sub" = running
status=$(ct systemctl show -P StatusText migrated.service)
check "READY=1 came with a STATUS= line ($status)" test -n "$status"
health=$(insh "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/v1/health")
check "GET /v1/health answers 200 ($health)" test "$health" = 200
wd0=$(ct systemctl show -P WatchdogTimestampMonotonic migrated.service)
sleep 31 # WatchdogSec=60s: the daemon pings every 30 s, and each ping moves the timestamp
wd=$(ct systemctl show -P WatchdogTimestampMonotonic migrated.service)
check "the watchdog is fed (WatchdogTimestampMonotonic $wd0 -> $wd)" test "${wd:-0}" -gt "${wd0:-0}"

# reload applies a new token
readtok=$(insh 'migrated token add mon read' | tail -n 1)
code=$(insh "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $readtok' http://127.0.0.1:8080/v1/status")
check "a token added without a reload is refused ($code)" test "$code" = 401
check "systemctl reload migrated succeeds" ct timeout 30 systemctl reload migrated.service ||
  ct journalctl -u migrated.service --no-pager -n 15 | sed 's/^/    /'
code=$(insh "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $readtok' http://127.0.0.1:8080/v1/status")
check "after the reload the new token is admitted ($code)" test "$code" = 200

# a deploy, with its pg_dump backup, inside the sandbox
job_state() { insh "curl -s -H 'Authorization: Bearer $admin' http://127.0.0.1:8080/v1/jobs/$1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("state",""))' 2>/dev/null; }
jid=$(insh "curl -s -X POST -H 'Authorization: Bearer $admin' -H 'Content-Type: application/json' --data '{\"backup\": true}' http://127.0.0.1:8080/v1/deploy" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null)
js=
for _ in $(seq 1 120); do
  js=$(job_state "$jid")
  case $js in succeeded | failed | cancelled | interrupted) break ;; esac
  sleep 0.5
done
check "a deploy job succeeds under the unit's sandbox (job $jid: $js)" test "$js" = succeeded
check "its pg_dump backup is in /var/lib/migrated/backups" insh 'ls /var/lib/migrated/backups/*.dump >/dev/null 2>&1'
check "the migrations are applied" insh "su postgres -c \"psql -d app -tAc 'SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL'\" | grep -qx 4"
jr=$(ct journalctl -u migrated.service -o verbose --no-pager 2>/dev/null)
check "journalctl shows JOB_ID= and MIGRATION= fields" bash -c 'grep -q "JOB_ID=" <<<"$1" && grep -q "MIGRATION=" <<<"$1"' _ "$jr"
check "no secret in the journal" bash -c '! grep -qe "$2" -e "$3" -e "secret@" <<<"$1"' _ "$jr" "$admin" "$readtok"

# socket activation: the service stopped, the socket listening, a request starts it
ct systemctl stop migrated.service
check "migrated.socket starts" ct systemctl start migrated.socket
code=$(insh "curl -s -o /dev/null -w '%{http_code}' --max-time 30 http://127.0.0.1:8080/healthz")
check "a request on the socket starts the service and is answered ($code)" test "$code" = 200
check "the service was activated by the socket" ct systemctl -q is-active migrated.service

# stop during a deploy: shutdown_timeout (2 s) passes, the statement is cancelled, the job
# recorded interrupted.
insh "mkdir -p /srv/app/prisma/migrations/20250101000000_slow && echo 'SELECT pg_sleep(60);' >/srv/app/prisma/migrations/20250101000000_slow/migration.sql"
jid=$(insh "curl -s -X POST -H 'Authorization: Bearer $admin' -H 'Content-Type: application/json' --data '{\"backup\": false}' http://127.0.0.1:8080/v1/deploy" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null)
for _ in $(seq 1 40); do [ "$(job_state "$jid")" = running ] && break; sleep 0.25; done
sleep 1
t0=$(date +%s)
ct timeout 60 systemctl stop migrated.service migrated.socket
check "systemctl stop during a deploy returns within TimeoutStopSec ($(($(date +%s) - t0)) s)" test $(($(date +%s) - t0)) -lt 45
ct systemctl start migrated.service
js=$(job_state "$jid")
check "the job stopped mid-deploy is recorded ($js)" bash -c 'case $1 in interrupted|cancelled|failed) exit 0;; *) exit 1;; esac' _ "$js"
ct systemctl stop migrated.service

echo "nspawn: $passed passed, $failed failed"
[ "$failed" = 0 ]
