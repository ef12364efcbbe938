/* error.h - the one error shape of migrated: a code, Prisma's code where one exists, the
 * SQLSTATE when the database said something, a human message and the next step to take.
 * Functions that can fail return 0 (or a count) or a negative MD_E_* and fill a caller-owned
 * struct md_error. Fixed-size buffers: an error never needs freeing and never fails itself. */
#ifndef MIGRATED_ERROR_H
#define MIGRATED_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum md_error_code {
	MD_OK = 0,
	MD_E_USAGE = -1,         /* bad command line or request */
	MD_E_CONFIG = -2,        /* configuration invalid */
	MD_E_IO = -3,            /* a file could not be read or written */
	MD_E_NOMEM = -4,         /* allocation failed */
	MD_E_CATALOG = -5,       /* migrations folder invalid (names, lock file, files) */
	MD_E_CONNECT = -6,       /* database unreachable or refused us */
	MD_E_DB = -7,            /* a query failed */
	MD_E_LOCK_TIMEOUT = -8,  /* advisory lock not obtained in time (P1002) */
	MD_E_FAILED_EXISTS = -9, /* history has a failed migration (P3009) */
	MD_E_NOT_EMPTY = -10,    /* schema not empty and no history (P3005) */
	MD_E_MIGRATION = -11,    /* a migration failed to apply (P3018) */
	MD_E_RESOLVE = -12,      /* resolve refused (P3008, P3011, P3012, P3017) */
	MD_E_NOT_FOUND = -13,    /* a named thing does not exist */
	MD_E_CANCELLED = -14,    /* stopped on request */
	MD_E_INTERNAL = -15,     /* a bug: an invariant did not hold */
	MD_E_BUSY = -16,         /* something else is running (a job), or the thing already ended */
	MD_E_UNAVAILABLE = -17,  /* a dependency is down (database, journal): retry later */
	MD_E_ROLLBACK = -18,     /* a rollback refused up front (a down.sql missing, a bad target) */
	MD_E_VERIFY = -19,       /* post-deploy verification failed */
	MD_E_LINT = -20,         /* the lint gate refused a deploy */
	MD_E_PREFLIGHT = -21,    /* the data preflight found rows that make a pending statement fail */
};

/* How a connection attempt failed, so an operator knows where to look. */
enum md_conn_failure {
	MD_CONN_OK = 0,
	MD_CONN_OTHER,       /* none of the classes below */
	MD_CONN_DNS,         /* host name did not resolve */
	MD_CONN_REFUSED,     /* nothing listens there (or socket file missing) */
	MD_CONN_TIMEOUT,     /* connect_timeout elapsed */
	MD_CONN_AUTH,        /* password or pg_hba rejected the user */
	MD_CONN_SSL,         /* TLS required, unavailable or failed */
	MD_CONN_TOO_MANY,    /* server out of connection slots */
	MD_CONN_NO_DATABASE, /* the database does not exist */
	MD_CONN_STARTING,    /* server starting up, shutting down or in recovery */
	MD_CONN_BAD_URL,     /* the URL itself is invalid */
};

struct md_error {
	int code;            /* enum md_error_code */
	int conn_failure;    /* enum md_conn_failure, for MD_E_CONNECT */
	char prisma_code[8]; /* "P3009" or "" */
	char sqlstate[6];    /* "42P01" or "" */
	char message[4096];  /* what went wrong, one or a few sentences (P3009 lists statements) */
	char hint[1024];     /* the next step to take, or "" */
};

/* md_error_set: set code and message (printf-style); keeps nothing else. Returns code so that
 * callers can write `return md_error_set(err, MD_E_IO, ...)`. err may be NULL. */
int md_error_set(struct md_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int md_error_setv(struct md_error *err, int code, const char *fmt, va_list ap);
/* md_error_prefix: set code and put the formatted text before the message already in err
 * ("cannot record the job: " + "No space left on device"): the one way to add context to an
 * error on its way up. The message is cut at its buffer's size. Returns code. err may be NULL. */
int md_error_prefix(struct md_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* md_error_append: add the formatted text after the message (cut at the buffer's size). */
void md_error_append(struct md_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* md_error_hint: set the next-step text. */
void md_error_hint(struct md_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void md_error_prisma(struct md_error *err, const char *prisma_code);
void md_error_clear(struct md_error *err);
/* md_error_code_name: stable machine name of a code ("lock_timeout"), for JSON. */
const char *md_error_code_name(int code);
const char *md_conn_failure_name(int failure);

#endif
