/* Unit tests of block validation V1/V2 (common/validate/validate.c) over a
 * tiny real PKI (tests/unit/fc_test_chain.h): every case asserts the exact
 * TxStatus, sequentially and graph-parallel; random blocks compare the
 * parallel and sequential validators with each other and with a reference
 * model written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_tpool.h"
#include "fc_validate.h"
#include "fc_wire.h"

#include "fc_test_chain.h"

#define VALID FLEXCHAIN__TX_STATUS__TX_VALID
#define MVCC FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT
#define POLICY FLEXCHAIN__TX_STATUS__TX_ENDORSEMENT_POLICY_FAILURE
#define BADSIG FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE
#define DUP FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID
#define BADPAY FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD

#define H 10 /* height of the blocks of the hand-made cases */
#define MAXN 100

static struct fct_pki P;
static struct fct_state S;
static struct fc_tpool *POOL;

/* committed state of the hand-made cases */
#define VA fc_version_pack(3, 7)
#define VB fc_version_pack(4, 1)

static int group_setup(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	if (fct_pki_init(&P, err) != FC_OK || fct_state_init(&S, 1024, P.pol) != FC_OK ||
	    fc_tpool_create(4, &POOL, err) != FC_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fc_tpool_destroy(POOL);
	fct_state_destroy(&S);
	fct_pki_destroy(&P);
	return 0;
}

static int case_setup(void **state)
{
	(void)state;
	fct_state_clear(&S);
	fct_state_set(&S, "a", VA);
	fct_state_set(&S, "b", VB);
	return 0;
}

static struct fc_validate_opts opts(bool parallel)
{
	struct fc_validate_opts o = {.castore = P.cs,
				     .pool = parallel ? POOL : NULL,
				     .parallel = parallel,
				     .state = fct_state_ops(&S)};
	return o;
}

/* A valid signed transaction by Org1's client; reads/writes added by the
 * caller before sign. */
static struct fct_env *tx(uint64_t seq)
{
	struct fct_env *e = fct_env_new();
	fct_env_init(e, P.client[FCT_ORG1].cert, FCT_CONTRACT, seq);
	return e;
}

static void sign(struct fct_env *e)
{
	char err[FC_ERRMSG_LEN] = "";
	fct_env_sort(e);
	assert_int_equal(fct_env_sign_std(e, &P, FCT_ORG1, err), FC_OK);
}

static void free_envs(struct fct_env **envs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(envs[i]);
}

/* Validates envs[0..n) as block H sequentially and in parallel, asserts both
 * give want[] and the same write-set hash, which equals fc_hash_write_set of
 * the result; wsh_out (may be NULL) receives it. */
static void expect(struct fct_env **envs, size_t n, const uint8_t *want, uint8_t *wsh_out)
{
	struct fct_block blk;
	char err[FC_ERRMSG_LEN] = "";
	uint8_t st[2][MAXN], wsh[2][32], ref[32];
	assert_true(n <= MAXN);
	assert_int_equal(fct_block_init(&blk, H, envs, n, err), FC_OK);
	assert_int_equal(fc_wire_check_block(&blk.b, err), FC_OK);
	for (int par = 0; par < 2; par++) {
		struct fc_validate_opts o = opts(par);
		memset(st[par], 0xee, sizeof st[par]);
		int rc = fc_validate_block(&o, &blk.b, st[par], wsh[par], err);
		if (rc != FC_OK)
			fail_msg("validate (parallel=%d): %s", par, err);
		for (size_t i = 0; i < n; i++)
			if (st[par][i] != want[i])
				fail_msg("parallel=%d tx %zu: status %d, want %d", par, i, st[par][i],
					 want[i]);
		assert_int_equal(st[par][n], 0xee); /* nothing written past n */
	}
	assert_memory_equal(wsh[0], wsh[1], 32);
	assert_int_equal(fc_hash_write_set(&blk.b, st[0], n, ref), FC_OK);
	assert_memory_equal(wsh[0], ref, 32);
	if (wsh_out)
		memcpy(wsh_out, ref, 32);
	fct_block_release(&blk);
}

/* ------------------------------------------------------------ V1 cases */

static void test_all_valid(void **state)
{
	(void)state;
	struct fct_env *e[4] = {tx(1), tx(2), tx(3), tx(4)};
	fct_env_add_read(e[0], "a", VA);
	fct_env_add_write(e[0], "a", "1", false);
	fct_env_add_read(e[1], "b", VB);
	fct_env_add_write(e[1], "b", "2", false);
	fct_env_add_write(e[2], "c", "3", false); /* blind write of a new key */
	fct_env_add_read(e[3], "zz", 0);          /* absent key read at 0 */
	fct_env_add_read(e[3], "yy", 0);          /* unsorted until sign() */
	for (int i = 0; i < 4; i++)
		sign(e[i]);
	/* also a creator from Org2 */
	fct_env_init(e[3], P.client[FCT_ORG2].cert, FCT_CONTRACT, 4);
	fct_env_add_read(e[3], "zz", 0);
	fct_env_add_read(e[3], "yy", 0);
	fct_env_sort(e[3]);
	char err[FC_ERRMSG_LEN];
	assert_int_equal(fct_env_sign_std(e[3], &P, FCT_ORG2, err), FC_OK);
	uint8_t want[4] = {VALID, VALID, VALID, VALID};
	expect(e, 4, want, NULL);
	free_envs(e, 4);
}

static void test_forged_client_signature(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN];
	struct fct_env *e[3] = {tx(1), tx(2), tx(3)};
	for (int i = 0; i < 3; i++) {
		fct_env_add_write(e[i], "c", "x", false);
		sign(e[i]);
	}
	/* 1: a bit flipped in s; 2: signed by another org's client key */
	e[1]->csig[e[1]->env.client_signature.len - 1] ^= 0x01;
	assert_int_equal(fct_env_sign_client(e[2], P.client[FCT_ORG2].key, err), FC_OK);
	uint8_t want[3] = {VALID, BADSIG, BADSIG};
	expect(e, 3, want, NULL);
	free_envs(e, 3);
}

