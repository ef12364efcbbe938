/* test_targets.c - the targets file: names, URLs, direct= and migrations=, labels, comments;
 * every refusal naming origin:line and never the URL or its password; the 0600 rule on a real
 * file; label selectors, their check and their matching. */
#include "migrated/error.h"
#include "migrated/targets.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(a_good_file_gives_every_target_with_its_options_and_labels_in_order)
{
	static const char text[] =
		"# tenants, one a line\n"
		"\n"
		"eu-1   postgresql://app:pw1@db-eu:5432/t1 tier=prod region=eu   # the first\n"
		"\tus.2 postgres://app:pw2@db-us/t2?sslmode=require direct=postgresql://app:pw2@db-us-direct/t2 "
		"migrations=/srv/app/prisma/migrations tier=prod\r\n"
		"   # an indented comment\n"
		"staging_3 postgresql://app@localhost/s#not-a-comment tier=staging\n"
		"9lives postgresql://x@h/db";
	struct md_targets *t = NULL;
	struct md_error err = {0};
	ck_assert_msg(md_targets_parse(text, "targets", &t, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(t->n, 4);

	const struct md_target *a = &t->list[0];
	ck_assert_str_eq(a->name, "eu-1");
	ck_assert_str_eq(a->url, "postgresql://app:pw1@db-eu:5432/t1");
	ck_assert_ptr_null(a->direct_url);
	ck_assert_ptr_null(a->migrations_dir);
	ck_assert_uint_eq(a->n_labels, 2);
	ck_assert_str_eq(a->labels[0].key, "tier");
	ck_assert_str_eq(a->labels[0].value, "prod");
	ck_assert_str_eq(a->labels[1].key, "region");
	ck_assert_str_eq(md_target_label(a, "region"), "eu");
	ck_assert_ptr_null(md_target_label(a, "the"));

	const struct md_target *b = md_targets_find(t, "us.2");
	ck_assert_ptr_eq(b, &t->list[1]);
	ck_assert_str_eq(b->url, "postgres://app:pw2@db-us/t2?sslmode=require");
	ck_assert_str_eq(b->direct_url, "postgresql://app:pw2@db-us-direct/t2");
	ck_assert_str_eq(b->migrations_dir, "/srv/app/prisma/migrations");
	ck_assert_uint_eq(b->n_labels, 1);
	ck_assert_str_eq(md_target_label(b, "tier"), "prod");

	/* '#' inside a field is part of it. */
	ck_assert_str_eq(t->list[2].url, "postgresql://app@localhost/s#not-a-comment");
	ck_assert_str_eq(md_target_label(&t->list[2], "tier"), "staging");
	ck_assert_str_eq(t->list[3].name, "9lives");
	ck_assert_uint_eq(t->list[3].n_labels, 0);
	ck_assert_ptr_null(md_targets_find(t, "nope"));
	md_targets_free(t);

	ck_assert_int_eq(md_targets_parse("", "empty", &t, &err), 0);
	ck_assert_uint_eq(t->n, 0);
	md_targets_free(t);
	ck_assert_int_eq(md_targets_parse("# only comments\n\n   \n", "c", &t, &err), 0);
	ck_assert_uint_eq(t->n, 0);
	md_targets_free(t);
	md_targets_free(NULL);
}
END_TEST

START_TEST(every_bad_line_is_refused_by_origin_and_line_without_its_url)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"a postgresql://u:hunter2pw@h/db\n_bad postgresql://u:hunter2pw@h/db\n", "/etc/t:2: the target name"},
		{"postgresql://u:hunter2pw@h/db\n", "/etc/t:1: the target name"},
		{"a postgresql://u:hunter2pw@h/db\nb postgresql://u:hunter2pw@h/db\na postgresql://u:hunter2pw@h/x\n",
		 "/etc/t:3: target a is defined twice"},
		{"default postgresql://u:hunter2pw@h/db\n", "/etc/t:1: the target name \"default\" is reserved"},
		{"# x\na\n", "/etc/t:2: target a has no URL"},
		{"a mysql://u:hunter2pw@h/db\n", "/etc/t:1: the URL of target a does not start with postgresql://"},
		{"a host=h password=hunter2pw\n", "/etc/t:1: the URL of target a does not start"},
		{"a postgresql://u:hunter2pw@h/db direct=mysql://u:hunter2pw@h/db\n",
		 "/etc/t:1: the direct URL of target a does not start"},
		{"a postgresql://u:hunter2pw@h/db direct=postgresql://u:hunter2pw@h/db "
		 "direct=postgresql://u:hunter2pw@h/x\n",
		 "/etc/t:1: option direct of target a is given twice"},
		{"a postgresql://u:hunter2pw@h/db migrations=a migrations=b\n",
		 "/etc/t:1: option migrations of target a is given twice"},
		{"a postgresql://u:hunter2pw@h/db tier=a tier=b\n", "/etc/t:1: label tier of target a is given twice"},
		{"a postgresql://u:hunter2pw@h/db postgresql://u:hunter2pw@h/x\n",
		 "/etc/t:1: field 3 of target a is not KEY=VALUE"},
		{"a postgresql://u:hunter2pw@h/db tier=prod postgresql://u:hunter2pw@h/x?sslmode=require\n",
		 "/etc/t:1: field 4 of target a is not KEY=VALUE"},
		{"a postgresql://u:hunter2pw@h/db =prod\n", "/etc/t:1: field 3 of target a is not KEY=VALUE"},
		{"a postgresql://u:hunter2pw@h/db tier=\n", "/etc/t:1: option tier of target a has an empty value"},
		{"a postgresql://u:hunter2pw@h/db direct=\n", "/etc/t:1: option direct of target a has an empty value"},
		{"a postgresql://u:hunter2pw@h/db ti/er=x\n", "/etc/t:1: field 3 of target a is not KEY=VALUE"},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd postgresql://u:hunter2pw@h/db\n",
		 "/etc/t:1: the target name"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_targets *t = (struct md_targets *)0x1;
		struct md_error err = {0};
		int r = md_targets_parse(cases[i].text, "/etc/t", &t, &err);
		ck_assert_msg(r == MD_E_CONFIG, "case %zu: %d", i, r);
		ck_assert_ptr_eq(t, (struct md_targets *)0x1); /* nothing returned */
		ck_assert_msg(strstr(err.message, cases[i].want), "case %zu: %s", i, err.message);
		ck_assert_msg(!strstr(err.message, "hunter2pw"), "case %zu quotes the password: %s", i, err.message);
		ck_assert_msg(!strstr(err.message, "@h/") && !strstr(err.message, "mysql"), "case %zu quotes a URL: %s",
			      i, err.message);
	}
}
END_TEST

