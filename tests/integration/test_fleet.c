/* test_fleet.c - suite "fleet" (issue 15): the targets file and fleet deploys through real
 * daemons over real HTTP, against the harness cluster and, for the first test, a second
 * cluster of this suite's own (initdb and pg_ctl from the harness's server binaries, on a free
 * port, stopped in the middle of a fleet deploy). It proves: 50 targets over two clusters with
 * a poisoned one failing alone under on_error=continue while the second cluster goes down;
 * a failing canary under stop touching nothing else; parallel never exceeded (pg_stat_activity
 * and pg_locks sampled every 20 ms); the fleet_max_connections cap over 200 targets; SIGHUP
 * adding and removing targets; two daemons and `migrated deploy`, or the real Prisma 6 CLI,
 * racing on the same databases; kill -9 mid-fleet and the next fleet deploy; cancel; per-target
 * health, readiness and metrics; the refusals of bad requests and bad targets files; and a target's password kept
 * out of every log, answer, state file and child command line.
 *
 * Not for: the schedule's own rules (unit suite fleet_sched), the targets file grammar (unit
 * suite targets), single-target deploys (suites api, daemon). */
#include "harness.h"
#include "suites.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOCK_OBJID "72707369" /* Prisma's advisory lock key, pg_locks.objid */
#define ENDED(s)                                                                                                 \
	((s) && (strcmp((s), "succeeded") == 0 || strcmp((s), "failed") == 0 || strcmp((s), "cancelled") == 0 || \
		 strcmp((s), "interrupted") == 0))

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- SQL on either cluster, by port ---- */

static void no_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *pg_open(int port, const char *db, const char *app)
{
	char ci[512];
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=%s application_name=%s connect_timeout=5",
		 port, db, app ? app : "migrated-tests");
	PGconn *c = PQconnectdb(ci);
	PQsetNoticeProcessor(c, no_notices, NULL);
	return c;
}

static void pg_exec(int port, const char *db, const char *sql)
{
	PGconn *c = pg_open(port, db, NULL);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s on port %d: %s", db, port, PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		      "SQL failed on %s (port %d): %s\n%s", db, port, PQresultErrorMessage(r), sql);
	PQclear(r);
	PQfinish(c);
}

static char *pg_q1(int port, const char *db, const char *sql)
{
	PGconn *c = pg_open(port, db, NULL);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s on port %d: %s", db, port, PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "query failed on %s: %s\n%s", db, PQresultErrorMessage(r),
		      sql);
	char *v = PQntuples(r) == 0 ? strdup("") : PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* Fresh databases prefix_1..prefix_n... named by the caller, on one connection. */
static void create_dbs(int port, char names[][64], int n)
{
	PGconn *c = pg_open(port, "postgres", NULL);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect port %d: %s", port, PQerrorMessage(c));
	for (int i = 0; i < n; i++) {
		char sql[200];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", names[i]);
		PQclear(PQexec(c, sql));
		snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", names[i]);
		PGresult *r = PQexec(c, sql);
		ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	}
	PQfinish(c);
}

/* ---- the second cluster ---- */

static char c2_dir[512];
static int c2_port;

static void c2_paths(void)
{
	snprintf(c2_dir, sizeof c2_dir, "%s/fleet2", h_base_dir());
}

/* argv as the postgres OS user when we are root (initdb and pg_ctl refuse root). */
static int as_server_user(char *const argv[], const char *log_path)
{
	pid_t p = fork();
	int st;
	if (p == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("postgres");
			if (!pw || setgid(pw->pw_gid) < 0 || initgroups("postgres", pw->pw_gid) < 0 ||
			    setuid(pw->pw_uid) < 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0)
		return -1;
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void c2_start(void)
{
	char data[600], bin[600], log[600], opts[700], ctl[600];
	c2_paths();
	snprintf(data, sizeof data, "%s/data", c2_dir);
	snprintf(log, sizeof log, "%s/server.log", c2_dir);
	snprintf(ctl, sizeof ctl, "%s/pg_ctl.log", c2_dir);
	if (access(data, F_OK) != 0) {
		mkdir(c2_dir, 0755);
		struct passwd *pw = getpwnam("postgres");
		if (geteuid() == 0 && pw)
			ck_assert(chown(c2_dir, pw->pw_uid, pw->pw_gid) == 0);
		snprintf(bin, sizeof bin, "%s/initdb", h_pg_bindir());
		char *initdb[] = {bin,        "-D",        data, "-A",   "trust",      "-U",
				  "postgres", "--no-sync", "-E", "UTF8", "--locale=C", NULL};
		ck_assert_msg(as_server_user(initdb, ctl) == 0, "initdb of the second cluster failed: %s",
			      h_read(ctl, NULL));
	}
	snprintf(bin, sizeof bin, "%s/pg_ctl", h_pg_bindir());
	for (int attempt = 0; attempt < 5; attempt++) {
		c2_port = h_free_port();
		snprintf(opts, sizeof opts,
			 "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
			 "-c full_page_writes=off -c max_connections=100 -c log_min_messages=warning",
			 c2_port, c2_dir);
		char *start[] = {bin, "-D", data, "-w", "-t", "60", "-o", opts, "-l", log, "start", NULL};
		if (as_server_user(start, ctl) == 0)
			return;
	}
	ck_abort_msg("the second cluster did not start: %s", h_read(log, NULL));
}

static void c2_stop(const char *mode)
{
	char data[600], bin[600], ctl[600];
	c2_paths();
	snprintf(data, sizeof data, "%s/data", c2_dir);
	snprintf(bin, sizeof bin, "%s/pg_ctl", h_pg_bindir());
	snprintf(ctl, sizeof ctl, "%s/pg_ctl.log", c2_dir);
	char *stop[] = {bin, "-D", data, "-m", (char *)mode, "-w", "stop", NULL};
	as_server_user(stop, ctl);
}

/* The fixture's teardown (in the runner): a second cluster a failed test left running. */
static void fleet_teardown(void)
{
	char pidfile[700];
	c2_paths();
	snprintf(pidfile, sizeof pidfile, "%s/data/postmaster.pid", c2_dir);
	if (access(pidfile, F_OK) == 0)
		c2_stop("immediate");
}

static void fleet_setup(void)
{
}

/* ---- migrations, poisoning, tallies ---- */

/* Migrations 1..upto of n: 1 creates counter and settings, 3 inserts settings 'feature_x' (what
 * a poisoned database already has), each inserts its number into counter and sleeps. The text
 * depends only on i and sleep_s, so a prefix written elsewhere has the same checksums. */
static void mk_migrations(const char *dir, int upto, const char *sleep_s)
{
	for (int i = 1; i <= upto; i++) {
		char name[64], sql[400];
		snprintf(name, sizeof name, "202405010000%02d_m%02d", i, i);
		snprintf(sql, sizeof sql,
			 "%s%sCREATE TABLE t_%02d (id int);\nINSERT INTO counter VALUES (%d);\nSELECT pg_sleep(%s);\n",
			 i == 1 ? "CREATE TABLE counter (n int NOT NULL);\nCREATE TABLE settings (k text PRIMARY KEY, "
				  "v text);\n"
				: "",
			 i == 3 ? "INSERT INTO settings VALUES ('feature_x', 'on');\n" : "", i, i, sleep_s);
		h_mig(dir, name, sql);
	}
}

static char *url_of(int port, const char *db)
{
	char *s;
	ck_assert(asprintf(&s, "postgresql://postgres@127.0.0.1:%d/%s", port, db) > 0);
	return s;
}

/* Migrations 1-2 applied by the CLI, then a settings row migration 3's insert violates. */
static void poison(int port, const char *db, const char *sleep_s)
{
	char dir2[700], env[300];
	struct h_result r;
	snprintf(dir2, sizeof dir2, "%s/mig-poison", h_tmpdir());
	mkdir(dir2, 0755);
	char lock[800];
	snprintf(lock, sizeof lock, "%s/migration_lock.toml", dir2);
	h_write(lock, "provider = \"postgresql\"\n", 24);
	mk_migrations(dir2, 2, sleep_s);
	char *u = url_of(port, db);
	snprintf(env, sizeof env, "DATABASE_URL=%s", u);
	free(u);
	h_migrated(&r, env, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", "deploy", "--migrations", dir2, NULL);
	ck_assert_msg(r.rc == 0, "seeding the poisoned %s: exit %d\n%s%s", db, r.rc, r.out, r.err);
	h_result_free(&r);
	pg_exec(port, db, "INSERT INTO settings VALUES ('feature_x', 'legacy')");
}

static void cli_deploy(int port, const char *db, const char *dir)
{
	char env[300];
	struct h_result r;
	char *u = url_of(port, db);
	snprintf(env, sizeof env, "DATABASE_URL=%s", u);
	free(u);
	h_migrated(&r, env, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "CLI deploy of %s: exit %d\n%s%s", db, r.rc, r.out, r.err);
	h_result_free(&r);
}

/* "finished/rows counter:distinct" of a database: "5/5 5:5" is five migrations, each once
 * (rows marked rolled back, what a reconciled interrupted attempt leaves, are not counted: the
 * counter table says whether its statements ran twice). */
static char *tally(int port, const char *db)
{
	char *has = pg_q1(port, db, "SELECT to_regclass('public._prisma_migrations') IS NOT NULL");
	bool h = has && strcmp(has, "t") == 0;
	free(has);
	if (!h)
		return strdup("none");
	return pg_q1(port, db,
		     "SELECT (SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND "
		     "rolled_back_at IS NULL) || '/' || (SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at "
		     "IS NULL) || ' ' || "
		     "CASE WHEN to_regclass('public.counter') IS NULL THEN '0:0' ELSE (SELECT count(*) || ':' || "
		     "count(DISTINCT n) FROM counter) END");
}

static bool has_table(int port, const char *db, const char *table)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT to_regclass('public.%s') IS NOT NULL", table);
	char *v = pg_q1(port, db, sql);
	bool yes = v && strcmp(v, "t") == 0;
	free(v);
	return yes;
}

static bool has_history(int port, const char *db)
{
	return has_table(port, db, "_prisma_migrations");
}

/* No migration twice: history names distinct, counter values distinct (when they exist). */
static void assert_nothing_twice(int port, const char *db)
{
	char *v;
	if (has_history(port, db)) {
		v = pg_q1(
			port, db,
			"SELECT CASE WHEN count(*) = count(DISTINCT migration_name) THEN 'ok' ELSE 'history twice: ' "
			"|| string_agg(migration_name, ',') END FROM _prisma_migrations WHERE rolled_back_at IS NULL");
		ck_assert_msg(v && strcmp(v, "ok") == 0, "%s: %s", db, v ? v : "NULL");
		free(v);
	}
	if (has_table(port, db, "counter")) {
		v = pg_q1(port, db,
			  "SELECT CASE WHEN count(*) = count(DISTINCT n) THEN 'ok' ELSE 'a migration ran twice: ' || "
			  "string_agg(n::text, ',' ORDER BY n) END FROM counter");
		ck_assert_msg(v && strcmp(v, "ok") == 0, "%s: %s", db, v ? v : "NULL");
		free(v);
	}
}

/* ---- targets files, daemons, jobs ---- */

struct tgt {
	char name[32];
	char db[64];
	int port;
};

static void write_targets(const char *path, const struct tgt *t, int n, const char *extra_label)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s postgresql://postgres@127.0.0.1:%d/%s%s%s\n", t[i].name, t[i].port, t[i].db,
			extra_label ? " " : "", extra_label ? extra_label : "");
	fclose(f);
	chmod(path, 0600);
}

