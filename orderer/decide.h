/* decide.h - the leader's validation and commit decisions (DESIGN.md steps
 * 4-6), internal to orderer/.
 *
 * Membership. Compute servers connect to the orderer's client port and send
 * Register{node_id, org, cert, address, cores}; the leader answers
 * SubmitResult{code 0} (FC_EVERIFY for a certificate that is not a compute
 * server's of that org and id; a follower answers FC_EAGAIN with the
 * leader's address). Then Heartbeat every network.heartbeat_ms on the same
 * connection (no reply); Deregister{node_id} leaves the committees (the
 * server is then listed by discovery as draining until its connection
 * closes or it misses 3 heartbeats). A member not heard from for 3
 * heartbeats, or whose connection closed, is not live. Register.address
 * (host:port of the server's gateway endpoint) is what discovery
 * (ComputeQuery -> ComputeList, leader only) reports.
 *
 * Validation. For every block (in height order, from the storage pool's
 * applied height + 1 when a leader takes over) the leader picks a committee
 * of k = validation.committee_size live members, rotating: the members
 * sorted by id, starting at height mod n_live. It sends them
 * ControlMessage{request_id = height + 1, validate_request{block,
 * committee}} on their registration connection; each answers
 * ControlMessage{verdict}. A member that deregistered (a draining compute
 * server) or was dropped still finishes the blocks it was assigned: a
 * verdict on a connection with no member counts when its signer (a compute
 * certificate, signature checked) is on the block's committee. When more than half the committee signed the same
 * (tx_status, write_set_hash) the block is certified with those verdicts.
 * If fewer than a majority of k members are live, or no majority formed
 * within validation.timeout_ms, the storage pool validates the block
 * (fc_storage_validate) and its verdict is certified storage_validated.
 *
 * Commit. Certificates are appended to the storage replicas strictly in
 * height order (fc_storage_append, write quorum). Once block h is durable on
 * the write quorum, the leader sends ControlMessage{request_id = h + 1,
 * ledger_append{block, verdict, certificate}} to every memory node of the
 * shard map in force (their control port) and waits for each one's
 * ControlMessage{ledger_ack{height h, code 0, replica = node id}}, all
 * within validation.timeout_ms. A memory node that is down, slow or refuses
 * is logged and skipped for a second (it catches up from the storage pool):
 * it never stalls the chain. No memory nodes: nothing to wait for. Then the
 * Decision is published (publish callback: Decision + CommitEvents to
 * subscribers). Storage and memory-node calls are blocking, so they run on
 * the libuv thread pool, one job at a time, in order. Failures are retried
 * every 500 ms; ordering never waits for decisions.
 *
 * Configuration. The decider keeps the chain-agreed configuration
 * (fc_chaincfg.h), genesis from cfg. When block h is stored, the config
 * transactions its stored verdict calls VALID are applied: the storage
 * replicas, write quorum and memory nodes they set are used from block h + 1
 * on (block h itself went to the replicas in force before). A leader that
 * takes over first replays the configuration from the decisions stored on
 * the storage pool up to its applied height (fetched from the replicas in
 * force before the replay; every replica holds the whole ledger), folded by
 * fc_chaincfg_rebuild (fc_chaincfg_rebuild.h) as the validators fold it.
 * Verdict signatures are still checked against env->cs, the genesis
 * organisations.
 */
#ifndef FC_ORDERER_DECIDE_H
#define FC_ORDERER_DECIDE_H

#include <stdint.h>

#include <uv.h>

#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_net.h"
#include "flexchain.pb-c.h"

struct fc_ord_decider;

struct fc_ord_decider_env {
	uv_loop_t *loop;
	const struct fc_config *cfg; /* borrowed */
	fc_crypto_castore *cs;	     /* borrowed */
	const fc_cert *cert;	     /* the orderer's, borrowed */
	const fc_key *key;
	/* Reads block `height` of the local chain (fc_malloc'd *buf). */
	int (*read_block)(void *ud, uint64_t height, uint8_t **buf, size_t *len);
	/* A block was decided and is durable on the storage pool. Everything
	 * is borrowed for the call. */
	void (*publish)(void *ud, const Flexchain__Block *b, const Flexchain__Verdict *v,
			const Flexchain__CommitCertificate *cert);
	void *ud;
};

/* env is copied. *out owned by the caller (stop, then destroy). */
int fc_ord_decider_create(const struct fc_ord_decider_env *env, struct fc_ord_decider **out,
			  char *errmsg);
/* Waits for the storage job in flight (if any), then cb(ud). */
void fc_ord_decider_stop(struct fc_ord_decider *d, void (*cb)(void *ud), void *ud);
void fc_ord_decider_destroy(struct fc_ord_decider *d);

/* This member became the ready leader with blocks 0..n_blocks-1 in its
 * chain / lost leadership. */
void fc_ord_decider_lead(struct fc_ord_decider *d, uint64_t n_blocks);
void fc_ord_decider_unlead(struct fc_ord_decider *d);
/* Block `height` was appended to the local chain. */
void fc_ord_decider_block(struct fc_ord_decider *d, uint64_t height);
void fc_ord_decider_tick(struct fc_ord_decider *d, uint64_t now_ms);

/* Membership and verdicts from connection conn (messages borrowed). */
int fc_ord_decider_register(struct fc_ord_decider *d, struct fc_conn *conn,
			    const Flexchain__Register *r, char *errmsg);
void fc_ord_decider_heartbeat(struct fc_ord_decider *d, struct fc_conn *conn,
			      const Flexchain__Heartbeat *hb);
void fc_ord_decider_deregister(struct fc_ord_decider *d, struct fc_conn *conn,
			       const Flexchain__Deregister *dr);
void fc_ord_decider_verdict(struct fc_ord_decider *d, struct fc_conn *conn,
			    const Flexchain__Verdict *v);
/* conn is closing: forget members on it. */
void fc_ord_decider_conn_closed(struct fc_ord_decider *d, struct fc_conn *conn);

/* Live members (tests, metrics). */
size_t fc_ord_decider_live(const struct fc_ord_decider *d);

/* Discovery (ComputeQuery): the live members, sorted by id, then the
 * draining ones (deregistered, connection still open, heartbeating), each
 * with the org it registered as and the host:port of its Register.address
 * (host "" and port 0 when that was not host:port). out->servers is
 * fc_malloc'd with the ComputeServer structs in the same block; strings are
 * borrowed from d: encode before d changes, then
 * fc_ord_decider_compute_list_free. FC_OK or FC_ENOMEM. */
int fc_ord_decider_compute_list(const struct fc_ord_decider *d, Flexchain__ComputeList *out);
void fc_ord_decider_compute_list_free(Flexchain__ComputeList *l);

#endif
