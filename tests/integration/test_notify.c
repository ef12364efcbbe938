/* test_notify.c - notifications from a real daemon to real receivers over loopback HTTP (a
 * Python receiver, tests/integration/notify_receiver.py, whose verifier checks the Standard
 * Webhooks signature with Python's hmac, independently of our Nettle code): job events signed
 * and in order, retries keeping one webhook-id, deliveries surviving a receiver that is down
 * and a daemon killed with SIGKILL, 410 disabling an endpoint, hanging receivers that must not
 * slow a deploy or health, the Slack message's shape, command hooks, SIGHUP, the test event,
 * and the CLI's deploy. */
#include "harness.h"
#include "suites.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A fixed test key (32 bytes, base64); the hex of its bytes must not leak either. */
#define SECRET     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZMzh00z2NY="
#define SECRET_B64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZMzh00z2NY="

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *receiver_py(void)
{
	return MD_TEST_SRCDIR "/tests/integration/notify_receiver.py";
}

/* A receiver on port writing log; extra options (NULL-terminated) as notify_receiver.py takes
 * them. It dies with the test process. Returns its pid once the port is bound. */
static int rcv_start(int port, const char *log, ...)
{
	char portbuf[16], *argv[16];
	int k = 0;
	va_list ap;
	const char *a;

	unlink(log);
	snprintf(portbuf, sizeof portbuf, "%d", port);
	argv[k++] = "python3";
	argv[k++] = (char *)receiver_py();
	argv[k++] = "serve";
	argv[k++] = portbuf;
	argv[k++] = (char *)log;
	va_start(ap, log);
	while ((a = va_arg(ap, const char *)) && k < 15)
		argv[k++] = (char *)a;
	va_end(ap);
	argv[k] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp("python3", argv);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		if (access(log, F_OK) == 0)
			return pid;
		h_sleep_ms(50);
	}
	ck_abort_msg("the receiver on port %d did not start", port);
	return -1;
}

static void rcv_stop(int pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* The requests a receiver got: [{n, headers, body (parsed), answered}]. */
static json_t *rcv_records(const char *log)
{
	json_t *out = json_array();
	char *text = h_read(log, NULL);
	for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		json_t *rec = json_loads(line, 0, NULL);
		if (!rec)
			continue;
		json_t *body = json_loads(json_string_value(json_object_get(rec, "body")), 0, NULL);
		json_object_set_new(rec, "parsed", body ? body : json_null());
		json_array_append_new(out, rec);
	}
	free(text);
	return out;
}

/* The first request of event type about job (NULL: any) answered `answered` (0: any), waiting
 * up to timeout_s; NULL when none came. A new reference. */
static json_t *rcv_find(const char *log, const char *type, const char *job, long answered, double timeout_s)
{
	double t0 = now_s();
	for (;;) {
		json_t *recs = rcv_records(log), *rec, *hit = NULL;
		size_t i;
		json_array_foreach(recs, i, rec)
		{
			json_t *b = json_object_get(rec, "parsed");
			const char *t = json_string_value(json_object_get(b, "type"));
			const char *id = json_string_value(json_object_get(json_object_get(b, "data"), "id"));
			long a = (long)json_integer_value(json_object_get(rec, "answered"));
			if (t && strcmp(t, type) == 0 && (!job || (id && strcmp(id, job) == 0)) &&
			    (!answered || a == answered)) {
				hit = json_incref(rec);
				break;
			}
		}
		json_decref(recs);
		if (hit || now_s() - t0 > timeout_s)
			return hit;
		h_sleep_ms(100);
	}
}

static const char *webhook_id(json_t *rec)
{
	return json_string_value(json_object_get(json_object_get(rec, "headers"), "webhook-id"));
}

/* How many requests carried webhook-id id, and what each was answered ("500,200"). */
static int count_id(const char *log, const char *id, char *codes, size_t sz)
{
	json_t *recs = rcv_records(log), *rec;
	size_t i, used = 0;
	int n = 0;
	codes[0] = '\0';
	json_array_foreach(recs, i, rec) if (webhook_id(rec) && strcmp(webhook_id(rec), id) == 0)
	{
		used += (size_t)snprintf(codes + used, used < sz ? sz - used : 0, "%s%lld", n ? "," : "",
					 (long long)json_integer_value(json_object_get(rec, "answered")));
		n++;
	}
	json_decref(recs);
	return n;
}

/* Python's verdict on every request of log. */
static void assert_verified(const char *log, int at_least)
{
	struct h_result r;
	char *argv[] = {"/usr/bin/python3", (char *)receiver_py(), "verify", (char *)log, SECRET, NULL};
	h_run_argv(&r, argv, NULL, 60);
	ck_assert_msg(r.rc == 0, "the signatures do not verify: %s%s", r.out, r.err);
	int n = 0;
	ck_assert_int_eq(sscanf(r.out, "ok %d", &n), 1);
	ck_assert_msg(n >= at_least, "%d requests verified, want at least %d", n, at_least);
	h_result_free(&r);
}