static char *env_kv(const char *k, const char *v)
{
	char *s;
	ck_assert(asprintf(&s, "%s=%s", k, v) > 0);
	return s;
}

static json_t *get_json(const struct h_daemon *d, const char *path, long want)
{
	struct h_http r;
	h_request(&r, d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
	ck_assert_msg(r.status == want, "GET %s -> %ld (want %ld) %s", path, r.status, want, r.body);
	json_t *j = json_incref(r.json);
	h_http_free(&r);
	return j;
}

static json_t *job_get(const struct h_daemon *d, const char *id)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	return get_json(d, path, 200);
}

static char *post_fleet(const struct h_daemon *d, const char *body)
{
	struct h_http r;
	h_request(&r, d, "POST", "/v1/fleet/deploy", H_TOKEN_DEPLOY, "application/json", body, NULL);
	ck_assert_msg(r.status == 202, "POST /v1/fleet/deploy %s -> %ld %s", body, r.status, r.body);
	ck_assert_str_eq(h_jstr(r.json, "kind"), "fleet-deploy");
	char *id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	return id;
}

static json_t *step_of(json_t *job, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(job, "steps"), i, s)
	{
		if (json_is_object(s) && json_string_value(json_object_get(s, "name")) &&
		    strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return s;
	}
	return NULL;
}

static const char *step_state(json_t *job, const char *name)
{
	return json_string_value(json_object_get(step_of(job, name), "state"));
}

static int count_state(json_t *job, const char *state)
{
	size_t i;
	json_t *s;
	int n = 0;
	json_array_foreach(json_object_get(job, "steps"), i, s)
	{
		const char *st = json_string_value(json_object_get(s, "state"));
		n += st && strcmp(st, state) == 0;
	}
	return n;
}

static long result_int(json_t *job, const char *key)
{
	json_t *v = json_object_get(json_object_get(job, "result"), key);
	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static char *dumps(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	return s ? s : strdup("null");
}

/* Whether the step, or else its child job, names text. */
static bool step_or_child_names(const struct h_daemon *d, json_t *step, const char *text)
{
	char *s = dumps(step);
	bool yes = strstr(s, text) != NULL;
	free(s);
	const char *child = json_string_value(json_object_get(step, "job"));
	if (!yes && child) {
		json_t *c = job_get(d, child);
		s = dumps(c);
		yes = strstr(s, text) != NULL;
		free(s);
		json_decref(c);
	}
	return yes;
}

static void daemon_start_targets(struct h_daemon *d, const char *default_db, const char *dir, const char *tfile,
				 const char *e1, const char *e2, const char *e3)
{
	char *tf = env_kv("MIGRATED_TARGETS_FILE", tfile);
	const char *extra[3] = {e1, e2, e3};
	const char *env[6] = {tf, "MIGRATED_ADVISORY_LOCK_TIMEOUT=60s", NULL, NULL, NULL, NULL};
	int k = 2;
	for (int i = 0; i < 3; i++)
		if (extra[i])
			env[k++] = extra[i];
	h_daemon_start(d, default_db, dir, env[0], env[1], env[2], env[3], env[4], (char *)NULL);
}

/* ---- a sampler of the server's own view, every 20 ms, in a thread ---- */

struct sampler {
	int port;
	const char *sql; /* one row, two integer columns */
	volatile int stop;
	int max[2], samples, errors;
	char at_max[600]; /* the client sessions by application_name when max[1] was reached */
	pthread_t th;
};

static void sampler_breakdown(PGconn *c, struct sampler *s)
{
	PGresult *r = PQexec(c, "SELECT string_agg(a || ': ' || n, ', ') FROM (SELECT coalesce(application_name, '?') "
				"a, count(*) n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
				"pg_backend_pid() GROUP BY 1 ORDER BY 2 DESC LIMIT 12) x");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(s->at_max, sizeof s->at_max, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	PGconn *c = pg_open(s->port, "postgres", "fleet-sampler");
	while (!s->stop && PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, s->sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
			for (int k = 0; k < 2; k++) {
				int v = atoi(PQgetvalue(r, 0, k));
				if (v > s->max[k]) {
					s->max[k] = v;
					if (k == 1)
						sampler_breakdown(c, s);
				}
			}
			s->samples++;
		} else {
			s->errors++;
		}
		PQclear(r);
		h_sleep_ms(20);
	}
	PQfinish(c);
	return NULL;
}

static void sampler_start(struct sampler *s, int port, const char *sql)
{
	memset(s, 0, sizeof *s);
	s->port = port;
	s->sql = sql;
	ck_assert(pthread_create(&s->th, NULL, sampler_main, s) == 0);
}

static void sampler_stop(struct sampler *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
}

/* ---- 1. fifty targets on two clusters ---- */

#define N1 50

ITEST(fleet_of_50_on_two_clusters_poisoned_fails_alone_and_a_stopped_cluster_fails_only_its_unfinished)
{
	static struct tgt t[N1];
	static char dbs1[N1][64], dbs2[N1][64];
	int n1 = 0, n2 = 0, poisoned = 2; /* t03, on the harness cluster */
	const char *dir = h_migrations_dir();
	char tfile[700];

	mk_migrations(dir, 5, "0.1");
	c2_start();
	for (int i = 0; i < N1; i++) {
		snprintf(t[i].name, sizeof t[i].name, "t%02d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f1_t%02d", i + 1);
		t[i].port = i % 2 == 0 ? h_port() : c2_port;
		snprintf(i % 2 == 0 ? dbs1[n1++] : dbs2[n2++], 64, "%s", t[i].db);
	}
	create_dbs(h_port(), dbs1, n1);
	create_dbs(c2_port, dbs2, n2);
	poison(t[poisoned].port, t[poisoned].db, "0.1");
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	FILE *f = fopen(tfile, "w");
	for (int i = 0; i < N1; i++)
		fprintf(f, "%s postgresql://postgres@127.0.0.1:%d/%s cluster=%d\n", t[i].name, t[i].port, t[i].db,
			i % 2 == 0 ? 1 : 2);
	fclose(f);
	chmod(tfile, 0600);

	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false",
			     "MIGRATED_CONNECT_TIMEOUT=3", NULL);
	json_t *list = get_json(&d, "/v1/targets?label=cluster=2", 200);
	ck_assert_int_eq(json_array_size(json_object_get(list, "targets")), 25);
	json_decref(list);

	char *id = post_fleet(&d, "{\"on_error\": \"continue\", \"parallel\": 8}");
	/* Watch: once 20 targets succeeded, stop the second cluster. */
	json_t *job = NULL;
	double t0 = now_s();
	for (;;) {
		json_decref(job);
		job = job_get(&d, id);
		ck_assert_msg(!ENDED(h_jstr(job, "state")), "the fleet job ended before 20 targets succeeded: %s",
			      dumps(job));
		if (count_state(job, "succeeded") >= 20)
			break;
		ck_assert_msg(now_s() - t0 < 120, "20 targets did not succeed within 120 s");
		h_sleep_ms(50);
	}
	c2_stop("fast");
	json_decref(job);
	job = job_get(&d, id);
	bool done_at_down[N1];
	int c2_done = 0;
	for (int i = 0; i < N1; i++) {
		const char *st = step_state(job, t[i].name);
		done_at_down[i] = st && strcmp(st, "succeeded") == 0;
		c2_done += done_at_down[i] && i % 2 == 1;
	}
	json_decref(job);
	job = h_wait_job(&d, id, 180);
	char *all = dumps(job);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "failed") == 0, "fleet job state %s: %s", h_jstr(job, "state"), all);
	ck_assert_str_eq(h_jstr(job, "kind"), "fleet-deploy");

	int c2_failed = 0;
	char later[600] = ""; /* a finding checked last, so that the others are checked first */
	for (int i = 0; i < N1; i++) {
		json_t *s = step_of(job, t[i].name);
		char *sj = dumps(s);
		const char *st = step_state(job, t[i].name);
		ck_assert_msg(st, "no step for %s in %s", t[i].name, all);
		if (i == poisoned) {
			ck_assert_msg(strcmp(st, "failed") == 0, "poisoned %s: %s", t[i].name, sj);
			ck_assert_msg(step_or_child_names(&d, s, "P3018"),
				      "neither the step nor the child job of %s "
				      "names P3018: %s",
				      t[i].name, sj);
		} else if (i % 2 == 0 || done_at_down[i]) {
			ck_assert_msg(strcmp(st, "succeeded") == 0, "%s (%s) should have succeeded: %s", t[i].name,
				      i % 2 == 0 ? "first cluster" : "done before the stop", sj);
			if (json_integer_value(json_object_get(s, "applied")) != 5 && !later[0])
				snprintf(later, sizeof later, "step %.31s says applied %lld, want 5: %.400s", t[i].name,
					 (long long)json_integer_value(json_object_get(s, "applied")), sj);
		} else {
			c2_failed++;
			ck_assert_msg(strcmp(st, "failed") == 0, "%s on the stopped cluster: %s", t[i].name, sj);
			ck_assert_msg(step_or_child_names(&d, s, "database_unreachable") ||
					      step_or_child_names(&d, s, "P1001") ||
					      step_or_child_names(&d, s, "P1017"),
				      "%s on the stopped cluster failed without a connect error: %s", t[i].name, sj);
		}
		const char *child = json_string_value(json_object_get(s, "job"));
		if (child) {
			json_t *c = job_get(&d, child);
			ck_assert_str_eq(h_jstr(c, "kind"), "deploy");
			ck_assert_str_eq(h_jstr(c, "target"), t[i].name);
			ck_assert_str_eq(h_jstr(c, "parent"), id);
			json_decref(c);
		}
		free(sj);
	}
	ck_assert_msg(c2_failed > 0, "the stop came too late: all 25 targets of the second cluster had finished");
	ck_assert_int_eq(result_int(job, "targets"), N1);
	ck_assert_int_eq(result_int(job, "succeeded"), N1 - 1 - c2_failed);
	ck_assert_int_eq(result_int(job, "failed"), 1 + c2_failed);
	ck_assert_int_eq(result_int(job, "skipped"), 0);
	ck_assert_int_eq(result_int(job, "not_started"), 0);
	ck_assert_int_eq(result_int(job, "parallel"), 8);
	ck_assert_int_eq((int)json_array_size(json_object_get(json_object_get(job, "result"), "failed_targets")),
			 1 + c2_failed);
	fprintf(stderr, "fleet: 50 targets: %d of the second cluster done at its stop, %d failed with it\n", c2_done,
		c2_failed);

	/* The databases: the first cluster now, the second after it is back. */
	for (int i = 0; i < N1; i += 2) {
		char *v = tally(t[i].port, t[i].db);
		if (i == poisoned) {
			char *h = pg_q1(t[i].port, t[i].db,
					"SELECT string_agg(right(migration_name, 3) || CASE WHEN finished_at IS NOT "
					"NULL THEN '+' WHEN rolled_back_at IS NULL THEN '!' ELSE '-' END, ',' ORDER BY "
					"migration_name) FROM _prisma_migrations");
			ck_assert_msg(h && strcmp(h, "m01+,m02+,m03!") == 0, "poisoned history: %s", h ? h : "NULL");
			free(h);
		} else {
			ck_assert_msg(strcmp(v, "5/5 5:5") == 0, "%s: %s, want 5/5 5:5", t[i].db, v);
		}
		free(v);
	}
	c2_start();
	/* c2_start picks a new port; the databases are the same. */
	for (int i = 1; i < N1; i += 2) {
		assert_nothing_twice(c2_port, t[i].db);
		if (done_at_down[i]) {
			char *v = tally(c2_port, t[i].db);
			ck_assert_msg(strcmp(v, "5/5 5:5") == 0, "%s: %s, want 5/5 5:5", t[i].db, v);
			free(v);
		}
	}
	c2_stop("fast");
	free(all);
	json_decref(job);
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(!later[0], "%s", later);
}

