/* apply.c - executes one migration (see apply.h).
 *
 * Transport: statements are sent one per extended-protocol message in libpq pipeline mode,
 * chunked, so a migration costs a round trip per chunk instead of one per statement, and a
 * failure is pinned to its exact statement. Within one Sync, pipelined statements share an
 * implicit transaction exactly as the statements of Prisma's single simple-query message do.
 * Statements that refuse transaction blocks (CONCURRENTLY, VACUUM, ...) cannot be pipelined
 * and go one by one through the simple protocol.
 *
 * Modes:
 *  TRANSACTION  BEGIN; RESET ALL; set_config(...); the statements; finish the row; COMMIT.
 *               The migration and its record commit together or not at all.
 *  SCRIPT       the file has its own BEGIN/COMMIT: run as Prisma does, then finish the row.
 *  SINGLE       one statement that cannot run in a transaction block, alone.
 *  STEPWISE     statement by statement; applied_steps_count follows the committed ones. */
#include "migrated/apply.h"
#include "apply_internal.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/sqllex.h"
#include "migrated/sqlsplit.h"
#include "migrated/strbuf.h"
#include "migrated/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPELINE_CHUNK 128
#define BACKOFF_CAP_MS 30000

void md_apply_options_default(struct md_apply_options *o)
{
	o->lock_timeout_ms = 10000;
	o->statement_timeout_ms = 0;
	o->lock_retries = 3;
	o->retry_backoff_ms = 1000;
	o->advisory_lock_wait_ms = 10000;
	o->pipeline_depth = 32;
}

void md_apply_options_from(const struct md_config *cfg, struct md_apply_options *o)
{
	md_apply_options_default(o);
	o->lock_timeout_ms = cfg->lock_timeout_ms;
	o->statement_timeout_ms = cfg->statement_timeout_ms;
	o->lock_retries = cfg->lock_retries;
	o->retry_backoff_ms = cfg->lock_retry_backoff_ms;
	o->advisory_lock_wait_ms = cfg->advisory_lock_wait_ms;
	o->pipeline_depth = cfg->pipeline_depth;
}

const char *md_apply_mode_name(enum md_apply_mode mode)
{
	switch (mode) {
	case MD_MODE_TRANSACTION: return "transaction";
	case MD_MODE_SCRIPT: return "own-transactions";
	case MD_MODE_SINGLE: return "single-statement";
	case MD_MODE_STEPWISE: return "statement-by-statement";
	}
	return "unknown";
}

bool apply_stmt_no_txn(const struct md_sqlstmt *st, int server_version_num)
{
	return st->cls == MD_STMT_NO_TXN || (st->add_enum_value && server_version_num < 120000);
}

enum md_apply_mode md_apply_choose_mode(const struct md_sqlscript *script, int server_version_num, char *reason,
					size_t reason_sz)
{
	const struct md_sqlstmt *first_no_txn = NULL, *first_ctl = NULL;

	if (reason_sz)
		reason[0] = '\0';
	for (size_t i = 0; i < script->n; i++) {
		const struct md_sqlstmt *st = &script->stmts[i];
		if (!first_no_txn && apply_stmt_no_txn(st, server_version_num))
			first_no_txn = st;
		if (!first_ctl && st->cls == MD_STMT_TXN_CONTROL)
			first_ctl = st;
	}
	if (script->directive_no_txn) {
		snprintf(reason, reason_sz, "-- migrated:no-transaction directive");
		return MD_MODE_STEPWISE;
	}
	if (first_no_txn) {
		snprintf(reason, reason_sz, "%s at line %u cannot run in a transaction block",
			 first_no_txn->what ? first_no_txn->what : "ALTER TYPE ... ADD VALUE", first_no_txn->line);
		return script->n == 1 ? MD_MODE_SINGLE : MD_MODE_STEPWISE;
	}
	if (first_ctl) {
		snprintf(reason, reason_sz, "the file manages its own transactions (%s at line %u)", first_ctl->what,
			 first_ctl->line);
		return MD_MODE_SCRIPT;
	}
	return MD_MODE_TRANSACTION;
}

void md_failure_clear(struct md_failure *f)
{
	free(f->statement);
	free(f->logs);
	memset(f, 0, sizeof *f);
}

bool apply_cancelled(const struct md_apply_hooks *hooks)
{
	return hooks && hooks->cancel && *hooks->cancel;
}

void apply_emit(const struct md_apply_hooks *hooks, const struct md_apply_event *ev)
{
	if (hooks && hooks->on_event)
		hooks->on_event(hooks->ctx, ev);
}

