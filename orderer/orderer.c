/* orderer.c - one member of the ordering cluster: Raft, intake, cutting,
 * the FSM that appends committed blocks, and delivery. Everything runs on
 * the caller's libuv loop, so no locks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>

#include "decide.h"
#include "fc_config.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_orderer.h"
#include "fc_wire.h"
#include "orderer_int.h"

#define COMP "orderer"
#define TICK_MS 10u
#define ADDR_MAX 300
/* A Raft entry is [u64 BE block length][encoded Block][zeros to a multiple
 * of 8]: raft's libuv log reloads entry payloads on 8-byte boundaries, so
 * payloads must be padded or a restart reads them as corrupt. */
#define ENTRY_HDR 8u

/* A client connection. Waiters (accepted envelopes awaiting commit) hold a
 * reference so that a reply to a closed connection is simply dropped. */
struct session {
	struct fc_orderer *o;
	struct fc_conn *conn; /* NULL once closed */
	unsigned refs;
	int delivering;
	int with_decisions;
	uint64_t next_height; /* delivery: next block to send */
	uint64_t deliver_rid;
	struct session *prev, *next; /* o->subs while delivering */
};

struct waiter {
	struct session *s;
	uint64_t rid;
	char txid[FC_TXID_HEX_LEN + 1];
};

struct proposal {
	struct raft_apply req;
	struct fc_orderer *o;
	uint64_t height;
	struct waiter *w;
	size_t n;
};

struct fc_orderer {
	uv_loop_t *loop;
	const struct fc_config *cfg;
	const struct fc_config_node *self;
	struct fc_orderer_opts opts;
	raft_id raft_id;
	char raft_addr[ADDR_MAX];
	char dir[PATH_MAX];
	char raft_dir[PATH_MAX];

	fc_cert *cert;
	fc_key *key;
	const uint8_t *cert_der;
	size_t cert_len;
	fc_crypto_castore *cs;

	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm fsm;
	int raft_inited, io_inited, transport_inited, raft_started;

	struct fc_net_server *srv;
	uv_timer_t tick;
	int tick_inited;

	struct fc_ord_blocklog log;
	struct fc_ord_txtab txtab;

	/* leader state */
	int ready; /* barrier applied: may cut */
	int barrier_pending;
	struct raft_barrier barrier;
	uint64_t prop_height; /* next height to propose */
	uint8_t prop_hash[FC_HASH_LEN];
	unsigned inflight;
	int was_leader;

	struct fc_ord_cutter cutter;
	Flexchain__Envelope **benv; /* current batch */
	struct waiter *bw;
	size_t bn, bcap;
	size_t pending; /* accepted, not yet answered */

	struct session *subs; /* delivering sessions */
	struct fc_ord_decider *dec;
	struct fc_orderer_stats stats; /* decision counters (dec_publish) */
	int fatal;

	/* shutdown */
	int stopping, closes_left;
	void (*stop_cb)(void *);
	void *stop_ud;
	char errmsg[FC_ERRMSG_LEN];
};

static void deliver_push(struct session *s);

/* ------------------------------------------------------------ helpers */

static void session_unref(struct session *s)
{
	if (--s->refs == 0)
		fc_free(s);
}

/* The client address of the current leader, "" if unknown. */
static void leader_addr(struct fc_orderer *o, char *buf, size_t len)
{
	raft_id id = 0;
	const char *addr = NULL;

	buf[0] = '\0';
	if (!o->raft_started)
		return;
	raft_leader(&o->raft, &id, &addr);
	if (id >= 1 && id <= o->cfg->n_orderers) {
		const struct fc_config_node *n = &o->cfg->orderers[id - 1];
		snprintf(buf, len, "%s:%u", n->host, (unsigned)n->port);
	}
}

static void send_msg(struct session *s, Flexchain__ControlMessage *m)
{
	/* A client that does not read its replies loses them. */
	if (s->conn)
		(void)fc_ctl_send(s->conn, m, NULL);
}

static void reply_submit(struct session *s, uint64_t rid, const char *txid, int code,
			 const char *msg, const char *leader)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__SubmitResult r = FLEXCHAIN__SUBMIT_RESULT__INIT;

	r.code = (uint32_t)code;
	r.message = (char *)(msg ? msg : "");
	r.tx_id = (char *)(txid ? txid : "");
	r.leader = (char *)(leader ? leader : "");
	m.request_id = rid;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT;
	m.submit_result = &r;
	send_msg(s, &m);
}

static void reply_error(struct session *s, uint64_t rid, int code, const char *msg)
{
	Flexchain__ControlMessage m;
	Flexchain__Error e;

	fc_ctl_error(&m, &e, rid, code, msg);
	send_msg(s, &m);
}

/* Answers and releases n waiters; code != 0 also forgets their pending tx
 * ids (unless the chain has them: then they were ordered after all). */
static void finish_waiters(struct fc_orderer *o, struct waiter *w, size_t n, int code,
			   const char *msg)
{
	char leader[ADDR_MAX];

	leader_addr(o, leader, sizeof leader);
	for (size_t i = 0; i < n; i++) {
		if (code != FC_OK) {
			struct fc_ord_txent *e = fc_ord_txtab_find(&o->txtab, w[i].txid);
			if (e && e->state == FC_ORD_TX_PENDING)
				fc_ord_txtab_del(&o->txtab, w[i].txid);
		}
		reply_submit(w[i].s, w[i].rid, w[i].txid, code, code ? msg : "",
			     code ? leader : "");
		session_unref(w[i].s);
	}
	o->pending -= n;
}

