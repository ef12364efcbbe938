/* test_unfinished.c - the row marker (history.h) and what an unfinished row may have left
 * (unfinished.h), and the plan's running/failed decision, over rows built in memory. */
#include "migrated/catalog.h"
#include "migrated/checksum.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/plan.h"
#include "migrated/strbuf.h"
#include "migrated/unfinished.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define FILE3 "INSERT INTO ok1 VALUES (42);\nSELECT 1;\nCREATE TABLE z (id int);\n"

START_TEST(marked_ids_round_trip_and_prismas_ids_are_other)
{
	const enum md_row_writer all[] = {MD_WRITER_ATOMIC, MD_WRITER_SCRIPT, MD_WRITER_SINGLE, MD_WRITER_STEPWISE};
	char id[MD_HISTORY_ID_LEN + 1], id2[MD_HISTORY_ID_LEN + 1];
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		md_history_new_marked_id(id, all[i]);
		md_history_new_marked_id(id2, all[i]);
		ck_assert_int_eq((int)strlen(id), 36);
		ck_assert_str_ne(id, id2); /* still random */
		ck_assert_int_eq(id[14], '8');
		ck_assert(strchr("89ab", id[19]) != NULL);
		ck_assert_int_eq(md_history_row_writer(id), all[i]);
	}
	for (int i = 0; i < 1000; i++) {
		md_history_new_id(id);
		ck_assert_int_eq(id[14], '4');
		ck_assert_int_eq(md_history_row_writer(id), MD_WRITER_OTHER);
	}
	/* look-alikes: an unknown tag, another version, a short id, NULL */
	ck_assert_int_eq(md_history_row_writer("0e1f2a3b-4c5d-8e6f-9a0b-6d6967727a7a"), MD_WRITER_OTHER);
	ck_assert_int_eq(md_history_row_writer("0e1f2a3b-4c5d-4e6f-9a0b-6d6967727478"), MD_WRITER_OTHER);
	ck_assert_int_eq(md_history_row_writer("6d6967727478"), MD_WRITER_OTHER);
	ck_assert_int_eq(md_history_row_writer(NULL), MD_WRITER_OTHER);
	ck_assert_str_eq(md_row_writer_name(MD_WRITER_ATOMIC), "migrated-transaction");
	ck_assert_str_eq(md_row_writer_name(MD_WRITER_OTHER), "other");
}
END_TEST

struct fixture {
	struct md_migration mig;
	struct md_catalog cat;
	struct md_history_row row;
	struct md_history hist;
	struct md_plan *plan;
	char id[MD_HISTORY_ID_LEN + 1];
};

/* One migration with one unfinished row written by writer, with logs and steps. */
static const struct md_plan_item *build(struct fixture *f, enum md_row_writer writer, const char *logs, int steps)
{
	struct md_error err;
	memset(f, 0, sizeof *f);
	f->mig.name = "20240102000000_slow";
	f->mig.sql = FILE3;
	f->mig.sql_len = strlen(FILE3);
	f->mig.has_sql = f->mig.utf8_ok = true;
	md_checksum_script(FILE3, f->mig.sql_len, f->mig.checksum);
	f->cat.items = &f->mig;
	f->cat.n = 1;
	if (writer == MD_WRITER_OTHER)
		md_history_new_id(f->id);
	else
		md_history_new_marked_id(f->id, writer);
	f->row.id = f->id;
	f->row.migration_name = f->mig.name;
	f->row.checksum = f->mig.checksum;
	f->row.started_at = "2024-01-01T00:00:00.000000Z";
	f->row.started_us = 1704067200000000LL;
	f->row.logs = logs;
	f->row.applied_steps_count = steps;
	f->row.duration_ms = -1;
	f->hist.exists = true;
	f->hist.rows = &f->row;
	f->hist.n = 1;
	ck_assert_int_eq(md_plan_build(&f->cat, &f->hist, &f->plan, &err), 0);
	return &f->plan->items[0];
}

START_TEST(only_an_unfinished_one_transaction_row_of_migrated_is_recoverable)
{
	struct fixture f;
	struct md_unfinished u;
	md_unfinished_assess(build(&f, MD_WRITER_ATOMIC, NULL, 0), &u);
	ck_assert(u.recoverable);
	ck_assert_int_eq(u.remains, MD_REMAINS_NOTHING);
	md_plan_free(f.plan);
	/* the same row, file edited since: nothing remains, but a human decides */
	const struct md_plan_item *it = build(&f, MD_WRITER_ATOMIC, NULL, 0);
	f.row.checksum = "0000000000000000000000000000000000000000000000000000000000000000";
	md_unfinished_assess(it, &u);
	ck_assert(!u.recoverable);
	ck_assert_int_eq(u.remains, MD_REMAINS_NOTHING);
	md_plan_free(f.plan);
	/* a recorded failure in one transaction: nothing remains, not recovered (as Prisma) */
	md_unfinished_assess(build(&f, MD_WRITER_ATOMIC, "ERROR: boom", 0), &u);
	ck_assert(!u.recoverable);
	ck_assert_int_eq(u.remains, MD_REMAINS_NOTHING);
	md_plan_free(f.plan);
	/* Prisma's row for the same transactional file: any prefix may remain */
	md_unfinished_assess(build(&f, MD_WRITER_OTHER, NULL, 0), &u);
	ck_assert(!u.recoverable);
	ck_assert_int_eq(u.remains, MD_REMAINS_UNKNOWN);
	ck_assert_uint_eq(u.maybe_from, 1);
	ck_assert_uint_eq(u.maybe_to, 3);
	ck_assert_uint_eq(u.n_statements, 3);
	md_plan_free(f.plan);
}
END_TEST

