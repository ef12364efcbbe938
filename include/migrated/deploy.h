/* deploy.h - `migrate deploy`, done the way production needs it: under Prisma's advisory lock,
 * history table created as Prisma creates it (refusing a non-empty unmanaged schema, P3005),
 * refusing to run past a failed migration (P3009) but recognising a migration migrated itself
 * started in one transaction whose process died (nothing of it can remain; unfinished.h) and
 * applying it again, waiting for another session that is running one, checking every pending
 * file before touching anything, then applying in Prisma's order and stopping at the first
 * failure. The CLI and the daemon's jobs both call md_deploy. */
#ifndef MIGRATED_DEPLOY_H
#define MIGRATED_DEPLOY_H

#include "migrated/apply.h"

struct md_db;
struct md_catalog;
struct md_error;
struct md_plan;
struct md_deploy_report;

struct md_deploy_options {
	struct md_apply_options apply;
	bool dry_run; /* check and plan, change nothing, take no lock */
	/* Called once under the migration lock, after the authoritative plan and before the first
	 * migration, when at least one will be applied (never for a dry run): the daemon's
	 * pre-deploy backup. A negative return aborts the deploy with that error, nothing applied. */
	int (*before_apply)(void *ctx, const struct md_deploy_report *rep, struct md_error *err);
	void *before_apply_ctx;
	/* Called once before the migration lock is taken, after the checks that need no lock,
	 * when at least one migration is pending (also for a dry run): the CLI's data preflight,
	 * on the plan deploy itself computed (no second read of the history). A negative return
	 * ends the deploy with that error: nothing locked or applied. */
	int (*before_lock)(void *ctx, struct md_db *db, const struct md_deploy_report *rep, struct md_error *err);
	void *before_lock_ctx;
};

struct md_planned {
	char *name; /* owned */
	enum md_apply_mode mode;
	char reason[256];
	size_t statements;
};

struct md_deploy_report {
	size_t n_found;             /* migrations in the folder */
	size_t n_pending;           /* to apply when the deploy started */
	struct md_planned *planned; /* the pending ones, in order; owned */
	struct md_applied *applied; /* the ones applied, in order; owned */
	size_t n_applied;
	struct md_failure failure; /* present when one failed */
	char **recovered;          /* interrupted migrations recorded rolled back; owned */
	size_t n_recovered;
	char **modified; /* applied migrations whose file changed (warning); owned */
	size_t n_modified;
	char **missing; /* applied migrations whose folder is gone (warning); owned */
	size_t n_missing;
	bool created_history; /* _prisma_migrations was created */
	double lock_wait_ms;
	double total_ms;
};

/* md_deploy: see above. Returns 0 when everything pending was applied (or would be, dry run).
 * Errors: MD_E_NOT_EMPTY (P3005), MD_E_FAILED_EXISTS (P3009), MD_E_CATALOG (P3015, a file that
 * is not UTF-8 or cannot be split), MD_E_LOCK_TIMEOUT (P1002), MD_E_MIGRATION (P3018; the
 * report's failure says which and where), MD_E_CANCELLED, MD_E_CONNECT, MD_E_DB. The report
 * is filled as far as the deploy got in every case; free it with md_deploy_report_free. */
int md_deploy(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_options *opts,
	      const struct md_apply_hooks *hooks, struct md_deploy_report *ret, struct md_error *err);
void md_deploy_report_free(struct md_deploy_report *r);

/* md_deploy_check_failed: whether a plan has a failed migration that blocks deploys (one that
 * deploy would not recover, see unfinished.h): MD_E_FAILED_EXISTS with Prisma's P3009 text,
 * what each may have left behind and the next step in err, or 0. */
int md_deploy_check_failed(const struct md_plan *plan, struct md_error *err);

#endif