/* ------------------------------------------------------------ FSM */

static int index_block(void *ud, const Flexchain__Block *b)
{
	struct fc_orderer *o = ud;

	for (size_t i = 0; i < b->n_envelopes; i++) {
		const Flexchain__Envelope *e = b->envelopes[i];
		if (!e->proposal || !e->proposal->tx_id)
			continue;
		if (fc_ord_txtab_put(&o->txtab, e->proposal->tx_id, FC_ORD_TX_CHAIN,
				     b->header->height) == FC_ENOMEM)
			return FC_ENOMEM;
	}
	return FC_OK;
}

/* Applies a committed entry. Deterministic on every member: a block is
 * appended iff it is the successor of the local chain, which is the same on
 * all members after applying the same log prefix. Stale entries (replayed
 * after a restart, or a deposed leader's proposal that lost the race) are
 * skipped. The result code goes to the proposer's apply callback. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct fc_orderer *o = fsm->data;
	Flexchain__Block *b = NULL;
	uint8_t hash[FC_HASH_LEN];
	char why[FC_ERRMSG_LEN] = "";
	const uint8_t *data = buf->base;
	uint64_t dlen = 0;
	int rc;

	if (buf->len < ENTRY_HDR) {
		rc = FC_EPROTO;
		goto out;
	}
	for (int i = 0; i < 8; i++)
		dlen = dlen << 8 | data[i];
	if (dlen > buf->len - ENTRY_HDR) {
		rc = FC_EPROTO;
		goto out;
	}
	data += ENTRY_HDR;
	rc = fc_wire_decode(&flexchain__block__descriptor, data, (size_t)dlen, FC_WIRE_MAX_BLOCK,
			    (ProtobufCMessage **)&b, why);
	if (rc != FC_OK)
		goto out;
	if (!b->header) {
		rc = FC_EPROTO;
		goto out;
	}
	if (b->header->height < o->log.n) {
		rc = FC_EEXIST; /* already in the chain */
		goto out;
	}
	rc = fc_ord_block_verify(o->cs, b, o->log.n, o->log.tip, hash, why);
	if (rc != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "committed entry skipped", "height=%llu reason=\"%s\"",
		       (unsigned long long)b->header->height, why);
		goto out;
	}
	rc = fc_ord_blocklog_append(&o->log, data, (size_t)dlen, hash, why);
	if (rc != FC_OK) {
		/* The local chain can no longer follow the cluster: stop. */
		fc_log(FC_LOG_ERROR, COMP, "block log append failed", "height=%llu reason=\"%s\"",
		       (unsigned long long)b->header->height, why);
		o->fatal = rc;
		goto out;
	}
	if (index_block(o, b) != FC_OK) {
		o->fatal = FC_ENOMEM;
		rc = FC_ENOMEM;
		goto out;
	}
	fc_log(FC_LOG_DEBUG, COMP, "block committed", "height=%llu txs=%zu",
	       (unsigned long long)b->header->height, b->n_envelopes);
	for (struct session *s = o->subs; s; s = s->next)
		deliver_push(s);
	fc_ord_decider_block(o->dec, b->header->height);
out:
	fc_wire_free((ProtobufCMessage *)b);
	*result = (void *)(intptr_t)rc;
	return 0;
}

/* The Raft snapshot records only the chain tip: the blocks themselves are in
 * the block log. A member so far behind that the leader compacted the
 * entries it misses receives a snapshot beyond its chain: it then fetches
 * the missing blocks from the other orderers through delivery (blocking the
 * loop meanwhile: rare, and nothing else can progress before it is done),
 * verifying each as the successor of its chain. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fc_orderer *o = fsm->data;
	uint8_t *p = raft_malloc(8 + FC_HASH_LEN);

	*bufs = raft_malloc(sizeof **bufs);
	if (!p || !*bufs) {
		raft_free(p);
		raft_free(*bufs);
		return RAFT_NOMEM;
	}
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(o->log.n >> (56 - 8 * i));
	memcpy(p + 8, o->log.tip, FC_HASH_LEN);
	(*bufs)[0].base = p;
	(*bufs)[0].len = 8 + FC_HASH_LEN;
	*n_bufs = 1;
	return 0;
}

/* Fetches blocks log.n..want-1 from orderer idx. */
static int catch_up_from(struct fc_orderer *o, size_t idx, uint64_t want, char *why)
{
	const struct fc_config_node *peer = &o->cfg->orderers[idx];
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__DeliverRequest dr = FLEXCHAIN__DELIVER_REQUEST__INIT;
	struct fc_netc *c = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	rc = fc_netc_connect(peer->host, peer->port, 2000, &c, why);
	if (rc != FC_OK)
		return rc;
	dr.from_height = o->log.n;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST;
	m.deliver_request = &dr;
	rc = fc_wire_encode(&m.base, &buf, &len, why);
	if (rc == FC_OK)
		rc = fc_netc_send(c, buf, len, 5000, why);
	fc_free(buf);
	while (rc == FC_OK && o->log.n < want) {
		uint8_t hash[FC_HASH_LEN];

		buf = NULL;
		rc = fc_netc_recv(c, &buf, &len, o->cfg->network.max_frame_bytes, 5000, why);
		if (rc == FC_OK)
			rc = fc_ctl_decode(buf, len, FC_WIRE_MAX_MSG, &r, why);
		fc_free(buf);
		buf = NULL;
		if (rc != FC_OK)
			break;
		if (r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK) {
			rc = fc_errf(why, FC_EPROTO, "unexpected message %d", (int)r->body_case);
		} else {
			rc = fc_ord_block_verify(o->cs, r->block, o->log.n, o->log.tip, hash, why);
			if (rc == FC_OK)
				rc = fc_wire_encode(&r->block->base, &buf, &len, why);
			if (rc == FC_OK)
				rc = fc_ord_blocklog_append(&o->log, buf, len, hash, why);
			if (rc == FC_OK)
				rc = index_block(o, r->block);
			fc_free(buf);
		}
		fc_wire_free(&r->base);
		r = NULL;
	}
	fc_netc_close(c);
	return rc;
}

