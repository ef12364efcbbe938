/* schema.c - schema snapshots from pg_catalog and their differences (see schema.h). One query
 * per kind of object, each filtered to the target schema and away from extension members; the
 * rows become nested JSON objects keyed by name, which jansson dumps with sorted keys: the
 * canonical text the fingerprint hashes. */
#include "migrated/schema.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_EXT(cls, oid)                                                                                      \
	" AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE dep.classid = '" cls "'::regclass AND " \
	"dep.objid = " oid " AND dep.deptype = 'e')"

static const char q_relations[] =
	"SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
	"c.relnamespace "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c') AND NOT (c.relkind = 'r' AND c.relname = "
	"'_prisma_migrations') AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE ((dep.classid = "
	"'pg_catalog.pg_class'::regclass AND dep.objid = c.oid) OR (dep.classid = 'pg_catalog.pg_type'::regclass AND "
	"dep.objid = c.reltype)) AND dep.deptype = 'e')";

static const char q_columns[] =
	"SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
	"pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, "
	"CASE WHEN a.attcollation <> t.typcollation THEN co.collname END "
	"FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
	"LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c') AND a.attnum > 0 AND NOT a.attisdropped "
	"AND NOT (c.relkind = 'r' AND c.relname = '_prisma_migrations')" NOT_EXT("pg_catalog.pg_class", "c.oid");

/* PostgreSQL 18 also records each NOT NULL as a constraint (contype 'n', "t_col_not_null"):
 * the column's attnotnull already says it, so those rows would report one change twice and
 * make a snapshot taken before an upgrade to 18 differ from one taken after. */
static const char q_constraints[] =
	"SELECT c.relname, con.conname, con.contype, pg_catalog.pg_get_constraintdef(con.oid, true), con.convalidated "
	"FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relname <> '_prisma_migrations' AND con.contype <> 'n'" NOT_EXT(
		"pg_catalog.pg_class", "c.oid");

static const char q_indexes[] =
	"SELECT t.relname, i.relname, pg_catalog.pg_get_indexdef(i.oid), x.indisvalid "
	"FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid "
	"JOIN pg_catalog.pg_class t ON t.oid = x.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = i.relnamespace "
	"WHERE n.nspname = $1 AND t.relname <> '_prisma_migrations'" NOT_EXT("pg_catalog.pg_class", "t.oid");

static const char q_triggers[] =
	"SELECT c.relname, tg.tgname, pg_catalog.pg_get_triggerdef(tg.oid, true), tg.tgenabled::text "
	"FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT tg.tgisinternal";

static const char q_views[] =
	"SELECT c.relname, c.relkind, pg_catalog.pg_get_viewdef(c.oid, true) FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('v', "
	"'m')" NOT_EXT("pg_catalog.pg_class", "c.oid");

static const char q_sequences[] =
	"SELECT c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqincrement, s.seqstart, s.seqmin, s.seqmax, "
	"s.seqcycle FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1" NOT_EXT("pg_catalog.pg_class",
												"c.oid");

static const char q_enums[] =
	"SELECT t.typname, e.enumlabel FROM pg_catalog.pg_type t JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid "
	"JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1" NOT_EXT(
		"pg_catalog.pg_type", "t.oid") " ORDER BY t.typname, e.enumsortorder";

static const char q_domains[] =
	"SELECT t.typname, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault, "
	"(SELECT string_agg(pg_catalog.pg_get_constraintdef(con.oid, true), ' AND ' ORDER BY con.conname) "
	"FROM pg_catalog.pg_constraint con WHERE con.contypid = t.oid) FROM pg_catalog.pg_type t "
	"JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typtype = 'd'" NOT_EXT(
		"pg_catalog.pg_type", "t.oid");

static const char q_functions[] =
	"SELECT p.oid::regprocedure::text, p.prokind, CASE WHEN p.prokind <> 'a' THEN "
	"md5(pg_catalog.pg_get_functiondef(p.oid)) END FROM pg_catalog.pg_proc p "
	"JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1" NOT_EXT("pg_catalog.pg_proc",
												"p.oid");

