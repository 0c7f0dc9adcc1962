/* link.c - the compute server's side of the orderer protocol (orderer/
 * decide.h): membership and committee validation (member, v1, v2 threads)
 * and the commit-event subscription (events thread). All blocking I/O is
 * on these threads' own fc_netc clients. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "computed.h"
#include "fc_chaincfg.h"
#include "fc_ctl.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define COMP "compute"
#define V2_WAIT_MAX_MS 120000u
#define REREGISTER_MS 1000u

/* ------------------------------------------------------------ helpers */

int cd_orderer_by_addr(const struct fc_config *cfg, const char *addr)
{
	for (size_t i = 0; i < cfg->n_orderers; i++)
		if (fc_net_addr_is(addr, cfg->orderers[i].host, cfg->orderers[i].port))
			return (int)i;
	return -1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

	nanosleep(&ts, NULL);
}

static void set_leader(struct cd_server *s, int idx)
{
	pthread_mutex_lock(&s->mu);
	if (s->leader != idx) {
		s->leader = idx;
		s->leader_epoch++;
	}
	pthread_mutex_unlock(&s->mu);
}

static int get_leader(struct cd_server *s, uint64_t *epoch)
{
	int l;

	pthread_mutex_lock(&s->mu);
	l = s->leader;
	if (epoch)
		*epoch = s->leader_epoch;
	pthread_mutex_unlock(&s->mu);
	return l;
}

/* Pops the head of a queue, waiting up to 100 ms. */
static struct cd_vreq *vq_pop(struct cd_server *s, struct cd_vreq **head, struct cd_vreq **tail)
{
	struct cd_vreq *r;
	struct timespec ts;

