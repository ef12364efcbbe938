/* report.c - text and JSON renderings of status, deploy and errors (see report.h). */
#include "migrated/report.h"
#include "migrated/apply.h"
#include "migrated/backup.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/plan.h"
#include "migrated/advisory_lock.h"
#include "migrated/resolve.h"
#include "migrated/strbuf.h"
#include "migrated/unfinished.h"
#include "migrated/utf8.h"

#include <stdlib.h>
#include <string.h>

void md_report_duration(double ms, char *out, size_t outsz)
{
	if (ms < 0)
		snprintf(out, outsz, "-");
	else if (ms < 1000)
		snprintf(out, outsz, "%.0f ms", ms);
	else if (ms < 60000)
		snprintf(out, outsz, "%.1f s", ms / 1000);
	else
		snprintf(out, outsz, "%d min %d s", (int)(ms / 60000), ((int)(ms / 1000)) % 60);
}

void md_report_time(const char *iso, char *out, size_t outsz)
{
	if (!iso || strlen(iso) < 19) {
		snprintf(out, outsz, "-");
		return;
	}
	snprintf(out, outsz, "%.10s %.12s UTC", iso, iso + 11);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *md_report_text(const char *text)
{
	char buf[sizeof((struct md_error *)0)->message];
	md_redact(text, buf, sizeof buf);
	md_utf8_scrub(buf);
	return json_string(buf);
}

json_t *md_report_error_json(const struct md_error *err)
{
	json_t *detail = json_object();
	if (err->prisma_code[0])
		json_object_set_new(detail, "prisma_code", json_string(err->prisma_code));
	if (err->sqlstate[0])
		json_object_set_new(detail, "sqlstate", json_string(err->sqlstate));
	if (err->code == MD_E_CONNECT && err->conn_failure)
		json_object_set_new(detail, "connection", json_string(md_conn_failure_name(err->conn_failure)));
	if (err->hint[0])
		json_object_set_new(detail, "hint", md_report_text(err->hint));
	return json_pack("{s:{s:s, s:o, s:o}}", "error", "code", md_error_code_name(err->code), "message",
			 md_report_text(err->message), "detail", detail);
}

json_t *md_report_error_fields(const struct md_error *err)
{
	json_t *doc = md_report_error_json(err);
	json_t *e = json_object_get(doc, "error");
	json_t *o =
		json_pack("{s:O, s:O}", "code", json_object_get(e, "code"), "message", json_object_get(e, "message"));
	if (o)
		json_object_update(o, json_object_get(e, "detail"));
	json_decref(doc);
	return o;
}

json_t *md_report_lock_holder_json(const struct md_lock_holder *h)
{
	if (!h || !h->found)
		return json_null();
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "pid", h->pid, "application_name", h->application_name,
			 "user", h->user, "client", h->client, "state", h->state, "since", h->since, "query", h->query);
}

json_t *md_report_resolve_json(const char *name, const char *as, const struct md_resolve_result *res)
{
	json_t *o = json_pack("{s:s?, s:s?, s:i, s:b}", "migration", name, "as", as, "rows_marked_rolled_back",
			      res->rows_changed, "created_history_table", res->created_history);
	if (res->was_failed) {
		json_object_set_new(o, "started_by", json_string(md_row_writer_name(res->remains.writer)));
		json_object_set_new(o, "remains", json_string(md_remains_name(res->remains.remains)));
		json_object_set_new(o, "note", json_string(res->note));
	}
	return o;
}

