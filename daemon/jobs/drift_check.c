/* drift_check.c - the daemon's drift checks: on request (GET /v1/drift) and periodically
 * (drift_interval, off by default), run by the job worker when it is idle so a check never
 * competes with a deploy for the migration lock's attention. Each check opens its own
 * connection on the migration URL; the last one's summary is kept for the health probe.
 * Two kinds: the full check (the live schema against a shadow built from the migrations) and
 * the fingerprint check, which needs no shadow: the live fingerprint against the one the last
 * successful deploy or rollback recorded (run_record_fingerprint). A periodic check falls back
 * to it when no shadow can be had. */
#include "jobs_internal.h"
#include "migrated/catalog.h"
#include "migrated/clock.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/drift.h"
#include "migrated/error.h"
#include "migrated/log.h"
#include "migrated/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void run_record_fingerprint(struct job_run *run, json_t *result)
{
	json_t *snap = NULL;
	char fp[MD_CHECKSUM_HEX_LEN + 1];
	struct md_error err = {0};
	if (!result || !md_db_alive(run->db))
		return;
	if (md_schema_snapshot(run->db, &snap, fp, &err) == 0)
		json_object_set_new(result, "schema_fingerprint", json_string(fp));
	else
		run_log(run, "warning", err.message);
	json_decref(snap);
}

/* The fingerprint the newest successful deploy or rollback recorded, or NULL (caller frees):
 * the schema as migrated last left it. */
static bool same_target(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static char *last_deploy_fingerprint(struct md_jobs *jobs, const char *target, char *job_id, size_t idsz)
{
	char *fp = NULL;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; i-- > 0 && !fp;) {
		const struct job *j = jobs->list[i];
		const char *f = j->result ? json_string_value(json_object_get(j->result, "schema_fingerprint")) : NULL;
		if ((j->kind == MD_JOB_DEPLOY || j->kind == MD_JOB_ROLLBACK) && j->state == MD_JOB_SUCCEEDED && f &&
		    same_target(j->target, target)) {
			fp = strdup(f);
			snprintf(job_id, idsz, "%s", j->id);
		}
	}
	pthread_mutex_unlock(&jobs->lock);
	return fp;
}

static void remember(struct md_jobs *jobs, const json_t *rep, const struct md_error *err)
{
	char ts[32];
	jobs_now_iso(ts);
	json_t *s = rep ? json_pack("{s:s, s:O, s:O, s:I, s:O?}", "checked_at", ts, "mode",
				    json_object_get(rep, "mode"), "drift", json_object_get(rep, "drift"), "differences",
				    (json_int_t)json_array_size(json_object_get(rep, "differences")),
				    "changed_since_last_deploy", json_object_get(rep, "changed_since_last_deploy"))
			: json_pack("{s:s, s:n, s:s}", "checked_at", ts, "drift", "error", err->message);
	if (s && rep && json_string_value(json_object_get(rep, "message"))) /* health copies these: no null message */
		json_object_set(s, "message", json_object_get(rep, "message"));
	pthread_mutex_lock(&jobs->lock);
	bool was = jobs->drift_last && json_is_true(json_object_get(jobs->drift_last, "drift"));
	bool is = s && json_is_true(json_object_get(s, "drift"));
	bool known = s && json_is_boolean(json_object_get(s, "drift"));
	json_decref(jobs->drift_last);
	jobs->drift_last = s;
	json_t *data = s && known && was != is ? json_deep_copy(s) : NULL;
	pthread_mutex_unlock(&jobs->lock);
	/* Transitions only: a schema that stays drifted notifies once. */
	if (data)
		md_jobs_notify(jobs, is ? "drift.detected" : "drift.resolved", data);
}

/* Adds to rep (which has "live_fingerprint") what the last deploy or rollback recorded:
 * "last_deploy_fingerprint", "last_deploy_job", "changed_since_last_deploy" (nulls when none did).
 * Returns 1 when the schema changed since, 0 when not, -1 when nothing was recorded. */
