/* Unit tests of the thread pool: exactly-once execution, groups, nested
 * submission into the same group, waiting from inside work items, destroy
 * with queued work, concurrent submitters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_tpool.h"

#define NTASKS 10000

static atomic_int counts[NTASKS];
static atomic_int total;
/* Failures inside worker threads are counted, never asserted there (cmocka
 * must only fail on the test's own thread). */
static atomic_int worker_errors;

static void count_task(void *arg)
{
	size_t i = (size_t)arg;
	atomic_fetch_add(&counts[i], 1);
	atomic_fetch_add(&total, 1);
}

static void reset_counts(void)
{
	for (size_t i = 0; i < NTASKS; i++)
		atomic_store(&counts[i], 0);
	atomic_store(&total, 0);
	atomic_store(&worker_errors, 0);
}

static void test_create_sizes(void **state)
{
	(void)state;
	struct fc_tpool *p = NULL;
	char err[FC_ERRMSG_LEN] = "";
	assert_true(fc_tpool_ncpus() >= 1);
	assert_int_equal(fc_tpool_create(0, &p, err), FC_OK);
	assert_true(fc_tpool_size(p) >= 1);
	/* 0 = the CPUs this process may run on */
	assert_int_equal(fc_tpool_size(p), fc_tpool_ncpus() < FC_TPOOL_MAX_THREADS
					       ? fc_tpool_ncpus()
					       : FC_TPOOL_MAX_THREADS);
	fc_tpool_destroy(p);
	assert_int_equal(fc_tpool_create(FC_TPOOL_MAX_THREADS + 1, &p, err), FC_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "tpool"));
	fc_tpool_destroy(NULL);

	/* Every allocation failure during create is reported and leaks
	 * nothing (checked by ASan/valgrind runs). */
	for (unsigned long n = 1; n <= 2; n++) {
		fc_mem_fail_nth(n);
		assert_int_equal(fc_tpool_create(2, &p, err), FC_ENOMEM);
		assert_null(p);
	}
	fc_mem_fail_nth(0);
}

static void test_all_tasks_run_once(void **state)
{
	(void)state;
	struct fc_tpool *p;
	struct fc_tpool_group g;
	reset_counts();
	assert_int_equal(fc_tpool_create(4, &p, NULL), FC_OK);
	fc_tpool_group_init(&g, p);
	for (size_t i = 0; i < NTASKS; i++)
		assert_int_equal(fc_tpool_group_submit(&g, count_task, (void *)i), FC_OK);
	fc_tpool_group_wait(&g);
	assert_int_equal(fc_tpool_group_pending(&g), 0);
	assert_int_equal(atomic_load(&total), NTASKS);
	for (size_t i = 0; i < NTASKS; i++)
		assert_int_equal(atomic_load(&counts[i]), 1);
	/* An empty group waits for nothing; a group can be reused. */
	fc_tpool_group_wait(&g);
	assert_int_equal(fc_tpool_group_submit(&g, count_task, (void *)0), FC_OK);
	fc_tpool_group_wait(&g);
	assert_int_equal(atomic_load(&counts[0]), 2);
	fc_tpool_group_destroy(&g);

	/* Allocation failure on submit leaves the group unchanged. */
	fc_mem_fail_nth(1);
	assert_int_equal(fc_tpool_group_submit(&g, count_task, (void *)1), FC_ENOMEM);
	assert_int_equal(fc_tpool_group_pending(&g), 0);
	assert_int_equal(fc_tpool_submit(p, NULL, NULL), FC_EINVAL);
	fc_tpool_destroy(p);
}

