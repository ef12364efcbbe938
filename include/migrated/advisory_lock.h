/* advisory_lock.h - the migration lock every Prisma-compatible tool takes: a session-level
 * pg_advisory_lock(72707369) on the connection that runs the migrations. Waits a bounded time
 * (server-side lock_timeout, so the lock is taken the moment it is free) and, when the wait
 * ends, says who holds it: pid, application, user, client, state and query. */
#ifndef MIGRATED_ADVISORY_LOCK_H
#define MIGRATED_ADVISORY_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_db;
struct md_error;

#define MD_PRISMA_LOCK_KEY 72707369

struct md_lock_holder {
	bool found;
	int pid;
	char application_name[128];
	char user[64];
	char client[64];      /* client address, or "local socket" */
	char state[32];       /* pg_stat_activity.state */
	char query[320];      /* current or last query, truncated, redacted */
	double session_age_s; /* since the holder connected */
	double state_age_s;   /* since its state last changed */
	int64_t since_us;     /* when the holder connected, server clock, microseconds since 1970 */
	char since[32];       /* the same as "2024-01-01T00:00:00.000000Z" */
};

typedef void (*md_lock_wait_fn)(void *ctx, const struct md_lock_holder *holder, int wait_ms);

/* md_lock_acquire: take the lock, waiting up to wait_ms (0: do not wait). on_wait (may be
 * NULL) is called once when the lock is busy, before waiting. Errors: MD_E_LOCK_TIMEOUT with
 * prisma_code P1002 and the holder in the message; MD_E_CANCELLED when the wait was cancelled
 * (PQcancel from another thread); MD_E_DB/MD_E_CONNECT. */
int md_lock_acquire(struct md_db *db, int wait_ms, md_lock_wait_fn on_wait, void *ctx, struct md_error *err);
/* md_lock_release: release it (a closed connection releases it too). */
int md_lock_release(struct md_db *db, struct md_error *err);
/* md_lock_find_holder: who holds the lock in this database now (holder->found false: nobody). */
int md_lock_find_holder(struct md_db *db, struct md_lock_holder *holder, struct md_error *err);
/* md_lock_holder_describe: one line for messages: "pid 42 (application "x", ...)". */
void md_lock_holder_describe(const struct md_lock_holder *h, char *out, size_t outsz);

#endif
