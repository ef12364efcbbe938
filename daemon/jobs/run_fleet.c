/* run_fleet.c - the fleet deploy job (POST /v1/fleet/deploy): an ordinary deploy job of each
 * named target, canary targets first, at most `parallel` at a time, by the schedule of
 * core/fleet_sched.c. The fleet job's steps are its targets ({"name", "state", "job", "error"});
 * each target job is a job of the table like any other (kind deploy, request "target" and
 * "parent"), with its own stop flags, so a cancel or a shutdown reaches each one. The targets
 * coordinate with other daemons and the Prisma CLI only through each database's advisory lock
 * and _prisma_migrations: nothing here is shared between daemons. */
#include "jobs_internal.h"
#include "migrated/clock.h"
#include "migrated/error.h"
#include "migrated/fleet_sched.h"
#include "migrated/history.h"
#include "migrated/job_metrics.h"
#include "migrated/log.h"
#include "migrated/macro.h"
#include "migrated/targets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Connections one target job may hold at once: its own session, and pg_dump's during the
 * backup; and those the cap keeps for the rest of the daemon (the targets' probe, the default
 * target's pool). (fleet_max_connections - RESERVED) / CONNECTIONS_PER_TARGET target jobs run
 * at once at most. */
#define CONNECTIONS_PER_TARGET 2
#define RESERVED_CONNECTIONS   2
#define WATCH_MS               100 /* how often the fleet job passes a cancel or stop on */

struct fleet_target {
	char *name;               /* owned */
	char job[JOB_ID_LEN + 1]; /* its target job, "" before it started */
	struct run_ctl ctl;       /* the target job's stop flags (ctl.pgcancel under jobs->lock) */
	json_t *error;            /* owned: the target job's error when it failed */
	size_t applied;           /* migrations it applied */
	bool skip_recorded;       /* its "skipped" step is in the journal */
};

struct fleet {
	struct job_run *run;   /* the fleet job */
	json_t *child_request; /* what every target job is asked (dry_run, backup, overrides) */
	struct fleet_target *t;
	size_t n;
	struct md_fleet_sched *sched; /* under lock */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a target ended, or the fleet was told to stop */
	size_t running_workers;
	bool interrupted;                 /* the daemon is shutting down (vs cancelled by request) */
	bool cancel_requested;            /* a cancel of the fleet job was asked (read at its end) */
	bool cancel_by_request;           /* pass_on passed a requested cancel on: targets starting now get it too */
	const struct md_targets *targets; /* the list the fleet started with (held until its end) */
};

static const char *slot_state(const struct fleet *f, size_t i)
{
	switch (md_fleet_sched_slot(f->sched, i)) {
	case MD_FLEET_WAITING: return "waiting";
	case MD_FLEET_RUNNING: return "running";
	case MD_FLEET_SUCCEEDED: return "succeeded";
	case MD_FLEET_FAILED: return "failed";
	case MD_FLEET_SKIPPED: break;
	}
	/* Never started: "skipped" when a policy stopped the fleet, "not_started" when a cancel
	 * or a shutdown did (the next fleet deploy finishes them). */
	const char *why = md_fleet_sched_stopped_by(f->sched);
	return why && strcmp(why, "cancelled") == 0 ? "not_started" : "skipped";
}

/* The step record of target i as it stands (caller holds f->lock). */
static json_t *target_step(const struct fleet *f, size_t i)
{
	const struct fleet_target *t = &f->t[i];
	json_t *step =
		json_pack("{s:I, s:s, s:s, s:s, s:s?, s:O?}", "index", (json_int_t)i, "name", t->name, "kind", "target",
			  "state", slot_state(f, i), "job", t->job[0] ? t->job : NULL, "error", t->error);
	if (md_fleet_sched_slot(f->sched, i) == MD_FLEET_SUCCEEDED)
		json_object_set_new(step, "applied", json_integer((json_int_t)t->applied));
	return step;
}

static void emit_step(struct fleet *f, json_t *step)
{
	run_emit(f->run, json_pack("{s:s, s:o}", "type", "step", "step", step), true);
}

static void progress(struct fleet *f)
{
	size_t done = 0, failed = 0;
	for (size_t i = 0; i < f->n; i++) {
		enum md_fleet_slot s = md_fleet_sched_slot(f->sched, i);
		done += s == MD_FLEET_SUCCEEDED || s == MD_FLEET_FAILED;
		failed += s == MD_FLEET_FAILED;
	}
	run_set_progress(f->run, "fleet deploy: %zu/%zu targets done, %zu running, %zu failed", done, f->n,
			 md_fleet_sched_running(f->sched), failed);
}

/* Creates and runs the target job of target i; returns whether it succeeded. */
static bool run_target(struct fleet *f, size_t i)
{
	struct md_jobs *jobs = f->run->jobs;
	struct fleet_target *t = &f->t[i];
	struct job_run c = {.jobs = jobs, .ctl = &t->ctl, .child = true, .targets = f->targets};
	struct md_error err = {0};
	json_t *req = json_deep_copy(f->child_request);

	md_history_new_id(c.id);
	json_object_set_new(req, "target", json_string(t->name));
	json_object_set_new(req, "parent", json_string(f->run->id));
	json_t *rec = json_pack("{s:s, s:s, s:O}", "type", "job", "kind", "deploy", "request", req);
	pthread_mutex_lock(&jobs->lock);
	if (f->run->job->actor)
		json_object_set_new(rec, "actor", json_string(f->run->job->actor));
	pthread_mutex_unlock(&jobs->lock);
	if (jobs_emit(jobs, c.id, rec, false, &err) < 0) {
		pthread_mutex_lock(&f->lock);
		t->error = run_error_json(&err);
		pthread_mutex_unlock(&f->lock);
		json_decref(req);
		return false;
	}
	pthread_mutex_lock(&jobs->lock);
	c.job = jobs_find(jobs, c.id);
	if (c.job) {
		c.job->ctl = &t->ctl;
		/* A cancel of this job between its record and now found no flags to raise. */
		if (c.job->cancel_requested)
			t->ctl.cancel = 1;
	}
	pthread_mutex_unlock(&jobs->lock);
	pthread_mutex_lock(&f->lock);
	snprintf(t->job, sizeof t->job, "%s", c.id);
	if (f->cancel_by_request) { /* the fleet was cancelled while this one was being created */
		struct md_error cerr = {0};
		jobs_emit(jobs, c.id,
			  json_pack("{s:s, s:s, s:s}", "type", "cancel", "level", "warning", "message",
				    "cancel requested: the fleet deploy was cancelled"),
			  true, &cerr);
		t->ctl.cancel = 1;
	}
	emit_step(f, target_step(f, i));
	progress(f);
	pthread_mutex_unlock(&f->lock);
	if (!c.job) { /* compaction cannot run during a job: a bug */
		json_decref(req);
		return false;
	}

	md_log_context(c.id, NULL);
	run_job_kind(&c, MD_JOB_DEPLOY, req);
	md_log_context(f->run->id, NULL);

	pthread_mutex_lock(&jobs->lock);
	c.job->ctl = NULL;
	if (t->ctl.pgcancel) {
		PQfreeCancel(t->ctl.pgcancel);
		t->ctl.pgcancel = NULL;
	}
	enum md_job_state st = c.job->state;
	json_t *error = c.job->error ? json_deep_copy(c.job->error) : NULL;
	json_t *applied = json_object_get(c.job->result, "applied"); /* a count (run_deploy.c) */
	size_t n_applied = json_is_integer(applied) ? (size_t)json_integer_value(applied) : 0;
	pthread_mutex_unlock(&jobs->lock);
	md_job_metrics_job_ended(MD_JOB_DEPLOY, st, json_is_true(json_object_get(req, "dry_run")));
	md_log(st == MD_JOB_SUCCEEDED ? MD_LOG_INFO : MD_LOG_WARNING, "job %s: deploy of target %s %s", c.id, t->name,
	       md_job_state_name(st));

	pthread_mutex_lock(&f->lock);
	t->error = error;
	t->applied = n_applied;
	pthread_mutex_unlock(&f->lock);
	md_settings_view_free(&c.set);
	json_decref(c.step);
	json_decref(req);
	return st == MD_JOB_SUCCEEDED;
}

/* One of `parallel` worker threads: starts what the schedule allows until it is over. */
static void *fleet_worker(void *arg)
{
	struct fleet *f = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&f->lock);
	for (;;) {
		long i = md_fleet_sched_next(f->sched);
		if (i < 0) {
			if (md_fleet_sched_over(f->sched))
				break;
			pthread_cond_wait(&f->changed, &f->lock);
			continue;
		}
		pthread_mutex_unlock(&f->lock);
		bool ok = run_target(f, (size_t)i);
		pthread_mutex_lock(&f->lock);
		md_fleet_sched_done(f->sched, (size_t)i, ok);
		emit_step(f, target_step(f, (size_t)i));
		/* A policy that stopped the fleet just now: the targets it skipped, once. */
		for (size_t k = 0; k < f->n; k++)
			if (md_fleet_sched_slot(f->sched, k) == MD_FLEET_SKIPPED && !f->t[k].skip_recorded) {
				f->t[k].skip_recorded = true;
				emit_step(f, target_step(f, k));
			}
		progress(f);
		pthread_cond_broadcast(&f->changed);
	}
	f->running_workers--;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Passes the fleet job's cancel or stop on to every running target job. A cancel asked of the
 * fleet job is recorded on each target job too (a "cancel" record, as POST .../cancel makes),
 * so they end "cancelled"; a shutdown's cancel leaves them "interrupted". Caller holds f->lock. */
static void pass_on(struct fleet *f, bool cancel, bool by_request)
{
	struct md_jobs *jobs = f->run->jobs;
	md_fleet_sched_cancel(f->sched);
	if (cancel && by_request)
		f->cancel_by_request = true;
	for (size_t i = 0; cancel && by_request && i < f->n; i++) {
		struct md_error err = {0};
		if (md_fleet_sched_slot(f->sched, i) != MD_FLEET_RUNNING || !f->t[i].job[0])
			continue;
		jobs_emit(jobs, f->t[i].job,
			  json_pack("{s:s, s:s, s:s}", "type", "cancel", "level", "warning", "message",
				    "cancel requested: the fleet deploy was cancelled"),
			  true, &err);
	}
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = 0; i < f->n; i++) {
		struct fleet_target *t = &f->t[i];
		if (md_fleet_sched_slot(f->sched, i) != MD_FLEET_RUNNING)
			continue;
		t->ctl.stop = 1;
		if (cancel && !t->ctl.cancel) {
			t->ctl.cancel = 1;
			if (t->ctl.pgcancel) {
				char errbuf[256];
				PQcancel(t->ctl.pgcancel, errbuf, sizeof errbuf);
			}
		}
	}
	pthread_mutex_unlock(&jobs->lock);
}

