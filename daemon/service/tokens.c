/* tokens.c - bearer tokens (see tokens.h). Only SHA-256 digests of the secrets stay in memory;
 * a check hashes the presented secret and compares it with every digest in constant time, so
 * neither the time nor the order reveals which token (or how much of one) matched.
 * The second half edits the file for `migrated token`: read it whole (bounded), check it loads,
 * change one line, and replace it atomically under a lock on its folder. Not for telling a
 * daemon about the change: that is the operator's reload. */
#include "migrated/tokens.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/macro.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct token {
	char name[64];
	enum md_role role;
	uint8_t digest[SHA256_DIGEST_SIZE];
};

struct md_tokens {
	struct token *items;
	size_t n;
};

const char *md_role_name(enum md_role role)
{
	switch (role) {
	case MD_ROLE_READ: return "read";
	case MD_ROLE_DEPLOY: return "deploy";
	case MD_ROLE_ADMIN: return "admin";
	default: return "none";
	}
}

static void digest(const char *s, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, strlen(s), (const uint8_t *)s);
	sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

int md_role_parse(const char *s, enum md_role *ret, struct md_error *err)
{
	static const char *const names[] = {"read", "deploy", "admin"};
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*ret = (enum md_role)(i + 1);
			return 0;
		}
	return md_error_set(err, MD_E_USAGE, "role \"%s\" is not read, deploy or admin", s ? s : "");
}

int md_token_name_check(const char *name, struct md_error *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > MD_TOKEN_NAME_MAX)
		return md_error_set(err, MD_E_USAGE, "a token name has 1 to %d characters", MD_TOKEN_NAME_MAX);
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return md_error_set(err, MD_E_USAGE, "token name \"%s\": use letters, digits, '.', '_' and '-'", name);
	return 0;
}

static int parse_role(const char *s, enum md_role *ret)
{
	static const char *const names[] = {"read", "deploy", "admin"};
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum md_role)(i + 1);
			return 0;
		}
	return -1;
}

int md_tokens_load(const char *path, struct md_tokens **ret, struct md_error *err)
{
	struct md_tokens *t = calloc(1, sizeof *t);
	char line[1024];
	unsigned no = 0;
	FILE *f;
	struct stat st;

	if (!t)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	if (!path || !*path) {
		*ret = t;
		return 0;
	}
	f = fopen(path, "re");
	if (!f) {
		free(t);
		return md_error_set(err, MD_E_CONFIG, "cannot read the token file %s: %s", path, strerror(errno));
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
		md_log(MD_LOG_WARNING, "token file %s is readable by group or others (mode %03o): chmod 600 it", path,
		       st.st_mode & 0777);
	while (fgets(line, sizeof line, f)) {
		char name[256], role[64], secret[512], extra[8];
		no++;
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		int fields = sscanf(p, "%255s %63s %511s %7s", name, role, secret, extra);
		struct token tok = {0};
		if (fields != 3) {
			fclose(f);
			md_tokens_free(t);
			return md_error_set(err, MD_E_CONFIG, "%s line %u: expected NAME ROLE SECRET", path, no);
		}
		md_secret_register(secret);
		if (parse_role(role, &tok.role) < 0) {
			fclose(f);
			md_tokens_free(t);
			return md_error_set(err, MD_E_CONFIG, "%s line %u: role \"%s\" is not read, deploy or admin",
					    path, no, role);
		}
		if (strlen(secret) < 16) {
			fclose(f);
			md_tokens_free(t);
			return md_error_set(err, MD_E_CONFIG,
					    "%s line %u: the secret of %s is shorter than 16 characters (use e.g. "
					    "`openssl rand -hex 24`)",
					    path, no, name);
		}
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->items[i].name, name) == 0) {
				fclose(f);
				md_tokens_free(t);
				return md_error_set(err, MD_E_CONFIG, "%s line %u: a second token named %s", path, no,
						    name);
			}
		if (strlen(name) >= sizeof tok.name) {
			fclose(f);
			md_tokens_free(t);
			return md_error_set(err, MD_E_CONFIG, "%s line %u: token names have at most %zu characters",
					    path, no, sizeof tok.name - 1);
		}
		memcpy(tok.name, name, strlen(name) + 1);
		digest(secret, tok.digest);
		memset(secret, 0, sizeof secret);
		struct token *items = realloc(t->items, (t->n + 1) * sizeof *items);
		if (!items) {
			fclose(f);
			md_tokens_free(t);
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		}
		t->items = items;
		t->items[t->n++] = tok;
	}
	fclose(f);
	*ret = t;
	return 0;
}

