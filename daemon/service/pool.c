/* pool.c - the bounded connection pool (see pool.h). Idle connections form a stack (the most
 * recently used is handed out first, so the others age out under light load); a slot is counted
 * while it connects, so the bound holds during slow connects. Connecting and closing happen
 * outside the lock. */
#include "migrated/clock.h"
#include "migrated/pool.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/log.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct idle {
	struct md_db *db;
	int64_t created_ms;
	int64_t idle_since_ms;
	unsigned generation;
};

/* What the pool remembers of a connection it handed out: when it was opened, on which URL. */
struct lent {
	struct md_db *db;
	int64_t created_ms;
	unsigned generation;
};

struct md_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed; /* a connection or a slot came free */
	struct md_pool_options o;
	struct md_dburl *url;      /* NULL: no database configured */
	unsigned generation;       /* bumped when the URL changes: older connections are closed */
	struct md_dburl **retired; /* earlier URLs, freed at close (a connect may still use one) */
	size_t n_retired;
	struct idle *idle; /* stack, [0, n_idle) */
	int n_idle;
	struct lent *lent; /* [0, n_lent) */
	int n_lent;
	int connecting;
	int waiting;
	struct md_pool_stats st;
	int64_t next_connect_ms;  /* backed off until then */
	struct md_error last_err; /* of the last failed connect */
	uint64_t rng;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t next_random(struct md_pool *p)
{
	/* xorshift64: jitter only, not security */
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 7;
	p->rng ^= p->rng << 17;
	return p->rng;
}

