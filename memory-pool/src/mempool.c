/* The memory node's side of the memory pool: formats the region, exposes it
 * through the transport and applies certified write sets (layout and rules
 * in fc_mempool.h).
 *
 * Why the writer is shaped the way it is: clients read the region one-sided
 * at any moment, so nothing a reader can reach is ever modified in place
 * except through single aligned 8-byte stores (slots, succ words, the
 * applied height). New records are written in full into free chunks and only
 * then linked; superseded chunks wait out a grace period before reuse.
 *
 * The allocator is deliberately simple for phase 1: a bump pointer over the
 * record area plus one free stack per chunk size (in 64-byte units). Chunks
 * are neither split nor merged, which suits the fixed-size values of the
 * workloads we run; fragmentation under shifting value sizes is phase 2.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_mempool.h"
#include "fc_time.h"
#include "fc_transport.h"
#include "mempool_int.h"

#define COMP "mempool"
#define HUGE_2M (2u << 20)
#define N_CLASSES 4096u
#define ACCEPT_POLL_MS 100

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

struct retired {
	uint64_t off;	 /* byte offset of the chunk */
	uint32_t len64;
	uint64_t t_ms;	 /* when retired */
	uint64_t height; /* block that retired it */
};

struct fc_mempool {
	struct fc_mempool_config cfg;
	char *host;

	unsigned char *region;
	size_t map_len;
	int hugepages;
	struct fc_mempool_hdr *hdr;
	uint64_t *slots; /* (bucket_count + 1) * 8 words */
	uint64_t *inc;	 /* incomplete bitmap, one bit per bucket */
	uint64_t bump;	 /* next never-used byte offset in the record area */
	uint8_t *ref;	 /* CLOCK reference bit per slot (node memory, not the region) */
	uint64_t hand;	 /* CLOCK hand: next slot index to look at */
	uint64_t durable; /* the storage pool holds blocks <= durable */

	struct fc_transport *t;
	struct fc_transport_mr *mr;
	struct fc_transport_listener *l;
	uint16_t port;

	pthread_t accept_thr;
	int accept_started;
	atomic_int stop;
	pthread_mutex_t conns_lock;
	struct fc_transport_conn **conns;
	size_t n_conns, cap_conns;

	pthread_mutex_t lock; /* everything below and every write to the region */
	struct u64vec freel[N_CLASSES];
	/* Retired chunks, FIFO rings: [0] waits for grace_ms and grace_blocks
	 * (superseded by a block), [1] for grace_ms only (evicted, loaded over:
	 * no block need follow), so neither holds the other up. */
	struct ring {
		struct retired *v;
		size_t head, n, cap;
	} ret[2];
	struct fc_mempool_stats st;
};

static uint32_t next_pow2(uint64_t x)
{
	uint32_t p = 2;

	while (p < x && p < (1u << 31))
		p <<= 1;
	return p;
}

void fc_mempool_config_init(struct fc_mempool_config *c)
{
	memset(c, 0, sizeof *c);
	c->region_bytes = 256ull << 20;
	c->grace_ms = 1000;
	c->grace_blocks = 2;
	c->use_hugepages = 1;
	c->transport = FC_TRANSPORT_AUTO;
	c->host = "127.0.0.1";
}

void fc_mempool_config_from_cluster(struct fc_mempool_config *c, const struct fc_config *cfg,
				    const struct fc_config_node *node)
{
	const char *kind = "auto";
	enum fc_transport_kind k;

	fc_mempool_config_init(c);
	fc_mempool__cluster_fields(cfg, node, &c->region_bytes, &kind, &c->host, &c->port);
	if (fc_transport_parse_kind(kind, &k) == FC_OK)
		c->transport = k;
}

/* ---- region ------------------------------------------------------------ */

static int region_map(struct fc_mempool *mp, char *errmsg)
{
	size_t len = mp->cfg.region_bytes;
	void *p = MAP_FAILED;

	if (mp->cfg.use_hugepages) {
		size_t hlen = (len + HUGE_2M - 1) / HUGE_2M * HUGE_2M;

		p = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p != MAP_FAILED) {
			mp->map_len = hlen;
			mp->hugepages = 1;
		} else {
			fc_log(FC_LOG_INFO, COMP, "hugepages unavailable, using normal pages",
			       "bytes=%zu errno=%d", hlen, errno);
		}
	}
	if (p == MAP_FAILED) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return fc_errf(errmsg, fc_err_from_errno(errno), "mmap %zu bytes: %s",
				       len, strerror(errno));
		mp->map_len = len;
		(void)madvise(p, len, MADV_HUGEPAGE);
	}
	mp->region = p;
	return FC_OK;
}

