/* rdma.c - the rdma backend: librdmacm for connection management, RC queue
 * pairs, one ibv_post_send per fc_transport_post (one doorbell).
 *
 * Why things are the way they are:
 *  - rdma_cm resolves IP addresses to GIDs, so the same code runs on RoCE
 *    NICs and on soft-RoCE (rxe); nothing here assumes InfiniBand LIDs.
 *  - The exposed region's descriptor travels in the private data of the
 *    connection reply, so a client can READ as soon as it is connected.
 *  - Each connection has its own event channel (accepted ids are migrated
 *    off the listener's), so poll() can watch for DISCONNECTED on exactly
 *    its connection and move the QP to error: outstanding work requests are
 *    then flushed as error completions instead of hanging.
 *  - Work requests are numbered; the send queue completes in order, so a
 *    completion for number S retires every unsignaled one before it. When a
 *    caller leaves a long unsignaled run, every (depth/2)th request is
 *    signaled internally and its successful completion swallowed, so the
 *    send queue can never fill up with requests nobody will retire.
 */
#include "transport_int.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"

#define RDMA_MAGIC 0x52544346u /* "FCTR" */
#define RDMA_VERSION 1
#define RDMA_MAX_DEV 8
#define RDMA_CQ_SIZE (2 * FC_TRANSPORT_QUEUE_DEPTH + 8)
#define RDMA_RQ_BIT (1ull << 63)
#define RDMA_FORCE_SIGNAL (FC_TRANSPORT_QUEUE_DEPTH / 2)
#define RDMA_FLUSH_GRACE_MS 200 /* after a disconnect, wait this long for
				 * flush completions before synthesising them */
#define RDMA_SPIN 200           /* empty CQ polls before sleeping */
#define RDMA_ACCEPT_EST_MS 5000 /* accept: wait this long for ESTABLISHED */

/* Private data of the connect request and of the reply, network order. */
struct wire_hello {
	uint32_t magic;
	uint32_t version;
	uint64_t addr; /* reply only: the exposed region */
	uint64_t len;
	uint32_t rkey;
	uint32_t pad;
} __attribute__((packed));

struct rdma_tp {
	struct fc_transport base;
	struct ibv_context **devs; /* from rdma_get_devices, owned */
	int ndev;
	struct ibv_pd *pd[RDMA_MAX_DEV];
};

struct rdma_mr {
	struct fc_transport_mr base;
	struct ibv_mr *mr[RDMA_MAX_DEV];
};

struct rdma_listener {
	struct fc_transport_listener base;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
};

struct slot {
	uint64_t wr_id;
	enum fc_transport_op op;
	unsigned char user_signaled;
	unsigned char hw_signaled;
};

struct rdma_conn {
	struct fc_transport_conn base;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	int dev;
	int qp_created;
	int established;
	int cq_armed;

	pthread_mutex_t mu; /* the rings below; post and poll may race */
	int down; /* disconnected or failed: no more posts */
	struct timespec down_at;
	char down_why[160];
	struct slot sq[FC_TRANSPORT_QUEUE_DEPTH];
	uint64_t sq_head, sq_tail; /* numbers of oldest outstanding and next */
	unsigned unsignaled_run;
	struct slot rq[FC_TRANSPORT_QUEUE_DEPTH];
	uint64_t rq_head, rq_tail;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* ---- probe, open, memory registration ---------------------------------- */

static int port_active(struct ibv_context *ctx)
{
	struct ibv_device_attr da;

	if (ibv_query_device(ctx, &da))
		return 0;
	for (uint8_t p = 1; p <= da.phys_port_cnt; p++) {
		struct ibv_port_attr pa;
		if (ibv_query_port(ctx, p, &pa) == 0 && pa.state == IBV_PORT_ACTIVE)
			return 1;
	}
	return 0;
}

int fc_transport_rdma_probe(char *errmsg)
{
	struct rdma_event_channel *ch;
	struct ibv_context **devs;
	int n = 0, active = 0;

	ch = rdma_create_event_channel();
	if (!ch)
		return fc_errf(errmsg, FC_EUNSUPPORTED, "rdma: no rdma_cm (%s)", strerror(errno));
	rdma_destroy_event_channel(ch);
	devs = rdma_get_devices(&n);
	if (!devs || n == 0) {
		if (devs)
			rdma_free_devices(devs);
		return fc_errf(errmsg, FC_EUNSUPPORTED, "rdma: no RDMA device");
	}
	for (int i = 0; i < n; i++)
		active += port_active(devs[i]);
	rdma_free_devices(devs);
	if (!active)
		return fc_errf(errmsg, FC_EUNSUPPORTED, "rdma: %d device(s), no active port", n);
	return FC_OK;
}

static void rdma_tp_close(struct fc_transport *tb)
{
	struct rdma_tp *t = (struct rdma_tp *)tb;

	for (int i = 0; i < t->ndev; i++)
		if (t->pd[i])
			ibv_dealloc_pd(t->pd[i]);
	if (t->devs)
		rdma_free_devices(t->devs);
	fc_free(t);
}

static int rdma_tp_open(struct fc_transport **out, char *errmsg)
{
	struct rdma_tp *t;
	int rc;

	rc = fc_transport_rdma_probe(errmsg);
	if (rc != FC_OK)
		return rc;
	t = fc_calloc(1, sizeof *t);
	if (!t)
		return fc_errf(errmsg, FC_ENOMEM, "rdma: open: out of memory");
	t->base.ops = &fc_transport_rdma_ops;
	t->devs = rdma_get_devices(&t->ndev);
	if (!t->devs || t->ndev == 0) {
		rc = fc_errf(errmsg, FC_EUNSUPPORTED, "rdma: no RDMA device");
		goto fail;
	}
	if (t->ndev > RDMA_MAX_DEV)
		t->ndev = RDMA_MAX_DEV;
	for (int i = 0; i < t->ndev; i++) {
		t->pd[i] = ibv_alloc_pd(t->devs[i]);
		if (!t->pd[i]) {
			rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: alloc pd on %s: %s",
				     ibv_get_device_name(t->devs[i]->device), strerror(errno));
			goto fail;
		}
	}
	*out = &t->base;
	return FC_OK;
fail:
	rdma_tp_close(&t->base);
	return rc;
}

