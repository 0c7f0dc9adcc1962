/* Unit tests of common/crypto: hashing, ECDSA P-256 signatures, X.509
 * issuing and parsing, the per-org CA store and its cache, key/cert files
 * and the identity layout, and error paths under failed allocations. */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"

/* Two organisations' CAs and a few leaves, made once for the whole file. */
struct fixture {
	fc_key *ca1_key;
	fc_cert *ca1;
	fc_key *ca2_key;
	fc_cert *ca2;
	fc_key *node_key; /* Org1 orderer0 */
	fc_cert *node;
	fc_key *other_key; /* Org2 compute0 (CA2 is never trusted) */
	fc_cert *other;
};

static struct fixture F;

static fc_cert *issue(const fc_cert *ca, const fc_key *ca_key, const fc_key *key, const char *org,
		      const char *ou, const char *cn)
{
	char err[FC_ERRMSG_LEN] = "";
	const char *hosts[] = {"node1.example.org", "10.0.0.7"};
	struct fc_crypto_issue_opts o = {
	    .org = org, .cn = cn, .ou = ou, .hosts = hosts, .n_hosts = 2};
	fc_cert *c = NULL;
	int rc = fc_crypto_cert_issue(ca, ca_key, key, &o, &c, err);
	if (rc != FC_OK)
		fprintf(stderr, "issue: %s\n", err);
	assert_int_equal(rc, FC_OK);
	return c;
}

static int setup(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_crypto_ca_create("Org1", 0, &F.ca1_key, &F.ca1, err), FC_OK);
	assert_int_equal(fc_crypto_ca_create("Org2", 0, &F.ca2_key, &F.ca2, err), FC_OK);
	assert_int_equal(fc_crypto_key_generate(&F.node_key, err), FC_OK);
	assert_int_equal(fc_crypto_key_generate(&F.other_key, err), FC_OK);
	F.node = issue(F.ca1, F.ca1_key, F.node_key, "Org1", "orderer", "orderer0");
	F.other = issue(F.ca2, F.ca2_key, F.other_key, "Org2", "compute", "compute0");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fc_crypto_cert_free(F.ca1);
	fc_crypto_cert_free(F.ca2);
	fc_crypto_cert_free(F.node);
	fc_crypto_cert_free(F.other);
	fc_crypto_key_free(F.ca1_key);
	fc_crypto_key_free(F.ca2_key);
	fc_crypto_key_free(F.node_key);
	fc_crypto_key_free(F.other_key);
	return 0;
}

static fc_crypto_castore *org1_store(void)
{
	fc_crypto_castore *cs = NULL;
	assert_int_equal(fc_crypto_castore_create(0, &cs, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_add(cs, "Org1", F.ca1, NULL), FC_OK);
	return cs;
}

/* ------------------------------------------------------------ hashing */

static void test_sha256_and_hex(void **state)
{
	(void)state;
	uint8_t d[FC_SHA256_LEN];
	char hex[2 * FC_SHA256_LEN + 1];
	uint8_t back[FC_SHA256_LEN];

	assert_int_equal(fc_sha256("abc", 3, d, NULL), FC_OK);
	fc_hex_encode(d, sizeof d, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(fc_sha256(NULL, 0, d, NULL), FC_OK);
	fc_hex_encode(d, sizeof d, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	assert_int_equal(fc_hex_decode(hex, back, sizeof back, NULL), FC_OK);
	assert_memory_equal(back, d, sizeof d);
	assert_int_equal(fc_hex_decode("ABcd", back, 2, NULL), FC_OK);
	assert_int_equal(back[0], 0xab);
	assert_int_equal(back[1], 0xcd);
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_hex_decode("abc", back, 2, err), FC_EINVAL);
	assert_int_equal(fc_hex_decode("zz", back, 1, err), FC_EINVAL);
	assert_non_null(strstr(err, "bad digit"));

	uint8_t r1[16] = {0}, r2[16] = {0};
	assert_int_equal(fc_crypto_random(r1, sizeof r1, NULL), FC_OK);
	assert_int_equal(fc_crypto_random(r2, sizeof r2, NULL), FC_OK);
	assert_memory_not_equal(r1, r2, sizeof r1);
}

/* ---------------------------------------------------------- signatures */

static void test_sign_verify_round_trip(void **state)
{
	(void)state;
	uint8_t d[FC_SHA256_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	char err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_sha256("block 17", 8, d, NULL), FC_OK);
	assert_int_equal(fc_crypto_sign_digest(F.node_key, d, &sig, &siglen, err), FC_OK);
	assert_true(siglen > 8 && siglen <= FC_CRYPTO_SIG_MAX);
	assert_int_equal(sig[0], 0x30); /* DER SEQUENCE */
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, err), FC_OK);
	assert_int_equal(fc_crypto_verify_digest_key(F.node_key, d, sig, siglen, err), FC_OK);

	fc_key *pub = NULL;
	assert_int_equal(fc_crypto_cert_pubkey(F.node, &pub, err), FC_OK);
	assert_int_equal(fc_crypto_verify_digest_key(pub, d, sig, siglen, err), FC_OK);
	uint8_t *s2 = NULL;
	size_t l2 = 0;
	assert_int_equal(fc_crypto_sign_digest(pub, d, &s2, &l2, err), FC_EINVAL);
	assert_null(s2);
	fc_crypto_key_free(pub);
	fc_free(sig);
	assert_int_equal(ERR_peek_error(), 0);
}

