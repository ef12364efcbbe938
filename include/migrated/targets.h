/* targets.h - the databases one daemon deploys to (issue 15): the targets file, one target a
 * line (`NAME URL [direct=URL] [migrations=DIR] [KEY=VALUE]...`, `#` comments), parsed into a
 * list; label selectors (`tier=prod`, `tier=prod,region=eu`). Without a targets file the
 * daemon has one target, "default", from DATABASE_URL. No database, no HTTP here: a pure
 * parser. URLs are secrets: no error message ever quotes one. */
#ifndef MIGRATED_TARGETS_H
#define MIGRATED_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

struct md_error;

#define MD_TARGET_NAME_MAX 63 /* [A-Za-z0-9_.-], starting with a letter or digit */
#define MD_TARGETS_MAX     10000

struct md_target_label {
	char *key, *value; /* owned */
};

struct md_target {
	char *name;                     /* owned */
	char *url;                      /* owned: DATABASE_URL of the target (a secret) */
	char *direct_url;               /* owned or NULL: direct=URL, migrations and locks go there */
	char *migrations_dir;           /* owned or NULL: migrations=DIR, else the daemon's folder */
	struct md_target_label *labels; /* owned, n_labels of them, in file order */
	size_t n_labels;
};

struct md_targets {
	struct md_target *list; /* owned, file order */
	size_t n;
};

/* md_targets_parse: the targets of text (a whole file's content, NUL-terminated). origin names
 * it in errors ("/etc/migrated/targets:7: ..."). Errors (MD_E_CONFIG, nothing returned): a bad
 * or duplicate name, the reserved name "default", a URL that is not postgres:// or
 * postgresql://, an unknown or repeated option, more than MD_TARGETS_MAX targets. *ret is the
 * caller's (md_targets_free); an empty file gives an empty list. */
int md_targets_parse(const char *text, const char *origin, struct md_targets **ret, struct md_error *err);
/* md_targets_load: read and parse path. Refuses (MD_E_CONFIG) a file group or others can
 * read or write (the URLs hold passwords: the message and hint say chmod 600), not a regular file, or
 * larger than 16 MiB; MD_E_IO when it cannot be read. */
int md_targets_load(const char *path, struct md_targets **ret, struct md_error *err);
void md_targets_free(struct md_targets *t);

/* md_targets_find: the target named name, or NULL (borrowed from t). */
const struct md_target *md_targets_find(const struct md_targets *t, const char *name);
/* md_target_label: the value of label key, or NULL. */
const char *md_target_label(const struct md_target *t, const char *key);
/* md_target_selector_check: 0 when sel is a valid selector (`k=v[,k=v]...`), else MD_E_USAGE
 * with what is wrong in err. */
int md_target_selector_check(const char *sel, struct md_error *err);
/* md_target_matches: whether t has every k=v of sel (a checked selector; "" matches all). */
bool md_target_matches(const struct md_target *t, const char *sel);
/* md_target_name_valid: whether name is a valid target name (not checking "default"). */
bool md_target_name_valid(const char *name);

#endif