static int rdma_reg_mr(struct fc_transport *tb, void *addr, size_t len,
		       struct fc_transport_mr **out, char *errmsg)
{
	struct rdma_tp *t = (struct rdma_tp *)tb;
	struct rdma_mr *mr = fc_calloc(1, sizeof *mr);
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_ATOMIC;

	if (!mr)
		return fc_errf(errmsg, FC_ENOMEM, "rdma: reg_mr: out of memory");
	mr->base.t = tb;
	mr->base.addr = addr;
	mr->base.len = len;
	/* One registration per device: a connection uses the one of the
	 * device rdma_cm routed it through. */
	for (int i = 0; i < t->ndev; i++) {
		mr->mr[i] = ibv_reg_mr(t->pd[i], addr, len, access);
		if (!mr->mr[i]) {
			int e = errno;
			for (int j = 0; j < i; j++)
				ibv_dereg_mr(mr->mr[j]);
			fc_free(mr);
			return fc_errf(errmsg, e == ENOMEM ? FC_ENOMEM : FC_ETRANSPORT,
				       "rdma: reg_mr %zu bytes on %s: %s", len,
				       ibv_get_device_name(t->devs[i]->device), strerror(e));
		}
	}
	mr->base.desc.addr = (uint64_t)(uintptr_t)addr;
	mr->base.desc.rkey = mr->mr[0]->rkey;
	mr->base.desc.len = len;
	*out = &mr->base;
	return FC_OK;
}

static void rdma_dereg_mr(struct fc_transport_mr *mb)
{
	struct rdma_mr *mr = (struct rdma_mr *)mb;
	struct rdma_tp *t = (struct rdma_tp *)mb->t;

	for (int i = 0; i < t->ndev; i++)
		if (mr->mr[i])
			ibv_dereg_mr(mr->mr[i]);
	fc_free(mr);
}

/* ---- connection management --------------------------------------------- */

/* Waits for the next event on ch until deadline (ms, -1: none) and returns
 * it unacknowledged. */
static int next_event(struct rdma_event_channel *ch, int64_t deadline,
		      struct rdma_cm_event **ev)
{
	for (;;) {
		struct pollfd pfd = {.fd = ch->fd, .events = POLLIN};
		int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
		int r;

		if (rdma_get_cm_event(ch, ev) == 0)
			return FC_OK;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return FC_ETRANSPORT;
		if (deadline >= 0 && wait <= 0)
			return FC_ETIMEOUT;
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno != EINTR)
			return FC_EIO;
		if (r == 0)
			return FC_ETIMEOUT;
	}
}

/* Waits for `want` on the connection's channel; any other event is an
 * error described in errmsg. On success the event is returned for the
 * caller to read and acknowledge. */
