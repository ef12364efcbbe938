/* rollback.c - down migrations to a target, recorded (see rollback.h). The range is decided
 * twice, like a deploy's plan: once before the lock (refuse early, change nothing) and again
 * under it (another deployer may have moved the history in between). */
#include "migrated/clock.h"
#include "migrated/rollback.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/plan.h"
#include "migrated/unfinished.h"
#include "migrated/sqlsplit.h"
#include "migrated/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool applied_state(enum md_mig_state s)
{
	return s == MD_MIG_APPLIED || s == MD_MIG_MODIFIED;
}

/* A failed migration that left nothing (unfinished.h): migrated ran it in one transaction. */
static bool failed_left_nothing(const struct md_plan_item *it)
{
	struct md_unfinished u;
	md_unfinished_assess(it, &u);
	return u.remains == MD_REMAINS_NOTHING;
}

void md_rollback_range_free(struct md_rollback_range *r)
{
	if (!r)
		return;
	free(r->items);
	memset(r, 0, sizeof *r);
}

int md_rollback_range_build(const struct md_plan *plan, const char *to, int server_version_num,
			    struct md_rollback_range *ret, struct md_error *err)
{
	const struct md_plan_item *target = NULL;
	size_t target_idx = 0;

	memset(ret, 0, sizeof *ret);
	if (to) {
		for (size_t i = 0; i < plan->n && !target; i++)
			if (strcmp(plan->items[i].name, to) == 0) {
				target = &plan->items[i];
				target_idx = i;
			}
		if (!target)
			return md_error_set(err, MD_E_ROLLBACK,
					    "no migration %s in the migrations folder or in _prisma_migrations", to);
		if (!applied_state(target->state)) {
			md_error_hint(err, "name the last migration that should stay applied (`migrated status` or GET "
					   "/v1/status lists them)");
			return md_error_set(err, MD_E_ROLLBACK,
					    "%s is %s, not applied: a rollback goes back to an applied "
					    "migration",
					    to, md_mig_state_name(target->state));
		}
	}
	ret->items = calloc(plan->n ? plan->n : 1, sizeof *ret->items);
	if (!ret->items)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	/* Newest first: folders gone from the catalog (listed last by the plan) that the database
	 * recorded after the target, then the folder's migrations after it, in reverse order. */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t k = plan->n; k-- > 0;) {
			const struct md_plan_item *it = &plan->items[k];
			bool missing = it->state == MD_MIG_MISSING;
			if ((pass == 0) != missing)
				continue;
			if (missing) {
				if (target &&
				    (!it->row || !target->row || it->row->started_us <= target->row->started_us))
					continue;
			} else if ((target && k <= target_idx) ||
				   !(applied_state(it->state) || it->state == MD_MIG_FAILED)) {
				continue;
			}
			struct md_rollback_item *ri = &ret->items[ret->n++];
			ri->name = it->name;
			ri->folder = it->mig != NULL;
			ri->has_down = it->mig && it->mig->has_down;
			ri->state = md_mig_state_name(it->state);
			ri->run_down = !(it->state == MD_MIG_FAILED && failed_left_nothing(it));
			if (ri->run_down && !ri->has_down)
				ret->n_without_down++;
		}
	return 0;
}

int md_rollback_range_refusal(const struct md_rollback_range *r, const char *to, struct md_error *err)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	if (r->n_without_down == 0)
		return 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct md_rollback_item *it = &r->items[i];
		if (!it->run_down || it->has_down)
			continue;
		md_strbuf_printf(&sb, "%s%s%s", sb.len ? ", " : "", it->name,
				 !it->folder ? " (its folder is gone)" : "");
	}
	md_error_hint(err, "write a down.sql beside each one's migration.sql that undoes it (for a failed migration: "
			   "with IF EXISTS, since part of it may not have run), or restore a backup instead");
	md_error_set(err, MD_E_ROLLBACK,
		     "cannot roll back to %s: %zu migration%s without a down.sql: %s; nothing was changed",
		     to ? to : "the start", r->n_without_down, r->n_without_down == 1 ? "" : "s", md_strbuf_cstr(&sb));
	md_strbuf_free(&sb);
	return MD_E_ROLLBACK;
}

void md_rollback_report_free(struct md_rollback_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_rolled_back; i++) {
		free(r->rolled_back[i]);
		free(r->runs[i].name);
	}
	free(r->rolled_back);
	free(r->runs);
	md_failure_clear(&r->failure);
	memset(r, 0, sizeof *r);
}

static void emit(const struct md_apply_hooks *hooks, const struct md_apply_event *ev)
{
	if (hooks && hooks->on_event)
		hooks->on_event(hooks->ctx, ev);
}

static void on_lock_wait(void *ctx, const struct md_lock_holder *h, int wait_ms)
{
	struct md_apply_event ev = {.kind = MD_EV_LOCK_WAIT, .holder = h, .wait_ms = wait_ms};
	emit(ctx, &ev);
}

/* The range on the database as it is now. */
static int analyse(struct md_db *db, const struct md_catalog *cat, const char *to, struct md_history **hist,
		   struct md_plan **plan, struct md_rollback_range *range, struct md_error *err)
{
	md_rollback_range_free(range);
	md_plan_free(*plan);
	md_history_free(*hist);
	*plan = NULL;
	*hist = NULL;
	int r = md_history_load(db, hist, err);
	if (r == 0 && !(*hist)->exists)
		r = md_error_set(err, MD_E_ROLLBACK,
				 "the database has no _prisma_migrations table: nothing to roll back");
	if (r == 0)
		r = md_plan_build(cat, *hist, plan, err);
	if (r == 0)
		r = md_rollback_range_build(*plan, to, db->server_version_num, range, err);
	if (r == 0)
		r = md_rollback_range_refusal(range, to, err);
	return r;
}

