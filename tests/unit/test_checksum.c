/* test_checksum.c - Prisma's checksum and its tolerant comparison (checksum.rs semantics),
 * and the WHATWG lossy decoding behind the checksum of a file that is not UTF-8. */
#include "migrated/checksum.h"
#include "migrated/strbuf.h"
#include "migrated/utf8.h"
#include "unit.h"

#include <string.h>

static void sum(const char *s, char out[65])
{
	ck_assert_int_eq(md_checksum_script(s, strlen(s), out), 0);
}

START_TEST(checksum_is_zero_padded_lowercase_sha256)
{
	char h[65];
	sum("hello", h);
	ck_assert_str_eq(h, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	sum("", h);
	ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(line_ending_variants_match_both_ways)
{
	const char *lf = "ab\ncd\nef\ngh\rab\n", *crlf = "ab\r\ncd\r\nef\r\ngh\rab\r\n";
	char hl[65], hc[65];
	sum(lf, hl);
	sum(crlf, hc);
	ck_assert(md_checksum_matches(lf, strlen(lf), hl, hc));
	ck_assert(md_checksum_matches(crlf, strlen(crlf), hc, hl));
	ck_assert(md_checksum_matches(lf, strlen(lf), NULL, hl));
}
END_TEST

START_TEST(real_edits_do_not_match)
{
	char h[65];
	sum("abcd", h);
	ck_assert(!md_checksum_matches("abc", 3, NULL, h));
	sum("abc", h);
	ck_assert(!md_checksum_matches("abc\n", 4, NULL, h));
	ck_assert(!md_checksum_matches("abc", 3, NULL, ""));
}
END_TEST

START_TEST(legacy_unpadded_checksums_match)
{
	/* sha256("hello") has bytes 0x0e and 0x04...: {:x} drops their leading zeros. */
	const char *legacy = "2cf24dba5fb0a3e26e83b2ac5b9e29e1b161e5c1fa7425e7343362938b9824";
	char h[65];
	sum("hello", h);
	ck_assert(md_checksum_matches("hello", 5, h, legacy));
	ck_assert(!md_checksum_matches("hellO", 5, NULL, legacy));
}
END_TEST

START_TEST(invalid_utf8_is_hashed_as_node_decodes_it)
{
	/* "caf\xe9" (Latin-1) decodes to "caf\uFFFD": the checksum is of those bytes. */
	char h[65], want[65];
	ck_assert_int_eq(md_checksum_script("caf\xe9", 4, h), 0);
	ck_assert_int_eq(md_sha256_hex("caf\xef\xbf\xbd", 6, want), 0);
	ck_assert_str_eq(h, want);
}
END_TEST

START_TEST(lossy_decoding_replaces_maximal_subparts)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"a\xc3"
		 "b",
		 3,
		 "a\xef\xbf\xbd"
		 "b"},                                                       /* truncated 2-byte */
		{"\xe2\x82", 2, "\xef\xbf\xbd"},                             /* truncated 3-byte: one U+FFFD */
		{"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate: each byte */
		{"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},                 /* valid emoji kept */
		{"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct md_strbuf sb = MD_STRBUF_INIT;
		md_utf8_lossy(cases[i].in, cases[i].len, &sb);
		ck_assert_msg(strcmp(md_strbuf_cstr(&sb), cases[i].out) == 0, "case %zu", i);
		md_strbuf_free(&sb);
	}
}
END_TEST

START_TEST(utf8_validation_and_offsets)
{
	size_t bad = 0;
	ck_assert(md_utf8_valid("h\xc3\xa9llo", 6, &bad));
	ck_assert(!md_utf8_valid("ab\xffz", 4, &bad));
	ck_assert_uint_eq(bad, 2);
	ck_assert_uint_eq(md_utf8_chars("h\xc3\xa9llo", 6), 5);
	ck_assert_uint_eq(md_utf8_char_to_byte("h\xc3\xa9llo", 6, 2), 3);
}
END_TEST

START_TEST(scrub_makes_request_text_valid_without_changing_its_length)
{
	/* A stray byte, a surrogate, a character cut at the end: each byte becomes '?'. */
	char a[] = "/v1/jobs/\xff\xfe";
	char b[] = "x\xed\xa0\x80y";
	char c[] = "caf\xc3\xa9 \xe2\x82";
	char d[] = "h\xc3\xa9llo";
	md_utf8_scrub(a);
	md_utf8_scrub(b);
	md_utf8_scrub(c);
	md_utf8_scrub(d);
	ck_assert_str_eq(a, "/v1/jobs/??");
	ck_assert_str_eq(b, "x???y");
	ck_assert_str_eq(c, "caf\xc3\xa9 ??");
	ck_assert_str_eq(d, "h\xc3\xa9llo"); /* valid text is left alone */
	ck_assert(md_utf8_valid(c, strlen(c), NULL));
}
END_TEST

Suite *suite_checksum(void)
{
	Suite *s = suite_create("checksum");
	TCase *tc = tcase_create("checksum");
	tcase_add_test(tc, checksum_is_zero_padded_lowercase_sha256);
	tcase_add_test(tc, line_ending_variants_match_both_ways);
	tcase_add_test(tc, real_edits_do_not_match);
	tcase_add_test(tc, legacy_unpadded_checksums_match);
	tcase_add_test(tc, invalid_utf8_is_hashed_as_node_decodes_it);
	tcase_add_test(tc, lossy_decoding_replaces_maximal_subparts);
	tcase_add_test(tc, utf8_validation_and_offsets);
	tcase_add_test(tc, scrub_makes_request_text_valid_without_changing_its_length);
	suite_add_tcase(s, tc);
	return s;
}