size_t md_tokens_count(const struct md_tokens *t)
{
	return t ? t->n : 0;
}

enum md_role md_tokens_check(const struct md_tokens *t, const char *secret, char *ret_name, size_t namesz)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	enum md_role role = MD_ROLE_NONE;
	size_t match = (size_t)-1;

	if (!t || !secret)
		return MD_ROLE_NONE;
	digest(secret, d);
	for (size_t i = 0; i < t->n; i++) {
		/* Branch-free selection: every token is compared whatever matched before. */
		int eq = memeql_sec(d, t->items[i].digest, SHA256_DIGEST_SIZE);
		size_t mask = (size_t)0 - (size_t)eq;
		match = (match & ~mask) | (i & mask);
	}
	if (match != (size_t)-1) {
		role = t->items[match].role;
		if (ret_name)
			snprintf(ret_name, namesz, "%s", t->items[match].name);
	}
	return role;
}

void md_tokens_free(struct md_tokens *t)
{
	if (!t)
		return;
	free(t->items);
	free(t);
}

/* ---- editing the file (migrated token add|list|remove) ---- */

/* A token file larger than this is not one an operator keeps by hand. */
#define TOKEN_FILE_MAX (1024 * 1024)
/* How long `migrated token` waits for another one editing the same folder. */
#define TOKEN_LOCK_WAIT_MS 5000

struct token_file {
	char *text; /* the whole file, NUL-terminated; "" when it does not exist */
	size_t len;
	bool exists;
	struct stat st; /* when exists */
};

static void token_file_clear(struct token_file *tf)
{
	free(tf->text);
	tf->text = NULL;
}

/* Reads path whole and checks that it loads (so a rewrite never carries on a file the daemon
 * would refuse). */
