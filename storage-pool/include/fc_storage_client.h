/* fc_storage_client.h - talking to the storage pool (flexchain-storage).
 *
 * Three things live here:
 *
 *  1. Replication. fc_storage_append() sends one certified block (block,
 *     verdict, commit certificate) as a LedgerAppend to EVERY replica of
 *     cfg->storage.replicas and returns FC_OK once cfg->storage.write_quorum
 *     of them acknowledged it with code 0 (DESIGN.md step 5: a block is
 *     durable on a quorum before anyone is told it committed). Replicas that
 *     answer later are not waited for; their late LedgerAcks are read and
 *     dropped by the next call. A replica that is down is skipped and
 *     reconnected on the next call.
 *  2. Queries against one replica: height, a block range with decisions, a
 *     transaction, a batch of state keys; and the HyBE fallback: a
 *     ValidateRequest answered with the replica's storage-validated Verdict.
 *  3. fc_storage_verify_certified(): the signature checks a storage replica
 *     runs on every block it appends (also used by `flexchain ledger
 *     verify`).
 *
 * TRANSPORT: blocking sockets (fc_netc of fc_net.h), one connection per
 * replica, opened lazily and kept. Frames are ControlMessages; replies are
 * paired with requests by request_id (stale replies are skipped).
 *
 * THREADS: a client belongs to one thread at a time (no internal locking).
 * Use one client per thread; clients are cheap. The configuration is
 * borrowed and must outlive the client.
 *
 * ERRORS: FC_OK; FC_EINVAL (bad argument); FC_ETIMEOUT (the write quorum or a
 * reply did not arrive in time; errmsg names the replicas that did not
 * answer); FC_EIO / FC_ECLOSED (connection failed); FC_EPROTO (garbage
 * reply); an fc_err code a replica reported (its LedgerAck or Error message
 * is in errmsg, prefixed with the replica id), e.g. FC_EVERIFY for a block
 * whose orderer signature does not verify. errmsg is caller-owned,
 * FC_ERRMSG_LEN bytes, may be NULL.
 */
#ifndef FC_STORAGE_CLIENT_H
#define FC_STORAGE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "flexchain.pb-c.h"

struct fc_storage_client;

struct fc_storage_client_opts {
	unsigned timeout_ms;	     /* per call (append: until quorum); default 5000 */
	unsigned connect_timeout_ms; /* per replica connect; default 1000 */
	/* Replica index to leave out of appends and to never contact (a storage
	 * replica catching up from its peers passes its own index); default
	 * (size_t)-1 = none. Only meaningful with fc_storage_client_create. */
	size_t skip_replica;
};

/* Fills opts with the defaults. */
void fc_storage_client_opts_init(struct fc_storage_client_opts *opts);

/* A client for the replicas of cfg (borrowed, must outlive the client).
 * opts may be NULL (defaults); copied. No connection is made yet. *out is
 * owned by the caller: fc_storage_client_destroy. */
int fc_storage_client_create(const struct fc_config *cfg, const struct fc_storage_client_opts *opts,
			     struct fc_storage_client **out, char *errmsg);

/* Closes every connection and frees c. NULL is a no-op. */
void fc_storage_client_destroy(struct fc_storage_client *c);

/* Number of replicas (cfg->storage.n_replicas); indexes below are
 * 0..n-1 in the configuration's order. */
size_t fc_storage_client_replicas(const struct fc_storage_client *c);

/* ------------------------------------------------------------- replication */

struct fc_storage_append_result {
	uint32_t acked;	 /* replicas that answered code 0 */
	uint32_t failed; /* replicas that answered an error or were unreachable */
};

/* Appends a certified block on every replica, returning once write_quorum
 * replicas acknowledged it (see above). block, verdict and cert are only
 * read. res may be NULL. Returns FC_OK, FC_ETIMEOUT ("append height 7:
 * write quorum 2 not reached in 5000 ms: no answer from storage1"), or, when
 * too many replicas refused it for the quorum to be reachable, the first
 * refusal's code with its message ("append height 7: storage0: verify block
 * 7: orderer signature: ..."). */
