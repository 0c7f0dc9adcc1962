/* fc_canon.h - canonical encoding and hashing of flexchain messages.
 *
 * Every hash that is signed, chained or compared between nodes is SHA-256
 * over the *canonical encoding* defined here, never over protobuf bytes
 * (protobuf serialisation is not unique: field order, unknown fields and
 * default values may differ between two honest encoders).
 *
 * ENCODING RULES
 *
 *   tag      the domain-separation tag of the message kind: its ASCII text
 *            followed by one NUL byte, no length prefix, always first; e.g.
 *            "flexchain/v1/header" is written as the 20 bytes
 *            "flexchain/v1/header\0". Every hash starts with exactly one tag.
 *   u64      8 bytes, big-endian.
 *   u32      4 bytes, big-endian (also uint32 proto fields).
 *   enum     the numeric value as a u32 (two's complement for negatives).
 *   bool     1 byte: 0x00 false, 0x01 true (any non-zero C value is true).
 *   bytes    u32 length, then the bytes. A proto `bytes` field of length 0
 *            (data may be NULL) is u32 0.
 *   str      like bytes, over the UTF-8 bytes without the terminating NUL. A
 *            NULL char pointer encodes as the empty string.
 *   h32      32 raw bytes with no length prefix; used only for digests that
 *            this module computes itself (never for proto `bytes` fields,
 *            which are always `bytes` even when they should hold a hash).
 *   rep(X)   u32 count, then each element encoded as X. A NULL element of a
 *            repeated message field encodes as an empty message.
 *   msg(M)   a nested message is inlined as its body M (fields below, no tag,
 *            no length). An ABSENT (NULL) optional sub-message encodes exactly
 *            like an empty instance with all fields at their proto3 defaults,
 *            so absent and empty hash alike.
 *
 * Lengths and counts above 2^32-1 cannot be encoded: FC_EINVAL.
 *
 * BODIES (field numbers from proto/flexchain.proto, in this exact order)
 *
 *   Proposal     str tx_id(1), str contract(2), str function(3),
 *                rep(bytes) args(4), bytes nonce(5), bytes creator(6),
 *                u64 timestamp_ms(7)
 *   KVRead       bytes key(1), u64 version(2)
 *   KVWrite      bytes key(1), bytes value(2), bool is_delete(3)
 *   RWSet        rep(KVRead) reads(1), rep(KVWrite) writes(2)
 *   Endorsement  bytes endorser(1), bytes signature(2)
 *   OrgDef       str name(1), bytes ca_cert(2)
 *   PolicyDef    str name(1), str rule(2)
 *   NodeAddr     str id(1), str host(2), u32 port(3), u32 data_port(4),
 *                u32 metrics_port(5)
 *   ShardMap     u64 version(1), rep(NodeAddr) memory_nodes(2)
 *   ConfigTx     u64 sequence(1), rep(OrgDef) orgs(2), rep(PolicyDef)
 *                policies(3), msg(ShardMap) shard_map(4), rep(NodeAddr)
 *                storage_replicas(5), u32 storage_write_quorum(6)
 *   Envelope     enum type(1), msg(Proposal) proposal(2), bytes
 *                client_signature(3), msg(RWSet) rwset(4), bytes response(5),
 *                rep(Endorsement) endorsements(6), msg(ConfigTx) config(7)
 *   TxDeps       rep(u32) deps(1)
 *   DependencyGraph  rep(TxDeps) txs(1)
 *
 * HASHES (|| is concatenation; H is SHA-256)
 *
 *   tx id            lowercase hex of
 *                    H("flexchain/v1/txid\0" || bytes nonce || bytes creator)
 *   proposal hash    H("flexchain/v1/proposal\0" || Proposal)
 *   rwset hash       H("flexchain/v1/rwset\0" || RWSet)
 *   config hash      H("flexchain/v1/config\0" || ConfigTx)
 *   endorsement      H("flexchain/v1/endorsement\0" || h32 proposal_hash ||
 *     digest           h32 rwset_hash || bytes response)
 *   client-signature H("flexchain/v1/client-sig\0" || enum type ||
 *     digest           h32 proposal_hash [|| h32 config_hash if TX_CONFIG])
 *   envelope hash    H("flexchain/v1/envelope\0" || Envelope)
 *   data hash        H("flexchain/v1/data\0" || u32 n_envelopes ||
 *                      h32 envelope_hash[0] || ... || h32 envelope_hash[n-1])
 *   graph hash       H("flexchain/v1/graph\0" || DependencyGraph)
 *   header hash      H("flexchain/v1/header\0" || u64 height(1) ||
 *                      bytes prev_hash(2) || bytes data_hash(3) ||
 *                      bytes graph_hash(4) || u64 timestamp_ms(5) ||
 *                      bytes orderer(6))              -- all but signature(7)
 *   verdict hash     H("flexchain/v1/verdict\0" || u64 height(1) ||
 *                      bytes block_hash(2) || bytes tx_status(3) ||
 *                      bytes write_set_hash(4) || bool storage_validated(5) ||
 *                      bytes signer(6))               -- all but signature(7)
 *   certificate hash H("flexchain/v1/certificate\0" || u64 height(1) ||
 *                      bytes block_hash(2) || bytes verdict_hash(3) ||
 *                      rep(str) committee(5) || bool storage_validated(6) ||
 *                      bytes orderer(7))  -- not verdicts(4), not signature(8):
 *                      each carried verdict is signed and checked on its own.
 *   write-set hash   H("flexchain/v1/write-set\0" || u32 n_valid ||
 *                      for each transaction i with tx_status[i] == TX_VALID,
 *                      in block order: u32 i || rep(KVWrite) writes of
 *                      envelope i's rwset (absent rwset: u32 0))
 *
 * THREADS: every function is reentrant; an fc_canon_enc belongs to one thread
 * at a time. Inputs are only read; nothing here keeps a pointer to them.
 *
 * ERRORS: FC_OK; FC_EINVAL for a NULL required argument, an unencodable length
 * or (write-set hash) a tx_status length that differs from the number of
 * envelopes; FC_ECRYPTO when OpenSSL fails; FC_ENOMEM if OpenSSL cannot
 * allocate its digest context. `out` is left unspecified on error.
 */
