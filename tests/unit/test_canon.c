/* Unit tests of common/canon: canonical hashes against byte strings built by
 * hand from the format in fc_canon.h, sensitivity to every field,
 * independence from protobuf encoding, the write-set hash, and the
 * structural checks of fc_wire.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"
#include "fc_test_msgs.h"

/* ----------------------------------------- hand-built canonical byte strings */

struct hb {
	uint8_t b[8192];
	size_t n;
};

static void put(struct hb *h, const void *p, size_t n)
{
	assert_true(h->n + n <= sizeof h->b);
	if (n)
		memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void put_tag(struct hb *h, const char *tag)
{
	h->n = 0;
	put(h, tag, strlen(tag) + 1);
}

static void put_be(struct hb *h, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		uint8_t c = (uint8_t)(v >> (8 * i));
		put(h, &c, 1);
	}
}

static void put_u64(struct hb *h, uint64_t v)
{
	put_be(h, v, 8);
}

static void put_u32(struct hb *h, uint32_t v)
{
	put_be(h, v, 4);
}

static void put_bool(struct hb *h, int v)
{
	uint8_t c = v ? 1 : 0;
	put(h, &c, 1);
}

static void put_bin(struct hb *h, const ProtobufCBinaryData *d)
{
	put_u32(h, (uint32_t)d->len);
	put(h, d->data, d->len);
}

static void put_str(struct hb *h, const char *s)
{
	put_u32(h, (uint32_t)strlen(s));
	put(h, s, strlen(s));
}

static void sha256(const struct hb *h, uint8_t out[32])
{
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(h->b, h->n, out, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
}

static void put_proposal(struct hb *h, const Flexchain__Proposal *p)
{
	put_str(h, p->tx_id);
	put_str(h, p->contract);
	put_str(h, p->function);
	put_u32(h, (uint32_t)p->n_args);
	for (size_t i = 0; i < p->n_args; i++)
		put_bin(h, &p->args[i]);
	put_bin(h, &p->nonce);
	put_bin(h, &p->creator);
	put_u64(h, p->timestamp_ms);
}

static void put_rwset(struct hb *h, const Flexchain__RWSet *rw)
{
	put_u32(h, (uint32_t)rw->n_reads);
	for (size_t i = 0; i < rw->n_reads; i++) {
		put_bin(h, &rw->reads[i]->key);
		put_u64(h, rw->reads[i]->version);
	}
	put_u32(h, (uint32_t)rw->n_writes);
	for (size_t i = 0; i < rw->n_writes; i++) {
		put_bin(h, &rw->writes[i]->key);
		put_bin(h, &rw->writes[i]->value);
		put_bool(h, rw->writes[i]->is_delete);
	}
}

static void put_node(struct hb *h, const Flexchain__NodeAddr *a)
{
	put_str(h, a->id);
	put_str(h, a->host);
	put_u32(h, a->port);
	put_u32(h, a->data_port);
	put_u32(h, a->metrics_port);
}

static void put_config(struct hb *h, const Flexchain__ConfigTx *c)
{
	put_u64(h, c->sequence);
	put_u32(h, (uint32_t)c->n_orgs);
	for (size_t i = 0; i < c->n_orgs; i++) {
		put_str(h, c->orgs[i]->name);
		put_bin(h, &c->orgs[i]->ca_cert);
	}
	put_u32(h, (uint32_t)c->n_policies);
	for (size_t i = 0; i < c->n_policies; i++) {
		put_str(h, c->policies[i]->name);
		put_str(h, c->policies[i]->rule);
	}
	put_u64(h, c->shard_map->version);
	put_u32(h, (uint32_t)c->shard_map->n_memory_nodes);
	for (size_t i = 0; i < c->shard_map->n_memory_nodes; i++)
		put_node(h, c->shard_map->memory_nodes[i]);
	put_u32(h, (uint32_t)c->n_storage_replicas);
	for (size_t i = 0; i < c->n_storage_replicas; i++)
		put_node(h, c->storage_replicas[i]);
	put_u32(h, c->storage_write_quorum);
}

/* The empty ConfigTx body: sequence, 0 orgs, 0 policies, empty shard map
 * (version 0, 0 nodes), 0 replicas, quorum 0. */
static void put_empty_config(struct hb *h)
{
	put_u64(h, 0);
	put_u32(h, 0);
	put_u32(h, 0);
	put_u64(h, 0);
	put_u32(h, 0);
	put_u32(h, 0);
	put_u32(h, 0);
}

static void put_envelope(struct hb *h, const Flexchain__Envelope *e)
{
	put_u32(h, (uint32_t)e->type);
	put_proposal(h, e->proposal);
	put_bin(h, &e->client_signature);
	put_rwset(h, e->rwset);
	put_bin(h, &e->response);
	put_u32(h, (uint32_t)e->n_endorsements);
	for (size_t i = 0; i < e->n_endorsements; i++) {
		put_bin(h, &e->endorsements[i]->endorser);
		put_bin(h, &e->endorsements[i]->signature);
	}
	if (e->config)
		put_config(h, e->config);
	else
		put_empty_config(h);
}

static void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* --------------------------------------------------------- known answers */

static void test_kat_header(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32];
	fc_test_msgs_init(&m);

	put_tag(&h, "flexchain/v1/header");
	put_u64(&h, m.header.height);
	put_bin(&h, &m.header.prev_hash);
	put_bin(&h, &m.header.data_hash);
	put_bin(&h, &m.header.graph_hash);
	put_u64(&h, m.header.timestamp_ms);
	put_bin(&h, &m.header.orderer);
	sha256(&h, want);
	assert_int_equal(fc_hash_header(&m.header, got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* Frozen vectors, computed outside C (Python hashlib) from the rules in
	 * fc_canon.h: catch a format change made to library and test alike. */
	uint8_t pinned[32];
	hex_to_bytes("d60e783883e3838dbbc0f06bf0437d2c19946cc36217e8bc40e6be5cba199f4e", pinned,
		     32);
	assert_memory_equal(got, pinned, 32);
	hex_to_bytes("b8633304302e37f32de79b3611b61f386b204fd0c934d0ca33124924754beb28", pinned,
		     32);
	assert_int_equal(fc_hash_rwset(&m.rwset[0], got), FC_OK);
	assert_memory_equal(got, pinned, 32);
}

static void test_kat_rwset_proposal_txid(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32];
	char hex[65], hex_want[65];
	fc_test_msgs_init(&m);

	put_tag(&h, "flexchain/v1/rwset");
	put_rwset(&h, &m.rwset[0]);
	sha256(&h, want);
	assert_int_equal(fc_hash_rwset(&m.rwset[0], got), FC_OK);
	assert_memory_equal(got, want, 32);

	put_tag(&h, "flexchain/v1/proposal");
	put_proposal(&h, &m.prop[0]);
	sha256(&h, want);
	assert_int_equal(fc_hash_proposal(&m.prop[0], got), FC_OK);
	assert_memory_equal(got, want, 32);

	put_tag(&h, "flexchain/v1/txid");
	put_bin(&h, &m.prop[0].nonce);
	put_bin(&h, &m.prop[0].creator);
	sha256(&h, want);
	for (int i = 0; i < 32; i++)
		snprintf(hex_want + 2 * i, 3, "%02x", want[i]);
	assert_int_equal(fc_canon_tx_id_of(&m.prop[0], hex), FC_OK);
	assert_string_equal(hex, hex_want);
	assert_int_equal(strlen(hex), FC_TXID_HEX_LEN);
	assert_int_equal(fc_canon_tx_id(m.prop[0].nonce.data, m.prop[0].nonce.len,
					m.prop[0].creator.data, m.prop[0].creator.len, hex),
			 FC_OK);
	assert_string_equal(hex, hex_want);
}

static void test_kat_envelope_data_graph(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32], env_h[2][32];
	fc_test_msgs_init(&m);

	for (int i = 0; i < 2; i++) {
		put_tag(&h, "flexchain/v1/envelope");
		put_envelope(&h, &m.env[i]);
		assert_true(h.n > 256); /* crosses the encoder's internal buffer */
		sha256(&h, env_h[i]);
		assert_int_equal(fc_hash_envelope(&m.env[i], got), FC_OK);
		assert_memory_equal(got, env_h[i], 32);
	}
	put_tag(&h, "flexchain/v1/data");
	put_u32(&h, 2);
	put(&h, env_h[0], 32);
	put(&h, env_h[1], 32);
	sha256(&h, want);
	assert_int_equal(fc_hash_block_data(&m.block, got), FC_OK);
	assert_memory_equal(got, want, 32);

	put_tag(&h, "flexchain/v1/graph");
	put_u32(&h, 2);
	put_u32(&h, 0);
	put_u32(&h, 1);
	put_u32(&h, 0);
	sha256(&h, want);
	assert_int_equal(fc_hash_graph(&m.graph, got), FC_OK);
	assert_memory_equal(got, want, 32);

	put_tag(&h, "flexchain/v1/config");
	put_config(&h, &m.config);
	sha256(&h, want);
	assert_int_equal(fc_hash_config(&m.config, got), FC_OK);
	assert_memory_equal(got, want, 32);
}

