/* connpool.c - per-peer pools of blocking connections (connpool.h). */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connpool.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_wire.h"

struct cp_conn {
	struct cp_conn *next;
	struct fc_netc *c;
	uint64_t idle_since_ms;
};

struct cp_peer {
	struct cp_peer *next;
	char host[256];
	uint16_t port;
	struct cp_conn *idle; /* most recently returned first */
	unsigned open;	      /* idle + in use + being connected */
};

struct cd_connpool {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a connection was returned or closed */
	struct cp_peer *peers;
	unsigned max_per_peer, idle_max_ms;
	uint64_t next_rid;
	size_t nopen;
};

static uint64_t cp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cd_connpool_create(unsigned max_per_peer, unsigned idle_max_ms, struct cd_connpool **out,
		       char *errmsg)
{
	struct cd_connpool *p;
	pthread_condattr_t ca;

	*out = NULL;
	if (max_per_peer == 0)
		return fc_errf(errmsg, FC_EINVAL, "connection pool: max_per_peer must be >= 1");
	p = fc_calloc(1, sizeof *p);
	if (!p)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	p->max_per_peer = max_per_peer;
	p->idle_max_ms = idle_max_ms;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = p;
	return FC_OK;
}

void cd_connpool_destroy(struct cd_connpool *p)
{
	if (!p)
		return;
	for (struct cp_peer *pe = p->peers, *npe; pe; pe = npe) {
		npe = pe->next;
		for (struct cp_conn *c = pe->idle, *nc; c; c = nc) {
			nc = c->next;
			fc_netc_close(c->c);
			fc_free(c);
		}
		fc_free(pe);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	fc_free(p);
}

size_t cd_connpool_open(struct cd_connpool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->nopen;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* Under p->mu. */
static struct cp_peer *peer_get(struct cd_connpool *p, const char *host, uint16_t port)
{
	struct cp_peer *pe;

	for (pe = p->peers; pe; pe = pe->next)
		if (pe->port == port && strcmp(pe->host, host) == 0)
			return pe;
	pe = fc_calloc(1, sizeof *pe);
	if (!pe)
		return NULL;
	snprintf(pe->host, sizeof pe->host, "%s", host);
	pe->port = port;
	pe->next = p->peers;
	p->peers = pe;
	return pe;
}

/* Under p->mu: forgets one connection of pe (closed or never opened). */
static void peer_drop(struct cd_connpool *p, struct cp_peer *pe)
{
	pe->open--;
	p->nopen--;
	pthread_cond_broadcast(&p->cv);
}

/* An idle connection must have nothing to read: readable means the peer
 * closed it (or sent something unasked), either way it is not reusable. */
static int idle_usable(struct fc_netc *c)
{
	struct pollfd pfd = {.fd = fc_netc_fd(c), .events = POLLIN};

	return poll(&pfd, 1, 0) == 0;
}

/* Under p->mu: closes idle connections of pe older than idle_max_ms. */
static void peer_expire(struct cd_connpool *p, struct cp_peer *pe, uint64_t now)
{
	struct cp_conn **pp = &pe->idle;

	if (p->idle_max_ms == 0)
		return;
	while (*pp) {
		struct cp_conn *c = *pp;
		if (now - c->idle_since_ms > p->idle_max_ms) {
			*pp = c->next;
			fc_netc_close(c->c);
			fc_free(c);
			peer_drop(p, pe);
		} else {
			pp = &c->next;
		}
	}
}

static unsigned left_ms(uint64_t deadline)
{
	uint64_t now = cp_now_ms();

	return now >= deadline ? 1u : (unsigned)(deadline - now);
}

int cd_connpool_call(struct cd_connpool *p, const char *host, uint16_t port,
		     const Flexchain__ControlMessage *m, unsigned connect_ms, unsigned timeout_ms,
		     Flexchain__ControlMessage **reply, int *sent, char *errmsg)
{
	uint64_t deadline = cp_now_ms() + timeout_ms;
	struct cp_peer *pe;
	struct cp_conn *cc = NULL;
	struct fc_netc *c = NULL;
	Flexchain__ControlMessage req = *m, *r = NULL;
	int rc = FC_OK;

	*reply = NULL;
	if (sent)
		*sent = 0;
	pthread_mutex_lock(&p->mu);
	pe = peer_get(p, host, port);
	if (!pe) {
		pthread_mutex_unlock(&p->mu);
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	}
	peer_expire(p, pe, cp_now_ms());
	for (;;) {
		while (pe->idle) {
			cc = pe->idle;
			pe->idle = cc->next;
			c = cc->c;
			fc_free(cc);
			cc = NULL;
			if (idle_usable(c))
				break;
			fc_netc_close(c);
			c = NULL;
			peer_drop(p, pe);
		}
		if (c)
			break;
		if (pe->open < p->max_per_peer) {
			pe->open++;
			p->nopen++;
			break; /* connect below, outside the lock */
		}
		struct timespec ts;
		uint64_t dl = deadline;
		ts.tv_sec = (time_t)(dl / 1000u);
		ts.tv_nsec = (long)(dl % 1000u) * 1000000L;
		if (cp_now_ms() >= deadline ||
		    (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0 && cp_now_ms() >= deadline)) {
			pthread_mutex_unlock(&p->mu);
			return fc_errf(errmsg, FC_ETIMEOUT,
				       "%s:%u: all %u connections busy for %u ms", host,
				       (unsigned)port, p->max_per_peer, timeout_ms);
		}
	}
	req.request_id = ++p->next_rid;
	pthread_mutex_unlock(&p->mu);

	if (!c) {
		unsigned cms = left_ms(deadline);
		rc = fc_netc_connect(host, port, connect_ms && connect_ms < cms ? connect_ms : cms,
				     &c, errmsg);
		if (rc != FC_OK)
			goto fail;
	}
	rc = fc_ctl_netc_send(c, &req, left_ms(deadline), errmsg);
	if (sent)
		*sent = 1; /* even a failed send may have written part of it */
	if (rc == FC_OK)
		rc = fc_ctl_netc_recv(c, 0, left_ms(deadline), &r, errmsg);
	if (rc == FC_OK && r->request_id != req.request_id) {
		rc = fc_errf(errmsg, FC_EPROTO, "%s:%u: reply to request %llu, expected %llu", host,
			     (unsigned)port, (unsigned long long)r->request_id,
			     (unsigned long long)req.request_id);
		fc_wire_free((ProtobufCMessage *)r);
		r = NULL;
	}
	if (rc != FC_OK)
		goto fail;
	cc = fc_calloc(1, sizeof *cc);
	pthread_mutex_lock(&p->mu);
	if (cc) {
		cc->c = c;
		cc->idle_since_ms = cp_now_ms();
		cc->next = pe->idle;
		pe->idle = cc;
		pthread_cond_broadcast(&p->cv);
	} else {
		fc_netc_close(c);
		peer_drop(p, pe);
	}
	pthread_mutex_unlock(&p->mu);
	*reply = r;
	return FC_OK;
fail:
	fc_netc_close(c);
	pthread_mutex_lock(&p->mu);
	peer_drop(p, pe);
	pthread_mutex_unlock(&p->mu);
	return rc;
}
