/* test_unfinished.c - unfinished `_prisma_migrations` rows that migrated did not start in one
 * transaction are never applied again by themselves (P3009, with what may remain listed), and a
 * migration another session is running now shows as `running`, not failed, in status, health,
 * readiness and metrics. Rows "left by Prisma 7" are written here with SQL exactly as Prisma 7.4+
 * leaves them (random v4 id, finished_at and logs NULL, earlier statements committed); the same
 * cases against the real Prisma CLIs are in test_prisma.c. */
#include "harness.h"
#include "suites.h"
#include "migrated/macro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOW_FILE "INSERT INTO ok1 VALUES (42);\nSELECT 1;\nCREATE TABLE z (id int);\n"

/* base creates ok1; slow is the file: its first statement committed, the rest not. */
static void base_and_slow(const char *db, const char *dir)
{
	struct h_result r;
	h_mig(dir, "20240101000000_base", "CREATE TABLE ok1 (n int);");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_mig(dir, "20240102000000_slow", SLOW_FILE);
}

/* What a killed Prisma 7.4+ deploy leaves: the first statement committed, a started row.
 * id_sql is the SQL expression for the id (a v4 uuid unless a test wants a marked one). */
static void leave_unfinished_row(const char *db, const char *id_sql, const char *logs_sql, int steps,
				 const char *started_sql)
{
	char sql[1200];
	h_exec(db, "INSERT INTO ok1 VALUES (42)");
	snprintf(sql, sizeof sql,
		 "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count) "
		 "VALUES (%s, repeat('0', 64), '20240102000000_slow', %s, %s, %d)",
		 id_sql, logs_sql, started_sql, steps);
	h_exec(db, sql);
}

/* A marked id of migrated for the tag ("7478" transaction, "7377" statement by statement). */
static char *marked_id_sql(const char *tag_hex)
{
	char *s = NULL;
	ck_assert(asprintf(&s,
			   "substr(md5(random()::text), 1, 8) || '-' || substr(md5(random()::text), 1, 4) || '-8' || "
			   "substr(md5(random()::text), 1, 3) || '-a' || substr(md5(random()::text), 1, 3) || "
			   "'-6d696772%s'",
			   tag_hex) > 0);
	return s;
}

static void assert_not_applied_twice(const char *db)
{
	h_assert_q(db, "SELECT count(*) FROM ok1", "1");
	h_assert_q(db, "SELECT (to_regclass('z') IS NULL)::text", "true");
}

ITEST(rows_migrated_writes_record_how_it_ran_the_migration_in_their_id)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_tx", "CREATE TABLE t (id int); CREATE INDEX t_id ON t (id);");
	h_mig(dir, "20240102000000_single", "CREATE INDEX CONCURRENTLY t_id2 ON t (id);");
	h_mig(dir, "20240103000000_stepwise", "CREATE INDEX CONCURRENTLY t_id3 ON t (id);\nINSERT INTO t VALUES (1);");
	h_mig(dir, "20240104000000_script", "BEGIN;\nINSERT INTO t VALUES (2);\nCOMMIT;\n");
	h_deploy_ok(db, dir);
	h_assert_q(db,
		   "SELECT string_agg(migration_name || '=' || "
		   "CASE WHEN id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-6d696772[0-9a-f]{4}$' "
		   "THEN right(id, 4) ELSE 'unmarked' END, ',' ORDER BY migration_name) FROM _prisma_migrations",
		   "20240101000000_tx=7478,20240102000000_single=7331,20240103000000_stepwise=7377,"
		   "20240104000000_script=7363");
}

