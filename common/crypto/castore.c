/* The per-organisation CA store and its certificate cache.
 *
 * One X509_STORE holds the CAs of every organisation; after OpenSSL has
 * built and checked the chain, its trust anchor tells which organisation
 * vouches for the certificate. Validators see the same few certificates in
 * thousands of transactions, so parsed certificates and their chain verdict
 * are cached by SHA-256 of the DER; a hit costs one hash and a validity-time
 * check, never a parse or a CA signature check. */
#include "crypto_int.h"

#include <pthread.h>
#include <string.h>

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "fc_err.h"
#include "fc_mem.h"

#define DEFAULT_CACHE_CAP 4096

struct ca_entry {
	char *org;
	fc_cert *ca;
};

struct cache_entry {
	struct cache_entry *next;
	fc_cert *cert;
	long org_idx; /* index into cas once chain-verified, -1 before */
};

struct fc_crypto_castore {
	pthread_rwlock_t lock; /* store and cas: write for add, read for verify */
	X509_STORE *store;
	struct ca_entry *cas;
	size_t n_cas;

	pthread_mutex_t cache_lock;
	struct cache_entry **buckets;
	size_t n_buckets; /* power of two */
	size_t n_cached;
	size_t cache_cap;
	size_t evict_cursor;
	atomic_ulong hits;
	atomic_ulong misses;
};

int fc_crypto_castore_create(size_t cache_cap, fc_crypto_castore **out, char *errmsg)
{
	int rc = FC_OK;
	fc_crypto_castore *cs;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "castore: NULL argument");
	*out = NULL;
	if (!cache_cap)
		cache_cap = DEFAULT_CACHE_CAP;
	cs = fc_calloc(1, sizeof *cs);
	if (!cs)
		return fc_errf(errmsg, FC_ENOMEM, "castore: out of memory");
	cs->cache_cap = cache_cap;
	cs->n_buckets = 16;
	while (cs->n_buckets < cache_cap && cs->n_buckets < (1u << 20))
		cs->n_buckets <<= 1;
	cs->buckets = fc_calloc(cs->n_buckets, sizeof *cs->buckets);
	if (!cs->buckets) {
		rc = fc_errf(errmsg, FC_ENOMEM, "castore: out of memory");
		goto free_cs;
	}
	cs->store = X509_STORE_new();
	if (!cs->store) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "castore");
		goto free_buckets;
	}
	if (pthread_rwlock_init(&cs->lock, NULL) != 0) {
		rc = fc_errf(errmsg, FC_ENOMEM, "castore: rwlock");
		goto free_store;
	}
	if (pthread_mutex_init(&cs->cache_lock, NULL) != 0) {
		rc = fc_errf(errmsg, FC_ENOMEM, "castore: mutex");
		goto destroy_rwlock;
	}
	atomic_init(&cs->hits, 0);
	atomic_init(&cs->misses, 0);
	*out = cs;
	return FC_OK;

destroy_rwlock:
	pthread_rwlock_destroy(&cs->lock);
free_store:
	X509_STORE_free(cs->store);
free_buckets:
	fc_free(cs->buckets);
free_cs:
	fc_free(cs);
	return rc;
}

void fc_crypto_castore_destroy(fc_crypto_castore *cs)
{
	if (!cs)
		return;
	for (size_t b = 0; b < cs->n_buckets; b++) {
		struct cache_entry *e = cs->buckets[b];
		while (e) {
			struct cache_entry *next = e->next;
			fc_crypto_cert_free(e->cert);
			fc_free(e);
			e = next;
		}
	}
	for (size_t i = 0; i < cs->n_cas; i++) {
		fc_free(cs->cas[i].org);
		fc_crypto_cert_free(cs->cas[i].ca);
	}
	fc_free(cs->cas);
	pthread_mutex_destroy(&cs->cache_lock);
	pthread_rwlock_destroy(&cs->lock);
	X509_STORE_free(cs->store);
	fc_free(cs->buckets);
	fc_free(cs);
}

