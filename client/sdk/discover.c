/* discover.c - compute discovery through the orderers (fc_discover.h). */
#include "fc_discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_time.h"
#include "fc_wire.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define STEP_CONNECT_MS 1000u
#define STEP_REPLY_MS 3000u
#define ROUND_PAUSE_MS 100u

static void pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

	nanosleep(&ts, NULL);
}

static unsigned cap(uint64_t left, unsigned step)
{
	return left < step ? (unsigned)(left ? left : 1) : step;
}

static int copy_list(const Flexchain__ComputeList *l, struct fc_compute_info **out, size_t *n,
		     char *errmsg)
{
	struct fc_compute_info *v = NULL;

	if (l->n_servers) {
		v = fc_calloc(l->n_servers, sizeof *v);
		if (!v)
			return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l->n_servers; i++) {
		const Flexchain__ComputeServer *s = l->servers[i];
		snprintf(v[i].id, sizeof v[i].id, "%s", s->id ? s->id : "");
		snprintf(v[i].org, sizeof v[i].org, "%s", s->org ? s->org : "");
		snprintf(v[i].host, sizeof v[i].host, "%s", s->host ? s->host : "");
		v[i].port = s->port <= 65535 ? (uint16_t)s->port : 0;
		v[i].draining = s->draining;
		v[i].metrics_port = s->metrics_port <= 65535 ? (uint16_t)s->metrics_port : 0;
	}
	*out = v;
	*n = l->n_servers;
	return FC_OK;
}

/* One question to host:port. FC_OK with the list; FC_EAGAIN with *redir set
 * (possibly "") for a follower; another code otherwise. */
static int ask(const char *host, uint16_t port, uint64_t deadline, char *redir, size_t rlen,
	       struct fc_compute_info **out, size_t *n, char *errmsg)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__ComputeQuery q = FLEXCHAIN__COMPUTE_QUERY__INIT;
	uint64_t now = fc_mono_ms();
	int rc;

	if (now >= deadline)
		return fc_errf(errmsg, FC_ETIMEOUT, "no time left");
	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_COMPUTE_QUERY;
	m.compute_query = &q;
	rc = fc_ctl_netc_call(host, port, &m, cap(deadline - now, STEP_CONNECT_MS),
			      cap(deadline - now, STEP_REPLY_MS), &r, errmsg);
	if (rc != FC_OK)
		goto out;
	switch (r->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_COMPUTE_LIST:
		rc = copy_list(r->compute_list, out, n, errmsg);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT:
		snprintf(redir, rlen, "%s",
			 r->submit_result->leader ? r->submit_result->leader : "");
		rc = fc_errf(errmsg,
			     r->submit_result->code ? (int)r->submit_result->code : FC_EPROTO, "%s",
			     r->submit_result->message ? r->submit_result->message : "");
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR:
		rc = fc_errf(errmsg, r->error->code ? (int)r->error->code : FC_EPROTO, "%s",
			     r->error->message ? r->error->message : "");
		break;
	default:
		rc = fc_errf(errmsg, FC_EPROTO, "unexpected reply (body %d)", (int)r->body_case);
		break;
	}
out:
	fc_wire_free((ProtobufCMessage *)r);
	return rc;
}

int fc_discover_compute(const struct fc_config *cfg, unsigned timeout_ms,
			struct fc_compute_info **out, size_t *n, char *errmsg)
{
	char why[FC_ERRMSG_LEN] = "", redir[300] = "", rhost[256];
	uint64_t deadline = fc_mono_ms() + (timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS);
	size_t next = 0, hops = 0;
	int rc = FC_ETIMEOUT, unsupported = 0;

	*out = NULL;
	*n = 0;
	if (!cfg->n_orderers)
		return fc_errf(errmsg, FC_ECONFIG, "%s has no orderer", cfg->path);
	while (fc_mono_ms() < deadline) {
		const char *host;
		uint16_t port;
		char who[300];

		if (redir[0] && hops < 2 * cfg->n_orderers &&
		    fc_net_split_addr(redir, rhost, sizeof rhost, &port)) {
			host = rhost; /* the leader a follower named */
			hops++;
		} else {
			const struct fc_config_node *o = &cfg->orderers[next % cfg->n_orderers];
			host = o->host;
			port = o->port;
			if (++next % cfg->n_orderers == 0) {
				hops = 0;
				if (next > cfg->n_orderers)
					pause_ms(ROUND_PAUSE_MS); /* an election, maybe */
			}
		}
		snprintf(who, sizeof who, "%s:%u", host, (unsigned)port);
		redir[0] = '\0';
		why[0] = '\0';
		rc = ask(host, port, deadline, redir, sizeof redir, out, n, why);
		if (rc == FC_OK)
			return FC_OK;
		if (rc == FC_EUNSUPPORTED)
			unsupported = 1;
		if (rc != FC_EAGAIN)
			redir[0] = '\0';
		fc_errf(errmsg, rc, "orderer %s: %s", who, why[0] ? why : fc_strerror(rc));
	}
	if (unsupported)
		return fc_errf(errmsg, FC_EUNSUPPORTED,
			       "compute discovery: the orderers do not answer compute_query");
	return fc_errwrap(errmsg, FC_ETIMEOUT, "compute discovery: no orderer leader answered");
}
