/* flexchain-orderer-client: load and checking tool for the ordering service
 * (used by tests/integration/orderer_raft.sh; also handy by hand).
 *
 *   flexchain-orderer-client leader --config F
 *       prints the id of the current leader (asks each orderer).
 *   flexchain-orderer-client submit --config F --count N --out FILE
 *                            [--org ORG] [--window W] [--deadline-s S]
 *       submits N envelopes signed by the org's client identity (4 keys
 *       each), following redirects and retrying after errors, appends the
 *       tx id of every acknowledged one to FILE.
 *   flexchain-orderer-client check --config F --ids ID,ID.. [--acked FILE]
 *                            [--idle-ms MS]
 *       reads each named orderer's chain through delivery until idle, checks
 *       it (contiguous heights, hash chain, data/graph hashes, header
 *       signatures), that all chains are identical, that no tx id occurs
 *       twice and that every acknowledged tx id is in the chain. Exit 0 iff
 *       all holds.
 *   flexchain-orderer-client compute --config F --id ID [--seconds S]
 *                            [--lie] [--address HOST:PORT]
 *                            [--deregister-after S]
 *       a stand-in compute server: registers with the leader, heartbeats,
 *       and answers every ValidateRequest with a signed verdict declaring
 *       every normal transaction valid. Config transactions are judged as
 *       a real validator judges them (fc_validate with the fc_chaincfg
 *       check_config hook, on the configuration in force at the block's
 *       height, rebuilt from the decided blocks a storage replica serves;
 *       a block with config transactions waits, at most the validation
 *       timeout, until storage holds the block before it, and is not
 *       answered otherwise). Re-registers after a leader change. With
 *       --lie it signs a wrong verdict instead: the first transaction
 *       marked MVCC_READ_CONFLICT (so the write-set hash differs too), or,
 *       for an empty block, a corrupted write-set hash. --address registers
 *       HOST:PORT instead of the configuration's address; with
 *       --deregister-after it sends Deregister S seconds after registering
 *       and then keeps its connection (heartbeating, draining) until
 *       --seconds end or the connection fails, without registering again.
 *   flexchain-orderer-client discover --config F [--timeout-ms MS]
 *       compute discovery (fc_discover_compute): one line per registered
 *       compute server, "ID ORG HOST:PORT draining=0|1", then "servers=N".
 *   flexchain-orderer-client storage-check --config F --blocks N
 *                            [--timeout-s S] [--liar ID]
 *       waits until storage replica 0 holds blocks 0..N-1, then verifies
 *       every stored block's certificate (fc_storage_verify_certified) and
 *       prints how many were certified by a committee and how many by the
 *       storage pool. With --liar, also fails if any certificate holds a
 *       verdict signed by compute server ID, or if a committee-certified
 *       verdict is not the honest stand-ins' (every transaction valid).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fc_canon.h"
#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_ctl.h"
#include "fc_discover.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_time.h"
#include "fc_validate.h"
#include "fc_wire.h"
#include "orderer_int.h"

#define MAX_ORD 16

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "orderer-client: %s: %s\n", what, msg);
	exit(1);
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static int has_flag(int argc, char **argv, const char *name)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static int find_orderer(const struct fc_config *cfg, const char *addr)
{
	for (size_t i = 0; i < cfg->n_orderers; i++)
		if (fc_net_addr_is(addr, cfg->orderers[i].host, cfg->orderers[i].port))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ leader */

static int cmd_leader(const struct fc_config *cfg)
{
	uint64_t deadline = fc_mono_ms() + 20000;

	while (fc_mono_ms() < deadline) {
		for (size_t i = 0; i < cfg->n_orderers; i++) {
			const struct fc_config_node *n = &cfg->orderers[i];
			Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
			Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
			int who = -1;

			m.request_id = 1;
			m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
			m.envelope = &env; /* malformed on purpose: only a ready
					    * leader gets to judge it */
			if (fc_ctl_netc_call(n->host, n->port, &m, 1000, 3000, &r, NULL) == FC_OK &&
			    r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT) {
				if (r->submit_result->code == FC_EPROTO)
					who = (int)i;
				else if (r->submit_result->leader[0])
					who = find_orderer(cfg, r->submit_result->leader);
			}
			fc_wire_free((ProtobufCMessage *)r);
			if (who >= 0 && (size_t)who == i) {
				printf("%s\n", cfg->orderers[who].id);
				return 0;
			}
		}
		sleep_ms(100);
	}
	fprintf(stderr, "orderer-client: no leader found\n");
	return 1;
}

/* ------------------------------------------------------------ submit */

struct tx {
	uint8_t *frame;
	size_t len;
	char txid[FC_TXID_HEX_LEN + 1];
	int state; /* 0 queued, 1 in flight, 2 done */
};

