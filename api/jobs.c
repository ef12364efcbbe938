/* jobs.c - GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel. JSON by default; with
 * Accept: text/plain, tables an admin reads in a terminal. Cancelling writes the journal, so
 * it runs on the task queue. */
#include "api_internal.h"
#include "migrated/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static struct MHD_Response *list_text(json_t *list)
{
	char *buf = NULL;
	size_t len = 0, i;
	json_t *job;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "%-36s  %-12s  %-11s  %-16s  %-27s  %s\n", "ID", "KIND", "STATE", "TARGET", "CREATED", "STEPS");
	json_array_foreach(json_object_get(list, "jobs"), i, job)
		fprintf(f, "%-36s  %-12s  %-11s  %-16s  %-27s  %lld\n", str(job, "id"), str(job, "kind"),
			str(job, "state"), str(job, "target"), str(job, "created_at"),
			(long long)json_integer_value(json_object_get(job, "steps_count")));
	fclose(f);
	return api_text(buf, len, false);
}

static struct MHD_Response *job_text(json_t *job)
{
	char *buf = NULL, dur[32];
	size_t len = 0, i;
	json_t *step, *line;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "job %s  %s  %s\ncreated %s  started %s  finished %s\n\n", str(job, "id"), str(job, "kind"),
		str(job, "state"), str(job, "created_at"), str(job, "started_at"), str(job, "finished_at"));
	json_array_foreach(json_object_get(job, "steps"), i, step)
	{
		json_t *d = json_object_get(step, "duration_ms");
		md_report_duration(json_is_number(d) ? json_number_value(d) : -1, dur, sizeof dur);
		fprintf(f, "  %3zu  %-11s %-8s  %s", i + 1, str(step, "state"), dur, str(step, "name"));
		json_t *e = json_object_get(step, "error");
		if (json_is_object(e))
			fprintf(f, "\n       %s", str(e, "message"));
		fputc('\n', f);
	}
	json_array_foreach(json_object_get(job, "logs"), i, line)
		fprintf(f, "%s %s: %s\n", i == 0 ? "\n" : "", str(line, "level"), str(line, "message"));
	json_t *e = json_object_get(job, "error");
	if (json_is_object(e))
		fprintf(f, "\nerror: %s\n", str(e, "message"));
	fclose(f);
	return api_text(buf, len, false);
}

static bool known_kind(const char *name)
{
	for (int k = 0; k < MD_JOB__KINDS; k++)
		if (strcmp(md_job_kind_name((enum md_job_kind)k), name) == 0)
			return true;
	return false;
}

static bool known_state(const char *name)
{
	for (int s = 0; s < MD_JOB__STATES; s++)
		if (strcmp(md_job_state_name((enum md_job_state)s), name) == 0)
			return true;
	return false;
}

struct MHD_Response *api_jobs_list(struct md_request *req, unsigned *ret_status)
{
	const char *l = api_query(req, "limit");
	long limit = l ? strtol(l, NULL, 10) : 50;
	if (limit < 1 || limit > 1000)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", "limit must be from 1 to 1000", NULL, ret_status);
	struct md_jobs_filter filter = {
		.target = api_query(req, "target"),
		.kind = api_query(req, "kind"),
		.state = api_query(req, "state"),
		.parent = api_query(req, "parent"),
	};
	if (filter.kind && !known_kind(filter.kind))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "kind must be deploy, resolve, backup, rollback or fleet-deploy", NULL, ret_status);
	if (filter.state && !known_state(filter.state))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "state must be queued, running, succeeded, failed, cancelled or interrupted", NULL,
				 ret_status);
	json_t *list = md_jobs_list(req->api->deps.jobs, (size_t)limit, &filter);
	*ret_status = MHD_HTTP_OK;
	if (req->want_text) {
		struct MHD_Response *r = list_text(list);
		json_decref(list);
		return r;
	}
	return api_json(req, list);
}

struct MHD_Response *api_job_get(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	json_t *job;
	if (md_jobs_get(req->api->deps.jobs, req->param, &job, &err) < 0)
		return api_error_from(&err, ret_status);
	*ret_status = MHD_HTTP_OK;
	if (req->want_text) {
		struct MHD_Response *r = job_text(job);
		json_decref(job);
		return r;
	}
	return api_json(req, job);
}

static void cancel_task(struct md_request *req)
{
	struct md_error err = {0};
	unsigned status;
	json_t *job = NULL;
	struct MHD_Response *r;
	int rc = md_jobs_cancel(req->api->deps.jobs, req->param, req->actor[0] ? req->actor : NULL, &job, &err);
	if (rc == MD_E_BUSY)
		r = api_error(MHD_HTTP_CONFLICT, "conflict", err.message, json_pack("{s:o}", "job", job), &status);
	else if (rc < 0)
		r = api_error_from(&err, &status);
	else {
		status = MHD_HTTP_OK;
		r = api_json(req, job);
	}
	api_resume(req, r, status);
}

struct MHD_Response *api_job_cancel(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, cancel_task, &r, ret_status);
	return r;
}