static void test_client_from_rogue_ca(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN];
	struct fct_env *e[1] = {fct_env_new()};
	fct_env_init(e[0], P.client[FCT_ROGUE].cert, FCT_CONTRACT, 9);
	fct_env_add_write(e[0], "c", "x", false);
	assert_int_equal(fct_env_sign_std(e[0], &P, FCT_ROGUE, err), FC_OK);
	uint8_t want[1] = {BADSIG};
	expect(e, 1, want, NULL);
	free_envs(e, 1);
}

static void test_forged_endorsement(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN];
	struct fct_env *e[4] = {tx(1), tx(2), tx(3), tx(4)};
	for (int i = 0; i < 4; i++) {
		fct_env_add_write(e[i], "c", "x", false);
		sign(e[i]);
	}
	/* 0: Org2's endorsement signed with Org1's key */
	e[0]->env.n_endorsements = 1;
	assert_int_equal(fct_env_endorse(e[0], P.compute[FCT_ORG2].cert, P.compute[FCT_ORG1].key,
					 err),
			 FC_OK);
	/* 1: a byte of an endorsement signature flipped */
	e[1]->esig[0][e[1]->endo[0].signature.len - 2] ^= 0x40;
	/* 2: Org2's endorsement from a rogue CA that calls itself Org2 */
	e[2]->env.n_endorsements = 1;
	assert_int_equal(fct_env_endorse(e[2], P.compute[FCT_ROGUE].cert,
					 P.compute[FCT_ROGUE].key, err),
			 FC_OK);
	/* 3: a forged extra endorsement poisons an otherwise satisfied tx */
	assert_int_equal(fct_env_endorse(e[3], P.compute[FCT_ROGUE].cert,
					 P.compute[FCT_ROGUE].key, err),
			 FC_OK);
	uint8_t want[4] = {BADSIG, BADSIG, BADSIG, BADSIG};
	expect(e, 4, want, NULL);
	free_envs(e, 4);
}

static void test_endorsement_policy(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN];
	struct fct_env *e[6] = {tx(1), tx(2), tx(3), tx(4), tx(5), fct_env_new()};
	fct_env_init(e[5], P.client[FCT_ORG1].cert, "nosuchcontract", 6);
	for (int i = 0; i < 6; i++) {
		fct_env_add_write(e[i], "c", "x", false);
		sign(e[i]);
	}
	/* 0: only Org1 */
	e[0]->env.n_endorsements = 1;
	/* 1: Org1 twice */
	e[1]->env.n_endorsements = 1;
	assert_int_equal(
	    fct_env_endorse(e[1], P.compute[FCT_ORG1].cert, P.compute[FCT_ORG1].key, err), FC_OK);
	/* 2: Org2 by its client identity (OU client): a valid signature that
	 * does not count as an endorsement */
	e[2]->env.n_endorsements = 1;
	assert_int_equal(
	    fct_env_endorse(e[2], P.client[FCT_ORG2].cert, P.client[FCT_ORG2].key, err), FC_OK);
	/* 3: no endorsement at all */
	e[3]->env.n_endorsements = 0;
	/* 4: Org2 compute then Org1 compute (order does not matter): valid */
	e[4]->env.n_endorsements = 0;
	assert_int_equal(
	    fct_env_endorse(e[4], P.compute[FCT_ORG2].cert, P.compute[FCT_ORG2].key, err), FC_OK);
	assert_int_equal(
	    fct_env_endorse(e[4], P.compute[FCT_ORG1].cert, P.compute[FCT_ORG1].key, err), FC_OK);
	/* 5: unknown contract */
	uint8_t want[6] = {POLICY, POLICY, POLICY, POLICY, VALID, POLICY};
	expect(e, 6, want, NULL);
	free_envs(e, 6);
}

