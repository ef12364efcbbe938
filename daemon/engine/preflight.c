/* preflight.c - the data preflight (see preflight.h). The pending statements are walked in
 * deploy order; what earlier ones do is remembered (tables and columns they create, tables whose
 * rows they change, enum types they create or rename) so that a later statement is asked about
 * the data it will meet, or is said to be not checkable. Each question is "which rows would make
 * this statement fail": an EXISTS first, then the count and up to five example keys. */
#include "migrated/preflight.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/ddl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/macro.h"
#include "migrated/sqllex.h"
#include "migrated/sqlsplit.h"
#include "migrated/strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXAMPLES 5
#define MAX_COLS 32

/* What an earlier pending statement did to a table, a column or a type. */
struct note {
	enum { NOTE_CREATED, NOTE_WRITTEN, NOTE_COLUMN, NOTE_ENUM, NOTE_NOT_VALID } kind;
	char table[MD_DDL_NAME]; /* folded key of the table or type */
	char name[MD_DDL_NAME];  /* folded column or constraint name */
	const char *migration;   /* the catalog's name (lives as long as the run) */
	bool has_default;        /* NOTE_COLUMN: every existing row gets a value */
	const char *sql;         /* NOTE_ENUM (labels), NOTE_NOT_VALID (the action): the script */
	struct md_ddl_span labels;
	struct md_ddl_action act; /* NOTE_NOT_VALID */
	char table_as_written[MD_DDL_NAME];
};

/* A table's live facts, asked once. */
struct table_info {
	char key[MD_DDL_NAME];
	bool exists;
	double rows;   /* pg_class.reltuples; < 0 never analyzed */
	char *key_sql; /* json_build_object(...) of the primary key (or ctid) of alias t; owned */
	char *ord_sql; /* ORDER BY of the same; owned */
	char *pk_sql;  /* the primary key's columns as identifiers ("id", "a", b), or NULL; owned */
};

struct pf {
	struct md_db *db;
	const struct md_preflight_options *o;
	double t0;
	json_t *findings;
	size_t checks, failed, skipped;
	struct note *notes;
	size_t n_notes, cap_notes;
	struct table_info *tables;
	size_t n_tables, cap_tables;
	int fatal; /* the connection is gone: stop */
	struct md_error *err;
	/* the statement being looked at */
	const struct md_migration *m;
	const struct md_sqlstmt *st;
	unsigned line;
};

void md_preflight_options_default(struct md_preflight_options *o)
{
	o->timeout_ms = 5000;
	o->budget_ms = 60000;
	o->max_rows = 10000000;
	o->show_values = false;
	o->connect_timeout_s = 10;
}

void md_preflight_options_from(const struct md_config *cfg, struct md_preflight_options *o)
{
	o->timeout_ms = cfg->preflight_timeout_ms;
	o->budget_ms = cfg->preflight_budget_ms;
	o->max_rows = cfg->preflight_max_rows;
	o->show_values = cfg->preflight_show_values;
	o->connect_timeout_s = cfg->connect_timeout_s;
}

/* ---- text ---- */

static char *span_text(const char *sql, struct md_ddl_span sp)
{
	return strndup(sql + sp.start, sp.end > sp.start ? sp.end - sp.start : 0);
}

static void key_of(const char *sql, struct md_ddl_span sp, char *out, size_t sz)
{
	char *t = span_text(sql, sp);
	md_ddl_key(t ? t : "", out, sz);
	free(t);
}

/* The statement as the finding shows it: at most 300 bytes, whitespace runs folded. */
static json_t *statement_json(const struct pf *p)
{
	char buf[304];
	size_t o = 0;
	bool space = false;
	for (size_t i = p->st->start; i < p->st->end && o < 300; i++) {
		unsigned char c = (unsigned char)p->m->sql[i];
		if (isspace(c)) {
			space = o > 0;
			continue;
		}
		if (space)
			buf[o++] = ' ';
		space = false;
		if (o < 300)
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	/* Never cut a UTF-8 sequence in half. */
	while (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
		buf[--o] = '\0';
	if (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0xC0)
		buf[--o] = '\0';
	json_t *j = json_string(buf);
	return j ? j : json_string("");
}

/* ---- notes ---- */

static struct note *note_add(struct pf *p, int kind, const char *table, const char *name)
{
	if (p->n_notes == p->cap_notes) {
		size_t cap = p->cap_notes ? p->cap_notes * 2 : 16;
		struct note *g = realloc(p->notes, cap * sizeof *g);
		if (!g)
			return NULL;
		p->notes = g;
		p->cap_notes = cap;
	}
	struct note *n = &p->notes[p->n_notes++];
	memset(n, 0, sizeof *n);
	n->kind = kind;
	snprintf(n->table, sizeof n->table, "%s", table);
	snprintf(n->name, sizeof n->name, "%s", name ? name : "");
	n->migration = p->m->name;
	return n;
}

/* The latest note of that kind on that table (and name, when given). */
static const struct note *note_find(const struct pf *p, int kind, const char *table, const char *name)
{
	for (size_t i = p->n_notes; i-- > 0;) {
		const struct note *n = &p->notes[i];
		if ((int)n->kind == kind && strcmp(n->table, table) == 0 && (!name || strcmp(n->name, name) == 0))
			return n;
	}
	return NULL;
}

/* ---- questions ---- */

/* One question under a savepoint with its own statement_timeout, within the budget. Returns the
 * rows, or NULL with why filled (and p->fatal set when the connection is gone). */
static PGresult *ask(struct pf *p, const char *sql, char *why, size_t whysz)
{
	double left = (double)p->o->budget_ms - (md_clock_mono_ms() - p->t0);
	if (left < 1) {
		snprintf(why, whysz, "not asked: the preflight budget (preflight_budget = %ld ms) is spent",
			 p->o->budget_ms);
		return NULL;
	}
	long t = p->o->timeout_ms < (long)left ? p->o->timeout_ms : (long)left;
	char *q = NULL;
	if (asprintf(&q, "SAVEPOINT md_preflight; SET LOCAL statement_timeout = %ld; %s", t < 1 ? 1 : t, sql) < 0) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	PGresult *res = PQexec(p->db->conn, q);
	free(q);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (PQstatus(p->db->conn) != CONNECTION_OK) {
		p->fatal = md_db_error_from_result(p->db->conn, res, "asking the preflight questions", p->err);
		snprintf(why, whysz, "the connection was lost");
	} else if (state && strcmp(state, "57014") == 0) {
		snprintf(why, whysz, "not answered: the question timed out after %ld ms (%s)", t,
			 t < p->o->timeout_ms ? "what was left of preflight_budget" : "preflight_timeout");
	} else if (state && strcmp(state, "55P03") == 0) {
		snprintf(why, whysz, "not answered: another session holds a lock on the table (lock_timeout 1 s)");
	} else if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
		/* A data error: its message may quote a value, so only the code is told. */
		snprintf(why, whysz,
			 "not answered: the question failed on a row's value (SQLSTATE %s); the statement may fail "
			 "the same way",
			 state);
	} else {
		snprintf(why, whysz, "not answered (SQLSTATE %s): %.300s", state ? state : "?",
			 msg ? msg : PQerrorMessage(p->db->conn));
	}
	if (res)
		PQclear(res);
	if (!p->fatal) {
		PGresult *rb = PQexec(p->db->conn, "ROLLBACK TO SAVEPOINT md_preflight");
		if (!rb || PQresultStatus(rb) != PGRES_COMMAND_OK)
			p->fatal = md_db_error_from_result(p->db->conn, rb, "ending a preflight question", p->err);
		if (rb)
			PQclear(rb);
	}
	return NULL;
}

static struct table_info *table_info(struct pf *p, const char *as_written, const char *key)
{
	for (size_t i = 0; i < p->n_tables; i++)
		if (strcmp(p->tables[i].key, key) == 0)
			return &p->tables[i];
	if (p->n_tables == p->cap_tables) {
		size_t cap = p->cap_tables ? p->cap_tables * 2 : 8;
		struct table_info *g = realloc(p->tables, cap * sizeof *g);
		if (!g)
			return NULL;
		p->tables = g;
		p->cap_tables = cap;
	}
	struct table_info *ti = &p->tables[p->n_tables++];
	memset(ti, 0, sizeof *ti);
	snprintf(ti->key, sizeof ti->key, "%s", key);
	const char *params[1] = {as_written};
	PGresult *res = NULL;
	struct md_error e = {0};
	/* to_regclass never fails on a bad name; format() quotes what the server names. */
	if (md_db_query(
		    p->db,
		    "SELECT c.reltuples::float8, (SELECT string_agg(format('%L, t.%I', a.attname, a.attname), ', ' "
		    "ORDER BY k.o) FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(n, o), pg_attribute a WHERE "
		    "i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.n), (SELECT "
		    "string_agg(format('t.%I', a.attname), ', ' ORDER BY k.o) FROM pg_index i, unnest(i.indkey) "
		    "WITH ORDINALITY k(n, o), pg_attribute a WHERE i.indrelid = c.oid AND i.indisprimary AND "
		    "a.attrelid = c.oid AND a.attnum = k.n), (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY "
		    "k.o) "
		    "FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(n, o), pg_attribute a WHERE i.indrelid = "
		    "c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.n) FROM pg_class c WHERE c.oid "
		    "= to_regclass($1)",
		    1, params, &res, "reading a table's size and key", &e) < 0) {
		if (!md_db_alive(p->db))
			p->fatal = md_error_set(p->err, e.code, "%s", e.message);
		return ti;
	}
	if (PQntuples(res) == 1) {
		ti->exists = true;
		ti->rows = atof(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1)) {
			if (asprintf(&ti->key_sql, "json_build_object(%s)", PQgetvalue(res, 0, 1)) < 0)
				ti->key_sql = NULL;
			ti->ord_sql = strdup(PQgetvalue(res, 0, 2));
			ti->pk_sql = strdup(PQgetvalue(res, 0, 3));
		} else {
			ti->key_sql = strdup("json_build_object('ctid', t.ctid::text)");
			ti->ord_sql = strdup("t.ctid");
		}
	}
	PQclear(res);
	return ti;
}

