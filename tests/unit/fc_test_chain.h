/* fc_test_chain.h - a tiny signed chain for validation tests and benches
 * (header-only; every function static inline, so unused ones cost nothing).
 *
 *   struct fct_pki pki;     fct_pki_init(&pki, err)     Org1, Org2 + a rogue CA
 *   struct fct_state st;    fct_state_init(&st, cap, pol)  committed versions,
 *                                                           committed tx ids
 *   struct fct_env *e = fct_env_new();  fct_env_init(e, client, contract, seq);
 *   fct_env_add_read / fct_env_add_write (any order; fct_env_sort sorts),
 *   fct_env_sign_std(e, &pki)           client + Org1 and Org2 compute
 *   struct fct_block blk;  fct_block_init(&blk, height, envs, n, err)
 *
 * The PKI: CAs for Org1 and Org2 trusted by pki.cs; a rogue CA that also
 * calls itself "Org2" but is never added to the store. Each org has a
 * compute identity (OU "compute") and a client identity (OU "client").
 * Test-side memory uses plain malloc, never fc_malloc, so that the
 * fc_mem_fail_nth hook only reaches the code under test.
 *
 * An fct_env points into itself: allocate it with fct_env_new (or keep it in
 * place) and do not copy it. A block borrows its envelopes.
 */
#ifndef FC_TEST_CHAIN_H
#define FC_TEST_CHAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_validate.h"
#include "flexchain.pb-c.h"

enum { FCT_ORG1 = 0, FCT_ORG2 = 1, FCT_ROGUE = 2, FCT_NORGS = 3 };

#define FCT_CONTRACT "smallbank"
#define FCT_POLICY "AND(Org1,Org2)"

struct fct_id {
	fc_key *key;
	fc_cert *cert;
};

struct fct_pki {
	fc_key *ca_key[FCT_NORGS];
	fc_cert *ca[FCT_NORGS];
	struct fct_id compute[FCT_NORGS], client[FCT_NORGS];
	fc_crypto_castore *cs; /* Org1 and Org2 only */
	struct fc_policy *pol; /* FCT_POLICY */
};

static inline int fct_issue(const fc_cert *ca, const fc_key *ca_key, const char *org,
			    const char *ou, const char *cn, struct fct_id *out, char *err)
{
	struct fc_crypto_issue_opts o = {.org = org, .cn = cn, .ou = ou};
	int rc = fc_crypto_key_generate(&out->key, err);
	if (rc == FC_OK)
		rc = fc_crypto_cert_issue(ca, ca_key, out->key, &o, &out->cert, err);
	return rc;
}

static inline void fct_pki_destroy(struct fct_pki *p)
{
	fc_policy_free(p->pol);
	fc_crypto_castore_destroy(p->cs);
	for (int i = 0; i < FCT_NORGS; i++) {
		fc_crypto_cert_free(p->compute[i].cert);
		fc_crypto_key_free(p->compute[i].key);
		fc_crypto_cert_free(p->client[i].cert);
		fc_crypto_key_free(p->client[i].key);
		fc_crypto_cert_free(p->ca[i]);
		fc_crypto_key_free(p->ca_key[i]);
	}
	memset(p, 0, sizeof *p);
}

static inline int fct_pki_init(struct fct_pki *p, char *err)
{
	/* the rogue CA claims to be Org2: only the trust store tells them apart */
	static const char *const orgs[FCT_NORGS] = {"Org1", "Org2", "Org2"};
	static const char *const names[FCT_NORGS] = {"org1", "org2", "rogue"};
	char cn[64];
	int rc = FC_OK;
	memset(p, 0, sizeof *p);
	for (int i = 0; i < FCT_NORGS && rc == FC_OK; i++) {
		rc = fc_crypto_ca_create(orgs[i], 0, &p->ca_key[i], &p->ca[i], err);
		snprintf(cn, sizeof cn, "compute0.%s", names[i]);
		if (rc == FC_OK)
			rc = fct_issue(p->ca[i], p->ca_key[i], orgs[i], FC_IDENTITY_ROLE_COMPUTE, cn,
				       &p->compute[i], err);
		snprintf(cn, sizeof cn, "client.%s", names[i]);
		if (rc == FC_OK)
			rc = fct_issue(p->ca[i], p->ca_key[i], orgs[i], FC_IDENTITY_ROLE_CLIENT, cn,
				       &p->client[i], err);
	}
	if (rc == FC_OK)
		rc = fc_crypto_castore_create(0, &p->cs, err);
	if (rc == FC_OK)
		rc = fc_crypto_castore_add(p->cs, "Org1", p->ca[FCT_ORG1], err);
	if (rc == FC_OK)
		rc = fc_crypto_castore_add(p->cs, "Org2", p->ca[FCT_ORG2], err);
	if (rc == FC_OK)
		rc = fc_policy_parse(FCT_POLICY, &p->pol, err);
	if (rc != FC_OK)
		fct_pki_destroy(p);
	return rc;
}

