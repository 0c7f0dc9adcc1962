/* The 64-bit hash of the region layout (fc_mempool.h): keys pick buckets and
 * fingerprints with it, records carry it as their checksum. It only has to
 * spread keys well and catch torn reads, so it is a plain multiply-xor mix
 * over 8-byte words, not a cryptographic hash. */
#include <string.h>

#include "fc_mempool.h"
#include "mempool_int.h"

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xd6e8feb86659fd93ull

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= K2;
	x ^= x >> 32;
	x *= K2;
	x ^= x >> 32;
	return x;
}

/* The hash of the concatenation a || b, a's length a multiple of 8 (so the
 * word boundaries of b are those of the concatenation). */
uint64_t fc_mempool__hash2(const void *a, size_t alen, const void *b, size_t blen, uint64_t seed)
{
	const unsigned char *p = a;
	size_t len = alen;
	uint64_t h = seed ^ ((uint64_t)(alen + blen) * K1);
	uint64_t w;

	for (int part = 0; part < 2; part++) {
		while (len >= 8) {
			memcpy(&w, p, 8);
			h = (h ^ mix64(w + K1)) * K2;
			h = (h << 27) | (h >> 37);
			p += 8;
			len -= 8;
		}
		if (part == 0) {
			p = b;
			len = blen;
		}
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ mix64(w ^ K2)) * K1;
	}
	return mix64(h);
}

uint64_t fc_mempool_hash(const void *data, size_t len, uint64_t seed)
{
	return fc_mempool__hash2(data, 0, data, len, seed);
}

/* ---- shard routing (fc_mempool.h) ------------------------------------- */

uint64_t fc_mempool_node_hash(const char *node_id)
{
	return fc_mempool_hash(node_id, strlen(node_id), FC_MEMPOOL_SHARD_SEED ^ 0x6e6f6465ull);
}

size_t fc_mempool_shard_pick(const void *key, size_t key_len, const uint64_t *node_hashes,
			     size_t n)
{
	uint64_t kh = fc_mempool_hash(key, key_len, FC_MEMPOOL_SHARD_SEED), best_s = 0;
	size_t best = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = mix64(kh ^ node_hashes[i]);

		if (i == 0 || s > best_s) {
			best_s = s;
			best = i;
		}
	}
	return best;
}
