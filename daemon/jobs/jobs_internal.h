/* jobs_internal.h - what jobs.c (the table) and runner.c (the worker) share. Not a public
 * header: the rest of the daemon uses include/migrated/jobs.h. */
#ifndef MIGRATED_JOBS_INTERNAL_H
#define MIGRATED_JOBS_INTERNAL_H

#include "migrated/apply.h"
#include "migrated/backup.h"
#include "migrated/jobs.h"
#include "migrated/settings.h"
#include "migrated/lint.h"
#include "migrated/verify.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>

struct md_journal;

/* What stops one running job (a cancel request, a shutdown, a journal it can no longer write)
 * and its connection, which a cancel cancels on the server. jobs->top serves the worker's
 * job; each target job of a fleet deploy has its own. */
struct run_ctl {
	volatile sig_atomic_t cancel; /* cancel the job (its statement cancelled too) */
	volatile sig_atomic_t stop;   /* stop after the running migration */
	PGcancel *pgcancel;           /* the job's connection, under jobs->lock */
};

#define JOB_ID_LEN    36
#define DETAIL_WINDOW 3 /* jobs whose records stay in memory: the active one and recent ones */

/* One record of a job as it stands in the journal (compact JSON, one line). */
struct job_record {
	uint64_t seq;
	char *line; /* owned */
};

struct job {
	char id[JOB_ID_LEN + 1];
	enum md_job_kind kind;
	enum md_job_state state;
	char created_at[32], started_at[32], finished_at[32]; /* ISO 8601, "" when not yet */
	json_t *request;                                      /* owned */
	char *idempotency_key;                                /* owned, may be NULL */
	char *actor;                                          /* owned, may be NULL */
	json_t *error;                                        /* owned, NULL unless it failed */
	json_t *result;                                       /* owned, NULL until it ended */
	size_t n_steps;
	bool cancel_requested;
	struct run_ctl *ctl;                /* while it runs: how to stop it (under jobs->lock), else NULL */
	char *target;                       /* owned: the target it runs on (request "target"), NULL for default */
	char *parent;                       /* owned: the fleet job that started it, or NULL */
	uint64_t first_offset, last_offset; /* journal byte offsets of its first and last record */
	uint64_t last_seq;
	bool detail;                /* records[] is complete */
	struct job_record *records; /* owned when detail */
	size_t n_records, cap_records;
};

struct watch {
	uint64_t id;
	char job[JOB_ID_LEN + 1];
	void (*fn)(void *ctx);
	void *ctx;
	struct watch *next;
};

struct md_jobs {
	pthread_mutex_t lock;               /* the table, watches, flags */
	pthread_mutex_t wlock;              /* journal appends and their application happen in one order */
	pthread_cond_t work;                /* wakes the worker */
	pthread_cond_t emit_turn;           /* a record was applied (emit order, jobs_events.c) */
	uint64_t emit_issued, emit_applied; /* tickets of records written / applied; under lock */
	struct md_journal *journal;
	struct job **list; /* creation order; owned */
	size_t n, cap;
	struct job *active; /* queued or running, or NULL */
	struct watch *watches;
	uint64_t next_watch;
	bool shutting_down;
	pthread_t worker;
	bool worker_started;
	struct run_ctl top;     /* the worker's job (jobs->active) */
	struct job **reconcile; /* interrupted jobs still to check against the database */
	size_t n_reconcile;
	void (*on_change)(void *ctx);
	void *on_change_ctx;
	md_jobs_event_fn on_event; /* notifications (md_jobs_on_event); under lock */
	void *on_event_ctx;
	json_t *early_events; /* [[type, data]] emitted before on_event was set (the replay's); under lock */
	char progress[320];   /* what the running job does now, for STATUS= ("" when idle) */
	/* configuration: the shared settings (URL, apply, backup, verification, lint) are read
	 * as a copy when a job starts (jobs_settings); the drift check's own below */
	struct md_settings *settings; /* borrowed from the composition root */
	char *migrations_dir;
	char *shadow_url;               /* SHADOW_DATABASE_URL or NULL (reloadable) */
	char *drift_cache_dir;          /* STATE_DIR/drift-cache */
	int drift_interval_ms;          /* periodic drift check (0: off) */
	pthread_mutex_t drift_lock;     /* one drift check at a time */
	json_t *drift_last;             /* the last check's summary for health, or NULL; under lock */
	unsigned drift_fallback_rounds; /* periodic checks by fingerprint since a shadow failed */
	char drift_logged[480];         /* what the periodic check last logged (worker only) */
	int64_t drift_next_ms;          /* monotonic time of the next periodic check */
	long journal_max_bytes;
	int journal_keep_jobs;
};

