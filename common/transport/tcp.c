/* tcp.c - the tcp backend: RDMA semantics emulated over one TCP stream per
 * connection.
 *
 * Every connection has one worker thread that owns the receiving half of
 * the socket. It serves the peer's READ / WRITE / CAS requests on the
 * region the listener exposed (that is the "server thread" the memory node
 * needs when there is no NIC to do it), delivers SENDs into posted RECVs and
 * turns responses into completions. Posting writes request frames with one
 * sendmsg per post call (the emulated doorbell). A dead socket flushes every
 * outstanding request as an FC_ECLOSED completion, so nothing waits forever.
 *
 * Wire format, little endian, one 48-byte header per frame then payload:
 *   type u8, pad u8, status u16, len u32, rkey u32, pad u32,
 *   seq u64, addr u64, compare u64, swap u64
 */
#define _GNU_SOURCE /* accept4 */
#include "transport_int.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"

#define TCP_MAGIC 0x50544346u /* "FCTP" */
#define TCP_VERSION 1
#define TCP_USER_TIMEOUT_MS 10000
#define TCP_HELLO_TIMEOUT_MS 5000
#define TCP_MAX_UNEXPECTED 256 /* SENDs buffered before a RECV is posted */
#define CQ_CAP (2 * FC_TRANSPORT_QUEUE_DEPTH)

enum frame_type {
	F_READ = 1,
	F_WRITE,
	F_CAS,
	F_SEND,
	F_RESP = 16,
	F_HELLO = 32,
	F_HELLO_ACK,
};

enum wire_status {
	WS_OK = 0,
	WS_RANGE,     /* outside the exposed region or wrong key */
	WS_NOREGION,  /* nothing exposed on this side */
	WS_TOOLONG,   /* SEND longer than the posted RECV */
	WS_BUSY,      /* too many unexpected SENDs */
};

struct frame {
	uint8_t type;
	uint8_t pad0;
	uint16_t status;
	uint32_t len;
	uint32_t rkey;
	uint32_t pad1;
	uint64_t seq;
	uint64_t addr;
	uint64_t compare;
	uint64_t swap;
};
_Static_assert(sizeof(struct frame) == 48, "wire header is 48 bytes");

struct tcp_mr {
	struct fc_transport_mr base;
};

struct tcp_listener {
	struct fc_transport_listener base;
	int fd;
};

/* One posted work request waiting for its response (or a posted RECV). */
struct slot {
	uint64_t seq;
	uint64_t wr_id;
	enum fc_transport_op op;
	void *local;
	uint32_t len;
	int signaled;
};

struct unexpected {
	struct unexpected *next;
	uint32_t len;
	unsigned char data[];
};

struct tcp_conn {
	struct fc_transport_conn base;
	int fd;
	const struct fc_transport_mr *expose; /* borrowed from the listener */
	pthread_t worker;
	int worker_started;
	pthread_mutex_t send_mu; /* one frame sequence on the socket at a time */

	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	int closed;
	char close_why[128];
	struct slot sq[FC_TRANSPORT_QUEUE_DEPTH];
	size_t sq_head, sq_count;
	uint64_t next_seq;
	struct slot rq[FC_TRANSPORT_QUEUE_DEPTH];
	size_t rq_head, rq_count;
	struct unexpected *unx_head, *unx_tail;
	size_t unx_count;
	struct fc_transport_wc cq[CQ_CAP];
	size_t cq_head, cq_count;
};

static void frame_to_wire(struct frame *f)
{
	f->status = htole16(f->status);
	f->len = htole32(f->len);
	f->rkey = htole32(f->rkey);
	f->seq = htole64(f->seq);
	f->addr = htole64(f->addr);
	f->compare = htole64(f->compare);
	f->swap = htole64(f->swap);
}

static void frame_from_wire(struct frame *f)
{
	f->status = le16toh(f->status);
	f->len = le32toh(f->len);
	f->rkey = le32toh(f->rkey);
	f->seq = le64toh(f->seq);
	f->addr = le64toh(f->addr);
	f->compare = le64toh(f->compare);
	f->swap = le64toh(f->swap);
}

