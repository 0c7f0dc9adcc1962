/* CBASE dependency graph in one pass over the keys (see fc_depgraph.h). */
#include "fc_depgraph.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "keytab.h"

#define NONE UINT32_MAX

/* The graph and its storage in one allocation family, so that free needs
 * nothing but the graph pointer (g is the first member). */
struct graph_mem {
	Flexchain__DependencyGraph g;
	Flexchain__TxDeps *txs;
	uint32_t *deps;
};

struct keystate {
	uint32_t last_writer; /* NONE if no earlier writer */
	uint32_t readers;     /* head of the reader list since last_writer */
	uint32_t written_by;  /* transaction currently being processed writes it */
};

struct reader {
	uint32_t tx;
	uint32_t next;
};

struct u32vec {
	uint32_t *v;
	size_t n, cap;
};

static int vec_push(struct u32vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint32_t *v = fc_realloc(a->v, cap * sizeof *v);
		if (!v)
			return FC_ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return FC_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

void fc_depgraph_free(Flexchain__DependencyGraph *g)
{
	if (!g)
		return;
	struct graph_mem *m = (struct graph_mem *)g;
	fc_free(m->deps);
	fc_free(m->txs);
	fc_free(m->g.txs);
	fc_free(m);
}

size_t fc_depgraph_edges(const Flexchain__DependencyGraph *g)
{
	size_t e = 0;
	for (size_t i = 0; g && i < g->n_txs; i++)
		e += g->txs[i] ? g->txs[i]->n_deps : 0;
	return e;
}

static const Flexchain__RWSet *rwset_of(Flexchain__Envelope *const *envs, size_t j)
{
	return envs[j] ? envs[j]->rwset : NULL;
}

int fc_depgraph_build(Flexchain__Envelope *const *envs, size_t n,
		      Flexchain__DependencyGraph **out, char *errmsg)
{
	int rc = FC_OK;
	struct keytab kt = {0};
	struct keystate *ks = NULL;
	struct reader *rd = NULL;
	struct u32vec all = {0}, cur = {0};
	size_t *start = NULL;
	struct graph_mem *m = NULL;

	if (!out || (!envs && n) || n > UINT32_MAX)
		return fc_errf(errmsg, FC_EINVAL, "depgraph: invalid arguments");
	*out = NULL;

	size_t nkeys = 0, nreads = 0;
	for (size_t j = 0; j < n; j++) {
		const Flexchain__RWSet *rw = rwset_of(envs, j);
		if (rw) {
			nkeys += rw->n_reads + rw->n_writes;
			nreads += rw->n_reads;
		}
	}
	if (keytab_init(&kt, nkeys) != FC_OK)
		goto nomem;
	ks = fc_malloc((nkeys ? nkeys : 1) * sizeof *ks);
	rd = fc_malloc((nreads ? nreads : 1) * sizeof *rd);
	start = fc_malloc((n + 1) * sizeof *start);
	m = fc_calloc(1, sizeof *m);
	if (!ks || !rd || !start || !m)
		goto nomem;
	size_t nrd = 0;

	for (size_t j = 0; j < n; j++) {
		const Flexchain__RWSet *rw = rwset_of(envs, j);
		uint32_t tj = (uint32_t)j;
		cur.n = 0;
		start[j] = all.n;
		if (!rw)
			continue;
		/* 1. edges from reads: the key's last writer (write-read) */
		for (size_t r = 0; r < rw->n_reads; r++) {
			int is_new;
			uint32_t s = keytab_slot(&kt, rw->reads[r]->key.data, rw->reads[r]->key.len,
						 &is_new);
			if (is_new)
				ks[s] = (struct keystate){NONE, NONE, NONE};
			if (ks[s].last_writer != NONE && vec_push(&cur, ks[s].last_writer))
				goto nomem;
		}
		/* 2. edges from writes: last writer (write-write) and readers
		 * since then (read-write) */
		for (size_t w = 0; w < rw->n_writes; w++) {
			int is_new;
			uint32_t s = keytab_slot(&kt, rw->writes[w]->key.data,
						 rw->writes[w]->key.len, &is_new);
			if (is_new)
				ks[s] = (struct keystate){NONE, NONE, NONE};
			if (ks[s].last_writer != NONE && vec_push(&cur, ks[s].last_writer))
				goto nomem;
			for (uint32_t i = ks[s].readers; i != NONE; i = rd[i].next)
				if (rd[i].tx != tj && vec_push(&cur, rd[i].tx))
					goto nomem;
		}
		/* 3. j becomes the last writer of what it writes */
		for (size_t w = 0; w < rw->n_writes; w++) {
			uint32_t s = keytab_slot(&kt, rw->writes[w]->key.data,
						 rw->writes[w]->key.len, NULL);
			ks[s].last_writer = tj;
			ks[s].readers = NONE;
			ks[s].written_by = tj;
		}
		/* 4. and a reader of what it only reads */
		for (size_t r = 0; r < rw->n_reads; r++) {
			uint32_t s = keytab_slot(&kt, rw->reads[r]->key.data,
						 rw->reads[r]->key.len, NULL);
			if (ks[s].written_by == tj)
				continue;
			if (ks[s].readers != NONE && rd[ks[s].readers].tx == tj)
				continue; /* the same key read twice */
			rd[nrd] = (struct reader){tj, ks[s].readers};
			ks[s].readers = (uint32_t)nrd++;
		}
		if (cur.n > 1) /* cur.v is NULL while empty */
			qsort(cur.v, cur.n, sizeof *cur.v, cmp_u32);
		for (size_t i = 0; i < cur.n; i++)
			if ((i == 0 || cur.v[i] != cur.v[i - 1]) && vec_push(&all, cur.v[i]))
				goto nomem;
	}
	start[n] = all.n;

	flexchain__dependency_graph__init(&m->g);
	m->g.n_txs = n;
	m->g.txs = fc_malloc((n ? n : 1) * sizeof *m->g.txs);
	m->txs = fc_malloc((n ? n : 1) * sizeof *m->txs);
	if (!m->g.txs || !m->txs)
		goto nomem;
	m->deps = all.v; /* ownership moves to the graph */
	all.v = NULL;
	for (size_t j = 0; j < n; j++) {
		flexchain__tx_deps__init(&m->txs[j]);
		m->txs[j].n_deps = start[j + 1] - start[j];
		m->txs[j].deps = m->txs[j].n_deps ? m->deps + start[j] : NULL;
		m->g.txs[j] = &m->txs[j];
	}
	*out = &m->g;
	m = NULL;
	goto done;
nomem:
	rc = fc_errf(errmsg, FC_ENOMEM, "depgraph: out of memory for %zu transactions", n);
done:
	if (m)
		fc_depgraph_free(&m->g);
	fc_free(all.v);
	fc_free(cur.v);
	fc_free(start);
	fc_free(rd);
	fc_free(ks);
	keytab_destroy(&kt);
	return rc;
}
