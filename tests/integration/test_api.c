/* test_api.c - the daemon over real HTTP: every route's success, every error status with the
 * one JSON error shape, tokens and roles, idempotency, dry runs, plan, resolve, text output,
 * and that no token or password ever reaches a response, the log or the journal. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void assert_error(struct h_http *r, long status, const char *code, const char *phrase)
{
	ck_assert_msg(r->status == status, "got %ld, want %ld: %s", r->status, status, r->body);
	ck_assert_msg(r->json && h_jstr(r->json, "error.code") && h_jstr(r->json, "error.message"),
		      "not the JSON error shape: %s", r->body);
	ck_assert_str_eq(h_jstr(r->json, "error.code"), code);
	if (phrase)
		h_assert_contains(h_jstr(r->json, "error.message"), phrase);
}

static void simple_migrations(const char *dir)
{
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int PRIMARY KEY);");
	h_mig(dir, "20240102000000_b", "CREATE INDEX CONCURRENTLY a_id ON a (id);");
	h_mig(dir, "20240103000000_c", "ALTER TABLE a ADD COLUMN v text;");
}

ITEST(deploy_is_a_job_with_a_step_per_migration_and_status_agrees)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);

	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "pending")), 3);
	h_http_free(&r);

	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_str_eq(h_jstr(job, "kind"), "deploy");
	ck_assert_str_eq(h_jstr(job, "requested_by"), "ops");
	json_t *steps = json_object_get(job, "steps");
	ck_assert_uint_eq(json_array_size(steps), 8);
	/* Lint (lint_gate = warn) and the backup come under the lock, before the first migration. */
	const char *want[] = {"preflight",        "lock",  "lint", "backup", "20240101000000_a", "20240102000000_b",
			      "20240103000000_c", "verify"};
	for (size_t i = 0; i < 8; i++) {
		json_t *s = json_array_get(steps, i);
		ck_assert_str_eq(h_jstr(s, "name"), want[i]);
		ck_assert_str_eq(h_jstr(s, "state"), "succeeded");
		ck_assert_ptr_nonnull(h_jstr(s, "started_at"));
		ck_assert_ptr_nonnull(h_jstr(s, "finished_at"));
		ck_assert(json_is_number(json_object_get(s, "duration_ms")));
	}
	ck_assert_str_eq(h_jstr(json_array_get(steps, 5), "mode"), "single-statement");
	ck_assert_str_eq(h_jstr(json_array_get(steps, 3), "backup.kind"), "pre-deploy");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(job, "result"), "applied")), 3);
	json_decref(job);

	h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert(json_is_true(json_object_get(r.json, "up_to_date")));
	h_http_free(&r);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "3");
	/* A second deploy is a no-op job. */
	char *id2 = h_post_deploy(&d, NULL);
	job = h_wait_job(&d, id2, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(job, "result"), "applied")), 0);
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	free(id);
	free(id2);
}

