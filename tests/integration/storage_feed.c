/* storage_feed - test tool for the storage pool integration tests.
 *
 * Builds a chain of really signed blocks with the crypto material that
 * `flexchain crypto generate` made for a configuration (client envelopes
 * with endorsements by one compute server of each organisation, headers
 * signed by the first orderer, verdicts signed by compute servers, commit
 * certificates signed by the orderer) and sends them through
 * fc_storage_client.
 *
 *   storage_feed append   --config F [--blocks N] [--txs T] [--deadline S]
 *       appends N blocks after the most advanced replica's head, printing
 *       "acked H" for every height the write quorum acknowledged; a failed
 *       append is retried (same block) until --deadline seconds pass.
 *   storage_feed validate --config F [--blocks N] [--seed S]
 *       random blocks with conflicts, bad signatures, policy failures and
 *       duplicates: asks replica 0 for its storage-validated verdict and runs
 *       fc_validate_block locally over the same state (read from replica 0);
 *       exits 1 unless tx_status and write_set_hash agree for every block.
 *       Each block is then certified (alternately by compute verdicts and by
 *       the storage verdict) and appended.
 *   storage_feed badsig   --config F
 *       a block with a corrupted orderer signature and one signed by a
 *       non-orderer must each be refused with a clear message.
 *   storage_feed deliver  --config F [--blocks N] [--deadline S]
 *                         [--wait-file PATH]
 *       subscribes to replica 0 from height 0 (with decisions) and expects
 *       N blocks, each followed by its decision, in order (also blocks that
 *       are appended after subscribing).
 *   storage_feed heights  --config F
 *       prints "<id> <height> <last hash hex>" (or "<id> empty") per replica.
 * Exit 0 on success, 1 on failure, 2 on bad usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_validate.h"
#include "fc_wire.h"

#include "signed_chain.h"

#define NKEYS 8

struct feed {
	struct fc_config *cfg;
	struct fc_storage_client *cl;
	fc_crypto_castore *cs;
	struct sc_chain ch;
	struct sc_ident stranger; /* borrowed from ch */
	/* validate mode: tx ids of earlier blocks, to make ledger duplicates */
	char old_ids[64][FC_TXID_HEX_LEN + 1];
	uint8_t old_nonce[64][16];
	size_t n_old;
	const char *wait_file; /* deliver: read nothing until it exists */
};

static void die(const char *what, int rc, const char *em)
{
	fprintf(stderr, "storage_feed: %s: %s (%s)\n", what, em ? em : "", fc_strerror(rc));
	exit(1);
}

/* ---------------------------------------------------------------- envelopes */

