/* drift_check.c - the daemon's drift checks: on request (GET /v1/drift) and periodically
 * (drift_interval, off by default), run by the job worker when it is idle so a check never
 * competes with a deploy for the migration lock's attention. Each check opens its own
 * connection on the migration URL; the last one's summary is kept for the health probe. */
#include "jobs_internal.h"
#include "migrated/catalog.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/drift.h"
#include "migrated/error.h"
#include "migrated/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fingerprint the newest successful deploy recorded, or NULL (caller frees). */
static char *last_deploy_fingerprint(struct md_jobs *jobs, char *job_id, size_t idsz)
{
	char *fp = NULL;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = jobs->n; i-- > 0 && !fp;) {
		const struct job *j = jobs->list[i];
		const char *f = j->result ? json_string_value(json_object_get(j->result, "schema_fingerprint")) : NULL;
		if (j->kind == MD_JOB_DEPLOY && j->state == MD_JOB_SUCCEEDED && f) {
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
	json_t *s = rep ? json_pack("{s:s, s:O, s:I, s:O?}", "checked_at", ts, "drift", json_object_get(rep, "drift"),
				    "differences", (json_int_t)json_array_size(json_object_get(rep, "differences")),
				    "changed_since_last_deploy", json_object_get(rep, "changed_since_last_deploy"))
			: json_pack("{s:s, s:n, s:s}", "checked_at", ts, "drift", "error", err->message);
	pthread_mutex_lock(&jobs->lock);
	json_decref(jobs->drift_last);
	jobs->drift_last = s;
	pthread_mutex_unlock(&jobs->lock);
}

int md_jobs_drift(struct md_jobs *jobs, json_t **ret, struct md_error *err)
{
	struct job_settings set;
	struct md_dburl *url = NULL;
	struct md_db *db = NULL;
	struct md_catalog *cat = NULL;
	json_t *rep = NULL;
	char deploy_id[JOB_ID_LEN + 1] = "";
	int r;

	pthread_mutex_lock(&jobs->drift_lock);
	jobs_settings(jobs, &set);
	pthread_mutex_lock(&jobs->lock);
	char *shadow = jobs->shadow_url ? strdup(jobs->shadow_url) : NULL;
	pthread_mutex_unlock(&jobs->lock);
	struct md_drift_options o = {.shadow_url = shadow,
				     .cache_dir = jobs->drift_cache_dir,
				     .connect_timeout_s = set.connect_timeout_s,
				     .apply = set.apply};
	r = md_catalog_load(jobs->migrations_dir, 0, &cat, err);
	if (r == 0 && !set.migration_url)
		r = md_error_set(err, MD_E_CONFIG, "no database configured: set DATABASE_URL (or DIRECT_URL)");
	if (r == 0)
		r = md_dburl_parse(set.migration_url, "migrated", set.connect_timeout_s, &url, err);
	if (r == 0)
		r = md_db_open(url, &db, err);
	if (r == 0)
		r = md_drift_check(db, set.migration_url, cat, &o, &rep, err);
	if (r == 0) {
		char *fp = last_deploy_fingerprint(jobs, deploy_id, sizeof deploy_id);
		const char *live = json_string_value(json_object_get(rep, "live_fingerprint"));
		json_object_set_new(rep, "last_deploy_fingerprint", fp ? json_string(fp) : json_null());
		json_object_set_new(rep, "last_deploy_job", fp ? json_string(deploy_id) : json_null());
		json_object_set_new(rep, "changed_since_last_deploy",
				    fp ? json_boolean(strcmp(fp, live) != 0) : json_null());
		free(fp);
		remember(jobs, rep, NULL);
		*ret = rep;
	} else {
		remember(jobs, NULL, err);
	}
	md_db_close(db);
	md_dburl_free(url);
	md_catalog_free(cat);
	free(shadow);
	jobs_settings_free(&set);
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
	int64_t now = mono_ms();
	if (jobs->drift_next_ms == 0)
		jobs->drift_next_ms = now + jobs->drift_interval_ms;
	return jobs->drift_next_ms > now ? jobs->drift_next_ms - now : 0;
}

void jobs_drift_periodic(struct md_jobs *jobs)
{
	struct md_error err = {0};
	json_t *rep = NULL;
	pthread_mutex_lock(&jobs->lock);
	jobs->drift_next_ms = mono_ms() + (jobs->drift_interval_ms > 0 ? jobs->drift_interval_ms : 0);
	pthread_mutex_unlock(&jobs->lock);
	if (md_jobs_drift(jobs, &rep, &err) < 0) {
		md_log(MD_LOG_WARNING, "drift check failed: %s", err.message);
		return;
	}
	size_t n = json_array_size(json_object_get(rep, "differences"));
	if (n)
		md_log(MD_LOG_WARNING,
		       "drift check: %zu difference%s between the database and its migrations (GET /v1/drift)", n,
		       n == 1 ? "" : "s");
	else
		md_log(MD_LOG_DEBUG, "drift check: no drift");
	json_decref(rep);
}
