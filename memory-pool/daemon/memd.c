/* flexchain-memory: one memory node (DESIGN.md "State tiers").
 *
 * One thread runs everything that writes the region: a libuv loop serving
 * the control plane. Reads never reach it (one-sided, served by the data
 * plane). Because appends (V3), loads and shard-map switches all run on this
 * one thread, a load's storage answer and the blocks applied around it are
 * never interleaved: the storage pool applies every block before the memory
 * pool hears of it, so its answer is at least as new as what we applied, and
 * inserting it only when newer (per-key version check) never moves a key
 * backwards.
 *
 * Messages served (ControlMessage):
 *   ledger_append  -> ledger_ack{height, code, replica = node id}
 *   mem_load_request -> state_reply (or error)
 *   access_report  -> nothing (hints for eviction)
 *   height_query   -> height_info{applied_height, empty, node_id}
 */
#include <signal.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_mempool.h"
#include "fc_net.h"
#include "fc_wire.h"
#include "memd.h"

#define COMP "memd"
#define TIMER_MS 100
#define CATCHUP_BATCH 64
#define MEMD_GRACE_MS 100
#define APPLY_TRIES 100
#define LOAD_TRIES                                                                                 \
	10 /* EBUSY retries of one load's inserts */ /* EBUSY retries of one block, ~20 ms apart   \
						      */

struct memd {
	const struct fc_config *cfg;
	struct memd_conf conf;
	struct fc_mempool *mp;
	struct memd_store *st;
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	uv_timer_t timer;
	struct fc_net_server *srv;
	int closing;

