/* fleet_deploy.c - POST /v1/fleet/deploy (deploy role): a deploy of many targets as one job of
 * kind fleet-deploy (jobs/run_fleet.c). Body: {"targets": [NAME...]} or {"selector": "k=v"} or
 * neither (every target of the targets file), "canary": N, "parallel": P (default 4, at most
 * 64), "on_error": "stop" (default) | "continue", "max_failures": K, and the deploy options
 * every target job gets ("dry_run", "backup", and, for admins, "override_lint",
 * "override_preflight"). The selection is resolved here, against the targets in force, and
 * recorded in the job as the explicit list it ran on. 202 with the job; 200 for a known
 * Idempotency-Key; 409 while another job runs. */
#include "api_internal.h"
#include "migrated/fleet_sched.h"
#include "migrated/jobs.h"
#include "migrated/macro.h"
#include "migrated/settings.h"
#include "migrated/targets.h"

#include <stdio.h>
#include <string.h>

/* The body's fields and their types (md_body_parse knows only booleans and strings). */
enum field_type { F_LIST, F_STRING, F_COUNT, F_BOOL };
static const struct {
	const char *name;
	enum field_type type;
} fields[] = {
	{"targets", F_LIST},       {"selector", F_STRING},         {"canary", F_COUNT}, {"parallel", F_COUNT},
	{"on_error", F_STRING},    {"max_failures", F_COUNT},      {"dry_run", F_BOOL}, {"backup", F_BOOL},
	{"override_lint", F_BOOL}, {"override_preflight", F_BOOL},
};

static bool type_ok(json_t *v, enum field_type want)
{
	switch (want) {
	case F_LIST: return json_is_array(v);
	case F_STRING: return json_is_string(v);
	case F_COUNT: return json_is_integer(v);
	case F_BOOL: return json_is_boolean(v);
	}
	return false;
}

static struct MHD_Response *bad(unsigned *st, const char *field, const char *msg)
{
	return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", msg, field ? json_pack("{s:s}", "field", field) : NULL,
			 st);
}

/* Checks the body's shape; NULL when it is fine. */
static struct MHD_Response *check_body(struct md_request *req, unsigned *st)
{
	const char *k;
	json_t *v;
	if (!json_is_object(req->json))
		return bad(st, NULL, "the body must be a JSON object");
	json_object_foreach(req->json, k, v)
	{
		size_t i = 0;
		while (i < MD_ARRAY_SIZE(fields) && strcmp(fields[i].name, k) != 0)
			i++;
		char msg[200];
		if (i == MD_ARRAY_SIZE(fields)) {
			snprintf(msg, sizeof msg, "unknown field \"%.64s\"", k);
			return bad(st, NULL, msg);
		}
		if (!type_ok(v, fields[i].type)) {
			snprintf(msg, sizeof msg, "field \"%s\" has the wrong type", fields[i].name);
			return bad(st, fields[i].name, msg);
		}
	}
	static const char *const counts[] = {"canary", "parallel", "max_failures"};
	for (size_t i = 0; i < MD_ARRAY_SIZE(counts); i++) {
		json_t *n = json_object_get(req->json, counts[i]);
		if (n && json_integer_value(n) < 0) {
			char msg[100];
			snprintf(msg, sizeof msg, "field \"%s\" must not be negative", counts[i]);
			return bad(st, counts[i], msg);
		}
	}
	const char *on_error = json_string_value(json_object_get(req->json, "on_error"));
	if (on_error && strcmp(on_error, "stop") != 0 && strcmp(on_error, "continue") != 0)
		return bad(st, "on_error", "field \"on_error\" must be \"stop\" or \"continue\"");
	if (json_object_get(req->json, "targets") && json_object_get(req->json, "selector"))
		return bad(st, NULL, "give \"targets\" or \"selector\", not both");
	static const char *const admin_only[] = {"override_lint", "override_preflight"};
	for (size_t i = 0; i < MD_ARRAY_SIZE(admin_only); i++)
		if (json_is_true(json_object_get(req->json, admin_only[i])) && req->role < MD_ROLE_ADMIN) {
			char msg[120];
			snprintf(msg, sizeof msg, "\"%s\" needs a token with the admin role", admin_only[i]);
			return api_error(
				MHD_HTTP_FORBIDDEN, "forbidden", msg,
				json_pack("{s:s, s:s}", "role", md_role_name(req->role), "required_role", "admin"), st);
		}
	return NULL;
}