START_TEST(more_than_the_maximum_number_of_targets_is_refused)
{
	size_t n = MD_TARGETS_MAX + 1, len = 0;
	char *text = malloc(n * 48);
	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "t%zu postgresql://u:pw@h/db%zu\n", i, i);
	struct md_targets *t = NULL;
	struct md_error err = {0};
	ck_assert_int_eq(md_targets_parse(text, "big", &t, &err), MD_E_CONFIG);
	ck_assert_msg(strstr(err.message, "big:10001: more than 10000 targets"), "%s", err.message);
	/* Exactly the maximum is fine. */
	*strstr(text, "t10000 ") = '\0';
	ck_assert_msg(md_targets_parse(text, "big", &t, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(t->n, MD_TARGETS_MAX);
	md_targets_free(t);
	free(text);
}
END_TEST

START_TEST(names_are_letters_digits_and_three_marks_starting_with_a_letter_or_digit)
{
	ck_assert(md_target_name_valid("a"));
	ck_assert(md_target_name_valid("Tenant_42.eu-west"));
	ck_assert(md_target_name_valid("0"));
	ck_assert(md_target_name_valid("default")); /* reserved, but that is the parser's rule */
	ck_assert(!md_target_name_valid(""));
	ck_assert(!md_target_name_valid(NULL));
	ck_assert(!md_target_name_valid("-a"));
	ck_assert(!md_target_name_valid(".a"));
	ck_assert(!md_target_name_valid("_a"));
	ck_assert(!md_target_name_valid("a b"));
	ck_assert(!md_target_name_valid("a/b"));
	ck_assert(!md_target_name_valid("a:b"));
	ck_assert(!md_target_name_valid("é"));
	char name[MD_TARGET_NAME_MAX + 2];
	memset(name, 'x', sizeof name);
	name[MD_TARGET_NAME_MAX] = '\0';
	ck_assert(md_target_name_valid(name));
	name[MD_TARGET_NAME_MAX] = 'x';
	name[MD_TARGET_NAME_MAX + 1] = '\0';
	ck_assert(!md_target_name_valid(name));
}
END_TEST

static char path[64];

static void write_file(const char *text, mode_t mode)
{
	snprintf(path, sizeof path, "/tmp/md-unit-targets-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(a_file_group_or_others_can_read_is_refused_with_the_chmod_hint)
{
	static const char text[] = "a postgresql://u:hunter2pw@h/db tier=prod\nb postgresql://u@h/db2\n";
	struct md_targets *t = NULL;
	struct md_error err = {0};

	write_file(text, 0600);
	ck_assert_msg(md_targets_load(path, &t, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(t->n, 2);
	ck_assert_str_eq(md_target_label(&t->list[0], "tier"), "prod");
	md_targets_free(t);
	t = NULL;

	static const mode_t refused[] = {0644, 0640, 0604, 0660, 0620};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		memset(&err, 0, sizeof err);
		ck_assert_int_eq(chmod(path, refused[i]), 0);
		ck_assert_int_eq(md_targets_load(path, &t, &err), MD_E_CONFIG);
		ck_assert_ptr_null(t);
		ck_assert_msg(strstr(err.message, path) && strstr(err.message, "chmod 600"), "%s", err.message);
		ck_assert_msg(strstr(err.hint, "chmod 600"), "%s", err.hint);
		ck_assert(!strstr(err.message, "hunter2pw"));
	}
	char mode[16];
	snprintf(mode, sizeof mode, "(mode %04o)", 0620);
	ck_assert_msg(strstr(err.message, mode), "%s", err.message);

	/* Errors inside the file are named by its path and line. */
	unlink(path);
	write_file("a postgresql://u:hunter2pw@h/db\nb mysql://u:hunter2pw@h/db\n", 0400);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(md_targets_load(path, &t, &err), MD_E_CONFIG);
	char where[80];
	snprintf(where, sizeof where, "%s:2: ", path);
	ck_assert_msg(strstr(err.message, where), "%s", err.message);
	ck_assert(!strstr(err.message, "hunter2pw"));
	unlink(path);

	memset(&err, 0, sizeof err);
	ck_assert_int_eq(md_targets_load("/nonexistent/targets", &t, &err), MD_E_IO);
	ck_assert_msg(strstr(err.message, "/nonexistent/targets"), "%s", err.message);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(md_targets_load("/tmp", &t, &err), MD_E_CONFIG);
	ck_assert_msg(strstr(err.message, "not a regular file"), "%s", err.message);
}
END_TEST

START_TEST(selectors_are_checked_and_match_targets_having_every_label)
{
	struct md_error err = {0};
	ck_assert_int_eq(md_target_selector_check("tier=prod", &err), 0);
	ck_assert_int_eq(md_target_selector_check("tier=prod,region=eu-west.1", &err), 0);
	ck_assert_int_eq(md_target_selector_check("", &err), 0);
	static const char *const bad[] = {"tier",  "tier=",     "=prod",          "tier=prod,", ",tier=prod",
					  "a b=c", "tier=pr d", "tier=prod,,x=y", "ti/er=x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		ck_assert_msg(md_target_selector_check(bad[i], &err) == MD_E_USAGE, "%s accepted", bad[i]);
		ck_assert_msg(strstr(err.message, "selector"), "%s", err.message);
	}

	struct md_targets *t = NULL;
	ck_assert_int_eq(md_targets_parse("a postgresql://h/a tier=prod region=eu\n"
					  "b postgresql://h/b tier=prod region=us\n"
					  "c postgresql://h/c tier=staging region=eu\n"
					  "d postgresql://h/d\n"
					  "e postgresql://h/e tier=production\n",
					  "t", &t, &err),
			 0);
	static const struct {
		const char *sel;
		const char *want; /* the names matched */
	} cases[] = {
		{"tier=prod", "ab"},
		{"region=eu", "ac"},
		{"tier=prod,region=eu", "a"},
		{"region=eu,tier=prod", "a"},
		{"", "abcde"},
		{"tier=prod,tier=staging", ""},
		{"tier=pro", ""},
		{"zone=x", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char got[8] = "";
		size_t n = 0;
		for (size_t k = 0; k < t->n; k++)
			if (md_target_matches(&t->list[k], cases[i].sel))
				got[n++] = t->list[k].name[0];
		got[n] = '\0';
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "%s: matched \"%s\", not \"%s\"", cases[i].sel, got,
			      cases[i].want);
	}
	md_targets_free(t);
}
END_TEST

Suite *suite_targets(void)
{
	Suite *s = suite_create("targets");
	TCase *tc = tcase_create("targets");
	tcase_add_test(tc, a_good_file_gives_every_target_with_its_options_and_labels_in_order);
	tcase_add_test(tc, every_bad_line_is_refused_by_origin_and_line_without_its_url);
	tcase_add_test(tc, more_than_the_maximum_number_of_targets_is_refused);
	tcase_add_test(tc, names_are_letters_digits_and_three_marks_starting_with_a_letter_or_digit);
	tcase_add_test(tc, a_file_group_or_others_can_read_is_refused_with_the_chmod_hint);
	tcase_add_test(tc, selectors_are_checked_and_match_targets_having_every_label);
	suite_add_tcase(s, tc);
	return s;
}