/* Sleeps ms in slices so that a cancel request is noticed within 100 ms. */
void apply_sleep_cancellable(int ms, const struct md_apply_hooks *hooks)
{
	while (ms > 0 && !apply_cancelled(hooks)) {
		int slice = ms > 100 ? 100 : ms;
		struct timespec ts = {0, (long)slice * 1000000L};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= slice;
	}
}

int apply_backoff_ms(const struct md_apply_options *o, int attempt)
{
	long d = o->retry_backoff_ms > 0 ? o->retry_backoff_ms : 0;
	for (int i = 1; i < attempt && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	if (d > 1)
		d += random() % (d / 2 + 1);
	return (int)d;
}

bool apply_retryable(const char *sqlstate)
{
	return strcmp(sqlstate, "55P03") == 0 || strcmp(sqlstate, "40P01") == 0;
}

/* ---- one command batch in pipeline mode ---- */

struct cmd {
	const char *sql; /* NUL-terminated */
	int nparams;
	const char *const *params;
	size_t stmt; /* index into the script, or NOT_A_STATEMENT */
};

struct batch_outcome {
	size_t failed;   /* index of the failing command, or (size_t)-1 */
	PGresult *error; /* the failing command's result; caller clears */
	bool connection_lost;
};

/* Sends cmds[0..n) in chunks of PIPELINE_CHUNK, one Sync per chunk, stopping after the chunk
 * where a command fails. Returns 0 with out->failed == -1 when all succeeded. */
static void batch_run(PGconn *conn, const struct cmd *cmds, size_t n, struct batch_outcome *out)
{
	out->failed = (size_t)-1;
	out->error = NULL;
	out->connection_lost = false;
	if (PQenterPipelineMode(conn) != 1) {
		out->connection_lost = PQstatus(conn) != CONNECTION_OK;
		out->failed = 0;
		return;
	}
	for (size_t base = 0; base < n && out->failed == (size_t)-1; base += PIPELINE_CHUNK) {
		size_t end = base + PIPELINE_CHUNK < n ? base + PIPELINE_CHUNK : n;
		size_t sent = base;
		for (; sent < end; sent++)
			if (!PQsendQueryParams(conn, cmds[sent].sql, cmds[sent].nparams, NULL, cmds[sent].params, NULL,
					       NULL, 0))
				break;
		if (sent < end || !PQpipelineSync(conn)) {
			out->failed = sent;
			out->connection_lost = true;
			break;
		}
		for (size_t i = base; i < end; i++) {
			PGresult *r = PQgetResult(conn), *x;
			if (!r) {
				out->failed = i;
				out->connection_lost = PQstatus(conn) != CONNECTION_OK;
				goto done;
			}
			ExecStatusType st = PQresultStatus(r);
			if (st == PGRES_FATAL_ERROR && out->failed == (size_t)-1) {
				out->failed = i;
				out->error = r;
			} else {
				PQclear(r);
			}
			while ((x = PQgetResult(conn)))
				PQclear(x);
			if (PQstatus(conn) != CONNECTION_OK) {
				if (out->failed == (size_t)-1)
					out->failed = i;
				out->connection_lost = true;
				goto done;
			}
		}
		PGresult *s = PQgetResult(conn);
		if (!s || PQresultStatus(s) != PGRES_PIPELINE_SYNC) {
			if (out->failed == (size_t)-1)
				out->failed = end ? end - 1 : 0;
			out->connection_lost = PQstatus(conn) != CONNECTION_OK;
		}
		PQclear(s);
	}
done:
	if (PQstatus(conn) == CONNECTION_OK)
		PQexitPipelineMode(conn);
}

/* ---- failure details ---- */

static void position_of(const struct md_migration *m, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1;
	size_t ls = 0;
	for (size_t i = 0; i < off && i < m->sql_len; i++)
		if (m->sql[i] == '\n') {
			l++;
			ls = i + 1;
		}
	*line = l;
	*col = (unsigned)md_utf8_chars(m->sql + ls, off - ls) + 1;
}

/* Fills the failure from a server error on statement stmt (or one of ours when stmt is
 * NOT_A_STATEMENT, named by what). */
void apply_fill_failure(struct md_failure *f, const struct md_migration *m, const struct md_sqlscript *sc, size_t stmt,
			const char *what, PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;

	f->present = true;
	snprintf(f->migration, sizeof f->migration, "%s", m->name);
	snprintf(f->sqlstate, sizeof f->sqlstate, "%s", state ? state : "");
	if (msg) {
		snprintf(f->message, sizeof f->message, "%s", msg);
	} else {
		snprintf(f->message, sizeof f->message, "%s", conn ? PQerrorMessage(conn) : "connection lost");
		f->message[strcspn(f->message, "\n")] = '\0';
	}
	snprintf(f->detail, sizeof f->detail, "%s", detail ? detail : "");
	snprintf(f->hint, sizeof f->hint, "%s", hint ? hint : "");
	md_redact_inplace(f->message);
	md_redact_inplace(f->detail);
	f->n_stmts = sc->n;
	free(f->statement);
	f->statement = NULL;
	if (stmt != NOT_A_STATEMENT && stmt < sc->n) {
		const struct md_sqlstmt *st = &sc->stmts[stmt];
		size_t off = st->start;
		f->stmt_no = stmt + 1;
		f->statement = strndup(m->sql + st->start, st->end - st->start);
		if (pos) {
			size_t chars = (size_t)atol(pos);
			if (chars > 0)
				off = st->start +
				      md_utf8_char_to_byte(m->sql + st->start, st->end - st->start, chars - 1);
		}
		position_of(m, off, &f->line, &f->col);
	} else {
		f->stmt_no = 0;
		f->statement = what ? strdup(what) : NULL;
	}
}

/* The text Prisma users expect in `logs` (P3018's wording), plus where and what remains. */
static char *failure_logs(const struct md_failure *f)
{
	struct md_strbuf sb = MD_STRBUF_INIT;

	if (f->cancelled)
		md_strbuf_printf(&sb, "Migration cancelled by request.\n\nMigration name: %s\n", f->migration);
	else
		md_strbuf_printf(&sb,
				 "A migration failed to apply. New migrations cannot be applied before the error is "
				 "recovered from. Read more about how to resolve migration issues in a production "
				 "database: https://pris.ly/d/migrate-resolve\n\nMigration name: %s\n",
				 f->migration);
	if (f->sqlstate[0])
		md_strbuf_printf(&sb, "\nDatabase error code: %s\n", f->sqlstate);
	md_strbuf_printf(&sb, "\nDatabase error:\nERROR: %s\n", f->message);
	if (f->detail[0])
		md_strbuf_printf(&sb, "DETAIL: %s\n", f->detail);
	if (f->hint[0])
		md_strbuf_printf(&sb, "HINT: %s\n", f->hint);
	if (f->stmt_no)
		md_strbuf_printf(&sb, "\nPosition: statement %zu of %zu, line %u, column %u of migration.sql\n",
				 f->stmt_no, f->n_stmts, f->line, f->col);
	if (f->statement)
		md_strbuf_printf(&sb, "\nStatement:\n%.2000s\n", f->statement);
	md_strbuf_printf(&sb, "\nmigrated: ran as %s; ", md_apply_mode_name(f->mode));
	if (f->nothing_remains)
		md_strbuf_puts(&sb, "the transaction was rolled back, nothing of this migration remains.\n");
	else
		md_strbuf_printf(&sb, "%zu of %zu statements were committed before the failure and remain.\n",
				 f->steps_committed, f->n_stmts);
	if (f->invalid_index[0])
		md_strbuf_printf(&sb,
				 "The failed CONCURRENTLY build left index %s INVALID: drop it (DROP INDEX "
				 "CONCURRENTLY) before retrying.\n",
				 f->invalid_index);
	char *s = md_strbuf_steal(&sb);
	if (s)
		md_redact_inplace(s);
	return s;
}

/* After a failed CREATE INDEX CONCURRENTLY: is the index named in it left INVALID? */
void apply_check_invalid_index(struct md_db *db, const struct md_migration *m, const struct md_sqlstmt *st,
			       struct md_failure *f)
{
	struct md_sqllex lx;
	struct md_sqltok t;
	char name[256] = "";
	_cleanup_pgresult_ PGresult *res = NULL;
	struct md_error ignored;

	if (!st->what || strcmp(st->what, "CREATE INDEX CONCURRENTLY") != 0)
		return;
	md_sqllex_init(&lx, m->sql + st->start, st->end - st->start);
	/* CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON ... */
	while (md_sqllex_next(&lx, &t) != MD_TOK_EOF && t.kind != MD_TOK_ERROR) {
		if (md_sqltok_is(&t, lx.s, "CONCURRENTLY")) {
			md_sqllex_next(&lx, &t);
			if (md_sqltok_is(&t, lx.s, "IF")) {
				md_sqllex_next(&lx, &t);
				md_sqllex_next(&lx, &t);
				md_sqllex_next(&lx, &t);
			}
			if ((t.kind == MD_TOK_WORD && !md_sqltok_is(&t, lx.s, "ON")) || t.kind == MD_TOK_QIDENT)
				snprintf(name, sizeof name, "%.*s", (int)t.len, lx.s + t.start);
			break;
		}
	}
	if (!name[0])
		return;
	const char *params[1] = {name};
	if (md_db_query(db, "SELECT NOT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid = to_regclass($1)",
			1, params, &res, "checking for an INVALID index", &ignored) == 0 &&
	    PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
		snprintf(f->invalid_index, sizeof f->invalid_index, "%s", name);
}

/* ---- session settings ---- */

void apply_settings_init(struct apply_settings *s, const struct md_db *db, const struct md_apply_options *o,
			 bool no_lock_timeout)
{
	snprintf(s->lock_timeout, sizeof s->lock_timeout, "%dms", no_lock_timeout ? 0 : o->lock_timeout_ms);
	snprintf(s->statement_timeout, sizeof s->statement_timeout, "%dms", o->statement_timeout_ms);
	s->params[0] = db->schema_ident;
	s->params[1] = s->lock_timeout;
	s->params[2] = s->statement_timeout;
	s->check_client = db->server_version_num >= 140000;
}

#define SET_CONFIG_SQL(local, extra)                                   \
	"SELECT pg_catalog.set_config('search_path', $1, " local "), " \
	"pg_catalog.set_config('lock_timeout', $2, " local "), "       \
	"pg_catalog.set_config('statement_timeout', $3, " local ")" extra
#define CHECK_CLIENT(local) ", pg_catalog.set_config('client_connection_check_interval', '1s', " local ")"

const char *apply_set_sql(const struct apply_settings *s, bool local)
{
	if (local)
		return s->check_client ? SET_CONFIG_SQL("true", CHECK_CLIENT("true")) : SET_CONFIG_SQL("true", "");
	return s->check_client ? SET_CONFIG_SQL("false", CHECK_CLIENT("false")) : SET_CONFIG_SQL("false", "");
}

/* Session state leaks between migrations on one connection (a file's `SET lock_timeout`
 * would apply to the next file); every non-transactional migration starts from a clean one. */
static int session_reset(struct md_db *db, const struct apply_settings *s, struct md_error *err)
{
	/* Both in one round trip: pipelined, one implicit transaction. */
	const struct cmd cmds[2] = {{"RESET ALL", 0, NULL, NOT_A_STATEMENT},
				    {apply_set_sql(s, false), 3, s->params, NOT_A_STATEMENT}};
	struct batch_outcome out;
	batch_run(db->conn, cmds, 2, &out);
	if (out.failed == (size_t)-1)
		return 0;
	int r = md_db_error_from_result(db->conn, out.error, "resetting the session's settings", err);
	PQclear(out.error);
	return r;
}

bool apply_is_concurrently(const struct md_sqlstmt *st)
{
	return st->what && strstr(st->what, "CONCURRENTLY");
}

/* ---- the modes ---- */

void apply_emit_retry(struct apply_run *rn, int attempt, int wait, const char *state)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s (SQLSTATE %s); retrying in %.1f s (attempt %d of %d)",
		 strcmp(state, "40P01") == 0 ? "deadlock" : "lock_timeout reached waiting for a lock", state,
		 wait / 1000.0, attempt + 2, rn->opts->lock_retries + 1);
	struct md_apply_event ev = {.kind = MD_EV_RETRY,
				    .migration = rn->m->name,
				    .index = rn->index,
				    .total = rn->total,
				    .mode = rn->mode,
				    .attempt = attempt + 2,
				    .wait_ms = wait,
				    .message = msg};
	apply_emit(rn->hooks, &ev);
}