/* ---- findings ---- */

static json_t *finding(struct pf *p, const char *check, const char *relation, json_t *columns)
{
	return json_pack("{s:s, s:I, s:o, s:s, s:s, s:o}", "migration", p->m->name, "line", (json_int_t)p->line,
			 "statement", statement_json(p), "check", check, "relation", relation, "columns",
			 columns ? columns : json_array());
}

/* Ends a finding: status, counts (rows < 0: none), examples (stolen), the words. */
static void settle(struct pf *p, json_t *f, const char *status, long long rows, json_t *examples, const char *message,
		   const char *hint, double t_start)
{
	json_object_set_new(f, "status", json_string(status));
	json_object_set_new(f, "violating_rows", rows >= 0 ? json_integer(rows) : json_null());
	json_object_set_new(f, "examples", examples ? examples : json_array());
	json_object_set_new(f, "message", json_string(message));
	json_object_set_new(f, "hint", hint ? json_string(hint) : json_null());
	json_object_set_new(f, "duration_ms", json_real(t_start > 0 ? md_clock_mono_ms() - t_start : 0));
	if (strcmp(status, "info") != 0)
		p->checks++;
	if (strcmp(status, "fails") == 0)
		p->failed++;
	else if (strcmp(status, "skipped") == 0)
		p->skipped++;
	json_array_append_new(p->findings, f);
}

/* Whether the table can be asked about now; if not, the finding is settled and false returned. */
static bool table_askable(struct pf *p, json_t *f, const char *table, const char *key, struct table_info **ret)
{
	const struct note *c = note_find(p, NOTE_CREATED, key, NULL);
	const struct note *w = note_find(p, NOTE_WRITTEN, key, NULL);
	char msg[600];
	*ret = NULL;
	if (c && w) {
		snprintf(msg, sizeof msg, "not checked: %s is created by %s and filled by %s before this statement",
			 table, c->migration, w->migration);
		settle(p, f, "skipped", -1, NULL, msg, "check the rows the migrations insert", 0);
		return false;
	}
	if (c) {
		snprintf(msg, sizeof msg, "not checked: created by %s (empty when this statement runs)", c->migration);
		settle(p, f, "info", -1, NULL, msg, NULL, 0);
		return false;
	}
	if (w) {
		snprintf(msg, sizeof msg,
			 "not checked: %s changes the rows of %s before this statement, so today's rows are not the "
			 "ones it meets",
			 w->migration, table);
		settle(p, f, "skipped", -1, NULL, msg,
		       "check the data after the earlier statement, or split the migration", 0);
		return false;
	}
	struct table_info *ti = table_info(p, table, key);
	if (!ti) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		return false;
	}
	if (!ti->exists) {
		snprintf(msg, sizeof msg, "not checked: %s is not in the database (the statement will fail on that)",
			 table);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return false;
	}
	*ret = ti;
	return true;
}

/* The size rule: a table estimated over preflight_max_rows is not scanned. */
static bool too_big(struct pf *p, json_t *f, const char *table, const struct table_info *ti, const char *by_hand)
{
	char msg[1200];
	if (p->o->max_rows <= 0 || ti->rows <= (double)p->o->max_rows)
		return false;
	snprintf(msg, sizeof msg,
		 "not scanned: %s has about %.0f rows (estimate), over preflight_max_rows = %lld; to ask by hand: "
		 "%.800s",
		 table, ti->rows, p->o->max_rows, by_hand);
	settle(p, f, "skipped", -1, NULL, msg, "raise preflight_max_rows, or run the question on a replica", 0);
	return true;
}

/* Whether a valid, complete index of table starts with column (folded): "IS NULL" is then an
 * index lookup, cheap at any size, so the size rule does not apply. */
