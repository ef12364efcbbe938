/* test_resolve.c - resolve --applied / --rolled-back with Prisma's exact rules and codes,
 * including baselining an existing database. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void resolve(struct h_result *r, const char *db, const char *dir, const char *how, const char *name)
{
	h_migrated(r, h_env_url(db), "resolve", how, name, "--migrations", dir, NULL);
}

ITEST(applied_baselines_an_existing_database)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_exec(db, "CREATE TABLE \"User\" (id int)");
	h_mig(dir, "20240101000000_init", "CREATE TABLE \"User\" (id int);");
	h_mig(dir, "20240102000000_next", "ALTER TABLE \"User\" ADD COLUMN name text;");
	resolve(&r, db, dir, "--applied", "20240101000000_init");
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "Migration 20240101000000_init marked as applied.");
	h_result_free(&r);
	/* Prisma's row: finished_at = started_at, logs '' (not NULL), 0 steps, file checksum. */
	h_assert_q(db,
		   "SELECT (finished_at = started_at)::text || (logs = '')::text || applied_steps_count "
		   "FROM _prisma_migrations",
		   "truetrue0");
	char path[700];
	snprintf(path, sizeof path, "%s/20240101000000_init/migration.sql", dir);
	char *sum = h_sha256sum(path), q[200];
	snprintf(q, sizeof q, "SELECT checksum = '%s' FROM _prisma_migrations", sum);
	h_assert_q(db, q, "t");
	free(sum);
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db,
		   "SELECT count(*) FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'name'",
		   "1");
}

ITEST(prisma_refusals_and_their_codes)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_ok", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_bad", "SELECT 1/0;");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	h_result_free(&r);
	static const struct {
		const char *how, *name, *code, *text;
	} cases[] = {
		{"--applied", "20240101000000_ok", "P3008", "is already recorded as applied"},
		{"--applied", "20990101000000_nope", "P3017", "could not be found"},
		{"--rolled-back", "20990101000000_nope", "P3011", "was never applied to the database"},
		{"--rolled-back", "20240101000000_ok", "P3012", "is not in a failed state"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		resolve(&r, db, dir, cases[i].how, cases[i].name);
		ck_assert_msg(r.rc == 1, "%s %s: exit %d", cases[i].how, cases[i].name, r.rc);
		h_assert_contains(r.err, cases[i].code);
		h_assert_contains(r.err, cases[i].text);
		h_result_free(&r);
	}
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "2");
}

ITEST(rolled_back_twice_is_a_quiet_success)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_bad", "SELECT 1/0;");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	h_result_free(&r);
	for (int i = 0; i < 2; i++) {
		resolve(&r, db, dir, "--rolled-back", "20240101000000_bad");
		ck_assert_int_eq(r.rc, 0);
		h_result_free(&r);
	}
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NOT NULL", "1");
}

ITEST(applied_marks_failed_attempts_rolled_back_in_one_transaction)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_bad", "SELECT 1/0;");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	h_result_free(&r);
	resolve(&r, db, dir, "--applied", "20240101000000_bad");
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "Its 1 failed attempt was marked rolled back.");
	h_result_free(&r);
	h_assert_q(
		db,
		"SELECT string_agg((finished_at IS NOT NULL)::text || '/' || (rolled_back_at IS NOT NULL)::text, ',' "
		"ORDER BY started_at) FROM _prisma_migrations",
		"false/true,true/false");
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
}

ITEST(rolled_back_without_history_table_is_refused)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_result r;
	h_mig(dir, "20240101000000_a", "SELECT 1;");
	resolve(&r, db, dir, "--rolled-back", "20240101000000_a");
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3011");
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL", "t");
}

Suite *suite_resolve(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("resolve");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, applied_baselines_an_existing_database);
	tcase_add_test(tc, prisma_refusals_and_their_codes);
	tcase_add_test(tc, rolled_back_twice_is_a_quiet_success);
	tcase_add_test(tc, applied_marks_failed_attempts_rolled_back_in_one_transaction);
	tcase_add_test(tc, rolled_back_without_history_table_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