static int compare_with_last_deploy(struct md_jobs *jobs, const char *target, json_t *rep)
{
	char job_id[JOB_ID_LEN + 1] = "";
	const char *live = json_string_value(json_object_get(rep, "live_fingerprint"));
	char *fp = last_deploy_fingerprint(jobs, target, job_id, sizeof job_id);
	int changed = fp ? strcmp(fp, live) != 0 : -1;
	json_object_set_new(rep, "last_deploy_fingerprint", fp ? json_string(fp) : json_null());
	json_object_set_new(rep, "last_deploy_job", fp ? json_string(job_id) : json_null());
	json_object_set_new(rep, "changed_since_last_deploy", fp ? json_boolean(changed == 1) : json_null());
	free(fp);
	return changed;
}

/* The check without a shadow: whether the schema changed since migrated last changed it. */
static int fingerprint_check(struct md_jobs *jobs, const char *target, struct md_db *db, json_t **ret,
			     struct md_error *err)
{
	json_t *snap = NULL;
	char live[MD_CHECKSUM_HEX_LEN + 1], msg[600];
	int r = md_schema_snapshot(db, &snap, live, err);
	json_decref(snap);
	if (r < 0)
		return r;
	json_t *rep = json_pack("{s:s, s:s}", "mode", "fingerprint", "live_fingerprint", live);
	if (!rep)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int changed = compare_with_last_deploy(jobs, target, rep);
	json_t *diffs = json_array();
	if (changed == 1) {
		snprintf(msg, sizeof msg,
			 "the schema changed since job %s left it (fingerprint %.12s, now %.12s): a change by hand "
			 "or by another tool; a check with a shadow database (GET /v1/drift) lists the differences",
			 json_string_value(json_object_get(rep, "last_deploy_job")),
			 json_string_value(json_object_get(rep, "last_deploy_fingerprint")), live);
		json_array_append_new(diffs, json_pack("{s:s, s:s, s:s, s:s}", "kind", "schema", "object",
						       "fingerprint", "change", "changed", "message", msg));
	}
	json_object_set_new(rep, "drift", changed < 0 ? json_null() : json_boolean(changed == 1));
	json_object_set_new(rep, "differences", diffs);
	json_object_set_new(rep, "message",
			    changed < 0 ? json_string("no successful deploy or rollback has recorded a schema "
						      "fingerprint yet: nothing to compare with until the next deploy "
						      "that applies a migration")
					: json_null());
	*ret = rep;
	return 0;
}

int md_jobs_drift(struct md_jobs *jobs, bool with_shadow, json_t **ret, struct md_error *err)
{
	return md_jobs_drift_target(jobs, NULL, with_shadow, ret, err);
}

int md_jobs_drift_target(struct md_jobs *jobs, const char *target, bool with_shadow, json_t **ret, struct md_error *err)
{
	struct md_settings_view set;
	struct md_dburl *url = NULL;
	struct md_db *db = NULL;
	struct md_catalog *cat = NULL;
	json_t *rep = NULL;
	int r;

	if (target && strcmp(target, "default") == 0)
		target = NULL;
	pthread_mutex_lock(&jobs->drift_lock);
	r = md_settings_target(jobs->settings, target, &set, err);
	if (r < 0) {
		pthread_mutex_unlock(&jobs->drift_lock);
		return r;
	}
	pthread_mutex_lock(&jobs->lock);
	char *shadow = jobs->shadow_url ? strdup(jobs->shadow_url) : NULL;
	pthread_mutex_unlock(&jobs->lock);
	struct md_drift_options o = {.shadow_url = shadow,
				     .cache_dir = jobs->drift_cache_dir,
				     .connect_timeout_s = set.connect_timeout_s,
				     .apply = set.apply};
	r = with_shadow ? md_catalog_load(set.migrations_dir ? set.migrations_dir : jobs->migrations_dir, 0, &cat, err)
			: 0; /* fingerprints need no folder */
	if (r == 0 && !set.migration_url)
		r = md_error_set(err, MD_E_CONFIG, "no database configured: set DATABASE_URL (or DIRECT_URL)");
	if (r == 0)
		r = md_dburl_parse(set.migration_url, "migrated", set.connect_timeout_s, &url, err);
	if (r == 0)
		r = md_db_open(url, &db, err);
	if (r == 0 && !with_shadow) {
		r = fingerprint_check(jobs, target, db, &rep, err);
	} else if (r == 0) {
		r = md_drift_check(db, set.migration_url, cat, &o, &rep, err);
		if (r == 0) {
			compare_with_last_deploy(jobs, target, rep);
			json_object_set_new(rep, "mode", json_string("shadow"));
		}
	}
	if (!target) /* health and drift notifications speak of the default target */
		remember(jobs, r == 0 ? rep : NULL, err);
	else if (r == 0)
		json_object_set_new(rep, "target", json_string(target));
	if (r == 0)
		*ret = rep;
	md_db_close(db);
	md_dburl_free(url);
	md_catalog_free(cat);
	free(shadow);
	md_settings_view_free(&set);
	pthread_mutex_unlock(&jobs->drift_lock);
	return r;
}