/* ---- 2. a failing canary under stop ---- */

ITEST(a_failing_canary_under_stop_fails_the_fleet_and_touches_no_other_target)
{
	struct tgt t[5];
	char dbs[5][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 5, "0");
	for (int i = 0; i < 5; i++) {
		snprintf(t[i].name, sizeof t[i].name, "c%d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f2_c%d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 5);
	poison(h_port(), t[0].db, "0");
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 5, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	char *id =
		post_fleet(&d, "{\"targets\": [\"c1\", \"c2\", \"c3\", \"c4\", \"c5\"], \"canary\": 1, \"on_error\": "
			       "\"stop\", \"parallel\": 4}");
	json_t *job = h_wait_job(&d, id, 60);
	char *all = dumps(job);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "failed") == 0, "fleet: %s", all);
	ck_assert_msg(strcmp(step_state(job, "c1"), "failed") == 0, "c1: %s", all);
	ck_assert_msg(step_or_child_names(&d, step_of(job, "c1"), "P3018"), "c1 does not name P3018: %s", all);
	for (int i = 1; i < 5; i++) {
		ck_assert_msg(strcmp(step_state(job, t[i].name), "skipped") == 0, "%s: %s", t[i].name, all);
		ck_assert_msg(!json_string_value(json_object_get(step_of(job, t[i].name), "job")),
			      "%s got a child job: %s", t[i].name, all);
		ck_assert_msg(!has_history(h_port(), t[i].db), "%s has a _prisma_migrations table", t[i].db);
		h_assert_q(t[i].db, "SELECT count(*) FROM pg_class WHERE relname IN ('counter', 'settings', 't_01')",
			   "0");
	}
	ck_assert_int_eq(result_int(job, "failed"), 1);
	ck_assert_int_eq(result_int(job, "succeeded"), 0);
	ck_assert_int_eq(result_int(job, "skipped"), 4);
	ck_assert_msg(h_jstr(job, "result.stopped_by"), "no stopped_by: %s", all);
	free(all);
	json_decref(job);
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- 3. parallel never exceeded ---- */

/* Number of jobs GET path lists; each must have field key equal to want (when key). */
static size_t listed(const struct h_daemon *d, const char *path, const char *key, const char *want)
{
	json_t *l = get_json(d, path, 200), *j;
	size_t i, n = json_array_size(json_object_get(l, "jobs"));
	json_array_foreach(json_object_get(l, "jobs"), i, j)
	{
		const char *v = key ? h_jstr(j, key) : want;
		ck_assert_msg(!key || (v && strcmp(v, want) == 0), "%s: job %zu has %s %s, not %s", path, i, key,
			      v ? v : "(none)", want);
	}
	json_decref(l);
	return n;
}

/* GET /v1/jobs?target=|parent=|kind=|state= after a fleet deploy fleet_id of 12 targets p01..p12
 * that all succeeded, with no job of the default target. */
static void jobs_filters_find_the_fleets_jobs(const struct h_daemon *d, const char *fleet_id)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs?limit=100&parent=%s", fleet_id);
	ck_assert_uint_eq(listed(d, path, "parent", fleet_id), 12);
	snprintf(path, sizeof path, "/v1/jobs?limit=100&parent=%s&state=succeeded", fleet_id);
	ck_assert_uint_eq(listed(d, path, "kind", "deploy"), 12);
	ck_assert_uint_eq(listed(d, "/v1/jobs?target=p05", "parent", fleet_id), 1);
	ck_assert_uint_eq(listed(d, "/v1/jobs?target=p05&kind=deploy", "target", "p05"), 1);
	ck_assert_uint_eq(listed(d, "/v1/jobs?kind=fleet-deploy", "id", fleet_id), 1);
	ck_assert_uint_eq(listed(d, "/v1/jobs?limit=100", NULL, NULL), 13);
	ck_assert_uint_eq(listed(d, "/v1/jobs?target=default", NULL, NULL), 0);
	ck_assert_uint_eq(listed(d, "/v1/jobs?state=failed", NULL, NULL), 0);
	ck_assert_uint_eq(listed(d, "/v1/jobs?target=nosuch", NULL, NULL), 0);
	json_decref(get_json(d, "/v1/jobs?kind=deploys", 400));
	json_decref(get_json(d, "/v1/jobs?state=done", 400));
}

ITEST(a_fleet_deploy_of_12_with_parallel_3_never_runs_more_than_3_targets_at_once)
{
	struct tgt t[12];
	char dbs[12][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 3, "0.2");
	for (int i = 0; i < 12; i++) {
		snprintf(t[i].name, sizeof t[i].name, "p%02d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f3_p%02d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 12);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 12, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	struct sampler s;
	sampler_start(
		&s, h_port(),
		"SELECT (SELECT count(DISTINCT datname) FROM pg_stat_activity WHERE datname LIKE 'f3_p%' AND "
		"application_name LIKE 'migrated pid % job %'), (SELECT count(DISTINCT l.database) FROM pg_locks "
		"l JOIN pg_database b ON b.oid = l.database WHERE l.locktype = 'advisory' AND l.objid = " LOCK_OBJID
		" AND l.granted AND b.datname LIKE 'f3_p%')");
	char *id = post_fleet(&d, "{\"parallel\": 3}");
	json_t *job = h_wait_job(&d, id, 120);
	sampler_stop(&s);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "fleet: %s", dumps(job));
	ck_assert_int_eq(result_int(job, "succeeded"), 12);
	for (int i = 0; i < 12; i++) {
		char *v = tally(h_port(), t[i].db);
		ck_assert_msg(strcmp(v, "3/3 3:3") == 0, "%s: %s", t[i].db, v);
		free(v);
	}
	fprintf(stderr, "fleet: parallel 3: at most %d target sessions and %d locks at once in %d samples\n", s.max[0],
		s.max[1], s.samples);
	ck_assert_msg(s.samples > 50, "only %d samples (%d errors)", s.samples, s.errors);
	ck_assert_msg(s.max[0] <= 3, "%d databases had a target job session at once, parallel is 3", s.max[0]);
	ck_assert_msg(s.max[1] <= 3, "%d databases had the migration lock held at once, parallel is 3", s.max[1]);
	ck_assert_msg(s.max[0] >= 2, "at most %d target at a time: nothing ran in parallel", s.max[0]);
	ck_assert_msg(s.max[1] >= 2, "the lock was held on at most %d database at a time", s.max[1]);
	json_decref(job);
	jobs_filters_find_the_fleets_jobs(&d, id);
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- 4. the connection cap over 200 targets ---- */

#define N4 200

ITEST(fleet_max_connections_10_holds_over_200_targets_with_parallel_64)
{
	static struct tgt t[N4];
	static char dbs[N4][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 1, "0");
	for (int i = 0; i < N4; i++) {
		snprintf(t[i].name, sizeof t[i].name, "k%03d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f4_k%03d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, N4);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, N4, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	/* The backup stays on: a target job's second connection is pg_dump's. */
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_FLEET_MAX_CONNECTIONS=10", NULL, NULL);
	struct sampler s;
	/* The cap is on the targets' connections: the default target's own pool (pool_size) and
	 * probe are not part of it, so sessions on its database are not counted. */
	char q4[700];
	snprintf(q4, sizeof q4,
		 "SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'migrated%%' AND datname "
		 "<> '%s'), (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
		 "pg_backend_pid() AND datname <> '%s' AND application_name NOT IN ('migrated-tests', "
		 "'fleet-sampler'))",
		 default_db, default_db);
	sampler_start(&s, h_port(), q4);
	double t0 = now_s();
	char *id = post_fleet(&d, "{\"parallel\": 64, \"on_error\": \"continue\"}");
	json_t *job = h_wait_job(&d, id, 240);
	double took = now_s() - t0;
	sampler_stop(&s);
	char *all = dumps(job);
	/* The daemon goes first, and its sessions with it: the cluster's max_connections is shared
	 * with the tests that follow, whatever is asserted here. */
	int stop_rc = h_daemon_stop(&d);
	for (int i = 0; i < 200; i++) {
		char *n = pg_q1(h_port(), "postgres",
				"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'migrated%'");
		bool gone = n && strcmp(n, "0") == 0;
		free(n);
		if (gone)
			break;
		h_sleep_ms(100);
	}
	fprintf(stderr,
		"fleet: 200 targets, cap 10: %.1f s, %ld succeeded, at most %d 'migrated%%' sessions, %d client "
		"sessions "
		"in all (%d samples); at the most: %s\n",
		took, result_int(job, "succeeded"), s.max[0], s.max[1], s.samples, s.at_max);
	ck_assert_msg(s.samples > 20, "only %d samples (%d errors)", s.samples, s.errors);
	ck_assert_msg(s.max[0] <= 10,
		      "%d connections with application_name LIKE 'migrated%%' at once, fleet_max_connections = 10 "
		      "(sessions by application at the most: %s; the fleet job: %.600s)",
		      s.max[0], s.at_max, all);
	ck_assert_msg(s.max[1] <= 10,
		      "%d client connections from the daemon and its pg_dump children at once, cap 10 (by "
		      "application: %s)",
		      s.max[1], s.at_max);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "succeeded") == 0, "fleet: %.3000s", all);
	ck_assert_int_eq(result_int(job, "succeeded"), N4);
	ck_assert_int_eq(result_int(job, "parallel"), 4);
	h_assert_contains(all, "parallel lowered to 4");
	for (int i = 0; i < N4; i++) {
		char *v = tally(h_port(), t[i].db);
		ck_assert_msg(strcmp(v, "1/1 1:1") == 0, "%s: %s", t[i].db, v);
		free(v);
	}
	free(all);
	json_decref(job);
	free(id);
	ck_assert_int_eq(stop_rc, 0);
}

/* ---- 5. SIGHUP ---- */

/* A daemon that died (a crash, a sanitizer's report) fails the test with the end of its log,
 * not with the next request's "Server returned nothing". */
static void assert_alive(const struct h_daemon *d)
{
	int st;
	if (waitpid(d->pid, &st, WNOHANG) != d->pid)
		return;
	size_t len = 0;
	char *log = h_read(d->log_path, &len);
	ck_abort_msg("the daemon died (%s %d); the end of its log:\n%s", WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), log ? log + (len > 6000 ? len - 6000 : 0) : "");
}

static char *target_names(const struct h_daemon *d)
{
	assert_alive(d);
	json_t *j = get_json(d, "/v1/targets", 200);
	char buf[1024] = "";
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(j, "targets"), i, t)
	{
		if (buf[0])
			strcat(buf, ",");
		strncat(buf, json_string_value(json_object_get(t, "name")) ?: "?", 100);
	}
	json_decref(j);
	return strdup(buf);
}

