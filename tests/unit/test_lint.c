/* test_lint.c - every lint rule fires on a minimal bad example, and not on its safe pattern,
 * not when the same text sits in a string, a comment or a dollar-quoted body, and not on a
 * table the same migration creates; lint-ignore comments silence a rule and keep the reason;
 * severities are configurable. Also the lock levels ddl.c reports. */
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/ddl.h"
#include "migrated/error.h"
#include "migrated/lint.h"
#include "migrated/sqlsplit.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct md_lint_report run(const char *sql, int lock_timeout_ms)
{
	struct md_lint_options o;
	struct md_lint_report rep = {0};
	struct md_error err = {0};
	struct md_migration m = {0};
	ck_assert_int_eq(md_lint_options_init(&o, NULL, lock_timeout_ms, 150000, &err), 0);
	m.name = "20240101000000_test";
	m.has_sql = true;
	m.sql = (char *)sql;
	m.sql_len = strlen(sql);
	ck_assert_int_eq(md_lint_migration(&o, &m, &rep), 0);
	return rep;
}

static size_t count_rule(const struct md_lint_report *rep, const char *rule)
{
	size_t n = 0;
	for (size_t i = 0; i < rep->n; i++)
		n += strcmp(rep->items[i].rule, rule) == 0 && !rep->items[i].ignored;
	return n;
}

struct rule_case {
	const char *rule, *bad, *safe;
};

