/* serve.c - the daemon's main loop (see serve.h). Every thread the daemon starts inherits a
 * mask that blocks the signals, so only this thread receives them (sigtimedwait). Between
 * signals the loop wakes at least once a second: it tells systemd what the daemon does
 * (STATUS=) and, when the watchdog is on, pings it only while the health probe thread shows
 * signs of life, so a daemon stuck on the database gets restarted. */
#include "migrated/serve.h"
#include "migrated/api.h"
#include "migrated/config.h"
#include "migrated/fleet.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/log.h"
#include "migrated/notify.h"
#include "migrated/pool.h"
#include "migrated/probe.h"
#include "migrated/settings.h"
#include "migrated/snapshot.h"
#include "migrated/systemd.h"
#include "migrated/tokens.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FLEET_UNREADY "a target of the targets file is not ready: down, failed, busy or behind (GET /v1/targets)"

struct serve {
	const struct md_config_flags *flags;
	struct md_config *cfg; /* the running configuration (owned after a reload) */
	bool cfg_owned;
	struct md_tokens *tokens;
	struct md_settings *settings; /* shared by the jobs and the API */
	struct md_jobs *jobs;
	struct md_pool *pool;
	struct md_snapshot *snap;
	struct md_probe *probe;
	struct md_api *api;
	struct md_notify *notify;
	struct md_fleet *fleet; /* the targets of the targets file (none without one) */
	int health_status;      /* what health said last (-1: nothing yet), for health.changed */
};

/* A job ended: what the status and health said may be stale. */
static void on_job_change(void *ctx)
{
	struct serve *sv = ctx;
	md_snapshot_invalidate(sv->snap);
	if (sv->probe)
		md_probe_kick(sv->probe);
}

