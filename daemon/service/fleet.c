/* fleet.c - the targets of the targets file in the running daemon (see fleet.h): one entry a
 * target (pool, snapshot, last probe), reference-counted so a reload can drop one that a
 * request still reads, and one probe thread that visits them in turn, staggered over the
 * probe interval. */
#include "migrated/fleet.h"
#include "migrated/advisory_lock.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/pool.h"
#include "migrated/report.h"
#include "migrated/settings.h"
#include "migrated/snapshot.h"
#include "migrated/targets.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_CLOSE_MS  1  /* a target's connection closes once unused (at the probe's next step) */
#define MAX_LISTED_BAD 10 /* target names the health check quotes */

struct entry {
	char *name, *dir, *url; /* owned; url is the pool's (DATABASE_URL of the target): a secret */
	json_t *labels;         /* owned: {"k": "v"} in file order */
	struct md_target copy;  /* name and labels for selector matching (borrowed strings) */
	struct md_pool *pool;
	struct md_snapshot *snap;
	int refs; /* the fleet's own, and each borrower's */
	/* the last probe, under fleet->lock */
	bool probed;
	enum md_health_status health;
	char message[600];
	double checked_unix;
	double checked_ms; /* monotonic */
	size_t count[MD_MIG__COUNT];
	json_t *lock_holder; /* owned or NULL */
};

struct md_fleet {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct md_settings *settings;
	struct md_jobs *jobs;
	struct entry **list; /* owned references, file order */
	size_t n;
	int interval_ms;
	int pool_timeout_ms, connect_timeout_s;
	bool ready_requires_up_to_date; /* a target with pending migrations is not ready */
	bool stopping, started;
	pthread_t thread;
};

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void entry_unref(struct entry *e)
{
	if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	md_snapshot_close(e->snap);
	md_pool_close(e->pool);
	json_decref(e->labels);
	json_decref(e->lock_holder);
	free(e->copy.labels);
	free(e->name);
	free(e->dir);
	free(e->url);
	free(e);
}

