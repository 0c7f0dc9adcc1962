#include "keytab.h"

#include <string.h>
#include <time.h>

#include "fc_err.h"
#include "fc_mem.h"

/* A seeded 64-bit multiply-mix hash; the seed comes from the clock and the
 * table's address so that collisions cannot be prepared in advance. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_bytes(uint64_t seed, const uint8_t *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, p, n);
	return mix(h ^ w ^ ((uint64_t)n << 56));
}

int keytab_init(struct keytab *t, size_t max_keys)
{
	size_t cap = 16;
	while (cap < max_keys * 2)
		cap <<= 1;
	t->e = fc_calloc(cap, sizeof *t->e);
	if (!t->e)
		return FC_ENOMEM;
	t->cap = cap;
	t->count = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->seed = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)t);
	return FC_OK;
}

void keytab_destroy(struct keytab *t)
{
	fc_free(t->e);
	t->e = NULL;
}

uint32_t keytab_slot(struct keytab *t, const uint8_t *key, size_t len, int *is_new)
{
	static const uint8_t empty;
	if (!key)
		key = &empty; /* a zero-length key is still a key */
	uint64_t h = hash_bytes(t->seed, key, len);
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct keytab_entry *e = &t->e[i];
		if (!e->key) {
			e->key = key;
			e->len = len;
			e->hash = h;
			e->slot = (uint32_t)t->count++;
			if (is_new)
				*is_new = 1;
			return e->slot;
		}
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
			if (is_new)
				*is_new = 0;
			return e->slot;
		}
	}
}
