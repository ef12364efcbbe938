/* fleet_sched.h - the order in which a fleet deploy starts its targets (issue 15): canary
 * targets first and alone, then the rest at most `parallel` at a time; after a failure, with
 * on_error=stop nothing new starts (running ones finish), with continue it goes on until
 * max_failures. Pure bookkeeping, no threads and no I/O: the daemon's fleet job and the CLI's
 * `deploy --targets-file` drive the same schedule. Not thread-safe: callers hold their lock. */
#ifndef MIGRATED_FLEET_SCHED_H
#define MIGRATED_FLEET_SCHED_H

#include <stdbool.h>
#include <stddef.h>

struct md_error;
struct md_fleet_sched;

#define MD_FLEET_PARALLEL_MAX 64

struct md_fleet_policy {
	size_t canary;       /* the first `canary` targets run without the rest (up to parallel
			      * of them at once), and all must succeed before any other starts */
	size_t parallel;     /* 1..MD_FLEET_PARALLEL_MAX */
	bool stop_on_error;  /* on_error=stop */
	size_t max_failures; /* with continue: stop starting once this many failed (0: no limit) */
};

enum md_fleet_slot {
	MD_FLEET_WAITING,   /* not started yet */
	MD_FLEET_RUNNING,   /* started, not ended yet */
	MD_FLEET_SUCCEEDED, /* ended well */
	MD_FLEET_FAILED,    /* ended with an error */
	MD_FLEET_SKIPPED,   /* never started: a policy stopped the fleet (canary failed, stop,
			     * max_failures, cancel) */
};

/* md_fleet_policy_check: MD_E_USAGE when parallel is 0 or above MD_FLEET_PARALLEL_MAX, or
 * canary exceeds n. */
int md_fleet_policy_check(const struct md_fleet_policy *p, size_t n, struct md_error *err);
/* md_fleet_sched_new: n targets (index order is start order), all waiting. NULL without
 * memory. Free with md_fleet_sched_free. */
struct md_fleet_sched *md_fleet_sched_new(size_t n, const struct md_fleet_policy *p);
void md_fleet_sched_free(struct md_fleet_sched *s);
/* md_fleet_sched_next: the index of a target that may start now (marked running), or -1
 * when none may now (wait for one to end, or the schedule is over). */
long md_fleet_sched_next(struct md_fleet_sched *s);
/* md_fleet_sched_done: target i (running) ended; ok is whether it succeeded. Applies the
 * policy: a failed canary, or a failure under stop, or the max_failures-th failure makes
 * every waiting target skipped. */
void md_fleet_sched_done(struct md_fleet_sched *s, size_t i, bool ok);
/* md_fleet_sched_cancel: nothing more starts; waiting targets become skipped. */
void md_fleet_sched_cancel(struct md_fleet_sched *s);
/* md_fleet_sched_over: nothing runs and nothing more will start. */
bool md_fleet_sched_over(const struct md_fleet_sched *s);
/* md_fleet_sched_slot: the state of target i. md_fleet_sched_running: how many run now. */
enum md_fleet_slot md_fleet_sched_slot(const struct md_fleet_sched *s, size_t i);
size_t md_fleet_sched_running(const struct md_fleet_sched *s);
/* md_fleet_sched_stopped_by: why waiting targets were skipped ("canary failed", "on_error=stop",
 * "max_failures reached", "cancelled"), or NULL while none was. */
const char *md_fleet_sched_stopped_by(const struct md_fleet_sched *s);

#endif
