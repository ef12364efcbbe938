/* test_journal.c - the journal on real files: replay, torn tails, damage in the middle,
 * exclusive use, compaction, check and repair, and the line parser's refusals. */
#include "migrated/error.h"
#include "migrated/journal.h"
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/md-unit-journal-XXXXXX");
	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/journal.jsonl", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

struct seen {
	int n;
	long long seqs[64];
	char jobs[64][16];
};

static int collect(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct seen *s = ctx;
	(void)offset;
	(void)err;
	if (s->n < 64) {
		s->seqs[s->n] = json_integer_value(json_object_get(rec, "seq"));
		const char *job = json_string_value(json_object_get(rec, "job"));
		snprintf(s->jobs[s->n], sizeof s->jobs[0], "%s", job ? job : "");
	}
	s->n++;
	return 0;
}

static void append(struct md_journal *j, const char *job, const char *type)
{
	struct md_error err = {0};
	json_t *rec = json_pack("{s:s, s:s}", "job", job, "type", type);
	ck_assert_msg(md_journal_append(j, rec, NULL, &err) == 0, "%s", err.message);
	json_decref(rec);
}

static void write_raw(const char *text, bool do_append)
{
	FILE *f = fopen(path, do_append ? "a" : "w");
	ck_assert(f);
	fputs(text, f);
	fclose(f);
}

static off_t file_size(void)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

START_TEST(appended_records_replay_in_order_with_rising_seq)
{
	struct md_journal *j;
	struct md_journal_stats st = {0};
	struct md_error err = {0};
	struct seen s = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, &st, &err), 0);
	append(j, "a", "job");
	append(j, "a", "state");
	append(j, "b", "job");
	md_journal_close(j);
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, &st, &err), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_int_eq(s.seqs[0], 1);
	ck_assert_int_eq(s.seqs[2], 3);
	ck_assert_str_eq(s.jobs[2], "b");
	ck_assert_uint_eq(st.records, 3);
	ck_assert(!st.cut_torn_tail);
	append(j, "b", "state"); /* seq continues */
	md_journal_close(j);
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, &st, &err), 0);
	ck_assert_int_eq(s.seqs[3], 4);
	struct stat fst;
	ck_assert_int_eq(stat(path, &fst), 0);
	ck_assert_int_eq(fst.st_mode & 0777, 0600);
	md_journal_close(j);
}
END_TEST

/* Group commit: writers that sync at once share fdatasyncs, and every record they were told
 * is durable is in the file, once, with seqs 1..N. */
struct writer {
	struct md_journal *j;
	int id, n, failed;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	for (int i = 0; i < w->n; i++) {
		struct md_error err = {0};
		char job[16];
		snprintf(job, sizeof job, "w%d", w->id);
		json_t *rec = json_pack("{s:s, s:s, s:i}", "job", job, "type", "log", "i", i);
		w->failed += md_journal_append(w->j, rec, NULL, &err) != 0;
		json_decref(rec);
	}
	return NULL;
}

struct tally {
	int n, bad;
	long long next_seq;
	int per[4];
};

static int count_seq(void *ctx, json_t *rec, uint64_t offset, struct md_error *err)
{
	struct tally *t = ctx;
	(void)offset;
	(void)err;
	t->bad += json_integer_value(json_object_get(rec, "seq")) != ++t->next_seq;
	const char *job = json_string_value(json_object_get(rec, "job"));
	if (job && job[0] == 'w' && job[1] >= '0' && job[1] <= '3') {
		int i = (int)json_integer_value(json_object_get(rec, "i"));
		t->bad += i != t->per[job[1] - '0']++; /* each writer's records in its order */
	}
	t->n++;
	return 0;
}

START_TEST(concurrent_writers_share_syncs_and_lose_nothing)
{
	struct md_journal *j;
	struct md_error err = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), 0);
	pthread_t th[4];
	struct writer w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){.j = j, .id = i, .n = 150};
		ck_assert_int_eq(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failed, 0);
	}
	md_journal_close(j);
	struct tally t = {0};
	ck_assert_int_eq(md_journal_open(path, count_seq, &t, &j, NULL, &err), 0);
	ck_assert_int_eq(t.n, 600);
	ck_assert_int_eq(t.bad, 0);
	md_journal_close(j);
}
END_TEST

START_TEST(torn_last_line_is_cut_and_the_journal_goes_on)
{
	struct md_journal *j;
	struct md_journal_stats st = {0};
	struct md_error err = {0};
	struct seen s = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), 0);
	append(j, "a", "job");
	md_journal_close(j);
	off_t good = file_size();
	write_raw("{\"v\":1,\"seq\":2,\"type\":\"st", true);
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, &st, &err), 0);
	ck_assert(st.cut_torn_tail);
	ck_assert_uint_eq(st.cut_bytes, 25);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(file_size(), good);
	append(j, "a", "state");
	md_journal_close(j);
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, &st, &err), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert(!st.cut_torn_tail);
	md_journal_close(j);
}
END_TEST

START_TEST(damage_before_the_end_refuses_to_open_and_changes_nothing)
{
	struct md_journal *j = NULL;
	struct md_error err = {0};
	write_raw("{\"v\":1,\"seq\":1,\"type\":\"job\",\"job\":\"a\"}\n"
		  "garbage \x01\x02 in the middle\n"
		  "{\"v\":1,\"seq\":3,\"type\":\"state\",\"job\":\"a\"}\n",
		  false);
	off_t before = file_size();
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), MD_E_IO);
	ck_assert_msg(strstr(err.message, "line 2 (byte offset 39)") && strstr(err.message, "damaged before its end"),
		      "%s", err.message);
	ck_assert(strstr(err.hint, "migrated journal repair"));
	ck_assert_int_eq(file_size(), before);
	/* A seq going backwards is damage too. */
	write_raw("{\"v\":1,\"seq\":5,\"type\":\"job\"}\n{\"v\":1,\"seq\":4,\"type\":\"job\"}\n{\"v\":1,\"seq\":6,"
		  "\"type\":\"job\"}\n",
		  false);
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), MD_E_IO);
	ck_assert(strstr(err.message, "seq 4 does not follow 5"));
}
END_TEST

