/* storage_tamper DIR HEIGHT MODE - corrupts a stored block behind the
 * ledger's back (RocksDB directly), for the `flexchain ledger verify` test.
 *
 *   payload  flips a byte of envelope 0's response: the data hash no longer
 *            matches the header
 *   link     flips a byte of the header's prev_hash: the hash chain breaks
 *            (and the header signature no longer verifies)
 *
 * The daemon must be stopped. Exit 0 when the block was rewritten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"

int main(int argc, char **argv)
{
	rocksdb_options_t *opts;
	rocksdb_t *db;
	char *err = NULL, **names;
	size_t ncf = 0, vlen = 0, blocks_cf = (size_t)-1;
	const rocksdb_options_t **cfo;
	rocksdb_column_family_handle_t **cf;
	uint8_t key[8];
	uint64_t h;
	char *val;
	ProtobufCMessage *m = NULL;
	Flexchain__Block *b;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: storage_tamper DIR HEIGHT payload|link\n");
		return 2;
	}
	h = strtoull(argv[2], NULL, 10);
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(h >> (56 - 8 * i));
	opts = rocksdb_options_create();
	names = rocksdb_list_column_families(opts, argv[1], &ncf, &err);
	if (err) {
		fprintf(stderr, "storage_tamper: %s\n", err);
		return 1;
	}
	cfo = calloc(ncf, sizeof *cfo);
	cf = calloc(ncf, sizeof *cf);
	for (size_t i = 0; i < ncf; i++) {
		cfo[i] = opts;
		if (strcmp(names[i], "blocks") == 0)
			blocks_cf = i;
	}
	db = rocksdb_open_column_families(opts, argv[1], (int)ncf, (const char *const *)names, cfo,
					  cf, &err);
	if (err || blocks_cf == (size_t)-1) {
		fprintf(stderr, "storage_tamper: open: %s\n", err ? err : "no blocks family");
		return 1;
	}
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	val = rocksdb_get_cf(db, ro, cf[blocks_cf], (const char *)key, 8, &vlen, &err);
	if (!val) {
		fprintf(stderr, "storage_tamper: no block %llu\n", (unsigned long long)h);
		goto out;
	}
	if (fc_wire_decode(&flexchain__block__descriptor, (uint8_t *)val, vlen, FC_WIRE_MAX_BLOCK,
			   &m, NULL) != FC_OK) {
		fprintf(stderr, "storage_tamper: undecodable block\n");
		goto out;
	}
	b = (Flexchain__Block *)m;
	if (strcmp(argv[3], "payload") == 0 && b->n_envelopes && b->envelopes[0]->response.len)
		b->envelopes[0]->response.data[0] ^= 0x20;
	else if (strcmp(argv[3], "link") == 0 && b->header && b->header->prev_hash.len)
		b->header->prev_hash.data[0] ^= 0x01;
	else {
		fprintf(stderr, "storage_tamper: cannot apply %s\n", argv[3]);
		goto out;
	}
	if (fc_wire_encode(m, &buf, &len, NULL) != FC_OK)
		goto out;
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(wo, 1);
	rocksdb_put_cf(db, wo, cf[blocks_cf], (const char *)key, 8, (const char *)buf, len, &err);
	rocksdb_writeoptions_destroy(wo);
	if (err) {
		fprintf(stderr, "storage_tamper: put: %s\n", err);
		goto out;
	}
	printf("tampered block %llu (%s)\n", (unsigned long long)h, argv[3]);
	rc = 0;
out:
	fc_free(buf);
	fc_wire_free(m);
	rocksdb_free(val);
	rocksdb_free(err);
	rocksdb_readoptions_destroy(ro);
	for (size_t i = 0; i < ncf; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_close(db);
	rocksdb_list_column_families_destroy(names, ncf);
	rocksdb_options_destroy(opts);
	free(cfo);
	free(cf);
	return rc;
}
