/* apply.h - runs one migration on the migration connection, in the mode its SQL calls for,
 * with lock_timeout/statement_timeout set, lock timeouts retried, and its `_prisma_migrations`
 * row kept exactly as Prisma keeps it. A transactional migration and the update that marks it
 * finished commit together. The caller (deploy) holds the advisory lock. */
#ifndef MIGRATED_APPLY_H
#define MIGRATED_APPLY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct md_db;
struct md_migration;
struct md_sqlscript;
struct md_error;
struct md_lock_holder;

enum md_apply_mode {
	MD_MODE_TRANSACTION = 0, /* all statements and the finishing update in one transaction */
	MD_MODE_SCRIPT,          /* the file's own BEGIN/COMMIT decide, as Prisma runs it */
	MD_MODE_SINGLE,          /* its only statement cannot run in a transaction block */
	MD_MODE_STEPWISE,        /* statement by statement outside any transaction of ours */
};

struct md_apply_options {
	int lock_timeout_ms;       /* SET lock_timeout for every migration; 0 = none */
	int statement_timeout_ms;  /* SET statement_timeout; 0 = none */
	int lock_retries;          /* further attempts after a lock timeout or deadlock */
	int retry_backoff_ms;      /* first wait before a retry; doubles, plus jitter */
	int advisory_lock_wait_ms; /* how long deploy waits for the migration lock */
	int pipeline_depth;        /* migrations sent a round trip (md_apply_migrations); 1 = one at a time */
};

/* Defaults: lock_timeout 10 s, statement_timeout 0 (none), 3 retries from 1 s, lock wait 10 s,
 * pipeline depth 32. */
void md_apply_options_default(struct md_apply_options *o);
/* md_apply_options_from: the configured values (lock_timeout, statement_timeout, lock_retries,
 * lock_retry_backoff, advisory_lock_timeout). */
struct md_config;
void md_apply_options_from(const struct md_config *cfg, struct md_apply_options *o);

enum md_apply_event_kind {
	MD_EV_PREFLIGHT_DONE,   /* checks passed without the lock; total = migrations to apply */
	MD_EV_LOCKING,          /* about to take the migration lock */
	MD_EV_LOCK_WAIT,        /* the migration lock is busy; holder set */
	MD_EV_LOCKED,           /* the migration lock is held; duration_ms = time to get it */
	MD_EV_RECOVERED,        /* an interrupted transactional migration was recorded rolled back */
	MD_EV_MIGRATION_START,  /* about to apply migration */
	MD_EV_STATEMENT,        /* statement-by-statement progress: statement k of n done */
	MD_EV_RETRY,            /* lock timeout or deadlock: waiting, then attempt+1 */
	MD_EV_MIGRATION_DONE,   /* applied */
	MD_EV_MIGRATION_FAILED, /* failed; see the failure */
};

struct md_apply_event {
	enum md_apply_event_kind kind;
	const char *migration;
	size_t index, total; /* 1-based among the migrations this deploy applies */
	enum md_apply_mode mode;
	const char *mode_reason; /* why that mode ("CREATE INDEX CONCURRENTLY at line 3") */
	double duration_ms;
	size_t statement, statements;        /* progress, for MD_EV_STATEMENT and DONE */
	int attempt;                         /* for MD_EV_RETRY: the attempt about to start (2, 3, ...) */
	int wait_ms;                         /* for MD_EV_RETRY and MD_EV_LOCK_WAIT */
	const char *message;                 /* human text */
	const struct md_lock_holder *holder; /* MD_EV_LOCK_WAIT */
};

struct md_apply_hooks {
	void (*on_event)(void *ctx, const struct md_apply_event *ev);
	void *ctx;
	/* Set (by another thread or a signal handler) to stop: checked between migrations,
	 * statements and retries. To stop a running statement also PQcancel the connection. */
	const volatile sig_atomic_t *cancel;
	/* Set to stop after the running migration (daemon shutdown): checked between migrations
	 * only, so the one that runs is allowed to finish. */
	const volatile sig_atomic_t *stop;
};

