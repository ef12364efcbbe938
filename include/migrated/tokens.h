/* tokens.h - API bearer tokens: a file of "NAME ROLE SECRET" lines (ROLE read, deploy or admin;
 * '#' comments). Secrets are kept only as SHA-256 digests, registered for redaction, and
 * compared in constant time. The file is edited by `migrated token add|remove` through
 * md_tokens_add and md_tokens_remove (atomic rewrites); this module never starts a daemon
 * reload: the operator does (SIGHUP, `systemctl reload migrated`). */
#ifndef MIGRATED_TOKENS_H
#define MIGRATED_TOKENS_H

#include <stddef.h>

struct md_error;
struct md_tokens;

enum md_role {
	MD_ROLE_NONE = 0,   /* no valid token */
	MD_ROLE_READ = 1,   /* status, jobs, plan */
	MD_ROLE_DEPLOY = 2, /* + deploy, cancel */
	MD_ROLE_ADMIN = 3,  /* + resolve */
};

/* The token file `migrated token` edits when neither --token-file nor token_file says: the
 * file the packaged configuration names (and the systemd credential "tokens" comes from). */
#define MD_DEFAULT_TOKEN_FILE "/etc/migrated/tokens"

/* Token names: 1 to 63 of [A-Za-z0-9._-] (they appear in logs and job records as the actor). */
#define MD_TOKEN_NAME_MAX 63
/* md_tokens_add writes secrets of this many random bytes, as twice as many hex digits. */
#define MD_TOKEN_SECRET_BYTES 32

const char *md_role_name(enum md_role role);
/* md_role_parse: "read", "deploy" or "admin" into *ret; MD_E_USAGE for anything else. */
int md_role_parse(const char *s, enum md_role *ret, struct md_error *err);
/* md_token_name_check: 0 when name is a valid token name, else MD_E_USAGE saying why. */
int md_token_name_check(const char *name, struct md_error *err);

/* md_tokens_load: path may be NULL (no tokens: an empty set). MD_E_CONFIG names the line of a
 * bad entry (never its secret). */
int md_tokens_load(const char *path, struct md_tokens **ret, struct md_error *err);
size_t md_tokens_count(const struct md_tokens *t);
/* md_tokens_check: the role of a presented secret (MD_ROLE_NONE when unknown); the token's
 * name is copied into ret_name. Takes the same time whichever token matches. */
enum md_role md_tokens_check(const struct md_tokens *t, const char *secret, char *ret_name, size_t namesz);
void md_tokens_free(struct md_tokens *t);

/* One token as the file-editing commands show it: never its secret. */
struct md_token_entry {
	char name[MD_TOKEN_NAME_MAX + 1];
	enum md_role role;
};

/* md_tokens_list: the entries of the token file at path, in file order, into *ret (malloc'd
 * array, the caller frees it; NULL when *ret_n is 0). A missing file is an empty list. The
 * file must load as md_tokens_load would (MD_E_CONFIG names the bad line); MD_E_IO when it
 * cannot be read. */
int md_tokens_list(const char *path, struct md_token_entry **ret, size_t *ret_n, struct md_error *err);
/* md_tokens_add: append "NAME ROLE SECRET" to the token file at path (created when missing)
 * with a new secret of MD_TOKEN_SECRET_BYTES from getrandom(2), written into ret_secret
 * (secretsz >= 2 * MD_TOKEN_SECRET_BYTES + 1) only on success. The file is replaced
 * atomically: a temporary file beside it, mode 0600, the old file's owner and group, fsync,
 * rename, fsync of the folder; comments and other lines are kept as they were. Fails with
 * MD_E_USAGE for a bad name, MD_E_BUSY when a token of that name exists, MD_E_CONFIG when the
 * existing file does not load, MD_E_IO when reading, writing or the random source fails (the
 * old file is then unchanged). The secret is registered for redaction. */
int md_tokens_add(const char *path, const char *name, enum md_role role, char *ret_secret, size_t secretsz,
		  struct md_error *err);
/* md_tokens_remove: drop the line of the token named name, rewriting the file as
 * md_tokens_add does. MD_E_NOT_FOUND when there is no such token (or no file); otherwise the
 * failures of md_tokens_add. */
int md_tokens_remove(const char *path, const char *name, struct md_error *err);

#endif