	/* the shard map this node follows */
	uint64_t map_version;
	uint64_t *map_h; /* fc_mempool_node_hash per node */
	size_t map_n;
	uint64_t self_h;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- shard map ----------------------------------------------------------- */

static int owns(struct memd *d, const void *key, size_t klen)
{
	if (d->map_n == 0)
		return 0;
	return d->map_h[fc_mempool_shard_pick(key, klen, d->map_h, d->map_n)] == d->self_h;
}

static int keep_owned(void *ud, const void *key, uint32_t klen)
{
	return owns(ud, key, klen);
}

static int map_set(struct memd *d, uint64_t version, const char *const *ids, size_t n)
{
	uint64_t *h = fc_calloc(n ? n : 1, sizeof *h);

	if (!h)
		return FC_ENOMEM;
	for (size_t i = 0; i < n; i++)
		h[i] = fc_mempool_node_hash(ids[i]);
	fc_free(d->map_h);
	d->map_h = h;
	d->map_n = n;
	d->map_version = version;
	return FC_OK;
}

/* A VALID config transaction carried a newer shard map: keys that moved to
 * us are not here (our buckets become incomplete: they load on demand from
 * the storage pool), keys that moved away are dropped. */
static void map_switch(struct memd *d, const Flexchain__ShardMap *sm)
{
	const char **ids;
	size_t dropped = 0;
	int in_new = 0;

	if (!sm || sm->version <= d->map_version)
		return;
	ids = fc_calloc(sm->n_memory_nodes ? sm->n_memory_nodes : 1, sizeof *ids);
	if (!ids) {
		fc_log(FC_LOG_ERROR, COMP, "shard map not applied", "version=%llu err=ENOMEM",
		       (unsigned long long)sm->version);
		return;
	}
	for (size_t i = 0; i < sm->n_memory_nodes; i++) {
		ids[i] =
		    sm->memory_nodes[i] && sm->memory_nodes[i]->id ? sm->memory_nodes[i]->id : "";
		if (strcmp(ids[i], d->conf.id) == 0)
			in_new = 1;
	}
	/* Incomplete first: a reader routed by the new map must not take a
	 * miss here as proof of absence. */
	if (in_new)
		fc_mempool_mark_all_incomplete(d->mp);
	if (map_set(d, sm->version, ids, sm->n_memory_nodes) != FC_OK) {
		fc_free(ids);
		return;
	}
	fc_free(ids);
	fc_mempool_drop_if(d->mp, keep_owned, d, &dropped);
	fc_log(FC_LOG_INFO, COMP, "shard map switched",
	       "version=%llu nodes=%zu member=%d dropped=%zu", (unsigned long long)sm->version,
	       d->map_n, in_new, dropped);
}

/* ---- applying ------------------------------------------------------------ */

static void relieve(struct memd *d)
{
	if (fc_mempool_fill(d->mp) > d->conf.high_watermark)
		fc_mempool_evict(d->mp, d->conf.low_watermark, NULL);
	fc_mempool_reclaim(d->mp, 0, NULL);
}

/* Follows the chain: a fresh node whose storage pool already holds blocks
 * starts at the storage pool's height with every bucket incomplete. */
static int ensure_started(struct memd *d, char *errmsg)
{
	uint64_t h;
	int empty, rc;

	if (fc_mempool_started(d->mp))
		return FC_OK;
	rc = memd_store_height(d->st, &empty, &h, errmsg);
	if (rc != FC_OK)
		return rc;
	if (empty)
		return FC_OK; /* nothing committed yet: complete, first block next */
	rc = fc_mempool_start_at(d->mp, h, errmsg);
	if (rc == FC_OK)
		fc_log(FC_LOG_INFO, COMP, "following the chain", "from_height=%llu",
		       (unsigned long long)h);
	return rc;
}

/* Applies the valid writes of the keys we own of block b (statuses of its
 * certified verdict) in one batch, then a shard map it carries. */
static int apply_block(struct memd *d, const Flexchain__Block *b, const ProtobufCBinaryData *status,
		       char *errmsg)
{
	uint64_t h = b->header->height;
	struct fc_mempool_write *w = NULL;
	const Flexchain__ShardMap *sm = NULL;
	size_t n = 0, cap = 0;
	int rc = FC_OK;

	for (size_t i = 0; i < b->n_envelopes; i++) {
		const Flexchain__Envelope *env = b->envelopes[i];

		if (i >= status->len || status->data[i] != FLEXCHAIN__TX_STATUS__TX_VALID)
			continue;
		if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && env->config &&
		    env->config->shard_map)
			sm = env->config->shard_map;
		if (!env->rwset)
			continue;
		for (size_t k = 0; k < env->rwset->n_writes; k++) {
			const Flexchain__KVWrite *kw = env->rwset->writes[k];

			if (!owns(d, kw->key.data, kw->key.len))
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				void *p = fc_realloc(w, nc * sizeof *w);

				if (!p) {
					rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
					goto out;
				}
				w = p;
				cap = nc;
			}
			w[n++] = (struct fc_mempool_write){
			    .key = kw->key.data,
			    .key_len = (uint32_t)kw->key.len,
			    .value = kw->value.data,
			    .value_len = (uint32_t)kw->value.len,
			    .version = ((uint64_t)h << 32) | (uint32_t)i,
			    .is_delete = kw->is_delete,
			};
		}
	}
	/* Full region: evict (the block is durable on the storage pool, so is
	 * everything older) and wait out the grace of retired records. */
	for (int t = 0;; t++) {
		rc = fc_mempool_apply(d->mp, h, w, n, errmsg);
		if (rc != FC_EBUSY || t >= APPLY_TRIES)
			break;
		fc_mempool_evict(d->mp, d->conf.low_watermark, NULL);
		sleep_ms(20);
	}
	if (rc == FC_OK)
		map_switch(d, sm);
out:
	fc_free(w);
	return rc;
}

