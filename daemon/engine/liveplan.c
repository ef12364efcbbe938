/* liveplan.c - the live plan (see liveplan.h): ddl.c says which lock a statement takes on
 * which relation; pg_class says how big that relation is now. Relation names are resolved with
 * the target schema on the search_path. Reads pg_class only. */
#include "migrated/liveplan.h"
#include "migrated/units.h"
#include "migrated/apply.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/ddl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/lint.h"
#include "migrated/sqlsplit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void md_human_count(double n, char *out, size_t sz)
{
	if (n >= 1e9)
		snprintf(out, sz, "~%.1f B", n / 1e9);
	else if (n >= 1e6)
		snprintf(out, sz, "~%.0f M", n / 1e6);
	else if (n >= 1e3)
		snprintf(out, sz, "~%.0f k", n / 1e3);
	else
		snprintf(out, sz, "~%.0f", n);
}

struct relsize {
	char name[MD_DDL_NAME];
	bool exists;
	double bytes, rows;      /* rows < 0: never analyzed */
	char table[MD_DDL_NAME]; /* an index's table */
};

struct cache {
	struct relsize *items;
	size_t n, cap;
};

static const struct relsize *lookup(struct md_db *db, struct cache *c, const char *name, struct md_error *err)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].name, name) == 0)
			return &c->items[i];
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		struct relsize *g = realloc(c->items, nc * sizeof *g);
		if (!g) {
			md_error_set(err, MD_E_NOMEM, "out of memory");
			return NULL;
		}
		c->items = g;
		c->cap = nc;
	}
	struct relsize *rs = &c->items[c->n];
	memset(rs, 0, sizeof *rs);
	snprintf(rs->name, sizeof rs->name, "%s", name);
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *p[1] = {name};
	/* to_regclass: NULL for a relation that does not exist yet (a table this deploy creates). */
	if (md_db_query(db,
			"SELECT pg_catalog.pg_total_relation_size(c.oid), c.reltuples::float8, "
			"(SELECT i.indrelid::regclass::text FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid) "
			"FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
			1, p, &res, "reading relation sizes", err) < 0) {
		/* A name to_regclass cannot parse is no relation. */
		if (err->code != MD_E_DB || strcmp(err->sqlstate, "42602") != 0)
			return NULL;
		md_error_clear(err);
		c->n++;
		return rs;
	}
	if (PQntuples(res) == 1) {
		rs->exists = true;
		rs->bytes = atof(PQgetvalue(res, 0, 0));
		rs->rows = atof(PQgetvalue(res, 0, 1));
		if (!PQgetisnull(res, 0, 2))
			snprintf(rs->table, sizeof rs->table, "%s", PQgetvalue(res, 0, 2));
	}
	c->n++;
	return rs;
}

static json_t *lock_json(struct md_db *db, struct cache *c, const struct md_ddl_lock *l, struct md_error *err)
{
	const struct relsize *rs = lookup(db, c, l->relation, err);
	char summary[700], size[32], rows[32];
	if (!rs)
		return NULL;
	if (!rs->exists)
		snprintf(summary, sizeof summary, "%s on %s (does not exist yet: created by this deploy)", l->mode,
			 l->relation);
	else {
		md_format_bytes(rs->bytes, size, sizeof size);
		if (rs->rows >= 0) {
			md_human_count(rs->rows, rows, sizeof rows);
			snprintf(summary, sizeof summary, "%s on %s (%s, %s rows)%s%s", l->mode, l->relation, size,
				 rows, l->why ? ": " : "", l->why ? l->why : "");
		} else {
			snprintf(summary, sizeof summary, "%s on %s (%s, rows unknown: never analyzed)%s%s", l->mode,
				 l->relation, size, l->why ? ": " : "", l->why ? l->why : "");
		}
	}
	json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:b, s:s?, s:s, s:s}", "mode", l->mode, "relation", l->relation,
			      "exists", rs->exists, "rewrite", l->rewrite, "scan", l->scan, "why", l->why, "blocks",
			      md_lock_blocks(l->mode), "summary", summary);
	if (rs->exists) {
		json_object_set_new(j, "size_bytes", json_integer((json_int_t)rs->bytes));
		json_object_set_new(j, "rows_estimate",
				    rs->rows >= 0 ? json_integer((json_int_t)rs->rows) : json_null());
		if (rs->table[0])
			json_object_set_new(j, "table", json_string(rs->table));
	}
	return j;
}

