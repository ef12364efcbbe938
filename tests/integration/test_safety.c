/* test_safety.c - lint, the live plan and drift against the real server and the real corpora:
 * the deploy gate in warn and block mode (findings, 422, an admin's override recorded, a
 * lint-ignore comment honoured), GET /v1/lint, a plan on a large table (lock level, size, row
 * estimate; nothing changed), drift on the langfuse corpus (clean; then a column added, an
 * index dropped, an enum value added and a default altered by hand: each reported precisely,
 * nothing else), an INVALID index, the expected-schema cache, the shadow database URL, drift
 * through the daemon (after-deploy fingerprint, health), and the corpora linted. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *run_job(const struct h_daemon *d, const char *body, const char *token)
{
	struct h_http r;
	h_request(&r, d, "POST", "/v1/deploy", token, "application/json", body, NULL);
	ck_assert_msg(r.status == 202, "POST /v1/deploy %s -> %ld: %s", body, r.status, r.body);
	char *id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	json_t *job = h_wait_job(d, id, 120);
	free(id);
	return job;
}

static json_t *step_of_kind(json_t *job, const char *kind)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(job, "steps"), i, s) if (strcmp(h_jstr(s, "kind"), kind) == 0) return s;
	return NULL;
}

ITEST(the_lint_gate_warns_by_default_and_records_the_findings)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE big (id bigint PRIMARY KEY, v text);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_idx", "CREATE INDEX big_v ON big (v);");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = run_job(&d, "{}", H_TOKEN_ADMIN);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_t *ls = step_of_kind(job, "lint");
	ck_assert_ptr_nonnull(ls);
	ck_assert_str_eq(h_jstr(ls, "gate"), "warn");
	json_t *f = json_array_get(json_object_get(json_object_get(ls, "lint"), "findings"), 0);
	ck_assert_str_eq(h_jstr(f, "rule"), "require-concurrent-index-creation");
	ck_assert_str_eq(h_jstr(f, "migration"), "20240102000000_idx");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "line")), 1);
	h_assert_contains(json_dumps(json_object_get(job, "logs"), 0), "lint: 1 error");
	json_decref(job);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(the_lint_gate_blocks_errors_and_an_admin_override_is_recorded)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE big (id bigint PRIMARY KEY, v text, n int);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_idx", "SELECT 1;\nCREATE INDEX big_v ON big (v);");
	h_daemon_start(&d, db, dir, "MIGRATED_LINT_GATE=block", NULL);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 422);
	ck_assert_str_eq(h_jstr(r.json, "error.code"), "lint_blocked");
	json_t *f = json_array_get(
		json_object_get(json_object_get(json_object_get(r.json, "error"), "detail"), "findings"), 0);
	ck_assert_str_eq(h_jstr(f, "rule"), "require-concurrent-index-creation");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "line")), 2);
	h_assert_contains(h_jstr(f, "safe_pattern"), "CONCURRENTLY");
	h_http_free(&r);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "1");
	/* Only an admin may override. */
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_DEPLOY, "application/json", "{\"override_lint\": true}", NULL);
	ck_assert_int_eq(r.status, 403);
	h_http_free(&r);
	json_t *job = run_job(&d, "{\"override_lint\": true}", H_TOKEN_ADMIN);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_str_eq(h_jstr(step_of_kind(job, "lint"), "overridden_by"), "ops");
	h_assert_contains(json_dumps(json_object_get(job, "logs"), 0), "lint gate overridden by ops");
	json_decref(job);
	/* A finding silenced in the file, with its reason, passes the gate and stays on record. */
	h_mig(dir, "20240103000000_nn",
	      "-- migrated:lint-ignore adding-not-nullable-field big has 40 rows and a maintenance window\n"
	      "ALTER TABLE big ALTER COLUMN n SET NOT NULL;");
	job = run_job(&d, "{}", H_TOKEN_DEPLOY);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_t *ign = json_array_get(json_object_get(json_object_get(step_of_kind(job, "lint"), "lint"), "ignored"), 0);
	ck_assert_str_eq(h_jstr(ign, "rule"), "adding-not-nullable-field");
	ck_assert_str_eq(h_jstr(ign, "ignored_because"), "big has 40 rows and a maintenance window");
	json_decref(job);
	/* GET /v1/lint: the whole folder, or what is pending (nothing now). */
	h_request(&r, &d, "GET", "/v1/lint", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "gate"), "block");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "error")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "migrations")), 3);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/lint?pending=1", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "summary"), "migrations")), 0);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(the_plan_shows_the_lock_the_table_and_its_size_and_changes_nothing)
{
	struct h_daemon d = {0};
	struct h_http r;
	struct h_result res;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_base", "CREATE TABLE \"Asset\" (id bigserial PRIMARY KEY, owner text, v int);");
	h_deploy_ok(db, dir);
	h_exec(db, "INSERT INTO \"Asset\" (owner, v) SELECT md5(i::text), i FROM generate_series(1, 200000) i; "
		   "ANALYZE \"Asset\"");
	h_mig(dir, "20240102000000_widen", "ALTER TABLE \"Asset\" ALTER COLUMN v TYPE bigint;");
	h_mig(dir, "20240103000000_owner_idx", "CREATE INDEX CONCURRENTLY \"Asset_owner_idx\" ON \"Asset\" (owner);");
	char *before = h_schema_dump(db);
	h_daemon_start(&d, db, dir, NULL);
	h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	json_t *migs = json_object_get(r.json, "migrations");
	ck_assert_uint_eq(json_array_size(migs), 2);
	json_t *lock = json_array_get(
		json_object_get(json_array_get(json_object_get(json_array_get(migs, 0), "statements"), 0), "locks"), 0);
	ck_assert_str_eq(h_jstr(lock, "mode"), "ACCESS EXCLUSIVE");
	ck_assert_str_eq(h_jstr(lock, "relation"), "\"Asset\"");
	ck_assert(json_is_true(json_object_get(lock, "rewrite")));
	ck_assert(json_integer_value(json_object_get(lock, "size_bytes")) > 10 * 1024 * 1024);
	json_int_t rows = json_integer_value(json_object_get(lock, "rows_estimate"));
	ck_assert_msg(rows > 190000 && rows < 210000, "rows estimate %lld", (long long)rows);
	h_assert_contains(h_jstr(lock, "summary"), "ACCESS EXCLUSIVE on \"Asset\" (");
	h_assert_contains(h_jstr(lock, "summary"), "MiB, ~200 k rows): table rewrite");
	ck_assert_str_eq(h_jstr(json_array_get(json_object_get(json_array_get(migs, 0), "lint"), 0), "rule"),
			 "changing-column-type");
	/* The concurrent index: the weaker lock, and no lint error. */
	json_t *m2 = json_array_get(migs, 1);
	ck_assert_str_eq(h_jstr(m2, "mode"), "single-statement");
	lock = json_array_get(json_object_get(json_array_get(json_object_get(m2, "statements"), 0), "locks"), 0);
	ck_assert_str_eq(h_jstr(lock, "mode"), "SHARE UPDATE EXCLUSIVE");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	/* The CLI says the same, in words. */
	h_migrated(&res, h_env_url(db), "plan", "--migrations", dir, NULL);
	ck_assert_msg(res.rc == 0, "%s%s", res.out, res.err);
	h_assert_contains(res.out, "ACCESS EXCLUSIVE on \"Asset\" (");
	h_assert_contains(res.out, "blocks every read and write of the table");
	h_result_free(&res);
	char *after = h_schema_dump(db);
	ck_assert_str_eq(before, after);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations", "1");
	free(before);
	free(after);
}

