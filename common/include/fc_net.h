/* fc_net.h - control plane: length-prefixed frames over TCP.
 *
 * Wire format. A frame is a 4-byte big-endian payload length followed by
 * that many payload bytes. The payload is opaque here (callers put a
 * protobuf-c ControlMessage in it). A zero-length frame is legal. A frame
 * longer than the receiver's max_frame_bytes is a protocol violation: the
 * receiver closes that connection.
 *
 *     +--------+--------+--------+--------+-----------------------+
 *     |           length (u32, BE)        |   payload (length)    |
 *     +--------+--------+--------+--------+-----------------------+
 *
 * Two APIs:
 *
 *  1. fc_net_* / fc_conn_*: asynchronous, on a libuv loop that the caller
 *     owns and runs. All functions and callbacks run on the loop's thread;
 *     nothing here is thread-safe. Servers and connections are opaque
 *     handles.
 *  2. fc_netc_*: a small blocking client (plain sockets, no libuv) for CLIs
 *     and tests. One fc_netc per thread at a time.
 *
 * Connection lifecycle (async API). Every connection handle, whether
 * accepted (announced by on_accept) or outgoing (returned by
 * fc_net_connect), gets exactly one on_close, and on_close is the last
 * callback for it: after on_close returns the handle is freed and must not
 * be used. Between close initiation (fc_conn_close, peer EOF, a protocol
 * error, fc_net_server_close) and on_close, fc_conn_send returns FC_ECLOSED
 * and no further on_frame is delivered. on_close codes:
 *     FC_OK       closed locally by fc_conn_close
 *     FC_ECLOSED  peer closed cleanly at a frame boundary, or server closing
 *     FC_EPROTO   peer closed mid-frame (truncated frame)
 *     FC_ETOOBIG  peer announced a frame over max_frame_bytes (garbage prefix)
 *     FC_EIO      socket error (reset, ...), or connect failed
 *     FC_ETIMEOUT connect did not complete within connect_timeout_ms
 *     FC_ENOMEM   out of memory while receiving
 * Abnormal closes are logged (comp=net, fields peer= reason=); a bad peer
 * only ever closes its own connection.
 *
 * Back-pressure. Each connection counts the bytes it has queued for sending
 * and not yet handed to the kernel (frame headers included). While that
 * count is >= send_hwm, fc_conn_send returns FC_EBUSY and the connection
 * stops reading from its peer (so a peer that sends requests but never reads
 * replies cannot grow our memory without bound: at most send_hwm plus one
 * frame is queued). When the count falls to <= send_lwm, reading resumes
 * and, if a send was refused with FC_EBUSY or the queue reached the high
 * watermark, on_drain fires once.
 *
 * Teardown. Close every outgoing connection (fc_conn_close) and every server
 * (fc_net_server_close, which closes its accepted connections), run the loop
 * until the corresponding on_close / server close callback has fired, then
 * uv_loop_close() succeeds. Do not uv_loop_close with live handles.
 */
#ifndef FC_NET_H
#define FC_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define FC_NET_FRAME_HDR 4u
#define FC_NET_DEFAULT_MAX_FRAME (16u << 20) /* 16 MiB */
#define FC_NET_DEFAULT_SEND_HWM (8u << 20)   /* 8 MiB */

struct fc_net_server;
struct fc_conn;

/* Options; a NULL pointer or a zero field means the default. Copied. */
struct fc_net_opts {
	size_t max_frame_bytes;	     /* default FC_NET_DEFAULT_MAX_FRAME; max 2^32-1 */
	size_t send_hwm;	     /* default FC_NET_DEFAULT_SEND_HWM */
	size_t send_lwm;	     /* default send_hwm / 4; must be < send_hwm */
	unsigned connect_timeout_ms; /* outgoing only; default 0 = no timeout */
	int backlog;		     /* listen only; default 128 */
};