void apply_rollback_quietly(struct md_db *db)
{
	struct md_error ignored;
	if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		md_db_exec(db, "ROLLBACK", "rolling back", &ignored);
}

int apply_run_transaction(struct apply_run *rn, int first_attempt)
{
	struct apply_settings s;
	_cleanup_free_ struct cmd *cmds = NULL;
	_cleanup_free_ char *finish = md_history_sql(rn->db, rn->down ? MD_HSQL_ROLL_BACK_NAME : MD_HSQL_FINISH);
	const char *id_param[1] = {rn->down ? rn->m->name : rn->id};
	size_t n = rn->sc->n + 5, k = 0;

	apply_settings_init(&s, rn->db, rn->opts, false);
	cmds = calloc(n, sizeof *cmds);
	if (!cmds || !finish)
		return MD_E_NOMEM;
	cmds[k++] = (struct cmd){"BEGIN", 0, NULL, NOT_A_STATEMENT};
	cmds[k++] = (struct cmd){"RESET ALL", 0, NULL, NOT_A_STATEMENT};
	cmds[k++] = (struct cmd){apply_set_sql(&s, true), 3, s.params, NOT_A_STATEMENT};
	for (size_t i = 0; i < rn->sc->n; i++)
		cmds[k++] = (struct cmd){rn->texts[i], 0, NULL, i};
	cmds[k++] = (struct cmd){finish, 1, id_param, NOT_A_STATEMENT};
	cmds[k++] = (struct cmd){"COMMIT", 0, NULL, NOT_A_STATEMENT};

	for (int attempt = first_attempt;; attempt++) {
		struct batch_outcome out;
		batch_run(rn->db->conn, cmds, k, &out);
		if (out.failed == (size_t)-1) {
			rn->ok->retries = attempt;
			return 0;
		}
		apply_fill_failure(rn->fail, rn->m, rn->sc, cmds[out.failed].stmt, cmds[out.failed].sql, rn->db->conn,
				   out.error);
		PQclear(out.error);
		rn->fail->nothing_remains = true;
		if (out.connection_lost || PQstatus(rn->db->conn) != CONNECTION_OK) {
			rn->fail->connection_lost = true;
			return MD_E_CONNECT;
		}
		apply_rollback_quietly(rn->db);
		if (apply_cancelled(rn->hooks)) {
			rn->fail->cancelled = true;
			return MD_E_CANCELLED;
		}
		if (!apply_retryable(rn->fail->sqlstate) || attempt >= rn->opts->lock_retries)
			return MD_E_MIGRATION;
		int wait = apply_backoff_ms(rn->opts, attempt + 1);
		apply_emit_retry(rn, attempt, wait, rn->fail->sqlstate);
		apply_sleep_cancellable(wait, rn->hooks);
		if (apply_cancelled(rn->hooks)) {
			rn->fail->cancelled = true;
			return MD_E_CANCELLED;
		}
	}
}

