/* One-sided lookups in a memory node's region (fc_memclient.h).
 *
 * Every lookup, single or batched, runs the same round-based state machine:
 * in each round every unfinished key contributes the READs of its current
 * step, all of them go out with one fc_transport_post (one doorbell), and
 * the round ends when all completions are in. Nothing read from the region
 * is trusted until it validates (magic, lengths, key, checksum, succ), so a
 * concurrent writer or reclaim can only cost retries, never a wrong value.
 *
 * Two more rules keep a client's answers monotonic (never an older version
 * of a key than one it already returned), whatever the interleaving of its
 * READs with the node's writes and reclaims:
 *  - a key's cached version is a floor: a record older than what the client
 *    has seen for the key is stale (an address kept past its grace), never
 *    an answer;
 *  - a key asked for more than once in one batch is looked up once, and every
 *    copy gets that one answer (looked up independently, the copies could
 *    finish in different rounds and disagree).
 * And a key is reported absent only when the index says so twice: after its
 * candidates all held other keys (one of them may have been reclaimed and
 * reused after the window was read), or when a full window showed none (a
 * slot move may have been in flight), the window is read again.
 */
#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_memclient.h"
#include "fc_mempool.h"

#define COMP "memclient"
#define SCRATCH_LEN (8u << 20)
#define AC_WAYS 8u
#define MAX_CAND FC_MEMPOOL_WINDOW_SLOTS
#define MAX_ROUNDS (4 * (FC_MEMCLIENT_MAX_RETRIES + 4))

struct ac_ent {
	uint64_t h; /* 0: empty */
	uint64_t slot;
	uint64_t version;
};

struct dc_ent {
	uint64_t h; /* 0: empty */
	uint64_t slot;
	uint64_t version;
	uint32_t kl, vl;
	unsigned char *kv; /* key then value, owned */
};

struct fc_memclient {
	struct fc_memclient_config cfg;
	struct fc_transport *t;
	struct fc_transport_conn *conn;
	struct fc_transport_mr *mr;
	unsigned char *scratch;
	struct fc_mr_desc remote;
	struct fc_mempool_hdr hdr;

	struct ac_ent *ac;
	uint64_t ac_sets; /* power of two; 0 when disabled */
	uint32_t ac_rr;
	struct dc_ent *dc;
	uint64_t dc_n; /* power of two; 0 when disabled */

	struct fc_memclient_stats st;
};

enum phase { PH_DATA, PH_ADDR, PH_WINDOW, PH_RECORDS, PH_INC, PH_DONE };

struct op {
	enum phase ph;
	uint64_t h;
	uint64_t slot; /* PH_DATA / PH_ADDR: the cached slot word */
	struct dc_ent *dce;
	uint64_t dc_version; /* PH_DATA: the cached version the READ is checked against */
	uint64_t floor;      /* oldest version acceptable: newest the caches knew */
	int retries;
	int in_round;
	int confirm;  /* PH_WINDOW: a second look before reporting not found */
	int incomplete; /* PH_INC found the home bucket's incomplete bit set */
	int next_dup; /* next request of the batch for the same key, or -1 */
	int is_dup;   /* a copy: answered with the first request of its key */
	uint64_t rounds;
	int ncand;
	uint64_t cand[MAX_CAND];
	size_t boff[MAX_CAND]; /* scratch offsets of this round's reads */
	uint32_t blen[MAX_CAND];
};

static uint64_t pow2_floor(uint64_t x)
{
	uint64_t p = 1;

	while (p * 2 <= x)
		p *= 2;
	return p;
}

void fc_memclient_config_init(struct fc_memclient_config *c)
{
	memset(c, 0, sizeof *c);
	c->transport = FC_TRANSPORT_AUTO;
	c->addr_cache_entries = 1u << 20;
	c->data_cache_entries = 4096;
	c->data_cache_max_value = 4096;
	c->timeout_ms = 5000;
}

/* ---- round engine ------------------------------------------------------ */

