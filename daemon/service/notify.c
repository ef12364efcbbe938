/* notify.c - the notifier (see notify.h): the outbox (STATE_DIR/notify.jsonl, a journal of
 * its own), the deliveries in memory, and the threads that attempt them: per endpoint the
 * oldest pending delivery goes first and nothing after it goes before it is settled, so an
 * endpoint sees events in order. There is a delivery thread per endpoint, and an endpoint has
 * one attempt under way at most: an endpoint that hangs holds its own, never the others'. A
 * failed attempt waits notify_retry_backoff, doubling with jitter up to five minutes; a
 * delivery older than notify_max_age is given up; a 410 disables its endpoint until the next
 * reload. Not here: the endpoints' configuration (notify_endpoints.c), bodies (notify_body.c),
 * the sending itself (notify_send.c). */
#include "notify_internal.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/journal.h"
#include "migrated/log.h"
#include "migrated/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define BACKOFF_CAP_MS    (5 * 60 * 1000)
#define JOURNAL_MAX_BYTES (4L * 1024 * 1024) /* compacted past this: pending and kept deliveries stay */
#define BODY_MAX_BYTES    (512 * 1024)       /* a body past this loses the job's steps */
#define MAX_STATS         (2 * MD_NOTIFY_MAX_ENDPOINTS)

enum dstate {
	D_PENDING,   /* waiting for its (next) attempt; in the outbox */
	D_DELIVERED, /* answered 2xx (a program: exit status 0) */
	D_FAILED,    /* will not be tried again: its endpoint answered 410 */
	D_GAVE_UP,   /* will not be tried again: older than notify_max_age, or its endpoint is gone */
};
static const char *const dstate_names[] = {"pending", "delivered", "failed", "gave_up"};

struct delivery {
	char id[48]; /* the webhook-id: the same on every attempt */
	char endpoint[NOTIFY_NAME_MAX];
	char event[64];
	char job[48]; /* the job a job.* event is about, "" otherwise */
	char *body;   /* owned while pending */
	enum dstate state;
	int attempts;
	long last_status; /* 0: none yet */
	char last_error[400];
	int64_t created_ms, next_ms, delivered_ms; /* Unix ms; 0: none */
	bool inflight;                             /* a delivery thread is attempting it now */
};

/* A configuration in use: the delivery thread and a test hold a reference while they send. */
struct conf_ref {
	int refs; /* under md_notify.lock */
	struct notify_conf c;
};

struct stats {
	char endpoint[NOTIFY_NAME_MAX];
	uint64_t outcome[4]; /* delivered, failed, gave_up, retried (an attempt that failed) */
};

struct md_notify {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* new work, a reload, or stop */
	struct conf_ref *conf;
	char disabled[MD_NOTIFY_MAX_ENDPOINTS][NOTIFY_NAME_MAX]; /* answered 410 since the last reload */
	size_t n_disabled;
	struct delivery **list; /* creation order; owned */
	size_t n, cap;
	struct md_journal *journal;
	char *state_dir;
	struct stats stats[MAX_STATS];
	size_t n_stats;
	pthread_t threads[MD_NOTIFY_MAX_ENDPOINTS]; /* one per endpoint (at least one); never fewer after a reload */
	size_t n_threads;
	bool stop;
	volatile sig_atomic_t cancel; /* set at close: the attempt under way ends now */
};

int64_t notify_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void notify_iso(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char date[24];
	gmtime_r(&s, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", date, (int)(ms % 1000));
}

static void conf_unref(struct md_notify *n, struct conf_ref *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&n->lock);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&n->lock);
	if (last) {
		notify_conf_clear(&r->c);
		free(r);
	}
}

static struct stats *stats_of(struct md_notify *n, const char *endpoint)
{
	for (size_t i = 0; i < n->n_stats; i++)
		if (strcmp(n->stats[i].endpoint, endpoint) == 0)
			return &n->stats[i];
	if (n->n_stats == MAX_STATS)
		return NULL;
	struct stats *s = &n->stats[n->n_stats++];
	memset(s, 0, sizeof *s);
	snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
	return s;
}

