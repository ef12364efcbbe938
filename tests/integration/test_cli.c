/* test_cli.c - the command line itself: help, version, usage errors (exit 2), configuration
 * errors, names that are not migration names, and `migrated token`. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ITEST(help_lists_commands_and_exits_0)
{
	struct h_result r;
	h_migrated(&r, "--help", NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "status");
	h_assert_contains(r.out, "resolve --rolled-back NAME");
	h_assert_contains(r.out, "Exit codes");
	h_result_free(&r);
	h_migrated(&r, "--version", NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "migrated ");
	h_result_free(&r);
}

ITEST(usage_errors_exit_2_with_a_pointer_to_help)
{
	static const char *const cases[][3] = {
		{"frobnicate", NULL, "unknown command"},
		{"deploy", "--no-such-option", "unknown option --no-such-option"},
		{"resolve", NULL, "exactly one of --applied NAME or --rolled-back NAME"},
		{"status", "--migrations", "needs a value"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct h_result r;
		if (cases[i][1])
			h_migrated(&r, cases[i][0], cases[i][1], NULL);
		else
			h_migrated(&r, cases[i][0], NULL);
		ck_assert_msg(r.rc == 2, "%s: exit %d", cases[i][0], r.rc);
		h_assert_contains(r.err, cases[i][2]);
		h_assert_contains(r.err, "--help");
		h_result_free(&r);
	}
	struct h_result r;
	h_migrated(&r, NULL);
	ck_assert_int_eq(r.rc, 2);
	h_result_free(&r);
}

ITEST(no_database_url_is_a_configuration_error)
{
	struct h_result r;
	const char *dir = h_migrations_dir();
	h_migrated(&r, "DATABASE_URL=", "DIRECT_URL=", "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "DATABASE_URL");
	h_result_free(&r);
}

ITEST(missing_migrations_folder_is_explained)
{
	struct h_result r;
	char url[300];
	snprintf(url, sizeof url, "DATABASE_URL=%s", h_url(h_fresh_db()));
	h_migrated(&r, url, "deploy", "--migrations", "/nonexistent/prisma/migrations", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "migrations folder /nonexistent/prisma/migrations does not exist");
	h_assert_contains(r.err, "--migrations DIR");
	h_result_free(&r);
}

ITEST(path_traversal_names_are_refused_before_touching_the_database)
{
	struct h_result r;
	h_migrated(&r, "DATABASE_URL=postgresql://nobody@127.0.0.1:1/x", "resolve", "--applied", "../../etc/passwd",
		   "--migrations", h_migrations_dir(), NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "is not a migration name");
	h_assert_not_contains(r.err, "refused");
	h_result_free(&r);
}

ITEST(config_file_errors_name_file_and_line)
{
	struct h_result r;
	char conf[600];
	snprintf(conf, sizeof conf, "%s/migrated.conf", h_tmpdir());
	h_write(conf, "migrations = x\nlock_timeout = forever\n", 38);
	h_migrated(&r, "status", "--config", conf, NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "line 2");
	h_assert_contains(r.err, "lock_timeout");
	h_result_free(&r);
	h_migrated(&r, "MIGRATED_CONFIG=/nonexistent.conf", "status", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "/nonexistent.conf");
	h_result_free(&r);
}

ITEST(json_errors_use_the_one_error_shape)
{
	struct h_result r;
	h_migrated(&r, "DATABASE_URL=", "DIRECT_URL=", "status", "--json", "--migrations", h_migrations_dir(), NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.out, "\"error\": {");
	h_assert_contains(r.out, "\"code\": \"config\"");
	h_assert_contains(r.out, "\"message\": \"no database given");
	h_result_free(&r);
}

/* The acceptance check's way of calling it: the option before the positional arguments, the
 * secret on the last line of stdout. */
