/* run_deploy.c - the deploy job: preflight, lock, the pre-deploy backup, one step per
 * migration, the history check, then the post-deploy verification (commands and application
 * URLs) and, when it fails and verify_on_failure = rollback, the down rollback of what this
 * deploy applied. A verification failure never restores a backup by itself. */
#include "jobs_internal.h"
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
#include "migrated/plan.h"
#include "migrated/preflight.h"
#include "migrated/report.h"
#include "migrated/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct deploy_ctx {
	struct job_run *run;
	const struct md_catalog *cat;
	bool want_backup;
	bool override_lint;      /* "override_lint": true (an admin's request: the API checked the role) */
	bool override_preflight; /* "override_preflight": true (the same) */
	json_t *backup;          /* the pre-deploy backup's record, or NULL */
	char head_before[256];   /* the newest applied migration before this deploy ("" none) */
};

/* The lint gate on what this deploy applies: findings recorded in a "lint" step; with
 * lint_gate = block an error finding stops the deploy unless an admin overrode it. */
static int lint_step(struct deploy_ctx *d, const struct md_deploy_report *rep, struct md_error *err)
{
	struct job_run *run = d->run;
	struct md_lint_options o = run->set.lint;
	struct md_lint_report lr = {0};
	int r = 0;

	if (run->set.lint_gate == MD_LINT_GATE_OFF)
		return 0;
	o.server_version_num = run->db->server_version_num;
	run_step_start(run, "lint", "lint",
		       json_pack("{s:s}", "gate", run->set.lint_gate == MD_LINT_GATE_BLOCK ? "block" : "warn"));
	for (size_t i = 0; i < rep->n_pending && r == 0; i++) {
		const struct md_migration *m = md_catalog_find(d->cat, rep->planned[i].name);
		if (m && md_lint_migration(&o, m, &lr) < 0)
			r = md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	json_t *report = md_lint_report_json(&lr, false);
	size_t errors = lr.count[MD_LINT_ERROR];
	bool blocked = r == 0 && errors && run->set.lint_gate == MD_LINT_GATE_BLOCK && !d->override_lint;
	const struct md_lint_finding *first = NULL;
	for (size_t i = 0; i < lr.n && !first; i++)
		if (lr.items[i].severity == MD_LINT_ERROR && !lr.items[i].ignored)
			first = &lr.items[i];
	if (blocked) {
		md_error_hint(err, "make the migration safe (each finding has the safe pattern), silence one with "
				   "`-- migrated:lint-ignore RULE reason` above the statement, or deploy with "
				   "{\"override_lint\": true} and an admin token");
		r = md_error_set(
			err, MD_E_LINT,
			"the lint gate refused the deploy: %zu error finding%s in the pending migrations (first: %s "
			"in %s line %u); no migration was applied",
			errors, errors == 1 ? "" : "s", first->rule, first->migration, first->line);
		run_step_end(run, "failed", run_error_json(err), json_pack("{s:o}", "lint", report));
	} else if (r < 0) {
		json_decref(report);
		run_step_end(run, "failed", run_error_json(err), NULL);
	} else {
		json_t *extra = json_pack("{s:o}", "lint", report);
		if (errors && d->override_lint) {
			char msg[400];
			pthread_mutex_lock(&run->jobs->lock);
			const char *who = run->job->actor ? run->job->actor : "(no token name)";
			snprintf(msg, sizeof msg, "lint gate overridden by %.100s: %zu error finding%s", who, errors,
				 errors == 1 ? "" : "s");
			json_object_set_new(extra, "overridden_by", json_string(who));
			pthread_mutex_unlock(&run->jobs->lock);
			run_log(run, "warning", msg);
			md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		} else if (errors || lr.count[MD_LINT_WARNING]) {
			char msg[200];
			snprintf(msg, sizeof msg,
				 "lint: %zu error%s, %zu warning%s in the pending migrations (lint_gate = warn)",
				 errors, errors == 1 ? "" : "s", lr.count[MD_LINT_WARNING],
				 lr.count[MD_LINT_WARNING] == 1 ? "" : "s");
			run_log(run, "warning", msg);
		}
		run_step_end(run, "succeeded", NULL, extra);
	}
	md_lint_report_free(&lr);
	return r;
}

/* The data preflight, in the "preflight" step before the lock and the backup (its document goes
 * into that step as "data"): with preflight_gate = block a failing finding ends the job
 * (MD_E_PREFLIGHT) unless an admin overrode it; warn records it. A dry run only records. */
static int data_preflight(struct deploy_ctx *d, const struct md_deploy_options *opts, struct md_error *err)
{
	struct job_run *run = d->run;
	int gate = run->set.preflight_gate;
	json_t *pf = NULL;
	char msg[400];
	if (gate == MD_LINT_GATE_OFF)
		return 0;
	run_set_progress(run, "deploying: asking the data preflight questions");
	int r = md_preflight_pending(run->db, run->set.preflight_url, d->cat, &opts->apply, &run->set.preflight, &pf,
				     err);
	md_job_metrics_preflight(pf);
	bool may_go = gate != MD_LINT_GATE_BLOCK || d->override_preflight || opts->dry_run;
	if (r < 0) {
		if (!may_go) {
			md_error_prefix(err, r, "the data preflight could not run, so nothing was locked or applied: ");
			return r;
		}
		snprintf(msg, sizeof msg, "the data preflight could not run: %.300s", err->message);
		run_log(run, "warning", msg);
		memset(err, 0, sizeof *err);
		return 0;
	}
	if (run->step)
		json_object_set(run->step, "data", pf);
	long long failed = (long long)json_integer_value(json_object_get(pf, "failed"));
	if (failed && !may_go) {
		json_decref(pf);
		md_error_set(
			err, MD_E_PREFLIGHT,
			"the data preflight refused the deploy: %lld pending statement%s would fail on today's data; "
			"nothing was locked, backed up or applied",
			failed, failed == 1 ? "" : "s");
		md_error_hint(err,
			      "see this step's data findings: fix the data, or deploy with \"override_preflight\": "
			      "true and an admin token");
		return MD_E_PREFLIGHT;
	}
	if (failed) {
		pthread_mutex_lock(&run->jobs->lock);
		const char *who = run->job->actor ? run->job->actor : "(no token name)";
		if (d->override_preflight && run->step)
			json_object_set_new(run->step, "overridden_by", json_string(who));
		snprintf(msg, sizeof msg, "data preflight: %lld pending statement%s would fail on today's data (%s)",
			 failed, failed == 1 ? "" : "s",
			 opts->dry_run           ? "dry run"
			 : d->override_preflight ? "overridden"
						 : "preflight_gate = warn");
		if (d->override_preflight && !opts->dry_run)
			snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " by %.100s", who);
		pthread_mutex_unlock(&run->jobs->lock);
		run_log(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
	}
	json_decref(pf);
	return 0;
}

/* Under the lock, before the first migration: the lint gate, where the schema stood, the backup. */
static int before_apply(void *ctx, const struct md_deploy_report *rep, struct md_error *err)
{
	struct deploy_ctx *d = ctx;
	struct md_history *h = NULL;
	size_t n_pending = rep->n_pending;
	int r = lint_step(d, rep, err);
	if (r < 0)
		return r;
	r = md_history_load(d->run->db, &h, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].finished_at && !h->rows[i].rolled_back_at)
			snprintf(d->head_before, sizeof d->head_before, "%s", h->rows[i].migration_name);
	md_history_free(h);
	if (!d->want_backup) {
		run_log(d->run, "warning",
			"no backup before this deploy (backup_before_deploy = false, or \"backup\": false)");
		return 0;
	}
	run_set_progress(d->run, "deploying: backing up before %zu migration%s", n_pending, n_pending == 1 ? "" : "s");
	r = run_backup_step(d->run, "pre-deploy", &d->backup, err);
	if (r < 0 && r != MD_E_CANCELLED) {
		md_error_prefix(err, r, "the backup before the deploy failed, no migration was applied: ");
	}
	return r;
}

