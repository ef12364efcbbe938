/* fuzz_lint.c - libFuzzer target: any bytes as a migration.sql through the statement
 * recognizer and every lint rule. Findings must point inside the file and name a known rule. */
#include "migrated/catalog.h"
#include "migrated/error.h"
#include "migrated/lint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_lint_options o;
	struct md_lint_report rep = {0};
	struct md_error err = {0};
	char *sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = '\0';
	struct md_migration m = {.name = "20240101000000_fuzz", .has_sql = true, .sql = sql, .sql_len = size};
	if (md_lint_options_init(&o, NULL, size % 2 ? 0 : 10000, 150000, &err) != 0)
		abort();
	if (md_lint_migration(&o, &m, &rep) == 0) {
		unsigned lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += sql[i] == '\n';
		for (size_t i = 0; i < rep.n; i++)
			if (!rep.items[i].rule || rep.items[i].line == 0 || rep.items[i].line > lines)
				abort();
		json_decref(md_lint_report_json(&rep, false));
	}
	md_lint_report_free(&rep);
	free(sql);
	return 0;
}
