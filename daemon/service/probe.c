/* probe.c - the health probe (see probe.h). One thread; each round takes one pooled connection
 * for two short queries, refreshes the status snapshot, and publishes a new md_health. A round
 * that cannot get a connection says why (the database is down, or the pool is exhausted) and
 * keeps the last facts it knew, marked stale. */
#include "migrated/clock.h"
#include "migrated/probe.h"
#include "migrated/report.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/log.h"
#include "migrated/plan.h"
#include "migrated/pool.h"
#include "migrated/snapshot.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct md_probe {
	pthread_mutex_t lock; /* current, kicked, stopping */
	pthread_cond_t wake;
	pthread_cond_t done;   /* a round published */
	pthread_mutex_t round; /* one round at a time (thread or md_probe_now) */
	struct md_health *current;
	bool kicked, stopping, started;
	pthread_t thread;
	struct md_pool *pool;
	struct md_snapshot *snapshot;
	struct md_jobs *jobs;
	/* Settings: changed by md_probe_reconfigure under lock, read by the thread under lock. */
	int interval_ms;
	bool ready_requires_up_to_date;
	int lock_held_warning_ms;
	int64_t beat_us; /* the thread's last sign of life (atomic) */
	void (*on_update)(void *ctx, struct md_health *h);
	void *on_update_ctx;
	const char *extra_name, *extra_reason; /* md_probe_add_check, set before the first round */
	md_probe_check_fn extra_fn;
	void *extra_ctx;
	/* What the last successful query said (kept while the database is away). */
	bool known;
	char server_version[64];
	int last_failure; /* conn_failure of the last round, for logging transitions */
	bool was_up;
	uint64_t last_pool_timeouts;
};

const char *md_health_status_name(enum md_health_status s)
{
	switch (s) {
	case MD_HEALTH_OK: return "ok";
	case MD_HEALTH_DEGRADED: return "degraded";
	default: return "down";
	}
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void md_health_ref(struct md_health *h)
{
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
}

void md_health_unref(struct md_health *h)
{
	if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		for (size_t i = 0; i < h->n_checks; i++) {
			free(h->checks[i].message);
			json_decref(h->checks[i].detail);
		}
		free(h);
	}
}

/* ---- one round ---- */

static json_t *error_json(const struct md_error *e)
{
	return md_report_error_fields(e); /* the one rendering; "connection" classifies a connect failure */
}

static void worst(enum md_health_status *acc, enum md_health_status st)
{
	if (st > *acc)
		*acc = st;
}

/* The database's facts, in one round trip after a SELECT 1 for the latency. */
static int query_facts(struct md_db *db, struct md_health *h, json_t **ret_lock, struct md_error *err)
{
	static const char facts_sql[] =
		"SELECT pg_is_in_recovery(), current_setting('max_connections')::int, "
		"current_setting('superuser_reserved_connections')::int, "
		"(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int, "
		"h.pid, h.application_name, h.age_s, h.state "
		"FROM (SELECT 1) one LEFT JOIN LATERAL ("
		" SELECT a.pid, a.application_name, extract(epoch FROM now() - a.backend_start)::float8 AS age_s, "
		"a.state"
		" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
		" WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid "
		"= 1"
		" LIMIT 1) h ON true";
	_cleanup_pgresult_ PGresult *one = NULL, *res = NULL;
	int64_t t0 = mono_us();
	int r = md_db_query(db, "SELECT 1", 0, NULL, &one, "probing the database", err);
	if (r < 0)
		return r;
	h->latency_ms = (double)(mono_us() - t0) / 1000.0;
	r = md_db_query(db, facts_sql, 0, NULL, &res, "reading the server's state", err);
	if (r < 0)
		return r;
	h->in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
	h->max_connections = atoi(PQgetvalue(res, 0, 1)) - atoi(PQgetvalue(res, 0, 2));
	h->connections = atoi(PQgetvalue(res, 0, 3));
	h->server_version = db->server_version_num;
	h->lock_held = !PQgetisnull(res, 0, 4);
	if (h->lock_held) {
		h->lock_age_s = PQgetisnull(res, 0, 6) ? 0 : atof(PQgetvalue(res, 0, 6));
		*ret_lock = json_pack("{s:i, s:s?, s:f, s:s?}", "pid", atoi(PQgetvalue(res, 0, 4)), "application_name",
				      PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5), "session_age_s",
				      h->lock_age_s, "state", PQgetisnull(res, 0, 7) ? NULL : PQgetvalue(res, 0, 7));
	}
	return 0;
}

