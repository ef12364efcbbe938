/* serve.c - the daemon's main loop (see serve.h). Every thread the daemon starts inherits a
 * mask that blocks the stop signals, so only this thread receives them, through sigwait(). */
#include "migrated/serve.h"
#include "migrated/api.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/log.h"
#include "migrated/pool.h"
#include "migrated/probe.h"
#include "migrated/snapshot.h"
#include "migrated/tokens.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct serve {
	struct md_snapshot *snap;
	struct md_probe *probe;
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

int md_serve(const struct md_config *cfg)
{
	struct md_error err = {0};
	struct md_tokens *tokens = NULL;
	struct md_jobs *jobs = NULL;
	struct md_snapshot *snap = NULL;
	struct md_pool *pool = NULL;
	struct md_probe *probe = NULL;
	struct md_api *api = NULL;
	struct serve sv = {0};
	struct md_api_deps deps;
	char tokbuf[4096];
	sigset_t stop;
	int sig, rc = 0;

	/* Few malloc arenas: memory is what a small daemon should not spend on threads. */
	mallopt(M_ARENA_MAX, 2);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (md_tokens_load(token_path(cfg, tokbuf, sizeof tokbuf), &tokens, &err) < 0)
		return fail(&err, 2);
	if (md_tokens_count(tokens) == 0)
		md_log(MD_LOG_WARNING,
		       "no API tokens configured (--token-file): deploy, resolve and cancel are refused; "
		       "reads are open");
	if (!md_config_migration_url(cfg))
		md_log(MD_LOG_WARNING, "no DATABASE_URL or DIRECT_URL: status and deploys will fail until one is set");
	if (md_jobs_open(cfg, &jobs, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
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
	/* Reads and health use DATABASE_URL (a pooler is fine for them), else DIRECT_URL. */
	const char *read_url = cfg->database_url && *cfg->database_url ? cfg->database_url : cfg->direct_url;
	if (md_pool_open(read_url, &po, &pool, &err) < 0) {
		rc = fail(&err, 2);
		goto out;
	}
	if (md_snapshot_open(cfg, pool, &snap, &err) < 0) {
		rc = fail(&err, 1);
		goto out;
	}
	if (md_probe_start(cfg, pool, snap, jobs, &probe, &err) < 0) {
		rc = fail(&err, 1);
		goto out;
	}
	sv = (struct serve){.snap = snap, .probe = probe};
	md_jobs_on_change(jobs, on_job_change, &sv);
	deps = (struct md_api_deps){.jobs = jobs, .snapshot = snap, .tokens = tokens, .pool = pool, .probe = probe};
	if (md_api_start(cfg, &deps, -1, &api, &err) < 0) {
		rc = fail(&err, err.code == MD_E_CONFIG ? 2 : 1);
		goto out;
	}
	md_log(MD_LOG_INFO, "migrated %s listening on %s (migrations %s, state %s, %zu token%s)", PACKAGE_VERSION,
	       md_api_address(api), cfg->migrations_dir, cfg->state_dir, md_tokens_count(tokens),
	       md_tokens_count(tokens) == 1 ? "" : "s");
	for (;;) {
		if (sigwait(&stop, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			md_log(MD_LOG_WARNING,
			       "SIGHUP: reloading the configuration is not supported yet; restart to apply "
			       "changes");
			continue;
		}
		break;
	}
	md_log(MD_LOG_INFO, "%s: stopping; the running migration may finish within %.0f s", strsignal(sig),
	       cfg->shutdown_timeout_ms / 1000.0);
	md_api_quiesce(api);
	md_jobs_shutdown(jobs, cfg->shutdown_timeout_ms);
out:
	md_api_stop(api);
	if (jobs)
		md_jobs_on_change(jobs, NULL, NULL);
	md_probe_stop(probe);
	md_snapshot_close(snap);
	md_jobs_close(jobs);
	md_pool_close(pool);
	md_tokens_free(tokens);
	if (rc == 0)
		md_log(MD_LOG_INFO, "stopped");
	return rc;
}
