/* test_deploy.c - deploy against the real server: Prisma's table, rows, checksums and order;
 * each execution mode; session hygiene between migrations; files that must be refused before
 * anything is applied; URL handling (DIRECT_URL, ?schema=, Prisma parameters). */
#include "harness.h"
#include "suites.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static long q_long(const char *db, const char *sql)
{
	char *v = h_q1(db, sql);
	ck_assert_msg(v != NULL, "NULL from %s", sql);
	long n = atol(v);
	free(v);
	return n;
}

ITEST(deploy_applies_in_prismas_icu_order_with_exact_rows)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[700];
	h_mig_order_fixture(dir);
	h_deploy_ok(db, dir);
	h_assert_q(db, "SELECT string_agg(n, ',' ORDER BY t) FROM log", H_ORDER_FIXTURE_EXPECTED);
	/* Every row as Prisma writes a success: finished, not rolled back, 1 step, logs NULL,
	 * checksum = sha256 of the raw file bytes (CRLF kept); the id a UUID (version 8, marked as
	 * migrated's one-transaction run, where Prisma writes a random v4: history.h). */
	PGconn *c = h_connect(db, NULL);
	PGresult *res = PQexec(c, "SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NULL, "
				  "applied_steps_count, logs IS NULL, id ~ "
				  "'^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-6d6967727478$', "
				  "finished_at >= started_at FROM _prisma_migrations");
	ck_assert_int_eq(PQntuples(res), 7);
	for (int i = 0; i < PQntuples(res); i++) {
		snprintf(path, sizeof path, "%s/%s/migration.sql", dir, PQgetvalue(res, i, 0));
		char *want = h_sha256sum(path);
		ck_assert_str_eq(PQgetvalue(res, i, 1), want);
		for (int col = 2; col <= 7; col++)
			if (col != 4)
				ck_assert_msg(PQgetvalue(res, i, col)[0] == 't', "row %s column %d",
					      PQgetvalue(res, i, 0), col);
		ck_assert_str_eq(PQgetvalue(res, i, 4), "1");
		free(want);
	}
	PQclear(res);
	PQfinish(c);
}

ITEST(history_table_has_prismas_exact_definition)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
	h_assert_q(db,
		   "SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || character_maximum_length || "
		   "')', '') || "
		   "' ' || is_nullable || ' ' || coalesce(column_default, '-'), '|' ORDER BY ordinal_position) "
		   "FROM information_schema.columns WHERE table_name = '_prisma_migrations'",
		   "id character varying(36) NO -|checksum character varying(64) NO -|"
		   "finished_at timestamp with time zone YES -|migration_name character varying(255) NO -|"
		   "logs text YES -|rolled_back_at timestamp with time zone YES -|"
		   "started_at timestamp with time zone NO now()|applied_steps_count integer NO 0");
	h_assert_q(db, "SELECT string_agg(indexdef, '|') FROM pg_indexes WHERE tablename = '_prisma_migrations'",
		   "CREATE UNIQUE INDEX _prisma_migrations_pkey ON public._prisma_migrations USING btree (id)");
}

ITEST(second_deploy_is_a_noop)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int); INSERT INTO a VALUES (1);");
	h_mig(dir, "20240102000000_b", "INSERT INTO a VALUES (2);");
	h_deploy_ok(db, dir);
	char *before = h_q1(db, "SELECT string_agg(id || finished_at::text, ',' ORDER BY id) FROM _prisma_migrations");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "No pending migrations to apply.");
	char *after = h_q1(db, "SELECT string_agg(id || finished_at::text, ',' ORDER BY id) FROM _prisma_migrations");
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(q_long(db, "SELECT count(*) FROM a"), 2);
	h_result_free(&r);
}

ITEST(empty_folder_creates_the_history_table)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "0 migrations found");
	h_assert_contains(r.out, "No pending migrations to apply.");
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NOT NULL", "t");
	h_result_free(&r);
}

ITEST(non_empty_schema_without_history_is_refused_p3005)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_exec(db, "CREATE TABLE \"User\" (id int)");
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3005");
	h_assert_contains(r.err, "\"User\"");
	h_assert_contains(r.err, "resolve --applied");
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL AND to_regclass('a') IS NULL", "t");
	h_result_free(&r);
}

ITEST(postgis_tables_views_and_enums_do_not_make_a_schema_non_empty)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_exec(db, "CREATE TABLE spatial_ref_sys (srid int); CREATE TYPE mood AS ENUM ('ok'); "
		   "CREATE VIEW v AS SELECT 1 AS one; CREATE SEQUENCE s");
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "1");
}