ITEST(an_unfinished_row_another_tool_left_is_refused_with_p3009_and_never_applied_twice)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	base_and_slow(db, dir);
	/* The file runs as one transaction in migrated; the row says nothing about how it ran. */
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp()");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 1, "deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "The `20240102000000_slow` migration started at");
	h_assert_contains(r.err, "started by Prisma or another tool, not by migrated");
	h_assert_contains(r.err, "it stopped without recording an error");
	h_assert_contains(r.err, "Prisma 7.4 and later send a file statement by statement");
	h_assert_contains(r.err, "1. line 1: INSERT INTO ok1 VALUES (42)");
	h_assert_contains(r.err, "2. line 2: SELECT 1");
	h_assert_contains(r.err, "3. line 3: CREATE TABLE z (id int)");
	h_assert_contains(r.err, "resolve --rolled-back \"20240102000000_slow\"");
	h_assert_not_contains(r.out, "Recovered");
	h_result_free(&r);
	assert_not_applied_twice(db);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NULL AND finished_at IS NULL",
		   "1");
	/* status says the same, and what may remain, in JSON for machines */
	h_migrated(&r, h_env_url(db), "status", "--json", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	json_t *j = json_loads(r.out, 0, NULL);
	ck_assert_msg(j != NULL, "status --json: %s", r.out);
	json_t *m = json_array_get(json_object_get(j, "migrations"), 1);
	ck_assert_str_eq(h_jstr(m, "state"), "failed");
	ck_assert_str_eq(h_jstr(m, "started_by"), "other");
	ck_assert_str_eq(h_jstr(m, "remains"), "unknown");
	ck_assert(json_is_false(json_object_get(m, "recoverable")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "may_remain"), "to")), 3);
	json_decref(j);
	h_result_free(&r);
}

ITEST(a_failed_row_with_another_tools_error_says_the_failing_statement_left_nothing)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	base_and_slow(db, dir);
	leave_unfinished_row(
		db, "gen_random_uuid()::text",
		"'external connector error\nError querying the database: ERROR: relation \"nope\" does not "
		"exist'",
		0, "clock_timestamp()");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "it failed: relation \"nope\" does not exist.");
	h_assert_contains(r.err, "any statement before the one that failed may have been committed.");
	h_result_free(&r);
	assert_not_applied_twice(db);
}

ITEST(an_interrupted_statement_by_statement_row_of_migrated_names_what_was_committed)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	_cleanup_free_ char *id = marked_id_sql("7377");
	base_and_slow(db, dir);
	leave_unfinished_row(db, id, "NULL", 1, "clock_timestamp()");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "migrated ran it statement by statement");
	h_assert_contains(r.err, "Statement 1 of 3 was committed and remains.");
	h_assert_contains(r.err, "Statement 2 may also have been committed before it stopped:");
	h_assert_contains(r.err, "2. line 2: SELECT 1");
	h_result_free(&r);
	assert_not_applied_twice(db);
}

ITEST(an_interrupted_transactional_row_of_migrated_is_recovered_once)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	_cleanup_free_ char *id = marked_id_sql("7478");
	_cleanup_free_ char *sum = NULL;
	char path[900], sql[400];
	h_mig(dir, "20240101000000_base", "CREATE TABLE ok1 (n int);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_slow", SLOW_FILE);
	snprintf(path, sizeof path, "%s/20240102000000_slow/migration.sql", dir);
	sum = h_sha256sum(path);
	/* One transaction that never committed: nothing of it remains, only the row. */
	snprintf(sql, sizeof sql,
		 "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES (%s, '%s', "
		 "'20240102000000_slow', clock_timestamp())",
		 id, sum);
	h_exec(db, sql);
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "Recovered 20240102000000_slow");
	h_result_free(&r);
	h_assert_q(db, "SELECT count(*) FROM ok1", "1");
	h_assert_q(db, "SELECT (to_regclass('z') IS NOT NULL)::text", "true");
}

/* Holds the migration lock in a session of its own, as a Prisma deploy does while it runs. */
static PGconn *hold_migration_lock(const char *db, int *ret_pid)
{
	PGconn *c = h_connect(db, "prisma-migrate");
	PGresult *res = PQexec(c, "SELECT pg_advisory_lock(72707369), pg_backend_pid()");
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	*ret_pid = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	return c;
}

