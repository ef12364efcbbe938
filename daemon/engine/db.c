/* db.c - opening the migration connection and turning libpq failures into md_error. */
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/macro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int md_db_classify_conn_error(const char *m)
{
	if (!m)
		return MD_CONN_OTHER;
	if (strstr(m, "could not translate host name") || strstr(m, "Name or service not known") ||
	    strstr(m, "Temporary failure in name resolution"))
		return MD_CONN_DNS;
	if (strstr(m, "too many clients") || strstr(m, "remaining connection slots are reserved") ||
	    strstr(m, "too many connections"))
		return MD_CONN_TOO_MANY;
	if (strstr(m, "does not exist") && strstr(m, "database \""))
		return MD_CONN_NO_DATABASE;
	if (strstr(m, "no pg_hba.conf entry") && (strstr(m, "no encryption") || strstr(m, "SSL off")))
		return MD_CONN_SSL;
	if (strstr(m, "SSL") || strstr(m, "ssl") || strstr(m, "certificate") || strstr(m, "GSSAPI"))
		return MD_CONN_SSL;
	if (strstr(m, "password authentication failed") || strstr(m, "no password supplied") ||
	    strstr(m, "authentication failed") || strstr(m, "no pg_hba.conf entry") ||
	    (strstr(m, "role \"") && strstr(m, "does not exist")) || strstr(m, "password is required"))
		return MD_CONN_AUTH;
	if (strstr(m, "timeout expired") || strstr(m, "timed out"))
		return MD_CONN_TIMEOUT;
	if (strstr(m, "Connection refused") || strstr(m, "No such file or directory") ||
	    strstr(m, "Network is unreachable") || strstr(m, "No route to host") ||
	    strstr(m, "Cannot assign requested address"))
		return MD_CONN_REFUSED;
	if (strstr(m, "starting up") || strstr(m, "shutting down") || strstr(m, "in recovery mode") ||
	    strstr(m, "not yet accepting connections"))
		return MD_CONN_STARTING;
	return MD_CONN_OTHER;
}

/* First line of a libpq message, redacted, without "connection to server ... failed: ". */
static void clean_libpq_message(const char *m, char *out, size_t outsz)
{
	char tmp[1024];
	const char *p = m ? m : "unknown error";
	const char *f = strstr(p, "failed: ");

	/* libpq 15: 'connection to server at "h" (addr), port N failed: <reason>' */
	if (f && strncmp(p, "connection to server", 20) == 0)
		p = f + 8;
	snprintf(tmp, sizeof tmp, "%s", p);
	tmp[strcspn(tmp, "\n")] = '\0';
	while (strncmp(tmp, "FATAL:  ", 8) == 0)
		memmove(tmp, tmp + 8, strlen(tmp + 8) + 1);
	md_redact(tmp, out, outsz);
}

static void conn_error(const struct md_dburl *url, const char *libpq_msg, struct md_error *err)
{
	char why[1024], where[640];
	int cls = md_db_classify_conn_error(libpq_msg);
	const char *host = url->host[0] ? url->host : "the default host";
	const char *port = url->port[0] ? url->port : "5432";

	clean_libpq_message(libpq_msg, why, sizeof why);
	snprintf(where, sizeof where, "%s", url->display);
	err->conn_failure = cls;
	switch (cls) {
	case MD_CONN_DNS:
		md_error_prisma(err, "P1001");
		md_error_set(err, MD_E_CONNECT, "cannot reach the database %s: host name \"%s\" does not resolve (%s)",
			     where, host, why);
		md_error_hint(err,
			      "check the host in DATABASE_URL/DIRECT_URL; `getent hosts %s` must resolve it from this "
			      "machine",
			      host);
		break;
	case MD_CONN_REFUSED:
		md_error_prisma(err, "P1001");
		md_error_set(
			err, MD_E_CONNECT,
			"cannot reach the database %s: connection refused, nothing accepts connections at %s:%s (%s)",
			where, host, port, why);
		md_error_hint(err,
			      "check that PostgreSQL is running and listening there (`pg_isready -h %s -p %s`) and "
			      "that the host and port in the URL are right",
			      host, port);
		break;
	case MD_CONN_TIMEOUT:
		md_error_prisma(err, "P1001");
		md_error_set(err, MD_E_CONNECT, "cannot reach the database %s: connection timed out (%s)", where, why);
		md_error_hint(
			err,
			"the server did not answer in time: check firewalls, security groups and VPN; a serverless "
			"database (Neon) may be waking up, so retry, or raise connect_timeout in the URL");
		break;
	case MD_CONN_AUTH:
		md_error_prisma(err, "P1000");
		md_error_set(err, MD_E_CONNECT, "the database %s refused the credentials: %s", where, why);
		md_error_hint(err, "check the user and password in the URL (or the credential file it comes from) and "
				   "the server's pg_hba.conf; the password is never shown");
		break;
	case MD_CONN_SSL:
		md_error_prisma(err, "P1011");
		md_error_set(err, MD_E_CONNECT, "TLS problem connecting to %s: %s", where, why);
		md_error_hint(err,
			      "if the server requires TLS add ?sslmode=require to the URL (Neon and most hosted "
			      "databases do); if TLS fails, check sslmode, sslrootcert and the server certificate");
		break;
	case MD_CONN_TOO_MANY:
		md_error_prisma(err, "P2037");
		md_error_set(err, MD_E_CONNECT, "the database %s has no free connection slots: %s", where, why);
		md_error_hint(err,
			      "close idle connections (SELECT pid, application_name, state FROM pg_stat_activity), "
			      "give the application a pooled URL, and keep DIRECT_URL for migrations");
		break;
	case MD_CONN_NO_DATABASE:
		md_error_prisma(err, "P1003");
		md_error_set(err, MD_E_CONNECT, "the database \"%s\" does not exist on %s:%s: %s", url->dbname, host,
			     port, why);
		md_error_hint(err, "create it (createdb) or fix the database name at the end of the URL");
		break;
	case MD_CONN_STARTING:
		md_error_prisma(err, "P1001");
		md_error_set(err, MD_E_CONNECT, "the database %s is not accepting connections yet: %s", where, why);
		md_error_hint(err, "the server is starting, stopping or recovering: retry in a moment");
		break;
	default:
		md_error_prisma(err, "P1001");
		md_error_set(err, MD_E_CONNECT, "cannot connect to the database %s: %s", where, why);
		break;
	}
}

