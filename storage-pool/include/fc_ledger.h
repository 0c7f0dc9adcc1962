/* fc_ledger.h - the storage pool's durable ledger and world state.
 *
 * One RocksDB database holds the certified chain and the state it produces.
 * It is the durable truth of the cluster (DESIGN.md, "State tiers"): a block
 * is appended here, with its verdict, its commit certificate, its
 * transaction-index entries and its valid writes, in ONE atomic write batch
 * with the WAL synced, before anyone is told that it committed.
 *
 * COLUMN FAMILIES AND KEY ENCODINGS (u64/u32 are big-endian, so that
 * RocksDB's bytewise order is numeric order)
 *
 *   blocks      u64 height             -> protobuf Block
 *   block_hash  32-byte header hash    -> u64 height
 *   verdicts    u64 height             -> protobuf Verdict (the certified one)
 *   certs       u64 height             -> protobuf CommitCertificate
 *   txindex     tx id (the 64 hex      -> u64 height, u32 index, u8 TxStatus
 *               chars, no NUL)            (13 bytes)
 *   state       key (raw bytes)        -> u64 version, then the value bytes
 *                                         (deleted keys are removed)
 *   meta        "format"               -> u32 format version (1)
 *               "applied_height"       -> u64 height of the last block
 *               "applied_hash"         -> its 32-byte header hash
 *               "config"               -> u64 height, then protobuf ConfigTx
 *                                         of the last valid config transaction
 *   default     unused (RocksDB requires it)
 *
 * Hashes are those of fc_canon.h (header hash = block hash); versions are
 * fc_version_pack(height, tx index). An empty ledger has no applied height:
 * its first block is the genesis block, height 0.
 *
 * APPEND RULES (fc_ledger_append)
 *
 *   - Structure: block, verdict and certificate pass fc_wire_check_block,
 *     fc_wire_check_verdict (one status byte per envelope) and
 *     fc_wire_check_certificate. The verdict and the certificate name the
 *     block's height and header hash, and every verdict the certificate
 *     carries agrees with the verdict on tx_status and write_set_hash.
 *     Unless opts.skip_hash_checks, the block's data and graph hashes and the
 *     verdict's write-set hash are recomputed and must match. Failures:
 *     FC_EPROTO (structure) or FC_EMISMATCH (content); nothing is written.
 *     Signatures are NOT verified here: the storage daemon does that.
 *   - Chain: the height must be applied_height + 1 (0 on an empty ledger) and
 *     prev_hash must equal the header hash of height - 1. Otherwise
 *     FC_EMISMATCH with errmsg "append height 12: expected height 10" or
 *     "append height 12: prev_hash <hex> does not match header hash <hex> of
 *     height 11".
 *   - Idempotence: a block whose height is already stored and whose header
 *     hash equals the stored one is a no-op returning FC_OK (the verdict's
 *     tx_status must equal the stored one, else FC_EMISMATCH). The same
 *     height with a different header hash is FC_EMISMATCH naming both hashes.
 *   - State: the writes of every transaction whose status byte is TX_VALID
 *     are applied in block order, with version fc_version_pack(height,
 *     index); a later transaction of the block overwrites an earlier one's
 *     write of the same key; a delete removes the key. Writes of other
 *     transactions are not applied (their block, status and index entry are
 *     still recorded). Version 0 means "absent", so transaction 0 of the
 *     genesis block may not write state (FC_EINVAL).
 *   - Transaction index: every transaction of the block gets an entry
 *     (height, index, status), EXCEPT when its tx id is already indexed
 *     (earlier block, or earlier in the same block): the index keeps the
 *     FIRST occurrence and is never overwritten. The later occurrence stays
 *     in its block and verdict (a validator normally marks it
 *     TX_DUPLICATE_TXID; the store applies whatever the certified verdict
 *     says and does not second-guess it).
 *   - Config: the ConfigTx of the last TX_VALID TX_CONFIG transaction of the
 *     block (if any) becomes meta "config".
 *   - Durability: one rocksdb_writebatch written with sync = 1; FC_OK is
 *     returned only after RocksDB reports the synced write. If that write
 *     fails the outcome on disk is unknown: the handle turns failed and every
 *     later append returns FC_ESTATE until the ledger is closed and reopened
 *     (reopening recovers whatever the WAL holds, all or nothing per block).
 *
 * THREADS: one handle may be shared by threads. Appends are serialised by an
 * internal mutex (normally there is one appender anyway). Every read function
 * may run concurrently with appends and with other reads; a read sees each
 * block either entirely or not at all. fc_ledger_close must not race with any
 * other call on the handle. Iterators belong to one thread at a time.
 *
 * ERRORS: FC_OK; FC_EINVAL (NULL or bad argument); FC_ENOTFOUND (no such
 * block, transaction, config); FC_EMISMATCH / FC_EPROTO (append rules);
 * FC_ESTORAGE (RocksDB failed, its message in errmsg; also a stored record
 * that is malformed); FC_ENOMEM; FC_ESTATE (failed handle). errmsg is
 * caller-owned, FC_ERRMSG_LEN bytes, may be NULL.
 */
