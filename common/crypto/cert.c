/* X.509 certificates: parsing, export, accessors. */
#include "crypto_int.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "fc_err.h"
#include "fc_mem.h"

/* The first entry of nid in name as a new UTF-8 string, "" if absent. */
static char *name_entry(const X509_NAME *name, int nid)
{
	int idx = X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0)
		return fc_strdup("");
	X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (n < 0) {
		fc_crypto__drain();
		return fc_strdup("");
	}
	char *s = fc_malloc((size_t)n + 1);
	if (s) {
		memcpy(s, utf8, (size_t)n);
		s[n] = '\0';
		/* An embedded NUL would let "Org1\0x" pass as "Org1". */
		if (strlen(s) != (size_t)n)
			s[0] = '\0';
	}
	OPENSSL_free(utf8);
	return s;
}

static char *subject_line(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;
	char *data = NULL;
	long n;

	if (!bio)
		goto out;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		goto free_bio;
	n = BIO_get_mem_data(bio, &data);
	s = fc_malloc((size_t)n + 1);
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
free_bio:
	BIO_free(bio);
out:
	fc_crypto__drain();
	return s;
}

static void cert_destroy(fc_cert *c)
{
	X509_free(c->x509);
	fc_free(c->der);
	fc_free(c->cn);
	fc_free(c->org);
	fc_free(c->ou);
	fc_free(c->subject);
	fc_free(c);
}

int fc_crypto__cert_wrap(X509 *x, const uint8_t *der, size_t len, fc_cert **out, char *errmsg)
{
	int rc = FC_OK;
	fc_cert *c;
	const X509_NAME *subj;

	*out = NULL;
	c = fc_calloc(1, sizeof *c);
	if (!c) {
		X509_free(x);
		return fc_errf(errmsg, FC_ENOMEM, "certificate: out of memory");
	}
	atomic_init(&c->refs, 1);
	c->x509 = x;
	if (der) {
		c->der = fc_memdup(der, len);
		c->der_len = len;
	} else {
		unsigned char *buf = NULL;
		int n = i2d_X509(x, &buf);
		if (n <= 0) {
			rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "encode certificate");
			goto fail;
		}
		c->der = fc_memdup(buf, (size_t)n);
		c->der_len = (size_t)n;
		OPENSSL_free(buf);
	}
	if (!c->der) {
		rc = fc_errf(errmsg, FC_ENOMEM, "certificate: out of memory");
		goto fail;
	}
	rc = fc_sha256(c->der, c->der_len, c->hash, errmsg);
	if (rc != FC_OK)
		goto fail;
	/* Computes OpenSSL's cached extension flags now, while the certificate
	 * is still private to this thread; later readers only read them. */
	if (X509_check_purpose(x, -1, 0) != 1)
		fc_crypto__drain();
	subj = X509_get_subject_name(x);
	c->cn = name_entry(subj, NID_commonName);
	c->org = name_entry(subj, NID_organizationName);
	c->ou = name_entry(subj, NID_organizationalUnitName);
	c->subject = subject_line(subj);
	if (!c->cn || !c->org || !c->ou || !c->subject) {
		rc = fc_errf(errmsg, FC_ENOMEM, "certificate: out of memory");
		goto fail;
	}
	*out = c;
	return FC_OK;
fail:
	cert_destroy(c);
	return rc;
}

int fc_crypto_cert_from_pem(const void *pem, size_t len, fc_cert **out, char *errmsg)
{
	BIO *bio;
	X509 *x;

	if (!out || !pem || len > 0x7fffffff)
		return fc_errf(errmsg, FC_EINVAL, "parse certificate: bad argument");
	*out = NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return fc_crypto__ossl_err(errmsg, FC_ENOMEM, "parse certificate");
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!x)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "parse certificate");
	fc_crypto__drain();
	return fc_crypto__cert_wrap(x, NULL, 0, out, errmsg);
}

