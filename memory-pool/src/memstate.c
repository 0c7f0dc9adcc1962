/* A compute server's view of the memory pool (fc_memstate.h).
 *
 * Reads go one-sided through one fc_memclient per node. A miss counts only
 * when the node says its bucket is complete (fc_mempool.h "Completeness");
 * otherwise the key is loaded through the node (MemLoadRequest), which asks
 * the storage pool once, promotes the answer (or records the key as known
 * absent) and replies with the storage pool's StateReply. So a key that
 * exists nowhere costs at most one storage lookup: afterwards its negative
 * record answers one-sided.
 *
 * Access reports: every FC_MEMSTATE_SAMPLE-th key read is remembered per
 * node and sent as one AccessReport (no reply) per FC_MEMSTATE_REPORT
 * samples; the node's eviction keeps the reported entries.
 */
#include <string.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_memclient.h"
#include "fc_mempool.h"
#include "fc_memstate.h"
#include "fc_net.h"
#include "fc_wire.h"
#include "mempool_int.h"

#define COMP "memstate"
#define FC_MEMSTATE_SAMPLE 8u
#define FC_MEMSTATE_REPORT 128u
#define CTL_TIMEOUT_MS 10000u
#define VAL_BUF0 (64u << 10)

struct msnode {
	char *id, *host;
	uint16_t port, data_port;
	struct fc_memclient *mc;
	struct fc_netc *nc; /* control connection, opened on first use */
	uint64_t rep[FC_MEMSTATE_REPORT];
	size_t n_rep;
};

struct fc_memstate {
	const struct fc_config *cfg;
	enum fc_transport_kind kind;
	size_t max_frame;
	uint64_t map_version;
	struct msnode *nodes;
	uint64_t *idh; /* fc_mempool_node_hash of each node, same order */
	size_t n;
	uint64_t next_req;
	uint32_t sample;
	uint8_t *vbuf;
	size_t vcap;
	struct fc_memstate_stats st;
};

static void node_close(struct msnode *nd)
{
	fc_memclient_close(nd->mc);
	fc_netc_close(nd->nc);
	fc_free(nd->id);
	fc_free(nd->host);
	memset(nd, 0, sizeof *nd);
}

static int node_open(struct fc_memstate *ms, struct msnode *nd, const char *id, const char *host,
		     uint16_t port, uint16_t data_port, char *errmsg)
{
	struct fc_memclient_config c;
	int rc;

	memset(nd, 0, sizeof *nd);
	nd->id = fc_strdup(id);
	nd->host = fc_strdup(host);
	if (!nd->id || !nd->host) {
		node_close(nd);
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	}
	nd->port = port;
	nd->data_port = data_port;
	fc_memclient_config_init(&c);
	c.transport = ms->kind;
	c.addr_cache_entries = 1u << 18;
	rc = fc_memclient_connect(host, data_port, &c, &nd->mc, errmsg);
	if (rc != FC_OK) {
		node_close(nd);
		return fc_errwrap(errmsg, rc, "memory node %s", id);
	}
	return FC_OK;
}

static size_t route(const struct fc_memstate *ms, const void *key, size_t klen)
{
	return fc_mempool_shard_pick(key, klen, ms->idh, ms->n);
}

/* ---- control plane --------------------------------------------------------- */

static int ctl_connect(struct fc_memstate *ms, struct msnode *nd, char *errmsg)
{
	(void)ms;
	if (nd->nc)
		return FC_OK;
	return fc_netc_connect(nd->host, nd->port, CTL_TIMEOUT_MS, &nd->nc, errmsg);
}

static int ctl_send(struct fc_memstate *ms, struct msnode *nd, Flexchain__ControlMessage *cm,
		    char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ctl_connect(ms, nd, errmsg);

	if (rc != FC_OK)
		return rc;
	rc = fc_wire_encode(&cm->base, &buf, &len, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_netc_send(nd->nc, buf, len, CTL_TIMEOUT_MS, errmsg);
	fc_free(buf);
	if (rc != FC_OK) {
		fc_netc_close(nd->nc);
		nd->nc = NULL;
	}
	return rc;
}

static void flush_reports(struct fc_memstate *ms, struct msnode *nd)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__AccessReport ar = FLEXCHAIN__ACCESS_REPORT__INIT;
	char em[FC_ERRMSG_LEN];

	if (!nd->n_rep)
		return;
	ar.n_key_hashes = nd->n_rep;
	ar.key_hashes = nd->rep;
	cm.request_id = ++ms->next_req;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ACCESS_REPORT;
	cm.access_report = &ar;
	/* Hints only: a lost report costs nothing but eviction quality. */
	if (ctl_send(ms, nd, &cm, em) == FC_OK)
		ms->st.reports++;
	else
		fc_log(FC_LOG_DEBUG, COMP, "access report not sent", "node=%s err=\"%s\"", nd->id,
		       em);
	nd->n_rep = 0;
}

