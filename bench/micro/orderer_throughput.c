/* bench-orderer_throughput: ordering throughput and latency of a Raft
 * cluster of three orderers on 127.0.0.1, each on its own libuv loop and
 * thread in this process, with 1 KiB envelopes and blocks of 500
 * transactions. N client threads keep a window of envelopes in flight each
 * (one connection to the leader apiece) for S seconds. An envelope counts as
 * ordered when the leader answers it (code 0): the block holding it is
 * Raft-committed and applied (fc_orderer.h). No compute servers and no
 * storage pool run: the storage replica of the cluster file is an unused
 * port, so decisions never start and ordering does not wait for them.
 *
 *   bench-orderer_throughput [--clients N] [--seconds S] [--window W]
 *                            [--pregen P] [--flexchain PATH] [--keep]
 *
 * Defaults: 4 clients, 10 s, 512 envelopes in flight per client, 30000
 * envelopes signed in advance per client (more are signed on the fly if a
 * client runs out). Identities come from `flexchain crypto generate` (PATH
 * defaults to ../client/flexchain next to this program). Prints a table:
 * envelopes ordered and per second, blocks and per second, p50/p99/max
 * submit-to-ordered latency. A benchmark, not a test: it asserts nothing.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_orderer.h"
#include "fc_wire.h"

#include "bench_util.h"

#define N_ORD 3
#define BLOCK_TXS 500
#define ENV_BYTES 1024

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench-orderer_throughput: %s: %s\n", what, msg);
	exit(1);
}

/* ------------------------------------------------------------ orderers */

struct node {
	const struct fc_config *cfg;
	char id[32];
	uv_loop_t loop;
	uv_async_t stop;
	struct fc_orderer *o;
	pthread_t thr;
	int rc;
	char errmsg[FC_ERRMSG_LEN];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
};

static void node_closed(void *ud)
{
	struct node *n = ud;

	uv_close((uv_handle_t *)&n->stop, NULL);
}

static void node_stop_cb(uv_async_t *a)
{
	struct node *n = a->data;

	fc_orderer_stop(n->o, node_closed, n);
}

static void *node_main(void *arg)
{
	struct node *n = arg;
	int rc;

	rc = uv_loop_init(&n->loop) == 0 ? FC_OK : FC_EIO;
	if (rc == FC_OK)
		rc = fc_orderer_create(&n->loop, n->cfg, n->id, NULL, &n->o, n->errmsg);
	if (rc == FC_OK) {
		uv_async_init(&n->loop, &n->stop, node_stop_cb);
		n->stop.data = n;
		rc = fc_orderer_start(n->o, n->errmsg);
		if (rc != FC_OK)
			fc_orderer_stop(n->o, node_closed, n);
	}
	pthread_mutex_lock(&n->mu);
	n->rc = rc;
	n->started = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->o)
		uv_run(&n->loop, UV_RUN_DEFAULT);
	fc_orderer_destroy(n->o);
	n->o = NULL;
	uv_loop_close(&n->loop);
	return NULL;
}

/* ------------------------------------------------------------ client side */

/* One request to orderer n on a fresh connection; *r is the reply (caller
 * frees with fc_wire_free, NULL on error). */
static int ask_orderer(const struct fc_config_node *n, const Flexchain__ControlMessage *m,
		       Flexchain__ControlMessage **r)
{
	return fc_ctl_netc_call(n->host, n->port, m, 1000, 3000, r, NULL);
}

/* Index of the ready leader: a malformed envelope is judged (FC_EPROTO)
 * only by a ready leader; the others answer FC_EAGAIN. -1 if none. */
static int find_leader(const struct fc_config *cfg)
{
	for (size_t i = 0; i < cfg->n_orderers; i++) {
		Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
		Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
		int yes = 0;

		m.request_id = 1;
		m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
		m.envelope = &env;
		if (ask_orderer(&cfg->orderers[i], &m, &r) == FC_OK &&
		    r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT)
			yes = r->submit_result->code == FC_EPROTO;
		fc_wire_free((ProtobufCMessage *)r);
		if (yes)
			return (int)i;
	}
	return -1;
}

