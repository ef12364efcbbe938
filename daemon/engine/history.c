/* history.c - reads and writes `_prisma_migrations` (see history.h). Every statement takes
 * its values as parameters; the only text spliced into SQL is the schema name, quoted by
 * PQescapeIdentifier when the connection was opened. */
#include "migrated/history.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* Prisma's statement, byte for byte, but schema-qualified (Prisma relies on search_path). */
static const char create_sql_fmt[] = "CREATE TABLE %s (\n"
				     "    id                      VARCHAR(36) PRIMARY KEY NOT NULL,\n"
				     "    checksum                VARCHAR(64) NOT NULL,\n"
				     "    finished_at             TIMESTAMPTZ,\n"
				     "    migration_name          VARCHAR(255) NOT NULL,\n"
				     "    logs                    TEXT,\n"
				     "    rolled_back_at          TIMESTAMPTZ,\n"
				     "    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
				     "    applied_steps_count     INTEGER NOT NULL DEFAULT 0\n"
				     ");";

/* Every fmt here is one of this file's constant statements with a single %s for the table:
 * the warning about a non-literal format cannot see that. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *fmt_sql(const char *fmt, const char *table)
{
	char *s = NULL;
	if (asprintf(&s, fmt, table) < 0)
		return NULL;
	return s;
}
#pragma GCC diagnostic pop

#define EXISTS_SQL                                                                             \
	"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "   \
	"ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = '_prisma_migrations' " \
	"AND c.relkind IN ('r', 'p'))"

int md_history_exists(struct md_db *db, bool *ret_exists, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *params[1] = {db->schema};
	if (db->history_at_open >= 0) {
		*ret_exists = db->history_at_open == 1;
		db->history_at_open = -1;
		return 0;
	}
	int r = md_db_query(db, EXISTS_SQL, 1, params, &res, "looking for _prisma_migrations", err);
	if (r < 0)
		return r;
	*ret_exists = PQgetvalue(res, 0, 0)[0] == 't';
	return 0;
}

int md_history_count_user_tables(struct md_db *db, long *ret_count, char *ret_example, size_t examplesz,
				 struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *params[1] = {db->schema};
	int r = md_db_query(db,
			    "SELECT count(*), min(c.relname) FROM pg_catalog.pg_class c "
			    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			    "WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> '_prisma_migrations' "
			    "AND lower(c.relname) NOT IN ('spatial_ref_sys', 'geometry_columns', "
			    "'geography_columns', 'raster_columns', 'raster_overviews')",
			    1, params, &res, "checking whether the schema is empty", err);
	if (r < 0)
		return r;
	*ret_count = atol(PQgetvalue(res, 0, 0));
	if (ret_example)
		snprintf(ret_example, examplesz, "%s", PQgetvalue(res, 0, 1));
	return 0;
}

int md_history_create(struct md_db *db, struct md_error *err)
{
	_cleanup_free_ char *create = fmt_sql(create_sql_fmt, db->history_table);
	_cleanup_free_ char *schema = NULL;
	int r;

	if (!create || asprintf(&schema, "CREATE SCHEMA IF NOT EXISTS %s", db->schema_ident) < 0)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	r = md_db_exec(db, "SET client_min_messages = warning", "setting client_min_messages", err);
	if (r >= 0 && strcmp(db->schema, "public") != 0)
		r = md_db_exec(db, schema, "creating the schema", err);
	if (r >= 0)
		r = md_db_exec(db, create, "creating _prisma_migrations", err);
	if (r >= 0)
		r = md_db_exec(db, "RESET client_min_messages", "resetting client_min_messages", err);
	return r;
}

/* Binary timestamptz: microseconds since 2000-01-01 00:00:00 UTC, big-endian. */
static int64_t be64(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return (int64_t)v;
}

static int32_t be32(const char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = (v << 8) | (unsigned char)p[i];
	return (int32_t)v;
}

#define PG_EPOCH_UNIX_US INT64_C(946684800000000)
#define ISO_LEN          28 /* "2024-01-01T00:00:00.000000Z" + NUL */

