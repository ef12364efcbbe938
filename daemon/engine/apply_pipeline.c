/* apply_pipeline.c - many migrations a round trip (see md_apply_migrations in apply.h).
 *
 * Over a slow link a deploy is as fast as its round trips are few. Here the migrations of a
 * group are sent together, in libpq's pipeline mode, as one stream of explicit transactions:
 *
 *   TRANSACTION  BEGIN; INSERT the started row; COMMIT;
 *                BEGIN; RESET ALL; set_config(..., local); the statements; finish the row; COMMIT
 *   SINGLE,      BEGIN; INSERT the started row; RESET ALL; set_config(..., session); COMMIT;
 *   STEPWISE     then per statement BEGIN; the statement; its step count; COMMIT (a statement
 *                that refuses transaction blocks goes alone, first after a Sync); finish the row
 *
 * which is exactly what apply.c sends one migration at a time, in the same order. The
 * extended protocol's rule makes a failure stop everything after it: once a command fails the
 * server skips every later one up to the next Sync; transactions committed before it stay
 * committed, the one in progress is rolled back. A Sync is sent only where one is needed (at
 * the end, before a statement that refuses transaction blocks, after a few thousand commands),
 * and the next segment is sent only once the previous one is known to have succeeded, so no
 * statement after a failure ever runs. Results are read as they arrive, so each migration's
 * start and end reach the hooks (journal, stream) in order while the rest is still running.
 * A failure is then handled as apply.c handles it (the same failure records, the same retries
 * of a lock timeout, resumed one migration at a time) and the group goes on after it. */
#include "apply_internal.h"
#include "migrated/apply.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/sqlsplit.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Sync at least this often: bounds what one segment asks of the server's and our buffers. */
#define SEGMENT_MAX_CMDS 4096
#define CANCEL_RESEND_MS 250

enum pkind {
	PK_OURS,      /* BEGIN, COMMIT, settings */
	PK_INSERT,    /* the started row */
	PK_STMT,      /* a statement of the file */
	PK_STEP_DONE, /* the COMMIT after statement stmt (SINGLE, STEPWISE) */
	PK_FINISH,    /* the row finished; returns its duration */
	PK_END,       /* the last COMMIT of the migration */
	PK_GATE,      /* fails when a stop was asked for (see STOP_GATE_SQL) */
};

struct pcmd {
	const char *sql;
	int nparams;
	const char *const *params;
	size_t mig;  /* index in the group */
	size_t stmt; /* statement of the file, or NOT_A_STATEMENT */
	enum pkind kind;
	bool sync_before; /* must be the first command after a Sync */
	bool flush_after; /* ask the server to send its results so far (live progress) */
};

/* One migration of the group. */
struct pmig {
	struct apply_run rn;
	char id[MD_HISTORY_ID_LEN + 1];
	char reason[256];
	const char *insert_params[3];
	const char *id_param[1];
	char (*steps)[24]; /* "k" for statement k, 1-based; index n holds the final count */
	const char *(*step_params)[2];
	struct apply_settings settings;
	size_t first_cmd;   /* where its commands start */
	size_t committed;   /* statements committed (SINGLE, STEPWISE) */
	double duration_ms; /* from the finish's RETURNING */
	double t_start;     /* when its first result arrived */
	bool started;
	struct md_apply_event ev;
};

struct group {
	struct md_db *db;
	const struct md_apply_hooks *hooks;
	struct pmig *migs;
	size_t n;
	struct pcmd *cmds;
	size_t ncmds, cap;
	char *insert_sql, *finish_sql, *set_steps_sql, *finish_steps_sql;
	PGcancel *canceller;
	double cancel_sent_ms;
	PGconn *stopper; /* holds the stop gate's lock once a stop was asked for; owned */
	bool stop_tried;
	size_t n_applied;
	struct md_error *err;
};

