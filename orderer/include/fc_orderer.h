/* fc_orderer.h - the ordering service (DESIGN.md "One transaction, end to
 * end", step 3).
 *
 * One fc_orderer is one member of the Raft cluster formed by the config's
 * orderers (raft ids 1..n in file order, raft addresses host:raft_port; the
 * configuration is bootstrapped on first start, the Raft log and snapshots
 * live in <data_dir>/raft). It runs entirely on a libuv loop the caller
 * owns: Raft (canonical raft, libuv TCP transport) and the client endpoint
 * (fc_net on host:port) share it.
 *
 * CLIENT PROTOCOL (ControlMessage frames, fc_net.h)
 *   envelope -> submit_result. Refused at once with code != 0 when the
 *       envelope is oversized (FC_ETOOBIG), malformed (FC_EPROTO), badly
 *       signed (FC_EVERIFY), or its tx id is pending or among the last
 *       txid_window ordered ones (FC_EEXIST, see TX IDS). On a follower:
 *       FC_EAGAIN with `leader` = the leader's client address host:port
 *       (empty when none is known; retry later).
 *       Accepted envelopes are answered code 0 only once the block holding
 *       them is Raft-committed and applied (final in order); if leadership
 *       is lost first, FC_EAGAIN (the tx may or may not have been ordered:
 *       resubmitting is safe, a duplicate is refused with FC_EEXIST).
 *       request_id and tx_id are echoed.
 *   deliver_request{from_height} -> a stream of block frames from that
 *       height on, following new blocks until the connection closes. Any
 *       orderer serves it from its local chain.
 *   deliver_request{with_decisions: true} additionally streams, on the
 *       leader, a decision{height, verdict, certificate} frame followed by
 *       one commit_event{tx_id, height, index, status} per transaction for
 *       every block decided while subscribed (decisions are live only;
 *       older ones are in the storage pool).
 *   height_query -> height_info{applied_height, empty, last_hash, node_id}.
 *   compute_query -> compute_list{servers}: on the leader, the registered
 *       compute servers (id, org, host and port of their Register.address,
 *       draining once deregistered until their connection closes). On a
 *       follower: submit_result{FC_EAGAIN, leader} like register.
 *   register / heartbeat / deregister / verdict: compute server membership
 *       and validation verdicts, see orderer/decide.h (register is answered
 *       with a submit_result: 0, FC_EVERIFY, or FC_EAGAIN + leader).
 *   anything else -> error{code, message}.
 *
 * BLOCKS. Only the leader cuts (config block_cutting: max_txs, max_bytes,
 * timeout_ms), computes the CBASE graph, fills and signs the header with its
 * key and proposes the encoded Block through raft_apply. Every orderer's
 * FSM appends committed blocks to its local block log (<data_dir>/
 * blocks.log) if they extend its chain (height and prev hash), so no block
 * is lost, duplicated or reordered; a new leader first commits a barrier and
 * continues from the last applied block. The first leader proposes the empty
 * genesis block (height 0).
 *
 * TX IDS. Intake remembers every pending tx id and the ids of the last
 * opts.txid_window ordered transactions, oldest forgotten first, so its
 * memory is bounded (about 100 bytes an id) however long the chain. A
 * duplicate of an older transaction is ordered again but never applied:
 * validators and the storage pool find its id in the ledger's tx index
 * (fc_validate's txids_committed) and mark it DUPLICATE_TXID. On start the
 * window is refilled from the tail of the local block log.
 *
 * DECISIONS (leader only, orderer/decide.h). Each block goes to a rotating
 * committee of validation.committee_size live compute servers; a majority
 * of identical verdicts certifies it, otherwise (timeout, or fewer than a
 * majority of k live) the storage pool validates it (HyBE). Certificates are
 * signed with the orderer's key and appended to the storage replicas in
 * height order with the write quorum before the decision is published. A
 * new leader resumes from the storage pool's applied height.
 */
#ifndef FC_ORDERER_H
#define FC_ORDERER_H

#include <stdint.h>

#include <uv.h>

struct fc_config;
struct fc_orderer;

/* Tunables beyond the cluster file; zero fields mean the default. */
struct fc_orderer_opts {
	unsigned election_timeout_ms;  /* default 1000 */
	unsigned heartbeat_timeout_ms; /* default 100 */
	unsigned max_inflight;	       /* blocks proposed, not yet applied; default 8 */
	unsigned max_pending;	       /* envelopes accepted, not yet ordered;
					* default 8 * max_txs (then FC_EBUSY) */
	unsigned snapshot_threshold;   /* Raft entries between snapshots; default 256 */
	unsigned snapshot_trailing;    /* entries kept after one; default 128. A
					* member further behind receives a
					* snapshot and fetches the blocks it
					* misses from the other orderers. */
	unsigned txid_window;	       /* ordered tx ids remembered by intake;
					* default 1000000 (see TX IDS) */
};

/* Creates the orderer `id` (an orderer of cfg) on loop: loads its identity
 * from the config's crypto_dir (role "orderer"), a castore of every
 * organisation's CA, opens its block log. cfg is borrowed and must outlive
 * the orderer; opts is copied (may be NULL). *out is owned by the caller
 * (fc_orderer_destroy). Errors: FC_ENOTFOUND (no such orderer), FC_ECONFIG,
 * crypto and I/O errors, with errmsg. */
int fc_orderer_create(uv_loop_t *loop, const struct fc_config *cfg, const char *id,
		      const struct fc_orderer_opts *opts, struct fc_orderer **out, char *errmsg);

/* Starts Raft (bootstrapping the cluster configuration on first start) and
 * the client endpoint. Run the loop afterwards. */
int fc_orderer_start(struct fc_orderer *o, char *errmsg);

/* Stops everything: closes client connections, the listener and Raft. When
 * all handles are closed calls cb(ud) (may be NULL); then the caller may
 * fc_orderer_destroy and uv_loop_close. Call once, on the loop thread. */
void fc_orderer_stop(struct fc_orderer *o, void (*cb)(void *ud), void *ud);

/* Frees a stopped (or never started) orderer. NULL is a no-op. */
void fc_orderer_destroy(struct fc_orderer *o);

/* Blocks in the local chain (applied height + 1; 0 when empty). */
uint64_t fc_orderer_height(const struct fc_orderer *o);
/* 1 while this orderer is the Raft leader ready to cut blocks. */
int fc_orderer_is_leader(const struct fc_orderer *o);

/* Counters for /metrics, read on the loop thread. Decisions are counted by
 * the leader that published them. */
struct fc_orderer_stats {
	uint64_t raft_term;	    /* current Raft term */
	uint64_t live_compute;	    /* live compute servers (leader; 0 otherwise) */
	uint64_t blocks_decided;    /* certified and durable, published */
	uint64_t blocks_storage_validated; /* of which by the storage pool */
	uint64_t txs_by_status[8];  /* decided transactions by TxStatus value */
};
void fc_orderer_stats(const struct fc_orderer *o, struct fc_orderer_stats *out);

#endif
