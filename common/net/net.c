/* Control plane framing on libuv. See fc_net.h for the contract.
 *
 * Receive path: libuv reads into one per-thread scratch buffer (a read
 * callback consumes it synchronously, so one buffer serves every connection
 * of the thread and an idle connection costs no read buffer). Frames wholly
 * inside a read are delivered straight from it; a frame that spans reads is
 * gathered in a per-connection buffer that grows with the bytes actually
 * received, not with the announced length, so a lying prefix costs nothing.
 *
 * Send path: one uv_write per frame with two buffers (header, payload).
 * `queued` counts bytes whose write callback has not fired yet; it drives
 * back-pressure (FC_EBUSY, read stop, on_drain).
 *
 * Lifetime: a connection's memory is released in the close callback of its
 * last libuv handle; write and connect requests are cancelled by libuv
 * before that callback, so they never see freed memory.
 */
#include "fc_net.h"

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RX_SCRATCH (64u * 1024u)
#define RX_KEEP_MAX (1u << 20) /* gather buffers above this are freed after use */

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSING };

struct wreq {
	uv_write_t req;
	struct fc_conn *conn;
	void *owned; /* fc_send_owned payload, or NULL when copied inline */
	size_t total;
	uint8_t hdr[FC_NET_FRAME_HDR];
	uint8_t data[]; /* inline copy for fc_conn_send */
};

struct fc_conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* connect timeout; initialised iff has_timer */
	uv_connect_t creq;
	struct fc_net_server *srv;   /* NULL for outgoing */
	struct fc_conn *prev, *next; /* in srv->conns */
	struct fc_net_cbs cbs;
	struct fc_net_opts opts; /* normalised */
	void *ud;
	enum conn_state state;
	int has_timer;
	int nhandles;  /* libuv handles not yet closed */
	int announced; /* user knows the handle: on_close is owed */
	int reading;
	int want_drain;
	size_t queued;
	int close_code;
	char close_reason[192];
	char peer[64];
	/* receive state */
	uint8_t hdr[FC_NET_FRAME_HDR];
	size_t hdr_have;
	int in_body;
	uint32_t flen;
	uint8_t *fbuf;
	size_t fcap, fhave;
};

struct fc_net_server {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	struct fc_net_cbs cbs;
	struct fc_net_opts opts;
	void *ud;
	uint16_t port;
	int closing;
	int listener_closed;
	struct fc_conn *conns;
	size_t nconns;
	void (*close_cb)(void *);
	void *close_ud;
	char addr[64];
};

static _Thread_local uint8_t rx_scratch[RX_SCRATCH];
static const uint8_t empty_payload[1];

/* ---- helpers ------------------------------------------------------------ */

/* libuv writes with write(2): a vanished peer must not kill the process. */
static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
static void ignore_sigpipe(void)
{
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0;
		sigaction(SIGPIPE, &sa, NULL);
	}
}

static int uv_to_fc(int uverr)
{
	switch (uverr) {
	case 0:
		return FC_OK;
	case UV_ENOMEM:
		return FC_ENOMEM;
	case UV_ETIMEDOUT:
		return FC_ETIMEOUT;
	case UV_EINVAL:
	case UV_EAI_NONAME:
		return FC_EINVAL;
	case UV_EOF:
	case UV_ECANCELED:
		return FC_ECLOSED;
	default:
		return FC_EIO;
	}
}

static void sockaddr_name(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[48] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		uv_ip4_name(s4, ip, sizeof ip);
		port = ntohs(s4->sin_port);
		snprintf(out, outlen, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		uv_ip6_name(s6, ip, sizeof ip);
		port = ntohs(s6->sin6_port);
		snprintf(out, outlen, "[%s]:%d", ip, port);
	} else {
		snprintf(out, outlen, "?");
	}
}

/* IP literal, else a blocking getaddrinfo (first TCP result). */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, char *errmsg)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	int e;

	if (!host)
		return fc_errf(errmsg, FC_EINVAL, "resolve: NULL host");
	memset(ss, 0, sizeof *ss);
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return FC_OK;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return FC_OK;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof portstr, "%u", port);
	e = getaddrinfo(host, portstr, &hints, &res);
	if (e != 0 || !res)
		return fc_errf(errmsg, FC_EINVAL, "resolve %s: %s", host,
			       e ? gai_strerror(e) : "no address");
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return FC_OK;
}

