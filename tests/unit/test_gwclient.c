/* Unit tests of the client SDK (client/sdk/include/fc_gwclient.h):
 * identities and signed proposals checked with fc_crypto / fc_canon, and the
 * gateway client against small fake gateways written here over fc_net on
 * 127.0.0.1 (each on its own loop thread): submit / evaluate / status round
 * trips, contract errors, failover past a dead endpoint, and the
 * unknown-outcome rule (a submission whose connection dies is resolved by a
 * status query on the next gateway, never sent twice), and the refusal rule
 * (a request refused unexecuted with FC_EAGAIN by a draining gateway goes to
 * the next one, once per endpoint, and the caller gets FC_EAGAIN only when
 * every endpoint refused). Every wait is bounded by the client's own
 * timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_wire.h"

/* ------------------------------------------------------- the fake ledger */

#define MAX_TX 64

/* What the fake gateways committed, shared by all of them (one cluster). */
static struct {
	pthread_mutex_t mu;
	size_t n;
	char ids[MAX_TX][FC_TXID_HEX_LEN + 1];
	uint64_t height[MAX_TX];
} ledger = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void ledger_add(const char *id, uint64_t height)
{
	pthread_mutex_lock(&ledger.mu);
	if (ledger.n < MAX_TX) {
		snprintf(ledger.ids[ledger.n], sizeof ledger.ids[0], "%s", id);
		ledger.height[ledger.n++] = height;
	}
	pthread_mutex_unlock(&ledger.mu);
}

/* index of id, or -1 */
static int ledger_find(const char *id, uint64_t *height)
{
	int r = -1;

	pthread_mutex_lock(&ledger.mu);
	for (size_t i = 0; i < ledger.n; i++)
		if (strcmp(ledger.ids[i], id) == 0) {
			r = (int)i;
			*height = ledger.height[i];
		}
	pthread_mutex_unlock(&ledger.mu);
	return r;
}

static void ledger_reset(void)
{
	pthread_mutex_lock(&ledger.mu);
	ledger.n = 0;
	pthread_mutex_unlock(&ledger.mu);
}

/* ------------------------------------------------------- a fake gateway */

struct fake {
	uv_loop_t loop;
	uv_async_t stop;
	struct fc_net_server *srv;
	uint16_t port;
	pthread_t th;
	uint64_t height;  /* height reported for commits */
	int drop;	  /* close the connection on any gateway request, unanswered
			   * (a submission is still committed: the outcome the client
			   * cannot see) */
	int gave_up;	  /* answer a committed GW_SUBMIT with FC_ETIMEOUT, as a
			   * gateway that stopped waiting for the decision */
	int refuse;	  /* answer every gateway request FC_EAGAIN unexecuted, as
			   * a draining compute server */
	int n_submit, n_eval, n_query; /* read after the thread ended */
};

static void reply(struct fc_conn *conn, Flexchain__ControlMessage *cm)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(fc_wire_encode(&cm->base, &buf, &len, NULL), FC_OK);
	fc_conn_send(conn, buf, len);
	fc_free(buf);
}

/* The checks a real gateway makes first: the tx id and the client's
 * signature over the envelope it would build. */
static int check_request(const Flexchain__GatewayRequest *gr)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	char id[FC_TXID_HEX_LEN + 1];
	uint8_t dig[FC_HASH_LEN];
	fc_cert *cert = NULL;
	int rc;

	if (!gr->proposal || fc_canon_tx_id_of(gr->proposal, id) != FC_OK ||
	    strcmp(id, gr->proposal->tx_id) != 0)
		return FC_EVERIFY;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = gr->proposal;
	if (fc_hash_client_sig(&env, dig) != FC_OK ||
	    fc_crypto_cert_from_der(gr->proposal->creator.data, gr->proposal->creator.len, &cert,
				    NULL) != FC_OK)
		return FC_EVERIFY;
	rc = fc_crypto_verify_digest(cert, dig, gr->client_signature.data,
				     gr->client_signature.len, NULL);
	fc_crypto_cert_free(cert);
	return rc;
}