	pthread_mutex_lock(&s->mu);
	if (!*head && !atomic_load(&s->stop)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	r = *head;
	if (r) {
		*head = r->next;
		if (!*head)
			*tail = NULL;
		r->next = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void vq_push(struct cd_server *s, struct cd_vreq **head, struct cd_vreq **tail,
		    struct cd_vreq *r)
{
	pthread_mutex_lock(&s->mu);
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void vreq_free(struct cd_vreq *r)
{
	if (!r)
		return;
	fc_validate_job_free(r->job);
	fc_validate_verdict_free(r->verdict);
	fc_wire_free((ProtobufCMessage *)r->msg);
	fc_chaincfg_unref(r->cc);
	cd_sc_unref(r->scr);
	fc_free(r);
}

/* A validate request is finished (verdict queued or dropped). */
static void vreq_done(struct cd_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->vpending--;
	pthread_mutex_unlock(&s->mu);
}

static uint64_t vreq_height(const struct cd_vreq *r)
{
	return r->msg->validate_request->block->header->height;
}

/* ------------------------------------------------------ validation state
 * The state ops of a validate request: ud is the struct cd_vreq. */

/* The policy endorsing a contract in the chain configuration in force at
 * the block's height. */
static const struct fc_policy *policy_for(void *ud, const char *contract)
{
	struct cd_vreq *r = ud;

	return fc_chaincfg_policy_for(r->cc, contract);
}

/* Config transactions are judged on the configuration in force at the
 * block's height. */
static int check_config(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			const Flexchain__ConfigTx *c, char *why)
{
	struct cd_vreq *r = ud;

	return fc_chaincfg_check_after(r->cc, earlier, n_earlier, c, why);
}

/* V2 thread only: committed versions as of exactly the height before the
 * block being validated; a read from a state that moved past it is refused
 * (FC_EAGAIN) so that no verdict is built on the wrong state. */
static uint64_t v2_height;

static int get_versions(void *ud, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			char *errmsg)
{
	struct cd_server *s = ((struct cd_vreq *)ud)->s;
	uint64_t as_of = CD_HEIGHT_UNKNOWN;
	int rc;

	rc = cd_state_ops_of(s->state)->versions(s->v2_state->h, keys, n, versions, &as_of, errmsg);
	if (rc != FC_OK)
		return rc;
	if (n && as_of != CD_HEIGHT_UNKNOWN && as_of + 1 != v2_height)
		return fc_errf(errmsg, FC_EAGAIN, "state is at height %llu, not %llu",
			       (unsigned long long)as_of, (unsigned long long)(v2_height - 1));
	return FC_OK;
}

/* On the thread running V1 (its storage client): a tx id counts as
 * committed when the storage pool's index holds it at a lower height. (The
 * orderer already refuses tx ids that are pending or in the chain, so
 * duplicates do not reach a block in practice.) */
static int txids_committed(void *ud, const char *const *ids, size_t n, bool *seen, char *errmsg)
{
	struct cd_vreq *v = ud;

	Flexchain__TxBatchInfo *bi = NULL;
	int rc = FC_EIO;

	/* one round trip for the whole block, to the first replica that answers */
	for (size_t r = 0; r < fc_storage_client_replicas(v->sc) && rc != FC_OK; r++)
		rc = fc_storage_get_txs(v->sc, r, ids, n, &bi, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		seen[i] = bi->txs[i]->found && bi->txs[i]->height < vreq_height(v);
	fc_wire_free(&bi->base);
	return FC_OK;
}

/* Runs V1 of r's block with snapshot cc (takes the reference) and storage
 * client sc (the calling thread's), replacing an earlier V1. */
static int vreq_v1(struct cd_server *s, struct cd_vreq *r, struct fc_chaincfg *cc,
		   struct cd_sc *sc, char *err)
{
	fc_validate_job_free(r->job);
	r->job = NULL;
	fc_chaincfg_unref(r->cc);
	r->cc = cc;
	cd_sc_ref(sc);
	cd_sc_unref(r->scr);
	r->scr = sc;
	r->sc = sc->sc;
	memset(&r->vo, 0, sizeof r->vo);
	r->vo.castore = fc_chaincfg_castore(cc);
	r->vo.pool = s->vpool;
	r->vo.parallel = s->cfg->validation.parallel;
	r->vo.state.get_versions = get_versions;
	r->vo.state.txids_committed = txids_committed;
	r->vo.state.policy_for = policy_for;
	r->vo.state.check_config = check_config;
	r->vo.state.ud = r;

	struct timespec t0;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = fc_validate_v1(&r->vo, r->msg->validate_request->block, &r->job, err);
	if (rc == FC_OK)
		fc_metric_observe(s->m.v1_seconds, cd_seconds_since(&t0));
	return rc;
}

/* ------------------------------------------------------------- V1 / V2 */

/* Between two requests: the thread's storage client follows the replicas
 * in force (computed.h); a failure keeps the old one until next time. */
static void follow_storage(struct cd_server *s, struct cd_sc **sc)
{
	char err[FC_ERRMSG_LEN];

	if (cd_sc_follow(s, sc, NULL, err) != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "storage client not renewed", "reason=\"%s\"", err);
}

static void *v1_main(void *arg)
{
	struct cd_server *s = arg;
	char err[FC_ERRMSG_LEN];

	while (!atomic_load(&s->stop)) {
		struct cd_vreq *r = vq_pop(s, &s->v1_head, &s->v1_tail);
		struct fc_chaincfg *cc;
		int rc;

		if (!r)
			continue;
		err[0] = 0;
		follow_storage(s, &s->v1_storage);
		/* Ahead of the decisions: the snapshot known for this height;
		 * V2 checks it is the one in force. */
		cc = cd_cfg_known(s, vreq_height(r));
		rc = cc ? vreq_v1(s, r, cc, s->v1_storage, err)
			: fc_errf(err, FC_ESTATE, "block older than the configurations kept");
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "V1 failed", "height=%llu reason=\"%s\"",
			       (unsigned long long)vreq_height(r), err);
			fc_metric_inc(s->m.declined);
			vreq_free(r);
			vreq_done(s);
			continue;
		}
		vq_push(s, &s->v2_head, &s->v2_tail, r);
	}
	return NULL;
}

/* Waits until state through h-1 is applied: 1 ready, 0 stale or stopped. */
static int wait_applied(struct cd_server *s, uint64_t h)
{
	uint64_t start = cd_now_ms();
	char err[FC_ERRMSG_LEN];

	if (h == 0)
		return 1;
	while (!atomic_load(&s->stop) && cd_now_ms() - start < V2_WAIT_MAX_MS) {
		uint64_t ah = 0;
		int empty = 1, rc;

		if (!s->v2_state && cd_state_acquire(s->state, &s->v2_state, err) != FC_OK) {
			sleep_ms(100);
			continue;
		}
		rc = cd_state_ops_of(s->state)->applied(s->v2_state->h, &ah, &empty, err);
		if (rc != FC_OK) {
			cd_state_release(s->state, s->v2_state, 1);
			s->v2_state = NULL;
			sleep_ms(100);
			continue;
		}
		if (!empty && ah + 1 == h) {
			fc_metric_set(s->m.height, (double)h);
			return 1;
		}
		if (!empty && ah >= h)
			return 0; /* decided without us meanwhile */
		sleep_ms(5);
	}
	return 0;
}

static void *v2_main(void *arg)
{
	struct cd_server *s = arg;
	char err[FC_ERRMSG_LEN];

	while (!atomic_load(&s->stop)) {
		struct cd_vreq *r = vq_pop(s, &s->v2_head, &s->v2_tail);
		struct fc_chaincfg *cc = NULL;
		const Flexchain__Block *b;
		uint8_t *st = NULL, wsh[FC_HASH_LEN];
		uint64_t h;
		int rc;

		if (!r)
			continue;
		follow_storage(s, &s->v2_storage);
		b = r->msg->validate_request->block;
		h = vreq_height(r);
		if (!wait_applied(s, h)) {
			fc_log(FC_LOG_INFO, COMP, "block skipped", "height=%llu reason=stale",
			       (unsigned long long)h);
			goto drop;
		}
		/* Every block below h is decided: the configuration in force
		 * at h is known exactly. */
		err[0] = 0;
		rc = cd_cfg_at(s, h, &cc, err);
		if (rc == FC_OK && cc != r->cc) {
			fc_log(FC_LOG_INFO, COMP, "configuration changed under V1, again",
			       "height=%llu sequence=%llu", (unsigned long long)h,
			       (unsigned long long)fc_chaincfg_sequence(cc));
			rc = vreq_v1(s, r, cc, s->v2_storage, err);
		} else {
			fc_chaincfg_unref(cc);
		}
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "configuration unknown, block skipped",
			       "height=%llu reason=\"%s\"", (unsigned long long)h, err);
			goto drop;
		}
		st = fc_calloc(b->n_envelopes + 1, 1);
		if (!st)
			goto drop;
		v2_height = h;
		err[0] = 0;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = fc_validate_v2(r->job, st, wsh, err);
		if (rc == FC_OK)
			rc = fc_validate_verdict_sign(b, st, wsh, false, s->cert, s->key,
						      &r->verdict, err);
		if (rc == FC_OK) {
			fc_metric_observe(s->m.v2_seconds, cd_seconds_since(&t0));
			fc_metric_inc(s->m.blocks);
			for (size_t i = 0; i < b->n_envelopes; i++)
				fc_metric_inc(s->m.txs[st[i] < CD_TX_STATUSES ? st[i] : 0]);
		}
		fc_free(st);
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "V2 failed", "height=%llu reason=\"%s\"",
			       (unsigned long long)h, err);
			goto drop;
		}
		fc_validate_job_free(r->job);
		r->job = NULL;
		fc_log(FC_LOG_DEBUG, COMP, "block validated", "height=%llu txs=%zu",
		       (unsigned long long)h, b->n_envelopes);
		vq_push(s, &s->vout_head, &s->vout_tail, r);
		continue;
	drop:
		fc_metric_inc(s->m.declined);
		vreq_free(r);
		vreq_done(s);
	}
	return NULL;
}

