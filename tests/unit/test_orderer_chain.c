/* Unit tests of the orderer's chain building: blocks made by
 * fc_ord_block_make verify and chain, tampering is caught, only orderers may
 * sign; the block log survives reopening and cuts a torn tail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc_wire.h"
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

/* Makes block `height` of n fresh envelopes on prev; returns it decoded and
 * its encoding in *buf and *len. */
static Flexchain__Block *make(uint64_t height, const uint8_t prev[FC_HASH_LEN], size_t n,
			      const fc_key *key, const uint8_t *der, size_t der_len, uint8_t **buf,
			      size_t *len, uint8_t hash[FC_HASH_LEN])
{
	Flexchain__Envelope *envs[16];
	Flexchain__Block *b = NULL;
	char err[FC_ERRMSG_LEN] = "";

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		envs[i] = ord_env_new(height * 100 + i % 2, pki.client_key, pki.client_der,
				      pki.client_der_len);
	assert_int_equal(fc_ord_block_make(height, prev, envs, n, 1700000000000ull + height, der,
					   der_len, key, buf, len, hash, err),
			 FC_OK);
	for (size_t i = 0; i < n; i++)
		ord_env_free(envs[i]);
	assert_int_equal(fc_wire_decode(&flexchain__block__descriptor, *buf, *len,
					FC_WIRE_MAX_BLOCK, (ProtobufCMessage **)&b, err),
			 FC_OK);
	return b;
}

static void test_chain_verifies(void **state)
{
	uint8_t prev[FC_HASH_LEN] = {0}, hash[FC_HASH_LEN], vhash[FC_HASH_LEN];
	char err[FC_ERRMSG_LEN] = "";

	for (uint64_t h = 0; h < 4; h++) {
		uint8_t *buf;
		size_t len;
		size_t n = h == 0 ? 0 : 5; /* genesis is empty */
		Flexchain__Block *b = make(h, prev, n, pki.orderer_key, pki.orderer_der,
					   pki.orderer_der_len, &buf, &len, hash);
		assert_int_equal(b->n_envelopes, n);
		assert_non_null(b->graph);
		assert_int_equal(b->graph->n_txs, n);
		/* Envelopes 0 and 2 touch the same keys: 2 depends on 0. */
		if (n) {
			assert_int_equal(b->graph->txs[2]->n_deps, 1);
			assert_int_equal(b->graph->txs[2]->deps[0], 0);
		}
		assert_int_equal(fc_ord_block_verify(pki.cs, b, h, prev, vhash, err), FC_OK);
		assert_memory_equal(hash, vhash, FC_HASH_LEN);
		/* Wrong height or wrong predecessor. */
		assert_int_equal(fc_ord_block_verify(pki.cs, b, h + 1, prev, vhash, err),
				 FC_EMISMATCH);
		if (h > 0) {
			uint8_t other[FC_HASH_LEN];
			memcpy(other, prev, FC_HASH_LEN);
			other[0] ^= 1;
			assert_int_equal(fc_ord_block_verify(pki.cs, b, h, other, vhash, err),
					 FC_EMISMATCH);
		}
		memcpy(prev, hash, FC_HASH_LEN);
		fc_wire_free(&b->base);
		fc_free(buf);
	}
}

static void test_tampering_detected(void **state)
{
	uint8_t prev[FC_HASH_LEN] = {0}, hash[FC_HASH_LEN], vhash[FC_HASH_LEN];
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *buf;
	size_t len;
	Flexchain__Block *b;

	b = make(1, prev, 3, pki.orderer_key, pki.orderer_der, pki.orderer_der_len, &buf, &len,
		 hash);
	/* Header timestamp changed: the signature no longer matches. */
	b->header->timestamp_ms++;
	assert_int_equal(fc_ord_block_verify(pki.cs, b, 1, prev, vhash, err), FC_EVERIFY);
	b->header->timestamp_ms--;
	assert_int_equal(fc_ord_block_verify(pki.cs, b, 1, prev, vhash, err), FC_OK);
	/* An envelope dropped: the data hash no longer matches. */
	b->n_envelopes--;
	b->graph->n_txs--;
	assert_int_equal(fc_ord_block_verify(pki.cs, b, 1, prev, vhash, err), FC_EMISMATCH);
	b->n_envelopes++;
	b->graph->n_txs++;
	fc_wire_free(&b->base);
	fc_free(buf);
}