json_t *md_report_status_json(const struct md_plan *plan, const char *migrations_dir, const struct md_db *db)
{
	json_t *list = json_array(), *summary, *root;

	for (size_t i = 0; i < plan->n; i++) {
		const struct md_plan_item *it = &plan->items[i];
		const struct md_history_row *row = it->row;
		json_t *o = json_pack("{s:s, s:s}", "name", it->name, "state", md_mig_state_name(it->state));
		json_object_set_new(o, "checksum",
				    it->mig && it->mig->has_sql ? json_string(it->mig->checksum) : json_null());
		json_object_set_new(o, "recorded_checksum", str_or_null(row ? row->checksum : NULL));
		json_object_set_new(o, "started_at", str_or_null(row ? row->started_at : NULL));
		json_object_set_new(o, "finished_at", str_or_null(row ? row->finished_at : NULL));
		json_object_set_new(o, "rolled_back_at", str_or_null(row ? row->rolled_back_at : NULL));
		json_object_set_new(o, "applied_steps_count", json_integer(row ? row->applied_steps_count : 0));
		json_object_set_new(o, "duration_ms",
				    row && row->duration_ms >= 0 ? json_real(row->duration_ms) : json_null());
		json_object_set_new(o, "logs", str_or_null(row ? row->logs : NULL));
		json_object_set_new(o, "rows", json_integer((json_int_t)it->n_rows));
		if (it->state == MD_MIG_FAILED || it->state == MD_MIG_RUNNING) {
			struct md_unfinished u;
			struct md_strbuf sb = MD_STRBUF_INIT;
			md_unfinished_assess(it, &u);
			md_unfinished_describe(it, 50, &sb);
			json_object_set_new(o, "interrupted", json_boolean(it->interrupted));
			json_object_set_new(o, "started_by", json_string(md_row_writer_name(u.writer)));
			json_object_set_new(o, "remains", json_string(md_remains_name(u.remains)));
			json_object_set_new(o, "recoverable", json_boolean(u.recoverable));
			json_object_set_new(o, "statements_committed", json_integer((json_int_t)u.committed));
			json_object_set_new(o, "may_remain",
					    u.maybe_from ? json_pack("{s:I, s:I}", "from", (json_int_t)u.maybe_from,
								     "to", (json_int_t)u.maybe_to)
							 : json_null());
			json_object_set_new(o, "explanation",
					    md_strbuf_failed(&sb) ? json_null() : json_string(md_strbuf_cstr(&sb)));
			md_strbuf_free(&sb);
		}
		if (it->state == MD_MIG_RUNNING && it->holder)
			json_object_set_new(o, "lock_holder", md_report_lock_holder_json(it->holder));
		if (it->mig)
			json_object_set_new(o, "has_down_sql", json_boolean(it->mig->has_down));
		if (it->sql_missing)
			json_object_set_new(o, "migration_sql_missing", json_true());
		json_array_append_new(list, o);
	}
	summary = json_pack("{s:I}", "total", (json_int_t)plan->n);
	for (int i = 0; i < MD_MIG__COUNT; i++)
		json_object_set_new(summary, md_mig_state_name((enum md_mig_state)i),
				    json_integer((json_int_t)plan->count[i]));
	root = json_pack("{s:b, s:o, s:o, s:s, s:b}", "up_to_date", md_plan_up_to_date(plan), "summary", summary,
			 "migrations", list, "migrations_dir", migrations_dir, "history_table", plan->history_exists);
	if (db)
		json_object_set_new(root, "database",
				    json_pack("{s:s, s:s, s:s, s:b}", "target", db->display, "schema", db->schema,
					      "server_version", db->server_version, "in_recovery", db->in_recovery));
	return root;
}

json_t *md_report_failure_json(const struct md_failure *f)
{
	if (!f->present)
		return json_null();
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "migration", f->migration, "mode", md_apply_mode_name(f->mode),
			      "sqlstate", f->sqlstate, "message", f->message);
	json_object_set_new(o, "detail", f->detail[0] ? json_string(f->detail) : json_null());
	json_object_set_new(o, "hint", f->hint[0] ? json_string(f->hint) : json_null());
	json_object_set_new(o, "statement", str_or_null(f->statement));
	json_object_set_new(o, "statement_number", f->stmt_no ? json_integer((json_int_t)f->stmt_no) : json_null());
	json_object_set_new(o, "statements", json_integer((json_int_t)f->n_stmts));
	json_object_set_new(o, "line", f->line ? json_integer(f->line) : json_null());
	json_object_set_new(o, "column", f->col ? json_integer(f->col) : json_null());
	json_object_set_new(o, "statements_committed", json_integer((json_int_t)f->steps_committed));
	json_object_set_new(o, "nothing_remains", json_boolean(f->nothing_remains));
	json_object_set_new(o, "recorded", json_boolean(f->recorded));
	json_object_set_new(o, "connection_lost", json_boolean(f->connection_lost));
	json_object_set_new(o, "cancelled", json_boolean(f->cancelled));
	json_object_set_new(o, "invalid_index", f->invalid_index[0] ? json_string(f->invalid_index) : json_null());
	return o;
}

