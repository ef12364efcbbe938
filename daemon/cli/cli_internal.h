/* cli_internal.h - what the files of daemon/cli share. Not a public header. */
#ifndef MIGRATED_CLI_INTERNAL_H
#define MIGRATED_CLI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct md_catalog;
struct md_config;
struct md_db;
struct md_deploy_options;
struct md_deploy_report;
struct md_error;
struct md_history;
struct md_plan;

/* Where a command goes: the configuration's DATABASE_URL and DIRECT_URL, or a target's URL and
 * direct= (fleet commands). which names the URL in messages ("DATABASE_URL"), never its text. */
struct cli_dest {
	const char *database_url; /* borrowed; may be NULL */
	const char *direct_url;   /* borrowed; NULL or "" when none */
	const char *which;
	int connect_timeout_s;
};
/* cli_dest_from_config: DATABASE_URL and DIRECT_URL of cfg (borrowed from it). */
void cli_dest_from_config(const struct md_config *cfg, struct cli_dest *ret);
/* cli_open_dest: the connection for migrations (the direct URL, else the database URL, refusing
 * a transaction pooler for the latter); MD_E_CONFIG when neither is given, else md_db_open's
 * errors. *ret_url (may be NULL) is the URL it used (borrowed from d). */
int cli_open_dest(const struct cli_dest *d, struct md_db **ret, const char **ret_url, struct md_error *err);
/* cli_open_target: cli_open_dest on the configuration's URLs. */
int cli_open_target(const struct md_config *cfg, struct md_db **ret, const char **ret_url, struct md_error *err);

/* What `status` reads: the folder, the connection, the history and the plan of the two. */
struct cli_status {
	struct md_catalog *cat;
	struct md_db *db;
	struct md_history *hist;
	struct md_plan *plan;
};
/* cli_status_read: fill *ret (zeroed by the caller) as far as it gets; 0 or the first error.
 * Whatever was filled is the caller's: cli_status_clear, also after a failure. */
int cli_status_read(const char *migrations_dir, unsigned catalog_flags, const struct cli_dest *d,
		    struct cli_status *ret, struct md_error *err);
void cli_status_clear(struct cli_status *st);

/* The data preflight gate of a deploy (md_deploy's before_lock hook): cfg's preflight_gate on
 * the catalog cat. out (NULL: quiet) gets the findings a person should see; who ("" or
 * "target NAME: ") starts the warning written to stderr when the preflight cannot run. After
 * md_deploy, pf is the preflight document (owned: json_decref) and refused says whether the
 * gate, not the deploy, ended it. cli_gate_install sets the hook in opts unless the gate is off. */
struct cli_gate {
	const struct md_config *cfg;
	const struct md_catalog *cat;
	bool dry_run;
	bool override; /* --override-preflight */
	FILE *out;
	const char *who;
	json_t *pf;
	bool refused;
};
int cli_gate_preflight(void *ctx, struct md_db *db, const struct md_deploy_report *rep, struct md_error *err);
void cli_gate_install(struct cli_gate *g, struct md_deploy_options *opts);

/* cli_usage_error: "migrated: MESSAGE" and the pointer to --help on stderr; returns the usage
 * exit code. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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

/* status and deploy of many targets (cli_fleet.c): `--targets-file F` with one of --target NAME,
 * --selector k=v or --all; deploy with --parallel, --canary, --on-error and --max-failures
 * (strings as given, NULL when not). Returns the exit code. */
struct cli_fleet_options {
	bool deploy; /* else status */
	bool json;
	const char *target;
	const char *selector;
	bool all;
	const char *parallel;
	const char *canary;
	const char *on_error;
	const char *max_failures;
	bool override_preflight;
};
int cli_fleet(const struct md_config *cfg, const struct cli_fleet_options *o);

/* token add|list|remove (cli_token.c): sub is one of those, args its positional arguments. */
int cli_token(const struct md_config *cfg, bool json, const char *sub, char *const args[], size_t nargs);

#endif