/* ------------------------------------------------------------- member */

static int send_register(struct cd_server *s, struct fc_netc *c, char *err)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Register reg = FLEXCHAIN__REGISTER__INIT;
	char addr[300];
	size_t dlen;
	const uint8_t *der = fc_crypto_cert_der(s->cert, &dlen);

	snprintf(addr, sizeof addr, "%s:%u", s->self.host, (unsigned)s->self.port);
	reg.node_id = s->self.id;
	reg.org = s->self.org;
	reg.cert = (ProtobufCBinaryData){dlen, (uint8_t *)der};
	reg.address = addr;
	reg.cores = fc_tpool_size(s->vpool);
	reg.metrics_port = s->self.metrics_port;
	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_REGISTER;
	m.register_ = &reg;
	return fc_ctl_netc_send(c, &m, 5000, err);
}

/* Serves one registration until it fails, leadership moves or we leave.
 * Returns 1 after a deregistration. */
static int member_session(struct cd_server *s, struct fc_netc *c, int target)
{
	uint64_t seq = 0, validated = 0, next_hb = 0, next_reg = cd_now_ms() + REREGISTER_MS;
	char err[FC_ERRMSG_LEN];
	int left = 0;

	for (;;) {
		Flexchain__ControlMessage *r = NULL;
		uint64_t now;
		int rc;

		if (atomic_load(&s->stop))
			return 0;
		if (atomic_load(&s->deregister) && !left) {
			/* Out of the committees from now on; the blocks we
			 * hold are finished on this connection below. */
			Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
			Flexchain__Deregister dr = FLEXCHAIN__DEREGISTER__INIT;
			dr.node_id = s->self.id;
			m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DEREGISTER;
			m.deregister = &dr;
			rc = fc_ctl_netc_send(c, &m, 2000, err);
			fc_log(FC_LOG_INFO, COMP, "deregistered", "orderer=%s ok=%d",
			       s->cfg->orderers[target].id, rc == FC_OK);
			cd_metrics_registered(s, 0);
			left = 1;
			if (rc != FC_OK) {
				atomic_store(&s->left, 1);
				return 1;
			}
		}
		if (left) {
			size_t pending;
			pthread_mutex_lock(&s->mu);
			pending = s->vpending;
			pthread_mutex_unlock(&s->mu);
			if (pending == 0) {
				atomic_store(&s->left, 1);
				return 1;
			}
		}
		rc = fc_ctl_netc_recv(c, 0, 10, &r, err);
		if (rc == FC_OK) {
			if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST &&
			    r->validate_request->block && r->validate_request->block->header &&
			    atomic_load(&s->draining)) {
				/* Draining: finish what we hold, take nothing new
				 * (the rest of the committee or storage decides). */
				fc_log(
				    FC_LOG_INFO, COMP, "validate request declined",
				    "height=%llu reason=draining",
				    (unsigned long long)r->validate_request->block->header->height);
				fc_metric_inc(s->m.declined);
			} else if (r->body_case ==
				       FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST &&
				   r->validate_request->block &&
				   r->validate_request->block->header) {
				struct cd_vreq *v = fc_calloc(1, sizeof *v);
				if (v) {
					v->s = s;
					v->request_id = r->request_id;
					v->msg = r;
					r = NULL;
					pthread_mutex_lock(&s->mu);
					s->vpending++;
					pthread_mutex_unlock(&s->mu);
					vq_push(s, &s->v1_head, &s->v1_tail, v);
				}
			} else if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT &&
				   r->submit_result->code != FC_OK) {
				/* Our re-registration was refused: leadership moved. */
				int who = r->submit_result->leader[0]
					      ? cd_orderer_by_addr(s->cfg, r->submit_result->leader)
					      : -1;
				fc_log(FC_LOG_INFO, COMP, "leader moved", "from=%s to=%s",
				       s->cfg->orderers[target].id,
				       who >= 0 ? s->cfg->orderers[who].id : "?");
				set_leader(s,
					   who >= 0 ? who : (target + 1) % (int)s->cfg->n_orderers);
				fc_wire_free((ProtobufCMessage *)r);
				return 0;
			}
			fc_wire_free((ProtobufCMessage *)r);
		} else if (rc != FC_ETIMEOUT) {
			fc_log(FC_LOG_INFO, COMP, "orderer connection lost",
			       "orderer=%s reason=\"%s\"", s->cfg->orderers[target].id, err);
			return 0;
		}
		now = cd_now_ms();
		/* Verdicts ready to go. */
		for (;;) {
			struct cd_vreq *v;
			pthread_mutex_lock(&s->mu);
			v = s->vout_head;
			if (v) {
				s->vout_head = v->next;
				if (!s->vout_head)
					s->vout_tail = NULL;
			}
			pthread_mutex_unlock(&s->mu);
			if (!v)
				break;
			Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
			m.request_id = v->request_id;
			m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_VERDICT;
			m.verdict = v->verdict;
			rc = fc_ctl_netc_send(c, &m, 5000, err);
			if (rc == FC_OK)
				fc_metric_inc(s->m.verdicts);
			if (vreq_height(v) > validated)
				validated = vreq_height(v);
			vreq_free(v);
			vreq_done(s);
			if (rc != FC_OK)
				return 0;
		}
		if (left)
			continue; /* no heartbeat nor registration any more */
		if (now >= next_hb) {
			Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
			Flexchain__Heartbeat hb = FLEXCHAIN__HEARTBEAT__INIT;
			hb.node_id = s->self.id;
			hb.seq = ++seq;
			hb.validated_height = validated;
			m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEARTBEAT;
			m.heartbeat = &hb;
			if (fc_ctl_netc_send(c, &m, 2000, err) != FC_OK)
				return 0;
			next_hb = now + s->cfg->network.heartbeat_ms;
		}
		if (now >= next_reg) {
			/* Registering again is idempotent on the leader and
			 * refused with the new leader's address elsewhere. */
			if (send_register(s, c, err) != FC_OK)
				return 0;
			next_reg = now + REREGISTER_MS;
		}
	}
}

