/* resolve.c - marking a migration applied or rolled back by hand (see resolve.h). */
#include "migrated/resolve.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/plan.h"
#include "migrated/strbuf.h"
#include "migrated/unfinished.h"

#include <stdio.h>
#include <string.h>

/* What the failed row of name may have left, for the operator to check after resolving it:
 * resolve records what the operator says, it cannot see the schema. */
static void note_remains(const struct md_catalog *cat, const struct md_history *h, const char *name,
			 struct md_resolve_result *ret)
{
	struct md_plan *plan = NULL;
	struct md_error ignored;
	if (md_plan_build(cat, h, &plan, &ignored) < 0)
		return;
	for (size_t i = 0; i < plan->n; i++) {
		const struct md_plan_item *it = &plan->items[i];
		struct md_strbuf sb = MD_STRBUF_INIT;
		if (it->state != MD_MIG_FAILED || strcmp(it->name, name) != 0)
			continue;
		md_unfinished_assess(it, &ret->remains);
		md_unfinished_describe(it, 20, &sb);
		if (!md_strbuf_failed(&sb))
			snprintf(ret->note, sizeof ret->note, "%s", md_strbuf_cstr(&sb));
		md_strbuf_free(&sb);
		ret->was_failed = true;
		break;
	}
	md_plan_free(plan);
}

static int resolve_applied(struct md_db *db, const struct md_catalog *cat, const char *name,
			   struct md_resolve_result *ret, struct md_error *err)
{
	const struct md_migration *m = md_catalog_find(cat, name);
	struct md_history *h = NULL;
	int r;

	if (!m || !m->has_sql) {
		md_error_prisma(err, "P3017");
		md_error_hint(err, "pass the whole folder name, e.g. 20201207184859_initial_migration; `migrated "
				   "status` lists them");
		return md_error_set(
			err, MD_E_RESOLVE,
			"The migration %s could not be found%s. Please make sure that the migration exists, and "
			"that you included the whole name of the directory.",
			name, m ? " (its folder has no migration.sql)" : " in the migrations folder");
	}
	r = md_history_load(db, &h, err);
	if (r < 0)
		return r;
	if (!h->exists) {
		r = md_history_create(db, err);
		if (r < 0)
			goto out;
		ret->created_history = true;
	}
	for (size_t i = 0; i < h->n; i++) {
		if (strcmp(h->rows[i].migration_name, name) == 0 && h->rows[i].finished_at) {
			md_error_prisma(err, "P3008");
			md_error_hint(err, "nothing to do: `migrated status` shows it applied%s",
				      h->rows[i].rolled_back_at
					      ? " earlier (that row was later marked rolled back; Prisma still refuses)"
					      : "");
			r = md_error_set(err, MD_E_RESOLVE,
					 "The migration `%s` is already recorded as applied in the database.", name);
			goto out;
		}
		if (strcmp(h->rows[i].migration_name, name) == 0 && !h->rows[i].rolled_back_at)
			ret->rows_changed++;
	}
	note_remains(cat, h, name, ret);
	r = md_history_resolve_applied(db, name, m->checksum, err);
out:
	md_history_free(h);
	return r;
}

static int resolve_rolled_back(struct md_db *db, const struct md_catalog *cat, const char *name,
			       struct md_resolve_result *ret, struct md_error *err)
{
	struct md_history *h = NULL;
	size_t rows = 0, finished = 0;
	int r;

	r = md_history_load(db, &h, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->rows[i].migration_name, name) == 0) {
			rows++;
			finished += h->rows[i].finished_at != NULL;
		}
	if (rows > finished)
		note_remains(cat, h, name, ret);
	md_history_free(h);
	if (rows == 0) {
		md_error_prisma(err, "P3011");
		md_error_hint(err, "check the name with `migrated status`; only a migration that failed can be marked "
				   "rolled back");
		return md_error_set(
			err, MD_E_RESOLVE,
			"Migration `%s` cannot be rolled back because it was never applied to the database. "
			"Hint: did you pass in the whole migration name? (example: "
			"\"20201207184859_initial_migration\")",
			name);
	}
	if (rows == finished) {
		md_error_prisma(err, "P3012");
		md_error_hint(err,
			      "it applied successfully; to undo it write a new migration (or use a down rollback)");
		return md_error_set(err, MD_E_RESOLVE,
				    "Migration `%s` cannot be rolled back because it is not in a failed state.", name);
	}
	r = md_history_resolve_rolled_back(db, name, err);
	if (r < 0)
		return r;
	ret->rows_changed = r;
	return 0;
}

int md_resolve(struct md_db *db, const struct md_catalog *cat, const char *name, enum md_resolve_as as,
	       int lock_wait_ms, struct md_resolve_result *ret, struct md_error *err)
{
	struct md_error ignored;
	int r;

	memset(ret, 0, sizeof *ret);
	r = md_migration_name_check(name, err);
	if (r < 0)
		return r;
	if (db->in_recovery)
		return md_error_set(err, MD_E_DB, "the database %s is a read-only standby (in recovery)", db->display);
	r = md_lock_acquire(db, lock_wait_ms, NULL, NULL, err);
	if (r < 0)
		return r;
	if (as == MD_RESOLVE_APPLIED)
		r = resolve_applied(db, cat, name, ret, err);
	else
		r = resolve_rolled_back(db, cat, name, ret, err);
	if (md_db_alive(db))
		md_lock_release(db, &ignored);
	return r;
}