static json_t *names_json(char **names, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

json_t *md_report_deploy_json(const struct md_deploy_report *rep, int rc, const struct md_error *err)
{
	json_t *applied = json_array(), *planned = json_array(), *root;

	for (size_t i = 0; i < rep->n_applied; i++) {
		const struct md_applied *a = &rep->applied[i];
		json_array_append_new(applied,
				      json_pack("{s:s, s:s, s:f, s:I, s:i}", "name", a->name, "mode",
						md_apply_mode_name(a->mode), "duration_ms", a->duration_ms,
						"statements", (json_int_t)a->statements, "retries", a->retries));
	}
	for (size_t i = 0; i < rep->n_pending && rep->planned; i++) {
		const struct md_planned *p = &rep->planned[i];
		json_t *o = json_pack("{s:s, s:s, s:I}", "name", p->name, "mode", md_apply_mode_name(p->mode),
				      "statements", (json_int_t)p->statements);
		json_object_set_new(o, "mode_reason", p->reason[0] ? json_string(p->reason) : json_null());
		json_array_append_new(planned, o);
	}
	root = json_pack("{s:b, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:b, s:f, s:f}", "ok", rc == 0, "found",
			 (json_int_t)rep->n_found, "pending", (json_int_t)rep->n_pending, "planned", planned, "applied",
			 applied, "recovered", names_json(rep->recovered, rep->n_recovered), "modified",
			 names_json(rep->modified, rep->n_modified), "missing",
			 names_json(rep->missing, rep->n_missing), "created_history_table", rep->created_history,
			 "lock_wait_ms", rep->lock_wait_ms, "duration_ms", rep->total_ms);
	json_object_set_new(root, "failure", md_report_failure_json(&rep->failure));
	if (rc < 0 && err) {
		json_t *e = md_report_error_json(err);
		json_object_set(root, "error", json_object_get(e, "error"));
		json_decref(e);
	} else {
		json_object_set_new(root, "error", json_null());
	}
	return root;
}

json_t *md_report_plan_json(const struct md_deploy_report *rep, int rc, const struct md_error *err, json_t *live,
			    json_t *preflight)
{
	json_t *body = md_report_deploy_json(rep, rc, err);
	json_object_del(body, "applied"); /* a dry run applies nothing and cannot fail a migration */
	json_object_del(body, "failure");
	json_object_set_new(body, "would_deploy", json_boolean(rc == 0));
	json_object_set_new(body, "migrations", live ? live : json_array());
	if (preflight)
		json_object_set_new(body, "preflight", preflight);
	return body;
}

void md_report_preflight_text(FILE *out, const json_t *pf)
{
	size_t i;
	json_t *f;
	const char *status = json_string_value(json_object_get(pf, "status"));
	const char *reason = json_string_value(json_object_get(pf, "reason"));
	if (reason) {
		fprintf(out, "Preflight: %s\n", reason);
		return;
	}
	fprintf(out, "Preflight: %lld check%s on today's data, %lld fail%s, %lld skipped (%.0f ms)%s\n",
		(long long)json_integer_value(json_object_get(pf, "checks")),
		json_integer_value(json_object_get(pf, "checks")) == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(pf, "failed")),
		json_integer_value(json_object_get(pf, "failed")) == 1 ? "s" : "",
		(long long)json_integer_value(json_object_get(pf, "skipped")),
		json_number_value(json_object_get(pf, "duration_ms")),
		status && strcmp(status, "ok") == 0 ? ": nothing will fail" : "");
	json_array_foreach(json_object_get(pf, "findings"), i, f)
	{
		const char *st = json_string_value(json_object_get(f, "status"));
		if (!st || (strcmp(st, "fails") != 0 && strcmp(st, "skipped") != 0))
			continue;
		fprintf(out, "  %-7s %s line %lld: %s\n", strcmp(st, "fails") == 0 ? "FAILS" : "skipped",
			json_string_value(json_object_get(f, "migration")),
			(long long)json_integer_value(json_object_get(f, "line")),
			json_string_value(json_object_get(f, "message")));
		json_t *ex = json_object_get(f, "examples");
		if (json_array_size(ex) > 0) {
			char *s = json_dumps(ex, JSON_COMPACT | JSON_ENSURE_ASCII);
			fprintf(out, "          examples (primary keys): %.400s\n", s ? s : "");
			free(s);
		}
		const char *hint = json_string_value(json_object_get(f, "hint"));
		if (hint)
			fprintf(out, "          Next: %s\n", hint);
	}
}

void md_report_error_text(FILE *out, const struct md_error *err)
{
	fprintf(out, "Error: %s%s%s\n", err->prisma_code[0] ? err->prisma_code : "", err->prisma_code[0] ? " " : "",
		err->message);
	if (err->hint[0])
		fprintf(out, "Next: %s\n", err->hint);
}

