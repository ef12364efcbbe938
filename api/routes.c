/* routes.c - the one route table: every URL the API answers appears here and nowhere else. */
#include "api_internal.h"
#include "migrated/macro.h"

#include <stdio.h>
#include <string.h>

static const struct route routes[] = {
	{"GET", "/v1/health", MD_ROLE_NONE, 0, api_health},
	{"GET", "/healthz", MD_ROLE_NONE, 0, api_healthz},
	{"GET", "/readyz", MD_ROLE_NONE, 0, api_readyz},
	{"GET", "/v1/status", MD_ROLE_READ, 0, api_status},
	{"GET", "/v1/plan", MD_ROLE_READ, 0, api_plan},
	{"GET", "/v1/lint", MD_ROLE_READ, 0, api_lint},
	{"GET", "/v1/drift", MD_ROLE_READ, 0, api_drift},
	{"POST", "/v1/deploy", MD_ROLE_DEPLOY, ROUTE_BODY, api_deploy},
	{"POST", "/v1/resolve", MD_ROLE_ADMIN, ROUTE_BODY | ROUTE_BODY_REQUIRED, api_resolve},
	{"GET", "/v1/jobs", MD_ROLE_READ, 0, api_jobs_list},
	{"GET", "/v1/jobs/{id}", MD_ROLE_READ, 0, api_job_get},
	{"GET", "/v1/jobs/{id}/events", MD_ROLE_READ, 0, api_job_events},
	{"POST", "/v1/jobs/{id}/cancel", MD_ROLE_DEPLOY, 0, api_job_cancel},
	{"POST", "/v1/rollback", MD_ROLE_ADMIN, ROUTE_BODY | ROUTE_BODY_REQUIRED, api_rollback},
	{"GET", "/v1/backups", MD_ROLE_READ, 0, api_backups_list},
	{"POST", "/v1/backups", MD_ROLE_DEPLOY, ROUTE_BODY, api_backups_post},
	{"GET", "/v1/notifications", MD_ROLE_READ, 0, api_notifications_list},
	{"POST", "/v1/notifications/test", MD_ROLE_ADMIN, 0, api_notifications_test},
	{"GET", "/v1/targets", MD_ROLE_READ, 0, api_targets_list},
	{"GET", "/v1/targets/{name}/status", MD_ROLE_READ, 0, api_target_status},
	{"GET", "/v1/targets/{name}/plan", MD_ROLE_READ, 0, api_target_plan},
	{"GET", "/v1/targets/{name}/drift", MD_ROLE_READ, 0, api_target_drift},
	{"GET", "/v1/targets/{name}/backups", MD_ROLE_READ, 0, api_target_backups},
	{"POST", "/v1/targets/{name}/deploy", MD_ROLE_DEPLOY, ROUTE_BODY, api_target_deploy},
	{"POST", "/v1/targets/{name}/resolve", MD_ROLE_ADMIN, ROUTE_BODY | ROUTE_BODY_REQUIRED, api_target_resolve},
	{"POST", "/v1/targets/{name}/rollback", MD_ROLE_ADMIN, ROUTE_BODY | ROUTE_BODY_REQUIRED, api_target_rollback},
	{"POST", "/v1/fleet/deploy", MD_ROLE_DEPLOY, ROUTE_BODY, api_fleet_deploy},
	{"GET", "/metrics", MD_ROLE_READ, ROUTE_METRICS, api_metrics},
	{"GET", "/v1/whoami", MD_ROLE_NONE, 0, api_whoami},
	{"GET", "/", MD_ROLE_NONE, 0, api_console_root},
	{"GET", "/ui/", MD_ROLE_NONE, 0, api_console_file},
	{"GET", "/ui/{file}", MD_ROLE_NONE, 0, api_console_file},
	{"GET", "/ui", MD_ROLE_NONE, 0, api_console_root},
};

size_t api_route_count(void)
{
	return MD_ARRAY_SIZE(routes);
}

const struct route *api_route_at(size_t i)
{
	return i < MD_ARRAY_SIZE(routes) ? &routes[i] : NULL;
}

size_t api_route_index(const struct route *r)
{
	return r && r >= routes && r < routes + MD_ARRAY_SIZE(routes) ? (size_t)(r - routes) : MD_ARRAY_SIZE(routes);
}

/* Matches url against pattern; {id} takes one non-empty segment of safe characters, {file} and
 * {name} (a target's) the same and dots but not a leading one (never a slash nor "..": never a
 * way out of the embedded table). */
static bool match(const char *pattern, const char *url, char *param, size_t paramsz)
{
	const char *p = pattern, *u = url;
	while (*p) {
		bool file = strncmp(p, "{file}", 6) == 0 || strncmp(p, "{name}", 6) == 0;
		if (file || strncmp(p, "{id}", 4) == 0) {
			size_t n = strcspn(u, "/");
			if (n == 0 || n >= paramsz || (file && u[0] == '.'))
				return false;
			for (size_t i = 0; i < n; i++) {
				char c = u[i];
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				      c == '-' || c == '_' || (file && c == '.')))
					return false;
			}
			memcpy(param, u, n);
			param[n] = '\0';
			u += n;
			p += file ? 6 : 4;
		} else if (*p++ != *u++) {
			return false;
		}
	}
	return *u == '\0' || (*u == '/' && u[1] == '\0');
}

const struct route *api_route_find(const char *method, const char *url, char *param, size_t paramsz, char *allow,
				   size_t allowsz, bool *ret_path_known)
{
	char tmp[80];
	size_t used = 0;

	*ret_path_known = false;
	allow[0] = '\0';
	for (size_t i = 0; i < MD_ARRAY_SIZE(routes); i++) {
		tmp[0] = '\0'; /* routes without {id} leave it empty */
		if (!match(routes[i].pattern, url, tmp, sizeof tmp))
			continue;
		*ret_path_known = true;
		if (strcmp(routes[i].method, method) == 0) {
			snprintf(param, paramsz, "%s", tmp);
			return &routes[i];
		}
		used += (size_t)snprintf(allow + used, used < allowsz ? allowsz - used : 0, "%s%s", used ? ", " : "",
					 routes[i].method);
		if (strcmp(routes[i].method, "GET") == 0)
			used += (size_t)snprintf(allow + used, used < allowsz ? allowsz - used : 0, ", HEAD");
	}
	return NULL;
}
