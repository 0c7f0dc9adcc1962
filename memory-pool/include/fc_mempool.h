/* fc_mempool.h - the memory pool: world state in one registered region per
 * memory node, read one-sided by compute servers (fc_memclient.h) and
 * written only by the node itself from certified write sets (DESIGN.md,
 * "State tiers", V3).
 *
 * REGION LAYOUT (layout version 2)
 *
 * All integers are in the node's native byte order (x86-64: little-endian;
 * readers and the node share an architecture), every field naturally aligned.
 * "off" values are byte offsets from the first byte of the region, which is
 * what a client adds to the exposed fc_mr_desc.addr. The region is
 *
 *   [0, 4096)                      header
 *   [index_off, +index_len)        hash index: (bucket_count + 1) buckets
 *   [inc_off, +inc_len)            incomplete bitmap: one bit per bucket
 *   [rec_off, rec_off + rec_len)   record area
 *
 * Header (offsets inside the region):
 *   0   u64 magic           FC_MEMPOOL_MAGIC ("FCMEMPL1")
 *   8   u32 layout_version  FC_MEMPOOL_LAYOUT_VERSION
 *   12  u32 bucket_count    power of two, >= 2
 *   16  u64 index_off       4096
 *   24  u64 index_len       (bucket_count + 1) * 64
 *   32  u64 rec_off         64-aligned
 *   40  u64 rec_len         multiple of 64
 *   48  u64 applied_height  last block applied in full; updated with one
 *                           8-byte release store after the block's records
 *                           and slots are published, so a client that reads
 *                           height h sees every write of blocks <= h
 *   56  u64 region_len
 *   64  u64 hash_seed       seed of the key hash (below)
 *   72  u64 inc_off         64-aligned, right after the index
 *   80  u64 inc_len         bucket_count bits rounded up to 64 bytes
 *   88  u64 started         0 until the node applied its first block or
 *                           started following the chain at some height
 *                           (fc_mempool_start_at); then 1
 *   96..4096 reserved, 0
 *
 * Completeness. The node may not hold every key: it evicts (bounded
 * capacity), it may have restarted empty, or keys may have moved to it with
 * a new shard map. Bit b of the incomplete bitmap (u64 word b / 64, bit
 * b % 64) is set, once and for good, before the node drops any entry whose
 * home bucket is b, and for every bucket when the node starts with a
 * non-empty chain behind it or gains keys from a shard map change. A reader
 * that found no record of a key in its window therefore reads the word of
 * the key's home bucket afterwards (a later round trip): bit clear -> the
 * key is definitively absent; bit set -> ask the node to load it from the
 * storage pool (MemLoadRequest).
 *
 * Negative records. A record whose version is 0 says "known absent": the
 * node loaded the key from the storage pool and it exists nowhere. It is
 * evictable like any record and superseded by any write of the key. Readers
 * treat a current negative record as "absent" (no storage lookup).
 *
 * Key hash: H(key) = fc_mempool_hash(key, len, hash_seed), a 64-bit hash
 * defined by this module (clients call the same function). From h = H(key):
 *   home bucket  b  = h & (bucket_count - 1)
 *   fingerprint  fp = (h >> 52), replaced by 1 when 0 (12 bits, never 0)
 *   probing window: buckets b and b+1 (bucket bucket_count exists only as
 *   the second half of the last window), 128 contiguous bytes, 16 slots, so
 *   ONE READ of [index_off + b*64, +128) fetches every candidate. A key
 *   lives in bucket b or b+1. When both are full, the node moves one entry
 *   of bucket b+1 whose home is b+1 into bucket b+2 (copy published first,
 *   then the old slot reused), so a key is never missing from its window.
 *
 * Bucket: 64 bytes = 8 slots of one u64 each. A slot is
 *   bits 63..52  fp        key fingerprint (0 only in an empty slot)
 *   bits 51..40  len64     record chunk length in 64-byte units (1..4095)
 *   bits 39..0   off64     record offset in 64-byte units (from region base)
 * An empty slot is the word 0. A slot changes only by one aligned 8-byte
 * atomic store by the node (insert, replace, delete), so a reader sees the
 * old or the new word, never a mix.
 *
 * Record: an immutable, 64-byte-aligned chunk of len64*64 bytes in the
 * record area, written completely before any slot points at it:
 *   0   u64 succ        0 while the record is current; set once (8-byte
 *                       release store) when superseded: FC_MEMPOOL_SUCC_DELETED
 *                       for a delete, else the successor's byte offset.
 *                       The only word of a record ever written after publish.
 *   8   u32 magic       FC_MEMPOOL_REC_MAGIC
 *   12  u32 key_len     1..FC_MEMPOOL_MAX_KEY
 *   16  u32 val_len     0..
 *   20  u32 key_hash32  low 32 bits of H(key)
 *   24  u64 version     fc_version_pack(height, tx index) of the write
 *   32  key bytes, then value bytes
 *   32 + align8(key_len + val_len)   u64 checksum
 *       = fc_mempool_hash(bytes [8, 32 + key_len + val_len), seed = record
 *         byte offset ^ FC_MEMPOOL_CKSUM_SEED)
 *   then zero padding to len64*64.
 * The checksum covers everything but succ. A reader accepts a record only if
 * magic, lengths (inside the chunk), key_hash32, key bytes and checksum all
 * match; anything else is a torn, stale or reclaimed read and is retried.
 * Reuse of a reclaimed chunk: its old record still validates (checksum
 * seeded by the offset, not covering succ), so the node writes in this order,
 * each step released before the next: the u64 at 8 (magic, key_len) := 0,
 * so the old record stops validating; then the rest of the new record and
 * its checksum; then magic and key_len; then succ := 0, last. A READ that
 * sees succ == 0 therefore never sees the old record as current. (Until the
 * last step succ still holds the old record's nonzero mark.)
 *
 * WRITES AND RECLAIM
 *
 * The node applies one block at a time (fc_mempool_apply): for each write it
 * allocates a chunk, writes the record, publishes it with one slot store,
 * then marks the old record's succ word and retires its chunk. Retired chunks
 * return to the free lists only when BOTH grace bounds have passed: at least
 * grace_ms since retirement and at least grace_blocks blocks applied since.
 * A reader holding an address older than that detects reuse by the checks
 * above and falls back to the index. Reclaim runs at the end of every apply
 * and on fc_mempool_reclaim().
 *
 * THREADS: one fc_mempool may be used from any threads; calls serialize on
 * an internal lock. The tcp transport serves client READs concurrently from
 * its own worker threads; that is the one-sided path and takes no lock.
 */
