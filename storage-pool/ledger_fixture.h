/* ledger_fixture.h - builds certified blocks for the ledger's tests and
 * benchmark (tests/unit/test_ledger*.c, bench/micro/ledger_append.c).
 *
 * A block is described by an array of struct lf_tx; lf_block_new() fills in
 * a structurally valid Block (tx ids from fc_canon, sorted writes, an empty
 * dependency graph, correct data/graph hashes, prev_hash as given), its
 * header hash, a Verdict with the given statuses and the correct write-set
 * hash, and a CommitCertificate carrying a copy of the verdict. Signatures
 * and certificates are placeholder bytes: the store does not verify them.
 *
 * Everything is allocated with fc_calloc and owned by the struct lf_block;
 * lf_block_free() releases it. Test-only code: allocation failures abort.
 */
#ifndef FC_LEDGER_FIXTURE_H
#define FC_LEDGER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_mem.h"
#include "flexchain.pb-c.h"

#define LF_MAX_WRITES 8

struct lf_write {
	const char *key;      /* NUL-terminated */
	const uint8_t *value; /* NULL: value = the key's text */
	size_t value_len;
	int is_delete;
};

struct lf_tx {
	int status; /* Flexchain__TxStatus; 0 is taken as TX_VALID */
	size_t n_writes;
	struct lf_write writes[LF_MAX_WRITES];
	uint64_t nonce_salt; /* same salt + creator = same tx id */
	int same_id_as_salt; /* use nonce_salt verbatim (to make duplicates) */
	uint64_t config_seq; /* > 0: a TX_CONFIG transaction with this sequence */
};

struct lf_sizes {
	size_t creator;	  /* client certificate blob */
	size_t signature; /* every signature */
	size_t endorser;  /* endorser certificate blob */
	size_t n_endorsements;
	size_t n_reads;
	size_t response;
	size_t cert_blob;   /* orderer/signer certificate blob */
	uint64_t timestamp; /* header timestamp (vary it to get another block) */
};

static inline void lf_sizes_small(struct lf_sizes *s)
{
	memset(s, 0, sizeof *s);
	s->creator = 16;
	s->signature = 8;
	s->endorser = 16;
	s->n_endorsements = 1;
	s->n_reads = 1;
	s->response = 4;
	s->cert_blob = 16;
	s->timestamp = 1000;
}

struct lf_block {
	Flexchain__Block *block;
	Flexchain__Verdict *verdict;
	Flexchain__CommitCertificate *cert;
	uint8_t hash[FC_HASH_LEN];
};

static inline void *lf_zalloc(size_t n)
{
	void *p = fc_calloc(1, n ? n : 1);
	if (!p) {
		fprintf(stderr, "ledger fixture: out of memory\n");
		abort();
	}
	return p;
}

static inline ProtobufCBinaryData lf_blob(size_t n, uint8_t fill)
{
	ProtobufCBinaryData b;
	b.len = n;
	b.data = lf_zalloc(n);
	memset(b.data, fill, n);
	return b;
}

static inline ProtobufCBinaryData lf_copy(const void *p, size_t n)
{
	ProtobufCBinaryData b;
	b.len = n;
	b.data = lf_zalloc(n);
	if (n)
		memcpy(b.data, p, n);
	return b;
}

static inline int lf_write_cmp(const void *a, const void *b)
{
	const Flexchain__KVWrite *x = *(Flexchain__KVWrite *const *)a;
	const Flexchain__KVWrite *y = *(Flexchain__KVWrite *const *)b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.data, y->key.data, n);
	if (c)
		return c;
	return x->key.len < y->key.len ? -1 : x->key.len > y->key.len;
}

static inline void lf_check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "ledger fixture: %s failed: %d\n", what, rc);
		abort();
	}
}