static const char *state_label(enum md_mig_state s)
{
	switch (s) {
	case MD_MIG_APPLIED: return "applied";
	case MD_MIG_PENDING: return "PENDING";
	case MD_MIG_FAILED: return "FAILED";
	case MD_MIG_ROLLED_BACK: return "ROLLED BACK";
	case MD_MIG_MODIFIED: return "MODIFIED";
	case MD_MIG_MISSING: return "MISSING";
	case MD_MIG_RUNNING: return "RUNNING";
	default: return "?";
	}
}

static void status_line(FILE *out, const struct md_plan_item *it, int width)
{
	char when[48], dur[32];

	bool more = it->state != MD_MIG_PENDING || it->sql_missing;
	fprintf(out, "  %-11s %-*s", state_label(it->state), more ? width : 0, it->name);
	switch (it->state) {
	case MD_MIG_APPLIED:
		md_report_time(it->row->finished_at, when, sizeof when);
		md_report_duration(it->row->duration_ms, dur, sizeof dur);
		fprintf(out, "  %s  %s", when, dur);
		break;
	case MD_MIG_FAILED: {
		struct md_strbuf sb = MD_STRBUF_INIT;
		md_report_time(it->row->started_at, when, sizeof when);
		md_unfinished_describe(it, 20, &sb);
		fprintf(out, "  started %s\n  %-11s %s", when, "",
			md_strbuf_failed(&sb) ? "(out of memory describing it)" : md_strbuf_cstr(&sb));
		md_strbuf_free(&sb);
		break;
	}
	case MD_MIG_RUNNING:
		md_report_time(it->row->started_at, when, sizeof when);
		fprintf(out, "  started %s\n  %-11s being applied now by pid %d (application \"%s\", user %s, from %s)",
			when, "", it->holder ? it->holder->pid : 0, it->holder ? it->holder->application_name : "?",
			it->holder ? it->holder->user : "?", it->holder ? it->holder->client : "?");
		break;
	case MD_MIG_ROLLED_BACK: fprintf(out, "  marked rolled back; the next deploy applies it again"); break;
	case MD_MIG_MODIFIED: fprintf(out, "  migration.sql changed after it was applied (checksum differs)"); break;
	case MD_MIG_MISSING:
		fprintf(out, "  applied in the database, but its folder is not in the migrations folder");
		break;
	case MD_MIG_PENDING:
		if (it->sql_missing)
			fprintf(out, "  (folder has no migration.sql)");
		break;
	default: break;
	}
	fputc('\n', out);
}

void md_report_status_text(FILE *out, const struct md_plan *plan, const char *migrations_dir, bool all)
{
	int width = 0;
	size_t shown = 0;
	const struct md_plan_item *failed = NULL, *last_applied = NULL;

	for (size_t i = 0; i < plan->n; i++) {
		int w = (int)strlen(plan->items[i].name);
		if (w > width && (all || plan->items[i].state != MD_MIG_APPLIED))
			width = w;
		if (plan->items[i].state == MD_MIG_FAILED && !failed)
			failed = &plan->items[i];
		if (plan->items[i].state == MD_MIG_APPLIED)
			last_applied = &plan->items[i];
	}
	fprintf(out, "%zu migration%s found in %s\n", plan->n_catalog, plan->n_catalog == 1 ? "" : "s", migrations_dir);
	if (!plan->history_exists)
		fprintf(out, "No _prisma_migrations table in the database yet: nothing has been applied.\n");
	fprintf(out, "\n  applied %zu · pending %zu · failed %zu · rolled back %zu · modified %zu · missing %zu",
		plan->count[MD_MIG_APPLIED], plan->count[MD_MIG_PENDING], plan->count[MD_MIG_FAILED],
		plan->count[MD_MIG_ROLLED_BACK], plan->count[MD_MIG_MODIFIED], plan->count[MD_MIG_MISSING]);
	if (plan->count[MD_MIG_RUNNING])
		fprintf(out, " · running %zu", plan->count[MD_MIG_RUNNING]);
	fprintf(out, "\n\n");
	for (size_t i = 0; i < plan->n; i++) {
		if (!all && plan->items[i].state == MD_MIG_APPLIED)
			continue;
		status_line(out, &plan->items[i], width);
		shown++;
	}
	if (shown)
		fputc('\n', out);
	if (md_plan_up_to_date(plan)) {
		char when[48];
		fprintf(out, "Database schema is up to date!");
		if (last_applied) {
			md_report_time(last_applied->row->finished_at, when, sizeof when);
			fprintf(out, " Last applied: %s (%s).", last_applied->name, when);
		}
		fputc('\n', out);
		return;
	}
	size_t to_apply = plan->count[MD_MIG_PENDING] + plan->count[MD_MIG_ROLLED_BACK];
	if (plan->count[MD_MIG_RUNNING])
		fprintf(out, "Another session is applying migrations now (it holds the migration lock): check again "
			     "when it ends.\n");
	if (failed) {
		fprintf(out, "A failed migration blocks deploys: %s.\n", failed->name);
		fprintf(out,
			"Next: if it left nothing behind (or you undid it), fix it and run\n"
			"  migrated resolve --rolled-back \"%s\"\n"
			"or, if you completed it by hand,\n"
			"  migrated resolve --applied \"%s\"\n"
			"then run `migrated deploy`.\n",
			failed->name, failed->name);
	} else if (to_apply) {
		fprintf(out, "%zu migration%s not yet applied. Next: migrated deploy\n", to_apply,
			to_apply == 1 ? "" : "s");
	}
	if (plan->count[MD_MIG_MODIFIED])
		fprintf(out,
			"Warning: %zu applied migration%s changed since; the database may not match those files "
			"(restore them from version control, or add a new migration for the change).\n",
			plan->count[MD_MIG_MODIFIED], plan->count[MD_MIG_MODIFIED] == 1 ? "" : "s");
	if (plan->count[MD_MIG_MISSING])
		fprintf(out,
			"Warning: %zu migration%s in the database are not in %s: is this an older checkout of "
			"the project?\n",
			plan->count[MD_MIG_MISSING], plan->count[MD_MIG_MISSING] == 1 ? "" : "s", migrations_dir);
}

