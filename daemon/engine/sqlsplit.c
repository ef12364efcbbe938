/* sqlsplit.c - statement splitting and classification on top of sqllex. Statements are
 * classified from their leading keywords only; nothing inside strings, dollar quotes or
 * comments can change a class, because the lexer never yields their contents as words. */
#include "migrated/sqlsplit.h"
#include "migrated/error.h"
#include "migrated/sqllex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LEAD_WORDS 8

/* The first words of a statement, with parenthesised option lists skipped
 * ("REINDEX (VERBOSE) TABLE CONCURRENTLY x" -> REINDEX TABLE CONCURRENTLY x). */
struct lead {
	struct md_sqltok w[LEAD_WORDS];
	size_t n;
	size_t n_top; /* tokens outside parentheses, words or not */
	int depth;
	bool any_token;
};

static bool lead_is(const struct lead *l, size_t i, const char *src, const char *kw)
{
	return i < l->n && md_sqltok_is(&l->w[i], src, kw);
}

static void classify(struct md_sqlstmt *st, const struct lead *l, const char *src)
{
	size_t i;

	st->cls = MD_STMT_PLAIN;
	st->what = NULL;
	if (l->n == 0)
		return;
	if (lead_is(l, 0, src, "BEGIN") || lead_is(l, 0, src, "START")) {
		st->cls = MD_STMT_TXN_CONTROL;
		st->what = "BEGIN";
		return;
	}
	if (lead_is(l, 0, src, "COMMIT") || lead_is(l, 0, src, "END") || lead_is(l, 0, src, "ROLLBACK") ||
	    lead_is(l, 0, src, "ABORT")) {
		st->cls = MD_STMT_TXN_CONTROL;
		st->what = lead_is(l, 0, src, "ROLLBACK") || lead_is(l, 0, src, "ABORT") ? "ROLLBACK" : "COMMIT";
		/* COMMIT PREPARED / ROLLBACK PREPARED cannot run in a block either; the class
		 * that matters for planning is transaction control. */
		return;
	}
	if (lead_is(l, 0, src, "PREPARE") && lead_is(l, 1, src, "TRANSACTION")) {
		st->cls = MD_STMT_TXN_CONTROL;
		st->what = "PREPARE TRANSACTION";
		return;
	}
	if (lead_is(l, 0, src, "CREATE")) {
		i = 1;
		if (lead_is(l, i, src, "UNIQUE"))
			i++;
		if (lead_is(l, i, src, "INDEX") && lead_is(l, i + 1, src, "CONCURRENTLY")) {
			st->cls = MD_STMT_NO_TXN;
			st->what = "CREATE INDEX CONCURRENTLY";
			return;
		}
		if (lead_is(l, 1, src, "DATABASE") || lead_is(l, 1, src, "TABLESPACE") ||
		    lead_is(l, 1, src, "SUBSCRIPTION")) {
			st->cls = MD_STMT_NO_TXN;
			st->what = lead_is(l, 1, src, "DATABASE")     ? "CREATE DATABASE"
				   : lead_is(l, 1, src, "TABLESPACE") ? "CREATE TABLESPACE"
								      : "CREATE SUBSCRIPTION";
		}
		return;
	}
	if (lead_is(l, 0, src, "DROP")) {
		if (lead_is(l, 1, src, "INDEX") && lead_is(l, 2, src, "CONCURRENTLY")) {
			st->cls = MD_STMT_NO_TXN;
			st->what = "DROP INDEX CONCURRENTLY";
		} else if (lead_is(l, 1, src, "DATABASE") || lead_is(l, 1, src, "TABLESPACE") ||
			   lead_is(l, 1, src, "SUBSCRIPTION")) {
			st->cls = MD_STMT_NO_TXN;
			st->what = lead_is(l, 1, src, "DATABASE")     ? "DROP DATABASE"
				   : lead_is(l, 1, src, "TABLESPACE") ? "DROP TABLESPACE"
								      : "DROP SUBSCRIPTION";
		}
		return;
	}
	if (lead_is(l, 0, src, "REINDEX")) {
		bool conc = false, wide = false;
		for (i = 1; i < l->n; i++) {
			if (md_sqltok_is(&l->w[i], src, "CONCURRENTLY"))
				conc = true;
			if (i == 1 &&
			    (md_sqltok_is(&l->w[i], src, "SCHEMA") || md_sqltok_is(&l->w[i], src, "DATABASE") ||
			     md_sqltok_is(&l->w[i], src, "SYSTEM")))
				wide = true;
		}
		if (conc || wide) {
			st->cls = MD_STMT_NO_TXN;
			st->what = conc ? "REINDEX CONCURRENTLY" : "REINDEX SCHEMA/DATABASE/SYSTEM";
		}
		return;
	}
	if (lead_is(l, 0, src, "VACUUM")) {
		st->cls = MD_STMT_NO_TXN;
		st->what = "VACUUM";
		return;
	}
	if (lead_is(l, 0, src, "CLUSTER") && (l->n_top == 1 || (l->n_top == 2 && lead_is(l, 1, src, "VERBOSE")))) {
		st->cls = MD_STMT_NO_TXN;
		st->what = "CLUSTER (all tables)";
		return;
	}
	if (lead_is(l, 0, src, "DISCARD") && lead_is(l, 1, src, "ALL")) {
		st->cls = MD_STMT_NO_TXN;
		st->what = "DISCARD ALL";
		return;
	}
	if (lead_is(l, 0, src, "ALTER")) {
		if (lead_is(l, 1, src, "SYSTEM")) {
			st->cls = MD_STMT_NO_TXN;
			st->what = "ALTER SYSTEM";
		} else if (lead_is(l, 1, src, "DATABASE")) {
			for (i = 2; i + 1 < l->n; i++)
				if (md_sqltok_is(&l->w[i], src, "SET") &&
				    md_sqltok_is(&l->w[i + 1], src, "TABLESPACE")) {
					st->cls = MD_STMT_NO_TXN;
					st->what = "ALTER DATABASE SET TABLESPACE";
				}
		} else if (lead_is(l, 1, src, "TYPE")) {
			for (i = 2; i + 1 < l->n; i++)
				if (md_sqltok_is(&l->w[i], src, "ADD") && md_sqltok_is(&l->w[i + 1], src, "VALUE"))
					st->add_enum_value = true;
		}
	}
}

