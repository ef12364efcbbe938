/* preflight.h - data preflight: before a deploy locks anything, every pending statement that
 * can fail on existing rows (SET NOT NULL, a required column, UNIQUE and primary keys, foreign
 * keys, CHECK, VALIDATE CONSTRAINT, column type changes, Prisma's enum rewrite) becomes a
 * bounded, read-only question to the live database, and the answer is a finding with exact row
 * counts and example primary keys. Drops are reported as information (what would be lost).
 * One REPEATABLE READ READ ONLY transaction, ACCESS SHARE locks only, a statement_timeout per
 * question and a budget for all; tables over a size limit are not scanned. Changes nothing. */
#ifndef MIGRATED_PREFLIGHT_H
#define MIGRATED_PREFLIGHT_H

#include <jansson.h>
#include <stdbool.h>

struct md_apply_options;
struct md_catalog;
struct md_config;
struct md_db;
struct md_deploy_report;
struct md_error;

struct md_preflight_options {
	long timeout_ms;       /* each question's statement_timeout (preflight_timeout, default 5 s) */
	long budget_ms;        /* all questions together (preflight_budget, default 60 s) */
	long long max_rows;    /* a table estimated larger is not scanned (preflight_max_rows, 10 M) */
	bool show_values;      /* examples carry the checked columns' values (preflight_show_values) */
	int connect_timeout_s; /* for preflight_url (connect_timeout) */
};

/* md_preflight_options_default: the defaults above. */
void md_preflight_options_default(struct md_preflight_options *o);

/* md_preflight_options_from: the preflight_* keys of cfg. */
void md_preflight_options_from(const struct md_config *cfg, struct md_preflight_options *o);

/* md_preflight_pending: the preflight of what a deploy of cat on db would apply now, for the CLI,
 * the API and the deploy job alike: a dry-run deploy (no lock, nothing written) for the pending
 * list, then md_preflight_run on replica_url when given (a connection of its own, closed
 * again; o->connect_timeout_s for it), else on db. When the deploy would be refused anyway (P3009,
 * P3005, a broken file) or nothing is pending, *ret says so as a "skipped"/"ok" document and
 * 0 is returned: the deploy reports its own refusal. Errors as md_preflight_run, plus MD_E_CONNECT
 * for the replica. *ret is a new reference. */
int md_preflight_pending(struct md_db *db, const char *replica_url, const struct md_catalog *cat,
			 const struct md_apply_options *apply, const struct md_preflight_options *o, json_t **ret,
			 struct md_error *err);

/* md_preflight_nothing_pending: the document when no migration is pending ("ok", no checks);
 * a new reference, NULL when out of memory. */
json_t *md_preflight_nothing_pending(void);

/* md_preflight_report: md_preflight_run for the pending list of rep (a dry run's), asked on
 * replica_url when given (a connection of its own, closed again), else on db. */
int md_preflight_report(struct md_db *db, const char *replica_url, const struct md_catalog *cat,
			const struct md_deploy_report *rep, const struct md_preflight_options *o, json_t **ret,
			struct md_error *err);

/* md_preflight_run: the questions for the migrations rep->planned lists (a dry-run deploy's
 * report of cat), asked of db (the primary, or a replica: preflight_url). *ret (new
 * reference) is {"status": "ok"|"fails"|"skipped", "checks", "failed", "skipped",
 * "duration_ms", "findings": [{"migration", "line", "statement", "check", "relation",
 * "columns", "status": "fails"|"ok"|"skipped"|"info", "violating_rows", "examples",
 * "message", "hint", "duration_ms", ...}]}. A question that cannot be answered (timeout,
 * budget, size, an error of its own) is a "skipped" finding, not an error. Returns 0, or
 * MD_E_CONNECT / MD_E_DB when the transaction itself could not run, MD_E_NOMEM; err filled. */
int md_preflight_run(struct md_db *db, const struct md_catalog *cat, const struct md_deploy_report *rep,
		     const struct md_preflight_options *o, json_t **ret, struct md_error *err);

/* md_preflight_fails: whether a preflight document (md_preflight_run's) has a failing finding. */
bool md_preflight_fails(const json_t *preflight);

/* md_preflight_off: the document of a preflight that was not run, with the reason ("preflight_gate
 * = off"): {"status": "skipped", "reason", "findings": []}. New reference. */
json_t *md_preflight_off(const char *reason);

#endif
