/* fuzz_journal_line.c - libFuzzer target: one journal line through md_journal_parse_line, the
 * parser that decides at start whether the daemon trusts its own history. Accepted lines must
 * have what the replay relies on. */
#include "migrated/error.h"
#include "migrated/journal.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *rec = NULL;
	struct md_error err = {0};
	if (md_journal_parse_line((const char *)data, size, &rec, &err) == 0) {
		if (!json_is_object(rec) || json_integer_value(json_object_get(rec, "seq")) <= 0 ||
		    !json_is_string(json_object_get(rec, "type")))
			abort();
		json_decref(rec);
	} else if (rec) {
		abort();
	}
	return 0;
}