static int catch_up(struct fc_orderer *o, uint64_t want, const uint8_t *tip)
{
	char why[FC_ERRMSG_LEN] = "";
	raft_id lid = 0;
	const char *laddr = NULL;
	int rc = FC_EAGAIN;

	fc_log(FC_LOG_INFO, COMP, "catching up", "local_blocks=%llu snapshot_blocks=%llu",
	       (unsigned long long)o->log.n, (unsigned long long)want);
	if (o->raft_started)
		raft_leader(&o->raft, &lid, &laddr);
	/* The leader first: it has everything committed. */
	for (size_t k = 0; k <= o->cfg->n_orderers && o->log.n < want; k++) {
		size_t idx = k == 0 ? (size_t)(lid ? lid - 1 : o->raft_id - 1) : k - 1;
		if (idx == o->raft_id - 1 || idx >= o->cfg->n_orderers)
			continue;
		why[0] = '\0';
		rc = catch_up_from(o, idx, want, why);
		if (o->log.n < want)
			fc_log(FC_LOG_WARN, COMP, "catch-up incomplete",
			       "from=%s blocks=%llu reason=\"%s\"", o->cfg->orderers[idx].id,
			       (unsigned long long)o->log.n, why);
	}
	if (o->log.n < want)
		return rc != FC_OK ? rc : FC_EAGAIN;
	if (o->log.n == want && memcmp(o->log.tip, tip, FC_HASH_LEN) != 0)
		return FC_EMISMATCH;
	for (struct session *s = o->subs; s; s = s->next)
		deliver_push(s);
	return FC_OK;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct fc_orderer *o = fsm->data;
	uint64_t n = 0;
	int rc = 0;

	if (buf->len != 8 + FC_HASH_LEN) {
		rc = RAFT_MALFORMED;
		goto out;
	}
	for (int i = 0; i < 8; i++)
		n = n << 8 | ((uint8_t *)buf->base)[i];
	if (n > o->log.n) {
		int frc = catch_up(o, n, (uint8_t *)buf->base + 8);
		if (frc != FC_OK) {
			fc_log(FC_LOG_ERROR, COMP, "snapshot ahead of local chain",
			       "snapshot_blocks=%llu local_blocks=%llu code=%s",
			       (unsigned long long)n, (unsigned long long)o->log.n,
			       fc_strerror(frc));
			rc = RAFT_IOERR;
		}
	}
out:
	if (rc == 0)
		raft_free(buf->base);
	return rc;
}

/* ------------------------------------------------------------ cutting */

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct fc_orderer *o = p->o;
	int code = status ? FC_EAGAIN : (int)(intptr_t)result;
	char msg[160];

	o->inflight--;
	if (code != FC_OK) {
		snprintf(msg, sizeof msg, "block %llu not ordered: %s",
			 (unsigned long long)p->height,
			 status ? raft_strerror(status) : fc_strerror(code));
		fc_log(FC_LOG_WARN, COMP, "proposal failed", "height=%llu reason=\"%s\"",
		       (unsigned long long)p->height, msg);
		/* Our proposed tip is no longer trustworthy: resynchronise
		 * through a barrier before cutting again. */
		o->ready = 0;
		finish_waiters(o, p->w, p->n, FC_EAGAIN, msg);
	} else {
		finish_waiters(o, p->w, p->n, FC_OK, NULL);
	}
	fc_free(p->w);
	fc_free(p);
}

/* Frees the batch's envelopes and empties it; the waiters (o->bw) are the
 * caller's: moved to a proposal or finished by drop_batch. */
static void clear_batch(struct fc_orderer *o)
{
	for (size_t i = 0; i < o->bn; i++)
		fc_wire_free(&o->benv[i]->base);
	fc_free(o->benv);
	o->benv = NULL;
	o->bn = o->bcap = 0;
	fc_ord_cutter_reset(&o->cutter);
}

/* Answers the batch's waiters with code (FC_EAGAIN when this member is not,
 * or no longer, a ready leader) and drops the batch. */
static void drop_batch(struct fc_orderer *o, int code, const char *why)
{
	finish_waiters(o, o->bw, o->bn, code, why);
	fc_free(o->bw);
	o->bw = NULL;
	clear_batch(o);
}

