/* config.h - built-in defaults, then the config file, then the environment, then flags,
 * folded into one struct md_config that nothing changes afterwards. Every bound the engine
 * uses is a key here with a documented default (README, "Configuration"). */
#ifndef MIGRATED_CONFIG_H
#define MIGRATED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct md_error;

#define MD_DEFAULT_CONFIG_FILE "/etc/migrated/migrated.conf"

/* A key that may be given more than once (verify_command, verify_url): every line of the
 * file adds one; the environment variable (one item per line) replaces the file's. */
struct md_strlist {
	char **items; /* owned */
	size_t n;
};

struct md_config {
	char *config_file;         /* the file read, or NULL */
	char *database_url;        /* DATABASE_URL: pool, health, reads */
	char *direct_url;          /* DIRECT_URL: migrations when set (no pooler) */
	char *shadow_database_url; /* SHADOW_DATABASE_URL (drift) */
	char *migrations_dir;      /* default prisma/migrations */
	char *state_dir;           /* default /var/lib/migrated */
	char *listen;              /* default 127.0.0.1:8080 */
	char *token_file;          /* NAME ROLE SECRET lines */
	char *targets_file;        /* the fleet's targets (targets.h), or NULL: one target, DATABASE_URL */
	int fleet_max_connections; /* connections to all targets together; 1..10000, default 64 */
	int lock_timeout_ms;       /* SET lock_timeout per migration; default 10 s */
	int statement_timeout_ms;  /* SET statement_timeout; default 0 (none) */
	int lock_retries;          /* retries after a lock timeout; default 3 */
	int lock_retry_backoff_ms; /* first backoff; default 1 s */
	int advisory_lock_wait_ms; /* wait for the migration lock; default 10 s */
	int pipeline_depth;        /* migrations sent per round trip; default 32; 0 or 1 = one at a time */
	int connect_timeout_s;     /* connect_timeout when the URL has none; default 10 s */
	int log_level;             /* default info */
	/* The daemon (migrated serve). */
	bool read_auth;    /* reads need a token with the read role; default true */
	bool metrics_auth; /* GET /metrics needs a read token too; default false (counts only, as Prometheus scrapes) */
	int http_threads; /* libmicrohttpd thread pool; default 1 (cached answers: one thread serves ~100k req/s with the lowest tail latency on 2 cores) */
	int max_connections;        /* default 256 */
	int max_connections_per_ip; /* default 128 */
	int http_timeout_s;         /* idle connection timeout; default 30 s */
	int max_body_bytes;         /* request body cap; default 64 KiB */
	int status_cache_ms;        /* how old a status answer may be; default 1 s */
	int metrics_cache_ms;       /* how old a /metrics scrape may be; default 1 s (0: render each) */
	int shutdown_timeout_ms;    /* SIGTERM: how long the running migration may finish; default 30 s */
	long journal_max_bytes;     /* compact the journal past this size; default 16 MiB */
	int journal_keep_jobs;      /* jobs kept by compaction; default 200 */
	/* The pool on DATABASE_URL (reads, health) and the health probe. */
	int pool_size;                  /* default 4 */
	int pool_acquire_timeout_ms;    /* wait for a free connection; default 5 s */
	int pool_idle_timeout_ms;       /* close idle connections after; default 5 min */
	int pool_max_lifetime_ms;       /* close connections older than; default 30 min */
	int probe_interval_ms;          /* health probe period; default 5 s */
	bool ready_requires_up_to_date; /* /readyz fails while migrations are pending; default true */
	int lock_held_warning_ms;       /* health degrades when the migration lock is held longer; 10 min */
	/* Backups (pg_dump before deploys), rollback and post-deploy verification. */
	bool backup_before_deploy; /* a deploy with pending migrations takes a backup first; default true */
	char *backup_dir;          /* default <state_dir>/backups */
	int backup_keep;           /* retention: keep the newest N; default 10 (0: no count rule) */
	long backup_keep_within_s; /* retention: keep those younger than this; default 0 (no age rule) */
	int backup_timeout_ms;     /* pg_dump / pg_restore time limit; default 6 h */
	char *pg_dump_path;        /* default: found (/usr/lib/postgresql/N/bin, PATH) */
	char *pg_restore_path;
	char *psql_path;
	struct md_strlist verify_commands; /* argv lines run after a successful deploy */
	struct md_strlist verify_urls;     /* URLs that must answer 2xx after a successful deploy */
	int verify_timeout_ms;             /* per command / URL; default 60 s */
	bool verify_rollback;              /* verify_on_failure = rollback: undo with down.sql when possible */
	/* Lint, plan and drift. */
	struct md_strlist lint_rules; /* "RULE off|info|warning|error" lines */
	int lint_gate;                /* MD_LINT_GATE_*: what lint findings do to a deploy; default warn */
	int drift_interval_ms;        /* serve: periodic drift check; default 0 (off) */
	/* Data preflight (preflight.h). */
	int preflight_gate;           /* MD_LINT_GATE_* values: a failing finding refuses (block, default), is
					* recorded (warn), or nothing is asked (off) */
	int preflight_timeout_ms;     /* each question; default 5 s */
	int preflight_budget_ms;      /* all questions of one deploy or plan; default 60 s */
	long long preflight_max_rows; /* larger tables (estimate) are not scanned; default 10 M */
	bool preflight_show_values;   /* examples show the checked values, not only keys; default false */
	char *preflight_url;          /* MIGRATED_PREFLIGHT_URL: ask a read replica instead; may be NULL */
	/* Notifications (notify.h): "NAME VALUE" lines, one endpoint per NAME. */
	struct md_strlist notify_urls;     /* "NAME URL": an HTTP(S) endpoint */
	struct md_strlist notify_commands; /* "NAME /path [args]": a program fed the event on stdin */
	struct md_strlist notify_formats;  /* "NAME standard|slack" */
	struct md_strlist notify_secrets;  /* "NAME whsec_BASE64": the signing key (registered as a secret) */
	struct md_strlist notify_events;   /* "NAME job.failed,job.succeeded": the events it gets (default all) */
	int notify_timeout_ms;             /* one attempt's limit; default 10 s */
	long notify_max_age_s;             /* give a delivery up after; default 24 h */
	int notify_retry_backoff_ms;       /* first retry after; doubles with jitter up to 5 min; default 1 s */
	char *notify_ca;                   /* CA bundle for https endpoints; default: the system's */
	/* Where people reach this daemon's web console ("https://ops.example.com/migrated"), for
	 * links in notifications; NULL: no links (the daemon listens on loopback by default). */
	char *public_url;
};