static void note_read(struct fc_memstate *ms, struct msnode *nd, const void *key, size_t klen)
{
	if (++ms->sample % FC_MEMSTATE_SAMPLE)
		return;
	nd->rep[nd->n_rep++] = fc_memclient_key_hash(nd->mc, key, (uint32_t)klen);
	if (nd->n_rep == FC_MEMSTATE_REPORT)
		flush_reports(ms, nd);
}

/* MemLoadRequest{keys} to nd; *out is the decoded reply (fc_wire_free),
 * its state_reply has one entry per key, in order. */
static int load(struct fc_memstate *ms, struct msnode *nd, ProtobufCBinaryData *keys, size_t n,
		Flexchain__ControlMessage **out, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__MemLoadRequest lr = FLEXCHAIN__MEM_LOAD_REQUEST__INIT;
	uint64_t id = ++ms->next_req;
	int rc;

	*out = NULL;
	lr.n_keys = n;
	lr.keys = keys;
	lr.shard_version = ms->map_version;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_MEM_LOAD_REQUEST;
	cm.mem_load_request = &lr;
	rc = ctl_send(ms, nd, &cm, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "memstate: load from %s", nd->id);
	ms->st.loads++;
	ms->st.load_keys += n;
	ms->st.round_trips++;
	for (;;) {
		uint8_t *buf = NULL;
		size_t len = 0;
		ProtobufCMessage *m = NULL;
		Flexchain__ControlMessage *r;

		rc = fc_netc_recv(nd->nc, &buf, &len, ms->max_frame, CTL_TIMEOUT_MS, errmsg);
		if (rc != FC_OK)
			goto fail_conn;
		rc = fc_wire_decode(&flexchain__control_message__descriptor, buf, len,
				    ms->max_frame, &m, errmsg);
		fc_free(buf);
		if (rc != FC_OK)
			goto fail_conn;
		r = (Flexchain__ControlMessage *)m;
		if (r->request_id != id) {
			fc_wire_free(m); /* a stale reply */
			continue;
		}
		if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR && r->error) {
			rc = fc_errf(errmsg, r->error->code ? (int)r->error->code : FC_EPROTO,
				     "memstate: load from %s: %s", nd->id,
				     r->error->message ? r->error->message : "");
			fc_wire_free(m);
			return rc;
		}
		if (r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_REPLY ||
		    !r->state_reply || r->state_reply->n_entries != n) {
			fc_wire_free(m);
			rc =
			    fc_errf(errmsg, FC_EPROTO, "memstate: load from %s: bad reply", nd->id);
			goto fail_conn;
		}
		*out = r;
		return FC_OK;
	}
fail_conn:
	fc_netc_close(nd->nc);
	nd->nc = NULL;
	return fc_errwrap(errmsg, rc, "memstate: load from %s", nd->id);
}

/* ---- open / close / map -------------------------------------------------- */

static int map_install(struct fc_memstate *ms, struct msnode *nodes, size_t n, uint64_t version)
{
	uint64_t *idh = fc_calloc(n ? n : 1, sizeof *idh);

	if (!idh)
		return FC_ENOMEM;
	for (size_t i = 0; i < n; i++)
		idh[i] = fc_mempool_node_hash(nodes[i].id);
	for (size_t i = 0; i < ms->n; i++)
		node_close(&ms->nodes[i]);
	fc_free(ms->nodes);
	fc_free(ms->idh);
	ms->nodes = nodes;
	ms->idh = idh;
	ms->n = n;
	ms->map_version = version;
	return FC_OK;
}