static int norm_opts(const struct fc_net_opts *in, struct fc_net_opts *out, char *errmsg)
{
	memset(out, 0, sizeof *out);
	if (in)
		*out = *in;
	if (!out->max_frame_bytes)
		out->max_frame_bytes = FC_NET_DEFAULT_MAX_FRAME;
	if (!out->send_hwm)
		out->send_hwm = FC_NET_DEFAULT_SEND_HWM;
	if (!out->send_lwm)
		out->send_lwm = out->send_hwm / 4;
	if (!out->backlog)
		out->backlog = 128;
	if (out->max_frame_bytes > UINT32_MAX)
		return fc_errf(errmsg, FC_EINVAL, "max_frame_bytes %zu over 2^32-1",
			       out->max_frame_bytes);
	if (out->send_lwm >= out->send_hwm)
		return fc_errf(errmsg, FC_EINVAL, "send_lwm %zu not below send_hwm %zu",
			       out->send_lwm, out->send_hwm);
	return FC_OK;
}

/* ---- connection teardown ------------------------------------------------ */

static void server_maybe_finish(struct fc_net_server *srv);

static void conn_finish(struct fc_conn *conn)
{
	struct fc_net_server *srv = conn->srv;

	if (conn->announced && conn->cbs.on_close)
		conn->cbs.on_close(conn, conn->close_code, conn->close_reason, conn->ud);
	fc_free(conn->fbuf);
	if (srv) {
		if (conn->prev)
			conn->prev->next = conn->next;
		else
			srv->conns = conn->next;
		if (conn->next)
			conn->next->prev = conn->prev;
		srv->nconns--;
	}
	fc_free(conn);
	if (srv)
		server_maybe_finish(srv);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct fc_conn *conn = h->data;
	if (--conn->nhandles == 0)
		conn_finish(conn);
}

