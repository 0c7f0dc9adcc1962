/* stord.h - the flexchain-storage daemon (internal to storage-pool/).
 *
 * THREADS
 *   loop thread    libuv: accepts connections, answers queries (RocksDB
 *                  reads are short), streams Deliver, replies LedgerAcks.
 *   appender       one thread: verifies and appends blocks in arrival order,
 *                  and catches up from peer replicas (at start and when an
 *                  append arrives with a gap). Finished appends travel back to
 *                  the loop through a uv_async_t.
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

#include "fc_config.h"

/* Runs the daemon for storage replica `id` of cfg (borrowed) until SIGTERM
 * or SIGINT; then shuts down gracefully (server closed, the append in
 * flight finished, ledger closed). Returns FC_OK after a clean shutdown,
 * an error (errmsg) when start-up failed. */
int fc_stord_run(const struct fc_config *cfg, const char *id, char *errmsg);

#endif
