/* Unit tests of the storage pool's ledger store (storage-pool/fc_ledger.h). */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_ledger.h"
#include "fc_mem.h"
#include "fc_wire.h"

#include "../../storage-pool/ledger_fixture.h"

struct ctx {
	char dir[64];
	struct fc_ledger *l;
	struct lf_sizes sz;
	uint64_t next;
	uint8_t head[FC_HASH_LEN];
	char msg[FC_ERRMSG_LEN];
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	snprintf(c->dir, sizeof c->dir, "/tmp/fc-ledger-test-XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	lf_sizes_small(&c->sz);
	if (fc_ledger_open(c->dir, NULL, &c->l, c->msg) != FC_OK) {
		fprintf(stderr, "open: %s\n", c->msg);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	fc_mem_fail_nth(0);
	fc_ledger_close(c->l);
	nftw(c->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void reopen(struct ctx *c)
{
	fc_ledger_close(c->l);
	c->l = NULL;
	assert_int_equal(fc_ledger_open(c->dir, NULL, &c->l, c->msg), FC_OK);
}

/* Builds the next block on the chain (not appended). */
static struct lf_block *next_block(struct ctx *c, const struct lf_tx *txs, size_t n)
{
	return lf_block_new(c->next, c->head, txs, n, &c->sz);
}

static void append_ok(struct ctx *c, struct lf_block *lb)
{
	int rc = fc_ledger_append(c->l, lb->block, lb->verdict, lb->cert, c->msg);
	if (rc)
		fprintf(stderr, "append: %s\n", c->msg);
	assert_int_equal(rc, FC_OK);
	memcpy(c->head, lb->hash, FC_HASH_LEN);
	c->next = lb->block->header->height + 1;
}

/* Appends a block of n transactions and frees it. */
static void append_txs(struct ctx *c, const struct lf_tx *txs, size_t n)
{
	struct lf_block *lb = next_block(c, txs, n);
	append_ok(c, lb);
	lf_block_free(lb);
}

/* Genesis: one config transaction, no writes. */
static void append_genesis(struct ctx *c)
{
	struct lf_tx tx = {.config_seq = 1};
	append_txs(c, &tx, 1);
}

static struct lf_tx wtx(int status, const char *k1, const char *k2)
{
	struct lf_tx t = {.status = status};
	if (k1)
		t.writes[t.n_writes++] = (struct lf_write){.key = k1};
	if (k2)
		t.writes[t.n_writes++] = (struct lf_write){.key = k2};
	return t;
}

static void expect_state(struct ctx *c, const char *key, int found, uint64_t version,
			 const char *value)
{
	struct fc_ledger_kv kv = {.key = (const uint8_t *)key, .key_len = strlen(key)};
	assert_int_equal(fc_ledger_state_get(c->l, &kv, c->msg), FC_OK);
	assert_int_equal(kv.found, found);
	assert_int_equal(kv.version, version);
	if (found) {
		assert_int_equal(kv.value_len, strlen(value));
		assert_memory_equal(kv.value, value, kv.value_len);
	} else {
		assert_null(kv.value);
	}
	fc_ledger_kv_release(&kv, 1);
}

static void expect_verify_ok(struct ctx *c)
{
	struct fc_ledger_verify_report rep;
	int rc = fc_ledger_verify(c->l, NULL, &rep, c->msg);
	if (rc)
		fprintf(stderr, "verify: %s\n", c->msg);
	assert_int_equal(rc, FC_OK);
	assert_int_equal(rep.blocks, c->next);
}

/* ------------------------------------------------------------------ tests */

static void test_empty_ledger(void **state)
{
	struct ctx *c = *state;
	uint64_t h;
	Flexchain__Block *b = (void *)1;
	Flexchain__ConfigTx *cfg;
	struct fc_ledger_tx tx;
	const struct fc_ledger_entry *e;
	struct fc_ledger_iter *it;

	assert_int_equal(fc_ledger_applied_height(c->l, &h), FC_ENOTFOUND);
	assert_int_equal(fc_ledger_get_block(c->l, 0, &b, c->msg), FC_ENOTFOUND);
	assert_null(b);
	assert_non_null(strstr(c->msg, "block 0: not found"));
	assert_int_equal(fc_ledger_get_tx(c->l, "00", &tx, c->msg), FC_ENOTFOUND);
	assert_int_equal(fc_ledger_get_config(c->l, &cfg, NULL, c->msg), FC_ENOTFOUND);
	assert_int_equal(fc_ledger_wait(c->l, 0, 10), FC_ETIMEOUT);
	assert_int_equal(fc_ledger_iter_from(c->l, 0, FC_LEDGER_ITER_FOLLOW, 0, &it, c->msg),
			 FC_OK);
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);
	expect_verify_ok(c);
	/* must_exist refuses a directory without a ledger */
	struct fc_ledger_opts o;
	struct fc_ledger *l2 = (void *)1;
	fc_ledger_opts_init(&o);
	o.must_exist = 1;
	assert_int_equal(fc_ledger_open("/tmp/fc-ledger-no-such-dir", &o, &l2, c->msg),
			 FC_ENOTFOUND);
	assert_null(l2);
}

static void test_append_chain_and_read_back(void **state)
{
	struct ctx *c = *state;
	uint8_t hashes[6][FC_HASH_LEN];
	char ids[6][3][FC_TXID_HEX_LEN + 1];

	for (int h = 0; h < 6; h++) {
		struct lf_tx txs[3];
		char k[3][16];
		size_t n = h == 0 ? 1 : 3;
		if (h == 0) {
			txs[0] = (struct lf_tx){.config_seq = 7};
		} else {
			for (int i = 0; i < 3; i++) {
				snprintf(k[i], sizeof k[i], "key-%d-%d", h, i);
				txs[i] = wtx(0, k[i], NULL);
			}
		}
		struct lf_block *lb = next_block(c, txs, n);
		for (size_t i = 0; i < n; i++)
			strcpy(ids[h][i], lb->block->envelopes[i]->proposal->tx_id);
		append_ok(c, lb);
		memcpy(hashes[h], lb->hash, FC_HASH_LEN);
		lf_block_free(lb);
	}

	uint64_t hh;
	uint8_t hash[FC_HASH_LEN];
	assert_int_equal(fc_ledger_head(c->l, &hh, hash), FC_OK);
	assert_int_equal(hh, 5);
	assert_memory_equal(hash, hashes[5], FC_HASH_LEN);
	assert_int_equal(fc_ledger_wait(c->l, 5, 0), FC_OK);

	for (uint64_t h = 0; h < 6; h++) {
		Flexchain__Block *b, *bh, *braw;
		Flexchain__Verdict *v;
		Flexchain__CommitCertificate *ct;
		uint8_t *raw;
		size_t rawlen;
		uint64_t byhash;

		assert_int_equal(fc_ledger_get_block(c->l, h, &b, c->msg), FC_OK);
		assert_int_equal(b->header->height, h);
		assert_int_equal(fc_hash_header(b->header, hash), FC_OK);
		assert_memory_equal(hash, hashes[h], FC_HASH_LEN);

		assert_int_equal(fc_ledger_get_block_by_hash(c->l, hashes[h], &bh, c->msg), FC_OK);
		assert_int_equal(bh->header->height, h);
		assert_int_equal(fc_ledger_height_by_hash(c->l, hashes[h], &byhash, c->msg), FC_OK);
		assert_int_equal(byhash, h);

		assert_int_equal(fc_ledger_get_block_raw(c->l, h, &raw, &rawlen, c->msg), FC_OK);
		assert_int_equal(fc_wire_decode(&flexchain__block__descriptor, raw, rawlen,
						FC_WIRE_MAX_BLOCK, (ProtobufCMessage **)&braw,
						c->msg),
				 FC_OK);
		assert_int_equal(braw->n_envelopes, b->n_envelopes);

		assert_int_equal(fc_ledger_get_verdict(c->l, h, &v, c->msg), FC_OK);
		assert_int_equal(v->height, h);
		assert_memory_equal(v->block_hash.data, hashes[h], FC_HASH_LEN);
		assert_int_equal(v->tx_status.len, b->n_envelopes);
		assert_int_equal(fc_ledger_get_cert(c->l, h, &ct, c->msg), FC_OK);
		assert_int_equal(ct->height, h);
		assert_int_equal(ct->n_verdicts, 1);
		assert_int_equal(ct->n_committee, 3);

		for (size_t i = 0; i < b->n_envelopes; i++) {
			struct fc_ledger_tx tx;
			assert_int_equal(fc_ledger_get_tx(c->l, ids[h][i], &tx, c->msg), FC_OK);
			assert_int_equal(tx.height, h);
			assert_int_equal(tx.index, i);
			assert_int_equal(tx.status, FLEXCHAIN__TX_STATUS__TX_VALID);
		}
		fc_wire_free(&ct->base);
		fc_wire_free(&v->base);
		fc_wire_free(&braw->base);
		fc_free(raw);
		fc_wire_free(&bh->base);
		fc_wire_free(&b->base);
	}
	uint8_t unknown[FC_HASH_LEN] = {1, 2, 3};
	Flexchain__Block *nb;
	assert_int_equal(fc_ledger_get_block_by_hash(c->l, unknown, &nb, c->msg), FC_ENOTFOUND);
	assert_int_equal(fc_ledger_get_block(c->l, 6, &nb, c->msg), FC_ENOTFOUND);

	expect_state(c, "key-3-1", 1, fc_version_pack(3, 1), "key-3-1");
	expect_state(c, "key-5-2", 1, fc_version_pack(5, 2), "key-5-2");

	Flexchain__ConfigTx *cfg;
	uint64_t cfg_h = 99;
	assert_int_equal(fc_ledger_get_config(c->l, &cfg, &cfg_h, c->msg), FC_OK);
	assert_int_equal(cfg->sequence, 7);
	assert_int_equal(cfg_h, 0);
	fc_wire_free(&cfg->base);

	/* Range of blocks: decoded, then raw. */
	struct fc_ledger_iter *it;
	const struct fc_ledger_entry *e;
	assert_int_equal(fc_ledger_iter_from(c->l, 0, 5, 0, &it, c->msg), FC_OK);
	for (uint64_t h = 0; h < 6; h++) {
		assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
		assert_non_null(e);
		assert_int_equal(e->height, h);
		assert_int_equal(e->block->header->height, h);
		assert_int_equal(e->verdict->height, h);
		assert_int_equal(e->cert->height, h);
		assert_true(e->block_len > 0 && e->verdict_len > 0 && e->cert_len > 0);
	}
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);
	assert_int_equal(fc_ledger_iter_from(c->l, 1, 2, FC_LEDGER_ITER_RAW, &it, c->msg), FC_OK);
	for (uint64_t h = 1; h <= 2; h++) {
		assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
		assert_non_null(e);
		assert_int_equal(e->height, h);
		assert_null(e->block);
		assert_non_null(e->block_raw);
	}
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);
	assert_int_equal(fc_ledger_iter_from(c->l, 0, 5, 0x80, &it, c->msg), FC_EINVAL);

	expect_verify_ok(c);
}

static void test_gap_refused(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx = wtx(0, "a", NULL);

	/* empty ledger: only height 0 */
	struct lf_block *lb = lf_block_new(2, c->head, &tx, 1, &c->sz);
	assert_int_equal(fc_ledger_append(c->l, lb->block, lb->verdict, lb->cert, c->msg),
			 FC_EMISMATCH);
	assert_string_equal(c->msg, "append height 2: expected height 0");
	lf_block_free(lb);

	append_genesis(c);
	append_txs(c, &tx, 1); /* height 1 */
	lb = lf_block_new(3, c->head, &tx, 1, &c->sz);
	assert_int_equal(fc_ledger_append(c->l, lb->block, lb->verdict, lb->cert, c->msg),
			 FC_EMISMATCH);
	assert_string_equal(c->msg, "append height 3: expected height 2");
	lf_block_free(lb);
	uint64_t h;
	assert_int_equal(fc_ledger_applied_height(c->l, &h), FC_OK);
	assert_int_equal(h, 1);
	expect_verify_ok(c);
}

static void test_wrong_prev_hash_refused(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx = wtx(0, "a", NULL);
	uint8_t bad[FC_HASH_LEN];
	char bx[2 * FC_HASH_LEN + 1], hx[2 * FC_HASH_LEN + 1], want[FC_ERRMSG_LEN];

	append_genesis(c);
	append_txs(c, &tx, 1);
	memset(bad, 0xab, sizeof bad);
	struct lf_block *lb = lf_block_new(2, bad, &tx, 1, &c->sz);
	assert_int_equal(fc_ledger_append(c->l, lb->block, lb->verdict, lb->cert, c->msg),
			 FC_EMISMATCH);
	fc_canon_hex(bad, FC_HASH_LEN, bx);
	fc_canon_hex(c->head, FC_HASH_LEN, hx);
	snprintf(want, sizeof want,
		 "append height 2: prev_hash %s does not match header hash %s of height 1", bx, hx);
	assert_string_equal(c->msg, want);
	lf_block_free(lb);
	expect_verify_ok(c);
}

static void test_idempotent_reappend(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx1 = wtx(0, "a", "b"), tx2 = wtx(0, "a", NULL);

	append_genesis(c);
	struct lf_block *b1 = next_block(c, &tx1, 1);
	append_ok(c, b1);
	struct lf_block *b2 = next_block(c, &tx2, 1);
	append_ok(c, b2);

	/* the head block and an older one: no-ops */
	assert_int_equal(fc_ledger_append(c->l, b2->block, b2->verdict, b2->cert, c->msg), FC_OK);
	assert_int_equal(fc_ledger_append(c->l, b1->block, b1->verdict, b1->cert, c->msg), FC_OK);
	uint64_t h;
	assert_int_equal(fc_ledger_applied_height(c->l, &h), FC_OK);
	assert_int_equal(h, 2);
	/* the older block's write did not come back over the newer one */
	expect_state(c, "a", 1, fc_version_pack(2, 0), "a");
	expect_state(c, "b", 1, fc_version_pack(1, 0), "b");

	/* the same block with another decision is refused */
	uint8_t st = FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT;
	lf_block_set_status(b1, &st, 1, &c->sz);
	assert_int_equal(fc_ledger_append(c->l, b1->block, b1->verdict, b1->cert, c->msg),
			 FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "different verdict"));
	lf_block_free(b2);
	lf_block_free(b1);
	expect_verify_ok(c);
}

