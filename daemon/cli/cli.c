/* cli.c - argument parsing and the status / deploy / resolve commands (the others are in
 * cli_backup.c, cli_safety.c and cli_token.c). Output: human text on
 * stdout (errors on stderr), or one JSON document on stdout with --json. */
#include "migrated/cli.h"
#include "cli_internal.h"
#include "migrated/catalog.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/notify.h"
#include "migrated/plan.h"
#include "migrated/preflight.h"
#include "migrated/report.h"
#include "migrated/resolve.h"
#include "migrated/journal.h"
#include "migrated/tokens.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cli {
	const char *command;
	const char *subcommand; /* journal check|repair, token add|list|remove */
	char *args[2];          /* token add NAME ROLE, token remove NAME */
	size_t nargs;
	struct md_config_flags flags;
	bool json;
	bool all;
	bool dry_run;
	const char *resolve_applied;
	const char *resolve_rolled_back;
	bool list;                      /* backup --list */
	const char *rollback_to;        /* rollback --to NAME */
	const char *restore;            /* rollback --restore ID */
	bool confirm;                   /* rollback --restore ID --confirm */
	bool rules;                     /* lint --rules */
	bool override_preflight;        /* deploy --override-preflight */
	bool no_progress;               /* deploy --no-progress: plain lines even on a terminal */
	struct cli_fleet_options fleet; /* status/deploy of the targets of a targets file */
	struct cli_progress *progress;
	struct md_config *cfg;
};

static const char usage_text[] =
	"Usage: migrated COMMAND [OPTIONS]\n"
	"\n"
	"Applies a Prisma migrations folder to PostgreSQL and keeps _prisma_migrations exactly as\n"
	"Prisma does.\n"
	"\n"
	"Commands:\n"
	"  status                     every migration's state; exit 1 unless up to date\n"
	"  deploy                     apply pending migrations (under Prisma's advisory lock)\n"
	"  resolve --applied NAME     record NAME as applied (you applied it by hand, or baseline)\n"
	"  resolve --rolled-back NAME record a failed NAME as rolled back, so deploy runs it again\n"
	"  plan                       what a deploy would do: each statement's lock, on which table, its size\n"
	"  lint [--rules]             check the migrations for unsafe SQL (locks, rewrites, data loss)\n"
	"  drift                      compare the schema with what its applied migrations build; exit 1 on drift\n"
	"  backup [--list]            take a pg_dump backup into the backup folder (or list them)\n"
	"  rollback --to NAME         run the down.sql of every migration applied after NAME\n"
	"  rollback --restore ID --confirm  restore a backup (a safety backup is taken first)\n"
	"  serve                      run the daemon: HTTP API, jobs, journal (see README)\n"
	"  journal check|repair       inspect or repair the daemon's job journal (--state-dir)\n"
	"  token add NAME ROLE        add an API token (ROLE read, deploy or admin); prints its secret once\n"
	"  token list                 the tokens' names and roles (never their secrets)\n"
	"  token remove NAME          remove an API token (then reload the daemon)\n"
	"  status|deploy --targets-file F --target NAME|--selector K=V|--all\n"
	"                             many databases: each target of F, one summary table\n"
	"\n"
	"Options:\n"
	"  --migrations DIR           migrations folder (default prisma/migrations)\n"
	"  --json                     one JSON document on stdout instead of text\n"
	"  --all                      status: list applied migrations too\n"
	"  --dry-run                  deploy: check and show what would run, change nothing\n"
	"  --override-preflight       deploy: go on although the data preflight finds rows that fail\n"
	"  --no-progress              deploy: no live progress line on a terminal, only a line per migration\n"
	"  --lock-timeout DURATION    lock_timeout for each migration (default 10s; 0 = none)\n"
	"  --statement-timeout DURATION  statement_timeout (default 0 = none)\n"
	"  --lock-retries N           retries after a lock timeout or deadlock (default 3)\n"
	"  --lock-wait DURATION       wait for the migration lock (default 10s)\n"
	"  --config FILE              config file (default " MD_DEFAULT_CONFIG_FILE " if present)\n"
	"  --log-level LEVEL          error, warning, info, debug\n"
	"  --listen ADDRESS           serve: 127.0.0.1:8080, [::1]:8080 or unix:/path\n"
	"  --state-dir DIR            serve, journal, backup: state (default /var/lib/migrated)\n"
	"  --targets-file FILE        status, deploy: targets, lines NAME URL [direct=URL] [migrations=DIR] [K=V]...\n"
	"  --target NAME              status, deploy: the target NAME of the targets file\n"
	"  --selector K=V[,K=V]       status, deploy: the targets with all these labels (--all: every target)\n"
	"  --parallel P               deploy of targets: at most P at once (default 4)\n"
	"  --canary N                 deploy of targets: the first N alone, all must succeed first (default 0)\n"
	"  --on-error stop|continue   deploy of targets: after a failure start no other (default stop) or go on\n"
	"  --max-failures K           deploy of targets, continue: stop starting after K failures (0 = no limit)\n"
	"  --token-file FILE          serve, token: API tokens, lines NAME ROLE SECRET\n"
	"                             (token: default " MD_DEFAULT_TOKEN_FILE ")\n"
	"  -h, --help                 this help\n"
	"  -V, --version              version\n"
	"\n"
	"Environment: DATABASE_URL, DIRECT_URL (used for migrations when set), SHADOW_DATABASE_URL (drift),\n"
	"MIGRATED_CONFIG.\n"
	"Exit codes: 0 success / up to date, 1 pending, failed or error, 2 usage or configuration.\n";

