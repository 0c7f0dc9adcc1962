/* Unit tests of the benchmark's ml workload (bench/driver/bench_core.h):
 * parameter bounds as the ml contract enforces them, the setup operations
 * covering every point exactly once in load_points chunks, and the measured
 * kmeans operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_core.h"

static void test_ml_bounds(void **state)
{
	struct bench_ml w;

	(void)state;
	assert_int_equal(bench_ml_init(&w, 256, 8, 8, 100), 0);
	assert_string_equal(w.prefix, "ml.d8.");
	assert_int_equal(bench_ml_init(&w, 0, 8, 8, 100), -1);
	assert_int_equal(bench_ml_init(&w, 100001, 8, 8, 100), -1);
	assert_int_equal(bench_ml_init(&w, 256, 0, 8, 100), -1);
	assert_int_equal(bench_ml_init(&w, 256, 65, 8, 100), -1);
	assert_int_equal(bench_ml_init(&w, 256, 8, 65, 100), -1);
	assert_int_equal(bench_ml_init(&w, 4, 8, 5, 100), -1); /* k over points */
	assert_int_equal(bench_ml_init(&w, 256, 8, 8, 1001), -1);
	/* the contract's work bound: points*k*iters*dim <= 10^9 */
	assert_int_equal(bench_ml_init(&w, 100000, 10, 10, 100), 0);
	assert_int_equal(bench_ml_init(&w, 100000, 10, 10, 101), -1);
}

static void test_ml_ops(void **state)
{
	struct bench_ml w;
	struct bench_op op;
	uint64_t next = 0, n;

	(void)state;
	assert_int_equal(bench_ml_init(&w, 250, 4, 3, 7), 0);
	n = bench_ml_setup_txs(&w);
	assert_int_equal(n, 3);
	for (uint64_t i = 0; i < n; i++) {
		bench_ml_setup_op(&w, i, &op);
		assert_string_equal(op.contract, "ml");
		assert_string_equal(op.function, "load_points");
		assert_int_equal(op.nargs, 5);
		assert_string_equal(op.args[0], "ml.d4.");
		assert_int_equal(strtoull(op.args[1], NULL, 10), next);
		next += strtoull(op.args[2], NULL, 10);
		assert_true(strtoull(op.args[2], NULL, 10) <= BENCH_ML_LOAD_CHUNK);
		assert_string_equal(op.args[3], "4");
	}
	assert_int_equal(next, 250);
	bench_ml_next(&w, &op);
	assert_string_equal(op.function, "kmeans");
	assert_int_equal(op.nargs, 4);
	assert_string_equal(op.args[0], "ml.d4.");
	assert_string_equal(op.args[1], "250");
	assert_string_equal(op.args[2], "3");
	assert_string_equal(op.args[3], "7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ml_bounds),
	    cmocka_unit_test(test_ml_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