/* Whether a retry line broke the "[i/n] name ... applied" line (the CLI is single-threaded). */
static bool line_broken;

void md_report_deploy_event_text(FILE *out, const struct md_apply_event *ev)
{
	char dur[32], who[1024];
	const char *lead = line_broken ? "\n      " : "  ";
	int w = ev->total >= 1000 ? 4 : ev->total >= 100 ? 3 : ev->total >= 10 ? 2 : 1;

	switch (ev->kind) {
	case MD_EV_LOCK_WAIT:
		md_lock_holder_describe(ev->holder, who, sizeof who);
		fprintf(out, "Waiting up to %.1f s for the migration lock, held by %s\n", ev->wait_ms / 1000.0, who);
		break;
	case MD_EV_RECOVERED: fprintf(out, "Recovered %s: %s\n", ev->migration, ev->message); break;
	case MD_EV_MIGRATION_START:
		line_broken = false;
		fprintf(out, "  [%*zu/%zu] %s", w, ev->index, ev->total, ev->migration);
		if (ev->mode != MD_MODE_TRANSACTION)
			fprintf(out, " (%s: %s)", md_apply_mode_name(ev->mode), ev->mode_reason ? ev->mode_reason : "");
		fflush(out);
		break;
	case MD_EV_RETRY:
		fprintf(out, "\n      %s", ev->message);
		line_broken = true;
		fflush(out);
		break;
	case MD_EV_MIGRATION_DONE:
		md_report_duration(ev->duration_ms, dur, sizeof dur);
		fprintf(out, "%sapplied in %s\n", lead, dur);
		break;
	case MD_EV_MIGRATION_FAILED:
		md_report_duration(ev->duration_ms, dur, sizeof dur);
		fprintf(out, "%sFAILED after %s\n", lead, dur);
		break;
	case MD_EV_STATEMENT:
	case MD_EV_PREFLIGHT_DONE:
	case MD_EV_LOCKING:
	case MD_EV_LOCKED: break;
	}
}

