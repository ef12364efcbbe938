/* plan.c - per-migration state from catalog x history (see plan.h). Rows are grouped by name
 * with one sort, so 10,000 migrations cost O(n log n), not O(n^2). */
#include "migrated/plan.h"
#include "migrated/catalog.h"
#include "migrated/checksum.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/macro.h"

#include <stdlib.h>
#include <string.h>

const char *md_mig_state_name(enum md_mig_state s)
{
	static const char *const names[] = {"applied",  "pending", "failed", "rolled_back",
					    "modified", "missing", "running"};
	return s < MD_MIG__COUNT ? names[s] : "unknown";
}

bool md_plan_item_to_apply(const struct md_plan_item *it)
{
	return it->mig && (it->state == MD_MIG_PENDING || it->state == MD_MIG_ROLLED_BACK);
}

bool md_plan_up_to_date(const struct md_plan *plan)
{
	return plan->count[MD_MIG_APPLIED] == plan->n;
}

/* Row indices sorted by name, then by started_at order (their index). */
static int row_cmp(const void *a, const void *b, void *arg)
{
	const struct md_history *h = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	int r = strcmp(h->rows[ia].migration_name, h->rows[ib].migration_name);
	if (r)
		return r;
	return ia < ib ? -1 : ia > ib;
}

/* Range [*lo, *hi) of `idx` holding rows named name. */
static void find_rows(const struct md_history *h, const size_t *idx, const char *name, size_t *lo, size_t *hi)
{
	size_t a = 0, b = h->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (strcmp(h->rows[idx[m]].migration_name, name) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	while (a < h->n && strcmp(h->rows[idx[a]].migration_name, name) == 0)
		a++;
	*hi = a;
}

/* State of a name from its rows (in started_at order). */
static void decide(struct md_plan_item *it, const struct md_history *h, const size_t *idx, size_t lo, size_t hi)
{
	const struct md_history_row *failed = NULL, *applied = NULL, *last = NULL;

	it->n_rows = hi - lo;
	for (size_t k = lo; k < hi; k++) {
		const struct md_history_row *r = &h->rows[idx[k]];
		last = r;
		if (r->rolled_back_at)
			continue;
		if (r->finished_at)
			applied = r;
		else
			failed = r;
	}
	if (failed) {
		it->state = MD_MIG_FAILED;
		it->row = failed;
		it->writer = md_history_row_writer(failed->id);
		it->interrupted = failed->logs == NULL;
		/* Running, not failed: the newest row of all (a deployer inserts its row, then runs it;
		 * nothing is started after a failure until it is resolved), with a lock holder that
		 * connected before the row started, so the row is that session's work. */
		if (h->holder.found && failed == &h->rows[h->n - 1] &&
		    h->holder.since_us <= failed->started_us + MD_RUNNING_CLOCK_SKEW_US) {
			it->state = MD_MIG_RUNNING;
			it->holder = &h->holder;
		}
	} else if (applied) {
		it->row = applied;
		it->state = MD_MIG_APPLIED;
		if (it->mig && it->mig->has_sql &&
		    !md_checksum_matches(it->mig->sql, it->mig->sql_len, it->mig->checksum, applied->checksum))
			it->state = MD_MIG_MODIFIED;
	} else if (last) {
		it->state = MD_MIG_ROLLED_BACK;
		it->row = last;
	} else {
		it->state = MD_MIG_PENDING;
	}
}

int md_plan_build(const struct md_catalog *cat, const struct md_history *hist, struct md_plan **ret,
		  struct md_error *err)
{
	struct md_plan *p;
	_cleanup_free_ size_t *idx = NULL;
	_cleanup_free_ unsigned char *seen = NULL;
	size_t nh = hist ? hist->n : 0, cap;

	p = calloc(1, sizeof *p);
	cap = cat->n + nh;
	if (!p || !(p->items = calloc(cap ? cap : 1, sizeof *p->items)) ||
	    !(idx = malloc((nh ? nh : 1) * sizeof *idx)) || !(seen = calloc(nh ? nh : 1, 1))) {
		md_plan_free(p);
		return md_error_set(err, MD_E_NOMEM, "out of memory building the plan");
	}
	p->history_exists = hist && hist->exists;
	p->n_catalog = cat->n;
	for (size_t i = 0; i < nh; i++)
		idx[i] = i;
	if (nh)
		qsort_r(idx, nh, sizeof *idx, row_cmp, (void *)hist);
	for (size_t i = 0; i < cat->n; i++) {
		struct md_plan_item *it = &p->items[p->n++];
		size_t lo = 0, hi = 0;
		it->name = cat->items[i].name;
		it->mig = &cat->items[i];
		it->sql_missing = !cat->items[i].has_sql;
		if (nh)
			find_rows(hist, idx, it->name, &lo, &hi);
		for (size_t k = lo; k < hi; k++)
			seen[idx[k]] = 1;
		decide(it, hist, idx, lo, hi);
	}
	/* Rows whose folder is gone, in started_at order, once per name. */
	for (size_t i = 0; i < nh; i++) {
		size_t lo, hi;
		struct md_plan_item tmp = {0};
		if (seen[i])
			continue;
		find_rows(hist, idx, hist->rows[i].migration_name, &lo, &hi);
		for (size_t k = lo; k < hi; k++)
			seen[idx[k]] = 1;
		tmp.name = hist->rows[i].migration_name;
		decide(&tmp, hist, idx, lo, hi);
		if (tmp.state == MD_MIG_ROLLED_BACK)
			continue; /* only rolled-back rows: history, nothing to report */
		if (tmp.state == MD_MIG_APPLIED)
			tmp.state = MD_MIG_MISSING;
		p->items[p->n++] = tmp;
	}
	for (size_t i = 0; i < p->n; i++)
		p->count[p->items[i].state]++;
	*ret = p;
	return 0;
}

void md_plan_free(struct md_plan *plan)
{
	if (!plan)
		return;
	free(plan->items);
	free(plan);
}