/* sign_message(m) is the standard ECDSA-with-SHA256 signature of m: OpenSSL's
 * own one-shot verification of the message accepts it. */
static void test_sign_message_is_standard_ecdsa_sha256(void **state)
{
	(void)state;
	const char msg[] = "hello flexchain";
	uint8_t *sig = NULL;
	size_t siglen = 0;
	uint8_t d[FC_SHA256_LEN];

	assert_int_equal(fc_crypto_sign_message(F.node_key, msg, strlen(msg), &sig, &siglen, NULL),
			 FC_OK);
	assert_int_equal(fc_sha256(msg, strlen(msg), d, NULL), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, NULL), FC_OK);

	size_t dlen = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &dlen);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)dlen);
	assert_non_null(x);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(
	    EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, X509_get0_pubkey(x), NULL), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, strlen(msg)),
			 1);
	EVP_MD_CTX_free(md);
	X509_free(x);
	fc_free(sig);
}

static void test_wrong_key_fails(void **state)
{
	(void)state;
	uint8_t d[FC_SHA256_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	char err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_sha256("x", 1, d, NULL), FC_OK);
	assert_int_equal(fc_crypto_sign_digest(F.other_key, d, &sig, &siglen, NULL), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, err), FC_EVERIFY);
	assert_non_null(strstr(err, "does not verify"));
	assert_int_equal(ERR_peek_error(), 0);
	fc_free(sig);
}

static void test_tampered_digest_fails(void **state)
{
	(void)state;
	uint8_t d[FC_SHA256_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;

	assert_int_equal(fc_sha256("x", 1, d, NULL), FC_OK);
	assert_int_equal(fc_crypto_sign_digest(F.node_key, d, &sig, &siglen, NULL), FC_OK);
	for (size_t i = 0; i < FC_SHA256_LEN; i += 7) {
		d[i] ^= 0x01;
		assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, NULL), FC_EVERIFY);
		d[i] ^= 0x01;
	}
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, NULL), FC_OK);
	fc_free(sig);
}

static void test_garbage_signature_fails(void **state)
{
	(void)state;
	uint8_t d[FC_SHA256_LEN] = {1, 2, 3};
	uint8_t junk[FC_CRYPTO_SIG_MAX];
	uint8_t *sig = NULL;
	size_t siglen = 0;

	assert_int_equal(fc_crypto_verify_digest(F.node, d, NULL, 0, NULL), FC_EVERIFY);
	assert_int_equal(fc_crypto_verify_digest(F.node, d, junk, 0, NULL), FC_EVERIFY);
	for (int round = 0; round < 32; round++) {
		assert_int_equal(fc_crypto_random(junk, sizeof junk, NULL), FC_OK);
		if (round & 1)
			junk[0] = 0x30; /* looks like a SEQUENCE */
		size_t len = 1 + (size_t)round * 2 % sizeof junk;
		assert_int_equal(fc_crypto_verify_digest(F.node, d, junk, len, NULL), FC_EVERIFY);
		assert_int_equal(ERR_peek_error(), 0);
	}
	uint8_t big[200] = {0x30};
	assert_int_equal(fc_crypto_verify_digest(F.node, d, big, sizeof big, NULL), FC_EVERIFY);

	/* A real signature, truncated or with a flipped bit. */
	assert_int_equal(fc_crypto_sign_digest(F.node_key, d, &sig, &siglen, NULL), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen - 1, NULL), FC_EVERIFY);
	sig[siglen - 3] ^= 0x40;
	assert_int_equal(fc_crypto_verify_digest(F.node, d, sig, siglen, NULL), FC_EVERIFY);
	assert_int_equal(ERR_peek_error(), 0);
	fc_free(sig);
}