ITEST(every_bad_request_gets_its_status_in_the_one_error_shape)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);

	h_request(&r, &d, "GET", "/v1/nope", H_TOKEN_ADMIN, NULL, NULL, NULL);
	assert_error(&r, 404, "not_found", "/v1/nope");
	h_http_free(&r);
	h_request(&r, &d, "DELETE", "/v1/status", H_TOKEN_ADMIN, NULL, NULL, NULL);
	assert_error(&r, 405, "method_not_allowed", "DELETE");
	ck_assert_str_eq(r.allow, "GET, HEAD");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/deploy", H_TOKEN_ADMIN, NULL, NULL, NULL);
	assert_error(&r, 405, "method_not_allowed", NULL);
	ck_assert_str_eq(r.allow, "POST");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", NULL, "application/json", "{}", NULL);
	assert_error(&r, 401, "unauthorized", "needs a bearer token");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", "wrong-token", "application/json", "{}", NULL);
	assert_error(&r, 401, "unauthorized", "not valid");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/status", NULL, NULL, NULL, NULL);
	assert_error(&r, 401, "unauthorized", NULL);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_READ, "application/json", "{}", NULL);
	assert_error(&r, 403, "forbidden", NULL);
	ck_assert_str_eq(h_jstr(r.json, "error.detail.required_role"), "deploy");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	assert_error(&r, 403, "forbidden", NULL); /* resolve needs admin */
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{\"dry_run\": tru", NULL);
	assert_error(&r, 400, "bad_request", "line 1, column");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{\"no_such_field\": 1}", NULL);
	assert_error(&r, 400, "bad_request", "unknown field \"no_such_field\"");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{\"dry_run\": \"yes\"}", NULL);
	assert_error(&r, 400, "bad_request", "\"dry_run\" must be true or false");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "[1]", NULL);
	assert_error(&r, 400, "bad_request", "JSON object");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "text/plain", "x", NULL);
	assert_error(&r, 415, "unsupported_media_type", NULL);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_ADMIN, NULL, NULL, NULL);
	assert_error(&r, 411, "length_required", NULL);
	h_http_free(&r);
	char *big = malloc(70 * 1024 + 1);
	memset(big, 'a', 70 * 1024);
	big[70 * 1024] = '\0';
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", big, NULL);
	assert_error(&r, 413, "payload_too_large", "65536");
	h_http_free(&r);
	/* Chunked (no Content-Length): refused once the cap is passed. */
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", big, "Transfer-Encoding: chunked");
	assert_error(&r, 413, "payload_too_large", NULL);
	h_http_free(&r);
	/* Headers beyond the per-connection memory (32 KiB): libmicrohttpd refuses them with 431
	 * (its own body, not ours) and the daemon carries on. */
	memcpy(big, "X-Filler: ", 10);
	big[40 * 1024] = '\0';
	h_request(&r, &d, "GET", "/v1/health", NULL, NULL, NULL, big);
	ck_assert_int_eq(r.status, 431);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	free(big);
	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_ADMIN, "application/json",
		  "{\"migration\": \"../../etc/passwd\", \"as\": \"applied\"}", NULL);
	assert_error(&r, 400, "bad_request", "not a migration name");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_ADMIN, "application/json",
		  "{\"migration\": \"20240101000000_a\", \"as\": \"done\"}", NULL);
	assert_error(&r, 400, "bad_request", "\"applied\" or \"rolled-back\"");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", "Idempotency-Key: has space");
	assert_error(&r, 400, "bad_request", "Idempotency-Key");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/jobs/00000000-0000-4000-8000-000000000000", H_TOKEN_READ, NULL, NULL, NULL);
	assert_error(&r, 404, "not_found", NULL);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/jobs?limit=0", H_TOKEN_READ, NULL, NULL, NULL);
	assert_error(&r, 400, "bad_request", "limit");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(deploy_while_one_runs_is_409_naming_it_and_cancel_of_an_ended_job_is_409)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_slow", "SELECT pg_sleep(2); CREATE TABLE s (id int);");
	h_daemon_start(&d, db, dir, NULL);
	char *id = h_post_deploy(&d, "{}");
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	assert_error(&r, 409, "conflict", id);
	ck_assert_str_eq(h_jstr(r.json, "error.detail.job.id"), id);
	h_http_free(&r);
	json_decref(h_wait_job(&d, id, 30));
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
	h_request(&r, &d, "POST", path, H_TOKEN_DEPLOY, NULL, NULL, NULL);
	assert_error(&r, 409, "conflict", "already ended");
	h_http_free(&r);
	h_daemon_stop(&d);
	free(id);
}