static void make_tx(struct tx *t, uint64_t i, const fc_key *key, const uint8_t *der, size_t dlen)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	Flexchain__Proposal p = FLEXCHAIN__PROPOSAL__INIT;
	Flexchain__RWSet rw = FLEXCHAIN__RWSET__INIT;
	Flexchain__KVRead rd[2], *rdp[2];
	Flexchain__KVWrite wr[2], *wrp[2];
	char keys[4][32];
	uint8_t nonce[16], digest[FC_HASH_LEN], *sig = NULL;
	size_t siglen = 0;
	ProtobufCBinaryData arg;
	char val[32];

	if (fc_crypto_random(nonce, sizeof nonce, NULL) != FC_OK)
		die("random", "failed");
	/* Four keys per transaction, sorted: two reads and two writes over a
	 * small key space so that blocks have dependencies. */
	snprintf(keys[0], sizeof keys[0], "a%05llu", (unsigned long long)(i * 7 % 1000));
	snprintf(keys[1], sizeof keys[1], "b%05llu", (unsigned long long)(i * 13 % 1000));
	snprintf(keys[2], sizeof keys[2], "c%05llu", (unsigned long long)(i * 3 % 1000));
	snprintf(keys[3], sizeof keys[3], "d%05llu", (unsigned long long)(i % 1000));
	for (int k = 0; k < 2; k++) {
		flexchain__kvread__init(&rd[k]);
		rd[k].key = (ProtobufCBinaryData){strlen(keys[k]), (uint8_t *)keys[k]};
		rd[k].version = 0;
		rdp[k] = &rd[k];
		flexchain__kvwrite__init(&wr[k]);
		wr[k].key = (ProtobufCBinaryData){strlen(keys[2 + k]), (uint8_t *)keys[2 + k]};
		snprintf(val, sizeof val, "v%llu", (unsigned long long)i);
		wr[k].value = (ProtobufCBinaryData){strlen(val), (uint8_t *)val};
		wrp[k] = &wr[k];
	}
	rw.n_reads = 2;
	rw.reads = rdp;
	rw.n_writes = 2;
	rw.writes = wrp;
	p.contract = "kv";
	p.function = "put";
	arg = (ProtobufCBinaryData){strlen(keys[2]), (uint8_t *)keys[2]};
	p.n_args = 1;
	p.args = &arg;
	p.nonce = (ProtobufCBinaryData){sizeof nonce, nonce};
	p.creator = (ProtobufCBinaryData){dlen, (uint8_t *)der};
	p.timestamp_ms = fc_ord_now_ms();
	if (fc_canon_tx_id_of(&p, t->txid) != FC_OK)
		die("tx id", "failed");
	p.tx_id = t->txid;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &p;
	env.rwset = &rw;
	if (fc_hash_client_sig(&env, digest) != FC_OK ||
	    fc_crypto_sign_digest(key, digest, &sig, &siglen, NULL) != FC_OK)
		die("sign", "failed");
	env.client_signature = (ProtobufCBinaryData){siglen, sig};
	m.request_id = i + 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = &env;
	if (fc_wire_encode(&m.base, &t->frame, &t->len, NULL) != FC_OK)
		die("encode", "failed");
	fc_free(sig);
	t->state = 0;
}