static json_t *deploy_json(const char *db, const char *dir)
{
	struct h_result r;
	json_error_t je;
	h_migrated(&r, h_env_url(db), "deploy", "--json", "--migrations", dir, NULL);
	json_t *j = json_loads(r.out, 0, &je);
	ck_assert_msg(j != NULL, "deploy --json printed no JSON (%s):\n%s%s", je.text, r.out, r.err);
	h_result_free(&r);
	return j;
}

static const char *applied_mode(json_t *j, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(j, "applied"), i), "mode"));
}

ITEST(each_file_runs_in_the_mode_its_statements_need)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_tx", "CREATE TABLE a (id int, v text);\nINSERT INTO a VALUES (1, 'x');");
	h_mig(dir, "20240102000000_cic", "-- index without blocking writes\nCREATE INDEX CONCURRENTLY a_v ON a (v);\n");
	h_mig(dir, "20240103000000_mixed",
	      "CREATE TABLE b (id int);\nCREATE UNIQUE INDEX CONCURRENTLY b_id ON b (id);\nDROP INDEX CONCURRENTLY "
	      "a_v;\n");
	h_mig(dir, "20240104000000_own",
	      "BEGIN;\nSET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nINSERT INTO a VALUES (2, 'y');\nCOMMIT;\n");
	h_mig(dir, "20240105000000_directive",
	      "-- migrated:no-transaction\nINSERT INTO a VALUES (3, 'z');\nINSERT INTO b VALUES (1);\n");
	json_t *j = deploy_json(db, dir);
	ck_assert_msg(json_is_true(json_object_get(j, "ok")), "deploy not ok");
	ck_assert_str_eq(applied_mode(j, 0), "transaction");
	ck_assert_str_eq(applied_mode(j, 1), "single-statement");
	ck_assert_str_eq(applied_mode(j, 2), "statement-by-statement");
	ck_assert_str_eq(applied_mode(j, 3), "own-transactions");
	ck_assert_str_eq(applied_mode(j, 4), "statement-by-statement");
	json_decref(j);
	h_assert_q(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'b_id'::regclass", "t");
	h_assert_q(db, "SELECT to_regclass('a_v') IS NULL", "t");
	h_assert_q(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM a", "1,2,3");
	/* statement-by-statement rows count statements; the others one step, as Prisma. */
	h_assert_q(db,
		   "SELECT string_agg(applied_steps_count::text, ',' ORDER BY migration_name) FROM _prisma_migrations",
		   "1,1,3,1,2");
}

ITEST(enum_value_added_in_one_file_is_usable_in_the_next)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_enum", "CREATE TYPE role AS ENUM ('USER'); CREATE TABLE u (r role);");
	h_mig(dir, "20240102000000_add", "ALTER TYPE role ADD VALUE 'ADMIN';");
	h_mig(dir, "20240103000000_use",
	      "INSERT INTO u VALUES ('ADMIN'); ALTER TABLE u ALTER COLUMN r SET DEFAULT 'ADMIN';");
	h_deploy_ok(db, dir);
	h_assert_q(db, "SELECT count(*) FROM u WHERE r = 'ADMIN'", "1");
}

ITEST(session_settings_do_not_leak_into_the_next_migration)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_exec(db, "CREATE SCHEMA other");
	h_mig(dir, "20240101000000_set",
	      "SET lock_timeout = '5s';\nSET search_path TO other;\nCREATE TABLE in_other (id int);");
	h_mig(dir, "20240102000000_check",
	      "DO $$ BEGIN\n"
	      "  IF current_setting('lock_timeout') = '5s' THEN RAISE EXCEPTION 'lock_timeout leaked'; END IF;\n"
	      "  IF current_setting('search_path') LIKE '%other%' THEN RAISE EXCEPTION 'search_path leaked'; END IF;\n"
	      "END $$;\nCREATE TABLE in_public (id int);");
	h_deploy_ok(db, dir);
	h_assert_q(db,
		   "SELECT to_regclass('other.in_other') IS NOT NULL AND to_regclass('public.in_public') IS NOT NULL",
		   "t");
}

ITEST(lock_and_statement_timeouts_are_set_for_migrations)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_show",
	      "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt, current_setting('statement_timeout') "
	      "AS st;");
	h_migrated(&r, h_env_url(db), "deploy", "--lock-timeout", "1500ms", "--statement-timeout", "90s",
		   "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	h_assert_q(db, "SELECT lt || ' ' || st FROM seen", "1500ms 90s");
	h_mig(dir, "20240102000000_slow", "SELECT pg_sleep(3);");
	h_migrated(&r, h_env_url(db), "deploy", "--statement-timeout", "300ms", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "57014");
	h_assert_contains(r.out, "statement timeout");
	h_result_free(&r);
}

