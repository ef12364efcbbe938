/* metrics.c - the process-wide metrics registry and the Prometheus text writer (see
 * metrics.h). Counters are relaxed atomics; a histogram's sum is a double updated with a
 * compare-and-swap loop on its bits. A scrape may see a histogram mid-update (a count without
 * its bucket yet): Prometheus tolerates that, and it is off by one observation at most. */
#include "migrated/metrics.h"

#include <math.h>
#include <string.h>

#define N_KIND   MD_JOB__KINDS
#define N_STATE  6
#define N_BUCKET 16

struct histogram {
	const double *bounds; /* N_BUCKET upper bounds, ascending (+Inf is implicit) */
	uint64_t buckets[N_BUCKET + 1];
	uint64_t count;
	uint64_t sum_bits; /* a double */
};

static const double apply_bounds[N_BUCKET] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
					      2.5,   5,    10,    30,   60,  300,  900, 3600};
static const double backup_bounds[N_BUCKET] = {0.1, 0.25, 0.5, 1,   2.5,  5,    10,   30,
					       60,  120,  300, 600, 1200, 1800, 3600, 7200};
static const double lock_bounds[N_BUCKET] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					     0.5,   1,      2.5,   5,    10,    30,   60,  300};

static struct {
	uint64_t jobs[N_KIND][N_STATE][2]; /* kind, outcome, dry run */
	uint64_t last_deploy_bits;         /* a double: unix time, 0 = never */
	uint64_t lock_retries;
	uint64_t backups[2];       /* succeeded, failed */
	uint64_t last_backup_bits; /* a double: unix time of the last good backup, 0 = none */
	uint64_t last_backup_size; /* bytes */
	struct histogram apply, lock_wait, backup;
} reg = {.apply = {.bounds = apply_bounds}, .lock_wait = {.bounds = lock_bounds}, .backup = {.bounds = backup_bounds}};