static void *member_main(void *arg)
{
	struct cd_server *s = arg;
	char err[FC_ERRMSG_LEN];

	while (!atomic_load(&s->stop)) {
		int target = get_leader(s, NULL);
		const struct fc_config_node *n = &s->cfg->orderers[target];
		Flexchain__ControlMessage *r = NULL;
		struct fc_netc *c = NULL;
		int rc;

		if (atomic_load(&s->deregister)) {
			/* Left the committee; flush what is left to nobody. */
			struct cd_vreq *v;
			while ((v = vq_pop(s, &s->vout_head, &s->vout_tail))) {
				vreq_free(v);
				vreq_done(s);
			}
			continue;
		}
		rc = fc_netc_connect(n->host, n->port, 1000, &c, err);
		if (rc == FC_OK)
			rc = send_register(s, c, err);
		if (rc == FC_OK)
			rc = fc_ctl_netc_recv(c, 0, 3000, &r, err);
		if (rc == FC_OK && r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT)
			rc = fc_errf(err, FC_EPROTO, "unexpected reply to register");
		if (rc == FC_OK && r->submit_result->code != FC_OK) {
			int who = r->submit_result->leader[0]
				      ? cd_orderer_by_addr(s->cfg, r->submit_result->leader)
				      : -1;
			rc = (int)r->submit_result->code;
			if (rc != FC_EAGAIN)
				fc_log(FC_LOG_ERROR, COMP, "register refused",
				       "orderer=%s reason=\"%s\"", n->id,
				       r->submit_result->message);
			set_leader(s, who >= 0 ? who : (target + 1) % (int)s->cfg->n_orderers);
		} else if (rc != FC_OK) {
			set_leader(s, (target + 1) % (int)s->cfg->n_orderers);
		}
		fc_wire_free((ProtobufCMessage *)r);
		if (rc != FC_OK) {
			fc_netc_close(c);
			sleep_ms(100);
			continue;
		}
		fc_log(FC_LOG_INFO, COMP, "registered", "orderer=%s", n->id);
		set_leader(s, target);
		cd_metrics_registered(s, !atomic_load(&s->deregister));
		member_session(s, c, target);
		cd_metrics_registered(s, 0);
		fc_netc_close(c);
	}
	return NULL;
}

