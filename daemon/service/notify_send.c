/* notify_send.c - one attempt at one endpoint: an HTTP POST signed the Standard Webhooks way
 * (libcurl, loaded on first use like the verification's: TLS verified, no redirects, one
 * time limit for the whole exchange), or a program run without a shell with the body on
 * stdin. Never logs (the caller records the outcome). Not here: retries, ordering, the outbox. */
#include "notify_internal.h"
#include "migrated/child.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/utf8.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void notify_sign(const uint8_t *key, size_t key_len, const char *id, const char *timestamp, const char *body, char *out,
		 size_t outsz)
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE) + 1];

	hmac_sha256_set_key(&ctx, key_len, key);
	hmac_sha256_update(&ctx, strlen(id), (const uint8_t *)id);
	hmac_sha256_update(&ctx, 1, (const uint8_t *)".");
	hmac_sha256_update(&ctx, strlen(timestamp), (const uint8_t *)timestamp);
	hmac_sha256_update(&ctx, 1, (const uint8_t *)".");
	hmac_sha256_update(&ctx, strlen(body), (const uint8_t *)body);
	hmac_sha256_digest(&ctx, sizeof digest, digest);
	base64_encode_raw(b64, sizeof digest, digest);
	b64[sizeof b64 - 1] = '\0';
	snprintf(out, outsz, "v1,%s", b64);
	memset(&ctx, 0, sizeof ctx);
}

/* ---- libcurl, loaded on first use ---- */

static struct {
	pthread_once_t once;
	bool ok;
	char error[256];
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} curl = {.once = PTHREAD_ONCE_INIT};

static void curl_load(void)
{
	CURLcode (*global_init)(long);
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(curl.error, sizeof curl.error, "libcurl cannot be loaded (%s): apt-get install libcurl4",
			 dlerror());
		return;
	}
	*(void **)&global_init = dlsym(h, "curl_global_init");
	*(void **)&curl.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&curl.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&curl.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&curl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&curl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&curl.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&curl.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&curl.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (!global_init || !curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo ||
	    !curl.easy_cleanup || !curl.easy_strerror || !curl.slist_append || !curl.slist_free_all) {
		snprintf(curl.error, sizeof curl.error, "libcurl.so.4 lacks the easy interface");
		return;
	}
	if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(curl.error, sizeof curl.error, "libcurl did not initialise");
		return;
	}
	curl.ok = true; /* kept loaded for the life of the process */
}

struct answer {
	char buf[200];
	size_t len;
	const volatile sig_atomic_t *cancel;
};

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	const struct answer *ans = ctx;
	(void)a, (void)b, (void)c, (void)d;
	return ans->cancel && *ans->cancel ? 1 : 0;
}

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t len = size * n, room = sizeof a->buf - 1 - a->len;
	memcpy(a->buf + a->len, data, len < room ? len : room);
	a->len += len < room ? len : room;
	a->buf[a->len] = '\0';
	return len;
}

