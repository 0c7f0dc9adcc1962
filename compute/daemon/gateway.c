/* gateway.c - client requests: submit / evaluate / status, and endorsement
 * requests from other gateways (DESIGN.md steps 1-3). Everything here runs
 * on the gateway thread pool; replies go back through the loop. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "computed.h"
#include "endorse.h"
#include "fc_ctl.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define COMP "compute"
#define SUBMIT_DEADLINE_MS 30000u
#define ENDORSE_TIMEOUT_MS 15000u
/* A SUBMIT whose commit event has not come this long after it was accepted
 * asks the storage pool; one that is still unknown after WAIT_MAX_MS gets
 * FC_ETIMEOUT (its fate can be asked later with a status query). */
#define WAIT_QUERY_MS 3000u
#define WAIT_MAX_MS 120000u

struct gw_job {
	struct cd_server *s;
	uint64_t conn_id;
	Flexchain__ControlMessage *msg;
};

/* ------------------------------------------------------------- replies */

static void reply_gw(struct cd_server *s, uint64_t conn_id, uint64_t rid,
		     const Flexchain__GatewayReply *r)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;

	m.request_id = rid;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REPLY;
	m.gateway_reply = (Flexchain__GatewayReply *)r;
	cd_reply_msg(s, conn_id, &m);
}

static void reply_gw_err(struct cd_server *s, uint64_t conn_id, uint64_t rid, const char *tx_id,
			 int code, const char *msg)
{
	Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;

	r.code = (uint32_t)code;
	r.message = (char *)(msg && msg[0] ? msg : fc_strerror(code));
	r.tx_id = (char *)(tx_id ? tx_id : "");
	reply_gw(s, conn_id, rid, &r);
}

/* ---------------------------------------------------------- state reader */

struct rd {
	struct cd_server *s;
	struct cd_state_h *h;
	int broken;
};

static int rd_get(void *ud, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		  uint64_t *version, char *errmsg)
{
	struct rd *r = ud;
	int rc = cd_state_ops_of(r->s->state)->get(r->h->h, key, klen, val, len, version, errmsg);

	if (rc != FC_OK && rc != FC_ENOTFOUND)
		r->broken = 1;
	return rc;
}

/* Checks, executes and endorses p on this server. */
static int execute(struct cd_server *s, const Flexchain__Proposal *p, ProtobufCBinaryData sig,
		   struct cd_endorsed *out, char *errmsg)
{
	struct rd r = {s, NULL, 0};
	struct fc_state_reader reader = {rd_get, &r};
	int rc;

