/* endorse.h - checking client proposals, executing and endorsing them, and
 * checking other organisations' endorsements (DESIGN.md steps 1-2),
 * internal to compute/daemon; no I/O here, so unit tests drive it directly.
 */
#ifndef CD_ENDORSE_H
#define CD_ENDORSE_H

#include <stddef.h>
#include <stdint.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "fc_exec.h"
#include "flexchain.pb-c.h"

/* Checks a client's proposal: tx id = fc_canon_tx_id_of(p), the creator
 * certificate chains to a known CA, and sig verifies over fc_hash_client_sig
 * of a TX_NORMAL envelope holding p. FC_EINVAL (missing fields, wrong tx
 * id), FC_EVERIFY (certificate or signature), with a message for the client.
 * *org (may be NULL) receives the client's organisation (borrowed from cs). */
int cd_check_proposal(fc_crypto_castore *cs, const Flexchain__Proposal *p, ProtobufCBinaryData sig,
		      const char **org, char *errmsg);

/* One execution and its endorsement. */
struct cd_endorsed {
	struct fc_exec_result res;
	uint8_t proposal_hash[FC_HASH_LEN];
	uint8_t rwset_hash[FC_HASH_LEN];
	uint8_t digest[FC_HASH_LEN]; /* fc_hash_endorsement */
	Flexchain__Endorsement end;  /* endorser borrowed from the cert,
				      * signature fc_malloc'd */
};

/* Executes p against r and signs the endorsement with key (cert is the
 * signer's, borrowed until cd_endorsed_clear). Execution errors are passed
 * through (FC_ENOTFOUND unknown contract/function, FC_EINVAL bad
 * arguments, FC_EDENIED business rule, state errors). */
int cd_endorse(const Flexchain__Proposal *p, const struct fc_state_reader *r, const fc_cert *cert,
	       const fc_key *key, struct cd_endorsed *out, char *errmsg);
void cd_endorsed_clear(struct cd_endorsed *e);

/* Checks an endorsement another compute server returned against ours:
 * FC_EMISMATCH when its rwset or response differs ("rwsets differ"),
 * FC_EVERIFY when its certificate is not a compute server's of want_org
 * (NULL: any organisation) or its signature does not verify over our
 * digest, FC_EPROTO when fields are missing. */
int cd_check_peer_endorsement(fc_crypto_castore *cs, const struct cd_endorsed *mine,
			      const Flexchain__RWSet *rwset, ProtobufCBinaryData response,
			      const Flexchain__Endorsement *end, const char *want_org,
			      char *errmsg);

/* How the reads of two executions of one proposal relate, when their
 * rwsets differ (versions are fc_version_pack(height, index), so a higher
 * version of a key was written later; 0 = absent, lowest). Over the keys
 * both read: *theirs_newer when some key has a higher version in theirs,
 * *mine_newer when some key has a higher version in mine (both may be set:
 * neither read one consistent newer state). *their_height receives the
 * highest block height any read of theirs saw: state applied through that
 * height makes a re-execution read at least what they read. NULL rwsets
 * read nothing. */
void cd_rwset_compare_reads(const Flexchain__RWSet *mine, const Flexchain__RWSet *theirs,
			    int *mine_newer, int *theirs_newer, uint64_t *their_height);

#endif
