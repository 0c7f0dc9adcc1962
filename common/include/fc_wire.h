/* fc_wire.h - safe decoding and encoding of protobuf-c messages, and the
 * structural checks every received message goes through before use.
 *
 * Decoding never trusts its input: oversized input is refused before it is
 * parsed, garbage or truncated input yields FC_EPROTO (never a crash), and
 * every allocation protobuf-c makes goes through fc_malloc/fc_free so that the
 * fc_mem_fail_nth test hook reaches it (an allocation failure is FC_ENOMEM and
 * leaks nothing).
 *
 * A decoded message passes protobuf's own rules only. Before acting on a
 * Block, Envelope or Verdict, run the matching fc_wire_check_* below: they
 * enforce the invariants proto/flexchain.proto states in comments (hash
 * lengths, sort order, graph shape, known enum values). They do not verify
 * hashes or signatures (fc_canon.h, the crypto module do that).
 *
 * Error messages name the element and position at fault, outermost first,
 * e.g. "envelope 3: rwset write keys not sorted at 5".
 */
#ifndef FC_WIRE_H
#define FC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "flexchain.pb-c.h"

/* Default size limits a component may pass as max_len. */
#define FC_WIRE_MAX_MSG (64u * 1024 * 1024)   /* any control-plane frame */
#define FC_WIRE_MAX_BLOCK (64u * 1024 * 1024) /* one block */

/* Decodes len bytes at buf as a message of type desc (e.g.
 * &flexchain__block__descriptor) into *out.
 * - len > max_len: FC_ETOOBIG, nothing parsed.
 * - garbage, truncated, wrong wire types, invalid UTF-8 in strings, ...:
 *   FC_EPROTO.
 * - an allocation failed: FC_ENOMEM.
 * - desc or out NULL, or buf NULL with len > 0: FC_EINVAL.
 * On success *out is owned by the caller and freed with fc_wire_free; on
 * error *out is NULL. buf is only read and not kept (decoded bytes fields are
 * copies). Cast *out to the concrete type, e.g. (Flexchain__Block *). */
int fc_wire_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		   size_t max_len, ProtobufCMessage **out, char *errmsg);

/* Frees a message returned by fc_wire_decode. NULL is a no-op. Do not pass
 * a message built by hand (its fields were not allocated by this module). */
void fc_wire_free(ProtobufCMessage *msg);

/* Serialises msg into a new buffer of *len bytes (*len may be 0, *buf is then
 * still a valid allocation). *buf is owned by the caller: fc_free. Errors:
 * FC_EINVAL (NULL argument), FC_ENOMEM; *buf is NULL on error. */
int fc_wire_encode(const ProtobufCMessage *msg, uint8_t **buf, size_t *len, char *errmsg);

/* ------------------------------------------------------ structural checks
 * All return FC_OK or FC_EPROTO with errmsg (may be NULL) saying what is
 * wrong; FC_EINVAL when the message pointer itself is NULL. Keys are ordered
 * bytewise (memcmp over the common prefix, a shorter key sorts first). */

/* reads and writes: non-NULL elements, keys strictly increasing (so sorted
 * and unique). */
int fc_wire_check_rwset(const Flexchain__RWSet *rw, char *errmsg);

/* type is TX_NORMAL or TX_CONFIG; proposal present; proposal tx_id is 64
 * lowercase hex characters; config present iff type is TX_CONFIG; rwset (if
 * present) passes fc_wire_check_rwset; every endorsement is non-NULL with a
 * non-empty endorser and signature. Does not recompute the tx id or verify
 * signatures. */
int fc_wire_check_envelope(const Flexchain__Envelope *env, char *errmsg);

/* Graph for n_envelopes transactions: exactly n_envelopes TxDeps (an absent
 * graph counts as 0), each deps list strictly increasing and every dep <
 * the transaction's own index. */
int fc_wire_check_graph(const Flexchain__DependencyGraph *g, size_t n_envelopes, char *errmsg);

/* header present; prev_hash, data_hash, graph_hash each 32 bytes; at height 0
 * prev_hash is 32 zero bytes; every envelope passes fc_wire_check_envelope;
 * the graph passes fc_wire_check_graph. */
int fc_wire_check_block(const Flexchain__Block *b, char *errmsg);

/* Pass as n_tx to skip the tx_status length check. */
#define FC_WIRE_ANY_COUNT ((size_t)-1)

/* block_hash and write_set_hash 32 bytes; tx_status has n_tx bytes (unless
 * n_tx is FC_WIRE_ANY_COUNT); every byte is a known TxStatus other than
 * TX_UNKNOWN (a verdict decides every transaction). */
int fc_wire_check_verdict(const Flexchain__Verdict *v, size_t n_tx, char *errmsg);

/* block_hash and verdict_hash 32 bytes; at least one verdict; every verdict
 * passes fc_wire_check_verdict (with FC_WIRE_ANY_COUNT) and names the same
 * height and block_hash as the certificate; in a storage_validated
 * certificate every verdict is storage_validated. */
int fc_wire_check_certificate(const Flexchain__CommitCertificate *c, char *errmsg);

#endif
