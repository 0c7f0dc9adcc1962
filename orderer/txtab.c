/* txtab.c - tx id index: binary ids in a chained hash table, ordered ids
 * also in a FIFO (linked through the entries) that bounds how many are
 * remembered. The ids are SHA-256 outputs chosen by clients through their
 * nonce, but finding a collision on the first 8 bytes still costs a
 * preimage search per entry. */
#include <string.h>

#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "orderer_int.h"

static uint64_t slot_of(const uint8_t id[FC_HASH_LEN])
{
	uint64_t h;

	memcpy(&h, id, sizeof h);
	return h;
}

int fc_ord_txtab_init(struct fc_ord_txtab *t, size_t window)
{
	memset(t, 0, sizeof *t);
	t->window = window ? window : FC_ORD_TXID_WINDOW_DEFAULT;
	/* Small windows get small tables; growth doubles as needed. */
	t->nbuckets = 16;
	while (t->nbuckets < 1024 && t->nbuckets < t->window)
		t->nbuckets *= 2;
	t->buckets = fc_calloc(t->nbuckets, sizeof *t->buckets);
	return t->buckets ? FC_OK : FC_ENOMEM;
}

void fc_ord_txtab_destroy(struct fc_ord_txtab *t)
{
	if (!t->buckets)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fc_ord_txent *e = t->buckets[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			fc_free(e);
		}
	}
	fc_free(t->buckets);
	t->buckets = NULL;
	t->n = t->n_chain = 0;
	t->oldest = t->newest = NULL;
}

static int decode(const char *hex, uint8_t id[FC_HASH_LEN])
{
	if (!hex || strlen(hex) != FC_TXID_HEX_LEN)
		return FC_EINVAL;
	return fc_hex_decode(hex, id, FC_HASH_LEN, NULL);
}

static struct fc_ord_txent *find_bin(const struct fc_ord_txtab *t, const uint8_t id[FC_HASH_LEN])
{
	struct fc_ord_txent *e = t->buckets[slot_of(id) & (t->nbuckets - 1)];

	for (; e; e = e->next)
		if (memcmp(e->id, id, FC_HASH_LEN) == 0)
			return e;
	return NULL;
}

struct fc_ord_txent *fc_ord_txtab_find(const struct fc_ord_txtab *t, const char *hex)
{
	uint8_t id[FC_HASH_LEN];

	if (decode(hex, id) != FC_OK)
		return NULL;
	return find_bin(t, id);
}

static int grow(struct fc_ord_txtab *t)
{
	size_t nb = t->nbuckets * 2;
	struct fc_ord_txent **b = fc_calloc(nb, sizeof *b);

	if (!b)
		return FC_ENOMEM;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fc_ord_txent *e = t->buckets[i], *nx;
		for (; e; e = nx) {
			nx = e->next;
			size_t s = slot_of(e->id) & (nb - 1);
			e->next = b[s];
			b[s] = e;
		}
	}
	fc_free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return FC_OK;
}

/* Unlinks e from its bucket and frees it (not from the FIFO: callers). */
static void drop(struct fc_ord_txtab *t, struct fc_ord_txent *e)
{
	struct fc_ord_txent **pp = &t->buckets[slot_of(e->id) & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			fc_free(e);
			t->n--;
			return;
		}
	}
}

int fc_ord_txtab_put(struct fc_ord_txtab *t, const char *hex, enum fc_ord_tx_state st,
		     uint64_t height)
{
	uint8_t id[FC_HASH_LEN];
	struct fc_ord_txent *e;
	size_t s;

	if (decode(hex, id) != FC_OK)
		return FC_EINVAL;
	e = find_bin(t, id);
	if (e && e->state == FC_ORD_TX_CHAIN) {
		if (st != FC_ORD_TX_CHAIN)
			return FC_EEXIST;
		e->height = height;
		return FC_OK;
	}
	if (!e) {
		if (t->n >= t->nbuckets && grow(t) != FC_OK)
			return FC_ENOMEM;
		e = fc_calloc(1, sizeof *e);
		if (!e)
			return FC_ENOMEM;
		memcpy(e->id, id, FC_HASH_LEN);
		s = slot_of(id) & (t->nbuckets - 1);
		e->next = t->buckets[s];
		t->buckets[s] = e;
		t->n++;
	}
	e->state = (uint8_t)st;
	e->height = height;
	if (st != FC_ORD_TX_CHAIN)
		return FC_OK;
	/* Newly ordered: youngest of the FIFO; the oldest goes past the
	 * window. */
	e->young = NULL;
	if (t->newest)
		t->newest->young = e;
	else
		t->oldest = e;
	t->newest = e;
	t->n_chain++;
	while (t->n_chain > t->window) {
		struct fc_ord_txent *old = t->oldest;
		t->oldest = old->young;
		if (!t->oldest)
			t->newest = NULL;
		t->n_chain--;
		t->evicted++;
		drop(t, old);
	}
	return FC_OK;
}

void fc_ord_txtab_del(struct fc_ord_txtab *t, const char *hex)
{
	uint8_t id[FC_HASH_LEN];
	struct fc_ord_txent *e;

	if (decode(hex, id) != FC_OK)
		return;
	e = find_bin(t, id);
	if (e && e->state == FC_ORD_TX_PENDING)
		drop(t, e);
}

size_t fc_ord_txtab_bytes(const struct fc_ord_txtab *t)
{
	return t->nbuckets * sizeof *t->buckets + t->n * sizeof(struct fc_ord_txent);
}