int fc_crypto_castore_add(fc_crypto_castore *cs, const char *org, const fc_cert *ca, char *errmsg)
{
	int rc = FC_OK;
	char *org_copy = NULL;
	struct ca_entry *grown;

	if (!cs || !ca)
		return fc_errf(errmsg, FC_EINVAL, "castore add: NULL argument");
	rc = fc_crypto__check_name("organisation", org, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "castore add");
	if (!X509_check_ca(ca->x509)) {
		fc_crypto__drain();
		return fc_errf(errmsg, FC_EINVAL, "castore add %s: %s is not a CA certificate", org,
			       ca->subject);
	}
	org_copy = fc_strdup(org);
	if (!org_copy)
		return fc_errf(errmsg, FC_ENOMEM, "castore add %s: out of memory", org);

	pthread_rwlock_wrlock(&cs->lock);
	for (size_t i = 0; i < cs->n_cas; i++) {
		if (memcmp(cs->cas[i].ca->hash, ca->hash, FC_SHA256_LEN) == 0) {
			rc =
			    fc_errf(errmsg, FC_EEXIST, "castore add %s: %s is already the CA of %s",
				    org, ca->subject, cs->cas[i].org);
			goto unlock;
		}
	}
	grown = fc_realloc(cs->cas, (cs->n_cas + 1) * sizeof *cs->cas);
	if (!grown) {
		rc = fc_errf(errmsg, FC_ENOMEM, "castore add %s: out of memory", org);
		goto unlock;
	}
	cs->cas = grown;
	if (X509_STORE_add_cert(cs->store, ca->x509) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "castore add %s", org);
		goto unlock;
	}
	cs->cas[cs->n_cas].org = org_copy;
	cs->cas[cs->n_cas].ca = fc_crypto_cert_ref((fc_cert *)ca);
	cs->n_cas++;
	org_copy = NULL;
unlock:
	pthread_rwlock_unlock(&cs->lock);
	fc_free(org_copy);
	return rc;
}

int fc_crypto_castore_add_pem(fc_crypto_castore *cs, const char *org, const char *path,
			      char *errmsg)
{
	fc_cert *ca = NULL;
	int rc = fc_crypto_cert_load_pem(path, &ca, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "castore add %s", org ? org : "(null)");
	rc = fc_crypto_castore_add(cs, org, ca, errmsg);
	fc_crypto_cert_free(ca);
	return rc;
}

/* Validity period against now; cached verdicts must still honour expiry. */
static int check_times(const fc_cert *cert, char *errmsg)
{
	if (X509_cmp_current_time(X509_get0_notBefore(cert->x509)) >= 0)
		return fc_errf(errmsg, FC_EVERIFY, "certificate %s: certificate is not yet valid",
			       cert->subject);
	if (X509_cmp_current_time(X509_get0_notAfter(cert->x509)) <= 0)
		return fc_errf(errmsg, FC_EVERIFY, "certificate %s: certificate has expired",
			       cert->subject);
	return FC_OK;
}

/* Full validation; caller holds cs->lock for reading. *org_idx on success. */
static int verify_locked(fc_crypto_castore *cs, const fc_cert *cert, long *org_idx, char *errmsg)
{
	int rc = FC_OK;
	X509_STORE_CTX *ctx;
	STACK_OF(X509) * chain;
	X509 *anchor;
	long idx = -1;

	if (X509_check_ca(cert->x509)) {
		rc = fc_errf(errmsg, FC_EVERIFY,
			     "certificate %s: a CA certificate is not an "
			     "identity",
			     cert->subject);
		goto out;
	}
	rc = fc_crypto__check_p256(X509_get0_pubkey(cert->x509), errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, FC_EVERIFY, "certificate %s", cert->subject);
		goto out;
	}
	ctx = X509_STORE_CTX_new();
	if (!ctx) {
		rc = fc_crypto__ossl_err(errmsg, FC_ENOMEM, "verify certificate");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, cs->store, cert->x509, NULL) != 1) {
		rc = fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "verify certificate");
		goto free_ctx;
	}
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		rc = fc_errf(errmsg, FC_EVERIFY, "certificate %s: %s", cert->subject,
			     X509_verify_cert_error_string(err));
		goto free_ctx;
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	anchor = chain ? sk_X509_value(chain, sk_X509_num(chain) - 1) : NULL;
	for (size_t i = 0; anchor && i < cs->n_cas; i++) {
		if (X509_cmp(anchor, cs->cas[i].ca->x509) == 0) {
			idx = (long)i;
			break;
		}
	}
	if (idx < 0) {
		rc = fc_errf(errmsg, FC_EINTERNAL,
			     "certificate %s: verified chain ends at an "
			     "unknown CA",
			     cert->subject);
		goto free_ctx;
	}
	if (strcmp(cert->org, cs->cas[idx].org) != 0) {
		rc = fc_errf(errmsg, FC_EVERIFY,
			     "certificate %s: organisation '%s' does not "
			     "match its CA's organisation '%s'",
			     cert->subject, cert->org, cs->cas[idx].org);
		goto free_ctx;
	}
	*org_idx = idx;
free_ctx:
	X509_STORE_CTX_free(ctx);
out:
	fc_crypto__drain();
	return rc;
}

int fc_crypto_castore_verify(fc_crypto_castore *cs, const fc_cert *cert, const char **org,
			     char *errmsg)
{
	int rc;
	long idx = -1;

	if (!cs || !cert)
		return fc_errf(errmsg, FC_EINVAL, "verify certificate: NULL argument");
	pthread_rwlock_rdlock(&cs->lock);
	rc = verify_locked(cs, cert, &idx, errmsg);
	if (rc == FC_OK && org)
		*org = cs->cas[idx].org;
	pthread_rwlock_unlock(&cs->lock);
	return rc;
}