enum {
	OPT_MIGRATIONS = 256,
	OPT_JSON,
	OPT_ALL,
	OPT_DRY_RUN,
	OPT_APPLIED,
	OPT_ROLLED_BACK,
	OPT_LOCK_TIMEOUT,
	OPT_STATEMENT_TIMEOUT,
	OPT_LOCK_RETRIES,
	OPT_LOCK_WAIT,
	OPT_CONFIG,
	OPT_LOG_LEVEL,
	OPT_STATE_DIR,
	OPT_LISTEN,
	OPT_TOKEN_FILE,
	OPT_LIST,
	OPT_TO,
	OPT_RESTORE,
	OPT_CONFIRM,
	OPT_RULES,
	OPT_OVERRIDE_PREFLIGHT,
	OPT_NO_PROGRESS,
	OPT_TARGETS_FILE,
	OPT_TARGET,
	OPT_SELECTOR,
	OPT_PARALLEL,
	OPT_CANARY,
	OPT_ON_ERROR,
	OPT_MAX_FAILURES,
};

static const struct option long_options[] = {
	{"migrations", required_argument, NULL, OPT_MIGRATIONS},
	{"json", no_argument, NULL, OPT_JSON},
	{"all", no_argument, NULL, OPT_ALL},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"applied", required_argument, NULL, OPT_APPLIED},
	{"rolled-back", required_argument, NULL, OPT_ROLLED_BACK},
	{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
	{"statement-timeout", required_argument, NULL, OPT_STATEMENT_TIMEOUT},
	{"lock-retries", required_argument, NULL, OPT_LOCK_RETRIES},
	{"lock-wait", required_argument, NULL, OPT_LOCK_WAIT},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	{"list", no_argument, NULL, OPT_LIST},
	{"to", required_argument, NULL, OPT_TO},
	{"restore", required_argument, NULL, OPT_RESTORE},
	{"confirm", no_argument, NULL, OPT_CONFIRM},
	{"rules", no_argument, NULL, OPT_RULES},
	{"override-preflight", no_argument, NULL, OPT_OVERRIDE_PREFLIGHT},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"targets-file", required_argument, NULL, OPT_TARGETS_FILE},
	{"target", required_argument, NULL, OPT_TARGET},
	{"selector", required_argument, NULL, OPT_SELECTOR},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"canary", required_argument, NULL, OPT_CANARY},
	{"on-error", required_argument, NULL, OPT_ON_ERROR},
	{"max-failures", required_argument, NULL, OPT_MAX_FAILURES},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "migrated: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun `migrated --help` for usage.\n");
	return MD_EXIT_USAGE;
}

