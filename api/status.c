/* status.c - GET /v1/status: every migration's state, from the status snapshot (no SQL while it
 * is younger than status_cache; ?fresh=1 asks for a new one). JSON, indented JSON (?pretty or
 * curl), or the text table with Accept: text/plain. The body is the snapshot's own buffer: no
 * copy per request. */
#include "api_internal.h"
#include "migrated/snapshot.h"

#include <string.h>

static void release_view(void *cls)
{
	md_snapshot_view_unref(cls);
}

/* A response whose body is the view's buffer; the response keeps the view alive. */
struct MHD_Response *api_status_response(struct md_request *req, struct md_snapshot_view *v, unsigned *status)
{
	enum md_snapshot_format f = req->want_text ? MD_SNAP_TEXT : req->pretty ? MD_SNAP_PRETTY : MD_SNAP_JSON;
	struct MHD_Response *r;
	const char *body;
	size_t len;

	if (!v->ok)
		return api_error_from(&v->error, status);
	body = md_snapshot_body(v, f, &len);
	if (!body)
		return api_error(500, "internal", "out of memory rendering the status", NULL, status);
	md_snapshot_view_ref(v);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)body, release_view, v);
	if (!r) {
		md_snapshot_view_unref(v);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				f == MD_SNAP_TEXT ? "text/plain; charset=utf-8" : "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	*status = MHD_HTTP_OK;
	return r;
}

static void refresh_task(struct md_request *req)
{
	unsigned status;
	struct md_snapshot_view *v = md_snapshot_refresh(api_req_snapshot(req),
							 __atomic_load_n(&req->api->status_cache_ms, __ATOMIC_RELAXED));
	struct MHD_Response *r =
		v ? api_status_response(req, v, &status) : api_error(500, "internal", "out of memory", NULL, &status);
	md_snapshot_view_unref(v);
	api_resume(req, r, status);
}

struct MHD_Response *api_status(struct md_request *req, unsigned *ret_status)
{
	const char *fresh = api_query(req, "fresh");
	struct md_snapshot_view *v = NULL;
	struct MHD_Response *r;

	if (!fresh || strcmp(fresh, "0") == 0)
		v = md_snapshot_get(api_req_snapshot(req),
				    __atomic_load_n(&req->api->status_cache_ms, __ATOMIC_RELAXED));
	else
		md_snapshot_invalidate(api_req_snapshot(req));
	if (v) {
		r = api_status_response(req, v, ret_status);
		md_snapshot_view_unref(v);
		return r;
	}
	api_suspend(req, refresh_task, &r, ret_status);
	return r;
}