int fc_memstate_open(const struct fc_config *cfg, struct fc_memstate **out, char *errmsg)
{
	struct fc_memstate *ms;
	struct msnode *nodes = NULL;
	size_t n = fc_mempool__cluster_nodes(cfg), opened = 0;
	int rc;

	*out = NULL;
	if (n == 0)
		return fc_errf(errmsg, FC_ENOTFOUND,
			       "memstate: the configuration has no memory nodes");
	ms = fc_calloc(1, sizeof *ms);
	if (!ms)
		return fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
	ms->cfg = cfg;
	if (fc_transport_parse_kind(fc_mempool__cluster_transport(cfg), &ms->kind) != FC_OK)
		ms->kind = FC_TRANSPORT_AUTO;
	ms->max_frame = fc_mempool__cluster_max_frame(cfg);
	if (!ms->max_frame)
		ms->max_frame = FC_NET_DEFAULT_MAX_FRAME;
	ms->vcap = VAL_BUF0;
	ms->vbuf = fc_malloc(ms->vcap);
	nodes = fc_calloc(n, sizeof *nodes);
	if (!ms->vbuf || !nodes) {
		rc = fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
		goto fail;
	}
	for (; opened < n; opened++) {
		const char *id, *host;
		uint16_t port, dport;

		fc_mempool__cluster_node(cfg, opened, &id, &host, &port, &dport);
		rc = node_open(ms, &nodes[opened], id, host, port, dport, errmsg);
		if (rc != FC_OK)
			goto fail;
	}
	rc = map_install(ms, nodes, n, 0);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "memstate: out of memory");
		goto fail;
	}
	*out = ms;
	return FC_OK;

fail:
	for (size_t i = 0; i < opened; i++)
		node_close(&nodes[i]);
	fc_free(nodes);
	fc_free(ms->vbuf);
	fc_free(ms);
	return fc_errwrap(errmsg, rc, "memstate: open");
}

void fc_memstate_close(struct fc_memstate *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		flush_reports(ms, &ms->nodes[i]);
		node_close(&ms->nodes[i]);
	}
	fc_free(ms->nodes);
	fc_free(ms->idh);
	fc_free(ms->vbuf);
	fc_free(ms);
}

int fc_memstate_set_shard_map(struct fc_memstate *ms, const Flexchain__ShardMap *map, char *errmsg)
{
	struct msnode *nodes;
	size_t n, opened = 0;
	int rc = FC_OK;

	if (!map || map->version <= ms->map_version)
		return FC_OK;
	n = map->n_memory_nodes;
	if (n == 0)
		return fc_errf(errmsg, FC_EINVAL, "memstate: shard map %llu has no nodes",
			       (unsigned long long)map->version);
	nodes = fc_calloc(n, sizeof *nodes);
	if (!nodes)
		return fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
	for (; opened < n; opened++) {
		const Flexchain__NodeAddr *a = map->memory_nodes[opened];
		size_t j, nc = fc_mempool__cluster_nodes(ms->cfg);
		const char *id = NULL, *host = NULL;
		uint16_t port = 0, dport = 0;

		if (!a || !a->id) {
			rc = fc_errf(errmsg, FC_EINVAL, "shard map: node %zu without id", opened);
			goto fail;
		}
		for (j = 0; j < ms->n; j++)
			if (ms->nodes[j].id && strcmp(ms->nodes[j].id, a->id) == 0)
				break;
		if (j < ms->n) { /* kept: reuse its connections and caches */
			nodes[opened] = ms->nodes[j];
			memset(&ms->nodes[j], 0, sizeof ms->nodes[j]);
			continue;
		}
		/* A node added at run time carries its data port in the map; one
		 * of the cluster file may leave it to the file. */
		host = NULL;
		port = dport = 0;
		for (j = 0; j < nc; j++) {
			fc_mempool__cluster_node(ms->cfg, j, &id, &host, &port, &dport);
			if (strcmp(id, a->id) == 0)
				break;
		}
		if (j == nc)
			host = NULL, port = dport = 0;
		if (a->data_port)
			dport = (uint16_t)a->data_port;
		if (!dport || (!host && !(a->host && *a->host))) {
			rc =
			    fc_errf(errmsg, FC_ENOTFOUND,
				    "shard map: memory node %s has no data port or host (not in "
				    "the configuration and none in the map)",
				    a->id);
			goto fail;
		}
		rc = node_open(ms, &nodes[opened], a->id, a->host && *a->host ? a->host : host,
			       a->port ? (uint16_t)a->port : port, dport, errmsg);
		if (rc != FC_OK)
			goto fail;
	}
	rc = map_install(ms, nodes, n, map->version);
	if (rc == FC_OK)
		return FC_OK;
	rc = fc_errf(errmsg, rc, "out of memory");
fail:
	/* Nodes moved out of ms->nodes go back where they came from. */
	for (size_t i = 0; i < opened; i++) {
		size_t j;

		for (j = 0; j < ms->n; j++)
			if (!ms->nodes[j].id && nodes[i].mc) {
				ms->nodes[j] = nodes[i];
				break;
			}
		if (j == ms->n)
			node_close(&nodes[i]);
	}
	fc_free(nodes);
	return fc_errwrap(errmsg, rc, "memstate: shard map %llu", (unsigned long long)map->version);
}