/* Proposes the current batch (possibly empty: the genesis block). */
static void cut(struct fc_orderer *o)
{
	struct proposal *p = NULL;
	struct raft_buffer rb;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint8_t hash[FC_HASH_LEN];
	char why[FC_ERRMSG_LEN] = "";
	int rc;

	if (!o->ready || o->inflight >= o->opts.max_inflight)
		return;
	rc = fc_ord_block_make(o->prop_height, o->prop_hash, o->benv, o->bn, fc_ord_now_ms(),
			       o->cert_der, o->cert_len, o->key, &buf, &len, hash, why);
	if (rc != FC_OK)
		goto fail;
	p = fc_calloc(1, sizeof *p);
	rb.len = ENTRY_HDR + ((len + 7u) & ~(size_t)7u);
	rb.base = raft_malloc(rb.len);
	if (!p || !rb.base) {
		raft_free(rb.base);
		rc = fc_errf(why, FC_ENOMEM, "out of memory");
		goto fail;
	}
	memset(rb.base, 0, rb.len);
	for (int i = 0; i < 8; i++)
		((uint8_t *)rb.base)[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	memcpy((uint8_t *)rb.base + ENTRY_HDR, buf, len);
	p->o = o;
	p->height = o->prop_height;
	p->w = o->bw;
	p->n = o->bn;
	p->req.data = p;
	rc = raft_apply(&o->raft, &p->req, &rb, 1, apply_cb);
	if (rc != 0) {
		raft_free(rb.base);
		rc = fc_errf(why, FC_EAGAIN, "raft apply: %s", raft_strerror(rc));
		o->ready = 0;
		goto fail;
	}
	fc_log(FC_LOG_DEBUG, COMP, "block proposed", "height=%llu txs=%zu bytes=%zu",
	       (unsigned long long)o->prop_height, o->bn, len);
	o->inflight++;
	o->prop_height++;
	memcpy(o->prop_hash, hash, FC_HASH_LEN);
	/* The waiters moved to the proposal. */
	o->bw = NULL;
	clear_batch(o);
	fc_free(buf);
	return;
fail:
	fc_log(FC_LOG_WARN, COMP, "cut failed", "height=%llu reason=\"%s\"",
	       (unsigned long long)o->prop_height, why);
	fc_free(p);
	fc_free(buf);
	/* Refuse the batch rather than retry a block we cannot build. */
	drop_batch(o, rc, why);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct fc_orderer *o = req->data;

	o->barrier_pending = 0;
	if (o->stopping)
		return;
	if (status != 0 || raft_state(&o->raft) != RAFT_LEADER) {
		fc_log(FC_LOG_INFO, COMP, "barrier failed", "reason=\"%s\"",
		       status ? raft_strerror(status) : "not leader");
		return;
	}
	/* Everything committed before our term is applied: the chain tip is
	 * final and we continue from it. */
	o->ready = 1;
	o->prop_height = o->log.n;
	memcpy(o->prop_hash, o->log.tip, FC_HASH_LEN);
	fc_log(FC_LOG_INFO, COMP, "became leader", "id=%s height=%llu", o->self->id,
	       (unsigned long long)o->log.n);
	fc_ord_decider_lead(o->dec, o->log.n);
	if (o->prop_height == 0)
		cut(o); /* genesis */
}

static void stop_now(struct fc_orderer *o);

static void on_tick(uv_timer_t *t)
{
	struct fc_orderer *o = t->data;
	int leader;

	if (o->stopping)
		return;
	if (o->fatal) {
		fc_log(FC_LOG_ERROR, COMP, "stopping after fatal error", "code=%s",
		       fc_strerror(o->fatal));
		stop_now(o);
		return;
	}
	leader = raft_state(&o->raft) == RAFT_LEADER;
	fc_ord_decider_tick(o->dec, fc_ord_now_ms());
	if (!leader) {
		fc_ord_decider_unlead(o->dec);
		if (o->was_leader)
			fc_log(FC_LOG_INFO, COMP, "lost leadership", "id=%s", o->self->id);
		o->was_leader = 0;
		o->ready = 0;
		if (o->bn)
			drop_batch(o, FC_EAGAIN, "leadership lost");
		return;
	}
	o->was_leader = 1;
	if (!o->ready) {
		if (o->bn)
			drop_batch(o, FC_EAGAIN, "leader not ready");
		if (!o->barrier_pending && o->inflight == 0) {
			o->barrier.data = o;
			if (raft_barrier(&o->raft, &o->barrier, barrier_cb) == 0)
				o->barrier_pending = 1;
		}
		return;
	}
	if (o->bn &&
	    (fc_ord_cutter_expired(&o->cutter, fc_ord_now_ms()) || o->bn >= o->cutter.max_txs))
		cut(o);
}

/* ------------------------------------------------------------ intake */

static int batch_push(struct fc_orderer *o, Flexchain__Envelope *env, struct session *s,
		      uint64_t rid, const char *txid)
{
	if (o->bn == o->bcap) {
		size_t cap = o->bcap ? o->bcap * 2 : 64;
		Flexchain__Envelope **e = fc_realloc(o->benv, cap * sizeof *e);
		if (!e)
			return FC_ENOMEM;
		o->benv = e;
		struct waiter *w = fc_realloc(o->bw, cap * sizeof *w);
		if (!w)
			return FC_ENOMEM;
		o->bw = w;
		o->bcap = cap;
	}
	o->benv[o->bn] = env;
	o->bw[o->bn].s = s;
	o->bw[o->bn].rid = rid;
	memcpy(o->bw[o->bn].txid, txid, sizeof o->bw[o->bn].txid);
	o->bn++;
	s->refs++;
	o->pending++;
	return FC_OK;
}

/* Takes ownership of env. */
static void on_envelope(struct fc_orderer *o, struct session *s, uint64_t rid,
			Flexchain__Envelope *env)
{
	char txid[FC_TXID_HEX_LEN + 1] = "";
	char why[FC_ERRMSG_LEN] = "";
	char leader[ADDR_MAX];
	const char *tid = env->proposal && env->proposal->tx_id ? env->proposal->tx_id : "";
	size_t size;
	int rc;

	if (!o->ready) {
		leader_addr(o, leader, sizeof leader);
		reply_submit(s, rid, tid, FC_EAGAIN,
			     raft_state(&o->raft) == RAFT_LEADER ? "leader not ready"
								 : "not the leader",
			     leader);
		goto free_env;
	}
	rc = fc_ord_intake_check(o->cs, env, o->cfg->block_cutting.max_bytes, txid, why);
	if (rc != FC_OK) {
		reply_submit(s, rid, tid, rc, why, "");
		goto free_env;
	}
	rc = fc_ord_intake_dedup(&o->txtab, txid, why);
	if (rc != FC_OK) {
		reply_submit(s, rid, txid, rc, why, "");
		goto free_env;
	}
	if (o->pending >= o->opts.max_pending) {
		reply_submit(s, rid, txid, FC_EBUSY, "orderer busy, retry", "");
		goto free_env;
	}
	size = protobuf_c_message_get_packed_size(&env->base);
	/* A full batch waits for a proposal slot (max_inflight); it never
	 * grows past max_txs or max_bytes meanwhile. */
	if (o->bn >= o->cutter.max_txs ||
	    fc_ord_cutter_offer(&o->cutter, size) == FC_ORD_CUT_BEFORE)
		cut(o);
	if (o->bn >= o->cutter.max_txs ||
	    fc_ord_cutter_offer(&o->cutter, size) == FC_ORD_CUT_BEFORE) {
		reply_submit(s, rid, txid, FC_EBUSY, "orderer busy, retry", "");
		goto free_env;
	}
	if (fc_ord_txtab_put(&o->txtab, txid, FC_ORD_TX_PENDING, 0) != FC_OK ||
	    batch_push(o, env, s, rid, txid) != FC_OK) {
		fc_ord_txtab_del(&o->txtab, txid);
		reply_submit(s, rid, txid, FC_ENOMEM, "out of memory", "");
		goto free_env;
	}
	fc_ord_cutter_add(&o->cutter, size, fc_ord_now_ms());
	if (o->bn >= o->cutter.max_txs || o->cutter.bytes >= o->cutter.max_bytes)
		cut(o);
	return;
free_env:
	fc_wire_free(&env->base);
}

/* ------------------------------------------------------------ delivery */

/* A Block frame built around the stored bytes without re-encoding:
 * ControlMessage{request_id (field 1, varint), block (field 12, bytes)}. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

static void deliver_push(struct session *s)
{
	struct fc_orderer *o = s->o;

	while (s->conn && s->delivering && s->next_height < o->log.n) {
		uint8_t *blk = NULL, *frame;
		size_t blen = 0, n = 0;
		int rc;

		if (fc_conn_send_queued(s->conn) >= FC_NET_DEFAULT_SEND_HWM / 2)
			return; /* on_drain resumes */
		if (fc_ord_blocklog_read(&o->log, s->next_height, &blk, &blen, NULL) != FC_OK) {
			fc_conn_close(s->conn);
			return;
		}
		frame = fc_malloc(blen + 24);
		if (!frame) {
			fc_free(blk);
			return;
		}
		if (s->deliver_rid) {
			frame[n++] = 0x08;
			n += put_varint(frame + n, s->deliver_rid);
		}
		frame[n++] = (12u << 3) | 2u;
		n += put_varint(frame + n, blen);
		memcpy(frame + n, blk, blen);
		n += blen;
		fc_free(blk);
		rc = fc_conn_send_owned(s->conn, frame, n);
		if (rc != FC_OK) {
			fc_free(frame);
			if (rc != FC_EBUSY)
				fc_conn_close(s->conn);
			return;
		}
		s->next_height++;
	}
}

