/* cli_internal.h - what the files of daemon/cli share. Not a public header. */
#ifndef MIGRATED_CLI_INTERNAL_H
#define MIGRATED_CLI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

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

/* token add|list|remove (cli_token.c): sub is one of those, args its positional arguments. */
int cli_token(const struct md_config *cfg, bool json, const char *sub, char *const args[], size_t nargs);

#endif
