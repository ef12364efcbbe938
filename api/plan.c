/* plan.c - GET /v1/plan: what a deploy would do now, changing nothing: every pending
 * migration in order with how it would run (transaction, single statement, statement by
 * statement, own transactions) and why, or the refusal a deploy would meet (P3009, P3005, a
 * broken file); and for each statement the lock it takes on which relation, that relation's
 * live size, rewrites and scans, and the lint findings ("migrations"). A dry-run deploy and
 * pg_class reads on a pooled connection, on the task queue. */
#include "api_internal.h"
#include "migrated/settings.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/deploy.h"
#include "migrated/jobs.h"
#include "migrated/job_metrics.h"
#include "migrated/config.h"
#include "migrated/lint.h"
#include "migrated/liveplan.h"
#include "migrated/pool.h"
#include "migrated/preflight.h"
#include "migrated/report.h"

/* The plan's preflight document: asked as a deploy would (same settings, replica included);
 * one that could not run says why. */
static json_t *api_plan_preflight(struct md_request *req, struct md_db *db, const struct md_catalog *cat,
				  const struct md_deploy_report *rep)
{
	struct md_preflight_options o;
	struct md_error err = {0};
	char *url = NULL, why[600];
	json_t *pf = NULL;
	int gate;

	md_settings_preflight(req->api->deps.settings, &o, &gate, &url);
	if (api_req_target(req)) { /* a preflight replica belongs to the default target */
		free(url);
		url = NULL;
	}
	if (gate == MD_LINT_GATE_OFF) {
		free(url);
		return md_preflight_off("not asked: preflight_gate = off");
	}
	int r = md_preflight_report(db, url, cat, rep, &o, &pf, &err);
	free(url);
	md_job_metrics_preflight(pf);
	if (r == 0)
		return pf;
	snprintf(why, sizeof why, "could not ask: %.500s", err.message);
	return md_preflight_off(why);
}

static void plan_task(struct md_request *req)
{
	struct md_api *api = req->api;
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_deploy_report rep = {0};
	struct md_apply_options apply;
	struct md_lint_options lo;
	json_t *live = NULL;
	struct MHD_Response *r;
	unsigned status;
	int gate;

	md_apply_options_default(&apply);
	md_settings_lint(api->deps.settings, &lo, &gate);
	int rc = md_catalog_load(api_req_dir(req), 0, &cat, &err);
	if (rc == 0)
		rc = md_pool_acquire(api_req_pool(req), -1, 0, &db, &err);
	if (rc == 0)
		rc = md_plan_preview(db, cat, &apply, &lo, &rep, &live, &err);
	if (rc == 0 || md_plan_refusal(rc)) {
		status = MHD_HTTP_OK;
		r = api_json(req, md_report_plan_json(&rep, rc, &err, live,
						      rc == 0 ? api_plan_preflight(req, db, cat, &rep) : NULL));
	} else {
		json_decref(live);
		r = api_error_from(&err, &status);
	}
	md_deploy_report_free(&rep);
	md_pool_release(api_req_pool(req), db);
	md_catalog_free(cat);
	api_resume(req, r, status);
}

struct MHD_Response *api_plan(struct md_request *req, unsigned *ret_status)
{
	struct MHD_Response *r;
	api_suspend(req, plan_task, &r, ret_status);
	return r;
}
