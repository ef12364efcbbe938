/* lint.c - the lint rules (see lint.h). Two passes over a migration: every statement is
 * recognised first (ddl.c), so rules that depend on the whole file (a backfill in the DDL
 * transaction, a lock_timeout set by the file) know it; then each statement is checked. */
#include "migrated/lint.h"
#include "migrated/apply.h"
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/ddl.h"
#include "migrated/error.h"
#include "migrated/macro.h"
#include "migrated/sqllex.h"
#include "migrated/sqlsplit.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum rule_id {
	R_INDEX,
	R_DROP_INDEX,
	R_CONC_IN_TXN,
	R_FK,
	R_CHECK,
	R_SET_NOT_NULL,
	R_REQUIRED,
	R_VOLATILE,
	R_TYPE,
	R_UNIQUE,
	R_RENAME_COLUMN,
	R_RENAME_TABLE,
	R_DROP_COLUMN,
	R_DROP_TABLE,
	R_DROP_SCHEMA,
	R_DROP_DATABASE,
	R_LOCK_TIMEOUT,
	R_BACKFILL,
	R_NO_WHERE,
	R_ROBUST,
	R_TRUNCATE_CASCADE,
	R_GENERATED,
	R_EXCLUDE,
	R_REWRITE,
	R_REINDEX,
	R_REFRESH,
	R_NESTING,
	R_CHAR,
	R_BIGINT,
	R_IDENTITY,
	R_TEXT,
	R_TIMESTAMPTZ,
	R_JSONB,
	R__COUNT
};

