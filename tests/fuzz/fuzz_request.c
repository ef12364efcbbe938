/* fuzz_request.c - libFuzzer target: the request path below libmicrohttpd's parsing. The
 * input is a request head (method, URL, the headers admission reads, the ?pretty value, one
 * per line) and a policy byte; it goes through admission (route matching, {id}, roles, body
 * headers), the rendering of its refusal, route matching for every method, and the UTF-8
 * scrub. Invariants: an admitted request has a route and the role it needs; an {id} is made
 * of safe characters; a refusal always renders; scrubbed text is valid UTF-8 of the same
 * length. No crash, no leak. */
#include "../../api/api_internal.h"
#include "migrated/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The route table names every handler; admission must never call one. */
#define NEVER(name)                                                             \
	struct MHD_Response *name(struct md_request *req, unsigned *ret_status) \
	{                                                                       \
		(void)req;                                                      \
		(void)ret_status;                                               \
		abort();                                                        \
	}
NEVER(api_health)
NEVER(api_healthz)
NEVER(api_readyz)
NEVER(api_status)
NEVER(api_plan)
NEVER(api_lint)
NEVER(api_drift)
NEVER(api_deploy)
NEVER(api_resolve)
NEVER(api_jobs_list)
NEVER(api_job_get)
NEVER(api_job_events)
NEVER(api_job_cancel)
NEVER(api_rollback)
NEVER(api_backups_list)
NEVER(api_backups_post)
NEVER(api_metrics)
NEVER(api_notifications_list)
NEVER(api_notifications_test)
NEVER(api_whoami)
NEVER(api_console_root)
NEVER(api_console_file)
NEVER(api_targets_list)
NEVER(api_target_status)
NEVER(api_target_plan)
NEVER(api_target_drift)
NEVER(api_target_backups)
NEVER(api_target_deploy)
NEVER(api_target_resolve)
NEVER(api_target_rollback)
NEVER(api_fleet_deploy)

/* An {id}: letters, digits, '-' and '_'; a console {file} may also hold dots, never a leading one. */
static bool safe_id(const char *s, bool file)
{
	if (file && s[0] == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || (file && *s == '.')))
			return false;
	return true;
}

static bool is_file_route(const struct route *r)
{
	return r && strstr(r->pattern, "{file}") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	/* Fields, one per line; an empty field is an absent header. */
	char *f[9] = {0};
	char *p = text;
	for (int i = 0; i < 9 && p; i++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		f[i] = p;
		p = nl ? nl + 1 : NULL;
	}
	for (int i = 2; i < 9; i++)
		if (f[i] && !*f[i])
			f[i] = NULL;
	struct api_head h = {.method = f[0],
			     .url = f[1],
			     .authorization = f[2],
			     .content_length = f[3],
			     .transfer_encoding = f[4],
			     .content_type = f[5],
			     .accept = f[6],
			     .has_pretty = flags & 0x40,
			     .pretty = f[7]};
	struct api_policy pol = {.read_auth = flags & 1,
				 .metrics_auth = flags & 2,
				 .tokens = (flags & 4) ? 3 : 0,
				 .role = (enum md_role)((flags >> 3) & 3),
				 .max_body = (flags & 0x80) ? 65536 : 16};
	struct api_admission a;
	api_admit(&h, &pol, &a);
	if (a.status == 0) {
		if (!a.route || pol.role < a.need)
			abort();
		if (!safe_id(a.param, is_file_route(a.route)))
			abort();
	} else {
		if (!a.code || !a.message[0] || a.status < 400 || a.status > 499)
			abort();
		json_t *doc = api_error_document(a.code, a.message, NULL);
		if (!doc) /* before the fix, invalid UTF-8 in the URL made this NULL and crashed the daemon */
			abort();
		json_decref(doc);
		unsigned st = 0;
		struct MHD_Response *r = api_admission_response(&a, &st);
		if (!r || st != a.status)
			abort();
		MHD_destroy_response(r);
	}

	/* Every method against the URL: a match always yields a safe {id}. */
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "BREW", ""};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		char param[80], allow[64];
		bool known;
		const struct route *r =
			api_route_find(methods[i], f[1] ? f[1] : "", param, sizeof param, allow, sizeof allow, &known);
		if (r && (!known || !safe_id(param, is_file_route(r))))
			abort();
	}

	/* The scrub on the raw bytes. */
	size_t before = strlen(text);
	md_utf8_scrub(text);
	if (strlen(text) != before || !md_utf8_valid(text, before, NULL))
		abort();
	json_t *j = json_string(text);
	if (!j)
		abort();
	json_decref(j);
	free(text);
	return 0;
}