static void test_bad_payload(void **state)
{
	(void)state;
	struct fct_env *e[5] = {tx(1), tx(2), tx(3), tx(4), tx(5)};
	for (int i = 0; i < 5; i++)
		fct_env_add_write(e[i], "c", "x", false);
	/* 1: a well-formed tx id that is not the one of its nonce and creator
	 * (everything signed over it, so only the id is wrong) */
	char other[FC_TXID_HEX_LEN + 1];
	assert_int_equal(fc_canon_tx_id((const uint8_t *)"n", 1, (const uint8_t *)"c", 1, other),
			 FC_OK);
	memcpy(e[1]->txid, other, sizeof other);
	/* 2: tx id not hex */
	e[2]->txid[0] = 'X';
	/* 3: rwset writes not sorted (structurally invalid) */
	fct_env_add_write(e[3], "b", "y", false);
	/* 4: a config transaction that writes state */
	static Flexchain__ConfigTx cfgtx = FLEXCHAIN__CONFIG_TX__INIT;
	e[4]->env.type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
	e[4]->env.config = &cfgtx;
	for (int i = 0; i < 5; i++) {
		char err[FC_ERRMSG_LEN];
		if (i != 3)
			fct_env_sort(e[i]);
		assert_int_equal(fct_env_sign_std(e[i], &P, FCT_ORG1, err), FC_OK);
	}
	uint8_t want[5] = {VALID, BADPAY, BADPAY, BADPAY, BADPAY};
	/* fc_wire_check_block refuses 2 and 3: validate without expect()'s
	 * block check */
	struct fct_block blk;
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fct_block_init(&blk, H, e, 5, err), FC_OK);
	for (int par = 0; par < 2; par++) {
		struct fc_validate_opts o = opts(par);
		uint8_t st[5], wsh[32];
		assert_int_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_OK);
		assert_memory_equal(st, want, 5);
	}
	fct_block_release(&blk);
	free_envs(e, 5);
}

static void test_duplicate_txid(void **state)
{
	(void)state;
	struct fct_env *e[4] = {tx(1), tx(2), tx(1), tx(3)};
	fct_env_add_write(e[0], "a", "first", false);
	fct_env_add_write(e[1], "b", "x", false);
	fct_env_add_write(e[2], "c", "second", false); /* same id as 0 */
	fct_env_add_write(e[3], "d", "x", false);
	for (int i = 0; i < 4; i++)
		sign(e[i]);
	assert_string_equal(e[0]->txid, e[2]->txid);
	fct_state_add_txid(&S, e[3]->txid); /* already in the ledger */
	uint8_t want[4] = {VALID, VALID, DUP, DUP};
	expect(e, 4, want, NULL);
	free_envs(e, 4);
}

/* ------------------------------------------------------------ V2 cases */

static void test_mvcc_committed_versions(void **state)
{
	(void)state;
	struct fct_env *e[5] = {tx(1), tx(2), tx(3), tx(4), tx(5)};
	fct_env_add_read(e[0], "a", VA + 1); /* stale */
	fct_env_add_write(e[0], "q", "x", false);
	fct_env_add_read(e[1], "a", 0); /* thinks a is absent */
	fct_env_add_read(e[2], "c", VA); /* thinks absent c exists */
	fct_env_add_read(e[3], "a", VA); /* right */
	fct_env_add_read(e[3], "c", 0);
	fct_env_add_read(e[4], "b", VB); /* right, then one wrong read */
	fct_env_add_read(e[4], "a", VB);
	for (int i = 0; i < 5; i++)
		sign(e[i]);
	uint8_t want[5] = {MVCC, MVCC, MVCC, VALID, MVCC};
	expect(e, 5, want, NULL);
	free_envs(e, 5);
}

static void test_mvcc_in_block(void **state)
{
	(void)state;
	struct fct_env *e[5] = {tx(1), tx(2), tx(3), tx(4), tx(5)};
	fct_env_add_write(e[0], "z", "x", false);
	fct_env_add_read(e[1], "a", VA); /* tx 1 writes a */
	fct_env_add_write(e[1], "a", "new", false);
	fct_env_add_read(e[2], "a", VA); /* committed version: stale now */
	fct_env_add_read(e[3], "a", fc_version_pack(H, 1)); /* sees tx 1 */
	fct_env_add_write(e[3], "a", "newer", false);
	fct_env_add_read(e[4], "a", fc_version_pack(H, 3)); /* sees tx 3 */
	for (int i = 0; i < 5; i++)
		sign(e[i]);
	uint8_t want[5] = {VALID, VALID, MVCC, VALID, VALID};
	expect(e, 5, want, NULL);
	free_envs(e, 5);
}

