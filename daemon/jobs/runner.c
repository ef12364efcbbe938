/* runner.c - the job worker: one thread that runs one job at a time and hands it to its kind
 * (run_deploy.c, run_backup.c, run_rollback.c; resolve here), which turn what happens into
 * journal records (steps.c). It also checks jobs a crash interrupted against
 * _prisma_migrations, and compacts the journal when it grows too large. */
#include "jobs_internal.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/journal.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
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

/* ---- resolve ---- */

static void run_resolve(struct job_run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_resolve_result res = {0};
	const char *name = json_string_value(json_object_get(request, "migration"));
	const char *as = json_string_value(json_object_get(request, "as"));
	json_t *error = NULL;
	int r;

	run_step_start(run, "preflight", "preflight", NULL);
	r = run_open_database(run, 0, &cat, &err);
	if (r == 0) {
		run_step_end(run, "succeeded", NULL, NULL);
		run_step_start(run, name ? name : "?", "resolve", json_pack("{s:s?}", "as", as));
		r = md_resolve(run->db, cat, name ? name : "",
			       as && strcmp(as, "applied") == 0 ? MD_RESOLVE_APPLIED : MD_RESOLVE_ROLLED_BACK,
			       run->set.apply.advisory_lock_wait_ms, &res, &err);
	}
	if (r < 0)
		error = run_error_json(&err);
	run_step_end(run, r == 0 ? "succeeded" : run_end_state(run, r), r < 0 ? json_deep_copy(error) : NULL, NULL);
	run_end(run, r, NULL, error, md_report_resolve_json(name, as, &res));
	md_catalog_free(cat);
	run_close_database(run);
}

/* ---- interrupted jobs against _prisma_migrations ---- */

/* A down step of a rollback: did its transaction commit (every row of it rolled back)? */
static const char *reconcile_down(struct md_db *db, const char *name, const char **ret_note)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct md_error err = {0};
	_cleanup_free_ char *sql = NULL;
	const char *p[1] = {name};

	if (asprintf(&sql, "SELECT bool_and(rolled_back_at IS NOT NULL) FROM %s WHERE migration_name = $1",
		     db->history_table) < 0) {
		sql = NULL;
		return NULL;
	}
	if (md_db_query(db, sql, 1, p, &res, "checking an interrupted rollback", &err) < 0)
		return NULL;
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		*ret_note =
			"_prisma_migrations records it rolled back: its down.sql committed before the daemon stopped";
		return "succeeded";
	}
	*ret_note = "_prisma_migrations still records it applied: its down.sql did not commit (a transactional "
		    "down.sql left nothing; one run statement by statement may have left part of it)";
	return "interrupted";
}

static const char *reconcile_one(struct md_db *db, const char *name, const char **ret_note)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct md_error err = {0};
	_cleanup_free_ char *sql = NULL;
	const char *p[1] = {name};

	if (asprintf(&sql,
		     "SELECT bool_or(finished_at IS NOT NULL AND rolled_back_at IS NULL), "
		     "bool_or(finished_at IS NULL AND rolled_back_at IS NULL), "
		     "(array_agg(id ORDER BY started_at DESC) FILTER (WHERE finished_at IS NULL AND rolled_back_at IS "
		     "NULL AND logs IS NULL))[1] FROM %s WHERE migration_name = $1",
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
		/* The row's id says how it ran (unfinished.h): only one transaction left nothing. */
		if (!PQgetisnull(res, 0, 2) && md_history_row_writer(PQgetvalue(res, 0, 2)) == MD_WRITER_ATOMIC)
			*ret_note = "_prisma_migrations records it started, not finished: it ran as one transaction, "
				    "so nothing of it remains, and the next deploy applies it again";
		else
			*ret_note = "_prisma_migrations records it started, not finished, and part of it may remain: "
				    "`migrated status` lists what may have been committed; resolve it before the next "
				    "deploy";
		return "interrupted";
	}
	*ret_note = "no finished record in _prisma_migrations: it did not complete";
	return "interrupted";
}

/* The steps of one interrupted job against the _prisma_migrations of db. */
static void reconcile_job(struct md_jobs *jobs, struct md_db *db, const char *id, json_t *rendered)
{
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
		else if (kind && strcmp(kind, "down") == 0)
			now = reconcile_down(db, json_string_value(json_object_get(step, "name")), &note);
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
	snprintf(msg, sizeof msg, "checked against _prisma_migrations after the restart: %zu step%s updated", fixed,
		 fixed == 1 ? "" : "s");
	struct md_error e3 = {0};
	jobs_emit(jobs, id, json_pack("{s:s, s:s, s:s}", "type", "log", "level", "info", "message", msg), false, &e3);
}

/* Interrupted jobs, each against the database of its target; one whose database does not
 * answer stays for the next time the worker looks. */
