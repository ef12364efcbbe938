/* test_service.c - the daemon as a production service: health that follows the database through
 * an outage (the server is stopped and started under it), the connection pool under
 * exhaustion and with its backends terminated, readiness, and the migration lock holder. */
#include "harness.h"
#include "suites.h"

#include <pthread.h>
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

/* Polls GET /v1/health until its "status" is want; returns the seconds it took (or fails). */
static double wait_health(const struct h_daemon *d, const char *want, double limit_s)
{
	double t0 = now_s();
	struct h_http r;
	for (;;) {
		h_request(&r, d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
		const char *st = h_jstr(r.json, "status");
		bool done = st && strcmp(st, want) == 0;
		char last[4096];
		snprintf(last, sizeof last, "%s", r.body ? r.body : "");
		h_http_free(&r);
		if (done)
			return now_s() - t0;
		ck_assert_msg(now_s() - t0 < limit_s, "health did not become %s within %.1f s; last answer:\n%s", want,
			      limit_s, last);
		h_sleep_ms(25);
	}
}

/* Polls GET /readyz until it answers 200. Readiness follows a job by one probe round (the job's
 * end kicks the probe, which runs asynchronously), so a test must not expect it at once. */
static void wait_ready(const struct h_daemon *d, double limit_s)
{
	double t0 = now_s();
	struct h_http r;
	for (;;) {
		h_request(&r, d, "GET", "/readyz", NULL, NULL, NULL, NULL);
		long status = r.status;
		char last[4096];
		snprintf(last, sizeof last, "%s", r.body ? r.body : "");
		h_http_free(&r);
		if (status == 200)
			return;
		ck_assert_msg(now_s() - t0 < limit_s, "/readyz did not answer 200 within %.1f s; last answer %ld:\n%s",
			      limit_s, status, last);
		h_sleep_ms(25);
	}
}

static json_t *check_named(json_t *health, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(health, "checks"), i, c)
	{
		const char *n = json_string_value(json_object_get(c, "name"));
		if (n && strcmp(n, name) == 0)
			return c;
	}
	return NULL;
}

ITEST(a_database_outage_turns_health_down_and_back_within_two_probe_intervals)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	const double interval = 0.5;

	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_PROBE_INTERVAL=500ms", NULL);
	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	free(id);
	wait_health(&d, "ok", 5);
	wait_ready(&d, 2 * interval + 0.5);

	/* The server goes away. */
	h_server_stop();
	double down_after = wait_health(&d, "down", 10);
	ck_assert_msg(down_after <= 2 * interval + 0.5, "health turned down after %.2f s (probe interval %.1f s)",
		      down_after, interval);
	/* A probe during the shutdown sees "the database system is shutting down" (class
	 * unavailable); once pg_ctl has returned, the next probe rounds must say refused. */
	double t_class = now_s();
	for (;;) {
		h_request(&r, &d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
		ck_assert_int_eq(r.status, 503);
		json_t *c = check_named(r.json, "database");
		ck_assert_ptr_nonnull(c);
		ck_assert_str_eq(h_jstr(c, "status"), "down");
		const char *cls = h_jstr(c, "error.connection") ? h_jstr(c, "error.connection") : "(none)";
		ck_assert_msg(strcmp(cls, "refused") == 0 || strcmp(cls, "unavailable") == 0,
			      "database check class %s while the server is stopped", cls);
		bool refused = strcmp(cls, "refused") == 0;
		h_http_free(&r);
		if (refused)
			break;
		ck_assert_msg(now_s() - t_class <= 2 * interval + 0.5, "class still %s %.2f s after the stop", cls,
			      now_s() - t_class);
		h_sleep_ms(25);
	}
	/* The daemon stays up and says clearly why it cannot deploy. */
	h_request(&r, &d, "GET", "/healthz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(h_jstr(r.json, "error.code"), "database_unreachable");
	h_assert_contains(h_jstr(r.json, "error.message"), "connection refused");
	h_http_free(&r);
	/* Several probe intervals of outage: the backoff must not delay the recovery. */
	h_sleep_ms(3000);

	/* It comes back. */
	h_server_start();
	double up_after = wait_health(&d, "ok", 10);
	ck_assert_msg(up_after <= 2 * interval + 0.5, "health returned to ok after %.2f s (probe interval %.1f s)",
		      up_after, interval);
	h_request(&r, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	id = h_post_deploy(&d, "{}");
	job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "succeeded");
	json_decref(job);
	free(id);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "2");
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	h_assert_contains(log, "database unreachable");
	h_assert_contains(log, "database reachable again");
	free(log);
}