void md_report_failure_text(FILE *out, const struct md_failure *f, const char *migrations_dir)
{
	fprintf(out, "\nError: P3018 migration %s failed (ran as %s).\n", f->migration, md_apply_mode_name(f->mode));
	fprintf(out, "  Database error%s%s: %s\n", f->sqlstate[0] ? " " : "", f->sqlstate, f->message);
	if (f->detail[0])
		fprintf(out, "  Detail: %s\n", f->detail);
	if (f->hint[0])
		fprintf(out, "  Hint: %s\n", f->hint);
	if (f->stmt_no)
		fprintf(out, "  At statement %zu of %zu, line %u, column %u of %s/%s/migration.sql:\n", f->stmt_no,
			f->n_stmts, f->line, f->col, migrations_dir, f->migration);
	else if (f->statement)
		fprintf(out, "  While running: %s\n", f->statement);
	if (f->stmt_no && f->statement) {
		const char *s = f->statement;
		for (int lines = 0; *s && lines < 8; lines++) {
			size_t n = strcspn(s, "\n");
			fprintf(out, "    %.*s\n", (int)n, s);
			s += n;
			if (*s)
				s++;
		}
		if (*s)
			fprintf(out, "    ...\n");
	}
	if (f->connection_lost)
		fprintf(out, "  The connection to the database was lost%s.\n",
			f->mode == MD_MODE_TRANSACTION ? "; the server rolled the migration back"
						       : ": check what of it was applied");
	else if (f->nothing_remains)
		fprintf(out, "  The migration was rolled back: nothing of it remains in the database.\n");
	else
		fprintf(out, "  %zu of %zu statements were committed before the failure and remain in the database.\n",
			f->steps_committed, f->n_stmts);
	if (f->invalid_index[0])
		fprintf(out, "  The failed build left index %s INVALID: DROP INDEX CONCURRENTLY %s; before retrying.\n",
			f->invalid_index, f->invalid_index);
	if (f->cancelled) {
		fprintf(out, "  It was cancelled on request%s.\n",
			f->recorded && f->nothing_remains ? " and is recorded as rolled back" : "");
		return;
	}
	if (f->recorded)
		fprintf(out, "  It is recorded as failed in _prisma_migrations (the error is in its logs).\n");
	if (f->nothing_remains && (strcmp(f->sqlstate, "55P03") == 0 || strcmp(f->sqlstate, "40P01") == 0)) {
		fprintf(out,
			"Next: another session kept a lock this migration needs (see pg_locks and pg_stat_activity\n"
			"for long transactions on the table); once it is gone, run\n"
			"  migrated resolve --rolled-back \"%s\"\n  migrated deploy\n"
			"(raise --lock-timeout or --lock-retries to wait longer).\n",
			f->migration);
		return;
	}
	if (f->nothing_remains && strcmp(f->sqlstate, "57014") == 0 && !f->cancelled) {
		fprintf(out,
			"Next: the statement ran longer than statement_timeout; raise --statement-timeout (or\n"
			"statement_timeout in the config), then\n"
			"  migrated resolve --rolled-back \"%s\"\n  migrated deploy\n",
			f->migration);
		return;
	} else if (f->connection_lost && f->mode == MD_MODE_TRANSACTION)
		fprintf(out, "  The next deploy will see that it was interrupted and apply it again.\n");
	fprintf(out, "Next: %s, then\n  migrated resolve --rolled-back \"%s\"\n  migrated deploy\n",
		f->nothing_remains ? "fix the migration file"
				   : "undo or complete the committed part by hand, fix the file",
		f->migration);
}

void md_report_deploy_text(FILE *out, const struct md_deploy_report *rep, int rc, const char *migrations_dir)
{
	char dur[32];

	md_report_duration(rep->total_ms, dur, sizeof dur);
	if (rc == 0 && rep->n_pending == 0)
		fprintf(out, "No pending migrations to apply.\n");
	else if (rc == 0)
		fprintf(out, "All %zu pending migration%s applied in %s.\n", rep->n_applied,
			rep->n_applied == 1 ? "" : "s", dur);
	if (rep->failure.present) {
		md_report_failure_text(out, &rep->failure, migrations_dir);
		if (rep->n_pending > rep->n_applied + 1)
			fprintf(out, "%zu later migration%s not applied.\n", rep->n_pending - rep->n_applied - 1,
				rep->n_pending - rep->n_applied - 1 == 1 ? " was" : "s were");
	}
	for (size_t i = 0; i < rep->n_modified; i++)
		fprintf(out,
			"Warning: %s was edited after it was applied (checksum differs); deploy ignores that, as "
			"Prisma does.\n",
			rep->modified[i]);
	for (size_t i = 0; i < rep->n_missing; i++)
		fprintf(out, "Warning: %s is applied in the database but missing from %s.\n", rep->missing[i],
			migrations_dir);
}

char *md_report_dump(const json_t *j, size_t flags)
{
	char *s = json_dumps(j, flags | JSON_PRESERVE_ORDER);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return t;
}

json_t *md_report_backups_json(const char *dir, const struct md_backup *list, size_t n, size_t unreadable)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, md_backup_json(&list[i]));
	return json_pack("{s:o, s:s, s:I}", "backups", a, "dir", dir, "unreadable", (json_int_t)unreadable);
}
