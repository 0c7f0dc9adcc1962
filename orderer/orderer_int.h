/* orderer_int.h - the pure parts of the orderer, internal to orderer/ and its
 * unit tests: block cutting policy, intake checks, block building and
 * verification, the tx id table and the local block log.
 *
 * Nothing here touches the network or Raft; every function runs on the
 * caller's thread and none is thread-safe on a shared object.
 */
#ifndef FC_ORDERER_INT_H
#define FC_ORDERER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "flexchain.pb-c.h"

/* ------------------------------------------------------------ cutter */

/* Block cutting policy (config block_cutting). The cutter only counts: the
 * caller keeps the envelopes. A batch is cut when it holds max_txs
 * envelopes, when adding the next envelope would take it over max_bytes, or
 * when its oldest envelope has waited timeout_ms. */
struct fc_ord_cutter {
	uint32_t max_txs;
	uint64_t max_bytes;
	uint32_t timeout_ms;
	uint32_t n;	   /* envelopes in the current batch */
	uint64_t bytes;	   /* their encoded size */
	uint64_t first_ms; /* arrival of the oldest, valid when n > 0 */
};

enum fc_ord_cut {
	FC_ORD_CUT_NONE = 0, /* keep batching */
	FC_ORD_CUT_BEFORE,   /* cut the current batch, then add this envelope */
	FC_ORD_CUT_AFTER,    /* add this envelope, then cut */
};

void fc_ord_cutter_init(struct fc_ord_cutter *c, uint32_t max_txs, uint64_t max_bytes,
			uint32_t timeout_ms);
/* What to do with an envelope of `size` bytes arriving at now_ms. Does not
 * add it: call fc_ord_cutter_add (after fc_ord_cutter_reset for CUT_BEFORE).
 * An envelope over max_bytes is refused at intake and never seen here. */
enum fc_ord_cut fc_ord_cutter_offer(const struct fc_ord_cutter *c, uint64_t size);
void fc_ord_cutter_add(struct fc_ord_cutter *c, uint64_t size, uint64_t now_ms);
/* 1 when a non-empty batch has waited timeout_ms at now_ms. */
int fc_ord_cutter_expired(const struct fc_ord_cutter *c, uint64_t now_ms);
/* Empties the batch (after a cut). */
void fc_ord_cutter_reset(struct fc_ord_cutter *c);

/* ------------------------------------------------------------ intake */

/* Checks an envelope a gateway submitted, in order:
 *   FC_ETOOBIG  its encoded size is over max_bytes
 *   FC_EPROTO   fc_wire_check_envelope fails, or the proposal's tx_id is not
 *               the tx id of its nonce and creator
 *   FC_EVERIFY  the creator certificate does not verify against cs, or the
 *               client signature over fc_hash_client_sig does not verify
 * On FC_OK txid (65 bytes) holds the tx id. errmsg says why otherwise. */
int fc_ord_intake_check(fc_crypto_castore *cs, const Flexchain__Envelope *env, uint64_t max_bytes,
			char txid[FC_TXID_HEX_LEN + 1], char *errmsg);

struct fc_ord_txtab;
/* The duplicate check that follows fc_ord_intake_check: FC_EEXIST (errmsg
 * "duplicate tx id: ordered in block H" or "...: already pending") when t
 * holds txid, FC_OK otherwise. Only the window of t is checked: older
 * duplicates are the validators' to refuse (see "tx ids" below). */
int fc_ord_intake_dedup(const struct fc_ord_txtab *t, const char *txid, char *errmsg);

/* ------------------------------------------------------------ blocks */

/* Builds, hashes and signs block `height` over envs[0..n) (borrowed: the
 * block points at them; n may be 0) chained to prev_hash (32 bytes; zeros
 * at height 0), computes its dependency graph and encodes it. On success
 * *buf (fc_malloc'd, caller frees) holds the encoded Block and hash its
 * header hash. cert_der is the orderer's certificate (borrowed). */
int fc_ord_block_make(uint64_t height, const uint8_t prev_hash[FC_HASH_LEN],
		      Flexchain__Envelope *const *envs, size_t n, uint64_t timestamp_ms,
		      const uint8_t *cert_der, size_t cert_len, const fc_key *key, uint8_t **buf,
		      size_t *len, uint8_t hash[FC_HASH_LEN], char *errmsg);

/* Verifies a decoded block as the successor of (height, prev_hash):
 * structure (fc_wire_check_block), height and prev_hash (FC_EMISMATCH),
 * data and graph hashes, the orderer certificate against cs with role
 * "orderer" and the header signature (FC_EVERIFY). On FC_OK hash holds the
 * header hash. prev_hash NULL skips the chaining check (height too). */
int fc_ord_block_verify(fc_crypto_castore *cs, const Flexchain__Block *b, uint64_t height,
			const uint8_t *prev_hash, uint8_t hash[FC_HASH_LEN], char *errmsg);

/* ------------------------------------------------------------ tx ids */

/* The orderer's memory of tx ids, bounded: every pending id (accepted, not
 * yet ordered; at most max_pending of them) and the ids of the last
 * `window` ordered transactions. Ordered ids sit in a FIFO in the order they
 * were ordered; when more than `window` are held the oldest is evicted, so
 * entries and buckets stay bounded by window + pending. A duplicate of an
 * evicted id gets past intake but never into the state: validators and the
 * storage pool refuse it against the ledger's tx index (fc_validate's
 * txids_committed, DUPLICATE_TXID). Binary ids in a chained hash table. */
