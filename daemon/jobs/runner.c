/* runner.c - the job worker: one thread that runs one job at a time on the engine (md_deploy,
 * md_resolve) and turns what happens into journal records through jobs_emit: a step for the
 * preflight, one for the migration lock, one per migration, one to verify; log lines for lock
 * waits, retries and recoveries; an end record with the outcome. It also checks jobs a crash
 * interrupted against _prisma_migrations, and compacts the journal when it grows too large. */
#include "jobs_internal.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/journal.h"
#include "migrated/log.h"
#include "migrated/metrics.h"
#include "migrated/macro.h"
#include "migrated/plan.h"
#include "migrated/report.h"
#include "migrated/resolve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct run {
	struct md_jobs *jobs;
	struct job *job;
	char id[JOB_ID_LEN + 1];
	size_t next_index;
	json_t *step; /* the open step, owned; NULL when none is open */
	double step_t0;
	struct md_db *db;
	bool journal_failed;
	struct job_settings set; /* copied when the job starts */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void emit(struct run *run, json_t *rec, bool must)
{
	struct md_error err = {0};
	if (jobs_emit(run->jobs, run->id, rec, must, &err) < 0 && !run->journal_failed) {
		/* Nothing more can be recorded: stop after the running migration. */
		run->journal_failed = true;
		run->jobs->stop = 1;
		md_log(MD_LOG_ERROR, "job %s: the journal cannot be written (%s): stopping after the running migration",
		       run->id, err.message);
	}
}

static void log_line(struct run *run, const char *level, const char *message)
{
	emit(run, json_pack("{s:s, s:s, s:s}", "type", "log", "level", level, "message", message), false);
}

static void step_start(struct run *run, const char *name, const char *kind, json_t *extra)
{
	char ts[32];
	jobs_now_iso(ts);
	json_decref(run->step);
	run->step = json_pack("{s:I, s:s, s:s, s:s, s:s, s:n, s:n, s:n}", "index", (json_int_t)run->next_index++,
			      "name", name, "kind", kind, "state", "running", "started_at", ts, "finished_at",
			      "duration_ms", "error");
	if (extra) {
		json_object_update(run->step, extra);
		json_decref(extra);
	}
	run->step_t0 = now_ms();
	emit(run, json_pack("{s:s, s:O}", "type", "step", "step", run->step), false);
}

/* Ends the open step (if any); error and extra are taken over (may be NULL). */
static void step_end(struct run *run, const char *state, json_t *error, json_t *extra)
{
	char ts[32];
	if (!run->step) {
		json_decref(error);
		json_decref(extra);
		return;
	}
	jobs_now_iso(ts);
	json_object_set_new(run->step, "state", json_string(state));
	json_object_set_new(run->step, "finished_at", json_string(ts));
	json_object_set_new(run->step, "duration_ms", json_real(now_ms() - run->step_t0));
	json_object_set_new(run->step, "error", error ? error : json_null());
	if (extra) {
		json_object_update(run->step, extra);
		json_decref(extra);
	}
	emit(run, json_pack("{s:s, s:O}", "type", "step", "step", run->step), true);
	json_decref(run->step);
	run->step = NULL;
}

/* The error object of an md_error: {"code", "message", "prisma_code", "sqlstate", "hint"}. */
static json_t *error_json(const struct md_error *err)
{
	json_t *full = md_report_error_json(err); /* {"error": {"code", "message", "detail"}} */
	json_t *e = json_object_get(full, "error");
	json_t *o =
		json_pack("{s:s, s:s}", "code", json_string_value(json_object_get(e, "code")), "message", err->message);
	json_object_update(o, json_object_get(e, "detail"));
	json_decref(full);
	return o;
}

/* ---- deploy ---- */