static int cmd_submit(const struct fc_config *cfg, int argc, char **argv)
{
	const char *org = opt(argc, argv, "--org", cfg->orgs[0].name);
	const char *out = opt(argc, argv, "--out", NULL);
	size_t count = strtoul(opt(argc, argv, "--count", "100"), NULL, 10);
	size_t window = strtoul(opt(argc, argv, "--window", "64"), NULL, 10);
	uint64_t deadline =
	    fc_mono_ms() + 1000u * strtoul(opt(argc, argv, "--deadline-s", "120"), NULL, 10);
	char errmsg[FC_ERRMSG_LEN], cid[128];
	fc_cert *cert = NULL;
	fc_key *key = NULL;
	const uint8_t *der;
	size_t dlen, done = 0, inflight = 0, next = 0, acked = 0, dups = 0, refused = 0;
	size_t retries = 0, reconnects = 0;
	struct tx *txs;
	struct fc_netc *c = NULL;
	int target = 0;
	FILE *f;

	if (!out || !count || !window)
		die("submit", "--out FILE and positive --count, --window required");
	if (fc_identity_client_id(org, cid, sizeof cid, errmsg) != FC_OK ||
	    fc_identity_load(cfg->crypto_dir, org, FC_IDENTITY_ROLE_CLIENT, cid, &cert, &key,
			     errmsg) != FC_OK)
		die("client identity", errmsg);
	der = fc_crypto_cert_der(cert, &dlen);
	f = fopen(out, "a");
	if (!f)
		die(out, "cannot open");
	txs = fc_calloc(count, sizeof *txs);
	if (!txs)
		die("submit", "out of memory");
	for (size_t i = 0; i < count; i++)
		make_tx(&txs[i], i, key, der, dlen);

	while (done < count && fc_mono_ms() < deadline) {
		Flexchain__ControlMessage *r = NULL;
		int rc;

		if (!c) {
			const struct fc_config_node *n = &cfg->orderers[target];
			if (fc_netc_connect(n->host, n->port, 1000, &c, NULL) != FC_OK) {
				c = NULL;
				target = (target + 1) % (int)cfg->n_orderers;
				sleep_ms(100);
				continue;
			}
			reconnects++;
		}
		/* Fill the window; `next` scans for queued transactions. */
		for (size_t scanned = 0; inflight < window && scanned < count; scanned++) {
			struct tx *t = &txs[next];
			size_t idx = next;
			next = (next + 1) % count;
			if (t->state != 0)
				continue;
			if (fc_netc_send(c, t->frame, t->len, 5000, NULL) != FC_OK)
				break;
			(void)idx;
			t->state = 1;
			inflight++;
		}
		rc = inflight ? fc_ctl_netc_recv(c, 0, 10000, &r, NULL) : FC_OK;
		if (rc != FC_OK) {
			/* Connection lost (leader killed?): requeue, move on. */
			fc_netc_close(c);
			c = NULL;
			for (size_t i = 0; i < count; i++)
				if (txs[i].state == 1) {
					txs[i].state = 0;
					retries++;
				}
			inflight = 0;
			target = (target + 1) % (int)cfg->n_orderers;
			sleep_ms(100);
			continue;
		}
		if (!r)
			continue;
		if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT &&
		    r->request_id >= 1 && r->request_id <= count &&
		    txs[r->request_id - 1].state == 1) {
			struct tx *t = &txs[r->request_id - 1];
			Flexchain__SubmitResult *sr = r->submit_result;
			inflight--;
			if (sr->code == FC_OK) {
				t->state = 2;
				done++;
				acked++;
				fprintf(f, "%s\n", t->txid);
				fflush(f);
			} else if (sr->code == FC_EEXIST &&
				   strstr(sr->message, "ordered in block")) {
				t->state = 2;
				done++;
				dups++;
			} else if (sr->code == FC_EAGAIN || sr->code == FC_EBUSY ||
				   sr->code == FC_EEXIST) {
				t->state = 0;
				retries++;
				int who = sr->leader[0] ? find_orderer(cfg, sr->leader) : -1;
				if (who >= 0 && who != target) {
					/* Redirect: everything in flight here is
					 * retried at the leader. */
					for (size_t i = 0; i < count; i++)
						if (txs[i].state == 1)
							txs[i].state = 0;
					inflight = 0;
					fc_netc_close(c);
					c = NULL;
					target = who;
				} else {
					sleep_ms(20);
				}
			} else {
				t->state = 2;
				done++;
				refused++;
				fprintf(stderr, "orderer-client: tx %.16s refused: code=%u %s\n",
					t->txid, sr->code, sr->message);
			}
		}
		fc_wire_free((ProtobufCMessage *)r);
	}
	fc_netc_close(c);
	fclose(f);
	printf("submitted=%zu acked=%zu duplicate=%zu refused=%zu retries=%zu connects=%zu "
	       "unresolved=%zu\n",
	       count, acked, dups, refused, retries, reconnects, count - done);
	for (size_t i = 0; i < count; i++)
		fc_free(txs[i].frame);
	fc_free(txs);
	fc_crypto_key_free(key);
	fc_crypto_cert_free(cert);
	return refused || done < count ? 1 : 0;
}

/* ------------------------------------------------------------ check */

struct chain {
	const char *id;
	uint64_t n;
	uint8_t (*hashes)[FC_HASH_LEN];
};

/* Tx ids seen, with counts: a simple sorted array is enough for a test. */
struct txlist {
	char (*ids)[FC_TXID_HEX_LEN + 1];
	size_t n, cap;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int read_chain(const struct fc_config *cfg, fc_crypto_castore *cs,
		      const struct fc_config_node *node, unsigned idle_ms, struct chain *ch,
		      struct txlist *txl)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__DeliverRequest dr = FLEXCHAIN__DELIVER_REQUEST__INIT;
	uint8_t prev[FC_HASH_LEN] = {0};
	char errmsg[FC_ERRMSG_LEN];
	struct fc_netc *c = NULL;
	int rc, bad = 0;

	ch->id = node->id;
	rc = fc_netc_connect(node->host, node->port, 3000, &c, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "check: %s: connect: %s\n", node->id, errmsg);
		return 1;
	}
	dr.from_height = 0;
	m.request_id = 7;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST;
	m.deliver_request = &dr;
	if (fc_ctl_netc_send(c, &m, 5000, NULL) != FC_OK) {
		fc_netc_close(c);
		return 1;
	}
	while ((rc = fc_ctl_netc_recv(c, 0, idle_ms, &r, NULL)) == FC_OK) {
		const Flexchain__Block *b;
		uint8_t h[FC_HASH_LEN];

		if (r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK) {
			fprintf(stderr, "check: %s: unexpected message %d\n", node->id,
				r->body_case);
			bad = 1;
			break;
		}
		b = r->block;
		rc = fc_ord_block_verify(cs, b, ch->n, prev, h, errmsg);
		if (rc != FC_OK) {
			fprintf(stderr, "check: %s: block %llu: %s\n", node->id,
				(unsigned long long)ch->n, errmsg);
			bad = 1;
			break;
		}
		if (ch->n == 0 && b->n_envelopes != 0) {
			fprintf(stderr, "check: %s: genesis block not empty\n", node->id);
			bad = 1;
		}
		ch->hashes = realloc(ch->hashes, (ch->n + 1) * sizeof *ch->hashes);
		memcpy(ch->hashes[ch->n], h, FC_HASH_LEN);
		memcpy(prev, h, FC_HASH_LEN);
		ch->n++;
		for (size_t i = 0; txl && i < b->n_envelopes; i++) {
			if (txl->n == txl->cap) {
				txl->cap = txl->cap ? 2 * txl->cap : 1024;
				txl->ids = realloc(txl->ids, txl->cap * sizeof *txl->ids);
			}
			snprintf(txl->ids[txl->n++], FC_TXID_HEX_LEN + 1, "%s",
				 b->envelopes[i]->proposal->tx_id);
		}
		fc_wire_free((ProtobufCMessage *)r);
		r = NULL;
	}
	fc_wire_free((ProtobufCMessage *)r);
	fc_netc_close(c);
	(void)cfg;
	printf("orderer=%s blocks=%llu\n", node->id, (unsigned long long)ch->n);
	return bad;
}

