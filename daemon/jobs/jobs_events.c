/* jobs_events.c - records going out: appending to the journal and applying (jobs_emit), and
 * the watchers of a job's events (Server-Sent Events) woken when one is written. */
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

/* ---- emitting records ---- */

void jobs_fire_watches(struct md_jobs *jobs, const char *job_id, struct watch **ret_fired)
{
	struct watch **pp = &jobs->watches;
	while (*pp) {
		struct watch *w = *pp;
		if (!job_id || strcmp(w->job, job_id) == 0) {
			*pp = w->next;
			w->next = *ret_fired;
			*ret_fired = w;
		} else {
			pp = &w->next;
		}
	}
}

/* Calls fired watches outside the lock: their function resumes HTTP connections. */
void jobs_call_watches(struct watch *fired)
{
	while (fired) {
		struct watch *next = fired->next;
		fired->fn(fired->ctx);
		free(fired);
		fired = next;
	}
}

/* jobs_emit with jobs->wlock already held. */
/* A record's way into the table: written under the write lock (the journal's order), then made
 * durable outside it, so that emitters of several jobs share their fdatasync (the journal's
 * group commit), then applied in the order written: each record has a ticket, and is applied
 * (table, watchers, notifications) only after every earlier ticket. unlock_wlock: release the
 * write lock once the line is written (jobs_emit); a caller that holds it for longer
 * (submission, compaction) keeps it. */
static int emit(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, bool unlock_wlock,
		struct md_error *err)
{
	struct watch *fired = NULL;
	struct md_journal_mark mark = {0};
	uint64_t seq = 0;
	int r;

	json_object_set_new(rec, "job", json_string(job_id));
	r = md_journal_write(jobs->journal, rec, &seq, &mark, err);
	uint64_t offset = mark.start; /* read under the journal's lock: a cut elsewhere cannot move it */
	pthread_mutex_lock(&jobs->lock);
	uint64_t ticket = ++jobs->emit_issued;
	pthread_mutex_unlock(&jobs->lock);
	if (unlock_wlock)
		pthread_mutex_unlock(&jobs->wlock);
	if (r == 0)
		r = md_journal_sync(jobs->journal, &mark, err);
	if (r < 0 && apply_anyway) {
		char ts[32];
		jobs_now_iso(ts);
		json_object_set_new(rec, "ts", json_string(ts));
		json_object_set_new(rec, "journal_error", json_string(err->message));
		md_log(MD_LOG_ERROR, "job %s: %s; recorded in memory only", job_id, err->message);
	}
	const char *event = NULL;
	char evbuf[48];
	json_t *data = NULL;
	pthread_mutex_lock(&jobs->lock);
	while (jobs->emit_applied + 1 != ticket)
		pthread_cond_wait(&jobs->emit_turn, &jobs->lock);
	if (r == 0 || apply_anyway) {
		if (jobs_apply_record(jobs, rec, offset) < 0)
			md_log(MD_LOG_ERROR, "job %s: out of memory keeping a record", job_id);
		jobs_fire_watches(jobs, job_id, &fired);
		struct job *job = jobs_find(jobs, job_id);
		if (job)
			event = jobs_event_of(jobs, job, rec, evbuf, &data);
	}
	pthread_mutex_unlock(&jobs->lock);
	json_decref(rec);
	jobs_call_watches(fired);
	/* Still this record's turn: notifications leave in the journal's order. */
	if (event) {
		bool rollback_ok = strcmp(event, "job.succeeded") == 0 &&
				   strcmp(json_string_value(json_object_get(data, "kind")) ?: "", "rollback") == 0;
		if (rollback_ok)
			jobs_event_call(jobs, "rollback.succeeded", json_incref(data));
		jobs_event_call(jobs, event, data);
	}
	pthread_mutex_lock(&jobs->lock);
	jobs->emit_applied = ticket;
	pthread_cond_broadcast(&jobs->emit_turn);
	pthread_mutex_unlock(&jobs->lock);
	return r;
}

int jobs_emit_wlocked(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err)
{
	return emit(jobs, job_id, rec, apply_anyway, false, err);
}

int jobs_emit(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err)
{
	pthread_mutex_lock(&jobs->wlock);
	return emit(jobs, job_id, rec, apply_anyway, true, err);
}

void jobs_emit_drain(struct md_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	while (jobs->emit_applied != jobs->emit_issued)
		pthread_cond_wait(&jobs->emit_turn, &jobs->lock);
	pthread_mutex_unlock(&jobs->lock);
}

/* ---- notifications ---- */

const char *jobs_event_of(struct md_jobs *jobs, struct job *job, const json_t *rec, char buf[48], json_t **ret_data)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	if (!type)
		return NULL;
	if (strcmp(type, "job") == 0)
		snprintf(buf, 48, "job.queued");
	else if (strcmp(type, "state") == 0 && state && strcmp(state, "running") == 0)
		snprintf(buf, 48, "job.started");
	else if (strcmp(type, "end") == 0 && state)
		snprintf(buf, 48, "job.%.40s", state);
	else
		return NULL;
	json_t *data = jobs_render(jobs, job, strcmp(type, "end") == 0);
	if (!data)
		return NULL;
	json_object_del(data, "logs"); /* what a receiver needs is the steps and the error */
	json_object_set(data, "actor", json_object_get(data, "requested_by"));
	*ret_data = data;
	return buf;
}

