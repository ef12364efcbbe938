/* jobs.c - the job table (see jobs.h): journal records in, JSON snapshots out. A job changes
 * only through a record: jobs_emit (jobs_events.c) appends it to the journal, then applies it
 * (jobs_replay.c), so the table after a restart is the table before it. Here: names, the
 * table itself, opening, requests (submit, get, list, cancel) and shutdown. Runs no SQL;
 * runner.c does. */
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

static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled", "interrupted"};
static const char *const kind_names[] = {"deploy", "resolve", "backup", "rollback", "fleet-deploy"};

const char *md_job_state_name(enum md_job_state s)
{
	return (unsigned)s < MD_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

const char *md_job_kind_name(enum md_job_kind k)
{
	return (unsigned)k < MD_ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

int jobs_parse_state(const char *s, enum md_job_state *ret)
{
	for (size_t i = 0; s && i < MD_ARRAY_SIZE(state_names); i++)
		if (strcmp(s, state_names[i]) == 0) {
			*ret = (enum md_job_state)i;
			return 0;
		}
	return -1;
}

bool md_job_state_ended(enum md_job_state s)
{
	return s != MD_JOB_QUEUED && s != MD_JOB_RUNNING;
}

void jobs_now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char date[24];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%06ldZ", date, (long)(ts.tv_nsec / 1000) % 1000000);
}

/* ---- the table ---- */

void jobs_drop_detail(struct job *job)
{
	for (size_t i = 0; i < job->n_records; i++)
		free(job->records[i].line);
	free(job->records);
	job->records = NULL;
	job->n_records = job->cap_records = 0;
	job->detail = false;
}

void jobs_job_free(struct job *job)
{
	if (!job)
		return;
	jobs_drop_detail(job);
	json_decref(job->request);
	json_decref(job->error);
	json_decref(job->result);
	free(job->idempotency_key);
	free(job->actor);
	free(job->target);
	free(job->parent);
	free(job);
}

struct job *jobs_find(struct md_jobs *jobs, const char *id)
{
	for (size_t i = jobs->n; i-- > 0;)
		if (strcmp(jobs->list[i]->id, id) == 0)
			return jobs->list[i];
	return NULL;
}

/* Keeps the records of the active job and the newest DETAIL_WINDOW jobs only. */
int md_jobs_open(const struct md_config *cfg, struct md_settings *settings, struct md_jobs **ret, struct md_error *err)
{
	struct md_jobs *jobs = calloc(1, sizeof *jobs);
	struct md_journal_stats st;
	_cleanup_free_ char *path = NULL;
	int r;

	if (!jobs)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	pthread_mutex_init(&jobs->lock, NULL);
	pthread_mutex_init(&jobs->wlock, NULL);
	pthread_mutex_init(&jobs->drift_lock, NULL);
	if (asprintf(&jobs->drift_cache_dir, "%s/drift-cache", cfg->state_dir) < 0)
		jobs->drift_cache_dir = NULL;
	md_clock_cond_init(&jobs->work);
	md_clock_cond_init(&jobs->emit_turn);
	jobs->migrations_dir = strdup(cfg->migrations_dir);
	jobs->settings = settings;
	jobs->journal_max_bytes = cfg->journal_max_bytes;
	jobs->journal_keep_jobs = cfg->journal_keep_jobs > 0 ? cfg->journal_keep_jobs : 1;
	r = jobs_options_from(jobs, cfg, err);
	if (r < 0)
		goto fail;
	if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		r = md_error_set(err, MD_E_CONFIG, "cannot create the state directory %s: %s", cfg->state_dir,
				 strerror(errno));
		goto fail;
	}
	if (asprintf(&path, "%s/journal.jsonl", cfg->state_dir) < 0) {
		path = NULL;
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
		goto fail;
	}
	r = md_journal_open(path, jobs_replay_record, jobs, &jobs->journal, &st, err);
	if (r < 0)
		goto fail;
	if (st.cut_torn_tail)
		md_log(MD_LOG_WARNING,
		       "journal %s ended in a partial record (%llu bytes, a write cut short by a crash): removed", path,
		       (unsigned long long)st.cut_bytes);
	md_log(MD_LOG_INFO, "journal %s: %zu records, %zu jobs", path, st.records, jobs->n);
	r = jobs_mark_interrupted(jobs, err);
	if (r < 0)
		goto fail;
	if (pthread_create(&jobs->worker, NULL, jobs_worker, jobs) != 0) {
		r = md_error_set(err, MD_E_INTERNAL, "cannot start the job worker thread");
		goto fail;
	}
	jobs->worker_started = true;
	*ret = jobs;
	return 0;
fail:
	md_jobs_close(jobs);
	return r;
}