/* The request's policy; MD_E_USAGE when it is out of range (the API checked it already: a
 * journal written by hand). */
static int policy_of(const json_t *request, size_t n, int max_connections, struct md_fleet_policy *p,
		     struct md_error *err)
{
	json_t *par = json_object_get(request, "parallel");
	const char *on_error = json_string_value(json_object_get(request, "on_error"));
	p->canary = (size_t)json_integer_value(json_object_get(request, "canary"));
	p->parallel = json_is_integer(par) ? (size_t)json_integer_value(par) : 4;
	p->stop_on_error = !on_error || strcmp(on_error, "continue") != 0;
	p->max_failures = (size_t)json_integer_value(json_object_get(request, "max_failures"));
	int r = md_fleet_policy_check(p, n, err);
	if (r < 0)
		return r;
	int spare = max_connections - RESERVED_CONNECTIONS;
	size_t cap = spare / CONNECTIONS_PER_TARGET > 0 ? (size_t)(spare / CONNECTIONS_PER_TARGET) : 1;
	if (p->parallel > cap)
		p->parallel = cap;
	return 0;
}

/* The target job's request: the deploy options of the fleet request. */
static json_t *child_request_of(const json_t *request)
{
	static const char *const pass[] = {"dry_run", "backup", "override_lint", "override_preflight"};
	json_t *c = json_object();
	for (size_t i = 0; i < MD_ARRAY_SIZE(pass); i++) {
		json_t *v = json_object_get(request, pass[i]);
		if (v)
			json_object_set(c, pass[i], v);
	}
	return c;
}