static int catch_up(struct memd *d, uint64_t to, char *errmsg)
{
	struct fc_mempool_stats ps;
	int rc;

	for (;;) {
		Flexchain__BlockReply *br = NULL;
		uint64_t next;

		fc_mempool_stats(d->mp, &ps);
		next = fc_mempool_started(d->mp) ? ps.applied_height + 1 : 0;
		if (next > to)
			return FC_OK;
		rc = memd_store_blocks(
		    d->st, next, to - next + 1 < CATCHUP_BATCH ? to - next + 1 : CATCHUP_BATCH, &br,
		    errmsg);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "catch up from %llu",
					  (unsigned long long)next);
		for (size_t i = 0; i < br->n_blocks && rc == FC_OK; i++) {
			const Flexchain__Block *b = br->blocks[i];
			const Flexchain__Decision *dec = NULL;

			if (!b || !b->header || b->header->height != next + i)
				rc = fc_errf(errmsg, FC_EPROTO, "catch up: unexpected block");
			for (size_t j = 0; rc == FC_OK && j < br->n_decisions; j++)
				if (br->decisions[j] && br->decisions[j]->height == next + i)
					dec = br->decisions[j];
			if (rc == FC_OK && (!dec || !dec->verdict))
				rc = fc_errf(errmsg, FC_EPROTO,
					     "catch up: block %llu without decision",
					     (unsigned long long)(next + i));
			if (rc == FC_OK)
				rc = apply_block(d, b, &dec->verdict->tx_status, errmsg);
			if (rc == FC_OK)
				fc_mempool_set_durable(d->mp, next + i);
		}
		fc_wire_free(&br->base);
		if (rc != FC_OK)
			return rc;
	}
}

static int on_append(struct memd *d, const Flexchain__LedgerAppend *la, uint64_t *height,
		     char *errmsg)
{
	struct fc_mempool_stats ps;
	uint64_t h;
	int rc;

	*height = la && la->block && la->block->header ? la->block->header->height : 0;
	rc = memd_store_verify(d->st, la, errmsg);
	if (rc != FC_OK)
		return rc;
	h = la->block->header->height;
	/* The orderer sends it after the storage write quorum: durable. */
	fc_mempool_set_durable(d->mp, h);
	/* A node that holds nothing is complete for block 0 only; for any
	 * other block it follows from the storage pool's height. */
	if (h > 0 || fc_mempool_started(d->mp)) {
		rc = ensure_started(d, errmsg);
		if (rc != FC_OK)
			return rc;
	}
	fc_mempool_stats(d->mp, &ps);
	if (fc_mempool_started(d->mp) && h <= ps.applied_height)
		return FC_OK;
	if (h > 0 && (!fc_mempool_started(d->mp) || h > ps.applied_height + 1)) {
		rc = catch_up(d, h - 1, errmsg);
		if (rc != FC_OK)
			return rc;
	}
	rc = apply_block(d, la->block, &la->verdict->tx_status, errmsg);
	if (rc == FC_OK)
		relieve(d);
	return rc;
}

/* ---- control plane ------------------------------------------------------- */

static void send_msg(struct fc_conn *conn, Flexchain__ControlMessage *cm)
{
	char em[FC_ERRMSG_LEN] = "";

	if (fc_ctl_send(conn, cm, em) != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "reply dropped", "peer=%s reason=\"%s\"",
		       fc_conn_peer(conn), em);
}

static void reply_error(struct fc_conn *conn, uint64_t id, int code, const char *msg)
{
	Flexchain__ControlMessage cm;
	Flexchain__Error e;

	fc_ctl_error(&cm, &e, id, code, msg);
	send_msg(conn, &cm);
}

static void h_append(struct memd *d, struct fc_conn *conn, uint64_t id,
		     const Flexchain__LedgerAppend *la)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__LedgerAck ack = FLEXCHAIN__LEDGER_ACK__INIT;
	char em[FC_ERRMSG_LEN] = "";
	uint64_t h = 0;
	int rc = on_append(d, la, &h, em);

	if (rc != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "append refused", "height=%llu code=%s reason=\"%s\"",
		       (unsigned long long)h, fc_strerror(rc), em);
	ack.height = h;
	ack.code = (uint32_t)rc;
	ack.message = rc == FC_OK ? "" : em;
	ack.replica = (char *)d->conf.id;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK;
	cm.ledger_ack = &ack;
	send_msg(conn, &cm);
}