static int cmd_check(const struct fc_config *cfg, int argc, char **argv)
{
	const char *ids = opt(argc, argv, "--ids", NULL);
	const char *acked = opt(argc, argv, "--acked", NULL);
	unsigned idle = (unsigned)strtoul(opt(argc, argv, "--idle-ms", "2000"), NULL, 10);
	struct chain chains[MAX_ORD];
	struct txlist txl = {0};
	char errmsg[FC_ERRMSG_LEN], list[1024], *save = NULL;
	fc_crypto_castore *cs = NULL;
	size_t nch = 0, nacked = 0, missing = 0;
	int bad = 0;

	if (!ids)
		die("check", "--ids required");
	memset(chains, 0, sizeof chains);
	if (fc_crypto_castore_create(0, &cs, errmsg) != FC_OK)
		die("castore", errmsg);
	for (size_t i = 0; i < cfg->n_orgs; i++)
		if (fc_crypto_castore_add_pem(cs, cfg->orgs[i].name, cfg->orgs[i].ca_cert,
					      errmsg) != FC_OK)
			die("castore", errmsg);
	snprintf(list, sizeof list, "%s", ids);
	for (char *id = strtok_r(list, ",", &save); id && nch < MAX_ORD;
	     id = strtok_r(NULL, ",", &save)) {
		const struct fc_config_node *n = fc_config_find_node_kind(cfg, FC_NODE_ORDERER, id);
		if (!n)
			die(id, "no such orderer");
		bad |= read_chain(cfg, cs, n, idle, &chains[nch], nch == 0 ? &txl : NULL);
		nch++;
	}
	/* Identical chains (same header hashes) on every orderer. */
	for (size_t i = 1; i < nch; i++) {
		if (chains[i].n != chains[0].n) {
			fprintf(stderr, "check: %s has %llu blocks, %s has %llu\n", chains[i].id,
				(unsigned long long)chains[i].n, chains[0].id,
				(unsigned long long)chains[0].n);
			bad = 1;
		}
		for (uint64_t h = 0; h < chains[i].n && h < chains[0].n; h++)
			if (memcmp(chains[i].hashes[h], chains[0].hashes[h], FC_HASH_LEN) != 0) {
				fprintf(stderr, "check: %s and %s differ at block %llu\n",
					chains[i].id, chains[0].id, (unsigned long long)h);
				bad = 1;
				break;
			}
	}
	/* No tx id twice. */
	qsort(txl.ids, txl.n, sizeof *txl.ids, cmp_id);
	for (size_t i = 1; i < txl.n; i++)
		if (strcmp(txl.ids[i], txl.ids[i - 1]) == 0) {
			fprintf(stderr, "check: tx %s ordered twice\n", txl.ids[i]);
			bad = 1;
		}
	/* Every acknowledged tx id is there. */
	if (acked) {
		FILE *f = fopen(acked, "r");
		char line[256];
		if (!f)
			die(acked, "cannot open");
		while (fgets(line, sizeof line, f)) {
			line[strcspn(line, "\n")] = '\0';
			if (!line[0])
				continue;
			nacked++;
			if (!bsearch(line, txl.ids, txl.n, sizeof *txl.ids, cmp_id)) {
				if (missing++ < 5)
					fprintf(stderr, "check: acknowledged tx %s not in chain\n",
						line);
				bad = 1;
			}
		}
		fclose(f);
	}
	printf("chains=%zu blocks=%llu txs_in_chain=%zu acked=%zu missing=%zu result=%s\n", nch,
	       (unsigned long long)(nch ? chains[0].n : 0), txl.n, nacked, missing,
	       bad ? "FAIL" : "ok");
	for (size_t i = 0; i < nch; i++)
		free(chains[i].hashes);
	free(txl.ids);
	fc_crypto_castore_destroy(cs);
	return bad;
}

/* ------------------------------------------------------------ compute */

/* The configuration in force after blocks [0, next), as the stand-in
 * compute server rebuilds it from storage (sc borrows sc_cc's view). */
struct cfgtrack {
	struct fc_chaincfg *cc;
	uint64_t next;
	struct fc_storage_client *sc;
	struct fc_chaincfg *sc_cc;
};

