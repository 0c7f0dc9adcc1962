/* ECDSA P-256 keys, signing and verification. */
#include "crypto_int.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "fc_err.h"
#include "fc_mem.h"

int fc_crypto__key_wrap(EVP_PKEY *pkey, int has_private, fc_key **out, char *errmsg)
{
	fc_key *k = fc_calloc(1, sizeof *k);
	if (!k) {
		EVP_PKEY_free(pkey);
		return fc_errf(errmsg, FC_ENOMEM, "key: out of memory");
	}
	k->pkey = pkey;
	k->has_private = has_private;
	*out = k;
	return FC_OK;
}

/* Only P-256 keys are flexchain identities. */
int fc_crypto__check_p256(EVP_PKEY *pkey, char *errmsg)
{
	char group[64] = "";
	size_t glen = 0;

	if (!EVP_PKEY_is_a(pkey, "EC"))
		return fc_errf(errmsg, FC_EINVAL, "key is %s, not an EC P-256 key",
			       EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey)
							     : "unknown");
	if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1) {
		fc_crypto__drain();
		return fc_errf(errmsg, FC_EINVAL, "EC key without a named curve");
	}
	if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
		return fc_errf(errmsg, FC_EINVAL, "EC key on curve %s, not P-256", group);
	return FC_OK;
}

int fc_crypto_key_generate(fc_key **out, char *errmsg)
{
	EVP_PKEY *pkey;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "generate key: NULL argument");
	*out = NULL;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!pkey)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "generate P-256 key");
	return fc_crypto__key_wrap(pkey, 1, out, errmsg);
}

/* Never prompt on a terminal for a passphrase: encrypted keys fail. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int fc_crypto_key_from_pem(const void *pem, size_t len, fc_key **out, char *errmsg)
{
	int rc = FC_OK;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;

	if (!out || !pem || len > 0x7fffffff)
		return fc_errf(errmsg, FC_EINVAL, "parse key: bad argument");
	*out = NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "parse key");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!pkey) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "parse private key");
		goto free_bio;
	}
	rc = fc_crypto__check_p256(pkey, errmsg);
	if (rc != FC_OK)
		goto free_pkey;
	rc = fc_crypto__key_wrap(pkey, 1, out, errmsg);
	pkey = NULL;
free_pkey:
	EVP_PKEY_free(pkey);
free_bio:
	BIO_free(bio);
out:
	fc_crypto__drain();
	return rc;
}

int fc_crypto_key_load_pem(const char *path, fc_key **out, char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!path || !out)
		return fc_errf(errmsg, FC_EINVAL, "load key: NULL argument");
	*out = NULL;
	rc = fc_crypto__read_file(path, &buf, &len, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "load key");
	rc = fc_crypto_key_from_pem(buf, len, out, errmsg);
	OPENSSL_cleanse(buf, len);
	fc_free(buf);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "load key %s", path);
	return FC_OK;
}

int fc_crypto_key_save_pem(const fc_key *key, const char *path, unsigned flags, char *errmsg)
{
	int rc = FC_OK;
	BIO *bio = NULL;
	char *data = NULL;
	long len;

	if (!key || !path)
		return fc_errf(errmsg, FC_EINVAL, "save key: NULL argument");
	if (!key->has_private)
		return fc_errf(errmsg, FC_EINVAL, "save key %s: a public key has no private part",
			       path);
	bio = BIO_new(BIO_s_mem());
	if (!bio) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "save key %s", path);
		goto out;
	}
	if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "encode key %s", path);
		goto free_bio;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = fc_crypto__write_file(path, data, (size_t)len, 0600, flags, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "save key");
	OPENSSL_cleanse(data, (size_t)len);
free_bio:
	BIO_free(bio);
out:
	return rc;
}

int fc_crypto_key_public_der(const fc_key *key, uint8_t **der, size_t *len, char *errmsg)
{
	unsigned char *buf = NULL;
	int n;

	if (!key || !der || !len)
		return fc_errf(errmsg, FC_EINVAL, "public key: NULL argument");
	*der = NULL;
	*len = 0;
	n = i2d_PUBKEY(key->pkey, &buf);
	if (n <= 0)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "encode public key");
	*der = fc_memdup(buf, (size_t)n);
	OPENSSL_free(buf);
	if (!*der)
		return fc_errf(errmsg, FC_ENOMEM, "public key: out of memory");
	*len = (size_t)n;
	return FC_OK;
}

void fc_crypto_key_free(fc_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	fc_free(key);
}

int fc_crypto_sign_digest(const fc_key *key, const uint8_t digest[FC_SHA256_LEN], uint8_t **sig,
			  size_t *siglen, char *errmsg)
{
	int rc = FC_OK;
	EVP_PKEY_CTX *ctx;
	unsigned char buf[FC_CRYPTO_SIG_MAX + 16];
	size_t n = sizeof buf;

	if (!key || !digest || !sig || !siglen)
		return fc_errf(errmsg, FC_EINVAL, "sign: NULL argument");
	*sig = NULL;
	*siglen = 0;
	if (!key->has_private)
		return fc_errf(errmsg, FC_EINVAL, "sign: key has no private part");
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (!ctx)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "sign");
	/* The digest is the SHA-256 of the message: declare it, do not rehash. */
	if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(ctx, buf, &n, digest, FC_SHA256_LEN) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "sign");
		goto free_ctx;
	}
	*sig = fc_memdup(buf, n);
	if (!*sig) {
		rc = fc_errf(errmsg, FC_ENOMEM, "sign: out of memory");
		goto free_ctx;
	}
	*siglen = n;
