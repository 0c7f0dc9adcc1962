/* canon.c - canonical encoding streamed into SHA-256 (format: fc_canon.h).
 *
 * The encoder buffers small writes and feeds OpenSSL in chunks: a block hash
 * is thousands of tiny fields, and one EVP_DigestUpdate per field would cost
 * more than the hashing itself.
 */
#include "fc_canon.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "fc_err.h"

/* ---------------------------------------------------------------- encoder */

static void enc_flush(struct fc_canon_enc *e)
{
	if (e->err || e->fill == 0)
		return;
	if (EVP_DigestUpdate(e->md_ctx, e->buf, e->fill) != 1)
		e->err = FC_ECRYPTO;
	e->fill = 0;
}

static int enc_raw(struct fc_canon_enc *e, const void *p, size_t n)
{
	if (e->err)
		return e->err;
	if (n == 0)
		return FC_OK;
	if (e->fill + n <= sizeof e->buf) {
		memcpy(e->buf + e->fill, p, n);
		e->fill += n;
		return FC_OK;
	}
	enc_flush(e);
	if (e->err)
		return e->err;
	if (n <= sizeof e->buf) {
		memcpy(e->buf, p, n);
		e->fill = n;
		return FC_OK;
	}
	/* Large byte strings go to OpenSSL directly. */
	if (EVP_DigestUpdate(e->md_ctx, p, n) != 1)
		e->err = FC_ECRYPTO;
	return e->err;
}

