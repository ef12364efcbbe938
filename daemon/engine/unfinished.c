/* unfinished.c - what an unfinished history row may have left behind (see unfinished.h). */
#include "migrated/unfinished.h"
#include "migrated/catalog.h"
#include "migrated/plan.h"
#include "migrated/sqlsplit.h"
#include "migrated/strbuf.h"

#include <stdio.h>
#include <string.h>

/* What migrated's failure recorder wrote in logs before rows carried a marked id: a
 * transactional failure says so in words. Only migrated writes this sentence. */
#define LEGACY_NOTHING_REMAINS "the transaction was rolled back, nothing of this migration remains"

const char *md_remains_name(enum md_remains r)
{
	switch (r) {
	case MD_REMAINS_NOTHING: return "nothing";
	case MD_REMAINS_KNOWN: return "known";
	case MD_REMAINS_UNKNOWN: return "unknown";
	}
	return "unknown";
}

void md_logs_summary(const char *logs, char *out, size_t outsz)
{
	const char *code = NULL, *err = NULL, *p;
	size_t n;

	out[0] = '\0';
	if (!logs || !*logs)
		return;
	if ((p = strstr(logs, "Database error code: ")))
		code = p + 21;
	if ((p = strstr(logs, "\nERROR: ")))
		err = p + 8;
	else if ((p = strstr(logs, "ERROR: ")))
		err = p + 7;
	if (!err) {
		err = logs;
		while (*err == '\n' || *err == ' ')
			err++;
	}
	n = strcspn(err, "\n");
	if (code)
		snprintf(out, outsz, "%.5s %.*s", code, (int)n, err);
	else
		snprintf(out, outsz, "%.*s", (int)n, err);
}

static size_t count_statements(const struct md_plan_item *it)
{
	struct md_sqlscript sc;
	size_t n;
	if (!it->mig || !it->mig->has_sql || md_sqlsplit(it->mig->sql, it->mig->sql_len, &sc, NULL) < 0)
		return 0;
	n = sc.n;
	md_sqlscript_free(&sc);
	return n;
}

void md_unfinished_assess(const struct md_plan_item *it, struct md_unfinished *u)
{
	const struct md_history_row *row = it->row;
	size_t n, steps;

	memset(u, 0, sizeof *u);
	if (!row || (it->state != MD_MIG_FAILED && it->state != MD_MIG_RUNNING))
		return;
	u->writer = md_history_row_writer(row->id);
	u->error_recorded = row->logs && *row->logs;
	u->n_statements = n = count_statements(it);
	steps = row->applied_steps_count > 0 ? (size_t)row->applied_steps_count : 0;
	switch (u->writer) {
	case MD_WRITER_ATOMIC:
		/* BEGIN, the file, the finishing UPDATE, COMMIT: unfinished means never committed. */
		u->remains = MD_REMAINS_NOTHING;
		/* Applied again only as it was: an edited file means someone is changing it, and a
		 * human should say so (resolve --rolled-back) before a different file runs. */
		u->recoverable = it->state == MD_MIG_FAILED && !row->logs && steps == 0 && it->mig &&
				 it->mig->has_sql && it->mig->utf8_ok && strcmp(row->checksum, it->mig->checksum) == 0;
		return;
	case MD_WRITER_STEPWISE:
	case MD_WRITER_SCRIPT:
		/* applied_steps_count follows each commit (stepwise) or is written with the error
		 * (own transactions); after a kill the next statements may have committed too. */
		u->committed = steps;
		if (u->error_recorded) {
			u->remains = steps ? MD_REMAINS_KNOWN : MD_REMAINS_NOTHING;
			return;
		}
		u->remains = MD_REMAINS_UNKNOWN;
		u->maybe_from = steps + 1;
		u->maybe_to = u->writer == MD_WRITER_STEPWISE ? steps + 1 : (n > steps ? n : steps + 1);
		return;
	case MD_WRITER_SINGLE:
		/* One statement outside a transaction: an error means it did not happen (though a
		 * CONCURRENTLY build may leave an INVALID index, which logs name); a kill means it may
		 * have. */
		u->remains = u->error_recorded ? MD_REMAINS_NOTHING : MD_REMAINS_UNKNOWN;
		u->maybe_from = u->maybe_to = u->error_recorded ? 0 : 1;
		return;
	case MD_WRITER_OTHER:
		if (row->logs && strstr(row->logs, LEGACY_NOTHING_REMAINS)) {
			u->remains = MD_REMAINS_NOTHING;
			return;
		}
		/* Prisma 7.4+ commits statement by statement: any of them may remain, but for the one
		 * that failed (which we cannot tell from logs). A file of one statement that failed
		 * left nothing. */
		if (u->error_recorded && n == 1) {
			u->remains = MD_REMAINS_NOTHING;
			return;
		}
		u->remains = MD_REMAINS_UNKNOWN;
		u->maybe_from = 1;
		u->maybe_to = n ? n : 1;
		return;
	}
}