/* One round's working state: the checks and readiness reasons as they are found. */
struct round {
	struct md_probe *p;
	struct md_health *h;
	json_t *lock;
	bool nomem; /* a check's figures could not be kept: the round is not published */
	enum md_health_status overall;
	int interval_ms, lock_held_warning_ms;
	bool ready_requires_up_to_date;
};

/* A new check of the round (its status counted into the overall one); its detail object takes
 * the check's figures. Without memory for them the round is marked and not published. */
static struct md_health_check *check(struct round *rd, const char *name, enum md_health_status st, const char *message)
{
	struct md_health *h = rd->h;
	worst(&rd->overall, st);
	/* MD_HEALTH_MAX_CHECKS has room for every check a round makes; the last slot is reused
	 * rather than overrun should that ever change. */
	struct md_health_check *c =
		&h->checks[h->n_checks < MD_HEALTH_MAX_CHECKS ? h->n_checks++ : MD_HEALTH_MAX_CHECKS - 1];
	free(c->message);
	json_decref(c->detail);
	*c = (struct md_health_check){.name = name, .status = st, .detail = json_object()};
	if (!c->detail || (message && !(c->message = strdup(message))))
		rd->nomem = true;
	return c;
}

static void reason(struct round *rd, const char *why /* static */)
{
	if (rd->h->n_reasons < MD_HEALTH_MAX_REASONS)
		rd->h->reasons[rd->h->n_reasons++] = why;
}

/* The database: reachable, how fast, which server. Returns 0 when it answered. */
static int probe_database(struct round *rd)
{
	struct md_probe *p = rd->p;
	struct md_health *h = rd->h;
	struct md_error err = {0};
	struct md_db *db = NULL;
	int ms = rd->interval_ms < 2000 ? rd->interval_ms : 2000;
	int r = md_pool_acquire(p->pool, ms, MD_POOL_IGNORE_BACKOFF, &db, &err);
	if (r == 0) {
		r = query_facts(db, h, &rd->lock, &err);
		if (r == MD_E_CONNECT) { /* broke after the pool checked it: a fresh one */
			md_pool_release(p->pool, db);
			db = NULL;
			json_decref(rd->lock);
			rd->lock = NULL;
			md_error_clear(&err);
			r = md_pool_acquire(p->pool, 1000, MD_POOL_IGNORE_BACKOFF, &db, &err);
			if (r == 0)
				r = query_facts(db, h, &rd->lock, &err);
		}
		if (r == 0)
			snprintf(p->server_version, sizeof p->server_version, "%s", db->server_version);
	}
	md_pool_release(p->pool, db);
	h->db_up = r == 0;
	if (h->db_up) {
		struct md_health_check *c = check(rd, "database", MD_HEALTH_OK, NULL);
		json_object_set_new(c->detail, "latency_ms", json_real(h->latency_ms));
		json_object_set_new(c->detail, "server_version", json_string(p->server_version));
		if (!p->was_up && p->known)
			md_log(MD_LOG_INFO, "database reachable again (round trip %.1f ms)", h->latency_ms);
		p->known = true;
		p->was_up = true;
		p->last_failure = 0;
	} else if (r == MD_E_UNAVAILABLE) {
		/* Every pooled connection is busy: the database may be fine; we cannot tell now. */
		struct md_health_check *c = check(rd, "database", MD_HEALTH_DEGRADED, err.message);
		json_object_set_new(c->detail, "error", error_json(&err));
		h->db_up = p->was_up;
		reason(rd, "the database could not be probed: the pool is exhausted");
	} else {
		struct md_health_check *c = check(rd, "database", MD_HEALTH_DOWN, err.message);
		h->conn_failure = err.code == MD_E_CONNECT ? err.conn_failure : 0;
		json_object_set_new(c->detail, "error", error_json(&err));
		reason(rd, "the database cannot be reached");
		if (p->was_up || !p->known || p->last_failure != h->conn_failure + 1)
			md_log(MD_LOG_WARNING, "database unreachable: %s", err.message);
		/* What the status cache knew is stale: a deploy now gets this error, not a job. */
		md_snapshot_invalidate(p->snapshot);
		p->known = true;
		p->was_up = false;
		p->last_failure = h->conn_failure + 1;
	}
	return r;
}

