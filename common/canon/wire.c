/* wire.c - protobuf-c decoding behind size limits and an allocation hook,
 * and the structural checks of fc_wire.h.
 */
#include "fc_wire.h"

#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

#define HASH_LEN 32

/* ------------------------------------------------------------- allocator */

/* protobuf-c reports an allocation failure and a parse error alike (NULL), so
 * the allocator records failures in a per-call state to tell them apart. */
struct alloc_state {
	int failed;
};

static void *wire_alloc(void *data, size_t size)
{
	void *p = fc_malloc(size);
	if (!p && data)
		((struct alloc_state *)data)->failed = 1;
	return p;
}

static void wire_dealloc(void *data, void *p)
{
	(void)data;
	fc_free(p);
}

static ProtobufCAllocator free_allocator = {
    .alloc = wire_alloc,
    .free = wire_dealloc,
    .allocator_data = NULL,
};

int fc_wire_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		   size_t max_len, ProtobufCMessage **out, char *errmsg)
{
	struct alloc_state st = {0};
	ProtobufCAllocator alloc = {
	    .alloc = wire_alloc,
	    .free = wire_dealloc,
	    .allocator_data = &st,
	};
	ProtobufCMessage *msg;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "decode: no output");
	*out = NULL;
	if (!desc || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		return fc_errf(errmsg, FC_EINVAL, "decode: bad descriptor");
	if (!buf && len)
		return fc_errf(errmsg, FC_EINVAL, "decode %s: no input", desc->name);
	if (len > max_len)
		return fc_errf(errmsg, FC_ETOOBIG, "decode %s: %zu bytes over limit %zu",
			       desc->name, len, max_len);
	/* protobuf-c reads nothing when len is 0, but wants a non-NULL pointer. */
	msg = protobuf_c_message_unpack(desc, &alloc, len, buf ? buf : (const uint8_t *)"");
	if (!msg) {
		if (st.failed)
			return fc_errf(errmsg, FC_ENOMEM, "decode %s: out of memory", desc->name);
		return fc_errf(errmsg, FC_EPROTO, "decode %s: malformed or truncated (%zu bytes)",
			       desc->name, len);
	}
	if (!protobuf_c_message_check(msg)) {
		protobuf_c_message_free_unpacked(msg, &free_allocator);
		return fc_errf(errmsg, FC_EPROTO, "decode %s: incomplete message", desc->name);
	}
	*out = msg;
	return FC_OK;
}

void fc_wire_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, &free_allocator);
}

int fc_wire_encode(const ProtobufCMessage *msg, uint8_t **buf, size_t *len, char *errmsg)
{
	size_t size, packed;
	uint8_t *p;

	if (buf)
		*buf = NULL;
	if (!msg || !buf || !len)
		return fc_errf(errmsg, FC_EINVAL, "encode: NULL argument");
	size = protobuf_c_message_get_packed_size(msg);
	p = fc_malloc(size ? size : 1);
	if (!p)
		return fc_errf(errmsg, FC_ENOMEM, "encode %s: %zu bytes", msg->descriptor->name,
			       size);
	packed = protobuf_c_message_pack(msg, p);
	if (packed != size) {
		fc_free(p);
		return fc_errf(errmsg, FC_EINTERNAL, "encode %s: packed %zu of %zu bytes",
			       msg->descriptor->name, packed, size);
	}
	*buf = p;
	*len = size;
	return FC_OK;
}

/* ---------------------------------------------------------------- checks */

static int key_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->data, b->data, n) : 0;
	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

/* Key order of element i against i-1 as an error, FC_OK when increasing. */
static int check_key_order(const ProtobufCBinaryData *prev, const ProtobufCBinaryData *cur,
			   const char *what, size_t i, char *errmsg)
{
	int c = key_cmp(prev, cur);
	if (c > 0)
		return fc_errf(errmsg, FC_EPROTO, "rwset %s keys not sorted at %zu", what, i);
	if (c == 0)
		return fc_errf(errmsg, FC_EPROTO, "rwset %s keys duplicate at %zu", what, i);
	return FC_OK;
}

int fc_wire_check_rwset(const Flexchain__RWSet *rw, char *errmsg)
{
	int rc;

	if (!rw)
		return fc_errf(errmsg, FC_EINVAL, "rwset: missing");
	if (rw->n_reads && !rw->reads)
		return fc_errf(errmsg, FC_EPROTO, "rwset: reads missing");
	if (rw->n_writes && !rw->writes)
		return fc_errf(errmsg, FC_EPROTO, "rwset: writes missing");
	for (size_t i = 0; i < rw->n_reads; i++) {
		if (!rw->reads[i])
			return fc_errf(errmsg, FC_EPROTO, "rwset read %zu: missing", i);
		if (i == 0)
			continue;
		rc = check_key_order(&rw->reads[i - 1]->key, &rw->reads[i]->key, "read", i, errmsg);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < rw->n_writes; i++) {
		if (!rw->writes[i])
			return fc_errf(errmsg, FC_EPROTO, "rwset write %zu: missing", i);
		if (i == 0)
			continue;
		rc = check_key_order(&rw->writes[i - 1]->key, &rw->writes[i]->key, "write", i,
				     errmsg);
		if (rc)
			return rc;
	}
	return FC_OK;
}

