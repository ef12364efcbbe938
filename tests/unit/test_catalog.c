/* test_catalog.c - reading a migrations folder: order, checksums, lock file rules, names that
 * cannot be migrations, missing and non-UTF-8 files, down.sql. Uses real temp folders. */
#include "migrated/catalog.h"
#include "migrated/error.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void put(const char *rel, const char *content)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	FILE *f = fopen(path, "wb");
	ck_assert(f);
	fputs(content, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/md-unit-catalog-XXXXXX");
	ck_assert(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(loads_folders_in_prisma_order_with_checksums)
{
	struct md_catalog *cat;
	struct md_error err = {0};
	put("migration_lock.toml", "# comment\nprovider = \"postgresql\"\n");
	put("20240102000000_b/migration.sql", "SELECT 2;\n");
	put("20240101000000_a/migration.sql", "hello");
	put("20240101000000_a/down.sql", "SELECT 0;");
	put("README.md", "not a migration");
	ck_assert_int_eq(md_catalog_load(dir, MD_CATALOG_PROBE_DOWN, &cat, &err), 0);
	ck_assert(cat->has_lock_file);
	ck_assert_str_eq(cat->provider, "postgresql");
	ck_assert_uint_eq(cat->n, 2);
	ck_assert_str_eq(cat->items[0].name, "20240101000000_a");
	ck_assert_str_eq(cat->items[0].checksum, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	ck_assert(cat->items[0].has_down);
	ck_assert_ptr_null(cat->items[0].down_sql);
	ck_assert(!cat->items[1].has_down);
	ck_assert_int_eq(md_catalog_load_down(cat, &cat->items[0], &err), 0);
	ck_assert_str_eq(cat->items[0].down_sql, "SELECT 0;");
	ck_assert_ptr_nonnull(md_catalog_find(cat, "20240102000000_b"));
	ck_assert_ptr_null(md_catalog_find(cat, "20240102000000"));
	md_catalog_free(cat);
	/* Without the probe nothing is known about down.sql until it is asked for. */
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), 0);
	ck_assert(!cat->items[0].has_down);
	ck_assert_int_eq(md_catalog_load_down(cat, &cat->items[0], &err), 0);
	ck_assert(cat->items[0].has_down);
	ck_assert_int_eq(md_catalog_load_down(cat, &cat->items[1], &err), 0);
	ck_assert(!cat->items[1].has_down);
	md_catalog_free(cat);
}
END_TEST

START_TEST(large_files_are_read_whole)
{
	struct md_catalog *cat;
	struct md_error err = {0};
	static char big[100000];
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "-- ", 3);
	put("20240101000000_big/migration.sql", big);
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), 0);
	ck_assert_uint_eq(cat->items[0].sql_len, sizeof big - 1);
	ck_assert_int_eq(memcmp(cat->items[0].sql, big, sizeof big - 1), 0);
	md_catalog_free(cat);
}
END_TEST

START_TEST(other_provider_is_refused_with_p3019)
{
	struct md_catalog *cat = NULL;
	struct md_error err = {0};
	put("migration_lock.toml", "provider = \"mysql\"\n");
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), MD_E_CATALOG);
	ck_assert_str_eq(err.prisma_code, "P3019");
	ck_assert(strstr(err.message, "provider = \"mysql\""));
}
END_TEST

START_TEST(broken_lock_files_are_refused)
{
	struct md_catalog *cat = NULL;
	struct md_error err = {0};
	put("migration_lock.toml", "provider postgresql\n");
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), MD_E_CATALOG);
	ck_assert(strstr(err.message, "line 1"));
	put("migration_lock.toml", "# nothing\n");
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), MD_E_CATALOG);
	ck_assert(strstr(err.message, "no provider"));
}
END_TEST

START_TEST(missing_lock_file_and_missing_sql_are_not_errors_here)
{
	struct md_catalog *cat;
	struct md_error err = {0};
	char path[300];
	snprintf(path, sizeof path, "%s/20240101000000_empty_folder", dir);
	mkdir(path, 0755);
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), 0);
	ck_assert(!cat->has_lock_file);
	ck_assert_uint_eq(cat->n, 1);
	ck_assert(!cat->items[0].has_sql);
	ck_assert_str_eq(cat->items[0].checksum, "");
	md_catalog_free(cat);
}
END_TEST

START_TEST(folder_names_that_cannot_be_migrations_are_refused)
{
	struct md_catalog *cat = NULL;
	struct md_error err = {0};
	put("20240101000000_ok/migration.sql", "SELECT 1;");
	put("2024\nbad/migration.sql", "SELECT 1;");
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), MD_E_CATALOG);
	ck_assert(strstr(err.message, "control character"));
}
END_TEST

START_TEST(missing_folder_is_a_configuration_error)
{
	struct md_catalog *cat = NULL;
	struct md_error err = {0};
	ck_assert_int_eq(md_catalog_load("/nonexistent/prisma/migrations", 0, &cat, &err), MD_E_CONFIG);
	ck_assert(strstr(err.message, "does not exist"));
	ck_assert(strstr(err.hint, "--migrations"));
}
END_TEST

START_TEST(non_utf8_file_is_flagged_with_offset)
{
	struct md_catalog *cat;
	struct md_error err = {0};
	put("20240101000000_latin1/migration.sql", "INSERT INTO t VALUES ('caf\xe9');");
	ck_assert_int_eq(md_catalog_load(dir, 0, &cat, &err), 0);
	ck_assert(!cat->items[0].utf8_ok);
	ck_assert_uint_eq(cat->items[0].utf8_bad_offset, 26);
	md_catalog_free(cat);
}
END_TEST

START_TEST(migration_names_are_single_components)
{
	struct md_error err = {0};
	ck_assert_int_eq(md_migration_name_check("20240101000000_init", &err), 0);
	ck_assert_int_eq(md_migration_name_check("20240126184148_new_models copy", &err), 0);
	ck_assert_int_eq(md_migration_name_check("../../etc/passwd", &err), MD_E_USAGE);
	ck_assert_int_eq(md_migration_name_check("..", &err), MD_E_USAGE);
	ck_assert_int_eq(md_migration_name_check("", &err), MD_E_USAGE);
	ck_assert_int_eq(md_migration_name_check("a\tb", &err), MD_E_USAGE);
	ck_assert_int_eq(md_migration_name_check("bad\xff", &err), MD_E_USAGE);
	char long_name[300];
	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	ck_assert_int_eq(md_migration_name_check(long_name, &err), MD_E_USAGE);
}
END_TEST

Suite *suite_catalog(void)
{
	Suite *s = suite_create("catalog");
	TCase *tc = tcase_create("catalog");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, loads_folders_in_prisma_order_with_checksums);
	tcase_add_test(tc, large_files_are_read_whole);
	tcase_add_test(tc, other_provider_is_refused_with_p3019);
	tcase_add_test(tc, broken_lock_files_are_refused);
	tcase_add_test(tc, missing_lock_file_and_missing_sql_are_not_errors_here);
	tcase_add_test(tc, folder_names_that_cannot_be_migrations_are_refused);
	tcase_add_test(tc, missing_folder_is_a_configuration_error);
	tcase_add_test(tc, non_utf8_file_is_flagged_with_offset);
	tcase_add_test(tc, migration_names_are_single_components);
	suite_add_tcase(s, tc);
	return s;
}
