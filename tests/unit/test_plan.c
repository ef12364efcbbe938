/* test_plan.c - per-migration states from folder x history rows, with Prisma's rules. The
 * history rows are built in memory here; the integration tests cover the real table. */
#include "migrated/catalog.h"
#include "migrated/checksum.h"
#include "migrated/history.h"
#include "migrated/plan.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct md_migration mig(const char *name, const char *sql)
{
	struct md_migration m = {0};
	m.name = (char *)name;
	m.sql = (char *)sql;
	m.sql_len = strlen(sql);
	m.has_sql = true;
	m.utf8_ok = true;
	md_checksum_script(sql, m.sql_len, m.checksum);
	return m;
}

static struct md_history_row row(const char *name, const char *checksum, bool finished, bool rolled_back,
				 const char *logs)
{
	struct md_history_row r = {0};
	r.id = "id";
	r.migration_name = name;
	r.checksum = checksum;
	r.started_at = "2024-01-01T00:00:00.000000Z";
	r.finished_at = finished ? "2024-01-01T00:00:01.000000Z" : NULL;
	r.rolled_back_at = rolled_back ? "2024-01-01T00:00:02.000000Z" : NULL;
	r.logs = logs;
	r.duration_ms = finished ? 1000 : -1;
	return r;
}

static const struct md_plan_item *item(const struct md_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	ck_abort_msg("no plan item %s", name);
	return NULL;
}

START_TEST(every_state_by_prismas_rules)
{
	struct md_migration m[6] = {mig("a_applied", "SELECT 1;"), mig("b_modified", "SELECT 2; -- edited"),
				    mig("c_failed", "SELECT 3;"),  mig("d_rolled_back", "SELECT 4;"),
				    mig("e_pending", "SELECT 5;"), mig("f_retried", "SELECT 6;")};
	struct md_catalog cat = {.items = m, .n = 6};
	char crc[65];
	md_checksum_script("SELECT 2;", 9, crc);
	struct md_history_row rows[] = {
		row("a_applied", m[0].checksum, true, false, NULL),
		row("b_modified", crc, true, false, NULL),
		row("c_failed", m[2].checksum, false, false, "ERROR: boom"),
		row("d_rolled_back", m[3].checksum, false, true, "ERROR: boom"),
		row("f_retried", m[5].checksum, false, true, "ERROR: first try"),
		row("f_retried", m[5].checksum, true, false, NULL),
		row("gone", "x", true, false, NULL),
		row("gone_rolled_back", "x", false, true, "ERROR"),
	};
	struct md_history h = {.exists = true, .rows = rows, .n = sizeof rows / sizeof rows[0]};
	struct md_plan *p;

	ck_assert_int_eq(md_plan_build(&cat, &h, &p, NULL), 0);
	ck_assert_int_eq(item(p, "a_applied")->state, MD_MIG_APPLIED);
	ck_assert_int_eq(item(p, "b_modified")->state, MD_MIG_MODIFIED);
	ck_assert_int_eq(item(p, "c_failed")->state, MD_MIG_FAILED);
	ck_assert(!item(p, "c_failed")->interrupted);
	ck_assert_int_eq(item(p, "d_rolled_back")->state, MD_MIG_ROLLED_BACK);
	ck_assert_int_eq(item(p, "e_pending")->state, MD_MIG_PENDING);
	ck_assert_int_eq(item(p, "f_retried")->state, MD_MIG_APPLIED);
	ck_assert_uint_eq(item(p, "f_retried")->n_rows, 2);
	ck_assert_int_eq(item(p, "gone")->state, MD_MIG_MISSING);
	ck_assert_uint_eq(p->n, 7); /* only-rolled-back "gone_rolled_back" is not reported */
	ck_assert(md_plan_item_to_apply(item(p, "d_rolled_back")));
	ck_assert(md_plan_item_to_apply(item(p, "e_pending")));
	ck_assert(!md_plan_item_to_apply(item(p, "c_failed")));
	ck_assert_uint_eq(p->count[MD_MIG_APPLIED], 2);
	ck_assert(!md_plan_up_to_date(p));
	md_plan_free(p);
}
END_TEST

START_TEST(interrupted_row_has_no_logs)
{
	struct md_migration m[1] = {mig("a", "SELECT 1;")};
	struct md_catalog cat = {.items = m, .n = 1};
	struct md_history_row rows[] = {row("a", m[0].checksum, false, false, NULL)};
	struct md_history h = {.exists = true, .rows = rows, .n = 1};
	struct md_plan *p;
	ck_assert_int_eq(md_plan_build(&cat, &h, &p, NULL), 0);
	ck_assert_int_eq(p->items[0].state, MD_MIG_FAILED);
	ck_assert(p->items[0].interrupted);
	md_plan_free(p);
}
END_TEST

START_TEST(crlf_conversion_is_not_a_modification)
{
	struct md_migration m[1] = {mig("a", "SELECT 1;\r\nSELECT 2;\r\n")};
	struct md_catalog cat = {.items = m, .n = 1};
	char lf[65];
	md_checksum_script("SELECT 1;\nSELECT 2;\n", 20, lf);
	struct md_history_row rows[] = {row("a", lf, true, false, NULL)};
	struct md_history h = {.exists = true, .rows = rows, .n = 1};
	struct md_plan *p;
	ck_assert_int_eq(md_plan_build(&cat, &h, &p, NULL), 0);
	ck_assert_int_eq(p->items[0].state, MD_MIG_APPLIED);
	ck_assert(md_plan_up_to_date(p));
	md_plan_free(p);
}
END_TEST

START_TEST(no_history_means_all_pending)
{
	struct md_migration m[2] = {mig("a", "SELECT 1;"), mig("b", "SELECT 1;")};
	struct md_catalog cat = {.items = m, .n = 2};
	struct md_history h = {.exists = false};
	struct md_plan *p;
	ck_assert_int_eq(md_plan_build(&cat, &h, &p, NULL), 0);
	ck_assert_uint_eq(p->count[MD_MIG_PENDING], 2);
	ck_assert(!p->history_exists);
	md_plan_free(p);
}
END_TEST

Suite *suite_plan(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = tcase_create("plan");
	tcase_add_test(tc, every_state_by_prismas_rules);
	tcase_add_test(tc, interrupted_row_has_no_logs);
	tcase_add_test(tc, crlf_conversion_is_not_a_modification);
	tcase_add_test(tc, no_history_means_all_pending);
	suite_add_tcase(s, tc);
	return s;
}