static int check_history(struct job_run *run, const struct md_catalog *cat, struct md_error *err)
{
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;
	int r;

	run_step_start(run, "verify", "verify", NULL);
	r = md_history_load(run->db, &hist, err);
	if (r == 0)
		r = md_plan_build(cat, hist, &plan, err);
	if (r == 0) {
		size_t not_applied = plan->count[MD_MIG_PENDING] + plan->count[MD_MIG_FAILED] +
				     plan->count[MD_MIG_ROLLED_BACK] + plan->count[MD_MIG_RUNNING];
		if (not_applied)
			r = md_error_set(err, MD_E_MIGRATION,
					 "%zu migration%s of the folder %s not applied after the deploy (another "
					 "tool changed the history, or folders were added meanwhile)",
					 not_applied, not_applied == 1 ? "" : "s", not_applied == 1 ? "is" : "are");
		else
			run_step_end(run, "succeeded", NULL,
				     json_pack("{s:I}", "applied", (json_int_t)plan->count[MD_MIG_APPLIED]));
	}
	if (r < 0)
		run_step_end(run, "failed", run_error_json(err), NULL);
	md_plan_free(plan);
	md_history_free(hist);
	return r;
}

/* The configured checks, in order, one step each; stops at the first failure. */
static int verify_app(struct job_run *run, const struct md_deploy_report *rep, json_t *checks, struct md_error *err)
{
	const struct md_verify_options *o = &run->set.verify;
	char name[700], *job_env = NULL, *applied_env = NULL;
	struct md_strbuf sb = MD_STRBUF_INIT;
	int r = 0;

	for (size_t i = 0; i < rep->n_applied; i++)
		md_strbuf_printf(&sb, "%s%s", i ? "," : "", rep->applied[i].name);
	if (asprintf(&job_env, "MIGRATED_JOB_ID=%s", run->id) < 0)
		job_env = NULL;
	if (asprintf(&applied_env, "MIGRATED_APPLIED=%s", md_strbuf_cstr(&sb)) < 0)
		applied_env = NULL;
	md_strbuf_free(&sb);
	char *env[] = {job_env, applied_env, NULL};
	if (!job_env || !applied_env)
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < md_verify_count(o); i++) {
		json_t *check = NULL;
		md_verify_describe(o, i, name, sizeof name);
		run_set_progress(run, "deploying: verifying (%zu/%zu) %.200s", i + 1, md_verify_count(o), name);
		run_step_start(run, name, "verification", NULL);
		r = md_verify_run_one(o, i, env, &run->ctl->cancel, &check, err);
		run_step_end(run, r == 0 ? "succeeded" : run_end_state(run, r), r < 0 ? run_error_json(err) : NULL,
			     check ? json_pack("{s:O}", "check", check) : NULL);
		if (check)
			json_array_append_new(checks, check);
		if (r < 0)
			md_log(MD_LOG_WARNING, "job %s: verification failed: %s", run->id, err->message);
	}
	free(job_env);
	free(applied_env);
	return r;
}

