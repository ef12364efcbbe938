/* cli_fleet.c - `migrated status|deploy --targets-file F` without a daemon: the targets file
 * read (targets.h), the targets picked (--target, --selector or --all), each one's status or
 * deploy run on a thread of its own in the order md_fleet_sched gives (canaries, parallel,
 * on_error), then one summary table (or one JSON document). Each target is done with the
 * same engine calls as `migrated status` and `deploy` of one database (cli.c). Not the
 * daemon's fleet job: that lives with the jobs. */
#include "cli_internal.h"
#include "migrated/advisory_lock.h"
#include "migrated/catalog.h"
#include "migrated/cli.h"
#include "migrated/config.h"
#include "migrated/db.h"
#include "migrated/dburl.h"
#include "migrated/deploy.h"
#include "migrated/error.h"
#include "migrated/fleet_sched.h"
#include "migrated/log.h"
#include "migrated/plan.h"
#include "migrated/report.h"
#include "migrated/targets.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLEET_DEFAULT_PARALLEL 4
#define FLEET_POLL_MS          200 /* how soon a Ctrl-C reaches the running targets */

struct fleet;

struct fleet_item {
	const struct md_target *t;
	struct fleet *f;
	pthread_t thread;
	bool started, ended, reported;
	bool cancel_sent; /* guarded by f->lock */
	/* Guarded by f->lock: the running deploy's canceller (NULL when none). */
	PGcancel *canceller;
	/* The outcome, written by the item's thread before ended. */
	int rc;
	struct md_error err;
	size_t applied, pending, failed_migrations;
	bool up_to_date;
};

struct fleet {
	const struct md_config *cfg;
	const struct cli_fleet_options *o;
	struct fleet_item *items;
	size_t n;
	struct md_fleet_sched *sched;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* an item ended */
};

/* Ctrl-C / SIGTERM: the main loop notices within FLEET_POLL_MS, cancels the schedule and the
 * running statements (PQcancel under the lock, not in the handler). The engine checks the
 * flag between statements. */
static volatile sig_atomic_t fleet_cancel;

static void on_fleet_signal(int sig)
{
	fleet_cancel = 1;
	signal(sig, SIG_DFL); /* a second signal ends the process */
}

/* Every postgres:// or postgresql:// URL in s (a message of libpq may quote one, its password
 * already masked) replaced in place by "(URL)": no output of a fleet shows a URL. */
static void scrub_urls(char *s)
{
	char *p;
	while ((p = strstr(s, "postgres://")) || (p = strstr(s, "postgresql://"))) {
		char *end = p + strcspn(p, " \t\n\"'");
		static const char mark[] = "(URL)";
		size_t len = (size_t)(end - p);
		if (len < sizeof mark - 1)
			break; /* cannot happen: a scheme alone is longer */
		memcpy(p, mark, sizeof mark - 1);
		memmove(p + sizeof mark - 1, end, strlen(end) + 1);
	}
}

/* One whole line for a person: redacted, written by one call, so the lines of targets running
 * at once never mix mid-line. Nothing with --json (stdout holds the one document then). */
