/* admission.c - what the request line and headers alone decide, before any body is read:
 * the route, the role it needs against the token presented, and the body's announced length
 * and type. A pure function of its inputs (no libmicrohttpd connection, no locks), so that
 * the decision every hostile request reaches first can be fuzzed on its own. */
#include "api_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");
	return ct && strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum md_role required_role(const struct api_policy *p, const struct route *route)
{
	if (route->role == MD_ROLE_READ && (!p->read_auth || p->tokens == 0))
		return MD_ROLE_NONE;
	if ((route->flags & ROUTE_METRICS) && !p->metrics_auth)
		return MD_ROLE_NONE;
	return route->role;
}

static void refuse(struct api_admission *a, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(struct api_admission *a, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	a->status = status;
	a->code = code;
	va_start(ap, fmt);
	vsnprintf(a->message, sizeof a->message, fmt, ap);
	va_end(ap);
}

void api_admit(const struct api_head *h, const struct api_policy *p, struct api_admission *a)
{
	bool path_known;
	const char *method = h->method ? h->method : "";
	const char *url = h->url ? h->url : "";

	memset(a, 0, sizeof *a);
	a->role = p->role;
	a->route = api_route_find(strcmp(method, "HEAD") == 0 ? "GET" : method, url, a->param, sizeof a->param,
				  a->allow, sizeof a->allow, &path_known);
	/* ?pretty (no value) or ?pretty=1: indented JSON. Otherwise one line, whoever asks: curl in
	 * a deploy script reads answers line by line (`| cut`, `| grep`), people add ?pretty or jq. */
	a->pretty = h->has_pretty && (!h->pretty || (strcmp(h->pretty, "0") != 0 && strcmp(h->pretty, "false") != 0));
	a->want_text = h->accept && strstr(h->accept, "text/plain") && !strstr(h->accept, "application/json");
	if (!a->route) {
		if (!path_known)
			refuse(a, MHD_HTTP_NOT_FOUND, "not_found",
			       "no route %.300s (see GET /v1/status, /v1/jobs, /v1/health)", url);
		else
			refuse(a, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
			       "%.16s is not allowed on %.150s (allowed: %.64s)", method, url, a->allow);
		return;
	}
	a->need = required_role(p, a->route);
	if (p->role < a->need) {
		a->www_authenticate = p->role == MD_ROLE_NONE;
		a->no_tokens = p->tokens == 0;
		if (p->role == MD_ROLE_NONE && p->tokens == 0)
			refuse(a, MHD_HTTP_UNAUTHORIZED, "unauthorized",
			       "no API tokens are configured, so this route is closed: start migrated with "
			       "--token-file (lines: NAME ROLE SECRET)");
		else if (p->role == MD_ROLE_NONE)
			refuse(a, MHD_HTTP_UNAUTHORIZED, "unauthorized", "%s",
			       h->authorization ? "the bearer token is not valid"
						: "this route needs a bearer token (Authorization: Bearer TOKEN)");
		else
			refuse(a, MHD_HTTP_FORBIDDEN, "forbidden", "this token's role may not do this");
		return;
	}
	if (a->route->flags & ROUTE_BODY) {
		/* libmicrohttpd has already refused a Content-Length that is not a number. */
		unsigned long long len = h->content_length ? strtoull(h->content_length, NULL, 10) : 0;
		if (!h->content_length && !h->transfer_encoding && (a->route->flags & ROUTE_BODY_REQUIRED))
			refuse(a, MHD_HTTP_LENGTH_REQUIRED, "length_required",
			       "this route needs a JSON body with a Content-Length");
		else if (h->content_length && len > p->max_body)
			refuse(a, 413, "payload_too_large", "the body is %llu bytes; the limit is %zu (max_body)", len,
			       p->max_body);
		else if ((len > 0 || h->transfer_encoding) && !is_json_type(h->content_type))
			refuse(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
			       "the body must be JSON (Content-Type: application/json)");
	}
}

struct MHD_Response *api_admission_response(const struct api_admission *a, unsigned *ret_status)
{
	json_t *detail = NULL;
	if (a->status == MHD_HTTP_UNAUTHORIZED && !a->no_tokens)
		detail = json_pack("{s:s}", "required_role", md_role_name(a->need));
	else if (a->status == MHD_HTTP_FORBIDDEN)
		detail = json_pack("{s:s, s:s}", "role", md_role_name(a->role), "required_role", md_role_name(a->need));
	struct MHD_Response *r = api_error(a->status, a->code, a->message, detail, ret_status);
	if (r && a->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a->allow);
	if (r && a->www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"migrated\"");
	return r;
}
