/* fuzz_body.c - libFuzzer target: request bodies through the parser the API uses, with the
 * field sets of POST /v1/deploy and POST /v1/resolve. Must never crash, leak or accept a body
 * that is not a JSON object of known fields. */
#include "../../api/api_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct md_body_field deploy[] = {{"dry_run", MD_FIELD_BOOL, false, 0}};
static const struct md_body_field resolve[] = {{"migration", MD_FIELD_STRING, true, 1020},
					       {"as", MD_FIELD_STRING, true, 32}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct md_body_field *sets[2] = {deploy, resolve};
	size_t n[2] = {1, 2};
	for (int i = 0; i < 2; i++) {
		json_t *j = NULL;
		struct md_error err = {0};
		if (md_body_parse((const char *)data, size, sets[i], n[i], &j, &err) == 0) {
			if (!json_is_object(j))
				abort();
			const char *key;
			json_t *v;
			json_object_foreach(j, key, v)
			{
				bool known = false;
				for (size_t k = 0; k < n[i]; k++)
					known = known || strcmp(sets[i][k].name, key) == 0;
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
