/* metrics.h - Prometheus for any layer: histograms with lock-free updates, doubles kept in
 * atomics, and the text exposition format (version 0.0.4) writer. What to count lives with
 * whoever observes it (the jobs' registry: job_metrics.h; gauges of the pool and probe are
 * written by the API when it renders /metrics). */
#ifndef MIGRATED_METRICS_H
#define MIGRATED_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MD_HISTOGRAM_BUCKETS 16

/* A histogram: bounds (MD_HISTOGRAM_BUCKETS ascending upper bounds; +Inf is implicit) set at
 * initialisation, the rest zero. Updated with relaxed atomics from any thread. */
struct md_histogram {
	const double *bounds;
	uint64_t buckets[MD_HISTOGRAM_BUCKETS + 1];
	uint64_t count;
	uint64_t sum_bits; /* a double */
};

/* md_histogram_observe: count v in its bucket and the sum (thread-safe). */
void md_histogram_observe(struct md_histogram *h, double v);
/* md_metrics_store_max / md_metrics_load_double: a double kept in *bits (atomically): store v
 * only when it is larger than what is there; read it. */
void md_metrics_store_max(uint64_t *bits, double v);
double md_metrics_load_double(const uint64_t *bits);

/* Writing the text format. Each family gets its HELP and TYPE once, then its samples. */
void md_metrics_family(FILE *out, const char *name, const char *type, const char *help);
/* md_metrics_sample: `name{labels} value`; labels is "" or `k="v",k2="v2"` already escaped. */
void md_metrics_sample(FILE *out, const char *name, const char *labels, double value);
/* md_metrics_label_escape: backslash, double quote and newline of value escaped into buf
 * (size sz, always terminated, cut when too long); returns buf. */
const char *md_metrics_label_escape(const char *value, char *buf, size_t sz);
/* md_metrics_write_histogram: the family, its cumulative buckets, sum and count. */
void md_metrics_write_histogram(FILE *out, const char *name, const char *help, const struct md_histogram *h);

#endif