static void test_same_height_different_block(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx = wtx(0, "a", NULL);
	uint8_t prev1[FC_HASH_LEN];
	char hx[2 * FC_HASH_LEN + 1], sx[2 * FC_HASH_LEN + 1], want[FC_ERRMSG_LEN];

	append_genesis(c);
	memcpy(prev1, c->head, FC_HASH_LEN);
	struct lf_block *b1 = next_block(c, &tx, 1);
	append_ok(c, b1);

	/* another block at the head height (different timestamp) */
	c->sz.timestamp = 5000;
	struct lf_block *alt = lf_block_new(1, prev1, &tx, 1, &c->sz);
	assert_int_equal(fc_ledger_append(c->l, alt->block, alt->verdict, alt->cert, c->msg),
			 FC_EMISMATCH);
	fc_canon_hex(alt->hash, FC_HASH_LEN, hx);
	fc_canon_hex(b1->hash, FC_HASH_LEN, sx);
	snprintf(want, sizeof want,
		 "append height 1: header hash %s differs from stored header hash %s", hx, sx);
	assert_string_equal(c->msg, want);

	/* and below the head (read from disk) */
	c->sz.timestamp = 1000;
	append_txs(c, &tx, 1);
	assert_int_equal(fc_ledger_append(c->l, alt->block, alt->verdict, alt->cert, c->msg),
			 FC_EMISMATCH);
	assert_string_equal(c->msg, want);
	lf_block_free(alt);
	lf_block_free(b1);
	expect_verify_ok(c);
}

