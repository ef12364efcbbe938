/* pool.h - a bounded pool of libpq connections on DATABASE_URL for everything the daemon reads
 * (status snapshots, plans, the health probe); migrations keep their own dedicated connection.
 * Connections are opened on demand up to `size`, checked before they are handed out (a backend
 * terminated under us is noticed without a query), reset when they come back (a transaction
 * left open is rolled back, a connection in an unknown state is dropped), and closed when idle
 * too long or older than their lifetime. When connecting fails, new attempts back off
 * exponentially with jitter and callers get the last error at once instead of a wait: a
 * database that is away never makes the daemon hang or spin. Thread-safe. */
#ifndef MIGRATED_POOL_H
#define MIGRATED_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "migrated/error.h"

struct md_db;
struct md_pool;

struct md_pool_options {
	int size;               /* most connections open at once (>= 1) */
	int acquire_timeout_ms; /* longest wait for a free connection */
	int idle_timeout_ms;    /* close a connection idle this long (0: never) */
	int max_lifetime_ms;    /* close a connection this old when it comes back (0: never) */
	int connect_timeout_s;  /* when the URL has none */
	int backoff_min_ms;     /* first wait after a failed connect; doubles up to backoff_max_ms */
	int backoff_max_ms;
	int statement_timeout_ms; /* set on every pooled connection (0: none): a read never hangs */
};

enum md_pool_flags {
	MD_POOL_IGNORE_BACKOFF = 1 << 0, /* connect even while backed off (the health probe, at its own pace) */
};

struct md_pool_stats {
	int size;                  /* the bound */
	int open;                  /* connections open (idle + in use) */
	int in_use;                /* handed out now */
	int waiting;               /* callers waiting for one */
	uint64_t opened;           /* connections opened since start */
	uint64_t closed;           /* connections closed since start (idle, old, broken) */
	uint64_t broken;           /* of those, found broken (terminated, reset) */
	uint64_t connect_failures; /* failed attempts to connect */
	uint64_t timeouts;         /* acquires that gave up waiting */
	int consecutive_failures;  /* failed connects since the last success */
	int64_t retry_in_ms;       /* > 0: connecting is backed off for this long */
};

/* md_pool_open: a pool on url (Prisma URL syntax); connects nothing yet. url may be NULL: every
 * acquire then fails with MD_E_CONFIG. MD_E_CONFIG for an invalid URL. */
int md_pool_open(const char *url, const struct md_pool_options *opts, struct md_pool **ret, struct md_error *err);
/* md_pool_acquire: a connection for the caller's exclusive use until md_pool_release. Waits up to
 * timeout_ms (< 0: the pool's acquire timeout) when all are in use: then MD_E_UNAVAILABLE.
 * Connect failures are MD_E_CONNECT with the classified error of md_db_open; while backed off,
 * the last such error comes back at once with "retrying in N s" appended (unless flags has
 * MD_POOL_IGNORE_BACKOFF). */
int md_pool_acquire(struct md_pool *pool, int timeout_ms, unsigned flags, struct md_db **ret, struct md_error *err);
/* md_pool_release: give a connection back (NULL is fine). A broken connection, one in an unknown
 * state or past its lifetime is closed; an open transaction is rolled back. */
void md_pool_release(struct md_pool *pool, struct md_db *db);
/* md_pool_maintain: close connections idle longer than the idle timeout. Cheap; call it often. */
void md_pool_maintain(struct md_pool *pool);
/* md_pool_set_url: connect to url from now on (SIGHUP with a new DATABASE_URL or password):
 * idle connections on the old one are closed, connections in use are closed when they come
 * back. MD_E_CONFIG for an invalid URL (the pool keeps the old one). */
int md_pool_set_url(struct md_pool *pool, const char *url, struct md_error *err);
void md_pool_stats(struct md_pool *pool, struct md_pool_stats *ret);
/* md_pool_close: close every idle connection and free the pool. None may be in use. */
void md_pool_close(struct md_pool *pool);

#endif