json_t *md_jobs_drift_status(struct md_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	json_t *s = json_incref(jobs->drift_last);
	pthread_mutex_unlock(&jobs->lock);
	return s;
}

int64_t jobs_drift_wait_ms(struct md_jobs *jobs)
{
	if (jobs->drift_interval_ms <= 0)
		return -1;
	int64_t now = (int64_t)md_clock_mono_ms();
	if (jobs->drift_next_ms == 0)
		jobs->drift_next_ms = now + jobs->drift_interval_ms;
	return jobs->drift_next_ms > now ? jobs->drift_next_ms - now : 0;
}

/* Periodic checks log what they find when it changes, not every round: a drift that stays is
 * in health; the log says when it appeared and when it went. */
static void log_if_changed(struct md_jobs *jobs, int level, const char *msg)
{
	if (strcmp(jobs->drift_logged, msg) == 0)
		return;
	snprintf(jobs->drift_logged, sizeof jobs->drift_logged, "%s", msg);
	md_log(level, "%s", msg);
}

void jobs_drift_periodic(struct md_jobs *jobs)
{
	struct md_error err = {0};
	json_t *rep = NULL;
	char msg[sizeof jobs->drift_logged];
	int r = MD_E_CONFIG;

	pthread_mutex_lock(&jobs->lock);
	jobs->drift_next_ms = (int64_t)md_clock_mono_ms() + (jobs->drift_interval_ms > 0 ? jobs->drift_interval_ms : 0);
	pthread_mutex_unlock(&jobs->lock);
	/* Without a shadow to be had (no right to create a database, a bad SHADOW_DATABASE_URL) the
	 * fingerprint still tells whether the schema moved since the last deploy; the full check is
	 * tried again every tenth round (each failed try is an error in the server's log). */
	if (jobs->drift_fallback_rounds == 0 || jobs->drift_fallback_rounds % 10 == 0)
		r = md_jobs_drift(jobs, true, &rep, &err);
	if (r == MD_E_CONFIG) {
		if (jobs->drift_fallback_rounds == 0)
			md_log(MD_LOG_WARNING,
			       "drift check without a shadow database (%s): comparing fingerprints only", err.message);
		jobs->drift_fallback_rounds++;
		err = (struct md_error){0};
		r = md_jobs_drift(jobs, false, &rep, &err);
	} else if (r == 0) {
		if (jobs->drift_fallback_rounds)
			md_log(MD_LOG_INFO, "drift check: a shadow database can be built again: full checks");
		jobs->drift_fallback_rounds = 0;
	}
	if (r < 0) {
		snprintf(msg, sizeof msg, "drift check failed: %.400s", err.message);
		log_if_changed(jobs, MD_LOG_WARNING, msg);
		return;
	}
	json_t *diffs = json_object_get(rep, "differences");
	size_t n = json_array_size(diffs);
	if (n && strcmp(json_string_value(json_object_get(rep, "mode")), "fingerprint") == 0)
		snprintf(msg, sizeof msg, "drift check: %.400s",
			 json_string_value(json_object_get(json_array_get(diffs, 0), "message")));
	else if (n)
		snprintf(msg, sizeof msg,
			 "drift check: %zu difference%s between the database and its migrations (GET /v1/drift)", n,
			 n == 1 ? "" : "s");
	else
		msg[0] = '\0';
	if (msg[0])
		log_if_changed(jobs, MD_LOG_WARNING, msg);
	else if (jobs->drift_logged[0])
		log_if_changed(jobs, MD_LOG_INFO, "drift check: no drift now");
	json_decref(rep);
}
