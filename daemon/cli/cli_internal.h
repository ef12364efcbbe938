/* cli_internal.h - what the files of daemon/cli share. Not a public header. */
#ifndef MIGRATED_CLI_INTERNAL_H
#define MIGRATED_CLI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct md_config;
struct md_db;
struct md_error;

/* cli_open_target: the connection for migrations (DIRECT_URL, else DATABASE_URL, refusing a
 * transaction pooler for the latter); *ret_url (may be NULL) is the URL it used (borrowed). */
int cli_open_target(const struct md_config *cfg, struct md_db **ret, const char **ret_url, struct md_error *err);
/* cli_fail: print err (JSON on stdout with json, else text on stderr); returns the exit code. */
int cli_fail(bool json, const struct md_error *err);
/* cli_print_json: one indented document on stdout; takes j over. */
void cli_print_json(json_t *j);

/* The backup and rollback commands (cli_backup.c). */
int cli_backup(const struct md_config *cfg, bool json, bool list);
int cli_rollback(const struct md_config *cfg, bool json, const char *to, const char *restore_id, bool confirm);

/* lint, plan, drift (cli_safety.c). */
int cli_lint(const struct md_config *cfg, bool json, bool list_rules);
int cli_plan(const struct md_config *cfg, bool json);
int cli_drift(const struct md_config *cfg, bool json);

/* The deploy's progress on the terminal (cli_progress.c). cli_progress_new: with live (stdout
 * is a terminal, no --json, no --no-progress) a line redrawn every 200 ms by a thread of its own,
 * its estimate seeded by the mean duration of the migrations db's history records; otherwise
 * the plain lines of md_report_deploy_event_text. NULL when out of memory (then events print
 * plain lines on stdout). cli_progress_event: one event of md_deploy (its hooks' thread);
 * cli_progress_free: stops the thread and erases the live line; accepts NULL. */
struct cli_progress;
struct md_apply_event;
struct cli_progress *cli_progress_new(FILE *out, bool live, struct md_db *db);
void cli_progress_event(struct cli_progress *p, const struct md_apply_event *ev);
void cli_progress_free(struct cli_progress *p);

/* token add|list|remove (cli_token.c): sub is one of those, args its positional arguments. */
int cli_token(const struct md_config *cfg, bool json, const char *sub, char *const args[], size_t nargs);

#endif