/* Posts wrs (one doorbell) and waits for all n completions. */
static int round_trip(struct fc_memclient *mc, struct fc_transport_wr *wrs, size_t n,
		      char *errmsg)
{
	struct fc_transport_wc wcs[64];
	size_t got = 0;
	int rc;

	rc = fc_transport_post(mc->conn, wrs, n, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "memclient: post %zu reads", n);
	mc->st.doorbells++;
	while (got < n) {
		size_t k = 0;

		rc = fc_transport_poll(mc->conn, wcs, 64, mc->cfg.timeout_ms, &k, errmsg);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "memclient: poll");
		if (k == 0)
			return fc_errf(errmsg, FC_ETIMEOUT, "memclient: no completion in %d ms",
				       mc->cfg.timeout_ms);
		for (size_t i = 0; i < k; i++)
			if (wcs[i].status != FC_OK)
				return fc_errf(errmsg, wcs[i].status, "memclient: READ failed: %s",
					       wcs[i].detail ? wcs[i].detail : "?");
		got += k;
	}
	return FC_OK;
}

static int slot_sane(const struct fc_memclient *mc, uint64_t s)
{
	uint64_t off = FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK;
	uint64_t len = (uint64_t)FC_MEMPOOL_SLOT_LEN64(s) * FC_MEMPOOL_CHUNK;

	return len && off >= mc->hdr.rec_off && off + len <= mc->hdr.rec_off + mc->hdr.rec_len;
}

enum rec_verdict { REC_MATCH, REC_OTHER, REC_SUPERSEDED, REC_BAD };

/* Validates a record read from byte offset off (layout in fc_mempool.h). */
static enum rec_verdict rec_check(const unsigned char *r, size_t rlen, uint64_t off,
				  const void *key, uint32_t kl, uint64_t h, uint32_t *vl_out,
				  uint64_t *ver_out)
{
	uint64_t succ, ver, cks, want;
	uint32_t magic, rkl, rvl, rkh;
	size_t body, cks_off;

	if (rlen < FC_MEMPOOL_REC_HDR_LEN + 8)
		return REC_BAD;
	memcpy(&succ, r, 8);
	memcpy(&magic, r + 8, 4);
	memcpy(&rkl, r + 12, 4);
	memcpy(&rvl, r + 16, 4);
	memcpy(&rkh, r + 20, 4);
	memcpy(&ver, r + 24, 8);
	if (magic != FC_MEMPOOL_REC_MAGIC || rkl == 0 || rkl > FC_MEMPOOL_MAX_KEY ||
	    rvl > FC_MEMPOOL_MAX_KV)
		return REC_BAD;
	body = (size_t)rkl + rvl;
	cks_off = FC_MEMPOOL_REC_HDR_LEN + ((body + 7) & ~(size_t)7);
	if (cks_off + 8 > rlen)
		return REC_BAD;
	memcpy(&cks, r + cks_off, 8);
	want = fc_mempool_hash(r + 8, FC_MEMPOOL_REC_HDR_LEN - 8 + body, off ^ FC_MEMPOOL_CKSUM_SEED);
	if (cks != want)
		return REC_BAD;
	if (rkl != kl || rkh != (uint32_t)h || memcmp(r + 32, key, kl) != 0)
		return REC_OTHER;
	*vl_out = rvl;
	*ver_out = ver;
	return succ ? REC_SUPERSEDED : REC_MATCH;
}

static struct ac_ent *ac_find(struct fc_memclient *mc, uint64_t h)
{
	struct ac_ent *set;

	if (!mc->ac_sets || !h)
		return NULL;
	set = &mc->ac[(h & (mc->ac_sets - 1)) * AC_WAYS];
	for (uint32_t i = 0; i < AC_WAYS; i++)
		if (set[i].h == h)
			return &set[i];
	return NULL;
}