/* ------------------------------------------------------------- events */

/* Folds the configuration up to the decisions heard of, so that the
 * gateway's policies are recent and V2 has little left to fold. A replica
 * that has not stored them yet: next time. */
static void cfg_follow(struct cd_server *s)
{
	struct fc_chaincfg *cc = NULL;
	char err[FC_ERRMSG_LEN] = "";
	uint64_t h = atomic_load(&s->decided_next);

	if (h > 0 && cd_cfg_at(s, h, &cc, err) != FC_OK)
		fc_log(FC_LOG_DEBUG, COMP, "configuration not folded yet",
		       "height=%llu reason=\"%s\"", (unsigned long long)h, err);
	fc_chaincfg_unref(cc);
}

static void events_session(struct cd_server *s, struct cd_sc **sc)
{
	uint64_t epoch, next_sweep = 0;
	int target = get_leader(s, &epoch);
	const struct fc_config_node *n = &s->cfg->orderers[target];
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__HeightQuery hq = FLEXCHAIN__HEIGHT_QUERY__INIT;
	Flexchain__DeliverRequest dr = FLEXCHAIN__DELIVER_REQUEST__INIT;
	struct fc_netc *c = NULL;
	char err[FC_ERRMSG_LEN];
	int rc;

	rc = fc_netc_connect(n->host, n->port, 1000, &c, err);
	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY;
	m.height_query = &hq;
	if (rc == FC_OK)
		rc = fc_ctl_netc_send(c, &m, 2000, err);
	if (rc == FC_OK)
		rc = fc_ctl_netc_recv(c, 0, 3000, &r, err);
	if (rc != FC_OK || r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO)
		goto out;
	dr.from_height = r->height_info->empty ? 0 : r->height_info->applied_height + 1;
	dr.with_decisions = true;
	fc_wire_free((ProtobufCMessage *)r);
	r = NULL;
	m.request_id = 2;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST;
	m.deliver_request = &dr;
	if (fc_ctl_netc_send(c, &m, 2000, err) != FC_OK)
		goto out;
	fc_log(FC_LOG_INFO, COMP, "subscribed to decisions", "orderer=%s from=%llu", n->id,
	       (unsigned long long)dr.from_height);
	while (!atomic_load(&s->stop)) {
		uint64_t e2;
		rc = fc_ctl_netc_recv(c, 0, 100, &r, err);
		if (rc == FC_OK) {
			if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_COMMIT_EVENT &&
			    r->commit_event->tx_id)
				cd_gateway_complete(
				    s, r->commit_event->tx_id, FC_OK, "", r->commit_event->status,
				    r->commit_event->height, r->commit_event->index);
			else if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_DECISION &&
				 r->decision->height + 1 > atomic_load(&s->decided_next))
				atomic_store(&s->decided_next, r->decision->height + 1);
			fc_wire_free((ProtobufCMessage *)r);
			r = NULL;
		} else if (rc != FC_ETIMEOUT) {
			break;
		}
		if (cd_now_ms() >= next_sweep) {
			cd_gateway_sweep(s, (*sc)->sc);
			cfg_follow(s);
			follow_storage(s, sc);
			cd_metrics_probe_height(s);
			next_sweep = cd_now_ms() + 500;
		}
		get_leader(s, &e2);
		if (e2 != epoch)
			break; /* resubscribe to the new leader */
	}
