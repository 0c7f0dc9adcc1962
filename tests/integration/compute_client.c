/* compute_client: test client of flexchain-compute (tests/integration/
 * compute_e2e.sh). Self-contained: builds and signs proposals with the
 * organisation's client identity and speaks GatewayRequest / EndorseRequest /
 * TxQuery to compute servers.
 *
 *   compute_client issue  --config F --org ORG --id ID
 *       issues a compute certificate for a server joining at run time.
 *   compute_client call   --config F --gw H:P [--org ORG] [--mode submit|async|evaluate]
 *                         CONTRACT FUNCTION [ARG...]
 *       prints "code=C status=S height=H index=I tx=T response=R msg=..."; exit 0.
 *   compute_client load   --config F --gws H:P[,H:P..] --accounts N --count M
 *                         --threads T --out FILE [--org ORG] [--seconds S]
 *       SUBMITs M random send_payment over accounts a0..a<N-1> from T threads,
 *       moving to the next gateway when one fails; appends one line per tx
 *       to FILE: "TXID STATUS HEIGHT INDEX FROM TO AMOUNT" (STATUS -1: fate
 *       unknown, resolved by check).
 *   compute_client check  --config F --gw H:P --accounts N --initial C --log FILE
 *       resolves unknown statuses (TxQuery), replays the VALID payments in
 *       chain order over the initial balances and compares every account's
 *       balance (EVALUATE) and the total. Exit 0 iff all match.
 *   compute_client verdicts --config F
 *       counts the verdicts in the certificates stored on storage replica 0,
 *       per signer: "signer=ID verdicts=N".
 *   compute_client raw    --config F --org1 H:P --org2 H:P --case policy|forged|mismatch
 *       (over account z0, which must exist) builds an envelope by hand from endorsements requested
 * directly, submits it to the orderer and prints the final status name.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_time.h"
#include "fc_wire.h"

static const struct fc_config *cfg;
static fc_cert *ccert;
static fc_key *ckey;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "compute_client: %s: %s\n", what, msg);
	exit(1);
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static int rpc(const char *addr, Flexchain__ControlMessage *m, unsigned timeout_ms,
	       Flexchain__ControlMessage **r)
{
	char host[256];
	uint16_t port;

	*r = NULL;
	if (!fc_net_split_addr(addr, host, sizeof host, &port))
		die("address", addr);
	return fc_ctl_netc_call(host, port, m, 2000, timeout_ms, r, NULL);
}

static void load_client(const char *org)
{
	char cid[128], err[FC_ERRMSG_LEN];

	if (fc_identity_client_id(org, cid, sizeof cid, err) != FC_OK ||
	    fc_identity_load(cfg->crypto_dir, org, FC_IDENTITY_ROLE_CLIENT, cid, &ccert, &ckey,
			     err) != FC_OK)
		die("client identity", err);
}

/* A signed proposal: p fields point into *store (caller frees with free_prop). */
struct prop {
	Flexchain__Proposal p;
	ProtobufCBinaryData args[8];
	uint8_t nonce[16];
	char txid[FC_TXID_HEX_LEN + 1];
	uint8_t *sig;
	size_t siglen;
};

static void make_prop(struct prop *x, const char *contract, const char *fn, int nargs, char **args)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	uint8_t d[FC_HASH_LEN];
	size_t dl;
	const uint8_t *der = fc_crypto_cert_der(ccert, &dl);

	memset(x, 0, sizeof *x);
	flexchain__proposal__init(&x->p);
	if (nargs > 8)
		die("args", "too many");
	for (int i = 0; i < nargs; i++)
		x->args[i] = (ProtobufCBinaryData){strlen(args[i]), (uint8_t *)args[i]};
	if (fc_crypto_random(x->nonce, sizeof x->nonce, NULL) != FC_OK)
		die("random", "failed");
	x->p.contract = (char *)contract;
	x->p.function = (char *)fn;
	x->p.n_args = (size_t)nargs;
	x->p.args = x->args;
	x->p.nonce = (ProtobufCBinaryData){sizeof x->nonce, x->nonce};
	x->p.creator = (ProtobufCBinaryData){dl, (uint8_t *)der};
	x->p.timestamp_ms = (uint64_t)time(NULL) * 1000u;
	fc_canon_tx_id_of(&x->p, x->txid);
	x->p.tx_id = x->txid;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &x->p;
	if (fc_hash_client_sig(&env, d) != FC_OK ||
	    fc_crypto_sign_digest(ckey, d, &x->sig, &x->siglen, NULL) != FC_OK)
		die("sign", "failed");
}