static void test_kat_signed_digests(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32], ph[32], rh[32], ch[32];
	fc_test_msgs_init(&m);

	assert_int_equal(fc_hash_proposal(&m.prop[0], ph), FC_OK);
	assert_int_equal(fc_hash_rwset(&m.rwset[0], rh), FC_OK);
	put_tag(&h, "flexchain/v1/endorsement");
	put(&h, ph, 32);
	put(&h, rh, 32);
	put_bin(&h, &m.env[0].response);
	sha256(&h, want);
	assert_int_equal(
	    fc_hash_endorsement(ph, rh, m.env[0].response.data, m.env[0].response.len, got), FC_OK);
	assert_memory_equal(got, want, 32);
	assert_int_equal(fc_hash_endorsement_of(&m.env[0], got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* client signature, normal: no config hash */
	put_tag(&h, "flexchain/v1/client-sig");
	put_u32(&h, 0);
	put(&h, ph, 32);
	sha256(&h, want);
	assert_int_equal(fc_hash_client_sig(&m.env[0], got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* client signature, config: proposal hash then config hash */
	assert_int_equal(fc_hash_proposal(&m.prop[1], ph), FC_OK);
	assert_int_equal(fc_hash_config(&m.config, ch), FC_OK);
	put_tag(&h, "flexchain/v1/client-sig");
	put_u32(&h, 1);
	put(&h, ph, 32);
	put(&h, ch, 32);
	sha256(&h, want);
	assert_int_equal(fc_hash_client_sig(&m.env[1], got), FC_OK);
	assert_memory_equal(got, want, 32);
	/* the config is covered by the client signature */
	m.config.storage_write_quorum = 2;
	assert_int_equal(fc_hash_client_sig(&m.env[1], got), FC_OK);
	assert_memory_not_equal(got, want, 32);
}

static void test_kat_verdict_certificate(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32];
	fc_test_msgs_init(&m);

	put_tag(&h, "flexchain/v1/verdict");
	put_u64(&h, 17);
	put_bin(&h, &m.verdict[0].block_hash);
	put_bin(&h, &m.verdict[0].tx_status);
	put_bin(&h, &m.verdict[0].write_set_hash);
	put_bool(&h, 1);
	put_bin(&h, &m.verdict[0].signer);
	sha256(&h, want);
	assert_int_equal(fc_hash_verdict(&m.verdict[0], got), FC_OK);
	assert_memory_equal(got, want, 32);

	put_tag(&h, "flexchain/v1/certificate");
	put_u64(&h, 17);
	put_bin(&h, &m.cert.block_hash);
	put_bin(&h, &m.cert.verdict_hash);
	put_u32(&h, 2);
	put_str(&h, "compute-1");
	put_str(&h, "compute-2");
	put_bool(&h, 1);
	put_bin(&h, &m.cert.orderer);
	sha256(&h, want);
	assert_int_equal(fc_hash_certificate(&m.cert, got), FC_OK);
	assert_memory_equal(got, want, 32);
}

/* ------------------------------------------------ every field is covered */

typedef int (*hash_fn)(struct fc_test_msgs *m, uint8_t out[32]);
/* Applies mutation i; returns 0 when there is no mutation i. */
typedef int (*mutate_fn)(struct fc_test_msgs *m, int i);

static void assert_each_mutation_changes(hash_fn hash, mutate_fn mutate)
{
	struct fc_test_msgs *m = fc_malloc(sizeof *m);
	uint8_t base[32], got[32];
	int i;
	assert_non_null(m);
	for (i = 0; i < 64; i++) {
		fc_test_msgs_init(m);
		assert_int_equal(hash(m, base), FC_OK);
		if (!mutate(m, i))
			break;
		assert_int_equal(hash(m, got), FC_OK);
		if (memcmp(base, got, 32) == 0)
			fail_msg("mutation %d did not change the hash", i);
	}
	assert_true(i > 0 && i < 64);
	fc_free(m);
}

static int h_header(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_header(&m->header, out);
}

static int mut_header(struct fc_test_msgs *m, int i)
{
	switch (i) {
	case 0:
		m->header.height++;
		break;
	case 1:
		m->prev_hash[0] ^= 1;
		break;
	case 2:
		m->data_hash[31] ^= 1;
		break;
	case 3:
		m->graph_hash[7] ^= 0x80;
		break;
	case 4:
		m->header.timestamp_ms++;
		break;
	case 5:
		m->header.orderer = FC_TEST_BIN("orderer-cerT");
		break;
	case 6:
		m->header.prev_hash.len = 31;
		break;
	case 7:
		m->header.orderer.len = 0;
		break;
	default:
		return 0;
	}
	return 1;
}

static int h_envelope(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_envelope(&m->env[1], out); /* the config one: covers all */
}

static int mut_envelope(struct fc_test_msgs *m, int i)
{
	Flexchain__Envelope *e = &m->env[1];
	switch (i) {
	case 0:
		e->type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
		break;
	case 1:
		m->prop[1].tx_id =
		    "3333333333333333333333333333333333333333333333333333333333333333";
		break;
	case 2:
		m->prop[1].contract = "kv";
		break;
	case 3:
		m->prop[1].function = "get";
		break;
	case 4:
		m->args[1] = FC_TEST_BIN("\x00\x01\x03");
		break;
	case 5:
		m->prop[1].n_args = 1;
		break;
	case 6:
		m->prop[1].nonce = FC_TEST_BIN("nonce-nonce-0003");
		break;
	case 7:
		m->prop[1].creator = FC_TEST_BIN("other-cert");
		break;
	case 8:
		m->prop[1].timestamp_ms++;
		break;
	case 9:
		e->client_signature = FC_TEST_BIN("client-sig-X");
		break;
	case 10:
		m->read[1].key = FC_TEST_BIN("betA");
		break;
	case 11:
		m->read[1].version++;
		break;
	case 12:
		m->rwset[1].n_reads = 0;
		break;
	case 13:
		m->write[2].key = FC_TEST_BIN("zetA");
		break;
	case 14:
		m->write[2].value = FC_TEST_BIN("value-Z");
		break;
	case 15:
		m->write[2].is_delete = 1;
		break;
	case 16:
		m->rwset[1].n_writes = 0;
		break;
	case 17:
		e->response = FC_TEST_BIN("resp-X");
		break;
	case 18:
		m->endo[0].endorser = FC_TEST_BIN("endorser-X");
		break;
	case 19:
		m->endo[0].signature = FC_TEST_BIN("sig-X");
		break;
	case 20:
		e->n_endorsements = 2;
		break;
	case 21:
		m->config.sequence++;
		break;
	case 22:
		m->org[1].name = "Org3";
		break;
	case 23:
		m->org[0].ca_cert = FC_TEST_BIN("ca-X");
		break;
	case 24:
		m->config.n_orgs = 1;
		break;
	case 25:
		m->pol[0].name = "Default";
		break;
	case 26:
		m->pol[1].rule = "OR(Org1,Org2)";
		break;
	case 27:
		m->config.n_policies = 0;
		break;
	case 28:
		m->shard_map.version++;
		break;
	case 29:
		m->node[0].id = "mem9";
		break;
	case 30:
		m->node[1].host = "127.0.0.2";
		break;
	case 31:
		m->node[0].port++;
		break;
	case 32:
		m->shard_map.n_memory_nodes = 1;
		break;
	case 33:
		m->node[2].port++;
		break;
	case 34:
		m->config.n_storage_replicas = 0;
		break;
	case 35:
		m->config.storage_write_quorum++;
		break;
	case 36:
		m->config.shard_map = NULL;
		break;
	case 37:
		e->config = NULL;
		break;
	case 38:
		e->rwset = NULL;
		break;
	/* length prefixes keep field boundaries: "value-g"+"" vs "value-"+"g" */
	case 39:
		m->args[0] = FC_TEST_BIN("arg-on");
		m->args[1] = FC_TEST_BIN("e\x00\x01\x02");
		break;
	case 40:
		m->node[0].data_port++;
		break;
	case 41:
		m->node[2].metrics_port++;
		break;
	default:
		return 0;
	}
	return 1;
}

static int h_verdict(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_verdict(&m->verdict[0], out);
}

static int mut_verdict(struct fc_test_msgs *m, int i)
{
	Flexchain__Verdict *v = &m->verdict[0];
	switch (i) {
	case 0:
		v->height++;
		break;
	case 1:
		m->block_hash[3] ^= 1;
		break;
	case 2:
		m->tx_status[1] = FLEXCHAIN__TX_STATUS__TX_VALID;
		break;
	case 3:
		v->tx_status.len = 1;
		break;
	case 4:
		m->ws_hash[0] ^= 1;
		break;
	case 5:
		v->storage_validated = 0;
		break;
	case 6:
		v->signer = FC_TEST_BIN("validator-9");
		break;
	default:
		return 0;
	}
	return 1;
}

static int h_cert(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_certificate(&m->cert, out);
}

static int mut_cert(struct fc_test_msgs *m, int i)
{
	switch (i) {
	case 0:
		m->cert.height++;
		break;
	case 1:
		m->cert.block_hash.len = 31;
		break;
	case 2:
		m->verdict_hash[9] ^= 1;
		break;
	case 3:
		m->committee[1] = "compute-3";
		break;
	case 4:
		m->cert.n_committee = 1;
		break;
	case 5:
		m->cert.storage_validated = 0;
		break;
	case 6:
		m->cert.orderer = FC_TEST_BIN("orderer-2");
		break;
	/* committee boundaries: ["compute-1","compute-2"] vs ["compute-1compute-2"] */
	case 7:
		m->committee[0] = "compute-1compute-2";
		m->cert.n_committee = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

static int h_graph(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_graph(&m->graph, out);
}

static int mut_graph(struct fc_test_msgs *m, int i)
{
	switch (i) {
	case 0:
		m->txdeps[1].n_deps = 0;
		break;
	case 1:
		m->deps1[0] = 1;
		break;
	case 2:
		m->graph.n_txs = 1;
		break;
	/* [[], [0]] vs [[0], []] */
	case 3:
		m->txdeps[0].n_deps = 1;
		m->txdeps[0].deps = m->deps1;
		m->txdeps[1].n_deps = 0;
		break;
	default:
		return 0;
	}
	return 1;
}

static int h_data(struct fc_test_msgs *m, uint8_t out[32])
{
	return fc_hash_block_data(&m->block, out);
}

static int mut_data(struct fc_test_msgs *m, int i)
{
	switch (i) {
	case 0:
		m->block.n_envelopes = 1;
		break;
	case 1:
		m->envp[0] = &m->env[1];
		m->envp[1] = &m->env[0];
		break;
	case 2:
		m->write[0].value = FC_TEST_BIN("value-b");
		break;
	case 3:
		m->env[0].client_signature = FC_TEST_BIN("client-sig-0");
		break;
	default:
		return 0;
	}
	return 1;
}

static void test_every_field_changes_hash(void **state)
{
	(void)state;
	assert_each_mutation_changes(h_header, mut_header);
	assert_each_mutation_changes(h_envelope, mut_envelope);
	assert_each_mutation_changes(h_verdict, mut_verdict);
	assert_each_mutation_changes(h_cert, mut_cert);
	assert_each_mutation_changes(h_graph, mut_graph);
	assert_each_mutation_changes(h_data, mut_data);
}

static void test_excluded_fields_do_not_change_hash(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	uint8_t a[32], b[32];
	fc_test_msgs_init(&m);

	assert_int_equal(fc_hash_header(&m.header, a), FC_OK);
	m.header.signature = FC_TEST_BIN("other-sig");
	assert_int_equal(fc_hash_header(&m.header, b), FC_OK);
	assert_memory_equal(a, b, 32);

	assert_int_equal(fc_hash_verdict(&m.verdict[0], a), FC_OK);
	m.verdict[0].signature = FC_TEST_BIN("other-sig");
	assert_int_equal(fc_hash_verdict(&m.verdict[0], b), FC_OK);
	assert_memory_equal(a, b, 32);

	assert_int_equal(fc_hash_certificate(&m.cert, a), FC_OK);
	m.cert.signature = FC_TEST_BIN("other-sig");
	m.cert.n_verdicts = 1;
	assert_int_equal(fc_hash_certificate(&m.cert, b), FC_OK);
	assert_memory_equal(a, b, 32);

	/* domain separation: same body, different kinds, different hashes */
	Flexchain__RWSet empty_rw = FLEXCHAIN__RWSET__INIT;
	Flexchain__DependencyGraph empty_g = FLEXCHAIN__DEPENDENCY_GRAPH__INIT;
	assert_int_equal(fc_hash_rwset(&empty_rw, a), FC_OK);
	assert_int_equal(fc_hash_graph(&empty_g, b), FC_OK);
	assert_memory_not_equal(a, b, 32);
}

static void test_absent_submessage_is_empty(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	uint8_t a[32], b[32];
	Flexchain__RWSet empty_rw = FLEXCHAIN__RWSET__INIT;
	Flexchain__ConfigTx empty_cfg = FLEXCHAIN__CONFIG_TX__INIT;
	Flexchain__ShardMap empty_sm = FLEXCHAIN__SHARD_MAP__INIT;
	Flexchain__DependencyGraph empty_g = FLEXCHAIN__DEPENDENCY_GRAPH__INIT;
	fc_test_msgs_init(&m);

	m.env[0].rwset = NULL;
	assert_int_equal(fc_hash_envelope(&m.env[0], a), FC_OK);
	m.env[0].rwset = &empty_rw;
	assert_int_equal(fc_hash_envelope(&m.env[0], b), FC_OK);
	assert_memory_equal(a, b, 32);

	m.env[0].config = &empty_cfg;
	assert_int_equal(fc_hash_envelope(&m.env[0], b), FC_OK);
	assert_memory_equal(a, b, 32);

	m.config.shard_map = NULL;
	assert_int_equal(fc_hash_config(&m.config, a), FC_OK);
	m.config.shard_map = &empty_sm;
	assert_int_equal(fc_hash_config(&m.config, b), FC_OK);
	assert_memory_equal(a, b, 32);

	assert_int_equal(fc_hash_graph(NULL, a), FC_OK);
	assert_int_equal(fc_hash_graph(&empty_g, b), FC_OK);
	assert_memory_equal(a, b, 32);

	/* a NULL string field is the empty string */
	m.prop[0].contract = NULL;
	assert_int_equal(fc_hash_proposal(&m.prop[0], a), FC_OK);
	m.prop[0].contract = "";
	assert_int_equal(fc_hash_proposal(&m.prop[0], b), FC_OK);
	assert_memory_equal(a, b, 32);
}

/* NodeAddr.metrics_port (5) is a u32 after data_port, always written: 0 is
 * u32 0, and a NodeAddr whose protobuf bytes lack field 5 hashes as 0. */
static void test_node_metrics_port(void **state)
{
	(void)state;
	Flexchain__NodeAddr node = FLEXCHAIN__NODE_ADDR__INIT, *nodes[] = {&node};
	Flexchain__ConfigTx cfg = FLEXCHAIN__CONFIG_TX__INIT;
	ProtobufCMessage *dec = NULL;
	uint8_t pinned[32], got[32], with[32], buf[256];
	struct hb h;
	size_t len;

	node.id = "sto9";
	node.host = "h";
	node.port = 1;
	cfg.sequence = 7;
	cfg.storage_replicas = nodes;
	cfg.n_storage_replicas = 1;
	cfg.storage_write_quorum = 1;

	/* byte by byte: tag, seq, orgs, policies, empty shard map, replicas
	 * (id, host, port, data_port, metrics_port), quorum */
	put_tag(&h, "flexchain/v1/config");
	put_u64(&h, 7);
	put_u32(&h, 0);
	put_u32(&h, 0);
	put_u64(&h, 0);
	put_u32(&h, 0);
	put_u32(&h, 1);
	put_u32(&h, 4);
	put(&h, "sto9", 4);
	put_u32(&h, 1);
	put(&h, "h", 1);
	put_u32(&h, 1);
	put_u32(&h, 0);
	put_u32(&h, 0);
	put_u32(&h, 1);
	assert_int_equal(h.n, 81);
	sha256(&h, pinned);
	assert_int_equal(fc_hash_config(&cfg, got), FC_OK);
	assert_memory_equal(got, pinned, 32);
	/* frozen (Python hashlib) from the rules in fc_canon.h */
	hex_to_bytes("141dd6d52cb5c7d912fdcdeaa7b6e329acf574a1e0b7eeca8b8491d927f6a035", pinned,
		     32);
	assert_memory_equal(got, pinned, 32);

	/* proto3: metrics_port 0 is not on the wire; decoding gives 0 again */
	len = flexchain__config_tx__get_packed_size(&cfg);
	assert_true(len <= sizeof buf);
	flexchain__config_tx__pack(&cfg, buf);
	assert_int_equal(
	    fc_wire_decode(&flexchain__config_tx__descriptor, buf, len, len, &dec, NULL), FC_OK);
	assert_int_equal(((Flexchain__ConfigTx *)dec)->storage_replicas[0]->metrics_port, 0);
	assert_int_equal(fc_hash_config((Flexchain__ConfigTx *)dec, got), FC_OK);
	assert_memory_equal(got, pinned, 32);
	fc_wire_free(dec);

	node.metrics_port = 9100;
	assert_int_equal(fc_hash_config(&cfg, with), FC_OK);
	assert_memory_not_equal(with, pinned, 32);
	hex_to_bytes("793bf0a72e39d88e535ce203eaa8cbcbba67064de794cb68f9db51939c4de905", pinned,
		     32);
	assert_memory_equal(with, pinned, 32);
	node.metrics_port = 9101;
	assert_int_equal(fc_hash_config(&cfg, got), FC_OK);
	assert_memory_not_equal(got, with, 32);
}

/* ------------------------------------- independent of protobuf encoding */

static void decode_header(const uint8_t *p, size_t n, uint8_t out[32])
{
	ProtobufCMessage *msg = NULL;
	assert_int_equal(fc_wire_decode(&flexchain__block_header__descriptor, p, n, n, &msg, NULL),
			 FC_OK);
	assert_int_equal(fc_hash_header((Flexchain__BlockHeader *)msg, out), FC_OK);
	fc_wire_free(msg);
}

static void test_hash_ignores_protobuf_encoding(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	uint8_t want[32], got[32], *enc, *enc2;
	size_t len, len2;
	uint8_t buf[1024];
	fc_test_msgs_init(&m);
	assert_int_equal(fc_hash_header(&m.header, want), FC_OK);
	assert_int_equal(fc_wire_encode(&m.header.base, &enc, &len, NULL), FC_OK);
	assert_true(len + 16 < sizeof buf);

	decode_header(enc, len, got);
	assert_memory_equal(got, want, 32);

	/* unknown fields: 99 (varint) and 100 (length-delimited) appended */
	memcpy(buf, enc, len);
	const uint8_t unknown[] = {0x98, 0x06, 0x2a, 0xa2, 0x06, 0x03, 'x', 'y', 'z'};
	memcpy(buf + len, unknown, sizeof unknown);
	decode_header(buf, len + sizeof unknown, got);
	assert_memory_equal(got, want, 32);

	/* unknown fields first, then an explicit default (field 5 = 0) before
	 * the real fields: protobuf merges, the last value of field 5 wins */
	memcpy(buf, unknown, sizeof unknown);
	const uint8_t zero_ts[] = {0x28, 0x00};
	memcpy(buf + sizeof unknown, zero_ts, sizeof zero_ts);
	memcpy(buf + sizeof unknown + sizeof zero_ts, enc, len);
	decode_header(buf, sizeof unknown + sizeof zero_ts + len, got);
	assert_memory_equal(got, want, 32);

	/* field order reversed: encode the tail fields alone, then the head */
	Flexchain__BlockHeader tail = FLEXCHAIN__BLOCK_HEADER__INIT;
	tail.timestamp_ms = m.header.timestamp_ms;
	tail.orderer = m.header.orderer;
	tail.signature = m.header.signature;
	Flexchain__BlockHeader head = m.header;
	head.timestamp_ms = 0;
	head.orderer = (ProtobufCBinaryData){0, NULL};
	head.signature = (ProtobufCBinaryData){0, NULL};
	assert_int_equal(fc_wire_encode(&tail.base, &enc2, &len2, NULL), FC_OK);
	fc_free(enc);
	assert_int_equal(fc_wire_encode(&head.base, &enc, &len, NULL), FC_OK);
	assert_true(len + len2 <= sizeof buf);
	memcpy(buf, enc2, len2);
	memcpy(buf + len2, enc, len);
	decode_header(buf, len + len2, got);
	assert_memory_equal(got, want, 32);
	fc_free(enc);
	fc_free(enc2);

	/* the same holds for a whole block: data hash over decoded envelopes
	 * with an unknown field inside the first envelope's proposal */
	ProtobufCMessage *msg = NULL;
	assert_int_equal(fc_hash_block_data(&m.block, want), FC_OK);
	ProtobufCMessageUnknownField uf = {.tag = 99,
					   .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT,
					   .len = 1,
					   .data = (uint8_t *)"\x2a"};
	m.prop[0].base.n_unknown_fields = 1;
	m.prop[0].base.unknown_fields = &uf;
	assert_int_equal(fc_wire_encode(&m.block.base, &enc, &len, NULL), FC_OK);
	assert_int_equal(fc_wire_decode(&flexchain__block__descriptor, enc, len, len, &msg, NULL),
			 FC_OK);
	assert_int_equal(fc_hash_block_data((Flexchain__Block *)msg, got), FC_OK);
	assert_memory_equal(got, want, 32);
	fc_wire_free(msg);
	fc_free(enc);
}

/* ---------------------------------------------------------- write-set hash */

static void test_write_set_hash(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	struct hb h;
	uint8_t want[32], got[32], st[2];
	fc_test_msgs_init(&m);

	/* tx 0 valid, tx 1 invalid: only tx 0's writes, with its index */
	st[0] = FLEXCHAIN__TX_STATUS__TX_VALID;
	st[1] = FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT;
	put_tag(&h, "flexchain/v1/write-set");
	put_u32(&h, 1);
	put_u32(&h, 0);
	put_u32(&h, 2);
	for (int i = 0; i < 2; i++) {
		put_bin(&h, &m.write[i].key);
		put_bin(&h, &m.write[i].value);
		put_bool(&h, m.write[i].is_delete);
	}
	sha256(&h, want);
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* the invalid transaction's writes do not matter */
	m.write[2].value = FC_TEST_BIN("something else");
	m.rwset[1].n_writes = 0;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_equal(got, want, 32);
	/* nor does the reason it is invalid */
	st[1] = FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_equal(got, want, 32);
	/* nor reads of the valid one */
	m.read[0].version++;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* a valid transaction's write does */
	m.write[0].is_delete = 1;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_not_equal(got, want, 32);
	m.write[0].is_delete = 0;

	/* nothing valid */
	st[0] = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
	put_tag(&h, "flexchain/v1/write-set");
	put_u32(&h, 0);
	sha256(&h, want);
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, got), FC_OK);
	assert_memory_equal(got, want, 32);

	/* the index is part of it: same writes from tx 1 differ from tx 0 */
	uint8_t only0[32], only1[32];
	m.rwset[1] = m.rwset[0];
	st[0] = FLEXCHAIN__TX_STATUS__TX_VALID;
	st[1] = FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, only0), FC_OK);
	st[0] = FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD;
	st[1] = FLEXCHAIN__TX_STATUS__TX_VALID;
	assert_int_equal(fc_hash_write_set(&m.block, st, 2, only1), FC_OK);
	assert_memory_not_equal(only0, only1, 32);

	/* the bitmap must cover the block exactly */
	assert_int_equal(fc_hash_write_set(&m.block, st, 1, got), FC_EINVAL);
	assert_int_equal(fc_hash_write_set(&m.block, NULL, 2, got), FC_EINVAL);
	assert_int_equal(fc_hash_write_set(NULL, st, 2, got), FC_EINVAL);
}