/* ---- socket helpers ---------------------------------------------------- */

/* Reads exactly n bytes; FC_ECLOSED on EOF, FC_EIO on error. */
static int read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r == 0)
			return FC_ECLOSED;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return FC_EIO;
		}
		p += r;
		n -= (size_t)r;
	}
	return FC_OK;
}

/* Writes every byte of iov[0..cnt) (modified in place). */
static int write_iov(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)(cnt > 1024 ? 1024 : cnt)};
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return fc_err_from_errno(errno) == FC_EIO ? FC_ECLOSED
								  : fc_err_from_errno(errno);
		}
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return FC_OK;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return fc_err_from_errno(errno);
	return r == 0 ? FC_ETIMEOUT : FC_OK;
}

/* Options of every data socket: no Nagle (latency), and a dead peer is
 * noticed within TCP_USER_TIMEOUT_MS even when it never sends a FIN. */
static void tune_socket(int fd)
{
	int one = 1, idle = 2, intvl = 1, cnt = 5;
	unsigned int uto = TCP_USER_TIMEOUT_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
}

/* Reads one frame header within timeout_ms (hello exchange only). */
static int read_frame_timed(int fd, struct frame *f, int timeout_ms)
{
	int rc = wait_fd(fd, POLLIN, timeout_ms);

	if (rc != FC_OK)
		return rc;
	/* The header is 48 bytes sent in one segment; a peer that sends half
	 * and stalls is bounded by SO_RCVTIMEO set by the caller. */
	rc = read_full(fd, f, sizeof *f);
	if (rc == FC_OK)
		frame_from_wire(f);
	return rc;
}

/* ---- transport and memory regions -------------------------------------- */

static int tcp_open(struct fc_transport **out, char *errmsg)
{
	struct fc_transport *t = fc_calloc(1, sizeof *t);

	if (!t)
		return fc_errf(errmsg, FC_ENOMEM, "tcp: open: out of memory");
	t->ops = &fc_transport_tcp_ops;
	*out = t;
	return FC_OK;
}

static void tcp_close(struct fc_transport *t)
{
	fc_free(t);
}

static int tcp_reg_mr(struct fc_transport *t, void *addr, size_t len,
		      struct fc_transport_mr **out, char *errmsg)
{
	struct tcp_mr *mr = fc_calloc(1, sizeof *mr);
	uint32_t key = 0;

	if (!mr)
		return fc_errf(errmsg, FC_ENOMEM, "tcp: reg_mr: out of memory");
	/* A random key, so that a stale descriptor from an earlier region is
	 * refused rather than served, as a NIC would refuse an old rkey. */
	while (key == 0 && getrandom(&key, sizeof key, 0) != sizeof key)
		;
	mr->base.t = t;
	mr->base.addr = addr;
	mr->base.len = len;
	mr->base.desc.addr = (uint64_t)(uintptr_t)addr;
	mr->base.desc.rkey = key ? key : 1;
	mr->base.desc.len = len;
	*out = &mr->base;
	return FC_OK;
}

static void tcp_dereg_mr(struct fc_transport_mr *mr)
{
	fc_free(mr);
}

/* ---- connection state -------------------------------------------------- */

/* Caller holds c->mu. CQ space is reserved at post time, so this fits. */
static void cq_push(struct tcp_conn *c, const struct slot *s, int status, uint32_t byte_len,
		    const char *detail)
{
	struct fc_transport_wc *wc;

	if (c->cq_count == CQ_CAP) { /* cannot happen: see post's capacity check */
		fc_log(FC_LOG_ERROR, "transport", "tcp completion queue overrun", "peer=%s",
		       c->base.peer);
		return;
	}
	wc = &c->cq[(c->cq_head + c->cq_count) % CQ_CAP];
	wc->wr_id = s->wr_id;
	wc->op = s->op;
	wc->status = status;
	wc->byte_len = byte_len;
	wc->detail = detail;
	c->cq_count++;
	pthread_cond_broadcast(&c->cv);
}

