/* metrics.c - GET /metrics: Prometheus text format, every name prefixed migrated_. Rendered
 * from memory only (the registry, the pool's counters, the last probe, this server's request
 * counters): a scrape never reaches the database. A rendering is shared by the scrapes of the
 * next metrics_cache (1 s): Prometheus scrapes every 15 s or so, and a burst of scrapers then
 * costs what health costs instead of a rendering each. */
#include "api_internal.h"
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"
#include "migrated/notify.h"
#include "migrated/plan.h"
#include "migrated/pool.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static void gauge(FILE *out, const char *name, const char *help, double v)
{
	md_metrics_family(out, name, "gauge", help);
	md_metrics_sample(out, name, "", v);
}

static void counter(FILE *out, const char *name, const char *help, double v)
{
	md_metrics_family(out, name, "counter", help);
	md_metrics_sample(out, name, "", v);
}

static void write_http(FILE *out, struct md_api *api)
{
	char labels[256], esc[128];
	size_t n = api_route_count();
	md_metrics_family(out, "migrated_http_requests_total", "counter",
			  "HTTP requests answered, by route and status (route \"unmatched\": no such URL).");
	for (size_t r = 0; r <= n && r <= API_MAX_ROUTES; r++) {
		const struct route *rt = api_route_at(r);
		char route[96];
		if (rt)
			snprintf(route, sizeof route, "%s %s", rt->method, rt->pattern);
		else
			snprintf(route, sizeof route, "unmatched");
		for (size_t c = 0; c < API_N_CODES; c++) {
			uint64_t v = __atomic_load_n(&api->http_counts[r][c], __ATOMIC_RELAXED);
			if (!v)
				continue; /* absent series read as zero */
			unsigned code = api_slot_code(c);
			char codebuf[16];
			snprintf(codebuf, sizeof codebuf, code ? "%u" : "other", code);
			snprintf(labels, sizeof labels, "route=\"%s\",code=\"%s\"",
				 md_metrics_label_escape(route, esc, sizeof esc), codebuf);
			md_metrics_sample(out, "migrated_http_requests_total", labels, (double)v);
		}
	}
}

static void write_pool(FILE *out, struct md_pool *pool)
{
	struct md_pool_stats ps;
	md_pool_stats(pool, &ps);
	gauge(out, "migrated_pool_size", "Most connections the pool opens (pool_size).", ps.size);
	md_metrics_family(out, "migrated_pool_connections", "gauge", "Open pooled connections by state.");
	md_metrics_sample(out, "migrated_pool_connections", "state=\"idle\"", ps.open - ps.in_use);
	md_metrics_sample(out, "migrated_pool_connections", "state=\"in_use\"", ps.in_use);
	gauge(out, "migrated_pool_waiting", "Callers waiting for a pooled connection.", ps.waiting);
	counter(out, "migrated_pool_connections_opened_total", "Pooled connections opened.", (double)ps.opened);
	counter(out, "migrated_pool_connections_closed_total", "Pooled connections closed (idle, old or broken).",
		(double)ps.closed);
	counter(out, "migrated_pool_connections_broken_total",
		"Pooled connections found broken (terminated by the server, network).", (double)ps.broken);
	counter(out, "migrated_pool_connect_failures_total", "Failed attempts to open a pooled connection.",
		(double)ps.connect_failures);
	counter(out, "migrated_pool_acquire_timeouts_total", "Requests that found no free connection in time.",
		(double)ps.timeouts);
}

