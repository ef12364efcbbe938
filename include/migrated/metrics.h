/* metrics.h - the daemon's counters and histograms for Prometheus, and the text-format writer.
 * What the job runner and the HTTP server observe goes into one process-wide registry of fixed
 * metrics (lock-free atomic updates: observing costs a few nanoseconds on any thread); gauges
 * that mirror other modules (pool, probe) are written by whoever renders /metrics. */
#ifndef MIGRATED_METRICS_H
#define MIGRATED_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "migrated/jobs.h"

/* Observations (thread-safe). */
void md_metrics_job_ended(enum md_job_kind kind, enum md_job_state outcome, bool dry_run);
void md_metrics_deploy_succeeded(double unix_time); /* a real (not dry-run) deploy */
void md_metrics_migration_applied(double seconds);
void md_metrics_lock_waited(double seconds);
void md_metrics_lock_retry(void);
void md_metrics_backup(bool ok, double seconds, uint64_t size_bytes, double unix_time);

/* Writing the text exposition format (version 0.0.4). Each family gets its HELP and TYPE once,
 * then its samples. Label values are escaped. */
void md_metrics_family(FILE *out, const char *name, const char *type, const char *help);
/* md_metrics_sample: `name{labels} value`; labels is "" or `k="v",k2="v2"` already escaped. */
void md_metrics_sample(FILE *out, const char *name, const char *labels, double value);
/* md_metrics_label_escape: backslash, double quote and newline escaped into buf. */
const char *md_metrics_label_escape(const char *value, char *buf, size_t bufsz);
/* md_metrics_write_registry: every metric of the registry above. */
void md_metrics_write_registry(FILE *out);

#endif
