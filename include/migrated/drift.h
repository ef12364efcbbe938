/* drift.h - is the schema in the database the schema its applied migrations describe? The
 * expected schema is built the way Prisma's `migrate dev` builds it: the applied migrations
 * (those _prisma_migrations records finished, in the folder's order) are applied to a shadow
 * database, SHADOW_DATABASE_URL when configured (its target schema is emptied first), else a
 * temporary database created and dropped on the same server; that snapshot is cached by the
 * applied migrations' names and checksums, so later checks only read the live catalog. */
#ifndef MIGRATED_DRIFT_H
#define MIGRATED_DRIFT_H

#include <jansson.h>
#include <stdbool.h>

#include "migrated/apply.h"

struct md_catalog;
struct md_db;
struct md_error;

struct md_drift_options {
	const char *shadow_url; /* SHADOW_DATABASE_URL, or NULL for a temporary database */
	const char *cache_dir;  /* where expected snapshots are kept, or NULL for no cache */
	int connect_timeout_s;
	struct md_apply_options apply;
};

/* md_drift_check: compare db (connected through live_url) with its applied migrations.
 * *ret: {"drift": bool, "differences": [...] (md_schema_diff), "live_fingerprint",
 * "expected_fingerprint", "expected_from": "cache" | "shadow database" | "temporary database",
 * "applied": N, "warnings": [...], "duration_ms"}. Errors: MD_E_CATALOG (an applied migration's
 * folder is gone: its schema cannot be known), MD_E_MIGRATION (a migration failed in the
 * shadow: the message says which and why), MD_E_CONFIG (the shadow URL is the live database,
 * or no right to create a temporary database: the hint says to set SHADOW_DATABASE_URL),
 * MD_E_DB, MD_E_CONNECT. */
int md_drift_check(struct md_db *db, const char *live_url, const struct md_catalog *cat,
		   const struct md_drift_options *o, json_t **ret, struct md_error *err);

#endif
