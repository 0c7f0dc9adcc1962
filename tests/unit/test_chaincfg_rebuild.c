/* Tests of fc_chaincfg_rebuild.h: the configuration in force at every
 * height of a ledger built with the ledger fixture (config transactions
 * valid, refused by the validators, two in one block, one the snapshot
 * refuses), read through a block source over the ledger in small batches;
 * incremental folding, the `changed` hook, and replies that do not fit. */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_ledger.h"
#include "fc_test_chain.h"
#include "fc_wire.h"

#include "../../storage-pool/ledger_fixture.h"

#define N_BLOCKS 7

static struct fct_pki pki;
static char dir[64];
static struct fc_config *cfg;
static struct fc_chaincfg *gen;
static struct fc_ledger *ledger;

/* Block contents: config sequence per transaction (0 = a normal one) and
 * the certified status. */
struct btx {
	uint64_t seq;
	int status;
};
static const struct btx blocks[N_BLOCKS][2] = {
    {{0, 0}, {0, 0}},
    {{0, 0}, {1, FLEXCHAIN__TX_STATUS__TX_VALID}}, /* seq 1 from height 2 */
    {{2, FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG}, {0, 0}},
    {{0, 0}, {0, FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT}},
    {{2, FLEXCHAIN__TX_STATUS__TX_VALID}, {3, FLEXCHAIN__TX_STATUS__TX_VALID}}, /* from 5 */
    {{0, 0}, {0, 0}},
    {{9, FLEXCHAIN__TX_STATUS__TX_VALID}, {0, 0}}, /* refused by the snapshot: kept */
};

