/* server.c - the compute server's loop: control port, reply queue, signals
 * and the drain on shutdown (computed.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "computed.h"
#include "fc_ctl.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define COMP "compute"
#define GW_THREADS 64u
#define DRAIN_MAX_MS 60000u
#define LEAVE_MAX_MS 3000u

struct cd_conn {
	struct cd_conn *next, *prev;
	struct cd_server *s;
	uint64_t id;
	struct fc_conn *c;
};

uint64_t cd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------- replies */

void cd_reply_queue(struct cd_server *s, uint64_t conn_id, uint8_t *frame, size_t len)
{
	struct cd_reply *r = fc_calloc(1, sizeof *r);

	if (!r) {
		fc_free(frame);
		return;
	}
	r->conn_id = conn_id;
	r->frame = frame;
	r->len = len;
	pthread_mutex_lock(&s->mu);
	if (s->out_tail)
		s->out_tail->next = r;
	else
		s->out_head = r;
	s->out_tail = r;
	pthread_mutex_unlock(&s->mu);
	uv_async_send(&s->wake);
}

void cd_reply_msg(struct cd_server *s, uint64_t conn_id, const Flexchain__ControlMessage *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (fc_wire_encode(&m->base, &buf, &len, NULL) == FC_OK)
		cd_reply_queue(s, conn_id, buf, len);
}

void cd_request_done(struct cd_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->inflight--;
	pthread_mutex_unlock(&s->mu);
}

static struct cd_conn *conn_find(struct cd_server *s, uint64_t id)
{
	for (struct cd_conn *c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void on_wake(uv_async_t *h)
{
	struct cd_server *s = h->data;
	struct cd_reply *r, *n;

	pthread_mutex_lock(&s->mu);
	r = s->out_head;
	s->out_head = s->out_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; r; r = n) {
		struct cd_conn *c = conn_find(s, r->conn_id);
		n = r->next;
		if (!c || fc_conn_send_owned(c->c, r->frame, r->len) != FC_OK) {
			/* The client left, or will not read: the reply is dropped. */
			fc_free(r->frame);
		}
		fc_free(r);
	}
}

/* ---------------------------------------------------------- connections */

static void on_accept(struct fc_conn *conn, void *ud)
{
	struct cd_server *s = ud;
	struct cd_conn *c = fc_calloc(1, sizeof *c);

	if (!c) {
		fc_conn_set_data(conn, NULL);
		fc_conn_close(conn);
		return;
	}
	c->s = s;
	c->id = ++s->next_conn_id;
	c->c = conn;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	fc_conn_set_data(conn, c);
}

static void on_frame(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud)
{
	struct cd_conn *c = ud;
	struct cd_server *s = c->s;
	Flexchain__ControlMessage *m = NULL;
	char err[FC_ERRMSG_LEN] = "";

	if (fc_ctl_decode(payload, len, s->cfg->network.max_frame_bytes, &m, err) != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "bad frame", "peer=%s reason=\"%s\"", fc_conn_peer(conn),
		       err);
		fc_conn_close(conn);
		return;
	}
	switch (m->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST:
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST:
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY:
		if (s->phase >= 3) {
			fc_wire_free((ProtobufCMessage *)m);
			return;
		}
		cd_gateway_dispatch(s, c->id, m);
		return;
	default: {
		Flexchain__ControlMessage r;
		Flexchain__Error e;
		fc_ctl_error(&r, &e, m->request_id, FC_EPROTO,
			     "compute server: expected gateway_request, endorse_request or "
			     "tx_query");
		cd_reply_msg(s, c->id, &r);
		fc_wire_free((ProtobufCMessage *)m);
	}
	}
}

static void on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct cd_conn *c = ud;

	(void)conn;
	(void)code;
	(void)reason;
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	fc_free(c);
}

/* ------------------------------------------------------------ shutdown */

static void stop_all(struct cd_server *s)
{
	if (s->phase >= 3)
		return;
	s->phase = 3;
	sd_notify(0, "STOPPING=1");
	cd_link_join(s);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	/* The last replies go out (to the kernel, when the socket takes them)
	 * before the connections close. */
	on_wake(&s->wake);
	if (s->srv)
		fc_net_server_close(s->srv, NULL, NULL);
	s->srv = NULL;
	uv_close((uv_handle_t *)&s->wake, NULL);
}