static int migration_json(struct md_db *db, struct cache *c, const struct md_migration *m, const struct md_planned *pl,
			  const struct md_lint_options *lint, json_t **ret, struct md_error *err)
{
	struct md_sqlscript sc;
	struct md_lint_report lr = {0};
	int r = md_sqlsplit(m->sql, m->sql_len, &sc, err);
	if (r < 0)
		return r;
	json_t *stmts = json_array();
	for (size_t i = 0; r == 0 && i < sc.n; i++) {
		struct md_ddl d;
		struct md_ddl_lock locks[MD_DDL_MAX_LOCKS];
		if (md_ddl_parse(m->sql, &sc.stmts[i], &d) < 0) {
			r = md_error_set(err, MD_E_NOMEM, "out of memory");
			break;
		}
		size_t nl = md_ddl_locks(&d, locks);
		json_t *lj = json_array();
		for (size_t k = 0; k < nl && r == 0; k++) {
			json_t *one = lock_json(db, c, &locks[k], err);
			if (!one)
				r = err->code ? err->code : MD_E_NOMEM;
			else
				json_array_append_new(lj, one);
		}
		size_t len = sc.stmts[i].end - sc.stmts[i].start;
		char *text = strndup(m->sql + sc.stmts[i].start, len > 500 ? 500 : len);
		json_array_append_new(stmts, json_pack("{s:I, s:I, s:s?, s:o}", "index", (json_int_t)i + 1, "line",
						       (json_int_t)sc.stmts[i].line, "statement", text, "locks", lj));
		free(text);
		md_ddl_free(&d);
	}
	md_sqlscript_free(&sc);
	if (r == 0 && md_lint_migration(lint, m, &lr) < 0)
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	json_t *findings = json_array();
	for (size_t i = 0; i < lr.n; i++)
		json_array_append_new(findings, md_lint_finding_json(&lr.items[i]));
	md_lint_report_free(&lr);
	*ret = json_pack("{s:s, s:s, s:s?, s:o, s:o}", "name", m->name, "mode", md_apply_mode_name(pl->mode),
			 "mode_reason", pl->reason[0] ? pl->reason : NULL, "statements", stmts, "lint", findings);
	return r;
}

int md_liveplan_json(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_report *rep,
		     const struct md_lint_options *lint, json_t **ret, struct md_error *err)
{
	struct cache c = {0};
	struct md_lint_options lo = *lint;
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *p[1] = {db->schema_ident};
	int r;

	lo.server_version_num = db->server_version_num;
	/* Names resolve as the migrations see them: the target schema on the search_path (for this
	 * session until the end; no transaction, so a name to_regclass rejects costs nothing). */
	r = md_db_query(db, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, p, &res, "setting search_path",
			err);
	json_t *list = json_array();
	for (size_t i = 0; r == 0 && i < rep->n_pending; i++) {
		const struct md_migration *m = md_catalog_find(cat, rep->planned[i].name);
		json_t *mj = NULL;
		if (!m || !m->has_sql)
			continue;
		r = migration_json(db, &c, m, &rep->planned[i], &lo, &mj, err);
		if (mj)
			json_array_append_new(list, mj);
	}
	struct md_error ignored;
	md_db_exec(db, "RESET search_path", "resetting search_path", &ignored);
	free(c.items);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

int md_plan_preview(struct md_db *db, const struct md_catalog *cat, const struct md_apply_options *apply,
		    const struct md_lint_options *lint, struct md_deploy_report *rep, json_t **ret_live,
		    struct md_error *err)
{
	struct md_deploy_options opts = {.dry_run = true, .apply = *apply};
	*ret_live = NULL;
	int r = md_deploy(db, cat, &opts, NULL, rep, err);
	if (r < 0)
		return r;
	return md_liveplan_json(db, cat, rep, lint, ret_live, err);
}

bool md_plan_refusal(int rc)
{
	return rc == MD_E_FAILED_EXISTS || rc == MD_E_NOT_EMPTY || rc == MD_E_CATALOG;
}
