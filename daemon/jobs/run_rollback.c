/* run_rollback.c - the rollback job: "down" runs the down.sql files back to a target through
 * the rollback module, one step per migration; "restore" takes the migration lock, a fresh
 * safety backup, then restores the named backup in one transaction. Also the down rollback a
 * failed verification asks for (run_down_steps). */
#include "jobs_internal.h"
#include "migrated/advisory_lock.h"
#include "migrated/backup.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/report.h"
#include "migrated/restore.h"
#include "migrated/rollback.h"

#include <stdio.h>
#include <string.h>

int run_down_steps(struct job_run *run, const char *to, json_t **ret_result, struct md_error *err)
{
	struct md_catalog *cat = NULL;
	struct md_rollback_report rep = {0};
	struct run_events rev = {run, "rolling back", "down"};
	struct md_apply_hooks hooks = {run_apply_event, &rev, &run->ctl->cancel, &run->ctl->stop};
	int r;

	run_step_start(run, "rollback preflight", "preflight", json_pack("{s:s?}", "to", to));
	run_set_progress(run, "rolling back: checking down.sql files");
	r = md_catalog_load(run->set.migrations_dir ? run->set.migrations_dir : run->jobs->migrations_dir,
			    MD_CATALOG_LOAD_DOWN, &cat, err);
	if (r == 0)
		r = md_rollback_down(run->db, cat, to, &run->set.apply, &hooks, &rep, err);
	json_t *result = json_pack("{s:s, s:s?, s:I, s:o, s:f}", "strategy", "down", "to", to, "planned",
				   (json_int_t)rep.n_planned, "rolled_back",
				   run_names(rep.rolled_back, rep.n_rolled_back), "duration_ms", rep.total_ms);
	if (r < 0) {
		md_log_sql(MD_LOG_ERROR, err->sqlstate[0] ? err->sqlstate : rep.failure.sqlstate, "job %s: %s", run->id,
			   err->message);
		json_t *e = run_error_json(err);
		if (rep.failure.present) {
			json_t *f = md_report_failure_json(&rep.failure);
			json_object_set(e, "failure", f);
			json_object_set_new(result, "failure", f);
		}
		run_step_end(run, run_end_state(run, r), e, NULL);
	}
	md_rollback_report_free(&rep);
	md_catalog_free(cat);
	*ret_result = result;
	return r;
}

static int run_restore(struct job_run *run, json_t *request, json_t *result, struct md_error *err)
{
	const char *id = json_string_value(json_object_get(request, "backup"));
	struct md_backup b;
	struct md_restore_report rep;
	json_t *safety = NULL;
	int r;

	r = md_backup_find(run->set.backup.dir ? run->set.backup.dir : "", id ? id : "", &b, err);
	if (r < 0) {
		run_step_end(run, "failed", run_error_json(err), NULL);
		return r;
	}
	run_step_end(run, "succeeded", NULL,
		     json_pack("{s:s, s:s, s:s?}", "backup", b.id, "created_at", b.created_at, "head",
			       b.head[0] ? b.head : NULL));
	/* No deploy by anyone while the schema is replaced. */
	run_set_progress(run, "restoring: taking the migration lock");
	run_step_start(run, "lock", "lock", json_pack("{s:I}", "key", (json_int_t)MD_PRISMA_LOCK_KEY));
	r = md_lock_acquire(run->db, run->set.apply.advisory_lock_wait_ms, NULL, NULL, err);
	if (r < 0) {
		run_step_end(run, run_end_state(run, r), run_error_json(err), NULL);
		return r;
	}
	run_step_end(run, "succeeded", NULL, NULL);
	run_set_progress(run, "restoring: safety backup of the database as it is now");
	r = run_backup_step(run, "pre-restore", &safety, err);
	if (r == 0) {
		json_object_set(result, "safety_backup", safety);
		char msg[700];
		snprintf(msg, sizeof msg, "restoring backup %s of %s (taken before: %s)", b.id, b.created_at,
			 b.head[0] ? b.head : "no migration applied");
		run_log(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
		run_set_progress(run, "restoring backup %s", b.id);
		run_step_start(run, b.id, "restore", json_pack("{s:s}", "backup_created_at", b.created_at));
		r = md_restore_run(&run->set.backup, run->db, run->set.migration_url, &b,
				   run->set.apply.lock_timeout_ms, &run->ctl->cancel, &rep, err);
		if (r < 0) {
			md_log(MD_LOG_ERROR, "job %s: restore failed: %s", run->id, err->message);
			run_step_end(run, run_end_state(run, r), run_error_json(err), NULL);
		} else {
			md_log(MD_LOG_INFO, "job %s: backup %s restored; %zu migrations applied, head %s", run->id,
			       b.id, rep.applied, rep.head[0] ? rep.head : "none");
			run_step_end(run, "succeeded", NULL,
				     json_pack("{s:f, s:f, s:s, s:s?, s:I}", "verify_ms", rep.verify_ms, "restore_ms",
					       rep.restore_ms, "pg_restore_version", rep.pg_restore_version, "head",
					       rep.head[0] ? rep.head : NULL, "applied", (json_int_t)rep.applied));
			json_object_set_new(result, "head", rep.head[0] ? json_string(rep.head) : json_null());
			json_object_set_new(result, "applied", json_integer((json_int_t)rep.applied));
		}
	}
	json_decref(safety);
	if (md_db_alive(run->db) && PQtransactionStatus(run->db->conn) == PQTRANS_IDLE) {
		struct md_error ignored;
		md_lock_release(run->db, &ignored);
	}
	return r;
}

void run_rollback(struct job_run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	const char *strategy = json_string_value(json_object_get(request, "strategy"));
	bool restore = strategy && strcmp(strategy, "restore") == 0;
	json_t *result = NULL, *error = NULL;
	int r;

	run_step_start(run, "preflight", "preflight", NULL);
	r = run_open_database(run, 0, &cat, &err);
	if (r < 0) {
		run_step_end(run, run_end_state(run, r), run_error_json(&err), NULL);
	} else if (restore) {
		result = json_pack("{s:s, s:O?}", "strategy", "restore", "backup", json_object_get(request, "backup"));
		r = run_restore(run, request, result, &err);
	} else {
		run_step_end(run, "succeeded", NULL, NULL);
		r = run_down_steps(run, json_string_value(json_object_get(request, "to")), &result, &err);
	}
	if (r < 0)
		error = run_error_json(&err);
	if (run->step)
		run_step_end(run, r == 0 ? "succeeded" : run_end_state(run, r), NULL, NULL);
	if (r == 0) /* the schema it left, for the fingerprint drift check */
		run_record_fingerprint(run, result);
	run_end(run, r, NULL, error, result);
	md_catalog_free(cat);
	run_close_database(run);
}