ITEST(failed_migration_blocks_deploys_with_409_until_resolved_over_the_api)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_ok", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_bad", "CREATE TABLE b_partial (id int); INSERT INTO nope VALUES (1);");
	h_daemon_start(&d, db, dir, NULL);
	char *id = h_post_deploy(&d, NULL);
	json_t *job = h_wait_job(&d, id, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	json_t *steps = json_object_get(job, "steps");
	json_t *failed = json_array_get(steps, json_array_size(steps) - 1);
	ck_assert_str_eq(h_jstr(failed, "name"), "20240102000000_bad");
	ck_assert_str_eq(h_jstr(failed, "state"), "failed");
	ck_assert_str_eq(h_jstr(failed, "error.sqlstate"), "42P01");
	ck_assert_str_eq(h_jstr(failed, "error.failure.statement"), "INSERT INTO nope VALUES (1)");
	ck_assert_int_eq(json_integer_value(
				 json_object_get(json_object_get(json_object_get(failed, "error"), "failure"), "line")),
			 1);
	ck_assert_str_eq(h_jstr(job, "error.prisma_code"), "P3018");
	json_decref(job);

	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	assert_error(&r, 409, "failed_migration_exists", "20240102000000_bad");
	ck_assert_str_eq(h_jstr(r.json, "error.detail.prisma_code"), "P3009");
	h_assert_contains(h_jstr(r.json, "error.detail.hint"), "resolve --rolled-back");
	h_http_free(&r);

	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_ADMIN, "application/json",
		  "{\"migration\": \"20240102000000_bad\", \"as\": \"rolled-back\"}", NULL);
	ck_assert_msg(r.status == 202, "%s", r.body);
	json_t *rj = h_wait_job(&d, h_jstr(r.json, "id"), 30);
	ck_assert_str_eq(h_jstr(rj, "state"), "succeeded");
	ck_assert_str_eq(h_jstr(rj, "kind"), "resolve");
	json_decref(rj);
	h_http_free(&r);
	h_mig(dir, "20240102000000_bad", "CREATE TABLE b (id int);");
	char *id2 = h_post_deploy(&d, NULL);
	job = h_wait_job(&d, id2, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	/* A resolve the engine refuses ends the job failed with Prisma's code. */
	h_request(&r, &d, "POST", "/v1/resolve", H_TOKEN_ADMIN, "application/json",
		  "{\"migration\": \"20990101000000_none\", \"as\": \"applied\"}", NULL);
	ck_assert_int_eq(r.status, 202);
	rj = h_wait_job(&d, h_jstr(r.json, "id"), 30);
	ck_assert_str_eq(h_jstr(rj, "state"), "failed");
	ck_assert_str_eq(h_jstr(rj, "error.prisma_code"), "P3017");
	json_decref(rj);
	h_http_free(&r);
	h_daemon_stop(&d);
	free(id);
	free(id2);
}

ITEST(unreachable_database_is_503_and_the_daemon_stays_up)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, NULL, dir, "DATABASE_URL=postgresql://u:Sup3rS3cretPW@127.0.0.1:1/x", NULL);
	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, NULL);
	assert_error(&r, 503, "database_unreachable", "connection refused");
	h_assert_not_contains(r.body, "Sup3rS3cretPW");
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	assert_error(&r, 503, "database_unreachable", NULL);
	h_http_free(&r);
	/* Health says down, with the error classified; liveness holds; readiness fails. */
	h_request(&r, &d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(h_jstr(r.json, "status"), "down");
	h_assert_contains(r.body, "\"connection\":\"refused\"");
	h_assert_contains(r.body, "\"prisma_code\":\"P1001\"");
	h_assert_not_contains(r.body, "Sup3rS3cretPW");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/healthz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	h_assert_contains(r.body, "cannot be reached");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	h_assert_not_contains(log, "Sup3rS3cretPW");
	h_assert_contains(log, "database unreachable");
	free(log);
}

ITEST(no_database_configured_is_503_saying_what_to_set)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, NULL, dir, "DATABASE_URL=", NULL);
	const char *paths[][2] = {{"GET", "/v1/status"}, {"GET", "/v1/plan"}, {"POST", "/v1/deploy"}};
	for (size_t i = 0; i < 3; i++) {
		h_request(&r, &d, paths[i][0], paths[i][1], H_TOKEN_ADMIN, i == 2 ? "application/json" : NULL,
			  i == 2 ? "{}" : NULL, NULL);
		assert_error(&r, 503, "unavailable", "set DATABASE_URL");
		ck_assert_ptr_nonnull(h_jstr(r.json, "error.detail.hint"));
		h_http_free(&r);
	}
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(same_idempotency_key_returns_the_same_job_even_after_a_restart)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", "Idempotency-Key: release-42");
	ck_assert_int_eq(r.status, 202);
	char *id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	json_decref(h_wait_job(&d, id, 30));
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", "Idempotency-Key: release-42");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "id"), id);
	h_assert_contains(r.location, id);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", "Idempotency-Key: release-42");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "id"), id);
	h_http_free(&r);
	/* The job and its steps survived the restart. */
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	h_request(&r, &d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_str_eq(h_jstr(r.json, "state"), "succeeded");
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "steps")), 8);
	h_http_free(&r);
	h_daemon_stop(&d);
	free(id);
}