#ifndef FC_LEDGER_H
#define FC_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "fc_canon.h"
#include "flexchain.pb-c.h"

/* Current on-disk format (meta "format"). Opening another format fails. */
#define FC_LEDGER_FORMAT 1

struct fc_ledger;

struct fc_ledger_opts {
	/* Skip recomputing data/graph/write-set hashes on append (the caller,
	 * e.g. a daemon that already checked them, vouches). Default 0. */
	int skip_hash_checks;
	/* RocksDB block cache, bytes. Default 64 MiB. */
	size_t cache_bytes;
	/* Refuse to create a new ledger: FC_ENOTFOUND when path has none.
	 * Default 0 (create if missing). */
	int must_exist;
};

/* Fills opts with the defaults above. */
void fc_ledger_opts_init(struct fc_ledger_opts *opts);

/* Opens (or creates) the ledger in directory path. opts may be NULL
 * (defaults). Checks the format and that meta agrees with the last stored
 * block. On success *out is owned by the caller: fc_ledger_close. On error
 * *out is NULL. path is only read. */
int fc_ledger_open(const char *path, const struct fc_ledger_opts *opts, struct fc_ledger **out,
		   char *errmsg);

/* Closes the database and frees the handle. NULL is a no-op. Iterators must
 * be destroyed first. */
void fc_ledger_close(struct fc_ledger *l);

/* Appends a certified block (see APPEND RULES). block, verdict and cert are
 * only read; nothing keeps a pointer to them. */
int fc_ledger_append(struct fc_ledger *l, const Flexchain__Block *block,
		     const Flexchain__Verdict *verdict, const Flexchain__CommitCertificate *cert,
		     char *errmsg);

/* Height of the last appended block, and (hash may be NULL) its header hash.
 * FC_ENOTFOUND on an empty ledger. Never touches the disk. */
int fc_ledger_head(struct fc_ledger *l, uint64_t *height, uint8_t hash[FC_HASH_LEN]);
/* The same without the hash. */
int fc_ledger_applied_height(struct fc_ledger *l, uint64_t *height);

/* Blocks until the applied height is >= height or timeout_ms passes
 * (FC_ETIMEOUT); timeout_ms < 0 waits forever. For commit streams. */
int fc_ledger_wait(struct fc_ledger *l, uint64_t height, int timeout_ms);

/* ------------------------------------------------------------ block reads
 * Decoded messages are owned by the caller and freed with fc_wire_free
 * (e.g. fc_wire_free(&block->base)); *out is NULL on error. Raw buffers are
 * the stored protobuf bytes, owned by the caller, freed with fc_free. */

int fc_ledger_get_block(struct fc_ledger *l, uint64_t height, Flexchain__Block **out, char *errmsg);
int fc_ledger_get_block_raw(struct fc_ledger *l, uint64_t height, uint8_t **buf, size_t *len,
			    char *errmsg);
/* hash is a 32-byte header hash. */
int fc_ledger_get_block_by_hash(struct fc_ledger *l, const uint8_t hash[FC_HASH_LEN],
				Flexchain__Block **out, char *errmsg);
int fc_ledger_height_by_hash(struct fc_ledger *l, const uint8_t hash[FC_HASH_LEN], uint64_t *height,
			     char *errmsg);
int fc_ledger_get_verdict(struct fc_ledger *l, uint64_t height, Flexchain__Verdict **out,
			  char *errmsg);
int fc_ledger_get_cert(struct fc_ledger *l, uint64_t height, Flexchain__CommitCertificate **out,
		       char *errmsg);

/* The last valid ConfigTx and the height of its block. FC_ENOTFOUND when no
 * config transaction was ever applied. *out: fc_wire_free. */
int fc_ledger_get_config(struct fc_ledger *l, Flexchain__ConfigTx **out, uint64_t *height,
			 char *errmsg);

/* ------------------------------------------------------ transaction index */

struct fc_ledger_tx {
	uint64_t height;
	uint32_t index; /* position of the envelope in its block */
	int status;	/* Flexchain__TxStatus from the certified verdict */
};

/* Looks up a tx id (NUL-terminated, normally 64 hex characters): the first
 * block that carried it. FC_ENOTFOUND when unknown. */
int fc_ledger_get_tx(struct fc_ledger *l, const char *tx_id, struct fc_ledger_tx *out,
		     char *errmsg);

