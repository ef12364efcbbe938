/* notify_endpoints.c - the notify_* lines of the configuration turned into endpoints: a name
 * with a URL or a command, its format, its signing key (decoded from whsec_BASE64, from the
 * file or the systemd credential notify-NAME) and the events it takes. Not here: sending. */
#include "notify_internal.h"
#include "migrated/child.h"
#include "migrated/config.h"
#include "migrated/dburl.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <ctype.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Splits "NAME REST" into name (checked) and *ret_rest. */
static int split_named(const char *key, const char *line, char name[NOTIFY_NAME_MAX], const char **ret_rest,
		       struct md_error *err)
{
	size_t n = strcspn(line, " \t");
	const char *rest = line + n;
	rest += strspn(rest, " \t");
	if (n == 0 || n >= NOTIFY_NAME_MAX || !*rest)
		return md_error_set(err, MD_E_CONFIG,
				    "%s needs `NAME VALUE` (a name of 1 to %d characters, then the value)", key,
				    NOTIFY_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)line[i]) && line[i] != '-' && line[i] != '_' && line[i] != '.')
			return md_error_set(err, MD_E_CONFIG,
					    "%s: the name \"%.*s\" may hold letters, digits, - _ and . only", key,
					    (int)n, line);
	memcpy(name, line, n);
	name[n] = '\0';
	*ret_rest = rest;
	return 0;
}

static struct notify_endpoint *find_mut(struct notify_conf *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->endpoints[i].name, name) == 0)
			return &c->endpoints[i];
	return NULL;
}

const struct notify_endpoint *notify_conf_find(const struct notify_conf *c, const char *name)
{
	return find_mut((struct notify_conf *)c, name);
}

static int add_endpoint(struct notify_conf *c, const char *key, const char *line, bool is_url, struct md_error *err)
{
	char name[NOTIFY_NAME_MAX];
	const char *rest;
	int r = split_named(key, line, name, &rest, err);
	if (r < 0)
		return r;
	if (find_mut(c, name))
		return md_error_set(err, MD_E_CONFIG,
				    "%s: the name \"%s\" is used by two notify_url or notify_command lines", key, name);
	if (c->n >= MD_NOTIFY_MAX_ENDPOINTS)
		return md_error_set(err, MD_E_CONFIG, "more than %d notify endpoints", MD_NOTIFY_MAX_ENDPOINTS);
	struct notify_endpoint *e = &c->endpoints[c->n];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	if (is_url) {
		if (strncmp(rest, "http://", 7) != 0 && strncmp(rest, "https://", 8) != 0)
			return md_error_set(err, MD_E_CONFIG, "notify_url %s: not an http:// or https:// URL", name);
		if (!(e->url = strdup(rest)))
			return md_error_set(err, MD_E_NOMEM, "out of memory");
	} else {
		r = md_argv_split(rest, &e->argv, err);
		if (r < 0)
			return md_error_prefix(err, r, "notify_command %s: ", name);
		if (!(e->command = strdup(rest))) {
			md_argv_free(e->argv);
			e->argv = NULL;
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		}
	}
	c->n++;
	return 0;
}

int notify_decode_secret(const char *secret, uint8_t *key, size_t *ret_len)
{
	struct base64_decode_ctx ctx;
	size_t len = NOTIFY_KEY_MAX, in;
	uint8_t buf[BASE64_DECODE_LENGTH(400)];

	if (strncmp(secret, "whsec_", 6) != 0)
		return -1;
	secret += 6;
	in = strlen(secret);
	if (in == 0 || in > 400)
		return -1;
	len = sizeof buf;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &len, buf, in, secret) || !base64_decode_final(&ctx) || len == 0 ||
	    len > NOTIFY_KEY_MAX)
		return -1;
	memcpy(key, buf, len);
	*ret_len = len;
	memset(buf, 0, sizeof buf);
	return 0;
}

/* notify_format / notify_secret / notify_events lines, once every endpoint is known. */
static int apply_setting(struct notify_conf *c, const char *key, const char *line, struct md_error *err)
{
	char name[NOTIFY_NAME_MAX];
	const char *rest;
	int r = split_named(key, line, name, &rest, err);
	if (r < 0)
		return r;
	struct notify_endpoint *e = find_mut(c, name);
	if (!e)
		return md_error_set(err, MD_E_CONFIG, "%s %s: no notify_url or notify_command is named %s", key, name,
				    name);
	if (strcmp(key, "notify_format") == 0) {
		if (strcmp(rest, "standard") == 0)
			e->format = NOTIFY_STANDARD;
		else if (strcmp(rest, "slack") == 0)
			e->format = NOTIFY_SLACK;
		else
			return md_error_set(err, MD_E_CONFIG, "notify_format %s: \"%s\" is not standard or slack", name,
					    rest);
	} else if (strcmp(key, "notify_secret") == 0) {
		if (notify_decode_secret(rest, e->key, &e->key_len) < 0)
			return md_error_set(err, MD_E_CONFIG, "notify_secret %s: not whsec_ followed by base64", name);
	} else {
		for (const char *p = rest; *p;) {
			size_t len = strcspn(p, ", \t");
			if (len) {
				char **grown = realloc(e->events, (e->n_events + 1) * sizeof *grown);
				if (!grown || !(grown[e->n_events] = strndup(p, len))) {
					if (grown)
						e->events = grown;
					return md_error_set(err, MD_E_NOMEM, "out of memory");
				}
				e->events = grown;
				e->n_events++;
			}
			p += len;
			p += strspn(p, ", \t");
		}
	}
	return 0;
}