static inline Flexchain__Envelope *lf_envelope(uint64_t height, size_t idx, const struct lf_tx *tx,
					       const struct lf_sizes *sz)
{
	Flexchain__Envelope *env = lf_zalloc(sizeof *env);
	Flexchain__Proposal *p = lf_zalloc(sizeof *p);
	Flexchain__RWSet *rw = lf_zalloc(sizeof *rw);
	uint8_t nonce[16];
	uint64_t salt =
	    tx->same_id_as_salt ? tx->nonce_salt : (height << 20) ^ idx ^ tx->nonce_salt;

	flexchain__envelope__init(env);
	flexchain__proposal__init(p);
	flexchain__rwset__init(rw);
	for (int i = 0; i < 8; i++) {
		nonce[i] = (uint8_t)(salt >> (8 * i));
		nonce[8 + i] = (uint8_t)(0xa5 ^ i);
	}
	p->nonce = lf_copy(nonce, sizeof nonce);
	p->creator = lf_blob(sz->creator, 0xc1);
	p->tx_id = lf_zalloc(FC_TXID_HEX_LEN + 1);
	lf_check(fc_canon_tx_id_of(p, p->tx_id), "tx id");
	p->contract = lf_zalloc(8);
	strcpy(p->contract, "kv");
	p->function = lf_zalloc(8);
	strcpy(p->function, "put");
	p->timestamp_ms = 1700000000000ull + height;
	env->proposal = p;
	env->client_signature = lf_blob(sz->signature, 0x51);
	env->response = lf_blob(sz->response, 0x52);

	rw->n_reads = sz->n_reads;
	rw->reads = lf_zalloc(sizeof *rw->reads * (sz->n_reads ? sz->n_reads : 1));
	for (size_t r = 0; r < sz->n_reads; r++) {
		char k[64];
		Flexchain__KVRead *kr = lf_zalloc(sizeof *kr);
		flexchain__kvread__init(kr);
		snprintf(k, sizeof k, "read-%06u-%02u", (unsigned)idx, (unsigned)r);
		kr->key = lf_copy(k, strlen(k));
		kr->version = height ? fc_version_pack(height - 1, (uint32_t)idx) : 0;
		rw->reads[r] = kr;
	}
	rw->n_writes = tx->n_writes;
	rw->writes = lf_zalloc(sizeof *rw->writes * (tx->n_writes ? tx->n_writes : 1));
	for (size_t w = 0; w < tx->n_writes; w++) {
		const struct lf_write *lw = &tx->writes[w];
		Flexchain__KVWrite *kw = lf_zalloc(sizeof *kw);
		flexchain__kvwrite__init(kw);
		kw->key = lf_copy(lw->key, strlen(lw->key));
		kw->is_delete = lw->is_delete;
		if (!lw->is_delete) {
			if (lw->value)
				kw->value = lf_copy(lw->value, lw->value_len);
			else
				kw->value = lf_copy(lw->key, strlen(lw->key));
		}
		rw->writes[w] = kw;
	}
	qsort(rw->writes, rw->n_writes, sizeof *rw->writes, lf_write_cmp);
	env->rwset = rw;

	env->n_endorsements = sz->n_endorsements;
	env->endorsements =
	    lf_zalloc(sizeof *env->endorsements * (sz->n_endorsements ? sz->n_endorsements : 1));
	for (size_t e = 0; e < sz->n_endorsements; e++) {
		Flexchain__Endorsement *en = lf_zalloc(sizeof *en);
		flexchain__endorsement__init(en);
		en->endorser = lf_blob(sz->endorser ? sz->endorser : 1, (uint8_t)(0xe0 + e));
		en->signature = lf_blob(sz->signature ? sz->signature : 1, 0x53);
		env->endorsements[e] = en;
	}
	if (tx->config_seq) {
		Flexchain__ConfigTx *c = lf_zalloc(sizeof *c);
		flexchain__config_tx__init(c);
		c->sequence = tx->config_seq;
		c->storage_write_quorum = 1;
		env->type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
		env->config = c;
	}
	return env;
}

static inline Flexchain__Verdict *lf_verdict(const struct lf_block *lb, const uint8_t *status,
					     size_t n, const struct lf_sizes *sz, uint8_t fill)
{
	Flexchain__Verdict *v = lf_zalloc(sizeof *v);
	uint8_t wsh[FC_HASH_LEN];

	flexchain__verdict__init(v);
	v->height = lb->block->header->height;
	v->block_hash = lf_copy(lb->hash, FC_HASH_LEN);
	v->tx_status = lf_copy(status, n);
	lf_check(fc_hash_write_set(lb->block, status, n, wsh), "write-set hash");
	v->write_set_hash = lf_copy(wsh, FC_HASH_LEN);
	v->signer = lf_blob(sz->cert_blob ? sz->cert_blob : 1, fill);
	v->signature = lf_blob(sz->signature ? sz->signature : 1, 0x54);
	return v;
}

/* Builds block `height` chained to prev_hash (32 bytes; ignored at height
 * 0, which gets zeros) with n transactions. */