/* A fresh store trusting Org1 and Org2 (cold certificate cache). */
static inline int fct_castore_new(const struct fct_pki *p, fc_crypto_castore **out, char *err)
{
	int rc = fc_crypto_castore_create(0, out, err);
	if (rc == FC_OK)
		rc = fc_crypto_castore_add(*out, "Org1", p->ca[FCT_ORG1], err);
	if (rc == FC_OK)
		rc = fc_crypto_castore_add(*out, "Org2", p->ca[FCT_ORG2], err);
	if (rc != FC_OK) {
		fc_crypto_castore_destroy(*out);
		*out = NULL;
	}
	return rc;
}

/* ------------------------------------------------------ committed state */

#define FCT_KEY_MAX 32

struct fct_state_ent {
	uint8_t key[FCT_KEY_MAX];
	size_t len;
	uint64_t version;
	bool used;
};

struct fct_state {
	struct fct_state_ent *e;
	size_t cap; /* power of two */
	char (*txids)[FC_TXID_HEX_LEN + 1];
	size_t n_txids, cap_txids;
	const struct fc_policy *pol; /* for FCT_CONTRACT */
	int fail_get;                /* get_versions returns this when set */
	unsigned long get_calls, get_keys;
};

static inline uint64_t fct_fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* cap: at least twice the number of keys ever set. */
static inline int fct_state_init(struct fct_state *s, size_t cap, const struct fc_policy *pol)
{
	memset(s, 0, sizeof *s);
	s->cap = 16;
	while (s->cap < cap)
		s->cap <<= 1;
	s->e = calloc(s->cap, sizeof *s->e);
	s->pol = pol;
	return s->e ? FC_OK : FC_ENOMEM;
}

static inline void fct_state_destroy(struct fct_state *s)
{
	free(s->e);
	free(s->txids);
	memset(s, 0, sizeof *s);
}

/* Forgets every key and tx id. */
static inline void fct_state_clear(struct fct_state *s)
{
	memset(s->e, 0, s->cap * sizeof *s->e);
	s->n_txids = 0;
	s->fail_get = 0;
}

static inline struct fct_state_ent *fct_state_find(struct fct_state *s, const uint8_t *k, size_t n,
						   bool insert)
{
	if (n > FCT_KEY_MAX)
		abort();
	size_t mask = s->cap - 1;
	for (size_t i = fct_fnv(k, n) & mask, probes = 0; probes < s->cap;
	     i = (i + 1) & mask, probes++) {
		struct fct_state_ent *e = &s->e[i];
		if (!e->used) {
			if (!insert)
				return NULL;
			e->used = true;
			if (n)
				memcpy(e->key, k, n);
			e->len = n;
			e->version = 0;
			return e;
		}
		if (e->len == n && (n == 0 || memcmp(e->key, k, n) == 0))
			return e;
	}
	abort(); /* table full: the test sized it wrong */
}

/* version 0 = absent. */
static inline void fct_state_set(struct fct_state *s, const char *key, uint64_t version)
{
	fct_state_find(s, (const uint8_t *)key, strlen(key), true)->version = version;
}

static inline uint64_t fct_state_get(struct fct_state *s, const uint8_t *k, size_t n)
{
	struct fct_state_ent *e = fct_state_find(s, k, n, false);
	return e ? e->version : 0;
}