/* Two groups in flight at once only wait for their own items. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
};

static void gate_wait(void *arg)
{
	struct gate *gt = arg;
	pthread_mutex_lock(&gt->mu);
	while (!gt->open)
		pthread_cond_wait(&gt->cv, &gt->mu);
	pthread_mutex_unlock(&gt->mu);
}

static void test_groups_are_independent(void **state)
{
	(void)state;
	struct fc_tpool *p;
	struct fc_tpool_group blocked, free_g;
	struct gate gt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	reset_counts();
	assert_int_equal(fc_tpool_create(2, &p, NULL), FC_OK);
	fc_tpool_group_init(&blocked, p);
	fc_tpool_group_init(&free_g, p);
	/* One worker is stuck in the blocked group; the other group still
	 * completes (the waiter helps, the free worker runs too). */
	assert_int_equal(fc_tpool_group_submit(&blocked, gate_wait, &gt), FC_OK);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(fc_tpool_group_submit(&free_g, count_task, (void *)i), FC_OK);
	fc_tpool_group_wait(&free_g);
	assert_int_equal(atomic_load(&total), 100);
	assert_int_equal(fc_tpool_group_pending(&blocked), 1);
	pthread_mutex_lock(&gt.mu);
	gt.open = 1;
	pthread_cond_broadcast(&gt.cv);
	pthread_mutex_unlock(&gt.mu);
	fc_tpool_group_wait(&blocked);
	assert_int_equal(fc_tpool_group_pending(&blocked), 0);
	fc_tpool_destroy(p);
}

/* A binary tree of tasks: each node submits its two children into the same
 * group, like a dependency-graph scheduler releasing successors. */
struct tree {
	struct fc_tpool_group *g;
	size_t n; /* nodes 0..n-1, children of i are 2i+1 and 2i+2 */
	atomic_int *seen;
	atomic_int errors;
};

struct node {
	struct tree *t;
	size_t i;
};

static struct node nodes[NTASKS];

static void tree_task(void *arg)
{
	struct node *nd = arg;
	struct tree *t = nd->t;
	atomic_fetch_add(&t->seen[nd->i], 1);
	for (size_t c = 2 * nd->i + 1; c <= 2 * nd->i + 2 && c < t->n; c++) {
		nodes[c].t = t;
		nodes[c].i = c;
		if (fc_tpool_group_submit(t->g, tree_task, &nodes[c]) != FC_OK)
			atomic_fetch_add(&t->errors, 1);
	}
}

static void run_tree(unsigned nthreads)
{
	struct fc_tpool *p;
	struct fc_tpool_group g;
	struct tree t = {.g = &g, .n = NTASKS, .seen = counts};
	reset_counts();
	atomic_store(&t.errors, 0);
	assert_int_equal(fc_tpool_create(nthreads, &p, NULL), FC_OK);
	fc_tpool_group_init(&g, p);
	nodes[0].t = &t;
	nodes[0].i = 0;
	assert_int_equal(fc_tpool_group_submit(&g, tree_task, &nodes[0]), FC_OK);
	fc_tpool_group_wait(&g);
	assert_int_equal(atomic_load(&t.errors), 0);
	for (size_t i = 0; i < NTASKS; i++)
		assert_int_equal(atomic_load(&counts[i]), 1);
	fc_tpool_destroy(p);
}

static void test_nested_submission_same_group(void **state)
{
	(void)state;
	run_tree(1); /* a single worker that is always busy when submitting */
	run_tree(4);
}

/* Work items that wait on a group of their own children: with one thread
 * this only completes because the waiter helps. */
struct outer {
	struct fc_tpool *pool;
	size_t base;
};

static void outer_task(void *arg)
{
	struct outer *o = arg;
	struct fc_tpool_group inner;
	fc_tpool_group_init(&inner, o->pool);
	for (size_t i = 0; i < 10; i++)
		if (fc_tpool_group_submit(&inner, count_task, (void *)(o->base + i)) != FC_OK)
			atomic_fetch_add(&worker_errors, 1);
	fc_tpool_group_wait(&inner);
	fc_tpool_group_destroy(&inner);
}

