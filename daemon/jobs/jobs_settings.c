/* jobs_settings.c - what the jobs read of the configuration (the shared settings, and the
 * drift check's own), and the progress line of the running job. */
#include "jobs_internal.h"
#include "migrated/clock.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/journal.h"
#include "migrated/log.h"
#include "migrated/job_metrics.h"
#include "migrated/metrics.h"
#include "migrated/macro.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The backup and verification settings of cfg, replacing the table's (under jobs->lock). */
/* ---- settings and progress ---- */

void jobs_set_progress(struct md_jobs *jobs, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&jobs->lock);
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(jobs->progress, sizeof jobs->progress, fmt, ap);
		va_end(ap);
	} else {
		jobs->progress[0] = '\0';
	}
	pthread_mutex_unlock(&jobs->lock);
}

bool md_jobs_progress(struct md_jobs *jobs, char *buf, size_t sz)
{
	bool active;
	pthread_mutex_lock(&jobs->lock);
	active = jobs->active != NULL && jobs->active->state == MD_JOB_RUNNING;
	snprintf(buf, sz, "%s", active ? jobs->progress : "");
	pthread_mutex_unlock(&jobs->lock);
	return active;
}

/* The drift check's settings of cfg (the shared ones live in settings.c). */
int jobs_options_from(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	char *shadow = cfg->shadow_database_url && *cfg->shadow_database_url ? strdup(cfg->shadow_database_url) : NULL;
	if (cfg->shadow_database_url && *cfg->shadow_database_url && !shadow)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	pthread_mutex_lock(&jobs->lock);
	free(jobs->shadow_url);
	jobs->shadow_url = shadow;
	if (jobs->drift_interval_ms != cfg->drift_interval_ms)
		jobs->drift_next_ms = 0; /* start from now */
	jobs->drift_interval_ms = cfg->drift_interval_ms;
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

void jobs_settings(struct md_jobs *jobs, struct md_settings_view *ret)
{
	md_settings_get(jobs->settings, ret);
}

int md_jobs_reconfigure(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	return jobs_options_from(jobs, cfg, err);
}
