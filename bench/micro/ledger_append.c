/* bench-ledger_append: sustained append rate of certified blocks into the
 * storage pool's ledger (fc_ledger_append, one synced RocksDB write batch
 * per block).
 *
 *   bench-ledger_append [--blocks N] [--seconds S] [--dir D] [--txs T]
 *                       [--writes W] [--value B] [--skip-hash-checks]
 *
 * Defaults: 500 transactions per block, 2 writes each, 100-byte values, a
 * realistic envelope (500-byte creator and endorser certificates, two
 * endorsements, 70-byte signatures, 2 reads) and a ~500-byte orderer
 * certificate in header, verdicts and commit certificate. Stops after N
 * blocks (default 300) or S seconds (default 20), whichever comes first.
 * Without --dir it works in a fresh directory under /tmp and removes it.
 *
 * Only the time inside fc_ledger_append is measured (blocks are built
 * between appends and not counted); the wall time is printed as well.
 */
#define _GNU_SOURCE /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_err.h"
#include "fc_ledger.h"
#include "fc_log.h"

#include "../../storage-pool/ledger_fixture.h"
#include "bench_util.h"

#define KEYSPACE 1000000u

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static void usage(void)
{
	fprintf(stderr, "usage: bench-ledger_append [--blocks N] [--seconds S] [--dir D] [--txs T] "
			"[--writes W] [--value B] [--skip-hash-checks]\n");
}

int main(int argc, char **argv)
{
	unsigned long max_blocks = 300, ntx = 500, nwrites = 2, vsize = 100;
	double max_seconds = 20;
	const char *dir_arg = NULL;
	char dir[256];
	struct fc_ledger_opts opts;
	struct fc_ledger *l = NULL;
	char msg[FC_ERRMSG_LEN];
	struct lf_sizes sz;
	struct lf_tx *txs = NULL;
	char *keys = NULL;
	uint8_t *vals = NULL;
	double *lat = NULL;
	uint8_t prev[FC_HASH_LEN] = {0};
	unsigned long done = 0, txs_done = 0;
	size_t block_bytes = 0;
	double t_append = 0, t0, wall;
	int rc = 1;

	fc_ledger_opts_init(&opts);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--skip-hash-checks") == 0) {
			opts.skip_hash_checks = 1;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		if (strcmp(a, "--blocks") == 0)
			max_blocks = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			max_seconds = strtod(v, NULL);
		else if (strcmp(a, "--dir") == 0)
			dir_arg = v;
		else if (strcmp(a, "--txs") == 0)
			ntx = strtoul(v, NULL, 10);
		else if (strcmp(a, "--writes") == 0)
			nwrites = strtoul(v, NULL, 10);
		else if (strcmp(a, "--value") == 0)
			vsize = strtoul(v, NULL, 10);
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (max_blocks < 1 || ntx < 1 || nwrites < 1 || nwrites > LF_MAX_WRITES) {
		fprintf(stderr, "bad arguments (1 <= writes <= %d)\n", LF_MAX_WRITES);
		return 2;
	}
	fc_log_set_level(FC_LOG_WARN);
	if (dir_arg) {
		snprintf(dir, sizeof dir, "%s", dir_arg);
	} else {
		snprintf(dir, sizeof dir, "/tmp/fc-bench-ledger-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	}

	memset(&sz, 0, sizeof sz);
	sz.creator = 500;
	sz.signature = 70;
	sz.endorser = 500;
	sz.n_endorsements = 2;
	sz.n_reads = 2;
	sz.response = 16;
	sz.cert_blob = 500;
	sz.timestamp = 1700000000000ull;

	txs = calloc(ntx, sizeof *txs);
	keys = calloc(ntx * nwrites, 16);
	vals = malloc(ntx * nwrites * (vsize ? vsize : 1));
	lat = calloc(max_blocks, sizeof *lat);
	if (!txs || !keys || !vals || !lat) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	if (fc_ledger_open(dir, &opts, &l, msg)) {
		fprintf(stderr, "open: %s\n", msg);
		goto out;
	}

	t0 = bench_now_s();
	for (uint64_t h = 0; done < max_blocks && bench_now_s() - t0 < max_seconds; h++) {
		struct lf_block *b;
		size_t n = h == 0 ? 1 : ntx;

		memset(txs, 0, ntx * sizeof *txs);
		if (h == 0) {
			txs[0].config_seq = 1; /* genesis: config only */
		} else {
			for (size_t i = 0; i < ntx; i++) {
				uint64_t r = bench_rng(&rng_state);
				/* distinct keys inside one transaction */
				unsigned base = (unsigned)(r % KEYSPACE);
				txs[i].status = r % 20 == 0
						    ? FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT
						    : FLEXCHAIN__TX_STATUS__TX_VALID;
				txs[i].n_writes = nwrites;
				for (size_t w = 0; w < nwrites; w++) {
					char *k = keys + (i * nwrites + w) * 16;
					uint8_t *v = vals + (i * nwrites + w) * vsize;
					snprintf(k, 16, "acct%08u",
						 (unsigned)((base + w * 7919u) % KEYSPACE));
					for (size_t j = 0; j < vsize; j++)
						v[j] = (uint8_t)(bench_rng(&rng_state) >> 24);
					txs[i].writes[w] = (struct lf_write){
					    .key = k, .value = v, .value_len = vsize};
				}
			}
		}
		b = lf_block_new(h, prev, txs, n, &sz);
		if (h == 1)
			block_bytes = flexchain__block__get_packed_size(b->block) +
				      flexchain__verdict__get_packed_size(b->verdict) +
				      flexchain__commit_certificate__get_packed_size(b->cert);
		double a = bench_now_s();
		int arc = fc_ledger_append(l, b->block, b->verdict, b->cert, msg);
		double d = bench_now_s() - a;
		memcpy(prev, b->hash, FC_HASH_LEN);
		lf_block_free(b);
		if (arc) {
			fprintf(stderr, "append %llu: %s\n", (unsigned long long)h, msg);
			goto out;
		}
		if (h == 0)
			continue; /* genesis is not a 500-transaction block */
		lat[done++] = d;
		t_append += d;
		txs_done += ntx;
	}
	wall = bench_now_s() - t0;
	if (done == 0) {
		fprintf(stderr, "no block appended\n");
		goto out;
	}
	qsort(lat, done, sizeof *lat, bench_cmp_double);
	printf("ledger_append: dir=%s txs/block=%lu writes/tx=%lu value=%luB "
	       "block+verdict+cert=%.1f KiB wal_sync=1 hash_checks=%s\n",
	       dir, ntx, nwrites, vsize, (double)block_bytes / 1024,
	       opts.skip_hash_checks ? "off" : "on");
	printf("appended %lu blocks (%lu txs) in %.2f s inside fc_ledger_append (wall %.2f s "
	       "incl. building blocks)\n",
	       done, txs_done, t_append, wall);
	printf("blocks/s: %.1f  transactions/s: %.0f\n", (double)done / t_append,
	       (double)txs_done / t_append);
	printf("append latency ms: p50 %.2f  p99 %.2f  max %.2f\n", lat[done / 2] * 1e3,
	       lat[(size_t)((double)(done - 1) * 0.99)] * 1e3, lat[done - 1] * 1e3);
	rc = 0;
out:
	fc_ledger_close(l);
	if (!dir_arg)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(lat);
	free(vals);
	free(keys);
	free(txs);
	return rc;
}