static void h_load(struct memd *d, struct fc_conn *conn, uint64_t id,
		   const Flexchain__MemLoadRequest *lr)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__StateReply *sr = NULL;
	struct fc_mempool_write *w = NULL;
	struct fc_mempool_stats ps;
	char em[FC_ERRMSG_LEN] = "";
	size_t n = 0;
	int rc;

	if (!lr || lr->n_keys == 0) {
		reply_error(conn, id, FC_EINVAL, "load: no keys");
		return;
	}
	rc = ensure_started(d, em);
	if (rc == FC_OK) {
		fc_mempool_stats(d->mp, &ps);
		rc = memd_store_state(d->st, lr->keys, lr->n_keys, ps.applied_height, &sr, em);
	}
	if (rc != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "load failed", "keys=%zu reason=\"%s\"", lr->n_keys, em);
		reply_error(conn, id, rc, em);
		return;
	}
	fc_mempool_set_durable(d->mp, sr->applied_height);
	w = fc_calloc(lr->n_keys, sizeof *w);
	for (size_t i = 0; w && i < sr->n_entries; i++) {
		const Flexchain__StateEntry *e = sr->entries[i];
		const ProtobufCBinaryData *k = &lr->keys[i];

		if (!e || k->len == 0 || k->len > FC_MEMPOOL_MAX_KEY || !owns(d, k->data, k->len) ||
		    (e->found && (e->version == 0 || k->len + e->value.len > FC_MEMPOOL_MAX_KV)))
			continue;
		w[n++] = (struct fc_mempool_write){
		    .key = k->data,
		    .key_len = (uint32_t)k->len,
		    .value = e->found ? e->value.data : NULL,
		    .value_len = e->found ? (uint32_t)e->value.len : 0,
		    .version = e->found ? e->version : 0,
		};
	}
	/* Promotion: the reply carries the answer anyway, but a key left out
	 * costs another storage lookup next time, so when the region is full
	 * of records retired by eviction, wait (bounded) for their grace. */
	for (int t = 0; n; t++) {
		rc = fc_mempool_insert(d->mp, w, n, em);
		if (rc != FC_EBUSY || t == LOAD_TRIES) {
			if (rc != FC_OK)
				fc_log(FC_LOG_WARN, COMP, "loaded keys not promoted",
				       "keys=%zu reason=\"%s\"", n, em);
			break;
		}
		fc_mempool_evict(d->mp, d->conf.low_watermark, NULL);
		sleep_ms(MEMD_GRACE_MS / 5);
	}
	fc_free(w);
	relieve(d);
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_REPLY;
	cm.state_reply = sr;
	send_msg(conn, &cm);
	fc_wire_free(&sr->base);
}

static void h_height(struct memd *d, struct fc_conn *conn, uint64_t id)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__HeightInfo hi = FLEXCHAIN__HEIGHT_INFO__INIT;
	struct fc_mempool_stats ps;

	fc_mempool_stats(d->mp, &ps);
	hi.applied_height = ps.applied_height;
	hi.empty = !fc_mempool_started(d->mp);
	hi.node_id = (char *)d->conf.id;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO;
	cm.height_info = &hi;
	send_msg(conn, &cm);
}

static void on_frame(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud)
{
	struct memd *d = ud;
	Flexchain__ControlMessage *cm = NULL;
	char em[FC_ERRMSG_LEN];
	int rc;

	rc = fc_ctl_decode(payload, len,
			   d->conf.max_frame ? d->conf.max_frame : FC_NET_DEFAULT_MAX_FRAME, &cm,
			   em);
	if (rc != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "bad frame", "peer=%s reason=\"%s\"", fc_conn_peer(conn),
		       em);
		reply_error(conn, 0, rc, em);
		return;
	}
	if (d->closing) {
		reply_error(conn, cm->request_id, FC_ECLOSED, "memory node shutting down");
		fc_wire_free(&cm->base);
		return;
	}
	switch (cm->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_APPEND:
		h_append(d, conn, cm->request_id, cm->ledger_append);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_MEM_LOAD_REQUEST:
		h_load(d, conn, cm->request_id, cm->mem_load_request);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_ACCESS_REPORT:
		if (cm->access_report)
			fc_mempool_note_access(d->mp, cm->access_report->key_hashes,
					       cm->access_report->n_key_hashes);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY:
		h_height(d, conn, cm->request_id);
		break;
	default:
		reply_error(conn, cm->request_id, FC_EINVAL, "message not served by a memory node");
		break;
	}
	fc_wire_free(&cm->base);
}