static bool leads_an_index(struct pf *p, const char *table, const char *column)
{
	const char *params[2] = {table, column};
	PGresult *res = NULL;
	struct md_error e = {0};
	bool yes = false;
	if (md_db_query(p->db,
			"SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
			"a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass($1) AND a.attname = $2 AND i.indisvalid "
			"AND i.indpred IS NULL)",
			2, params, &res, "reading a table's indexes", &e) == 0) {
		yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
	} else if (!md_db_alive(p->db)) {
		p->fatal = md_error_set(p->err, e.code, "%s", e.message);
	}
	return yes;
}

/* Whether a valid unique index without a predicate already covers exactly these columns (a JSON
 * array of folded names): no duplicate can exist, nothing to scan. */
static bool unique_already(struct pf *p, const char *table, json_t *columns)
{
	char *cols = json_dumps(columns, JSON_COMPACT);
	const char *params[2] = {table, cols};
	PGresult *res = NULL;
	struct md_error e = {0};
	bool yes = false;
	if (cols && md_db_query(p->db,
				"SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND "
				"i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL AND "
				"(SELECT array_agg(a.attname::text ORDER BY a.attname) FROM unnest(i.indkey) k(n) JOIN "
				"pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) = (SELECT "
				"array_agg(c ORDER BY c) FROM json_array_elements_text($2::json) c))",
				2, params, &res, "reading a table's unique indexes", &e) == 0) {
		yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
	} else if (cols && !md_db_alive(p->db)) {
		p->fatal = md_error_set(p->err, e.code, "%s", e.message);
	}
	free(cols);
	return yes;
}

/* The examples column of a question: the key, and with show_values the checked values. */
static char *example_sql(const struct pf *p, const struct table_info *ti, const char *values)
{
	char *s = NULL;
	if (p->o->show_values && values && values[0]) {
		if (asprintf(&s, "json_build_object('key', %s, 'values', json_build_array(%s))", ti->key_sql, values) <
		    0)
			s = NULL;
	} else {
		s = strdup(ti->key_sql);
	}
	return s;
}

/* "Rows of table where cond": EXISTS, then count and examples. Returns the count (-1: not
 * answered, why filled), *examples the keys. */
static long long rows_where(struct pf *p, const char *table, const struct table_info *ti, const char *cond,
			    const char *values, json_t **examples, char *why, size_t whysz)
{
	char *q = NULL, *ex = example_sql(p, ti, values);
	long long n = -1;
	*examples = NULL;
	if (!ex || asprintf(&q, "SELECT EXISTS (SELECT 1 FROM %s AS t WHERE %s)", table, cond) < 0) {
		free(ex);
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		return -1;
	}
	PGresult *res = ask(p, q, why, whysz);
	free(q);
	if (res && strcmp(PQgetvalue(res, 0, 0), "f") == 0)
		n = 0;
	if (res)
		PQclear(res);
	if (res && n < 0) {
		if (asprintf(&q,
			     "SELECT count(*), (SELECT json_agg(k) FROM (SELECT %s AS k FROM %s AS t WHERE %s ORDER BY "
			     "%s "
			     "LIMIT %d) s) FROM %s AS t WHERE %s",
			     ex, table, cond, ti->ord_sql, EXAMPLES, table, cond) < 0) {
			free(ex);
			p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
			return -1;
		}
		res = ask(p, q, why, whysz);
		free(q);
		if (res) {
			n = atoll(PQgetvalue(res, 0, 0));
			*examples = PQgetisnull(res, 0, 1) ? NULL : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
			PQclear(res);
		}
	}
	free(ex);
	return n;
}

/* A "rows where" check settled: fails when rows exist. */
static void rows_check(struct pf *p, json_t *f, const char *table, struct table_info *ti, const char *cond,
		       const char *values, const char *fail_msg, const char *hint, bool index_answers)
{
	char why[600], msg[900], by_hand[1000];
	double t0 = md_clock_mono_ms();
	json_t *ex = NULL;
	snprintf(by_hand, sizeof by_hand, "SELECT count(*) FROM %s AS t WHERE %s", table, cond);
	if (!index_answers && too_big(p, f, table, ti, by_hand))
		return;
	long long n = rows_where(p, table, ti, cond, values, &ex, why, sizeof why);
	if (p->fatal) {
		json_decref(f);
		json_decref(ex);
		return;
	}
	if (n < 0) {
		settle(p, f, "skipped", -1, NULL, why, NULL, t0);
	} else if (n == 0) {
		settle(p, f, "ok", 0, NULL, "no row of today's data makes this statement fail", NULL, t0);
	} else {
		snprintf(msg, sizeof msg, "%lld row%s of %s %s", n, n == 1 ? "" : "s", table, fail_msg);
		settle(p, f, "fails", n, ex, msg, hint, t0);
		ex = NULL;
	}
	json_decref(ex);
}

/* ---- columns ---- */

static json_t *columns_json(const char *sql, struct md_ddl_span *items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char *t = span_text(sql, items[i]);
		char k[MD_DDL_NAME];
		md_ddl_key(t ? t : "", k, sizeof k);
		/* A name reads as its folded form; an expression as written. */
		json_array_append_new(a, json_string(t && (t[0] == '"' || !strpbrk(t, "( ")) ? k : (t ? t : "")));
		free(t);
	}
	return a;
}

/* Items joined with sep, each prefixed (e.g. "t."), for SQL. */
static char *join_items(const char *sql, const struct md_ddl_span *items, size_t n, const char *prefix, const char *sep)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	/* Names get the prefix ("t.col"); an index's expressions their parentheses. */
	for (size_t i = 0; i < n; i++)
		md_strbuf_printf(&sb, prefix[0] ? "%s%s%.*s" : "%s%s(%.*s)", i ? sep : "", prefix,
				 (int)(items[i].end - items[i].start), sql + items[i].start);
	if (md_strbuf_failed(&sb)) {
		md_strbuf_free(&sb);
		return NULL;
	}
	return md_strbuf_steal(&sb);
}

/* Whether one of the items is a column an earlier pending statement added. */
static const struct note *added_column(const struct pf *p, const char *tkey, const char *sql,
				       const struct md_ddl_span *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char k[MD_DDL_NAME];
		key_of(sql, items[i], k, sizeof k);
		const struct note *c = note_find(p, NOTE_COLUMN, tkey, k);
		if (c)
			return c;
	}
	return NULL;
}

/* ---- the checks ---- */

static void check_not_null(struct pf *p, const char *table, const char *tkey, const char *column, bool new_column)
{
	char ckey[MD_DDL_NAME], cond[600], fail[700];
	struct table_info *ti;
	md_ddl_key(column, ckey, sizeof ckey);
	json_t *f = finding(p, "not_null", tkey, json_pack("[s]", ckey));
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	const struct note *added = new_column ? NULL : note_find(p, NOTE_COLUMN, tkey, ckey);
	if (added && added->has_default) {
		char msg[400];
		snprintf(msg, sizeof msg, "ok: %s adds %s with a default, so every row has a value", added->migration,
			 ckey);
		settle(p, f, "ok", 0, NULL, msg, NULL, 0);
		return;
	}
	if (new_column || added) {
		snprintf(fail, sizeof fail,
			 "would have no value in the required column %s: adding it NOT NULL without a default fails "
			 "on a table that is not empty",
			 ckey);
		rows_check(p, f, table, ti, "true", NULL, fail,
			   "add the column with a DEFAULT (or nullable, fill it, then SET NOT NULL), or empty the "
			   "table first",
			   false);
		return;
	}
	snprintf(cond, sizeof cond, "t.%s IS NULL", column);
	snprintf(fail, sizeof fail, "have %s NULL: SET NOT NULL will fail", ckey);
	rows_check(p, f, table, ti, cond, NULL, fail,
		   "fill the NULLs first (UPDATE ... SET col = ... WHERE col IS NULL), or make the column NOT NULL "
		   "in steps: ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL",
		   leads_an_index(p, table, ckey));
}