ITEST(status_calls_a_migration_another_session_is_running_running_with_its_holder)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	char want_pid[32];
	int pid;
	base_and_slow(db, dir);
	PGconn *holder = hold_migration_lock(db, &pid);
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp()");
	h_migrated(&r, h_env_url(db), "status", "--json", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1); /* not up to date, and nothing failed */
	json_t *j = json_loads(r.out, 0, NULL);
	ck_assert_msg(j != NULL, "%s", r.out);
	json_t *m = json_array_get(json_object_get(j, "migrations"), 1);
	ck_assert_str_eq(h_jstr(m, "state"), "running");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "lock_holder"), "pid")), pid);
	ck_assert_str_eq(h_jstr(m, "lock_holder.application_name"), "prisma-migrate");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "running")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "summary"), "failed")), 0);
	json_decref(j);
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	snprintf(want_pid, sizeof want_pid, "being applied now by pid %d", pid);
	h_assert_contains(r.out, "RUNNING");
	h_assert_contains(r.out, want_pid);
	h_assert_not_contains(r.out, "FAILED");
	h_result_free(&r);
	/* The session ends without finishing it: now it failed. */
	PQfinish(holder);
	h_migrated(&r, h_env_url(db), "status", "--json", "--migrations", dir, NULL);
	j = json_loads(r.out, 0, NULL);
	ck_assert_str_eq(h_jstr(json_array_get(json_object_get(j, "migrations"), 1), "state"), "failed");
	json_decref(j);
	h_result_free(&r);
}

ITEST(a_row_older_than_the_lock_holders_session_is_failed_not_running)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	int pid;
	base_and_slow(db, dir);
	/* Yesterday's failure; someone else holds the lock today (a psql session, a resolve). */
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp() - interval '1 day'");
	PGconn *holder = hold_migration_lock(db, &pid);
	h_migrated(&r, h_env_url(db), "status", "--json", "--migrations", dir, NULL);
	json_t *j = json_loads(r.out, 0, NULL);
	ck_assert_msg(j != NULL, "%s", r.out);
	ck_assert_str_eq(h_jstr(json_array_get(json_object_get(j, "migrations"), 1), "state"), "failed");
	json_decref(j);
	h_result_free(&r);
	PQfinish(holder);
}

ITEST(a_deploy_waits_for_the_session_running_a_migration_then_refuses_what_it_left)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char out[700];
	int pid, status;
	base_and_slow(db, dir);
	PGconn *holder = hold_migration_lock(db, &pid);
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp()");
	snprintf(out, sizeof out, "%s/deploy.out", h_tmpdir());
	int child = h_migrated_bg(out, h_env_url(db), "deploy", "--lock-wait", "20s", "--migrations", dir, NULL);
	h_sleep_ms(1500);
	/* Not refused from the preflight: it waits for the lock, as for any running deploy. */
	ck_assert_msg(waitpid(child, &status, WNOHANG) == 0, "deploy ended while the other session ran:\n%s",
		      h_read(out, NULL));
	PQfinish(holder);
	int rc = h_wait(child, 30);
	char *text = h_read(out, NULL);
	ck_assert_msg(rc == 1, "exit %d\n%s", rc, text);
	h_assert_contains(text, "P3009");
	h_assert_contains(text, "1. line 1: INSERT INTO ok1 VALUES (42)");
	free(text);
	assert_not_applied_twice(db);
}

ITEST(resolve_rolled_back_on_a_row_another_tool_left_says_what_to_undo)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	base_and_slow(db, dir);
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp()");
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_slow", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "marked as rolled back");
	h_assert_contains(r.out, "Check: it was started by Prisma or another tool");
	h_assert_contains(r.out, "1. line 1: INSERT INTO ok1 VALUES (42)");
	h_assert_contains(r.out, "Undo what took effect before the next deploy");
	h_result_free(&r);
	/* --json carries the same for machines */
	h_exec(db, "UPDATE _prisma_migrations SET rolled_back_at = NULL WHERE migration_name = '20240102000000_slow'");
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_slow", "--json", "--migrations", dir,
		   NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	json_t *j = json_loads(r.out, 0, NULL);
	ck_assert_msg(j != NULL, "%s", r.out);
	ck_assert_str_eq(h_jstr(j, "remains"), "unknown");
	ck_assert_str_eq(h_jstr(j, "started_by"), "other");
	json_decref(j);
	h_result_free(&r);
}

