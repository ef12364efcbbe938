/* collate.c - Prisma's migration order: ICU collation with the root locale (what JavaScript's
 * localeCompare uses), computed two ways.
 *
 * Names made only of printable ASCII (every real history we know of) are compared with ICU's
 * own root-collation weights for those 95 characters: each is a single collation element with
 * a common secondary weight, and upper case differs from lower case only at the tertiary
 * level. So the order is: primary weights position by position (a prefix sorts first), then
 * case (lower before upper). tests/unit/test_collate.c checks this against ICU itself on
 * every pair of characters and on random names.
 *
 * Any other name goes through ICU, loaded with dlopen() for that sort and unloaded after:
 * linking ICU costs every migrated process about 4.5 MB of memory (its C++ runtime and
 * relocations) whether it sorts anything or not, which a daemon that should idle under
 * 10 MiB cannot afford. */
#include "migrated/collate.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucol.h>
#include <unicode/uvernum.h>

/* ICU root-collation primary weights of 0x20 ' ' .. 0x7E '~' (ICU 72, CLDR root). */
static const uint16_t ascii_primary[95] = {
	0x0400, 0x075a, 0x097c, 0x0aaa, 0x0d90, 0x0aac, 0x0aa4, 0x096e, 0x0992, 0x0994, 0x0a94, 0x0c7a, 0x0600, 0x050e,
	0x0800, 0x0a9e, 0x1300, 0x1500, 0x1700, 0x1900, 0x1b00, 0x1d00, 0x1f00, 0x2100, 0x2300, 0x2500, 0x0736, 0x072a,
	0x0c82, 0x0c84, 0x0c86, 0x0764, 0x0a92, 0x2a00, 0x2c00, 0x2e00, 0x3000, 0x3200, 0x3400, 0x3600, 0x3800, 0x3a00,
	0x3c00, 0x3e00, 0x4000, 0x4200, 0x4400, 0x4600, 0x4800, 0x4a00, 0x4c00, 0x4e00, 0x5000, 0x5200, 0x5400, 0x5600,
	0x5800, 0x5a00, 0x5c00, 0x0996, 0x0aa0, 0x0998, 0x0c0a, 0x050a, 0x0c04, 0x2a00, 0x2c00, 0x2e00, 0x3000, 0x3200,
	0x3400, 0x3600, 0x3800, 0x3a00, 0x3c00, 0x3e00, 0x4000, 0x4200, 0x4400, 0x4600, 0x4800, 0x4a00, 0x4c00, 0x4e00,
	0x5000, 0x5200, 0x5400, 0x5600, 0x5800, 0x5a00, 0x5c00, 0x099a, 0x0c8a, 0x099c, 0x0c8e,
};

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static int ascii_compare(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	size_t i;

	for (i = 0; x[i] && y[i]; i++) {
		uint16_t px = ascii_primary[x[i] - 0x20], py = ascii_primary[y[i] - 0x20];
		if (px != py)
			return px < py ? -1 : 1;
	}
	if (x[i] || y[i])
		return x[i] ? 1 : -1; /* equal up to the shorter: the prefix first */
	for (i = 0; x[i]; i++) {
		bool ux = x[i] >= 'A' && x[i] <= 'Z', uy = y[i] >= 'A' && y[i] <= 'Z';
		if (ux != uy)
			return ux ? 1 : -1; /* tertiary: lower case first */
	}
	return strcmp(a, b);
}

static int ascii_order_cmp(const void *pa, const void *pb, void *arg)
{
	const char *const *names = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int r = ascii_compare(names[a], names[b]);
	return r ? r : (a < b ? -1 : a > b);
}

/* ---- ICU, loaded on demand ---- */

#define STR2(x)       #x
#define STR(x)        STR2(x)
#define ICU_LIB       "libicui18n.so." STR(U_ICU_VERSION_MAJOR_NUM)
#define ICU_SYM(name) #name STR(U_ICU_VERSION_SUFFIX)

struct icu {
	void *lib;
	UCollator *(*open)(const char *, UErrorCode *);
	void (*close)(UCollator *);
	int32_t (*sort_key)(const UCollator *, const UChar *, int32_t, uint8_t *, int32_t);
	UChar *(*from_utf8)(UChar *, int32_t, int32_t *, const char *, int32_t, UErrorCode *);
	void (*cleanup)(void);
};

/* One ICU user at a time: u_cleanup() and dlclose() must not race another sort. */
static pthread_mutex_t icu_lock = PTHREAD_MUTEX_INITIALIZER;

