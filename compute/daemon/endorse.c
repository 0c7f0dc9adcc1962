/* endorse.c - proposal checks, execution + endorsement, peer endorsement
 * checks (endorse.h). */
#include <string.h>

#include "endorse.h"
#include "fc_err.h"
#include "fc_mem.h"

int cd_check_proposal(fc_crypto_castore *cs, const Flexchain__Proposal *p, ProtobufCBinaryData sig,
		      const char **org, char *errmsg)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	char txid[FC_TXID_HEX_LEN + 1];
	uint8_t digest[FC_HASH_LEN];
	fc_cert *cert = NULL;
	int rc;

	if (!p || !p->contract || !p->contract[0] || !p->function || !p->function[0])
		return fc_errf(errmsg, FC_EINVAL, "proposal: contract and function required");
	if (p->creator.len == 0 || p->nonce.len == 0)
		return fc_errf(errmsg, FC_EINVAL, "proposal: creator and nonce required");
	rc = fc_canon_tx_id_of(p, txid);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "proposal: cannot compute tx id");
	if (!p->tx_id || strcmp(p->tx_id, txid) != 0)
		return fc_errf(errmsg, FC_EINVAL,
			       "proposal: tx id '%s' is not %s (hash of nonce and creator)",
			       p->tx_id ? p->tx_id : "", txid);
	rc = fc_crypto_castore_verify_der(cs, p->creator.data, p->creator.len, &cert, org, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc == FC_EVERIFY ? rc : FC_EVERIFY,
				  "tx %s: client certificate", txid);
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = (Flexchain__Proposal *)p;
	rc = fc_hash_client_sig(&env, digest);
	if (rc != FC_OK) {
		fc_errf(errmsg, rc, "tx %s: client signature digest", txid);
		goto out;
	}
	rc = fc_crypto_verify_digest(cert, digest, sig.data, sig.len, errmsg);
	if (rc != FC_OK)
		fc_errf(errmsg, FC_EVERIFY, "tx %s: client signature does not verify", txid);
out:
	fc_crypto_cert_free(cert);
	return rc == FC_OK ? FC_OK : (rc == FC_EVERIFY ? FC_EVERIFY : rc);
}

int cd_endorse(const Flexchain__Proposal *p, const struct fc_state_reader *r, const fc_cert *cert,
	       const fc_key *key, struct cd_endorsed *out, char *errmsg)
{
	size_t dlen;
	const uint8_t *der = fc_crypto_cert_der(cert, &dlen);
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc;

	memset(out, 0, sizeof *out);
	flexchain__endorsement__init(&out->end);
	rc = fc_exec_proposal(p, r, &out->res, errmsg);
	if (rc != FC_OK)
		return rc;
	if ((rc = fc_hash_proposal(p, out->proposal_hash)) != FC_OK ||
	    (rc = fc_hash_rwset(out->res.rwset, out->rwset_hash)) != FC_OK ||
	    (rc = fc_hash_endorsement(out->proposal_hash, out->rwset_hash, out->res.response,
				      out->res.response_len, out->digest)) != FC_OK) {
		fc_errf(errmsg, rc, "endorse: hashing failed");
		goto fail;
	}
	rc = fc_crypto_sign_digest(key, out->digest, &sig, &siglen, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "endorse: sign");
		goto fail;
	}
	out->end.endorser = (ProtobufCBinaryData){dlen, (uint8_t *)der};
	out->end.signature = (ProtobufCBinaryData){siglen, sig};
	return FC_OK;
fail:
	cd_endorsed_clear(out);
	return rc;
}

void cd_endorsed_clear(struct cd_endorsed *e)
{
	if (!e)
		return;
	fc_exec_result_clear(&e->res);
	fc_free(e->end.signature.data);
	memset(e, 0, sizeof *e);
}

int cd_check_peer_endorsement(fc_crypto_castore *cs, const struct cd_endorsed *mine,
			      const Flexchain__RWSet *rwset, ProtobufCBinaryData response,
			      const Flexchain__Endorsement *end, const char *want_org, char *errmsg)
{
	Flexchain__RWSet empty = FLEXCHAIN__RWSET__INIT;
	uint8_t h[FC_HASH_LEN];
	fc_cert *cert = NULL;
	const char *org = NULL;
	int rc;

	if (!end || end->endorser.len == 0 || end->signature.len == 0)
		return fc_errf(errmsg, FC_EPROTO, "endorsement missing");
	rc = fc_hash_rwset(rwset ? rwset : &empty, h);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "rwset hash");
	if (memcmp(h, mine->rwset_hash, FC_HASH_LEN) != 0)
		return fc_errf(errmsg, FC_EMISMATCH, "rwsets differ");
	if (response.len != mine->res.response_len ||
	    (response.len && memcmp(response.data, mine->res.response, response.len) != 0))
		return fc_errf(errmsg, FC_EMISMATCH, "responses differ");
	rc = fc_crypto_castore_verify_der(cs, end->endorser.data, end->endorser.len, &cert, &org,
					  errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, FC_EVERIFY, "endorser certificate");
	if (strcmp(fc_crypto_cert_ou(cert), FC_IDENTITY_ROLE_COMPUTE) != 0 ||
	    (want_org && strcmp(org, want_org) != 0)) {
		rc =
		    fc_errf(errmsg, FC_EVERIFY, "endorser %s is not a compute server of %s",
			    fc_crypto_cert_subject(cert), want_org ? want_org : "any organisation");
		goto out;
	}
	rc = fc_crypto_verify_digest(cert, mine->digest, end->signature.data, end->signature.len,
				     errmsg);
	if (rc != FC_OK)
		rc = fc_errf(errmsg, FC_EVERIFY, "endorsement signature of %s does not verify",
			     fc_crypto_cert_subject(cert));
out:
	fc_crypto_cert_free(cert);
	return rc;
}

static int key_cmp(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.data, b.data, n) : 0;

	return c ? c : (a.len < b.len ? -1 : a.len > b.len);
}

void cd_rwset_compare_reads(const Flexchain__RWSet *mine, const Flexchain__RWSet *theirs,
			    int *mine_newer, int *theirs_newer, uint64_t *their_height)
{
	size_t nm = mine ? mine->n_reads : 0, nt = theirs ? theirs->n_reads : 0;
	size_t i = 0, k = 0;

	*mine_newer = *theirs_newer = 0;
	*their_height = 0;
	for (size_t j = 0; j < nt; j++) {
		uint64_t h;
		fc_version_unpack(theirs->reads[j]->version, &h, NULL);
		if (h > *their_height)
			*their_height = h;
	}
	/* Both are sorted by key (fc_exec builds them so); a merge walk. */
	while (i < nm && k < nt) {
		int c = key_cmp(mine->reads[i]->key, theirs->reads[k]->key);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			k++;
		} else {
			uint64_t vm = mine->reads[i]->version, vt = theirs->reads[k]->version;
			if (vt > vm)
				*theirs_newer = 1;
			else if (vm > vt)
				*mine_newer = 1;
			i++;
			k++;
		}
	}
}