/* The SQL that names a key's duplicate groups and finds their rows again: "(a) AS md_g1, ...",
 * "(a) = g.md_g1 AND ..." (IS NOT DISTINCT FROM when NULLs are not distinct), "md_g1, ...". */
struct group_sql {
	char *aliases, *join, *names;
};

static void group_sql_free(struct group_sql *g)
{
	if (!g)
		return;
	free(g->aliases);
	free(g->join);
	free(g->names);
	free(g);
}

static struct group_sql *group_join(const char *sql, const struct md_ddl_span *items, size_t n, bool nulls_equal)
{
	struct md_strbuf a = MD_STRBUF_INIT, j = MD_STRBUF_INIT, nm = MD_STRBUF_INIT;
	struct group_sql *g = calloc(1, sizeof *g);
	for (size_t i = 0; g && i < n; i++) {
		int len = (int)(items[i].end - items[i].start);
		const char *it = sql + items[i].start;
		md_strbuf_printf(&a, "%s(%.*s) AS md_g%zu", i ? ", " : "", len, it, i + 1);
		md_strbuf_printf(&j, "%s(%.*s) %s g.md_g%zu", i ? " AND " : "", len, it,
				 nulls_equal ? "IS NOT DISTINCT FROM" : "=", i + 1);
		md_strbuf_printf(&nm, "%smd_g%zu", i ? ", " : "", i + 1);
	}
	if (!g || md_strbuf_failed(&a) || md_strbuf_failed(&j) || md_strbuf_failed(&nm)) {
		md_strbuf_free(&a);
		md_strbuf_free(&j);
		md_strbuf_free(&nm);
		free(g);
		return NULL;
	}
	g->aliases = md_strbuf_steal(&a);
	g->join = md_strbuf_steal(&j);
	g->names = md_strbuf_steal(&nm);
	return g;
}

static void check_unique(struct pf *p, const char *table, const char *tkey, const char *sql, struct md_ddl_span list,
			 struct md_ddl_span where, bool nulls_not_distinct, bool index, const char *what)
{
	struct md_ddl_span items[MAX_COLS];
	struct table_info *ti;
	char why[600], msg[900], by_hand[1500];
	size_t n = md_ddl_list_items(sql, list, index, items, MAX_COLS);
	json_t *f = finding(p, "unique", tkey, columns_json(sql, items, n < MAX_COLS ? n : MAX_COLS));
	if (n == 0 || n > MAX_COLS) {
		settle(p, f, "skipped", -1, NULL, "not checked: the key's columns could not be read", NULL, 0);
		return;
	}
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	const struct note *c = added_column(p, tkey, sql, items, n);
	if (c) {
		snprintf(msg, sizeof msg, "not checked: the key uses a column %s adds in this deploy", c->migration);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return;
	}
	if (!nulls_not_distinct && unique_already(p, table, json_object_get(f, "columns"))) {
		settle(p, f, "ok", 0, NULL, "ok: a unique index of the table already covers these columns", NULL, 0);
		return;
	}
	if (p->fatal) {
		json_decref(f);
		return;
	}
	char *group = join_items(sql, items, n, "", ", ");
	char *nn = join_items(sql, items, n, "", " IS NOT NULL AND ");
	char *pred = where.end > where.start ? span_text(sql, where) : strdup("true");
	char *ex = example_sql(p, ti, group);
	char *q = NULL, *count_q = NULL;
	struct group_sql *g = NULL;
	const char *notnull = nulls_not_distinct ? "true" : nn, *tail = nulls_not_distinct ? "" : " IS NOT NULL";
	/* The count first, as cheap as asking by hand; the keys of the first groups only when
	 * there are duplicates (a second pass). */
	if (!group || !nn || !pred || !ex ||
	    asprintf(&count_q,
		     "SELECT count(*), coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM %s AS t WHERE %s%s AND (%s) "
		     "GROUP BY %s HAVING count(*) > 1) d",
		     table, notnull, tail, pred, group) < 0 ||
	    !(g = group_join(sql, items, n, nulls_not_distinct)) ||
	    asprintf(
		    &q,
		    "WITH g AS (SELECT %s, count(*) AS md_n FROM %s AS t WHERE %s%s AND (%s) GROUP BY %s HAVING "
		    "count(*) "
		    "> 1 ORDER BY md_n DESC LIMIT %d), r AS (SELECT g.*, row(%s) AS md_o, %s AS md_k FROM %s AS t JOIN "
		    "g "
		    "ON %s WHERE (%s)) SELECT json_agg(json_build_object('rows', md_n, 'keys', to_json(keys)) ORDER BY "
		    "md_n DESC) FROM (SELECT md_n, (array_agg(md_k ORDER BY md_o))[1:3] AS keys FROM r GROUP BY %s, "
		    "md_n) "
		    "s",
		    g->aliases, table, notnull, tail, pred, group, EXAMPLES, ti->ord_sql, ex, table, g->join, pred,
		    g->names) < 0) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		json_decref(f);
		goto out;
	}
	snprintf(by_hand, sizeof by_hand, "SELECT %s, count(*) FROM %s AS t GROUP BY %s HAVING count(*) > 1", group,
		 table, group);
	if (too_big(p, f, table, ti, by_hand))
		goto out;
	double t0 = md_clock_mono_ms();
	PGresult *res = ask(p, count_q, why, sizeof why);
	if (p->fatal) {
		json_decref(f);
		goto out;
	}
	if (!res) {
		settle(p, f, "skipped", -1, NULL, why, NULL, t0);
		goto out;
	}
	long long groups = atoll(PQgetvalue(res, 0, 0)), rows = atoll(PQgetvalue(res, 0, 1));
	json_t *examples = NULL;
	PQclear(res);
	if (groups > 0) {
		res = ask(p, q, why, sizeof why);
		if (p->fatal) {
			json_decref(f);
			goto out;
		}
		if (res) {
			examples = PQgetisnull(res, 0, 0) ? NULL : json_loads(PQgetvalue(res, 0, 0), 0, NULL);
			PQclear(res);
		} else {
			json_object_set_new(f, "examples_missing", json_string(why));
		}
	}
	json_object_set_new(f, "duplicate_groups", json_integer(groups));
	if (groups == 0) {
		json_decref(examples);
		settle(p, f, "ok", 0, NULL, "no duplicate values in today's data", NULL, t0);
	} else {
		snprintf(msg, sizeof msg,
			 "%lld group%s of duplicate values (%lld rows, %lld beyond the first of each) in %s: %s will "
			 "fail",
			 groups, groups == 1 ? "" : "s", rows, rows - groups, table, what);
		settle(p, f, "fails", rows, examples, msg,
		       "remove or merge the duplicates first (the examples are their primary keys), or choose a key "
		       "that is unique; for a large table build the index CONCURRENTLY after cleaning up",
		       t0);
	}
