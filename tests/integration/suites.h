/* suites.h - every integration suite the runner runs, in order. */
#ifndef MIGRATED_TEST_SUITES_H
#define MIGRATED_TEST_SUITES_H

#include <check.h>

Suite *suite_cli(void);
Suite *suite_deploy(void);
Suite *suite_failure(void);
Suite *suite_status(void);
Suite *suite_resolve(void);
Suite *suite_lock(void);
Suite *suite_crash(void);
Suite *suite_connect(void);
Suite *suite_corpus(void);
Suite *suite_prisma(void);
Suite *suite_api(void);
Suite *suite_daemon(void);
Suite *suite_service(void);
Suite *suite_systemd(void);
Suite *suite_backup(void);
Suite *suite_rollback(void);
Suite *suite_safety(void);
Suite *suite_unfinished(void);
Suite *suite_hostile(void);
Suite *suite_tls(void);
Suite *suite_pgbouncer(void);
Suite *suite_versions(void);
Suite *suite_preflight(void);
Suite *suite_notify(void);
Suite *suite_pipeline(void);
Suite *suite_cli_fleet(void);
Suite *suite_fleet(void);

#endif