static int exit_code_for(int code)
{
	return code == MD_E_CONFIG || code == MD_E_USAGE ? MD_EXIT_USAGE : MD_EXIT_PROBLEM;
}

int cli_fail(bool json, const struct md_error *err)
{
	if (json) {
		json_t *j = md_report_error_json(err);
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		md_report_error_text(stderr, err);
	}
	return exit_code_for(err->code);
}

static int fail(const struct cli *c, const struct md_error *err)
{
	return cli_fail(c->json, err);
}

void cli_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
}

void cli_dest_from_config(const struct md_config *cfg, struct cli_dest *ret)
{
	ret->database_url = cfg->database_url;
	ret->direct_url = cfg->direct_url;
	ret->which = "DATABASE_URL";
	ret->connect_timeout_s = cfg->connect_timeout_s;
}

/* The connection for migrations: the direct URL when set, else the database URL, which must
 * then be a session of its own (no pgbouncer=true, no pooler detected on connect). */
int cli_open_dest(const struct cli_dest *d, struct md_db **ret, const char **ret_url, struct md_error *err)
{
	struct md_dburl *url = NULL;
	bool direct = d->direct_url && *d->direct_url;
	const char *u = direct ? d->direct_url : d->database_url && *d->database_url ? d->database_url : NULL;
	int r;

	if (!u) {
		md_error_hint(err, "export DATABASE_URL='postgresql://USER:PASSWORD@HOST:5432/DB' (or set database_url "
				   "in the config file)");
		return md_error_set(err, MD_E_CONFIG, "no database given: DATABASE_URL and DIRECT_URL are both unset");
	}
	r = md_dburl_parse(u, "migrated", d->connect_timeout_s, &url, err);
	if (r < 0)
		return r;
	if (!direct && md_dburl_require_session(url, d->which, err) < 0) {
		md_dburl_free(url);
		return err->code;
	}
	r = md_db_open(url, ret, err);
	md_dburl_free(url);
	if (r == 0 && !direct && md_db_require_session(*ret, d->which, err) < 0) {
		md_db_close(*ret);
		*ret = NULL;
		return err->code;
	}
	if (r == 0 && ret_url)
		*ret_url = u;
	return r;
}

int cli_open_target(const struct md_config *cfg, struct md_db **ret, const char **ret_url, struct md_error *err)
{
	struct cli_dest d;
	cli_dest_from_config(cfg, &d);
	return cli_open_dest(&d, ret, ret_url, err);
}

static int open_target(const struct cli *c, struct md_db **ret, struct md_error *err)
{
	return cli_open_target(c->cfg, ret, NULL, err);
}

static void print_header(const struct cli *c, const struct md_db *db)
{
	if (!c->json)
		printf("Datasource: %s, schema \"%s\" (PostgreSQL %.*s)\n", db->display, db->schema,
		       (int)strcspn(db->server_version, " "), db->server_version);
}

int cli_status_read(const char *migrations_dir, unsigned catalog_flags, const struct cli_dest *d,
		    struct cli_status *ret, struct md_error *err)
{
	int r = md_catalog_load(migrations_dir, catalog_flags, &ret->cat, err);
	if (r >= 0)
		r = cli_open_dest(d, &ret->db, NULL, err);
	if (r >= 0)
		r = md_history_load(ret->db, &ret->hist, err);
	if (r >= 0)
		r = md_plan_build(ret->cat, ret->hist, &ret->plan, err);
	return r < 0 ? r : 0;
}

void cli_status_clear(struct cli_status *st)
{
	md_plan_free(st->plan);
	md_history_free(st->hist);
	md_db_close(st->db);
	md_catalog_free(st->cat);
	memset(st, 0, sizeof *st);
}