/* Sequence in force at height h (0..N_BLOCKS) and its first height. */
static uint64_t seq_at(uint64_t h)
{
	return h >= 5 ? 3 : h >= 2 ? 1 : 0;
}
static uint64_t from_at(uint64_t h)
{
	return h >= 5 ? 5 : h >= 2 ? 2 : 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int build_ledger(const char *path, char *err)
{
	struct lf_sizes sz;
	uint8_t prev[FC_HASH_LEN] = {0};

	lf_sizes_small(&sz);
	if (fc_ledger_open(path, NULL, &ledger, err) != FC_OK)
		return -1;
	for (uint64_t h = 0; h < N_BLOCKS; h++) {
		struct lf_tx txs[2];
		struct lf_block *lb;
		int rc;

		memset(txs, 0, sizeof txs);
		for (int i = 0; i < 2; i++) {
			txs[i].config_seq = blocks[h][i].seq;
			txs[i].status = blocks[h][i].status;
		}
		lb = lf_block_new(h, prev, txs, 2, &sz);
		rc = fc_ledger_append(ledger, lb->block, lb->verdict, lb->cert, err);
		memcpy(prev, lb->hash, FC_HASH_LEN);
		lf_block_free(lb);
		if (rc != FC_OK)
			return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "", path[128], yaml[2048];
	snprintf(dir, sizeof dir, "/tmp/fc-ccrebuild-XXXXXX");
	if (!mkdtemp(dir) || fct_pki_init(&pki, err) != FC_OK)
		return -1;
	snprintf(path, sizeof path, "%s/org1.crt", dir);
	if (fc_crypto_cert_save_pem(pki.ca[FCT_ORG1], path, 0, err) != FC_OK)
		return -1;
	snprintf(path, sizeof path, "%s/org2.crt", dir);
	if (fc_crypto_cert_save_pem(pki.ca[FCT_ORG2], path, 0, err) != FC_OK)
		return -1;
	snprintf(yaml, sizeof yaml,
		 "cluster: t\ncrypto_dir: %s\n"
		 "organisations:\n"
		 "  - {name: Org1, ca_cert: %s/org1.crt}\n"
		 "  - {name: Org2, ca_cert: %s/org2.crt}\n"
		 "policies:\n  - {name: any, rule: \"OR(Org1,Org2)\"}\n"
		 "default_policy: any\n"
		 "orderers:\n  - {id: orderer0, org: Org1, port: 17050, raft_port: 17060}\n"
		 "storage:\n  write_quorum: 2\n  replicas:\n"
		 "    - {id: storage0, org: Org1, port: 17100}\n"
		 "    - {id: storage1, org: Org2, port: 17101}\n",
		 dir, dir, dir);
	if (fc_config_parse(yaml, strlen(yaml), "t.yaml", dir, &cfg, err) != FC_OK ||
	    fc_chaincfg_genesis(cfg, &gen, err) != FC_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof path, "%s/ledger", dir);
	if (build_ledger(path, err) != 0) {
		fprintf(stderr, "ledger: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fc_ledger_close(ledger);
	fc_chaincfg_unref(gen);
	fc_config_free(cfg);
	fct_pki_destroy(&pki);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------ a ledger source */

struct src_state {
	uint64_t max;	     /* blocks per reply at most */
	int calls;	     /* fetches */
	int changes;	     /* `changed` calls */
	uint64_t froms[8];   /* first heights of the snapshots reported */
	uint64_t bad_height; /* reply with a block of another height there */
};

static void src_release(void *ud, Flexchain__BlockReply *br)
{
	(void)ud;
	for (size_t i = 0; i < br->n_blocks; i++)
		fc_wire_free(&br->blocks[i]->base);
	for (size_t i = 0; i < br->n_decisions; i++) {
		fc_wire_free(&br->decisions[i]->verdict->base);
		free(br->decisions[i]);
	}
	free(br->blocks);
	free(br->decisions);
	free(br);
}

static int src_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
		     char *errmsg)
{
	struct src_state *st = ud;
	Flexchain__BlockReply *br = calloc(1, sizeof *br);
	uint64_t n = count < st->max ? count : st->max;
	int rc = FC_OK;

	st->calls++;
	assert_non_null(br);
	flexchain__block_reply__init(br);
	br->blocks = calloc(n, sizeof *br->blocks);
	br->decisions = calloc(n, sizeof *br->decisions);
	assert_true(br->blocks && br->decisions);
	for (uint64_t h = from; h < from + n; h++) {
		uint64_t read = h == st->bad_height ? h + 1 : h;
		Flexchain__Decision *d = calloc(1, sizeof *d);
		Flexchain__Block *b = NULL;

		assert_non_null(d);
		flexchain__decision__init(d);
		rc = fc_ledger_get_block(ledger, read, &b, errmsg);
		if (rc == FC_OK)
			rc = fc_ledger_get_verdict(ledger, read, &d->verdict, errmsg);
		if (rc != FC_OK) {
			if (b)
				fc_wire_free(&b->base);
			free(d);
			break;
		}
		br->blocks[br->n_blocks++] = b;
		br->decisions[br->n_decisions++] = d;
	}
	if (rc == FC_ENOTFOUND && br->n_blocks)
		rc = FC_OK;
	if (rc != FC_OK) {
		src_release(ud, br);
		return rc;
	}
	*out = br;
	return FC_OK;
}

static void src_changed(void *ud, struct fc_chaincfg *cc)
{
	struct src_state *st = ud;

	if (st->changes < 8)
		st->froms[st->changes] = fc_chaincfg_from_height(cc);
	st->changes++;
}

/* ------------------------------------------------------------ tests */

/* The whole ledger, two blocks per reply: every change reported, the
 * refused one at height 6 skipped. */
static void test_rebuild_whole_ledger(void **state)
{
	(void)state;
	struct src_state st = {.max = 2, .bad_height = UINT64_MAX};
	struct fc_chaincfg_source src = {src_fetch, src_release, src_changed, &st};
	struct fc_chaincfg *cc = fc_chaincfg_ref(gen);
	char err[FC_ERRMSG_LEN] = "";
	uint64_t next = 0;

	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, N_BLOCKS, &src, err), FC_OK);
	assert_int_equal(next, N_BLOCKS);
	assert_int_equal(fc_chaincfg_sequence(cc), 3);
	assert_int_equal(fc_chaincfg_from_height(cc), 5);
	assert_int_equal(fc_chaincfg_config(cc)->storage.write_quorum, 1);
	assert_int_equal(st.calls, (N_BLOCKS + 1) / 2);
	assert_int_equal(st.changes, 2);
	assert_int_equal(st.froms[0], 2);
	assert_int_equal(st.froms[1], 5);
	/* genesis is untouched */
	assert_int_equal(fc_chaincfg_sequence(gen), 0);
	assert_int_equal(fc_chaincfg_config(gen)->storage.write_quorum, 2);
	fc_chaincfg_unref(cc);
}

/* The configuration in force at every height, from genesis, and the same
 * by folding on from the one before. */
static void test_rebuild_every_height(void **state)
{
	(void)state;
	struct src_state st = {.max = FC_CHAINCFG_REBUILD_BATCH, .bad_height = UINT64_MAX};
	struct fc_chaincfg_source src = {.fetch = src_fetch, .release = src_release, .ud = &st};
	struct fc_chaincfg *step = fc_chaincfg_ref(gen);
	uint64_t step_next = 0;
	char err[FC_ERRMSG_LEN] = "";

	for (uint64_t h = 0; h <= N_BLOCKS; h++) {
		struct fc_chaincfg *cc = fc_chaincfg_ref(gen);
		uint64_t next = 0;

		assert_int_equal(fc_chaincfg_rebuild(&cc, &next, h, &src, err), FC_OK);
		assert_int_equal(next, h);
		assert_int_equal(fc_chaincfg_sequence(cc), seq_at(h));
		assert_int_equal(fc_chaincfg_from_height(cc), from_at(h));
		assert_int_equal(fc_chaincfg_rebuild(&step, &step_next, h, &src, err), FC_OK);
		assert_int_equal(step_next, h);
		assert_int_equal(fc_chaincfg_sequence(step), seq_at(h));
		assert_int_equal(fc_chaincfg_from_height(step), from_at(h));
		fc_chaincfg_unref(cc);
	}
	fc_chaincfg_unref(step);
}

/* A block without a valid config transaction keeps the very snapshot. */
static void test_advance_unchanged(void **state)
{
	(void)state;
	struct fc_chaincfg *cc = fc_chaincfg_ref(gen);
	Flexchain__Block *b = NULL;
	Flexchain__Verdict *v = NULL;
	char err[FC_ERRMSG_LEN] = "";

	for (uint64_t h = 2; h <= 3; h++) {
		assert_int_equal(fc_ledger_get_block(ledger, h, &b, err), FC_OK);
		assert_int_equal(fc_ledger_get_verdict(ledger, h, &v, err), FC_OK);
		assert_int_equal(fc_chaincfg_advance(&cc, b, v->tx_status.data, err), FC_OK);
		assert_ptr_equal(cc, gen);
		fc_wire_free(&b->base);
		fc_wire_free(&v->base);
	}
	assert_int_equal(fc_chaincfg_advance(&cc, NULL, NULL, err), FC_EINVAL);
	fc_chaincfg_unref(cc);
}

/* Asking beyond the ledger's head: the source's FC_ENOTFOUND, with what
 * was folded kept; a block of another height: FC_EPROTO naming it. */
static void test_rebuild_errors(void **state)
{
	(void)state;
	struct src_state st = {.max = 4, .bad_height = UINT64_MAX};
	struct fc_chaincfg_source src = {.fetch = src_fetch, .release = src_release, .ud = &st};
	struct fc_chaincfg *cc = fc_chaincfg_ref(gen);
	char err[FC_ERRMSG_LEN] = "";
	uint64_t next = 0;

	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, N_BLOCKS + 3, &src, err), FC_ENOTFOUND);
	assert_int_equal(next, N_BLOCKS);
	assert_int_equal(fc_chaincfg_sequence(cc), 3);
	assert_non_null(strstr(err, "height 7"));
	fc_chaincfg_unref(cc);

	cc = fc_chaincfg_ref(gen);
	next = 0;
	st.bad_height = 3;
	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, N_BLOCKS, &src, err), FC_EPROTO);
	assert_int_equal(next, 3);
	assert_int_equal(fc_chaincfg_sequence(cc), 1);
	assert_non_null(strstr(err, "height 3"));
	fc_chaincfg_unref(cc);

	next = 0;
	assert_int_equal(fc_chaincfg_rebuild(NULL, &next, 1, &src, err), FC_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rebuild_whole_ledger),
	    cmocka_unit_test(test_rebuild_every_height),
	    cmocka_unit_test(test_advance_unchanged),
	    cmocka_unit_test(test_rebuild_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
