/* deploy.c - POST /v1/deploy: starts a deploy job. 202 Accepted with Location: /v1/jobs/{id};
 * 200 with the same job for a repeated Idempotency-Key (also after a restart); 409 naming the
 * running job, or with Prisma's P3009 when a failed migration blocks; 503 when the database
 * does not answer. The decision uses a status snapshot no older than status_cache, and
 * recording the job (a synced journal write) happens on the task queue, never on an HTTP
 * thread. Body: {"dry_run": bool, "backup": bool, "verify": bool}, all optional. */
#include "api_internal.h"
#include "migrated/settings.h"
#include "migrated/config.h"
#include "migrated/jobs.h"
#include "migrated/catalog.h"
#include "migrated/job_metrics.h"
#include "migrated/lint.h"
#include "migrated/pool.h"
#include "migrated/preflight.h"
#include "migrated/macro.h"
#include "migrated/notify.h"
#include "migrated/snapshot.h"

#include <stdio.h>
#include <string.h>

static struct MHD_Response *with_location(struct MHD_Response *r, json_t *job)
{
	char loc[128];
	if (r) {
		snprintf(loc, sizeof loc, "/v1/jobs/%s", json_string_value(json_object_get(job, "id")));
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	}
	return r;
}

/* Shared with resolve.c: record the job and answer. */
struct MHD_Response *api_submit(struct md_request *req, enum md_job_kind kind, json_t *request, unsigned *status)
{
	const char *key = api_header(req, "Idempotency-Key");
	struct md_error err = {0};
	json_t *job = NULL;
	bool created;
	int r;

	if (api_req_target(req))
		json_object_set_new(request, "target", json_string(api_req_target(req)));
	r = md_jobs_submit(req->api->deps.jobs, kind, request, key, req->actor[0] ? req->actor : NULL, &job, &created,
			   &err);
	if (r == MD_E_BUSY) {
		json_t *detail = json_pack("{s:O}", "job", job);
		struct MHD_Response *resp = api_error(MHD_HTTP_CONFLICT, "conflict", err.message, detail, status);
		with_location(resp, job);
		json_decref(job);
		return resp;
	}
	if (r < 0)
		return api_error_from(&err, status);
	*status = created ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK;
	json_t *ref = json_incref(job);
	struct MHD_Response *resp = with_location(api_json(req, job), ref);
	json_decref(ref);
	return resp;
}

/* lint_gate = block: an error finding in the pending migrations refuses the deploy here, with
 * the findings (the job checks again under the lock). NULL when the deploy may go on. */
static struct MHD_Response *lint_gate(struct md_request *req, unsigned *status)
{
	struct md_lint_options o;
	struct md_lint_report rep = {0};
	struct md_error err = {0};
	struct MHD_Response *r = NULL;
	int gate;

	md_settings_lint(req->api->deps.settings, &o, &gate);
	if (gate != MD_LINT_GATE_BLOCK)
		return NULL;
	if (api_lint_folder(req, true, &rep, &gate, &err) < 0) {
		r = api_error_from(&err, status);
	} else if (rep.count[MD_LINT_ERROR] > 0) {
		char msg[300];
		snprintf(msg, sizeof msg,
			 "the lint gate refused the deploy: %zu error finding%s in the pending migrations; nothing was "
			 "applied",
			 rep.count[MD_LINT_ERROR], rep.count[MD_LINT_ERROR] == 1 ? "" : "s");
		json_t *detail = md_lint_report_json(&rep, true);
		json_object_set_new(
			detail, "hint",
			json_string("make the migrations safe (each finding has the safe pattern), silence "
				    "one with `-- migrated:lint-ignore RULE reason`, or send \"override_lint\": "
				    "true with an admin token"));
		json_t *ev = json_pack("{s:s, s:s?, s:O}", "message", msg, "actor", req->actor[0] ? req->actor : NULL,
				       "lint", detail);
		md_notify_emit(req->api->deps.notify, "deploy.lint_blocked", ev);
		json_decref(ev);
		r = api_error(MHD_HTTP_UNPROCESSABLE_CONTENT, "lint_blocked", msg, detail, status);
	}
	md_lint_report_free(&rep);
	return r;
}

/* preflight_gate = block: rows that make a pending statement fail refuse the deploy here, before
 * any job, lock or backup, with the findings (the job asks again in its preflight step). NULL
 * when the deploy may go on. */
static struct MHD_Response *preflight_gate(struct md_request *req, unsigned *status)
{
	struct md_api *api = req->api;
	struct md_preflight_options o;
	struct md_apply_options apply;
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct MHD_Response *r = NULL;
	json_t *pf = NULL;
	char *url = NULL;
	int gate;

