/* memory_driver - test tool for the memory pool integration test.
 *
 *   memory_driver feed  --config F --keys N --blocks B --writes W [--deadline S]
 *       appends B certified blocks after the storage pool's head (really
 *       signed, as storage_feed makes them), each writing W keys of
 *       key0000000..key<N-1> (round robin, so later blocks overwrite), then
 *       sends each block as ControlMessage{ledger_append} to every memory
 *       node of the config that answers, as the orderer leader does, and
 *       waits for ledger_ack code 0 (a refusal is retried until --deadline).
 *       Prints "acked H".
 *   memory_driver shard --config F --nodes ID[,ID...] --version V
 *       appends one block with a VALID config transaction carrying the shard
 *       map {V, nodes} and sends it to the memory nodes as above.
 *   memory_driver check --config F --keys N [--absent A] [--nodes IDS --version V]
 *       opens fc_memstate (switching to the shard map given, if any) and
 *       checks that every key reads with the value and version the storage
 *       pool holds (fc_memstate_get, then fc_memstate_versions in batches),
 *       and that A keys that exist nowhere read as absent with at most one
 *       storage lookup each (a second read costs none).
 * Exit 0 on success, 1 on failure, 2 on bad usage.
 */
#include <getopt.h>
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
#include "fc_memstate.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_validate.h"
#include "fc_wire.h"

#include "signed_chain.h"

#define TXS 10
#define VAL_LEN 40

struct drv {
	struct fc_config *cfg;
	struct fc_storage_client *cl;
	struct sc_chain ch;
	uint64_t cursor; /* next key index to write */
	unsigned deadline_s;
};

static void die(const char *what, int rc, const char *em)
{
	fprintf(stderr, "memory_driver: %s: %s (%s)\n", what, em ? em : "", fc_strerror(rc));
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The VAL_LEN-byte value written to key k at height h. */
static void val_of(uint64_t h, const char *k, char *out)
{
	char tmp[128];

	memset(tmp, '0', sizeof tmp);
	snprintf(tmp, sizeof tmp, "v%llu.%s.", (unsigned long long)h, k);
	tmp[strlen(tmp)] = '0';
	memcpy(out, tmp, VAL_LEN);
}

static void key_of(uint64_t i, char *buf)
{
	snprintf(buf, 16, "key%07llu", (unsigned long long)i);
}

/* One envelope writing keys idx[0..n) (sorted) or carrying a config tx. */
static Flexchain__Envelope *build_env(struct drv *d, uint64_t h, const uint64_t *idx, size_t n,
				      Flexchain__ConfigTx *config)
{
	Flexchain__Envelope *env = lf_zalloc(sizeof *env);
	Flexchain__Proposal *p = lf_zalloc(sizeof *p);
	Flexchain__RWSet *rw = lf_zalloc(sizeof *rw);
	uint8_t nonce[16];
	char em[FC_ERRMSG_LEN];

	flexchain__envelope__init(env);
	flexchain__proposal__init(p);
	flexchain__rwset__init(rw);
	if (fc_crypto_random(nonce, sizeof nonce, em) != FC_OK)
		die("random", FC_ECRYPTO, em);
	p->nonce = lf_copy(nonce, sizeof nonce);
	p->creator = sc_der(&d->ch.client);
	p->tx_id = lf_zalloc(FC_TXID_HEX_LEN + 1);
	lf_check(fc_canon_tx_id_of(p, p->tx_id), "tx id");
	p->contract = sc_dupstr("kv");
	p->function = sc_dupstr(config ? "config" : "put");
	p->timestamp_ms = 1700000000000ull + h;
	env->proposal = p;
	rw->n_writes = n;
	rw->writes = lf_zalloc(sizeof *rw->writes * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		char k[16], v[VAL_LEN];
		Flexchain__KVWrite *w = lf_zalloc(sizeof *w);

		flexchain__kvwrite__init(w);
		key_of(idx[i], k);
		val_of(h, k, v);
		w->key = lf_copy(k, strlen(k));
		w->value = lf_copy(v, VAL_LEN);
		rw->writes[i] = w;
	}
	env->rwset = rw;
	env->response = lf_copy("ok", 2);
	if (config) {
		env->type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
		env->config = config;
	}
	sc_envelope_sign(&d->ch, env, d->ch.n_endorsers);
	return env;
}

/* Sends la to memory node i and waits for its ack. 1: acked with code 0;
 * 0: refused (retry); -1: unreachable (skipped: it catches up itself). */
static int send_to_node(struct drv *d, size_t i, Flexchain__LedgerAppend *la, char *em)
{
	const struct fc_config_node *n = &d->cfg->memory.nodes[i];
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	struct fc_netc *c = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc, ok = 0;

	if (fc_netc_connect(n->host, n->port, 1000, &c, em) != FC_OK)
		return -1;
	cm.request_id = d->ch.next + 1;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_APPEND;
	cm.ledger_append = la;
	lf_check(fc_wire_encode(&cm.base, &buf, &len, em), "encode");
	rc = fc_netc_send(c, buf, len, 10000, em);
	fc_free(buf);
	while (rc == FC_OK) {
		ProtobufCMessage *m = NULL;
		Flexchain__ControlMessage *r;

		rc = fc_netc_recv(c, &buf, &len, 0, 60000, em);
		if (rc != FC_OK)
			break;
		rc = fc_wire_decode(&flexchain__control_message__descriptor, buf, len, 1u << 26, &m,
				    em);
		fc_free(buf);
		if (rc != FC_OK)
			break;
		r = (Flexchain__ControlMessage *)m;
		if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK && r->ledger_ack &&
		    r->ledger_ack->height == la->block->header->height) {
			ok = r->ledger_ack->code == 0;
			if (!ok)
				snprintf(em, FC_ERRMSG_LEN, "%s: %s", n->id,
					 r->ledger_ack->message ? r->ledger_ack->message : "");
			fc_wire_free(m);
			break;
		}
		fc_wire_free(m);
	}
	fc_netc_close(c);
	return rc != FC_OK ? -1 : ok;
}

