/* checksum.c - Prisma-compatible migration checksums (schema-connector checksum.rs semantics),
 * using Nettle's SHA-256 (no library initialisation, unlike OpenSSL 3's providers). */
#include "migrated/checksum.h"
#include "migrated/error.h"
#include "migrated/strbuf.h"
#include "migrated/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sha256_raw(const void *data, size_t len, unsigned char digest[32])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
	return 0;
}

static void hex_padded(const unsigned char d[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
}

/* The pre-2021 engine formatted each byte with {:x}: no zero padding. */
static void hex_legacy(const unsigned char d[32], char out[65])
{
	size_t o = 0;
	for (int i = 0; i < 32; i++)
		o += (size_t)snprintf(out + o, 65 - o, "%x", d[i]);
}

int md_sha256_hex(const void *data, size_t len, char out[MD_CHECKSUM_HEX_LEN + 1])
{
	unsigned char d[32];
	int r = sha256_raw(data, len, d);
	if (r < 0)
		return r;
	hex_padded(d, out);
	return 0;
}

int md_checksum_script(const char *bytes, size_t len, char out[MD_CHECKSUM_HEX_LEN + 1])
{
	struct md_strbuf text = MD_STRBUF_INIT;
	int r;

	if (md_utf8_valid(bytes, len, NULL))
		return md_sha256_hex(bytes, len, out);
	md_utf8_lossy(bytes, len, &text);
	if (md_strbuf_failed(&text)) {
		md_strbuf_free(&text);
		return MD_E_NOMEM;
	}
	r = md_sha256_hex(text.data, text.len, out);
	md_strbuf_free(&text);
	return r;
}

static bool variant_matches(const char *text, size_t len, const char *stored, bool legacy)
{
	unsigned char d[32];
	char hex[65];

	if (sha256_raw(text, len, d) < 0)
		return false;
	if (legacy)
		hex_legacy(d, hex);
	else
		hex_padded(d, hex);
	return strcmp(hex, stored) == 0;
}

bool md_checksum_matches(const char *bytes, size_t len, const char *computed, const char *stored)
{
	struct md_strbuf text = MD_STRBUF_INIT, v = MD_STRBUF_INIT;
	bool legacy, ok = false;
	const char *t;
	size_t tl;

	if (!stored)
		return false;
	legacy = stored[0] != '\0' && strlen(stored) != MD_CHECKSUM_HEX_LEN;
	if (!legacy && computed && strcmp(computed, stored) == 0)
		return true;
	/* Prisma compares the decoded text; for valid UTF-8 that is the raw bytes. */
	if (md_utf8_valid(bytes, len, NULL)) {
		t = bytes;
		tl = len;
	} else {
		md_utf8_lossy(bytes, len, &text);
		t = md_strbuf_cstr(&text);
		tl = text.len;
	}
	if ((legacy || !computed) && variant_matches(t, tl, stored, legacy)) {
		ok = true;
		goto out;
	}
	/* script.replace("\r\n", "\n") */
	for (size_t i = 0; i < tl; i++) {
		if (t[i] == '\r' && i + 1 < tl && t[i + 1] == '\n')
			continue;
		md_strbuf_putc(&v, t[i]);
	}
	if (!md_strbuf_failed(&v) && variant_matches(md_strbuf_cstr(&v), v.len, stored, legacy)) {
		ok = true;
		goto out;
	}
	/* script.replace('\n', "\r\n"): every LF, even one already after a CR. */
	md_strbuf_reset(&v);
	for (size_t i = 0; i < tl; i++) {
		if (t[i] == '\n')
			md_strbuf_putc(&v, '\r');
		md_strbuf_putc(&v, t[i]);
	}
	if (!md_strbuf_failed(&v) && variant_matches(md_strbuf_cstr(&v), v.len, stored, legacy))
		ok = true;
out:
	md_strbuf_free(&text);
	md_strbuf_free(&v);
	return ok;
}

int md_sha256_file(const char *path, char out[MD_CHECKSUM_HEX_LEN + 1], unsigned long long *ret_size,
		   struct md_error *err)
{
	enum { PIECE = 1 << 20 };
	struct sha256_ctx ctx;
	unsigned char digest[32];
	unsigned long long total = 0;
	unsigned char *buf = malloc(PIECE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0) {
		int e = errno;
		free(buf);
		if (fd >= 0)
			close(fd);
		return md_error_set(err, buf ? MD_E_IO : MD_E_NOMEM, "cannot read %s: %s", path, strerror(e));
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sha256_init(&ctx);
	while ((n = read(fd, buf, PIECE)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return md_error_set(err, MD_E_IO, "cannot read %s: %s", path, strerror(e));
		}
		sha256_update(&ctx, (size_t)n, buf);
		total += (unsigned long long)n;
	}
	free(buf);
	close(fd);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
	hex_padded(digest, out);
	if (ret_size)
		*ret_size = total;
	return 0;
}
