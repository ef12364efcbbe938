/* test_corpus.c - the real migration histories under ../shared/corpus: each deploys on a fresh
 * database to exactly the schema psql-per-file produced (pg_dump --schema-only compared line
 * by line, header noise removed), with the same row counts, a complete history, and a second
 * deploy that changes nothing. */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The comparison the corpus README prescribes: no comments, \restrict lines, SET lines,
 * set_config calls, ownership or blank lines. */
static char *filter_dump(const char *text)
{
	size_t n = strlen(text), o = 0;
	char *out = malloc(n + 1);
	const char *p = text;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool drop = len == 0 || strncmp(p, "--", 2) == 0 || strncmp(p, "\\restrict", 9) == 0 ||
			    strncmp(p, "\\unrestrict", 11) == 0 || strncmp(p, "SET ", 4) == 0 ||
			    strncmp(p, "SELECT pg_catalog.set_config", 29) == 0;
		if (!drop) {
			char *line = strndup(p, len);
			drop = strstr(line, "OWNER TO") != NULL;
			free(line);
		}
		if (!drop) {
			memcpy(out + o, p, len);
			o += len;
			out[o++] = '\n';
		}
		p += len + (e ? 1 : 0);
	}
	out[o] = '\0';
	return out;
}

static char *dump_schema(const char *db)
{
	struct h_result r;
	char bin[512], dbname[256];
	if (h_server_major() > h_client_major())
		return h_schema_dump(db); /* pg_dump 15 refuses a newer server: the catalog listing */
	snprintf(bin, sizeof bin, "%s/pg_dump", h_client_bindir());
	snprintf(dbname, sizeof dbname, "%s", h_url(db));
	char *argv[] = {bin, "--schema-only", "-T", "_prisma_migrations", "--restrict-key=tests", "-d", dbname, NULL};
	h_run_argv(&r, argv, NULL, 120);
	ck_assert_msg(r.rc == 0, "pg_dump failed: %s", r.err);
	char *f = filter_dump(r.out);
	h_result_free(&r);
	return f;
}

/* First differing line of two texts, for a readable failure. */
static void assert_same_text(const char *want, const char *got, const char *what)
{
	if (strcmp(want, got) == 0)
		return;
	const char *a = want, *b = got;
	int line = 1;
	while (*a && *a == *b) {
		if (*a == '\n')
			line++;
		a++;
		b++;
	}
	ck_abort_msg("%s differs at line %d:\n want: %.200s\n  got: %.200s", what, line, a, b);
}

