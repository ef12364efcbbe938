#!/usr/bin/env bash
# scripts/test.sh - the whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs missing Debian packages, builds with -Werror (build/), runs unit + integration
#      tests against a real PostgreSQL the harness starts (make check);
#   2. the same tests built with AddressSanitizer + UBSan (build-asan/);
#   3. the engine suites again on PostgreSQL 13, 14, 16, 17 and 18 (scripts/pg-versions.sh),
#      then the engine's commands under valgrind (leaks and memory errors in our allocations);
#   4. the libFuzzer targets (request bodies and heads, journal lines, SQL splitter, lint), briefly;
#   5. the Debian package under a real systemd in a systemd-nspawn container (as root);
#   6. make distcheck (the release tarball builds and passes its unit and core integration tests);
#   the web console in a real browser (scripts/browser-test.sh: chromium, puppeteer-core, axe-core);
#   and checks the C formatting against .clang-format, the layering (scripts/check-layers.py),
#   the man pages against the code (tests/contract/manpages.py), and builds the Debian package
#   (scripts/deb.sh --lintian: no lintian error or warning; about a minute).
# Ends with one line "N passed, N failed" over every run. Exit 0 only when nothing failed.
# Set MIGRATED_TEST_QUICK=1 to run step 1 only.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=$top/build/test-logs
status=0

"$top/scripts/deps.sh" || { echo "dependency installation failed"; exit 1; }

# The real Prisma CLIs (6.19.3 and 7.10.1) for the interop tests, from the npm registry, once.
"$top/scripts/prisma-cli.sh" 6 7 >/tmp/migrated-prisma-cli.log 2>&1 ||
  echo "warning: could not install the Prisma CLIs (see /tmp/migrated-prisma-cli.log); the prisma suite will fail"