static const struct md_lint_rule rules[R__COUNT] = {
	[R_INDEX] = {"require-concurrent-index-creation", MD_LINT_ERROR,
		     "CREATE INDEX without CONCURRENTLY on an existing table",
		     "CREATE INDEX takes a SHARE lock for the whole build: every INSERT, UPDATE and DELETE on the "
		     "table waits until it ends",
		     "CREATE INDEX CONCURRENTLY in a migration of its own (migrated runs it outside a transaction)"},
	[R_DROP_INDEX] = {"require-concurrent-index-deletion", MD_LINT_WARNING, "DROP INDEX without CONCURRENTLY",
			  "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table: it waits behind running queries and "
			  "blocks all new ones meanwhile",
			  "DROP INDEX CONCURRENTLY in a migration of its own"},
	[R_CONC_IN_TXN] =
		{"ban-concurrent-index-creation-in-transaction", MD_LINT_ERROR,
		 "CONCURRENTLY inside the file's own BEGIN ... COMMIT",
		 "PostgreSQL refuses CONCURRENTLY inside a transaction block (SQLSTATE 25001): the migration fails",
		 "remove the BEGIN/COMMIT around it; migrated runs CONCURRENTLY statements outside a transaction"},
	[R_FK] = {"adding-foreign-key-constraint", MD_LINT_ERROR, "a foreign key added and validated at once",
		  "adding a foreign key locks both tables against writes (SHARE ROW EXCLUSIVE) while every existing "
		  "row is checked",
		  "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later "
		  "migration"},
	[R_CHECK] = {"constraint-missing-not-valid", MD_LINT_ERROR, "a CHECK constraint added and validated at once",
		     "adding a CHECK constraint scans the whole table under an ACCESS EXCLUSIVE lock: no reads or "
		     "writes meanwhile",
		     "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later migration"},
	[R_SET_NOT_NULL] = {"adding-not-nullable-field", MD_LINT_ERROR, "SET NOT NULL on an existing column",
			    "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
			    "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT "
			    "NULL (PostgreSQL 12+ skips the scan) and drop c"},
	[R_REQUIRED] = {"adding-required-field", MD_LINT_ERROR, "ADD COLUMN ... NOT NULL without a DEFAULT",
			"the statement fails on a table that has rows (existing rows would be NULL), and the "
			"application's INSERTs that do not set it fail too",
			"add the column with a DEFAULT (or nullable), backfill, then add the constraint"},
	[R_VOLATILE] = {"adding-field-with-volatile-default", MD_LINT_WARNING, "ADD COLUMN with a volatile default",
			"a volatile default (random(), gen_random_uuid(), clock_timestamp(), a sequence) is computed "
			"for every row: the table is rewritten under an ACCESS EXCLUSIVE lock",
			"add the column without a default (or with a constant), set the default, backfill in batches"},
	[R_TYPE] = {"changing-column-type", MD_LINT_ERROR, "ALTER COLUMN ... TYPE",
		    "changing a column's type rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE "
		    "lock (unless binary-coercible, e.g. varchar(n) to text)",
		    "add a new column, write both, backfill, switch reads, then drop the old column"},
	[R_UNIQUE] = {"disallowed-unique-constraint", MD_LINT_ERROR,
		      "a UNIQUE or PRIMARY KEY constraint built under the lock",
		      "ADD UNIQUE / PRIMARY KEY builds its index while holding an ACCESS EXCLUSIVE lock: no reads or "
		      "writes meanwhile",
		      "CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX"},
	[R_RENAME_COLUMN] =
		{"renaming-column", MD_LINT_WARNING, "a column renamed",
		 "the running application still uses the old name: its queries fail from the moment the migration "
		 "commits",
		 "expand and contract: add the new column, write both, move reads, drop the old one a release later"},
	[R_RENAME_TABLE] = {"renaming-table", MD_LINT_WARNING, "a table renamed",
			    "the running application still uses the old name: its queries fail from the moment the "
			    "migration commits",
			    "expand and contract (a view with the old name can bridge the gap)"},
	[R_DROP_COLUMN] = {"ban-drop-column", MD_LINT_WARNING, "a column dropped",
			   "the data is gone, and a running application that still selects the column fails (ORMs list "
			   "columns explicitly)",
			   "stop reading and writing the column first (Prisma: remove it from schema.prisma and "
			   "deploy), drop it a release later"},
	[R_DROP_TABLE] = {"ban-drop-table", MD_LINT_WARNING, "a table dropped",
			  "the data is gone, and any code still using the table fails",
			  "stop using the table first, take a backup, drop it a release later"},
	[R_DROP_SCHEMA] = {"ban-drop-schema", MD_LINT_ERROR, "a schema dropped", "every object in it is gone",
			   "drop the objects one by one, deliberately, after a backup"},
	[R_DROP_DATABASE] = {"ban-drop-database", MD_LINT_ERROR, "a database dropped", "the whole database is gone",
			     "never from a migration"},
	[R_LOCK_TIMEOUT] = {"require-lock-timeout", MD_LINT_WARNING, "a strong lock with no lock_timeout",
			    "waiting for its lock behind one long transaction, the statement makes every later query "
			    "on the table queue behind it: an outage",
			    "set lock_timeout (migrated's lock_timeout key, 10 s by default, with retries; or SET "
			    "lock_timeout in the file)"},
	[R_BACKFILL] = {"backfill-in-ddl-transaction", MD_LINT_WARNING, "UPDATE/DELETE in the same transaction as DDL",
			"the DDL's locks are held until the backfill commits: on a large table, minutes of blocked "
			"reads or writes",
			"backfill in a migration of its own (migrated:no-transaction), in batches, after the DDL"},
	[R_NO_WHERE] = {"update-without-where", MD_LINT_WARNING, "UPDATE or DELETE of every row",
			"every row is locked and rewritten in one transaction: long, bloating, and it blocks "
			"concurrent writers",
			"batch it (WHERE id BETWEEN ...), outside the schema migration"},
	[R_ROBUST] = {"prefer-robust-stmts", MD_LINT_WARNING,
		      "non-idempotent DDL in a migration run statement by statement",
		      "a statement-by-statement migration that fails part way leaves its first statements committed; "
		      "run again, CREATE fails with \"already exists\"",
		      "CREATE ... IF NOT EXISTS, DROP ... IF EXISTS"},
	[R_TRUNCATE_CASCADE] = {"ban-truncate-cascade", MD_LINT_ERROR, "TRUNCATE ... CASCADE",
				"CASCADE empties every table with a foreign key to it too, however far the chain goes",
				"TRUNCATE the tables you mean, by name"},
	[R_GENERATED] = {"adding-stored-generated-column", MD_LINT_WARNING, "ADD COLUMN ... GENERATED ... STORED",
			 "a stored generated column is computed for every row: the table is rewritten under an ACCESS "
			 "EXCLUSIVE lock",
			 "add a plain column, fill it in batches, keep it current with a trigger"},
	[R_EXCLUDE] = {"adding-exclusion-constraint", MD_LINT_WARNING, "an exclusion constraint added",
		       "it builds an index and checks every row under an ACCESS EXCLUSIVE lock, and cannot be added "
		       "NOT VALID",
		       "add it when the table is created, or in a maintenance window"},
	[R_REWRITE] = {"table-rewrite", MD_LINT_WARNING, "VACUUM FULL, CLUSTER or SET LOGGED/UNLOGGED",
		       "the table is rewritten under an ACCESS EXCLUSIVE lock", "pg_repack, or a maintenance window"},
	[R_REINDEX] = {"require-concurrent-reindex", MD_LINT_WARNING, "REINDEX without CONCURRENTLY",
		       "REINDEX blocks writes to the table for the whole rebuild",
		       "REINDEX ... CONCURRENTLY (PostgreSQL 12+)"},
	[R_REFRESH] = {"require-concurrent-refresh", MD_LINT_WARNING, "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
		       "the view cannot be read until the refresh ends (ACCESS EXCLUSIVE)",
		       "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)"},
	[R_NESTING] = {"transaction-nesting", MD_LINT_WARNING, "BEGIN inside a transaction block",
		       "PostgreSQL ignores the inner BEGIN with a warning: its COMMIT ends the outer transaction early",
		       "one BEGIN ... COMMIT per block, or none (migrated wraps a plain file in one transaction)"},
	[R_CHAR] = {"ban-char-field", MD_LINT_WARNING, "char(n) column",
		    "char(n) pads with spaces and is no faster than text",
		    "text (with a CHECK on length when it matters)"},
	[R_BIGINT] = {"prefer-bigint-over-int", MD_LINT_INFO, "an int key column",
		      "a 32-bit key runs out at 2.1 billion rows; changing it later rewrites the table",
		      "bigint / bigserial (Prisma: BigInt @default(autoincrement()))"},
	[R_IDENTITY] = {"prefer-identity", MD_LINT_INFO, "a serial column",
			"serial is a sequence the column merely defaults to (permissions and ownership surprises)",
			"GENERATED BY DEFAULT AS IDENTITY"},
	[R_TEXT] = {"prefer-text-field", MD_LINT_INFO, "varchar(n) column",
		    "raising the limit later takes an ACCESS EXCLUSIVE lock (no rewrite); the limit rarely matches a "
		    "real rule",
		    "text, with a CHECK (length(col) <= n) when the limit is real"},
	[R_TIMESTAMPTZ] = {"prefer-timestamptz", MD_LINT_INFO, "timestamp without time zone",
			   "values mean different instants to clients in different time zones",
			   "timestamptz (Prisma: @db.Timestamptz)"},
	[R_JSONB] = {"prefer-jsonb", MD_LINT_INFO, "json column",
		     "json cannot be indexed or compared and keeps duplicate keys", "jsonb"},
};