static int expect_event(struct rdma_conn *c, enum rdma_cm_event_type want, int64_t deadline,
			struct rdma_cm_event **out, const char *what, char *errmsg)
{
	struct rdma_cm_event *ev;
	int rc = next_event(c->ch, deadline, &ev);

	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "rdma: %s %s: %s", what, c->base.peer,
			       rc == FC_ETIMEOUT ? "timed out" : strerror(errno));
	if (ev->event != want) {
		enum rdma_cm_event_type got = ev->event;
		int status = ev->status;
		rdma_ack_cm_event(ev);
		rc = got == RDMA_CM_EVENT_REJECTED || got == RDMA_CM_EVENT_UNREACHABLE ||
				     got == RDMA_CM_EVENT_DISCONNECTED
			     ? FC_ECLOSED
			     : FC_ETRANSPORT;
		if (got == RDMA_CM_EVENT_REJECTED) /* status is the CM reject reason */
			return fc_errf(errmsg, rc, "rdma: %s %s: %s (reject reason %d%s)", what,
				       c->base.peer, rdma_event_str(got), status,
				       status == 8 ? ": nobody listens on that port" : "");
		return fc_errf(errmsg, rc, "rdma: %s %s: %s (status %d: %s)", what, c->base.peer,
			       rdma_event_str(got), status, strerror(status < 0 ? -status : status));
	}
	*out = ev;
	return FC_OK;
}

static int dev_index(struct rdma_tp *t, struct ibv_context *ctx)
{
	for (int i = 0; i < t->ndev; i++)
		if (t->devs[i] == ctx)
			return i;
	return -1;
}

static struct rdma_conn *conn_alloc(struct fc_transport *t, char *errmsg)
{
	struct rdma_conn *c = fc_calloc(1, sizeof *c);

	if (!c) {
		fc_errf(errmsg, FC_ENOMEM, "rdma: out of memory");
		return NULL;
	}
	c->base.t = t;
	c->dev = -1;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void conn_destroy(struct rdma_conn *c)
{
	if (c->id && c->established)
		rdma_disconnect(c->id);
	if (c->qp_created)
		rdma_destroy_qp(c->id);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->cc)
		ibv_destroy_comp_channel(c->cc);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ch)
		rdma_destroy_event_channel(c->ch);
	pthread_mutex_destroy(&c->mu);
	fc_free(c);
}

/* CQ + completion channel + RC QP on the device the id is bound to. */
static int setup_qp(struct rdma_conn *c, char *errmsg)
{
	struct rdma_tp *t = (struct rdma_tp *)c->base.t;
	struct ibv_qp_init_attr qa;

	c->dev = dev_index(t, c->id->verbs);
	if (c->dev < 0)
		return fc_errf(errmsg, FC_ETRANSPORT, "rdma: %s: routed through a device unknown "
			       "at transport open", c->base.peer);
	c->cc = ibv_create_comp_channel(c->id->verbs);
	if (!c->cc || set_nonblock(c->cc->fd))
		return fc_errf(errmsg, FC_ETRANSPORT, "rdma: %s: completion channel: %s",
			       c->base.peer, strerror(errno));
	c->cq = ibv_create_cq(c->id->verbs, RDMA_CQ_SIZE, c, c->cc, 0);
	if (!c->cq)
		return fc_errf(errmsg, FC_ETRANSPORT, "rdma: %s: create cq: %s", c->base.peer,
			       strerror(errno));
	memset(&qa, 0, sizeof qa);
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = FC_TRANSPORT_QUEUE_DEPTH;
	qa.cap.max_recv_wr = FC_TRANSPORT_QUEUE_DEPTH;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qa.sq_sig_all = 0;
	if (rdma_create_qp(c->id, t->pd[c->dev], &qa))
		return fc_errf(errmsg, FC_ETRANSPORT, "rdma: %s: create qp: %s", c->base.peer,
			       strerror(errno));
	c->qp_created = 1;
	return FC_OK;
}

static void rd_atomic_limits(struct rdma_conn *c, uint8_t *resp, uint8_t *init)
{
	struct ibv_device_attr da;

	*resp = *init = 1;
	if (ibv_query_device(c->id->verbs, &da) == 0) {
		*resp = (uint8_t)(da.max_qp_rd_atom > 16 ? 16 : da.max_qp_rd_atom);
		*init = (uint8_t)(da.max_qp_init_rd_atom > 16 ? 16 : da.max_qp_init_rd_atom);
	}
}

