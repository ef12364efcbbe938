/* test_status.c - status against the real server: every state, the exit codes, the JSON
 * shape clients rely on, and that status neither takes the lock nor writes anything. */
#include "harness.h"
#include "suites.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *status_json(const char *db, const char *dir, int want_rc)
{
	struct h_result r;
	json_error_t je;
	h_migrated(&r, h_env_url(db), "status", "--json", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == want_rc, "status exit %d, want %d\n%s%s", r.rc, want_rc, r.out, r.err);
	json_t *j = json_loads(r.out, 0, &je);
	ck_assert_msg(j != NULL, "no JSON: %s\n%s", je.text, r.out);
	h_result_free(&r);
	return j;
}

static const char *state_of(json_t *j, const char *name)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(j, "migrations"), i,
			   m) if (strcmp(json_string_value(json_object_get(m, "name")), name) ==
				  0) return json_string_value(json_object_get(m, "state"));
	return "(absent)";
}

static long summary(json_t *j, const char *key)
{
	return (long)json_integer_value(json_object_get(json_object_get(j, "summary"), key));
}

ITEST(pending_then_up_to_date)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "2 migrations found");
	h_assert_contains(r.out, "No _prisma_migrations table");
	h_assert_contains(r.out, "PENDING     20240101000000_a");
	h_assert_contains(r.out, "Next: migrated deploy");
	h_result_free(&r);
	char *t = h_q1(db, "SELECT to_regclass('_prisma_migrations') IS NULL");
	ck_assert_str_eq(t, "t"); /* status never creates the table */
	free(t);
	h_deploy_ok(db, dir);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "Database schema is up to date!");
	h_assert_contains(r.out, "Last applied: 20240102000000_b");
	h_assert_not_contains(r.out, "20240101000000_a ");
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "status", "--all", "--migrations", dir, NULL);
	h_assert_contains(r.out, "applied     20240101000000_a");
	h_result_free(&r);
}

ITEST(json_has_the_fields_clients_rely_on)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	json_t *j = status_json(db, dir, 1);
	json_t *m = json_array_get(json_object_get(j, "migrations"), 0);
	static const char *const fields[] = {
		"name", "state", "checksum", "started_at", "finished_at", "applied_steps_count", "logs"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		ck_assert_msg(json_object_get(m, fields[i]) != NULL, "missing field %s", fields[i]);
	ck_assert_str_eq(state_of(j, "20240101000000_a"), "applied");
	ck_assert_str_eq(state_of(j, "20240102000000_b"), "pending");
	ck_assert_int_eq(summary(j, "applied"), 1);
	ck_assert_int_eq(summary(j, "pending"), 1);
	ck_assert_int_eq(summary(j, "total"), 2);
	ck_assert(json_is_false(json_object_get(j, "up_to_date")));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "applied_steps_count")), 1);
	/* Timestamps are formatted client-side from binary values: they must say what the
	 * server says, to the microsecond. */
	char *want = h_q1(db, "SELECT to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
			      "FROM _prisma_migrations");
	ck_assert_str_eq(json_string_value(json_object_get(m, "finished_at")), want);
	free(want);
	want = h_q1(db, "SELECT round(extract(epoch FROM finished_at - started_at)::numeric * 1000, 3)::text FROM "
			"_prisma_migrations");
	char got[64];
	snprintf(got, sizeof got, "%.3f", json_real_value(json_object_get(m, "duration_ms")));
	ck_assert_str_eq(got, want);
	free(want);
	json_decref(j);
}

ITEST(edited_applied_file_is_modified_but_line_endings_are_not)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[700];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);\nCREATE TABLE a2 (id int);\n");
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);\n");
	h_deploy_ok(db, dir);
	snprintf(path, sizeof path, "%s/20240101000000_a/migration.sql", dir);
	const char *crlf = "CREATE TABLE a (id int);\r\nCREATE TABLE a2 (id int);\r\n";
	h_write(path, crlf, strlen(crlf));
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);\n   ");
	json_t *j = status_json(db, dir, 1);
	ck_assert_str_eq(state_of(j, "20240101000000_a"), "applied");
	ck_assert_str_eq(state_of(j, "20240102000000_b"), "modified");
	json_decref(j);
	struct h_result r;
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0); /* deploy ignores edits, as Prisma's does, but says so */
	h_assert_contains(r.out, "Warning: 20240102000000_b was edited after it was applied");
	h_result_free(&r);
}

ITEST(deleted_folder_is_missing_and_failed_and_rolled_back_are_reported)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[700], cmd[800];
	struct h_result r;
	h_mig(dir, "20240101000000_gone", "CREATE TABLE g (id int);");
	h_mig(dir, "20240102000000_fail", "SELECT 1/0;");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_result_free(&r);
	snprintf(path, sizeof path, "%s/20240101000000_gone", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
	json_t *j = status_json(db, dir, 1);
	ck_assert_str_eq(state_of(j, "20240101000000_gone"), "missing");
	ck_assert_str_eq(state_of(j, "20240102000000_fail"), "failed");
	ck_assert_int_eq(summary(j, "missing"), 1);
	ck_assert_int_eq(summary(j, "failed"), 1);
	json_decref(j);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	h_assert_contains(r.out, "MISSING     20240101000000_gone");
	h_assert_contains(r.out, "22012 division by zero");
	h_assert_contains(r.out, "A failed migration blocks deploys: 20240102000000_fail");
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_fail", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	j = status_json(db, dir, 1);
	ck_assert_str_eq(state_of(j, "20240102000000_fail"), "rolled_back");
	json_decref(j);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	h_assert_contains(r.out, "marked rolled back; the next deploy applies it again");
	h_result_free(&r);
}

ITEST(status_does_not_wait_for_the_migration_lock)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	PGconn *holder = h_connect(db, "lock-holder");
	PGresult *res = PQexec(holder, "SELECT pg_advisory_lock(72707369)");
	ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	time_t t0 = time(NULL);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_int_le(time(NULL) - t0, 3);
	h_result_free(&r);
	PQfinish(holder);
}

Suite *suite_status(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("status");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pending_then_up_to_date);
	tcase_add_test(tc, json_has_the_fields_clients_rely_on);
	tcase_add_test(tc, edited_applied_file_is_modified_but_line_endings_are_not);
	tcase_add_test(tc, deleted_folder_is_missing_and_failed_and_rolled_back_are_reported);
	tcase_add_test(tc, status_does_not_wait_for_the_migration_lock);
	suite_add_tcase(s, tc);
	return s;
}
