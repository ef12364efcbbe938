/* strbuf.h - a growable byte buffer, always NUL-terminated. Used to build messages, SQL
 * preambles and rendered output. Allocation failure is sticky: check md_strbuf_failed() once
 * at the end instead of after every append. */
#ifndef MIGRATED_STRBUF_H
#define MIGRATED_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct md_strbuf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; content is truncated */
};

#define MD_STRBUF_INIT            \
	{                         \
		NULL, 0, 0, false \
	}

/* Appending never fails loudly: on allocation failure the buffer keeps what it had and is
 * marked failed (md_strbuf_failed), and later appends do nothing. */
/* md_strbuf_append: n bytes of s (may hold NULs; s may be NULL when n is 0). */
void md_strbuf_append(struct md_strbuf *sb, const char *s, size_t n);
/* md_strbuf_puts: the NUL-terminated s. */
void md_strbuf_puts(struct md_strbuf *sb, const char *s);
/* md_strbuf_printf: formatted text, as printf. */
void md_strbuf_printf(struct md_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* md_strbuf_putc: one byte. */
void md_strbuf_putc(struct md_strbuf *sb, char c);
/* md_strbuf_cstr: the text so far ("" when empty); stays owned by sb, valid until its next change. */
const char *md_strbuf_cstr(const struct md_strbuf *sb);
/* md_strbuf_failed: whether an allocation failed (the text is then cut short). */
bool md_strbuf_failed(const struct md_strbuf *sb);
/* md_strbuf_steal: hands the text to the caller (free() it) and empties sb. NULL on failure. */
char *md_strbuf_steal(struct md_strbuf *sb);
/* md_strbuf_reset: empty, keeping the memory for reuse (and clearing failed). */
void md_strbuf_reset(struct md_strbuf *sb);
/* md_strbuf_free: release the memory; sb is MD_STRBUF_INIT again. */
void md_strbuf_free(struct md_strbuf *sb);

#endif