static void test_invalid_writes_not_seen(void **state)
{
	(void)state;
	struct fct_env *e[6] = {tx(1), tx(2), tx(3), tx(4), tx(5), tx(6)};
	/* 0 writes a but its endorsement is forged */
	fct_env_add_write(e[0], "a", "forged", false);
	/* 1 writes b but reads a stale version of q */
	fct_env_add_read(e[1], "q", VA);
	fct_env_add_write(e[1], "b", "stale", false);
	/* 2, 3 read a and b at committed versions: valid */
	fct_env_add_read(e[2], "a", VA);
	fct_env_add_read(e[3], "b", VB);
	/* 4, 5 read the invalid ones' versions: conflict */
	fct_env_add_read(e[4], "a", fc_version_pack(H, 0));
	fct_env_add_read(e[5], "b", fc_version_pack(H, 1));
	for (int i = 0; i < 6; i++)
		sign(e[i]);
	e[0]->esig[1][10] ^= 0x01;
	uint8_t want[6] = {BADSIG, MVCC, VALID, VALID, MVCC, MVCC};
	expect(e, 6, want, NULL);
	free_envs(e, 6);
}

static void test_delete_makes_key_absent(void **state)
{
	(void)state;
	struct fct_env *e[5] = {tx(1), tx(2), tx(3), tx(4), tx(5)};
	fct_env_add_read(e[0], "a", VA);
	fct_env_add_write(e[0], "a", NULL, true);
	fct_env_add_read(e[1], "a", 0); /* absent now */
	fct_env_add_read(e[2], "a", VA);
	fct_env_add_read(e[3], "a", fc_version_pack(H, 0));
	fct_env_add_write(e[4], "a", "back", false); /* re-created */
	fct_env_add_read(e[4], "a", 0);
	for (int i = 0; i < 5; i++)
		sign(e[i]);
	uint8_t want[5] = {VALID, VALID, MVCC, MVCC, VALID};
	expect(e, 5, want, NULL);
	free_envs(e, 5);
}

static void test_write_set_hash(void **state)
{
	(void)state;
	uint8_t h1[32], h2[32], h3[32];
	struct fct_env *e[3] = {tx(1), tx(2), tx(3)};
	fct_env_add_read(e[0], "a", VA);
	fct_env_add_write(e[0], "a", "1", false);
	fct_env_add_write(e[1], "b", "2", false);
	fct_env_add_read(e[2], "q", 0);
	fct_env_add_write(e[2], "c", "3", false);
	for (int i = 0; i < 3; i++)
		sign(e[i]);
	uint8_t want[3] = {VALID, VALID, VALID};
	expect(e, 3, want, h1);
	/* the same block where tx 2 conflicts: another write set */
	e[2]->rd[0].version = VB;
	sign(e[2]);
	uint8_t want2[3] = {VALID, VALID, MVCC};
	expect(e, 3, want2, h2);
	assert_memory_not_equal(h1, h2, 32);
	/* only which writes are valid counts: the same statuses reached
	 * another way hash alike */
	fct_state_set(&S, "q", VA); /* tx 2 reads q at 0: conflicts now */
	e[2]->rd[0].version = 0;
	sign(e[2]);
	expect(e, 3, want2, h3);
	assert_memory_equal(h2, h3, 32);
	free_envs(e, 3);
}

/* ------------------------------------------------ V1/V2 calls, errors */

static void test_v1_then_v2(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e[3] = {tx(1), tx(2), tx(3)};
	fct_env_add_read(e[0], "a", VA + 5); /* valid once state catches up */
	fct_env_add_write(e[0], "a", "1", false);
	fct_env_add_write(e[1], "b", "2", false);
	fct_env_add_read(e[2], "a", fc_version_pack(H, 0));
	for (int i = 0; i < 3; i++)
		sign(e[i]);
	e[1]->csig[5] ^= 0x10;
	struct fct_block blk;
	assert_int_equal(fct_block_init(&blk, H, e, 3, err), FC_OK);
	for (int par = 0; par < 2; par++) {
		case_setup(NULL);
		struct fc_validate_opts o = opts(par);
		struct fc_validate_job *job = NULL;
		unsigned long calls = S.get_calls;
		assert_int_equal(fc_validate_v1(&o, &blk.b, &job, err), FC_OK);
		assert_non_null(job);
		/* V1 does not read state: V2 does, after the previous block's
		 * writes are applied */
		assert_int_equal(S.get_calls, calls);
		fct_state_set(&S, "a", VA + 5);
		uint8_t st[3], wsh[32], st2[3] = {0x77, 0x77, 0x77}, wsh2[32];
		assert_int_equal(fc_validate_v2(job, st, wsh, err), FC_OK);
		assert_int_equal(S.get_calls, calls + 1);
		uint8_t want[3] = {VALID, BADSIG, VALID};
		assert_memory_equal(st, want, 3);
		assert_int_equal(fc_validate_v2(job, st2, wsh2, err), FC_ESTATE);
		assert_int_equal(st2[0], 0x77);
		fc_validate_job_free(job);
	}
	fct_block_release(&blk);
	fc_validate_job_free(NULL);
	free_envs(e, 3);
}

