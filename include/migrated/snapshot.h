/* snapshot.h - the daemon's cached answer to "where do the migrations stand": the folder,
 * _prisma_migrations and the plan between them, rendered once (JSON, text) and shared by every
 * request until it is older than the cache age, so status polling at thousands of requests a
 * second costs no SQL. Refreshing blocks (catalog read, one query on a pooled connection): call it off the HTTP
 * threads. Views are reference-counted and immutable. */
#ifndef MIGRATED_SNAPSHOT_H
#define MIGRATED_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrated/error.h"
#include "migrated/plan.h"

struct md_config;
struct md_pool;
struct md_snapshot;

enum md_snapshot_format {
	MD_SNAP_JSON,   /* compact JSON (the status shape of the API) */
	MD_SNAP_PRETTY, /* indented JSON */
	MD_SNAP_TEXT,   /* the table `migrated status --all` prints */
};

struct md_snapshot_view {
	int64_t taken_us;      /* CLOCK_MONOTONIC microseconds when it was built */
	bool ok;               /* the folder and the database could be read */
	struct md_error error; /* why not, when !ok */
	bool blocked;          /* a failed migration blocks deploys (P3009) */
	struct md_error block; /* the refusal deploy would give, when blocked */
	size_t pending;        /* migrations a deploy would apply */
	size_t total;
	size_t count[MD_MIG__COUNT]; /* migrations by state (applied, pending, failed, ...) */
	char running[512];           /* "NAME (pid 42, application \"prisma\", connected at ...)" or "" */
	/* private below */
	char *body[3];
	size_t len[3];
	int refs;
	void *lock;
};

/* md_snapshot_open: reads go through pool (borrowed; must outlive the snapshot). */
int md_snapshot_open(const struct md_config *cfg, struct md_pool *pool, struct md_snapshot **ret, struct md_error *err);
/* md_snapshot_open_dir: the same for the migrations folder dir (a target of the targets file). */
int md_snapshot_open_dir(const char *dir, struct md_pool *pool, struct md_snapshot **ret, struct md_error *err);
/* md_snapshot_get: the newest view if it is younger than max_age_ms (and not invalidated),
 * else NULL. The view is the caller's reference. Never blocks on the database. */
struct md_snapshot_view *md_snapshot_get(struct md_snapshot *snap, int max_age_ms);
/* md_snapshot_refresh: a view no older than max_age_ms, building one when needed (blocking;
 * concurrent callers share one build). Never NULL except out of memory; a view of a database
 * that does not answer has ok = false. */
struct md_snapshot_view *md_snapshot_refresh(struct md_snapshot *snap, int max_age_ms);
/* md_snapshot_try_refresh: as refresh, unless another caller is building one: then the last
 * view, however old (NULL if none yet). For the health probe, which must not stall. */
struct md_snapshot_view *md_snapshot_try_refresh(struct md_snapshot *snap, int max_age_ms);
/* md_snapshot_invalidate: the next get() returns NULL (a job changed the history). */
void md_snapshot_invalidate(struct md_snapshot *snap);
/* md_snapshot_body: the view rendered in format (built on first use, then kept). */
const char *md_snapshot_body(struct md_snapshot_view *view, enum md_snapshot_format format, size_t *ret_len);
void md_snapshot_view_ref(struct md_snapshot_view *view);
void md_snapshot_view_unref(struct md_snapshot_view *view);
void md_snapshot_close(struct md_snapshot *snap);

#endif
