/* main.c - runs every unit suite and ends with "unit: N passed, N failed". */
#include "unit.h"

#include <stdio.h>

int main(void)
{
	Suite *(*const suites[])(void) = {suite_sqlsplit, suite_checksum, suite_collate,    suite_catalog,
					  suite_plan,     suite_config,   suite_dburl,      suite_redact,
					  suite_journal,  suite_backup,   suite_lint,       suite_unfinished,
					  suite_replay,   suite_tokens,   suite_render,     suite_ddl,
					  suite_notify,   suite_targets,  suite_fleet_sched};
	SRunner *sr = srunner_create(NULL);
	int run, failed;

	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("unit: %d passed, %d failed\n", run - failed, failed);
	return failed ? 1 : 0;
}
