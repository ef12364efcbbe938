/* jobs_internal.h - what jobs.c (the table) and runner.c (the worker) share. Not a public
 * header: the rest of the daemon uses include/migrated/jobs.h. */
#ifndef MIGRATED_JOBS_INTERNAL_H
#define MIGRATED_JOBS_INTERNAL_H

#include "migrated/apply.h"
#include "migrated/jobs.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>

struct md_journal;

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
	pthread_mutex_t lock;  /* the table, watches, flags */
	pthread_mutex_t wlock; /* journal appends and their application happen in one order */
	pthread_cond_t work;   /* wakes the worker */
	struct md_journal *journal;
	struct job **list; /* creation order; owned */
	size_t n, cap;
	struct job *active; /* queued or running, or NULL */
	struct watch *watches;
	uint64_t next_watch;
	bool shutting_down;
	pthread_t worker;
	bool worker_started;
	volatile sig_atomic_t cancel; /* cancel the running job (statement cancelled too) */
	volatile sig_atomic_t stop;   /* stop after the running migration (shutdown) */
	PGcancel *pgcancel;           /* the running job's connection, under lock */
	struct job **reconcile;       /* interrupted jobs still to check against the database */
	size_t n_reconcile;
	void (*on_change)(void *ctx);
	void *on_change_ctx;
	char progress[320]; /* what the running job does now, for STATUS= ("" when idle) */
	/* configuration, copied; migration_url, connect_timeout_s and apply change on reload
	 * (under lock): a job copies them when it starts (jobs_settings) */
	char *migrations_dir;
	char *migration_url;
	int connect_timeout_s;
	struct md_apply_options apply;
	long journal_max_bytes;
	int journal_keep_jobs;
};

/* The settings a job runs with, copied under the lock when it starts. */
struct job_settings {
	char *migration_url; /* owned, may be NULL */
	int connect_timeout_s;
	struct md_apply_options apply;
};
void jobs_settings(struct md_jobs *jobs, struct job_settings *ret);
void jobs_settings_free(struct job_settings *s);
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

#endif