/* What the server said besides reachability: standby, connection slots, the migration lock. */
static void probe_server(struct round *rd)
{
	struct md_health *h = rd->h;
	char msg[512] = "";
	/* A standby: reads work, migrations cannot. */
	if (h->in_recovery) {
		check(rd, "read_only", MD_HEALTH_DEGRADED,
		      "the database is a read-only standby (pg_is_in_recovery): migrations cannot run; point "
		      "DATABASE_URL/DIRECT_URL at the primary");
		reason(rd, "the database is a read-only standby");
	} else {
		check(rd, "read_only", MD_HEALTH_OK, NULL);
	}
	/* Connection slots: "too many connections" is the runbook's most common outage. */
	enum md_health_status cs = MD_HEALTH_OK;
	if (h->max_connections > 0 && h->connections * 10 >= h->max_connections * 9) {
		cs = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg,
			 "%d of %d connection slots in use: new connections (a deploy's too) will soon fail with "
			 "\"too many connections\"; use a pooled DATABASE_URL for the application",
			 h->connections, h->max_connections);
	}
	struct md_health_check *c = check(rd, "connections", cs, msg[0] ? msg : NULL);
	json_object_set_new(c->detail, "in_use", json_integer(h->connections));
	json_object_set_new(c->detail, "max", json_integer(h->max_connections));
	/* The migration lock. */
	enum md_health_status ls = MD_HEALTH_OK;
	msg[0] = '\0';
	if (h->lock_held && h->lock_age_s * 1000 > rd->lock_held_warning_ms) {
		ls = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg,
			 "the migration lock has been held by pid %lld for %.0f s: a long migration, or a stuck "
			 "session (SELECT pg_terminate_backend(pid) ends it)",
			 json_integer_value(json_object_get(rd->lock, "pid")), h->lock_age_s);
	}
	c = check(rd, "migration_lock", ls, msg[0] ? msg : NULL);
	json_object_set_new(c->detail, "held", json_boolean(h->lock_held));
	if (rd->lock)
		json_object_set(c->detail, "holder", rd->lock);
}

static void probe_pool(struct round *rd)
{
	struct md_probe *p = rd->p;
	struct md_pool_stats ps;
	enum md_health_status st = MD_HEALTH_OK;
	char msg[256] = "";
	md_pool_stats(p->pool, &ps);
	if (ps.timeouts > p->last_pool_timeouts) {
		st = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg, "%llu request%s found no free connection since the last probe",
			 (unsigned long long)(ps.timeouts - p->last_pool_timeouts),
			 ps.timeouts - p->last_pool_timeouts == 1 ? "" : "s");
	}
	p->last_pool_timeouts = ps.timeouts;
	struct md_health_check *c = check(rd, "pool", st, msg[0] ? msg : NULL);
	json_object_set_new(c->detail, "size", json_integer(ps.size));
	json_object_set_new(c->detail, "open", json_integer(ps.open));
	json_object_set_new(c->detail, "in_use", json_integer(ps.in_use));
	json_object_set_new(c->detail, "waiting", json_integer(ps.waiting));
	json_object_set_new(c->detail, "connect_failures", json_integer((json_int_t)ps.connect_failures));
	json_object_set_new(c->detail, "timeouts", json_integer((json_int_t)ps.timeouts));
}