	memset(out, 0, sizeof *out);
	rc = cd_check_proposal(s->cs, p, sig, NULL, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = cd_state_acquire(s->state, &r.h, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = cd_endorse(p, &reader, s->cert, s->key, out, errmsg);
	cd_state_release(s->state, r.h, r.broken);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "execute %s.%s", p->contract, p->function);
	return rc;
}

/* ----------------------------------------------------- peer endorsements */

struct peer_end {
	Flexchain__ControlMessage *reply; /* owns the endorsement */
	const char *org;
};

/* Asks compute servers of org (configuration order, starting at a random
 * one) to endorse; the first that answers decides. FC_EMISMATCH and
 * FC_EVERIFY (their endorsement differs or is forged) and deterministic
 * execution errors end the search; unreachable or draining servers make it
 * try the next one. */
static int ask_org(struct cd_server *s, const char *org, const Flexchain__Proposal *p,
		   ProtobufCBinaryData sig, const struct cd_endorsed *mine, struct peer_end *out,
		   char *errmsg)
{
	const struct fc_config *cfg = s->cfg;
	size_t cand[256], nc = 0, start;
	int rc = FC_ENOTFOUND;
	char last[FC_ERRMSG_LEN] = "";

	for (size_t i = 0; i < cfg->n_compute && nc < 256; i++)
		if (strcmp(cfg->compute[i].org, org) == 0 &&
		    strcmp(cfg->compute[i].id, s->self.id) != 0)
			cand[nc++] = i;
	if (nc == 0)
		return fc_errf(errmsg, FC_ENOTFOUND, "no compute server of %s in the configuration",
			       org);
	start = (size_t)rand() % nc;
	for (size_t k = 0; k < nc; k++) {
		const struct fc_config_node *n = &cfg->compute[cand[(start + k) % nc]];
		Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
		Flexchain__EndorseRequest er = FLEXCHAIN__ENDORSE_REQUEST__INIT;
		struct fc_netc *c = NULL;
		char e[FC_ERRMSG_LEN] = "";

		er.proposal = (Flexchain__Proposal *)p;
		er.client_signature = sig;
		m.request_id = 1;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST;
		m.endorse_request = &er;
		rc = fc_netc_connect(n->host, n->port, 1000, &c, e);
		if (rc == FC_OK)
			rc = fc_ctl_netc_send(c, &m, 5000, e);
		if (rc == FC_OK)
			rc = fc_ctl_netc_recv(c, 0, ENDORSE_TIMEOUT_MS, &r, e);
		fc_netc_close(c);
		if (rc == FC_OK && r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY) {
			rc = fc_errf(e, FC_EPROTO, "unexpected reply");
		} else if (rc == FC_OK && r->endorse_reply->code != FC_OK) {
			rc = (int)r->endorse_reply->code;
			fc_errf(e, rc, "%s", r->endorse_reply->message);
			if (rc != FC_ESTATE && rc != FC_EIO && rc != FC_EBUSY &&
			    rc != FC_ETIMEOUT) {
				fc_wire_free((ProtobufCMessage *)r);
				return fc_errf(errmsg, rc, "endorser %s (%s): %s", n->id, org, e);
			}
		} else if (rc == FC_OK) {
			Flexchain__EndorseReply *er2 = r->endorse_reply;
			rc = cd_check_peer_endorsement(s->cs, mine, er2->rwset, er2->response,
						       er2->endorsement, org, e);
			if (rc == FC_OK) {
				out->reply = r;
				out->org = org;
				return FC_OK;
			}
			fc_wire_free((ProtobufCMessage *)r);
			return fc_errf(errmsg, rc, "endorser %s (%s): %s", n->id, org, e);
		}
		fc_wire_free((ProtobufCMessage *)r);
		snprintf(last, sizeof last, "%s: %s", n->id, e);
		fc_log(FC_LOG_DEBUG, COMP, "endorser unavailable", "peer=%s reason=\"%s\"", n->id,
		       e);
	}
	return fc_errf(errmsg, rc == FC_OK ? FC_EIO : rc, "no compute server of %s endorsed (%s)",
		       org, last);
}

/* ---------------------------------------------------------- ordering */

static int submit_envelope(struct cd_server *s, const Flexchain__Envelope *env, char *errmsg)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	uint64_t deadline = cd_now_ms() + SUBMIT_DEADLINE_MS;
	int sent = 0, rc = FC_ETIMEOUT, target;
	char e[FC_ERRMSG_LEN] = "no orderer reachable";

	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = (Flexchain__Envelope *)env;
	pthread_mutex_lock(&s->mu);
	target = s->leader;
	pthread_mutex_unlock(&s->mu);
	while (cd_now_ms() < deadline && !atomic_load(&s->stop)) {
		const struct fc_config_node *n = &s->cfg->orderers[target];
		Flexchain__ControlMessage *r = NULL;
		struct fc_netc *c = NULL;

		rc = fc_netc_connect(n->host, n->port, 1000, &c, e);
		if (rc == FC_OK)
			rc = fc_ctl_netc_send(c, &m, 5000, e);
		if (rc == FC_OK) {
			sent = 1;
			rc = fc_ctl_netc_recv(c, 0, SUBMIT_DEADLINE_MS, &r, e);
		}
		fc_netc_close(c);
		if (rc == FC_OK && r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT) {
			rc = fc_errf(e, FC_EPROTO, "orderer %s: unexpected reply", n->id);
		} else if (rc == FC_OK) {
			Flexchain__SubmitResult *sr = r->submit_result;
			int code = (int)sr->code;
			if (code == FC_OK || (code == FC_EEXIST && sent > 1)) {
				fc_wire_free((ProtobufCMessage *)r);
				return FC_OK;
			}
			if (code == FC_EAGAIN || code == FC_EBUSY) {
				int who = sr->leader && sr->leader[0]
					      ? cd_orderer_by_addr(s->cfg, sr->leader)
					      : -1;
				snprintf(e, sizeof e, "orderer %s: %s", n->id, sr->message);
				fc_wire_free((ProtobufCMessage *)r);
				if (who >= 0 && who != target) {
					target = who;
					pthread_mutex_lock(&s->mu);
					s->leader = who;
					pthread_mutex_unlock(&s->mu);
				} else {
					usleep(100000);
					if (who < 0)
						target = (target + 1) % (int)s->cfg->n_orderers;
				}
				sent += sent ? 1 : 0;
				continue;
			}
			rc = fc_errf(errmsg, code, "orderer %s refused: %s", n->id, sr->message);
			fc_wire_free((ProtobufCMessage *)r);
			return rc;
		}
		fc_wire_free((ProtobufCMessage *)r);
		/* Connection failed or no answer: the envelope may have been
		 * ordered, so a later FC_EEXIST means accepted. */
		sent += sent ? 1 : 0;
		target = (target + 1) % (int)s->cfg->n_orderers;
		usleep(100000);
	}
	return fc_errf(errmsg, rc == FC_OK ? FC_ETIMEOUT : rc, "submit: %s", e);
}