static const char *target_health(json_t *list, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(list, "targets"), i, t)
	{
		if (strcmp(json_string_value(json_object_get(t, "name")) ?: "", name) == 0)
			return json_string_value(json_object_get(t, "health"));
	}
	return NULL;
}

ITEST(sighup_adds_and_removes_targets_and_an_added_one_is_probed)
{
	struct tgt t[3];
	char dbs[3][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 2, "0");
	const char *names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		snprintf(t[i].name, sizeof t[i].name, "%s", names[i]);
		snprintf(t[i].db, sizeof t[i].db, "f5_%s", names[i]);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 3);
	for (int i = 0; i < 3; i++)
		cli_deploy(h_port(), t[i].db, dir);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 2, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_PROBE_INTERVAL=300ms", NULL, NULL);
	char *before = target_names(&d);
	ck_assert_str_eq(before, "default,a,b");
	json_t *j = get_json(&d, "/v1/targets/b/status", 200);
	json_decref(j);

	struct tgt now[2] = {t[0], t[2]};
	write_targets(tfile, now, 2, NULL);
	ck_assert(kill(d.pid, SIGHUP) == 0);
	double t0 = now_s();
	char *after = NULL;
	for (;;) {
		free(after);
		after = target_names(&d);
		if (strcmp(after, "default,a,c") == 0)
			break;
		ck_assert_msg(now_s() - t0 < 10, "GET /v1/targets lists %s 10 s after SIGHUP, want default,a,c", after);
		h_sleep_ms(100);
	}
	assert_alive(&d);
	j = get_json(&d, "/v1/targets/b/status", 404);
	json_decref(j);
	j = get_json(&d, "/v1/targets/b/plan", 404);
	json_decref(j);
	struct h_http r;
	h_request(&r, &d, "POST", "/v1/targets/b/deploy", H_TOKEN_DEPLOY, "application/json", "{}", NULL);
	ck_assert_msg(r.status == 404, "POST /v1/targets/b/deploy after its removal -> %ld %s", r.status, r.body);
	h_http_free(&r);
	h_request(&r, &d, "GET", "/v1/health?target=b", NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 404, "/v1/health?target=b after its removal -> %ld %s", r.status, r.body);
	h_http_free(&r);
	/* The added one is probed: health ok within a few probe intervals. */
	const char *health = NULL;
	for (;;) {
		assert_alive(&d);
		json_t *list = get_json(&d, "/v1/targets", 200);
		health = target_health(list, "c");
		bool ok = health && strcmp(health, "ok") == 0;
		char *l = dumps(list);
		json_decref(list);
		if (ok) {
			free(l);
			break;
		}
		ck_assert_msg(now_s() - t0 < 5, "target c not healthy 5 s after SIGHUP (probe interval 0.3 s): %s", l);
		free(l);
		h_sleep_ms(100);
	}
	fprintf(stderr, "fleet: SIGHUP: %s -> %s, c ok after %.1f s\n", before, after, now_s() - t0);
	j = get_json(&d, "/v1/targets/c/status", 200);
	json_decref(j);
	free(before);
	free(after);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- 6. two daemons and the CLI racing ---- */

struct holder_seen {
	int lines, naming_daemon, naming_other;
	char example[600];
};

static void scan_child_logs(const struct h_daemon *d, int other_pid, json_t *fleet, struct holder_seen *hs,
			    char *states, size_t statesz)
{
	size_t i, k;
	json_t *s, *line;
	json_array_foreach(json_object_get(fleet, "steps"), i, s)
	{
		const char *child = json_string_value(json_object_get(s, "job"));
		ck_assert_msg(child, "step without a child job: %s", dumps(s));
		json_t *c = job_get(d, child);
		const char *st = h_jstr(c, "state");
		ck_assert_msg(ENDED(st), "child %s of %s is %s", child, d->base, st ? st : "?");
		strncat(states, st, statesz - strlen(states) - 2);
		strncat(states, " ", statesz - strlen(states) - 1);
		json_array_foreach(json_object_get(c, "logs"), k, line)
		{
			const char *m = json_string_value(json_object_get(line, "message"));
			if (!m || !strstr(m, "held by"))
				continue;
			hs->lines++;
			const char *p = strstr(m, "migrated pid ");
			int pid = 0;
			char jid[16] = "";
			if (p && sscanf(p, "migrated pid %d job %15[0-9a-zA-Z-]", &pid, jid) == 2) {
				hs->naming_daemon++;
				hs->naming_other += pid == other_pid;
				if (!hs->example[0])
					snprintf(hs->example, sizeof hs->example, "%s", m);
			}
		}
		json_decref(c);
	}
}