static int cmd_status(struct cli *c)
{
	struct md_error err = {0};
	struct cli_status st = {0};
	struct cli_dest d;
	int rc;

	cli_dest_from_config(c->cfg, &d);
	if (cli_status_read(c->cfg->migrations_dir, c->json ? MD_CATALOG_PROBE_DOWN : 0, &d, &st, &err) < 0) {
		rc = fail(c, &err);
		goto out;
	}
	rc = md_plan_up_to_date(st.plan) ? MD_EXIT_OK : MD_EXIT_PROBLEM;
	if (c->json) {
		cli_print_json(md_report_status_json(st.plan, c->cfg->migrations_dir, st.db));
	} else {
		print_header(c, st.db);
		md_report_status_text(stdout, st.plan, c->cfg->migrations_dir, c->all);
	}
out:
	cli_status_clear(&st);
	return rc;
}

/* Ctrl-C / SIGTERM during deploy: stop after cancelling the running statement on the server
 * (PQcancel is async-signal-safe), so the migration is rolled back and recorded. */
static volatile sig_atomic_t deploy_cancel;
static PGcancel *volatile deploy_canceller;

static void on_signal(int sig)
{
	char errbuf[256];
	deploy_cancel = 1;
	if (deploy_canceller)
		PQcancel(deploy_canceller, errbuf, sizeof errbuf);
	signal(sig, SIG_DFL); /* a second signal ends the process */
}

static void on_deploy_event(void *ctx, const struct md_apply_event *ev)
{
	const struct cli *c = ctx;
	if (!c->json)
		cli_progress_event(c->progress, ev);
}

/* The live line only for a person at a terminal: not for --json, a pipe, a log or TERM=dumb. */
static bool progress_live(const struct cli *c)
{
	const char *term = getenv("TERM");
	return !c->json && !c->no_progress && !c->dry_run && isatty(STDOUT_FILENO) && term && *term &&
	       strcmp(term, "dumb") != 0;
}

/* The data preflight as md_deploy's before_lock hook: asked on the plan the deploy computed,
 * before anything is locked. With preflight_gate = block a failing finding refuses the deploy
 * (MD_E_PREFLIGHT) unless overridden; warn prints it and goes on. */
int cli_gate_preflight(void *ctx, struct md_db *db, const struct md_deploy_report *rep, struct md_error *err)
{
	struct cli_gate *g = ctx;
	struct md_preflight_options o;
	int gate = g->cfg->preflight_gate;
	md_preflight_options_from(g->cfg, &o);
	int r = md_preflight_report(db, g->cfg->preflight_url, g->cat, rep, &o, &g->pf, err);
	if (r < 0) {
		if (gate != MD_LINT_GATE_BLOCK || g->override || g->dry_run) {
			fprintf(stderr, "warning: %sthe data preflight could not run: %s\n", g->who ? g->who : "",
				err->message);
			memset(err, 0, sizeof *err);
			return 0;
		}
		md_error_prefix(err, r, "the data preflight could not run, so nothing was locked or applied: ");
		md_error_hint(err,
			      "fix what stopped it, or deploy with --override-preflight (or preflight_gate = warn)");
		g->refused = true;
		return r;
	}
	const char *status = json_string_value(json_object_get(g->pf, "status"));
	if (g->out && status && strcmp(status, "ok") != 0)
		md_report_preflight_text(g->out, g->pf);
	if (!md_preflight_fails(g->pf))
		return 0;
	if (gate == MD_LINT_GATE_BLOCK && !g->override && !g->dry_run) {
		long long n = (long long)json_integer_value(json_object_get(g->pf, "failed"));
		md_error_set(
			err, MD_E_PREFLIGHT,
			"preflight: %lld pending statement%s would fail on today's data; nothing was locked, backed "
			"up or applied",
			n, n == 1 ? "" : "s");
		md_error_hint(err, "fix the data (each finding says how), or deploy with --override-preflight");
		g->refused = true;
		return MD_E_PREFLIGHT;
	}
	if (g->out && !g->dry_run)
		fprintf(g->out, "Preflight: %s; deploying anyway\n",
			g->override ? "overridden with --override-preflight" : "preflight_gate = warn");
	return 0;
}