/* ---- requests ---- */

int md_jobs_submit(struct md_jobs *jobs, enum md_job_kind kind, json_t *request, const char *idempotency_key,
		   const char *actor, json_t **ret_job, bool *ret_created, struct md_error *err)
{
	char id[JOB_ID_LEN + 1];
	json_t *rec;
	int r = 0;

	*ret_created = false;
	/* Submissions are serialised on the journal's write lock: the check for a running job or
	 * a known idempotency key and the creation of the new job are one step. */
	pthread_mutex_lock(&jobs->wlock);
	pthread_mutex_lock(&jobs->lock);
	if (idempotency_key)
		for (size_t i = jobs->n; i-- > 0;)
			if (jobs->list[i]->idempotency_key &&
			    strcmp(jobs->list[i]->idempotency_key, idempotency_key) == 0) {
				*ret_job = jobs_render(jobs, jobs->list[i], false);
				goto out_locked;
			}
	if (jobs->shutting_down) {
		r = md_error_set(err, MD_E_UNAVAILABLE, "the daemon is shutting down");
		goto out_locked;
	}
	/* A job whose end is recorded no longer blocks, though the worker may still be logging it:
	 * a client that saw it end and submits at once must not be told it is still running. */
	if (jobs->active && !md_job_state_ended(jobs->active->state)) {
		*ret_job = jobs_render(jobs, jobs->active, false);
		r = md_error_set(err, MD_E_BUSY, "job %s (%s) is %s; one job runs at a time", jobs->active->id,
				 md_job_kind_name(jobs->active->kind), md_job_state_name(jobs->active->state));
		goto out_locked;
	}
	pthread_mutex_unlock(&jobs->lock);

	md_history_new_id(id);
	rec = json_pack("{s:s, s:s, s:O}", "type", "job", "kind", md_job_kind_name(kind), "request", request);
	if (idempotency_key)
		json_object_set_new(rec, "idempotency_key", json_string(idempotency_key));
	if (actor)
		json_object_set_new(rec, "actor", json_string(actor));
	r = jobs_emit_wlocked(jobs, id, rec, false, err);
	pthread_mutex_lock(&jobs->lock);
	if (r < 0) {
		md_error_hint(
			err,
			"the job journal in the state directory cannot be written: check free space and permissions");
		r = md_error_prefix(err, MD_E_UNAVAILABLE, "cannot record the job: ");
		goto out_locked;
	}
	jobs->active = jobs_find(jobs, id);
	*ret_job = jobs_render(jobs, jobs->active, false);
	*ret_created = true;
	pthread_cond_broadcast(&jobs->work);
out_locked:
	pthread_mutex_unlock(&jobs->lock);
	pthread_mutex_unlock(&jobs->wlock);
	json_decref(request);
	return r;
}