static void fake_frame(struct fc_conn *conn, const uint8_t *p, size_t len, void *ud)
{
	struct fake *f = ud;
	ProtobufCMessage *m = NULL;
	Flexchain__ControlMessage *in, out = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__GatewayReply gw = FLEXCHAIN__GATEWAY_REPLY__INIT;
	Flexchain__TxInfo ti = FLEXCHAIN__TX_INFO__INIT;
	char resp[256];

	assert_int_equal(fc_wire_decode(&flexchain__control_message__descriptor, p, len,
					FC_WIRE_MAX_MSG, &m, NULL),
			 FC_OK);
	in = (Flexchain__ControlMessage *)m;
	out.request_id = in->request_id;
	if (in->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY) {
		uint64_t h = 0;
		int idx = ledger_find(in->tx_query->tx_id, &h);
		f->n_query++;
		ti.tx_id = in->tx_query->tx_id;
		if (idx >= 0) {
			ti.found = 1;
			ti.height = h;
			ti.index = (uint32_t)idx;
			ti.status = FLEXCHAIN__TX_STATUS__TX_VALID;
		}
		out.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO;
		out.tx_info = &ti;
		reply(conn, &out);
	} else if (in->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REQUEST) {
		Flexchain__GatewayRequest *gr = in->gateway_request;
		Flexchain__Proposal *prop = gr->proposal;
		int rc = check_request(gr);
		if (gr->mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE)
			f->n_eval++;
		else
			f->n_submit++;
		if (f->refuse) {
			out.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REPLY;
			out.gateway_reply = &gw;
			gw.tx_id = prop ? prop->tx_id : "";
			gw.code = FC_EAGAIN;
			gw.message = "draining: request not executed, send it to another gateway";
			reply(conn, &out);
			goto free_m;
		}
		if (f->drop) {
			if (rc == FC_OK && gr->mode != FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE)
				ledger_add(prop->tx_id, f->height);
			fc_conn_close(conn);
			goto free_m;
		}
		out.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_GATEWAY_REPLY;
		out.gateway_reply = &gw;
		gw.tx_id = prop ? prop->tx_id : "";
		if (rc != FC_OK) {
			gw.code = (uint32_t)rc;
			gw.message = "bad client signature";
		} else if (strcmp(prop->contract, "deny") == 0) {
			gw.code = FC_EDENIED;
			gw.message = "deny: not allowed";
		} else {
			snprintf(resp, sizeof resp, "%s:%s:%.*s",
				 gr->mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE ? "eval" : "ok",
				 prop->function, prop->n_args ? (int)prop->args[0].len : 0,
				 prop->n_args ? (const char *)prop->args[0].data : "");
			gw.response.data = (uint8_t *)resp;
			gw.response.len = strlen(resp);
			if (gr->mode != FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE) {
				ledger_add(prop->tx_id, f->height);
				if (gr->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT && f->gave_up) {
					gw.code = FC_ETIMEOUT;
					gw.message = "no commit decision yet";
				} else if (gr->mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
					uint64_t h = 0;
					gw.status = FLEXCHAIN__TX_STATUS__TX_VALID;
					gw.index = (uint32_t)ledger_find(prop->tx_id, &h);
					gw.height = h;
				}
			}
		}
		reply(conn, &out);
	}
free_m:
	fc_wire_free(m);
}