static int gw_call(const char *gw, struct prop *x, Flexchain__GatewayMode mode,
		   Flexchain__ControlMessage **r)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__GatewayRequest g = FLEXCHAIN__GATEWAY_REQUEST__INIT;

	g.mode = mode;
	g.proposal = &x->p;
	g.client_signature = (ProtobufCBinaryData){x->siglen, x->sig};
	m.request_id = 7;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST;
	m.gateway_request = &g;
	if (rpc(gw, &m, 180000, r) != FC_OK)
		return FC_EIO;
	if ((*r)->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REPLY) {
		fc_wire_free((ProtobufCMessage *)*r);
		*r = NULL;
		return FC_EPROTO;
	}
	return FC_OK;
}

static int tx_query(const char *gw, const char *txid, Flexchain__TxInfo *out)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__TxQuery q = FLEXCHAIN__TX_QUERY__INIT;
	int rc;

	q.tx_id = (char *)txid;
	m.request_id = 9;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY;
	m.tx_query = &q;
	rc = rpc(gw, &m, 10000, &r);
	if (rc == FC_OK && r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO) {
		out->found = r->tx_info->found;
		out->status = r->tx_info->status;
		out->height = r->tx_info->height;
		out->index = r->tx_info->index;
	} else if (rc == FC_OK) {
		rc = FC_EPROTO;
	}
	fc_wire_free((ProtobufCMessage *)r);
	return rc;
}

/* ----------------------------------------------------------------- issue */

static int cmd_issue(int argc, char **argv)
{
	const char *org = opt(argc, argv, "--org", NULL), *id = opt(argc, argv, "--id", NULL);
	const struct fc_config_org *o = org ? fc_config_find_org(cfg, org) : NULL;
	char dir[1024], cp[1024], kp[1024], err[FC_ERRMSG_LEN];
	fc_cert *ca = NULL, *cert = NULL;
	fc_key *cakey = NULL, *key = NULL;
	struct fc_crypto_issue_opts io = {0};

	if (!o || !id)
		die("issue", "--org ORG --id ID required");
	if (fc_identity_paths(cfg->crypto_dir, org, FC_IDENTITY_ROLE_COMPUTE, id, dir, cp, kp,
			      sizeof dir, err) != FC_OK ||
	    fc_crypto_cert_load_pem(o->ca_cert, &ca, err) != FC_OK ||
	    fc_crypto_key_load_pem(o->ca_key, &cakey, err) != FC_OK ||
	    fc_crypto_key_generate(&key, err) != FC_OK)
		die("issue", err);
	io.org = org;
	io.cn = id;
	io.ou = FC_IDENTITY_ROLE_COMPUTE;
	if (fc_crypto_cert_issue(ca, cakey, key, &io, &cert, err) != FC_OK)
		die("issue", err);
	char parent[1024];
	snprintf(parent, sizeof parent, "%s", dir);
	*strrchr(parent, '/') = 0;
	mkdir(parent, 0700);
	mkdir(dir, 0700);
	if (fc_crypto_cert_save_pem(cert, cp, 0, err) != FC_OK ||
	    fc_crypto_key_save_pem(key, kp, 0, err) != FC_OK)
		die("issue", err);
	printf("issued %s\n", cp);
	fc_crypto_cert_free(ca);
	fc_crypto_cert_free(cert);
	fc_crypto_key_free(cakey);
	fc_crypto_key_free(key);
	return 0;
}

/* ------------------------------------------------------------------ call */