#ifndef FC_CANON_H
#define FC_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

#define FC_HASH_LEN 32
/* Length of a tx id in hex characters, without the NUL. */
#define FC_TXID_HEX_LEN 64

/* Domain-separation tags (text without the NUL; the NUL is written too). */
#define FC_CANON_TAG_TXID "flexchain/v1/txid"
#define FC_CANON_TAG_PROPOSAL "flexchain/v1/proposal"
#define FC_CANON_TAG_RWSET "flexchain/v1/rwset"
#define FC_CANON_TAG_CONFIG "flexchain/v1/config"
#define FC_CANON_TAG_ENDORSEMENT "flexchain/v1/endorsement"
#define FC_CANON_TAG_CLIENT_SIG "flexchain/v1/client-sig"
#define FC_CANON_TAG_ENVELOPE "flexchain/v1/envelope"
#define FC_CANON_TAG_DATA "flexchain/v1/data"
#define FC_CANON_TAG_GRAPH "flexchain/v1/graph"
#define FC_CANON_TAG_HEADER "flexchain/v1/header"
#define FC_CANON_TAG_VERDICT "flexchain/v1/verdict"
#define FC_CANON_TAG_CERTIFICATE "flexchain/v1/certificate"
#define FC_CANON_TAG_WRITE_SET "flexchain/v1/write-set"

/* ------------------------------------------------------------- versions */

/* Version of the write made by transaction idx of block height: height in the
 * high 32 bits, idx in the low 32. 0 means "absent" (so height-0 idx-0 writes
 * are not representable: the genesis block carries only config, which writes
 * no state). */
static inline uint64_t fc_version_pack(uint64_t height, uint32_t idx)
{
	return (height << 32) | (uint64_t)idx;
}

static inline void fc_version_unpack(uint64_t version, uint64_t *height, uint32_t *idx)
{
	if (height)
		*height = version >> 32;
	if (idx)
		*idx = (uint32_t)(version & 0xffffffffu);
}

/* ------------------------------------------------------ incremental encoder */

/* Streams a canonical encoding into SHA-256. Caller-allocated (usually on the
 * stack), used as
 *     struct fc_canon_enc e;
 *     fc_canon_enc_init(&e, "flexchain/v1/my-kind");
 *     fc_canon_enc_u64(&e, x); fc_canon_enc_bytes(&e, p, n); ...
 *     rc = fc_canon_enc_final(&e, out);
 * Errors are sticky: after the first failure every call is a no-op returning
 * that error, and final returns it; so a sequence of calls needs only the
 * final return value checked. init holds an OpenSSL digest context: final
 * always releases it; a path that abandons the encoder without final must
 * call fc_canon_enc_abort (safe to call more than once, and after final).
 * Fields are private. */
struct fc_canon_enc {
	void *md_ctx; /* EVP_MD_CTX *, owned */
	int err;
	size_t fill;
	uint8_t buf[256];
};

/* Starts a hash: writes the tag text and its NUL. tag must not be NULL. On
 * failure the encoder holds nothing, and the error is also sticky. */
