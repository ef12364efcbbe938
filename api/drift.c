/* drift.c - GET /v1/drift: the live schema against the schema its applied migrations build
 * (see include/migrated/drift.h): {"drift", "differences", fingerprints, whether it changed
 * since the last deploy}. Building the expected schema can take seconds the first time (a
 * shadow database); a check blocks on the database, so it runs on the task queue. */
#include "api_internal.h"
#include "migrated/jobs.h"

static void drift_task(struct md_request *req)
{
	struct md_error err = {0};
	json_t *rep = NULL;
	unsigned status = MHD_HTTP_OK;
	struct MHD_Response *r;

	if (md_jobs_drift(req->api->deps.jobs, &rep, &err) < 0)
		r = api_error_from(&err, &status);
	else
		r = api_json(req, rep);
	api_resume(req, r, status);
}

struct MHD_Response *api_drift(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, drift_task, &r, ret_status);
	return r;
}
