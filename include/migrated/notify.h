/* notify.h - telling people what the daemon did: every event (a job queued, started, ended; a
 * deploy refused by the lint gate; a backup; drift; health) goes to the configured endpoints:
 * HTTP(S) webhooks signed the Standard Webhooks way (or Slack messages), and programs fed the
 * event's JSON on stdin. Delivery is at least once and in order per endpoint: each delivery is
 * an outbox record in STATE_DIR/notify.jsonl (a journal of its own, journal.h) before it is
 * attempted, and each attempt's outcome is journaled, so a daemon killed with SIGKILL sends
 * what was pending after it starts again, with the same webhook-id. Attempts run on threads
 * of their own (as many as endpoints, one attempt per endpoint at a time): emitting an event costs a journal append,
 * never a network round trip. Secrets
 * are used to sign and nowhere else: the journal, the API and the metrics name the endpoint,
 * never its key. Not here: where events are born (jobs_events.c, serve.c) and HTTP routes. */
#ifndef MIGRATED_NOTIFY_H
#define MIGRATED_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct md_config;
struct md_error;
struct md_notify;

#define MD_NOTIFY_MAX_ENDPOINTS 32    /* notify_url and notify_command names together */
#define MD_NOTIFY_MAX_PENDING   10000 /* deliveries waiting; past it the oldest is given up */
#define MD_NOTIFY_KEEP_FINISHED 200   /* finished deliveries kept for GET /v1/notifications */

/* md_notify_open: the endpoints of cfg (MD_E_CONFIG for a bad notify_* line, naming it), the
 * outbox in cfg->state_dir replayed (pending deliveries are retried at once, with their ids),
 * and the delivery threads started. With no endpoint configured it still opens (a reload may add
 * some). Free with md_notify_close. */
int md_notify_open(const struct md_config *cfg, struct md_notify **ret, struct md_error *err);
/* md_notify_reconfigure: the endpoints and timings of cfg from now on (SIGHUP). Deliveries
 * pending for an endpoint that is gone are given up; an endpoint disabled by a 410 is enabled
 * again. On error (MD_E_CONFIG) nothing changes. */
int md_notify_reconfigure(struct md_notify *n, const struct md_config *cfg, struct md_error *err);

/* md_notify_emit: one event of type ("job.failed", "deploy.preflight_blocked", any name) with
 * data (a JSON object, borrowed; the daemon's host and the database's host and name are added)
 * to every enabled endpoint whose notify_events takes it. The outbox records are synced before
 * it returns; the sending happens later on the delivery thread. Thread-safe; n may be NULL (no
 * notifier: nothing happens). Returns the number of deliveries queued, or MD_E_IO (the outbox
 * cannot be written: logged) / MD_E_NOMEM. */
int md_notify_emit(struct md_notify *n, const char *type, json_t *data);
/* md_notify_event_hook: md_notify_emit with the signature of a plain callback (ctx is the
 * struct md_notify), for layers below that must not include this header (md_jobs_on_event). */
void md_notify_event_hook(void *ctx, const char *type, json_t *data);

/* md_notify_catch_up: after a restart, the end event of the newest job (type "job.failed",
 * job its JSON, borrowed) when the outbox has deliveries of that job's earlier events but none
 * of this one: the daemon was killed between the job's end record (jobs journal) and its outbox
 * record. Returns what md_notify_emit returns, 0 when nothing was missing. */
int md_notify_catch_up(struct md_notify *n, const char *type, json_t *job);

/* md_notify_list: {"deliveries": [...]} newest first, at most limit: each {"id" (the
 * webhook-id), "endpoint", "event", "state" (pending|delivered|failed|gave_up), "attempts",
 * "last_status", "last_error", "next_attempt_at", "created_at", "delivered_at"}. NULL when out
 * of memory. */
json_t *md_notify_list(struct md_notify *n, size_t limit);
/* md_notify_test: send a "test" event to every endpoint now, once each, outside the outbox
 * (blocks up to notify_timeout per endpoint: call it off the HTTP threads). Returns
 * {"results": [{"endpoint", "id", "ok", "status", "error", "duration_ms"}]}, NULL when out of
 * memory. */
json_t *md_notify_test(struct md_notify *n);
/* md_notify_metrics_write: deliveries by endpoint and outcome, pending count, oldest pending
 * age, in the Prometheus text format. */
void md_notify_metrics_write(struct md_notify *n, FILE *out);
/* md_notify_close: stop the delivery threads (an attempt under way is cut short and made
 * again after the next start) and free everything. Pending deliveries stay in the outbox. NULL is fine. */
void md_notify_close(struct md_notify *n);

/* md_notify_send_now: for the command line (`migrated deploy`): the event to every endpoint
 * of cfg at once, one attempt each with at most timeout_ms, no outbox. Returns how many were
 * delivered, or MD_E_CONFIG for bad notify_* lines; each failure is logged as a warning. */
int md_notify_send_now(const struct md_config *cfg, const char *type, json_t *data, int timeout_ms,
		       struct md_error *err);

#endif