static void test_decision_must_match_block(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx = wtx(0, "a", NULL);

	append_genesis(c);
	struct lf_block *b = next_block(c, &tx, 1);
	struct lf_block *other = lf_block_new(7, c->head, &tx, 1, &c->sz);

	/* verdict of another block */
	assert_int_equal(fc_ledger_append(c->l, b->block, other->verdict, b->cert, c->msg),
			 FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "verdict names height 7"));
	/* certificate of another block */
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, other->cert, c->msg),
			 FC_EMISMATCH);
	/* a certificate verdict that disagrees */
	b->cert->verdicts[0]->tx_status.data[0] = FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE;
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg),
			 FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "disagrees"));
	b->cert->verdicts[0]->tx_status.data[0] = FLEXCHAIN__TX_STATUS__TX_VALID;
	/* a write-set hash that does not match the writes */
	b->verdict->write_set_hash.data[0] ^= 1;
	b->cert->verdicts[0]->write_set_hash.data[0] ^= 1;
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg),
			 FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "write-set hash"));
	b->verdict->write_set_hash.data[0] ^= 1;
	b->cert->verdicts[0]->write_set_hash.data[0] ^= 1;
	/* tampered envelope: data hash mismatch */
	b->block->envelopes[0]->response.data[0] ^= 1;
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg),
			 FC_EMISMATCH);
	b->block->envelopes[0]->response.data[0] ^= 1;
	/* verdict with the wrong number of statuses: structure */
	b->verdict->tx_status.len = 0;
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg), FC_EPROTO);
	b->verdict->tx_status.len = 1;
	assert_int_equal(fc_ledger_append(NULL, b->block, b->verdict, b->cert, c->msg), FC_EINVAL);

	uint64_t h;
	assert_int_equal(fc_ledger_applied_height(c->l, &h), FC_OK);
	assert_int_equal(h, 0);
	append_ok(c, b);
	lf_block_free(other);
	lf_block_free(b);
	expect_verify_ok(c);
}