ITEST(dry_run_plan_and_text_views_change_nothing)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "%s", r.body);
	ck_assert(json_is_true(json_object_get(r.json, "would_deploy")));
	json_t *planned = json_object_get(r.json, "planned");
	ck_assert_uint_eq(json_array_size(planned), 3);
	ck_assert_str_eq(h_jstr(json_array_get(planned, 1), "mode"), "single-statement");
	h_assert_contains(h_jstr(json_array_get(planned, 1), "mode_reason"), "CREATE INDEX CONCURRENTLY");
	h_http_free(&r);
	char *id = h_post_deploy(&d, "{\"dry_run\": true}");
	json_t *job = h_wait_job(&d, id, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(job, "result"), "planned")), 3);
	json_decref(job);
	h_assert_q(db, "SELECT to_regclass('_prisma_migrations') IS NULL AND to_regclass('a') IS NULL", "t");
	h_request(&r, &d, "GET", "/v1/status", H_TOKEN_READ, NULL, NULL, "Accept: text/plain");
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.content_type, "text/plain");
	h_assert_contains(r.body, "PENDING     20240101000000_a");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/jobs", H_TOKEN_READ, NULL, NULL, "Accept: text/plain");
	h_assert_contains(r.body, id);
	h_assert_contains(r.body, "succeeded");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/status?pretty", H_TOKEN_READ, NULL, NULL, NULL);
	h_assert_contains(r.body, "\n  \"summary\": {\n");
	h_http_free(&r);
	h_request(&r, &d, "HEAD", "/v1/health", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_daemon_stop(&d);
	free(id);
}

/* Every regular file under dir (recursively) must exist and not contain any of needles;
 * returns how many files were read, so that "nothing found" cannot mean "nothing looked at". */
static int assert_files_free_of(const char *dir, const char *const *needles, size_t n)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "find '%s' -type f", dir);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	char path[1024];
	int files = 0;
	while (fgets(path, sizeof path, f)) {
		path[strcspn(path, "\n")] = '\0';
		size_t len = 0;
		char *text = h_read(path, &len);
		ck_assert_msg(text, "cannot read %s", path);
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(!memmem(text, len, needles[i], strlen(needles[i])), "%s contains the secret %s",
				      path, needles[i]);
		free(text);
		files++;
	}
	pclose(f);
	return files;
}

ITEST(tokens_and_passwords_never_leave_the_daemon)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	const char *const secrets[] = {H_TOKEN_ADMIN, H_TOKEN_READ, H_TOKEN_DEPLOY, "RightPassw0rd"};
	char url[300];
	h_admin_exec("DO $$ BEGIN CREATE ROLE md_pw_user LOGIN PASSWORD 'RightPassw0rd' SUPERUSER; "
		     "EXCEPTION WHEN duplicate_object THEN ALTER ROLE md_pw_user SUPERUSER; END $$");
	snprintf(url, sizeof url, "DATABASE_URL=postgresql://md_pw_user:RightPassw0rd@127.0.0.1:%d/%s", h_port(), db);
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, url, NULL);
	char *id = h_post_deploy(&d, NULL);
	json_t *job = h_wait_job(&d, id, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	/* The answers that describe the database and the job: all 200, none with a secret. */
	const char *const reads[] = {"/v1/status", "/v1/health", "/v1/jobs", "/v1/plan", "/metrics"};
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		h_request(&r, &d, "GET", reads[i], H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_msg(r.status == 200, "GET %s: %ld", reads[i], r.status);
		for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++)
			h_assert_not_contains(r.body, secrets[k]);
		h_http_free(&r);
	}
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	h_request(&r, &d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.body, "md_pw_user"); /* the user is named, the password is not */
	h_assert_not_contains(r.body, "RightPassw0rd");
	h_http_free(&r);
	/* A wrong token (one character off the admin one) is refused without being echoed. */
	h_request(&r, &d, "POST", "/v1/deploy", "test-admin-token-0123456789abcdeX", "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 401);
	h_assert_not_contains(r.body, "test-admin-token");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* The state directory (journal, status cache, ...) and the log: present, read, clean. */
	ck_assert_int_ge(assert_files_free_of(d.state_dir, secrets, 4), 1);
	size_t loglen = 0;
	char *log = h_read(d.log_path, &loglen);
	ck_assert_msg(log && loglen > 0, "the daemon log %s is missing or empty", d.log_path);
	for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++)
		h_assert_not_contains(log, secrets[k]);
	free(log);
	free(id);
}

