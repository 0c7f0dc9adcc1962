/* fc_transport.h - the data plane: one-sided READ / WRITE / CAS, two-sided
 * SEND / RECV and completion polling, behind one versioned table of function
 * pointers with two backends chosen by source file:
 *
 *   rdma  libibverbs + librdmacm, RC queue pairs, GID addressing (RoCE and
 *         soft-RoCE), one doorbell per fc_transport_post() call, selective
 *         signaling, disconnect events turned into error completions.
 *   tcp   the same operations emulated over TCP. Every connection has one
 *         worker thread that reads the socket; on the side that exposes a
 *         region it performs READ / WRITE / CAS on it (CAS with an atomic
 *         8-byte compare-exchange, so atomic against every other CAS on the
 *         same word), and it delivers SENDs and completions.
 *   auto  rdma when a device with an active port is usable, tcp otherwise;
 *         the choice is logged.
 *
 * Typical use (a memory node and a compute client):
 *
 *   server: fc_transport_open(FC_TRANSPORT_AUTO, &t)
 *           fc_transport_reg_mr(t, region, size, &mr)
 *           fc_transport_listen(t, "0.0.0.0", port, mr, &l)
 *           loop: fc_transport_accept(l, timeout, &conn)   -> one per client
 *   client: fc_transport_open(...), fc_transport_reg_mr(t, buf, n, &lmr)
 *           fc_transport_connect(t, host, port, timeout, &conn)
 *           fc_transport_conn_remote(conn, &desc)          -> the server region
 *           fc_transport_post(conn, wrs, n) ; fc_transport_poll(conn, wcs, ...)
 *
 * Addresses in a struct fc_mr_desc are the exposing side's virtual addresses
 * (as in verbs); a remote operation names [remote_addr, remote_addr + len)
 * inside that range. fc_transport_post() refuses out-of-range operations with
 * FC_ERANGE before anything is sent, and the remote side (NIC or TCP worker)
 * refuses them again (completion status FC_ERANGE).
 *
 * Errors: every call returns FC_OK or an FC_E* code and fills errmsg
 * (FC_ERRMSG_LEN bytes, may be NULL) with context: peer, operation and the
 * verbs or errno text. No call blocks without a bound: connect, accept and
 * poll take a timeout, and a peer that disappears turns every outstanding
 * operation into an error completion (FC_ECLOSED) within the transport's
 * failure-detection bound (TCP: socket close or a 10 s user timeout; RDMA:
 * the disconnect event, or the RC retry budget of about 1 s).
 *
 * Threads: one transport, many connections. A connection may be used by one
 * thread at a time for post/poll (post and poll from two threads at once is
 * allowed; two concurrent posters or two concurrent pollers are not).
 * Listener accept is single-threaded. fc_transport_stats is thread-safe.
 */
#ifndef FC_TRANSPORT_H
#define FC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define FC_TRANSPORT_OPS_VERSION 1

/* Work requests a connection accepts in flight before post says FC_EBUSY
 * (send queue: READ, WRITE, CAS, SEND; receive queue: RECV, counted apart).
 * Unsignaled work requests count until a later signaled one completes. */
#define FC_TRANSPORT_QUEUE_DEPTH 256
/* Largest single READ / WRITE / SEND / RECV. */
#define FC_TRANSPORT_MAX_MSG (1u << 20)

enum fc_transport_kind {
	FC_TRANSPORT_AUTO = 0,
	FC_TRANSPORT_TCP,
	FC_TRANSPORT_RDMA,
};

/* What a peer needs to address a registered region. Plain data, copyable. */
struct fc_mr_desc {
	uint64_t addr; /* virtual address of the first byte on the owner */
	uint32_t rkey; /* remote key (tcp: a random token checked by the owner) */
	uint64_t len;  /* bytes; 0 means "no region" */
};

enum fc_transport_op {
	FC_TRANSPORT_READ = 1, /* remote [remote_addr, +len) -> local */
	FC_TRANSPORT_WRITE,    /* local -> remote [remote_addr, +len) */
	FC_TRANSPORT_CAS,      /* 8-byte compare-and-swap at remote_addr (8-aligned);
				* the previous remote value lands in local[0..8) */
	FC_TRANSPORT_SEND,     /* local [0, len) to the peer's next posted RECV */
	FC_TRANSPORT_RECV,     /* a buffer for one incoming SEND of up to len bytes */
};