static const char q_extensions[] =
	"SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = "
	"e.extnamespace WHERE e.extname <> 'plpgsql'";

static json_t *child(json_t *parent, const char *key)
{
	json_t *o = json_object_get(parent, key);
	if (!o) {
		o = json_object();
		json_object_set_new(parent, key, o);
	}
	return o;
}

static json_t *str_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static bool t_or_f(PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

static const char *relkind_name(char k)
{
	switch (k) {
	case 'r': return "table";
	case 'p': return "partitioned table";
	case 'f': return "foreign table";
	case 'v': return "view";
	case 'm': return "materialized view";
	case 'c': return "composite type";
	}
	return "relation";
}

/* The relation entry of a name in the right section. */
static json_t *relation(json_t *snap, const char *name, char kind)
{
	const char *section = kind == 'v' || kind == 'm' ? "views" : kind == 'c' ? "types" : "tables";
	json_t *o = child(child(snap, section), name);
	if (!json_object_get(o, "kind"))
		json_object_set_new(o, "kind", json_string(relkind_name(kind)));
	return o;
}

static int run(struct md_db *db, const char *sql, PGresult **res, const char *what, struct md_error *err)
{
	const char *p[1] = {db->schema};
	return md_db_query(db, sql, 1, p, res, what, err);
}

int md_schema_fingerprint(const json_t *snapshot, char out[MD_CHECKSUM_HEX_LEN + 1])
{
	char *text = json_dumps(snapshot, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return MD_E_NOMEM;
	int r = md_sha256_hex(text, strlen(text), out);
	free(text);
	return r;
}

struct rel {
	char name[128];
	char kind;
};

static char kind_of(const struct rel *rels, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rels[i].name, name) == 0)
			return rels[i].kind;
	return 0;
}

int md_schema_snapshot(struct md_db *db, json_t **ret, char ret_fingerprint[MD_CHECKSUM_HEX_LEN + 1],
		       struct md_error *err)
{
	json_t *snap = json_pack("{s:s}", "schema", db->schema);
	int r;
	/* Which relation each name is, for the column and constraint rows. */
	PGresult *res = NULL;
	struct rel *rels = NULL;
	int nrels = 0;

	r = run(db, q_relations, &res, "reading the schema's relations", err);
	if (r == 0) {
		nrels = PQntuples(res);
		rels = calloc(nrels ? (size_t)nrels : 1, sizeof *rels);
		for (int i = 0; rels && i < nrels; i++) {
			snprintf(rels[i].name, sizeof rels[i].name, "%s", PQgetvalue(res, i, 0));
			rels[i].kind = PQgetvalue(res, i, 1)[0];
			relation(snap, rels[i].name, rels[i].kind);
		}
		PQclear(res);
		res = NULL;
		if (!rels)
			r = md_error_set(err, MD_E_NOMEM, "out of memory");
	}
#define KIND_OF(relname) kind_of(rels, nrels, relname)
	if (r == 0 && (r = run(db, q_columns, &res, "reading columns", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++) {
			char k = KIND_OF(PQgetvalue(res, i, 0));
			if (!k)
				continue;
			json_t *cols = child(relation(snap, PQgetvalue(res, i, 0), k), "columns");
			const char *ident = PQgetvalue(res, i, 5), *gen = PQgetvalue(res, i, 6);
			json_object_set_new(cols, PQgetvalue(res, i, 1),
					    json_pack("{s:s, s:b, s:o, s:s?, s:s?, s:o}", "type", PQgetvalue(res, i, 2),
						      "nullable", !t_or_f(res, i, 3), "default", str_or_null(res, i, 4),
						      "identity",
						      ident[0] == 'a'   ? "always"
						      : ident[0] == 'd' ? "by default"
									: NULL,
						      "generated", gen[0] == 's' ? "stored" : NULL, "collation",
						      str_or_null(res, i, 7)));
		}
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_constraints, &res, "reading constraints", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++) {
			char k = KIND_OF(PQgetvalue(res, i, 0));
			if (!k)
				continue;
			static const char *const types[] = {"c", "check",  "f", "foreign key", "p", "primary key",
							    "u", "unique", "x", "exclusion",   "t", "trigger"};
			const char *ty = "other";
			for (size_t t = 0; t < MD_ARRAY_SIZE(types); t += 2)
				if (strcmp(PQgetvalue(res, i, 2), types[t]) == 0)
					ty = types[t + 1];
			json_object_set_new(child(relation(snap, PQgetvalue(res, i, 0), k), "constraints"),
					    PQgetvalue(res, i, 1),
					    json_pack("{s:s, s:s, s:b}", "type", ty, "definition",
						      PQgetvalue(res, i, 3), "validated", t_or_f(res, i, 4)));
		}
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_indexes, &res, "reading indexes", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++) {
			char k = KIND_OF(PQgetvalue(res, i, 0));
			if (!k)
				continue;
			json_object_set_new(child(relation(snap, PQgetvalue(res, i, 0), k), "indexes"),
					    PQgetvalue(res, i, 1),
					    json_pack("{s:s, s:b}", "definition", PQgetvalue(res, i, 2), "valid",
						      t_or_f(res, i, 3)));
		}
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_triggers, &res, "reading triggers", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++) {
			char k = KIND_OF(PQgetvalue(res, i, 0));
			if (!k)
				continue;
			json_object_set_new(child(relation(snap, PQgetvalue(res, i, 0), k), "triggers"),
					    PQgetvalue(res, i, 1),
					    json_pack("{s:s, s:s}", "definition", PQgetvalue(res, i, 2), "enabled",
						      PQgetvalue(res, i, 3)));
		}
		PQclear(res);
		res = NULL;
	}
