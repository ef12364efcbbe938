/* test_collate.c - Prisma's apply order (JavaScript localeCompare = ICU root collation),
 * checked against the order the real Prisma CLI applied (reference §4). */
#include "migrated/collate.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>

/* ICU itself, linked into this test only: the reference collate.c must agree with. */
static int icu_cmp(UCollator *c, const char *a, const char *b)
{
	UErrorCode st = U_ZERO_ERROR;
	UCollationResult r = ucol_strcollUTF8(c, a, -1, b, -1, &st);
	ck_assert(U_SUCCESS(st));
	if (r == UCOL_EQUAL)
		return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0;
	return r == UCOL_LESS ? -1 : 1;
}

static int sign(int x)
{
	return x < 0 ? -1 : x > 0;
}

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

START_TEST(ascii_table_agrees_with_icu_on_every_pair_and_random_names)
{
	UErrorCode st = U_ZERO_ERROR;
	UCollator *c = ucol_open("", &st);
	char a[8], b[8];
	ck_assert(U_SUCCESS(st));
	for (int x = 0x20; x < 0x7f; x++)
		for (int y = 0x20; y < 0x7f; y++) {
			a[0] = (char)x, a[1] = '\0';
			b[0] = (char)y, b[1] = '\0';
			ck_assert_msg(sign(md_collate_compare(a, b)) == icu_cmp(c, a, b), "'%s' vs '%s'", a, b);
		}
	/* Names from an alphabet that stresses prefixes, case and punctuation. */
	static const char alphabet[] = "aAbB09_- .zZ~";
	srandom(4242);
	for (int i = 0; i < 200000; i++) {
		int la = 1 + (int)(random() % 6), lb = 1 + (int)(random() % 6);
		for (int k = 0; k < la; k++)
			a[k] = alphabet[random() % (sizeof alphabet - 1)];
		for (int k = 0; k < lb; k++)
			b[k] = alphabet[random() % (sizeof alphabet - 1)];
		a[la] = b[lb] = '\0';
		ck_assert_msg(sign(md_collate_compare(a, b)) == icu_cmp(c, a, b), "'%s' vs '%s'", a, b);
	}
	ucol_close(c);
}
END_TEST

START_TEST(non_ascii_names_are_ordered_by_icu_loaded_on_demand)
{
	UErrorCode st = U_ZERO_ERROR;
	UCollator *c = ucol_open("", &st);
	const char *names[] = {"20240101_\xc3\xa9t\xc3\xa9", "20240101_ete",  "20240101_Ete",
			       "20240101_\xc3\x89T\xc3\x89", "20240101_zeta", "20240101_\xce\xb1lpha"};
	size_t order[6];
	ck_assert_int_eq(md_collate_order(names, 6, order, NULL), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(icu_cmp(c, names[order[i]], names[order[i + 1]]) < 0, "%s before %s", names[order[i]],
			      names[order[i + 1]]);
	ucol_close(c);
}
END_TEST

Suite *suite_collate(void)
{
	Suite *s = suite_create("collate");
	TCase *tc = tcase_create("collate");
	tcase_add_test(tc, matches_the_order_prisma_applied);
	tcase_add_test(tc, case_insensitive_first_then_lowercase_first);
	tcase_add_test(tc, byte_order_differs_where_it_should);
	tcase_add_test(tc, ascii_table_agrees_with_icu_on_every_pair_and_random_names);
	tcase_add_test(tc, non_ascii_names_are_ordered_by_icu_loaded_on_demand);
	suite_add_tcase(s, tc);
	return s;
}