static void test_get_versions_fails(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e[2] = {tx(1), tx(2)};
	fct_env_add_read(e[0], "a", VA);
	fct_env_add_write(e[1], "b", "x", false);
	for (int i = 0; i < 2; i++)
		sign(e[i]);
	struct fct_block blk;
	assert_int_equal(fct_block_init(&blk, H, e, 2, err), FC_OK);
	S.fail_get = FC_ESTORAGE;
	for (int par = 0; par < 2; par++) {
		struct fc_validate_opts o = opts(par);
		uint8_t st[2] = {0x77, 0x77}, wsh[32];
		memset(wsh, 0x66, 32);
		err[0] = '\0';
		assert_int_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_ESTORAGE);
		assert_non_null(strstr(err, "injected failure"));
		assert_int_equal(st[0], 0x77);
		assert_int_equal(st[1], 0x77);
		assert_int_equal(wsh[0], 0x66);
	}
	S.fail_get = 0;
	fct_block_release(&blk);
	free_envs(e, 2);
}

static void test_block_level_errors(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e[2] = {tx(1), tx(2)};
	fct_env_add_write(e[0], "a", "x", false);
	fct_env_add_read(e[1], "a", VA);
	for (int i = 0; i < 2; i++)
		sign(e[i]);
	struct fct_block blk;
	assert_int_equal(fct_block_init(&blk, H, e, 2, err), FC_OK);
	struct fc_validate_opts o = opts(false);
	uint8_t st[2], wsh[32];
	struct fc_validate_job *job = (struct fc_validate_job *)&o; /* must be reset */

	/* graph with the wrong number of entries */
	blk.g->n_txs = 1;
	assert_int_not_equal(fc_validate_v1(&o, &blk.b, &job, err), FC_OK);
	assert_null(job);
	/* dependency not before its tx */
	blk.g->n_txs = 2;
	uint32_t bad = 1;
	uint32_t *saved = blk.g->txs[1]->deps;
	blk.g->txs[1]->deps = &bad;
	assert_int_not_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_OK);
	blk.g->txs[1]->deps = saved;
	/* a graph missing the edge 0 -> 1 (well formed, but wrong): refused,
	 * never followed, in both modes */
	size_t saved_n = blk.g->txs[1]->n_deps;
	blk.g->txs[1]->n_deps = 0;
	for (int par = 0; par < 2; par++) {
		struct fc_validate_opts op = opts(par);
		err[0] = '\0';
		assert_int_equal(fc_validate_block(&op, &blk.b, st, wsh, err), FC_EMISMATCH);
		assert_non_null(strstr(err, "dependency graph does not match"));
	}
	blk.g->txs[1]->n_deps = saved_n;
	/* no header */
	blk.b.header = NULL;
	assert_int_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_EINVAL);
	blk.b.header = &blk.h;
	/* missing arguments */
	assert_int_equal(fc_validate_v1(NULL, &blk.b, &job, err), FC_EINVAL);
	assert_int_equal(fc_validate_v1(&o, NULL, &job, err), FC_EINVAL);
	assert_int_equal(fc_validate_v1(&o, &blk.b, NULL, err), FC_EINVAL);
	assert_int_equal(fc_validate_v2(NULL, st, wsh, err), FC_EINVAL);
	/* intact again */
	assert_int_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_OK);
	assert_int_equal(st[0], VALID);
	assert_int_equal(st[1], MVCC);
	fct_block_release(&blk);
	free_envs(e, 2);
}

static void test_empty_block(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_block blk;
	uint8_t wsh[32], ref[32];
	assert_int_equal(fct_block_init(&blk, H, NULL, 0, err), FC_OK);
	for (int par = 0; par < 2; par++) {
		struct fc_validate_opts o = opts(par);
		assert_int_equal(fc_validate_block(&o, &blk.b, NULL, wsh, err), FC_OK);
		assert_int_equal(fc_hash_write_set(&blk.b, NULL, 0, ref), FC_OK);
		assert_memory_equal(wsh, ref, 32);
	}
	fct_block_release(&blk);
}

