/* intake.c - checks on an envelope before it may enter a batch. The orderer
 * only refuses what can never be valid (garbage, forged client, oversized);
 * endorsements and MVCC are the validators' business (DESIGN.md step 4). */
#include <string.h>

#include "fc_err.h"
#include "fc_wire.h"
#include "orderer_int.h"

int fc_ord_intake_check(fc_crypto_castore *cs, const Flexchain__Envelope *env, uint64_t max_bytes,
			char txid[FC_TXID_HEX_LEN + 1], char *errmsg)
{
	uint8_t digest[FC_HASH_LEN];
	fc_cert *cert = NULL;
	size_t size;
	int rc;

	if (!cs || !env || !txid)
		return fc_errf(errmsg, FC_EINVAL, "intake: NULL argument");
	size = protobuf_c_message_get_packed_size(&env->base);
	if (size > max_bytes)
		return fc_errf(errmsg, FC_ETOOBIG,
			       "envelope of %zu bytes over the block limit %llu", size,
			       (unsigned long long)max_bytes);
	rc = fc_wire_check_envelope(env, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "malformed envelope");
	rc = fc_canon_tx_id_of(env->proposal, txid);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "tx id: %s", fc_strerror(rc));
	if (strcmp(txid, env->proposal->tx_id) != 0)
		return fc_errf(errmsg, FC_EPROTO, "tx id %.16s... is not H(nonce, creator)",
			       env->proposal->tx_id);
	rc = fc_crypto_castore_verify_der(cs, env->proposal->creator.data,
					  env->proposal->creator.len, &cert, NULL, errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, rc == FC_ENOMEM ? rc : FC_EVERIFY, "client certificate");
		goto out;
	}
	rc = fc_hash_client_sig(env, digest);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "client signature digest: %s", fc_strerror(rc));
		goto out;
	}
	rc = fc_crypto_verify_digest(cert, digest, env->client_signature.data,
				     env->client_signature.len, errmsg);
	if (rc != FC_OK)
		rc = fc_errwrap(errmsg, FC_EVERIFY, "client signature");
out:
	fc_crypto_cert_free(cert);
	return rc;
}

int fc_ord_intake_dedup(const struct fc_ord_txtab *t, const char *txid, char *errmsg)
{
	const struct fc_ord_txent *e = fc_ord_txtab_find(t, txid);

	if (!e)
		return FC_OK;
	if (e->state == FC_ORD_TX_CHAIN)
		return fc_errf(errmsg, FC_EEXIST, "duplicate tx id: ordered in block %llu",
			       (unsigned long long)e->height);
	return fc_errf(errmsg, FC_EEXIST, "duplicate tx id: already pending");
}