static void post(const struct notify_endpoint *e, const char *id, const char *body, int timeout_ms, const char *ca,
		 const volatile sig_atomic_t *cancel, struct notify_outcome *ret)
{
	char errbuf[CURL_ERROR_SIZE] = "", line[300], ts[32], sig[128];
	struct answer ans = {.len = 0, .cancel = cancel};
	struct curl_slist *hdrs = NULL;
	long status = 0;

	pthread_once(&curl.once, curl_load);
	if (!curl.ok) {
		snprintf(ret->error, sizeof ret->error, "%s", curl.error);
		return;
	}
	CURL *h = curl.easy_init();
	if (!h) {
		snprintf(ret->error, sizeof ret->error, "out of memory");
		return;
	}
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	hdrs = curl.slist_append(hdrs, "Content-Type: application/json");
	snprintf(line, sizeof line, "webhook-id: %s", id);
	hdrs = curl.slist_append(hdrs, line);
	snprintf(line, sizeof line, "webhook-timestamp: %s", ts);
	hdrs = curl.slist_append(hdrs, line);
	if (e->key_len) {
		notify_sign(e->key, e->key_len, id, ts, body, sig, sizeof sig);
		snprintf(line, sizeof line, "webhook-signature: %s", sig);
		hdrs = curl.slist_append(hdrs, line);
	}
	hdrs = curl.slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
	curl.easy_setopt(h, CURLOPT_URL, e->url);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca)
		curl.easy_setopt(h, CURLOPT_CAINFO, ca);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "migrated/" PACKAGE_VERSION " (notifications)");
	curl.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl.easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl.easy_setopt(h, CURLOPT_WRITEDATA, &ans);
	curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl.easy_setopt(h, CURLOPT_XFERINFODATA, &ans);
	CURLcode rc = curl.easy_perform(h);
	curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl.easy_cleanup(h);
	curl.slist_free_all(hdrs);
	ret->status = status ? status : -1;
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(ret->error, sizeof ret->error, "interrupted: the daemon is stopping");
	} else if (rc != CURLE_OK) {
		snprintf(ret->error, sizeof ret->error, "%s", errbuf[0] ? errbuf : curl.easy_strerror(rc));
	} else if (status >= 200 && status <= 299) {
		ret->ok = true;
	} else {
		ret->disable = status == 410;
		snprintf(ret->error, sizeof ret->error, "answered %ld%s%.*s", status, ans.len ? ": " : "", (int)ans.len,
			 ans.buf);
	}
}

static void run_program(const struct notify_endpoint *e, const char *id, const char *body, int timeout_ms,
			const char *tmpdir, const volatile sig_atomic_t *cancel, struct notify_outcome *ret)
{
	char path[4096], envid[128];
	struct md_error err = {0};
	bool timed_out = false, cancelled = false;

	snprintf(path, sizeof path, "%s/notify-stdin-%s.json", tmpdir, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(body), done = 0;
	while (fd >= 0 && done < len) {
		ssize_t w = write(fd, body + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (fd < 0 || done < len) {
		snprintf(ret->error, sizeof ret->error, "cannot write %.200s: %.100s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(path);
		return;
	}
	close(fd);
	snprintf(envid, sizeof envid, "MIGRATED_WEBHOOK_ID=%s", id);
	char *env[] = {envid, NULL};
	struct md_child c = {.argv = e->argv, .env = env, .stdin_path = path};
	struct md_child_limits lim = {.timeout_ms = timeout_ms, .capture_bytes = 4096, .cancel = cancel};
	int r = md_child_run(&c, 1, &lim, &timed_out, &cancelled, &err);
	unlink(path);
	if (r < 0) {
		snprintf(ret->error, sizeof ret->error, "%.390s", err.message);
		return;
	}
	ret->status = c.exit_code;
	ret->ok = c.exit_code == 0 && !timed_out && !cancelled;
	const char *tail = c.err_len ? c.err : c.out_len ? c.out : "";
	if (cancelled)
		snprintf(ret->error, sizeof ret->error, "interrupted: the daemon is stopping");
	else if (timed_out)
		snprintf(ret->error, sizeof ret->error, "timed out after %d ms%s%.300s", timeout_ms, *tail ? ": " : "",
			 tail);
	else if (c.exit_code == -1)
		snprintf(ret->error, sizeof ret->error, "killed by signal %d", c.term_signal);
	else if (*tail)
		snprintf(ret->error, sizeof ret->error, "%s%.360s", ret->ok ? "output: " : "", tail);
	else if (!ret->ok)
		snprintf(ret->error, sizeof ret->error, "exited with status %d", c.exit_code);
	md_child_clear(&c);
}

void notify_attempt(const struct notify_endpoint *e, const char *id, const char *body, int timeout_ms, const char *ca,
		    const char *tmpdir, const volatile sig_atomic_t *cancel, struct notify_outcome *ret)
{
	memset(ret, 0, sizeof *ret);
	ret->status = -1;
	if (e->url)
		post(e, id, body, timeout_ms, ca, cancel, ret);
	else
		run_program(e, id, body, timeout_ms, tmpdir, cancel, ret);
	/* What leaves here goes to the journal and the API: no secret, valid text. */
	md_redact_inplace(ret->error);
	for (char *p = ret->error; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	md_utf8_scrub(ret->error);
}
