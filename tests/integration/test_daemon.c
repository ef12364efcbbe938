/* test_daemon.c - the daemon as a process: a deploy followed live over Server-Sent Events,
 * cancel of a running statement, 50 concurrent deploy requests, a crash matrix (kill -9 at 20
 * points of a 30-migration deploy), SIGTERM with and without time to finish, and a state
 * directory it cannot use. */
#include "harness.h"
#include "suites.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- SSE ---- */

struct stream {
	char *text;
	size_t len;
	double first_step_at, end_at;
};

static size_t on_stream(char *ptr, size_t size, size_t n, void *ud)
{
	struct stream *s = ud;
	size_t add = size * n;
	s->text = realloc(s->text, s->len + add + 1);
	memcpy(s->text + s->len, ptr, add);
	s->len += add;
	s->text[s->len] = '\0';
	if (!s->first_step_at && strstr(s->text, "\"kind\":\"migration\""))
		s->first_step_at = now_s();
	if (strstr(s->text, "event: end"))
		s->end_at = now_s();
	return add;
}

static long follow(const struct h_daemon *d, const char *id, const char *last_event_id, struct stream *s)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " H_TOKEN_READ);
	char url[300], line[100];
	long code = 0;
	if (last_event_id) {
		snprintf(line, sizeof line, "Last-Event-ID: %s", last_event_id);
		h = curl_slist_append(h, line);
	}
	snprintf(url, sizeof url, "%s/v1/jobs/%s/events", d->base, id);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "SSE stream: %s (got so far: %s)", curl_easy_strerror(rc),
		      s->text ? s->text : "");
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

static void sleepy_migrations(const char *dir, int n, const char *sleep_s)
{
	char name[64], sql[200];
	h_mig(dir, "20240101000000_counter", "CREATE TABLE counter (n int);");
	for (int i = 1; i <= n; i++) {
		snprintf(name, sizeof name, "202401020000%02d_m%d", i, i);
		snprintf(sql, sizeof sql,
			 "CREATE TABLE t%d (id int); SELECT pg_sleep(%s); INSERT INTO counter VALUES (%d);", i, sleep_s,
			 i);
		h_mig(dir, name, sql);
	}
}

ITEST(a_deploy_is_followed_live_over_sse_from_start_to_end)
{
	struct h_daemon d = {0};
	struct stream s = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	sleepy_migrations(dir, 5, "0.3");
	h_daemon_start(&d, db, dir, NULL);
	char *id = h_post_deploy(&d, NULL);
	ck_assert_int_eq(follow(&d, id, NULL, &s), 200);
	/* Every record, in order, ending with the end record; the stream then closed. */
	const char *order[] = {"event: job",
			       "event: state",
			       "\"name\":\"preflight\"",
			       "\"name\":\"lock\"",
			       "\"name\":\"20240101000000_counter\"",
			       "\"name\":\"20240102000005_m5\"",
			       "\"name\":\"verify\"",
			       "event: end"};
	const char *p = s.text;
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		const char *q = strstr(p, order[i]);
		ck_assert_msg(q != NULL, "%s missing or out of order in:\n%s", order[i], s.text);
		p = q;
	}
	h_assert_contains(s.text, "\"state\":\"succeeded\"");
	h_assert_contains(s.text, "id: 1\n");
	/* Live, not replayed at the end: the first migration step came well before the end. */
	ck_assert_msg(s.end_at - s.first_step_at > 1.0, "events arrived together (%.2f s apart)",
		      s.end_at - s.first_step_at);
	/* Reconnecting with Last-Event-ID continues after it. */
	struct stream s2 = {0};
	ck_assert_int_eq(follow(&d, id, "3", &s2), 200);
	h_assert_not_contains(s2.text, "id: 3\n");
	h_assert_contains(s2.text, "id: 4\n");
	h_assert_contains(s2.text, "event: end");
	free(s.text);
	free(s2.text);
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_job_whose_end_was_streamed_never_blocks_the_next_submission)
{
	/* The end event goes out when the end is recorded; a client that submits the moment it
	 * sees it must get 202, not "one job runs at a time" (CI saw that once, in the backup
	 * suite's retention test, between the end record and the worker's bookkeeping). */
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_BACKUP=false", NULL);
	for (int i = 0; i < 40; i++) {
		struct stream s = {0};
		struct h_http r;
		h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
		ck_assert_msg(r.status == 202, "submission %d right after the previous end -> %ld %s", i, r.status,
			      r.body);
		char *id = strdup(h_jstr(r.json, "id"));
		h_http_free(&r);
		ck_assert_int_eq(follow(&d, id, NULL, &s), 200);
		h_assert_contains(s.text, "event: end");
		free(s.text);
		free(id);
	}
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(cancel_stops_the_running_statement_and_history_agrees)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char path[200];
	h_mig(dir, "20240101000000_slow", "CREATE TABLE slow (id int); SELECT pg_sleep(60);");
	h_daemon_start(&d, db, dir, NULL);
	char *id = h_post_deploy(&d, NULL);
	for (int i = 0; i < 100; i++) { /* until the statement runs on the server */
		char *busy = h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
				      "AND application_name = 'migrated' AND state = 'active'");
		bool running = strcmp(busy, "1") == 0;
		free(busy);
		if (running)
			break;
		h_sleep_ms(100);
	}
	snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
	double t0 = now_s();
	h_request(&r, &d, "POST", path, H_TOKEN_DEPLOY, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200, "cancel -> %ld %s", r.status, r.body);
	ck_assert(json_is_true(json_object_get(r.json, "cancel_requested")));
	h_http_free(&r);
	json_t *job = h_wait_job(&d, id, 20);
	ck_assert_msg(now_s() - t0 < 5, "cancel took %.1f s", now_s() - t0);
	ck_assert_str_eq(h_jstr(job, "state"), "cancelled");
	json_t *steps = json_object_get(job, "steps");
	json_t *last = json_array_get(steps, json_array_size(steps) - 1);
	ck_assert_str_eq(h_jstr(last, "name"), "20240101000000_slow");
	ck_assert_str_eq(h_jstr(last, "state"), "cancelled");
	ck_assert_str_eq(h_jstr(last, "error.sqlstate"), "57014");
	json_decref(job);
	/* The statement is gone from the server; nothing of the migration remains; its row says
	 * rolled back, so the next deploy would run it again. */
	h_assert_q(db,
		   "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' "
		   "AND pid <> pg_backend_pid()",
		   "0");
	h_assert_q(db,
		   "SELECT (to_regclass('slow') IS NULL)::text || (rolled_back_at IS NOT NULL)::text FROM "
		   "_prisma_migrations",
		   "truetrue");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	free(id);
}