out:
	group_sql_free(g);
	free(q);
	free(count_q);
	free(group);
	free(nn);
	free(pred);
	free(ex);
}

/* PRIMARY KEY: the key columns become NOT NULL too. */
static void check_primary_key_nulls(struct pf *p, const char *table, const char *tkey, const char *sql,
				    struct md_ddl_span list)
{
	struct md_ddl_span items[MAX_COLS];
	struct table_info *ti;
	size_t n = md_ddl_list_items(sql, list, false, items, MAX_COLS);
	if (n == 0 || n > MAX_COLS)
		return;
	json_t *f = finding(p, "not_null", tkey, columns_json(sql, items, n));
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	char *cond = join_items(sql, items, n, "t.", " IS NULL OR ");
	struct md_strbuf sb = MD_STRBUF_INIT;
	md_strbuf_printf(&sb, "(%s IS NULL)", cond ? cond : "");
	if (!cond || md_strbuf_failed(&sb)) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		json_decref(f);
	} else {
		rows_check(p, f, table, ti, md_strbuf_cstr(&sb), NULL,
			   "have NULL in a primary key column: the primary key will fail",
			   "fill or delete the rows with NULL keys first", false);
	}
	md_strbuf_free(&sb);
	free(cond);
}

static void check_foreign_key(struct pf *p, const char *table, const char *tkey, const char *sql,
			      const struct md_ddl_action *a)
{
	struct md_ddl_span cols[MAX_COLS], refs[MAX_COLS];
	struct table_info *ti;
	char rkey[MD_DDL_NAME], msg[900], fail[900];
	size_t n = md_ddl_list_items(sql, a->cols, false, cols, MAX_COLS);
	size_t nr = md_ddl_list_items(sql, a->ref_cols, false, refs, MAX_COLS);
	json_t *f = finding(p, "foreign_key", tkey, columns_json(sql, cols, n < MAX_COLS ? n : MAX_COLS));
	md_ddl_key(a->references, rkey, sizeof rkey);
	json_object_set_new(f, "references", json_string(rkey));
	if (n == 0 || n > MAX_COLS || (nr && nr != n)) {
		settle(p, f, "skipped", -1, NULL, "not checked: the key's columns could not be read", NULL, 0);
		return;
	}
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	const struct note *c = added_column(p, tkey, sql, cols, n);
	if (c) {
		snprintf(msg, sizeof msg, "not checked: the key uses a column %s adds in this deploy", c->migration);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return;
	}
	const struct note *rc = note_find(p, NOTE_CREATED, rkey, NULL), *rw = note_find(p, NOTE_WRITTEN, rkey, NULL);
	if (rw) {
		snprintf(msg, sizeof msg, "not checked: %s changes the rows of the referenced table %s first",
			 rw->migration, rkey);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return;
	}
	struct md_strbuf cond = MD_STRBUF_INIT;
	const char *ref_sql = sql; /* the text the refs spans point into */
	if (nr == 0 && !rc) {      /* REFERENCES t alone: t's primary key */
		struct table_info *rti = table_info(p, a->references, rkey);
		if (!rti || !rti->exists || !rti->pk_sql ||
		    (nr = md_ddl_list_items(rti->pk_sql, (struct md_ddl_span){0, strlen(rti->pk_sql)}, false, refs,
					    MAX_COLS)) != n) {
			settle(p, f, "skipped", -1, NULL,
			       "not checked: the referenced table's primary key is not known", NULL, 0);
			return;
		}
		ref_sql = rti->pk_sql;
	}
	/* MATCH SIMPLE: a key with a NULL is not checked; MATCH FULL: all NULL or none. */
	char *nn = join_items(sql, cols, n, "t.", " IS NOT NULL AND ");
	char *all = join_items(sql, cols, n, "t.", ", ");
	if (rc) {
		md_strbuf_printf(&cond, "%s IS NOT NULL", nn ? nn : "");
		snprintf(fail, sizeof fail,
			 "have a key, and the referenced table %s is created empty by %s: the foreign key will fail",
			 rkey, rc->migration);
	} else {
		md_strbuf_printf(&cond, "(%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE ", nn ? nn : "",
				 a->references);
		for (size_t i = 0; i < n; i++)
			md_strbuf_printf(&cond, "%sp.%.*s = t.%.*s", i ? " AND " : "",
					 (int)(refs[i].end - refs[i].start), ref_sql + refs[i].start,
					 (int)(cols[i].end - cols[i].start), sql + cols[i].start);
		md_strbuf_puts(&cond, "))");
		if (a->match_full && n > 1)
			md_strbuf_printf(&cond, " OR num_nulls(%s) BETWEEN 1 AND %zu", all ? all : "", n - 1);
		snprintf(fail, sizeof fail, "have a key with no row in %s: the foreign key will fail", rkey);
	}
	free(nn);
	if (!all || md_strbuf_failed(&cond)) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		json_decref(f);
	} else {
		rows_check(p, f, table, ti, md_strbuf_cstr(&cond), all, fail,
			   "delete those rows, set their key to NULL or insert the missing rows first; or add the "
			   "constraint NOT VALID (new rows are checked at once) and VALIDATE CONSTRAINT after cleaning "
			   "up",
			   false);
	}
	free(all);
	md_strbuf_free(&cond);
}

static void check_check(struct pf *p, const char *table, const char *tkey, const char *sql, struct md_ddl_span expr,
			const char *name)
{
	struct table_info *ti;
	char fail[900];
	json_t *f = finding(p, "check", tkey, json_array());
	if (name && name[0])
		json_object_set_new(f, "constraint", json_string(name));
	if (expr.end <= expr.start) {
		settle(p, f, "skipped", -1, NULL, "not checked: the CHECK expression could not be read", NULL, 0);
		return;
	}
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	char *e = span_text(sql, expr), *cond = NULL;
	if (!e || asprintf(&cond, "NOT (%s)", e) < 0) {
		p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
		json_decref(f);
		free(e);
		return;
	}
	snprintf(fail, sizeof fail, "violate CHECK (%.300s): the constraint will fail", e);
	rows_check(p, f, table, ti, cond, NULL, fail,
		   "fix those rows first, or add the constraint NOT VALID (new rows are checked at once) and "
		   "VALIDATE CONSTRAINT after fixing them",
		   false);
	free(e);
	free(cond);
}

