/* restore.c - restoring a backup in one transaction (see restore.h). pg_restore only writes
 * SQL here (to a pipe); psql runs it, preceded by the clearing of the migration schema, inside
 * the single transaction psql opens for all of its -c and -f arguments. */
#include "migrated/clock.h"
#include "migrated/restore.h"
#include "migrated/backup.h"
#include "migrated/child.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/pgtool.h"
#include "migrated/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The statements that empty schema `lit` (a quoted literal) of everything but extension
 * members, which go with their extension. CASCADE: dependants elsewhere are dropped too, and
 * come back with the archive when it holds them. */
static char *clearing_sql(const char *lit, int lock_timeout_ms)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	static const char rest[] =
		"BEGIN\n"
		"  IF s IS NULL THEN RETURN; END IF;\n"
		"  FOR r IN SELECT c.oid::regclass::text AS name, c.relkind FROM pg_catalog.pg_class c\n"
		"    WHERE c.relnamespace = s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')\n"
		"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
		"'pg_catalog.pg_class'::regclass\n"
		"        AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))\n"
		"  LOOP\n"
		"    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW'\n"
		"      WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'\n"
		"      ELSE 'TABLE' END, r.name);\n"
		"  END LOOP;\n"
		"  FOR r IN SELECT p.oid::regprocedure::text AS sig, p.prokind FROM pg_catalog.pg_proc p\n"
		"    WHERE p.pronamespace = s AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d\n"
		"      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')\n"
		"  LOOP\n"
		"    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.prokind WHEN 'p' THEN 'PROCEDURE'\n"
		"      WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.sig);\n"
		"  END LOOP;\n"
		"  FOR r IN SELECT t.oid::regtype::text AS name, t.typtype FROM pg_catalog.pg_type t\n"
		"    WHERE t.typnamespace = s AND t.typtype IN ('e', 'd', 'r', 'c')\n"
		"      AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) "
		"= "
		"'c')\n"
		"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
		"'pg_catalog.pg_type'::regclass\n"
		"        AND d.objid = t.oid AND d.deptype = 'e')\n"
		"  LOOP\n"
		"    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE "
		"'TYPE' END, r.name);\n"
		"  END LOOP;\n"
		"  FOR r IN SELECT e.extname FROM pg_catalog.pg_extension e WHERE e.extnamespace = s LOOP\n"
		"    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);\n"
		"  END LOOP;\n"
		"END\n"
		"$migrated_restore$;";
	md_strbuf_printf(&sb, "SET lock_timeout = '%dms';\nDO $migrated_restore$\n", lock_timeout_ms);
	md_strbuf_printf(&sb, "DECLARE s oid := pg_catalog.to_regnamespace(%s); r record;\n", lit);
	md_strbuf_puts(&sb, rest);
	return md_strbuf_steal(&sb);
}

/* psql's or pg_restore's own words: the last lines, without secrets. */
static void quote_stderr(char *out, size_t sz, const char *text)
{
	const char *e = text ? text : "";
	size_t n = strlen(e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		n--;
	size_t skip = n > 700 ? n - 700 : 0;
	snprintf(out, sz, "%.*s", (int)(n - skip), e + skip);
	md_redact_inplace(out);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static int verify_archive(const struct md_backup *b, struct md_error *err)
{
	char sum[MD_CHECKSUM_HEX_LEN + 1];
	unsigned long long size = 0;
	int r = md_sha256_file(b->path, sum, &size, err);
	if (r < 0)
		return r;
	if (strcmp(sum, b->sha256) != 0 || size != b->size_bytes) {
		md_error_hint(err, "restore another backup (`migrated backup --list`, GET /v1/backups); this archive "
				   "was changed or damaged "
				   "after it was written");
		return md_error_set(err, MD_E_IO,
				    "backup %s does not match its record: sha256 %s (%llu bytes), recorded %s (%llu "
				    "bytes); nothing was changed",
				    b->id, sum, size, b->sha256, (unsigned long long)b->size_bytes);
	}
	return 0;
}

static int read_head(struct md_db *db, struct md_restore_report *rep, struct md_error *err)
{
	struct md_history *h = NULL;
	int r = md_history_load(db, &h, err);
	if (r < 0)
		return r;
	rep->head[0] = '\0';
	rep->applied = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].finished_at && !h->rows[i].rolled_back_at) {
			snprintf(rep->head, sizeof rep->head, "%s", h->rows[i].migration_name);
			rep->applied++;
		}
	md_history_free(h);
	return 0;
}

