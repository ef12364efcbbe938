#!/usr/bin/env bash
# tests/fuzz/run.sh - builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# SECONDS (default 15; scripts/test.sh runs them briefly, run longer by hand:
# tests/fuzz/run.sh 600). Crashes land in tests/fuzz/findings/. Prints one line per target and
# "fuzz: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
seconds=${1:-15}
out=${FUZZ_BUILD:-$top/build-fuzz}; mkdir -p "$out" "$here/findings"
config_h=$top/build/config.h
[ -f "$config_h" ] || { echo "fuzz: build first (scripts/build.sh)"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -include $config_h -I$top/include $(pkg-config --cflags jansson libmicrohttpd libpq)"
libs="$(pkg-config --libs jansson libpq uuid libmicrohttpd nettle)"
core="$top/daemon/core/error.c $top/daemon/core/strbuf.c $top/daemon/core/utf8.c $top/daemon/core/log.c $top/daemon/core/clock.c"
declare -A srcs=(
  [body]="$top/api/body.c"
  [request]="$top/api/admission.c $top/api/routes.c $top/api/respond.c $top/daemon/service/tokens.c $top/daemon/render/report.c $top/daemon/engine/sqllex.c $top/daemon/engine/sqlsplit.c $top/daemon/engine/ddl.c $top/daemon/engine/apply.c $top/daemon/engine/history.c $top/daemon/engine/advisory_lock.c $top/daemon/engine/db.c $top/daemon/engine/dburl.c $top/daemon/engine/unfinished.c $top/daemon/engine/plan.c $top/daemon/engine/catalog.c $top/daemon/engine/checksum.c $top/daemon/engine/collate.c $top/daemon/engine/backup.c $top/daemon/engine/pgtool.c $top/daemon/core/child.c $top/daemon/core/units.c $top/daemon/core/config.c"
  [journal_line]="$top/daemon/jobs/journal.c"
  [sqlsplit]="$top/daemon/engine/sqllex.c $top/daemon/engine/sqlsplit.c"
  [lint]="$top/daemon/engine/sqllex.c $top/daemon/engine/sqlsplit.c $top/daemon/engine/ddl.c $top/daemon/engine/lint.c $top/daemon/engine/apply.c $top/daemon/engine/history.c $top/daemon/engine/advisory_lock.c $top/daemon/engine/db.c $top/daemon/engine/dburl.c"
)
pass=0; fail=0
for t in body request journal_line sqlsplit lint; do
  if ! clang $cflags -o "$out/fuzz_$t" "$here/fuzz_$t.c" ${srcs[$t]} $core $libs -lpthread 2>"$out/build-$t.log"; then
    echo "  fuzz $t: build failed: $(tail -n 3 "$out/build-$t.log" | tr '\n' ' ')"; fail=$((fail + 1)); continue
  fi
  mkdir -p "$out/corpus-$t"
  if ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
       -artifact_prefix="$here/findings/$t-" "$out/corpus-$t" "$here/corpus/$t" >"$out/run-$t.log" 2>&1; then
    echo "  fuzz $t: $(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$out/run-$t.log" | tail -n 1) runs in ${seconds}s, no finding"
    pass=$((pass + 1))
  else
    echo "  fuzz $t: FINDING (see $out/run-$t.log and tests/fuzz/findings/)"; tail -n 20 "$out/run-$t.log"
    fail=$((fail + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail = 0 ]
