/* config.c - configuration sources folded into struct md_config (see config.h). One table
 * lists every key: its name in the file, its MIGRATED_* environment variable and its parser. */
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/macro.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum key_type {
	KEY_STRING,
	KEY_SECRET,
	KEY_DURATION,
	KEY_COUNT,
	KEY_SECONDS,
	KEY_LOG_LEVEL,
	KEY_BOOL,
	KEY_BYTES,
	KEY_AGE,          /* long seconds, "30d" */
	KEY_LIST,         /* struct md_strlist: repeatable */
	KEY_CHOICE,       /* verify_on_failure: fail | rollback */
	KEY_GATE,         /* lint_gate, preflight_gate: off | warn | block */
	KEY_ROWS,         /* long long, "10M", "500k", "2000000" */
	KEY_NAMED_SECRET, /* struct md_strlist of "NAME SECRET" lines: the secret part is registered */
};

struct key {
	const char *name; /* in the file */
	const char *env;  /* environment variable, or NULL */
	enum key_type type;
	size_t offset;
	int min, max; /* KEY_COUNT: the range when max > 0 (else 0..1000000) */
};

#define K(n, e, t, f)                                        \
	{                                                    \
		n, e, t, offsetof(struct md_config, f), 0, 0 \
	}
#define KR(n, e, f, lo, hi)                                            \
	{                                                              \
		n, e, KEY_COUNT, offsetof(struct md_config, f), lo, hi \
	}
