/* test_tokens.c - the API token file: lines, comments, roles, the refusals (each naming its
 * line, never a secret), checking a presented secret, and editing the file (add, list,
 * remove: atomic, 0600, duplicates refused, other lines kept). */
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/tokens.h"
#include "unit.h"

#include <dirent.h>
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

static char *slurp(const char *p)
{
	FILE *f = fopen(p, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Entries in dir other than . and .. (a left-over temporary file would show here). */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return n;
}

START_TEST(token_add_creates_a_0600_file_whose_fresh_secret_loads_with_its_role)
{
	char dir[] = "/tmp/md-unit-tokdir-XXXXXX", file[128], s1[80], s2[80], name[64];
	struct md_error err = {0};
	struct md_tokens *t = NULL;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/tokens", dir);
	ck_assert_msg(md_tokens_add(file, "ci", MD_ROLE_DEPLOY, s1, sizeof s1, &err) == 0, "%s", err.message);
	ck_assert_msg(md_tokens_add(file, "mon", MD_ROLE_READ, s2, sizeof s2, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(strlen(s1), 2 * MD_TOKEN_SECRET_BYTES);
	ck_assert_uint_eq(strspn(s1, "0123456789abcdef"), 2 * MD_TOKEN_SECRET_BYTES);
	ck_assert_str_ne(s1, s2);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(md_tokens_load(file, &t, &err), 0);
	ck_assert_uint_eq(md_tokens_count(t), 2);
	ck_assert_int_eq(md_tokens_check(t, s1, name, sizeof name), MD_ROLE_DEPLOY);
	ck_assert_str_eq(name, "ci");
	ck_assert_int_eq(md_tokens_check(t, s2, name, sizeof name), MD_ROLE_READ);
	md_tokens_free(t);
	/* The new secret is registered for redaction at once. */
	char in[256], out[256];
	snprintf(in, sizeof in, "leaked: %s.", s1);
	md_redact(in, out, sizeof out);
	ck_assert_ptr_null(strstr(out, s1));
	ck_assert_ptr_nonnull(strstr(out, "leaked: "));
	ck_assert_int_eq(count_entries(dir), 1);
	unlink(file);
	rmdir(dir);
}
END_TEST

START_TEST(token_add_refuses_a_duplicate_or_a_bad_name_and_leaves_the_file_as_it_was)
{
	char dir[] = "/tmp/md-unit-tokdir-XXXXXX", file[128], sec[80] = "unset";
	struct md_error err = {0};
	const char *text = "# kept as written\nops   admin ops-secret-0123456789abcdef\n\n# end";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/tokens", dir);
	FILE *f = fopen(file, "we");
	fputs(text, f);
	fclose(f);
	chmod(file, 0640);
	ck_assert_int_eq(md_tokens_add(file, "ops", MD_ROLE_READ, sec, sizeof sec, &err), MD_E_BUSY);
	ck_assert_ptr_nonnull(strstr(err.message, "already has a token named ops"));
	ck_assert_str_eq(sec, "unset");
	ck_assert_int_eq(md_tokens_add(file, "no spaces", MD_ROLE_READ, sec, sizeof sec, &err), MD_E_USAGE);
	ck_assert_int_eq(md_tokens_add(file, "", MD_ROLE_READ, sec, sizeof sec, &err), MD_E_USAGE);
	char *now = slurp(file);
	ck_assert_str_eq(now, text);
	free(now);
	/* A good one keeps every other line and ends the last one first. */
	ck_assert_int_eq(md_tokens_add(file, "ci", MD_ROLE_ADMIN, sec, sizeof sec, &err), 0);
	now = slurp(file);
	ck_assert_ptr_eq(strstr(now, text), now);
	ck_assert_ptr_nonnull(strstr(now, "# end\nci admin "));
	free(now);
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* A file the daemon would refuse is not edited. */
	f = fopen(file, "we");
	fputs("ops superuser ops-secret-0123456789abcdef\n", f);
	fclose(f);
	ck_assert_int_eq(md_tokens_add(file, "x", MD_ROLE_READ, sec, sizeof sec, &err), MD_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "line 1"));
	ck_assert_int_eq(count_entries(dir), 1);
	unlink(file);
	rmdir(dir);
}
END_TEST

START_TEST(token_remove_drops_only_its_line_and_list_shows_names_and_roles)
{
	char dir[] = "/tmp/md-unit-tokdir-XXXXXX", file[128];
	struct md_error err = {0};
	struct md_token_entry *items = NULL;
	size_t n = 99;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/tokens", dir);
	/* No file yet: an empty list, and nothing to remove. */
	ck_assert_int_eq(md_tokens_list(file, &items, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	free(items);
	ck_assert_int_eq(md_tokens_remove(file, "ci", &err), MD_E_NOT_FOUND);
	FILE *f = fopen(file, "we");
	fputs("# a\nops admin ops-secret-0123456789abcdef\nci deploy ci-secret-0123456789abcdef\n"
	      "mon read mon-secret-0123456789abcdef\n",
	      f);
	fclose(f);
	ck_assert_int_eq(md_tokens_list(file, &items, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(items[1].name, "ci");
	ck_assert_int_eq(items[1].role, MD_ROLE_DEPLOY);
	free(items);
	ck_assert_int_eq(md_tokens_remove(file, "ci", &err), 0);
	char *now = slurp(file);
	ck_assert_str_eq(now, "# a\nops admin ops-secret-0123456789abcdef\nmon read mon-secret-0123456789abcdef\n");
	free(now);
	ck_assert_int_eq(md_tokens_remove(file, "ci", &err), MD_E_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.message, "no token named ci"));
	ck_assert_int_eq(md_tokens_remove(file, "mon", &err), 0);
	ck_assert_int_eq(md_tokens_list(file, &items, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(items[0].name, "ops");
	free(items);
	ck_assert_int_eq(count_entries(dir), 1);
	unlink(file);
	rmdir(dir);
}
END_TEST

Suite *suite_tokens(void)
{
	Suite *s = suite_create("tokens");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, a_token_file_gives_each_secret_its_role_and_name);
	tcase_add_test(tc, bad_lines_are_refused_by_line_number_without_the_secret);
	tcase_add_test(tc, token_add_creates_a_0600_file_whose_fresh_secret_loads_with_its_role);
	tcase_add_test(tc, token_add_refuses_a_duplicate_or_a_bad_name_and_leaves_the_file_as_it_was);
	tcase_add_test(tc, token_remove_drops_only_its_line_and_list_shows_names_and_roles);
	suite_add_tcase(s, tc);
	return s;
}
