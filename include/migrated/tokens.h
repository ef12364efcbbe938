/* tokens.h - API bearer tokens: a file of "NAME ROLE SECRET" lines (ROLE read, deploy or admin;
 * '#' comments). Secrets are kept only as SHA-256 digests, registered for redaction, and
 * compared in constant time. */
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

const char *md_role_name(enum md_role role);

/* md_tokens_load: path may be NULL (no tokens: an empty set). MD_E_CONFIG names the line of a
 * bad entry (never its secret). */
int md_tokens_load(const char *path, struct md_tokens **ret, struct md_error *err);
size_t md_tokens_count(const struct md_tokens *t);
/* md_tokens_check: the role of a presented secret (MD_ROLE_NONE when unknown); the token's
 * name is copied into ret_name. Takes the same time whichever token matches. */
enum md_role md_tokens_check(const struct md_tokens *t, const char *secret, char *ret_name, size_t namesz);
void md_tokens_free(struct md_tokens *t);

#endif
