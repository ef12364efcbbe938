/* run_backup.c - the backup step (before a deploy, before a restore, or a job of its own):
 * pg_dump through the backup module, then retention, each pruned backup named in the job's
 * log; the backup's record goes into the step, hence into the journal. */
#include "jobs_internal.h"
#include "migrated/backup.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"

#include <stdio.h>
#include <string.h>

static void log_pruned(struct job_run *run, json_t *pruned)
{
	const struct md_backup_options *o = &run->set.backup;
	char msg[600], rule[160] = "";
	size_t i;
	json_t *id;

	if (o->keep > 0)
		snprintf(rule, sizeof rule, "backup_keep = %d", o->keep);
	if (o->keep_within_s > 0)
		snprintf(rule + strlen(rule), sizeof rule - strlen(rule), "%sbackup_keep_within = %ld s",
			 rule[0] ? ", " : "", o->keep_within_s);
	json_array_foreach(pruned, i, id)
	{
		snprintf(msg, sizeof msg, "retention removed backup %s (%s)", json_string_value(id), rule);
		run_log(run, "info", msg);
		md_log(MD_LOG_INFO, "job %s: %s", run->id, msg);
	}
}

int run_backup_step(struct job_run *run, const char *kind, json_t **ret_backup, struct md_error *err)
{
	struct md_backup b = {0};
	int r;

	run_step_start(run, "backup", "backup",
		       json_pack("{s:s, s:s?}", "backup_kind", kind, "dir", run->set.backup.dir));
	if (!run->set.backup.dir || !run->set.migration_url)
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	else
		r = md_backup_take(&run->set.backup, run->db, run->set.migration_url, kind, run->id, &run->ctl->cancel,
				   &b, err);
	md_job_metrics_backup(r == 0, b.duration_ms / 1000.0, b.size_bytes, b.created_unix);
	if (r < 0) {
		md_log(MD_LOG_ERROR, "job %s: backup failed: %s", run->id, err->message);
		run_step_end(run, run_end_state(run, r), run_error_json(err), NULL);
		return r;
	}
	md_log(MD_LOG_INFO, "job %s: backup %s taken (%llu bytes in %.1f s)", run->id, b.id,
	       (unsigned long long)b.size_bytes, b.duration_ms / 1000.0);
	json_t *pruned = json_array();
	struct md_error e2 = {0};
	if (md_backup_prune(&run->set.backup, pruned, &e2) < 0) {
		char msg[sizeof e2.message + 64];
		snprintf(msg, sizeof msg, "backup retention failed: %s", e2.message);
		run_log(run, "warning", msg);
		md_log(MD_LOG_WARNING, "job %s: %s", run->id, msg);
	}
	log_pruned(run, pruned);
	json_t *bj = md_backup_json(&b);
	run_step_end(run, "succeeded", NULL, json_pack("{s:O, s:o}", "backup", bj, "pruned", pruned));
	json_t *ev = json_deep_copy(bj);
	if (ev)
		json_object_set_new(ev, "job", json_string(run->id));
	md_jobs_notify(run->jobs, "backup.created", ev);
	if (ret_backup)
		*ret_backup = bj;
	else
		json_decref(bj);
	return 0;
}

void run_backup(struct job_run *run, json_t *request)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	json_t *backup = NULL, *error = NULL;
	(void)request;

	run_step_start(run, "preflight", "preflight", NULL);
	int r = run_open_database(run, 0, &cat, &err);
	if (r < 0) {
		error = run_error_json(&err);
		run_step_end(run, run_end_state(run, r), json_deep_copy(error), NULL);
	} else {
		run_step_end(run, "succeeded", NULL, NULL);
		run_set_progress(run, "backing up");
		r = run_backup_step(run, "manual", &backup, &err);
		if (r < 0)
			error = run_error_json(&err);
	}
	run_end(run, r, NULL, error, json_pack("{s:o}", "backup", backup ? backup : json_null()));
	md_catalog_free(cat);
	run_close_database(run);
}