static int push(struct md_rollback_report *rep, const char *name, const struct md_applied *run, struct md_error *err)
{
	char **n = realloc(rep->rolled_back, (rep->n_rolled_back + 1) * sizeof *n);
	if (n)
		rep->rolled_back = n;
	struct md_applied *a = realloc(rep->runs, (rep->n_rolled_back + 1) * sizeof *a);
	if (a)
		rep->runs = a;
	char *copy = strdup(name);
	if (!n || !a || !copy) {
		free(copy);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	rep->rolled_back[rep->n_rolled_back] = copy;
	rep->runs[rep->n_rolled_back] = *run;
	rep->n_rolled_back++;
	return 0;
}

static int run_range(struct md_db *db, const struct md_catalog *cat, const struct md_rollback_range *range,
		     const struct md_apply_options *opts, const struct md_apply_hooks *hooks,
		     struct md_rollback_report *rep, struct md_error *err)
{
	for (size_t i = 0; i < range->n; i++) {
		const struct md_rollback_item *it = &range->items[i];
		struct md_applied run = {0};
		int r;

		if (hooks && ((hooks->cancel && *hooks->cancel) || (hooks->stop && *hooks->stop)))
			return md_error_set(err, MD_E_CANCELLED, "rollback stopped before %s; %zu of %zu rolled back",
					    it->name, rep->n_rolled_back, range->n);
		if (!it->run_down) {
			struct md_apply_event ev = {.kind = MD_EV_MIGRATION_START,
						    .migration = it->name,
						    .index = i + 1,
						    .total = range->n,
						    .mode_reason =
							    "failed, and its transaction left nothing: only recorded"};
			emit(hooks, &ev);
			double t0 = md_clock_mono_ms();
			r = md_history_roll_back_name(db, it->name, err);
			if (r < 0)
				return r;
			run.duration_ms = md_clock_mono_ms() - t0;
			ev.kind = MD_EV_MIGRATION_DONE;
			ev.duration_ms = run.duration_ms;
			emit(hooks, &ev);
		} else {
			struct md_migration *m = md_catalog_find(cat, it->name);
			struct md_sqlscript sc;
			if (!m || !m->down_sql)
				return md_error_set(err, MD_E_ROLLBACK, "down.sql of %s could not be read", it->name);
			r = md_sqlsplit(m->down_sql, m->down_len, &sc, err);
			if (r < 0) {
				md_error_prefix(err, MD_E_ROLLBACK, "%s/down.sql has an ", it->name);
				md_error_append(err, "; nothing of it ran");
				return MD_E_ROLLBACK;
			}
			r = md_apply_down(db, m, &sc, opts, hooks, i + 1, range->n, &run, &rep->failure, err);
			md_sqlscript_free(&sc);
			if (r < 0)
				return r;
			free(run.name);
			run.name = NULL;
		}
		run.name = strdup(it->name);
		if (!run.name || push(rep, it->name, &run, err) < 0) {
			free(run.name);
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		}
	}
	return 0;
}

int md_rollback_down(struct md_db *db, const struct md_catalog *cat, const char *to,
		     const struct md_apply_options *opts, const struct md_apply_hooks *hooks,
		     struct md_rollback_report *rep, struct md_error *err)
{
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;
	struct md_rollback_range range = {0};
	double t0 = md_clock_mono_ms();
	bool locked = false;
	int r;

	memset(rep, 0, sizeof *rep);
	if (db->in_recovery) {
		md_error_hint(err, "point DATABASE_URL/DIRECT_URL at the primary, not a replica");
		return md_error_set(err, MD_E_DB, "the database %s is a read-only standby (in recovery)", db->display);
	}
	r = analyse(db, cat, to, &hist, &plan, &range, err);
	if (r < 0)
		goto out;
	rep->n_planned = range.n;
	struct md_apply_event pre = {.kind = MD_EV_PREFLIGHT_DONE, .total = range.n};
	emit(hooks, &pre);
	if (range.n == 0)
		goto out;
	struct md_apply_event locking = {.kind = MD_EV_LOCKING};
	emit(hooks, &locking);
	r = md_lock_acquire(db, opts->advisory_lock_wait_ms, on_lock_wait, (void *)hooks, err);
	if (r < 0)
		goto out;
	locked = true;
	rep->lock_wait_ms = md_clock_mono_ms() - t0;
	struct md_apply_event lk = {.kind = MD_EV_LOCKED, .duration_ms = rep->lock_wait_ms};
	emit(hooks, &lk);
	r = analyse(db, cat, to, &hist, &plan, &range, err);
	if (r == 0) {
		rep->n_planned = range.n;
		r = run_range(db, cat, &range, opts, hooks, rep, err);
	}
out:
	if (locked && md_db_alive(db) && PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		struct md_error ignored;
		md_lock_release(db, &ignored);
	}
	md_rollback_range_free(&range);
	md_plan_free(plan);
	md_history_free(hist);
	rep->total_ms = md_clock_mono_ms() - t0;
	return r;
}
