/* verify.h - post-deploy verification, the runbook's "regenerate the client, restart the
 * application, check its health": commands (argv, no shell: `npx prisma generate`, `systemctl
 * restart app`) and application URLs that must answer 2xx, run in order after a successful
 * deploy, each with a timeout and its output captured (secrets redacted). libcurl does the
 * HTTP; it is loaded with dlopen() the first time a URL is checked, so a daemon that checks
 * none never maps it (it would cost ~2 MiB of resident memory at start). */
#ifndef MIGRATED_VERIFY_H
#define MIGRATED_VERIFY_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct md_config;
struct md_error;

struct md_verify_options {
	char **commands; /* command lines, split when run; owned */
	size_t n_commands;
	char **urls; /* owned */
	size_t n_urls;
	int timeout_ms;           /* per command or URL */
	bool rollback_on_failure; /* verify_on_failure = rollback */
};

int md_verify_options_from(const struct md_config *cfg, struct md_verify_options *ret, struct md_error *err);
int md_verify_options_copy(const struct md_verify_options *src, struct md_verify_options *ret, struct md_error *err);
void md_verify_options_free(struct md_verify_options *o);
/* md_verify_options_check: every command splits into words and every URL is http(s) with a
 * host. MD_E_CONFIG naming the bad one (a configuration error, found at start and reload). */
int md_verify_options_check(const struct md_verify_options *o, struct md_error *err);
/* md_verify_count: how many checks there are. */
size_t md_verify_count(const struct md_verify_options *o);

/* md_verify_describe: check i's name for a job step ("command: npx prisma generate", "url:
 * https://app.example.com/health" without any user:password part). */
void md_verify_describe(const struct md_verify_options *o, size_t i, char *out, size_t sz);

/* md_verify_run_one: run check i (commands first, then URLs) with extra environment entries
 * (may be NULL). *ret_check is its record: {"kind", "name", "ok", "duration_ms", and
 * "exit_code", "stdout", "stderr" for a command, "status", "body" for a URL, "error" when it
 * failed}. Returns 0 when it passed, MD_E_VERIFY when it failed (err says how),
 * MD_E_CANCELLED, MD_E_CONFIG when the check cannot run at all (no libcurl, a command not
 * found: also recorded as failed). */
int md_verify_run_one(const struct md_verify_options *o, size_t i, char *const *env,
		      const volatile sig_atomic_t *cancel, json_t **ret_check, struct md_error *err);

#endif
