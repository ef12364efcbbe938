/* catalog.h - the migrations folder as Prisma lays it out: migration_lock.toml and one
 * subdirectory per migration holding migration.sql (and, for migrated, an optional down.sql).
 * Loads names, contents and checksums, in Prisma's apply order. Pure: never logs, never talks
 * to the database. */
#ifndef MIGRATED_CATALOG_H
#define MIGRATED_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "migrated/checksum.h"

struct md_error;

struct md_migration {
	char *name;   /* folder name; owned */
	bool has_sql; /* migration.sql exists and was read */
	char *sql;    /* migration.sql bytes, NUL-terminated; owned; NULL if !has_sql */
	size_t sql_len;
	char checksum[MD_CHECKSUM_HEX_LEN + 1]; /* Prisma's checksum, "" if !has_sql */
	bool utf8_ok;                           /* migration.sql is valid UTF-8 */
	size_t utf8_bad_offset;                 /* first invalid byte when !utf8_ok */
	bool has_down;                          /* down.sql exists (known with MD_CATALOG_PROBE_DOWN or _LOAD_DOWN) */
	char *down_sql;                         /* down.sql bytes, owned, when loaded (MD_CATALOG_LOAD_DOWN) */
	size_t down_len;
};

struct md_catalog {
	char *dir;                  /* the folder as given; owned */
	bool has_lock_file;         /* migration_lock.toml present */
	char provider[32];          /* provider from the lock file, "" if absent */
	struct md_migration *items; /* in Prisma's apply order; owned */
	size_t n;
};

enum md_catalog_flags {
	MD_CATALOG_LOAD_DOWN = 1 << 0,  /* also read down.sql files */
	MD_CATALOG_PROBE_DOWN = 1 << 1, /* only find out which migrations have a down.sql */
};

/* md_catalog_load: scan dir. Errors (err filled, *ret untouched):
 *  MD_E_CONFIG  the folder does not exist or is not a directory;
 *  MD_E_CATALOG migration_lock.toml unreadable or names another provider (P3019), a folder name
 *               that cannot be a migration name (not UTF-8, control characters, > 255 chars);
 *  MD_E_IO      a file could not be read; MD_E_NOMEM.
 * A folder without migration.sql is not an error here (has_sql = false): Prisma only fails
 * (P3015) when it would apply it, and so does the engine. */
int md_catalog_load(const char *dir, unsigned flags, struct md_catalog **ret, struct md_error *err);
void md_catalog_free(struct md_catalog *cat);
/* md_catalog_find: the migration with this exact name, or NULL. */
struct md_migration *md_catalog_find(const struct md_catalog *cat, const char *name);
/* md_migration_name_valid: whether name could be a migration folder name (one path component,
 * UTF-8, no control characters, 1..255 characters). Fills err (MD_E_USAGE) when not. */
int md_migration_name_check(const char *name, struct md_error *err);
/* md_catalog_load_down: read one migration's down.sql now (no-op when already loaded); sets
 * has_down. A missing down.sql is not an error (has_down stays false). */
int md_catalog_load_down(const struct md_catalog *cat, struct md_migration *m, struct md_error *err);

#endif
