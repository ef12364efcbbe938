/* main.c - the integration test runner: starts the one PostgreSQL cluster, runs every suite
 * (each test in its own process, Check's fork mode), prints the server log of failed tests,
 * stops the cluster, and ends with "N passed, N failed". Set MD_TEST_KEEP=1 to keep the
 * cluster's directory; MD_TEST_SUITES=a,b runs those suites only; CK_RUN_SUITE / CK_RUN_CASE
 * select one (Check's own variables). */
#include "harness.h"
#include "suites.h"

#include <stdbool.h>
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
	static const struct {
		const char *name;
		Suite *(*make)(void);
	} suites[] = {
		{"cli", suite_cli},
		{"deploy", suite_deploy},
		{"failure", suite_failure},
		{"status", suite_status},
		{"resolve", suite_resolve},
		{"lock", suite_lock},
		{"crash", suite_crash},
		{"connect", suite_connect},
		{"corpus", suite_corpus},
		{"prisma", suite_prisma},
		{"api", suite_api},
		{"daemon", suite_daemon},
		{"service", suite_service},
		{"systemd", suite_systemd},
		{"backup", suite_backup},
		{"rollback", suite_rollback},
		{"safety", suite_safety},
		{"unfinished", suite_unfinished},
		{"hostile", suite_hostile},
		{"tls", suite_tls},
		{"pgbouncer", suite_pgbouncer},
		{"versions", suite_versions},
		{"preflight", suite_preflight},
		{"notify", suite_notify},
		{"pipeline", suite_pipeline},
		{"cli_fleet", suite_cli_fleet},
		{"fleet", suite_fleet},
	};
	/* MD_TEST_SUITES="deploy,crash": only those (one cluster for several suites; Check's own
	 * CK_RUN_SUITE takes one name). */
	const char *only = getenv("MD_TEST_SUITES");
	SRunner *sr;
	int run, failed;
	const char *keep = getenv("MD_TEST_KEEP");

	if (h_cluster_start() < 0)
		return 99;
	sr = srunner_create(NULL);
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		if (only && *only) {
			char want[64];
			snprintf(want, sizeof want, ",%s,", suites[i].name);
			size_t n = strlen(only);
			char *list = malloc(n + 3);
			snprintf(list, n + 3, ",%s,", only);
			bool chosen = strstr(list, want) != NULL;
			free(list);
			if (!chosen)
				continue;
		}
		srunner_add_suite(sr, suites[i].make());
	}
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