/* ----------------------------------------------------------- world state */

struct fc_ledger_kv {
	/* in: borrowed, only read */
	const uint8_t *key;
	size_t key_len;
	/* out */
	int found;	  /* 0: absent (value NULL, version 0) */
	uint64_t version; /* fc_version_pack(height, index) of the last write */
	uint8_t *value;	  /* owned by the caller: fc_free or fc_ledger_kv_release */
	size_t value_len;
};

/* Reads n keys at one consistent point of the ledger (a RocksDB snapshot: no
 * key reflects a block that another key does not). On error every out field
 * is reset (found 0, value NULL) and nothing is left allocated. n may be 0. */
int fc_ledger_state_get_batch(struct fc_ledger *l, struct fc_ledger_kv *kvs, size_t n,
			      char *errmsg);
/* One key; same as a batch of one. */
int fc_ledger_state_get(struct fc_ledger *l, struct fc_ledger_kv *kv, char *errmsg);
/* Frees the values of kvs[0..n) and resets their out fields. */
void fc_ledger_kv_release(struct fc_ledger_kv *kvs, size_t n);

/* ------------------------------------------------------- commit stream
 * Yields (block, verdict, certificate) for heights from, from + 1, ... in
 * order, up to and including `to`. Each step reads the next height afresh
 * (no snapshot), so an iterator whose `to` is FC_LEDGER_ITER_FOLLOW reports
 * the end when it catches up with the head, and yields blocks appended later
 * when called again: a network layer streams commits with
 *     while (fc_ledger_iter_next(it, &e, msg) == FC_OK) {
 *         if (!e) { fc_ledger_wait(l, next, timeout); continue; }
 *         send(e); next = e->height + 1;
 *     }
 */

#define FC_LEDGER_ITER_FOLLOW UINT64_MAX
/* Flag: do not decode; entries carry the raw bytes only. */
#define FC_LEDGER_ITER_RAW 1u

struct fc_ledger_entry {
	uint64_t height;
	/* Stored protobuf bytes; owned by the iterator, valid until the next
	 * fc_ledger_iter_next or fc_ledger_iter_destroy. */
	const uint8_t *block_raw;
	size_t block_len;
	const uint8_t *verdict_raw;
	size_t verdict_len;
	const uint8_t *cert_raw;
	size_t cert_len;
	/* Decoded (NULL with FC_LEDGER_ITER_RAW); owned by the iterator, same
	 * lifetime as the raw bytes. */
	Flexchain__Block *block;
	Flexchain__Verdict *verdict;
	Flexchain__CommitCertificate *cert;
};

struct fc_ledger_iter;

/* Creates an iterator over heights [from, to]. flags: 0 or
 * FC_LEDGER_ITER_RAW. *out: fc_ledger_iter_destroy. The iterator borrows l,
 * which must outlive it. */
int fc_ledger_iter_from(struct fc_ledger *l, uint64_t from, uint64_t to, unsigned flags,
			struct fc_ledger_iter **out, char *errmsg);
/* FC_OK with *out the next entry, or FC_OK with *out NULL at the end (past
 * `to`, or no block at the next height yet). An error leaves the iterator at
 * the same height (it can be retried). */
int fc_ledger_iter_next(struct fc_ledger_iter *it, const struct fc_ledger_entry **out,
			char *errmsg);
/* NULL is a no-op. */
void fc_ledger_iter_destroy(struct fc_ledger_iter *it);

/* ------------------------------------------------------------ verification */

struct fc_ledger_verify_report {
	uint64_t blocks;     /* blocks replayed (0 on an empty ledger) */
	uint64_t txs;	     /* transactions in them */
	uint64_t state_keys; /* keys in the recomputed state */
};

/* Replays the whole ledger, at one snapshot, from block 0: checks that the
 * blocks are contiguous, hash-chained, indexed by hash, have correct data,
 * graph and write-set hashes, and carry a matching verdict and certificate;
 * recomputes the world state, the transaction index
 * and meta from the valid writes, exactly as appends do, and compares them
 * with what is stored. FC_OK when everything matches; FC_EMISMATCH with the
 * FIRST difference in errmsg otherwise (e.g. "state key 6b3031 (hex): replay
 * has version 0x300000002, stored has none"). Safe to run while blocks are
 * appended. The recomputed tables live in a scratch RocksDB: in memory when
 * scratch_dir is NULL, else in a fresh directory created under scratch_dir
 * and removed afterwards (for ledgers larger than memory). rep may be NULL. */
int fc_ledger_verify(struct fc_ledger *l, const char *scratch_dir,
		     struct fc_ledger_verify_report *rep, char *errmsg);

#endif