int md_pool_open(const char *url, const struct md_pool_options *opts, struct md_pool **ret, struct md_error *err)
{
	struct md_pool *p = calloc(1, sizeof *p);
	struct timespec ts;
	int r;

	if (!p)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	p->o = *opts;
	if (p->o.size < 1)
		p->o.size = 1;
	if (p->o.backoff_min_ms <= 0)
		p->o.backoff_min_ms = 250;
	if (p->o.backoff_max_ms < p->o.backoff_min_ms)
		p->o.backoff_max_ms = p->o.backoff_min_ms;
	p->idle = calloc((size_t)p->o.size, sizeof *p->idle);
	p->lent = calloc((size_t)p->o.size, sizeof *p->lent);
	if (!p->idle || !p->lent) {
		md_pool_close(p);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (url && *url) {
		r = md_dburl_parse(url, "migrated", p->o.connect_timeout_s, &p->url, err);
		if (r < 0) {
			md_pool_close(p);
			return r;
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	p->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
	pthread_mutex_init(&p->lock, NULL);
	md_clock_cond_init(&p->freed);
	p->st.size = p->o.size;
	*ret = p;
	return 0;
}

static int open_count(const struct md_pool *p)
{
	return p->n_idle + p->n_lent + p->connecting;
}

static void lend(struct md_pool *p, struct md_db *db, int64_t created_ms, unsigned generation)
{
	p->lent[p->n_lent++] = (struct lent){db, created_ms, generation};
}

/* Whether an idle connection can still be used: reads what the server sent meanwhile (a
 * terminated backend says so and closes) without waiting. */
static bool usable(struct md_db *db)
{
	if (!md_db_alive(db))
		return false;
	if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
		return false;
	return PQtransactionStatus(db->conn) == PQTRANS_IDLE && !PQisBusy(db->conn);
}

static void close_db(struct md_pool *p, struct md_db *db, bool broken)
{
	pthread_mutex_lock(&p->lock);
	p->st.closed++;
	if (broken)
		p->st.broken++;
	pthread_mutex_unlock(&p->lock);
	md_db_close(db);
}

static int backed_off(struct md_pool *p, int64_t now, struct md_error *err)
{
	long secs = (long)((p->next_connect_ms - now + 999) / 1000);
	*err = p->last_err;
	md_error_append(err, " (retrying in %ld s)", secs > 0 ? secs : 1);
	return err->code ? err->code : MD_E_CONNECT;
}

/* Opens a connection on url with the pool's session settings. */
static int connect_one(struct md_pool *p, const struct md_dburl *url, struct md_db **ret, struct md_error *err)
{
	int r = md_db_open(url, ret, err);
	if (r == 0 && p->o.statement_timeout_ms > 0 && !url->pgbouncer) {
		/* Session settings would leak to other clients through a transaction pooler. */
		char sql[96];
		snprintf(sql, sizeof sql, "SET statement_timeout = %d", p->o.statement_timeout_ms);
		r = md_db_exec(*ret, sql, "setting statement_timeout", err);
		if (r < 0) {
			md_db_close(*ret);
			*ret = NULL;
		}
	}
	return r;
}

int md_pool_acquire(struct md_pool *p, int timeout_ms, unsigned flags, struct md_db **ret, struct md_error *err)
{
	int64_t start = now_ms(), deadline = start + (timeout_ms < 0 ? p->o.acquire_timeout_ms : timeout_ms);
	struct md_db *db = NULL;
	int r;

	pthread_mutex_lock(&p->lock);
	if (!p->url) {
		pthread_mutex_unlock(&p->lock);
		/* The daemon runs unconfigured (a fresh package install) until a reload gives it a URL:
		 * the service is unavailable, not broken. */
		md_error_set(err, MD_E_UNAVAILABLE, "no database configured: set DATABASE_URL");
		md_error_hint(err, "set database_url in the config file and reload (systemctl reload migrated), or "
				   "write the credential /etc/migrated/database-url and restart");
		return MD_E_UNAVAILABLE;
	}
	for (;;) {
		int64_t now = now_ms();
		if (p->n_idle > 0) {
			struct idle it = p->idle[--p->n_idle];
			bool current = it.generation == p->generation;
			lend(p, it.db, it.created_ms, it.generation);
			pthread_mutex_unlock(&p->lock);
			if (!current) { /* opened on an earlier URL */
				md_pool_release(p, it.db);
				pthread_mutex_lock(&p->lock);
				continue;
			}
			if (usable(it.db)) {
				*ret = it.db;
				return 0;
			}
			/* Broken while idle (terminated, server restarted): drop it, try again. */
			md_log(MD_LOG_INFO, "pool: an idle connection was closed by the server; replacing it");
			md_pool_release(p, it.db);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (open_count(p) < p->o.size) {
			if (now < p->next_connect_ms && !(flags & MD_POOL_IGNORE_BACKOFF)) {
				r = backed_off(p, now, err);
				pthread_mutex_unlock(&p->lock);
				return r;
			}
			p->connecting++;
			const struct md_dburl *url = p->url;
			unsigned gen = p->generation;
			pthread_mutex_unlock(&p->lock);
			r = connect_one(p, url, &db, err);
			pthread_mutex_lock(&p->lock);
			p->connecting--;
			if (r == 0) {
				p->st.opened++;
				p->st.consecutive_failures = 0;
				p->next_connect_ms = 0;
				lend(p, db, now_ms(), gen);
				pthread_mutex_unlock(&p->lock);
				*ret = db;
				return 0;
			}
			p->st.connect_failures++;
			int shift = p->st.consecutive_failures < 16 ? p->st.consecutive_failures : 16;
			int64_t wait = (int64_t)p->o.backoff_min_ms << shift;
			if (wait > p->o.backoff_max_ms)
				wait = p->o.backoff_max_ms;
			wait = wait / 2 + (int64_t)(next_random(p) % (uint64_t)(wait / 2 + 1)); /* jitter: [w/2, w] */
			p->st.consecutive_failures++;
			p->next_connect_ms = now_ms() + wait;
			p->last_err = *err;
			pthread_cond_broadcast(&p->freed); /* the slot is free again */
			pthread_mutex_unlock(&p->lock);
			return r;
		}
		if (now >= deadline) {
			p->st.timeouts++;
			int size = p->o.size;
			pthread_mutex_unlock(&p->lock);
			md_error_hint(err, "retry shortly; if it persists, raise pool_size or find what holds the "
					   "connections (GET /metrics, migrated_pool_*)");
			return md_error_set(err, MD_E_UNAVAILABLE,
					    "all %d database connections of the pool are in use; gave up after %lld ms",
					    size, (long long)(now - start));
		}
		struct timespec until;
		md_clock_deadline(CLOCK_MONOTONIC, deadline - now, &until);
		p->waiting++;
		pthread_cond_timedwait(&p->freed, &p->lock, &until);
		p->waiting--;
	}
}

void md_pool_release(struct md_pool *p, struct md_db *db)
{
	int64_t created = 0, now = now_ms();
	unsigned gen = 0;
	bool keep;

	if (!db)
		return;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->n_lent; i++)
		if (p->lent[i].db == db) {
			created = p->lent[i].created_ms;
			gen = p->lent[i].generation;
			p->lent[i] = p->lent[--p->n_lent];
			break;
		}
	bool current = gen == p->generation;
	pthread_mutex_unlock(&p->lock);

	/* Reset: only an idle connection goes back; a transaction left open is rolled back. */
	keep = md_db_alive(db);
	if (keep && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGTransactionStatusType ts = PQtransactionStatus(db->conn);
		keep = false;
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
			PGresult *res = PQexec(db->conn, "ROLLBACK");
			keep = res && PQresultStatus(res) == PGRES_COMMAND_OK &&
			       PQtransactionStatus(db->conn) == PQTRANS_IDLE;
			PQclear(res);
		}
	}
	bool broken = !keep;
	if (keep && p->o.max_lifetime_ms > 0 && now - created >= p->o.max_lifetime_ms)
		keep = false;
	if (!current)
		keep = false;

	pthread_mutex_lock(&p->lock);
	if (keep && p->n_idle < p->o.size) {
		p->idle[p->n_idle++] = (struct idle){db, created, now, gen};
		db = NULL;
	}
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
	if (db)
		close_db(p, db, broken);
}

void md_pool_maintain(struct md_pool *p)
{
	struct md_db *drop[64];
	int n = 0;
	int64_t now = now_ms();

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->n_idle && n < (int)(sizeof drop / sizeof *drop);) {
		if ((p->o.idle_timeout_ms > 0 && now - p->idle[i].idle_since_ms >= p->o.idle_timeout_ms) ||
		    p->idle[i].generation != p->generation) {
			drop[n++] = p->idle[i].db;
			memmove(&p->idle[i], &p->idle[i + 1], (size_t)(p->n_idle - i - 1) * sizeof *p->idle);
			p->n_idle--;
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < n; i++)
		close_db(p, drop[i], false);
}

int md_pool_set_url(struct md_pool *p, const char *url, struct md_error *err)
{
	struct md_dburl *u = NULL;
	int r;

	if (url && *url && (r = md_dburl_parse(url, "migrated", p->o.connect_timeout_s, &u, err)) < 0)
		return r;
	pthread_mutex_lock(&p->lock);
	struct md_dburl **more = realloc(p->retired, (p->n_retired + 1) * sizeof *more);
	if (!more) {
		pthread_mutex_unlock(&p->lock);
		md_dburl_free(u);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	p->retired = more;
	if (p->url)
		p->retired[p->n_retired++] = p->url;
	p->url = u;
	p->generation++;
	/* New credentials deserve a try now, not after the old ones' backoff. */
	p->next_connect_ms = 0;
	p->st.consecutive_failures = 0;
	pthread_mutex_unlock(&p->lock);
	md_pool_maintain(p); /* closes idle connections of the old URL */
	return 0;
}

void md_pool_stats(struct md_pool *p, struct md_pool_stats *ret)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&p->lock);
	*ret = p->st;
	ret->open = p->n_idle + p->n_lent;
	ret->in_use = p->n_lent;
	ret->waiting = p->waiting;
	ret->retry_in_ms = p->next_connect_ms > now ? p->next_connect_ms - now : 0;
	pthread_mutex_unlock(&p->lock);
}

void md_pool_close(struct md_pool *p)
{
	if (!p)
		return;
	if (p->idle) {
		for (int i = 0; i < p->n_idle; i++)
			md_db_close(p->idle[i].db);
		if (p->n_lent)
			md_log(MD_LOG_WARNING, "pool: closed with %d connection%s still in use", p->n_lent,
			       p->n_lent == 1 ? "" : "s");
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->freed);
	}
	md_dburl_free(p->url);
	for (size_t i = 0; i < p->n_retired; i++)
		md_dburl_free(p->retired[i]);
	free(p->retired);
	free(p->idle);
	free(p->lent);
	free(p);
}