/* Callbacks; copied. Any member may be NULL. `ud` is the connection's user
 * data: initially the ud given to fc_net_listen / fc_net_connect, changed
 * with fc_conn_set_data. Callbacks may call any fc_conn_* / fc_net_* function,
 * including fc_conn_close on the same connection and fc_net_server_close. */
struct fc_net_cbs {
	/* Server only: a new connection was accepted. */
	void (*on_accept)(struct fc_conn *conn, void *ud);
	/* Outgoing only: status FC_OK once connected. On failure status is an
	 * error code and reason says why; on_close follows with the same code. */
	void (*on_connect)(struct fc_conn *conn, int status, const char *reason, void *ud);
	/* One complete frame. payload is valid only during the call (never NULL,
	 * even when len == 0) and is owned by the library. */
	void (*on_frame)(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud);
	/* The send queue fell to send_lwm after having been at send_hwm. */
	void (*on_drain)(struct fc_conn *conn, void *ud);
	/* Last callback of the connection, see above. reason is static or owned
	 * by the connection, valid during the call. */
	void (*on_close)(struct fc_conn *conn, int code, const char *reason, void *ud);
};

/* Listens on host:port (host an IP literal or a name resolved with a
 * blocking getaddrinfo; port 0 picks an ephemeral port, see
 * fc_net_server_port). opts and cbs are copied; ud is borrowed and becomes
 * the initial user data of every accepted connection. On success *out is a
 * new server handle owned by the caller until fc_net_server_close. */
int fc_net_listen(uv_loop_t *loop, const char *host, uint16_t port, const struct fc_net_opts *opts,
		  const struct fc_net_cbs *cbs, void *ud, struct fc_net_server **out, char *errmsg);

/* The port actually bound (useful after listening on port 0). */
uint16_t fc_net_server_port(const struct fc_net_server *srv);

/* Number of accepted connections not yet closed (on_close not yet fired). */
size_t fc_net_server_nconns(const struct fc_net_server *srv);

/* Stops listening and closes every accepted connection (on_close with
 * FC_ECLOSED "server closing"); when all their handles are closed calls
 * cb(cb_ud) (cb may be NULL) and frees srv. srv must not be used after this
 * call. Idempotence: call once. */
void fc_net_server_close(struct fc_net_server *srv, void (*cb)(void *cb_ud), void *cb_ud);

/* Starts connecting to host:port (host resolved as in fc_net_listen). On
 * success *out is the new connection handle; on_connect reports the result
 * later (never from inside this call) and on_close ends the handle's life as
 * described above. The caller must eventually fc_conn_close it (or see it
 * closed) before closing the loop. On error nothing is left behind and no
 * callback fires. */
int fc_net_connect(uv_loop_t *loop, const char *host, uint16_t port, const struct fc_net_opts *opts,
		   const struct fc_net_cbs *cbs, void *ud, struct fc_conn **out, char *errmsg);

/* Queues one frame, copying buf[0..len) (buf may be NULL when len is 0).
 * FC_OK; FC_EBUSY when the send queue is at the high watermark (retry after
 * on_drain); FC_ETOOBIG when len > max_frame_bytes; FC_ECLOSED when the
 * connection is closing; FC_ESTATE when an outgoing connection is not yet
 * connected; FC_ENOMEM. */
int fc_conn_send(struct fc_conn *conn, const void *buf, size_t len);

/* Zero-copy variant: on FC_OK takes ownership of buf, which must come from
 * fc_malloc and is released with fc_free once written (or when the
 * connection closes). On any error ownership stays with the caller. */
int fc_conn_send_owned(struct fc_conn *conn, void *buf, size_t len);

/* Closes the connection now: frames not yet handed to the kernel are
 * dropped; on_close(FC_OK, "closed locally") follows from the loop. No-op
 * if the connection is already closing. */
void fc_conn_close(struct fc_conn *conn);