/* A config file in the test's folder: the lines given (printf-style). Returns its path. */
static const char *write_conf(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *write_conf(const char *name, const char *fmt, ...)
{
	static char path[700];
	char body[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/%s", h_tmpdir(), name);
	h_write(path, body, strlen(body));
	chmod(path, 0600);
	return path;
}

/* The delivery id in GET /v1/notifications (new reference), or NULL. */
static json_t *delivery(const struct h_daemon *d, const char *id)
{
	struct h_http r;
	json_t *hit = NULL, *x;
	size_t i;
	h_request(&r, d, "GET", "/v1/notifications", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	json_array_foreach(json_object_get(r.json, "deliveries"), i, x)
	{
		const char *xid = json_string_value(json_object_get(x, "id"));
		if (xid && strcmp(xid, id) == 0)
			hit = json_incref(x);
	}
	h_http_free(&r);
	return hit;
}

/* Waits until delivery id is in state (timeout_s); returns it. */
static json_t *wait_delivery(const struct h_daemon *d, const char *id, const char *state, double timeout_s)
{
	double t0 = now_s();
	for (;;) {
		json_t *x = delivery(d, id);
		const char *st = x ? json_string_value(json_object_get(x, "state")) : NULL;
		if (st && strcmp(st, state) == 0)
			return x;
		ck_assert_msg(now_s() - t0 < timeout_s, "delivery %s is %s, not %s, after %.0f s", id,
			      st ? st : "absent", state, timeout_s);
		json_decref(x);
		h_sleep_ms(100);
	}
}

static char *deploy_wait(const struct h_daemon *d, const char *want)
{
	char *id = h_post_deploy(d, "{}");
	json_t *job = h_wait_job(d, id, 60);
	ck_assert_str_eq(h_jstr(job, "state"), want);
	json_decref(job);
	return id;
}

static const char *std_conf(int port, const char *extra)
{
	return write_conf("notify.conf",
			  "backup_before_deploy = false\nlog_level = debug\nnotify_retry_backoff = 200ms\n"
			  "notify_timeout = 5s\nnotify_url = hook http://127.0.0.1:%d/hook\n"
			  "notify_secret = hook " SECRET "\n%s",
			  port, extra ? extra : "");
}

ITEST(job_events_arrive_signed_in_order_and_job_failed_carries_the_sqlstate)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", std_conf(port, NULL), NULL);
	char *ok = deploy_wait(&d, "succeeded");
	h_mig(dir, "20240102000000_div", "SELECT 1/0;");
	char *bad = deploy_wait(&d, "failed");

	json_t *q = rcv_find(log, "job.queued", ok, 200, 15), *s = rcv_find(log, "job.started", ok, 200, 15),
	       *e = rcv_find(log, "job.succeeded", ok, 200, 15), *f = rcv_find(log, "job.failed", bad, 200, 15);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(f);
	/* In order, each event its own webhook-id. */
	ck_assert_int_lt(json_integer_value(json_object_get(q, "n")), json_integer_value(json_object_get(s, "n")));
	ck_assert_int_lt(json_integer_value(json_object_get(s, "n")), json_integer_value(json_object_get(e, "n")));
	ck_assert_str_ne(webhook_id(q), webhook_id(e));
	ck_assert_str_eq(h_jstr(json_object_get(e, "parsed"), "data.state"), "succeeded");
	ck_assert_str_eq(h_jstr(json_object_get(e, "parsed"), "data.actor"), "ops");
	ck_assert_ptr_nonnull(h_jstr(json_object_get(e, "parsed"), "data.host"));
	ck_assert_str_eq(h_jstr(json_object_get(e, "parsed"), "data.database.name"), db);
	ck_assert_str_eq(h_jstr(json_object_get(f, "parsed"), "data.error.sqlstate"), "22012");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "headers"), "content-type")),
			 "application/json");
	assert_verified(log, 6);

	/* The secret is nowhere: log, outbox, journal, API answers, metrics. */
	struct h_http r1, r2;
	h_request(&r1, &d, "GET", "/v1/notifications", H_TOKEN_READ, NULL, NULL, NULL);
	h_request(&r2, &d, "GET", "/metrics", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r2.status, 200);
	h_assert_contains(r2.body, "migrated_notify_deliveries_total{endpoint=\"hook\",outcome=\"delivered\"}");
	h_assert_contains(r2.body, "migrated_notify_pending 0");
	char path[800];
	snprintf(path, sizeof path, "%s/notify.jsonl", d.state_dir);
	char *outbox = h_read(path, NULL), *log_text = h_daemon_log(&d);
	snprintf(path, sizeof path, "%s/journal.jsonl", d.state_dir);
	char *journal = h_read(path, NULL);
	ck_assert_ptr_nonnull(outbox);
	h_assert_contains(outbox, "\"signed_with\":\"hook\"");
	const char *texts[] = {outbox, log_text, journal, r1.body, r2.body};
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		h_assert_not_contains(texts[i], SECRET_B64);
		h_assert_not_contains(texts[i], "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0f19333874d33d8d6");
	}
	free(outbox);
	free(log_text);
	free(journal);
	h_http_free(&r1);
	h_http_free(&r2);
	json_decref(q);
	json_decref(s);
	json_decref(e);
	json_decref(f);
	free(ok);
	free(bad);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(three_500s_then_200_is_one_webhook_id_four_times_and_ends_delivered)
{
	struct h_daemon d = {0};
	char log[700], codes[64];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, "--fail-first", "3", NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", std_conf(port, "notify_events = hook job.succeeded\n"), NULL);
	char *job = deploy_wait(&d, "succeeded");
	json_t *rec = rcv_find(log, "job.succeeded", job, 200, 20);
	ck_assert_ptr_nonnull(rec);
	ck_assert_int_eq(count_id(log, webhook_id(rec), codes, sizeof codes), 4);
	ck_assert_str_eq(codes, "500,500,500,200");
	json_t *x = wait_delivery(&d, webhook_id(rec), "delivered", 10);
	ck_assert_int_eq(json_integer_value(json_object_get(x, "attempts")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(x, "last_status")), 200);
	ck_assert_ptr_nonnull(h_jstr(x, "delivered_at"));
	ck_assert_ptr_nonnull(h_jstr(x, "created_at"));
	ck_assert_str_eq(h_jstr(x, "endpoint"), "hook");
	ck_assert_str_eq(h_jstr(x, "event"), "job.succeeded");
	/* notify_events: nothing but job.succeeded came. */
	ck_assert_ptr_null(rcv_find(log, "job.queued", NULL, 0, 0));
	assert_verified(log, 4);
	json_decref(x);
	json_decref(rec);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(a_receiver_down_during_the_job_gets_the_events_once_it_is_up)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", std_conf(port, NULL), NULL);
	char *job = deploy_wait(&d, "succeeded");
	h_sleep_ms(3000); /* several attempts are refused meanwhile */
	struct h_http r;
	h_request(&r, &d, "GET", "/v1/notifications", H_TOKEN_READ, NULL, NULL, NULL);
	json_t *first = json_array_get(json_object_get(r.json, "deliveries"),
				       json_array_size(json_object_get(r.json, "deliveries")) - 1);
	ck_assert_str_eq(h_jstr(first, "state"), "pending");
	ck_assert_int_ge(json_integer_value(json_object_get(first, "attempts")), 2);
	ck_assert_ptr_nonnull(h_jstr(first, "last_error"));
	ck_assert_ptr_nonnull(h_jstr(first, "next_attempt_at"));
	h_http_free(&r);
	int rp = rcv_start(port, log, NULL);
	json_t *rec = rcv_find(log, "job.succeeded", job, 200, 30);
	ck_assert_msg(rec != NULL, "job.succeeded did not arrive after the receiver came up");
	json_decref(rec);
	assert_verified(log, 3);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(a_delivery_tried_before_kill_9_comes_again_after_the_restart_with_its_webhook_id)
{
	struct h_daemon d = {0};
	char log[700], log2[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();
	const char *conf = std_conf(port, NULL);

	snprintf(log, sizeof log, "%s/r1.jsonl", h_tmpdir());
	snprintf(log2, sizeof log2, "%s/r2.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, "--fail-type", "job.succeeded", NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	char *job = deploy_wait(&d, "succeeded");
	json_t *tried = rcv_find(log, "job.succeeded", job, 500, 20);
	ck_assert_ptr_nonnull(tried);
	json_t *queued = rcv_find(log, "job.queued", job, 200, 5);
	ck_assert_ptr_nonnull(queued);
	h_daemon_kill(&d);
	rcv_stop(rp);
	rp = rcv_start(port, log2, NULL);
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	json_t *again = rcv_find(log2, "job.succeeded", job, 200, 30);
	ck_assert_msg(again != NULL, "job.succeeded did not come after the restart");
	ck_assert_str_eq(webhook_id(again), webhook_id(tried));
	/* What was delivered before the kill is not sent again. */
	ck_assert_ptr_null(rcv_find(log2, "job.queued", job, 0, 0));
	json_t *x = wait_delivery(&d, webhook_id(tried), "delivered", 10);
	ck_assert_int_ge(json_integer_value(json_object_get(x, "attempts")), 2);
	assert_verified(log2, 1);
	json_decref(x);
	json_decref(again);
	json_decref(queued);
	json_decref(tried);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

/* The window between a job's end record and its outbox record, made wide: the daemon is
 * stopped and the outbox loses the end event's record, as a kill at that instant would. */
ITEST(a_job_end_missing_from_the_outbox_after_a_crash_is_queued_at_the_restart)
{
	struct h_daemon d = {0};
	char log[700], path[800];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();
	const char *conf = std_conf(port, NULL);

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	char *job = deploy_wait(&d, "succeeded");
	json_t *first = rcv_find(log, "job.succeeded", job, 200, 15);
	ck_assert_ptr_nonnull(first);
	h_daemon_kill(&d);
	snprintf(path, sizeof path, "%s/notify.jsonl", d.state_dir);
	char *text = h_read(path, NULL), *kept = calloc(1, strlen(text) + 1);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (!h_contains(line, "job.succeeded") &&
		    !h_contains(line,
				json_string_value(json_object_get(json_object_get(first, "headers"), "webhook-id")))) {
			strcat(kept, line);
			strcat(kept, "\n");
		}
	h_write(path, kept, strlen(kept));
	free(text);
	free(kept);
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	double t0 = now_s();
	int n = 0;
	while (n < 2 && now_s() - t0 < 15) {
		json_t *recs = rcv_records(log), *x;
		size_t i;
		n = 0;
		json_array_foreach(recs, i, x) n +=
			h_jstr(json_object_get(x, "parsed"), "type") &&
			strcmp(h_jstr(json_object_get(x, "parsed"), "type"), "job.succeeded") == 0;
		json_decref(recs);
		h_sleep_ms(100);
	}
	ck_assert_msg(n == 2, "job.succeeded arrived %d times, want 2 (once more after the restart)", n);
	/* Once is enough: another restart does not send it again. */
	h_daemon_stop(&d);
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	h_sleep_ms(1500);
	json_t *recs = rcv_records(log), *x;
	size_t i;
	n = 0;
	json_array_foreach(recs, i, x) n +=
		strcmp(h_jstr(json_object_get(x, "parsed"), "type") ?: "", "job.succeeded") == 0;
	json_decref(recs);
	ck_assert_int_eq(n, 2);
	assert_verified(log, 4);
	json_decref(first);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(backups_and_health_transitions_are_notified)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	if (h_server_major() > h_client_major())
		H_SKIP("pg_dump %d cannot back up server %d", h_client_major(), h_server_major());
	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(
		&d, db, dir, "MIGRATED_PROBE_INTERVAL=300ms", "--config",
		write_conf("bh.conf", "notify_retry_backoff = 200ms\nnotify_url = hook http://127.0.0.1:%d/\n", port),
		NULL);
	char *job = deploy_wait(&d, "succeeded");
	json_t *b = rcv_find(log, "backup.created", NULL, 200, 15);
	ck_assert_msg(b != NULL, "no backup.created");
	ck_assert_str_eq(h_jstr(json_object_get(b, "parsed"), "data.job"), job);
	ck_assert_ptr_nonnull(h_jstr(json_object_get(b, "parsed"), "data.sha256"));
	json_decref(b);
	/* The database goes away and comes back: down, then back to what it was. */
	h_sleep_ms(1500);
	h_server_stop();
	json_t *down = NULL;
	for (int i = 0; i < 100 && !down; i++) {
		json_t *recs = rcv_records(log), *x;
		size_t k;
		json_array_foreach(recs, k, x) if (strcmp(h_jstr(json_object_get(x, "parsed"), "type") ?: "",
							  "health.changed") == 0 &&
						   strcmp(h_jstr(json_object_get(x, "parsed"), "data.status") ?: "",
							  "down") == 0) down = json_incref(x);
		json_decref(recs);
		h_sleep_ms(100);
	}
	h_server_start();
	ck_assert_msg(down != NULL, "no health.changed to down while the server was stopped");
	json_t *up = NULL;
	for (int i = 0; i < 150 && !up; i++) {
		json_t *recs = rcv_records(log), *x;
		size_t k;
		json_array_foreach(recs, k, x) if (strcmp(h_jstr(json_object_get(x, "parsed"), "type") ?: "",
							  "health.changed") == 0 &&
						   strcmp(h_jstr(json_object_get(x, "parsed"), "data.from") ?: "",
							  "down") == 0) up = json_incref(x);
		json_decref(recs);
		h_sleep_ms(100);
	}
	ck_assert_msg(up != NULL, "no health.changed from down after the server came back");
	json_decref(down);
	json_decref(up);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(a_deploy_refused_by_the_lint_gate_is_notified_with_the_findings)
{
	struct h_daemon d = {0};
	struct h_http r;
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_base", "CREATE TABLE big (id bigint PRIMARY KEY, v text);");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_idx", "CREATE INDEX big_v ON big (v);");
	h_daemon_start(&d, db, dir, "MIGRATED_LINT_GATE=block", "--config", std_conf(port, NULL), NULL);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 422);
	h_http_free(&r);
	json_t *x = rcv_find(log, "deploy.lint_blocked", NULL, 200, 10);
	ck_assert_msg(x != NULL, "no deploy.lint_blocked");
	json_t *data = json_object_get(json_object_get(x, "parsed"), "data");
	ck_assert_str_eq(h_jstr(data, "actor"), "ci");
	ck_assert_str_eq(h_jstr(json_array_get(json_object_get(json_object_get(data, "lint"), "findings"), 0), "rule"),
			 "require-concurrent-index-creation");
	assert_verified(log, 1);
	json_decref(x);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(a_deploy_refused_by_the_data_preflight_is_notified_with_the_findings)
{
	struct h_daemon d = {0};
	struct h_http r;
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_base",
	      "CREATE TABLE acct (id int PRIMARY KEY, name text); INSERT INTO acct VALUES (1001, NULL), (2001, 'a');");
	h_deploy_ok(db, dir);
	h_mig(dir, "20240102000000_req", "ALTER TABLE acct ALTER COLUMN name SET NOT NULL;");
	h_daemon_start(&d, db, dir, "--config", std_conf(port, NULL), NULL);
	h_request(&r, &d, "POST", "/v1/deploy", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	ck_assert_int_eq(r.status, 422);
	h_http_free(&r);
	json_t *x = rcv_find(log, "deploy.preflight_blocked", NULL, 200, 10);
	ck_assert_msg(x != NULL, "no deploy.preflight_blocked");
	json_t *data = json_object_get(json_object_get(x, "parsed"), "data");
	ck_assert_str_eq(h_jstr(data, "actor"), "ci");
	json_t *f = json_array_get(json_object_get(json_object_get(data, "preflight"), "findings"), 0);
	ck_assert_str_eq(h_jstr(f, "status"), "fails");
	ck_assert_int_eq(json_integer_value(json_object_get(f, "violating_rows")), 1);
	assert_verified(log, 1);
	json_decref(x);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(rollbacks_and_drift_transitions_are_notified)
{
	struct h_daemon d = {0};
	struct h_http r;
	char log[700], path[900];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_base", "CREATE TABLE base (id int);");
	h_mig(dir, "20240102000000_two", "CREATE TABLE two (id int);");
	snprintf(path, sizeof path, "%s/20240102000000_two/down.sql", dir);
	h_write(path, "DROP TABLE two;\n", 16);
	h_daemon_start(&d, db, dir, "--config", std_conf(port, NULL), NULL);
	char *job = deploy_wait(&d, "succeeded");
	/* Drift: a change by hand is detected once, and resolved once undone. */
	h_exec(db, "ALTER TABLE base ADD COLUMN by_hand int");
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(json_is_true(json_object_get(r.json, "drift")), "no drift: %s", r.body);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	h_http_free(&r);
	json_t *x = rcv_find(log, "drift.detected", NULL, 200, 10);
	ck_assert_msg(x != NULL, "no drift.detected");
	ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(x, "parsed"), "data"), "drift")));
	json_decref(x);
	h_exec(db, "ALTER TABLE base DROP COLUMN by_hand");
	h_request(&r, &d, "GET", "/v1/drift?shadow=0", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(json_is_false(json_object_get(r.json, "drift")), "still drift: %s", r.body);
	h_http_free(&r);
	x = rcv_find(log, "drift.resolved", NULL, 200, 10);
	ck_assert_msg(x != NULL, "no drift.resolved");
	json_decref(x);
	json_t *recs = rcv_records(log), *rec;
	size_t i;
	int detected = 0;
	json_array_foreach(recs, i, rec) detected +=
		strcmp(h_jstr(json_object_get(rec, "parsed"), "type") ?: "", "drift.detected") == 0;
	json_decref(recs);
	ck_assert_int_eq(detected, 1); /* transitions only: the second check said nothing */
	/* A down rollback: job.succeeded of kind rollback, and rollback.succeeded. */
	h_request(&r, &d, "POST", "/v1/rollback", H_TOKEN_ADMIN, "application/json",
		  "{\"strategy\": \"down\", \"to\": \"20240101000000_base\"}", NULL);
	ck_assert_int_eq(r.status, 202);
	char *rb = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	json_decref(h_wait_job(&d, rb, 60));
	x = rcv_find(log, "rollback.succeeded", rb, 200, 10);
	ck_assert_msg(x != NULL, "no rollback.succeeded");
	ck_assert_str_eq(h_jstr(json_object_get(x, "parsed"), "data.kind"), "rollback");
	json_decref(x);
	assert_verified(log, 8);
	free(rb);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(an_endpoint_answering_410_is_disabled_until_a_reload)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, "--status", "410", NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config",
		       std_conf(port, "notify_events = hook job.queued,job.started,job.succeeded\n"), NULL);
	char *job = deploy_wait(&d, "succeeded");
	json_t *rec = rcv_find(log, "job.queued", job, 410, 10);
	ck_assert_ptr_nonnull(rec);
	json_t *x = wait_delivery(&d, webhook_id(rec), "failed", 10);
	ck_assert_int_eq(json_integer_value(json_object_get(x, "last_status")), 410);
	ck_assert_int_eq(json_integer_value(json_object_get(x, "attempts")), 1);
	h_sleep_ms(1500);
	json_t *recs = rcv_records(log);
	ck_assert_int_eq(json_array_size(recs), 1); /* nothing after the 410 */
	json_decref(recs);
	/* A reload enables it again. */
	kill(d.pid, SIGHUP);
	h_sleep_ms(500);
	h_mig(dir, "20240102000000_two", "CREATE TABLE two (id int);");
	char *job2 = deploy_wait(&d, "succeeded");
	json_t *rec2 = rcv_find(log, "job.queued", job2, 410, 10);
	ck_assert_msg(rec2 != NULL, "the endpoint was not tried again after SIGHUP");
	json_decref(rec2);
	json_decref(x);
	json_decref(rec);
	free(job);
	free(job2);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

static double health_p99_ms(const struct h_daemon *d, int n)
{
	double *t = calloc((size_t)n, sizeof *t);
	struct h_http r;
	for (int i = 0; i < n; i++) {
		double t0 = now_s();
		h_request(&r, d, "GET", "/v1/health", NULL, NULL, NULL, NULL);
		t[i] = (now_s() - t0) * 1000;
		ck_assert_int_ne(r.status, 0);
		h_http_free(&r);
	}
	for (int i = 1; i < n; i++) /* insertion sort: n is small */
		for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
			double x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	double p99 = t[(n * 99) / 100];
	free(t);
	return p99;
}

ITEST(five_hanging_receivers_delay_neither_a_deploy_nor_health)
{
	struct h_daemon d = {0};
	char lines[4096] = "", log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int pids[5];
	size_t used = 0;

	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", write_conf("base.conf", "backup_before_deploy = false\n"), NULL);
	double base = health_p99_ms(&d, 300);
	h_daemon_stop(&d);

	for (int i = 0; i < 5; i++) {
		int port = h_free_port();
		snprintf(log, sizeof log, "%s/slow%d.jsonl", h_tmpdir(), i);
		pids[i] = rcv_start(port, log, "--sleep", "30", NULL);
		used += (size_t)snprintf(lines + used, sizeof lines - used,
					 "notify_url = slow%d http://127.0.0.1:%d/\n", i, port);
	}
	used += (size_t)snprintf(lines + used, sizeof lines - used,
				 "backup_before_deploy = false\nnotify_timeout = 20s\nnotify_retry_backoff = 100ms\n");
	h_daemon_start(&d, db, dir, "--config", write_conf("slow.conf", "%s", lines), NULL);
	double t0 = now_s();
	char *job = deploy_wait(&d, "succeeded");
	double deploy_s = now_s() - t0;
	ck_assert_msg(deploy_s < 3.0, "the deploy took %.2f s while the receivers hang", deploy_s);
	double hung = health_p99_ms(&d, 300);
	fprintf(stderr, "notify: health p99 %.2f ms with 5 hanging receivers, %.2f ms without (deploy %.2f s)\n", hung,
		base, deploy_s);
	ck_assert_msg(hung < base * 3 + 20, "health p99 %.2f ms with hanging receivers, %.2f ms without", hung, base);
	/* Still pending, not lost. */
	struct h_http r;
	h_request(&r, &d, "GET", "/metrics", NULL, NULL, NULL, NULL);
	ck_assert_msg(!h_contains(r.body, "migrated_notify_pending 0\n"), "nothing pending:\n%s", r.body);
	h_http_free(&r);
	free(job);
	/* An endpoint that answers is not held up by those that hang: a reload adds one. */
	char good[700];
	snprintf(good, sizeof good, "%s/good.jsonl", h_tmpdir());
	int gport = h_free_port(), gpid = rcv_start(gport, good, NULL);
	used += (size_t)snprintf(lines + used, sizeof lines - used, "notify_url = good http://127.0.0.1:%d/\n", gport);
	write_conf("slow.conf", "%s", lines);
	kill(d.pid, SIGHUP);
	h_sleep_ms(300);
	h_mig(dir, "20240102000000_two", "CREATE TABLE two (id int);");
	char *job2 = deploy_wait(&d, "succeeded");
	json_t *g = rcv_find(good, "job.succeeded", job2, 200, 5);
	ck_assert_msg(g != NULL, "the answering endpoint waited behind the hanging ones");
	json_decref(g);
	free(job2);
	/* Stopping does not wait for the attempt under way (notify_timeout is 20 s here). */
	t0 = now_s();
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(now_s() - t0 < 5, "SIGTERM took %.1f s with an attempt hanging", now_s() - t0);
	for (int i = 0; i < 5; i++)
		rcv_stop(pids[i]);
	rcv_stop(gpid);
}

/* Slack's documented limits for the blocks used (api.slack.com/reference/block-kit/blocks). */
static void assert_slack_block(json_t *b)
{
	const char *type = h_jstr(b, "type");
	ck_assert_ptr_nonnull(type);
	if (strcmp(type, "header") == 0) {
		ck_assert_str_eq(h_jstr(b, "text.type"), "plain_text");
		ck_assert_int_le(strlen(h_jstr(b, "text.text")), 150);
	} else if (strcmp(type, "section") == 0) {
		json_t *text = json_object_get(b, "text"), *fields = json_object_get(b, "fields"), *f;
		size_t i;
		ck_assert(text || fields);
		if (text) {
			ck_assert(strcmp(h_jstr(b, "text.type"), "mrkdwn") == 0 ||
				  strcmp(h_jstr(b, "text.type"), "plain_text") == 0);
			ck_assert_int_le(strlen(h_jstr(b, "text.text")), 3000);
		}
		ck_assert_int_le(json_array_size(fields), 10);
		json_array_foreach(fields, i, f)
		{
			ck_assert_str_eq(h_jstr(f, "type"), "mrkdwn");
			ck_assert_int_le(strlen(h_jstr(f, "text")), 2000);
		}
	} else if (strcmp(type, "context") == 0) {
		json_t *els = json_object_get(b, "elements");
		ck_assert_int_ge(json_array_size(els), 1);
		ck_assert_int_le(json_array_size(els), 10);
	} else {
		ck_abort_msg("block type %s is not one the message should use", type);
	}
}

ITEST(slack_messages_have_text_and_blocks_of_slacks_schema_with_the_error)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_div", "SELECT 1/0;");
	h_daemon_start(&d, db, dir, "--config",
		       write_conf("slack.conf",
				  "backup_before_deploy = false\nnotify_url = team http://127.0.0.1:%d/x\n"
				  "notify_format = team slack\n",
				  port),
		       NULL);
	char *job = deploy_wait(&d, "failed");
	json_t *rec = NULL, *recs = NULL;
	for (int i = 0; i < 100 && !rec; i++) {
		json_t *x;
		size_t k;
		recs = rcv_records(log);
		json_array_foreach(recs, k,
				   x) if (h_contains(json_string_value(json_object_get(x, "body")), "failed") &&
					  h_contains(json_string_value(json_object_get(x, "body")), "22012")) rec =
			json_incref(x);
		json_decref(recs);
		if (!rec)
			h_sleep_ms(100);
	}
	ck_assert_msg(rec != NULL, "no Slack message about the failed job");
	json_t *msg = json_object_get(rec, "parsed"), *b;
	size_t i;
	ck_assert(json_is_string(json_object_get(msg, "text")));
	ck_assert_int_ge(json_array_size(json_object_get(msg, "blocks")), 3);
	ck_assert_int_le(json_array_size(json_object_get(msg, "blocks")), 50);
	json_array_foreach(json_object_get(msg, "blocks"), i, b) assert_slack_block(b);
	h_assert_contains(json_string_value(json_object_get(rec, "body")), "division by zero");
	h_assert_contains(json_string_value(json_object_get(rec, "body")), db);
	h_assert_contains(json_string_value(json_object_get(rec, "body")), "ops");
	json_decref(rec);
	free(job);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(a_command_hook_gets_the_event_on_stdin_and_its_exit_status_is_recorded)
{
	struct h_daemon d = {0};
	char script[700], bad[700], out[700], text[2048];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();

	snprintf(out, sizeof out, "%s/events.txt", h_tmpdir());
	snprintf(script, sizeof script, "%s/hook.sh", h_tmpdir());
	snprintf(text, sizeof text, "#!/bin/sh\ncat >>%s\necho >>%s\necho \"got $MIGRATED_WEBHOOK_ID\"\n", out, out);
	h_write(script, text, strlen(text));
	chmod(script, 0755);
	snprintf(bad, sizeof bad, "%s/bad.sh", h_tmpdir());
	snprintf(text, sizeof text, "#!/bin/sh\ncat >/dev/null\necho 'no luck' >&2\nexit 7\n");
	h_write(bad, text, strlen(text));
	chmod(bad, 0755);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(
		&d, db, dir, "--config",
		write_conf("cmd.conf",
			   "backup_before_deploy = false\nnotify_retry_backoff = 200ms\n"
			   "notify_command = good %s\nnotify_command = bad %s\nnotify_events = bad job.succeeded\n",
			   script, bad),
		NULL);
	char *job = deploy_wait(&d, "succeeded");
	char *got = NULL;
	for (int i = 0; i < 100; i++) {
		free(got);
		got = h_read(out, NULL);
		if (got && h_contains(got, "\"job.succeeded\""))
			break;
		h_sleep_ms(100);
	}
	ck_assert_ptr_nonnull(got);
	/* One JSON document a line, in order: queued, started, succeeded. */
	char *l1 = strtok(got, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n");
	ck_assert_ptr_nonnull(l3);
	json_t *j1 = json_loads(l1, 0, NULL), *j3 = json_loads(l3, 0, NULL);
	ck_assert_ptr_nonnull(j1);
	ck_assert_ptr_nonnull(j3);
	ck_assert_str_eq(h_jstr(j1, "type"), "job.queued");
	ck_assert_str_eq(h_jstr(j3, "type"), "job.succeeded");
	ck_assert_str_eq(h_jstr(j3, "data.id"), job);
	h_assert_contains(l2, "job.started");
	json_decref(j1);
	json_decref(j3);
	free(got);
	/* The failing program: exit status 7 and its stderr in the record, retried. */
	double t0 = now_s();
	for (;;) {
		struct h_http r;
		json_t *x, *hit = NULL;
		size_t i;
		h_request(&r, &d, "GET", "/v1/notifications", H_TOKEN_READ, NULL, NULL, NULL);
		json_array_foreach(json_object_get(r.json, "deliveries"), i,
				   x) if (strcmp(h_jstr(x, "endpoint"), "bad") == 0) hit = x;
		bool done = hit && json_integer_value(json_object_get(hit, "attempts")) >= 2;
		if (done) {
			ck_assert_int_eq(json_integer_value(json_object_get(hit, "last_status")), 7);
			ck_assert_str_eq(h_jstr(hit, "state"), "pending");
			h_assert_contains(h_jstr(hit, "last_error"), "no luck");
			ck_assert_str_eq(h_jstr(hit, "event"), "job.succeeded");
		}
		h_http_free(&r);
		if (done)
			break;
		ck_assert_msg(now_s() - t0 < 15, "the failing command was not recorded twice");
		h_sleep_ms(100);
	}
	free(job);
	h_daemon_stop(&d);
}

ITEST(sighup_adds_and_removes_endpoints)
{
	struct h_daemon d = {0};
	char la[700], lb[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int pa = h_free_port(), pb = h_free_port();

	snprintf(la, sizeof la, "%s/a.jsonl", h_tmpdir());
	snprintf(lb, sizeof lb, "%s/b.jsonl", h_tmpdir());
	int ra = rcv_start(pa, la, NULL), rb = rcv_start(pb, lb, NULL);
	const char *conf =
		write_conf("hup.conf", "backup_before_deploy = false\nnotify_url = a http://127.0.0.1:%d/\n", pa);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	h_daemon_start(&d, db, dir, "--config", conf, NULL);
	char *j1 = deploy_wait(&d, "succeeded");
	json_t *x = rcv_find(la, "job.succeeded", j1, 200, 10);
	ck_assert_ptr_nonnull(x);
	json_decref(x);
	write_conf("hup.conf", "backup_before_deploy = false\nnotify_url = b http://127.0.0.1:%d/\n", pb);
	kill(d.pid, SIGHUP);
	double t0 = now_s();
	for (;;) {
		char *log = h_daemon_log(&d);
		bool done = h_contains(log, "notify: 1 endpoint after the reload");
		free(log);
		if (done)
			break;
		ck_assert_msg(now_s() - t0 < 10, "no reload in the log");
		h_sleep_ms(50);
	}
	/* A bad notify line on reload keeps the running configuration (b). */
	write_conf("hup.conf",
		   "backup_before_deploy = false\nnotify_url = b http://127.0.0.1:%d/\n"
		   "notify_format = b teams\n",
		   pb);
	kill(d.pid, SIGHUP);
	t0 = now_s();
	for (;;) {
		char *log = h_daemon_log(&d);
		bool done = h_contains(log, "reload failed");
		free(log);
		if (done)
			break;
		ck_assert_msg(now_s() - t0 < 10, "a bad notify_format was not refused on reload");
		h_sleep_ms(50);
	}
	h_mig(dir, "20240102000000_two", "CREATE TABLE two (id int);");
	char *j2 = deploy_wait(&d, "succeeded");
	x = rcv_find(lb, "job.succeeded", j2, 200, 10);
	ck_assert_msg(x != NULL, "the endpoint added by SIGHUP got nothing");
	json_decref(x);
	h_sleep_ms(500);
	ck_assert_ptr_null(rcv_find(la, "job.queued", j2, 0, 0));
	free(j1);
	free(j2);
	h_daemon_stop(&d);
	rcv_stop(ra);
	rcv_stop(rb);
}

ITEST(the_test_event_reaches_every_endpoint_and_needs_the_admin_role)
{
	struct h_daemon d = {0};
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port(), dead = h_free_port();
	struct h_http r;

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_daemon_start(&d, db, dir, "--config",
		       std_conf(port, "notify_events = hook job.failed\nnotify_url = nobody http://127.0.0.1:%d/\n"),
		       NULL);
	(void)dead;
	h_request(&r, &d, "POST", "/v1/notifications/test", H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	h_http_free(&r);
	h_request(&r, &d, "POST", "/v1/notifications/test", H_TOKEN_ADMIN, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	json_t *res = json_object_get(r.json, "results"), *x;
	size_t i;
	ck_assert_int_eq(json_array_size(res), 2);
	json_array_foreach(res, i, x)
	{
		if (strcmp(h_jstr(x, "endpoint"), "hook") == 0) {
			ck_assert(json_is_true(json_object_get(x, "ok")));
			ck_assert_int_eq(json_integer_value(json_object_get(x, "status")), 200);
		} else {
			ck_assert(json_is_false(json_object_get(x, "ok")));
			ck_assert_ptr_nonnull(h_jstr(x, "error"));
		}
	}
	h_http_free(&r);
	json_t *rec = rcv_find(log, "test", NULL, 200, 5);
	ck_assert_ptr_nonnull(rec);
	json_decref(rec);
	assert_verified(log, 1);
	h_daemon_stop(&d);
	rcv_stop(rp);
}

ITEST(the_cli_deploy_notifies_too)
{
	struct h_result res;
	char log[700];
	const char *db = h_fresh_db(), *dir = h_migrations_dir();
	int port = h_free_port();

	snprintf(log, sizeof log, "%s/r.jsonl", h_tmpdir());
	int rp = rcv_start(port, log, NULL);
	h_mig(dir, "20240101000000_one", "CREATE TABLE one (id int);");
	char *env = h_env_url(db);
	h_migrated(&res, env, "deploy", "--migrations", dir, "--config", std_conf(port, NULL), NULL);
	ck_assert_msg(res.rc == 0, "deploy failed: %s", res.err);
	h_result_free(&res);
	json_t *rec = rcv_find(log, "job.succeeded", NULL, 200, 5);
	ck_assert_msg(rec != NULL, "no job.succeeded from `migrated deploy`");
	ck_assert_str_eq(h_jstr(json_object_get(rec, "parsed"), "data.source"), "cli");
	ck_assert_str_eq(h_jstr(json_object_get(rec, "parsed"), "data.state"), "succeeded");
	h_assert_contains(json_string_value(json_object_get(rec, "body")), "20240101000000_one");
	json_decref(rec);
	assert_verified(log, 1);
	free(env);
	rcv_stop(rp);
}

Suite *suite_notify(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, job_events_arrive_signed_in_order_and_job_failed_carries_the_sqlstate);
	tcase_add_test(tc, three_500s_then_200_is_one_webhook_id_four_times_and_ends_delivered);
	tcase_add_test(tc, a_receiver_down_during_the_job_gets_the_events_once_it_is_up);
	tcase_add_test(tc, a_delivery_tried_before_kill_9_comes_again_after_the_restart_with_its_webhook_id);
	tcase_add_test(tc, a_job_end_missing_from_the_outbox_after_a_crash_is_queued_at_the_restart);
	tcase_add_test(tc, backups_and_health_transitions_are_notified);
	tcase_add_test(tc, a_deploy_refused_by_the_lint_gate_is_notified_with_the_findings);
	tcase_add_test(tc, a_deploy_refused_by_the_data_preflight_is_notified_with_the_findings);
	tcase_add_test(tc, rollbacks_and_drift_transitions_are_notified);
	tcase_add_test(tc, an_endpoint_answering_410_is_disabled_until_a_reload);
	tcase_add_test(tc, five_hanging_receivers_delay_neither_a_deploy_nor_health);
	tcase_add_test(tc, slack_messages_have_text_and_blocks_of_slacks_schema_with_the_error);
	tcase_add_test(tc, a_command_hook_gets_the_event_on_stdin_and_its_exit_status_is_recorded);
	tcase_add_test(tc, sighup_adds_and_removes_endpoints);
	tcase_add_test(tc, the_test_event_reaches_every_endpoint_and_needs_the_admin_role);
	tcase_add_test(tc, the_cli_deploy_notifies_too);
	suite_add_tcase(s, tc);
	return s;
}