static int is_lower_hex(const char *s, size_t want)
{
	size_t i;
	for (i = 0; s[i] && i <= want; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return i == want && s[i] == '\0';
}

int fc_wire_check_envelope(const Flexchain__Envelope *env, char *errmsg)
{
	const Flexchain__Proposal *p;
	int rc;

	if (!env)
		return fc_errf(errmsg, FC_EINVAL, "envelope: missing");
	if (env->type != FLEXCHAIN__TX_TYPE__TX_NORMAL &&
	    env->type != FLEXCHAIN__TX_TYPE__TX_CONFIG)
		return fc_errf(errmsg, FC_EPROTO, "unknown tx type %d", (int)env->type);
	p = env->proposal;
	if (!p)
		return fc_errf(errmsg, FC_EPROTO, "no proposal");
	if (!p->tx_id || !is_lower_hex(p->tx_id, 64))
		return fc_errf(errmsg, FC_EPROTO, "proposal tx_id is not 64 lowercase hex digits");
	if (p->n_args && !p->args)
		return fc_errf(errmsg, FC_EPROTO, "proposal args missing");
	if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && !env->config)
		return fc_errf(errmsg, FC_EPROTO, "config transaction without config");
	if (env->type != FLEXCHAIN__TX_TYPE__TX_CONFIG && env->config)
		return fc_errf(errmsg, FC_EPROTO, "normal transaction carries a config");
	if (env->rwset) {
		rc = fc_wire_check_rwset(env->rwset, errmsg);
		if (rc)
			return rc;
	}
	if (env->n_endorsements && !env->endorsements)
		return fc_errf(errmsg, FC_EPROTO, "endorsements missing");
	for (size_t i = 0; i < env->n_endorsements; i++) {
		const Flexchain__Endorsement *d = env->endorsements[i];
		if (!d)
			return fc_errf(errmsg, FC_EPROTO, "endorsement %zu: missing", i);
		if (d->endorser.len == 0)
			return fc_errf(errmsg, FC_EPROTO, "endorsement %zu: no endorser", i);
		if (d->signature.len == 0)
			return fc_errf(errmsg, FC_EPROTO, "endorsement %zu: no signature", i);
	}
	return FC_OK;
}

