/* test_ddl.c - what the data preflight reads of a statement (ddl.h): key columns, referenced
 * columns, CHECK and USING expressions, index items without their collation, operator class
 * and order, a partial index's predicate, NULLS NOT DISTINCT, enum labels and type renames;
 * and the row-count configuration values. */
#include "migrated/config.h"
#include "migrated/ddl.h"
#include "migrated/error.h"
#include "migrated/sqlsplit.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* The one statement of sql, parsed (asserts). */
static void parse1(const char *sql, struct md_ddl *d)
{
	struct md_sqlscript sc;
	struct md_error err;
	ck_assert_int_eq(md_sqlsplit(sql, strlen(sql), &sc, &err), 0);
	ck_assert_uint_eq(sc.n, 1);
	ck_assert_int_eq(md_ddl_parse(sql, &sc.stmts[0], d), 0);
	md_sqlscript_free(&sc);
}

static char *text(const char *sql, struct md_ddl_span s)
{
	return strndup(sql + s.start, s.end - s.start);
}

static void assert_span(const char *sql, struct md_ddl_span s, const char *want)
{
	char *t = text(sql, s);
	ck_assert_str_eq(t, want);
	free(t);
}

START_TEST(constraint_columns_references_and_expressions)
{
	struct md_ddl d;
	const char *sql = "ALTER TABLE \"Repo\" ADD CONSTRAINT \"Repo_orgId_fkey\" FOREIGN KEY (\"orgId\", kind) "
			  "REFERENCES \"Org\"(\"id\", kind) MATCH FULL ON DELETE SET NULL";
	parse1(sql, &d);
	ck_assert_uint_eq(d.n_actions, 1);
	ck_assert_int_eq(d.actions[0].con, MD_CON_FOREIGN_KEY);
	ck_assert_str_eq(d.actions[0].constraint, "\"Repo_orgId_fkey\"");
	assert_span(sql, d.actions[0].cols, "\"orgId\", kind");
	assert_span(sql, d.actions[0].ref_cols, "\"id\", kind");
	ck_assert(d.actions[0].match_full);
	md_ddl_free(&d);

	sql = "ALTER TABLE price ADD CONSTRAINT c CHECK ((amount >= 0) AND note <> ''), ALTER COLUMN s TYPE "
	      "\"Role_new\" USING (\"s\"::text::\"Role_new\"), ADD UNIQUE NULLS NOT DISTINCT (a, b)";
	parse1(sql, &d);
	ck_assert_uint_eq(d.n_actions, 3);
	assert_span(sql, d.actions[0].expr, "(amount >= 0) AND note <> ''");
	ck_assert_str_eq(d.actions[1].new_type, "\"Role_new\"");
	assert_span(sql, d.actions[1].expr, "(\"s\"::text::\"Role_new\")");
	ck_assert_int_eq(d.actions[2].con, MD_CON_UNIQUE);
	ck_assert(d.actions[2].nulls_not_distinct);
	assert_span(sql, d.actions[2].cols, "a, b");
	md_ddl_free(&d);

	sql = "ALTER TABLE vc VALIDATE CONSTRAINT \"vc_n\"";
	parse1(sql, &d);
	ck_assert_int_eq(d.actions[0].kind, MD_ACT_VALIDATE_CONSTRAINT);
	ck_assert_str_eq(d.actions[0].constraint, "\"vc_n\"");
	md_ddl_free(&d);
}
END_TEST

START_TEST(index_items_lose_collation_opclass_and_order)
{
	struct md_ddl d;
	struct md_ddl_span items[8];
	const char *sql = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON public.\"User\" USING btree "
			  "(lower(email) text_pattern_ops DESC NULLS LAST, \"org\" COLLATE \"C\", (a + b), x::text) "
			  "NULLS NOT DISTINCT WHERE deleted_at IS NULL";
	parse1(sql, &d);
	ck_assert(d.unique && d.concurrently && d.nulls_not_distinct);
	ck_assert_str_eq(d.table, "public.\"User\"");
	assert_span(sql, d.where, "deleted_at IS NULL");
	size_t n = md_ddl_list_items(sql, d.index_cols, true, items, 8);
	ck_assert_uint_eq(n, 4);
	assert_span(sql, items[0], "lower(email)");
	assert_span(sql, items[1], "\"org\"");
	assert_span(sql, items[2], "(a + b)");
	assert_span(sql, items[3], "x::text");
	/* More items than room: the count says so, only max are written. */
	ck_assert_uint_eq(md_ddl_list_items(sql, d.index_cols, true, items, 2), 4);
	md_ddl_free(&d);
}
END_TEST

START_TEST(enum_types_their_labels_and_renames)
{
	struct md_ddl d;
	const char *sql = "CREATE TYPE \"Role_new\" AS ENUM ('USER', 'ADMIN', 'it''s')";
	parse1(sql, &d);
	ck_assert_int_eq(d.kind, MD_DDL_CREATE_OTHER);
	ck_assert_str_eq(d.type_name, "\"Role_new\"");
	assert_span(sql, d.labels, "'USER', 'ADMIN', 'it''s'");
	md_ddl_free(&d);
	sql = "ALTER TYPE \"Role_new\" RENAME TO \"Role\"";
	parse1(sql, &d);
	ck_assert_int_eq(d.kind, MD_DDL_RENAME_TYPE);
	ck_assert_str_eq(d.new_name, "\"Role\"");
	md_ddl_free(&d);
	sql = "ALTER TYPE \"Role\" ADD VALUE IF NOT EXISTS 'GUEST'";
	parse1(sql, &d);
	ck_assert_int_eq(d.kind, MD_DDL_ADD_ENUM_VALUE);
	assert_span(sql, d.labels, "'GUEST'");
	md_ddl_free(&d);
}
END_TEST

START_TEST(preflight_row_counts_read_as_numbers_with_suffixes)
{
	struct md_config *cfg = NULL;
	struct md_config_flags flags = {0};
	struct md_error err = {0};
	setenv("MIGRATED_PREFLIGHT_MAX_ROWS", "2.5M", 1);
	setenv("MIGRATED_PREFLIGHT_GATE", "warn", 1);
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), 0);
	ck_assert(cfg->preflight_max_rows == 2500000);
	ck_assert_int_eq(cfg->preflight_gate, MD_LINT_GATE_WARN);
	ck_assert_int_eq(cfg->preflight_timeout_ms, 5000);
	md_config_free(cfg);
	setenv("MIGRATED_PREFLIGHT_MAX_ROWS", "lots", 1);
	cfg = NULL;
	ck_assert_int_eq(md_config_load(&flags, &cfg, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "not a row count") != NULL);
	unsetenv("MIGRATED_PREFLIGHT_MAX_ROWS");
	unsetenv("MIGRATED_PREFLIGHT_GATE");
}
END_TEST

Suite *suite_ddl(void)
{
	Suite *s = suite_create("ddl");
	TCase *tc = tcase_create("ddl");
	tcase_add_test(tc, constraint_columns_references_and_expressions);
	tcase_add_test(tc, index_items_lose_collation_opclass_and_order);
	tcase_add_test(tc, enum_types_their_labels_and_renames);
	tcase_add_test(tc, preflight_row_counts_read_as_numbers_with_suffixes);
	suite_add_tcase(s, tc);
	return s;
}
