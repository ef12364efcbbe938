/* test_versions.c - what differs between PostgreSQL majors, run on every server version
 * scripts/test.sh starts (13 to 18; PG_BINDIR picks the server binaries): the daemon's deploy
 * and health naming the server it talks to, features that changed across majors deployed and
 * read back (NULLS NOT DISTINCT on 15+, PG18's NOT NULL constraints in pg_constraint), drift
 * reporting a dropped NOT NULL once, and the pre-deploy backup refused with a clear message
 * when the server is newer than the local pg_dump. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *health_check(json_t *health, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(health, "checks"), i, c) if (strcmp(h_jstr(c, "name"), name) == 0) return c;
	return NULL;
}

ITEST(the_daemon_deploys_and_its_health_names_this_server)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int major = h_server_major();
	h_mig(dir, "20240101000000_init",
	      "CREATE TYPE \"Role\" AS ENUM ('USER', 'ADMIN');\n"
	      "CREATE TABLE \"User\" (id serial PRIMARY KEY, email text NOT NULL, role \"Role\" NOT NULL DEFAULT "
	      "'USER', created timestamptz NOT NULL DEFAULT now());\n"
	      "CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(email);\n");
	/* Syntax that exists only on newer servers, chosen per version: the file is what a team on
	 * that version would write. */
	h_mig(dir, "20240102000000_per_version",
	      major >= 15 ? "CREATE TABLE tag (name text, UNIQUE NULLS NOT DISTINCT (name));\n"
			  : "CREATE TABLE tag (name text, UNIQUE (name));\n");
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	json_t *c = health_check(r.json, "database");
	ck_assert_msg(c, "no database check:\n%s", r.body);
	ck_assert_str_eq(h_jstr(c, "status"), "ok");
	char want[16];
	snprintf(want, sizeof want, "%d.", major);
	ck_assert_msg(strncmp(h_jstr(c, "server_version"), want, strlen(want)) == 0, "server_version %s, want %s*",
		      h_jstr(c, "server_version"), want);
	h_http_free(&r);

	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "deploy on PostgreSQL %d: %s", major,
		      json_dumps(job, JSON_INDENT(2)));
	json_decref(job);
	free(id);
	h_assert_q(db,
		   "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
		   "2");
	if (major >= 15)
		h_assert_q(db,
			   "SELECT indnullsnotdistinct::text FROM pg_index WHERE indrelid = 'tag'::regclass AND "
			   "indisunique",
			   "true");
	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.body, "20240102000000_per_version");
	h_assert_not_contains(r.body, "\"failed\":1");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_dropped_not_null_is_one_drift_difference)
{
	const char *dir = h_migrations_dir();
	char db[128], state[700];
	struct h_result res;
	snprintf(db, sizeof db, "%s", h_fresh_db());
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	h_mig(h_tmpdir(), "state/x", "");
	h_mig(dir, "20240101000000_init", "CREATE TABLE account (id int PRIMARY KEY, email text NOT NULL, name text);");
	h_deploy_ok(db, dir);
	if (h_server_major() >= 18) /* the case in point: the catalog holds the NOT NULL twice */
		h_assert_q(db,
			   "SELECT count(*) FROM pg_constraint WHERE conrelid = 'account'::regclass AND contype = 'n' "
			   "AND conname = 'account_email_not_null'",
			   "1");
	h_migrated(&res, h_env_url(db), "drift", "--json", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(res.rc == 0, "clean drift exit %d:\n%s%s", res.rc, res.out, res.err);
	h_result_free(&res);

	h_exec(db, "ALTER TABLE account ALTER COLUMN email DROP NOT NULL");
	h_migrated(&res, h_env_url(db), "drift", "--json", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(res.rc == 1, "drift exit %d:\n%s%s", res.rc, res.out, res.err);
	json_t *rep = json_loads(res.out, 0, NULL);
	ck_assert_msg(rep, "no JSON:\n%s", res.out);
	json_t *diffs = json_object_get(rep, "differences");
	char *text = json_dumps(diffs, JSON_INDENT(2));
	ck_assert_msg(json_array_size(diffs) == 1, "PostgreSQL %d: want one difference, got:\n%s", h_server_major(),
		      text);
	h_assert_contains(h_jstr(json_array_get(diffs, 0), "message"), "email");
	free(text);
	json_decref(rep);
	h_result_free(&res);

	/* And back: SET NOT NULL again is clean again (no stale constraint row left behind). */
	h_exec(db, "ALTER TABLE account ALTER COLUMN email SET NOT NULL");
	h_migrated(&res, h_env_url(db), "drift", "--json", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(res.rc == 0, "drift after SET NOT NULL exit %d:\n%s", res.rc, res.out);
	h_result_free(&res);
}

ITEST(a_backup_against_a_server_newer_than_pg_dump_is_refused_before_anything_runs)
{
	struct h_daemon d = {0};
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char backups[700];
	if (h_server_major() <= h_client_major())
		H_SKIP("PostgreSQL %d is not newer than pg_dump %d (this runs on 16, 17 and 18)", h_server_major(),
		       h_client_major());
	snprintf(backups, sizeof backups, "%s/backups", h_tmpdir());
	h_mig(dir, "20240101000000_init", "CREATE TABLE must_not_exist (id int);");

	/* The CLI: migrated backup. */
	mkdir(backups, 0700);
	h_migrated(&res, h_env_url(db), "backup", "--state-dir", backups, "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 2, "backup against PostgreSQL %d exited %d (want 2, a configuration error):\n%s%s",
		      h_server_major(), res.rc, res.out, res.err);
	h_assert_contains(res.err, "is older than the server");
	h_assert_contains(res.err, "backup_before_deploy = false");
	h_result_free(&res);
	h_migrated(&res, "backup", "--list", "--json", "--state-dir", backups, NULL);
	h_assert_not_contains(res.out, "\"id\""); /* no archive, not even a partial one */
	h_result_free(&res);

	/* The daemon: a deploy with the backup on (the default) fails in its backup step, and
	 * nothing of the migration ran. */
	h_daemon_start(&d, db, dir, "MIGRATED_BACKUP_BEFORE_DEPLOY=true", NULL);
	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	h_assert_contains(h_jstr(job, "error.message"), "is older than the server");
	json_decref(job);
	free(id);
	h_assert_q(db, "SELECT to_regclass('must_not_exist') IS NULL", "t");
	h_assert_q(db,
		   "SELECT CASE WHEN to_regclass('_prisma_migrations') IS NULL THEN 0 ELSE (SELECT count(*) FROM "
		   "_prisma_migrations) END",
		   "0");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

Suite *suite_versions(void)
{
	Suite *s = suite_create("versions");
	TCase *tc = tcase_create("versions");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, the_daemon_deploys_and_its_health_names_this_server);
	tcase_add_test(tc, a_dropped_not_null_is_one_drift_difference);
	tcase_add_test(tc, a_backup_against_a_server_newer_than_pg_dump_is_refused_before_anything_runs);
	suite_add_tcase(s, tc);
	return s;
}
