/* log.c - leveled logging to stderr with secret redaction. The journald-structured variant
 * belongs to the service module (it decides when stderr is the journal); this file only knows
 * how to format a line and keep secrets out of it. */
#include "migrated/log.h"
#include "migrated/utf8.h"
#include "migrated/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SECRETS 64

static int log_level = MD_LOG_INFO;
static md_log_sink_fn sink;
static __thread char ctx_job[64], ctx_migration[256];
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

void md_log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

void md_log_set_sink(md_log_sink_fn fn)
{
	sink = fn;
}

void md_log_context(const char *job_id, const char *migration)
{
	snprintf(ctx_job, sizeof ctx_job, "%s", job_id ? job_id : "");
	snprintf(ctx_migration, sizeof ctx_migration, "%s", migration ? migration : "");
}

int md_log_level_parse(const char *name, int *ret_level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"error", MD_LOG_ERROR}, {"warning", MD_LOG_WARNING}, {"warn", MD_LOG_WARNING},
		{"info", MD_LOG_INFO},   {"debug", MD_LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(name, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	return MD_E_CONFIG;
}

int md_secret_register(const char *secret)
{
	int r = 0;

	if (!secret || !*secret)
		return 0;
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; i < n_secrets; i++)
		if (strcmp(secrets[i], secret) == 0)
			goto out;
	if (n_secrets == MAX_SECRETS) {
		/* Drop the oldest: rotated tokens are the usual reason to get here. */
		free(secrets[0]);
		memmove(secrets, secrets + 1, (MAX_SECRETS - 1) * sizeof secrets[0]);
		n_secrets--;
	}
	secrets[n_secrets] = strdup(secret);
	if (!secrets[n_secrets])
		r = MD_E_NOMEM;
	else
		n_secrets++;
out:
	pthread_mutex_unlock(&secrets_lock);
	return r;
}

void md_secret_forget_all(void)
{
	pthread_mutex_lock(&secrets_lock);
	for (size_t i = 0; i < n_secrets; i++)
		free(secrets[i]);
	n_secrets = 0;
	pthread_mutex_unlock(&secrets_lock);
}

#define SHORT_SECRET 8

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Longest registered secret matching at s (start is the beginning of the text, for looking one
 * character back), or 0. A secret shorter than SHORT_SECRET only matches as a whole token: the
 * password "x" must vanish from "u:x@host" but not turn "exist" into "e*ist". Caller holds
 * secrets_lock. */
static size_t secret_match(const char *start, const char *s)
{
	size_t best = 0;
	for (size_t i = 0; i < n_secrets; i++) {
		size_t n = strlen(secrets[i]);
		if (n <= best || strncmp(s, secrets[i], n) != 0)
			continue;
		if (n < SHORT_SECRET && ((s > start && is_word_char(s[-1])) || is_word_char(s[n])))
			continue;
		best = n;
	}
	return best;
}

size_t md_redact(const char *src, char *dst, size_t dstsz)
{
	const char *start = src;
	size_t o = 0;

	if (dstsz == 0)
		return 0;
	pthread_mutex_lock(&secrets_lock);
	while (*src && o + 1 < dstsz) {
		size_t m = n_secrets ? secret_match(start, src) : 0;
		if (m) {
			size_t stars = m >= 4 ? 4 : m;
			for (size_t k = 0; k < stars && o + 1 < dstsz; k++)
				dst[o++] = '*';
			src += m;
		} else {
			dst[o++] = *src++;
		}
	}
	pthread_mutex_unlock(&secrets_lock);
	dst[o] = '\0';
	return o;
}

void md_redact_inplace(char *s)
{
	char *w = s;
	const char *start = s;

	if (!s)
		return;
	pthread_mutex_lock(&secrets_lock);
	if (n_secrets == 0) {
		pthread_mutex_unlock(&secrets_lock);
		return;
	}
	while (*s) {
		size_t m = secret_match(start, s);
		if (m) {
			size_t stars = m >= 4 ? 4 : m;
			for (size_t k = 0; k < stars; k++)
				*w++ = '*';
			s += m;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
	pthread_mutex_unlock(&secrets_lock);
}

static const char *level_name(int level)
{
	switch (level) {
	case MD_LOG_ERROR: return "error";
	case MD_LOG_WARNING: return "warning";
	case MD_LOG_INFO: return "info";
	default: return "debug";
	}
}

static void vlog(int level, const char *sqlstate, const char *fmt, va_list ap)
{
	char raw[4096], clean[4096], stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	md_redact(raw, clean, sizeof clean);
	md_utf8_scrub(clean); /* journald and JSON log readers expect UTF-8; the text may quote a client */
	if (sink) {
		struct md_log_fields f = {ctx_job, ctx_migration, sqlstate ? sqlstate : ""};
		sink(level, clean, &f);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, ts.tv_nsec / 1000000, level_name(level), clean);
}

void md_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void md_log_sql(int level, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, sqlstate, fmt, ap);
	va_end(ap);
}