ITEST(health_reports_the_checks_and_readiness_follows_the_schema)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();

	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_PROBE_INTERVAL=300ms", NULL);
	/* Pending: health ok (nothing is wrong), not ready. */
	wait_health(&d, "ok", 5);
	h_request(&r, &d, "GET", "/v1/health?pretty", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_is_false(json_object_get(r.json, "ready")));
	ck_assert_int_eq(json_integer_value(json_object_get(check_named(r.json, "migrations"), "pending")), 1);
	json_t *c = check_named(r.json, "database");
	ck_assert(json_real_value(json_object_get(c, "latency_ms")) > 0);
	h_assert_contains(h_jstr(c, "server_version"), ".");
	ck_assert_ptr_nonnull(check_named(r.json, "connections"));
	ck_assert(json_integer_value(json_object_get(check_named(r.json, "connections"), "max")) > 0);
	ck_assert_ptr_nonnull(check_named(r.json, "pool"));
	ck_assert(json_is_false(json_object_get(check_named(r.json, "migration_lock"), "held")));
	h_assert_contains(r.body, "\n  \"status\""); /* ?pretty */
	h_http_free(&r);
	h_request(&r, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	h_assert_contains(r.body, "migrations are pending");
	h_http_free(&r);

	/* A failed migration: degraded, not ready, and the check says what to do. */
	h_mig(dir, "20240102000000_bad", "CREATE TABLE b (id int);\nSELECT * FROM nowhere;");
	char *id = h_post_deploy(&d, "{}");
	json_t *job = h_wait_job(&d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), "failed");
	json_decref(job);
	free(id);
	wait_health(&d, "degraded", 5);
	h_request(&r, &d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	c = check_named(r.json, "migrations");
	ck_assert_str_eq(h_jstr(c, "status"), "degraded");
	h_assert_contains(h_jstr(c, "message"), "P3009");
	ck_assert_str_eq(h_jstr(check_named(r.json, "last_job"), "status"), "degraded");
	h_http_free(&r);
	h_request(&r, &d, "GET", "/readyz", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 503);
	h_assert_contains(r.body, "a migration failed");
	h_http_free(&r);

	/* The migration lock held by someone else shows up with the holder. */
	PGconn *holder = h_connect(db, "someone-else");
	PQclear(PQexec(holder, "SELECT pg_advisory_lock(72707369)"));
	h_request(&r, &d, "GET", "/v1/health?live=1", NULL, NULL, NULL, NULL);
	c = check_named(r.json, "migration_lock");
	ck_assert(json_is_true(json_object_get(c, "held")));
	ck_assert_str_eq(h_jstr(c, "holder.application_name"), "someone-else");
	h_http_free(&r);
	PQfinish(holder);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* GET /v1/status?fresh=1 in a thread: it blocks while the history table is locked. */
struct slow_status {
	const struct h_daemon *d;
	long status;
};

static void *slow_status(void *arg)
{
	struct slow_status *s = arg;
	struct h_http r;
	h_request(&r, s->d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
	s->status = r.status;
	h_http_free(&r);
	return NULL;
}

ITEST(an_exhausted_pool_answers_503_after_a_bounded_wait_never_hangs)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();

	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_POOL_SIZE=1", "MIGRATED_POOL_ACQUIRE_TIMEOUT=400ms",
		       "MIGRATED_STATUS_CACHE=0", NULL);
	char *id = h_post_deploy(&d, "{}");
	json_decref(h_wait_job(&d, id, 60));
	free(id);

	/* Hold the history table: the next status read waits on it, holding the pool's only
	 * connection. */
	PGconn *locker = h_connect(db, "locker");
	PQclear(PQexec(locker, "BEGIN; LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE"));
	struct slow_status s = {&d, 0};
	pthread_t t;
	pthread_create(&t, NULL, slow_status, &s);
	char *waiting = NULL;
	for (int i = 0; i < 200; i++) { /* until the daemon's read waits on the lock */
		free(waiting);
		waiting = h_q1(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrated' "
				   "AND wait_event_type = 'Lock'");
		if (waiting && strcmp(waiting, "1") == 0)
			break;
		h_sleep_ms(25);
	}
	ck_assert_str_eq(waiting, "1");
	free(waiting);

	double t0 = now_s();
	h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	double took = now_s() - t0;
	ck_assert_int_eq(r.status, 503);
	h_assert_contains(h_jstr(r.json, "error.message"), "all 1 database connections of the pool are in use");
	ck_assert_msg(took < 5, "the 503 took %.1f s", took);
	h_http_free(&r);

	PQclear(PQexec(locker, "COMMIT"));
	pthread_join(t, NULL);
	ck_assert_int_eq(s.status, 200);
	PQfinish(locker);
	/* The pool works again. */
	h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(pooled_connections_terminated_by_the_server_are_replaced)
{
	struct h_daemon d = {0};
	struct h_http r;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();

	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_STATUS_CACHE=0", "MIGRATED_PROBE_INTERVAL=300ms", NULL);
	for (int round = 0; round < 3; round++) {
		h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_int_eq(r.status, 200);
		h_http_free(&r);
		char sql[256];
		snprintf(sql, sizeof sql,
			 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' AND "
			 "application_name = 'migrated'",
			 db);
		char *n = h_q1(db, sql);
		ck_assert_msg(n && atoi(n) >= 1, "no pooled connection to terminate (%s)", n ? n : "null");
		free(n);
		h_request(&r, &d, "GET", "/v1/status?fresh=1", H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_msg(r.status == 200, "after pg_terminate_backend: %ld %s", r.status, r.body);
		h_http_free(&r);
		h_request(&r, &d, "GET", "/v1/plan", H_TOKEN_READ, NULL, NULL, NULL);
		ck_assert_int_eq(r.status, 200);
		h_http_free(&r);
	}
	wait_health(&d, "ok", 5);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* The value of one sample line "name{labels} value" in a scrape, or -1. */
static double sample(const char *scrape, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = scrape; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atof(p + n + 1);
	return -1;
}

ITEST(metrics_pass_promtool_and_count_what_happened)
{
	struct h_daemon d = {0};
	struct h_http r;
	struct h_result pr;
	const char *db = h_fresh_db(), *dir = h_migrations_dir();

	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_b", "CREATE TABLE b (id int);");
	h_daemon_start(&d, db, dir, "MIGRATED_PROBE_INTERVAL=200ms", NULL);
	char *id = h_post_deploy(&d, "{}");
	json_decref(h_wait_job(&d, id, 60));
	free(id);
	wait_health(&d, "ok", 5);
	h_request(&r, &d, "GET", "/v1/nope", NULL, NULL, NULL, NULL);
	h_http_free(&r);

	/* Prometheus scrapes without credentials by default (metrics_auth = false): the scrape
	 * holds counts and durations, no names or secrets. */
	/* The probe round after the deploy may still be on its way (and a scrape is cached for a
	 * second): scrape until it shows, at most 10 s. */
	for (int i = 0;; i++) {
		h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
		ck_assert_int_eq(r.status, 200);
		if (sample(r.body, "migrated_migrations{state=\"applied\"}") == 2 || i == 50)
			break;
		h_http_free(&r);
		h_sleep_ms(200);
	}
	h_assert_contains(r.content_type, "text/plain; version=0.0.4");
	const char *m = r.body;
	ck_assert_double_eq(sample(m, "migrated_migrations{state=\"applied\"}"), 2);
	ck_assert_double_eq(sample(m, "migrated_migrations{state=\"pending\"}"), 0);
	ck_assert_double_eq(sample(m, "migrated_jobs_total{kind=\"deploy\",outcome=\"succeeded\",dry_run=\"false\"}"),
			    1);
	ck_assert_double_eq(sample(m, "migrated_migration_apply_duration_seconds_count"), 2);
	ck_assert_double_eq(sample(m, "migrated_advisory_lock_wait_seconds_count"), 1);
	ck_assert(sample(m, "migrated_last_successful_deploy_timestamp_seconds") > 1.7e9);
	ck_assert_double_eq(sample(m, "migrated_database_up"), 1);
	ck_assert(sample(m, "migrated_database_latency_seconds") > 0);
	ck_assert_double_eq(sample(m, "migrated_health_status{status=\"ok\"}"), 1);
	ck_assert_double_eq(sample(m, "migrated_http_requests_total{route=\"POST /v1/deploy\",code=\"202\"}"), 1);
	ck_assert_double_eq(sample(m, "migrated_http_requests_total{route=\"unmatched\",code=\"404\"}"), 1);
	ck_assert(sample(m, "migrated_pool_connections_opened_total") >= 1);
	ck_assert_double_eq(sample(m, "migrated_build_info{version=\"" PACKAGE_VERSION "\"}"), 1);
	h_assert_not_contains(m, H_TOKEN_READ);

	/* promtool, the Prometheus project's own checker, reads it from stdin. */
	char path[600];
	snprintf(path, sizeof path, "%s/metrics.txt", h_tmpdir());
	h_write(path, m, strlen(m));
	char cmd[800];
	snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
	char *const argv[] = {"/bin/sh", "-c", cmd, NULL};
	h_run_argv(&pr, argv, NULL, 60);
	ck_assert_msg(pr.rc == 0, "promtool check metrics failed (%d):\n%s%s", pr.rc, pr.out, pr.err);
	h_result_free(&pr);
	h_http_free(&r);

	/* A rendering is shared for metrics_cache (1 s): the scrapes right after it see the same
	 * counts; one after the second has passed sees the scrapes since. */
	const char *series = "migrated_http_requests_total{route=\"GET /metrics\",code=\"200\"}";
	h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	double first = sample(r.body, series);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	ck_assert_double_eq(sample(r.body, series), first);
	h_http_free(&r);
	h_sleep_ms(1100);
	h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	ck_assert(sample(r.body, series) >= first + 2);
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d), 0);

	/* metrics_auth = true: a scrape needs a read token like the other reads. */
	struct h_daemon d2 = {0};
	h_daemon_start(&d2, db, dir, "MIGRATED_METRICS_AUTH=true", NULL);
	h_request(&r, &d2, "GET", "/metrics", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 401);
	h_http_free(&r);
	h_request(&r, &d2, "GET", "/metrics", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	h_assert_contains(r.body, "migrated_build_info");
	h_http_free(&r);
	ck_assert_int_eq(h_daemon_stop(&d2), 0);
}

Suite *suite_service(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("service");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, a_database_outage_turns_health_down_and_back_within_two_probe_intervals);
	tcase_add_test(tc, health_reports_the_checks_and_readiness_follows_the_schema);
	tcase_add_test(tc, an_exhausted_pool_answers_503_after_a_bounded_wait_never_hangs);
	tcase_add_test(tc, pooled_connections_terminated_by_the_server_are_replaced);
	tcase_add_test(tc, metrics_pass_promtool_and_count_what_happened);
	suite_add_tcase(s, tc);
	return s;
}
