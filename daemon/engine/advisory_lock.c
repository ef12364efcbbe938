/* advisory_lock.c - Prisma's migration lock with a bounded wait and a named holder. */
#include "migrated/advisory_lock.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_STR "72707369"

int md_lock_find_holder(struct md_db *db, struct md_lock_holder *h, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	int r;

	memset(h, 0, sizeof *h);
	r = md_db_query(
		db,
		"SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), "
		"coalesce(host(a.client_addr), 'local socket'), coalesce(a.state, ''), "
		"left(coalesce(a.query, ''), 300), "
		"coalesce(extract(epoch FROM now() - a.backend_start), -1), "
		"coalesce(extract(epoch FROM now() - coalesce(a.state_change, a.backend_start)), -1), "
		"coalesce((extract(epoch FROM a.backend_start) * 1000000)::int8, 0), "
		"coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '') "
		"FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = " KEY_STR " AND l.objsubid = 1 "
		"AND l.granted AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = "
		"current_database()) "
		"AND l.pid <> pg_backend_pid() LIMIT 1",
		0, NULL, &res, "looking up the migration lock holder", err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		return 0;
	h->found = true;
	h->pid = atoi(PQgetvalue(res, 0, 0));
	snprintf(h->application_name, sizeof h->application_name, "%s", PQgetvalue(res, 0, 1));
	snprintf(h->user, sizeof h->user, "%s", PQgetvalue(res, 0, 2));
	snprintf(h->client, sizeof h->client, "%s", PQgetvalue(res, 0, 3));
	snprintf(h->state, sizeof h->state, "%s", PQgetvalue(res, 0, 4));
	md_redact(PQgetvalue(res, 0, 5), h->query, sizeof h->query);
	for (char *p = h->query; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	h->session_age_s = atof(PQgetvalue(res, 0, 6));
	h->state_age_s = atof(PQgetvalue(res, 0, 7));
	h->since_us = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
	snprintf(h->since, sizeof h->since, "%s", PQgetvalue(res, 0, 9));
	return 0;
}

void md_lock_holder_describe(const struct md_lock_holder *h, char *out, size_t outsz)
{
	if (!h->found) {
		snprintf(out, outsz, "no session holds it any more");
		return;
	}
	snprintf(out, outsz,
		 "pid %d (application \"%s\", user %s, from %s), connected %.0f s ago, %s for %.0f s, query: %s",
		 h->pid, h->application_name, h->user[0] ? h->user : "?", h->client, h->session_age_s,
		 h->state[0] ? h->state : "state unknown", h->state_age_s, h->query[0] ? h->query : "(none)");
}

int md_lock_acquire(struct md_db *db, int wait_ms, md_lock_wait_fn on_wait, void *ctx, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct md_lock_holder h;
	char sql[128], who[1024];
	PGresult *wr;
	int r;

	r = md_db_query(db, "SELECT pg_try_advisory_lock(" KEY_STR ")", 0, NULL, &res, "taking the migration lock",
			err);
	if (r < 0)
		return r;
	if (PQgetvalue(res, 0, 0)[0] == 't')
		return 0;
	if (md_lock_find_holder(db, &h, err) < 0)
		return err->code;
	if (on_wait)
		on_wait(ctx, &h, wait_ms);
	if (wait_ms > 0) {
		snprintf(sql, sizeof sql, "SET lock_timeout = %d", wait_ms);
		r = md_db_exec(db, sql, "setting the lock wait", err);
		if (r < 0)
			return r;
		wr = PQexec(db->conn, "SELECT pg_advisory_lock(" KEY_STR ")");
		if (wr && PQresultStatus(wr) == PGRES_TUPLES_OK) {
			PQclear(wr);
			return md_db_exec(db, "RESET lock_timeout", "resetting lock_timeout", err);
		}
		r = md_db_error_from_result(db->conn, wr, "waiting for the migration lock", err);
		const char *state = wr ? PQresultErrorField(wr, PG_DIAG_SQLSTATE) : NULL;
		bool timeout = state && strcmp(state, "55P03") == 0;
		bool cancelled = state && strcmp(state, "57014") == 0;
		PQclear(wr);
		if (r == MD_E_CONNECT || (!timeout && !cancelled))
			return r;
		struct md_error ignored;
		md_db_exec(db, "RESET lock_timeout", "resetting lock_timeout", &ignored);
		if (cancelled)
			return md_error_set(err, MD_E_CANCELLED, "cancelled while waiting for the migration lock");
		if (md_lock_find_holder(db, &h, err) < 0)
			return err->code;
	}
	md_lock_holder_describe(&h, who, sizeof who);
	md_error_prisma(err, "P1002");
	err->sqlstate[0] = '\0';
	md_error_set(err, MD_E_LOCK_TIMEOUT,
		     "timed out after %.1f s waiting for the migration lock (pg_advisory_lock(" KEY_STR
		     ")); it is held by %s",
		     wait_ms / 1000.0, who);
	if (h.found)
		md_error_hint(err,
			      "another deploy (migrated, or prisma migrate deploy/resolve) holds it: wait for it "
			      "to finish and retry; if that session is stuck, end it with SELECT "
			      "pg_terminate_backend(%d)",
			      h.pid);
	else
		md_error_hint(err, "the holder has just released it: retry");
	return MD_E_LOCK_TIMEOUT;
}

int md_lock_release(struct md_db *db, struct md_error *err)
{
	return md_db_exec(db, "SELECT pg_advisory_unlock(" KEY_STR ")", "releasing the migration lock", err);
}