/* ------------------------------------------------------- certificates */

static void test_issued_cert_profile(void **state)
{
	(void)state;
	assert_string_equal(fc_crypto_cert_cn(F.node), "orderer0");
	assert_string_equal(fc_crypto_cert_org(F.node), "Org1");
	assert_string_equal(fc_crypto_cert_ou(F.node), "orderer");
	assert_string_equal(fc_crypto_cert_subject(F.node), "CN=orderer0,OU=orderer,O=Org1");
	assert_string_equal(fc_crypto_cert_cn(F.ca1), "ca.Org1");
	assert_string_equal(fc_crypto_cert_org(F.ca1), "Org1");
	assert_string_equal(fc_crypto_cert_ou(F.ca1), "");
	assert_int_equal(fc_crypto_cert_matches_key(F.node, F.node_key, NULL), FC_OK);
	assert_int_equal(fc_crypto_cert_matches_key(F.node, F.other_key, NULL), FC_EMISMATCH);

	/* DER round trip keeps the identity (hash) and the names. */
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);
	fc_cert *c = NULL;
	assert_int_equal(fc_crypto_cert_from_der(der, len, &c, NULL), FC_OK);
	assert_memory_equal(fc_crypto_cert_hash(c), fc_crypto_cert_hash(F.node), FC_SHA256_LEN);
	uint8_t h[FC_SHA256_LEN];
	assert_int_equal(fc_sha256(der, len, h, NULL), FC_OK);
	assert_memory_equal(h, fc_crypto_cert_hash(c), FC_SHA256_LEN);
	assert_string_equal(fc_crypto_cert_cn(c), "orderer0");
	fc_crypto_cert_free(c);

	/* Extensions, read back with OpenSSL. */
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "node1.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.7", 0), 1);
	assert_int_equal(X509_check_host(x, "evil.example.org", 0, 0, NULL), 0);
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	X509_free(x);

	der = fc_crypto_cert_der(F.ca1, &len);
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_int_equal(X509_check_ca(x), 1);
	assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	X509_free(x);

	/* Two certificates never share a serial (random). */
	fc_cert *again = issue(F.ca1, F.ca1_key, F.node_key, "Org1", "orderer", "orderer0");
	assert_memory_not_equal(fc_crypto_cert_hash(again), fc_crypto_cert_hash(F.node),
				FC_SHA256_LEN);
	fc_crypto_cert_free(again);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_issue_refuses_bad_input(void **state)
{
	(void)state;
	fc_cert *c = NULL;
	char err[FC_ERRMSG_LEN] = "";
	struct fc_crypto_issue_opts o = {.org = "Org2", .cn = "x"};

	/* The CA of Org1 does not issue for Org2. */
	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca1_key, F.node_key, &o, &c, err),
			 FC_EINVAL);
	assert_null(c);
	assert_non_null(strstr(err, "Org1"));
	/* Key of another CA. */
	o.org = "Org1";
	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca2_key, F.node_key, &o, &c, err),
			 FC_EMISMATCH);
	/* A leaf is not a CA. */
	assert_int_equal(fc_crypto_cert_issue(F.node, F.node_key, F.other_key, &o, &c, err),
			 FC_EINVAL);
	/* Config syntax smuggled into a host name. */
	const char *hosts[] = {"a.example,IP:1.2.3.4"};
	o.hosts = hosts;
	o.n_hosts = 1;
	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca1_key, F.node_key, &o, &c, err),
			 FC_EINVAL);
	o.n_hosts = 0;
	o.cn = "";
	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca1_key, F.node_key, &o, &c, err),
			 FC_EINVAL);
	assert_int_equal(fc_crypto_ca_create("", 0, &(fc_key *){NULL}, &c, err), FC_EINVAL);
	assert_null(c);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_pem_garbage_reports_openssl_reason(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	fc_cert *c = NULL;
	fc_key *k = NULL;
	const char garbage[] = "this is not a certificate\n";

	assert_int_equal(fc_crypto_cert_from_pem(garbage, sizeof garbage - 1, &c, err), FC_ECRYPTO);
	assert_null(c);
	assert_non_null(strstr(err, "openssl: "));
	assert_non_null(strstr(err, "no start line"));
	assert_int_equal(ERR_peek_error(), 0);

	err[0] = '\0';
	assert_int_equal(fc_crypto_key_from_pem(garbage, sizeof garbage - 1, &k, err), FC_ECRYPTO);
	assert_null(k);
	assert_non_null(strstr(err, "openssl: "));
	assert_int_equal(ERR_peek_error(), 0);

	/* A PEM armour around junk. */
	const char armoured[] =
	    "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
	err[0] = '\0';
	assert_int_equal(fc_crypto_cert_from_pem(armoured, sizeof armoured - 1, &c, err),
			 FC_ECRYPTO);
	assert_non_null(strstr(err, "openssl: "));

	/* DER: junk, truncation, trailing bytes. */
	uint8_t junk[64];
	memset(junk, 0xa5, sizeof junk);
	assert_int_equal(fc_crypto_cert_from_der(junk, sizeof junk, &c, err), FC_ECRYPTO);
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);
	assert_int_equal(fc_crypto_cert_from_der(der, len - 10, &c, err), FC_ECRYPTO);
	uint8_t *longer = fc_malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(fc_crypto_cert_from_der(longer, len + 1, &c, err), FC_ECRYPTO);
	assert_non_null(strstr(err, "trailing"));
	fc_free(longer);
	assert_null(c);
	assert_int_equal(ERR_peek_error(), 0);

	/* A missing file is FC_ENOTFOUND naming the path. */
	assert_int_equal(fc_crypto_cert_load_pem("/nonexistent/x.pem", &c, err), FC_ENOTFOUND);
	assert_non_null(strstr(err, "/nonexistent/x.pem"));
}