const struct md_lint_rule *md_lint_rules(size_t *ret_n)
{
	*ret_n = R__COUNT;
	return rules;
}

const char *md_lint_severity_name(enum md_lint_severity s)
{
	static const char *const names[] = {"off", "info", "warning", "error"};
	return (unsigned)s < 4 ? names[s] : "?";
}

static int parse_severity(const char *s, enum md_lint_severity *ret)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, md_lint_severity_name((enum md_lint_severity)i)) == 0) {
			*ret = (enum md_lint_severity)i;
			return 0;
		}
	return -1;
}

int md_lint_options_init(struct md_lint_options *o, const struct md_strlist *list, int lock_timeout_ms,
			 int server_version_num, struct md_error *err)
{
	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < R__COUNT; i++)
		o->severity[i] = rules[i].severity;
	o->lock_timeout_ms = lock_timeout_ms;
	o->server_version_num = server_version_num ? server_version_num : 150000;
	for (size_t k = 0; list && k < list->n; k++) {
		char id[96], sev[16];
		enum md_lint_severity s;
		size_t i;
		if (sscanf(list->items[k], "%95s %15s", id, sev) != 2)
			return md_error_set(err, MD_E_CONFIG,
					    "lint_rule = \"%s\": expected RULE off|info|warning|error", list->items[k]);
		for (i = 0; i < R__COUNT && strcmp(rules[i].id, id) != 0; i++)
			;
		if (i == R__COUNT)
			return md_error_set(err, MD_E_CONFIG,
					    "lint_rule = \"%s\": no rule %s (migrated lint --rules lists them)",
					    list->items[k], id);
		if (parse_severity(sev, &s) < 0)
			return md_error_set(err, MD_E_CONFIG,
					    "lint_rule = \"%s\": %s is not off, info, warning or error", list->items[k],
					    sev);
		o->severity[i] = s;
	}
	return 0;
}

/* ---- ignore comments ---- */

struct ignore {
	size_t at;       /* the comment's end: it applies to the first statement after it */
	char rules[256]; /* comma-separated */
	char reason[256];
};