/* Caller holds c->mu. Every outstanding request fails: the peer is gone. */
static void mark_closed(struct tcp_conn *c, const char *why)
{
	if (!c->closed) {
		c->closed = 1;
		snprintf(c->close_why, sizeof c->close_why, "%s", why);
	}
	while (c->sq_count) {
		cq_push(c, &c->sq[c->sq_head], FC_ECLOSED, 0, "flushed: connection closed");
		c->sq_head = (c->sq_head + 1) % FC_TRANSPORT_QUEUE_DEPTH;
		c->sq_count--;
	}
	while (c->rq_count) {
		cq_push(c, &c->rq[c->rq_head], FC_ECLOSED, 0, "flushed: connection closed");
		c->rq_head = (c->rq_head + 1) % FC_TRANSPORT_QUEUE_DEPTH;
		c->rq_count--;
	}
	pthread_cond_broadcast(&c->cv);
}

/* Caller holds c->mu. Moves buffered SENDs into posted RECVs. */
static void match_unexpected(struct tcp_conn *c)
{
	while (c->unx_head && c->rq_count) {
		struct unexpected *u = c->unx_head;
		struct slot *s = &c->rq[c->rq_head];

		if (u->len <= s->len) {
			memcpy(s->local, u->data, u->len);
			cq_push(c, s, FC_OK, u->len, "success");
		} else {
			cq_push(c, s, FC_ETRANSPORT, 0, "local length error: message longer than RECV");
		}
		c->rq_head = (c->rq_head + 1) % FC_TRANSPORT_QUEUE_DEPTH;
		c->rq_count--;
		c->unx_head = u->next;
		if (!c->unx_head)
			c->unx_tail = NULL;
		c->unx_count--;
		fc_free(u);
	}
}

static int send_resp(struct tcp_conn *c, uint64_t seq, uint16_t status, const void *data,
		     uint32_t len)
{
	struct frame f = {.type = F_RESP, .status = status, .len = len, .seq = seq};
	struct iovec iov[2] = {{&f, sizeof f}, {(void *)data, len}};
	int rc;

	frame_to_wire(&f);
	pthread_mutex_lock(&c->send_mu);
	rc = write_iov(c->fd, iov, len ? 2 : 1);
	pthread_mutex_unlock(&c->send_mu);
	return rc;
}

/* Discards n payload bytes of a refused request. */
static int skip_bytes(int fd, uint32_t n)
{
	unsigned char buf[4096];

	while (n) {
		uint32_t k = n < sizeof buf ? n : (uint32_t)sizeof buf;
		int rc = read_full(fd, buf, k);
		if (rc != FC_OK)
			return rc;
		n -= k;
	}
	return FC_OK;
}

/* Is [addr, addr+len) inside the exposed region with the right key? */
static unsigned char *region_ptr(struct tcp_conn *c, const struct frame *f, uint64_t len,
				 uint16_t *status)
{
	const struct fc_transport_mr *mr = c->expose;

	if (!mr) {
		*status = WS_NOREGION;
		return NULL;
	}
	if (f->rkey != mr->desc.rkey || f->addr < mr->desc.addr ||
	    f->addr - mr->desc.addr > mr->desc.len || len > mr->desc.len - (f->addr - mr->desc.addr)) {
		*status = WS_RANGE;
		return NULL;
	}
	*status = WS_OK;
	return (unsigned char *)mr->addr + (f->addr - mr->desc.addr);
}

static int serve_read(struct tcp_conn *c, const struct frame *f)
{
	uint16_t st;
	unsigned char *p = region_ptr(c, f, f->len, &st);

	if (f->len > FC_TRANSPORT_MAX_MSG)
		return FC_EPROTO;
	fc_transport_count(&c->base.t->st.served_read, 1);
	return send_resp(c, f->seq, st, p, p ? f->len : 0);
}