/* ---- fifty at once ---- */

struct racer {
	const struct h_daemon *d;
	const char *key;
	long code;
	char id[64];
};

static size_t into_buf(char *ptr, size_t size, size_t n, void *ud)
{
	char *buf = ud;
	size_t have = strlen(buf), add = size * n;
	if (have + add < 4096) {
		memcpy(buf + have, ptr, add);
		buf[have + add] = '\0';
	}
	return add;
}

static void *race(void *arg)
{
	struct racer *rc = arg;
	CURL *c = curl_easy_init();
	char url[256], body[4096] = "", key[128];
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " H_TOKEN_ADMIN);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (rc->key) {
		snprintf(key, sizeof key, "Idempotency-Key: %s", rc->key);
		h = curl_slist_append(h, key);
	}
	snprintf(url, sizeof url, "%s/v1/deploy", rc->d->base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, into_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rc->code);
	json_t *j = json_loads(body, 0, NULL);
	const char *id = h_jstr(j, "id");
	if (!id)
		id = h_jstr(j, "error.detail.job.id");
	snprintf(rc->id, sizeof rc->id, "%s", id ? id : "");
	json_decref(j);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static void fifty(const struct h_daemon *d, const char *key, struct racer *rs)
{
	pthread_t t[50];
	for (int i = 0; i < 50; i++) {
		rs[i] = (struct racer){d, key, 0, ""};
		pthread_create(&t[i], NULL, race, &rs[i]);
	}
	for (int i = 0; i < 50; i++)
		pthread_join(t[i], NULL);
}