ITEST(journal_commands_check_and_repair_the_state_directory)
{
	struct h_daemon d = {0};
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char journal[800], stdir[700];
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);
	free(h_post_deploy(&d, NULL));
	h_sleep_ms(500);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	snprintf(stdir, sizeof stdir, "%s", d.state_dir);
	h_migrated(&res, "journal", "check", "--state-dir", stdir, NULL);
	ck_assert_msg(res.rc == 0, "%s%s", res.out, res.err);
	h_assert_contains(res.out, "0 damaged lines");
	h_result_free(&res);
	/* Damage in the middle: the daemon refuses to start and says what to do. */
	snprintf(journal, sizeof journal, "%s/journal.jsonl", stdir);
	size_t len;
	char *text = h_read(journal, &len);
	char *second = strchr(text, '\n') + 1;
	FILE *f = fopen(journal, "w");
	fwrite(text, 1, (size_t)(second - text), f);
	fputs("this is not a record\n", f);
	fputs(second, f);
	fclose(f);
	h_migrated(&res, h_env_url(db), "serve", "--listen", "127.0.0.1:1", "--state-dir", stdir, "--migrations", dir,
		   NULL);
	ck_assert_int_eq(res.rc, 1);
	h_assert_contains(res.err, "damaged before its end, at line 2");
	h_assert_contains(res.err, "migrated journal repair");
	h_result_free(&res);
	h_migrated(&res, "journal", "check", "--state-dir", stdir, NULL);
	ck_assert_int_eq(res.rc, 1);
	h_assert_contains(res.out, "line 2 (byte offset");
	h_result_free(&res);
	h_migrated(&res, "journal", "repair", "--state-dir", stdir, NULL);
	ck_assert_msg(res.rc == 0, "%s%s", res.out, res.err);
	h_assert_contains(res.out, "dropped 1 damaged line");
	h_result_free(&res);
	h_daemon_start(&d, db, dir, NULL);
	struct h_http r;
	h_request(&r, &d, "GET", "/v1/jobs", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), 1);
	h_http_free(&r);
	h_daemon_stop(&d);
	free(text);
}

ITEST(a_torn_last_journal_line_is_cut_at_start)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char journal[800];
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);
	free(h_post_deploy(&d, NULL));
	h_sleep_ms(500);
	h_daemon_kill(&d);
	snprintf(journal, sizeof journal, "%s/journal.jsonl", d.state_dir);
	FILE *f = fopen(journal, "a");
	fputs("{\"v\":1,\"seq\":999,\"type\":\"log\",\"mes", f);
	fclose(f);
	h_daemon_start(&d, db, dir, NULL);
	char *log = h_daemon_log(&d);
	h_assert_contains(log, "ended in a partial record");
	free(log);
	struct h_http r;
	h_request(&r, &d, "GET", "/v1/jobs", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(r.json, "jobs")), 1);
	h_http_free(&r);
	h_daemon_stop(&d);
}

ITEST(reads_can_be_opened_by_configuration_but_not_writes)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char conf[700];
	simple_migrations(dir);
	snprintf(conf, sizeof conf, "%s/open.conf", h_tmpdir());
	h_write(conf, "read_auth = false\n", 18);
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	h_request(&r, &d, "GET", "/v1/status", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", NULL, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 401);
	h_http_free(&r);
	h_daemon_stop(&d);
}

