/* test_render.c - the renderings every face shares: the one error document (redacted, valid
 * UTF-8) and its flat form, the plan document's shape, sizes in IEC units, and the Prometheus
 * text writer (families, escaping, histograms, the jobs' registry). */
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/job_metrics.h"
#include "migrated/log.h"
#include "migrated/metrics.h"
#include "migrated/report.h"
#include "migrated/units.h"
#include "migrated/utf8.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(void (*fn)(FILE *, void *), void *ctx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(f, ctx);
	fclose(f);
	return buf;
}

START_TEST(the_error_document_is_redacted_valid_utf8_and_has_one_shape)
{
	struct md_error err = {0};
	ck_assert_int_eq(md_secret_register("hunter2-password-xyz"), 0);
	md_error_set(&err, MD_E_CONNECT, "cannot connect as u:hunter2-password-xyz to /v1/\xff\xfe");
	err.conn_failure = MD_CONN_AUTH;
	snprintf(err.prisma_code, sizeof err.prisma_code, "P1000");
	snprintf(err.hint, sizeof err.hint, "check hunter2-password-xyz");
	json_t *doc = md_report_error_json(&err);
	ck_assert_ptr_nonnull(doc); /* jansson refuses invalid UTF-8: the scrub made it valid */
	char *text = json_dumps(doc, JSON_SORT_KEYS);
	ck_assert_ptr_null(strstr(text, "hunter2"));
	ck_assert_ptr_nonnull(strstr(text, "\"code\": \"database_unreachable\""));
	json_t *e = json_object_get(doc, "error");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "detail"), "prisma_code")), "P1000");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "detail"), "connection")), "auth");
	const char *msg = json_string_value(json_object_get(e, "message"));
	ck_assert(md_utf8_valid(msg, strlen(msg), NULL));
	free(text);

	/* The flat form has the same fields, at one level. */
	json_t *flat = md_report_error_fields(&err);
	ck_assert_str_eq(json_string_value(json_object_get(flat, "message")), msg);
	ck_assert_str_eq(json_string_value(json_object_get(flat, "connection")), "auth");
	ck_assert_str_eq(json_string_value(json_object_get(flat, "code")), "database_unreachable");
	ck_assert_ptr_null(strstr(json_string_value(json_object_get(flat, "hint")), "hunter2"));
	json_decref(flat);
	json_decref(doc);
	md_secret_forget_all();
}
END_TEST

START_TEST(the_plan_document_says_whether_a_deploy_would_run)
{
	struct md_deploy_report rep = {.n_found = 3, .n_pending = 0};
	json_t *doc = md_report_plan_json(&rep, 0, NULL, NULL, json_pack("{s:s}", "status", "ok"));
	ck_assert(json_is_true(json_object_get(doc, "would_deploy")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "preflight"), "status")), "ok");
	ck_assert(json_is_array(json_object_get(doc, "migrations")));
	ck_assert_ptr_null(json_object_get(doc, "applied")); /* a dry run applies nothing */
	ck_assert_ptr_null(json_object_get(doc, "failure"));
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "found")), 3);
	json_decref(doc);
	struct md_error err = {0};
	md_error_set(&err, MD_E_FAILED_EXISTS, "a failed migration blocks deploys");
	doc = md_report_plan_json(&rep, MD_E_FAILED_EXISTS, &err, json_array(), NULL);
	ck_assert_ptr_null(json_object_get(doc, "preflight"));
	ck_assert(json_is_false(json_object_get(doc, "would_deploy")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
			 "failed_migration_exists");
	json_decref(doc);
}
END_TEST

START_TEST(sizes_are_in_iec_units)
{
	char out[32];
	md_format_bytes(512, out, sizeof out);
	ck_assert_str_eq(out, "512 bytes");
	md_format_bytes(1536, out, sizeof out);
	ck_assert_str_eq(out, "1.5 KiB");
	md_format_bytes(48.0 * 1024 * 1024 * 1024, out, sizeof out);
	ck_assert_str_eq(out, "48.0 GiB");
}
END_TEST

static void write_some(FILE *f, void *ctx)
{
	struct md_histogram *h = ctx;
	char esc[64];
	md_metrics_family(f, "t_total", "counter", "A test counter.");
	md_metrics_sample(f, "t_total", "", 3);
	md_metrics_sample(f, "t_total", "k=\"v\"", 0.25);
	md_metrics_label_escape("a\"b\\c\nd", esc, sizeof esc);
	fprintf(f, "escaped %s\n", esc);
	md_metrics_write_histogram(f, "t_seconds", "A test histogram.", h);
}

START_TEST(the_metrics_writer_speaks_the_text_format)
{
	static const double bounds[MD_HISTOGRAM_BUCKETS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	struct md_histogram h = {.bounds = bounds};
	md_histogram_observe(&h, 0.5);
	md_histogram_observe(&h, 2.5);
	md_histogram_observe(&h, 100);
	char *text = capture(write_some, &h);
	ck_assert_ptr_nonnull(strstr(text, "# HELP t_total A test counter.\n# TYPE t_total counter\nt_total 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "t_total{k=\"v\"} 0.25\n"));
	ck_assert_ptr_nonnull(strstr(text, "escaped a\\\"b\\\\c\\nd\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE t_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"1\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"3\"} 2\n")); /* cumulative */
	ck_assert_ptr_nonnull(strstr(text, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "t_seconds_sum 103\n"));
	ck_assert_ptr_nonnull(strstr(text, "t_seconds_count 3\n"));
	free(text);

	/* A double kept in an atomic keeps the largest. */
	uint64_t bits = 0;
	md_metrics_store_max(&bits, 5);
	md_metrics_store_max(&bits, 3);
	ck_assert(md_metrics_load_double(&bits) == 5);
}
END_TEST

static void write_jobs(FILE *f, void *ctx)
{
	(void)ctx;
	md_job_metrics_write(f);
}

START_TEST(the_jobs_registry_counts_by_kind_outcome_and_dry_run)
{
	md_job_metrics_job_ended(MD_JOB_DEPLOY, MD_JOB_FAILED, true);
	md_job_metrics_job_ended(MD_JOB_UNKNOWN, MD_JOB_FAILED, false); /* out of range: ignored */
	md_job_metrics_job_ended(MD_JOB_BACKUP, MD_JOB_SUCCEEDED, false);
	char *text = capture(write_jobs, NULL);
	ck_assert_ptr_nonnull(
		strstr(text, "migrated_jobs_total{kind=\"deploy\",outcome=\"failed\",dry_run=\"true\"} 1\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "migrated_jobs_total{kind=\"backup\",outcome=\"succeeded\",dry_run=\"false\"} 1\n"));
	ck_assert_ptr_null(strstr(text, "kind=\"backup\",outcome=\"succeeded\",dry_run=\"true\"")); /* deploys only */
	ck_assert_ptr_null(strstr(text, "outcome=\"running\""));                                    /* ended only */
	ck_assert_ptr_null(strstr(text, "kind=\"unknown\""));
	free(text);
}
END_TEST

Suite *suite_render(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("render");
	tcase_add_test(tc, the_error_document_is_redacted_valid_utf8_and_has_one_shape);
	tcase_add_test(tc, the_plan_document_says_whether_a_deploy_would_run);
	tcase_add_test(tc, sizes_are_in_iec_units);
	tcase_add_test(tc, the_metrics_writer_speaks_the_text_format);
	tcase_add_test(tc, the_jobs_registry_counts_by_kind_outcome_and_dry_run);
	suite_add_tcase(s, tc);
	return s;
}