static void deploy_event(void *ctx, const struct md_apply_event *ev)
{
	struct run *run = ctx;
	char msg[1400], who[1024];

	switch (ev->kind) {
	case MD_EV_PREFLIGHT_DONE:
		step_end(run, "succeeded", NULL, json_pack("{s:I}", "pending", (json_int_t)ev->total));
		break;
	case MD_EV_LOCKING:
		jobs_set_progress(run->jobs, "deploying: taking the migration lock");
		step_start(run, "lock", "lock", json_pack("{s:I}", "key", (json_int_t)MD_PRISMA_LOCK_KEY));
		break;
	case MD_EV_LOCK_WAIT:
		md_lock_holder_describe(ev->holder, who, sizeof who);
		snprintf(msg, sizeof msg, "waiting up to %.1f s for the migration lock, held by %s",
			 ev->wait_ms / 1000.0, who);
		log_line(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		jobs_set_progress(run->jobs, "deploying: waiting for the migration lock held by %.200s", who);
		break;
	case MD_EV_LOCKED:
		md_metrics_lock_waited(ev->duration_ms / 1000.0);
		step_end(run, "succeeded", NULL, json_pack("{s:f}", "wait_ms", ev->duration_ms));
		break;
	case MD_EV_RECOVERED:
		snprintf(msg, sizeof msg, "%s: %s", ev->migration, ev->message);
		log_line(run, "warning", msg);
		break;
	case MD_EV_MIGRATION_START:
		md_log_context(run->id, ev->migration);
		jobs_set_progress(run->jobs, "deploying %zu/%zu %s", ev->index, ev->total, ev->migration);
		step_start(run, ev->migration, "migration",
			   json_pack("{s:s, s:s?, s:I}", "mode", md_apply_mode_name(ev->mode), "mode_reason",
				     ev->mode_reason, "statements", (json_int_t)ev->statements));
		break;
	case MD_EV_RETRY:
		md_metrics_lock_retry();
		snprintf(msg, sizeof msg, "%s: %s", ev->migration, ev->message);
		log_line(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		break;
	case MD_EV_MIGRATION_DONE:
		md_metrics_migration_applied(ev->duration_ms / 1000.0);
		md_log(MD_LOG_INFO, "job %s: %s applied in %.0f ms (%s)", run->id, ev->migration, ev->duration_ms,
		       md_apply_mode_name(ev->mode));
		md_log_context(run->id, NULL);
		step_end(run, "succeeded", NULL, NULL);
		break;
	case MD_EV_STATEMENT:
	case MD_EV_MIGRATION_FAILED: /* recorded from the failure after md_deploy returns */ break;
	}
}

static void remember_connection(struct run *run, struct md_db *db)
{
	pthread_mutex_lock(&run->jobs->lock);
	if (run->jobs->pgcancel)
		PQfreeCancel(run->jobs->pgcancel);
	run->jobs->pgcancel = db ? PQgetCancel(db->conn) : NULL;
	bool cancelled = run->jobs->cancel;
	pthread_mutex_unlock(&run->jobs->lock);
	if (db && cancelled && run->jobs->pgcancel) {
		char errbuf[256];
		PQcancel(run->jobs->pgcancel, errbuf, sizeof errbuf);
	}
}

static int open_database(struct run *run, struct md_catalog **ret_cat, struct md_error *err)
{
	struct md_dburl *url = NULL;
	int r = md_catalog_load(run->jobs->migrations_dir, 0, ret_cat, err);
	if (r < 0)
		return r;
	if (!run->set.migration_url)
		return md_error_set(err, MD_E_CONFIG, "no database configured: set DATABASE_URL (or DIRECT_URL)");
	r = md_dburl_parse(run->set.migration_url, "migrated", run->set.connect_timeout_s, &url, err);
	if (r == 0)
		r = md_dburl_require_session(url, "the migration URL", err);
	if (r == 0)
		r = md_db_open(url, &run->db, err);
	md_dburl_free(url);
	if (r == 0)
		remember_connection(run, run->db);
	return r;
}

static const char *end_state(struct run *run, int r)
{
	if (r == 0)
		return "succeeded";
	if (r == MD_E_CANCELLED) {
		pthread_mutex_lock(&run->jobs->lock);
		bool by_user = run->job->cancel_requested;
		pthread_mutex_unlock(&run->jobs->lock);
		return by_user ? "cancelled" : "interrupted";
	}
	return "failed";
}

static json_t *names(char **list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static int verify(struct run *run, const struct md_catalog *cat, struct md_error *err)
{
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;
	int r;

	step_start(run, "verify", "verify", NULL);
	r = md_history_load(run->db, &hist, err);
	if (r == 0)
		r = md_plan_build(cat, hist, &plan, err);
	if (r == 0) {
		size_t not_applied =
			plan->count[MD_MIG_PENDING] + plan->count[MD_MIG_FAILED] + plan->count[MD_MIG_ROLLED_BACK];
		if (not_applied)
			r = md_error_set(err, MD_E_MIGRATION,
					 "%zu migration%s of the folder %s not applied after the deploy (another "
					 "tool changed the history, or folders were added meanwhile)",
					 not_applied, not_applied == 1 ? "" : "s", not_applied == 1 ? "is" : "are");
		else
			step_end(run, "succeeded", NULL,
				 json_pack("{s:I}", "applied", (json_int_t)plan->count[MD_MIG_APPLIED]));
	}
	if (r < 0)
		step_end(run, "failed", error_json(err), NULL);
	md_plan_free(plan);
	md_history_free(hist);
	return r;
}

static void run_deploy(struct run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_deploy_report rep = {0};
	struct md_deploy_options opts = {0};
	struct md_apply_hooks hooks = {deploy_event, run, &run->jobs->cancel, &run->jobs->stop};
	json_t *result, *error = NULL;
	int r;

	opts.apply = run->set.apply;
	opts.dry_run = json_is_true(json_object_get(request, "dry_run"));
	step_start(run, "preflight", "preflight", NULL);
	r = open_database(run, &cat, &err);
	if (r == 0)
		r = md_deploy(run->db, cat, &opts, &hooks, &rep, &err);
	if (r < 0) {
		const char *state = strcmp(end_state(run, r), "succeeded") ? end_state(run, r) : "failed";
		if (rep.failure.present)
			md_log_context(run->id, rep.failure.migration);
		md_log_sql(MD_LOG_ERROR, err.sqlstate[0] ? err.sqlstate : rep.failure.sqlstate, "job %s: %s", run->id,
			   err.message);
		error = error_json(&err);
		if (rep.failure.present)
			json_object_set_new(error, "failure", md_report_failure_json(&rep.failure));
		step_end(run, state, json_deep_copy(error), NULL);
	} else if (!opts.dry_run && rep.n_applied > 0) {
		jobs_set_progress(run->jobs, "deploying: verifying");
		r = verify(run, cat, &err);
		if (r < 0)
			error = error_json(&err);
	}
	if (run->step) /* the preflight of a no-op deploy ends with its event; anything else open ends now */
		step_end(run, r == 0 ? "succeeded" : "failed", NULL, NULL);
	result = json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:o, s:b, s:f, s:f}", "dry_run", opts.dry_run, "found",
			   (json_int_t)rep.n_found, "pending", (json_int_t)rep.n_pending, "applied",
			   (json_int_t)rep.n_applied, "recovered", names(rep.recovered, rep.n_recovered), "modified",
			   names(rep.modified, rep.n_modified), "missing", names(rep.missing, rep.n_missing),
			   "created_history_table", rep.created_history, "lock_wait_ms", rep.lock_wait_ms,
			   "duration_ms", rep.total_ms);
	if (opts.dry_run && r == 0) {
		json_t *full = md_report_deploy_json(&rep, r, &err);
		json_object_set(result, "planned", json_object_get(full, "planned"));
		json_decref(full);
	}
	emit(run,
	     json_pack("{s:s, s:s, s:o, s:o}", "type", "end", "state", end_state(run, r), "error",
		       error ? error : json_null(), "result", result),
	     true);
	remember_connection(run, NULL);
	md_deploy_report_free(&rep);
	md_catalog_free(cat);
	md_db_close(run->db);
	run->db = NULL;
}

/* ---- resolve ---- */

static void run_resolve(struct run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_resolve_result res = {0};
	const char *name = json_string_value(json_object_get(request, "migration"));
	const char *as = json_string_value(json_object_get(request, "as"));
	json_t *error = NULL;
	int r;

	step_start(run, "preflight", "preflight", NULL);
	r = open_database(run, &cat, &err);
	if (r == 0) {
		step_end(run, "succeeded", NULL, NULL);
		step_start(run, name ? name : "?", "resolve", json_pack("{s:s?}", "as", as));
		r = md_resolve(run->db, cat, name ? name : "",
			       as && strcmp(as, "applied") == 0 ? MD_RESOLVE_APPLIED : MD_RESOLVE_ROLLED_BACK,
			       run->set.apply.advisory_lock_wait_ms, &res, &err);
	}
	if (r < 0)
		error = error_json(&err);
	step_end(run, r == 0 ? "succeeded" : end_state(run, r), r < 0 ? json_deep_copy(error) : NULL, NULL);
	emit(run,
	     json_pack("{s:s, s:s, s:o, s:{s:s?, s:s?, s:i, s:b}}", "type", "end", "state", end_state(run, r), "error",
		       error ? error : json_null(), "result", "migration", name, "as", as, "rows_marked_rolled_back",
		       res.rows_changed, "created_history_table", res.created_history),
	     true);
	remember_connection(run, NULL);
	md_catalog_free(cat);
	md_db_close(run->db);
	run->db = NULL;
}

/* ---- interrupted jobs against _prisma_migrations ---- */

static const char *reconcile_one(struct md_db *db, const char *name, const char **ret_note)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct md_error err = {0};
	_cleanup_free_ char *sql = NULL;
	const char *p[1] = {name};

	if (asprintf(&sql,
		     "SELECT bool_or(finished_at IS NOT NULL AND rolled_back_at IS NULL), "
		     "bool_or(finished_at IS NULL AND rolled_back_at IS NULL) FROM %s WHERE migration_name = $1",
		     db->history_table) < 0) {
		sql = NULL;
		return NULL;
	}
	if (md_db_query(db, sql, 1, p, &res, "checking an interrupted migration", &err) < 0)
		return NULL;
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		*ret_note = "_prisma_migrations records it finished: it was applied before the daemon stopped";
		return "succeeded";
	}
	if (PQgetvalue(res, 0, 1)[0] == 't') {
		*ret_note =
			"_prisma_migrations records it started, not finished: the next deploy applies it again when "
			"it runs as one transaction, otherwise it needs resolve";
		return "interrupted";
	}
	*ret_note = "no finished record in _prisma_migrations: it did not complete";
	return "interrupted";
}

