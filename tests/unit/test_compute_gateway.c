/* Unit tests of the compute gateway's building blocks: the per-peer
 * connection pool (compute/daemon/connpool.h) against a small echo server
 * on 127.0.0.1 port 0, and the comparison of two executions' reads
 * (cd_rwset_compare_reads, endorse.h) that decides how a gateway gathers
 * again when endorsements differ. Every wait is bounded. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "connpool.h"
#include "endorse.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_wire.h"

/* ------------------------------------------------------------ rwsets */

static Flexchain__KVRead *mk_read(Flexchain__KVRead *r, const char *key, uint64_t h, uint32_t i)
{
	flexchain__kvread__init(r);
	r->key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
	r->version = h ? fc_version_pack(h, i) : 0;
	return r;
}

static void test_compare_reads(void **state)
{
	Flexchain__KVRead ra[3], rb[3], *pa[3], *pb[3];
	Flexchain__RWSet a = FLEXCHAIN__RWSET__INIT, b = FLEXCHAIN__RWSET__INIT;
	int mine_newer, theirs_newer;
	uint64_t h;

	(void)state;
	/* mine: a@5, b@3; theirs: a@7, c@9 (c only theirs: not compared) */
	pa[0] = mk_read(&ra[0], "a", 5, 0);
	pa[1] = mk_read(&ra[1], "b", 3, 1);
	a.reads = pa;
	a.n_reads = 2;
	pb[0] = mk_read(&rb[0], "a", 7, 2);
	pb[1] = mk_read(&rb[1], "c", 9, 0);
	b.reads = pb;
	b.n_reads = 2;
	cd_rwset_compare_reads(&a, &b, &mine_newer, &theirs_newer, &h);
	assert_int_equal(mine_newer, 0);
	assert_int_equal(theirs_newer, 1);
	assert_int_equal(h, 9);

	/* the other way round: mine is newer, theirs read up to 5 */
	cd_rwset_compare_reads(&b, &a, &mine_newer, &theirs_newer, &h);
	assert_int_equal(mine_newer, 1);
	assert_int_equal(theirs_newer, 0);
	assert_int_equal(h, 5);

	/* absent (0) in theirs, present in mine: mine newer */
	pb[0] = mk_read(&rb[0], "a", 0, 0);
	pb[1] = mk_read(&rb[1], "b", 3, 1);
	cd_rwset_compare_reads(&a, &b, &mine_newer, &theirs_newer, &h);
	assert_int_equal(mine_newer, 1);
	assert_int_equal(theirs_newer, 0);
	assert_int_equal(h, 3);

	/* same reads: neither; NULL reads nothing */
	cd_rwset_compare_reads(&a, &a, &mine_newer, &theirs_newer, &h);
	assert_int_equal(mine_newer + theirs_newer, 0);
	cd_rwset_compare_reads(NULL, NULL, &mine_newer, &theirs_newer, &h);
	assert_int_equal(mine_newer + theirs_newer, 0);
	assert_int_equal(h, 0);
}

/* ------------------------------------------------------- echo server */

#define MAXC 64

/* Answers every ControlMessage with an Error carrying its request id and
 * the number of connections accepted so far as code. */
struct echo {
	uv_loop_t loop;
	uv_async_t cmd;
	struct fc_net_server *srv;
	struct fc_conn *conns[MAXC];
	atomic_int accepted;
	atomic_int want; /* 1 close every connection, 2 stop */
	uint16_t port;
	pthread_t th;
};

static void echo_accept(struct fc_conn *conn, void *ud)
{
	struct echo *e = ud;

	for (int i = 0; i < MAXC; i++)
		if (!e->conns[i]) {
			e->conns[i] = conn;
			break;
		}
	atomic_fetch_add(&e->accepted, 1);
}

static void echo_frame(struct fc_conn *conn, const uint8_t *p, size_t len, void *ud)
{
	struct echo *e = ud;
	Flexchain__ControlMessage *m = NULL;

	if (fc_ctl_decode(p, len, FC_NET_DEFAULT_MAX_FRAME, &m, NULL) != FC_OK) {
		fc_conn_close(conn);
		return;
	}
	fc_ctl_reply_error(conn, m->request_id, atomic_load(&e->accepted), "echo", NULL);
	fc_wire_free((ProtobufCMessage *)m);
}

static void echo_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct echo *e = ud;

	(void)code;
	(void)reason;
	for (int i = 0; i < MAXC; i++)
		if (e->conns[i] == conn)
			e->conns[i] = NULL;
}

static void echo_cmd(uv_async_t *h)
{
	struct echo *e = h->data;
	int w = atomic_exchange(&e->want, 0);

	for (int i = 0; i < MAXC; i++)
		if (e->conns[i])
			fc_conn_close(e->conns[i]);
	if (w == 2) {
		fc_net_server_close(e->srv, NULL, NULL);
		uv_close((uv_handle_t *)&e->cmd, NULL);
	}
}