/* One line per statement: "    3. line 7: CREATE TABLE z (id int)", whitespace folded. */
static void list_statements(const struct md_plan_item *it, size_t from, size_t to, size_t max, struct md_strbuf *out)
{
	struct md_sqlscript sc;
	size_t shown = 0;

	if (!it->mig || !it->mig->has_sql || md_sqlsplit(it->mig->sql, it->mig->sql_len, &sc, NULL) < 0)
		return;
	if (to > sc.n)
		to = sc.n;
	for (size_t i = from; i >= 1 && i <= to; i++) {
		const struct md_sqlstmt *st = &sc.stmts[i - 1];
		char text[100];
		size_t k = 0;
		bool space = false;
		if (shown == max) {
			md_strbuf_printf(out, "\n    ... and %zu more (lines %u to %u)", to - i + 1, st->line,
					 sc.stmts[to - 1].line);
			break;
		}
		for (size_t j = st->start; j < st->end && k + 4 < sizeof text; j++) {
			char c = it->mig->sql[j];
			if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
				space = k > 0;
				continue;
			}
			if (space)
				text[k++] = ' ';
			space = false;
			text[k++] = c;
		}
		text[k] = '\0';
		if (k + 4 >= sizeof text)
			snprintf(text + sizeof text - 4, 4, "...");
		md_strbuf_printf(out, "\n    %zu. line %u: %s", i, st->line, text);
		shown++;
	}
	md_sqlscript_free(&sc);
}

static const char *how_ran(enum md_row_writer w)
{
	switch (w) {
	case MD_WRITER_ATOMIC: return "migrated ran it as one transaction";
	case MD_WRITER_SCRIPT: return "migrated ran it with the file's own BEGIN/COMMIT";
	case MD_WRITER_SINGLE: return "migrated ran its one statement outside a transaction block";
	case MD_WRITER_STEPWISE: return "migrated ran it statement by statement, each committed on its own";
	case MD_WRITER_OTHER: break;
	}
	return "it was started by Prisma or another tool, not by migrated";
}

static void committed_sentence(const struct md_unfinished *u, struct md_strbuf *out)
{
	if (u->committed == 1)
		md_strbuf_printf(out, "Statement 1 of %zu was committed and remains.", u->n_statements);
	else
		md_strbuf_printf(out, "Statements 1 to %zu of %zu were committed and remain.", u->committed,
				 u->n_statements);
}

void md_unfinished_describe(const struct md_plan_item *it, size_t max_statements, struct md_strbuf *out)
{
	struct md_unfinished u;
	char summary[512];

	md_unfinished_assess(it, &u);
	if (!it->row)
		return;
	md_logs_summary(it->row->logs, summary, sizeof summary);
	md_strbuf_printf(out, "%s; ", how_ran(u.writer));
	if (it->state == MD_MIG_RUNNING)
		md_strbuf_puts(out, "it is running now in the session that holds the migration lock. ");
	else if (summary[0])
		md_strbuf_printf(out, "it failed: %s. ", summary);
	else
		md_strbuf_puts(out, "it stopped without recording an error (its process or connection ended). ");
	switch (u.remains) {
	case MD_REMAINS_NOTHING:
		md_strbuf_puts(out, "Nothing of it remains in the database.");
		if (u.recoverable)
			md_strbuf_puts(out, " The next deploy records it rolled back and applies it again.");
		else if (u.writer == MD_WRITER_ATOMIC && !u.error_recorded && it->mig && it->mig->has_sql &&
			 strcmp(it->row->checksum, it->mig->checksum) != 0)
			md_strbuf_puts(out, " But migration.sql has changed since it started, so it is not applied "
					    "again by itself.");
		return;
	case MD_REMAINS_KNOWN:
		committed_sentence(&u, out);
		md_strbuf_puts(out, " None after them ran:");
		list_statements(it, 1, u.committed, max_statements, out);
		return;
	case MD_REMAINS_UNKNOWN: break;
	}
	if (u.writer == MD_WRITER_OTHER) {
		md_strbuf_printf(out,
				 "Prisma 7.4 and later send a file statement by statement, each committed on its own "
				 "(Prisma 6 and 7.0-7.3 sent it as one transaction), so any statement before the one "
				 "that %s may have been committed%s. Check which of its %zu statement%s took effect:",
				 u.error_recorded ? "failed" : "was running",
				 u.error_recorded ? "" : ", and that one may have completed", u.n_statements,
				 u.n_statements == 1 ? "" : "s");
		list_statements(it, u.maybe_from, u.maybe_to, max_statements, out);
		return;
	}
	if (u.committed) {
		committed_sentence(&u, out);
		md_strbuf_putc(out, ' ');
	}
	if (u.maybe_from == u.maybe_to)
		md_strbuf_printf(out, "Statement %zu may also have been committed before it stopped:", u.maybe_from);
	else
		md_strbuf_printf(out,
				 "Statements %zu to %zu may also have been committed before it stopped:", u.maybe_from,
				 u.maybe_to);
	list_statements(it, u.maybe_from, u.maybe_to, max_statements, out);
}