out:
	fc_wire_free((ProtobufCMessage *)r);
	fc_netc_close(c);
}

static void *events_main(void *arg)
{
	struct cd_server *s = arg;
	struct cd_sc *sc = NULL;
	char err[FC_ERRMSG_LEN];

	if (cd_sc_follow(s, &sc, NULL, err) != FC_OK) {
		fc_log(FC_LOG_ERROR, COMP, "events: storage client", "reason=\"%s\"", err);
		return NULL;
	}
	while (!atomic_load(&s->stop)) {
		events_session(s, &sc);
		if (!atomic_load(&s->stop)) {
			follow_storage(s, &sc);
			cd_gateway_sweep(s, sc->sc);
			cd_metrics_probe_height(s);
			sleep_ms(100);
		}
	}
	cd_sc_unref(sc);
	return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int cd_link_start(struct cd_server *s, char *errmsg)
{
	int rc;

	rc = cd_sc_follow(s, &s->v1_storage, NULL, errmsg);
	if (rc == FC_OK)
		rc = cd_sc_follow(s, &s->v2_storage, NULL, errmsg);
	if (rc != FC_OK)
		return rc;
	if (pthread_create(&s->v1_th, NULL, v1_main, s) != 0)
		return fc_errf(errmsg, FC_EIO, "start thread v1");
	s->threads_started = 1;
	if (pthread_create(&s->v2_th, NULL, v2_main, s) != 0)
		return fc_errf(errmsg, FC_EIO, "start thread v2");
	s->threads_started = 2;
	if (pthread_create(&s->member_th, NULL, member_main, s) != 0)
		return fc_errf(errmsg, FC_EIO, "start thread member");
	s->threads_started = 3;
	if (pthread_create(&s->events_th, NULL, events_main, s) != 0)
		return fc_errf(errmsg, FC_EIO, "start thread events");
	s->threads_started = 4;
	rc = cd_peers_start(s, errmsg);
	if (rc == FC_OK)
		s->threads_started = 5;
	return rc;
}

void cd_link_join(struct cd_server *s)
{
	struct cd_vreq *lists[3] = {s->v1_head, s->v2_head, s->vout_head};

	atomic_store(&s->stop, 1);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->threads_started >= 1)
		pthread_join(s->v1_th, NULL);
	if (s->threads_started >= 2)
		pthread_join(s->v2_th, NULL);
	if (s->threads_started >= 3)
		pthread_join(s->member_th, NULL);
	if (s->threads_started >= 4)
		pthread_join(s->events_th, NULL);
	if (s->threads_started >= 5)
		cd_peers_stop(s);
	s->threads_started = 0;
	lists[0] = s->v1_head;
	lists[1] = s->v2_head;
	lists[2] = s->vout_head;
	for (int i = 0; i < 3; i++)
		for (struct cd_vreq *v = lists[i], *n; v; v = n) {
			n = v->next;
			vreq_free(v);
		}
	s->v1_head = s->v2_head = s->vout_head = NULL;
	if (s->v2_state)
		cd_state_release(s->state, s->v2_state, 0);
	s->v2_state = NULL;
	cd_sc_unref(s->v1_storage);
	s->v1_storage = NULL;
	cd_sc_unref(s->v2_storage);
	s->v2_storage = NULL;
}