#ifndef FC_MEMPOOL_H
#define FC_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "fc_transport.h"

struct fc_config;
struct fc_config_node;

#define FC_MEMPOOL_MAGIC 0x314c504d454d4346ull /* "FCMEMPL1" little-endian */
#define FC_MEMPOOL_LAYOUT_VERSION 2u
#define FC_MEMPOOL_REC_MAGIC 0x31524346u /* "FCR1" */
#define FC_MEMPOOL_CKSUM_SEED 0x6d656d706f6f6c31ull
#define FC_MEMPOOL_SUCC_DELETED 1ull

#define FC_MEMPOOL_HDR_LEN 4096u
#define FC_MEMPOOL_BUCKET_LEN 64u
#define FC_MEMPOOL_BUCKET_SLOTS 8u
#define FC_MEMPOOL_WINDOW_BUCKETS 2u
#define FC_MEMPOOL_WINDOW_LEN (FC_MEMPOOL_BUCKET_LEN * FC_MEMPOOL_WINDOW_BUCKETS)
#define FC_MEMPOOL_WINDOW_SLOTS (FC_MEMPOOL_BUCKET_SLOTS * FC_MEMPOOL_WINDOW_BUCKETS)
#define FC_MEMPOOL_CHUNK 64u
#define FC_MEMPOOL_REC_HDR_LEN 32u
#define FC_MEMPOOL_MAX_CHUNK (4095u * FC_MEMPOOL_CHUNK)
#define FC_MEMPOOL_MAX_KEY 1024u
/* Largest key_len + val_len of one record. */
#define FC_MEMPOOL_MAX_KV (FC_MEMPOOL_MAX_CHUNK - FC_MEMPOOL_REC_HDR_LEN - 8u - 8u)

/* Header field offsets (for clients reading the header one-sided). */
#define FC_MEMPOOL_HDR_OFF_APPLIED 48u
#define FC_MEMPOOL_HDR_OFF_STARTED 88u

#define FC_MEMPOOL_SLOT_FP(s) ((uint32_t)((s) >> 52))
#define FC_MEMPOOL_SLOT_LEN64(s) ((uint32_t)(((s) >> 40) & 0xfffu))
#define FC_MEMPOOL_SLOT_OFF64(s) ((s) & 0xffffffffffull)

/* The region header as laid out above (72 bytes of 4096 used). */
struct fc_mempool_hdr {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t bucket_count;
	uint64_t index_off;
	uint64_t index_len;
	uint64_t rec_off;
	uint64_t rec_len;
	uint64_t applied_height;
	uint64_t region_len;
	uint64_t hash_seed;
	uint64_t inc_off;
	uint64_t inc_len;
	uint64_t started;
};