static size_t read_ignores(const struct md_migration *m, struct ignore **ret)
{
	struct md_sqllex lx;
	struct md_sqltok t;
	struct ignore *list = NULL;
	size_t n = 0;
	static const char tag[] = "migrated:lint-ignore";

	md_sqllex_init(&lx, m->sql, m->sql_len);
	lx.keep_comments = true;
	while (md_sqllex_next(&lx, &t) != MD_TOK_EOF && t.kind != MD_TOK_ERROR) {
		if (t.kind != MD_TOK_COMMENT || t.len < 2 || m->sql[t.start] != '-')
			continue;
		const char *p = m->sql + t.start + 2, *end = m->sql + t.start + t.len;
		while (p < end && *p == ' ')
			p++;
		if ((size_t)(end - p) < sizeof tag - 1 || strncmp(p, tag, sizeof tag - 1) != 0)
			continue;
		p += sizeof tag - 1;
		if (p < end && *p != ' ')
			continue;
		struct ignore *g = realloc(list, (n + 1) * sizeof *g);
		if (!g)
			break;
		list = g;
		struct ignore *ig = &list[n++];
		memset(ig, 0, sizeof *ig);
		ig->at = t.start + t.len;
		while (p < end && *p == ' ')
			p++;
		const char *r0 = p;
		while (p < end && *p != ' ')
			p++;
		snprintf(ig->rules, sizeof ig->rules, "%.*s", (int)(p - r0), r0);
		while (p < end && *p == ' ')
			p++;
		snprintf(ig->reason, sizeof ig->reason, "%.*s", (int)(end - p), p);
	}
	*ret = list;
	return n;
}

/* The reason a rule is ignored for the statement starting at `start`, or NULL. */
static const char *ignored(const struct ignore *ig, size_t n, size_t prev_end, size_t start, const char *rule)
{
	for (size_t i = 0; i < n; i++) {
		if (ig[i].at < prev_end || ig[i].at > start)
			continue;
		const char *p = ig[i].rules;
		size_t rl = strlen(rule);
		while (*p) {
			size_t k = strcspn(p, ",");
			if (k == rl && strncmp(p, rule, rl) == 0)
				return ig[i].reason[0] ? ig[i].reason : "(no reason given)";
			p += k + (p[k] == ',');
		}
	}
	return NULL;
}

/* ---- the report ---- */

void md_lint_report_free(struct md_lint_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n; i++)
		free(rep->items[i].statement);
	free(rep->items);
	for (size_t i = 0; i < rep->n_unparsed; i++)
		free(rep->unparsed[i]);
	free(rep->unparsed);
	memset(rep, 0, sizeof *rep);
}

struct ctx {
	const struct md_lint_options *o;
	const struct md_migration *m;
	const struct md_sqlstmt *st;
	size_t prev_end;
	const struct ignore *ig;
	size_t n_ig;
	struct md_lint_report *rep;
	int err;
};