static void fake_stop(uv_async_t *a)
{
	struct fake *f = a->data;

	fc_net_server_close(f->srv, NULL, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

enum { FAKE_NORMAL, FAKE_DROP, FAKE_GAVE_UP, FAKE_REFUSE };

/* mode: FAKE_NORMAL, FAKE_DROP (set drop), FAKE_GAVE_UP (set gave_up) or
 * FAKE_REFUSE (set refuse). */
static struct fake *fake_start(uint64_t height, int mode)
{
	static const struct fc_net_cbs cbs = {.on_frame = fake_frame};
	struct fake *f = calloc(1, sizeof *f);
	char em[FC_ERRMSG_LEN];

	assert_non_null(f);
	f->height = height;
	f->drop = mode == FAKE_DROP;
	f->gave_up = mode == FAKE_GAVE_UP;
	f->refuse = mode == FAKE_REFUSE;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(fc_net_listen(&f->loop, "127.0.0.1", 0, NULL, &cbs, f, &f->srv, em),
			 FC_OK);
	f->port = fc_net_server_port(f->srv);
	uv_async_init(&f->loop, &f->stop, fake_stop);
	f->stop.data = f;
	assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
	return f;
}

/* Stops the fake and joins its thread; its counters stay readable. */
static void fake_join(struct fake *f)
{
	uv_async_send(&f->stop);
	pthread_join(f->th, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* A port nothing listens on: bound once, then released. */
static uint16_t dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* ------------------------------------------------------------ fixtures */

struct fx {
	char dir[64];
	struct fc_gw_identity *id;
};

static void mkdirs(const char *path)
{
	char p[512];

	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	mkdir(p, 0700);
}

static struct fc_config *make_config(const char *dir, const uint16_t *ports, size_t n)
{
	char yaml[2048];
	struct fc_config *cfg = NULL;
	char em[FC_ERRMSG_LEN];
	int off;

	off = snprintf(yaml, sizeof yaml,
		       "cluster: t\ncrypto_dir: %s/crypto\norganisations:\n  - name: Org1\n"
		       "orderers:\n  - {id: o0, org: Org1, port: 1, raft_port: 2}\n"
		       "storage:\n  replicas:\n    - {id: s0, org: Org1, port: 3}\ncompute:\n",
		       dir);
	for (size_t i = 0; i < n; i++)
		off += snprintf(yaml + off, sizeof yaml - (size_t)off,
				"  - {id: c%zu, org: Org1, port: %u}\n", i, ports[i]);
	if (fc_config_parse(yaml, strlen(yaml), "test.yaml", dir, &cfg, em) != FC_OK)
		fail_msg("config: %s", em);
	return cfg;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof *x);
	fc_key *cak = NULL, *k = NULL;
	fc_cert *ca = NULL, *c = NULL;
	struct fc_crypto_issue_opts io = {.org = "Org1", .cn = "client.Org1", .ou = "client"};
	char d[512], cp[512], kp[512], cd[600];
	struct fc_config *cfg;
	uint16_t port = 4;

	assert_non_null(x);
	snprintf(x->dir, sizeof x->dir, "/tmp/fc_gwclient_XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(cd, sizeof cd, "%s/crypto", x->dir);
	assert_int_equal(fc_crypto_ca_create("Org1", 0, &cak, &ca, NULL), FC_OK);
	assert_int_equal(fc_crypto_key_generate(&k, NULL), FC_OK);
	assert_int_equal(fc_crypto_cert_issue(ca, cak, k, &io, &c, NULL), FC_OK);
	assert_int_equal(fc_identity_paths(cd, "Org1", FC_IDENTITY_ROLE_CLIENT, "client.Org1", d,
					   cp, kp, sizeof d, NULL),
			 FC_OK);
	mkdirs(d);
	assert_int_equal(fc_crypto_cert_save_pem(c, cp, 0, NULL), FC_OK);
	assert_int_equal(fc_crypto_key_save_pem(k, kp, 0, NULL), FC_OK);
	cfg = make_config(x->dir, &port, 1);
	assert_int_equal(fc_gw_identity_load(cfg, "Org9", &x->id, NULL), FC_ENOTFOUND);
	assert_null(x->id);
	assert_int_equal(fc_gw_identity_load(cfg, "Org1", &x->id, NULL), FC_OK);
	assert_int_equal(fc_crypto_cert_matches_key(x->id->cert, k, NULL), FC_OK);
	fc_gw_identity_free(x->id);
	assert_int_equal(fc_gw_identity_load(cfg, NULL, &x->id, NULL), FC_OK);
	assert_string_equal(x->id->org, "Org1");
	fc_config_free(cfg);
	fc_crypto_key_free(cak);
	fc_crypto_key_free(k);
	fc_crypto_cert_free(ca);
	fc_crypto_cert_free(c);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	char cmd[128];

	fc_gw_identity_free(x->id);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
	if (system(cmd) != 0)
		return -1;
	free(x);
	return 0;
}

static struct fc_gw_proposal *build(struct fx *x, const char *contract, const char *fn,
				    const char *arg)
{
	struct fc_gw_proposal *p = NULL;
	const char *args[1] = {arg};
	char em[FC_ERRMSG_LEN];

	if (fc_gw_proposal_build(x->id, contract, fn, arg ? 1 : 0, args, NULL, 0, &p, em) !=
	    FC_OK)
		fail_msg("build: %s", em);
	return p;
}

static struct fc_gwclient *client(const struct fc_gw_endpoint *eps, size_t n, unsigned timeout)
{
	struct fc_gwclient_opts o;
	struct fc_gwclient *c = NULL;

	fc_gwclient_opts_init(&o);
	o.timeout_ms = timeout;
	o.connect_timeout_ms = 2000;
	o.poll_ms = 20;
	assert_int_equal(fc_gwclient_create(NULL, eps, n, 0, &o, &c, NULL), FC_OK);
	return c;
}

/* --------------------------------------------------------------- tests */

static void test_proposal(void **state)
{
	struct fx *x = *state;
	const char *args[3] = {"7", "", "bin\0ary"};
	size_t lens[3] = {1, 0, 7};
	struct fc_gw_proposal *p = NULL, *q = NULL;
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	char id[FC_TXID_HEX_LEN + 1];
	uint8_t dig[FC_HASH_LEN];
	const uint8_t *der;
	size_t der_len;

	assert_int_equal(fc_gw_proposal_build(x->id, "smallbank", "deposit_checking", 3, args,
					      lens, 1234, &p, NULL),
			 FC_OK);
	assert_string_equal(p->prop.contract, "smallbank");
	assert_string_equal(p->prop.function, "deposit_checking");
	assert_int_equal(p->prop.n_args, 3);
	assert_memory_equal(p->prop.args[2].data, "bin\0ary", 7);
	assert_int_equal(p->prop.args[1].len, 0);
	assert_int_equal(p->prop.timestamp_ms, 1234);
	assert_int_equal(p->prop.nonce.len, FC_GW_NONCE_LEN);
	der = fc_crypto_cert_der(x->id->cert, &der_len);
	assert_int_equal(p->prop.creator.len, der_len);
	assert_memory_equal(p->prop.creator.data, der, der_len);
	/* the tx id is the canonical one over (nonce, creator) */
	assert_int_equal(fc_canon_tx_id_of(&p->prop, id), FC_OK);
	assert_string_equal(id, p->tx_id);
	assert_string_equal(p->prop.tx_id, p->tx_id);
	/* the signature is the client's over the TX_NORMAL envelope digest */
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &p->prop;
	assert_int_equal(fc_hash_client_sig(&env, dig), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(x->id->cert, dig, p->sig, p->sig_len, NULL),
			 FC_OK);
	/* and covers the proposal: another function does not verify */
	p->prop.function[0] = 'x';
	assert_int_equal(fc_hash_client_sig(&env, dig), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(x->id->cert, dig, p->sig, p->sig_len, NULL),
			 FC_EVERIFY);
	/* fresh nonce, fresh id */
	assert_int_equal(fc_gw_proposal_build(x->id, "kv", "read", 1, args, NULL, 0, &q, NULL),
			 FC_OK);
	assert_string_not_equal(q->tx_id, p->tx_id);
	assert_true(q->prop.timestamp_ms > 1000000000000ull);
	fc_gw_proposal_free(p);
	fc_gw_proposal_free(q);
	assert_int_equal(fc_gw_proposal_build(x->id, "", "read", 0, NULL, NULL, 0, &p, NULL),
			 FC_EINVAL);
	assert_null(p);
	assert_string_equal(fc_gw_status_name(FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT),
			    "mvcc_read_conflict");
	assert_string_equal(fc_gw_status_name(99), "unknown");
}

static void test_round_trips(void **state)
{
	struct fx *x = *state;
	struct fake *f;
	struct fc_config *cfg;
	struct fc_gw_endpoint *eps = NULL;
	size_t n = 0, first = 9;
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;
	char txid[FC_TXID_HEX_LEN + 1];

	ledger_reset();
	f = fake_start(5, FAKE_NORMAL);
	cfg = make_config(x->dir, &f->port, 1);
	assert_int_equal(fc_gw_endpoints_from_config(cfg, "nope", &eps, &n, &first, NULL),
			 FC_ENOTFOUND);
	assert_int_equal(fc_gw_endpoints_from_config(cfg, "c0", &eps, &n, &first, NULL), FC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(first, 0);
	assert_int_equal(eps[0].port, f->port);
	c = client(eps, n, 10000);

	/* submit: final status, height, index and response */
	p = build(x, "kv", "update", "user1");
	snprintf(txid, sizeof txid, "%s", p->tx_id);
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_string_equal(r.tx_id, txid);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.height, 5);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.resolved, 0);
	assert_int_equal(r.response_len, strlen("ok:update:user1"));
	assert_memory_equal(r.response, "ok:update:user1", r.response_len);
	assert_string_equal(r.gateway, "c0");
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);

	/* evaluate */
	p = build(x, "kv", "read", "user1");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, p, &r),
			 FC_OK);
	assert_memory_equal(r.response, "eval:read:user1", r.response_len);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_UNKNOWN);
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);

	/* async submit */
	p = build(x, "kv", "insert", "user2");
	assert_int_equal(
	    fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC, p, &r), FC_OK);
	assert_string_equal(r.tx_id, p->tx_id);
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);

	/* a contract error comes back with its code and message */
	p = build(x, "deny", "anything", NULL);
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_EDENIED);
	assert_non_null(strstr(r.message, "not allowed"));
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);

	/* status: known and unknown */
	assert_int_equal(fc_gwclient_status_sync(c, txid, &r), FC_OK);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.height, 5);
	assert_int_equal(fc_gwclient_status_sync(c, "00", &r), FC_OK);
	assert_int_equal(r.found, 0);
	assert_int_equal(fc_gwclient_pending(c), 0);
	assert_int_equal(fc_gwclient_failovers(c), 0);
	fc_gwclient_destroy(c);
	fake_join(f);
	assert_int_equal(f->n_submit, 3);
	assert_int_equal(f->n_eval, 1);
	assert_int_equal(f->n_query, 2);
	free(f);
	fc_free(eps);
	fc_config_free(cfg);
}