static struct entry *entry_new(struct md_fleet *f, const struct md_target *t, const char *default_dir,
			       struct md_error *err)
{
	struct entry *e = calloc(1, sizeof *e);
	struct md_pool_options po = {
		.size = 1,
		.acquire_timeout_ms = f->pool_timeout_ms,
		.idle_timeout_ms = IDLE_CLOSE_MS,
		.max_lifetime_ms = 0,
		.connect_timeout_s = f->connect_timeout_s,
		.backoff_min_ms = 250,
		.backoff_max_ms = 30000,
		.statement_timeout_ms = 30000,
	};
	if (!e)
		return md_error_set(err, MD_E_NOMEM, "out of memory"), NULL;
	e->refs = 1;
	e->name = strdup(t->name);
	e->dir = strdup(t->migrations_dir ? t->migrations_dir : default_dir);
	e->url = strdup(t->url);
	e->labels = json_object();
	e->copy.labels = calloc(t->n_labels ? t->n_labels : 1, sizeof *e->copy.labels);
	if (!e->name || !e->dir || !e->url || !e->labels || !e->copy.labels) {
		md_error_set(err, MD_E_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < t->n_labels; i++)
		json_object_set_new(e->labels, t->labels[i].key, json_string(t->labels[i].value));
	/* The labels' strings are the JSON object's: they live as long as the entry. */
	const char *k;
	json_t *v;
	size_t i = 0;
	json_object_foreach(e->labels, k, v)
	{
		e->copy.labels[i].key = (char *)k;
		e->copy.labels[i++].value = (char *)json_string_value(v);
	}
	e->copy.n_labels = i;
	e->copy.name = e->name;
	if (md_pool_open(e->url, &po, &e->pool, err) < 0) {
		md_error_prefix(err, MD_E_CONFIG, "target %s: ", t->name);
		goto fail;
	}
	if (md_snapshot_open_dir(e->dir, e->pool, &e->snap, err) < 0)
		goto fail;
	snprintf(e->message, sizeof e->message, "not probed yet");
	return e;
fail:
	entry_unref(e);
	return NULL;
}

/* Whether the entry has exactly t's labels. */
static bool same_labels(const struct entry *e, const struct md_target *t)
{
	if (e->copy.n_labels != t->n_labels)
		return false;
	for (size_t i = 0; i < t->n_labels; i++) {
		const char *v = json_string_value(json_object_get(e->labels, t->labels[i].key));
		if (!v || strcmp(v, t->labels[i].value) != 0)
			return false;
	}
	return true;
}

/* Replaces the list with the targets in force: an unchanged target keeps its entry (and its
 * last probe), a changed or new one gets a new entry, a removed one is let go. */
static int sync_targets(struct md_fleet *f, struct md_error *err)
{
	const struct md_targets *ts = md_settings_targets_get(f->settings);
	struct md_settings_view set;
	md_settings_get(f->settings, &set);
	struct entry **next = calloc(ts->n ? ts->n : 1, sizeof *next);
	int r = next ? 0 : md_error_set(err, MD_E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < ts->n; i++) {
		const struct md_target *t = &ts->list[i];
		const char *dir = t->migrations_dir ? t->migrations_dir : set.migrations_dir;
		/* An unchanged entry is shared by both lists (a reference of its own for the new one):
		 * the current list stays whole for the probe and the requests until the swap. */
		pthread_mutex_lock(&f->lock);
		for (size_t k = 0; k < f->n; k++) {
			struct entry *o = f->list[k];
			if (strcmp(o->name, t->name) == 0 && strcmp(o->url, t->url) == 0 && strcmp(o->dir, dir) == 0) {
				__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
				next[i] = o;
				break;
			}
		}
		pthread_mutex_unlock(&f->lock);
		if (!next[i] && !(next[i] = entry_new(f, t, set.migrations_dir, err)))
			r = err->code;
		else if (next[i] && !same_labels(next[i], t)) { /* labels changed: a new entry */
			entry_unref(next[i]);
			if (!(next[i] = entry_new(f, t, set.migrations_dir, err)))
				r = err->code;
		}
	}
	size_t n = ts->n;
	md_settings_targets_put(f->settings, ts);
	md_settings_view_free(&set);
	if (r < 0) {
		for (size_t i = 0; next && i < n; i++)
			entry_unref(next[i]);
		free(next);
		return r;
	}
	pthread_mutex_lock(&f->lock);
	struct entry **old = f->list;
	size_t n_old = f->n;
	f->list = next;
	f->n = n;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
	for (size_t k = 0; k < n_old; k++)
		entry_unref(old[k]);
	free(old);
	return 0;
}

/* ---- the probe ---- */

static void probe_entry(struct md_fleet *f, struct entry *e)
{
	struct md_snapshot_view *v = md_snapshot_refresh(e->snap, 0);
	struct md_lock_holder holder = {0};
	struct md_error err = {0};
	struct md_db *db = NULL;
	json_t *lock = NULL;
	enum md_health_status st = MD_HEALTH_OK;
	char msg[600] = "";

	if (v && v->ok && md_pool_acquire(e->pool, -1, MD_POOL_IGNORE_BACKOFF, &db, &err) == 0 &&
	    md_lock_find_holder(db, &holder, &err) == 0 && holder.found)
		lock = md_report_lock_holder_json(&holder);
	md_pool_release(e->pool, db);
	md_pool_maintain(e->pool);
	if (!v) {
		st = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg, "out of memory");
	} else if (!v->ok) {
		st = v->error.code == MD_E_CONNECT || v->error.code == MD_E_UNAVAILABLE ? MD_HEALTH_DOWN
											: MD_HEALTH_DEGRADED;
		md_redact(v->error.message, msg, sizeof msg);
	} else if (v->count[MD_MIG_FAILED] || v->count[MD_MIG_MODIFIED]) {
		st = MD_HEALTH_DEGRADED;
		snprintf(msg, sizeof msg, "%zu failed and %zu edited migration%s: GET /v1/targets/%s/status",
			 v->count[MD_MIG_FAILED], v->count[MD_MIG_MODIFIED],
			 v->count[MD_MIG_FAILED] + v->count[MD_MIG_MODIFIED] == 1 ? "" : "s", e->name);
	}
	pthread_mutex_lock(&f->lock);
	e->probed = true;
	e->health = st;
	snprintf(e->message, sizeof e->message, "%s", msg);
	e->checked_unix = unix_now();
	e->checked_ms = md_clock_mono_ms();
	if (v && v->ok)
		memcpy(e->count, v->count, sizeof e->count);
	json_decref(e->lock_holder);
	e->lock_holder = lock;
	pthread_mutex_unlock(&f->lock);
	md_snapshot_view_unref(v);
}