static void track_close(struct cfgtrack *t)
{
	fc_storage_client_destroy(t->sc);
	fc_chaincfg_unref(t->sc_cc);
	fc_chaincfg_unref(t->cc);
	memset(t, 0, sizeof *t);
}

/* fc_chaincfg_source.fetch over the storage replicas of the configuration
 * folded so far (the client is remade when it changes). */
static int track_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
		       char *errmsg)
{
	struct cfgtrack *t = ud;

	if (!t->sc || t->sc_cc != t->cc) {
		struct fc_storage_client_opts o;
		struct fc_storage_client *sc = NULL;
		fc_storage_client_opts_init(&o);
		o.timeout_ms = 1000;
		int rc = fc_storage_client_create(fc_chaincfg_config(t->cc), &o, &sc, errmsg);
		if (rc != FC_OK)
			return rc;
		fc_storage_client_destroy(t->sc);
		fc_chaincfg_unref(t->sc_cc);
		t->sc = sc;
		t->sc_cc = fc_chaincfg_ref(t->cc);
	}
	return fc_storage_get_blocks_any(t->sc, NULL, from, count, out, errmsg);
}

/* Folds blocks [t->next, to) as the nodes do (fc_chaincfg_rebuild.h); what
 * was folded stays folded when an error (no replica serves t->next yet)
 * stops it. */
static int track_step(struct cfgtrack *t, uint64_t to, char *errmsg)
{
	const struct fc_chaincfg_source src = {.fetch = track_fetch, .ud = t};

	return fc_chaincfg_rebuild(&t->cc, &t->next, to, &src, errmsg);
}

static int has_config(const Flexchain__Block *b)
{
	for (size_t i = 0; i < b->n_envelopes; i++)
		if (b->envelopes[i] && b->envelopes[i]->type == FLEXCHAIN__TX_TYPE__TX_CONFIG)
			return 1;
	return 0;
}

static int zero_versions(void *ud, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			 char *errmsg)
{
	(void)ud;
	(void)keys;
	(void)errmsg;
	memset(versions, 0, n * sizeof *versions);
	return FC_OK;
}

static const struct fc_policy *cc_policy_for(void *ud, const char *contract)
{
	return fc_chaincfg_policy_for(ud, contract);
}

/* Statuses of the config transactions of b, judged by fc_validate on the
 * configuration in force cc (client signature against its CAs, then
 * fc_chaincfg_check_config in block order); other entries of st are left
 * alone: the stand-in declares normal transactions valid. */
static int judge_configs(const struct fc_chaincfg *cc, const Flexchain__Block *b, uint8_t *st,
			 char *errmsg)
{
	struct fc_validate_opts o;
	uint8_t *vs = fc_calloc(b->n_envelopes + 1, 1), wsh[FC_HASH_LEN];
	int rc;

	if (!vs)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	memset(&o, 0, sizeof o);
	o.castore = fc_chaincfg_castore(cc);
	o.parallel = false;
	o.state.get_versions = zero_versions;
	o.state.policy_for = cc_policy_for;
	o.state.check_config = fc_chaincfg_check_config;
	o.state.ud = (void *)cc;
	rc = fc_validate_block(&o, b, vs, wsh, errmsg);
	for (size_t i = 0; rc == FC_OK && i < b->n_envelopes; i++)
		if (b->envelopes[i]->type == FLEXCHAIN__TX_TYPE__TX_CONFIG)
			st[i] = vs[i];
	fc_free(vs);
	return rc;
}

static int send_heartbeat(struct fc_netc *c, const char *id, uint64_t *seq)
{
	Flexchain__ControlMessage hm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Heartbeat hb = FLEXCHAIN__HEARTBEAT__INIT;

	hb.node_id = (char *)id;
	hb.seq = ++*seq;
	hm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEARTBEAT;
	hm.heartbeat = &hb;
	return fc_ctl_netc_send(c, &hm, 5000, NULL);
}

/* Brings t to the configuration in force at height h (blocks [0, h)
 * folded), waiting at most the validation timeout for storage to hold
 * them and heartbeating meanwhile. */
static int track_to(const struct fc_config *cfg, struct cfgtrack *t, uint64_t h, struct fc_netc *c,
		    const char *id, uint64_t *seq, uint64_t *next_hb, char *errmsg)
{
	uint64_t end = fc_mono_ms() + cfg->validation.timeout_ms;
	int rc = FC_OK;

	while (t->next < h) {
		rc = track_step(t, h, errmsg);
		if (rc != FC_OK && rc != FC_ENOTFOUND && rc != FC_EIO && rc != FC_ECLOSED &&
		    rc != FC_ETIMEOUT)
			return rc;
		if (t->next >= h)
			break;
		if (fc_mono_ms() >= end)
			return rc != FC_OK ? rc
					   : fc_errf(errmsg, FC_ETIMEOUT,
						     "storage does not hold height %llu yet",
						     (unsigned long long)t->next);
		if (fc_mono_ms() >= *next_hb) {
			*next_hb = fc_mono_ms() + cfg->network.heartbeat_ms;
			if (send_heartbeat(c, id, seq) != FC_OK)
				return FC_ECLOSED;
		}
		if (rc != FC_OK)
			sleep_ms(20);
	}
	return FC_OK;
}

