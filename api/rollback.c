/* rollback.c - POST /v1/rollback (admin role), as a job:
 *   {"strategy": "down", "to": NAME}   run the down.sql files of everything applied after NAME;
 *       refused up front (422, listing them) when one of them has no down.sql;
 *   {"strategy": "restore", "backup": ID, "confirm": true}   restore a backup after a fresh
 *       safety backup; without "confirm" a 400 says what would be lost.
 * The checks read the folder, the database and the backups: they run on the task queue. */
#include "api_internal.h"
#include "migrated/settings.h"
#include "migrated/backup.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/history.h"
#include "migrated/jobs.h"
#include "migrated/macro.h"
#include "migrated/plan.h"
#include "migrated/pool.h"
#include "migrated/rollback.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The down rollback's range on the database now: 422 when a down.sql is missing. */
static struct MHD_Response *check_down(struct md_request *req, const char *to, unsigned *status)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;
	struct md_rollback_range range = {0};
	struct MHD_Response *resp = NULL;

	int r = md_catalog_load(api_req_dir(req), MD_CATALOG_PROBE_DOWN, &cat, &err);
	if (r == 0)
		r = md_pool_acquire(api_req_pool(req), -1, 0, &db, &err);
	if (r == 0)
		r = md_history_load(db, &hist, &err);
	if (r == 0)
		r = md_plan_build(cat, hist, &plan, &err);
	if (r == 0)
		r = md_rollback_range_build(plan, to, db->server_version_num, &range, &err);
	if (r == 0 && md_rollback_range_refusal(&range, to, &err) < 0) {
		json_t *list = json_array(), *in_range = json_array();
		for (size_t i = 0; i < range.n; i++) {
			json_array_append_new(in_range, json_string(range.items[i].name));
			if (range.items[i].run_down && !range.items[i].has_down)
				json_array_append_new(list, json_string(range.items[i].name));
		}
		resp = api_error(
			MHD_HTTP_UNPROCESSABLE_CONTENT, "rollback_refused", err.message,
			json_pack("{s:o, s:o, s:s}", "without_down_sql", list, "range", in_range, "hint", err.hint),
			status);
	} else if (r < 0) {
		resp = api_error_from(&err, status);
	}
	md_rollback_range_free(&range);
	md_plan_free(plan);
	md_history_free(hist);
	md_pool_release(api_req_pool(req), db);
	md_catalog_free(cat);
	return resp;
}

/* A restore: the backup must exist, and without "confirm" the answer says what would be lost. */
static struct MHD_Response *check_restore(struct md_request *req, const char *id, bool confirm, unsigned *status)
{
	struct md_error err = {0};
	json_t *b = NULL;
	char msg[600];

	char *dir = api_req_backup_dir(req);
	struct md_backup found;
	int fr = dir ? md_backup_find(dir, id, &found, &err) : md_error_set(&err, MD_E_NOMEM, "out of memory");
	free(dir);
	if (fr < 0)
		return api_error_from(&err, status);
	b = md_backup_json(&found);
	if (confirm) {
		json_decref(b);
		return NULL;
	}
	double age = (double)time(NULL) - json_number_value(json_object_get(b, "created_unix"));
	const char *head = json_string_value(json_object_get(b, "head"));
	snprintf(msg, sizeof msg,
		 "restoring backup %s replaces the database with its state of %s (%.0f minutes ago, %s): every "
		 "write since then is discarded. A safety backup is taken first. Send \"confirm\": true to go on",
		 id, json_string_value(json_object_get(b, "created_at")), age / 60,
		 head ? "last migration then: " : "no migration applied then");
	if (head)
		snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (%s)", head);
	return api_error(MHD_HTTP_BAD_REQUEST, "confirm_required", msg,
			 json_pack("{s:o, s:f, s:b}", "backup", b, "age_s", age, "writes_since_discarded", 1), status);
}

static void rollback_task(struct md_request *req)
{
	unsigned status = 0;
	const char *strategy = json_string_value(json_object_get(req->json, "strategy"));
	struct MHD_Response *r;

	if (strcmp(strategy, "down") == 0)
		r = check_down(req, json_string_value(json_object_get(req->json, "to")), &status);
	else
		r = check_restore(req, json_string_value(json_object_get(req->json, "backup")),
				  json_is_true(json_object_get(req->json, "confirm")), &status);
	if (!r)
		r = api_submit(req, MD_JOB_ROLLBACK, json_incref(req->json), &status);
	api_resume(req, r, status);
}

struct MHD_Response *api_rollback(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	struct MHD_Response *r;

	if (md_body_parse(req->body, req->body_len, api_rollback_body.fields, api_rollback_body.n, &req->json, &err) <
	    0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message, NULL, ret_status);
	const char *strategy = json_string_value(json_object_get(req->json, "strategy"));
	json_t *to = json_object_get(req->json, "to"), *backup = json_object_get(req->json, "backup");
	if (strcmp(strategy, "down") == 0) {
		if (!to || backup || json_object_get(req->json, "confirm"))
			return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
					 "strategy \"down\" takes \"to\": the last migration that stays applied", NULL,
					 ret_status);
		if (md_migration_name_check(json_string_value(to), &err) < 0)
			return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message,
					 json_pack("{s:s}", "field", "to"), ret_status);
	} else if (strcmp(strategy, "restore") == 0) {
		if (!backup || to)
			return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
					 "strategy \"restore\" takes \"backup\": an id from GET /v1/backups (and "
					 "\"confirm\": true)",
					 NULL, ret_status);
		if (!md_backup_id_valid(json_string_value(backup)))
			return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
					 "\"backup\" is not a backup id (GET /v1/backups lists them)",
					 json_pack("{s:s}", "field", "backup"), ret_status);
	} else {
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "field \"strategy\" must be \"down\" or \"restore\"",
				 json_pack("{s:s}", "field", "strategy"), ret_status);
	}
	if (!api_key_ok(api_header(req, "Idempotency-Key")))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Idempotency-Key must be 1 to 200 printable ASCII characters", NULL, ret_status);
	api_suspend(req, rollback_task, &r, ret_status);
	return r;
}
