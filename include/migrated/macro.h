/* macro.h - small helpers shared by every module: the length of an array, and freeing a
 * malloc'd pointer when it goes out of scope. Not for anything with state; each module keeps
 * its own types and their cleanups in its own header. */
#ifndef MIGRATED_MACRO_H
#define MIGRATED_MACRO_H

#include <stdlib.h>

#define MD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* _cleanup_free_ char *p = malloc(...): p is freed when the variable goes out of scope. */
static inline void md_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(md_freep)))

#endif
