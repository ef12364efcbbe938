/* test_lock.c - the migration lock (Prisma's pg_advisory_lock(72707369)) and lock_timeout:
 * a bounded wait that names the holder, a wait that ends when the holder lets go, lock
 * timeouts retried with backoff, and two deploys at once applying everything exactly once. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static PGconn *hold_migration_lock(const char *db)
{
	PGconn *c = h_connect(db, "lock-holder-app");
	PGresult *res = PQexec(c, "SELECT pg_advisory_lock(72707369)");
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	return c;
}

ITEST(busy_lock_wait_is_bounded_and_names_the_holder)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	PGconn *holder = hold_migration_lock(db);
	int pid = PQbackendPID(holder);
	char pidtext[32];
	snprintf(pidtext, sizeof pidtext, "pid %d", pid);
	time_t t0 = time(NULL);
	h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "1s", "--migrations", dir, NULL);
	ck_assert_int_le(time(NULL) - t0, 5);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "Waiting up to 1.0 s for the migration lock");
	h_assert_contains(r.err, "P1002");
	h_assert_contains(r.err, "pg_advisory_lock(72707369)");
	h_assert_contains(r.err, pidtext);
	h_assert_contains(r.err, "lock-holder-app");
	h_assert_contains(r.err, "pg_terminate_backend");
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('a') IS NULL", "t");
	PQfinish(holder);
}

ITEST(lock_wait_comes_from_the_config_file_too)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char conf[700], line[900];
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	snprintf(conf, sizeof conf, "%s/migrated.conf", h_tmpdir());
	snprintf(line, sizeof line, "# test\nadvisory_lock_timeout = 300ms\nmigrations = %s\n", dir);
	h_write(conf, line, strlen(line));
	PGconn *holder = hold_migration_lock(db);
	h_migrated(&r, h_env_url(db), "deploy", "--config", conf, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "timed out after 0.3 s");
	h_result_free(&r);
	PQfinish(holder);
}

ITEST(deploy_proceeds_when_the_holder_lets_go)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	PGconn *holder = hold_migration_lock(db);
	snprintf(out, sizeof out, "%s/deploy.out", h_tmpdir());
	int pid = h_migrated_bg(out, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
	h_sleep_ms(1000);
	PQfinish(holder);
	int rc = h_wait(pid, 30);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 0, "deploy exit %d:\n%s", rc, text);
	h_assert_contains(text, "Waiting up to 20.0 s");
	free(text);
	h_assert_q(db, "SELECT to_regclass('a') IS NOT NULL", "t");
}

ITEST(deploy_with_nothing_pending_does_not_wait_for_the_lock)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
	PGconn *holder = hold_migration_lock(db);
	time_t t0 = time(NULL);
	h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "No pending migrations to apply.");
	h_assert_not_contains(r.out, "Waiting");
	ck_assert_int_le(time(NULL) - t0, 3);
	h_result_free(&r);
	PQfinish(holder);
}

static void create_busy_table(const char *db, const char *dir)
{
	struct h_result r;
	h_mig(dir, "20240101000000_busy", "CREATE TABLE busy (id int);");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
}

ITEST(lock_timeout_is_retried_until_the_table_is_free)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	create_busy_table(db, dir);
	h_mig(dir, "20240102000000_alter", "CREATE TABLE other (id int);\nALTER TABLE busy ADD COLUMN c int;");
	PGconn *app = h_connect(db, "app-holding-busy");
	PGresult *res = PQexec(app, "BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE;");
	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	snprintf(out, sizeof out, "%s/deploy.out", h_tmpdir());
	int pid = h_migrated_bg(out, h_env_url(db), "MIGRATED_LOCK_RETRY_BACKOFF=200ms", "deploy", "--lock-timeout",
				"300ms", "--lock-retries", "10", "--migrations", dir, NULL);
	h_sleep_ms(1500);
	res = PQexec(app, "COMMIT");
	PQclear(res);
	int rc = h_wait(pid, 60);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 0, "deploy exit %d:\n%s", rc, text);
	h_assert_contains(text, "lock_timeout reached waiting for a lock (SQLSTATE 55P03); retrying");
	free(text);
	PQfinish(app);
	h_assert_q(db,
		   "SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'c'",
		   "1");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "2");
}

ITEST(lock_timeout_retries_run_out_and_nothing_remains)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	create_busy_table(db, dir);
	h_mig(dir, "20240102000000_alter", "CREATE TABLE other (id int);\nALTER TABLE busy ADD COLUMN c int;");
	PGconn *app = h_connect(db, "app-holding-busy");
	PGresult *res = PQexec(app, "BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE;");
	PQclear(res);
	h_migrated(&r, h_env_url(db), "MIGRATED_LOCK_RETRY_BACKOFF=100ms", "deploy", "--lock-timeout", "200ms",
		   "--lock-retries", "2", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "attempt 3 of 3");
	h_assert_contains(r.out, "55P03");
	h_assert_contains(r.out, "line 2, column 1");
	h_assert_contains(r.out, "nothing of it remains");
	h_result_free(&r);
	PQfinish(app);
	h_assert_q(db, "SELECT to_regclass('other') IS NULL", "t");
}

ITEST(two_deploys_at_once_apply_each_migration_exactly_once)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out1[700], out2[700], name[64], sql[200];
	h_mig(dir, "20240101000000_counter", "CREATE TABLE counter (n int);");
	for (int i = 1; i <= 10; i++) {
		snprintf(name, sizeof name, "202401020000%02d_m%d", i, i);
		snprintf(sql, sizeof sql, "SELECT pg_sleep(0.05); INSERT INTO counter VALUES (%d);", i);
		h_mig(dir, name, sql);
	}
	snprintf(out1, sizeof out1, "%s/one.out", h_tmpdir());
	snprintf(out2, sizeof out2, "%s/two.out", h_tmpdir());
	int p1 = h_migrated_bg(out1, h_env_url(db), "deploy", "--lock-wait", "30s", "--migrations", dir, NULL);
	int p2 = h_migrated_bg(out2, h_env_url(db), "deploy", "--lock-wait", "30s", "--migrations", dir, NULL);
	int rc1 = h_wait(p1, 60), rc2 = h_wait(p2, 60);
	ck_assert_int_eq(rc1, 0);
	ck_assert_int_eq(rc2, 0);
	h_assert_q(db, "SELECT count(*)::text || '/' || count(DISTINCT n)::text FROM counter", "10/10");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "11");
}

Suite *suite_lock(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, busy_lock_wait_is_bounded_and_names_the_holder);
	tcase_add_test(tc, lock_wait_comes_from_the_config_file_too);
	tcase_add_test(tc, deploy_proceeds_when_the_holder_lets_go);
	tcase_add_test(tc, lock_timeout_is_retried_until_the_table_is_free);
	tcase_add_test(tc, lock_timeout_retries_run_out_and_nothing_remains);
	tcase_add_test(tc, two_deploys_at_once_apply_each_migration_exactly_once);
	tcase_add_test(tc, deploy_with_nothing_pending_does_not_wait_for_the_lock);
	suite_add_tcase(s, tc);
	return s;
}