static void ac_put(struct fc_memclient *mc, uint64_t h, uint64_t slot, uint64_t version)
{
	struct ac_ent *e = ac_find(mc, h), *set;

	if (!mc->ac_sets || !h)
		return;
	if (!e) {
		set = &mc->ac[(h & (mc->ac_sets - 1)) * AC_WAYS];
		for (uint32_t i = 0; i < AC_WAYS && !e; i++)
			if (!set[i].h)
				e = &set[i];
		if (!e)
			e = &set[mc->ac_rr++ % AC_WAYS];
	}
	*e = (struct ac_ent){ .h = h, .slot = slot, .version = version };
}

/* The client returned version ver of the key from the cached address: the
 * entry's version (the key's floor) moves up. */
static void ac_note(struct fc_memclient *mc, uint64_t h, uint64_t slot, uint64_t ver)
{
	struct ac_ent *e = ac_find(mc, h);

	if (e && e->slot == slot && e->version < ver)
		e->version = ver;
}

static void ac_drop(struct fc_memclient *mc, uint64_t h)
{
	struct ac_ent *e = ac_find(mc, h);

	if (e)
		e->h = 0;
}

static struct dc_ent *dc_find(struct fc_memclient *mc, uint64_t h, const void *key, uint32_t kl)
{
	struct dc_ent *e;

	if (!mc->dc_n || !h)
		return NULL;
	e = &mc->dc[(h >> 17) & (mc->dc_n - 1)];
	if (e->h != h || e->kl != kl || memcmp(e->kv, key, kl) != 0)
		return NULL;
	return e;
}

static void dc_drop(struct fc_memclient *mc, uint64_t h)
{
	struct dc_ent *e;

	if (!mc->dc_n)
		return;
	e = &mc->dc[(h >> 17) & (mc->dc_n - 1)];
	if (e->h == h) {
		fc_free(e->kv);
		memset(e, 0, sizeof *e);
	}
}

static void dc_put(struct fc_memclient *mc, uint64_t h, uint64_t slot, uint64_t version,
		   const void *key, uint32_t kl, const void *val, uint32_t vl)
{
	struct dc_ent *e;
	unsigned char *kv;

	if (!mc->dc_n || !h || vl > mc->cfg.data_cache_max_value)
		return;
	e = &mc->dc[(h >> 17) & (mc->dc_n - 1)];
	if (e->h == h && e->version == version && e->slot == slot)
		return;
	kv = fc_malloc((size_t)kl + vl + 1);
	if (!kv)
		return; /* a cache: best effort */
	memcpy(kv, key, kl);
	if (vl)
		memcpy(kv + kl, val, vl);
	fc_free(e->kv);
	*e = (struct dc_ent){ .h = h, .slot = slot, .version = version, .kl = kl, .vl = vl,
			      .kv = kv };
}

/* Answers request i and its copies (same key, same batch). val points into
 * the scratch buffer or the data cache: copied now, while it is valid. */
static void finish_found(struct fc_memclient *mc, struct fc_memclient_req *reqs, struct op *ops,
			 int i, const unsigned char *val, uint32_t vl, uint64_t ver)
{
	for (int j = i; j >= 0; j = ops[j].next_dup) {
		struct fc_memclient_req *rq = &reqs[j];

		if (rq->cap && vl)
			memcpy(rq->buf, val, vl < rq->cap ? vl : rq->cap);
		rq->val_len = vl;
		rq->version = ver;
		rq->rc = FC_OK;
		mc->st.found++;
	}
	ops[i].ph = PH_DONE;
}

static void finish_not_found(struct fc_memclient *mc, struct fc_memclient_req *rq, struct op *o)
{
	rq->rc = FC_ENOTFOUND;
	rq->incomplete = o->incomplete;
	o->ph = PH_DONE;
	mc->st.not_found++;
	ac_drop(mc, o->h);
	dc_drop(mc, o->h);
}

static int same_cands(const struct op *o, const uint64_t *cand, int n)
{
	if (n != o->ncand)
		return 0;
	for (int i = 0; i < n; i++)
		if (cand[i] != o->cand[i])
			return 0;
	return 1;
}