static void fleet_free(struct fleet *f)
{
	md_settings_targets_put(f->run->jobs->settings, f->targets);
	for (size_t i = 0; i < f->n; i++) {
		free(f->t[i].name);
		json_decref(f->t[i].error);
	}
	free(f->t);
	md_fleet_sched_free(f->sched);
	json_decref(f->child_request);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
}

/* The fleet job's end: its state, result counts and, when targets failed, an error naming
 * them with the first one's codes. */
static void fleet_end(struct fleet *f, size_t parallel)
{
	size_t count[5] = {0}, not_started = 0, skipped = 0;
	json_t *failed = json_array();
	const json_t *first = NULL;
	for (size_t i = 0; i < f->n; i++) {
		enum md_fleet_slot s = md_fleet_sched_slot(f->sched, i);
		count[s]++;
		if (s == MD_FLEET_SKIPPED)
			strcmp(slot_state(f, i), "skipped") == 0 ? skipped++ : not_started++;
		if (s == MD_FLEET_FAILED) {
			json_array_append_new(failed, json_string(f->t[i].name));
			if (!first)
				first = f->t[i].error;
		}
	}
	const char *why = md_fleet_sched_stopped_by(f->sched);
	json_t *result =
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:o}", "targets", (json_int_t)f->n, "succeeded",
			  (json_int_t)count[MD_FLEET_SUCCEEDED], "failed", (json_int_t)count[MD_FLEET_FAILED],
			  "skipped", (json_int_t)skipped, "not_started", (json_int_t)not_started, "parallel",
			  (json_int_t)parallel, "stopped_by", why, "failed_targets", failed);
	const char *state = "succeeded";
	json_t *error = NULL;
	if (f->run->ctl->cancel || (why && strcmp(why, "cancelled") == 0)) {
		state = f->interrupted && !f->cancel_requested ? "interrupted" : "cancelled";
		error = json_pack("{s:s, s:s}", "code", state, "message",
				  f->interrupted && !f->cancel_requested
					  ? "the daemon shut down during the fleet deploy: targets not started are "
					    "left for the next one"
					  : "cancelled: running targets were cancelled, no other was started");
	} else if (count[MD_FLEET_FAILED] || skipped) {
		char msg[1024];
		const char *fmsg = json_string_value(json_object_get(first, "message"));
		snprintf(msg, sizeof msg, "%zu of %zu targets failed%s%s%s%s%s", count[MD_FLEET_FAILED], f->n,
			 why ? " (" : "", why ? why : "", why ? ": the rest was skipped)" : "", fmsg ? "; first: " : "",
			 fmsg ? fmsg : "");
		error = first ? json_deep_copy(first) : json_object();
		json_object_set_new(error, "message", json_string(msg));
		if (!first)
			json_object_set_new(error, "code", json_string("fleet"));
		json_object_set_new(error, "targets", json_deep_copy(failed));
		state = "failed";
	}
	run_end(f->run, 0, state, error, result);
}