static void count(struct md_notify *n, const char *endpoint, int outcome)
{
	struct stats *s = stats_of(n, endpoint);
	if (s)
		s->outcome[outcome]++;
}

static bool is_disabled(const struct md_notify *n, const char *endpoint)
{
	for (size_t i = 0; i < n->n_disabled; i++)
		if (strcmp(n->disabled[i], endpoint) == 0)
			return true;
	return false;
}

static struct delivery *find(struct md_notify *n, const char *id)
{
	for (size_t i = n->n; i-- > 0;)
		if (strcmp(n->list[i]->id, id) == 0)
			return n->list[i];
	return NULL;
}

static void delivery_free(struct delivery *d)
{
	if (d)
		free(d->body);
	free(d);
}

/* Keeps at most MD_NOTIFY_KEEP_FINISHED finished deliveries (the oldest go). */
static void trim(struct md_notify *n)
{
	size_t finished = 0, w = 0;
	for (size_t i = 0; i < n->n; i++)
		finished += n->list[i]->state != D_PENDING;
	for (size_t i = 0; i < n->n; i++) {
		struct delivery *d = n->list[i];
		if (d->state != D_PENDING && finished > MD_NOTIFY_KEEP_FINISHED) {
			finished--;
			delivery_free(d);
			continue;
		}
		n->list[w++] = d;
	}
	n->n = w;
}

static int append(struct md_notify *n, struct delivery *d)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 64;
		struct delivery **grown = realloc(n->list, cap * sizeof *grown);
		if (!grown)
			return MD_E_NOMEM;
		n->list = grown;
		n->cap = cap;
	}
	n->list[n->n++] = d;
	return 0;
}

/* ---- the outbox ---- */

/* The outcome of an attempt (or of giving up) into the journal. Caller holds the lock. */
static void journal_outcome(struct md_notify *n, const struct delivery *d)
{
	struct md_error err = {0};
	json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:I, s:I}", "type", "attempt", "id", d->id, "state",
				dstate_names[d->state], "attempts", d->attempts, "status", (json_int_t)d->last_status,
				"error", d->last_error, "next_attempt_at", (json_int_t)d->next_ms, "delivered_at",
				(json_int_t)d->delivered_ms);
	if (!rec || md_journal_append(n->journal, rec, NULL, &err) < 0)
		md_log(MD_LOG_ERROR, "notify: cannot record the outcome of delivery %s: %s", d->id,
		       rec ? err.message : "out of memory");
	json_decref(rec);
}

static void settle(struct md_notify *n, struct delivery *d, enum dstate state, const char *why)
{
	d->state = state;
	d->next_ms = 0;
	if (why)
		snprintf(d->last_error, sizeof d->last_error, "%s", why);
	free(d->body);
	d->body = NULL;
	journal_outcome(n, d);
	count(n, d->endpoint, state == D_DELIVERED ? 0 : state == D_FAILED ? 1 : 2);
}