/* The end of a migration run outside a transaction of ours: finished (up) or rolled back (down). */
static int mark_done(struct apply_run *rn, int steps, struct md_error *err)
{
	if (!rn->down)
		return md_history_mark_finished(rn->db, rn->id, steps, err);
	int r = md_history_roll_back_name(rn->db, rn->m->name, err);
	return r < 0 ? r : 0;
}

/* The file ended inside a transaction it opened (BEGIN without COMMIT): Prisma would record it
 * finished and lose it when the connection closes. Roll it back and fail the migration. */
static int fail_left_open(struct apply_run *rn, size_t committed)
{
	apply_rollback_quietly(rn->db);
	rn->fail->present = true;
	snprintf(rn->fail->migration, sizeof rn->fail->migration, "%s", rn->m->name);
	snprintf(rn->fail->message, sizeof rn->fail->message,
		 "%s ends inside a transaction it opened (BEGIN without COMMIT); it was rolled back",
		 rn->down ? "down.sql" : "migration.sql");
	rn->fail->n_stmts = rn->sc->n;
	rn->fail->steps_committed = committed;
	rn->fail->nothing_remains = committed == 0;
	return MD_E_MIGRATION;
}

/* Statements committed so far by a script's own transactions, given the failing index. */
static size_t committed_before(const struct md_sqlscript *sc, size_t failed_stmt)
{
	size_t last = 0;
	for (size_t i = 0; i < failed_stmt && i < sc->n; i++)
		if (sc->stmts[i].cls == MD_STMT_TXN_CONTROL && sc->stmts[i].what &&
		    strcmp(sc->stmts[i].what, "COMMIT") == 0)
			last = i + 1;
	return last;
}