int md_restore_run(const struct md_backup_options *o, struct md_db *db, const char *url, const struct md_backup *b,
		   int lock_timeout_ms, const volatile sig_atomic_t *cancel, struct md_restore_report *rep,
		   struct md_error *err)
{
	struct md_pgtool pgr, psql;
	struct md_dburl *u = NULL;
	_cleanup_free_ char *conninfo = NULL, *pwenv = NULL, *dbarg = NULL, *prelude = NULL;
	char *lit = NULL, why[900];
	struct md_child c[2] = {{0}};
	bool timed_out = false, cancelled = false;
	int major = db->server_version_num / 10000;
	double t0 = md_clock_mono_ms();
	int r;

	memset(rep, 0, sizeof *rep);
	r = verify_archive(b, err);
	rep->verify_ms = md_clock_mono_ms() - t0;
	if (r == 0)
		r = md_pgtool_find("pg_restore", o->pg_restore, major, &pgr, err);
	if (r == 0)
		r = md_pgtool_find("psql", o->psql, 0, &psql, err);
	if (r == 0)
		r = md_dburl_parse(url, "migrated-restore", 0, &u, err);
	if (r == 0)
		r = md_pgtool_conn(u, &conninfo, &pwenv, err);
	md_dburl_free(u);
	if (r < 0)
		return r;
	snprintf(rep->pg_restore_version, sizeof rep->pg_restore_version, "%.31s", pgr.version);
	lit = PQescapeLiteral(db->conn, db->schema, strlen(db->schema));
	if (!lit)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	prelude = clearing_sql(lit, lock_timeout_ms);
	PQfreemem(lit);
	if (!prelude || asprintf(&dbarg, "--dbname=%s", conninfo) < 0)
		return md_error_set(err, MD_E_NOMEM, "out of memory");

	char *restore_argv[] = {pgr.path, "--clean", "--if-exists", "--file=-", (char *)b->path, NULL};
	char *psql_argv[] = {psql.path,
			     "-X",
			     "-q",
			     "--no-password",
			     "-v",
			     "ON_ERROR_STOP=1",
			     "--single-transaction",
			     dbarg,
			     "-c",
			     prelude,
			     "-f",
			     "-",
			     NULL};
	char *env[] = {pwenv, NULL};
	c[0].argv = restore_argv;
	c[1].argv = psql_argv;
	c[1].env = pwenv ? env : NULL;
	/* When pg_restore fails part way, psql must not commit what it got: after its output the
	 * relay ends any COPY in progress and raises an error, and ON_ERROR_STOP rolls back. */
	struct md_child_limits lim = {
		.timeout_ms = o->timeout_ms,
		.capture_bytes = 16 * 1024,
		.cancel = cancel,
		.relay_fail_text = "\n\\.\nDO $migrated$ BEGIN RAISE EXCEPTION 'migrated: pg_restore failed, the "
				   "restore is rolled back'; END $migrated$;\n",
	};
	double t1 = md_clock_mono_ms();
	r = md_child_run(c, 2, &lim, &timed_out, &cancelled, err);
	rep->restore_ms = md_clock_mono_ms() - t1;
	if (r == 0) {
		if (cancelled) {
			r = md_error_set(err, MD_E_CANCELLED,
					 "the restore was cancelled; its transaction was rolled back, nothing changed");
		} else if (timed_out) {
			r = md_error_set(err, MD_E_DB,
					 "the restore did not finish within backup_timeout (%d s); its transaction was "
					 "rolled back, nothing changed",
					 o->timeout_ms / 1000);
		} else if (c[0].exit_code != 0) {
			/* The relay told psql to roll back (see below). */
			quote_stderr(why, sizeof why, c[0].err);
			r = md_error_set(err, MD_E_DB, "pg_restore failed (exit %d), the restore was rolled back: %s",
					 c[0].exit_code, why[0] ? why : "no message");
		} else if (c[1].exit_code != 0) {
			quote_stderr(why, sizeof why, c[1].err);
			if (strstr(why, "lock timeout") || strstr(why, "could not obtain lock"))
				md_error_hint(err,
					      "the application's sessions hold locks on the tables: stop the "
					      "application (the runbook's first step for a restore) and try again");
			r = md_error_set(err, MD_E_DB, "the restore failed and was rolled back, nothing changed: %s",
					 why[0] ? why : "psql gave no message");
		}
	}
	md_child_clear(&c[0]);
	md_child_clear(&c[1]);
	if (r < 0)
		return r;
	return read_head(db, rep, err);
}
