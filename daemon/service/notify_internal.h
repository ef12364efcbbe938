/* notify_internal.h - what the files of the notifier share: the endpoints read from the
 * configuration (notify_endpoints.c), the bodies (notify_body.c), one attempt over HTTP or as a
 * program (notify_send.c), and the outbox with its thread (notify.c). Not a public header: the
 * rest of the daemon uses include/migrated/notify.h. */
#ifndef MIGRATED_NOTIFY_INTERNAL_H
#define MIGRATED_NOTIFY_INTERNAL_H

#include "migrated/notify.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_config;
struct md_error;

#define NOTIFY_NAME_MAX 64
#define NOTIFY_KEY_MAX  128 /* bytes of a decoded whsec_ key */

enum notify_format {
	NOTIFY_STANDARD, /* Standard Webhooks: {"type", "timestamp", "data"}, signed */
	NOTIFY_SLACK,    /* a Slack incoming-webhook message (text and blocks) */
};

struct notify_endpoint {
	char name[NOTIFY_NAME_MAX];
	char *url;     /* owned; NULL for a command */
	char **argv;   /* owned (md_argv_split); NULL for a URL */
	char *command; /* owned: the command line as configured, for messages */
	enum notify_format format;
	uint8_t key[NOTIFY_KEY_MAX]; /* the signing key (never printed anywhere) */
	size_t key_len;              /* 0: unsigned */
	char **events;               /* owned; NULL: every event */
	size_t n_events;
};

/* The notifier's configuration: the endpoints and the timings. */
struct notify_conf {
	struct notify_endpoint *endpoints; /* owned */
	size_t n;
	int timeout_ms;
	long max_age_s;
	int backoff_ms;
	char *ca;       /* owned, may be NULL */
	char host[256]; /* the daemon's host name */
	char db_host[256], db_name[128];
	char public_url[512]; /* public_url without a trailing slash; "" when unset */
};

/* notify_conf_load: the notify_* lines of cfg into *ret (cleared first). MD_E_CONFIG names the
 * bad line (never its secret): a URL or command without a name, an unknown format, a secret
 * that is not whsec_BASE64, a setting for a name with no URL or command. A secret may also
 * come from the systemd credential notify-NAME. public_url must be an http(s) URL with no space,
 * '<', '>' or '|' (it goes into Slack links). */
int notify_conf_load(const struct md_config *cfg, struct notify_conf *ret, struct md_error *err);
void notify_conf_clear(struct notify_conf *c);
const struct notify_endpoint *notify_conf_find(const struct notify_conf *c, const char *name);
/* notify_endpoint_wants: whether the endpoint takes events of type ("test" always). */
bool notify_endpoint_wants(const struct notify_endpoint *e, const char *type);

/* notify_body: the body an endpoint gets for an event (malloc'd compact JSON; NULL out of
 * memory): standard {"type", "timestamp", "data"} or a Slack message. */
char *notify_body(const struct notify_conf *c, const struct notify_endpoint *e, const char *type, const char *timestamp,
		  json_t *data);

/* One attempt and its outcome. */
struct notify_outcome {
	bool ok;         /* delivered (2xx, or exit status 0) */
	bool disable;    /* 410 Gone: the endpoint asked not to be called again */
	long status;     /* HTTP status, or the program's exit status (-1: none) */
	char error[400]; /* why it failed ("" when ok); a program's output tail when it has some */
};
/* notify_attempt: send body to e once (webhook-id id, signed now) within timeout_ms, or run
 * its program with body on stdin (tmpdir holds the stdin file); a set *cancel (may be NULL)
 * ends it early (the daemon stops). Never fails: *ret says how it went. */
void notify_attempt(const struct notify_endpoint *e, const char *id, const char *body, int timeout_ms, const char *ca,
		    const char *tmpdir, const volatile sig_atomic_t *cancel, struct notify_outcome *ret);
/* notify_sign: "v1,BASE64(HMAC-SHA256(key, id.timestamp.body))" into out (at least 64 bytes). */
void notify_sign(const uint8_t *key, size_t key_len, const char *id, const char *timestamp, const char *body, char *out,
		 size_t outsz);
/* notify_decode_secret: the key bytes of "whsec_BASE64" into key (up to NOTIFY_KEY_MAX). 0, or
 * -1 when it is not one. */
int notify_decode_secret(const char *secret, uint8_t *key, size_t *ret_len);
/* notify_iso: a Unix time in milliseconds as ISO 8601 UTC with milliseconds. */
void notify_iso(int64_t ms, char out[32]);
int64_t notify_now_ms(void);

#endif
