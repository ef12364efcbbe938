/* notifications.c - GET /v1/notifications (the recent deliveries of the notifier, newest
 * first: ?limit=, default 100) and POST /v1/notifications/test (a "test" event to every
 * endpoint now, answered with each one's result). The test waits on the network, so it runs
 * on the task queue; the list is read from memory. Not here: the notifier (notify.h). */
#include "api_internal.h"
#include "migrated/notify.h"

#include <stdlib.h>

struct MHD_Response *api_notifications_list(struct md_request *req, unsigned *ret_status)
{
	const char *l = api_query(req, "limit");
	long limit = l ? strtol(l, NULL, 10) : 100;
	if (limit < 1 || limit > 1000)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", "limit must be from 1 to 1000", NULL, ret_status);
	json_t *list = req->api->deps.notify ? md_notify_list(req->api->deps.notify, (size_t)limit)
					     : json_pack("{s:[]}", "deliveries");
	if (!list)
		return api_error(500, "internal", "out of memory", NULL, ret_status);
	*ret_status = MHD_HTTP_OK;
	return api_json(req, list);
}

static void test_task(struct md_request *req)
{
	unsigned status = MHD_HTTP_OK;
	struct MHD_Response *r;
	json_t *res = req->api->deps.notify ? md_notify_test(req->api->deps.notify) : json_pack("{s:[]}", "results");
	if (!res)
		r = api_error(500, "internal", "out of memory", NULL, &status);
	else
		r = api_json(req, res);
	api_resume(req, r, status);
}

struct MHD_Response *api_notifications_test(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, test_task, &r, ret_status);
	return r;
}