/* `migrated drift --json` on db: the report (asserting the exit code). */
/* Timings and clocks differ between two runs; everything else must not. */
static void drop_timings(json_t *j)
{
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(j, tmp, k, v)
		{
			size_t n = strlen(k);
			if ((n > 3 && strcmp(k + n - 3, "_ms") == 0) || (n > 3 && strcmp(k + n - 3, "_at") == 0))
				json_object_del(j, k);
			else
				drop_timings(v);
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) drop_timings(v);
	}
}

static void assert_cli_plan_equals_api_plan(const struct h_daemon *d, const char *db, const char *dir, int want_rc)
{
	struct h_result res;
	struct h_http r;
	h_migrated(&res, h_env_url(db), "plan", "--json", "--migrations", dir, NULL);
	ck_assert_msg(res.rc == want_rc, "plan --json exit %d (want %d):\n%s%s", res.rc, want_rc, res.out, res.err);
	json_t *cli = json_loads(res.out, 0, NULL);
	ck_assert_msg(cli, "plan --json printed no JSON:\n%s", res.out);
	h_result_free(&res);
	h_request(&r, d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(r.json);
	json_t *api = json_deep_copy(r.json);
	drop_timings(cli);
	drop_timings(api);
	char *a = json_dumps(cli, JSON_SORT_KEYS | JSON_INDENT(1)),
	     *b = json_dumps(api, JSON_SORT_KEYS | JSON_INDENT(1));
	ck_assert_msg(json_equal(cli, api),
		      "CLI and API plans differ:\n--- migrated plan --json\n%s\n--- GET /v1/plan\n%s", a, b);
	ck_assert(json_is_boolean(json_object_get(api, "would_deploy")));
	free(a);
	free(b);
	json_decref(cli);
	json_decref(api);
	h_http_free(&r);
}

ITEST(migrated_plan_json_and_get_v1_plan_are_one_document)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int, email text);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_b", "CREATE INDEX CONCURRENTLY a_email ON a (email);");
	h_mig(dir, "20240103000000_c", "ALTER TABLE a ADD COLUMN n int NOT NULL DEFAULT 0;");
	h_daemon_start(&d, db, dir, NULL);
	assert_cli_plan_equals_api_plan(&d, db, dir, 0);
	/* A deploy that would be refused (a failed migration): the same document from both, and
	 * the CLI exits 1. */
	h_exec(db,
	       "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count) "
	       "VALUES ('11111111-1111-4111-8111-111111111111', 'x', '20240102000000_b', 'ERROR: boom', now(), 0)");
	assert_cli_plan_equals_api_plan(&d, db, dir, 1);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

