/* gateway.c - client requests: submit / evaluate / status, and endorsement
 * requests from other gateways (DESIGN.md steps 1-3). Everything here runs
 * on the gateway thread pool; replies go back through the loop.
 *
 * Admission: at most GW_ACTIVE_MAX(pool) client (gateway) requests hold a
 * thread of the pool at once; more wait in a FIFO of this module and start
 * as others finish. The threads left over serve endorsement requests and tx
 * queries, which are never queued behind client requests: two gateways
 * gathering each other's endorsements under a burst cannot starve each
 * other of threads.
 *
 * Differing endorsements (servers at different heights): the gateway
 * re-executes and gathers again, up to GATHER_ATTEMPTS rounds within
 * GATHER_BUDGET_MS, first waiting until its own state reaches the height
 * the other server read at when that one read newer state, else after a
 * short back-off (the other one catches up); only then it refuses.
 *
 * Connections to orderers and to other organisations' compute servers come
 * from one pool (connpool.h), shared by the gateway threads. The module
 * state (pool, admission queue) is per process: a process runs one
 * compute server. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "computed.h"
#include "connpool.h"
#include "endorse.h"
#include "fc_ctl.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define COMP "compute"
#define SUBMIT_DEADLINE_MS 30000u
#define ENDORSE_TIMEOUT_MS 10000u
#define CONNECT_MS 1000u
/* Gathering endorsements, all rounds together. */
#define GATHER_ATTEMPTS 3
#define GATHER_BUDGET_MS 15000u
#define GATHER_BACKOFF_MS 50u
/* Connections per peer address, and how long an unused one stays open. */
#define PEER_CONNS_MAX 32u
#define PEER_IDLE_MAX_MS 30000u
/* Client requests on the pool at once: all threads but a quarter (at
 * least 4) kept for endorsement requests and tx queries. */
#define GW_RESERVED(n) ((n) / 4 > 4 ? (n) / 4 : 4)
#define GW_ACTIVE_MAX(n) ((n) > GW_RESERVED(n) ? (n)-GW_RESERVED(n) : 1)
/* A SUBMIT whose commit event has not come this long after it was accepted
 * asks the storage pool; one that is still unknown after WAIT_MAX_MS gets
 * FC_ETIMEOUT (its fate can be asked later with a status query). */
#define WAIT_QUERY_MS 3000u
#define WAIT_MAX_MS 120000u

struct gw_job {
	struct gw_job *next; /* admission queue */
	struct cd_server *s;
	uint64_t conn_id;
	Flexchain__ControlMessage *msg;
};

/* Per process (see above). mu guards active and the queue; pool is set
 * once, on the loop thread, before the first job runs. */
static struct {
	pthread_mutex_t mu;
	struct cd_connpool *pool;
	size_t active; /* client requests submitted to the thread pool */
	struct gw_job *head, *tail;
} gw = {.mu = PTHREAD_MUTEX_INITIALIZER};

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

/* fc_compute_gateway_results_total for an answer with code (computed.h). */
static void count_result(struct cd_server *s, int code)
{
	int o = CD_GW_ERROR;

	if (code == FC_OK)
		o = CD_GW_OK;
	else if (code == FC_ETIMEOUT)
		o = CD_GW_TIMEOUT;
	else if (code == FC_EVERIFY || code == FC_EINVAL || code == FC_EMISMATCH ||
		 code == FC_EDENIED || code == FC_EAGAIN || code == FC_ECONFIG)
		o = CD_GW_REFUSED;
	fc_metric_inc(s->m.gw.results[o]);
}

/* An error answer. FC_EAGAIN tells a client that the request was NOT
 * executed and may go to another gateway (fc_gwclient.h); only the drain
 * refusal (reply_unexecuted) may say so, so any other FC_EAGAIN (from an
 * endorser or an orderer, after execution) goes out as FC_EBUSY. */