/* The statuses of the config transactions of b (normal ones stay as st
 * has them), on the configuration in force at b's height. */
static int judge_block(const struct fc_config *cfg, struct cfgtrack *t, const Flexchain__Block *b,
		       uint8_t *st, struct fc_netc *c, const char *id, uint64_t *seq,
		       uint64_t *next_hb, char *errmsg)
{
	uint64_t h = b->header->height;
	int rc = track_to(cfg, t, h, c, id, seq, next_hb, errmsg);

	if (rc == FC_OK)
		rc = judge_configs(t->cc, b, st, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "compute %s: block %llu not judged: %s\n", id,
			(unsigned long long)h, errmsg);
		return rc;
	}
	for (size_t i = 0; i < b->n_envelopes; i++)
		if (b->envelopes[i]->type == FLEXCHAIN__TX_TYPE__TX_CONFIG)
			fprintf(stderr, "compute %s: block %llu tx %zu config status %u\n", id,
				(unsigned long long)h, i, (unsigned)st[i]);
	return FC_OK;
}

static int cmd_compute(const struct fc_config *cfg, int argc, char **argv)
{
	const char *id = opt(argc, argv, "--id", NULL);
	uint64_t end = fc_mono_ms() + 1000u * strtoul(opt(argc, argv, "--seconds", "600"), NULL, 10);
	const struct fc_config_node *self;
	char errmsg[FC_ERRMSG_LEN];
	fc_cert *cert = NULL;
	fc_key *key = NULL;
	const uint8_t *der;
	size_t dlen;
	int target = 0, lie = has_flag(argc, argv, "--lie"), left = 0;
	const char *address = opt(argc, argv, "--address", NULL);
	const char *dereg = opt(argc, argv, "--deregister-after", NULL);
	uint64_t seq = 0, verdicts = 0, lies = 0, configs = 0;
	struct cfgtrack track;

	if (!id || !(self = fc_config_find_node_kind(cfg, FC_NODE_COMPUTE, id)))
		die("compute", "--id must name a compute server of the configuration");
	memset(&track, 0, sizeof track);
	if (fc_chaincfg_genesis(cfg, &track.cc, errmsg) != FC_OK)
		die("compute: genesis configuration", errmsg);
	if (fc_identity_load(cfg->crypto_dir, self->org, FC_IDENTITY_ROLE_COMPUTE, id, &cert, &key,
			     errmsg) != FC_OK)
		die("compute identity", errmsg);
	der = fc_crypto_cert_der(cert, &dlen);
	while (fc_mono_ms() < end && !left) {
		const struct fc_config_node *n = &cfg->orderers[target];
		Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
		Flexchain__Register reg = FLEXCHAIN__REGISTER__INIT;
		struct fc_netc *c = NULL;
		char addr[64];
		int rc;

		if (fc_netc_connect(n->host, n->port, 1000, &c, NULL) != FC_OK) {
			target = (target + 1) % (int)cfg->n_orderers;
			sleep_ms(200);
			continue;
		}
		if (address)
			snprintf(addr, sizeof addr, "%s", address);
		else
			snprintf(addr, sizeof addr, "%s:%u", self->host, (unsigned)self->port);
		reg.node_id = (char *)id;
		reg.org = self->org;
		reg.cert = (ProtobufCBinaryData){dlen, (uint8_t *)der};
		reg.address = addr;
		reg.cores = 1;
		m.request_id = 1;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_REGISTER;
		m.register_ = &reg;
		if (fc_ctl_netc_send(c, &m, 5000, NULL) != FC_OK ||
		    fc_ctl_netc_recv(c, 0, 3000, &r, NULL) != FC_OK ||
		    r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT) {
			fc_wire_free((ProtobufCMessage *)r);
			fc_netc_close(c);
			sleep_ms(200);
			continue;
		}
		if (r->submit_result->code != FC_OK) {
			int who = r->submit_result->leader[0]
				      ? find_orderer(cfg, r->submit_result->leader)
				      : -1;
			if (r->submit_result->code != FC_EAGAIN)
				fprintf(stderr, "compute %s: register refused: %s\n", id,
					r->submit_result->message);
			target = who >= 0 ? who : (target + 1) % (int)cfg->n_orderers;
			fc_wire_free((ProtobufCMessage *)r);
			fc_netc_close(c);
			sleep_ms(100);
			continue;
		}
		fc_wire_free((ProtobufCMessage *)r);
		fprintf(stderr, "compute %s: registered with %s\n", id, n->id);
		/* Serve until the connection fails. */
		uint64_t next_hb = fc_mono_ms() + cfg->network.heartbeat_ms;
		uint64_t dereg_at = dereg ? fc_mono_ms() + 1000u * strtoul(dereg, NULL, 10) : 0;
		for (;;) {
			r = NULL;
			if (dereg_at && !left && fc_mono_ms() >= dereg_at) {
				Flexchain__ControlMessage dm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
				Flexchain__Deregister dr = FLEXCHAIN__DEREGISTER__INIT;
				dr.node_id = (char *)id;
				dm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DEREGISTER;
				dm.deregister = &dr;
				if (fc_ctl_netc_send(c, &dm, 5000, NULL) != FC_OK)
					break;
				left = 1;
				fprintf(stderr, "compute %s: left the committees (draining)\n", id);
			}
			rc = fc_ctl_netc_recv(c, 0, cfg->network.heartbeat_ms, &r, NULL);
			if (rc == FC_ETIMEOUT || fc_mono_ms() >= next_hb) {
				next_hb = fc_mono_ms() + cfg->network.heartbeat_ms;
				if (send_heartbeat(c, id, &seq) != FC_OK)
					break;
				if (rc == FC_ETIMEOUT)
					continue;
			}
			if (rc != FC_OK || fc_mono_ms() >= end)
				break;
			if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST &&
			    r->validate_request->block) {
				const Flexchain__Block *b = r->validate_request->block;
				Flexchain__ControlMessage vm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
				Flexchain__Verdict *v = NULL;
				uint8_t *st = fc_calloc(b->n_envelopes + 1, 1), wsh[FC_HASH_LEN];
				int hrc;
				for (size_t i = 0; i < b->n_envelopes; i++)
					st[i] = FLEXCHAIN__TX_STATUS__TX_VALID;
				if (b->header && has_config(b)) {
					int jrc = judge_block(cfg, &track, b, st, c, id, &seq,
							      &next_hb, errmsg);
					if (jrc != FC_OK) {
						/* no verdict: the others (or storage) decide */
						fc_free(st);
						fc_wire_free((ProtobufCMessage *)r);
						r = NULL;
						if (jrc == FC_ECLOSED)
							break;
						continue;
					}
					configs++;
				}
				if (lie && b->n_envelopes)
					st[0] = FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT;
				hrc = fc_hash_write_set(b, st, b->n_envelopes, wsh);
				if (lie && !b->n_envelopes)
					wsh[0] ^= 0xff;
				if (hrc == FC_OK &&
				    fc_validate_verdict_sign(b, st, wsh, false, cert, key, &v,
							     errmsg) == FC_OK) {
					vm.request_id = r->request_id;
					vm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_VERDICT;
					vm.verdict = v;
					if (fc_ctl_netc_send(c, &vm, 5000, NULL) == FC_OK) {
						verdicts++;
						lies += lie;
						if (lie)
							fprintf(stderr,
								"compute %s: wrong verdict "
								"signed for block %llu\n",
								id, (unsigned long long)v->height);
					}
				}
				fc_validate_verdict_free(v);
				fc_free(st);
			}
			fc_wire_free((ProtobufCMessage *)r);
		}
		fc_wire_free((ProtobufCMessage *)r);
		fc_netc_close(c);
		target = (target + 1) % (int)cfg->n_orderers;
		sleep_ms(100);
	}
	printf("compute=%s verdicts=%llu lies=%llu config_blocks=%llu\n", id,
	       (unsigned long long)verdicts, (unsigned long long)lies, (unsigned long long)configs);
	track_close(&track);
	fc_crypto_key_free(key);
	fc_crypto_cert_free(cert);
	return 0;
}