/* The migrations, from the status snapshot (refreshed at most once a round). */
static void probe_migrations(struct round *rd)
{
	struct md_health *h = rd->h;
	struct md_snapshot_view *v = md_snapshot_try_refresh(rd->p->snapshot, rd->interval_ms / 2);
	char msg[512] = "";
	if (v && v->ok) {
		enum md_health_status st = MD_HEALTH_OK;
		h->snapshot_ok = true;
		for (int i = 0; i < MD_MIG__COUNT; i++)
			h->migrations[i] = v->count[i];
		if (v->count[MD_MIG_FAILED]) {
			st = MD_HEALTH_DEGRADED;
			snprintf(
				msg, sizeof msg,
				"%zu failed migration%s block deploys (P3009): fix the file, POST /v1/resolve {\"as\": "
				"\"rolled-back\"} (or migrated resolve --rolled-back), deploy again",
				v->count[MD_MIG_FAILED], v->count[MD_MIG_FAILED] == 1 ? "" : "s");
			reason(rd, "a migration failed");
		} else if (v->count[MD_MIG_MODIFIED]) {
			st = MD_HEALTH_DEGRADED;
			snprintf(msg, sizeof msg,
				 "%zu applied migration%s changed on disk since (checksum mismatch): restore the file "
				 "from version control",
				 v->count[MD_MIG_MODIFIED], v->count[MD_MIG_MODIFIED] == 1 ? "" : "s");
			reason(rd, "an applied migration was edited");
		} else if (v->count[MD_MIG_MISSING]) {
			st = MD_HEALTH_DEGRADED;
			snprintf(msg, sizeof msg,
				 "the database has %zu migration%s this folder lacks: an older checkout?",
				 v->count[MD_MIG_MISSING], v->count[MD_MIG_MISSING] == 1 ? "" : "s");
		} else if (v->count[MD_MIG_RUNNING]) {
			/* Work in progress, not a fault: nobody is paged for it. */
			snprintf(msg, sizeof msg, "a migration is being applied now: %.400s", v->running);
		}
		if (v->count[MD_MIG_RUNNING])
			reason(rd, "a migration is being applied");
		if (v->pending && rd->ready_requires_up_to_date)
			reason(rd, "migrations are pending");
		struct md_health_check *c = check(rd, "migrations", st, msg[0] ? msg : NULL);
		json_object_set_new(c->detail, "total", json_integer((json_int_t)v->total));
		for (int i = 0; i < MD_MIG__COUNT; i++)
			json_object_set_new(c->detail, md_mig_state_name(i), json_integer((json_int_t)v->count[i]));
	} else if (v) {
		struct md_health_check *c = check(rd, "migrations", MD_HEALTH_DEGRADED, v->error.message);
		json_object_set_new(c->detail, "error", error_json(&v->error));
		reason(rd, "the migrations could not be read");
	}
	md_snapshot_view_unref(v);
}

static void probe_last_job(struct round *rd)
{
	struct md_job_brief last;
	enum md_health_status st = MD_HEALTH_OK;
	char msg[200];
	bool any = md_jobs_last(rd->p->jobs, &last);
	if (any && (last.state == MD_JOB_FAILED || last.state == MD_JOB_INTERRUPTED)) {
		st = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg, "the last job %s: GET /v1/jobs/%s says why", md_job_state_name(last.state),
			 last.id);
	}
	struct md_health_check *c = check(rd, "last_job", st, st == MD_HEALTH_OK ? NULL : msg);
	if (any)
		json_object_set_new(c->detail, "job",
				    json_pack("{s:s, s:s, s:s, s:s?}", "id", last.id, "kind",
					      md_job_kind_name(last.kind), "state", md_job_state_name(last.state),
					      "finished_at", last.finished_at[0] ? last.finished_at : NULL));
}

/* Drift, when a check ran (drift_interval, or GET /v1/drift). */
static void probe_drift(struct round *rd)
{
	json_t *ds = md_jobs_drift_status(rd->p->jobs);
	if (!ds)
		return;
	enum md_health_status st = MD_HEALTH_OK;
	char dmsg[600] = "";
	size_t n = (size_t)json_integer_value(json_object_get(ds, "differences"));
	if (json_object_get(ds, "error")) {
		st = MD_HEALTH_DEGRADED;
		snprintf(dmsg, sizeof dmsg, "the last drift check failed: %.500s",
			 json_string_value(json_object_get(ds, "error")));
	} else if (json_is_true(json_object_get(ds, "drift"))) {
		const char *mode = json_string_value(json_object_get(ds, "mode"));
		st = MD_HEALTH_DEGRADED;
		if (mode && strcmp(mode, "fingerprint") == 0)
			snprintf(dmsg, sizeof dmsg,
				 "the schema changed since the last deploy (fingerprint; a check with a shadow "
				 "database, "
				 "GET /v1/drift, lists the differences)");
		else
			snprintf(dmsg, sizeof dmsg,
				 "%zu difference%s between the database and its migrations (GET /v1/drift lists them)",
				 n, n == 1 ? "" : "s");
	} else if (json_string_value(json_object_get(ds, "message"))) {
		snprintf(dmsg, sizeof dmsg, "%.590s", json_string_value(json_object_get(ds, "message")));
	}
	struct md_health_check *c = check(rd, "drift", st, dmsg[0] ? dmsg : NULL);
	json_object_update(c->detail, ds);
	json_decref(ds);
}