static void on_deliver(struct fc_orderer *o, struct session *s, uint64_t rid,
		       const Flexchain__DeliverRequest *req)
{
	s->next_height = req->from_height;
	s->deliver_rid = rid;
	s->with_decisions = req->with_decisions;
	if (!s->delivering) {
		s->delivering = 1;
		s->prev = NULL;
		s->next = o->subs;
		if (o->subs)
			o->subs->prev = s;
		o->subs = s;
	}
	deliver_push(s);
}

static void on_height(struct fc_orderer *o, struct session *s, uint64_t rid)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__HeightInfo h = FLEXCHAIN__HEIGHT_INFO__INIT;

	h.empty = o->log.n == 0;
	h.applied_height = o->log.n ? o->log.n - 1 : 0;
	h.last_hash = (ProtobufCBinaryData){FC_HASH_LEN, o->log.tip};
	h.node_id = o->self->id;
	m.request_id = rid;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO;
	m.height_info = &h;
	send_msg(s, &m);
}

/* Discovery: the registry of compute servers is the leader's; a follower
 * redirects as it does for Register. */
static void on_compute_query(struct fc_orderer *o, struct session *s, uint64_t rid)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__ComputeList l;

	if (!o->ready) {
		char leader[ADDR_MAX];
		leader_addr(o, leader, sizeof leader);
		reply_submit(s, rid, "", FC_EAGAIN, "not the leader", leader);
		return;
	}
	if (fc_ord_decider_compute_list(o->dec, &l) != FC_OK) {
		reply_error(s, rid, FC_ENOMEM, "orderer: out of memory");
		return;
	}
	m.request_id = rid;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_COMPUTE_LIST;
	m.compute_list = &l;
	send_msg(s, &m);
	fc_ord_decider_compute_list_free(&l);
}