void cli_gate_install(struct cli_gate *g, struct md_deploy_options *opts)
{
	if (g->cfg->preflight_gate == MD_LINT_GATE_OFF)
		return;
	opts->before_lock = cli_gate_preflight;
	opts->before_lock_ctx = g;
}

/* The daemon's notifications for a deploy from the command line: the same endpoints and
 * bodies, sent at once (one attempt each, at most 5 s) instead of through an outbox. */
static void notify_deploy(const struct cli *c, const struct md_deploy_report *rep, int r, const struct md_error *err)
{
	struct md_error nerr = {0};
	if (!c->cfg->notify_urls.n && !c->cfg->notify_commands.n)
		return;
	json_t *data = md_report_deploy_json(rep, r, err);
	if (!data)
		return;
	json_object_set_new(data, "kind", json_string("deploy"));
	json_object_set_new(data, "state", json_string(r == 0 ? "succeeded" : "failed"));
	json_object_set_new(data, "source", json_string("cli"));
	if (getenv("USER"))
		json_object_set_new(data, "actor", json_string(getenv("USER")));
	if (md_notify_send_now(c->cfg, r == 0 ? "job.succeeded" : "job.failed", data, 5000, &nerr) < 0)
		md_log(MD_LOG_WARNING, "notifications not sent: %s", nerr.message);
	json_decref(data);
}

static int cmd_deploy(struct cli *c)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_deploy_report rep = {0};
	struct md_deploy_options opts = {0};
	struct md_apply_hooks hooks = {on_deploy_event, c, &deploy_cancel, NULL};
	struct sigaction sa = {0};
	struct cli_gate gate = {0};
	json_t *pf = NULL;
	int r, rc;

	md_apply_options_from(c->cfg, &opts.apply);
	opts.dry_run = c->dry_run;
	r = md_catalog_load(c->cfg->migrations_dir, 0, &cat, &err);
	if (r >= 0)
		r = open_target(c, &db, &err);
	if (r < 0) {
		rc = fail(c, &err);
		goto out;
	}
	print_header(c, db);
	if (!c->json)
		printf("%zu migration%s found in %s\n", cat->n, cat->n == 1 ? "" : "s", c->cfg->migrations_dir);
	gate.cfg = c->cfg;
	gate.cat = cat;
	gate.dry_run = c->dry_run;
	gate.override = c->override_preflight;
	gate.out = c->json ? NULL : stdout;
	cli_gate_install(&gate, &opts);
	deploy_canceller = PQgetCancel(db->conn);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!c->json)
		c->progress = cli_progress_new(stdout, progress_live(c), db);
	r = md_deploy(db, cat, &opts, &hooks, &rep, &err);
	cli_progress_free(c->progress);
	c->progress = NULL;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	pf = gate.pf;
	if (!pf && r == 0 && rep.n_pending == 0 && c->cfg->preflight_gate != MD_LINT_GATE_OFF)
		pf = md_preflight_nothing_pending();
	if (gate.refused) {
		if (c->json) {
			json_t *j = md_report_error_json(&err);
			json_t *detail = json_object_get(json_object_get(j, "error"), "detail");
			if (json_is_object(detail) && pf)
				json_object_set(detail, "findings", json_object_get(pf, "findings"));
			cli_print_json(j);
		} else {
			md_report_error_text(stderr, &err);
		}
		rc = exit_code_for(err.code);
		goto out;
	}
	if (!c->dry_run)
		notify_deploy(c, &rep, r, &err);
	if (c->json) {
		json_t *j = md_report_deploy_json(&rep, r, &err);
		if (pf)
			json_object_set(j, "preflight", pf);
		cli_print_json(j);
	} else if (c->dry_run && r == 0) {
		printf("Dry run: %zu migration%s would be applied:\n", rep.n_pending, rep.n_pending == 1 ? "" : "s");
		for (size_t i = 0; i < rep.n_pending; i++)
			printf("  %s  %s%s%s%s (%zu statement%s)\n", rep.planned[i].name,
			       md_apply_mode_name(rep.planned[i].mode), rep.planned[i].reason[0] ? ": " : "",
			       rep.planned[i].reason, "", rep.planned[i].statements,
			       rep.planned[i].statements == 1 ? "" : "s");
		printf("Nothing was changed.\n");
	} else {
		md_report_deploy_text(stdout, &rep, r, c->cfg->migrations_dir);
		if (r < 0 && !rep.failure.present)
			md_report_error_text(stderr, &err);
	}
	rc = r < 0 ? exit_code_for(err.code) : MD_EXIT_OK;