ITEST(token_commands_write_a_0600_file_refuse_duplicates_and_never_list_a_secret)
{
	struct h_result r;
	char tf[600];
	struct stat st;

	snprintf(tf, sizeof tf, "%s/cli-tokens", h_tmpdir());
	h_migrated(&r, "token", "add", "--token-file", tf, "ci", "deploy", NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	size_t len = strlen(r.out);
	ck_assert(len > 65 && r.out[len - 1] == '\n');
	char secret[65];
	memcpy(secret, r.out + len - 65, 64);
	secret[64] = '\0';
	ck_assert_uint_eq(strspn(secret, "0123456789abcdef"), 64);
	ck_assert(r.out[len - 66] == '\n');
	h_assert_contains(r.out, "systemctl reload migrated");
	h_result_free(&r);
	ck_assert_int_eq(stat(tf, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	char *text = h_read(tf, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strncmp(text, "ci deploy ", 10) == 0, "%s", text);
	free(text);

	h_migrated(&r, "token", "add", "ci", "read", "--token-file", tf, NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "already has a token named ci");
	h_result_free(&r);
	h_migrated(&r, "token", "add", "--token-file", tf, "ops", "root", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "is not read, deploy or admin");
	h_result_free(&r);
	h_migrated(&r, "token", "add", "--token-file", tf, "ops", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_result_free(&r);

	h_migrated(&r, "token", "list", "--token-file", tf, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "ci");
	h_assert_contains(r.out, "deploy");
	h_assert_not_contains(r.out, secret);
	h_assert_not_contains(r.err, secret);
	h_result_free(&r);
	h_migrated(&r, "token", "list", "--json", "--token-file", tf, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "\"role\": \"deploy\"");
	h_assert_not_contains(r.out, secret);
	h_result_free(&r);

	h_migrated(&r, "token", "remove", "--token-file", tf, "ci", NULL);
	ck_assert_int_eq(r.rc, 0);
	h_result_free(&r);
	h_migrated(&r, "token", "remove", "--token-file", tf, "ci", NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.err, "no token named ci");
	h_result_free(&r);
	/* The configured token_file is used when no option names one. */
	char conf[700];
	snprintf(conf, sizeof conf, "%s/token.conf", h_tmpdir());
	char line[800];
	int n = snprintf(line, sizeof line, "token_file = %s\n", tf);
	h_write(conf, line, (size_t)n);
	h_migrated(&r, "token", "add", "--config", conf, "mon", "read", NULL);
	ck_assert_msg(r.rc == 0, "%s", r.err);
	h_assert_contains(r.out, tf);
	h_result_free(&r);
	unlink(tf);
}

/* `migrated deploy` under script(1), which gives it a terminal: the output as the terminal saw it. */
static void deploy_on_a_tty(struct h_result *r, const char *db, const char *dir, const char *extra)
{
	char cmd[2048], url[700], out[700];
	snprintf(url, sizeof url, "DATABASE_URL=%s", h_url(db));
	snprintf(out, sizeof out, "%s/typescript", h_tmpdir());
	snprintf(cmd, sizeof cmd, "%s deploy --migrations %s %s", h_migrated_bin(), dir, extra);
	char *argv[] = {"/usr/bin/script", "-qfec", cmd, out, NULL};
	char *envp[] = {url, "TERM=xterm", NULL};
	h_run_argv(r, argv, envp, 60);
}

ITEST(deploy_shows_a_live_progress_line_on_a_terminal_and_plain_lines_elsewhere)
{
	struct h_result r;
	const char *dir = h_migrations_dir(), *db = h_fresh_db(); /* static until the next call */
	h_mig(dir, "20240101000000_a", "CREATE TABLE a (id int);");
	h_mig(dir, "20240102000000_slow", "SELECT pg_sleep(0.7);");
	h_mig(dir, "20240103000000_c", "CREATE TABLE c (id int);");

	/* On a terminal: the line is redrawn in place (CR, erase line) with n/N, the migration,
	 * the time taken and an estimate; each finished migration keeps its plain line. */
	deploy_on_a_tty(&r, db, dir, "");
	ck_assert_msg(r.rc == 0, "deploy on a tty: %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "\r\033[K[2/3] 20240102000000_slow  ");
	h_assert_contains(r.out, "in all, about ");
	h_assert_contains(r.out, "  [2/3] 20240102000000_slow  applied in ");
	h_assert_contains(r.out, "All 3 pending migrations applied");
	h_result_free(&r);
	h_assert_q(db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "3");

	/* --no-progress on a terminal, and a pipe: the plain lines only, no control characters. */
	deploy_on_a_tty(&r, h_fresh_db(), dir, "--no-progress");
	ck_assert_int_eq(r.rc, 0);
	h_assert_not_contains(r.out, "\033[K");
	h_assert_contains(r.out, "  [2/3] 20240102000000_slow  applied in ");
	h_result_free(&r);
	char url[700];
	snprintf(url, sizeof url, "DATABASE_URL=%s", h_url(h_fresh_db()));
	h_migrated(&r, url, "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_not_contains(r.out, "\033[K");
	h_assert_not_contains(r.out, "\r");
	h_assert_contains(r.out, "  [1/3] 20240101000000_a  applied in ");
	h_result_free(&r);

	h_migrated(&r, "status", "--no-progress", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "--no-progress goes with deploy");
	h_result_free(&r);
}

Suite *suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");
	tcase_set_timeout(tc, 60); /* about fifteen runs of the binary, under valgrind in test.sh */
	tcase_add_test(tc, help_lists_commands_and_exits_0);
	tcase_add_test(tc, usage_errors_exit_2_with_a_pointer_to_help);
	tcase_add_test(tc, no_database_url_is_a_configuration_error);
	tcase_add_test(tc, missing_migrations_folder_is_explained);
	tcase_add_test(tc, path_traversal_names_are_refused_before_touching_the_database);
	tcase_add_test(tc, config_file_errors_name_file_and_line);
	tcase_add_test(tc, json_errors_use_the_one_error_shape);
	tcase_add_test(tc, token_commands_write_a_0600_file_refuse_duplicates_and_never_list_a_secret);
	tcase_add_test(tc, deploy_shows_a_live_progress_line_on_a_terminal_and_plain_lines_elsewhere);
	suite_add_tcase(s, tc);
	return s;
}
