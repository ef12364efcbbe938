/* deploy.c - the deploy sequence (see deploy.h). Every check that can refuse runs before the
 * first change, so a refused deploy leaves history exactly as it found it. */
#include "migrated/clock.h"
#include "migrated/deploy.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/macro.h"
#include "migrated/plan.h"
#include "migrated/sqlsplit.h"
#include "migrated/strbuf.h"
#include "migrated/unfinished.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int push_name(char ***list, size_t *n, const char *name)
{
	char **p = realloc(*list, (*n + 1) * sizeof *p);
	if (!p)
		return MD_E_NOMEM;
	*list = p;
	if (!(p[*n] = strdup(name)))
		return MD_E_NOMEM;
	(*n)++;
	return 0;
}

static void free_names(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void md_deploy_report_free(struct md_deploy_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_pending && r->planned; i++)
		free(r->planned[i].name);
	free(r->planned);
	for (size_t i = 0; i < r->n_applied; i++)
		free(r->applied[i].name);
	free(r->applied);
	md_failure_clear(&r->failure);
	free_names(r->recovered, r->n_recovered);
	free_names(r->modified, r->n_modified);
	free_names(r->missing, r->n_missing);
	memset(r, 0, sizeof *r);
}

/* A failed row that deploy may recover by itself: migrated started it in one transaction (its
 * id says so), so the server rolled it back and nothing of it remains (unfinished.c). */
static bool recoverable(const struct md_plan_item *it)
{
	struct md_unfinished u;
	md_unfinished_assess(it, &u);
	return u.recoverable;
}

/* Prisma's P3009 wording, one account per failed row of what may remain, and the next step. */
static int refuse_failed(const struct md_plan *plan, struct md_error *err)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	const char *first = NULL;
	bool may_remain = false;

	md_strbuf_puts(&sb,
		       "migrate found failed migrations in the target database, new migrations will not be applied:");
	for (size_t i = 0; i < plan->n; i++) {
		const struct md_plan_item *it = &plan->items[i];
		struct md_unfinished u;
		if (it->state != MD_MIG_FAILED || recoverable(it))
			continue;
		md_unfinished_assess(it, &u);
		may_remain |= u.remains != MD_REMAINS_NOTHING;
		if (!first)
			first = it->name;
		/* Prisma's wording and time format: "2024-01-02 10:00:00.123 UTC". */
		const char *iso = it->row ? it->row->started_at : "?";
		md_strbuf_printf(&sb, "\n  The `%s` migration started at %.10s %.12s UTC failed", it->name, iso,
				 strlen(iso) > 11 ? iso + 11 : "");
		if (!it->mig)
			md_strbuf_puts(&sb, " (its folder is no longer in the migrations folder)");
		md_strbuf_puts(&sb, ": ");
		md_unfinished_describe(it, 12, &sb);
	}
	md_error_prisma(err, "P3009");
	md_error_set(err, MD_E_FAILED_EXISTS, "%s", md_strbuf_cstr(&sb));
	if (may_remain)
		md_error_hint(err,
			      "nothing after a failed migration is applied until it is resolved. Look at what "
			      "took effect (listed above): undo it and run `migrated resolve --rolled-back \"%s\"`, "
			      "then fix the file and deploy again; or complete the migration by hand and run "
			      "`migrated resolve --applied \"%s\"`. See https://pris.ly/d/migrate-resolve",
			      first ? first : "NAME", first ? first : "NAME");
	else
		md_error_hint(err,
			      "nothing after a failed migration is applied until it is resolved. Nothing of it "
			      "remains: fix migration.sql and run `migrated resolve --rolled-back \"%s\"`, then "
			      "deploy again; if you applied it by hand instead, run `migrated resolve --applied "
			      "\"%s\"`. See https://pris.ly/d/migrate-resolve",
			      first ? first : "NAME", first ? first : "NAME");
	md_strbuf_free(&sb);
	return MD_E_FAILED_EXISTS;
}

int md_deploy_check_failed(const struct md_plan *plan, struct md_error *err)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->items[i].state == MD_MIG_FAILED && !recoverable(&plan->items[i]))
			return refuse_failed(plan, err);
	return 0;
}

/* Checks every pending file and splits it; fills scripts[] and the planned list. */
static int check_pending(const struct md_plan *plan, int server_version_num, struct md_sqlscript *scripts,
			 struct md_deploy_report *rep, struct md_error *err)
{
	size_t k = 0;

