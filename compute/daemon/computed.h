/* computed.h - the flexchain-compute daemon, internal to compute/daemon.
 *
 * Threads (nothing blocking runs on the loop):
 *   loop       libuv: the control port (gateway, endorse and tx queries from
 *              clients and other gateways), signals, the drain timer; sends
 *              every reply (queued by other threads, woken by an async).
 *   gateway    fc_tpool "gw": one work item per request; executes, gathers
 *              endorsements (blocking fc_netc), submits to the orderer
 *              leader; a SUBMIT then waits as an entry of the waiter table.
 *   member     registration connection to the orderer leader: register,
 *              heartbeat, validate_request in, verdicts out, deregister.
 *   v1, v2     validation stages: V1 of any block at once (runs ahead), V2
 *              of block h once state through h-1 is applied; both fan out
 *              over the fc_tpool "val" (validation.threads).
 *   events     deliver_request{with_decisions} subscription to the leader:
 *              CommitEvents complete waiting SUBMITs; waiters whose event
 *              was missed are answered from the storage pool's TxQuery;
 *              Decisions advance the chain configuration (cfgtrack.c).
 *
 * Chain configuration (fc_chaincfg.h, cfgtrack.c): a block is validated with
 * the snapshot in force at its height (its castore, policies and config
 * checks). V1 runs ahead with the snapshot known for that height; V2, once
 * state through the height before is applied, gets the exact one (folding
 * the stored decisions up to the block) and runs V1 again in the rare case
 * that it differs. The gateway picks the organisations to gather with the
 * latest snapshot it knows.
 *
 * Draining (SIGTERM): the server deregisters at once, so that the orderer
 * assigns it no new block, and keeps its registration connection open until
 * the verdicts of the blocks it already holds are sent (the orderer counts
 * verdicts of a deregistered committee member); then it leaves.
 *
 * Operations (fc_ops.h, metrics.c): a registry of fc_compute_* series owned
 * by the server (struct cd_metrics; the gateway's in struct cd_gw_metrics),
 * registered before any thread starts and freed after every thread is
 * joined, and with a metrics port (the node's metrics_port, or
 * --metrics-port for a server joining at run time) /metrics and /healthz,
 * which answers 200 while registered with the orderer leader and serving,
 * 503 "starting", "not registered" or "draining" otherwise.
 */
#ifndef CD_COMPUTED_H
#define CD_COMPUTED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "fc_canon.h"
#include "fc_chaincfg.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_net.h"
#include "fc_ops.h"
#include "fc_tpool.h"
#include "fc_validate.h"
#include "flexchain.pb-c.h"
#include "state.h"

struct fc_storage_client;
struct fc_storage_client_opts;

/* Storage clients follow the storage replicas of the configuration in
 * force (cfgtrack.c): a storage client is single-threaded, so each thread
 * owns one, wrapped in a reference-counted cd_sc; at a quiet point of its
 * loop (between two requests) the thread calls cd_sc_follow, which swaps
 * in a client for the replicas in force when they changed since its client
 * was made. Whatever still borrows the old client (a validate request that
 * V1 ran with) holds a reference, so the old client is closed only when
 * the last user is done. */
struct cd_sc {
	atomic_int refs;
	struct fc_storage_client *sc;
	struct fc_chaincfg *cc; /* whose configuration sc borrows; NULL: the file's */
	uint64_t gen;		/* st_gen it was made for */
};

