#!/usr/bin/env bash
# bench/corpus_vs_prisma.sh - the langfuse history (434 real migrations) on an empty database,
# end to end: the real Prisma CLIs (6.19.3 and 7.10.1, from scripts/prisma-cli.sh) against
# migrated in the same run; then `status` of the result with each. Goals: deploy >= 2.5x
# faster, status >= 20x faster. PRISMA="6 7" (default) picks the CLIs.
. "$(dirname "$0")/lib.sh"
bench_pg_up
shared=${MIGRATED_SHARED_DIR:-$BENCH_TOP/../shared}
[ -d "$shared/corpus" ] || { echo "corpus_vs_prisma: skipped (no $shared/corpus)"; exit 0; }
corpus=${CORPUS:-langfuse}
R=${ROUNDS:-3}
"$BENCH_TOP/scripts/prisma-cli.sh" ${PRISMA:-6 7} >"$BENCH_TMP/prisma-cli.out" || { echo "corpus_vs_prisma: cannot install the Prisma CLIs"; exit 1; }
while read -r version wrapper; do
  major=${version%%.*}
  proj=$BENCH_TMP/prisma$major-$corpus; rm -rf "$proj"; mkdir -p "$proj/prisma"
  cp -r "$shared/corpus/$corpus/migrations" "$proj/prisma/"
  if [ "$major" -ge 7 ]; then # Prisma 7: the URL is in prisma.config.ts (the wrapper adds it)
    printf 'datasource db {\n  provider = "postgresql"\n}\n' >"$proj/prisma/schema.prisma"
  else
    printf 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n' >"$proj/prisma/schema.prisma"
  fi
  pd=(); ud=(); ps=(); us=()
  for r in $(seq 1 "$R"); do
    url=$(fresh_db bench_prisma)
    pd+=("$(DATABASE_URL=$url ms "$wrapper" "$proj" migrate deploy)")
    ps+=("$(DATABASE_URL=$url ms "$wrapper" "$proj" migrate status)")
    url=$(fresh_db bench_us)
    ud+=("$(DATABASE_URL=$url ms "$MIGRATED" deploy --migrations "$proj/prisma/migrations")")
    us+=("$(DATABASE_URL=$url ms "$MIGRATED" status --migrations "$proj/prisma/migrations")")
  done
  PD=$(median "${pd[@]}"); UD=$(median "${ud[@]}"); PS=$(median "${ps[@]}"); US=$(median "${us[@]}")
  echo "$corpus deploy: prisma $version ${PD} ms / migrated ${UD} ms = $(ratio "$PD" "$UD")x faster (goal >= 2.5; runs prisma ${pd[*]}, migrated ${ud[*]})"
  echo "$corpus status: prisma $version ${PS} ms / migrated ${US} ms = $(ratio "$PS" "$((US > 0 ? US : 1))")x faster (goal >= 20; runs prisma ${ps[*]}, migrated ${us[*]})"
done <"$BENCH_TMP/prisma-cli.out"