static inline struct lf_block *lf_block_new(uint64_t height, const uint8_t *prev_hash,
					    const struct lf_tx *txs, size_t n,
					    const struct lf_sizes *sz)
{
	static const uint8_t zero[FC_HASH_LEN];
	struct lf_block *lb = lf_zalloc(sizeof *lb);
	Flexchain__Block *b = lf_zalloc(sizeof *b);
	Flexchain__BlockHeader *h = lf_zalloc(sizeof *h);
	Flexchain__DependencyGraph *g = lf_zalloc(sizeof *g);
	Flexchain__CommitCertificate *c = lf_zalloc(sizeof *c);
	uint8_t *status = lf_zalloc(n);
	uint8_t dh[FC_HASH_LEN], gh[FC_HASH_LEN], vh[FC_HASH_LEN];

	flexchain__block__init(b);
	flexchain__block_header__init(h);
	flexchain__dependency_graph__init(g);
	b->header = h;
	b->graph = g;
	b->n_envelopes = n;
	b->envelopes = lf_zalloc(sizeof *b->envelopes * (n ? n : 1));
	g->n_txs = n;
	g->txs = lf_zalloc(sizeof *g->txs * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		Flexchain__TxDeps *d = lf_zalloc(sizeof *d);
		flexchain__tx_deps__init(d);
		g->txs[i] = d;
		b->envelopes[i] = lf_envelope(height, i, &txs[i], sz);
		status[i] =
		    (uint8_t)(txs[i].status ? txs[i].status : FLEXCHAIN__TX_STATUS__TX_VALID);
	}
	h->height = height;
	h->prev_hash = lf_copy(height ? prev_hash : zero, FC_HASH_LEN);
	lf_check(fc_hash_block_data(b, dh), "data hash");
	lf_check(fc_hash_graph(g, gh), "graph hash");
	h->data_hash = lf_copy(dh, FC_HASH_LEN);
	h->graph_hash = lf_copy(gh, FC_HASH_LEN);
	h->timestamp_ms = sz->timestamp + height;
	h->orderer = lf_blob(sz->cert_blob ? sz->cert_blob : 1, 0x0d);
	h->signature = lf_blob(sz->signature ? sz->signature : 1, 0x55);
	lb->block = b;
	lf_check(fc_hash_header(h, lb->hash), "header hash");

	lb->verdict = lf_verdict(lb, status, n, sz, 0x71);
	flexchain__commit_certificate__init(c);
	c->height = height;
	c->block_hash = lf_copy(lb->hash, FC_HASH_LEN);
	lf_check(fc_hash_verdict(lb->verdict, vh), "verdict hash");
	c->verdict_hash = lf_copy(vh, FC_HASH_LEN);
	c->n_verdicts = 1;
	c->verdicts = lf_zalloc(sizeof *c->verdicts);
	c->verdicts[0] = lf_verdict(lb, status, n, sz, 0x72);
	c->n_committee = 3;
	c->committee = lf_zalloc(sizeof *c->committee * 3);
	for (int i = 0; i < 3; i++) {
		c->committee[i] = lf_zalloc(16);
		snprintf(c->committee[i], 16, "compute-%u", (unsigned)i & 7);
	}
	c->orderer = lf_blob(sz->cert_blob ? sz->cert_blob : 1, 0x0e);
	c->signature = lf_blob(sz->signature ? sz->signature : 1, 0x56);
	lb->cert = c;
	fc_free(status);
	return lb;
}

/* Frees a hand-built message tree (every pointer field was lf_zalloc'ed). */
static inline void lf_free_msg(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;
	if (!m)
		return;
	d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *(size_t *)((char *)m + f->quantifier_offset);
			void **arr = *(void ***)base;
			for (size_t j = 0; arr && j < cnt; j++) {
				if (f->type == PROTOBUF_C_TYPE_MESSAGE)
					lf_free_msg(arr[j]);
				else if (f->type == PROTOBUF_C_TYPE_STRING &&
					 arr[j] != (void *)protobuf_c_empty_string)
					fc_free(arr[j]);
				else if (f->type == PROTOBUF_C_TYPE_BYTES)
					fc_free(((ProtobufCBinaryData *)arr)[j].data);
			}
			fc_free(arr);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			lf_free_msg(*(ProtobufCMessage **)base);
		} else if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (*(char **)base != protobuf_c_empty_string)
				fc_free(*(char **)base);
		} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
			fc_free(((ProtobufCBinaryData *)base)->data);
		}
	}
	fc_free(m);
}

static inline void lf_block_free(struct lf_block *lb)
{
	if (!lb)
		return;
	lf_free_msg(&lb->block->base);
	lf_free_msg(&lb->verdict->base);
	lf_free_msg(&lb->cert->base);
	fc_free(lb);
}

/* Replaces the verdict and certificate of lb with ones carrying status
 * (n bytes) and a matching write-set hash. */
static inline void lf_block_set_status(struct lf_block *lb, const uint8_t *status, size_t n,
				       const struct lf_sizes *sz)
{
	Flexchain__CommitCertificate *c = lb->cert;
	lf_free_msg(&lb->verdict->base);
	lf_free_msg(&c->verdicts[0]->base);
	lb->verdict = lf_verdict(lb, status, n, sz, 0x71);
	c->verdicts[0] = lf_verdict(lb, status, n, sz, 0x72);
}

#endif