static void test_genesis_tx0_may_not_write(void **state)
{
	struct ctx *c = *state;
	struct lf_tx tx = wtx(0, "a", NULL);
	struct lf_block *b = next_block(c, &tx, 1);
	assert_int_equal(fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg), FC_EINVAL);
	assert_non_null(strstr(c->msg, "version 0"));
	lf_block_free(b);
	/* an invalid tx 0 writing is fine: its writes are not applied */
	tx.status = FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD;
	append_txs(c, &tx, 1);
	expect_state(c, "a", 0, 0, NULL);
}

static void test_invalid_tx_writes_not_applied(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx txs[4] = {
	    wtx(0, "a", "x"),
	    wtx(FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT, "b", "x"),
	    wtx(0, "a", NULL), /* overwrites tx 0's "a" */
	    wtx(FLEXCHAIN__TX_STATUS__TX_ENDORSEMENT_POLICY_FAILURE, "a", "c"),
	};
	char id1[FC_TXID_HEX_LEN + 1];
	struct lf_block *lb;
	/* distinct values so that the overwrite is visible */
	txs[0].writes[0].value = (const uint8_t *)"from-tx0";
	txs[0].writes[0].value_len = 8;
	txs[2].writes[0].value = (const uint8_t *)"from-tx2";
	txs[2].writes[0].value_len = 8;
	lb = next_block(c, txs, 4);
	strcpy(id1, lb->block->envelopes[1]->proposal->tx_id);
	append_ok(c, lb);
	lf_block_free(lb);

	expect_state(c, "a", 1, fc_version_pack(1, 2), "from-tx2");
	expect_state(c, "x", 1, fc_version_pack(1, 0), "x");
	expect_state(c, "b", 0, 0, NULL);
	expect_state(c, "c", 0, 0, NULL);
	struct fc_ledger_tx tx;
	assert_int_equal(fc_ledger_get_tx(c->l, id1, &tx, c->msg), FC_OK);
	assert_int_equal(tx.height, 1);
	assert_int_equal(tx.index, 1);
	assert_int_equal(tx.status, FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT);
	expect_verify_ok(c);
}