/* "2024-01-01T00:00:00.123456Z" into out; *ret_unix_us gets microseconds since 1970. */
static const char *iso_from_binary(const char *v, char *out, int64_t *ret_unix_us)
{
	int64_t us = be64(v) + PG_EPOCH_UNIX_US;
	time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	int frac = (int)(us - (int64_t)secs * 1000000);
	struct tm tm;
	char date[24];
	gmtime_r(&secs, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, ISO_LEN, "%.19s.%06dZ", date, frac);
	*ret_unix_us = us;
	return out;
}

int md_history_load(struct md_db *db, struct md_history **ret, struct md_error *err)
{
	struct md_history *h;
	_cleanup_free_ char *sql = NULL;
	bool exists, unfinished = false;
	int r;

	h = calloc(1, sizeof *h);
	/* Binary results: timestamps arrive as integers whatever the session's TimeZone and
	 * DateStyle (which must stay as the migrations expect them), and the server skips
	 * formatting 30,000 values for a 10,000-migration history. */
	sql = fmt_sql("SELECT id, checksum, migration_name, logs, started_at, finished_at, rolled_back_at, "
		      "applied_steps_count FROM %s ORDER BY started_at ASC",
		      db->history_table);
	if (!h || !sql) {
		free(h);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	r = md_history_exists(db, &exists, err);
	if (r < 0) {
		md_history_free(h);
		return r;
	}
	h->exists = exists;
	if (!exists) {
		*ret = h;
		return 0;
	}
	h->res = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 1);
	if (!h->res || PQresultStatus(h->res) != PGRES_TUPLES_OK) {
		r = md_db_error_from_result(db->conn, h->res, "reading _prisma_migrations", err);
		md_history_free(h);
		return r;
	}
	h->n = (size_t)PQntuples(h->res);
	h->rows = calloc(h->n ? h->n : 1, sizeof *h->rows);
	h->times = malloc((h->n ? h->n : 1) * 3 * ISO_LEN);
	if (!h->rows || !h->times) {
		md_history_free(h);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < h->n; i++) {
		struct md_history_row *row = &h->rows[i];
		char *t = h->times + i * 3 * ISO_LEN;
		int k = (int)i;
		row->id = PQgetvalue(h->res, k, 0);
		row->checksum = PQgetvalue(h->res, k, 1);
		row->migration_name = PQgetvalue(h->res, k, 2);
		row->logs = PQgetisnull(h->res, k, 3) ? NULL : PQgetvalue(h->res, k, 3);
		row->started_at = iso_from_binary(PQgetvalue(h->res, k, 4), t, &row->started_us);
		row->finished_at = PQgetisnull(h->res, k, 5)
					   ? NULL
					   : iso_from_binary(PQgetvalue(h->res, k, 5), t + ISO_LEN, &row->finished_us);
		row->rolled_back_at =
			PQgetisnull(h->res, k, 6)
				? NULL
				: iso_from_binary(PQgetvalue(h->res, k, 6), t + 2 * ISO_LEN, &row->rolled_back_us);
		row->applied_steps_count = be32(PQgetvalue(h->res, k, 7));
		row->duration_ms = row->finished_at ? (double)(row->finished_us - row->started_us) / 1000.0 : -1;
		unfinished |= !row->finished_at && !row->rolled_back_at;
	}
	/* An unfinished row is failed, or running in another session: the lock holder tells. */
	if (unfinished && (r = md_lock_find_holder(db, &h->holder, err)) < 0) {
		md_history_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void md_history_free(struct md_history *h)
{
	if (!h)
		return;
	if (h->res)
		PQclear(h->res);
	free(h->rows);
	free(h->times);
	free(h);
}

void md_history_new_id(char out[MD_HISTORY_ID_LEN + 1])
{
	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

/* The last group of a marked id: "migr" and a two-letter tag per writer. 74 random bits remain,
 * and a random v4 id from Prisma matches version 8 and these 48 bits with odds of 2^-52. */
static const struct {
	enum md_row_writer writer;
	char tag[3];
	const char *name;
} writers[] = {
	{MD_WRITER_ATOMIC, "tx", "migrated-transaction"},
	{MD_WRITER_SCRIPT, "sc", "migrated-own-transactions"},
	{MD_WRITER_SINGLE, "s1", "migrated-single-statement"},
	{MD_WRITER_STEPWISE, "sw", "migrated-statement-by-statement"},
};

void md_history_new_marked_id(char out[MD_HISTORY_ID_LEN + 1], enum md_row_writer writer)
{
	uuid_t u;
	const char *tag = NULL;
	for (size_t i = 0; i < MD_ARRAY_SIZE(writers); i++)
		if (writers[i].writer == writer)
			tag = writers[i].tag;
	uuid_generate_random(u);
	if (!tag) {
		uuid_unparse_lower(u, out);
		return;
	}
	u[6] = (unsigned char)(0x80 | (u[6] & 0x0f)); /* version 8: custom */
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3f)); /* RFC 9562 variant */
	memcpy(u + 10, "migr", 4);
	u[14] = (unsigned char)tag[0];
	u[15] = (unsigned char)tag[1];
	uuid_unparse_lower(u, out);
}

enum md_row_writer md_history_row_writer(const char *id)
{
	char tag[5];
	/* xxxxxxxx-xxxx-8xxx-[89ab]xxx-6d696772TTTT */
	if (!id || strlen(id) != MD_HISTORY_ID_LEN || id[14] != '8' || strncmp(id + 24, "6d696772", 8) != 0)
		return MD_WRITER_OTHER;
	for (size_t i = 0; i < MD_ARRAY_SIZE(writers); i++) {
		snprintf(tag, sizeof tag, "%02x%02x", (unsigned char)writers[i].tag[0],
			 (unsigned char)writers[i].tag[1]);
		if (strcmp(id + 32, tag) == 0)
			return writers[i].writer;
	}
	return MD_WRITER_OTHER;
}

const char *md_row_writer_name(enum md_row_writer w)
{
	for (size_t i = 0; i < MD_ARRAY_SIZE(writers); i++)
		if (writers[i].writer == w)
			return writers[i].name;
	return "other";
}

static int exec_params(struct md_db *db, const char *fmt, int n, const char *const *params, const char *what,
		       struct md_error *err)
{
	_cleanup_free_ char *sql = fmt_sql(fmt, db->history_table);
	_cleanup_pgresult_ PGresult *res = NULL;
	int r;

	if (!sql)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	r = md_db_query(db, sql, n, params, &res, what, err);
	if (r < 0)
		return r;
	return atoi(PQcmdTuples(res));
}

int md_history_mark_failed(struct md_db *db, const char *id, const char *logs, int applied_steps, struct md_error *err)
{
	char steps[16];
	const char *p[3] = {logs, steps, id};
	snprintf(steps, sizeof steps, "%d", applied_steps);
	int r = exec_params(db, "UPDATE %s SET logs = $1, applied_steps_count = $2::int WHERE id = $3", 3, p,
			    "recording the failure in _prisma_migrations", err);
	return r < 0 ? r : 0;
}

int md_history_mark_rolled_back(struct md_db *db, const char *id, const char *note, struct md_error *err)
{
	const char *p[2] = {id, note};
	int r = exec_params(
		db,
		"UPDATE %s SET rolled_back_at = clock_timestamp(), "
		"logs = CASE WHEN $2::text IS NULL THEN logs ELSE concat_ws(E'\\n', nullif(logs, ''), $2::text) END "
		"WHERE id = $1",
		2, p, "marking a migration rolled back", err);
	return r < 0 ? r : 0;
}

#define SET_STEPS_SQL    "UPDATE %s SET applied_steps_count = $1::int WHERE id = $2"
#define FINISH_STEPS_SQL "UPDATE %s SET finished_at = clock_timestamp(), applied_steps_count = $1::int WHERE id = $2"
#define RETURNING_MS     "RETURNING (extract(epoch FROM finished_at - started_at) * 1000)::float8"

int md_history_set_steps(struct md_db *db, const char *id, int steps, struct md_error *err)
{
	char s[16];
	const char *p[2] = {s, id};
	snprintf(s, sizeof s, "%d", steps);
	int r = exec_params(db, SET_STEPS_SQL, 2, p, "recording progress in _prisma_migrations", err);
	return r < 0 ? r : 0;
}

int md_history_mark_finished(struct md_db *db, const char *id, int steps, struct md_error *err)
{
	char s[16];
	const char *p[2] = {s, id};
	snprintf(s, sizeof s, "%d", steps);
	int r = exec_params(db, FINISH_STEPS_SQL, 2, p, "recording the migration as finished", err);
	return r < 0 ? r : 0;
}

int md_history_resolve_applied(struct md_db *db, const char *name, const char *checksum, struct md_error *err)
{
	char id[MD_HISTORY_ID_LEN + 1];
	const char *p1[1] = {name};
	const char *p2[3] = {id, checksum, name};
	int r;

	md_history_new_id(id);
	r = md_db_exec(db, "BEGIN", "starting a transaction", err);
	if (r < 0)
		return r;
	r = exec_params(db,
			"UPDATE %s SET rolled_back_at = clock_timestamp() "
			"WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
			1, p1, "marking failed rows rolled back", err);
	if (r >= 0)
		r = exec_params(db,
				"INSERT INTO %s (id, checksum, logs, started_at, finished_at, migration_name) "
				"VALUES ($1, $2, '', now(), now(), $3)",
				3, p2, "recording the migration as applied", err);
	if (r < 0) {
		struct md_error ignored;
		md_db_exec(db, "ROLLBACK", "rolling back", &ignored);
		return r;
	}
	return md_db_exec(db, "COMMIT", "committing", err);
}

int md_history_resolve_rolled_back(struct md_db *db, const char *name, struct md_error *err)
{
	const char *p[1] = {name};
	return exec_params(db,
			   "UPDATE %s SET rolled_back_at = clock_timestamp() "
			   "WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL",
			   1, p, "marking the migration rolled back", err);
}

int md_history_roll_back_name(struct md_db *db, const char *name, struct md_error *err)
{
	const char *p[1] = {name};
	return exec_params(db,
			   "UPDATE %s SET rolled_back_at = clock_timestamp() "
			   "WHERE migration_name = $1 AND rolled_back_at IS NULL",
			   1, p, "recording the migration rolled back", err);
}

char *md_history_sql(const struct md_db *db, enum md_history_sql_kind kind)
{
	switch (kind) {
	case MD_HSQL_INSERT_STARTED:
		return fmt_sql("INSERT INTO %s (id, checksum, started_at, migration_name) "
			       "VALUES ($1, $2, clock_timestamp(), $3)",
			       db->history_table);
	case MD_HSQL_FINISH:
		return fmt_sql("UPDATE %s SET finished_at = clock_timestamp(), "
			       "applied_steps_count = applied_steps_count + 1 WHERE id = $1",
			       db->history_table);
	case MD_HSQL_ROLL_BACK_NAME:
		return fmt_sql("UPDATE %s SET rolled_back_at = clock_timestamp() "
			       "WHERE migration_name = $1 AND rolled_back_at IS NULL",
			       db->history_table);
	case MD_HSQL_FINISH_TIMED:
		return fmt_sql("UPDATE %s SET finished_at = clock_timestamp(), "
			       "applied_steps_count = applied_steps_count + 1 WHERE id = $1 " RETURNING_MS,
			       db->history_table);
	case MD_HSQL_SET_STEPS: return fmt_sql(SET_STEPS_SQL, db->history_table);
	case MD_HSQL_FINISH_STEPS: return fmt_sql(FINISH_STEPS_SQL " " RETURNING_MS, db->history_table);
	}
	return NULL;
}
