/* test_rollback.c - rollback and post-deploy verification through the real daemon: the
 * runbook's three scenarios end to end (a failed migration resolved and fixed; a good migration
 * whose application check fails, undone exactly with down.sql; damaged data restored from the
 * pre-deploy backup), down rollbacks refused up front, failed migrations in range, kill -9 in
 * the middle of a down rollback, and verification commands and URLs with their policies. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *submit(const struct h_daemon *d, const char *path, const char *body)
{
	struct h_http r;
	h_request(&r, d, "POST", path, H_TOKEN_ADMIN, "application/json", body, NULL);
	ck_assert_msg(r.status == 202, "POST %s %s -> %ld: %s", path, body, r.status, r.body);
	char *id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	return id;
}

static json_t *run_job(const struct h_daemon *d, const char *path, const char *body)
{
	char *id = submit(d, path, body);
	json_t *job = h_wait_job(d, id, 120);
	free(id);
	return job;
}

static void assert_job(json_t *job, const char *state)
{
	ck_assert_msg(strcmp(h_jstr(job, "state"), state) == 0, "job %s, want %s: %s", h_jstr(job, "state"), state,
		      h_jstr(job, "error.message") ? h_jstr(job, "error.message") : "");
}

static void down(const char *dir, const char *name, const char *sql)
{
	char path[900];
	snprintf(path, sizeof path, "%s/%s/down.sql", dir, name);
	h_write(path, sql, strlen(sql));
}

/* A table's rows as one md5, to compare data exactly. */
static char *table_sum(const char *db, const char *table)
{
	char sql[400];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
		 "FROM %s t",
		 table);
	return h_q1(db, sql);
}

