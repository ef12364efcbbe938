/* sqllex.h - a PostgreSQL lexer good enough to split scripts and recognise statements: it knows
 * every way text can hide a semicolon or a keyword (single-quoted, E'', B'', X'', N'', U&''
 * strings, quoted identifiers, dollar quotes with tags, line comments and nested block
 * comments). It does not parse: it yields tokens with positions. Pure: no allocation. */
#ifndef MIGRATED_SQLLEX_H
#define MIGRATED_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>

enum md_sqltok_kind {
	MD_TOK_EOF = 0, /* end of input */
	MD_TOK_WORD,    /* unquoted identifier or keyword */
	MD_TOK_QIDENT,  /* "quoted identifier" or U&"..." */
	MD_TOK_STRING,  /* any '...' literal, with its prefix (E, B, X, N, U&) */
	MD_TOK_DOLLAR,  /* $tag$ ... $tag$ */
	MD_TOK_NUMBER,  /* numeric literal */
	MD_TOK_PARAM,   /* $1 */
	MD_TOK_SEMI,    /* ; */
	MD_TOK_LPAREN,  /* ( or [ */
	MD_TOK_RPAREN,  /* ) or ] */
	MD_TOK_COMMA,   /* , */
	MD_TOK_OP,      /* operator or other punctuation */
	MD_TOK_COMMENT, /* -- or block comment; only when md_sqllex.keep_comments */
	MD_TOK_ERROR,   /* unterminated quote, identifier or comment (see md_sqllex.error) */
};

struct md_sqltok {
	enum md_sqltok_kind kind;
	size_t start;  /* byte offset in the script */
	size_t len;    /* bytes */
	unsigned line; /* 1-based */
	unsigned col;  /* 1-based, in bytes */
};

struct md_sqllex {
	const char *s;
	size_t len;
	size_t pos;
	unsigned line;
	size_t line_start;
	bool keep_comments;
	const char *error; /* static text for MD_TOK_ERROR: "unterminated quoted string", ... */
	size_t error_start;
	unsigned error_line, error_col;
};

void md_sqllex_init(struct md_sqllex *lx, const char *s, size_t len);
/* md_sqllex_next: the next token; after MD_TOK_EOF or MD_TOK_ERROR it keeps returning it. */
enum md_sqltok_kind md_sqllex_next(struct md_sqllex *lx, struct md_sqltok *tok);
/* md_sqltok_is: whether tok is the unquoted word kw (ASCII, case-insensitive). */
bool md_sqltok_is(const struct md_sqltok *tok, const char *src, const char *kw);

#endif