static int replay(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct md_notify *n = ctx;
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *id = json_string_value(json_object_get(rec, "id"));
	(void)offset;
	if (!id)
		return 0;
	if (strcmp(type, "delivery") == 0) {
		struct delivery *d = calloc(1, sizeof *d);
		const char *body = json_string_value(json_object_get(rec, "body"));
		if (!d || !body || !(d->body = strdup(body)) || append(n, d) < 0) {
			delivery_free(d);
			return md_error_set(err, MD_E_NOMEM, "out of memory replaying the notification outbox");
		}
		snprintf(d->id, sizeof d->id, "%s", id);
		snprintf(d->endpoint, sizeof d->endpoint, "%s",
			 json_string_value(json_object_get(rec, "endpoint")) ?: "?");
		snprintf(d->event, sizeof d->event, "%s", json_string_value(json_object_get(rec, "event")) ?: "?");
		snprintf(d->job, sizeof d->job, "%s", json_string_value(json_object_get(rec, "job")) ?: "");
		d->created_ms = json_integer_value(json_object_get(rec, "created_at"));
	} else if (strcmp(type, "attempt") == 0) {
		struct delivery *d = find(n, id);
		const char *st = json_string_value(json_object_get(rec, "state"));
		if (!d || !st)
			return 0;
		for (int s = 0; s < 4; s++)
			if (strcmp(st, dstate_names[s]) == 0)
				d->state = (enum dstate)s;
		d->attempts = (int)json_integer_value(json_object_get(rec, "attempts"));
		d->last_status = (long)json_integer_value(json_object_get(rec, "status"));
		snprintf(d->last_error, sizeof d->last_error, "%s",
			 json_string_value(json_object_get(rec, "error")) ?: "");
		d->delivered_ms = json_integer_value(json_object_get(rec, "delivered_at"));
		if (d->state != D_PENDING) {
			free(d->body);
			d->body = NULL;
		}
	}
	return 0;
}

static bool keep_record(void *ctx, const json_t *rec)
{
	struct md_notify *n = ctx;
	const char *id = json_string_value(json_object_get(rec, "id"));
	return id && find(n, id);
}

/* Past JOURNAL_MAX_BYTES the outbox is rewritten with the records of the deliveries kept in
 * memory (all pending ones among them). Caller holds the lock. */
static void maybe_compact(struct md_notify *n)
{
	struct md_error err = {0};
	if (md_journal_size(n->journal) <= (uint64_t)JOURNAL_MAX_BYTES)
		return;
	trim(n);
	if (md_journal_compact(n->journal, keep_record, n, &err) < 0)
		md_log(MD_LOG_ERROR, "notify: outbox compaction failed: %s", err.message);
}

/* ---- emitting ---- */

/* data plus where it happened: the daemon's host and the database (no credentials). */
static json_t *enrich(const struct notify_conf *c, json_t *data)
{
	json_t *d = json_is_object(data) ? json_deep_copy(data) : json_object();
	if (!d)
		return NULL;
	if (!json_object_get(d, "host"))
		json_object_set_new(d, "host", json_string(c->host));
	if (!json_object_get(d, "database") && (c->db_host[0] || c->db_name[0]))
		json_object_set_new(d, "database", json_pack("{s:s, s:s}", "host", c->db_host, "name", c->db_name));
	return d;
}

static char *body_for(const struct notify_conf *c, const struct notify_endpoint *e, const char *type, const char *ts,
		      json_t *data)
{
	char *body = notify_body(c, e, type, ts, data);
	if (body && strlen(body) > BODY_MAX_BYTES && json_object_get(data, "steps")) {
		free(body);
		json_t *slim = json_copy(data);
		json_object_set_new(slim, "steps", json_string("left out: the body would pass 512 KiB"));
		body = notify_body(c, e, type, ts, slim);
		json_decref(slim);
	}
	return body;
}

static size_t pending_count(const struct md_notify *n)
{
	size_t p = 0;
	for (size_t i = 0; i < n->n; i++)
		p += n->list[i]->state == D_PENDING;
	return p;
}

