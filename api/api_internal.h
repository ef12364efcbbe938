/* api_internal.h - shared by the files of api/: the request context, the route table's shape,
 * and the helpers that build responses. Not a public header (include/migrated/api.h is). */
#ifndef MIGRATED_API_INTERNAL_H
#define MIGRATED_API_INTERNAL_H

#include "migrated/api.h"
#include "migrated/error.h"
#include "migrated/fleet.h"
#include "migrated/jobs.h"
#include "migrated/probe.h"
#include "migrated/tokens.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct md_taskq;
struct md_request;

/* A handler answers now (returns a response to queue) or suspends the connection and answers
 * later through api_resume() (returns NULL with req->suspended set). */
typedef struct MHD_Response *(*md_handler_fn)(struct md_request *req, unsigned *ret_status);

enum route_flags {
	ROUTE_BODY = 1 << 0,          /* takes a JSON body */
	ROUTE_BODY_REQUIRED = 1 << 1, /* ... and cannot do without one (411 when absent) */
	ROUTE_METRICS = 1 << 2,       /* open unless metrics_auth (a Prometheus scrape) */
};

struct route {
	const char *method;
	const char *pattern; /* "/v1/jobs/{id}/events": {id} is one path segment */
	enum md_role role;   /* least role needed; MD_ROLE_NONE = open */
	unsigned flags;
	md_handler_fn handler;
};

/* HTTP answers counted per route (plus one slot for unmatched URLs) and status. */
#define API_MAX_ROUTES 48
#define API_N_CODES    14 /* see api_code_slot() */

struct md_api {
	struct MHD_Daemon *mhd;
	struct md_api_deps deps;
	struct md_taskq *tasks;
	int listen_fd;
	char address[300];
	char *unix_path;              /* unlinked on stop */
	pthread_rwlock_t tokens_lock; /* deps.tokens and read_auth (swapped on SIGHUP) */
	bool read_auth;
	bool metrics_auth;
	size_t max_body;
	int status_cache_ms;
	char *migrations_dir;
	/* Health answers, rebuilt after each probe and shared by every request (health.c). */
	pthread_mutex_t health_lock;
	bool health_lock_ready;
	struct MHD_Response *health[2]; /* compact, indented */
	unsigned health_status;
	struct MHD_Response *ready;
	unsigned ready_status;
	struct MHD_Response *live;                             /* /healthz: constant */
	uint64_t http_counts[API_MAX_ROUTES + 1][API_N_CODES]; /* relaxed atomics */
	/* The last /metrics scrape, answered again for metrics_cache (metrics.c). */
	pthread_mutex_t metrics_lock;
	struct MHD_Response *metrics;
	double metrics_at; /* monotonic seconds */
	int metrics_cache_ms;
	double started_unix;
};

struct md_request {
	struct md_api *api;
	struct MHD_Connection *conn;
	const struct route *route;
	char param[80];    /* the {id} of the path */
	enum md_role role; /* of the presented token */
	char actor[64];    /* the token's name, "" when none */
	bool pretty;       /* ?pretty, or a curl client */
	bool want_text;    /* Accept: text/plain */
	char *body;
	size_t body_len, body_cap;
	bool body_too_large;
	json_t *json;                 /* the parsed body */
	bool answered;                /* a response was queued */
	bool refused;                 /* the first call refused it: no handler runs */
	enum MHD_Result queue_result; /* of a response the handler queued itself (api_queue_shared) */
	bool suspended;
	struct MHD_Response *pending; /* set by a task, queued when resumed */
	unsigned pending_status;
	/* The target of a per-target route (/v1/targets/{name}/...), borrowed until the request
	 * ends; unbound, the request is about the default target (DATABASE_URL). */
	bool bound;
	struct md_fleet_target target;
};

/* What a request is about (targets.c): the default target's pool, snapshot, folder and
 * backups, or those of the target bound by a per-target route. api_req_target: the bound
 * target's name, NULL for the default. api_req_backup_dir: malloc'd, NULL without memory. */
struct md_pool *api_req_pool(struct md_request *req);
struct md_snapshot *api_req_snapshot(struct md_request *req);
const char *api_req_dir(struct md_request *req);
const char *api_req_target(struct md_request *req);
char *api_req_backup_dir(struct md_request *req);

/* Route table (routes.c). api_route_index: a route's position, api_route_count() for NULL. */
size_t api_route_count(void);
const struct route *api_route_at(size_t i);
size_t api_route_index(const struct route *r);
const struct route *api_route_find(const char *method, const char *url, char *param, size_t paramsz, char *allow,
				   size_t allowsz, bool *ret_path_known);

/* Admission (admission.c): what the request line and headers decide before a body is read. */
struct api_head {
	const char *method, *url; /* as libmicrohttpd decoded them; NULL reads as "" */
	const char *authorization, *content_length, *transfer_encoding, *content_type, *accept;
	bool has_pretty;    /* ?pretty was given ... */
	const char *pretty; /* ... with this value (NULL: none) */
};
struct api_policy {
	bool read_auth, metrics_auth;
	size_t tokens;     /* how many tokens are configured */
	enum md_role role; /* of the token presented (MD_ROLE_NONE: none, or not valid) */
	size_t max_body;
};
struct api_admission {
	const struct route *route; /* NULL when no route takes this method and path */
	char param[80];            /* the {id} of the path */
	bool pretty, want_text;
	unsigned status;   /* 0: admitted; else the status of the refusal */
	const char *code;  /* the refusal's error code (static) */
	char message[400]; /* may quote the request: api_error makes it UTF-8 */
	enum md_role role, need;
	bool no_tokens, www_authenticate;
	char allow[64]; /* the methods the path takes, for a 405 */
};
/* api_admit: fills *ret from the head and policy; never fails. A refusal has status != 0;
 * status == 0 implies route != NULL and policy->role >= need. */
