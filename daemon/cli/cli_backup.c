/* cli_backup.c - `migrated backup [--list]` and `migrated rollback --to NAME | --restore ID
 * --confirm`: the daemon's backup and rollback jobs as one-shot commands on the same engine,
 * for break-glass use when the daemon is not running. Backups go to the same folder (the
 * daemon lists them too); nothing here writes the daemon's journal. */
#include "cli_internal.h"
#include "migrated/units.h"
#include "migrated/advisory_lock.h"
#include "migrated/backup.h"
#include "migrated/catalog.h"
#include "migrated/cli.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/report.h"
#include "migrated/restore.h"
#include "migrated/rollback.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t cancel_requested;
static PGcancel *volatile canceller;

static void on_signal(int sig)
{
	char errbuf[256];
	cancel_requested = 1;
	if (canceller)
		PQcancel(canceller, errbuf, sizeof errbuf);
	signal(sig, SIG_DFL); /* a second signal ends the process */
}

static void catch_signals(struct md_db *db)
{
	struct sigaction sa = {.sa_handler = on_signal};
	canceller = db ? PQgetCancel(db->conn) : NULL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void release_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (canceller) {
		PGcancel *pc = canceller;
		canceller = NULL;
		PQfreeCancel(pc);
	}
}

static int list_backups(const struct md_backup_options *o, bool json)
{
	struct md_error err = {0};
	struct md_backup *list = NULL;
	size_t n = 0, skipped = 0;
	char size[32];

	if (md_backup_list(o->dir, &list, &n, &skipped, &err) < 0)
		return cli_fail(json, &err);
	if (json) {
		cli_print_json(md_report_backups_json(o->dir, list, n, skipped));
	} else if (n == 0) {
		printf("No backups in %s\n", o->dir);
	} else {
		printf("%-53s  %-20s  %-11s  %10s  %s\n", "ID", "CREATED", "KIND", "SIZE", "HEAD");
		for (size_t i = 0; i < n; i++) {
			md_format_bytes((double)list[i].size_bytes, size, sizeof size);
			printf("%-53s  %-20s  %-11s  %10s  %s\n", list[i].id, list[i].created_at, list[i].kind, size,
			       list[i].head[0] ? list[i].head : "-");
		}
		if (skipped)
			printf("(%zu unreadable record%s skipped)\n", skipped, skipped == 1 ? "" : "s");
	}
	free(list);
	return MD_EXIT_OK;
}

/* Takes one backup and prunes; prints it unless quiet. */
static int take(const struct md_backup_options *o, struct md_db *db, const char *url, const char *kind, bool json,
		bool quiet, struct md_backup *ret, struct md_error *err)
{
	json_t *pruned = json_array();
	int r = md_backup_take(o, db, url, kind, NULL, &cancel_requested, ret, err);
	if (r == 0) {
		struct md_error e2 = {0};
		if (md_backup_prune(o, pruned, &e2) < 0)
			fprintf(stderr, "warning: backup retention failed: %s\n", e2.message);
	}
	if (r == 0 && json && !quiet) {
		cli_print_json(json_pack("{s:o, s:O}", "backup", md_backup_json(ret), "pruned", pruned));
	} else if (r == 0 && !quiet) {
		char size[32];
		md_format_bytes((double)ret->size_bytes, size, sizeof size);
		printf("Backup %s\n  file    %s\n  size    %s, sha256 %s\n  took    %.1f s (pg_dump %s)\n  head    "
		       "%s\n",
		       ret->id, ret->path, size, ret->sha256, ret->duration_ms / 1000, ret->pg_dump_version,
		       ret->head[0] ? ret->head : "(no migration applied)");
		size_t i;
		json_t *id;
		json_array_foreach(pruned, i, id) printf("Retention removed backup %s\n", json_string_value(id));
	}
	json_decref(pruned);
	return r;
}

int cli_backup(const struct md_config *cfg, bool json, bool list)
{
	struct md_error err = {0};
	struct md_backup_options o;
	struct md_db *db = NULL;
	struct md_backup b;
	const char *url = NULL;
	int rc;

	if (md_backup_options_from(cfg, &o, &err) < 0)
		return cli_fail(json, &err);
	if (list) {
		rc = list_backups(&o, json);
		md_backup_options_free(&o);
		return rc;
	}
	if (cli_open_target(cfg, &db, &url, &err) < 0) {
		md_backup_options_free(&o);
		return cli_fail(json, &err);
	}
	catch_signals(NULL);
	rc = take(&o, db, url, "manual", json, false, &b, &err) < 0 ? cli_fail(json, &err) : MD_EXIT_OK;
	release_signals();
	md_db_close(db);
	md_backup_options_free(&o);
	return rc;
}

/* ---- rollback ---- */

