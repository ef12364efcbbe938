/* liveplan.h - what a deploy would do to the live database, statement by statement: how each
 * pending migration runs (in a transaction or not), the lock each statement takes on which
 * relation (ddl.c's table), that relation's live size and row estimate (pg_class), whether it
 * rewrites or scans the table, and the lint findings, so the deployer reads "ACCESS EXCLUSIVE
 * on "Asset" (48 GB, ~120 M rows): table rewrite" before anything runs. Changes nothing. */
#ifndef MIGRATED_LIVEPLAN_H
#define MIGRATED_LIVEPLAN_H

#include <jansson.h>

struct md_catalog;
struct md_db;
struct md_deploy_report;
struct md_error;
struct md_lint_options;

/* md_liveplan_json: for each migration rep->planned lists (a dry-run deploy's report), its
 * statements with their locks and sizes and its lint findings: [{"name", "mode",
 * "mode_reason", "statements": [{"index", "line", "statement", "locks": [{"mode",
 * "relation", "exists", "size_bytes", "rows_estimate", "rewrite", "scan", "why", "blocks",
 * "summary"}]}], "lint": [...]}]. Reads pg_class only. MD_E_DB, MD_E_NOMEM. */
int md_liveplan_json(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_report *rep,
		     const struct md_lint_options *lint, json_t **ret, struct md_error *err);

/* md_human_bytes / md_human_count: "48.0 GB", "~120 M". */
void md_human_bytes(double bytes, char *out, size_t sz);
void md_human_count(double n, char *out, size_t sz);

#endif