static int run_script(struct apply_run *rn, struct md_error *err)
{
	struct apply_settings s;
	_cleanup_free_ struct cmd *cmds = NULL;
	struct batch_outcome out;
	int r;

	apply_settings_init(&s, rn->db, rn->opts, false);
	r = session_reset(rn->db, &s, err);
	if (r < 0)
		return r;
	cmds = calloc(rn->sc->n ? rn->sc->n : 1, sizeof *cmds);
	if (!cmds)
		return MD_E_NOMEM;
	for (size_t i = 0; i < rn->sc->n; i++)
		cmds[i] = (struct cmd){rn->texts[i], 0, NULL, i};
	batch_run(rn->db->conn, cmds, rn->sc->n, &out);
	if (out.failed != (size_t)-1) {
		apply_fill_failure(rn->fail, rn->m, rn->sc, out.failed, NULL, rn->db->conn, out.error);
		PQclear(out.error);
		rn->fail->steps_committed = committed_before(rn->sc, out.failed);
		rn->fail->nothing_remains = rn->fail->steps_committed == 0;
		if (out.connection_lost || PQstatus(rn->db->conn) != CONNECTION_OK) {
			rn->fail->connection_lost = true;
			return MD_E_CONNECT;
		}
		apply_rollback_quietly(rn->db);
		rn->fail->cancelled = apply_cancelled(rn->hooks);
		return rn->fail->cancelled ? MD_E_CANCELLED : MD_E_MIGRATION;
	}
	if (PQtransactionStatus(rn->db->conn) != PQTRANS_IDLE)
		return fail_left_open(rn, committed_before(rn->sc, rn->sc->n));
	rn->ok->retries = 0;
	return mark_done(rn, 1, err);
}