static int cmd_call(int argc, char **argv)
{
	const char *gw = opt(argc, argv, "--gw", NULL);
	const char *mode = opt(argc, argv, "--mode", "submit");
	Flexchain__GatewayMode md = FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT;
	Flexchain__ControlMessage *r = NULL;
	struct prop x;
	int first = 2;

	while (first < argc && strncmp(argv[first], "--", 2) == 0)
		first += 2;
	if (!gw || argc - first < 2)
		die("call", "--gw H:P CONTRACT FUNCTION [ARG...] required");
	if (strcmp(mode, "async") == 0)
		md = FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC;
	else if (strcmp(mode, "evaluate") == 0)
		md = FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE;
	make_prop(&x, argv[first], argv[first + 1], argc - first - 2, argv + first + 2);
	if (atoi(opt(argc, argv, "--corrupt", "0")))
		x.sig[x.siglen / 2] ^= 0x22;
	if (gw_call(gw, &x, md, &r) != FC_OK)
		die("call", "no reply from the gateway");
	Flexchain__GatewayReply *g = r->gateway_reply;
	printf("code=%u status=%d height=%llu index=%u tx=%s response=%.*s msg=%s\n", g->code,
	       (int)g->status, (unsigned long long)g->height, g->index, g->tx_id,
	       (int)g->response.len, (const char *)g->response.data, g->message);
	fc_wire_free((ProtobufCMessage *)r);
	fc_free(x.sig);
	return 0;
}

/* ------------------------------------------------------------------ load */

struct load {
	char **gws;
	size_t ngw;
	unsigned accounts;
	unsigned long count;
	uint64_t deadline;
	FILE *out;
	pthread_mutex_t mu;
	unsigned long issued;
	unsigned long ok, failed;
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	unsigned seed = (unsigned)(fc_mono_ms() ^ (uintptr_t)&seed);
	size_t g = (size_t)rand_r(&seed) % l->ngw;

	for (;;) {
		char from[16], to[16], amt[16], *args[3] = {from, to, amt};
		Flexchain__ControlMessage *r = NULL;
		struct prop x;
		unsigned a, b;
		int rc;

		pthread_mutex_lock(&l->mu);
		if (l->issued >= l->count || fc_mono_ms() > l->deadline) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		l->issued++;
		pthread_mutex_unlock(&l->mu);
		a = (unsigned)rand_r(&seed) % l->accounts;
		b = (a + 1 + (unsigned)rand_r(&seed) % (l->accounts - 1)) % l->accounts;
		snprintf(from, sizeof from, "a%u", a);
		snprintf(to, sizeof to, "a%u", b);
		snprintf(amt, sizeof amt, "%u", 1 + (unsigned)rand_r(&seed) % 10);
		make_prop(&x, "smallbank", "send_payment", 3, args);
		for (size_t tries = 0; tries < 2 * l->ngw; tries++) {
			rc = gw_call(l->gws[g], &x, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, &r);
			if (rc == FC_OK && r->gateway_reply->code == FC_OK)
				break;
			if (rc == FC_OK && r->gateway_reply->code != FC_ESTATE &&
			    r->gateway_reply->code != FC_EIO &&
			    r->gateway_reply->code != FC_ETIMEOUT)
				break; /* a real refusal (e.g. insufficient funds) */
			fc_wire_free((ProtobufCMessage *)r);
			r = NULL;
			/* Lost connection: the tx may have been submitted; the
			 * same proposal is safe to send again (same tx id). */
			g = (g + 1) % l->ngw;
			usleep(100000);
		}
		pthread_mutex_lock(&l->mu);
		if (r && r->gateway_reply->code == FC_OK) {
			fprintf(l->out, "%s %d %llu %u %s %s %s\n", x.txid,
				(int)r->gateway_reply->status,
				(unsigned long long)r->gateway_reply->height,
				r->gateway_reply->index, from, to, amt);
			l->ok++;
		} else if (r && r->gateway_reply->code != FC_EDENIED) {
			fprintf(stderr, "tx %s: code %u: %s\n", x.txid, r->gateway_reply->code,
				r->gateway_reply->message);
			fprintf(l->out, "%s -1 0 0 %s %s %s\n", x.txid, from, to, amt);
			l->failed++;
		} else if (!r) {
			fprintf(l->out, "%s -1 0 0 %s %s %s\n", x.txid, from, to, amt);
			l->failed++;
		}
		fflush(l->out);
		pthread_mutex_unlock(&l->mu);
		fc_wire_free((ProtobufCMessage *)r);
		fc_free(x.sig);
	}
	return NULL;
}