/* Opaque handles. Each is created by one call and destroyed by its pair. */
struct fc_transport;          /* fc_transport_open / fc_transport_close */
struct fc_transport_mr;       /* fc_transport_reg_mr / fc_transport_dereg_mr */
struct fc_transport_listener; /* fc_transport_listen / fc_transport_listener_close */
struct fc_transport_conn;     /* fc_transport_connect|accept / fc_transport_conn_close */

/* One work request. The caller owns the struct (it may be reused as soon as
 * post returns) and the local buffer (it must stay valid and untouched until
 * the completion, or until a later signaled completion on the same
 * connection when unsignaled). */
struct fc_transport_wr {
	enum fc_transport_op op;
	void *local;                /* local buffer inside `mr` (CAS: 8 bytes) */
	uint32_t len;               /* bytes (CAS: ignored, always 8) */
	struct fc_transport_mr *mr; /* registration covering local (borrowed) */
	uint64_t remote_addr;       /* READ, WRITE, CAS */
	uint64_t compare, swap;     /* CAS */
	uint64_t wr_id;             /* returned in the completion */
	int signaled;               /* 0: no completion unless it fails
				     * (RECV is always signaled) */
};

struct fc_transport_wc {
	uint64_t wr_id;
	enum fc_transport_op op;
	int status;         /* FC_OK, FC_ERANGE (remote refused: outside the
			     * region or wrong key), FC_ECLOSED (peer gone,
			     * flushed), FC_ETRANSPORT (other failure) */
	uint32_t byte_len;  /* RECV: bytes received */
	const char *detail; /* static text: verbs status string or tcp reason */
};

/* Counters of one transport instance (all its connections). The served_*
 * counters count operations that this side's CPU executed on behalf of a
 * peer: the tcp emulation's worker threads. Under rdma the NIC serves them
 * and they stay 0. */
struct fc_transport_stats {
	uint64_t posted_read, posted_write, posted_cas, posted_send, posted_recv;
	uint64_t completions_ok, completions_err;
	uint64_t served_read, served_write, served_cas;
};

/* The table a backend implements. Callers use the fc_transport_* wrappers,
 * which validate arguments and do the common bookkeeping; the table is
 * public so that a backend can be chosen and inspected, and so that tests
 * can bypass the wrappers' local checks. version is
 * FC_TRANSPORT_OPS_VERSION; handles passed to a table come from that table.*/
struct fc_transport_ops {
	uint32_t version;
	const char *name;
	/* Fills *out with a new instance; FC_EUNSUPPORTED when unusable here. */
	int (*open)(struct fc_transport **out, char *errmsg);
	void (*close)(struct fc_transport *t);
	int (*reg_mr)(struct fc_transport *t, void *addr, size_t len,
		      struct fc_transport_mr **out, char *errmsg);
	void (*dereg_mr)(struct fc_transport_mr *mr);
	int (*listen)(struct fc_transport *t, const char *host, uint16_t port,
		      const struct fc_transport_mr *expose,
		      struct fc_transport_listener **out, char *errmsg);
	int (*accept)(struct fc_transport_listener *l, int timeout_ms,
		      struct fc_transport_conn **out, char *errmsg);
	void (*listener_close)(struct fc_transport_listener *l);
	int (*connect)(struct fc_transport *t, const char *host, uint16_t port,
		       int timeout_ms, struct fc_transport_conn **out, char *errmsg);
	int (*post)(struct fc_transport_conn *c, const struct fc_transport_wr *wrs,
		    size_t n, char *errmsg);
	int (*poll)(struct fc_transport_conn *c, struct fc_transport_wc *wcs,
		    size_t max, int timeout_ms, size_t *n_out, char *errmsg);
	void (*conn_close)(struct fc_transport_conn *c);
};

/* Backend tables (each defined by its source file). */
extern const struct fc_transport_ops fc_transport_tcp_ops;
extern const struct fc_transport_ops fc_transport_rdma_ops;