/* Which migrations this deploy applied lack a down.sql (for the rollback policy). */
static json_t *without_down(const struct md_catalog *cat, const struct md_deploy_report *rep)
{
	json_t *a = json_array();
	for (size_t i = 0; i < rep->n_applied; i++) {
		struct md_migration *m = md_catalog_find(cat, rep->applied[i].name);
		struct md_error ignored;
		if (!m || md_catalog_load_down(cat, m, &ignored) < 0 || !m->has_down)
			json_array_append_new(a, json_string(rep->applied[i].name));
	}
	return a;
}

/* After a failed verification: down rollback when the policy and the files allow, otherwise
 * leave the schema. Sets the job's outcome and rewrites err's message to say what was done. */
static const char *after_failed_verification(struct job_run *run, const struct md_catalog *cat,
					     const struct md_deploy_report *rep, struct deploy_ctx *d, json_t *result,
					     struct md_error *err)
{
	md_error_prefix(err, MD_E_VERIFY, "verification failed: ");
	if (!run->set.verify.rollback_on_failure) {
		md_error_hint(err, "the migrations stay applied (verify_on_failure = fail): fix the application, or "
				   "POST /v1/rollback {\"strategy\": \"down\", \"to\": ...}");
		md_error_append(err, "; the schema is left as deployed");
		return "failed-verification";
	}
	json_t *missing = without_down(cat, rep);
	if (json_array_size(missing) > 0) {
		size_t n = json_array_size(missing);
		json_object_set_new(result, "without_down_sql", missing);
		md_error_hint(err, "add down.sql files to roll back automatically, or roll back or restore by hand");
		md_error_append(err, "; not rolled back: %zu migration%s of this deploy %s no down.sql", n,
				n == 1 ? "" : "s", n == 1 ? "has" : "have");
		return "failed-verification";
	}
	json_decref(missing);
	json_t *rb = NULL;
	struct md_error e2 = {0};
	run_log(run, "warning",
		"verification failed: rolling back this deploy with down.sql (verify_on_failure = rollback)");
	int r = run_down_steps(run, d->head_before[0] ? d->head_before : NULL, &rb, &e2);
	if (rb)
		json_object_set_new(result, "rollback", rb);
	if (r < 0) {
		md_error_hint(err, "the schema is partly rolled back: see the rollback steps; finish with POST "
				   "/v1/rollback or restore the pre-deploy backup");
		md_error_append(err, "; the rollback with down.sql failed too: %s", e2.message);
		return "failed-verification";
	}
	md_error_append(err, "; the %zu migration%s of this deploy %s rolled back", rep->n_applied,
			rep->n_applied == 1 ? "" : "s", rep->n_applied == 1 ? "was" : "were");
	return "rolled-back";
}

