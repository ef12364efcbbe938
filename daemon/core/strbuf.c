/* strbuf.c - growable NUL-terminated buffer with sticky allocation failure. */
#include "migrated/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool strbuf_reserve(struct md_strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (sb->failed)
		return false;
	if (extra > (size_t)-1 / 2 - sb->len) {
		sb->failed = true;
		return false;
	}
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(sb->data, cap);
	if (!p) {
		sb->failed = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void md_strbuf_append(struct md_strbuf *sb, const char *s, size_t n)
{
	if (!strbuf_reserve(sb, n))
		return;
	if (n)
		memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void md_strbuf_puts(struct md_strbuf *sb, const char *s)
{
	md_strbuf_append(sb, s, strlen(s));
}

void md_strbuf_putc(struct md_strbuf *sb, char c)
{
	md_strbuf_append(sb, &c, 1);
}

void md_strbuf_printf(struct md_strbuf *sb, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		va_end(ap2);
		return;
	}
	if (strbuf_reserve(sb, (size_t)n)) {
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
		sb->len += (size_t)n;
	}
	va_end(ap2);
}

const char *md_strbuf_cstr(const struct md_strbuf *sb)
{
	return sb->data ? sb->data : "";
}

bool md_strbuf_failed(const struct md_strbuf *sb)
{
	return sb->failed;
}

char *md_strbuf_steal(struct md_strbuf *sb)
{
	char *p;

	if (sb->failed) {
		md_strbuf_free(sb);
		return NULL;
	}
	p = sb->data ? sb->data : strdup("");
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void md_strbuf_reset(struct md_strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->data)
		sb->data[0] = '\0';
}

void md_strbuf_free(struct md_strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
}