static int append_block(struct drv *d, Flexchain__Envelope **envs, size_t ntx)
{
	char em[FC_ERRMSG_LEN];
	struct sc_built bb;
	uint8_t *status = lf_zalloc(ntx), wsh[FC_HASH_LEN];
	Flexchain__Verdict *v[SC_COMMITTEE];
	Flexchain__CommitCertificate *c;
	Flexchain__LedgerAppend la = FLEXCHAIN__LEDGER_APPEND__INIT;
	uint64_t end = sc_now_s() + d->deadline_s;
	size_t nv;
	int rc;

	for (size_t i = 0; i < ntx; i++)
		status[i] = FLEXCHAIN__TX_STATUS__TX_VALID;
	sc_block_build(&d->ch, envs, ntx, &d->ch.orderer, &bb);
	lf_check(fc_hash_write_set(bb.b, status, ntx, wsh), "write-set hash");
	nv = sc_compute_verdicts(&d->ch, &bb, status, wsh, v);
	c = sc_certify(&d->ch, &bb, v, nv, NULL);

	while ((rc = fc_storage_append(d->cl, bb.b, v[0], c, NULL, em)) != FC_OK) {
		if (sc_now_s() >= end)
			die("storage append", rc, em);
		sc_pause();
	}
	la.block = bb.b;
	la.verdict = v[0];
	la.certificate = c;
	for (size_t i = 0; i < d->cfg->memory.n_nodes; i++) {
		for (;;) {
			int r = send_to_node(d, i, &la, em);
			if (r != 0)
				break;
			if (sc_now_s() >= end)
				die("memory append", FC_ETIMEOUT, em);
			sc_pause();
		}
	}
	printf("acked %llu\n", (unsigned long long)d->ch.next);
	fflush(stdout);
	memcpy(d->ch.head, bb.hash, FC_HASH_LEN);
	d->ch.next++;
	sc_cert_free(c);
	for (size_t i = 0; i < nv; i++)
		fc_validate_verdict_free(v[i]);
	sc_block_free(&bb);
	fc_free(status);
	return 0;
}

static int run_feed(struct drv *d, uint64_t nkeys, uint64_t blocks, uint64_t writes)
{
	uint64_t per = (writes + TXS - 1) / TXS;

	sc_find_head(&d->ch, d->cl);
	d->cursor = d->ch.next * writes; /* continue the round robin after a restart */
	if (d->ch.next == 0) {	      /* genesis: tx 0 of block 0 may not write */
		Flexchain__Envelope **envs = lf_zalloc(sizeof *envs);
		envs[0] = build_env(d, 0, NULL, 0, NULL);
		append_block(d, envs, 1);
	}
	for (uint64_t k = 0; k < blocks; k++) {
		Flexchain__Envelope **envs = lf_zalloc(sizeof *envs * TXS);
		size_t ntx = 0;

		for (uint64_t done = 0; done < writes; ntx++) {
			uint64_t idx[1024], n = writes - done < per ? writes - done : per;
			for (uint64_t i = 0; i < n; i++)
				idx[i] = (d->cursor++) % nkeys;
			qsort(idx, n, sizeof idx[0], cmp_u64);
			envs[ntx] = build_env(d, d->ch.next, idx, n, NULL);
			done += n;
		}
		append_block(d, envs, ntx);
	}
	return 0;
}

