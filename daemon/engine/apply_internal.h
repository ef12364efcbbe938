/* apply_internal.h - what apply.c (one migration at a time) and apply_pipeline.c (many
 * migrations a round trip) share: the session settings, the run of one migration, the
 * failure bookkeeping and the events. Not a public surface: only those two files include it. */
#ifndef MIGRATED_APPLY_INTERNAL_H
#define MIGRATED_APPLY_INTERNAL_H

#include "migrated/apply.h"
#include "migrated/history.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct md_db;
struct md_migration;
struct md_sqlscript;
struct md_sqlstmt;
struct md_error;

#define NOT_A_STATEMENT ((size_t)-1)

/* search_path, lock_timeout and statement_timeout for every migration, and on PostgreSQL 14+
 * client_connection_check_interval: when migrated dies mid-statement the server notices within
 * a second, rolls the migration back and frees the lock, instead of finishing a long statement
 * for nobody. params[] are $1..$3 of apply_set_sql's statement. */
struct apply_settings {
	char lock_timeout[24], statement_timeout[24];
	const char *params[3];
	bool check_client;
};

/* apply_settings_init: the values for db and o (lock_timeout 0 when no_lock_timeout). */
void apply_settings_init(struct apply_settings *s, const struct md_db *db, const struct md_apply_options *o,
			 bool no_lock_timeout);
/* apply_set_sql: the set_config statement (static text), transaction-local or for the session. */
const char *apply_set_sql(const struct apply_settings *s, bool local);

/* One migration being applied (or one down.sql being run). */
struct apply_run {
	struct md_db *db;
	const struct md_migration *m;
	const struct md_sqlscript *sc;
	const struct md_apply_options *opts;
	const struct md_apply_hooks *hooks;
	const char *id; /* its _prisma_migrations row */
	char **texts;   /* statement texts, NUL-terminated; owned (apply_free_texts) */
	struct md_failure *fail;
	struct md_applied *ok;
	size_t index, total;
	enum md_apply_mode mode;
	const char *reason;
	bool down; /* running down.sql: no row of its own; the end marks the migration rolled back */
};

bool apply_stmt_no_txn(const struct md_sqlstmt *st, int server_version_num);
bool apply_is_concurrently(const struct md_sqlstmt *st);
/* apply_statement_texts: a NUL-terminated copy of each statement of sc (NULL when out of
 * memory); free with apply_free_texts. */
char **apply_statement_texts(const struct md_migration *m, const struct md_sqlscript *sc);
void apply_free_texts(char **texts, size_t n);

bool apply_cancelled(const struct md_apply_hooks *hooks);
void apply_emit(const struct md_apply_hooks *hooks, const struct md_apply_event *ev);
/* Waits ms in slices, returning early on cancel. */
void apply_sleep_cancellable(int ms, const struct md_apply_hooks *hooks);
/* The wait before retry number attempt (1-based): doubling from retry_backoff_ms, capped, jittered. */
int apply_backoff_ms(const struct md_apply_options *o, int attempt);
/* Lock timeout or deadlock: worth another attempt. */
bool apply_retryable(const char *sqlstate);
void apply_emit_retry(struct apply_run *rn, int attempt, int wait, const char *state);
void apply_rollback_quietly(struct md_db *db);

/* apply_fill_failure: f from a server error on statement stmt of sc (or, for NOT_A_STATEMENT,
 * one of ours named by what); res may be NULL (the connection says why). */
void apply_fill_failure(struct md_failure *f, const struct md_migration *m, const struct md_sqlscript *sc, size_t stmt,
			const char *what, PGconn *conn, const PGresult *res);
/* After a failed CREATE INDEX CONCURRENTLY: names the index in f when it was left INVALID. */
void apply_check_invalid_index(struct md_db *db, const struct md_migration *m, const struct md_sqlstmt *st,
			       struct md_failure *f);
/* apply_record_failure: the failure's logs into the row (rolled back instead when a cancel left
 * nothing behind); a bookkeeping error is logged, never returned. */
void apply_record_failure(struct apply_run *rn, struct md_error *err);
/* apply_run_transaction: the migration's transaction (BEGIN, settings, statements, the row
 * finished, COMMIT; its started row already written), retried on lock timeouts from attempt
 * first_attempt (0 for a first run; a pipelined first attempt that failed resumes at 1).
 * Returns 0 or MD_E_MIGRATION/MD_E_CANCELLED/MD_E_CONNECT with rn->fail filled. */
int apply_run_transaction(struct apply_run *rn, int first_attempt);
/* apply_run_stepwise: statements from..n of a SINGLE or STEPWISE migration one by one (the
 * session reset first when from and first_attempt are 0; statements before from committed),
 * statement from starting at attempt first_attempt; then the row finished. Returns as
 * apply_run_transaction; err for bookkeeping errors. */
int apply_run_stepwise(struct apply_run *rn, size_t from, int first_attempt, struct md_error *err);
/* apply_writer: the writer mark of the row id for a mode (unfinished.h reads it back). */
enum md_row_writer apply_writer(enum md_apply_mode mode);
/* apply_conclude: the end of one migration's run whose outcome is r: on a migration failure
 * records it, fills err (P3018) and emits MIGRATION_FAILED; on success fills rn->ok (with
 * duration_ms) and emits MIGRATION_DONE. Returns r, or MD_E_NOMEM. */
int apply_conclude(struct apply_run *rn, int r, double duration_ms, struct md_apply_event *ev, struct md_error *err);

#endif
