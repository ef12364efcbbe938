/* test_backup.c - the pure parts of backups and child processes: which backups retention
 * removes (count and age rules, the newest always kept), backup id shapes, and command lines
 * split into argv without a shell. */
#include "migrated/backup.h"
#include "migrated/child.h"
#include "migrated/error.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

static void make_list(struct md_backup *list, size_t n, double now, const double *ages_s)
{
	for (size_t i = 0; i < n; i++) {
		memset(&list[i], 0, sizeof list[i]);
		snprintf(list[i].id, sizeof list[i].id, "b%zu", i);
		list[i].created_unix = now - ages_s[i];
	}
}

START_TEST(retention_by_count_keeps_the_newest_n)
{
	struct md_backup list[5];
	bool prune[5];
	const double ages[5] = {10, 20, 30, 40, 50};
	make_list(list, 5, 1e6, ages);
	ck_assert_uint_eq(md_backup_select_prune(list, 5, 2, 0, 1e6, prune), 3);
	ck_assert(!prune[0] && !prune[1] && prune[2] && prune[3] && prune[4]);
	ck_assert_uint_eq(md_backup_select_prune(list, 5, 10, 0, 1e6, prune), 0);
}
END_TEST

START_TEST(retention_by_age_and_both_rules_keep_what_either_keeps)
{
	struct md_backup list[5];
	bool prune[5];
	const double day = 86400, ages[5] = {1 * day, 2 * day, 8 * day, 9 * day, 40 * day};
	make_list(list, 5, 1e7, ages);
	/* Younger than 7 days only. */
	ck_assert_uint_eq(md_backup_select_prune(list, 5, 0, 7 * 86400, 1e7, prune), 3);
	ck_assert(!prune[0] && !prune[1] && prune[2] && prune[3] && prune[4]);
	/* The newest 3, or younger than 7 days: the union. */
	ck_assert_uint_eq(md_backup_select_prune(list, 5, 3, 7 * 86400, 1e7, prune), 2);
	ck_assert(!prune[2] && prune[3] && prune[4]);
	/* No rule: everything stays. */
	ck_assert_uint_eq(md_backup_select_prune(list, 5, 0, 0, 1e7, prune), 0);
}
END_TEST

START_TEST(retention_always_keeps_the_newest)
{
	struct md_backup list[2];
	bool prune[2];
	const double ages[2] = {100 * 86400, 200 * 86400};
	make_list(list, 2, 1e8, ages);
	ck_assert_uint_eq(md_backup_select_prune(list, 2, 0, 86400, 1e8, prune), 1);
	ck_assert(!prune[0] && prune[1]);
}
END_TEST

START_TEST(backup_ids_are_never_paths)
{
	ck_assert(md_backup_id_valid("20261202T075830Z-4f9c1e2a-0000-4000-8000-000000000000"));
	ck_assert(!md_backup_id_valid(""));
	ck_assert(!md_backup_id_valid("../etc/passwd"));
	ck_assert(!md_backup_id_valid(".hidden"));
	ck_assert(!md_backup_id_valid("a/b"));
	ck_assert(!md_backup_id_valid("-rf"));
	char longer[200];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	ck_assert(!md_backup_id_valid(longer));
}
END_TEST

START_TEST(command_lines_split_like_a_shell_without_one)
{
	char **argv = NULL;
	struct md_error err = {0};
	ck_assert_int_eq(md_argv_split("npx prisma generate", &argv, &err), 0);
	ck_assert_str_eq(argv[0], "npx");
	ck_assert_str_eq(argv[2], "generate");
	ck_assert_ptr_null(argv[3]);
	md_argv_free(argv);
	ck_assert_int_eq(md_argv_split("  /bin/sh -c 'echo $HOME; ls' \"a \\\"b\\\"\" c\\ d e''f  ", &argv, &err), 0);
	ck_assert_str_eq(argv[0], "/bin/sh");
	ck_assert_str_eq(argv[2], "echo $HOME; ls"); /* nothing expanded */
	ck_assert_str_eq(argv[3], "a \"b\"");
	ck_assert_str_eq(argv[4], "c d");
	ck_assert_str_eq(argv[5], "ef");
	ck_assert_ptr_null(argv[6]);
	md_argv_free(argv);
	ck_assert_int_eq(md_argv_split("echo 'open", &argv, &err), MD_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "unterminated"));
	ck_assert_int_eq(md_argv_split("   ", &argv, &err), MD_E_CONFIG);
}
END_TEST

Suite *suite_backup(void)
{
	Suite *s = suite_create("backup");
	TCase *tc = tcase_create("backup");
	tcase_add_test(tc, retention_by_count_keeps_the_newest_n);
	tcase_add_test(tc, retention_by_age_and_both_rules_keep_what_either_keeps);
	tcase_add_test(tc, retention_always_keeps_the_newest);
	tcase_add_test(tc, backup_ids_are_never_paths);
	tcase_add_test(tc, command_lines_split_like_a_shell_without_one);
	suite_add_tcase(s, tc);
	return s;
}
