/* catalog.c - reads a Prisma migrations folder. Files are read with openat() relative to the
 * folder so that 10,000 migrations cost one open, one fstat and one read each. */
#include "migrated/catalog.h"
#include "migrated/collate.h"
#include "migrated/error.h"
#include "migrated/macro.h"
#include "migrated/utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_FILE     "migration_lock.toml"
#define MAX_SQL_BYTES ((size_t)1 << 30)

/* Reads a whole file relative to dirfd. Returns 0, -ENOENT when absent (or a directory), or
 * another negative errno. *ret_buf is NUL-terminated and owned by the caller. No fstat: a
 * read that returns less than asked for is the end of a regular file, so a small migration
 * costs open, read and close (status on 10,000 migrations is mostly these syscalls). */
static int read_file_at(int dirfd, const char *path, char **ret_buf, size_t *ret_len)
{
	char small[16384];
	size_t cap = sizeof small, got = 0;
	char *buf = small;
	int fd, e = 0;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno == EISDIR ? -ENOENT : -errno;
			break;
		}
		got += (size_t)n;
		if (n == 0 || got < cap - 1)
			break;
		if (cap > MAX_SQL_BYTES) {
			e = -EFBIG;
			break;
		}
		/* Larger than the stack buffer: continue on the heap, doubling. */
		char *nb = buf == small ? malloc(cap * 2) : realloc(buf, cap * 2);
		if (!nb) {
			e = -ENOMEM;
			break;
		}
		if (buf == small)
			memcpy(nb, small, got);
		buf = nb;
		cap *= 2;
	}
	close(fd);
	if (e == 0 && buf == small) {
		/* The usual case: exactly the bytes the file has, nothing more stays allocated. */
		buf = malloc(got + 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, small, got);
	}
	if (e < 0) {
		if (buf != small)
			free(buf);
		return e;
	}
	buf[got] = '\0';
	*ret_buf = buf;
	*ret_len = got;
	return 0;
}

int md_migration_name_check(const char *name, struct md_error *err)
{
	size_t len = strlen(name);

	if (len == 0)
		return md_error_set(err, MD_E_USAGE, "a migration name cannot be empty");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
		return md_error_set(err, MD_E_USAGE,
				    "\"%s\" is not a migration name: it must be a single folder name "
				    "inside the migrations folder, without '/'",
				    name);
	if (!md_utf8_valid(name, len, NULL))
		return md_error_set(err, MD_E_USAGE, "migration name is not valid UTF-8");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return md_error_set(err, MD_E_USAGE,
					    "migration name contains a control character (byte 0x%02x)", *p);
	if (md_utf8_chars(name, len) > 255)
		return md_error_set(err, MD_E_USAGE,
				    "migration name is longer than 255 characters, the size of "
				    "_prisma_migrations.migration_name");
	return 0;
}

/* Minimal TOML: `provider = "x"` (basic or literal string), comments, blank lines. */
static int parse_lock_file(const char *text, char *provider, size_t provsz, struct md_error *err)
{
	const char *p = text;
	unsigned line = 0;

	provider[0] = '\0';
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char buf[512];
		char *k, *v, *q;

		line++;
		if (n >= sizeof buf)
			n = sizeof buf - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		p = e ? e + 1 : p + strlen(p);
		k = buf + strspn(buf, " \t\r");
		if (*k == '#' || *k == '\0' || *k == '\r')
			continue;
		v = strchr(k, '=');
		if (!v)
			return md_error_set(err, MD_E_CATALOG, "%s line %u is not `key = \"value\"`", LOCK_FILE, line);
		*v++ = '\0';
		for (q = v - 2; q >= k && (*q == ' ' || *q == '\t'); q--)
			*q = '\0';
		v += strspn(v, " \t");
		if (strcmp(k, "provider") != 0)
			continue;
		if (*v != '"' && *v != '\'')
			return md_error_set(err, MD_E_CATALOG, "%s line %u: provider must be a quoted string",
					    LOCK_FILE, line);
		q = strchr(v + 1, *v);
		if (!q)
			return md_error_set(err, MD_E_CATALOG, "%s line %u: unterminated string", LOCK_FILE, line);
		*q = '\0';
		snprintf(provider, provsz, "%s", v + 1);
	}
	return 0;
}

