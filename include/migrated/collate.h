/* collate.h - the order Prisma applies migrations in: JavaScript's String.localeCompare, which
 * is ICU collation with the root locale (punctuation < digits < letters, case-insensitive at
 * first level), not byte order. Ties (canonically equal names) fall back to byte order. */
#ifndef MIGRATED_COLLATE_H
#define MIGRATED_COLLATE_H

#include <stddef.h>

struct md_error;

/* md_collate_order: sorts `names` (n UTF-8 strings) and writes the permutation into
 * ret_order[0..n) (index of the first name, second, ...). Returns 0, MD_E_NOMEM or
 * MD_E_INTERNAL (ICU unavailable) with err filled. */
int md_collate_order(const char *const *names, size_t n, size_t *ret_order, struct md_error *err);
/* md_collate_compare: <0, 0, >0 like strcmp but in Prisma's order. */
int md_collate_compare(const char *a, const char *b);

#endif
