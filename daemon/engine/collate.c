/* collate.c - Prisma's migration order through ICU (root locale, default strength). Sort keys
 * are computed once per name so that 10,000 folders sort with memcmp, not 130,000 collator
 * calls. */
#include "migrated/collate.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>
#include <unicode/ustring.h>

struct keyed {
	uint8_t *key;
	size_t key_len;
	const char *name;
	size_t index;
};

static UCollator *collator_open(void)
{
	UErrorCode st = U_ZERO_ERROR;
	UCollator *c = ucol_open("", &st);
	if (U_FAILURE(st))
		return NULL;
	return c;
}

/* Sort key of a UTF-8 name; NULL on allocation or conversion failure. */
static uint8_t *sort_key(const UCollator *c, const char *name, size_t *ret_len)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t ulen = 0, klen;
	UChar stackbuf[256], *u = stackbuf;
	uint8_t *key;

	u_strFromUTF8Lenient(NULL, 0, &ulen, name, -1, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		return NULL;
	st = U_ZERO_ERROR;
	if ((size_t)ulen + 1 > MD_ARRAY_SIZE(stackbuf)) {
		u = malloc(((size_t)ulen + 1) * sizeof(UChar));
		if (!u)
			return NULL;
	}
	u_strFromUTF8Lenient(u, ulen + 1, NULL, name, -1, &st);
	if (U_FAILURE(st)) {
		if (u != stackbuf)
			free(u);
		return NULL;
	}
	klen = ucol_getSortKey(c, u, ulen, NULL, 0);
	key = klen > 0 ? malloc((size_t)klen) : NULL;
	if (key)
		ucol_getSortKey(c, u, ulen, key, klen);
	if (u != stackbuf)
		free(u);
	*ret_len = key ? (size_t)klen : 0;
	return key;
}

static int keyed_cmp(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int r = memcmp(a->key, b->key, n);
	if (r)
		return r;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return strcmp(a->name, b->name);
}

int md_collate_order(const char *const *names, size_t n, size_t *ret_order, struct md_error *err)
{
	struct keyed *k;
	UCollator *c;
	int r = 0;

	if (n == 0)
		return 0;
	c = collator_open();
	if (!c)
		return md_error_set(err, MD_E_INTERNAL, "ICU root collator unavailable (libicu data missing?)");
	k = calloc(n, sizeof *k);
	if (!k) {
		ucol_close(c);
		return md_error_set(err, MD_E_NOMEM, "out of memory sorting %zu migration names", n);
	}
	for (size_t i = 0; i < n; i++) {
		k[i].name = names[i];
		k[i].index = i;
		k[i].key = sort_key(c, names[i], &k[i].key_len);
		if (!k[i].key) {
			r = md_error_set(err, MD_E_NOMEM, "cannot compute the collation key of \"%s\"", names[i]);
			goto out;
		}
	}
	qsort(k, n, sizeof *k, keyed_cmp);
	for (size_t i = 0; i < n; i++)
		ret_order[i] = k[i].index;
out:
	for (size_t i = 0; i < n; i++)
		free(k[i].key);
	free(k);
	ucol_close(c);
	return r;
}

int md_collate_compare(const char *a, const char *b)
{
	const char *names[2] = {a, b};
	size_t order[2];

	if (strcmp(a, b) == 0)
		return 0;
	if (md_collate_order(names, 2, order, NULL) < 0)
		return strcmp(a, b);
	return order[0] == 0 ? -1 : 1;
}
