/* job_metrics.c - what the jobs observe, for Prometheus (see job_metrics.h): one process-wide
 * registry of fixed metrics, relaxed atomics, so observing costs a few nanoseconds on any
 * thread. Written out with core's text writer. */
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"

#include <stdio.h>

#define N_KIND  MD_JOB__KINDS
#define N_STATE MD_JOB__STATES

static const double apply_bounds[MD_HISTOGRAM_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
							  2.5,   5,    10,    30,   60,  300,  900, 3600};
static const double backup_bounds[MD_HISTOGRAM_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5,  5,    10,   30,
							   60,  120,  300, 600, 1200, 1800, 3600, 7200};
static const double lock_bounds[MD_HISTOGRAM_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
							 0.5,   1,      2.5,   5,    10,    30,   60,  300};

static struct {
	uint64_t jobs[N_KIND][N_STATE][2]; /* kind, outcome, dry run */
	uint64_t last_deploy_bits;         /* a double: unix time, 0 = never */
	uint64_t lock_retries;
	uint64_t backups[2];       /* succeeded, failed */
	uint64_t last_backup_bits; /* a double: unix time of the last good backup, 0 = none */
	uint64_t last_backup_size; /* bytes */
	uint64_t preflight[3];     /* checks run, failed, skipped */
	struct md_histogram apply, lock_wait, backup, preflight_time;
} reg = {.apply = {.bounds = apply_bounds},
	 .lock_wait = {.bounds = lock_bounds},
	 .backup = {.bounds = backup_bounds},
	 .preflight_time = {.bounds = apply_bounds}};

void md_job_metrics_preflight(const json_t *pf)
{
	static const char *const keys[3] = {"checks", "failed", "skipped"};
	if (!pf || json_object_get(pf, "reason"))
		return; /* not run */
	for (int i = 0; i < 3; i++) {
		json_int_t n = json_integer_value(json_object_get(pf, keys[i]));
		if (n > 0)
			__atomic_add_fetch(&reg.preflight[i], (uint64_t)n, __ATOMIC_RELAXED);
	}
	md_histogram_observe(&reg.preflight_time, json_number_value(json_object_get(pf, "duration_ms")) / 1000.0);
}

void md_job_metrics_job_ended(enum md_job_kind kind, enum md_job_state outcome, bool dry_run)
{
	if ((unsigned)kind < N_KIND && (unsigned)outcome < N_STATE)
		__atomic_add_fetch(&reg.jobs[kind][outcome][dry_run ? 1 : 0], 1, __ATOMIC_RELAXED);
}

void md_job_metrics_backup(bool ok, double seconds, uint64_t size_bytes, double unix_time)
{
	__atomic_add_fetch(&reg.backups[ok ? 0 : 1], 1, __ATOMIC_RELAXED);
	if (!ok)
		return;
	md_histogram_observe(&reg.backup, seconds);
	__atomic_store_n(&reg.last_backup_size, size_bytes, __ATOMIC_RELAXED);
	md_metrics_store_max(&reg.last_backup_bits, unix_time);
}

void md_job_metrics_deploy_succeeded(double unix_time)
{
	md_metrics_store_max(&reg.last_deploy_bits, unix_time); /* the latest: replay comes in any order */
}

void md_job_metrics_migration_applied(double seconds)
{
	md_histogram_observe(&reg.apply, seconds);
}

void md_job_metrics_lock_waited(double seconds)
{
	md_histogram_observe(&reg.lock_wait, seconds);
}

void md_job_metrics_lock_retry(void)
{
	__atomic_add_fetch(&reg.lock_retries, 1, __ATOMIC_RELAXED);
}

