/* verify.c - post-deploy verification (see verify.h): commands through the child module, URLs
 * through libcurl loaded on first use. */
#include "migrated/clock.h"
#include "migrated/verify.h"
#include "migrated/child.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX 2048 /* of a URL's answer, kept in the job */

/* ---- options ---- */

static int copy_list(char ***dst, size_t *dn, char *const *src, size_t n)
{
	*dst = NULL;
	*dn = 0;
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof **dst);
	if (!*dst)
		return MD_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!((*dst)[i] = strdup(src[i])))
			return MD_E_NOMEM;
		(*dn)++;
	}
	return 0;
}

int md_verify_options_from(const struct md_config *cfg, struct md_verify_options *ret, struct md_error *err)
{
	memset(ret, 0, sizeof *ret);
	ret->timeout_ms = cfg->verify_timeout_ms;
	ret->rollback_on_failure = cfg->verify_rollback;
	if (copy_list(&ret->commands, &ret->n_commands, cfg->verify_commands.items, cfg->verify_commands.n) < 0 ||
	    copy_list(&ret->urls, &ret->n_urls, cfg->verify_urls.items, cfg->verify_urls.n) < 0) {
		md_verify_options_free(ret);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	return 0;
}

int md_verify_options_copy(const struct md_verify_options *src, struct md_verify_options *ret, struct md_error *err)
{
	*ret = *src;
	if (copy_list(&ret->commands, &ret->n_commands, src->commands, src->n_commands) < 0 ||
	    copy_list(&ret->urls, &ret->n_urls, src->urls, src->n_urls) < 0) {
		md_verify_options_free(ret);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	return 0;
}

void md_verify_options_free(struct md_verify_options *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_commands; i++)
		free(o->commands[i]);
	for (size_t i = 0; i < o->n_urls; i++)
		free(o->urls[i]);
	free(o->commands);
	free(o->urls);
	o->commands = o->urls = NULL;
	o->n_commands = o->n_urls = 0;
}

size_t md_verify_count(const struct md_verify_options *o)
{
	return o->n_commands + o->n_urls;
}

/* "https://user:pw@host/x" -> "https://host/x" for display. */
static void url_display(const char *url, char *out, size_t sz)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	size_t auth_end = strcspn(host, "/?#");
	const char *at = memchr(host, '@', auth_end);
	if (scheme && at)
		snprintf(out, sz, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(out, sz, "%s", url);
	md_redact_inplace(out);
}

int md_verify_options_check(const struct md_verify_options *o, struct md_error *err)
{
	for (size_t i = 0; i < o->n_commands; i++) {
		char **argv = NULL;
		struct md_error e2 = {0};
		if (md_argv_split(o->commands[i], &argv, &e2) < 0)
			return md_error_set(err, MD_E_CONFIG, "verify_command %zu: %s", i + 1, e2.message);
		md_argv_free(argv);
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		const char *u = o->urls[i];
		bool http = strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
		const char *host = http ? strstr(u, "://") + 3 : NULL;
		if (!http || !*host || *host == '/') {
			char shown[300];
			url_display(u, shown, sizeof shown);
			return md_error_set(err, MD_E_CONFIG,
					    "verify_url %zu (\"%s\") is not an http:// or https:// URL", i + 1, shown);
		}
	}
	return 0;
}

void md_verify_describe(const struct md_verify_options *o, size_t i, char *out, size_t sz)
{
	char shown[600];
	if (i < o->n_commands) {
		snprintf(shown, sizeof shown, "%s", o->commands[i]);
		md_redact_inplace(shown);
		snprintf(out, sz, "command: %s", shown);
	} else if (i - o->n_commands < o->n_urls) {
		url_display(o->urls[i - o->n_commands], shown, sizeof shown);
		snprintf(out, sz, "url: %s", shown);
	} else {
		snprintf(out, sz, "?");
	}
}

/* ---- commands ---- */

static json_t *text_or_null(const char *s, size_t dropped)
{
	if (!s || !*s)
		return json_string("");
	char *copy = strdup(s);
	if (!copy)
		return json_null();
	md_redact_inplace(copy);
	json_t *j = dropped ? json_sprintf("[%zu bytes cut] %s", dropped, copy) : json_string(copy);
	free(copy);
	return j ? j : json_string("(output not UTF-8)");
}

static int run_command(const struct md_verify_options *o, size_t i, char *const *env,
		       const volatile sig_atomic_t *cancel, json_t *check, struct md_error *err)
{
	char **argv = NULL;
	struct md_child c = {0};
	bool timed_out = false, cancelled = false;
	int r = md_argv_split(o->commands[i], &argv, err);
	if (r < 0)
		return r;
	c.argv = argv;
	c.env = env;
	struct md_child_limits lim = {.timeout_ms = o->timeout_ms, .capture_bytes = 16 * 1024, .cancel = cancel};
	r = md_child_run(&c, 1, &lim, &timed_out, &cancelled, err);
	if (r == 0) {
		json_object_set_new(check, "program", json_string(c.path));
		json_object_set_new(check, "exit_code", c.exit_code >= 0 ? json_integer(c.exit_code) : json_null());
		if (c.exit_code < 0)
			json_object_set_new(check, "signal", json_integer(c.term_signal));
		json_object_set_new(check, "stdout", text_or_null(c.out, c.out_dropped));
		json_object_set_new(check, "stderr", text_or_null(c.err, c.err_dropped));
		if (cancelled)
			r = md_error_set(err, MD_E_CANCELLED, "cancelled while `%s` ran", argv[0]);
		else if (timed_out)
			r = md_error_set(err, MD_E_VERIFY, "`%s` did not finish within verify_timeout (%d ms)", argv[0],
					 o->timeout_ms);
		else if (c.exit_code != 0)
			r = c.exit_code > 0
				    ? md_error_set(err, MD_E_VERIFY, "`%s` exited with %d", argv[0], c.exit_code)
				    : md_error_set(err, MD_E_VERIFY, "`%s` was killed by signal %d", argv[0],
						   c.term_signal);
	}
	md_child_clear(&c);
	md_argv_free(argv);
	return r;
}

/* ---- URLs, through libcurl loaded on demand ---- */

static struct {
	pthread_once_t once;
	bool ok;
	char error[256];
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
} curl = {.once = PTHREAD_ONCE_INIT};

static void curl_load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(curl.error, sizeof curl.error, "libcurl cannot be loaded (%s): apt-get install libcurl4",
			 dlerror());
		return;
	}
	*(void **)&curl.global_init = dlsym(h, "curl_global_init");
	*(void **)&curl.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&curl.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&curl.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&curl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&curl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&curl.easy_strerror = dlsym(h, "curl_easy_strerror");
	if (!curl.global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo ||
	    !curl.easy_cleanup || !curl.easy_strerror) {
		snprintf(curl.error, sizeof curl.error, "libcurl.so.4 lacks the easy interface");
		return;
	}
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(curl.error, sizeof curl.error, "libcurl did not initialise");
		return;
	}
	curl.ok = true; /* kept loaded for the life of the process */
}