static void say(const struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct fleet *f, const char *fmt, ...)
{
	char line[2048], clean[2048];
	va_list ap;
	if (f->o->json)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	md_redact(line, clean, sizeof clean);
	scrub_urls(clean);
	flockfile(stdout);
	fputs(clean, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	funlockfile(stdout);
}

/* The first line of an error message, for a table cell. */
static void first_line(const char *msg, char *out, size_t outsz)
{
	snprintf(out, outsz, "%.*s", (int)strcspn(msg, "\n"), msg);
}

static void on_event(void *ctx, const struct md_apply_event *ev)
{
	const struct fleet_item *it = ctx;
	char dur[32], who[1024];
	switch (ev->kind) {
	case MD_EV_LOCK_WAIT:
		md_lock_holder_describe(ev->holder, who, sizeof who);
		say(it->f, "%s: waiting up to %.1f s for the migration lock, held by %s", it->t->name,
		    ev->wait_ms / 1000.0, who);
		break;
	case MD_EV_RECOVERED: say(it->f, "%s: recovered %s: %s", it->t->name, ev->migration, ev->message); break;
	case MD_EV_RETRY: say(it->f, "%s: %s: %s", it->t->name, ev->migration, ev->message); break;
	case MD_EV_MIGRATION_DONE:
		md_report_duration(ev->duration_ms, dur, sizeof dur);
		say(it->f, "%s: [%zu/%zu] %s applied in %s", it->t->name, ev->index, ev->total, ev->migration, dur);
		break;
	case MD_EV_MIGRATION_FAILED:
		say(it->f, "%s: [%zu/%zu] %s failed", it->t->name, ev->index, ev->total, ev->migration);
		break;
	default: break;
	}
}

static void item_dest(const struct fleet_item *it, struct cli_dest *d, char *which, size_t whichsz)
{
	snprintf(which, whichsz, "the URL of target %s", it->t->name);
	d->database_url = it->t->url;
	d->direct_url = it->t->direct_url;
	d->which = which;
	d->connect_timeout_s = it->f->cfg->connect_timeout_s;
}

static const char *item_dir(const struct fleet_item *it)
{
	return it->t->migrations_dir ? it->t->migrations_dir : it->f->cfg->migrations_dir;
}

static void set_canceller(struct fleet_item *it, PGcancel *c)
{
	pthread_mutex_lock(&it->f->lock);
	PGcancel *old = it->canceller;
	it->canceller = c;
	pthread_mutex_unlock(&it->f->lock);
	if (old)
		PQfreeCancel(old);
}

static void item_deploy(struct fleet_item *it)
{
	struct fleet *f = it->f;
	struct md_catalog *cat = NULL;
	struct md_db *db = NULL;
	struct md_deploy_report rep = {0};
	struct md_deploy_options opts = {0};
	struct md_apply_hooks hooks = {on_event, it, &fleet_cancel, NULL};
	struct cli_gate gate = {0};
	struct cli_dest d;
	char which[128], who[96];
	int r;

	item_dest(it, &d, which, sizeof which);
	md_apply_options_from(f->cfg, &opts.apply);
	r = md_catalog_load(item_dir(it), 0, &cat, &it->err);
	if (r >= 0)
		r = cli_open_dest(&d, &db, NULL, &it->err);
	if (r >= 0) {
		set_canceller(it, PQgetCancel(db->conn));
		snprintf(who, sizeof who, "target %s: ", it->t->name);
		gate.cfg = f->cfg;
		gate.cat = cat;
		gate.override = f->o->override_preflight;
		gate.who = who;
		cli_gate_install(&gate, &opts);
		r = md_deploy(db, cat, &opts, &hooks, &rep, &it->err);
		set_canceller(it, NULL);
	}
	it->rc = r < 0 ? r : 0;
	it->applied = rep.n_applied;
	json_decref(gate.pf);
	md_deploy_report_free(&rep);
	md_db_close(db);
	md_catalog_free(cat);
}

static void item_status(struct fleet_item *it)
{
	struct cli_status st = {0};
	struct cli_dest d;
	char which[128];

	item_dest(it, &d, which, sizeof which);
	it->rc = cli_status_read(item_dir(it), 0, &d, &st, &it->err);
	if (it->rc == 0) {
		it->applied = st.plan->count[MD_MIG_APPLIED] + st.plan->count[MD_MIG_MODIFIED];
		it->pending = st.plan->count[MD_MIG_PENDING] + st.plan->count[MD_MIG_ROLLED_BACK];
		it->failed_migrations = st.plan->count[MD_MIG_FAILED];
		it->up_to_date = md_plan_up_to_date(st.plan);
	}
	cli_status_clear(&st);
}

static void *item_run(void *arg)
{
	struct fleet_item *it = arg;
	struct fleet *f = it->f;
	char line[160];

	if (f->o->deploy) {
		say(f, "%s: deploying", it->t->name);
		item_deploy(it);
		scrub_urls(it->err.message);
		if (it->rc == 0)
			say(f, "%s: succeeded, %zu migration%s applied", it->t->name, it->applied,
			    it->applied == 1 ? "" : "s");
		else {
			first_line(it->err.message, line, sizeof line);
			say(f, "%s: failed: %s%s%s", it->t->name, it->err.prisma_code,
			    it->err.prisma_code[0] ? " " : "", line);
		}
	} else {
		item_status(it);
	}
	scrub_urls(it->err.message);
	scrub_urls(it->err.hint);
	pthread_mutex_lock(&f->lock);
	it->ended = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Called with f->lock held: start target i, or record why it could not start. */
static void start_item(struct fleet *f, size_t i)
{
	struct fleet_item *it = &f->items[i];
	int e = pthread_create(&it->thread, NULL, item_run, it);
	if (e == 0) {
		it->started = true;
		return;
	}
	it->rc = md_error_set(&it->err, MD_E_INTERNAL, "cannot start a thread: %s", strerror(e));
	it->ended = true;
}

static void cond_wait_ms(struct fleet *f, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&f->cond, &f->lock, &ts);
}

/* The schedule driven to its end: start what may start, collect what ended, until over. */
static void run_all(struct fleet *f)
{
	bool cancelled = false;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		if (fleet_cancel && !cancelled) {
			cancelled = true;
			md_fleet_sched_cancel(f->sched);
			say(f, "Cancelled: no other target starts; the running ones are stopped");
		}
		for (size_t i = 0; cancelled && i < f->n; i++)
			if (f->items[i].canceller && !f->items[i].cancel_sent) {
				char errbuf[256];
				PQcancel(f->items[i].canceller, errbuf, sizeof errbuf);
				f->items[i].cancel_sent = true;
			}
		for (size_t i = 0; i < f->n; i++) {
			struct fleet_item *it = &f->items[i];
			if (!it->ended || it->reported)
				continue;
			it->reported = true;
			if (it->started)
				pthread_join(it->thread, NULL);
			md_fleet_sched_done(f->sched, i, it->rc == 0);
		}
		long next;
		while ((next = md_fleet_sched_next(f->sched)) >= 0)
			start_item(f, (size_t)next);
		if (md_fleet_sched_over(f->sched))
			break;
		bool pending_report = false;
		for (size_t i = 0; i < f->n && !pending_report; i++)
			pending_report = f->items[i].ended && !f->items[i].reported;
		if (!pending_report)
			cond_wait_ms(f, FLEET_POLL_MS);
	}
	pthread_mutex_unlock(&f->lock);
}