/* "ip:port" of the peer (for logs); owned by conn. */
const char *fc_conn_peer(const struct fc_conn *conn);
void *fc_conn_get_data(const struct fc_conn *conn);
void fc_conn_set_data(struct fc_conn *conn, void *ud);
/* Bytes queued for sending and not yet handed to the kernel. */
size_t fc_conn_send_queued(const struct fc_conn *conn);
/* 1 once connected and until close begins. */
int fc_conn_is_open(const struct fc_conn *conn);

/* ---- helpers ------------------------------------------------------------ */

/* Big-endian 32-bit store/load: the frame length prefix above; any module
 * that writes a be32 header of its own (e.g. the orderer's block log) may
 * use them. */
static inline void fc_net_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t fc_net_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Splits "host:port" (host may be "[v6]") into host (NUL-terminated, at most
 * hlen - 1 bytes) and port. 1 on success; 0 when addr is not of that form,
 * the port is not in 1..65535 or the host does not fit (outputs then
 * unspecified). For leader redirects (SubmitResult.leader) and CLI
 * addresses. */
int fc_net_split_addr(const char *addr, char *host, size_t hlen, uint16_t *port);

/* 1 when addr is exactly "host:port" (decimal port), else 0. For mapping a
 * leader redirect onto a configured node. */
int fc_net_addr_is(const char *addr, const char *host, uint16_t port);

/* Blocking TCP connect to host:port within timeout_ms (0 = no timeout),
 * trying every resolved address. On FC_OK *fd is a connected socket in
 * non-blocking, close-on-exec mode, owned by the caller (close(2)).
 * FC_ETIMEOUT, FC_EIO (refused, unreachable), FC_EINVAL (bad host); errmsg
 * says "connect HOST:PORT: why". The base of fc_netc_connect; for other
 * blocking clients on plain sockets (e.g. the ops HTTP GET). */
int fc_net_dial(const char *host, uint16_t port, unsigned timeout_ms, int *fd, char *errmsg);

/* ---- blocking client ---------------------------------------------------- */

struct fc_netc;

/* Connects to host:port within timeout_ms (0 = no timeout). On success *out
 * is a new client owned by the caller (release with fc_netc_close).
 * FC_ETIMEOUT, FC_EIO (refused, unreachable), FC_EINVAL (bad host). */
int fc_netc_connect(const char *host, uint16_t port, unsigned timeout_ms, struct fc_netc **out,
		    char *errmsg);

/* Sends one frame (buf may be NULL when len is 0), within timeout_ms
 * (0 = no timeout). FC_ETIMEOUT, FC_ECLOSED, FC_EIO, FC_ETOOBIG (len does
 * not fit the 32-bit prefix). After a send error the stream may hold a
 * partial frame: the client is then unusable (FC_ESTATE) except for close. */
int fc_netc_send(struct fc_netc *c, const void *buf, size_t len, unsigned timeout_ms, char *errmsg);

/* Receives one frame of at most max bytes (0 = FC_NET_DEFAULT_MAX_FRAME)
 * within timeout_ms (0 = no timeout). On FC_OK *buf is a new fc_malloc'd
 * buffer owned by the caller (fc_free; non-NULL even when *len is 0).
 * FC_ETIMEOUT keeps what was read so far: the next call continues the same
 * frame. FC_ECLOSED (peer closed at a frame boundary), FC_EPROTO (peer
 * closed mid-frame), FC_ETOOBIG (announced length > max), FC_EIO; after any
 * of those the client is unusable (FC_ESTATE) except for close. */
int fc_netc_recv(struct fc_netc *c, uint8_t **buf, size_t *len, size_t max, unsigned timeout_ms,
		 char *errmsg);

/* The socket, e.g. for poll(); owned by c. */
int fc_netc_fd(const struct fc_netc *c);

/* Closes the socket and frees c. NULL is a no-op. */
void fc_netc_close(struct fc_netc *c);

#endif