static int serve_write(struct tcp_conn *c, const struct frame *f)
{
	uint16_t st;
	unsigned char *p = region_ptr(c, f, f->len, &st);
	int rc;

	if (f->len > FC_TRANSPORT_MAX_MSG)
		return FC_EPROTO;
	rc = p ? read_full(c->fd, p, f->len) : skip_bytes(c->fd, f->len);
	if (rc != FC_OK)
		return rc;
	fc_transport_count(&c->base.t->st.served_write, 1);
	return send_resp(c, f->seq, st, NULL, 0);
}

static int serve_cas(struct tcp_conn *c, const struct frame *f)
{
	uint16_t st;
	unsigned char *p = region_ptr(c, f, 8, &st);
	uint64_t old = 0;

	if (p && ((uintptr_t)p & 7))
		st = WS_RANGE;
	if (st == WS_OK) {
		/* Atomic against every other CAS on this word, from any
		 * connection's worker and from the owner's own CPU. */
		uint64_t *w = (uint64_t *)(void *)p;
		old = f->compare;
		__atomic_compare_exchange_n(w, &old, f->swap, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
	}
	fc_transport_count(&c->base.t->st.served_cas, 1);
	old = htole64(old);
	return send_resp(c, f->seq, st, &old, st == WS_OK ? 8 : 0);
}

static int serve_send(struct tcp_conn *c, const struct frame *f)
{
	struct unexpected *u;
	uint16_t st = WS_OK;
	int rc;

	if (f->len > FC_TRANSPORT_MAX_MSG)
		return FC_EPROTO;
	u = fc_malloc(sizeof *u + f->len);
	if (!u)
		return FC_ENOMEM;
	u->next = NULL;
	u->len = f->len;
	rc = read_full(c->fd, u->data, f->len);
	if (rc != FC_OK) {
		fc_free(u);
		return rc;
	}
	pthread_mutex_lock(&c->mu);
	if (c->rq_count == 0 && c->unx_count >= TCP_MAX_UNEXPECTED) {
		st = WS_BUSY;
		fc_free(u);
	} else {
		if (c->unx_tail)
			c->unx_tail->next = u;
		else
			c->unx_head = u;
		c->unx_tail = u;
		c->unx_count++;
		match_unexpected(c);
	}
	pthread_mutex_unlock(&c->mu);
	return send_resp(c, f->seq, st, NULL, 0);
}

static const char *wire_detail(uint16_t st)
{
	switch (st) {
	case WS_OK:
		return "success";
	case WS_RANGE:
		return "remote access error: outside the registered region or bad key";
	case WS_NOREGION:
		return "remote access error: peer exposes no region";
	case WS_TOOLONG:
		return "remote operation error: message longer than RECV";
	case WS_BUSY:
		return "receiver not ready: too many unexpected messages";
	}
	return "remote error";
}

static int on_response(struct tcp_conn *c, const struct frame *f)
{
	struct slot s;
	uint32_t want;
	int rc = FC_OK, status;

	pthread_mutex_lock(&c->mu);
	if (c->sq_count == 0 || c->sq[c->sq_head].seq != f->seq) {
		pthread_mutex_unlock(&c->mu);
		return FC_EPROTO;
	}
	s = c->sq[c->sq_head];
	pthread_mutex_unlock(&c->mu);

	/* Only this thread pops the send queue, so s stays ours while the
	 * payload is read straight into the caller's buffer. */
	want = f->status != WS_OK ? 0 : s.op == FC_TRANSPORT_READ ? s.len :
				   s.op == FC_TRANSPORT_CAS ? 8 : 0;
	if (f->len != want)
		return FC_EPROTO;
	if (want)
		rc = read_full(c->fd, s.local, want);
	if (rc != FC_OK)
		return rc;
	if (s.op == FC_TRANSPORT_CAS && f->status == WS_OK) {
		uint64_t v;
		memcpy(&v, s.local, 8);
		v = le64toh(v);
		memcpy(s.local, &v, 8);
	}
	status = f->status == WS_OK ? FC_OK :
		 f->status == WS_RANGE || f->status == WS_NOREGION ? FC_ERANGE : FC_ETRANSPORT;
	pthread_mutex_lock(&c->mu);
	if (s.signaled || status != FC_OK)
		cq_push(c, &s, status, 0, wire_detail(f->status));
	c->sq_head = (c->sq_head + 1) % FC_TRANSPORT_QUEUE_DEPTH;
	c->sq_count--;
	pthread_mutex_unlock(&c->mu);
	return FC_OK;
}

static void *worker_main(void *arg)
{
	struct tcp_conn *c = arg;
	const char *why = "peer closed the connection";
	struct frame f;
	int rc;

	for (;;) {
		rc = read_full(c->fd, &f, sizeof f);
		if (rc != FC_OK) {
			why = rc == FC_ECLOSED ? "peer closed the connection" : strerror(errno);
			break;
		}
		frame_from_wire(&f);
		switch (f.type) {
		case F_READ:
			rc = serve_read(c, &f);
			break;
		case F_WRITE:
			rc = serve_write(c, &f);
			break;
		case F_CAS:
			rc = serve_cas(c, &f);
			break;
		case F_SEND:
			rc = serve_send(c, &f);
			break;
		case F_RESP:
			rc = on_response(c, &f);
			break;
		default:
			rc = FC_EPROTO;
			break;
		}
		if (rc != FC_OK) {
			why = rc == FC_EPROTO ? "protocol error from peer" :
			      rc == FC_ENOMEM ? "out of memory" :
			      rc == FC_ECLOSED ? "peer closed the connection" : strerror(errno);
			break;
		}
	}
	if (rc != FC_ECLOSED && rc != FC_OK)
		fc_log(FC_LOG_WARN, "transport", "tcp connection failed", "peer=%s reason=\"%s\"",
		       c->base.peer, why);
	/* Wake the peer too, so both ends flush. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->mu);
	mark_closed(c, why);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int conn_new(struct fc_transport *t, int fd, struct tcp_conn **out, char *errmsg)
{
	struct tcp_conn *c = fc_calloc(1, sizeof *c);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (!c)
		return fc_errf(errmsg, FC_ENOMEM, "tcp: out of memory");
	c->base.t = t;
	c->fd = fd;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		fc_transport_fmt_addr((struct sockaddr *)&ss, c->base.peer, sizeof c->base.peer);
	else
		snprintf(c->base.peer, sizeof c->base.peer, "?");
	pthread_mutex_init(&c->send_mu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	*out = c;
	return FC_OK;
}

static void conn_free(struct tcp_conn *c)
{
	struct unexpected *u, *next;

	for (u = c->unx_head; u; u = next) {
		next = u->next;
		fc_free(u);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->send_mu);
	if (c->fd >= 0)
		close(c->fd);
	fc_free(c);
}

static int conn_start(struct tcp_conn *c, char *errmsg)
{
	struct timeval tv = {0, 0};
	int err;

	/* The hello exchange used a receive timeout; the worker blocks. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	err = pthread_create(&c->worker, NULL, worker_main, c);
	if (err)
		return fc_errf(errmsg, fc_err_from_errno(err), "tcp: %s: start worker: %s",
			       c->base.peer, strerror(err));
	c->worker_started = 1;
	return FC_OK;
}

/* ---- listen / accept / connect ----------------------------------------- */

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res,
		   char *errmsg)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char ps[8];
	int r;

	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(ps, sizeof ps, "%u", port);
	r = getaddrinfo(host, ps, &hints, res);
	if (r != 0)
		return fc_errf(errmsg, FC_EINVAL, "tcp: resolve %s:%u: %s", host, port,
			       gai_strerror(r));
	return FC_OK;
}