/* GET /v1/status until migration i is in state want (the daemon caches status briefly). */
static void wait_status_state(struct h_daemon *d, size_t i, const char *want)
{
	for (int k = 0; k < 100; k++) {
		struct h_http h;
		h_request(&h, d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
		const char *st =
			h.json ? h_jstr(json_array_get(json_object_get(h.json, "migrations"), i), "state") : NULL;
		bool done = st && strcmp(st, want) == 0;
		h_http_free(&h);
		if (done)
			return;
		h_sleep_ms(100);
	}
	ck_abort_msg("GET /v1/status never showed migration %zu %s", i, want);
}

static json_t *check_named(json_t *health, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(health, "checks"), i, c) if (strcmp(h_jstr(c, "name"), name) == 0) return c;
	return NULL;
}

ITEST(the_daemon_reports_a_running_migration_without_paging_and_refuses_what_it_left)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_daemon d = {0};
	struct h_http h;
	int pid;
	base_and_slow(db, dir);
	h_daemon_start(&d, db, dir, "MIGRATED_PROBE_INTERVAL=200ms", NULL);
	PGconn *holder = hold_migration_lock(db, &pid);
	leave_unfinished_row(db, "gen_random_uuid()::text", "NULL", 0, "clock_timestamp()");
	/* status: running; health: ok (nobody is paged for work in progress); not ready */
	wait_status_state(&d, 1, "running");
	for (int i = 0; i < 50; i++) {
		h_request(&h, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
		json_t *c = h.json ? check_named(h.json, "migrations") : NULL;
		if (c && json_integer_value(json_object_get(c, "running")) == 1)
			break;
		h_http_free(&h);
		h_sleep_ms(100);
	}
	ck_assert_msg(h.status == 200, "health %ld: %s", h.status, h.body);
	ck_assert_str_eq(h_jstr(h.json, "status"), "ok");
	json_t *c = check_named(h.json, "migrations");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "running")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "failed")), 0);
	h_assert_contains(h_jstr(c, "message"), "a migration is being applied now: 20240102000000_slow");
	h_http_free(&h);
	h_request(&h, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(h.status, 503);
	h_assert_contains(h.body, "a migration is being applied");
	h_http_free(&h);
	h_request(&h, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	h_assert_contains(h.body, "migrated_migrations{state=\"running\"} 1");
	h_assert_contains(h.body, "migrated_migrations{state=\"failed\"} 0");
	h_http_free(&h);
	h_request(&h, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	json_t *m = json_array_get(json_object_get(h.json, "migrations"), 1);
	ck_assert_str_eq(h_jstr(m, "state"), "running");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "lock_holder"), "pid")), pid);
	h_http_free(&h);
	/* The session ends: a deploy job now refuses the row it left, listing what may remain. */
	PQfinish(holder);
	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	h_assert_contains(h_jstr(job, "error.message"), "Prisma 7.4 and later send a file statement by statement");
	h_assert_contains(h_jstr(job, "error.message"), "1. line 1: INSERT INTO ok1 VALUES (42)");
	json_decref(job);
	free(id);
	assert_not_applied_twice(db);
	h_daemon_stop(&d);
}

Suite *suite_unfinished(void)
{
	Suite *s = suite_create("unfinished");
	TCase *tc = tcase_create("unfinished");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, rows_migrated_writes_record_how_it_ran_the_migration_in_their_id);
	tcase_add_test(tc, an_unfinished_row_another_tool_left_is_refused_with_p3009_and_never_applied_twice);
	tcase_add_test(tc, a_failed_row_with_another_tools_error_says_the_failing_statement_left_nothing);
	tcase_add_test(tc, an_interrupted_statement_by_statement_row_of_migrated_names_what_was_committed);
	tcase_add_test(tc, an_interrupted_transactional_row_of_migrated_is_recovered_once);
	tcase_add_test(tc, status_calls_a_migration_another_session_is_running_running_with_its_holder);
	tcase_add_test(tc, a_row_older_than_the_lock_holders_session_is_failed_not_running);
	tcase_add_test(tc, a_deploy_waits_for_the_session_running_a_migration_then_refuses_what_it_left);
	tcase_add_test(tc, resolve_rolled_back_on_a_row_another_tool_left_says_what_to_undo);
	tcase_add_test(tc, the_daemon_reports_a_running_migration_without_paging_and_refuses_what_it_left);
	suite_add_tcase(s, tc);
	return s;
}