static size_t bucket_of(const fc_crypto_castore *cs, const uint8_t *hash)
{
	size_t h;
	memcpy(&h, hash, sizeof h);
	return h & (cs->n_buckets - 1);
}

/* Caller holds cache_lock. Returns a new reference or NULL. */
static fc_cert *cache_get(fc_crypto_castore *cs, const uint8_t *hash, long *org_idx)
{
	for (struct cache_entry *e = cs->buckets[bucket_of(cs, hash)]; e; e = e->next) {
		if (memcmp(e->cert->hash, hash, FC_SHA256_LEN) == 0) {
			*org_idx = e->org_idx;
			return fc_crypto_cert_ref(e->cert);
		}
	}
	return NULL;
}

/* Caller holds cache_lock. Drops one entry, scanning buckets round-robin, so
 * the cache stays within its capacity without an LRU list. */
static void cache_evict_one(fc_crypto_castore *cs)
{
	for (size_t n = 0; n < cs->n_buckets; n++) {
		size_t b = cs->evict_cursor;
		cs->evict_cursor = (cs->evict_cursor + 1) & (cs->n_buckets - 1);
		struct cache_entry *e = cs->buckets[b];
		if (e) {
			cs->buckets[b] = e->next;
			fc_crypto_cert_free(e->cert);
			fc_free(e);
			cs->n_cached--;
			return;
		}
	}
}

/* Inserts cert (takes a reference) with its verdict, or updates the verdict
 * of an entry that another thread inserted meanwhile. Best effort: out of
 * memory just means no caching. Caller holds cache_lock. */
static void cache_put(fc_crypto_castore *cs, fc_cert *cert, long org_idx)
{
	size_t b = bucket_of(cs, cert->hash);
	for (struct cache_entry *e = cs->buckets[b]; e; e = e->next) {
		if (memcmp(e->cert->hash, cert->hash, FC_SHA256_LEN) == 0) {
			if (org_idx >= 0)
				e->org_idx = org_idx;
			return;
		}
	}
	struct cache_entry *e = fc_malloc(sizeof *e);
	if (!e)
		return;
	if (cs->n_cached >= cs->cache_cap)
		cache_evict_one(cs);
	e->cert = fc_crypto_cert_ref(cert);
	e->org_idx = org_idx;
	e->next = cs->buckets[b];
	cs->buckets[b] = e;
	cs->n_cached++;
}

int fc_crypto_castore_verify_der(fc_crypto_castore *cs, const uint8_t *der, size_t len,
				 fc_cert **cert_out, const char **org, char *errmsg)
{
	int rc;
	uint8_t hash[FC_SHA256_LEN];
	fc_cert *cert = NULL;
	long idx = -1;

	if (cert_out)
		*cert_out = NULL;
	if (!cs || (!der && len))
		return fc_errf(errmsg, FC_EINVAL, "verify certificate: NULL argument");
	if (len == 0)
		return fc_errf(errmsg, FC_EVERIFY, "verify certificate: empty certificate");
	rc = fc_sha256(der, len, hash, errmsg);
	if (rc != FC_OK)
		return rc;

	pthread_mutex_lock(&cs->cache_lock);
	cert = cache_get(cs, hash, &idx);
	pthread_mutex_unlock(&cs->cache_lock);

	if (cert) {
		atomic_fetch_add(&cs->hits, 1);
	} else {
		atomic_fetch_add(&cs->misses, 1);
		rc = fc_crypto_cert_from_der(der, len, &cert, errmsg);
		if (rc == FC_ECRYPTO)
			rc = FC_EVERIFY; /* the input is bad, not our OpenSSL */
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "verify certificate");
	}

	pthread_rwlock_rdlock(&cs->lock);
	if (idx >= 0) {
		/* Chain verified before: only time can have changed. */
		rc = check_times(cert, errmsg);
	} else {
		rc = verify_locked(cs, cert, &idx, errmsg);
	}
	if (rc == FC_OK && org)
		*org = cs->cas[idx].org;
	pthread_rwlock_unlock(&cs->lock);

	/* Failed verdicts are not cached (a CA may be added later), but the
	 * parsed certificate is. */
	pthread_mutex_lock(&cs->cache_lock);
	cache_put(cs, cert, rc == FC_OK ? idx : -1);
	pthread_mutex_unlock(&cs->cache_lock);

	if (rc == FC_OK && cert_out)
		*cert_out = cert;
	else
		fc_crypto_cert_free(cert);
	return rc;
}

void fc_crypto_castore_cache_stats(fc_crypto_castore *cs, uint64_t *hits, uint64_t *misses)
{
	if (hits)
		*hits = cs ? atomic_load(&cs->hits) : 0;
	if (misses)
		*misses = cs ? atomic_load(&cs->misses) : 0;
}
