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
 * from one pool (connpool.h), shared by the gateway threads. The pool and
 * the admission queue are the server's (struct cd_gw in computed.h). */
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
/* A contract that failed on trailing state waits this long for it. */
#define CATCHUP_MS 3000u
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

struct cd_gw_job {
	struct cd_gw_job *next; /* admission queue */
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

/* Answers a client request (before any commit) and counts the answer:
 * code FC_OK with the response of mine (may be NULL), else code with msg
 * (fc_strerror(code) when empty). FC_EAGAIN tells a client that the request
 * was NOT executed and may go to another gateway (fc_gwclient.h); only the
 * drain refusal (unexecuted = 1) may say so, so any other FC_EAGAIN (from
 * an endorser or an orderer, after execution) goes out as FC_EBUSY. */
static void answer(struct cd_server *s, uint64_t conn_id, uint64_t rid, const char *tx_id, int code,
		   const char *msg, const struct cd_endorsed *mine, int unexecuted)
{
	Flexchain__GatewayReply r = FLEXCHAIN__GATEWAY_REPLY__INIT;

	if (code == FC_EAGAIN && !unexecuted)
		code = FC_EBUSY;
	count_result(s, code);
	r.code = (uint32_t)code;
	r.tx_id = (char *)(tx_id ? tx_id : "");
	if (code != FC_OK)
		r.message = (char *)(msg && msg[0] ? msg : fc_strerror(code));
	else if (mine)
		r.response = (ProtobufCBinaryData){mine->res.response_len, mine->res.response};
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

/* Whether this server's state source has applied height h: 1 yes, 0 no,
 * -1 it could not say. */
static int applied_through(struct cd_server *s, uint64_t h)
{
	struct cd_state_h *sh = NULL;
	char err[FC_ERRMSG_LEN];
	uint64_t ah = 0;
	int empty = 1, rc;

	if (cd_state_acquire(s->state, &sh, err) != FC_OK)
		return -1;
	rc = cd_state_ops_of(s->state)->applied(sh->h, &ah, &empty, err);
	cd_state_release(s->state, sh, rc != FC_OK);
	if (rc != FC_OK)
		return -1;
	return !empty && ah >= h;
}

/* Blocks until this server's state source has applied height h (or
 * deadline, or stop): 1 reached, 0 not. */
static int wait_applied(struct cd_server *s, uint64_t h, uint64_t deadline)
{
	int ok;

	while ((ok = applied_through(s, h)) != 1 && cd_now_ms() < deadline &&
	       !atomic_load(&s->stop))
		usleep(ok < 0 ? 20000 : 5000);
	return ok == 1;
}

/* Runs p's contract on this server's state and endorses the result. */
static int run_contract(struct cd_server *s, const Flexchain__Proposal *p,
			struct cd_endorsed *out, char *errmsg)
{
	struct rd r = {s, NULL, 0};
	struct fc_state_reader reader = {rd_get, &r};
	struct timespec t0;
	int rc;

	memset(out, 0, sizeof *out);
	rc = cd_state_acquire(s->state, &r.h, errmsg);
	if (rc != FC_OK)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cd_endorse(p, &reader, s->cert, s->key, out, errmsg);
	fc_metric_observe(s->m.gw.execute_seconds, cd_seconds_since(&t0));
	cd_state_release(s->state, r.h, r.broken);
	return rc;
}

/* Checks, executes and endorses p on this server. A contract that fails
 * while this server's state trails the blocks already decided (a client
 * may have seen, through another gateway, the commit of the write this
 * contract reads) runs once more after the state caught up, bounded by
 * CATCHUP_MS: what the client saw committed is what the contract reads. */
static int execute(struct cd_server *s, const Flexchain__Proposal *p, ProtobufCBinaryData sig,
		   struct cd_endorsed *out, char *errmsg)
{
	uint64_t decided = atomic_load(&s->decided_next);
	int rc;

	rc = cd_check_proposal(s->cs, p, sig, NULL, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = run_contract(s, p, out, errmsg);
	if (rc != FC_OK && decided > 0 && applied_through(s, decided - 1) == 0 &&
	    wait_applied(s, decided - 1, cd_now_ms() + CATCHUP_MS)) {
		cd_endorsed_clear(out);
		rc = run_contract(s, p, out, errmsg);
	}
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "execute %s.%s", p->contract, p->function);
	return rc;
}

/* ----------------------------------------------------- peer endorsements */

struct peer_end {
	Flexchain__ControlMessage *reply; /* owns the endorsement */
	const char *org;
};

/* One request's endorsements: ours (mine) and those gathered (peers),
 * listed for the envelope in ends/orgs. cand is scratch space for
 * cd_peers_pick (CD_PEERS_MAX entries, fc_malloc'd once per request and
 * reused by every organisation and round). round_clear drops a round's
 * results, round_free everything. */
struct round {
	struct cd_endorsed mine;
	struct peer_end peers[FC_POLICY_MAX_CHILDREN];
	size_t npeers;
	Flexchain__Endorsement *ends[FC_POLICY_MAX_CHILDREN + 1];
	const char *orgs[FC_POLICY_MAX_CHILDREN + 1];
	size_t nends;
	struct cd_peer *cand;
};

static void round_clear(struct round *g)
{
	for (size_t i = 0; i < g->npeers; i++)
		fc_wire_free((ProtobufCMessage *)g->peers[i].reply);
	g->npeers = g->nends = 0;
	cd_endorsed_clear(&g->mine);
}

static void round_free(struct round *g)
{
	round_clear(g);
	fc_free(g->cand);
	g->cand = NULL;
}

/* What a differing endorsement says about who read older state
 * (cd_rwset_compare_reads). */
struct mismatch {
	int mine_newer, theirs_newer;
	uint64_t their_height;
};

static int transient(int rc)
{
	return rc == FC_ESTATE || rc == FC_EIO || rc == FC_EBUSY || rc == FC_ETIMEOUT ||
	       rc == FC_ECLOSED || rc == FC_EAGAIN || rc == FC_EPROTO;
}

/* Asks compute servers of org (cd_peers_pick: the live ones of the
 * compute registry, fewest requests in flight first, else the
 * configuration file's) to endorse; the first whose endorsement matches ours
 * decides (*out, which then owns the reply). FC_EVERIFY (forged) and
 * deterministic execution errors end the search; unreachable, draining or
 * busy servers, and servers whose rwset or response differs from ours
 * (FC_EMISMATCH: they or we read other state; *mm says which), make it try
 * the next one. The result is FC_EMISMATCH when some server answered with a
 * differing endorsement and none matched. */
static int ask_org(struct cd_server *s, const char *org, const Flexchain__Proposal *p,
		   ProtobufCBinaryData sig, struct round *g, uint64_t deadline,
		   struct peer_end *out, struct mismatch *mm, char *errmsg)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__EndorseRequest er = FLEXCHAIN__ENDORSE_REQUEST__INIT;
	size_t nc;
	int rc = FC_ENOTFOUND, mismatched = 0;
	char last[FC_ERRMSG_LEN] = "";

	if (!g->cand && !(g->cand = fc_malloc(CD_PEERS_MAX * sizeof *g->cand)))
		return fc_errf(errmsg, FC_ENOMEM, "endorsers of %s: out of memory", org);
	nc = cd_peers_pick(s, org, g->cand, CD_PEERS_MAX, NULL);
	if (nc == 0)
		return fc_errf(errmsg, FC_ENOTFOUND,
			       "no compute server of %s in the registry or the configuration", org);
	er.proposal = (Flexchain__Proposal *)p;
	er.client_signature = sig;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST;
	m.endorse_request = &er;
	for (size_t k = 0; k < nc && cd_now_ms() < deadline; k++) {
		const struct cd_peer *n = &g->cand[k];
		Flexchain__ControlMessage *r = NULL;
		Flexchain__EndorseReply *rep = NULL;
		uint64_t left = deadline - cd_now_ms();
		int fatal = 0;
		char e[FC_ERRMSG_LEN] = "";

		cd_peers_busy(s, n, 1);
		rc = cd_connpool_call(
		    s->gw.pool, n->host, n->port, &m, CONNECT_MS,
		    left < ENDORSE_TIMEOUT_MS ? (unsigned)left : ENDORSE_TIMEOUT_MS, &r, NULL, e);
		cd_peers_busy(s, n, -1);
		if (rc == FC_OK && r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY)
			rep = r->endorse_reply;
		if (rc == FC_OK && !rep) {
			rc = fc_errf(e, FC_EPROTO, "unexpected reply");
		} else if (rep && rep->code != FC_OK) {
			/* the endorser's deterministic refusal ends the search */
			rc = fc_errf(e, (int)rep->code, "%s", rep->message);
			fatal = !transient(rc);
		} else if (rep) {
			rc = cd_check_peer_endorsement(s->cs, &g->mine, rep->rwset, rep->response,
						       rep->endorsement, org, e);
			if (rc == FC_OK) {
				out->reply = r;
				out->org = org;
				return FC_OK;
			}
			/* a forged or wrong endorsement ends the search */
			fatal = rc != FC_EMISMATCH;
			if (!fatal) {
				struct mismatch x;
				cd_rwset_compare_reads(g->mine.res.rwset, rep->rwset, &x.mine_newer,
						       &x.theirs_newer, &x.their_height);
				mm->mine_newer |= x.mine_newer;
				mm->theirs_newer |= x.theirs_newer;
				if (x.theirs_newer && x.their_height > mm->their_height)
					mm->their_height = x.their_height;
				mismatched = 1;
			}
		}
		fc_wire_free((ProtobufCMessage *)r);
		if (fatal)
			return fc_errf(errmsg, rc, "endorser %s (%s): %s", n->id, org, e);
		snprintf(last, sizeof last, "%s: %s", n->id, e);
		fc_log(FC_LOG_DEBUG, COMP, "endorser unavailable or differing",
		       "peer=%s reason=\"%s\"", n->id, e);
	}
	if (mismatched)
		return fc_errf(errmsg, FC_EMISMATCH, "endorsement of %s differs from ours (%s)",
			       org, last);
	if (!last[0])
		snprintf(last, sizeof last, "deadline passed");
	return fc_errf(errmsg, rc == FC_OK ? FC_EIO : rc, "no compute server of %s endorsed (%s)",
		       org, last);
}

/* One round of gathering: the endorsements pol needs besides ours
 * (g->mine), asked of the organisations that pol names. FC_OK when pol is
 * satisfied (g filled), FC_EMISMATCH (an organisation's endorsers differ
 * from us: *mm), FC_EVERIFY, or, when pol is not met, FC_EBUSY (endorsers
 * missing for a transient reason) or FC_ECONFIG (missing for a
 * deterministic one: no endorser of an organisation pol needs, or its
 * endorsers refused), with errmsg. Never FC_EDENIED: in a gateway reply that
 * code is the contract's own refusal at execution (a business rule), which
 * clients count apart from refusals by the system. */
static int gather(struct cd_server *s, const struct fc_policy *pol, const Flexchain__Proposal *p,
		  ProtobufCBinaryData sig, struct round *g, uint64_t deadline, struct mismatch *mm,
		  char *errmsg)
{
	const char *const *porgs = NULL;
	size_t npo = fc_policy_orgs(pol, &porgs);
	int rc, mismatch = 0, transient_miss = 0;
	char why[FC_ERRMSG_LEN] = "";

	g->ends[g->nends] = &g->mine.end;
	g->orgs[g->nends++] = s->self.org;
	for (size_t i = 0; i < npo && !fc_policy_satisfied(pol, g->orgs, g->nends); i++) {
		int have = 0;
		for (size_t k = 0; k < g->nends; k++)
			have |= strcmp(g->orgs[k], porgs[i]) == 0;
		if (have)
			continue;
		rc = ask_org(s, porgs[i], p, sig, g, deadline, &g->peers[g->npeers], mm, why);
		if (rc == FC_EVERIFY)
			return fc_errf(errmsg, rc, "tx %s: refused to submit: %s", p->tx_id, why);
		if (rc != FC_OK) {
			mismatch |= rc == FC_EMISMATCH;
			transient_miss |= rc == FC_EMISMATCH || transient(rc);
			fc_log(FC_LOG_DEBUG, COMP, "endorsement missing", "tx=%s reason=\"%s\"",
			       p->tx_id, why);
			continue;
		}
		g->ends[g->nends] = g->peers[g->npeers].reply->endorse_reply->endorsement;
		g->orgs[g->nends++] = porgs[i];
		g->npeers++;
	}
	if (fc_policy_satisfied(pol, g->orgs, g->nends))
		return FC_OK;
	if (mismatch)
		return fc_errf(errmsg, FC_EMISMATCH, "tx %s: refused to submit: %s", p->tx_id, why);
	return fc_errf(errmsg, transient_miss ? FC_EBUSY : FC_ECONFIG,
		       "tx %s: endorsement policy %s not met: %s", p->tx_id, fc_policy_text(pol),
		       why[0] ? why : "no endorser");
}

/* Between two rounds of gathering: when only the other servers read newer
 * state, waits (up to 3 s) until ours has applied their height; otherwise
 * (they or both read older state, or endorsers were unavailable) backs off
 * GATHER_BACKOFF_MS, doubling with every attempt, within deadline. */
static void before_next_round(struct cd_server *s, const struct mismatch *mm, int attempt,
			      uint64_t deadline)
{
	uint64_t now = cd_now_ms();

	if (mm->theirs_newer && !mm->mine_newer) {
		uint64_t until = now + 3000u;
		wait_applied(s, mm->their_height, until < deadline ? until : deadline);
	} else {
		uint64_t ms = (uint64_t)GATHER_BACKOFF_MS << (attempt - 1);
		if (now + ms > deadline)
			ms = deadline > now ? deadline - now : 0;
		usleep((useconds_t)(ms * 1000u));
	}
}

/* Gathers for p, executed into g->mine, the endorsements the policy of
 * its contract needs in cc (the latest chain configuration known, held by
 * the caller), in up to GATHER_ATTEMPTS rounds before deadline; a round
 * that failed for a transient reason is dropped and p executed again after
 * before_next_round. FC_OK with g filled, else the error of the last round
 * (gather) or of executing again, with errmsg. */
static int gather_rounds(struct cd_server *s, const struct fc_chaincfg *cc,
			 const Flexchain__Proposal *p, ProtobufCBinaryData sig, struct round *g,
			 uint64_t deadline, char *errmsg)
{
	const struct fc_policy *pol = fc_chaincfg_policy_for(cc, p->contract);

	for (int attempt = 1;; attempt++) {
		struct mismatch mm = {0};
		struct timespec t0;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = gather(s, pol, p, sig, g, deadline, &mm, errmsg);
		fc_metric_observe(s->m.gw.endorse_seconds, cd_seconds_since(&t0));
		if (rc == FC_OK)
			return FC_OK;
		if (rc == FC_EVERIFY || rc == FC_ECONFIG || attempt >= GATHER_ATTEMPTS ||
		    cd_now_ms() >= deadline || atomic_load(&s->stop)) {
			fc_log(FC_LOG_WARN, COMP, "not submitted",
			       "tx=%s attempts=%d reason=\"%s\"", p->tx_id, attempt, errmsg);
			return rc;
		}
		fc_log(FC_LOG_DEBUG, COMP, "gathering again",
		       "tx=%s attempt=%d mine_newer=%d theirs_newer=%d their_height=%llu "
		       "reason=\"%s\"",
		       p->tx_id, attempt, mm.mine_newer, mm.theirs_newer,
		       (unsigned long long)mm.their_height, errmsg);
		round_clear(g);
		errmsg[0] = 0;
		before_next_round(s, &mm, attempt, deadline);
		rc = execute(s, p, sig, &g->mine, errmsg);
		if (rc != FC_OK)
			return rc;
	}
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

		rc = cd_connpool_call(s->gw.pool, n->host, n->port, &m, CONNECT_MS, (unsigned)left,
				      &r, &wr, e);
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

/* Lists w among the waiters (answered by cd_gateway_complete). */
static void waiter_put(struct cd_server *s, struct cd_waiter *w)
{
	pthread_mutex_lock(&s->mu);
	w->next = s->waiters;
	s->waiters = w;
	pthread_mutex_unlock(&s->mu);
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
	struct round g;
	struct cd_waiter *w = NULL;
	struct fc_chaincfg *cc = NULL;
	uint64_t start_ms = cd_now_ms();
	int rc, done = 1;

	memset(&g, 0, sizeof g);
	if (!p) {
		rc = fc_errf(errmsg, FC_EINVAL, "gateway request: proposal required");
		goto out;
	}
	rc = execute(s, p, req->client_signature, &g.mine, errmsg);
	if (rc != FC_OK || req->mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE)
		goto out;
	/* Endorsements the contract's policy needs, as the latest chain
	 * configuration this server knows has it (held while gathering). */
	cc = cd_cfg_latest(s);
	rc =
	    gather_rounds(s, cc, p, req->client_signature, &g, start_ms + GATHER_BUDGET_MS, errmsg);
	if (rc != FC_OK)
		goto out;
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = (Flexchain__Proposal *)p;
	env.client_signature = req->client_signature;
	env.rwset = g.mine.res.rwset;
	env.response = (ProtobufCBinaryData){g.mine.res.response_len, g.mine.res.response};
	env.n_endorsements = g.nends;
	env.endorsements = g.ends;
	if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
		w = fc_calloc(1, sizeof *w);
		if (!w ||
		    (g.mine.res.response_len &&
		     !(w->response = fc_memdup(g.mine.res.response, g.mine.res.response_len)))) {
			waiter_free(w);
			rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(w->tx_id, sizeof w->tx_id, "%s", tx_id);
		w->response_len = g.mine.res.response_len;
		w->conn_id = conn_id;
		w->request_id = rid;
		w->start_ms = start_ms;
		w->since_ms = w->last_query_ms = cd_now_ms() + SUBMIT_DEADLINE_MS;
		waiter_put(s, w);
	}
	rc = submit_envelope(s, &env, errmsg);
	if (req->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
		/* Taken back unless a commit event already answered it; the
		 * waiter answers unless ordering failed. */
		struct cd_waiter *mw = waiter_take(s, tx_id);
		if (!mw || rc == FC_OK) {
			if (mw) {
				mw->since_ms = mw->last_query_ms = cd_now_ms();
				waiter_put(s, mw);
			}
			done = 0;
			goto cleanup;
		}
		waiter_free(mw); /* not ordered: answered below */
	}
out:
	answer(s, conn_id, rid, tx_id, rc, errmsg, &g.mine, 0);
cleanup:
	round_free(&g);
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

/* Submits j to the thread pool (counted in s->inflight already); on
 * failure j is dropped and counted done. */
static int gw_submit(struct cd_gw_job *j)
{
	int rc = fc_tpool_submit(j->s->gwpool, gw_run, j);

	if (rc != FC_OK) {
		fc_wire_free((ProtobufCMessage *)j->msg);
		cd_request_done(j->s);
		fc_free(j);
	}
	return rc;
}

/* A client request's admission slot is free (it finished, or could not be
 * submitted): it goes to the oldest queued client request, if any. */
static void slot_release(struct cd_server *s)
{
	struct cd_gw *g = &s->gw;
	struct cd_gw_job *next;

	do {
		pthread_mutex_lock(&g->mu);
		if ((next = g->head) != NULL) {
			g->head = next->next;
			if (!g->head)
				g->tail = NULL;
		} else {
			g->active--;
		}
		pthread_mutex_unlock(&g->mu);
	} while (next && gw_submit(next) != FC_OK);
}

static void gw_run(void *arg)
{
	struct cd_gw_job *j = arg;
	struct cd_server *s = j->s;
	Flexchain__ControlMessage *m = j->msg;
	int client = m->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;

	switch (m->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST:
		handle_gateway(s, j->conn_id, m->request_id, m->gateway_request);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST:
		handle_endorse(s, j->conn_id, m->request_id, m->endorse_request);
		break;
	default:
		handle_tx_query(s, j->conn_id, m->request_id, m->tx_query);
		break;
	}
	fc_wire_free((ProtobufCMessage *)m);
	fc_free(j);
	if (client)
		slot_release(s);
}

int cd_gateway_start(struct cd_server *s, char *errmsg)
{
	int rc = cd_connpool_create(PEER_CONNS_MAX, PEER_IDLE_MAX_MS, &s->gw.pool, errmsg);

	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "gateway connection pool");
	pthread_mutex_init(&s->gw.mu, NULL);
	return FC_OK;
}

void cd_gateway_stop(struct cd_server *s)
{
	if (!s->gw.pool)
		return;
	cd_connpool_destroy(s->gw.pool);
	s->gw.pool = NULL;
	pthread_mutex_destroy(&s->gw.mu);
}

int cd_gateway_dispatch(struct cd_server *s, uint64_t conn_id, Flexchain__ControlMessage *msg)
{
	struct cd_gw *g = &s->gw;
	struct cd_gw_job *j;
	int rc, client = msg->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;

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
		const Flexchain__Proposal *p = msg->gateway_request->proposal;
		char m2[FC_ERRMSG_LEN];
		snprintf(m2, sizeof m2,
			 "compute server %s is draining (shutting down): request not executed, "
			 "send it to another gateway",
			 s->self.id);
		answer(s, conn_id, msg->request_id, p ? p->tx_id : "", FC_EAGAIN, m2, NULL, 1);
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
		pthread_mutex_lock(&g->mu);
		wait = g->active >= GW_ACTIVE_MAX(fc_tpool_size(s->gwpool));
		if (wait) {
			if (g->tail)
				g->tail->next = j;
			else
				g->head = j;
			g->tail = j;
		} else {
			g->active++;
		}
		pthread_mutex_unlock(&g->mu);
		if (wait)
			return FC_OK;
	}
	rc = gw_submit(j);
	if (rc != FC_OK && client)
		slot_release(s);
	return rc;
}