/* The 64-bit hash of the layout (keys and checksums). Stable across
 * versions of this code for a given layout version; not cryptographic. */
uint64_t fc_mempool_hash(const void *data, size_t len, uint64_t seed);
/* Fingerprint of a key hash (12 bits, never 0). */
static inline uint32_t fc_mempool_fp(uint64_t h)
{
	uint32_t fp = (uint32_t)(h >> 52);
	return fp ? fp : 1u;
}

/* Server-side configuration. fc_mempool_config_init fills defaults. */
struct fc_mempool_config {
	uint64_t region_bytes;	     /* default 256 MiB; >= 1 MiB */
	uint32_t bucket_count;	     /* 0: region_bytes / 1024 rounded up to a
				      * power of two; else a power of two */
	uint32_t grace_ms;	     /* default 1000 */
	uint32_t grace_blocks;	     /* default 2 */
	int use_hugepages;	     /* default 1: try MAP_HUGETLB, fall back */
	enum fc_transport_kind transport; /* default FC_TRANSPORT_AUTO */
	const char *host;	     /* default "127.0.0.1" (borrowed) */
	uint16_t port;		     /* data_port; 0 = ephemeral */
};
void fc_mempool_config_init(struct fc_mempool_config *c);
/* Defaults, then region size, transport, host and data_port from a cluster
 * config for memory node `node` (borrowed: cfg must outlive the mempool). */
void fc_mempool_config_from_cluster(struct fc_mempool_config *c, const struct fc_config *cfg,
				    const struct fc_config_node *node);

/* One write of a certified write set. Borrowed for the call. */
struct fc_mempool_write {
	const void *key;
	uint32_t key_len;     /* 1..FC_MEMPOOL_MAX_KEY */
	const void *value;    /* ignored for deletes */
	uint32_t value_len;   /* key_len + value_len <= FC_MEMPOOL_MAX_KV */
	uint64_t version;     /* fc_version_pack(height, tx index) */
	int is_delete;
};

struct fc_mempool_stats {
	uint64_t applied_height;
	uint64_t bucket_count, slots_total, slots_used;
	uint64_t rec_len;	       /* record area bytes */
	uint64_t bytes_live;	       /* chunks of current records */
	uint64_t bytes_retired;	       /* superseded, waiting for grace */
	uint64_t bytes_free;	       /* never used + reclaimed */
	uint64_t records_live;
	uint64_t blocks_applied, writes_applied, deletes_applied;
	uint64_t writes_skipped;       /* older version than present */
	uint64_t records_reclaimed;
	uint64_t index_full;	       /* writes refused: window full */
	uint64_t slots_moved;	       /* entries moved one bucket on to make
					* room in a full window */
	uint64_t requests_handled;     /* requests the node's own code served:
					* apply, insert, evict, access notes,
					* reclaim (not stats). One-sided reads
					* never move it. */
	uint64_t inserts;	       /* loaded records written (incl. negative) */
	uint64_t negatives;	       /* of which negative (known absent) */
	uint64_t evicted;	       /* entries dropped by eviction or shard moves */
	uint64_t evict_blocked;	       /* candidates kept: not yet durable */
	uint64_t durable_height;       /* storage pool holds blocks <= this */
	int hugepages;		       /* the region is on hugepages */
};

struct fc_mempool; /* fc_mempool_create / fc_mempool_destroy */

/* Maps the region (hugepages when asked and available), formats it,
 * registers it with a new transport of c->transport, listens on
 * c->host:c->port and starts a thread that accepts clients. *out is owned by
 * the caller. `c` is copied (c->host is copied too). */
int fc_mempool_create(const struct fc_mempool_config *c, struct fc_mempool **out, char *errmsg);
/* Stops accepting, closes every client connection, unmaps. NULL is a no-op. */
void fc_mempool_destroy(struct fc_mempool *mp);

/* The bound data-plane port. */
uint16_t fc_mempool_port(const struct fc_mempool *mp);
/* The node's transport (borrowed; for fc_transport_stats). */
struct fc_transport *fc_mempool_transport(struct fc_mempool *mp);
/* The region base (borrowed, read-only; tests and diagnostics). */
const void *fc_mempool_region(const struct fc_mempool *mp);

/* Applies the writes of block `height` in order (a later write to the same
 * key wins; a write whose version is not newer than the key's current
 * record is skipped), then stores applied_height = height and reclaims.
 * Idempotent: height <= applied_height changes nothing and returns FC_OK.
 * Heights are consecutive: height > applied_height + 1 is FC_ESTATE, except
 * for the first block a fresh node applies (it may start anywhere).
 * FC_EINVAL: a bad write (nothing applied). FC_EBUSY: the record area or a
 * probing window is full; the block is then partially applied and
 * applied_height not advanced; applying it again after space is freed is
 * safe (per-key version check). */