static void test_verdict_sign_verify(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e[2] = {tx(1), tx(2)};
	fct_env_add_write(e[0], "a", "x", false);
	fct_env_add_read(e[1], "a", VA);
	for (int i = 0; i < 2; i++)
		sign(e[i]);
	struct fct_block blk;
	assert_int_equal(fct_block_init(&blk, H, e, 2, err), FC_OK);
	struct fc_validate_opts o = opts(true);
	uint8_t st[2], wsh[32], bh[32];
	assert_int_equal(fc_validate_block(&o, &blk.b, st, wsh, err), FC_OK);

	Flexchain__Verdict *v = NULL;
	assert_int_equal(fc_validate_verdict_sign(&blk.b, st, wsh, false, P.compute[FCT_ORG2].cert,
						  P.compute[FCT_ORG2].key, &v, err),
			 FC_OK);
	assert_int_equal(fc_wire_check_verdict(v, 2, err), FC_OK);
	assert_int_equal(v->height, H);
	assert_int_equal(fc_hash_header(&blk.h, bh), FC_OK);
	assert_memory_equal(v->block_hash.data, bh, 32);
	assert_memory_equal(v->tx_status.data, st, 2);
	assert_memory_equal(v->write_set_hash.data, wsh, 32);
	assert_false(v->storage_validated);
	const char *org = NULL;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, &org, err), FC_OK);
	assert_string_equal(org, "Org2");

	/* each signed field tampered in turn */
	v->tx_status.data[1] ^= 0x07;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	v->tx_status.data[1] ^= 0x07;
	v->write_set_hash.data[0] ^= 1;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	v->write_set_hash.data[0] ^= 1;
	v->height++;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	v->height--;
	v->storage_validated = 1;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	v->storage_validated = 0;
	v->signature.data[v->signature.len - 1] ^= 1;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	v->signature.data[v->signature.len - 1] ^= 1;
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_OK);
	fc_validate_verdict_free(v);

	/* a storage-validated verdict by a signer the store does not trust */
	assert_int_equal(fc_validate_verdict_sign(&blk.b, st, wsh, true, P.compute[FCT_ROGUE].cert,
						  P.compute[FCT_ROGUE].key, &v, err),
			 FC_OK);
	assert_true(v->storage_validated);
	assert_int_equal(fc_validate_verdict_verify(P.cs, v, NULL, err), FC_EVERIFY);
	fc_validate_verdict_free(v);
	fc_validate_verdict_free(NULL);
	fct_block_release(&blk);
	free_envs(e, 2);
}

/* Fails each allocation of fc_validate_block in turn, with a cold
 * certificate cache (a fresh store every round, so certificate parsing
 * allocates too). Each round must either fail with an error and leave the
 * statuses alone, or succeed with exactly the statuses of an undisturbed
 * run: an allocation failure must never turn into a wrong verdict. */
static void test_fail_nth_allocation(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e[12];
	for (int i = 0; i < 12; i++) {
		e[i] = tx((uint64_t)i + 1);
		char k[8];
		snprintf(k, sizeof k, "k%d", i % 3);
		fct_env_add_read(e[i], k, i < 3 ? 0 : fc_version_pack(H, (uint32_t)i - 3));
		fct_env_add_write(e[i], k, "v", false);
		sign(e[i]);
	}
	e[7]->csig[3] ^= 1;
	e[9]->env.n_endorsements = 1;
	struct fct_block blk;
	assert_int_equal(fct_block_init(&blk, H, e, 12, err), FC_OK);
	uint8_t want[12], wwsh[32];
	struct fc_validate_opts o = opts(false);
	assert_int_equal(fc_validate_block(&o, &blk.b, want, wwsh, err), FC_OK);
	assert_int_equal(want[6], VALID);
	assert_int_equal(want[7], BADSIG);
	assert_int_equal(want[9], POLICY);
	assert_int_equal(want[10], MVCC); /* its predecessor 7 is invalid */

	for (int par = 0; par < 2; par++) {
		int done = 0;
		unsigned long n, failed = 0;
		for (n = 1; n < 5000 && !done; n++) {
			fc_crypto_castore *cs = NULL;
			assert_int_equal(fct_castore_new(&P, &cs, err), FC_OK);
			o = opts(par);
			o.castore = cs;
			uint8_t st[12], wsh[32];
			memset(st, 0xee, sizeof st);
			err[0] = '\0';
			unsigned long c0 = fc_mem_count();
			fc_mem_fail_nth(n);
			int rc = fc_validate_block(&o, &blk.b, st, wsh, err);
			fc_mem_fail_nth(0);
			/* done once the call needed fewer than n allocations */
			done = fc_mem_count() - c0 < n;
			if (rc == FC_OK) {
				for (int i = 0; i < 12; i++)
					if (st[i] != want[i])
						fail_msg("parallel=%d fail allocation %lu: rc OK but "
							 "tx %d status %d, want %d",
							 par, n, i, st[i], want[i]);
				assert_memory_equal(wsh, wwsh, 32);
			} else {
				assert_false(done);
				failed++;
				assert_true(strlen(err) > 0);
				for (int i = 0; i < 12; i++)
					assert_int_equal(st[i], 0xee);
			}
			fc_crypto_castore_destroy(cs);
		}
		assert_true(done);
		/* certificate parsing, slots, graph, pool items were all hit */
		assert_true(failed > 10);
	}
	fct_block_release(&blk);
	free_envs(e, 12);
}

/* --------------------------------------------- random blocks, issue 6 */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned rnd(unsigned lo, unsigned hi)
{
	return lo + (unsigned)(rng() % (uint64_t)(hi - lo + 1));
}

#define RKEYS 24

/* Reference V2: current version of each key of the key space. */
struct model {
	uint64_t ver[RKEYS];
};