/* ------------------------------------------------------------ sessions */

static void on_accept(struct fc_conn *conn, void *ud)
{
	struct fc_orderer *o = ud;
	struct session *s = fc_calloc(1, sizeof *s);

	if (!s) {
		fc_conn_close(conn);
		return;
	}
	s->o = o;
	s->conn = conn;
	s->refs = 1;
	fc_conn_set_data(conn, s);
}

static void on_frame(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud)
{
	struct session *s = ud;
	struct fc_orderer *o;
	Flexchain__ControlMessage *m = NULL;
	char why[FC_ERRMSG_LEN] = "";
	int rc;

	if (!s || s->o->stopping)
		return;
	o = s->o;
	rc = fc_ctl_decode(payload, len, o->cfg->network.max_frame_bytes, &m, why);
	if (rc != FC_OK) {
		reply_error(s, 0, rc, why);
		return;
	}
	switch (m->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE: {
		Flexchain__Envelope *env = m->envelope;
		/* Detach the envelope so that it outlives the message. */
		m->envelope = NULL;
		m->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
		on_envelope(o, s, m->request_id, env);
		break;
	}
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST:
		on_deliver(o, s, m->request_id, m->deliver_request);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_REGISTER:
		if (!o->ready) {
			char leader[ADDR_MAX];
			leader_addr(o, leader, sizeof leader);
			reply_submit(s, m->request_id, "", FC_EAGAIN, "not the leader", leader);
			break;
		}
		rc = fc_ord_decider_register(o->dec, conn, m->register_, why);
		reply_submit(s, m->request_id, "", rc, rc ? why : "", "");
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_HEARTBEAT:
		fc_ord_decider_heartbeat(o->dec, conn, m->heartbeat);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_DEREGISTER:
		fc_ord_decider_deregister(o->dec, conn, m->deregister);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_VERDICT:
		fc_ord_decider_verdict(o->dec, conn, m->verdict);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY:
		on_height(o, s, m->request_id);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_COMPUTE_QUERY:
		on_compute_query(o, s, m->request_id);
		break;
	default:
		reply_error(s, m->request_id, FC_EUNSUPPORTED, "orderer: unsupported request");
		break;
	}
	fc_wire_free(&m->base);
}

static void on_drain(struct fc_conn *conn, void *ud)
{
	struct session *s = ud;

	if (s)
		deliver_push(s);
}

static void on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct session *s = ud;

	if (!s)
		return;
	fc_ord_decider_conn_closed(s->o->dec, conn);
	if (s->delivering) {
		if (s->prev)
			s->prev->next = s->next;
		else
			s->o->subs = s->next;
		if (s->next)
			s->next->prev = s->prev;
		s->delivering = 0;
	}
	s->conn = NULL;
	session_unref(s);
}

/* ------------------------------------------------------------ decisions */

static int dec_read_block(void *ud, uint64_t height, uint8_t **buf, size_t *len)
{
	struct fc_orderer *o = ud;

	return fc_ord_blocklog_read(&o->log, height, buf, len, NULL);
}

/* Decision then one CommitEvent per transaction, to every subscriber that
 * asked for decisions. */
static void dec_publish(void *ud, const Flexchain__Block *b, const Flexchain__Verdict *v,
			const Flexchain__CommitCertificate *cert)
{
	struct fc_orderer *o = ud;
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Decision dec = FLEXCHAIN__DECISION__INIT;
	Flexchain__CommitEvent ev = FLEXCHAIN__COMMIT_EVENT__INIT;

	fc_log(FC_LOG_DEBUG, COMP, "block decided", "height=%llu storage_validated=%d",
	       (unsigned long long)b->header->height, cert->storage_validated);
	o->stats.blocks_decided++;
	if (cert->storage_validated)
		o->stats.blocks_storage_validated++;
	for (size_t i = 0; i < v->tx_status.len; i++)
		if (v->tx_status.data[i] < 8)
			o->stats.txs_by_status[v->tx_status.data[i]]++;
	dec.height = b->header->height;
	dec.verdict = (Flexchain__Verdict *)v;
	dec.certificate = (Flexchain__CommitCertificate *)cert;
	for (struct session *s = o->subs; s; s = s->next) {
		if (!s->with_decisions)
			continue;
		m.request_id = s->deliver_rid;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DECISION;
		m.decision = &dec;
		send_msg(s, &m);
		for (size_t i = 0; i < b->n_envelopes && i < v->tx_status.len; i++) {
			ev.tx_id = b->envelopes[i]->proposal->tx_id;
			ev.height = b->header->height;
			ev.index = (uint32_t)i;
			ev.status = (Flexchain__TxStatus)v->tx_status.data[i];
			m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_COMMIT_EVENT;
			m.commit_event = &ev;
			send_msg(s, &m);
		}
	}
}

/* ------------------------------------------------------------ lifecycle */

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof tmp)
		return FC_EINVAL;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return fc_err_from_errno(errno);
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return fc_err_from_errno(errno);
	return FC_OK;
}