/* Returns false (the test skips) when the corpus is not here. */
static bool check_corpus(const char *name)
{
	const char *shared = h_shared_dir();
	char dir[1024], expected[1024], counts[1024];
	struct h_result r;

	if (!h_corpus_dir(name))
		return false;
	snprintf(dir, sizeof dir, "%s/corpus/%s/migrations", shared, name);
	snprintf(expected, sizeof expected, "%s/corpus/%s/expected-schema.sql", shared, name);
	snprintf(counts, sizeof counts, "%s/corpus/%s/expected-rowcounts.tsv", shared, name);
	char db[128];
	snprintf(db, sizeof db, "%s", h_fresh_db()); /* a second h_fresh_db below must not change it */
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_msg(r.rc == 0, "%s deploy exit %d\n%.2000s", name, r.rc, r.err);
	h_assert_contains(r.out, "pending migrations applied");
	h_result_free(&r);

	if (h_server_major() != 15) {
		/* expected-schema.sql is pg_dump 15's text of a PostgreSQL 15 database, and other
		 * servers print some definitions differently (pg_dump 15 cannot read 16+ at all): run
		 * the same files with psql into a second database on this server and compare the two
		 * (pg_dump's text up to 15, the harness's catalog listing above). */
		char ref[128], cmd[3000];
		snprintf(ref, sizeof ref, "%s", h_fresh_db());
		snprintf(cmd, sizeof cmd,
			 "cd '%s' && ls | LC_ALL=C sort | while IFS= read -r d; do [ -f \"$d/migration.sql\" ] || "
			 "continue; '%s/psql' -X -q -v ON_ERROR_STOP=1 -d '%s' -f \"$d/migration.sql\" >/dev/null || "
			 "exit 1; done",
			 dir, h_client_bindir(), h_url(ref));
		char *argv[] = {"/bin/sh", "-c", cmd, NULL};
		h_run_argv(&r, argv, NULL, 600);
		ck_assert_msg(r.rc == 0, "psql run of %s failed: %.2000s", name, r.err);
		h_result_free(&r);
		char *want = h_schema_dump(ref), *got = h_schema_dump(db);
		ck_assert_int_gt(strlen(want), 1000);
		assert_same_text(want, got, "schema");
		free(want);
		free(got);
	} else {
		char *want_raw = h_read(expected, NULL);
		ck_assert_ptr_nonnull(want_raw);
		char *want = filter_dump(want_raw), *got = dump_schema(db);
		assert_same_text(want, got, "schema");
		free(want_raw);
		free(want);
		free(got);
	}

	/* Row counts of every table, as the psql run left them. */
	char *tsv = h_read(counts, NULL);
	ck_assert_ptr_nonnull(tsv);
	int tables = 0;
	for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
		char schema[128], table[256], q[500];
		long want_n;
		if (sscanf(line, "%127[^\t]\t%255[^\t]\t%ld", schema, table, &want_n) != 3)
			continue; /* the header line */
		snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\".\"%s\"", schema, table);
		char *v = h_q1(db, q);
		ck_assert_msg(v && atol(v) == want_n, "%s: %s has %s rows, want %ld", name, table, v ? v : "NULL",
			      want_n);
		free(v);
		tables++;
	}
	free(tsv);
	ck_assert_int_gt(tables, 10);

	struct h_result cnt;
	char findcmd[1100];
	snprintf(findcmd, sizeof findcmd, "find '%s' -name migration.sql | wc -l", dir);
	char *argv[] = {"/bin/sh", "-c", findcmd, NULL};
	h_run_argv(&cnt, argv, NULL, 30);
	long files = atol(cnt.out);
	h_result_free(&cnt);
	char *rows = h_q1(
		db, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL");
	ck_assert_int_eq(atol(rows), files);
	free(rows);

	char *before =
		h_q1(db, "SELECT md5(string_agg(id || finished_at::text, ',' ORDER BY id)) FROM _prisma_migrations");
	h_migrated(&r, h_env_url(db), "deploy", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "No pending migrations to apply.");
	h_result_free(&r);
	char *after =
		h_q1(db, "SELECT md5(string_agg(id || finished_at::text, ',' ORDER BY id)) FROM _prisma_migrations");
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	h_migrated(&r, h_env_url(db), "status", "--migrations", dir, NULL);
	ck_assert_int_eq(r.rc, 0);
	h_assert_contains(r.out, "Database schema is up to date!");
	h_result_free(&r);
	return true;
}

ITEST(langfuse_history_matches_psqls_schema)
{
	if (!check_corpus("langfuse"))
		H_SKIP("../shared/corpus/langfuse is not here (a bare clone; set MIGRATED_SHARED_DIR)");
}

ITEST(trigger_dev_history_matches_psqls_schema)
{
	if (!check_corpus("trigger.dev"))
		H_SKIP("../shared/corpus/trigger.dev is not here (a bare clone; set MIGRATED_SHARED_DIR)");
}

Suite *suite_corpus(void)
{
	Suite *s = suite_create("corpus");
	TCase *tc = tcase_create("corpus");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, langfuse_history_matches_psqls_schema);
	tcase_add_test(tc, trigger_dev_history_matches_psqls_schema);
	suite_add_tcase(s, tc);
	return s;
}