static void on_timer(uv_timer_t *t)
{
	struct cd_server *s = t->data;
	uint64_t now = cd_now_ms();
	size_t inflight, vpending;

	pthread_mutex_lock(&s->mu);
	inflight = s->inflight;
	vpending = s->vpending;
	pthread_mutex_unlock(&s->mu);
	if (s->phase == 1 &&
	    ((inflight == 0 && vpending == 0 &&
	      (now - s->drain_start_ms >= CD_DRAIN_GRACE_MS ||
	       now - s->last_client_ms >= CD_DRAIN_QUIET_MS)) ||
	     now - s->drain_start_ms > DRAIN_MAX_MS)) {
		fc_log(FC_LOG_INFO, COMP, "drained", "inflight=%zu validating=%zu", inflight,
		       vpending);
		atomic_store(&s->deregister, 1);
		s->phase = 2;
		s->drain_start_ms = now;
	} else if (s->phase == 2 && now - s->drain_start_ms >= CD_LEAVE_MIN_MS &&
		   (atomic_load(&s->left) || now - s->drain_start_ms > LEAVE_MAX_MS)) {
		stop_all(s);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct cd_server *s = h->data;

	if (s->phase == 0) {
		fc_log(FC_LOG_INFO, COMP, "draining", "signal=%s",
		       signum == SIGTERM ? "SIGTERM" : "SIGINT");
		atomic_store(&s->draining, 1);
		fc_metric_set(s->m.draining, 1.0);
		/* Leave the committees at once: no new block is assigned, and
		 * the verdicts of the blocks held still count (computed.h). */
		atomic_store(&s->deregister, 1);
		s->phase = 1;
		s->drain_start_ms = cd_now_ms();
		uv_timer_start(&s->timer, on_timer, 20, 20);
	} else {
		stop_all(s); /* a second signal: stop now */
	}
}

/* ------------------------------------------------------------------ run */

int cd_run(const struct fc_config *cfg, const struct cd_self *self, char *errmsg)
{
	struct cd_server *s;
	struct fc_net_opts nopts = {0};
	struct fc_net_cbs cbs = {0};
	int rc, loop_ok = 0;

	s = fc_calloc(1, sizeof *s);
	if (!s)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	s->cfg = cfg;
	s->self = *self;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	cd_peers_init(s);
	srand((unsigned)(cd_now_ms() ^ (uint64_t)getpid()));
	rc = fc_identity_load(cfg->crypto_dir, self->org, FC_IDENTITY_ROLE_COMPUTE, self->id,
			      &s->cert, &s->key, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "compute %s: identity", self->id);
		goto out;
	}
	rc = cd_metrics_start(s, errmsg);
	if (rc == FC_OK)
		rc = fc_storage_castore_from_config(cfg, &s->cs, errmsg);
	if (rc == FC_OK)
		rc = cd_cfg_init(s, errmsg);
	if (rc == FC_OK)
		rc = cd_state_create(cfg, &s->m.reads, &s->state, errmsg);
	if (rc == FC_OK)
		rc = fc_tpool_create(cfg->validation.threads, &s->vpool, errmsg);
	if (rc == FC_OK)
		rc = fc_tpool_create(GW_THREADS, &s->gwpool, errmsg);
	if (rc == FC_OK)
		rc = cd_gateway_start(s, errmsg);
	if (rc != FC_OK)
		goto out;
	if (uv_loop_init(&s->loop) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "uv_loop_init failed");
		goto out;
	}
	loop_ok = 1;
	nopts.max_frame_bytes = cfg->network.max_frame_bytes;
	cbs.on_accept = on_accept;
	cbs.on_frame = on_frame;
	cbs.on_close = on_close;
	rc = fc_net_listen(&s->loop, self->host, self->port, &nopts, &cbs, s, &s->srv, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "compute %s: listen on %s:%u", self->id, self->host,
			   (unsigned)self->port);
		goto out;
	}
	uv_async_init(&s->loop, &s->wake, on_wake);
	s->wake.data = s;
	uv_timer_init(&s->loop, &s->timer);
	s->timer.data = s;
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	s->sigterm.data = s->sigint.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	rc = cd_link_start(s, errmsg);
	if (rc != FC_OK) {
		stop_all(s);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		goto out;
	}
	fc_log(FC_LOG_INFO, COMP, "started",
	       "id=%s org=%s addr=%s:%u validation_threads=%u parallel=%d state=%s", self->id,
	       self->org, self->host, (unsigned)self->port, fc_tpool_size(s->vpool),
	       cfg->validation.parallel, cd_state_ops_of(s->state)->name);
	sd_notify(0, "READY=1");
	atomic_store(&s->m.serving, 1);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	atomic_store(&s->m.serving, 0);
	fc_log(FC_LOG_INFO, COMP, "stopped", "id=%s", self->id);
out:
	if (loop_ok) {
		if (s->srv) {
			fc_net_server_close(s->srv, NULL, NULL);
			uv_run(&s->loop, UV_RUN_DEFAULT);
		}
		uv_loop_close(&s->loop);
	}
	fc_tpool_destroy(s->gwpool);
	cd_gateway_stop(s);
	fc_tpool_destroy(s->vpool);
	for (struct cd_reply *r = s->out_head, *n; r; r = n) {
		n = r->next;
		fc_free(r->frame);
		fc_free(r);
	}
	for (struct cd_waiter *w = s->waiters, *n; w; w = n) {
		n = w->next;
		fc_free(w->response);
		fc_free(w);
	}
	cd_state_destroy(s->state);
	/* the metrics server reads s->mu and the atomics until stopped here */
	cd_metrics_stop(s);
	cd_cfg_destroy(s);
	fc_crypto_castore_destroy(s->cs);
	fc_crypto_key_free(s->key);
	fc_crypto_cert_free(s->cert);
	cd_peers_fini(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	fc_free(s);
	return rc;
}
