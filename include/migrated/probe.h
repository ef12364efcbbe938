/* probe.h - the health probe: a background thread that, every probe_interval, asks the
 * database what monitoring needs to know (reachable, round-trip time, server version, read-only
 * standby, connections in use against max_connections, who holds the migration lock and for how
 * long), refreshes the status snapshot (pending, failed, edited, missing migrations) and reads
 * the pool and the last job; then renders one immutable md_health that every health request
 * shares. Health polling therefore never reaches the database, at any rate. */
#ifndef MIGRATED_PROBE_H
#define MIGRATED_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "migrated/plan.h"

struct md_config;
struct md_error;
struct md_jobs;
struct md_pool;
struct md_probe;
struct md_snapshot;

enum md_health_status {
	MD_HEALTH_OK = 0,   /* everything answers and nothing needs a human */
	MD_HEALTH_DEGRADED, /* up, but something needs attention (failed migration, standby, ...) */
	MD_HEALTH_DOWN,     /* the database cannot be reached */
};

const char *md_health_status_name(enum md_health_status s);

/* A round makes at most 9 checks (process, database, read_only, connections, migration_lock,
 * pool, migrations, last_job, drift) and gives at most 5 reasons; room for a few more. */
#define MD_HEALTH_MAX_CHECKS  12
#define MD_HEALTH_MAX_REASONS 8

/* One check of a probe: what it looked at, how it stands, what to do about it. */
struct md_health_check {
	const char *name; /* static: "database", "connections", "migration_lock", ... */
	enum md_health_status status;
	char *message;  /* owned; NULL when there is nothing to say */
	json_t *detail; /* owned: the check's own figures (latency_ms, in_use, holder, ...), in order */
};

/* One probe's result, typed: the API renders it (render/report.c, md_report_health_json).
 * Immutable once published; reference counted. */
struct md_health {
	enum md_health_status status;
	bool ready;                       /* /readyz: reachable, nothing failed or edited, up to date (configurable) */
	int64_t started_us;               /* CLOCK_MONOTONIC microseconds at the start of the probe */
	int64_t taken_us;                 /* ... and at its end */
	double taken_unix;                /* wall clock of the same moment */
	double duration_ms;               /* how long the probe took */
	bool db_up;                       /* a query answered */
	double latency_ms;                /* round trip of SELECT 1, when db_up */
	int conn_failure;                 /* enum md_conn_failure when !db_up */
	int server_version;               /* 150018 */
	bool in_recovery;                 /* a read-only standby */
	int connections;                  /* client backends on the server */
	int max_connections;              /* max_connections - superuser_reserved_connections */
	bool lock_held;                   /* someone holds the migration lock */
	double lock_age_s;                /* age of the holder's session */
	bool snapshot_ok;                 /* the folder and _prisma_migrations were read */
	size_t migrations[MD_MIG__COUNT]; /* by enum md_mig_state */
	struct md_health_check checks[MD_HEALTH_MAX_CHECKS]; /* in the order they were made */
	size_t n_checks;
	const char *reasons[MD_HEALTH_MAX_REASONS]; /* why not ready: static sentences */
	size_t n_reasons;
	/* private */
	int refs;
};

/* md_probe_start: start the probe thread. It probes at once; start waits up to a second for that
 * first result so the daemon seldom serves "starting". */
int md_probe_start(const struct md_config *cfg, struct md_pool *pool, struct md_snapshot *snapshot,
		   struct md_jobs *jobs, struct md_probe **ret, struct md_error *err);
/* md_probe_get: the newest result (the caller's reference). Never blocks on the database. */
struct md_health *md_probe_get(struct md_probe *probe);
/* md_probe_now: a probe that started after the call (blocks; concurrent callers share one, and
 * rounds are at least min_gap_ms apart, so ?live=1 cannot be used to flood the database). */
struct md_health *md_probe_now(struct md_probe *probe, int min_gap_ms);
/* md_probe_kick: probe soon (a job ended; the schema changed). Does not block. */
void md_probe_kick(struct md_probe *probe);
/* md_probe_on_update: fn(ctx, health) after each new result, on the probe thread (health is
 * borrowed for the call). */
void md_probe_on_update(struct md_probe *probe, void (*fn)(void *ctx, struct md_health *h), void *ctx);
/* md_probe_reconfigure: interval, readiness rule and lock warning of cfg (SIGHUP). */
void md_probe_reconfigure(struct md_probe *probe, const struct md_config *cfg);
/* md_probe_silent_ms: how long the probe thread has given no sign of life (the watchdog stops
 * when it stalls). A round blocked on the network counts as silence. */
int64_t md_probe_silent_ms(struct md_probe *probe);
/* md_probe_add_check: one more check each round, named name (static), made by fn (a layer
 * beside the probe: the fleet's targets). fn fills msg (may leave it empty) and detail's
 * figures and returns the check's status; *ret_unready adds reason to the readiness reasons. */
typedef enum md_health_status (*md_probe_check_fn)(void *ctx, char *msg, size_t msgsz, json_t *detail,
						   bool *ret_unready);
void md_probe_add_check(struct md_probe *probe, const char *name, md_probe_check_fn fn, void *ctx, const char *reason);
void md_health_ref(struct md_health *h);
void md_health_unref(struct md_health *h);
void md_probe_stop(struct md_probe *probe);

#endif
