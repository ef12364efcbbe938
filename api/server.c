/* server.c - the HTTP server: listening socket, libmicrohttpd setup and the life of a request
 * (see api.h for the thread model).
 *
 * libmicrohttpd calls the access handler several times per request. First call: route,
 * method, token, Content-Length and Content-Type are checked, and a refusal (404, 405, 401,
 * 403, 411, 413, 415) is answered at once. A response queued on the first call closes the
 * connection (libmicrohttpd 0.9.75), which is right for refusals and wrong for normal
 * answers, so those wait for the next call. Then the body arrives in pieces, buffered up to
 * max_body. Last call (no more data): the JSON body is parsed and the handler answers, or
 * suspends the connection and answers from a task (api_resume), after which libmicrohttpd
 * calls once more and the prepared response is queued. */
#include "api_internal.h"
#include "migrated/config.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/taskq.h"
#include "migrated/utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *api_query(struct md_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *api_header(struct md_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* ---- suspend and resume ---- */

struct task {
	struct md_request *req;
	void (*fn)(struct md_request *req);
};

static void run_task(void *ctx)
{
	struct task *t = ctx;
	t->fn(t->req);
	free(t);
}

void api_resume(struct md_request *req, struct MHD_Response *resp, unsigned status)
{
	struct MHD_Connection *conn = req->conn;
	req->pending = resp;
	req->pending_status = status;
	/* After this call the request may be answered and freed by another thread. */
	MHD_resume_connection(conn);
}

bool api_suspend(struct md_request *req, void (*fn)(struct md_request *req), struct MHD_Response **ret_now,
		 unsigned *ret_status)
{
	struct task *t = malloc(sizeof *t);
	*ret_now = NULL;
	if (!t) {
		*ret_now = api_error(503, "unavailable", "out of memory", NULL, ret_status);
		return false;
	}
	t->req = req;
	t->fn = fn;
	req->suspended = true;
	MHD_suspend_connection(req->conn);
	if (md_taskq_post(req->api->tasks, run_task, t) < 0) {
		free(t);
		unsigned st;
		struct MHD_Response *r = api_error(
			503, "unavailable", "too many requests are waiting for the database; retry shortly", NULL, &st);
		api_resume(req, r, st);
	}
	return true;
}

/* ---- the request life ---- */

/* Decides everything the headers can decide (admission.c). Returns a refusal, or NULL to go
 * on; a refusal that could not be built (no memory) leaves req->refused set, so the request
 * never reaches a handler: not without a route, not past a failed token check. */
static struct MHD_Response *first_call(struct md_request *req, const char *url, const char *method, unsigned *status)
{
	struct md_api *api = req->api;
	struct api_admission a;
	struct api_head h = {
		.method = method,
		.url = url,
		.authorization = api_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
		.content_length = api_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH),
		.transfer_encoding = api_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING),
		.content_type = api_header(req, MHD_HTTP_HEADER_CONTENT_TYPE),
		.accept = api_header(req, MHD_HTTP_HEADER_ACCEPT),
		.has_pretty = MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, "pretty", 6, NULL,
							    NULL) == MHD_YES,
		.pretty = api_query(req, "pretty"),
	};
	struct api_policy p = {.max_body = __atomic_load_n(&api->max_body, __ATOMIC_RELAXED)};

	/* The tokens and read_auth change on SIGHUP: read them together. */
	pthread_rwlock_rdlock(&api->tokens_lock);
	if (h.authorization && strncasecmp(h.authorization, "Bearer ", 7) == 0)
		req->role = md_tokens_check(api->deps.tokens, h.authorization + 7, req->actor, sizeof req->actor);
	p.read_auth = api->read_auth;
	p.metrics_auth = api->metrics_auth;
	p.tokens = md_tokens_count(api->deps.tokens);
	pthread_rwlock_unlock(&api->tokens_lock);
	p.role = req->role;

	api_admit(&h, &p, &a);
	req->route = a.route;
	snprintf(req->param, sizeof req->param, "%s", a.param);
	req->pretty = a.pretty;
	req->want_text = a.want_text;
	if (a.status == 0)
		return NULL;
	req->refused = true;
	return api_admission_response(&a, status);
}

static const unsigned counted_codes[API_N_CODES - 1] = {200, 202, 400, 401, 403, 404, 405,
							409, 411, 413, 415, 500, 503};

size_t api_code_slot(unsigned status)
{
	for (size_t i = 0; i < MD_ARRAY_SIZE(counted_codes); i++)
		if (counted_codes[i] == status)
			return i;
	return API_N_CODES - 1;
}