void md_job_metrics_write(FILE *out)
{
	char labels[128];

	md_metrics_family(out, "migrated_jobs_total", "counter",
			  "Jobs that ended since the daemon started, by kind, outcome and dry run.");
	for (int k = 0; k < N_KIND; k++)
		for (int s = 0; s < N_STATE; s++)
			for (int d = 0; d < 2; d++) {
				if (!md_job_state_ended((enum md_job_state)s) || (k != MD_JOB_DEPLOY && d))
					continue; /* only ended jobs count; only deploys have a dry run */
				snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\",dry_run=\"%s\"",
					 md_job_kind_name((enum md_job_kind)k), md_job_state_name((enum md_job_state)s),
					 d ? "true" : "false");
				md_metrics_sample(out, "migrated_jobs_total", labels,
						  (double)__atomic_load_n(&reg.jobs[k][s][d], __ATOMIC_RELAXED));
			}
	double last = md_metrics_load_double(&reg.last_deploy_bits);
	md_metrics_family(out, "migrated_last_successful_deploy_timestamp_seconds", "gauge",
			  "Unix time of the last deploy job that succeeded (0: none in the journal).");
	md_metrics_sample(out, "migrated_last_successful_deploy_timestamp_seconds", "", last);
	md_metrics_write_histogram(out, "migrated_migration_apply_duration_seconds",
				   "Time to apply one migration, from its start to its commit.", &reg.apply);
	md_metrics_write_histogram(out, "migrated_advisory_lock_wait_seconds",
				   "Time a deploy waited for the migration lock (pg_advisory_lock(72707369)).",
				   &reg.lock_wait);
	md_metrics_family(out, "migrated_lock_timeout_retries_total", "counter",
			  "Migrations retried after a lock_timeout or a deadlock.");
	md_metrics_sample(out, "migrated_lock_timeout_retries_total", "",
			  (double)__atomic_load_n(&reg.lock_retries, __ATOMIC_RELAXED));
	md_metrics_family(out, "migrated_preflight_checks_total", "counter",
			  "Data preflight questions asked of the live data (before deploys and in plans), by result.");
	md_metrics_sample(out, "migrated_preflight_checks_total", "result=\"asked\"",
			  (double)__atomic_load_n(&reg.preflight[0], __ATOMIC_RELAXED));
	md_metrics_sample(out, "migrated_preflight_checks_total", "result=\"failed\"",
			  (double)__atomic_load_n(&reg.preflight[1], __ATOMIC_RELAXED));
	md_metrics_sample(out, "migrated_preflight_checks_total", "result=\"skipped\"",
			  (double)__atomic_load_n(&reg.preflight[2], __ATOMIC_RELAXED));
	md_metrics_write_histogram(out, "migrated_preflight_duration_seconds",
				   "Time of one whole data preflight (all its questions).", &reg.preflight_time);
	md_metrics_family(out, "migrated_backups_total", "counter",
			  "Backups taken (before deploys, on request, before restores), by outcome.");
	md_metrics_sample(out, "migrated_backups_total", "outcome=\"succeeded\"",
			  (double)__atomic_load_n(&reg.backups[0], __ATOMIC_RELAXED));
	md_metrics_sample(out, "migrated_backups_total", "outcome=\"failed\"",
			  (double)__atomic_load_n(&reg.backups[1], __ATOMIC_RELAXED));
	md_metrics_write_histogram(out, "migrated_backup_duration_seconds",
				   "Time to take one backup (pg_dump and sha256).", &reg.backup);
	md_metrics_family(out, "migrated_last_backup_timestamp_seconds", "gauge",
			  "Unix time of the last backup that succeeded since the daemon started (0: none).");
	md_metrics_sample(out, "migrated_last_backup_timestamp_seconds", "",
			  md_metrics_load_double(&reg.last_backup_bits));
	md_metrics_family(out, "migrated_last_backup_size_bytes", "gauge", "Size of the last backup taken.");
	md_metrics_sample(out, "migrated_last_backup_size_bytes", "",
			  (double)__atomic_load_n(&reg.last_backup_size, __ATOMIC_RELAXED));
}