static Flexchain__ShardMap *make_map(struct drv *d, const char *nodes, uint64_t version)
{
	Flexchain__ShardMap *sm = lf_zalloc(sizeof *sm);
	char *list = sc_dupstr(nodes), *save = NULL;

	flexchain__shard_map__init(sm);
	sm->version = version;
	sm->memory_nodes = lf_zalloc(sizeof *sm->memory_nodes * 16);
	for (char *t = strtok_r(list, ",", &save); t && sm->n_memory_nodes < 16;
	     t = strtok_r(NULL, ",", &save)) {
		const struct fc_config_node *n =
		    fc_config_find_node_kind(d->cfg, FC_NODE_MEMORY, t);
		Flexchain__NodeAddr *a = lf_zalloc(sizeof *a);

		if (!n)
			die("shard map", FC_ENOTFOUND, t);
		flexchain__node_addr__init(a);
		a->id = sc_dupstr(n->id);
		a->host = sc_dupstr(n->host);
		a->port = n->port;
		sm->memory_nodes[sm->n_memory_nodes++] = a;
	}
	fc_free(list);
	return sm;
}

static int run_shard(struct drv *d, const char *nodes, uint64_t version)
{
	Flexchain__ConfigTx *ct = lf_zalloc(sizeof *ct);
	Flexchain__Envelope **envs = lf_zalloc(sizeof *envs);

	sc_find_head(&d->ch, d->cl);
	flexchain__config_tx__init(ct);
	ct->sequence = version;
	ct->shard_map = make_map(d, nodes, version);
	envs[0] = build_env(d, d->ch.next, NULL, 0, ct);
	return append_block(d, envs, 1);
}

