/* test_collate.c - Prisma's apply order (JavaScript localeCompare = ICU root collation),
 * checked against the order the real Prisma CLI applied (reference §4). */
#include "migrated/collate.h"
#include "unit.h"

#include <string.h>

START_TEST(matches_the_order_prisma_applied)
{
	const char *names[] = {"20250625123456_b", "20250625Z_y", "20250625_a copy",
			       "20250625a_z",      "20250625-x",  "20250625_a"};
	const char *want[] = {"20250625_a",       "20250625_a copy", "20250625-x",
			      "20250625123456_b", "20250625a_z",     "20250625Z_y"};
	size_t order[6];
	ck_assert_int_eq(md_collate_order(names, 6, order, NULL), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_str_eq(names[order[i]], want[i]);
}
END_TEST

START_TEST(case_insensitive_first_then_lowercase_first)
{
	ck_assert_int_lt(md_collate_compare("20240101_abc", "20240101_ABD"), 0);
	ck_assert_int_lt(md_collate_compare("20240101_abc", "20240101_ABC"), 0);
	ck_assert_int_lt(md_collate_compare("20240101000000_init", "20240102000000_add"), 0);
	ck_assert_int_eq(md_collate_compare("same", "same"), 0);
}
END_TEST

START_TEST(byte_order_differs_where_it_should)
{
	/* Bytes put '-' (0x2d) before '_' (0x5f); ICU puts '_' first. */
	ck_assert_int_lt(strcmp("a-x", "a_x"), 0);
	ck_assert_int_gt(md_collate_compare("a-x", "a_x"), 0);
	/* Bytes put 'Z' before 'a'; ICU compares letters case-insensitively first. */
	ck_assert_int_lt(strcmp("Zeta", "alpha"), 0);
	ck_assert_int_gt(md_collate_compare("Zeta", "alpha"), 0);
}
END_TEST

Suite *suite_collate(void)
{
	Suite *s = suite_create("collate");
	TCase *tc = tcase_create("collate");
	tcase_add_test(tc, matches_the_order_prisma_applied);
	tcase_add_test(tc, case_insensitive_first_then_lowercase_first);
	tcase_add_test(tc, byte_order_differs_where_it_should);
	suite_add_tcase(s, tc);
	return s;
}