unsigned api_slot_code(size_t slot)
{
	return slot < MD_ARRAY_SIZE(counted_codes) ? counted_codes[slot] : 0;
}

void api_count(struct md_request *req, unsigned status)
{
	size_t route = api_route_index(req->route);
	if (route > API_MAX_ROUTES)
		route = API_MAX_ROUTES;
	__atomic_add_fetch(&req->api->http_counts[route][api_code_slot(status)], 1, __ATOMIC_RELAXED);
}

static enum MHD_Result queue(struct md_request *req, struct MHD_Response *r, unsigned status)
{
	enum MHD_Result ret;
	if (!r)
		return MHD_NO;
	req->answered = true;
	api_count(req, status);
	ret = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct md_api *api = cls;
	struct md_request *req = *con_cls;
	struct MHD_Response *r;
	unsigned status = MHD_HTTP_OK;
	(void)version;

	if (!req) {
		req = calloc(1, sizeof *req);
		if (!req)
			return MHD_NO;
		req->api = api;
		req->conn = conn;
		*con_cls = req;
		r = first_call(req, url, method, &status);
		if (r)
			return queue(req, r, status); /* a refusal: closing the connection is fine */
		return req->refused ? MHD_NO : MHD_YES;
	}
	if (req->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->body_too_large || req->body_len + n > __atomic_load_n(&api->max_body, __ATOMIC_RELAXED)) {
			req->body_too_large = true; /* keep reading, answer 413 at the end */
			return MHD_YES;
		}
		if (req->body_len + n + 1 > req->body_cap) {
			size_t cap = req->body_cap ? req->body_cap : 1024;
			while (cap < req->body_len + n + 1)
				cap *= 2;
			char *b = realloc(req->body, cap);
			if (!b)
				return MHD_NO;
			req->body = b;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->suspended) {
		req->suspended = false;
		if (req->pending)
			return queue(req, req->pending, req->pending_status);
		r = api_error(500, "internal", "resumed without an answer", NULL, &status);
		return queue(req, r, status);
	}
	if (req->body_too_large) {
		char msg[120];
		snprintf(msg, sizeof msg, "the body is larger than %zu bytes (max_body)",
			 __atomic_load_n(&api->max_body, __ATOMIC_RELAXED));
		r = api_error(413, "payload_too_large", msg, NULL, &status);
		return queue(req, r, status); /* status is set by api_error: not in one expression */
	}
	if (req->refused || !req->route)
		return MHD_NO; /* a refusal that could not be sent: close, never run a handler */
	r = req->route->handler(req, &status);
	if (!r)
		return req->suspended ? MHD_YES : req->answered ? req->queue_result : MHD_NO;
	return queue(req, r, status);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct md_request *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!req)
		return;
	if (req->bound)
		md_fleet_put(req->api->deps.fleet, &req->target);
	free(req->body);
	json_decref(req->json);
	free(req);
	*con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	md_utf8_scrub(line); /* libmicrohttpd quotes what the client sent */
	md_log(MD_LOG_DEBUG, "http: %s", line);
}

/* ---- the listening socket ---- */

static int listen_unix(struct md_api *api, const char *path, struct md_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		return md_error_set(err, MD_E_CONFIG, "unix socket path %s is too long", path);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket from a previous run */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return md_error_set(err, MD_E_CONFIG, "cannot listen on unix:%s: %s", path, strerror(e));
	}
	api->unix_path = strdup(path);
	snprintf(api->address, sizeof api->address, "unix:%s", path);
	return fd;
}

static int listen_tcp(struct md_api *api, const char *spec, struct md_error *err)
{
	char host[256], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
	const char *colon;
	int fd, one = 1, e;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':')
			return md_error_set(err, MD_E_CONFIG, "listen address %s: expected [IPv6]:PORT", spec);
		snprintf(host, sizeof host, "%.*s", (int)(end - spec - 1), spec + 1);
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return md_error_set(err, MD_E_CONFIG, "listen address %s: expected HOST:PORT or unix:/path",
					    spec);
		snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
	}
	snprintf(port, sizeof port, "%s", colon + 1);
	if ((e = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0)
		return md_error_set(err, MD_E_CONFIG, "listen address %s: %s", spec, gai_strerror(e));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		md_error_hint(err, "choose another --listen address, or stop what listens there");
		return md_error_set(err, MD_E_CONFIG, "cannot listen on %s: %s", spec, strerror(e));
	}
	freeaddrinfo(res);
	snprintf(api->address, sizeof api->address, "%s", spec);
	if (strcmp(port, "0") == 0) {
		/* Port 0: the kernel chose one; name it, or nobody can reach us. */
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		char num[NI_MAXHOST];
		if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
		    getnameinfo((struct sockaddr *)&sa, salen, num, sizeof num, port, sizeof port,
				NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(api->address, sizeof api->address, sa.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", num,
				 port);
	}
	return fd;
}