static void test_only_orderers_sign(void **state)
{
	uint8_t prev[FC_HASH_LEN] = {0}, hash[FC_HASH_LEN], vhash[FC_HASH_LEN];
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *buf;
	size_t len;
	Flexchain__Block *b;

	/* A compute server's certificate from a trusted CA is not enough. */
	b = make(0, prev, 0, pki.compute_key, pki.compute_der, pki.compute_der_len, &buf, &len,
		 hash);
	assert_int_equal(fc_ord_block_verify(pki.cs, b, 0, prev, vhash, err), FC_EVERIFY);
	assert_non_null(strstr(err, "not an orderer"));
	fc_wire_free(&b->base);
	fc_free(buf);
	/* An untrusted CA. */
	b = make(0, prev, 0, pki.rogue_key, pki.rogue_der, pki.rogue_der_len, &buf, &len, hash);
	assert_int_equal(fc_ord_block_verify(pki.cs, b, 0, prev, vhash, err), FC_EVERIFY);
	fc_wire_free(&b->base);
	fc_free(buf);
}

struct count {
	uint64_t blocks, txs;
};

static int count_block(void *ud, const Flexchain__Block *b)
{
	struct count *c = ud;

	c->blocks++;
	c->txs += b->n_envelopes;
	return FC_OK;
}

static void test_blocklog(void **state)
{
	char dir[] = "/tmp/fc-test-orderer-log.XXXXXX", path[128];
	uint8_t prev[FC_HASH_LEN] = {0}, hash[FC_HASH_LEN], hashes[5][FC_HASH_LEN];
	char err[FC_ERRMSG_LEN] = "";
	struct fc_ord_blocklog l;
	struct count c = {0};
	uint8_t *bufs[5], *rd;
	size_t lens[5], rdlen;
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(fc_ord_blocklog_open(&l, dir, NULL, NULL, err), FC_OK);
	assert_int_equal(l.n, 0);
	for (uint64_t h = 0; h < 5; h++) {
		Flexchain__Block *b = make(h, prev, h ? 2 : 0, pki.orderer_key, pki.orderer_der,
					   pki.orderer_der_len, &bufs[h], &lens[h], hash);
		fc_wire_free(&b->base);
		assert_int_equal(fc_ord_blocklog_append(&l, bufs[h], lens[h], hash, err), FC_OK);
		memcpy(hashes[h], hash, FC_HASH_LEN);
		memcpy(prev, hash, FC_HASH_LEN);
	}
	assert_int_equal(l.n, 5);
	assert_int_equal(fc_ord_blocklog_read(&l, 5, &rd, &rdlen, err), FC_ENOTFOUND);
	fc_ord_blocklog_close(&l);

	/* Reopen: everything is there, in order, with the tip restored. */
	assert_int_equal(fc_ord_blocklog_open(&l, dir, count_block, &c, err), FC_OK);
	assert_int_equal(l.n, 5);
	assert_int_equal(c.blocks, 5);
	assert_int_equal(c.txs, 8);
	assert_memory_equal(l.tip, hashes[4], FC_HASH_LEN);
	for (uint64_t h = 0; h < 5; h++) {
		assert_int_equal(fc_ord_blocklog_read(&l, h, &rd, &rdlen, err), FC_OK);
		assert_int_equal(rdlen, lens[h]);
		assert_memory_equal(rd, bufs[h], rdlen);
		fc_free(rd);
	}
	fc_ord_blocklog_close(&l);

	/* A crash mid-append leaves a torn record: it is cut on open and the
	 * log continues from block 4. */
	snprintf(path, sizeof path, "%s/blocks.log", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 7), 0);
	assert_int_equal(fc_ord_blocklog_open(&l, dir, NULL, NULL, err), FC_OK);
	assert_int_equal(l.n, 4);
	assert_memory_equal(l.tip, hashes[3], FC_HASH_LEN);
	assert_int_equal(fc_ord_blocklog_append(&l, bufs[4], lens[4], hashes[4], err), FC_OK);
	fc_ord_blocklog_close(&l);
	assert_int_equal(fc_ord_blocklog_open(&l, dir, NULL, NULL, err), FC_OK);
	assert_int_equal(l.n, 5);
	fc_ord_blocklog_close(&l);

	/* A flipped byte in the last record: its checksum fails, it is cut. */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	uint8_t byte;
	assert_int_equal(pread(fd, &byte, 1, st.st_size - 3), 1);
	byte ^= 0xff;
	assert_int_equal(pwrite(fd, &byte, 1, st.st_size - 3), 1);
	close(fd);
	assert_int_equal(fc_ord_blocklog_open(&l, dir, NULL, NULL, err), FC_OK);
	assert_int_equal(l.n, 4);
	fc_ord_blocklog_close(&l);

	for (int h = 0; h < 5; h++)
		fc_free(bufs[h]);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_verifies),
	    cmocka_unit_test(test_tampering_detected),
	    cmocka_unit_test(test_only_orderers_sign),
	    cmocka_unit_test(test_blocklog),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