/* On a mismatch: the block, its graph and the three verdicts, on stderr. */
static void dump_block(const struct fct_block *k, const uint8_t *seq, const uint8_t *par,
		       const uint8_t *ref)
{
	for (size_t i = 0; i < k->b.n_envelopes; i++) {
		const Flexchain__Envelope *e = k->b.envelopes[i];
		fprintf(stderr, "tx %2zu seq %d par %d ref %d deps [", i, seq[i], par[i], ref[i]);
		for (size_t d = 0; d < k->g->txs[i]->n_deps; d++)
			fprintf(stderr, " %u", k->g->txs[i]->deps[d]);
		fprintf(stderr, " ] r");
		for (size_t r = 0; e->rwset && r < e->rwset->n_reads; r++)
			fprintf(stderr, " %.*s@%llu.%llu", (int)e->rwset->reads[r]->key.len,
				(const char *)e->rwset->reads[r]->key.data,
				(unsigned long long)(e->rwset->reads[r]->version >> 32),
				(unsigned long long)(e->rwset->reads[r]->version & 0xffffffffu));
		fprintf(stderr, " w");
		for (size_t w = 0; e->rwset && w < e->rwset->n_writes; w++)
			fprintf(stderr, " %.*s%s", (int)e->rwset->writes[w]->key.len,
				(const char *)e->rwset->writes[w]->key.data,
				e->rwset->writes[w]->is_delete ? "(del)" : "");
		fprintf(stderr, "\n");
	}
}