int fc_canon_enc_init(struct fc_canon_enc *e, const char *tag)
{
	if (!e)
		return FC_EINVAL;
	e->md_ctx = NULL;
	e->fill = 0;
	e->err = FC_OK;
	if (!tag) {
		e->err = FC_EINVAL;
		return e->err;
	}
	e->md_ctx = EVP_MD_CTX_new();
	if (!e->md_ctx) {
		e->err = FC_ENOMEM;
		return e->err;
	}
	if (EVP_DigestInit_ex(e->md_ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(e->md_ctx);
		e->md_ctx = NULL;
		e->err = FC_ECRYPTO;
		return e->err;
	}
	return enc_raw(e, tag, strlen(tag) + 1);
}

int fc_canon_enc_u64(struct fc_canon_enc *e, uint64_t v)
{
	uint8_t b[8];
	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	return enc_raw(e, b, sizeof b);
}

int fc_canon_enc_u32(struct fc_canon_enc *e, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return enc_raw(e, b, sizeof b);
}

int fc_canon_enc_bool(struct fc_canon_enc *e, int v)
{
	uint8_t b = v ? 1 : 0;
	return enc_raw(e, &b, 1);
}

int fc_canon_enc_count(struct fc_canon_enc *e, size_t count)
{
	if (e->err)
		return e->err;
	if (count > UINT32_MAX) {
		e->err = FC_EINVAL;
		return e->err;
	}
	return fc_canon_enc_u32(e, (uint32_t)count);
}

int fc_canon_enc_bytes(struct fc_canon_enc *e, const void *p, size_t n)
{
	if (e->err)
		return e->err;
	if (n && !p) {
		e->err = FC_EINVAL;
		return e->err;
	}
	fc_canon_enc_count(e, n);
	return enc_raw(e, p, n);
}

int fc_canon_enc_str(struct fc_canon_enc *e, const char *s)
{
	return fc_canon_enc_bytes(e, s ? s : "", s ? strlen(s) : 0);
}

int fc_canon_enc_h32(struct fc_canon_enc *e, const uint8_t h[FC_HASH_LEN])
{
	if (e->err)
		return e->err;
	if (!h) {
		e->err = FC_EINVAL;
		return e->err;
	}
	return enc_raw(e, h, FC_HASH_LEN);
}

static int enc_bin(struct fc_canon_enc *e, const ProtobufCBinaryData *b)
{
	return fc_canon_enc_bytes(e, b->data, b->len);
}

int fc_canon_enc_final(struct fc_canon_enc *e, uint8_t out[FC_HASH_LEN])
{
	unsigned int outlen = 0;
	int rc;

	if (!e)
		return FC_EINVAL;
	if (!out && !e->err)
		e->err = FC_EINVAL;
	enc_flush(e);
	if (!e->err && (EVP_DigestFinal_ex(e->md_ctx, out, &outlen) != 1 || outlen != FC_HASH_LEN))
		e->err = FC_ECRYPTO;
	rc = e->err;
	fc_canon_enc_abort(e); /* leaves FC_ESTATE for any later use */
	return rc;
}

void fc_canon_enc_abort(struct fc_canon_enc *e)
{
	if (!e)
		return;
	EVP_MD_CTX_free(e->md_ctx); /* NULL is a no-op */
	e->md_ctx = NULL;
	e->fill = 0;
	if (!e->err)
		e->err = FC_ESTATE; /* further use of an aborted encoder fails */
}

/* ----------------------------------------------------------------- bodies */

int fc_canon_enc_proposal(struct fc_canon_enc *e, const Flexchain__Proposal *p)
{
	if (!p) {
		/* the empty Proposal: 3 empty strings, no args, 2 empty bytes, 0 */
		fc_canon_enc_str(e, NULL);
		fc_canon_enc_str(e, NULL);
		fc_canon_enc_str(e, NULL);
		fc_canon_enc_count(e, 0);
		fc_canon_enc_bytes(e, NULL, 0);
		fc_canon_enc_bytes(e, NULL, 0);
		return fc_canon_enc_u64(e, 0);
	}
	fc_canon_enc_str(e, p->tx_id);
	fc_canon_enc_str(e, p->contract);
	fc_canon_enc_str(e, p->function);
	fc_canon_enc_count(e, p->n_args);
	for (size_t i = 0; i < p->n_args && !e->err; i++)
		enc_bin(e, &p->args[i]);
	enc_bin(e, &p->nonce);
	enc_bin(e, &p->creator);
	return fc_canon_enc_u64(e, p->timestamp_ms);
}

static void enc_write(struct fc_canon_enc *e, const Flexchain__KVWrite *w)
{
	if (!w) {
		fc_canon_enc_bytes(e, NULL, 0);
		fc_canon_enc_bytes(e, NULL, 0);
		fc_canon_enc_bool(e, 0);
		return;
	}
	enc_bin(e, &w->key);
	enc_bin(e, &w->value);
	fc_canon_enc_bool(e, w->is_delete);
}

int fc_canon_enc_writes(struct fc_canon_enc *e, const Flexchain__RWSet *rw)
{
	size_t n = rw ? rw->n_writes : 0;
	fc_canon_enc_count(e, n);
	for (size_t i = 0; i < n && !e->err; i++)
		enc_write(e, rw->writes[i]);
	return e->err;
}

int fc_canon_enc_rwset(struct fc_canon_enc *e, const Flexchain__RWSet *rw)
{
	size_t n = rw ? rw->n_reads : 0;
	fc_canon_enc_count(e, n);
	for (size_t i = 0; i < n && !e->err; i++) {
		const Flexchain__KVRead *r = rw->reads[i];
		if (r) {
			enc_bin(e, &r->key);
			fc_canon_enc_u64(e, r->version);
		} else {
			fc_canon_enc_bytes(e, NULL, 0);
			fc_canon_enc_u64(e, 0);
		}
	}
	return fc_canon_enc_writes(e, rw);
}

static void enc_node(struct fc_canon_enc *e, const Flexchain__NodeAddr *a)
{
	fc_canon_enc_str(e, a ? a->id : NULL);
	fc_canon_enc_str(e, a ? a->host : NULL);
	fc_canon_enc_u32(e, a ? a->port : 0);
	fc_canon_enc_u32(e, a ? a->data_port : 0);
	fc_canon_enc_u32(e, a ? a->metrics_port : 0);
}

static void enc_nodes(struct fc_canon_enc *e, Flexchain__NodeAddr *const *v, size_t n)
{
	fc_canon_enc_count(e, n);
	for (size_t i = 0; i < n && !e->err; i++)
		enc_node(e, v[i]);
}

int fc_canon_enc_config(struct fc_canon_enc *e, const Flexchain__ConfigTx *c)
{
	static const Flexchain__ConfigTx empty = FLEXCHAIN__CONFIG_TX__INIT;
	const Flexchain__ShardMap *sm;

	if (!c)
		c = &empty;
	fc_canon_enc_u64(e, c->sequence);
	fc_canon_enc_count(e, c->n_orgs);
	for (size_t i = 0; i < c->n_orgs && !e->err; i++) {
		const Flexchain__OrgDef *o = c->orgs[i];
		fc_canon_enc_str(e, o ? o->name : NULL);
		if (o)
			enc_bin(e, &o->ca_cert);
		else
			fc_canon_enc_bytes(e, NULL, 0);
	}
	fc_canon_enc_count(e, c->n_policies);
	for (size_t i = 0; i < c->n_policies && !e->err; i++) {
		const Flexchain__PolicyDef *p = c->policies[i];
		fc_canon_enc_str(e, p ? p->name : NULL);
		fc_canon_enc_str(e, p ? p->rule : NULL);
	}
	sm = c->shard_map;
	fc_canon_enc_u64(e, sm ? sm->version : 0);
	if (sm)
		enc_nodes(e, sm->memory_nodes, sm->n_memory_nodes);
	else
		fc_canon_enc_count(e, 0);
	enc_nodes(e, c->storage_replicas, c->n_storage_replicas);
	return fc_canon_enc_u32(e, c->storage_write_quorum);
}

int fc_canon_enc_envelope(struct fc_canon_enc *e, const Flexchain__Envelope *env)
{
	static const Flexchain__Envelope empty = FLEXCHAIN__ENVELOPE__INIT;

	if (!env)
		env = &empty;
	fc_canon_enc_u32(e, (uint32_t)env->type);
	fc_canon_enc_proposal(e, env->proposal);
	enc_bin(e, &env->client_signature);
	fc_canon_enc_rwset(e, env->rwset);
	enc_bin(e, &env->response);
	fc_canon_enc_count(e, env->n_endorsements);
	for (size_t i = 0; i < env->n_endorsements && !e->err; i++) {
		const Flexchain__Endorsement *d = env->endorsements[i];
		if (d) {
			enc_bin(e, &d->endorser);
			enc_bin(e, &d->signature);
		} else {
			fc_canon_enc_bytes(e, NULL, 0);
			fc_canon_enc_bytes(e, NULL, 0);
		}
	}
	return fc_canon_enc_config(e, env->config);
}

int fc_canon_enc_graph(struct fc_canon_enc *e, const Flexchain__DependencyGraph *g)
{
	size_t n = g ? g->n_txs : 0;
	fc_canon_enc_count(e, n);
	for (size_t i = 0; i < n && !e->err; i++) {
		const Flexchain__TxDeps *t = g->txs[i];
		size_t nd = t ? t->n_deps : 0;
		fc_canon_enc_count(e, nd);
		for (size_t j = 0; j < nd && !e->err; j++)
			fc_canon_enc_u32(e, t->deps[j]);
	}
	return e->err;
}

/* ----------------------------------------------------------------- hashes */

void fc_canon_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int fc_canon_tx_id(const uint8_t *nonce, size_t nonce_len, const uint8_t *creator,
		   size_t creator_len, char out[FC_TXID_HEX_LEN + 1])
{
	struct fc_canon_enc e;
	uint8_t h[FC_HASH_LEN];
	int rc;

	if (!out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_TXID);
	fc_canon_enc_bytes(&e, nonce, nonce_len);
	fc_canon_enc_bytes(&e, creator, creator_len);
	rc = fc_canon_enc_final(&e, h);
	if (rc == FC_OK)
		fc_canon_hex(h, sizeof h, out);
	return rc;
}

int fc_canon_tx_id_of(const Flexchain__Proposal *p, char out[FC_TXID_HEX_LEN + 1])
{
	if (!p)
		return FC_EINVAL;
	return fc_canon_tx_id(p->nonce.data, p->nonce.len, p->creator.data, p->creator.len, out);
}

int fc_hash_proposal(const Flexchain__Proposal *p, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!p || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_PROPOSAL);
	fc_canon_enc_proposal(&e, p);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_rwset(const Flexchain__RWSet *rw, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!rw || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_RWSET);
	fc_canon_enc_rwset(&e, rw);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_config(const Flexchain__ConfigTx *c, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!c || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_CONFIG);
	fc_canon_enc_config(&e, c);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_endorsement(const uint8_t proposal_hash[FC_HASH_LEN],
			const uint8_t rwset_hash[FC_HASH_LEN], const uint8_t *response,
			size_t response_len, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!proposal_hash || !rwset_hash || !out || (response_len && !response))
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_ENDORSEMENT);
	fc_canon_enc_h32(&e, proposal_hash);
	fc_canon_enc_h32(&e, rwset_hash);
	fc_canon_enc_bytes(&e, response, response_len);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_endorsement_of(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN])
{
	static const Flexchain__RWSet empty = FLEXCHAIN__RWSET__INIT;
	uint8_t ph[FC_HASH_LEN], rh[FC_HASH_LEN];
	int rc;

	if (!env || !env->proposal || !out)
		return FC_EINVAL;
	rc = fc_hash_proposal(env->proposal, ph);
	if (rc)
		return rc;
	rc = fc_hash_rwset(env->rwset ? env->rwset : &empty, rh);
	if (rc)
		return rc;
	return fc_hash_endorsement(ph, rh, env->response.data, env->response.len, out);
}

