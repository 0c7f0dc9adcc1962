/* Unit tests of the orderer's intake checks with real signed envelopes:
 * a good envelope passes; oversized, malformed, forged tx id, unknown CA and
 * bad client signatures are refused with the documented codes; duplicates
 * are refused while pending or within the bounded window of ordered tx ids,
 * whose memory stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "../../orderer/orderer_fixture.h"
#include "../../orderer/orderer_int.h"

static struct ord_pki pki;

static int setup(void **state)
{
	ord_pki_init(&pki);
	return 0;
}

static int teardown(void **state)
{
	ord_pki_destroy(&pki);
	return 0;
}

static Flexchain__Envelope *good(uint64_t i)
{
	return ord_env_new(i, pki.client_key, pki.client_der, pki.client_der_len);
}

static void test_good_envelope(void **state)
{
	Flexchain__Envelope *e = good(1);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_OK);
	assert_string_equal(txid, e->proposal->tx_id);
	ord_env_free(e);
}

static void test_oversized(void **state)
{
	Flexchain__Envelope *e = good(2);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";
	size_t size = protobuf_c_message_get_packed_size(&e->base);

	assert_int_equal(fc_ord_intake_check(pki.cs, e, size - 1, txid, err), FC_ETOOBIG);
	assert_int_equal(fc_ord_intake_check(pki.cs, e, size, txid, err), FC_OK);
	ord_env_free(e);
}

static void test_malformed(void **state)
{
	Flexchain__Envelope *e = good(3);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";
	Flexchain__KVWrite *w;

	/* Write keys out of order: structurally invalid. */
	w = e->rwset->writes[0];
	e->rwset->writes[0] = e->rwset->writes[1];
	e->rwset->writes[1] = w;
	ord_env_resign(e, pki.client_key);
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EPROTO);
	assert_non_null(strstr(err, "malformed envelope"));
	ord_env_free(e);

	/* No proposal at all. */
	e = good(4);
	Flexchain__Proposal *p = e->proposal;
	e->proposal = NULL;
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EPROTO);
	e->proposal = p;
	ord_env_free(e);
}

static void test_forged_txid(void **state)
{
	Flexchain__Envelope *e = good(5);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";

	/* Well-formed hex but not H(nonce, creator): a client could otherwise
	 * squat on someone else's tx id. */
	e->proposal->tx_id[0] = e->proposal->tx_id[0] == 'a' ? 'b' : 'a';
	ord_env_resign(e, pki.client_key);
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EPROTO);
	ord_env_free(e);
}

static void test_bad_signature(void **state)
{
	Flexchain__Envelope *e = good(6);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";

	/* Proposal changed after signing (the tx id, over nonce and creator,
	 * still matches). */
	e->proposal->timestamp_ms++;
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EVERIFY);
	assert_non_null(strstr(err, "client signature"));
	/* Signed by another key than the creator certificate's. */
	ord_env_resign(e, pki.compute_key);
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EVERIFY);
	/* Garbage signature bytes. */
	memset(e->client_signature.data, 0x30, e->client_signature.len);
	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EVERIFY);
	ord_env_free(e);
}

static void test_unknown_ca(void **state)
{
	Flexchain__Envelope *e = ord_env_new(7, pki.rogue_key, pki.rogue_der, pki.rogue_der_len);
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_ord_intake_check(pki.cs, e, 1 << 20, txid, err), FC_EVERIFY);
	assert_non_null(strstr(err, "client certificate"));
	ord_env_free(e);
}

static void test_txtab(void **state)
{
	struct fc_ord_txtab t;
	Flexchain__Envelope *e[3000];
	struct fc_ord_txent *x;

	assert_int_equal(fc_ord_txtab_init(&t, 0), FC_OK);
	/* Enough ids to make the table grow a few times. */
	for (int i = 0; i < 3000; i++) {
		e[i] = good((uint64_t)i);
		assert_int_equal(fc_ord_txtab_put(&t, e[i]->proposal->tx_id, FC_ORD_TX_PENDING, 0),
				 FC_OK);
	}
	assert_int_equal(t.n, 3000);
	for (int i = 0; i < 3000; i += 2)
		assert_int_equal(
		    fc_ord_txtab_put(&t, e[i]->proposal->tx_id, FC_ORD_TX_CHAIN, (uint64_t)i),
		    FC_OK);
	for (int i = 1; i < 3000; i += 4)
		fc_ord_txtab_del(&t, e[i]->proposal->tx_id);
	for (int i = 0; i < 3000; i++) {
		x = fc_ord_txtab_find(&t, e[i]->proposal->tx_id);
		if (i % 2 == 0) {
			assert_non_null(x);
			assert_int_equal(x->state, FC_ORD_TX_CHAIN);
			assert_int_equal(x->height, i);
		} else if (i % 4 == 1) {
			assert_null(x);
		} else {
			assert_non_null(x);
			assert_int_equal(x->state, FC_ORD_TX_PENDING);
		}
	}
	assert_null(fc_ord_txtab_find(&t, "not-hex"));
	assert_int_equal(fc_ord_txtab_put(&t, "zz", FC_ORD_TX_CHAIN, 1), FC_EINVAL);
	for (int i = 0; i < 3000; i++)
		ord_env_free(e[i]);
	fc_ord_txtab_destroy(&t);
}

