/* error.c - filling struct md_error and naming its codes. No logging here: the caller decides
 * whether and where an error is logged. */
#include "migrated/error.h"

#include <stdio.h>
#include <string.h>

int md_error_setv(struct md_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	return code;
}

int md_error_set(struct md_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	md_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int md_error_prefix(struct md_error *err, int code, const char *fmt, ...)
{
	char old[sizeof err->message];
	va_list ap;
	if (!err)
		return code;
	/* Copied first: formatting the message over itself is the bug this function exists for. */
	memcpy(old, err->message, sizeof old);
	old[sizeof old - 1] = '\0';
	va_start(ap, fmt);
	int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof err->message)
		snprintf(err->message + n, sizeof err->message - (size_t)n, "%s", old);
	err->code = code;
	return code;
}

void md_error_append(struct md_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	size_t n = strnlen(err->message, sizeof err->message);
	if (n + 1 >= sizeof err->message)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message + n, sizeof err->message - n, fmt, ap);
	va_end(ap);
}

void md_error_hint(struct md_error *err, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof err->hint, fmt, ap);
	va_end(ap);
}

void md_error_prisma(struct md_error *err, const char *prisma_code)
{
	if (err)
		snprintf(err->prisma_code, sizeof err->prisma_code, "%s", prisma_code ? prisma_code : "");
}

void md_error_clear(struct md_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

const char *md_error_code_name(int code)
{
	switch (code) {
	case MD_OK: return "ok";
	case MD_E_USAGE: return "usage";
	case MD_E_CONFIG: return "config";
	case MD_E_IO: return "io";
	case MD_E_NOMEM: return "out_of_memory";
	case MD_E_CATALOG: return "migrations_folder";
	case MD_E_CONNECT: return "database_unreachable";
	case MD_E_DB: return "database_error";
	case MD_E_LOCK_TIMEOUT: return "lock_timeout";
	case MD_E_FAILED_EXISTS: return "failed_migration_exists";
	case MD_E_NOT_EMPTY: return "schema_not_empty";
	case MD_E_MIGRATION: return "migration_failed";
	case MD_E_RESOLVE: return "resolve_refused";
	case MD_E_NOT_FOUND: return "not_found";
	case MD_E_CANCELLED: return "cancelled";
	case MD_E_INTERNAL: return "internal";
	case MD_E_BUSY: return "conflict";
	case MD_E_UNAVAILABLE: return "unavailable";
	case MD_E_ROLLBACK: return "rollback_refused";
	case MD_E_VERIFY: return "failed_verification";
	case MD_E_LINT: return "lint_blocked";
	case MD_E_PREFLIGHT: return "preflight_failed";
	}
	return "unknown";
}

const char *md_conn_failure_name(int failure)
{
	switch (failure) {
	case MD_CONN_OK: return "ok";
	case MD_CONN_OTHER: return "other";
	case MD_CONN_DNS: return "dns";
	case MD_CONN_REFUSED: return "refused";
	case MD_CONN_TIMEOUT: return "timeout";
	case MD_CONN_AUTH: return "auth";
	case MD_CONN_SSL: return "ssl";
	case MD_CONN_TOO_MANY: return "too_many_connections";
	case MD_CONN_NO_DATABASE: return "database_missing";
	case MD_CONN_STARTING: return "unavailable";
	case MD_CONN_BAD_URL: return "bad_url";
	}
	return "unknown";
}