	for (size_t i = 0; i < plan->n; i++) {
		const struct md_plan_item *it = &plan->items[i];
		struct md_planned *pl;
		int r;

		if (!md_plan_item_to_apply(it))
			continue;
		pl = &rep->planned[k];
		if (!(pl->name = strdup(it->name)))
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		rep->n_pending = ++k;
		if (!it->mig->has_sql) {
			md_error_prisma(err, "P3015");
			md_error_hint(err,
				      "restore %s/%s/migration.sql, or delete that folder if it is not a migration",
				      "<migrations>", it->name);
			return md_error_set(err, MD_E_CATALOG,
					    "Could not find the migration file at %s/migration.sql. Please delete the "
					    "directory or restore the migration file.",
					    it->name);
		}
		if (!it->mig->utf8_ok) {
			size_t off = it->mig->utf8_bad_offset, line = 1;
			for (size_t j = 0; j < off; j++)
				line += it->mig->sql[j] == '\n';
			md_error_hint(err, "save the file as UTF-8 (iconv -f LATIN1 -t UTF-8); nothing was applied");
			return md_error_set(err, MD_E_CATALOG,
					    "migration %s: migration.sql is not valid UTF-8 (first bad byte 0x%02x at "
					    "line %zu, byte offset %zu); PostgreSQL would reject it and Prisma would "
					    "silently replace it with U+FFFD",
					    it->name, (unsigned char)it->mig->sql[off], line, off);
		}
		r = md_sqlsplit(it->mig->sql, it->mig->sql_len, &scripts[k - 1], err);
		if (r < 0) {
			md_error_hint(err, "fix the SQL; nothing was applied");
			return md_error_prefix(err, MD_E_CATALOG, "migration %s: migration.sql has an ", it->name);
		}
		pl->mode = md_apply_choose_mode(&scripts[k - 1], server_version_num, pl->reason, sizeof pl->reason);
		pl->statements = scripts[k - 1].n;
	}
	return 0;
}

static void on_lock_wait(void *ctx, const struct md_lock_holder *h, int wait_ms)
{
	const struct md_apply_hooks *hooks = ctx;
	struct md_apply_event ev = {.kind = MD_EV_LOCK_WAIT, .holder = h, .wait_ms = wait_ms};
	if (hooks && hooks->on_event)
		hooks->on_event(hooks->ctx, &ev);
}

static int load_plan(struct md_db *db, const struct md_catalog *cat, struct md_history **hist, struct md_plan **plan,
		     struct md_error *err)
{
	md_plan_free(*plan);
	md_history_free(*hist);
	*plan = NULL;
	*hist = NULL;
	int r = md_history_load(db, hist, err);
	if (r < 0)
		return r;
	return md_plan_build(cat, *hist, plan, err);
}

static void emit(const struct md_apply_hooks *hooks, const struct md_apply_event *ev)
{
	if (hooks && hooks->on_event)
		hooks->on_event(hooks->ctx, ev);
}

/* What a deploy would do now: history read, refusals decided, every pending file checked and
 * split. Computed once without the lock (preflight: refuse early, change nothing) and again
 * under it (the authoritative answer: another deployer may have changed history in between). */
struct analysis {
	struct md_history *hist;
	struct md_plan *plan;
	struct md_sqlscript *scripts; /* one per pending migration, in order */
	size_t n_scripts;
	bool history_missing;
	size_t n_recoverable;
	size_t n_running; /* run by another session now: wait for its lock before answering */
};

static void analysis_free(struct analysis *a)
{
	for (size_t i = 0; i < a->n_scripts; i++)
		md_sqlscript_free(&a->scripts[i]);
	free(a->scripts);
	md_plan_free(a->plan);
	md_history_free(a->hist);
	memset(a, 0, sizeof *a);
}

static void report_reset_lists(struct md_deploy_report *rep)
{
	for (size_t i = 0; rep->planned && i < rep->n_pending; i++)
		free(rep->planned[i].name);
	free(rep->planned);
	rep->planned = NULL;
	rep->n_pending = 0;
	free_names(rep->modified, rep->n_modified);
	free_names(rep->missing, rep->n_missing);
	free_names(rep->recovered, rep->n_recovered);
	rep->modified = rep->missing = rep->recovered = NULL;
	rep->n_modified = rep->n_missing = rep->n_recovered = 0;
}

