/* serve.c - the daemon's main loop (see serve.h). Every thread the daemon starts inherits a
 * mask that blocks the stop signals, so only this thread receives them, through sigwait(). */
#include "migrated/serve.h"
#include "migrated/api.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/jobs.h"
#include "migrated/log.h"
#include "migrated/snapshot.h"
#include "migrated/tokens.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void invalidate_status(void *ctx)
{
	md_snapshot_invalidate(ctx);
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
	struct md_api *api = NULL;
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
	if (md_snapshot_open(cfg, &snap, &err) < 0) {
		rc = fail(&err, 1);
		goto out;
	}
	md_jobs_on_change(jobs, invalidate_status, snap);
	deps = (struct md_api_deps){.jobs = jobs, .snapshot = snap, .tokens = tokens};
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
	md_snapshot_close(snap);
	md_jobs_close(jobs);
	md_tokens_free(tokens);
	if (rc == 0)
		md_log(MD_LOG_INFO, "stopped");
	return rc;
}