static int region_format(struct fc_mempool *mp, char *errmsg)
{
	uint64_t len = mp->cfg.region_bytes;
	uint32_t bc = mp->cfg.bucket_count;
	struct fc_mempool_hdr *h = (struct fc_mempool_hdr *)mp->region;
	uint64_t index_len, rec_off, inc_off, inc_len;

	if (bc == 0)
		bc = next_pow2(len / 1024);
	if (bc < 2 || (bc & (bc - 1)))
		return fc_errf(errmsg, FC_EINVAL, "bucket_count %u is not a power of two >= 2", bc);
	index_len = ((uint64_t)bc + 1) * FC_MEMPOOL_BUCKET_LEN;
	inc_off = FC_MEMPOOL_HDR_LEN + index_len;
	inc_off = (inc_off + FC_MEMPOOL_CHUNK - 1) / FC_MEMPOOL_CHUNK * FC_MEMPOOL_CHUNK;
	inc_len = ((uint64_t)bc + 511) / 512 * FC_MEMPOOL_CHUNK; /* bc bits, 64-byte units */
	rec_off = inc_off + inc_len;
	if (rec_off + FC_MEMPOOL_MAX_CHUNK > len)
		return fc_errf(errmsg, FC_EINVAL,
			       "region of %llu bytes too small for %u buckets and one record",
			       (unsigned long long)len, bc);
	if (len / FC_MEMPOOL_CHUNK > 0xffffffffffull)
		return fc_errf(errmsg, FC_EINVAL, "region of %llu bytes too large",
			       (unsigned long long)len);
	h->layout_version = FC_MEMPOOL_LAYOUT_VERSION;
	h->bucket_count = bc;
	h->index_off = FC_MEMPOOL_HDR_LEN;
	h->index_len = index_len;
	h->rec_off = rec_off;
	h->rec_len = (len - rec_off) / FC_MEMPOOL_CHUNK * FC_MEMPOOL_CHUNK;
	h->applied_height = 0;
	h->region_len = len;
	h->hash_seed = 0x666c6578636861ull; /* fixed: the layout, not a secret */
	h->inc_off = inc_off;
	h->inc_len = inc_len;
	h->started = 0;
	__atomic_store_n(&h->magic, FC_MEMPOOL_MAGIC, __ATOMIC_RELEASE);
	mp->hdr = h;
	mp->slots = (uint64_t *)(mp->region + h->index_off);
	mp->inc = (uint64_t *)(mp->region + inc_off);
	mp->bump = rec_off;
	mp->st.bucket_count = bc;
	mp->st.slots_total = (uint64_t)bc * FC_MEMPOOL_BUCKET_SLOTS;
	mp->st.rec_len = h->rec_len;
	mp->st.bytes_free = h->rec_len;
	mp->st.hugepages = mp->hugepages;
	return FC_OK;
}

/* ---- accept thread -------------------------------------------------------- */

static void *accept_main(void *arg)
{
	struct fc_mempool *mp = arg;
	char err[FC_ERRMSG_LEN];

	while (!atomic_load(&mp->stop)) {
		struct fc_transport_conn *c = NULL;
		int rc = fc_transport_accept(mp->l, ACCEPT_POLL_MS, &c, err);

		if (rc == FC_ETIMEOUT)
			continue;
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "accept failed", "err=\"%s\"", err);
			usleep(10000);
			continue;
		}
		pthread_mutex_lock(&mp->conns_lock);
		if (mp->n_conns == mp->cap_conns) {
			size_t nc = mp->cap_conns ? mp->cap_conns * 2 : 8;
			void *p = fc_realloc(mp->conns, nc * sizeof *mp->conns);

			if (!p) {
				pthread_mutex_unlock(&mp->conns_lock);
				fc_transport_conn_close(c);
				fc_log(FC_LOG_WARN, COMP, "client refused", "err=ENOMEM");
				continue;
			}
			mp->conns = p;
			mp->cap_conns = nc;
		}
		mp->conns[mp->n_conns++] = c;
		pthread_mutex_unlock(&mp->conns_lock);
		fc_log(FC_LOG_DEBUG, COMP, "client connected", "peer=%s",
		       fc_transport_conn_peer(c));
	}
	return NULL;
}

