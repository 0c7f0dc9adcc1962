/* bench-orderer_graph: time the orderer spends building the CBASE dependency
 * graph of one block (fc_depgraph_build), for blocks of 500 transactions of
 * 4 keys each (2 reads, 2 writes), over a large key space (few conflicts)
 * and a small one (many). Prints p50/p99/max in microseconds over many
 * blocks. A benchmark, not a test: it asserts nothing.
 *
 *   bench-orderer_graph [blocks]      (default 2000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "flexchain.pb-c.h"

#include "bench_util.h"

#define TXS 500
#define KEYLEN 16

struct blk {
	Flexchain__Envelope env[TXS], *envp[TXS];
	Flexchain__RWSet rw[TXS];
	Flexchain__KVRead rd[TXS][2], *rdp[TXS][2];
	Flexchain__KVWrite wr[TXS][2], *wrp[TXS][2];
	char keys[TXS][4][KEYLEN];
};

static uint64_t rng_state = 88172645463325252ull;

/* Four distinct keys, reads and writes each sorted (as fc_wire wants). */
static void fill(struct blk *b, uint64_t keyspace)
{
	for (int t = 0; t < TXS; t++) {
		uint64_t k[4];
		for (int i = 0; i < 4; i++) {
		again:
			k[i] = bench_rng(&rng_state) % keyspace;
			for (int j = 0; j < i; j++)
				if (k[j] == k[i])
					goto again;
		}
		for (int i = 0; i < 4; i++)
			snprintf(b->keys[t][i], KEYLEN, "k%012llu", (unsigned long long)k[i]);
		for (int i = 0; i < 2; i++) {
			int lo = strcmp(b->keys[t][2 * i], b->keys[t][2 * i + 1]) > 0;
			char *a = b->keys[t][2 * i + lo], *c = b->keys[t][2 * i + !lo];
			Flexchain__KVRead *r0 = &b->rd[t][0], *r1 = &b->rd[t][1];
			Flexchain__KVWrite *w0 = &b->wr[t][0], *w1 = &b->wr[t][1];
			if (i == 0) {
				flexchain__kvread__init(r0);
				flexchain__kvread__init(r1);
				r0->key = (ProtobufCBinaryData){strlen(a), (uint8_t *)a};
				r1->key = (ProtobufCBinaryData){strlen(c), (uint8_t *)c};
			} else {
				flexchain__kvwrite__init(w0);
				flexchain__kvwrite__init(w1);
				w0->key = (ProtobufCBinaryData){strlen(a), (uint8_t *)a};
				w1->key = (ProtobufCBinaryData){strlen(c), (uint8_t *)c};
			}
		}
		b->rdp[t][0] = &b->rd[t][0];
		b->rdp[t][1] = &b->rd[t][1];
		b->wrp[t][0] = &b->wr[t][0];
		b->wrp[t][1] = &b->wr[t][1];
		flexchain__rwset__init(&b->rw[t]);
		b->rw[t].n_reads = 2;
		b->rw[t].reads = b->rdp[t];
		b->rw[t].n_writes = 2;
		b->rw[t].writes = b->wrp[t];
		flexchain__envelope__init(&b->env[t]);
		b->env[t].rwset = &b->rw[t];
		b->envp[t] = &b->env[t];
	}
}

static void run(const char *name, uint64_t keyspace, int blocks)
{
	struct blk *b = calloc(1, sizeof *b);
	uint64_t *us = calloc((size_t)blocks, sizeof *us);
	size_t edges = 0;
	char errmsg[FC_ERRMSG_LEN];

	if (!b || !us) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (int i = 0; i < blocks; i++) {
		Flexchain__DependencyGraph *g = NULL;
		uint64_t t0;

		fill(b, keyspace);
		t0 = bench_now_ns();
		if (fc_depgraph_build(b->envp, TXS, &g, errmsg) != FC_OK) {
			fprintf(stderr, "depgraph: %s\n", errmsg);
			exit(1);
		}
		us[i] = (bench_now_ns() - t0) / 1000u;
		edges += fc_depgraph_edges(g);
		fc_depgraph_free(g);
	}
	qsort(us, (size_t)blocks, sizeof *us, bench_cmp_u64);
	printf("%-22s keyspace=%-8llu blocks=%d txs/block=%d keys/tx=4 edges/block=%.1f "
	       "p50=%lluus p99=%lluus max=%lluus\n",
	       name, (unsigned long long)keyspace, blocks, TXS, (double)edges / blocks,
	       (unsigned long long)us[blocks / 2], (unsigned long long)us[blocks * 99 / 100],
	       (unsigned long long)us[blocks - 1]);
	free(us);
	free(b);
}

int main(int argc, char **argv)
{
	int blocks = argc > 1 ? atoi(argv[1]) : 2000;

	if (blocks < 1)
		blocks = 1;
	run("low-contention", 1000000, blocks);
	run("medium-contention", 10000, blocks);
	run("high-contention", 100, blocks);
	return 0;
}
