/* The 64-bit hash of the region layout (fc_mempool.h): keys pick buckets and
 * fingerprints with it, records carry it as their checksum. It only has to
 * spread keys well and catch torn reads, so it is a plain multiply-xor mix
 * over 8-byte words, not a cryptographic hash. */
#include <string.h>

#include "fc_mempool.h"

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

uint64_t fc_mempool_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ ((uint64_t)len * K1);
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ mix64(w + K1)) * K2;
		h = (h << 27) | (h >> 37);
		p += 8;
		len -= 8;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ mix64(w ^ K2)) * K1;
	}
	return mix64(h);
}
