/* pgtool.h - PostgreSQL's client programs (pg_dump, pg_restore, psql) as the backup module
 * runs them: found by configuration, else in Debian's /usr/lib/postgresql/N/bin (newest
 * first), else on PATH; their major version checked against the server's (pg_dump refuses a
 * newer server); and a connection given as a conninfo string without the password, which goes
 * in PGPASSWORD, so no process listing ever shows it. */
#ifndef MIGRATED_PGTOOL_H
#define MIGRATED_PGTOOL_H

#include <stddef.h>

struct md_dburl;
struct md_error;

struct md_pgtool {
	char path[4096];
	int major;        /* 15 */
	char version[64]; /* "15.18" */
};

/* md_pgtool_find: name is "pg_dump", "pg_restore" or "psql"; configured (may be NULL or "")
 * is the path the configuration names. The tool must be at least server_major (0: no check).
 * MD_E_CONFIG when it cannot be found or run, or is too old: the message says what was tried,
 * the hint which package to install or which key to set. */
int md_pgtool_find(const char *name, const char *configured, int server_major, struct md_pgtool *ret,
		   struct md_error *err);

/* md_pgtool_conn: for url, a conninfo string for --dbname (every libpq keyword of the URL but
 * the password, values quoted) and an environment entry "PGPASSWORD=..." (NULL when there is
 * no password). Both malloc'd, caller frees; the password is a registered secret already. */
int md_pgtool_conn(const struct md_dburl *url, char **ret_conninfo, char **ret_env_password, struct md_error *err);

#endif