/* "auto" | "tcp" | "rdma" -> kind; FC_EINVAL otherwise. */
int fc_transport_parse_kind(const char *s, enum fc_transport_kind *out);
const char *fc_transport_kind_name(enum fc_transport_kind kind);

/* FC_OK when an RDMA device with an active port is present; otherwise
 * FC_EUNSUPPORTED and errmsg says why. Cheap; opens and closes devices. */
int fc_transport_rdma_probe(char *errmsg);

/* Opens a transport of the given kind. AUTO probes rdma, falls back to tcp
 * and logs the choice. *out is owned by the caller: fc_transport_close()
 * after every mr, listener and connection made from it is gone. */
int fc_transport_open(enum fc_transport_kind kind, struct fc_transport **out,
		      char *errmsg);
void fc_transport_close(struct fc_transport *t);
/* "tcp" or "rdma" (static). */
const char *fc_transport_name(const struct fc_transport *t);
const struct fc_transport_ops *fc_transport_get_ops(const struct fc_transport *t);
/* Thread-safe snapshot of the counters. */
void fc_transport_stats(struct fc_transport *t, struct fc_transport_stats *out);

/* Registers [addr, addr+len) for local use and for remote READ, WRITE and
 * CAS. The memory stays owned by the caller and must outlive the mr. */
int fc_transport_reg_mr(struct fc_transport *t, void *addr, size_t len,
			struct fc_transport_mr **out, char *errmsg);
/* Descriptor to hand to a peer (rdma: of the first device; a connection
 * hands the right one itself when the mr is exposed by a listener). */
void fc_transport_mr_desc(const struct fc_transport_mr *mr, struct fc_mr_desc *out);
void fc_transport_dereg_mr(struct fc_transport_mr *mr);

/* Listens on host:port (port 0: ephemeral). Every accepted connection
 * receives the descriptor of `expose` (borrowed; may be NULL for none),
 * which must outlive the listener and every connection it accepted. */
int fc_transport_listen(struct fc_transport *t, const char *host, uint16_t port,
			const struct fc_transport_mr *expose,
			struct fc_transport_listener **out, char *errmsg);
/* The bound port (useful after port 0). */
uint16_t fc_transport_listener_port(const struct fc_transport_listener *l);
/* Waits up to timeout_ms (-1: forever) for one client; FC_ETIMEOUT if none. */
int fc_transport_accept(struct fc_transport_listener *l, int timeout_ms,
			struct fc_transport_conn **out, char *errmsg);
/* Stops listening. Connections already accepted stay open. */
void fc_transport_listener_close(struct fc_transport_listener *l);

/* Connects within timeout_ms. *out owned by the caller. */
int fc_transport_connect(struct fc_transport *t, const char *host, uint16_t port,
			 int timeout_ms, struct fc_transport_conn **out, char *errmsg);
/* The region the peer exposed (len 0 when none). */
void fc_transport_conn_remote(const struct fc_transport_conn *c, struct fc_mr_desc *out);
/* "host:port" of the peer (static storage inside c). */
const char *fc_transport_conn_peer(const struct fc_transport_conn *c);

/* Posts n work requests with one doorbell. All or nothing: on error none was
 * posted. FC_EINVAL (bad request), FC_ERANGE (outside the remote region or
 * the local mr), FC_EBUSY (queue full: poll first), FC_ECLOSED (peer gone). */
int fc_transport_post(struct fc_transport_conn *c, const struct fc_transport_wr *wrs,
		      size_t n, char *errmsg);
/* Waits up to timeout_ms (0: just look, -1: forever) for at least one
 * completion and returns up to max of them in wcs; *n_out = 0 on timeout
 * (FC_OK). Each signaled work request completes exactly once; an unsignaled
 * one only when it fails. Returns FC_ECLOSED once the connection is closed
 * and nothing remains to return. */
int fc_transport_poll(struct fc_transport_conn *c, struct fc_transport_wc *wcs,
		      size_t max, int timeout_ms, size_t *n_out, char *errmsg);
/* Disconnects and frees. Outstanding work requests are abandoned. */
void fc_transport_conn_close(struct fc_transport_conn *c);

#endif