static void test_parallel_equals_sequential_random(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	static struct fct_env *env[MAXN];
	/* client signatures depend only on the proposal: sign one per position
	 * once, re-sign only the endorsements per block */
	static uint8_t csig[MAXN][FC_CRYPTO_SIG_MAX];
	static size_t csig_len[MAXN];
	char key[RKEYS][16];
	unsigned long counts[8] = {0};
	unsigned long chains = 0;

	for (int k = 0; k < RKEYS; k++)
		snprintf(key[k], sizeof key[k], "acct%02d", k);
	for (int i = 0; i < MAXN; i++) {
		env[i] = tx(1000 + (uint64_t)i);
		assert_int_equal(fct_env_sign_client(env[i], P.client[FCT_ORG1].key, err), FC_OK);
		memcpy(csig[i], env[i]->csig, env[i]->env.client_signature.len);
		csig_len[i] = env[i]->env.client_signature.len;
	}

	rng_state = 0x853c49e6748fea9bull;
	for (int blkno = 0; blkno < 200; blkno++) {
		uint64_t h = 100 + (uint64_t)blkno;
		size_t n = rnd(1, MAXN);
		unsigned keyspace = rnd(2, RKEYS);
		struct model m;
		uint64_t committed[RKEYS];
		uint8_t want[MAXN];
		size_t seqpos[MAXN];

		/* random committed state: absent or written at an earlier height */
		fct_state_clear(&S);
		for (unsigned k = 0; k < keyspace; k++) {
			committed[k] = rnd(0, 3) == 0 ? 0
						      : fc_version_pack(rnd(1, (unsigned)h - 1),
									rnd(0, 3));
			if (committed[k])
				fct_state_set(&S, key[k], committed[k]);
			m.ver[k] = committed[k];
		}

		for (size_t i = 0; i < n; i++) {
			struct fct_env *e = env[i];
			/* 3%: the proposal of an earlier position (in-block
			 * duplicate tx id) */
			size_t idpos = i && rnd(0, 32) == 0 ? rnd(0, (unsigned)i - 1) : i;
			seqpos[i] = idpos;
			fct_env_init(e, P.client[FCT_ORG1].cert, FCT_CONTRACT, 1000 + idpos);
			memcpy(e->csig, csig[idpos], csig_len[idpos]);
			e->env.client_signature = (ProtobufCBinaryData){csig_len[idpos], e->csig};
			unsigned kind = rnd(0, 99);
			uint8_t v1 = VALID;
			for (size_t j = 0; j < i; j++)
				if (seqpos[j] == idpos)
					v1 = DUP;
			if (kind < 5) {
				e->env.rwset = NULL; /* no state touched */
			} else {
				/* distinct keys per list, drawn by a partial shuffle */
				unsigned perm[RKEYS];
				for (unsigned k = 0; k < keyspace; k++)
					perm[k] = k;
				unsigned nr = rnd(0, keyspace < 4 ? keyspace : 4);
				unsigned nw = rnd(0, keyspace < 4 ? keyspace : 4);
				for (unsigned r = 0; r < nr; r++) {
					unsigned p = rnd(r, keyspace - 1), t = perm[r];
					perm[r] = perm[p];
					perm[p] = t;
					unsigned k = perm[r];
					/* the current version (chains), the committed
					 * one, or something else */
					unsigned c = rnd(0, 9);
					uint64_t ver = c < 5   ? m.ver[k]
						       : c < 8 ? committed[k]
						       : c < 9 ? 0
							       : fc_version_pack(h, rnd(0, (unsigned)i));
					fct_env_add_read(e, key[k], ver);
				}
				for (unsigned k = 0; k < keyspace; k++)
					perm[k] = k;
				for (unsigned w = 0; w < nw; w++) {
					unsigned p = rnd(w, keyspace - 1), t = perm[w];
					perm[w] = perm[p];
					perm[p] = t;
					fct_env_add_write(e, key[perm[w]], "v", rnd(0, 9) == 0);
				}
				fct_env_sort(e);
			}
			assert_int_equal(
			    fct_env_endorse(e, P.compute[FCT_ORG1].cert, P.compute[FCT_ORG1].key, err),
			    FC_OK);
			if (kind >= 5 && kind < 8) {
				/* only one endorsement */
				if (v1 == VALID)
					v1 = POLICY;
			} else {
				assert_int_equal(fct_env_endorse(e, P.compute[FCT_ORG2].cert,
								 P.compute[FCT_ORG2].key, err),
						 FC_OK);
			}
			if (kind >= 8 && kind < 12) {
				e->esig[kind % 2][8] ^= 0x20; /* forged */
				if (v1 == VALID)
					v1 = BADSIG;
			}
			/* reference V2 */
			uint8_t s = v1;
			if (s == VALID && e->env.rwset) {
				for (size_t r = 0; r < e->rw.n_reads; r++) {
					unsigned k = (unsigned)atoi((const char *)e->rd[r].key.data + 4);
					if (e->rd[r].version != m.ver[k])
						s = MVCC;
				}
				if (s == VALID) {
					for (size_t w = 0; w < e->rw.n_writes; w++) {
						unsigned k = (unsigned)atoi((const char *)e->wr[w].key.data + 4);
						m.ver[k] = e->wr[w].is_delete
							       ? 0
							       : fc_version_pack(h, (uint32_t)i);
					}
					for (size_t r = 0; r < e->rw.n_reads; r++)
						chains += e->rd[r].version >> 32 == h;
				}
			}
			want[i] = s;
			counts[s]++;
		}

		struct fct_block blk;
		assert_int_equal(fct_block_init(&blk, h, env, n, err), FC_OK);
		uint8_t st[2][MAXN], wsh[2][32], ref[32];
		for (int par = 0; par < 2; par++) {
			struct fc_validate_opts o = opts(par);
			memset(st[par], 0, sizeof st[par]);
			assert_int_equal(fc_validate_block(&o, &blk.b, st[par], wsh[par], err), FC_OK);
		}
		for (size_t i = 0; i < n; i++)
			if (st[0][i] != st[1][i] || st[0][i] != want[i]) {
				dump_block(&blk, st[0], st[1], want);
				fail_msg("block %d tx %zu: sequential %d, parallel %d, reference %d",
					 blkno, i, st[0][i], st[1][i], want[i]);
			}
		assert_int_equal(fc_hash_write_set(&blk.b, want, n, ref), FC_OK);
		assert_memory_equal(wsh[0], ref, 32);
		assert_memory_equal(wsh[1], ref, 32);
		fct_block_release(&blk);
	}
	/* the generator produced every outcome, and in-block chains */
	assert_true(counts[VALID] > 1000);
	assert_true(counts[MVCC] > 1000);
	assert_true(counts[POLICY] > 50);
	assert_true(counts[BADSIG] > 50);
	assert_true(counts[DUP] > 50);
	assert_true(chains > 500);
	for (int i = 0; i < MAXN; i++)
		free(env[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_all_valid, case_setup),
		cmocka_unit_test_setup(test_forged_client_signature, case_setup),
		cmocka_unit_test_setup(test_client_from_rogue_ca, case_setup),
		cmocka_unit_test_setup(test_forged_endorsement, case_setup),
		cmocka_unit_test_setup(test_endorsement_policy, case_setup),
		cmocka_unit_test_setup(test_bad_payload, case_setup),
		cmocka_unit_test_setup(test_duplicate_txid, case_setup),
		cmocka_unit_test_setup(test_mvcc_committed_versions, case_setup),
		cmocka_unit_test_setup(test_mvcc_in_block, case_setup),
		cmocka_unit_test_setup(test_invalid_writes_not_seen, case_setup),
		cmocka_unit_test_setup(test_delete_makes_key_absent, case_setup),
		cmocka_unit_test_setup(test_write_set_hash, case_setup),
		cmocka_unit_test_setup(test_v1_then_v2, case_setup),
		cmocka_unit_test_setup(test_get_versions_fails, case_setup),
		cmocka_unit_test_setup(test_block_level_errors, case_setup),
		cmocka_unit_test_setup(test_empty_block, case_setup),
		cmocka_unit_test_setup(test_verdict_sign_verify, case_setup),
		cmocka_unit_test_setup(test_fail_nth_allocation, case_setup),
		cmocka_unit_test_setup(test_parallel_equals_sequential_random, case_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
