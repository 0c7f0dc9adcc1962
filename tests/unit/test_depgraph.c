/* Unit tests of the CBASE dependency graph (common/validate/depgraph.c).
 *
 * The builder records a reduced edge set (last writer + readers since), so
 * the reference is the all-pairs conflict relation and what is compared is
 * reachability: the transitive closure of the built graph must equal the
 * transitive closure of "i < j and i, j touch a common key that one of them
 * writes". Every built edge must itself be a conflicting pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"

#define MAX_TXS 60 /* bitsets below are uint64_t */
#define MAX_RW 5
#define MAX_KEYSPACE 200

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned rnd(unsigned lo, unsigned hi) /* inclusive */
{
	return lo + (unsigned)(rng() % (uint64_t)(hi - lo + 1));
}

/* Key k as bytes: "" for 0 (a zero-length key, data NULL), else "k<k>", so
 * some keys are prefixes of others ("k1", "k10", "k100"). */
static char key_text[MAX_KEYSPACE][8];

static ProtobufCBinaryData key_of(unsigned k)
{
	if (k == 0)
		return (ProtobufCBinaryData){0, NULL};
	return (ProtobufCBinaryData){strlen(key_text[k]), (uint8_t *)key_text[k]};
}

/* A random block held in fixed arrays. Keys of one tx are drawn with
 * replacement: the builder must cope with repeated keys too. */
struct rblock {
	size_t n;
	Flexchain__Envelope env[MAX_TXS], *envp[MAX_TXS];
	Flexchain__RWSet rw[MAX_TXS];
	Flexchain__KVRead rd[MAX_TXS][MAX_RW], *rdp[MAX_TXS][MAX_RW];
	Flexchain__KVWrite wr[MAX_TXS][MAX_RW], *wrp[MAX_TXS][MAX_RW];
	unsigned rkey[MAX_TXS][MAX_RW], wkey[MAX_TXS][MAX_RW];
	int has_rw[MAX_TXS];
};

static void rblock_gen(struct rblock *b, size_t n, unsigned keyspace)
{
	memset(b, 0, sizeof *b);
	b->n = n;
	for (size_t j = 0; j < n; j++) {
		Flexchain__Envelope *e = &b->env[j];
		flexchain__envelope__init(e);
		b->envp[j] = e;
		unsigned kind = rnd(0, 49);
		if (kind == 0) { /* no envelope at all */
			b->envp[j] = NULL;
			continue;
		}
		if (kind <= 4) /* no rwset (a config transaction) */
			continue;
		b->has_rw[j] = 1;
		Flexchain__RWSet *rw = &b->rw[j];
		flexchain__rwset__init(rw);
		rw->n_reads = rnd(0, MAX_RW);
		rw->n_writes = rnd(0, MAX_RW);
		rw->reads = b->rdp[j];
		rw->writes = b->wrp[j];
		for (size_t r = 0; r < rw->n_reads; r++) {
			b->rkey[j][r] = rnd(0, keyspace - 1);
			flexchain__kvread__init(&b->rd[j][r]);
			b->rd[j][r].key = key_of(b->rkey[j][r]);
			b->rdp[j][r] = &b->rd[j][r];
		}
		for (size_t w = 0; w < rw->n_writes; w++) {
			b->wkey[j][w] = rnd(0, keyspace - 1);
			flexchain__kvwrite__init(&b->wr[j][w]);
			b->wr[j][w].key = key_of(b->wkey[j][w]);
			b->wrp[j][w] = &b->wr[j][w];
		}
		e->rwset = rw;
	}
}

static int touches(const struct rblock *b, size_t j, unsigned k, int want_write)
{
	if (!b->has_rw[j])
		return 0;
	const Flexchain__RWSet *rw = &b->rw[j];
	for (size_t w = 0; w < rw->n_writes; w++)
		if (b->wkey[j][w] == k)
			return 1;
	if (!want_write)
		for (size_t r = 0; r < rw->n_reads; r++)
			if (b->rkey[j][r] == k)
				return 1;
	return 0;
}

/* i < j conflict: a common key that at least one of them writes. */
static int conflict(const struct rblock *b, size_t i, size_t j)
{
	if (!b->has_rw[i] || !b->has_rw[j])
		return 0;
	const Flexchain__RWSet *ri = &b->rw[i];
	for (size_t w = 0; w < ri->n_writes; w++)
		if (touches(b, j, b->wkey[i][w], 0))
			return 1;
	for (size_t r = 0; r < ri->n_reads; r++)
		if (touches(b, j, b->rkey[i][r], 1))
			return 1;
	return 0;
}