/* Blocks in the chain of orderer idx (height_query), 0 on error. */
static uint64_t chain_blocks(const struct fc_config *cfg, int idx)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__HeightQuery q = FLEXCHAIN__HEIGHT_QUERY__INIT;
	uint64_t blocks = 0;

	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY;
	m.height_query = &q;
	if (ask_orderer(&cfg->orderers[idx], &m, &r) == FC_OK &&
	    r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO)
		blocks = r->height_info->empty ? 0 : r->height_info->applied_height + 1;
	fc_wire_free((ProtobufCMessage *)r);
	return blocks;
}

struct frame {
	uint8_t *buf;
	size_t len;
};

/* One signed envelope of exactly ENV_BYTES encoded bytes (the write value
 * pads it), four keys (two reads, two writes), as a ControlMessage frame
 * without a request id (see with_rid). */
static void make_frame(struct frame *f, uint64_t i, const struct fc_gw_identity *id)
{
	static const char pad[ENV_BYTES] = {0};
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	Flexchain__Proposal p = FLEXCHAIN__PROPOSAL__INIT;
	Flexchain__RWSet rw = FLEXCHAIN__RWSET__INIT;
	Flexchain__KVRead rd[2], *rdp[2];
	Flexchain__KVWrite wr[2], *wrp[2];
	char keys[4][32], txid[FC_TXID_HEX_LEN + 1];
	uint8_t nonce[16], fake_sig[FC_CRYPTO_SIG_MAX];
	size_t dlen, vlen = 0, size;
	const uint8_t *der = fc_crypto_cert_der(id->cert, &dlen);
	ProtobufCBinaryData arg;

	if (fc_crypto_random(nonce, sizeof nonce, NULL) != FC_OK)
		die("random", "failed");
	snprintf(keys[0], sizeof keys[0], "a%07llu", (unsigned long long)(i * 7 % 100000));
	snprintf(keys[1], sizeof keys[1], "b%07llu", (unsigned long long)(i * 13 % 100000));
	snprintf(keys[2], sizeof keys[2], "c%07llu", (unsigned long long)(i * 3 % 100000));
	snprintf(keys[3], sizeof keys[3], "d%07llu", (unsigned long long)(i % 100000));
	for (int k = 0; k < 2; k++) {
		flexchain__kvread__init(&rd[k]);
		rd[k].key = (ProtobufCBinaryData){strlen(keys[k]), (uint8_t *)keys[k]};
		rdp[k] = &rd[k];
		flexchain__kvwrite__init(&wr[k]);
		wr[k].key = (ProtobufCBinaryData){strlen(keys[2 + k]), (uint8_t *)keys[2 + k]};
		wr[k].value = (ProtobufCBinaryData){1, (uint8_t *)pad};
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
	p.timestamp_ms = (uint64_t)time(NULL) * 1000u;
	if (fc_canon_tx_id_of(&p, txid) != FC_OK)
		die("tx id", "failed");
	p.tx_id = txid;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &p;
	env.rwset = &rw;
	/* Size with a signature of the maximal length, then pad the first
	 * write's value so that the envelope is ENV_BYTES long. */
	memset(fake_sig, 0x30, sizeof fake_sig);
	env.client_signature = (ProtobufCBinaryData){sizeof fake_sig, fake_sig};
	for (int tries = 0; tries < 8; tries++) {
		size = protobuf_c_message_get_packed_size(&env.base);
		if (size == ENV_BYTES)
			break;
		vlen = wr[0].value.len + ENV_BYTES - size;
		if (size > ENV_BYTES && wr[0].value.len <= size - ENV_BYTES)
			die("envelope", "does not fit in 1 KiB");
		wr[0].value.len = vlen > sizeof pad ? sizeof pad : vlen;
	}
	if (fc_gw_envelope_sign(id, &env, NULL) != FC_OK)
		die("sign", "failed");
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = &env;
	if (fc_wire_encode(&m.base, &f->buf, &f->len, NULL) != FC_OK)
		die("encode", "failed");
	fc_free(env.client_signature.data);
}

/* Gives an encoded ControlMessage without a request id the id rid:
 * field 1 (varint) may come first in protobuf, so it is prepended. */
static void with_rid(struct frame *f, uint64_t rid)
{
	uint8_t *nb = fc_malloc(f->len + 11);
	size_t o = 0;

	if (!nb)
		die("frame", "out of memory");
	nb[o++] = 0x08;
	do {
		nb[o] = (uint8_t)(rid & 0x7f);
		rid >>= 7;
		if (rid)
			nb[o] |= 0x80;
		o++;
	} while (rid);
	memcpy(nb + o, f->buf, f->len);
	fc_free(f->buf);
	f->buf = nb;
	f->len += o;
}

struct client {
	int idx;
	const struct fc_config *cfg;
	int leader;
	const struct fc_gw_identity *id;
	size_t window, pregen;
	pthread_barrier_t *ready;
	_Atomic uint64_t *t_end; /* measurement end, µs; 0 until known */
	uint64_t t_start;
	/* results */
	uint64_t acked, retried, refused, signed_late;
	uint64_t *lat; /* µs, one per acked envelope in the window */
	size_t nlat, caplat;
	int failed;
};

struct slot {
	struct frame f; /* queued or in flight; buf NULL when free */
	uint64_t sent_us;
	int inflight;
};

static void *client_main(void *arg)
{
	struct client *cl = arg;
	const struct fc_config_node *n = &cl->cfg->orderers[cl->leader];
	struct frame *pre = fc_calloc(cl->pregen, sizeof *pre);
	struct slot *slots = fc_calloc(cl->window, sizeof *slots);
	size_t npre = 0, inflight = 0;
	uint64_t seq = 0, end;
	struct fc_netc *c = NULL;

	if (!pre || !slots)
		die("client", "out of memory");
	for (size_t i = 0; i < cl->pregen; i++)
		make_frame(&pre[i], (uint64_t)cl->idx << 40 | i, cl->id);
	if (fc_netc_connect(n->host, n->port, 3000, &c, NULL) != FC_OK)
		cl->failed = 1;
	pthread_barrier_wait(cl->ready);
	while (!(end = atomic_load(cl->t_end)))
		usleep(100);
	if (cl->failed)
		goto out;
	for (;;) {
		uint64_t now = bench_now_us();
		Flexchain__ControlMessage *r = NULL;
		int rc;

		/* Fill the window; slot k carries request id k + 1. */
		for (size_t k = 0; now < end && inflight < cl->window && k < cl->window; k++) {
			struct slot *s = &slots[k];
			if (s->inflight)
				continue;
			if (!s->f.buf) {
				if (npre < cl->pregen) {
					s->f = pre[npre];
					pre[npre++].buf = NULL;
				} else {
					make_frame(&s->f,
						   (uint64_t)cl->idx << 40 | (cl->pregen + seq++),
						   cl->id);
					cl->signed_late++;
				}
				with_rid(&s->f, k + 1);
			}
			if (fc_netc_send(c, s->f.buf, s->f.len, 5000, NULL) != FC_OK) {
				cl->failed = 1;
				goto out;
			}
			s->sent_us = bench_now_us();
			s->inflight = 1;
			inflight++;
		}
		if (!inflight)
			break;
		rc = fc_ctl_netc_recv(c, 0, 10000, &r, NULL);
		if (rc != FC_OK) {
			cl->failed = 1;
			goto out;
		}
		if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT &&
		    r->request_id >= 1 && r->request_id <= cl->window &&
		    slots[r->request_id - 1].inflight) {
			struct slot *s = &slots[r->request_id - 1];
			uint64_t t = bench_now_us();
			s->inflight = 0;
			inflight--;
			if (r->submit_result->code == FC_OK) {
				if (t <= end) {
					cl->acked++;
					if (cl->nlat == cl->caplat) {
						cl->caplat = cl->caplat ? 2 * cl->caplat : 65536;
						cl->lat =
						    realloc(cl->lat, cl->caplat * sizeof *cl->lat);
						if (!cl->lat)
							die("client", "out of memory");
					}
					cl->lat[cl->nlat++] = t - s->sent_us;
				}
				fc_free(s->f.buf);
				s->f.buf = NULL;
			} else if (r->submit_result->code == FC_EBUSY ||
				   r->submit_result->code == FC_EAGAIN) {
				cl->retried++; /* resent as is */
			} else {
				cl->refused++;
				fc_free(s->f.buf);
				s->f.buf = NULL;
			}
		}
		fc_wire_free((ProtobufCMessage *)r);
	}
out:
	fc_netc_close(c);
	for (size_t i = 0; i < cl->pregen; i++)
		fc_free(pre[i].buf);
	for (size_t k = 0; k < cl->window; k++)
		fc_free(slots[k].f.buf);
	fc_free(pre);
	fc_free(slots);
	return NULL;
}