struct md_applied {
	char *name; /* owned */
	enum md_apply_mode mode;
	double duration_ms;
	size_t statements;
	int retries;
};

struct md_failure {
	bool present;
	char migration[256];
	enum md_apply_mode mode;
	char sqlstate[6];
	char message[1024]; /* the server's primary message */
	char detail[1024];
	char hint[512];
	char *statement;         /* text of the failing statement; owned; NULL if unknown */
	unsigned line, col;      /* 1-based position in migration.sql; 0 = unknown */
	size_t stmt_no, n_stmts; /* 1-based statement number, 0 = not a statement of the file */
	size_t steps_committed;  /* statements whose effects remain (non-transactional modes) */
	bool nothing_remains;    /* the database holds nothing of this migration */
	bool recorded;           /* the failure is in _prisma_migrations.logs */
	bool connection_lost;
	bool cancelled;
	char invalid_index[256]; /* index a failed CONCURRENTLY build left INVALID, or "" */
	char *logs;              /* the text written to logs; owned */
};

/* md_apply_choose_mode: how a script runs. *ret_reason (static or script-derived, may be NULL)
 * says why for anything but MD_MODE_TRANSACTION; it is written into reason_buf. */
enum md_apply_mode md_apply_choose_mode(const struct md_sqlscript *script, int server_version_num, char *reason_buf,
					size_t reason_sz);
const char *md_apply_mode_name(enum md_apply_mode mode);

/* md_apply_migration: apply m (its script already split). On success fills *ret_ok and returns
 * 0. When the migration fails returns MD_E_MIGRATION (MD_E_CANCELLED when cancelled,
 * MD_E_CONNECT when the connection was lost) and fills *ret_fail; err gets a one-line summary.
 * Other negative codes mean bookkeeping itself failed (err says what). */
int md_apply_migration(struct md_db *db, const struct md_migration *m, const struct md_sqlscript *script,
		       const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index,
		       size_t total, struct md_applied *ret_ok, struct md_failure *ret_fail, struct md_error *err);

/* md_apply_down: run m's down.sql (loaded: m->down_sql; script is its split) the same way, in
 * the mode its statements call for; its end marks every row of m not yet rolled back as
 * rolled back (md_history_roll_back_name), in the same transaction when it runs as one. A
 * failure leaves _prisma_migrations as it was (ret_fail says what remains). Returns as
 * md_apply_migration; err names down.sql. */
int md_apply_down(struct md_db *db, const struct md_migration *m, const struct md_sqlscript *script,
		  const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index, size_t total,
		  struct md_applied *ret_ok, struct md_failure *ret_fail, struct md_error *err);

/* One migration of a pipelined group: the migration and its split script (both borrowed). */
struct md_apply_item {
	const struct md_migration *m;
	const struct md_sqlscript *script;
};

/* md_apply_pipelinable: whether md_apply_migrations can take this script: every mode but a
 * file with its own transactions (SCRIPT), or statement by statement with BEGIN/COMMIT in it. */
bool md_apply_pipelinable(const struct md_sqlscript *script, int server_version_num);

/* md_apply_migrations: apply items[0..n) in order, each exactly as md_apply_migration would
 * (same rows, modes, settings, retries, events, failure records), but sent together in libpq's
 * pipeline mode so that the group costs about one round trip plus one per statement that
 * refuses transaction blocks. Each item must be md_apply_pipelinable. index0 is the 1-based
 * index of items[0] among total. Fills ret_ok[0..*ret_n_applied) (the caller frees their
 * names); the migrations after a failure are never run. Returns 0 when all were applied, else
 * as md_apply_migration for the one that failed (ret_fail, err), or MD_E_CANCELLED with no
 * failure when stopped (cancel or hooks->stop) between two migrations. */
int md_apply_migrations(struct md_db *db, const struct md_apply_item *items, size_t n,
			const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index0,
			size_t total, struct md_applied *ret_ok, size_t *ret_n_applied, struct md_failure *ret_fail,
			struct md_error *err);

void md_failure_clear(struct md_failure *f);

#endif