static const char *slot_name(enum md_fleet_slot s)
{
	switch (s) {
	case MD_FLEET_SUCCEEDED: return "succeeded";
	case MD_FLEET_FAILED: return "failed";
	case MD_FLEET_SKIPPED: return "skipped";
	case MD_FLEET_RUNNING: return "running";
	default: return "waiting";
	}
}

static const char *status_state(const struct fleet_item *it)
{
	if (it->rc < 0)
		return "error";
	if (it->failed_migrations)
		return "failed";
	return it->up_to_date ? "up_to_date" : "pending";
}

/* The table of a deploy: NAME STATE APPLIED ERROR; of a status: NAME STATE APPLIED PENDING ERROR. */
static void print_table(const struct fleet *f)
{
	int w = 4;
	for (size_t i = 0; i < f->n; i++)
		if ((int)strlen(f->items[i].t->name) > w)
			w = (int)strlen(f->items[i].t->name);
	const char *stopped = f->o->deploy ? md_fleet_sched_stopped_by(f->sched) : NULL;
	printf("\n");
	if (f->o->deploy)
		printf("%-*s  %-9s  %7s  %s\n", w, "NAME", "STATE", "APPLIED", "ERROR");
	else
		printf("%-*s  %-10s  %7s  %7s  %s\n", w, "NAME", "STATE", "APPLIED", "PENDING", "ERROR");
	for (size_t i = 0; i < f->n; i++) {
		const struct fleet_item *it = &f->items[i];
		char line[1200] = "", cell[1300], clean[1300];
		enum md_fleet_slot slot = md_fleet_sched_slot(f->sched, i);
		if (it->rc < 0) {
			first_line(it->err.message, line, sizeof line);
			snprintf(cell, sizeof cell, "%s%s%s", it->err.prisma_code, it->err.prisma_code[0] ? " " : "",
				 line);
		} else if (slot == MD_FLEET_SKIPPED && stopped) {
			snprintf(cell, sizeof cell, "not started: %s", stopped);
		} else {
			cell[0] = '\0';
		}
		md_redact(cell, clean, sizeof clean);
		if (f->o->deploy)
			printf("%-*s  %-9s  %7zu  %s\n", w, it->t->name, slot_name(slot), it->applied, clean);
		else
			printf("%-*s  %-10s  %7zu  %7zu  %s\n", w, it->t->name, status_state(it), it->applied,
			       it->pending, clean);
	}
}