static void reconcile_pending(struct md_jobs *jobs)
{
	struct md_error err = {0};
	struct md_dburl *url = NULL;
	struct md_db *db = NULL;

	struct job_settings set;

	pthread_mutex_lock(&jobs->lock);
	size_t n = jobs->n_reconcile;
	pthread_mutex_unlock(&jobs->lock);
	if (n == 0)
		return;
	jobs_settings(jobs, &set);
	if (!set.migration_url ||
	    md_dburl_parse(set.migration_url, "migrated", set.connect_timeout_s, &url, &err) < 0 ||
	    md_db_open(url, &db, &err) < 0) {
		if (set.migration_url)
			md_log(MD_LOG_WARNING, "interrupted jobs not yet checked against _prisma_migrations: %s",
			       err.message);
		md_dburl_free(url);
		jobs_settings_free(&set);
		return;
	}
	md_dburl_free(url);
	jobs_settings_free(&set);
	for (;;) {
		pthread_mutex_lock(&jobs->lock);
		if (jobs->n_reconcile == 0) {
			pthread_mutex_unlock(&jobs->lock);
			break;
		}
		struct job *job = jobs->reconcile[--jobs->n_reconcile];
		json_t *rendered = jobs_render(jobs, job, true);
		char id[JOB_ID_LEN + 1];
		snprintf(id, sizeof id, "%s", job->id);
		pthread_mutex_unlock(&jobs->lock);
		size_t i, fixed = 0;
		json_t *step;
		json_array_foreach(json_object_get(rendered, "steps"), i, step)
		{
			const char *state = json_string_value(json_object_get(step, "state"));
			const char *kind = json_string_value(json_object_get(step, "kind"));
			const char *note = NULL, *now;
			if (!state || strcmp(state, "running") != 0)
				continue;
			if (kind && strcmp(kind, "migration") == 0)
				now = reconcile_one(db, json_string_value(json_object_get(step, "name")), &note);
			else
				now = "interrupted", note = "the daemon stopped during this step";
			if (!now)
				continue;
			json_t *upd = json_deep_copy(step);
			json_object_set_new(upd, "state", json_string(now));
			json_object_set_new(upd, "reconciled", json_string(note));
			struct md_error e2 = {0};
			jobs_emit(jobs, id, json_pack("{s:s, s:o}", "type", "step", "step", upd), false, &e2);
			fixed++;
		}
		char msg[200];
		snprintf(msg, sizeof msg, "checked against _prisma_migrations after the restart: %zu step%s updated",
			 fixed, fixed == 1 ? "" : "s");
		struct md_error e3 = {0};
		jobs_emit(jobs, id, json_pack("{s:s, s:s, s:s}", "type", "log", "level", "info", "message", msg), false,
			  &e3);
		json_decref(rendered);
	}
	md_db_close(db);
}