START_TEST(what_remains_follows_how_it_ran)
{
	struct fixture f;
	struct md_unfinished u;
	/* statement by statement, killed after 1 committed: 1 remains, 2 may */
	md_unfinished_assess(build(&f, MD_WRITER_STEPWISE, NULL, 1), &u);
	ck_assert_int_eq(u.remains, MD_REMAINS_UNKNOWN);
	ck_assert_uint_eq(u.committed, 1);
	ck_assert_uint_eq(u.maybe_from, 2);
	ck_assert_uint_eq(u.maybe_to, 2);
	md_plan_free(f.plan);
	/* statement by statement, statement 3 failed with 2 committed: exactly 1-2 */
	md_unfinished_assess(build(&f, MD_WRITER_STEPWISE, "ERROR: boom", 2), &u);
	ck_assert_int_eq(u.remains, MD_REMAINS_KNOWN);
	ck_assert_uint_eq(u.committed, 2);
	ck_assert_uint_eq(u.maybe_from, 0);
	md_plan_free(f.plan);
	/* one statement outside a transaction, killed: it may have completed */
	md_unfinished_assess(build(&f, MD_WRITER_SINGLE, NULL, 0), &u);
	ck_assert_int_eq(u.remains, MD_REMAINS_UNKNOWN);
	md_plan_free(f.plan);
	/* the file's own transactions, killed: any of them may have committed */
	md_unfinished_assess(build(&f, MD_WRITER_SCRIPT, NULL, 0), &u);
	ck_assert_int_eq(u.remains, MD_REMAINS_UNKNOWN);
	ck_assert_uint_eq(u.maybe_to, 3);
	md_plan_free(f.plan);
	/* an older migrated's v4 row whose logs say the transaction rolled back */
	md_unfinished_assess(build(&f, MD_WRITER_OTHER,
				   "migrated: ran as transaction; the transaction was rolled back, nothing of this "
				   "migration remains.",
				   0),
			     &u);
	ck_assert_int_eq(u.remains, MD_REMAINS_NOTHING);
	ck_assert(!u.recoverable);
	md_plan_free(f.plan);
}
END_TEST

START_TEST(the_account_lists_statements_with_line_numbers)
{
	struct fixture f;
	struct md_strbuf sb = MD_STRBUF_INIT;
	md_unfinished_describe(build(&f, MD_WRITER_OTHER, NULL, 0), 2, &sb);
	const char *s = md_strbuf_cstr(&sb);
	ck_assert_ptr_nonnull(strstr(s, "started by Prisma or another tool"));
	ck_assert_ptr_nonnull(strstr(s, "\n    1. line 1: INSERT INTO ok1 VALUES (42)"));
	ck_assert_ptr_nonnull(strstr(s, "\n    2. line 2: SELECT 1"));
	ck_assert_ptr_nonnull(strstr(s, "\n    ... and 1 more (lines 3 to 3)"));
	md_strbuf_free(&sb);
	md_plan_free(f.plan);
}
END_TEST

START_TEST(an_unfinished_row_is_running_only_while_its_sessions_lock_is_held)
{
	struct fixture f;
	const struct md_plan_item *it = build(&f, MD_WRITER_OTHER, NULL, 0);
	ck_assert_int_eq(it->state, MD_MIG_FAILED);
	md_plan_free(f.plan);
	struct md_error err;
	/* the holder connected a second before the row started: its work */
	build(&f, MD_WRITER_OTHER, NULL, 0);
	md_plan_free(f.plan);
	f.hist.holder.found = true;
	f.hist.holder.pid = 42;
	f.hist.holder.since_us = f.row.started_us - 1000000;
	ck_assert_int_eq(md_plan_build(&f.cat, &f.hist, &f.plan, &err), 0);
	ck_assert_int_eq(f.plan->items[0].state, MD_MIG_RUNNING);
	ck_assert_int_eq(f.plan->items[0].holder->pid, 42);
	ck_assert_uint_eq(f.plan->count[MD_MIG_RUNNING], 1);
	ck_assert_uint_eq(f.plan->count[MD_MIG_FAILED], 0);
	ck_assert(!md_plan_up_to_date(f.plan));
	ck_assert_str_eq(md_mig_state_name(MD_MIG_RUNNING), "running");
	md_plan_free(f.plan);
	/* the holder connected an hour after the row started: yesterday's failure */
	f.hist.holder.since_us = f.row.started_us + 3600LL * 1000000;
	ck_assert_int_eq(md_plan_build(&f.cat, &f.hist, &f.plan, &err), 0);
	ck_assert_int_eq(f.plan->items[0].state, MD_MIG_FAILED);
	md_plan_free(f.plan);
}
END_TEST

Suite *suite_unfinished(void)
{
	Suite *s = suite_create("unfinished");
	TCase *tc = tcase_create("unfinished");
	tcase_add_test(tc, marked_ids_round_trip_and_prismas_ids_are_other);
	tcase_add_test(tc, only_an_unfinished_one_transaction_row_of_migrated_is_recoverable);
	tcase_add_test(tc, what_remains_follows_how_it_ran);
	tcase_add_test(tc, the_account_lists_statements_with_line_numbers);
	tcase_add_test(tc, an_unfinished_row_is_running_only_while_its_sessions_lock_is_held);
	suite_add_tcase(s, tc);
	return s;
}