/* Whether expr (a USING) is just the column cast along a chain ("role"::text::"Role_new"). */
static bool plain_cast(const char *sql, struct md_ddl_span expr, const char *ckey)
{
	struct md_sqllex lx;
	struct md_sqltok t;
	int state = 0; /* 0: want the column, 1: want :: or end, 2: want a type name */
	int parens = 0;
	if (expr.end <= expr.start)
		return true;
	md_sqllex_init(&lx, sql + expr.start, expr.end - expr.start);
	while (md_sqllex_next(&lx, &t) != MD_TOK_EOF) {
		const char *s = sql + expr.start + t.start;
		if (t.kind == MD_TOK_LPAREN && state == 0) {
			parens++;
		} else if (t.kind == MD_TOK_RPAREN && parens > 0 && state == 1) {
			parens--;
		} else if ((t.kind == MD_TOK_WORD || t.kind == MD_TOK_QIDENT) && state == 0) {
			char name[MD_DDL_NAME], k[MD_DDL_NAME];
			snprintf(name, sizeof name, "%.*s", (int)t.len, s);
			md_ddl_key(name, k, sizeof k);
			if (strcmp(k, ckey) != 0)
				return false;
			state = 1;
		} else if (t.kind == MD_TOK_OP && t.len == 2 && strncmp(s, "::", 2) == 0 && state == 1) {
			state = 2;
		} else if ((t.kind == MD_TOK_WORD || t.kind == MD_TOK_QIDENT) && state == 2) {
			state = 1;
		} else if (t.kind == MD_TOK_OP && t.len == 1 && *s == '.' && state == 1) {
			state = 2; /* a qualified type name */
		} else {
			return false;
		}
	}
	return state == 1 && parens == 0;
}

/* The n of "varchar(n)", "character varying(n)", "char(n)", "character(n)"; 0 otherwise. */
static long char_length_of(const char *type)
{
	static const char *const prefixes[] = {"varchar(", "character varying(", "char(", "character(", "bpchar("};
	for (size_t i = 0; i < MD_ARRAY_SIZE(prefixes); i++)
		if (strncasecmp(type, prefixes[i], strlen(prefixes[i])) == 0)
			return atol(type + strlen(prefixes[i]));
	return 0;
}

static bool never_fails_to(const char *type)
{
	return strcasecmp(type, "text") == 0 || strcasecmp(type, "varchar") == 0 ||
	       strcasecmp(type, "character varying") == 0;
}

static void check_type(struct pf *p, const char *table, const char *tkey, const char *sql,
		       const struct md_ddl_action *a)
{
	struct table_info *ti;
	char ckey[MD_DDL_NAME], tykey[MD_DDL_NAME], cond[1600], fail[900], msg[900];
	md_ddl_key(a->column, ckey, sizeof ckey);
	md_ddl_key(a->new_type, tykey, sizeof tykey);
	const struct note *en = note_find(p, NOTE_ENUM, tykey, NULL);
	json_t *f = finding(p, en ? "enum_values" : "type_conversion", tkey, json_pack("[s]", ckey));
	json_object_set_new(f, "type", json_string(a->new_type));
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	const struct note *added = note_find(p, NOTE_COLUMN, tkey, ckey);
	if (added) {
		snprintf(msg, sizeof msg, "not checked: %s adds %s in this deploy", added->migration, ckey);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return;
	}
	if (!plain_cast(sql, a->expr, ckey)) {
		settle(p, f, "skipped", -1, NULL, "not checked: the USING expression is more than a cast of the column",
		       "run the USING expression over the table by hand (SELECT ... FROM table) to see it convert", 0);
		return;
	}
	/* The column's type category, to choose the question. */
	const char *params[2] = {table, ckey};
	PGresult *res = NULL;
	struct md_error e = {0};
	char category = '?';
	if (md_db_query(
		    p->db,
		    "SELECT t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid "
		    "= to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
		    2, params, &res, "reading a column's type", &e) == 0) {
		if (PQntuples(res) == 1)
			category = PQgetvalue(res, 0, 0)[0];
		PQclear(res);
	} else if (!md_db_alive(p->db)) {
		p->fatal = md_error_set(p->err, e.code, "%s", e.message);
		json_decref(f);
		return;
	}
	if (category == '?') {
		snprintf(msg, sizeof msg, "not checked: %s has no column %s today", table, ckey);
		settle(p, f, "skipped", -1, NULL, msg, NULL, 0);
		return;
	}
	long len = char_length_of(a->new_type);
	if (en) {
		char *labels = span_text(en->sql, en->labels);
		snprintf(cond, sizeof cond, "t.%s IS NOT NULL AND t.%s::text <> ALL (ARRAY[%s]::text[])", a->column,
			 a->column, labels ? labels : "");
		snprintf(fail, sizeof fail, "have a %s value the new type %s does not have (it has %.300s)", ckey,
			 a->new_type, labels ? labels : "");
		free(labels);
	} else if (len > 0 && (category == 'S' || category == 'E')) {
		/* An over-long value fails unless what is cut is only spaces. */
		snprintf(cond, sizeof cond,
			 "t.%s IS NOT NULL AND char_length(t.%s::text) > %ld AND substr(t.%s::text, %ld) !~ '^ *$'",
			 a->column, a->column, len, a->column, len + 1);
		snprintf(fail, sizeof fail,
			 "have a %s value longer than %ld characters: the type change to %s will fail", ckey, len,
			 a->new_type);
	} else if (never_fails_to(a->new_type)) {
		settle(p, f, "ok", 0, NULL, "any value converts to this type", NULL, 0);
		return;
	} else if (category == 'S' || category == 'E') {
		if (p->db->server_version_num < 160000) {
			settle(p, f, "skipped", -1, NULL,
			       "not checked: PostgreSQL before 16 has no pg_input_is_valid, and this conversion has no "
			       "guarded form here",
			       "check by hand: SELECT count(*) FROM the table WHERE the value does not convert", 0);
			return;
		}
		char *lit = PQescapeLiteral(p->db->conn, a->new_type, strlen(a->new_type));
		snprintf(cond, sizeof cond, "t.%s IS NOT NULL AND NOT pg_input_is_valid(t.%s::text, %s)", a->column,
			 a->column, lit ? lit : "''");
		PQfreemem(lit);
		snprintf(fail, sizeof fail, "have a %s value that does not convert to %s: the type change will fail",
			 ckey, a->new_type);
	} else {
		settle(p, f, "skipped", -1, NULL, "not checked: only conversions from text and enum values are checked",
		       NULL, 0);
		return;
	}
	char *vals = NULL;
	if (asprintf(&vals, "t.%s", a->column) < 0)
		vals = NULL;
	rows_check(p, f, table, ti, cond, vals, fail,
		   en ? "move those rows to a value the new type has (UPDATE ... SET col = ... WHERE col = ...) before "
			"the deploy, or keep the value in the new type"
		      : "fix or clear the values that do not convert first, or convert with a USING expression that "
			"handles them",
		   false);
	free(vals);
}

/* DROP COLUMN (column given) or DROP TABLE: information, how many values or rows are lost
 * (the estimate for a table over preflight_max_rows). */