static void write_probe(FILE *out, struct md_health *h)
{
	static const char *const statuses[] = {"ok", "degraded", "down"};
	char labels[64];

	md_metrics_family(out, "migrated_health_status", "gauge", "1 for the current health status.");
	for (int i = 0; i < 3; i++) {
		snprintf(labels, sizeof labels, "status=\"%s\"", statuses[i]);
		md_metrics_sample(out, "migrated_health_status", labels, h && (int)h->status == i ? 1 : 0);
	}
	if (!h)
		return;
	gauge(out, "migrated_ready", "1 when /readyz answers 200.", h->ready);
	gauge(out, "migrated_database_up", "1 when the last probe's query answered.", h->db_up);
	gauge(out, "migrated_probe_timestamp_seconds", "Unix time of the last health probe.", h->taken_unix);
	gauge(out, "migrated_probe_duration_seconds", "How long the last health probe took.", h->duration_ms / 1000);
	if (h->db_up) {
		gauge(out, "migrated_database_latency_seconds", "Round trip of SELECT 1 in the last probe.",
		      h->latency_ms / 1000);
		gauge(out, "migrated_database_in_recovery", "1 when the database is a read-only standby.",
		      h->in_recovery);
		gauge(out, "migrated_database_connections", "Client connections on the database server.",
		      h->connections);
		gauge(out, "migrated_database_max_connections", "max_connections minus superuser_reserved_connections.",
		      h->max_connections);
		gauge(out, "migrated_migration_lock_held", "1 when a session holds the migration lock.", h->lock_held);
		gauge(out, "migrated_server_version_num", "The server's version (server_version_num).",
		      h->server_version);
	}
	if (h->snapshot_ok) {
		md_metrics_family(out, "migrated_migrations", "gauge",
				  "Migrations by state, folder against _prisma_migrations.");
		for (int i = 0; i < MD_MIG__COUNT; i++) {
			snprintf(labels, sizeof labels, "state=\"%s\"", md_mig_state_name((enum md_mig_state)i));
			md_metrics_sample(out, "migrated_migrations", labels, (double)h->migrations[i]);
		}
	}
}

static struct MHD_Response *render(struct md_api *api)
{
	char *buf = NULL, labels[128], esc[64];
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	struct md_health *h = api->deps.probe ? md_probe_get(api->deps.probe) : NULL;

	if (!out) {
		md_health_unref(h);
		return NULL;
	}
	md_metrics_family(out, "migrated_build_info", "gauge", "The running version.");
	snprintf(labels, sizeof labels, "version=\"%s\"", md_metrics_label_escape(PACKAGE_VERSION, esc, sizeof esc));
	md_metrics_sample(out, "migrated_build_info", labels, 1);
	gauge(out, "migrated_start_time_seconds", "Unix time the daemon started.", api->started_unix);
	write_probe(out, h);
	md_health_unref(h);
	md_job_metrics_write(out);
	md_notify_metrics_write(api->deps.notify, out);
	if (api->deps.pool)
		write_pool(out, api->deps.pool);
	md_fleet_metrics_write(api->deps.fleet, out);
	write_http(out, api);
	if (fclose(out) != 0 || !buf) {
		free(buf);
		return NULL;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return r;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void api_metrics_init(struct md_api *api)
{
	pthread_mutex_init(&api->metrics_lock, NULL);
}

void api_metrics_free(struct md_api *api)
{
	if (api->metrics)
		MHD_destroy_response(api->metrics);
	api->metrics = NULL;
	pthread_mutex_destroy(&api->metrics_lock);
}

struct MHD_Response *api_metrics(struct md_request *req, unsigned *ret_status)
{
	struct md_api *api = req->api;
	double now = mono_s();
	int ttl_ms = __atomic_load_n(&api->metrics_cache_ms, __ATOMIC_RELAXED);

	/* Rendering happens under the lock: concurrent scrapes wait for one rendering instead
	 * of each making its own. MHD holds its own reference to a queued response, so the old
	 * one can be dropped as soon as it is replaced. */
	pthread_mutex_lock(&api->metrics_lock);
	if (!api->metrics || (now - api->metrics_at) * 1000 >= ttl_ms) {
		struct MHD_Response *fresh = render(api);
		if (!fresh) {
			pthread_mutex_unlock(&api->metrics_lock);
			return api_error(500, "internal", "out of memory rendering the metrics", NULL, ret_status);
		}
		if (api->metrics)
			MHD_destroy_response(api->metrics);
		api->metrics = fresh;
		api->metrics_at = now;
	}
	req->queue_result = MHD_queue_response(req->conn, MHD_HTTP_OK, api->metrics);
	pthread_mutex_unlock(&api->metrics_lock);
	req->answered = true;
	api_count(req, MHD_HTTP_OK);
	return NULL;
}
