/* test_sqlsplit.c - statement splitting and classification: every way SQL hides a ';' or a
 * keyword, and every statement class that decides how a migration runs. */
#include "migrated/apply.h"
#include "migrated/error.h"
#include "migrated/sqllex.h"
#include "migrated/sqlsplit.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct md_sqlscript split_ok(const char *sql)
{
	struct md_sqlscript sc;
	struct md_error err = {0};
	int r = md_sqlsplit(sql, strlen(sql), &sc, &err);
	ck_assert_msg(r == 0, "split failed: %s", err.message);
	return sc;
}

static char *stmt_text(const char *sql, const struct md_sqlstmt *st)
{
	return strndup(sql + st->start, st->end - st->start);
}

#define ASSERT_STMT(sql, sc, i, want)                      \
	do {                                               \
		char *_t = stmt_text(sql, &(sc).stmts[i]); \
		ck_assert_str_eq(_t, want);                \
		free(_t);                                  \
	} while (0)

START_TEST(splits_plain_statements_and_drops_empty_ones)
{
	const char *sql = "CREATE TABLE a (id int);;\n  INSERT INTO a VALUES (1) ;\n;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 2);
	ASSERT_STMT(sql, sc, 0, "CREATE TABLE a (id int)");
	ASSERT_STMT(sql, sc, 1, "INSERT INTO a VALUES (1)");
	ck_assert_uint_eq(sc.stmts[1].line, 2);
	ck_assert_uint_eq(sc.stmts[1].col, 3);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(last_statement_without_semicolon_is_kept)
{
	const char *sql = "SELECT 1;\nSELECT 2 -- trailing comment without newline";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 2);
	ASSERT_STMT(sql, sc, 1, "SELECT 2");
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(semicolons_in_strings_identifiers_and_comments_do_not_split)
{
	const char *sql = "INSERT INTO t VALUES ('a;b', 'it''s;', E'x\\';y', \"we;ird\");\n"
			  "-- a comment; with semicolon\n"
			  "/* block; /* nested; */ still comment; */ SELECT 'ok';\n"
			  "SELECT U&'d\\0061t;a', B'1010', X'1F', N'n;';";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 3);
	ASSERT_STMT(sql, sc, 0, "INSERT INTO t VALUES ('a;b', 'it''s;', E'x\\';y', \"we;ird\")");
	ASSERT_STMT(sql, sc, 1, "SELECT 'ok'");
	ck_assert_uint_eq(sc.stmts[1].line, 3);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(dollar_quotes_with_tags_hide_semicolons)
{
	const char *sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;\n"
			  "DO $$ BEGIN PERFORM 1; END $$;\n"
			  "SELECT $tag$ $$ ; $$ $tag$, $1;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 3);
	ASSERT_STMT(sql, sc, 1, "DO $$ BEGIN PERFORM 1; END $$");
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(dollar_inside_identifier_is_not_a_quote)
{
	const char *sql = "SELECT a$b$c FROM t; SELECT 2;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 2);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(begin_atomic_body_is_one_statement)
{
	const char *sql = "CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
			  "BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\n"
			  "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n"
			  "SELECT 3;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 3);
	ck_assert_uint_eq(sc.stmts[0].cls, MD_STMT_PLAIN);
	ck_assert_uint_eq(sc.stmts[2].line, 7);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(parentheses_keep_rule_actions_together)
{
	const char *sql = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES "
			  "(2));\nSELECT 1;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 2);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(classifies_statements_that_refuse_transaction_blocks)
{
	static const struct {
		const char *sql;
		const char *what;
	} cases[] = {
		{"CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"},
		{"create unique index concurrently if not exists i on t (a)", "CREATE INDEX CONCURRENTLY"},
		{"DROP INDEX CONCURRENTLY IF EXISTS i", "DROP INDEX CONCURRENTLY"},
		{"REINDEX (VERBOSE) TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"},
		{"REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY"},
		{"REINDEX DATABASE d", "REINDEX SCHEMA/DATABASE/SYSTEM"},
		{"VACUUM (ANALYZE) t", "VACUUM"},
		{"ALTER SYSTEM SET work_mem = '8MB'", "ALTER SYSTEM"},
		{"CREATE DATABASE x", "CREATE DATABASE"},
		{"DROP DATABASE x", "DROP DATABASE"},
		{"CLUSTER", "CLUSTER (all tables)"},
		{"CLUSTER (VERBOSE)", "CLUSTER (all tables)"},
		{"DISCARD ALL", "DISCARD ALL"},
		{"ALTER DATABASE d SET TABLESPACE ts", "ALTER DATABASE SET TABLESPACE"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_sqlscript sc = split_ok(cases[i].sql);
		ck_assert_uint_eq(sc.n, 1);
		ck_assert_msg(sc.stmts[0].cls == MD_STMT_NO_TXN, "%s: not classified no-transaction", cases[i].sql);
		ck_assert_str_eq(sc.stmts[0].what, cases[i].what);
		md_sqlscript_free(&sc);
	}
}
END_TEST

START_TEST(ordinary_look_alikes_stay_plain)
{
	static const char *const cases[] = {
		"CREATE INDEX i ON t (a)",
		"CLUSTER t USING i",
		"CLUSTER \"Quoted\"",
		"REINDEX TABLE t",
		"INSERT INTO t VALUES ('CREATE INDEX CONCURRENTLY x ON y (z)')",
		"COMMENT ON TABLE t IS 'VACUUM; BEGIN; COMMIT'",
		"SELECT 'drop index concurrently i'",
		"ALTER TABLE t RENAME COLUMN \"concurrently\" TO c",
		"DO $$ BEGIN COMMIT; END $$",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_sqlscript sc = split_ok(cases[i]);
		ck_assert_uint_eq(sc.n, 1);
		ck_assert_msg(sc.stmts[0].cls == MD_STMT_PLAIN, "%s: classified %d", cases[i], sc.stmts[0].cls);
		md_sqlscript_free(&sc);
	}
}
END_TEST

START_TEST(transaction_control_is_recognised)
{
	const char *sql = "BEGIN;\nSET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nUPDATE t SET a = 1;\nCOMMIT;\n"
			  "START TRANSACTION; END; ROLLBACK; ABORT;";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 8);
	ck_assert_uint_eq(sc.n_txn_control, 6);
	ck_assert_str_eq(sc.stmts[0].what, "BEGIN");
	ck_assert_uint_eq(sc.stmts[1].cls, MD_STMT_PLAIN);
	ck_assert_str_eq(sc.stmts[3].what, "COMMIT");
	ck_assert_str_eq(sc.stmts[6].what, "ROLLBACK");
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(enum_add_value_is_flagged)
{
	struct md_sqlscript sc =
		split_ok("ALTER TYPE \"Role\" ADD VALUE 'ADMIN'; ALTER TYPE r RENAME VALUE 'a' TO 'b';");
	ck_assert(sc.stmts[0].add_enum_value);
	ck_assert(!sc.stmts[1].add_enum_value);
	ck_assert_uint_eq(sc.stmts[0].cls, MD_STMT_PLAIN);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(directive_before_first_statement_only)
{
	struct md_sqlscript sc = split_ok("-- header\n-- migrated:no-transaction\r\nCREATE TABLE a (id int);");
	ck_assert(sc.directive_no_txn);
	md_sqlscript_free(&sc);
	sc = split_ok("CREATE TABLE a (id int);\n-- migrated:no-transaction\n");
	ck_assert(!sc.directive_no_txn);
	md_sqlscript_free(&sc);
	sc = split_ok("-- migrated:no-transactions\nSELECT 1;");
	ck_assert(!sc.directive_no_txn);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(unterminated_constructs_are_errors_with_position)
{
	static const struct {
		const char *sql;
		const char *msg;
	} cases[] = {
		{"SELECT 1;\nSELECT 'abc;", "unterminated quoted string starting at line 2, column 8"},
		{"SELECT \"abc", "unterminated quoted identifier starting at line 1, column 8"},
		{"SELECT 1; /* open /* nested */", "unterminated /* comment starting at line 1, column 11"},
		{"DO $x$ BEGIN END $y$;", "unterminated dollar-quoted string starting at line 1, column 4"},
		{"SELECT E'abc\\'", "unterminated quoted string starting at line 1, column 8"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_sqlscript sc;
		struct md_error err = {0};
		int r = md_sqlsplit(cases[i].sql, strlen(cases[i].sql), &sc, &err);
		ck_assert_int_eq(r, MD_E_CATALOG);
		ck_assert_str_eq(err.message, cases[i].msg);
	}
}
END_TEST

START_TEST(byte_order_mark_is_skipped)
{
	const char *sql = "\xEF\xBB\xBF"
			  "CREATE INDEX CONCURRENTLY i ON t (a);";
	struct md_sqlscript sc = split_ok(sql);
	ck_assert_uint_eq(sc.n, 1);
	ck_assert_uint_eq(sc.stmts[0].start, 3);
	ck_assert_uint_eq(sc.stmts[0].col, 1);
	ck_assert_uint_eq(sc.stmts[0].cls, MD_STMT_NO_TXN);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(mode_follows_the_statements)
{
	char why[256];
	struct md_sqlscript sc = split_ok("CREATE TABLE a (id int); INSERT INTO a VALUES (1);");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_TRANSACTION);
	md_sqlscript_free(&sc);
	sc = split_ok("-- just one\nCREATE INDEX CONCURRENTLY i ON a (id);\n");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_SINGLE);
	ck_assert_str_eq(why, "CREATE INDEX CONCURRENTLY at line 2 cannot run in a transaction block");
	md_sqlscript_free(&sc);
	sc = split_ok("CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY i ON a (id);");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_STEPWISE);
	md_sqlscript_free(&sc);
	sc = split_ok("BEGIN; CREATE TABLE a (id int); COMMIT;");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_SCRIPT);
	md_sqlscript_free(&sc);
	sc = split_ok("ALTER TYPE r ADD VALUE 'x'; SELECT 1;");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_TRANSACTION);
	ck_assert_int_eq(md_apply_choose_mode(&sc, 110000, why, sizeof why), MD_MODE_STEPWISE);
	md_sqlscript_free(&sc);
	sc = split_ok("-- migrated:no-transaction\nINSERT INTO a VALUES (1);");
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_STEPWISE);
	md_sqlscript_free(&sc);
	sc = split_ok("");
	ck_assert_uint_eq(sc.n, 0);
	ck_assert_int_eq(md_apply_choose_mode(&sc, 150000, why, sizeof why), MD_MODE_TRANSACTION);
	md_sqlscript_free(&sc);
}
END_TEST

START_TEST(lexer_reports_words_not_inside_literals)
{
	const char *sql = "select 'DROP' , \"DROP\", drop";
	struct md_sqllex lx;
	struct md_sqltok t;
	int words = 0, drops = 0;
	md_sqllex_init(&lx, sql, strlen(sql));
	while (md_sqllex_next(&lx, &t) != MD_TOK_EOF) {
		if (t.kind == MD_TOK_WORD)
			words++;
		if (md_sqltok_is(&t, sql, "drop"))
			drops++;
	}
	ck_assert_int_eq(words, 2);
	ck_assert_int_eq(drops, 1);
}
END_TEST

Suite *suite_sqlsplit(void)
{
	Suite *s = suite_create("sqlsplit");
	TCase *tc = tcase_create("split");
	tcase_add_test(tc, splits_plain_statements_and_drops_empty_ones);
	tcase_add_test(tc, last_statement_without_semicolon_is_kept);
	tcase_add_test(tc, semicolons_in_strings_identifiers_and_comments_do_not_split);
	tcase_add_test(tc, dollar_quotes_with_tags_hide_semicolons);
	tcase_add_test(tc, dollar_inside_identifier_is_not_a_quote);
	tcase_add_test(tc, begin_atomic_body_is_one_statement);
	tcase_add_test(tc, parentheses_keep_rule_actions_together);
	tcase_add_test(tc, classifies_statements_that_refuse_transaction_blocks);
	tcase_add_test(tc, ordinary_look_alikes_stay_plain);
	tcase_add_test(tc, transaction_control_is_recognised);
	tcase_add_test(tc, enum_add_value_is_flagged);
	tcase_add_test(tc, directive_before_first_statement_only);
	tcase_add_test(tc, unterminated_constructs_are_errors_with_position);
	tcase_add_test(tc, byte_order_mark_is_skipped);
	tcase_add_test(tc, mode_follows_the_statements);
	tcase_add_test(tc, lexer_reports_words_not_inside_literals);
	suite_add_tcase(s, tc);
	return s;
}