/* Consumes the reads of one round for request i and moves it on. */
static void op_advance(struct fc_memclient *mc, struct fc_memclient_req *reqs, struct op *ops,
		       int i)
{
	struct fc_memclient_req *rq = &reqs[i];
	struct op *o = &ops[i];
	const unsigned char *sb = mc->scratch;
	uint32_t vl;
	uint64_t ver;

	switch (o->ph) {
	case PH_DATA: {
		const unsigned char *r = sb + o->boff[0];
		struct dc_ent *e = o->dce;
		uint64_t succ, rv;
		uint32_t magic, rkl, rvl, rkh;

		memcpy(&succ, r, 8);
		memcpy(&magic, r + 8, 4);
		memcpy(&rkl, r + 12, 4);
		memcpy(&rvl, r + 16, 4);
		memcpy(&rkh, r + 20, 4);
		memcpy(&rv, r + 24, 8);
		/* The entry may have changed since the READ was posted (another
		 * key of the batch sharing its direct-mapped place): it must
		 * still be the one the READ checks. */
		if (e->h == o->h && e->slot == o->slot && e->version == o->dc_version && e->kv &&
		    !succ && magic == FC_MEMPOOL_REC_MAGIC && rkl == e->kl && rvl == e->vl &&
		    rkh == (uint32_t)o->h && rv == e->version) {
			mc->st.data_hits++;
			finish_found(mc, reqs, ops, i, e->kv + e->kl, e->vl, e->version);
			return;
		}
		mc->st.cache_stale++;
		dc_drop(mc, o->h);
		ac_drop(mc, o->h);
		o->ph = PH_WINDOW;
		return;
	}
	case PH_ADDR: {
		uint64_t off = FC_MEMPOOL_SLOT_OFF64(o->slot) * FC_MEMPOOL_CHUNK;
		const unsigned char *r = sb + o->boff[0];

		if (rec_check(r, o->blen[0], off, rq->key, rq->key_len, o->h, &vl, &ver) ==
			    REC_MATCH &&
		    ver >= o->floor) {
			mc->st.addr_hits++;
			ac_note(mc, o->h, o->slot, ver);
			dc_put(mc, o->h, o->slot, ver, rq->key, rq->key_len, r + 32 + rq->key_len,
			       vl);
			finish_found(mc, reqs, ops, i, r + 32 + rq->key_len, vl, ver);
			return;
		}
		mc->st.cache_stale++;
		ac_drop(mc, o->h);
		o->ph = PH_WINDOW;
		return;
	}
	case PH_WINDOW: {
		uint32_t fp = fc_mempool_fp(o->h);
		uint64_t cand[MAX_CAND];
		int torn = 0, full = 1, nc = 0;

		for (uint32_t k = 0; k < FC_MEMPOOL_WINDOW_SLOTS; k++) {
			uint64_t s;

			memcpy(&s, sb + o->boff[0] + (size_t)k * 8, 8);
			if (!s && k < FC_MEMPOOL_BUCKET_SLOTS)
				full = 0;
			if (!s || FC_MEMPOOL_SLOT_FP(s) != fp)
				continue;
			if (!slot_sane(mc, s)) {
				torn = 1;
				continue;
			}
			cand[nc++] = s;
		}
		if (nc == 0 && torn) {
			if (o->retries < FC_MEMCLIENT_MAX_RETRIES) {
				o->retries++;
				mc->st.retries++;
			} else {
				rq->rc = FC_EAGAIN;
				o->ph = PH_DONE;
			}
			return;
		}
		if (nc == 0 && full && !o->confirm) {
			/* The home bucket is full, so a slot move (copy into the
			 * next bucket, then the old slot reused) may have been in
			 * flight during the READ: look again. */
			o->confirm = 1;
			o->ncand = 0;
			return;
		}
		if (nc == 0 || (o->confirm && same_cands(o, cand, nc))) {
			/* Absent from the index, or the same candidates as the
			 * window read before their records showed other keys.
			 * Whether that is the whole truth says the home bucket's
			 * incomplete bit, read in the next round: it is set
			 * before any entry of the bucket is dropped. */
			if (mc->hdr.inc_len) {
				o->ph = PH_INC;
				return;
			}
			finish_not_found(mc, rq, o);
			return;
		}
		o->confirm = 0;
		o->ncand = nc;
		memcpy(o->cand, cand, (size_t)nc * sizeof cand[0]);
		o->ph = PH_RECORDS;
		return;
	}
	case PH_RECORDS: {
		int bad = 0;

		for (int k = 0; k < o->ncand; k++) {
			uint64_t s = o->cand[k];
			uint64_t off = FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK;
			const unsigned char *r = sb + o->boff[k];

			switch (rec_check(r, o->blen[k], off, rq->key, rq->key_len, o->h, &vl,
					  &ver)) {
			case REC_MATCH:
				if (ver == 0) {
					/* A current negative record: known absent.
					 * Not held to the floor: the key may have
					 * been deleted since it was seen. */
					o->incomplete = 0;
					finish_not_found(mc, rq, o);
					return;
				}
				if (ver < o->floor) {
					bad = 1; /* older than seen: a stale address */
					break;
				}
				ac_put(mc, o->h, s, ver);
				dc_put(mc, o->h, s, ver, rq->key, rq->key_len,
				       r + 32 + rq->key_len, vl);
				finish_found(mc, reqs, ops, i, r + 32 + rq->key_len, vl, ver);
				return;
			case REC_OTHER:
				break;
			default:
				bad = 1;
			}
		}
		if (o->retries >= FC_MEMCLIENT_MAX_RETRIES) {
			rq->rc = FC_EAGAIN;
			o->ph = PH_DONE;
			return;
		}
		/* Torn, superseded or stale: retry from the index. Only other
		 * keys: confirm with a second look at the window, since a record
		 * may have been reclaimed and reused after the window was read. */
		o->retries++;
		mc->st.retries++;
		o->confirm = !bad;
		o->ph = PH_WINDOW;
		return;
	}
	case PH_INC: {
		uint64_t b = o->h & (mc->hdr.bucket_count - 1), w;

		memcpy(&w, sb + o->boff[0], 8);
		o->incomplete = (int)((w >> (b % 64)) & 1u);
		finish_not_found(mc, rq, o);
		return;
	}
	case PH_DONE:
		return;
	}
}