static void info_drop(struct pf *p, const char *table, const char *tkey, const char *column)
{
	char ckey[MD_DDL_NAME] = "", q[600], why[600], msg[900];
	struct table_info *ti;
	if (column)
		md_ddl_key(column, ckey, sizeof ckey);
	json_t *f = finding(p, "data_loss", tkey, column ? json_pack("[s]", ckey) : json_array());
	if (!table_askable(p, f, table, tkey, &ti))
		return;
	if (p->o->max_rows > 0 && ti->rows > (double)p->o->max_rows) {
		snprintf(msg, sizeof msg, "%s has about %.0f rows (estimate): %s lost", table, ti->rows,
			 column ? "the column's values in them are" : "they are");
		json_object_set_new(f, "estimate", json_true());
		settle(p, f, "info", (long long)ti->rows, NULL, msg, NULL, 0);
		return;
	}
	if (column)
		snprintf(q, sizeof q, "SELECT count(*) FROM %s AS t WHERE t.%s IS NOT NULL", table, column);
	else
		snprintf(q, sizeof q, "SELECT count(*) FROM %s AS t", table);
	double t0 = md_clock_mono_ms();
	PGresult *res = ask(p, q, why, sizeof why);
	if (p->fatal) {
		json_decref(f);
		return;
	}
	if (!res) {
		settle(p, f, "info", -1, NULL, why, NULL, t0);
		return;
	}
	long long n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	char noun[MD_DDL_NAME + 48];
	snprintf(noun, sizeof noun, "%s%s of %s", column ? "value" : "row", n == 1 ? "" : "s", column ? ckey : table);
	snprintf(msg, sizeof msg, "%lld %s %s lost", n, noun, n == 1 ? "is" : "are");
	settle(p, f, "info", n, NULL, msg, n ? "the pre-deploy backup keeps them; restore is the way back" : NULL, t0);
}

/* VALIDATE CONSTRAINT: the NOT VALID constraint an earlier pending statement added, or the live
 * one, read back as an ADD CONSTRAINT and checked as that. */
static void check_validate(struct pf *p, const struct md_ddl *d, const struct md_ddl_action *a)
{
	char ckey[MD_DDL_NAME];
	md_ddl_key(a->constraint, ckey, sizeof ckey);
	const struct note *nv = note_find(p, NOTE_NOT_VALID, d->table_key, ckey);
	if (nv) {
		if (nv->act.con == MD_CON_CHECK)
			check_check(p, d->table, d->table_key, nv->sql, nv->act.expr, ckey);
		else if (nv->act.con == MD_CON_FOREIGN_KEY)
			check_foreign_key(p, d->table, d->table_key, nv->sql, &nv->act);
		return;
	}
	const char *params[2] = {d->table, ckey};
	PGresult *res = NULL;
	struct md_error e = {0};
	if (md_db_query(p->db,
			"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass($1) AND "
			"conname = $2 AND contype IN ('c', 'f')",
			2, params, &res, "reading a constraint", &e) < 0) {
		if (!md_db_alive(p->db))
			p->fatal = md_error_set(p->err, e.code, "%s", e.message);
		return;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		json_t *f = finding(p, "check", d->table_key, json_array());
		settle(p, f, "skipped", -1, NULL, "not checked: no such CHECK or FOREIGN KEY constraint today", NULL,
		       0);
		return;
	}
	/* "ALTER TABLE t ADD <definition>": parsed by the same code as a migration's. */
	char *stmt = NULL;
	if (asprintf(&stmt, "ALTER TABLE %s ADD %s", d->table, PQgetvalue(res, 0, 0)) < 0)
		stmt = NULL;
	PQclear(res);
	struct md_sqlscript sc = {0};
	struct md_ddl v;
	struct md_error ignored;
	if (stmt && md_sqlsplit(stmt, strlen(stmt), &sc, &ignored) == 0 && sc.n == 1 &&
	    md_ddl_parse(stmt, &sc.stmts[0], &v) == 0) {
		if (v.n_actions == 1 && v.actions[0].con == MD_CON_CHECK)
			check_check(p, d->table, d->table_key, stmt, v.actions[0].expr, ckey);
		else if (v.n_actions == 1 && v.actions[0].con == MD_CON_FOREIGN_KEY)
			check_foreign_key(p, d->table, d->table_key, stmt, &v.actions[0]);
		md_ddl_free(&v);
	}
	md_sqlscript_free(&sc);
	free(stmt);
}

static void alter_table(struct pf *p, const struct md_ddl *d, const char *sql)
{
	for (size_t i = 0; i < d->n_actions && !p->fatal; i++) {
		const struct md_ddl_action *a = &d->actions[i];
		char ck[MD_DDL_NAME];
		p->line = a->line;
		switch (a->kind) {
		case MD_ACT_ADD_COLUMN: {
			const struct md_ddl_column *c = &a->def;
			bool filled = c->has_default || c->identity || c->serial || c->generated_stored;
			if (c->not_null && !filled)
				check_not_null(p, d->table, d->table_key, c->name, true);
			md_ddl_key(c->name, ck, sizeof ck);
			struct note *n = note_add(p, NOTE_COLUMN, d->table_key, ck);
			if (n)
				n->has_default = filled;
			break;
		}
		case MD_ACT_SET_NOT_NULL: check_not_null(p, d->table, d->table_key, a->column, false); break;
		case MD_ACT_ADD_CONSTRAINT:
			if (a->not_valid) {
				md_ddl_key(a->constraint, ck, sizeof ck);
				struct note *n = note_add(p, NOTE_NOT_VALID, d->table_key, ck);
				if (n) {
					n->act = *a;
					n->sql = sql;
				}
			} else if ((a->con == MD_CON_UNIQUE || a->con == MD_CON_PRIMARY_KEY) && !a->using_index) {
				check_unique(p, d->table, d->table_key, sql, a->cols, (struct md_ddl_span){0, 0},
					     a->nulls_not_distinct, false,
					     a->con == MD_CON_UNIQUE ? "the UNIQUE constraint" : "the primary key");
				if (a->con == MD_CON_PRIMARY_KEY && !p->fatal)
					check_primary_key_nulls(p, d->table, d->table_key, sql, a->cols);
			} else if (a->con == MD_CON_FOREIGN_KEY) {
				check_foreign_key(p, d->table, d->table_key, sql, a);
			} else if (a->con == MD_CON_CHECK) {
				check_check(p, d->table, d->table_key, sql, a->expr, a->constraint);
			}
			break;
		case MD_ACT_VALIDATE_CONSTRAINT: check_validate(p, d, a); break;
		case MD_ACT_ALTER_TYPE: check_type(p, d->table, d->table_key, sql, a); break;
		case MD_ACT_DROP_COLUMN: info_drop(p, d->table, d->table_key, a->column); break;
		default: break;
		}
	}
}

