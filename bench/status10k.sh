#!/usr/bin/env bash
# bench/status10k.sh - `migrated status` on a folder of 10,000 migrations, all applied: wall time
# (goal under 150 ms), beside the same-run cost of the smallest possible client round trip (the
# real psql binary counting the history rows) for scale.
. "$(dirname "$0")/lib.sh"
bench_pg_up
dir=$BENCH_TMP/gen10k
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"; mkdir -p "$dir"; printf 'provider = "postgresql"\n' >"$dir/migration_lock.toml"
  python3 - "$dir" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(10000):
    name = "2024%010d_migration_%05d" % (i * 60, i)
    os.mkdir(os.path.join(d, name))
    with open(os.path.join(d, name, "migration.sql"), "w") as f:
        f.write("-- migration %d\nCREATE TABLE IF NOT EXISTS t_%d (id int);\n" % (i, i % 50))
PY
  touch "$dir/.complete"
fi
url=$(fresh_db bench_10k)
DATABASE_URL=$url "$MIGRATED" deploy --migrations "$dir" >/dev/null
st=(); base=()
for r in $(seq 1 "${ROUNDS:-11}"); do
  st+=("$(DATABASE_URL=$url ms "$MIGRATED" status --migrations "$dir")")
  base+=("$(ms "$PSQL" -X -q -d bench_10k -c "SELECT count(*) FROM _prisma_migrations")")
done
S=$(median "${st[@]}"); B=$(median "${base[@]}"); MAX=$(printf '%s\n' "${st[@]}" | sort -n | tail -n1)
echo "status10k: migrated status ${S} ms median, ${MAX} ms max (goal < 150 ms); psql count(*) ${B} ms = $(ratio "$S" "$B")x of a bare psql round trip"