int fc_canon_enc_init(struct fc_canon_enc *e, const char *tag);
int fc_canon_enc_u64(struct fc_canon_enc *e, uint64_t v);
int fc_canon_enc_u32(struct fc_canon_enc *e, uint32_t v);
int fc_canon_enc_bool(struct fc_canon_enc *e, int v);
/* u32 length + bytes; p may be NULL when n == 0. */
int fc_canon_enc_bytes(struct fc_canon_enc *e, const void *p, size_t n);
/* bytes of strlen(s); NULL is "". */
int fc_canon_enc_str(struct fc_canon_enc *e, const char *s);
/* h32: exactly FC_HASH_LEN raw bytes, no prefix. */
int fc_canon_enc_h32(struct fc_canon_enc *e, const uint8_t h[FC_HASH_LEN]);
/* u32 count; the caller then encodes count elements. */
int fc_canon_enc_count(struct fc_canon_enc *e, size_t count);
/* Message bodies (see BODIES above); NULL encodes as the empty message. */
int fc_canon_enc_proposal(struct fc_canon_enc *e, const Flexchain__Proposal *p);
int fc_canon_enc_rwset(struct fc_canon_enc *e, const Flexchain__RWSet *rw);
int fc_canon_enc_writes(struct fc_canon_enc *e, const Flexchain__RWSet *rw); /* rep(KVWrite) */
int fc_canon_enc_config(struct fc_canon_enc *e, const Flexchain__ConfigTx *c);
int fc_canon_enc_envelope(struct fc_canon_enc *e, const Flexchain__Envelope *env);
int fc_canon_enc_graph(struct fc_canon_enc *e, const Flexchain__DependencyGraph *g);
/* Finishes into out[32] and releases the context. Returns the sticky error
 * if any call failed. */
int fc_canon_enc_final(struct fc_canon_enc *e, uint8_t out[FC_HASH_LEN]);
void fc_canon_enc_abort(struct fc_canon_enc *e);

/* ------------------------------------------------------------- the hashes */

/* Writes FC_TXID_HEX_LEN lowercase hex chars + NUL into out. nonce/creator
 * may be NULL only with length 0. */
int fc_canon_tx_id(const uint8_t *nonce, size_t nonce_len, const uint8_t *creator,
		   size_t creator_len, char out[FC_TXID_HEX_LEN + 1]);
/* The same from a proposal's nonce and creator. */
int fc_canon_tx_id_of(const Flexchain__Proposal *p, char out[FC_TXID_HEX_LEN + 1]);

/* The top-level message argument is required (FC_EINVAL when NULL). */
int fc_hash_proposal(const Flexchain__Proposal *p, uint8_t out[FC_HASH_LEN]);
int fc_hash_rwset(const Flexchain__RWSet *rw, uint8_t out[FC_HASH_LEN]);
int fc_hash_config(const Flexchain__ConfigTx *c, uint8_t out[FC_HASH_LEN]);

/* What each endorser signs. response may be NULL when response_len == 0. */
int fc_hash_endorsement(const uint8_t proposal_hash[FC_HASH_LEN],
			const uint8_t rwset_hash[FC_HASH_LEN], const uint8_t *response,
			size_t response_len, uint8_t out[FC_HASH_LEN]);
/* The same computed from an envelope: proposal required (FC_EINVAL when
 * absent); absent rwset hashes as the empty RWSet. */
int fc_hash_endorsement_of(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN]);
/* What the client signs: proposal required; for TX_CONFIG an absent config
 * hashes as the empty ConfigTx. */
int fc_hash_client_sig(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN]);

int fc_hash_envelope(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN]);
/* Data hash over the envelopes of the block (header is not read). */
int fc_hash_block_data(const Flexchain__Block *b, uint8_t out[FC_HASH_LEN]);
/* The same from a bare envelope array (n may be 0, envs then may be NULL). */
int fc_hash_envelopes(Flexchain__Envelope *const *envs, size_t n, uint8_t out[FC_HASH_LEN]);
/* g may be NULL: the empty graph. */
int fc_hash_graph(const Flexchain__DependencyGraph *g, uint8_t out[FC_HASH_LEN]);
/* Header hash = block hash: what the orderer signs and the next block chains. */
int fc_hash_header(const Flexchain__BlockHeader *h, uint8_t out[FC_HASH_LEN]);
int fc_hash_verdict(const Flexchain__Verdict *v, uint8_t out[FC_HASH_LEN]);
int fc_hash_certificate(const Flexchain__CommitCertificate *c, uint8_t out[FC_HASH_LEN]);
/* Write-set hash of block b under the verdict bitmap tx_status (one TxStatus
 * byte per envelope; n_status must equal b->n_envelopes, else FC_EINVAL). */
int fc_hash_write_set(const Flexchain__Block *b, const uint8_t *tx_status, size_t n_status,
		      uint8_t out[FC_HASH_LEN]);

/* Recomputes the data and graph hashes of b and compares them with its
 * header: FC_OK, FC_EMISMATCH ("block 17: data hash mismatch"), FC_EINVAL
 * when the header is absent, or a hashing error. errmsg may be NULL. */
int fc_canon_check_block_hashes(const Flexchain__Block *b, char *errmsg);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void fc_canon_hex(const uint8_t *p, size_t n, char *out);

#endif
