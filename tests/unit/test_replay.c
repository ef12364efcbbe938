/* test_replay.c - the jobs table rebuilt from a journal (md_jobs_open): every record type
 * (job, state, step, log, cancel, end), records of jobs compaction dropped, bookkeeping
 * records, an unknown record type, an unknown job kind, an end with a state that makes no
 * sense, and jobs cut short (queued or running at the end of the journal). No database: the
 * worker has no URL to reconcile against and idles. */
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/journal.h"
#include "migrated/settings.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/md-unit-replay-XXXXXX");
	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/journal.jsonl", dir);
	setenv("MIGRATED_CONFIG", "/dev/null", 1);
	unsetenv("DATABASE_URL");
	unsetenv("DIRECT_URL");
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void append_all(const char *const *records, size_t n)
{
	struct md_journal *j = NULL;
	struct md_error err = {0};
	ck_assert_msg(md_journal_open(path, NULL, NULL, &j, NULL, &err) == 0, "%s", err.message);
	for (size_t i = 0; i < n; i++) {
		json_error_t je;
		json_t *rec = json_loads(records[i], 0, &je);
		ck_assert_msg(rec, "record %zu: %s", i, je.text);
		ck_assert_msg(md_journal_append(j, rec, NULL, &err) == 0, "%s", err.message);
		json_decref(rec);
	}
	md_journal_close(j);
}

static json_t *find(json_t *list, const char *id)
{
	size_t i;
	json_t *job;
	json_array_foreach(json_object_get(list, "jobs"), i,
			   job) if (strcmp(json_string_value(json_object_get(job, "id")), id) == 0) return job;
	return NULL;
}

static const char *str(json_t *job, const char *key)
{
	return json_string_value(json_object_get(job, key));
}