int fc_orderer_create(uv_loop_t *loop, const struct fc_config *cfg, const char *id,
		      const struct fc_orderer_opts *opts, struct fc_orderer **out, char *errmsg)
{
	struct fc_orderer *o;
	int rc;

	*out = NULL;
	o = fc_calloc(1, sizeof *o);
	if (!o)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	o->loop = loop;
	o->cfg = cfg;
	o->log.fd = -1;
	if (opts)
		o->opts = *opts;
	if (!o->opts.election_timeout_ms)
		o->opts.election_timeout_ms = 1000;
	if (!o->opts.heartbeat_timeout_ms)
		o->opts.heartbeat_timeout_ms = 100;
	if (!o->opts.max_inflight)
		o->opts.max_inflight = 8;
	if (!o->opts.max_pending)
		o->opts.max_pending = 8 * cfg->block_cutting.max_txs;
	if (!o->opts.snapshot_threshold)
		o->opts.snapshot_threshold = 256;
	if (!o->opts.snapshot_trailing)
		o->opts.snapshot_trailing = 128;
	if (!o->opts.txid_window)
		o->opts.txid_window = FC_ORD_TXID_WINDOW_DEFAULT;
	o->self = fc_config_find_node_kind(cfg, FC_NODE_ORDERER, id);
	if (!o->self) {
		rc = fc_errf(errmsg, FC_ENOTFOUND, "no orderer %s in %s", id, cfg->path);
		goto fail;
	}
	o->raft_id = o->self->index + 1;
	snprintf(o->raft_addr, sizeof o->raft_addr, "%s:%u", o->self->host,
		 (unsigned)o->self->raft_port);
	if ((size_t)snprintf(o->dir, sizeof o->dir, "%s", o->self->data_dir) >= sizeof o->dir ||
	    (size_t)snprintf(o->raft_dir, sizeof o->raft_dir, "%s/raft", o->self->data_dir) >=
		sizeof o->raft_dir) {
		rc = fc_errf(errmsg, FC_ETOOBIG, "data_dir too long");
		goto fail;
	}
	rc = mkdir_p(o->raft_dir);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "mkdir %s: %s", o->raft_dir, strerror(errno));
		goto fail;
	}
	rc = fc_identity_load(cfg->crypto_dir, o->self->org, FC_IDENTITY_ROLE_ORDERER, id, &o->cert,
			      &o->key, errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, rc, "orderer %s: identity", id);
		goto fail;
	}
	o->cert_der = fc_crypto_cert_der(o->cert, &o->cert_len);
	rc = fc_crypto_castore_create(0, &o->cs, errmsg);
	if (rc != FC_OK)
		goto fail;
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		rc = fc_crypto_castore_add_pem(o->cs, cfg->orgs[i].name, cfg->orgs[i].ca_cert,
					       errmsg);
		if (rc != FC_OK) {
			rc = fc_errwrap(errmsg, rc, "orderer %s: CA of %s", id, cfg->orgs[i].name);
			goto fail;
		}
	}
	rc = fc_ord_txtab_init(&o->txtab, o->opts.txid_window);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "out of memory");
		goto fail;
	}
	rc = fc_ord_blocklog_open(&o->log, o->dir, index_block, o, errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, rc, "orderer %s: block log", id);
		goto fail;
	}
	fc_ord_cutter_init(&o->cutter, cfg->block_cutting.max_txs, cfg->block_cutting.max_bytes,
			   cfg->block_cutting.timeout_ms);
	{
		struct fc_ord_decider_env env = {
		    .loop = loop,
		    .cfg = cfg,
		    .cs = o->cs,
		    .cert = o->cert,
		    .key = o->key,
		    .read_block = dec_read_block,
		    .publish = dec_publish,
		    .ud = o,
		};
		rc = fc_ord_decider_create(&env, &o->dec, errmsg);
		if (rc != FC_OK) {
			rc = fc_errwrap(errmsg, rc, "orderer %s: decider", id);
			goto fail;
		}
	}
	*out = o;
	return FC_OK;
fail:
	fc_orderer_destroy(o);
	return rc;
}