/* Begins closing; on_close fires from the last handle's close callback. */
static void conn_close(struct fc_conn *conn, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_close(struct fc_conn *conn, int code, const char *fmt, ...)
{
	va_list ap;

	if (conn->state == CONN_CLOSING)
		return;
	conn->state = CONN_CLOSING;
	conn->close_code = code;
	va_start(ap, fmt);
	vsnprintf(conn->close_reason, sizeof conn->close_reason, fmt, ap);
	va_end(ap);

	enum fc_log_level lvl = FC_LOG_WARN;
	if (code == FC_OK || code == FC_ECLOSED)
		lvl = FC_LOG_DEBUG;
	fc_log(lvl, "net", "connection closed", "peer=%s code=\"%s\" reason=\"%s\"", conn->peer,
	       fc_strerror(code), conn->close_reason);

	if (conn->has_timer) {
		uv_timer_stop(&conn->timer);
		uv_close((uv_handle_t *)&conn->timer, on_conn_handle_closed);
	}
	uv_close((uv_handle_t *)&conn->tcp, on_conn_handle_closed);
}

/* ---- receive ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = (char *)rx_scratch;
	buf->len = sizeof rx_scratch;
}

static void deliver(struct fc_conn *conn, const uint8_t *p, size_t len)
{
	if (conn->cbs.on_frame)
		conn->cbs.on_frame(conn, len ? p : empty_payload, len, conn->ud);
}

/* Appends n bytes of the current frame body to the gather buffer, growing it
 * geometrically but never past the announced length. */
static int gather(struct fc_conn *conn, const uint8_t *p, size_t n)
{
	size_t need = conn->fhave + n;
	if (need > conn->fcap) {
		size_t cap = conn->fcap ? conn->fcap * 2 : 4096;
		if (cap < need)
			cap = need;
		if (cap > conn->flen)
			cap = conn->flen;
		uint8_t *nb = fc_realloc(conn->fbuf, cap);
		if (!nb)
			return FC_ENOMEM;
		conn->fbuf = nb;
		conn->fcap = cap;
	}
	memcpy(conn->fbuf + conn->fhave, p, n);
	conn->fhave += n;
	return FC_OK;
}

static void consume(struct fc_conn *conn, const uint8_t *p, size_t n)
{
	while (conn->state == CONN_OPEN) {
		if (!conn->in_body) {
			if (n == 0)
				return;
			if (conn->hdr_have == 0 && n >= FC_NET_FRAME_HDR) {
				conn->flen = fc_net_get_be32(p);
				p += FC_NET_FRAME_HDR;
				n -= FC_NET_FRAME_HDR;
			} else {
				size_t take = FC_NET_FRAME_HDR - conn->hdr_have;
				if (take > n)
					take = n;
				memcpy(conn->hdr + conn->hdr_have, p, take);
				conn->hdr_have += take;
				p += take;
				n -= take;
				if (conn->hdr_have < FC_NET_FRAME_HDR)
					return;
				conn->flen = fc_net_get_be32(conn->hdr);
				conn->hdr_have = 0;
			}
			if (conn->flen > conn->opts.max_frame_bytes) {
				conn_close(conn, FC_ETOOBIG, "frame of %u bytes over max %zu",
					   conn->flen, conn->opts.max_frame_bytes);
				return;
			}
			conn->in_body = 1;
			conn->fhave = 0;
		}
		/* Body: zero-copy when the whole frame is in this read. */
		if (conn->fhave == 0 && n >= conn->flen) {
			conn->in_body = 0;
			deliver(conn, p, conn->flen);
			p += conn->flen;
			n -= conn->flen;
			continue;
		}
		if (n == 0)
			return;
		size_t take = conn->flen - conn->fhave;
		if (take > n)
			take = n;
		if (gather(conn, p, take) != FC_OK) {
			conn_close(conn, FC_ENOMEM, "out of memory gathering a %u-byte frame",
				   conn->flen);
			return;
		}
		p += take;
		n -= take;
		if (conn->fhave < conn->flen)
			return;
		conn->in_body = 0;
		conn->fhave = 0;
		deliver(conn, conn->fbuf, conn->flen);
		if (conn->state == CONN_OPEN && conn->fcap > RX_KEEP_MAX) {
			fc_free(conn->fbuf);
			conn->fbuf = NULL;
			conn->fcap = 0;
		}
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fc_conn *conn = s->data;

	if (conn->state != CONN_OPEN)
		return;
	if (nread > 0) {
		consume(conn, (const uint8_t *)buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		if (conn->in_body)
			conn_close(conn, FC_EPROTO,
				   "truncated frame: peer closed after %zu of %u bytes",
				   conn->fhave, conn->flen);
		else if (conn->hdr_have)
			conn_close(conn, FC_EPROTO,
				   "truncated frame: peer closed after %zu of 4 header bytes",
				   conn->hdr_have);
		else
			conn_close(conn, FC_ECLOSED, "peer closed");
		return;
	}
	conn_close(conn, uv_to_fc((int)nread), "read: %s", uv_strerror((int)nread));
}

static void start_reading(struct fc_conn *conn)
{
	if (conn->reading || conn->state != CONN_OPEN)
		return;
	int r = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
	if (r) {
		conn_close(conn, FC_EIO, "read start: %s", uv_strerror(r));
		return;
	}
	conn->reading = 1;
}

static void stop_reading(struct fc_conn *conn)
{
	if (!conn->reading)
		return;
	uv_read_stop((uv_stream_t *)&conn->tcp);
	conn->reading = 0;
}

/* ---- send --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
	struct wreq *wr = (struct wreq *)req;
	struct fc_conn *conn = wr->conn;

	conn->queued -= wr->total;
	fc_free(wr->owned);
	fc_free(wr);
	if (conn->state != CONN_OPEN)
		return;
	if (status < 0) {
		conn_close(conn, uv_to_fc(status), "write: %s", uv_strerror(status));
		return;
	}
	if (conn->queued <= conn->opts.send_lwm) {
		start_reading(conn);
		if (conn->want_drain && conn->state == CONN_OPEN) {
			conn->want_drain = 0;
			if (conn->cbs.on_drain)
				conn->cbs.on_drain(conn, conn->ud);
		}
	}
}

static int send_check(struct fc_conn *conn, size_t len)
{
	if (!conn)
		return FC_EINVAL;
	if (conn->state == CONN_CLOSING)
		return FC_ECLOSED;
	if (conn->state != CONN_OPEN)
		return FC_ESTATE;
	if (len > conn->opts.max_frame_bytes)
		return FC_ETOOBIG;
	if (conn->queued >= conn->opts.send_hwm) {
		conn->want_drain = 1;
		return FC_EBUSY;
	}
	return FC_OK;
}

static int send_wreq(struct fc_conn *conn, struct wreq *wr, const void *payload, size_t len)
{
	uv_buf_t bufs[2];
	unsigned nbufs = 1;

	wr->conn = conn;
	wr->total = FC_NET_FRAME_HDR + len;
	fc_net_put_be32(wr->hdr, (uint32_t)len);
	bufs[0] = uv_buf_init((char *)wr->hdr, FC_NET_FRAME_HDR);
	if (len) {
		bufs[1] = uv_buf_init((char *)payload, (unsigned)len);
		nbufs = 2;
	}
	int r = uv_write(&wr->req, (uv_stream_t *)&conn->tcp, bufs, nbufs, on_write);
	if (r) {
		conn_close(conn, uv_to_fc(r), "write: %s", uv_strerror(r));
		return FC_ECLOSED;
	}
	conn->queued += wr->total;
	if (conn->queued >= conn->opts.send_hwm) {
		/* Over the watermark: stop taking work from this peer until
		 * it reads what we owe it. */
		conn->want_drain = 1;
		stop_reading(conn);
	}
	return FC_OK;
}

int fc_conn_send(struct fc_conn *conn, const void *buf, size_t len)
{
	int rc = send_check(conn, len);
	if (rc)
		return rc;
	if (len && !buf)
		return FC_EINVAL;
	struct wreq *wr = fc_malloc(sizeof *wr + len);
	if (!wr)
		return FC_ENOMEM;
	wr->owned = NULL;
	if (len)
		memcpy(wr->data, buf, len);
	rc = send_wreq(conn, wr, wr->data, len);
	if (rc)
		fc_free(wr);
	return rc;
}

int fc_conn_send_owned(struct fc_conn *conn, void *buf, size_t len)
{
	int rc = send_check(conn, len);
	if (rc)
		return rc;
	if (len && !buf)
		return FC_EINVAL;
	struct wreq *wr = fc_malloc(sizeof *wr);
	if (!wr)
		return FC_ENOMEM;
	wr->owned = NULL;
	rc = send_wreq(conn, wr, buf, len);
	if (rc) {
		fc_free(wr);
		return rc;
	}
	wr->owned = buf; /* only now: on error the caller keeps it */
	return FC_OK;
}

/* ---- small accessors ---------------------------------------------------- */

void fc_conn_close(struct fc_conn *conn)
{
	if (conn)
		conn_close(conn, FC_OK, "closed locally");
}

const char *fc_conn_peer(const struct fc_conn *conn)
{
	return conn->peer;
}

void *fc_conn_get_data(const struct fc_conn *conn)
{
	return conn->ud;
}

void fc_conn_set_data(struct fc_conn *conn, void *ud)
{
	conn->ud = ud;
}

size_t fc_conn_send_queued(const struct fc_conn *conn)
{
	return conn->queued;
}

int fc_conn_is_open(const struct fc_conn *conn)
{
	return conn->state == CONN_OPEN;
}

/* ---- server ------------------------------------------------------------- */

static void server_maybe_finish(struct fc_net_server *srv)
{
	if (!srv->closing || !srv->listener_closed || srv->nconns)
		return;
	void (*cb)(void *) = srv->close_cb;
	void *cb_ud = srv->close_ud;
	fc_log(FC_LOG_DEBUG, "net", "server closed", "addr=%s", srv->addr);
	fc_free(srv);
	if (cb)
		cb(cb_ud);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct fc_net_server *srv = h->data;
	srv->listener_closed = 1;
	server_maybe_finish(srv);
}

static void on_unaccepted_closed(uv_handle_t *h)
{
	fc_free(h->data);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct fc_net_server *srv = ls->data;
	struct fc_conn *conn;
	struct sockaddr_storage ss;
	int namelen = sizeof ss;
	int r;

	if (status < 0) {
		fc_log(FC_LOG_WARN, "net", "accept failed", "addr=%s reason=\"%s\"", srv->addr,
		       uv_strerror(status));
		return;
	}
	if (srv->closing)
		return;
	conn = fc_calloc(1, sizeof *conn);
	if (!conn) {
		fc_log(FC_LOG_ERROR, "net", "accept failed", "addr=%s reason=\"out of memory\"",
		       srv->addr);
		return;
	}
	r = uv_tcp_init(srv->loop, &conn->tcp);
	if (r) {
		fc_free(conn);
		fc_log(FC_LOG_ERROR, "net", "accept failed", "addr=%s reason=\"%s\"", srv->addr,
		       uv_strerror(r));
		return;
	}
	conn->tcp.data = conn;
	r = uv_accept(ls, (uv_stream_t *)&conn->tcp);
	if (r) {
		fc_log(FC_LOG_WARN, "net", "accept failed", "addr=%s reason=\"%s\"", srv->addr,
		       uv_strerror(r));
		uv_close((uv_handle_t *)&conn->tcp, on_unaccepted_closed);
		return;
	}
	uv_tcp_nodelay(&conn->tcp, 1);
	if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &namelen) == 0)
		sockaddr_name((struct sockaddr *)&ss, conn->peer, sizeof conn->peer);
	else
		snprintf(conn->peer, sizeof conn->peer, "?");
	conn->srv = srv;
	conn->cbs = srv->cbs;
	conn->opts = srv->opts;
	conn->ud = srv->ud;
	conn->state = CONN_OPEN;
	conn->nhandles = 1;
	conn->announced = 1;
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->nconns++;
	fc_log(FC_LOG_DEBUG, "net", "connection accepted", "addr=%s peer=%s", srv->addr,
	       conn->peer);
	if (srv->cbs.on_accept)
		srv->cbs.on_accept(conn, conn->ud);
	start_reading(conn);
}