/* Endorsers of other organisations (peers.c). */
#define CD_PEERS_MAX 256
struct cd_peer {
	char id[FC_CONFIG_NAME_MAX + 1];
	char org[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port;
};

/* Who this server is: from the config, or from --org/--host/--port. */
struct cd_self {
	char id[FC_CONFIG_NAME_MAX + 1];
	char org[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port;
	uint16_t metrics_port; /* 0 = no /metrics, /healthz */
};

/* Gateway series (metrics.c registers them; gateway.c updates them; every
 * update is NULL-safe). Indices and names:
 *   requests[mode]  fc_compute_gateway_requests_total{mode=...}, counter:
 *                   requests taken; mode indices are GatewayMode values
 *                   (0 "submit", 1 "submit_async", 2 "evaluate"), then
 *                   CD_GW_ENDORSE "endorse" (EndorseRequest from another
 *                   gateway) and CD_GW_TX_QUERY "tx_query".
 *   results[outcome] fc_compute_gateway_results_total{outcome=...}, counter:
 *                   gateway requests answered, by outcome:
 *                   CD_GW_COMMITTED "committed" (SUBMIT, final status VALID),
 *                   CD_GW_INVALID "invalid" (SUBMIT, committed with another
 *                   final status), CD_GW_OK "ok" (EVALUATE or SUBMIT_ASYNC
 *                   answered with code 0), CD_GW_REFUSED "refused" (not
 *                   ordered: bad signature or arguments, the contract's own
 *                   refusal (FC_EDENIED), no organisation's endorser would
 *                   endorse (FC_ECONFIG), endorsements mismatch, orderer
 *                   refused, draining), CD_GW_ERROR "error" (execution,
 *                   transport, endorsers unreachable (FC_EBUSY), out of
 *                   memory), CD_GW_TIMEOUT "timeout" (no commit event nor
 *                   TxInfo before the deadline).
 *   execute_seconds fc_compute_gateway_execute_seconds, histogram: one
 *                   proposal executed by this server (gateway or endorse).
 *   endorse_seconds fc_compute_gateway_endorse_seconds, histogram: gathering
 *                   the other organisations' endorsements for one request.
 *   submit_seconds  fc_compute_gateway_submit_seconds, histogram: a SUBMIT
 *                   from request to final answer. */
enum {
	CD_GW_SUBMIT = FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT,
	CD_GW_SUBMIT_ASYNC = FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC,
	CD_GW_EVALUATE = FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE,
	CD_GW_ENDORSE,
	CD_GW_TX_QUERY,
	CD_GW_MODES
};
enum {
	CD_GW_COMMITTED,
	CD_GW_INVALID,
	CD_GW_OK,
	CD_GW_REFUSED,
	CD_GW_ERROR,
	CD_GW_TIMEOUT,
	CD_GW_OUTCOMES
};
struct cd_gw_metrics {
	struct fc_metric *requests[CD_GW_MODES];
	struct fc_metric *results[CD_GW_OUTCOMES];
	struct fc_metric *execute_seconds, *endorse_seconds, *submit_seconds;
};

/* Final transaction statuses (TxStatus values) counted by label. */
#define CD_TX_STATUSES 8

/* The server's own series (metrics.c):
 *   height       fc_compute_height, gauge: blocks whose state this server
 *                sees applied by its state source (the next height it
 *                validates); probed by the events thread, raised by V2
 *   registered   fc_compute_registered, gauge 1 while registered with the
 *                orderer leader
 *   draining     fc_compute_draining, gauge 0/1
 *   blocks       fc_compute_blocks_validated_total: verdicts built
 *   txs[st]      fc_compute_txs_validated_total{status=...}: by final status
 *   v1_seconds, v2_seconds
 *                fc_compute_validation_seconds{stage="v1"|"v2"}: per block
 *   verdicts     fc_compute_verdicts_sent_total
 *   declined     fc_compute_validate_requests_declined_total: requests not
 *                validated (draining, stale, V1/V2 failure)
 *   reads        fc_compute_state_reads_total{source="memory"|
 *                "memory_load"|"storage"}, with the memory pool's hit ratio
 *                fc_compute_memory_hit_ratio and client cache hits
 *                fc_compute_memory_client_cache_hits_total (state.h)
 *   gateway      the gateway's (above)
 *   in flight    fc_compute_gateway_inflight, fc_compute_validating (gauges
 *                read at scrape time) */
struct cd_metrics {
	struct fc_metrics *reg;
	struct fc_ops_server *ops;
	struct fc_metric *height, *registered, *draining;
	struct fc_metric *blocks, *txs[CD_TX_STATUSES], *v1_seconds, *v2_seconds;
	struct fc_metric *verdicts, *declined;
	struct cd_state_metrics reads;
	struct cd_gw_metrics gw;
	atomic_int serving; /* the loop runs and READY=1 was sent */
};

struct cd_reply {
	struct cd_reply *next;
	uint64_t conn_id;
	uint8_t *frame; /* fc_malloc'd encoded ControlMessage */
	size_t len;
};

struct cd_waiter {
	struct cd_waiter *next;
	char tx_id[FC_TXID_HEX_LEN + 1];
	uint64_t conn_id, request_id;
	uint8_t *response; /* fc_malloc'd */
	size_t response_len;
	uint64_t since_ms, last_query_ms;
	uint64_t start_ms; /* cd_now_ms() when the SUBMIT was taken (submit_seconds) */
};

struct cd_vreq {
	struct cd_vreq *next;
	struct cd_server *s;
	uint64_t request_id;
	Flexchain__ControlMessage *msg; /* owns the block */
	struct fc_validate_job *job;
	Flexchain__Verdict *verdict; /* fc_validate_verdict_free */
	/* What V1 ran with: the snapshot (one reference), the options built
	 * on it (state.ud = this request) and the storage client of the
	 * thread that ran it (tx index). */
	struct fc_chaincfg *cc;
	struct fc_validate_opts vo;
	struct fc_storage_client *sc;
	struct cd_sc *scr; /* the reference that keeps sc */
};

/* Snapshots kept besides the newest (cfgtrack.c). */
#define CD_CFG_HIST 16

struct cd_conn;	    /* server.c */
struct cd_connpool; /* connpool.h */
struct cd_gw_job;   /* gateway.c */

/* The gateway's own state (gateway.c): mu guards active and the admission
 * queue; pool is made by cd_gateway_start before the loop runs and closed
 * by cd_gateway_stop. */
struct cd_gw {
	pthread_mutex_t mu;
	struct cd_connpool *pool;
	size_t active; /* client requests submitted to the thread pool */
	struct cd_gw_job *head, *tail;
};

/* The compute registry as this server last saw it (peers.c): mu guards
 * everything but th and running (start/stop only). Initialised with the
 * server (cd_peers_init), its thread run by cd_peers_start/stop. */
struct cd_peer_ent;
struct cd_peers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int running, stop;
	struct cd_peer_ent *ents; /* the last answer of the registry */
	size_t n;
	uint64_t known_ms; /* when the registry last answered; 0 never */
	unsigned rr;
};

struct cd_server {
	const struct fc_config *cfg;
	struct cd_self self;
	fc_cert *cert;
	fc_key *key;
	fc_crypto_castore *cs;
	struct cd_state *state;
	struct fc_tpool *vpool, *gwpool;
	struct cd_state_h *v2_state;	      /* v2 thread's */
	struct cd_sc *v1_storage; /* v1 thread's (tx index) */
	struct cd_sc *v2_storage; /* v2 thread's (tx index, V1 again) */