int fc_hash_client_sig(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN])
{
	static const Flexchain__ConfigTx empty = FLEXCHAIN__CONFIG_TX__INIT;
	struct fc_canon_enc e;
	uint8_t ph[FC_HASH_LEN], ch[FC_HASH_LEN];
	int rc;

	if (!env || !env->proposal || !out)
		return FC_EINVAL;
	rc = fc_hash_proposal(env->proposal, ph);
	if (rc)
		return rc;
	if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG) {
		rc = fc_hash_config(env->config ? env->config : &empty, ch);
		if (rc)
			return rc;
	}
	fc_canon_enc_init(&e, FC_CANON_TAG_CLIENT_SIG);
	fc_canon_enc_u32(&e, (uint32_t)env->type);
	fc_canon_enc_h32(&e, ph);
	if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG)
		fc_canon_enc_h32(&e, ch);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_envelope(const Flexchain__Envelope *env, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!env || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_ENVELOPE);
	fc_canon_enc_envelope(&e, env);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_envelopes(Flexchain__Envelope *const *envs, size_t n, uint8_t out[FC_HASH_LEN])
{
	static const Flexchain__Envelope empty = FLEXCHAIN__ENVELOPE__INIT;
	struct fc_canon_enc e;
	uint8_t h[FC_HASH_LEN];
	int rc;

	if (!out || (n && !envs))
		return FC_EINVAL;
	rc = fc_canon_enc_init(&e, FC_CANON_TAG_DATA);
	fc_canon_enc_count(&e, n);
	for (size_t i = 0; i < n && !e.err; i++) {
		rc = fc_hash_envelope(envs[i] ? envs[i] : &empty, h);
		if (rc) {
			fc_canon_enc_abort(&e);
			return rc;
		}
		fc_canon_enc_h32(&e, h);
	}
	return fc_canon_enc_final(&e, out);
}