static inline void fct_state_add_txid(struct fct_state *s, const char *id)
{
	if (s->n_txids == s->cap_txids) {
		s->cap_txids = s->cap_txids ? 2 * s->cap_txids : 16;
		s->txids = realloc(s->txids, s->cap_txids * sizeof *s->txids);
		if (!s->txids)
			abort();
	}
	snprintf(s->txids[s->n_txids++], FC_TXID_HEX_LEN + 1, "%s", id);
}

static inline int fct_get_versions(void *ud, const ProtobufCBinaryData *keys, size_t n,
				   uint64_t *versions, char *errmsg)
{
	struct fct_state *s = ud;
	s->get_calls++;
	s->get_keys += n;
	if (s->fail_get)
		return fc_errf(errmsg, s->fail_get, "test state: injected failure");
	for (size_t i = 0; i < n; i++)
		versions[i] = fct_state_get(s, keys[i].data, keys[i].len);
	return FC_OK;
}

static inline int fct_txids_committed(void *ud, const char *const *ids, size_t n, bool *seen,
				      char *errmsg)
{
	struct fct_state *s = ud;
	(void)errmsg;
	for (size_t i = 0; i < n; i++) {
		seen[i] = false;
		for (size_t j = 0; j < s->n_txids && !seen[i]; j++)
			seen[i] = strcmp(ids[i], s->txids[j]) == 0;
	}
	return FC_OK;
}

static inline const struct fc_policy *fct_policy_for(void *ud, const char *contract)
{
	struct fct_state *s = ud;
	return contract && strcmp(contract, FCT_CONTRACT) == 0 ? s->pol : NULL;
}

static inline struct fc_validate_state_ops fct_state_ops(struct fct_state *s)
{
	struct fc_validate_state_ops ops = {.get_versions = fct_get_versions,
					    .txids_committed = fct_txids_committed,
					    .policy_for = fct_policy_for,
					    .ud = s};
	return ops;
}

/* ------------------------------------------------------------ envelopes */

#define FCT_MAX_RW 8
#define FCT_MAX_ENDO 4

struct fct_env {
	Flexchain__Envelope env;
	Flexchain__Proposal prop;
	Flexchain__RWSet rw;
	Flexchain__KVRead rd[FCT_MAX_RW], *rdp[FCT_MAX_RW];
	Flexchain__KVWrite wr[FCT_MAX_RW], *wrp[FCT_MAX_RW];
	char rkey[FCT_MAX_RW][FCT_KEY_MAX], wkey[FCT_MAX_RW][FCT_KEY_MAX];
	char wval[FCT_MAX_RW][FCT_KEY_MAX];
	Flexchain__Endorsement endo[FCT_MAX_ENDO], *endop[FCT_MAX_ENDO];
	uint8_t esig[FCT_MAX_ENDO][FC_CRYPTO_SIG_MAX];
	uint8_t csig[FC_CRYPTO_SIG_MAX];
	uint8_t nonce[16];
	char txid[FC_TXID_HEX_LEN + 1];
	char contract[32];
};

static inline struct fct_env *fct_env_new(void)
{
	struct fct_env *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	return e;
}

/* Recomputes the tx id from the nonce and creator. */
static inline void fct_env_fix_txid(struct fct_env *e)
{
	if (fc_canon_tx_id_of(&e->prop, e->txid) != FC_OK)
		abort();
}

/* A normal transaction of contract by client, with nonce derived from seq
 * (so the same seq and client give the same tx id), no reads, writes or
 * signatures yet. */