static int icu_load(struct icu *icu, struct md_error *err)
{
	icu->lib = dlopen(ICU_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!icu->lib)
		return md_error_set(err, MD_E_INTERNAL,
				    "ordering migration names outside printable ASCII needs ICU (" ICU_LIB "): %s",
				    dlerror());
	*(void **)&icu->open = dlsym(icu->lib, ICU_SYM(ucol_open));
	*(void **)&icu->close = dlsym(icu->lib, ICU_SYM(ucol_close));
	*(void **)&icu->sort_key = dlsym(icu->lib, ICU_SYM(ucol_getSortKey));
	*(void **)&icu->from_utf8 = dlsym(icu->lib, ICU_SYM(u_strFromUTF8Lenient));
	*(void **)&icu->cleanup = dlsym(icu->lib, ICU_SYM(u_cleanup));
	if (!icu->open || !icu->close || !icu->sort_key || !icu->from_utf8 || !icu->cleanup) {
		dlclose(icu->lib);
		return md_error_set(err, MD_E_INTERNAL, ICU_LIB " lacks the collation functions migrated needs");
	}
	return 0;
}

static void icu_unload(struct icu *icu)
{
	icu->cleanup(); /* frees ICU's caches so that unloading gives the memory back */
	dlclose(icu->lib);
}

struct keyed {
	uint8_t *key;
	size_t key_len;
	const char *name;
	size_t index;
};

static uint8_t *sort_key(const struct icu *icu, const UCollator *c, const char *name, size_t *ret_len)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t ulen = 0, klen;
	UChar stackbuf[256], *u = stackbuf;
	uint8_t *key;

	icu->from_utf8(NULL, 0, &ulen, name, -1, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		return NULL;
	st = U_ZERO_ERROR;
	if ((size_t)ulen + 1 > MD_ARRAY_SIZE(stackbuf) && !(u = malloc(((size_t)ulen + 1) * sizeof(UChar))))
		return NULL;
	icu->from_utf8(u, ulen + 1, NULL, name, -1, &st);
	key = NULL;
	if (U_SUCCESS(st)) {
		klen = icu->sort_key(c, u, ulen, NULL, 0);
		key = klen > 0 ? malloc((size_t)klen) : NULL;
		if (key)
			icu->sort_key(c, u, ulen, key, klen);
		*ret_len = key ? (size_t)klen : 0;
	}
	if (u != stackbuf)
		free(u);
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

static int icu_order(const char *const *names, size_t n, size_t *ret_order, struct md_error *err)
{
	struct icu icu = {0};
	struct keyed *k = NULL;
	UErrorCode st = U_ZERO_ERROR;
	UCollator *c;
	int r;

	pthread_mutex_lock(&icu_lock);
	r = icu_load(&icu, err);
	if (r < 0)
		goto out_unlocked;
	c = icu.open("", &st);
	if (U_FAILURE(st) || !c) {
		r = md_error_set(err, MD_E_INTERNAL, "ICU root collator unavailable (libicu data missing?)");
		goto out;
	}
	k = calloc(n, sizeof *k);
	if (!k) {
		r = md_error_set(err, MD_E_NOMEM, "out of memory sorting %zu migration names", n);
		goto out_close;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].name = names[i];
		k[i].index = i;
		k[i].key = sort_key(&icu, c, names[i], &k[i].key_len);
		if (!k[i].key) {
			r = md_error_set(err, MD_E_NOMEM, "cannot compute the collation key of \"%s\"", names[i]);
			goto out_close;
		}
	}
	qsort(k, n, sizeof *k, keyed_cmp);
	for (size_t i = 0; i < n; i++)
		ret_order[i] = k[i].index;
out_close:
	for (size_t i = 0; k && i < n; i++)
		free(k[i].key);
	free(k);
	icu.close(c);
out:
	icu_unload(&icu);
out_unlocked:
	pthread_mutex_unlock(&icu_lock);
	return r;
}

int md_collate_order(const char *const *names, size_t n, size_t *ret_order, struct md_error *err)
{
	bool ascii = true;

	for (size_t i = 0; i < n && ascii; i++)
		ascii = printable_ascii(names[i]);
	if (!ascii)
		return icu_order(names, n, ret_order, err);
	for (size_t i = 0; i < n; i++)
		ret_order[i] = i;
	if (n > 1)
		qsort_r(ret_order, n, sizeof *ret_order, ascii_order_cmp, (void *)names);
	return 0;
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
