/* taskq.h - a bounded queue of work for background threads: what the HTTP server hands over
 * instead of blocking its own threads (a status refresh, a plan, anything that talks to the
 * database). Each task runs once; a full queue refuses new tasks instead of growing. */
#ifndef MIGRATED_TASKQ_H
#define MIGRATED_TASKQ_H

#include <stddef.h>

struct md_taskq;

/* md_taskq_start: threads workers, at most capacity queued tasks. NULL on failure. */
struct md_taskq *md_taskq_start(int threads, size_t capacity);
/* md_taskq_post: run fn(ctx) on a worker. Returns 0, or -1 when the queue is full or
 * stopping (the caller answers 503 and frees ctx itself). */
int md_taskq_post(struct md_taskq *q, void (*fn)(void *ctx), void *ctx);
/* md_taskq_stop: run what is queued, then join the workers and free the queue. */
void md_taskq_stop(struct md_taskq *q);

#endif