#undef KIND_OF
	free(rels);
	if (r == 0 && (r = run(db, q_views, &res, "reading views", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++)
			json_object_set_new(relation(snap, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)[0]),
					    "definition", json_string(PQgetvalue(res, i, 2)));
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_sequences, &res, "reading sequences", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++)
			json_object_set_new(child(snap, "sequences"), PQgetvalue(res, i, 0),
					    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "type", PQgetvalue(res, i, 1),
						      "increment", PQgetvalue(res, i, 2), "start",
						      PQgetvalue(res, i, 3), "min", PQgetvalue(res, i, 4), "max",
						      PQgetvalue(res, i, 5), "cycle", t_or_f(res, i, 6)));
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_enums, &res, "reading enums", err)) == 0) {
		json_t *enums = child(snap, "enums");
		for (int i = 0; i < PQntuples(res); i++) {
			json_t *vals = json_object_get(enums, PQgetvalue(res, i, 0));
			if (!vals) {
				vals = json_array();
				json_object_set_new(enums, PQgetvalue(res, i, 0), vals);
			}
			json_array_append_new(vals, json_string(PQgetvalue(res, i, 1)));
		}
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_domains, &res, "reading domains", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++)
			json_object_set_new(child(snap, "domains"), PQgetvalue(res, i, 0),
					    json_pack("{s:s, s:b, s:o, s:o}", "type", PQgetvalue(res, i, 1), "nullable",
						      !t_or_f(res, i, 2), "default", str_or_null(res, i, 3), "check",
						      str_or_null(res, i, 4)));
		PQclear(res);
		res = NULL;
	}
	if (r == 0 && (r = run(db, q_functions, &res, "reading functions", err)) == 0) {
		for (int i = 0; i < PQntuples(res); i++) {
			const char *pk = PQgetvalue(res, i, 1);
			json_object_set_new(child(snap, "functions"), PQgetvalue(res, i, 0),
					    json_pack("{s:s, s:o}", "kind",
						      pk[0] == 'p'   ? "procedure"
						      : pk[0] == 'a' ? "aggregate"
						      : pk[0] == 'w' ? "window function"
								     : "function",
						      "definition_md5", str_or_null(res, i, 2)));
		}
		PQclear(res);
		res = NULL;
	}
	if (r == 0) {
		r = md_db_query(db, q_extensions, 0, NULL, &res, "reading extensions", err);
		for (int i = 0; r == 0 && i < PQntuples(res); i++)
			json_object_set_new(child(snap, "extensions"), PQgetvalue(res, i, 0),
					    json_pack("{s:s}", "schema", PQgetvalue(res, i, 1)));
		PQclear(res);
		res = NULL;
	}
	if (r < 0) {
		json_decref(snap);
		return r;
	}
	for (const char *const *s = (const char *const[]){"tables", "views", "types", "sequences", "enums", "domains",
							  "functions", "extensions", NULL};
	     *s; s++)
		child(snap, *s);
	if (ret_fingerprint && md_schema_fingerprint(snap, ret_fingerprint) < 0) {
		json_decref(snap);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	*ret = snap;
	return 0;
}