static void *probe_thread(void *arg)
{
	struct md_fleet *f = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	size_t next = 0;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		if (f->n == 0) {
			pthread_cond_wait(&f->wake, &f->lock);
			continue;
		}
		if (next >= f->n)
			next = 0;
		struct entry *e = f->list[next++];
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
		int64_t gap = f->interval_ms / (int64_t)f->n; /* staggered: one interval for them all */
		pthread_mutex_unlock(&f->lock);
		double t0 = md_clock_mono_ms();
		probe_entry(f, e);
		entry_unref(e);
		pthread_mutex_lock(&f->lock);
		/* Every target's idle connection closes now: the probe and a request's read hold one
		 * for the moment they need it, so 500 targets hold none between probes. */
		for (size_t i = 0; i < f->n; i++)
			md_pool_maintain(f->list[i]->pool);
		int64_t wait = gap - (int64_t)(md_clock_mono_ms() - t0);
		if (wait > 0 && !f->stopping) {
			struct timespec dl;
			md_clock_deadline(CLOCK_MONOTONIC, wait, &dl);
			pthread_cond_timedwait(&f->wake, &f->lock, &dl);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* ---- the public surface ---- */

static void configure(struct md_fleet *f, const struct md_config *cfg)
{
	pthread_mutex_lock(&f->lock);
	f->interval_ms = cfg->probe_interval_ms < 100 ? 100 : cfg->probe_interval_ms;
	f->pool_timeout_ms = cfg->pool_acquire_timeout_ms > 0 ? cfg->pool_acquire_timeout_ms : 5000;
	f->connect_timeout_s = cfg->connect_timeout_s;
	f->ready_requires_up_to_date = cfg->ready_requires_up_to_date;
	pthread_mutex_unlock(&f->lock);
}

int md_fleet_start(const struct md_config *cfg, struct md_settings *settings, struct md_jobs *jobs,
		   struct md_fleet **ret, struct md_error *err)
{
	struct md_fleet *f = calloc(1, sizeof *f);
	if (!f)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	md_clock_cond_init(&f->wake);
	f->settings = settings;
	f->jobs = jobs;
	configure(f, cfg);
	int r = sync_targets(f, err);
	if (r == 0 && pthread_create(&f->thread, NULL, probe_thread, f) != 0)
		r = md_error_set(err, MD_E_INTERNAL, "cannot start the fleet probe thread");
	if (r < 0) {
		md_fleet_stop(f);
		return r;
	}
	f->started = true;
	*ret = f;
	return 0;
}

void md_fleet_reload(struct md_fleet *f, const struct md_config *cfg)
{
	struct md_error err = {0};
	if (!f)
		return;
	configure(f, cfg);
	if (sync_targets(f, &err) < 0)
		md_log(MD_LOG_ERROR, "targets not reloaded: %s", err.message);
}

size_t md_fleet_count(struct md_fleet *f)
{
	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	size_t n = f->n;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int md_fleet_get(struct md_fleet *f, const char *name, struct md_fleet_target *ret, struct md_error *err)
{
	struct entry *e = NULL;
	if (f) {
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->n && !e; i++)
			if (strcmp(f->list[i]->name, name) == 0)
				e = f->list[i];
		if (e)
			__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&f->lock);
	}
	if (!e)
		return md_error_set(err, MD_E_NOT_FOUND, "no target \"%.63s\" in the targets file", name);
	*ret = (struct md_fleet_target){e->name, e->dir, e->pool, e->snap, e};
	return 0;
}

void md_fleet_put(struct md_fleet *f, struct md_fleet_target *t)
{
	(void)f;
	if (t && t->priv) {
		entry_unref(t->priv);
		t->priv = NULL;
	}
}

/* The entry as GET /v1/targets lists it (caller holds f->lock). */
static json_t *entry_json(struct md_fleet *f, const struct entry *e)
{
	struct md_job_brief last;
	json_t *o = json_pack("{s:s, s:O, s:s}", "name", e->name, "labels", e->labels, "health",
			      e->probed ? md_health_status_name(e->health) : "unknown");
	json_object_set_new(o, "applied", json_integer((json_int_t)e->count[MD_MIG_APPLIED]));
	json_object_set_new(o, "pending",
			    json_integer((json_int_t)(e->count[MD_MIG_PENDING] + e->count[MD_MIG_ROLLED_BACK])));
	json_object_set_new(o, "failed", json_integer((json_int_t)e->count[MD_MIG_FAILED]));
	if (md_jobs_last_of_target(f->jobs, e->name, &last))
		json_object_set_new(o, "last_job",
				    json_pack("{s:s, s:s, s:s, s:s?}", "id", last.id, "kind",
					      md_job_kind_name(last.kind), "state", md_job_state_name(last.state),
					      "finished_at", last.finished_at[0] ? last.finished_at : NULL));
	else
		json_object_set_new(o, "last_job", json_null());
	json_object_set(o, "lock_holder", e->lock_holder ? e->lock_holder : json_null());
	json_object_set_new(o, "checked_at", e->probed ? json_real(e->checked_unix) : json_null());
	json_object_set_new(o, "message", e->message[0] ? json_string(e->message) : json_null());
	return o;
}

json_t *md_fleet_list(struct md_fleet *f, const char *selector)
{
	json_t *a = json_array();
	if (!f)
		return a;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++)
		if (!selector || md_target_matches(&f->list[i]->copy, selector))
			json_array_append_new(a, entry_json(f, f->list[i]));
	pthread_mutex_unlock(&f->lock);
	return a;
}