int fc_mempool_create(const struct fc_mempool_config *c, struct fc_mempool **out, char *errmsg)
{
	struct fc_mempool *mp;
	int rc;

	*out = NULL;
	if (!c || c->region_bytes < (1u << 20))
		return fc_errf(errmsg, FC_EINVAL, "mempool: region must be at least 1 MiB");
	mp = fc_calloc(1, sizeof *mp);
	if (!mp)
		return fc_errf(errmsg, FC_ENOMEM, "mempool: out of memory");
	mp->cfg = *c;
	pthread_mutex_init(&mp->lock, NULL);
	pthread_mutex_init(&mp->conns_lock, NULL);
	mp->host = fc_strdup(c->host ? c->host : "127.0.0.1");
	if (!mp->host) {
		rc = fc_errf(errmsg, FC_ENOMEM, "mempool: out of memory");
		goto fail;
	}
	mp->cfg.host = mp->host;

	rc = region_map(mp, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = region_format(mp, errmsg);
	if (rc != FC_OK)
		goto fail;
	mp->ref = fc_calloc(((size_t)mp->hdr->bucket_count + 1) * FC_MEMPOOL_BUCKET_SLOTS, 1);
	if (!mp->ref) {
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
		goto fail;
	}
	rc = fc_transport_open(c->transport, &mp->t, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = fc_transport_reg_mr(mp->t, mp->region, c->region_bytes, &mp->mr, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = fc_transport_listen(mp->t, mp->host, c->port, mp->mr, &mp->l, errmsg);
	if (rc != FC_OK)
		goto fail;
	mp->port = fc_transport_listener_port(mp->l);
	if (pthread_create(&mp->accept_thr, NULL, accept_main, mp) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "cannot start accept thread");
		goto fail;
	}
	mp->accept_started = 1;
	fc_log(FC_LOG_INFO, COMP, "memory node up",
	       "host=%s port=%u transport=%s region_bytes=%llu buckets=%u hugepages=%d",
	       mp->host, mp->port, fc_transport_name(mp->t),
	       (unsigned long long)c->region_bytes, mp->hdr->bucket_count, mp->hugepages);
	*out = mp;
	return FC_OK;

fail:
	/* what is not set up yet is NULL (or 0), which destroy skips */
	fc_mempool_destroy(mp);
	return fc_errwrap(errmsg, rc, "mempool: create");
}

void fc_mempool_destroy(struct fc_mempool *mp)
{
	if (!mp)
		return;
	atomic_store(&mp->stop, 1);
	if (mp->accept_started)
		pthread_join(mp->accept_thr, NULL);
	for (size_t i = 0; i < mp->n_conns; i++)
		fc_transport_conn_close(mp->conns[i]);
	fc_free(mp->conns);
	fc_transport_listener_close(mp->l);
	fc_transport_dereg_mr(mp->mr);
	fc_transport_close(mp->t);
	if (mp->region)
		munmap(mp->region, mp->map_len);
	for (size_t i = 0; i < N_CLASSES; i++)
		fc_free(mp->freel[i].v);
	fc_free(mp->ret[0].v);
	fc_free(mp->ret[1].v);
	fc_free(mp->ref);
	pthread_mutex_destroy(&mp->conns_lock);
	pthread_mutex_destroy(&mp->lock);
	fc_free(mp->host);
	fc_free(mp);
}

uint16_t fc_mempool_port(const struct fc_mempool *mp)
{
	return mp->port;
}

struct fc_transport *fc_mempool_transport(struct fc_mempool *mp)
{
	return mp->t;
}

const void *fc_mempool_region(const struct fc_mempool *mp)
{
	return mp->region;
}

/* ---- records and chunks (caller holds mp->lock) ----------------------- */

static uint32_t rec_len64(uint32_t kl, uint32_t vl)
{
	uint64_t n = FC_MEMPOOL_REC_HDR_LEN + (((uint64_t)kl + vl + 7) & ~7ull) + 8;

	return (uint32_t)((n + FC_MEMPOOL_CHUNK - 1) / FC_MEMPOOL_CHUNK);
}

static int u64vec_push(struct u64vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 64;
		uint64_t *p = fc_realloc(v->v, nc * sizeof *p);

		if (!p)
			return FC_ENOMEM;
		v->v = p;
		v->cap = nc;
	}
	v->v[v->n++] = x;
	return FC_OK;
}

static int chunk_alloc(struct fc_mempool *mp, uint32_t len64, uint64_t *off)
{
	struct u64vec *fl = &mp->freel[len64];
	uint64_t bytes = (uint64_t)len64 * FC_MEMPOOL_CHUNK;

	if (fl->n) {
		*off = fl->v[--fl->n];
	} else if (mp->bump + bytes <= mp->hdr->rec_off + mp->hdr->rec_len) {
		*off = mp->bump;
		mp->bump += bytes;
	} else {
		/* Split a free chunk of a larger class (e.g. a negative record
		 * in a region of values): the tail goes back to its class. Any
		 * chunk may be reused at any offset: rec_write's order keeps
		 * old bytes from validating. */
		uint32_t c = len64 + 1;

		while (c < N_CLASSES && mp->freel[c].n == 0)
			c++;
		if (c == N_CLASSES)
			return FC_EBUSY;
		*off = mp->freel[c].v[--mp->freel[c].n];
		if (u64vec_push(&mp->freel[c - len64], *off + bytes) != FC_OK) {
			mp->freel[c].n++; /* ENOMEM: the chunk stays whole and free */
			return FC_EBUSY;
		}
	}
	mp->st.bytes_free -= bytes;
	return FC_OK;
}

static int chunk_free(struct fc_mempool *mp, uint64_t off, uint32_t len64)
{
	int rc = u64vec_push(&mp->freel[len64], off);

	if (rc == FC_OK)
		mp->st.bytes_free += (uint64_t)len64 * FC_MEMPOOL_CHUNK;
	/* On ENOMEM the chunk leaks (bounded by memory pressure); the region
	 * stays consistent. */
	return rc;
}

static int retire(struct fc_mempool *mp, uint64_t off, uint32_t len64, uint64_t height)
{
	struct ring *q = &mp->ret[height == UINT64_MAX];

	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 256;
		struct retired *p = fc_malloc(nc * sizeof *p);

		if (!p)
			return FC_ENOMEM;
		for (size_t i = 0; i < q->n; i++)
			p[i] = q->v[(q->head + i) % q->cap];
		fc_free(q->v);
		q->v = p;
		q->cap = nc;
		q->head = 0;
	}
	q->v[(q->head + q->n) % q->cap] = (struct retired){
		.off = off, .len64 = len64, .t_ms = fc_mono_ms(), .height = height,
	};
	q->n++;
	mp->st.bytes_retired += (uint64_t)len64 * FC_MEMPOOL_CHUNK;
	mp->st.bytes_live -= (uint64_t)len64 * FC_MEMPOOL_CHUNK;
	mp->st.records_live--;
	return FC_OK;
}

