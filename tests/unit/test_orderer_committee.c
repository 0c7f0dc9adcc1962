/* Unit tests of the leader's committee policy: rotation over the live
 * members, the size cap, when the storage pool must validate, and what
 * counts as a majority of verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../orderer/orderer_int.h"

static void test_rotation(void **state)
{
	size_t idx[3], seen[5] = {0};

	/* 5 live, k = 3: consecutive members from height mod 5, wrapping. */
	assert_int_equal(fc_ord_committee(5, 3, 0, idx), 3);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 2);
	assert_int_equal(fc_ord_committee(5, 3, 4, idx), 3);
	assert_int_equal(idx[0], 4);
	assert_int_equal(idx[1], 0);
	assert_int_equal(idx[2], 1);
	/* Over 5 consecutive blocks every member serves exactly 3 times. */
	for (uint64_t h = 100; h < 105; h++) {
		assert_int_equal(fc_ord_committee(5, 3, h, idx), 3);
		for (int i = 0; i < 3; i++)
			seen[idx[i]]++;
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(seen[i], 3);
}

static void test_fewer_live_than_k(void **state)
{
	size_t idx[5];

	assert_int_equal(fc_ord_committee(2, 5, 7, idx), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 0);
	assert_int_equal(fc_ord_committee(0, 3, 7, idx), 0);
}

static void test_viable(void **state)
{
	/* k = 3: two live members can still form a majority, one cannot. */
	assert_true(fc_ord_committee_viable(3, 3));
	assert_true(fc_ord_committee_viable(2, 3));
	assert_false(fc_ord_committee_viable(1, 3));
	assert_false(fc_ord_committee_viable(0, 3));
	/* k = 1 and k = 4. */
	assert_true(fc_ord_committee_viable(1, 1));
	assert_false(fc_ord_committee_viable(0, 1));
	assert_true(fc_ord_committee_viable(3, 4));
	assert_false(fc_ord_committee_viable(2, 4));
}

static void test_majority(void **state)
{
	assert_true(fc_ord_majority(2, 3));
	assert_false(fc_ord_majority(1, 3));
	assert_false(fc_ord_majority(2, 4)); /* a tie is no majority */
	assert_true(fc_ord_majority(3, 4));
	assert_true(fc_ord_majority(1, 1));
	assert_false(fc_ord_majority(0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_fewer_live_than_k),
	    cmocka_unit_test(test_viable),
	    cmocka_unit_test(test_majority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