static void reconcile_pending(struct md_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	size_t n = jobs->n_reconcile;
	pthread_mutex_unlock(&jobs->lock);
	for (size_t k = n; k-- > 0;) {
		struct md_error err = {0};
		struct md_settings_view set = {0};
		struct md_dburl *url = NULL;
		struct md_db *db = NULL;
		char id[JOB_ID_LEN + 1], target[MD_TARGET_NAME_MAX + 1] = "";

		pthread_mutex_lock(&jobs->lock);
		if (k >= jobs->n_reconcile) { /* compaction dropped some */
			pthread_mutex_unlock(&jobs->lock);
			continue;
		}
		struct job *job = jobs->reconcile[k];
		snprintf(id, sizeof id, "%s", job->id);
		if (job->target)
			snprintf(target, sizeof target, "%s", job->target);
		pthread_mutex_unlock(&jobs->lock);

		int r = md_settings_target(jobs->settings, target[0] ? target : NULL, &set, &err);
		if (r == MD_E_NOT_FOUND) {
			md_log(MD_LOG_WARNING, "interrupted job %s not checked against _prisma_migrations: %s", id,
			       err.message);
		} else if (r == 0 && set.migration_url &&
			   md_dburl_parse(set.migration_url, "migrated", set.connect_timeout_s, &url, &err) == 0 &&
			   md_db_open(url, &db, &err) == 0) {
			pthread_mutex_lock(&jobs->lock);
			job = jobs_find(jobs, id);
			json_t *rendered = job ? jobs_render(jobs, job, true) : NULL;
			pthread_mutex_unlock(&jobs->lock);
			if (rendered)
				reconcile_job(jobs, db, id, rendered);
			json_decref(rendered);
			md_db_close(db);
		} else {
			if (set.migration_url)
				md_log(MD_LOG_WARNING,
				       "interrupted job %s not yet checked against _prisma_migrations: %s", id,
				       err.message);
			md_dburl_free(url);
			md_settings_view_free(&set);
			continue; /* stays queued for the next look */
		}
		md_dburl_free(url);
		md_settings_view_free(&set);
		pthread_mutex_lock(&jobs->lock);
		for (size_t i = 0; i < jobs->n_reconcile; i++)
			if (strcmp(jobs->reconcile[i]->id, id) == 0) {
				jobs->reconcile[i] = jobs->reconcile[--jobs->n_reconcile];
				break;
			}
		pthread_mutex_unlock(&jobs->lock);
	}
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

/* Whether job is among the newest `keep` jobs of the daemon's own, counting a fleet job's
 * target jobs with their fleet job (a fleet of 500 targets must not push itself out). Fills
 * k with the ids kept. Caller holds jobs->lock. */
static bool *choose_kept(struct md_jobs *jobs, size_t keep, struct keep_set *k)
{
	bool *kept = calloc(jobs->n ? jobs->n : 1, sizeof *kept);
	k->ids = calloc(jobs->n ? jobs->n : 1, sizeof *k->ids);
	k->n = 0;
	if (!kept || !k->ids) {
		free(kept);
		free(k->ids);
		k->ids = NULL;
		return NULL;
	}
	size_t tops = 0;
	for (size_t i = jobs->n; i-- > 0 && tops < keep;)
		if (!jobs->list[i]->parent) {
			kept[i] = true;
			tops++;
		}
	for (size_t i = 0; i < jobs->n; i++) {
		const struct job *j = jobs->list[i];
		if (j->parent && !kept[i])
			for (size_t p = i; p-- > 0;)
				if (strcmp(jobs->list[p]->id, j->parent) == 0) {
					kept[i] = kept[p];
					break;
				}
		if (kept[i])
			snprintf(k->ids[k->n++], JOB_ID_LEN + 1, "%s", j->id);
	}
	return kept;
}

static void maybe_compact(struct md_jobs *jobs)
{
	struct keep_set k = {0};
	struct md_error err = {0};

	if (jobs->journal_max_bytes <= 0 || md_journal_size(jobs->journal) <= (uint64_t)jobs->journal_max_bytes)
		return;
	pthread_mutex_lock(&jobs->wlock);
	jobs_emit_drain(jobs);
	pthread_mutex_lock(&jobs->lock);
	bool *kept = choose_kept(jobs, (size_t)jobs->journal_keep_jobs, &k);
	pthread_mutex_unlock(&jobs->lock);
	uint64_t before = md_journal_size(jobs->journal);
	if (kept && md_journal_compact(jobs->journal, keep_newest, &k, &err) == 0) {
		pthread_mutex_lock(&jobs->lock);
		size_t w = 0;
		for (size_t i = 0; i < jobs->n; i++) {
			struct job *old = jobs->list[i];
			if (kept[i]) {
				jobs->list[w++] = old;
				continue;
			}
			for (size_t r = 0; r < jobs->n_reconcile; r++)
				if (jobs->reconcile[r] == old)
					jobs->reconcile[r] = jobs->reconcile[--jobs->n_reconcile];
			jobs_job_free(old);
		}
		jobs->n = w;
		md_journal_read_range(jobs->journal, 0, md_journal_size(jobs->journal), reindex, jobs, &err);
		pthread_mutex_unlock(&jobs->lock);
		md_log(MD_LOG_INFO,
		       "journal compacted: %llu -> %llu bytes, %zu jobs kept (journal_keep_jobs, with their fleet's "
		       "target jobs)",
		       (unsigned long long)before, (unsigned long long)md_journal_size(jobs->journal), k.n);
	} else if (kept) {
		md_log(MD_LOG_ERROR, "journal compaction failed: %s", err.message);
	}
	pthread_mutex_unlock(&jobs->wlock);
	free(kept);
	free(k.ids);
}

/* ---- the worker loop ---- */

void run_job_kind(struct job_run *run, enum md_job_kind kind, json_t *request)
{
	if (!run_prepare(run, request))
		return;
	run_emit(run, json_pack("{s:s, s:s}", "type", "state", "state", "running"), true);
	md_log(MD_LOG_INFO, "job %s: %s%s%s%s started", run->id, md_job_kind_name(kind),
	       run->set.target ? " of target " : "", run->set.target ? run->set.target : "",
	       json_is_true(json_object_get(request, "dry_run")) ? " (dry run)" : "");
	switch (kind) {
	case MD_JOB_RESOLVE:
		run_set_progress(run, "resolving %.200s", json_string_value(json_object_get(request, "migration")));
		run_resolve(run, request);
		break;
	case MD_JOB_BACKUP:
		run_set_progress(run, "backing up: checking the database");
		run_backup(run, request);
		break;
	case MD_JOB_ROLLBACK:
		run_set_progress(run, "rolling back: checking");
		run_rollback(run, request);
		break;
	case MD_JOB_DEPLOY:
		run_set_progress(run, "deploying: checking the migrations");
		run_deploy(run, request);
		break;
	case MD_JOB_FLEET_DEPLOY:
		run_set_progress(run, "fleet deploy: starting");
		run_fleet(run, request);
		break;
	default: { /* MD_JOB_UNKNOWN: replayed from a journal this version cannot read */
		struct md_error uerr = {0};
		md_error_set(&uerr, MD_E_INTERNAL, "this daemon does not know how to run a job of this kind");
		run_end(run, MD_E_INTERNAL, "failed", run_error_json(&uerr), NULL);
		break;
	}
	}
}

static void run_job(struct md_jobs *jobs, struct job *job)
{
	struct job_run run = {.jobs = jobs, .job = job, .ctl = &jobs->top};
	json_t *request;

	snprintf(run.id, sizeof run.id, "%s", job->id);
	pthread_mutex_lock(&jobs->lock);
	request = json_incref(job->request);
	enum md_job_kind kind = job->kind;
	bool cancelled_early = job->cancel_requested, shutting = jobs->shutting_down;
	job->ctl = &jobs->top;
	pthread_mutex_unlock(&jobs->lock);

	md_log_context(run.id, NULL);
	if (cancelled_early || shutting) {
		run_emit(&run,
			 json_pack("{s:s, s:s, s:{s:s, s:s}, s:n}", "type", "end", "state",
				   cancelled_early ? "cancelled" : "interrupted", "error", "code",
				   cancelled_early ? "cancelled" : "interrupted", "message",
				   cancelled_early ? "cancelled before it started"
						   : "the daemon shut down before it started",
				   "result"),
			 true);
	} else {
		run_job_kind(&run, kind, request);
	}
	jobs_set_progress(jobs, NULL);
	pthread_mutex_lock(&jobs->lock);
	enum md_job_state final = job->state;
	job->ctl = NULL;
	pthread_mutex_unlock(&jobs->lock);
	md_log_context(run.id, NULL);
	md_log(final == MD_JOB_SUCCEEDED ? MD_LOG_INFO : MD_LOG_WARNING, "job %s: %s %s", run.id,
	       md_job_kind_name(kind), md_job_state_name(final));
	md_log_context(NULL, NULL);
	md_settings_view_free(&run.set);
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
		while (!(jobs->active && jobs->active->state == MD_JOB_QUEUED) && !jobs->shutting_down) {
			/* Idle: sleep until work comes or the next periodic drift check is due. */
			int64_t wait = jobs_drift_wait_ms(jobs);
			if (wait < 0) {
				pthread_cond_wait(&jobs->work, &jobs->lock);
				continue;
			}
			if (wait > 0) {
				struct timespec dl;
				md_clock_deadline(CLOCK_MONOTONIC, wait, &dl);
				pthread_cond_timedwait(&jobs->work, &jobs->lock, &dl);
				continue;
			}
			pthread_mutex_unlock(&jobs->lock);
			jobs_drift_periodic(jobs);
			pthread_mutex_lock(&jobs->lock);
		}
		if (jobs->active && jobs->active->state == MD_JOB_QUEUED) {
			job = jobs->active;
			jobs->top.cancel = 0;
			jobs->top.stop = jobs->shutting_down; /* a journal failure stopped only the job it hit */
		}
		pthread_mutex_unlock(&jobs->lock);
		if (!job)
			break; /* shutting down, nothing queued */
		reconcile_pending(jobs);
		run_job(jobs, job);
		pthread_mutex_lock(&jobs->lock);
		md_job_metrics_job_ended(job->kind, job->state, json_is_true(json_object_get(job->request, "dry_run")));
		if (jobs->active == job) /* else a submission already replaced the ended job */
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
