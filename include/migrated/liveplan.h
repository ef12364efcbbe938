/* liveplan.h - what a deploy would do to the live database, statement by statement: how each
 * pending migration runs (in a transaction or not), the lock each statement takes on which
 * relation (ddl.c's table), that relation's live size and row estimate (pg_class), whether it
 * rewrites or scans the table, and the lint findings, so the deployer reads "ACCESS EXCLUSIVE
 * on "Asset" (48 GB, ~120 M rows): table rewrite" before anything runs. Changes nothing. */
#ifndef MIGRATED_LIVEPLAN_H
#define MIGRATED_LIVEPLAN_H

#include <jansson.h>
#include <stdbool.h>

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

struct md_apply_options;
struct md_deploy_report;

/* md_plan_preview: what a deploy would do now, changing nothing, for `migrated plan` and
 * GET /v1/plan alike: a dry-run deploy of cat on db (into *rep, which the caller frees with
 * md_deploy_report_free whatever the result) and, when it would run, md_liveplan_json of its
 * pending migrations (*ret_live, new reference; NULL when the deploy would be refused).
 * Returns 0, a refusal a deploy would meet (MD_E_FAILED_EXISTS, MD_E_NOT_EMPTY, MD_E_CATALOG:
 * md_plan_refusal() says so; *rep describes it) or another error, with err filled. */
int md_plan_preview(struct md_db *db, const struct md_catalog *cat, const struct md_apply_options *apply,
		    const struct md_lint_options *lint, struct md_deploy_report *rep, json_t **ret_live,
		    struct md_error *err);
/* md_plan_refusal: rc of md_plan_preview is an answer about the migrations (the plan document
 * says the deploy would be refused and why), not a failure to look. */
bool md_plan_refusal(int rc);

/* md_human_count: "~120 M" (sizes: md_format_bytes in units.h). */
void md_human_count(double n, char *out, size_t sz);

#endif
