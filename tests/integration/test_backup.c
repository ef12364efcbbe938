/* test_backup.c - backups with the real pg_dump and pg_restore against the real daemon: the
 * backup a deploy takes first (a valid archive, recorded with its sha256, listed), what skips
 * it, backup failures that stop a deploy before any migration (pg_dump missing, pg_dump
 * failing, no space on a tiny filesystem, a read-only one), retention, backups on request and
 * from the CLI, and restores: refused without confirm, refused for a damaged archive, rolled
 * back when the application holds locks, and exact when they run. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* POST path with body and the admin token; the job id of a 202 (asserted). */
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

static json_t *step_of_kind(json_t *job, const char *kind)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(job, "steps"), i, s)
	{
		const char *k = h_jstr(s, "kind");
		if (k && strcmp(k, kind) == 0)
			return s;
	}
	return NULL;
}

static size_t count_files(const char *dir, const char *suffix)
{
	char cmd[900];
	snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | grep -c -- '%s$'", dir, suffix);
	FILE *p = popen(cmd, "r");
	int n = 0;
	if (p && fscanf(p, "%d", &n) != 1)
		n = 0;
	if (p)
		pclose(p);
	return (size_t)n;
}

static void two_migrations(const char *dir)
{
	h_mig(dir, "20240101000000_base",
	      "CREATE TABLE \"Asset\" (id serial PRIMARY KEY, name text NOT NULL);\n"
	      "INSERT INTO \"Asset\" (name) SELECT 'asset ' || i FROM generate_series(1, 500) i;");
	h_mig(dir, "20240102000000_rejection",
	      "ALTER TABLE \"Asset\" ADD COLUMN \"rejectedAt\" timestamp;\n"
	      "ALTER TABLE \"Asset\" ADD COLUMN \"rejectionReason\" text;");
}

