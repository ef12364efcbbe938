/* history.h - Prisma's `_prisma_migrations` table: created with Prisma's exact DDL, read in
 * Prisma's order (started_at), and written row by row with Prisma's semantics (uuid v4 ids,
 * started/finished/rolled-back timestamps, logs, applied_steps_count). Timestamps come from
 * the server clock (clock_timestamp()), so every row agrees with itself even when the client
 * clock is off. */
#ifndef MIGRATED_HISTORY_H
#define MIGRATED_HISTORY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrated/advisory_lock.h"

struct md_db;
struct md_error;

#define MD_HISTORY_ID_LEN 36

/* Who started a row, and how, read from its id. Prisma writes random UUID v4 ids and never
 * looks inside them; migrated writes RFC 9562 version-8 UUIDs whose last group is "migr" plus a
 * two-letter mode tag ("6d696772" "7478" = "migr" "tx"), so a row tells later readers whether
 * migrated ran it in one transaction. Prisma 6.19 and 7.x read such rows like their own (the
 * id is an opaque VARCHAR(36) to them; proved in tests/integration/test_unfinished.c). */
enum md_row_writer {
	MD_WRITER_OTHER = 0, /* Prisma, another tool, or migrated before rows were marked */
	MD_WRITER_ATOMIC,    /* migrated, the file and its finishing update in one transaction */
	MD_WRITER_SCRIPT,    /* migrated, the file's own BEGIN/COMMIT */
	MD_WRITER_SINGLE,    /* migrated, one statement that cannot run in a transaction block */
	MD_WRITER_STEPWISE,  /* migrated, statement by statement; applied_steps_count exact */
};

struct md_history_row {
	const char *id; /* borrowed from the result */
	const char *checksum;
	const char *migration_name;
	const char *logs;           /* NULL when SQL NULL */
	const char *started_at;     /* ISO 8601 UTC, "2024-01-01T00:00:00.000000Z" */
	const char *finished_at;    /* NULL when unfinished */
	const char *rolled_back_at; /* NULL when not rolled back */
	int applied_steps_count;
	double duration_ms; /* finished - started, or -1 */
	int64_t started_us; /* the timestamps as microseconds since 1970 (0 when NULL) */
	int64_t finished_us;
	int64_t rolled_back_us;
};

struct md_history {
	bool exists; /* the table is there */
	/* Who held the migration lock when the history was read (another session than the
	 * reader's); looked up only when some row is unfinished, since that is when it matters. */
	struct md_lock_holder holder;
	struct md_history_row *rows; /* in started_at order; owned */
	size_t n;
	PGresult *res; /* owns the strings the rows point at */
	char *times;   /* owns the formatted timestamps */
};

/* md_history_exists: whether <schema>._prisma_migrations exists (the first call on a connection
 * answers from what md_db_open read; later calls ask). */
int md_history_exists(struct md_db *db, bool *ret_exists, struct md_error *err);
/* md_history_count_user_tables: ordinary tables in the schema other than PostGIS's, the test
 * Prisma uses for "schema not empty" (P3005). */
int md_history_count_user_tables(struct md_db *db, long *ret_count, char *ret_example, size_t examplesz,
				 struct md_error *err);
/* md_history_create: CREATE TABLE with Prisma's DDL (and the schema when missing). */
int md_history_create(struct md_db *db, struct md_error *err);
/* md_history_load: all rows (an empty history with exists=false when the table is absent).
 * The first call on a connection costs one round trip (md_history_exists answers from the
 * connection's first query), later ones two. Free with md_history_free. */
int md_history_load(struct md_db *db, struct md_history **ret, struct md_error *err);
void md_history_free(struct md_history *h);

/* md_history_new_id: a random UUID v4 in Prisma's text form (what Prisma writes; used where the
 * row is finished at once, as by resolve). */
void md_history_new_id(char out[MD_HISTORY_ID_LEN + 1]);
/* md_history_new_marked_id: a random id that records writer (not MD_WRITER_OTHER) in its last
 * group; see enum md_row_writer. */
void md_history_new_marked_id(char out[MD_HISTORY_ID_LEN + 1], enum md_row_writer writer);
/* md_history_row_writer: the writer an id records (MD_WRITER_OTHER for any id not ours). */
enum md_row_writer md_history_row_writer(const char *id);
/* md_row_writer_name: "other", "migrated-transaction", "migrated-own-transactions", ... */
const char *md_row_writer_name(enum md_row_writer w);
/* md_history_mark_failed: set logs (and applied_steps_count) on a row that failed. */
int md_history_mark_failed(struct md_db *db, const char *id, const char *logs, int applied_steps, struct md_error *err);
/* md_history_mark_rolled_back: rolled_back_at = now on one row; when note is not NULL it is
 * appended to the row's logs (why migrated did this). */
int md_history_mark_rolled_back(struct md_db *db, const char *id, const char *note, struct md_error *err);
/* md_history_set_steps: applied_steps_count = steps (statement-by-statement migrations). */
int md_history_set_steps(struct md_db *db, const char *id, int steps, struct md_error *err);
/* md_history_mark_finished: finished_at = now, applied_steps_count = steps. */
int md_history_mark_finished(struct md_db *db, const char *id, int steps, struct md_error *err);
/* md_history_resolve_applied: in one transaction, mark the failed rows of name rolled back
 * and insert the row `prisma migrate resolve --applied` inserts (finished_at = started_at,
 * logs '', applied_steps_count 0). */
int md_history_resolve_applied(struct md_db *db, const char *name, const char *checksum, struct md_error *err);
/* md_history_resolve_rolled_back: rolled_back_at = now on every failed row of name; returns
 * the number of rows changed. */
int md_history_resolve_rolled_back(struct md_db *db, const char *name, struct md_error *err);

/* md_history_roll_back_name: rolled_back_at = now on every row of name not rolled back yet
 * (finished or failed): what a down migration leaves, so that deploy applies name again, as
 * after `prisma migrate resolve --rolled-back`. Returns the rows changed. */
int md_history_roll_back_name(struct md_db *db, const char *name, struct md_error *err);

/* Statements the apply module sends inside its own pipelined batches. */
enum md_history_sql_kind {
	MD_HSQL_INSERT_STARTED, /* $1 id, $2 checksum, $3 migration_name: a started row */
	MD_HSQL_FINISH,         /* $1 id: finished_at = now, applied_steps_count + 1 */
	MD_HSQL_ROLL_BACK_NAME, /* $1 migration_name: rolled_back_at = now on its rows not rolled back */
	/* $1 id: as MD_HSQL_FINISH, returning the row's duration in ms (finished_at - started_at,
	 * the server's clock: a pipelined batch has no client-side time per migration) */
	MD_HSQL_FINISH_TIMED,
	MD_HSQL_SET_STEPS,    /* $1 steps, $2 id: applied_steps_count = $1 */
	MD_HSQL_FINISH_STEPS, /* $1 steps, $2 id: finished_at = now, applied_steps_count = $1; returns ms */
};
/* md_history_sql: the statement text (caller frees), or NULL when out of memory. */
char *md_history_sql(const struct md_db *db, enum md_history_sql_kind kind);

#endif