/* ---- compaction ---- */

struct keep_set {
	char (*ids)[JOB_ID_LEN + 1];
	size_t n;
};

static bool keep_newest(void *ctx, const json_t *rec)
{
	const struct keep_set *k = ctx;
	const char *job = json_string_value(json_object_get(rec, "job"));
	if (!job)
		return false;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->ids[i], job) == 0)
			return true;
	return false;
}

static int reindex(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct md_jobs *jobs = ctx;
	const char *id = json_string_value(json_object_get(rec, "job"));
	(void)err;
	for (size_t i = 0; id && i < jobs->n; i++)
		if (strcmp(jobs->list[i]->id, id) == 0) {
			if (strcmp(json_string_value(json_object_get(rec, "type")), "job") == 0)
				jobs->list[i]->first_offset = offset;
			jobs->list[i]->last_offset = offset;
			break;
		}
	return 0;
}

static void maybe_compact(struct md_jobs *jobs)
{
	struct keep_set k = {0};
	struct md_error err = {0};

	if (jobs->journal_max_bytes <= 0 || md_journal_size(jobs->journal) <= (uint64_t)jobs->journal_max_bytes)
		return;
	pthread_mutex_lock(&jobs->wlock);
	pthread_mutex_lock(&jobs->lock);
	size_t keep = (size_t)jobs->journal_keep_jobs < jobs->n ? (size_t)jobs->journal_keep_jobs : jobs->n;
	k.ids = calloc(keep ? keep : 1, sizeof *k.ids);
	for (size_t i = 0; k.ids && i < keep; i++)
		snprintf(k.ids[k.n++], JOB_ID_LEN + 1, "%s", jobs->list[jobs->n - keep + i]->id);
	pthread_mutex_unlock(&jobs->lock);
	uint64_t before = md_journal_size(jobs->journal);
	if (k.ids && md_journal_compact(jobs->journal, keep_newest, &k, &err) == 0) {
		pthread_mutex_lock(&jobs->lock);
		size_t drop = jobs->n - keep;
		for (size_t i = 0; i < drop; i++) {
			struct job *old = jobs->list[i];
			for (size_t r = 0; r < jobs->n_reconcile; r++)
				if (jobs->reconcile[r] == old)
					jobs->reconcile[r] = jobs->reconcile[--jobs->n_reconcile];
			jobs_job_free(old);
		}
		memmove(jobs->list, jobs->list + drop, keep * sizeof *jobs->list);
		jobs->n = keep;
		md_journal_read_range(jobs->journal, 0, md_journal_size(jobs->journal), reindex, jobs, &err);
		pthread_mutex_unlock(&jobs->lock);
		md_log(MD_LOG_INFO, "journal compacted: %llu -> %llu bytes, %zu jobs kept (journal_keep_jobs)",
		       (unsigned long long)before, (unsigned long long)md_journal_size(jobs->journal), keep);
	} else if (k.ids) {
		md_log(MD_LOG_ERROR, "journal compaction failed: %s", err.message);
	}
	pthread_mutex_unlock(&jobs->wlock);
	free(k.ids);
}