static int cmd_load(int argc, char **argv)
{
	struct load l;
	char *gws = strdup(opt(argc, argv, "--gws", ""));
	unsigned threads = (unsigned)atoi(opt(argc, argv, "--threads", "8"));
	pthread_t th[64];

	memset(&l, 0, sizeof l);
	l.gws = calloc(16, sizeof *l.gws);
	for (char *t = strtok(gws, ","); t && l.ngw < 16; t = strtok(NULL, ","))
		l.gws[l.ngw++] = t;
	l.accounts = (unsigned)atoi(opt(argc, argv, "--accounts", "10"));
	l.count = strtoul(opt(argc, argv, "--count", "100"), NULL, 10);
	l.deadline = fc_mono_ms() + 1000u * strtoul(opt(argc, argv, "--seconds", "120"), NULL, 10);
	l.out = fopen(opt(argc, argv, "--out", "/dev/null"), "a");
	if (!l.ngw || l.accounts < 2 || !l.out || threads == 0 || threads > 64)
		die("load", "bad arguments");
	pthread_mutex_init(&l.mu, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, load_thread, &l);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("load: issued=%lu answered=%lu unknown=%lu\n", l.issued, l.ok, l.failed);
	fclose(l.out);
	free(l.gws);
	free(gws);
	return 0;
}

/* ----------------------------------------------------------------- check */

struct rec {
	char txid[FC_TXID_HEX_LEN + 1];
	int status;
	unsigned long long height;
	unsigned index;
	unsigned from, to;
	long long amount;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->height != y->height)
		return x->height < y->height ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

static int cmd_check(int argc, char **argv)
{
	const char *gw = opt(argc, argv, "--gw", NULL);
	unsigned n = (unsigned)atoi(opt(argc, argv, "--accounts", "10"));
	long long initial = atoll(opt(argc, argv, "--initial", "1000"));
	FILE *f = fopen(opt(argc, argv, "--log", ""), "r");
	struct rec *recs = NULL;
	size_t nr = 0, cap = 0, counts[9] = {0}, unknown = 0;
	long long *bal = calloc(n, sizeof *bal), total = 0;
	int bad = 0;
	char line[512];

	if (!gw || !f || !bal)
		die("check", "--gw and --log required");
	while (fgets(line, sizeof line, f)) {
		struct rec r;
		if (sscanf(line, "%64s %d %llu %u a%u a%u %lld", r.txid, &r.status, &r.height,
			   &r.index, &r.from, &r.to, &r.amount) != 7)
			continue;
		if (nr == cap) {
			cap = cap ? 2 * cap : 256;
			recs = realloc(recs, cap * sizeof *recs);
		}
		if (r.status < 0) {
			Flexchain__TxInfo ti = FLEXCHAIN__TX_INFO__INIT;
			if (tx_query(gw, r.txid, &ti) == FC_OK && ti.found) {
				r.status = ti.status;
				r.height = ti.height;
				r.index = ti.index;
			} else {
				unknown++; /* never ordered: no trace expected */
				continue;
			}
		}
		recs[nr++] = r;
	}
	fclose(f);
	qsort(recs, nr, sizeof *recs, rec_cmp);
	for (unsigned i = 0; i < n; i++)
		bal[i] = initial;
	for (size_t i = 0; i < nr; i++) {
		if (recs[i].status >= 0 && recs[i].status < 9)
			counts[recs[i].status]++;
		if (i && recs[i].height == recs[i - 1].height &&
		    recs[i].index == recs[i - 1].index) {
			fprintf(stderr, "check: two txs at %llu/%u\n", recs[i].height,
				recs[i].index);
			bad = 1;
		}
		if (recs[i].status == FLEXCHAIN__TX_STATUS__TX_VALID) {
			bal[recs[i].from] -= recs[i].amount;
			bal[recs[i].to] += recs[i].amount;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		char id[16], *args[1] = {id};
		Flexchain__ControlMessage *r = NULL;
		struct prop x;
		long long got;

		snprintf(id, sizeof id, "a%u", i);
		make_prop(&x, "smallbank", "balance", 1, args);
		if (gw_call(gw, &x, FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, &r) != FC_OK ||
		    r->gateway_reply->code != FC_OK)
			die("check", "balance query failed");
		got = strtoll((const char *)r->gateway_reply->response.data, NULL, 10);
		if (r->gateway_reply->response.len == 0)
			got = 0;
		{
			char tmp[64];
			snprintf(tmp, sizeof tmp, "%.*s", (int)r->gateway_reply->response.len,
				 (const char *)r->gateway_reply->response.data);
			got = strtoll(tmp, NULL, 10);
		}
		total += got;
		if (got != bal[i]) {
			fprintf(stderr, "check: account a%u: balance %lld, expected %lld\n", i, got,
				bal[i]);
			bad = 1;
		}
		fc_wire_free((ProtobufCMessage *)r);
		fc_free(x.sig);
	}
	printf("check: txs=%zu valid=%zu mvcc_conflict=%zu other_invalid=%zu never_ordered=%zu "
	       "total=%lld expected_total=%lld %s\n",
	       nr, counts[1], counts[2], nr - counts[1] - counts[2], unknown, total,
	       initial * (long long)n, bad || total != initial * (long long)n ? "MISMATCH" : "OK");
	free(recs);
	free(bal);
	return bad || total != initial * (long long)n;
}

/* ------------------------------------------------------------------- raw */

static Flexchain__ControlMessage *endorse_at(const char *addr, struct prop *x)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__EndorseRequest er = FLEXCHAIN__ENDORSE_REQUEST__INIT;

	er.proposal = &x->p;
	er.client_signature = (ProtobufCBinaryData){x->siglen, x->sig};
	m.request_id = 3;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REQUEST;
	m.endorse_request = &er;
	if (rpc(addr, &m, 20000, &r) != FC_OK ||
	    r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY ||
	    r->endorse_reply->code != FC_OK)
		die("endorse", r && r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ENDORSE_REPLY
				   ? r->endorse_reply->message
				   : addr);
	return r;
}

