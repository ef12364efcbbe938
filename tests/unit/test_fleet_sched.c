/* test_fleet_sched.c - the fleet deploy's schedule: canaries alone and first, a failed canary
 * skipping the rest, on_error stop and continue, max_failures, cancel, the policy check, and a
 * seeded randomized simulation in which parallel is never exceeded and every rule holds. */
#include "migrated/error.h"
#include "migrated/fleet_sched.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct md_fleet_sched *sched(size_t n, size_t canary, size_t parallel, bool stop, size_t max_failures)
{
	struct md_fleet_policy p = {canary, parallel, stop, max_failures};
	struct md_fleet_sched *s = md_fleet_sched_new(n, &p);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Starts what may start now; returns how many. */
static size_t start_all(struct md_fleet_sched *s, long *started, size_t cap)
{
	size_t k = 0;
	long i;
	while ((i = md_fleet_sched_next(s)) >= 0) {
		ck_assert_uint_lt(k, cap);
		started[k++] = i;
	}
	return k;
}

START_TEST(canaries_run_alone_first_and_the_rest_waits_for_all_of_them)
{
	struct md_fleet_sched *s = sched(6, 2, 4, true, 0);
	long st[8];
	ck_assert_uint_eq(start_all(s, st, 8), 2); /* only the canaries, although parallel is 4 */
	ck_assert_int_eq(st[0], 0);
	ck_assert_int_eq(st[1], 1);
	ck_assert_int_eq(md_fleet_sched_slot(s, 2), MD_FLEET_WAITING);
	md_fleet_sched_done(s, 1, true);
	ck_assert_int_eq(md_fleet_sched_next(s), -1); /* canary 0 still runs */
	md_fleet_sched_done(s, 0, true);
	ck_assert_uint_eq(start_all(s, st, 8), 4);
	ck_assert_int_eq(st[0], 2);
	ck_assert_int_eq(st[3], 5);
	ck_assert_uint_eq(md_fleet_sched_running(s), 4);
	ck_assert(!md_fleet_sched_over(s));
	for (size_t i = 2; i < 6; i++)
		md_fleet_sched_done(s, i, true);
	ck_assert(md_fleet_sched_over(s));
	ck_assert_ptr_null(md_fleet_sched_stopped_by(s));
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(md_fleet_sched_slot(s, i), MD_FLEET_SUCCEEDED);
	md_fleet_sched_free(s);

	/* More canaries than parallel: they too go at most parallel at once. */
	s = sched(5, 3, 2, true, 0);
	ck_assert_uint_eq(start_all(s, st, 8), 2);
	md_fleet_sched_done(s, 0, true);
	ck_assert_int_eq(md_fleet_sched_next(s), 2);
	ck_assert_int_eq(md_fleet_sched_next(s), -1);
	md_fleet_sched_done(s, 1, true);
	ck_assert_int_eq(md_fleet_sched_next(s), -1); /* canary 2 runs */
	md_fleet_sched_done(s, 2, true);
	ck_assert_uint_eq(start_all(s, st, 8), 2);
	md_fleet_sched_free(s);
}
END_TEST

START_TEST(a_failed_canary_skips_every_waiting_target_even_under_continue)
{
	for (int stop = 0; stop <= 1; stop++) {
		struct md_fleet_sched *s = sched(6, 2, 4, stop, 0);
		long st[8];
		ck_assert_uint_eq(start_all(s, st, 8), 2);
		md_fleet_sched_done(s, 0, false);
		ck_assert_str_eq(md_fleet_sched_stopped_by(s), "canary failed");
		ck_assert_int_eq(md_fleet_sched_next(s), -1);
		ck_assert(!md_fleet_sched_over(s)); /* canary 1 still runs and finishes */
		ck_assert_int_eq(md_fleet_sched_slot(s, 1), MD_FLEET_RUNNING);
		md_fleet_sched_done(s, 1, true);
		ck_assert(md_fleet_sched_over(s));
		ck_assert_int_eq(md_fleet_sched_slot(s, 0), MD_FLEET_FAILED);
		ck_assert_int_eq(md_fleet_sched_slot(s, 1), MD_FLEET_SUCCEEDED);
		for (size_t i = 2; i < 6; i++)
			ck_assert_int_eq(md_fleet_sched_slot(s, i), MD_FLEET_SKIPPED);
		md_fleet_sched_free(s);
	}
}
END_TEST

START_TEST(under_stop_a_failure_starts_nothing_more_and_running_ones_finish)
{
	struct md_fleet_sched *s = sched(7, 0, 3, true, 0);
	long st[8];
	ck_assert_uint_eq(start_all(s, st, 8), 3);
	md_fleet_sched_done(s, 1, false);
	ck_assert_str_eq(md_fleet_sched_stopped_by(s), "on_error=stop");
	ck_assert_int_eq(md_fleet_sched_next(s), -1);
	ck_assert_uint_eq(md_fleet_sched_running(s), 2);
	md_fleet_sched_done(s, 0, true);
	md_fleet_sched_done(s, 2, false);
	ck_assert(md_fleet_sched_over(s));
	ck_assert_str_eq(md_fleet_sched_stopped_by(s), "on_error=stop"); /* the first reason stays */
	static const enum md_fleet_slot want[] = {MD_FLEET_SUCCEEDED, MD_FLEET_FAILED,  MD_FLEET_FAILED,
						  MD_FLEET_SKIPPED,   MD_FLEET_SKIPPED, MD_FLEET_SKIPPED,
						  MD_FLEET_SKIPPED};
	for (size_t i = 0; i < 7; i++)
		ck_assert_int_eq(md_fleet_sched_slot(s, i), want[i]);
	md_fleet_sched_free(s);
}
END_TEST

START_TEST(under_continue_every_target_runs_whatever_fails)
{
	struct md_fleet_sched *s = sched(5, 0, 2, false, 0);
	long i;
	size_t started = 0;
	while (!md_fleet_sched_over(s)) {
		while ((i = md_fleet_sched_next(s)) >= 0)
			started++;
		/* End the lowest running one; every odd target fails. */
		for (size_t k = 0; k < 5; k++)
			if (md_fleet_sched_slot(s, k) == MD_FLEET_RUNNING) {
				md_fleet_sched_done(s, k, k % 2 == 0);
				break;
			}
	}
	ck_assert_uint_eq(started, 5);
	ck_assert_ptr_null(md_fleet_sched_stopped_by(s));
	ck_assert_int_eq(md_fleet_sched_slot(s, 1), MD_FLEET_FAILED);
	ck_assert_int_eq(md_fleet_sched_slot(s, 3), MD_FLEET_FAILED);
	ck_assert_int_eq(md_fleet_sched_slot(s, 4), MD_FLEET_SUCCEEDED);
	md_fleet_sched_free(s);
}
END_TEST

START_TEST(under_continue_the_max_failures_th_failure_skips_the_rest)
{
	struct md_fleet_sched *s = sched(8, 0, 1, false, 2);
	ck_assert_int_eq(md_fleet_sched_next(s), 0);
	md_fleet_sched_done(s, 0, false);
	ck_assert_ptr_null(md_fleet_sched_stopped_by(s));
	ck_assert_int_eq(md_fleet_sched_next(s), 1);
	md_fleet_sched_done(s, 1, true);
	ck_assert_int_eq(md_fleet_sched_next(s), 2);
	md_fleet_sched_done(s, 2, false);
	ck_assert_str_eq(md_fleet_sched_stopped_by(s), "max_failures reached");
	ck_assert_int_eq(md_fleet_sched_next(s), -1);
	ck_assert(md_fleet_sched_over(s));
	for (size_t i = 3; i < 8; i++)
		ck_assert_int_eq(md_fleet_sched_slot(s, i), MD_FLEET_SKIPPED);
	md_fleet_sched_free(s);
}
END_TEST

START_TEST(cancel_starts_nothing_more_and_lets_the_running_ones_end)
{
	struct md_fleet_sched *s = sched(6, 1, 3, false, 0);
	ck_assert_int_eq(md_fleet_sched_next(s), 0);
	md_fleet_sched_done(s, 0, true);
	ck_assert_int_eq(md_fleet_sched_next(s), 1);
	ck_assert_int_eq(md_fleet_sched_next(s), 2);
	md_fleet_sched_cancel(s);
	ck_assert_str_eq(md_fleet_sched_stopped_by(s), "cancelled");
	ck_assert_int_eq(md_fleet_sched_next(s), -1);
	ck_assert(!md_fleet_sched_over(s));
	md_fleet_sched_done(s, 1, false); /* a cancelled deploy fails */
	md_fleet_sched_done(s, 2, true);
	ck_assert(md_fleet_sched_over(s));
	ck_assert_str_eq(md_fleet_sched_stopped_by(s), "cancelled");
	for (size_t i = 3; i < 6; i++)
		ck_assert_int_eq(md_fleet_sched_slot(s, i), MD_FLEET_SKIPPED);
	/* A slip of the caller changes nothing. */
	md_fleet_sched_done(s, 4, true);
	md_fleet_sched_done(s, 99, true);
	ck_assert_int_eq(md_fleet_sched_slot(s, 4), MD_FLEET_SKIPPED);
	ck_assert_uint_eq(md_fleet_sched_running(s), 0);
	md_fleet_sched_free(s);
	md_fleet_sched_free(NULL);

	/* No targets: over at once. */
	s = sched(0, 0, 4, true, 0);
	ck_assert(md_fleet_sched_over(s));
	ck_assert_int_eq(md_fleet_sched_next(s), -1);
	md_fleet_sched_free(s);
}
END_TEST

START_TEST(the_policy_check_refuses_parallel_out_of_range_and_too_many_canaries)
{
	struct md_error err = {0};
	struct md_fleet_policy p = {1, 4, true, 0};
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), 0);
	p.parallel = 0;
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), MD_E_USAGE);
	ck_assert_msg(strstr(err.message, "parallel"), "%s", err.message);
	p.parallel = MD_FLEET_PARALLEL_MAX;
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), 0);
	p.parallel = MD_FLEET_PARALLEL_MAX + 1;
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), MD_E_USAGE);
	p.parallel = 2;
	p.canary = 4;
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), MD_E_USAGE);
	ck_assert_msg(strstr(err.message, "canary 4"), "%s", err.message);
	p.canary = 3;
	ck_assert_int_eq(md_fleet_policy_check(&p, 3, &err), 0);
}
END_TEST