int fc_hash_block_data(const Flexchain__Block *b, uint8_t out[FC_HASH_LEN])
{
	if (!b)
		return FC_EINVAL;
	return fc_hash_envelopes(b->envelopes, b->n_envelopes, out);
}

int fc_hash_graph(const Flexchain__DependencyGraph *g, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_GRAPH);
	fc_canon_enc_graph(&e, g);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_header(const Flexchain__BlockHeader *h, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!h || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_HEADER);
	fc_canon_enc_u64(&e, h->height);
	enc_bin(&e, &h->prev_hash);
	enc_bin(&e, &h->data_hash);
	enc_bin(&e, &h->graph_hash);
	fc_canon_enc_u64(&e, h->timestamp_ms);
	enc_bin(&e, &h->orderer);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_verdict(const Flexchain__Verdict *v, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!v || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_VERDICT);
	fc_canon_enc_u64(&e, v->height);
	enc_bin(&e, &v->block_hash);
	enc_bin(&e, &v->tx_status);
	enc_bin(&e, &v->write_set_hash);
	fc_canon_enc_bool(&e, v->storage_validated);
	enc_bin(&e, &v->signer);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_certificate(const Flexchain__CommitCertificate *c, uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	if (!c || !out)
		return FC_EINVAL;
	fc_canon_enc_init(&e, FC_CANON_TAG_CERTIFICATE);
	fc_canon_enc_u64(&e, c->height);
	enc_bin(&e, &c->block_hash);
	enc_bin(&e, &c->verdict_hash);
	fc_canon_enc_count(&e, c->n_committee);
	for (size_t i = 0; i < c->n_committee && !e.err; i++)
		fc_canon_enc_str(&e, c->committee[i]);
	fc_canon_enc_bool(&e, c->storage_validated);
	enc_bin(&e, &c->orderer);
	return fc_canon_enc_final(&e, out);
}