int md_jobs_get(struct md_jobs *jobs, const char *id, json_t **ret_job, struct md_error *err)
{
	pthread_mutex_lock(&jobs->lock);
	struct job *job = jobs_find(jobs, id);
	if (!job) {
		pthread_mutex_unlock(&jobs->lock);
		return md_error_set(err, MD_E_NOT_FOUND, "no job %s", id);
	}
	*ret_job = jobs_render(jobs, job, true);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

bool md_jobs_last(struct md_jobs *jobs, struct md_job_brief *ret)
{
	pthread_mutex_lock(&jobs->lock);
	/* The newest job of the default target or of the whole fleet: a target's own jobs are
	 * its health's (md_jobs_last_of_target). */
	size_t i = jobs->n;
	while (i > 0 && jobs->list[i - 1]->target)
		i--;
	bool found = i > 0;
	if (found) {
		const struct job *job = jobs->list[i - 1];
		snprintf(ret->id, sizeof ret->id, "%s", job->id);
		ret->kind = job->kind;
		ret->state = job->state;
		snprintf(ret->finished_at, sizeof ret->finished_at, "%s", job->finished_at);
	}
	pthread_mutex_unlock(&jobs->lock);
	return found;
}

bool md_jobs_last_of_target(struct md_jobs *jobs, const char *name, struct md_job_brief *ret)
{
	bool found = false;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; i-- > 0 && !found;) {
		const struct job *job = jobs->list[i];
		if (!job->target || strcmp(job->target, name) != 0)
			continue;
		found = true;
		snprintf(ret->id, sizeof ret->id, "%s", job->id);
		ret->kind = job->kind;
		ret->state = job->state;
		snprintf(ret->finished_at, sizeof ret->finished_at, "%s", job->finished_at);
	}
	pthread_mutex_unlock(&jobs->lock);
	return found;
}

/* Whether job passes filter (NULL fields match all). */
static bool job_matches(const struct job *job, const struct md_jobs_filter *filter)
{
	if (!filter)
		return true;
	/* A fleet deploy runs on no target of its own: only its target jobs do. */
	if (filter->target &&
	    (job->kind == MD_JOB_FLEET_DEPLOY || strcmp(job->target ? job->target : "default", filter->target) != 0))
		return false;
	if (filter->kind && strcmp(md_job_kind_name(job->kind), filter->kind) != 0)
		return false;
	if (filter->state && strcmp(md_job_state_name(job->state), filter->state) != 0)
		return false;
	return !filter->parent || (job->parent && strcmp(job->parent, filter->parent) == 0);
}

json_t *md_jobs_list(struct md_jobs *jobs, size_t limit, const struct md_jobs_filter *filter)
{
	json_t *list = json_array();
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; i-- > 0 && json_array_size(list) < limit;)
		if (job_matches(jobs->list[i], filter))
			json_array_append_new(list, jobs_render(jobs, jobs->list[i], false));
	pthread_mutex_unlock(&jobs->lock);
	return json_pack("{s:o}", "jobs", list);
}

json_t *md_jobs_find_key(struct md_jobs *jobs, const char *key)
{
	json_t *found = NULL;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; key && i-- > 0;)
		if (jobs->list[i]->idempotency_key && strcmp(jobs->list[i]->idempotency_key, key) == 0) {
			found = jobs_render(jobs, jobs->list[i], false);
			break;
		}
	pthread_mutex_unlock(&jobs->lock);
	return found;
}

bool md_jobs_active(struct md_jobs *jobs, char *ret_id, size_t idsz)
{
	bool busy;
	pthread_mutex_lock(&jobs->lock);
	busy = jobs->active != NULL && !md_job_state_ended(jobs->active->state);
	if (busy && ret_id)
		snprintf(ret_id, idsz, "%s", jobs->active->id);
	pthread_mutex_unlock(&jobs->lock);
	return busy;
}