/* Many requests in flight on the asynchronous API, answered in any order. */
struct counter {
	int done, ok;
};

static void count_cb(const struct fc_gw_result *res, void *ud)
{
	struct counter *k = ud;

	k->done++;
	k->ok += res->code == FC_OK && res->status == FLEXCHAIN__TX_STATUS__TX_VALID;
}

static void test_pipelined(void **state)
{
	struct fx *x = *state;
	struct fake *f;
	struct fc_gw_endpoint ep = {"c0", "127.0.0.1", 0};
	struct fc_gwclient *c = NULL;
	struct counter k = {0, 0};
	uv_loop_t loop;

	ledger_reset();
	f = fake_start(3, FAKE_NORMAL);
	ep.port = f->port;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(fc_gwclient_create(&loop, &ep, 1, 0, NULL, &c, NULL), FC_OK);
	for (int i = 0; i < 40; i++) {
		struct fc_gw_proposal *p = build(x, "kv", "update", "k");
		assert_int_equal(fc_gwclient_send(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p,
						  count_cb, &k, NULL),
				 FC_OK);
		fc_gw_proposal_free(p);
	}
	assert_int_equal(k.done, 0); /* never called back from inside send */
	assert_int_equal(fc_gwclient_pending(c), 40);
	while (k.done < 40)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(k.ok, 40);
	fc_gwclient_close(c, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	fake_join(f);
	assert_int_equal(f->n_submit, 40);
	free(f);
}

static void test_failover_dead_endpoint(void **state)
{
	struct fx *x = *state;
	struct fake *f;
	struct fc_gw_endpoint eps[2] = {{"dead", "127.0.0.1", 0}, {"alive", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	f = fake_start(4, FAKE_NORMAL);
	eps[0].port = dead_port();
	eps[1].port = f->port;
	c = client(eps, 2, 10000);
	p = build(x, "kv", "insert", "a");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.resolved, 0);
	assert_string_equal(r.gateway, "alive");
	assert_string_equal(fc_gwclient_gateway(c), "alive");
	assert_true(fc_gwclient_failovers(c) >= 1);
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
	fake_join(f);
	assert_int_equal(f->n_submit, 1);
	free(f);

	/* nothing reachable: a clear error, quickly */
	eps[1].port = dead_port();
	c = client(eps, 2, 10000);
	p = build(x, "kv", "insert", "b");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_ECLOSED);
	assert_non_null(strstr(r.message, "no gateway reachable"));
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
}

static void test_failover_unknown_outcome(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"a", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	a = fake_start(9, FAKE_DROP); /* commits, then drops the connection unanswered */
	b = fake_start(10, FAKE_NORMAL);
	eps[0].port = a->port;
	eps[1].port = b->port;
	c = client(eps, 2, 10000);
	p = build(x, "kv", "update", "hot");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	/* resolved from the ledger through the other gateway */
	assert_int_equal(r.resolved, 1);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.height, 9);
	assert_string_equal(r.tx_id, p->tx_id);
	assert_string_equal(r.gateway, "b");
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);

	/* an evaluation is read-only: it is simply asked again */
	fc_gwclient_destroy(c);
	c = client(eps, 2, 10000);
	p = build(x, "kv", "read", "hot");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, p, &r),
			 FC_OK);
	assert_memory_equal(r.response, "eval:read:hot", r.response_len);
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);

	fake_join(a);
	fake_join(b);
	/* the submission went out exactly once: never resubmitted blindly */
	assert_int_equal(a->n_submit, 1);
	assert_int_equal(b->n_submit, 0);
	assert_true(b->n_query >= 1);
	assert_int_equal(a->n_eval, 1);
	assert_int_equal(b->n_eval, 1);
	free(a);
	free(b);
}

