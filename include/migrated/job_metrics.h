/* job_metrics.h - the daemon's job counters and histograms for Prometheus: what the job runner
 * and its steps observe goes into one process-wide registry of fixed metrics (relaxed atomics:
 * any thread, a few nanoseconds), written out by GET /metrics with core's writer (metrics.h). */
#ifndef MIGRATED_JOB_METRICS_H
#define MIGRATED_JOB_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "migrated/jobs.h"

/* Observations (thread-safe; values out of range are ignored). */
void md_job_metrics_job_ended(enum md_job_kind kind, enum md_job_state outcome, bool dry_run);
void md_job_metrics_deploy_succeeded(double unix_time); /* a real (not dry-run) deploy; keeps the latest */
void md_job_metrics_migration_applied(double seconds);
void md_job_metrics_lock_waited(double seconds);
void md_job_metrics_lock_retry(void);
void md_job_metrics_backup(bool ok, double seconds, uint64_t size_bytes, double unix_time);
/* A data preflight's document (preflight.h; NULL is ignored): its checks, failed and skipped
 * findings, and its duration. */
void md_job_metrics_preflight(const json_t *preflight);

/* md_job_metrics_write: every metric of the registry, in the text format, to out. */
void md_job_metrics_write(FILE *out);

#endif