int fc_memclient_mget(struct fc_memclient *mc, struct fc_memclient_req *reqs, size_t n,
		      char *errmsg)
{
	struct op ops[FC_MEMCLIENT_MAX_BATCH];
	struct fc_transport_wr wrs[FC_TRANSPORT_QUEUE_DEPTH];
	size_t left = n;
	int rc = FC_OK;

	if (n > FC_MEMCLIENT_MAX_BATCH)
		return fc_errf(errmsg, FC_EINVAL, "memclient: batch of %zu over %d", n,
			       FC_MEMCLIENT_MAX_BATCH);
	for (size_t i = 0; i < n; i++) {
		struct op *o = &ops[i];
		struct ac_ent *ae;

		memset(o, 0, sizeof *o);
		reqs[i].rc = FC_EAGAIN;
		reqs[i].val_len = 0;
		reqs[i].version = 0;
		reqs[i].incomplete = 0;
		if (!reqs[i].key || reqs[i].key_len == 0 || reqs[i].key_len > FC_MEMPOOL_MAX_KEY) {
			reqs[i].rc = FC_EINVAL;
			o->ph = PH_DONE;
			left--;
			continue;
		}
		o->next_dup = -1;
		o->h = fc_mempool_hash(reqs[i].key, reqs[i].key_len, mc->hdr.hash_seed);
		mc->st.gets++;
		/* A key already in the batch: answered with its first request. */
		for (size_t j = 0; j < i; j++) {
			struct op *p = &ops[j];

			if (p->is_dup || p->h != o->h || reqs[j].rc == FC_EINVAL ||
			    reqs[j].key_len != reqs[i].key_len ||
			    memcmp(reqs[j].key, reqs[i].key, reqs[i].key_len) != 0)
				continue;
			while (p->next_dup >= 0)
				p = &ops[p->next_dup];
			p->next_dup = (int)i;
			o->is_dup = 1;
			o->ph = PH_DONE;
			break;
		}
		if (o->is_dup) {
			left--;
			continue;
		}
		o->dce = dc_find(mc, o->h, reqs[i].key, reqs[i].key_len);
		ae = ac_find(mc, o->h);
		if (ae)
			o->floor = ae->version;
		if (o->dce && o->dce->version > o->floor)
			o->floor = o->dce->version;
		if (o->dce) {
			o->ph = PH_DATA;
			o->slot = o->dce->slot;
			o->dc_version = o->dce->version;
		} else if (ae) {
			o->ph = PH_ADDR;
			o->slot = ae->slot;
		} else {
			o->ph = PH_WINDOW;
		}
	}

	for (int round = 0; left && round < MAX_ROUNDS; round++) {
		size_t nwr = 0, used = 0;

		for (size_t i = 0; i < n; i++) {
			struct op *o = &ops[i];
			int nreads;
			uint32_t lens[MAX_CAND];
			uint64_t addrs[MAX_CAND];
			size_t need = 0;

			o->in_round = 0;
			if (o->ph == PH_DONE)
				continue;
			switch (o->ph) {
			case PH_DATA:
			case PH_ADDR:
				nreads = 1;
				addrs[0] = FC_MEMPOOL_SLOT_OFF64(o->slot) * FC_MEMPOOL_CHUNK;
				lens[0] = o->ph == PH_DATA ? FC_MEMPOOL_REC_HDR_LEN
							   : FC_MEMPOOL_SLOT_LEN64(o->slot) *
								     FC_MEMPOOL_CHUNK;
				break;
			case PH_WINDOW:
				nreads = 1;
				addrs[0] = mc->hdr.index_off +
					   (o->h & (mc->hdr.bucket_count - 1)) * FC_MEMPOOL_BUCKET_LEN;
				lens[0] = FC_MEMPOOL_WINDOW_LEN;
				break;
			case PH_INC:
				nreads = 1;
				addrs[0] = mc->hdr.inc_off +
					   (o->h & (mc->hdr.bucket_count - 1)) / 64 * 8;
				lens[0] = 8;
				break;
			default:
				nreads = o->ncand;
				for (int k = 0; k < nreads; k++) {
					addrs[k] = FC_MEMPOOL_SLOT_OFF64(o->cand[k]) * FC_MEMPOOL_CHUNK;
					lens[k] = FC_MEMPOOL_SLOT_LEN64(o->cand[k]) * FC_MEMPOOL_CHUNK;
				}
			}
			for (int k = 0; k < nreads; k++)
				need += lens[k];
			if (nwr + (size_t)nreads > FC_TRANSPORT_QUEUE_DEPTH ||
			    used + need > SCRATCH_LEN)
				continue; /* next round */
			for (int k = 0; k < nreads; k++) {
				o->boff[k] = used;
				o->blen[k] = lens[k];
				wrs[nwr++] = (struct fc_transport_wr){
					.op = FC_TRANSPORT_READ, .local = mc->scratch + used,
					.len = lens[k], .mr = mc->mr,
					.remote_addr = mc->remote.addr + addrs[k],
					.wr_id = (uint64_t)i, .signaled = 1,
				};
				used += lens[k];
			}
			o->in_round = 1;
		}
		if (nwr == 0)
			break;
		rc = round_trip(mc, wrs, nwr, errmsg);
		if (rc != FC_OK)
			goto out;
		for (size_t i = 0; i < n; i++) {
			if (!ops[i].in_round)
				continue;
			mc->st.round_trips++;
			ops[i].rounds++;
			op_advance(mc, reqs, ops, (int)i);
			if (ops[i].ph == PH_DONE)
				left--;
		}
	}
	/* Copies take their first request's answer (a found value was copied
	 * to them by finish_found). */
	for (size_t i = 0; i < n; i++) {
		if (ops[i].is_dup || ops[i].next_dup < 0)
			continue;
		for (int j = ops[i].next_dup; j >= 0; j = ops[j].next_dup) {
			mc->st.round_trips += ops[i].rounds;
			if (reqs[i].rc == FC_OK)
				continue;
			reqs[j].rc = reqs[i].rc;
			reqs[j].incomplete = reqs[i].incomplete;
			reqs[j].val_len = 0;
			reqs[j].version = 0;
			if (reqs[i].rc == FC_ENOTFOUND)
				mc->st.not_found++;
		}
	}
out:
	return rc;
}

