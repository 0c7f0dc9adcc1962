/* stord.h - the flexchain-storage daemon (internal to storage-pool/).
 *
 * THREADS
 *   loop thread    libuv: accepts connections, answers queries (RocksDB
 *                  reads are short), streams Deliver, replies LedgerAcks.
 *   appender       one thread: verifies and appends blocks in arrival order,
 *                  and catches up from peer replicas (at start and when an
 *                  append arrives with a gap; a joining replica reports
 *                  ready from here once its first catch-up is done).
 *                  Finished appends travel back to the loop through a
 *                  uv_async_t.
 *   libuv pool     ValidateRequests (uv_queue_work): they may wait for the
 *                  appender to reach height - 1, so they must not run on the
 *                  appender or the loop. V1/V2 use an fc_tpool.
 *
 * CHAIN CONFIGURATION (fc_chaincfg.h, fc_chaincfg_rebuild.h): the daemon
 * holds the snapshot in force at applied height + 1: genesis on an empty
 * ledger, folded from the stored blocks and verdicts when the ledger opens,
 * advanced by the appender after every append (and read back from the
 * ledger if an advance failed). Its organisations verify the signatures of
 * appended blocks, and a ValidateRequest for height h is judged with it
 * (castore, policies, config checks) once it is the one in force at h.
 */
#ifndef FC_STORD_H
#define FC_STORD_H

#include <stdint.h>

#include "fc_config.h"

/* Runs the daemon for storage replica `id` of cfg (borrowed) until SIGTERM
 * or SIGINT; then shuts down gracefully (server closed, the append in
 * flight finished, ledger closed). Returns FC_OK after a clean shutdown,
 * an error (errmsg) when start-up failed. */
int fc_stord_run(const struct fc_config *cfg, const char *id, char *errmsg);

/* A replica that is not in the configuration file: it joins at run time.
 * Every string is borrowed for the run. */
struct fc_stord_join {
	const char *id;	       /* a node id the file does not use */
	const char *org;       /* its organisation: identity under
				* <crypto_dir>/<org>/storage/<id>/ */
	const char *host;      /* where it listens */
	uint16_t port;	       /* control port, 1-65535 */
	uint16_t metrics_port; /* 0: no /metrics, /healthz */
	const char *data_dir;  /* absolute */
};

/* JOINING AT RUN TIME: as fc_stord_run for the replica j describes. Before
 * it reports ready (sd_notify READY=1, /healthz 200) the appender catches up
 * the whole ledger and state from the replicas of the file (the one with
 * the highest applied height, in rounds until a round finds nothing new),
 * folding the chain configuration as it goes; progress is logged. It
 * becomes a write target once a config transaction adds it
 * (`flexchain config update --add-storage ID:HOST:PORT`): blocks decided
 * meanwhile reach it through the gap catch-up of its first append. A
 * start-up where no replica of the file answers, or where the catch-up
 * fails, returns an error (errmsg) after a clean shutdown. */
int fc_stord_run_join(const struct fc_config *cfg, const struct fc_stord_join *j, char *errmsg);

#endif