ITEST(runbook_1_failed_migration_resolved_rolled_back_then_fixed_and_deployed)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE \"Asset\" (id serial PRIMARY KEY, name text);");
	h_mig(dir, "20240102000000_broken", "ALTER TABLE \"Asset\" ADD COLUMN owner int REFERENCES \"Owner\"(id);");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	h_assert_contains(h_jstr(job, "error.message"), "relation \"Owner\" does not exist");
	json_decref(job);
	/* Deploys are refused until it is resolved, with the next step named. */
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 409);
	ck_assert_str_eq(h_jstr(r.json, "error.detail.prisma_code"), "P3009");
	h_assert_contains(h_jstr(r.json, "error.detail.hint"), "resolve --rolled-back");
	h_http_free(&r);
	job = run_job(&d, "/v1/resolve", "{\"migration\": \"20240102000000_broken\", \"as\": \"rolled-back\"}");
	assert_job(job, "succeeded");
	json_decref(job);
	/* The fix, and the deploy that applies it. */
	h_mig(dir, "20240102000000_broken",
	      "CREATE TABLE \"Owner\" (id serial PRIMARY KEY);\n"
	      "ALTER TABLE \"Asset\" ADD COLUMN owner int REFERENCES \"Owner\"(id);");
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_decref(job);
	h_assert_q(
		db,
		"SELECT string_agg((finished_at IS NOT NULL)::text || '/' || (rolled_back_at IS NOT NULL)::text, ',' "
		"ORDER BY started_at) FROM _prisma_migrations WHERE migration_name = '20240102000000_broken'",
		"false/true,true/false");
	h_assert_q(db,
		   "SELECT count(*) FROM information_schema.columns WHERE table_name = 'Asset' AND column_name = "
		   "'owner'",
		   "1");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(runbook_2_down_rollback_restores_the_previous_schema_exactly_and_records_it)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base",
	      "CREATE TABLE \"Asset\" (id serial PRIMARY KEY, name text);\n"
	      "INSERT INTO \"Asset\" (name) SELECT 'a' || i FROM generate_series(1, 200) i;");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_decref(job);
	char *before = h_schema_dump(db);
	char *rows_before = table_sum(db, "\"Asset\"");
	/* The runbook's example: rejection fields, an index and an enum, each undone by down.sql. */
	h_mig(dir, "20240102000000_rejection",
	      "CREATE TYPE \"Reason\" AS ENUM ('spam', 'duplicate');\n"
	      "ALTER TABLE \"Asset\" ADD COLUMN \"rejectedAt\" timestamp;\n"
	      "ALTER TABLE \"Asset\" ADD COLUMN \"rejectionReason\" \"Reason\";");
	down(dir, "20240102000000_rejection",
	     "ALTER TABLE \"Asset\" DROP COLUMN \"rejectionReason\";\n"
	     "ALTER TABLE \"Asset\" DROP COLUMN \"rejectedAt\";\nDROP TYPE \"Reason\";\n");
	h_mig(dir, "20240103000000_index", "CREATE INDEX \"Asset_rejectedAt_idx\" ON \"Asset\"(\"rejectedAt\");");
	down(dir, "20240103000000_index", "DROP INDEX \"Asset_rejectedAt_idx\";");
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_decref(job);

	job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_base\"}");
	assert_job(job, "succeeded");
	ck_assert_str_eq(h_jstr(job, "kind"), "rollback");
	/* Newest first, one step each, recorded in the result. */
	json_t *rb = json_object_get(json_object_get(job, "result"), "rolled_back");
	ck_assert_uint_eq(json_array_size(rb), 2);
	ck_assert_str_eq(json_string_value(json_array_get(rb, 0)), "20240103000000_index");
	ck_assert_str_eq(json_string_value(json_array_get(rb, 1)), "20240102000000_rejection");
	size_t i, downs = 0;
	json_t *s;
	json_array_foreach(json_object_get(job, "steps"), i, s) downs += strcmp(h_jstr(s, "kind"), "down") == 0;
	ck_assert_uint_eq(downs, 2);
	json_decref(job);
	char *after = h_schema_dump(db);
	ck_assert_msg(strcmp(before, after) == 0, "schema after the rollback differs:\n%s\n---\n%s", before, after);
	char *rows_after = table_sum(db, "\"Asset\"");
	ck_assert_str_eq(rows_after, rows_before);
	/* Recorded as `prisma migrate resolve --rolled-back` leaves a row: deploy applies them again. */
	h_assert_q(
		db,
		"SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NOT NULL AND finished_at IS NOT NULL",
		"2");
	h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "rolled_back")), 2);
	h_http_free(&r);
	/* A rollback to the newest applied migration does nothing. */
	job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_base\"}");
	assert_job(job, "succeeded");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(job, "result"), "rolled_back")), 0);
	json_decref(job);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(job, "result"), "applied")), 2);
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'Asset_rejectedAt_idx'", "1");
	free(before);
	free(after);
	free(rows_before);
	free(rows_after);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(runbook_3_damaged_data_comes_back_with_its_history_from_the_pre_deploy_backup)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char body[400];
	h_mig(dir, "20240101000000_base",
	      "CREATE TABLE \"User\" (id serial PRIMARY KEY, email text UNIQUE NOT NULL);\n"
	      "INSERT INTO \"User\" (email) SELECT 'u' || i || '@example.com' FROM generate_series(1, 300) i;");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_decref(job);
	char *users = table_sum(db, "\"User\"");
	char *history =
		h_q1(db, "SELECT string_agg(id || checksum || migration_name || finished_at::text, ',' ORDER BY "
			 "started_at) FROM _prisma_migrations");
	char *schema = h_schema_dump(db);
	/* The deploy that goes wrong: a new table, and a data fix that damages data. */
	h_mig(dir, "20240102000000_profiles",
	      "CREATE TABLE \"Profile\" (id serial PRIMARY KEY, \"userId\" int REFERENCES \"User\"(id));\n"
	      "UPDATE \"User\" SET email = lower(email) || '.invalid';");
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	char *bid = strdup(h_jstr(job, "result.backup.id"));
	json_decref(job);
	h_exec(db, "DELETE FROM \"User\" WHERE id % 3 = 0");

	snprintf(body, sizeof body, "{\"strategy\": \"restore\", \"backup\": \"%s\", \"confirm\": true}", bid);
	job = run_job(&d, "/v1/rollback", body);
	assert_job(job, "succeeded");
	ck_assert_str_eq(h_jstr(job, "result.head"), "20240101000000_base");
	ck_assert_str_eq(h_jstr(job, "result.safety_backup.kind"), "pre-restore");
	json_decref(job);
	/* Data, history and schema as they were before the deploy; the table the deploy made is gone. */
	char *users_now = table_sum(db, "\"User\"");
	ck_assert_str_eq(users_now, users);
	char *history_now = h_q1(db, "SELECT string_agg(id || checksum || migration_name || finished_at::text, ',' "
				     "ORDER BY started_at) FROM _prisma_migrations");
	ck_assert_str_eq(history_now, history);
	char *schema_now = h_schema_dump(db);
	ck_assert_msg(strcmp(schema_now, schema) == 0, "schema after the restore differs");
	h_assert_q(db, "SELECT to_regclass('public.\"Profile\"') IS NULL", "t");
	/* Nothing is in the way of deploying again (after fixing the data fix). */
	h_mig(dir, "20240102000000_profiles",
	      "CREATE TABLE \"Profile\" (id serial PRIMARY KEY, \"userId\" int REFERENCES \"User\"(id));");
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM \"User\"", "300");
	free(users);
	free(users_now);
	free(history);
	free(history_now);
	free(schema);
	free(schema_now);
	free(bid);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_down_rollback_with_a_missing_down_sql_is_refused_naming_it)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	down(dir, "20240102000000_b", "DROP TABLE b;");
	h_mig(dir, "20240103000000_c", "CREATE TABLE c (id int);");
	h_mig(dir, "20240104000000_d", "CREATE TABLE d (id int);");
	down(dir, "20240104000000_d", "DROP TABLE d;");
	h_daemon_start(&d, db, dir, NULL);
	json_decref(run_job(&d, "/v1/deploy", "{}"));
	char *history = h_q1(db, "SELECT string_agg(migration_name || coalesce(rolled_back_at::text, '-'), ',') FROM "
				 "_prisma_migrations");
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"down\", \"to\": \"20240101000000_a\"}", NULL);
	ck_assert_int_eq(r.status, 422);
	ck_assert_str_eq(h_jstr(r.json, "error.code"), "rollback_refused");
	json_t *missing =
		json_object_get(json_object_get(json_object_get(r.json, "error"), "detail"), "without_down_sql");
	ck_assert_uint_eq(json_array_size(missing), 1);
	ck_assert_str_eq(json_string_value(json_array_get(missing, 0)), "20240103000000_c");
	h_assert_contains(h_jstr(r.json, "error.message"), "20240103000000_c");
	h_http_free(&r);
	/* Targets that are not applied migrations. */
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"down\", \"to\": \"20991231000000_nope\"}", NULL);
	ck_assert_int_eq(r.status, 422);
	h_assert_contains(h_jstr(r.json, "error.message"), "no migration 20991231000000_nope");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"down\", \"to\": \"../etc\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	h_http_free(&r);
	/* Nothing changed; a rollback within the files that have down.sql works. */
	char *history_now = h_q1(db, "SELECT string_agg(migration_name || coalesce(rolled_back_at::text, '-'), ',') "
				     "FROM _prisma_migrations");
	ck_assert_str_eq(history_now, history);
	json_t *job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240103000000_c\"}");
	assert_job(job, "succeeded");
	json_decref(job);
	h_assert_q(db, "SELECT to_regclass('public.d') IS NULL AND to_regclass('public.c') IS NOT NULL", "t");
	/* The CLI refuses the same way, exit 1. */
	struct h_result res;
	h_migrated(&res, h_env_url(db), "rollback", "--to", "20240101000000_a", "--migrations", dir, NULL);
	ck_assert_int_eq(res.rc, 1);
	h_assert_contains(res.err, "without a down.sql: 20240103000000_c");
	h_result_free(&res);
	free(history);
	free(history_now);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(failed_migrations_in_range_are_undone_with_down_sql_or_only_recorded)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int, v int);");
	/* Statement by statement: its first index stays when the second fails. */
	h_mig(dir, "20240102000000_partial",
	      "CREATE INDEX CONCURRENTLY a_id ON a(id);\nCREATE INDEX CONCURRENTLY a_v ON nowhere(v);");
	down(dir, "20240102000000_partial", "DROP INDEX IF EXISTS a_id;\nDROP INDEX IF EXISTS a_v;\n");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'a_id'", "1");
	job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_a\"}");
	assert_job(job, "succeeded");
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'a_id'", "0");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL",
		   "0");
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* A transactional failure left nothing: no down.sql needed, it is only recorded. */
	const char *db2 = h_fresh_db();
	char dir2[700];
	snprintf(dir2, sizeof dir2, "%s/m2", h_tmpdir());
	h_mig(dir2, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir2, "20240102000000_bad", "CREATE TABLE b (id int);\nSELECT * FROM nowhere;");
	struct h_daemon d2 = {0};
	h_daemon_start(&d2, db2, dir2, NULL);
	json_decref(run_job(&d2, "/v1/deploy", "{}"));
	job = run_job(&d2, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_a\"}");
	assert_job(job, "succeeded");
	json_t *st = json_array_get(json_object_get(job, "steps"), json_array_size(json_object_get(job, "steps")) - 1);
	ck_assert_str_eq(h_jstr(st, "name"), "20240102000000_bad");
	h_assert_contains(h_jstr(st, "mode_reason"), "only recorded");
	json_decref(job);
	h_assert_q(db2, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL",
		   "0");
	ck_assert_int_eq(h_daemon_stop(&d2), 0);
}