/* A gateway that answers "no decision yet" (FC_ETIMEOUT) to a submission:
 * the client asks for the status instead of failing or resubmitting. */
static void test_gateway_gave_up(void **state)
{
	struct fx *x = *state;
	struct fake *f;
	struct fc_gw_endpoint ep = {"c0", "127.0.0.1", 0};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	f = fake_start(12, FAKE_GAVE_UP);
	ep.port = f->port;
	c = client(&ep, 1, 10000);
	p = build(x, "kv", "update", "slow");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_int_equal(r.resolved, 1);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.height, 12);
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
	fake_join(f);
	assert_int_equal(f->n_submit, 1);
	assert_true(f->n_query >= 1);
	free(f);
}

/* A submission whose gateway died before it reached the ledger: the status
 * queries find nothing, and the outcome is reported unknown at the deadline
 * (still not resubmitted). */
static void test_unknown_outcome_times_out(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"a", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	a = fake_start(9, FAKE_DROP);
	b = fake_start(10, FAKE_NORMAL);
	eps[0].port = a->port;
	eps[1].port = b->port;
	c = client(eps, 2, 600);
	/* the dropping fake commits only what verifies: a broken signature
	 * makes it drop the connection without committing anything */
	p = build(x, "kv", "update", "lost");
	p->sig[p->sig_len / 2] ^= 0x5a;
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_ETIMEOUT);
	assert_non_null(strstr(r.message, "outcome unknown"));
	assert_non_null(strstr(r.message, p->tx_id));
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
	fake_join(a);
	fake_join(b);
	assert_int_equal(a->n_submit, 1);
	assert_int_equal(b->n_submit, 0);
	assert_true(b->n_query >= 1);
	free(a);
	free(b);
}

