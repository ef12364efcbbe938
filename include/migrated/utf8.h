/* utf8.h - the few UTF-8 operations the engine needs: validation, the lossy decoding Node.js
 * applies when Prisma reads a file as "utf-8" (WHATWG: each maximal invalid subpart becomes
 * U+FFFD), and mapping PostgreSQL's character positions back to byte offsets. */
#ifndef MIGRATED_UTF8_H
#define MIGRATED_UTF8_H

#include <stdbool.h>
#include <stddef.h>

struct md_strbuf;

/* md_utf8_valid: true when s[0..len) is well-formed UTF-8; otherwise *ret_bad_offset (may be
 * NULL) gets the byte offset of the first invalid sequence. */
bool md_utf8_valid(const char *s, size_t len, size_t *ret_bad_offset);
/* md_utf8_lossy: append s decoded the WHATWG way (invalid subparts -> EF BF BD) to out. */
void md_utf8_lossy(const char *s, size_t len, struct md_strbuf *out);
/* md_utf8_char_to_byte: byte offset of the character with 0-based index `chars` in s; len when
 * past the end. Invalid bytes count as one character each. */
size_t md_utf8_char_to_byte(const char *s, size_t len, size_t chars);
/* md_utf8_chars: number of characters in s[0..len). */
size_t md_utf8_chars(const char *s, size_t len);
/* md_utf8_scrub: make the NUL-terminated s well-formed UTF-8 in place by turning every byte of
 * an invalid sequence (a stray byte, a character cut by truncation) into '?'; never changes
 * its length. For text from the network or a cut buffer before it goes into JSON or a log. */
void md_utf8_scrub(char *s);

#endif