int fc_hash_write_set(const Flexchain__Block *b, const uint8_t *tx_status, size_t n_status,
		      uint8_t out[FC_HASH_LEN])
{
	struct fc_canon_enc e;
	size_t n_valid = 0;

	if (!b || !out || (n_status && !tx_status) || n_status != b->n_envelopes ||
	    (b->n_envelopes && !b->envelopes))
		return FC_EINVAL;
	if (n_status > UINT32_MAX)
		return FC_EINVAL; /* tx index must fit the u32 it is encoded as */
	for (size_t i = 0; i < n_status; i++)
		n_valid += tx_status[i] == FLEXCHAIN__TX_STATUS__TX_VALID;
	fc_canon_enc_init(&e, FC_CANON_TAG_WRITE_SET);
	fc_canon_enc_count(&e, n_valid);
	for (size_t i = 0; i < n_status && !e.err; i++) {
		const Flexchain__Envelope *env = b->envelopes[i];
		if (tx_status[i] != FLEXCHAIN__TX_STATUS__TX_VALID)
			continue;
		fc_canon_enc_u32(&e, (uint32_t)i);
		fc_canon_enc_writes(&e, env ? env->rwset : NULL);
	}
	return fc_canon_enc_final(&e, out);
}

static int hash_field_equals(const ProtobufCBinaryData *field, const uint8_t h[FC_HASH_LEN])
{
	return field->len == FC_HASH_LEN && memcmp(field->data, h, FC_HASH_LEN) == 0;
}

int fc_canon_check_block_hashes(const Flexchain__Block *b, char *errmsg)
{
	uint8_t h[FC_HASH_LEN];
	unsigned long long height;
	int rc;

	if (!b || !b->header)
		return fc_errf(errmsg, FC_EINVAL, "block: no header");
	height = (unsigned long long)b->header->height;
	rc = fc_hash_block_data(b, h);
	if (rc)
		return fc_errf(errmsg, rc, "block %llu: data hash: %s", height, fc_strerror(rc));
	if (!hash_field_equals(&b->header->data_hash, h))
		return fc_errf(errmsg, FC_EMISMATCH, "block %llu: data hash mismatch", height);
	rc = fc_hash_graph(b->graph, h);
	if (rc)
		return fc_errf(errmsg, rc, "block %llu: graph hash: %s", height, fc_strerror(rc));
	if (!hash_field_equals(&b->header->graph_hash, h))
		return fc_errf(errmsg, FC_EMISMATCH, "block %llu: graph hash mismatch", height);
	return FC_OK;
}