/* The names the body selects, in targets file order for a selector (or all), in the body's
 * order for a list; an unknown or repeated name, or an empty selection, is refused. */
static struct MHD_Response *resolve_names(struct md_request *req, const struct md_targets *ts, json_t **ret,
					  unsigned *st)
{
	struct md_error err = {0};
	json_t *list = json_object_get(req->json, "targets");
	const char *sel = json_string_value(json_object_get(req->json, "selector"));
	json_t *names = json_array();
	size_t i;
	json_t *v;

	if (sel && md_target_selector_check(sel, &err) < 0) {
		json_decref(names);
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message,
				 json_pack("{s:s}", "field", "selector"), st);
	}
	if (list) {
		json_array_foreach(list, i, v)
		{
			const char *name = json_string_value(v);
			bool seen = false;
			for (size_t k = 0; name && k < i; k++)
				seen |= strcmp(json_string_value(json_array_get(list, k)), name) == 0;
			if (!name || seen || !md_targets_find(ts, name)) {
				char msg[200];
				snprintf(msg, sizeof msg,
					 !name  ? "\"targets\" must list target names"
					 : seen ? "target \"%.63s\" is listed twice"
						: "no target \"%.63s\" in the targets file",
					 name ? name : "");
				json_decref(names);
				return api_error(name && !seen ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
						 name && !seen ? "not_found" : "bad_request", msg,
						 json_pack("{s:s, s:s}", "field", "targets", "hint",
							   "GET /v1/targets lists the targets (\"default\", the "
							   "DATABASE_URL one, deploys with POST /v1/deploy)"),
						 st);
			}
			json_array_append(names, v);
		}
	} else {
		for (i = 0; i < ts->n; i++)
			if (!sel || md_target_matches(&ts->list[i], sel))
				json_array_append_new(names, json_string(ts->list[i].name));
	}
	if (json_array_size(names) == 0) {
		json_decref(names);
		return api_error(MHD_HTTP_UNPROCESSABLE_CONTENT, "no_targets",
				 ts->n == 0 ? "no targets file is configured (targets_file): nothing to deploy to"
				 : sel      ? "no target matches the selector"
					    : "the request names no target",
				 NULL, st);
	}
	*ret = names;
	return NULL;
}

static void submit_task(struct md_request *req)
{
	unsigned status;
	struct MHD_Response *r = api_submit(req, MD_JOB_FLEET_DEPLOY, json_incref(req->json), &status);
	api_resume(req, r, status);
}

struct MHD_Response *api_fleet_deploy(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	struct MHD_Response *r;
	json_t *names = NULL;

	if (!api_key_ok(api_header(req, "Idempotency-Key")))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request",
				 "Idempotency-Key must be 1 to 200 printable ASCII characters", NULL, ret_status);
	json_t *known = md_jobs_find_key(req->api->deps.jobs, api_header(req, "Idempotency-Key"));
	if (known) {
		*ret_status = MHD_HTTP_OK;
		return api_json(req, known);
	}
	if (req->body_len == 0)
		req->json = json_object();
	else if (!(req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL)))
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", "the body is not valid JSON", NULL, ret_status);
	if ((r = check_body(req, ret_status)))
		return r;
	const struct md_targets *ts = md_settings_targets_get(req->api->deps.settings);
	r = resolve_names(req, ts, &names, ret_status);
	md_settings_targets_put(req->api->deps.settings, ts);
	if (r)
		return r;
	struct md_fleet_policy p = {
		.canary = (size_t)json_integer_value(json_object_get(req->json, "canary")),
		.parallel = json_object_get(req->json, "parallel")
				    ? (size_t)json_integer_value(json_object_get(req->json, "parallel"))
				    : 4,
		.max_failures = (size_t)json_integer_value(json_object_get(req->json, "max_failures")),
	};
	if (md_fleet_policy_check(&p, json_array_size(names), &err) < 0) {
		json_decref(names);
		return api_error(MHD_HTTP_BAD_REQUEST, "bad_request", err.message, NULL, ret_status);
	}
	json_object_set_new(req->json, "targets", names);
	if (!json_object_get(req->json, "parallel"))
		json_object_set_new(req->json, "parallel", json_integer((json_int_t)p.parallel));
	if (!json_object_get(req->json, "on_error"))
		json_object_set_new(req->json, "on_error", json_string("stop"));
	api_suspend(req, submit_task, &r, ret_status);
	return r;
}
