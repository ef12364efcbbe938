/* test_crash.c - the deploy process dies or is stopped mid-migration: SIGKILL, a connection
 * killed by the server, SIGTERM. History stays consistent and every migration is applied
 * exactly once. */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void counter_migrations(const char *dir, const char *slow_sql)
{
	h_mig(dir, "20240101000000_a", "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);");
	h_mig(dir, "20240102000000_slow", slow_sql);
	h_mig(dir, "20240103000000_c", "INSERT INTO counter VALUES (3);");
}

/* Waits until a backend of the migrated process runs a query containing `needle`. */
static int wait_for_query(const char *db, const char *needle)
{
	char sql[300];
	snprintf(
		sql, sizeof sql,
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'migrated' "
		"AND query LIKE '%%%s%%' "
		"AND state = 'active'",
		needle);
	for (int i = 0; i < 100; i++) {
		char *pid = h_q1(db, sql);
		if (pid && *pid) {
			int p = atoi(pid);
			free(pid);
			return p;
		}
		free(pid);
		h_sleep_ms(100);
	}
	ck_abort_msg("no migrated backend ran %s", needle);
	return 0;
}

/* Starts a deploy in the background and returns once its migration sits in pg_sleep; *ret_backend
 * (may be NULL) gets the server pid running it, out the path of its output. */
static int deploy_until_sleeping(const char *db, const char *dir, char *out, size_t outsz, int *ret_backend)
{
	snprintf(out, outsz, "%s/first.out", h_tmpdir());
	int pid = h_migrated_bg(out, h_env_url(db), "deploy", "--migrations", dir, NULL);
	int backend = wait_for_query(db, "pg_sleep");
	if (ret_backend)
		*ret_backend = backend;
	return pid;
}

static void terminate_backend(const char *db, int backend)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", backend);
	h_exec(db, sql);
}

ITEST(sigkill_inside_a_transactional_migration_then_redeploy_applies_it_once)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	struct h_result r;
	counter_migrations(dir, "CREATE TABLE slow (id int); SELECT pg_sleep(6); INSERT INTO counter VALUES (2);");
	int pid = deploy_until_sleeping(db, dir, out, sizeof out, NULL);
	kill(-pid, SIGKILL);
	h_wait(pid, 10);
	h_assert_q(db,
		   "SELECT (finished_at IS NULL)::text || (logs IS NULL)::text FROM _prisma_migrations "
		   "WHERE migration_name = '20240102000000_slow'",
		   "truetrue");
	h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "redeploy exit %d\n%s%s", r.rc, r.out, r.err);
	if (h_server_major() >= 14) {
		/* client_connection_check_interval: the server noticed the dead client and rolled back. */
		h_assert_contains(r.out, "Recovered 20240102000000_slow");
		h_assert_q(db,
			   "SELECT (logs LIKE '%interrupted%')::text FROM _prisma_migrations WHERE rolled_back_at IS "
			   "NOT NULL",
			   "true");
	} else {
		/* PostgreSQL 13 cannot notice a dead client mid-statement. The orphaned backend either
		 * ran the rest of the one-transaction file and committed it (the redeploy waited for
		 * the lock and found it applied), or, when the dead client's socket was reset with
		 * results unread (pipelined deploys ask for results as each migration starts), lost
		 * the rest of its input and rolled back (the redeploy recovered it). Either way: once. */
		h_assert_contains(r.out, "20240103000000_c");
	}
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3");
	h_assert_q(db,
		   "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		   "3");
}

/* On PostgreSQL 13 a backend whose client died keeps running its statement (and holding the
 * migration lock) until the statement ends; an operator ends it as migrated's P1002 message
 * says. 14+ notices within a second (client_connection_check_interval). */
static void end_orphaned_backend_on_13(const char *db)
{
	if (h_server_major() >= 14)
		return;
	h_exec(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'migrated' AND "
		   "query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()");
	h_wait_advisory_lock_free(db);
}

