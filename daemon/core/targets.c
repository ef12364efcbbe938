/* targets.c - the targets file and label selectors (see targets.h). A pure parser: it reads
 * one file and never logs; what the targets are used for (pools, probes, fleet deploys) is the
 * callers' business. Every message names origin:line and a field by its place, never its text
 * when it could be a URL: URLs carry passwords. */
#include "migrated/targets.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TARGETS_FILE_MAX (16L * 1024 * 1024)
#define NAME_CHARS       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define SPACE            " \t\r\v\f"

bool md_target_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > MD_TARGET_NAME_MAX || strspn(name, NAME_CHARS) != n)
		return false;
	return name[0] != '_' && name[0] != '.' && name[0] != '-';
}

static bool label_key_valid(const char *key, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr(NAME_CHARS, key[i]) || key[i] == '\0')
			return false;
	return true;
}

static bool postgres_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

static void target_clear(struct md_target *t)
{
	free(t->name);
	free(t->url);
	free(t->direct_url);
	free(t->migrations_dir);
	for (size_t i = 0; i < t->n_labels; i++) {
		free(t->labels[i].key);
		free(t->labels[i].value);
	}
	free(t->labels);
	memset(t, 0, sizeof *t);
}

void md_targets_free(struct md_targets *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		target_clear(&t->list[i]);
	free(t->list);
	free(t);
}

/* Cuts the line at its comment: a '#' that starts the line or follows whitespace. */
static void strip_comment(char *line)
{
	for (char *p = line; *p; p++)
		if (*p == '#' && (p == line || strchr(SPACE, p[-1]))) {
			*p = '\0';
			return;
		}
}

/* The next whitespace-separated field of *cursor (NUL-terminated in place), or NULL. */
static char *next_field(char **cursor)
{
	char *p = *cursor + strspn(*cursor, SPACE);
	if (!*p) {
		*cursor = p;
		return NULL;
	}
	char *end = p + strcspn(p, SPACE);
	if (*end)
		*end++ = '\0';
	*cursor = end;
	return p;
}

struct parse {
	const char *origin;
	unsigned line;
	struct md_error *err;
};