struct body {
	char buf[BODY_MAX + 1];
	size_t len;
	const volatile sig_atomic_t *cancel;
};

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t len = size * n, room = BODY_MAX - b->len;
	memcpy(b->buf + b->len, data, len < room ? len : room);
	b->len += len < room ? len : room;
	b->buf[b->len] = '\0';
	return len;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	const struct body *bd = ctx;
	(void)a, (void)b, (void)c, (void)d;
	return bd->cancel && *bd->cancel ? 1 : 0;
}

static int check_url(const struct md_verify_options *o, size_t i, const volatile sig_atomic_t *cancel, json_t *check,
		     struct md_error *err)
{
	char shown[600], errbuf[CURL_ERROR_SIZE] = "";
	struct body body = {.cancel = cancel};
	long status = 0;

	pthread_once(&curl.once, curl_load);
	if (!curl.ok)
		return md_error_set(err, MD_E_CONFIG, "%s", curl.error);
	url_display(o->urls[i], shown, sizeof shown);
	CURL *h = curl.easy_init();
	if (!h)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	curl.easy_setopt(h, CURLOPT_URL, o->urls[i]);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "migrated/" PACKAGE_VERSION " (post-deploy verification)");
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl.easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl.easy_setopt(h, CURLOPT_XFERINFODATA, &body);
	curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl.easy_perform(h);
	curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl.easy_cleanup(h);
	json_object_set_new(check, "url", json_string(shown));
	json_object_set_new(check, "status", status ? json_integer(status) : json_null());
	json_object_set_new(check, "body", text_or_null(body.buf, 0));
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return md_error_set(err, MD_E_CANCELLED, "cancelled while %s was checked", shown);
	if (rc != CURLE_OK) {
		md_redact_inplace(errbuf);
		return md_error_set(err, MD_E_VERIFY, "%s did not answer: %s", shown,
				    errbuf[0] ? errbuf : curl.easy_strerror(rc));
	}
	if (status < 200 || status > 299)
		return md_error_set(err, MD_E_VERIFY, "%s answered %ld, not 2xx", shown, status);
	return 0;
}

int md_verify_run_one(const struct md_verify_options *o, size_t i, char *const *env,
		      const volatile sig_atomic_t *cancel, json_t **ret_check, struct md_error *err)
{
	char name[700];
	double t0 = md_clock_mono_ms();
	bool is_cmd = i < o->n_commands;
	int r;

	md_verify_describe(o, i, name, sizeof name);
	json_t *check = json_pack("{s:s, s:s}", "kind", is_cmd ? "command" : "url", "name", name);
	if (!check)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	if (is_cmd)
		r = run_command(o, i, env, cancel, check, err);
	else
		r = check_url(o, i - o->n_commands, cancel, check, err);
	json_object_set_new(check, "ok", json_boolean(r == 0));
	json_object_set_new(check, "duration_ms", json_real(md_clock_mono_ms() - t0));
	if (r < 0)
		json_object_set_new(check, "error", json_string(err->message));
	*ret_check = check;
	return r;
}