/* A new delivery of an event to endpoint e, journaled. Caller holds the lock. */
static int queue_one(struct md_notify *n, const struct notify_endpoint *e, const char *type, const char *ts,
		     json_t *data, int64_t now)
{
	char uuid[MD_HISTORY_ID_LEN + 1];
	struct md_error err = {0};
	struct delivery *d = calloc(1, sizeof *d);
	if (!d || !(d->body = body_for(&n->conf->c, e, type, ts, data)) || append(n, d) < 0) {
		delivery_free(d);
		return MD_E_NOMEM;
	}
	md_history_new_id(uuid);
	snprintf(d->id, sizeof d->id, "msg_%s", uuid);
	snprintf(d->endpoint, sizeof d->endpoint, "%s", e->name);
	snprintf(d->event, sizeof d->event, "%s", type);
	const char *job = strncmp(type, "job.", 4) == 0 ? json_string_value(json_object_get(data, "id")) : NULL;
	snprintf(d->job, sizeof d->job, "%s", job ? job : "");
	d->created_ms = d->next_ms = now;
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s?, s:s?}", "type", "delivery", "id", d->id,
				"endpoint", e->name, "event", type, "body", d->body, "created_at", (json_int_t)now,
				"signed_with", e->key_len ? e->name : NULL, "job", job);
	int r = rec ? md_journal_append(n->journal, rec, NULL, &err) : md_error_set(&err, MD_E_NOMEM, "out of memory");
	json_decref(rec);
	if (r < 0)
		/* Kept in memory all the same: sent unless the daemon stops first. */
		md_log(MD_LOG_ERROR, "notify: cannot record %s for %s in the outbox (sent from memory only): %s", type,
		       e->name, err.message);
	return r < 0 ? r : 1;
}

int md_notify_emit(struct md_notify *n, const char *type, json_t *data)
{
	char ts[32];
	int queued = 0, r = 0;
	if (!n || !type)
		return 0;
	int64_t now = notify_now_ms();
	notify_iso(now, ts);
	pthread_mutex_lock(&n->lock);
	const struct notify_conf *c = &n->conf->c;
	json_t *d = c->n ? enrich(c, data) : NULL;
	for (size_t i = 0; d && i < c->n; i++) {
		const struct notify_endpoint *e = &c->endpoints[i];
		if (!notify_endpoint_wants(e, type) || is_disabled(n, e->name))
			continue;
		int q = queue_one(n, e, type, ts, d, now);
		if (q == MD_E_NOMEM) {
			r = q;
			md_log(MD_LOG_ERROR, "notify: out of memory queueing %s for %s", type, e->name);
			break;
		}
		queued++;
		if (q < 0)
			r = q;
	}
	/* The bound: past it the oldest pending delivery is given up. */
	for (size_t i = 0; i < n->n && pending_count(n) > MD_NOTIFY_MAX_PENDING; i++)
		if (n->list[i]->state == D_PENDING)
			settle(n, n->list[i], D_GAVE_UP, "given up: more than 10000 deliveries were pending");
	json_decref(d);
	if (queued) {
		md_log(MD_LOG_DEBUG, "notify: %s queued for %d endpoint%s", type, queued, queued == 1 ? "" : "s");
		pthread_cond_broadcast(&n->wake);
	}
	pthread_mutex_unlock(&n->lock);
	return r < 0 ? r : queued;
}

void md_notify_event_hook(void *ctx, const char *type, json_t *data)
{
	md_notify_emit(ctx, type, data);
}

static bool knows(struct md_notify *n, const char *job, const char *event)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->list[i]->job, job) == 0 && (!event || strcmp(n->list[i]->event, event) == 0))
			return true;
	return false;
}

int md_notify_catch_up(struct md_notify *n, const char *type, json_t *job)
{
	const char *id = json_string_value(json_object_get(job, "id"));
	if (!n || !id)
		return 0;
	pthread_mutex_lock(&n->lock);
	bool missing = knows(n, id, NULL) && !knows(n, id, type);
	pthread_mutex_unlock(&n->lock);
	if (!missing)
		return 0;
	int r = md_notify_emit(n, type, job);
	if (r > 0)
		md_log(MD_LOG_INFO,
		       "notify: %s of job %s was not in the outbox (the daemon stopped in between): queued now", type,
		       id);
	return r;
}

/* ---- the delivery thread ---- */

/* Backoff before attempt number attempts+1: backoff * 2^(attempts-1), capped, with jitter
 * (between half and all of it) so that endpoints failing together do not retry together. */
