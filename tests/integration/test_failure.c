/* test_failure.c - a migration that fails: nothing of a transactional one remains, the row is
 * recorded as Prisma records it (logs with SQLSTATE, statement, position), the next deploy is
 * refused naming it, resolve --rolled-back plus a fixed file finishes the job; partial work of
 * non-transactional migrations is reported exactly. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void deploy(struct h_result *r, const char *db, const char *dir)
{
	h_migrated(r, h_env_url(db), "deploy", "--migrations", dir, NULL);
}

ITEST(failed_migration_leaves_nothing_and_is_recorded_as_prisma_records_it)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_ok", "CREATE TABLE a (id int PRIMARY KEY);");
	h_mig(dir, "20240102000000_bad",
	      "CREATE TABLE b_partial (id int);\n-- the next line fails\nINSERT INTO does_not_exist VALUES (1);\n");
	h_mig(dir, "20240103000000_later", "CREATE TABLE c (id int);");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "20240102000000_bad");
	h_assert_contains(r.out, "42P01");
	h_assert_contains(r.out, "relation \"does_not_exist\" does not exist");
	h_assert_contains(r.out, "statement 2 of 2, line 3, column 13");
	h_assert_contains(r.out, "INSERT INTO does_not_exist VALUES (1)");
	h_assert_contains(r.out, "nothing of it remains");
	h_assert_contains(r.out, "resolve --rolled-back \"20240102000000_bad\"");
	h_assert_contains(r.out, "1 later migration was not applied");
	h_result_free(&r);
	h_assert_q(
		db,
		"SELECT to_regclass('b_partial') IS NULL AND to_regclass('c') IS NULL AND to_regclass('a') IS NOT NULL",
		"t");
	h_assert_q(db,
		   "SELECT (finished_at IS NULL)::text || (rolled_back_at IS NULL)::text || applied_steps_count "
		   "FROM _prisma_migrations WHERE migration_name = '20240102000000_bad'",
		   "truetrue0");
	char *logs = h_q1(db, "SELECT logs FROM _prisma_migrations WHERE migration_name = '20240102000000_bad'");
	h_assert_contains(logs, "A migration failed to apply.");
	h_assert_contains(logs, "Migration name: 20240102000000_bad");
	h_assert_contains(logs, "Database error code: 42P01");
	h_assert_contains(logs, "ERROR: relation \"does_not_exist\" does not exist");
	h_assert_contains(logs, "line 3, column 13");
	free(logs);
}

ITEST(next_deploy_is_refused_naming_the_failed_migration_then_resolve_unblocks)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_ok", "CREATE TABLE a (id int PRIMARY KEY);");
	h_mig(dir, "20240102000000_bad", "CREATE TABLE b_partial (id int); INSERT INTO does_not_exist VALUES (1);");
	h_mig(dir, "20240103000000_later", "CREATE TABLE c (id int);");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_result_free(&r);
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "The `20240102000000_bad` migration started at");
	h_assert_contains(r.err, "42P01 relation \"does_not_exist\" does not exist");
	h_assert_contains(r.err, "migrated resolve --rolled-back \"20240102000000_bad\"");
	h_result_free(&r);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "2");
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_bad", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "Migration 20240102000000_bad marked as rolled back.");
	h_result_free(&r);
	h_mig(dir, "20240102000000_bad", "CREATE TABLE b (id int);");
	deploy(&r, db, dir);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db,
		   "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		   "3");
	h_assert_q(db,
		   "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240102000000_bad' AND "
		   "rolled_back_at IS NOT NULL",
		   "1");
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
}

ITEST(runtime_error_without_position_names_its_statement)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_div",
	      "CREATE TABLE t (n int);\nINSERT INTO t VALUES (1);\nUPDATE t SET n = n / 0;\nSELECT 1;");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "22012");
	h_assert_contains(r.out, "division by zero");
	h_assert_contains(r.out, "statement 3 of 4, line 3, column 1");
	h_assert_contains(r.out, "UPDATE t SET n = n / 0");
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('t') IS NULL", "t");
}

ITEST(deferred_constraint_failing_at_commit_leaves_nothing)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_deferred",
	      "CREATE TABLE p (id int PRIMARY KEY);\n"
	      "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
	      "INSERT INTO c VALUES (42);\n");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "23503");
	h_assert_contains(r.out, "While running: COMMIT");
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('p') IS NULL", "t");
	h_assert_q(db, "SELECT (finished_at IS NULL)::text || (logs LIKE '%23503%')::text FROM _prisma_migrations",
		   "truetrue");
}

ITEST(statement_by_statement_failure_reports_what_remains)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_steps",
	      "-- migrated:no-transaction\nCREATE TABLE kept (id int);\nINSERT INTO kept VALUES (1);\nINSERT INTO "
	      "missing VALUES (1);\nCREATE TABLE never (id int);\n");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "2 of 4 statements were committed before the failure and remain");
	h_assert_contains(r.out, "undo or complete the committed part by hand");
	h_result_free(&r);
	h_assert_q(db, "SELECT (to_regclass('kept') IS NOT NULL)::text || (to_regclass('never') IS NULL)::text",
		   "truetrue");
	h_assert_q(db,
		   "SELECT applied_steps_count::text || (logs LIKE '%2 of 4 statements were committed%')::text FROM "
		   "_prisma_migrations",
		   "2true");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "Statements 1 to 2 of 4 were committed and remain. None after them ran:");
	h_result_free(&r);
}

ITEST(failed_concurrent_index_build_reports_the_invalid_index)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_data", "CREATE TABLE u (email text); INSERT INTO u VALUES ('a'), ('a');");
	h_mig(dir, "20240102000000_unique", "CREATE UNIQUE INDEX CONCURRENTLY \"u_email_key\" ON u (email);");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "23505");
	h_assert_contains(r.out, "left index \"u_email_key\" INVALID");
	h_result_free(&r);
	h_assert_q(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'u_email_key'::regclass", "f");
	char *logs = h_q1(db, "SELECT logs FROM _prisma_migrations WHERE migration_name = '20240102000000_unique'");
	h_assert_contains(logs, "INVALID");
	free(logs);
}

ITEST(own_transactions_failure_reports_committed_part)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_own",
	      "BEGIN;\nCREATE TABLE first_tx (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE second_tx (id int);\nINSERT INTO "
	      "nope VALUES (1);\nCOMMIT;\n");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "ran as own-transactions");
	h_assert_contains(r.out, "3 of 7 statements were committed");
	h_result_free(&r);
	h_assert_q(db, "SELECT (to_regclass('first_tx') IS NOT NULL)::text || (to_regclass('second_tx') IS NULL)::text",
		   "truetrue");
}

ITEST(file_that_never_commits_its_transaction_is_rolled_back_and_failed)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_open", "BEGIN;\nCREATE TABLE dangling (id int);\n");
	deploy(&r, db, dir);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "BEGIN without COMMIT");
	h_result_free(&r);
	h_assert_q(
		db,
		"SELECT (to_regclass('dangling') IS NULL)::text || (finished_at IS NULL)::text FROM _prisma_migrations",
		"truetrue");
}

Suite *suite_failure(void)
{
	Suite *s = suite_create("failure");
	TCase *tc = tcase_create("failure");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, failed_migration_leaves_nothing_and_is_recorded_as_prisma_records_it);
	tcase_add_test(tc, next_deploy_is_refused_naming_the_failed_migration_then_resolve_unblocks);
	tcase_add_test(tc, runtime_error_without_position_names_its_statement);
	tcase_add_test(tc, deferred_constraint_failing_at_commit_leaves_nothing);
	tcase_add_test(tc, statement_by_statement_failure_reports_what_remains);
	tcase_add_test(tc, failed_concurrent_index_build_reports_the_invalid_index);
	tcase_add_test(tc, own_transactions_failure_reports_committed_part);
	tcase_add_test(tc, file_that_never_commits_its_transaction_is_rolled_back_and_failed);
	suite_add_tcase(s, tc);
	return s;
}