/* A table "t" (and "u") exists: the migration does not create it. */
static const struct rule_case cases[] = {
	{"require-concurrent-index-creation", "CREATE INDEX t_c ON t (c);", "CREATE INDEX CONCURRENTLY t_c ON t (c);"},
	{"require-concurrent-index-creation", "CREATE UNIQUE INDEX t_c ON public.t USING btree (c);",
	 "CREATE TABLE n (c int); CREATE UNIQUE INDEX n_c ON n (c);"},
	{"require-concurrent-index-deletion", "DROP INDEX t_c;", "DROP INDEX CONCURRENTLY t_c;"},
	{"ban-concurrent-index-creation-in-transaction", "BEGIN; CREATE INDEX CONCURRENTLY t_c ON t (c); COMMIT;",
	 "CREATE INDEX CONCURRENTLY t_c ON t (c);"},
	{"adding-foreign-key-constraint", "ALTER TABLE t ADD CONSTRAINT t_u FOREIGN KEY (u_id) REFERENCES u (id);",
	 "ALTER TABLE t ADD CONSTRAINT t_u FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID;"},
	{"constraint-missing-not-valid", "ALTER TABLE t ADD CONSTRAINT c_pos CHECK (c > 0);",
	 "ALTER TABLE t ADD CONSTRAINT c_pos CHECK (c > 0) NOT VALID;"},
	{"adding-not-nullable-field", "ALTER TABLE t ALTER COLUMN c SET NOT NULL;",
	 "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;"},
	{"adding-required-field", "ALTER TABLE t ADD COLUMN c2 text NOT NULL;",
	 "ALTER TABLE t ADD COLUMN c2 text NOT NULL DEFAULT '';"},
	{"adding-field-with-volatile-default", "ALTER TABLE t ADD COLUMN k uuid DEFAULT gen_random_uuid();",
	 "ALTER TABLE t ADD COLUMN k timestamptz DEFAULT now();"},
	{"changing-column-type", "ALTER TABLE t ALTER COLUMN c TYPE bigint;", "ALTER TABLE t ADD COLUMN c_big bigint;"},
	{"disallowed-unique-constraint", "ALTER TABLE t ADD CONSTRAINT t_c_key UNIQUE (c);",
	 "ALTER TABLE t ADD CONSTRAINT t_c_key UNIQUE USING INDEX t_c_idx;"},
	{"renaming-column", "ALTER TABLE t RENAME COLUMN c TO d;", "ALTER TABLE t ADD COLUMN d int;"},
	{"renaming-table", "ALTER TABLE t RENAME TO t2;", "CREATE VIEW t2 AS SELECT * FROM t;"},
	{"ban-drop-column", "ALTER TABLE t DROP COLUMN c;", "ALTER TABLE t ALTER COLUMN c DROP NOT NULL;"},
	{"ban-drop-table", "DROP TABLE t;", "CREATE TABLE n (id int); DROP TABLE n;"},
	{"ban-drop-schema", "DROP SCHEMA legacy CASCADE;", "CREATE SCHEMA IF NOT EXISTS legacy;"},
	{"ban-drop-database", "DROP DATABASE app;", "SELECT 1;"},
	{"backfill-in-ddl-transaction", "ALTER TABLE t ADD COLUMN d int; UPDATE t SET d = c WHERE c IS NOT NULL;",
	 "UPDATE t SET d = c WHERE c IS NOT NULL;"},
	{"update-without-where", "UPDATE t SET c = 0;", "UPDATE t SET c = 0 WHERE id < 1000;"},
	{"prefer-robust-stmts", "CREATE INDEX CONCURRENTLY t_c ON t (c); CREATE INDEX CONCURRENTLY t_d ON t (d);",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_c ON t (c); CREATE INDEX CONCURRENTLY IF NOT EXISTS t_d ON t (d);"},
	{"ban-truncate-cascade", "TRUNCATE t CASCADE;", "TRUNCATE t;"},
	{"adding-stored-generated-column", "ALTER TABLE t ADD COLUMN c2 int GENERATED ALWAYS AS (c * 2) STORED;",
	 "ALTER TABLE t ADD COLUMN c2 int;"},
	{"adding-exclusion-constraint", "ALTER TABLE t ADD CONSTRAINT t_ex EXCLUDE USING gist (r WITH &&);",
	 "CREATE TABLE n (r int4range, EXCLUDE USING gist (r WITH &&));"},
	{"table-rewrite", "VACUUM FULL t;", "VACUUM t;"},
	{"require-concurrent-reindex", "REINDEX TABLE t;", "REINDEX TABLE CONCURRENTLY t;"},
	{"require-concurrent-refresh", "REFRESH MATERIALIZED VIEW mv;", "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;"},
	{"transaction-nesting", "BEGIN; BEGIN; SELECT 1; COMMIT;", "BEGIN; SELECT 1; COMMIT;"},
	{"ban-char-field", "CREATE TABLE n (code char(3));", "CREATE TABLE n (code text);"},
	{"prefer-bigint-over-int", "CREATE TABLE n (id integer PRIMARY KEY);",
	 "CREATE TABLE n (id bigint PRIMARY KEY);"},
	{"prefer-identity", "CREATE TABLE n (id serial);",
	 "CREATE TABLE n (id bigint GENERATED BY DEFAULT AS IDENTITY);"},
	{"prefer-text-field", "CREATE TABLE n (name varchar(255));", "CREATE TABLE n (name text);"},
	{"prefer-timestamptz", "CREATE TABLE n (at TIMESTAMP(3) NOT NULL);", "CREATE TABLE n (at timestamptz(3));"},
	{"prefer-jsonb", "CREATE TABLE n (doc json);", "CREATE TABLE n (doc jsonb);"},
};

/* The bad statement as a string literal, a comment, and a dollar-quoted body. */
static void look_alikes(const char *bad, char out[3][1200])
{
	char quoted[600];
	size_t o = 0;
	for (const char *p = bad; *p && o + 2 < sizeof quoted; p++) {
		if (*p == '\'')
			quoted[o++] = '\'';
		quoted[o++] = *p;
	}
	quoted[o] = '\0';
	snprintf(out[0], 1200, "INSERT INTO audit (note) VALUES ('%s');", quoted);
	snprintf(out[1], 1200, "-- %s\n/* %s */\nSELECT 1;", bad, bad);
	snprintf(out[2], 1200,
		 "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$ BEGIN EXECUTE $q$%s$q$; END $body$;",
		 bad);
}

START_TEST(every_rule_fires_on_its_bad_example_only)
{
	size_t n_rules;
	const struct md_lint_rule *all = md_lint_rules(&n_rules);
	bool covered[64] = {false};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct rule_case *c = &cases[i];
		struct md_lint_report rep = run(c->bad, 10000);
		ck_assert_msg(count_rule(&rep, c->rule) >= 1, "%s did not fire on: %s", c->rule, c->bad);
		md_lint_report_free(&rep);
		rep = run(c->safe, 10000);
		ck_assert_msg(count_rule(&rep, c->rule) == 0, "%s fired on the safe form: %s", c->rule, c->safe);
		md_lint_report_free(&rep);
		char alike[3][1200];
		look_alikes(c->bad, alike);
		for (int k = 0; k < 3; k++) {
			rep = run(alike[k], 10000);
			ck_assert_msg(count_rule(&rep, c->rule) == 0, "%s fired on a look-alike: %s", c->rule,
				      alike[k]);
			md_lint_report_free(&rep);
		}
		for (size_t r = 0; r < n_rules; r++)
			if (strcmp(all[r].id, c->rule) == 0)
				covered[r] = true;
	}
	/* require-lock-timeout has its own test below; every other rule has a case. */
	for (size_t r = 0; r < n_rules; r++)
		ck_assert_msg(covered[r] || strcmp(all[r].id, "require-lock-timeout") == 0, "rule %s has no test case",
			      all[r].id);
}
END_TEST