static const struct key keys[] = {
	K("database_url", "DATABASE_URL", KEY_SECRET, database_url),
	K("direct_url", "DIRECT_URL", KEY_SECRET, direct_url),
	K("shadow_database_url", "SHADOW_DATABASE_URL", KEY_SECRET, shadow_database_url),
	K("migrations", "MIGRATED_MIGRATIONS", KEY_STRING, migrations_dir),
	K("state_dir", "MIGRATED_STATE_DIR", KEY_STRING, state_dir),
	K("listen", "MIGRATED_LISTEN", KEY_STRING, listen),
	K("token_file", "MIGRATED_TOKEN_FILE", KEY_STRING, token_file),
	K("targets_file", "MIGRATED_TARGETS_FILE", KEY_STRING, targets_file),
	KR("fleet_max_connections", "MIGRATED_FLEET_MAX_CONNECTIONS", fleet_max_connections, 1, 10000),
	K("lock_timeout", "MIGRATED_LOCK_TIMEOUT", KEY_DURATION, lock_timeout_ms),
	K("statement_timeout", "MIGRATED_STATEMENT_TIMEOUT", KEY_DURATION, statement_timeout_ms),
	K("lock_retries", "MIGRATED_LOCK_RETRIES", KEY_COUNT, lock_retries),
	K("lock_retry_backoff", "MIGRATED_LOCK_RETRY_BACKOFF", KEY_DURATION, lock_retry_backoff_ms),
	K("advisory_lock_timeout", "MIGRATED_ADVISORY_LOCK_TIMEOUT", KEY_DURATION, advisory_lock_wait_ms),
	K("pipeline_depth", "MIGRATED_PIPELINE_DEPTH", KEY_COUNT, pipeline_depth),
	K("connect_timeout", "MIGRATED_CONNECT_TIMEOUT", KEY_SECONDS, connect_timeout_s),
	K("log_level", "MIGRATED_LOG_LEVEL", KEY_LOG_LEVEL, log_level),
	K("read_auth", "MIGRATED_READ_AUTH", KEY_BOOL, read_auth),
	K("metrics_auth", "MIGRATED_METRICS_AUTH", KEY_BOOL, metrics_auth),
	K("http_threads", "MIGRATED_HTTP_THREADS", KEY_COUNT, http_threads),
	K("max_connections", "MIGRATED_MAX_CONNECTIONS", KEY_COUNT, max_connections),
	K("max_connections_per_ip", "MIGRATED_MAX_CONNECTIONS_PER_IP", KEY_COUNT, max_connections_per_ip),
	K("http_timeout", "MIGRATED_HTTP_TIMEOUT", KEY_SECONDS, http_timeout_s),
	K("max_body", "MIGRATED_MAX_BODY", KEY_BYTES, max_body_bytes),
	K("status_cache", "MIGRATED_STATUS_CACHE", KEY_DURATION, status_cache_ms),
	K("metrics_cache", "MIGRATED_METRICS_CACHE", KEY_DURATION, metrics_cache_ms),
	K("shutdown_timeout", "MIGRATED_SHUTDOWN_TIMEOUT", KEY_DURATION, shutdown_timeout_ms),
	K("journal_max_size", "MIGRATED_JOURNAL_MAX_SIZE", KEY_BYTES, journal_max_bytes),
	K("journal_keep_jobs", "MIGRATED_JOURNAL_KEEP_JOBS", KEY_COUNT, journal_keep_jobs),
	K("pool_size", "MIGRATED_POOL_SIZE", KEY_COUNT, pool_size),
	K("pool_acquire_timeout", "MIGRATED_POOL_ACQUIRE_TIMEOUT", KEY_DURATION, pool_acquire_timeout_ms),
	K("pool_idle_timeout", "MIGRATED_POOL_IDLE_TIMEOUT", KEY_DURATION, pool_idle_timeout_ms),
	K("pool_max_lifetime", "MIGRATED_POOL_MAX_LIFETIME", KEY_DURATION, pool_max_lifetime_ms),
	K("probe_interval", "MIGRATED_PROBE_INTERVAL", KEY_DURATION, probe_interval_ms),
	K("ready_requires_up_to_date", "MIGRATED_READY_REQUIRES_UP_TO_DATE", KEY_BOOL, ready_requires_up_to_date),
	K("lock_held_warning", "MIGRATED_LOCK_HELD_WARNING", KEY_DURATION, lock_held_warning_ms),
	K("backup_before_deploy", "MIGRATED_BACKUP_BEFORE_DEPLOY", KEY_BOOL, backup_before_deploy),
	K("backup_dir", "MIGRATED_BACKUP_DIR", KEY_STRING, backup_dir),
	K("backup_keep", "MIGRATED_BACKUP_KEEP", KEY_COUNT, backup_keep),
	K("backup_keep_within", "MIGRATED_BACKUP_KEEP_WITHIN", KEY_AGE, backup_keep_within_s),
	K("backup_timeout", "MIGRATED_BACKUP_TIMEOUT", KEY_DURATION, backup_timeout_ms),
	K("pg_dump", "MIGRATED_PG_DUMP", KEY_STRING, pg_dump_path),
	K("pg_restore", "MIGRATED_PG_RESTORE", KEY_STRING, pg_restore_path),
	K("psql", "MIGRATED_PSQL", KEY_STRING, psql_path),
	K("verify_command", "MIGRATED_VERIFY_COMMAND", KEY_LIST, verify_commands),
	K("verify_url", "MIGRATED_VERIFY_URL", KEY_LIST, verify_urls),
	K("verify_timeout", "MIGRATED_VERIFY_TIMEOUT", KEY_DURATION, verify_timeout_ms),
	K("verify_on_failure", "MIGRATED_VERIFY_ON_FAILURE", KEY_CHOICE, verify_rollback),
	K("lint_rule", "MIGRATED_LINT_RULE", KEY_LIST, lint_rules),
	K("lint_gate", "MIGRATED_LINT_GATE", KEY_GATE, lint_gate),
	K("drift_interval", "MIGRATED_DRIFT_INTERVAL", KEY_DURATION, drift_interval_ms),
	K("preflight_gate", "MIGRATED_PREFLIGHT_GATE", KEY_GATE, preflight_gate),
	K("preflight_timeout", "MIGRATED_PREFLIGHT_TIMEOUT", KEY_DURATION, preflight_timeout_ms),
	K("preflight_budget", "MIGRATED_PREFLIGHT_BUDGET", KEY_DURATION, preflight_budget_ms),
	K("preflight_max_rows", "MIGRATED_PREFLIGHT_MAX_ROWS", KEY_ROWS, preflight_max_rows),
	K("preflight_show_values", "MIGRATED_PREFLIGHT_SHOW_VALUES", KEY_BOOL, preflight_show_values),
	K("preflight_url", "MIGRATED_PREFLIGHT_URL", KEY_SECRET, preflight_url),
	K("notify_url", "MIGRATED_NOTIFY_URL", KEY_LIST, notify_urls),
	K("notify_command", "MIGRATED_NOTIFY_COMMAND", KEY_LIST, notify_commands),
	K("notify_format", "MIGRATED_NOTIFY_FORMAT", KEY_LIST, notify_formats),
	K("notify_secret", "MIGRATED_NOTIFY_SECRET", KEY_NAMED_SECRET, notify_secrets),
	K("notify_events", "MIGRATED_NOTIFY_EVENTS", KEY_LIST, notify_events),
	K("notify_timeout", "MIGRATED_NOTIFY_TIMEOUT", KEY_DURATION, notify_timeout_ms),
	K("notify_max_age", "MIGRATED_NOTIFY_MAX_AGE", KEY_AGE, notify_max_age_s),
	K("notify_retry_backoff", "MIGRATED_NOTIFY_RETRY_BACKOFF", KEY_DURATION, notify_retry_backoff_ms),
	K("notify_ca", "MIGRATED_NOTIFY_CA", KEY_STRING, notify_ca),
	K("public_url", "MIGRATED_PUBLIC_URL", KEY_STRING, public_url),
};
#undef K
#undef KR