/* One statement: its questions, then what it changes for the statements after it. */
static void statement(struct pf *p, const struct md_ddl *d, const char *sql)
{
	char k[MD_DDL_NAME];
	p->line = p->st->line;
	switch (d->kind) {
	case MD_DDL_CREATE_TABLE: note_add(p, NOTE_CREATED, d->table_key, NULL); break;
	case MD_DDL_INSERT:
	case MD_DDL_UPDATE:
	case MD_DDL_DELETE:
	case MD_DDL_TRUNCATE: note_add(p, NOTE_WRITTEN, d->table_key, NULL); break;
	case MD_DDL_CREATE_INDEX:
		if (d->unique)
			check_unique(p, d->table, d->table_key, sql, d->index_cols, d->where, d->nulls_not_distinct,
				     true, "the unique index");
		break;
	case MD_DDL_ALTER_TABLE: alter_table(p, d, sql); break;
	case MD_DDL_DROP_TABLE:
		if (d->table_key[0])
			info_drop(p, d->table, d->table_key, NULL);
		break;
	case MD_DDL_CREATE_OTHER:
		if (d->type_name[0] && d->labels.end > d->labels.start) {
			md_ddl_key(d->type_name, k, sizeof k);
			struct note *n = note_add(p, NOTE_ENUM, k, NULL);
			if (n) {
				n->sql = sql;
				n->labels = d->labels;
			}
		}
		break;
	case MD_DDL_RENAME_TYPE: {
		char nk[MD_DDL_NAME];
		md_ddl_key(d->type_name, k, sizeof k);
		md_ddl_key(d->new_name, nk, sizeof nk);
		for (size_t i = p->n_notes; i-- > 0;)
			if (p->notes[i].kind == NOTE_ENUM && strcmp(p->notes[i].table, k) == 0) {
				snprintf(p->notes[i].table, sizeof p->notes[i].table, "%s", nk);
				break;
			}
		break;
	}
	default: break;
	}
}

static int walk(struct pf *p, const struct md_catalog *cat, const struct md_deploy_report *rep)
{
	for (size_t i = 0; i < rep->n_pending && !p->fatal; i++) {
		const struct md_migration *m = md_catalog_find(cat, rep->planned[i].name);
		struct md_sqlscript sc;
		struct md_error ignored;
		if (!m || !m->has_sql || md_sqlsplit(m->sql, m->sql_len, &sc, &ignored) < 0)
			continue; /* the deploy refuses a broken file on its own */
		p->m = m;
		for (size_t s = 0; s < sc.n && !p->fatal; s++) {
			struct md_ddl d;
			p->st = &sc.stmts[s];
			if (md_ddl_parse(m->sql, &sc.stmts[s], &d) < 0) {
				p->fatal = md_error_set(p->err, MD_E_NOMEM, "out of memory");
				break;
			}
			statement(p, &d, m->sql);
			md_ddl_free(&d);
		}
		md_sqlscript_free(&sc);
	}
	return p->fatal;
}

int md_preflight_run(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_report *rep,
		     const struct md_preflight_options *o, json_t **ret, struct md_error *err)
{
	struct pf p = {.db = db, .o = o, .t0 = md_clock_mono_ms(), .findings = json_array(), .err = err};
	const char *params[1] = {db->schema_ident};
	PGresult *res = NULL;
	int r;

	*ret = NULL;
	if (!p.findings)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	/* One snapshot for every question; read only, so nothing here can write or take more than
	 * ACCESS SHARE; a lock held by someone else is waited for 1 s at most. */
	r = md_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the preflight", err);
	/* A duplicate check is a GROUP BY over the table: sorted in memory like the index build it
	 * predicts (maintenance_work_mem's default, 64 MB) it is about twice as fast as hashed in 4
	 * MB; JIT compiles for longer than these bounded questions run. */
	if (r == 0)
		r = md_db_exec(db,
			       "SET LOCAL lock_timeout = '1s'; SET LOCAL work_mem = '64MB'; SET LOCAL enable_hashagg = "
			       "off; SET LOCAL jit = off",
			       "starting the preflight", err);
	if (r == 0)
		r = md_db_query(db, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, params, &res,
				"setting search_path", err);
	if (res)
		PQclear(res);
	if (r == 0)
		r = walk(&p, cat, rep);
	if (md_db_alive(db)) {
		struct md_error ignored;
		md_db_exec(db, "ROLLBACK", "ending the preflight", r == 0 ? err : &ignored);
	}
	for (size_t i = 0; i < p.n_tables; i++) {
		free(p.tables[i].key_sql);
		free(p.tables[i].ord_sql);
		free(p.tables[i].pk_sql);
	}
	free(p.tables);
	free(p.notes);
	if (r < 0) {
		json_decref(p.findings);
		return r;
	}
	const char *status = p.failed ? "fails" : p.skipped ? "skipped" : "ok";
	*ret = json_pack("{s:s, s:I, s:I, s:I, s:f, s:o}", "status", status, "checks", (json_int_t)p.checks, "failed",
			 (json_int_t)p.failed, "skipped", (json_int_t)p.skipped, "duration_ms",
			 md_clock_mono_ms() - p.t0, "findings", p.findings);
	if (!*ret)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	if (db->in_recovery)
		json_object_set_new(*ret, "replica", json_true());
	return 0;
}

bool md_preflight_fails(const json_t *preflight)
{
	const char *s = json_string_value(json_object_get(preflight, "status"));
	return s && strcmp(s, "fails") == 0;
}

json_t *md_preflight_off(const char *reason)
{
	return json_pack("{s:s, s:s, s:[]}", "status", "skipped", "reason", reason, "findings");
}

json_t *md_preflight_nothing_pending(void)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:f, s:[]}", "status", "ok", "checks", (json_int_t)0, "failed",
			 (json_int_t)0, "skipped", (json_int_t)0, "duration_ms", 0.0, "findings");
}

int md_preflight_pending(struct md_db *db, const char *replica_url, const struct md_catalog *cat,
			 const struct md_apply_options *apply, const struct md_preflight_options *o, json_t **ret,
			 struct md_error *err)
{
	struct md_deploy_options opts = {.dry_run = true, .apply = *apply};
	struct md_deploy_report rep = {0};
	struct md_error refusal = {0};
	int r;

	*ret = NULL;
	if (md_deploy(db, cat, &opts, NULL, &rep, &refusal) < 0) {
		md_deploy_report_free(&rep);
		if (!md_db_alive(db))
			return md_error_set(err, refusal.code, "%s", refusal.message);
		*ret = md_preflight_off("not asked: the deploy would be refused before any migration runs");
		return *ret ? 0 : md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (rep.n_pending == 0) {
		md_deploy_report_free(&rep);
		*ret = md_preflight_nothing_pending();
		return *ret ? 0 : md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	r = md_preflight_report(db, replica_url, cat, &rep, o, ret, err);
	md_deploy_report_free(&rep);
	return r;
}

int md_preflight_report(struct md_db *db, const char *replica_url, const struct md_catalog *cat,
			const struct md_deploy_report *rep, const struct md_preflight_options *o, json_t **ret,
			struct md_error *err)
{
	struct md_dburl *url = NULL;
	struct md_db *data = db;
	int r = 0;

	*ret = NULL;
	if (replica_url && replica_url[0]) {
		r = md_dburl_parse(replica_url, "migrated-preflight", o->connect_timeout_s, &url, err);
		if (r == 0)
			r = md_db_open(url, &data, err);
		md_dburl_free(url);
		if (r < 0) {
			md_error_prefix(err, r, "preflight_url: ");
			return r;
		}
	}
	r = md_preflight_run(data, cat, rep, o, ret, err);
	if (data != db)
		md_db_close(data);
	return r;
}
