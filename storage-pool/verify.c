/* Signature checks of a certified block (fc_storage_client.h). Kept apart
 * from the ledger store, which deliberately trusts its caller, so that the
 * daemon and `flexchain ledger verify` apply exactly the same rules. */
#include <string.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_storage_client.h"
#include "fc_validate.h"

/* cert DER must chain to a known CA and carry OU role; sig over digest. */
static int check_signed(fc_crypto_castore *cs, const ProtobufCBinaryData *der, const char *role,
			const uint8_t digest[FC_HASH_LEN], const ProtobufCBinaryData *sig,
			char *errmsg)
{
	fc_cert *cert = NULL;
	int rc = fc_crypto_castore_verify_der(cs, der->data, der->len, &cert, NULL, errmsg);

	if (rc != FC_OK)
		return fc_errwrap(errmsg, FC_EVERIFY, "%s certificate", role);
	if (strcmp(fc_crypto_cert_ou(cert), role) != 0) {
		rc = fc_errf(errmsg, FC_EVERIFY, "certificate %s is not an %s's (OU %s)",
			     fc_crypto_cert_subject(cert), role, fc_crypto_cert_ou(cert));
		goto cleanup;
	}
	rc = fc_crypto_verify_digest(cert, digest, sig->data, sig->len, errmsg);
	if (rc != FC_OK)
		rc = fc_errwrap(errmsg, FC_EVERIFY, "%s signature by %s does not verify", role,
				fc_crypto_cert_subject(cert));
cleanup:
	fc_crypto_cert_free(cert);
	return rc;
}

static int check_verdict(fc_crypto_castore *cs, const Flexchain__Verdict *v, char *errmsg)
{
	fc_cert *cert = NULL;
	const char *want =
	    v->storage_validated ? FC_IDENTITY_ROLE_STORAGE : FC_IDENTITY_ROLE_COMPUTE;
	int rc = fc_validate_verdict_verify(cs, v, NULL, errmsg);

	if (rc != FC_OK)
		return FC_EVERIFY;
	rc = fc_crypto_cert_from_der(v->signer.data, v->signer.len, &cert, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, FC_EVERIFY, "signer");
	if (strcmp(fc_crypto_cert_ou(cert), want) != 0)
		rc = fc_errf(errmsg, FC_EVERIFY, "signer %s is not a %s node",
			     fc_crypto_cert_subject(cert), want);
	fc_crypto_cert_free(cert);
	return rc;
}

static int same_bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int fc_storage_verify_certified(fc_crypto_castore *cs, const Flexchain__Block *block,
				const Flexchain__Verdict *verdict,
				const Flexchain__CommitCertificate *cert, char *errmsg)
{
	uint8_t digest[FC_HASH_LEN];
	unsigned long long h;
	int rc;

	if (!cs || !block || !block->header || !verdict || !cert)
		return fc_errf(errmsg, FC_EINVAL, "verify: invalid arguments");
	h = (unsigned long long)block->header->height;

	rc = fc_hash_header(block->header, digest);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "block %llu: header hash", h);
	rc = check_signed(cs, &block->header->orderer, FC_IDENTITY_ROLE_ORDERER, digest,
			  &block->header->signature, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "block %llu: header", h);

	rc = check_verdict(cs, verdict, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "block %llu: verdict", h);

	for (size_t i = 0; i < cert->n_verdicts; i++) {
		rc = check_verdict(cs, cert->verdicts[i], errmsg);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "block %llu: certificate verdict %zu", h, i);
		/* distinct signers: a verdict counted twice is no majority */
		for (size_t j = 0; j < i; j++)
			if (same_bytes(&cert->verdicts[i]->signer, &cert->verdicts[j]->signer))
				return fc_errf(errmsg, FC_EVERIFY,
					       "block %llu: certificate verdicts %zu and %zu have "
					       "the same signer",
					       h, j, i);
	}
	if (cert->storage_validated) {
		if (cert->n_verdicts < 1)
			return fc_errf(errmsg, FC_EVERIFY,
				       "block %llu: storage-validated certificate without verdict",
				       h);
	} else if (cert->n_verdicts * 2 <= cert->n_committee) {
		return fc_errf(errmsg, FC_EVERIFY,
			       "block %llu: certificate carries %zu verdicts for a committee of "
			       "%zu (no majority)",
			       h, cert->n_verdicts, cert->n_committee);
	}

	rc = fc_hash_certificate(cert, digest);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "block %llu: certificate hash", h);
	rc = check_signed(cs, &cert->orderer, FC_IDENTITY_ROLE_ORDERER, digest, &cert->signature,
			  errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "block %llu: certificate", h);
	return FC_OK;
}

int fc_storage_castore_from_config(const struct fc_config *cfg, fc_crypto_castore **out,
				   char *errmsg)
{
	fc_crypto_castore *cs = NULL;
	int rc;

	if (!cfg || !out)
		return fc_errf(errmsg, FC_EINVAL, "castore: invalid arguments");
	*out = NULL;
	rc = fc_crypto_castore_create(0, &cs, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		rc = fc_crypto_castore_add_pem(cs, cfg->orgs[i].name, cfg->orgs[i].ca_cert, errmsg);
		if (rc != FC_OK && rc != FC_EEXIST) {
			fc_errwrap(errmsg, rc, "CA of %s", cfg->orgs[i].name);
			goto fail;
		}
	}
	*out = cs;
	return FC_OK;
fail:
	fc_crypto_castore_destroy(cs);
	return rc;
}