out:
	if (deploy_canceller) {
		PGcancel *pc = deploy_canceller;
		deploy_canceller = NULL;
		PQfreeCancel(pc);
	}
	json_decref(pf);
	md_deploy_report_free(&rep);
	md_db_close(db);
	md_catalog_free(cat);
	return rc;
}

static int cmd_resolve(struct cli *c)
{
	struct md_error err = {0};
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_resolve_result res;
	enum md_resolve_as as = c->resolve_applied ? MD_RESOLVE_APPLIED : MD_RESOLVE_ROLLED_BACK;
	const char *name = c->resolve_applied ? c->resolve_applied : c->resolve_rolled_back;
	int r, rc;

	if (!name || (c->resolve_applied && c->resolve_rolled_back))
		return cli_usage_error("%s", "resolve needs exactly one of --applied NAME or --rolled-back NAME");
	r = md_migration_name_check(name, &err);
	if (r < 0) {
		md_error_hint(&err, "pass the migration's folder name, e.g. 20240101000000_init");
		return fail(c, &err);
	}
	r = md_catalog_load(c->cfg->migrations_dir, 0, &cat, &err);
	if (r >= 0)
		r = open_target(c, &db, &err);
	if (r >= 0)
		r = md_resolve(db, cat, name, as, c->cfg->advisory_lock_wait_ms, &res, &err);
	if (r < 0) {
		rc = fail(c, &err);
		goto out;
	}
	if (c->json) {
		json_t *o = md_report_resolve_json(name, as == MD_RESOLVE_APPLIED ? "applied" : "rolled-back", &res);
		json_object_set_new(o, "ok", json_true());
		cli_print_json(o);
	} else {
		print_header(c, db);
		printf("\nMigration %s marked as %s.\n", name, as == MD_RESOLVE_APPLIED ? "applied" : "rolled back");
		if (as == MD_RESOLVE_ROLLED_BACK)
			printf("The next `migrated deploy` applies it again.\n");
		else if (res.rows_changed)
			printf("Its %d failed attempt%s %s marked rolled back.\n", res.rows_changed,
			       res.rows_changed == 1 ? "" : "s", res.rows_changed == 1 ? "was" : "were");
		/* resolve records what the operator says; say once more what the row may have left. */
		if (res.was_failed && res.remains.remains != MD_REMAINS_NOTHING)
			printf("\nCheck: %s\n%s\n", res.note,
			       as == MD_RESOLVE_ROLLED_BACK ? "Undo what took effect before the next deploy: "
							      "it runs the whole file again."
							    : "Make sure the rest of it was applied by hand.");
	}
	rc = MD_EXIT_OK;
out:
	md_db_close(db);
	md_catalog_free(cat);
	return rc;
}

static int cmd_journal(struct cli *c)
{
	struct md_error err = {0};
	char path[4096];
	int r;

	snprintf(path, sizeof path, "%s/journal.jsonl", c->cfg->state_dir);
	if (strcmp(c->subcommand, "check") == 0)
		r = md_journal_check(path, stdout, &err);
	else
		r = md_journal_repair(path, stdout, &err);
	if (r < 0) {
		md_report_error_text(stderr, &err);
		return exit_code_for(err.code);
	}
	return MD_EXIT_OK;
}