static json_t *drift(const char *db, const char *dir, const char *state, int want_rc, const char *extra_env)
{
	struct h_result res;
	if (extra_env)
		h_migrated(&res, h_env_url(db), extra_env, "drift", "--json", "--migrations", dir, "--state-dir", state,
			   NULL);
	else
		h_migrated(&res, h_env_url(db), "drift", "--json", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_msg(res.rc == want_rc, "drift exit %d (want %d):\n%s%s", res.rc, want_rc, res.out, res.err);
	json_t *j = json_loads(res.out, 0, NULL);
	ck_assert_msg(j != NULL, "drift printed no JSON:\n%s", res.out);
	h_result_free(&res);
	return j;
}

static bool has_message(json_t *rep, const char *text)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(rep, "differences"), i,
			   d) if (h_contains(h_jstr(d, "message"), text)) return true;
	return false;
}

ITEST(drift_on_the_langfuse_corpus_reports_each_manual_change_and_nothing_else)
{
	const char *dir = h_corpus_dir("langfuse");
	char db[128], state[700];
	if (!dir)
		H_SKIP("../shared/corpus/langfuse is not here (a bare clone; set MIGRATED_SHARED_DIR)");
	snprintf(db, sizeof db, "%s", h_fresh_db());
	snprintf(state, sizeof state, "%s/state", h_tmpdir());
	h_mig(h_tmpdir(), "state/x", ""); /* the state directory exists: the cache goes there */
	h_deploy_ok(db, dir);
	json_t *rep = drift(db, dir, state, 0, NULL);
	ck_assert(json_is_false(json_object_get(rep, "drift")));
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "differences")), 0);
	ck_assert_str_eq(h_jstr(rep, "expected_from"), "temporary database");
	ck_assert_int_gt(json_integer_value(json_object_get(rep, "applied")), 400);
	char *fp = strdup(h_jstr(rep, "live_fingerprint"));
	ck_assert_str_eq(fp, h_jstr(rep, "expected_fingerprint"));
	json_decref(rep);
	/* The temporary database is gone. */
	h_assert_q("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'migrated_shadow_%'", "0");

	h_exec(db, "ALTER TABLE users ADD COLUMN nickname text");
	h_exec(db, "DROP INDEX \"Account_user_id_idx\"");
	h_exec(db, "ALTER TYPE \"ActionType\" ADD VALUE 'EXTRA'");
	h_exec(db, "ALTER TABLE api_keys ALTER COLUMN scope SET DEFAULT 'ORGANIZATION'");
	rep = drift(db, dir, state, 1, NULL);
	ck_assert(json_is_true(json_object_get(rep, "drift")));
	ck_assert_str_eq(h_jstr(rep, "expected_from"), "cache"); /* built once, by the applied migrations */
	ck_assert_msg(json_array_size(json_object_get(rep, "differences")) == 4, "%s",
		      json_dumps(json_object_get(rep, "differences"), JSON_INDENT(2)));
	ck_assert(has_message(rep, "column \"users\".\"nickname\" exists in the database but not in the migrations"));
	ck_assert(has_message(rep, "index \"Account\".\"Account_user_id_idx\" is missing from the database"));
	ck_assert(has_message(
		rep,
		"enum \"ActionType\" values differ: database [\"WEBHOOK\",\"SLACK\",\"GITHUB_DISPATCH\",\"EXTRA\"]"));
	ck_assert(has_message(
		rep, "column \"api_keys\".\"scope\" default differs: database 'ORGANIZATION'::\"ApiKeyScope\", "
		     "migrations 'PROJECT'::\"ApiKeyScope\""));
	ck_assert_str_ne(h_jstr(rep, "live_fingerprint"), fp);
	json_decref(rep);
	/* The text form names the column too, exit 1. */
	struct h_result res;
	h_migrated(&res, h_env_url(db), "drift", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_int_eq(res.rc, 1);
	h_assert_contains(res.out, "Drift: 4 differences");
	h_assert_contains(res.out, "nickname");
	h_result_free(&res);
	free(fp);
}