/* ------------------------------------------------------------ setup */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void default_cli(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	buf[0] = '\0';
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../client/flexchain", self);
}

static void run_cmd(char *const argv[])
{
	pid_t pid = fork();
	int st = 0;

	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die(argv[0], "failed (use --flexchain PATH)");
}

static const char *arg_of(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

int main(int argc, char **argv)
{
	size_t nclients = strtoul(arg_of(argc, argv, "--clients", "4"), NULL, 10);
	unsigned seconds = (unsigned)strtoul(arg_of(argc, argv, "--seconds", "10"), NULL, 10);
	size_t window = strtoul(arg_of(argc, argv, "--window", "512"), NULL, 10);
	size_t pregen = strtoul(arg_of(argc, argv, "--pregen", "30000"), NULL, 10);
	char cli_def[PATH_MAX + 32], dir[] = "/tmp/fc-bench-orderer.XXXXXX", path[PATH_MAX + 64];
	char errmsg[FC_ERRMSG_LEN] = "";
	const char *cli;
	int keep = 0, leader = -1, logfd;
	struct fc_config *cfg = NULL;
	struct node nodes[N_ORD];
	struct client *cls;
	pthread_t *thr;
	pthread_barrier_t ready;
	_Atomic uint64_t t_end = 0;
	struct fc_gw_identity *id = NULL;
	size_t nlat = 0;
	uint64_t t0, t1, b0, b1, acked = 0, retried = 0, refused = 0, late = 0, *lat;
	unsigned base;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--keep") == 0)
			keep = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: bench-orderer_throughput [--clients N] [--seconds S] "
			       "[--window W] [--pregen P] [--flexchain PATH] [--keep]\n");
			return 0;
		}
	}
	default_cli(cli_def, sizeof cli_def);
	cli = arg_of(argc, argv, "--flexchain", cli_def);
	if (!nclients || !seconds || !window)
		die("usage", "--clients, --seconds and --window must be positive");
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	/* Ports derived from the pid, as the integration tests do, and below
	 * Linux's ephemeral range (32768-60999) where outgoing connections
	 * take their local ports. */
	base = 20000u + (unsigned)(getpid() % 1500) * 8u;
	snprintf(path, sizeof path, "%s/cluster.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		die(path, strerror(errno));
	fprintf(f, "cluster: bench-orderer\ncrypto_dir: ./crypto\norganisations:\n"
		   "  - name: Org1\norderers:\n");
	for (int i = 0; i < N_ORD; i++)
		fprintf(f,
			"  - { id: orderer%d, org: Org1, host: 127.0.0.1, port: %u, "
			"raft_port: %u, data_dir: %s/orderer%d }\n",
			i, base + 2 * i, base + 2 * i + 1, dir, i);
	fprintf(f,
		"storage:\n  write_quorum: 1\n  replicas:\n"
		"    - { id: storage0, org: Org1, host: 127.0.0.1, port: %u, data_dir: "
		"%s/storage0 }\n"
		"block_cutting:\n  max_txs: %d\n  max_bytes: 4194304\n  timeout_ms: 50\n",
		base + 7, dir, BLOCK_TXS);
	fclose(f);
	{
		char *cargv[] = {(char *)cli, "crypto", "generate", "--config", path, NULL};
		run_cmd(cargv);
	}
	if (fc_config_load(path, &cfg, errmsg) != FC_OK)
		die("config", errmsg);
	/* Orderer logs go to a file: the unreachable storage pool is noisy. */
	snprintf(path, sizeof path, "%s/orderers.log", dir);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (logfd >= 0)
		fc_log_set_fd(logfd);

	memset(nodes, 0, sizeof nodes);
	for (int i = 0; i < N_ORD; i++) {
		struct node *nd = &nodes[i];
		nd->cfg = cfg;
		snprintf(nd->id, sizeof nd->id, "orderer%d", i);
		pthread_mutex_init(&nd->mu, NULL);
		pthread_cond_init(&nd->cv, NULL);
		if (pthread_create(&nd->thr, NULL, node_main, nd) != 0)
			die("thread", "cannot start");
		pthread_mutex_lock(&nd->mu);
		while (!nd->started)
			pthread_cond_wait(&nd->cv, &nd->mu);
		pthread_mutex_unlock(&nd->mu);
		if (nd->rc != FC_OK)
			die(nd->id, nd->errmsg);
	}
	for (int tries = 0; tries < 200 && leader < 0; tries++) {
		leader = find_leader(cfg);
		if (leader < 0)
			usleep(100000);
	}
	if (leader < 0)
		die("cluster", "no leader elected");

	if (fc_gw_identity_load(cfg, "Org1", &id, errmsg) != FC_OK)
		die("client identity", errmsg);
	fprintf(stderr, "leader %s; signing %zu envelopes per client...\n",
		cfg->orderers[leader].id, pregen);
	cls = fc_calloc(nclients, sizeof *cls);
	thr = fc_calloc(nclients, sizeof *thr);
	if (!cls || !thr)
		die("main", "out of memory");
	pthread_barrier_init(&ready, NULL, (unsigned)nclients + 1);
	for (size_t i = 0; i < nclients; i++) {
		cls[i] = (struct client){.idx = (int)i + 1,
					 .cfg = cfg,
					 .leader = leader,
					 .id = id,
					 .window = window,
					 .pregen = pregen,
					 .ready = &ready,
					 .t_end = &t_end};
		if (pthread_create(&thr[i], NULL, client_main, &cls[i]) != 0)
			die("thread", "cannot start");
	}
	pthread_barrier_wait(&ready);
	b0 = chain_blocks(cfg, leader);
	t0 = bench_now_us();
	atomic_store(&t_end, t0 + 1000000ull * seconds);
	while (bench_now_us() < t0 + 1000000ull * seconds)
		usleep(10000);
	b1 = chain_blocks(cfg, leader);
	t1 = bench_now_us();
	for (size_t i = 0; i < nclients; i++)
		pthread_join(thr[i], NULL);

	for (size_t i = 0; i < nclients; i++) {
		if (cls[i].failed)
			fprintf(stderr, "client %zu: connection failed\n", i + 1);
		acked += cls[i].acked;
		retried += cls[i].retried;
		refused += cls[i].refused;
		late += cls[i].signed_late;
		nlat += cls[i].nlat;
	}
	lat = fc_calloc(nlat ? nlat : 1, sizeof *lat);
	nlat = 0;
	for (size_t i = 0; i < nclients; i++) {
		memcpy(lat + nlat, cls[i].lat, cls[i].nlat * sizeof *lat);
		nlat += cls[i].nlat;
		free(cls[i].lat);
	}
	qsort(lat, nlat, sizeof *lat, bench_cmp_u64);
	{
		double secs = (double)(t1 - t0) / 1e6;
		printf("orderer throughput: %d orderers (Raft, in-process, 127.0.0.1), "
		       "%d-byte envelopes, %d-tx blocks\n",
		       N_ORD, ENV_BYTES, BLOCK_TXS);
		printf("%-8s %-7s %-7s %-10s %-10s %-7s %-9s %-8s %-8s %-8s %-7s %-7s\n", "clients",
		       "window", "secs", "ordered", "tx/s", "blocks", "blocks/s", "p50_ms",
		       "p99_ms", "max_ms", "busy", "refused");
		printf("%-8zu %-7zu %-7.1f %-10llu %-10.0f %-7llu %-9.1f %-8.1f %-8.1f %-8.1f "
		       "%-7llu %-7llu\n",
		       nclients, window, secs, (unsigned long long)acked, (double)acked / secs,
		       (unsigned long long)(b1 > b0 ? b1 - b0 : 0),
		       (double)(b1 > b0 ? b1 - b0 : 0) / secs,
		       nlat ? (double)lat[nlat / 2] / 1000 : 0.0,
		       nlat ? (double)lat[(nlat * 99) / 100] / 1000 : 0.0,
		       nlat ? (double)lat[nlat - 1] / 1000 : 0.0, (unsigned long long)retried,
		       (unsigned long long)refused);
		if (late)
			printf("note: %llu envelopes were signed during the run (raise "
			       "--pregen): the rate is then bounded by client signing\n",
			       (unsigned long long)late);
	}
	fc_free(lat);
	fc_free(cls);
	fc_free(thr);
	pthread_barrier_destroy(&ready);

	for (int i = 0; i < N_ORD; i++)
		uv_async_send(&nodes[i].stop);
	for (int i = 0; i < N_ORD; i++)
		pthread_join(nodes[i].thr, NULL);
	fc_gw_identity_free(id);
	fc_config_free(cfg);
	if (logfd >= 0) {
		fc_log_set_fd(2);
		close(logfd);
	}
	if (keep)
		fprintf(stderr, "kept %s\n", dir);
	else
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
