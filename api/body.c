/* body.c - JSON request bodies checked against the fields a route accepts. A client learns
 * exactly what was wrong: the position of a syntax error, the unknown field, the wrong type. */
#include "api_internal.h"

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