static int run_check(struct drv *d, uint64_t nkeys, uint64_t absent, const char *nodes,
		     uint64_t version)
{
	struct fc_memstate *ms = NULL;
	struct fc_memstate_stats s0, s1;
	char em[FC_ERRMSG_LEN];
	int rc, bad = 0;
	uint64_t *want = fc_calloc(nkeys, sizeof *want);
	char(*keys)[16] = fc_calloc(nkeys, 16);

	if (!want || !keys)
		die("check", FC_ENOMEM, "out of memory");
	rc = fc_memstate_open(d->cfg, &ms, em);
	if (rc != FC_OK)
		die("memstate open", rc, em);
	if (nodes) {
		Flexchain__ShardMap *sm = make_map(d, nodes, version);
		rc = fc_memstate_set_shard_map(ms, sm, em);
		lf_free_msg(&sm->base);
		if (rc != FC_OK)
			die("set shard map", rc, em);
	}
	/* the truth: the storage pool */
	for (uint64_t off = 0; off < nkeys; off += 256) {
		ProtobufCBinaryData k[256];
		Flexchain__StateReply *sr = NULL;
		size_t n = nkeys - off < 256 ? nkeys - off : 256;

		for (size_t i = 0; i < n; i++) {
			key_of(off + i, keys[off + i]);
			k[i].data = (uint8_t *)keys[off + i];
			k[i].len = strlen(keys[off + i]);
		}
		rc = fc_storage_get_state(d->cl, 0, k, n, &sr, em);
		if (rc != FC_OK)
			die("storage state", rc, em);
		for (size_t i = 0; i < n; i++)
			want[off + i] = sr->entries[i]->found ? sr->entries[i]->version : 0;
		fc_wire_free(&sr->base);
	}
	for (uint64_t i = 0; i < nkeys; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		uint64_t ver = 0;
		char exp[VAL_LEN];

		rc = fc_memstate_get(ms, (const uint8_t *)keys[i], strlen(keys[i]), &val, &len,
				     &ver, em);
		val_of(want[i] >> 32, keys[i], exp);
		if (want[i] == 0 ? rc != FC_ENOTFOUND
				 : (rc != FC_OK || ver != want[i] || len != VAL_LEN ||
				    memcmp(val, exp, VAL_LEN) != 0)) {
			if (bad++ < 5)
				fprintf(stderr, "check: %s: rc %s version %llx want %llx (%s)\n",
					keys[i], fc_strerror(rc), (unsigned long long)ver,
					(unsigned long long)want[i], rc == FC_OK ? "" : em);
		}
		fc_free(val);
	}
	for (uint64_t off = 0; off < nkeys; off += 100) {
		ProtobufCBinaryData k[100];
		uint64_t got[100];
		size_t n = nkeys - off < 100 ? nkeys - off : 100;

		for (size_t i = 0; i < n; i++) {
			k[i].data = (uint8_t *)keys[off + i];
			k[i].len = strlen(keys[off + i]);
		}
		rc = fc_memstate_versions(ms, k, n, got, em);
		if (rc != FC_OK)
			die("memstate versions", rc, em);
		for (size_t i = 0; i < n; i++)
			if (got[i] != want[off + i] && bad++ < 5)
				fprintf(stderr, "check: versions %s: %llx want %llx\n",
					keys[off + i], (unsigned long long)got[i],
					(unsigned long long)want[off + i]);
	}
	for (uint64_t a = 0; a < absent; a++) {
		char k[32];
		uint8_t *val = NULL;
		size_t len;
		uint64_t ver;

		snprintf(k, sizeof k, "absent%05llu", (unsigned long long)a);
		for (int round = 0; round < 2; round++) {
			fc_memstate_stats(ms, &s0);
			rc = fc_memstate_get(ms, (const uint8_t *)k, strlen(k), &val, &len, &ver,
					     em);
			fc_memstate_stats(ms, &s1);
			if (rc != FC_ENOTFOUND && bad++ < 5)
				fprintf(stderr, "check: %s: rc %s\n", k, fc_strerror(rc));
			if (s1.loads - s0.loads > (round == 0 ? 1u : 0u) && bad++ < 5)
				fprintf(stderr, "check: %s: read %d cost %llu storage lookups\n", k,
					round, (unsigned long long)(s1.loads - s0.loads));
			fc_free(val);
			val = NULL;
		}
	}
	fc_memstate_stats(ms, &s1);
	printf("checked %llu keys, %llu absent: gets %llu found %llu loads %llu load_keys %llu "
	       "round_trips %llu cache_hits %llu reports %llu bad %d\n",
	       (unsigned long long)nkeys, (unsigned long long)absent, (unsigned long long)s1.gets,
	       (unsigned long long)s1.found, (unsigned long long)s1.loads,
	       (unsigned long long)s1.load_keys, (unsigned long long)s1.round_trips,
	       (unsigned long long)s1.cache_hits, (unsigned long long)s1.reports, bad);
	fc_memstate_close(ms);
	fc_free(keys);
	fc_free(want);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"keys", required_argument, NULL, 'k'},
	    {"blocks", required_argument, NULL, 'b'},
	    {"writes", required_argument, NULL, 'w'},
	    {"deadline", required_argument, NULL, 'd'},
	    {"absent", required_argument, NULL, 'a'},
	    {"nodes", required_argument, NULL, 'n'},
	    {"version", required_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *mode, *nodes = NULL;
	uint64_t nkeys = 1000, blocks = 10, writes = 100, absent = 0, version = 1;
	struct drv d;
	char em[FC_ERRMSG_LEN];
	int c, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: memory_driver feed|shard|check --config F ...\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	memset(&d, 0, sizeof d);
	d.deadline_s = 120;
	while ((c = getopt_long(argc, argv, "c:k:b:w:d:a:n:v:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'k':
			nkeys = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			blocks = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			writes = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			d.deadline_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			absent = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			nodes = optarg;
			break;
		case 'v':
			version = strtoull(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (!config || nkeys == 0 || writes == 0 || writes > nkeys || writes > TXS * 1024)
		return 2;
	rc = fc_config_load(config, &d.cfg, em);
	if (rc != FC_OK)
		die("config", rc, em);
	rc = fc_storage_client_create(d.cfg, NULL, &d.cl, em);
	if (rc != FC_OK)
		die("client", rc, em);
	if (strcmp(mode, "check") == 0) {
		rc = run_check(&d, nkeys, absent, nodes, version);
		goto out;
	}
	sc_chain_load(&d.ch, d.cfg);
	if (strcmp(mode, "feed") == 0)
		rc = run_feed(&d, nkeys, blocks, writes);
	else if (strcmp(mode, "shard") == 0 && nodes)
		rc = run_shard(&d, nodes, version);
	else
		rc = 2;
out:
	sc_chain_free(&d.ch);
	fc_storage_client_destroy(d.cl);
	fc_config_free(d.cfg);
	return rc;
}