static int token_file_read(const char *path, struct token_file *tf, struct md_error *err)
{
	struct md_tokens *t = NULL;
	int fd, r;

	memset(tf, 0, sizeof *tf);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno != ENOENT)
		return md_error_set(err, MD_E_IO, "cannot read the token file %s: %s", path, strerror(errno));
	if (fd < 0) {
		tf->text = strdup("");
		return tf->text ? 0 : md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (fstat(fd, &tf->st) < 0 || !S_ISREG(tf->st.st_mode) || tf->st.st_size > TOKEN_FILE_MAX) {
		close(fd);
		return md_error_set(err, MD_E_IO, "the token file %s is not a regular file of at most %d bytes", path,
				    TOKEN_FILE_MAX);
	}
	tf->exists = true;
	tf->text = malloc((size_t)tf->st.st_size + 1);
	if (!tf->text) {
		close(fd);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	while (tf->len < (size_t)tf->st.st_size) {
		ssize_t n = read(fd, tf->text + tf->len, (size_t)tf->st.st_size - tf->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		tf->len += (size_t)n;
	}
	close(fd);
	tf->text[tf->len] = '\0';
	r = md_tokens_load(path, &t, err);
	md_tokens_free(t);
	if (r < 0) {
		md_error_hint(err, "fix the token file by hand first; `migrated token` only edits a valid one");
		token_file_clear(tf);
	}
	return r;
}

/* The name and role of the token on line (NUL-terminated, no newline); 0, or -1 for a blank
 * or comment line. The file was checked by token_file_read. */
static int line_entry(const char *line, struct md_token_entry *ret)
{
	char name[256], role[64];
	const char *p = line + strspn(line, " \t");
	if (*p == '#' || *p == '\0' || *p == '\r')
		return -1;
	if (sscanf(p, "%255s %63s", name, role) != 2 || strlen(name) > MD_TOKEN_NAME_MAX ||
	    parse_role(role, &ret->role) < 0)
		return -1;
	memcpy(ret->name, name, strlen(name) + 1);
	return 0;
}

/* Calls fn for each line of text (without its newline, in a scratch copy). */
static int each_line(const char *text, int (*fn)(void *ctx, const char *line, const char *start, size_t len), void *ctx)
{
	char buf[1024];
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		int r = fn(ctx, buf, p, len);
		if (r != 0)
			return r;
		p += len + (p[len] == '\n');
	}
	return 0;
}

struct list_ctx {
	struct md_token_entry *items;
	size_t n;
};

static int list_line(void *ctx, const char *line, const char *start, size_t len)
{
	struct list_ctx *l = ctx;
	struct md_token_entry e;
	if (line_entry(line, &e) < 0)
		return 0;
	struct md_token_entry *items = realloc(l->items, (l->n + 1) * sizeof *items);
	if (!items)
		return MD_E_NOMEM;
	l->items = items;
	l->items[l->n++] = e;
	return 0;
}

int md_tokens_list(const char *path, struct md_token_entry **ret, size_t *ret_n, struct md_error *err)
{
	struct token_file tf;
	struct list_ctx l = {0};
	int r = token_file_read(path, &tf, err);
	if (r < 0)
		return r;
	r = each_line(tf.text, list_line, &l);
	token_file_clear(&tf);
	if (r < 0) {
		free(l.items);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	*ret = l.items;
	*ret_n = l.n;
	return 0;
}

static int find_line(void *ctx, const char *line, const char *start, size_t len)
{
	struct md_token_entry e;
	return line_entry(line, &e) == 0 && strcmp(e.name, (const char *)ctx) == 0 ? 1 : 0;
}

/* Holds an exclusive flock on the folder of path (other `migrated token` runs wait for it, up
 * to TOKEN_LOCK_WAIT_MS); returns the folder's fd for write_atomic's fsync. */
static int lock_folder(const char *path, char *ret_dir, size_t dirsz, struct md_error *err)
{
	char copy[4096];
	int fd;

	if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
		return md_error_set(err, MD_E_IO, "the token file path is too long");
	snprintf(ret_dir, dirsz, "%s", dirname(copy));
	fd = open(ret_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return md_error_set(err, MD_E_IO, "cannot open the folder %s of the token file: %s", ret_dir,
				    strerror(errno));
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 50) {
		if (errno != EWOULDBLOCK || waited >= TOKEN_LOCK_WAIT_MS) {
			close(fd);
			return md_error_set(err, MD_E_BUSY, "another `migrated token` is editing %s (waited %d ms)",
					    path, waited);
		}
		nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
	}
	return fd;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replaces path with the concatenation of the parts: a temporary file in dir (mode 0600, the
 * old file's owner and group), fsync, rename over path, fsync of the folder. */
static int write_atomic(const char *path, const char *dir, int dirfd, const struct token_file *old,
			const char *const parts[], const size_t lens[], size_t nparts, struct md_error *err)
{
	char tmp[4200];
	int fd, e = 0;
	const char *what = "write";

	if (snprintf(tmp, sizeof tmp, "%s/.tokens.XXXXXX", dir) >= (int)sizeof tmp)
		return md_error_set(err, MD_E_IO, "the token file path is too long");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return md_error_set(err, MD_E_IO, "cannot create a temporary file in %s: %s", dir, strerror(errno));
	if (fchmod(fd, 0600) < 0)
		e = errno, what = "chmod";
	else if (old->exists && (old->st.st_uid != geteuid() || old->st.st_gid != getegid()) &&
		 fchown(fd, old->st.st_uid, old->st.st_gid) < 0)
		e = errno, what = "keep the owner of";
	for (size_t i = 0; !e && i < nparts; i++)
		if (write_all(fd, parts[i], lens[i]) < 0)
			e = errno;
	if (!e && fsync(fd) < 0)
		e = errno, what = "fsync";
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno, what = "rename onto";
	if (e) {
		unlink(tmp);
		return md_error_set(err, MD_E_IO, "cannot %s the token file %s: %s (it is unchanged)", what, path,
				    strerror(e));
	}
	if (fsync(dirfd) < 0)
		return md_error_set(err, MD_E_IO,
				    "the token file %s was replaced but its folder could not be synced: %s", path,
				    strerror(errno));
	return 0;
}

static int random_secret(char *ret, size_t sz, struct md_error *err)
{
	uint8_t raw[MD_TOKEN_SECRET_BYTES];
	size_t got = 0;

	if (sz < 2 * sizeof raw + 1)
		return md_error_set(err, MD_E_INTERNAL, "secret buffer too small");
	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return md_error_set(err, MD_E_IO, "getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(ret + 2 * i, 3, "%02x", raw[i]);
	memset(raw, 0, sizeof raw);
	return 0;
}

int md_tokens_add(const char *path, const char *name, enum md_role role, char *ret_secret, size_t secretsz,
		  struct md_error *err)
{
	struct token_file tf = {0};
	char dir[4096], secret[2 * MD_TOKEN_SECRET_BYTES + 1], line[256];
	int dirfd, r;

	if ((r = md_token_name_check(name, err)) < 0)
		return r;
	if (role < MD_ROLE_READ || role > MD_ROLE_ADMIN)
		return md_error_set(err, MD_E_USAGE, "a token's role is read, deploy or admin");
	if ((dirfd = lock_folder(path, dir, sizeof dir, err)) < 0)
		return dirfd;
	r = token_file_read(path, &tf, err);
	if (r == 0 && each_line(tf.text, find_line, (void *)name) == 1) {
		md_error_hint(err, "pick another name, or `migrated token remove %s` first to replace it", name);
		r = md_error_set(err, MD_E_BUSY, "the token file %s already has a token named %s", path, name);
	}
	if (r == 0)
		r = random_secret(secret, sizeof secret, err);
	if (r == 0) {
		int n = snprintf(line, sizeof line, "%s%s %s %s\n", tf.len && tf.text[tf.len - 1] != '\n' ? "\n" : "",
				 name, md_role_name(role), secret);
		const char *parts[] = {tf.text, line};
		const size_t lens[] = {tf.len, (size_t)n};
		md_secret_register(secret);
		r = write_atomic(path, dir, dirfd, &tf, parts, lens, 2, err);
		memset(line, 0, sizeof line);
	}
	if (r == 0 && ret_secret)
		snprintf(ret_secret, secretsz, "%s", secret);
	memset(secret, 0, sizeof secret);
	token_file_clear(&tf);
	close(dirfd);
	return r;
}

struct remove_ctx {
	const char *name;
	const char *start; /* of the line to drop */
	size_t len;        /* with its newline */
};

static int remove_line(void *ctx, const char *line, const char *start, size_t len)
{
	struct remove_ctx *rc = ctx;
	struct md_token_entry e;
	if (line_entry(line, &e) < 0 || strcmp(e.name, rc->name) != 0)
		return 0;
	rc->start = start;
	rc->len = len + (start[len] == '\n');
	return 1;
}

int md_tokens_remove(const char *path, const char *name, struct md_error *err)
{
	struct token_file tf = {0};
	struct remove_ctx rc = {name, NULL, 0};
	char dir[4096];
	int dirfd, r;

	if ((r = md_token_name_check(name, err)) < 0)
		return r;
	if ((dirfd = lock_folder(path, dir, sizeof dir, err)) < 0)
		return dirfd;
	r = token_file_read(path, &tf, err);
	if (r == 0 && each_line(tf.text, remove_line, &rc) != 1) {
		md_error_hint(err, "`migrated token list` shows the names");
		r = md_error_set(err, MD_E_NOT_FOUND, "the token file %s has no token named %s", path, name);
	}
	if (r == 0) {
		size_t head = (size_t)(rc.start - tf.text);
		const char *parts[] = {tf.text, rc.start + rc.len};
		const size_t lens[] = {head, tf.len - head - rc.len};
		r = write_atomic(path, dir, dirfd, &tf, parts, lens, 2, err);
	}
	token_file_clear(&tf);
	close(dirfd);
	return r;
}