static void *echo_main(void *arg)
{
	struct echo *e = arg;

	uv_run(&e->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void echo_start(struct echo *e)
{
	static const struct fc_net_cbs cbs = {
	    .on_accept = echo_accept, .on_frame = echo_frame, .on_close = echo_close};
	char err[FC_ERRMSG_LEN];

	memset(e, 0, sizeof *e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(fc_net_listen(&e->loop, "127.0.0.1", 0, NULL, &cbs, e, &e->srv, err),
			 FC_OK);
	e->port = fc_net_server_port(e->srv);
	uv_async_init(&e->loop, &e->cmd, echo_cmd);
	e->cmd.data = e;
	assert_int_equal(pthread_create(&e->th, NULL, echo_main, e), 0);
}

static void echo_send(struct echo *e, int w)
{
	atomic_store(&e->want, w);
	uv_async_send(&e->cmd);
}

static void echo_stop(struct echo *e)
{
	echo_send(e, 2);
	pthread_join(e->th, NULL);
	uv_loop_close(&e->loop);
}

/* One call; returns the code the server put in its answer (connections
 * it had accepted), or -rc on a pool error. */
static int call(struct cd_connpool *p, uint16_t port)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT, *r = NULL;
	Flexchain__TxQuery q = FLEXCHAIN__TX_QUERY__INIT;
	char err[FC_ERRMSG_LEN] = "";
	int sent = 0, rc;

	q.tx_id = "t";
	m.request_id = 77; /* replaced by the pool */
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY;
	m.tx_query = &q;
	rc = cd_connpool_call(p, "127.0.0.1", port, &m, 1000, 5000, &r, &sent, err);
	if (rc != FC_OK)
		return -rc;
	assert_int_equal(sent, 1);
	assert_int_equal(r->body_case, FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR);
	rc = (int)r->error->code;
	fc_wire_free((ProtobufCMessage *)r);
	return rc;
}

static void test_pool_reuses(void **state)
{
	struct echo e;
	struct cd_connpool *p = NULL;

	(void)state;
	echo_start(&e);
	assert_int_equal(cd_connpool_create(4, 0, &p, NULL), FC_OK);
	for (int i = 0; i < 20; i++)
		assert_int_equal(call(p, e.port), 1); /* always the first connection */
	assert_int_equal(cd_connpool_open(p), 1);
	assert_int_equal(atomic_load(&e.accepted), 1);
	cd_connpool_destroy(p);
	echo_stop(&e);
}

static void test_pool_reconnects_after_peer_close(void **state)
{
	struct echo e;
	struct cd_connpool *p = NULL;
	int code = 0;

	(void)state;
	echo_start(&e);
	assert_int_equal(cd_connpool_create(4, 0, &p, NULL), FC_OK);
	assert_int_equal(call(p, e.port), 1);
	echo_send(&e, 1); /* the server closes its connections */
	/* The idle connection is noticed closed once the FIN is in; until then a
	 * call may still use it and fail (closed on error). Bounded. */
	for (int i = 0; i < 200 && code != 2; i++) {
		code = call(p, e.port);
		if (code != 2)
			usleep(10000);
	}
	assert_int_equal(code, 2);
	assert_int_equal(cd_connpool_open(p), 1);
	cd_connpool_destroy(p);
	echo_stop(&e);
}

struct worker {
	struct cd_connpool *p;
	uint16_t port;
	int bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 25; i++)
		if (call(w->p, w->port) <= 0)
			w->bad++;
	return NULL;
}

static void test_pool_caps_connections(void **state)
{
	struct echo e;
	struct cd_connpool *p = NULL;
	pthread_t th[8];
	struct worker w[8];

	(void)state;
	echo_start(&e);
	assert_int_equal(cd_connpool_create(3, 0, &p, NULL), FC_OK);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){p, e.port, 0};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_true(atomic_load(&e.accepted) <= 3);
	assert_true(cd_connpool_open(p) <= 3);
	cd_connpool_destroy(p);
	echo_stop(&e);
}

static void test_pool_unreachable(void **state)
{
	struct echo e;
	struct cd_connpool *p = NULL;
	uint16_t port;

	(void)state;
	echo_start(&e);
	port = e.port;
	echo_stop(&e); /* nothing listens there now */
	assert_int_equal(cd_connpool_create(2, 0, &p, NULL), FC_OK);
	assert_int_equal(call(p, port), -FC_EIO);
	assert_int_equal(call(p, port), -FC_EIO);
	assert_int_equal(cd_connpool_open(p), 0);
	cd_connpool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compare_reads),
	    cmocka_unit_test(test_pool_reuses),
	    cmocka_unit_test(test_pool_reconnects_after_peer_close),
	    cmocka_unit_test(test_pool_caps_connections),
	    cmocka_unit_test(test_pool_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