/* ------------------------------------------------------------ castore */

static void test_castore_verifies_org1_leaf(void **state)
{
	(void)state;
	fc_crypto_castore *cs = org1_store();
	const char *org = NULL;
	char err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_crypto_castore_verify(cs, F.node, &org, err), FC_OK);
	assert_string_equal(org, "Org1");

	/* A second org's CA joins: both verify, each as its own org. */
	assert_int_equal(fc_crypto_castore_add(cs, "Org2", F.ca2, err), FC_OK);
	assert_int_equal(fc_crypto_castore_verify(cs, F.other, &org, err), FC_OK);
	assert_string_equal(org, "Org2");
	assert_int_equal(fc_crypto_castore_verify(cs, F.node, &org, err), FC_OK);
	assert_string_equal(org, "Org1");

	/* Adding the same CA again, a leaf as CA, or a CA cert as identity. */
	assert_int_equal(fc_crypto_castore_add(cs, "Org3", F.ca1, err), FC_EEXIST);
	assert_int_equal(fc_crypto_castore_add(cs, "Org3", F.node, err), FC_EINVAL);
	assert_int_equal(fc_crypto_castore_verify(cs, F.ca1, &org, err), FC_EVERIFY);
	assert_non_null(strstr(err, "CN=ca.Org1"));
	fc_crypto_castore_destroy(cs);
}

