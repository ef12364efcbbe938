/* jobs_replay.c - how a journal record changes the table (the only way a job changes), the
 * replay at start, and the jobs a crash cut short. */
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

static void trim_detail(struct md_jobs *jobs)
{
	size_t kept = 0;
	for (size_t i = jobs->n; i-- > 0;) {
		struct job *job = jobs->list[i];
		if (!job->detail)
			continue;
		if (job == jobs->active || !md_job_state_ended(job->state) || kept < DETAIL_WINDOW)
			kept++;
		else
			jobs_drop_detail(job);
	}
}

static int keep_record(struct job *job, uint64_t seq, json_t *rec)
{
	char *line;
	if (!job->detail)
		return 0;
	if (job->n_records == job->cap_records) {
		size_t nc = job->cap_records ? job->cap_records * 2 : 16;
		struct job_record *p = realloc(job->records, nc * sizeof *p);
		if (!p)
			return MD_E_NOMEM;
		job->records = p;
		job->cap_records = nc;
	}
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return MD_E_NOMEM;
	job->records[job->n_records++] = (struct job_record){seq, line};
	return 0;
}

static void copy_ts(char dst[32], const json_t *rec)
{
	const char *ts = json_string_value(json_object_get(rec, "ts"));
	snprintf(dst, 32, "%s", ts ? ts : "");
}

/* "2026-11-24T08:27:33.604482Z" as Unix time (0 when it does not parse). */
static double iso_to_unix(const char *ts)
{
	struct tm tm = {0};
	const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	double frac = 0;
	if (!rest)
		return 0;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

/* Applies one record to the table: the only way a job changes. Caller holds jobs->lock. */
int jobs_apply_record(struct md_jobs *jobs, json_t *rec, uint64_t offset)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *id = json_string_value(json_object_get(rec, "job"));
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
	struct job *job;

	if (!type || !id)
		return 0; /* journal bookkeeping ("compacted") */
	if (strcmp(type, "job") == 0) {
		const char *kind = json_string_value(json_object_get(rec, "kind"));
		const char *key = json_string_value(json_object_get(rec, "idempotency_key"));
		const char *actor = json_string_value(json_object_get(rec, "actor"));
		if (jobs_find(jobs, id))
			return 0;
		job = calloc(1, sizeof *job);
		if (!job)
			return MD_E_NOMEM;
		snprintf(job->id, sizeof job->id, "%s", id);
		job->kind = MD_JOB_UNKNOWN; /* never guessed: an unknown kind is not run as a deploy */
		for (int k = 0; kind && k < MD_JOB__KINDS; k++)
			if (strcmp(kind, md_job_kind_name((enum md_job_kind)k)) == 0)
				job->kind = (enum md_job_kind)k;
		if (job->kind == MD_JOB_UNKNOWN)
			md_log(MD_LOG_WARNING, "journal: job %.64s has an unknown kind \"%.32s\": kept, never run", id,
			       kind ? kind : "(none)");
		job->state = MD_JOB_QUEUED;
		copy_ts(job->created_at, rec);
		job->request = json_incref(json_object_get(rec, "request"));
		job->idempotency_key = key ? strdup(key) : NULL;
		job->actor = actor ? strdup(actor) : NULL;
		const char *target = json_string_value(json_object_get(job->request, "target"));
		const char *parent = json_string_value(json_object_get(job->request, "parent"));
		job->target = target ? strdup(target) : NULL;
		job->parent = parent ? strdup(parent) : NULL;
		job->first_offset = offset;
		job->detail = true;
		if (jobs->n == jobs->cap) {
			size_t nc = jobs->cap ? jobs->cap * 2 : 32;
			struct job **p = realloc(jobs->list, nc * sizeof *p);
			if (!p) {
				jobs_job_free(job);
				return MD_E_NOMEM;
			}
			jobs->list = p;
			jobs->cap = nc;
		}
		jobs->list[jobs->n++] = job;
		trim_detail(jobs);
	} else if (!(job = jobs_find(jobs, id))) {
		return 0; /* a record of a job compaction dropped */
	} else if (strcmp(type, "state") == 0) {
		jobs_parse_state(json_string_value(json_object_get(rec, "state")), &job->state);
		if (job->state == MD_JOB_RUNNING)
			copy_ts(job->started_at, rec);
	} else if (strcmp(type, "step") == 0) {
		json_t *idx = json_object_get(json_object_get(rec, "step"), "index");
		if (json_is_integer(idx) && (size_t)json_integer_value(idx) >= job->n_steps)
			job->n_steps = (size_t)json_integer_value(idx) + 1;
	} else if (strcmp(type, "cancel") == 0) {
		job->cancel_requested = true;
	} else if (strcmp(type, "end") == 0) {
		jobs_parse_state(json_string_value(json_object_get(rec, "state")), &job->state);
		if (!md_job_state_ended(job->state))
			job->state = MD_JOB_FAILED;
		copy_ts(job->finished_at, rec);
		if (job->kind == MD_JOB_DEPLOY && job->state == MD_JOB_SUCCEEDED &&
		    !json_is_true(json_object_get(job->request, "dry_run")))
			md_job_metrics_deploy_succeeded(iso_to_unix(job->finished_at));
		json_decref(job->error);
		json_decref(job->result);
		job->error = json_incref(json_object_get(rec, "error"));
		job->result = json_incref(json_object_get(rec, "result"));
		if (json_is_null(job->error)) {
			json_decref(job->error);
			job->error = NULL;
		}
	}
	job->last_offset = offset;
	job->last_seq = seq;
	return keep_record(job, seq, rec);
}

/* ---- opening: replay, interrupted jobs ---- */

int jobs_replay_record(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct md_jobs *jobs = ctx;
	if (jobs_apply_record(jobs, rec, offset) < 0)
		return md_error_set(err, MD_E_NOMEM, "out of memory replaying the journal");
	return 0;
}

/* Jobs the journal shows queued or running were cut short by a crash: say so in the journal.
 * Their steps are checked against _prisma_migrations by the worker once the database answers. */
int jobs_mark_interrupted(struct md_jobs *jobs, struct md_error *err)
{
	for (size_t i = 0; i < jobs->n; i++) {
		struct job *job = jobs->list[i];
		json_t *rec;
		int r;

		if (md_job_state_ended(job->state))
			continue;
		rec = json_pack(
			"{s:s, s:s, s:{s:s, s:s}, s:n}", "type", "end", "state", "interrupted", "error", "code",
			"interrupted", "message",
			"the daemon stopped while this job ran; _prisma_migrations says which of its migrations "
			"finished (the job's steps are checked against it)",
			"result");
		r = jobs_emit(jobs, job->id, rec, false, err);
		if (r < 0)
			return r;
		if (job->kind == MD_JOB_DEPLOY || job->kind == MD_JOB_ROLLBACK) {
			struct job **p = realloc(jobs->reconcile, (jobs->n_reconcile + 1) * sizeof *p);
			if (!p)
				return md_error_set(err, MD_E_NOMEM, "out of memory");
			jobs->reconcile = p;
			jobs->reconcile[jobs->n_reconcile++] = job;
		}
		md_log(MD_LOG_WARNING, "job %s (%s) was running when the daemon stopped: marked interrupted", job->id,
		       md_job_kind_name(job->kind));
	}
	return 0;
}