int md_parse_duration_ms(const char *s, int *ret_ms)
{
	char *end;
	double v, mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return MD_E_CONFIG;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return MD_E_CONFIG;
	v *= mult;
	if (v > INT_MAX)
		return MD_E_CONFIG;
	*ret_ms = (int)v;
	return 0;
}

int md_parse_age_s(const char *s, long *ret_s)
{
	char *end;
	double v, mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return MD_E_CONFIG;
	while (isspace((unsigned char)*end))
		end++;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else if (strcmp(end, "w") == 0)
		mult = 7 * 86400;
	else
		return MD_E_CONFIG;
	v *= mult;
	if (v > 100.0 * 365 * 86400)
		return MD_E_CONFIG;
	*ret_s = (long)v;
	return 0;
}

static void strlist_clear(struct md_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int strlist_add(struct md_strlist *l, const char *v, size_t len)
{
	char **p = realloc(l->items, (l->n + 1) * sizeof *p);
	if (!p)
		return MD_E_NOMEM;
	l->items = p;
	if (!(p[l->n] = strndup(v, len)))
		return MD_E_NOMEM;
	l->n++;
	return 0;
}

int md_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return MD_E_CONFIG;
}

/* "64KiB", "16MiB", "1GiB" (k/K/KB alike), or a bare number of bytes. */
void md_config_register_named_secret(const char *line)
{
	/* "NAME SECRET": the secret, and for whsec_BASE64 its base64 part, never appear in output. */
	const char *p = line + strcspn(line, " \t");
	p += strspn(p, " \t");
	md_secret_register(p);
	if (strncmp(p, "whsec_", 6) == 0)
		md_secret_register(p + 6);
}

static int parse_bytes(const char *s, long *ret)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return MD_E_CONFIG;
	while (isspace((unsigned char)*end))
		end++;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': v *= 1024; break;
	case 'M': v *= 1024 * 1024; break;
	case 'G': v *= 1024.0 * 1024 * 1024; break;
	default: return MD_E_CONFIG;
	}
	if (*end && end[1] && strcasecmp(end + 1, "iB") != 0 && strcasecmp(end + 1, "B") != 0)
		return MD_E_CONFIG;
	if (v > 2147483647.0)
		return MD_E_CONFIG;
	*ret = (long)v;
	return 0;
}

static int set_key(struct md_config *cfg, const struct key *k, const char *value, const char *where,
		   struct md_error *err)
{
	void *field = (char *)cfg + k->offset;
	char *end;
	long n;
	int ms;

