/* health.c - GET /v1/health, /readyz and /healthz. The probe (daemon/service/probe.c) does the
 * work in the background and hands over a typed result; after each round the answers are
 * rendered once here and every request shares them, so monitoring can poll at any rate
 * without reaching the database.
 *   /v1/health  ok | degraded (200) or down (503), with the checks; ?live=1 probes now
 *   /readyz     200 when the schema is ready (reachable, nothing failed, up to date), else 503
 *   /healthz    200 while the process answers (liveness) */
#include "api_internal.h"
#include "migrated/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char live_body[] = "{\"status\":\"ok\"}\n";
static const char starting_body[] =
	"{\"status\":\"degraded\",\"ready\":false,\"checks\":[{\"name\":\"process\",\"status\":\"ok\"},"
	"{\"name\":\"probe\",\"status\":\"degraded\",\"message\":\"the first health probe has not finished yet\"}]}\n";
static const char starting_ready[] =
	"{\"ready\":false,\"reasons\":[\"the first health probe has not finished yet\"]}\n";
static const char no_probe_body[] = "{\"status\":\"ok\",\"checks\":[{\"name\":\"process\",\"status\":\"ok\"}]}\n";

static struct MHD_Response *static_json(const char *s)
{
	return api_with_json_headers(MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_PERSISTENT));
}

/* ---- the probe's typed result as the documents monitoring reads ---- */

static void iso_time(double t, char *buf, size_t sz)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, sz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((t - (double)s) * 1000));
}

/* GET /v1/health: {"status", "ready", "probed_at", "probe_ms", "checks": [{"name", "status",
 * "message"?, then the check's figures}]}. */
static json_t *health_doc(const struct md_health *h)
{
	char when[64];
	json_t *checks = json_array();
	iso_time(h->taken_unix, when, sizeof when);
	for (size_t i = 0; i < h->n_checks; i++) {
		const struct md_health_check *c = &h->checks[i];
		json_t *o = json_pack("{s:s, s:s, s:s*}", "name", c->name, "status", md_health_status_name(c->status),
				      "message", c->message);
		if (o && c->detail)
			json_object_update(o, c->detail);
		json_array_append_new(checks, o);
	}
	return json_pack("{s:s, s:b, s:s, s:f, s:o}", "status", md_health_status_name(h->status), "ready", h->ready,
			 "probed_at", when, "probe_ms", h->duration_ms, "checks", checks);
}

/* GET /readyz: {"ready", "probed_at", "reasons": [...]}. */
static json_t *ready_doc(const struct md_health *h)
{
	char when[64];
	json_t *reasons = json_array();
	iso_time(h->taken_unix, when, sizeof when);
	for (size_t i = 0; i < h->n_reasons; i++)
		json_array_append_new(reasons, json_string(h->reasons[i]));
	return json_pack("{s:b, s:s, s:o}", "ready", h->ready, "probed_at", when, "reasons", reasons);
}

/* A document as a response that owns its text. */
static struct MHD_Response *doc_response(json_t *doc, size_t flags)
{
	char *text = md_report_dump(doc, flags | JSON_REAL_PRECISION(6));
	json_decref(doc);
	if (!text)
		return NULL;
	return api_with_json_headers(MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE));
}

static unsigned health_code(const struct md_health *h)
{
	return h->status == MD_HEALTH_DOWN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
}

/* Replaces the shared answers (on the probe thread). Requests queue them under health_lock, and
 * MHD keeps its own reference to a queued response, so dropping ours after the swap is safe. */
static void on_probe(void *ctx, struct md_health *h)
{
	struct md_api *api = ctx;
	struct MHD_Response *fresh[3] = {doc_response(health_doc(h), JSON_COMPACT),
					 doc_response(health_doc(h), JSON_INDENT(2)),
					 doc_response(ready_doc(h), JSON_COMPACT)};
	struct MHD_Response *old[3];

	if (!fresh[0] || !fresh[1] || !fresh[2]) {
		for (int i = 0; i < 3; i++)
			if (fresh[i])
				MHD_destroy_response(fresh[i]);
		return; /* out of memory: keep the previous answers */
	}
	pthread_mutex_lock(&api->health_lock);
	old[0] = api->health[0];
	old[1] = api->health[1];
	old[2] = api->ready;
	api->health[0] = fresh[0];
	api->health[1] = fresh[1];
	api->ready = fresh[2];
	api->health_status = health_code(h);
	api->ready_status = h->ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
	pthread_mutex_unlock(&api->health_lock);
	for (int i = 0; i < 3; i++)
		if (old[i])
			MHD_destroy_response(old[i]);
}

