/* pgtool.c - finding and checking PostgreSQL's client programs (see pgtool.h). On Debian
 * /usr/bin/pg_dump is pg_wrapper, a Perl script that picks a version per cluster and costs
 * about 60 ms a start; the versioned directories are tried first. */
#include "migrated/pgtool.h"
#include "migrated/child.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/strbuf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEBIAN_PG_DIR "/usr/lib/postgresql"

/* "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15, "15.18". */
static int parse_version(const char *out, int *ret_major, char *ret_version, size_t versz)
{
	const char *p = strstr(out, ") ");
	if (!p)
		return -1;
	p += 2;
	int major = atoi(p);
	if (major <= 0)
		return -1;
	*ret_major = major;
	snprintf(ret_version, versz, "%.*s", (int)strcspn(p, " \n"), p);
	return 0;
}

static int probe(const char *path, struct md_pgtool *ret, struct md_error *err)
{
	char *argv[] = {(char *)path, "--version", NULL};
	struct md_child c = {.argv = argv};
	struct md_child_limits lim = {.timeout_ms = 10000, .capture_bytes = 1024};
	bool timed_out = false;
	int r = md_child_run(&c, 1, &lim, &timed_out, NULL, err);
	if (r == 0 &&
	    (c.exit_code != 0 || !c.out || parse_version(c.out, &ret->major, ret->version, sizeof ret->version) < 0))
		r = md_error_set(err, MD_E_CONFIG, "%s --version did not answer with a PostgreSQL version%s%.200s",
				 path, c.err && *c.err ? ": " : "", c.err ? c.err : "");
	if (r == 0)
		snprintf(ret->path, sizeof ret->path, "%s", c.path);
	md_child_clear(&c);
	return r;
}

static int newest_first(const void *a, const void *b)
{
	return *(const int *)b - *(const int *)a;
}

/* The majors under /usr/lib/postgresql that have bin/<name>, newest first. */
static size_t debian_majors(const char *name, int *out, size_t max)
{
	DIR *d = opendir(DEBIAN_PG_DIR);
	struct dirent *e;
	size_t n = 0;
	char path[600];
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		int v = atoi(e->d_name);
		if (v <= 0)
			continue;
		snprintf(path, sizeof path, DEBIAN_PG_DIR "/%d/bin/%s", v, name);
		if (access(path, X_OK) == 0)
			out[n++] = v;
	}
	closedir(d);
	qsort(out, n, sizeof *out, newest_first);
	return n;
}

static int too_old(const char *name, const struct md_pgtool *t, int server_major, struct md_error *err)
{
	md_error_hint(err,
		      "install a newer client (apt-get install postgresql-client-%d, from apt.postgresql.org on "
		      "Debian 12) and set %s = /usr/lib/postgresql/%d/bin/%s in the configuration, or leave it "
		      "unset to find it; or knowingly deploy without a backup (backup_before_deploy = false)",
		      server_major, name, server_major, name);
	return md_error_set(err, MD_E_CONFIG,
			    "%s %s (%s) is older than the server (PostgreSQL %d): %s cannot read a newer server's "
			    "catalog",
			    name, t->version, t->path, server_major, name);
}

int md_pgtool_find(const char *name, const char *configured, int server_major, struct md_pgtool *ret,
		   struct md_error *err)
{
	int majors[32];
	char path[600];
	struct md_error e2 = {0};

	if (configured && *configured) {
		int r = probe(configured, ret, err);
		if (r < 0) {
			md_error_hint(err, "check the %s key of the configuration (a path to %s)", name, name);
			return r;
		}
		return server_major && ret->major < server_major ? too_old(name, ret, server_major, err) : 0;
	}
	size_t n = debian_majors(name, majors, 32);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, DEBIAN_PG_DIR "/%d/bin/%s", majors[i], name);
		if (probe(path, ret, &e2) == 0)
			return server_major && ret->major < server_major ? too_old(name, ret, server_major, err) : 0;
	}
	if (md_child_which(name, path, sizeof path) == 0 && probe(path, ret, &e2) == 0)
		return server_major && ret->major < server_major ? too_old(name, ret, server_major, err) : 0;
	md_error_hint(err, "install it (apt-get install postgresql-client-%d), or set %s = /path/to/%s",
		      server_major ? server_major : 15, name, name);
	return md_error_set(err, MD_E_CONFIG, "%s not found: looked in " DEBIAN_PG_DIR "/*/bin and on PATH%s%s", name,
			    e2.message[0] ? "; " : "", e2.message);
}

/* A conninfo value in single quotes, with ' and \ escaped. */
static void quote_value(struct md_strbuf *sb, const char *v)
{
	md_strbuf_putc(sb, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			md_strbuf_putc(sb, '\\');
		md_strbuf_putc(sb, *v);
	}
	md_strbuf_putc(sb, '\'');
}

int md_pgtool_conn(const struct md_dburl *url, char **ret_conninfo, char **ret_env_password, struct md_error *err)
{
	struct md_strbuf sb = MD_STRBUF_INIT;
	char *pw = NULL;

	for (size_t i = 0; url->keywords[i]; i++) {
		const char *k = url->keywords[i], *v = url->values[i];
		if (!v || !*v)
			continue;
		if (strcmp(k, "password") == 0) {
			free(pw);
			if (asprintf(&pw, "PGPASSWORD=%s", v) < 0)
				pw = NULL;
			if (!pw) {
				md_strbuf_free(&sb);
				return md_error_set(err, MD_E_NOMEM, "out of memory");
			}
			continue;
		}
		if (sb.len)
			md_strbuf_putc(&sb, ' ');
		md_strbuf_printf(&sb, "%s=", k);
		quote_value(&sb, v);
	}
	char *ci = md_strbuf_steal(&sb);
	if (!ci) {
		free(pw);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	*ret_conninfo = ci;
	*ret_env_password = pw;
	return 0;
}
