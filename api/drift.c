/* drift.c - GET /v1/drift: the live schema against the schema its applied migrations build
 * (see include/migrated/drift.h): {"drift", "differences", fingerprints, whether it changed
 * since the last deploy}. ?shadow=0 compares fingerprints only (no shadow database: whether the
 * schema changed since the last deploy). Building the expected schema can take seconds the
 * first time (a shadow database); a check blocks on the database, so it runs on the task queue. */
#include "api_internal.h"
#include "migrated/jobs.h"

#include <string.h>

static void drift_task(struct md_request *req)
{
	struct md_error err = {0};
	json_t *rep = NULL;
	unsigned status = MHD_HTTP_OK;
	struct MHD_Response *r;

	const char *shadow = api_query(req, "shadow");
	bool with_shadow = !shadow || !(strcmp(shadow, "0") == 0 || strcmp(shadow, "false") == 0);
	int rc = md_jobs_drift_target(req->api->deps.jobs, api_req_target(req), with_shadow, &rep, &err);
	if (rc == MD_E_CONFIG)
		/* No shadow to be had here: a conflict with the configuration, not a server fault. */
		r = api_error(MHD_HTTP_CONFLICT, "shadow_unavailable", err.message,
			      json_pack("{s:s, s:s}", "hint", err.hint[0] ? err.hint : "set SHADOW_DATABASE_URL",
					"without_shadow",
					"GET /v1/drift?shadow=0 compares the schema's fingerprint with the one the "
					"last deploy recorded"),
			      &status);
	else if (rc < 0)
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