static void test_deletes(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx t1[1] = {wtx(0, "d1", "d2")};
	append_txs(c, t1, 1);
	struct lf_tx t2[2] = {wtx(0, NULL, NULL),
			      wtx(FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE, NULL, NULL)};
	t2[0].writes[t2[0].n_writes++] = (struct lf_write){.key = "d1", .is_delete = 1};
	t2[1].writes[t2[1].n_writes++] = (struct lf_write){.key = "d2", .is_delete = 1};
	append_txs(c, t2, 2);
	expect_state(c, "d1", 0, 0, NULL);
	expect_state(c, "d2", 1, fc_version_pack(1, 0), "d2"); /* invalid delete ignored */
	/* delete then re-create in the same block: the later write wins */
	struct lf_tx t3[2] = {wtx(0, NULL, NULL), wtx(0, "d2", NULL)};
	t3[0].writes[t3[0].n_writes++] = (struct lf_write){.key = "d2", .is_delete = 1};
	append_txs(c, t3, 2);
	expect_state(c, "d2", 1, fc_version_pack(3, 1), "d2");
	/* deleting an absent key is harmless */
	struct lf_tx t4[1] = {wtx(0, NULL, NULL)};
	t4[0].writes[t4[0].n_writes++] = (struct lf_write){.key = "never", .is_delete = 1};
	append_txs(c, t4, 1);
	expect_state(c, "never", 0, 0, NULL);
	expect_verify_ok(c);
}

static void test_version_packing(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx txs[3] = {wtx(0, "v0", NULL), wtx(0, "v1", NULL), wtx(0, "v2", NULL)};
	for (int i = 0; i < 3; i++)
		append_txs(c, txs, 3);
	for (uint32_t i = 0; i < 3; i++) {
		char k[4];
		snprintf(k, sizeof k, "v%u", i);
		struct fc_ledger_kv kv = {.key = (const uint8_t *)k, .key_len = 2};
		assert_int_equal(fc_ledger_state_get(c->l, &kv, c->msg), FC_OK);
		assert_true(kv.found);
		assert_int_equal(kv.version, ((uint64_t)3 << 32) | i);
		uint64_t h;
		uint32_t idx;
		fc_version_unpack(kv.version, &h, &idx);
		assert_int_equal(h, 3);
		assert_int_equal(idx, i);
		fc_ledger_kv_release(&kv, 1);
		assert_null(kv.value);
	}
}

static void test_batch_get_mixed(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx txs[2] = {wtx(0, "p1", "p2"), wtx(0, "p3", NULL)};
	static const uint8_t empty[1];
	txs[1].writes[0].value = empty; /* empty value: present, 0 bytes */
	txs[1].writes[0].value_len = 0;
	append_txs(c, txs, 2);

	const char *keys[6] = {"p1", "absent", "p2", "p3", "", "p10"};
	struct fc_ledger_kv kvs[6];
	memset(kvs, 0, sizeof kvs);
	for (int i = 0; i < 6; i++) {
		kvs[i].key = (const uint8_t *)keys[i];
		kvs[i].key_len = strlen(keys[i]);
	}
	assert_int_equal(fc_ledger_state_get_batch(c->l, kvs, 6, c->msg), FC_OK);
	int found[6] = {1, 0, 1, 1, 0, 0};
	for (int i = 0; i < 6; i++)
		assert_int_equal(kvs[i].found, found[i]);
	assert_int_equal(kvs[0].version, fc_version_pack(1, 0));
	assert_memory_equal(kvs[0].value, "p1", 2);
	assert_int_equal(kvs[2].version, fc_version_pack(1, 0));
	assert_int_equal(kvs[3].version, fc_version_pack(1, 1));
	assert_int_equal(kvs[3].value_len, 0);
	assert_non_null(kvs[3].value);
	assert_null(kvs[1].value);
	assert_int_equal(kvs[1].version, 0);
	fc_ledger_kv_release(kvs, 6);
	assert_int_equal(fc_ledger_state_get_batch(c->l, NULL, 0, c->msg), FC_OK);
	assert_int_equal(fc_ledger_state_get_batch(c->l, NULL, 1, c->msg), FC_EINVAL);
}

