/* respond.c - the responses every route builds: JSON documents, text views, and errors in the
 * one error shape {"error": {"code", "message", "detail"}}, redacted and valid UTF-8. */
#include "api_internal.h"
#include "migrated/log.h"
#include "migrated/report.h"

#include <stdlib.h>
#include <string.h>

struct MHD_Response *api_with_json_headers(struct MHD_Response *r)
{
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	return r;
}

struct MHD_Response *api_json(struct md_request *req, json_t *body)
{
	char *t = md_report_dump(body, req && req->pretty ? JSON_INDENT(2) : JSON_COMPACT);
	json_decref(body);
	if (!t)
		return NULL;
	return api_with_json_headers(MHD_create_response_from_buffer(strlen(t), t, MHD_RESPMEM_MUST_FREE));
}

struct MHD_Response *api_text(const char *text, size_t len, bool copy)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								 copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	return r;
}

json_t *api_error_document(const char *code, const char *message, json_t *detail)
{
	/* The message may quote the request (a path with %ff, a cut multibyte character), and
	 * JSON strings must be UTF-8: jansson refuses anything else. */
	return json_pack("{s:{s:s, s:o, s:o}}", "error", "code", code, "message", md_report_text(message), "detail",
			 detail ? detail : json_object());
}

/* The response for an error document (taken); without memory, still one answer of that shape. */
static struct MHD_Response *error_response(unsigned status, json_t *doc, unsigned *ret_status)
{
	*ret_status = status;
	struct MHD_Response *r = api_json(NULL, doc);
	if (!r) {
		static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"the error could "
					       "not be rendered\",\"detail\":{}}}\n";
		r = api_with_json_headers(
			MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback, MHD_RESPMEM_PERSISTENT));
	}
	return r;
}

struct MHD_Response *api_error(unsigned status, const char *code, const char *message, json_t *detail,
			       unsigned *ret_status)
{
	return error_response(status, api_error_document(code, message, detail), ret_status);
}

static unsigned status_for(int code)
{
	switch (code) {
	case MD_E_USAGE: return MHD_HTTP_BAD_REQUEST;
	case MD_E_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
	case MD_E_BUSY:
	case MD_E_FAILED_EXISTS:
	case MD_E_LOCK_TIMEOUT: return MHD_HTTP_CONFLICT;
	case MD_E_CATALOG:
	case MD_E_NOT_EMPTY:
	case MD_E_RESOLVE:
	case MD_E_ROLLBACK:
	case MD_E_MIGRATION:
	case MD_E_LINT:
	case MD_E_PREFLIGHT: return MHD_HTTP_UNPROCESSABLE_CONTENT;
	case MD_E_CONNECT:
	case MD_E_UNAVAILABLE: return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

struct MHD_Response *api_error_from(const struct md_error *err, unsigned *ret_status)
{
	return error_response(status_for(err->code), md_report_error_json(err), ret_status);
}
