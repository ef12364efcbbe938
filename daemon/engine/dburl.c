/* dburl.c - DATABASE_URL handling (see dburl.h). The URL is split only at '?' and '&' to drop
 * Prisma's own parameters; everything else is libpq's job (PQconninfoParse), so host lists,
 * unix-socket hosts and percent-encoding behave exactly as they do for psql. */
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/strbuf.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Query parameters Prisma accepts that libpq would reject as unknown options. */
static const char *const prisma_only[] = {
	"schema",
	"connection_limit",
	"pool_timeout",
	"pgbouncer",
	"socket_timeout",
	"statement_cache_size",
	"sslaccept",
	"sslidentity",
	"max_connection_lifetime",
	"max_idle_connection_lifetime",
	"single_use_connections",
	"extensions",
};

static bool is_prisma_only(const char *key, size_t n)
{
	for (size_t i = 0; i < MD_ARRAY_SIZE(prisma_only); i++)
		if (strlen(prisma_only[i]) == n && strncmp(prisma_only[i], key, n) == 0)
			return true;
	return false;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string ('+' stays '+', as libpq does). */
static char *pct_decode(const char *s, size_t n)
{
	char *o = malloc(n + 1), *w = o;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*w++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return o;
}

static bool is_uri(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Registers the raw (still percent-encoded) password of a URI as a secret too, since a
 * message could quote the URL as typed. */
static void register_raw_password(const char *url)
{
	const char *p = strstr(url, "://"), *at, *colon, *slash;
	if (!p)
		return;
	p += 3;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (!at || (slash && at > slash))
		return;
	colon = memchr(p, ':', (size_t)(at - p));
	if (!colon || colon + 1 >= at)
		return;
	_cleanup_free_ char *raw = strndup(colon + 1, (size_t)(at - colon - 1));
	if (raw)
		md_secret_register(raw);
}

/* Splits off Prisma's parameters; fills u->schema / u->pgbouncer; returns the URL for libpq. */
static char *strip_prisma_params(const char *url, struct md_dburl *u)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	const char *q = strchr(url, '?');
	bool first = true;

	if (!q)
		return strdup(url);
	md_strbuf_append(&sb, url, (size_t)(q - url));
	for (const char *p = q + 1; *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		if (n > 0 && is_prisma_only(p, kn)) {
			if (eq && kn == 6 && strncmp(p, "schema", 6) == 0) {
				free(u->schema);
				u->schema = pct_decode(eq + 1, n - kn - 1);
			} else if (eq && kn == 9 && strncmp(p, "pgbouncer", 9) == 0) {
				u->pgbouncer = (n - kn - 1 == 4 && strncmp(eq + 1, "true", 4) == 0);
			}
		} else if (n > 0) {
			md_strbuf_putc(&sb, first ? '?' : '&');
			md_strbuf_append(&sb, p, n);
			first = false;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return md_strbuf_steal(&sb);
}

static int add_param(struct md_dburl *u, size_t *n, const char *k, const char *v)
{
	u->keywords[*n] = strdup(k);
	u->values[*n] = strdup(v);
	if (!u->keywords[*n] || !u->values[*n])
		return MD_E_NOMEM;
	(*n)++;
	return 0;
}

const char *md_dburl_get(const struct md_dburl *u, const char *keyword)
{
	for (size_t i = 0; u->keywords[i]; i++)
		if (strcmp(u->keywords[i], keyword) == 0)
			return u->values[i];
	return NULL;
}

static void fill_display(struct md_dburl *u)
{
	const char *h = md_dburl_get(u, "host"), *ha = md_dburl_get(u, "hostaddr");
	const char *p = md_dburl_get(u, "port"), *d = md_dburl_get(u, "dbname");
	const char *us = md_dburl_get(u, "user");

	snprintf(u->host, sizeof u->host, "%s", h ? h : ha ? ha : "");
	snprintf(u->port, sizeof u->port, "%s", p ? p : "");
	snprintf(u->dbname, sizeof u->dbname, "%s", d ? d : "");
	snprintf(u->user, sizeof u->user, "%s", us ? us : "");
	snprintf(u->display, sizeof u->display, "%s%s%s%s%s/%s", u->user, u->user[0] ? "@" : "",
		 u->host[0] ? u->host : "(default host)", u->port[0] ? ":" : "", u->port,
		 u->dbname[0] ? u->dbname : "(default database)");
}

/* A port libpq would only refuse when connecting ("notaport", 99999): each of a multi-host
 * list's comma-separated ports empty or 1..65535. */
static bool port_ok(const char *port)
{
	for (const char *p = port; *p;) {
		size_t n = strcspn(p, ",");
		long v = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9' || i >= 5)
				return false;
			v = v * 10 + (p[i] - '0');
		}
		if (n > 0 && (v < 1 || v > 65535))
			return false;
		p += n;
		if (*p == ',')
			p++;
	}
	return true;
}

int md_dburl_parse(const char *url, const char *app_name, int connect_timeout_s, struct md_dburl **ret,
		   struct md_error *err)
{
	_cleanup_free_ char *libpq_url = NULL;
	PQconninfoOption *opts, *o;
	struct md_dburl *u;
	char *perr = NULL;
	size_t count = 0, n = 0;
	bool have_app = false, have_timeout = false, have_keepalive = false, have_gssenc = false;
	int r = 0;

	if (!url || !*url)
		return md_error_set(err, MD_E_CONFIG, "no database URL: set DATABASE_URL (or DIRECT_URL)");
	u = calloc(1, sizeof *u);
	if (!u)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	if (is_uri(url)) {
		register_raw_password(url);
		libpq_url = strip_prisma_params(url, u);
	} else if (strstr(url, "://")) {
		free(u);
		return md_error_set(err, MD_E_CONFIG, "database URL must start with postgresql:// or postgres://");
	} else {
		libpq_url = strdup(url);
	}
	if (!libpq_url) {
		md_dburl_free(u);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	opts = PQconninfoParse(libpq_url, &perr);
	if (!opts) {
		char clean[512];
		md_redact(perr ? perr : "out of memory", clean, sizeof clean);
		clean[strcspn(clean, "\n")] = '\0';
		PQfreemem(perr);
		md_dburl_free(u);
		return md_error_set(err, MD_E_CONFIG, "invalid database URL: %s", clean);
	}
	for (o = opts; o->keyword; o++)
		if (o->val && *o->val)
			count++;
	/* + application_name, connect_timeout, 4 keepalives, gssencmode, the terminator */
	u->keywords = calloc(count + 8, sizeof *u->keywords);
	u->values = calloc(count + 8, sizeof *u->values);
	if (!u->keywords || !u->values)
		r = MD_E_NOMEM;
	for (o = opts; r == 0 && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "password") == 0)
			md_secret_register(o->val);
		if (strcmp(o->keyword, "port") == 0 && !port_ok(o->val)) {
			r = md_error_set(err, MD_E_CONFIG,
					 "invalid database URL: the port is not a number from 1 to 65535");
			break;
		}
		if (strcmp(o->keyword, "application_name") == 0)
			have_app = true;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			have_timeout = true;
		if (strncmp(o->keyword, "keepalives", 10) == 0)
			have_keepalive = true;
		if (strcmp(o->keyword, "gssencmode") == 0)
			have_gssenc = true;
		r = add_param(u, &n, o->keyword, o->val);
	}
	PQconninfoFree(opts);
	if (r == 0 && !have_app && app_name)
		r = add_param(u, &n, "application_name", app_name);
	if (r == 0 && !have_timeout && connect_timeout_s > 0) {
		char buf[16];
		snprintf(buf, sizeof buf, "%d", connect_timeout_s);
		r = add_param(u, &n, "connect_timeout", buf);
	}
	/* TCP keepalives: a peer that vanished (a NAT dropped us, a host died) is noticed in about a
	 * minute instead of the kernel's two hours. Ignored on Unix sockets. */
	if (r == 0 && !have_keepalive) {
		static const char *const ka[][2] = {{"keepalives", "1"},
						    {"keepalives_idle", "30"},
						    {"keepalives_interval", "10"},
						    {"keepalives_count", "3"}};
		for (size_t i = 0; r == 0 && i < sizeof ka / sizeof *ka; i++)
			r = add_param(u, &n, ka[i][0], ka[i][1]);
	}
	/* No GSSAPI transport encryption unless asked for: Prisma's engine has none, so no Prisma URL
	 * needs it, and libpq's "prefer" sets up Kerberos on every connect (a round trip when a
	 * credentials cache exists; ~600 KiB of resident libraries). GSS authentication still works. */
	if (r == 0 && !have_gssenc && !getenv("PGGSSENCMODE"))
		r = add_param(u, &n, "gssencmode", "disable");
	if (r == 0 && !u->schema)
		u->schema = strdup("public");
	if (r == 0 && !u->schema)
		r = MD_E_NOMEM;
	if (r == 0 && u->schema[0] == '\0')
		r = md_error_set(err, MD_E_CONFIG, "the schema parameter of the database URL is empty");
	else if (r == MD_E_NOMEM)
		md_error_set(err, r, "out of memory");
	if (r < 0) {
		md_dburl_free(u);
		return r;
	}
	md_secret_register(getenv("PGPASSWORD"));
	fill_display(u);
	*ret = u;
	return 0;
}

int md_dburl_set_dbname(struct md_dburl *u, const char *dbname, struct md_error *err)
{
	size_t n = 0;
	char *v = strdup(dbname);
	if (!v)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	for (; u->keywords[n]; n++)
		if (strcmp(u->keywords[n], "dbname") == 0) {
			free((char *)u->values[n]);
			u->values[n] = v;
			fill_display(u);
			return 0;
		}
	const char **k = realloc(u->keywords, (n + 2) * sizeof *k);
	if (k)
		u->keywords = k;
	const char **vals = realloc(u->values, (n + 2) * sizeof *vals);
	if (vals)
		u->values = vals;
	char *key = strdup("dbname");
	if (!k || !vals || !key) {
		free(v);
		free(key);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	u->keywords[n] = key;
	u->values[n] = v;
	u->keywords[n + 1] = NULL;
	u->values[n + 1] = NULL;
	fill_display(u);
	return 0;
}

void md_dburl_free(struct md_dburl *u)
{
	if (!u)
		return;
	for (size_t i = 0; u->keywords && u->keywords[i]; i++) {
		free((char *)u->keywords[i]);
		free((char *)u->values[i]);
	}
	free(u->keywords);
	free(u->values);
	free(u->schema);
	free(u);
}

int md_dburl_require_session(const struct md_dburl *u, const char *which, struct md_error *err)
{
	size_t label = strcspn(u->host, ".,");
	bool neon_pooler = label >= 7 && memmem(u->host, label, "-pooler", 7) != NULL;

	if (!u->pgbouncer && !neon_pooler)
		return 0;
	md_error_hint(err,
		      "set DIRECT_URL to a direct (non-pooled) connection for migrations, as Prisma's "
		      "directUrl%s",
		      neon_pooler ? " (on Neon: the same host without \"-pooler\")" : "");
	return md_error_set(err, MD_E_CONFIG,
			    "%s %s a transaction pooler: migrations need a session for the advisory lock", which,
			    u->pgbouncer ? "has pgbouncer=true," : "points at");
}