/* Window 100: 250 transactions pass intake and are ordered (two per
 * block); the newest 100 are then refused as duplicates, the oldest 150 are
 * forgotten (intake lets them through: the ledger's tx index catches them
 * at validation), and memory does not grow with more ordered ids. */
static void test_window(void **state)
{
	enum { W = 100, N = 250, MORE = 1000 };
	struct fc_ord_txtab t;
	Flexchain__Envelope *e[N];
	char txid[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";
	size_t bytes, max_bytes = 0;

	assert_int_equal(fc_ord_txtab_init(&t, W), FC_OK);
	for (int i = 0; i < N; i++) {
		e[i] = good(10000 + (uint64_t)i);
		assert_int_equal(fc_ord_intake_check(pki.cs, e[i], 1 << 20, txid, err), FC_OK);
		assert_int_equal(fc_ord_intake_dedup(&t, txid, err), FC_OK);
		assert_int_equal(fc_ord_txtab_put(&t, txid, FC_ORD_TX_PENDING, 0), FC_OK);
		/* Pending: a second submission is refused. */
		assert_int_equal(fc_ord_intake_dedup(&t, txid, err), FC_EEXIST);
		assert_non_null(strstr(err, "already pending"));
		/* Pending ids cannot be evicted; ordered ones can. */
		assert_int_equal(fc_ord_txtab_put(&t, txid, FC_ORD_TX_CHAIN, 1 + (uint64_t)i / 2),
				 FC_OK);
		assert_true(t.n_chain <= W);
		assert_true(t.n <= W);
		bytes = fc_ord_txtab_bytes(&t);
		if (bytes > max_bytes)
			max_bytes = bytes;
	}
	assert_int_equal(t.n_chain, W);
	assert_int_equal(t.n, W);
	assert_int_equal(t.evicted, N - W);
	/* An ordered id never goes back to pending. */
	assert_int_equal(fc_ord_txtab_put(&t, e[N - 1]->proposal->tx_id, FC_ORD_TX_PENDING, 0),
			 FC_EEXIST);
	/* The newest W: refused with FC_EEXIST, naming their block. */
	for (int i = N - W; i < N; i++) {
		char want[64];
		assert_int_equal(fc_ord_intake_check(pki.cs, e[i], 1 << 20, txid, err), FC_OK);
		assert_int_equal(fc_ord_intake_dedup(&t, txid, err), FC_EEXIST);
		snprintf(want, sizeof want, "ordered in block %d", 1 + i / 2);
		assert_non_null(strstr(err, want));
	}
	/* The oldest: forgotten, so intake admits them again. */
	for (int i = 0; i < N - W; i++) {
		assert_null(fc_ord_txtab_find(&t, e[i]->proposal->tx_id));
		assert_int_equal(fc_ord_intake_dedup(&t, e[i]->proposal->tx_id, err), FC_OK);
	}
	/* Deleting an ordered id is a no-op: only eviction removes it. */
	fc_ord_txtab_del(&t, e[N - 1]->proposal->tx_id);
	assert_non_null(fc_ord_txtab_find(&t, e[N - 1]->proposal->tx_id));
	/* Many more ordered ids (synthetic, distinct): count and memory stay
	 * bounded by the window. */
	for (int i = 0; i < MORE; i++) {
		char hex[FC_TXID_HEX_LEN + 1];
		snprintf(hex, sizeof hex, "%064x", 0x5000000 + i);
		assert_int_equal(fc_ord_txtab_put(&t, hex, FC_ORD_TX_CHAIN, 1000), FC_OK);
		assert_true(fc_ord_txtab_bytes(&t) <= max_bytes);
	}
	assert_int_equal(t.n_chain, W);
	assert_int_equal(t.n, W);
	assert_int_equal(t.evicted, N + MORE - W);
	for (int i = 0; i < N; i++) {
		assert_null(fc_ord_txtab_find(&t, e[i]->proposal->tx_id));
		ord_env_free(e[i]);
	}
	/* Pending ids do not count against the window. */
	for (int i = 0; i < 3 * W; i++) {
		char hex[FC_TXID_HEX_LEN + 1];
		snprintf(hex, sizeof hex, "%064x", 0x6000000 + i);
		assert_int_equal(fc_ord_txtab_put(&t, hex, FC_ORD_TX_PENDING, 0), FC_OK);
	}
	assert_int_equal(t.n_chain, W);
	assert_int_equal(t.n, 4 * W);
	for (int i = 0; i < 3 * W; i++) {
		char hex[FC_TXID_HEX_LEN + 1];
		snprintf(hex, sizeof hex, "%064x", 0x6000000 + i);
		fc_ord_txtab_del(&t, hex);
	}
	assert_int_equal(t.n, W);
	fc_ord_txtab_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_envelope), cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_malformed),	  cmocka_unit_test(test_forged_txid),
	    cmocka_unit_test(test_bad_signature), cmocka_unit_test(test_unknown_ca),
	    cmocka_unit_test(test_txtab),	  cmocka_unit_test(test_window),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
