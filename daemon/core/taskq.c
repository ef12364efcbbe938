/* taskq.c - fixed-size ring of tasks served by a few threads (see taskq.h). */
#include "migrated/taskq.h"
#include "migrated/clock.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

struct task {
	void (*fn)(void *ctx);
	void *ctx;
};

struct md_taskq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task *ring;
	size_t cap, head, count;
	bool stopping;
	pthread_t *threads;
	int n_threads;
};

static void *worker(void *arg)
{
	struct md_taskq *q = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct task t;
		pthread_mutex_lock(&q->lock);
		while (q->count == 0 && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->count == 0) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		t = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		pthread_mutex_unlock(&q->lock);
		t.fn(t.ctx);
	}
}

struct md_taskq *md_taskq_start(int threads, size_t capacity)
{
	struct md_taskq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->cap = capacity ? capacity : 1;
	q->ring = calloc(q->cap, sizeof *q->ring);
	q->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof *q->threads);
	if (!q->ring || !q->threads) {
		free(q->ring);
		free(q->threads);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	md_clock_cond_init(&q->cond);
	for (int i = 0; i < (threads > 0 ? threads : 1); i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&q->threads[i], &attr, worker, q) == 0)
			q->n_threads++;
		pthread_attr_destroy(&attr);
	}
	if (q->n_threads == 0) {
		md_taskq_stop(q);
		return NULL;
	}
	return q;
}

int md_taskq_post(struct md_taskq *q, void (*fn)(void *ctx), void *ctx)
{
	int r = 0;
	pthread_mutex_lock(&q->lock);
	if (q->stopping || q->count == q->cap) {
		r = -1;
	} else {
		q->ring[(q->head + q->count) % q->cap] = (struct task){fn, ctx};
		q->count++;
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void md_taskq_stop(struct md_taskq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q->threads);
	free(q);
}