/* ---- the worker loop ---- */

static void run_job(struct md_jobs *jobs, struct job *job)
{
	struct run run = {.jobs = jobs, .job = job};
	json_t *request;

	snprintf(run.id, sizeof run.id, "%s", job->id);
	pthread_mutex_lock(&jobs->lock);
	request = json_incref(job->request);
	enum md_job_kind kind = job->kind;
	bool cancelled_early = job->cancel_requested, shutting = jobs->shutting_down;
	pthread_mutex_unlock(&jobs->lock);

	jobs_settings(jobs, &run.set);
	md_log_context(run.id, NULL);
	if (cancelled_early || shutting) {
		emit(&run,
		     json_pack("{s:s, s:s, s:{s:s, s:s}, s:n}", "type", "end", "state",
			       cancelled_early ? "cancelled" : "interrupted", "error", "code",
			       cancelled_early ? "cancelled" : "interrupted", "message",
			       cancelled_early ? "cancelled before it started"
					       : "the daemon shut down before it started",
			       "result"),
		     true);
	} else {
		emit(&run, json_pack("{s:s, s:s}", "type", "state", "state", "running"), true);
		md_log(MD_LOG_INFO, "job %s: %s%s started", run.id, md_job_kind_name(kind),
		       json_is_true(json_object_get(request, "dry_run")) ? " (dry run)" : "");
		if (kind == MD_JOB_RESOLVE) {
			jobs_set_progress(jobs, "resolving %.200s",
					  json_string_value(json_object_get(request, "migration")));
			run_resolve(&run, request);
		} else {
			jobs_set_progress(jobs, "deploying: checking the migrations");
			run_deploy(&run, request);
		}
	}
	jobs_set_progress(jobs, NULL);
	pthread_mutex_lock(&jobs->lock);
	enum md_job_state final = job->state;
	pthread_mutex_unlock(&jobs->lock);
	md_log_context(run.id, NULL);
	md_log(final == MD_JOB_SUCCEEDED ? MD_LOG_INFO : MD_LOG_WARNING, "job %s: %s %s", run.id,
	       md_job_kind_name(kind), md_job_state_name(final));
	md_log_context(NULL, NULL);
	jobs_settings_free(&run.set);
	json_decref(request);
	json_decref(run.step);
}