static int parse(struct cli *c, int argc, char **argv)
{
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":hV", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_MIGRATIONS: c->flags.migrations_dir = optarg; break;
		case OPT_JSON: c->json = true; break;
		case OPT_ALL: c->all = true; break;
		case OPT_DRY_RUN: c->dry_run = true; break;
		case OPT_APPLIED: c->resolve_applied = optarg; break;
		case OPT_ROLLED_BACK: c->resolve_rolled_back = optarg; break;
		case OPT_LOCK_TIMEOUT: c->flags.lock_timeout = optarg; break;
		case OPT_STATEMENT_TIMEOUT: c->flags.statement_timeout = optarg; break;
		case OPT_LOCK_RETRIES: c->flags.lock_retries = optarg; break;
		case OPT_LOCK_WAIT: c->flags.advisory_lock_wait = optarg; break;
		case OPT_CONFIG: c->flags.config_file = optarg; break;
		case OPT_LOG_LEVEL: c->flags.log_level = optarg; break;
		case OPT_STATE_DIR: c->flags.state_dir = optarg; break;
		case OPT_LISTEN: c->flags.listen = optarg; break;
		case OPT_TOKEN_FILE: c->flags.token_file = optarg; break;
		case OPT_LIST: c->list = true; break;
		case OPT_TO: c->rollback_to = optarg; break;
		case OPT_RESTORE: c->restore = optarg; break;
		case OPT_CONFIRM: c->confirm = true; break;
		case OPT_RULES: c->rules = true; break;
		case OPT_OVERRIDE_PREFLIGHT: c->override_preflight = true; break;
		case OPT_NO_PROGRESS: c->no_progress = true; break;
		case OPT_TARGETS_FILE: c->flags.targets_file = optarg; break;
		case OPT_TARGET: c->fleet.target = optarg; break;
		case OPT_SELECTOR: c->fleet.selector = optarg; break;
		case OPT_PARALLEL: c->fleet.parallel = optarg; break;
		case OPT_CANARY: c->fleet.canary = optarg; break;
		case OPT_ON_ERROR: c->fleet.on_error = optarg; break;
		case OPT_MAX_FAILURES: c->fleet.max_failures = optarg; break;
		case 'h': fputs(usage_text, stdout); return 1;
		case 'V': printf("migrated %s\n", PACKAGE_VERSION); return 1;
		case ':': return cli_usage_error("option %s needs a value", argv[optind - 1]);
		default: return cli_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("%s", "no command given (status, deploy or resolve)");
	c->command = argv[optind++];
	if ((strcmp(c->command, "journal") == 0 || strcmp(c->command, "token") == 0) && optind < argc)
		c->subcommand = argv[optind++];
	while (strcmp(c->command, "token") == 0 && optind < argc && c->nargs < MD_ARRAY_SIZE(c->args))
		c->args[c->nargs++] = argv[optind++];
	if (optind < argc)
		return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (strcmp(c->command, "help") == 0) {
		fputs(usage_text, stdout);
		return 1;
	}
	return 0;
}