static int64_t backoff_ms(int base, int attempts)
{
	int64_t d = base;
	for (int i = 1; i < attempts && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (unsigned)notify_now_ms();
	return d / 2 + (int64_t)(r % (unsigned)(d / 2 + 1));
}

/* The next delivery to attempt now, or NULL with *ret_wait_ms until one is due. Settles what
 * can no longer be sent. Caller holds the lock. */
static struct delivery *next_due(struct md_notify *n, int64_t now, int64_t *ret_wait_ms)
{
	const struct notify_conf *c = &n->conf->c;
	bool head_seen[MD_NOTIFY_MAX_ENDPOINTS] = {false};
	struct delivery *best = NULL;
	int64_t wait = 60000;

	for (size_t i = 0; i < n->n; i++) {
		struct delivery *d = n->list[i];
		if (d->state != D_PENDING)
			continue;
		const struct notify_endpoint *e = notify_conf_find(c, d->endpoint);
		if (!e) {
			settle(n, d, D_GAVE_UP, "given up: no endpoint of this name in the configuration any more");
			continue;
		}
		size_t ei = (size_t)(e - c->endpoints);
		if (is_disabled(n, d->endpoint)) {
			settle(n, d, D_FAILED, "not sent: the endpoint answered 410 Gone (disabled until a reload)");
			continue;
		}
		if (now - d->created_ms > (int64_t)c->max_age_s * 1000) {
			settle(n, d, D_GAVE_UP, "given up: older than notify_max_age");
			continue;
		}
		if (head_seen[ei])
			continue; /* in order: only the oldest pending delivery of an endpoint is tried */
		head_seen[ei] = true;
		if (d->inflight)
			continue; /* one attempt at a time per endpoint */
		if (d->next_ms <= now) {
			if (!best)
				best = d;
		} else if (d->next_ms - now < wait) {
			wait = d->next_ms - now;
		}
	}
	*ret_wait_ms = best ? 0 : wait;
	return best;
}

static void record(struct md_notify *n, const char *id, const struct notify_outcome *o)
{
	struct delivery *d = find(n, id);
	if (!d || d->state != D_PENDING)
		return;
	int64_t now = notify_now_ms();
	d->attempts++;
	d->last_status = o->status > 0 ? o->status : 0;
	snprintf(d->last_error, sizeof d->last_error, "%s", o->error);
	if (o->ok) {
		d->delivered_ms = now;
		settle(n, d, D_DELIVERED, NULL);
		md_log(MD_LOG_DEBUG, "notify: %s %s delivered to %s (attempt %d)", d->event, d->id, d->endpoint,
		       d->attempts);
	} else if (o->disable) {
		if (!is_disabled(n, d->endpoint) && n->n_disabled < MD_NOTIFY_MAX_ENDPOINTS)
			snprintf(n->disabled[n->n_disabled++], NOTIFY_NAME_MAX, "%s", d->endpoint);
		settle(n, d, D_FAILED, NULL);
		md_log(MD_LOG_WARNING, "notify: %s answered 410 Gone: disabled until the configuration is reloaded",
		       d->endpoint);
	} else {
		d->next_ms = now + backoff_ms(n->conf->c.backoff_ms, d->attempts);
		count(n, d->endpoint, 3);
		journal_outcome(n, d);
		md_log(d->attempts == 1 ? MD_LOG_WARNING : MD_LOG_DEBUG,
		       "notify: %s %s to %s failed (attempt %d): %s; retrying", d->event, d->id, d->endpoint,
		       d->attempts, d->last_error);
	}
	trim(n);
	maybe_compact(n);
}

static void *deliver_thread(void *arg)
{
	struct md_notify *n = arg;
	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		int64_t wait_ms;
		struct delivery *d = next_due(n, notify_now_ms(), &wait_ms);
		if (!d) {
			struct timespec until;
			md_clock_deadline(CLOCK_MONOTONIC, wait_ms, &until);
			pthread_cond_timedwait(&n->wake, &n->lock, &until);
			continue;
		}
		/* The attempt runs without the lock, on a reference to the configuration. */
		struct conf_ref *ref = n->conf;
		ref->refs++;
		const struct notify_endpoint *e = notify_conf_find(&ref->c, d->endpoint);
		char id[48];
		char *body = strdup(d->body);
		snprintf(id, sizeof id, "%s", d->id);
		d->inflight = true;
		pthread_mutex_unlock(&n->lock);
		struct notify_outcome o = {.status = -1};
		if (body)
			notify_attempt(e, id, body, ref->c.timeout_ms, ref->c.ca, n->state_dir, &n->cancel, &o);
		else
			snprintf(o.error, sizeof o.error, "out of memory");
		free(body);
		conf_unref(n, ref);
		pthread_mutex_lock(&n->lock);
		struct delivery *done = find(n, id);
		if (done)
			done->inflight = false;
		if (o.ok || !n->cancel) /* an attempt cut by the stop is not one: it is made again after the restart */
			record(n, id, &o);
		pthread_cond_broadcast(&n->wake); /* the endpoint's next delivery may go now */
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

/* ---- open, reload, close ---- */

/* As many delivery threads as endpoints (at least one): each endpoint has at most one attempt
 * under way, so a hanging endpoint holds its own thread and never another's deliveries. Idle
 * threads cost a stack mapping each, little of it resident. Caller holds the lock. Returns 0,
 * or -errno when a thread cannot be started (those started keep working). */
static int grow_threads(struct md_notify *n)
{
	size_t want = n->conf->c.n ? n->conf->c.n : 1;
	while (n->n_threads < want && n->n_threads < MD_NOTIFY_MAX_ENDPOINTS) {
		int r = pthread_create(&n->threads[n->n_threads], NULL, deliver_thread, n);
		if (r != 0)
			return -r;
		n->n_threads++;
	}
	return 0;
}

int md_notify_open(const struct md_config *cfg, struct md_notify **ret, struct md_error *err)
{
	char path[4096];
	struct md_notify *n = calloc(1, sizeof *n);
	int r;

	if (!n || !(n->conf = calloc(1, sizeof *n->conf)) || !(n->state_dir = strdup(cfg->state_dir))) {
		if (n)
			free(n->conf);
		free(n);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	n->conf->refs = 1;
	pthread_mutex_init(&n->lock, NULL);
	md_clock_cond_init(&n->wake);
	r = notify_conf_load(cfg, &n->conf->c, err);
	snprintf(path, sizeof path, "%s/notify.jsonl", cfg->state_dir);
	if (r == 0)
		r = md_journal_open(path, replay, n, &n->journal, NULL, err);
	if (r < 0) {
		md_notify_close(n);
		return r;
	}
	int64_t now = notify_now_ms();
	size_t pending = 0;
	for (size_t i = 0; i < n->n; i++)
		if (n->list[i]->state == D_PENDING) {
			n->list[i]->next_ms = now; /* a restart retries at once */
			pending++;
		}
	trim(n);
	if (pending)
		md_log(MD_LOG_INFO, "notify: %zu deliver%s pending from before the restart", pending,
		       pending == 1 ? "y" : "ies");
	pthread_mutex_lock(&n->lock);
	r = grow_threads(n);
	pthread_mutex_unlock(&n->lock);
	if (r < 0) {
		md_notify_close(n);
		return md_error_set(err, MD_E_INTERNAL, "cannot start the notification threads: %s", strerror(-r));
	}
	if (n->conf->c.n)
		md_log(MD_LOG_INFO, "notify: %zu endpoint%s", n->conf->c.n, n->conf->c.n == 1 ? "" : "s");
	*ret = n;
	return 0;
}

int md_notify_reconfigure(struct md_notify *n, const struct md_config *cfg, struct md_error *err)
{
	struct conf_ref *fresh = calloc(1, sizeof *fresh);
	if (!fresh)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = notify_conf_load(cfg, &fresh->c, err);
	if (r < 0) {
		free(fresh);
		return r;
	}
	fresh->refs = 1;
	pthread_mutex_lock(&n->lock);
	struct conf_ref *old = n->conf;
	n->conf = fresh;
	n->n_disabled = 0;
	if ((r = grow_threads(n)) < 0)
		md_log(MD_LOG_WARNING, "notify: cannot start another delivery thread (%s): endpoints share %zu",
		       strerror(-r), n->n_threads);
	pthread_cond_broadcast(&n->wake);
	pthread_mutex_unlock(&n->lock);
	conf_unref(n, old);
	md_log(MD_LOG_INFO, "notify: %zu endpoint%s after the reload", fresh->c.n, fresh->c.n == 1 ? "" : "s");
	return 0;
}

void md_notify_close(struct md_notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	n->cancel = 1;
	pthread_cond_broadcast(&n->wake);
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < n->n_threads; i++)
		pthread_join(n->threads[i], NULL);
	for (size_t i = 0; i < n->n; i++)
		delivery_free(n->list[i]);
	free(n->list);
	md_journal_close(n->journal);
	if (n->conf) {
		notify_conf_clear(&n->conf->c);
		free(n->conf);
	}
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n->state_dir);
	free(n);
}

/* ---- reading ---- */

static json_t *iso_or_null(int64_t ms)
{
	char buf[32];
	if (!ms)
		return json_null();
	notify_iso(ms, buf);
	return json_string(buf);
}

json_t *md_notify_list(struct md_notify *n, size_t limit)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	pthread_mutex_lock(&n->lock);
	for (size_t i = n->n; i-- > 0 && json_array_size(arr) < limit;) {
		const struct delivery *d = n->list[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", d->id, "endpoint", d->endpoint, "event",
				      d->event, "state", dstate_names[d->state], "attempts", d->attempts);
		if (!o)
			continue;
		json_object_set_new(o, "last_status", d->last_status ? json_integer(d->last_status) : json_null());
		json_object_set_new(o, "last_error", d->last_error[0] ? json_string(d->last_error) : json_null());
		json_object_set_new(o, "next_attempt_at",
				    d->state == D_PENDING ? iso_or_null(d->next_ms) : json_null());
		json_object_set_new(o, "created_at", iso_or_null(d->created_ms));
		json_object_set_new(o, "delivered_at", iso_or_null(d->delivered_ms));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&n->lock);
	return json_pack("{s:o}", "deliveries", arr);
}