/* ------------------------------------------------------------ discover */

static int cmd_discover(const struct fc_config *cfg, int argc, char **argv)
{
	unsigned ms = (unsigned)strtoul(opt(argc, argv, "--timeout-ms", "5000"), NULL, 10);
	struct fc_compute_info *v = NULL;
	char errmsg[FC_ERRMSG_LEN];
	size_t n = 0;

	if (fc_discover_compute(cfg, ms, &v, &n, errmsg) != FC_OK) {
		fprintf(stderr, "orderer-client: discover: %s\n", errmsg);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %s %s:%u draining=%d\n", v[i].id, v[i].org, v[i].host,
		       (unsigned)v[i].port, v[i].draining);
	printf("servers=%zu\n", n);
	fc_free(v);
	return 0;
}

/* ------------------------------------------------------------ storage-check */

/* 1 when one of the certificate's verdicts is signed by compute server id. */
static int certified_by(const Flexchain__CommitCertificate *c, const char *id)
{
	int found = 0;

	for (size_t i = 0; i < c->n_verdicts && !found; i++) {
		fc_cert *signer = NULL;
		if (fc_crypto_cert_from_der(c->verdicts[i]->signer.data, c->verdicts[i]->signer.len,
					    &signer, NULL) != FC_OK)
			continue;
		found = strcmp(fc_crypto_cert_cn(signer), id) == 0;
		fc_crypto_cert_free(signer);
	}
	return found;
}

/* 1 when the verdict declares every transaction valid. */
static int all_valid(const Flexchain__Verdict *v)
{
	for (size_t i = 0; i < v->tx_status.len; i++)
		if (v->tx_status.data[i] != FLEXCHAIN__TX_STATUS__TX_VALID)
			return 0;
	return 1;
}

