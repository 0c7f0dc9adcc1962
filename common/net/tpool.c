/* Thread pool: one mutex, one FIFO of heap items, two condition variables.
 *
 * Why one lock: validation items are tens of microseconds or more (ECDSA
 * verify, MVCC lookups), so the lock is cold; one lock makes group counting,
 * helping waiters and the drain-on-destroy rule easy to get right.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "fc_tpool.h"

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct item {
	struct item *next;
	fc_tpool_fn fn;
	void *arg;
	struct fc_tpool_group *group; /* may be NULL */
};

struct fc_tpool {
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* queue became non-empty, or drain finished */
	pthread_cond_t done_cv; /* a group emptied, or got work while waited on */
	struct item *head, *tail;
	size_t nrunning; /* items being run, by workers or helping waiters */
	int stopping;
	unsigned nthreads;
	pthread_t *threads;
};

/* Under pool->mu. */
static void enqueue(struct fc_tpool *pool, struct item *it)
{
	it->next = NULL;
	if (pool->tail)
		pool->tail->next = it;
	else
		pool->head = it;
	pool->tail = it;
}

/* Under pool->mu: first queued item of g (any item if g is NULL), unlinked. */
static struct item *dequeue(struct fc_tpool *pool, const struct fc_tpool_group *g)
{
	struct item *prev = NULL, *it = pool->head;
	while (it && g && it->group != g) {
		prev = it;
		it = it->next;
	}
	if (!it)
		return NULL;
	if (prev)
		prev->next = it->next;
	else
		pool->head = it->next;
	if (pool->tail == it)
		pool->tail = prev;
	return it;
}

/* Runs it with pool->mu held on entry and on return. */
static void run_item(struct fc_tpool *pool, struct item *it)
{
	struct fc_tpool_group *g = it->group;
	fc_tpool_fn fn = it->fn;
	void *arg = it->arg;

	pool->nrunning++;
	pthread_mutex_unlock(&pool->mu);
	fc_free(it);
	fn(arg);
	pthread_mutex_lock(&pool->mu);
	pool->nrunning--;
	/* Touch g only under the lock: once pending reads 0 its waiter may
	 * return and the group's storage may vanish. */
	if (g && --g->pending == 0 && g->waiters)
		pthread_cond_broadcast(&pool->done_cv);
	if (pool->stopping && pool->nrunning == 0 && !pool->head)
		pthread_cond_broadcast(&pool->work_cv);
}

