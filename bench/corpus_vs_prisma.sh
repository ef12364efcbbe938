#!/usr/bin/env bash
# bench/corpus_vs_prisma.sh - the langfuse history (434 real migrations) on an empty database,
# end to end: the real Prisma CLI (prisma-ref, 6.19.3) against migrated in the same run; then
# `status` of the result with each. Goals: deploy >= 2.5x faster, status >= 20x faster.
. "$(dirname "$0")/lib.sh"
bench_pg_up
shared=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
[ -x /tmp/prisma-ref/prisma-ref ] || REF=/tmp/prisma-ref bash "$shared/tools/prisma-ref-setup.sh" >/dev/null 2>&1
corpus=${CORPUS:-langfuse}
proj=$BENCH_TMP/prisma-$corpus; rm -rf "$proj"; mkdir -p "$proj/prisma"
cp -r "$shared/corpus/$corpus/migrations" "$proj/prisma/"
printf 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n' >"$proj/prisma/schema.prisma"
R=${ROUNDS:-3}
pd=(); ud=(); ps=(); us=()
for r in $(seq 1 "$R"); do
  url=$(fresh_db bench_prisma)
  pd+=("$(DATABASE_URL=$url ms /tmp/prisma-ref/prisma-ref "$proj" migrate deploy)")
  ps+=("$(DATABASE_URL=$url ms /tmp/prisma-ref/prisma-ref "$proj" migrate status)")
  url=$(fresh_db bench_us)
  ud+=("$(DATABASE_URL=$url ms "$MIGRATED" deploy --migrations "$proj/prisma/migrations")")
  us+=("$(DATABASE_URL=$url ms "$MIGRATED" status --migrations "$proj/prisma/migrations")")
done
PD=$(median "${pd[@]}"); UD=$(median "${ud[@]}"); PS=$(median "${ps[@]}"); US=$(median "${us[@]}")
echo "$corpus deploy: prisma ${PD} ms / migrated ${UD} ms = $(ratio "$PD" "$UD")x faster (goal >= 2.5; runs prisma ${pd[*]}, migrated ${ud[*]})"
echo "$corpus status: prisma ${PS} ms / migrated ${US} ms = $(ratio "$PS" "$((US > 0 ? US : 1))")x faster (goal >= 20; runs prisma ${ps[*]}, migrated ${us[*]})"