ITEST(empty_and_comment_only_files_are_applied)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_empty", "");
	h_mig(dir, "20240102000000_comments", "-- nothing to do yet\n/* really */\n");
	h_mig(dir, "20240103000000_no_final_semicolon", "CREATE TABLE z (id int)\n-- trailing comment, no newline");
	h_deploy_ok(db, dir);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "3");
	h_assert_q(db, "SELECT to_regclass('z') IS NOT NULL", "t");
}

ITEST(byte_order_mark_is_hashed_but_not_executed)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[700];
	const char *sql = "\xEF\xBB\xBF"
			  "CREATE TABLE bom (id int);\n";
	snprintf(path, sizeof path, "%s/20240101000000_bom", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/20240101000000_bom/migration.sql", dir);
	h_write(path, sql, strlen(sql));
	h_deploy_ok(db, dir);
	char *want = h_sha256sum(path), q[200];
	snprintf(q, sizeof q, "SELECT checksum = '%s' FROM _prisma_migrations", want);
	h_assert_q(db, q, "t");
	free(want);
}

ITEST(broken_files_are_refused_before_anything_is_applied)
{
	static const struct {
		const char *name, *sql, *expect;
	} cases[] = {
		{"20240102000000_latin1", "INSERT INTO t VALUES ('caf\xe9');", "not valid UTF-8"},
		{"20240102000000_unterminated", "CREATE TABLE x (id int);\nINSERT INTO x VALUES ('oops);",
		 "unterminated quoted string starting at line 2"},
		{"20240102000000_dollar", "DO $fn$ BEGIN NULL; END $other$;", "unterminated dollar-quoted string"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *db = h_fresh_db();
		char dir[700];
		struct h_result r;
		snprintf(dir, sizeof dir, "%s/case%zu", h_tmpdir(), i);
		h_mig(dir, "20240101000000_ok", "CREATE TABLE ok (id int);");
		h_mig(dir, cases[i].name, cases[i].sql);
		h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
		ck_assert_int_eq(r.rc, 1);
		h_assert_contains(r.err, cases[i].name);
		h_assert_contains(r.err, cases[i].expect);
		h_assert_contains(r.err, "nothing was applied");
		/* Refused in the preflight: not even the history table was created. */
		h_assert_q(db, "SELECT to_regclass('ok') IS NULL AND to_regclass('_prisma_migrations') IS NULL", "t");
		h_result_free(&r);
	}
}

ITEST(missing_migration_sql_is_p3015_before_anything_is_applied)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[700];
	struct h_result r;
	h_mig(dir, "20240101000000_ok", "CREATE TABLE ok (id int);");
	snprintf(path, sizeof path, "%s/20240102000000_no_file", dir);
	mkdir(path, 0755);
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3015");
	h_assert_contains(r.err, "20240102000000_no_file/migration.sql");
	h_assert_q(db, "SELECT to_regclass('ok') IS NULL", "t");
	h_result_free(&r);
}

ITEST(lock_file_rules)
{
	const char *db = h_fresh_db();
	char dir[700], lock[800];
	struct h_result r;
	snprintf(dir, sizeof dir, "%s/mysql", h_tmpdir());
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	snprintf(lock, sizeof lock, "%s/migration_lock.toml", dir);
	h_write(lock, "provider = \"mysql\"\n", 19);
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3019");
	h_assert_contains(r.err, "mysql");
	h_result_free(&r);
	/* No lock file at all: Prisma accepts that, and so do we. */
	snprintf(dir, sizeof dir, "%s/nolock", h_tmpdir());
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
}

ITEST(folder_names_with_control_characters_are_refused)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_ok", "CREATE TABLE ok (id int);");
	h_mig(dir, "20240102000000_new\nline", "SELECT 1;");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "control character");
	h_assert_q(db, "SELECT to_regclass('ok') IS NULL", "t");
	h_result_free(&r);
}

ITEST(direct_url_is_used_for_migrations)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char direct[300];
	struct h_result r;
	snprintf(direct, sizeof direct, "DIRECT_URL=%s", h_url(db));
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_migrated(&r, "DATABASE_URL=postgresql://postgres@127.0.0.1:1/unreachable?pgbouncer=true", direct, "deploy",
		   "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_q(db, "SELECT to_regclass('a') IS NOT NULL", "t");
	h_result_free(&r);
}