int fc_net_listen(uv_loop_t *loop, const char *host, uint16_t port, const struct fc_net_opts *opts,
		  const struct fc_net_cbs *cbs, void *ud, struct fc_net_server **out, char *errmsg)
{
	struct fc_net_server *srv = NULL;
	struct sockaddr_storage ss;
	int namelen = sizeof ss;
	int rc, r;

	if (!loop || !out)
		return fc_errf(errmsg, FC_EINVAL, "net: listen: NULL argument");
	*out = NULL;
	pthread_once(&sigpipe_once, ignore_sigpipe);
	srv = fc_calloc(1, sizeof *srv);
	if (!srv)
		return fc_errf(errmsg, FC_ENOMEM, "net: listen: out of memory");
	rc = norm_opts(opts, &srv->opts, errmsg);
	if (rc)
		goto free_srv;
	rc = resolve(host, port, &ss, errmsg);
	if (rc)
		goto free_srv;
	if (cbs)
		srv->cbs = *cbs;
	srv->loop = loop;
	srv->ud = ud;
	r = uv_tcp_init(loop, &srv->tcp);
	if (r) {
		rc = fc_errf(errmsg, uv_to_fc(r), "tcp init: %s", uv_strerror(r));
		goto free_srv;
	}
	srv->tcp.data = srv;
	r = uv_tcp_bind(&srv->tcp, (struct sockaddr *)&ss, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&srv->tcp, srv->opts.backlog, on_connection);
	if (!r)
		r = uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&ss, &namelen);
	if (r) {
		rc = fc_errf(errmsg, FC_EIO, "bind/listen: %s", uv_strerror(r));
		goto close_tcp;
	}
	sockaddr_name((struct sockaddr *)&ss, srv->addr, sizeof srv->addr);
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	fc_log(FC_LOG_INFO, "net", "listening", "addr=%s", srv->addr);
	*out = srv;
	return FC_OK;

