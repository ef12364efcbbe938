/* jobs.h - the daemon's jobs: a deploy or resolve requested over HTTP becomes a job that one
 * worker thread runs, step by step (preflight, lock, one step per migration, verify), on the
 * same engine the CLI uses. Every change of a job is a journal record, appended and synced
 * before anything can read it; the in-memory table is rebuilt from those records on start, so
 * a job's history survives restarts, and a job found running is marked interrupted and checked
 * against _prisma_migrations. Readers get JSON snapshots; nothing here knows about HTTP. */
#ifndef MIGRATED_JOBS_H
#define MIGRATED_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_config;
struct md_error;
struct md_jobs;

enum md_job_kind {
	MD_JOB_DEPLOY,   /* md_deploy: apply pending migrations (or a dry run) */
	MD_JOB_RESOLVE,  /* md_resolve: mark a migration applied or rolled back */
	MD_JOB_BACKUP,   /* md_backup_take on request (POST /v1/backups) */
	MD_JOB_ROLLBACK, /* md_rollback_down or md_restore_run (POST /v1/rollback) */
	/* POST /v1/fleet/deploy: one deploy job of each target (request "target", "parent"), at
	 * most "parallel" at a time, canary first; its steps are the targets */
	MD_JOB_FLEET_DEPLOY,
	MD_JOB__KINDS,
	/* A journal record of a kind this version does not know (a newer daemon wrote it, or the
	 * journal is damaged): kept and listed as "unknown", never run nor reconciled. */
	MD_JOB_UNKNOWN = MD_JOB__KINDS
};

enum md_job_state {
	MD_JOB_QUEUED,      /* accepted, waiting for the worker */
	MD_JOB_RUNNING,     /* the worker runs it */
	MD_JOB_SUCCEEDED,   /* ended: did what it was asked */
	MD_JOB_FAILED,      /* ended: stopped by an error (see "error") */
	MD_JOB_CANCELLED,   /* ended: cancelled on request */
	MD_JOB_INTERRUPTED, /* ended: the daemon stopped (shutdown or crash) while it ran */
	MD_JOB__STATES
};

/* The journal's names of states and kinds ("succeeded", "deploy"; "unknown" out of range). */
const char *md_job_state_name(enum md_job_state s);
const char *md_job_kind_name(enum md_job_kind k);
/* md_job_state_ended: succeeded, failed, cancelled or interrupted. */
bool md_job_state_ended(enum md_job_state s);

/* md_jobs_open: open the journal in cfg->state_dir (journal.jsonl), rebuild the jobs, mark any
 * job found queued or running as interrupted, and start the worker. Jobs run with settings
 * (borrowed: it must outlive the table). Errors: the journal's (MD_E_IO for damage,
 * MD_E_CONFIG when another daemon holds it). Free with md_jobs_close. */
struct md_settings;
int md_jobs_open(const struct md_config *cfg, struct md_settings *settings, struct md_jobs **ret, struct md_error *err);

/* md_jobs_submit: queue a job. request is the job's parameters (deploy: {"dry_run"}; resolve:
 * {"migration", "as"}), taken over. actor names who asked (a token name). A job with the same
 * idempotency_key (may be NULL) is returned instead, even across restarts (*ret_created false).
 * MD_E_BUSY (err->message names the running job, *ret_job is it) when a job is queued or
 * running; MD_E_IO when the journal cannot be written. *ret_job: the job's JSON (caller's). */
int md_jobs_submit(struct md_jobs *jobs, enum md_job_kind kind, json_t *request, const char *idempotency_key,
		   const char *actor, json_t **ret_job, bool *ret_created, struct md_error *err);

/* md_jobs_get: one job with its steps and logs (read from the journal for old jobs).
 * MD_E_NOT_FOUND. */
int md_jobs_get(struct md_jobs *jobs, const char *id, json_t **ret_job, struct md_error *err);
/* md_jobs_last: the newest job, typed (for health: no JSON to parse). Returns false when there
 * is none. */
struct md_job_brief {
	char id[40];
	enum md_job_kind kind;
	enum md_job_state state;
	char finished_at[32]; /* ISO 8601, "" while it runs */
};
bool md_jobs_last(struct md_jobs *jobs, struct md_job_brief *ret);
/* md_jobs_last_of_target: the newest job of target name (a fleet's target job, or one of the
 * per-target routes). Returns false when there is none. */
bool md_jobs_last_of_target(struct md_jobs *jobs, const char *name, struct md_job_brief *ret);
/* Which jobs md_jobs_list returns; a field left NULL (or the whole filter) matches all. */
struct md_jobs_filter {
	const char *target; /* borrowed: only this target's jobs; "default": those of no named target
			     * (a fleet deploy job is no target's) */
	const char *kind;   /* borrowed: only this kind (md_job_kind_name: "deploy", "fleet-deploy") */
	const char *state;  /* borrowed: only this state (md_job_state_name: "failed") */
	const char *parent; /* borrowed: only the target jobs of this fleet deploy job */
};
/* md_jobs_list: the newest `limit` jobs that match filter (may be NULL), newest first, without
 * steps: {"jobs": [...]}. The caller owns the result. Names are matched as given: an unknown
 * kind or state matches nothing (the API checks them). */