int fc_mempool_apply(struct fc_mempool *mp, uint64_t height, const struct fc_mempool_write *w,
		     size_t n, char *errmsg);
/* Local lookup by the node itself (tests, storage refill checks): copies up
 * to cap bytes of the value into buf (may be NULL when cap is 0), sets
 * *val_len to the full length and *version. FC_ENOTFOUND when absent. */
int fc_mempool_get_local(struct fc_mempool *mp, const void *key, uint32_t key_len, void *buf,
			 size_t cap, uint32_t *val_len, uint64_t *version);
/* Frees retired chunks whose grace has passed; *n_out (may be NULL) = how
 * many. force != 0 ignores the grace bounds (tests of reuse detection). */
int fc_mempool_reclaim(struct fc_mempool *mp, int force, size_t *n_out);

/* ---- bounded capacity, loads, shards (the flexchain-memory daemon) ----
 *
 * Eviction drops an entry only when its version's height is <= the durable
 * height (the storage pool holds it); negative records are always
 * droppable. Before dropping, the home bucket's incomplete bit is set. The
 * chunk is retired like a superseded record (grace by time only). Choice of
 * victims: a CLOCK over the slots, with one reference bit per slot kept on
 * the node (never in the region), set by fc_mempool_note_access from the key
 * hashes compute clients report. A write that finds its probing window full
 * evicts a durable entry of that window (coldest first) instead of failing. */

/* The storage pool holds every block <= height durably (only raises it). */
void fc_mempool_set_durable(struct fc_mempool *mp, uint64_t height);
/* A fresh node that follows the chain from block `height` (applied by the
 * storage pool, not by this node): applied_height := height, started := 1,
 * every bucket incomplete. The next fc_mempool_apply must be height + 1.
 * FC_ESTATE when the node already applied or started. */
int fc_mempool_start_at(struct fc_mempool *mp, uint64_t height, char *errmsg);
/* 1 once a block was applied or fc_mempool_start_at was called. */
int fc_mempool_started(struct fc_mempool *mp);
/* Sets every bucket's incomplete bit (e.g. keys moved to this node). */
void fc_mempool_mark_all_incomplete(struct fc_mempool *mp);
/* Inserts records loaded from the storage pool: w[i] with version 0 (and
 * no value) is a negative record. Each is written only when the node holds
 * no record of the key with a version >= w[i].version (a negative record
 * only when it holds none at all). Does not change the applied height.
 * Returns FC_OK, or FC_EBUSY when space ran out (the rest is skipped; best
 * effort: callers answer from what they loaded anyway), FC_EINVAL. */
int fc_mempool_insert(struct fc_mempool *mp, const struct fc_mempool_write *w, size_t n,
		      char *errmsg);
/* Marks the slots holding records of the reported key hashes (full 64-bit
 * fc_mempool_hash values) as recently used. */
void fc_mempool_note_access(struct fc_mempool *mp, const uint64_t *hashes, size_t n);
/* Fill ratio: max(record bytes live or retired / record area, slots used /
 * slots). */
double fc_mempool_fill(struct fc_mempool *mp);
/* Evicts (CLOCK, see above) until the fill ratio is <= target or a full
 * sweep found nothing more to drop; *n_out (may be NULL) = entries dropped. */
int fc_mempool_evict(struct fc_mempool *mp, double target, size_t *n_out);
/* Drops every entry whose key keep(ud, key, key_len) rejects (keys that
 * moved to another node with a new shard map). Their buckets become
 * incomplete. *n_out may be NULL. */
int fc_mempool_drop_if(struct fc_mempool *mp, int (*keep)(void *ud, const void *key,
							  uint32_t key_len),
		       void *ud, size_t *n_out);

/* ---- shard map routing (shared by the node and its clients) ----
 * A key belongs to the node of the map with the highest
 * fc_mempool_shard_score(key hash, node hash) (rendezvous hashing: adding a
 * node moves only the keys it wins). node hash = fc_mempool_node_hash(id). */
uint64_t fc_mempool_node_hash(const char *node_id);
/* Index into node_hashes[0..n) of the key's node; 0 when n is 0. key_hash
 * is fc_mempool_hash(key, len, FC_MEMPOOL_SHARD_SEED) (not the region's
 * seed: routing must not depend on a node's region). */
#define FC_MEMPOOL_SHARD_SEED 0x7368617264736565ull
size_t fc_mempool_shard_pick(const void *key, size_t key_len, const uint64_t *node_hashes,
			     size_t n);
void fc_mempool_stats(struct fc_mempool *mp, struct fc_mempool_stats *out);

#endif