static int tcp_listen(struct fc_transport *t, const char *host, uint16_t port,
		      const struct fc_transport_mr *expose, struct fc_transport_listener **out,
		      char *errmsg)
{
	struct addrinfo *res = NULL;
	struct tcp_listener *l = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = -1, one = 1, rc;

	rc = resolve(host, port, 1, &res, errmsg);
	if (rc != FC_OK)
		goto out;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "tcp: listen %s:%u: socket: %s",
			     host, port, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "tcp: listen %s:%u: %s", host, port,
			     strerror(errno));
		goto close_fd;
	}
	l = fc_calloc(1, sizeof *l);
	if (!l) {
		rc = fc_errf(errmsg, FC_ENOMEM, "tcp: listen: out of memory");
		goto close_fd;
	}
	l->base.t = t;
	l->base.expose = expose;
	l->base.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	l->fd = fd;
	*out = &l->base;
	fc_log(FC_LOG_DEBUG, "transport", "tcp listening", "host=%s port=%u", host, l->base.port);
	rc = FC_OK;
	goto out;
close_fd:
	close(fd);
out:
	if (res)
		freeaddrinfo(res);
	return rc;
}

static int tcp_accept(struct fc_transport_listener *lb, int timeout_ms,
		      struct fc_transport_conn **out, char *errmsg)
{
	struct tcp_listener *l = (struct tcp_listener *)lb;
	struct tcp_conn *c = NULL;
	struct frame f, ack;
	struct iovec iov[1] = {{&ack, sizeof ack}};
	struct timeval tv = {TCP_HELLO_TIMEOUT_MS / 1000, 0};
	int fd, rc;