static void reply_gw_code(struct cd_server *s, uint64_t conn_id, uint64_t rid, const char *tx_id,
			  int code, const char *msg)
{
	count_result(s, code);
	Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;

	r.code = (uint32_t)code;
	r.message = (char *)(msg && msg[0] ? msg : fc_strerror(code));
	r.tx_id = (char *)(tx_id ? tx_id : "");
	reply_gw(s, conn_id, rid, &r);
}

static void reply_gw_err(struct cd_server *s, uint64_t conn_id, uint64_t rid, const char *tx_id,
			 int code, const char *msg)
{
	reply_gw_code(s, conn_id, rid, tx_id, code == FC_EAGAIN ? FC_EBUSY : code, msg);
}

static void reply_unexecuted(struct cd_server *s, uint64_t conn_id, uint64_t rid,
			     const char *tx_id, const char *msg)
{
	reply_gw_code(s, conn_id, rid, tx_id, FC_EAGAIN, msg);
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
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cd_endorse(p, &reader, s->cert, s->key, out, errmsg);
	fc_metric_observe(s->m.gw.execute_seconds, cd_seconds_since(&t0));
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

/* What a differing endorsement says about who read older state
 * (cd_rwset_compare_reads). */
struct mismatch {
	int seen, mine_newer, theirs_newer;
	uint64_t their_height;
};

static int transient(int rc)
{
	return rc == FC_ESTATE || rc == FC_EIO || rc == FC_EBUSY || rc == FC_ETIMEOUT ||
	       rc == FC_ECLOSED || rc == FC_EAGAIN || rc == FC_EPROTO;
}

/* Asks compute servers of org (cd_peers_pick: the live ones of the
 * compute registry, fewest requests in flight first, else the
 * configuration file's) to endorse; the first whose endorsement matches ours decides.
 * FC_EVERIFY (forged) and deterministic execution errors end the search;
 * unreachable, draining or busy servers, and servers whose rwset or response
 * differs from ours (FC_EMISMATCH: they or we read other state; *mm says
 * which), make it try the next one. The result is FC_EMISMATCH when some
 * server answered with a differing endorsement and none matched. */
static int ask_org(struct cd_server *s, const char *org, const Flexchain__Proposal *p,
		   ProtobufCBinaryData sig, const struct cd_endorsed *mine, uint64_t deadline,
		   struct peer_end *out, struct mismatch *mm, char *errmsg)
{
	struct cd_peer *cand = fc_calloc(CD_PEERS_MAX, sizeof *cand);
	size_t nc;
	int rc = FC_ENOTFOUND, mismatched = 0;
	char last[FC_ERRMSG_LEN] = "";

	if (!cand)
		return fc_errf(errmsg, FC_ENOMEM, "endorsers of %s: out of memory", org);
	nc = cd_peers_pick(s, org, cand, CD_PEERS_MAX, NULL);
	if (nc == 0) {
		fc_free(cand);
		return fc_errf(errmsg, FC_ENOTFOUND,
			       "no compute server of %s in the registry or the configuration", org);
	}
	for (size_t k = 0; k < nc && cd_now_ms() < deadline; k++) {
		const struct cd_peer *n = &cand[k];
		Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
		Flexchain__EndorseRequest er = FLEXCHAIN__ENDORSE_REQUEST__INIT;
		uint64_t left = deadline - cd_now_ms();
		char e[FC_ERRMSG_LEN] = "";

		er.proposal = (Flexchain__Proposal *)p;
		er.client_signature = sig;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST;
		m.endorse_request = &er;
		cd_peers_busy(n, 1);
		rc = cd_connpool_call(
		    gw.pool, n->host, n->port, &m, CONNECT_MS,
		    left < ENDORSE_TIMEOUT_MS ? (unsigned)left : ENDORSE_TIMEOUT_MS, &r, NULL, e);
		cd_peers_busy(n, -1);
		if (rc == FC_OK && r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY) {
			rc = fc_errf(e, FC_EPROTO, "unexpected reply");
		} else if (rc == FC_OK && r->endorse_reply->code != FC_OK) {
			rc = (int)r->endorse_reply->code;
			fc_errf(e, rc, "%s", r->endorse_reply->message);
			if (!transient(rc)) {
				fc_wire_free((ProtobufCMessage *)r);
				rc = fc_errf(errmsg, rc, "endorser %s (%s): %s", n->id, org, e);
				fc_free(cand);
				return rc;
			}
		} else if (rc == FC_OK) {
			Flexchain__EndorseReply *er2 = r->endorse_reply;
			rc = cd_check_peer_endorsement(s->cs, mine, er2->rwset, er2->response,
						       er2->endorsement, org, e);
			if (rc == FC_OK) {
				out->reply = r;
				out->org = org;
				fc_free(cand);
				return FC_OK;
			}
			if (rc != FC_EMISMATCH) {
				fc_wire_free((ProtobufCMessage *)r);
				rc = fc_errf(errmsg, rc, "endorser %s (%s): %s", n->id, org, e);
				fc_free(cand);
				return rc;
			}
			struct mismatch x;
			cd_rwset_compare_reads(mine->res.rwset, er2->rwset, &x.mine_newer,
					       &x.theirs_newer, &x.their_height);
			mm->seen = 1;
			mm->mine_newer |= x.mine_newer;
			mm->theirs_newer |= x.theirs_newer;
			if (x.theirs_newer && x.their_height > mm->their_height)
				mm->their_height = x.their_height;
			mismatched = 1;
		}
		fc_wire_free((ProtobufCMessage *)r);
		snprintf(last, sizeof last, "%s: %s", n->id, e);
		fc_log(FC_LOG_DEBUG, COMP, "endorser unavailable or differing",
		       "peer=%s reason=\"%s\"", n->id, e);
	}
	fc_free(cand);
	if (mismatched)
		return fc_errf(errmsg, FC_EMISMATCH, "endorsement of %s differs from ours (%s)",
			       org, last);
	if (!last[0])
		snprintf(last, sizeof last, "deadline passed");
	return fc_errf(errmsg, rc == FC_OK ? FC_EIO : rc, "no compute server of %s endorsed (%s)",
		       org, last);
}

/* Blocks until this server's state source has applied height h (or
 * deadline, or stop): 1 reached, 0 not. */
static int wait_applied(struct cd_server *s, uint64_t h, uint64_t deadline)
{
	struct cd_state_h *sh = NULL;
	char err[FC_ERRMSG_LEN];
	int ok = 0;

	while (!ok && cd_now_ms() < deadline && !atomic_load(&s->stop)) {
		uint64_t ah = 0;
		int empty = 1;

		if (!sh && cd_state_acquire(s->state, &sh, err) != FC_OK) {
			usleep(20000);
			continue;
		}
		if (cd_state_ops_of(s->state)->applied(sh->h, &ah, &empty, err) != FC_OK) {
			cd_state_release(s->state, sh, 1);
			sh = NULL;
			usleep(20000);
			continue;
		}
		ok = !empty && ah >= h;
		if (!ok)
			usleep(5000);
	}
	if (sh)
		cd_state_release(s->state, sh, 0);
	return ok;
}

/* One round of gathering: the endorsements pol needs besides ours, asked
 * of the organisations that pol names. FC_OK when pol is satisfied (peers
 * and ends/orgs filled), FC_EMISMATCH (an organisation's endorsers differ
 * from us: *mm), FC_EVERIFY, or, when pol is not met, FC_EBUSY (endorsers
 * missing for a transient reason: *transient_miss) or FC_ECONFIG (missing
 * for a deterministic one: no endorser of an organisation pol needs, or its
 * endorsers refused), with errmsg. Never FC_EDENIED: in a gateway reply that
 * code is the contract's own refusal at execution (a business rule), which
 * clients count apart from refusals by the system. */
static int gather(struct cd_server *s, const struct fc_policy *pol, const Flexchain__Proposal *p,
		  ProtobufCBinaryData sig, struct cd_endorsed *mine, uint64_t deadline,
		  struct peer_end *peers, size_t *npeers, Flexchain__Endorsement **ends,
		  const char **orgs, size_t *nends, struct mismatch *mm, int *transient_miss,
		  char *errmsg)
{
	const char *const *porgs = NULL;
	size_t npo = fc_policy_orgs(pol, &porgs);
	int rc, mismatch = 0;
	char why[FC_ERRMSG_LEN] = "";

	*transient_miss = 0;
	ends[*nends] = &mine->end;
	orgs[(*nends)++] = s->self.org;
	for (size_t i = 0; i < npo && !fc_policy_satisfied(pol, orgs, *nends); i++) {
		int have = 0;
		for (size_t k = 0; k < *nends; k++)
			have |= strcmp(orgs[k], porgs[i]) == 0;
		if (have)
			continue;
		rc = ask_org(s, porgs[i], p, sig, mine, deadline, &peers[*npeers], mm, why);
		if (rc == FC_EVERIFY)
			return fc_errf(errmsg, rc, "tx %s: refused to submit: %s", p->tx_id, why);
		if (rc != FC_OK) {
			mismatch |= rc == FC_EMISMATCH;
			*transient_miss |= rc == FC_EMISMATCH || transient(rc);
			fc_log(FC_LOG_DEBUG, COMP, "endorsement missing", "tx=%s reason=\"%s\"",
			       p->tx_id, why);
			continue;
		}
		ends[*nends] = peers[*npeers].reply->endorse_reply->endorsement;
		orgs[(*nends)++] = porgs[i];
		(*npeers)++;
	}
	if (fc_policy_satisfied(pol, orgs, *nends))
		return FC_OK;
	if (mismatch)
		return fc_errf(errmsg, FC_EMISMATCH, "tx %s: refused to submit: %s", p->tx_id, why);
	return fc_errf(errmsg, *transient_miss ? FC_EBUSY : FC_ECONFIG,
		       "tx %s: endorsement policy %s not met: %s", p->tx_id, fc_policy_text(pol),
		       why[0] ? why : "no endorser");
}

/* ---------------------------------------------------------- ordering */

static int submit_envelope(struct cd_server *s, const Flexchain__Envelope *env, char *errmsg)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	uint64_t deadline = cd_now_ms() + SUBMIT_DEADLINE_MS;
	int written = 0, rc = FC_ETIMEOUT, target;
	char e[FC_ERRMSG_LEN] = "no orderer reachable";

	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = (Flexchain__Envelope *)env;
	pthread_mutex_lock(&s->mu);
	target = s->leader;
	pthread_mutex_unlock(&s->mu);
	while (cd_now_ms() < deadline && !atomic_load(&s->stop)) {
		const struct fc_config_node *n = &s->cfg->orderers[target];
		Flexchain__ControlMessage *r = NULL;
		uint64_t left = deadline - cd_now_ms();
		int wr = 0, before = written;

		rc = cd_connpool_call(gw.pool, n->host, n->port, &m, CONNECT_MS, (unsigned)left, &r,
				      &wr, e);
		written |= wr;
		if (rc == FC_OK && r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT) {
			rc = fc_errf(e, FC_EPROTO, "orderer %s: unexpected reply", n->id);
		} else if (rc == FC_OK) {
			Flexchain__SubmitResult *sr = r->submit_result;
			int code = (int)sr->code;
			/* FC_EEXIST after an earlier attempt was written: that
			 * one was taken (a tx id is ordered once). */
			if (code == FC_OK || (code == FC_EEXIST && before)) {
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
				continue;
			}
			rc = fc_errf(errmsg, code, "orderer %s refused: %s", n->id, sr->message);
			fc_wire_free((ProtobufCMessage *)r);
			return rc;
		}
		fc_wire_free((ProtobufCMessage *)r);
		/* Connection failed or no answer: the envelope may have been
		 * ordered, so a later FC_EEXIST means accepted. */
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
	fc_metric_observe(s->m.gw.submit_seconds, (double)(cd_now_ms() - w->start_ms) / 1e3);
	if (code == FC_OK)
		fc_metric_inc(
		    s->m.gw.results[status == FLEXCHAIN__TX_STATUS__TX_VALID ? CD_GW_COMMITTED
									     : CD_GW_INVALID]);
	else
		count_result(s, (int)code);
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
	uint64_t start_ms = cd_now_ms(), deadline = start_ms + GATHER_BUDGET_MS;
	int rc, done = 1;

	memset(&mine, 0, sizeof mine);
	if (!p) {
		reply_gw_err(s, conn_id, rid, "", FC_EINVAL, "gateway request: proposal required");
		goto out;
	}
	for (int attempt = 1;; attempt++) {
		struct mismatch mm = {0};
		int tmiss = 0;

		rc = execute(s, p, req->client_signature, &mine, errmsg);
		if (rc != FC_OK) {
			reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
			goto out;
		}
		if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE) {
			Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;
			r.tx_id = (char *)tx_id;
			r.response =
			    (ProtobufCBinaryData){mine.res.response_len, mine.res.response};
			count_result(s, FC_OK);
			reply_gw(s, conn_id, rid, &r);
			goto out;
		}
		/* Endorsements the contract's policy needs, as the latest
		 * chain configuration this server knows has it (held while
		 * gathering). */
		if (!cc)
			cc = cd_cfg_latest(s);
		const struct fc_policy *pol = fc_chaincfg_policy_for(cc, p->contract);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = gather(s, pol, p, req->client_signature, &mine, deadline, peers, &npeers, ends,
			    orgs, &nends, &mm, &tmiss, errmsg);
		fc_metric_observe(s->m.gw.endorse_seconds, cd_seconds_since(&t0));
		if (rc == FC_OK)
			break;
		if (rc == FC_EVERIFY || rc == FC_ECONFIG || attempt >= GATHER_ATTEMPTS ||
		    cd_now_ms() >= deadline || atomic_load(&s->stop)) {
			fc_log(FC_LOG_WARN, COMP, "not submitted",
			       "tx=%s attempts=%d reason=\"%s\"", tx_id, attempt, errmsg);
			reply_gw_err(s, conn_id, rid, tx_id, rc, errmsg);
			goto out;
		}
		/* Another round: drop this one's results. */
		fc_log(FC_LOG_DEBUG, COMP, "gathering again",
		       "tx=%s attempt=%d mine_newer=%d theirs_newer=%d their_height=%llu "
		       "reason=\"%s\"",
		       tx_id, attempt, mm.mine_newer, mm.theirs_newer,
		       (unsigned long long)mm.their_height, errmsg);
		for (size_t i = 0; i < npeers; i++)
			fc_wire_free((ProtobufCMessage *)peers[i].reply);
		npeers = nends = 0;
		cd_endorsed_clear(&mine);
		errmsg[0] = 0;
		if (mm.theirs_newer && !mm.mine_newer) {
			/* We read older state: catch up with what they read. */
			uint64_t until = cd_now_ms() + 3000u;
			wait_applied(s, mm.their_height, until < deadline ? until : deadline);
		} else {
			/* They (or both) read older state, or the endorsers were
			 * unavailable: give them a moment. */
			uint64_t ms = (uint64_t)GATHER_BACKOFF_MS << (attempt - 1);
			uint64_t now = cd_now_ms();
			if (now + ms > deadline)
				ms = deadline > now ? deadline - now : 0;
			usleep((useconds_t)(ms * 1000u));
		}
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
		w->start_ms = start_ms;
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
		count_result(s, FC_OK);
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

	struct fc_chaincfg *keep = NULL;
	const struct fc_config *scfg = cd_cfg_storage(s, &keep, NULL);

	rc = fc_storage_client_create(scfg, NULL, &sc, errmsg);
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
	fc_chaincfg_unref(keep);
	cd_request_done(s);
}

static void gw_run(void *arg);

/* Submits j to the thread pool (counted in s->inflight already). */
static int gw_submit(struct gw_job *j)
{
	int rc = fc_tpool_submit(j->s->gwpool, gw_run, j);

	if (rc != FC_OK) {
		fc_wire_free((ProtobufCMessage *)j->msg);
		cd_request_done(j->s);
		fc_free(j);
	}
	return rc;
}

static void gw_run(void *arg)
{
	struct gw_job *j = arg, *next = NULL;
	Flexchain__ControlMessage *m = j->msg;
	int client = m->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;

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
	if (!client)
		return;
	/* This slot goes to the oldest waiting client request, if any. */
	pthread_mutex_lock(&gw.mu);
	if ((next = gw.head) != NULL) {
		gw.head = next->next;
		if (!gw.head)
			gw.tail = NULL;
	} else {
		gw.active--;
	}
	pthread_mutex_unlock(&gw.mu);
	if (next && gw_submit(next) != FC_OK) {
		pthread_mutex_lock(&gw.mu);
		gw.active--;
		pthread_mutex_unlock(&gw.mu);
	}
}

void cd_gateway_stop(void)
{
	cd_connpool_destroy(gw.pool);
	gw.pool = NULL;
}

int cd_gateway_dispatch(struct cd_server *s, uint64_t conn_id, Flexchain__ControlMessage *msg)
{
	struct gw_job *j;
	int rc, client = msg->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;

	if (!gw.pool) {
		char e[FC_ERRMSG_LEN];
		rc = cd_connpool_create(PEER_CONNS_MAX, PEER_IDLE_MAX_MS, &gw.pool, e);
		if (rc != FC_OK) {
			fc_log(FC_LOG_ERROR, COMP, "connection pool", "reason=\"%s\"", e);
			fc_wire_free((ProtobufCMessage *)msg);
			return rc;
		}
	}
	if (client) {
		unsigned mode = (unsigned)msg->gateway_request->mode;
		s->last_client_ms = cd_now_ms();
		fc_metric_inc(s->m.gw.requests[mode < CD_GW_ENDORSE ? mode : CD_GW_SUBMIT]);
	} else {
		fc_metric_inc(
		    s->m.gw
			.requests[msg->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST
				      ? CD_GW_ENDORSE
				      : CD_GW_TX_QUERY]);
	}
	/* Draining: the orderer learns it at once (deregistration), and
	 * clients that discover gateways from it stop sending here within
	 * their refresh interval; requests that arrive in the first
	 * CD_DRAIN_GRACE_MS are still served, later ones are refused unexecuted
	 * with FC_EAGAIN ("send it to another gateway"). s->phase and
	 * s->drain_start_ms belong to the loop thread, which runs this. */
	if (client && atomic_load(&s->draining) &&
	    !(s->phase == 1 && cd_now_ms() - s->drain_start_ms < CD_DRAIN_GRACE_MS)) {
		char m2[FC_ERRMSG_LEN];
		snprintf(m2, sizeof m2,
			 "compute server %s is draining (shutting down): request not executed, "
			 "send it to another gateway",
			 s->self.id);
		reply_unexecuted(s, conn_id, msg->request_id,
				 msg->gateway_request->proposal ? msg->gateway_request->proposal->tx_id
								: "",
				 m2);
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
	if (client) {
		int wait;
		pthread_mutex_lock(&gw.mu);
		wait = gw.active >= GW_ACTIVE_MAX(fc_tpool_size(s->gwpool));
		if (wait) {
			if (gw.tail)
				gw.tail->next = j;
			else
				gw.head = j;
			gw.tail = j;
		} else {
			gw.active++;
		}
		pthread_mutex_unlock(&gw.mu);
		if (wait)
			return FC_OK;
	}
	rc = gw_submit(j);
	if (rc != FC_OK && client) {
		pthread_mutex_lock(&gw.mu);
		gw.active--;
		pthread_mutex_unlock(&gw.mu);
	}
	return rc;
}