close_tcp:
	/* The handle is registered with the loop: free srv from its close
	 * callback (the caller's next uv_run). */
	srv->closing = 1;
	srv->close_cb = NULL;
	uv_close((uv_handle_t *)&srv->tcp, on_listener_closed);
	return fc_errwrap(errmsg, rc, "net: listen %s:%u", host, port);
free_srv:
	fc_free(srv);
	return fc_errwrap(errmsg, rc, "net: listen %s:%u", host ? host : "(null)", port);
}

uint16_t fc_net_server_port(const struct fc_net_server *srv)
{
	return srv->port;
}

size_t fc_net_server_nconns(const struct fc_net_server *srv)
{
	return srv->nconns;
}

void fc_net_server_close(struct fc_net_server *srv, void (*cb)(void *cb_ud), void *cb_ud)
{
	if (!srv || srv->closing)
		return;
	srv->closing = 1;
	srv->close_cb = cb;
	srv->close_ud = cb_ud;
	uv_close((uv_handle_t *)&srv->tcp, on_listener_closed);
	for (struct fc_conn *c = srv->conns; c; c = c->next)
		conn_close(c, FC_ECLOSED, "server closing");
}

/* ---- outgoing ----------------------------------------------------------- */

static void connect_failed(struct fc_conn *conn, int code, const char *why)
{
	conn_close(conn, code, "connect: %s", why);
	if (conn->cbs.on_connect)
		conn->cbs.on_connect(conn, conn->close_code, conn->close_reason, conn->ud);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct fc_conn *conn = req->data;

	if (conn->state != CONN_CONNECTING)
		return; /* closed meanwhile (UV_ECANCELED) */
	if (status < 0) {
		connect_failed(conn, status == UV_ETIMEDOUT ? FC_ETIMEOUT : FC_EIO,
			       uv_strerror(status));
		return;
	}
	if (conn->has_timer)
		uv_timer_stop(&conn->timer);
	conn->state = CONN_OPEN;
	uv_tcp_nodelay(&conn->tcp, 1);
	fc_log(FC_LOG_DEBUG, "net", "connected", "peer=%s", conn->peer);
	if (conn->cbs.on_connect)
		conn->cbs.on_connect(conn, FC_OK, "connected", conn->ud);
	start_reading(conn);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct fc_conn *conn = t->data;
	if (conn->state == CONN_CONNECTING)
		connect_failed(conn, FC_ETIMEOUT, "timed out");
}