struct txspec {
	size_t n_reads, n_writes;
	char rkeys[2][16], wkeys[2][16];
	uint64_t rver[2];
	int bad_client_sig;
	int one_endorsement;
	const uint8_t *nonce; /* NULL: random */
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static Flexchain__Envelope *build_env(struct feed *f, uint64_t h, const struct txspec *ts,
				      char *txid_out, uint8_t *nonce_out)
{
	Flexchain__Envelope *env = lf_zalloc(sizeof *env);
	Flexchain__Proposal *p = lf_zalloc(sizeof *p);
	Flexchain__RWSet *rw = lf_zalloc(sizeof *rw);
	uint8_t nonce[16];
	char rk[2][16], wk[2][16];
	uint64_t rv[2];
	char em[FC_ERRMSG_LEN];

	flexchain__envelope__init(env);
	flexchain__proposal__init(p);
	flexchain__rwset__init(rw);
	if (ts->nonce)
		memcpy(nonce, ts->nonce, sizeof nonce);
	else if (fc_crypto_random(nonce, sizeof nonce, em) != FC_OK)
		die("random", FC_ECRYPTO, em);
	if (nonce_out)
		memcpy(nonce_out, nonce, sizeof nonce);
	p->nonce = lf_copy(nonce, sizeof nonce);
	p->creator = sc_der(&f->ch.client);
	p->tx_id = lf_zalloc(FC_TXID_HEX_LEN + 1);
	lf_check(fc_canon_tx_id_of(p, p->tx_id), "tx id");
	if (txid_out)
		strcpy(txid_out, p->tx_id);
	p->contract = sc_dupstr("kv");
	p->function = sc_dupstr("put");
	p->timestamp_ms = 1700000000000ull + h;
	env->proposal = p;

	/* sorted, unique keys (the spec may repeat one: keep the first) */
	memcpy(rk, ts->rkeys, sizeof rk);
	memcpy(wk, ts->wkeys, sizeof wk);
	rv[0] = ts->rver[0];
	rv[1] = ts->rver[1];
	size_t nr = ts->n_reads, nw = ts->n_writes;
	if (nr == 2) {
		int c = strcmp(rk[0], rk[1]);
		if (c == 0)
			nr = 1;
		else if (c > 0) {
			char t[16];
			uint64_t tv = rv[0];
			memcpy(t, rk[0], 16);
			memcpy(rk[0], rk[1], 16);
			memcpy(rk[1], t, 16);
			rv[0] = rv[1];
			rv[1] = tv;
		}
	}
	if (nw == 2) {
		if (strcmp(wk[0], wk[1]) == 0)
			nw = 1;
		else
			qsort(wk, 2, sizeof wk[0], key_cmp);
	}
	rw->n_reads = nr;
	rw->reads = lf_zalloc(sizeof *rw->reads * (nr ? nr : 1));
	for (size_t i = 0; i < nr; i++) {
		Flexchain__KVRead *r = lf_zalloc(sizeof *r);
		flexchain__kvread__init(r);
		r->key = lf_copy(rk[i], strlen(rk[i]));
		r->version = rv[i];
		rw->reads[i] = r;
	}
	rw->n_writes = nw;
	rw->writes = lf_zalloc(sizeof *rw->writes * (nw ? nw : 1));
	for (size_t i = 0; i < nw; i++) {
		char val[64];
		Flexchain__KVWrite *w = lf_zalloc(sizeof *w);
		flexchain__kvwrite__init(w);
		w->key = lf_copy(wk[i], strlen(wk[i]));
		snprintf(val, sizeof val, "v-%llu-%s", (unsigned long long)h, p->tx_id + 56);
		w->value = lf_copy(val, strlen(val));
		rw->writes[i] = w;
	}
	env->rwset = rw;
	env->response = lf_copy("ok", 2);

	sc_envelope_sign(&f->ch, env, ts->one_endorsement ? 1 : f->ch.n_endorsers);
	if (ts->bad_client_sig) /* the endorsements do not cover it */
		env->client_signature.data[env->client_signature.len / 2] ^= 0x5a;
	return env;
}

/* ------------------------------------------------------------------ blocks */

/* Write-only block: every transaction VALID. */
static void make_plain_block(struct feed *f, size_t ntx, struct sc_built *bb, uint8_t **status_out)
{
	Flexchain__Envelope **envs = lf_zalloc(sizeof *envs * ntx);
	uint8_t *status = lf_zalloc(ntx);

	for (size_t i = 0; i < ntx; i++) {
		struct txspec ts;
		memset(&ts, 0, sizeof ts);
		if (!(f->ch.next == 0 && i == 0)) { /* genesis tx 0 may not write */
			ts.n_writes = 2;
			snprintf(ts.wkeys[0], 16, "k%llu.%u",
				 (unsigned long long)(f->ch.next % 1000000000u), (unsigned)(i % 1000));
			snprintf(ts.wkeys[1], 16, "shared%u", (unsigned)(i % 4));
		}
		envs[i] = build_env(f, f->ch.next, &ts, NULL, NULL);
		status[i] = FLEXCHAIN__TX_STATUS__TX_VALID;
	}
	sc_block_build(&f->ch, envs, ntx, &f->ch.orderer, bb);
	*status_out = status;
}

static int run_append(struct feed *f, uint64_t blocks, size_t ntx, unsigned deadline_s)
{
	char em[FC_ERRMSG_LEN];
	uint64_t end = sc_now_s() + deadline_s;

	sc_find_head(&f->ch, f->cl);
	for (uint64_t k = 0; k < blocks; k++) {
		struct sc_built bb;
		uint8_t *status, wsh[FC_HASH_LEN];
		Flexchain__Verdict *v[3];
		Flexchain__CommitCertificate *c;
		size_t nv;
		int rc;

		make_plain_block(f, ntx, &bb, &status);
		lf_check(fc_hash_write_set(bb.b, status, ntx, wsh), "write-set hash");
		nv = sc_compute_verdicts(&f->ch, &bb, status, wsh, v);
		c = sc_certify(&f->ch, &bb, v, nv, NULL);
		for (;;) {
			rc = fc_storage_append(f->cl, bb.b, v[0], c, NULL, em);
			if (rc == FC_OK)
				break;
			if (sc_now_s() >= end) {
				fprintf(stderr, "storage_feed: append %llu: %s\n",
					(unsigned long long)f->ch.next, em);
				return 1;
			}
			sc_pause();
		}
		printf("acked %llu\n", (unsigned long long)f->ch.next);
		fflush(stdout);
		memcpy(f->ch.head, bb.hash, FC_HASH_LEN);
		f->ch.next++;
		sc_cert_free(c);
		for (size_t i = 0; i < nv; i++)
			fc_validate_verdict_free(v[i]);
		fc_free(status);
		sc_block_free(&bb);
	}
	return 0;
}

/* ------------------------------------------------------------ validate mode */

static int sv_get_versions(void *ud, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			   char *errmsg)
{
	struct feed *f = ud;
	Flexchain__StateReply *sr = NULL;
	int rc = fc_storage_get_state(f->cl, 0, keys, n, &sr, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		versions[i] = sr->entries[i]->found ? sr->entries[i]->version : 0;
	fc_wire_free(&sr->base);
	return FC_OK;
}

static int sv_txids(void *ud, const char *const *ids, size_t n, bool *seen, char *errmsg)
{
	struct feed *f = ud;
	Flexchain__TxBatchInfo *bi = NULL;
	int rc = fc_storage_get_txs(f->cl, 0, ids, n, &bi, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		seen[i] = bi->txs[i]->found;
	fc_wire_free(&bi->base);
	return FC_OK;
}

static const struct fc_policy *sv_policy(void *ud, const char *contract)
{
	struct feed *f = ud;
	const struct fc_config_policy *p = fc_config_contract_policy(f->cfg, contract);
	return p ? p->pol : NULL;
}

static uint64_t cur_version(struct feed *f, const char *key)
{
	ProtobufCBinaryData k = {strlen(key), (uint8_t *)key};
	uint64_t v = 0;
	char em[FC_ERRMSG_LEN];
	int rc = sv_get_versions(f, &k, 1, &v, em);
	if (rc != FC_OK)
		die("state query", rc, em);
	return v;
}

static int run_validate(struct feed *f, uint64_t blocks, unsigned seed)
{
	char em[FC_ERRMSG_LEN];
	struct fc_validate_opts o;
	unsigned long counts[8] = {0};

	srand(seed);
	sc_find_head(&f->ch, f->cl);
	memset(&o, 0, sizeof o);
	o.castore = f->cs;
	o.state.get_versions = sv_get_versions;
	o.state.txids_committed = sv_txids;
	o.state.policy_for = sv_policy;
	o.state.ud = f;
	for (uint64_t k = 0; k < blocks; k++) {
		size_t ntx = 2 + (size_t)(rand() % 10);
		Flexchain__Envelope **envs = lf_zalloc(sizeof *envs * ntx);
		char ids[16][FC_TXID_HEX_LEN + 1];
		uint8_t nonces[16][16];
		uint8_t *st_local = lf_zalloc(ntx), wsh_local[FC_HASH_LEN];
		Flexchain__Verdict *sv = NULL, *v[3];
		Flexchain__CommitCertificate *c;
		struct sc_built bb;
		size_t nv;
		int rc;

		for (size_t i = 0; i < ntx; i++) {
			struct txspec ts;
			int r = rand() % 100;
			memset(&ts, 0, sizeof ts);
			if (f->ch.next == 0 && i == 0) {
				envs[i] = build_env(f, f->ch.next, &ts, ids[i], nonces[i]);
				continue;
			}
			ts.n_reads = 1 + (size_t)(rand() % 2);
			for (size_t j = 0; j < ts.n_reads; j++) {
				snprintf(ts.rkeys[j], 16, "acct%d", rand() % NKEYS);
				ts.rver[j] = cur_version(f, ts.rkeys[j]);
				if (rand() % 8 == 0) /* a stale read */
					ts.rver[j] = ts.rver[j] ? ts.rver[j] - 1 : 7;
			}
			ts.n_writes = 1 + (size_t)(rand() % 2);
			for (size_t j = 0; j < ts.n_writes; j++)
				snprintf(ts.wkeys[j], 16, "acct%d", rand() % NKEYS);
			ts.bad_client_sig = r < 8;
			ts.one_endorsement = r >= 8 && r < 16;
			if (r >= 16 && r < 22 && i > 0)
				ts.nonce = nonces[rand() % (int)i]; /* duplicate in block */
			else if (r >= 22 && r < 26 && f->n_old)
				ts.nonce = f->old_nonce[(size_t)rand() % f->n_old]; /* in ledger */
			envs[i] = build_env(f, f->ch.next, &ts, ids[i], nonces[i]);
		}
		sc_block_build(&f->ch, envs, ntx, &f->ch.orderer, &bb);

		rc = fc_storage_validate(f->cl, 0, bb.b, NULL, 0, &sv, em);
		if (rc != FC_OK)
			die("storage validate", rc, em);
		rc = fc_validate_block(&o, bb.b, st_local, wsh_local, em);
		if (rc != FC_OK)
			die("local validate", rc, em);
		rc = fc_validate_verdict_verify(f->cs, sv, NULL, em);
		if (rc != FC_OK)
			die("storage verdict signature", rc, em);
		if (!sv->storage_validated || sv->height != f->ch.next || sv->tx_status.len != ntx ||
		    memcmp(sv->tx_status.data, st_local, ntx) != 0 ||
		    sv->write_set_hash.len != FC_HASH_LEN ||
		    memcmp(sv->write_set_hash.data, wsh_local, FC_HASH_LEN) != 0) {
			fprintf(stderr,
				"storage_feed: block %llu: storage and compute verdicts differ\n",
				(unsigned long long)f->ch.next);
			for (size_t i = 0; i < ntx; i++)
				fprintf(stderr, "  tx %zu: storage %d compute %d\n", i,
					i < sv->tx_status.len ? sv->tx_status.data[i] : -1,
					st_local[i]);
			return 1;
		}
		for (size_t i = 0; i < ntx; i++)
			counts[st_local[i] & 7]++;
		if (k % 2 == 0) {
			nv = sc_compute_verdicts(&f->ch, &bb, st_local, wsh_local, v);
			c = sc_certify(&f->ch, &bb, v, nv, NULL);
		} else {
			nv = 0;
			c = sc_certify(&f->ch, &bb, &sv, 1, f->cfg->storage.replicas[0].id);
		}
		rc = fc_storage_append(f->cl, bb.b, nv ? v[0] : sv, c, NULL, em);
		if (rc != FC_OK)
			die("append", rc, em);
		printf("block %llu: %zu txs, storage verdict == compute verdict\n",
		       (unsigned long long)f->ch.next, ntx);
		for (size_t i = 0; i < ntx && f->n_old < 64; i++)
			if (st_local[i] == FLEXCHAIN__TX_STATUS__TX_VALID) {
				memcpy(f->old_nonce[f->n_old], nonces[i], 16);
				strcpy(f->old_ids[f->n_old++], ids[i]);
			}
		memcpy(f->ch.head, bb.hash, FC_HASH_LEN);
		f->ch.next++;
		sc_cert_free(c);
		for (size_t i = 0; i < nv; i++)
			fc_validate_verdict_free(v[i]);
		fc_wire_free(&sv->base);
		fc_free(st_local);
		sc_block_free(&bb);
	}
	printf("statuses: valid=%lu mvcc=%lu policy=%lu badsig=%lu dup=%lu payload=%lu\n",
	       counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
	/* the mix must have exercised the interesting paths */
	if (blocks >= 10 && (!counts[1] || !counts[2] || !counts[3] || !counts[4] || !counts[5])) {
		fprintf(stderr, "storage_feed: status mix too narrow\n");
		return 1;
	}
	return 0;
}

/* -------------------------------------------------------------- badsig mode */

static int try_bad(struct feed *f, int how)
{
	char em[FC_ERRMSG_LEN];
	struct sc_built bb;
	uint8_t *status, wsh[FC_HASH_LEN];
	Flexchain__Verdict *v[3];
	Flexchain__CommitCertificate *c;
	size_t nv;
	int rc, ok = 0;

	sc_find_head(&f->ch, f->cl);
	if (how == 0) {
		make_plain_block(f, 2, &bb, &status);
		bb.b->header->signature.data[bb.b->header->signature.len - 1] ^= 0x01;
	} else {
		Flexchain__Envelope **envs = lf_zalloc(sizeof *envs);
		struct txspec ts;
		memset(&ts, 0, sizeof ts);
		envs[0] = build_env(f, f->ch.next, &ts, NULL, NULL);
		sc_block_build(&f->ch, envs, 1, &f->stranger, &bb);
		status = lf_zalloc(1);
		status[0] = FLEXCHAIN__TX_STATUS__TX_VALID;
	}
	lf_check(fc_hash_write_set(bb.b, status, bb.b->n_envelopes, wsh), "write-set hash");
	nv = sc_compute_verdicts(&f->ch, &bb, status, wsh, v);
	c = sc_certify(&f->ch, &bb, v, nv, NULL);
	rc = fc_storage_append(f->cl, bb.b, v[0], c, NULL, em);
	printf("%s: %s: %s\n", how == 0 ? "corrupted orderer signature" : "signed by a non-orderer",
	       fc_strerror(rc), em);
	if (rc == FC_EVERIFY &&
	    strstr(em, how == 0 ? "orderer signature" : "is not an orderer") != NULL)
		ok = 1;
	sc_cert_free(c);
	for (size_t i = 0; i < nv; i++)
		fc_validate_verdict_free(v[i]);
	fc_free(status);
	sc_block_free(&bb);
	return ok;
}

static int run_badsig(struct feed *f)
{
	uint64_t before;
	sc_find_head(&f->ch, f->cl);
	before = f->ch.next;
	if (!try_bad(f, 0) || !try_bad(f, 1))
		return 1;
	sc_find_head(&f->ch, f->cl);
	if (f->ch.next != before) {
		fprintf(stderr, "storage_feed: a refused block changed the height\n");
		return 1;
	}
	return 0;
}

static int run_heights(struct feed *f)
{
	char em[FC_ERRMSG_LEN];
	int rc = 0;
	for (size_t i = 0; i < fc_storage_client_replicas(f->cl); i++) {
		struct fc_storage_height hi;
		char hex[2 * FC_HASH_LEN + 1];
		const char *id = f->cfg->storage.replicas[i].id;
		if (fc_storage_get_height(f->cl, i, &hi, em) != FC_OK) {
			printf("%s unreachable\n", id);
			rc = 1;
		} else if (hi.empty) {
			printf("%s empty\n", id);
		} else {
			fc_canon_hex(hi.last_hash, FC_HASH_LEN, hex);
			printf("%s %llu %s\n", id, (unsigned long long)hi.applied_height, hex);
		}
	}
	return rc;
}

/* ------------------------------------------------------------- deliver mode */

/* Subscribes to replica 0 from height 0 with decisions and reads `blocks`
 * blocks, each followed by its decision, in height order; blocks appended
 * after the subscription must arrive too (FOLLOW). */
static int run_deliver(struct feed *f, uint64_t blocks, unsigned deadline_s)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__DeliverRequest dr = FLEXCHAIN__DELIVER_REQUEST__INIT;
	const struct fc_config_node *n = &f->cfg->storage.replicas[0];
	struct fc_netc *nc = NULL;
	char em[FC_ERRMSG_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t want = 0, end = sc_now_s() + deadline_s;
	int rc, expect_decision = 0;

	rc = fc_netc_connect(n->host, n->port, 2000, &nc, em);
	if (rc != FC_OK)
		die("deliver connect", rc, em);
	dr.from_height = 0;
	dr.with_decisions = 1;
	cm.request_id = 77;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST;
	cm.deliver_request = &dr;
	lf_check(fc_wire_encode(&cm.base, &buf, &len, NULL), "encode");
	rc = fc_netc_send(nc, buf, len, 2000, em);
	fc_free(buf);
	if (rc != FC_OK)
		die("deliver send", rc, em);
	/* a stalled subscriber: the replica must queue and wait, not drop */
	while (f->wait_file && access(f->wait_file, F_OK) != 0 && sc_now_s() < end) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	while (want < blocks || expect_decision) {
		ProtobufCMessage *m = NULL;
		Flexchain__ControlMessage *r;
		if (sc_now_s() >= end) {
			fprintf(stderr, "storage_feed: deliver: only %llu blocks in %u s\n",
				(unsigned long long)want, deadline_s);
			return 1;
		}
		rc = fc_netc_recv(nc, &buf, &len, 0, 1000, em);
		if (rc == FC_ETIMEOUT)
			continue;
		if (rc != FC_OK)
			die("deliver recv", rc, em);
		rc = fc_wire_decode(&flexchain__control_message__descriptor, buf, len,
				    FC_WIRE_MAX_MSG, &m, em);
		fc_free(buf);
		if (rc != FC_OK)
			die("deliver decode", rc, em);
		r = (Flexchain__ControlMessage *)m;
		if (r->request_id != 77)
			die("deliver", FC_EPROTO, "wrong request id");
		if (!expect_decision && r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK &&
		    r->block->header && r->block->header->height == want) {
			expect_decision = 1;
		} else if (expect_decision &&
			   r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_DECISION &&
			   r->decision->height == want && r->decision->verdict &&
			   r->decision->certificate) {
			expect_decision = 0;
			want++;
		} else {
			fprintf(stderr,
				"storage_feed: deliver: unexpected message %d at height %llu\n",
				(int)r->body_case, (unsigned long long)want);
			return 1;
		}
		fc_wire_free(m);
	}
	fc_netc_close(nc);
	printf("delivered %llu blocks with decisions\n", (unsigned long long)want);
	return 0;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"blocks", required_argument, NULL, 'b'},
	    {"txs", required_argument, NULL, 't'},
	    {"deadline", required_argument, NULL, 'd'},
	    {"seed", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 'T'},
	    {"wait-file", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *mode;
	uint64_t blocks = 10;
	size_t ntx = 4;
	unsigned deadline = 60, seed = 1, timeout = 3000;
	const char *wait_file = NULL;
	struct fc_storage_client_opts co;
	struct feed f;
	char em[FC_ERRMSG_LEN];
	int c, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: storage_feed append|validate|badsig|heights --config F\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:b:t:d:s:T:p:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'b':
			blocks = strtoull(optarg, NULL, 10);
			break;
		case 't':
			ntx = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			deadline = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			wait_file = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!config || ntx == 0 || ntx > 1000)
		return 2;
	memset(&f, 0, sizeof f);
	f.wait_file = wait_file;
	rc = fc_config_load(config, &f.cfg, em);
	if (rc != FC_OK)
		die("config", rc, em);
	rc = fc_storage_castore_from_config(f.cfg, &f.cs, em);
	if (rc != FC_OK)
		die("castore", rc, em);
	fc_storage_client_opts_init(&co);
	co.timeout_ms = timeout;
	rc = fc_storage_client_create(f.cfg, &co, &f.cl, em);
	if (rc != FC_OK)
		die("client", rc, em);

	if (strcmp(mode, "heights") != 0 && strcmp(mode, "deliver") != 0) {
		sc_chain_load(&f.ch, f.cfg);
		/* a valid identity that is not an orderer: the first committee member */
		f.stranger = f.ch.committee[0];
	}

	if (strcmp(mode, "append") == 0)
		rc = run_append(&f, blocks, ntx, deadline);
	else if (strcmp(mode, "validate") == 0)
		rc = run_validate(&f, blocks, seed);
	else if (strcmp(mode, "badsig") == 0)
		rc = run_badsig(&f);
	else if (strcmp(mode, "heights") == 0)
		rc = run_heights(&f);
	else if (strcmp(mode, "deliver") == 0)
		rc = run_deliver(&f, blocks, deadline);
	else
		rc = 2;
	sc_chain_free(&f.ch);
	fc_storage_client_destroy(f.cl);
	fc_crypto_castore_destroy(f.cs);
	fc_config_free(f.cfg);
	return rc;
}
