/* report.h - engine results rendered for people (aligned text an admin reads at a glance) and
 * for programs (JSON through jansson, the same shapes the HTTP API returns). No engine logic:
 * everything here reads finished results. */
#ifndef MIGRATED_REPORT_H
#define MIGRATED_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct md_error;
struct md_plan;
struct md_db;
struct md_deploy_report;
struct md_failure;
struct md_apply_event;

/* JSON objects; the caller owns the reference. NULL only when out of memory. */
/* md_report_text: text as it may leave the process, as a JSON string: secrets redacted, cut at
 * 4 KiB, made valid UTF-8 (it may quote a request). */
json_t *md_report_text(const char *text);
/* md_report_error_json: THE rendering of an error, {"error": {"code", "message", "detail":
 * {"prisma_code", "sqlstate", "connection", "hint"}}}, message and hint redacted and valid
 * UTF-8: what the API answers and the CLI prints with --json. */
json_t *md_report_error_json(const struct md_error *err);
/* md_report_error_fields: the same error as one flat object ({"code", "message", then the
 * detail's fields}), for records that hold an error among other fields (a job, a step, a
 * health check). */
json_t *md_report_error_fields(const struct md_error *err);
/* md_report_lock_holder_json: {"pid", "application_name", "user", "client", "state", "since",
 * "query"}, or JSON null when nobody holds the lock. */
struct md_lock_holder;
json_t *md_report_lock_holder_json(const struct md_lock_holder *h);
/* md_report_resolve_json: {"migration", "as", "rows_marked_rolled_back",
 * "created_history_table"} plus, when the migration had a failed row, "started_by", "remains"
 * and "note" (what it may have left; unfinished.h). */
struct md_resolve_result;
json_t *md_report_resolve_json(const char *name, const char *as, const struct md_resolve_result *res);
/* md_report_status_json: the status document (GET /v1/status, `migrated status --json`): the
 * datasource of db (without credentials), the folder, counts by state and every migration of
 * plan with its state and, for failed or running ones, who ran it and what may remain. */
json_t *md_report_status_json(const struct md_plan *plan, const char *migrations_dir, const struct md_db *db);
/* md_report_deploy_json: a deploy's report ({"ok", "found", "pending", "planned", "applied",
 * "recovered", "modified", "missing", "created_history_table", "lock_wait_ms", "duration_ms",
 * "failure", "error"}); rc and err are md_deploy's result (err read only when rc < 0). */
json_t *md_report_deploy_json(const struct md_deploy_report *rep, int rc, const struct md_error *err);
/* md_report_plan_json: the plan document of `migrated plan --json` and GET /v1/plan: the
 * dry-run's report (found, pending, planned, recovered, modified, missing, error) with
 * "would_deploy", "migrations" (live, taken; NULL: []) and "preflight" (taken; NULL: none),
 * for rc 0 or a refusal (md_plan_refusal). New reference. */
json_t *md_report_plan_json(const struct md_deploy_report *rep, int rc, const struct md_error *err, json_t *live,
			    json_t *preflight);
/* md_report_preflight_text: a preflight document (preflight.h) for a terminal: one line of
 * totals, then each finding that fails or was skipped with its example keys and the hint. */
void md_report_preflight_text(FILE *out, const json_t *preflight);
/* md_report_failure_json: where a migration failed (statement, its number and line, what of
 * it remains), or JSON null when f records no failure. */
json_t *md_report_failure_json(const struct md_failure *f);

/* md_report_backups_json: {"backups": [each md_backup_json, newest first], "dir", "unreadable"}
 * for `migrated backup --list --json` and GET /v1/backups. */
struct md_backup;
json_t *md_report_backups_json(const char *dir, const struct md_backup *list, size_t n, size_t unreadable);
/* md_report_dump: j as text ending in a newline (flags as json_dumps; members keep their
 * order), malloc'd; NULL without memory. Every JSON document the daemon serves goes through it. */
char *md_report_dump(const json_t *j, size_t flags);

/* Human text, written to out; nothing is returned and nothing fails (a short write is the
 * stream's business). The same facts as the JSON forms above. */
/* md_report_error_text: "Error: P3009 message" and, with a hint, "Next: hint". */
void md_report_error_text(FILE *out, const struct md_error *err);
/* md_report_status_text: one line a migration (all: the applied ones too) and a summary. */
void md_report_status_text(FILE *out, const struct md_plan *plan, const char *migrations_dir, bool all);
/* md_report_deploy_event_text: one progress line of a running deploy (a migration applied, a
 * wait for the lock, a retry). */
void md_report_deploy_event_text(FILE *out, const struct md_apply_event *ev);
/* md_report_deploy_text: the deploy's summary line(s), or its failure. */
void md_report_deploy_text(FILE *out, const struct md_deploy_report *rep, int rc, const char *migrations_dir);
/* md_report_failure_text: a failed migration: statement, position, what remains, what next. */
void md_report_failure_text(FILE *out, const struct md_failure *f, const char *migrations_dir);

/* md_report_duration: "12 ms", "3.4 s", "2 min 5 s". */
void md_report_duration(double ms, char *out, size_t outsz);
/* md_report_time: ISO "2024-01-02T10:00:00.123456Z" -> "2024-01-02 10:00:00.123 UTC". */
void md_report_time(const char *iso, char *out, size_t outsz);

#endif
