/* sqllex.c - PostgreSQL token scanner (see sqllex.h). Follows the server's scan.l for the
 * constructs that decide where statements end; numbers and operators are approximate because
 * nothing here depends on their exact extent. standard_conforming_strings is assumed on (the
 * default since PostgreSQL 9.1): backslashes escape only in E'' strings. */
#include "migrated/sqllex.h"

#include <string.h>
#include <strings.h>

void md_sqllex_init(struct md_sqllex *lx, const char *s, size_t len)
{
	memset(lx, 0, sizeof *lx);
	lx->s = s;
	lx->len = len;
	lx->line = 1;
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident_cont(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_op_char(unsigned char c)
{
	return strchr("+-*/<>=~!@#%^&|`?:.", c) != NULL && c != '\0';
}

/* Advance to position p, keeping line accounting. */
static void advance_to(struct md_sqllex *lx, size_t p)
{
	while (lx->pos < p) {
		if (lx->s[lx->pos] == '\n') {
			lx->line++;
			lx->line_start = lx->pos + 1;
		}
		lx->pos++;
	}
}

/* Block comment at p (slash-star), nested as the server nests them. Returns the end offset, or 0
 * when unterminated. */
static size_t scan_block_comment(const struct md_sqllex *lx, size_t p)
{
	int depth = 0;
	while (p < lx->len) {
		if (p + 1 < lx->len && lx->s[p] == '/' && lx->s[p + 1] == '*') {
			depth++;
			p += 2;
		} else if (p + 1 < lx->len && lx->s[p] == '*' && lx->s[p + 1] == '/') {
			depth--;
			p += 2;
			if (depth == 0)
				return p;
		} else {
			p++;
		}
	}
	return 0;
}

/* Quoted text starting at p (the opening quote q). Doubled quotes escape; with backslash,
 * \x escapes any byte. Returns offset past the closing quote, or 0 when unterminated. */
static size_t scan_quoted(const struct md_sqllex *lx, size_t p, char q, bool backslash)
{
	p++;
	while (p < lx->len) {
		char c = lx->s[p];
		if (backslash && c == '\\') {
			p += 2;
			continue;
		}
		if (c == q) {
			if (p + 1 < lx->len && lx->s[p + 1] == q) {
				p += 2;
				continue;
			}
			return p + 1;
		}
		p++;
	}
	return 0;
}

/* Dollar-quote opening tag at p ("$tag$" or "$$"); returns its length or 0 if p does not
 * start one. */
static size_t dollar_tag_len(const struct md_sqllex *lx, size_t p)
{
	size_t q = p + 1;
	if (q < lx->len && lx->s[q] == '$')
		return 2;
	if (q >= lx->len || !is_ident_start((unsigned char)lx->s[q]))
		return 0;
	q++;
	while (q < lx->len && lx->s[q] != '$') {
		unsigned char c = (unsigned char)lx->s[q];
		if (!(is_ident_start(c) || (c >= '0' && c <= '9')))
			return 0;
		q++;
	}
	if (q >= lx->len)
		return 0;
	return q - p + 1;
}

static size_t scan_dollar_body(const struct md_sqllex *lx, size_t p, size_t taglen)
{
	const char *tag = lx->s + p;
	size_t q = p + taglen;
	while (q + taglen <= lx->len) {
		const char *hit = memchr(lx->s + q, '$', lx->len - q);
		if (!hit)
			return 0;
		q = (size_t)(hit - lx->s);
		if (q + taglen <= lx->len && memcmp(lx->s + q, tag, taglen) == 0)
			return q + taglen;
		q++;
	}
	return 0;
}

static enum md_sqltok_kind emit(struct md_sqllex *lx, struct md_sqltok *tok, enum md_sqltok_kind k, size_t start,
				size_t end)
{
	tok->kind = k;
	tok->start = start;
	tok->len = end - start;
	tok->line = lx->line;
	tok->col = (unsigned)(start - lx->line_start + 1);
	advance_to(lx, end);
	return k;
}

static enum md_sqltok_kind fail(struct md_sqllex *lx, struct md_sqltok *tok, size_t start, const char *why)
{
	if (!lx->error) {
		lx->error = why;
		lx->error_start = start;
		lx->error_line = lx->line;
		lx->error_col = (unsigned)(start - lx->line_start + 1);
		lx->pos = lx->len;
	}
	tok->kind = MD_TOK_ERROR;
	tok->start = lx->error_start;
	tok->len = lx->len - lx->error_start;
	tok->line = lx->error_line;
	tok->col = lx->error_col;
	return MD_TOK_ERROR;
}

/* One switch over the first character, as PostgreSQL's own scanner reads: splitting it would
 * scatter the token rules over helpers that each need the whole lexer state. */
enum md_sqltok_kind md_sqllex_next(struct md_sqllex *lx, struct md_sqltok *tok)
{
	const char *s = lx->s;
	size_t p, e;

	if (lx->error)
		return fail(lx, tok, lx->error_start, lx->error);
again:
	while (lx->pos < lx->len && is_space((unsigned char)s[lx->pos]))
		advance_to(lx, lx->pos + 1);
	p = lx->pos;
	if (p >= lx->len) {
		tok->kind = MD_TOK_EOF;
		tok->start = lx->len;
		tok->len = 0;
		tok->line = lx->line;
		tok->col = (unsigned)(lx->len - lx->line_start + 1);
		return MD_TOK_EOF;
	}
	unsigned char c = (unsigned char)s[p];
	unsigned char n1 = p + 1 < lx->len ? (unsigned char)s[p + 1] : 0;

	if (c == '-' && n1 == '-') {
		e = p;
		while (e < lx->len && s[e] != '\n')
			e++;
		if (!lx->keep_comments) {
			advance_to(lx, e);
			goto again;
		}
		return emit(lx, tok, MD_TOK_COMMENT, p, e);
	}
	if (c == '/' && n1 == '*') {
		e = scan_block_comment(lx, p);
		if (!e)
			return fail(lx, tok, p, "unterminated /* comment");
		if (!lx->keep_comments) {
			advance_to(lx, e);
			goto again;
		}
		return emit(lx, tok, MD_TOK_COMMENT, p, e);
	}
	if (c == '\'') {
		e = scan_quoted(lx, p, '\'', false);
		if (!e)
			return fail(lx, tok, p, "unterminated quoted string");
		return emit(lx, tok, MD_TOK_STRING, p, e);
	}
	if (c == '"') {
		e = scan_quoted(lx, p, '"', false);
		if (!e)
			return fail(lx, tok, p, "unterminated quoted identifier");
		return emit(lx, tok, MD_TOK_QIDENT, p, e);
	}
	if (c == '$') {
		if (n1 >= '0' && n1 <= '9') {
			e = p + 1;
			while (e < lx->len && s[e] >= '0' && s[e] <= '9')
				e++;
			return emit(lx, tok, MD_TOK_PARAM, p, e);
		}
		size_t tl = dollar_tag_len(lx, p);
		if (tl) {
			e = scan_dollar_body(lx, p, tl);
			if (!e)
				return fail(lx, tok, p, "unterminated dollar-quoted string");
			return emit(lx, tok, MD_TOK_DOLLAR, p, e);
		}
		return emit(lx, tok, MD_TOK_OP, p, p + 1);
	}
	if (is_ident_start(c)) {
		/* String prefixes: E'..' (backslash escapes), B'..', X'..', N'..', U&'..', U&".." */
		if ((c == 'e' || c == 'E') && n1 == '\'') {
			e = scan_quoted(lx, p + 1, '\'', true);
			if (!e)
				return fail(lx, tok, p, "unterminated quoted string");
			return emit(lx, tok, MD_TOK_STRING, p, e);
		}
		if (strchr("bBxXnN", c) && n1 == '\'') {
			e = scan_quoted(lx, p + 1, '\'', false);
			if (!e)
				return fail(lx, tok, p, "unterminated quoted string");
			return emit(lx, tok, MD_TOK_STRING, p, e);
		}
		if ((c == 'u' || c == 'U') && n1 == '&' && p + 2 < lx->len && (s[p + 2] == '\'' || s[p + 2] == '"')) {
			char q = s[p + 2];
			e = scan_quoted(lx, p + 2, q, false);
			if (!e)
				return fail(lx, tok, p,
					    q == '"' ? "unterminated quoted identifier" : "unterminated quoted string");
			return emit(lx, tok, q == '"' ? MD_TOK_QIDENT : MD_TOK_STRING, p, e);
		}
		e = p + 1;
		while (e < lx->len && is_ident_cont((unsigned char)s[e]))
			e++;
		return emit(lx, tok, MD_TOK_WORD, p, e);
	}
	if ((c >= '0' && c <= '9') || (c == '.' && n1 >= '0' && n1 <= '9')) {
		e = p;
		while (e < lx->len && (is_ident_cont((unsigned char)s[e]) || s[e] == '.'))
			e++;
		return emit(lx, tok, MD_TOK_NUMBER, p, e);
	}
	switch (c) {
	case ';': return emit(lx, tok, MD_TOK_SEMI, p, p + 1);
	case '(':
	case '[': return emit(lx, tok, MD_TOK_LPAREN, p, p + 1);
	case ')':
	case ']': return emit(lx, tok, MD_TOK_RPAREN, p, p + 1);
	case ',': return emit(lx, tok, MD_TOK_COMMA, p, p + 1);
	}
	if (is_op_char(c)) {
		/* An operator never contains the start of a comment. */
		e = p + 1;
		while (e < lx->len && is_op_char((unsigned char)s[e]) &&
		       !(s[e] == '-' && e + 1 < lx->len && s[e + 1] == '-') &&
		       !(s[e] == '/' && e + 1 < lx->len && s[e + 1] == '*'))
			e++;
		return emit(lx, tok, MD_TOK_OP, p, e);
	}
	return emit(lx, tok, MD_TOK_OP, p, p + 1);
}

bool md_sqltok_is(const struct md_sqltok *tok, const char *src, const char *kw)
{
	size_t n = strlen(kw);
	return tok->kind == MD_TOK_WORD && tok->len == n && strncasecmp(src + tok->start, kw, n) == 0;
}