START_TEST(a_table_created_in_the_same_migration_is_not_locked_by_anyone)
{
	struct md_lint_report rep = run("CREATE TABLE \"Asset\" (id text NOT NULL, v text);\n"
					"CREATE INDEX \"Asset_v_idx\" ON \"Asset\"(v);\n"
					"ALTER TABLE \"Asset\" ADD COLUMN owner text NOT NULL;\n"
					"ALTER TABLE \"Asset\" ADD CONSTRAINT \"Asset_pkey\" PRIMARY KEY (id);\n"
					"ALTER TABLE \"Asset\" ALTER COLUMN v SET NOT NULL;",
					10000);
	ck_assert_uint_eq(rep.count[MD_LINT_ERROR], 0);
	ck_assert_uint_eq(rep.count[MD_LINT_WARNING], 0);
	md_lint_report_free(&rep);
	/* Quoted names keep their case: "asset" is another table. */
	rep = run("CREATE TABLE \"Asset\" (v text); CREATE INDEX a_v ON \"asset\"(v);", 10000);
	ck_assert_uint_eq(count_rule(&rep, "require-concurrent-index-creation"), 1);
	md_lint_report_free(&rep);
}
END_TEST

START_TEST(require_lock_timeout_fires_only_when_nothing_bounds_the_wait)
{
	struct md_lint_report rep = run("ALTER TABLE t ADD COLUMN d int;", 0);
	ck_assert_uint_eq(count_rule(&rep, "require-lock-timeout"), 1);
	ck_assert_uint_eq(rep.items[rep.n - 1].line, 1);
	md_lint_report_free(&rep);
	rep = run("ALTER TABLE t ADD COLUMN d int;", 10000); /* migrated sets it */
	ck_assert_uint_eq(count_rule(&rep, "require-lock-timeout"), 0);
	md_lint_report_free(&rep);
	rep = run("SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN d int;", 0);
	ck_assert_uint_eq(count_rule(&rep, "require-lock-timeout"), 0);
	md_lint_report_free(&rep);
	rep = run("SET lock_timeout = 0;\nALTER TABLE t ADD COLUMN d int;", 0);
	ck_assert_uint_eq(count_rule(&rep, "require-lock-timeout"), 1);
	md_lint_report_free(&rep);
}
END_TEST

START_TEST(lint_ignore_comments_silence_one_statement_and_keep_the_reason)
{
	struct md_lint_report rep =
		run("-- migrated:lint-ignore require-concurrent-index-creation,ban-drop-column the table has 12 rows\n"
		    "CREATE INDEX t_c ON t (c);\n"
		    "CREATE INDEX t_d ON t (d);",
		    10000);
	ck_assert_uint_eq(count_rule(&rep, "require-concurrent-index-creation"), 1);
	ck_assert_uint_eq(rep.n_ignored, 1);
	bool found = false;
	for (size_t i = 0; i < rep.n; i++)
		if (rep.items[i].ignored) {
			ck_assert_str_eq(rep.items[i].reason, "the table has 12 rows");
			ck_assert_uint_eq(rep.items[i].line, 2);
			found = true;
		}
	ck_assert(found);
	json_t *j = md_lint_report_json(&rep, false);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "ignored")), 1);
	ck_assert_str_eq(
		json_string_value(json_object_get(json_array_get(json_object_get(j, "ignored"), 0), "ignored_because")),
		"the table has 12 rows");
	json_decref(j);
	md_lint_report_free(&rep);
}
END_TEST

START_TEST(severities_are_configurable_and_errors_say_which_rule)
{
	struct md_lint_options o;
	struct md_error err = {0};
	char *items[] = {"require-concurrent-index-creation warning", "ban-drop-column off"};
	struct md_strlist list = {items, 2};
	ck_assert_int_eq(md_lint_options_init(&o, &list, 10000, 150000, &err), 0);
	struct md_migration m = {.name = "m", .has_sql = true};
	m.sql = "CREATE INDEX t_c ON t (c); ALTER TABLE t DROP COLUMN c;";
	m.sql_len = strlen(m.sql);
	struct md_lint_report rep = {0};
	ck_assert_int_eq(md_lint_migration(&o, &m, &rep), 0);
	ck_assert_uint_eq(rep.count[MD_LINT_ERROR], 0);
	ck_assert_uint_eq(rep.count[MD_LINT_WARNING], 1);
	ck_assert_uint_eq(count_rule(&rep, "ban-drop-column"), 0);
	md_lint_report_free(&rep);
	char *bad[] = {"no-such-rule error"};
	struct md_strlist l2 = {bad, 1};
	ck_assert_int_eq(md_lint_options_init(&o, &l2, 0, 0, &err), MD_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "no-such-rule"));
	char *bad2[] = {"ban-drop-column loud"};
	struct md_strlist l3 = {bad2, 1};
	ck_assert_int_eq(md_lint_options_init(&o, &l3, 0, 0, &err), MD_E_CONFIG);
}
END_TEST

