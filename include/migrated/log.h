/* log.h - leveled logging to stderr. Every message passes through secret redaction first:
 * registered secrets (database passwords, API tokens) are replaced by "****" wherever they
 * appear. Pure modules (catalog, sqlsplit, ...) never log; they return errors instead. */
#ifndef MIGRATED_LOG_H
#define MIGRATED_LOG_H

#include <stddef.h>

enum md_log_level {
	MD_LOG_ERROR = 3,   /* something failed; an operator should look */
	MD_LOG_WARNING = 4, /* degraded but working */
	MD_LOG_INFO = 6,    /* normal progress */
	MD_LOG_DEBUG = 7,   /* detail for developers */
};

/* md_log_set_level: messages above level (an enum md_log_level) are dropped. Thread-safe. */
void md_log_set_level(int level);
/* md_log_level_parse: "error", "warning", "info", "debug" into *ret_level; 0, or MD_E_CONFIG. */
int md_log_level_parse(const char *name, int *ret_level);
/* md_log: one message (redacted, made valid UTF-8, cut at 4 KiB) at level. Thread-safe. */
void md_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* md_log_sql: md_log with the SQLSTATE the message is about (a structured field in the journal). */
void md_log_sql(int level, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Structured fields of a message: the calling thread's context (md_log_context) and the
 * SQLSTATE of md_log_sql. Empty strings when not set. */
struct md_log_fields {
	const char *job_id;
	const char *migration;
	const char *sqlstate;
};
/* md_log_context: what the calling thread works on, attached to its messages until changed
 * (NULL clears). The job runner sets it; copies are kept. */
void md_log_context(const char *job_id, const char *migration);
/* md_log_set_sink: write messages with fn instead of to stderr (NULL: back to stderr). message
 * is already redacted. The service module installs the systemd journal's writer. */
typedef void (*md_log_sink_fn)(int level, const char *message, const struct md_log_fields *fields);
void md_log_set_sink(md_log_sink_fn fn);

/* md_secret_register: remember a secret (copied) so that it never appears in output. Empty
 * strings are ignored. Thread-safe. Returns 0, or MD_E_NOMEM. */
int md_secret_register(const char *secret);
/* md_secret_forget_all: forget every registered secret (tests; a reload registers anew). */
void md_secret_forget_all(void);
/* md_redact: copy src into dst (size dstsz, always terminated) with every registered secret
 * replaced by "****". Secrets shorter than 8 bytes are replaced where they stand as a whole
 * token only (not inside a longer word). Returns the length written. */
size_t md_redact(const char *src, char *dst, size_t dstsz);
/* md_redact_inplace: same, in place: a secret of 4 bytes or more becomes "****", a shorter one
 * as many '*' as it has bytes, so the text never grows. */
void md_redact_inplace(char *s);

#endif
