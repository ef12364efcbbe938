/* fuzz_sqlsplit.c - libFuzzer target: any bytes through the SQL splitter. Statements must lie
 * inside the input, in order, never overlapping. */
#include "migrated/error.h"
#include "migrated/sqlsplit.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_sqlscript sc;
	struct md_error err = {0};
	if (md_sqlsplit((const char *)data, size, &sc, &err) == 0) {
		size_t prev_end = 0;
		for (size_t i = 0; i < sc.n; i++) {
			if (sc.stmts[i].start < prev_end || sc.stmts[i].end > size ||
			    sc.stmts[i].start >= sc.stmts[i].end)
				abort();
			prev_end = sc.stmts[i].end;
		}
		md_sqlscript_free(&sc);
	}
	return 0;
}