int fc_memclient_get(struct fc_memclient *mc, const void *key, uint32_t key_len, void *buf,
		     size_t cap, uint32_t *val_len, uint64_t *version, char *errmsg)
{
	struct fc_memclient_req rq = { .key = key, .key_len = key_len, .buf = buf, .cap = cap };
	int rc = fc_memclient_mget(mc, &rq, 1, errmsg);

	if (rc != FC_OK)
		return rc;
	if (rq.rc == FC_OK) {
		if (val_len)
			*val_len = rq.val_len;
		if (version)
			*version = rq.version;
	} else if (rq.rc == FC_EAGAIN) {
		return fc_errf(errmsg, FC_EAGAIN, "memclient: get: record kept moving after %d retries",
			       FC_MEMCLIENT_MAX_RETRIES);
	}
	return rq.rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int read_small(struct fc_memclient *mc, uint64_t off, uint32_t len, char *errmsg)
{
	struct fc_transport_wr wr = {
		.op = FC_TRANSPORT_READ, .local = mc->scratch, .len = len, .mr = mc->mr,
		.remote_addr = mc->remote.addr + off, .signaled = 1,
	};

	return round_trip(mc, &wr, 1, errmsg);
}

int fc_memclient_connect(const char *host, uint16_t port, const struct fc_memclient_config *c,
			 struct fc_memclient **out, char *errmsg)
{
	struct fc_memclient *mc;
	int rc;

	*out = NULL;
	mc = fc_calloc(1, sizeof *mc);
	if (!mc)
		return fc_errf(errmsg, FC_ENOMEM, "memclient: out of memory");
	if (c)
		mc->cfg = *c;
	else
		fc_memclient_config_init(&mc->cfg);
	if (mc->cfg.timeout_ms <= 0)
		mc->cfg.timeout_ms = 5000;
	mc->scratch = fc_malloc(SCRATCH_LEN);
	if (!mc->scratch) {
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
		goto fail;
	}
	if (mc->cfg.addr_cache_entries >= AC_WAYS) {
		mc->ac_sets = pow2_floor(mc->cfg.addr_cache_entries / AC_WAYS);
		mc->ac = fc_calloc(mc->ac_sets * AC_WAYS, sizeof *mc->ac);
		if (!mc->ac) {
			rc = fc_errf(errmsg, FC_ENOMEM, "address cache: out of memory");
			goto fail;
		}
	}
	if (mc->cfg.data_cache_entries) {
		/* dc_n is set once dc exists: fc_memclient_close walks dc_n */
		uint64_t n = pow2_floor(mc->cfg.data_cache_entries);

		mc->dc = fc_calloc(n, sizeof *mc->dc);
		if (!mc->dc) {
			rc = fc_errf(errmsg, FC_ENOMEM, "data cache: out of memory");
			goto fail;
		}
		mc->dc_n = n;
	}
	rc = fc_transport_open(mc->cfg.transport, &mc->t, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = fc_transport_reg_mr(mc->t, mc->scratch, SCRATCH_LEN, &mc->mr, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = fc_transport_connect(mc->t, host, port, mc->cfg.timeout_ms, &mc->conn, errmsg);
	if (rc != FC_OK)
		goto fail;
	fc_transport_conn_remote(mc->conn, &mc->remote);
	if (mc->remote.len < FC_MEMPOOL_HDR_LEN) {
		rc = fc_errf(errmsg, FC_EPROTO, "peer exposes no memory-pool region");
		goto fail;
	}
	rc = read_small(mc, 0, sizeof mc->hdr, errmsg);
	if (rc != FC_OK)
		goto fail;
	memcpy(&mc->hdr, mc->scratch, sizeof mc->hdr);
	if (mc->hdr.magic != FC_MEMPOOL_MAGIC ||
	    mc->hdr.layout_version != FC_MEMPOOL_LAYOUT_VERSION ||
	    mc->hdr.bucket_count < 2 || (mc->hdr.bucket_count & (mc->hdr.bucket_count - 1)) ||
	    mc->hdr.index_off + mc->hdr.index_len > mc->remote.len ||
	    mc->hdr.rec_off + mc->hdr.rec_len > mc->remote.len ||
	    mc->hdr.inc_off + mc->hdr.inc_len > mc->remote.len ||
	    mc->hdr.inc_len * 8 < mc->hdr.bucket_count) {
		rc = fc_errf(errmsg, FC_EPROTO, "bad region header (magic %llx, layout %u)",
			     (unsigned long long)mc->hdr.magic, mc->hdr.layout_version);
		goto fail;
	}
	mc->st.doorbells = 0;
	*out = mc;
	return FC_OK;

fail:
	/* what is not set up yet is NULL, which close skips */
	fc_memclient_close(mc);
	return fc_errwrap(errmsg, rc, "memclient: connect %s:%u", host, port);
}

void fc_memclient_cache_clear(struct fc_memclient *mc)
{
	if (mc->ac)
		memset(mc->ac, 0, mc->ac_sets * AC_WAYS * sizeof *mc->ac);
	for (uint64_t i = 0; i < mc->dc_n; i++) {
		fc_free(mc->dc[i].kv);
		memset(&mc->dc[i], 0, sizeof mc->dc[i]);
	}
}

void fc_memclient_close(struct fc_memclient *mc)
{
	if (!mc)
		return;
	fc_transport_conn_close(mc->conn);
	fc_transport_dereg_mr(mc->mr);
	fc_transport_close(mc->t);
	fc_memclient_cache_clear(mc);
	fc_free(mc->dc);
	fc_free(mc->ac);
	fc_free(mc->scratch);
	fc_free(mc);
}

int fc_memclient_applied_height(struct fc_memclient *mc, uint64_t *height, char *errmsg)
{
	int rc = read_small(mc, FC_MEMPOOL_HDR_OFF_APPLIED, 8, errmsg);

	if (rc == FC_OK)
		memcpy(height, mc->scratch, 8);
	return rc;
}

int fc_memclient_applied_info(struct fc_memclient *mc, uint64_t *height, int *started,
			      char *errmsg)
{
	uint64_t w[6];
	int rc = read_small(mc, FC_MEMPOOL_HDR_OFF_APPLIED, sizeof w, errmsg);

	if (rc != FC_OK)
		return rc;
	memcpy(w, mc->scratch, sizeof w);
	/* One READ of [48, 96): applied height at 48, started at 88. */
	*height = w[0];
	*started = w[(FC_MEMPOOL_HDR_OFF_STARTED - FC_MEMPOOL_HDR_OFF_APPLIED) / 8] != 0;
	return FC_OK;
}

void fc_memclient_stats(const struct fc_memclient *mc, struct fc_memclient_stats *out)
{
	*out = mc->st;
}

void fc_memclient_stats_reset(struct fc_memclient *mc)
{
	memset(&mc->st, 0, sizeof mc->st);
}

struct fc_transport *fc_memclient_transport(struct fc_memclient *mc)
{
	return mc->t;
}

uint64_t fc_memclient_key_hash(const struct fc_memclient *mc, const void *key, uint32_t key_len)
{
	return fc_mempool_hash(key, key_len, mc->hdr.hash_seed);
}