static int cmd_storage_check(const struct fc_config *cfg, int argc, char **argv)
{
	uint64_t blocks = strtoull(opt(argc, argv, "--blocks", "0"), NULL, 10);
	uint64_t end = fc_mono_ms() + 1000u * strtoul(opt(argc, argv, "--timeout-s", "60"), NULL, 10);
	struct fc_storage_client *sc = NULL;
	struct fc_storage_height h = {0};
	fc_crypto_castore *cs = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	const char *liar = opt(argc, argv, "--liar", NULL);
	uint64_t next = 0, by_committee = 0, by_storage = 0, liar_in = 0, not_majority = 0;
	int bad = 0;

	if (!blocks)
		die("storage-check", "--blocks N required");
	if (fc_storage_client_create(cfg, NULL, &sc, errmsg) != FC_OK ||
	    fc_storage_castore_from_config(cfg, &cs, errmsg) != FC_OK)
		die("storage-check", errmsg);
	while (fc_mono_ms() < end) {
		if (fc_storage_get_height(sc, 0, &h, errmsg) == FC_OK && !h.empty &&
		    h.applied_height + 1 >= blocks)
			break;
		sleep_ms(200);
	}
	if (h.empty || h.applied_height + 1 < blocks) {
		fprintf(stderr, "storage-check: storage holds %s%llu blocks, want %llu\n",
			h.empty ? "no (empty) " : "",
			(unsigned long long)(h.empty ? 0 : h.applied_height + 1),
			(unsigned long long)blocks);
		bad = 1;
	}
	while (!bad && next < blocks) {
		Flexchain__BlockReply *br = NULL;
		if (fc_storage_get_blocks(sc, 0, next, blocks - next, &br, errmsg) != FC_OK ||
		    br->n_blocks == 0 || br->n_decisions != br->n_blocks) {
			fprintf(stderr, "storage-check: get blocks from %llu: %s\n",
				(unsigned long long)next, errmsg);
			fc_wire_free((ProtobufCMessage *)br);
			bad = 1;
			break;
		}
		for (size_t i = 0; i < br->n_blocks; i++, next++) {
			Flexchain__Decision *d = br->decisions[i];
			if (!d || !d->verdict || !d->certificate ||
			    fc_storage_verify_certified(cs, br->blocks[i], d->verdict,
							d->certificate, errmsg) != FC_OK) {
				fprintf(stderr, "storage-check: block %llu: %s\n",
					(unsigned long long)next, errmsg);
				bad = 1;
				continue;
			}
			if (d->certificate->storage_validated)
				by_storage++;
			else
				by_committee++;
			if (!liar)
				continue;
			if (certified_by(d->certificate, liar)) {
				fprintf(stderr,
					"storage-check: block %llu: certificate holds a "
					"verdict of %s\n",
					(unsigned long long)next, liar);
				liar_in++;
				bad = 1;
			}
			if (!d->certificate->storage_validated && !all_valid(d->verdict)) {
				fprintf(stderr,
					"storage-check: block %llu: certified verdict is "
					"not the majority's\n",
					(unsigned long long)next);
				not_majority++;
				bad = 1;
			}
		}
		fc_wire_free((ProtobufCMessage *)br);
	}
	printf("storage blocks=%llu committee_certified=%llu storage_validated=%llu",
	       (unsigned long long)next, (unsigned long long)by_committee,
	       (unsigned long long)by_storage);
	if (liar)
		printf(" liar=%s liar_in_certificate=%llu not_majority=%llu", liar,
		       (unsigned long long)liar_in, (unsigned long long)not_majority);
	printf(" result=%s\n", bad ? "FAIL" : "ok");
	fc_storage_client_destroy(sc);
	fc_crypto_castore_destroy(cs);
	return bad;
}

int main(int argc, char **argv)
{
	struct fc_config *cfg = NULL;
	char errmsg[FC_ERRMSG_LEN];
	const char *path;
	int rc;

	if (argc < 2) {
		fprintf(stderr,
			"usage: flexchain-orderer-client "
			"leader|submit|check|compute|storage-check|discover --config F ...\n");
		return 2;
	}
	path = opt(argc, argv, "--config", NULL);
	if (!path)
		die(argv[1], "--config required");
	if (fc_config_load(path, &cfg, errmsg) != FC_OK)
		die("config", errmsg);
	if (strcmp(argv[1], "leader") == 0)
		rc = cmd_leader(cfg);
	else if (strcmp(argv[1], "submit") == 0)
		rc = cmd_submit(cfg, argc, argv);
	else if (strcmp(argv[1], "check") == 0)
		rc = cmd_check(cfg, argc, argv);
	else if (strcmp(argv[1], "compute") == 0)
		rc = cmd_compute(cfg, argc, argv);
	else if (strcmp(argv[1], "storage-check") == 0)
		rc = cmd_storage_check(cfg, argc, argv);
	else if (strcmp(argv[1], "discover") == 0)
		rc = cmd_discover(cfg, argc, argv);
	else {
		fprintf(stderr, "orderer-client: unknown command %s\n", argv[1]);
		rc = 2;
	}
	fc_config_free(cfg);
	return rc;
}