	switch (k->type) {
	case KEY_STRING:
	case KEY_SECRET: {
		char *copy = strdup(value);
		if (!copy)
			return md_error_set(err, MD_E_NOMEM, "out of memory");
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case KEY_DURATION:
		if (md_parse_duration_ms(value, &ms) < 0)
			return md_error_set(err, MD_E_CONFIG,
					    "%s: %s = \"%s\" is not a duration (examples: 500ms, 10s, 5m, 1h)", where,
					    k->name, value);
		*(int *)field = ms;
		return 0;
	case KEY_COUNT:
	case KEY_SECONDS: {
		long lo = k->max > 0 ? k->min : 0, hi = k->max > 0 ? k->max : 1000000;
		errno = 0;
		n = strtol(value, &end, 10);
		if (end == value || *end || errno || n < lo || n > hi)
			return md_error_set(err, MD_E_CONFIG, "%s: %s = \"%s\" is not a whole number from %ld to %ld",
					    where, k->name, value, lo, hi);
		*(int *)field = (int)n;
		return 0;
	}
	case KEY_ROWS: {
		double v;
		errno = 0;
		v = strtod(value, &end);
		if (end != value && (*end == 'k' || *end == 'K'))
			v *= 1e3, end++;
		else if (end != value && *end == 'M')
			v *= 1e6, end++;
		else if (end != value && *end == 'G')
			v *= 1e9, end++;
		if (end == value || *end || errno || v < 0 || v > 1e15)
			return md_error_set(err, MD_E_CONFIG,
					    "%s: %s = \"%s\" is not a row count (examples: 500000, 10M, 500k)", where,
					    k->name, value);
		*(long long *)field = (long long)v;
		return 0;
	}
	case KEY_BOOL:
		if (md_parse_bool(value, (bool *)field) < 0)
			return md_error_set(err, MD_E_CONFIG, "%s: %s = \"%s\" is not true or false", where, k->name,
					    value);
		return 0;
	case KEY_BYTES: {
		long bytes;
		if (parse_bytes(value, &bytes) < 0)
			return md_error_set(err, MD_E_CONFIG,
					    "%s: %s = \"%s\" is not a size (examples: 65536, 64KiB, 16MiB)", where,
					    k->name, value);
		if (k->offset == offsetof(struct md_config, max_body_bytes))
			*(int *)field = (int)bytes;
		else
			*(long *)field = bytes;
		return 0;
	}
	case KEY_AGE:
		if (md_parse_age_s(value, (long *)field) < 0)
			return md_error_set(err, MD_E_CONFIG, "%s: %s = \"%s\" is not an age (examples: 12h, 7d, 2w)",
					    where, k->name, value);
		return 0;
	case KEY_LIST:
	case KEY_NAMED_SECRET: {
		struct md_strlist *l = field;
		/* The environment replaces the file's list, one item per line; the file adds one. */
		if (strncmp(where, "environment", 11) == 0) {
			strlist_clear(l);
			for (const char *p = value; *p;) {
				size_t len = strcspn(p, "\n");
				if (len && strlist_add(l, p, len) < 0)
					return md_error_set(err, MD_E_NOMEM, "out of memory");
				p += len + (p[len] == '\n');
			}
			return 0;
		}
		if (!*value)
			return md_error_set(err, MD_E_CONFIG, "%s: %s needs a value", where, k->name);
		return strlist_add(l, value, strlen(value)) < 0 ? md_error_set(err, MD_E_NOMEM, "out of memory") : 0;
	}
	case KEY_CHOICE:
		if (strcmp(value, "fail") == 0)
			*(bool *)field = false;
		else if (strcmp(value, "rollback") == 0)
			*(bool *)field = true;
		else
			return md_error_set(err, MD_E_CONFIG, "%s: %s = \"%s\" is not fail or rollback", where, k->name,
					    value);
		return 0;
	case KEY_GATE:
		if (strcmp(value, "off") == 0)
			*(int *)field = MD_LINT_GATE_OFF;
		else if (strcmp(value, "warn") == 0)
			*(int *)field = MD_LINT_GATE_WARN;
		else if (strcmp(value, "block") == 0)
			*(int *)field = MD_LINT_GATE_BLOCK;
		else
			return md_error_set(err, MD_E_CONFIG, "%s: %s = \"%s\" is not off, warn or block", where,
					    k->name, value);
		return 0;
	case KEY_LOG_LEVEL:
		if (md_log_level_parse(value, &ms) < 0)
			return md_error_set(err, MD_E_CONFIG,
					    "%s: log_level = \"%s\" is not error, warning, info or debug", where,
					    value);
		*(int *)field = ms;
		return 0;
	}
	return md_error_set(err, MD_E_INTERNAL, "unknown key type");
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < MD_ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int read_file(struct md_config *cfg, const char *path, bool must_exist, struct md_error *err)
{
	FILE *f = fopen(path, "re");
	char line[8192], where[600];
	unsigned no = 0;
	int r = 0;

	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		return md_error_set(err, MD_E_CONFIG, "cannot read config file %s: %s", path, strerror(errno));
	}
	free(cfg->config_file);
	cfg->config_file = strdup(path);
	while (r == 0 && fgets(line, sizeof line, f)) {
		char *k, *v, *eq;
		const struct key *key;
		no++;
		snprintf(where, sizeof where, "%s line %u", path, no);
		k = trim(line);
		if (*k == '#' || *k == ';' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			r = md_error_set(err, MD_E_CONFIG, "%s: expected `key = value`", where);
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		size_t vl = strlen(v);
		if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) {
			v[vl - 1] = '\0';
			v++;
		}
		key = find_key(k);
		if (!key) {
			r = md_error_set(err, MD_E_CONFIG, "%s: unknown key \"%s\"", where, k);
			break;
		}
		if (key->type == KEY_SECRET)
			md_secret_register(v);
		else if (key->type == KEY_NAMED_SECRET)
			md_config_register_named_secret(v);
		r = set_key(cfg, key, v, where, err);
	}
	fclose(f);
	return r;
}

/* systemd credentials: $CREDENTIALS_DIRECTORY/database-url and direct-url (LoadCredential=);
 * the credential targets is a whole targets file, so targets_file names it (when the config
 * file named none: the environment and --targets-file still come after). */
static int read_credentials(struct md_config *cfg, struct md_error *err)
{
	static const struct {
		const char *file;
		size_t offset;
	} creds[] = {{"database-url", offsetof(struct md_config, database_url)},
		     {"direct-url", offsetof(struct md_config, direct_url)},
		     {"shadow-database-url", offsetof(struct md_config, shadow_database_url)},
		     {"preflight-url", offsetof(struct md_config, preflight_url)}};
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], buf[8192];

