/* rollback.h - the down-migration workflow Prisma documents but never records, tracked: run
 * the down.sql of every migration applied after a target, newest first, each in its own
 * transaction together with the history update that marks it rolled back (rolled_back_at, as
 * `prisma migrate resolve --rolled-back` leaves a row), so a later deploy applies them again.
 * Everything is checked before anything runs: a migration in range without a down.sql (or
 * whose folder is gone) refuses the whole rollback and is named. A failed migration in range
 * whose transaction left nothing is only recorded rolled back; one that may have left partial
 * work needs its down.sql like the rest. Under Prisma's advisory lock, with deploy's timeouts. */
#ifndef MIGRATED_ROLLBACK_H
#define MIGRATED_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "migrated/apply.h"

struct md_catalog;
struct md_db;
struct md_error;
struct md_plan;

struct md_rollback_item {
	const char *name;  /* borrowed from the plan */
	bool run_down;     /* false: failed, nothing of it remained; only recorded */
	bool has_down;     /* its down.sql exists */
	bool folder;       /* its folder exists */
	const char *state; /* "applied", "modified", "failed", "missing" */
};

struct md_rollback_range {
	struct md_rollback_item *items; /* newest first; owned */
	size_t n;
	size_t n_without_down; /* items that would need a down.sql and have none */
};

/* md_rollback_range_build: what a rollback to `to` would undo on this plan (the catalog loaded
 * with MD_CATALOG_PROBE_DOWN or _LOAD_DOWN). MD_E_ROLLBACK when to is not an applied migration
 * (the message says what it is); the range is filled even when items lack a down.sql (check
 * n_without_down). Free with md_rollback_range_free. */
int md_rollback_range_build(const struct md_plan *plan, const char *to, int server_version_num,
			    struct md_rollback_range *ret, struct md_error *err);
void md_rollback_range_free(struct md_rollback_range *r);
/* md_rollback_range_refusal: MD_E_ROLLBACK naming every item without a down.sql, or 0. */
int md_rollback_range_refusal(const struct md_rollback_range *r, const char *to, struct md_error *err);

struct md_rollback_report {
	size_t n_planned;   /* migrations in range */
	char **rolled_back; /* done, in order; owned */
	size_t n_rolled_back;
	struct md_applied *runs;   /* per rolled-back migration (mode, duration); owned */
	struct md_failure failure; /* when a down.sql failed */
	double lock_wait_ms, total_ms;
};

/* md_rollback_down: see above. Events as deploy's (MD_EV_PREFLIGHT_DONE with total,
 * MD_EV_LOCKING, MD_EV_LOCKED, one MIGRATION_START/DONE/FAILED per item). Errors:
 * MD_E_ROLLBACK (refused: nothing changed), MD_E_LOCK_TIMEOUT, MD_E_MIGRATION (a down.sql
 * failed: the ones before it stay rolled back, it and the rest stay applied), MD_E_CANCELLED,
 * MD_E_CONNECT, MD_E_DB. The catalog must be loaded with MD_CATALOG_LOAD_DOWN. */
int md_rollback_down(struct md_db *db, const struct md_catalog *cat, const char *to,
		     const struct md_apply_options *opts, const struct md_apply_hooks *hooks,
		     struct md_rollback_report *ret, struct md_error *err);
void md_rollback_report_free(struct md_rollback_report *r);

#endif