/* How many times id is in the fake ledger. */
static int ledger_count(const char *id)
{
	int n = 0;

	pthread_mutex_lock(&ledger.mu);
	for (size_t i = 0; i < ledger.n; i++)
		n += strcmp(ledger.ids[i], id) == 0;
	pthread_mutex_unlock(&ledger.mu);
	return n;
}

/* A draining gateway (FC_EAGAIN, not executed) in front of a working one:
 * the submission is executed by the second, exactly once, and the client
 * stays there. */
static void test_refused_goes_elsewhere(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"draining", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p, *p2;
	struct fc_gw_result r;

	ledger_reset();
	a = fake_start(5, FAKE_REFUSE);
	b = fake_start(6, FAKE_NORMAL);
	eps[0].port = a->port;
	eps[1].port = b->port;
	c = client(eps, 2, 10000);
	p = build(x, "kv", "insert", "moved");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_int_equal(r.status, FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(r.resolved, 0); /* a real answer, with the contract's result */
	assert_int_equal(r.height, 6);
	assert_string_equal(r.gateway, "b");
	assert_string_equal(r.tx_id, p->tx_id);
	assert_memory_equal(r.response, "ok:insert:moved", r.response_len);
	assert_string_equal(fc_gwclient_gateway(c), "b");
	assert_true(fc_gwclient_failovers(c) >= 1);
	assert_int_equal(ledger_count(p->tx_id), 1);
	fc_gw_result_clear(&r);
	/* the client moved: the next request goes straight to b */
	p2 = build(x, "kv", "read", "moved");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, p2, &r),
			 FC_OK);
	assert_string_equal(r.gateway, "b");
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);
	fc_gw_proposal_free(p2);
	fc_gwclient_destroy(c);
	fake_join(a);
	fake_join(b);
	assert_int_equal(a->n_submit, 1);
	assert_int_equal(b->n_submit, 1);
	assert_int_equal(a->n_eval, 0);
	assert_int_equal(b->n_eval, 1);
	free(a);
	free(b);
}