static int rdma_listen_(struct fc_transport *t, const char *host, uint16_t port,
			const struct fc_transport_mr *expose, struct fc_transport_listener **out,
			char *errmsg)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	struct rdma_listener *l;
	char ps[8];
	int r, rc;

	l = fc_calloc(1, sizeof *l);
	if (!l)
		return fc_errf(errmsg, FC_ENOMEM, "rdma: listen: out of memory");
	l->base.t = t;
	l->base.expose = expose;
	snprintf(ps, sizeof ps, "%u", port);
	r = getaddrinfo(host, ps, &hints, &res);
	if (r) {
		rc = fc_errf(errmsg, FC_EINVAL, "rdma: listen %s:%u: %s", host, port,
			     gai_strerror(r));
		goto fail;
	}
	l->ch = rdma_create_event_channel();
	if (!l->ch || set_nonblock(l->ch->fd)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: listen: event channel: %s",
			     strerror(errno));
		goto fail;
	}
	if (rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: listen: create id: %s", strerror(errno));
		goto fail;
	}
	if (rdma_bind_addr(l->id, res->ai_addr) || rdma_listen(l->id, 64)) {
		rc = fc_errf(errmsg, errno == EADDRINUSE ? FC_EEXIST : FC_ETRANSPORT,
			     "rdma: listen %s:%u: %s", host, port, strerror(errno));
		goto fail;
	}
	l->base.port = ntohs(rdma_get_src_port(l->id));
	freeaddrinfo(res);
	*out = &l->base;
	return FC_OK;
fail:
	if (res)
		freeaddrinfo(res);
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	fc_free(l);
	return rc;
}

static void rdma_listener_close(struct fc_transport_listener *lb)
{
	struct rdma_listener *l = (struct rdma_listener *)lb;

	rdma_destroy_id(l->id);
	rdma_destroy_event_channel(l->ch);
	fc_free(l);
}

static int rdma_accept_(struct fc_transport_listener *lb, int timeout_ms,
			struct fc_transport_conn **out, char *errmsg)
{
	struct rdma_listener *l = (struct rdma_listener *)lb;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct rdma_conn_param cp;
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id = NULL;
	struct rdma_conn *c = NULL;
	struct wire_hello req, rep;
	uint8_t resp, init, peer_init = 1, peer_resp = 1;
	int rc, ok;

	/* The listener's channel only carries connect requests (accepted ids
	 * move to their own channel); anything else is dropped. */
	for (;;) {
		rc = next_event(l->ch, deadline, &ev);
		if (rc != FC_OK)
			return fc_errf(errmsg, rc, "rdma: accept on port %u: %s", lb->port,
				       rc == FC_ETIMEOUT ? "no client within the timeout"
							 : strerror(errno));
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
			break;
		fc_log(FC_LOG_DEBUG, "transport", "rdma listener ignores event", "event=%s",
		       rdma_event_str(ev->event));
		rdma_ack_cm_event(ev);
	}
	id = ev->id;
	memset(&req, 0, sizeof req);
	ok = ev->param.conn.private_data_len >= sizeof req;
	if (ok) {
		memcpy(&req, ev->param.conn.private_data, sizeof req);
		peer_init = ev->param.conn.initiator_depth;
		peer_resp = ev->param.conn.responder_resources;
	}
	rdma_ack_cm_event(ev);
	c = conn_alloc(lb->t, errmsg);
	if (!c) {
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return FC_ENOMEM;
	}
	c->id = id;
	fc_transport_fmt_addr(rdma_get_peer_addr(id), c->base.peer, sizeof c->base.peer);
	if (!ok || ntohl(req.magic) != RDMA_MAGIC || ntohl(req.version) != RDMA_VERSION) {
		rdma_reject(id, NULL, 0);
		rc = fc_errf(errmsg, FC_EPROTO, "rdma: accept from %s: bad hello", c->base.peer);
		goto fail;
	}
	c->ch = rdma_create_event_channel();
	if (!c->ch || set_nonblock(c->ch->fd) || rdma_migrate_id(id, c->ch)) {
		rdma_reject(id, NULL, 0);
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: accept from %s: event channel: %s",
			     c->base.peer, strerror(errno));
		goto fail;
	}
	id->context = c;
	rc = setup_qp(c, errmsg);
	if (rc != FC_OK) {
		rdma_reject(id, NULL, 0);
		goto fail;
	}
	memset(&rep, 0, sizeof rep);
	rep.magic = htonl(RDMA_MAGIC);
	rep.version = htonl(RDMA_VERSION);
	if (lb->expose) {
		const struct rdma_mr *mr = (const struct rdma_mr *)lb->expose;
		rep.addr = htobe64(lb->expose->desc.addr);
		rep.len = htobe64(lb->expose->desc.len);
		rep.rkey = htonl(mr->mr[c->dev]->rkey);
	}
	rd_atomic_limits(c, &resp, &init);
	memset(&cp, 0, sizeof cp);
	cp.private_data = &rep;
	cp.private_data_len = sizeof rep;
	cp.responder_resources = resp < peer_init ? resp : peer_init;
	cp.initiator_depth = init < peer_resp ? init : peer_resp;
	cp.rnr_retry_count = 7;
	if (rdma_accept(id, &cp)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: accept from %s: %s", c->base.peer,
			     strerror(errno));
		goto fail;
	}
	rc = expect_event(c, RDMA_CM_EVENT_ESTABLISHED, now_ms() + RDMA_ACCEPT_EST_MS, &ev,
			  "accept from", errmsg);
	if (rc != FC_OK)
		goto fail;
	rdma_ack_cm_event(ev);
	c->established = 1;
	fc_log(FC_LOG_DEBUG, "transport", "rdma accepted", "peer=%s dev=%s", c->base.peer,
	       ibv_get_device_name(id->verbs->device));
	*out = &c->base;
	return FC_OK;