static inline void fct_env_init(struct fct_env *e, const fc_cert *client, const char *contract,
				uint64_t seq)
{
	memset(e, 0, sizeof *e);
	for (int i = 0; i < 8; i++)
		e->nonce[i] = (uint8_t)(seq >> (56 - 8 * i));
	memset(e->nonce + 8, 0xa5, 8);
	snprintf(e->contract, sizeof e->contract, "%s", contract);
	flexchain__proposal__init(&e->prop);
	e->prop.tx_id = e->txid;
	e->prop.contract = e->contract;
	e->prop.function = "transfer";
	e->prop.nonce = (ProtobufCBinaryData){sizeof e->nonce, e->nonce};
	size_t len;
	const uint8_t *der = fc_crypto_cert_der(client, &len);
	e->prop.creator = (ProtobufCBinaryData){len, (uint8_t *)der};
	e->prop.timestamp_ms = 1700000000000ull + seq;
	fct_env_fix_txid(e);
	flexchain__rwset__init(&e->rw);
	e->rw.reads = e->rdp;
	e->rw.writes = e->wrp;
	for (int i = 0; i < FCT_MAX_RW; i++) {
		e->rdp[i] = &e->rd[i];
		e->wrp[i] = &e->wr[i];
	}
	for (int i = 0; i < FCT_MAX_ENDO; i++)
		e->endop[i] = &e->endo[i];
	flexchain__envelope__init(&e->env);
	e->env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	e->env.proposal = &e->prop;
	e->env.rwset = &e->rw;
	e->env.response = (ProtobufCBinaryData){2, (uint8_t *)"ok"};
	e->env.endorsements = e->endop;
}

static inline void fct_env_add_read(struct fct_env *e, const char *key, uint64_t version)
{
	size_t i = e->rw.n_reads++;
	if (i >= FCT_MAX_RW || strlen(key) >= FCT_KEY_MAX)
		abort();
	snprintf(e->rkey[i], FCT_KEY_MAX, "%s", key);
	flexchain__kvread__init(&e->rd[i]);
	e->rd[i].key = (ProtobufCBinaryData){strlen(key), (uint8_t *)e->rkey[i]};
	e->rd[i].version = version;
}

static inline void fct_env_add_write(struct fct_env *e, const char *key, const char *value,
				     bool is_delete)
{
	size_t i = e->rw.n_writes++;
	if (i >= FCT_MAX_RW || strlen(key) >= FCT_KEY_MAX)
		abort();
	snprintf(e->wkey[i], FCT_KEY_MAX, "%s", key);
	snprintf(e->wval[i], FCT_KEY_MAX, "%s", is_delete ? "" : value);
	flexchain__kvwrite__init(&e->wr[i]);
	e->wr[i].key = (ProtobufCBinaryData){strlen(key), (uint8_t *)e->wkey[i]};
	e->wr[i].value = (ProtobufCBinaryData){strlen(e->wval[i]), (uint8_t *)e->wval[i]};
	e->wr[i].is_delete = is_delete;
}

static inline int fct_key_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->data, b->data, n) : 0;
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Sorts reads and writes by key, as fc_wire_check_rwset wants. */
static inline void fct_env_sort(struct fct_env *e)
{
	for (size_t i = 1; i < e->rw.n_reads; i++)
		for (size_t j = i; j > 0 && fct_key_cmp(&e->rd[j - 1].key, &e->rd[j].key) > 0; j--) {
			Flexchain__KVRead t = e->rd[j];
			e->rd[j] = e->rd[j - 1];
			e->rd[j - 1] = t;
		}
	for (size_t i = 1; i < e->rw.n_writes; i++)
		for (size_t j = i; j > 0 && fct_key_cmp(&e->wr[j - 1].key, &e->wr[j].key) > 0; j--) {
			Flexchain__KVWrite t = e->wr[j];
			e->wr[j] = e->wr[j - 1];
			e->wr[j - 1] = t;
		}
}

static inline int fct_sign_into(const fc_key *key, const uint8_t digest[32], uint8_t *buf,
				size_t *len, char *err)
{
	uint8_t *sig = NULL;
	int rc = fc_crypto_sign_digest(key, digest, &sig, len, err);
	if (rc == FC_OK) {
		memcpy(buf, sig, *len);
		fc_free(sig);
	}
	return rc;
}

/* Signs the proposal (client signature) with key. */
static inline int fct_env_sign_client(struct fct_env *e, const fc_key *key, char *err)
{
	uint8_t d[32];
	int rc = fc_hash_client_sig(&e->env, d);
	if (rc == FC_OK)
		rc = fct_sign_into(key, d, e->csig, &e->env.client_signature.len, err);
	e->env.client_signature.data = e->csig;
	return rc;
}

/* Appends an endorsement naming cert, signed with key (which need not be
 * cert's: forgeries are made that way). */
