/* targets.c - the targets of the targets file over HTTP: GET /v1/targets (?label=k=v), and the
 * per-target routes /v1/targets/{name}/status|plan|drift|backups and .../deploy|resolve|rollback,
 * which bind the target to the request and then answer exactly as the single-target route
 * does (the same handler, the same documents); "default" is the DATABASE_URL one. Also what a
 * request is about (api_req_*), for every handler. */
#include "api_internal.h"
#include "migrated/jobs.h"
#include "migrated/settings.h"
#include "migrated/targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct md_pool *api_req_pool(struct md_request *req)
{
	return req->bound ? req->target.pool : req->api->deps.pool;
}

struct md_snapshot *api_req_snapshot(struct md_request *req)
{
	return req->bound ? req->target.snapshot : req->api->deps.snapshot;
}

const char *api_req_dir(struct md_request *req)
{
	return req->bound ? req->target.migrations_dir : req->api->migrations_dir;
}

const char *api_req_target(struct md_request *req)
{
	return req->bound ? req->target.name : NULL;
}

char *api_req_backup_dir(struct md_request *req)
{
	char *dir = md_settings_backup_dir(req->api->deps.settings), *sub = NULL;
	if (!dir || !req->bound)
		return dir;
	if (asprintf(&sub, "%s/%s", dir, req->target.name) < 0)
		sub = NULL;
	free(dir);
	return sub;
}

/* Binds the target named by the path ("default" binds nothing), then answers as fn. */
static struct MHD_Response *with_target(struct md_request *req, unsigned *ret_status, md_handler_fn fn)
{
	struct md_error err = {0};
	if (strcmp(req->param, "default") != 0) {
		if (md_fleet_get(req->api->deps.fleet, req->param, &req->target, &err) < 0) {
			md_error_hint(&err, "GET /v1/targets lists the targets");
			return api_error_from(&err, ret_status);
		}
		req->bound = true;
	}
	return fn(req, ret_status);
}

struct MHD_Response *api_target_status(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_status);
}

struct MHD_Response *api_target_plan(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_plan);
}

struct MHD_Response *api_target_drift(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_drift);
}

struct MHD_Response *api_target_backups(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_backups_list);
}

struct MHD_Response *api_target_deploy(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_deploy);
}

struct MHD_Response *api_target_resolve(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_resolve);
}

struct MHD_Response *api_target_rollback(struct md_request *req, unsigned *ret_status)
{
	return with_target(req, ret_status, api_rollback);
}

/* The default target's entry, from the daemon's own probe and last job. */
static json_t *default_entry(struct md_request *req)
{
	struct md_job_brief last;
	struct md_health *h = req->api->deps.probe ? md_probe_get(req->api->deps.probe) : NULL;
	json_t *o = json_pack("{s:s, s:{}}", "name", "default", "labels");
	json_t *holder = NULL;
	json_object_set_new(o, "health", json_string(h ? md_health_status_name(h->status) : "unknown"));
	json_object_set_new(o, "applied", json_integer(h ? (json_int_t)h->migrations[MD_MIG_APPLIED] : 0));
	json_object_set_new(
		o, "pending",
		json_integer(h ? (json_int_t)(h->migrations[MD_MIG_PENDING] + h->migrations[MD_MIG_ROLLED_BACK]) : 0));
	json_object_set_new(o, "failed", json_integer(h ? (json_int_t)h->migrations[MD_MIG_FAILED] : 0));
	for (size_t i = 0; h && i < h->n_checks; i++)
		if (strcmp(h->checks[i].name, "migration_lock") == 0)
			holder = json_object_get(h->checks[i].detail, "holder");
	if (md_jobs_last(req->api->deps.jobs, &last))
		json_object_set_new(o, "last_job",
				    json_pack("{s:s, s:s, s:s, s:s?}", "id", last.id, "kind",
					      md_job_kind_name(last.kind), "state", md_job_state_name(last.state),
					      "finished_at", last.finished_at[0] ? last.finished_at : NULL));
	else
		json_object_set_new(o, "last_job", json_null());
	json_object_set(o, "lock_holder", holder ? holder : json_null());
	json_object_set_new(o, "checked_at", h ? json_real(h->taken_unix) : json_null());
	if (h)
		md_health_unref(h);
	return o;
}

struct MHD_Response *api_targets_list(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	const char *sel = api_query(req, "label");
	if (sel && md_target_selector_check(sel, &err) < 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message,
				 json_pack("{s:s, s:s}", "field", "label", "hint", "?label=KEY=VALUE[,KEY=VALUE]"),
				 ret_status);
	json_t *list = md_fleet_list(req->api->deps.fleet, sel && *sel ? sel : NULL);
	if (!sel || !*sel)
		json_array_insert_new(list, 0, default_entry(req));
	*ret_status = MHD_HTTP_OK;
	return api_json(req, json_pack("{s:o}", "targets", list));
}