ITEST(drift_names_an_invalid_index_and_refuses_a_shadow_that_is_the_live_database)
{
	const char *dir = h_migrations_dir();
	char db[128], shadow[128], state[700], env[400];
	snprintf(db, sizeof db, "%s", h_fresh_db());
	snprintf(shadow, sizeof shadow, "%s", h_fresh_db());
	snprintf(state, sizeof state, "%s/nostate", h_tmpdir()); /* absent: no cache */
	h_mig(dir, "20240101000000_users", "CREATE TABLE users (id bigint PRIMARY KEY, email text);");
	h_deploy_ok(db, dir);
	h_exec(db, "INSERT INTO users VALUES (1, 'a'), (2, 'a')");
	PGconn *c = h_connect(db, "tests");
	PQclear(PQexec(c, "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)"));
	PQfinish(c);
	/* A configured shadow database: used (and emptied), not created. */
	snprintf(env, sizeof env, "SHADOW_DATABASE_URL=%s", h_url(shadow));
	h_exec(shadow, "CREATE TABLE leftover (x int)");
	json_t *rep = drift(db, dir, state, 1, env);
	ck_assert_str_eq(h_jstr(rep, "expected_from"), "shadow database");
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "differences")), 1);
	ck_assert(has_message(rep,
			      "index \"users\".\"users_email_key\" exists in the database but not in the migrations, "
			      "and is INVALID"));
	json_decref(rep);
	h_assert_q(shadow, "SELECT to_regclass('public.leftover') IS NULL", "t");
	/* The live database as its own shadow: refused, nothing emptied. */
	snprintf(env, sizeof env, "SHADOW_DATABASE_URL=%s", h_url(db));
	struct h_result res;
	h_migrated(&res, h_env_url(db), env, "drift", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_int_eq(res.rc, 2);
	h_assert_contains(res.err, "points at the live database");
	h_result_free(&res);
	h_assert_q(db, "SELECT count(*) FROM users", "2");
	/* An applied migration whose folder is gone: the expected schema cannot be known. */
	h_exec(db, "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, "
		   "applied_steps_count) VALUES ('x', 'y', '20240102000000_gone', now(), now(), 1)");
	h_migrated(&res, h_env_url(db), "drift", "--migrations", dir, "--state-dir", state, NULL);
	ck_assert_int_eq(res.rc, 1);
	h_assert_contains(res.err, "20240102000000_gone is applied but its folder is not in the migrations folder");
	h_result_free(&res);
}