void run_fleet(struct job_run *run, json_t *request)
{
	struct fleet f = {.run = run};
	struct md_fleet_policy p = {0};
	struct md_error err = {0};
	json_t *names = json_object_get(request, "targets");
	size_t i, nworkers = 0;
	json_t *v;
	int r = 0;

	pthread_mutex_init(&f.lock, NULL);
	md_clock_cond_init(&f.changed);
	f.targets = md_settings_targets_get(run->jobs->settings);
	f.n = json_array_size(names);
	f.t = calloc(f.n ? f.n : 1, sizeof *f.t);
	f.child_request = child_request_of(request);
	if (!f.t || !f.child_request)
		r = md_error_set(&err, MD_E_NOMEM, "out of memory");
	if (r == 0 && f.n == 0)
		r = md_error_set(&err, MD_E_USAGE, "the fleet deploy names no target");
	if (r == 0)
		r = policy_of(request, f.n, run->set.fleet_max_connections, &p, &err);
	json_array_foreach(names, i, v)
	{
		if (r == 0 && !(f.t[i].name = strdup(json_string_value(v) ? json_string_value(v) : "")))
			r = md_error_set(&err, MD_E_NOMEM, "out of memory");
	}
	if (r == 0 && !(f.sched = md_fleet_sched_new(f.n, &p)))
		r = md_error_set(&err, MD_E_NOMEM, "out of memory");
	if (r < 0) {
		run_end(run, r, "failed", run_error_json(&err), NULL);
		fleet_free(&f);
		return;
	}
	if (p.parallel < (size_t)json_integer_value(json_object_get(request, "parallel"))) {
		char msg[200];
		snprintf(msg, sizeof msg,
			 "parallel lowered to %zu: fleet_max_connections = %d, %d kept for the probe, %d a target job",
			 p.parallel, run->set.fleet_max_connections, RESERVED_CONNECTIONS, CONNECTIONS_PER_TARGET);
		run_log(run, "warning", msg);
	}
	md_log(MD_LOG_INFO, "job %s: fleet deploy of %zu targets, %zu at a time, canary %zu, on_error %s", run->id, f.n,
	       p.parallel, p.canary, p.stop_on_error ? "stop" : "continue");
	pthread_mutex_lock(&f.lock);
	for (i = 0; i < f.n; i++)
		emit_step(&f, target_step(&f, i));
	progress(&f);
	size_t want = p.parallel < f.n ? p.parallel : f.n;
	pthread_t *threads = calloc(want, sizeof *threads);
	for (i = 0; threads && i < want; i++) {
		if (pthread_create(&threads[i], NULL, fleet_worker, &f) != 0)
			break;
		nworkers++;
		f.running_workers++;
	}
	if (nworkers == 0) {
		md_fleet_sched_cancel(f.sched);
		pthread_mutex_unlock(&f.lock);
		md_error_set(&err, MD_E_INTERNAL, "cannot start the fleet deploy's threads");
		run_end(run, MD_E_INTERNAL, "failed", run_error_json(&err), NULL);
		free(threads);
		fleet_free(&f);
		return;
	}
	/* Watch for a cancel (by request, or the shutdown's after its grace) and a stop (shutdown),
	 * and pass them on to the target jobs. */
	bool passed_stop = false, passed_cancel = false;
	while (f.running_workers > 0) {
		struct timespec dl;
		md_clock_deadline(CLOCK_MONOTONIC, WATCH_MS, &dl);
		pthread_cond_timedwait(&f.changed, &f.lock, &dl);
		if (run->ctl->cancel && !passed_cancel) {
			passed_cancel = passed_stop = true;
			pthread_mutex_lock(&run->jobs->lock);
			bool asked = run->job->cancel_requested;
			pthread_mutex_unlock(&run->jobs->lock);
			pass_on(&f, true, asked);
			pthread_cond_broadcast(&f.changed);
		} else if (run->ctl->stop && !passed_stop) {
			passed_stop = true;
			f.interrupted = true;
			pass_on(&f, false, false);
			pthread_cond_broadcast(&f.changed);
		}
	}
	pthread_mutex_lock(&run->jobs->lock);
	bool by_request = run->job->cancel_requested;
	pthread_mutex_unlock(&run->jobs->lock);
	if (passed_cancel && !by_request)
		f.interrupted = true;
	f.cancel_requested = by_request;
	for (i = 0; i < f.n; i++) /* the targets a cancel or a stop left unstarted */
		if (md_fleet_sched_slot(f.sched, i) == MD_FLEET_SKIPPED && !f.t[i].skip_recorded) {
			f.t[i].skip_recorded = true;
			emit_step(&f, target_step(&f, i));
		}
	pthread_mutex_unlock(&f.lock);
	for (i = 0; i < nworkers; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	fleet_end(&f, p.parallel);
	fleet_free(&f);
}