void md_notify_metrics_write(struct md_notify *n, FILE *out)
{
	static const char *const outcomes[] = {"delivered", "failed", "gave_up", "retried"};
	char labels[256], esc[2 * NOTIFY_NAME_MAX];
	size_t pending = 0;
	int64_t oldest = 0, now = notify_now_ms();

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	md_metrics_family(out, "migrated_notify_deliveries_total", "counter",
			  "Notification outcomes by endpoint: delivered, failed (410), gave_up, retried (an attempt "
			  "that failed and will be retried).");
	for (size_t i = 0; i < n->n_stats; i++)
		for (size_t o = 0; o < 4; o++) {
			snprintf(labels, sizeof labels, "endpoint=\"%s\",outcome=\"%s\"",
				 md_metrics_label_escape(n->stats[i].endpoint, esc, sizeof esc), outcomes[o]);
			md_metrics_sample(out, "migrated_notify_deliveries_total", labels,
					  (double)n->stats[i].outcome[o]);
		}
	for (size_t i = 0; i < n->n; i++)
		if (n->list[i]->state == D_PENDING) {
			if (!pending++)
				oldest = n->list[i]->created_ms;
		}
	pthread_mutex_unlock(&n->lock);
	md_metrics_family(out, "migrated_notify_pending", "gauge", "Notification deliveries waiting to be sent.");
	md_metrics_sample(out, "migrated_notify_pending", "", (double)pending);
	md_metrics_family(out, "migrated_notify_oldest_pending_seconds", "gauge",
			  "Age of the oldest pending notification delivery (0: none).");
	md_metrics_sample(out, "migrated_notify_oldest_pending_seconds", "", pending ? (now - oldest) / 1000.0 : 0);
}

