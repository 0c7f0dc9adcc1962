/* signed_chain.h - really signed blocks for the integration test tools
 * (tests/integration/storage_feed.c, tests/integration/memory_driver.c).
 *
 * A struct sc_chain holds the identities that `flexchain crypto generate`
 * made for a configuration: the first orderer (signs headers and
 * certificates), the first organisation's client (signs envelopes), one
 * compute server of each organisation (endorses) and the first three compute
 * servers (the verdict committee), plus the head the next block chains to.
 * Messages are built with storage-pool/ledger_fixture.h (lf_zalloc'ed trees,
 * released with lf_free_msg); the helpers below free what they say.
 *
 * Test-only code: every failure prints a message and exits 1.
 */
#ifndef FC_SIGNED_CHAIN_H
#define FC_SIGNED_CHAIN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_validate.h"

#include "../../storage-pool/ledger_fixture.h"

#define SC_MAX_ORGS 8
#define SC_COMMITTEE 3

struct sc_ident {
	fc_cert *cert; /* owned */
	fc_key *key;   /* owned */
	const char *id;
};

struct sc_chain {
	struct sc_ident orderer, client;
	struct sc_ident endorser[SC_MAX_ORGS]; /* one compute server per org */
	size_t n_endorsers;
	struct sc_ident committee[SC_COMMITTEE];
	size_t n_committee;
	char client_id[FC_CONFIG_NAME_MAX + 16];
	uint64_t next;		   /* height of the next block */
	uint8_t head[FC_HASH_LEN]; /* hash of block next - 1 */
};

/* A block built by sc_block_build; sc_block_free releases it. */
struct sc_built {
	Flexchain__Block *b;
	Flexchain__DependencyGraph *g; /* fc_depgraph_free */
	uint8_t hash[FC_HASH_LEN];
};

static inline void sc_die(const char *what, int rc, const char *em)
{
	fprintf(stderr, "signed chain: %s: %s (%s)\n", what, em ? em : "", fc_strerror(rc));
	exit(1);
}