/* One statement through the simple protocol (no pipeline: CONCURRENTLY refuses pipelines). */
static int exec_simple(struct apply_run *rn, size_t i, PGresult **ret_err)
{
	PGresult *res = PQexec(rn->db->conn, rn->texts[i]);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		PQclear(res);
		return 0;
	}
	*ret_err = res;
	return -1;
}

static int set_lock_timeout(struct md_db *db, const char *value, struct md_error *err)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	const char *p[1] = {value};
	return md_db_query(db, "SELECT pg_catalog.set_config('lock_timeout', $1, false)", 1, p, &res,
			   "setting lock_timeout", err);
}

int apply_run_stepwise(struct apply_run *rn, size_t from, int first_attempt, struct md_error *err)
{
	struct apply_settings s;
	size_t committed = from;
	int r;

	apply_settings_init(&s, rn->db, rn->opts,
			    rn->mode == MD_MODE_SINGLE && rn->sc->n == 1 && apply_is_concurrently(&rn->sc->stmts[0]));
	/* Resumed (after a pipelined attempt failed at statement from): the session is already set. */
	if (from == 0 && first_attempt == 0 && (r = session_reset(rn->db, &s, err)) < 0)
		return r;
	for (size_t i = from; i < rn->sc->n; i++) {
		const struct md_sqlstmt *st = &rn->sc->stmts[i];
		bool conc = rn->mode == MD_MODE_STEPWISE && apply_is_concurrently(st);
		PGresult *eres = NULL;

		if (apply_cancelled(rn->hooks)) {
			rn->fail->present = true;
			rn->fail->cancelled = true;
			snprintf(rn->fail->migration, sizeof rn->fail->migration, "%s", rn->m->name);
			snprintf(rn->fail->message, sizeof rn->fail->message, "cancelled before statement %zu", i + 1);
			rn->fail->n_stmts = rn->sc->n;
			rn->fail->steps_committed = committed;
			rn->fail->nothing_remains = committed == 0;
			apply_rollback_quietly(rn->db);
			return MD_E_CANCELLED;
		}
		/* CONCURRENTLY waits for older transactions without blocking anyone: a short
		 * lock_timeout would only leave an INVALID index behind. */
		if (conc && (r = set_lock_timeout(rn->db, "0", err)) < 0)
			return r;
		for (int attempt = i == from ? first_attempt : 0;; attempt++) {
			if (exec_simple(rn, i, &eres) == 0)
				break;
			apply_fill_failure(rn->fail, rn->m, rn->sc, i, NULL, rn->db->conn, eres);
			PQclear(eres);
			bool idle = PQstatus(rn->db->conn) == CONNECTION_OK &&
				    PQtransactionStatus(rn->db->conn) == PQTRANS_IDLE;
			if (!idle || !apply_retryable(rn->fail->sqlstate) || attempt >= rn->opts->lock_retries ||
			    apply_cancelled(rn->hooks)) {
				rn->fail->steps_committed = committed;
				rn->fail->nothing_remains = committed == 0;
				if (PQstatus(rn->db->conn) != CONNECTION_OK) {
					rn->fail->connection_lost = true;
					return MD_E_CONNECT;
				}
				apply_rollback_quietly(rn->db);
				apply_check_invalid_index(rn->db, rn->m, st, rn->fail);
				rn->fail->cancelled = apply_cancelled(rn->hooks);
				return rn->fail->cancelled ? MD_E_CANCELLED : MD_E_MIGRATION;
			}
			int wait = apply_backoff_ms(rn->opts, attempt + 1);
			apply_emit_retry(rn, attempt, wait, rn->fail->sqlstate);
			md_failure_clear(rn->fail);
			apply_sleep_cancellable(wait, rn->hooks);
			rn->ok->retries++;
		}
		if (conc && (r = set_lock_timeout(rn->db, s.lock_timeout, err)) < 0)
			return r;
		if (PQtransactionStatus(rn->db->conn) == PQTRANS_IDLE) {
			committed = i + 1;
			if (rn->mode == MD_MODE_STEPWISE && !rn->down &&
			    (r = md_history_set_steps(rn->db, rn->id, (int)committed, err)) < 0)
				return r;
		}
		struct md_apply_event ev = {.kind = MD_EV_STATEMENT,
					    .migration = rn->m->name,
					    .index = rn->index,
					    .total = rn->total,
					    .mode = rn->mode,
					    .statement = i + 1,
					    .statements = rn->sc->n};
		apply_emit(rn->hooks, &ev);
	}
	if (PQtransactionStatus(rn->db->conn) != PQTRANS_IDLE)
		return fail_left_open(rn, committed);
	return mark_done(rn, rn->mode == MD_MODE_STEPWISE ? (int)rn->sc->n : 1, err);
}