static void finding(struct ctx *c, enum rule_id id, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void finding(struct ctx *c, enum rule_id id, unsigned line, unsigned col, const char *fmt, ...)
{
	struct md_lint_report *rep = c->rep;
	enum md_lint_severity sev = c->o->severity[id];
	if (sev == MD_LINT_OFF || c->err)
		return;
	if (rep->n == rep->cap) {
		size_t nc = rep->cap ? rep->cap * 2 : 32;
		struct md_lint_finding *g = realloc(rep->items, nc * sizeof *g);
		if (!g) {
			c->err = MD_E_NOMEM;
			return;
		}
		rep->items = g;
		rep->cap = nc;
	}
	struct md_lint_finding *f = &rep->items[rep->n++];
	memset(f, 0, sizeof *f);
	f->rule = rules[id].id;
	f->severity = sev;
	f->why = rules[id].why;
	f->safe = rules[id].safe;
	snprintf(f->migration, sizeof f->migration, "%s", c->m->name);
	f->line = line ? line : c->st->line;
	f->col = line ? col : c->st->col;
	size_t len = c->st->end - c->st->start;
	f->statement = strndup(c->m->sql + c->st->start, len > 500 ? 500 : len);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
	const char *reason = ignored(c->ig, c->n_ig, c->prev_end, c->st->start, f->rule);
	if (reason) {
		f->ignored = true;
		snprintf(f->reason, sizeof f->reason, "%s", reason);
		rep->n_ignored++;
	} else {
		rep->count[sev]++;
	}
}

/* ---- the rules ---- */

struct names {
	char (*keys)[MD_DDL_NAME];
	size_t n;
};

static bool has(const struct names *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return true;
	return false;
}

static void put(struct names *s, const char *key, size_t cap)
{
	if (s->n < cap && key[0] && !has(s, key))
		snprintf(s->keys[s->n++], MD_DDL_NAME, "%s", key);
}

static bool starts(const char *type, const char *prefix)
{
	return strncasecmp(type, prefix, strlen(prefix)) == 0;
}

static bool int_type(const char *t)
{
	static const char *const ints[] = {"int",     "integer",  "int4", "serial",
					   "serial4", "smallint", "int2", "smallserial"};
	for (size_t i = 0; i < MD_ARRAY_SIZE(ints); i++)
		if (strcasecmp(t, ints[i]) == 0)
			return true;
	return false;
}

/* Advice on a column's type (new tables included: it is about the choice). */
static void column_types(struct ctx *c, const struct md_ddl_column *col, const char *table)
{
	const char *t = col->type;
	if ((col->primary_key || col->serial || col->identity) && int_type(t))
		finding(c, R_BIGINT, 0, 0, "%s.%s is %s: a 32-bit key", table, col->name, t);
	if (col->serial)
		finding(c, R_IDENTITY, 0, 0, "%s.%s is %s", table, col->name, t);
	if (starts(t, "varchar(") || starts(t, "character varying("))
		finding(c, R_TEXT, 0, 0, "%s.%s is %s", table, col->name, t);
	if (starts(t, "timestamp") && !strcasestr(t, "with time zone") && !starts(t, "timestamptz"))
		finding(c, R_TIMESTAMPTZ, 0, 0, "%s.%s is %s", table, col->name, t);
	if ((starts(t, "char(") || starts(t, "character(") || strcasecmp(t, "char") == 0 ||
	     strcasecmp(t, "character") == 0 || strcasecmp(t, "bpchar") == 0))
		finding(c, R_CHAR, 0, 0, "%s.%s is %s", table, col->name, t);
	if (strcasecmp(t, "json") == 0 || strcasecmp(t, "json[]") == 0)
		finding(c, R_JSONB, 0, 0, "%s.%s is %s", table, col->name, t);
}

static void alter_rules(struct ctx *c, const struct md_ddl *d, bool existing)
{
	for (size_t i = 0; i < d->n_actions; i++) {
		const struct md_ddl_action *a = &d->actions[i];
		unsigned l = a->line, co = a->col;
		switch (a->kind) {
		case MD_ACT_ADD_COLUMN:
			column_types(c, &a->def, d->table);
			if (!existing)
				break;
			if (a->def.not_null && !a->def.has_default && !a->def.serial && !a->def.identity &&
			    !a->def.generated_stored)
				finding(c, R_REQUIRED, l, co, "column %s.%s is NOT NULL without a DEFAULT", d->table,
					a->def.name);
			if (a->def.volatile_fn[0] || a->def.identity)
				finding(c, R_VOLATILE, l, co, "column %s.%s defaults to %s(): the table is rewritten",
					d->table, a->def.name,
					a->def.identity ? "an identity sequence" : a->def.volatile_fn);
			if (a->def.generated_stored)
				finding(c, R_GENERATED, l, co, "column %s.%s is GENERATED ... STORED", d->table,
					a->def.name);
			if (a->def.primary_key || a->def.unique)
				finding(c, R_UNIQUE, l, co,
					"column %s.%s is added %s: its index is built under the lock", d->table,
					a->def.name, a->def.primary_key ? "as the PRIMARY KEY" : "UNIQUE");
			if (a->def.references[0])
				finding(c, R_FK, l, co,
					"column %s.%s references %s: both tables are locked against writes", d->table,
					a->def.name, a->def.references);
			break;
		case MD_ACT_ALTER_TYPE:
			if (existing)
				finding(c, R_TYPE, l, co, "column %s.%s changes type to %s", d->table, a->column,
					a->new_type);
			break;
		case MD_ACT_SET_NOT_NULL:
			if (existing)
				finding(c, R_SET_NOT_NULL, l, co, "column %s.%s: SET NOT NULL scans %s", d->table,
					a->column, d->table);
			break;
		case MD_ACT_ADD_CONSTRAINT:
			if (!existing)
				break;
			if (a->con == MD_CON_FOREIGN_KEY && !a->not_valid)
				finding(c, R_FK, l, co, "foreign key on %s to %s is validated at once", d->table,
					a->references);
			else if (a->con == MD_CON_CHECK && !a->not_valid)
				finding(c, R_CHECK, l, co, "CHECK constraint on %s is validated at once", d->table);
			else if ((a->con == MD_CON_UNIQUE || a->con == MD_CON_PRIMARY_KEY) && !a->using_index)
				finding(c, R_UNIQUE, l, co, "%s on %s builds its index under an ACCESS EXCLUSIVE lock",
					a->con == MD_CON_UNIQUE ? "UNIQUE" : "PRIMARY KEY", d->table);
			else if (a->con == MD_CON_EXCLUDE)
				finding(c, R_EXCLUDE, l, co, "exclusion constraint on %s", d->table);
			break;
		case MD_ACT_DROP_COLUMN:
			if (existing)
				finding(c, R_DROP_COLUMN, l, co, "column %s.%s is dropped", d->table, a->column);
			break;
		case MD_ACT_RENAME_COLUMN:
			if (existing)
				finding(c, R_RENAME_COLUMN, l, co, "column %s.%s is renamed", d->table, a->column);
			break;
		case MD_ACT_RENAME_TABLE:
			if (existing)
				finding(c, R_RENAME_TABLE, l, co, "table %s is renamed", d->table);
			break;
		case MD_ACT_SET_LOGGED:
			if (existing)
				finding(c, R_REWRITE, l, co, "%s: SET LOGGED/UNLOGGED rewrites the table", d->table);
			break;
		default: break;
		}
	}
}

static bool robust_needed(const struct md_ddl *d)
{
	switch (d->kind) {
	case MD_DDL_CREATE_TABLE:
	case MD_DDL_CREATE_INDEX: return !d->if_not_exists;
	case MD_DDL_CREATE_OTHER:
		return (strcmp(d->object, "SCHEMA") == 0 || strcmp(d->object, "SEQUENCE") == 0 ||
			strcmp(d->object, "EXTENSION") == 0) &&
		       !d->if_not_exists;
	case MD_DDL_DROP_TABLE:
	case MD_DDL_DROP_INDEX:
	case MD_DDL_DROP_OTHER: return !d->if_exists;
	default: return false;
	}
}

static bool timeout_value_set(const char *v)
{
	/* '0', 0, '0ms', DEFAULT: no timeout. */
	while (*v == '\'' || *v == ' ')
		v++;
	return *v && !(v[0] == '0' && (v[1] == '\0' || v[1] == '\'' || !isdigit((unsigned char)v[1]))) &&
	       strncasecmp(v, "DEFAULT", 7) != 0;
}

/* The first pass over a file: each statement recognised into ds[i], and whether the file takes
 * a SHARE or stronger lock on a table it did not create (a backfill in its transaction then
 * holds that lock for as long as the backfill runs). */
static int recognise(const char *sql, const struct md_sqlscript *sc, struct md_ddl *ds,
		     bool *ret_strong_ddl_on_existing)
{
	struct names seen = {calloc(sc->n ? sc->n : 1, sizeof *seen.keys), 0};
	int r = 0;
	if (!seen.keys)
		return MD_E_NOMEM;
	for (size_t i = 0; i < sc->n && r == 0; i++) {
		r = md_ddl_parse(sql, &sc->stmts[i], &ds[i]);
		if (r < 0)
			break;
		if (ds[i].kind == MD_DDL_CREATE_TABLE)
			put(&seen, ds[i].table_key, sc->n);
		struct md_ddl_lock locks[MD_DDL_MAX_LOCKS];
		size_t nl = md_ddl_locks(&ds[i], locks);
		for (size_t k = 0; k < nl; k++) {
			char key[MD_DDL_NAME];
			md_ddl_key(locks[k].relation, key, sizeof key);
			if (md_lock_rank(locks[k].mode) >= md_lock_rank("SHARE") && !has(&seen, key))
				*ret_strong_ddl_on_existing = true;
		}
	}
	free(seen.keys);
	return r;
}

/* The rules of one statement by its kind. existing: it works on a table the file did not
 * create; backfill_with_ddl: an UPDATE/DELETE would run inside the transaction of the file's
 * strong DDL. Tables and indexes the file creates are remembered in new_tables/new_indexes
 * (room for cap). */
static void statement_rules(struct ctx *c, const struct md_ddl *d, bool existing, bool backfill_with_ddl,
			    struct names *new_tables, struct names *new_indexes, size_t cap)
{
	switch (d->kind) {
	case MD_DDL_CREATE_TABLE:
		for (size_t k = 0; k < d->n_columns; k++)
			column_types(c, &d->columns[k], d->table);
		put(new_tables, d->table_key, cap);
		break;
	case MD_DDL_CREATE_INDEX:
		if (!d->concurrently && existing)
			finding(c, R_INDEX, 0, 0, "CREATE %sINDEX %s on %s blocks writes to %s while it builds",
				d->unique ? "UNIQUE " : "", d->index[0] ? d->index : "(unnamed)", d->table, d->table);
		if (d->index[0]) {
			char key[MD_DDL_NAME];
			md_ddl_key(d->index, key, sizeof key);
			put(new_indexes, key, cap);
		}
		break;
	case MD_DDL_DROP_INDEX: {
		char key[MD_DDL_NAME];
		md_ddl_key(d->index, key, sizeof key);
		if (!d->concurrently && !has(new_indexes, key))
			finding(c, R_DROP_INDEX, 0, 0, "DROP INDEX %s takes an ACCESS EXCLUSIVE lock on its table",
				d->index);
		break;
	}
	case MD_DDL_ALTER_TABLE: alter_rules(c, d, existing); break;
	case MD_DDL_DROP_TABLE:
		if (existing)
			finding(c, R_DROP_TABLE, 0, 0, "table %s is dropped", d->table);
		break;
	case MD_DDL_DROP_SCHEMA: finding(c, R_DROP_SCHEMA, 0, 0, "a schema is dropped"); break;
	case MD_DDL_DROP_DATABASE: finding(c, R_DROP_DATABASE, 0, 0, "a database is dropped"); break;
	case MD_DDL_TRUNCATE:
		if (d->cascade)
			finding(c, R_TRUNCATE_CASCADE, 0, 0, "TRUNCATE %s CASCADE", d->table);
		break;
	case MD_DDL_UPDATE:
	case MD_DDL_DELETE:
		if (!existing)
			break;
		if (!d->has_where)
			finding(c, R_NO_WHERE, 0, 0, "%s of every row of %s",
				d->kind == MD_DDL_UPDATE ? "UPDATE" : "DELETE", d->table);
		if (backfill_with_ddl)
			finding(c, R_BACKFILL, 0, 0, "%s of %s in the transaction of this migration's DDL",
				d->kind == MD_DDL_UPDATE ? "UPDATE" : "DELETE", d->table);
		break;
	case MD_DDL_VACUUM_FULL:
	case MD_DDL_CLUSTER:
		finding(c, R_REWRITE, 0, 0, "%s %s rewrites the table",
			d->kind == MD_DDL_CLUSTER ? "CLUSTER" : "VACUUM FULL",
			d->table[0] ? d->table : "(every table)");
		break;
	case MD_DDL_REINDEX:
		if (!d->concurrently)
			finding(c, R_REINDEX, 0, 0, "REINDEX of %s blocks writes", d->table[0] ? d->table : d->index);
		break;
	case MD_DDL_REFRESH_MATVIEW:
		if (!d->concurrently)
			finding(c, R_REFRESH, 0, 0, "REFRESH MATERIALIZED VIEW %s blocks its readers", d->table);
		break;
	default: break;
	}
}

int md_lint_migration(const struct md_lint_options *o, const struct md_migration *m, struct md_lint_report *rep)
{
	struct md_sqlscript sc;
	struct ignore *ig = NULL;
	struct md_ddl *ds = NULL;
	struct names new_tables = {0}, new_indexes = {0};
	char reason[8];
	int r = 0;

	rep->migrations++;
	if (!m->has_sql)
		return 0;
	if (md_sqlsplit(m->sql, m->sql_len, &sc, NULL) < 0) {
		char **g = realloc(rep->unparsed, (rep->n_unparsed + 1) * sizeof *g);
		if (!g)
			return MD_E_NOMEM;
		rep->unparsed = g;
		if (!(g[rep->n_unparsed] = strdup(m->name)))
			return MD_E_NOMEM;
		rep->n_unparsed++;
		return 0;
	}
	enum md_apply_mode mode = md_apply_choose_mode(&sc, o->server_version_num, reason, sizeof reason);
	size_t n_ig = read_ignores(m, &ig);
	ds = calloc(sc.n ? sc.n : 1, sizeof *ds);
	new_tables.keys = calloc(sc.n ? sc.n : 1, sizeof *new_tables.keys);
	new_indexes.keys = calloc(sc.n ? sc.n : 1, sizeof *new_indexes.keys);
	if (!ds || !new_tables.keys || !new_indexes.keys) {
		r = MD_E_NOMEM;
		goto out;
	}
	/* First pass: recognise everything; what the whole file does. */
	bool strong_ddl_on_existing = false;
	r = recognise(m->sql, &sc, ds, &strong_ddl_on_existing);
	if (r < 0)
		goto out;
	struct ctx c = {.o = o, .m = m, .ig = ig, .n_ig = n_ig, .rep = rep};
	int depth = 0; /* the file's own BEGIN ... COMMIT */
	bool file_lock_timeout = false;
	for (size_t i = 0; i < sc.n && !c.err; i++) {
		const struct md_ddl *d = &ds[i];
		const struct md_sqlstmt *st = &sc.stmts[i];
		c.st = st;
		c.prev_end = i ? sc.stmts[i - 1].end : 0;
		bool existing = d->table_key[0] && !has(&new_tables, d->table_key);
		bool in_txn = depth > 0 || mode == MD_MODE_TRANSACTION;

		if (d->kind == MD_DDL_TXN) {
			if (st->what && strcmp(st->what, "BEGIN") == 0) {
				if (depth > 0)
					finding(&c, R_NESTING, 0, 0,
						"BEGIN inside the transaction opened at an earlier BEGIN");
				depth++;
			} else if (depth > 0) {
				depth--;
			}
			continue;
		}
		if (d->kind == MD_DDL_SET && (strcmp(d->set_name, "lock_timeout") == 0))
			file_lock_timeout = timeout_value_set(d->set_value);
		if (d->concurrently && depth > 0)
			finding(&c, R_CONC_IN_TXN, 0, 0, "%s inside the file's own transaction block",
				st->what ? st->what : "a CONCURRENTLY statement");
		if (mode == MD_MODE_STEPWISE && robust_needed(d))
			finding(&c, R_ROBUST, 0, 0, "%s without IF %sEXISTS in a migration run statement by statement",
				d->kind == MD_DDL_CREATE_TABLE || d->kind == MD_DDL_CREATE_INDEX ||
						d->kind == MD_DDL_CREATE_OTHER
					? "CREATE"
					: "DROP",
				d->kind == MD_DDL_CREATE_TABLE || d->kind == MD_DDL_CREATE_INDEX ||
						d->kind == MD_DDL_CREATE_OTHER
					? "NOT "
					: "");
		statement_rules(&c, d, existing, in_txn && strong_ddl_on_existing, &new_tables, &new_indexes, sc.n);
		/* A strong lock on a table in use with nothing bounding the wait for it. */
		if (o->lock_timeout_ms == 0 && !file_lock_timeout && existing) {
			struct md_ddl_lock locks[MD_DDL_MAX_LOCKS];
			size_t nl = md_ddl_locks(d, locks);
			if (nl && md_lock_rank(locks[0].mode) >= md_lock_rank("SHARE"))
				finding(&c, R_LOCK_TIMEOUT, 0, 0, "%s on %s with lock_timeout = 0", locks[0].mode,
					locks[0].relation);
		}
	}
	r = c.err;
out:
	for (size_t i = 0; ds && i < sc.n; i++)
		md_ddl_free(&ds[i]);
	free(ds);
	free(new_tables.keys);
	free(new_indexes.keys);
	free(ig);
	md_sqlscript_free(&sc);
	return r;
}

/* ---- JSON ---- */

json_t *md_lint_finding_json(const struct md_lint_finding *f)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s?, s:s, s:s, s:s}", "rule", f->rule, "severity",
			      md_lint_severity_name(f->severity), "migration", f->migration, "line",
			      (json_int_t)f->line, "column", (json_int_t)f->col, "statement", f->statement, "message",
			      f->message, "why", f->why, "safe_pattern", f->safe);
	if (j && f->ignored)
		json_object_set_new(j, "ignored_because", json_string(f->reason));
	return j;
}

json_t *md_lint_report_json(const struct md_lint_report *rep, bool only_errors)
{
	json_t *findings = json_array(), *ign = json_array(), *unparsed = json_array();
	for (size_t i = 0; i < rep->n; i++) {
		const struct md_lint_finding *f = &rep->items[i];
		if (f->ignored)
			json_array_append_new(ign, md_lint_finding_json(f));
		else if (!only_errors || f->severity == MD_LINT_ERROR)
			json_array_append_new(findings, md_lint_finding_json(f));
	}
	for (size_t i = 0; i < rep->n_unparsed; i++)
		json_array_append_new(unparsed, json_string(rep->unparsed[i]));
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "findings", findings, "ignored", ign,
			 "summary", "error", (json_int_t)rep->count[MD_LINT_ERROR], "warning",
			 (json_int_t)rep->count[MD_LINT_WARNING], "info", (json_int_t)rep->count[MD_LINT_INFO],
			 "ignored", (json_int_t)rep->n_ignored, "migrations", (json_int_t)rep->migrations, "unparsed",
			 unparsed);
}