int md_api_start(const struct md_config *cfg, const struct md_api_deps *deps, int listen_fd, struct md_api **ret,
		 struct md_error *err)
{
	struct md_api *api = calloc(1, sizeof *api);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
	int fd, r;

	if (!api)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	api->deps = *deps;
	api->started_unix = (double)time(NULL);
	pthread_rwlock_init(&api->tokens_lock, NULL);
	api->read_auth = cfg->read_auth;
	api->metrics_auth = cfg->metrics_auth;
	api->max_body = (size_t)cfg->max_body_bytes;
	api->status_cache_ms = cfg->status_cache_ms;
	api->metrics_cache_ms = cfg->metrics_cache_ms;
	api_metrics_init(api);
	api->migrations_dir = strdup(cfg->migrations_dir);
	api->listen_fd = -1;
	api->tasks = md_taskq_start(2, (size_t)cfg->max_connections + 16);
	if (!api->migrations_dir || !api->tasks || api_health_init(api) < 0) {
		md_api_stop(api);
		return md_error_set(err, MD_E_NOMEM, "out of memory starting the HTTP server");
	}
	if (listen_fd >= 0) {
		fd = listen_fd;
		snprintf(api->address, sizeof api->address, "socket from systemd (fd %d)", listen_fd);
	} else if (strncmp(cfg->listen, "unix:", 5) == 0) {
		fd = listen_unix(api, cfg->listen + 5, err);
	} else {
		fd = listen_tcp(api, cfg->listen, err);
	}
	if (fd < 0) {
		r = fd;
		md_api_stop(api);
		return r;
	}
	api->listen_fd = fd;
	struct MHD_OptionItem ops[] = {
		{MHD_OPTION_LISTEN_SOCKET, fd, NULL},
		{MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads > 0 ? cfg->http_threads : 1, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_timeout_s, NULL},
		/* Per-connection memory for the request line and headers (431 beyond); bodies are
		 * copied out and capped by max_body. */
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, api},
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL},
		{api->unix_path ? MHD_OPTION_END : MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
		 NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, api, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!api->mhd) {
		md_api_stop(api);
		return md_error_set(err, MD_E_INTERNAL, "libmicrohttpd would not start on %s", cfg->listen);
	}
	api->listen_fd = -1; /* libmicrohttpd owns it now (until md_api_quiesce hands it back) */
	*ret = api;
	return 0;
}

struct md_tokens *md_api_reconfigure(struct md_api *api, const struct md_config *cfg, struct md_tokens *tokens)
{
	struct md_tokens *old;
	pthread_rwlock_wrlock(&api->tokens_lock);
	old = api->deps.tokens;
	api->deps.tokens = tokens;
	api->read_auth = cfg->read_auth;
	api->metrics_auth = cfg->metrics_auth;
	pthread_rwlock_unlock(&api->tokens_lock);
	__atomic_store_n(&api->max_body, (size_t)cfg->max_body_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&api->status_cache_ms, cfg->status_cache_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&api->metrics_cache_ms, cfg->metrics_cache_ms, __ATOMIC_RELAXED);
	return old;
}

const char *md_api_address(const struct md_api *api)
{
	return api->address;
}

void md_api_quiesce(struct md_api *api)
{
	if (api && api->mhd) {
		MHD_socket fd = MHD_quiesce_daemon(api->mhd);
		if (fd != MHD_INVALID_SOCKET)
			api->listen_fd = fd; /* ours to close now */
	}
}

void md_api_stop(struct md_api *api)
{
	if (!api)
		return;
	if (api->deps.probe)
		md_probe_on_update(api->deps.probe, NULL, NULL); /* waits for a round in progress */
	if (api->mhd)
		MHD_stop_daemon(api->mhd);
	md_taskq_stop(api->tasks);
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	if (api->unix_path) {
		unlink(api->unix_path);
		free(api->unix_path);
	}
	api_health_free(api);
	api_metrics_free(api);
	pthread_rwlock_destroy(&api->tokens_lock);
	free(api->migrations_dir);
	free(api);
}