static int load_lock_file(struct md_catalog *cat, int dirfd, struct md_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_file_at(dirfd, LOCK_FILE, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return md_error_set(err, MD_E_IO, "cannot read %s/%s: %s", cat->dir, LOCK_FILE, strerror(-r));
	cat->has_lock_file = true;
	r = parse_lock_file(text, cat->provider, sizeof cat->provider, err);
	if (r < 0)
		return r;
	if (cat->provider[0] == '\0')
		return md_error_set(err, MD_E_CATALOG, "%s/%s has no provider line", cat->dir, LOCK_FILE);
	if (strcmp(cat->provider, "postgresql") != 0 && strcmp(cat->provider, "postgres") != 0) {
		md_error_prisma(err, "P3019");
		md_error_set(err, MD_E_CATALOG,
			     "%s/%s says provider = \"%s\", but migrated applies PostgreSQL migrations "
			     "(provider = \"postgresql\")",
			     cat->dir, LOCK_FILE, cat->provider);
		md_error_hint(err, "point --migrations at a PostgreSQL migration history; a history "
				   "written for another database cannot be applied here");
		return MD_E_CATALOG;
	}
	return 0;
}

static int load_one(struct md_catalog *cat, int dirfd, struct md_migration *m, unsigned flags, struct md_error *err)
{
	char path[600];
	int r;

	snprintf(path, sizeof path, "%s/migration.sql", m->name);
	r = read_file_at(dirfd, path, &m->sql, &m->sql_len);
	if (r == 0) {
		m->has_sql = true;
		m->utf8_ok = md_utf8_valid(m->sql, m->sql_len, &m->utf8_bad_offset);
		r = md_checksum_script(m->sql, m->sql_len, m->checksum);
		if (r < 0)
			return md_error_set(err, r, "cannot compute the checksum of %s/%s", cat->dir, path);
	} else if (r == -EFBIG) {
		return md_error_set(err, MD_E_CATALOG, "%s/%s is larger than 1 GiB", cat->dir, path);
	} else if (r == -ENOMEM) {
		return md_error_set(err, MD_E_NOMEM, "out of memory reading %s/%s", cat->dir, path);
	} else if (r != -ENOENT) {
		return md_error_set(err, MD_E_IO, "cannot read %s/%s: %s", cat->dir, path, strerror(-r));
	}
	snprintf(path, sizeof path, "%s/down.sql", m->name);
	if (flags & MD_CATALOG_LOAD_DOWN) {
		r = read_file_at(dirfd, path, &m->down_sql, &m->down_len);
		if (r == 0)
			m->has_down = true;
		else if (r != -ENOENT)
			return md_error_set(err, MD_E_IO, "cannot read %s/%s: %s", cat->dir, path, strerror(-r));
	} else if (flags & MD_CATALOG_PROBE_DOWN) {
		struct stat st;
		m->has_down = fstatat(dirfd, path, &st, 0) == 0 && S_ISREG(st.st_mode);
	}
	return 0;
}

/* Lists subdirectories (following symlinks) into cat->items, unsorted. */
static int list_folders(struct md_catalog *cat, int dirfd, struct md_error *err)
{
	size_t cap = 0;
	DIR *d;
	struct dirent *de;
	int fd2 = dup(dirfd);

	if (fd2 < 0 || !(d = fdopendir(fd2))) {
		if (fd2 >= 0)
			close(fd2);
		return md_error_set(err, MD_E_IO, "cannot list %s: %s", cat->dir, strerror(errno));
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR) {
			if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
				continue;
			if (fstatat(dirfd, de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
				continue;
		}
		if (md_migration_name_check(de->d_name, err) < 0) {
			/* de points into the DIR: prefix before closedir. */
			md_error_prefix(err, MD_E_CATALOG, "%s: folder \"%s\": ", cat->dir, de->d_name);
			closedir(d);
			md_error_hint(err, "rename or remove that folder: every subdirectory of the "
					   "migrations folder is a migration");
			return MD_E_CATALOG;
		}
		if (cat->n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct md_migration *p = realloc(cat->items, nc * sizeof *p);
			if (!p) {
				closedir(d);
				return md_error_set(err, MD_E_NOMEM, "out of memory listing %s", cat->dir);
			}
			cat->items = p;
			cap = nc;
		}
		memset(&cat->items[cat->n], 0, sizeof cat->items[0]);
		cat->items[cat->n].name = strdup(de->d_name);
		if (!cat->items[cat->n].name) {
			closedir(d);
			return md_error_set(err, MD_E_NOMEM, "out of memory listing %s", cat->dir);
		}
		cat->n++;
	}
	closedir(d);
	return 0;
}

static int sort_items(struct md_catalog *cat, struct md_error *err)
{
	_cleanup_free_ const char **names = NULL;
	_cleanup_free_ size_t *order = NULL;
	_cleanup_free_ struct md_migration *sorted = NULL;
	int r;

	if (cat->n < 2)
		return 0;
	names = malloc(cat->n * sizeof *names);
	order = malloc(cat->n * sizeof *order);
	sorted = malloc(cat->n * sizeof *sorted);
	if (!names || !order || !sorted)
		return md_error_set(err, MD_E_NOMEM, "out of memory sorting migrations");
	for (size_t i = 0; i < cat->n; i++)
		names[i] = cat->items[i].name;
	r = md_collate_order(names, cat->n, order, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cat->n; i++)
		sorted[i] = cat->items[order[i]];
	memcpy(cat->items, sorted, cat->n * sizeof *sorted);
	return 0;
}

int md_catalog_load(const char *dir, unsigned flags, struct md_catalog **ret, struct md_error *err)
{
	struct md_catalog *cat;
	int dirfd, r;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR) {
			md_error_hint(err, "give the folder that holds migration_lock.toml and the "
					   "<timestamp>_<name>/ folders with --migrations DIR (default "
					   "prisma/migrations)");
			return md_error_set(err, MD_E_CONFIG, "migrations folder %s %s", dir,
					    e == ENOENT ? "does not exist" : "is not a directory");
		}
		return md_error_set(err, MD_E_IO, "cannot open migrations folder %s: %s", dir, strerror(e));
	}
	cat = calloc(1, sizeof *cat);
	if (!cat || !(cat->dir = strdup(dir))) {
		free(cat);
		close(dirfd);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	r = load_lock_file(cat, dirfd, err);
	if (r >= 0)
		r = list_folders(cat, dirfd, err);
	if (r >= 0)
		r = sort_items(cat, err);
	for (size_t i = 0; r >= 0 && i < cat->n; i++)
		r = load_one(cat, dirfd, &cat->items[i], flags, err);
	close(dirfd);
	if (r < 0) {
		md_catalog_free(cat);
		return r;
	}
	*ret = cat;
	return 0;
}

int md_catalog_load_down(const struct md_catalog *cat, struct md_migration *m, struct md_error *err)
{
	char path[PATH_MAX];
	int dirfd, r;

	if (m->down_sql)
		return 0;
	dirfd = open(cat->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return md_error_set(err, MD_E_IO, "cannot open %s: %s", cat->dir, strerror(errno));
	snprintf(path, sizeof path, "%s/down.sql", m->name);
	r = read_file_at(dirfd, path, &m->down_sql, &m->down_len);
	close(dirfd);
	if (r == 0)
		m->has_down = true;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return md_error_set(err, MD_E_IO, "cannot read %s/%s: %s", cat->dir, path, strerror(-r));
	return 0;
}

struct md_migration *md_catalog_find(const struct md_catalog *cat, const char *name)
{
	for (size_t i = 0; cat && i < cat->n; i++)
		if (strcmp(cat->items[i].name, name) == 0)
			return &cat->items[i];
	return NULL;
}

void md_catalog_free(struct md_catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n; i++) {
		free(cat->items[i].name);
		free(cat->items[i].sql);
		free(cat->items[i].down_sql);
	}
	free(cat->items);
	free(cat->dir);
	free(cat);
}