/* ---- differences ---- */

struct diffs {
	json_t *list;
};

static void quote(char *out, size_t sz, const char *a, const char *b)
{
	if (b)
		snprintf(out, sz, "\"%s\".\"%s\"", a, b);
	else
		snprintf(out, sz, "\"%s\"", a);
}

static char *text_of(const json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("none");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void add_diff(struct diffs *d, const char *kind, const char *object, const char *change, const json_t *db,
		     const json_t *mig, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add_diff(struct diffs *d, const char *kind, const char *object, const char *change, const json_t *db,
		     const json_t *mig, const char *fmt, ...)
{
	char msg[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_array_append_new(d->list, json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?}", "kind", kind, "object", object,
						 "change", change, "message", msg, "database", db, "migrations", mig));
}

/* The keys of a and b, sorted, without repeats. */
static size_t union_keys(const json_t *a, const json_t *b, const char ***ret)
{
	size_t n = json_object_size(a) + json_object_size(b), k = 0;
	const char **keys = calloc(n ? n : 1, sizeof *keys);
	const char *key;
	json_t *v;
	if (!keys) {
		*ret = NULL;
		return 0;
	}
	json_object_foreach((json_t *)a, key, v) keys[k++] = key;
	json_object_foreach((json_t *)b, key, v) if (!json_object_get(a, key)) keys[k++] = key;
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	*ret = keys;
	return k;
}

/* Field by field: "column "T"."c" type differs: database X, migrations Y". */
static void fields(struct diffs *d, const char *kind, const char *label, const json_t *e, const json_t *l)
{
	const char **keys;
	size_t n = union_keys(e, l, &keys);
	for (size_t i = 0; i < n; i++) {
		const json_t *ev = json_object_get(e, keys[i]), *lv = json_object_get(l, keys[i]);
		if (json_equal((json_t *)(ev ? ev : json_null()), (json_t *)(lv ? lv : json_null())))
			continue;
		char *es = text_of(ev), *ls = text_of(lv);
		add_diff(d, kind, label, "changed", lv, ev, "%s %s %s differs: database %s, migrations %s", kind, label,
			 keys[i], ls, es);
		free(es);
		free(ls);
	}
	free(keys);
}

/* A map of named objects (columns of a table, indexes, ...). */
static void objects(struct diffs *d, const char *kind, const char *parent, const json_t *e, const json_t *l,
		    void (*common)(struct diffs *, const char *kind, const char *label, const json_t *, const json_t *))
{
	const char **keys;
	size_t n = union_keys(e, l, &keys);
	char label[600];
	for (size_t i = 0; i < n; i++) {
		const json_t *ev = json_object_get(e, keys[i]), *lv = json_object_get(l, keys[i]);
		quote(label, sizeof label, parent ? parent : keys[i], parent ? keys[i] : NULL);
		if (!ev && strcmp(kind, "index") == 0 && json_is_false(json_object_get(lv, "valid")))
			add_diff(d, kind, label, "extra", lv, NULL,
				 "index %s exists in the database but not in the migrations, and is INVALID (left by a "
				 "failed CREATE INDEX CONCURRENTLY): DROP INDEX CONCURRENTLY it",
				 label);
		else if (!ev)
			add_diff(d, kind, label, "extra", lv, NULL,
				 "%s %s exists in the database but not in the migrations", kind, label);
		else if (!lv)
			add_diff(d, kind, label, "missing", NULL, ev,
				 "%s %s is missing from the database (the migrations create it)", kind, label);
		else if (common)
			common(d, kind, label, ev, lv);
		else if (!json_equal((json_t *)ev, (json_t *)lv))
			fields(d, kind, label, ev, lv);
	}
	free(keys);
}

static void index_common(struct diffs *d, const char *kind, const char *label, const json_t *e, const json_t *l)
{
	if (json_is_false(json_object_get(l, "valid")) && !json_is_false(json_object_get(e, "valid")))
		add_diff(d, kind, label, "changed", l, e,
			 "index %s is INVALID (a CREATE INDEX CONCURRENTLY failed or was cancelled): DROP INDEX "
			 "CONCURRENTLY it and create it again",
			 label);
	if (!json_equal(json_object_get(e, "definition"), json_object_get(l, "definition"))) {
		char *es = text_of(json_object_get(e, "definition")), *ls = text_of(json_object_get(l, "definition"));
		add_diff(d, kind, label, "changed", l, e, "index %s differs: database %s, migrations %s", label, ls,
			 es);
		free(es);
		free(ls);
	}
}

static void table_common(struct diffs *d, const char *kind, const char *label, const json_t *e, const json_t *l)
{
	/* label is "\"name\"": the bare name is between the quotes. */
	char name[600];
	snprintf(name, sizeof name, "%.*s", (int)strlen(label) - 2, label + 1);
	if (!json_equal(json_object_get(e, "kind"), json_object_get(l, "kind")))
		add_diff(d, kind, label, "changed", json_object_get(l, "kind"), json_object_get(e, "kind"),
			 "%s is a %s in the database, a %s in the migrations", label,
			 json_string_value(json_object_get(l, "kind")), json_string_value(json_object_get(e, "kind")));
	objects(d, "column", name, json_object_get(e, "columns"), json_object_get(l, "columns"), NULL);
	objects(d, "constraint", name, json_object_get(e, "constraints"), json_object_get(l, "constraints"), NULL);
	objects(d, "index", name, json_object_get(e, "indexes"), json_object_get(l, "indexes"), index_common);
	objects(d, "trigger", name, json_object_get(e, "triggers"), json_object_get(l, "triggers"), NULL);
	if (json_object_get(e, "definition") || json_object_get(l, "definition"))
		if (!json_equal(json_object_get(e, "definition"), json_object_get(l, "definition")))
			add_diff(d, kind, label, "changed", json_object_get(l, "definition"),
				 json_object_get(e, "definition"), "%s %s's definition differs from the migrations'",
				 kind, label);
}

static void enum_common(struct diffs *d, const char *kind, const char *label, const json_t *e, const json_t *l)
{
	if (json_equal((json_t *)e, (json_t *)l))
		return;
	char *es = text_of(e), *ls = text_of(l);
	add_diff(d, kind, label, "changed", l, e, "enum %s values differ: database %s, migrations %s", label, ls, es);
	free(es);
	free(ls);
}

static void function_common(struct diffs *d, const char *kind, const char *label, const json_t *e, const json_t *l)
{
	if (!json_equal((json_t *)e, (json_t *)l))
		add_diff(d, kind, label, "changed", l, e, "%s %s's definition differs from the migrations'", kind,
			 label);
}

json_t *md_schema_diff(const json_t *expected, const json_t *live)
{
	struct diffs d = {json_array()};
	objects(&d, "table", NULL, json_object_get(expected, "tables"), json_object_get(live, "tables"), table_common);
	objects(&d, "view", NULL, json_object_get(expected, "views"), json_object_get(live, "views"), table_common);
	objects(&d, "type", NULL, json_object_get(expected, "types"), json_object_get(live, "types"), table_common);
	objects(&d, "sequence", NULL, json_object_get(expected, "sequences"), json_object_get(live, "sequences"), NULL);
	objects(&d, "enum", NULL, json_object_get(expected, "enums"), json_object_get(live, "enums"), enum_common);
	objects(&d, "domain", NULL, json_object_get(expected, "domains"), json_object_get(live, "domains"), NULL);
	objects(&d, "function", NULL, json_object_get(expected, "functions"), json_object_get(live, "functions"),
		function_common);
	objects(&d, "extension", NULL, json_object_get(expected, "extensions"), json_object_get(live, "extensions"),
		NULL);
	return d.list;
}
