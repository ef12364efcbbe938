/* fleet_sched.c - the start order of a fleet deploy (see fleet_sched.h): which target may start
 * now and what a failure does to the ones still waiting. Bookkeeping only: no threads, no I/O,
 * no clock; the callers run the targets and report each end. */
#include "migrated/fleet_sched.h"
#include "migrated/error.h"

#include <stdlib.h>

struct md_fleet_sched {
	struct md_fleet_policy policy;
	size_t n;
	enum md_fleet_slot *slots; /* n of them */
	size_t cursor;             /* the first target never started: every later one waits too */
	size_t running;
	size_t canary_succeeded; /* among the first policy.canary targets */
	size_t failed;
	const char *stopped_by; /* static text, or NULL */
};

int md_fleet_policy_check(const struct md_fleet_policy *p, size_t n, struct md_error *err)
{
	if (p->parallel < 1 || p->parallel > MD_FLEET_PARALLEL_MAX)
		return md_error_set(err, MD_E_USAGE, "parallel must be 1 to %d (not %zu)", MD_FLEET_PARALLEL_MAX,
				    p->parallel);
	if (p->canary > n)
		return md_error_set(err, MD_E_USAGE, "canary %zu is more than the %zu target%s selected", p->canary, n,
				    n == 1 ? "" : "s");
	return 0;
}

struct md_fleet_sched *md_fleet_sched_new(size_t n, const struct md_fleet_policy *p)
{
	struct md_fleet_sched *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->slots = calloc(n ? n : 1, sizeof *s->slots);
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->n = n;
	s->policy = *p;
	/* Defensive: an unchecked policy still gives a schedule that ends. */
	if (s->policy.parallel < 1)
		s->policy.parallel = 1;
	if (s->policy.parallel > MD_FLEET_PARALLEL_MAX)
		s->policy.parallel = MD_FLEET_PARALLEL_MAX;
	if (s->policy.canary > n)
		s->policy.canary = n;
	for (size_t i = 0; i < n; i++)
		s->slots[i] = MD_FLEET_WAITING;
	return s;
}

void md_fleet_sched_free(struct md_fleet_sched *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

long md_fleet_sched_next(struct md_fleet_sched *s)
{
	if (s->stopped_by || s->cursor >= s->n || s->running >= s->policy.parallel)
		return -1;
	/* Past the canaries only once every one of them succeeded. */
	if (s->cursor >= s->policy.canary && s->canary_succeeded < s->policy.canary)
		return -1;
	size_t i = s->cursor++;
	s->slots[i] = MD_FLEET_RUNNING;
	s->running++;
	return (long)i;
}

/* Nothing more starts: every waiting target is skipped; the first reason is kept. */
static void stop(struct md_fleet_sched *s, const char *why)
{
	if (!s->stopped_by)
		s->stopped_by = why;
	for (size_t i = s->cursor; i < s->n; i++)
		if (s->slots[i] == MD_FLEET_WAITING)
			s->slots[i] = MD_FLEET_SKIPPED;
	s->cursor = s->n;
}

void md_fleet_sched_done(struct md_fleet_sched *s, size_t i, bool ok)
{
	if (i >= s->n || s->slots[i] != MD_FLEET_RUNNING)
		return; /* not running: a caller's slip must not corrupt the counts */
	s->running--;
	if (ok) {
		s->slots[i] = MD_FLEET_SUCCEEDED;
		if (i < s->policy.canary)
			s->canary_succeeded++;
		return;
	}
	s->slots[i] = MD_FLEET_FAILED;
	s->failed++;
	if (i < s->policy.canary)
		stop(s, "canary failed");
	else if (s->policy.stop_on_error)
		stop(s, "on_error=stop");
	else if (s->policy.max_failures && s->failed >= s->policy.max_failures)
		stop(s, "max_failures reached");
}

void md_fleet_sched_cancel(struct md_fleet_sched *s)
{
	stop(s, "cancelled");
}

bool md_fleet_sched_over(const struct md_fleet_sched *s)
{
	return s->running == 0 && (s->stopped_by || s->cursor >= s->n);
}

enum md_fleet_slot md_fleet_sched_slot(const struct md_fleet_sched *s, size_t i)
{
	return i < s->n ? s->slots[i] : MD_FLEET_SKIPPED;
}

size_t md_fleet_sched_running(const struct md_fleet_sched *s)
{
	return s->running;
}

const char *md_fleet_sched_stopped_by(const struct md_fleet_sched *s)
{
	return s->stopped_by;
}
