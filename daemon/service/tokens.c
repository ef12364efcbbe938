/* tokens.c - bearer tokens (see tokens.h). Only SHA-256 digests of the secrets stay in memory;
 * a check hashes the presented secret and compares it with every digest in constant time, so
 * neither the time nor the order reveals which token (or how much of one) matched. */
#include "migrated/tokens.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/macro.h"

#include <ctype.h>
#include <errno.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
