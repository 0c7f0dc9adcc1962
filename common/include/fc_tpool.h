/* fc_tpool.h - fixed-size thread pool with completion groups.
 *
 * Used for validation (V1 signature checks on all cores, V2 over the
 * dependency graph). Work items are (fn, arg) pairs run once each on one of
 * the pool's threads, in FIFO order of submission (start order only).
 *
 * Thread safety: fc_tpool_submit, fc_tpool_group_submit and
 * fc_tpool_group_wait may be called from any thread, including from inside a
 * work item, concurrently. Submission never blocks on a full queue (the
 * queue is unbounded; each item costs one small allocation), so a work item
 * may submit follow-up work (e.g. release its successors in a dependency
 * graph) even when every worker is busy.
 *
 * Groups let a caller submit a batch and wait for all of it:
 *
 *     struct fc_tpool_group g;
 *     fc_tpool_group_init(&g, pool);
 *     for (i = 0; i < n; i++)
 *             fc_tpool_group_submit(&g, check_tx, &txs[i]);
 *     fc_tpool_group_wait(&g);     // all n done, and all work they added to g
 *     fc_tpool_group_destroy(&g);
 *
 * A group's count covers items submitted to it while it is non-empty, so
 * items of a group may submit more items to the same group and wait()
 * returns only when the whole transitive batch has run. The waiting thread
 * helps: while its group is not done it runs queued items of that group
 * itself, so waiting from inside a work item (on another group) cannot
 * deadlock even with one thread. A work item must not wait on its own
 * group (it would wait for itself).
 */
#ifndef FC_TPOOL_H
#define FC_TPOOL_H

#include <stddef.h>

#define FC_TPOOL_MAX_THREADS 1024u

struct fc_tpool;

typedef void (*fc_tpool_fn)(void *arg);

/* Caller-allocated (stack or embedded); fields are private. A group belongs
 * to one pool; it must outlive fc_tpool_group_wait. */
struct fc_tpool_group {
	struct fc_tpool *pool;
	size_t pending;	  /* submitted, not finished; under the pool lock */
	size_t submitted; /* total ever submitted (statistics) */
	unsigned waiters; /* threads inside fc_tpool_group_wait */
};

/* CPUs this process may run on (its affinity mask, as taskset or a cpuset
 * restricts it), else the online cores; at least 1. */
unsigned fc_tpool_ncpus(void);

/* Starts nthreads workers (0 = fc_tpool_ncpus(); at most
 * FC_TPOOL_MAX_THREADS). On success *out is a new pool owned by the caller,
 * to be released with fc_tpool_destroy. */
int fc_tpool_create(unsigned nthreads, struct fc_tpool **out, char *errmsg);

/* Number of worker threads. */
unsigned fc_tpool_size(const struct fc_tpool *pool);

/* Queues fn(arg) with no group. arg is borrowed: it must stay valid until fn
 * has run. FC_OK, FC_ENOMEM, FC_ESTATE (pool is being destroyed and no work
 * item is running, i.e. the submitter is outside the pool). */
int fc_tpool_submit(struct fc_tpool *pool, fc_tpool_fn fn, void *arg);

/* Initialises an empty group on pool. Never fails. */
void fc_tpool_group_init(struct fc_tpool_group *g, struct fc_tpool *pool);

/* Queues fn(arg) as a member of g. Same errors as fc_tpool_submit; on error
 * g is unchanged. */
int fc_tpool_group_submit(struct fc_tpool_group *g, fc_tpool_fn fn, void *arg);

/* Blocks until every item submitted to g (including items those items
 * submitted to g) has finished, running queued items of g on the calling
 * thread meanwhile. Returns at once if g is empty. The group can be reused
 * afterwards. */
void fc_tpool_group_wait(struct fc_tpool_group *g);

/* Number of items of g not yet finished (a snapshot). */
size_t fc_tpool_group_pending(struct fc_tpool_group *g);

/* Releases nothing today; call it when done (g must be empty). */
void fc_tpool_group_destroy(struct fc_tpool_group *g);

/* Finishes every queued item (including items submitted by running items
 * meanwhile), then joins and frees the workers. Must not be called from a
 * work item. NULL is a no-op. */
void fc_tpool_destroy(struct fc_tpool *pool);

#endif
