/* drift.c - drift detection (see drift.h): the expected schema from a shadow database, cached
 * by the applied migrations, against the live one. A temporary shadow is always dropped, also
 * when building it failed. */
#include "migrated/clock.h"
#include "migrated/drift.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The folder's migrations that the database records applied, in the folder's order. */
struct applied {
	struct md_migration *items; /* shallow copies; the catalog owns what they point at */
	size_t n;
	char key[MD_CHECKSUM_HEX_LEN + 1];
};

static int collect(struct md_db *db, const struct md_catalog *cat, struct applied *a, json_t *warnings,
		   struct md_error *err)
{
	struct md_history *h = NULL;
	char line[600];
	int r = md_history_load(db, &h, err);
	if (r < 0)
		return r;
	a->items = calloc(cat->n ? cat->n : 1, sizeof *a->items);
	char *keytext = NULL;
	size_t klen = 0;
	FILE *kf = open_memstream(&keytext, &klen);
	if (!a->items || !kf) {
		if (kf)
			fclose(kf);
		free(keytext);
		md_history_free(h);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	fprintf(kf, "migrated-drift-v1\n%s\n%d\n", db->schema, db->server_version_num / 10000);
	for (size_t i = 0; i < h->n && r == 0; i++) {
		const struct md_history_row *row = &h->rows[i];
		if (!row->finished_at || row->rolled_back_at)
			continue;
		const struct md_migration *m = md_catalog_find(cat, row->migration_name);
		if (!m || !m->has_sql) {
			md_error_hint(err, "restore its folder from version control: without it the expected schema "
					   "cannot be built");
			r = md_error_set(err, MD_E_CATALOG, "migration %s is applied but %s", row->migration_name,
					 m ? "its migration.sql is missing"
					   : "its folder is not in the migrations folder");
			break;
		}
		if (strcmp(m->checksum, row->checksum) != 0) {
			snprintf(line, sizeof line,
				 "%s was edited after it was applied: the expected schema uses the file as it is now",
				 m->name);
			json_array_append_new(warnings, json_string(line));
		}
	}
	/* In the folder's (Prisma's) order, each once. */
	for (size_t i = 0; r == 0 && i < cat->n; i++) {
		bool applied = false;
		for (size_t k = 0; k < h->n && !applied; k++)
			applied = h->rows[k].finished_at && !h->rows[k].rolled_back_at &&
				  strcmp(h->rows[k].migration_name, cat->items[i].name) == 0;
		if (!applied)
			continue;
		a->items[a->n++] = cat->items[i];
		fprintf(kf, "%s %s\n", cat->items[i].name, cat->items[i].checksum);
	}
	fclose(kf);
	if (r == 0 && md_sha256_hex(keytext, klen, a->key) < 0)
		r = md_error_set(err, MD_E_INTERNAL, "sha256 failed");
	free(keytext);
	md_history_free(h);
	return r;
}

/* A fingerprint that identifies one server instance and database. */
static int identity(struct md_db *db, char *out, size_t sz, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	int r = md_db_query(
		db,
		"SELECT pg_catalog.current_database() || '/' || coalesce(pg_catalog.inet_server_addr()::text, "
		"'local') || '/' || coalesce(pg_catalog.inet_server_port(), 0) || '/' || "
		"pg_catalog.pg_postmaster_start_time()",
		0, NULL, &res, "identifying the database", err);
	if (r == 0)
		snprintf(out, sz, "%s", PQgetvalue(res, 0, 0));
	return r;
}

/* prefix IDENT suffix, with the identifier quoted. */
static int exec_ident(struct md_db *db, const char *prefix, const char *ident, const char *suffix, const char *what,
		      struct md_error *err)
{
	char *q = PQescapeIdentifier(db->conn, ident, strlen(ident)), *sql = NULL;
	if (!q)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = asprintf(&sql, "%s%s%s", prefix, q, suffix) < 0 ? md_error_set(err, MD_E_NOMEM, "out of memory")
								: md_db_exec(db, sql, what, err);
	PQfreemem(q);
	free(sql);
	return r;
}

/* The expected schema: the applied migrations on a shadow database. */
static int build_expected(struct md_db *live, const char *live_url, const struct applied *a,
			  const struct md_drift_options *o, json_t **ret, const char **ret_from, json_t *warnings,
			  struct md_error *err)
{
	struct md_dburl *u = NULL;
	struct md_db *shadow = NULL;
	char temp[64] = "", id_live[300], id_shadow[300];
	int r = md_dburl_parse(o->shadow_url ? o->shadow_url : live_url, "migrated-drift", o->connect_timeout_s, &u,
			       err);
	if (r < 0)
		return r;
	/* The shadow has the live target schema, so definitions name the same schema. */
	free(u->schema);
	if (!(u->schema = strdup(live->schema))) {
		md_dburl_free(u);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (!o->shadow_url) {
		unsigned char rnd[6];
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd)
			memset(rnd, (int)getpid(), sizeof rnd);
		if (fd >= 0)
			close(fd);
		snprintf(temp, sizeof temp, "migrated_shadow_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
			 rnd[4], rnd[5]);
		/* template0: nothing an administrator added to template1 ends up in the expected schema. */
		r = exec_ident(live, "CREATE DATABASE ", temp, " TEMPLATE template0",
			       "creating a temporary shadow database", err);
		if (r < 0) {
			md_error_prefix(err, MD_E_CONFIG, "cannot create a temporary shadow database: ");
			md_error_hint(err,
				      "set SHADOW_DATABASE_URL to a database migrated may empty, or grant CREATEDB to "
				      "the migration user (Prisma's migrate dev needs the same)");
			md_dburl_free(u);
			return err->code;
		}
		r = md_dburl_set_dbname(u, temp, err);
		*ret_from = "temporary database";
	} else {
		*ret_from = "shadow database";
	}
	if (r == 0)
		r = md_db_open(u, &shadow, err);
	if (r == 0 && o->shadow_url) {
		r = identity(live, id_live, sizeof id_live, err);
		if (r == 0)
			r = identity(shadow, id_shadow, sizeof id_shadow, err);
		if (r == 0 && strcmp(id_live, id_shadow) == 0) {
			md_error_hint(err, "SHADOW_DATABASE_URL must name a database of its own: migrated empties it");
			r = md_error_set(err, MD_E_CONFIG,
					 "SHADOW_DATABASE_URL points at the live database; refusing to use it");
		}
		if (r == 0)
			r = exec_ident(shadow, "DROP SCHEMA IF EXISTS ", shadow->schema, " CASCADE",
				       "emptying the shadow database's schema", err);
		if (r == 0)
			r = exec_ident(shadow, "CREATE SCHEMA ", shadow->schema, "",
				       "emptying the shadow database's schema", err);
	}
	if (r == 0) {
		struct md_catalog sub = {.dir = NULL, .items = a->items, .n = a->n};
		struct md_deploy_report rep = {0};
		struct md_deploy_options dopts = {.apply = o->apply};
		r = md_deploy(shadow, &sub, &dopts, NULL, &rep, err);
		if (r < 0) {
			md_error_hint(err,
				      "a migration that does not apply to an empty database (an extension the shadow "
				      "lacks, data it expects) cannot be replayed: set SHADOW_DATABASE_URL to a "
				      "database where it can");
			md_error_prefix(err, MD_E_MIGRATION, "building the expected schema in the %s: ", *ret_from);
		}
		md_deploy_report_free(&rep);
	}
	if (r == 0)
		r = md_schema_snapshot(shadow, ret, NULL, err);
	md_db_close(shadow);
	md_dburl_free(u);
	if (temp[0]) {
		struct md_error e2 = {0};
		if (exec_ident(live, "DROP DATABASE IF EXISTS ", temp,
			       live->server_version_num >= 130000 ? " WITH (FORCE)" : "",
			       "dropping the temporary shadow database", &e2) < 0) {
			char line[2400];
			snprintf(line, sizeof line, "the temporary database %s could not be dropped: %.2000s", temp,
				 e2.message);
			json_array_append_new(warnings, json_string(line));
			md_log(MD_LOG_WARNING, "drift: %s", line);
		}
	}
	return r;
}

static void cache_path(const struct md_drift_options *o, const struct applied *a, char *out, size_t sz)
{
	snprintf(out, sz, "%s/expected-%s.json", o->cache_dir, a->key);
}

static void save_cache(const struct md_drift_options *o, const struct applied *a, json_t *expected)
{
	char path[4200], tmp[4300];
	if (!o->cache_dir)
		return;
	if (mkdir(o->cache_dir, 0700) < 0 && errno != EEXIST)
		return; /* no cache then: the next check builds it again */
	cache_path(o, a, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.partial", path);
	if (json_dump_file(expected, tmp, JSON_COMPACT | JSON_SORT_KEYS) == 0 && rename(tmp, path) == 0)
		return;
	unlink(tmp);
}

int md_drift_check(struct md_db *db, const char *live_url, const struct md_catalog *cat,
		   const struct md_drift_options *o, json_t **ret, struct md_error *err)
{
	struct applied a = {0};
	json_t *warnings = json_array(), *expected = NULL, *live = NULL;
	const char *from = "cache";
	char path[4200], efp[MD_CHECKSUM_HEX_LEN + 1], lfp[MD_CHECKSUM_HEX_LEN + 1];
	double t0 = md_clock_mono_ms();
	int r = collect(db, cat, &a, warnings, err);

	if (r == 0 && o->cache_dir) {
		cache_path(o, &a, path, sizeof path);
		expected = json_load_file(path, 0, NULL);
	}
	if (r == 0 && !expected) {
		r = build_expected(db, live_url, &a, o, &expected, &from, warnings, err);
		if (r == 0)
			save_cache(o, &a, expected);
	}
	if (r == 0)
		r = md_schema_snapshot(db, &live, lfp, err);
	if (r == 0 && md_schema_fingerprint(expected, efp) < 0)
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r == 0) {
		json_t *diffs = md_schema_diff(expected, live);
		*ret = json_pack("{s:b, s:o, s:s, s:s, s:s, s:I, s:O, s:f}", "drift", json_array_size(diffs) > 0,
				 "differences", diffs, "live_fingerprint", lfp, "expected_fingerprint", efp,
				 "expected_from", from, "applied", (json_int_t)a.n, "warnings", warnings, "duration_ms",
				 md_clock_mono_ms() - t0);
	}
	json_decref(warnings);
	json_decref(expected);
	json_decref(live);
	free(a.items);
	return r;
}