/* jobs_settings: the settings a job runs with, a copy of the shared ones taken when it starts
 * (settings.h; free with md_settings_view_free). */
void jobs_settings(struct md_jobs *jobs, struct md_settings_view *ret);
/* jobs_set_progress: what the worker does now (printf-style; NULL fmt clears). */
void jobs_set_progress(struct md_jobs *jobs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* jobs_emit: append a record of job (its "type" set by the caller) to the journal, then apply
 * it to the table and wake the job's watchers. When the journal cannot be written and
 * apply_anyway is set, the record is applied in memory all the same (the end of a job must
 * not be lost to a full disk: the job would look running for ever). Takes rec over. */
int jobs_emit(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err);
/* jobs_render: the job's JSON with steps and logs (detail loaded from the journal if needed).
 * Caller holds jobs->lock. */
json_t *jobs_render(struct md_jobs *jobs, struct job *job, bool with_detail);
/* jobs_job_free: a job and everything it owns (NULL is fine). */
void jobs_job_free(struct job *job);
/* The worker thread (runner.c). */
void *jobs_worker(void *arg);
/* Now as ISO 8601 UTC with microseconds. */
void jobs_now_iso(char out[32]);

/* ---- one job as the worker runs it (steps.c) ---- */

struct md_catalog;
struct md_db;

struct job_run {
	struct md_jobs *jobs;
	struct job *job;
	char id[JOB_ID_LEN + 1];
	size_t next_index;
	json_t *step; /* the open step, owned; NULL when none is open */
	double step_t0;
	struct md_db *db; /* the job's own connection (migration URL), or NULL */
	bool journal_failed;
	struct md_settings_view set;      /* copied when the job starts (its target's) */
	struct run_ctl *ctl;              /* &jobs->top, or a fleet target job's own */
	bool child;                       /* a target job of a fleet deploy (progress is the fleet's) */
	const struct md_targets *targets; /* a target job: the fleet's list (borrowed), else NULL */
};

/* run_set_progress: jobs_set_progress for the worker's job; a fleet's target jobs leave the
 * line to their fleet job. */
void run_set_progress(struct job_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* run_prepare: run->set for the job's target (jobs_settings when it has none); on failure the
 * job's end is recorded and false returned. */
bool run_prepare(struct job_run *run, const json_t *request);
/* run_job_kind: the job of run->job's kind, from its running state to its end (the worker's,
 * and each target job of a fleet). */
void run_job_kind(struct job_run *run, enum md_job_kind kind, json_t *request);

/* run_emit: a record of the job; when the journal fails the job stops after the running
 * migration (must: apply it in memory all the same). Takes rec over. */
void run_emit(struct job_run *run, json_t *rec, bool must);
void run_log(struct job_run *run, const char *level, const char *message);
/* run_step_start / run_step_end: a step's records; extra and error are taken over (NULL ok). */
void run_step_start(struct job_run *run, const char *name, const char *kind, json_t *extra);
void run_step_end(struct job_run *run, const char *state, json_t *error, json_t *extra);
/* run_error_json: {"code", "message", "prisma_code", "sqlstate", "hint"} of err. */
json_t *run_error_json(const struct md_error *err);
/* run_open_database: the catalog (flags as md_catalog_load) and the job's connection on the
 * migration URL (refusing a transaction pooler); the connection is cancellable from then on. */
int run_open_database(struct job_run *run, unsigned catalog_flags, struct md_catalog **ret_cat, struct md_error *err);
void run_close_database(struct job_run *run);
/* run_end_state: "succeeded", "failed", or for MD_E_CANCELLED "cancelled" (by request) or
 * "interrupted" (shutdown). */
const char *run_end_state(struct job_run *run, int r);
/* run_end: the end record: state from r (or forced when state is not NULL); error and result
 * taken over. */
void run_end(struct job_run *run, int r, const char *state, json_t *error, json_t *result);
/* run_apply_event: md_apply_hooks.on_event for deploys and down rollbacks: steps for the
 * preflight, the lock and each migration (kind step_kind), log lines for waits, retries and
 * recoveries, STATUS= progress ("<verb> 3/12 NAME"). ctx is a struct run_events. */
struct run_events {
	struct job_run *run;
	const char *verb;      /* "deploying", "rolling back" */
	const char *step_kind; /* "migration", "down" */
};
void run_apply_event(void *ctx, const struct md_apply_event *ev);
/* run_names: a JSON array of strings. */
json_t *run_names(char **list, size_t n);

/* Drift (drift_check.c): the periodic check, run by the worker when it is idle and due. */
void jobs_drift_periodic(struct md_jobs *jobs);
/* run_record_fingerprint: the live schema's fingerprint into result's "schema_fingerprint",
 * after a job changed the schema (a warning in the job's log when it cannot be read). */
void run_record_fingerprint(struct job_run *run, json_t *result);
/* jobs_drift_wait_ms: how long the idle worker may sleep before the next periodic check
 * (-1: no periodic check). Caller holds jobs->lock. */
int64_t jobs_drift_wait_ms(struct md_jobs *jobs);

/* The job kinds. */
void run_deploy(struct job_run *run, json_t *request);   /* run_deploy.c */
void run_backup(struct job_run *run, json_t *request);   /* run_backup.c */
void run_rollback(struct job_run *run, json_t *request); /* run_rollback.c */
void run_fleet(struct job_run *run, json_t *request);    /* run_fleet.c */
/* run_backup_step: one "backup" step on the open connection: md_backup_take, retention, the
 * record in the journal, metrics. *ret_backup (may be NULL) gets its JSON. */
int run_backup_step(struct job_run *run, const char *kind, json_t **ret_backup, struct md_error *err);
/* run_down_steps: md_rollback_down to `to` (NULL: everything) on the open connection, with
 * one step per migration (the catalog is read again with the down.sql files); *ret_result
 * gets {"to", "rolled_back": [...], "failure"}. */
int run_down_steps(struct job_run *run, const char *to, json_t **ret_result, struct md_error *err);

/* ---- shared by the files of the job table (jobs.c, jobs_replay.c, jobs_render.c,
 * jobs_events.c, jobs_settings.c); the caller holds jobs->lock where a function reads or
 * changes the table, unless its comment says it takes a lock itself ---- */
/* jobs_parse_state: a journal state name into *ret; 0, or -1 (unchanged) when unknown. */
int jobs_parse_state(const char *s, enum md_job_state *ret);
/* jobs_find: the job with id, or NULL. */
struct job *jobs_find(struct md_jobs *jobs, const char *id);
/* jobs_drop_detail: forget a job's kept records (they stay in the journal). */
void jobs_drop_detail(struct job *job);
/* jobs_apply_record: apply one journal record to the table (the only way a job changes);
 * offset is where its line starts. 0, or MD_E_NOMEM. */
int jobs_apply_record(struct md_jobs *jobs, json_t *rec, uint64_t offset);
/* jobs_replay_record: md_journal_record_fn for the replay at open (ctx is the table). */
int jobs_replay_record(void *ctx, json_t *rec, uint64_t offset, struct md_error *err);
/* jobs_mark_interrupted: journal an end for every job the replay left queued or running, and
 * queue the deploys and rollbacks among them for reconciliation. */
int jobs_mark_interrupted(struct md_jobs *jobs, struct md_error *err);
/* jobs_emit_wlocked: jobs_emit for a caller that already holds the journal's write lock:
 * appends rec (taken), applies it under jobs->lock (also when the append failed, if
 * apply_anyway) and wakes the job's watchers. Returns the append's result. */
int jobs_emit_wlocked(struct md_jobs *jobs, const char *job_id, json_t *rec, bool apply_anyway, struct md_error *err);
/* jobs_emit_drain: wait until every record written is applied (a caller holding the write lock
 * before it rewrites the journal: no record is then between its write and its application). */
void jobs_emit_drain(struct md_jobs *jobs);
/* jobs_fire_watches: move the watches of job_id (all, when NULL) into *ret_fired;
 * jobs_call_watches: call and free them (without the lock). */
void jobs_fire_watches(struct md_jobs *jobs, const char *job_id, struct watch **ret_fired);
void jobs_call_watches(struct watch *fired);
/* jobs_event_of: the notification a record of a job makes ("job.queued" for its first
 * record, "job.started", "job.<end state>"; NULL for the others), and its data (the job with
 * its steps, without its logs) into *ret_data. Caller holds jobs->lock. */
const char *jobs_event_of(struct md_jobs *jobs, struct job *job, const json_t *rec, char buf[48], json_t **ret_data);
/* jobs_event_call: hand an event to the hook (or keep it until there is one); data taken. Takes
 * jobs->lock itself. */
void jobs_event_call(struct md_jobs *jobs, const char *type, json_t *data);
/* jobs_options_from: the backup, verification and lint settings of cfg, replacing the table's. */
int jobs_options_from(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err);

#endif