void apply_free_texts(char **texts, size_t n)
{
	if (!texts)
		return;
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
}

char **apply_statement_texts(const struct md_migration *m, const struct md_sqlscript *sc)
{
	char **t = calloc(sc->n ? sc->n : 1, sizeof *t);
	if (!t)
		return NULL;
	for (size_t i = 0; i < sc->n; i++) {
		t[i] = strndup(m->sql + sc->stmts[i].start, sc->stmts[i].end - sc->stmts[i].start);
		if (!t[i]) {
			for (size_t j = 0; j < i; j++)
				free(t[j]);
			free(t);
			return NULL;
		}
	}
	return t;
}

/* Records a failure in the row: logs (and the steps that remain). A cancelled migration that
 * left nothing behind is recorded rolled back instead, so it does not block the next deploy. */
void apply_record_failure(struct apply_run *rn, struct md_error *err)
{
	struct md_error e2;
	int r;

	rn->fail->mode = rn->mode;
	free(rn->fail->logs);
	rn->fail->logs = failure_logs(rn->fail);
	if (rn->fail->connection_lost || !rn->fail->logs)
		return;
	if (rn->fail->cancelled && rn->fail->nothing_remains)
		r = md_history_mark_rolled_back(rn->db, rn->id, rn->fail->logs, &e2);
	else
		r = md_history_mark_failed(rn->db, rn->id, rn->fail->logs, (int)rn->fail->steps_committed, &e2);
	if (r == 0)
		rn->fail->recorded = true;
	else
		md_log(MD_LOG_ERROR, "could not record the failure of %s in _prisma_migrations: %s", rn->m->name,
		       e2.message);
	(void)err;
}

enum md_row_writer apply_writer(enum md_apply_mode mode)
{
	return mode == MD_MODE_TRANSACTION ? MD_WRITER_ATOMIC
	       : mode == MD_MODE_SCRIPT    ? MD_WRITER_SCRIPT
	       : mode == MD_MODE_SINGLE    ? MD_WRITER_SINGLE
					   : MD_WRITER_STEPWISE;
}