/* Why a target is not ready (static), or NULL when it is: the single target's rules
 * (probe.c), ready_requires_up_to_date included. Under f->lock. */
static const char *unready(const struct md_fleet *f, const struct entry *e)
{
	if (!e->probed)
		return "not probed yet";
	if (e->health == MD_HEALTH_DOWN)
		return "its database does not answer";
	if (e->count[MD_MIG_FAILED])
		return "a migration failed";
	if (e->count[MD_MIG_MODIFIED])
		return "an applied migration was edited";
	if (e->count[MD_MIG_RUNNING])
		return "a migration is running";
	if (e->health != MD_HEALTH_OK)
		return "its status cannot be read";
	if (f->ready_requires_up_to_date && (e->count[MD_MIG_PENDING] || e->count[MD_MIG_ROLLED_BACK]))
		return "migrations are pending";
	return NULL;
}

json_t *md_fleet_target_health(struct md_fleet *f, const char *name, struct md_error *err)
{
	json_t *o = NULL;
	if (f) {
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->n && !o; i++)
			if (strcmp(f->list[i]->name, name) == 0) {
				const struct entry *e = f->list[i];
				const char *why = unready(f, e);
				o = entry_json(f, e);
				json_object_set_new(
					o, "status",
					json_string(e->probed ? md_health_status_name(e->health) : "unknown"));
				json_object_set_new(o, "ready", json_boolean(!why));
				json_object_set_new(o, "reasons", why ? json_pack("[s]", why) : json_array());
			}
		pthread_mutex_unlock(&f->lock);
	}
	if (!o)
		md_error_set(err, MD_E_NOT_FOUND, "no target \"%.63s\" in the targets file", name);
	return o;
}

