/* units.c - sizes for people (see units.h). */
#include "migrated/units.h"

#include <stdio.h>

void md_format_bytes(double b, char *out, size_t sz)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;
	while (b >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		b /= 1024;
		u++;
	}
	snprintf(out, sz, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}