int apply_conclude(struct apply_run *rn, int r, double duration_ms, struct md_apply_event *ev, struct md_error *err)
{
	const struct md_migration *m = rn->m;
	struct md_failure *f = rn->fail;

	if (r == MD_E_MIGRATION || r == MD_E_CANCELLED || (r == MD_E_CONNECT && f->present)) {
		if (!rn->down) {
			apply_record_failure(rn, err);
			md_error_set(err, r, "migration %s failed: %s%s%s", m->name, f->sqlstate[0] ? f->sqlstate : "",
				     f->sqlstate[0] ? " " : "", f->message);
			md_error_prisma(err, "P3018");
		} else {
			f->mode = rn->mode;
			md_error_set(err, r, "down.sql of %s failed: %s%s%s", m->name,
				     f->sqlstate[0] ? f->sqlstate : "", f->sqlstate[0] ? " " : "", f->message);
		}
		snprintf(err->sqlstate, sizeof err->sqlstate, "%s", f->sqlstate);
		ev->kind = MD_EV_MIGRATION_FAILED;
		ev->duration_ms = duration_ms;
		ev->message = f->message;
		apply_emit(rn->hooks, ev);
		return r;
	}
	if (r < 0)
		return r;
	rn->ok->name = strdup(m->name);
	rn->ok->mode = rn->mode;
	rn->ok->duration_ms = duration_ms;
	rn->ok->statements = rn->sc->n;
	if (!rn->ok->name)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	ev->kind = MD_EV_MIGRATION_DONE;
	ev->duration_ms = duration_ms;
	ev->statement = rn->sc->n;
	apply_emit(rn->hooks, ev);
	return 0;
}

static int apply_one(struct md_db *db, const struct md_migration *m, const struct md_sqlscript *script,
		     const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index,
		     size_t total, bool down, struct md_applied *ret_ok, struct md_failure *ret_fail,
		     struct md_error *err)
{
	char reason[256], id[MD_HISTORY_ID_LEN + 1];
	_cleanup_free_ char *insert = md_history_sql(db, MD_HSQL_INSERT_STARTED);
	_cleanup_pgresult_ PGresult *res = NULL;
	struct apply_run rn = {0};
	double t0 = md_clock_mono_ms();
	int r = 0;

	memset(ret_ok, 0, sizeof *ret_ok);
	rn.db = db;
	rn.m = m;
	rn.sc = script;
	rn.opts = opts;
	rn.hooks = hooks;
	rn.fail = ret_fail;
	rn.ok = ret_ok;
	rn.index = index;
	rn.total = total;
	rn.mode = md_apply_choose_mode(script, db->server_version_num, reason, sizeof reason);
	rn.reason = reason;
	rn.id = id;
	rn.down = down;
	rn.texts = apply_statement_texts(m, script);
	if (!rn.texts || !insert)
		return md_error_set(err, MD_E_NOMEM, "out of memory preparing %s", m->name);

	struct md_apply_event ev = {.kind = MD_EV_MIGRATION_START,
				    .migration = m->name,
				    .index = index,
				    .total = total,
				    .mode = rn.mode,
				    .mode_reason = reason[0] ? reason : NULL,
				    .statements = script->n};
	apply_emit(hooks, &ev);

	/* The id records how migrated runs it, so that whoever finds the row unfinished knows
	 * whether anything of it can remain (unfinished.h). */
	md_history_new_marked_id(id, apply_writer(rn.mode));
	if (!down) {
		const char *params[3] = {id, m->checksum, m->name};
		r = md_db_query(db, insert, 3, params, &res, "recording the migration start in _prisma_migrations",
				err);
		if (r < 0)
			goto out;
	}

	switch (rn.mode) {
	case MD_MODE_TRANSACTION: r = apply_run_transaction(&rn, 0); break;
	case MD_MODE_SCRIPT: r = run_script(&rn, err); break;
	case MD_MODE_SINGLE:
	case MD_MODE_STEPWISE: r = apply_run_stepwise(&rn, 0, 0, err); break;
	}
	if (r == MD_E_NOMEM)
		md_error_set(err, r, "out of memory applying %s", m->name);
	r = apply_conclude(&rn, r, md_clock_mono_ms() - t0, &ev, err);
out:
	apply_free_texts(rn.texts, script->n);
	return r;
}

int md_apply_migration(struct md_db *db, const struct md_migration *m, const struct md_sqlscript *script,
		       const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index,
		       size_t total, struct md_applied *ret_ok, struct md_failure *ret_fail, struct md_error *err)
{
	return apply_one(db, m, script, opts, hooks, index, total, false, ret_ok, ret_fail, err);
}

int md_apply_down(struct md_db *db, const struct md_migration *m, const struct md_sqlscript *script,
		  const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index, size_t total,
		  struct md_applied *ret_ok, struct md_failure *ret_fail, struct md_error *err)
{
	/* The same runner on down.sql's text: positions and statements refer to that file. */
	struct md_migration d = *m;
	if (!m->down_sql)
		return md_error_set(err, MD_E_INTERNAL, "down.sql of %s was not loaded", m->name);
	d.sql = m->down_sql;
	d.sql_len = m->down_len;
	return apply_one(db, &d, script, opts, hooks, index, total, true, ret_ok, ret_fail, err);
}
