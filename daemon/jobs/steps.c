/* steps.c - what every job kind of the worker shares: turning what happens into journal
 * records (steps with timings, log lines, the end), the job's own database connection (made
 * cancellable from another thread), and the error shape of a step. */
#include "jobs_internal.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"
#include "migrated/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void run_emit(struct job_run *run, json_t *rec, bool must)
{
	struct md_error err = {0};
	if (jobs_emit(run->jobs, run->id, rec, must, &err) < 0 && !run->journal_failed) {
		/* Nothing more can be recorded: stop after the running migration. */
		run->journal_failed = true;
		run->ctl->stop = 1;
		md_log(MD_LOG_ERROR, "job %s: the journal cannot be written (%s): stopping after the running migration",
		       run->id, err.message);
	}
}

void run_log(struct job_run *run, const char *level, const char *message)
{
	run_emit(run, json_pack("{s:s, s:s, s:s}", "type", "log", "level", level, "message", message), false);
}

void run_step_start(struct job_run *run, const char *name, const char *kind, json_t *extra)
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
	run->step_t0 = md_clock_mono_ms();
	run_emit(run, json_pack("{s:s, s:O}", "type", "step", "step", run->step), false);
}

void run_step_end(struct job_run *run, const char *state, json_t *error, json_t *extra)
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
	json_object_set_new(run->step, "duration_ms", json_real(md_clock_mono_ms() - run->step_t0));
	json_object_set_new(run->step, "error", error ? error : json_null());
	if (extra) {
		json_object_update(run->step, extra);
		json_decref(extra);
	}
	run_emit(run, json_pack("{s:s, s:O}", "type", "step", "step", run->step), true);
	json_decref(run->step);
	run->step = NULL;
}

void run_set_progress(struct job_run *run, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	if (run->child)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	jobs_set_progress(run->jobs, "%s", line);
}

bool run_prepare(struct job_run *run, const json_t *request)
{
	struct md_error err = {0};
	const char *target = json_string_value(json_object_get(request, "target"));
	if (md_settings_target_in(run->jobs->settings, run->targets, target, &run->set, &err) == 0)
		return true;
	memset(&run->set, 0, sizeof run->set);
	md_error_hint(&err, "the target was removed from the targets file after the job was queued");
	run_end(run, err.code, "failed", run_error_json(&err), NULL);
	return false;
}

json_t *run_error_json(const struct md_error *err)
{
	return md_report_error_fields(err);
}

/* The connection a cancel request (another thread) or a shutdown cancels on the server. */
static void remember_connection(struct job_run *run, struct md_db *db)
{
	struct run_ctl *ctl = run->ctl;
	pthread_mutex_lock(&run->jobs->lock);
	if (ctl->pgcancel)
		PQfreeCancel(ctl->pgcancel);
	ctl->pgcancel = db ? PQgetCancel(db->conn) : NULL;
	bool cancelled = ctl->cancel;
	if (db && cancelled && ctl->pgcancel) {
		char errbuf[256];
		PQcancel(ctl->pgcancel, errbuf, sizeof errbuf);
	}
	pthread_mutex_unlock(&run->jobs->lock);
}

int run_open_database(struct job_run *run, unsigned catalog_flags, struct md_catalog **ret_cat, struct md_error *err)
{
	struct md_dburl *url = NULL;
	int r = md_catalog_load(run->set.migrations_dir ? run->set.migrations_dir : run->jobs->migrations_dir,
				catalog_flags, ret_cat, err);
	if (r < 0)
		return r;
	if (!run->set.migration_url)
		return md_error_set(err, MD_E_CONFIG, "no database configured: set DATABASE_URL (or DIRECT_URL)");
	/* On a target of the targets file the application name says which daemon and job hold the
	 * lock, for another daemon's "waiting for the lock held by ..." and for pg_stat_activity;
	 * the default target's stays "migrated", as monitoring queries know it. */
	char app[64] = "migrated";
	if (run->set.target)
		snprintf(app, sizeof app, "migrated pid %ld job %.8s", (long)getpid(), run->id);
	r = md_dburl_parse(run->set.migration_url, app, run->set.connect_timeout_s, &url, err);
	if (r == 0)
		r = md_dburl_require_session(url, "the migration URL", err);
	if (r == 0)
		r = md_db_open(url, &run->db, err);
	md_dburl_free(url);
	if (r == 0 && !run->set.migration_url_direct && md_db_require_session(run->db, "DATABASE_URL", err) < 0) {
		r = err->code;
		md_db_close(run->db);
		run->db = NULL;
	}
	if (r == 0)
		remember_connection(run, run->db);
	return r;
}

