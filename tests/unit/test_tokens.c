/* test_tokens.c - the API token file: lines, comments, roles, the refusals (each naming its
 * line, never a secret), and checking a presented secret. */
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/tokens.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof path, "/tmp/md-unit-tokens-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, 0600);
}

START_TEST(a_token_file_gives_each_secret_its_role_and_name)
{
	struct md_tokens *t = NULL;
	struct md_error err = {0};
	char name[64];
	write_file("# who may do what\n"
		   "ops    admin   ops-secret-0123456789abcdef\n"
		   "\n"
		   "ci deploy ci-secret-0123456789abcdef\n"
		   "mon\tread\tmon-secret-0123456789abcdef\n");
	ck_assert_msg(md_tokens_load(path, &t, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(md_tokens_count(t), 3);
	ck_assert_int_eq(md_tokens_check(t, "ops-secret-0123456789abcdef", name, sizeof name), MD_ROLE_ADMIN);
	ck_assert_str_eq(name, "ops");
	ck_assert_int_eq(md_tokens_check(t, "ci-secret-0123456789abcdef", name, sizeof name), MD_ROLE_DEPLOY);
	ck_assert_str_eq(name, "ci");
	ck_assert_int_eq(md_tokens_check(t, "mon-secret-0123456789abcdef", name, sizeof name), MD_ROLE_READ);
	ck_assert_int_eq(md_tokens_check(t, "mon-secret-0123456789abcdeX", name, sizeof name), MD_ROLE_NONE);
	ck_assert_int_eq(md_tokens_check(t, "", name, sizeof name), MD_ROLE_NONE);
	ck_assert_int_eq(md_tokens_check(t, "ops-secret-0123456789abcdef-and-more", name, sizeof name), MD_ROLE_NONE);
	/* Loaded secrets are registered for redaction. */
	char out[128];
	md_redact("token ci-secret-0123456789abcdef leaked", out, sizeof out);
	ck_assert_ptr_null(strstr(out, "ci-secret"));
	md_tokens_free(t);
	unlink(path);
	ck_assert_str_eq(md_role_name(MD_ROLE_DEPLOY), "deploy");
}
END_TEST

START_TEST(bad_lines_are_refused_by_line_number_without_the_secret)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"ops admin\n", "line 1: expected NAME ROLE SECRET"},
		{"# c\nops root s3cret-value-0123456789\n", "line 2: role \"root\" is not read, deploy or admin"},
		{"a read s3cret-value-0123456789\na admin other-value-0123456789\n", "line 2: a second token named a"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_tokens *t = NULL;
		struct md_error err = {0};
		write_file(cases[i].text);
		ck_assert_int_eq(md_tokens_load(path, &t, &err), MD_E_CONFIG);
		ck_assert_msg(strstr(err.message, cases[i].want), "case %zu: %s", i, err.message);
		ck_assert_msg(!strstr(err.message, "s3cret") && !strstr(err.message, "other-value"), "case %zu: %s", i,
			      err.message);
		ck_assert_ptr_null(t);
		unlink(path);
	}
	/* No file named: an empty set (everything that needs a token is closed). */
	struct md_tokens *t = NULL;
	struct md_error err = {0};
	ck_assert_int_eq(md_tokens_load(NULL, &t, &err), 0);
	ck_assert_uint_eq(md_tokens_count(t), 0);
	md_tokens_free(t);
	ck_assert_int_eq(md_tokens_load("/nonexistent/tokens", &t, &err), MD_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/tokens"));
}
END_TEST

Suite *suite_tokens(void)
{
	Suite *s = suite_create("tokens");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, a_token_file_gives_each_secret_its_role_and_name);
	tcase_add_test(tc, bad_lines_are_refused_by_line_number_without_the_secret);
	suite_add_tcase(s, tc);
	return s;
}
