/* test_connect.c - every way connecting fails gets its class, Prisma's code and a next step,
 * and the password is never printed (text or JSON, stdout or stderr). */
#include "harness.h"
#include "suites.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "Sup3rS3cretPW"

static void expect(const char *url, const char *code, const char *phrase, const char *hint_phrase)
{
	char env[600];
	struct h_result r;
	snprintf(env, sizeof env, "DATABASE_URL=%s", url);
	h_migrated(&r, env, "deploy", "--migrations", h_migrations_dir(), NULL);
	ck_assert_msg(r.rc == 1, "exit %d for %s\n%s%s", r.rc, url, r.out, r.err);
	h_assert_contains(r.err, code);
	h_assert_contains(r.err, phrase);
	if (hint_phrase)
		h_assert_contains(r.err, hint_phrase);
	h_assert_not_contains(r.err, SECRET);
	h_assert_not_contains(r.out, SECRET);
	h_result_free(&r);
	h_migrated(&r, env, "status", "--json", "--migrations", h_migrations_dir(), NULL);
	ck_assert_int_eq(r.rc, 1);
	h_assert_contains(r.out, "\"code\": \"database_unreachable\"");
	h_assert_not_contains(r.out, SECRET);
	h_assert_not_contains(r.err, SECRET);
	h_result_free(&r);
}

ITEST(refused_port_is_explained_without_the_password)
{
	expect("postgresql://u:" SECRET "@127.0.0.1:1/x", "P1001", "connection refused",
	       "pg_isready -h 127.0.0.1 -p 1");
}

ITEST(wrong_password_is_an_authentication_error)
{
	char url[300];
	h_admin_exec("DO $$ BEGIN CREATE ROLE md_pw_user LOGIN PASSWORD 'RightPassw0rd'; "
		     "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
	snprintf(url, sizeof url, "postgresql://md_pw_user:%s@127.0.0.1:%d/postgres", SECRET, h_port());
	expect(url, "P1000", "refused the credentials: password authentication failed for user \"md_pw_user\"",
	       "the password is never shown");
	/* The same user with the right password gets in (the server really checks passwords). */
	struct h_result r;
	char env[400];
	snprintf(env, sizeof env, "DATABASE_URL=postgresql://md_pw_user:RightPassw0rd@127.0.0.1:%d/postgres", h_port());
	h_migrated(&r, env, "status", "--migrations", h_migrations_dir(), NULL);
	h_assert_not_contains(r.err, "P1000");
	h_assert_not_contains(r.out, "RightPassw0rd");
	h_result_free(&r);
}

ITEST(unknown_host_is_a_dns_error)
{
	expect("postgresql://u:" SECRET "@no-such-host.invalid:5432/x", "P1001", "does not resolve", "getent hosts");
}

ITEST(missing_database_is_p1003)
{
	char url[300];
	snprintf(url, sizeof url, "postgresql://postgres:%s@127.0.0.1:%d/no_such_database", SECRET, h_port());
	expect(url, "P1003", "the database \"no_such_database\" does not exist", "createdb");
	/* A one-letter password is hidden where it stands, without mangling words around it. */
	struct h_result r;
	char env[300];
	snprintf(env, sizeof env, "DATABASE_URL=postgresql://postgres:x@127.0.0.1:%d/no_such_database", h_port());
	h_migrated(&r, env, "status", "--migrations", h_migrations_dir(), NULL);
	h_assert_contains(r.err, "does not exist");
	h_result_free(&r);
}

ITEST(no_free_connection_slots_is_explained)
{
	char url[300];
	h_admin_exec("DO $$ BEGIN CREATE ROLE md_limited LOGIN CONNECTION LIMIT 0; "
		     "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
	snprintf(url, sizeof url, "postgresql://md_limited:%s@127.0.0.1:%d/postgres", SECRET, h_port());
	expect(url, "P2037", "no free connection slots", "pg_stat_activity");
}

ITEST(ssl_required_by_the_url_but_not_offered)
{
	char url[300];
	snprintf(url, sizeof url, "postgresql://postgres:%s@127.0.0.1:%d/postgres?sslmode=require", SECRET, h_port());
	expect(url, "P1011", "TLS problem", "sslmode");
}

ITEST(server_that_never_answers_times_out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char url[300];
	ck_assert(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 8) == 0);
	ck_assert(getsockname(s, (struct sockaddr *)&a, &l) == 0);
	snprintf(url, sizeof url, "postgresql://u:%s@127.0.0.1:%d/x?connect_timeout=1", SECRET, ntohs(a.sin_port));
	expect(url, "P1001", "timed out", "connect_timeout");
	close(s);
}

ITEST(malformed_url_is_a_configuration_error_without_the_password)
{
	struct h_result r;
	h_migrated(&r, "DATABASE_URL=postgresql://u:" SECRET "@[::1/x", "status", "--migrations", h_migrations_dir(),
		   NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "invalid database URL");
	h_assert_not_contains(r.err, SECRET);
	h_result_free(&r);
	h_migrated(&r, "DATABASE_URL=mysql://u:" SECRET "@h/x", "status", "--migrations", h_migrations_dir(), NULL);
	ck_assert_int_eq(r.rc, 2);
	h_assert_contains(r.err, "must start with postgresql://");
	h_assert_not_contains(r.err, SECRET);
	h_result_free(&r);
}

Suite *suite_connect(void)
{
	Suite *s = suite_create("connect");
	TCase *tc = tcase_create("connect");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, refused_port_is_explained_without_the_password);
	tcase_add_test(tc, wrong_password_is_an_authentication_error);
	tcase_add_test(tc, unknown_host_is_a_dns_error);
	tcase_add_test(tc, missing_database_is_p1003);
	tcase_add_test(tc, no_free_connection_slots_is_explained);
	tcase_add_test(tc, ssl_required_by_the_url_but_not_offered);
	tcase_add_test(tc, server_that_never_answers_times_out);
	tcase_add_test(tc, malformed_url_is_a_configuration_error_without_the_password);
	suite_add_tcase(s, tc);
	return s;
}