ITEST(a_deploy_with_pending_migrations_takes_a_valid_recorded_backup_first)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);");
	h_daemon_start(&d, db, dir, NULL);
	json_decref(run_job(&d, "/v1/deploy", "{}"));
	h_mig(dir, "20240102000000_more", "CREATE TABLE u (id int);");
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");

	/* The backup step: after the lock, before the first migration. */
	json_t *steps = json_object_get(job, "steps");
	ck_assert_str_eq(h_jstr(json_array_get(steps, 1), "kind"), "lock");
	ck_assert_str_eq(h_jstr(json_array_get(steps, 2), "kind"), "lint");
	ck_assert_str_eq(h_jstr(json_array_get(steps, 3), "kind"), "backup");
	ck_assert_str_eq(h_jstr(json_array_get(steps, 4), "name"), "20240102000000_more");
	json_t *b = json_object_get(json_array_get(steps, 3), "backup");
	ck_assert_str_eq(h_jstr(b, "kind"), "pre-deploy");
	ck_assert_str_eq(h_jstr(b, "job_id"), h_jstr(job, "id"));
	ck_assert_str_eq(h_jstr(b, "head"), "20240101000000_base"); /* the schema it holds */
	ck_assert_int_eq(json_integer_value(json_object_get(b, "applied")), 1);
	ck_assert_ptr_nonnull(h_jstr(b, "server_version"));
	ck_assert(json_number_value(json_object_get(b, "duration_ms")) > 0);
	ck_assert_str_eq(h_jstr(json_object_get(job, "result"), "backup.id"), h_jstr(b, "id"));
	const char *file = h_jstr(b, "file");
	h_assert_contains(file, d.state_dir);
	h_assert_contains(file, h_jstr(job, "id")); /* named by time and job id */
	/* The archive is what pg_restore reads, and its record is true (sha256 by sha256sum). */
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq((long long)st.st_size, (long long)json_integer_value(json_object_get(b, "size_bytes")));
	char *sum = h_sha256sum(file);
	ck_assert_str_eq(sum, h_jstr(b, "sha256"));
	free(sum);
	struct h_result pr;
	char bin[600];
	snprintf(bin, sizeof bin, "%s/pg_restore", h_client_bindir());
	char *argv[] = {bin, "--list", (char *)file, NULL};
	h_run_argv(&pr, argv, NULL, 60);
	ck_assert_msg(pr.rc == 0, "pg_restore --list: %s", pr.err);
	h_assert_contains(pr.out, "TABLE DATA public t");
	h_assert_not_contains(pr.out, "TABLE public u"); /* taken before the migration */
	h_result_free(&pr);
	/* No temporary file is left. */
	char bdir[700];
	snprintf(bdir, sizeof bdir, "%s/backups", d.state_dir);
	ck_assert_uint_eq(count_files(bdir, ".partial"), 0);
	/* Listed, newest first, with the same record; the first deploy took one too. */
	h_request(&r, &d, "GET", "/v1/backups", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	json_t *list = json_object_get(r.json, "backups");
	ck_assert_uint_eq(json_array_size(list), 2);
	ck_assert_str_eq(h_jstr(json_array_get(list, 0), "id"), h_jstr(b, "id"));
	ck_assert_str_eq(h_jstr(json_array_get(list, 0), "sha256"), h_jstr(b, "sha256"));
	ck_assert(json_is_null(json_object_get(json_array_get(list, 1), "head"))); /* before anything */
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/backups", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	h_http_free(&r);
	/* Counted in the metrics. */
	h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	h_assert_contains(r.body, "migrated_backups_total{outcome=\"succeeded\"} 2");
	h_http_free(&r);
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(no_backup_without_pending_migrations_or_when_turned_off)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char bdir[700];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL);
	snprintf(bdir, sizeof bdir, "%s/backups", d.state_dir);
	/* Off by configuration: the deploy says so. */
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_ptr_null(step_of_kind(job, "backup"));
	h_assert_contains(json_dumps(json_object_get(job, "logs"), 0), "no backup before this deploy");
	json_decref(job);
	/* Nothing pending: no lock, no backup, even when asked. */
	job = run_job(&d, "/v1/deploy", "{\"backup\": true}");
	ck_assert_ptr_null(step_of_kind(job, "backup"));
	json_decref(job);
	ck_assert_uint_eq(count_files(bdir, ".dump"), 0);
	/* Asked for in the request: taken although the configuration says no. */
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	job = run_job(&d, "/v1/deploy", "{\"backup\": true}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_ptr_nonnull(step_of_kind(job, "backup"));
	json_decref(job);
	ck_assert_uint_eq(count_files(bdir, ".dump"), 1);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* On by default, and {"backup": false} skips it for one deploy. */
	h_daemon_start(&d, db, dir, NULL);
	h_mig(dir, "20240103000000_c", "CREATE TABLE c (id int);");
	job = run_job(&d, "/v1/deploy", "{\"backup\": false}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_ptr_null(step_of_kind(job, "backup"));
	json_decref(job);
	ck_assert_uint_eq(count_files(bdir, ".dump"), 1);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* After a failed backup: nothing of the pending migration ran, and it is not in the history. */
static void assert_nothing_applied(const char *db, const char *job_error_part, json_t *job)
{
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	json_t *bs = step_of_kind(job, "backup");
	ck_assert_ptr_nonnull(bs);
	ck_assert_str_eq(h_jstr(bs, "state"), "failed");
	ck_assert_ptr_null(step_of_kind(job, "migration"));
	h_assert_contains(h_jstr(job, "error.message"), "no migration was applied");
	h_assert_contains(h_jstr(job, "error.message"), job_error_part);
	h_assert_q(db, "SELECT to_regclass('public.pending_table') IS NULL", "t");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240102000000_pending'", "0");
}

ITEST(a_failed_backup_stops_the_deploy_before_any_migration)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char tiny[700], ro[700], env[1000];

	h_mig(dir, "20240101000000_base", "CREATE TABLE base (id int);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_pending", "CREATE TABLE pending_table (id int);");

	/* pg_dump missing. */
	h_daemon_start(&d, db, dir, "MIGRATED_PG_DUMP=/nonexistent/pg_dump", NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	assert_nothing_applied(db, "/nonexistent/pg_dump", job);
	json_decref(job);
	/* The daemon carries on, and health says the last job failed. */
	h_request(&r, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* No space: a 256 KiB filesystem for a database of several MiB is refused before pg_dump. */
	snprintf(tiny, sizeof tiny, "%s/tiny", h_tmpdir());
	h_mount_tmpfs(tiny, "size=256k");
	snprintf(env, sizeof env, "MIGRATED_BACKUP_DIR=%s/backups", tiny);
	h_daemon_start(&d, db, dir, env, NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_nothing_applied(db, "not enough free space", job);
	h_assert_contains(h_jstr(job, "error.hint"), "\"backup\": false");
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_umount(tiny);

	/* A read-only filesystem. */
	snprintf(ro, sizeof ro, "%s/ro", h_tmpdir());
	h_mount_tmpfs(ro, "size=64m");
	char sub[800];
	snprintf(sub, sizeof sub, "%s/backups", ro);
	mkdir(sub, 0700);
	struct h_result mr;
	char *argv[] = {"/bin/mount", "-o", "remount,ro", ro, NULL};
	h_run_argv(&mr, argv, NULL, 30);
	ck_assert_msg(mr.rc == 0, "remount ro: %s", mr.err);
	h_result_free(&mr);
	snprintf(env, sizeof env, "MIGRATED_BACKUP_DIR=%s", sub);
	h_daemon_start(&d, db, dir, env, NULL);
	job = run_job(&d, "/v1/deploy", "{}");
	assert_nothing_applied(db, "read-only", job);
	json_decref(job);

	/* The operator's way out: deploy without the backup. */
	job = run_job(&d, "/v1/deploy", "{\"backup\": false}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	h_assert_q(db, "SELECT to_regclass('public.pending_table') IS NOT NULL", "t");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_umount(ro);
}

ITEST(pg_dump_failing_is_quoted_and_the_password_is_not)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char url[400], sql[600];

	/* The application's role owns the migrations but cannot read a table someone else made:
	 * pg_dump fails on it, as it does for a role without rights on everything. */
	h_admin_exec("DO $$ BEGIN CREATE ROLE md_backup_app LOGIN PASSWORD 'Backup-Secret-42'; "
		     "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
	snprintf(sql, sizeof sql,
		 "GRANT ALL ON SCHEMA public TO md_backup_app; ALTER DATABASE \"%s\" OWNER TO md_backup_app", db);
	h_exec(db, sql);
	snprintf(url, sizeof url, "DATABASE_URL=postgresql://md_backup_app:Backup-Secret-42@127.0.0.1:%d/%s", h_port(),
		 db);
	h_mig(dir, "20240101000000_base", "CREATE TABLE base (id int);");
	h_daemon_start(&d, db, dir, url, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{\"backup\": false}");
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	h_exec(db, "CREATE TABLE not_yours (secret text); REVOKE ALL ON not_yours FROM PUBLIC");
	h_mig(dir, "20240102000000_pending", "CREATE TABLE pending_table (id int);");
	job = run_job(&d, "/v1/deploy", "{}");
	assert_nothing_applied(db, "pg_dump failed", job);
	h_assert_contains(h_jstr(job, "error.message"), "permission denied for table not_yours");
	char *text = json_dumps(job, 0);
	h_assert_not_contains(text, "Backup-Secret-42");
	free(text);
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	h_assert_contains(log, "backup failed");
	h_assert_not_contains(log, "Backup-Secret-42");
	free(log);
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "grep -rl Backup-Secret-42 '%s' >/dev/null", d.state_dir);
	ck_assert_msg(system(cmd) != 0, "the password appears in the state directory");
}

ITEST(retention_keeps_the_newest_n_and_removes_exactly_the_rest)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char bdir[700], *ids[5];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_deploy_ok(db, dir);
	h_daemon_start(&d, db, dir, "MIGRATED_BACKUP_KEEP=2", NULL);
	snprintf(bdir, sizeof bdir, "%s/backups", d.state_dir);
	for (int i = 0; i < 5; i++) {
		json_t *job = run_job(&d, "/v1/backups", NULL);
		ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
		ck_assert_str_eq(h_jstr(job, "kind"), "backup");
		ids[i] = strdup(h_jstr(job, "result.backup.id"));
		json_t *pruned = json_object_get(step_of_kind(job, "backup"), "pruned");
		/* From the third on, each backup removes exactly the one that fell out of the newest 2. */
		ck_assert_uint_eq(json_array_size(pruned), i >= 2 ? 1 : 0);
		if (i >= 2) {
			ck_assert_str_eq(json_string_value(json_array_get(pruned, 0)), ids[i - 2]);
			h_assert_contains(json_dumps(json_object_get(job, "logs"), 0), "retention removed backup");
		}
		json_decref(job);
	}
	ck_assert_uint_eq(count_files(bdir, ".dump"), 2);
	ck_assert_uint_eq(count_files(bdir, ".json"), 2);
	h_request(&r, &d, "GET", "/v1/backups", H_TOKEN_READ, NULL, NULL, NULL);
	json_t *list = json_object_get(r.json, "backups");
	ck_assert_uint_eq(json_array_size(list), 2);
	ck_assert_str_eq(h_jstr(json_array_get(list, 0), "id"), ids[4]);
	ck_assert_str_eq(h_jstr(json_array_get(list, 1), "id"), ids[3]);
	h_http_free(&r);
	/* A read token may list but not take one. */
	h_request(&r, &d, "POST", "/v1/backups", H_TOKEN_READ, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 403);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/backups", H_TOKEN_DEPLOY, "application/json", "{\"x\": 1}", NULL);
	ck_assert_int_eq(r.status, 400);
	h_assert_contains(h_jstr(r.json, "error.message"), "unknown field");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* The CLI sees the same folder. */
	struct h_result res;
	h_migrated(&res, "backup", "--list", "--json", "--state-dir", d.state_dir, NULL);
	ck_assert_int_eq(res.rc, 0);
	h_assert_contains(res.out, ids[4]);
	h_assert_not_contains(res.out, ids[0]);
	h_result_free(&res);
	for (int i = 0; i < 5; i++)
		free(ids[i]);
}

ITEST(a_cli_backup_is_listed_by_the_daemon_and_restorable)
{
	struct h_daemon d = {0};
	struct h_http r;
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char state[700];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int); INSERT INTO a SELECT generate_series(1, 10);");
	h_deploy_ok(db, dir);
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	h_migrated(&res, h_env_url(db), "backup", "--state-dir", state, "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 0, "%s%s", res.out, res.err);
	h_assert_contains(res.out, "head    20240101000000_a");
	h_result_free(&res);
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "GET", "/v1/backups", H_TOKEN_READ, NULL, NULL, NULL);
	json_t *b = json_array_get(json_object_get(r.json, "backups"), 0);
	ck_assert_ptr_nonnull(b);
	ck_assert(json_is_null(json_object_get(b, "job_id")));
	ck_assert_str_eq(h_jstr(b, "kind"), "manual");
	char *id = strdup(h_jstr(b, "id"));
	h_http_free(&r);
	h_exec(db, "DELETE FROM a");
	char body[300];
	snprintf(body, sizeof body, "{\"strategy\": \"restore\", \"backup\": \"%s\", \"confirm\": true}", id);
	json_t *job = run_job(&d, "/v1/rollback", body);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "restore: %s", h_jstr(job, "error.message"));
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM a", "10");
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_restore_needs_confirm_an_existing_backup_and_an_intact_archive)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char body[400];
	two_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	const char *id = h_jstr(job, "result.backup.id");
	char *bid = strdup(id), *file = strdup(h_jstr(job, "result.backup.file"));
	json_decref(job);

	/* Without confirm: 400 saying what would be lost; no job. */
	snprintf(body, sizeof body, "{\"strategy\": \"restore\", \"backup\": \"%s\"}", bid);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json", body, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(h_jstr(r.json, "error.code"), "confirm_required");
	h_assert_contains(h_jstr(r.json, "error.message"), "every write since then is discarded");
	h_assert_contains(h_jstr(r.json, "error.message"), "minutes ago");
	ck_assert(
		json_is_number(json_object_get(json_object_get(json_object_get(r.json, "error"), "detail"), "age_s")));
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/jobs", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), 1);
	h_http_free(&r);
	/* Unknown and malformed ids; a deploy token is not enough; the wrong fields. */
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"restore\", \"backup\": \"20990101T000000Z-nope\", \"confirm\": true}", NULL);
	ck_assert_int_eq(r.status, 404);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"restore\", \"backup\": \"../../etc/passwd\", \"confirm\": true}", NULL);
	ck_assert_int_eq(r.status, 400);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_DEPLOY, "application/json", body, NULL);
	ck_assert_int_eq(r.status, 403);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json", "{\"strategy\": \"sideways\"}",
		  NULL);
	ck_assert_int_eq(r.status, 400);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json", "{\"strategy\": \"down\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	h_assert_contains(h_jstr(r.json, "error.message"), "\"to\"");
	h_http_free(&r);

	/* A damaged archive: refused before anything changes (sha256 against the record). */
	h_exec(db, "INSERT INTO \"Asset\" (name) VALUES ('written after the backup')");
	FILE *f = fopen(file, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 100, SEEK_SET);
	fputc('X', f);
	fclose(f);
	snprintf(body, sizeof body, "{\"strategy\": \"restore\", \"backup\": \"%s\", \"confirm\": true}", bid);
	job = run_job(&d, "/v1/rollback", body);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	h_assert_contains(h_jstr(job, "error.message"), "does not match its record");
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM \"Asset\"", "501");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "2");
	free(bid);
	free(file);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_restore_blocked_by_the_applications_locks_rolls_back_and_changes_nothing)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char body[400];
	two_migrations(dir);
	/* The base first; the deploy of the rest backs up the 500 rows. */
	char path[800];
	snprintf(path, sizeof path, "rm -rf '%s/20240102000000_rejection'", dir);
	ck_assert_int_eq(system(path), 0);
	h_deploy_ok(db, dir);
	two_migrations(dir);
	h_daemon_start(&d, db, dir, "MIGRATED_LOCK_TIMEOUT=500ms", NULL);
	json_t *job = run_job(&d, "/v1/deploy", "{}");
	char *bid = strdup(h_jstr(job, "result.backup.id"));
	json_decref(job);
	h_exec(db, "DELETE FROM \"Asset\" WHERE id > 100");
	/* The application is still running: one of its transactions reads the table. */
	PGconn *app = h_connect(db, "the-app");
	PQclear(PQexec(app, "BEGIN"));
	PQclear(PQexec(app, "SELECT count(*) FROM \"Asset\""));
	snprintf(body, sizeof body, "{\"strategy\": \"restore\", \"backup\": \"%s\", \"confirm\": true}", bid);
	job = run_job(&d, "/v1/rollback", body);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	h_assert_contains(h_jstr(job, "error.message"), "rolled back, nothing changed");
	h_assert_contains(h_jstr(job, "error.hint"), "stop the application");
	ck_assert_ptr_nonnull(h_jstr(job, "result.safety_backup.id")); /* taken before the attempt */
	json_decref(job);
	PQclear(PQexec(app, "COMMIT"));
	PQfinish(app);
	h_assert_q(db, "SELECT count(*) FROM \"Asset\"", "100");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "2");
	h_assert_q(db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'rejectedAt'", "1");
	/* Once the application lets go, the same restore works. */
	job = run_job(&d, "/v1/rollback", body);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "%s", h_jstr(job, "error.message"));
	json_decref(job);
	h_assert_q(db, "SELECT count(*) FROM \"Asset\"", "500");
	h_assert_q(db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'rejectedAt'", "0");
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "1");
	free(bid);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

Suite *suite_backup(void)
{
	Suite *s = suite_create("backup");
	TCase *tc = tcase_create("backup");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, a_deploy_with_pending_migrations_takes_a_valid_recorded_backup_first);
	tcase_add_test(tc, no_backup_without_pending_migrations_or_when_turned_off);
	tcase_add_test(tc, a_failed_backup_stops_the_deploy_before_any_migration);
	tcase_add_test(tc, pg_dump_failing_is_quoted_and_the_password_is_not);
	tcase_add_test(tc, retention_keeps_the_newest_n_and_removes_exactly_the_rest);
	tcase_add_test(tc, a_cli_backup_is_listed_by_the_daemon_and_restorable);
	tcase_add_test(tc, a_restore_needs_confirm_an_existing_backup_and_an_intact_archive);
	tcase_add_test(tc, a_restore_blocked_by_the_applications_locks_rolls_back_and_changes_nothing);
	suite_add_tcase(s, tc);
	return s;
}
