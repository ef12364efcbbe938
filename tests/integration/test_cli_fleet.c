/* test_cli_fleet.c - `migrated status|deploy --targets-file` against real databases: a poisoned
 * canary stopping a fleet before any other target is touched, on_error=continue finishing every
 * other target exactly once, selectors, the status table's counts, the 0600 rule, and target
 * passwords absent from every output even when a target cannot be reached. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_TARGETS 6

/* The fixture's three migrations. The first copies a marker into item: a database holding the
 * schema "poison" gets row 1 there, so the second, inserting 1, fails on it (23505, P3018). */
static void fleet_migrations(const char *dir)
{
	h_mig(dir, "20250101000000_item",
	      "CREATE TABLE item (id int PRIMARY KEY);\n"
	      "INSERT INTO item SELECT 1 FROM pg_namespace WHERE nspname = 'poison';\n");
	h_mig(dir, "20250102000000_seed", "INSERT INTO item VALUES (1);\n");
	h_mig(dir, "20250103000000_more", "CREATE TABLE more (id int);\n");
}

struct fleet_fixture {
	char db[N_TARGETS][128];
	char file[600];
};

/* n fresh databases named t0..t(n-1) in a targets file (mode 0600), target poisoned (or -1)
 * made to fail its second migration; labels tier=prod for even targets, tier=staging for odd. */
static void fleet_fixture(struct fleet_fixture *fx, int n, int poisoned)
{
	char text[8192] = "# the fleet of this test\n\n";
	size_t len = strlen(text);
	for (int i = 0; i < n; i++) {
		snprintf(fx->db[i], sizeof fx->db[i], "%s", h_fresh_db());
		if (i == poisoned)
			h_exec(fx->db[i], "CREATE SCHEMA poison");
		len += (size_t)snprintf(text + len, sizeof text - len, "t%d  %s  tier=%s idx=%d%s\n", i,
					h_url(fx->db[i]), i % 2 ? "staging" : "prod", i,
					i == poisoned ? "   # poisoned" : "");
	}
	snprintf(fx->file, sizeof fx->file, "%s/targets", h_tmpdir());
	h_write(fx->file, text, len);
	ck_assert_int_eq(chmod(fx->file, 0600), 0);
	fleet_migrations(h_migrations_dir());
}

static bool has_history(const char *db)
{
	char *v = h_q1(db, "SELECT to_regclass('_prisma_migrations') IS NOT NULL");
	bool yes = v && strcmp(v, "t") == 0;
	free(v);
	return yes;
}

/* The table row of target name (the line starting with "name "), or "" (static storage). */
static const char *row_of(const char *out, const char *name)
{
	static char row[1024];
	char want[64];
	snprintf(want, sizeof want, "\n%s ", name);
	const char *p = out ? strstr(out, want) : NULL;
	/* The last such line is the table's (progress lines say "name:"). */
	for (const char *q = p; q; q = strstr(q + 1, want))
		p = q;
	row[0] = '\0';
	if (p)
		snprintf(row, sizeof row, "%.*s", (int)strcspn(p + 1, "\n"), p + 1);
	return row;
}

/* Whether line (n bytes, "tN: ...") is one of the fleet's progress lines, not two run together. */
static bool progress_line(const char *line, size_t n)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%.*s", (int)n, line);
	const char *rest = buf + 4;
	for (const char *q = rest; *q; q++)
		if (q[0] == 't' && q[1] >= '0' && q[1] <= '9' && q[2] == ':' && (q == rest || q[-1] == ' '))
			return false; /* another target's line inside this one */
	return strcmp(rest, "deploying") == 0 || strncmp(rest, "succeeded, ", 11) == 0 ||
	       strncmp(rest, "failed: ", 8) == 0 ||
	       (rest[0] == '[' && (h_contains(rest, " applied in ") || h_contains(rest, " failed")));
}

