/* keytab.h - internal: a seeded open-addressing table from key bytes to a
 * dense slot number, shared by the graph builder and the validator.
 * Keys are borrowed (pointer + length into the block being processed); the
 * table never copies them, so it must not outlive the block. */
#ifndef FC_KEYTAB_H
#define FC_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

struct keytab_entry {
	const uint8_t *key; /* borrowed; NULL = empty */
	size_t len;
	uint64_t hash;
	uint32_t slot;
};

struct keytab {
	struct keytab_entry *e;
	size_t cap; /* power of two */
	size_t count;
	uint64_t seed;
};

/* Sizes the table for up to max_keys distinct keys. FC_OK or FC_ENOMEM. */
int keytab_init(struct keytab *t, size_t max_keys);
void keytab_destroy(struct keytab *t);
/* Slot of key, inserting it with the next free slot number if new (*is_new
 * tells, may be NULL). Never fails: the table was sized for max_keys. */
uint32_t keytab_slot(struct keytab *t, const uint8_t *key, size_t len, int *is_new);

#endif
