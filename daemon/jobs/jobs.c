/* jobs.c - the job table (see jobs.h): journal records in, JSON snapshots out. A job changes
 * only through a record: jobs_emit appends it to the journal, then applies it here, so the
 * table after a restart (replay) is the table before it. Runs no SQL; runner.c does. */
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
static const char *const kind_names[] = {"deploy", "resolve", "backup", "rollback"};

const char *md_job_state_name(enum md_job_state s)
{
	return (unsigned)s < MD_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

const char *md_job_kind_name(enum md_job_kind k)
{
	return (unsigned)k < MD_ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

static int parse_state(const char *s, enum md_job_state *ret)
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

static void job_drop_detail(struct job *job)
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
	job_drop_detail(job);
	json_decref(job->request);
	json_decref(job->error);
	json_decref(job->result);
	free(job->idempotency_key);
	free(job->actor);
	free(job);
}

static struct job *find_job(struct md_jobs *jobs, const char *id)
{
	for (size_t i = jobs->n; i-- > 0;)
		if (strcmp(jobs->list[i]->id, id) == 0)
			return jobs->list[i];
	return NULL;
}

/* Keeps the records of the active job and the newest DETAIL_WINDOW jobs only. */
static void trim_detail(struct md_jobs *jobs)
{
	size_t kept = 0;
	for (size_t i = jobs->n; i-- > 0;) {
		struct job *job = jobs->list[i];
		if (!job->detail)
			continue;
		if (job == jobs->active || kept < DETAIL_WINDOW)
			kept++;
		else
			job_drop_detail(job);
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
static int apply_record(struct md_jobs *jobs, json_t *rec, uint64_t offset)
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
		if (find_job(jobs, id))
			return 0;
		job = calloc(1, sizeof *job);
		if (!job)
			return MD_E_NOMEM;
		snprintf(job->id, sizeof job->id, "%s", id);
		job->kind = MD_JOB_UNKNOWN; /* never guessed: an unknown kind is not run as a deploy */
		for (size_t k = 0; kind && k < MD_ARRAY_SIZE(kind_names); k++)
			if (strcmp(kind, kind_names[k]) == 0)
				job->kind = (enum md_job_kind)k;
		if (job->kind == MD_JOB_UNKNOWN)
			md_log(MD_LOG_WARNING, "journal: job %.64s has an unknown kind \"%.32s\": kept, never run", id,
			       kind ? kind : "(none)");
		job->state = MD_JOB_QUEUED;
		copy_ts(job->created_at, rec);
		job->request = json_incref(json_object_get(rec, "request"));
		job->idempotency_key = key ? strdup(key) : NULL;
		job->actor = actor ? strdup(actor) : NULL;
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
	} else if (!(job = find_job(jobs, id))) {
		return 0; /* a record of a job compaction dropped */
	} else if (strcmp(type, "state") == 0) {
		parse_state(json_string_value(json_object_get(rec, "state")), &job->state);
		if (job->state == MD_JOB_RUNNING)
			copy_ts(job->started_at, rec);
	} else if (strcmp(type, "step") == 0) {
		json_t *idx = json_object_get(json_object_get(rec, "step"), "index");
		if (json_is_integer(idx) && (size_t)json_integer_value(idx) >= job->n_steps)
			job->n_steps = (size_t)json_integer_value(idx) + 1;
	} else if (strcmp(type, "cancel") == 0) {
		job->cancel_requested = true;
	} else if (strcmp(type, "end") == 0) {
		parse_state(json_string_value(json_object_get(rec, "state")), &job->state);
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

/* ---- rendering ---- */

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *summary(const struct job *job)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "id", job->id, "kind", md_job_kind_name(job->kind), "state",
			      md_job_state_name(job->state));
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

/* ---- emitting records ---- */

static void fire_watches(struct md_jobs *jobs, const char *job_id, struct watch **ret_fired)
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
static void call_watches(struct watch *fired)
{
	while (fired) {
		struct watch *next = fired->next;
		fired->fn(fired->ctx);
		free(fired);
		fired = next;
	}
}

/* jobs_emit with jobs->wlock already held. */
static int emit_wlocked(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err)
{
	struct watch *fired = NULL;
	uint64_t offset, seq = 0;
	int r;

	json_object_set_new(rec, "job", json_string(job_id));
	offset = md_journal_size(jobs->journal);
	r = md_journal_append(jobs->journal, rec, &seq, err);
	if (r < 0 && apply_anyway) {
		char ts[32];
		jobs_now_iso(ts);
		json_object_set_new(rec, "ts", json_string(ts));
		json_object_set_new(rec, "journal_error", json_string(err->message));
		md_log(MD_LOG_ERROR, "job %s: %s; recorded in memory only", job_id, err->message);
	}
	if (r == 0 || apply_anyway) {
		pthread_mutex_lock(&jobs->lock);
		if (apply_record(jobs, rec, offset) < 0)
			md_log(MD_LOG_ERROR, "job %s: out of memory keeping a record", job_id);
		fire_watches(jobs, job_id, &fired);
		pthread_mutex_unlock(&jobs->lock);
	}
	json_decref(rec);
	call_watches(fired);
	return r;
}

int jobs_emit(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err)
{
	pthread_mutex_lock(&jobs->wlock);
	int r = emit_wlocked(jobs, job_id, rec, apply_anyway, err);
	pthread_mutex_unlock(&jobs->wlock);
	return r;
}

/* ---- opening: replay, interrupted jobs ---- */

static int replay_one(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct md_jobs *jobs = ctx;
	if (apply_record(jobs, rec, offset) < 0)
		return md_error_set(err, MD_E_NOMEM, "out of memory replaying the journal");
	return 0;
}

/* Jobs the journal shows queued or running were cut short by a crash: say so in the journal.
 * Their steps are checked against _prisma_migrations by the worker once the database answers. */
static int mark_interrupted(struct md_jobs *jobs, struct md_error *err)
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

/* The backup and verification settings of cfg, replacing the table's (under jobs->lock). */
static int options_from(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	struct md_backup_options b;
	struct md_verify_options v;
	int r = md_backup_options_from(cfg, &b, err);
	if (r < 0)
		return r;
	struct md_lint_options lo;
	char *shadow = cfg->shadow_database_url && *cfg->shadow_database_url ? strdup(cfg->shadow_database_url) : NULL;
	r = md_verify_options_from(cfg, &v, err);
	if (r == 0)
		r = md_verify_options_check(&v, err);
	if (r == 0)
		r = md_lint_options_init(&lo, &cfg->lint_rules, cfg->lock_timeout_ms, 0, err);
	if (r < 0) {
		md_backup_options_free(&b);
		md_verify_options_free(&v);
		free(shadow);
		return r;
	}
	pthread_mutex_lock(&jobs->lock);
	md_backup_options_free(&jobs->backup);
	md_verify_options_free(&jobs->verify);
	jobs->backup = b;
	jobs->verify = v;
	jobs->lint = lo;
	jobs->lint_gate = cfg->lint_gate;
	free(jobs->shadow_url);
	jobs->shadow_url = shadow;
	if (jobs->drift_interval_ms != cfg->drift_interval_ms)
		jobs->drift_next_ms = 0; /* start from now */
	jobs->drift_interval_ms = cfg->drift_interval_ms;
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

int md_jobs_open(const struct md_config *cfg, struct md_jobs **ret, struct md_error *err)
{
	struct md_jobs *jobs = calloc(1, sizeof *jobs);
	struct md_journal_stats st;
	_cleanup_free_ char *path = NULL;
	const char *url = md_config_migration_url(cfg);
	int r;

	if (!jobs)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	pthread_mutex_init(&jobs->lock, NULL);
	pthread_mutex_init(&jobs->wlock, NULL);
	pthread_mutex_init(&jobs->drift_lock, NULL);
	if (asprintf(&jobs->drift_cache_dir, "%s/drift-cache", cfg->state_dir) < 0)
		jobs->drift_cache_dir = NULL;
	md_clock_cond_init(&jobs->work);
	jobs->migrations_dir = strdup(cfg->migrations_dir);
	jobs->migration_url = url ? strdup(url) : NULL;
	jobs->migration_url_direct = url && url == cfg->direct_url;
	jobs->connect_timeout_s = cfg->connect_timeout_s;
	md_apply_options_from(cfg, &jobs->apply);
	jobs->journal_max_bytes = cfg->journal_max_bytes;
	jobs->journal_keep_jobs = cfg->journal_keep_jobs > 0 ? cfg->journal_keep_jobs : 1;
	r = options_from(jobs, cfg, err);
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
	r = md_journal_open(path, replay_one, jobs, &jobs->journal, &st, err);
	if (r < 0)
		goto fail;
	if (st.cut_torn_tail)
		md_log(MD_LOG_WARNING,
		       "journal %s ended in a partial record (%llu bytes, a write cut short by a crash): removed", path,
		       (unsigned long long)st.cut_bytes);
	md_log(MD_LOG_INFO, "journal %s: %zu records, %zu jobs", path, st.records, jobs->n);
	r = mark_interrupted(jobs, err);
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

/* ---- settings and progress ---- */

void jobs_settings(struct md_jobs *jobs, struct job_settings *ret)
{
	pthread_mutex_lock(&jobs->lock);
	ret->migration_url = jobs->migration_url ? strdup(jobs->migration_url) : NULL;
	ret->migration_url_direct = jobs->migration_url_direct;
	ret->connect_timeout_s = jobs->connect_timeout_s;
	ret->apply = jobs->apply;
	struct md_error ignored;
	if (md_backup_options_copy(&jobs->backup, &ret->backup, &ignored) < 0)
		memset(&ret->backup, 0, sizeof ret->backup);
	if (md_verify_options_copy(&jobs->verify, &ret->verify, &ignored) < 0)
		memset(&ret->verify, 0, sizeof ret->verify);
	ret->lint = jobs->lint;
	ret->lint_gate = jobs->lint_gate;
	pthread_mutex_unlock(&jobs->lock);
}

void jobs_settings_free(struct job_settings *s)
{
	free(s->migration_url);
	s->migration_url = NULL;
	md_backup_options_free(&s->backup);
	md_verify_options_free(&s->verify);
}

void jobs_set_progress(struct md_jobs *jobs, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&jobs->lock);
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(jobs->progress, sizeof jobs->progress, fmt, ap);
		va_end(ap);
	} else {
		jobs->progress[0] = '\0';
	}
	pthread_mutex_unlock(&jobs->lock);
}

static char *backup_dir(struct md_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	char *dir = jobs->backup.dir ? strdup(jobs->backup.dir) : NULL;
	pthread_mutex_unlock(&jobs->lock);
	return dir;
}

int md_jobs_backups(struct md_jobs *jobs, json_t **ret, struct md_error *err)
{
	_cleanup_free_ char *dir = backup_dir(jobs);
	struct md_backup *list = NULL;
	size_t n = 0, skipped = 0;
	if (!dir)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = md_backup_list(dir, &list, &n, &skipped, err);
	if (r < 0)
		return r;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, md_backup_json(&list[i]));
	free(list);
	*ret = json_pack("{s:o, s:s, s:I}", "backups", a, "dir", dir, "unreadable", (json_int_t)skipped);
	return 0;
}

void md_jobs_lint_settings(struct md_jobs *jobs, struct md_lint_options *ret, int *ret_gate)
{
	pthread_mutex_lock(&jobs->lock);
	*ret = jobs->lint;
	*ret_gate = jobs->lint_gate;
	pthread_mutex_unlock(&jobs->lock);
}

int md_jobs_backup_find(struct md_jobs *jobs, const char *id, json_t **ret, struct md_error *err)
{
	_cleanup_free_ char *dir = backup_dir(jobs);
	struct md_backup b;
	if (!dir)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = md_backup_find(dir, id, &b, err);
	if (r == 0)
		*ret = md_backup_json(&b);
	return r;
}

bool md_jobs_progress(struct md_jobs *jobs, char *buf, size_t sz)
{
	bool active;
	pthread_mutex_lock(&jobs->lock);
	active = jobs->active != NULL && jobs->active->state == MD_JOB_RUNNING;
	snprintf(buf, sz, "%s", active ? jobs->progress : "");
	pthread_mutex_unlock(&jobs->lock);
	return active;
}

int md_jobs_reconfigure(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	const char *url = md_config_migration_url(cfg);
	char *copy = url ? strdup(url) : NULL;
	if (url && !copy)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = options_from(jobs, cfg, err);
	if (r < 0) {
		free(copy);
		return r;
	}
	pthread_mutex_lock(&jobs->lock);
	free(jobs->migration_url);
	jobs->migration_url = copy;
	jobs->migration_url_direct = url && url == cfg->direct_url;
	jobs->connect_timeout_s = cfg->connect_timeout_s;
	md_apply_options_from(cfg, &jobs->apply);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
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
	r = emit_wlocked(jobs, id, rec, false, err);
	pthread_mutex_lock(&jobs->lock);
	if (r < 0) {
		md_error_hint(
			err,
			"the job journal in the state directory cannot be written: check free space and permissions");
		r = md_error_prefix(err, MD_E_UNAVAILABLE, "cannot record the job: ");
		goto out_locked;
	}
	jobs->active = find_job(jobs, id);
	*ret_job = jobs_render(jobs, jobs->active, false);
	*ret_created = true;
	pthread_cond_broadcast(&jobs->work);
out_locked:
	pthread_mutex_unlock(&jobs->lock);
	pthread_mutex_unlock(&jobs->wlock);
	json_decref(request);
	return r;
}

static struct job *find_real(struct md_jobs *jobs, const char *id)
{
	struct job *job = find_job(jobs, id);
	return job;
}

int md_jobs_get(struct md_jobs *jobs, const char *id, json_t **ret_job, struct md_error *err)
{
	pthread_mutex_lock(&jobs->lock);
	struct job *job = find_real(jobs, id);
	if (!job) {
		pthread_mutex_unlock(&jobs->lock);
		return md_error_set(err, MD_E_NOT_FOUND, "no job %s", id);
	}
	*ret_job = jobs_render(jobs, job, true);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

json_t *md_jobs_list(struct md_jobs *jobs, size_t limit)
{
	json_t *list = json_array();
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; i-- > 0 && json_array_size(list) < limit;)
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
	struct job *job = find_real(jobs, id);
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
	if (jobs->active == job) {
		jobs->cancel = 1;
		if (jobs->pgcancel) {
			char errbuf[256];
			if (!PQcancel(jobs->pgcancel, errbuf, sizeof errbuf))
				md_log(MD_LOG_WARNING, "job %s: cancel request failed: %s", id, errbuf);
		}
		pthread_cond_signal(&jobs->work);
	}
	*ret_job = jobs_render(jobs, job, false);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
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
	struct job *job = find_real(jobs, id);
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
	struct job *job = find_real(jobs, id);
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

/* ---- shutdown ---- */

void md_jobs_shutdown(struct md_jobs *jobs, int grace_ms)
{
	struct watch *fired = NULL;
	struct timespec deadline;

	if (!jobs || !jobs->worker_started)
		return;
	pthread_mutex_lock(&jobs->lock);
	jobs->shutting_down = true;
	jobs->stop = 1;
	pthread_cond_broadcast(&jobs->work);
	md_clock_deadline(CLOCK_MONOTONIC, grace_ms, &deadline);
	while (jobs->active) {
		if (pthread_cond_timedwait(&jobs->work, &jobs->lock, &deadline) == ETIMEDOUT) {
			if (jobs->active) {
				md_log(MD_LOG_WARNING, "job %s did not finish within %d ms of shutdown: cancelling it",
				       jobs->active->id, grace_ms);
				jobs->cancel = 1;
				if (jobs->pgcancel) {
					char errbuf[256];
					PQcancel(jobs->pgcancel, errbuf, sizeof errbuf);
				}
			}
			/* The cancelled statement ends quickly; wait for the job to record its end. */
			while (jobs->active)
				pthread_cond_wait(&jobs->work, &jobs->lock);
			break;
		}
	}
	fire_watches(jobs, NULL, &fired);
	pthread_mutex_unlock(&jobs->lock);
	call_watches(fired);
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
	free(jobs->migration_url);
	md_backup_options_free(&jobs->backup);
	md_verify_options_free(&jobs->verify);
	free(jobs->shadow_url);
	free(jobs->drift_cache_dir);
	json_decref(jobs->drift_last);
	pthread_mutex_destroy(&jobs->drift_lock);
	pthread_cond_destroy(&jobs->work);
	pthread_mutex_destroy(&jobs->lock);
	pthread_mutex_destroy(&jobs->wlock);
	free(jobs);
}