int md_jobs_cancel(struct md_jobs *jobs, const char *id, const char *actor, json_t **ret_job, struct md_error *err)
{
	enum md_job_state state;
	bool running;
	int r;

	pthread_mutex_lock(&jobs->lock);
	struct job *job = jobs_find(jobs, id);
	if (!job) {
		pthread_mutex_unlock(&jobs->lock);
		return md_error_set(err, MD_E_NOT_FOUND, "no job %s", id);
	}
	state = job->state;
	if (md_job_state_ended(state)) {
		*ret_job = jobs_render(jobs, job, false);
		pthread_mutex_unlock(&jobs->lock);
		return md_error_set(err, MD_E_BUSY, "job %s already ended (%s)", id, md_job_state_name(state));
	}
	running = state == MD_JOB_RUNNING;
	pthread_mutex_unlock(&jobs->lock);

	json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "cancel", "level", "warning", "message",
				running ? "cancel requested: the running statement is being cancelled on the server"
					: "cancel requested before the job started");
	if (actor)
		json_object_set_new(rec, "actor", json_string(actor));
	r = jobs_emit(jobs, id, rec, true, err);
	(void)r;
	pthread_mutex_lock(&jobs->lock);
	/* The worker's job, or a fleet's target job: each has its own stop flags (a fleet job
	 * passes its cancel on to its running target jobs). */
	if (job->ctl) {
		job->ctl->cancel = 1;
		if (job->ctl->pgcancel) {
			char errbuf[256];
			if (!PQcancel(job->ctl->pgcancel, errbuf, sizeof errbuf))
				md_log(MD_LOG_WARNING, "job %s: cancel request failed: %s", id, errbuf);
		}
		pthread_cond_broadcast(&jobs->work);
	}
	*ret_job = jobs_render(jobs, job, false);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

/* ---- shutdown ---- */

void md_jobs_shutdown(struct md_jobs *jobs, int grace_ms)
{
	struct watch *fired = NULL;
	struct timespec deadline;

	if (!jobs || !jobs->worker_started)
		return;
	pthread_mutex_lock(&jobs->lock);
	jobs->shutting_down = true;
	jobs->top.stop = 1;
	pthread_cond_broadcast(&jobs->work);
	md_clock_deadline(CLOCK_MONOTONIC, grace_ms, &deadline);
	while (jobs->active) {
		if (pthread_cond_timedwait(&jobs->work, &jobs->lock, &deadline) == ETIMEDOUT) {
			if (jobs->active) {
				md_log(MD_LOG_WARNING, "job %s did not finish within %d ms of shutdown: cancelling it",
				       jobs->active->id, grace_ms);
				jobs->top.cancel = 1;
				if (jobs->top.pgcancel) {
					char errbuf[256];
					PQcancel(jobs->top.pgcancel, errbuf, sizeof errbuf);
				}
			}
			/* The cancelled statement ends quickly; wait for the job to record its end. */
			while (jobs->active)
				pthread_cond_wait(&jobs->work, &jobs->lock);
			break;
		}
	}
	jobs_fire_watches(jobs, NULL, &fired);
	pthread_mutex_unlock(&jobs->lock);
	jobs_call_watches(fired);
	pthread_join(jobs->worker, NULL);
	jobs->worker_started = false;
}

void md_jobs_close(struct md_jobs *jobs)
{
	if (!jobs)
		return;
	md_jobs_shutdown(jobs, 0);
	for (size_t i = 0; i < jobs->n; i++)
		jobs_job_free(jobs->list[i]);
	free(jobs->list);
	while (jobs->watches) {
		struct watch *w = jobs->watches;
		jobs->watches = w->next;
		free(w);
	}
	free(jobs->reconcile);
	md_journal_close(jobs->journal);
	free(jobs->migrations_dir);
	free(jobs->shadow_url);
	free(jobs->drift_cache_dir);
	json_decref(jobs->drift_last);
	json_decref(jobs->early_events);
	pthread_mutex_destroy(&jobs->drift_lock);
	pthread_cond_destroy(&jobs->work);
	pthread_cond_destroy(&jobs->emit_turn);
	pthread_mutex_destroy(&jobs->lock);
	pthread_mutex_destroy(&jobs->wlock);
	free(jobs);
}