	rc = wait_fd(l->fd, POLLIN, timeout_ms);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "tcp: accept on port %u: %s", lb->port,
			       rc == FC_ETIMEOUT ? "no client within the timeout" : strerror(errno));
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return fc_errf(errmsg, fc_err_from_errno(errno), "tcp: accept on port %u: %s",
			       lb->port, strerror(errno));
	tune_socket(fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	rc = conn_new(lb->t, fd, &c, errmsg);
	if (rc != FC_OK) {
		close(fd);
		return rc;
	}
	c->expose = lb->expose;
	rc = read_frame_timed(fd, &f, TCP_HELLO_TIMEOUT_MS);
	if (rc != FC_OK || f.type != F_HELLO || f.rkey != TCP_MAGIC || f.len != TCP_VERSION) {
		rc = fc_errf(errmsg, rc != FC_OK ? rc : FC_EPROTO,
			     "tcp: accept from %s: no valid hello (%s)", c->base.peer,
			     rc != FC_OK ? fc_strerror(rc) : "bad magic or version");
		goto free_conn;
	}
	memset(&ack, 0, sizeof ack);
	ack.type = F_HELLO_ACK;
	ack.len = TCP_VERSION;
	if (lb->expose) {
		ack.addr = lb->expose->desc.addr;
		ack.rkey = lb->expose->desc.rkey;
		ack.compare = lb->expose->desc.len;
	}
	frame_to_wire(&ack);
	rc = write_iov(fd, iov, 1);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "tcp: accept from %s: send hello: %s", c->base.peer,
			     strerror(errno));
		goto free_conn;
	}
	rc = conn_start(c, errmsg);
	if (rc != FC_OK)
		goto free_conn;
	fc_log(FC_LOG_DEBUG, "transport", "tcp accepted", "peer=%s", c->base.peer);
	*out = &c->base;
	return FC_OK;
free_conn:
	conn_free(c);
	return rc;
}

static void tcp_listener_close(struct fc_transport_listener *lb)
{
	struct tcp_listener *l = (struct tcp_listener *)lb;

	close(l->fd);
	fc_free(l);
}

static int connect_timed(int fd, const struct addrinfo *ai, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), err = 0, rc;
	socklen_t el = sizeof err;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			return errno;
		rc = wait_fd(fd, POLLOUT, timeout_ms);
		if (rc == FC_ETIMEOUT)
			return ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return errno;
		if (err)
			return err;
	}
	fcntl(fd, F_SETFL, fl);
	return 0;
}