static void submit_raw(Flexchain__Envelope *env)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	uint64_t end = fc_mono_ms() + 30000;
	size_t target = 0;

	m.request_id = 5;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = env;
	while (fc_mono_ms() < end) {
		char a[300];
		snprintf(a, sizeof a, "%s:%u", cfg->orderers[target].host,
			 (unsigned)cfg->orderers[target].port);
		if (rpc(a, &m, 20000, &r) == FC_OK &&
		    r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT) {
			uint32_t code = r->submit_result->code;
			if (code == FC_OK) {
				fc_wire_free((ProtobufCMessage *)r);
				return;
			}
			if (code != FC_EAGAIN && code != FC_EBUSY)
				die("submit", r->submit_result->message);
		}
		fc_wire_free((ProtobufCMessage *)r);
		r = NULL;
		target = (target + 1) % cfg->n_orderers;
		usleep(100000);
	}
	die("submit", "no orderer accepted the envelope");
}

static const char *status_name(int s)
{
	static const char *names[] = {
	    "UNKNOWN",	     "VALID",	       "MVCC_READ_CONFLICT", "ENDORSEMENT_POLICY_FAILURE",
	    "BAD_SIGNATURE", "DUPLICATE_TXID", "BAD_PAYLOAD",	     "BAD_CONFIG"};
	return s >= 0 && s < 8 ? names[s] : "?";
}

static int cmd_raw(int argc, char **argv)
{
	const char *g1 = opt(argc, argv, "--org1", NULL), *g2 = opt(argc, argv, "--org2", NULL);
	const char *cs = opt(argc, argv, "--case", "policy");
	char acct[] = "z0", amt[] = "5", *args[2] = {acct, amt};
	Flexchain__ControlMessage *e1 = NULL, *e2 = NULL;
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	Flexchain__Endorsement *ends[2];
	Flexchain__TxInfo ti = FLEXCHAIN__TX_INFO__INIT;
	struct prop x;

	if (!g1 || !g2)
		die("raw", "--org1 and --org2 required");
	make_prop(&x, "smallbank", "deposit_checking", 2, args);
	if (strcmp(cs, "mismatch") == 0) {
		/* Org2 endorses now; a committed deposit then moves the
		 * account, so Org1's later execution reads another version. */
		struct prop y;
		Flexchain__ControlMessage *r = NULL;
		e2 = endorse_at(g2, &x);
		make_prop(&y, "smallbank", "deposit_checking", 2, args);
		if (gw_call(g1, &y, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, &r) != FC_OK ||
		    r->gateway_reply->code != FC_OK)
			die("raw", "deposit failed");
		fc_wire_free((ProtobufCMessage *)r);
		fc_free(y.sig);
		e1 = endorse_at(g1, &x);
		uint8_t h1[FC_HASH_LEN], h2[FC_HASH_LEN];
		fc_hash_rwset(e1->endorse_reply->rwset, h1);
		fc_hash_rwset(e2->endorse_reply->rwset, h2);
		printf("rwsets_differ=%d\n", memcmp(h1, h2, FC_HASH_LEN) != 0);
	} else {
		e1 = endorse_at(g1, &x);
		if (strcmp(cs, "forged") == 0)
			e2 = endorse_at(g2, &x);
	}
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &x.p;
	env.client_signature = (ProtobufCBinaryData){x.siglen, x.sig};
	env.rwset = e1->endorse_reply->rwset;
	env.response = e1->endorse_reply->response;
	ends[0] = e1->endorse_reply->endorsement;
	env.endorsements = ends;
	env.n_endorsements = 1;
	if (e2) {
		ends[1] = e2->endorse_reply->endorsement;
		env.n_endorsements = 2;
		if (strcmp(cs, "forged") == 0)
			ends[1]->signature.data[ends[1]->signature.len / 2] ^= 0x5a;
	}
	submit_raw(&env);
	for (int i = 0; i < 300; i++) {
		if (tx_query(g1, x.txid, &ti) == FC_OK && ti.found &&
		    ti.status != FLEXCHAIN__TX_STATUS__TX_UNKNOWN)
			break;
		usleep(100000);
	}
	printf("case=%s tx=%s found=%d status=%s\n", cs, x.txid, ti.found,
	       status_name((int)ti.status));
	fc_wire_free((ProtobufCMessage *)e1);
	fc_wire_free((ProtobufCMessage *)e2);
	fc_free(x.sig);
	return 0;
}

