/* Unit tests of the orderer's block cutting policy: count, bytes, timeout,
 * and that a batch never exceeds max_bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../orderer/orderer_int.h"

static void test_cut_by_count(void **state)
{
	struct fc_ord_cutter c;

	fc_ord_cutter_init(&c, 3, 1000, 100);
	assert_int_equal(fc_ord_cutter_offer(&c, 10), FC_ORD_CUT_NONE);
	fc_ord_cutter_add(&c, 10, 5);
	assert_int_equal(fc_ord_cutter_offer(&c, 10), FC_ORD_CUT_NONE);
	fc_ord_cutter_add(&c, 10, 6);
	/* The third envelope fills the batch: add it, then cut. */
	assert_int_equal(fc_ord_cutter_offer(&c, 10), FC_ORD_CUT_AFTER);
	fc_ord_cutter_add(&c, 10, 7);
	assert_int_equal(c.n, 3);
	fc_ord_cutter_reset(&c);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.bytes, 0);
}

static void test_cut_by_bytes(void **state)
{
	struct fc_ord_cutter c;

	fc_ord_cutter_init(&c, 100, 100, 100);
	fc_ord_cutter_add(&c, 60, 0);
	/* 60 + 50 > 100: cut what we have first, the newcomer starts the
	 * next batch. */
	assert_int_equal(fc_ord_cutter_offer(&c, 50), FC_ORD_CUT_BEFORE);
	/* 60 + 40 == 100: exactly full, add then cut. */
	assert_int_equal(fc_ord_cutter_offer(&c, 40), FC_ORD_CUT_AFTER);
	/* An envelope of exactly max_bytes into an empty batch is cut alone. */
	fc_ord_cutter_reset(&c);
	assert_int_equal(fc_ord_cutter_offer(&c, 100), FC_ORD_CUT_AFTER);
}

static void test_cut_by_timeout(void **state)
{
	struct fc_ord_cutter c;

	fc_ord_cutter_init(&c, 100, 1000, 200);
	assert_false(fc_ord_cutter_expired(&c, 1000000)); /* empty never expires */
	fc_ord_cutter_add(&c, 1, 1000);
	fc_ord_cutter_add(&c, 1, 1150);
	/* The timeout runs from the oldest envelope. */
	assert_false(fc_ord_cutter_expired(&c, 1199));
	assert_true(fc_ord_cutter_expired(&c, 1200));
	fc_ord_cutter_reset(&c);
	assert_false(fc_ord_cutter_expired(&c, 5000));
}

static void test_max_txs_one(void **state)
{
	struct fc_ord_cutter c;

	fc_ord_cutter_init(&c, 1, 1000, 10);
	assert_int_equal(fc_ord_cutter_offer(&c, 1), FC_ORD_CUT_AFTER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cut_by_count),
	    cmocka_unit_test(test_cut_by_bytes),
	    cmocka_unit_test(test_cut_by_timeout),
	    cmocka_unit_test(test_max_txs_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