static void *worker_main(void *p)
{
	struct fc_tpool *pool = p;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		while (!pool->head && !(pool->stopping && pool->nrunning == 0))
			pthread_cond_wait(&pool->work_cv, &pool->mu);
		struct item *it = dequeue(pool, NULL);
		if (!it)
			break; /* stopping, queue drained and nothing can add more */
		run_item(pool, it);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

static int submit(struct fc_tpool *pool, struct fc_tpool_group *g, fc_tpool_fn fn, void *arg)
{
	if (!pool || !fn)
		return FC_EINVAL;
	struct item *it = fc_malloc(sizeof *it);
	if (!it)
		return FC_ENOMEM;
	it->fn = fn;
	it->arg = arg;
	it->group = g;

	pthread_mutex_lock(&pool->mu);
	/* While destroying, only work items (nrunning > 0) may still add work:
	 * a drained pool with exiting workers would never run it. */
	if (pool->stopping && pool->nrunning == 0) {
		pthread_mutex_unlock(&pool->mu);
		fc_free(it);
		return FC_ESTATE;
	}
	enqueue(pool, it);
	if (g) {
		g->pending++;
		g->submitted++;
		/* A waiter sleeping on g may help with this item. */
		if (g->waiters)
			pthread_cond_broadcast(&pool->done_cv);
	}
	pthread_cond_signal(&pool->work_cv);
	pthread_mutex_unlock(&pool->mu);
	return FC_OK;
}

int fc_tpool_submit(struct fc_tpool *pool, fc_tpool_fn fn, void *arg)
{
	return submit(pool, NULL, fn, arg);
}

void fc_tpool_group_init(struct fc_tpool_group *g, struct fc_tpool *pool)
{
	memset(g, 0, sizeof *g);
	g->pool = pool;
}

int fc_tpool_group_submit(struct fc_tpool_group *g, fc_tpool_fn fn, void *arg)
{
	if (!g)
		return FC_EINVAL;
	return submit(g->pool, g, fn, arg);
}

void fc_tpool_group_wait(struct fc_tpool_group *g)
{
	struct fc_tpool *pool = g->pool;

	pthread_mutex_lock(&pool->mu);
	g->waiters++;
	while (g->pending > 0) {
		struct item *it = dequeue(pool, g);
		if (it)
			run_item(pool, it);
		else
			pthread_cond_wait(&pool->done_cv, &pool->mu);
	}
	g->waiters--;
	pthread_mutex_unlock(&pool->mu);
}

size_t fc_tpool_group_pending(struct fc_tpool_group *g)
{
	pthread_mutex_lock(&g->pool->mu);
	size_t n = g->pending;
	pthread_mutex_unlock(&g->pool->mu);
	return n;
}

void fc_tpool_group_destroy(struct fc_tpool_group *g)
{
	(void)g;
}

unsigned fc_tpool_size(const struct fc_tpool *pool)
{
	return pool->nthreads;
}

unsigned fc_tpool_ncpus(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int fc_tpool_create(unsigned nthreads, struct fc_tpool **out, char *errmsg)
{
	int rc = FC_OK;
	struct fc_tpool *pool = NULL;
	unsigned started = 0;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "tpool: create: NULL out");
	*out = NULL;
	if (nthreads == 0) {
		nthreads = fc_tpool_ncpus();
		if (nthreads > FC_TPOOL_MAX_THREADS)
			nthreads = FC_TPOOL_MAX_THREADS;
	}
	if (nthreads > FC_TPOOL_MAX_THREADS) {
		rc = fc_errf(errmsg, FC_EINVAL, "tpool: create: %u threads, at most %u", nthreads,
			     FC_TPOOL_MAX_THREADS);
		goto out;
	}
	pool = fc_calloc(1, sizeof *pool);
	if (!pool) {
		rc = fc_errf(errmsg, FC_ENOMEM, "tpool: create: out of memory");
		goto out;
	}
	pool->threads = fc_calloc(nthreads, sizeof *pool->threads);
	if (!pool->threads) {
		rc = fc_errf(errmsg, FC_ENOMEM, "tpool: create: out of memory");
		goto free_pool;
	}
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->work_cv, NULL);
	pthread_cond_init(&pool->done_cv, NULL);
	for (; started < nthreads; started++) {
		int e = pthread_create(&pool->threads[started], NULL, worker_main, pool);
		if (e) {
			rc = fc_errf(errmsg, fc_err_from_errno(e), "tpool: create: thread %u: %s",
				     started, strerror(e));
			goto stop_threads;
		}
	}
	pool->nthreads = nthreads;
	*out = pool;
	fc_log(FC_LOG_DEBUG, "tpool", "started", "threads=%u", nthreads);
	goto out;

stop_threads:
	pthread_mutex_lock(&pool->mu);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->work_cv);
	pthread_mutex_unlock(&pool->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->done_cv);
	pthread_cond_destroy(&pool->work_cv);
	pthread_mutex_destroy(&pool->mu);
	fc_free(pool->threads);
free_pool:
	fc_free(pool);
out:
	return rc;
}

void fc_tpool_destroy(struct fc_tpool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->mu);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->work_cv);
	pthread_mutex_unlock(&pool->mu);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	/* Workers leave only with an empty queue and nothing running. */
	pthread_cond_destroy(&pool->done_cv);
	pthread_cond_destroy(&pool->work_cv);
	pthread_mutex_destroy(&pool->mu);
	fc_free(pool->threads);
	fc_free(pool);
}