int api_health_init(struct md_api *api)
{
	struct md_health *h;

	pthread_mutex_init(&api->health_lock, NULL);
	api->health_lock_ready = true;
	api->live = static_json(live_body);
	if (!api->deps.probe) {
		api->health[0] = static_json(no_probe_body);
		api->health[1] = static_json(no_probe_body);
		api->ready = static_json(starting_ready);
		api->health_status = MHD_HTTP_OK;
		api->ready_status = MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if ((h = md_probe_get(api->deps.probe))) {
		on_probe(api, h);
		md_health_unref(h);
	} else {
		api->health[0] = static_json(starting_body);
		api->health[1] = static_json(starting_body);
		api->ready = static_json(starting_ready);
		api->health_status = MHD_HTTP_OK;
		api->ready_status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	if (!api->live || !api->health[0] || !api->health[1] || !api->ready)
		return MD_E_NOMEM;
	if (api->deps.probe)
		md_probe_on_update(api->deps.probe, on_probe, api);
	return 0;
}

void api_health_free(struct md_api *api)
{
	struct MHD_Response *all[4] = {api->health[0], api->health[1], api->ready, api->live};
	for (int i = 0; i < 4; i++)
		if (all[i])
			MHD_destroy_response(all[i]);
	if (api->health_lock_ready)
		pthread_mutex_destroy(&api->health_lock);
}

/* Queues one of the shared answers itself: the pointer is only valid under the lock. */
static struct MHD_Response *queue_shared(struct md_request *req, struct MHD_Response **which, unsigned *status_of)
{
	struct md_api *api = req->api;
	unsigned status;
	pthread_mutex_lock(&api->health_lock);
	status = *status_of;
	req->queue_result = MHD_queue_response(req->conn, status, *which);
	pthread_mutex_unlock(&api->health_lock);
	req->answered = true;
	api_count(req, status);
	return NULL;
}

static void live_task(struct md_request *req)
{
	struct md_health *h = md_probe_now(req->api->deps.probe, 100);
	unsigned status;
	struct MHD_Response *r;

	if (h) {
		r = doc_response(health_doc(h), req->pretty ? JSON_INDENT(2) : JSON_COMPACT);
		status = health_code(h);
		md_health_unref(h);
	} else {
		r = api_error(500, "internal", "out of memory", NULL, &status);
	}
	api_resume(req, r, status);
}

/* ?target=NAME: that target's health from the fleet probe (503 when it is down, or for
 * /readyz when it is not ready); "default" is the daemon's own answer. NULL: no such query. */
static struct MHD_Response *target_health(struct md_request *req, bool readiness, unsigned *ret_status)
{
	struct md_error err = {0};
	const char *name = api_query(req, "target");
	if (!name || strcmp(name, "default") == 0)
		return NULL;
	json_t *h = md_fleet_target_health(req->api->deps.fleet, name, &err);
	if (!h) {
		md_error_hint(&err, "GET /v1/targets lists the targets");
		return api_error_from(&err, ret_status);
	}
	bool bad = readiness ? !json_is_true(json_object_get(h, "ready"))
			     : strcmp(json_string_value(json_object_get(h, "status")), "down") == 0 ||
				       strcmp(json_string_value(json_object_get(h, "status")), "unknown") == 0;
	*ret_status = bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
	return api_json(req, h);
}

struct MHD_Response *api_health(struct md_request *req, unsigned *ret_status)
{
	const char *live = api_query(req, "live");
	struct MHD_Response *t = target_health(req, false, ret_status);
	if (t)
		return t;
	if (live && strcmp(live, "0") != 0 && strcmp(live, "false") != 0 && req->api->deps.probe) {
		/* A probe now, shared with concurrent ?live callers (at most ten a second). */
		struct MHD_Response *r;
		api_suspend(req, live_task, &r, ret_status);
		return r;
	}
	return queue_shared(req, &req->api->health[req->pretty ? 1 : 0], &req->api->health_status);
}

struct MHD_Response *api_readyz(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *t = target_health(req, true, ret_status);
	if (t)
		return t;
	return queue_shared(req, &req->api->ready, &req->api->ready_status);
}

struct MHD_Response *api_healthz(struct md_request *req, unsigned *ret_status)
{
	static unsigned ok = MHD_HTTP_OK;
	(void)ret_status;
	return queue_shared(req, &req->api->live, &ok);
}