/* Polls GET /v1/health (10 s) until its body contains text; *ret gets that answer (free it). */
static void wait_health_showing(const struct h_daemon *d, const char *text, struct h_http *ret)
{
	for (int i = 0; i < 100; i++) {
		h_request(ret, d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
		if (h_contains(ret->body, text))
			return;
		h_http_free(ret);
		h_sleep_ms(100);
	}
	ck_abort_msg("health never showed \"%s\"", text);
}

ITEST(the_daemon_records_the_fingerprint_after_a_deploy_and_health_shows_drift)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_users", "CREATE TABLE users (id bigint PRIMARY KEY, email text);");
	h_daemon_start(&d, db, dir, "MIGRATED_DRIFT_INTERVAL=300ms", "MIGRATED_PROBE_INTERVAL=200ms", NULL);
	json_t *job = run_job(&d, "{}", H_TOKEN_ADMIN);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	char *fp = strdup(h_jstr(job, "result.schema_fingerprint"));
	ck_assert_uint_eq(strlen(fp), 64);
	json_decref(job);
	h_request(&r, &d, "GET", "/v1/drift", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_is_false(json_object_get(r.json, "drift")));
	ck_assert_str_eq(h_jstr(r.json, "last_deploy_fingerprint"), fp);
	ck_assert(json_is_false(json_object_get(r.json, "changed_since_last_deploy")));
	h_http_free(&r);
	h_exec(db, "ALTER TABLE users ADD COLUMN nickname text");
	h_request(&r, &d, "GET", "/v1/drift", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert(json_is_true(json_object_get(r.json, "drift")));
	ck_assert(json_is_true(json_object_get(r.json, "changed_since_last_deploy")));
	h_assert_contains(r.body, "nickname");
	h_http_free(&r);
	/* The periodic check (drift_interval) feeds health: degraded, with the count. */
	wait_health_showing(&d, "difference between the database and its migrations", &r);
	ck_assert_str_eq(h_jstr(r.json, "status"), "degraded");
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	free(fp);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* A migration user without CREATEDB and no SHADOW_DATABASE_URL: the full check cannot build the
 * expected schema and says so (409, what to set); ?shadow=0 and the periodic check compare the
 * live fingerprint with the one the last deploy or rollback recorded. */
ITEST(without_a_shadow_drift_is_the_fingerprint_changed_since_the_last_deploy)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char url[400], sql[600];

	h_admin_exec("DO $$ BEGIN CREATE ROLE md_no_createdb LOGIN NOCREATEDB PASSWORD 'NoShadow-Secret-9'; "
		     "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
	snprintf(sql, sizeof sql,
		 "ALTER DATABASE \"%s\" OWNER TO md_no_createdb; ALTER SCHEMA public OWNER TO md_no_createdb", db);
	h_exec(db, sql);
	snprintf(url, sizeof url, "DATABASE_URL=postgresql://md_no_createdb:NoShadow-Secret-9@127.0.0.1:%d/%s",
		 h_port(), db);
	h_mig(dir, "20240101000000_users", "CREATE TABLE users (id bigint PRIMARY KEY, email text);");
	h_daemon_start(&d, db, dir, url, "MIGRATED_PROBE_INTERVAL=200ms", NULL);

	/* Nothing recorded yet: no verdict, and it says why. */
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(h_jstr(r.json, "mode"), "fingerprint");
	ck_assert(json_is_null(json_object_get(r.json, "drift")));
	h_assert_contains(h_jstr(r.json, "message"), "no successful deploy or rollback has recorded");
	h_http_free(&r);

	json_t *job = run_job(&d, "{}", H_TOKEN_ADMIN);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	char *deploy_id = strdup(h_jstr(job, "id"));
	json_decref(job);

	/* The full check needs a shadow this user cannot make. */
	h_request(&r, &d, "GET", "/v1/drift", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 409);
	ck_assert_str_eq(h_jstr(r.json, "error.code"), "shadow_unavailable");
	h_assert_contains(h_jstr(r.json, "error.message"), "cannot create a temporary shadow database");
	h_assert_contains(h_jstr(r.json, "error.detail.hint"), "SHADOW_DATABASE_URL");
	h_assert_contains(h_jstr(r.json, "error.detail.without_shadow"), "?shadow=0");
	h_assert_not_contains(r.body, "NoShadow-Secret-9");
	h_http_free(&r);

	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_is_false(json_object_get(r.json, "drift")));
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "differences")), 0);
	ck_assert_str_eq(h_jstr(r.json, "last_deploy_job"), deploy_id);
	ck_assert_str_eq(h_jstr(r.json, "live_fingerprint"), h_jstr(r.json, "last_deploy_fingerprint"));
	h_http_free(&r);

	/* A change by hand: one difference that says what is known. */
	h_exec(db, "ALTER TABLE users ADD COLUMN nickname text");
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_is_true(json_object_get(r.json, "drift")));
	ck_assert(json_is_true(json_object_get(r.json, "changed_since_last_deploy")));
	ck_assert_int_eq(json_array_size(json_object_get(r.json, "differences")), 1);
	json_t *diff = json_array_get(json_object_get(r.json, "differences"), 0);
	h_assert_contains(json_string_value(json_object_get(diff, "message")), "the schema changed since job");
	h_assert_contains(json_string_value(json_object_get(diff, "message")), deploy_id);
	h_http_free(&r);

	/* Undone by hand: the same schema, the same fingerprint, no drift. */
	h_exec(db, "ALTER TABLE users DROP COLUMN nickname");
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert(json_is_false(json_object_get(r.json, "drift")));
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* The periodic check falls back to the fingerprint and health shows the change. */
	h_exec(db, "ALTER TABLE users ADD COLUMN nickname text");
	h_daemon_start(&d, db, dir, url, "MIGRATED_PROBE_INTERVAL=200ms", "MIGRATED_DRIFT_INTERVAL=300ms", NULL);
	wait_health_showing(&d, "the schema changed since the last deploy", &r);
	ck_assert_str_eq(h_jstr(r.json, "status"), "degraded");
	h_assert_contains(r.body, "\"mode\":\"fingerprint\"");
	h_http_free(&r);
	h_exec(db, "ALTER TABLE users DROP COLUMN nickname");

	/* A down rollback changes the schema too, and records what it left. */
	h_mig(dir, "20240102000000_posts", "CREATE TABLE posts (id bigint PRIMARY KEY);");
	char path[900];
	snprintf(path, sizeof path, "%s/20240102000000_posts/down.sql", dir);
	h_write(path, "DROP TABLE posts;", strlen("DROP TABLE posts;"));
	job = run_job(&d, "{}", H_TOKEN_ADMIN);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"down\", \"to\": \"20240101000000_users\"}", NULL);
	ck_assert_msg(r.status == 202, "POST /v1/rollback -> %ld: %s", r.status, r.body);
	char *rb_id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	job = h_wait_job(&d, rb_id, 120);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_uint_eq(strlen(h_jstr(job, "result.schema_fingerprint")), 64);
	json_decref(job);
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert(json_is_false(json_object_get(r.json, "drift")));
	ck_assert_str_eq(h_jstr(r.json, "last_deploy_job"), rb_id);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	h_assert_contains(log, "comparing fingerprints only");
	h_assert_not_contains(log, "NoShadow-Secret-9");
	free(log);
	free(rb_id);
	free(deploy_id);
}