int md_cli_main(int argc, char **argv, md_cli_serve_fn serve)
{
	struct cli c = {0};
	struct md_error err = {0};
	int r, rc;

	r = parse(&c, argc, argv);
	if (r == 1)
		return MD_EXIT_OK;
	if (r != 0)
		return r;
	static const char *const commands[] = {"status",   "deploy", "resolve", "serve", "journal", "backup",
					       "rollback", "lint",   "plan",    "drift", "token"};
	bool known = false;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		known = known || strcmp(c.command, commands[i]) == 0;
	if (!known)
		return cli_usage_error("unknown command \"%s\" (status, deploy, resolve, plan, lint, drift, backup, "
				       "rollback, serve, journal or token)",
				       c.command);
	if (strcmp(c.command, "journal") == 0 &&
	    (!c.subcommand || (strcmp(c.subcommand, "check") != 0 && strcmp(c.subcommand, "repair") != 0)))
		return cli_usage_error("%s", "journal needs check or repair");
	if (strcmp(c.command, "token") == 0 &&
	    (!c.subcommand || (strcmp(c.subcommand, "add") != 0 && strcmp(c.subcommand, "list") != 0 &&
			       strcmp(c.subcommand, "remove") != 0)))
		return cli_usage_error("%s", "token needs add NAME ROLE, list or remove NAME");
	if ((c.resolve_applied || c.resolve_rolled_back) && strcmp(c.command, "resolve") != 0)
		return cli_usage_error("%s", "--applied and --rolled-back go with resolve");
	if (c.override_preflight && strcmp(c.command, "deploy") != 0)
		return cli_usage_error("%s", "--override-preflight goes with deploy");
	if (c.no_progress && strcmp(c.command, "deploy") != 0)
		return cli_usage_error("%s", "--no-progress goes with deploy");
	if (c.rules && strcmp(c.command, "lint") != 0)
		return cli_usage_error("%s", "--rules goes with lint");
	if (c.list && strcmp(c.command, "backup") != 0)
		return cli_usage_error("%s", "--list goes with backup");
	if ((c.rollback_to || c.restore || c.confirm) && strcmp(c.command, "rollback") != 0)
		return cli_usage_error("%s", "--to, --restore and --confirm go with rollback");
	if (strcmp(c.command, "rollback") == 0 && !!c.rollback_to == !!c.restore)
		return cli_usage_error("%s", "rollback needs exactly one of --to NAME or --restore BACKUP_ID");
	if (c.confirm && !c.restore)
		return cli_usage_error("%s", "--confirm goes with rollback --restore");
	bool fleet = (strcmp(c.command, "status") == 0 || strcmp(c.command, "deploy") == 0) &&
		     (c.flags.targets_file || c.fleet.target || c.fleet.selector);
	if ((c.fleet.target || c.fleet.selector) && !fleet)
		return cli_usage_error("%s", "--target and --selector go with status or deploy");
	if ((c.fleet.parallel || c.fleet.canary || c.fleet.on_error || c.fleet.max_failures) &&
	    !(fleet && strcmp(c.command, "deploy") == 0))
		return cli_usage_error("%s", "--parallel, --canary, --on-error and --max-failures go with deploy "
					     "--targets-file");
	if (fleet && c.dry_run)
		return cli_usage_error("%s", "--dry-run is for one database, not with --targets-file");
	r = md_config_load(&c.flags, &c.cfg, &err);
	if (r < 0)
		return fail(&c, &err);
	md_log_set_level(c.cfg->log_level);
	if (fleet) {
		c.fleet.deploy = strcmp(c.command, "deploy") == 0;
		c.fleet.json = c.json;
		c.fleet.all = c.all;
		c.fleet.override_preflight = c.override_preflight;
		rc = cli_fleet(c.cfg, &c.fleet);
	} else if (strcmp(c.command, "status") == 0)
		rc = cmd_status(&c);
	else if (strcmp(c.command, "deploy") == 0)
		rc = cmd_deploy(&c);
	else if (strcmp(c.command, "serve") == 0)
		rc = serve(c.cfg, &c.flags);
	else if (strcmp(c.command, "journal") == 0)
		rc = cmd_journal(&c);
	else if (strcmp(c.command, "drift") == 0)
		rc = cli_drift(c.cfg, c.json);
	else if (strcmp(c.command, "plan") == 0)
		rc = cli_plan(c.cfg, c.json);
	else if (strcmp(c.command, "lint") == 0)
		rc = cli_lint(c.cfg, c.json, c.rules);
	else if (strcmp(c.command, "backup") == 0)
		rc = cli_backup(c.cfg, c.json, c.list);
	else if (strcmp(c.command, "rollback") == 0)
		rc = cli_rollback(c.cfg, c.json, c.rollback_to, c.restore, c.confirm);
	else if (strcmp(c.command, "token") == 0)
		rc = cli_token(c.cfg, c.json, c.subcommand, c.args, c.nargs);
	else
		rc = cmd_resolve(&c);
	md_config_free(c.cfg);
	md_secret_forget_all();
	return rc;
}