static struct md_health *run_round(struct md_probe *p)
{
	struct round rd = {.p = p, .overall = MD_HEALTH_OK};
	pthread_mutex_lock(&p->lock);
	rd.interval_ms = p->interval_ms;
	rd.lock_held_warning_ms = p->lock_held_warning_ms;
	rd.ready_requires_up_to_date = p->ready_requires_up_to_date;
	pthread_mutex_unlock(&p->lock);
	int64_t t0 = mono_us();
	struct md_health *h = rd.h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->refs = 1;
	h->started_us = t0;
	check(&rd, "process", MD_HEALTH_OK, NULL);
	bool up = probe_database(&rd) == 0;
	if (up)
		probe_server(&rd);
	json_decref(rd.lock);
	probe_pool(&rd);
	if (up)
		probe_migrations(&rd);
	probe_last_job(&rd);
	probe_drift(&rd);
	bool extra_unready = false;
	pthread_mutex_lock(&p->lock);
	md_probe_check_fn extra = p->extra_fn;
	void *extra_ctx = p->extra_ctx;
	const char *extra_name = p->extra_name, *extra_reason = p->extra_reason;
	pthread_mutex_unlock(&p->lock);
	if (extra) {
		char msg[600];
		json_t *detail = json_object();
		enum md_health_status st = extra(extra_ctx, msg, sizeof msg, detail, &extra_unready);
		struct md_health_check *c = check(&rd, extra_name, st, msg[0] ? msg : NULL);
		json_object_update(c->detail, detail);
		json_decref(detail);
		if (extra_unready)
			reason(&rd, extra_reason);
	}

	h->status = rd.overall;
	h->ready =
		!extra_unready && rd.overall != MD_HEALTH_DOWN && h->db_up && h->snapshot_ok &&
		!h->migrations[MD_MIG_FAILED] && !h->migrations[MD_MIG_MODIFIED] && !h->migrations[MD_MIG_RUNNING] &&
		!h->in_recovery &&
		!(rd.ready_requires_up_to_date && (h->migrations[MD_MIG_PENDING] || h->migrations[MD_MIG_ROLLED_BACK]));
	h->duration_ms = (double)(mono_us() - t0) / 1000.0;
	h->taken_us = mono_us();
	h->taken_unix = unix_now();
	if (rd.nomem) {
		md_health_unref(h);
		return NULL;
	}
	return h;
}

/* Runs a round and publishes it. Caller holds p->round. */
static struct md_health *probe_once(struct md_probe *p)
{
	struct md_health *h = run_round(p);
	if (!h)
		return NULL;
	md_pool_maintain(p->pool);
	pthread_mutex_lock(&p->lock);
	if (p->current)
		md_health_unref(p->current);
	p->current = h;
	md_health_ref(h); /* the publication's */
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->lock);
	if (p->on_update)
		p->on_update(p->on_update_ctx, h);
	return h;
}

static void *probe_thread(void *arg)
{
	struct md_probe *p = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		__atomic_store_n(&p->beat_us, mono_us(), __ATOMIC_RELAXED);
		pthread_mutex_lock(&p->round);
		md_health_unref(probe_once(p));
		pthread_mutex_unlock(&p->round);
		__atomic_store_n(&p->beat_us, mono_us(), __ATOMIC_RELAXED);

		struct timespec until;
		pthread_mutex_lock(&p->lock);
		int interval_ms = p->interval_ms;
		pthread_mutex_unlock(&p->lock);
		md_clock_deadline(CLOCK_MONOTONIC, interval_ms, &until);
		pthread_mutex_lock(&p->lock);
		while (!p->kicked && !p->stopping) {
			if (pthread_cond_timedwait(&p->wake, &p->lock, &until) != 0)
				break;
			__atomic_store_n(&p->beat_us, mono_us(), __ATOMIC_RELAXED);
		}
		p->kicked = false;
		bool stop = p->stopping;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
	}
}

