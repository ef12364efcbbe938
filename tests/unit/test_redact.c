/* test_redact.c - registered secrets never survive into text, and connection errors are
 * classified from libpq's real messages. */
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

START_TEST(secrets_are_replaced_everywhere)
{
	char out[256];
	char s[] = "token abcdef123 and again xabcdef123x, short xy, u:xy@h, not in xylophone or exist";
	md_secret_register("abcdef123");
	md_secret_register("xy");
	md_secret_register("x");
	md_secret_register("");
	md_redact_inplace(s);
	ck_assert_str_eq(s, "token **** and again x****x, short **, u:**@h, not in xylophone or exist");
	md_redact("abcdef1234", out, sizeof out);
	ck_assert_str_eq(out, "****4");
	md_redact("x", out, sizeof out);
	ck_assert_str_eq(out, "*");
	md_redact("no secret", out, 4);
	ck_assert_str_eq(out, "no ");
	md_secret_forget_all();
	md_redact("abcdef123", out, sizeof out);
	ck_assert_str_eq(out, "abcdef123");
}
END_TEST

START_TEST(connection_errors_are_classified)
{
	static const struct {
		const char *msg;
		int want;
	} cases[] = {
		{"could not translate host name \"nope.invalid\" to address: Name or service not known", MD_CONN_DNS},
		{"connection to server at \"127.0.0.1\", port 1 failed: Connection refused", MD_CONN_REFUSED},
		{"connection to server on socket \"/run/x/.s.PGSQL.5432\" failed: No such file or directory",
		 MD_CONN_REFUSED},
		{"connection to server at \"h\" failed: timeout expired", MD_CONN_TIMEOUT},
		{"FATAL:  password authentication failed for user \"app\"", MD_CONN_AUTH},
		{"FATAL:  role \"ghost\" does not exist", MD_CONN_AUTH},
		{"FATAL:  database \"nope\" does not exist", MD_CONN_NO_DATABASE},
		{"FATAL:  sorry, too many clients already", MD_CONN_TOO_MANY},
		{"FATAL:  remaining connection slots are reserved for non-replication superuser connections",
		 MD_CONN_TOO_MANY},
		{"FATAL:  too many connections for role \"app\"", MD_CONN_TOO_MANY},
		{"server does not support SSL, but SSL was required", MD_CONN_SSL},
		{"FATAL:  no pg_hba.conf entry for host \"1.2.3.4\", user \"u\", database \"d\", no encryption",
		 MD_CONN_SSL},
		{"FATAL:  the database system is starting up", MD_CONN_STARTING},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(md_db_classify_conn_error(cases[i].msg) == cases[i].want, "%s -> %d", cases[i].msg,
			      md_db_classify_conn_error(cases[i].msg));
}
END_TEST

Suite *suite_redact(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("redact");
	tcase_add_test(tc, secrets_are_replaced_everywhere);
	tcase_add_test(tc, connection_errors_are_classified);
	suite_add_tcase(s, tc);
	return s;
}