/* ---- reads ------------------------------------------------------------ */

static void count_client(struct fc_memstate *ms, const struct fc_memclient_stats *a,
			 const struct fc_memclient_stats *b)
{
	ms->st.round_trips += b->round_trips - a->round_trips;
	ms->st.cache_hits += (b->data_hits - a->data_hits) + (b->addr_hits - a->addr_hits);
}

int fc_memstate_get(struct fc_memstate *ms, const uint8_t *key, size_t klen, uint8_t **val,
		    size_t *len, uint64_t *version, char *errmsg)
{
	struct msnode *nd;
	struct fc_memclient_req rq;
	struct fc_memclient_stats a, b;
	int rc, tries = 0;

	*val = NULL;
	*len = 0;
	*version = 0;
	if (!key || klen == 0 || klen > FC_MEMPOOL_MAX_KEY)
		return fc_errf(errmsg, FC_EINVAL, "memstate: get: bad key");
	nd = &ms->nodes[route(ms, key, klen)];
	ms->st.gets++;
again:
	memset(&rq, 0, sizeof rq);
	rq.key = key;
	rq.key_len = (uint32_t)klen;
	rq.buf = ms->vbuf;
	rq.cap = ms->vcap;
	fc_memclient_stats(nd->mc, &a);
	rc = fc_memclient_mget(nd->mc, &rq, 1, errmsg);
	fc_memclient_stats(nd->mc, &b);
	count_client(ms, &a, &b);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "memstate: get from %s", nd->id);
	if (rq.rc == FC_OK && rq.val_len > ms->vcap && tries++ < 2) {
		uint8_t *p = fc_realloc(ms->vbuf, rq.val_len);

		if (!p)
			return fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
		ms->vbuf = p;
		ms->vcap = rq.val_len;
		goto again;
	}
	if (rq.rc == FC_OK) {
		if (rq.val_len) {
			*val = fc_malloc(rq.val_len);
			if (!*val)
				return fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
			memcpy(*val, ms->vbuf, rq.val_len);
		}
		*len = rq.val_len;
		*version = rq.version;
		ms->st.found++;
		note_read(ms, nd, key, klen);
		return FC_OK;
	}
	if (rq.rc == FC_ENOTFOUND && !rq.incomplete)
		return FC_ENOTFOUND;
	if (rq.rc == FC_ENOTFOUND) {
		ProtobufCBinaryData k = {klen, (uint8_t *)key};
		Flexchain__ControlMessage *r = NULL;
		const Flexchain__StateEntry *e;

		rc = load(ms, nd, &k, 1, &r, errmsg);
		if (rc != FC_OK)
			return rc;
		e = r->state_reply->entries[0];
		if (!e || !e->found) {
			fc_wire_free(&r->base);
			return FC_ENOTFOUND;
		}
		if (e->value.len) {
			*val = fc_malloc(e->value.len);
			if (!*val) {
				fc_wire_free(&r->base);
				return fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
			}
			memcpy(*val, e->value.data, e->value.len);
		}
		*len = e->value.len;
		*version = e->version;
		ms->st.found++;
		fc_wire_free(&r->base);
		return FC_OK;
	}
	return fc_errf(errmsg, rq.rc, "memstate: get from %s: %s", nd->id, fc_strerror(rq.rc));
}

/* keys[idx[0..m)] all live on node nd: versions through one mget per 64
 * keys, then one load for the incomplete misses. */