enum md_health_status md_fleet_health_check(void *ctx, char *msg, size_t msgsz, json_t *detail, bool *ret_unready)
{
	struct md_fleet *f = ctx;
	size_t ok = 0, degraded = 0, down = 0, unknown = 0, not_ready = 0, pending = 0;
	json_t *bad = json_array();
	msg[0] = '\0';
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		const struct entry *e = f->list[i];
		if (!e->probed)
			unknown++;
		else if (e->health == MD_HEALTH_OK)
			ok++;
		else if (e->health == MD_HEALTH_DOWN)
			down++;
		else
			degraded++;
		const char *why = e->probed ? unready(f, e) : NULL;
		if (why) {
			not_ready++;
			if (json_array_size(bad) < MAX_LISTED_BAD)
				json_array_append_new(bad, json_pack("{s:s, s:s}", "name", e->name, "why", why));
		}
		if (e->probed && (e->count[MD_MIG_PENDING] || e->count[MD_MIG_ROLLED_BACK]))
			pending++;
	}
	size_t n = f->n;
	pthread_mutex_unlock(&f->lock);
	json_object_set_new(detail, "targets", json_integer((json_int_t)n));
	json_object_set_new(detail, "ok", json_integer((json_int_t)ok));
	json_object_set_new(detail, "degraded", json_integer((json_int_t)degraded));
	json_object_set_new(detail, "down", json_integer((json_int_t)down));
	json_object_set_new(detail, "not_probed", json_integer((json_int_t)unknown));
	json_object_set_new(detail, "behind", json_integer((json_int_t)pending));
	json_object_set_new(detail, "not_ready", bad);
	*ret_unready = not_ready > 0;
	/* As for the single target, only faults degrade health: a target that is behind or has a
	 * migration running is not ready, and nobody is paged for it. */
	if (down + degraded == 0) {
		if (not_ready)
			snprintf(msg, msgsz,
				 "%zu of %zu targets not ready (%zu with pending migrations): GET /v1/targets",
				 not_ready, n, pending);
		return MD_HEALTH_OK;
	}
	snprintf(msg, msgsz, "%zu of %zu targets need attention (%zu down, %zu degraded): GET /v1/targets",
		 down + degraded, n, down, degraded);
	return MD_HEALTH_DEGRADED;
}

/* A label value for the Prometheus text format: \, " and newlines escaped. */
static void put_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
}

void md_fleet_metrics_write(struct md_fleet *f, FILE *out)
{
	static const struct {
		const char *name;
		enum md_mig_state st;
	} states[] = {{"applied", MD_MIG_APPLIED}, {"pending", MD_MIG_PENDING}, {"failed", MD_MIG_FAILED}};
	if (!f || md_fleet_count(f) == 0)
		return;
	double now = md_clock_mono_ms();
	pthread_mutex_lock(&f->lock);
	fputs("# HELP migrated_target_up Whether the target's database answered the last probe.\n"
	      "# TYPE migrated_target_up gauge\n",
	      out);
	for (size_t i = 0; i < f->n; i++) {
		fputs("migrated_target_up{target=\"", out);
		put_label(out, f->list[i]->name);
		fprintf(out, "\"} %d\n", f->list[i]->probed && f->list[i]->health != MD_HEALTH_DOWN);
	}
	fputs("# HELP migrated_target_migrations Migrations of the target by state, as last probed.\n"
	      "# TYPE migrated_target_migrations gauge\n",
	      out);
	for (size_t i = 0; i < f->n; i++)
		for (size_t s = 0; s < MD_ARRAY_SIZE(states); s++) {
			fputs("migrated_target_migrations{target=\"", out);
			put_label(out, f->list[i]->name);
			size_t v = f->list[i]->count[states[s].st];
			if (states[s].st == MD_MIG_PENDING)
				v += f->list[i]->count[MD_MIG_ROLLED_BACK];
			fprintf(out, "\",state=\"%s\"} %zu\n", states[s].name, v);
		}
	fputs("# HELP migrated_target_lock_held Whether someone held the target's migration lock at the last probe.\n"
	      "# TYPE migrated_target_lock_held gauge\n",
	      out);
	for (size_t i = 0; i < f->n; i++) {
		fputs("migrated_target_lock_held{target=\"", out);
		put_label(out, f->list[i]->name);
		fprintf(out, "\"} %d\n", f->list[i]->lock_holder != NULL);
	}
	fputs("# HELP migrated_target_probe_age_seconds Seconds since the target was last probed.\n"
	      "# TYPE migrated_target_probe_age_seconds gauge\n",
	      out);
	for (size_t i = 0; i < f->n; i++) {
		if (!f->list[i]->probed)
			continue;
		fputs("migrated_target_probe_age_seconds{target=\"", out);
		put_label(out, f->list[i]->name);
		fprintf(out, "\"} %.3f\n", (now - f->list[i]->checked_ms) / 1e3);
	}
	pthread_mutex_unlock(&f->lock);
}

void md_fleet_stop(struct md_fleet *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->n; i++)
		entry_unref(f->list[i]);
	free(f->list);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
