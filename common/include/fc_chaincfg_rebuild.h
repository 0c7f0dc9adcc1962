/* fc_chaincfg_rebuild.h - the chain configuration in force at a height,
 * rebuilt from decided blocks (fc_chaincfg.h).
 *
 * Every node that judges or routes by the chain-agreed configuration (the
 * orderer's decider, the storage replicas, the compute servers) folds the
 * decided blocks the same way, so that all of them switch at the same
 * height:
 *   - fc_chaincfg_advance folds one decided block: the config transactions
 *     its certified verdict calls VALID are applied in block order;
 *   - fc_chaincfg_rebuild folds blocks [*next, to) read from a block source:
 *     the local ledger of a storage replica, or the storage pool over the
 *     network (fc_storage_get_blocks_any).
 * A config transaction that the certified verdict calls VALID but that the
 * snapshot refuses (fc_chaincfg_apply_block's FC_EMISMATCH: validators and
 * this node disagree, a bug or a wrong starting snapshot) is logged as an
 * error and the configuration is kept, rather than stalling the chain; every
 * node using these functions makes the same choice.
 *
 * OWNERSHIP: *cc is one reference held by the caller. When a block changes
 * the configuration, *cc is replaced by a new reference to the next
 * snapshot and the old reference is dropped; otherwise *cc is left as it is
 * (same pointer: callers may compare pointers to see a change). Blocks and
 * replies are only read.
 *
 * THREADS: no state of its own; a source is called on the calling thread.
 */
#ifndef FC_CHAINCFG_REBUILD_H
#define FC_CHAINCFG_REBUILD_H

#include <stdint.h>

#include "fc_chaincfg.h"
#include "flexchain.pb-c.h"

/* Blocks asked of a source per call by fc_chaincfg_rebuild. */
#define FC_CHAINCFG_REBUILD_BATCH 64u

/* Where fc_chaincfg_rebuild reads decided blocks. */
struct fc_chaincfg_source {
	/* Blocks [from, from + count) with their decisions, as a storage
	 * replica answers a BlockQuery: *out holds blocks in height order from
	 * `from`, possibly fewer than count, and one decision per block (its
	 * certified verdict). FC_ENOTFOUND when there is no block at `from`.
	 * *out is released with release. */
	int (*fetch)(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
		     char *errmsg);
	/* Releases a reply of fetch. NULL: fc_wire_free. */
	void (*release)(void *ud, Flexchain__BlockReply *br);
	/* May be NULL. Called after every block that changed the
	 * configuration with the new snapshot (borrowed: fc_chaincfg_ref to
	 * keep it), so that a caller folding many blocks at once still sees
	 * every snapshot in between. */
	void (*changed)(void *ud, struct fc_chaincfg *cc);
	void *ud;
};

/* Folds decided block b (statuses tx_status[0..b->n_envelopes), the
 * certified verdict) into *cc, the snapshot in force at b's height; on
 * return *cc is the one in force at the next height. FC_OK (also when a
 * VALID config transaction was refused and skipped, see above), FC_EINVAL,
 * FC_ENOMEM. */
int fc_chaincfg_advance(struct fc_chaincfg **cc, const Flexchain__Block *b,
			const uint8_t *tx_status, char *errmsg);

/* Folds the decided blocks [*next, to) read from src into *cc, the snapshot
 * in force at *next; *next advances with every block folded, so on FC_OK it
 * is `to` and *cc is the snapshot in force at `to`. On error the blocks
 * folded before it stay folded (*next says how far). Errors: FC_EINVAL;
 * what src->fetch returned; FC_EPROTO for a reply that does not fit (no
 * block, a block of another height, a missing decision, a status per
 * envelope missing), errmsg naming the height; FC_ENOMEM. */
int fc_chaincfg_rebuild(struct fc_chaincfg **cc, uint64_t *next, uint64_t to,
			const struct fc_chaincfg_source *src, char *errmsg);

#endif
