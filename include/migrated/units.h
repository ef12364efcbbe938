/* units.h - quantities as people read them, the same way in every message: sizes in IEC units
 * (powers of 1024 are KiB, MiB, GiB: never "GB"). */
#ifndef MIGRATED_UNITS_H
#define MIGRATED_UNITS_H

#include <stddef.h>

/* md_format_bytes: "512 bytes", "1.5 KiB", "48.0 GiB" into out (size sz, always terminated). */
void md_format_bytes(double bytes, char *out, size_t sz);

#endif