START_TEST(one_process_at_a_time)
{
	struct md_journal *j, *j2 = NULL;
	struct md_error err = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), 0);
	pid_t p = fork();
	if (p == 0) {
		struct md_error e2 = {0};
		_exit(md_journal_open(path, NULL, NULL, &j2, NULL, &e2) == MD_E_CONFIG &&
				      strstr(e2.message, "in use by another migrated process")
			      ? 0
			      : 1);
	}
	int status;
	waitpid(p, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	md_journal_close(j);
}
END_TEST

static bool keep_b(void *ctx, const json_t *rec)
{
	(void)ctx;
	const char *job = json_string_value(json_object_get(rec, "job"));
	return job && strcmp(job, "b") == 0;
}

START_TEST(compaction_keeps_what_is_asked_and_seq_never_goes_back)
{
	struct md_journal *j;
	struct md_error err = {0};
	struct seen s = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), 0);
	append(j, "a", "job");
	append(j, "b", "job");
	append(j, "a", "end");
	append(j, "c", "job");
	ck_assert_int_eq(md_journal_compact(j, keep_b, NULL, &err), 0);
	append(j, "d", "job");
	md_journal_close(j);
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, NULL, &err), 0);
	ck_assert_int_eq(s.n, 3); /* b, the marker, d */
	ck_assert_str_eq(s.jobs[0], "b");
	ck_assert_int_eq(s.seqs[1], 5);
	ck_assert_int_eq(s.seqs[2], 6);
	md_journal_close(j);
}
END_TEST

START_TEST(read_range_replays_part_of_the_file)
{
	struct md_journal *j;
	struct md_error err = {0};
	struct seen s = {0};
	ck_assert_int_eq(md_journal_open(path, NULL, NULL, &j, NULL, &err), 0);
	append(j, "a", "job");
	uint64_t mid = md_journal_size(j);
	append(j, "b", "job");
	append(j, "b", "end");
	ck_assert_int_eq(md_journal_read_range(j, mid, md_journal_size(j), collect, &s, &err), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.jobs[0], "b");
	md_journal_close(j);
}
END_TEST

START_TEST(check_reports_and_repair_keeps_valid_records)
{
	struct md_error err = {0};
	char out[2048];
	FILE *f = fmemopen(out, sizeof out, "w");
	write_raw("{\"v\":1,\"seq\":1,\"type\":\"job\",\"job\":\"a\"}\nnot "
		  "json\n{\"v\":1,\"seq\":3,\"type\":\"end\",\"job\":\"a\"}\n",
		  false);
	ck_assert_int_eq(md_journal_check(path, f, &err), MD_E_IO);
	fflush(f);
	ck_assert(strstr(out, "line 2 (byte offset 39): not JSON"));
	ck_assert(strstr(out, "2 records, 1 damaged line"));
	fclose(f);
	f = fmemopen(out, sizeof out, "w");
	ck_assert_int_eq(md_journal_repair(path, f, &err), 0);
	fflush(f);
	ck_assert(strstr(out, "kept 2 records, dropped 1 damaged line"));
	fclose(f);
	struct md_journal *j;
	struct seen s = {0};
	ck_assert_int_eq(md_journal_open(path, collect, &s, &j, NULL, &err), 0);
	ck_assert_int_eq(s.n, 2);
	md_journal_close(j);
}
END_TEST

START_TEST(line_parser_refuses_what_is_not_a_record)
{
	static const char *const bad[] = {
		"",
		"[1,2]",
		"{\"v\":1,\"seq\":1}",
		"{\"v\":2,\"seq\":1,\"type\":\"x\"}",
		"{\"v\":1,\"seq\":0,\"type\":\"x\"}",
		"{\"v\":1,\"seq\":1,\"type\":3}",
		"{\"v\":1,\"seq\":1,\"type\":\"x\",\"type\":\"y\"}",
		"{\"v\":1,",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *rec = NULL;
		struct md_error err = {0};
		ck_assert_msg(md_journal_parse_line(bad[i], strlen(bad[i]), &rec, &err) == MD_E_IO, "accepted: %s",
			      bad[i]);
		ck_assert_ptr_null(rec);
	}
	json_t *rec = NULL;
	const char *good = "{\"v\":1,\"seq\":7,\"type\":\"job\",\"job\":\"x\"}";
	ck_assert_int_eq(md_journal_parse_line(good, strlen(good), &rec, NULL), 0);
	json_decref(rec);
}
END_TEST

Suite *suite_journal(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, appended_records_replay_in_order_with_rising_seq);
	tcase_add_test(tc, torn_last_line_is_cut_and_the_journal_goes_on);
	tcase_add_test(tc, damage_before_the_end_refuses_to_open_and_changes_nothing);
	tcase_add_test(tc, one_process_at_a_time);
	tcase_add_test(tc, compaction_keeps_what_is_asked_and_seq_never_goes_back);
	tcase_add_test(tc, read_range_replays_part_of_the_file);
	tcase_add_test(tc, check_reports_and_repair_keeps_valid_records);
	tcase_add_test(tc, line_parser_refuses_what_is_not_a_record);
	tcase_add_test(tc, concurrent_writers_share_syncs_and_lose_nothing);
	suite_add_tcase(s, tc);
	return s;
}
