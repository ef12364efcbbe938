/* health.c - GET /v1/health, /readyz and /healthz. The probe (daemon/service/probe.c) does the
 * work in the background; after each round the answers are rebuilt once here and every request
 * shares them, so monitoring can poll at any rate without reaching the database.
 *   /v1/health  ok | degraded (200) or down (503), with the checks; ?live=1 probes now
 *   /readyz     200 when the schema is ready (reachable, nothing failed, up to date), else 503
 *   /healthz    200 while the process answers (liveness) */
#include "api_internal.h"

#include <stdlib.h>
#include <string.h>

static const char live_body[] = "{\"status\":\"ok\"}\n";
static const char starting_body[] =
	"{\"status\":\"degraded\",\"ready\":false,\"checks\":[{\"name\":\"process\",\"status\":\"ok\"},"
	"{\"name\":\"probe\",\"status\":\"degraded\",\"message\":\"the first health probe has not finished yet\"}]}\n";
static const char starting_ready[] =
	"{\"ready\":false,\"reasons\":[\"the first health probe has not finished yet\"]}\n";
static const char no_probe_body[] = "{\"status\":\"ok\",\"checks\":[{\"name\":\"process\",\"status\":\"ok\"}]}\n";

static struct MHD_Response *copy_json(const char *s)
{
	return api_with_json_headers(MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY));
}

static struct MHD_Response *static_json(const char *s)
{
	return api_with_json_headers(MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_PERSISTENT));
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
	struct MHD_Response *fresh[3] = {copy_json(h->json), copy_json(h->json_pretty), copy_json(h->ready_json)};
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
		r = copy_json(req->pretty ? h->json_pretty : h->json);
		status = health_code(h);
		md_health_unref(h);
	} else {
		r = api_error(500, "internal", "out of memory", NULL, &status);
	}
	api_resume(req, r, status);
}

struct MHD_Response *api_health(struct md_request *req, unsigned *ret_status)
{
	const char *live = api_query(req, "live");
	(void)ret_status;
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
	(void)ret_status;
	return queue_shared(req, &req->api->ready, &req->api->ready_status);
}

struct MHD_Response *api_healthz(struct md_request *req, unsigned *ret_status)
{
	static unsigned ok = MHD_HTTP_OK;
	(void)ret_status;
	return queue_shared(req, &req->api->live, &ok);
}
