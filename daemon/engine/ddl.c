/* ddl.c - statement recognition over tokens, and the lock table (see ddl.h). A statement's
 * tokens are read once into an array (comments dropped by the lexer); each form is matched by
 * its leading keywords, ALTER TABLE actions are split at top-level commas, and a column's
 * properties are read from its constraint keywords. */
#include "migrated/ddl.h"
#include "migrated/error.h"
#include "migrated/macro.h"
#include "migrated/sqllex.h"
#include "migrated/sqlsplit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct toks {
	const char *src;
	struct md_sqltok *t;
	size_t n;
};

static bool is(const struct toks *tv, size_t i, const char *kw)
{
	return i < tv->n && md_sqltok_is(&tv->t[i], tv->src, kw);
}

static bool is_kind(const struct toks *tv, size_t i, enum md_sqltok_kind k)
{
	return i < tv->n && tv->t[i].kind == k;
}

static bool is_op(const struct toks *tv, size_t i, const char *op)
{
	return i < tv->n && tv->t[i].kind == MD_TOK_OP && tv->t[i].len == strlen(op) &&
	       strncmp(tv->src + tv->t[i].start, op, tv->t[i].len) == 0;
}

static bool is_name(const struct toks *tv, size_t i)
{
	return is_kind(tv, i, MD_TOK_WORD) || is_kind(tv, i, MD_TOK_QIDENT);
}

/* The source text of tokens [a, b), whitespace between them collapsed to one space. */
static void span(const struct toks *tv, size_t a, size_t b, char *out, size_t sz)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = a; i < b && i < tv->n && o + 1 < sz; i++) {
		const struct md_sqltok *t = &tv->t[i];
		bool glue = i > a && (t->start == tv->t[i - 1].start + tv->t[i - 1].len);
		if (i > a && !glue)
			out[o++] = ' ';
		for (size_t k = 0; k < t->len && o + 1 < sz; k++)
			out[o++] = tv->src[t->start + k];
	}
	out[o] = '\0';
}

void md_ddl_key(const char *name, char *out, size_t outsz)
{
	/* The last dotted part outside quotes. */
	const char *last = name;
	bool q = false;
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			q = !q;
		else if (*p == '.' && !q)
			last = p + 1;
	}
	size_t o = 0;
	if (*last == '"') {
		for (const char *p = last + 1; *p && o + 1 < outsz; p++) {
			if (*p == '"') {
				if (p[1] != '"')
					break;
				p++;
			}
			out[o++] = *p;
		}
	} else {
		for (const char *p = last; *p && o + 1 < outsz; p++)
			out[o++] = (char)tolower((unsigned char)*p);
	}
	out[o] = '\0';
}

/* A possibly qualified name at i: returns the index after it (i when there is none). */
static size_t qname(const struct toks *tv, size_t i, char *out, size_t sz)
{
	size_t j = i;
	if (!is_name(tv, j))
		return i;
	j++;
	while (is_op(tv, j, ".") && is_name(tv, j + 1))
		j += 2;
	span(tv, i, j, out, sz);
	return j;
}

/* Index of the matching ')' for the '(' at i (or n). */
static size_t close_paren(const struct toks *tv, size_t i)
{
	int depth = 0;
	for (size_t j = i; j < tv->n; j++) {
		if (tv->t[j].kind == MD_TOK_LPAREN)
			depth++;
		else if (tv->t[j].kind == MD_TOK_RPAREN && --depth == 0)
			return j;
	}
	return tv->n;
}

/* Whether the word at i, at depth 0 of [a, b), occurs. */
static bool has_top_word(const struct toks *tv, size_t a, size_t b, const char *kw)
{
	int depth = 0;
	for (size_t j = a; j < b; j++) {
		if (tv->t[j].kind == MD_TOK_LPAREN)
			depth++;
		else if (tv->t[j].kind == MD_TOK_RPAREN)
			depth--;
		else if (depth == 0 && is(tv, j, kw))
			return true;
	}
	return false;
}

/* ---- columns ---- */

static const char *const volatile_fns[] = {
	"random",          "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
	"clock_timestamp", "timeofday",       "nextval",          "gen_random_bytes",   "txid_current",
};

static bool constraint_word(const struct toks *tv, size_t j)
{
	static const char *const kws[] = {"NOT",       "NULL",    "DEFAULT",    "CONSTRAINT",
					  "CHECK",     "UNIQUE",  "PRIMARY",    "REFERENCES",
					  "GENERATED", "COLLATE", "DEFERRABLE", "INITIALLY"};
	for (size_t k = 0; k < MD_ARRAY_SIZE(kws); k++)
		if (is(tv, j, kws[k]))
			return true;
	return false;
}