json_t *md_jobs_list(struct md_jobs *jobs, size_t limit, const struct md_jobs_filter *filter);
/* md_jobs_cancel: a queued job is cancelled at once; a running one has its statement cancelled
 * on the server and ends cancelled. MD_E_NOT_FOUND; MD_E_BUSY when the job already ended. */
int md_jobs_cancel(struct md_jobs *jobs, const char *id, const char *actor, json_t **ret_job, struct md_error *err);
/* md_jobs_find_key: the job created with this Idempotency-Key, or NULL. */
json_t *md_jobs_find_key(struct md_jobs *jobs, const char *idempotency_key);
/* md_jobs_active: the queued or running job's id, or false. */
bool md_jobs_active(struct md_jobs *jobs, char *ret_id, size_t idsz);

/* Events of a job for Server-Sent Events: every journal record of the job after after_seq,
 * as [{"seq", "event", "data"}], and whether the job has ended (no more will come). */
int md_jobs_events(struct md_jobs *jobs, const char *id, uint64_t after_seq, json_t **ret_events, bool *ret_ended,
		   struct md_error *err);
/* md_jobs_watch: when the job has nothing after after_seq and is still running, remember fn to
 * be called once (from the worker) when it has: *ret is MD_WATCH_PARKED and *ret_watch its id.
 * Otherwise fn is not kept and *ret says why: MD_WATCH_READY (something to read already) or
 * MD_WATCH_SHUTDOWN (the daemon is stopping). Returns 0, MD_E_NOT_FOUND (no such job) or
 * MD_E_NOMEM. */
enum md_watch_result { MD_WATCH_READY, MD_WATCH_PARKED, MD_WATCH_SHUTDOWN };
int md_jobs_watch(struct md_jobs *jobs, const char *id, uint64_t after_seq, void (*fn)(void *ctx), void *ctx,
		  enum md_watch_result *ret, uint64_t *ret_watch);
/* md_jobs_unwatch: forget a watch (its connection went away). Safe after it fired. */
void md_jobs_unwatch(struct md_jobs *jobs, uint64_t watch);

/* md_jobs_on_change: fn (may be NULL) is called after every job ends (the status cache uses it
 * to forget what it knew). */
void md_jobs_on_change(struct md_jobs *jobs, void (*fn)(void *ctx), void *ctx);

/* md_jobs_on_event: fn (may be NULL) gets every notification the jobs make: job.queued,
 * job.started, job.succeeded, job.failed, job.cancelled, job.interrupted (data: the job, with
 * its steps and error), rollback.succeeded, backup.created (data: the backup), drift.detected
 * and drift.resolved (data: the check's summary). Called from the thread that made the event,
 * in the order the jobs' journal has them; data is borrowed. Events made before fn was set
 * (jobs interrupted by a crash, found at open) are handed over now. A layer above installs
 * it (the composition root: the notifier), so the jobs include nothing of it. */
typedef void (*md_jobs_event_fn)(void *ctx, const char *type, json_t *data);
void md_jobs_on_event(struct md_jobs *jobs, md_jobs_event_fn fn, void *ctx);
/* md_jobs_notify: hand an event of any type (data: an object, taken over) to the hook, from
 * any thread: how code of the jobs, or a caller with only the jobs at hand, notifies. */
void md_jobs_notify(struct md_jobs *jobs, const char *type, json_t *data);

/* md_jobs_drift: a drift check now on the migration URL. with_shadow: the full check (see
 * drift.h) with the shadow and the cache of this daemon, "mode": "shadow". Else "mode":
 * "fingerprint": the live schema's fingerprint against the one the last successful deploy or
 * rollback recorded, "drift" true when it changed (one difference that says so), null when no
 * job recorded one yet ("message" says so). Both add "last_deploy_fingerprint",
 * "last_deploy_job" and "changed_since_last_deploy". Blocks: call it off the HTTP threads. One
 * check runs at a time. Its summary is kept for health. */
int md_jobs_drift(struct md_jobs *jobs, bool with_shadow, json_t **ret, struct md_error *err);
/* md_jobs_drift_target: the same check on a target of the targets file (NULL or "default":
 * md_jobs_drift), against what that target's last deploy recorded; kept for health only for
 * the default. MD_E_NOT_FOUND for an unknown target. */
int md_jobs_drift_target(struct md_jobs *jobs, const char *target, bool with_shadow, json_t **ret,
			 struct md_error *err);
/* md_jobs_drift_status: the last check's summary ({"checked_at", "drift", "differences",
 * "error"}), or NULL when none ran (the caller's reference). */
json_t *md_jobs_drift_status(struct md_jobs *jobs);

/* md_jobs_progress: whether a job runs now, and what it does ("deploying 3/12 NAME"). */
bool md_jobs_progress(struct md_jobs *jobs, char *buf, size_t sz);
/* md_jobs_reconfigure: the drift check's settings of cfg (shadow database, interval) on SIGHUP;
 * the shared settings are reloaded by their owner (md_settings_reload). */
int md_jobs_reconfigure(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err);

/* md_jobs_shutdown: refuse new jobs; let the running migration finish (grace_ms), then cancel
 * the statement; the job ends interrupted. Wakes all watchers. Returns when the worker exits. */
void md_jobs_shutdown(struct md_jobs *jobs, int grace_ms);
void md_jobs_close(struct md_jobs *jobs);

#endif