/* ------------------------------------------------------- encoder, errors */

static void test_encoder_and_errors(void **state)
{
	(void)state;
	struct fc_canon_enc e;
	struct hb h;
	uint8_t want[32], got[32];
	static uint8_t big[5000];

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	/* a custom kind, mixing small fields with a large byte string */
	put_tag(&h, "flexchain/v1/test");
	put_u64(&h, 0x0102030405060708ull);
	put_u32(&h, 0xa0b0c0d0u);
	put_bool(&h, 1);
	put_u32(&h, sizeof big);
	put(&h, big, sizeof big);
	put_str(&h, "");
	put_str(&h, "tail");
	put_u32(&h, 3);
	uint8_t hh[32];
	memset(hh, 0x5a, 32);
	put(&h, hh, 32);
	sha256(&h, want);

	assert_int_equal(fc_canon_enc_init(&e, "flexchain/v1/test"), FC_OK);
	fc_canon_enc_u64(&e, 0x0102030405060708ull);
	fc_canon_enc_u32(&e, 0xa0b0c0d0u);
	fc_canon_enc_bool(&e, 42);
	fc_canon_enc_bytes(&e, big, sizeof big);
	fc_canon_enc_str(&e, NULL);
	fc_canon_enc_str(&e, "tail");
	fc_canon_enc_count(&e, 3);
	fc_canon_enc_h32(&e, hh);
	assert_int_equal(fc_canon_enc_final(&e, got), FC_OK);
	assert_memory_equal(got, want, 32);
	/* final released the encoder */
	assert_int_not_equal(fc_canon_enc_u64(&e, 1), FC_OK);
	fc_canon_enc_abort(&e);

	/* sticky error: NULL data with a length */
	assert_int_equal(fc_canon_enc_init(&e, "x"), FC_OK);
	assert_int_equal(fc_canon_enc_bytes(&e, NULL, 3), FC_EINVAL);
	assert_int_equal(fc_canon_enc_u64(&e, 1), FC_EINVAL);
	assert_int_equal(fc_canon_enc_final(&e, got), FC_EINVAL);

	/* abandon without final, twice */
	assert_int_equal(fc_canon_enc_init(&e, "x"), FC_OK);
	fc_canon_enc_u32(&e, 1);
	fc_canon_enc_abort(&e);
	fc_canon_enc_abort(&e);

	assert_int_equal(fc_canon_enc_init(&e, NULL), FC_EINVAL);
	assert_int_equal(fc_canon_enc_final(&e, got), FC_EINVAL);

	/* NULL required parts */
	struct fc_test_msgs m;
	char id[FC_TXID_HEX_LEN + 1];
	fc_test_msgs_init(&m);
	assert_int_equal(fc_hash_header(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_header(&m.header, NULL), FC_EINVAL);
	assert_int_equal(fc_hash_proposal(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_rwset(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_config(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_verdict(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_certificate(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_envelope(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_block_data(NULL, got), FC_EINVAL);
	assert_int_equal(fc_hash_envelopes(NULL, 2, got), FC_EINVAL);
	assert_int_equal(fc_hash_endorsement(NULL, got, NULL, 0, got), FC_EINVAL);
	assert_int_equal(fc_hash_endorsement(got, got, NULL, 1, got), FC_EINVAL);
	assert_int_equal(fc_canon_tx_id(NULL, 4, NULL, 0, id), FC_EINVAL);
	assert_int_equal(fc_canon_tx_id_of(NULL, id), FC_EINVAL);
	m.env[0].proposal = NULL;
	assert_int_equal(fc_hash_client_sig(&m.env[0], got), FC_EINVAL);
	assert_int_equal(fc_hash_endorsement_of(&m.env[0], got), FC_EINVAL);
	/* but an envelope without a proposal still has a (data) hash */
	assert_int_equal(fc_hash_envelope(&m.env[0], got), FC_OK);
}

static void test_version_pack(void **state)
{
	(void)state;
	uint64_t h;
	uint32_t i;
	uint64_t v = fc_version_pack(17, 5);
	assert_int_equal(v, (17ull << 32) | 5);
	fc_version_unpack(v, &h, &i);
	assert_int_equal(h, 17);
	assert_int_equal(i, 5);
	v = fc_version_pack(0xffffffffull, 0xffffffffu);
	fc_version_unpack(v, &h, &i);
	assert_int_equal(h, 0xffffffffull);
	assert_int_equal(i, 0xffffffffu);
	/* ordered by height first, then index */
	assert_true(fc_version_pack(3, 0xffffffffu) < fc_version_pack(4, 0));
	fc_version_unpack(v, NULL, NULL);
}

static void test_block_hash_check(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	char err[FC_ERRMSG_LEN] = "";
	fc_test_msgs_init(&m);
	assert_int_equal(fc_canon_check_block_hashes(&m.block, err), FC_EMISMATCH);
	assert_non_null(strstr(err, "block 17: data hash mismatch"));
	assert_int_equal(fc_hash_block_data(&m.block, m.data_hash), FC_OK);
	assert_int_equal(fc_canon_check_block_hashes(&m.block, err), FC_EMISMATCH);
	assert_non_null(strstr(err, "graph hash mismatch"));
	assert_int_equal(fc_hash_graph(m.block.graph, m.graph_hash), FC_OK);
	assert_int_equal(fc_canon_check_block_hashes(&m.block, err), FC_OK);
	m.deps1[0] = 1;
	assert_int_equal(fc_canon_check_block_hashes(&m.block, err), FC_EMISMATCH);
	m.block.header = NULL;
	assert_int_equal(fc_canon_check_block_hashes(&m.block, err), FC_EINVAL);
}

/* ------------------------------------------------------ structural checks */

enum check_kind { CK_BLOCK, CK_VERDICT, CK_CERT };

struct bad_case {
	const char *name;
	enum check_kind kind;
	void (*apply)(struct fc_test_msgs *m);
	const char *want; /* substring of the error message */
};

static uint8_t short_hash[31];

static void b_no_header(struct fc_test_msgs *m)
{
	m->block.header = NULL;
}
static void b_prev_short(struct fc_test_msgs *m)
{
	m->header.prev_hash.len = 31;
}
static void b_data_short(struct fc_test_msgs *m)
{
	m->header.data_hash.len = 33;
}
static void b_graph_empty(struct fc_test_msgs *m)
{
	m->header.graph_hash.len = 0;
}
static void b_genesis_prev(struct fc_test_msgs *m)
{
	m->header.height = 0;
}
static void b_graph_count(struct fc_test_msgs *m)
{
	m->graph.n_txs = 1;
}
static void b_graph_absent(struct fc_test_msgs *m)
{
	m->block.graph = NULL;
}
static void b_dep_self(struct fc_test_msgs *m)
{
	m->deps1[0] = 1;
}
static void b_dep_forward(struct fc_test_msgs *m)
{
	m->txdeps[0].n_deps = 1;
	m->txdeps[0].deps = m->deps1;
}
static uint32_t dup_deps[2] = {0, 0};
static void b_dep_dup(struct fc_test_msgs *m)
{
	m->txdeps[1].n_deps = 2;
	m->txdeps[1].deps = dup_deps;
}
static void b_no_proposal(struct fc_test_msgs *m)
{
	m->env[1].proposal = NULL;
}
static void b_bad_txid(struct fc_test_msgs *m)
{
	m->prop[1].tx_id = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
}
static void b_short_txid(struct fc_test_msgs *m)
{
	m->prop[0].tx_id = "abc";
}
static void b_reads_unsorted(struct fc_test_msgs *m)
{
	m->readp[0] = &m->read[1];
	m->readp[1] = &m->read[0];
}
static void b_writes_unsorted(struct fc_test_msgs *m)
{
	m->writep[1] = &m->write[0];
	m->writep[0] = &m->write[1];
}
static void b_writes_dup(struct fc_test_msgs *m)
{
	m->write[1].key = FC_TEST_BIN("alpha");
}
static void b_writes_prefix(struct fc_test_msgs *m)
{
	/* "alpha" then "alph": the shorter key must come first */
	m->write[1].key = FC_TEST_BIN("alph");
}
static void b_config_missing(struct fc_test_msgs *m)
{
	m->env[1].config = NULL;
}
static void b_config_on_normal(struct fc_test_msgs *m)
{
	m->env[0].config = &m->config;
}
static void b_bad_type(struct fc_test_msgs *m)
{
	m->env[0].type = (Flexchain__TxType)7;
}
static void b_endorsement_nosig(struct fc_test_msgs *m)
{
	m->endo[1].signature.len = 0;
}
static void b_endorsement_null(struct fc_test_msgs *m)
{
	m->endop[1] = NULL;
}
static void b_env_null(struct fc_test_msgs *m)
{
	m->envp[1] = NULL;
}

static void v_short_hash(struct fc_test_msgs *m)
{
	m->verdict[0].block_hash = (ProtobufCBinaryData){31, short_hash};
}
static void v_no_ws(struct fc_test_msgs *m)
{
	m->verdict[0].write_set_hash.len = 0;
}
static void v_count(struct fc_test_msgs *m)
{
	m->verdict[0].tx_status.len = 1;
}
static void v_unknown(struct fc_test_msgs *m)
{
	m->tx_status[1] = 0;
}
static void v_out_of_range(struct fc_test_msgs *m)
{
	m->tx_status[0] = 8;
}

static void c_no_verdicts(struct fc_test_msgs *m)
{
	m->cert.n_verdicts = 0;
}
static void c_other_block(struct fc_test_msgs *m)
{
	m->verdict[1].height = 18;
}
static void c_short(struct fc_test_msgs *m)
{
	m->cert.verdict_hash.len = 3;
}
static void c_not_storage(struct fc_test_msgs *m)
{
	m->verdict[1].storage_validated = 0;
}
static void c_bad_verdict(struct fc_test_msgs *m)
{
	m->tx_status[0] = 99;
}

static const struct bad_case bad_cases[] = {
    {"no header", CK_BLOCK, b_no_header, "no header"},
    {"prev short", CK_BLOCK, b_prev_short, "block 17: prev_hash is 31 bytes"},
    {"data long", CK_BLOCK, b_data_short, "data_hash is 33 bytes"},
    {"graph empty", CK_BLOCK, b_graph_empty, "graph_hash is 0 bytes"},
    {"genesis prev", CK_BLOCK, b_genesis_prev, "block 0: prev_hash is not zero"},
    {"graph count", CK_BLOCK, b_graph_count, "graph has 1 entries for 2 transactions"},
    {"graph absent", CK_BLOCK, b_graph_absent, "graph has 0 entries for 2"},
    {"dep self", CK_BLOCK, b_dep_self, "graph tx 1: dep 1 at 0 not before the tx"},
    {"dep forward", CK_BLOCK, b_dep_forward, "graph tx 0: dep 0"},
    {"dep dup", CK_BLOCK, b_dep_dup, "graph tx 1: deps not strictly increasing at 1"},
    {"no proposal", CK_BLOCK, b_no_proposal, "block 17: envelope 1: no proposal"},
    {"bad txid", CK_BLOCK, b_bad_txid, "envelope 1: proposal tx_id"},
    {"short txid", CK_BLOCK, b_short_txid, "envelope 0: proposal tx_id"},
    {"reads unsorted", CK_BLOCK, b_reads_unsorted, "envelope 0: rwset read keys not sorted at 1"},
    {"writes unsorted", CK_BLOCK, b_writes_unsorted,
     "envelope 0: rwset write keys not sorted at 1"},
    {"writes dup", CK_BLOCK, b_writes_dup, "envelope 0: rwset write keys duplicate at 1"},
    {"writes prefix", CK_BLOCK, b_writes_prefix, "rwset write keys not sorted at 1"},
    {"config missing", CK_BLOCK, b_config_missing, "envelope 1: config transaction without"},
    {"config on normal", CK_BLOCK, b_config_on_normal, "envelope 0: normal transaction carries"},
    {"bad type", CK_BLOCK, b_bad_type, "envelope 0: unknown tx type 7"},
    {"endorsement no sig", CK_BLOCK, b_endorsement_nosig, "envelope 0: endorsement 1: no sig"},
    {"endorsement null", CK_BLOCK, b_endorsement_null, "endorsement 1: missing"},
    {"envelope null", CK_BLOCK, b_env_null, "envelope 1: missing"},
    {"verdict short hash", CK_VERDICT, v_short_hash, "verdict 17: block_hash is 31 bytes"},
    {"verdict no ws", CK_VERDICT, v_no_ws, "write_set_hash is 0 bytes"},
    {"verdict count", CK_VERDICT, v_count, "tx_status has 1 entries for 2 transactions"},
    {"verdict unknown", CK_VERDICT, v_unknown, "verdict 17: tx 1: bad status 0"},
    {"verdict range", CK_VERDICT, v_out_of_range, "tx 0: bad status 8"},
    {"cert no verdicts", CK_CERT, c_no_verdicts, "certificate 17: no verdicts"},
    {"cert other block", CK_CERT, c_other_block, "verdict 1: judges another block"},
    {"cert short", CK_CERT, c_short, "certificate 17: verdict_hash is 3 bytes"},
    {"cert not storage", CK_CERT, c_not_storage, "verdict 1: not storage-validated"},
    {"cert bad verdict", CK_CERT, c_bad_verdict, "certificate 17: verdict 0: verdict 17: tx 0"},
};

static int run_check(struct fc_test_msgs *m, enum check_kind k, char *err)
{
	switch (k) {
	case CK_BLOCK:
		return fc_wire_check_block(&m->block, err);
	case CK_VERDICT:
		return fc_wire_check_verdict(&m->verdict[0], 2, err);
	default:
		return fc_wire_check_certificate(&m->cert, err);
	}
}

static void test_structural_checks(void **state)
{
	(void)state;
	struct fc_test_msgs m;
	char err[FC_ERRMSG_LEN];

	/* the fixture passes every check */
	fc_test_msgs_init(&m);
	for (int k = CK_BLOCK; k <= CK_CERT; k++) {
		err[0] = '\0';
		if (run_check(&m, (enum check_kind)k, err) != FC_OK)
			fail_msg("fixture fails check %d: %s", k, err);
	}
	assert_int_equal(fc_wire_check_verdict(&m.verdict[0], FC_WIRE_ANY_COUNT, err), FC_OK);
	/* a genesis block with zero prev_hash and no transactions is fine */
	memset(m.prev_hash, 0, 32);
	m.header.height = 0;
	m.block.n_envelopes = 0;
	m.block.graph = NULL;
	assert_int_equal(fc_wire_check_block(&m.block, err), FC_OK);

	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		fc_test_msgs_init(&m);
		c->apply(&m);
		err[0] = '\0';
		int rc = run_check(&m, c->kind, err);
		if (rc != FC_EPROTO)
			fail_msg("case '%s': rc %d (%s)", c->name, rc, err);
		if (!strstr(err, c->want))
			fail_msg("case '%s': message '%s' lacks '%s'", c->name, err, c->want);
	}

	/* NULL messages and NULL errmsg */
	assert_int_equal(fc_wire_check_block(NULL, NULL), FC_EINVAL);
	assert_int_equal(fc_wire_check_envelope(NULL, NULL), FC_EINVAL);
	assert_int_equal(fc_wire_check_rwset(NULL, NULL), FC_EINVAL);
	assert_int_equal(fc_wire_check_verdict(NULL, 0, NULL), FC_EINVAL);
	assert_int_equal(fc_wire_check_certificate(NULL, NULL), FC_EINVAL);
	fc_test_msgs_init(&m);
	m.header.prev_hash.len = 1;
	assert_int_equal(fc_wire_check_block(&m.block, NULL), FC_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kat_header),
	    cmocka_unit_test(test_kat_rwset_proposal_txid),
	    cmocka_unit_test(test_kat_envelope_data_graph),
	    cmocka_unit_test(test_kat_signed_digests),
	    cmocka_unit_test(test_kat_verdict_certificate),
	    cmocka_unit_test(test_every_field_changes_hash),
	    cmocka_unit_test(test_excluded_fields_do_not_change_hash),
	    cmocka_unit_test(test_absent_submessage_is_empty),
	    cmocka_unit_test(test_node_metrics_port),
	    cmocka_unit_test(test_hash_ignores_protobuf_encoding),
	    cmocka_unit_test(test_write_set_hash),
	    cmocka_unit_test(test_encoder_and_errors),
	    cmocka_unit_test(test_version_pack),
	    cmocka_unit_test(test_block_hash_check),
	    cmocka_unit_test(test_structural_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
