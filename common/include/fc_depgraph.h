/* fc_depgraph.h - the CBASE dependency graph of a block.
 *
 * For the transactions of a block in order, transaction j depends on an
 * earlier transaction i when they touch a common key and at least one of
 * them writes it:
 *   write-read   i writes k, j reads k     (j must see i's write)
 *   write-write  i writes k, j writes k    (j's write must land after i's)
 *   read-write   i reads k,  j writes k    (i must read before j's write)
 * Only edges that are not implied through the key's last writer are
 * recorded: j depends on the last earlier writer of each key it touches, and,
 * when j writes k, on every reader of k since that writer. Every other
 * conflicting pair is then ordered transitively, so scheduling over this
 * graph gives the same result as running the block sequentially.
 *
 * Cost: one hash-table pass over all keys touched plus the edges produced;
 * never a comparison of all pairs. Envelopes without a read/write set (config
 * transactions) get no edges. The table is seeded per call, so crafted keys
 * cannot pick their collisions in advance.
 */
#ifndef FC_DEPGRAPH_H
#define FC_DEPGRAPH_H

#include <stddef.h>

#include "flexchain.pb-c.h"

/* Builds the graph of envs[0..n) into *out. On success *out is a new graph
 * owned by the caller, freed with fc_depgraph_free (NOT fc_wire_free); its
 * txs[j]->deps are strictly increasing and each < j, as fc_wire_check_graph
 * wants. envs is only read. FC_OK, FC_ENOMEM, FC_EINVAL (NULL args, n over
 * UINT32_MAX). */
int fc_depgraph_build(Flexchain__Envelope *const *envs, size_t n,
		      Flexchain__DependencyGraph **out, char *errmsg);

/* Frees a graph made by fc_depgraph_build. NULL is a no-op. */
void fc_depgraph_free(Flexchain__DependencyGraph *g);

/* Number of edges of g (sum of n_deps). */
size_t fc_depgraph_edges(const Flexchain__DependencyGraph *g);

#endif