static uint64_t bits_of(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double double_of(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static void observe(struct histogram *h, double v)
{
	size_t i = 0;
	while (i < N_BUCKET && v > h->bounds[i])
		i++;
	__atomic_add_fetch(&h->buckets[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	uint64_t old = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED), want;
	do
		want = bits_of(double_of(old) + v);
	while (!__atomic_compare_exchange_n(&h->sum_bits, &old, want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void md_metrics_job_ended(enum md_job_kind kind, enum md_job_state outcome, bool dry_run)
{
	if ((unsigned)kind < N_KIND && (unsigned)outcome < N_STATE)
		__atomic_add_fetch(&reg.jobs[kind][outcome][dry_run ? 1 : 0], 1, __ATOMIC_RELAXED);
}

void md_metrics_backup(bool ok, double seconds, uint64_t size_bytes, double unix_time)
{
	__atomic_add_fetch(&reg.backups[ok ? 0 : 1], 1, __ATOMIC_RELAXED);
	if (!ok)
		return;
	observe(&reg.backup, seconds);
	__atomic_store_n(&reg.last_backup_size, size_bytes, __ATOMIC_RELAXED);
	uint64_t old = __atomic_load_n(&reg.last_backup_bits, __ATOMIC_RELAXED);
	while (unix_time > double_of(old) &&
	       !__atomic_compare_exchange_n(&reg.last_backup_bits, &old, bits_of(unix_time), true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

void md_metrics_deploy_succeeded(double unix_time)
{
	uint64_t old = __atomic_load_n(&reg.last_deploy_bits, __ATOMIC_RELAXED);
	/* Keep the latest: replayed jobs may come in any order. */
	while (unix_time > double_of(old) &&
	       !__atomic_compare_exchange_n(&reg.last_deploy_bits, &old, bits_of(unix_time), true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

void md_metrics_migration_applied(double seconds)
{
	observe(&reg.apply, seconds);
}

void md_metrics_lock_waited(double seconds)
{
	observe(&reg.lock_wait, seconds);
}

void md_metrics_lock_retry(void)
{
	__atomic_add_fetch(&reg.lock_retries, 1, __ATOMIC_RELAXED);
}

/* ---- the text format ---- */

void md_metrics_family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void number(FILE *out, double v)
{
	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else if (isnan(v))
		fputs("NaN", out);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.15g", v);
}

void md_metrics_sample(FILE *out, const char *name, const char *labels, double value)
{
	if (labels && *labels)
		fprintf(out, "%s{%s} ", name, labels);
	else
		fprintf(out, "%s ", name);
	number(out, value);
	fputc('\n', out);
}

const char *md_metrics_label_escape(const char *v, char *buf, size_t sz)
{
	size_t n = 0;
	for (; v && *v && n + 3 < sz; v++) {
		if (*v == '\\' || *v == '"') {
			buf[n++] = '\\';
			buf[n++] = *v;
		} else if (*v == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *v;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void write_histogram(FILE *out, const char *name, const char *help, const struct histogram *h)
{
	char bucket[128], labels[64];
	uint64_t cum = 0;
	md_metrics_family(out, name, "histogram", help);
	snprintf(bucket, sizeof bucket, "%s_bucket", name);
	for (size_t i = 0; i <= N_BUCKET; i++) {
		cum += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
		if (i < N_BUCKET)
			snprintf(labels, sizeof labels, "le=\"%g\"", h->bounds[i]);
		else
			snprintf(labels, sizeof labels, "le=\"+Inf\"");
		md_metrics_sample(out, bucket, labels, (double)cum);
	}
	snprintf(bucket, sizeof bucket, "%s_sum", name);
	md_metrics_sample(out, bucket, "", double_of(__atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED)));
	snprintf(bucket, sizeof bucket, "%s_count", name);
	/* The count is the +Inf bucket, so the two always agree in one scrape. */
	md_metrics_sample(out, bucket, "", (double)cum);
}

void md_metrics_write_registry(FILE *out)
{
	/* The journal's names (jobs.c), spelled here so the registry needs nothing above core. */
	static const char *const kind_names[N_KIND] = {"deploy", "resolve", "backup", "rollback"};
	static const char *const state_names[N_STATE] = {"queued", "running",   "succeeded",
							 "failed", "cancelled", "interrupted"};
	static const enum md_job_state ended[] = {MD_JOB_SUCCEEDED, MD_JOB_FAILED, MD_JOB_CANCELLED,
						  MD_JOB_INTERRUPTED};
	char labels[128];

	md_metrics_family(out, "migrated_jobs_total", "counter",
			  "Jobs that ended since the daemon started, by kind, outcome and dry run.");
	for (int k = 0; k < N_KIND; k++)
		for (size_t s = 0; s < sizeof ended / sizeof *ended; s++)
			for (int d = 0; d < 2; d++) {
				if (k != MD_JOB_DEPLOY && d)
					continue; /* only deploys have a dry run */
				snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\",dry_run=\"%s\"",
					 kind_names[k], state_names[ended[s]], d ? "true" : "false");
				md_metrics_sample(out, "migrated_jobs_total", labels,
						  (double)__atomic_load_n(&reg.jobs[k][ended[s]][d], __ATOMIC_RELAXED));
			}
	double last = double_of(__atomic_load_n(&reg.last_deploy_bits, __ATOMIC_RELAXED));
	md_metrics_family(out, "migrated_last_successful_deploy_timestamp_seconds", "gauge",
			  "Unix time of the last deploy job that succeeded (0: none in the journal).");
	md_metrics_sample(out, "migrated_last_successful_deploy_timestamp_seconds", "", last);
	write_histogram(out, "migrated_migration_apply_duration_seconds",
			"Time to apply one migration, from its start to its commit.", &reg.apply);
	write_histogram(out, "migrated_advisory_lock_wait_seconds",
			"Time a deploy waited for the migration lock (pg_advisory_lock(72707369)).", &reg.lock_wait);
	md_metrics_family(out, "migrated_lock_timeout_retries_total", "counter",
			  "Migrations retried after a lock_timeout or a deadlock.");
	md_metrics_sample(out, "migrated_lock_timeout_retries_total", "",
			  (double)__atomic_load_n(&reg.lock_retries, __ATOMIC_RELAXED));
	md_metrics_family(out, "migrated_backups_total", "counter",
			  "Backups taken (before deploys, on request, before restores), by outcome.");
	md_metrics_sample(out, "migrated_backups_total", "outcome=\"succeeded\"",
			  (double)__atomic_load_n(&reg.backups[0], __ATOMIC_RELAXED));
	md_metrics_sample(out, "migrated_backups_total", "outcome=\"failed\"",
			  (double)__atomic_load_n(&reg.backups[1], __ATOMIC_RELAXED));
	write_histogram(out, "migrated_backup_duration_seconds", "Time to take one backup (pg_dump and sha256).",
			&reg.backup);
	md_metrics_family(out, "migrated_last_backup_timestamp_seconds", "gauge",
			  "Unix time of the last backup that succeeded since the daemon started (0: none).");
	md_metrics_sample(out, "migrated_last_backup_timestamp_seconds", "",
			  double_of(__atomic_load_n(&reg.last_backup_bits, __ATOMIC_RELAXED)));
	md_metrics_family(out, "migrated_last_backup_size_bytes", "gauge", "Size of the last backup taken.");
	md_metrics_sample(out, "migrated_last_backup_size_bytes", "",
			  (double)__atomic_load_n(&reg.last_backup_size, __ATOMIC_RELAXED));
}
