/* fc_test_msgs.h - a hand-built instance of every flexchain message, for unit
 * tests (header-only; every function static).
 *
 *   struct fc_test_msgs m;
 *   fc_test_msgs_init(&m);
 *
 * All messages live inside the struct (no allocation); byte fields point at
 * string literals or arrays inside the struct, so the struct must not be
 * copied or moved after init. Every field of every message holds a
 * non-default value. The block (m.block) is structurally valid (passes
 * fc_wire_check_block) with two envelopes: 0 is TX_NORMAL, 1 is TX_CONFIG and
 * depends on 0. Its data_hash and graph_hash are placeholders (0x11.., 0x22..);
 * a test that needs the real ones computes them with fc_canon.h.
 */
#ifndef FC_TEST_MSGS_H
#define FC_TEST_MSGS_H

#include <stdint.h>
#include <string.h>

#include "flexchain.pb-c.h"

#define FC_TEST_BIN(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})

struct fc_test_msgs {
	ProtobufCBinaryData args[2];
	Flexchain__Proposal prop[2];
	Flexchain__KVRead read[2], *readp[2];
	Flexchain__KVWrite write[3], *writep[3];
	Flexchain__RWSet rwset[2];
	Flexchain__Endorsement endo[2], *endop[2];
	Flexchain__OrgDef org[2], *orgp[2];
	Flexchain__PolicyDef pol[2], *polp[2];
	Flexchain__NodeAddr node[3], *memp[2], *repp[1];
	Flexchain__ShardMap shard_map;
	Flexchain__ConfigTx config;
	Flexchain__Envelope env[2], *envp[2];
	uint32_t deps1[1];
	Flexchain__TxDeps txdeps[2], *txdepsp[2];
	Flexchain__DependencyGraph graph;
	uint8_t prev_hash[32], data_hash[32], graph_hash[32];
	Flexchain__BlockHeader header;
	Flexchain__Block block;
	uint8_t tx_status[2], block_hash[32], ws_hash[32], verdict_hash[32];
	Flexchain__Verdict verdict[2], *verdictp[2];
	char *committee[2];
	Flexchain__CommitCertificate cert;
	Flexchain__Register reg;
	Flexchain__Heartbeat hb;
	Flexchain__Deregister dereg;
	Flexchain__Error error;
	Flexchain__ControlMessage ctl;
};