/* locked: create the history table and record interrupted migrations as rolled back when
 * needed; otherwise only look. */
static int analyse(struct md_db *db, const struct md_catalog *cat, bool locked, const struct md_apply_hooks *hooks,
		   struct md_deploy_report *rep, struct analysis *a, struct md_error *err)
{
	bool exists;
	size_t total;
	int r;

	report_reset_lists(rep);
	/* One round trip answers both whether the table exists and what it holds. */
	r = load_plan(db, cat, &a->hist, &a->plan, err);
	if (r < 0)
		return r;
	exists = a->hist->exists;
	if (!exists) {
		long tables;
		char example[128];
		r = md_history_count_user_tables(db, &tables, example, sizeof example, err);
		if (r < 0)
			return r;
		if (tables > 0) {
			md_error_prisma(err, "P3005");
			md_error_hint(err, "baseline it: for each migration already reflected in the database run "
					   "`migrated resolve --applied NAME` (https://pris.ly/d/migrate-baseline)");
			return md_error_set(
				err, MD_E_NOT_EMPTY,
				"The database schema is not empty: schema \"%s\" has %ld table%s (\"%s\"%s) "
				"but no _prisma_migrations table, so it is not managed by migrations yet",
				db->schema, tables, tables == 1 ? "" : "s", example, tables > 1 ? ", ..." : "");
		}
		a->history_missing = true;
		if (locked) {
			r = md_history_create(db, err);
			if (r < 0)
				return r;
			rep->created_history = true;
			a->history_missing = false;
			r = load_plan(db, cat, &a->hist, &a->plan, err);
			if (r < 0)
				return r;
		}
	}
	for (size_t i = 0; i < a->plan->n; i++) {
		const struct md_plan_item *it = &a->plan->items[i];
		if (it->state == MD_MIG_MODIFIED && push_name(&rep->modified, &rep->n_modified, it->name) < 0)
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		if (it->state == MD_MIG_MISSING && push_name(&rep->missing, &rep->n_missing, it->name) < 0)
			return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	r = md_deploy_check_failed(a->plan, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < a->plan->n; i++) {
		struct md_plan_item *it = &a->plan->items[i];
		a->n_running += it->state == MD_MIG_RUNNING;
		if (it->state != MD_MIG_FAILED)
			continue;
		a->n_recoverable++;
		if (push_name(&rep->recovered, &rep->n_recovered, it->name) < 0)
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		if (locked) {
			r = md_history_mark_rolled_back(
				db, it->row->id,
				"migrated: this migration was interrupted (its process or "
				"connection ended before it finished). migrated ran it as one "
				"transaction (its id says so), so PostgreSQL rolled it back and "
				"nothing of it remained; recorded as rolled back and applied again.",
				err);
			if (r < 0)
				return r;
			struct md_apply_event ev = {.kind = MD_EV_RECOVERED,
						    .migration = it->name,
						    .message = "interrupted earlier, nothing of it remained: recorded "
							       "rolled back, applying it again"};
			emit(hooks, &ev);
		}
		it->state = MD_MIG_ROLLED_BACK; /* what it is once recorded */
	}
	total = 0;
	for (size_t i = 0; i < a->plan->n; i++)
		total += md_plan_item_to_apply(&a->plan->items[i]);
	rep->planned = calloc(total ? total : 1, sizeof *rep->planned);
	a->scripts = calloc(total ? total : 1, sizeof *a->scripts);
	if (!rep->planned || !a->scripts)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	r = check_pending(a->plan, db->server_version_num, a->scripts, rep, err);
	a->n_scripts = rep->n_pending;
	return r;
}

/* The pending migrations in order: runs of pipelinable ones go pipeline_depth at a time
 * through md_apply_migrations, the others (and all of them at depth 1) one at a time. */
static int apply_all(struct md_db *db, const struct md_deploy_options *opts, const struct md_apply_hooks *hooks,
		     struct analysis *a, struct md_deploy_report *rep, struct md_error *err)
{
	size_t depth = opts->apply.pipeline_depth > 1 ? (size_t)opts->apply.pipeline_depth : 1;
	_cleanup_free_ struct md_apply_item *items = calloc(depth, sizeof *items);
	size_t k = 0;
	int r;