static struct md_ddl parse_one(const char *sql, struct md_sqlscript *sc)
{
	struct md_ddl d;
	ck_assert_int_eq(md_sqlsplit(sql, strlen(sql), sc, NULL), 0);
	ck_assert_int_eq(md_ddl_parse(sql, &sc->stmts[0], &d), 0);
	return d;
}

START_TEST(lock_levels_follow_the_postgresql_table)
{
	static const struct {
		const char *sql, *mode, *relation;
		bool rewrite, scan;
	} want[] = {
		{"CREATE INDEX i ON \"Asset\" (v)", "SHARE", "\"Asset\"", false, true},
		{"CREATE INDEX CONCURRENTLY i ON t (v)", "SHARE UPDATE EXCLUSIVE", "t", false, true},
		{"ALTER TABLE \"Asset\" ALTER COLUMN v TYPE bigint", "ACCESS EXCLUSIVE", "\"Asset\"", true, true},
		{"ALTER TABLE t ADD COLUMN k uuid DEFAULT gen_random_uuid()", "ACCESS EXCLUSIVE", "t", true, false},
		{"ALTER TABLE t ADD COLUMN k int DEFAULT 0", "ACCESS EXCLUSIVE", "t", false, false},
		{"ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES u (id)", "SHARE ROW EXCLUSIVE", "t", false,
		 true},
		{"ALTER TABLE t VALIDATE CONSTRAINT f", "SHARE UPDATE EXCLUSIVE", "t", false, true},
		{"ALTER TABLE t ALTER COLUMN c SET NOT NULL", "ACCESS EXCLUSIVE", "t", false, true},
		{"DROP INDEX i", "ACCESS EXCLUSIVE", "i", false, false},
		{"UPDATE t SET c = 1", "ROW EXCLUSIVE", "t", false, true},
		{"VACUUM FULL t", "ACCESS EXCLUSIVE", "t", true, true},
		{"CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "SHARE ROW EXCLUSIVE", "t",
		 false, false},
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		struct md_sqlscript sc;
		struct md_ddl d = parse_one(want[i].sql, &sc);
		struct md_ddl_lock locks[MD_DDL_MAX_LOCKS];
		size_t n = md_ddl_locks(&d, locks);
		ck_assert_msg(n >= 1, "no lock for %s", want[i].sql);
		ck_assert_msg(strcmp(locks[0].mode, want[i].mode) == 0, "%s: %s, want %s", want[i].sql, locks[0].mode,
			      want[i].mode);
		ck_assert_str_eq(locks[0].relation, want[i].relation);
		ck_assert_msg(locks[0].rewrite == want[i].rewrite && locks[0].scan == want[i].scan,
			      "%s: rewrite %d scan %d", want[i].sql, locks[0].rewrite, locks[0].scan);
		md_ddl_free(&d);
		md_sqlscript_free(&sc);
	}
	/* A foreign key also locks the table it references. */
	struct md_sqlscript sc;
	struct md_ddl d =
		parse_one("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES public.\"User\" (id)", &sc);
	struct md_ddl_lock locks[MD_DDL_MAX_LOCKS];
	ck_assert_uint_eq(md_ddl_locks(&d, locks), 2);
	ck_assert_str_eq(locks[1].relation, "public.\"User\"");
	md_ddl_free(&d);
	md_sqlscript_free(&sc);
	char key[64];
	md_ddl_key("public.\"User\"", key, sizeof key);
	ck_assert_str_eq(key, "User");
	md_ddl_key("Public.Big", key, sizeof key);
	ck_assert_str_eq(key, "big");
}
END_TEST

Suite *suite_lint(void)
{
	Suite *s = suite_create("lint");
	TCase *tc = tcase_create("lint");
	tcase_add_test(tc, every_rule_fires_on_its_bad_example_only);
	tcase_add_test(tc, a_table_created_in_the_same_migration_is_not_locked_by_anyone);
	tcase_add_test(tc, require_lock_timeout_fires_only_when_nothing_bounds_the_wait);
	tcase_add_test(tc, lint_ignore_comments_silence_one_statement_and_keep_the_reason);
	tcase_add_test(tc, severities_are_configurable_and_errors_say_which_rule);
	tcase_add_test(tc, lock_levels_follow_the_postgresql_table);
	suite_add_tcase(s, tc);
	return s;
}