/* The value of header name (with its colon) in r's header lines, in buf; "" when absent. */
static const char *header_of(const struct h_http *r, const char *name, char *buf, size_t bufsz)
{
	const char *p = r->headers ? r->headers : "";
	size_t n = strlen(name);
	buf[0] = '\0';
	for (; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		if (strncasecmp(p, name, n) == 0) {
			const char *v = p + n + strspn(p + n, " ");
			snprintf(buf, bufsz, "%.*s", (int)strcspn(v, "\r\n"), v);
			break;
		}
	return buf;
}

ITEST(console_is_served_from_the_binary_with_strict_headers_etag_and_404s)
{
	struct h_daemon d = {0};
	struct h_http r;
	char v[512], etag[128], inm[160];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	simple_migrations(dir);
	h_daemon_start(&d, db, dir, NULL);

	h_request(&r, &d, "GET", "/", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 302);
	ck_assert_str_eq(r.location, "/ui/");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/ui", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 302);
	ck_assert_str_eq(r.location, "/ui/");
	h_http_free(&r);

	h_request(&r, &d, "GET", "/ui/", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.content_type, "text/html");
	h_assert_contains(r.body, "data-testid=\"token-input\"");
	h_assert_contains(header_of(&r, "Content-Security-Policy:", v, sizeof v), "script-src 'self'");
	const char *csp = v;
	h_assert_contains(csp, "connect-src 'self'");
	h_assert_contains(csp, "frame-ancestors 'none'");
	h_assert_not_contains(csp, "unsafe");
	ck_assert_str_eq(header_of(&r, "X-Content-Type-Options:", v, sizeof v), "nosniff");
	ck_assert_str_eq(header_of(&r, "Referrer-Policy:", v, sizeof v), "no-referrer");
	ck_assert_str_eq(header_of(&r, "Cache-Control:", v, sizeof v), "no-cache");
	header_of(&r, "ETag:", etag, sizeof etag);
	ck_assert_msg(etag[0] == '"' && strlen(etag) > 2, "no ETag: %s", r.headers);
	h_http_free(&r);

	snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
	h_request(&r, &d, "GET", "/ui/index.html", NULL, NULL, NULL, inm);
	ck_assert_int_eq(r.status, 304);
	ck_assert_str_eq(r.body, "");
	ck_assert_str_eq(header_of(&r, "ETag:", v, sizeof v), etag);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/ui/", NULL, NULL, NULL, "If-None-Match: \"stale\"");
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);

	h_request(&r, &d, "GET", "/ui/app.js", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.content_type, "text/javascript");
	h_assert_not_contains(r.body, "innerHTML");
	h_http_free(&r);
	h_request(&r, &d, "HEAD", "/ui/app.css", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.content_type, "text/css");
	h_http_free(&r);

	/* Nothing outside the embedded table: unknown names, dot files, traversal, other methods. */
	h_request(&r, &d, "GET", "/ui/nothing.js", NULL, NULL, NULL, NULL);
	assert_error(&r, 404, "not_found", "no such file");
	h_assert_contains(header_of(&r, "Content-Security-Policy:", v, sizeof v), "default-src 'none'");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/ui/.htaccess", NULL, NULL, NULL, NULL);
	assert_error(&r, 404, "not_found", NULL);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/ui/../v1/status", NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 404 || r.status == 401, "traversal answered %ld", r.status);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/ui/a/b.js", NULL, NULL, NULL, NULL);
	assert_error(&r, 404, "not_found", NULL);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/ui/", NULL, NULL, NULL, NULL);
	assert_error(&r, 405, "method_not_allowed", NULL);
	h_http_free(&r);

	/* whoami: the token's name and role; none without one; 401 for a wrong one. */
	h_request(&r, &d, "GET", "/v1/whoami", H_TOKEN_DEPLOY, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "role"), "deploy");
	ck_assert_ptr_nonnull(h_jstr(r.json, "name"));
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/whoami", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "role"), "none");
	ck_assert(json_is_false(json_object_get(r.json, "read_open")));
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/whoami", "not-a-token", NULL, NULL, NULL);
	assert_error(&r, 401, "unauthorized", "not valid");
	h_http_free(&r);
	h_daemon_stop(&d);
}

Suite *suite_api(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, deploy_is_a_job_with_a_step_per_migration_and_status_agrees);
	tcase_add_test(tc, every_bad_request_gets_its_status_in_the_one_error_shape);
	tcase_add_test(tc, deploy_while_one_runs_is_409_naming_it_and_cancel_of_an_ended_job_is_409);
	tcase_add_test(tc, failed_migration_blocks_deploys_with_409_until_resolved_over_the_api);
	tcase_add_test(tc, unreachable_database_is_503_and_the_daemon_stays_up);
	tcase_add_test(tc, no_database_configured_is_503_saying_what_to_set);
	tcase_add_test(tc, same_idempotency_key_returns_the_same_job_even_after_a_restart);
	tcase_add_test(tc, dry_run_plan_and_text_views_change_nothing);
	tcase_add_test(tc, tokens_and_passwords_never_leave_the_daemon);
	tcase_add_test(tc, journal_commands_check_and_repair_the_state_directory);
	tcase_add_test(tc, a_torn_last_journal_line_is_cut_at_start);
	tcase_add_test(tc, reads_can_be_opened_by_configuration_but_not_writes);
	tcase_add_test(tc, console_is_served_from_the_binary_with_strict_headers_etag_and_404s);
	suite_add_tcase(s, tc);
	return s;
}