/* The token file: --token-file / token_file, else a systemd credential named "tokens". */
static const char *token_path(const struct md_config *cfg, char *buf, size_t bufsz)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	if (cfg->token_file && *cfg->token_file)
		return cfg->token_file;
	if (creds && *creds) {
		snprintf(buf, bufsz, "%s/tokens", creds);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

static int fail(const struct md_error *err, int code)
{
	md_log(MD_LOG_ERROR, "%s", err->message);
	if (err->hint[0])
		md_log(MD_LOG_ERROR, "next: %s", err->hint);
	return code;
}

static const char *read_url(const struct md_config *cfg)
{
	/* Reads and health use DATABASE_URL (a pooler is fine for them), else DIRECT_URL. */
	return cfg->database_url && *cfg->database_url ? cfg->database_url : cfg->direct_url;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A kill between the newest job's end record and its outbox record loses that event: the
 * notifier is asked to queue it again if its outbox lacks it (md_notify_catch_up). */
static void catch_up_notifications(struct serve *sv)
{
	struct md_job_brief last;
	struct md_error err = {0};
	json_t *job = NULL;
	char type[48];
	if (!md_jobs_last(sv->jobs, &last) || !md_job_state_ended(last.state) ||
	    md_jobs_get(sv->jobs, last.id, &job, &err) < 0)
		return;
	json_object_del(job, "logs");
	json_object_set(job, "actor", json_object_get(job, "requested_by"));
	snprintf(type, sizeof type, "job.%s", md_job_state_name(last.state));
	md_notify_catch_up(sv->notify, type, job);
	json_decref(job);
}

/* health.changed: transitions of the published status only (ok, degraded, down), seen by the
 * signal loop's tick (at most a second late), never every probe round. */
static void notify_health(struct serve *sv, const struct md_health *h)
{
	if (!h)
		return;
	int now = (int)h->status, before = sv->health_status;
	sv->health_status = now;
	if (before < 0 || before == now)
		return;
	json_t *data = json_pack("{s:s, s:s}", "status", md_health_status_name(h->status), "from",
				 md_health_status_name((enum md_health_status)before));
	md_notify_emit(sv->notify, "health.changed", data);
	json_decref(data);
}

/* STATUS=: what a job does, else why the database cannot be used, else how things stand. */
static void update_status(struct serve *sv)
{
	char line[400], job[320];
	struct md_health *h = md_probe_get(sv->probe);

	if (md_jobs_progress(sv->jobs, job, sizeof job) && job[0]) {
		snprintf(line, sizeof line, "%s", job);
	} else if (h && !h->db_up && h->status == MD_HEALTH_DOWN) {
		snprintf(line, sizeof line, "database unreachable: %s", md_conn_failure_name(h->conn_failure));
	} else if (h && h->snapshot_ok) {
		size_t pending = h->migrations[MD_MIG_PENDING] + h->migrations[MD_MIG_ROLLED_BACK];
		int n = snprintf(line, sizeof line, "idle, %zu pending", pending);
		if (h->migrations[MD_MIG_FAILED] && n > 0 && (size_t)n < sizeof line)
			n += snprintf(line + n, sizeof line - (size_t)n, ", %zu failed", h->migrations[MD_MIG_FAILED]);
		if (h->migrations[MD_MIG_RUNNING] && n > 0 && (size_t)n < sizeof line)
			snprintf(line + n, sizeof line - (size_t)n, ", %zu being applied by another session",
				 h->migrations[MD_MIG_RUNNING]);
	} else {
		snprintf(line, sizeof line, "idle");
	}
	notify_health(sv, h);
	md_health_unref(h);
	md_sd_status(line);
}

/* SIGHUP: read the configuration and the tokens again; apply what can change while running,
 * name what needs a restart; on any error keep everything as it was. */
static void reload(struct serve *sv)
{
	struct md_error err = {0};
	struct md_config *ncfg = NULL;
	struct md_tokens *ntok = NULL, *old;
	char tokbuf[4096], line[600];

	md_sd_reloading();
	md_log(MD_LOG_INFO, "SIGHUP: reloading the configuration and the tokens");
	if (md_config_load(sv->flags, &ncfg, &err) < 0 ||
	    md_tokens_load(token_path(ncfg, tokbuf, sizeof tokbuf), &ntok, &err) < 0 ||
	    (!same(read_url(ncfg), read_url(sv->cfg)) && md_pool_set_url(sv->pool, read_url(ncfg), &err) < 0) ||
	    md_settings_reload(sv->settings, ncfg, &err) < 0 || md_jobs_reconfigure(sv->jobs, ncfg, &err) < 0 ||
	    md_notify_reconfigure(sv->notify, ncfg, &err) < 0) {
		md_log(MD_LOG_ERROR, "reload failed, the running configuration stays: %s", err.message);
		snprintf(line, sizeof line, "reload failed (running configuration kept): %.300s", err.message);
		md_sd_status(line);
		md_config_free(ncfg);
		md_tokens_free(ntok);
		md_sd_ready();
		return;
	}
	md_log_set_level(ncfg->log_level);
	old = md_api_reconfigure(sv->api, ncfg, ntok);
	md_tokens_free(old);
	sv->tokens = ntok;
	md_probe_reconfigure(sv->probe, ncfg);
	md_snapshot_invalidate(sv->snap);
	size_t targets_before = md_fleet_count(sv->fleet);
	md_fleet_reload(sv->fleet, ncfg);

	/* What only a restart changes. */
	const struct md_config *a = sv->cfg, *b = ncfg;
	const struct {
		const char *key;
		bool changed;
	} fixed[] = {
		{"migrations", !same(a->migrations_dir, b->migrations_dir)},
		{"state_dir", !same(a->state_dir, b->state_dir)},
		{"listen", !same(a->listen, b->listen)},
		{"http_threads", a->http_threads != b->http_threads},
		{"max_connections", a->max_connections != b->max_connections},
		{"max_connections_per_ip", a->max_connections_per_ip != b->max_connections_per_ip},
		{"http_timeout", a->http_timeout_s != b->http_timeout_s},
		{"pool_size", a->pool_size != b->pool_size},
		{"pool_acquire_timeout", a->pool_acquire_timeout_ms != b->pool_acquire_timeout_ms},
		{"pool_idle_timeout", a->pool_idle_timeout_ms != b->pool_idle_timeout_ms},
		{"pool_max_lifetime", a->pool_max_lifetime_ms != b->pool_max_lifetime_ms},
		{"shutdown_timeout", a->shutdown_timeout_ms != b->shutdown_timeout_ms},
		{"journal_max_size", a->journal_max_bytes != b->journal_max_bytes},
		{"journal_keep_jobs", a->journal_keep_jobs != b->journal_keep_jobs},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		if (fixed[i].changed)
			md_log(MD_LOG_WARNING, "reload: %s changed; it takes effect after a restart", fixed[i].key);
	if (sv->cfg_owned)
		md_config_free(sv->cfg);
	sv->cfg = ncfg;
	sv->cfg_owned = true;
	size_t targets = md_fleet_count(sv->fleet);
	if (targets && !targets_before)
		md_probe_add_check(sv->probe, "fleet", md_fleet_health_check, sv->fleet, FLEET_UNREADY);
	if (targets || targets_before)
		md_log(MD_LOG_INFO, "configuration reloaded (%zu token%s, %zu target%s besides default, %zu before)",
		       md_tokens_count(ntok), md_tokens_count(ntok) == 1 ? "" : "s", targets, targets == 1 ? "" : "s",
		       targets_before);
	else
		md_log(MD_LOG_INFO, "configuration reloaded (%zu token%s)", md_tokens_count(ntok),
		       md_tokens_count(ntok) == 1 ? "" : "s");
	md_sd_ready();
	update_status(sv);
}

/* Long on purpose: the composition root reads best as one sequence (build each part in
 * dependency order, run the signal loop, tear down in reverse), each step a few lines. */
int md_serve(struct md_config *cfg, const struct md_config_flags *flags)
{
	struct md_error err = {0};
	struct serve sv = {.flags = flags, .cfg = cfg, .health_status = -1};
	struct md_api_deps deps;
	char tokbuf[4096];
	sigset_t sigs;
	siginfo_t info;
	int sig = 0, rc = 0, listen_fd;
	uint64_t watchdog_usec = md_sd_watchdog_usec();

	/* Few malloc arenas: memory is what a small daemon should not spend on threads. */
	mallopt(M_ARENA_MAX, 2);
	if (md_sd_journal_stderr())
		md_sd_log_to_journal();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (md_sd_listen_fd(&listen_fd, &err) < 0)
		return fail(&err, 2);
	if (md_tokens_load(token_path(cfg, tokbuf, sizeof tokbuf), &sv.tokens, &err) < 0)
		return fail(&err, 2);
	if (md_tokens_count(sv.tokens) == 0)
		md_log(MD_LOG_WARNING,
		       "no API tokens configured (--token-file): deploy, resolve and cancel are refused; "
		       "reads are open");
	if (!md_config_migration_url(cfg))
		md_log(MD_LOG_WARNING,
		       "no DATABASE_URL or DIRECT_URL: status and deploys will fail until one is set (in the "
		       "environment, as database_url in the configuration file, or in the systemd credential "
		       "database-url: /etc/migrated/database-url for the packaged unit), then restart migrated");
	md_sd_status("starting: replaying the journal");
	if (md_settings_new(cfg, &sv.settings, &err) < 0) {
		rc = fail(&err, 2);
		goto out;
	}
	/* The jobs first: opening their journal creates the state directory the outbox lives in. */
	if (md_jobs_open(cfg, sv.settings, &sv.jobs, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
	if (md_notify_open(cfg, &sv.notify, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
	/* The jobs tell the notifier through a plain callback: they include nothing above them. */
	md_jobs_on_event(sv.jobs, md_notify_event_hook, sv.notify);
	catch_up_notifications(&sv);
	struct md_pool_options po = {
		.size = cfg->pool_size,
		.acquire_timeout_ms = cfg->pool_acquire_timeout_ms,
		.idle_timeout_ms = cfg->pool_idle_timeout_ms,
		.max_lifetime_ms = cfg->pool_max_lifetime_ms,
		.connect_timeout_s = cfg->connect_timeout_s,
		.backoff_min_ms = 250,
		.backoff_max_ms = 30000,
		.statement_timeout_ms = 30000,
	};
	if (md_pool_open(read_url(cfg), &po, &sv.pool, &err) < 0) {
		rc = fail(&err, 2);
		goto out;
	}
	if (md_snapshot_open(cfg, sv.pool, &sv.snap, &err) < 0) {
		rc = fail(&err, 1);
		goto out;
	}
	md_sd_status("starting: probing the database");
	if (md_probe_start(cfg, sv.pool, sv.snap, sv.jobs, &sv.probe, &err) < 0) {
		rc = fail(&err, 1);
		goto out;
	}
	if (md_fleet_start(cfg, sv.settings, sv.jobs, &sv.fleet, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
	if (md_fleet_count(sv.fleet))
		md_probe_add_check(sv.probe, "fleet", md_fleet_health_check, sv.fleet, FLEET_UNREADY);
	md_jobs_on_change(sv.jobs, on_job_change, &sv);
	deps = (struct md_api_deps){.jobs = sv.jobs,
				    .fleet = sv.fleet,
				    .settings = sv.settings,
				    .snapshot = sv.snap,
				    .tokens = sv.tokens,
				    .pool = sv.pool,
				    .probe = sv.probe,
				    .notify = sv.notify};
	if (md_api_start(cfg, &deps, listen_fd, &sv.api, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
	md_log(MD_LOG_INFO, "migrated %s listening on %s (migrations %s, state %s, %zu token%s)", PACKAGE_VERSION,
	       md_api_address(sv.api), cfg->migrations_dir, cfg->state_dir, md_tokens_count(sv.tokens),
	       md_tokens_count(sv.tokens) == 1 ? "" : "s");
	md_sd_ready();
	update_status(&sv);

	/* Wake at least every second, and twice per watchdog period. */
	long tick_ms = 1000;
	if (watchdog_usec && (long)(watchdog_usec / 2000) < tick_ms)
		tick_ms = (long)(watchdog_usec / 2000) > 10 ? (long)(watchdog_usec / 2000) : 10;
	for (;;) {
		struct timespec tick = {.tv_sec = tick_ms / 1000, .tv_nsec = (tick_ms % 1000) * 1000000};
		sig = sigtimedwait(&sigs, &info, &tick);
		if (sig == SIGHUP) {
			reload(&sv);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
		update_status(&sv);
		if (watchdog_usec) {
			/* The probe thread wakes every interval; silence much longer than a round can take
			 * (connect_timeout plus the statement timeout) means it is stuck. */
			int64_t limit_ms = (int64_t)sv.cfg->probe_interval_ms +
					   (int64_t)sv.cfg->connect_timeout_s * 1000 + po.statement_timeout_ms + 5000;
			int64_t silent = md_probe_silent_ms(sv.probe);
			if (silent <= limit_ms)
				md_sd_watchdog();
			else
				md_log(MD_LOG_ERROR,
				       "the health probe has been silent for %lld ms: not pinging the watchdog, "
				       "systemd will restart the daemon",
				       (long long)silent);
		}
	}
	md_sd_stopping();
	md_sd_status("stopping: letting the running migration finish");
	md_log(MD_LOG_INFO, "%s: stopping; the running migration may finish within %.0f s", strsignal(sig),
	       sv.cfg->shutdown_timeout_ms / 1000.0);
	md_api_quiesce(sv.api);
	md_jobs_shutdown(sv.jobs, sv.cfg->shutdown_timeout_ms);
out:
	md_api_stop(sv.api);
	if (sv.jobs) {
		md_jobs_on_change(sv.jobs, NULL, NULL);
		md_jobs_on_event(sv.jobs, NULL, NULL);
	}
	md_probe_stop(sv.probe);
	md_fleet_stop(sv.fleet);
	md_snapshot_close(sv.snap);
	md_jobs_close(sv.jobs);
	md_notify_close(sv.notify);
	md_settings_free(sv.settings);
	md_pool_close(sv.pool);
	md_tokens_free(sv.tokens);
	if (sv.cfg_owned)
		md_config_free(sv.cfg);
	if (rc == 0)
		md_log(MD_LOG_INFO, "stopped");
	return rc;
}