	/* Chain configuration (cfgtrack.c): cc is in force from its first
	 * height on, and blocks below cc_next are folded into it; cc_hist[]
	 * the earlier ones, newest first. cc_mu guards these; fold_mu
	 * serialises folding and guards cc_sc (a storage client for the
	 * replicas of cc_sc_cfg, which it borrows). */
	pthread_mutex_t cc_mu, fold_mu;
	int cc_init;
	struct fc_chaincfg *cc;
	uint64_t cc_next;
	struct fc_chaincfg *cc_hist[CD_CFG_HIST];
	size_t n_hist;
	struct fc_storage_client *cc_sc;
	struct fc_chaincfg *cc_sc_cfg;
	size_t cc_sc_last;		   /* replica of cc_sc that answered last */
	atomic_uint_fast64_t decided_next; /* events: blocks below are decided */
	/* The storage replicas readers use (cc_mu): those of st_cc, the newest
	 * snapshot that changed them (NULL: the file's); st_gen counts the
	 * changes. */
	struct fc_chaincfg *st_cc;
	atomic_uint_fast64_t st_gen;

	uv_loop_t loop;
	struct fc_net_server *srv;
	uv_async_t wake;
	uv_signal_t sigterm, sigint;
	uv_timer_t timer;
	struct cd_conn *conns; /* loop thread only */
	uint64_t next_conn_id;
	int phase; /* 0 serving, 1 draining gateway, 2 deregistered, 3 stopping */
/* Draining timeline (server.c on_timer, gateway.c dispatch): for
 * CD_DRAIN_GRACE_MS after SIGTERM client requests are still served (clients
 * that discover gateways from the orderers learn within their refresh
 * interval that this one is leaving); phase 1 ends only after that, once
 * nothing is in flight; from then on client requests are refused unexecuted
 * (FC_EAGAIN), and phase 2 lasts at least CD_LEAVE_MIN_MS so that those
 * refusals reach the clients before the connections close. A server that
 * has had no client request for CD_DRAIN_QUIET_MS has no client to warn: it
 * need not wait out the grace. */
#define CD_DRAIN_GRACE_MS 3000u
#define CD_DRAIN_QUIET_MS 1000u
#define CD_LEAVE_MIN_MS 500u
	uint64_t drain_start_ms;
	uint64_t last_client_ms; /* last client (gateway) request; loop thread */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cd_reply *out_head, *out_tail;
	struct cd_waiter *waiters;
	size_t inflight; /* gateway requests accepted and not answered */
	int leader;	 /* orderer index believed to lead */
	uint64_t leader_epoch;
	struct cd_vreq *v1_head, *v1_tail, *v2_head, *v2_tail, *vout_head, *vout_tail;
	size_t vpending; /* validate requests not yet answered or dropped */
	atomic_int draining;
	atomic_int deregister; /* member thread: leave the committee */
	atomic_int left;       /* member thread: deregistration sent */
	atomic_int stop;       /* every thread: exit */
	atomic_int registered; /* member thread: registered with the leader */
	pthread_t member_th, v1_th, v2_th, events_th;
	int threads_started;
	struct cd_gw gw;
	struct cd_peers peers;
	struct cd_metrics m;
	char errmsg[FC_ERRMSG_LEN];
};

uint64_t cd_now_ms(void);

/* Queues an encoded reply for conn_id (thread-safe; takes frame). */
void cd_reply_queue(struct cd_server *s, uint64_t conn_id, uint8_t *frame, size_t len);
/* Encodes and queues m. */
void cd_reply_msg(struct cd_server *s, uint64_t conn_id, const Flexchain__ControlMessage *m);
/* One gateway/endorse/tx request finished (thread-safe). */
void cd_request_done(struct cd_server *s);

/* gateway.c: runs one request decoded on the loop (takes msg). */
int cd_gateway_dispatch(struct cd_server *s, uint64_t conn_id, Flexchain__ControlMessage *msg);
/* Makes s->gw (its connection pool, connpool.h); before the loop runs. */
int cd_gateway_start(struct cd_server *s, char *errmsg);
/* Closes the pooled peer connections and frees s->gw; after the gateway
 * thread pool is destroyed (its admission queue is then empty). A no-op
 * when cd_gateway_start did not succeed. */
void cd_gateway_stop(struct cd_server *s);
/* A commit event or a TxInfo answers the waiter for tx_id, if any. */
void cd_gateway_complete(struct cd_server *s, const char *tx_id, uint32_t code, const char *msg,
			 Flexchain__TxStatus status, uint64_t height, uint32_t index);

/* Answers waiters whose commit event is late from the storage pool. */
void cd_gateway_sweep(struct cd_server *s, struct fc_storage_client *sc);

/* cfgtrack.c: the chain configuration (see above). Snapshots returned are
 * new references (fc_chaincfg_unref). */
int cd_cfg_init(struct cd_server *s, char *errmsg);
void cd_cfg_destroy(struct cd_server *s);
/* The newest snapshot known. */
struct fc_chaincfg *cd_cfg_latest(struct cd_server *s);
/* The snapshot in force at height h as far as known without asking the
 * storage pool (the newest one for a height beyond what is folded); NULL
 * when h is older than every snapshot kept. */
struct fc_chaincfg *cd_cfg_known(struct cd_server *s, uint64_t h);
/* The snapshot in force at height h, folding the decisions of the blocks
 * below h from the storage pool first when needed (blocking). Errors of
 * fc_chaincfg_rebuild and of the storage client; FC_ENOTFOUND when h is
 * older than every snapshot kept. */
int cd_cfg_at(struct cd_server *s, uint64_t h, struct fc_chaincfg **out, char *errmsg);

/* The storage replicas in force for readers: their configuration (the
 * file's, or that of *keep, a new reference or NULL, which must outlive
 * any client made on it) and *gen (may be NULL). */
const struct fc_config *cd_cfg_storage(struct cd_server *s, struct fc_chaincfg **keep,
				       uint64_t *gen);
/* Makes *cur a client for the replicas in force when it is NULL or was
 * made for other ones (opts may be NULL). On error *cur is left as it was. */
int cd_sc_follow(struct cd_server *s, struct cd_sc **cur, const struct fc_storage_client_opts *opts,
		 char *errmsg);
struct cd_sc *cd_sc_ref(struct cd_sc *x);
void cd_sc_unref(struct cd_sc *x);

/* peers.c: the compute registry (see there). cd_peers_start starts the
 * thread that refreshes it; cd_peers_stop (after s->stop is set) joins it
 * and forgets the registry. cd_peers_pick fills out[0..max) with the
 * candidates of org, best first (*from_registry: 1 when they come from the
 * registry, 0 from the file); cd_peers_busy counts a request sent (+1) or
 * answered (-1) to p. Thread-safe. cd_peers_init/fini make and free the
 * lock and what the registry holds (with the server). */
void cd_peers_init(struct cd_server *s);
void cd_peers_fini(struct cd_server *s);
int cd_peers_start(struct cd_server *s, char *errmsg);
void cd_peers_stop(struct cd_server *s);
size_t cd_peers_pick(struct cd_server *s, const char *org, struct cd_peer *out, size_t max,
		     int *from_registry);
void cd_peers_busy(struct cd_server *s, const struct cd_peer *p, int delta);

/* link.c: the orderer side (member, v1, v2, events threads). */
int cd_link_start(struct cd_server *s, char *errmsg);
void cd_link_join(struct cd_server *s);

/* Index of the orderer whose client address is "host:port", or -1. */
int cd_orderer_by_addr(const struct fc_config *cfg, const char *addr);

/* metrics.c: registers every series of s->m (before any thread starts)
 * and, with a metrics port, starts the /metrics, /healthz server. */
int cd_metrics_start(struct cd_server *s, char *errmsg);
/* Stops the server and frees the registry (after every thread is joined). */
void cd_metrics_stop(struct cd_server *s);
/* Seconds elapsed since t0 (CLOCK_MONOTONIC), for latency histograms. */
double cd_seconds_since(const struct timespec *t0);
/* Sets fc_compute_registered and the flag /healthz reads (member thread). */
void cd_metrics_registered(struct cd_server *s, int on);
/* Probes the state source's applied height into fc_compute_height (one
 * round trip on a handle of the pool; events thread). */
void cd_metrics_probe_height(struct cd_server *s);

int cd_run(const struct fc_config *cfg, const struct cd_self *self, char *errmsg);

#endif