fail:
	conn_destroy(c);
	return rc;
}

static int rdma_connect_(struct fc_transport *t, const char *host, uint16_t port, int timeout_ms,
			 struct fc_transport_conn **out, char *errmsg)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 30000 : timeout_ms);
	struct addrinfo *res = NULL;
	struct rdma_conn_param cp;
	struct rdma_cm_event *ev;
	struct rdma_conn *c;
	struct wire_hello hello, rep;
	uint8_t resp, init;
	char ps[8];
	int r, rc, step_ms;

	c = conn_alloc(t, errmsg);
	if (!c)
		return FC_ENOMEM;
	snprintf(c->base.peer, sizeof c->base.peer, "%s:%u", host, port);
	snprintf(ps, sizeof ps, "%u", port);
	r = getaddrinfo(host, ps, &hints, &res);
	if (r) {
		rc = fc_errf(errmsg, FC_EINVAL, "rdma: connect %s: %s", c->base.peer,
			     gai_strerror(r));
		goto fail;
	}
	c->ch = rdma_create_event_channel();
	if (!c->ch || set_nonblock(c->ch->fd) || rdma_create_id(c->ch, &c->id, c, RDMA_PS_TCP)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: connect %s: create id: %s",
			     c->base.peer, strerror(errno));
		goto fail;
	}
	step_ms = (int)(deadline - now_ms());
	if (step_ms < 1)
		step_ms = 1;
	if (rdma_resolve_addr(c->id, NULL, res->ai_addr, step_ms)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: connect %s: resolve addr: %s",
			     c->base.peer, strerror(errno));
		goto fail;
	}
	rc = expect_event(c, RDMA_CM_EVENT_ADDR_RESOLVED, deadline, &ev, "resolve addr", errmsg);
	if (rc != FC_OK)
		goto fail;
	rdma_ack_cm_event(ev);
	step_ms = (int)(deadline - now_ms());
	if (rdma_resolve_route(c->id, step_ms < 1 ? 1 : step_ms)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: connect %s: resolve route: %s",
			     c->base.peer, strerror(errno));
		goto fail;
	}
	rc = expect_event(c, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline, &ev, "resolve route", errmsg);
	if (rc != FC_OK)
		goto fail;
	rdma_ack_cm_event(ev);
	rc = setup_qp(c, errmsg);
	if (rc != FC_OK)
		goto fail;
	memset(&hello, 0, sizeof hello);
	hello.magic = htonl(RDMA_MAGIC);
	hello.version = htonl(RDMA_VERSION);
	rd_atomic_limits(c, &resp, &init);
	memset(&cp, 0, sizeof cp);
	cp.private_data = &hello;
	cp.private_data_len = sizeof hello;
	cp.responder_resources = resp;
	cp.initiator_depth = init;
	/* ~0.5 s per try with 7 retries: a dead peer fails within seconds. */
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	if (rdma_connect(c->id, &cp)) {
		rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: connect %s: %s", c->base.peer,
			     strerror(errno));
		goto fail;
	}
	rc = expect_event(c, RDMA_CM_EVENT_ESTABLISHED, deadline, &ev, "connect", errmsg);
	if (rc != FC_OK)
		goto fail;
	memset(&rep, 0, sizeof rep);
	if (ev->param.conn.private_data_len >= sizeof rep)
		memcpy(&rep, ev->param.conn.private_data, sizeof rep);
	rdma_ack_cm_event(ev);
	c->established = 1;
	if (ntohl(rep.magic) != RDMA_MAGIC || ntohl(rep.version) != RDMA_VERSION) {
		rc = fc_errf(errmsg, FC_EPROTO, "rdma: connect %s: bad reply private data",
			     c->base.peer);
		goto fail;
	}
	c->base.remote.addr = be64toh(rep.addr);
	c->base.remote.len = be64toh(rep.len);
	c->base.remote.rkey = ntohl(rep.rkey);
	{
		/* Ask the QP for a short ACK timeout so a vanished peer is
		 * noticed within about a second (4.096 us * 2^14 * 7 tries),
		 * whatever the route's packet lifetime suggested. */
		struct ibv_qp_attr qattr = {.timeout = 14};
		ibv_modify_qp(c->id->qp, &qattr, IBV_QP_TIMEOUT);
	}
	freeaddrinfo(res);
	fc_log(FC_LOG_DEBUG, "transport", "rdma connected", "peer=%s dev=%s region_len=%llu",
	       c->base.peer, ibv_get_device_name(c->id->verbs->device),
	       (unsigned long long)c->base.remote.len);
	*out = &c->base;
	return FC_OK;
