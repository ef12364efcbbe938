/* snapshot.c - the cached status view (see snapshot.h). Reads go through the daemon's pool;
 * one build at a time. */
#include "migrated/snapshot.h"
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/plan.h"
#include "migrated/pool.h"
#include "migrated/report.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct md_snapshot {
	pthread_mutex_t lock;  /* current, generation */
	pthread_mutex_t build; /* one build at a time; also guards db */
	struct md_snapshot_view *current;
	uint64_t generation; /* bumped by invalidate */
	uint64_t current_generation;
	char *migrations_dir;
	struct md_pool *pool; /* borrowed */
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int md_snapshot_open(const struct md_config *cfg, struct md_pool *pool, struct md_snapshot **ret, struct md_error *err)
{
	return md_snapshot_open_dir(cfg->migrations_dir, pool, ret, err);
}

int md_snapshot_open_dir(const char *dir, struct md_pool *pool, struct md_snapshot **ret, struct md_error *err)
{
	struct md_snapshot *s = calloc(1, sizeof *s);

	if (!s)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->build, NULL);
	s->migrations_dir = strdup(dir);
	s->pool = pool;
	if (!s->migrations_dir) {
		md_snapshot_close(s);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	*ret = s;
	return 0;
}

static void view_free(struct md_snapshot_view *v)
{
	for (int i = 0; i < 3; i++)
		free(v->body[i]);
	pthread_mutex_destroy(v->lock);
	free(v->lock);
	free(v);
}

