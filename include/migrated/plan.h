/* plan.h - the migrations folder compared with `_prisma_migrations`: one state per migration
 * with Prisma's rules (a name with a row whose rolled_back_at is NULL is not pending; such a
 * row without finished_at is failed), plus what Prisma's deploy does not look at: edited
 * applied files (checksum, Prisma's tolerant comparison) and rows whose folder is gone, and
 * tells a migration another session is running now from one that failed. Pure. */
#ifndef MIGRATED_PLAN_H
#define MIGRATED_PLAN_H

#include "migrated/history.h"

#include <stdbool.h>
#include <stddef.h>

struct md_catalog;
struct md_migration;
struct md_history;
struct md_history_row;
struct md_error;

enum md_mig_state {
	MD_MIG_APPLIED = 0, /* finished, not rolled back, file unchanged */
	MD_MIG_PENDING,     /* no row at all: deploy applies it */
	MD_MIG_FAILED,      /* a row neither finished nor rolled back: deploy refuses (P3009) */
	MD_MIG_ROLLED_BACK, /* only rolled-back rows: deploy applies it again */
	MD_MIG_MODIFIED,    /* applied, but migration.sql changed since (checksum differs) */
	MD_MIG_MISSING,     /* applied or failed in the database, folder gone from the catalog */
	MD_MIG_RUNNING,     /* unfinished, and another session holds the migration lock: in progress */
	MD_MIG__COUNT
};

struct md_plan_item {
	const char *name; /* borrowed (catalog or history) */
	enum md_mig_state state;
	struct md_migration *mig;            /* catalog entry; NULL when missing */
	const struct md_history_row *row;    /* the row that decides the state; NULL if none */
	size_t n_rows;                       /* history rows with this name */
	bool interrupted;                    /* failed with no logs: the process running it died */
	enum md_row_writer writer;           /* who started the deciding row, from its id */
	const struct md_lock_holder *holder; /* running: the session running it (borrowed) */
	bool sql_missing;                    /* folder present, migration.sql absent */
};

struct md_plan {
	struct md_plan_item *items; /* folder order, then missing rows; owned */
	size_t n;
	size_t count[MD_MIG__COUNT];
	size_t n_catalog; /* migrations in the folder */
	bool history_exists;
};

/* md_plan_build: both inputs must outlive the plan. Returns 0 or MD_E_NOMEM. */
int md_plan_build(const struct md_catalog *cat, const struct md_history *hist, struct md_plan **ret,
		  struct md_error *err);
void md_plan_free(struct md_plan *plan);

/* A row counts as running when the migration lock's holder connected no later than this after
 * the row started: Prisma stamps started_at with its own clock, which may run behind the
 * server's. */
#define MD_RUNNING_CLOCK_SKEW_US (60 * 1000000LL)
/* md_plan_to_apply: whether deploy would apply this item (pending or rolled back). */
bool md_plan_item_to_apply(const struct md_plan_item *it);
/* md_plan_up_to_date: nothing pending, failed, rolled back, modified or missing. */
bool md_plan_up_to_date(const struct md_plan *plan);
/* md_mig_state_name: "applied", "pending", "failed", "rolled_back", "modified", "missing",
 * "running". */
const char *md_mig_state_name(enum md_mig_state s);

#endif
