/* The gateway client (fc_gwclient.h): one pipelined connection at a time on
 * a libuv loop, requests paired with replies by request_id, failover to the
 * next endpoint on connection loss or on a refusal (FC_EAGAIN).
 *
 * A request is in exactly one of three lists: `queue` (to be written on the
 * current connection), `inflight` (written, awaiting its reply; also in the
 * hash by id) or `waiting` (an unknown-outcome submission between two status
 * polls). A 50 ms tick enforces deadlines and wakes the polls; it runs only
 * while requests are pending. User callbacks are always called on requests
 * already unlinked, so a callback may send, or close the client.
 *
 * A gateway that refuses a request unexecuted (FC_EAGAIN: it is draining)
 * is left: its connection is "retired" (nothing more is written to it, the
 * answers to what was already written on it are still taken, and it is
 * closed once none is awaited) and the client connects to the next
 * endpoint, where the refused request is sent again. An in-flight request
 * on a retired connection has r->on set to it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_wire.h"

#define TICK_MS 50

enum req_kind { REQ_GATEWAY, REQ_STATUS };
enum req_where { IN_NONE, IN_QUEUE, IN_FLIGHT, IN_WAITING };
enum conn_state { CONN_NONE, CONN_CONNECTING, CONN_OPEN };

struct retired {
	struct retired *next;
	struct fc_conn *conn; /* NULL once on_close has begun for it */
	char *id;	      /* its endpoint's id, for results */
	size_t n;	      /* requests in flight on it */
	int closed;	      /* fc_conn_close called */
};

struct req {
	struct req *prev, *next;
	struct req *hnext;
	struct retired *on; /* IN_FLIGHT on a retired connection */
	unsigned refusals;  /* FC_EAGAIN answers so far */
	uint64_t id;
	enum req_kind kind;
	int mode;      /* Flexchain__GatewayMode, REQ_GATEWAY */
	int resolving; /* unknown-outcome submission, now status queries */
	enum req_where where;
	uint64_t deadline; /* uv_now ms */
	uint64_t wake;	   /* IN_WAITING: next poll */
	uint8_t *payload;  /* encoded ControlMessage */
	size_t len;
	char tx_id[FC_TXID_HEX_LEN + 1];
	fc_gw_cb cb;
	void *ud;
};

struct list {
	struct req *head, *tail;
	size_t n;
};

struct ep {
	char *id, *host;
	uint16_t port;
};

struct fc_gwclient {
	uv_loop_t *loop;
	int own_loop;
	struct ep *eps;
	size_t n_eps, cur;
	struct fc_gwclient_opts o;
	struct fc_conn *conn;
	struct retired *retired;
	enum conn_state state;
	int busy;
	size_t fails_in_row;
	uv_timer_t tick;
	int tick_on;
	struct list queue, inflight, waiting;
	struct req **ht;
	size_t ht_cap;
	uint64_t next_id;
	uint64_t failovers;
	int closing;
	int unreachable; /* every connect failed at once: fail from the tick */
	int handles; /* tick + live connections */
	void (*done)(void *);
	void *done_ud;
	char lasterr[FC_ERRMSG_LEN];
};

/* ------------------------------------------------------------ lists, hash */

static void list_push(struct list *l, struct req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

static void list_del(struct list *l, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
	l->n--;
}

static size_t hslot(const struct fc_gwclient *c, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (c->ht_cap - 1);
}

static int ht_grow(struct fc_gwclient *c)
{
	size_t ncap = c->ht_cap ? c->ht_cap * 2 : 256, ocap = c->ht_cap;
	struct req **old = c->ht, **nt = fc_calloc(ncap, sizeof *nt);

	if (!nt)
		return FC_ENOMEM;
	c->ht = nt;
	c->ht_cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		struct req *r = old[i], *nx;
		for (; r; r = nx) {
			size_t s = hslot(c, r->id);
			nx = r->hnext;
			r->hnext = nt[s];
			nt[s] = r;
		}
	}
	fc_free(old);
	return FC_OK;
}