void md_snapshot_view_ref(struct md_snapshot_view *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

void md_snapshot_view_unref(struct md_snapshot_view *v)
{
	if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
		view_free(v);
}

struct md_snapshot_view *md_snapshot_get(struct md_snapshot *s, int max_age_ms)
{
	struct md_snapshot_view *v = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->current && s->current_generation == s->generation &&
	    now_us() - s->current->taken_us <= (int64_t)max_age_ms * 1000) {
		v = s->current;
		md_snapshot_view_ref(v);
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

void md_snapshot_invalidate(struct md_snapshot *s)
{
	pthread_mutex_lock(&s->lock);
	s->generation++;
	pthread_mutex_unlock(&s->lock);
}

static char *text_of(const struct md_plan *plan, const char *dir, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	md_report_status_text(f, plan, dir, true);
	fclose(f);
	*ret_len = len;
	return buf;
}

/* "NAME (pid 42, application "prisma", connected at ...)" for the migration another session
 * is running, or "". */
static void running_note(const struct md_plan *plan, char *out, size_t outsz)
{
	out[0] = '\0';
	for (size_t i = 0; i < plan->n; i++) {
		const struct md_plan_item *it = &plan->items[i];
		if (it->state != MD_MIG_RUNNING || !it->holder)
			continue;
		snprintf(out, outsz, "%s (pid %d, application \"%s\", connected at %s)", it->name, it->holder->pid,
			 it->holder->application_name, it->holder->since);
		return;
	}
}

static struct md_snapshot_view *build(struct md_snapshot *s)
{
	struct md_snapshot_view *v = calloc(1, sizeof *v);
	struct md_catalog *cat = NULL;
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;
	struct md_db *db = NULL;
	int r;

	if (!v)
		return NULL;
	v->lock = malloc(sizeof(pthread_mutex_t));
	if (!v->lock) {
		free(v);
		return NULL;
	}
	pthread_mutex_init(v->lock, NULL);
	v->refs = 1;
	r = md_catalog_load(s->migrations_dir, MD_CATALOG_PROBE_DOWN, &cat, &v->error);
	if (r == 0)
		r = md_pool_acquire(s->pool, -1, 0, &db, &v->error);
	if (r == 0) {
		r = md_history_load(db, &hist, &v->error);
		if (r == MD_E_CONNECT) { /* the connection broke after the pool checked it: once more */
			md_pool_release(s->pool, db);
			db = NULL;
			md_error_clear(&v->error);
			r = md_pool_acquire(s->pool, -1, 0, &db, &v->error);
			if (r == 0)
				r = md_history_load(db, &hist, &v->error);
		}
	}
	if (r == 0)
		r = md_plan_build(cat, hist, &plan, &v->error);
	if (r == 0) {
		json_t *j = md_report_status_json(plan, s->migrations_dir, db);
		v->ok = true;
		v->total = plan->n;
		for (int i = 0; i < MD_MIG__COUNT; i++)
			v->count[i] = plan->count[i];
		v->pending = plan->count[MD_MIG_PENDING] + plan->count[MD_MIG_ROLLED_BACK];
		v->blocked = md_deploy_check_failed(plan, &v->block) < 0;
		running_note(plan, v->running, sizeof v->running);
		v->body[MD_SNAP_JSON] = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		v->len[MD_SNAP_JSON] = v->body[MD_SNAP_JSON] ? strlen(v->body[MD_SNAP_JSON]) : 0;
		v->body[MD_SNAP_TEXT] = text_of(plan, s->migrations_dir, &v->len[MD_SNAP_TEXT]);
		json_decref(j);
	} else {
		md_log(MD_LOG_DEBUG, "status unavailable: %s", v->error.message);
	}
	md_pool_release(s->pool, db);
	v->taken_us = now_us();
	md_plan_free(plan);
	md_history_free(hist);
	md_catalog_free(cat);
	return v;
}

static struct md_snapshot_view *refresh_locked(struct md_snapshot *s, int max_age_ms);

struct md_snapshot_view *md_snapshot_refresh(struct md_snapshot *s, int max_age_ms)
{
	pthread_mutex_lock(&s->build);
	return refresh_locked(s, max_age_ms);
}

struct md_snapshot_view *md_snapshot_try_refresh(struct md_snapshot *s, int max_age_ms)
{
	struct md_snapshot_view *v;
	if (pthread_mutex_trylock(&s->build) == 0)
		return refresh_locked(s, max_age_ms);
	/* Someone is building (perhaps stuck behind a lock): the last view, however old. */
	pthread_mutex_lock(&s->lock);
	v = s->current;
	if (v)
		md_snapshot_view_ref(v);
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* Called with s->build held; releases it. */
static struct md_snapshot_view *refresh_locked(struct md_snapshot *s, int max_age_ms)
{
	struct md_snapshot_view *v;
	uint64_t gen;

	/* Another caller may have built one while this one waited. */
	v = md_snapshot_get(s, max_age_ms);
	if (v) {
		pthread_mutex_unlock(&s->build);
		return v;
	}
	pthread_mutex_lock(&s->lock);
	gen = s->generation;
	pthread_mutex_unlock(&s->lock);
	v = build(s);
	if (v) {
		pthread_mutex_lock(&s->lock);
		if (s->current)
			md_snapshot_view_unref(s->current);
		s->current = v;
		s->current_generation = gen;
		md_snapshot_view_ref(v);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->build);
	return v;
}

const char *md_snapshot_body(struct md_snapshot_view *v, enum md_snapshot_format f, size_t *ret_len)
{
	const char *b;
	pthread_mutex_lock(v->lock);
	if (f == MD_SNAP_PRETTY && !v->body[f] && v->body[MD_SNAP_JSON]) {
		json_t *j = json_loads(v->body[MD_SNAP_JSON], 0, NULL);
		if (j) {
			char *p = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			if (p) {
				size_t n = strlen(p);
				char *q = realloc(p, n + 2);
				if (q) {
					q[n] = '\n';
					q[n + 1] = '\0';
					v->body[f] = q;
					v->len[f] = n + 1;
				} else {
					free(p);
				}
			}
			json_decref(j);
		}
	}
	b = v->body[f];
	*ret_len = v->len[f];
	pthread_mutex_unlock(v->lock);
	return b;
}

void md_snapshot_close(struct md_snapshot *s)
{
	if (!s)
		return;
	if (s->current)
		md_snapshot_view_unref(s->current);
	free(s->migrations_dir);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->build);
	free(s);
}
