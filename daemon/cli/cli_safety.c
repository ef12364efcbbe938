/* cli_safety.c - `migrated lint`, `migrated plan` and `migrated drift`: what a migration will do
 * before it runs, and whether the database is the schema the migrations describe. Text for
 * people, --json for machines; exit 1 when lint finds an error or drift finds a difference. */
#include "cli_internal.h"
#include "migrated/catalog.h"
#include "migrated/cli.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/error.h"
#include "migrated/deploy.h"
#include "migrated/drift.h"
#include "migrated/lint.h"
#include "migrated/liveplan.h"
#include "migrated/preflight.h"
#include "migrated/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int print_rules(bool json)
{
	size_t n;
	const struct md_lint_rule *r = md_lint_rules(&n);
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "rule", r[i].id, "severity",
							   md_lint_severity_name(r[i].severity), "summary",
							   r[i].summary, "why", r[i].why, "safe_pattern", r[i].safe));
		cli_print_json(json_pack("{s:o}", "rules", a));
		return MD_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++)
		printf("%-46s %-8s %s\n", r[i].id, md_lint_severity_name(r[i].severity), r[i].summary);
	return MD_EXIT_OK;
}

static void print_finding(const struct md_lint_finding *f, const char *dir)
{
	static const char *const label[] = {"", "info", "WARNING", "ERROR"};
	printf("%s %s  %s/%s/migration.sql:%u:%u\n  %s\n", label[f->severity], f->rule, dir, f->migration, f->line,
	       f->col, f->message);
	if (f->ignored) {
		printf("  ignored: %s\n\n", f->reason);
		return;
	}
	printf("  why:  %s\n  safe: %s\n\n", f->why, f->safe);
}

int cli_lint(const struct md_config *cfg, bool json, bool list_rules)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_lint_options o;
	struct md_lint_report rep = {0};
	int r;

	if (list_rules)
		return print_rules(json);
	r = md_lint_options_init(&o, &cfg->lint_rules, cfg->lock_timeout_ms, 0, &err);
	if (r == 0)
		r = md_catalog_load(cfg->migrations_dir, 0, &cat, &err);
	for (size_t i = 0; r == 0 && cat && i < cat->n; i++)
		if (md_lint_migration(&o, &cat->items[i], &rep) < 0)
			r = md_error_set(&err, MD_E_NOMEM, "out of memory");
	if (r < 0) {
		md_lint_report_free(&rep);
		md_catalog_free(cat);
		return cli_fail(json, &err);
	}
	if (json) {
		cli_print_json(md_lint_report_json(&rep, false));
	} else {
		for (size_t i = 0; i < rep.n; i++)
			if (rep.items[i].severity >= MD_LINT_WARNING || rep.items[i].ignored)
				print_finding(&rep.items[i], cfg->migrations_dir);
		for (size_t i = 0; i < rep.n_unparsed; i++)
			printf("ERROR %s/migration.sql cannot be split into statements (deploy refuses it)\n\n",
			       rep.unparsed[i]);
		printf("%zu error%s, %zu warning%s, %zu info (not shown; --json lists them), %zu ignored, in %zu "
		       "migration%s\n",
		       rep.count[MD_LINT_ERROR], rep.count[MD_LINT_ERROR] == 1 ? "" : "s", rep.count[MD_LINT_WARNING],
		       rep.count[MD_LINT_WARNING] == 1 ? "" : "s", rep.count[MD_LINT_INFO], rep.n_ignored,
		       rep.migrations, rep.migrations == 1 ? "" : "s");
	}
	int rc = rep.count[MD_LINT_ERROR] || rep.n_unparsed ? MD_EXIT_PROBLEM : MD_EXIT_OK;
	md_lint_report_free(&rep);
	md_catalog_free(cat);
	return rc;
}

/* ---- plan ---- */

static void print_plan(json_t *plan)
{
	size_t i, k, l;
	json_t *m, *st, *lk;
	printf("%zu migration%s to apply\n", json_array_size(plan), json_array_size(plan) == 1 ? "" : "s");
	json_array_foreach(plan, i, m)
	{
		const char *reason = json_string_value(json_object_get(m, "mode_reason"));
		printf("\n%s  (%s%s%s)\n", json_string_value(json_object_get(m, "name")),
		       json_string_value(json_object_get(m, "mode")), reason ? ": " : "", reason ? reason : "");
		json_array_foreach(json_object_get(m, "statements"), k, st)
		{
			const char *text = json_string_value(json_object_get(st, "statement"));
			printf("  %3lld  line %-4lld %.*s\n",
			       (long long)json_integer_value(json_object_get(st, "index")),
			       (long long)json_integer_value(json_object_get(st, "line")), (int)strcspn(text, "\n"),
			       text);
			json_array_foreach(json_object_get(st, "locks"), l, lk)
				printf("         %s; %s\n", json_string_value(json_object_get(lk, "summary")),
				       json_string_value(json_object_get(lk, "blocks")));
		}
		json_array_foreach(json_object_get(m, "lint"), k, st)
		{
			if (json_object_get(st, "ignored_because"))
				continue;
			printf("  lint %s %s (line %lld): %s\n", json_string_value(json_object_get(st, "severity")),
			       json_string_value(json_object_get(st, "rule")),
			       (long long)json_integer_value(json_object_get(st, "line")),
			       json_string_value(json_object_get(st, "message")));
		}
	}
}