static void wait_no_migrated_backend(const char *db)
{
	for (int i = 0; i < 200; i++) {
		char *n = h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
				   "application_name = 'migrated'");
		bool gone = n && strcmp(n, "0") == 0;
		free(n);
		if (gone)
			return;
		h_sleep_ms(50);
	}
	ck_abort_msg("the killed daemon's backends did not end within 10 s");
}

ITEST(kill_9_during_a_down_rollback_leaves_history_consistent)
{
	const char *dir = h_migrations_dir();
	char name[64], sql[200];
	h_mig(dir, "20240101000000_t1", "CREATE TABLE t1 (id int);");
	for (int i = 2; i <= 8; i++) {
		snprintf(name, sizeof name, "2024010%d000000_t%d", i, i);
		snprintf(sql, sizeof sql, "CREATE TABLE t%d (id int);", i);
		h_mig(dir, name, sql);
		snprintf(sql, sizeof sql, "SELECT pg_sleep(0.15);\nDROP TABLE t%d;\n", i);
		down(dir, name, sql);
	}
	int interrupted = 0;
	for (int trial = 0; trial < 5; trial++) {
		struct h_daemon d = {0};
		char db[128];
		snprintf(db, sizeof db, "%s", h_fresh_db());
		snprintf(d.state_dir, sizeof d.state_dir, "%s/state-%d", h_tmpdir(), trial);
		h_daemon_start(&d, db, dir, NULL);
		json_decref(run_job(&d, "/v1/deploy", "{\"backup\": false}"));
		char *id = submit(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_t1\"}");
		h_sleep_ms(150 + trial * 220);
		h_daemon_kill(&d);
		/* The server runs what it already received to its end after its client died: a rollback
		 * step in flight may still commit. Wait for that before looking, or the check itself
		 * races the commit (to_regclass reads the catalog as of now, the history rows as of the
		 * statement's snapshot). */
		wait_no_migrated_backend(db);
		/* Each table exists exactly when its migration is still recorded applied. */
		h_assert_q(db,
			   "SELECT count(*) FROM _prisma_migrations m WHERE (to_regclass('public.t' || "
			   "substr(m.migration_name, 17)) IS NOT NULL) <> (m.rolled_back_at IS NULL)",
			   "0");
		h_daemon_start(&d, db, dir, NULL);
		char path[200];
		struct h_http r;
		snprintf(path, sizeof path, "/v1/jobs/%s", id);
		h_request(&r, &d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
		const char *state = h_jstr(r.json, "state");
		ck_assert_msg(strcmp(state, "interrupted") == 0 || strcmp(state, "succeeded") == 0, "trial %d: %s",
			      trial, state);
		interrupted += strcmp(state, "interrupted") == 0;
		h_http_free(&r);
		/* Another rollback finishes the work. */
		json_t *job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_t1\"}");
		assert_job(job, "succeeded");
		json_decref(job);
		h_assert_q(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]$'",
			   "1");
		h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NOT NULL", "7");
		/* The interrupted job's steps were checked against _prisma_migrations. */
		h_request(&r, &d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(r.json, "steps"), i, s)
			ck_assert_msg(strcmp(h_jstr(s, "state"), "running") != 0, "trial %d: step %s still running",
				      trial, h_jstr(s, "name"));
		h_http_free(&r);
		ck_assert_int_eq(h_daemon_stop(&d), 0);
		free(id);
	}
	ck_assert_msg(interrupted >= 3, "only %d of 5 kills hit a running rollback", interrupted);
}

