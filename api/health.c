/* health.c - GET /v1/health: the process is up. One response object, built at start and shared
 * by every request, so monitoring can poll it at any rate for nothing. (The pool issue adds the
 * database, the probe and the cached checks.) */
#include "api_internal.h"

struct MHD_Response *api_health(struct md_request *req, unsigned *ret_status)
{
	*ret_status = MHD_HTTP_OK;
	return req->api->health;
}
