/* test_dburl.c - Prisma URLs become libpq parameters: Prisma-only parameters removed, schema
 * kept, defaults added, and the password never shown. */
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

START_TEST(prisma_parameters_are_removed_and_schema_kept)
{
	struct md_dburl *u;
	struct md_error err = {0};
	ck_assert_int_eq(md_dburl_parse("postgresql://app:s3cr%40t@db.example.com:6543/prod?schema=my%20app&"
					"connection_limit=5&sslmode=require&pool_timeout=10&pgbouncer=true",
					"migrated", 10, &u, &err),
			 0);
	ck_assert_str_eq(u->schema, "my app");
	ck_assert(u->pgbouncer);
	ck_assert_str_eq(md_dburl_get(u, "host"), "db.example.com");
	ck_assert_str_eq(md_dburl_get(u, "port"), "6543");
	ck_assert_str_eq(md_dburl_get(u, "password"), "s3cr@t");
	ck_assert_str_eq(md_dburl_get(u, "sslmode"), "require");
	ck_assert_str_eq(md_dburl_get(u, "application_name"), "migrated");
	ck_assert_str_eq(md_dburl_get(u, "connect_timeout"), "10");
	ck_assert_ptr_null(md_dburl_get(u, "connection_limit"));
	ck_assert_str_eq(u->display, "app@db.example.com:6543/prod");
	char out[128];
	md_redact("auth s3cr@t and s3cr%40t", out, sizeof out);
	ck_assert_str_eq(out, "auth **** and ****");
	md_dburl_free(u);
}
END_TEST

START_TEST(url_settings_win_over_defaults)
{
	struct md_dburl *u;
	struct md_error err = {0};
	ck_assert_int_eq(md_dburl_parse("postgres://u@h/d?application_name=deployer&connect_timeout=3", "migrated", 10,
					&u, &err),
			 0);
	ck_assert_str_eq(md_dburl_get(u, "application_name"), "deployer");
	ck_assert_str_eq(md_dburl_get(u, "connect_timeout"), "3");
	ck_assert_str_eq(u->schema, "public");
	ck_assert(!u->pgbouncer);
	md_dburl_free(u);
}
END_TEST

START_TEST(transaction_poolers_are_recognised)
{
	static const char *const pooled[] = {
		"postgresql://u:p@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require",
		"postgresql://u:p@db.example.com:6432/app?pgbouncer=true",
	};
	static const char *const direct[] = {
		"postgresql://u:p@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require",
		"postgresql://u:p@db.example.com/app?pgbouncer=false",
		"postgresql://u:p@db.pooler-example.com/app", /* "pooler" outside the first label */
		"host=/run/postgresql dbname=app",
	};
	struct md_dburl *u;
	struct md_error err = {0};
	for (size_t i = 0; i < sizeof pooled / sizeof *pooled; i++) {
		ck_assert_int_eq(md_dburl_parse(pooled[i], "migrated", 10, &u, &err), 0);
		ck_assert_int_eq(md_dburl_require_session(u, "DATABASE_URL", &err), MD_E_CONFIG);
		ck_assert(strstr(err.message, "transaction pooler"));
		ck_assert(strstr(err.hint, "DIRECT_URL"));
		md_dburl_free(u);
	}
	for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) {
		ck_assert_int_eq(md_dburl_parse(direct[i], "migrated", 10, &u, &err), 0);
		ck_assert_msg(md_dburl_require_session(u, "DATABASE_URL", &err) == 0, "%s", direct[i]);
		md_dburl_free(u);
	}
}
END_TEST

START_TEST(tcp_keepalives_default_on_unless_the_url_sets_them)
{
	struct md_dburl *u;
	struct md_error err = {0};
	ck_assert_int_eq(md_dburl_parse("postgresql://u@h/d", "migrated", 10, &u, &err), 0);
	ck_assert_str_eq(md_dburl_get(u, "keepalives"), "1");
	ck_assert_str_eq(md_dburl_get(u, "keepalives_idle"), "30");
	md_dburl_free(u);
	ck_assert_int_eq(md_dburl_parse("postgresql://u@h/d?keepalives_idle=300", "migrated", 10, &u, &err), 0);
	ck_assert_str_eq(md_dburl_get(u, "keepalives_idle"), "300");
	ck_assert_ptr_null(md_dburl_get(u, "keepalives_interval"));
	md_dburl_free(u);
}
END_TEST