void run_close_database(struct job_run *run)
{
	remember_connection(run, NULL);
	md_db_close(run->db);
	run->db = NULL;
}

const char *run_end_state(struct job_run *run, int r)
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

void run_end(struct job_run *run, int r, const char *state, json_t *error, json_t *result)
{
	run_emit(run,
		 json_pack("{s:s, s:s, s:o, s:o}", "type", "end", "state", state ? state : run_end_state(run, r),
			   "error", error ? error : json_null(), "result", result ? result : json_null()),
		 true);
}

json_t *run_names(char **list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

void run_apply_event(void *ctx, const struct md_apply_event *ev)
{
	struct run_events *rev = ctx;
	struct job_run *run = rev->run;
	char msg[1400], who[1024];
	bool up = strcmp(rev->step_kind, "migration") == 0;

	switch (ev->kind) {
	case MD_EV_PREFLIGHT_DONE:
		run_step_end(run, "succeeded", NULL,
			     json_pack("{s:I}", up ? "pending" : "to_roll_back", (json_int_t)ev->total));
		break;
	case MD_EV_LOCKING:
		run_set_progress(run, "%s: taking the migration lock", rev->verb);
		run_step_start(run, "lock", "lock", json_pack("{s:I}", "key", (json_int_t)MD_PRISMA_LOCK_KEY));
		break;
	case MD_EV_LOCK_WAIT:
		md_lock_holder_describe(ev->holder, who, sizeof who);
		snprintf(msg, sizeof msg, "waiting up to %.1f s for the migration lock, held by %s",
			 ev->wait_ms / 1000.0, who);
		run_log(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		run_set_progress(run, "%s: waiting for the migration lock held by %.200s", rev->verb, who);
		break;
	case MD_EV_LOCKED:
		md_job_metrics_lock_waited(ev->duration_ms / 1000.0);
		run_step_end(run, "succeeded", NULL, json_pack("{s:f}", "wait_ms", ev->duration_ms));
		break;
	case MD_EV_RECOVERED:
		snprintf(msg, sizeof msg, "%s: %s", ev->migration, ev->message);
		run_log(run, "warning", msg);
		break;
	case MD_EV_MIGRATION_START:
		md_log_context(run->id, ev->migration);
		run_set_progress(run, "%s %zu/%zu %s", rev->verb, ev->index, ev->total, ev->migration);
		run_step_start(run, ev->migration, rev->step_kind,
			       json_pack("{s:s, s:s?, s:I}", "mode", md_apply_mode_name(ev->mode), "mode_reason",
					 ev->mode_reason, "statements", (json_int_t)ev->statements));
		break;
	case MD_EV_RETRY:
		md_job_metrics_lock_retry();
		snprintf(msg, sizeof msg, "%s: %s", ev->migration, ev->message);
		run_log(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		break;
	case MD_EV_MIGRATION_DONE:
		if (up)
			md_job_metrics_migration_applied(ev->duration_ms / 1000.0);
		md_log(MD_LOG_INFO, "job %s: %s %s in %.0f ms (%s)", run->id, ev->migration,
		       up ? "applied" : "rolled back", ev->duration_ms, md_apply_mode_name(ev->mode));
		md_log_context(run->id, NULL);
		run_step_end(run, "succeeded", NULL, NULL);
		break;
	case MD_EV_STATEMENT:
	case MD_EV_MIGRATION_FAILED: /* recorded from the failure after the engine returns */ break;
	}
}
