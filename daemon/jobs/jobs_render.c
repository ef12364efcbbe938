/* jobs_render.c - a job as JSON: its summary from the table, and its steps and logs read
 * back from the journal for GET /v1/jobs/{id}. */
#include "jobs_internal.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/journal.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"
#include "migrated/macro.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_LOGS 2000 /* log lines rendered for one job; more are counted, not shown */

/* ---- rendering ---- */

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *summary(const struct job *job)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "id", job->id, "kind", md_job_kind_name(job->kind), "state",
			      md_job_state_name(job->state));
	json_object_set_new(o, "target", json_string(job->target ? job->target : "default"));
	if (job->parent)
		json_object_set_new(o, "parent", json_string(job->parent));
	json_object_set_new(o, "created_at", str_or_null(job->created_at));
	json_object_set_new(o, "started_at", str_or_null(job->started_at));
	json_object_set_new(o, "finished_at", str_or_null(job->finished_at));
	json_object_set(o, "request", job->request ? job->request : json_null());
	json_object_set_new(o, "idempotency_key", str_or_null(job->idempotency_key));
	json_object_set_new(o, "requested_by", str_or_null(job->actor));
	json_object_set_new(o, "steps_count", json_integer((json_int_t)job->n_steps));
	json_object_set_new(o, "cancel_requested", json_boolean(job->cancel_requested));
	json_object_set(o, "error", job->error ? job->error : json_null());
	json_object_set(o, "result", job->result ? job->result : json_null());
	/* "failed-verification" / "rolled-back": how a deploy whose verification failed ended. */
	json_t *outcome = job->result ? json_object_get(job->result, "outcome") : NULL;
	if (json_is_string(outcome))
		json_object_set(o, "outcome", outcome);
	return o;
}

struct render {
	json_t *steps, *logs;
	size_t dropped_logs;
};

static void render_record(struct render *rd, json_t *rec)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	if (!type)
		return;
	if (strcmp(type, "step") == 0) {
		json_t *step = json_object_get(rec, "step");
		size_t idx = (size_t)json_integer_value(json_object_get(step, "index"));
		while (json_array_size(rd->steps) <= idx)
			json_array_append_new(rd->steps, json_null());
		json_array_set(rd->steps, idx, step);
	} else if (strcmp(type, "log") == 0 || strcmp(type, "cancel") == 0) {
		if (json_array_size(rd->logs) >= MAX_LOGS) {
			rd->dropped_logs++;
			return;
		}
		json_t *line = json_pack("{s:O?, s:s, s:O?}", "ts", json_object_get(rec, "ts"), "level",
					 json_string_value(json_object_get(rec, "level")) ?: "info", "message",
					 json_object_get(rec, "message"));
		json_array_append_new(rd->logs, line);
	}
}

static int render_from_journal(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct {
		struct render *rd;
		const char *id;
	} *c = ctx;
	const char *job = json_string_value(json_object_get(rec, "job"));
	(void)offset;
	(void)err;
	if (job && strcmp(job, c->id) == 0)
		render_record(c->rd, rec);
	return 0;
}

json_t *jobs_render(struct md_jobs *jobs, struct job *job, bool with_detail)
{
	json_t *o = summary(job);
	struct render rd;

	if (!with_detail)
		return o;
	rd.steps = json_array();
	rd.logs = json_array();
	rd.dropped_logs = 0;
	if (job->detail) {
		for (size_t i = 0; i < job->n_records; i++) {
			json_t *rec = json_loads(job->records[i].line, 0, NULL);
			if (rec)
				render_record(&rd, rec);
			json_decref(rec);
		}
	} else {
		struct {
			struct render *rd;
			const char *id;
		} c = {&rd, job->id};
		struct md_error err = {0};
		if (md_journal_read_range(jobs->journal, job->first_offset, job->last_offset + 1, render_from_journal,
					  &c, &err) < 0)
			json_object_set_new(o, "detail_error", json_string(err.message));
	}
	json_object_set_new(o, "steps", rd.steps);
	json_object_set_new(o, "logs", rd.logs);
	if (rd.dropped_logs)
		json_object_set_new(o, "logs_dropped", json_integer((json_int_t)rd.dropped_logs));
	return o;
}
