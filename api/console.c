/* console.c - the web console: GET / (a redirect), GET /ui/ and GET /ui/{file} answered from the
 * files of ui/ embedded in the binary at build time (scripts/embed-ui.py writes console_files.c),
 * so the daemon serves them from any directory; and GET /v1/whoami, who the presented token is.
 * Static answers carry a strict Content-Security-Policy and an ETag (If-None-Match: 304). Not for
 * anything the console does: that is the API the console calls like any client. */
#include "api_internal.h"
#include "migrated/tokens.h"

#include <string.h>

/* No inline script or style, no eval, nothing but this origin; never framed. */
#define CONSOLE_CSP                                                                                     \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static struct MHD_Response *with_static_headers(struct MHD_Response *r)
{
	if (r) {
		MHD_add_response_header(r, "Content-Security-Policy", CONSOLE_CSP);
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
		MHD_add_response_header(r, "X-Frame-Options", "DENY");
	}
	return r;
}

struct MHD_Response *api_console_root(struct md_request *req, unsigned *ret_status)
{
	(void)req;
	struct MHD_Response *r = with_static_headers(MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/ui/");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	*ret_status = MHD_HTTP_FOUND;
	return r;
}

const struct api_console_file *api_console_find(const char *name)
{
	size_t n;
	const struct api_console_file *files = api_console_files(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].name, name) == 0)
			return &files[i];
	return NULL;
}

struct MHD_Response *api_console_file(struct md_request *req, unsigned *ret_status)
{
	const char *name = req->param[0] ? req->param : "index.html";
	const struct api_console_file *f = api_console_find(name);
	if (!f)
		return with_static_headers(
			api_error(MHD_HTTP_NOT_FOUND, "not_found", "the console has no such file", NULL, ret_status));
	const char *inm = api_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	bool fresh = inm && strstr(inm, f->etag);
	struct MHD_Response *r = with_static_headers(MHD_create_response_from_buffer(
		fresh ? 0 : f->len, fresh ? NULL : (void *)f->data, MHD_RESPMEM_PERSISTENT));
	if (r) {
		if (!fresh)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
		/* The files change only with the binary: revalidate every time, an answer of 304. */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	}
	*ret_status = fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
	return r;
}

struct MHD_Response *api_whoami(struct md_request *req, unsigned *ret_status)
{
	bool read_auth;
	/* A token presented but unknown is refused as on every other route: the console's sign-in
	 * must tell a wrong token from none. */
	if (req->role == MD_ROLE_NONE && api_header(req, MHD_HTTP_HEADER_AUTHORIZATION)) {
		struct MHD_Response *r = api_error(MHD_HTTP_UNAUTHORIZED, "unauthorized",
						   "the bearer token is not valid", NULL, ret_status);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"migrated\"");
		return r;
	}
	size_t tokens;
	pthread_rwlock_rdlock(&req->api->tokens_lock);
	read_auth = req->api->read_auth;
	tokens = md_tokens_count(req->api->deps.tokens);
	pthread_rwlock_unlock(&req->api->tokens_lock);
	*ret_status = MHD_HTTP_OK;
	return api_json(req, json_pack("{s:o, s:s, s:b}", "name", req->actor[0] ? json_string(req->actor) : json_null(),
				       "role", md_role_name(req->role), "read_open", !read_auth || tokens == 0));
}