/* Sleeps 30 s unless the table go_fast exists: the same file is slow the first time only. */
#define SLOW_ONCE                                                                         \
	"CREATE TABLE slow (id int);\n"                                                   \
	"SELECT pg_sleep(CASE WHEN to_regclass('go_fast') IS NULL THEN 30 ELSE 0 END);\n" \
	"INSERT INTO counter VALUES (2);\n"

ITEST(connection_killed_by_the_server_is_reported_and_recovered)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	struct h_result r;
	counter_migrations(dir, SLOW_ONCE);
	int backend, pid = deploy_until_sleeping(db, dir, out, sizeof out, &backend);
	terminate_backend(db, backend);
	int rc = h_wait(pid, 20);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 1, "exit %d\n%s", rc, text);
	h_assert_contains(text, "connection to the database was lost; the server rolled the migration back");
	h_assert_contains(text, "The next deploy will see that it was interrupted and apply it again");
	free(text);
	h_exec(db, "CREATE TABLE go_fast ()");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "Recovered 20240102000000_slow");
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3");
}

ITEST(interrupted_migration_edited_since_is_not_reapplied_blindly)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	struct h_result r;
	counter_migrations(dir, SLOW_ONCE);
	int backend, pid = deploy_until_sleeping(db, dir, out, sizeof out, &backend);
	terminate_backend(db, backend);
	h_wait(pid, 20);
	/* What ran is not what is in the folder now: a human must say what happened. */
	h_mig(dir, "20240102000000_slow", "CREATE TABLE slow (id int); INSERT INTO counter VALUES (2);");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "migration.sql has changed since it started");
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_slow", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3");
}

ITEST(interrupted_statement_by_statement_migration_needs_resolve)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	struct h_result r;
	counter_migrations(dir, "-- migrated:no-transaction\nINSERT INTO counter VALUES (2);\nSELECT "
				"pg_sleep(30);\nINSERT INTO counter VALUES (22);\n");
	int pid = deploy_until_sleeping(db, dir, out, sizeof out, NULL);
	kill(-pid, SIGKILL);
	h_wait(pid, 10);
	end_orphaned_backend_on_13(db);
	h_migrated(&r, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "migrated ran it statement by statement");
	h_assert_contains(r.err, "Statement 1 of 3 was committed and remains.");
	h_assert_contains(r.err, "Statement 2 may also have been committed before it stopped:");
	h_assert_contains(r.err, "2. line 3: SELECT pg_sleep(30)");
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2");
}

ITEST(sigterm_cancels_the_running_statement_and_records_it)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	struct h_result r;
	counter_migrations(dir, "CREATE TABLE slow (id int); SELECT pg_sleep(60); INSERT INTO counter VALUES (2);");
	int pid = deploy_until_sleeping(db, dir, out, sizeof out, NULL);
	time_t t0 = time(NULL);
	kill(pid, SIGTERM);
	int rc = h_wait(pid, 20);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 1, "exit %d\n%s", rc, text);
	ck_assert_int_le(time(NULL) - t0, 5);
	h_assert_contains(text, "cancelled on request and is recorded as rolled back");
	free(text);
	h_assert_q(db,
		   "SELECT (to_regclass('slow') IS NULL)::text || (rolled_back_at IS NOT NULL)::text FROM "
		   "_prisma_migrations "
		   "WHERE migration_name = '20240102000000_slow'",
		   "truetrue");
	h_mig(dir, "20240102000000_slow", "CREATE TABLE slow (id int); INSERT INTO counter VALUES (2);");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3");
}

Suite *suite_crash(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sigkill_inside_a_transactional_migration_then_redeploy_applies_it_once);
	tcase_add_test(tc, connection_killed_by_the_server_is_reported_and_recovered);
	tcase_add_test(tc, interrupted_migration_edited_since_is_not_reapplied_blindly);
	tcase_add_test(tc, interrupted_statement_by_statement_migration_needs_resolve);
	tcase_add_test(tc, sigterm_cancels_the_running_statement_and_records_it);
	suite_add_tcase(s, tc);
	return s;
}