ITEST(a_failed_canary_under_stop_leaves_every_other_target_untouched)
{
	struct fleet_fixture fx;
	struct h_result r;
	fleet_fixture(&fx, N_TARGETS, 0);
	h_migrated(&r, "DATABASE_URL=", "deploy", "--targets-file", fx.file, "--all", "--canary", "1", "--migrations",
		   h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 1, "exit %d\n%s%s", r.rc, r.out, r.err);
	const char *row = row_of(r.out, "t0");
	ck_assert_msg(h_contains(row, "failed") && h_contains(row, "P3018"), "t0: %s\n%s", row, r.out);
	for (int i = 1; i < N_TARGETS; i++) {
		char name[8];
		snprintf(name, sizeof name, "t%d", i);
		row = row_of(r.out, name);
		ck_assert_msg(h_contains(row, "skipped") && h_contains(row, "canary failed"), "%s: %s\n%s", name, row,
			      r.out);
		ck_assert_msg(!has_history(fx.db[i]), "%s was touched", name);
		h_assert_q(fx.db[i], "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "0");
	}
	h_assert_contains(r.out, "0 succeeded, 1 failed, 5 skipped (canary failed)");
	/* The canary itself: its first migration applied, the second recorded failed. */
	h_assert_q(fx.db[0], "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL", "1");
	h_assert_q(fx.db[0], "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NULL",
		   "20250102000000_seed");
	h_result_free(&r);
}

ITEST(on_error_continue_deploys_every_other_target_exactly_once_and_names_p3018)
{
	struct fleet_fixture fx;
	struct h_result r;
	fleet_fixture(&fx, N_TARGETS, 2);
	h_migrated(&r, "DATABASE_URL=", "deploy", "--targets-file", fx.file, "--all", "--on-error", "continue",
		   "--parallel", "3", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 1, "exit %d\n%s%s", r.rc, r.out, r.err);
	for (int i = 0; i < N_TARGETS; i++) {
		char name[8];
		snprintf(name, sizeof name, "t%d", i);
		const char *row = row_of(r.out, name);
		if (i == 2) {
			ck_assert_msg(h_contains(row, "failed") && h_contains(row, "P3018") &&
					      h_contains(row, "20250102000000_seed"),
				      "%s: %s", name, row);
			continue;
		}
		ck_assert_msg(h_contains(row, "succeeded") && h_contains(row, " 3 "), "%s: %s\n%s", name, row, r.out);
		h_assert_q(fx.db[i], "SELECT count(*) FROM _prisma_migrations", "3");
		h_assert_q(
			fx.db[i],
			"SELECT count(DISTINCT migration_name) FROM _prisma_migrations WHERE finished_at IS NOT NULL "
			"AND rolled_back_at IS NULL",
			"3");
		h_assert_q(fx.db[i], "SELECT count(*) FROM item", "1");
	}
	h_assert_contains(r.out, "5 succeeded, 1 failed, 0 skipped");
	/* Progress lines are whole: each starts with its target's name and says one thing. */
	for (const char *p = r.out; *p;) {
		size_t n = strcspn(p, "\n");
		if (n > 3 && p[0] == 't' && p[1] >= '0' && p[1] <= '9' && p[2] == ':')
			ck_assert_msg(progress_line(p, n), "a mixed line: %.*s\n%s", (int)n, p, r.out);
		p += n + (p[n] == '\n');
	}
	h_result_free(&r);

	/* Again: nothing is applied twice, the poisoned one now refuses with P3009 by itself. */
	h_migrated(&r, "deploy", "--targets-file", fx.file, "--all", "--on-error", "continue", "--json", "--migrations",
		   h_migrations_dir(), NULL);
	ck_assert_int_eq(r.rc, 1);
	json_error_t jerr;
	json_t *j = json_loads(r.out, 0, &jerr);
	ck_assert_msg(j, "not JSON: %s\n%s", jerr.text, r.out);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "succeeded")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "failed")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "skipped")), 0);
	json_t *targets = json_object_get(j, "targets");
	ck_assert_uint_eq(json_array_size(targets), N_TARGETS);
	for (int i = 0; i < N_TARGETS; i++) {
		json_t *t = json_array_get(targets, (size_t)i);
		char name[8];
		snprintf(name, sizeof name, "t%d", i);
		ck_assert_str_eq(json_string_value(json_object_get(t, "name")), name);
		ck_assert_int_eq(json_integer_value(json_object_get(t, "applied")), 0);
		ck_assert_str_eq(json_string_value(json_object_get(t, "state")), i == 2 ? "failed" : "succeeded");
		if (i == 2)
			ck_assert_str_eq(h_jstr(t, "error.prisma_code"), "P3009");
		else
			ck_assert(json_is_null(json_object_get(t, "error")));
	}
	json_decref(j);
	for (int i = 0; i < N_TARGETS; i++)
		if (i != 2)
			h_assert_q(fx.db[i], "SELECT count(*) FROM _prisma_migrations", "3");
	h_result_free(&r);
}