static inline int fct_env_endorse(struct fct_env *e, const fc_cert *cert, const fc_key *key,
				  char *err)
{
	uint8_t d[32];
	size_t i = e->env.n_endorsements;
	if (i >= FCT_MAX_ENDO)
		abort();
	int rc = fc_hash_endorsement_of(&e->env, d);
	flexchain__endorsement__init(&e->endo[i]);
	size_t len;
	const uint8_t *der = fc_crypto_cert_der(cert, &len);
	e->endo[i].endorser = (ProtobufCBinaryData){len, (uint8_t *)der};
	if (rc == FC_OK)
		rc = fct_sign_into(key, d, e->esig[i], &e->endo[i].signature.len, err);
	e->endo[i].signature.data = e->esig[i];
	e->env.n_endorsements = i + 1;
	return rc;
}

/* The client signature by the creator's org client (org: FCT_ORG1/2) and
 * endorsements by Org1 and Org2 compute: a fully valid transaction. Drops
 * previous endorsements. */
static inline int fct_env_sign_std(struct fct_env *e, const struct fct_pki *p, int org, char *err)
{
	e->env.n_endorsements = 0;
	int rc = fct_env_sign_client(e, p->client[org].key, err);
	if (rc == FC_OK)
		rc = fct_env_endorse(e, p->compute[FCT_ORG1].cert, p->compute[FCT_ORG1].key, err);
	if (rc == FC_OK)
		rc = fct_env_endorse(e, p->compute[FCT_ORG2].cert, p->compute[FCT_ORG2].key, err);
	return rc;
}

/* ---------------------------------------------------------------- blocks */

struct fct_block {
	Flexchain__Block b;
	Flexchain__BlockHeader h;
	uint8_t prev[32], data[32], ghash[32];
	Flexchain__Envelope **envp;
	Flexchain__DependencyGraph *g; /* fc_depgraph_build's */
};

static inline void fct_block_release(struct fct_block *k)
{
	fc_depgraph_free(k->g);
	free(k->envp);
	memset(k, 0, sizeof *k);
}

/* A block at height over envs[0..n) (an entry may be NULL: no envelope),
 * with the graph from fc_depgraph_build and real data and graph hashes.
 * Borrows the envelopes; must not be moved after init. */
static inline int fct_block_init_raw(struct fct_block *k, uint64_t height,
				     Flexchain__Envelope *const *envs, size_t n, char *err)
{
	memset(k, 0, sizeof *k);
	k->envp = calloc(n ? n : 1, sizeof *k->envp);
	if (!k->envp)
		abort();
	for (size_t i = 0; i < n; i++)
		k->envp[i] = envs[i];
	int rc = fc_depgraph_build(k->envp, n, &k->g, err);
	if (rc != FC_OK) {
		fct_block_release(k);
		return rc;
	}
	memset(k->prev, height ? 0x01 : 0, sizeof k->prev);
	flexchain__block_header__init(&k->h);
	k->h.height = height;
	k->h.prev_hash = (ProtobufCBinaryData){32, k->prev};
	k->h.data_hash = (ProtobufCBinaryData){32, k->data};
	k->h.graph_hash = (ProtobufCBinaryData){32, k->ghash};
	k->h.timestamp_ms = 1700000000000ull + height;
	k->h.orderer = (ProtobufCBinaryData){7, (uint8_t *)"orderer"};
	flexchain__block__init(&k->b);
	k->b.header = &k->h;
	k->b.n_envelopes = n;
	k->b.envelopes = k->envp;
	k->b.graph = k->g;
	rc = fc_hash_block_data(&k->b, k->data);
	if (rc == FC_OK)
		rc = fc_hash_graph(k->g, k->ghash);
	if (rc != FC_OK)
		fct_block_release(k);
	return rc;
}

static inline int fct_block_init(struct fct_block *k, uint64_t height, struct fct_env *const *envs,
				 size_t n, char *err)
{
	Flexchain__Envelope **tmp = calloc(n ? n : 1, sizeof *tmp);
	if (!tmp)
		abort();
	for (size_t i = 0; i < n; i++)
		tmp[i] = envs[i] ? &envs[i]->env : NULL;
	int rc = fct_block_init_raw(k, height, tmp, n, err);
	free(tmp);
	return rc;
}

#endif
