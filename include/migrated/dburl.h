/* dburl.h - a Prisma-style DATABASE_URL turned into libpq connection parameters. libpq parses
 * the URL itself; this module removes the query parameters only Prisma understands (schema,
 * connection_limit, pool_timeout, pgbouncer, ...), keeps `schema` as the target schema, adds
 * migrated's defaults (application_name, connect_timeout) and registers the password as a
 * secret so that no message can ever show it. */
#ifndef MIGRATED_DBURL_H
#define MIGRATED_DBURL_H

#include <stdbool.h>

struct md_error;

struct md_dburl {
	const char **keywords; /* NULL-terminated, for PQconnectdbParams; owned */
	const char **values;   /* parallel to keywords; owned */
	char *schema;          /* Prisma's ?schema=, default "public"; owned */
	bool pgbouncer;        /* ?pgbouncer=true: the URL points at a transaction pooler */
	char display[640];     /* user@host:port/dbname, never the password */
	char host[256];        /* for messages ("" = libpq default) */
	char port[16];
	char dbname[128];
	char user[128];
};

/* md_dburl_parse: parse url (postgresql://, postgres://, or a libpq "key=value" string).
 * application_name defaults to app_name, connect_timeout to connect_timeout_s (0: libpq's).
 * Returns 0, MD_E_CONFIG (invalid URL; the message never contains the password) or MD_E_NOMEM. */
int md_dburl_parse(const char *url, const char *app_name, int connect_timeout_s, struct md_dburl **ret,
		   struct md_error *err);
void md_dburl_free(struct md_dburl *u);
/* md_dburl_require_session: 0, or MD_E_CONFIG with the DIRECT_URL hint when u points at a
 * transaction pooler, where the advisory lock (a session lock) would not hold: ?pgbouncer=true,
 * or a Neon pooled host ("-pooler" in its first label). `which` names the URL for the message. */
int md_dburl_require_session(const struct md_dburl *u, const char *which, struct md_error *err);
/* md_dburl_set_dbname: the same server and credentials, another database (a shadow). */
int md_dburl_set_dbname(struct md_dburl *u, const char *dbname, struct md_error *err);
/* md_dburl_get: value of a libpq keyword, or NULL. */
const char *md_dburl_get(const struct md_dburl *u, const char *keyword);

#endif