/* ------------------------------------------------------------- waiters */

static void waiter_free(struct cd_waiter *w)
{
	if (w) {
		fc_free(w->response);
		fc_free(w);
	}
}

static struct cd_waiter *waiter_take(struct cd_server *s, const char *tx_id)
{
	struct cd_waiter **pp, *w = NULL;

	pthread_mutex_lock(&s->mu);
	for (pp = &s->waiters; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->tx_id, tx_id) == 0) {
			w = *pp;
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return w;
}

void cd_gateway_complete(struct cd_server *s, const char *tx_id, uint32_t code, const char *msg,
			 Flexchain__TxStatus status, uint64_t height, uint32_t index)
{
	Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;
	struct cd_waiter *w;

	if (!s->waiters || !(w = waiter_take(s, tx_id)))
		return;
	r.code = code;
	r.message = (char *)(msg ? msg : "");
	r.tx_id = w->tx_id;
	r.status = status;
	r.height = height;
	r.index = index;
	r.response = (ProtobufCBinaryData){w->response_len, w->response};
	reply_gw(s, w->conn_id, w->request_id, &r);
	waiter_free(w);
	cd_request_done(s);
}

void cd_gateway_sweep(struct cd_server *s, struct fc_storage_client *sc)
{
	char ids[32][FC_TXID_HEX_LEN + 1];
	uint64_t age[32];
	size_t n = 0;
	uint64_t now = cd_now_ms();

	pthread_mutex_lock(&s->mu);
	for (struct cd_waiter *w = s->waiters; w && n < 32; w = w->next)
		if (now >= w->since_ms + WAIT_QUERY_MS && now >= w->last_query_ms + 1000) {
			w->last_query_ms = now;
			memcpy(ids[n], w->tx_id, sizeof ids[n]);
			age[n++] = now - w->since_ms;
		}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		Flexchain__TxInfo *ti = NULL;
		int rc = FC_EIO;
		for (size_t r = 0; r < fc_storage_client_replicas(sc) && rc != FC_OK; r++)
			rc = fc_storage_get_tx(sc, r, ids[i], &ti, NULL);
		if (rc == FC_OK && ti->found && ti->status != FLEXCHAIN__TX_STATUS__TX_UNKNOWN)
			cd_gateway_complete(s, ids[i], FC_OK, "", ti->status, ti->height,
					    ti->index);
		else if (age[i] >= WAIT_MAX_MS)
			cd_gateway_complete(s, ids[i], FC_ETIMEOUT,
					    "no commit decision yet; ask the tx status later",
					    FLEXCHAIN__TX_STATUS__TX_UNKNOWN, 0, 0);
		if (ti)
			fc_wire_free(&ti->base);
	}
}

/* ------------------------------------------------------------ requests */