/* A column definition in [a, b): name, type, constraints. */
static void parse_column(const struct toks *tv, size_t a, size_t b, struct md_ddl_column *c)
{
	size_t j = a, type_start;
	memset(c, 0, sizeof *c);
	if (!is_name(tv, j))
		return;
	span(tv, j, j + 1, c->name, sizeof c->name);
	j++;
	type_start = j;
	int depth = 0;
	while (j < b && (depth > 0 || !constraint_word(tv, j))) {
		if (tv->t[j].kind == MD_TOK_LPAREN)
			depth++;
		else if (tv->t[j].kind == MD_TOK_RPAREN)
			depth--;
		j++;
	}
	span(tv, type_start, j, c->type, sizeof c->type);
	c->serial = strncasecmp(c->type, "serial", 6) == 0 || strncasecmp(c->type, "bigserial", 9) == 0 ||
		    strncasecmp(c->type, "smallserial", 11) == 0 || strcasecmp(c->type, "serial4") == 0 ||
		    strcasecmp(c->type, "serial8") == 0;
	while (j < b) {
		if (is(tv, j, "NOT") && is(tv, j + 1, "NULL")) {
			c->not_null = true;
			j += 2;
		} else if (is(tv, j, "PRIMARY") && is(tv, j + 1, "KEY")) {
			c->primary_key = c->not_null = true;
			j += 2;
		} else if (is(tv, j, "UNIQUE")) {
			c->unique = true;
			j++;
		} else if (is(tv, j, "REFERENCES")) {
			j = qname(tv, j + 1, c->references, sizeof c->references);
		} else if (is(tv, j, "GENERATED")) {
			size_t k = j + 1;
			while (k < b && !is(tv, k, "AS"))
				k++;
			if (is(tv, k + 1, "IDENTITY"))
				c->identity = true;
			else if (k + 1 < b && tv->t[k + 1].kind == MD_TOK_LPAREN) {
				size_t e = close_paren(tv, k + 1);
				c->generated_stored = is(tv, e + 1, "STORED");
				j = e;
			}
			j = k + 1 > j ? k + 1 : j + 1;
		} else if (is(tv, j, "DEFAULT")) {
			/* The expression: its first token, then up to the next constraint keyword. */
			c->has_default = true;
			int d = 0;
			for (j++; j < b; j++) {
				if (tv->t[j].kind == MD_TOK_LPAREN)
					d++;
				else if (tv->t[j].kind == MD_TOK_RPAREN)
					d--;
				else if (d == 0 && constraint_word(tv, j) && !is(tv, j - 1, "DEFAULT"))
					break;
				if (tv->t[j].kind == MD_TOK_WORD && j + 1 < b && tv->t[j + 1].kind == MD_TOK_LPAREN &&
				    !c->volatile_fn[0])
					for (size_t f = 0; f < MD_ARRAY_SIZE(volatile_fns); f++)
						if (is(tv, j, volatile_fns[f]))
							snprintf(c->volatile_fn, sizeof c->volatile_fn, "%s",
								 volatile_fns[f]);
			}
		} else {
			j++;
		}
	}
	if (c->serial && !c->volatile_fn[0])
		snprintf(c->volatile_fn, sizeof c->volatile_fn, "nextval");
}

/* ---- ALTER TABLE actions ---- */

/* The inside of the parentheses opened at i: from after '(' to the start of its ')'. */
static struct md_ddl_span inner(const struct toks *tv, size_t i)
{
	struct md_ddl_span sp = {0, 0};
	if (!is_kind(tv, i, MD_TOK_LPAREN))
		return sp;
	size_t e = close_paren(tv, i);
	if (e >= tv->n || e == i + 1)
		return sp;
	sp.start = tv->t[i + 1].start;
	sp.end = tv->t[e - 1].start + tv->t[e - 1].len;
	return sp;
}

/* The first '(' in [j, b), or b. */
static size_t next_paren(const struct toks *tv, size_t j, size_t b)
{
	while (j < b && !is_kind(tv, j, MD_TOK_LPAREN))
		j++;
	return j;
}

static void parse_add_constraint(const struct toks *tv, size_t j, size_t b, struct md_ddl_action *a)
{
	a->kind = MD_ACT_ADD_CONSTRAINT;
	if (is(tv, j, "CONSTRAINT")) {
		if (is_name(tv, j + 1))
			span(tv, j + 1, j + 2, a->constraint, sizeof a->constraint);
		j += 2;
	}
	if (is(tv, j, "FOREIGN")) {
		a->con = MD_CON_FOREIGN_KEY;
		a->cols = inner(tv, next_paren(tv, j, b));
		for (size_t k = j; k < b; k++)
			if (is(tv, k, "REFERENCES")) {
				size_t e = qname(tv, k + 1, a->references, sizeof a->references);
				a->ref_cols = inner(tv, e);
				break;
			}
		a->match_full = has_top_word(tv, j, b, "MATCH") && has_top_word(tv, j, b, "FULL");
	} else if (is(tv, j, "CHECK")) {
		a->con = MD_CON_CHECK;
		a->expr = inner(tv, j + 1);
	} else if (is(tv, j, "UNIQUE")) {
		a->con = MD_CON_UNIQUE;
		size_t p = next_paren(tv, j, b);
		a->nulls_not_distinct = is(tv, j + 1, "NULLS") && is(tv, j + 2, "NOT");
		a->cols = inner(tv, p);
	} else if (is(tv, j, "PRIMARY")) {
		a->con = MD_CON_PRIMARY_KEY;
		a->cols = inner(tv, next_paren(tv, j, b));
	} else if (is(tv, j, "EXCLUDE")) {
		a->con = MD_CON_EXCLUDE;
	} else {
		a->con = MD_CON_OTHER;
	}
	a->not_valid = has_top_word(tv, j, b, "VALID") && has_top_word(tv, j, b, "NOT");
	a->using_index = has_top_word(tv, j, b, "USING") && has_top_word(tv, j, b, "INDEX");
}