	if (!dir || !*dir)
		return 0;
	for (size_t i = 0; i < MD_ARRAY_SIZE(creds); i++) {
		FILE *f;
		size_t n;
		snprintf(path, sizeof path, "%s/%s", dir, creds[i].file);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *v = trim(buf);
		md_secret_register(v);
		char **field = (char **)((char *)cfg + creds[i].offset);
		free(*field);
		if (!(*field = strdup(v)))
			return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	snprintf(path, sizeof path, "%s/targets", dir);
	if (!cfg->targets_file && access(path, F_OK) == 0 && !(cfg->targets_file = strdup(path)))
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	return 0;
}

static int apply_env(struct md_config *cfg, struct md_error *err)
{
	for (size_t i = 0; i < MD_ARRAY_SIZE(keys); i++) {
		const char *v = keys[i].env ? getenv(keys[i].env) : NULL;
		char where[128];
		int r;
		if (!v || !*v)
			continue;
		snprintf(where, sizeof where, "environment %s", keys[i].env);
		if (keys[i].type == KEY_SECRET)
			md_secret_register(v);
		else if (keys[i].type == KEY_NAMED_SECRET)
			for (const char *p = v; *p;) {
				size_t len = strcspn(p, "\n");
				char line[1024];
				snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1),
					 p);
				md_config_register_named_secret(line);
				p += len + (p[len] == '\n');
			}
		r = set_key(cfg, &keys[i], v, where, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_flag(struct md_config *cfg, const char *name, const char *value, const char *flag,
		      struct md_error *err)
{
	char where[64];
	if (!value)
		return 0;
	snprintf(where, sizeof where, "option %s", flag);
	return set_key(cfg, find_key(name), value, where, err);
}

static int set_defaults(struct md_config *cfg)
{
	cfg->migrations_dir = strdup("prisma/migrations");
	cfg->state_dir = strdup("/var/lib/migrated");
	cfg->listen = strdup("127.0.0.1:8080");
	cfg->lock_timeout_ms = 10000;
	cfg->statement_timeout_ms = 0;
	cfg->lock_retries = 3;
	cfg->lock_retry_backoff_ms = 1000;
	cfg->advisory_lock_wait_ms = 10000;
	cfg->pipeline_depth = 32;
	cfg->connect_timeout_s = 10;
	cfg->log_level = MD_LOG_INFO;
	cfg->read_auth = true;
	cfg->http_threads = 1;
	cfg->max_connections = 256;
	cfg->max_connections_per_ip = 128;
	cfg->http_timeout_s = 30;
	cfg->max_body_bytes = 64 * 1024;
	cfg->status_cache_ms = 1000;
	cfg->metrics_cache_ms = 1000;
	cfg->shutdown_timeout_ms = 30000;
	cfg->journal_max_bytes = 16L * 1024 * 1024;
	cfg->journal_keep_jobs = 200;
	cfg->fleet_max_connections = 64;
	cfg->pool_size = 4;
	cfg->pool_acquire_timeout_ms = 5000;
	cfg->pool_idle_timeout_ms = 5 * 60000;
	cfg->pool_max_lifetime_ms = 30 * 60000;
	cfg->probe_interval_ms = 5000;
	cfg->ready_requires_up_to_date = true;
	cfg->lock_held_warning_ms = 10 * 60000;
	cfg->backup_before_deploy = true;
	cfg->backup_keep = 10;
	cfg->backup_timeout_ms = 6 * 3600 * 1000;
	cfg->verify_timeout_ms = 60000;
	cfg->lint_gate = MD_LINT_GATE_WARN;
	cfg->preflight_gate = MD_LINT_GATE_BLOCK;
	cfg->preflight_timeout_ms = 5000;
	cfg->preflight_budget_ms = 60000;
	cfg->preflight_max_rows = 10000000;
	cfg->notify_timeout_ms = 10000;
	cfg->notify_max_age_s = 24 * 3600;
	cfg->notify_retry_backoff_ms = 1000;
	return cfg->migrations_dir && cfg->state_dir && cfg->listen ? 0 : MD_E_NOMEM;
}

int md_config_load(const struct md_config_flags *flags, struct md_config **ret, struct md_error *err)
{
	struct md_config *cfg = calloc(1, sizeof *cfg);
	const char *file = flags->config_file;
	bool must = true;
	int r;

	if (!cfg || set_defaults(cfg) < 0) {
		md_config_free(cfg);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	if (!file && getenv("MIGRATED_CONFIG") && *getenv("MIGRATED_CONFIG"))
		file = getenv("MIGRATED_CONFIG");
	if (!file) {
		file = MD_DEFAULT_CONFIG_FILE;
		must = false;
	}
	r = read_file(cfg, file, must, err);
	if (r == 0)
		r = read_credentials(cfg, err);
	if (r == 0)
		r = apply_env(cfg, err);
	if (r == 0)
		r = apply_flag(cfg, "migrations", flags->migrations_dir, "--migrations", err);
	if (r == 0)
		r = apply_flag(cfg, "state_dir", flags->state_dir, "--state-dir", err);
	if (r == 0)
		r = apply_flag(cfg, "listen", flags->listen, "--listen", err);
	if (r == 0)
		r = apply_flag(cfg, "token_file", flags->token_file, "--token-file", err);
	if (r == 0)
		r = apply_flag(cfg, "targets_file", flags->targets_file, "--targets-file", err);
	if (r == 0)
		r = apply_flag(cfg, "lock_timeout", flags->lock_timeout, "--lock-timeout", err);
	if (r == 0)
		r = apply_flag(cfg, "statement_timeout", flags->statement_timeout, "--statement-timeout", err);
	if (r == 0)
		r = apply_flag(cfg, "lock_retries", flags->lock_retries, "--lock-retries", err);
	if (r == 0)
		r = apply_flag(cfg, "advisory_lock_timeout", flags->advisory_lock_wait, "--lock-wait", err);
	if (r == 0)
		r = apply_flag(cfg, "log_level", flags->log_level, "--log-level", err);
	if (r < 0) {
		md_config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

void md_config_free(struct md_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->config_file);
	free(cfg->database_url);
	free(cfg->direct_url);
	free(cfg->shadow_database_url);
	free(cfg->preflight_url);
	free(cfg->migrations_dir);
	free(cfg->state_dir);
	free(cfg->listen);
	free(cfg->token_file);
	free(cfg->targets_file);
	free(cfg->backup_dir);
	free(cfg->pg_dump_path);
	free(cfg->pg_restore_path);
	free(cfg->psql_path);
	strlist_clear(&cfg->verify_commands);
	strlist_clear(&cfg->verify_urls);
	strlist_clear(&cfg->lint_rules);
	strlist_clear(&cfg->notify_urls);
	strlist_clear(&cfg->notify_commands);
	strlist_clear(&cfg->notify_formats);
	strlist_clear(&cfg->notify_secrets);
	strlist_clear(&cfg->notify_events);
	free(cfg->notify_ca);
	free(cfg->public_url);
	free(cfg);
}

char *md_config_backup_dir(const struct md_config *cfg)
{
	char *dir = NULL;
	if (cfg->backup_dir && *cfg->backup_dir)
		return strdup(cfg->backup_dir);
	if (asprintf(&dir, "%s/backups", cfg->state_dir) < 0)
		return NULL;
	return dir;
}

const char *md_config_migration_url(const struct md_config *cfg)
{
	if (cfg->direct_url && *cfg->direct_url)
		return cfg->direct_url;
	if (cfg->database_url && *cfg->database_url)
		return cfg->database_url;
	return NULL;
}
