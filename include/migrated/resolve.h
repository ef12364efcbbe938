/* resolve.h - `migrate resolve`, with Prisma's exact rules, under the migration lock:
 *  --applied NAME      NAME's folder and migration.sql must exist (P3017); a finished row of
 *                      NAME refuses (P3008); its failed rows are marked rolled back and a row
 *                      recording it applied is inserted, in one transaction. Creates
 *                      _prisma_migrations when missing (baselining an existing database).
 *  --rolled-back NAME  no history table or no row of NAME refuses (P3011); only finished rows
 *                      refuse (P3012); every failed row of NAME gets rolled_back_at = now. */
#ifndef MIGRATED_RESOLVE_H
#define MIGRATED_RESOLVE_H

#include <stdbool.h>

#include "migrated/unfinished.h"

struct md_db;
struct md_catalog;
struct md_error;

enum md_resolve_as {
	MD_RESOLVE_APPLIED,     /* prisma migrate resolve --applied */
	MD_RESOLVE_ROLLED_BACK, /* prisma migrate resolve --rolled-back */
};

struct md_resolve_result {
	int rows_changed;     /* rows marked rolled back */
	bool created_history; /* --applied created _prisma_migrations */
	bool was_failed;      /* NAME had a failed row: remains and note say what it may have left */
	struct md_unfinished remains;
	char note[2048]; /* unfinished.h's account of that row, or "" */
};

/* md_resolve: name is checked (one path component) first: MD_E_USAGE. Refusals return
 * MD_E_RESOLVE with the Prisma code set; MD_E_LOCK_TIMEOUT, MD_E_DB, MD_E_CONNECT otherwise. */
int md_resolve(struct md_db *db, const struct md_catalog *cat, const char *name, enum md_resolve_as as,
	       int lock_wait_ms, struct md_resolve_result *ret, struct md_error *err);

#endif
