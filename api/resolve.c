/* resolve.c - POST /v1/resolve {"migration": NAME, "as": "applied" | "rolled-back"}: Prisma's
 * `migrate resolve` as a job (it takes the migration lock, which can take a while). The name
 * is checked here: one folder name, never a path. Needs the admin role. */
#include "api_internal.h"
#include "migrated/catalog.h"
#include "migrated/jobs.h"

#include <string.h>

static void resolve_task(struct md_request *req)
{
	unsigned status;
	struct MHD_Response *r = api_submit(req, MD_JOB_RESOLVE, json_incref(req->json), &status);
	api_resume(req, r, status);
}

struct MHD_Response *api_resolve(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	struct MHD_Response *r;
	const char *as;

	if (md_body_parse(req->body, req->body_len, api_resolve_body.fields, api_resolve_body.n, &req->json, &err) < 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message, NULL, ret_status);
	as = json_string_value(json_object_get(req->json, "as"));
	if (strcmp(as, "applied") != 0 && strcmp(as, "rolled-back") != 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "field \"as\" must be \"applied\" or \"rolled-back\"", NULL, ret_status);
	if (md_migration_name_check(json_string_value(json_object_get(req->json, "migration")), &err) < 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message,
				 json_pack("{s:s}", "field", "migration"), ret_status);
	if (!api_key_ok(api_header(req, "Idempotency-Key")))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Idempotency-Key must be 1 to 200 printable ASCII characters", NULL, ret_status);
	api_suspend(req, resolve_task, &r, ret_status);
	return r;
}
