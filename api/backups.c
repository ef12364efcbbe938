/* backups.c - GET /v1/backups: the backups in the backup folder, newest first (read role);
 * POST /v1/backups: take one now, as a job (deploy role). Reading the folder is file I/O, so
 * it runs on the task queue. */
#include "api_internal.h"
#include "migrated/backup.h"
#include "migrated/jobs.h"
#include "migrated/report.h"
#include "migrated/settings.h"

#include <stdlib.h>

static void list_task(struct md_request *req)
{
	struct md_error err = {0};
	struct md_backup *list = NULL;
	size_t n = 0, unreadable = 0;
	unsigned status = MHD_HTTP_OK;
	struct MHD_Response *r;
	char *dir = api_req_backup_dir(req);

	if (!dir)
		r = api_error(503, "unavailable", "out of memory", NULL, &status);
	else if (md_backup_list(dir, &list, &n, &unreadable, &err) < 0)
		r = api_error_from(&err, &status);
	else
		r = api_json(req, md_report_backups_json(dir, list, n, unreadable));
	free(list);
	free(dir);
	api_resume(req, r, status);
}

struct MHD_Response *api_backups_list(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, list_task, &r, ret_status);
	return r;
}

static void take_task(struct md_request *req)
{
	unsigned status;
	struct MHD_Response *r = api_submit(req, MD_JOB_BACKUP, json_incref(req->json), &status);
	api_resume(req, r, status);
}

struct MHD_Response *api_backups_post(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	struct MHD_Response *r;

	if (md_body_parse(req->body, req->body_len, api_backup_body.fields, api_backup_body.n, &req->json, &err) < 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message, NULL, ret_status);
	if (!api_key_ok(api_header(req, "Idempotency-Key")))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Idempotency-Key must be 1 to 200 printable ASCII characters", NULL, ret_status);
	api_suspend(req, take_task, &r, ret_status);
	return r;
}