static void fc_test_msgs_init(struct fc_test_msgs *m)
{
	memset(m, 0, sizeof *m);

	m->args[0] = FC_TEST_BIN("arg-one");
	m->args[1] = FC_TEST_BIN("\x00\x01\x02");
	for (int i = 0; i < 2; i++) {
		Flexchain__Proposal *p = &m->prop[i];
		flexchain__proposal__init(p);
		p->tx_id = i ? "2222222222222222222222222222222222222222222222222222222222222222"
			     : "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
		p->contract = i ? "_config" : "kv";
		p->function = i ? "update" : "put";
		p->n_args = 2;
		p->args = m->args;
		p->nonce = i ? FC_TEST_BIN("nonce-nonce-0002") : FC_TEST_BIN("nonce-nonce-0001");
		p->creator = FC_TEST_BIN("creator-cert-der");
		p->timestamp_ms = 1700000000123ull + (uint64_t)i;
	}

	flexchain__kvread__init(&m->read[0]);
	m->read[0].key = FC_TEST_BIN("alpha");
	m->read[0].version = (5ull << 32) | 3;
	flexchain__kvread__init(&m->read[1]);
	m->read[1].key = FC_TEST_BIN("beta");
	m->read[1].version = (6ull << 32) | 1;
	flexchain__kvwrite__init(&m->write[0]);
	m->write[0].key = FC_TEST_BIN("alpha");
	m->write[0].value = FC_TEST_BIN("value-a");
	flexchain__kvwrite__init(&m->write[1]);
	m->write[1].key = FC_TEST_BIN("gamma");
	m->write[1].value = FC_TEST_BIN("value-g");
	m->write[1].is_delete = 1;
	flexchain__kvwrite__init(&m->write[2]);
	m->write[2].key = FC_TEST_BIN("zeta");
	m->write[2].value = FC_TEST_BIN("value-z");
	for (int i = 0; i < 2; i++)
		m->readp[i] = &m->read[i];
	for (int i = 0; i < 3; i++)
		m->writep[i] = &m->write[i];
	flexchain__rwset__init(&m->rwset[0]);
	m->rwset[0].n_reads = 2;
	m->rwset[0].reads = m->readp;
	m->rwset[0].n_writes = 2;
	m->rwset[0].writes = m->writep;
	flexchain__rwset__init(&m->rwset[1]);
	m->rwset[1].n_reads = 1;
	m->rwset[1].reads = m->readp + 1;
	m->rwset[1].n_writes = 1;
	m->rwset[1].writes = m->writep + 2;

	for (int i = 0; i < 2; i++) {
		flexchain__endorsement__init(&m->endo[i]);
		m->endo[i].endorser = i ? FC_TEST_BIN("endorser-2") : FC_TEST_BIN("endorser-1");
		m->endo[i].signature = i ? FC_TEST_BIN("sig-2") : FC_TEST_BIN("sig-1");
		m->endop[i] = &m->endo[i];
		flexchain__org_def__init(&m->org[i]);
		m->org[i].name = i ? "Org2" : "Org1";
		m->org[i].ca_cert = i ? FC_TEST_BIN("ca-2") : FC_TEST_BIN("ca-1");
		m->orgp[i] = &m->org[i];
		flexchain__policy_def__init(&m->pol[i]);
		m->pol[i].name = i ? "strict" : "default";
		m->pol[i].rule = i ? "AND(Org1,Org2)" : "OutOf(1,Org1,Org2)";
		m->polp[i] = &m->pol[i];
	}
	for (int i = 0; i < 3; i++) {
		flexchain__node_addr__init(&m->node[i]);
		m->node[i].id = i == 0 ? "mem0" : i == 1 ? "mem1" : "sto0";
		m->node[i].host = "127.0.0.1";
		m->node[i].port = 7000u + (uint32_t)i;
	}
	m->memp[0] = &m->node[0];
	m->memp[1] = &m->node[1];
	m->repp[0] = &m->node[2];
	flexchain__shard_map__init(&m->shard_map);
	m->shard_map.version = 9;
	m->shard_map.n_memory_nodes = 2;
	m->shard_map.memory_nodes = m->memp;
	flexchain__config_tx__init(&m->config);
	m->config.sequence = 4;
	m->config.n_orgs = 2;
	m->config.orgs = m->orgp;
	m->config.n_policies = 2;
	m->config.policies = m->polp;
	m->config.shard_map = &m->shard_map;
	m->config.n_storage_replicas = 1;
	m->config.storage_replicas = m->repp;
	m->config.storage_write_quorum = 1;

	for (int i = 0; i < 2; i++) {
		Flexchain__Envelope *e = &m->env[i];
		flexchain__envelope__init(e);
		e->type = i ? FLEXCHAIN__TX_TYPE__TX_CONFIG : FLEXCHAIN__TX_TYPE__TX_NORMAL;
		e->proposal = &m->prop[i];
		e->client_signature = i ? FC_TEST_BIN("client-sig-2") : FC_TEST_BIN("client-sig-1");
		e->rwset = &m->rwset[i];
		e->response = i ? FC_TEST_BIN("resp-2") : FC_TEST_BIN("resp-1");
		e->n_endorsements = i ? 1 : 2;
		e->endorsements = m->endop;
		e->config = i ? &m->config : NULL;
		m->envp[i] = e;
	}

	m->deps1[0] = 0;
	for (int i = 0; i < 2; i++) {
		flexchain__tx_deps__init(&m->txdeps[i]);
		m->txdepsp[i] = &m->txdeps[i];
	}
	m->txdeps[1].n_deps = 1;
	m->txdeps[1].deps = m->deps1;
	flexchain__dependency_graph__init(&m->graph);
	m->graph.n_txs = 2;
	m->graph.txs = m->txdepsp;

	memset(m->prev_hash, 0xa5, 32);
	memset(m->data_hash, 0x11, 32);
	memset(m->graph_hash, 0x22, 32);
	flexchain__block_header__init(&m->header);
	m->header.height = 17;
	m->header.prev_hash = (ProtobufCBinaryData){32, m->prev_hash};
	m->header.data_hash = (ProtobufCBinaryData){32, m->data_hash};
	m->header.graph_hash = (ProtobufCBinaryData){32, m->graph_hash};
	m->header.timestamp_ms = 1700000000999ull;
	m->header.orderer = FC_TEST_BIN("orderer-cert");
	m->header.signature = FC_TEST_BIN("orderer-sig");
	flexchain__block__init(&m->block);
	m->block.header = &m->header;
	m->block.n_envelopes = 2;
	m->block.envelopes = m->envp;
	m->block.graph = &m->graph;

	m->tx_status[0] = FLEXCHAIN__TX_STATUS__TX_VALID;
	m->tx_status[1] = FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT;
	memset(m->block_hash, 0x33, 32);
	memset(m->ws_hash, 0x44, 32);
	memset(m->verdict_hash, 0x55, 32);
	for (int i = 0; i < 2; i++) {
		Flexchain__Verdict *v = &m->verdict[i];
		flexchain__verdict__init(v);
		v->height = 17;
		v->block_hash = (ProtobufCBinaryData){32, m->block_hash};
		v->tx_status = (ProtobufCBinaryData){2, m->tx_status};
		v->write_set_hash = (ProtobufCBinaryData){32, m->ws_hash};
		v->storage_validated = 1;
		v->signer = i ? FC_TEST_BIN("validator-2") : FC_TEST_BIN("validator-1");
		v->signature = i ? FC_TEST_BIN("vsig-2") : FC_TEST_BIN("vsig-1");
		m->verdictp[i] = v;
	}
	m->committee[0] = "compute-1";
	m->committee[1] = "compute-2";
	flexchain__commit_certificate__init(&m->cert);
	m->cert.height = 17;
	m->cert.block_hash = (ProtobufCBinaryData){32, m->block_hash};
	m->cert.verdict_hash = (ProtobufCBinaryData){32, m->verdict_hash};
	m->cert.n_verdicts = 2;
	m->cert.verdicts = m->verdictp;
	m->cert.n_committee = 2;
	m->cert.committee = m->committee;
	m->cert.storage_validated = 1;
	m->cert.orderer = FC_TEST_BIN("orderer-cert");
	m->cert.signature = FC_TEST_BIN("cert-sig");

	flexchain__register__init(&m->reg);
	m->reg.node_id = "compute-1";
	m->reg.org = "Org1";
	m->reg.cert = FC_TEST_BIN("node-cert");
	m->reg.address = "127.0.0.1:7051";
	m->reg.cores = 8;
	flexchain__heartbeat__init(&m->hb);
	m->hb.node_id = "compute-1";
	m->hb.seq = 42;
	m->hb.validated_height = 16;
	flexchain__deregister__init(&m->dereg);
	m->dereg.node_id = "compute-2";
	flexchain__error__init(&m->error);
	m->error.code = 4;
	m->error.message = "bad frame";
	flexchain__control_message__init(&m->ctl);
	m->ctl.request_id = 77;
	m->ctl.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK;
	m->ctl.block = &m->block;
}

#endif