int fc_wire_check_graph(const Flexchain__DependencyGraph *g, size_t n_envelopes, char *errmsg)
{
	size_t n = g ? g->n_txs : 0;

	if (n != n_envelopes)
		return fc_errf(errmsg, FC_EPROTO, "graph has %zu entries for %zu transactions", n,
			       n_envelopes);
	if (n && !g->txs)
		return fc_errf(errmsg, FC_EPROTO, "graph entries missing");
	for (size_t i = 0; i < n; i++) {
		const Flexchain__TxDeps *t = g->txs[i];
		if (!t)
			return fc_errf(errmsg, FC_EPROTO, "graph tx %zu: missing", i);
		if (t->n_deps && !t->deps)
			return fc_errf(errmsg, FC_EPROTO, "graph tx %zu: deps missing", i);
		for (size_t j = 0; j < t->n_deps; j++) {
			if (t->deps[j] >= i)
				return fc_errf(errmsg, FC_EPROTO,
					       "graph tx %zu: dep %u at %zu not before the tx", i,
					       t->deps[j], j);
			if (j && t->deps[j] <= t->deps[j - 1])
				return fc_errf(errmsg, FC_EPROTO,
					       "graph tx %zu: deps not strictly increasing at %zu",
					       i, j);
		}
	}
	return FC_OK;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static int check_hash_field(const ProtobufCBinaryData *f, const char *what, char *errmsg)
{
	if (f->len != HASH_LEN || !f->data)
		return fc_errf(errmsg, FC_EPROTO, "%s is %zu bytes, not %d", what, f->len,
			       HASH_LEN);
	return FC_OK;
}

int fc_wire_check_block(const Flexchain__Block *b, char *errmsg)
{
	const Flexchain__BlockHeader *h;
	unsigned long long height;
	int rc;

	if (!b)
		return fc_errf(errmsg, FC_EINVAL, "block: missing");
	h = b->header;
	if (!h)
		return fc_errf(errmsg, FC_EPROTO, "block: no header");
	height = (unsigned long long)h->height;
	if ((rc = check_hash_field(&h->prev_hash, "prev_hash", errmsg)) ||
	    (rc = check_hash_field(&h->data_hash, "data_hash", errmsg)) ||
	    (rc = check_hash_field(&h->graph_hash, "graph_hash", errmsg)))
		return fc_errwrap(errmsg, rc, "block %llu", height);
	if (h->height == 0 && !all_zero(h->prev_hash.data, HASH_LEN))
		return fc_errf(errmsg, FC_EPROTO, "block 0: prev_hash is not zero");
	if (b->n_envelopes && !b->envelopes)
		return fc_errf(errmsg, FC_EPROTO, "block %llu: envelopes missing", height);
	for (size_t i = 0; i < b->n_envelopes; i++) {
		if (!b->envelopes[i])
			return fc_errf(errmsg, FC_EPROTO, "block %llu: envelope %zu: missing",
				       height, i);
		rc = fc_wire_check_envelope(b->envelopes[i], errmsg);
		if (rc)
			return fc_errwrap(errmsg, rc, "block %llu: envelope %zu", height, i);
	}
	rc = fc_wire_check_graph(b->graph, b->n_envelopes, errmsg);
	if (rc)
		return fc_errwrap(errmsg, rc, "block %llu", height);
	return FC_OK;
}

int fc_wire_check_verdict(const Flexchain__Verdict *v, size_t n_tx, char *errmsg)
{
	int rc;

	if (!v)
		return fc_errf(errmsg, FC_EINVAL, "verdict: missing");
	if ((rc = check_hash_field(&v->block_hash, "block_hash", errmsg)) ||
	    (rc = check_hash_field(&v->write_set_hash, "write_set_hash", errmsg)))
		return fc_errwrap(errmsg, rc, "verdict %llu", (unsigned long long)v->height);
	if (n_tx != FC_WIRE_ANY_COUNT && v->tx_status.len != n_tx)
		return fc_errf(errmsg, FC_EPROTO,
			       "verdict %llu: tx_status has %zu entries for %zu "
			       "transactions",
			       (unsigned long long)v->height, v->tx_status.len, n_tx);
	if (v->tx_status.len && !v->tx_status.data)
		return fc_errf(errmsg, FC_EPROTO, "verdict %llu: tx_status missing",
			       (unsigned long long)v->height);
	for (size_t i = 0; i < v->tx_status.len; i++) {
		uint8_t s = v->tx_status.data[i];
		if (s < FLEXCHAIN__TX_STATUS__TX_VALID || s > FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG)
			return fc_errf(errmsg, FC_EPROTO, "verdict %llu: tx %zu: bad status %u",
				       (unsigned long long)v->height, i, (unsigned)s);
	}
	return FC_OK;
}

int fc_wire_check_certificate(const Flexchain__CommitCertificate *c, char *errmsg)
{
	unsigned long long height;
	int rc;

	if (!c)
		return fc_errf(errmsg, FC_EINVAL, "certificate: missing");
	height = (unsigned long long)c->height;
	if ((rc = check_hash_field(&c->block_hash, "block_hash", errmsg)) ||
	    (rc = check_hash_field(&c->verdict_hash, "verdict_hash", errmsg)))
		return fc_errwrap(errmsg, rc, "certificate %llu", height);
	if (c->n_verdicts == 0 || !c->verdicts)
		return fc_errf(errmsg, FC_EPROTO, "certificate %llu: no verdicts", height);
	for (size_t i = 0; i < c->n_verdicts; i++) {
		const Flexchain__Verdict *v = c->verdicts[i];
		if (!v)
			return fc_errf(errmsg, FC_EPROTO, "certificate %llu: verdict %zu: missing",
				       height, i);
		rc = fc_wire_check_verdict(v, FC_WIRE_ANY_COUNT, errmsg);
		if (rc)
			return fc_errwrap(errmsg, rc, "certificate %llu: verdict %zu", height, i);
		if (v->height != c->height ||
		    memcmp(v->block_hash.data, c->block_hash.data, HASH_LEN) != 0)
			return fc_errf(errmsg, FC_EPROTO,
				       "certificate %llu: verdict %zu: judges another block",
				       height, i);
		if (c->storage_validated && !v->storage_validated)
			return fc_errf(errmsg, FC_EPROTO,
				       "certificate %llu: verdict %zu: not storage-validated",
				       height, i);
	}
	if (c->n_committee && !c->committee)
		return fc_errf(errmsg, FC_EPROTO, "certificate %llu: committee missing", height);
	return FC_OK;
}