static json_t *item_json(const struct fleet *f, size_t i)
{
	const struct fleet_item *it = &f->items[i];
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(it->t->name));
	if (f->o->deploy) {
		json_object_set_new(o, "state", json_string(slot_name(md_fleet_sched_slot(f->sched, i))));
		json_object_set_new(o, "applied", json_integer((json_int_t)it->applied));
	} else {
		json_object_set_new(o, "state", json_string(status_state(it)));
		json_object_set_new(o, "applied", json_integer((json_int_t)it->applied));
		json_object_set_new(o, "pending", json_integer((json_int_t)it->pending));
		json_object_set_new(o, "failed", json_integer((json_int_t)it->failed_migrations));
	}
	json_object_set_new(o, "error", it->rc < 0 ? md_report_error_fields(&it->err) : json_null());
	return o;
}

/* The counts and the exit code: 0 when every target succeeded (deploy) or is up to date
 * (status); else the worst of the targets' exit codes as `deploy` and `status` of one database
 * give them (2 for a configuration error, 1 otherwise). */
static int summarize(const struct fleet *f, json_t *result)
{
	size_t counts[5] = {0};
	int rc = MD_EXIT_OK;
	for (size_t i = 0; i < f->n; i++) {
		const struct fleet_item *it = &f->items[i];
		int code = MD_EXIT_OK;
		if (it->rc < 0)
			code = it->err.code == MD_E_CONFIG || it->err.code == MD_E_USAGE ? MD_EXIT_USAGE
											 : MD_EXIT_PROBLEM;
		else if (f->o->deploy ? md_fleet_sched_slot(f->sched, i) != MD_FLEET_SUCCEEDED : !it->up_to_date)
			code = MD_EXIT_PROBLEM;
		if (code > rc)
			rc = code;
		if (f->o->deploy)
			counts[md_fleet_sched_slot(f->sched, i)]++;
		else
			counts[it->rc < 0 ? 0 : it->failed_migrations ? 1 : it->up_to_date ? 2 : 3]++;
	}
	if (f->o->deploy) {
		json_object_set_new(result, "succeeded", json_integer((json_int_t)counts[MD_FLEET_SUCCEEDED]));
		json_object_set_new(result, "failed", json_integer((json_int_t)counts[MD_FLEET_FAILED]));
		json_object_set_new(result, "skipped", json_integer((json_int_t)counts[MD_FLEET_SKIPPED]));
		const char *stopped = md_fleet_sched_stopped_by(f->sched);
		json_object_set_new(result, "stopped_by", stopped ? json_string(stopped) : json_null());
	} else {
		json_object_set_new(result, "up_to_date", json_integer((json_int_t)counts[2]));
		json_object_set_new(result, "pending", json_integer((json_int_t)counts[3]));
		json_object_set_new(result, "failed", json_integer((json_int_t)counts[1]));
		json_object_set_new(result, "error", json_integer((json_int_t)counts[0]));
	}
	return rc;
}