/* Many submissions in flight on the draining gateway's connection when it
 * starts refusing: the answers still come from that connection, and every
 * one of them ends on the other gateway, each executed once. */
static void test_refused_pipelined(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"draining", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c = NULL;
	struct counter k = {0, 0};
	char ids[20][FC_TXID_HEX_LEN + 1];
	uv_loop_t loop;

	ledger_reset();
	a = fake_start(5, FAKE_REFUSE);
	b = fake_start(6, FAKE_NORMAL);
	eps[0].port = a->port;
	eps[1].port = b->port;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(fc_gwclient_create(&loop, eps, 2, 0, NULL, &c, NULL), FC_OK);
	for (int i = 0; i < 20; i++) {
		struct fc_gw_proposal *p = build(x, "kv", "update", "k");
		memcpy(ids[i], p->tx_id, sizeof ids[i]);
		assert_int_equal(fc_gwclient_send(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p,
						  count_cb, &k, NULL),
				 FC_OK);
		fc_gw_proposal_free(p);
	}
	while (k.done < 20)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(k.ok, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(ledger_count(ids[i]), 1);
	fc_gwclient_close(c, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	fake_join(a);
	fake_join(b);
	assert_int_equal(a->n_submit, 20);
	assert_int_equal(b->n_submit, 20);
	free(a);
	free(b);
}

/* Every endpoint refuses: the caller gets FC_EAGAIN after one try per
 * endpoint, not a loop; with one endpoint at once. */
static void test_refused_everywhere(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"a", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	a = fake_start(5, FAKE_REFUSE);
	b = fake_start(6, FAKE_REFUSE);
	eps[0].port = a->port;
	eps[1].port = b->port;
	c = client(eps, 2, 10000);
	p = build(x, "kv", "insert", "nowhere");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_EAGAIN);
	assert_non_null(strstr(r.message, "refused unexecuted by 2 gateway(s) of 2"));
	assert_int_equal(r.resolved, 0);
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);

	c = client(eps, 1, 10000);
	p = build(x, "kv", "insert", "nowhere2");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_EAGAIN);
	assert_non_null(strstr(r.message, "refused unexecuted by 1 gateway(s) of 1"));
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
	fake_join(a);
	fake_join(b);
	assert_int_equal(a->n_submit, 2);
	assert_int_equal(b->n_submit, 1);
	assert_int_equal(ledger.n, 0);
	free(a);
	free(b);
}