static void parse_action(const struct toks *tv, size_t a0, size_t b, struct md_ddl_action *a)
{
	size_t j = a0;
	memset(a, 0, sizeof *a);
	a->offset = tv->t[a0].start;
	a->line = tv->t[a0].line;
	a->col = tv->t[a0].col;
	if (is(tv, j, "ADD")) {
		j++;
		if (is(tv, j, "CONSTRAINT") || is(tv, j, "PRIMARY") || is(tv, j, "UNIQUE") || is(tv, j, "CHECK") ||
		    is(tv, j, "FOREIGN") || is(tv, j, "EXCLUDE")) {
			parse_add_constraint(tv, j, b, a);
			return;
		}
		if (is(tv, j, "COLUMN"))
			j++;
		if (is(tv, j, "IF") && is(tv, j + 1, "NOT") && is(tv, j + 2, "EXISTS"))
			j += 3;
		a->kind = MD_ACT_ADD_COLUMN;
		parse_column(tv, j, b, &a->def);
		snprintf(a->column, sizeof a->column, "%s", a->def.name);
	} else if (is(tv, j, "DROP")) {
		j++;
		if (is(tv, j, "CONSTRAINT")) {
			a->kind = MD_ACT_DROP_CONSTRAINT;
			return;
		}
		if (is(tv, j, "COLUMN"))
			j++;
		if (is(tv, j, "IF") && is(tv, j + 1, "EXISTS"))
			j += 2;
		a->kind = MD_ACT_DROP_COLUMN;
		if (is_name(tv, j))
			span(tv, j, j + 1, a->column, sizeof a->column);
	} else if (is(tv, j, "ALTER")) {
		j++;
		if (is(tv, j, "COLUMN"))
			j++;
		if (is_name(tv, j))
			span(tv, j, j + 1, a->column, sizeof a->column);
		j++;
		if (is(tv, j, "TYPE") || (is(tv, j, "SET") && is(tv, j + 1, "DATA") && is(tv, j + 2, "TYPE"))) {
			j += is(tv, j, "TYPE") ? 1 : 3;
			size_t e = j;
			while (e < b && !is(tv, e, "USING") && !is(tv, e, "COLLATE"))
				e++;
			a->kind = MD_ACT_ALTER_TYPE;
			span(tv, j, e, a->new_type, sizeof a->new_type);
			while (e < b && !is(tv, e, "USING"))
				e++;
			if (e + 1 < b) {
				a->expr.start = tv->t[e + 1].start;
				a->expr.end = tv->t[b - 1].start + tv->t[b - 1].len;
			}
		} else if (is(tv, j, "SET") && is(tv, j + 1, "NOT") && is(tv, j + 2, "NULL")) {
			a->kind = MD_ACT_SET_NOT_NULL;
		} else if (is(tv, j, "DROP") && is(tv, j + 1, "NOT") && is(tv, j + 2, "NULL")) {
			a->kind = MD_ACT_DROP_NOT_NULL;
		} else if (is(tv, j, "SET") && is(tv, j + 1, "DEFAULT")) {
			a->kind = MD_ACT_SET_DEFAULT;
		} else if (is(tv, j, "DROP") && is(tv, j + 1, "DEFAULT")) {
			a->kind = MD_ACT_DROP_DEFAULT;
		}
	} else if (is(tv, j, "VALIDATE") && is(tv, j + 1, "CONSTRAINT")) {
		a->kind = MD_ACT_VALIDATE_CONSTRAINT;
		if (is_name(tv, j + 2))
			span(tv, j + 2, j + 3, a->constraint, sizeof a->constraint);
	} else if (is(tv, j, "RENAME")) {
		j++;
		if (is(tv, j, "TO")) {
			a->kind = MD_ACT_RENAME_TABLE;
		} else if (is(tv, j, "CONSTRAINT")) {
			a->kind = MD_ACT_RENAME_CONSTRAINT;
		} else {
			if (is(tv, j, "COLUMN"))
				j++;
			a->kind = MD_ACT_RENAME_COLUMN;
			if (is_name(tv, j))
				span(tv, j, j + 1, a->column, sizeof a->column);
		}
	} else if (is(tv, j, "SET") && (is(tv, j + 1, "LOGGED") || is(tv, j + 1, "UNLOGGED"))) {
		a->kind = MD_ACT_SET_LOGGED;
	} else if (is(tv, j, "ATTACH") && is(tv, j + 1, "PARTITION")) {
		a->kind = MD_ACT_ATTACH_PARTITION;
	} else if (is(tv, j, "DETACH") && is(tv, j + 1, "PARTITION")) {
		a->kind = MD_ACT_DETACH_PARTITION;
		a->concurrently = has_top_word(tv, j, b, "CONCURRENTLY");
	} else if ((is(tv, j, "ENABLE") || is(tv, j, "DISABLE")) && has_top_word(tv, j, b, "TRIGGER")) {
		a->kind = MD_ACT_TRIGGER;
	}
}

