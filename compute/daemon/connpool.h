/* connpool.h - reusable blocking connections from a compute server to its
 * peers (orderers, other organisations' compute servers), internal to
 * compute/daemon.
 *
 * A pool keeps, per peer address (host, port), up to max_per_peer blocking
 * clients (fc_netc). A call borrows one (an idle one, or a new one while the
 * peer has fewer than max_per_peer; otherwise it waits for one to be
 * returned), sends one ControlMessage, receives one reply and returns the
 * client. One request at a time per connection: the reply is the next frame.
 * A connection that saw any error (connect, send, receive, a reply that
 * does not carry the request's id) is closed, never returned; the next call
 * connects again (lazily). An idle connection that the peer closed (or that
 * holds unread bytes) is noticed before use and replaced; one idle for more
 * than idle_max_ms is closed (a peer no longer used, e.g. an orderer that
 * is no longer the leader, keeps nothing open for long).
 *
 * Which peer to ask (leader changes, endorser choice) is the caller's: the
 * pool only maps an address to connections.
 *
 * Threads: every function is thread-safe except cd_connpool_destroy, which
 * must run when no call is in progress. The pool owns its connections.
 */
#ifndef CD_CONNPOOL_H
#define CD_CONNPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

struct cd_connpool;

/* max_per_peer >= 1; idle_max_ms 0 = idle connections never expire.
 * *out is the caller's (cd_connpool_destroy). */
int cd_connpool_create(unsigned max_per_peer, unsigned idle_max_ms, struct cd_connpool **out,
		       char *errmsg);
/* Closes every connection and frees p. NULL is a no-op. */
void cd_connpool_destroy(struct cd_connpool *p);

/* Sends m (its request_id is replaced by one unique to the pool) to
 * host:port and receives the reply into *reply (the caller's,
 * fc_wire_free), within timeout_ms in all (waiting for a free connection,
 * connecting within at most connect_ms, sending, receiving). *sent (may be
 * NULL) is set to 1 once the request was written to a socket, i.e. the peer
 * may have acted on it even if an error is returned. Errors: those of
 * fc_netc_connect / fc_ctl_netc_send / fc_ctl_netc_recv, FC_ETIMEOUT (no
 * connection free in time), FC_EPROTO (reply with another request id). */
int cd_connpool_call(struct cd_connpool *p, const char *host, uint16_t port,
		     const Flexchain__ControlMessage *m, unsigned connect_ms, unsigned timeout_ms,
		     Flexchain__ControlMessage **reply, int *sent, char *errmsg);

/* Connections currently open (idle and in use), for tests and logs. */
size_t cd_connpool_open(struct cd_connpool *p);

#endif