static int line_error(const struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int line_error(const struct parse *ps, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return md_error_set(ps->err, MD_E_CONFIG, "%s:%u: %s", ps->origin, ps->line, what);
}

static int set_option(const struct parse *ps, struct md_target *t, const char *field, size_t no)
{
	const char *eq = strchr(field, '=');
	size_t klen = eq ? (size_t)(eq - field) : 0;
	const char *value = eq ? eq + 1 : NULL;
	char **slot = NULL;

	/* The field is not quoted: a URL written without direct= would show its password. */
	if (!eq || !label_key_valid(field, klen))
		return line_error(ps,
				  "field %zu of target %s is not KEY=VALUE (a key of letters, digits, '_', '.' or '-'; "
				  "direct=URL, migrations=DIR or a label)",
				  no, t->name);
	if (!*value)
		return line_error(ps, "option %.*s of target %s has an empty value", (int)klen, field, t->name);
	if (klen == 6 && strncmp(field, "direct", 6) == 0)
		slot = &t->direct_url;
	else if (klen == 10 && strncmp(field, "migrations", 10) == 0)
		slot = &t->migrations_dir;
	if (slot) {
		if (*slot)
			return line_error(ps, "option %.*s of target %s is given twice", (int)klen, field, t->name);
		if (slot == &t->direct_url && !postgres_url(value))
			return line_error(
				ps, "the direct URL of target %s does not start with postgresql:// or postgres://",
				t->name);
		if (!(*slot = strdup(value)))
			return md_error_set(ps->err, MD_E_NOMEM, "out of memory");
		return 0;
	}
	for (size_t i = 0; i < t->n_labels; i++)
		if (strlen(t->labels[i].key) == klen && strncmp(t->labels[i].key, field, klen) == 0)
			return line_error(ps, "label %.*s of target %s is given twice", (int)klen, field, t->name);
	struct md_target_label *l = realloc(t->labels, (t->n_labels + 1) * sizeof *l);
	if (!l)
		return md_error_set(ps->err, MD_E_NOMEM, "out of memory");
	t->labels = l;
	l[t->n_labels].key = strndup(field, klen);
	l[t->n_labels].value = strdup(value);
	if (!l[t->n_labels].key || !l[t->n_labels].value) {
		free(l[t->n_labels].key);
		free(l[t->n_labels].value);
		return md_error_set(ps->err, MD_E_NOMEM, "out of memory");
	}
	t->n_labels++;
	return 0;
}

/* One non-empty line into *t (cleared by the caller on failure). */
static int parse_line(const struct parse *ps, const struct md_targets *seen, char *line, struct md_target *t)
{
	char *cursor = line;
	char *name = next_field(&cursor), *url = next_field(&cursor), *field;

	/* A bad name is not quoted either: it may be a URL written without a name before it. */
	if (!md_target_name_valid(name))
		return line_error(ps,
				  "the target name (first field) must be 1 to %d letters, digits, '_', '.' or '-', "
				  "starting with a letter or digit",
				  MD_TARGET_NAME_MAX);
	if (strcmp(name, "default") == 0)
		return line_error(ps, "the target name \"default\" is reserved (the target of DATABASE_URL)");
	if (md_targets_find(seen, name))
		return line_error(ps, "target %s is defined twice", name);
	if (!(t->name = strdup(name)))
		return md_error_set(ps->err, MD_E_NOMEM, "out of memory");
	if (!url)
		return line_error(ps, "target %s has no URL (NAME URL [direct=URL] [migrations=DIR] [KEY=VALUE]...)",
				  name);
	if (!postgres_url(url))
		return line_error(ps, "the URL of target %s does not start with postgresql:// or postgres://", name);
	if (!(t->url = strdup(url)))
		return md_error_set(ps->err, MD_E_NOMEM, "out of memory");
	for (size_t no = 3; (field = next_field(&cursor)); no++) {
		int r = set_option(ps, t, field, no);
		if (r < 0)
			return r;
	}
	return 0;
}

int md_targets_parse(const char *text, const char *origin, struct md_targets **ret, struct md_error *err)
{
	struct md_targets *t = calloc(1, sizeof *t);
	_cleanup_free_ char *copy = strdup(text ? text : "");
	struct parse ps = {origin ? origin : "targets", 0, err};
	size_t cap = 0;
	char *line, *next;
	int r = 0;

	if (!t || !copy) {
		free(t);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ps.line++;
		strip_comment(line);
		if (line[strspn(line, SPACE)] == '\0')
			continue;
		if (t->n == MD_TARGETS_MAX) {
			r = line_error(&ps, "more than %d targets", MD_TARGETS_MAX);
			break;
		}
		if (t->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct md_target *l = realloc(t->list, ncap * sizeof *l);
			if (!l) {
				r = md_error_set(err, MD_E_NOMEM, "out of memory");
				break;
			}
			t->list = l;
			cap = ncap;
		}
		memset(&t->list[t->n], 0, sizeof t->list[t->n]);
		r = parse_line(&ps, t, line, &t->list[t->n]);
		if (r < 0) {
			target_clear(&t->list[t->n]);
			break;
		}
		t->n++;
	}
	if (r < 0) {
		md_targets_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int md_targets_load(const char *path, struct md_targets **ret, struct md_error *err)
{
	struct stat st;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return md_error_set(err, MD_E_IO, "cannot read the targets file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TARGETS_FILE_MAX) {
		close(fd);
		return md_error_set(err, MD_E_CONFIG, "the targets file %s is not a regular file of at most 16 MiB",
				    path);
	}
	if (st.st_mode & 0077) {
		close(fd);
		md_error_set(err, MD_E_CONFIG,
			     "the targets file %s may be read or changed by group or others (mode %04o), and its URLs "
			     "hold passwords: chmod 600 it",
			     path, (unsigned)(st.st_mode & 07777));
		md_error_hint(err, "chmod 600 %s", path);
		return MD_E_CONFIG;
	}
	if (!(text = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return md_error_set(err, MD_E_IO, "cannot read the targets file %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	if (strlen(text) != len)
		return md_error_set(err, MD_E_CONFIG, "the targets file %s holds a NUL byte", path);
	return md_targets_parse(text, path, ret, err);
}

const struct md_target *md_targets_find(const struct md_targets *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->n; i++)
		if (strcmp(t->list[i].name, name) == 0)
			return &t->list[i];
	return NULL;
}

const char *md_target_label(const struct md_target *t, const char *key)
{
	for (size_t i = 0; t && key && i < t->n_labels; i++)
		if (strcmp(t->labels[i].key, key) == 0)
			return t->labels[i].value;
	return NULL;
}

/* The selector's next "k=v" item from *p: key and value spans; false at the end. */
static bool next_item(const char **p, const char **key, size_t *klen, const char **val, size_t *vlen)
{
	if (!**p)
		return false;
	size_t n = strcspn(*p, ",");
	const char *eq = memchr(*p, '=', n);
	*key = *p;
	*klen = eq ? (size_t)(eq - *p) : n;
	*val = eq ? eq + 1 : *p + n;
	*vlen = eq ? n - *klen - 1 : 0;
	*p += n + ((*p)[n] == ',');
	return true;
}

int md_target_selector_check(const char *sel, struct md_error *err)
{
	const char *p = sel ? sel : "", *key, *val;
	size_t klen, vlen, no = 0;

	if (*p && (p[strlen(p) - 1] == ',' || *p == ','))
		return md_error_set(err, MD_E_USAGE, "selector \"%s\": an empty item (a stray comma)", p);
	while (next_item(&p, &key, &klen, &val, &vlen)) {
		no++;
		if (!label_key_valid(key, klen) || vlen == 0 || key[klen] != '=')
			return md_error_set(err, MD_E_USAGE,
					    "selector \"%s\": item %zu is not KEY=VALUE (e.g. tier=prod or "
					    "tier=prod,region=eu)",
					    sel, no);
		for (size_t i = 0; i < vlen; i++)
			if (strchr(SPACE "\n", val[i]))
				return md_error_set(err, MD_E_USAGE,
						    "selector \"%s\": the value of item %zu holds whitespace", sel, no);
	}
	return 0;
}

bool md_target_matches(const struct md_target *t, const char *sel)
{
	const char *p = sel ? sel : "", *key, *val;
	size_t klen, vlen;

	while (next_item(&p, &key, &klen, &val, &vlen)) {
		bool found = false;
		for (size_t i = 0; i < t->n_labels && !found; i++)
			found = strlen(t->labels[i].key) == klen && strncmp(t->labels[i].key, key, klen) == 0 &&
				strlen(t->labels[i].value) == vlen && strncmp(t->labels[i].value, val, vlen) == 0;
		if (!found)
			return false;
	}
	return true;
}