/* Splits [a, n) at top-level commas into actions. */
static int parse_actions(const struct toks *tv, size_t a, struct md_ddl *d)
{
	size_t cap = 4;
	d->actions = calloc(cap, sizeof *d->actions);
	if (!d->actions)
		return MD_E_NOMEM;
	while (a < tv->n) {
		size_t e = a;
		int depth = 0;
		while (e < tv->n && !(depth == 0 && tv->t[e].kind == MD_TOK_COMMA)) {
			if (tv->t[e].kind == MD_TOK_LPAREN)
				depth++;
			else if (tv->t[e].kind == MD_TOK_RPAREN)
				depth--;
			e++;
		}
		if (e > a) {
			if (d->n_actions == cap) {
				struct md_ddl_action *g = realloc(d->actions, (cap *= 2) * sizeof *g);
				if (!g)
					return MD_E_NOMEM;
				d->actions = g;
			}
			parse_action(tv, a, e, &d->actions[d->n_actions++]);
		}
		a = e + 1;
	}
	return 0;
}

/* ---- CREATE TABLE ---- */

static int parse_create_table(const struct toks *tv, size_t j, struct md_ddl *d)
{
	if (is(tv, j, "IF") && is(tv, j + 1, "NOT") && is(tv, j + 2, "EXISTS")) {
		d->if_not_exists = true;
		j += 3;
	}
	j = qname(tv, j, d->table, sizeof d->table);
	if (!is_kind(tv, j, MD_TOK_LPAREN))
		return 0; /* CREATE TABLE ... AS, PARTITION OF, ... */
	size_t end = close_paren(tv, j), a = j + 1, cap = 8, rcap = 4;
	d->columns = calloc(cap, sizeof *d->columns);
	d->refs = calloc(rcap, sizeof *d->refs);
	if (!d->columns || !d->refs)
		return MD_E_NOMEM;
	while (a < end) {
		size_t e = a;
		int depth = 0;
		while (e < end && !(depth == 0 && tv->t[e].kind == MD_TOK_COMMA)) {
			if (tv->t[e].kind == MD_TOK_LPAREN)
				depth++;
			else if (tv->t[e].kind == MD_TOK_RPAREN)
				depth--;
			e++;
		}
		bool table_constraint = is(tv, a, "CONSTRAINT") || is(tv, a, "PRIMARY") || is(tv, a, "UNIQUE") ||
					is(tv, a, "CHECK") || is(tv, a, "FOREIGN") || is(tv, a, "EXCLUDE") ||
					is(tv, a, "LIKE");
		char ref[MD_DDL_NAME] = "";
		if (table_constraint) {
			for (size_t k = a; k < e; k++)
				if (is(tv, k, "REFERENCES")) {
					qname(tv, k + 1, ref, sizeof ref);
					break;
				}
		} else if (e > a) {
			if (d->n_columns == cap) {
				struct md_ddl_column *g = realloc(d->columns, (cap *= 2) * sizeof *g);
				if (!g)
					return MD_E_NOMEM;
				d->columns = g;
			}
			struct md_ddl_column *c = &d->columns[d->n_columns++];
			parse_column(tv, a, e, c);
			snprintf(ref, sizeof ref, "%s", c->references);
		}
		if (ref[0]) {
			if (d->n_refs == rcap) {
				char(*g)[MD_DDL_NAME] = realloc(d->refs, (rcap *= 2) * sizeof *g);
				if (!g)
					return MD_E_NOMEM;
				d->refs = g;
			}
			snprintf(d->refs[d->n_refs++], MD_DDL_NAME, "%s", ref);
		}
		a = e + 1;
	}
	return 0;
}

/* ---- the statement forms ---- */

