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
 *
 * Operations (fc_ops.h): with a metrics_port, /metrics and /healthz on a
 * thread of their own. Series read from the region (fc_mempool_stats, under
 * the mempool's lock) and from the transport (fc_transport_stats, atomics)
 * are callbacks evaluated at scrape time; counters of what the loop serves
 * are updated by the loop (lock-free); the shard map gauges are set by the
 * loop when the map changes. /healthz is 200 while the control port is
 * listening and the node is not stopping, 503 ("starting", "shutting
 * down") otherwise.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "fc_chaincfg.h"
#include "fc_config.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_mempool.h"
#include "fc_net.h"
#include "fc_ops.h"
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

/* Series whose value is one uint64_t field of struct fc_mempool_stats. */
static const struct {
	enum fc_metric_type type;
	const char *name, *help; /* help NULL: a further series of the family */
	const char *labels[3];
	size_t off;
} stat_series[] = {
#define ST_OFF(f) offsetof(struct fc_mempool_stats, f)
    {FC_METRIC_GAUGE,
     "fc_memory_entries",
     "Current records in the region (negative records, key known absent, included).",
     {NULL},
     ST_OFF(records_live)},
    {FC_METRIC_COUNTER,
     "fc_memory_evictions_total",
     "Entries dropped by eviction or because a shard map moved their keys away.",
     {NULL},
     ST_OFF(evicted)},
    {FC_METRIC_COUNTER,
     "fc_memory_evictions_blocked_total",
     "Eviction candidates kept because the storage pool did not hold them durably yet.",
     {NULL},
     ST_OFF(evict_blocked)},
    {FC_METRIC_GAUGE,
     "fc_memory_record_bytes",
     "Bytes of the record area by state.",
     {"state", "live", NULL},
     ST_OFF(bytes_live)},
    {FC_METRIC_GAUGE,
     "fc_memory_record_bytes",
     NULL,
     {"state", "retired", NULL},
     ST_OFF(bytes_retired)},
    {FC_METRIC_GAUGE, "fc_memory_record_bytes", NULL, {"state", "free", NULL}, ST_OFF(bytes_free)},
    {FC_METRIC_GAUGE,
     "fc_memory_index_slots",
     "Slots of the hash index.",
     {NULL},
     ST_OFF(slots_total)},
    {FC_METRIC_GAUGE,
     "fc_memory_index_slots_used",
     "Slots of the hash index in use.",
     {NULL},
     ST_OFF(slots_used)},
    {FC_METRIC_COUNTER,
     "fc_memory_blocks_applied_total",
     "Blocks applied to the region (ledger appends and catch-up).",
     {NULL},
     ST_OFF(blocks_applied)},
    {FC_METRIC_COUNTER,
     "fc_memory_writes_applied_total",
     "Writes of applied blocks written to the region, by operation.",
     {"op", "put", NULL},
     ST_OFF(writes_applied)},
    {FC_METRIC_COUNTER,
     "fc_memory_writes_applied_total",
     NULL,
     {"op", "delete", NULL},
     ST_OFF(deletes_applied)},
    {FC_METRIC_COUNTER,
     "fc_memory_writes_skipped_total",
     "Writes skipped because the region held a version at least as new.",
     {NULL},
     ST_OFF(writes_skipped)},
    {FC_METRIC_COUNTER,
     "fc_memory_index_full_total",
     "Writes refused because a probing window of the index was full.",
     {NULL},
     ST_OFF(index_full)},
    {FC_METRIC_COUNTER,
     "fc_memory_records_loaded_total",
     "Records written from storage pool answers to loads (negative ones included).",
     {NULL},
     ST_OFF(inserts)},
    {FC_METRIC_COUNTER,
     "fc_memory_negative_records_loaded_total",
     "Negative records written from loads (key absent everywhere).",
     {NULL},
     ST_OFF(negatives)},
    {FC_METRIC_COUNTER,
     "fc_memory_records_reclaimed_total",
     "Retired record chunks freed after their grace.",
     {NULL},
     ST_OFF(records_reclaimed)},
#undef ST_OFF
};
#define N_STAT_SERIES (sizeof stat_series / sizeof stat_series[0])

/* One-sided operations the transport served on the region, by op. */
enum { T_READ, T_WRITE, T_CAS, T__COUNT };
static const char *const transport_ops[T__COUNT] = {"read", "write", "cas"};

/* Storage pool requests the node makes, by kind. */
enum { L_HEIGHT, L_BLOCKS, L_STATE, L__COUNT };
static const char *const lookup_kinds[L__COUNT] = {"height", "blocks", "state"};

struct memd;
struct memd_cb_ud {
	struct memd *d;
	size_t arg; /* stat_series offset or transport op */
};

/* Series updated by the loop (and set once at start). */
struct memd_metrics {
	struct fc_metrics *reg;
	struct fc_metric *region_bytes, *hugepages;	/* gauges, set once */
	struct fc_metric *appends_ok, *appends_refused; /* fc_memory_appends_total */
	struct fc_metric *append_seconds;		/* histogram */
	struct fc_metric *loads_ok, *loads_failed;	/* fc_memory_loads_total */
	struct fc_metric *load_keys;			/* keys asked for */
	struct fc_metric *lookups_ok[L__COUNT], *lookups_failed[L__COUNT];
	struct fc_metric *catchup_blocks; /* blocks fetched to catch up */
	struct fc_metric *access_reports, *access_keys;
	struct fc_metric *map_version, *map_nodes, *map_member; /* gauges */
	struct memd_cb_ud stat_ud[N_STAT_SERIES];
	struct memd_cb_ud transport_ud[T__COUNT];
};

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

	/* operations endpoints */
	struct memd_metrics m;
	struct fc_ops_server *ops;
	atomic_int serving;  /* control port listening: /healthz 200 */
	atomic_int stopping; /* SIGTERM/SIGINT seen */
	uint64_t region_len;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- metrics -------------------------------------------------------------- */

/* Callbacks: run on the metrics server's thread. fc_mempool_stats takes the
 * mempool's lock, fc_mempool_started is an atomic load and
 * fc_transport_stats reads atomics: all thread-safe. */
static double cb_stat(void *ud)
{
	const struct memd_cb_ud *u = ud;
	struct fc_mempool_stats ps;
	uint64_t v;

	fc_mempool_stats(u->d->mp, &ps);
	memcpy(&v, (const char *)&ps + u->arg, sizeof v);
	return (double)v;
}

/* Height through which blocks are applied, plus one; 0 before the node
 * applied a block or started following the chain. */
static double cb_applied_height(void *ud)
{
	struct memd *d = ud;
	struct fc_mempool_stats ps;

	if (!fc_mempool_started(d->mp))
		return 0;
	fc_mempool_stats(d->mp, &ps);
	return (double)ps.applied_height + 1;
}

/* Region bytes not free: header, index, bitmap and record chunks live or
 * retired. */
static double cb_used_bytes(void *ud)
{
	struct memd *d = ud;
	struct fc_mempool_stats ps;

	fc_mempool_stats(d->mp, &ps);
	return ps.bytes_free < d->region_len ? (double)(d->region_len - ps.bytes_free) : 0;
}

static double cb_fill(void *ud)
{
	return fc_mempool_fill(((struct memd *)ud)->mp);
}

static double cb_durable_height(void *ud)
{
	struct fc_mempool_stats ps;

	fc_mempool_stats(((struct memd *)ud)->mp, &ps);
	return (double)ps.durable_height;
}

static double cb_transport(void *ud)
{
	const struct memd_cb_ud *u = ud;
	struct fc_transport_stats ts;

	fc_transport_stats(fc_mempool_transport(u->d->mp), &ts);
	return (double)(u->arg == T_READ    ? ts.served_read
			: u->arg == T_WRITE ? ts.served_write
					    : ts.served_cas);
}

static int health(void *ud, char *reason, size_t n)
{
	struct memd *d = ud;

	if (atomic_load(&d->serving) && !atomic_load(&d->stopping))
		return 1;
	snprintf(reason, n, "%s", atomic_load(&d->stopping) ? "shutting down" : "starting");
	return 0;
}

/* Registers every fc_memory_* series (callbacks read d->mp, which must
 * exist before the first scrape) and the process series. */
static int metrics_init(struct memd *d, char *errmsg)
{
	struct memd_metrics *m = &d->m;
	struct fc_metrics *r;
	int rc = fc_metrics_create(&m->reg, errmsg);

	r = m->reg;
	if (rc == FC_OK)
		rc = fc_metrics_add_process(r, "memory", errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(
		    r, FC_METRIC_GAUGE, "fc_memory_applied_height",
		    "Height through which certified blocks are applied, plus one (0: none yet).",
		    NULL, cb_applied_height, d, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(r, "fc_memory_region_bytes",
				      "Bytes of the registered region (memory.region_mb).", NULL,
				      &m->region_bytes, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(r, FC_METRIC_GAUGE, "fc_memory_used_bytes",
					 "Bytes of the region in use: header, index and record "
					 "chunks live or waiting for their grace.",
					 NULL, cb_used_bytes, d, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(r, FC_METRIC_GAUGE, "fc_memory_fill_ratio",
					 "Fill ratio compared with the eviction watermarks.", NULL,
					 cb_fill, d, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(
		    r, FC_METRIC_GAUGE, "fc_memory_durable_height",
		    "Highest block this node knows the storage pool holds durably.", NULL,
		    cb_durable_height, d, NULL, errmsg);
	for (size_t i = 0; i < N_STAT_SERIES && rc == FC_OK; i++) {
		m->stat_ud[i] = (struct memd_cb_ud){d, stat_series[i].off};
		rc = fc_metrics_callback(r, stat_series[i].type, stat_series[i].name,
					 stat_series[i].help, stat_series[i].labels, cb_stat,
					 &m->stat_ud[i], NULL, errmsg);
	}
	for (size_t i = 0; i < T__COUNT && rc == FC_OK; i++) {
		const char *l[] = {"op", transport_ops[i], NULL};

		m->transport_ud[i] = (struct memd_cb_ud){d, i};
		rc = fc_metrics_callback(r, FC_METRIC_COUNTER, "fc_memory_transport_served_total",
					 i ? NULL
					   : "One-sided operations the transport served on the "
					     "region, by op.",
					 l, cb_transport, &m->transport_ud[i], NULL, errmsg);
	}
	if (rc == FC_OK)
		rc =
		    fc_metrics_gauge(r, "fc_memory_hugepages", "1 when the region is on hugepages.",
				     NULL, &m->hugepages, errmsg);
	{
		const char *ok[] = {"result", "ok", NULL}, *ref[] = {"result", "refused", NULL};

		if (rc == FC_OK)
			rc = fc_metrics_counter(r, "fc_memory_appends_total",
						"Ledger appends received, by result.", ok,
						&m->appends_ok, errmsg);
		if (rc == FC_OK)
			rc = fc_metrics_counter(r, "fc_memory_appends_total", NULL, ref,
						&m->appends_refused, errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_histogram(r, "fc_memory_append_seconds",
					  "Latency of accepted ledger appends: verification, "
					  "catch-up and apply.",
					  NULL, fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->append_seconds, errmsg);
	{
		const char *ok[] = {"result", "ok", NULL}, *bad[] = {"result", "failed", NULL};

		if (rc == FC_OK)
			rc = fc_metrics_counter(r, "fc_memory_loads_total",
						"Load requests (misses) served, by result.", ok,
						&m->loads_ok, errmsg);
		if (rc == FC_OK)
			rc = fc_metrics_counter(r, "fc_memory_loads_total", NULL, bad,
						&m->loads_failed, errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_counter(r, "fc_memory_load_keys_total",
					"Keys asked for by load requests.", NULL, &m->load_keys,
					errmsg);
	for (size_t i = 0; i < L__COUNT && rc == FC_OK; i++) {
		const char *ok[] = {"kind", lookup_kinds[i], "result", "ok", NULL};
		const char *bad[] = {"kind", lookup_kinds[i], "result", "failed", NULL};

		rc = fc_metrics_counter(r, "fc_memory_storage_lookups_total",
					i ? NULL
					  : "Requests to the storage pool, by kind and result.",
					ok, &m->lookups_ok[i], errmsg);
		if (rc == FC_OK)
			rc = fc_metrics_counter(r, "fc_memory_storage_lookups_total", NULL, bad,
						&m->lookups_failed[i], errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_counter(r, "fc_memory_catchup_blocks_total",
					"Blocks fetched from the storage pool to catch up.", NULL,
					&m->catchup_blocks, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(r, "fc_memory_access_reports_total",
					"Access reports received (eviction hints).", NULL,
					&m->access_reports, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(r, "fc_memory_access_report_keys_total",
					"Key hashes carried by access reports.", NULL,
					&m->access_keys, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(r, "fc_memory_shard_map_version",
				      "Version of the shard map this node follows.", NULL,
				      &m->map_version, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(r, "fc_memory_shard_map_nodes",
				      "Memory nodes in the shard map this node follows.", NULL,
				      &m->map_nodes, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(r, "fc_memory_shard_member",
				      "1 while this node is in the shard map it follows.", NULL,
				      &m->map_member, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "metrics");
	return rc;
}

static void count_lookup(struct memd *d, int kind, int rc)
{
	fc_metric_inc(rc == FC_OK ? d->m.lookups_ok[kind] : d->m.lookups_failed[kind]);
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
	fc_metric_set(d->m.map_version, (double)version);
	fc_metric_set(d->m.map_nodes, (double)n);
	{
		int member = 0;

		for (size_t i = 0; i < n; i++)
			member |= h[i] == d->self_h;
		fc_metric_set(d->m.map_member, member);
	}
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

/* The storage replicas read follow the chain configuration through the
 * blocks below `to` (0: only what is still to do); a failure is retried
 * at the next append. */
static void follow(struct memd *d, uint64_t to)
{
	char em[FC_ERRMSG_LEN] = "";

	if (memd_store_follow(d->st, to, em) != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "chain configuration not followed",
		       "to=%llu reason=\"%s\"", (unsigned long long)to, em);
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
	count_lookup(d, L_HEIGHT, rc);
	if (rc != FC_OK)
		return rc;
	if (empty)
		return FC_OK; /* nothing committed yet: complete, first block next */
	rc = fc_mempool_start_at(d->mp, h, errmsg);
	if (rc == FC_OK) {
		fc_log(FC_LOG_INFO, COMP, "following the chain", "from_height=%llu",
		       (unsigned long long)h);
		follow(d, h + 1);
	}
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
	if (rc == FC_OK && status->len >= b->n_envelopes &&
	    fc_chaincfg_block_changes(b, status->data) > 0)
		follow(d, h + 1);
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
		count_lookup(d, L_BLOCKS, rc);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "catch up from %llu",
					  (unsigned long long)next);
		fc_metric_add(d->m.catchup_blocks, br->n_blocks);
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
	follow(d, 0);
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
	struct timespec t0;
	uint64_t h = 0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = on_append(d, la, &h, em);
	if (rc == FC_OK) {
		fc_metric_inc(d->m.appends_ok);
		fc_metric_observe(d->m.append_seconds, elapsed_s(&t0));
	} else {
		fc_metric_inc(d->m.appends_refused);
	}
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
		fc_metric_inc(d->m.loads_failed);
		reply_error(conn, id, FC_EINVAL, "load: no keys");
		return;
	}
	fc_metric_add(d->m.load_keys, lr->n_keys);
	rc = ensure_started(d, em);
	if (rc == FC_OK) {
		fc_mempool_stats(d->mp, &ps);
		rc = memd_store_state(d->st, lr->keys, lr->n_keys, ps.applied_height, &sr, em);
		count_lookup(d, L_STATE, rc);
	}
	fc_metric_inc(rc == FC_OK ? d->m.loads_ok : d->m.loads_failed);
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
		fc_metric_inc(d->m.access_reports);
		if (cm->access_report)
			fc_metric_add(d->m.access_keys, cm->access_report->n_key_hashes);
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
	atomic_store(&d->stopping, 1);
	atomic_store(&d->serving, 0);
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
	rc = metrics_init(d, errmsg);
	if (rc != FC_OK)
		goto out_conf;
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
	{
		struct fc_mempool_stats ps;

		fc_mempool_stats(d->mp, &ps);
		d->region_len = mc.region_bytes;
		fc_metric_set(d->m.region_bytes, (double)d->region_len);
		fc_metric_set(d->m.hugepages, ps.hugepages);
	}
	/* up before the storage pool is asked: /healthz says "starting" */
	if (d->conf.node->metrics_port) {
		struct fc_ops_server_opts oo = {
		    .bind = cfg->metrics.bind,
		    .port = d->conf.node->metrics_port,
		    .metrics = d->m.reg,
		    .health = health,
		    .health_ud = d,
		};

		rc = fc_ops_server_start(&oo, &d->ops, errmsg);
		if (rc != FC_OK)
			goto out_mp;
	}
	/* Where the chain is: a storage pool that is not up yet is asked again
	 * on the first append or load. */
	if (ensure_started(d, em) != FC_OK)
		fc_log(FC_LOG_WARN, COMP, "storage pool not reachable yet", "reason=\"%s\"", em);
	if (uv_loop_init(&d->loop) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "uv_loop_init failed");
		goto out_ops;
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
		goto out_ops;
	}
	{
		struct fc_mempool_stats ps;

		fc_mempool_stats(d->mp, &ps);
		fc_log(FC_LOG_INFO, COMP, "memory node started",
		       "id=%s port=%u data_port=%u metrics_port=%u region_records_bytes=%llu "
		       "buckets=%llu hugepages=%d height=%llu started=%d",
		       d->conf.id, (unsigned)d->conf.port, (unsigned)fc_mempool_port(d->mp),
		       d->ops ? (unsigned)fc_ops_server_port(d->ops) : 0u,
		       (unsigned long long)ps.rec_len, (unsigned long long)ps.bucket_count,
		       ps.hugepages, (unsigned long long)ps.applied_height,
		       fc_mempool_started(d->mp));
	}
	atomic_store(&d->serving, 1);
	sd_notify(0, "READY=1");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d->loop) != 0)
		fc_log(FC_LOG_WARN, COMP, "loop not empty at close", NULL);
	fc_log(FC_LOG_INFO, COMP, "memory node stopped", "id=%s", d->conf.id);
	rc = FC_OK;
out_ops:
	/* stopped before the region goes: its callbacks read d->mp */
	fc_ops_server_stop(d->ops);
	d->ops = NULL;
out_mp:
	fc_mempool_destroy(d->mp);
out_store:
	memd_store_close(d->st);
out_conf:
	fc_metrics_destroy(d->m.reg);
	fc_free(d->map_h);
	memd_conf_free(&d->conf);
out_free:
	fc_free(d);
	return rc;
}
