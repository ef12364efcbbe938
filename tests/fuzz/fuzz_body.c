/* fuzz_body.c - libFuzzer target: request bodies through the parser the API uses, with the
 * real field tables of POST /v1/deploy, /v1/resolve, /v1/rollback and /v1/backups. Must never
 * crash, leak or accept a body that is not a JSON object of known fields. */
#include "../../api/api_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The tables the routes use (body.c), not copies. */
	const struct md_body_schema *schemas[] = {&api_deploy_body, &api_resolve_body, &api_rollback_body,
						  &api_backup_body};
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
		const struct md_body_field *fields = schemas[i]->fields;
		size_t n = schemas[i]->n;
		json_t *j = NULL;
		struct md_error err = {0};
		if (md_body_parse((const char *)data, size, fields, n, &j, &err) == 0) {
			if (!json_is_object(j))
				abort();
			const char *key;
			json_t *v;
			json_object_foreach(j, key, v)
			{
				bool known = false;
				for (size_t k = 0; k < n; k++)
					known = known || strcmp(fields[k].name, key) == 0;
				if (!known)
					abort();
			}
			json_decref(j);
		} else if (j || !err.message[0]) {
			abort();
		}
	}
	return 0;
}
