/* orderer_fixture.h - test helpers for the orderer's unit tests (header-only,
 * every function static): a two-organisation PKI made in memory and
 * envelopes signed by a real client identity.
 *
 *   struct ord_pki p;
 *   ord_pki_init(&p);                  // aborts the test on failure
 *   Flexchain__Envelope *e = ord_env_new(&p, 7, p.client_key, p.client_der,
 *                                        p.client_der_len);
 *   ...
 *   ord_env_free(e);
 *   ord_pki_destroy(&p);
 */
#ifndef FC_ORDERER_FIXTURE_H
#define FC_ORDERER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "flexchain.pb-c.h"

struct ord_pki {
	fc_key *ca_key, *ca2_key, *rogue_ca_key;
	fc_cert *ca, *ca2, *rogue_ca;
	fc_key *client_key, *orderer_key, *compute_key, *rogue_key;
	fc_cert *client, *orderer, *compute, *rogue;
	const uint8_t *client_der, *orderer_der, *compute_der, *rogue_der;
	size_t client_der_len, orderer_der_len, compute_der_len, rogue_der_len;
	fc_crypto_castore *cs; /* trusts Org1 and Org2, not Rogue */
};

static inline void ord_fixture_check(int rc, const char *what, const char *errmsg)
{
	if (rc != FC_OK) {
		fprintf(stderr, "fixture: %s: %s\n", what, errmsg);
		abort();
	}
}

static inline void ord_issue(fc_cert *ca, fc_key *ca_key, const char *org, const char *cn,
			     const char *ou, fc_key **key, fc_cert **cert)
{
	struct fc_crypto_issue_opts o = {.org = org, .cn = cn, .ou = ou};
	char err[FC_ERRMSG_LEN] = "";

	ord_fixture_check(fc_crypto_key_generate(key, err), "key", err);
	ord_fixture_check(fc_crypto_cert_issue(ca, ca_key, *key, &o, cert, err), "issue", err);
}

static inline void ord_pki_init(struct ord_pki *p)
{
	char err[FC_ERRMSG_LEN] = "";

	memset(p, 0, sizeof *p);
	ord_fixture_check(fc_crypto_ca_create("Org1", 0, &p->ca_key, &p->ca, err), "ca", err);
	ord_fixture_check(fc_crypto_ca_create("Org2", 0, &p->ca2_key, &p->ca2, err), "ca2", err);
	ord_fixture_check(fc_crypto_ca_create("Rogue", 0, &p->rogue_ca_key, &p->rogue_ca, err),
			  "rogue ca", err);
	ord_issue(p->ca, p->ca_key, "Org1", "client.Org1", "client", &p->client_key, &p->client);
	ord_issue(p->ca2, p->ca2_key, "Org2", "orderer1", "orderer", &p->orderer_key, &p->orderer);
	ord_issue(p->ca, p->ca_key, "Org1", "compute0", "compute", &p->compute_key, &p->compute);
	ord_issue(p->rogue_ca, p->rogue_ca_key, "Rogue", "mallory", "client", &p->rogue_key,
		  &p->rogue);
	p->client_der = fc_crypto_cert_der(p->client, &p->client_der_len);
	p->orderer_der = fc_crypto_cert_der(p->orderer, &p->orderer_der_len);
	p->compute_der = fc_crypto_cert_der(p->compute, &p->compute_der_len);
	p->rogue_der = fc_crypto_cert_der(p->rogue, &p->rogue_der_len);
	ord_fixture_check(fc_crypto_castore_create(0, &p->cs, err), "castore", err);
	ord_fixture_check(fc_crypto_castore_add(p->cs, "Org1", p->ca, err), "add", err);
	ord_fixture_check(fc_crypto_castore_add(p->cs, "Org2", p->ca2, err), "add", err);
}

static inline void ord_pki_destroy(struct ord_pki *p)
{
	fc_crypto_castore_destroy(p->cs);
	fc_key *keys[] = {p->ca_key,	  p->ca2_key,	  p->rogue_ca_key, p->client_key,
			  p->orderer_key, p->compute_key, p->rogue_key};
	fc_cert *certs[] = {p->ca,	p->ca2,	    p->rogue_ca, p->client,
			    p->orderer, p->compute, p->rogue};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		fc_crypto_key_free(keys[i]);
	for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++)
		fc_crypto_cert_free(certs[i]);
}

/* A heap envelope (every field fc_malloc'd, freed with ord_env_free) for
 * transaction number i: 2 reads and 2 writes over keys derived from i,
 * a random nonce, creator = cert_der, signed with key. */
