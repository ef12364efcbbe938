/* utf8.c - UTF-8 validation and WHATWG lossy decoding. The lossy decoder follows the Encoding
 * Standard's UTF-8 decoder step by step, because Prisma's checksum of a file with invalid bytes
 * is the SHA-256 of Node's decoded text and ours must be the same. */
#include "migrated/utf8.h"
#include "migrated/strbuf.h"

#include <string.h>

/* Length of the valid sequence starting at s[i], or 0 when invalid; *ret_consumed gets the
 * length of the maximal subpart to replace with one U+FFFD when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t i, size_t *ret_consumed)
{
	unsigned char c = s[i];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		*ret_consumed = 1;
		return 0;
	}
	for (size_t k = 1; k <= need; k++) {
		if (i + k >= len || s[i + k] < lo || s[i + k] > hi) {
			*ret_consumed = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

bool md_utf8_valid(const char *s, size_t len, size_t *ret_bad_offset)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, consumed;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq(u, len, i, &consumed);
		if (n == 0) {
			if (ret_bad_offset)
				*ret_bad_offset = i;
			return false;
		}
		i += n;
	}
	return true;
}

void md_utf8_lossy(const char *s, size_t len, struct md_strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, consumed;

	while (i < len) {
		size_t n = utf8_seq(u, len, i, &consumed);
		if (n) {
			i += n;
			continue;
		}
		md_strbuf_append(out, s + run, i - run);
		md_strbuf_append(out, "\xEF\xBF\xBD", 3);
		i += consumed;
		run = i;
	}
	md_strbuf_append(out, s + run, len - run);
}

size_t md_utf8_char_to_byte(const char *s, size_t len, size_t chars)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, consumed;

	while (i < len && chars > 0) {
		size_t n = utf8_seq(u, len, i, &consumed);
		i += n ? n : 1;
		chars--;
	}
	return i < len ? i : len;
}

size_t md_utf8_chars(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, chars = 0, consumed;

	while (i < len) {
		size_t n = utf8_seq(u, len, i, &consumed);
		i += n ? n : 1;
		chars++;
	}
	return chars;
}

void md_utf8_scrub(char *s)
{
	unsigned char *u = (unsigned char *)s;
	size_t len = strlen(s), i = 0, consumed;

	while (i < len) {
		size_t n = utf8_seq(u, len, i, &consumed);
		if (n) {
			i += n;
			continue;
		}
		for (size_t k = 0; k < consumed; k++)
			u[i + k] = '?';
		i += consumed;
	}
}