static size_t reclaim_locked(struct fc_mempool *mp, int force)
{
	uint64_t now = fc_mono_ms();
	uint64_t applied = mp->hdr->applied_height;
	size_t n = 0;

	for (int k = 0; k < 2; k++) {
		struct ring *q = &mp->ret[k];

		while (q->n) {
			struct retired *r = &q->v[q->head];

			if (!force && (now < r->t_ms + mp->cfg.grace_ms ||
				       (r->height != UINT64_MAX &&
					applied < r->height + mp->cfg.grace_blocks)))
				break; /* FIFO: later entries are younger */
			mp->st.bytes_retired -= (uint64_t)r->len64 * FC_MEMPOOL_CHUNK;
			(void)chunk_free(mp, r->off, r->len64);
			q->head = (q->head + 1) % q->cap;
			q->n--;
			n++;
		}
	}
	mp->st.records_reclaimed += n;
	return n;
}

/* Writes a record into the chunk at byte offset off.
 *
 * The chunk may be a reclaimed one that still holds a complete, checksummed
 * record of its previous life, with succ != 0 (every retired record was
 * superseded or deleted first). Readers holding an old address may READ it
 * at any moment, and a READ is not atomic: it can see any mix of old and new
 * bytes. The old record must therefore never become acceptable again, which
 * it would if succ were reset to 0 while the old body is still in place (the
 * checksum does not cover succ and is seeded by the offset only, so the old
 * body validates). Hence the order, each step made visible before the next
 * (release fences; x86 keeps stores in order, the fences keep the compiler
 * from moving them):
 *   1. the magic word (and key_len) := 0: the old body no longer validates;
 *   2. the new body, padding and checksum;
 *   3. the magic word;
 *   4. succ := 0 last: whoever reads succ == 0 reads a finished record.
 * Publication (the slot store) comes after, with release semantics too. */