static void print_result(const struct fleet *f, json_t *result)
{
	if (f->o->deploy) {
		const char *stopped = md_fleet_sched_stopped_by(f->sched);
		printf("\n%lld succeeded, %lld failed, %lld skipped%s%s%s\n",
		       (long long)json_integer_value(json_object_get(result, "succeeded")),
		       (long long)json_integer_value(json_object_get(result, "failed")),
		       (long long)json_integer_value(json_object_get(result, "skipped")), stopped ? " (" : "",
		       stopped ? stopped : "", stopped ? ")" : "");
	} else {
		printf("\n%lld up to date, %lld pending, %lld with a failed migration, %lld unreadable\n",
		       (long long)json_integer_value(json_object_get(result, "up_to_date")),
		       (long long)json_integer_value(json_object_get(result, "pending")),
		       (long long)json_integer_value(json_object_get(result, "failed")),
		       (long long)json_integer_value(json_object_get(result, "error")));
	}
}

/* A whole number from 0 to max for option name, or -1 after the usage error. */
static long parse_count(const char *name, const char *v, long dflt, long max)
{
	char *end;
	if (!v)
		return dflt;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (end == v || *end || errno || n < 0 || n > max) {
		cli_usage_error("%s \"%s\" is not a whole number from 0 to %ld", name, v, max);
		return -1;
	}
	return n;
}

/* The policy of the options; MD_EXIT_OK, or the usage error's exit code. */
static int policy_from(const struct cli_fleet_options *o, const struct md_config *cfg, size_t n,
		       struct md_fleet_policy *p)
{
	struct md_error err = {0};
	long parallel = parse_count("--parallel", o->parallel, FLEET_DEFAULT_PARALLEL, MD_FLEET_PARALLEL_MAX);
	long canary = parallel < 0 ? -1 : parse_count("--canary", o->canary, 0, MD_TARGETS_MAX);
	long max_failures = canary < 0 ? -1 : parse_count("--max-failures", o->max_failures, 0, MD_TARGETS_MAX);
	if (max_failures < 0)
		return MD_EXIT_USAGE;
	if (o->on_error && strcmp(o->on_error, "stop") != 0 && strcmp(o->on_error, "continue") != 0)
		return cli_usage_error("--on-error \"%s\" is not stop or continue", o->on_error);
	p->parallel = (size_t)parallel;
	p->canary = (size_t)canary;
	p->stop_on_error = !o->on_error || strcmp(o->on_error, "stop") == 0;
	p->max_failures = (size_t)max_failures;
	if (p->max_failures && p->stop_on_error)
		return cli_usage_error("%s", "--max-failures goes with --on-error continue");
	if (md_fleet_policy_check(p, n, &err) < 0)
		return cli_usage_error("%s", err.message);
	/* Every running target holds one connection: the fleet's cap bounds them too. */
	if (p->parallel > (size_t)cfg->fleet_max_connections)
		p->parallel = (size_t)cfg->fleet_max_connections;
	return MD_EXIT_OK;
}

