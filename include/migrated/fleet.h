/* fleet.h - the targets of the targets file as the running daemon sees them (issue 15): for
 * each, a small pool of its own (one connection, closed when idle, so 500 targets hold no
 * connections between probes), a status snapshot, and a probe (one thread for all targets,
 * staggered over probe_interval) that says whether it answers, what is applied, pending and
 * failed, and who holds its migration lock. Reloaded from the shared settings on SIGHUP: added
 * targets start probing, removed ones stop (a request or job using one finishes first).
 * Requests read the last probe and never wait for a target's database, except the reads that
 * need it now (status refresh, plan), which borrow the target's pool. Thread-safe. */
#ifndef MIGRATED_FLEET_H
#define MIGRATED_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "migrated/probe.h"

struct md_config;
struct md_error;
struct md_fleet;
struct md_jobs;
struct md_pool;
struct md_settings;
struct md_snapshot;

/* md_fleet_start: the targets of settings (borrowed, as jobs: they outlive the fleet) and
 * their probe thread (idle while there are none: a reload may add some). MD_E_CONFIG when a
 * target's URL is invalid (naming the target, never the URL). */
int md_fleet_start(const struct md_config *cfg, struct md_settings *settings, struct md_jobs *jobs,
		   struct md_fleet **ret, struct md_error *err);
/* md_fleet_reload: the targets and probe interval after a SIGHUP (settings already reloaded). */
void md_fleet_reload(struct md_fleet *f, const struct md_config *cfg);
/* md_fleet_count: how many targets the targets file has. */
size_t md_fleet_count(struct md_fleet *f);

/* One target borrowed for a request: its pool, snapshot and folder stay valid until
 * md_fleet_put, even if a reload removes it meanwhile. */
struct md_fleet_target {
	const char *name, *migrations_dir;
	struct md_pool *pool;
	struct md_snapshot *snapshot;
	void *priv;
};
/* md_fleet_get: target name into *ret. MD_E_NOT_FOUND (naming it) when there is none. */
int md_fleet_get(struct md_fleet *f, const char *name, struct md_fleet_target *ret, struct md_error *err);
void md_fleet_put(struct md_fleet *f, struct md_fleet_target *t);

/* md_fleet_list: the targets as GET /v1/targets lists them, in file order: [{"name",
 * "labels", "health", "applied", "pending", "failed", "last_job", "lock_holder", "checked_at",
 * "message"}], those matching selector (a checked "k=v[,k=v]" or NULL: all). */
json_t *md_fleet_list(struct md_fleet *f, const char *selector);
/* md_fleet_target_health: one target's health document for /v1/health?target= (its entry of
 * the list with "ready" and its reasons), or NULL (MD_E_NOT_FOUND in err). */
json_t *md_fleet_target_health(struct md_fleet *f, const char *name, struct md_error *err);
/* md_fleet_health_check: the "fleet" check of the daemon's health (md_probe_check_fn): down
 * targets, ones with failed migrations and ones not yet probed, with their names; at worst
 * degraded, since the daemon itself is up. *ret_unready: some target is not ready. */
enum md_health_status md_fleet_health_check(void *ctx, char *msg, size_t msgsz, json_t *detail, bool *ret_unready);
/* md_fleet_metrics_write: the per-target gauges in Prometheus text: migrated_target_up,
 * migrated_target_migrations{state}, migrated_target_lock_held, migrated_target_probe_age_seconds. */
void md_fleet_metrics_write(struct md_fleet *f, FILE *out);
/* md_fleet_stop: stop the probe and free everything (no target may be borrowed). NULL is fine. */
void md_fleet_stop(struct md_fleet *f);

#endif