free_ctx:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int fc_crypto_sign_message(const fc_key *key, const void *msg, size_t len, uint8_t **sig,
			   size_t *siglen, char *errmsg)
{
	uint8_t d[FC_SHA256_LEN];
	int rc = fc_sha256(msg, len, d, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "sign");
	return fc_crypto_sign_digest(key, d, sig, siglen, errmsg);
}

static int verify_pkey(EVP_PKEY *pkey, const uint8_t *digest, const uint8_t *sig, size_t siglen,
		       char *errmsg)
{
	int rc = FC_OK;
	EVP_PKEY_CTX *ctx;
	int v;

	if (!digest)
		return fc_errf(errmsg, FC_EINVAL, "verify: NULL digest");
	if (!sig || siglen == 0)
		return fc_errf(errmsg, FC_EVERIFY, "verify: empty signature");
	if (siglen > FC_CRYPTO_SIG_MAX)
		return fc_errf(errmsg, FC_EVERIFY, "verify: signature of %zu bytes is too long",
			       siglen);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "verify");
	if (EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "verify");
		goto free_ctx;
	}
	/* 1 is a valid signature; 0 a wrong one; < 0 covers malformed DER,
	 * which is just as much a bad signature from our point of view. */
	v = EVP_PKEY_verify(ctx, sig, siglen, digest, FC_SHA256_LEN);
	if (v != 1) {
		fc_crypto__drain();
		rc = fc_errf(errmsg, FC_EVERIFY, "signature does not verify");
	}
free_ctx:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int fc_crypto_verify_digest(const fc_cert *cert, const uint8_t digest[FC_SHA256_LEN],
			    const uint8_t *sig, size_t siglen, char *errmsg)
{
	EVP_PKEY *pkey;

	if (!cert)
		return fc_errf(errmsg, FC_EINVAL, "verify: NULL certificate");
	pkey = X509_get0_pubkey(cert->x509);
	if (!pkey)
		return fc_crypto__ossl_err(errmsg, FC_EVERIFY,
					   "verify: certificate %s has no "
					   "usable public key",
					   cert->subject);
	return verify_pkey(pkey, digest, sig, siglen, errmsg);
}

int fc_crypto_verify_digest_key(const fc_key *key, const uint8_t digest[FC_SHA256_LEN],
				const uint8_t *sig, size_t siglen, char *errmsg)
{
	if (!key)
		return fc_errf(errmsg, FC_EINVAL, "verify: NULL key");
	return verify_pkey(key->pkey, digest, sig, siglen, errmsg);
}
