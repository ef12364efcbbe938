/* test_notify.c - the pure parts of the notifier: the Standard Webhooks signature against one
 * computed with Python's hmac, whsec_ secrets, the notify_* configuration lines and what they
 * refuse, event filters, and the bodies (standard and Slack). The delivery itself is tested
 * against real receivers in tests/integration/test_notify.c. */
#include "unit.h"
#include "../../daemon/service/notify_internal.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZMzh00z2NY="

static int load(const char *text, struct md_config **ret, struct notify_conf *conf, struct md_error *err)
{
	char path[] = "/tmp/md-notify-unit-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct md_config_flags flags = {.config_file = path};
	int r = md_config_load(&flags, ret, err);
	unlink(path);
	if (r < 0)
		return r;
	return notify_conf_load(*ret, conf, err);
}

START_TEST(signature_matches_pythons_hmac)
{
	uint8_t key[NOTIFY_KEY_MAX];
	size_t len = 0;
	char sig[128];
	ck_assert_int_eq(notify_decode_secret(KEY, key, &len), 0);
	ck_assert_uint_eq(len, 32);
	/* python3: base64.b64encode(hmac.new(key, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}',
	 * hashlib.sha256).digest()) */
	notify_sign(key, len, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "{\"test\": 2432232314}", sig, sizeof sig);
	ck_assert_str_eq(sig, "v1,qAZqrmSlebMZyWq5R73sQdByjv0dU5xdl3EpGKy5acs=");
	ck_assert_int_eq(notify_decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZMzh00z2NY=", key, &len), -1);
	ck_assert_int_eq(notify_decode_secret("whsec_", key, &len), -1);
	ck_assert_int_eq(notify_decode_secret("whsec_!!!not base64", key, &len), -1);
}
END_TEST

START_TEST(config_lines_make_endpoints_and_register_the_secret)
{
	struct md_config *cfg = NULL;
	struct notify_conf c = {0};
	struct md_error err = {0};
	char out[256];
	ck_assert_int_eq(load("notify_url = hook https://example.com/h\nnotify_url = team http://127.0.0.1:9/x\n"
			      "notify_command = run /bin/cat -u\nnotify_format = team slack\nnotify_secret = hook " KEY
			      "\n"
			      "notify_events = hook job.failed, job.succeeded\nnotify_timeout = 2s\n"
			      "notify_max_age = 1h\nnotify_retry_backoff = 200ms\n",
			      &cfg, &c, &err),
			 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_int_eq(c.timeout_ms, 2000);
	ck_assert_int_eq(c.max_age_s, 3600);
	ck_assert_int_eq(c.backoff_ms, 200);
	const struct notify_endpoint *h = notify_conf_find(&c, "hook"), *t = notify_conf_find(&c, "team"),
				     *r = notify_conf_find(&c, "run");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->key_len, 32);
	ck_assert_int_eq(t->format, NOTIFY_SLACK);
	ck_assert_uint_eq(t->key_len, 0);
	ck_assert_str_eq(r->argv[0], "/bin/cat");
	ck_assert_str_eq(r->argv[1], "-u");
	ck_assert(notify_endpoint_wants(h, "job.failed"));
	ck_assert(notify_endpoint_wants(h, "job.succeeded"));
	ck_assert(!notify_endpoint_wants(h, "job.queued"));
	ck_assert(notify_endpoint_wants(h, "test"));
	ck_assert(notify_endpoint_wants(t, "anything.at_all"));
	/* The secret and its base64 part are redacted wherever they would be printed. */
	md_redact("key " KEY " end", out, sizeof out);
	ck_assert_ptr_null(strstr(out, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8ZMzh00z2NY"));
	notify_conf_clear(&c);
	md_config_free(cfg);
	md_secret_forget_all();
}
END_TEST

START_TEST(bad_lines_are_refused_without_quoting_the_secret)
{
	static const char *const bad[] = {
		"notify_url = hook\n",
		"notify_url = hook ftp://example.com/\n",
		"notify_url = a/b http://x/\n",
		"notify_url = h http://x/\nnotify_url = h http://y/\n",
		"notify_format = nobody slack\n",
		"notify_url = h http://x/\nnotify_format = h teams\n",
		"notify_url = h http://x/\nnotify_secret = h whsec_%%%%notbase64\n",
		"notify_command = c 'unterminated\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct md_config *cfg = NULL;
		struct notify_conf c = {0};
		struct md_error err = {0};
		ck_assert_msg(load(bad[i], &cfg, &c, &err) == MD_E_CONFIG, "accepted: %s", bad[i]);
		ck_assert_ptr_null(strstr(err.message, "notbase64"));
		md_config_free(cfg);
	}
	md_secret_forget_all();
}
END_TEST

START_TEST(bodies_are_standard_webhooks_or_slack_messages)
{
	struct notify_conf c = {0};
	struct notify_endpoint e = {.name = "x"};
	snprintf(c.host, sizeof c.host, "db1");
	json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "id", "j1", "kind",
				 "deploy", "requested_by", "ops", "started_at", "2024-01-01T00:00:00.000000Z",
				 "finished_at", "2024-01-01T00:00:02.500000Z", "error", "message", "division by zero",
				 "sqlstate", "22012", "hint", "fix it", "database", "host", "pg", "name", "app");
	char *std = notify_body(&c, &e, "job.failed", "2024-01-01T00:00:02.500Z", data);
	json_t *b = json_loads(std, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")), "job.failed");
	ck_assert_str_eq(json_string_value(json_object_get(b, "timestamp")), "2024-01-01T00:00:02.500Z");
	ck_assert(json_equal(json_object_get(b, "data"), data));
	json_decref(b);
	free(std);
	e.format = NOTIFY_SLACK;
	char *sl = notify_body(&c, &e, "job.failed", "2024-01-01T00:00:02.500Z", data);
	b = json_loads(sl, 0, NULL);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(b, "text")), "failed"));
	json_t *blocks = json_object_get(b, "blocks");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(blocks, 0), "type")), "header");
	ck_assert_ptr_nonnull(strstr(sl, "2.5 s"));
	ck_assert_ptr_nonnull(strstr(sl, "22012"));
	ck_assert_ptr_nonnull(strstr(sl, "fix it"));
	ck_assert_ptr_nonnull(strstr(sl, "app on pg"));
	ck_assert_ptr_null(strstr(sl, "/ui/#/jobs/")); /* no public_url: no link */
	json_decref(b);
	free(sl);
	json_decref(data);
}
END_TEST

