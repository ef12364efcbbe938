/* main.c - the integration test runner: starts the one PostgreSQL cluster, runs every suite
 * (each test in its own process, Check's fork mode), prints the server log of failed tests,
 * stops the cluster, and ends with "N passed, N failed". Set MD_TEST_KEEP=1 to keep the
 * cluster's directory; CK_RUN_SUITE / CK_RUN_CASE select tests (Check's own variables). */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer: no leak report for this runner's own throwaway strings. The migrated
 * processes it starts keep leak detection on (the harness sets ASAN_OPTIONS for them). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

int main(void)
{
	Suite *(*const suites[])(void) = {
		suite_cli,     suite_deploy,  suite_failure,   suite_status,   suite_resolve, suite_lock,
		suite_crash,   suite_connect, suite_corpus,    suite_prisma,   suite_api,     suite_daemon,
		suite_service, suite_systemd, suite_backup,    suite_rollback, suite_safety,  suite_unfinished,
		suite_hostile, suite_tls,     suite_pgbouncer, suite_versions};
	SRunner *sr;
	int run, failed;
	const char *keep = getenv("MD_TEST_KEEP");

	if (h_cluster_start() < 0)
		return 99;
	sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		srunner_add_suite(sr, suites[i]());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	h_report_failures();
	int skipped = h_skipped_count();
	srunner_free(sr);
	h_cluster_stop(keep && *keep && strcmp(keep, "0") != 0);
	/* Check counts a skipped test as passed: it is not. */
	printf("integration: %d passed, %d failed, %d skipped\n", run - failed - skipped, failed, skipped);
	return failed ? 1 : 0;
}