/* Prisma's engine has no GSSAPI transport encryption, so no Prisma URL relies on it; libpq's
 * default "prefer" initialises Kerberos on every connect (about 600 KiB of the daemon's RSS and
 * a round trip when a credentials cache exists). GSS authentication is not affected. */
START_TEST(gss_encryption_is_off_unless_the_url_or_environment_asks)
{
	struct md_dburl *u;
	struct md_error err = {0};
	unsetenv("PGGSSENCMODE");
	ck_assert_int_eq(md_dburl_parse("postgresql://u@h/d", "migrated", 10, &u, &err), 0);
	ck_assert_str_eq(md_dburl_get(u, "gssencmode"), "disable");
	md_dburl_free(u);
	ck_assert_int_eq(md_dburl_parse("postgresql://u@h/d?gssencmode=require", "migrated", 10, &u, &err), 0);
	ck_assert_str_eq(md_dburl_get(u, "gssencmode"), "require");
	md_dburl_free(u);
	setenv("PGGSSENCMODE", "prefer", 1);
	ck_assert_int_eq(md_dburl_parse("postgresql://u@h/d", "migrated", 10, &u, &err), 0);
	ck_assert_ptr_null(md_dburl_get(u, "gssencmode")); /* libpq applies the environment's */
	md_dburl_free(u);
	unsetenv("PGGSSENCMODE");
}
END_TEST

START_TEST(invalid_urls_are_explained_without_the_password)
{
	struct md_dburl *u = NULL;
	struct md_error err = {0};
	/* libpq quotes the whole URI in this message: the password must still not appear. */
	ck_assert_int_eq(md_dburl_parse("postgresql://u:hunter2pw@[::1/d", NULL, 0, &u, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "invalid database URL"));
	ck_assert(!strstr(err.message, "hunter2pw"));
	ck_assert_int_eq(md_dburl_parse("mysql://u:p@h/d", NULL, 0, &u, &err), MD_E_CONFIG);
	ck_assert_int_eq(md_dburl_parse("", NULL, 0, &u, &err), MD_E_CONFIG);
	ck_assert_int_eq(md_dburl_parse("postgresql://h/d?unknownparam=1", NULL, 0, &u, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "unknownparam"));
	/* A port libpq would only refuse when connecting: refused here, as the configuration error
	 * it is, so a daemon with such a target never starts. */
	const char *bad_ports[] = {"postgresql://u:hunter2pw@h:notaport/d", "postgresql://u:hunter2pw@h:99999/d",
				   "postgresql://u:hunter2pw@h:0/d", "postgresql://h:5432,h2:x/d"};
	for (size_t i = 0; i < sizeof bad_ports / sizeof *bad_ports; i++) {
		ck_assert_int_eq(md_dburl_parse(bad_ports[i], NULL, 0, &u, &err), MD_E_CONFIG);
		ck_assert(strstr(err.message, "port"));
		ck_assert(!strstr(err.message, "hunter2pw"));
	}
	ck_assert_int_eq(md_dburl_parse("postgresql://h:5432,h2:6432/d", NULL, 0, &u, &err), 0);
	md_dburl_free(u);
}
END_TEST

START_TEST(keyword_value_strings_are_accepted)
{
	struct md_dburl *u;
	struct md_error err = {0};
	ck_assert_int_eq(md_dburl_parse("host=/run/postgresql dbname=app user=x", "migrated", 0, &u, &err), 0);
	ck_assert_str_eq(md_dburl_get(u, "host"), "/run/postgresql");
	ck_assert_str_eq(md_dburl_get(u, "dbname"), "app");
	md_dburl_free(u);
}
END_TEST

Suite *suite_dburl(void)
{
	Suite *s = suite_create("dburl");
	TCase *tc = tcase_create("dburl");
	tcase_add_test(tc, prisma_parameters_are_removed_and_schema_kept);
	tcase_add_test(tc, url_settings_win_over_defaults);
	tcase_add_test(tc, transaction_poolers_are_recognised);
	tcase_add_test(tc, tcp_keepalives_default_on_unless_the_url_sets_them);
	tcase_add_test(tc, gss_encryption_is_off_unless_the_url_or_environment_asks);
	tcase_add_test(tc, invalid_urls_are_explained_without_the_password);
	tcase_add_test(tc, keyword_value_strings_are_accepted);
	suite_add_tcase(s, tc);
	return s;
}