int md_probe_start(const struct md_config *cfg, struct md_pool *pool, struct md_snapshot *snapshot,
		   struct md_jobs *jobs, struct md_probe **ret, struct md_error *err)
{
	struct md_probe *p = calloc(1, sizeof *p);

	if (!p)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	p->pool = pool;
	p->snapshot = snapshot;
	p->jobs = jobs;
	p->interval_ms = cfg->probe_interval_ms < 100 ? 100 : cfg->probe_interval_ms;
	p->ready_requires_up_to_date = cfg->ready_requires_up_to_date;
	p->lock_held_warning_ms = cfg->lock_held_warning_ms;
	p->was_up = true;
	p->beat_us = mono_us();
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->round, NULL);
	md_clock_cond_init(&p->wake);
	md_clock_cond_init(&p->done);
	if (pthread_create(&p->thread, NULL, probe_thread, p) != 0) {
		md_probe_stop(p);
		return md_error_set(err, MD_E_INTERNAL, "cannot start the health probe thread");
	}
	p->started = true;

	/* Wait (a little) for the first result. */
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&p->lock);
	while (!p->current)
		if (pthread_cond_timedwait(&p->done, &p->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&p->lock);
	*ret = p;
	return 0;
}

struct md_health *md_probe_get(struct md_probe *p)
{
	struct md_health *h;
	pthread_mutex_lock(&p->lock);
	h = p->current;
	if (h)
		md_health_ref(h);
	pthread_mutex_unlock(&p->lock);
	return h;
}

struct md_health *md_probe_now(struct md_probe *p, int min_gap_ms)
{
	struct md_health *h;
	int64_t arrived = mono_us();
	pthread_mutex_lock(&p->round);
	h = md_probe_get(p);
	/* A round that started after this caller arrived is as live as one it would run; callers that
	 * queue behind this one get the round it runs. */
	if (!h || h->started_us < arrived) {
		int64_t wait_us = h ? h->taken_us + (int64_t)min_gap_ms * 1000 - mono_us() : 0;
		md_health_unref(h);
		if (wait_us > 0) {
			struct timespec ts = {.tv_sec = wait_us / 1000000, .tv_nsec = (long)(wait_us % 1000000) * 1000};
			nanosleep(&ts, NULL);
		}
		h = probe_once(p);
	}
	pthread_mutex_unlock(&p->round);
	return h;
}

void md_probe_reconfigure(struct md_probe *p, const struct md_config *cfg)
{
	pthread_mutex_lock(&p->lock);
	p->interval_ms = cfg->probe_interval_ms < 100 ? 100 : cfg->probe_interval_ms;
	p->ready_requires_up_to_date = cfg->ready_requires_up_to_date;
	p->lock_held_warning_ms = cfg->lock_held_warning_ms;
	p->kicked = true; /* a probe now shows the new settings' view */
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

int64_t md_probe_silent_ms(struct md_probe *p)
{
	int64_t beat = __atomic_load_n(&p->beat_us, __ATOMIC_RELAXED);
	return beat ? (mono_us() - beat) / 1000 : 0;
}

void md_probe_kick(struct md_probe *p)
{
	pthread_mutex_lock(&p->lock);
	p->kicked = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void md_probe_add_check(struct md_probe *p, const char *name, md_probe_check_fn fn, void *ctx, const char *why)
{
	pthread_mutex_lock(&p->lock);
	p->extra_name = name;
	p->extra_reason = why;
	p->extra_fn = fn;
	p->extra_ctx = ctx;
	pthread_mutex_unlock(&p->lock);
}

void md_probe_on_update(struct md_probe *p, void (*fn)(void *ctx, struct md_health *h), void *ctx)
{
	pthread_mutex_lock(&p->round); /* not while a round publishes */
	p->on_update = fn;
	p->on_update_ctx = ctx;
	pthread_mutex_unlock(&p->round);
}

void md_probe_stop(struct md_probe *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stopping = true;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	md_health_unref(p->current);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->round);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p);
}
