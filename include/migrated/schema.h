/* schema.h - a canonical description of the schema the migrations own, read from pg_catalog:
 * tables with their columns (type, default, nullability, identity, generated), constraints,
 * indexes (definition and validity) and triggers; views and materialized views (definition);
 * sequences; enums with their values in order; domains; functions and procedures (definition
 * hash); extensions. Objects that belong to an extension and Prisma's _prisma_migrations are
 * left out; names are sorted, so two databases with the same schema give the same JSON and the
 * same fingerprint (sha256 of it). And the differences between two descriptions, in words. */
#ifndef MIGRATED_SCHEMA_H
#define MIGRATED_SCHEMA_H

#include <jansson.h>

#include "migrated/checksum.h"

struct md_db;
struct md_error;

/* md_schema_snapshot: the description of db's target schema (db->schema). *ret is a JSON
 * object (caller's); ret_fingerprint gets its sha256 (may be NULL). MD_E_DB, MD_E_CONNECT. */
int md_schema_snapshot(struct md_db *db, json_t **ret, char ret_fingerprint[MD_CHECKSUM_HEX_LEN + 1],
		       struct md_error *err);
/* md_schema_fingerprint: the sha256 of a description's canonical text. */
int md_schema_fingerprint(const json_t *snapshot, char out[MD_CHECKSUM_HEX_LEN + 1]);

/* md_schema_diff: what differs between the expected description (from the migrations) and the
 * live one: [{"kind", "object", "change": "extra"|"missing"|"changed", "message",
 * "database", "migrations"}], in a stable order. An empty array when they agree. */
json_t *md_schema_diff(const json_t *expected, const json_t *live);

#endif
