/* fc_memclient.h - the compute side of the memory pool: one-sided lookups
 * in one memory node's region (layout in fc_mempool.h), with the compute
 * cache of DESIGN.md "State tiers".
 *
 * A get never involves the memory node's CPU:
 *   1. data cache hit (key -> value, version, record address): READ the
 *      record's 32-byte header; current (succ 0), same version, same key
 *      hash and lengths -> the cached value. One round trip, few bytes.
 *   2. address cache hit (key -> record address, chunk length, version):
 *      READ the record, validate it (fc_mempool.h) -> done. One round trip.
 *   3. otherwise, or when 1/2 found the record superseded or reused: READ the
 *      probing window (128 bytes), then READ every candidate record whose
 *      fingerprint matches (one doorbell), validate, pick the one holding the
 *      key. Two round trips.
 * A torn, reclaimed or superseded record read in step 3 retries from step 3
 * up to FC_MEMCLIENT_MAX_RETRIES times, then FC_EAGAIN. A record of the key
 * older than the version the caches hold for it (an address used past its
 * grace) counts as stale too, so one client never returns an older version
 * of a key after a newer one. Before a miss is reported, the home bucket's
 * incomplete bit is read (one more round trip, misses only; fc_mempool.h
 * "Completeness"); a current negative record (version 0) is a miss with
 * incomplete 0. A window with no candidate is FC_ENOTFOUND,
 * except that a window whose home bucket is full is read once more first (a
 * slot move may have been in flight). When the candidates all held valid
 * records of other keys, the window is read again: the same candidates ->
 * FC_ENOTFOUND; new ones -> their records are read (one more retry).
 *
 * fc_memclient_mget posts step 1/2 READs together with the step-3 window
 * READs of every uncached key of the batch with one doorbell, then all
 * record READs of the batch with one doorbell, and so on.
 * A key given more than once in one batch is looked up once; every copy gets
 * the same answer.
 *
 * A "round trip" is one post + wait for all its completions; each get counts
 * the round trips it took part in (stats.round_trips / stats.gets).
 *
 * Threads: a client is used by one thread at a time (it owns one
 * connection). Use one client per thread.
 */
#ifndef FC_MEMCLIENT_H
#define FC_MEMCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fc_transport.h"

#define FC_MEMCLIENT_MAX_RETRIES 16
#define FC_MEMCLIENT_MAX_BATCH 64

struct fc_memclient_config {
	enum fc_transport_kind transport; /* default FC_TRANSPORT_AUTO */
	uint32_t addr_cache_entries;	  /* default 1 Mi; 0 disables */
	uint32_t data_cache_entries;	  /* default 4096; 0 disables */
	uint32_t data_cache_max_value;	  /* largest value cached, default 4096 */
	int timeout_ms;			  /* connect and each poll wait, default 5000 */
};
void fc_memclient_config_init(struct fc_memclient_config *c);

struct fc_memclient_stats {
	uint64_t gets;		 /* keys looked up (mget counts each key) */
	uint64_t found, not_found;
	uint64_t round_trips;	 /* summed over gets */
	uint64_t data_hits;	 /* served by step 1 */
	uint64_t addr_hits;	 /* served by step 2 */
	uint64_t cache_stale;	 /* step 1/2 entry was invalid: fell back */
	uint64_t retries;	 /* step-3 retries (torn/stale/reclaimed) */
	uint64_t doorbells;	 /* fc_transport_post calls */
};

struct fc_memclient; /* fc_memclient_connect / fc_memclient_close */

/* Opens a transport, connects to host:port, reads and checks the region
 * header. *out owned by the caller. c may be NULL (defaults). */
int fc_memclient_connect(const char *host, uint16_t port, const struct fc_memclient_config *c,
			 struct fc_memclient **out, char *errmsg);
void fc_memclient_close(struct fc_memclient *mc);

/* Looks up key. On FC_OK copies min(cap, value length) bytes to buf (may be
 * NULL when cap is 0), *val_len = full value length, *version = the
 * record's version (val_len, version may be NULL). FC_ENOTFOUND when absent;
 * FC_EAGAIN when every retry read a torn or moving record. */
int fc_memclient_get(struct fc_memclient *mc, const void *key, uint32_t key_len, void *buf,
		     size_t cap, uint32_t *val_len, uint64_t *version, char *errmsg);

/* One key of a batched get; caller-allocated. In: key, key_len, buf, cap.
 * Out: rc (FC_OK, FC_ENOTFOUND, FC_EAGAIN), val_len, version, incomplete.
 * incomplete (with FC_ENOTFOUND only): the node may not hold every key of
 * this key's bucket (evicted, restarted empty, shard moved), so the miss
 * proves nothing; 0 with FC_ENOTFOUND: the key is definitively absent. */
struct fc_memclient_req {
	const void *key;
	uint32_t key_len;
	void *buf;
	size_t cap;
	int rc;
	uint32_t val_len;
	uint64_t version;
	int incomplete;
};
/* Looks up n <= FC_MEMCLIENT_MAX_BATCH keys with one doorbell per round.
 * Returns FC_OK when every request has its own rc set (even FC_ENOTFOUND),
 * or a transport error (then every rc is meaningless). */
int fc_memclient_mget(struct fc_memclient *mc, struct fc_memclient_req *reqs, size_t n,
		      char *errmsg);

/* One-sided READ of the node's applied height. */
int fc_memclient_applied_height(struct fc_memclient *mc, uint64_t *height, char *errmsg);
/* The same, with *started = 0 while the node has applied no block and
 * follows no height yet (one READ). */
int fc_memclient_applied_info(struct fc_memclient *mc, uint64_t *height, int *started,
			      char *errmsg);

/* The region's 64-bit key hash (fc_mempool_hash with the node's seed): what
 * AccessReport carries. */
uint64_t fc_memclient_key_hash(const struct fc_memclient *mc, const void *key, uint32_t key_len);

/* Forget all cached addresses and values. */
void fc_memclient_cache_clear(struct fc_memclient *mc);
void fc_memclient_stats(const struct fc_memclient *mc, struct fc_memclient_stats *out);
void fc_memclient_stats_reset(struct fc_memclient *mc);
struct fc_transport *fc_memclient_transport(struct fc_memclient *mc);

#endif