/* Closure of the all-pairs conflict relation: reach[j] = transactions that
 * must precede j, directly or transitively. */
static void reference_closure(const struct rblock *b, uint64_t *reach)
{
	for (size_t j = 0; j < b->n; j++) {
		reach[j] = 0;
		for (size_t i = 0; i < j; i++)
			if (conflict(b, i, j))
				reach[j] |= reach[i] | (1ull << i);
	}
}

/* Checks the shape of g and returns its closure in reach. */
static void graph_closure(const struct rblock *b, const Flexchain__DependencyGraph *g,
			  uint64_t *reach)
{
	assert_int_equal(g->n_txs, b->n);
	for (size_t j = 0; j < b->n; j++) {
		const Flexchain__TxDeps *t = g->txs[j];
		assert_non_null(t);
		reach[j] = 0;
		for (size_t d = 0; d < t->n_deps; d++) {
			uint32_t i = t->deps[d];
			assert_true(i < j); /* also: no self edge */
			if (d)
				assert_true(t->deps[d - 1] < i);
			/* a recorded edge is a real conflict */
			assert_true(conflict(b, i, j));
			reach[j] |= reach[i] | (1ull << i);
		}
		if (!b->has_rw[j])
			assert_int_equal(t->n_deps, 0);
	}
}

static void setup_keys(void)
{
	for (unsigned k = 1; k < MAX_KEYSPACE; k++)
		snprintf(key_text[k], sizeof key_text[k], "k%u", k);
}

static void test_random_blocks_match_reference_closure(void **state)
{
	(void)state;
	static struct rblock b;
	uint64_t ref[MAX_TXS], got[MAX_TXS];
	char err[FC_ERRMSG_LEN];
	size_t total_edges = 0, total_conflicts = 0, total_reach = 0;

	setup_keys();
	rng_state = 0x2545f4914f6cdd1dull;
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rnd(1, MAX_TXS);
		/* key spaces from tiny (everything conflicts) to 200 (sparse) */
		unsigned keyspace = iter % 4 == 0 ? rnd(2, 5) : rnd(2, MAX_KEYSPACE);
		rblock_gen(&b, n, keyspace);

		Flexchain__DependencyGraph *g = NULL;
		err[0] = '\0';
		int rc = fc_depgraph_build(b.envp, n, &g, err);
		assert_int_equal(rc, FC_OK);
		assert_non_null(g);
		assert_int_equal(fc_wire_check_graph(g, n, err), FC_OK);

		graph_closure(&b, g, got);
		reference_closure(&b, ref);
		size_t edges = 0;
		for (size_t j = 0; j < n; j++) {
			if (ref[j] != got[j])
				fail_msg("block %d (n=%zu keyspace=%u): tx %zu reach %#llx, want %#llx",
					 iter, n, keyspace, j, (unsigned long long)got[j],
					 (unsigned long long)ref[j]);
			edges += g->txs[j]->n_deps;
			total_reach += (size_t)__builtin_popcountll(ref[j]);
			for (size_t i = 0; i < j; i++)
				total_conflicts += (size_t)conflict(&b, i, j);
		}
		assert_int_equal(fc_depgraph_edges(g), edges);
		total_edges += edges;
		fc_depgraph_free(g);
	}
	/* the generator really produced dependencies, and the reduction saved
	 * edges overall */
	assert_true(total_edges > 10000);
	assert_true(total_edges < total_conflicts);
	assert_true(total_reach >= total_conflicts);
}