ITEST(transaction_pooler_url_is_refused_without_direct_url)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char url[300];
	struct h_result r;
	snprintf(url, sizeof url, "DATABASE_URL=%s?pgbouncer=true", h_url(db));
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_migrated(&r, url, "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "pgbouncer=true");
	h_assert_contains(r.err, "DIRECT_URL");
	h_result_free(&r);
}

ITEST(schema_parameter_targets_that_schema)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char url[400];
	struct h_result r;
	snprintf(url, sizeof url, "DATABASE_URL=%s?schema=tenant_1&connection_limit=3&pool_timeout=5", h_url(db));
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_migrated(&r, url, "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db,
		   "SELECT to_regclass('tenant_1._prisma_migrations') IS NOT NULL AND to_regclass('tenant_1.a') IS NOT "
		   "NULL "
		   "AND to_regclass('public._prisma_migrations') IS NULL",
		   "t");
	h_migrated(&r, url, "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "schema \"tenant_1\"");
	h_result_free(&r);
}

ITEST(dry_run_changes_nothing_and_shows_modes)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_b", "CREATE INDEX CONCURRENTLY a_id ON a (id);");
	h_migrated(&r, h_env_url(db), "deploy", "--dry-run", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "2 migrations would be applied");
	h_assert_contains(r.out, "20240102000000_b  single-statement");
	h_assert_contains(r.out, "Nothing was changed.");
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL AND to_regclass('a') IS NULL", "t");
	h_result_free(&r);
}

ITEST(functions_with_dollar_quotes_and_begin_atomic_apply)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char sql[900];
	snprintf(
		sql, sizeof sql,
		"CREATE TABLE t (id int);\n"
		"CREATE FUNCTION bump() RETURNS trigger AS $$\nBEGIN\n  NEW.id := NEW.id + 1; -- ; inside\n  RETURN "
		"NEW;\nEND;\n$$ LANGUAGE plpgsql;\n"
		"CREATE TRIGGER t_bump BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION bump();\n"
		/* BEGIN ATOMIC bodies exist since PostgreSQL 14; on 13 the same function as a string. */
		"%s"
		"INSERT INTO t VALUES (two());",
		h_server_major() >= 14
			? "CREATE FUNCTION two() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true "
			  "THEN 2 END; END;\n"
			: "CREATE FUNCTION two() RETURNS int LANGUAGE sql AS 'SELECT 1; SELECT CASE WHEN true THEN 2 "
			  "END;';\n");
	h_mig(dir, "20240101000000_fn", sql);
	h_deploy_ok(db, dir);
	h_assert_q(db, "SELECT id FROM t", "3");
}

Suite *suite_deploy(void)
{
	Suite *s = suite_create("deploy");
	TCase *tc = tcase_create("deploy");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, deploy_applies_in_prismas_icu_order_with_exact_rows);
	tcase_add_test(tc, history_table_has_prismas_exact_definition);
	tcase_add_test(tc, second_deploy_is_a_noop);
	tcase_add_test(tc, empty_folder_creates_the_history_table);
	tcase_add_test(tc, non_empty_schema_without_history_is_refused_p3005);
	tcase_add_test(tc, postgis_tables_views_and_enums_do_not_make_a_schema_non_empty);
	tcase_add_test(tc, each_file_runs_in_the_mode_its_statements_need);
	tcase_add_test(tc, enum_value_added_in_one_file_is_usable_in_the_next);
	tcase_add_test(tc, session_settings_do_not_leak_into_the_next_migration);
	tcase_add_test(tc, lock_and_statement_timeouts_are_set_for_migrations);
	tcase_add_test(tc, empty_and_comment_only_files_are_applied);
	tcase_add_test(tc, byte_order_mark_is_hashed_but_not_executed);
	tcase_add_test(tc, broken_files_are_refused_before_anything_is_applied);
	tcase_add_test(tc, missing_migration_sql_is_p3015_before_anything_is_applied);
	tcase_add_test(tc, lock_file_rules);
	tcase_add_test(tc, folder_names_with_control_characters_are_refused);
	tcase_add_test(tc, direct_url_is_used_for_migrations);
	tcase_add_test(tc, transaction_pooler_url_is_refused_without_direct_url);
	tcase_add_test(tc, schema_parameter_targets_that_schema);
	tcase_add_test(tc, dry_run_changes_nothing_and_shows_modes);
	tcase_add_test(tc, functions_with_dollar_quotes_and_begin_atomic_apply);
	suite_add_tcase(s, tc);
	return s;
}