void api_admit(const struct api_head *head, const struct api_policy *policy, struct api_admission *ret);
/* api_admission_response: the refusal as a response in the one error shape (NULL: no memory). */
struct MHD_Response *api_admission_response(const struct api_admission *a, unsigned *ret_status);

/* Responses (server.c). */
struct MHD_Response *api_with_json_headers(struct MHD_Response *r);
struct MHD_Response *api_json(struct md_request *req, json_t *body /* taken */);
struct MHD_Response *api_text(const char *text, size_t len, bool copy);
/* api_error_document: {"error": {"code", "message", "detail"}} with the message redacted and
 * made valid UTF-8 (new reference; NULL only without memory). */
json_t *api_error_document(const char *code, const char *message, json_t *detail /* taken */);
struct MHD_Response *api_error(unsigned status, const char *code, const char *message, json_t *detail /* taken */,
			       unsigned *ret_status);
/* api_error_from: an md_error as a response with the status its code calls for. */
struct MHD_Response *api_error_from(const struct md_error *err, unsigned *ret_status);
/* api_suspend: suspend req's connection and run fn(req) on the task queue; fn must end with
 * api_resume(). Returns false (and answers 503) when the queue is full. */
bool api_suspend(struct md_request *req, void (*fn)(struct md_request *req), struct MHD_Response **ret_now,
		 unsigned *ret_status);
void api_resume(struct md_request *req, struct MHD_Response *resp, unsigned status);
const char *api_query(struct md_request *req, const char *key);
const char *api_header(struct md_request *req, const char *name);

/* Request bodies (body.c). */
enum md_field_type { MD_FIELD_BOOL, MD_FIELD_STRING };
struct md_body_field {
	const char *name;
	enum md_field_type type;
	bool required;
	size_t max_len; /* strings */
};
/* md_body_parse: an empty body is {}; anything else must be a JSON object whose fields are all
 * in fields[] with the right types. MD_E_USAGE with a message naming the field or position. */
int md_body_parse(const char *buf, size_t len, const struct md_body_field *fields, size_t n, json_t **ret,
		  struct md_error *err);
/* The body each route takes (body.c): one table a route, the only place its fields are named. */
struct md_body_schema {
	const struct md_body_field *fields;
	size_t n;
};
extern const struct md_body_schema api_deploy_body, api_resolve_body, api_rollback_body, api_backup_body;

struct md_snapshot_view;
/* api_status_response: the status answer for a view (status.c). */
struct MHD_Response *api_status_response(struct md_request *req, struct md_snapshot_view *v, unsigned *status);

/* api_submit: record a job and answer 202 (200 for a known Idempotency-Key), 409, 503
 * (deploy.c); api_key_ok: an Idempotency-Key is acceptable. */
struct MHD_Response *api_submit(struct md_request *req, enum md_job_kind kind, json_t *request, unsigned *status);
bool api_key_ok(const char *key);

/* api_lint_folder: lint the migrations folder (pending_only: those a deploy would apply now,
 * read on a pooled connection) into rep; *ret_gate is lint_gate (lint.c). */
struct md_lint_report;
int api_lint_folder(struct md_request *req, bool pending_only, struct md_lint_report *rep, int *ret_gate,
		    struct md_error *err);

/* api_count: one answer with this status (server.c); api_code_slot/api_slot_code map statuses
 * to counter slots. */
void api_count(struct md_request *req, unsigned status);
size_t api_code_slot(unsigned status);
unsigned api_slot_code(size_t slot); /* 0 for the "other" slot */

/* Health answers (health.c): built at start, replaced after each probe. */
int api_health_init(struct md_api *api);
void api_health_free(struct md_api *api);

/* The /metrics cache (metrics.c). */
void api_metrics_init(struct md_api *api);
void api_metrics_free(struct md_api *api);

/* Handlers. */
struct MHD_Response *api_health(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_healthz(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_readyz(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_metrics(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_status(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_deploy(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_resolve(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_plan(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_jobs_list(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_job_get(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_job_cancel(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_job_events(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_rollback(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_lint(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_drift(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_backups_list(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_backups_post(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_notifications_list(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_notifications_test(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_console_root(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_console_file(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_whoami(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_targets_list(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_status(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_plan(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_drift(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_backups(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_deploy(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_resolve(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_target_rollback(struct md_request *req, unsigned *ret_status);
struct MHD_Response *api_fleet_deploy(struct md_request *req, unsigned *ret_status);

/* The console's files (console_files.c, generated from ui/ by scripts/embed-ui.py). */
struct api_console_file {
	const char *name; /* "app.js" */
	const char *type; /* Content-Type */
	const char *etag; /* "\"sha256 prefix\"" */
	const unsigned char *data;
	size_t len;
};
/* api_console_files: the table and its length (static storage). api_console_find: by name, NULL
 * when the console has no such file. */
const struct api_console_file *api_console_files(size_t *ret_n);
const struct api_console_file *api_console_find(const char *name);

#endif