START_TEST(slack_links_the_job_on_the_console_when_public_url_is_set)
{
	struct md_config *cfg = NULL;
	struct notify_conf c = {0};
	struct md_error err = {0};
	ck_assert_int_eq(load("notify_url = team https://hooks.example.com/x\nnotify_format = team slack\n"
			      "public_url = https://ops.example.com/migrated/\n",
			      &cfg, &c, &err),
			 0);
	ck_assert_str_eq(c.public_url, "https://ops.example.com/migrated");
	json_t *data = json_pack("{s:s, s:s, s:s}", "id", "3f2a9c1e-0000-4000-8000-000000000001", "kind", "deploy",
				 "state", "failed");
	char *sl = notify_body(&c, &c.endpoints[0], "job.failed", "2024-01-01T00:00:02.500Z", data);
	json_t *b = json_loads(sl, 0, NULL);
	ck_assert_ptr_nonnull(b);
	json_decref(b);
	ck_assert_ptr_nonnull(strstr(sl, "<https://ops.example.com/migrated/ui/#/jobs/"
					 "3f2a9c1e-0000-4000-8000-000000000001|"));
	free(sl);
	/* an id that could break out of the link is not linked */
	json_object_set_new(data, "id", json_string("x|<y>"));
	sl = notify_body(&c, &c.endpoints[0], "job.failed", "2024-01-01T00:00:02.500Z", data);
	ck_assert_ptr_null(strstr(sl, "/ui/#/jobs/"));
	free(sl);
	json_decref(data);
	notify_conf_clear(&c);
	md_config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load("public_url = ftp://x\n", &cfg, &c, &err), MD_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "public_url"));
	md_config_free(cfg);
	cfg = NULL;
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(load("public_url = https://x/a|b\n", &cfg, &c, &err), MD_E_CONFIG);
	md_config_free(cfg);
}
END_TEST

Suite *suite_notify(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");
	tcase_add_test(tc, signature_matches_pythons_hmac);
	tcase_add_test(tc, config_lines_make_endpoints_and_register_the_secret);
	tcase_add_test(tc, bad_lines_are_refused_without_quoting_the_secret);
	tcase_add_test(tc, bodies_are_standard_webhooks_or_slack_messages);
	tcase_add_test(tc, slack_links_the_job_on_the_console_when_public_url_is_set);
	suite_add_tcase(s, tc);
	return s;
}
