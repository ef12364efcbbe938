/* unfinished.h - what an unfinished `_prisma_migrations` row (finished_at and rolled_back_at
 * NULL) may have left in the database. Decided from who started the row and how (its id, see
 * enum md_row_writer), whether an error was recorded (logs), applied_steps_count, and the
 * migration's file. Only a row migrated started in one transaction provably left nothing; deploy
 * recovers that one by itself (records it rolled back, applies it again). Every other unfinished
 * row is refused as Prisma refuses it (P3009), with this module's account of what may remain:
 * since Prisma 7.4 a file is sent statement by statement, each committed on its own. Pure: no
 * database, no logging. */
#ifndef MIGRATED_UNFINISHED_H
#define MIGRATED_UNFINISHED_H

#include <stdbool.h>
#include <stddef.h>

#include "migrated/history.h"

struct md_plan_item;
struct md_strbuf;

enum md_remains {
	MD_REMAINS_NOTHING = 0, /* provably nothing: one transaction that never committed */
	MD_REMAINS_KNOWN,       /* exactly statements 1..committed (recorded by migrated) */
	MD_REMAINS_UNKNOWN,     /* any of statements maybe_from..maybe_to may also have been committed */
};

struct md_unfinished {
	enum md_row_writer writer;
	enum md_remains remains;
	bool error_recorded; /* logs hold an error: the statement that failed did not commit */
	bool recoverable;    /* deploy may record it rolled back and apply it again by itself */
	size_t committed;    /* statements known to be committed (KNOWN and UNKNOWN) */
	size_t maybe_from;   /* 1-based range that may also have been committed; 0 when none */
	size_t maybe_to;     /* inclusive */
	size_t n_statements; /* in the current migration.sql; 0 when gone or unsplittable */
};

/* md_unfinished_assess: the account of a failed (or running) plan item's deciding row. Items in
 * other states get remains NOTHING and recoverable false. */
void md_unfinished_assess(const struct md_plan_item *it, struct md_unfinished *ret);

/* md_unfinished_describe: appends to out a few sentences for an operator: who ran the
 * migration and how, whether it failed or stopped, what may remain, and (when something may)
 * the file's statements with their line numbers, at most max_statements of them, each on its
 * own line indented by four spaces. */
void md_unfinished_describe(const struct md_plan_item *it, size_t max_statements, struct md_strbuf *out);

/* md_logs_summary: one line from a `logs` text ("42P01 relation ... does not exist"). */
void md_logs_summary(const char *logs, char *out, size_t outsz);

/* md_remains_name: "nothing", "known", "unknown". */
const char *md_remains_name(enum md_remains r);

#endif
