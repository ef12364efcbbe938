/* test_prisma.c - interoperability with the real Prisma CLI (6.19.3, installed offline from
 * the npm registry by ../shared/tools/prisma-ref-setup.sh into /tmp/prisma-ref, once): a team
 * can switch between `prisma migrate` and migrated in either direction at any point, including
 * in the middle of a failure. These tests fail (they do not skip) when the CLI cannot be
 * installed. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRISMA_REF "/tmp/prisma-ref/prisma-ref"

static void ensure_prisma(void)
{
	const char *shared = h_shared_dir();
	char script[1100];
	struct h_result r;
	if (access(PRISMA_REF, X_OK) == 0)
		return;
	ck_assert_msg(shared != NULL, "../shared/tools/prisma-ref-setup.sh not found (set MIGRATED_SHARED_DIR)");
	snprintf(script, sizeof script, "%s/tools/prisma-ref-setup.sh", shared);
	char *argv[] = {"/bin/bash", script, NULL};
	char *env[] = {"REF=/tmp/prisma-ref", NULL};
	h_run_argv(&r, argv, env, 600);
	ck_assert_msg(r.rc == 0 && access(PRISMA_REF, X_OK) == 0, "installing the reference Prisma CLI failed:\n%s%s",
		      r.out, r.err);
	h_result_free(&r);
}

/* A Prisma project folder: <tmp>/<name>/prisma/{schema.prisma,migrations/}. */
static const char *project(const char *name, char *migrations, size_t sz)
{
	static char dir[700];
	char path[900];
	snprintf(dir, sizeof dir, "%s/%s", h_tmpdir(), name);
	snprintf(migrations, sz, "%s/prisma/migrations", dir);
	h_mig(migrations, "x", "");
	snprintf(path, sizeof path, "rm -rf '%s/x'", migrations);
	ck_assert_int_eq(system(path), 0);
	snprintf(path, sizeof path, "%s/migration_lock.toml", migrations);
	h_write(path, "provider = \"postgresql\"\n", 24);
	snprintf(path, sizeof path, "%s/prisma/schema.prisma", dir);
	const char *schema = "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n";
	h_write(path, schema, strlen(schema));
	return dir;
}

static void prisma(struct h_result *r, const char *db, const char *proj, const char *a1, const char *a2, const char *a3,
		   const char *a4)
{
	char *argv[] = {PRISMA_REF, (char *)proj, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	char *env[] = {h_env_url(db), NULL};
	h_run_argv(r, argv, env, 300);
}

static void migrated(struct h_result *r, const char *db, const char *mig, const char *cmd)
{
	h_migrated(r, h_env_url(db), cmd, "--migrations", mig, NULL);
}

static void odd_names(const char *mig)
{
	h_mig_order_fixture(mig);
	h_mig(mig, "20250627_index", "CREATE INDEX CONCURRENTLY log_n ON log (n);");
}

ITEST(after_migrated_deploy_prisma_sees_an_up_to_date_database)
{
	char mig[800];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	odd_names(mig);
	migrated(&r, db, mig, "deploy");
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "status", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "8 migrations found in prisma/migrations");
	h_assert_contains(r.out, "Database schema is up to date!");
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "No pending migrations to apply.");
	h_result_free(&r);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "8");
}

ITEST(both_tools_apply_odd_folder_names_in_the_same_order)
{
	char mig[800];
	struct h_result r;
	ensure_prisma();
	const char *proj = project("p", mig, sizeof mig);
	odd_names(mig);
	char prisma_db[128];
	snprintf(prisma_db, sizeof prisma_db, "%s", h_fresh_db());
	prisma(&r, prisma_db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	const char *ours = h_fresh_db();
	migrated(&r, ours, mig, "deploy");
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	char *a = h_q1(prisma_db, "SELECT string_agg(n, ',' ORDER BY t) FROM log");
	char *b = h_q1(ours, "SELECT string_agg(n, ',' ORDER BY t) FROM log");
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(
		b, "20250625_a,20250625_a copy,20250625-x,20250625123456_b,20250625a_z,20250625Z_y,20250626_crlf");
	/* Same checksums in both histories, CRLF file included. */
	char *ca = h_q1(prisma_db, "SELECT string_agg(migration_name || '=' || checksum, ',' ORDER BY migration_name) "
				   "FROM _prisma_migrations");
	char *cb = h_q1(ours, "SELECT string_agg(migration_name || '=' || checksum, ',' ORDER BY migration_name) FROM "
			      "_prisma_migrations");
	ck_assert_str_eq(ca, cb);
	free(a);
	free(b);
	free(ca);
	free(cb);
	/* And each tool reads the other's history as up to date. */
	migrated(&r, prisma_db, mig, "status");
	ck_assert_msg(r.rc == 0, "%s", r.out);
	h_result_free(&r);
}

ITEST(prisma_applies_half_then_migrated_applies_exactly_the_rest)
{
	char mig[800], name[64], sql[200];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	h_mig(mig, "20240101000000_counter", "CREATE TABLE counter (n int);");
	for (int i = 1; i <= 3; i++) {
		snprintf(name, sizeof name, "2024010200000%d_m%d", i, i);
		snprintf(sql, sizeof sql, "INSERT INTO counter VALUES (%d);", i);
		h_mig(mig, name, sql);
	}
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	for (int i = 4; i <= 6; i++) {
		snprintf(name, sizeof name, "2024010200000%d_m%d", i, i);
		snprintf(sql, sizeof sql, "INSERT INTO counter VALUES (%d);", i);
		h_mig(mig, name, sql);
	}
	migrated(&r, db, mig, "deploy");
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "All 3 pending migrations applied");
	h_result_free(&r);
	h_assert_q(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM counter", "1,2,3,4,5,6");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "7");
}

ITEST(failure_recorded_by_prisma_is_seen_resolved_and_redeployed_by_migrated)
{
	char mig[800];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	h_mig(mig, "20240101000000_ok", "CREATE TABLE a (id int);");
	h_mig(mig, "20240102000000_bad", "CREATE TABLE b_partial (id int); INSERT INTO does_not_exist VALUES (1);");
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_result_free(&r);
	migrated(&r, db, mig, "status");
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "FAILED      20240102000000_bad");
	h_result_free(&r);
	migrated(&r, db, mig, "deploy");
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_assert_contains(r.err, "20240102000000_bad");
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "resolve", "--rolled-back", "20240102000000_bad", "--migrations", mig, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	h_mig(mig, "20240102000000_bad", "CREATE TABLE b (id int);");
	migrated(&r, db, mig, "deploy");
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "status", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "Database schema is up to date!");
	h_result_free(&r);
}