static void test_duplicate_txid(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx t = wtx(0, "dup", NULL);
	t.nonce_salt = 4242;
	t.same_id_as_salt = 1;
	struct lf_block *b1 = next_block(c, &t, 1);
	char id[FC_TXID_HEX_LEN + 1];
	strcpy(id, b1->block->envelopes[0]->proposal->tx_id);
	append_ok(c, b1);
	lf_block_free(b1);

	/* same id later, and twice inside one block */
	struct lf_tx t2[3] = {wtx(0, "other", NULL), t, t};
	t2[1].status = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
	t2[2].status = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
	append_txs(c, t2, 3);
	struct fc_ledger_tx tx;
	assert_int_equal(fc_ledger_get_tx(c->l, id, &tx, c->msg), FC_OK);
	assert_int_equal(tx.height, 1);
	assert_int_equal(tx.index, 0);
	assert_int_equal(tx.status, FLEXCHAIN__TX_STATUS__TX_VALID);

	/* a new id that occurs twice in one block: the first occurrence wins */
	struct lf_tx t3[3] = {wtx(0, "q", NULL), wtx(0, "r", NULL), wtx(0, "s", NULL)};
	t3[1].nonce_salt = t3[2].nonce_salt = 777;
	t3[1].same_id_as_salt = t3[2].same_id_as_salt = 1;
	t3[2].status = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
	struct lf_block *b3 = next_block(c, t3, 3);
	strcpy(id, b3->block->envelopes[1]->proposal->tx_id);
	append_ok(c, b3);
	lf_block_free(b3);
	assert_int_equal(fc_ledger_get_tx(c->l, id, &tx, c->msg), FC_OK);
	assert_int_equal(tx.height, 3);
	assert_int_equal(tx.index, 1);
	assert_int_equal(tx.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	expect_state(c, "s", 0, 0, NULL);
	expect_verify_ok(c);
}

static void test_reopen_persists(void **state)
{
	struct ctx *c = *state;
	struct lf_tx t0 = {.config_seq = 3};
	append_txs(c, &t0, 1);
	struct lf_tx t1[2] = {wtx(0, "r1", "r2"), wtx(0, "r3", NULL)};
	struct lf_block *b1 = next_block(c, t1, 2);
	char id[FC_TXID_HEX_LEN + 1];
	strcpy(id, b1->block->envelopes[1]->proposal->tx_id);
	append_ok(c, b1);
	lf_block_free(b1);

	reopen(c);
	uint64_t h;
	uint8_t hash[FC_HASH_LEN];
	assert_int_equal(fc_ledger_head(c->l, &h, hash), FC_OK);
	assert_int_equal(h, 1);
	assert_memory_equal(hash, c->head, FC_HASH_LEN);
	expect_state(c, "r3", 1, fc_version_pack(1, 1), "r3");
	struct fc_ledger_tx tx;
	assert_int_equal(fc_ledger_get_tx(c->l, id, &tx, c->msg), FC_OK);
	assert_int_equal(tx.height, 1);
	assert_int_equal(tx.index, 1);
	Flexchain__ConfigTx *cfg;
	assert_int_equal(fc_ledger_get_config(c->l, &cfg, &h, c->msg), FC_OK);
	assert_int_equal(cfg->sequence, 3);
	fc_wire_free(&cfg->base);
	Flexchain__Block *b;
	assert_int_equal(fc_ledger_get_block_by_hash(c->l, c->head, &b, c->msg), FC_OK);
	assert_int_equal(b->header->height, 1);
	fc_wire_free(&b->base);

	/* the chain continues after the reopen; a config update replaces */
	struct lf_tx t2[2] = {wtx(0, "r1", NULL), {.config_seq = 4}};
	append_txs(c, t2, 2);
	reopen(c);
	assert_int_equal(fc_ledger_get_config(c->l, &cfg, &h, c->msg), FC_OK);
	assert_int_equal(cfg->sequence, 4);
	assert_int_equal(h, 2);
	fc_wire_free(&cfg->base);
	expect_state(c, "r1", 1, fc_version_pack(2, 0), "r1");
	expect_verify_ok(c);
}

static void test_iter_from_middle_and_follow(void **state)
{
	struct ctx *c = *state;
	struct lf_tx t = wtx(0, "i", NULL);
	append_genesis(c);
	for (int i = 0; i < 5; i++)
		append_txs(c, &t, 1); /* heights 1..5 */

	struct fc_ledger_iter *it;
	const struct fc_ledger_entry *e;
	assert_int_equal(fc_ledger_iter_from(c->l, 3, FC_LEDGER_ITER_FOLLOW, 0, &it, c->msg),
			 FC_OK);
	for (uint64_t h = 3; h <= 5; h++) {
		assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
		assert_non_null(e);
		assert_int_equal(e->height, h);
		assert_int_equal(e->block->header->height, h);
	}
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	/* a stream picks up blocks appended later */
	append_txs(c, &t, 1);
	assert_int_equal(fc_ledger_wait(c->l, 6, 1000), FC_OK);
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_non_null(e);
	assert_int_equal(e->height, 6);
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);

	/* bounded range in the middle */
	assert_int_equal(fc_ledger_iter_from(c->l, 2, 4, 0, &it, c->msg), FC_OK);
	for (uint64_t h = 2; h <= 4; h++) {
		assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
		assert_non_null(e);
		assert_int_equal(e->height, h);
	}
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);
	/* empty range */
	assert_int_equal(fc_ledger_iter_from(c->l, 4, 2, 0, &it, c->msg), FC_OK);
	assert_int_equal(fc_ledger_iter_next(it, &e, c->msg), FC_OK);
	assert_null(e);
	fc_ledger_iter_destroy(it);
	assert_int_equal(fc_ledger_wait(c->l, 7, 20), FC_ETIMEOUT);
}