enum fc_ord_tx_state { FC_ORD_TX_PENDING = 1, FC_ORD_TX_CHAIN = 2 };

#define FC_ORD_TXID_WINDOW_DEFAULT 1000000u

struct fc_ord_txent {
	struct fc_ord_txent *next;  /* bucket chain */
	struct fc_ord_txent *young; /* FC_ORD_TX_CHAIN: next younger ordered id */
	uint8_t id[FC_HASH_LEN];
	uint8_t state;
	uint64_t height; /* for FC_ORD_TX_CHAIN */
};

struct fc_ord_txtab {
	struct fc_ord_txent **buckets;
	size_t nbuckets; /* power of two */
	size_t n;	 /* entries, pending and ordered */
	size_t n_chain;	 /* ordered ids held, <= window */
	size_t window;
	struct fc_ord_txent *oldest, *newest; /* the FIFO of ordered ids */
	uint64_t evicted;		      /* ordered ids forgotten so far */
};

/* window: ordered ids remembered (0: FC_ORD_TXID_WINDOW_DEFAULT). */
int fc_ord_txtab_init(struct fc_ord_txtab *t, size_t window);
void fc_ord_txtab_destroy(struct fc_ord_txtab *t);
/* hex: a 64-char tx id. NULL when absent (never seen, or evicted) or not
 * hex. */
struct fc_ord_txent *fc_ord_txtab_find(const struct fc_ord_txtab *t, const char *hex);
/* Records a tx id as pending or ordered (at `height`). Pending -> ordered
 * enters the FIFO and may evict the oldest ordered id; ordered -> ordered
 * only updates the height. FC_OK, FC_ENOMEM, FC_EINVAL (not hex),
 * FC_EEXIST (making an ordered id pending: an ordered id never goes back). */
int fc_ord_txtab_put(struct fc_ord_txtab *t, const char *hex, enum fc_ord_tx_state st,
		     uint64_t height);
/* Forgets a pending tx id (its submission failed). Ordered ids leave only
 * by eviction: this is a no-op for them. */
void fc_ord_txtab_del(struct fc_ord_txtab *t, const char *hex);
/* Bytes held by the table (buckets and entries), for tests and metrics. */
size_t fc_ord_txtab_bytes(const struct fc_ord_txtab *t);

/* ------------------------------------------------------------ block log */

/* The orderer's local chain: an append-only file <dir>/blocks.log of
 * records [u32 BE length][u32 BE FNV-1a of payload][payload = encoded Block],
 * fdatasync'ed after each append. Opening scans the file, verifies each
 * record's checksum and chaining (height i at record i, prev hash), and cuts
 * a torn or corrupt tail off (a crash mid-append), so the log always holds
 * blocks 0..n-1 exactly. Offsets are kept in memory for reads. */
struct fc_ord_blocklog {
	int fd;
	uint64_t n;    /* blocks stored: heights 0..n-1 */
	uint64_t *off; /* record offsets, n entries */
	uint32_t *len; /* payload lengths */
	size_t cap;
	uint64_t end;		  /* file size = next record offset */
	uint8_t tip[FC_HASH_LEN]; /* header hash of block n-1 (zeros if n == 0) */
};

/* Opens or creates. For every block found, calls on_block(ud, block) (may be
 * NULL), e.g. to rebuild the tx id index. FC_EIO, FC_ENOMEM, FC_ECONFIG
 * when the file is not a block log. */
int fc_ord_blocklog_open(struct fc_ord_blocklog *l, const char *dir,
			 int (*on_block)(void *ud, const Flexchain__Block *b), void *ud,
			 char *errmsg);
void fc_ord_blocklog_close(struct fc_ord_blocklog *l);
/* Appends block n (its encoding, and its header hash which becomes the
 * tip), synced. */
int fc_ord_blocklog_append(struct fc_ord_blocklog *l, const uint8_t *buf, size_t len,
			   const uint8_t hash[FC_HASH_LEN], char *errmsg);
/* Reads block `height` into a new fc_malloc'd *buf. FC_ENOTFOUND past the
 * end. */
int fc_ord_blocklog_read(const struct fc_ord_blocklog *l, uint64_t height, uint8_t **buf,
			 size_t *len, char *errmsg);

/* ------------------------------------------------------------ committees */

/* The committee of block `height` among n_live members sorted by id:
 * min(k, n_live) consecutive members starting at height mod n_live, so
 * that the work rotates. Writes their indexes to idx (k entries) and
 * returns how many. */
size_t fc_ord_committee(size_t n_live, size_t k, uint64_t height, size_t *idx);
/* 1 when a committee of n_committee members can certify for a configured
 * size k: at least a majority of k (k/2 + 1) members; otherwise the storage
 * pool validates at once. */
int fc_ord_committee_viable(size_t n_committee, size_t k);
/* 1 when n_agree identical verdicts are more than half the committee. */
int fc_ord_majority(size_t n_agree, size_t n_committee);

/* ------------------------------------------------------------ misc */

uint64_t fc_ord_now_ms(void);

#endif