static void rec_write(struct fc_mempool *mp, uint64_t off, uint32_t len64,
		      const struct fc_mempool_write *w, uint64_t h)
{
	unsigned char *r = mp->region + off;
	uint32_t kh = (uint32_t)h;
	size_t body = (size_t)w->key_len + w->value_len;
	size_t cks_off = FC_MEMPOOL_REC_HDR_LEN + ((body + 7) & ~(size_t)7);
	uint64_t cks, mw = (uint64_t)FC_MEMPOOL_REC_MAGIC | ((uint64_t)w->key_len << 32);

	__atomic_store_n((uint64_t *)(r + 8), 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(r + 16, &w->value_len, 4);
	memcpy(r + 20, &kh, 4);
	memcpy(r + 24, &w->version, 8);
	memcpy(r + 32, w->key, w->key_len);
	if (w->value_len)
		memcpy(r + 32 + w->key_len, w->value, w->value_len);
	memset(r + 32 + body, 0, (size_t)len64 * FC_MEMPOOL_CHUNK - 32 - body);
	/* The checksum covers bytes [8, 32 + body): magic and key_len as they
	 * will be, not the 0 of step 1. */
	{
		unsigned char tmp[FC_MEMPOOL_REC_HDR_LEN - 8];
		uint64_t seed = off ^ FC_MEMPOOL_CKSUM_SEED;

		memcpy(tmp, &mw, 8);
		memcpy(tmp + 8, r + 16, sizeof tmp - 8);
		cks = fc_mempool__hash2(tmp, sizeof tmp, r + 32, body, seed);
	}
	memcpy(r + cks_off, &cks, 8);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n((uint64_t *)(r + 8), mw, __ATOMIC_RELEASE);
	__atomic_store_n((uint64_t *)r, 0, __ATOMIC_RELEASE);
}

/* Finds the slot of key. Returns its index in mp->slots or -1. */
static long find_slot(struct fc_mempool *mp, const void *key, uint32_t kl, uint64_t h)
{
	uint64_t b = h & (mp->hdr->bucket_count - 1);
	uint32_t fp = fc_mempool_fp(h);

	for (uint32_t i = 0; i < FC_MEMPOOL_WINDOW_SLOTS; i++) {
		long si = (long)(b * FC_MEMPOOL_BUCKET_SLOTS + i);
		uint64_t s = mp->slots[si];
		const unsigned char *r;
		uint32_t rkl;

		if (!s || FC_MEMPOOL_SLOT_FP(s) != fp)
			continue;
		r = mp->region + FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK;
		memcpy(&rkl, r + 12, 4);
		if (rkl == kl && memcmp(r + 32, key, kl) == 0)
			return si;
	}
	return -1;
}

static long empty_in(struct fc_mempool *mp, uint64_t bucket)
{
	for (uint32_t i = 0; i < FC_MEMPOOL_BUCKET_SLOTS; i++) {
		long si = (long)(bucket * FC_MEMPOOL_BUCKET_SLOTS + i);

		if (!mp->slots[si])
			return si;
	}
	return -1;
}

/* A free slot in the window of home bucket b. When the window is full, one
 * entry of bucket b+1 whose own home is b+1 moves to bucket b+2 (still in its
 * window): the copy is published first and the old slot is then reused by
 * the caller's single store, so the moved key is never absent from the
 * index (briefly present twice, which readers tolerate: same record). */
static long find_empty(struct fc_mempool *mp, uint64_t h)
{
	uint64_t bc = mp->hdr->bucket_count, b = h & (bc - 1);
	long si = empty_in(mp, b);

	if (si < 0)
		si = empty_in(mp, b + 1);
	if (si >= 0 || b + 2 > bc)
		return si;
	for (uint32_t i = 0; i < FC_MEMPOOL_BUCKET_SLOTS; i++) {
		long from = (long)((b + 1) * FC_MEMPOOL_BUCKET_SLOTS + i), to;
		uint64_t s = mp->slots[from];
		uint32_t kh;

		memcpy(&kh, mp->region + FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK + 20, 4);
		if ((kh & (bc - 1)) != b + 1)
			continue;
		to = empty_in(mp, b + 2);
		if (to < 0)
			return -1;
		__atomic_store_n(&mp->slots[to], s, __ATOMIC_RELEASE);
		mp->ref[to] = mp->ref[from];
		mp->ref[from] = 0;
		mp->st.slots_moved++;
		return from;
	}
	return -1;
}

static uint64_t rec_version(struct fc_mempool *mp, uint64_t slot)
{
	uint64_t v;

	memcpy(&v, mp->region + FC_MEMPOOL_SLOT_OFF64(slot) * FC_MEMPOOL_CHUNK + 24, 8);
	return v;
}

static int durable_ok(struct fc_mempool *mp, uint64_t slot)
{
	uint64_t v = rec_version(mp, slot);

	return v == 0 || (v >> 32) <= mp->durable;
}

static void mark_incomplete(struct fc_mempool *mp, uint64_t bucket)
{
	__atomic_fetch_or(&mp->inc[bucket / 64], 1ull << (bucket % 64), __ATOMIC_SEQ_CST);
}

/* Drops the entry of slot si: its home bucket becomes incomplete first (a
 * reader that misses the key afterwards sees the bit), then the slot is
 * cleared and the record marked deleted and retired (grace by time). */
static void evict_slot(struct fc_mempool *mp, long si)
{
	uint64_t s = mp->slots[si];
	uint64_t off = FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK;
	uint32_t kh;

	memcpy(&kh, mp->region + off + 20, 4);
	mark_incomplete(mp, kh & (mp->hdr->bucket_count - 1));
	__atomic_store_n(&mp->slots[si], 0, __ATOMIC_RELEASE);
	mp->st.slots_used--;
	mp->ref[si] = 0;
	__atomic_store_n((uint64_t *)(mp->region + off), FC_MEMPOOL_SUCC_DELETED,
			 __ATOMIC_RELEASE);
	(void)retire(mp, off, FC_MEMPOOL_SLOT_LEN64(s), UINT64_MAX);
	mp->st.evicted++;
}

/* The probing window of home bucket b is full: evict one durable entry of
 * it, unreferenced first. Returns the freed slot or -1. */
static long evict_in_window(struct fc_mempool *mp, uint64_t b)
{
	long pick = -1;

	for (uint32_t i = 0; i < FC_MEMPOOL_WINDOW_SLOTS; i++) {
		long si = (long)(b * FC_MEMPOOL_BUCKET_SLOTS + i);
		uint64_t s = mp->slots[si];

		if (!s || !durable_ok(mp, s))
			continue;
		if (!mp->ref[si]) {
			pick = si;
			break;
		}
		if (pick < 0)
			pick = si;
	}
	if (pick < 0) {
		mp->st.evict_blocked++;
		return -1;
	}
	evict_slot(mp, pick);
	return pick;
}

static int apply_one(struct fc_mempool *mp, uint64_t height, const struct fc_mempool_write *w,
		     char *errmsg)
{
	uint64_t h = fc_mempool_hash(w->key, w->key_len, mp->hdr->hash_seed);
	long si = find_slot(mp, w->key, w->key_len, h);
	uint64_t old = si >= 0 ? mp->slots[si] : 0;
	uint64_t off, slot;
	uint32_t len64;
	int rc;

	if (old && rec_version(mp, old) >= w->version) {
		mp->st.writes_skipped++;
		return FC_OK;
	}
	if (w->is_delete) {
		if (!old)
			return FC_OK;
		__atomic_store_n(&mp->slots[si], 0, __ATOMIC_RELEASE);
		mp->st.slots_used--;
		__atomic_store_n((uint64_t *)(mp->region + FC_MEMPOOL_SLOT_OFF64(old) *
						   FC_MEMPOOL_CHUNK),
				 FC_MEMPOOL_SUCC_DELETED, __ATOMIC_RELEASE);
		mp->st.deletes_applied++;
		return retire(mp, FC_MEMPOOL_SLOT_OFF64(old) * FC_MEMPOOL_CHUNK,
			      FC_MEMPOOL_SLOT_LEN64(old), height);
	}
	/* The chunk first: a slot move made by find_empty leaves the moved
	 * entry in two slots until the caller's store reuses the old one, so
	 * nothing may fail between finding the slot and storing into it. */
	len64 = rec_len64(w->key_len, w->value_len);
	rc = chunk_alloc(mp, len64, &off);
	if (rc != FC_OK) {
		/* Reclaim what has aged out and try once more. */
		reclaim_locked(mp, 0);
		rc = chunk_alloc(mp, len64, &off);
		if (rc != FC_OK)
			return fc_errf(errmsg, FC_EBUSY, "record area full (%llu bytes free)",
				       (unsigned long long)mp->st.bytes_free);
	}
	if (si < 0) {
		si = find_empty(mp, h);
		if (si < 0)
			si = evict_in_window(mp, h & (mp->hdr->bucket_count - 1));
		if (si < 0) {
			/* Never published: back to the free list at once. */
			(void)chunk_free(mp, off, len64);
			mp->st.index_full++;
			return fc_errf(errmsg, FC_EBUSY, "probing window of bucket %llu full",
				       (unsigned long long)(h & (mp->hdr->bucket_count - 1)));
		}
	}
	rec_write(mp, off, len64, w, h);
	slot = ((uint64_t)fc_mempool_fp(h) << 52) | ((uint64_t)len64 << 40) |
	       (off / FC_MEMPOOL_CHUNK);
	/* Release: the record's bytes are visible before the slot is. */
	__atomic_store_n(&mp->slots[si], slot, __ATOMIC_RELEASE);
	mp->st.writes_applied++;
	mp->st.bytes_live += (uint64_t)len64 * FC_MEMPOOL_CHUNK;
	mp->st.records_live++;
	if (!old) {
		mp->st.slots_used++; /* a move adds one slot too, net +1 */
		return FC_OK;
	}
	__atomic_store_n((uint64_t *)(mp->region + FC_MEMPOOL_SLOT_OFF64(old) * FC_MEMPOOL_CHUNK),
			 off, __ATOMIC_RELEASE);
	return retire(mp, FC_MEMPOOL_SLOT_OFF64(old) * FC_MEMPOOL_CHUNK,
		      FC_MEMPOOL_SLOT_LEN64(old), height);
}

int fc_mempool_apply(struct fc_mempool *mp, uint64_t height, const struct fc_mempool_write *w,
		     size_t n, char *errmsg)
{
	uint64_t applied;
	int rc = FC_OK;

	for (size_t i = 0; i < n; i++) {
		if (!w[i].key || w[i].key_len == 0 || w[i].key_len > FC_MEMPOOL_MAX_KEY ||
		    (!w[i].is_delete && w[i].value_len && !w[i].value))
			return fc_errf(errmsg, FC_EINVAL,
				       "mempool: apply block %llu: write %zu: bad key or value",
				       (unsigned long long)height, i);
		if (!w[i].is_delete && (uint64_t)w[i].key_len + w[i].value_len > FC_MEMPOOL_MAX_KV)
			return fc_errf(errmsg, FC_ETOOBIG,
				       "mempool: apply block %llu: write %zu: %u+%u bytes over %u",
				       (unsigned long long)height, i, w[i].key_len,
				       w[i].value_len, FC_MEMPOOL_MAX_KV);
	}
	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	applied = mp->hdr->applied_height;
	if (height <= applied && mp->hdr->started) {
		fc_log(FC_LOG_DEBUG, COMP, "block already applied", "height=%llu applied=%llu",
		       (unsigned long long)height, (unsigned long long)applied);
		goto unlock;
	}
	if (mp->hdr->started && height != applied + 1) {
		rc = fc_errf(errmsg, FC_ESTATE, "mempool: apply block %llu: applied height is %llu",
			     (unsigned long long)height, (unsigned long long)applied);
		goto unlock;
	}
	for (size_t i = 0; i < n; i++) {
		rc = apply_one(mp, height, &w[i], errmsg);
		if (rc != FC_OK) {
			rc = fc_errwrap(errmsg, rc, "mempool: apply block %llu: write %zu",
					(unsigned long long)height, i);
			goto unlock;
		}
	}
	__atomic_store_n(&mp->hdr->applied_height, height, __ATOMIC_RELEASE);
	__atomic_store_n(&mp->hdr->started, 1, __ATOMIC_RELEASE);
	mp->st.blocks_applied++;
	reclaim_locked(mp, 0);
unlock:
	pthread_mutex_unlock(&mp->lock);
	return rc;
}

int fc_mempool_get_local(struct fc_mempool *mp, const void *key, uint32_t key_len, void *buf,
			 size_t cap, uint32_t *val_len, uint64_t *version)
{
	uint64_t h = fc_mempool_hash(key, key_len, mp->hdr->hash_seed);
	const unsigned char *r;
	uint32_t vl;
	long si;

	pthread_mutex_lock(&mp->lock);
	si = find_slot(mp, key, key_len, h);
	if (si < 0) {
		pthread_mutex_unlock(&mp->lock);
		return FC_ENOTFOUND;
	}
	r = mp->region + FC_MEMPOOL_SLOT_OFF64(mp->slots[si]) * FC_MEMPOOL_CHUNK;
	memcpy(&vl, r + 16, 4);
	if (cap)
		memcpy(buf, r + 32 + key_len, vl < cap ? vl : cap);
	if (val_len)
		*val_len = vl;
	if (version)
		memcpy(version, r + 24, 8);
	pthread_mutex_unlock(&mp->lock);
	return FC_OK;
}

int fc_mempool_reclaim(struct fc_mempool *mp, int force, size_t *n_out)
{
	size_t n;

	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	n = reclaim_locked(mp, force);
	pthread_mutex_unlock(&mp->lock);
	if (n_out)
		*n_out = n;
	return FC_OK;
}

void fc_mempool_stats(struct fc_mempool *mp, struct fc_mempool_stats *out)
{
	pthread_mutex_lock(&mp->lock);
	*out = mp->st;
	out->applied_height = mp->hdr->applied_height;
	out->durable_height = mp->durable;
	pthread_mutex_unlock(&mp->lock);
}

/* ---- bounded capacity, loads, shards ----------------------------------- */

void fc_mempool_set_durable(struct fc_mempool *mp, uint64_t height)
{
	pthread_mutex_lock(&mp->lock);
	if (height > mp->durable)
		mp->durable = height;
	pthread_mutex_unlock(&mp->lock);
}

static void mark_all_locked(struct fc_mempool *mp)
{
	uint64_t words = mp->hdr->inc_len / 8;

	for (uint64_t i = 0; i < words; i++)
		__atomic_store_n(&mp->inc[i], ~0ull, __ATOMIC_SEQ_CST);
}

void fc_mempool_mark_all_incomplete(struct fc_mempool *mp)
{
	pthread_mutex_lock(&mp->lock);
	mark_all_locked(mp);
	pthread_mutex_unlock(&mp->lock);
}

int fc_mempool_start_at(struct fc_mempool *mp, uint64_t height, char *errmsg)
{
	int rc = FC_OK;

	pthread_mutex_lock(&mp->lock);
	if (mp->hdr->started) {
		rc = fc_errf(errmsg, FC_ESTATE, "mempool: start at %llu: already at %llu",
			     (unsigned long long)height,
			     (unsigned long long)mp->hdr->applied_height);
		goto unlock;
	}
	/* Incomplete before the height is visible: nothing this node holds
	 * may be taken as the whole truth of a bucket. */
	mark_all_locked(mp);
	__atomic_store_n(&mp->hdr->applied_height, height, __ATOMIC_RELEASE);
	__atomic_store_n(&mp->hdr->started, 1, __ATOMIC_RELEASE);
	if (height > mp->durable)
		mp->durable = height;
unlock:
	pthread_mutex_unlock(&mp->lock);
	return rc;
}

int fc_mempool_started(struct fc_mempool *mp)
{
	return (int)__atomic_load_n(&mp->hdr->started, __ATOMIC_ACQUIRE);
}

int fc_mempool_insert(struct fc_mempool *mp, const struct fc_mempool_write *w, size_t n,
		      char *errmsg)
{
	int rc = FC_OK;

	for (size_t i = 0; i < n; i++)
		if (!w[i].key || w[i].key_len == 0 || w[i].key_len > FC_MEMPOOL_MAX_KEY ||
		    w[i].is_delete || (w[i].value_len && !w[i].value) ||
		    (w[i].version == 0 && w[i].value_len) ||
		    (uint64_t)w[i].key_len + w[i].value_len > FC_MEMPOOL_MAX_KV)
			return fc_errf(errmsg, FC_EINVAL, "mempool: insert %zu: bad key or value",
				       i);
	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	for (size_t i = 0; i < n; i++) {
		uint64_t before = mp->st.writes_applied;

		rc = apply_one(mp, UINT64_MAX, &w[i], errmsg);
		if (rc != FC_OK) {
			rc = fc_errwrap(errmsg, rc, "mempool: insert %zu", i);
			break;
		}
		if (mp->st.writes_applied != before) {
			/* apply_one counted it as a write: it is a load. */
			mp->st.writes_applied = before;
			mp->st.inserts++;
			if (w[i].version == 0)
				mp->st.negatives++;
		}
	}
	pthread_mutex_unlock(&mp->lock);
	return rc;
}

void fc_mempool_note_access(struct fc_mempool *mp, const uint64_t *hashes, size_t n)
{
	uint64_t bc = mp->hdr->bucket_count;

	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	for (size_t i = 0; i < n; i++) {
		uint64_t b = hashes[i] & (bc - 1);
		uint32_t fp = fc_mempool_fp(hashes[i]);

		for (uint32_t k = 0; k < FC_MEMPOOL_WINDOW_SLOTS; k++) {
			uint64_t si = b * FC_MEMPOOL_BUCKET_SLOTS + k;
			uint64_t s = mp->slots[si];

			if (s && FC_MEMPOOL_SLOT_FP(s) == fp)
				mp->ref[si] = 1;
		}
	}
	pthread_mutex_unlock(&mp->lock);
}

static double fill_locked(struct fc_mempool *mp)
{
	double a = mp->st.rec_len ? (double)mp->st.bytes_live / (double)mp->st.rec_len : 1.0;
	double b = (double)mp->st.slots_used / (double)mp->st.slots_total;

	return a > b ? a : b;
}

double fc_mempool_fill(struct fc_mempool *mp)
{
	double f;

	pthread_mutex_lock(&mp->lock);
	f = fill_locked(mp);
	pthread_mutex_unlock(&mp->lock);
	return f;
}

int fc_mempool_evict(struct fc_mempool *mp, double target, size_t *n_out)
{
	uint64_t total = ((uint64_t)mp->hdr->bucket_count + 1) * FC_MEMPOOL_BUCKET_SLOTS;
	uint64_t scanned = 0;
	size_t n = 0;

	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	/* Two sweeps at most: the first may only clear reference bits. */
	while (fill_locked(mp) > target && scanned < 2 * total) {
		long si = (long)mp->hand;
		uint64_t s = mp->slots[si];

		mp->hand = (mp->hand + 1) % total;
		scanned++;
		if (!s)
			continue;
		if (mp->ref[si]) {
			mp->ref[si] = 0;
			continue;
		}
		if (!durable_ok(mp, s)) {
			mp->st.evict_blocked++;
			continue;
		}
		evict_slot(mp, si);
		n++;
	}
	reclaim_locked(mp, 0);
	pthread_mutex_unlock(&mp->lock);
	if (n_out)
		*n_out = n;
	return FC_OK;
}

int fc_mempool_drop_if(struct fc_mempool *mp, int (*keep)(void *ud, const void *key,
							  uint32_t key_len),
		       void *ud, size_t *n_out)
{
	uint64_t total = ((uint64_t)mp->hdr->bucket_count + 1) * FC_MEMPOOL_BUCKET_SLOTS;
	size_t n = 0;

	pthread_mutex_lock(&mp->lock);
	mp->st.requests_handled++;
	for (uint64_t si = 0; si < total; si++) {
		uint64_t s = mp->slots[si];
		const unsigned char *r;
		uint32_t kl;

		if (!s)
			continue;
		r = mp->region + FC_MEMPOOL_SLOT_OFF64(s) * FC_MEMPOOL_CHUNK;
		memcpy(&kl, r + 12, 4);
		if (keep(ud, r + 32, kl))
			continue;
		evict_slot(mp, (long)si);
		n++;
	}
	pthread_mutex_unlock(&mp->lock);
	if (n_out)
		*n_out = n;
	return FC_OK;
}
