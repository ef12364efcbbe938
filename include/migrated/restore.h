/* restore.h - putting a backup back: the archive's sha256 checked against its record, then
 * `pg_restore --clean --if-exists` piped into `psql --single-transaction -v ON_ERROR_STOP=1`,
 * so the whole restore commits or none of it does. Before the archive's own statements the
 * same transaction drops what the migration schema holds now (tables, views, sequences,
 * functions, types, extensions installed there): objects created after the backup (a later
 * migration's table) would otherwise survive it while the restored _prisma_migrations says
 * they were never made, and the next deploy would fail on them. Objects in other schemas that
 * the backup does not hold are left as they are. The caller holds the migration lock and has
 * taken a safety backup. */
#ifndef MIGRATED_RESTORE_H
#define MIGRATED_RESTORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct md_backup;
struct md_backup_options;
struct md_db;
struct md_error;

struct md_restore_report {
	double verify_ms;  /* checking the archive's sha256 */
	double restore_ms; /* pg_restore | psql */
	char pg_restore_version[32];
	char head[256]; /* the newest applied migration after the restore, "" when none */
	size_t applied; /* migrations applied after the restore */
};

/* md_restore_run: restore backup b into the database db is connected to (url names it, for the
 * child programs). lock_timeout_ms bounds the wait for the tables' locks (the application's
 * sessions hold them). Errors: MD_E_CONFIG (pg_restore or psql missing or too old), MD_E_IO
 * (the archive is gone or its sha256 differs: nothing was changed), MD_E_DB (the restore
 * failed and was rolled back; the message quotes psql), MD_E_CANCELLED. */
int md_restore_run(const struct md_backup_options *o, struct md_db *db, const char *url, const struct md_backup *b,
		   int lock_timeout_ms, const volatile sig_atomic_t *cancel, struct md_restore_report *ret,
		   struct md_error *err);

#endif
