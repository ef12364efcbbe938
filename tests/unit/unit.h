/* unit.h - the unit suites (pure modules, no database), run by tests/unit/main.c. */
#ifndef MIGRATED_TEST_UNIT_H
#define MIGRATED_TEST_UNIT_H

#include <check.h>

Suite *suite_sqlsplit(void);
Suite *suite_checksum(void);
Suite *suite_collate(void);
Suite *suite_catalog(void);
Suite *suite_plan(void);
Suite *suite_config(void);
Suite *suite_dburl(void);
Suite *suite_redact(void);
Suite *suite_journal(void);
Suite *suite_backup(void);
Suite *suite_lint(void);
Suite *suite_unfinished(void);
Suite *suite_replay(void);
Suite *suite_tokens(void);
Suite *suite_render(void);
Suite *suite_ddl(void);
Suite *suite_notify(void);
Suite *suite_targets(void);
Suite *suite_fleet_sched(void);

#endif