ITEST(fifty_concurrent_deploys_start_exactly_one_job)
{
	struct h_daemon d = {0};
	struct racer rs[50];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	sleepy_migrations(dir, 10, "0.05");
	h_daemon_start(&d, db, dir, NULL);
	fifty(&d, NULL, rs);
	int accepted = 0, conflict = 0;
	const char *job = NULL;
	for (int i = 0; i < 50; i++) {
		accepted += rs[i].code == 202;
		conflict += rs[i].code == 409;
		if (rs[i].code == 202)
			job = rs[i].id;
	}
	ck_assert_msg(accepted == 1 && conflict == 49, "%d accepted, %d conflicts", accepted, conflict);
	for (int i = 0; i < 50; i++)
		if (rs[i].code == 409)
			ck_assert_str_eq(rs[i].id, job); /* each 409 names the running job */
	json_t *j = h_wait_job(&d, job, 60);
	ck_assert_str_eq(h_jstr(j, "state"), "succeeded");
	json_decref(j);
	h_assert_q(db, "SELECT count(*)::text || '/' || count(DISTINCT n)::text FROM counter", "10/10");

	/* The same Idempotency-Key fifty times over: one job, the same one for everybody. */
	h_mig(dir, "20240103000000_more", "INSERT INTO counter VALUES (11);");
	fifty(&d, "deploy-2026-11-24", rs);
	accepted = 0;
	for (int i = 0; i < 50; i++) {
		ck_assert_msg(rs[i].code == 202 || rs[i].code == 200, "request %d got %ld", i, rs[i].code);
		accepted += rs[i].code == 202;
		ck_assert_str_eq(rs[i].id, rs[0].id);
	}
	ck_assert_int_eq(accepted, 1);
	j = h_wait_job(&d, rs[0].id, 60);
	ck_assert_str_eq(h_jstr(j, "state"), "succeeded");
	json_decref(j);
	h_assert_q(db, "SELECT count(*)::text || '/' || count(DISTINCT n)::text FROM counter", "11/11");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- crashes ---- */

ITEST(kill_9_at_twenty_points_of_a_deploy_never_applies_a_migration_twice)
{
	const char *dir = h_migrations_dir();
	sleepy_migrations(dir, 30, "0.05");
	/* The reference: the same folder deployed without interruption. */
	const char *ref = h_fresh_db();
	h_deploy_ok(ref, dir);
	char *want = h_schema_dump(ref);
	int interrupted = 0;
	for (int trial = 0; trial < 20; trial++) {
		struct h_daemon d = {0};
		const char *db = h_fresh_db();
		char db_name[128];
		snprintf(db_name, sizeof db_name, "%s", db);
		h_daemon_start(&d, db_name, dir, NULL);
		char *first = h_post_deploy(&d, NULL);
		h_sleep_ms(trial * 110); /* from before the first migration to after the last */
		h_daemon_kill(&d);
		h_daemon_start(&d, db_name, dir, NULL);
		char path[200];
		struct h_http r;
		snprintf(path, sizeof path, "/v1/jobs/%s", first);
		h_request(&r, &d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_msg(r.status == 200, "trial %d: the first job is gone after the restart", trial);
		const char *state = h_jstr(r.json, "state");
		ck_assert_msg(strcmp(state, "interrupted") == 0 || strcmp(state, "succeeded") == 0,
			      "trial %d: first job %s", trial, state);
		interrupted += strcmp(state, "interrupted") == 0;
		h_http_free(&r);
		char *second = h_post_deploy(&d, NULL);
		json_t *job = h_wait_job(&d, second, 60);
		ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "trial %d: redeploy %s: %s", trial,
			      h_jstr(job, "state"), h_jstr(job, "error.message") ? h_jstr(job, "error.message") : "");
		json_decref(job);
		h_assert_q(db_name, "SELECT count(*)::text || '/' || count(DISTINCT n)::text FROM counter", "30/30");
		h_assert_q(db_name,
			   "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at "
			   "IS NULL",
			   "31");
		char *got = h_schema_dump(db_name);
		ck_assert_msg(strcmp(got, want) == 0, "trial %d: schema differs from an uninterrupted deploy", trial);
		free(got);
		ck_assert_int_eq(h_daemon_stop(&d), 0);
		free(first);
		free(second);
		/* A fresh state directory for the next trial. */
		char cmd[700];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", d.state_dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_msg(interrupted >= 10, "only %d of 20 kills hit a running deploy", interrupted);
	free(want);
}

ITEST(sigterm_lets_the_running_migration_finish_then_stops)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	h_mig(dir, "20240101000000_first", "CREATE TABLE first (id int); SELECT pg_sleep(1.5);");
	h_mig(dir, "20240102000000_second", "CREATE TABLE second (id int);");
	h_daemon_start(&d, db, dir, NULL);
	char *id = h_post_deploy(&d, NULL);
	/* Until the first migration runs on the server (the backup before it takes a moment, more on
	 * a loaded machine: a fixed sleep raced it), then the stop: its 1.5 s must be waited for. */
	bool running = false;
	for (int i = 0; i < 300 && !running; i++) {
		char *busy = h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1.5)%' "
				      "AND application_name = 'migrated' AND state = 'active'");
		running = strcmp(busy, "1") == 0;
		free(busy);
		if (!running)
			h_sleep_ms(20);
	}
	ck_assert_msg(running, "the first migration never started");
	double t0 = now_s();
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(now_s() - t0 >= 0.7, "stopped before the running migration could finish");
	h_assert_q(db, "SELECT (to_regclass('first') IS NOT NULL)::text || (to_regclass('second') IS NULL)::text",
		   "truetrue");
	h_daemon_start(&d, db, dir, NULL);
	json_t *job = h_wait_job(&d, id, 10);
	ck_assert_str_eq(h_jstr(job, "state"), "interrupted");
	h_assert_contains(h_jstr(job, "error.message"), "stopped before 20240102000000_second");
	json_decref(job);
	char *id2 = h_post_deploy(&d, NULL);
	job = h_wait_job(&d, id2, 30);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(job, "result"), "applied")), 1);
	json_decref(job);
	h_daemon_stop(&d);
	free(id);
	free(id2);
}