fail:
	if (res)
		freeaddrinfo(res);
	conn_destroy(c);
	return rc;
}

/* ---- data path --------------------------------------------------------- */

/* Caller holds c->mu. */
static void mark_down(struct rdma_conn *c, const char *why)
{
	if (c->down)
		return;
	c->down = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->down_at);
	snprintf(c->down_why, sizeof c->down_why, "%s", why);
	/* Moves the QP to error: everything outstanding is flushed. */
	if (c->established)
		rdma_disconnect(c->id);
	c->established = 0;
	fc_log(FC_LOG_INFO, "transport", "rdma connection down", "peer=%s reason=\"%s\"",
	       c->base.peer, why);
}

static int rdma_post(struct fc_transport_conn *cb, const struct fc_transport_wr *wrs, size_t n,
		     char *errmsg)
{
	struct rdma_conn *c = (struct rdma_conn *)cb;
	const struct rdma_mr *rmr;
	struct ibv_send_wr swr[FC_TRANSPORT_QUEUE_DEPTH], *sbad = NULL;
	struct ibv_recv_wr rwr[FC_TRANSPORT_QUEUE_DEPTH], *rbad = NULL;
	struct ibv_sge ssge[FC_TRANSPORT_QUEUE_DEPTH], rsge[FC_TRANSPORT_QUEUE_DEPTH];
	size_t ns = 0, nr = 0, want_s = 0, want_r = 0;
	uint32_t rkey = cb->remote.rkey;
	unsigned run;
	int rc = FC_OK, err;

	for (size_t i = 0; i < n; i++) {
		if (wrs[i].op == FC_TRANSPORT_RECV)
			want_r++;
		else
			want_s++;
	}
	pthread_mutex_lock(&c->mu);
	if (c->down) {
		rc = fc_errf(errmsg, FC_ECLOSED, "rdma: post to %s: connection down (%s)",
			     cb->peer, c->down_why);
		goto unlock;
	}
	if (c->sq_tail - c->sq_head + want_s > FC_TRANSPORT_QUEUE_DEPTH ||
	    c->rq_tail - c->rq_head + want_r > FC_TRANSPORT_QUEUE_DEPTH) {
		rc = fc_errf(errmsg, FC_EBUSY, "rdma: post %zu wrs to %s: queue full, poll first",
			     n, cb->peer);
		goto unlock;
	}
	run = c->unsignaled_run;
	for (size_t i = 0; i < n; i++) {
		const struct fc_transport_wr *wr = &wrs[i];
		uint32_t len = wr->op == FC_TRANSPORT_CAS ? 8 : wr->len;

		rmr = (const struct rdma_mr *)wr->mr;
		if (wr->op == FC_TRANSPORT_RECV) {
			uint64_t seq = c->rq_tail + nr;
			struct slot *s = &c->rq[seq % FC_TRANSPORT_QUEUE_DEPTH];
			s->wr_id = wr->wr_id;
			s->op = wr->op;
			s->user_signaled = s->hw_signaled = 1;
			rsge[nr] = (struct ibv_sge){(uintptr_t)wr->local, len, rmr->mr[c->dev]->lkey};
			memset(&rwr[nr], 0, sizeof rwr[nr]);
			rwr[nr].wr_id = seq | RDMA_RQ_BIT;
			rwr[nr].sg_list = &rsge[nr];
			rwr[nr].num_sge = 1;
			if (nr)
				rwr[nr - 1].next = &rwr[nr];
			nr++;
			continue;
		}
		uint64_t seq = c->sq_tail + ns;
		struct slot *s = &c->sq[seq % FC_TRANSPORT_QUEUE_DEPTH];
		struct ibv_send_wr *w = &swr[ns];
		s->wr_id = wr->wr_id;
		s->op = wr->op;
		s->user_signaled = wr->signaled != 0;
		s->hw_signaled = s->user_signaled || ++run >= RDMA_FORCE_SIGNAL;
		if (s->hw_signaled)
			run = 0;
		ssge[ns] = (struct ibv_sge){(uintptr_t)wr->local, len, rmr->mr[c->dev]->lkey};
		memset(w, 0, sizeof *w);
		w->wr_id = seq;
		w->sg_list = &ssge[ns];
		w->num_sge = 1;
		w->send_flags = s->hw_signaled ? IBV_SEND_SIGNALED : 0;
		switch (wr->op) {
		case FC_TRANSPORT_READ:
		case FC_TRANSPORT_WRITE:
			w->opcode = wr->op == FC_TRANSPORT_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
			w->wr.rdma.remote_addr = wr->remote_addr;
			w->wr.rdma.rkey = rkey;
			break;
		case FC_TRANSPORT_CAS:
			w->opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			w->wr.atomic.remote_addr = wr->remote_addr;
			w->wr.atomic.compare_add = wr->compare;
			w->wr.atomic.swap = wr->swap;
			w->wr.atomic.rkey = rkey;
			break;
		default:
			w->opcode = IBV_WR_SEND;
			break;
		}
		if (ns)
			swr[ns - 1].next = w;
		ns++;
	}
	/* Receives first, so a SEND posted in the same call can find them. */
	if (nr) {
		err = ibv_post_recv(c->id->qp, rwr, &rbad);
		if (err) {
			rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: post recv to %s: %s", cb->peer,
				     strerror(err));
			goto unlock;
		}
		c->rq_tail += nr;
	}
	if (ns) {
		err = ibv_post_send(c->id->qp, swr, &sbad);
		if (err) {
			/* Receives stay posted; the sends count from the bad one. */
			size_t done = sbad ? (size_t)(sbad - swr) : 0;
			c->sq_tail += done;
			rc = fc_errf(errmsg, err == ENOMEM ? FC_EBUSY : FC_ETRANSPORT,
				     "rdma: post send to %s: wr %zu of %zu: %s", cb->peer, done, ns,
				     strerror(err));
			goto unlock;
		}
		c->sq_tail += ns;
		c->unsignaled_run = run;
	}