static int versions_node(struct fc_memstate *ms, struct msnode *nd, const ProtobufCBinaryData *keys,
			 const size_t *idx, size_t m, uint64_t *versions, char *errmsg)
{
	struct fc_memclient_req rq[FC_MEMCLIENT_MAX_BATCH];
	ProtobufCBinaryData lk[FC_MEMCLIENT_MAX_BATCH];
	size_t lpos[FC_MEMCLIENT_MAX_BATCH];
	struct fc_memclient_stats a, b;
	int rc;

	for (size_t off = 0; off < m; off += FC_MEMCLIENT_MAX_BATCH) {
		size_t k = m - off < FC_MEMCLIENT_MAX_BATCH ? m - off : FC_MEMCLIENT_MAX_BATCH;
		size_t nl = 0;

		for (size_t i = 0; i < k; i++) {
			const ProtobufCBinaryData *key = &keys[idx[off + i]];

			memset(&rq[i], 0, sizeof rq[i]);
			rq[i].key = key->data;
			rq[i].key_len = (uint32_t)key->len;
		}
		fc_memclient_stats(nd->mc, &a);
		rc = fc_memclient_mget(nd->mc, rq, k, errmsg);
		fc_memclient_stats(nd->mc, &b);
		count_client(ms, &a, &b);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "memstate: versions from %s", nd->id);
		for (size_t i = 0; i < k; i++) {
			size_t j = idx[off + i];

			ms->st.gets++;
			if (rq[i].rc == FC_OK) {
				versions[j] = rq[i].version;
				ms->st.found++;
				note_read(ms, nd, keys[j].data, keys[j].len);
			} else if (rq[i].rc == FC_ENOTFOUND && !rq[i].incomplete) {
				versions[j] = 0;
			} else if (rq[i].rc == FC_ENOTFOUND) {
				lk[nl] = keys[j];
				lpos[nl++] = j;
			} else {
				return fc_errf(errmsg, rq[i].rc, "memstate: versions from %s: %s",
					       nd->id, fc_strerror(rq[i].rc));
			}
		}
		if (nl) {
			Flexchain__ControlMessage *r = NULL;

			rc = load(ms, nd, lk, nl, &r, errmsg);
			if (rc != FC_OK)
				return rc;
			for (size_t i = 0; i < nl; i++) {
				const Flexchain__StateEntry *e = r->state_reply->entries[i];

				versions[lpos[i]] = e && e->found ? e->version : 0;
				if (e && e->found)
					ms->st.found++;
			}
			fc_wire_free(&r->base);
		}
	}
	return FC_OK;
}

int fc_memstate_versions(struct fc_memstate *ms, const ProtobufCBinaryData *keys, size_t n,
			 uint64_t *versions, char *errmsg)
{
	size_t *idx, *cnt, *start;
	int rc = FC_OK;

	if (n == 0)
		return FC_OK;
	idx = fc_malloc(n * sizeof *idx);
	cnt = fc_calloc(ms->n + 1, sizeof *cnt);
	start = fc_calloc(ms->n + 1, sizeof *start);
	if (!idx || !cnt || !start) {
		rc = fc_errf(errmsg, FC_ENOMEM, "memstate: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].data || keys[i].len == 0 || keys[i].len > FC_MEMPOOL_MAX_KEY) {
			rc = fc_errf(errmsg, FC_EINVAL, "memstate: versions: bad key %zu", i);
			goto out;
		}
		cnt[route(ms, keys[i].data, keys[i].len)]++;
	}
	for (size_t d = 1; d <= ms->n; d++)
		start[d] = start[d - 1] + cnt[d - 1];
	memset(cnt, 0, (ms->n + 1) * sizeof *cnt);
	for (size_t i = 0; i < n; i++) {
		size_t d = route(ms, keys[i].data, keys[i].len);

		idx[start[d] + cnt[d]++] = i;
	}
	for (size_t d = 0; d < ms->n && rc == FC_OK; d++)
		if (cnt[d])
			rc = versions_node(ms, &ms->nodes[d], keys, idx + start[d], cnt[d],
					   versions, errmsg);
out:
	fc_free(start);
	fc_free(cnt);
	fc_free(idx);
	return rc;
}

int fc_memstate_applied_height(struct fc_memstate *ms, uint64_t *height, char *errmsg)
{
	uint64_t low = UINT64_MAX;

	for (size_t i = 0; i < ms->n; i++) {
		uint64_t h = 0;
		int started = 0;
		int rc = fc_memclient_applied_info(ms->nodes[i].mc, &h, &started, errmsg);

		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "memstate: applied height of %s",
					  ms->nodes[i].id);
		if (!started)
			return fc_errf(errmsg, FC_ENOTFOUND, "memstate: %s has applied no block",
				       ms->nodes[i].id);
		ms->st.round_trips++;
		if (h < low)
			low = h;
	}
	*height = low;
	return FC_OK;
}

void fc_memstate_stats(const struct fc_memstate *ms, struct fc_memstate_stats *out)
{
	*out = ms->st;
}