/* The chosen targets of all (borrowed), in file order, into f->items; an exit code. */
static int pick(struct fleet *f, const struct md_targets *all, const char *path)
{
	const struct cli_fleet_options *o = f->o;
	struct md_error err = {0};
	int chosen = !!o->target + !!o->selector + !!o->all;

	if (chosen != 1)
		return cli_usage_error("%s targets: give exactly one of --target NAME, --selector KEY=VALUE or --all",
				       chosen ? "too many ways to choose" : "no");
	if (o->selector && md_target_selector_check(o->selector, &err) < 0)
		return cli_usage_error("%s", err.message);
	if (o->target && !md_targets_find(all, o->target))
		return cli_usage_error("no target named \"%s\" in %s", o->target, path);
	f->items = calloc(all->n ? all->n : 1, sizeof *f->items);
	if (!f->items) {
		md_error_set(&err, MD_E_NOMEM, "out of memory");
		return cli_fail(o->json, &err);
	}
	for (size_t i = 0; i < all->n; i++) {
		const struct md_target *t = &all->list[i];
		if ((o->target && strcmp(t->name, o->target) != 0) ||
		    (o->selector && !md_target_matches(t, o->selector)))
			continue;
		struct fleet_item *it = &f->items[f->n];
		it->t = t;
		it->f = f;
		f->n++;
	}
	if (f->n == 0 && o->selector)
		return cli_usage_error("no target of %s has the labels %s", path, o->selector);
	if (f->n == 0)
		return cli_usage_error("%s has no targets", path);
	return MD_EXIT_OK;
}

/* Every target's URL parsed once before anything runs: its password is then a registered
 * secret (dburl.h) that no line of any target can show, and a bad URL fails that target
 * alone. */
static void register_secrets(const struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct md_target *t = f->items[i].t;
		const char *urls[2] = {t->url, t->direct_url};
		for (size_t k = 0; k < 2; k++) {
			struct md_dburl *u = NULL;
			struct md_error err = {0};
			if (urls[k] && md_dburl_parse(urls[k], "migrated", 0, &u, &err) == 0)
				md_dburl_free(u);
		}
	}
}

int cli_fleet(const struct md_config *cfg, const struct cli_fleet_options *o)
{
	struct md_targets *all = NULL;
	struct md_error err = {0};
	struct md_fleet_policy policy = {0, FLEET_DEFAULT_PARALLEL, true, 0};
	struct fleet f = {.cfg = cfg, .o = o};
	struct sigaction sa = {0};
	int rc;

	if (!cfg->targets_file)
		return cli_usage_error("%s", "--target and --selector need --targets-file FILE (or targets_file)");
	if (md_targets_load(cfg->targets_file, &all, &err) < 0)
		return cli_fail(o->json, &err);
	rc = pick(&f, all, cfg->targets_file);
	if (rc == MD_EXIT_OK && o->deploy)
		rc = policy_from(o, cfg, f.n, &policy);
	if (rc == MD_EXIT_OK && !o->deploy) /* status: every target, parallel reads */
		policy.stop_on_error = false;
	if (rc == MD_EXIT_OK && !(f.sched = md_fleet_sched_new(f.n, &policy))) {
		md_error_set(&err, MD_E_NOMEM, "out of memory");
		rc = cli_fail(o->json, &err);
	}
	if (rc != MD_EXIT_OK) {
		free(f.items);
		md_targets_free(all);
		return rc;
	}
	register_secrets(&f);
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	if (o->deploy) {
		say(&f, "Deploying to %zu target%s from %s (parallel %zu, canary %zu, on_error %s)", f.n,
		    f.n == 1 ? "" : "s", cfg->targets_file, policy.parallel, policy.canary,
		    policy.stop_on_error ? "stop" : "continue");
		fleet_cancel = 0;
		sa.sa_handler = on_fleet_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	run_all(&f);
	if (o->deploy) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
	json_t *result = json_object();
	rc = summarize(&f, result);
	if (o->json) {
		json_t *doc = json_object(), *list = json_array();
		for (size_t i = 0; i < f.n; i++)
			json_array_append_new(list, item_json(&f, i));
		json_object_set_new(doc, "targets", list);
		json_object_set_new(doc, "result", result);
		cli_print_json(doc);
	} else {
		print_table(&f);
		print_result(&f, result);
		json_decref(result);
	}
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
	md_fleet_sched_free(f.sched);
	free(f.items);
	md_targets_free(all);
	return rc;
}