/* The simulation's own record of one run, checked against the rules as it goes. */
struct sim {
	size_t n, canary, parallel, max_failures;
	bool stop;
	size_t started, failed, canary_ok, max_running;
	bool stopped;
	enum md_fleet_slot seen[64];
};

static void sim_start(struct sim *m, long i)
{
	ck_assert_int_eq((size_t)i, m->started); /* index order */
	ck_assert_msg(!m->stopped, "target %ld started after the fleet stopped", i);
	if ((size_t)i >= m->canary)
		ck_assert_msg(m->canary_ok == m->canary, "target %ld started before the canaries succeeded", i);
	m->started++;
	m->seen[i] = MD_FLEET_RUNNING;
}

static void sim_end(struct sim *m, size_t i, bool ok)
{
	m->seen[i] = ok ? MD_FLEET_SUCCEEDED : MD_FLEET_FAILED;
	if (ok && i < m->canary)
		m->canary_ok++;
	if (!ok) {
		m->failed++;
		if (i < m->canary || m->stop || (m->max_failures && m->failed >= m->max_failures))
			m->stopped = true;
	}
}

START_TEST(a_randomized_simulation_never_exceeds_parallel_and_keeps_every_rule)
{
	unsigned seed = 20250615;
	for (int run = 0; run < 3000; run++) {
		struct sim m = {0};
		m.n = (size_t)rand_r(&seed) % 40;
		m.parallel = 1 + (size_t)rand_r(&seed) % 8;
		m.canary = m.n ? (size_t)rand_r(&seed) % (m.n < 5 ? m.n + 1 : 5) : 0;
		m.stop = rand_r(&seed) % 2;
		m.max_failures = (size_t)rand_r(&seed) % 4;
		int fail_pct = rand_r(&seed) % 40;
		struct md_fleet_policy p = {m.canary, m.parallel, m.stop, m.max_failures};
		ck_assert_int_eq(md_fleet_policy_check(&p, m.n, NULL), 0);
		struct md_fleet_sched *s = md_fleet_sched_new(m.n, &p);
		ck_assert_ptr_nonnull(s);
		bool cancel_at_random = run % 7 == 0;
		size_t steps = 0;
		while (!md_fleet_sched_over(s)) {
			ck_assert_uint_lt(++steps, 10000);
			long i;
			/* Start a random number of what may start (a driver may be slow to pick up). */
			int want = rand_r(&seed) % 3;
			while (want-- > 0 && (i = md_fleet_sched_next(s)) >= 0) {
				sim_start(&m, i);
				size_t r = md_fleet_sched_running(s);
				ck_assert_msg(r <= m.parallel, "%zu running, parallel %zu", r, m.parallel);
				if (r > m.max_running)
					m.max_running = r;
			}
			if (cancel_at_random && rand_r(&seed) % 10 == 0) {
				md_fleet_sched_cancel(s);
				m.stopped = true;
			}
			/* End a random running target. */
			size_t running = md_fleet_sched_running(s);
			if (running) {
				size_t pick = (size_t)rand_r(&seed) % running;
				for (size_t k = 0; k < m.n; k++)
					if (md_fleet_sched_slot(s, k) == MD_FLEET_RUNNING && pick-- == 0) {
						bool ok = rand_r(&seed) % 100 >= fail_pct;
						md_fleet_sched_done(s, k, ok);
						sim_end(&m, k, ok);
						break;
					}
			}
		}
		ck_assert_uint_le(m.max_running, m.parallel);
		for (size_t k = 0; k < m.n; k++) {
			enum md_fleet_slot got = md_fleet_sched_slot(s, k);
			enum md_fleet_slot want = m.seen[k] == MD_FLEET_WAITING ? MD_FLEET_SKIPPED : m.seen[k];
			ck_assert_msg(got == want, "run %d target %zu: %d, expected %d", run, k, got, want);
		}
		ck_assert_int_eq(md_fleet_sched_stopped_by(s) != NULL, m.stopped);
		if (!m.stopped)
			ck_assert_uint_eq(m.started, m.n);
		md_fleet_sched_free(s);
	}
}
END_TEST

Suite *suite_fleet_sched(void)
{
	Suite *s = suite_create("fleet_sched");
	TCase *tc = tcase_create("fleet_sched");
	tcase_add_test(tc, canaries_run_alone_first_and_the_rest_waits_for_all_of_them);
	tcase_add_test(tc, a_failed_canary_skips_every_waiting_target_even_under_continue);
	tcase_add_test(tc, under_stop_a_failure_starts_nothing_more_and_running_ones_finish);
	tcase_add_test(tc, under_continue_every_target_runs_whatever_fails);
	tcase_add_test(tc, under_continue_the_max_failures_th_failure_skips_the_rest);
	tcase_add_test(tc, cancel_starts_nothing_more_and_lets_the_running_ones_end);
	tcase_add_test(tc, the_policy_check_refuses_parallel_out_of_range_and_too_many_canaries);
	tcase_add_test(tc, a_randomized_simulation_never_exceeds_parallel_and_keeps_every_rule);
	suite_add_tcase(s, tc);
	return s;
}
