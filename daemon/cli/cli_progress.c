/* cli_progress.c - what `migrated deploy` shows while it runs. On a terminal: one live line,
 * redrawn every 200 ms by a small thread (the deploy itself blocks in libpq), with n/N, the
 * current migration (and statement k/n when it runs statement by statement), the time it has
 * taken and an estimate of what is left from past durations; each finished migration leaves
 * its plain line above it. Elsewhere (a pipe, a log, --no-progress, TERM=dumb): the plain lines
 * of md_report_deploy_event_text only. Not for the report after the deploy (render/report.c). */
#include "cli_internal.h"
#include "migrated/apply.h"
#include "migrated/clock.h"
#include "migrated/error.h"
#include "migrated/history.h"
#include "migrated/report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TICK_MS 200

struct cli_progress {
	FILE *out;
	bool live;
	pthread_t ticker;
	bool ticker_started;
	pthread_mutex_t lock; /* guards everything below, and the terminal line */
	pthread_cond_t wake;
	bool stop;
	bool drawn;        /* a live line is on the terminal now */
	char current[256]; /* the running migration, "" between migrations */
	enum md_apply_mode mode;
	char mode_reason[256];
	const char *phase;   /* "waiting for the migration lock", ... when no migration runs */
	size_t index, total; /* 1-based */
	size_t statement, statements;
	double started_ms, current_ms; /* monotonic: the deploy's start, the current migration's */
	double done_ms;                /* durations of the migrations finished in this run */
	size_t done;
	double past_avg_ms; /* a migration's mean duration in the history, or -1 */
};

static int term_width(FILE *out)
{
	struct winsize ws;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* Called with the lock held: redraws the live line, cut to the terminal's width. */
static void draw(struct cli_progress *p)
{
	char line[512], total[32], eta[48] = "";
	double now = md_clock_mono_ms();
	int n;

	md_report_duration(now - p->started_ms, total, sizeof total);
	if (p->current[0]) {
		char took[32];
		double per = p->done ? p->done_ms / (double)p->done : p->past_avg_ms;
		md_report_duration(now - p->current_ms, took, sizeof took);
		if (per >= 0 && p->total >= p->index) {
			/* the ones after this at the mean, and what this one has left of it (none when it
			 * already ran longer than that) */
			double took_ms = now - p->current_ms, left = per * (double)(p->total - p->index);
			char d[32];
			left += took_ms < per ? per - took_ms : 0;
			md_report_duration(left, d, sizeof d);
			snprintf(eta, sizeof eta, ", about %s left", d);
		}
		n = snprintf(line, sizeof line, "[%zu/%zu] %s", p->index, p->total, p->current);
		if (p->mode != MD_MODE_TRANSACTION && p->statements > 1)
			n += snprintf(line + n, sizeof line - (size_t)n, " (statement %zu/%zu)", p->statement + 1,
				      p->statements);
		snprintf(line + n, sizeof line - (size_t)n, "  %s, %s in all%s", took, total, eta);
	} else {
		snprintf(line, sizeof line, "[%zu/%zu] %s  %s in all", p->done, p->total, p->phase ? p->phase : "",
			 total);
	}
	int w = term_width(p->out) - 1;
	fprintf(p->out, "\r\033[K%.*s", w, line);
	fflush(p->out);
	p->drawn = true;
}

static void erase(struct cli_progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", p->out);
		p->drawn = false;
	}
}

static void *tick(void *arg)
{
	struct cli_progress *p = arg;
	struct timespec until;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		md_clock_deadline(CLOCK_MONOTONIC, TICK_MS, &until);
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
		if (!p->stop && (p->current[0] || p->phase))
			draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* The mean duration of the migrations the history records as applied, -1 when there is none. */
static double past_average(struct md_db *db)
{
	struct md_history *h = NULL;
	struct md_error err = {0};
	double sum = 0;
	size_t n = 0;
	if (!db || md_history_load(db, &h, &err) < 0)
		return -1;
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].finished_at && !h->rows[i].rolled_back_at && h->rows[i].duration_ms >= 0) {
			sum += h->rows[i].duration_ms;
			n++;
		}
	md_history_free(h);
	return n ? sum / (double)n : -1;
}

struct cli_progress *cli_progress_new(FILE *out, bool live, struct md_db *db)
{
	struct cli_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->out = out;
	p->live = live;
	p->started_ms = md_clock_mono_ms();
	p->past_avg_ms = live ? past_average(db) : -1;
	pthread_mutex_init(&p->lock, NULL);
	if (md_clock_cond_init(&p->wake) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	if (live && pthread_create(&p->ticker, NULL, tick, p) == 0)
		p->ticker_started = true;
	else
		p->live = false; /* no thread: the plain lines still say everything */
	return p;
}

/* The live line's part of an event (the lock held): what it shows next, and the plain lines
 * that stay on the terminal above it. */
static void live_event(struct cli_progress *p, const struct md_apply_event *ev)
{
	struct md_apply_event start = {.kind = MD_EV_MIGRATION_START};
	switch (ev->kind) {
	case MD_EV_PREFLIGHT_DONE: /* no line yet: the data preflight may print its findings next */
		p->total = ev->total;
		break;
	case MD_EV_LOCKING: p->phase = "taking the migration lock"; break;
	case MD_EV_LOCKED: p->phase = "locked"; break;
	case MD_EV_MIGRATION_START:
		snprintf(p->current, sizeof p->current, "%s", ev->migration ? ev->migration : "");
		snprintf(p->mode_reason, sizeof p->mode_reason, "%s", ev->mode_reason ? ev->mode_reason : "");
		p->mode = ev->mode;
		p->index = ev->index;
		p->total = ev->total;
		p->statement = 0;
		p->statements = ev->statements;
		p->current_ms = md_clock_mono_ms();
		break;
	case MD_EV_STATEMENT:
		p->statement = ev->statement;
		p->statements = ev->statements;
		break;
	case MD_EV_MIGRATION_DONE:
	case MD_EV_MIGRATION_FAILED:
		erase(p);
		start.migration = p->current;
		start.index = p->index;
		start.total = p->total;
		start.mode = p->mode;
		start.mode_reason = p->mode_reason;
		md_report_deploy_event_text(p->out, &start);
		md_report_deploy_event_text(p->out, ev);
		if (ev->kind == MD_EV_MIGRATION_DONE) {
			p->done_ms += ev->duration_ms;
			p->done++;
		}
		p->current[0] = '\0';
		p->phase = ev->kind == MD_EV_MIGRATION_DONE ? "applied" : NULL;
		break;
	case MD_EV_RETRY:
		erase(p);
		fprintf(p->out, "      %s\n", ev->message ? ev->message : "retrying");
		break;
	case MD_EV_LOCK_WAIT:
		erase(p);
		md_report_deploy_event_text(p->out, ev);
		p->phase = "waiting for the migration lock";
		break;
	case MD_EV_RECOVERED:
		erase(p);
		md_report_deploy_event_text(p->out, ev);
		break;
	}
	if (p->current[0] || p->phase)
		draw(p);
}

void cli_progress_event(struct cli_progress *p, const struct md_apply_event *ev)
{
	if (!p || !p->live) {
		md_report_deploy_event_text(p ? p->out : stdout, ev);
		return;
	}
	pthread_mutex_lock(&p->lock);
	live_event(p, ev);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_free(struct cli_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (p->ticker_started)
		pthread_join(p->ticker, NULL);
	erase(p);
	fflush(p->out);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
