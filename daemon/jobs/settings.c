/* settings.c - the daemon's reloadable settings (see settings.h): one mutex, one current
 * view, replaced whole. */
#include "migrated/settings.h"
#include "migrated/config.h"
#include "migrated/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct md_settings {
	pthread_mutex_t lock;
	struct md_settings_view v;
};

/* A view of cfg, validated; nothing is kept on error. */
static int view_from(const struct md_config *cfg, struct md_settings_view *ret, struct md_error *err)
{
	struct md_settings_view v = {0};
	const char *url = md_config_migration_url(cfg);
	int r = md_backup_options_from(cfg, &v.backup, err);
	if (r < 0)
		return r;
	r = md_verify_options_from(cfg, &v.verify, err);
	if (r == 0)
		r = md_verify_options_check(&v.verify, err);
	if (r == 0)
		r = md_lint_options_init(&v.lint, &cfg->lint_rules, cfg->lock_timeout_ms, 0, err);
	if (r == 0 && url && !(v.migration_url = strdup(url)))
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r == 0 && cfg->preflight_url && cfg->preflight_url[0] && !(v.preflight_url = strdup(cfg->preflight_url)))
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r < 0) {
		md_settings_view_free(&v);
		return r;
	}
	v.migration_url_direct = url && url == cfg->direct_url;
	v.connect_timeout_s = cfg->connect_timeout_s;
	v.lint_gate = cfg->lint_gate;
	v.preflight_gate = cfg->preflight_gate;
	md_preflight_options_from(cfg, &v.preflight);
	md_apply_options_from(cfg, &v.apply);
	*ret = v;
	return 0;
}

int md_settings_new(const struct md_config *cfg, struct md_settings **ret, struct md_error *err)
{
	struct md_settings *s = calloc(1, sizeof *s);
	if (!s)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	int r = view_from(cfg, &s->v, err);
	if (r < 0) {
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	*ret = s;
	return 0;
}

int md_settings_reload(struct md_settings *s, const struct md_config *cfg, struct md_error *err)
{
	struct md_settings_view v, old;
	int r = view_from(cfg, &v, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	old = s->v;
	s->v = v;
	pthread_mutex_unlock(&s->lock);
	md_settings_view_free(&old);
	return 0;
}

void md_settings_get(struct md_settings *s, struct md_settings_view *ret)
{
	struct md_error ignored;
	pthread_mutex_lock(&s->lock);
	*ret = s->v;
	ret->migration_url = s->v.migration_url ? strdup(s->v.migration_url) : NULL;
	ret->preflight_url = s->v.preflight_url ? strdup(s->v.preflight_url) : NULL;
	if (md_backup_options_copy(&s->v.backup, &ret->backup, &ignored) < 0)
		memset(&ret->backup, 0, sizeof ret->backup);
	if (md_verify_options_copy(&s->v.verify, &ret->verify, &ignored) < 0)
		memset(&ret->verify, 0, sizeof ret->verify);
	pthread_mutex_unlock(&s->lock);
}

void md_settings_view_free(struct md_settings_view *v)
{
	free(v->migration_url);
	v->migration_url = NULL;
	free(v->preflight_url);
	v->preflight_url = NULL;
	md_backup_options_free(&v->backup);
	md_verify_options_free(&v->verify);
}

void md_settings_lint(struct md_settings *s, struct md_lint_options *ret, int *ret_gate)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->v.lint;
	*ret_gate = s->v.lint_gate;
	pthread_mutex_unlock(&s->lock);
}

void md_settings_preflight(struct md_settings *s, struct md_preflight_options *ret, int *ret_gate, char **ret_url)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->v.preflight;
	*ret_gate = s->v.preflight_gate;
	*ret_url = s->v.preflight_url ? strdup(s->v.preflight_url) : NULL;
	pthread_mutex_unlock(&s->lock);
}

char *md_settings_backup_dir(struct md_settings *s)
{
	pthread_mutex_lock(&s->lock);
	char *dir = s->v.backup.dir ? strdup(s->v.backup.dir) : NULL;
	pthread_mutex_unlock(&s->lock);
	return dir;
}

void md_settings_free(struct md_settings *s)
{
	if (!s)
		return;
	md_settings_view_free(&s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