static void on_event(void *ctx, const struct md_apply_event *ev)
{
	char dur[32];
	if (*(bool *)ctx)
		return; /* --json */
	if (ev->kind == MD_EV_PREFLIGHT_DONE)
		printf("%zu migration%s to roll back\n", ev->total, ev->total == 1 ? "" : "s");
	else if (ev->kind == MD_EV_MIGRATION_DONE) {
		md_report_duration(ev->duration_ms, dur, sizeof dur);
		printf("  rolled back in %s\n", dur);
	} else
		md_report_deploy_event_text(stdout, ev);
}

static int rollback_down(const struct md_config *cfg, bool json, const char *to)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_rollback_report rep = {0};
	struct md_apply_options opts;
	struct md_apply_hooks hooks = {on_event, &json, &cancel_requested, NULL};
	int r, rc;

	md_apply_options_from(cfg, &opts);
	r = md_catalog_load(cfg->migrations_dir, MD_CATALOG_LOAD_DOWN, &cat, &err);
	if (r == 0)
		r = cli_open_target(cfg, &db, NULL, &err);
	if (r == 0) {
		catch_signals(db);
		r = md_rollback_down(db, cat, to, &opts, &hooks, &rep, &err);
		release_signals();
	}
	if (r < 0) {
		if (rep.failure.present && !json)
			md_report_failure_text(stderr, &rep.failure, cfg->migrations_dir);
		rc = cli_fail(json, &err);
	} else {
		if (json) {
			json_t *names = json_array();
			for (size_t i = 0; i < rep.n_rolled_back; i++)
				json_array_append_new(names, json_string(rep.rolled_back[i]));
			cli_print_json(json_pack("{s:b, s:s, s:o, s:f}", "ok", 1, "to", to, "rolled_back", names,
						 "duration_ms", rep.total_ms));
		} else if (rep.n_rolled_back)
			printf("Rolled back to %s: %zu migration%s recorded rolled back; the next deploy applies them "
			       "again.\n",
			       to, rep.n_rolled_back, rep.n_rolled_back == 1 ? "" : "s");
		else
			printf("Nothing to roll back: %s is the newest applied migration.\n", to);
		rc = MD_EXIT_OK;
	}
	md_rollback_report_free(&rep);
	md_db_close(db);
	md_catalog_free(cat);
	return rc;
}

static int rollback_restore(const struct md_config *cfg, bool json, const char *id, bool confirm)
{
	struct md_error err = {0};
	struct md_backup_options o;
	struct md_backup b, safety;
	struct md_restore_report rep;
	struct md_db *db = NULL;
	const char *url = NULL;
	bool locked = false;
	int r;

	if (md_backup_options_from(cfg, &o, &err) < 0)
		return cli_fail(json, &err);
	r = md_backup_find(o.dir, id, &b, &err);
	if (r == 0 && !confirm) {
		double age = (double)time(NULL) - b.created_unix;
		md_error_hint(&err, "add --confirm to restore it (a safety backup of the database as it is now is "
				    "taken first)");
		r = md_error_set(&err, MD_E_USAGE,
				 "restoring %s replaces the database with its state of %s (%.0f minutes ago; last "
				 "migration then: %s): every write since then is discarded",
				 b.id, b.created_at, age / 60, b.head[0] ? b.head : "none");
	}
	if (r == 0)
		r = cli_open_target(cfg, &db, &url, &err);
	if (r == 0) {
		catch_signals(NULL);
		r = md_lock_acquire(db, cfg->advisory_lock_wait_ms, NULL, NULL, &err);
		locked = r == 0;
	}
	if (r == 0 && !json)
		printf("Taking a safety backup first...\n");
	if (r == 0)
		r = take(&o, db, url, "pre-restore", json, true, &safety, &err);
	if (r == 0 && !json)
		printf("Safety backup %s written (%s)\nRestoring %s...\n", safety.id, safety.path, b.id);
	if (r == 0)
		r = md_restore_run(&o, db, url, &b, cfg->lock_timeout_ms, &cancel_requested, &rep, &err);
	release_signals();
	if (locked && md_db_alive(db) && PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		struct md_error ignored;
		md_lock_release(db, &ignored);
	}
	md_db_close(db);
	md_backup_options_free(&o);
	if (r < 0)
		return cli_fail(json, &err);
	if (json)
		cli_print_json(json_pack("{s:b, s:s, s:s, s:s?, s:I, s:f}", "ok", 1, "restored", b.id, "safety_backup",
					 safety.id, "head", rep.head[0] ? rep.head : NULL, "applied",
					 (json_int_t)rep.applied, "duration_ms", rep.restore_ms));
	else
		printf("Restored %s in %.1f s: %zu migration%s applied, the newest %s.\n", b.id, rep.restore_ms / 1000,
		       rep.applied, rep.applied == 1 ? "" : "s", rep.head[0] ? rep.head : "none");
	return MD_EXIT_OK;
}

int cli_rollback(const struct md_config *cfg, bool json, const char *to, const char *restore_id, bool confirm)
{
	if (to) {
		struct md_error err = {0};
		if (md_migration_name_check(to, &err) < 0)
			return cli_fail(json, &err);
		return rollback_down(cfg, json, to);
	}
	return rollback_restore(cfg, json, restore_id, confirm);
}