/* In a CREATE FUNCTION/PROCEDURE, a BEGIN ATOMIC body holds semicolons until its END. */
struct routine {
	bool is_routine;
	int depth;
	bool prev_begin;
};

static void routine_word(struct routine *r, const struct lead *l, const struct md_sqltok *t, const char *src)
{
	if (!r->is_routine)
		return;
	if (r->prev_begin && md_sqltok_is(t, src, "ATOMIC"))
		r->depth++;
	else if (r->depth > 0 && md_sqltok_is(t, src, "CASE"))
		r->depth++;
	else if (r->depth > 0 && md_sqltok_is(t, src, "END"))
		r->depth--;
	r->prev_begin = md_sqltok_is(t, src, "BEGIN") && l->n > 1;
}

static bool lead_is_routine(const struct lead *l, const char *src)
{
	size_t i = 1;
	if (!lead_is(l, 0, src, "CREATE"))
		return false;
	if (lead_is(l, 1, src, "OR") && lead_is(l, 2, src, "REPLACE"))
		i = 3;
	return lead_is(l, i, src, "FUNCTION") || lead_is(l, i, src, "PROCEDURE");
}

static int push_stmt(struct md_sqlscript *sc, size_t *cap, const struct md_sqlstmt *st)
{
	if (sc->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct md_sqlstmt *p = realloc(sc->stmts, nc * sizeof *p);
		if (!p)
			return MD_E_NOMEM;
		sc->stmts = p;
		*cap = nc;
	}
	sc->stmts[sc->n++] = *st;
	if (st->cls == MD_STMT_TXN_CONTROL)
		sc->n_txn_control++;
	else if (st->cls == MD_STMT_NO_TXN)
		sc->n_no_txn++;
	return 0;
}

/* "-- migrated:no-transaction" on a comment line before the first statement. */
static bool has_directive(const char *s, size_t len, size_t first_stmt)
{
	static const char d[] = "-- migrated:no-transaction";
	size_t p = 0;
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		p = 3;
	while (p < first_stmt && p < len) {
		size_t e = p;
		while (e < len && s[e] != '\n')
			e++;
		size_t q = e;
		while (q > p && (s[q - 1] == '\r' || s[q - 1] == ' ' || s[q - 1] == '\t'))
			q--;
		if (q - p == sizeof d - 1 && memcmp(s + p, d, sizeof d - 1) == 0)
			return true;
		p = e + 1;
	}
	return false;
}

int md_sqlsplit(const char *s, size_t len, struct md_sqlscript *ret, struct md_error *err)
{
	struct md_sqlscript sc = {0};
	struct md_sqllex lx;
	struct md_sqltok t;
	struct lead l = {0};
	struct routine rt = {0};
	struct md_sqlstmt cur = {0};
	size_t cap = 0, first_stmt = len;
	int paren = 0, r;

	md_sqllex_init(&lx, s, len);
	/* A UTF-8 byte order mark is not SQL (Prisma sends it and the server chokes on it). */
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		lx.pos = lx.line_start = 3;
	for (;;) {
		enum md_sqltok_kind k = md_sqllex_next(&lx, &t);
		if (k == MD_TOK_ERROR) {
			md_sqlscript_free(&sc);
			return md_error_set(err, MD_E_CATALOG, "%s starting at line %u, column %u", lx.error, t.line,
					    t.col);
		}
		if (k == MD_TOK_EOF || (k == MD_TOK_SEMI && paren <= 0 && rt.depth == 0)) {
			if (l.any_token) {
				classify(&cur, &l, s);
				if ((r = push_stmt(&sc, &cap, &cur)) < 0) {
					md_sqlscript_free(&sc);
					return md_error_set(err, r, "out of memory splitting a script");
				}
			}
			if (k == MD_TOK_EOF)
				break;
			memset(&l, 0, sizeof l);
			memset(&rt, 0, sizeof rt);
			memset(&cur, 0, sizeof cur);
			paren = 0;
			continue;
		}
		if (!l.any_token) {
			l.any_token = true;
			cur.start = t.start;
			cur.line = t.line;
			cur.col = t.col;
			if (first_stmt == len)
				first_stmt = t.start;
		}
		cur.end = t.start + t.len;
		if (l.depth == 0 && k != MD_TOK_LPAREN)
			l.n_top++;
		if (k == MD_TOK_LPAREN) {
			paren++;
			l.depth++;
		} else if (k == MD_TOK_RPAREN) {
			paren--;
			l.depth--;
		} else if (k == MD_TOK_WORD) {
			if (l.depth == 0 && l.n < LEAD_WORDS) {
				l.w[l.n++] = t;
				if (l.n == 3 || l.n == 4 || l.n == 5)
					rt.is_routine = lead_is_routine(&l, s);
			}
			routine_word(&rt, &l, &t, s);
		} else {
			rt.prev_begin = false;
		}
	}
	sc.directive_no_txn = has_directive(s, len, first_stmt);
	*ret = sc;
	return 0;
}

void md_sqlscript_free(struct md_sqlscript *script)
{
	if (!script)
		return;
	free(script->stmts);
	memset(script, 0, sizeof *script);
}
