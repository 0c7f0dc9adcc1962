/* Issuing certificates: an organisation's self-signed CA and the leaf
 * certificates of its nodes and clients (profiles in fc_crypto.h). */
#include "crypto_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "fc_err.h"
#include "fc_mem.h"

#define DEFAULT_DAYS 3650
#define CLOCK_SKEW_SEC 300

/* A random positive serial of 127 bits (RFC 5280: at most 20 octets,
 * positive; CAs should use at least 64 bits of entropy). */
static int set_random_serial(X509 *x, char *errmsg)
{
	int rc = FC_OK;
	unsigned char raw[16];
	BIGNUM *bn = NULL;

	if (RAND_bytes(raw, sizeof raw) != 1)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "serial");
	raw[0] &= 0x7f;
	raw[0] |= 0x40; /* never zero, always 16 octets */
	bn = BN_bin2bn(raw, sizeof raw, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "serial");
	BN_free(bn);
	return rc;
}

static int add_name(X509_NAME *n, const char *field, const char *value, char *errmsg)
{
	if (X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
				       -1, 0) != 1)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "subject %s=%s", field, value);
	return FC_OK;
}

static int set_subject(X509 *x, const char *org, const char *ou, const char *cn, char *errmsg)
{
	int rc;
	X509_NAME *n = X509_NAME_new();

	if (!n)
		return fc_crypto__ossl_err(errmsg, FC_ENOMEM, "subject");
	rc = add_name(n, "O", org, errmsg);
	if (rc == FC_OK && ou && *ou)
		rc = add_name(n, "OU", ou, errmsg);
	if (rc == FC_OK)
		rc = add_name(n, "CN", cn, errmsg);
	if (rc == FC_OK && X509_set_subject_name(x, n) != 1)
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "subject");
	X509_NAME_free(n);
	return rc;
}

static int set_validity(X509 *x, int64_t not_before, unsigned days, char *errmsg)
{
	time_t nb = not_before ? (time_t)not_before : time(NULL) - CLOCK_SKEW_SEC;

	if (!days)
		days = DEFAULT_DAYS;
	if (!ASN1_TIME_set(X509_getm_notBefore(x), nb) ||
	    !ASN1_TIME_adj(X509_getm_notAfter(x), nb, (int)days, 0))
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "validity");
	return FC_OK;
}

/* One extension from its OpenSSL config text; issuer/subject for SKI/AKI. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value, char *errmsg)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "extension %s=%s", OBJ_nid2sn(nid),
					   value);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "extension %s", OBJ_nid2sn(nid));
	return FC_OK;
}

/* DNS names and IP literals only: no commas, spaces or config syntax. */
static int check_host(const char *h, char *errmsg)
{
	unsigned char ip[16];

	if (!h || !*h || strlen(h) > 253)
		return fc_errf(errmsg, FC_EINVAL, "host '%s' is empty or too long", h ? h : "");
	if (inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1)
		return FC_OK;
	for (const char *p = h; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return fc_errf(errmsg, FC_EINVAL,
				       "host '%s' is neither an IP address nor "
				       "a DNS name",
				       h);
	}
	return FC_OK;
}

static int add_san_entry(GENERAL_NAMES *gens, const char *host, char *errmsg)
{
	unsigned char ip[16];
	GENERAL_NAME *gn = NULL;

	/* Duplicates (127.0.0.1, localhost are always present) are skipped. */
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
		if (type == GEN_DNS && (size_t)ASN1_STRING_length(v) == strlen(host) &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(v), host, strlen(host)) == 0)
			return FC_OK;
		if (type == GEN_IPADD) {
			int fam = ASN1_STRING_length(v) == 4 ? AF_INET : AF_INET6;
			if (inet_pton(fam, host, ip) == 1 &&
			    memcmp(ip, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v)) ==
				0)
				return FC_OK;
		}
	}
	gn = GENERAL_NAME_new();
	if (!gn)
		goto fail;
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		ASN1_OCTET_STRING *os = a2i_IPADDRESS(host);
		if (!os)
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
	} else {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!s)
			goto fail;
		if (ASN1_STRING_set(s, host, -1) != 1) {
			ASN1_IA5STRING_free(s);
			goto fail;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, s);
	}
	if (sk_GENERAL_NAME_push(gens, gn) <= 0)
		goto fail;
	return FC_OK;
fail:
	GENERAL_NAME_free(gn);
	return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "subjectAltName %s", host);
}

static int add_san(X509 *x, const struct fc_crypto_issue_opts *o, char *errmsg)
{
	int rc = FC_OK;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

	if (!gens)
		return fc_crypto__ossl_err(errmsg, FC_ENOMEM, "subjectAltName");
	rc = add_san_entry(gens, "127.0.0.1", errmsg);
	if (rc == FC_OK)
		rc = add_san_entry(gens, "localhost", errmsg);
	for (size_t i = 0; rc == FC_OK && i < o->n_hosts; i++)
		rc = add_san_entry(gens, o->hosts[i], errmsg);
	if (rc == FC_OK &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "subjectAltName");
	GENERAL_NAMES_free(gens);
	return rc;
}