	md_settings_preflight(api->deps.settings, &o, &gate, &url);
	if (api_req_target(req)) { /* a preflight replica belongs to the default target */
		free(url);
		url = NULL;
	}
	if (gate != MD_LINT_GATE_BLOCK) {
		free(url);
		return NULL;
	}
	md_apply_options_default(&apply);
	int rc = md_catalog_load(api_req_dir(req), 0, &cat, &err);
	if (rc == 0)
		rc = md_pool_acquire(api_req_pool(req), -1, 0, &db, &err);
	if (rc == 0)
		rc = md_preflight_pending(db, url, cat, &apply, &o, &pf, &err);
	md_pool_release(api_req_pool(req), db);
	md_catalog_free(cat);
	free(url);
	md_job_metrics_preflight(pf);
	if (rc < 0) {
		md_error_prefix(&err, rc, "the data preflight could not run, so the deploy was not started: ");
		md_error_hint(&err,
			      "retry when the database answers, or send \"override_preflight\": true with an admin "
			      "token (or set preflight_gate = warn)");
		r = api_error_from(&err, status);
	} else if (md_preflight_fails(pf)) {
		char msg[300];
		long long n = (long long)json_integer_value(json_object_get(pf, "failed"));
		snprintf(msg, sizeof msg,
			 "the data preflight refused the deploy: %lld pending statement%s would fail on today's data; "
			 "nothing was locked, backed up or applied",
			 n, n == 1 ? "" : "s");
		json_t *detail =
			json_pack("{s:O, s:O, s:O, s:O, s:s}", "findings", json_object_get(pf, "findings"), "checks",
				  json_object_get(pf, "checks"), "failed", json_object_get(pf, "failed"), "skipped",
				  json_object_get(pf, "skipped"), "hint",
				  "fix the data (each finding says how and names example rows by primary key), "
				  "change the migration, or send \"override_preflight\": true with an admin token");
		json_t *ev = json_pack("{s:s, s:s?, s:O}", "message", msg, "actor", req->actor[0] ? req->actor : NULL,
				       "preflight", pf);
		md_notify_emit(req->api->deps.notify, "deploy.preflight_blocked", ev);
		json_decref(ev);
		r = api_error(MHD_HTTP_UNPROCESSABLE_CONTENT, "preflight_failed", msg, detail, status);
	}
	json_decref(pf);
	return r;
}

static void deploy_task(struct md_request *req)
{
	unsigned status;
	struct MHD_Response *r;
	bool dry_run = json_is_true(json_object_get(req->json, "dry_run"));
	struct md_snapshot_view *v = md_snapshot_refresh(api_req_snapshot(req),
							 __atomic_load_n(&req->api->status_cache_ms, __ATOMIC_RELAXED));

	if (!v)
		r = api_error(500, "internal", "out of memory", NULL, &status);
	else if (!v->ok)
		r = api_error_from(&v->error, &status);
	else if (v->blocked && !dry_run)
		r = api_error_from(&v->block, &status);
	else if (!dry_run && !json_is_true(json_object_get(req->json, "override_lint")) &&
		 (r = lint_gate(req, &status)))
		; /* refused by the lint gate */
	else if (!dry_run && !json_is_true(json_object_get(req->json, "override_preflight")) &&
		 (r = preflight_gate(req, &status)))
		; /* refused by the data preflight */
	else
		r = api_submit(req, MD_JOB_DEPLOY, json_incref(req->json), &status);
	md_snapshot_view_unref(v);
	api_resume(req, r, status);
}

/* Idempotency-Key: 1 to 200 printable ASCII characters. */
bool api_key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (!key)
		return true;
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return false;
	return true;
}

struct MHD_Response *api_deploy(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	struct MHD_Response *r;
	const char *key = api_header(req, "Idempotency-Key");

	if (md_body_parse(req->body, req->body_len, api_deploy_body.fields, api_deploy_body.n, &req->json, &err) < 0)
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message, NULL, ret_status);
	if (!api_key_ok(key))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Idempotency-Key must be 1 to 200 printable ASCII characters", NULL, ret_status);
	if (json_is_true(json_object_get(req->json, "override_lint")) && req->role < MD_ROLE_ADMIN)
		return api_error(MHD_HTTP_FORBIDDEN, "forbidden", "\"override_lint\" needs a token with the admin role",
				 json_pack("{s:s, s:s}", "role", md_role_name(req->role), "required_role", "admin"),
				 ret_status);
	if (json_is_true(json_object_get(req->json, "override_preflight")) && req->role < MD_ROLE_ADMIN)
		return api_error(
			MHD_HTTP_FORBIDDEN, "forbidden", "\"override_preflight\" needs a token with the admin role",
			json_pack("{s:s, s:s}", "role", md_role_name(req->role), "required_role", "admin"), ret_status);
	if (key) {
		json_t *job = md_jobs_find_key(req->api->deps.jobs, key);
		if (job) {
			*ret_status = MHD_HTTP_OK;
			json_t *ref = json_incref(job);
			r = with_location(api_json(req, job), ref);
			json_decref(ref);
			return r;
		}
	}
	api_suspend(req, deploy_task, &r, ret_status);
	return r;
}