static inline uint64_t sc_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static inline void sc_pause(void)
{
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static inline char *sc_dupstr(const char *s)
{
	char *p = lf_zalloc(strlen(s) + 1);
	strcpy(p, s);
	return p;
}

static inline void sc_ident_load(const struct fc_config *cfg, struct sc_ident *id,
				 const char *org, const char *role, const char *name)
{
	char em[FC_ERRMSG_LEN];
	int rc = fc_identity_load(cfg->crypto_dir, org, role, name, &id->cert, &id->key, em);
	if (rc != FC_OK)
		sc_die("load identity", rc, em);
	id->id = name;
}

static inline void sc_ident_free(struct sc_ident *id)
{
	fc_crypto_cert_free(id->cert);
	fc_crypto_key_free(id->key);
	id->cert = NULL;
	id->key = NULL;
}

/* Copy of id's certificate (DER), lf_zalloc'ed. */
static inline ProtobufCBinaryData sc_der(const struct sc_ident *id)
{
	size_t len;
	const uint8_t *d = fc_crypto_cert_der(id->cert, &len);
	return lf_copy(d, len);
}

/* id's signature over digest (fc_malloc'ed, as lf_free_msg expects). */
static inline ProtobufCBinaryData sc_sign(const struct sc_ident *id,
					  const uint8_t digest[FC_HASH_LEN])
{
	ProtobufCBinaryData b;
	char em[FC_ERRMSG_LEN];
	int rc = fc_crypto_sign_digest(id->key, digest, &b.data, &b.len, em);
	if (rc != FC_OK)
		sc_die("sign", rc, em);
	return b;
}

/* Loads every identity of ch from cfg (borrowed: it must outlive ch). */
static inline void sc_chain_load(struct sc_chain *ch, const struct fc_config *cfg)
{
	const struct fc_config_node *ord = &cfg->orderers[0];
	char em[FC_ERRMSG_LEN];
	int rc;

	sc_ident_load(cfg, &ch->orderer, ord->org, FC_IDENTITY_ROLE_ORDERER, ord->id);
	rc = fc_identity_client_id(cfg->orgs[0].name, ch->client_id, sizeof ch->client_id, em);
	if (rc != FC_OK)
		sc_die("client id", rc, em);
	sc_ident_load(cfg, &ch->client, cfg->orgs[0].name, FC_IDENTITY_ROLE_CLIENT,
		      ch->client_id);
	for (size_t o = 0; o < cfg->n_orgs && o < SC_MAX_ORGS; o++)
		for (size_t i = 0; i < cfg->n_compute; i++)
			if (cfg->compute[i].org_index == o) {
				sc_ident_load(cfg, &ch->endorser[ch->n_endorsers++],
					      cfg->compute[i].org, FC_IDENTITY_ROLE_COMPUTE,
					      cfg->compute[i].id);
				break;
			}
	for (size_t i = 0; i < cfg->n_compute && ch->n_committee < SC_COMMITTEE; i++)
		sc_ident_load(cfg, &ch->committee[ch->n_committee++], cfg->compute[i].org,
			      FC_IDENTITY_ROLE_COMPUTE, cfg->compute[i].id);
	if (ch->n_endorsers == 0 || ch->n_committee == 0)
		sc_die("config", FC_ECONFIG, "need compute servers for endorsements");
}

/* Frees the identities sc_chain_load loaded (none loaded: a no-op). */
static inline void sc_chain_free(struct sc_chain *ch)
{
	sc_ident_free(&ch->orderer);
	sc_ident_free(&ch->client);
	for (size_t i = 0; i < ch->n_endorsers; i++)
		sc_ident_free(&ch->endorser[i]);
	for (size_t i = 0; i < ch->n_committee; i++)
		sc_ident_free(&ch->committee[i]);
	ch->n_endorsers = ch->n_committee = 0;
}

/* Signs env (proposal and rwset filled in) as ch's client and adds the
 * endorsements of the first ne endorsers. */
static inline void sc_envelope_sign(const struct sc_chain *ch, Flexchain__Envelope *env,
				    size_t ne)
{
	uint8_t digest[FC_HASH_LEN];

	lf_check(fc_hash_client_sig(env, digest), "client-sig digest");
	env->client_signature = sc_sign(&ch->client, digest);
	lf_check(fc_hash_endorsement_of(env, digest), "endorsement digest");
	env->n_endorsements = ne;
	env->endorsements = lf_zalloc(sizeof *env->endorsements * (ne ? ne : 1));
	for (size_t i = 0; i < ne; i++) {
		Flexchain__Endorsement *e = lf_zalloc(sizeof *e);
		flexchain__endorsement__init(e);
		e->endorser = sc_der(&ch->endorser[i]);
		e->signature = sc_sign(&ch->endorser[i], digest);
		env->endorsements[i] = e;
	}
}

/* Block ch->next chained to ch->head over envs[0..n) (taken over by the
 * block), with its dependency graph, header signed by signer. */
static inline void sc_block_build(const struct sc_chain *ch, Flexchain__Envelope **envs, size_t n,
				  const struct sc_ident *signer, struct sc_built *out)
{
	static const uint8_t zero[FC_HASH_LEN];
	Flexchain__Block *b = lf_zalloc(sizeof *b);
	Flexchain__BlockHeader *hd = lf_zalloc(sizeof *hd);
	uint8_t dh[FC_HASH_LEN], gh[FC_HASH_LEN];
	char em[FC_ERRMSG_LEN];
	int rc;

	flexchain__block__init(b);
	flexchain__block_header__init(hd);
	b->header = hd;
	b->n_envelopes = n;
	b->envelopes = envs;
	rc = fc_depgraph_build(envs, n, &out->g, em);
	if (rc != FC_OK)
		sc_die("dependency graph", rc, em);
	b->graph = out->g;
	hd->height = ch->next;
	hd->prev_hash = lf_copy(ch->next ? ch->head : zero, FC_HASH_LEN);
	lf_check(fc_hash_block_data(b, dh), "data hash");
	lf_check(fc_hash_graph(b->graph, gh), "graph hash");
	hd->data_hash = lf_copy(dh, FC_HASH_LEN);
	hd->graph_hash = lf_copy(gh, FC_HASH_LEN);
	hd->timestamp_ms = (uint64_t)time(NULL) * 1000u;
	hd->orderer = sc_der(signer);
	lf_check(fc_hash_header(hd, out->hash), "header hash");
	hd->signature = sc_sign(signer, out->hash);
	out->b = b;
}

static inline void sc_block_free(struct sc_built *bb)
{
	bb->b->graph = NULL;
	lf_free_msg(&bb->b->base);
	fc_depgraph_free(bb->g);
}

/* Verdicts of the whole committee for status/wsh into out[0..n_committee)
 * (fc_validate_verdict_free each). Returns their number. */
static inline size_t sc_compute_verdicts(const struct sc_chain *ch, const struct sc_built *bb,
					 const uint8_t *status, const uint8_t wsh[FC_HASH_LEN],
					 Flexchain__Verdict **out)
{
	char em[FC_ERRMSG_LEN];
	for (size_t i = 0; i < ch->n_committee; i++) {
		int rc = fc_validate_verdict_sign(bb->b, status, wsh, false, ch->committee[i].cert,
						  ch->committee[i].key, &out[i], em);
		if (rc != FC_OK)
			sc_die("sign verdict", rc, em);
	}
	return ch->n_committee;
}

/* An orderer-signed certificate over v[0..nv) (borrowed: free them after
 * sc_cert_free). storage_id NULL: certified by the compute committee;
 * else storage-validated by that storage replica. */
static inline Flexchain__CommitCertificate *sc_certify(const struct sc_chain *ch,
						       const struct sc_built *bb,
						       Flexchain__Verdict **v, size_t nv,
						       const char *storage_id)
{
	Flexchain__CommitCertificate *c = lf_zalloc(sizeof *c);
	uint8_t vh[FC_HASH_LEN], ch_hash[FC_HASH_LEN];

	flexchain__commit_certificate__init(c);
	c->height = bb->b->header->height;
	c->block_hash = lf_copy(bb->hash, FC_HASH_LEN);
	lf_check(fc_hash_verdict(v[0], vh), "verdict hash");
	c->verdict_hash = lf_copy(vh, FC_HASH_LEN);
	c->n_verdicts = nv;
	c->verdicts = v;
	c->storage_validated = storage_id != NULL;
	c->n_committee = storage_id ? 1 : ch->n_committee;
	c->committee = lf_zalloc(sizeof *c->committee * c->n_committee);
	for (size_t i = 0; i < c->n_committee; i++)
		c->committee[i] = sc_dupstr(storage_id ? storage_id : ch->committee[i].id);
	c->orderer = sc_der(&ch->orderer);
	lf_check(fc_hash_certificate(c, ch_hash), "certificate hash");
	c->signature = sc_sign(&ch->orderer, ch_hash);
	return c;
}

/* Frees c but not its (borrowed) verdicts. */
static inline void sc_cert_free(Flexchain__CommitCertificate *c)
{
	c->n_verdicts = 0;
	c->verdicts = NULL;
	lf_free_msg(&c->base);
}

/* Sets ch->next/head after the most advanced replica cl reaches (0 when
 * none answers or all are empty). */
static inline void sc_find_head(struct sc_chain *ch, struct fc_storage_client *cl)
{
	char em[FC_ERRMSG_LEN];

	ch->next = 0;
	for (size_t i = 0; i < fc_storage_client_replicas(cl); i++) {
		struct fc_storage_height hi;
		if (fc_storage_get_height(cl, i, &hi, em) != FC_OK || hi.empty)
			continue;
		if (hi.applied_height + 1 > ch->next) {
			ch->next = hi.applied_height + 1;
			memcpy(ch->head, hi.last_hash, FC_HASH_LEN);
		}
	}
}

#endif
