/* body.c - JSON request bodies checked against the fields a route accepts. A client learns
 * exactly what was wrong: the position of a syntax error, the unknown field, the wrong type. */
#include "api_internal.h"
#include "migrated/backup.h"
#include "migrated/macro.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(enum md_field_type t)
{
	return t == MD_FIELD_BOOL ? "true or false" : "a string";
}

int md_body_parse(const char *buf, size_t len, const struct md_body_field *fields, size_t n, json_t **ret,
		  struct md_error *err)
{
	json_error_t je;
	json_t *j, *v;
	const char *key;
	char expected[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(expected + used, used < sizeof expected ? sizeof expected - used : 0, "%s%s",
					 i ? ", " : "", fields[i].name);
	/* Whitespace only counts as no body. */
	size_t start = 0;
	while (start < len && (buf[start] == ' ' || buf[start] == '\n' || buf[start] == '\r' || buf[start] == '\t'))
		start++;
	if (start == len) {
		j = json_object();
	} else {
		j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
		if (!j)
			return md_error_set(err, MD_E_USAGE, "the body is not valid JSON: %s (line %d, column %d)",
					    je.text, je.line, je.column);
		if (!json_is_object(j)) {
			json_decref(j);
			return md_error_set(err, MD_E_USAGE, "the body must be a JSON object (fields: %s)", expected);
		}
	}
	json_object_foreach(j, key, v)
	{
		const struct md_body_field *f = NULL;
		for (size_t i = 0; i < n; i++)
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		if (!f) {
			md_error_set(err, MD_E_USAGE, "unknown field \"%.100s\" (this route takes: %s)", key,
				     n ? expected : "no fields");
			json_decref(j);
			return MD_E_USAGE;
		}
		bool ok = f->type == MD_FIELD_BOOL ? json_is_boolean(v) : json_is_string(v);
		if (!ok) {
			md_error_set(err, MD_E_USAGE, "field \"%s\" must be %s", f->name, type_name(f->type));
			json_decref(j);
			return MD_E_USAGE;
		}
		if (f->type == MD_FIELD_STRING && f->max_len && strlen(json_string_value(v)) > f->max_len) {
			md_error_set(err, MD_E_USAGE, "field \"%s\" is longer than %zu characters", f->name,
				     f->max_len);
			json_decref(j);
			return MD_E_USAGE;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !json_object_get(j, fields[i].name)) {
			md_error_set(err, MD_E_USAGE, "missing field \"%s\" (%s)", fields[i].name,
				     type_name(fields[i].type));
			json_decref(j);
			return MD_E_USAGE;
		}
	*ret = j;
	return 0;
}

/* ---- the bodies the routes take (also what fuzz_body fuzzes) ---- */

static const struct md_body_field deploy_fields[] = {
	{"dry_run", MD_FIELD_BOOL, false, 0},
	{"backup", MD_FIELD_BOOL, false, 0},             /* overrides backup_before_deploy */
	{"verify", MD_FIELD_BOOL, false, 0},             /* false: skip the post-deploy verification */
	{"override_lint", MD_FIELD_BOOL, false, 0},      /* admin: deploy past the lint gate */
	{"override_preflight", MD_FIELD_BOOL, false, 0}, /* admin: deploy past the data preflight */
};
static const struct md_body_field resolve_fields[] = {
	{"migration", MD_FIELD_STRING, true, 255 * 4},
	{"as", MD_FIELD_STRING, true, 32},
};
static const struct md_body_field rollback_fields[] = {
	{"strategy", MD_FIELD_STRING, true, 16},
	{"to", MD_FIELD_STRING, false, 255 * 4},
	{"backup", MD_FIELD_STRING, false, MD_BACKUP_ID_MAX},
	{"confirm", MD_FIELD_BOOL, false, 0},
};

const struct md_body_schema api_deploy_body = {deploy_fields, MD_ARRAY_SIZE(deploy_fields)};
const struct md_body_schema api_resolve_body = {resolve_fields, MD_ARRAY_SIZE(resolve_fields)};
const struct md_body_schema api_rollback_body = {rollback_fields, MD_ARRAY_SIZE(rollback_fields)};
const struct md_body_schema api_backup_body = {NULL, 0}; /* POST /v1/backups: {} only */