/* ---- sending at once: the test event, and the command line ---- */

static json_t *send_all_now(const struct notify_conf *c, const char *type, json_t *data, int timeout_ms,
			    const char *tmpdir, int *ret_ok)
{
	char ts[32], uuid[MD_HISTORY_ID_LEN + 1], id[48];
	json_t *results = json_array();
	int64_t now = notify_now_ms();
	json_t *d = enrich(c, data);

	notify_iso(now, ts);
	*ret_ok = 0;
	for (size_t i = 0; results && d && i < c->n; i++) {
		const struct notify_endpoint *e = &c->endpoints[i];
		struct notify_outcome o;
		if (!notify_endpoint_wants(e, type))
			continue;
		md_history_new_id(uuid);
		snprintf(id, sizeof id, "msg_%s", uuid);
		char *body = notify_body(c, e, type, ts, d);
		double t0 = md_clock_mono_ms();
		if (body)
			notify_attempt(e, id, body, timeout_ms, c->ca, tmpdir, NULL, &o);
		else
			o = (struct notify_outcome){.error = "out of memory", .status = -1};
		free(body);
		*ret_ok += o.ok;
		json_t *r = json_pack("{s:s, s:s, s:b, s:f}", "endpoint", e->name, "id", id, "ok", o.ok, "duration_ms",
				      md_clock_mono_ms() - t0);
		json_object_set_new(r, "status", o.status > 0 ? json_integer(o.status) : json_null());
		json_object_set_new(r, "error", o.error[0] && !o.ok ? json_string(o.error) : json_null());
		json_array_append_new(results, r);
	}
	json_decref(d);
	return results;
}