static int tcp_connect(struct fc_transport *t, const char *host, uint16_t port, int timeout_ms,
		       struct fc_transport_conn **out, char *errmsg)
{
	struct addrinfo *res = NULL;
	struct tcp_conn *c = NULL;
	struct frame hello = {.type = F_HELLO, .len = TCP_VERSION, .rkey = TCP_MAGIC}, ack;
	struct iovec iov[1] = {{&hello, sizeof hello}};
	int hello_ms = timeout_ms < 0 ? TCP_HELLO_TIMEOUT_MS : timeout_ms;
	struct timeval tv = {hello_ms / 1000, (hello_ms % 1000) * 1000};
	int fd, err, rc;

	rc = resolve(host, port, 0, &res, errmsg);
	if (rc != FC_OK)
		return rc;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "tcp: connect %s:%u: socket: %s",
			     host, port, strerror(errno));
		goto free_res;
	}
	err = connect_timed(fd, res, timeout_ms);
	if (err) {
		rc = fc_errf(errmsg, err == ECONNREFUSED ? FC_ECLOSED : fc_err_from_errno(err),
			     "tcp: connect %s:%u: %s", host, port, strerror(err));
		close(fd);
		goto free_res;
	}
	tune_socket(fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	rc = conn_new(t, fd, &c, errmsg);
	if (rc != FC_OK) {
		close(fd);
		goto free_res;
	}
	frame_to_wire(&hello);
	rc = write_iov(fd, iov, 1);
	if (rc == FC_OK)
		rc = read_frame_timed(fd, &ack, hello_ms);
	if (rc != FC_OK || ack.type != F_HELLO_ACK || ack.len != TCP_VERSION) {
		rc = fc_errf(errmsg, rc != FC_OK ? rc : FC_EPROTO,
			     "tcp: connect %s:%u: hello: %s", host, port,
			     rc != FC_OK ? fc_strerror(rc) : "bad answer or version");
		goto free_conn;
	}
	c->base.remote.addr = ack.addr;
	c->base.remote.rkey = ack.rkey;
	c->base.remote.len = ack.compare;
	rc = conn_start(c, errmsg);
	if (rc != FC_OK)
		goto free_conn;
	fc_log(FC_LOG_DEBUG, "transport", "tcp connected", "peer=%s region_len=%llu",
	       c->base.peer, (unsigned long long)ack.compare);
	*out = &c->base;
	goto free_res;
free_conn:
	conn_free(c);
free_res:
	freeaddrinfo(res);
	return rc;
}

/* ---- data path --------------------------------------------------------- */