ITEST(failure_recorded_by_migrated_is_seen_resolved_and_redeployed_by_prisma)
{
	char mig[800];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	h_mig(mig, "20240101000000_ok", "CREATE TABLE a (id int);");
	h_mig(mig, "20240102000000_bad", "CREATE TABLE b_partial (id int); INSERT INTO does_not_exist VALUES (1);");
	migrated(&r, db, mig, "deploy");
	ck_assert_int_eq(r.rc, 1);
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "status", NULL, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "Following migration have failed:");
	h_assert_contains(r.err, "20240102000000_bad");
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "P3009");
	h_result_free(&r);
	prisma(&r, db, proj, "migrate", "resolve", "--rolled-back", "20240102000000_bad");
	ck_assert_msg(r.rc == 0, "prisma resolve exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	h_mig(mig, "20240102000000_bad", "CREATE TABLE b (id int);");
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	migrated(&r, db, mig, "status");
	ck_assert_msg(r.rc == 0, "%s", r.out);
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('b') IS NOT NULL AND to_regclass('b_partial') IS NULL", "t");
}

ITEST(prisma_baseline_rows_are_read_as_applied)
{
	char mig[800];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	h_exec(db, "CREATE TABLE legacy (id int)");
	h_mig(mig, "20240101000000_init", "CREATE TABLE legacy (id int);\r\n");
	h_mig(mig, "20240102000000_next", "ALTER TABLE legacy ADD COLUMN v text;");
	prisma(&r, db, proj, "migrate", "resolve", "--applied", "20240101000000_init");
	ck_assert_msg(r.rc == 0, "prisma resolve exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	migrated(&r, db, mig, "deploy");
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_assert_contains(r.out, "All 1 pending migration applied");
	h_result_free(&r);
	migrated(&r, db, mig, "status");
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
}

ITEST(a_down_rollback_by_migrated_is_applied_again_by_prisma_deploy)
{
	char mig[800], path[900];
	struct h_result r;
	ensure_prisma();
	const char *db = h_fresh_db(), *proj = project("p", mig, sizeof mig);
	h_mig(mig, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(mig, "20240102000000_b", "CREATE TABLE b (id int);");
	snprintf(path, sizeof path, "%s/20240102000000_b/down.sql", mig);
	h_write(path, "DROP TABLE b;\n", 14);
	migrated(&r, db, mig, "deploy");
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	h_migrated(&r, h_env_url(db), "rollback", "--to", "20240101000000_a", "--migrations", mig, NULL);
	ck_assert_msg(r.rc == 0, "%s%s", r.out, r.err);
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('public.b') IS NULL", "t");
	/* Prisma reads the rolled-back row as "not applied" and applies it again (a new row). */
	prisma(&r, db, proj, "migrate", "deploy", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma deploy exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "20240102000000_b");
	h_assert_contains(r.out, "All migrations have been successfully applied.");
	h_result_free(&r);
	h_assert_q(db, "SELECT to_regclass('public.b') IS NOT NULL", "t");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240102000000_b'", "2");
	prisma(&r, db, proj, "migrate", "status", NULL, NULL);
	ck_assert_msg(r.rc == 0, "prisma status exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	migrated(&r, db, mig, "status");
	ck_assert_msg(r.rc == 0, "%s", r.out);
	h_result_free(&r);
}

Suite *suite_prisma(void)
{
	Suite *s = suite_create("prisma");
	TCase *tc = tcase_create("prisma");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, after_migrated_deploy_prisma_sees_an_up_to_date_database);
	tcase_add_test(tc, both_tools_apply_odd_folder_names_in_the_same_order);
	tcase_add_test(tc, prisma_applies_half_then_migrated_applies_exactly_the_rest);
	tcase_add_test(tc, failure_recorded_by_prisma_is_seen_resolved_and_redeployed_by_migrated);
	tcase_add_test(tc, failure_recorded_by_migrated_is_seen_resolved_and_redeployed_by_prisma);
	tcase_add_test(tc, prisma_baseline_rows_are_read_as_applied);
	tcase_add_test(tc, a_down_rollback_by_migrated_is_applied_again_by_prisma_deploy);
	suite_add_tcase(s, tc);
	return s;
}