static int read_server_facts(struct md_db *db, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	char *q;
	int r;

	const char *params[1] = {db->schema};
	r = md_db_query(db,
			"SELECT current_setting('server_version_num')::int, current_setting('server_version'), "
			"pg_is_in_recovery(), pg_backend_pid(), EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
			"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
			"c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p'))",
			1, params, &res, "reading the server version", err);
	if (r < 0)
		return r;
	db->history_at_open = PQgetvalue(res, 0, 4)[0] == 't';
	db->server_version_num = atoi(PQgetvalue(res, 0, 0));
	snprintf(db->server_version, sizeof db->server_version, "%s", PQgetvalue(res, 0, 1));
	db->in_recovery = PQgetvalue(res, 0, 2)[0] == 't';
	/* PostgreSQL announces its own pid at startup; a pooler answers the startup itself with a
	 * made-up key (measured with PgBouncer 1.18: a random number, in both pool modes). */
	db->pooled = PQbackendPID(db->conn) != atoi(PQgetvalue(res, 0, 3));
	q = PQescapeIdentifier(db->conn, db->schema, strlen(db->schema));
	if (!q)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	db->schema_ident = strdup(q);
	PQfreemem(q);
	if (!db->schema_ident || asprintf(&db->history_table, "%s.\"_prisma_migrations\"", db->schema_ident) < 0) {
		db->history_table = NULL;
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	return 0;
}

/* Notices (identifier truncation, IF NOT EXISTS skips) are expected during migrations; they
 * go to the debug log rather than into the middle of the CLI's output. */
static void notice_to_log(void *arg, const char *message)
{
	char line[1024];
	snprintf(line, sizeof line, "%s", message);
	line[strcspn(line, "\n")] = '\0';
	md_log(MD_LOG_DEBUG, "server: %s", line);
}

int md_db_open(const struct md_dburl *url, struct md_db **ret, struct md_error *err)
{
	struct md_db *db = calloc(1, sizeof *db);
	int r;

	if (!db)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	db->history_at_open = -1;
	db->schema = strdup(url->schema);
	snprintf(db->display, sizeof db->display, "%s", url->display);
	db->conn = PQconnectdbParams(url->keywords, url->values, 0);
	if (!db->schema || !db->conn) {
		md_db_close(db);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		conn_error(url, PQerrorMessage(db->conn), err);
		md_db_close(db);
		return MD_E_CONNECT;
	}
	PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
	r = read_server_facts(db, err);
	if (r < 0) {
		md_db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

int md_db_require_session(const struct md_db *db, const char *which, struct md_error *err)
{
	if (!db->pooled)
		return 0;
	md_error_hint(err, "set DIRECT_URL to a direct (non-pooled) connection for migrations, as Prisma's "
			   "directUrl; a pooler in session mode keeps sessions, so DIRECT_URL may then be this URL");
	return md_error_set(err, MD_E_CONFIG,
			    "%s %s goes through a connection pooler (PgBouncer or similar: the server process that "
			    "answers is not the one the connection was opened with): migrations need a session of "
			    "their own for the advisory lock",
			    which, db->display);
}

void md_db_close(struct md_db *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	free(db->schema);
	free(db->schema_ident);
	free(db->history_table);
	free(db);
}

bool md_db_alive(const struct md_db *db)
{
	return db && db->conn && PQstatus(db->conn) == CONNECTION_OK;
}

int md_db_error_from_result(PGconn *conn, const PGresult *res, const char *what, struct md_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	char clean[1024];
	int code = MD_E_DB;

	if (!msg) {
		clean_libpq_message(conn ? PQerrorMessage(conn) : "no connection", clean, sizeof clean);
		msg = clean;
	}
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		code = MD_E_CONNECT;
		if (err)
			err->conn_failure = MD_CONN_OTHER;
	}
	if (err)
		snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state ? state : "");
	md_error_set(err, code, "%s failed: %s%s%s%s%s%s", what, msg, detail ? " (" : "", detail ? detail : "",
		     detail ? ")" : "", hint ? " Hint: " : "", hint ? hint : "");
	if (err)
		md_redact_inplace(err->message);
	return code;
}

int md_db_exec(struct md_db *db, const char *sql, const char *what, struct md_error *err)
{
	PGresult *res = PQexec(db->conn, sql);
	int r = 0;

	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
		r = md_db_error_from_result(db->conn, res, what, err);
	PQclear(res);
	return r;
}

int md_db_query(struct md_db *db, const char *sql, int nparams, const char *const *params, PGresult **ret,
		const char *what, struct md_error *err)
{
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (!res || (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)) {
		int r = md_db_error_from_result(db->conn, res, what, err);
		PQclear(res);
		return r;
	}
	*ret = res;
	return 0;
}