static inline Flexchain__Envelope *ord_env_new(uint64_t i, const fc_key *key,
					       const uint8_t *cert_der, size_t cert_len)
{
	Flexchain__Envelope *e = fc_calloc(1, sizeof *e);
	Flexchain__Proposal *p = fc_calloc(1, sizeof *p);
	Flexchain__RWSet *rw = fc_calloc(1, sizeof *rw);
	uint8_t digest[FC_HASH_LEN], *sig = NULL;
	size_t siglen = 0;
	char err[FC_ERRMSG_LEN] = "";

	if (!e || !p || !rw)
		abort();
	flexchain__envelope__init(e);
	flexchain__proposal__init(p);
	flexchain__rwset__init(rw);
	p->contract = fc_strdup("kv");
	p->function = fc_strdup("put");
	p->nonce.len = 16;
	p->nonce.data = fc_malloc(16);
	ord_fixture_check(fc_crypto_random(p->nonce.data, 16, err), "nonce", err);
	p->creator.len = cert_len;
	p->creator.data = fc_memdup(cert_der, cert_len);
	p->timestamp_ms = 1700000000000ull + i;
	p->tx_id = fc_malloc(FC_TXID_HEX_LEN + 1);
	ord_fixture_check(fc_canon_tx_id_of(p, p->tx_id), "tx id", "");
	rw->n_reads = 2;
	rw->reads = fc_calloc(2, sizeof *rw->reads);
	rw->n_writes = 2;
	rw->writes = fc_calloc(2, sizeof *rw->writes);
	for (int k = 0; k < 2; k++) {
		char key_r[32], key_w[32];
		snprintf(key_r, sizeof key_r, "r%d-%05llu", k, (unsigned long long)(i % 10));
		snprintf(key_w, sizeof key_w, "w%d-%05llu", k, (unsigned long long)(i % 10));
		rw->reads[k] = fc_calloc(1, sizeof **rw->reads);
		flexchain__kvread__init(rw->reads[k]);
		rw->reads[k]->key.len = strlen(key_r);
		rw->reads[k]->key.data = (uint8_t *)fc_strdup(key_r);
		rw->writes[k] = fc_calloc(1, sizeof **rw->writes);
		flexchain__kvwrite__init(rw->writes[k]);
		rw->writes[k]->key.len = strlen(key_w);
		rw->writes[k]->key.data = (uint8_t *)fc_strdup(key_w);
		rw->writes[k]->value.len = 1;
		rw->writes[k]->value.data = (uint8_t *)fc_strdup("v");
	}
	e->type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	e->proposal = p;
	e->rwset = rw;
	ord_fixture_check(fc_hash_client_sig(e, digest), "client digest", "");
	ord_fixture_check(fc_crypto_sign_digest(key, digest, &sig, &siglen, err), "sign", err);
	e->client_signature.data = sig;
	e->client_signature.len = siglen;
	return e;
}

static inline void ord_env_free(Flexchain__Envelope *e)
{
	if (!e)
		return;
	if (e->proposal) {
		fc_free(e->proposal->contract);
		fc_free(e->proposal->function);
		fc_free(e->proposal->nonce.data);
		fc_free(e->proposal->creator.data);
		fc_free(e->proposal->tx_id);
		fc_free(e->proposal);
	}
	if (e->rwset) {
		for (size_t k = 0; k < e->rwset->n_reads; k++) {
			fc_free(e->rwset->reads[k]->key.data);
			fc_free(e->rwset->reads[k]);
		}
		for (size_t k = 0; k < e->rwset->n_writes; k++) {
			fc_free(e->rwset->writes[k]->key.data);
			fc_free(e->rwset->writes[k]->value.data);
			fc_free(e->rwset->writes[k]);
		}
		fc_free(e->rwset->reads);
		fc_free(e->rwset->writes);
		fc_free(e->rwset);
	}
	fc_free(e->client_signature.data);
	fc_free(e);
}

/* Re-signs e after a test changed it (so that only the change is wrong). */
static inline void ord_env_resign(Flexchain__Envelope *e, const fc_key *key)
{
	uint8_t digest[FC_HASH_LEN], *sig = NULL;
	size_t siglen = 0;
	char err[FC_ERRMSG_LEN] = "";

	ord_fixture_check(fc_hash_client_sig(e, digest), "client digest", "");
	ord_fixture_check(fc_crypto_sign_digest(key, digest, &sig, &siglen, err), "sign", err);
	fc_free(e->client_signature.data);
	e->client_signature.data = sig;
	e->client_signature.len = siglen;
}

#endif