int fc_crypto_ca_create(const char *org, unsigned validity_days, fc_key **key_out,
			fc_cert **cert_out, char *errmsg)
{
	int rc;
	fc_key *key = NULL;
	X509 *x = NULL;
	char cn[80];

	if (!key_out || !cert_out)
		return fc_errf(errmsg, FC_EINVAL, "create CA: NULL argument");
	*key_out = NULL;
	*cert_out = NULL;
	rc = fc_crypto__check_name("organisation", org, errmsg);
	if (rc != FC_OK)
		goto out;
	snprintf(cn, sizeof cn, "ca.%s", org);
	rc = fc_crypto_key_generate(&key, errmsg);
	if (rc != FC_OK)
		goto out;
	x = X509_new();
	if (!x) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "new certificate");
		goto free_key;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_pubkey(x, key->pkey) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "certificate");
		goto free_x;
	}
	if ((rc = set_random_serial(x, errmsg)) != FC_OK ||
	    (rc = set_subject(x, org, NULL, cn, errmsg)) != FC_OK ||
	    (rc = set_validity(x, 0, validity_days, errmsg)) != FC_OK)
		goto free_x;
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "issuer");
		goto free_x;
	}
	if ((rc = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE", errmsg)) != FC_OK ||
	    (rc = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature",
			  errmsg)) != FC_OK ||
	    (rc = add_ext(x, x, NID_subject_key_identifier, "hash", errmsg)) != FC_OK)
		goto free_x;
	if (X509_sign(x, key->pkey, EVP_sha256()) <= 0) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "self-sign CA certificate");
		goto free_x;
	}
	rc = fc_crypto__cert_wrap(x, NULL, 0, cert_out, errmsg);
	x = NULL;
	if (rc != FC_OK)
		goto free_key;
	*key_out = key;
	key = NULL;
free_x:
	X509_free(x);
free_key:
	fc_crypto_key_free(key);
out:
	fc_crypto__drain();
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "create CA for %s", org ? org : "(null)");
	return rc;
}

int fc_crypto_cert_issue(const fc_cert *ca_cert, const fc_key *ca_key, const fc_key *subject_key,
			 const struct fc_crypto_issue_opts *opts, fc_cert **out, char *errmsg)
{
	int rc;
	X509 *x = NULL;

	if (!ca_cert || !ca_key || !subject_key || !opts || !out)
		return fc_errf(errmsg, FC_EINVAL, "issue certificate: NULL argument");
	*out = NULL;
	if ((rc = fc_crypto__check_name("organisation", opts->org, errmsg)) != FC_OK ||
	    (rc = fc_crypto__check_name("common name", opts->cn, errmsg)) != FC_OK ||
	    (opts->ou && *opts->ou &&
	     (rc = fc_crypto__check_name("role", opts->ou, errmsg)) != FC_OK))
		goto out;
	if (opts->n_hosts && !opts->hosts) {
		rc = fc_errf(errmsg, FC_EINVAL, "n_hosts without hosts");
		goto out;
	}
	for (size_t i = 0; i < opts->n_hosts; i++)
		if ((rc = check_host(opts->hosts[i], errmsg)) != FC_OK)
			goto out;
	if (!ca_key->has_private) {
		rc = fc_errf(errmsg, FC_EINVAL, "CA key has no private part");
		goto out;
	}
	if ((rc = fc_crypto_cert_matches_key(ca_cert, ca_key, errmsg)) != FC_OK)
		goto out;
	if (!X509_check_ca(ca_cert->x509)) {
		rc = fc_errf(errmsg, FC_EINVAL, "%s is not a CA certificate", ca_cert->subject);
		goto out;
	}
	if (strcmp(ca_cert->org, opts->org) != 0) {
		rc = fc_errf(errmsg, FC_EINVAL, "CA %s belongs to '%s', not '%s'", ca_cert->subject,
			     ca_cert->org, opts->org);
		goto out;
	}
	x = X509_new();
	if (!x) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "new certificate");
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_pubkey(x, subject_key->pkey) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca_cert->x509)) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "certificate");
		goto free_x;
	}
	if ((rc = set_random_serial(x, errmsg)) != FC_OK ||
	    (rc = set_subject(x, opts->org, opts->ou, opts->cn, errmsg)) != FC_OK ||
	    (rc = set_validity(x, opts->not_before, opts->validity_days, errmsg)) != FC_OK)
		goto free_x;
	if ((rc = add_ext(x, ca_cert->x509, NID_basic_constraints, "critical,CA:FALSE", errmsg)) ||
	    (rc = add_ext(x, ca_cert->x509, NID_key_usage, "critical,digitalSignature", errmsg)) ||
	    (rc = add_ext(x, ca_cert->x509, NID_ext_key_usage, "serverAuth,clientAuth", errmsg)) ||
	    (rc = add_ext(x, ca_cert->x509, NID_subject_key_identifier, "hash", errmsg)) ||
	    (rc =
		 add_ext(x, ca_cert->x509, NID_authority_key_identifier, "keyid:always", errmsg)) ||
	    (rc = add_san(x, opts, errmsg)))
		goto free_x;
	if (X509_sign(x, ca_key->pkey, EVP_sha256()) <= 0) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "sign certificate");
		goto free_x;
	}
	rc = fc_crypto__cert_wrap(x, NULL, 0, out, errmsg);
	x = NULL;
free_x:
	X509_free(x);
out:
	fc_crypto__drain();
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "issue certificate for %s",
			   opts && opts->cn ? opts->cn : "(null)");
	return rc;
}