/* The endpoint list replaced at run time: a client whose only gateway
 * drains gets a new list; the gateway in use is kept until the client
 * leaves it, then dropped. */
static void test_set_endpoints(void **state)
{
	struct fx *x = *state;
	struct fake *a, *b;
	struct fc_gw_endpoint eps[2] = {{"a", "127.0.0.1", 0}, {"b", "127.0.0.1", 0}};
	struct fc_gwclient *c;
	struct fc_gw_proposal *p;
	struct fc_gw_result r;

	ledger_reset();
	a = fake_start(5, FAKE_REFUSE);
	b = fake_start(7, FAKE_NORMAL);
	eps[0].port = a->port;
	eps[1].port = b->port;
	c = client(&eps[0], 1, 10000);
	p = build(x, "kv", "insert", "s1");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_EAGAIN);
	fc_gw_proposal_free(p);
	assert_int_equal(fc_gwclient_set_endpoints(c, NULL, 0, NULL), FC_EINVAL);
	/* a (connected) is not in the new list: kept until left */
	assert_int_equal(fc_gwclient_set_endpoints(c, &eps[1], 1, NULL), FC_OK);
	assert_string_equal(fc_gwclient_gateway(c), "a");
	p = build(x, "kv", "insert", "s2");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_string_equal(r.gateway, "b");
	assert_int_equal(r.height, 7);
	assert_int_equal(ledger_count(p->tx_id), 1);
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);
	/* a is dropped now: nothing goes there any more */
	assert_int_equal(fc_gwclient_set_endpoints(c, &eps[1], 1, NULL), FC_OK);
	assert_string_equal(fc_gwclient_gateway(c), "b");
	p = build(x, "kv", "insert", "s3");
	assert_int_equal(fc_gwclient_send_sync(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, &r),
			 FC_OK);
	assert_string_equal(r.gateway, "b");
	fc_gw_result_clear(&r);
	fc_gw_proposal_free(p);
	fc_gwclient_destroy(c);
	fake_join(a);
	fake_join(b);
	assert_int_equal(a->n_submit, 2);
	assert_int_equal(b->n_submit, 2);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proposal),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_failover_dead_endpoint),
	    cmocka_unit_test(test_failover_unknown_outcome),
	    cmocka_unit_test(test_unknown_outcome_times_out),
	    cmocka_unit_test(test_gateway_gave_up),
	    cmocka_unit_test(test_refused_goes_elsewhere),
	    cmocka_unit_test(test_refused_pipelined),
	    cmocka_unit_test(test_refused_everywhere),
	    cmocka_unit_test(test_set_endpoints),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