static void on_timer(uv_timer_t *t)
{
	relieve(t->data);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void begin_shutdown(struct memd *d, const char *why)
{
	if (d->closing)
		return;
	d->closing = 1;
	sd_notify(0, "STOPPING=1");
	fc_log(FC_LOG_INFO, COMP, "shutting down", "id=%s reason=%s", d->conf.id, why);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, NULL);
	if (d->srv) {
		fc_net_server_close(d->srv, NULL, NULL);
		d->srv = NULL;
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	begin_shutdown(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

int memd_run(const struct fc_config *cfg, const char *id, char *errmsg)
{
	struct memd *d;
	struct fc_mempool_config mc;
	struct fc_net_opts no;
	struct fc_net_cbs cbs;
	char em[FC_ERRMSG_LEN];
	int rc;

	d = fc_calloc(1, sizeof *d);
	if (!d)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	d->cfg = cfg;
	rc = memd_conf_get(cfg, id, &d->conf, errmsg);
	if (rc != FC_OK)
		goto out_free;
	d->self_h = fc_mempool_node_hash(d->conf.id);
	rc = map_set(d, 0, d->conf.node_ids, d->conf.n_nodes);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "out of memory");
		goto out_conf;
	}
	rc = memd_store_open(cfg, &d->st, errmsg);
	if (rc != FC_OK)
		goto out_conf;
	fc_mempool_config_from_cluster(&mc, cfg, d->conf.node);
	/* Reads are validated, so the grace only spares readers retries; a
	 * short one keeps a small region from filling with retired records
	 * under eviction. */
	mc.grace_ms = MEMD_GRACE_MS;
	rc = fc_mempool_create(&mc, &d->mp, errmsg);
	if (rc != FC_OK)
		goto out_store;
	/* Where the chain is: a storage pool that is not up yet is asked again
	 * on the first append or load. */
	if (ensure_started(d, em) != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "storage pool not reachable yet", "reason=\"%s\"", em);
	if (uv_loop_init(&d->loop) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "uv_loop_init failed");
		goto out_mp;
	}
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_timer_init(&d->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_timer, TIMER_MS, TIMER_MS);

	memset(&no, 0, sizeof no);
	no.max_frame_bytes = d->conf.max_frame;
	memset(&cbs, 0, sizeof cbs);
	cbs.on_frame = on_frame;
	rc = fc_net_listen(&d->loop, d->conf.host, d->conf.port, &no, &cbs, d, &d->srv, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "listen %s:%u", d->conf.host, (unsigned)d->conf.port);
		uv_close((uv_handle_t *)&d->sigterm, NULL);
		uv_close((uv_handle_t *)&d->sigint, NULL);
		uv_close((uv_handle_t *)&d->timer, NULL);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
		goto out_mp;
	}
	{
		struct fc_mempool_stats ps;

		fc_mempool_stats(d->mp, &ps);
		fc_log(FC_LOG_INFO, COMP, "memory node started",
		       "id=%s port=%u data_port=%u region_records_bytes=%llu buckets=%llu "
		       "hugepages=%d height=%llu started=%d",
		       d->conf.id, (unsigned)d->conf.port, (unsigned)fc_mempool_port(d->mp),
		       (unsigned long long)ps.rec_len, (unsigned long long)ps.bucket_count,
		       ps.hugepages, (unsigned long long)ps.applied_height,
		       fc_mempool_started(d->mp));
	}
	sd_notify(0, "READY=1");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d->loop) != 0)
		fc_log(FC_LOG_WARN, COMP, "loop not empty at close", NULL);
	fc_log(FC_LOG_INFO, COMP, "memory node stopped", "id=%s", d->conf.id);
	rc = FC_OK;
out_mp:
	fc_mempool_destroy(d->mp);
out_store:
	memd_store_close(d->st);
out_conf:
	fc_free(d->map_h);
	memd_conf_free(&d->conf);
out_free:
	fc_free(d);
	return rc;
}