ITEST(a_selector_or_a_target_name_picks_only_those_targets)
{
	struct fleet_fixture fx;
	struct h_result r;
	fleet_fixture(&fx, 4, -1);
	h_migrated(&r, "deploy", "--targets-file", fx.file, "--selector", "tier=prod", "--migrations",
		   h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "2 succeeded, 0 failed, 0 skipped");
	for (int i = 0; i < 4; i++)
		ck_assert_msg(has_history(fx.db[i]) == (i % 2 == 0), "t%d", i);
	h_assert_not_contains(r.out, "t1 ");
	h_result_free(&r);

	h_migrated(&r, "deploy", "--targets-file", fx.file, "--target", "t3", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s%s", r.rc, r.out, r.err);
	ck_assert(has_history(fx.db[3]) && !has_history(fx.db[1]));
	h_result_free(&r);

	h_migrated(&r, "deploy", "--targets-file", fx.file, "--selector", "tier=staging,idx=1", "--migrations",
		   h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "1 succeeded, 0 failed, 0 skipped");
	ck_assert(has_history(fx.db[1]));
	h_result_free(&r);

	/* Usage errors, exit 2, nothing run. */
	static const char *const refused[][4] = {
		{"--migrations", "x", "exactly one of --target NAME, --selector KEY=VALUE or --all", NULL},
		{"--target", "t9", "no target named \"t9\"", NULL},
		{"--selector", "tier", "is not KEY=VALUE", NULL},
		{"--selector", "tier=nope", "has the labels tier=nope", NULL},
		{"--all", "--parallel", "0", NULL},
		{"--all", "--on-error", "sometimes", NULL},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		h_migrated(&r, "deploy", "--targets-file", fx.file, refused[i][0], refused[i][1],
			   refused[i][3] ? refused[i][3] : refused[i][2], NULL);
		ck_assert_msg(r.rc == 2, "case %zu: exit %d\n%s%s", i, r.rc, r.out, r.err);
		if (i < 4)
			h_assert_contains(r.err, refused[i][2]);
		h_result_free(&r);
	}
	h_migrated(&r, "deploy", "--targets-file", fx.file, "--target", "t0", "--target", "t1", "--all", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "--target NAME, --selector KEY=VALUE or --all");
	h_result_free(&r);
}

ITEST(status_of_all_targets_shows_each_ones_applied_and_pending_counts)
{
	struct fleet_fixture fx;
	struct h_result r;
	fleet_fixture(&fx, 3, -1);
	/* t0 fully deployed, t1 only the first migration, t2 nothing. */
	h_deploy_ok(fx.db[0], h_migrations_dir());
	char first[600];
	snprintf(first, sizeof first, "%s/first", h_tmpdir());
	h_mig(first, "20250101000000_item",
	      "CREATE TABLE item (id int PRIMARY KEY);\n"
	      "INSERT INTO item SELECT 1 FROM pg_namespace WHERE nspname = 'poison';\n");
	char lock[700];
	snprintf(lock, sizeof lock, "%s/migration_lock.toml", first);
	h_write(lock, "provider = \"postgresql\"\n", 24);
	h_deploy_ok(fx.db[1], first);

	h_migrated(&r, "status", "--targets-file", fx.file, "--all", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 1, "exit %d\n%s%s", r.rc, r.out, r.err);
	static const char *const want[][3] = {{"t0", "up_to_date", " 3        0"},
					      {"t1", "pending", " 1        2"},
					      {"t2", "pending", " 0        3"}};
	for (size_t i = 0; i < 3; i++) {
		const char *row = row_of(r.out, want[i][0]);
		ck_assert_msg(h_contains(row, want[i][1]) && h_contains(row, want[i][2]), "%s\n%s", row, r.out);
	}
	h_assert_contains(r.out, "1 up to date, 2 pending");
	h_result_free(&r);

	h_migrated(&r, "status", "--targets-file", fx.file, "--all", "--json", "--migrations", h_migrations_dir(),
		   NULL);
	ck_assert_int_eq(r.rc, 1);
	json_t *j = json_loads(r.out, 0, NULL);
	ck_assert_msg(j, "%s", r.out);
	json_t *t = json_object_get(j, "targets");
	static const int counts[][2] = {{3, 0}, {1, 2}, {0, 3}};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, i), "applied")), counts[i][0]);
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, i), "pending")), counts[i][1]);
	}
	json_decref(j);
	h_result_free(&r);

	/* Once all are deployed, status exits 0. */
	h_migrated(&r, "deploy", "--targets-file", fx.file, "--all", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s%s", r.rc, r.out, r.err);
	h_result_free(&r);
	h_migrated(&r, "status", "--targets-file", fx.file, "--all", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 0, "exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.out, "3 up to date, 0 pending");
	h_result_free(&r);
}

ITEST(a_targets_file_others_can_read_is_refused_with_the_chmod_hint)
{
	struct fleet_fixture fx;
	struct h_result r;
	fleet_fixture(&fx, 1, -1);
	ck_assert_int_eq(chmod(fx.file, 0644), 0);
	h_migrated(&r, "deploy", "--targets-file", fx.file, "--all", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 2, "exit %d\n%s%s", r.rc, r.out, r.err);
	h_assert_contains(r.err, fx.file);
	h_assert_contains(r.err, "chmod 600");
	h_assert_contains(r.err, "0644");
	ck_assert(!has_history(fx.db[0]));
	h_result_free(&r);
	h_migrated(&r, "status", "--targets-file", fx.file, "--all", "--json", NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.out, "\"code\": \"config\"");
	h_assert_contains(r.out, "chmod 600");
	h_result_free(&r);
}

ITEST(target_passwords_appear_in_no_output_even_when_the_target_is_unreachable)
{
	static const char *const secrets[] = {"Qz7pw-in-query-9911", "Uz8pw-in-userinfo-4242", "Dz9pw-direct-5151"};
	char text[2048], file[600];
	const char *db = h_fresh_db();
	int port = h_free_port();
	ck_assert_int_gt(port, 0);
	snprintf(text, sizeof text,
		 "good %s?password=%s\n"
		 "down-query postgresql://postgres@127.0.0.1:%d/x?password=%s&sslmode=disable tier=down\n"
		 "down-user postgresql://postgres:%s@127.0.0.1:%d/x tier=down\n"
		 "down-direct %s direct=postgresql://postgres:%s@127.0.0.1:%d/y tier=down\n"
		 "bad-url postgresql://postgres:%s@[::1/x tier=down\n",
		 h_url(db), secrets[0], port, secrets[0], secrets[1], port, h_url(db), secrets[2], port, secrets[1]);
	snprintf(file, sizeof file, "%s/targets", h_tmpdir());
	h_write(file, text, strlen(text));
	ck_assert_int_eq(chmod(file, 0600), 0);
	fleet_migrations(h_migrations_dir());

	static const char *const runs[][3] = {{"deploy", "--all", NULL},
					      {"deploy", "--all", "--json"},
					      {"status", "--all", NULL},
					      {"status", "--all", "--json"},
					      {"deploy", "--selector", NULL}};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct h_result r;
		if (strcmp(runs[i][1], "--selector") == 0)
			h_migrated(&r, runs[i][0], "--targets-file", file, "--selector", "tier=down", "--on-error",
				   "continue", "--migrations", h_migrations_dir(), NULL);
		else if (strcmp(runs[i][0], "deploy") == 0)
			h_migrated(&r, runs[i][0], "--targets-file", file, runs[i][1], "--on-error", "continue",
				   "--migrations", h_migrations_dir(), runs[i][2], NULL);
		else
			h_migrated(&r, runs[i][0], "--targets-file", file, runs[i][1], "--migrations",
				   h_migrations_dir(), runs[i][2], NULL);
		ck_assert_msg(r.rc != 0, "run %zu: exit 0\n%s", i, r.out);
		for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
			ck_assert_msg(!h_contains(r.out, secrets[k]), "run %zu: stdout shows %s:\n%s", i, secrets[k],
				      r.out);
			ck_assert_msg(!h_contains(r.err, secrets[k]), "run %zu: stderr shows %s:\n%s", i, secrets[k],
				      r.err);
		}
		h_assert_not_contains(r.out, "postgresql://");
		h_assert_not_contains(r.err, "postgresql://");
		if (i == 0) {
			ck_assert_msg(h_contains(row_of(r.out, "down-query"), "P1001"), "%s", r.out);
			ck_assert_msg(h_contains(row_of(r.out, "down-direct"), "P1001"), "%s", r.out);
			ck_assert_msg(h_contains(row_of(r.out, "good"), "succeeded"), "%s", r.out);
			ck_assert_msg(h_contains(row_of(r.out, "bad-url"), "failed"), "%s", r.out);
		}
		h_result_free(&r);
	}
}

Suite *suite_cli_fleet(void)
{
	Suite *s = suite_create("cli_fleet");
	TCase *tc = tcase_create("cli_fleet");
	tcase_set_timeout(tc, 120); /* a dozen runs over up to six databases, under valgrind in test.sh */
	tcase_add_test(tc, a_failed_canary_under_stop_leaves_every_other_target_untouched);
	tcase_add_test(tc, on_error_continue_deploys_every_other_target_exactly_once_and_names_p3018);
	tcase_add_test(tc, a_selector_or_a_target_name_picks_only_those_targets);
	tcase_add_test(tc, status_of_all_targets_shows_each_ones_applied_and_pending_counts);
	tcase_add_test(tc, a_targets_file_others_can_read_is_refused_with_the_chmod_hint);
	tcase_add_test(tc, target_passwords_appear_in_no_output_even_when_the_target_is_unreachable);
	suite_add_tcase(s, tc);
	return s;
}