unlock:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int wc_code(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_SUCCESS:
		return FC_OK;
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
		return FC_ERANGE;
	case IBV_WC_WR_FLUSH_ERR:
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return FC_ECLOSED;
	default:
		return FC_ETRANSPORT;
	}
}

/* Caller holds c->mu. Turns one hardware completion into at most one user
 * completion; returns 1 if *out was filled. */
static int translate(struct rdma_conn *c, const struct ibv_wc *wc, struct fc_transport_wc *out)
{
	int is_rq = (wc->wr_id & RDMA_RQ_BIT) != 0;
	uint64_t seq = wc->wr_id & ~RDMA_RQ_BIT;
	uint64_t *head = is_rq ? &c->rq_head : &c->sq_head;
	uint64_t tail = is_rq ? c->rq_tail : c->sq_tail;
	struct slot *s;
	int code = wc_code(wc->status);

	/* Already retired (synthesised after a disconnect): drop. */
	if (seq < *head || seq >= tail)
		return 0;
	s = &(is_rq ? c->rq : c->sq)[seq % FC_TRANSPORT_QUEUE_DEPTH];
	*head = seq + 1; /* in-order queue: earlier unsignaled ones are done */
	if (code != FC_OK && !c->down)
		mark_down(c, ibv_wc_status_str(wc->status));
	if (code == FC_OK && !s->user_signaled)
		return 0;
	out->wr_id = s->wr_id;
	out->op = s->op;
	out->status = code;
	out->byte_len = is_rq ? wc->byte_len : 0;
	out->detail = ibv_wc_status_str(wc->status);
	return 1;
}

/* Caller holds c->mu. After a disconnect the flush completions should come;
 * if they have not after a grace period, say so for every outstanding one. */