void run_deploy(struct job_run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_deploy_report rep = {0};
	struct md_deploy_options opts = {0};
	struct run_events rev = {run, "deploying", "migration"};
	struct md_apply_hooks hooks = {run_apply_event, &rev, &run->ctl->cancel, &run->ctl->stop};
	struct deploy_ctx d = {.run = run,
			       .override_lint = json_is_true(json_object_get(request, "override_lint")),
			       .override_preflight = json_is_true(json_object_get(request, "override_preflight"))};
	json_t *result, *error = NULL, *checks = json_array(), *extra = json_object();
	const char *outcome = NULL;
	int r;

	json_t *want = json_object_get(request, "backup");
	d.want_backup = json_is_boolean(want) ? json_is_true(want) : run->set.backup.before_deploy;
	opts.apply = run->set.apply;
	opts.dry_run = json_is_true(json_object_get(request, "dry_run"));
	opts.before_apply = before_apply;
	opts.before_apply_ctx = &d;
	run_step_start(run, "preflight", "preflight", NULL);
	r = run_open_database(run, 0, &cat, &err);
	d.cat = cat;
	if (r == 0)
		r = data_preflight(&d, &opts, &err);
	if (r == 0)
		r = md_deploy(run->db, cat, &opts, &hooks, &rep, &err);
	if (r < 0) {
		const char *state = strcmp(run_end_state(run, r), "succeeded") ? run_end_state(run, r) : "failed";
		if (rep.failure.present)
			md_log_context(run->id, rep.failure.migration);
		md_log_sql(MD_LOG_ERROR, err.sqlstate[0] ? err.sqlstate : rep.failure.sqlstate, "job %s: %s", run->id,
			   err.message);
		error = run_error_json(&err);
		if (rep.failure.present)
			json_object_set_new(error, "failure", md_report_failure_json(&rep.failure));
		run_step_end(run, state, json_deep_copy(error), NULL);
	} else if (!opts.dry_run && rep.n_applied > 0) {
		run_set_progress(run, "deploying: verifying");
		r = check_history(run, cat, &err);
		if (r == 0) /* what the schema is now, so drift between deploys shows without a shadow */
			run_record_fingerprint(run, extra);
		bool verify = !json_is_false(json_object_get(request, "verify")) && md_verify_count(&run->set.verify);
		if (r == 0 && verify) {
			r = verify_app(run, &rep, checks, &err);
			if (r == MD_E_VERIFY || r == MD_E_CONFIG) {
				outcome = after_failed_verification(run, cat, &rep, &d, extra, &err);
				r = MD_E_VERIFY;
			}
		}
		if (r < 0)
			error = run_error_json(&err);
	}
	if (run->step) /* the preflight of a no-op deploy ends with its event; anything else open ends now */
		run_step_end(run, r == 0 ? "succeeded" : "failed", NULL, NULL);
	result = json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:o, s:b, s:f, s:f}", "dry_run", opts.dry_run, "found",
			   (json_int_t)rep.n_found, "pending", (json_int_t)rep.n_pending, "applied",
			   (json_int_t)rep.n_applied, "recovered", run_names(rep.recovered, rep.n_recovered),
			   "modified", run_names(rep.modified, rep.n_modified), "missing",
			   run_names(rep.missing, rep.n_missing), "created_history_table", rep.created_history,
			   "lock_wait_ms", rep.lock_wait_ms, "duration_ms", rep.total_ms);
	if (d.backup)
		json_object_set_new(result, "backup", d.backup);
	if (json_array_size(checks))
		json_object_set(result, "verification", checks);
	if (outcome)
		json_object_set_new(result, "outcome", json_string(outcome));
	json_object_update(result, extra);
	json_decref(extra);
	if (opts.dry_run && r == 0) {
		json_t *full = md_report_deploy_json(&rep, r, &err);
		json_object_set(result, "planned", json_object_get(full, "planned"));
		json_decref(full);
	}
	run_end(run, r, NULL, error, result);
	json_decref(checks);
	md_deploy_report_free(&rep);
	md_catalog_free(cat);
	run_close_database(run);
}