static void handle_gateway(struct cd_server *s, uint64_t conn_id, uint64_t rid,
			   const Flexchain__GatewayRequest *req)
{
	const Flexchain__Proposal *p = req->proposal;
	const char *tx_id = p && p->tx_id ? p->tx_id : "";
	char errmsg[FC_ERRMSG_LEN] = "";
	struct cd_endorsed mine;
	struct peer_end peers[FC_POLICY_MAX_CHILDREN];
	size_t npeers = 0;
	Flexchain__Endorsement *ends[FC_POLICY_MAX_CHILDREN + 1];
	const char *orgs[FC_POLICY_MAX_CHILDREN + 1];
	size_t nends = 0;
	struct cd_waiter *w = NULL;
	struct fc_chaincfg *cc = NULL;
	int rc, done = 1;

	memset(&mine, 0, sizeof mine);
	if (!p) {
		reply_gw_err(s, conn_id, rid, "", FC_EINVAL, "gateway request: proposal required");
		goto out;
	}
	rc = execute(s, p, req->client_signature, &mine, errmsg);
	if (rc != FC_OK) {
		reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
		goto out;
	}
	if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE) {
		Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;
		r.tx_id = (char *)tx_id;
		r.response = (ProtobufCBinaryData){mine.res.response_len, mine.res.response};
		reply_gw(s, conn_id, rid, &r);
		goto out;
	}
	/* Endorsements the contract's policy needs, as the latest chain
	 * configuration this server knows has it (held while gathering). */
	cc = cd_cfg_latest(s);
	const struct fc_policy *pol = fc_chaincfg_policy_for(cc, p->contract);
	const char *const *porgs = NULL;
	size_t npo = fc_policy_orgs(pol, &porgs);
	ends[nends] = &mine.end;
	orgs[nends++] = s->self.org;
	for (size_t i = 0; i < npo && !fc_policy_satisfied(pol, orgs, nends); i++) {
		int have = 0;
		for (size_t k = 0; k < nends; k++)
			have |= strcmp(orgs[k], porgs[i]) == 0;
		if (have)
			continue;
		rc = ask_org(s, porgs[i], p, req->client_signature, &mine, &peers[npeers], errmsg);
		if (rc == FC_EMISMATCH || rc == FC_EVERIFY) {
			fc_errwrap(errmsg, rc, "tx %s: refused to submit", tx_id);
			reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
			goto out;
		}
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "endorsement missing", "tx=%s reason=\"%s\"",
			       tx_id, errmsg);
			continue;
		}
		ends[nends] = peers[npeers].reply->endorse_reply->endorsement;
		orgs[nends++] = porgs[i];
		npeers++;
	}
	if (!fc_policy_satisfied(pol, orgs, nends)) {
		char m2[FC_ERRMSG_LEN];
		snprintf(m2, sizeof m2, "tx %s: endorsement policy %s not met: %s", tx_id,
			 fc_policy_text(pol), errmsg[0] ? errmsg : "no endorser");
		reply_gw_err(s, conn_id, rid, tx_id, FC_EDENIED, m2);
		goto out;
	}
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = (Flexchain__Proposal *)p;
	env.client_signature = req->client_signature;
	env.rwset = mine.res.rwset;
	env.response = (ProtobufCBinaryData){mine.res.response_len, mine.res.response};
	env.n_endorsements = nends;
	env.endorsements = ends;
	if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
		w = fc_calloc(1, sizeof *w);
		if (!w || (mine.res.response_len &&
			   !(w->response = fc_memdup(mine.res.response, mine.res.response_len)))) {
			waiter_free(w);
			reply_gw_err(s, conn_id, rid, tx_id, FC_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(w->tx_id, sizeof w->tx_id, "%s", tx_id);
		w->response_len = mine.res.response_len;
		w->conn_id = conn_id;
		w->request_id = rid;
		w->since_ms = w->last_query_ms = cd_now_ms() + SUBMIT_DEADLINE_MS;
		pthread_mutex_lock(&s->mu);
		w->next = s->waiters;
		s->waiters = w;
		pthread_mutex_unlock(&s->mu);
		done = 0; /* from now on the waiter answers */
	}
	rc = submit_envelope(s, &env, errmsg);
	if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
		/* Taken back unless a commit event already answered it. */
		struct cd_waiter *mw = waiter_take(s, tx_id);
		if (mw && rc != FC_OK) {
			waiter_free(mw);
			reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
			done = 1;
		} else if (mw) {
			mw->since_ms = mw->last_query_ms = cd_now_ms();
			pthread_mutex_lock(&s->mu);
			mw->next = s->waiters;
			s->waiters = mw;
			pthread_mutex_unlock(&s->mu);
		}
		goto out;
	}
	if (rc != FC_OK) {
		reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
	} else {
		Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;
		r.tx_id = (char *)tx_id;
		r.response = (ProtobufCBinaryData){mine.res.response_len, mine.res.response};
		reply_gw(s, conn_id, rid, &r);
	}