static size_t synthesise_flush(struct rdma_conn *c, struct fc_transport_wc *wcs, size_t max)
{
	struct timespec ts;
	size_t n = 0;
	int64_t since;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	since = (int64_t)(ts.tv_sec - c->down_at.tv_sec) * 1000 +
		(ts.tv_nsec - c->down_at.tv_nsec) / 1000000;
	if (since < RDMA_FLUSH_GRACE_MS)
		return 0;
	while (n < max && c->sq_head < c->sq_tail) {
		struct slot *s = &c->sq[c->sq_head++ % FC_TRANSPORT_QUEUE_DEPTH];
		wcs[n++] = (struct fc_transport_wc){s->wr_id, s->op, FC_ECLOSED, 0,
						    "flushed: connection down"};
	}
	while (n < max && c->rq_head < c->rq_tail) {
		struct slot *s = &c->rq[c->rq_head++ % FC_TRANSPORT_QUEUE_DEPTH];
		wcs[n++] = (struct fc_transport_wc){s->wr_id, s->op, FC_ECLOSED, 0,
						    "flushed: connection down"};
	}
	return n;
}

/* Non-blocking look at the connection's cm events. */
static void check_cm(struct rdma_conn *c)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(c->ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_ADDR_CHANGE:
			pthread_mutex_lock(&c->mu);
			mark_down(c, rdma_event_str(type));
			pthread_mutex_unlock(&c->mu);
			break;
		default:
			break;
		}
	}
}

static int rdma_poll(struct fc_transport_conn *cb, struct fc_transport_wc *wcs, size_t max,
		     int timeout_ms, size_t *n_out, char *errmsg)
{
	struct rdma_conn *c = (struct rdma_conn *)cb;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct ibv_wc hw[32];
	size_t n = 0;
	int spins = 0, rc = FC_OK;

	for (;;) {
		int got = ibv_poll_cq(c->cq, (int)(max - n < 32 ? max - n : 32), hw);

		if (got < 0) {
			rc = fc_errf(errmsg, FC_ETRANSPORT, "rdma: poll %s: ibv_poll_cq failed",
				     cb->peer);
			break;
		}
		if (got > 0) {
			pthread_mutex_lock(&c->mu);
			for (int i = 0; i < got; i++)
				n += (size_t)translate(c, &hw[i], &wcs[n]);
			pthread_mutex_unlock(&c->mu);
			if (n == max)
				break;
			continue; /* more may be waiting */
		}
		if (n)
			break;
		check_cm(c);
		pthread_mutex_lock(&c->mu);
		if (c->down) {
			n = synthesise_flush(c, wcs, max);
			if (!n && c->sq_head == c->sq_tail && c->rq_head == c->rq_tail)
				rc = fc_errf(errmsg, FC_ECLOSED, "rdma: poll %s: connection down (%s)",
					     cb->peer, c->down_why);
		}
		pthread_mutex_unlock(&c->mu);
		if (n || rc != FC_OK)
			break;
		if (timeout_ms == 0 || (deadline >= 0 && now_ms() >= deadline))
			break;
		if (spins++ < RDMA_SPIN)
			continue;
		if (!c->cq_armed) {
			/* Arm, then look again: a completion that arrived
			 * before arming would otherwise not wake us. */
			if (ibv_req_notify_cq(c->cq, 0) == 0)
				c->cq_armed = 1;
			continue;
		}
		{
			struct pollfd pf[2] = {{.fd = c->cc->fd, .events = POLLIN},
					       {.fd = c->ch->fd, .events = POLLIN}};
			int wait = deadline < 0 ? 1000 : (int)(deadline - now_ms());
			struct ibv_cq *ecq;
			void *ectx;

			if (c->down && wait > 50)
				wait = 50; /* re-check the flush grace period */
			if (wait > 0)
				poll(pf, 2, wait);
			if (ibv_get_cq_event(c->cc, &ecq, &ectx) == 0) {
				ibv_ack_cq_events(ecq, 1);
				c->cq_armed = 0;
			}
		}
	}
	*n_out = n;
	return rc;
}

static void rdma_conn_close(struct fc_transport_conn *cb)
{
	conn_destroy((struct rdma_conn *)cb);
}

const struct fc_transport_ops fc_transport_rdma_ops = {
	.version = FC_TRANSPORT_OPS_VERSION,
	.name = "rdma",
	.open = rdma_tp_open,
	.close = rdma_tp_close,
	.reg_mr = rdma_reg_mr,
	.dereg_mr = rdma_dereg_mr,
	.listen = rdma_listen_,
	.accept = rdma_accept_,
	.listener_close = rdma_listener_close,
	.connect = rdma_connect_,
	.post = rdma_post,
	.poll = rdma_poll,
	.conn_close = rdma_conn_close,
};