int fc_net_connect(uv_loop_t *loop, const char *host, uint16_t port, const struct fc_net_opts *opts,
		   const struct fc_net_cbs *cbs, void *ud, struct fc_conn **out, char *errmsg)
{
	struct fc_conn *conn = NULL;
	struct sockaddr_storage ss;
	int rc, r;

	if (!loop || !out)
		return fc_errf(errmsg, FC_EINVAL, "net: connect: NULL argument");
	*out = NULL;
	pthread_once(&sigpipe_once, ignore_sigpipe);
	conn = fc_calloc(1, sizeof *conn);
	if (!conn)
		return fc_errf(errmsg, FC_ENOMEM, "net: connect: out of memory");
	rc = norm_opts(opts, &conn->opts, errmsg);
	if (rc)
		goto free_conn;
	rc = resolve(host, port, &ss, errmsg);
	if (rc)
		goto free_conn;
	sockaddr_name((struct sockaddr *)&ss, conn->peer, sizeof conn->peer);
	if (cbs)
		conn->cbs = *cbs;
	conn->ud = ud;
	conn->state = CONN_CONNECTING;
	r = uv_tcp_init(loop, &conn->tcp);
	if (r) {
		rc = fc_errf(errmsg, uv_to_fc(r), "tcp init: %s", uv_strerror(r));
		goto free_conn;
	}
	conn->tcp.data = conn;
	conn->nhandles = 1;
	conn->creq.data = conn;
	/* From here the handle exists: failures close it and the memory goes
	 * in its close callback, with no user callback (announced == 0). */
	if (conn->opts.connect_timeout_ms) {
		r = uv_timer_init(loop, &conn->timer);
		if (r) {
			rc = fc_errf(errmsg, uv_to_fc(r), "timer init: %s", uv_strerror(r));
			goto close_conn;
		}
		conn->timer.data = conn;
		conn->has_timer = 1;
		conn->nhandles++;
		uv_timer_start(&conn->timer, on_connect_timeout, conn->opts.connect_timeout_ms, 0);
	}
	r = uv_tcp_connect(&conn->creq, &conn->tcp, (struct sockaddr *)&ss, on_connected);
	if (r) {
		rc = fc_errf(errmsg, uv_to_fc(r), "%s", uv_strerror(r));
		goto close_conn;
	}
	conn->announced = 1;
	*out = conn;
	return FC_OK;

close_conn:
	conn_close(conn, rc, "connect setup failed");
	return fc_errwrap(errmsg, rc, "net: connect %s", conn->peer);
free_conn:
	fc_free(conn);
	return fc_errwrap(errmsg, rc, "net: connect %s:%u", host ? host : "(null)", port);
}
