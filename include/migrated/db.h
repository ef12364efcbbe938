/* db.h - one libpq connection to the target database, opened for migrations: connection
 * failures classified (DNS, refused, timeout, auth, SSL, too many connections, database
 * missing) with Prisma's P10xx code and the next step, server version and recovery state read
 * once, and query errors turned into struct md_error with SQLSTATE, message and position.
 * Not a pool: the daemon's pool builds on md_db_open. */
#ifndef MIGRATED_DB_H
#define MIGRATED_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct md_dburl;
struct md_error;

struct md_db {
	PGconn *conn;            /* owned */
	char *schema;            /* target schema, unquoted; owned */
	char *schema_ident;      /* schema as a quoted identifier; owned */
	char *history_table;     /* "schema"."_prisma_migrations"; owned */
	int server_version_num;  /* 150018 */
	char server_version[64]; /* "15.18 (Debian 15.18-0+deb12u1)" */
	bool in_recovery;        /* a read-only standby */
	bool pooled;             /* a pooler answered the startup, not PostgreSQL (see md_db_require_session) */
	/* Whether <schema>._prisma_migrations existed when the connection opened (1, 0), asked with
	 * the server facts to save a round trip; -1 once md_history_exists has used it, since only
	 * the first answer may come from there (later ones, under the lock, must be fresh). */
	int history_at_open;
	char display[640]; /* user@host:port/dbname (no password) */
};

/* md_db_open: connect and read the server facts. On failure err->code is MD_E_CONNECT with
 * err->conn_failure set, err->prisma_code P1000/P1001/P1003/P1011 where Prisma has one, and a
 * message that names the target but never the password. */
int md_db_open(const struct md_dburl *url, struct md_db **ret, struct md_error *err);
void md_db_close(struct md_db *db);

/* md_db_require_session: 0, or MD_E_CONFIG with the DIRECT_URL hint when db reached the server
 * through a connection pooler (PgBouncer, or any other that multiplexes sessions), detected on
 * connect whatever the URL says: the backend pid the startup handshake announced
 * (PQbackendPID, from BackendKeyData) is not pg_backend_pid() of the server process that
 * answers. PostgreSQL always sends its own pid there; a pooler must invent the key, since it
 * hands the client a different server connection per transaction (or per session). `which`
 * names the URL for the message. A pooler in session mode would keep the advisory lock, but it
 * cannot be told apart from the client, so it is refused too: DIRECT_URL is the way to say a
 * URL is a session. */
int md_db_require_session(const struct md_db *db, const char *which, struct md_error *err);

/* md_db_classify_conn_error: the class of a libpq connection error message. */
int md_db_classify_conn_error(const char *libpq_message);

/* md_db_error_from_result: fill err from a failed result (or the connection when res is NULL):
 * SQLSTATE, "message (detail) (hint)". Returns MD_E_CONNECT when the connection is gone, else
 * MD_E_DB. `what` says what was being done ("reading _prisma_migrations"). */
int md_db_error_from_result(PGconn *conn, const PGresult *res, const char *what, struct md_error *err);

/* md_db_exec: run a command with no parameters, expecting no rows. */
int md_db_exec(struct md_db *db, const char *sql, const char *what, struct md_error *err);
/* md_db_query: run sql with text parameters; *ret is the successful result (caller PQclear). */
int md_db_query(struct md_db *db, const char *sql, int nparams, const char *const *params, PGresult **ret,
		const char *what, struct md_error *err);
/* md_db_alive: whether the connection is still usable. */
bool md_db_alive(const struct md_db *db);

static inline void md_pgresult_clear(PGresult **r)
{
	if (*r)
		PQclear(*r);
}
#define _cleanup_pgresult_ __attribute__((cleanup(md_pgresult_clear)))

#endif