int fc_storage_append(struct fc_storage_client *c, const Flexchain__Block *block,
		      const Flexchain__Verdict *verdict, const Flexchain__CommitCertificate *cert,
		      struct fc_storage_append_result *res, char *errmsg);

/* ----------------------------------------------------------------- queries
 * `replica` is an index into cfg->storage.replicas. Decoded replies are
 * owned by the caller and freed with fc_wire_free(&(*out)->base). */

struct fc_storage_height {
	int empty;			/* no block stored yet */
	uint64_t applied_height;	/* meaningful when !empty */
	uint8_t last_hash[FC_HASH_LEN]; /* header hash of applied_height */
};

int fc_storage_get_height(struct fc_storage_client *c, size_t replica,
			  struct fc_storage_height *out, char *errmsg);

/* Blocks [from, from + count) with their decisions (count 0 = 1); a replica
 * may return fewer (it caps a reply's size, or has fewer): (*out)->n_blocks
 * says how many. FC_ENOTFOUND when it has no block at `from`. */
int fc_storage_get_blocks(struct fc_storage_client *c, size_t replica, uint64_t from,
			  uint64_t count, Flexchain__BlockReply **out, char *errmsg);
/* The same from any replica, asking replica *pref first (then the next ones,
 * round) and setting *pref to the one that answered; pref may be NULL (start
 * at 0). A reply without blocks counts as not serving `from`. The error is
 * the last replica's. */
int fc_storage_get_blocks_any(struct fc_storage_client *c, size_t *pref, uint64_t from,
			      uint64_t count, Flexchain__BlockReply **out, char *errmsg);

/* (*out)->found says whether the tx id is indexed. */
int fc_storage_get_tx(struct fc_storage_client *c, size_t replica, const char *tx_id,
		      Flexchain__TxInfo **out, char *errmsg);
/* ids[0..n) in one round trip (only read); (*out)->txs[i] answers ids[i]. */
int fc_storage_get_txs(struct fc_storage_client *c, size_t replica, const char *const *ids,
		       size_t n, Flexchain__TxBatchInfo **out, char *errmsg);

/* keys[0..n) (only read); (*out)->entries[i] answers keys[i], all read at
 * one consistent point, (*out)->applied_height. */
int fc_storage_get_state(struct fc_storage_client *c, size_t replica,
			 const ProtobufCBinaryData *keys, size_t n, Flexchain__StateReply **out,
			 char *errmsg);

/* HyBE fallback: asks the replica to validate block (only read) against its
 * own state once it has applied height - 1. On FC_OK *out is the replica's
 * signed, storage-validated verdict (fc_wire_free). The signature is NOT
 * checked here (fc_validate_verdict_verify). committee may be NULL. */
int fc_storage_validate(struct fc_storage_client *c, size_t replica, const Flexchain__Block *block,
			char *const *committee, size_t n_committee, Flexchain__Verdict **out,
			char *errmsg);

/* ------------------------------------------------------- signature checks */

/* Checks the signatures of a certified block against the trust roots cs:
 *   - the header's orderer certificate chains to a known CA and has OU
 *     "orderer"; the header signature verifies over fc_hash_header;
 *   - the verdict and every verdict the certificate carries verify
 *     (fc_validate_verdict_verify); their signer has OU "compute", or
 *     "storage" when the verdict is storage_validated;
 *   - a certificate that is not storage_validated carries verdicts of more
 *     than half its committee (distinct signers); a storage_validated one
 *     at least one storage verdict;
 *   - the certificate's orderer certificate is an orderer's and its
 *     signature verifies over fc_hash_certificate.
 * Structure must have been checked (fc_wire_check_*). FC_OK or FC_EVERIFY
 * with errmsg naming the height and the signature at fault, e.g.
 * "block 7: header: orderer signature: ...". */
int fc_storage_verify_certified(fc_crypto_castore *cs, const Flexchain__Block *block,
				const Flexchain__Verdict *verdict,
				const Flexchain__CommitCertificate *cert, char *errmsg);

/* A castore trusting the CA of every organisation of cfg. *out: caller,
 * fc_crypto_castore_destroy. */
int fc_storage_castore_from_config(const struct fc_config *cfg, fc_crypto_castore **out,
				   char *errmsg);

#endif