/* -------------------------------------------------------------- verdicts */

static int cmd_verdicts(void)
{
	struct fc_storage_client *sc = NULL;
	char err[FC_ERRMSG_LEN], names[64][80];
	unsigned long counts[64] = {0};
	size_t nn = 0;
	uint64_t h = 0;

	if (fc_storage_client_create(cfg, NULL, &sc, err) != FC_OK)
		die("storage", err);
	for (;;) {
		Flexchain__BlockReply *br = NULL;
		if (fc_storage_get_blocks(sc, 0, h, 100, &br, err) != FC_OK)
			break;
		if (br->n_blocks == 0) {
			fc_wire_free(&br->base);
			break;
		}
		for (size_t i = 0; i < br->n_decisions; i++) {
			Flexchain__CommitCertificate *c = br->decisions[i]->certificate;
			for (size_t j = 0; c && j < c->n_verdicts; j++) {
				fc_cert *cert = NULL;
				size_t k;
				if (fc_crypto_cert_from_der(c->verdicts[j]->signer.data,
							    c->verdicts[j]->signer.len, &cert,
							    NULL) != FC_OK)
					continue;
				for (k = 0; k < nn && strcmp(names[k], fc_crypto_cert_cn(cert));
				     k++)
					;
				if (k == nn && nn < 64)
					snprintf(names[nn++], sizeof names[0], "%s",
						 fc_crypto_cert_cn(cert));
				if (k < 64)
					counts[k]++;
				fc_crypto_cert_free(cert);
			}
		}
		h += br->n_blocks;
		fc_wire_free(&br->base);
	}
	printf("blocks=%llu\n", (unsigned long long)h);
	for (size_t k = 0; k < nn; k++)
		printf("signer=%s verdicts=%lu\n", names[k], counts[k]);
	fc_storage_client_destroy(sc);
	return 0;
}

int main(int argc, char **argv)
{
	struct fc_config *c = NULL;
	char err[FC_ERRMSG_LEN];
	const char *path;
	int rc;

	if (argc < 2)
		die("usage", "compute_client issue|call|load|check|raw --config F ...");
	path = opt(argc, argv, "--config", NULL);
	if (!path || fc_config_load(path, &c, err) != FC_OK)
		die("config", path ? err : "--config required");
	cfg = c;
	if (strcmp(argv[1], "issue") == 0) {
		rc = cmd_issue(argc, argv);
	} else if (strcmp(argv[1], "verdicts") == 0) {
		rc = cmd_verdicts();
	} else {
		load_client(opt(argc, argv, "--org", cfg->orgs[0].name));
		if (strcmp(argv[1], "call") == 0)
			rc = cmd_call(argc, argv);
		else if (strcmp(argv[1], "load") == 0)
			rc = cmd_load(argc, argv);
		else if (strcmp(argv[1], "check") == 0)
			rc = cmd_check(argc, argv);
		else if (strcmp(argv[1], "raw") == 0)
			rc = cmd_raw(argc, argv);
		else
			die("usage", argv[1]);
		fc_crypto_cert_free(ccert);
		fc_crypto_key_free(ckey);
	}
	fc_config_free(c);
	return rc;
}