/* Hand-made cases with known graphs. */
static void test_known_graph(void **state)
{
	(void)state;
	static struct rblock b;
	setup_keys();
	memset(&b, 0, sizeof b);
	/* tx0 w k1; tx1 r k1; tx2 r k1; tx3 w k1; tx4 r k2; tx5 w k2 r k1 */
	struct {
		unsigned nr, r[2], nw, w[2];
	} spec[6] = {{0, {0}, 1, {1}}, {1, {1}, 0, {0}}, {1, {1}, 0, {0}},
		     {0, {0}, 1, {1}}, {1, {2}, 0, {0}}, {1, {1}, 1, {2}}};
	b.n = 6;
	for (size_t j = 0; j < 6; j++) {
		flexchain__envelope__init(&b.env[j]);
		b.envp[j] = &b.env[j];
		b.has_rw[j] = 1;
		flexchain__rwset__init(&b.rw[j]);
		b.rw[j].reads = b.rdp[j];
		b.rw[j].writes = b.wrp[j];
		b.rw[j].n_reads = spec[j].nr;
		b.rw[j].n_writes = spec[j].nw;
		for (size_t r = 0; r < spec[j].nr; r++) {
			flexchain__kvread__init(&b.rd[j][r]);
			b.rkey[j][r] = spec[j].r[r];
			b.rd[j][r].key = key_of(spec[j].r[r]);
			b.rdp[j][r] = &b.rd[j][r];
		}
		for (size_t w = 0; w < spec[j].nw; w++) {
			flexchain__kvwrite__init(&b.wr[j][w]);
			b.wkey[j][w] = spec[j].w[w];
			b.wr[j][w].key = key_of(spec[j].w[w]);
			b.wrp[j][w] = &b.wr[j][w];
		}
		b.env[j].rwset = &b.rw[j];
	}
	Flexchain__DependencyGraph *g = NULL;
	assert_int_equal(fc_depgraph_build(b.envp, 6, &g, NULL), FC_OK);
	static const uint32_t want[6][3] = {{0}, {0}, {0}, {0, 1, 2}, {0}, {3, 4}};
	static const size_t nwant[6] = {0, 1, 1, 3, 0, 2};
	for (size_t j = 0; j < 6; j++) {
		assert_int_equal(g->txs[j]->n_deps, nwant[j]);
		for (size_t d = 0; d < nwant[j]; d++)
			assert_int_equal(g->txs[j]->deps[d], want[j][d]);
	}
	assert_int_equal(fc_depgraph_edges(g), 7);
	fc_depgraph_free(g);
}

static void test_empty_block_and_bad_args(void **state)
{
	(void)state;
	Flexchain__DependencyGraph *g = NULL;
	assert_int_equal(fc_depgraph_build(NULL, 0, &g, NULL), FC_OK);
	assert_non_null(g);
	assert_int_equal(g->n_txs, 0);
	assert_int_equal(fc_depgraph_edges(g), 0);
	assert_int_equal(fc_wire_check_graph(g, 0, NULL), FC_OK);
	fc_depgraph_free(g);

	/* only config-like transactions (no rwsets): no edges */
	Flexchain__Envelope e[3], *ep[3];
	for (int i = 0; i < 3; i++) {
		flexchain__envelope__init(&e[i]);
		ep[i] = &e[i];
	}
	assert_int_equal(fc_depgraph_build(ep, 3, &g, NULL), FC_OK);
	assert_int_equal(g->n_txs, 3);
	assert_int_equal(fc_depgraph_edges(g), 0);
	fc_depgraph_free(g);

	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_depgraph_build(NULL, 2, &g, err), FC_EINVAL);
	assert_int_equal(fc_depgraph_build(ep, 3, NULL, err), FC_EINVAL);
	assert_int_equal(fc_depgraph_edges(NULL), 0);
	fc_depgraph_free(NULL);
}

static void test_fail_nth_allocation(void **state)
{
	(void)state;
	static struct rblock b;
	setup_keys();
	rng_state = 0x9e3779b97f4a7c15ull;
	/* big enough that the edge vector grows more than once */
	rblock_gen(&b, MAX_TXS, 3);
	Flexchain__DependencyGraph *want = NULL;
	assert_int_equal(fc_depgraph_build(b.envp, b.n, &want, NULL), FC_OK);

	int ok = 0;
	unsigned long n;
	for (n = 1; n < 1000 && !ok; n++) {
		Flexchain__DependencyGraph *g = NULL;
		char err[FC_ERRMSG_LEN] = "";
		fc_mem_fail_nth(n);
		int rc = fc_depgraph_build(b.envp, b.n, &g, err);
		fc_mem_fail_nth(0);
		if (rc == FC_OK) {
			ok = 1;
			assert_non_null(g);
			assert_int_equal(g->n_txs, want->n_txs);
			for (size_t j = 0; j < b.n; j++) {
				assert_int_equal(g->txs[j]->n_deps, want->txs[j]->n_deps);
				if (want->txs[j]->n_deps)
					assert_memory_equal(g->txs[j]->deps, want->txs[j]->deps,
							    want->txs[j]->n_deps * sizeof(uint32_t));
			}
		} else {
			assert_int_equal(rc, FC_ENOMEM);
			assert_null(g);
			assert_true(strlen(err) > 0);
		}
		fc_depgraph_free(g);
	}
	assert_true(ok);
	assert_true(n > 5); /* several allocation sites were exercised */
	fc_depgraph_free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_blocks_match_reference_closure),
		cmocka_unit_test(test_known_graph),
		cmocka_unit_test(test_empty_block_and_bad_args),
		cmocka_unit_test(test_fail_nth_allocation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