ITEST(the_corpora_lint_without_crashing_and_find_real_hazards)
{
	const char *names[] = {"trigger.dev", "langfuse"};
	for (int i = 0; i < 2; i++) {
		struct h_result res;
		char dir[4400];
		if (!h_corpus_dir(names[i]))
			H_SKIP("../shared/corpus/%s is not here (a bare clone; set MIGRATED_SHARED_DIR)", names[i]);
		snprintf(dir, sizeof dir, "%s", h_corpus_dir(names[i]));
		h_migrated(&res, "lint", "--json", "--migrations", dir, NULL);
		ck_assert_msg(res.rc == 1, "%s: lint exit %d\n%s", names[i], res.rc, res.err);
		json_t *j = json_loads(res.out, 0, NULL);
		ck_assert_ptr_nonnull(j);
		json_t *sum = json_object_get(j, "summary");
		ck_assert_int_gt(json_integer_value(json_object_get(sum, "migrations")), 400);
		ck_assert_int_gt(json_integer_value(json_object_get(sum, "error")), 10);
		ck_assert_uint_eq(json_array_size(json_object_get(j, "unparsed")), 0);
		json_decref(j);
		h_result_free(&res);
	}
}

Suite *suite_safety(void)
{
	Suite *s = suite_create("safety");
	TCase *tc = tcase_create("safety");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, the_lint_gate_warns_by_default_and_records_the_findings);
	tcase_add_test(tc, the_lint_gate_blocks_errors_and_an_admin_override_is_recorded);
	tcase_add_test(tc, the_plan_shows_the_lock_the_table_and_its_size_and_changes_nothing);
	tcase_add_test(tc, drift_on_the_langfuse_corpus_reports_each_manual_change_and_nothing_else);
	tcase_add_test(tc, drift_names_an_invalid_index_and_refuses_a_shadow_that_is_the_live_database);
	tcase_add_test(tc, the_daemon_records_the_fingerprint_after_a_deploy_and_health_shows_drift);
	tcase_add_test(tc, without_a_shadow_drift_is_the_fingerprint_changed_since_the_last_deploy);
	tcase_add_test(tc, the_corpora_lint_without_crashing_and_find_real_hazards);
	tcase_add_test(tc, migrated_plan_json_and_get_v1_plan_are_one_document);
	suite_add_tcase(s, tc);
	return s;
}
