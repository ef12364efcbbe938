/* metrics.c - the Prometheus side of metrics, for any layer (see metrics.h): histograms with
 * lock-free updates and the text exposition writer. A histogram's sum is a double updated with
 * a compare-and-swap loop on its bits. A scrape may see a histogram mid-update (a count without
 * its bucket yet): Prometheus tolerates that, and it is off by one observation at most. */
#include "migrated/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static uint64_t bits_of(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

double md_metrics_load_double(const uint64_t *bits)
{
	uint64_t u = __atomic_load_n(bits, __ATOMIC_RELAXED);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

void md_metrics_store_max(uint64_t *bits, double v)
{
	uint64_t old = __atomic_load_n(bits, __ATOMIC_RELAXED);
	double cur;
	for (;;) {
		memcpy(&cur, &old, sizeof cur);
		if (!(v > cur) ||
		    __atomic_compare_exchange_n(bits, &old, bits_of(v), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return;
	}
}

void md_histogram_observe(struct md_histogram *h, double v)
{
	size_t i = 0;
	while (i < MD_HISTOGRAM_BUCKETS && v > h->bounds[i])
		i++;
	__atomic_add_fetch(&h->buckets[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
	uint64_t old = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED), want;
	double cur;
	do {
		memcpy(&cur, &old, sizeof cur);
		want = bits_of(cur + v);
	} while (!__atomic_compare_exchange_n(&h->sum_bits, &old, want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
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

void md_metrics_write_histogram(FILE *out, const char *name, const char *help, const struct md_histogram *h)
{
	char bucket[128], labels[64];
	uint64_t cum = 0;
	md_metrics_family(out, name, "histogram", help);
	snprintf(bucket, sizeof bucket, "%s_bucket", name);
	for (size_t i = 0; i <= MD_HISTOGRAM_BUCKETS; i++) {
		cum += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
		if (i < MD_HISTOGRAM_BUCKETS)
			snprintf(labels, sizeof labels, "le=\"%g\"", h->bounds[i]);
		else
			snprintf(labels, sizeof labels, "le=\"+Inf\"");
		md_metrics_sample(out, bucket, labels, (double)cum);
	}
	snprintf(bucket, sizeof bucket, "%s_sum", name);
	md_metrics_sample(out, bucket, "", md_metrics_load_double(&h->sum_bits));
	snprintf(bucket, sizeof bucket, "%s_count", name);
	/* The count is the +Inf bucket, so the two always agree in one scrape. */
	md_metrics_sample(out, bucket, "", (double)cum);
}