/* A reader thread follows the commit stream (the pattern in fc_ledger.h)
 * while the main thread appends; it must see every height once, in order. */
#define STREAM_BLOCKS 12

struct streamer {
	struct fc_ledger *l;
	uint64_t seen[STREAM_BLOCKS + 1];
	int n;
	int rc;
};

static void *stream_main(void *arg)
{
	struct streamer *s = arg;
	struct fc_ledger_iter *it;
	const struct fc_ledger_entry *e;
	char msg[FC_ERRMSG_LEN];
	uint64_t next = 0;
	int idle = 0;

	s->rc = fc_ledger_iter_from(s->l, 0, STREAM_BLOCKS, 0, &it, msg);
	if (s->rc)
		return NULL;
	while (next <= STREAM_BLOCKS && idle < 50) {
		s->rc = fc_ledger_iter_next(it, &e, msg);
		if (s->rc)
			break;
		if (!e) {
			/* bounded: at most 50 waits of 100 ms without progress */
			if (fc_ledger_wait(s->l, next, 100) == FC_ETIMEOUT)
				idle++;
			continue;
		}
		idle = 0;
		if (e->block->header->height != e->height || e->verdict->height != e->height) {
			s->rc = FC_EINTERNAL;
			break;
		}
		s->seen[s->n++] = e->height;
		next = e->height + 1;
	}
	fc_ledger_iter_destroy(it);
	return NULL;
}

static void test_concurrent_stream_reader(void **state)
{
	struct ctx *c = *state;
	struct streamer s = {.l = c->l};
	pthread_t th;
	struct lf_tx t = wtx(0, "s", NULL);

	assert_int_equal(pthread_create(&th, NULL, stream_main, &s), 0);
	append_genesis(c);
	for (int i = 0; i < STREAM_BLOCKS; i++)
		append_txs(c, &t, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.rc, FC_OK);
	assert_int_equal(s.n, STREAM_BLOCKS + 1);
	for (int i = 0; i <= STREAM_BLOCKS; i++)
		assert_int_equal(s.seen[i], i);
}

/* Edits the closed ledger's RocksDB directly, then verify must notice. */
static void raw_edit(struct ctx *c, const char *cf_name, const char *key, size_t klen,
		     const char *val, size_t vlen)
{
	static const char *const names[] = {"default", "blocks",  "block_hash", "verdicts",
					    "certs",   "txindex", "state",	"meta"};
	const rocksdb_options_t *opts[8];
	rocksdb_column_family_handle_t *h[8];
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;
	int idx = -1;

	for (int i = 0; i < 8; i++) {
		opts[i] = o;
		if (strcmp(names[i], cf_name) == 0)
			idx = i;
	}
	assert_true(idx >= 0);
	fc_ledger_close(c->l);
	c->l = NULL;
	rocksdb_t *db = rocksdb_open_column_families(o, c->dir, 8, names, opts, h, &err);
	assert_null(err);
	if (val)
		rocksdb_put_cf(db, wo, h[idx], key, klen, val, vlen, &err);
	else
		rocksdb_delete_cf(db, wo, h[idx], key, klen, &err);
	assert_null(err);
	for (int i = 0; i < 8; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
	assert_int_equal(fc_ledger_open(c->dir, NULL, &c->l, c->msg), FC_OK);
}

static void test_verify_reports_first_difference(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx t[2] = {wtx(0, "k01", "k02"), wtx(0, "k03", NULL)};
	append_txs(c, t, 2);
	expect_verify_ok(c);

	/* a changed value */
	char v[8 + 3];
	memset(v, 0, 8);
	v[7] = 9;
	memcpy(v + 8, "zzz", 3);
	raw_edit(c, "state", "k02", 3, v, sizeof v);
	assert_int_equal(fc_ledger_verify(c->l, NULL, NULL, c->msg), FC_EMISMATCH);
	assert_string_equal(c->msg, "verify: state key 6b3032 (hex): replay has version "
				    "0x100000000, 3 value bytes, stored has version 0x9, 3 value "
				    "bytes");
	/* a key that replay does not produce */
	raw_edit(c, "state", "k02", 3, NULL, 0);
	raw_edit(c, "state", "k00", 3, v, sizeof v);
	assert_int_equal(fc_ledger_verify(c->l, NULL, NULL, c->msg), FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "state key 6b3030 (hex): replay has none, stored has"));
	/* on disk scratch as well */
	assert_int_equal(fc_ledger_verify(c->l, "/tmp", NULL, c->msg), FC_EMISMATCH);
	assert_non_null(strstr(c->msg, "state key 6b3030"));
}