void jobs_event_call(struct md_jobs *jobs, const char *type, json_t *data)
{
	pthread_mutex_lock(&jobs->lock);
	md_jobs_event_fn fn = jobs->on_event;
	void *ctx = jobs->on_event_ctx;
	if (!fn) {
		/* Until the notifier is there (the replay runs first): kept, in a bounded list. */
		if (!jobs->early_events)
			jobs->early_events = json_array();
		if (json_array_size(jobs->early_events) < 64)
			json_array_append_new(jobs->early_events, json_pack("[s, O]", type, data));
	}
	pthread_mutex_unlock(&jobs->lock);
	if (fn)
		fn(ctx, type, data);
	json_decref(data);
}

void md_jobs_notify(struct md_jobs *jobs, const char *type, json_t *data)
{
	if (!jobs || !type)
		return;
	jobs_event_call(jobs, type, data ? data : json_object());
}

void md_jobs_on_event(struct md_jobs *jobs, md_jobs_event_fn fn, void *ctx)
{
	size_t i;
	json_t *ev;
	pthread_mutex_lock(&jobs->lock);
	jobs->on_event = fn;
	jobs->on_event_ctx = ctx;
	json_t *early = fn ? jobs->early_events : NULL;
	if (fn)
		jobs->early_events = NULL;
	pthread_mutex_unlock(&jobs->lock);
	json_array_foreach(early, i, ev) fn(ctx, json_string_value(json_array_get(ev, 0)), json_array_get(ev, 1));
	json_decref(early);
}

/* ---- events for Server-Sent Events ---- */

static json_t *event_of(uint64_t seq, json_t *rec)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	return json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)seq, "event", type ? type : "record", "data", rec);
}

static int events_from_journal(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct {
		json_t *out;
		const char *id;
		uint64_t after;
	} *c = ctx;
	const char *job = json_string_value(json_object_get(rec, "job"));
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
	(void)offset;
	(void)err;
	if (job && strcmp(job, c->id) == 0 && seq > c->after)
		json_array_append_new(c->out, event_of(seq, rec));
	return 0;
}

int md_jobs_events(struct md_jobs *jobs, const char *id, uint64_t after_seq, json_t **ret_events, bool *ret_ended,
		   struct md_error *err)
{
	json_t *out = json_array();
	int r = 0;

	pthread_mutex_lock(&jobs->lock);
	struct job *job = jobs_find(jobs, id);
	if (!job) {
		pthread_mutex_unlock(&jobs->lock);
		json_decref(out);
		return md_error_set(err, MD_E_NOT_FOUND, "no job %s", id);
	}
	if (job->detail) {
		for (size_t i = 0; i < job->n_records; i++) {
			if (job->records[i].seq <= after_seq)
				continue;
			json_t *rec = json_loads(job->records[i].line, 0, NULL);
			if (rec)
				json_array_append_new(out, event_of(job->records[i].seq, rec));
			json_decref(rec);
		}
	} else {
		struct {
			json_t *out;
			const char *id;
			uint64_t after;
		} c = {out, job->id, after_seq};
		r = md_journal_read_range(jobs->journal, job->first_offset, job->last_offset + 1, events_from_journal,
					  &c, err);
	}
	*ret_ended = md_job_state_ended(job->state);
	pthread_mutex_unlock(&jobs->lock);
	if (r < 0) {
		json_decref(out);
		return r;
	}
	*ret_events = out;
	return 0;
}

int md_jobs_watch(struct md_jobs *jobs, const char *id, uint64_t after_seq, void (*fn)(void *ctx), void *ctx,
		  enum md_watch_result *ret, uint64_t *ret_watch)
{
	struct watch *w;
	pthread_mutex_lock(&jobs->lock);
	struct job *job = jobs_find(jobs, id);
	if (!job) {
		pthread_mutex_unlock(&jobs->lock);
		return MD_E_NOT_FOUND;
	}
	if (jobs->shutting_down || job->last_seq > after_seq || md_job_state_ended(job->state)) {
		*ret = jobs->shutting_down ? MD_WATCH_SHUTDOWN : MD_WATCH_READY;
		pthread_mutex_unlock(&jobs->lock);
		return 0;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		pthread_mutex_unlock(&jobs->lock);
		return MD_E_NOMEM;
	}
	w->id = ++jobs->next_watch;
	snprintf(w->job, sizeof w->job, "%s", id);
	w->fn = fn;
	w->ctx = ctx;
	w->next = jobs->watches;
	jobs->watches = w;
	*ret_watch = w->id;
	*ret = MD_WATCH_PARKED;
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

void md_jobs_unwatch(struct md_jobs *jobs, uint64_t watch)
{
	pthread_mutex_lock(&jobs->lock);
	for (struct watch **pp = &jobs->watches; *pp; pp = &(*pp)->next)
		if ((*pp)->id == watch) {
			struct watch *w = *pp;
			*pp = w->next;
			free(w);
			break;
		}
	pthread_mutex_unlock(&jobs->lock);
}

void md_jobs_on_change(struct md_jobs *jobs, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&jobs->lock);
	jobs->on_change = fn;
	jobs->on_change_ctx = ctx;
	pthread_mutex_unlock(&jobs->lock);
}