static int tcp_post(struct fc_transport_conn *cb, const struct fc_transport_wr *wrs, size_t n,
		    char *errmsg)
{
	struct tcp_conn *c = (struct tcp_conn *)cb;
	struct frame hdr[FC_TRANSPORT_QUEUE_DEPTH];
	struct iovec iov[2 * FC_TRANSPORT_QUEUE_DEPTH];
	size_t nsq = 0, nrq = 0;
	int niov = 0, rc = FC_OK;

	for (size_t i = 0; i < n; i++) {
		if (wrs[i].op == FC_TRANSPORT_RECV)
			nrq++;
		else
			nsq++;
	}
	pthread_mutex_lock(&c->mu);
	if (c->closed) {
		rc = fc_errf(errmsg, FC_ECLOSED, "tcp: post to %s: connection closed (%s)",
			     cb->peer, c->close_why);
		goto unlock;
	}
	if (c->sq_count + nsq > FC_TRANSPORT_QUEUE_DEPTH ||
	    c->rq_count + nrq > FC_TRANSPORT_QUEUE_DEPTH ||
	    c->cq_count + c->sq_count + c->rq_count + n > CQ_CAP) {
		rc = fc_errf(errmsg, FC_EBUSY, "tcp: post %zu wrs to %s: queue full, poll first", n,
			     cb->peer);
		goto unlock;
	}
	for (size_t i = 0; i < n; i++) {
		const struct fc_transport_wr *wr = &wrs[i];
		struct slot s = {.wr_id = wr->wr_id, .op = wr->op, .local = wr->local,
				 .len = wr->op == FC_TRANSPORT_CAS ? 8 : wr->len,
				 .signaled = wr->signaled || wr->op == FC_TRANSPORT_RECV};
		struct frame *f;

		if (wr->op == FC_TRANSPORT_RECV) {
			c->rq[(c->rq_head + c->rq_count) % FC_TRANSPORT_QUEUE_DEPTH] = s;
			c->rq_count++;
			continue;
		}
		s.seq = c->next_seq++;
		c->sq[(c->sq_head + c->sq_count) % FC_TRANSPORT_QUEUE_DEPTH] = s;
		c->sq_count++;
		f = &hdr[niov / 2];
		memset(f, 0, sizeof *f);
		f->type = wr->op == FC_TRANSPORT_READ ? F_READ :
			  wr->op == FC_TRANSPORT_WRITE ? F_WRITE :
			  wr->op == FC_TRANSPORT_CAS ? F_CAS : F_SEND;
		f->len = wr->op == FC_TRANSPORT_CAS ? 8 : wr->len;
		f->rkey = cb->remote.rkey;
		f->seq = s.seq;
		f->addr = wr->remote_addr;
		f->compare = wr->compare;
		f->swap = wr->swap;
		frame_to_wire(f);
		iov[niov].iov_base = f;
		iov[niov].iov_len = sizeof *f;
		iov[niov + 1].iov_base = wr->local;
		iov[niov + 1].iov_len =
			wr->op == FC_TRANSPORT_WRITE || wr->op == FC_TRANSPORT_SEND ? wr->len : 0;
		niov += 2;
	}
	match_unexpected(c);
	pthread_mutex_unlock(&c->mu);

	if (niov) {
		pthread_mutex_lock(&c->send_mu);
		rc = write_iov(c->fd, iov, niov);
		pthread_mutex_unlock(&c->send_mu);
		if (rc != FC_OK) {
			/* The requests are queued: the worker sees the dead
			 * socket and completes them with FC_ECLOSED. */
			shutdown(c->fd, SHUT_RDWR);
			rc = FC_OK;
		}
	}
	return rc;
unlock:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int tcp_poll(struct fc_transport_conn *cb, struct fc_transport_wc *wcs, size_t max,
		    int timeout_ms, size_t *n_out, char *errmsg)
{
	struct tcp_conn *c = (struct tcp_conn *)cb;
	struct timespec dl;
	size_t n = 0;
	int rc = FC_OK;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms > 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&c->mu);
	while (c->cq_count == 0 && !c->closed && timeout_ms != 0) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&c->cv, &c->mu);
		} else if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) {
			break;
		}
	}
	while (n < max && c->cq_count) {
		wcs[n++] = c->cq[c->cq_head];
		c->cq_head = (c->cq_head + 1) % CQ_CAP;
		c->cq_count--;
	}
	if (n == 0 && c->closed)
		rc = fc_errf(errmsg, FC_ECLOSED, "tcp: poll %s: connection closed (%s)", cb->peer,
			     c->close_why);
	pthread_mutex_unlock(&c->mu);
	*n_out = n;
	return rc;
}

static void tcp_conn_close(struct fc_transport_conn *cb)
{
	struct tcp_conn *c = (struct tcp_conn *)cb;

	shutdown(c->fd, SHUT_RDWR);
	if (c->worker_started)
		pthread_join(c->worker, NULL);
	conn_free(c);
}

const struct fc_transport_ops fc_transport_tcp_ops = {
	.version = FC_TRANSPORT_OPS_VERSION,
	.name = "tcp",
	.open = tcp_open,
	.close = tcp_close,
	.reg_mr = tcp_reg_mr,
	.dereg_mr = tcp_dereg_mr,
	.listen = tcp_listen,
	.accept = tcp_accept,
	.listener_close = tcp_listener_close,
	.connect = tcp_connect,
	.post = tcp_post,
	.poll = tcp_poll,
	.conn_close = tcp_conn_close,
};
