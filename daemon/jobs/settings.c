/* settings.c - the daemon's reloadable settings (see settings.h): one mutex, one current
 * view and one targets list, replaced whole. A targets list is reference-counted: a fleet job
 * that started on the old list keeps it after a reload. */
#include "migrated/settings.h"
#include "migrated/config.h"
#include "migrated/error.h"
#include "migrated/macro.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A targets list and its holders; the current one is held by the settings themselves. */
struct targets_ref {
	struct md_targets *t; /* owned */
	int refs;
	struct targets_ref *next;
};

struct md_settings {
	pthread_mutex_t lock;
	struct md_settings_view v;
	struct targets_ref *targets; /* targets->t is current; the others wait for their holders */
};

/* The targets of cfg's targets file (an empty list without one). */
static int targets_from(const struct md_config *cfg, struct targets_ref **ret, struct md_error *err)
{
	struct targets_ref *ref = calloc(1, sizeof *ref);
	int r = 0;
	if (!ref)
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	if (cfg->targets_file && cfg->targets_file[0])
		r = md_targets_load(cfg->targets_file, &ref->t, err);
	else if (!(ref->t = calloc(1, sizeof *ref->t)))
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r < 0) {
		free(ref);
		return r;
	}
	ref->refs = 1;
	*ret = ref;
	return 0;
}

/* Drops one hold of t; frees lists nobody holds (caller holds s->lock). */
static void targets_unref_locked(struct md_settings *s, const struct md_targets *t)
{
	for (struct targets_ref **pp = &s->targets; *pp; pp = &(*pp)->next) {
		struct targets_ref *ref = *pp;
		if (ref->t != t)
			continue;
		if (--ref->refs == 0) {
			*pp = ref->next;
			md_targets_free(ref->t);
			free(ref);
		}
		return;
	}
}

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
	if (r == 0 && !(v.migrations_dir = strdup(cfg->migrations_dir ? cfg->migrations_dir : "prisma/migrations")))
		r = md_error_set(err, MD_E_NOMEM, "out of memory");
	if (r < 0) {
		md_settings_view_free(&v);
		return r;
	}
	v.migration_url_direct = url && url == cfg->direct_url;
	v.connect_timeout_s = cfg->connect_timeout_s;
	v.lint_gate = cfg->lint_gate;
	v.preflight_gate = cfg->preflight_gate;
	v.fleet_max_connections = cfg->fleet_max_connections > 0 ? cfg->fleet_max_connections : 64;
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
	r = targets_from(cfg, &s->targets, err);
	if (r < 0) {
		md_settings_view_free(&s->v);
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
	struct targets_ref *tref;
	int r = view_from(cfg, &v, err);
	if (r < 0)
		return r;
	r = targets_from(cfg, &tref, err);
	if (r < 0) {
		md_settings_view_free(&v);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	old = s->v;
	s->v = v;
	const struct md_targets *was = s->targets->t;
	tref->next = s->targets;
	s->targets = tref;
	targets_unref_locked(s, was);
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
	ret->migrations_dir = s->v.migrations_dir ? strdup(s->v.migrations_dir) : NULL;
	ret->target = NULL;
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
	free(v->migrations_dir);
	v->migrations_dir = NULL;
	free(v->target);
	v->target = NULL;
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

/* Copies t's values into v (the default view), replacing its URL, folder and backup folder. */
static int target_into(const struct md_target *t, struct md_settings_view *v, struct md_error *err)
{
	char *url = strdup(t->direct_url ? t->direct_url : t->url), *name = strdup(t->name), *dir = NULL, *bdir = NULL;
	if (t->migrations_dir)
		dir = strdup(t->migrations_dir);
	else if (v->migrations_dir)
		dir = strdup(v->migrations_dir);
	if (v->backup.dir && asprintf(&bdir, "%s/%s", v->backup.dir, t->name) < 0)
		bdir = NULL;
	if (!url || !name || !dir || (v->backup.dir && !bdir)) {
		free(url), free(name), free(dir), free(bdir);
		return md_error_set(err, MD_E_NOMEM, "out of memory");
	}
	free(v->migration_url), free(v->migrations_dir), free(v->target);
	v->migration_url = url;
	v->migration_url_direct = t->direct_url != NULL;
	v->migrations_dir = dir;
	v->target = name;
	if (bdir) {
		free(v->backup.dir);
		v->backup.dir = bdir;
	}
	/* A replica for the preflight belongs to the default database. */
	free(v->preflight_url);
	v->preflight_url = NULL;
	return 0;
}

int md_settings_target(struct md_settings *s, const char *name, struct md_settings_view *ret, struct md_error *err)
{
	return md_settings_target_in(s, NULL, name, ret, err);
}

int md_settings_target_in(struct md_settings *s, const struct md_targets *held, const char *name,
			  struct md_settings_view *ret, struct md_error *err)
{
	md_settings_get(s, ret);
	if (!name || strcmp(name, "default") == 0)
		return 0;
	const struct md_targets *list = held ? held : md_settings_targets_get(s);
	const struct md_target *t = md_targets_find(list, name);
	int r = t ? target_into(t, ret, err)
		  : md_error_set(err, MD_E_NOT_FOUND, "no target \"%.63s\" in the targets file", name);
	if (!held)
		md_settings_targets_put(s, list);
	if (r < 0)
		md_settings_view_free(ret);
	return r;
}

const struct md_targets *md_settings_targets_get(struct md_settings *s)
{
	pthread_mutex_lock(&s->lock);
	s->targets->refs++;
	const struct md_targets *t = s->targets->t;
	pthread_mutex_unlock(&s->lock);
	return t;
}

void md_settings_targets_put(struct md_settings *s, const struct md_targets *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&s->lock);
	targets_unref_locked(s, t);
	pthread_mutex_unlock(&s->lock);
}

void md_settings_free(struct md_settings *s)
{
	if (!s)
		return;
	while (s->targets) {
		struct targets_ref *ref = s->targets;
		s->targets = ref->next;
		md_targets_free(ref->t);
		free(ref);
	}
	md_settings_view_free(&s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