/* A stop between two migrations (daemon shutdown: the running one finishes, no new one starts)
 * when the next ones are already sent: each migration opens with a gate that takes a shared
 * advisory lock for its first transaction; a stop takes that lock exclusively from a second
 * connection, so the next gate fails and the server skips everything after it. The cast of a
 * CASE on a volatile call fails at run time only (a constant would fail at plan time). */
#define STOP_GATE_KEY "72707370"
static const char STOP_GATE_SQL[] =
	"SELECT (CASE WHEN pg_catalog.pg_try_advisory_xact_lock_shared(" STOP_GATE_KEY ") THEN '0' "
	"ELSE 'migrated is stopping' END)::int";

static const char CONC_LOCK_TIMEOUT_OFF[] = "SELECT pg_catalog.set_config('lock_timeout', '0', false)";
static const char CONC_LOCK_TIMEOUT_BACK[] = "SELECT pg_catalog.set_config('lock_timeout', $1, false)";

static int add(struct group *g, const char *sql, int nparams, const char *const *params, size_t mig, size_t stmt,
	       enum pkind kind, bool sync_before)
{
	if (g->ncmds == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		struct pcmd *c = realloc(g->cmds, cap * sizeof *c);
		if (!c)
			return MD_E_NOMEM;
		g->cmds = c;
		g->cap = cap;
	}
	g->cmds[g->ncmds++] = (struct pcmd){sql,  nparams, params,      mig,
					    stmt, kind,    sync_before, kind == PK_STEP_DONE || kind == PK_END};
	return 0;
}

bool md_apply_pipelinable(const struct md_sqlscript *script, int server_version_num)
{
	char reason[8];
	enum md_apply_mode mode = md_apply_choose_mode(script, server_version_num, reason, sizeof reason);
	if (mode == MD_MODE_SCRIPT)
		return false;
	/* Statement by statement with transaction control of its own: apply.c follows the
	 * session's transaction state after each statement; keep that one at a time. */
	for (size_t i = 0; mode != MD_MODE_TRANSACTION && i < script->n; i++)
		if (script->stmts[i].cls == MD_STMT_TXN_CONTROL)
			return false;
	return true;
}

