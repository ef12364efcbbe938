/* jobs_settings.c - the settings the jobs run with (backup, verification, lint), replaced
 * whole on SIGHUP, the progress line, and the backups folder they write to. */
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
int jobs_options_from(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	struct md_backup_options b;
	struct md_verify_options v;
	int r = md_backup_options_from(cfg, &b, err);
	if (r < 0)
		return r;
	struct md_lint_options lo;
	char *shadow = cfg->shadow_database_url && *cfg->shadow_database_url ? strdup(cfg->shadow_database_url) : NULL;
	r = md_verify_options_from(cfg, &v, err);
	if (r == 0)
		r = md_verify_options_check(&v, err);
	if (r == 0)
		r = md_lint_options_init(&lo, &cfg->lint_rules, cfg->lock_timeout_ms, 0, err);
	if (r < 0) {
		md_backup_options_free(&b);
		md_verify_options_free(&v);
		free(shadow);
		return r;
	}
	pthread_mutex_lock(&jobs->lock);
	md_backup_options_free(&jobs->backup);
	md_verify_options_free(&jobs->verify);
	jobs->backup = b;
	jobs->verify = v;
	jobs->lint = lo;
	jobs->lint_gate = cfg->lint_gate;
	free(jobs->shadow_url);
	jobs->shadow_url = shadow;
	if (jobs->drift_interval_ms != cfg->drift_interval_ms)
		jobs->drift_next_ms = 0; /* start from now */
	jobs->drift_interval_ms = cfg->drift_interval_ms;
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

/* ---- settings and progress ---- */

void jobs_settings(struct md_jobs *jobs, struct job_settings *ret)
{
	pthread_mutex_lock(&jobs->lock);
	ret->migration_url = jobs->migration_url ? strdup(jobs->migration_url) : NULL;
	ret->migration_url_direct = jobs->migration_url_direct;
	ret->connect_timeout_s = jobs->connect_timeout_s;
	ret->apply = jobs->apply;
	struct md_error ignored;
	if (md_backup_options_copy(&jobs->backup, &ret->backup, &ignored) < 0)
		memset(&ret->backup, 0, sizeof ret->backup);
	if (md_verify_options_copy(&jobs->verify, &ret->verify, &ignored) < 0)
		memset(&ret->verify, 0, sizeof ret->verify);
	ret->lint = jobs->lint;
	ret->lint_gate = jobs->lint_gate;
	pthread_mutex_unlock(&jobs->lock);
}

void jobs_settings_free(struct job_settings *s)
{
	free(s->migration_url);
	s->migration_url = NULL;
	md_backup_options_free(&s->backup);
	md_verify_options_free(&s->verify);
}

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

static char *backup_dir(struct md_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	char *dir = jobs->backup.dir ? strdup(jobs->backup.dir) : NULL;
	pthread_mutex_unlock(&jobs->lock);
	return dir;
}

int md_jobs_backups(struct md_jobs *jobs, json_t **ret, struct md_error *err)
{
	_cleanup_free_ char *dir = backup_dir(jobs);
	struct md_backup *list = NULL;
	size_t n = 0, skipped = 0;
	if (!dir)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = md_backup_list(dir, &list, &n, &skipped, err);
	if (r < 0)
		return r;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, md_backup_json(&list[i]));
	free(list);
	*ret = json_pack("{s:o, s:s, s:I}", "backups", a, "dir", dir, "unreadable", (json_int_t)skipped);
	return 0;
}

void md_jobs_lint_settings(struct md_jobs *jobs, struct md_lint_options *ret, int *ret_gate)
{
	pthread_mutex_lock(&jobs->lock);
	*ret = jobs->lint;
	*ret_gate = jobs->lint_gate;
	pthread_mutex_unlock(&jobs->lock);
}

int md_jobs_backup_find(struct md_jobs *jobs, const char *id, json_t **ret, struct md_error *err)
{
	_cleanup_free_ char *dir = backup_dir(jobs);
	struct md_backup b;
	if (!dir)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = md_backup_find(dir, id, &b, err);
	if (r == 0)
		*ret = md_backup_json(&b);
	return r;
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

int md_jobs_reconfigure(struct md_jobs *jobs, const struct md_config *cfg, struct md_error *err)
{
	const char *url = md_config_migration_url(cfg);
	char *copy = url ? strdup(url) : NULL;
	if (url && !copy)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = jobs_options_from(jobs, cfg, err);
	if (r < 0) {
		free(copy);
		return r;
	}
	pthread_mutex_lock(&jobs->lock);
	free(jobs->migration_url);
	jobs->migration_url = copy;
	jobs->migration_url_direct = url && url == cfg->direct_url;
	jobs->connect_timeout_s = cfg->connect_timeout_s;
	md_apply_options_from(cfg, &jobs->apply);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}