int fc_orderer_start(struct fc_orderer *o, char *errmsg)
{
	static const struct fc_net_cbs cbs = {
	    .on_accept = on_accept,
	    .on_frame = on_frame,
	    .on_drain = on_drain,
	    .on_close = on_close,
	};
	struct fc_net_opts nopts = {.max_frame_bytes = o->cfg->network.max_frame_bytes};
	struct raft_configuration conf;
	int rc;

	rc = raft_uv_tcp_init(&o->transport, o->loop);
	if (rc != 0)
		return fc_errf(errmsg, FC_EIO, "raft transport: %s", raft_strerror(rc));
	o->transport_inited = 1;
	rc = raft_uv_init(&o->io, o->loop, o->raft_dir, &o->transport);
	if (rc != 0)
		return fc_errf(errmsg, FC_EIO, "raft io %s: %s", o->raft_dir, raft_strerror(rc));
	o->io_inited = 1;
	o->fsm.version = 1;
	o->fsm.data = o;
	o->fsm.apply = fsm_apply;
	o->fsm.snapshot = fsm_snapshot;
	o->fsm.restore = fsm_restore;
	rc = raft_init(&o->raft, &o->io, &o->fsm, o->raft_id, o->raft_addr);
	if (rc != 0)
		return fc_errf(errmsg, FC_EIO, "raft init: %s", raft_errmsg(&o->raft));
	o->raft_inited = 1;
	raft_configuration_init(&conf);
	for (size_t i = 0; i < o->cfg->n_orderers; i++) {
		char addr[ADDR_MAX];
		const struct fc_config_node *n = &o->cfg->orderers[i];
		snprintf(addr, sizeof addr, "%s:%u", n->host, (unsigned)n->raft_port);
		rc = raft_configuration_add(&conf, i + 1, addr, RAFT_VOTER);
		if (rc != 0) {
			raft_configuration_close(&conf);
			return fc_errf(errmsg, FC_ENOMEM, "raft configuration: %s",
				       raft_strerror(rc));
		}
	}
	rc = raft_bootstrap(&o->raft, &conf);
	raft_configuration_close(&conf);
	if (rc != 0 && rc != RAFT_CANTBOOTSTRAP)
		return fc_errf(errmsg, FC_EIO, "raft bootstrap: %s", raft_errmsg(&o->raft));
	raft_set_election_timeout(&o->raft, o->opts.election_timeout_ms);
	raft_set_heartbeat_timeout(&o->raft, o->opts.heartbeat_timeout_ms);
	/* Raft keeps its log in memory up to a snapshot: snapshot often (the
	 * snapshot is only the chain tip) and keep a tail for slow followers. */
	raft_set_snapshot_threshold(&o->raft, o->opts.snapshot_threshold);
	raft_set_snapshot_trailing(&o->raft, o->opts.snapshot_trailing);
	raft_set_pre_vote(&o->raft, true);
	raft_uv_set_connect_retry_delay(&o->io, 100);
	rc = raft_start(&o->raft);
	if (rc != 0)
		return fc_errf(errmsg, FC_EIO, "raft start: %s", raft_errmsg(&o->raft));
	o->raft_started = 1;
	rc = fc_net_listen(o->loop, o->self->host, o->self->port, &nopts, &cbs, o, &o->srv, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "orderer %s: listen", o->self->id);
	uv_timer_init(o->loop, &o->tick);
	o->tick.data = o;
	o->tick_inited = 1;
	uv_timer_start(&o->tick, on_tick, TICK_MS, TICK_MS);
	fc_log(FC_LOG_INFO, COMP, "started", "id=%s raft_id=%llu raft=%s client=%s:%u height=%llu",
	       o->self->id, (unsigned long long)o->raft_id, o->raft_addr, o->self->host,
	       (unsigned)o->self->port, (unsigned long long)o->log.n);
	return FC_OK;
}

static void one_closed(struct fc_orderer *o)
{
	if (--o->closes_left == 0 && o->stop_cb)
		o->stop_cb(o->stop_ud);
}

static void srv_closed(void *ud)
{
	one_closed(ud);
}

static void decider_stopped(void *ud)
{
	one_closed(ud);
}

static void tick_closed(uv_handle_t *h)
{
	one_closed(h->data);
}

static void transport_closed(struct raft_uv_transport *t)
{
	(void)t;
}

static void raft_closed(struct raft *r)
{
	struct fc_orderer *o = r->data;

	raft_uv_close(&o->io);
	raft_uv_tcp_close(&o->transport);
	o->io_inited = o->transport_inited = 0;
	o->raft_inited = o->raft_started = 0;
	one_closed(o);
}

static void stop_now(struct fc_orderer *o)
{
	fc_orderer_stop(o, o->stop_cb, o->stop_ud);
}

void fc_orderer_stop(struct fc_orderer *o, void (*cb)(void *ud), void *ud)
{
	(void)transport_closed;
	if (o->stopping)
		return;
	o->stopping = 1;
	o->stop_cb = cb;
	o->stop_ud = ud;
	o->closes_left = 1; /* released below */
	drop_batch(o, FC_EAGAIN, "orderer stopping");
	if (o->dec) {
		o->closes_left++;
		fc_ord_decider_stop(o->dec, decider_stopped, o);
	}
	if (o->srv) {
		o->closes_left++;
		fc_net_server_close(o->srv, srv_closed, o);
		o->srv = NULL;
	}
	if (o->tick_inited) {
		o->closes_left++;
		uv_timer_stop(&o->tick);
		uv_close((uv_handle_t *)&o->tick, tick_closed);
		o->tick_inited = 0;
	}
	if (o->raft_inited) {
		o->closes_left++;
		o->raft.data = o;
		raft_close(&o->raft, raft_closed);
	} else {
		if (o->io_inited)
			raft_uv_close(&o->io);
		if (o->transport_inited)
			raft_uv_tcp_close(&o->transport);
		o->io_inited = o->transport_inited = 0;
	}
	one_closed(o);
}

void fc_orderer_destroy(struct fc_orderer *o)
{
	if (!o)
		return;
	fc_ord_decider_destroy(o->dec);
	fc_ord_blocklog_close(&o->log);
	fc_ord_txtab_destroy(&o->txtab);
	fc_crypto_castore_destroy(o->cs);
	fc_crypto_key_free(o->key);
	fc_crypto_cert_free(o->cert);
	fc_free(o);
}

uint64_t fc_orderer_height(const struct fc_orderer *o)
{
	return o->log.n;
}

int fc_orderer_is_leader(const struct fc_orderer *o)
{
	return o->ready;
}

void fc_orderer_stats(const struct fc_orderer *o, struct fc_orderer_stats *out)
{
	*out = o->stats;
	out->raft_term = (uint64_t)o->raft.current_term;
	out->live_compute = o->ready && o->dec ? fc_ord_decider_live(o->dec) : 0;
}