ITEST(two_daemons_and_cli_deploys_racing_apply_each_migration_once_and_name_the_holder)
{
	struct tgt t[6];
	char dbs[6][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 5, "0.2");
	for (int i = 0; i < 6; i++) {
		snprintf(t[i].name, sizeof t[i].name, "h%d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f6_h%d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 6);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 6, NULL);
	struct h_daemon a = {0}, b = {0};
	char dba[64], dbb[64];
	snprintf(dba, sizeof dba, "%s", h_fresh_db());
	snprintf(dbb, sizeof dbb, "%s", h_fresh_db());
	snprintf(a.state_dir, sizeof a.state_dir, "%s/state-a", h_tmpdir());
	snprintf(b.state_dir, sizeof b.state_dir, "%s/state-b", h_tmpdir());
	mkdir(a.state_dir, 0700);
	mkdir(b.state_dir, 0700);
	daemon_start_targets(&a, dba, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	daemon_start_targets(&b, dbb, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	char *ida = post_fleet(&a, "{\"parallel\": 3}");
	char *idb = post_fleet(&b, "{\"parallel\": 3}");
	/* While the daemons run, the CLI on every database (two each). */
	h_sleep_ms(300);
	int cli[12];
	for (int i = 0; i < 12; i++) {
		char out[700], *u = url_of(h_port(), t[i % 6].db), env[300];
		snprintf(out, sizeof out, "%s/cli-%d.log", h_tmpdir(), i);
		snprintf(env, sizeof env, "DATABASE_URL=%s", u);
		free(u);
		cli[i] = h_migrated_bg(out, env, "MIGRATED_ADVISORY_LOCK_TIMEOUT=60s",
				       "MIGRATED_BACKUP_BEFORE_DEPLOY=false", "deploy", "--migrations", dir, NULL);
	}
	for (int i = 0; i < 12; i++) {
		int rc = h_wait(cli[i], 120);
		char out[700];
		snprintf(out, sizeof out, "%s/cli-%d.log", h_tmpdir(), i);
		ck_assert_msg(rc == 0, "racing `migrated deploy` %d on %s exited %d:\n%s", i, t[i % 6].db, rc,
			      h_read(out, NULL));
	}
	json_t *ja = h_wait_job(&a, ida, 120), *jb = h_wait_job(&b, idb, 120);
	ck_assert_msg(ENDED(h_jstr(ja, "state")), "A: %s", dumps(ja));
	ck_assert_msg(ENDED(h_jstr(jb, "state")), "B: %s", dumps(jb));
	for (int i = 0; i < 6; i++) {
		char *v = tally(h_port(), t[i].db);
		ck_assert_msg(strcmp(v, "5/5 5:5") == 0, "%s after the race: %s, want 5/5 5:5", t[i].db, v);
		free(v);
	}
	struct holder_seen hs = {0};
	char states[600] = "";
	scan_child_logs(&a, b.pid, ja, &hs, states, sizeof states);
	struct holder_seen hb = {0};
	scan_child_logs(&b, a.pid, jb, &hb, states, sizeof states);
	fprintf(stderr,
		"fleet: race: A %s, B %s; children %s; 'held by' lines A %d (naming a daemon job %d, B %d), B %d "
		"(%d, A %d); e.g. %s\n",
		h_jstr(ja, "state"), h_jstr(jb, "state"), states, hs.lines, hs.naming_daemon, hs.naming_other, hb.lines,
		hb.naming_daemon, hb.naming_other, hs.example[0] ? hs.example : hb.example);
	ck_assert_msg(hs.naming_other + hb.naming_other > 0,
		      "no child job of either daemon waited on the other daemon's job naming it (\"migrated pid N "
		      "job ID\"): A %d 'held by' lines, B %d",
		      hs.lines, hb.lines);
	/* Both daemons' fleets succeeded: waiting for the lock is not a failure. */
	ck_assert_str_eq(h_jstr(ja, "state"), "succeeded");
	ck_assert_str_eq(h_jstr(jb, "state"), "succeeded");
	json_decref(ja);
	json_decref(jb);
	ck_assert_int_eq(h_daemon_stop(&a), 0);
	ck_assert_int_eq(h_daemon_stop(&b), 0);
}

/* ---- 6b. two daemons and the real Prisma CLI racing ---- */

/* The Prisma 6 wrapper from scripts/prisma-cli.sh (as test_prisma.c gets it), or "" when it
 * cannot be installed here (no npm registry): the caller skips then. */
static void prisma6_wrapper(char *wrapper, size_t sz, char *why, size_t whysz)
{
	char script[700], version[16] = "", w[512] = "";
	struct h_result r;
	wrapper[0] = '\0';
	snprintf(script, sizeof script, "%s/scripts/prisma-cli.sh", MD_TEST_SRCDIR);
	char *argv[] = {"/bin/bash", script, "6", NULL};
	h_run_argv(&r, argv, NULL, 900);
	if (r.rc == 0 && sscanf(r.out, "%15s %511s", version, w) == 2 && atoi(version) == 6)
		snprintf(wrapper, sz, "%s", w);
	else
		snprintf(why, whysz, "scripts/prisma-cli.sh 6 exited %d: %.300s%.300s", r.rc, r.out, r.err);
	h_result_free(&r);
}

/* A Prisma 6 project folder <tmp>/prisma-N: prisma/schema.prisma (url from DATABASE_URL) and a
 * copy of the migration folders of dir under prisma/migrations. */
static void prisma_project(char *proj, size_t sz, int n, const char *dir)
{
	char *path, *cmd;
	ck_assert((size_t)snprintf(proj, sz, "%s/prisma-%d", h_tmpdir(), n) < sz);
	ck_assert(asprintf(&path, "%s/prisma", proj) > 0);
	ck_assert_int_eq(mkdir(proj, 0755), 0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	free(path);
	ck_assert(asprintf(&cmd, "cp -r '%s' '%s/prisma/migrations'", dir, proj) > 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	ck_assert(asprintf(&path, "%s/prisma/schema.prisma", proj) > 0);
	const char *schema = "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n";
	h_write(path, schema, strlen(schema));
	free(path);
}

/* `prisma migrate deploy` in proj on db in the background (own process group), output to out. */
static int prisma_deploy_bg(const char *wrapper, const char *db, const char *proj, const char *out)
{
	char *u = url_of(h_port(), db), *env = env_kv("DATABASE_URL", u);
	free(u);
	int pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		putenv(env);
		execl(wrapper, wrapper, proj, "migrate", "deploy", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	free(env);
	return pid;
}

/* Every child job of a fleet ended succeeded, or failed with P1002 (lock timeout) only; counts
 * the P1002 ones and appends the states to states. */
static int children_succeeded_or_p1002(const struct h_daemon *d, json_t *fleet, char *states, size_t statesz)
{
	size_t i;
	json_t *s;
	int p1002 = 0;
	ck_assert_int_eq(json_array_size(json_object_get(fleet, "steps")), 4);
	json_array_foreach(json_object_get(fleet, "steps"), i, s)
	{
		const char *child = json_string_value(json_object_get(s, "job"));
		ck_assert_msg(child, "step without a child job: %s", dumps(s));
		json_t *c = job_get(d, child);
		const char *st = h_jstr(c, "state");
		char *all = dumps(c);
		ck_assert_msg(
			st && (strcmp(st, "succeeded") == 0 || (strcmp(st, "failed") == 0 && strstr(all, "P1002"))),
			"child %s of %s is %s (want succeeded, or failed with P1002): %s", child, d->base,
			st ? st : "?", all);
		p1002 += strcmp(st, "failed") == 0;
		strncat(states, st, statesz - strlen(states) - 2);
		strncat(states, " ", statesz - strlen(states) - 1);
		free(all);
		json_decref(c);
	}
	return p1002;
}

ITEST(two_daemons_and_the_prisma_cli_race_each_migration_once)
{
	char wrapper[512], why[700] = "";
	prisma6_wrapper(wrapper, sizeof wrapper, why, sizeof why);
	if (!wrapper[0])
		H_SKIP("the Prisma 6 CLI cannot be installed here: %s", why);
	double t0 = now_s();
	struct tgt t[4];
	char dbs[4][64], proj[4][800];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 5, "0.1");
	for (int i = 0; i < 4; i++) {
		snprintf(t[i].name, sizeof t[i].name, "p%d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f6p_p%d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
		prisma_project(proj[i], sizeof proj[i], i + 1, dir);
	}
	create_dbs(h_port(), dbs, 4);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 4, NULL);
	struct h_daemon a = {0}, b = {0};
	char dba[64], dbb[64];
	snprintf(dba, sizeof dba, "%s", h_fresh_db());
	snprintf(dbb, sizeof dbb, "%s", h_fresh_db());
	snprintf(a.state_dir, sizeof a.state_dir, "%s/state-a", h_tmpdir());
	snprintf(b.state_dir, sizeof b.state_dir, "%s/state-b", h_tmpdir());
	mkdir(a.state_dir, 0700);
	mkdir(b.state_dir, 0700);
	daemon_start_targets(&a, dba, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	daemon_start_targets(&b, dbb, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	/* The Prisma CLIs first, then both fleet deploys at once. */
	int pp[4];
	char out[4][900];
	for (int i = 0; i < 4; i++) {
		snprintf(out[i], sizeof out[i], "%s/prisma-%d.log", h_tmpdir(), i + 1);
		pp[i] = prisma_deploy_bg(wrapper, t[i].db, proj[i], out[i]);
	}
	/* Node takes seconds to start (more on a loaded machine) and the daemons under a second to
	 * deploy: the fleets go when a Prisma holds the migration lock on its database (else 5 s
	 * after the first Prisma connected), so they meet it on the lock and race the others. */
	double t_connected = -1, t_locked = -1;
	PGconn *c = pg_open(h_port(), "postgres", NULL);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	while (t_locked < 0 && now_s() - t0 < 60 && (t_connected < 0 || now_s() - t0 - t_connected < 5)) {
		PGresult *r = PQexec(
			c, "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = "
			   "a.pid AND l.locktype = 'advisory' AND l.objid = " LOCK_OBJID
			   " AND l.granted)) FROM pg_stat_activity a WHERE a.datname LIKE 'f6p\\_%' AND "
			   "coalesce(a.application_name, '') NOT LIKE 'migrated%'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			if (t_connected < 0 && atoi(PQgetvalue(r, 0, 0)) > 0)
				t_connected = now_s() - t0;
			if (atoi(PQgetvalue(r, 0, 1)) > 0)
				t_locked = now_s() - t0;
		}
		PQclear(r);
		if (t_locked < 0)
			h_sleep_ms(10);
	}
	PQfinish(c);
	const char *body = "{\"parallel\": 4, \"on_error\": \"continue\"}";
	char *ida = post_fleet(&a, body);
	char *idb = post_fleet(&b, body);
	int prisma_p1002 = 0, prisma_applied = 0;
	char secs[120] = "";
	for (int i = 0; i < 4; i++) {
		int rc = h_wait(pp[i], 80);
		snprintf(secs + strlen(secs), sizeof secs - strlen(secs), "%s%.1f", i ? " " : "", now_s() - t0);
		char *o = h_read(out[i], NULL);
		ck_assert_msg(rc == 0 || (o && strstr(o, "P1002")),
			      "racing `prisma migrate deploy` on %s exited %d without P1002:\n%s", t[i].db, rc,
			      o ? o : "(no output)");
		prisma_p1002 += rc != 0;
		for (const char *p = o; p && (p = strstr(p, "└─ 202405010000")) != NULL; p++)
			prisma_applied++;
		free(o);
	}
	json_t *ja = h_wait_job(&a, ida, 80), *jb = h_wait_job(&b, idb, 80);
	double t_fleets = now_s() - t0;
	const char *sa = h_jstr(ja, "state"), *sb = h_jstr(jb, "state");
	ck_assert_msg(sa && (strcmp(sa, "succeeded") == 0 || strcmp(sa, "failed") == 0), "A: %s", dumps(ja));
	ck_assert_msg(sb && (strcmp(sb, "succeeded") == 0 || strcmp(sb, "failed") == 0), "B: %s", dumps(jb));
	char states[300] = "";
	int fa = children_succeeded_or_p1002(&a, ja, states, sizeof states);
	int fb = children_succeeded_or_p1002(&b, jb, states, sizeof states);
	for (int i = 0; i < 4; i++) {
		char *v = tally(h_port(), t[i].db);
		ck_assert_msg(strcmp(v, "5/5 5:5") == 0, "%s after the race: %s, want 5/5 5:5", t[i].db, v);
		free(v);
		/* Each migration finished exactly once, no other row; the counter holds 1..5 once each. */
		v = pg_q1(h_port(), t[i].db,
			  "SELECT (SELECT count(*) FILTER (WHERE finished_at IS NOT NULL) || '/' || count(DISTINCT "
			  "migration_name) FILTER (WHERE finished_at IS NOT NULL) || '/' || count(*) FROM "
			  "_prisma_migrations) || ' ' || (SELECT string_agg(n::text, ',' ORDER BY n) FROM counter)");
		ck_assert_msg(v && strcmp(v, "5/5/5 1,2,3,4,5") == 0, "%s: history/counter %s, want 5/5/5 1,2,3,4,5",
			      t[i].db, v ? v : "NULL");
		free(v);
		v = pg_q1(h_port(), t[i].db,
			  "SELECT count(*) FROM _prisma_migrations WHERE migration_name IN ('20240501000001_m01', "
			  "'20240501000002_m02', '20240501000003_m03', '20240501000004_m04', '20240501000005_m05') AND "
			  "finished_at IS NOT NULL");
		ck_assert_msg(v && strcmp(v, "5") == 0, "%s: %s of the 5 migrations finished", t[i].db, v ? v : "NULL");
		free(v);
		assert_nothing_twice(h_port(), t[i].db);
	}
	fprintf(stderr,
		"fleet: prisma race: A %s, B %s; children %s(P1002: A %d, B %d); Prisma applied %d of 20, %d exited "
		"with P1002; first Prisma connected at %.1f s, locked at %.1f s; Prismas done at %s s, "
		"fleets at %.1f s; %.1f s\n",
		sa, sb, states, fa, fb, prisma_applied, prisma_p1002, t_connected, t_locked, secs, t_fleets,
		now_s() - t0);
	ck_assert_msg(now_s() - t0 < 90, "the race took %.1f s (over 90)", now_s() - t0);
	json_decref(ja);
	json_decref(jb);
	free(ida);
	free(idb);
	ck_assert_int_eq(h_daemon_stop(&a), 0);
	ck_assert_int_eq(h_daemon_stop(&b), 0);
}

/* ---- 7. kill -9 mid-fleet ---- */

ITEST(kill_9_mid_fleet_leaves_it_interrupted_and_the_next_fleet_deploy_finishes_the_rest)
{
	struct tgt t[8];
	char dbs[8][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 5, "0.3");
	for (int i = 0; i < 8; i++) {
		snprintf(t[i].name, sizeof t[i].name, "k%d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f7_k%d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 8);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 8, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	char *id = post_fleet(&d, "{\"parallel\": 2}");
	json_t *job = NULL;
	double t0 = now_s();
	for (;;) {
		json_decref(job);
		job = job_get(&d, id);
		if (count_state(job, "succeeded") >= 2 && count_state(job, "running") == 2)
			break;
		ck_assert_msg(now_s() - t0 < 60, "never 2 done and 2 running: %s", dumps(job));
		h_sleep_ms(30);
	}
	h_sleep_ms(400); /* into a migration of the running two */
	h_daemon_kill(&d);
	char running_child[2][64] = {"", ""};
	int nr = 0;
	for (int i = 0; i < 8; i++) {
		const char *st = step_state(job, t[i].name);
		if (st && strcmp(st, "running") == 0 && nr < 2)
			snprintf(running_child[nr++], 64, "%s",
				 json_string_value(json_object_get(step_of(job, t[i].name), "job")) ?: "");
	}
	json_decref(job);
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	job = job_get(&d, id);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "interrupted") == 0, "after the restart the fleet job is %s: %s",
		      h_jstr(job, "state"), dumps(job));
	int interrupted = 0;
	for (int k = 0; k < nr; k++) {
		ck_assert_msg(running_child[k][0], "a running step without a child job");
		json_t *c = job_get(&d, running_child[k]);
		const char *st = h_jstr(c, "state");
		ck_assert_msg(strcmp(st, "interrupted") == 0 || strcmp(st, "succeeded") == 0,
			      "child %s, running at the kill, is %s after the restart", running_child[k], st);
		interrupted += strcmp(st, "interrupted") == 0;
		json_decref(c);
	}
	ck_assert_msg(interrupted >= 1, "no running child was recorded interrupted");
	/* Nothing resumes by itself. */
	h_sleep_ms(1500);
	int untouched = 0;
	for (int i = 0; i < 8; i++) {
		assert_nothing_twice(h_port(), t[i].db);
		if (!json_string_value(json_object_get(step_of(job, t[i].name), "job"))) {
			ck_assert_msg(!has_history(h_port(), t[i].db),
				      "%s, never started, was deployed after the restart", t[i].db);
			untouched++;
		}
	}
	ck_assert_msg(untouched >= 1, "every target had started before the kill");
	json_decref(job);
	h_wait_advisory_lock_free("postgres");
	char *id2 = post_fleet(&d, "{\"parallel\": 4}");
	json_t *job2 = h_wait_job(&d, id2, 120);
	ck_assert_msg(strcmp(h_jstr(job2, "state"), "succeeded") == 0, "the next fleet deploy: %s", dumps(job2));
	int reconciled = 0;
	for (int i = 0; i < 8; i++) {
		char *v = tally(h_port(), t[i].db);
		char *rows =
			pg_q1(h_port(), t[i].db,
			      "SELECT string_agg(right(migration_name, 3) || CASE WHEN rolled_back_at IS NOT NULL THEN "
			      "'-' WHEN finished_at IS NOT NULL THEN '+' ELSE '!' END, ',' ORDER BY started_at) FROM "
			      "_prisma_migrations");
		ck_assert_msg(strcmp(v, "5/5 5:5") == 0, "%s: %s, want 5/5 5:5; history %s", t[i].db, v, rows);
		reconciled += strchr(rows, '-') != NULL;
		free(rows);
		free(v);
	}
	fprintf(stderr,
		"fleet: kill -9: %d of %d running children interrupted, %d targets never started, %d histories with "
		"an attempt marked rolled back\n",
		interrupted, nr, untouched, reconciled);
	json_decref(job2);
	free(id);
	free(id2);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

/* ---- 8. cancel ---- */

ITEST(cancel_of_a_fleet_job_cancels_running_children_and_starts_no_other)
{
	struct tgt t[8];
	char dbs[8][64];
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 4, "0.5");
	for (int i = 0; i < 8; i++) {
		snprintf(t[i].name, sizeof t[i].name, "x%d", i + 1);
		snprintf(t[i].db, sizeof t[i].db, "f8_x%d", i + 1);
		snprintf(dbs[i], 64, "%s", t[i].db);
		t[i].port = h_port();
	}
	create_dbs(h_port(), dbs, 8);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 8, NULL);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", NULL, NULL);
	char *id = post_fleet(&d, "{\"parallel\": 2}");
	json_t *job = NULL;
	double t0 = now_s();
	for (;;) {
		json_decref(job);
		job = job_get(&d, id);
		if (count_state(job, "running") == 2)
			break;
		ck_assert_msg(now_s() - t0 < 30, "never 2 running: %s", dumps(job));
		h_sleep_ms(30);
	}
	h_sleep_ms(300);
	char path[200];
	snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
	struct h_http r;
	h_request(&r, &d, "POST", path, H_TOKEN_DEPLOY, NULL, NULL, NULL);
	ck_assert_msg(r.status == 200 || r.status == 202, "cancel -> %ld %s", r.status, r.body);
	h_http_free(&r);
	json_decref(job);
	job = job_get(&d, id); /* right after the cancel: what had started */
	bool started[8];
	for (int i = 0; i < 8; i++)
		started[i] = json_string_value(json_object_get(step_of(job, t[i].name), "job")) != NULL;
	json_decref(job);
	job = h_wait_job(&d, id, 60);
	char *all = dumps(job);
	ck_assert_msg(strcmp(h_jstr(job, "state"), "cancelled") == 0, "fleet job after cancel: %s", all);
	int n_cancelled = 0, n_not_started = 0;
	char later[800] = "";
	for (int i = 0; i < 8; i++) {
		json_t *s = step_of(job, t[i].name);
		const char *child = json_string_value(json_object_get(s, "job"));
		const char *st = step_state(job, t[i].name);
		if (!started[i]) {
			ck_assert_msg(!child, "%s got a child job %s after the cancel: %s", t[i].name, child, all);
			ck_assert_msg(strcmp(st, "not_started") == 0, "%s never started is \"%s\": %s", t[i].name, st,
				      all);
			ck_assert_msg(!has_history(h_port(), t[i].db), "%s was touched after the cancel", t[i].db);
			n_not_started++;
			continue;
		}
		json_t *c = job_get(&d, child);
		const char *cs = h_jstr(c, "state");
		if (strcmp(cs, "succeeded") != 0) {
			if (strcmp(cs, "cancelled") != 0 && !later[0])
				snprintf(later, sizeof later,
					 "child %s of %s, running at the cancel, ended \"%.20s\", want \"cancelled\" "
					 "(error: %.300s)",
					 child, t[i].name, cs, dumps(json_object_get(c, "error")));
			n_cancelled++;
		}
		assert_nothing_twice(h_port(), t[i].db);
		json_decref(c);
	}
	ck_assert_msg(n_cancelled >= 1, "no child running at the cancel was stopped by it: %s", all);
	ck_assert_int_eq(result_int(job, "not_started"), n_not_started);
	ck_assert_msg(n_not_started >= 4, "only %d never started", n_not_started);
	fprintf(stderr, "fleet: cancel: %d children stopped by it, %d targets not started\n", n_cancelled,
		n_not_started);
	free(all);
	json_decref(job);
	free(id);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	ck_assert_msg(!later[0], "%s", later);
}

/* ---- 9. per-target health, readiness, metrics ---- */

static long status_of(const struct h_daemon *d, const char *path, char **ret_body)
{
	struct h_http r;
	h_request(&r, d, "GET", path, H_TOKEN_READ, NULL, NULL, NULL);
	long st = r.status;
	if (ret_body)
		*ret_body = strdup(r.body);
	h_http_free(&r);
	return st;
}

/* Wait (10 s at most) until every target of d was probed at least once. */
static void wait_all_probed(const struct h_daemon *d)
{
	double t0 = now_s();
	for (;;) {
		json_t *l = get_json(d, "/v1/targets", 200);
		size_t i;
		json_t *t;
		bool all = true;
		json_array_foreach(json_object_get(l, "targets"), i, t)
		{
			all = all && json_is_number(json_object_get(t, "checked_at"));
		}
		char *ls = dumps(l);
		json_decref(l);
		if (all) {
			free(ls);
			return;
		}
		ck_assert_msg(now_s() - t0 < 10, "not every target probed within 10 s: %s", ls);
		free(ls);
		h_sleep_ms(100);
	}
}

/* A target with pending migrations is healthy but, under ready_requires_up_to_date (the
 * default, as for the daemon's own database), not ready; with it false it is ready. */
static void a_behind_target_is_ready_only_when_allowed(const char *dir, const char *default_db)
{
	char tfile[700];
	snprintf(tfile, sizeof tfile, "%s/targets-behind", h_tmpdir());
	FILE *f = fopen(tfile, "w");
	fprintf(f, "good postgresql://postgres@127.0.0.1:%d/f9_good\n", h_port());
	fprintf(f, "behind postgresql://postgres@127.0.0.1:%d/f9_behind\n", h_port());
	fclose(f);
	chmod(tfile, 0600);
	for (int relaxed = 0; relaxed < 2; relaxed++) {
		struct h_daemon d = {0};
		char *body = NULL;
		daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_PROBE_INTERVAL=300ms",
				     relaxed ? "MIGRATED_READY_REQUIRES_UP_TO_DATE=false" : NULL, NULL);
		wait_all_probed(&d);
		long st = status_of(&d, "/v1/health?target=behind", &body);
		json_t *j = json_loads(body, 0, NULL);
		ck_assert_msg(st == 200 && h_jstr(j, "status") && strcmp(h_jstr(j, "status"), "ok") == 0,
			      "/v1/health?target=behind -> %ld %s", st, body);
		json_decref(j);
		free(body);
		st = status_of(&d, "/v1/health", &body);
		j = json_loads(body, 0, NULL);
		ck_assert_msg(st == 200 && h_jstr(j, "status") && strcmp(h_jstr(j, "status"), "ok") == 0,
			      "pending migrations on a target degraded /v1/health: %ld %s", st, body);
		json_decref(j);
		free(body);
		st = status_of(&d, "/readyz?target=behind", &body);
		ck_assert_msg(st == (relaxed ? 200 : 503), "relaxed %d: /readyz?target=behind -> %ld %s", relaxed, st,
			      body);
		if (!relaxed)
			h_assert_contains(body, "migrations are pending");
		free(body);
		/* The daemon's own answer comes from its probe's next round after the targets'. */
		h_sleep_ms(700);
		double t0 = now_s();
		while ((st = status_of(&d, "/readyz", &body)) != (relaxed ? 200 : 503) && now_s() - t0 < 5) {
			free(body);
			h_sleep_ms(100);
		}
		ck_assert_msg(st == (relaxed ? 200 : 503), "relaxed %d: /readyz -> %ld %s", relaxed, st, body);
		if (!relaxed)
			h_assert_contains(body, "not ready");
		free(body);
		st = status_of(&d, "/readyz?target=good", &body);
		ck_assert_msg(st == 200, "/readyz?target=good -> %ld %s", st, body);
		free(body);
		ck_assert_int_eq(h_daemon_stop(&d), 0);
	}
}

ITEST(health_and_readyz_by_target_and_per_target_metrics_follow_each_target)
{
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 5, "0");
	char dbs[3][64] = {"f9_good", "f9_failed", "f9_behind"};
	create_dbs(h_port(), dbs, 3);
	cli_deploy(h_port(), "f9_good", dir);
	poison(h_port(), "f9_failed", "0");
	{
		struct h_result res;
		char env[300];
		char *u = url_of(h_port(), "f9_failed");
		snprintf(env, sizeof env, "DATABASE_URL=%s", u);
		free(u);
		h_migrated(&res, env, "MIGRATED_BACKUP_BEFORE_DEPLOY=false", "deploy", "--migrations", dir, NULL);
		ck_assert_msg(res.rc != 0, "the poisoned deploy succeeded");
		h_result_free(&res);
	}
	int dead_port = h_free_port();
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	FILE *f = fopen(tfile, "w");
	fprintf(f, "good postgresql://postgres@127.0.0.1:%d/f9_good\n", h_port());
	fprintf(f, "nodb postgresql://postgres@127.0.0.1:%d/f9_no_such_database\n", h_port());
	fprintf(f, "stopped postgresql://postgres@127.0.0.1:%d/f9_good\n", dead_port);
	fprintf(f, "failedmig postgresql://postgres@127.0.0.1:%d/f9_failed\n", h_port());
	fclose(f);
	chmod(tfile, 0600);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	cli_deploy(h_port(), default_db, dir);
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_PROBE_INTERVAL=300ms", "MIGRATED_CONNECT_TIMEOUT=2",
			     NULL);
	wait_all_probed(&d);
	char *body = NULL;
	long st = status_of(&d, "/v1/health?target=good", &body);
	json_t *j = json_loads(body, 0, NULL);
	ck_assert_msg(st == 200 && h_jstr(j, "status") && strcmp(h_jstr(j, "status"), "ok") == 0,
		      "/v1/health?target=good -> %ld %s", st, body);
	json_decref(j);
	free(body);
	st = status_of(&d, "/v1/health?target=nodb", &body);
	ck_assert_msg(st == 503, "/v1/health?target=nodb -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/v1/health?target=stopped", &body);
	ck_assert_msg(st == 503, "/v1/health?target=stopped -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/readyz?target=failedmig", &body);
	ck_assert_msg(st == 503, "/readyz?target=failedmig -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/readyz?target=good", &body);
	ck_assert_msg(st == 200, "/readyz?target=good -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/v1/health?target=nope", &body);
	ck_assert_msg(st == 404, "/v1/health?target=nope -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/readyz?target=nope", &body);
	ck_assert_msg(st == 404, "/readyz?target=nope -> %ld %s", st, body);
	free(body);
	/* The daemon's own: a fleet check, and not ready while a target is down or failed. */
	st = status_of(&d, "/v1/health", &body);
	h_assert_contains(body, "fleet");
	free(body);
	st = status_of(&d, "/readyz", &body);
	ck_assert_msg(st == 503, "/readyz with targets down -> %ld %s", st, body);
	free(body);
	st = status_of(&d, "/metrics", &body);
	ck_assert_msg(st == 200, "/metrics -> %ld", st);
	h_assert_contains(body, "migrated_target_up{target=\"good\"} 1");
	h_assert_contains(body, "migrated_target_up{target=\"nodb\"} 0");
	h_assert_contains(body, "migrated_target_up{target=\"stopped\"} 0");
	h_assert_contains(body, "migrated_target_up{target=\"failedmig\"} 1");
	h_assert_contains(body, "migrated_target_migrations{target=\"failedmig\",state=\"failed\"} 1");
	h_assert_contains(body, "migrated_target_migrations{target=\"good\",state=\"applied\"} 5");
	h_assert_contains(body, "migrated_target_lock_held{target=\"good\"} 0");
	h_assert_contains(body, "migrated_target_probe_age_seconds{target=\"good\"}");
	free(body);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	a_behind_target_is_ready_only_when_allowed(dir, default_db);
}

/* ---- 10. bad input ---- */

#define PW10 "Fl33t-bad-input-pw-5521"

/* `migrated serve` with a targets file that must be refused: exits non-zero within 20 s with
 * want in its output and never the password; returns the output. */
static char *refused_start(const char *tfile, const char *dir, const char *db, const char *want)
{
	char listen[64], state[700], tokens[700], env1[800], *env2 = h_env_url(db);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", h_free_port());
	snprintf(state, sizeof state, "%s/state-refused", h_tmpdir());
	mkdir(state, 0700);
	snprintf(tokens, sizeof tokens, "%s/tokens-refused", h_tmpdir());
	const char *tok = "ops admin " H_TOKEN_ADMIN "\n";
	h_write(tokens, tok, strlen(tok));
	chmod(tokens, 0600);
	snprintf(env1, sizeof env1, "MIGRATED_TARGETS_FILE=%s", tfile);
	char *argv[] = {(char *)h_migrated_bin(), "serve",     "--listen",    listen,
			"--migrations",           (char *)dir, "--state-dir", state,
			"--token-file",           tokens,      NULL};
	char *envp[] = {env1, env2, NULL};
	struct h_result r;
	h_run_argv(&r, argv, envp, 20);
	char *out = NULL;
	ck_assert(asprintf(&out, "%s%s", r.out, r.err) > 0);
	ck_assert_msg(r.rc != 0 && r.rc != 124,
		      "serve with a bad targets file (want \"%s\") exited %d (124: still serving after 20 s):\n%s",
		      want, r.rc, out);
	ck_assert_msg(r.rc < 80, "serve exited %d (a sanitizer?):\n%s", r.rc, out);
	h_assert_contains(out, want);
	h_assert_not_contains(out, PW10);
	h_result_free(&r);
	free(env2);
	return out;
}

ITEST(bad_fleet_deploy_requests_are_refused_with_400_404_or_422_and_start_nothing)
{
	struct tgt t[2];
	char dbs[2][64] = {"f10_a", "f10_b"};
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 1, "0");
	create_dbs(h_port(), dbs, 2);
	for (int i = 0; i < 2; i++) {
		snprintf(t[i].name, sizeof t[i].name, "%s", i ? "b" : "a");
		snprintf(t[i].db, sizeof t[i].db, "%s", dbs[i]);
		t[i].port = h_port();
	}
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	write_targets(tfile, t, 2, "tier=prod");
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, NULL, NULL, NULL);
	static const struct {
		const char *body;
		long want;
	} cases[] = {
		{"{\"targets\": [\"nope\"]}", 404},
		{"{\"targets\": [\"a\"], \"selector\": \"tier=prod\"}", 400},
		{"{\"parallel\": 0}", 400},
		{"{\"parallel\": 65}", 400},
		{"{\"on_error\": \"maybe\"}", 400},
		{"{\"targets\": [\"a\"", 400},
		{"not json at all", 400},
		{"[1, 2]", 400},
		{"{\"paralel\": 2}", 400},
		{"{\"parallel\": \"4\"}", 400},
		{"{\"canary\": -1}", 400},
		{"{\"targets\": [\"a\", \"a\"]}", 400},
		{"{\"selector\": \"tier=nothing\"}", 422},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct h_http r;
		h_request(&r, &d, "POST", "/v1/fleet/deploy", H_TOKEN_DEPLOY, "application/json", cases[i].body, NULL);
		ck_assert_msg(r.status == cases[i].want, "POST /v1/fleet/deploy %s -> %ld, want %ld: %s", cases[i].body,
			      r.status, cases[i].want, r.body);
		ck_assert_msg(h_jstr(r.json, "error.message") || h_jstr(r.json, "message"),
			      "refusal without the error shape: %s", r.body);
		h_http_free(&r);
	}
	/* Nothing ran: no job, no database touched. */
	json_t *jobs = get_json(&d, "/v1/jobs", 200);
	char *js = dumps(jobs);
	h_assert_not_contains(js, "fleet-deploy");
	free(js);
	json_decref(jobs);
	ck_assert(!has_history(h_port(), "f10_a"));
	ck_assert_int_eq(h_daemon_stop(&d), 0);
}

ITEST(a_bad_targets_file_stops_the_daemon_at_start_with_a_clear_message_and_no_password)
{
	const char *dir = h_migrations_dir();
	char default_db[64];
	mk_migrations(dir, 1, "0");
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	char bad[800];
	snprintf(bad, sizeof bad, "%s/targets-bad", h_tmpdir());
	char line[400];
	snprintf(line, sizeof line, "a postgresql://md_fleet:" PW10 "@127.0.0.1:%d/f10_a\n", h_port());
	h_write(bad, line, strlen(line));
	chmod(bad, 0644);
	char *o1 = refused_start(bad, dir, default_db, "600");
	char two[900];
	snprintf(two, sizeof two, "%sb postgresql://postgres@127.0.0.1:%d/f10_b\n%s", line, h_port(), line);
	h_write(bad, two, strlen(two));
	chmod(bad, 0600);
	char *o2 = refused_start(bad, dir, default_db, "target a is defined twice");
	snprintf(line, sizeof line, "a mysql://md_fleet:" PW10 "@127.0.0.1:%d/f10_a\n", h_port());
	h_write(bad, line, strlen(line));
	chmod(bad, 0600);
	char *o3 = refused_start(bad, dir, default_db, "targets-bad:1");
	snprintf(line, sizeof line, "a postgresql://md_fleet:" PW10 "@127.0.0.1:notaport/f10_a\n");
	h_write(bad, line, strlen(line));
	fprintf(stderr, "fleet: refusals:\n  0644: %.300s\n  duplicate: %.300s\n  mysql: %.300s\n", o1, o2, o3);
	free(o1);
	free(o2);
	free(o3);
	/* A URL libpq cannot use (its port is not a number) must be refused at start too; when the
	 * daemon serves anyway, what it says about the target must still not hold the password. */
	struct h_daemon d = {0};
	snprintf(d.state_dir, sizeof d.state_dir, "%s/state-port", h_tmpdir());
	mkdir(d.state_dir, 0700);
	char *tf = env_kv("MIGRATED_TARGETS_FILE", bad);
	char out[800];
	snprintf(out, sizeof out, "%s/serve-port.log", h_tmpdir());
	d.port = h_free_port();
	snprintf(d.base, sizeof d.base, "http://127.0.0.1:%d", d.port);
	char listen[64], tokens[800];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", d.port);
	snprintf(tokens, sizeof tokens, "%s/tokens-refused", h_tmpdir());
	int pid = h_migrated_bg(out, tf, h_env_url(default_db), "MIGRATED_PROBE_INTERVAL=300ms", "serve", "--listen",
				listen, "--migrations", dir, "--state-dir", d.state_dir, "--token-file", tokens, NULL);
	h_sleep_ms(3000);
	int st;
	bool running = waitpid(pid, &st, WNOHANG) == 0;
	char said[4000] = "";
	if (running) {
		struct h_http r;
		h_request(&r, &d, "GET", "/v1/targets", H_TOKEN_ADMIN, NULL, NULL, NULL);
		snprintf(said, sizeof said, "GET /v1/targets -> %ld %.1500s", r.status, r.body);
		h_http_free(&r);
		h_request(&r, &d, "GET", "/v1/health?target=a", H_TOKEN_ADMIN, NULL, NULL, NULL);
		size_t n = strlen(said);
		snprintf(said + n, sizeof said - n, "\nGET /v1/health?target=a -> %ld %.1500s", r.status, r.body);
		h_http_free(&r);
		kill(pid, SIGTERM);
	}
	int rc = h_wait(pid, 30);
	char *log = h_read(out, NULL);
	const char *said_text = said;
	h_assert_not_contains(said_text, PW10);
	h_assert_not_contains(log, PW10);
	ck_assert_msg(!running,
		      "the daemon started and served with target a's URL port \"notaport\" (it should "
		      "refuse it at start, naming targets-bad:1); it said:\n%s\nits log:\n%.1500s",
		      said, log ? log : "");
	ck_assert_msg(rc != 0 && h_contains(log, "target a"), "serve with a bad port exited %d:\n%s", rc, log);
	fprintf(stderr, "  port: %.300s\n", log);
	free(log);
	free(tf);
}

/* ---- 11. secrets ---- */

#define PW11   "Fl33t-s3cret-pw-4417"
#define ROLE11 "md_fleet_secret"

static struct {
	char *text;
	size_t len;
} seen;

static void remember(const char *what, const char *body)
{
	size_t add = strlen(what) + strlen(body ? body : "") + 2;
	seen.text = realloc(seen.text, seen.len + add + 1);
	seen.len += (size_t)sprintf(seen.text + seen.len, "%s\n%s\n", what, body ? body : "");
}

static json_t *get_remember(const struct h_daemon *d, const char *path)
{
	struct h_http r;
	h_request(&r, d, "GET", path, H_TOKEN_ADMIN, NULL, NULL, NULL);
	remember(path, r.body);
	remember("headers", r.headers);
	json_t *j = json_incref(r.json);
	h_http_free(&r);
	return j;
}

static int tree_hits;
static char tree_hit[600];

static int scan_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	size_t len = 0;
	char *s = h_read(path, &len);
	if (s && memmem(s, len, PW11, strlen(PW11))) {
		tree_hits++;
		snprintf(tree_hit, sizeof tree_hit, "%s", path);
	}
	free(s);
	return 0;
}

/* The command lines of the daemon's descendants: none may hold the password; true when a
 * pg_dump was among them. */
static bool scan_cmdlines(pid_t root, char *dump_cmdline, size_t sz)
{
	static struct {
		pid_t pid, ppid;
	} procs[8192];
	pid_t tree[256];
	size_t np = 0, nt = 0;
	bool dump = false;
	DIR *dp = opendir("/proc");
	struct dirent *e;
	while (dp && (e = readdir(dp)) && np < 8192) {
		char path[300], buf[1024];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')');
		int ppid;
		if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
			continue;
		procs[np].pid = atoi(e->d_name);
		procs[np++].ppid = ppid;
	}
	if (dp)
		closedir(dp);
	tree[nt++] = root;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < np && nt < 256; i++) {
			bool pin = false, in = false;
			for (size_t j = 0; j < nt; j++) {
				pin = pin || tree[j] == procs[i].ppid;
				in = in || tree[j] == procs[i].pid;
			}
			if (pin && !in) {
				tree[nt++] = procs[i].pid;
				grew = true;
			}
		}
	}
	for (size_t i = 0; i < nt; i++) {
		char path[64];
		size_t len = 0;
		snprintf(path, sizeof path, "/proc/%d/cmdline", (int)tree[i]);
		char *cl = h_read(path, &len);
		if (!cl)
			continue;
		for (size_t k = 0; k + 1 < len; k++)
			if (cl[k] == '\0')
				cl[k] = ' ';
		ck_assert_msg(!strstr(cl, PW11), "the password is on the command line of pid %d: %s", (int)tree[i], cl);
		if (tree[i] != root && strstr(cl, "pg_dump")) {
			dump = true;
			snprintf(dump_cmdline, sz, "%s", cl);
		}
		free(cl);
	}
	return dump;
}