ITEST(sigterm_past_the_shutdown_timeout_cancels_the_statement)
{
	struct h_daemon d = {0};
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	char conf[700];
	snprintf(conf, sizeof conf, "%s/quick.conf", h_tmpdir());
	h_write(conf, "shutdown_timeout = 500ms\n", 25);
	h_mig(dir, "20240101000000_slow", "CREATE TABLE slow (id int); SELECT pg_sleep(60);");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	char *id = h_post_deploy(&d, NULL);
	/* Until the migration runs on the server (a fixed sleep raced the backup under load). */
	bool running = false;
	for (int i = 0; i < 300 && !running; i++) {
		char *busy = h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
				      "AND application_name = 'migrated' AND state = 'active'");
		running = strcmp(busy, "1") == 0;
		free(busy);
		if (!running)
			h_sleep_ms(20);
	}
	ck_assert_msg(running, "the migration never started");
	double t0 = now_s();
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(now_s() - t0 < 5, "shutdown took %.1f s", now_s() - t0);
	h_assert_q(db,
		   "SELECT (to_regclass('slow') IS NULL)::text || (rolled_back_at IS NOT NULL)::text FROM "
		   "_prisma_migrations",
		   "truetrue");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	json_t *job = h_wait_job(&d, id, 10);
	ck_assert_str_eq(h_jstr(job, "state"), "interrupted");
	json_decref(job);
	h_daemon_stop(&d);
	free(id);
}

ITEST(a_state_directory_that_cannot_be_used_stops_the_start_with_a_reason)
{
	struct h_result r;
	char file[700];
	snprintf(file, sizeof file, "%s/not-a-directory", h_tmpdir());
	h_write(file, "x", 1);
	h_migrated(&r, h_env_url(h_fresh_db()), "serve", "--listen", "127.0.0.1:0", "--state-dir", file, "--migrations",
		   h_migrations_dir(), NULL);
	ck_assert_int_ne(r.rc, 0);
	h_assert_contains(r.err, "not-a-directory");
	h_result_free(&r);
}

ITEST(a_full_state_disk_refuses_a_deploy_with_one_clear_message_and_applies_nothing)
{
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	struct h_daemon d = {0};
	struct h_http r;
	char cmd[900];
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	snprintf(d.state_dir, sizeof d.state_dir, "%s/tiny-state", h_tmpdir());
	h_mount_tmpfs(d.state_dir, "size=256k");
	h_daemon_start(&d, db, dir, "MIGRATED_BACKUP=false", NULL);
	/* Fill the disk the journal lives on. */
	snprintf(cmd, sizeof cmd, "dd if=/dev/zero of='%s/filler' bs=4k 2>/dev/null; true", d.state_dir);
	ck_assert_int_eq(system(cmd), 0);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	ck_assert_msg(r.status == 503, "POST /v1/deploy on a full disk -> %ld %s", r.status, r.body);
	const char *msg = h_jstr(r.json, "error.message");
	ck_assert_ptr_nonnull(msg);
	/* Said once, with the system's reason, not formatted over itself. */
	h_assert_contains(msg, "cannot record the job: ");
	ck_assert_msg(strstr(strstr(msg, "cannot record the job: ") + 1, "cannot record the job") == NULL,
		      "prefix repeated: %s", msg);
	h_assert_contains(msg, "No space left on device");
	h_http_free(&r);
	h_assert_q(db, "SELECT (to_regclass('a') IS NULL)::text", "true");
	h_daemon_stop(&d);
	h_umount(d.state_dir);
}

Suite *suite_daemon(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, a_deploy_is_followed_live_over_sse_from_start_to_end);
	tcase_add_test(tc, cancel_stops_the_running_statement_and_history_agrees);
	tcase_add_test(tc, fifty_concurrent_deploys_start_exactly_one_job);
	tcase_add_test(tc, kill_9_at_twenty_points_of_a_deploy_never_applies_a_migration_twice);
	tcase_add_test(tc, sigterm_lets_the_running_migration_finish_then_stops);
	tcase_add_test(tc, sigterm_past_the_shutdown_timeout_cancels_the_statement);
	tcase_add_test(tc, a_state_directory_that_cannot_be_used_stops_the_start_with_a_reason);
	tcase_add_test(tc, a_job_whose_end_was_streamed_never_blocks_the_next_submission);
	tcase_add_test(tc, a_full_state_disk_refuses_a_deploy_with_one_clear_message_and_applies_nothing);
	suite_add_tcase(s, tc);
	return s;
}