	rep->applied = calloc(rep->n_pending ? rep->n_pending : 1, sizeof *rep->applied);
	if (!rep->applied || !items)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	for (size_t i = 0; i < a->plan->n;) {
		struct md_plan_item *it = &a->plan->items[i];
		if (!md_plan_item_to_apply(it)) {
			i++;
			continue;
		}
		if (hooks && ((hooks->cancel && *hooks->cancel) || (hooks->stop && *hooks->stop)))
			return md_error_set(err, MD_E_CANCELLED, "deploy stopped before %s; %zu of %zu applied",
					    it->name, rep->n_applied, rep->n_pending);
		size_t n = 0, next = i;
		while (depth > 1 && n < depth && next < a->plan->n) {
			struct md_plan_item *x = &a->plan->items[next];
			if (!md_plan_item_to_apply(x)) {
				next++;
				continue;
			}
			if (!md_apply_pipelinable(&a->scripts[k + n], db->server_version_num))
				break;
			items[n] = (struct md_apply_item){x->mig, &a->scripts[k + n]};
			n++;
			next++;
		}
		if (n > 0) {
			size_t done = 0;
			r = md_apply_migrations(db, items, n, &opts->apply, hooks, k + 1, rep->n_pending,
						&rep->applied[rep->n_applied], &done, &rep->failure, err);
			rep->n_applied += done;
			k += n;
			i = next;
			if (r < 0)
				return r;
			continue;
		}
		r = md_apply_migration(db, it->mig, &a->scripts[k], &opts->apply, hooks, k + 1, rep->n_pending,
				       &rep->applied[rep->n_applied], &rep->failure, err);
		k++;
		i++;
		if (r < 0)
			return r;
		rep->n_applied++;
	}
	return 0;
}

int md_deploy(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_options *opts,
	      const struct md_apply_hooks *hooks, struct md_deploy_report *rep, struct md_error *err)
{
	struct analysis a = {0};
	double t0 = md_clock_mono_ms(), tl;
	bool locked = false;
	int r;

	memset(rep, 0, sizeof *rep);
	rep->n_found = cat->n;
	if (db->in_recovery && !opts->dry_run) {
		md_error_hint(err, "point DATABASE_URL/DIRECT_URL at the primary, not a replica");
		return md_error_set(err, MD_E_DB,
				    "the database %s is a read-only standby (in recovery); migrations need the primary",
				    db->display);
	}
	/* Preflight: refuse early (P3005, P3009, broken files) without taking the lock. */
	r = analyse(db, cat, false, hooks, rep, &a, err);
	if (r == 0 && rep->n_pending > 0 && opts->before_lock)
		r = opts->before_lock(opts->before_lock_ctx, db, rep, err);
	if (r < 0)
		goto out;
	struct md_apply_event pre = {.kind = MD_EV_PREFLIGHT_DONE, .total = rep->n_pending};
	emit(hooks, &pre);
	if (opts->dry_run || (rep->n_pending == 0 && !a.history_missing && a.n_recoverable == 0 && a.n_running == 0))
		goto out;
	struct md_apply_event locking = {.kind = MD_EV_LOCKING};
	emit(hooks, &locking);
	r = md_lock_acquire(db, opts->apply.advisory_lock_wait_ms, on_lock_wait, (void *)hooks, err);
	if (r < 0)
		goto out;
	locked = true;
	tl = md_clock_mono_ms();
	rep->lock_wait_ms = tl - t0;
	struct md_apply_event lk = {.kind = MD_EV_LOCKED, .duration_ms = rep->lock_wait_ms};
	emit(hooks, &lk);
	/* Under the lock: the authoritative plan (history may have moved since the preflight). */
	analysis_free(&a);
	r = analyse(db, cat, true, hooks, rep, &a, err);
	if (r == 0 && rep->n_pending > 0 && opts->before_apply)
		r = opts->before_apply(opts->before_apply_ctx, rep, err);
	if (r == 0)
		r = apply_all(db, opts, hooks, &a, rep, err);
out:
	if (locked && md_db_alive(db) && PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		struct md_error ignored;
		md_lock_release(db, &ignored);
	}
	analysis_free(&a);
	rep->total_ms = md_clock_mono_ms() - t0;
	return r;
}
