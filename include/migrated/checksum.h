/* checksum.h - Prisma's migration checksum: lowercase hex SHA-256 of the file as Prisma reads
 * it (raw bytes when they are valid UTF-8), and Prisma's tolerant comparison (the text, its
 * CRLF->LF and LF->CRLF variants, and the legacy non-zero-padded hex of old engines). */
#ifndef MIGRATED_CHECKSUM_H
#define MIGRATED_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>

#define MD_CHECKSUM_HEX_LEN 64

/* md_sha256_hex: hex digest of data into out (65 bytes). Returns 0 or MD_E_INTERNAL. */
int md_sha256_hex(const void *data, size_t len, char out[MD_CHECKSUM_HEX_LEN + 1]);
/* md_sha256_file: hex digest of a whole file, read in 1 MiB pieces (backups are large); the
 * size read goes to *ret_size (may be NULL). MD_E_IO with the path and errno on failure. */
struct md_error;
int md_sha256_file(const char *path, char out[MD_CHECKSUM_HEX_LEN + 1], unsigned long long *ret_size,
		   struct md_error *err);
/* md_checksum_script: the checksum Prisma stores for this file content. */
int md_checksum_script(const char *bytes, size_t len, char out[MD_CHECKSUM_HEX_LEN + 1]);
/* md_checksum_matches: whether a stored checksum matches this file content by Prisma's rules.
 * `computed` is md_checksum_script() of the same bytes (saves hashing twice). */
bool md_checksum_matches(const char *bytes, size_t len, const char *computed, const char *stored);

#endif
