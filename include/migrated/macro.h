/* macro.h - small helpers shared by every module: scoped cleanup and ownership transfer.
 * Not for anything with state; each module keeps its own types in its own header. */
#ifndef MIGRATED_MACRO_H
#define MIGRATED_MACRO_H

#include <stdlib.h>

#define MD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hand ownership of *p to the caller and leave NULL behind, so a cleanup attribute on the
 * source variable does not free what was handed on. */
#define TAKE_PTR(p)                         \
	({                                  \
		__typeof__(p) _taken = (p); \
		(p) = NULL;                 \
		_taken;                     \
	})

static inline void md_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(md_freep)))

#define MD_DEFINE_CLEANUP(type, func)       \
	static inline void func##p(type *p) \
	{                                   \
		if (*p)                     \
			func(*p);           \
	}

#endif
