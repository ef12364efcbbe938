/* sqlsplit.h - splits a migration script into statements the way psql does (a ';' ends a
 * statement outside parentheses and outside a BEGIN ATOMIC routine body) and classifies each
 * one: ordinary, transaction control, or one PostgreSQL refuses to run inside a transaction
 * block. The engine uses the classes to pick how a migration runs; lint uses the positions. */
#ifndef MIGRATED_SQLSPLIT_H
#define MIGRATED_SQLSPLIT_H

#include <stdbool.h>
#include <stddef.h>

struct md_error;

enum md_stmt_class {
	MD_STMT_PLAIN = 0,   /* runs anywhere */
	MD_STMT_TXN_CONTROL, /* BEGIN, COMMIT, ROLLBACK, ...: the script manages transactions */
	MD_STMT_NO_TXN,      /* cannot run inside a transaction block (CONCURRENTLY, VACUUM, ...) */
};

struct md_sqlstmt {
	size_t start;       /* byte offset of the first token */
	size_t end;         /* byte offset just past the last token before ';' */
	unsigned line, col; /* 1-based position of the first token */
	enum md_stmt_class cls;
	const char *what;    /* static: "CREATE INDEX CONCURRENTLY", "BEGIN", ... or NULL */
	bool add_enum_value; /* ALTER TYPE ... ADD VALUE: no transaction block before PG 12 */
};

struct md_sqlscript {
	struct md_sqlstmt *stmts; /* owned */
	size_t n;
	size_t n_txn_control;
	size_t n_no_txn;
	bool directive_no_txn; /* "-- migrated:no-transaction" before the first statement */
};

/* md_sqlsplit: split s[0..len). Empty statements (";;") are dropped. On an unterminated
 * string, identifier, dollar quote or comment returns MD_E_CATALOG with the line and column in
 * err->message. On success ret owns its statements: free with md_sqlscript_free. */
int md_sqlsplit(const char *s, size_t len, struct md_sqlscript *ret, struct md_error *err);
void md_sqlscript_free(struct md_sqlscript *script);

#endif