START_TEST(every_record_type_rebuilds_the_jobs_and_nothing_unknown_runs)
{
	static const char *const records[] = {
		/* A: a deploy that ran two steps, was asked to cancel, and succeeded. */
		"{\"type\":\"job\",\"job\":\"job-a\",\"kind\":\"deploy\",\"request\":{\"dry_run\":false},"
		"\"idempotency_key\":\"key-a\",\"actor\":\"ci\"}",
		"{\"type\":\"state\",\"job\":\"job-a\",\"state\":\"running\"}",
		"{\"type\":\"step\",\"job\":\"job-a\",\"step\":{\"index\":0,\"kind\":\"preflight\"}}",
		"{\"type\":\"log\",\"job\":\"job-a\",\"level\":\"info\",\"message\":\"hello\"}",
		"{\"type\":\"step\",\"job\":\"job-a\",\"step\":{\"index\":1,\"kind\":\"migration\"}}",
		"{\"type\":\"cancel\",\"job\":\"job-a\"}",
		"{\"type\":\"frobnicate\",\"job\":\"job-a\",\"what\":\"a record type from a newer version\"}",
		"{\"type\":\"end\",\"job\":\"job-a\",\"state\":\"succeeded\",\"error\":null,\"result\":{\"applied\":[]}"
		"}",
		/* B: a resolve that failed. */
		"{\"type\":\"job\",\"job\":\"job-b\",\"kind\":\"resolve\",\"request\":{\"migration\":\"m\",\"as\":"
		"\"applied\"}}",
		"{\"type\":\"end\",\"job\":\"job-b\",\"state\":\"failed\",\"error\":{\"code\":\"resolve_refused\","
		"\"message\":\"no\"},\"result\":null}",
		/* C: a kind this version does not know, left running. */
		"{\"type\":\"job\",\"job\":\"job-c\",\"kind\":\"teleport\",\"request\":{}}",
		"{\"type\":\"state\",\"job\":\"job-c\",\"state\":\"running\"}",
		/* D: a deploy still queued when the daemon died. */
		"{\"type\":\"job\",\"job\":\"job-d\",\"kind\":\"deploy\",\"request\":{}}",
		/* E: an end whose state is not an end state: failed, not left running. */
		"{\"type\":\"job\",\"job\":\"job-e\",\"kind\":\"backup\",\"request\":{}}",
		"{\"type\":\"end\",\"job\":\"job-e\",\"state\":\"running\",\"error\":null,\"result\":null}",
		/* Records of a job compaction dropped, and bookkeeping without a job. */
		"{\"type\":\"state\",\"job\":\"job-gone\",\"state\":\"running\"}",
		"{\"type\":\"compacted\",\"dropped\":3}",
		/* A duplicate job record (a replayed append) does not make a second job. */
		"{\"type\":\"job\",\"job\":\"job-a\",\"kind\":\"rollback\",\"request\":{}}",
	};
	append_all(records, sizeof records / sizeof records[0]);

	struct md_config_flags flags = {.state_dir = dir, .migrations_dir = dir};
	struct md_config *cfg = NULL;
	struct md_jobs *jobs = NULL;
	struct md_error err = {0};
	struct md_settings *settings = NULL;
	ck_assert_msg(md_config_load(&flags, &cfg, &err) == 0, "%s", err.message);
	ck_assert_msg(md_settings_new(cfg, &settings, &err) == 0, "%s", err.message);
	ck_assert_msg(md_jobs_open(cfg, settings, &jobs, &err) == 0, "%s", err.message);
	json_t *list = md_jobs_list(jobs, 50, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(list, "jobs")), 5);

	json_t *a = find(list, "job-a");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(str(a, "kind"), "deploy");
	ck_assert_str_eq(str(a, "state"), "succeeded");
	ck_assert_str_eq(str(a, "idempotency_key"), "key-a");
	ck_assert_str_eq(str(a, "requested_by"), "ci");
	ck_assert_int_eq(json_integer_value(json_object_get(a, "steps_count")), 2);
	ck_assert(json_is_true(json_object_get(a, "cancel_requested")));
	ck_assert(json_is_null(json_object_get(a, "error")));

	json_t *b = find(list, "job-b");
	ck_assert_str_eq(str(b, "kind"), "resolve");
	ck_assert_str_eq(str(b, "state"), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "error"), "code")), "resolve_refused");

	json_t *c = find(list, "job-c");
	ck_assert_str_eq(str(c, "kind"), "unknown"); /* never guessed as a deploy */
	ck_assert_str_eq(str(c, "state"), "interrupted");

	json_t *d = find(list, "job-d");
	ck_assert_str_eq(str(d, "kind"), "deploy");
	ck_assert_str_eq(str(d, "state"), "interrupted");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "error"), "code")), "interrupted");

	ck_assert_str_eq(str(find(list, "job-e"), "state"), "failed");
	ck_assert_ptr_null(find(list, "job-gone"));
	json_decref(list);

	/* The id of an idempotency key is found again, and nothing is active. */
	json_t *byk = md_jobs_find_key(jobs, "key-a");
	ck_assert_ptr_nonnull(byk);
	json_decref(byk);
	char active[64];
	ck_assert(!md_jobs_active(jobs, active, sizeof active));
	md_jobs_close(jobs);
	md_config_free(cfg);

	/* The interruptions were journaled: a second open finds the same states. */
	cfg = NULL;
	ck_assert(md_config_load(&flags, &cfg, &err) == 0);
	ck_assert_msg(md_jobs_open(cfg, settings, &jobs, &err) == 0, "%s", err.message);
	list = md_jobs_list(jobs, 50, NULL);
	ck_assert_str_eq(str(find(list, "job-c"), "state"), "interrupted");
	ck_assert_str_eq(str(find(list, "job-d"), "state"), "interrupted");
	json_decref(list);
	md_jobs_close(jobs);
	md_settings_free(settings);
	md_config_free(cfg);
}
END_TEST

Suite *suite_replay(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, every_record_type_rebuilds_the_jobs_and_nothing_unknown_runs);
	suite_add_tcase(s, tc);
	return s;
}