enum md_lint_gate {
	MD_LINT_GATE_OFF = 0, /* deploys do not lint */
	MD_LINT_GATE_WARN,    /* findings are recorded in the deploy job */
	MD_LINT_GATE_BLOCK,   /* an error finding refuses the deploy (422) unless an admin overrides */
};

/* Flags given on the command line (NULL / -1 when not given). */
struct md_config_flags {
	const char *config_file;
	const char *migrations_dir;
	const char *state_dir;
	const char *listen;
	const char *token_file;
	const char *targets_file;
	const char *lock_timeout;
	const char *statement_timeout;
	const char *lock_retries;
	const char *advisory_lock_wait;
	const char *log_level;
};

/* md_parse_bool: true/false, yes/no, on/off, 1/0. */
int md_parse_bool(const char *s, bool *ret);

/* md_config_load: build the configuration. A missing default config file is fine; a missing
 * file named by --config or MIGRATED_CONFIG, an unknown key, or a bad value is MD_E_CONFIG with
 * the file and line. Free with md_config_free. */
int md_config_load(const struct md_config_flags *flags, struct md_config **ret, struct md_error *err);
void md_config_free(struct md_config *cfg);
/* md_config_register_named_secret: register the SECRET of a "NAME SECRET" line (and the
 * base64 part of a whsec_ secret) for redaction (log.h). */
void md_config_register_named_secret(const char *line);
/* md_config_migration_url: DIRECT_URL when set, else DATABASE_URL (NULL if neither). */
const char *md_config_migration_url(const struct md_config *cfg);
/* md_parse_age_s: "30d", "12h", "90m", "45s", or a bare number of seconds. */
int md_parse_age_s(const char *s, long *ret_s);
/* md_config_backup_dir: backup_dir, or <state_dir>/backups (malloc'd; NULL out of memory). */
char *md_config_backup_dir(const struct md_config *cfg);
/* md_parse_duration_ms: "500ms", "10s", "5m", "1h", or a bare number of milliseconds. */
int md_parse_duration_ms(const char *s, int *ret_ms);

#endif