/* The plan's preflight (a document in every case: one that could not run says why). */
static json_t *cli_preflight_of_plan(const struct md_config *cfg, struct md_db *db, const struct md_catalog *cat,
				     const struct md_deploy_report *rep)
{
	struct md_preflight_options o;
	struct md_error err = {0};
	json_t *pf = NULL;
	char why[600];
	if (cfg->preflight_gate == MD_LINT_GATE_OFF)
		return md_preflight_off("not asked: preflight_gate = off");
	md_preflight_options_from(cfg, &o);
	if (md_preflight_report(db, cfg->preflight_url, cat, rep, &o, &pf, &err) == 0)
		return pf;
	snprintf(why, sizeof why, "could not ask: %.500s", err.message);
	return md_preflight_off(why);
}

int cli_plan(const struct md_config *cfg, bool json)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_deploy_report rep = {0};
	struct md_apply_options apply;
	struct md_lint_options lo;
	json_t *live = NULL, *pf = NULL;
	int r, rc;

	md_apply_options_from(cfg, &apply);
	r = md_lint_options_init(&lo, &cfg->lint_rules, cfg->lock_timeout_ms, 0, &err);
	if (r == 0)
		r = md_catalog_load(cfg->migrations_dir, 0, &cat, &err);
	if (r == 0)
		r = cli_open_target(cfg, &db, NULL, &err);
	if (r == 0)
		r = md_plan_preview(db, cat, &apply, &lo, &rep, &live, &err);
	if (r == 0)
		pf = cli_preflight_of_plan(cfg, db, cat, &rep);
	if (json && (r == 0 || md_plan_refusal(r))) {
		/* The document GET /v1/plan answers, refusals included; exit 1 when a deploy would be
		 * refused. */
		cli_print_json(md_report_plan_json(&rep, r, &err, live, pf));
		live = NULL;
		pf = NULL;
		rc = r == 0 ? MD_EXIT_OK : MD_EXIT_PROBLEM;
	} else if (r < 0) {
		rc = cli_fail(json, &err);
	} else {
		print_plan(live);
		if (pf) {
			printf("\n");
			md_report_preflight_text(stdout, pf);
		}
		rc = MD_EXIT_OK;
	}
	json_decref(live);
	json_decref(pf);
	md_deploy_report_free(&rep);
	md_db_close(db);
	md_catalog_free(cat);
	return rc;
}

/* ---- drift ---- */

/* The expected-schema cache: STATE_DIR/drift-cache when the state directory is there and
 * writable (the daemon's), else none (each check builds the shadow again). */
static char *cache_dir(const struct md_config *cfg)
{
	char *dir = NULL;
	if (access(cfg->state_dir, W_OK) != 0)
		return NULL;
	if (asprintf(&dir, "%s/drift-cache", cfg->state_dir) < 0)
		return NULL;
	return dir;
}

int cli_drift(const struct md_config *cfg, bool json)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	const char *url = NULL;
	json_t *rep = NULL;
	char *cache = cache_dir(cfg);
	struct md_drift_options o = {
		.shadow_url = cfg->shadow_database_url && *cfg->shadow_database_url ? cfg->shadow_database_url : NULL,
		.cache_dir = cache,
		.connect_timeout_s = cfg->connect_timeout_s};
	int r, rc;

	md_apply_options_from(cfg, &o.apply);
	r = md_catalog_load(cfg->migrations_dir, 0, &cat, &err);
	if (r == 0)
		r = cli_open_target(cfg, &db, &url, &err);
	if (r == 0)
		r = md_drift_check(db, url, cat, &o, &rep, &err);
	if (r < 0) {
		rc = cli_fail(json, &err);
	} else {
		bool drift = json_is_true(json_object_get(rep, "drift"));
		if (json) {
			cli_print_json(json_incref(rep));
		} else {
			size_t i;
			json_t *d;
			json_array_foreach(json_object_get(rep, "warnings"), i, d)
				printf("warning: %s\n", json_string_value(d));
			if (!drift)
				printf("No drift: the schema matches its %lld applied migrations (expected schema from "
				       "the "
				       "%s; fingerprint %.12s)\n",
				       (long long)json_integer_value(json_object_get(rep, "applied")),
				       json_string_value(json_object_get(rep, "expected_from")),
				       json_string_value(json_object_get(rep, "live_fingerprint")));
			else {
				printf("Drift: %zu difference%s between the database and its %lld applied "
				       "migrations:\n",
				       json_array_size(json_object_get(rep, "differences")),
				       json_array_size(json_object_get(rep, "differences")) == 1 ? "" : "s",
				       (long long)json_integer_value(json_object_get(rep, "applied")));
				json_array_foreach(json_object_get(rep, "differences"), i, d)
					printf("  - %s\n", json_string_value(json_object_get(d, "message")));
			}
		}
		rc = drift ? MD_EXIT_PROBLEM : MD_EXIT_OK;
	}
	json_decref(rep);
	free(cache);
	md_db_close(db);
	md_catalog_free(cat);
	return rc;
}
