/* fc_validate.h - validation of a block: V1 and V2 (DESIGN.md step 4).
 *
 * One implementation serves both validators: the compute servers of a
 * block's committee, and the storage pool when it validates alone (HyBE
 * fallback). Given the same block, the same committed state and the same
 * trust roots and policies, it gives the same statuses everywhere; that is
 * what lets a majority of verdicts agree.
 *
 * V1, per transaction, independent of every other transaction:
 *   TX_BAD_PAYLOAD      structure invalid (fc_wire_check_envelope), the
 *                       tx id is not the one its nonce and creator give, or
 *                       a config transaction carries reads or writes
 *   TX_DUPLICATE_TXID   an earlier transaction of this block, or of the
 *                       ledger (state ops), has the same tx id
 *   TX_BAD_SIGNATURE    the client certificate does not chain to a known
 *                       organisation's CA, the client signature does not
 *                       verify, or an endorsement's certificate or signature
 *                       does not verify (a forged endorsement poisons the tx)
 *   TX_ENDORSEMENT_POLICY_FAILURE  the organisations of the valid
 *                       endorsements (endorser certificates with OU
 *                       "compute"; the first 64 distinct-or-not
 *                       endorsements count, the rest are checked but
 *                       ignored) do not satisfy the contract's policy
 * V2, in block order as fixed by the dependency graph: a V1-valid
 * transaction is TX_MVCC_READ_CONFLICT when a read's version differs from
 * the key's current version, i.e. the version written by the latest earlier
 * VALID transaction of the same block, or else the committed version (0 =
 * absent). Otherwise TX_VALID, and its writes become the current versions
 * fc_version_pack(height, index) (a delete makes the key absent).
 * Config transactions (TX_CONFIG) are V1-checked for the client signature
 * and read and write no state. Then, when state.check_config is set, the
 * config transactions that passed are judged in block order, each on the
 * configuration in force at the block's height as changed by the earlier
 * ones of the same block that were accepted:
 *   TX_BAD_CONFIG       check_config refused it (FC_ECONFIG): wrong
 *                       sequence, a policy that does not parse or names an
 *                       unknown organisation, ... (fc_chaincfg_check)
 * So two config transactions of one block are both valid only with
 * sequences current+1 then current+2. The validators of the storage pool
 * and of the compute servers must judge with the configuration in force at
 * the block's height (fc_chaincfg.h: fc_chaincfg_check_after on the
 * snapshot after every earlier block's valid config transactions, whose
 * castore and policies are also the ones to validate with).
 *
 * Scheduling: with a thread pool and parallel = true, V1 runs on all the
 * pool's threads and V2 runs over the dependency graph (independent
 * transactions at once, dependent ones after their predecessors). With
 * parallel = false (or no pool) both run in block order on the calling
 * thread. Both give identical results. The graph V2 follows is rebuilt from
 * the envelopes (fc_depgraph.h); a block whose own graph differs is refused
 * (FC_EMISMATCH) rather than trusted, since a missing edge would make
 * parallel and sequential verdicts differ. V1 and V2 are separate calls so a
 * validator can run V1 of block h+1 while V2 waits for state through h.
 *
 * Threads: an fc_validate_job belongs to one caller; the opts and what they
 * point to must stay valid and unchanged until the job is freed.
 */
#ifndef FC_VALIDATE_H
#define FC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc_crypto.h"
#include "flexchain.pb-c.h"

struct fc_policy;
struct fc_tpool;

struct fc_validate_state_ops {
	/* Committed versions of keys[0..n) as of the height before the block:
	 * versions[i] = 0 when absent. Called once per block with every
	 * distinct key the block reads or writes. Returns FC_OK or an error that aborts
	 * validation of the block (nothing is decided). */
	int (*get_versions)(void *ud, const ProtobufCBinaryData *keys, size_t n,
			    uint64_t *versions, char *errmsg);
	/* Whether each of ids[0..n) is already in the ledger. May be NULL
	 * (no ledger check). Called once per block, before V1 decisions. */
	int (*txids_committed)(void *ud, const char *const *ids, size_t n, bool *seen,
			       char *errmsg);
	/* The policy that endorses contract (NULL: unknown contract, which
	 * fails policy). Must be thread-safe; the result stays owned by ud. */
	const struct fc_policy *(*policy_for)(void *ud, const char *contract);
	/* Whether config transaction c is acceptable on the configuration in
	 * force at the block's height changed by earlier[0..n_earlier), the
	 * config transactions of this block accepted before it (in block
	 * order). Returns FC_OK (accept), FC_ECONFIG (refuse: TX_BAD_CONFIG,
	 * reason in why) or another code, which aborts validation of the block
	 * (nothing is decided). why is FC_ERRMSG_LEN bytes. Called on the
	 * thread running fc_validate_v1, never concurrently for one job, and
	 * must answer the same for the same inputs on every validator
	 * (fc_chaincfg_check_after of fc_chaincfg.h does the judging on a
	 * snapshot; fc_chaincfg_check_config is this hook with the snapshot
	 * as ud).
	 * NULL: every config transaction that passes V1 is accepted. */
	int (*check_config)(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			    const Flexchain__ConfigTx *c, char *why);
	void *ud;
};

struct fc_validate_opts {
	fc_crypto_castore *castore;        /* borrowed; the trust roots */
	struct fc_tpool *pool;             /* borrowed; NULL = sequential */
	bool parallel;                     /* false = block order, one thread */
	struct fc_validate_state_ops state;
};

struct fc_validate_job;

/* Runs V1 of block b (borrowed until the job is freed). On success *out is
 * a new job owned by the caller. Errors mean no statuses were decided:
 * FC_EINVAL (NULL arguments, no header), FC_EPROTO (malformed graph),
 * FC_EMISMATCH (graph does not match the envelopes), FC_ENOMEM or another
 * failure while checking a transaction (never turned into a status), or
 * what the state ops returned. */
int fc_validate_v1(const struct fc_validate_opts *o, const Flexchain__Block *b,
		   struct fc_validate_job **out, char *errmsg);

/* Runs V2 on a job whose V1 is done, reading committed versions through
 * state.get_versions. Fills tx_status[0..n_envelopes) with TxStatus values
 * and write_set_hash with fc_hash_write_set of the result. Call once. */
int fc_validate_v2(struct fc_validate_job *job, uint8_t *tx_status,
		   uint8_t write_set_hash[32], char *errmsg);

/* NULL is a no-op. */
void fc_validate_job_free(struct fc_validate_job *job);

/* V1 then V2. */
int fc_validate_block(const struct fc_validate_opts *o, const Flexchain__Block *b,
		      uint8_t *tx_status, uint8_t write_set_hash[32], char *errmsg);

/* Builds and signs the verdict on block b: height and header hash from b,
 * tx_status copied, signer = signer_cert's DER, signature over
 * fc_hash_verdict. *out is a new verdict freed with fc_validate_verdict_free
 * (NOT fc_wire_free). */
int fc_validate_verdict_sign(const Flexchain__Block *b, const uint8_t *tx_status,
			     const uint8_t write_set_hash[32], bool storage_validated,
			     const fc_cert *signer_cert, const fc_key *signer_key,
			     Flexchain__Verdict **out, char *errmsg);
void fc_validate_verdict_free(Flexchain__Verdict *v);

/* Checks a verdict's signature and that its signer chains to a known CA;
 * *org (may be NULL) receives the signer's organisation (borrowed from cs).
 * FC_EVERIFY when it does not verify. */
int fc_validate_verdict_verify(fc_crypto_castore *cs, const Flexchain__Verdict *v,
			       const char **org, char *errmsg);

#endif