static void ht_del(struct fc_gwclient *c, struct req *r)
{
	struct req **pp = &c->ht[hslot(c, r->id)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	r->hnext = NULL;
}

static struct req *ht_find(struct fc_gwclient *c, uint64_t id)
{
	struct req *r;

	if (!c->ht_cap)
		return NULL;
	for (r = c->ht[hslot(c, id)]; r; r = r->hnext)
		if (r->id == id)
			return r;
	return NULL;
}

/* Unlinks r from wherever it is. */
static void unlink_req(struct fc_gwclient *c, struct req *r)
{
	switch (r->where) {
	case IN_QUEUE:
		list_del(&c->queue, r);
		break;
	case IN_FLIGHT:
		list_del(&c->inflight, r);
		ht_del(c, r);
		if (r->on) {
			struct retired *o = r->on;
			r->on = NULL;
			if (--o->n == 0 && o->conn && !o->closed) {
				o->closed = 1;
				fc_conn_close(o->conn); /* nothing awaited there any more */
			}
		}
		break;
	case IN_WAITING:
		list_del(&c->waiting, r);
		break;
	case IN_NONE:
		break;
	}
	r->where = IN_NONE;
}

static void place(struct fc_gwclient *c, struct req *r, enum req_where w)
{
	unlink_req(c, r);
	r->where = w;
	if (w == IN_QUEUE)
		list_push(&c->queue, r);
	else if (w == IN_WAITING)
		list_push(&c->waiting, r);
	else if (w == IN_FLIGHT) {
		size_t s = hslot(c, r->id);
		list_push(&c->inflight, r);
		r->hnext = c->ht[s];
		c->ht[s] = r;
	}
}

static size_t npending(const struct fc_gwclient *c)
{
	return c->queue.n + c->inflight.n + c->waiting.n;
}

static void req_free(struct req *r)
{
	fc_free(r->payload);
	fc_free(r);
}

/* r is already unlinked. Calls its callback with res and frees it. */
static void finish(struct req *r, struct fc_gw_result *res)
{
	if (!res->tx_id[0])
		snprintf(res->tx_id, sizeof res->tx_id, "%s", r->tx_id);
	r->cb(res, r->ud);
	req_free(r);
}

static void finish_err(struct fc_gwclient *c, struct req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish_err(struct fc_gwclient *c, struct req *r, int code, const char *fmt, ...)
{
	struct fc_gw_result res;
	va_list ap;

	memset(&res, 0, sizeof res);
	res.code = code;
	va_start(ap, fmt);
	vsnprintf(res.message, sizeof res.message, fmt, ap);
	va_end(ap);
	res.gateway = c->eps[c->cur].id;
	finish(r, &res);
}

/* Whether failing r now leaves its outcome unknown (a submission written to
 * a gateway and not answered). */
static int outcome_unknown(const struct req *r, int was_sent)
{
	return r->kind == REQ_GATEWAY && r->mode != FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE &&
	       (r->resolving || was_sent);
}

/* ------------------------------------------------------------ encoding */

static int encode_status(uint64_t id, const char *tx_id, uint8_t **buf, size_t *len,
			 char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__TxQuery q = FLEXCHAIN__TX_QUERY__INIT;

	q.tx_id = (char *)tx_id;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY;
	cm.tx_query = &q;
	return fc_wire_encode(&cm.base, buf, len, errmsg);
}

/* ---------------------------------------------------------------- tick */

static void tick_cb(uv_timer_t *t);

static void tick_start(struct fc_gwclient *c)
{
	if (!c->tick_on && !c->closing) {
		uv_timer_start(&c->tick, tick_cb, TICK_MS, TICK_MS);
		c->tick_on = 1;
	}
}

static void tick_stop(struct fc_gwclient *c)
{
	if (c->tick_on) {
		uv_timer_stop(&c->tick);
		c->tick_on = 0;
	}
}

/* ---------------------------------------------------------- connection */

static void kick(struct fc_gwclient *c);

static void flush(struct fc_gwclient *c)
{
	while (c->state == CONN_OPEN && !c->busy && c->queue.head) {
		struct req *r = c->queue.head;
		int rc = fc_conn_send(c->conn, r->payload, r->len);
		if (rc == FC_EBUSY) {
			c->busy = 1;
			break;
		}
		if (rc == FC_ECLOSED || rc == FC_ESTATE)
			break; /* on_close will move everything on */
		if (rc != FC_OK) {
			unlink_req(c, r);
			finish_err(c, r, rc, "send to gateway %s: %s", c->eps[c->cur].id,
				   fc_strerror(rc));
			continue;
		}
		place(c, r, IN_FLIGHT);
	}
}

static void fill_reply(const char *gateway, struct req *r, Flexchain__ControlMessage *cm,
		       struct fc_gw_result *res)
{
	memset(res, 0, sizeof *res);
	res->gateway = gateway;
	if (cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR && cm->error) {
		res->code = cm->error->code ? (int)cm->error->code : FC_EPROTO;
		snprintf(res->message, sizeof res->message, "gateway %s: %s", res->gateway,
			 cm->error->message ? cm->error->message : "error");
		return;
	}
	if (r->kind == REQ_GATEWAY && !r->resolving &&
	    cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REPLY && cm->gateway_reply) {
		Flexchain__GatewayReply *g = cm->gateway_reply;
		res->code = (int)g->code;
		if (g->code && g->message)
			snprintf(res->message, sizeof res->message, "gateway %s: %s",
				 res->gateway, g->message);
		if (g->tx_id)
			snprintf(res->tx_id, sizeof res->tx_id, "%s", g->tx_id);
		res->status = (int)g->status;
		res->height = g->height;
		res->index = g->index;
		if (g->response.len) {
			res->response = g->response.data; /* borrowed from cm */
			res->response_len = g->response.len;
		}
		return;
	}
	if ((r->kind == REQ_STATUS || r->resolving) &&
	    cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO && cm->tx_info) {
		Flexchain__TxInfo *t = cm->tx_info;
		res->found = t->found;
		if (t->found) {
			res->status = (int)t->status;
			res->height = t->height;
			res->index = t->index;
		}
		res->resolved = r->resolving;
		return;
	}
	res->code = FC_EPROTO;
	snprintf(res->message, sizeof res->message, "gateway %s: unexpected reply (body %d)",
		 res->gateway, (int)cm->body_case);
}

static void advance(struct fc_gwclient *c);

static struct retired *find_retired(const struct fc_gwclient *c, const struct fc_conn *conn)
{
	struct retired *o;

	for (o = c->retired; o; o = o->next)
		if (o->conn == conn)
			return o;
	return NULL;
}

/* Leaves the current endpoint (it refused a request unexecuted): what is in
 * flight on its connection stays there, awaited; new writes go to the next
 * endpoint. */
static void retire_current(struct fc_gwclient *c)
{
	struct retired *o = NULL;
	size_t n = 0, from = c->cur;

	for (struct req *r = c->inflight.head; r; r = r->next)
		n += r->on == NULL;
	if (n) {
		o = fc_calloc(1, sizeof *o);
		if (o)
			o->id = fc_strdup(c->eps[c->cur].id);
		if (!o || !o->id) {
			fc_free(o);
			return; /* out of memory: stay (refusals are bounded anyway) */
		}
		o->conn = c->conn;
		o->n = n;
		for (struct req *r = c->inflight.head; r; r = r->next)
			if (!r->on)
				r->on = o;
		o->next = c->retired;
		c->retired = o;
	} else {
		fc_conn_close(c->conn); /* on_close sees a connection that is not current */
	}
	c->conn = NULL;
	c->state = CONN_NONE;
	c->busy = 0;
	c->fails_in_row = 0;
	advance(c);
	fc_log(FC_LOG_INFO, "gwclient", "gateway refuses requests (draining): moving on",
	       "from=%s to=%s awaited=%zu", c->eps[from].id, c->eps[c->cur].id, n);
}

/* r (unlinked) was refused unexecuted (FC_EAGAIN) by gateway gw, on the
 * current connection when o is NULL. 1: r goes to the next endpoint; 0:
 * every endpoint refused it (or its deadline passed), res says so. */
static int refused(struct fc_gwclient *c, struct req *r, struct retired *o, const char *gw,
		   struct fc_gw_result *res)
{
	char why[FC_ERRMSG_LEN];

	r->refusals++;
	if (r->refusals < c->n_eps && uv_now(c->loop) < r->deadline) {
		fc_log(FC_LOG_DEBUG, "gwclient", "request refused unexecuted, sent elsewhere",
		       "gateway=%s tx=%s refusals=%u", gw, r->tx_id, r->refusals);
		if (!o && c->state == CONN_OPEN)
			retire_current(c);
		place(c, r, IN_QUEUE);
		kick(c);
		return 1;
	}
	snprintf(why, sizeof why, "%s", res->message);
	if (r->resolving) {
		res->code = FC_ECLOSED;
		snprintf(res->message, sizeof res->message,
			 "every gateway refused the status query (%.300s); outcome unknown "
			 "for tx %s",
			 why, r->tx_id);
	} else {
		snprintf(res->message, sizeof res->message,
			 "refused unexecuted by %u gateway(s) of %zu (last: %.400s)", r->refusals,
			 c->n_eps, why);
	}
	return 0;
}

static void on_frame(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud)
{
	struct fc_gwclient *c = ud;
	ProtobufCMessage *m = NULL;
	Flexchain__ControlMessage *cm;
	struct fc_gw_result res;
	struct retired *o = NULL;
	const char *gw;
	struct req *r;
	char em[FC_ERRMSG_LEN] = "";

	if (conn != c->conn && !(o = find_retired(c, conn)))
		return;
	gw = o ? o->id : c->eps[c->cur].id;
	if (fc_wire_decode(&flexchain__control_message__descriptor, payload, len,
			   c->o.max_frame_bytes, &m, em) != FC_OK) {
		fc_log(FC_LOG_WARN, "gwclient", "garbage reply", "gateway=%s reason=\"%s\"", gw,
		       em);
		fc_conn_close(conn);
		return;
	}
	cm = (Flexchain__ControlMessage *)m;
	r = ht_find(c, cm->request_id);
	if (!r || r->on != o)
		goto free_msg; /* a late answer to a request that timed out */
	unlink_req(c, r);
	fill_reply(gw, r, cm, &res);
	if (res.code == FC_EAGAIN && refused(c, r, o, gw, &res))
		goto free_msg;
	if (r->kind == REQ_GATEWAY && r->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT &&
	    !r->resolving && res.code == FC_ETIMEOUT) {
		/* The gateway stopped waiting for the commit decision: the outcome
		 * is unknown, and resolved like a lost connection's. */
		uint8_t *buf = NULL;
		size_t blen = 0;
		if (encode_status(r->id, r->tx_id, &buf, &blen, NULL) == FC_OK) {
			fc_free(r->payload);
			r->payload = buf;
			r->len = blen;
			r->resolving = 1;
			r->wake = uv_now(c->loop) + c->o.poll_ms;
			place(c, r, IN_WAITING);
			goto free_msg;
		}
	}
	if (r->resolving && res.code == FC_OK && !res.found) {
		uint64_t now = uv_now(c->loop);
		if (now + c->o.poll_ms < r->deadline) {
			r->wake = now + c->o.poll_ms;
			place(c, r, IN_WAITING);
			goto free_msg;
		}
		res.code = FC_ETIMEOUT;
		snprintf(res.message, sizeof res.message,
			 "outcome unknown: connection to the gateway was lost and tx %s is not "
			 "in the ledger yet (check later with a status query)",
			 r->tx_id);
	}
	finish(r, &res);
free_msg:
	fc_wire_free(m);
}

static void on_drain(struct fc_conn *conn, void *ud)
{
	struct fc_gwclient *c = ud;

	if (conn != c->conn)
		return;
	c->busy = 0;
	flush(c);
}

static void on_connect(struct fc_conn *conn, int status, const char *reason, void *ud)
{
	struct fc_gwclient *c = ud;

	(void)reason;
	if (conn != c->conn || status != FC_OK)
		return; /* on_close follows a failure */
	c->state = CONN_OPEN;
	c->fails_in_row = 0;
	flush(c);
}

static void maybe_done(struct fc_gwclient *c)
{
	void (*done)(void *);
	void *dud;

	if (!c->closing || c->handles > 0)
		return;
	done = c->done;
	dud = c->done_ud;
	for (size_t i = 0; i < c->n_eps; i++) {
		fc_free(c->eps[i].id);
		fc_free(c->eps[i].host);
	}
	fc_free(c->eps);
	fc_free(c->ht);
	fc_free(c);
	if (done)
		done(dud);
}

/* Fails every queued and waiting request: no endpoint could be reached. */
static void fail_unreachable(struct fc_gwclient *c)
{
	struct list l = {0};
	struct req *r;

	while ((r = c->queue.head) || (r = c->waiting.head)) {
		unlink_req(c, r);
		list_push(&l, r);
	}
	while ((r = l.head)) {
		list_del(&l, r);
		if (outcome_unknown(r, 0))
			finish_err(c, r, FC_ECLOSED,
				   "no gateway reachable (%s); outcome unknown for tx %s", c->lasterr,
				   r->tx_id);
		else
			finish_err(c, r, FC_ECLOSED, "no gateway reachable (%s)", c->lasterr);
	}
}

static void advance(struct fc_gwclient *c)
{
	if (c->n_eps > 1) {
		c->cur = (c->cur + 1) % c->n_eps;
		c->failovers++;
	}
}

/* What was written on connection o (NULL: the current one) and not
 * answered goes to the queue: read-only requests go again; submissions
 * become status queries (never a second submission). */
static void requeue_inflight(struct fc_gwclient *c, struct retired *o)
{
	struct list l = {0};
	struct req *r, *nx;

	for (r = c->inflight.head; r; r = nx) {
		nx = r->next;
		if (r->on == o) {
			unlink_req(c, r);
			list_push(&l, r);
		}
	}
	while ((r = l.head)) {
		list_del(&l, r);
		if (c->closing) {
			finish_err(c, r, FC_ECLOSED, "client closed%s",
				   outcome_unknown(r, 1) ? "; outcome unknown" : "");
			continue;
		}
		if (outcome_unknown(r, 1) && !r->resolving) {
			uint8_t *buf = NULL;
			size_t len = 0;
			if (encode_status(r->id, r->tx_id, &buf, &len, NULL) != FC_OK) {
				finish_err(c, r, FC_ENOMEM,
					   "out of memory; outcome unknown for tx %s", r->tx_id);
				continue;
			}
			fc_free(r->payload);
			r->payload = buf;
			r->len = len;
			r->resolving = 1;
		}
		place(c, r, IN_QUEUE);
	}
}

/* A retired connection closed (by us once idle, or lost). */
static void retired_closed(struct fc_gwclient *c, struct retired *o)
{
	struct retired **pp;

	o->conn = NULL;
	if (!c->closing && o->n) {
		fc_log(FC_LOG_WARN, "gwclient", "draining gateway's connection lost",
		       "gateway=%s pending=%zu", o->id, o->n);
		requeue_inflight(c, o);
	}
	for (pp = &c->retired; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	fc_free(o->id);
	fc_free(o);
	if (!c->closing && c->queue.head)
		kick(c);
}

static void on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct fc_gwclient *c = ud;
	struct retired *o;
	int was_open;

	c->handles--;
	if (conn != c->conn) {
		if ((o = find_retired(c, conn)))
			retired_closed(c, o);
		maybe_done(c);
		return;
	}
	was_open = c->state == CONN_OPEN;
	c->conn = NULL;
	c->state = CONN_NONE;
	c->busy = 0;
	if (c->closing) {
		maybe_done(c);
		return;
	}
	snprintf(c->lasterr, sizeof c->lasterr, "%s %s:%u: %s", c->eps[c->cur].id,
		 c->eps[c->cur].host, c->eps[c->cur].port, reason ? reason : fc_strerror(code));
	requeue_inflight(c, NULL);
	if (was_open && npending(c))
		fc_log(FC_LOG_WARN, "gwclient", "gateway connection lost", "reason=\"%s\"",
		       c->lasterr);
	if (!was_open)
		c->fails_in_row++;
	advance(c);
	if (c->fails_in_row >= c->n_eps) {
		c->fails_in_row = 0;
		fail_unreachable(c);
		return;
	}
	kick(c);
}

static void kick(struct fc_gwclient *c)
{
	static const struct fc_net_cbs cbs = {
	    .on_connect = on_connect,
	    .on_frame = on_frame,
	    .on_drain = on_drain,
	    .on_close = on_close,
	};
	struct fc_net_opts no;
	char em[FC_ERRMSG_LEN];

	if (c->closing)
		return;
	if (c->state == CONN_OPEN) {
		flush(c);
		return;
	}
	if (c->state == CONN_CONNECTING || !c->queue.head)
		return;
	memset(&no, 0, sizeof no);
	no.connect_timeout_ms = c->o.connect_timeout_ms;
	no.max_frame_bytes = c->o.max_frame_bytes;
	for (size_t tries = 0; tries < c->n_eps; tries++) {
		struct ep *e = &c->eps[c->cur];
		em[0] = '\0';
		if (fc_net_connect(c->loop, e->host, e->port, &no, &cbs, c, &c->conn, em) ==
		    FC_OK) {
			c->state = CONN_CONNECTING;
			c->handles++;
			return;
		}
		c->conn = NULL;
		snprintf(c->lasterr, sizeof c->lasterr, "%s: %s", e->id, em);
		advance(c);
	}
	/* never call back from inside a request call: the tick fails them */
	c->unreachable = 1;
}

static void tick_cb(uv_timer_t *t)
{
	struct fc_gwclient *c = t->data;
	uint64_t now = uv_now(c->loop);
	struct list due = {0}, expired = {0};
	struct list *lists[] = {&c->queue, &c->inflight, &c->waiting};
	struct req *r, *nx;

	if (c->unreachable) {
		c->unreachable = 0;
		fail_unreachable(c);
	}
	for (size_t i = 0; i < 3; i++)
		for (r = lists[i]->head; r; r = nx) {
			nx = r->next;
			if (now >= r->deadline) {
				int sent = r->where == IN_FLIGHT;
				unlink_req(c, r);
				r->where = sent ? IN_FLIGHT : IN_NONE; /* remembered below */
				list_push(&expired, r);
			} else if (r->where == IN_WAITING && now >= r->wake) {
				unlink_req(c, r);
				list_push(&due, r);
			}
		}
	while ((r = due.head)) {
		list_del(&due, r);
		place(c, r, IN_QUEUE);
	}
	if (c->queue.head)
		kick(c);
	while ((r = expired.head)) {
		int sent = r->where == IN_FLIGHT;
		list_del(&expired, r);
		r->where = IN_NONE;
		if (outcome_unknown(r, sent))
			finish_err(c, r, FC_ETIMEOUT,
				   "no answer within %u ms; outcome unknown for tx %s (check with "
				   "a status query)",
				   c->o.timeout_ms, r->tx_id);
		else
			finish_err(c, r, FC_ETIMEOUT, "no answer within %u ms (%s)",
				   c->o.timeout_ms, c->lasterr[0] ? c->lasterr : "gateway busy");
	}
	if (!c->closing && npending(c) == 0)
		tick_stop(c);
}

/* --------------------------------------------------------------- public */

void fc_gwclient_opts_init(struct fc_gwclient_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->timeout_ms = 30000;
	opts->connect_timeout_ms = 2000;
	opts->poll_ms = 200;
	opts->max_frame_bytes = FC_NET_DEFAULT_MAX_FRAME;
}

int fc_gw_endpoints_from_config(const struct fc_config *cfg, const char *gateway,
				struct fc_gw_endpoint **eps, size_t *n, size_t *first,
				char *errmsg)
{
	struct fc_gw_endpoint *e;

	*eps = NULL;
	*n = 0;
	*first = 0;
	if (cfg->n_compute == 0)
		return fc_errf(errmsg, FC_ECONFIG, "%s: no compute servers (gateways) configured",
			       cfg->path);
	e = fc_calloc(cfg->n_compute, sizeof *e);
	if (!e)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	for (size_t i = 0; i < cfg->n_compute; i++) {
		e[i].id = cfg->compute[i].id;
		e[i].host = cfg->compute[i].host;
		e[i].port = cfg->compute[i].port;
		if (gateway && strcmp(gateway, e[i].id) == 0)
			*first = i + 1;
	}
	if (gateway && *first == 0) {
		fc_free(e);
		return fc_errf(errmsg, FC_ENOTFOUND, "%s: no compute server with id '%s'",
			       cfg->path, gateway);
	}
	if (*first)
		(*first)--;
	*eps = e;
	*n = cfg->n_compute;
	return FC_OK;
}

int fc_gwclient_create(uv_loop_t *loop, const struct fc_gw_endpoint *eps, size_t n, size_t first,
		       const struct fc_gwclient_opts *opts, struct fc_gwclient **out,
		       char *errmsg)
{
	struct fc_gwclient *c;
	int rc = FC_ENOMEM;

	*out = NULL;
	if (!eps || n == 0 || first >= n)
		return fc_errf(errmsg, FC_EINVAL, "gateway client: no endpoints");
	c = fc_calloc(1, sizeof *c);
	if (!c)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	if (opts)
		c->o = *opts;
	else
		fc_gwclient_opts_init(&c->o);
	if (!c->o.timeout_ms)
		c->o.timeout_ms = 30000;
	if (!c->o.poll_ms)
		c->o.poll_ms = 200;
	if (!c->o.max_frame_bytes)
		c->o.max_frame_bytes = FC_NET_DEFAULT_MAX_FRAME;
	c->eps = fc_calloc(n, sizeof *c->eps);
	if (!c->eps)
		goto free_c;
	c->n_eps = n;
	for (size_t i = 0; i < n; i++) {
		c->eps[i].id = fc_strdup(eps[i].id ? eps[i].id : "gateway");
		c->eps[i].host = fc_strdup(eps[i].host ? eps[i].host : "127.0.0.1");
		c->eps[i].port = eps[i].port;
		if (!c->eps[i].id || !c->eps[i].host)
			goto free_eps;
	}
	c->cur = first;
	if (ht_grow(c) != FC_OK)
		goto free_eps;
	if (!loop) {
		loop = fc_malloc(sizeof *loop);
		if (!loop)
			goto free_ht;
		if (uv_loop_init(loop) != 0) {
			fc_free(loop);
			rc = FC_EIO;
			goto free_ht;
		}
		c->own_loop = 1;
	}
	c->loop = loop;
	uv_timer_init(loop, &c->tick);
	c->tick.data = c;
	c->handles = 1;
	c->next_id = 1;
	*out = c;
	return FC_OK;
free_ht:
	fc_free(c->ht);
free_eps:
	for (size_t i = 0; i < n; i++) {
		fc_free(c->eps[i].id);
		fc_free(c->eps[i].host);
	}
	fc_free(c->eps);
free_c:
	fc_free(c);
	return fc_errf(errmsg, rc, "gateway client: %s", fc_strerror(rc));
}

/* A new request with the next id (NULL when out of memory). */
static struct req *req_new(struct fc_gwclient *c, enum req_kind kind, const char *tx_id,
			   fc_gw_cb cb, void *ud)
{
	struct req *r = fc_calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->id = c->next_id++;
	r->kind = kind;
	r->cb = cb;
	r->ud = ud;
	snprintf(r->tx_id, sizeof r->tx_id, "%s", tx_id);
	return r;
}

static int enqueue(struct fc_gwclient *c, struct req *r)
{
	if (npending(c) + 1 > c->ht_cap && ht_grow(c) != FC_OK)
		return FC_ENOMEM;
	r->deadline = uv_now(c->loop) + c->o.timeout_ms;
	place(c, r, IN_QUEUE);
	tick_start(c);
	kick(c);
	return FC_OK;
}

int fc_gwclient_send(struct fc_gwclient *c, Flexchain__GatewayMode mode,
		     const struct fc_gw_proposal *p, fc_gw_cb cb, void *ud, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__GatewayRequest gr = FLEXCHAIN__GATEWAY_REQUEST__INIT;
	struct req *r;
	int rc;

	if (!c || !p || !cb || c->closing)
		return fc_errf(errmsg, FC_EINVAL, "gateway client: bad request");
	r = req_new(c, REQ_GATEWAY, p->tx_id, cb, ud);
	if (!r)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	r->mode = mode;
	gr.mode = mode;
	gr.proposal = (Flexchain__Proposal *)&p->prop;
	gr.client_signature.data = p->sig;
	gr.client_signature.len = p->sig_len;
	cm.request_id = r->id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;
	cm.gateway_request = &gr;
	rc = fc_wire_encode(&cm.base, &r->payload, &r->len, errmsg);
	if (rc == FC_OK)
		rc = enqueue(c, r);
	if (rc != FC_OK) {
		req_free(r);
		return fc_errf(errmsg, rc, "gateway client: %s", fc_strerror(rc));
	}
	return FC_OK;
}

int fc_gwclient_status(struct fc_gwclient *c, const char *tx_id, fc_gw_cb cb, void *ud,
		       char *errmsg)
{
	struct req *r;
	int rc;

	if (!c || !tx_id || !cb || c->closing)
		return fc_errf(errmsg, FC_EINVAL, "gateway client: bad request");
	r = req_new(c, REQ_STATUS, tx_id, cb, ud);
	if (!r)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	rc = encode_status(r->id, tx_id, &r->payload, &r->len, errmsg);
	if (rc == FC_OK)
		rc = enqueue(c, r);
	if (rc != FC_OK) {
		req_free(r);
		return fc_errf(errmsg, rc, "gateway client: %s", fc_strerror(rc));
	}
	return FC_OK;
}

struct sync_wait {
	int done;
	struct fc_gw_result *res;
};

static void sync_cb(const struct fc_gw_result *res, void *ud)
{
	struct sync_wait *w = ud;

	*w->res = *res;
	w->res->response = NULL;
	if (res->response_len) {
		w->res->response = fc_memdup(res->response, res->response_len);
		if (!w->res->response)
			w->res->response_len = 0;
	}
	w->done = 1;
}

static int run_sync(struct fc_gwclient *c, int rc, struct sync_wait *w)
{
	if (rc != FC_OK) {
		w->res->code = rc;
		return rc;
	}
	while (!w->done)
		uv_run(c->loop, UV_RUN_ONCE);
	return w->res->code;
}

int fc_gwclient_send_sync(struct fc_gwclient *c, Flexchain__GatewayMode mode,
			  const struct fc_gw_proposal *p, struct fc_gw_result *res)
{
	struct sync_wait w = {0, res};

	memset(res, 0, sizeof *res);
	if (!c || !c->own_loop)
		return res->code = fc_errf(res->message, FC_ESTATE, "not a blocking client");
	return run_sync(c, fc_gwclient_send(c, mode, p, sync_cb, &w, res->message), &w);
}

int fc_gwclient_status_sync(struct fc_gwclient *c, const char *tx_id, struct fc_gw_result *res)
{
	struct sync_wait w = {0, res};

	memset(res, 0, sizeof *res);
	if (!c || !c->own_loop)
		return res->code = fc_errf(res->message, FC_ESTATE, "not a blocking client");
	return run_sync(c, fc_gwclient_status(c, tx_id, sync_cb, &w, res->message), &w);
}

void fc_gw_result_clear(struct fc_gw_result *r)
{
	if (!r)
		return;
	fc_free(r->response);
	r->response = NULL;
	r->response_len = 0;
}

static int ep_same(const struct ep *a, const struct fc_gw_endpoint *b)
{
	return strcmp(a->id, b->id ? b->id : "gateway") == 0 &&
	       strcmp(a->host, b->host ? b->host : "127.0.0.1") == 0 && a->port == b->port;
}

int fc_gwclient_set_endpoints(struct fc_gwclient *c, const struct fc_gw_endpoint *eps, size_t n,
			      char *errmsg)
{
	struct ep *v, *old;
	size_t cur = (size_t)-1, nv = n, oldn;

	if (!c || c->closing)
		return fc_errf(errmsg, FC_ESTATE, "gateway client: closed");
	if (!eps || n == 0)
		return fc_errf(errmsg, FC_EINVAL, "gateway client: no endpoints");
	if (n == c->n_eps) {
		size_t same = 0;
		while (same < n && ep_same(&c->eps[same], &eps[same]))
			same++;
		if (same == n)
			return FC_OK; /* unchanged */
	}
	for (size_t i = 0; i < n && cur == (size_t)-1; i++)
		if (ep_same(&c->eps[c->cur], &eps[i]))
			cur = i;
	v = fc_calloc(n + 1, sizeof *v);
	if (!v)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v[i].id = fc_strdup(eps[i].id ? eps[i].id : "gateway");
		v[i].host = fc_strdup(eps[i].host ? eps[i].host : "127.0.0.1");
		v[i].port = eps[i].port;
		if (!v[i].id || !v[i].host)
			goto nomem;
	}
	if (cur == (size_t)-1 && c->state != CONN_NONE) {
		/* the endpoint in use stays (last) until the client leaves it */
		cur = nv++;
		v[cur].id = fc_strdup(c->eps[c->cur].id);
		v[cur].host = fc_strdup(c->eps[c->cur].host);
		v[cur].port = c->eps[c->cur].port;
		if (!v[cur].id || !v[cur].host)
			goto nomem;
	}
	old = c->eps;
	oldn = c->n_eps;
	c->eps = v;
	c->n_eps = nv;
	c->cur = cur == (size_t)-1 ? 0 : cur;
	for (size_t i = 0; i < oldn; i++) {
		fc_free(old[i].id);
		fc_free(old[i].host);
	}
	fc_free(old);
	if (c->queue.head)
		kick(c);
	return FC_OK;
nomem:
	for (size_t i = 0; i <= n; i++) {
		fc_free(v[i].id);
		fc_free(v[i].host);
	}
	fc_free(v);
	return fc_errf(errmsg, FC_ENOMEM, "out of memory");
}

size_t fc_gwclient_pending(const struct fc_gwclient *c)
{
	return npending(c);
}

const char *fc_gwclient_gateway(const struct fc_gwclient *c)
{
	return c->eps[c->cur].id;
}

uint64_t fc_gwclient_failovers(const struct fc_gwclient *c)
{
	return c->failovers;
}

static void tick_closed(uv_handle_t *h)
{
	struct fc_gwclient *c = h->data;

	c->handles--;
	maybe_done(c);
}

void fc_gwclient_close(struct fc_gwclient *c, void (*done)(void *ud), void *ud)
{
	struct list l = {0};
	struct req *r;

	if (!c || c->closing)
		return;
	c->closing = 1;
	c->done = done;
	c->done_ud = ud;
	while ((r = c->queue.head) || (r = c->inflight.head) || (r = c->waiting.head)) {
		int sent = r->where == IN_FLIGHT;
		unlink_req(c, r);
		r->where = sent ? IN_FLIGHT : IN_NONE;
		list_push(&l, r);
	}
	while ((r = l.head)) {
		int sent = r->where == IN_FLIGHT;
		list_del(&l, r);
		r->where = IN_NONE;
		finish_err(c, r, FC_ECLOSED, "client closed%s",
			   outcome_unknown(r, sent) ? "; outcome unknown" : "");
	}
	tick_stop(c);
	if (c->conn)
		fc_conn_close(c->conn);
	for (struct retired *o = c->retired; o; o = o->next)
		if (o->conn && !o->closed) {
			o->closed = 1;
			fc_conn_close(o->conn);
		}
	uv_close((uv_handle_t *)&c->tick, tick_closed);
}

static void set_flag(void *ud)
{
	*(int *)ud = 1;
}

void fc_gwclient_destroy(struct fc_gwclient *c)
{
	uv_loop_t *loop;
	int own, done = 0;

	if (!c)
		return;
	loop = c->loop;
	own = c->own_loop;
	fc_gwclient_close(c, set_flag, &done);
	if (!own)
		return; /* the caller runs its loop */
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	uv_run(loop, UV_RUN_NOWAIT);
	uv_loop_close(loop);
	fc_free(loop);
}