/* The commands of migration j, appended (see the header comment for their shape). */
static int build_one(struct group *g, size_t j)
{
	struct pmig *pm = &g->migs[j];
	struct apply_run *rn = &pm->rn;
	const struct md_sqlscript *sc = rn->sc;
	bool stepwise = rn->mode == MD_MODE_STEPWISE;
	bool single_conc = rn->mode == MD_MODE_SINGLE && sc->n == 1 && apply_is_concurrently(&sc->stmts[0]);
	int r = 0;

	pm->first_cmd = g->ncmds;
	apply_settings_init(&pm->settings, g->db, rn->opts, single_conc);
	pm->insert_params[0] = pm->id;
	pm->insert_params[1] = rn->m->checksum;
	pm->insert_params[2] = rn->m->name;
	pm->id_param[0] = pm->id;
	r |= add(g, "BEGIN", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
	r |= add(g, STOP_GATE_SQL, 0, NULL, j, NOT_A_STATEMENT, PK_GATE, false);
	r |= add(g, g->insert_sql, 3, pm->insert_params, j, NOT_A_STATEMENT, PK_INSERT, false);
	if (rn->mode == MD_MODE_TRANSACTION) {
		r |= add(g, "COMMIT", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
		g->cmds[g->ncmds - 1].flush_after = true; /* its start is known as it starts */
		r |= add(g, "BEGIN", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
		r |= add(g, "RESET ALL", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
		r |= add(g, apply_set_sql(&pm->settings, true), 3, pm->settings.params, j, NOT_A_STATEMENT, PK_OURS,
			 false);
		for (size_t i = 0; i < sc->n; i++)
			r |= add(g, rn->texts[i], 0, NULL, j, i, PK_STMT, false);
		r |= add(g, g->finish_sql, 1, pm->id_param, j, NOT_A_STATEMENT, PK_FINISH, false);
		r |= add(g, "COMMIT", 0, NULL, j, NOT_A_STATEMENT, PK_END, false);
		return r ? MD_E_NOMEM : 0;
	}
	pm->steps = calloc(sc->n + 1, sizeof *pm->steps);
	pm->step_params = calloc(sc->n + 1, sizeof *pm->step_params);
	if (!pm->steps || !pm->step_params)
		return MD_E_NOMEM;
	r |= add(g, "RESET ALL", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
	r |= add(g, apply_set_sql(&pm->settings, false), 3, pm->settings.params, j, NOT_A_STATEMENT, PK_OURS, false);
	r |= add(g, "COMMIT", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
	g->cmds[g->ncmds - 1].flush_after = true;
	for (size_t i = 0; i < sc->n; i++) {
		const struct md_sqlstmt *st = &sc->stmts[i];
		bool alone = apply_stmt_no_txn(st, g->db->server_version_num);
		bool conc = stepwise && apply_is_concurrently(st);
		snprintf(pm->steps[i], sizeof pm->steps[i], "%zu", i + 1);
		pm->step_params[i][0] = pm->steps[i];
		pm->step_params[i][1] = pm->id;
		/* CONCURRENTLY waits for older transactions without blocking anyone: a short
		 * lock_timeout would only leave an INVALID index behind (as apply.c). */
		if (conc)
			r |= add(g, CONC_LOCK_TIMEOUT_OFF, 0, NULL, j, i, PK_OURS, false);
		if (!alone)
			r |= add(g, "BEGIN", 0, NULL, j, i, PK_OURS, false);
		r |= add(g, rn->texts[i], 0, NULL, j, i, PK_STMT, alone);
		if (alone)
			r |= add(g, "BEGIN", 0, NULL, j, i, PK_OURS, false);
		if (stepwise)
			r |= add(g, g->set_steps_sql, 2, pm->step_params[i], j, i, PK_OURS, false);
		if (conc)
			r |= add(g, CONC_LOCK_TIMEOUT_BACK, 1, (const char *const *)&pm->settings.params[1], j, i,
				 PK_OURS, false);
		r |= add(g, "COMMIT", 0, NULL, j, i, PK_STEP_DONE, false);
	}
	snprintf(pm->steps[sc->n], sizeof pm->steps[sc->n], "%zu", stepwise ? sc->n : (size_t)1);
	pm->step_params[sc->n][0] = pm->steps[sc->n];
	pm->step_params[sc->n][1] = pm->id;
	r |= add(g, "BEGIN", 0, NULL, j, NOT_A_STATEMENT, PK_OURS, false);
	r |= add(g, g->finish_steps_sql, 2, pm->step_params[sc->n], j, NOT_A_STATEMENT, PK_FINISH, false);
	r |= add(g, "COMMIT", 0, NULL, j, NOT_A_STATEMENT, PK_END, false);
	return r ? MD_E_NOMEM : 0;
}

/* ---- the wire ---- */

static void wait_socket(PGconn *conn, bool for_write, int timeout_ms)
{
	struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN | (for_write ? POLLOUT : 0)};
	if (p.fd >= 0)
		poll(&p, 1, timeout_ms);
}

/* Sends cmds [from, to) and a Sync. In non-blocking mode, reading what the server sends while
 * our output waits, so that neither side can wait for the other forever. */
static bool send_segment(struct group *g, size_t from, size_t to)
{
	PGconn *conn = g->db->conn;
	for (size_t i = from; i < to; i++) {
		const struct pcmd *c = &g->cmds[i];
		if (!PQsendQueryParams(conn, c->sql, c->nparams, NULL, c->params, NULL, NULL, 0) ||
		    (c->flush_after && !PQsendFlushRequest(conn)) || PQflush(conn) < 0)
			return false;
	}
	if (!PQpipelineSync(conn))
		return false;
	for (;;) {
		int f = PQflush(conn);
		if (f == 0)
			return true;
		if (f < 0)
			return false;
		wait_socket(conn, true, 1000);
		if (!PQconsumeInput(conn))
			return false;
	}
}

/* A cancel request seen while a segment runs: the engine cancels on the server itself, again
 * every CANCEL_RESEND_MS while nothing has failed yet (a request that reaches the server
 * between two statements cancels nothing). */
static void maybe_cancel(struct group *g)
{
	double now;
	if (!apply_cancelled(g->hooks))
		return;
	now = md_clock_mono_ms();
	if (g->cancel_sent_ms > 0 && now - g->cancel_sent_ms < CANCEL_RESEND_MS)
		return;
	if (!g->canceller)
		g->canceller = PQgetCancel(g->db->conn);
	if (g->canceller) {
		char errbuf[256];
		if (!PQcancel(g->canceller, errbuf, sizeof errbuf))
			md_log(MD_LOG_WARNING, "cancel request failed: %s", errbuf);
	}
	g->cancel_sent_ms = now;
}

/* A stop asked for while a segment runs: close the gate from a second connection with the
 * same parameters (PQconninfo: never logged). If that fails the batch in flight finishes. */
static void maybe_close_gate(struct group *g)
{
	if (g->stop_tried || !g->hooks || !g->hooks->stop || !*g->hooks->stop)
		return;
	g->stop_tried = true;
	PQconninfoOption *opts = PQconninfo(g->db->conn), *o;
	const char *keys[64], *vals[64];
	int k = 0;
	for (o = opts; o && o->keyword && k < 63; o++)
		if (o->val && o->val[0] && strcmp(o->keyword, "application_name") != 0) {
			keys[k] = o->keyword;
			vals[k++] = o->val;
		}
	keys[k] = "application_name";
	vals[k++] = "migrated-stop";
	keys[k] = NULL;
	vals[k] = NULL;
	g->stopper = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	PGresult *res = PQstatus(g->stopper) == CONNECTION_OK
				? PQexec(g->stopper, "SELECT pg_catalog.pg_advisory_lock(" STOP_GATE_KEY ")")
				: NULL;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		md_log(MD_LOG_WARNING,
		       "stopping: could not close the gate of the migrations already sent (%s); "
		       "they finish first",
		       PQerrorMessage(g->stopper));
	PQclear(res);
}

/* The next result, waiting for it without blocking so that a cancel request is acted on. */
static PGresult *next_result(struct group *g, bool watch_cancel)
{
	PGconn *conn = g->db->conn;
	while (PQisBusy(conn)) {
		if (watch_cancel) {
			maybe_cancel(g);
			maybe_close_gate(g);
		}
		wait_socket(conn, false, 100);
		if (!PQconsumeInput(conn))
			break;
	}
	return PQgetResult(conn);
}

/* ---- results ---- */

static void mark_started(struct group *g, struct pmig *pm)
{
	if (pm->started)
		return;
	pm->started = true;
	pm->t_start = md_clock_mono_ms();
	apply_emit(g->hooks, &pm->ev);
}

/* A command succeeded: progress, and the end of a migration. Returns <0 when bookkeeping
 * itself fails (out of memory). */
static int on_success(struct group *g, const struct pcmd *c, const PGresult *res)
{
	struct pmig *pm = &g->migs[c->mig];
	if (c->kind == PK_OURS && !pm->started && c->stmt == NOT_A_STATEMENT)
		return 0; /* before its gate and started row: not started yet */
	mark_started(g, pm);
	switch (c->kind) {
	case PK_FINISH:
		if (PQntuples(res) == 1)
			pm->duration_ms = atof(PQgetvalue(res, 0, 0));
		break;
	case PK_STEP_DONE: {
		pm->committed = c->stmt + 1;
		struct md_apply_event ev = {.kind = MD_EV_STATEMENT,
					    .migration = pm->rn.m->name,
					    .index = pm->rn.index,
					    .total = pm->rn.total,
					    .mode = pm->rn.mode,
					    .statement = c->stmt + 1,
					    .statements = pm->rn.sc->n};
		apply_emit(g->hooks, &ev);
		break;
	}
	case PK_END: {
		int r = apply_conclude(&pm->rn, 0, pm->duration_ms, &pm->ev, g->err);
		if (r < 0)
			return r;
		g->n_applied++;
		break;
	}
	default: break;
	}
	return 0;
}

struct seg_outcome {
	size_t failed; /* the failing command, or (size_t)-1 */
	PGresult *error;
	bool connection_lost;
};

/* Runs one segment: sends it, then reads every result in order. */
static int run_segment(struct group *g, size_t from, size_t to, struct seg_outcome *out)
{
	PGconn *conn = g->db->conn;
	int r = 0;

	out->failed = (size_t)-1;
	out->error = NULL;
	out->connection_lost = false;
	if (PQenterPipelineMode(conn) != 1 || PQsetnonblocking(conn, 1) != 0) {
		out->failed = from;
		out->connection_lost = PQstatus(conn) != CONNECTION_OK;
		return 0;
	}
	if (!send_segment(g, from, to)) {
		out->failed = from;
		out->connection_lost = true;
		goto done;
	}
	for (size_t i = from; i < to; i++) {
		PGresult *res = next_result(g, out->failed == (size_t)-1), *x;
		if (!res) {
			if (out->failed == (size_t)-1)
				out->failed = i;
			out->connection_lost = PQstatus(conn) != CONNECTION_OK;
			goto done;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR && out->failed == (size_t)-1) {
			out->failed = i;
			out->error = res;
			res = NULL;
		} else if (out->failed == (size_t)-1 && st != PGRES_PIPELINE_ABORTED && r == 0) {
			r = on_success(g, &g->cmds[i], res);
		}
		PQclear(res);
		while ((x = next_result(g, false)))
			PQclear(x);
		if (PQstatus(conn) != CONNECTION_OK) {
			if (out->failed == (size_t)-1)
				out->failed = i;
			out->connection_lost = true;
			goto done;
		}
	}
	PGresult *s = next_result(g, false);
	if (!s || PQresultStatus(s) != PGRES_PIPELINE_SYNC) {
		if (out->failed == (size_t)-1)
			out->failed = to - 1;
		out->connection_lost = PQstatus(conn) != CONNECTION_OK;
	}
	PQclear(s);
done:
	if (PQstatus(conn) == CONNECTION_OK) {
		PQsetnonblocking(conn, 0);
		PQexitPipelineMode(conn);
	}
	return r;
}

/* ---- failures ---- */

/* The retry after a pipelined first attempt failed on a lock timeout or deadlock: the same
 * wait apply.c takes, then the rest of that migration one statement (or transaction) at a
 * time from where it stopped. */
static int retry_alone(struct group *g, struct pmig *pm, size_t stmt)
{
	struct apply_run *rn = &pm->rn;
	int wait = apply_backoff_ms(rn->opts, 1);

	apply_emit_retry(rn, 0, wait, rn->fail->sqlstate);
	if (rn->mode != MD_MODE_TRANSACTION)
		md_failure_clear(rn->fail);
	apply_sleep_cancellable(wait, g->hooks);
	if (apply_cancelled(g->hooks)) {
		rn->fail->present = true;
		rn->fail->cancelled = true;
		return MD_E_CANCELLED;
	}
	if (rn->mode == MD_MODE_TRANSACTION)
		return apply_run_transaction(rn, 1);
	rn->ok->retries++;
	return apply_run_stepwise(rn, stmt, 1, g->err);
}

/* The failure of command f of a segment. Returns 0 when the migration still got applied (a
 * retry succeeded) and the group goes on after it; else the migration's error. */
static int on_failure(struct group *g, size_t f, struct seg_outcome *out)
{
	const struct pcmd *c = &g->cmds[f];
	struct pmig *pm = &g->migs[c->mig];
	struct apply_run *rn = &pm->rn;
	struct md_failure *fail = rn->fail;
	bool stmt = c->kind == PK_STMT;
	int r;

	if (c->kind == PK_GATE && !out->connection_lost) {
		apply_rollback_quietly(g->db);
		return md_error_set(g->err, MD_E_CANCELLED, "deploy stopped before %s; %zu of %zu applied", rn->m->name,
				    rn->index - 1, rn->total);
	}
	mark_started(g, pm);
	if (c->kind == PK_INSERT || f == pm->first_cmd) {
		/* The started row was never written: nothing of this migration ran. */
		r = md_db_error_from_result(g->db->conn, out->error,
					    "recording the migration start in _prisma_migrations", g->err);
		return r < 0 ? r : MD_E_DB;
	}
	/* A command of ours after a statement that ran alone: that statement is committed. */
	if (!stmt && rn->mode != MD_MODE_TRANSACTION && c->stmt != NOT_A_STATEMENT &&
	    apply_stmt_no_txn(&rn->sc->stmts[c->stmt], g->db->server_version_num))
		pm->committed = c->stmt + 1;
	apply_fill_failure(fail, rn->m, rn->sc, stmt ? c->stmt : NOT_A_STATEMENT, stmt ? NULL : c->sql, g->db->conn,
			   out->error);
	if (rn->mode == MD_MODE_TRANSACTION) {
		fail->nothing_remains = true;
	} else {
		fail->steps_committed = pm->committed;
		fail->nothing_remains = pm->committed == 0;
	}
	if (out->connection_lost || PQstatus(g->db->conn) != CONNECTION_OK) {
		fail->connection_lost = true;
		return apply_conclude(rn, MD_E_CONNECT, md_clock_mono_ms() - pm->t_start, &pm->ev, g->err);
	}
	apply_rollback_quietly(g->db);
	if (stmt && rn->mode != MD_MODE_TRANSACTION)
		apply_check_invalid_index(g->db, rn->m, &rn->sc->stmts[c->stmt], fail);
	if (apply_cancelled(g->hooks)) {
		fail->cancelled = true;
		r = MD_E_CANCELLED;
	} else if (apply_retryable(fail->sqlstate) && rn->opts->lock_retries > 0 && !fail->invalid_index[0] &&
		   (rn->mode == MD_MODE_TRANSACTION || stmt)) {
		r = retry_alone(g, pm, c->stmt);
	} else {
		r = MD_E_MIGRATION;
	}
	if (r == MD_E_NOMEM)
		md_error_set(g->err, r, "out of memory applying %s", rn->m->name);
	r = apply_conclude(rn, r, md_clock_mono_ms() - pm->t_start, &pm->ev, g->err);
	if (r == 0)
		g->n_applied++;
	return r;
}

/* ---- the group ---- */

static void group_free(struct group *g)
{
	for (size_t j = 0; j < g->n; j++) {
		struct pmig *pm = &g->migs[j];
		apply_free_texts(pm->rn.texts, pm->rn.sc ? pm->rn.sc->n : 0);
		free(pm->steps);
		free(pm->step_params);
	}
	free(g->migs);
	free(g->cmds);
	free(g->insert_sql);
	free(g->finish_sql);
	free(g->set_steps_sql);
	free(g->finish_steps_sql);
	if (g->canceller)
		PQfreeCancel(g->canceller);
	if (g->stopper)
		PQfinish(g->stopper);
}

/* Stopped at a segment boundary (cancel, or shutdown between migrations): what apply.c's
 * callers say when they stop between two migrations, or a cancelled stepwise migration. */
static int stop_at(struct group *g, size_t pos, bool cancel)
{
	const struct pcmd *c = &g->cmds[pos];
	struct pmig *pm = &g->migs[c->mig];
	if (pos == pm->first_cmd || !cancel)
		return md_error_set(g->err, MD_E_CANCELLED, "deploy stopped before %s; %zu of %zu applied",
				    pm->rn.m->name, pm->rn.index - 1, pm->rn.total);
	struct md_failure *f = pm->rn.fail;
	apply_rollback_quietly(g->db); /* a transaction split over two segments may be open */
	f->present = true;
	f->cancelled = true;
	snprintf(f->migration, sizeof f->migration, "%s", pm->rn.m->name);
	snprintf(f->message, sizeof f->message, "cancelled before statement %zu", pm->committed + 1);
	f->n_stmts = pm->rn.sc->n;
	f->steps_committed = pm->committed;
	f->nothing_remains = pm->committed == 0;
	return apply_conclude(&pm->rn, MD_E_CANCELLED, md_clock_mono_ms() - pm->t_start, &pm->ev, g->err);
}

int md_apply_migrations(struct md_db *db, const struct md_apply_item *items, size_t n,
			const struct md_apply_options *opts, const struct md_apply_hooks *hooks, size_t index0,
			size_t total, struct md_applied *ret_ok, size_t *ret_n_applied, struct md_failure *ret_fail,
			struct md_error *err)
{
	struct group g = {.db = db, .hooks = hooks, .n = n, .err = err};
	size_t pos = 0;
	int r = 0;

	*ret_n_applied = 0;
	g.migs = calloc(n ? n : 1, sizeof *g.migs);
	g.insert_sql = md_history_sql(db, MD_HSQL_INSERT_STARTED);
	g.finish_sql = md_history_sql(db, MD_HSQL_FINISH_TIMED);
	g.set_steps_sql = md_history_sql(db, MD_HSQL_SET_STEPS);
	g.finish_steps_sql = md_history_sql(db, MD_HSQL_FINISH_STEPS);
	if (!g.migs || !g.insert_sql || !g.finish_sql || !g.set_steps_sql || !g.finish_steps_sql) {
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		struct pmig *pm = &g.migs[j];
		struct apply_run *rn = &pm->rn;
		memset(&ret_ok[j], 0, sizeof ret_ok[j]);
		rn->db = db;
		rn->m = items[j].m;
		rn->sc = items[j].script;
		rn->opts = opts;
		rn->hooks = hooks;
		rn->fail = ret_fail;
		rn->ok = &ret_ok[j];
		rn->index = index0 + j;
		rn->total = total;
		rn->mode = md_apply_choose_mode(rn->sc, db->server_version_num, pm->reason, sizeof pm->reason);
		rn->reason = pm->reason;
		rn->id = pm->id;
		rn->texts = apply_statement_texts(rn->m, rn->sc);
		md_history_new_marked_id(pm->id, apply_writer(rn->mode));
		pm->ev = (struct md_apply_event){.kind = MD_EV_MIGRATION_START,
						 .migration = rn->m->name,
						 .index = rn->index,
						 .total = total,
						 .mode = rn->mode,
						 .mode_reason = pm->reason[0] ? pm->reason : NULL,
						 .statements = rn->sc->n};
		if (!rn->texts || build_one(&g, j) < 0) {
			r = md_error_set(err, MD_E_NOMEM, "out of memory preparing %s", rn->m->name);
			goto out;
		}
	}
	while (pos < g.ncmds) {
		struct seg_outcome so;
		size_t end = pos + 1;
		const struct pcmd *first = &g.cmds[pos];

		if (apply_cancelled(hooks) ||
		    (hooks && hooks->stop && *hooks->stop && pos == g.migs[first->mig].first_cmd)) {
			r = stop_at(&g, pos, apply_cancelled(hooks));
			break;
		}
		while (end < g.ncmds && !g.cmds[end].sync_before && end - pos < SEGMENT_MAX_CMDS)
			end++;
		r = run_segment(&g, pos, end, &so);
		if (r < 0) {
			PQclear(so.error);
			md_error_set(err, r, "out of memory");
			break;
		}
		if (so.failed == (size_t)-1) {
			pos = end;
			continue;
		}
		size_t mig = g.cmds[so.failed].mig;
		r = on_failure(&g, so.failed, &so);
		PQclear(so.error);
		if (r < 0)
			break;
		pos = mig + 1 < n ? g.migs[mig + 1].first_cmd : g.ncmds; /* applied after a retry */
	}
out:
	*ret_n_applied = g.n_applied;
	group_free(&g);
	return r;
}