static void test_fail_nth_allocation(void **state)
{
	struct ctx *c = *state;
	append_genesis(c);
	struct lf_tx t[3] = {wtx(0, "f1", "f2"), wtx(0, "f3", NULL), {.config_seq = 2}};
	struct lf_block *b = next_block(c, t, 3);
	unsigned long n;
	int rc = FC_ENOMEM;

	/* append: every failure leaves the ledger unchanged */
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		uint64_t h;
		fc_mem_fail_nth(n);
		rc = fc_ledger_append(c->l, b->block, b->verdict, b->cert, c->msg);
		fc_mem_fail_nth(0);
		if (rc == FC_OK)
			break;
		assert_int_equal(rc, FC_ENOMEM);
		assert_int_equal(fc_ledger_applied_height(c->l, &h), FC_OK);
		assert_int_equal(h, 0);
	}
	assert_int_equal(rc, FC_OK);
	assert_true(n > 1); /* the hook did reach the append path */
	memcpy(c->head, b->hash, FC_HASH_LEN);
	c->next = 2;
	lf_block_free(b);

	/* reads */
	rc = FC_ENOMEM;
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		Flexchain__Block *blk;
		fc_mem_fail_nth(n);
		rc = fc_ledger_get_block(c->l, 1, &blk, c->msg);
		fc_mem_fail_nth(0);
		if (rc == FC_OK)
			fc_wire_free(&blk->base);
		else
			assert_null(blk);
	}
	assert_int_equal(rc, FC_OK);
	rc = FC_ENOMEM;
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		struct fc_ledger_kv kvs[3] = {{.key = (const uint8_t *)"f1", .key_len = 2},
					      {.key = (const uint8_t *)"no", .key_len = 2},
					      {.key = (const uint8_t *)"f3", .key_len = 2}};
		fc_mem_fail_nth(n);
		rc = fc_ledger_state_get_batch(c->l, kvs, 3, c->msg);
		fc_mem_fail_nth(0);
		for (int i = 0; i < 3 && rc; i++) {
			assert_null(kvs[i].value);
			assert_int_equal(kvs[i].found, 0);
		}
		if (rc == FC_OK) {
			assert_true(kvs[0].found && !kvs[1].found && kvs[2].found);
			fc_ledger_kv_release(kvs, 3);
		}
	}
	assert_int_equal(rc, FC_OK);
	rc = FC_ENOMEM;
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		struct fc_ledger_iter *it = NULL;
		const struct fc_ledger_entry *e = NULL;
		fc_mem_fail_nth(n);
		rc = fc_ledger_iter_from(c->l, 0, 1, 0, &it, c->msg);
		if (rc == FC_OK) {
			rc = fc_ledger_iter_next(it, &e, c->msg);
			if (rc == FC_OK)
				rc = fc_ledger_iter_next(it, &e, c->msg);
		}
		fc_mem_fail_nth(0);
		if (rc == FC_OK) {
			assert_non_null(e);
			assert_int_equal(e->height, 1);
		}
		fc_ledger_iter_destroy(it);
	}
	assert_int_equal(rc, FC_OK);
	rc = FC_ENOMEM;
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		Flexchain__ConfigTx *cfg;
		fc_mem_fail_nth(n);
		rc = fc_ledger_get_config(c->l, &cfg, NULL, c->msg);
		fc_mem_fail_nth(0);
		if (rc == FC_OK)
			fc_wire_free(&cfg->base);
	}
	assert_int_equal(rc, FC_OK);
	rc = FC_ENOMEM;
	for (n = 1; n < 2000 && rc == FC_ENOMEM; n++) {
		fc_mem_fail_nth(n);
		rc = fc_ledger_verify(c->l, NULL, NULL, c->msg);
		fc_mem_fail_nth(0);
	}
	assert_int_equal(rc, FC_OK);
	/* open */
	fc_ledger_close(c->l);
	c->l = NULL;
	rc = FC_ENOMEM;
	for (n = 1; n < 100 && rc == FC_ENOMEM; n++) {
		fc_mem_fail_nth(n);
		rc = fc_ledger_open(c->dir, NULL, &c->l, c->msg);
		fc_mem_fail_nth(0);
		if (rc)
			assert_null(c->l);
	}
	assert_int_equal(rc, FC_OK);
	expect_verify_ok(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(test_empty_ledger),
	    T(test_append_chain_and_read_back),
	    T(test_gap_refused),
	    T(test_wrong_prev_hash_refused),
	    T(test_idempotent_reappend),
	    T(test_same_height_different_block),
	    T(test_decision_must_match_block),
	    T(test_genesis_tx0_may_not_write),
	    T(test_invalid_tx_writes_not_applied),
	    T(test_deletes),
	    T(test_version_packing),
	    T(test_batch_get_mixed),
	    T(test_duplicate_txid),
	    T(test_reopen_persists),
	    T(test_iter_from_middle_and_follow),
	    T(test_concurrent_stream_reader),
	    T(test_verify_reports_first_difference),
	    T(test_fail_nth_allocation),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
