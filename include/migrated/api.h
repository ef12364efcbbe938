/* api.h - the HTTP control API (libmicrohttpd): routes in api/routes.c, one file per
 * resource. Thread mode: libmicrohttpd's internal thread pool with epoll, and no callback ever
 * blocks: work that needs the database runs on a task queue while the connection is
 * suspended, and Server-Sent Events suspend between events. The contract is api/openapi.yaml. */
#ifndef MIGRATED_API_H
#define MIGRATED_API_H

struct md_config;
struct md_error;
struct md_jobs;
struct md_notify;
struct md_pool;
struct md_probe;
struct md_snapshot;
struct md_tokens;
struct md_api;

struct md_settings;

struct md_api_deps {
	struct md_jobs *jobs;
	struct md_settings *settings; /* lint gate and options, backups folder */
	struct md_snapshot *snapshot;
	struct md_tokens *tokens; /* may be empty, never NULL */
	struct md_pool *pool;     /* reads: GET /v1/plan */
	struct md_probe *probe;   /* health; NULL: health says only that the process is up */
	struct md_notify *notify; /* GET /v1/notifications, deploy.lint_blocked; NULL: none */
	struct md_fleet *fleet;   /* the targets of the targets file; NULL: only the default */
};

/* md_api_start: listen on cfg->listen ("127.0.0.1:8080", "[::1]:8080", "unix:/path") or on
 * listen_fd when >= 0 (socket activation), and serve. MD_E_CONFIG when the address is bad or
 * in use. */
int md_api_start(const struct md_config *cfg, const struct md_api_deps *deps, int listen_fd, struct md_api **ret,
		 struct md_error *err);
/* md_api_quiesce: stop accepting new connections (SIGTERM); running requests finish. */
void md_api_quiesce(struct md_api *api);
/* md_api_stop: close everything (waits for running callbacks). */
void md_api_stop(struct md_api *api);
/* md_api_reconfigure: new tokens (taken over) and the reloadable settings of cfg (read_auth,
 * max_body, status_cache) for requests from now on. Returns the old tokens for the caller to
 * free: no request uses them any more. */
struct md_tokens *md_api_reconfigure(struct md_api *api, const struct md_config *cfg, struct md_tokens *tokens);
/* md_api_address: what it listens on, for logs ("127.0.0.1:8080"). */
const char *md_api_address(const struct md_api *api);

#endif