static void test_wait_inside_work_item(void **state)
{
	(void)state;
	for (unsigned nt = 1; nt <= 3; nt += 2) {
		struct fc_tpool *p;
		struct fc_tpool_group g;
		struct outer o[20];
		reset_counts();
		assert_int_equal(fc_tpool_create(nt, &p, NULL), FC_OK);
		fc_tpool_group_init(&g, p);
		for (size_t k = 0; k < 20; k++) {
			o[k].pool = p;
			o[k].base = k * 10;
			assert_int_equal(fc_tpool_group_submit(&g, outer_task, &o[k]), FC_OK);
		}
		fc_tpool_group_wait(&g);
		assert_int_equal(atomic_load(&worker_errors), 0);
		assert_int_equal(atomic_load(&total), 200);
		for (size_t i = 0; i < 200; i++)
			assert_int_equal(atomic_load(&counts[i]), 1);
		fc_tpool_destroy(p);
	}
}

/* Destroy runs everything queued, including follow-ups submitted by running
 * items, and refuses submissions from outside afterwards. */
static struct fc_tpool *chain_pool;
static atomic_int chain_left;

static void chain_task(void *arg)
{
	(void)arg;
	atomic_fetch_add(&total, 1);
	if (atomic_fetch_sub(&chain_left, 1) > 1 &&
	    fc_tpool_submit(chain_pool, chain_task, NULL) != FC_OK)
		atomic_fetch_add(&worker_errors, 1);
}

static void test_destroy_with_queued_work(void **state)
{
	(void)state;
	reset_counts();
	assert_int_equal(fc_tpool_create(2, &chain_pool, NULL), FC_OK);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(fc_tpool_submit(chain_pool, count_task, (void *)i), FC_OK);
	atomic_store(&chain_left, 500);
	assert_int_equal(fc_tpool_submit(chain_pool, chain_task, NULL), FC_OK);
	fc_tpool_destroy(chain_pool);
	chain_pool = NULL;
	assert_int_equal(atomic_load(&worker_errors), 0);
	assert_int_equal(atomic_load(&total), 1500);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(atomic_load(&counts[i]), 1);
}

/* Several threads submit into one shared group and into their own groups. */
struct submitter {
	struct fc_tpool *pool;
	struct fc_tpool_group *shared;
	size_t base, n;
	int rc;
};

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;
	struct fc_tpool_group own;
	fc_tpool_group_init(&own, s->pool);
	for (size_t i = 0; i < s->n && !s->rc; i++) {
		struct fc_tpool_group *g = (i & 1) ? &own : s->shared;
		s->rc = fc_tpool_group_submit(g, count_task, (void *)(s->base + i));
	}
	fc_tpool_group_wait(&own);
	fc_tpool_group_destroy(&own);
	return NULL;
}

static void test_many_submitters(void **state)
{
	(void)state;
	enum { NSUB = 8 };
	struct fc_tpool *p;
	struct fc_tpool_group shared;
	struct submitter s[NSUB];
	pthread_t th[NSUB];
	reset_counts();
	assert_int_equal(fc_tpool_create(3, &p, NULL), FC_OK);
	fc_tpool_group_init(&shared, p);
	for (int k = 0; k < NSUB; k++) {
		s[k] =
		    (struct submitter){p, &shared, (size_t)k * (NTASKS / NSUB), NTASKS / NSUB, 0};
		assert_int_equal(pthread_create(&th[k], NULL, submitter_main, &s[k]), 0);
	}
	for (int k = 0; k < NSUB; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(s[k].rc, FC_OK);
	}
	fc_tpool_group_wait(&shared);
	assert_int_equal(atomic_load(&total), NTASKS);
	for (size_t i = 0; i < NTASKS; i++)
		assert_int_equal(atomic_load(&counts[i]), 1);
	fc_tpool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_sizes),
	    cmocka_unit_test(test_all_tasks_run_once),
	    cmocka_unit_test(test_groups_are_independent),
	    cmocka_unit_test(test_nested_submission_same_group),
	    cmocka_unit_test(test_wait_inside_work_item),
	    cmocka_unit_test(test_destroy_with_queued_work),
	    cmocka_unit_test(test_many_submitters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