void *jobs_worker(void *arg)
{
	struct md_jobs *jobs = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the main thread */
	reconcile_pending(jobs);
	for (;;) {
		struct job *job = NULL;
		pthread_mutex_lock(&jobs->lock);
		while (!(jobs->active && jobs->active->state == MD_JOB_QUEUED) && !jobs->shutting_down)
			pthread_cond_wait(&jobs->work, &jobs->lock);
		if (jobs->active && jobs->active->state == MD_JOB_QUEUED) {
			job = jobs->active;
			jobs->cancel = 0;
			jobs->stop = jobs->shutting_down; /* a journal failure stopped only the job it hit */
		}
		pthread_mutex_unlock(&jobs->lock);
		if (!job)
			break; /* shutting down, nothing queued */
		reconcile_pending(jobs);
		run_job(jobs, job);
		pthread_mutex_lock(&jobs->lock);
		md_metrics_job_ended(job->kind, job->state, json_is_true(json_object_get(job->request, "dry_run")));
		jobs->active = NULL;
		void (*fn)(void *) = jobs->on_change;
		void *ctx = jobs->on_change_ctx;
		pthread_cond_broadcast(&jobs->work);
		pthread_mutex_unlock(&jobs->lock);
		if (fn)
			fn(ctx);
		maybe_compact(jobs);
	}
	return NULL;
}