static int parse_create(const struct toks *tv, size_t j, struct md_ddl *d)
{
	if (is(tv, j, "OR") && is(tv, j + 1, "REPLACE")) {
		d->or_replace = true;
		j += 2;
	}
	while (is(tv, j, "TEMP") || is(tv, j, "TEMPORARY") || is(tv, j, "UNLOGGED") || is(tv, j, "GLOBAL") ||
	       is(tv, j, "LOCAL"))
		j++;
	if (is(tv, j, "TABLE")) {
		d->kind = MD_DDL_CREATE_TABLE;
		return parse_create_table(tv, j + 1, d);
	}
	if (is(tv, j, "UNIQUE") && is(tv, j + 1, "INDEX")) {
		d->unique = true;
		j++;
	}
	if (is(tv, j, "INDEX")) {
		d->kind = MD_DDL_CREATE_INDEX;
		j++;
		if (is(tv, j, "CONCURRENTLY")) {
			d->concurrently = true;
			j++;
		}
		if (is(tv, j, "IF") && is(tv, j + 1, "NOT") && is(tv, j + 2, "EXISTS")) {
			d->if_not_exists = true;
			j += 3;
		}
		if (!is(tv, j, "ON"))
			j = qname(tv, j, d->index, sizeof d->index);
		if (is(tv, j, "ON"))
			j++;
		if (is(tv, j, "ONLY"))
			j++;
		j = qname(tv, j, d->table, sizeof d->table);
		if (is(tv, j, "USING"))
			j += 2;
		d->index_cols = inner(tv, j);
		d->has_where = has_top_word(tv, j, tv->n, "WHERE");
		for (size_t k = is_kind(tv, j, MD_TOK_LPAREN) ? close_paren(tv, j) : j; k < tv->n; k++) {
			if (tv->t[k].kind == MD_TOK_LPAREN) {
				k = close_paren(tv, k);
			} else if (is(tv, k, "NULLS") && is(tv, k + 1, "NOT") && is(tv, k + 2, "DISTINCT")) {
				d->nulls_not_distinct = true;
			} else if (is(tv, k, "WHERE") && k + 1 < tv->n) {
				d->where.start = tv->t[k + 1].start;
				d->where.end = tv->t[tv->n - 1].start + tv->t[tv->n - 1].len;
				break;
			}
		}
		return 0;
	}
	if (is(tv, j, "TRIGGER") || (is(tv, j, "CONSTRAINT") && is(tv, j + 1, "TRIGGER"))) {
		d->kind = MD_DDL_CREATE_TRIGGER;
		for (size_t k = j; k < tv->n; k++)
			if (is(tv, k, "ON")) {
				qname(tv, k + 1, d->table, sizeof d->table);
				break;
			}
		return 0;
	}
	d->kind = MD_DDL_CREATE_OTHER;
	if (is(tv, j, "TYPE")) {
		size_t e = qname(tv, j + 1, d->type_name, sizeof d->type_name);
		if (is(tv, e, "AS") && is(tv, e + 1, "ENUM"))
			d->labels = inner(tv, e + 2);
	}
	if (is_kind(tv, j, MD_TOK_WORD)) {
		span(tv, j, j + 1, d->object, sizeof d->object);
		if (is(tv, j, "MATERIALIZED"))
			snprintf(d->object, sizeof d->object, "MATERIALIZED VIEW");
		for (char *p = d->object; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	}
	d->if_not_exists = has_top_word(tv, j, j + 5 < tv->n ? j + 5 : tv->n, "EXISTS");
	return 0;
}

static void parse_drop(const struct toks *tv, size_t j, struct md_ddl *d)
{
	d->cascade = has_top_word(tv, j, tv->n, "CASCADE");
	if (is(tv, j, "TABLE")) {
		d->kind = MD_DDL_DROP_TABLE;
	} else if (is(tv, j, "INDEX")) {
		d->kind = MD_DDL_DROP_INDEX;
		if (is(tv, j + 1, "CONCURRENTLY")) {
			d->concurrently = true;
			j++;
		}
	} else if (is(tv, j, "SCHEMA")) {
		d->kind = MD_DDL_DROP_SCHEMA;
	} else if (is(tv, j, "DATABASE")) {
		d->kind = MD_DDL_DROP_DATABASE;
	} else {
		d->kind = MD_DDL_DROP_OTHER;
		if (is_kind(tv, j, MD_TOK_WORD)) {
			span(tv, j, j + 1, d->object, sizeof d->object);
			for (char *p = d->object; *p; p++)
				*p = (char)toupper((unsigned char)*p);
		}
	}
	j++;
	if (is(tv, j, "IF") && is(tv, j + 1, "EXISTS")) {
		d->if_exists = true;
		j += 2;
	}
	qname(tv, j, d->kind == MD_DDL_DROP_INDEX ? d->index : d->table,
	      d->kind == MD_DDL_DROP_INDEX ? sizeof d->index : sizeof d->table);
}

static int parse_alter(const struct toks *tv, size_t j, struct md_ddl *d)
{
	if (is(tv, j, "TYPE")) {
		j = qname(tv, j + 1, d->type_name, sizeof d->type_name);
		if (is(tv, j, "ADD") && is(tv, j + 1, "VALUE")) {
			d->kind = MD_DDL_ADD_ENUM_VALUE;
			j += 2;
			if (is(tv, j, "IF") && is(tv, j + 1, "NOT") && is(tv, j + 2, "EXISTS"))
				j += 3;
			if (is_kind(tv, j, MD_TOK_STRING)) {
				d->labels.start = tv->t[j].start;
				d->labels.end = tv->t[j].start + tv->t[j].len;
			}
		} else if (is(tv, j, "RENAME") && is(tv, j + 1, "TO") && is_name(tv, j + 2)) {
			d->kind = MD_DDL_RENAME_TYPE;
			span(tv, j + 2, j + 3, d->new_name, sizeof d->new_name);
		}
		return 0;
	}
	if (!is(tv, j, "TABLE"))
		return 0;
	j++;
	if (is(tv, j, "IF") && is(tv, j + 1, "EXISTS")) {
		d->if_exists = true;
		j += 2;
	}
	if (is(tv, j, "ONLY"))
		j++;
	j = qname(tv, j, d->table, sizeof d->table);
	if (is_op(tv, j, "*"))
		j++;
	d->kind = MD_DDL_ALTER_TABLE;
	return parse_actions(tv, j, d);
}

static void parse_set(const struct toks *tv, size_t j, struct md_ddl *d)
{
	if (is(tv, j, "LOCAL") || is(tv, j, "SESSION"))
		j++;
	if (!is_kind(tv, j, MD_TOK_WORD))
		return;
	d->kind = MD_DDL_SET;
	span(tv, j, j + 1, d->set_name, sizeof d->set_name);
	for (char *p = d->set_name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	j++;
	if (is(tv, j, "TO") || is_op(tv, j, "="))
		j++;
	span(tv, j, tv->n, d->set_value, sizeof d->set_value);
}

int md_ddl_parse(const char *sql, const struct md_sqlstmt *st, struct md_ddl *d)
{
	struct md_sqllex lx;
	struct md_sqltok t;
	struct toks tv = {.src = sql};
	size_t cap = 64;
	int r = 0;

	memset(d, 0, sizeof *d);
	if (st->cls == MD_STMT_TXN_CONTROL) {
		d->kind = MD_DDL_TXN;
		return 0;
	}
	tv.t = malloc(cap * sizeof *tv.t);
	if (!tv.t)
		return MD_E_NOMEM;
	md_sqllex_init(&lx, sql + st->start, st->end - st->start);
	while (md_sqllex_next(&lx, &t) != MD_TOK_EOF && t.kind != MD_TOK_ERROR) {
		if (tv.n == cap) {
			struct md_sqltok *g = realloc(tv.t, (cap *= 2) * sizeof *g);
			if (!g) {
				free(tv.t);
				return MD_E_NOMEM;
			}
			tv.t = g;
		}
		/* Positions relative to the whole script. */
		t.start += st->start;
		if (t.line == 1)
			t.col += st->col - 1;
		t.line += st->line - 1;
		tv.t[tv.n++] = t;
	}
	if (is(&tv, 0, "CREATE")) {
		r = parse_create(&tv, 1, d);
	} else if (is(&tv, 0, "DROP")) {
		parse_drop(&tv, 1, d);
	} else if (is(&tv, 0, "ALTER")) {
		r = parse_alter(&tv, 1, d);
	} else if (is(&tv, 0, "TRUNCATE")) {
		size_t j = 1 + is(&tv, 1, "TABLE");
		j += is(&tv, j, "ONLY");
		d->kind = MD_DDL_TRUNCATE;
		d->cascade = has_top_word(&tv, j, tv.n, "CASCADE");
		qname(&tv, j, d->table, sizeof d->table);
	} else if (is(&tv, 0, "UPDATE")) {
		size_t j = 1 + is(&tv, 1, "ONLY");
		d->kind = MD_DDL_UPDATE;
		qname(&tv, j, d->table, sizeof d->table);
		d->has_where = has_top_word(&tv, j, tv.n, "WHERE");
	} else if (is(&tv, 0, "DELETE") && is(&tv, 1, "FROM")) {
		size_t j = 2 + is(&tv, 2, "ONLY");
		d->kind = MD_DDL_DELETE;
		qname(&tv, j, d->table, sizeof d->table);
		d->has_where = has_top_word(&tv, j, tv.n, "WHERE");
	} else if (is(&tv, 0, "INSERT") && is(&tv, 1, "INTO")) {
		d->kind = MD_DDL_INSERT;
		qname(&tv, 2, d->table, sizeof d->table);
	} else if (is(&tv, 0, "VACUUM")) {
		size_t j = 1;
		bool full = false;
		if (is_kind(&tv, 1, MD_TOK_LPAREN)) {
			size_t e = close_paren(&tv, 1);
			full = has_top_word(&tv, 2, e, "FULL");
			j = e + 1;
		} else {
			while (is(&tv, j, "FULL") || is(&tv, j, "FREEZE") || is(&tv, j, "VERBOSE") ||
			       is(&tv, j, "ANALYZE"))
				full = full || is(&tv, j++, "FULL");
		}
		if (full) {
			d->kind = MD_DDL_VACUUM_FULL;
			qname(&tv, j, d->table, sizeof d->table);
		}
	} else if (is(&tv, 0, "CLUSTER") && is_name(&tv, 1)) {
		d->kind = MD_DDL_CLUSTER;
		qname(&tv, 1 + is(&tv, 1, "VERBOSE"), d->table, sizeof d->table);
	} else if (is(&tv, 0, "REINDEX")) {
		size_t j = 1;
		if (is_kind(&tv, j, MD_TOK_LPAREN))
			j = close_paren(&tv, j) + 1;
		d->kind = MD_DDL_REINDEX;
		bool index = is(&tv, j, "INDEX");
		j++;
		if (is(&tv, j, "CONCURRENTLY")) {
			d->concurrently = true;
			j++;
		}
		qname(&tv, j, index ? d->index : d->table, index ? sizeof d->index : sizeof d->table);
	} else if (is(&tv, 0, "REFRESH") && is(&tv, 1, "MATERIALIZED")) {
		size_t j = 3;
		d->kind = MD_DDL_REFRESH_MATVIEW;
		if (is(&tv, j, "CONCURRENTLY")) {
			d->concurrently = true;
			j++;
		}
		qname(&tv, j, d->table, sizeof d->table);
	} else if (is(&tv, 0, "SET")) {
		parse_set(&tv, 1, d);
	}
	if (d->table[0])
		md_ddl_key(d->table, d->table_key, sizeof d->table_key);
	free(tv.t);
	return r;
}

void md_ddl_free(struct md_ddl *d)
{
	if (!d)
		return;
	free(d->actions);
	free(d->columns);
	free(d->refs);
	d->actions = NULL;
	d->columns = NULL;
	d->refs = NULL;
	d->n_actions = d->n_columns = d->n_refs = 0;
}

/* ---- lists ---- */

static bool index_suffix_word(const struct toks *tv, size_t k)
{
	return is(tv, k, "ASC") || is(tv, k, "DESC") || is(tv, k, "NULLS") || is(tv, k, "COLLATE");
}

size_t md_ddl_list_items(const char *sql, struct md_ddl_span list, bool index_item, struct md_ddl_span *out, size_t max)
{
	struct md_sqllex lx;
	struct md_sqltok t, toks[512];
	struct toks tv = {.src = sql, .t = toks};
	char scratch[MD_DDL_NAME];
	size_t count = 0;

	if (list.end <= list.start)
		return 0;
	md_sqllex_init(&lx, sql + list.start, list.end - list.start);
	while (tv.n < MD_ARRAY_SIZE(toks) && md_sqllex_next(&lx, &t) != MD_TOK_EOF && t.kind != MD_TOK_ERROR) {
		t.start += list.start;
		toks[tv.n++] = t;
	}
	for (size_t a = 0; a < tv.n;) {
		size_t e = a, last;
		int depth = 0;
		while (e < tv.n && !(depth == 0 && tv.t[e].kind == MD_TOK_COMMA)) {
			if (tv.t[e].kind == MD_TOK_LPAREN)
				depth++;
			else if (tv.t[e].kind == MD_TOK_RPAREN)
				depth--;
			e++;
		}
		last = e;
		if (index_item) {
			/* The expression is one name or one parenthesised expression or one function call,
			 * then the suffixes: cut at the first word after it at depth 0. */
			size_t k = a;
			if (is_kind(&tv, k, MD_TOK_LPAREN)) {
				k = close_paren(&tv, k) + 1;
			} else {
				k = qname(&tv, k, scratch, sizeof scratch);
				if (k == a)
					k++;
				if (is_kind(&tv, k, MD_TOK_LPAREN))
					k = close_paren(&tv, k) + 1;
			}
			while (k < e && is_op(&tv, k, "::")) /* a cast belongs to the expression */
				k = qname(&tv, k + 1, scratch, sizeof scratch);
			if (k < e && (index_suffix_word(&tv, k) || is_name(&tv, k)))
				last = k;
		}
		if (last > a && count < max) {
			out[count].start = tv.t[a].start;
			out[count].end = tv.t[last - 1].start + tv.t[last - 1].len;
		}
		if (last > a)
			count++;
		a = e + 1;
	}
	return count;
}

/* ---- locks ---- */

static const char *const lock_modes[] = {
	"ACCESS SHARE", "ROW SHARE",           "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
	"SHARE",        "SHARE ROW EXCLUSIVE", "EXCLUSIVE",     "ACCESS EXCLUSIVE"};

int md_lock_rank(const char *mode)
{
	for (size_t i = 0; mode && i < MD_ARRAY_SIZE(lock_modes); i++)
		if (strcmp(mode, lock_modes[i]) == 0)
			return (int)i + 1;
	return 0;
}

const char *md_lock_blocks(const char *mode)
{
	switch (md_lock_rank(mode)) {
	case 8: return "blocks every read and write of the table";
	case 7: return "blocks writes and most reads' locks; plain SELECTs go on";
	case 6:
	case 5: return "blocks writes (INSERT, UPDATE, DELETE); reads go on";
	case 4: return "blocks other schema changes and VACUUM; reads and writes go on";
	case 3:
	case 2:
	case 1: return "blocks only schema changes that need a stronger lock";
	}
	return "";
}

struct lock_acc {
	struct md_ddl_lock *out;
	size_t n;
};

/* Adds a lock, merging with one already on the same relation (the stronger mode wins). */
static void add(struct lock_acc *acc, const char *mode, const char *rel, bool rewrite, bool scan, const char *why)
{
	if (!rel || !rel[0])
		return;
	for (size_t i = 0; i < acc->n; i++)
		if (strcmp(acc->out[i].relation, rel) == 0) {
			struct md_ddl_lock *l = &acc->out[i];
			if (md_lock_rank(mode) > md_lock_rank(l->mode))
				l->mode = mode;
			l->rewrite = l->rewrite || rewrite;
			l->scan = l->scan || scan;
			if (why && (!l->why || rewrite))
				l->why = why;
			return;
		}
	if (acc->n < MD_DDL_MAX_LOCKS)
		acc->out[acc->n++] = (struct md_ddl_lock){mode, rel, rewrite, scan, why};
}

static void alter_locks(const struct md_ddl *d, struct lock_acc *acc)
{
	for (size_t i = 0; i < d->n_actions; i++) {
		const struct md_ddl_action *a = &d->actions[i];
		switch (a->kind) {
		case MD_ACT_ADD_COLUMN: {
			bool rewrite = a->def.volatile_fn[0] || a->def.generated_stored || a->def.identity;
			add(acc, "ACCESS EXCLUSIVE", d->table, rewrite, a->def.primary_key || a->def.unique,
			    rewrite ? "table rewrite: the new column's default is computed for every row"
				    : (a->def.primary_key || a->def.unique ? "index build" : NULL));
			if (a->def.references[0])
				add(acc, "SHARE ROW EXCLUSIVE", a->def.references, false, false, "foreign key");
			break;
		}
		case MD_ACT_ALTER_TYPE:
			add(acc, "ACCESS EXCLUSIVE", d->table, true, true,
			    "table rewrite: column type change (none if binary-coercible, e.g. varchar(n) to text)");
			break;
		case MD_ACT_SET_NOT_NULL:
			add(acc, "ACCESS EXCLUSIVE", d->table, false, true, "full scan to check every row is NOT NULL");
			break;
		case MD_ACT_ADD_CONSTRAINT:
			if (a->con == MD_CON_FOREIGN_KEY) {
				add(acc, "SHARE ROW EXCLUSIVE", d->table, false, !a->not_valid,
				    a->not_valid ? NULL : "full scan to validate the foreign key");
				add(acc, "SHARE ROW EXCLUSIVE", a->references, false, false,
				    "referenced by a new foreign key");
			} else if (a->con == MD_CON_UNIQUE || a->con == MD_CON_PRIMARY_KEY) {
				add(acc, "ACCESS EXCLUSIVE", d->table, false, !a->using_index,
				    a->using_index ? NULL : "index build under the lock");
			} else {
				add(acc, "ACCESS EXCLUSIVE", d->table, false, !a->not_valid,
				    a->not_valid ? NULL : "full scan to validate the constraint");
			}
			break;
		case MD_ACT_VALIDATE_CONSTRAINT:
			add(acc, "SHARE UPDATE EXCLUSIVE", d->table, false, true,
			    "validation scan (reads and writes go on)");
			break;
		case MD_ACT_SET_LOGGED: add(acc, "ACCESS EXCLUSIVE", d->table, true, true, "table rewrite"); break;
		case MD_ACT_ATTACH_PARTITION: add(acc, "SHARE UPDATE EXCLUSIVE", d->table, false, true, NULL); break;
		case MD_ACT_DETACH_PARTITION:
			add(acc, a->concurrently ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE", d->table, false,
			    false, NULL);
			break;
		case MD_ACT_TRIGGER: add(acc, "SHARE ROW EXCLUSIVE", d->table, false, false, NULL); break;
		default: add(acc, "ACCESS EXCLUSIVE", d->table, false, false, NULL); break;
		}
	}
}

static int by_strength(const void *a, const void *b)
{
	return md_lock_rank(((const struct md_ddl_lock *)b)->mode) -
	       md_lock_rank(((const struct md_ddl_lock *)a)->mode);
}

size_t md_ddl_locks(const struct md_ddl *d, struct md_ddl_lock *out)
{
	struct lock_acc acc = {out, 0};
	switch (d->kind) {
	case MD_DDL_CREATE_TABLE:
		for (size_t i = 0; i < d->n_refs; i++)
			add(&acc, "SHARE ROW EXCLUSIVE", d->refs[i], false, false, "referenced by a new foreign key");
		break;
	case MD_DDL_CREATE_INDEX:
		add(&acc, d->concurrently ? "SHARE UPDATE EXCLUSIVE" : "SHARE", d->table, false, true,
		    d->concurrently ? "index build without blocking writes" : "index build");
		break;
	case MD_DDL_DROP_INDEX:
		add(&acc, d->concurrently ? "SHARE UPDATE EXCLUSIVE" : "ACCESS EXCLUSIVE", d->index, false, false,
		    "on the index and its table");
		break;
	case MD_DDL_ALTER_TABLE: alter_locks(d, &acc); break;
	case MD_DDL_DROP_TABLE:
	case MD_DDL_TRUNCATE: add(&acc, "ACCESS EXCLUSIVE", d->table, false, false, NULL); break;
	case MD_DDL_UPDATE:
	case MD_DDL_DELETE:
		add(&acc, "ROW EXCLUSIVE", d->table, false, !d->has_where, d->has_where ? NULL : "every row");
		break;
	case MD_DDL_INSERT: add(&acc, "ROW EXCLUSIVE", d->table, false, false, NULL); break;
	case MD_DDL_CREATE_TRIGGER: add(&acc, "SHARE ROW EXCLUSIVE", d->table, false, false, NULL); break;
	case MD_DDL_VACUUM_FULL:
	case MD_DDL_CLUSTER: add(&acc, "ACCESS EXCLUSIVE", d->table, true, true, "table rewrite"); break;
	case MD_DDL_REINDEX:
		add(&acc, d->concurrently ? "SHARE UPDATE EXCLUSIVE" : "SHARE", d->table[0] ? d->table : d->index,
		    false, true, "index rebuild");
		break;
	case MD_DDL_REFRESH_MATVIEW:
		add(&acc, d->concurrently ? "EXCLUSIVE" : "ACCESS EXCLUSIVE", d->table, true, true,
		    "the view is recomputed");
		break;
	default: break;
	}
	qsort(out, acc.n, sizeof *out, by_strength);
	return acc.n;
}