int fc_crypto_cert_load_pem(const char *path, fc_cert **out, char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!path || !out)
		return fc_errf(errmsg, FC_EINVAL, "load certificate: NULL argument");
	*out = NULL;
	rc = fc_crypto__read_file(path, &buf, &len, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "load certificate");
	rc = fc_crypto_cert_from_pem(buf, len, out, errmsg);
	fc_free(buf);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "load certificate %s", path);
	return FC_OK;
}

int fc_crypto_cert_from_der(const uint8_t *der, size_t len, fc_cert **out, char *errmsg)
{
	const unsigned char *p = der;
	X509 *x;

	if (!out || (!der && len) || len > 0x7fffffff)
		return fc_errf(errmsg, FC_EINVAL, "parse certificate: bad argument");
	*out = NULL;
	if (len == 0)
		return fc_errf(errmsg, FC_ECRYPTO, "parse certificate: empty DER");
	x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "parse certificate");
	if (p != der + len) {
		X509_free(x);
		return fc_errf(errmsg, FC_ECRYPTO,
			       "parse certificate: %zu trailing bytes after "
			       "the DER certificate",
			       (size_t)(der + len - p));
	}
	fc_crypto__drain();
	return fc_crypto__cert_wrap(x, der, len, out, errmsg);
}

int fc_crypto_cert_save_pem(const fc_cert *cert, const char *path, unsigned flags, char *errmsg)
{
	int rc;
	BIO *bio;
	char *data = NULL;
	long len;

	if (!cert || !path)
		return fc_errf(errmsg, FC_EINVAL, "save certificate: NULL argument");
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		return fc_crypto__ossl_err(errmsg, FC_ENOMEM, "save certificate %s", path);
	if (PEM_write_bio_X509(bio, cert->x509) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "encode certificate %s", path);
		goto free_bio;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = fc_crypto__write_file(path, data, (size_t)len, 0644, flags, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "save certificate");
free_bio:
	BIO_free(bio);
	return rc;
}

fc_cert *fc_crypto_cert_ref(fc_cert *cert)
{
	if (cert)
		atomic_fetch_add(&cert->refs, 1);
	return cert;
}

void fc_crypto_cert_free(fc_cert *cert)
{
	if (cert && atomic_fetch_sub(&cert->refs, 1) == 1)
		cert_destroy(cert);
}

const uint8_t *fc_crypto_cert_der(const fc_cert *cert, size_t *len)
{
	if (len)
		*len = cert->der_len;
	return cert->der;
}

const uint8_t *fc_crypto_cert_hash(const fc_cert *cert)
{
	return cert->hash;
}

const char *fc_crypto_cert_cn(const fc_cert *cert)
{
	return cert->cn;
}

const char *fc_crypto_cert_org(const fc_cert *cert)
{
	return cert->org;
}

const char *fc_crypto_cert_ou(const fc_cert *cert)
{
	return cert->ou;
}

const char *fc_crypto_cert_subject(const fc_cert *cert)
{
	return cert->subject;
}

int fc_crypto_cert_pubkey(const fc_cert *cert, fc_key **out, char *errmsg)
{
	EVP_PKEY *pkey;

	if (!cert || !out)
		return fc_errf(errmsg, FC_EINVAL, "certificate public key: NULL argument");
	*out = NULL;
	pkey = X509_get_pubkey(cert->x509);
	if (!pkey)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "certificate %s: public key",
					   cert->subject);
	return fc_crypto__key_wrap(pkey, 0, out, errmsg);
}

int fc_crypto_cert_matches_key(const fc_cert *cert, const fc_key *key, char *errmsg)
{
	EVP_PKEY *pub;

	if (!cert || !key)
		return fc_errf(errmsg, FC_EINVAL, "match key: NULL argument");
	pub = X509_get0_pubkey(cert->x509);
	if (!pub || EVP_PKEY_eq(pub, key->pkey) != 1) {
		fc_crypto__drain();
		return fc_errf(errmsg, FC_EMISMATCH, "key does not belong to certificate %s",
			       cert->subject);
	}
	return FC_OK;
}