/* A second daemon as the "application" whose health URLs the first one checks. */
static void start_app(struct h_daemon *app)
{
	const char *adb = h_fresh_db();
	char adir[700];
	snprintf(adir, sizeof adir, "%s/app-migrations", h_tmpdir());
	h_mig(adir, "20240101000000_app", "SELECT 1;");
	snprintf(app->state_dir, sizeof app->state_dir, "%s/app-state", h_tmpdir());
	h_daemon_start(app, adb, adir, NULL);
}

ITEST(verification_runs_commands_and_urls_after_a_deploy_and_records_them)
{
	struct h_daemon app = {0}, d = {0};
	char cmds[300], urls[300];
	start_app(&app); /* first: h_fresh_db's answer lasts until its next call */
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	snprintf(cmds, sizeof cmds,
		 "MIGRATED_VERIFY_COMMAND=/bin/sh -c 'echo job=$MIGRATED_JOB_ID applied=$MIGRATED_APPLIED'\n/bin/true");
	snprintf(urls, sizeof urls, "MIGRATED_VERIFY_URL=%s/healthz", app.base);
	h_daemon_start(&d, db, dir, cmds, urls, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "succeeded");
	json_t *checks = json_object_get(json_object_get(job, "result"), "verification");
	ck_assert_uint_eq(json_array_size(checks), 3);
	json_t *c0 = json_array_get(checks, 0);
	ck_assert(json_is_true(json_object_get(c0, "ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(c0, "exit_code")), 0);
	char want[200];
	snprintf(want, sizeof want, "job=%s applied=20240101000000_a", h_jstr(job, "id"));
	h_assert_contains(h_jstr(c0, "stdout"), want);
	json_t *c2 = json_array_get(checks, 2);
	ck_assert_str_eq(h_jstr(c2, "kind"), "url");
	ck_assert_int_eq(json_integer_value(json_object_get(c2, "status")), 200);
	/* One step each, after the history check. */
	size_t i, n = 0;
	json_t *s;
	json_array_foreach(json_object_get(job, "steps"), i, s) n += strcmp(h_jstr(s, "kind"), "verification") == 0;
	ck_assert_uint_eq(n, 3);
	json_decref(job);
	/* "verify": false skips them for one deploy. */
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	job = run_job(&d, "/v1/deploy", "{\"verify\": false}");
	assert_job(job, "succeeded");
	ck_assert_ptr_null(json_object_get(json_object_get(job, "result"), "verification"));
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_int_eq(h_daemon_stop(&app), 0);
}

ITEST(failed_verification_leaves_the_schema_or_rolls_back_with_down_sql)
{
	struct h_daemon app = {0}, d = {0};
	char urls[300];
	start_app(&app); /* first: h_fresh_db's answer lasts until its next call */
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE base (id int);");
	h_deploy_ok(db, dir);
	char *before = h_schema_dump(db);

	/* The application answers 404: policy fail (the default) leaves the schema as deployed. */
	h_mig(dir, "20240102000000_feature", "CREATE TABLE feature (id int);");
	down(dir, "20240102000000_feature", "DROP TABLE feature;");
	snprintf(urls, sizeof urls, "MIGRATED_VERIFY_URL=%s/v1/no-such-page", app.base);
	h_daemon_start(&d, db, dir, urls, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	ck_assert_str_eq(h_jstr(job, "outcome"), "failed-verification");
	ck_assert_str_eq(h_jstr(job, "error.code"), "failed_verification");
	h_assert_contains(h_jstr(job, "error.message"), "answered 404, not 2xx");
	h_assert_contains(h_jstr(job, "error.message"), "left as deployed");
	json_decref(job);
	h_assert_q(db, "SELECT to_regclass('public.feature') IS NOT NULL", "t");
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* Policy rollback: every migration of the deploy has a down.sql, so it is undone exactly. */
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_ON_FAILURE=rollback", NULL);
	job = run_job(&d, "/v1/rollback", "{\"strategy\": \"down\", \"to\": \"20240101000000_base\"}");
	assert_job(job, "succeeded");
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_mig(dir, "20240103000000_second", "CREATE TABLE second (id int);");
	down(dir, "20240103000000_second", "DROP TABLE second;");
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_ON_FAILURE=rollback", "MIGRATED_VERIFY_COMMAND=/bin/false", NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	ck_assert_str_eq(h_jstr(job, "outcome"), "rolled-back");
	h_assert_contains(h_jstr(job, "error.message"), "`/bin/false` exited with 1");
	h_assert_contains(h_jstr(job, "error.message"), "were rolled back");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(json_object_get(job, "result"), "rollback"),
							  "rolled_back")),
			  2);
	json_decref(job);
	char *after = h_schema_dump(db);
	ck_assert_msg(strcmp(before, after) == 0, "schema after the automatic rollback differs");
	free(after);
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* Policy rollback, but one migration has no down.sql: nothing is undone, and it says why. */
	h_mig(dir, "20240104000000_no_down", "CREATE TABLE no_down (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_ON_FAILURE=rollback", "MIGRATED_VERIFY_COMMAND=/bin/false", NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	ck_assert_str_eq(h_jstr(job, "outcome"), "failed-verification");
	json_t *wd = json_object_get(json_object_get(job, "result"), "without_down_sql");
	ck_assert_uint_eq(json_array_size(wd), 1);
	ck_assert_str_eq(json_string_value(json_array_get(wd, 0)), "20240104000000_no_down");
	json_decref(job);
	h_assert_q(db, "SELECT to_regclass('public.no_down') IS NOT NULL AND to_regclass('public.second') IS NOT NULL",
		   "t");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_int_eq(h_daemon_stop(&app), 0);
	free(before);
}

ITEST(verification_has_a_timeout_and_reports_what_cannot_run)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_COMMAND=/bin/sleep 30", "MIGRATED_VERIFY_TIMEOUT=300ms", NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	h_assert_contains(h_jstr(job, "error.message"), "did not finish within verify_timeout");
	ck_assert(json_number_value(json_object_get(
			  json_array_get(json_object_get(json_object_get(job, "result"), "verification"), 0),
			  "duration_ms")) < 10000);
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* A URL nobody answers, and a program that does not exist. */
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_URL=http://127.0.0.1:1/health", NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	h_assert_contains(h_jstr(job, "error.message"), "did not answer");
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_mig(dir, "20240103000000_c", "CREATE TABLE c (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_VERIFY_COMMAND=no-such-program --flag", NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_job(job, "failed");
	h_assert_contains(h_jstr(job, "error.message"), "no-such-program not found");
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* A command line that cannot be split is a configuration error at start. */
	struct h_result res;
	h_migrated(&res, h_env_url(db), "MIGRATED_VERIFY_COMMAND=echo 'unterminated", "serve", "--listen",
		   "127.0.0.1:0", "--migrations", dir, "--state-dir", d.state_dir, NULL);
	ck_assert_int_eq(res.rc, 2);
	h_assert_contains(res.err, "unterminated quote");
	h_result_free(&res);
}

Suite *suite_rollback(void)
{
	Suite *s = suite_create("rollback");
	TCase *tc = tcase_create("rollback");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, runbook_1_failed_migration_resolved_rolled_back_then_fixed_and_deployed);
	tcase_add_test(tc, runbook_2_down_rollback_restores_the_previous_schema_exactly_and_records_it);
	tcase_add_test(tc, runbook_3_damaged_data_comes_back_with_its_history_from_the_pre_deploy_backup);
	tcase_add_test(tc, a_down_rollback_with_a_missing_down_sql_is_refused_naming_it);
	tcase_add_test(tc, failed_migrations_in_range_are_undone_with_down_sql_or_only_recorded);
	tcase_add_test(tc, kill_9_during_a_down_rollback_leaves_history_consistent);
	tcase_add_test(tc, verification_runs_commands_and_urls_after_a_deploy_and_records_them);
	tcase_add_test(tc, failed_verification_leaves_the_schema_or_rolls_back_with_down_sql);
	tcase_add_test(tc, verification_has_a_timeout_and_reports_what_cannot_run);
	suite_add_tcase(s, tc);
	return s;
}
