/* lint.c - GET /v1/lint: the lint findings of the migrations folder (?pending=1: only the
 * migrations a deploy would apply now), and the deploy gate's check of the pending ones. File
 * reads and, for pending, a pooled connection: on the task queue. */
#include "api_internal.h"
#include "migrated/settings.h"
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/history.h"
#include "migrated/jobs.h"
#include "migrated/lint.h"
#include "migrated/plan.h"
#include "migrated/pool.h"

#include <string.h>

int api_lint_folder(struct md_request *req, bool pending_only, struct md_lint_report *rep, int *ret_gate,
		    struct md_error *err)
{
	struct md_api *api = req->api;
	struct md_lint_options o;
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_history *hist = NULL;
	struct md_plan *plan = NULL;

	md_settings_lint(api->deps.settings, &o, ret_gate);
	int r = md_catalog_load(api_req_dir(req), 0, &cat, err);
	if (r == 0 && pending_only) {
		r = md_pool_acquire(api_req_pool(req), -1, 0, &db, err);
		if (r == 0) {
			o.server_version_num = db->server_version_num;
			r = md_history_load(db, &hist, err);
		}
		if (r == 0)
			r = md_plan_build(cat, hist, &plan, err);
		for (size_t i = 0; r == 0 && i < plan->n; i++)
			if (plan->items[i].mig && md_plan_item_to_apply(&plan->items[i]) &&
			    md_lint_migration(&o, plan->items[i].mig, rep) < 0)
				r = md_error_set(err, MD_E_NOMEM, "out of memory");
	} else {
		for (size_t i = 0; r == 0 && i < cat->n; i++)
			if (md_lint_migration(&o, &cat->items[i], rep) < 0)
				r = md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	md_plan_free(plan);
	md_history_free(hist);
	md_pool_release(api_req_pool(req), db);
	md_catalog_free(cat);
	return r;
}

static const char *gate_name(int gate)
{
	return gate == MD_LINT_GATE_BLOCK ? "block" : gate == MD_LINT_GATE_WARN ? "warn" : "off";
}

static void lint_task(struct md_request *req)
{
	struct md_error err = {0};
	struct md_lint_report rep = {0};
	const char *p = api_query(req, "pending");
	bool pending = p && strcmp(p, "0") != 0 && strcmp(p, "false") != 0;
	int gate = 0;
	unsigned status = MHD_HTTP_OK;
	struct MHD_Response *r;

	if (api_lint_folder(req, pending, &rep, &gate, &err) < 0) {
		r = api_error_from(&err, &status);
	} else {
		json_t *body = md_lint_report_json(&rep, false);
		json_object_set_new(body, "gate", json_string(gate_name(gate)));
		json_object_set_new(body, "pending_only", json_boolean(pending));
		r = api_json(req, body);
	}
	md_lint_report_free(&rep);
	api_resume(req, r, status);
}

struct MHD_Response *api_lint(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, lint_task, &r, ret_status);
	return r;
}
