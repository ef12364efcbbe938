/* backup.h - pg_dump backups in a folder of their own (<state_dir>/backups by default): one
 * custom-format archive per backup, named by time and job id, written under a temporary name
 * and renamed when pg_dump has finished and synced it, with a JSON sidecar beside it holding
 * what the journal also records (size, duration, sha256, server and pg_dump versions, the
 * migration head at that time). Listing reads the sidecars; retention prunes by count and age.
 * No module above this one touches the files. */
#ifndef MIGRATED_BACKUP_H
#define MIGRATED_BACKUP_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrated/checksum.h"

struct md_config;
struct md_db;
struct md_error;

#define MD_BACKUP_ID_MAX 80

struct md_backup_options {
	char *dir;          /* owned */
	int keep;           /* keep the newest N (0: no count rule) */
	long keep_within_s; /* keep those younger than this (0: no age rule) */
	int timeout_ms;     /* pg_dump / pg_restore limit (0: none) */
	char *pg_dump;      /* configured paths, or NULL to find them; owned */
	char *pg_restore;
	char *psql;
	bool before_deploy; /* deploys with pending migrations take one first */
};

/* md_backup_options_from: the backup keys of cfg, copied. MD_E_NOMEM. */
int md_backup_options_from(const struct md_config *cfg, struct md_backup_options *ret, struct md_error *err);
int md_backup_options_copy(const struct md_backup_options *src, struct md_backup_options *ret, struct md_error *err);
void md_backup_options_free(struct md_backup_options *o);

struct md_backup {
	char id[MD_BACKUP_ID_MAX]; /* "20261202T075830Z-<uuid>": the file's name without .dump */
	char created_at[32];       /* ISO 8601 UTC */
	double created_unix;
	char job_id[40]; /* the job that took it, "" for the CLI */
	char kind[16];   /* "pre-deploy", "manual", "pre-restore" */
	uint64_t size_bytes;
	char sha256[MD_CHECKSUM_HEX_LEN + 1];
	double duration_ms; /* the whole backup step */
	char server_version[64];
	char pg_dump_version[32];
	char database[640]; /* user@host:port/db, never the password */
	char head[256];     /* the newest applied migration then, "" when none */
	size_t applied;     /* migrations applied then */
	char path[4096];    /* the archive */
};

/* md_backup_take: a pg_dump --format=custom of the database url names (DIRECT_URL or
 * DATABASE_URL; db is an open connection to the same database, for its size, server version
 * and the migration head), kind and job_id (may be NULL) recorded with it. Checks first that
 * the folder can be created and written and that its filesystem has at least the database's
 * size free. Errors: MD_E_CONFIG (pg_dump missing or older than the server), MD_E_IO (the
 * folder, no space, pg_dump failed: the message quotes pg_dump), MD_E_CANCELLED, MD_E_DB.
 * Nothing is left behind on failure. */
int md_backup_take(const struct md_backup_options *o, struct md_db *db, const char *url, const char *kind,
		   const char *job_id, const volatile sig_atomic_t *cancel, struct md_backup *ret,
		   struct md_error *err);

/* md_backup_list: the backups in dir, newest first (*ret malloc'd, *ret_n of them; a folder that
 * does not exist is an empty list). Sidecars that do not parse, or whose archive is gone, are
 * skipped and counted in *ret_skipped (may be NULL). */
int md_backup_list(const char *dir, struct md_backup **ret, size_t *ret_n, size_t *ret_skipped, struct md_error *err);
/* md_backup_find: one backup by id. MD_E_USAGE for an id that cannot be one (it is never used
 * as a path then), MD_E_NOT_FOUND. */
int md_backup_find(const char *dir, const char *id, struct md_backup *ret, struct md_error *err);
/* md_backup_id_valid: whether id has the shape of a backup id (letters, digits, '-', '_'). */
bool md_backup_id_valid(const char *id);

/* md_backup_select_prune: which of list[0..n) (newest first) retention removes at time now:
 * a backup is kept when it is among the newest `keep` or younger than keep_within_s; with
 * neither rule set everything is kept, and the newest is always kept. Sets prune[i]. Pure. */
size_t md_backup_select_prune(const struct md_backup *list, size_t n, int keep, long keep_within_s, double now,
			      bool *prune);
/* md_backup_prune: apply retention to o->dir now; the ids removed are appended to *ret_pruned
 * (a JSON array, may be NULL). Returns the number removed, or MD_E_IO. */
int md_backup_prune(const struct md_backup_options *o, json_t *ret_pruned, struct md_error *err);

/* md_backup_json: the API's shape: {"id", "created_at", "job_id", "kind", "size_bytes",
 * "sha256", "duration_ms", "server_version", "pg_dump_version", "database", "head", "applied",
 * "file"}. */
json_t *md_backup_json(const struct md_backup *b);

#endif