out:
	for (size_t i = 0; i < npeers; i++)
		fc_wire_free((ProtobufCMessage *)peers[i].reply);
	cd_endorsed_clear(&mine);
	fc_chaincfg_unref(cc);
	if (done)
		cd_request_done(s);
}

static void handle_endorse(struct cd_server *s, uint64_t conn_id, uint64_t rid,
			   const Flexchain__EndorseRequest *req)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__EndorseReply r = FLEXCHAIN__ENDORSE_REPLY__INIT;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct cd_endorsed mine;
	int rc;

	memset(&mine, 0, sizeof mine);
	rc = req->proposal ? execute(s, req->proposal, req->client_signature, &mine, errmsg)
			   : fc_errf(errmsg, FC_EINVAL, "endorse request: proposal required");
	r.code = (uint32_t)rc;
	r.message = errmsg;
	if (rc == FC_OK) {
		r.rwset = mine.res.rwset;
		r.response = (ProtobufCBinaryData){mine.res.response_len, mine.res.response};
		r.endorsement = &mine.end;
	}
	m.request_id = rid;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY;
	m.endorse_reply = &r;
	cd_reply_msg(s, conn_id, &m);
	cd_endorsed_clear(&mine);
	cd_request_done(s);
}

static void handle_tx_query(struct cd_server *s, uint64_t conn_id, uint64_t rid,
			    const Flexchain__TxQuery *q)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Error err;
	struct fc_storage_client *sc = NULL;
	Flexchain__TxInfo *ti = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	int rc;

	rc = fc_storage_client_create(s->cfg, NULL, &sc, errmsg);
	if (rc == FC_OK) {
		rc = FC_EIO;
		for (size_t r = 0; r < fc_storage_client_replicas(sc) && rc != FC_OK; r++)
			rc = fc_storage_get_tx(sc, r, q->tx_id ? q->tx_id : "", &ti, errmsg);
	}
	if (rc == FC_OK && ti) {
		m.request_id = rid;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO;
		m.tx_info = ti;
	} else {
		fc_ctl_error(&m, &err, rid, rc == FC_OK ? FC_EIO : rc, errmsg);
	}
	cd_reply_msg(s, conn_id, &m);
	if (ti)
		fc_wire_free(&ti->base);
	fc_storage_client_destroy(sc);
	cd_request_done(s);
}

static void gw_run(void *arg)
{
	struct gw_job *j = arg;
	Flexchain__ControlMessage *m = j->msg;

	switch (m->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST:
		handle_gateway(j->s, j->conn_id, m->request_id, m->gateway_request);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST:
		handle_endorse(j->s, j->conn_id, m->request_id, m->endorse_request);
		break;
	default:
		handle_tx_query(j->s, j->conn_id, m->request_id, m->tx_query);
		break;
	}
	fc_wire_free((ProtobufCMessage *)m);
	fc_free(j);
}

int cd_gateway_dispatch(struct cd_server *s, uint64_t conn_id, Flexchain__ControlMessage *msg)
{
	struct gw_job *j;
	int rc;

	if (msg->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST &&
	    atomic_load(&s->draining)) {
		char m2[FC_ERRMSG_LEN];
		snprintf(m2, sizeof m2,
			 "compute server %s is draining (shutting down): send to another one",
			 s->self.id);
		reply_gw_err(s, conn_id, msg->request_id,
			     msg->gateway_request->proposal ? msg->gateway_request->proposal->tx_id
							    : "",
			     FC_ESTATE, m2);
		fc_wire_free((ProtobufCMessage *)msg);
		return FC_OK;
	}
	j = fc_calloc(1, sizeof *j);
	if (!j) {
		fc_wire_free((ProtobufCMessage *)msg);
		return FC_ENOMEM;
	}
	j->s = s;
	j->conn_id = conn_id;
	j->msg = msg;
	pthread_mutex_lock(&s->mu);
	s->inflight++;
	pthread_mutex_unlock(&s->mu);
	rc = fc_tpool_submit(s->gwpool, gw_run, j);
	if (rc != FC_OK) {
		fc_wire_free((ProtobufCMessage *)msg);
		fc_free(j);
		cd_request_done(s);
	}
	return rc;
}