run_check() { # name build-dir
  local name=$1 dir=$2
  echo "== $name: make check in ${dir#$top/} =="
  if ! make -C "$dir" check -j1 >"$logs/$name.log" 2>&1; then
    status=1
    cat "$dir"/tests/*/run_*.log 2>/dev/null | grep -vE '^(PASS|Running suite)' | tail -n 200
  fi
  for f in "$dir"/tests/unit/run_unit.log "$dir"/tests/integration/run_integration.log; do
    [ -f "$f" ] && grep -E '^(unit|integration): [0-9]+ passed, [0-9]+ failed' "$f" | sed "s/^/  $name /" |
      tee -a "$logs/summary"
  done
}

build=$("$top/scripts/build.sh") || { echo "build failed"; exit 1; }
mkdir -p "$logs"; : >"$logs/summary"

echo "== format: clang-format (.clang-format) =="
if [ -d .git ] && command -v clang-format >/dev/null; then
  if clang-format --dry-run -Werror $(git ls-files '*.c' '*.h') >"$logs/format.log" 2>&1; then
    echo "  format: 1 passed, 0 failed" | tee -a "$logs/summary"
  else
    status=1; head -n 30 "$logs/format.log"
    echo "  format: 0 passed, 1 failed (run: clang-format -i \$(git ls-files '*.c' '*.h'))" | tee -a "$logs/summary"
  fi
fi

echo "== contract: api/openapi.yaml against api/routes.c =="
if python3 "$top/tests/contract/openapi_routes.py" "$top" >"$logs/contract.log" 2>&1; then :; else status=1; cat "$logs/contract.log"; fi
grep -E '^contract: [0-9]+ passed' "$logs/contract.log" | sed 's/^/  /' | tee -a "$logs/summary"

echo "== layers: no #include points up the layers of ARCHITECTURE.md =="
if python3 "$top/scripts/check-layers.py" "$top" >"$logs/layers.log" 2>&1; then :; else status=1; cat "$logs/layers.log"; fi
grep -E '^layers: [0-9]+ passed' "$logs/layers.log" | sed 's/^/  /' | tee -a "$logs/summary"

echo "== manpages: every config key, command and option documented; man --warnings silent =="
if python3 "$top/tests/contract/manpages.py" "$top" >"$logs/manpages.log" 2>&1; then :; else status=1; cat "$logs/manpages.log"; fi
grep -E '^manpages: [0-9]+ passed' "$logs/manpages.log" | sed 's/^/  /' | tee -a "$logs/summary"

echo "== deb: scripts/deb.sh builds build/deb/migrated_*.deb, lintian clean =="
if "$top/scripts/deb.sh" --lintian >"$logs/deb.log" 2>&1; then
  echo "  deb: 1 passed, 0 failed" | tee -a "$logs/summary"
else
  status=1; tail -n 30 "$logs/deb.log"
  echo "  deb: 0 passed, 1 failed (see $logs/deb.log)" | tee -a "$logs/summary"
fi

run_check plain "$build"

# The web console in Debian's chromium against real daemons (scripts/browser-test.sh).
echo "== browser: the web console in chromium (puppeteer-core, axe-core) =="
if "$top/scripts/browser-test.sh" >"$logs/browser.log" 2>&1; then :; else status=1; grep -vE '^PASS ' "$logs/browser.log" | tail -n 40; fi
grep -E '^browser: [0-9]+ passed' "$logs/browser.log" | sed 's/^/  /' | tee -a "$logs/summary" ||
  { status=1; echo "  browser: 0 passed, 1 failed" | tee -a "$logs/summary"; }

if [ -z "${MIGRATED_TEST_QUICK:-}" ]; then
  asan=$("$top/scripts/build.sh" --sanitizers) || { echo "sanitizer build failed"; status=1; }
  [ -n "${asan:-}" ] && run_check asan-ubsan "$asan"

  # The engine on every supported server major (Debian's 15 ran everything above).
  echo "== PostgreSQL 13, 14, 16, 17, 18: the engine suites per server version =="
  if versions=$("$top/scripts/pg-versions.sh" 2>"$logs/pg-versions.log"); then :; else
    status=1; cat "$logs/pg-versions.log"
    echo "  pg-versions: 0 passed, 1 failed (server binaries missing)" | tee -a "$logs/summary"
  fi
  # The engine suites; the daemon's deploy and health per version are in `versions`.
  per_version=deploy,failure,lock,crash,status,corpus,safety,versions,preflight,pipeline
  while read -r major bindir; do
    [ -n "$major" ] || continue
    PG_BINDIR=$bindir MD_TEST_SUITES=$per_version "$build/tests/integration/run_integration" \
      >"$logs/pg$major.log" 2>&1 || status=1
    grep -E '^integration: ' "$logs/pg$major.log" | sed "s/^integration/  pg$major ($per_version)/" |
      tee -a "$logs/summary"
    grep -q '^integration: [0-9]* passed, 0 failed' "$logs/pg$major.log" || {
      status=1; grep -vE '^(PASS|Running suite)' "$logs/pg$major.log" | tail -n 80; }
  done <<<"$versions"

  echo "== valgrind: the engine's commands under memcheck =="
  for suite in cli cli_fleet deploy failure status resolve connect api backup rollback safety preflight; do
    CK_TIMEOUT_MULTIPLIER=4 MD_TEST_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --error-exitcode=89 --suppressions=$top/tests/valgrind.supp" \
      CK_RUN_SUITE=$suite "$build/tests/integration/run_integration" >"$logs/valgrind-$suite.log" 2>&1 || status=1
    grep -E '^integration: ' "$logs/valgrind-$suite.log" | sed "s/^integration/  valgrind $suite/" | tee -a "$logs/summary"
    grep -q '^integration: [0-9]* passed, 0 failed' "$logs/valgrind-$suite.log" ||
      grep -vE '^(Running suite)' "$logs/valgrind-$suite.log" | tail -n 80
  done

  echo "== fuzz: libFuzzer targets, briefly (tests/fuzz/run.sh SECONDS for longer) =="
  bash "$top/tests/fuzz/run.sh" "${MIGRATED_FUZZ_SECONDS:-15}" | tee "$logs/fuzz.log" | sed -n '/^  fuzz/p'
  grep -E '^fuzz: [0-9]+ passed' "$logs/fuzz.log" | sed 's/^/  /' | tee -a "$logs/summary"
  grep -q '^fuzz: [0-9]* passed, 0 failed' "$logs/fuzz.log" || status=1

  # The package under a real systemd (boots Debian 12 in systemd-nspawn; the first run builds its
  # root filesystem with mmdebstrap from Debian's mirror, cached in /var/tmp/migrated-nspawn).
  echo "== nspawn: the package under a real systemd (scripts/systemd-nspawn-test.sh) =="
  if [ "$(id -u)" = 0 ] && ls "$top"/build/deb/migrated_*.deb >/dev/null 2>&1; then
    "$top/scripts/systemd-nspawn-test.sh" >"$logs/nspawn.log" 2>&1 || status=1
    grep -E '^nspawn: [0-9]+ passed' "$logs/nspawn.log" | sed 's/^/  /' | tee -a "$logs/summary" ||
      { status=1; tail -n 30 "$logs/nspawn.log"; echo "  nspawn: 0 passed, 1 failed" | tee -a "$logs/summary"; }
    grep -q '^nspawn: [0-9]* passed, 0 failed' "$logs/nspawn.log" || grep -E '^  (no|FAIL)' "$logs/nspawn.log" | head -n 20
  else
    echo "  nspawn: not run (needs root and the package from the deb step), 1 skipped" | tee -a "$logs/summary"
  fi

  echo "== make distcheck =="
  # The tarball builds, installs and passes its unit tests and the core integration suites
  # (everything else ran above on the same sources; a third full run would only cost time).
  if MD_TEST_SUITES=cli,deploy,failure,status,resolve,lock,api,hostile make -C "$build" distcheck >"$logs/distcheck.log" 2>&1; then
    echo "  distcheck: 1 passed, 0 failed" | tee -a "$logs/summary"
  else
    status=1; tail -n 40 "$logs/distcheck.log"
    echo "  distcheck: 0 passed, 1 failed" | tee -a "$logs/summary"
  fi
fi

passed=$(sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$logs/summary" | paste -sd+ | bc)
failed=$(sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$logs/summary" | paste -sd+ | bc)
skipped=$(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' "$logs/summary" | paste -sd+ | bc)
if [ "${skipped:-0}" != 0 ]; then # counted apart: a skipped test proved nothing
  echo "${skipped} skipped, not counted as passed:"
  for f in "$build"/tests/integration/run_integration.log "$logs"/pg[0-9]*.log; do
    [ -f "$f" ] || continue
    tag=$(basename "$f" .log); [ "$tag" = run_integration ] && tag=plain
    grep -h '^SKIP ' "$f" | sed "s/^SKIP /  $tag: /"
  done | sort -u
fi
[ "${failed:-0}" = 0 ] || status=1
[ -n "$passed" ] || { passed=0; status=1; }
echo "${passed} passed, ${failed:-0} failed"
exit $status