static void test_castore_unknown_ca_fails(void **state)
{
	(void)state;
	fc_crypto_castore *cs = org1_store();
	const char *org = "untouched";
	char err[FC_ERRMSG_LEN] = "";

	assert_int_equal(fc_crypto_castore_verify(cs, F.other, &org, err), FC_EVERIFY);
	assert_string_equal(org, "untouched");
	assert_non_null(strstr(err, "CN=compute0"));
	assert_non_null(strstr(err, "issuer"));

	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.other, &len);
	fc_cert *c = (fc_cert *)1;
	assert_int_equal(fc_crypto_castore_verify_der(cs, der, len, &c, &org, err), FC_EVERIFY);
	assert_null(c);
	assert_int_equal(ERR_peek_error(), 0);
	fc_crypto_castore_destroy(cs);
}

static void test_castore_org_mismatch_refused(void **state)
{
	(void)state;
	fc_crypto_castore *cs = NULL;
	char err[FC_ERRMSG_LEN] = "";
	const char *org = NULL;

	/* Org1's CA trusted as the CA of OrgX: its leaves say O=Org1. */
	assert_int_equal(fc_crypto_castore_create(0, &cs, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_add(cs, "OrgX", F.ca1, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_verify(cs, F.node, &org, err), FC_EVERIFY);
	assert_non_null(strstr(err, "'Org1'"));
	assert_non_null(strstr(err, "'OrgX'"));
	fc_crypto_castore_destroy(cs);
}

static void test_castore_expired_refused(void **state)
{
	(void)state;
	fc_crypto_castore *cs = org1_store();
	char err[FC_ERRMSG_LEN] = "";
	struct fc_crypto_issue_opts o = {.org = "Org1",
					 .cn = "old",
					 .ou = "client",
					 .not_before = (int64_t)time(NULL) - 10 * 86400,
					 .validity_days = 1};
	fc_cert *old = NULL;

	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca1_key, F.node_key, &o, &old, err), FC_OK);
	assert_int_equal(fc_crypto_castore_verify(cs, old, NULL, err), FC_EVERIFY);
	assert_non_null(strstr(err, "expired"));
	assert_non_null(strstr(err, "CN=old"));

	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(old, &len);
	assert_int_equal(fc_crypto_castore_verify_der(cs, der, len, NULL, NULL, err), FC_EVERIFY);

	/* Not yet valid either. */
	fc_cert *future = NULL;
	o.not_before = (int64_t)time(NULL) + 10 * 86400;
	o.cn = "future";
	assert_int_equal(fc_crypto_cert_issue(F.ca1, F.ca1_key, F.node_key, &o, &future, err),
			 FC_OK);
	assert_int_equal(fc_crypto_castore_verify(cs, future, NULL, err), FC_EVERIFY);
	assert_non_null(strstr(err, "not yet valid"));
	fc_crypto_cert_free(future);
	fc_crypto_cert_free(old);
	fc_crypto_castore_destroy(cs);
}

static void test_castore_cache(void **state)
{
	(void)state;
	fc_crypto_castore *cs = NULL;
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);
	uint64_t hits = 0, misses = 0;
	const char *org = NULL;

	assert_int_equal(fc_crypto_castore_create(2, &cs, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_add(cs, "Org1", F.ca1, NULL), FC_OK);
	for (int i = 0; i < 50; i++) {
		fc_cert *c = NULL;
		assert_int_equal(fc_crypto_castore_verify_der(cs, der, len, &c, &org, NULL), FC_OK);
		assert_string_equal(org, "Org1");
		assert_memory_equal(fc_crypto_cert_hash(c), fc_crypto_cert_hash(F.node),
				    FC_SHA256_LEN);
		fc_crypto_cert_free(c);
	}
	fc_crypto_castore_cache_stats(cs, &hits, &misses);
	assert_int_equal(misses, 1);
	assert_int_equal(hits, 49);

	/* A failing certificate fails every time, cached or not. */
	size_t olen = 0;
	const uint8_t *oder = fc_crypto_cert_der(F.other, &olen);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fc_crypto_castore_verify_der(cs, oder, olen, NULL, NULL, NULL),
				 FC_EVERIFY);
	/* ... until its CA is trusted. */
	assert_int_equal(fc_crypto_castore_add(cs, "Org2", F.ca2, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_verify_der(cs, oder, olen, NULL, &org, NULL), FC_OK);
	assert_string_equal(org, "Org2");

	/* Capacity 2: more distinct certificates evict, results stay right. */
	for (int i = 0; i < 5; i++) {
		char cn[16];
		snprintf(cn, sizeof cn, "client%d", i);
		fc_cert *c = issue(F.ca1, F.ca1_key, F.node_key, "Org1", "client", cn);
		size_t l = 0;
		const uint8_t *d = fc_crypto_cert_der(c, &l);
		assert_int_equal(fc_crypto_castore_verify_der(cs, d, l, NULL, NULL, NULL), FC_OK);
		fc_crypto_cert_free(c);
	}
	assert_int_equal(fc_crypto_castore_verify_der(cs, der, len, NULL, &org, NULL), FC_OK);
	assert_int_equal(ERR_peek_error(), 0);

	/* Garbage DER is a verification failure, not a crypto error. */
	uint8_t junk[32] = {0x30, 0x82};
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_crypto_castore_verify_der(cs, junk, sizeof junk, NULL, NULL, err),
			 FC_EVERIFY);
	assert_non_null(strstr(err, "openssl: "));
	assert_int_equal(fc_crypto_castore_verify_der(cs, junk, 0, NULL, NULL, err), FC_EVERIFY);
	fc_crypto_castore_destroy(cs);
}