/* The systemd credential notify-NAME, for an endpoint the file gives no secret. */
static int credential_secret(struct notify_endpoint *e, struct md_error *err)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], buf[512];
	if (e->key_len || !dir || !*dir)
		return 0;
	snprintf(path, sizeof path, "%s/notify-%s", dir, e->name);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	md_secret_register(buf);
	if (strncmp(buf, "whsec_", 6) == 0)
		md_secret_register(buf + 6);
	int r = notify_decode_secret(buf, e->key, &e->key_len);
	memset(buf, 0, sizeof buf);
	if (r < 0)
		return md_error_set(err, MD_E_CONFIG, "credential notify-%s: not whsec_ followed by base64", e->name);
	return 0;
}

static void database_of(const struct md_config *cfg, struct notify_conf *c)
{
	struct md_dburl *u = NULL;
	struct md_error err = {0};
	const char *url = md_config_migration_url(cfg);
	if (url && md_dburl_parse(url, "migrated", 0, &u, &err) == 0) {
		snprintf(c->db_host, sizeof c->db_host, "%s", u->host);
		snprintf(c->db_name, sizeof c->db_name, "%s", u->dbname);
	}
	md_dburl_free(u);
}

/* public_url: where the console is reached, for the links of Slack messages. */
static int public_url(struct notify_conf *c, const char *url, struct md_error *err)
{
	size_t n = strlen(url);
	if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) || n >= sizeof c->public_url ||
	    strpbrk(url, " \t\r\n<>|\""))
		return md_error_set(err, MD_E_CONFIG,
				    "public_url must be an http:// or https:// URL under %zu characters, without "
				    "spaces, quotes or <>| (it is put into links)",
				    sizeof c->public_url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	snprintf(c->public_url, sizeof c->public_url, "%.*s", (int)n, url);
	return 0;
}

int notify_conf_load(const struct md_config *cfg, struct notify_conf *ret, struct md_error *err)
{
	struct notify_conf c = {0};
	int r = 0;

	c.endpoints = calloc(MD_NOTIFY_MAX_ENDPOINTS, sizeof *c.endpoints);
	if (!c.endpoints)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < cfg->notify_urls.n; i++)
		r = add_endpoint(&c, "notify_url", cfg->notify_urls.items[i], true, err);
	for (size_t i = 0; r == 0 && i < cfg->notify_commands.n; i++)
		r = add_endpoint(&c, "notify_command", cfg->notify_commands.items[i], false, err);
	for (size_t i = 0; r == 0 && i < cfg->notify_formats.n; i++)
		r = apply_setting(&c, "notify_format", cfg->notify_formats.items[i], err);
	for (size_t i = 0; r == 0 && i < cfg->notify_secrets.n; i++)
		r = apply_setting(&c, "notify_secret", cfg->notify_secrets.items[i], err);
	for (size_t i = 0; r == 0 && i < cfg->notify_events.n; i++)
		r = apply_setting(&c, "notify_events", cfg->notify_events.items[i], err);
	for (size_t i = 0; r == 0 && i < c.n; i++)
		r = credential_secret(&c.endpoints[i], err);
	if (r == 0 && cfg->notify_ca && *cfg->notify_ca && !(c.ca = strdup(cfg->notify_ca)))
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r == 0 && cfg->public_url && *cfg->public_url)
		r = public_url(&c, cfg->public_url, err);
	if (r < 0) {
		notify_conf_clear(&c);
		return r;
	}
	c.timeout_ms = cfg->notify_timeout_ms > 0 ? cfg->notify_timeout_ms : 10000;
	c.max_age_s = cfg->notify_max_age_s > 0 ? cfg->notify_max_age_s : 24 * 3600;
	c.backoff_ms = cfg->notify_retry_backoff_ms > 0 ? cfg->notify_retry_backoff_ms : 1000;
	if (gethostname(c.host, sizeof c.host) < 0)
		snprintf(c.host, sizeof c.host, "unknown");
	c.host[sizeof c.host - 1] = '\0';
	database_of(cfg, &c);
	notify_conf_clear(ret);
	*ret = c;
	return 0;
}

void notify_conf_clear(struct notify_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->endpoints && i < c->n; i++) {
		struct notify_endpoint *e = &c->endpoints[i];
		free(e->url);
		free(e->command);
		md_argv_free(e->argv);
		for (size_t k = 0; k < e->n_events; k++)
			free(e->events[k]);
		free(e->events);
		memset(e->key, 0, sizeof e->key);
	}
	free(c->endpoints);
	free(c->ca);
	memset(c, 0, sizeof *c);
}

bool notify_endpoint_wants(const struct notify_endpoint *e, const char *type)
{
	if (!e->events || strcmp(type, "test") == 0)
		return true;
	for (size_t i = 0; i < e->n_events; i++)
		if (strcmp(e->events[i], type) == 0 || strcmp(e->events[i], "*") == 0)
			return true;
	return false;
}
