/* settings.h - what the daemon's parts read of the configuration while it runs and SIGHUP may
 * change: the migration URL, how migrations are applied, backups, post-deploy verification
 * and the lint gate. One object, built by the composition root, shared by the jobs and the
 * API (not reached through either), replaced whole by md_settings_reload and read as one
 * consistent copy. Thread-safe. */
#ifndef MIGRATED_SETTINGS_H
#define MIGRATED_SETTINGS_H

#include <stdbool.h>

#include "migrated/apply.h"
#include "migrated/backup.h"
#include "migrated/lint.h"
#include "migrated/preflight.h"
#include "migrated/targets.h"
#include "migrated/verify.h"

struct md_config;
struct md_error;
struct md_settings;

/* A copy of the settings at one moment; the caller frees it with md_settings_view_free. */
struct md_settings_view {
	char *migration_url; /* DIRECT_URL, else DATABASE_URL (owned, may be NULL) */
	bool migration_url_direct;
	int connect_timeout_s;
	struct md_apply_options apply;
	struct md_backup_options backup; /* owned */
	struct md_verify_options verify; /* owned */
	struct md_lint_options lint;
	int lint_gate; /* MD_LINT_GATE_* */
	struct md_preflight_options preflight;
	int preflight_gate;        /* MD_LINT_GATE_* values */
	char *preflight_url;       /* a read replica for the preflight, or NULL; owned */
	char *migrations_dir;      /* the folder of the target's migrations (owned) */
	char *target;              /* the target's name (owned); NULL for "default", the DATABASE_URL one */
	int fleet_max_connections; /* the connections fleet deploys may hold at once, all targets */
};

/* md_settings_new: the settings of cfg (validated: a bad verification or lint rule is
 * MD_E_CONFIG). Free with md_settings_free. */
int md_settings_new(const struct md_config *cfg, struct md_settings **ret, struct md_error *err);
/* md_settings_reload: replace them all with cfg's, or change nothing when cfg is invalid
 * (MD_E_CONFIG, MD_E_NOMEM). Readers see the old or the new settings, never a mix. */
int md_settings_reload(struct md_settings *s, const struct md_config *cfg, struct md_error *err);
/* md_settings_get: a copy of the current settings into *ret (on allocation failure the
 * backup folder or the checks may be missing: the step that needs them fails then). */
void md_settings_get(struct md_settings *s, struct md_settings_view *ret);
void md_settings_view_free(struct md_settings_view *v);
/* md_settings_lint: the lint options and gate in force (no allocation). */
void md_settings_lint(struct md_settings *s, struct md_lint_options *ret, int *ret_gate);
/* md_settings_backup_dir: the backups folder in force (malloc'd; NULL without memory). */
/* md_settings_preflight: the preflight options and gate; *ret_url (a replica's URL, or NULL) is
 * the caller's to free. */
void md_settings_preflight(struct md_settings *s, struct md_preflight_options *ret, int *ret_gate, char **ret_url);
char *md_settings_backup_dir(struct md_settings *s);

/* md_settings_target: a copy of the settings as a job of target `name` runs with them: its
 * URL (direct= when given, as DIRECT_URL), its migrations folder, backups in
 * backup_dir/NAME. name NULL or "default" is md_settings_get. MD_E_NOT_FOUND (err names the
 * target, never its URL) when the targets file has no such target. Free with
 * md_settings_view_free. */
int md_settings_target(struct md_settings *s, const char *name, struct md_settings_view *ret, struct md_error *err);
/* md_settings_target_in: the same with the target looked up in list (one the caller holds,
 * from md_settings_targets_get: a fleet deploy runs on the list it started with, whatever a
 * reload does meanwhile); list NULL is md_settings_target. */
struct md_targets;
int md_settings_target_in(struct md_settings *s, const struct md_targets *list, const char *name,
			  struct md_settings_view *ret, struct md_error *err);
/* md_settings_targets_get: the targets of the targets file in force (immutable; an empty list
 * without one), never NULL; give it back with md_settings_targets_put. A reload replaces the
 * list; a list someone holds stays valid until put. */
const struct md_targets *md_settings_targets_get(struct md_settings *s);
void md_settings_targets_put(struct md_settings *s, const struct md_targets *t);
void md_settings_free(struct md_settings *s);

#endif