#define N_THREADS 4
#define N_ROUNDS 100

struct worker {
	fc_crypto_castore *cs;
	const uint8_t *digest;
	const uint8_t *sig;
	size_t siglen;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);

	for (int i = 0; i < N_ROUNDS; i++) {
		fc_cert *c = NULL;
		const char *org = NULL;
		if (fc_crypto_castore_verify_der(w->cs, der, len, &c, &org, NULL) != FC_OK ||
		    strcmp(org, "Org1") != 0 ||
		    fc_crypto_verify_digest(c, w->digest, w->sig, w->siglen, NULL) != FC_OK)
			w->failures++;
		fc_crypto_cert_free(c);
	}
	return NULL;
}

static void test_castore_threads(void **state)
{
	(void)state;
	fc_crypto_castore *cs = org1_store();
	uint8_t d[FC_SHA256_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	pthread_t th[N_THREADS];
	struct worker w[N_THREADS];
	uint64_t hits = 0, misses = 0;

	assert_int_equal(fc_sha256("tx", 2, d, NULL), FC_OK);
	assert_int_equal(fc_crypto_sign_digest(F.node_key, d, &sig, &siglen, NULL), FC_OK);
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){.cs = cs, .digest = d, .sig = sig, .siglen = siglen};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	fc_crypto_castore_cache_stats(cs, &hits, &misses);
	assert_int_equal(hits + misses, N_THREADS * N_ROUNDS);
	assert_true(misses >= 1 && misses <= N_THREADS);
	fc_free(sig);
	fc_crypto_castore_destroy(cs);
}