json_t *md_notify_test(struct md_notify *n)
{
	int ok;
	pthread_mutex_lock(&n->lock);
	struct conf_ref *ref = n->conf;
	ref->refs++;
	pthread_mutex_unlock(&n->lock);
	json_t *data = json_pack("{s:s}", "message", "a test notification from migrated (POST /v1/notifications/test)");
	json_t *results = send_all_now(&ref->c, "test", data, ref->c.timeout_ms, n->state_dir, &ok);
	json_decref(data);
	conf_unref(n, ref);
	md_log(MD_LOG_INFO, "notify: test event: %d of %zu endpoint%s delivered", ok, json_array_size(results),
	       json_array_size(results) == 1 ? "" : "s");
	return results ? json_pack("{s:o}", "results", results) : NULL;
}

int md_notify_send_now(const struct md_config *cfg, const char *type, json_t *data, int timeout_ms,
		       struct md_error *err)
{
	struct notify_conf c = {0};
	int ok = 0, r = notify_conf_load(cfg, &c, err);
	if (r < 0)
		return r;
	if (c.n) {
		size_t i;
		json_t *res;
		json_t *results = send_all_now(&c, type, data, timeout_ms < c.timeout_ms ? timeout_ms : c.timeout_ms,
					       "/tmp", &ok);
		json_array_foreach(results, i, res) if (!json_is_true(json_object_get(res, "ok")))
			md_log(MD_LOG_WARNING, "notify: %s to %s failed: %s", type,
			       json_string_value(json_object_get(res, "endpoint")),
			       json_string_value(json_object_get(res, "error")) ?: "?");
		json_decref(results);
	}
	notify_conf_clear(&c);
	return ok;
}