ITEST(a_target_password_is_in_no_log_answer_state_file_or_child_command_line)
{
	const char *dir = h_migrations_dir();
	char tfile[700];
	mk_migrations(dir, 3, "0");
	h_admin_exec("DROP ROLE IF EXISTS " ROLE11);
	h_admin_exec("CREATE ROLE " ROLE11 " LOGIN PASSWORD '" PW11 "'");
	char dbs[1][64] = {"f11_sec"};
	create_dbs(h_port(), dbs, 1);
	h_admin_exec("ALTER DATABASE f11_sec OWNER TO " ROLE11);
	pg_exec(h_port(), "f11_sec",
		"CREATE SCHEMA aux AUTHORIZATION " ROLE11 "; CREATE TABLE aux.blocker (id int);"
		"ALTER TABLE aux.blocker OWNER TO " ROLE11);
	snprintf(tfile, sizeof tfile, "%s/targets", h_tmpdir());
	FILE *f = fopen(tfile, "w");
	fprintf(f, "sec postgresql://" ROLE11 ":" PW11 "@127.0.0.1:%d/f11_sec tier=secret\n", h_port());
	fprintf(f, "secbad postgresql://" ROLE11 ":" PW11 "@127.0.0.1:%d/f11_missing tier=secret\n", h_port());
	fclose(f);
	chmod(tfile, 0600);
	struct h_daemon d = {0};
	char default_db[64];
	snprintf(default_db, sizeof default_db, "%s", h_fresh_db());
	daemon_start_targets(&d, default_db, dir, tfile, "MIGRATED_PROBE_INTERVAL=300ms", "MIGRATED_LOG_LEVEL=debug",
			     NULL);
	/* pg_dump is held on a table lock (in a schema of its own: public must stay empty for a first
	 * deploy) so that its command line can be read. */
	PGconn *holder = pg_open(h_port(), "f11_sec", "migrated-tests");
	ck_assert(PQstatus(holder) == CONNECTION_OK);
	PQclear(PQexec(holder, "BEGIN; LOCK TABLE aux.blocker IN ACCESS EXCLUSIVE MODE"));
	struct h_http r;
	h_request(&r, &d, "POST", "/v1/fleet/deploy", H_TOKEN_ADMIN, "application/json",
		  "{\"selector\": \"tier=secret\", \"on_error\": \"continue\", \"parallel\": 2}", NULL);
	remember("POST /v1/fleet/deploy", r.body);
	ck_assert_msg(r.status == 202, "POST -> %ld %s", r.status, r.body);
	char *id = strdup(h_jstr(r.json, "id"));
	h_http_free(&r);
	char dump_cmd[2048] = "";
	bool dump_seen = false;
	double t0 = now_s();
	while (now_s() - t0 < 15) {
		if (scan_cmdlines(d.pid, dump_cmd, sizeof dump_cmd)) {
			dump_seen = true;
			break;
		}
		h_sleep_ms(20);
	}
	PQclear(PQexec(holder, "COMMIT"));
	PQfinish(holder);
	for (int i = 0; i < 10; i++) {
		scan_cmdlines(d.pid, dump_cmd, sizeof dump_cmd);
		h_sleep_ms(20);
	}
	json_t *job = h_wait_job(&d, id, 60);
	char *all = dumps(job);
	remember("fleet job", all);
	ck_assert_msg(strcmp(step_state(job, "sec"), "succeeded") == 0, "sec: %s", all);
	ck_assert_msg(strcmp(step_state(job, "secbad"), "failed") == 0, "secbad: %s", all);
	const char *paths[] = {"/v1/targets",
			       "/v1/targets/sec/status",
			       "/v1/targets/sec/plan",
			       "/v1/targets/sec/drift",
			       "/v1/targets/sec/backups",
			       "/v1/targets/secbad/status",
			       "/v1/targets/secbad/plan",
			       "/v1/targets/secbad/drift",
			       "/v1/targets/secbad/backups",
			       "/v1/health",
			       "/v1/health?target=sec",
			       "/v1/health?target=secbad",
			       "/readyz",
			       "/readyz?target=secbad",
			       "/metrics",
			       "/v1/jobs",
			       "/v1/status"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		json_decref(get_remember(&d, paths[i]));
	char p[200];
	snprintf(p, sizeof p, "/v1/jobs/%s", id);
	json_decref(get_remember(&d, p));
	for (int k = 0; k < 2; k++) {
		const char *child = json_string_value(json_object_get(step_of(job, k ? "secbad" : "sec"), "job"));
		if (child) {
			snprintf(p, sizeof p, "/v1/jobs/%s", child);
			json_decref(get_remember(&d, p));
			snprintf(p, sizeof p, "/v1/jobs/%s/events", child);
			json_decref(get_remember(&d, p));
		}
	}
	/* An error answer naming the target's database. */
	h_request(&r, &d, "POST", "/v1/targets/secbad/deploy", H_TOKEN_ADMIN, "application/json", "{}", NULL);
	remember("POST /v1/targets/secbad/deploy", r.body);
	if (r.status == 202) {
		char *cid = strdup(h_jstr(r.json, "id"));
		json_t *cj = h_wait_job(&d, cid, 30);
		char *cjs = dumps(cj);
		remember("secbad job", cjs);
		free(cjs);
		json_decref(cj);
		free(cid);
	}
	h_http_free(&r);
	h_assert_not_contains(seen.text, PW11);
	ck_assert_int_eq(h_daemon_stop(&d), 0);
	char *log = h_daemon_log(&d);
	h_assert_not_contains(log, PW11);
	ck_assert_msg(strlen(log) > 100, "the daemon log is nearly empty: %s", log);
	free(log);
	tree_hits = 0;
	nftw(d.state_dir, scan_file, 16, FTW_PHYS);
	ck_assert_msg(tree_hits == 0, "the password is in %d file(s) of the state directory, e.g. %s", tree_hits,
		      tree_hit);
	fprintf(stderr, "fleet: secrets: %zu bytes of answers clean; pg_dump %s%s\n", seen.len,
		dump_seen ? "caught: " : "not caught", dump_seen ? dump_cmd : "");
	ck_assert_msg(dump_seen, "the pg_dump child was never seen while it was held on the table lock");
	free(all);
	json_decref(job);
	free(id);
}

/* MD_FLEET_ONLY=word[,word...]: only the tests whose name holds one of the words (part of this
 * long suite by hand). */
static bool chosen(const char *name)
{
	const char *only = getenv("MD_FLEET_ONLY");
	if (!only || !*only)
		return true;
	for (const char *w = only; *w;) {
		size_t n = strcspn(w, ",");
		char word[128];
		snprintf(word, sizeof word, "%.*s", (int)n, w);
		if (n && strstr(name, word))
			return true;
		w += n + (w[n] == ',');
	}
	return false;
}

#define ADD(tc, fn)                             \
	do {                                    \
		if (chosen(#fn))                \
			tcase_add_test(tc, fn); \
	} while (0)

Suite *suite_fleet(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("fleet");
	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, fleet_setup, fleet_teardown);
	ADD(tc, fleet_of_50_on_two_clusters_poisoned_fails_alone_and_a_stopped_cluster_fails_only_its_unfinished);
	ADD(tc, a_failing_canary_under_stop_fails_the_fleet_and_touches_no_other_target);
	ADD(tc, a_fleet_deploy_of_12_with_parallel_3_never_runs_more_than_3_targets_at_once);
	ADD(tc, fleet_max_connections_10_holds_over_200_targets_with_parallel_64);
	ADD(tc, sighup_adds_and_removes_targets_and_an_added_one_is_probed);
	ADD(tc, two_daemons_and_cli_deploys_racing_apply_each_migration_once_and_name_the_holder);
	ADD(tc, two_daemons_and_the_prisma_cli_race_each_migration_once);
	ADD(tc, kill_9_mid_fleet_leaves_it_interrupted_and_the_next_fleet_deploy_finishes_the_rest);
	ADD(tc, cancel_of_a_fleet_job_cancels_running_children_and_starts_no_other);
	ADD(tc, health_and_readyz_by_target_and_per_target_metrics_follow_each_target);
	ADD(tc, bad_fleet_deploy_requests_are_refused_with_400_404_or_422_and_start_nothing);
	ADD(tc, a_bad_targets_file_stops_the_daemon_at_start_with_a_clear_message_and_no_password);
	ADD(tc, a_target_password_is_in_no_log_answer_state_file_or_child_command_line);
	suite_add_tcase(s, tc);
	return s;
}