/* -------------------------------------------------------------- files */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_files_and_identity_layout(void **state)
{
	(void)state;
	char dir[] = "/tmp/fc_crypto_test.XXXXXX";
	char err[FC_ERRMSG_LEN] = "";
	char d[512], cp[512], kp[512];
	struct stat st;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(fc_identity_paths(dir, "Org1", NULL, NULL, d, cp, kp, sizeof d, err),
			 FC_OK);
	assert_non_null(strstr(cp, "/Org1/ca/ca.crt"));
	assert_non_null(strstr(kp, "/Org1/ca/ca.key"));
	assert_int_equal(fc_identity_paths(dir, "Org1", FC_IDENTITY_ROLE_ORDERER, "orderer0", d, cp,
					   kp, sizeof d, err),
			 FC_OK);
	char want[600];
	snprintf(want, sizeof want, "%s/Org1/orderer/orderer0/cert.pem", dir);
	assert_string_equal(cp, want);
	snprintf(want, sizeof want, "%s/Org1/orderer/orderer0/key.pem", dir);
	assert_string_equal(kp, want);
	snprintf(want, sizeof want, "%s/Org1/orderer/orderer0", dir);
	assert_string_equal(d, want);
	assert_int_equal(fc_identity_paths(dir, "Org1", "orderer", "..", d, cp, kp, sizeof d, err),
			 FC_EINVAL);
	assert_int_equal(fc_identity_paths(dir, "Org1", "orderer", "a/b", d, cp, kp, sizeof d, err),
			 FC_EINVAL);
	assert_int_equal(fc_identity_paths(dir, "Org1", "orderer", "x", d, cp, kp, 10, err),
			 FC_ETOOBIG);
	char cid[80];
	assert_int_equal(fc_identity_client_id("Org1", cid, sizeof cid, err), FC_OK);
	assert_string_equal(cid, "client.Org1");

	/* Write the orderer's identity where the layout says, by hand. */
	assert_int_equal(
	    fc_identity_paths(dir, "Org1", "orderer", "orderer0", d, cp, kp, sizeof d, err), FC_OK);
	char sub[600];
	snprintf(sub, sizeof sub, "%s/Org1", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof sub, "%s/Org1/orderer", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(fc_crypto_key_save_pem(F.node_key, kp, 0, err), FC_OK);
	assert_int_equal(fc_crypto_cert_save_pem(F.node, cp, 0, err), FC_OK);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* No silent overwrite; explicit overwrite keeps the mode. */
	assert_int_equal(fc_crypto_key_save_pem(F.other_key, kp, 0, err), FC_EEXIST);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(fc_crypto_cert_save_pem(F.node, cp, 0, err), FC_EEXIST);
	assert_int_equal(chmod(kp, 0644), 0);
	assert_int_equal(fc_crypto_key_save_pem(F.node_key, kp, FC_CRYPTO_OVERWRITE, err), FC_OK);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Load back: the pair matches and signs verifiably. */
	fc_cert *c = NULL;
	fc_key *k = NULL;
	assert_int_equal(fc_identity_load(dir, "Org1", "orderer", "orderer0", &c, &k, err), FC_OK);
	assert_memory_equal(fc_crypto_cert_hash(c), fc_crypto_cert_hash(F.node), FC_SHA256_LEN);
	uint8_t dg[FC_SHA256_LEN] = {9};
	uint8_t *sig = NULL;
	size_t siglen = 0;
	assert_int_equal(fc_crypto_sign_digest(k, dg, &sig, &siglen, NULL), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(F.node, dg, sig, siglen, NULL), FC_OK);
	fc_free(sig);
	fc_crypto_cert_free(c);
	fc_crypto_key_free(k);

	/* A key that does not belong to the certificate. */
	assert_int_equal(fc_crypto_key_save_pem(F.other_key, kp, FC_CRYPTO_OVERWRITE, err), FC_OK);
	assert_int_equal(fc_identity_load(dir, "Org1", "orderer", "orderer0", &c, &k, err),
			 FC_EMISMATCH);
	assert_null(c);
	assert_null(k);
	assert_non_null(strstr(err, "orderer0"));
	/* Missing identity. */
	assert_int_equal(fc_identity_load(dir, "Org1", "compute", "compute9", &c, &k, err),
			 FC_ENOTFOUND);

	/* The castore loads a CA from PEM. */
	char ca_path[600];
	snprintf(ca_path, sizeof ca_path, "%s/ca.crt", dir);
	assert_int_equal(fc_crypto_cert_save_pem(F.ca1, ca_path, 0, err), FC_OK);
	fc_crypto_castore *cs = NULL;
	assert_int_equal(fc_crypto_castore_create(0, &cs, NULL), FC_OK);
	assert_int_equal(fc_crypto_castore_add_pem(cs, "Org1", ca_path, err), FC_OK);
	assert_int_equal(fc_crypto_castore_verify(cs, F.node, NULL, err), FC_OK);
	fc_crypto_castore_destroy(cs);

	assert_int_equal(ERR_peek_error(), 0);
	assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ------------------------------------------------- failed allocations */

/* Runs op with the n-th allocation failing, for n = 1, 2, ... until op makes
 * fewer than n allocations. Every run must return FC_OK or FC_ENOMEM and
 * free what it took (the sanitizer build checks for leaks). */
static void fail_each_allocation(int (*op)(void), const char *name)
{
	for (unsigned long n = 1; n < 1000; n++) {
		unsigned long before = fc_mem_count();
		fc_mem_fail_nth(n);
		int rc = op();
		unsigned long used = fc_mem_count() - before;
		fc_mem_fail_nth(0);
		if (rc != FC_OK && rc != FC_ENOMEM)
			fail_msg("%s: allocation %lu failing gave %s", name, n, fc_strerror(rc));
		if (used < n) {
			assert_int_equal(rc, FC_OK);
			assert_true(n > 1); /* op allocates at all */
			return;
		}
	}
	fail_msg("%s: did not finish within 1000 allocations", name);
}

static int op_issue(void)
{
	fc_key *ca_key = NULL, *key = NULL;
	fc_cert *ca = NULL, *leaf = NULL;
	int rc = fc_crypto_ca_create("OrgF", 0, &ca_key, &ca, NULL);
	if (rc == FC_OK)
		rc = fc_crypto_key_generate(&key, NULL);
	if (rc == FC_OK) {
		struct fc_crypto_issue_opts o = {.org = "OrgF", .cn = "n0", .ou = "compute"};
		rc = fc_crypto_cert_issue(ca, ca_key, key, &o, &leaf, NULL);
	}
	fc_crypto_cert_free(leaf);
	fc_crypto_cert_free(ca);
	fc_crypto_key_free(key);
	fc_crypto_key_free(ca_key);
	return rc;
}

static int op_castore(void)
{
	fc_crypto_castore *cs = NULL;
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);
	int rc = fc_crypto_castore_create(0, &cs, NULL);
	if (rc == FC_OK)
		rc = fc_crypto_castore_add(cs, "Org1", F.ca1, NULL);
	for (int i = 0; rc == FC_OK && i < 2; i++) {
		fc_cert *c = NULL;
		rc = fc_crypto_castore_verify_der(cs, der, len, &c, NULL, NULL);
		fc_crypto_cert_free(c);
	}
	fc_crypto_castore_destroy(cs);
	return rc;
}

static int op_sign_verify(void)
{
	uint8_t d[FC_SHA256_LEN] = {7};
	uint8_t *sig = NULL;
	size_t siglen = 0;
	fc_key *pub = NULL;
	int rc = fc_crypto_sign_digest(F.node_key, d, &sig, &siglen, NULL);
	if (rc == FC_OK)
		rc = fc_crypto_cert_pubkey(F.node, &pub, NULL);
	if (rc == FC_OK)
		rc = fc_crypto_verify_digest_key(pub, d, sig, siglen, NULL);
	fc_crypto_key_free(pub);
	fc_free(sig);
	return rc;
}

static int op_parse(void)
{
	size_t len = 0;
	const uint8_t *der = fc_crypto_cert_der(F.node, &len);
	fc_cert *c = NULL;
	int rc = fc_crypto_cert_from_der(der, len, &c, NULL);
	fc_crypto_cert_free(c);
	return rc;
}

static void test_fail_nth_allocation(void **state)
{
	(void)state;
	fail_each_allocation(op_issue, "issue");
	fail_each_allocation(op_castore, "castore");
	fail_each_allocation(op_sign_verify, "sign/verify");
	fail_each_allocation(op_parse, "parse");
	assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_and_hex),
	    cmocka_unit_test(test_sign_verify_round_trip),
	    cmocka_unit_test(test_sign_message_is_standard_ecdsa_sha256),
	    cmocka_unit_test(test_wrong_key_fails),
	    cmocka_unit_test(test_tampered_digest_fails),
	    cmocka_unit_test(test_garbage_signature_fails),
	    cmocka_unit_test(test_issued_cert_profile),
	    cmocka_unit_test(test_issue_refuses_bad_input),
	    cmocka_unit_test(test_pem_garbage_reports_openssl_reason),
	    cmocka_unit_test(test_castore_verifies_org1_leaf),
	    cmocka_unit_test(test_castore_unknown_ca_fails),
	    cmocka_unit_test(test_castore_org_mismatch_refused),
	    cmocka_unit_test(test_castore_expired_refused),
	    cmocka_unit_test(test_castore_cache),
	    cmocka_unit_test(test_castore_threads),
	    cmocka_unit_test(test_files_and_identity_layout),
	    cmocka_unit_test(test_fail_nth_allocation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
