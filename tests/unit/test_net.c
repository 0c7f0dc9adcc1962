/* Unit tests of common/net framing: an fc_net server and several clients on
 * one loop, raw sockets for hostile peers, the blocking client from a thread.
 * Everything listens on 127.0.0.1 port 0; every wait is bounded by a safety
 * deadline so that a broken build fails instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"

#define SAFETY_MS 60000 /* safety bound only: a healthy run takes far less */
#define TEST_MAX_FRAME (64u * 1024u)

/* ---- server side context ------------------------------------------------- */

enum srv_mode { SRV_ECHO, SRV_EXPECT };

struct srv_ctx {
	enum srv_mode mode;
	int accepted;
	int closed;
	int close_codes[FC_ERR__COUNT];
	struct fc_conn *last;
	size_t frames;
	size_t echo_busy;
	size_t echo_err;
	size_t max_queued;
	size_t drains;
	/* SRV_EXPECT: frames must cycle through these */
	const uint8_t *const *exp;
	const size_t *exp_len;
	size_t nexp;
	size_t mismatches;
};

static void srv_on_accept(struct fc_conn *conn, void *ud)
{
	struct srv_ctx *s = ud;
	s->accepted++;
	s->last = conn;
}

static void srv_on_frame(struct fc_conn *conn, const uint8_t *p, size_t len, void *ud)
{
	struct srv_ctx *s = ud;
	size_t i = s->frames++;
	if (!p)
		s->mismatches++;
	if (s->mode == SRV_EXPECT) {
		size_t k = i % s->nexp;
		if (len != s->exp_len[k] || (len && memcmp(p, s->exp[k], len) != 0))
			s->mismatches++;
		return;
	}
	if (len == 5 && memcmp(p, "CLOSE", 5) == 0) {
		fc_conn_close(conn);
		return;
	}
	int rc = fc_conn_send(conn, p, len);
	if (rc == FC_EBUSY)
		s->echo_busy++;
	else if (rc)
		s->echo_err++;
	if (fc_conn_send_queued(conn) > s->max_queued)
		s->max_queued = fc_conn_send_queued(conn);
}

static void srv_on_drain(struct fc_conn *conn, void *ud)
{
	struct srv_ctx *s = ud;
	s->drains++;
}

static void srv_on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct srv_ctx *s = ud;
	s->closed++;
	if (code >= 0 && code < FC_ERR__COUNT)
		s->close_codes[code]++;
	if (s->last == conn)
		s->last = NULL;
}

static const struct fc_net_cbs srv_cbs = {
    .on_accept = srv_on_accept,
    .on_frame = srv_on_frame,
    .on_drain = srv_on_drain,
    .on_close = srv_on_close,
};

/* ---- fixture ------------------------------------------------------------- */

struct fx {
	uv_loop_t loop;
	uv_timer_t tick; /* keeps UV_RUN_ONCE returning so deadlines are checked */
	struct fc_net_server *srv;
	uint16_t port;
	struct srv_ctx s;
	int srv_closed;
};

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static void fx_init(struct fx *f, const struct fc_net_opts *opts)
{
	char err[FC_ERRMSG_LEN] = "";
	memset(f, 0, sizeof *f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
	assert_int_equal(uv_timer_start(&f->tick, on_tick, 5, 5), 0);
	int rc = fc_net_listen(&f->loop, "127.0.0.1", 0, opts, &srv_cbs, &f->s, &f->srv, err);
	if (rc)
		fail_msg("listen: %s", err);
	f->port = fc_net_server_port(f->srv);
	assert_true(f->port != 0);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until pred(arg) holds; fails the test at the safety bound. */
static void run_until(struct fx *f, int (*pred)(void *), void *arg)
{
	long long deadline = mono_ms() + SAFETY_MS;
	while (!pred(arg)) {
		if (mono_ms() > deadline)
			fail_msg("safety deadline reached");
		uv_run(&f->loop, UV_RUN_ONCE);
	}
}

static void pump(struct fx *f, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void on_srv_closed(void *ud)
{
	*(int *)ud = 1;
}

static int flag_set(void *arg)
{
	return *(int *)arg;
}

/* Closes the server (if still open) and the loop; the loop must close
 * cleanly, i.e. every handle of the module was closed. */
static void fx_fini(struct fx *f)
{
	if (f->srv) {
		fc_net_server_close(f->srv, on_srv_closed, &f->srv_closed);
		f->srv = NULL;
		run_until(f, flag_set, &f->srv_closed);
	}
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- async client -------------------------------------------------------- */

struct cli {
	struct fc_conn *conn;
	int id;
	int connected;
	int connect_status;
	int closed;
	int close_code;
	int owned; /* use fc_conn_send_owned */
	size_t total, sent, recvd, window;
	size_t *sizes;
	size_t errors;
};

static uint8_t pat(int id, size_t seq, size_t j)
{
	return (uint8_t)(id * 31 + seq * 7 + j);
}

static void cli_pump(struct cli *c)
{
	while (c->sent < c->total && c->sent - c->recvd < c->window) {
		size_t len = c->sizes[c->sent];
		uint8_t *b = fc_malloc(len);
		if (!b) {
			c->errors++;
			return;
		}
		for (size_t j = 0; j < len; j++)
			b[j] = pat(c->id, c->sent, j);
		int rc;
		if (c->owned) {
			rc = fc_conn_send_owned(c->conn, b, len);
			if (rc)
				fc_free(b);
		} else {
			rc = fc_conn_send(c->conn, b, len);
			fc_free(b);
		}
		if (rc) {
			c->errors++;
			return;
		}
		c->sent++;
	}
}

static void cli_on_connect(struct fc_conn *conn, int status, const char *reason, void *ud)
{
	struct cli *c = ud;
	c->connect_status = status;
	if (status == FC_OK) {
		c->connected = 1;
		assert_true(fc_conn_is_open(conn));
		cli_pump(c);
	}
}

static void cli_on_frame(struct fc_conn *conn, const uint8_t *p, size_t len, void *ud)
{
	struct cli *c = ud;
	if (c->recvd >= c->total || len != c->sizes[c->recvd]) {
		c->errors++;
	} else {
		for (size_t j = 0; j < len; j++)
			if (p[j] != pat(c->id, c->recvd, j)) {
				c->errors++;
				break;
			}
	}
	c->recvd++;
	if (c->recvd == c->total)
		fc_conn_close(conn);
	else
		cli_pump(c);
}

static void cli_on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct cli *c = ud;
	c->closed = 1;
	c->close_code = code;
	c->conn = NULL;
}

static const struct fc_net_cbs cli_cbs = {
    .on_connect = cli_on_connect,
    .on_frame = cli_on_frame,
    .on_close = cli_on_close,
};

static void cli_start(struct fx *f, struct cli *c, const struct fc_net_opts *opts)
{
	char err[FC_ERRMSG_LEN] = "";
	int rc = fc_net_connect(&f->loop, "127.0.0.1", f->port, opts, &cli_cbs, c, &c->conn, err);
	if (rc)
		fail_msg("connect: %s", err);
}

static int cli_closed(void *arg)
{
	return ((struct cli *)arg)->closed;
}

static int cli_connected(void *arg)
{
	return ((struct cli *)arg)->connected;
}

/* ---- raw sockets --------------------------------------------------------- */

static int raw_connect(uint16_t port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

static size_t put_frame(uint8_t *out, const void *p, size_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	if (len)
		memcpy(out + 4, p, len);
	return 4 + len;
}

/* Non-blocking check for EOF/reset on a raw socket: 1 = closed by peer. */
static int raw_peer_closed(int fd)
{
	char b[256];
	for (;;) {
		ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
		if (r == 0)
			return 1;
		if (r < 0)
			return errno == ECONNRESET;
	}
}

struct raw_wait {
	struct fx *f;
	int fd;
};

static int raw_closed_pred(void *arg)
{
	struct raw_wait *w = arg;
	return raw_peer_closed(w->fd);
}

/* ---- blocking client thread --------------------------------------------- */

struct netc_job {
	uint16_t port;
	size_t n;
	atomic_int done;
	int rc;
	char err[FC_ERRMSG_LEN];
};

static void *netc_main(void *arg)
{
	struct netc_job *j = arg;
	struct fc_netc *c = NULL;
	unsigned seed = 7;
	uint8_t *out = NULL;

	j->rc = fc_netc_connect("127.0.0.1", j->port, 5000, &c, j->err);
	if (j->rc)
		goto out;
	out = fc_malloc(TEST_MAX_FRAME);
	for (size_t i = 0; i < j->n && !j->rc; i++) {
		size_t len = i == 0 ? 0 : i == 1 ? TEST_MAX_FRAME : (size_t)rand_r(&seed) % 3000;
		for (size_t k = 0; k < len; k++)
			out[k] = pat(99, i, k);
		j->rc = fc_netc_send(c, out, len, 10000, j->err);
		if (j->rc)
			break;
		uint8_t *in = NULL;
		size_t inlen = 0;
		j->rc = fc_netc_recv(c, &in, &inlen, TEST_MAX_FRAME, 10000, j->err);
		if (!j->rc && (inlen != len || !in || (len && memcmp(in, out, len) != 0))) {
			j->rc = FC_EMISMATCH;
			snprintf(j->err, sizeof j->err, "frame %zu differs", i);
		}
		fc_free(in);
	}
out:
	fc_free(out);
	fc_netc_close(c);
	atomic_store(&j->done, 1);
	return NULL;
}

/* ---- tests --------------------------------------------------------------- */

struct count_wait {
	struct srv_ctx *s;
	size_t n;
};

static int srv_closed_at_least(void *arg)
{
	struct count_wait *w = arg;
	return (size_t)w->s->closed >= w->n;
}

#define NCLI 3
#define NFRAMES 120

struct echo_state {
	struct cli *c;
	struct netc_job *job;
};

static int echo_all_done(void *arg)
{
	struct echo_state *e = arg;
	for (int i = 0; i < NCLI; i++)
		if (!e->c[i].closed)
			return 0;
	return atomic_load(&e->job->done);
}

static void test_echo_many_frames(void **state)
{
	(void)state;
	struct fc_net_opts opts = {.max_frame_bytes = TEST_MAX_FRAME};
	struct fx f;
	struct cli c[NCLI];
	size_t sizes[NCLI][NFRAMES];
	unsigned seed = 42;
	struct netc_job job = {0};
	pthread_t th;

	fx_init(&f, &opts);
	for (int i = 0; i < NCLI; i++) {
		for (size_t k = 0; k < NFRAMES; k++)
			sizes[i][k] = (size_t)rand_r(&seed) % (TEST_MAX_FRAME + 1);
		sizes[i][0] = 0;
		sizes[i][1] = TEST_MAX_FRAME;
		sizes[i][NFRAMES / 2] = 0;
		c[i] = (struct cli){.id = i,
				    .total = NFRAMES,
				    .window = 1 + 4 * (size_t)i,
				    .sizes = sizes[i],
				    .owned = i == 1};
		cli_start(&f, &c[i], &opts);
	}
	job.port = f.port;
	job.n = 100;
	assert_int_equal(pthread_create(&th, NULL, netc_main, &job), 0);
	struct echo_state e = {c, &job};
	run_until(&f, echo_all_done, &e);
	pthread_join(th, NULL);
	if (job.rc)
		fail_msg("blocking client: %s: %s", fc_strerror(job.rc), job.err);
	for (int i = 0; i < NCLI; i++) {
		assert_int_equal(c[i].connect_status, FC_OK);
		assert_int_equal(c[i].errors, 0);
		assert_int_equal(c[i].recvd, NFRAMES);
		assert_int_equal(c[i].close_code, FC_OK);
	}
	/* The server saw every client leave cleanly. */
	struct count_wait w = {&f.s, NCLI + 1};
	run_until(&f, srv_closed_at_least, &w);
	assert_int_equal(f.s.close_codes[FC_ECLOSED], NCLI + 1);
	assert_int_equal(f.s.echo_busy + f.s.echo_err, 0);
	assert_int_equal(f.s.frames, NCLI * NFRAMES + 100);
	fx_fini(&f);
}

static int frames_at_least(void *arg)
{
	struct count_wait *w = arg;
	return w->s->frames >= w->n;
}

static void test_split_at_every_byte_boundary(void **state)
{
	(void)state;
	static const uint8_t f1[] = {0xAB};
	static uint8_t f2[300];
	static const uint8_t f3[] = "hello";
	const uint8_t *exp[] = {(const uint8_t *)"", f1, f2, f3};
	const size_t exp_len[] = {0, 1, sizeof f2, 5};
	uint8_t stream[4 * 4 + 1 + sizeof f2 + 5];
	size_t ends[4], n = 0;
	struct fx f;

	for (size_t i = 0; i < sizeof f2; i++)
		f2[i] = (uint8_t)(i * 13);
	for (int k = 0; k < 4; k++) {
		n += put_frame(stream + n, exp[k], exp_len[k]);
		ends[k] = n;
	}
	assert_int_equal(n, sizeof stream);

	fx_init(&f, NULL);
	f.s.mode = SRV_EXPECT;
	f.s.exp = exp;
	f.s.exp_len = exp_len;
	f.s.nexp = 4;
	int fd = raw_connect(f.port, 0);
	size_t base = 0;

	/* Every split point of the 4-frame stream into two writes. */
	for (size_t k = 1; k < n; k++) {
		size_t complete = 0;
		while (complete < 4 && ends[complete] <= k)
			complete++;
		raw_send(fd, stream, k);
		struct count_wait w = {&f.s, base + complete};
		run_until(&f, frames_at_least, &w);
		pump(&f, 2);
		assert_int_equal(f.s.frames, base + complete);
		raw_send(fd, stream + k, n - k);
		w.n = base + 4;
		run_until(&f, frames_at_least, &w);
		base += 4;
	}
	/* Byte by byte, running the loop after each byte. */
	for (size_t k = 0; k < n; k++) {
		raw_send(fd, stream + k, 1);
		pump(&f, 2);
	}
	struct count_wait w = {&f.s, base + 4};
	run_until(&f, frames_at_least, &w);
	base += 4;
	/* Many frames in one write. */
	uint8_t many[10 * sizeof stream];
	for (int r = 0; r < 10; r++)
		memcpy(many + r * sizeof stream, stream, sizeof stream);
	raw_send(fd, many, sizeof many);
	w.n = base + 40;
	run_until(&f, frames_at_least, &w);
	pump(&f, 2);
	assert_int_equal(f.s.frames, base + 40);
	assert_int_equal(f.s.mismatches, 0);
	assert_int_equal(f.s.closed, 0);

	close(fd);
	struct count_wait cw = {&f.s, 1};
	run_until(&f, srv_closed_at_least, &cw);
	assert_int_equal(f.s.close_codes[FC_ECLOSED], 1);
	fx_fini(&f);
}

static int read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return (int)n;
}

static int code_seen(void *arg)
{
	struct count_wait *w = arg;
	return w->s->close_codes[w->n] > 0;
}

static void test_garbage_prefix_closes_only_that_connection(void **state)
{
	(void)state;
	struct fc_net_opts opts = {.max_frame_bytes = TEST_MAX_FRAME};
	struct fx f;
	size_t sizes[4] = {3, 0, 100, TEST_MAX_FRAME};
	struct cli good = {.id = 5, .total = 4, .window = 1, .sizes = sizes};
	int logp[2];
	char logs[8192];

	assert_int_equal(pipe(logp), 0);
	fcntl(logp[0], F_SETFL, O_NONBLOCK);
	fcntl(logp[1], F_SETFL, O_NONBLOCK); /* a full pipe drops lines, never blocks */
	enum fc_log_level saved_level = fc_log_get_level();
	fc_log_set_level(FC_LOG_WARN);
	fc_log_set_fd(logp[1]);
	fx_init(&f, &opts);
	/* Connect the good client first and keep it idle (window 1, frames
	 * flow one by one) while the bad peer misbehaves. */
	good.total = 4;
	cli_start(&f, &good, &opts);
	run_until(&f, cli_connected, &good);

	int fd = raw_connect(f.port, 0);
	uint8_t junk[64];
	memset(junk, 0xFF, sizeof junk);
	raw_send(fd, junk, sizeof junk);
	struct count_wait w = {&f.s, FC_ETOOBIG};
	run_until(&f, code_seen, &w);
	struct raw_wait rw = {&f, fd};
	run_until(&f, raw_closed_pred, &rw);
	close(fd);

	/* The other connection is untouched and completes its exchange. */
	run_until(&f, cli_closed, &good);
	assert_int_equal(good.errors, 0);
	assert_int_equal(good.recvd, 4);
	assert_int_equal(good.close_code, FC_OK);

	fx_fini(&f);
	fc_log_set_fd(2);
	fc_log_set_level(saved_level);
	close(logp[1]);
	read_all(logp[0], logs, sizeof logs);
	close(logp[0]);
	assert_non_null(strstr(logs, "peer=127.0.0.1:"));
	assert_non_null(strstr(logs, "reason=\"frame of 4294967295 bytes over max 65536\""));
}

static void test_truncated_frame_then_close(void **state)
{
	(void)state;
	struct fx f;
	uint8_t buf[64];
	fx_init(&f, NULL);

	/* Header announces 100 bytes, 10 arrive, then the peer closes. */
	int fd = raw_connect(f.port, 0);
	size_t n = put_frame(buf, "0123456789", 10);
	buf[3] = 100;
	raw_send(fd, buf, n);
	pump(&f, 2);
	close(fd);
	struct count_wait w = {&f.s, FC_EPROTO};
	run_until(&f, code_seen, &w);
	assert_int_equal(f.s.frames, 0);

	/* Half a header, then close. */
	fd = raw_connect(f.port, 0);
	raw_send(fd, "\0\0", 2);
	pump(&f, 2);
	close(fd);
	w.n = 2;
	run_until(&f, srv_closed_at_least, &w);
	assert_int_equal(f.s.close_codes[FC_EPROTO], 2);

	/* A complete frame then close is a clean close. */
	fd = raw_connect(f.port, 0);
	raw_send(fd, buf, put_frame(buf, "ok", 2));
	close(fd);
	w.n = 3;
	run_until(&f, srv_closed_at_least, &w);
	assert_int_equal(f.s.close_codes[FC_ECLOSED], 1);
	assert_int_equal(f.s.frames, 1); /* echo may fail: peer is gone */
	fx_fini(&f);
}

#define BP_HWM (64u * 1024u)
#define BP_LWM (16u * 1024u)
#define BP_FRAME 4096u

static int accepted_one(void *arg)
{
	return ((struct srv_ctx *)arg)->accepted >= 1;
}

/* The server pushes to a peer that never reads: sends are refused with
 * FC_EBUSY, the queue stays under hwm + one frame; when the peer reads,
 * on_drain fires and everything arrives in order. */
static void test_backpressure_send_side(void **state)
{
	(void)state;
	struct fc_net_opts opts = {.send_hwm = BP_HWM, .send_lwm = BP_LWM};
	struct fx f;
	uint8_t frame[BP_FRAME];
	uint32_t seq = 0;
	size_t busy = 0, maxq = 0;

	fx_init(&f, &opts);
	int fd = raw_connect(f.port, 4096);
	run_until(&f, accepted_one, &f.s);
	struct fc_conn *conn = f.s.last;

	/* Phase 1: fill until the connection is stuck (nothing drains any
	 * more because the peer does not read). Bounded number of rounds. */
	int stuck = 0;
	for (int round = 0; round < 100000 && !stuck; round++) {
		size_t drains_before = f.s.drains;
		for (;;) {
			memset(frame, (int)(seq & 0xff), sizeof frame);
			memcpy(frame, &seq, sizeof seq);
			int rc = fc_conn_send(conn, frame, sizeof frame);
			if (rc == FC_EBUSY) {
				busy++;
				break;
			}
			assert_int_equal(rc, FC_OK);
			seq++;
			if (fc_conn_send_queued(conn) > maxq)
				maxq = fc_conn_send_queued(conn);
		}
		pump(&f, 4);
		stuck = f.s.drains == drains_before && fc_conn_send_queued(conn) >= BP_HWM;
	}
	assert_true(stuck);
	assert_true(busy > 0);
	assert_true(maxq <= BP_HWM + BP_FRAME + FC_NET_FRAME_HDR);
	assert_int_equal(fc_conn_send(conn, frame, 1), FC_EBUSY);

	/* Phase 2: the peer reads everything; the server keeps sending after
	 * each drain until 200 more frames went out. */
	uint32_t target = seq + 200, got = 0;
	size_t drains0 = f.s.drains;
	uint8_t rbuf[BP_FRAME + 4];
	size_t rhave = 0;
	long long deadline = mono_ms() + SAFETY_MS;
	while (got < target) {
		if (mono_ms() > deadline)
			fail_msg("safety deadline reached");
		while (seq < target) {
			memset(frame, (int)(seq & 0xff), sizeof frame);
			memcpy(frame, &seq, sizeof seq);
			if (fc_conn_send(conn, frame, sizeof frame) != FC_OK)
				break;
			seq++;
		}
		pump(&f, 1);
		ssize_t r = recv(fd, rbuf + rhave, sizeof rbuf - rhave, MSG_DONTWAIT);
		if (r > 0) {
			rhave += (size_t)r;
			if (rhave == sizeof rbuf) {
				uint32_t s;
				assert_int_equal(rbuf[0] << 24 | rbuf[1] << 16 | rbuf[2] << 8 |
						     rbuf[3],
						 BP_FRAME);
				memcpy(&s, rbuf + 4, sizeof s);
				assert_int_equal(s, got);
				assert_int_equal(rbuf[4 + BP_FRAME - 1], (uint8_t)(got & 0xff));
				got++;
				rhave = 0;
			}
		} else if (r == 0) {
			fail_msg("server closed the connection");
		}
	}
	assert_true(f.s.drains > drains0);
	assert_int_equal(f.s.closed, 0);
	close(fd);
	fx_fini(&f);
}

/* A peer floods requests to the echo server and never reads replies: the
 * server stops reading from it once its send queue is full, so the peer's
 * writes eventually block and the server's memory stays bounded. Then the
 * peer reads and the server serves it again. */
static void test_backpressure_stops_reading(void **state)
{
	(void)state;
	struct fc_net_opts opts = {.send_hwm = BP_HWM, .send_lwm = BP_LWM};
	struct fx f;
	uint8_t fr[BP_FRAME + 4];
	size_t written = 0, wpos = 0;
	const size_t cap = 256u << 20; /* the server must stop us long before */

	fx_init(&f, &opts);
	int fd = raw_connect(f.port, 4096);
	int sndbuf = 4096;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	uint8_t payload[BP_FRAME];
	memset(payload, 0x5A, sizeof payload);
	put_frame(fr, payload, sizeof payload);

	int blocked_rounds = 0;
	while (blocked_rounds < 8 && written < cap) {
		ssize_t w = send(fd, fr + wpos, sizeof fr - wpos, MSG_NOSIGNAL);
		if (w > 0) {
			wpos = (wpos + (size_t)w) % sizeof fr;
			written += (size_t)w;
			blocked_rounds = 0;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		pump(&f, 4);
		blocked_rounds++;
	}
	assert_true(written < cap);
	assert_true(f.s.max_queued <= BP_HWM + BP_FRAME + FC_NET_FRAME_HDR);
	assert_int_equal(f.s.closed, 0);
	size_t frames_when_blocked = f.s.frames;

	/* The peer now reads replies; the server resumes reading from it. */
	long long deadline = mono_ms() + SAFETY_MS;
	uint8_t sink[65536];
	while (f.s.frames < frames_when_blocked + 50 || f.s.drains == 0) {
		if (mono_ms() > deadline)
			fail_msg("safety deadline reached");
		pump(&f, 1);
		while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
			;
		ssize_t w = send(fd, fr + wpos, sizeof fr - wpos, MSG_NOSIGNAL);
		if (w > 0)
			wpos = (wpos + (size_t)w) % sizeof fr;
	}
	assert_true(f.s.drains > 0);
	assert_int_equal(f.s.closed, 0);
	close(fd);
	fx_fini(&f);
}

static void test_connect_refused(void **state)
{
	(void)state;
	struct fx f;
	char err[FC_ERRMSG_LEN] = "";
	fx_init(&f, NULL);
	uint16_t port = f.port;
	/* Close the server: its port now refuses connections. */
	fc_net_server_close(f.srv, on_srv_closed, &f.srv_closed);
	f.srv = NULL;
	run_until(&f, flag_set, &f.srv_closed);

	struct cli c = {.id = 1, .connect_status = -1};
	f.port = port;
	cli_start(&f, &c, NULL);
	run_until(&f, cli_closed, &c);
	assert_int_equal(c.connect_status, FC_EIO);
	assert_int_equal(c.close_code, FC_EIO);
	assert_int_equal(c.connected, 0);

	struct fc_netc *nc = NULL;
	assert_int_equal(fc_netc_connect("127.0.0.1", port, 2000, &nc, err), FC_EIO);
	assert_null(nc);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", port);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "connect"));

	/* Bad arguments fail synchronously and leave nothing behind. */
	struct fc_conn *conn = NULL;
	struct fc_net_opts bad = {.send_hwm = 10, .send_lwm = 10};
	assert_int_equal(fc_net_connect(&f.loop, "127.0.0.1", port, &bad, &cli_cbs, &c, &conn, err),
			 FC_EINVAL);
	assert_null(conn);
	assert_int_equal(fc_net_connect(&f.loop, NULL, port, NULL, &cli_cbs, &c, &conn, err),
			 FC_EINVAL);
	struct fc_net_server *srv = NULL;
	assert_int_equal(fc_net_listen(&f.loop, "127.0.0.1", port, &bad, &srv_cbs, &f.s, &srv, err),
			 FC_EINVAL);
	assert_null(srv);
	fx_fini(&f);
}

static void test_send_rules(void **state)
{
	(void)state;
	struct fc_net_opts opts = {.max_frame_bytes = 1000};
	struct fx f;
	struct cli c = {.id = 2};
	fx_init(&f, &opts);
	cli_start(&f, &c, &opts);
	/* Not connected yet. */
	assert_int_equal(fc_conn_send(c.conn, "x", 1), FC_ESTATE);
	run_until(&f, cli_connected, &c);
	assert_int_equal(fc_conn_send(c.conn, NULL, 1001), FC_ETOOBIG);
	void *big = fc_malloc(1001);
	assert_int_equal(fc_conn_send_owned(c.conn, big, 1001), FC_ETOOBIG);
	fc_free(big); /* ownership stayed with us */
	assert_int_equal(fc_conn_send(c.conn, NULL, 0), FC_OK);
	char want[32];
	snprintf(want, sizeof want, "127.0.0.1:%u", f.port);
	assert_string_equal(fc_conn_peer(c.conn), want);
	fc_conn_set_data(c.conn, &c);
	assert_ptr_equal(fc_conn_get_data(c.conn), &c);
	struct fc_conn *conn = c.conn;
	fc_conn_close(conn);
	assert_int_equal(fc_conn_send(conn, "x", 1), FC_ECLOSED);
	fc_conn_close(conn); /* no-op while closing */
	run_until(&f, cli_closed, &c);
	assert_int_equal(c.close_code, FC_OK);
	fx_fini(&f);
}

struct close_wait {
	struct cli *c;
	int n;
	int *srv_closed;
};

static int all_closed(void *arg)
{
	struct close_wait *w = arg;
	for (int i = 0; i < w->n; i++)
		if (!w->c[i].closed)
			return 0;
	return *w->srv_closed;
}

static int accepted_three(void *arg)
{
	return ((struct srv_ctx *)arg)->accepted >= 3;
}

static void test_server_close_with_live_connections(void **state)
{
	(void)state;
	struct fx f;
	struct cli c[2] = {{.id = 1}, {.id = 2}};
	fx_init(&f, NULL);
	cli_start(&f, &c[0], NULL);
	cli_start(&f, &c[1], NULL);
	int fd = raw_connect(f.port, 0);
	/* The raw peer is mid-frame when the server goes away. */
	raw_send(fd, "\0\0\0\x10partial", 11);
	run_until(&f, accepted_three, &f.s);
	assert_int_equal(fc_net_server_nconns(f.srv), 3);

	fc_net_server_close(f.srv, on_srv_closed, &f.srv_closed);
	f.srv = NULL;
	struct close_wait w = {c, 2, &f.srv_closed};
	run_until(&f, all_closed, &w);
	assert_int_equal(f.s.closed, 3);
	assert_int_equal(f.s.close_codes[FC_ECLOSED], 3);
	for (int i = 0; i < 2; i++)
		assert_int_equal(c[i].close_code, FC_ECLOSED);
	struct raw_wait rw = {&f, fd};
	run_until(&f, raw_closed_pred, &rw);
	close(fd);
	fx_fini(&f); /* uv_loop_close must succeed: no handle left */
}

/* ---- blocking client against a raw server ------------------------------- */

struct raw_server {
	int lfd;
	uint16_t port;
};

static void raw_listen(struct raw_server *rs)
{
	rs->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(rs->lfd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(rs->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(rs->lfd, 8), 0);
	assert_int_equal(getsockname(rs->lfd, (struct sockaddr *)&sa, &sl), 0);
	rs->port = ntohs(sa.sin_port);
}

/* A listener whose accept queue is full drops SYNs, so connecting hangs
 * until our own timeout fires. */
static void test_connect_timeout(void **state)
{
	(void)state;
	struct raw_server rs;
	struct fx f;
	int fill[8];
	int nfill = 0;
	char err[FC_ERRMSG_LEN] = "";

	raw_listen(&rs);
	assert_int_equal(listen(rs.lfd, 0), 0);
	/* Fill the accept queue (never accepted) with non-blocking connects. */
	for (; nfill < 4; nfill++) {
		fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rs.port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		connect(fill[nfill], (struct sockaddr *)&sa, sizeof sa);
	}
	fx_init(&f, NULL);
	struct fc_net_opts opts = {.connect_timeout_ms = 100};
	struct cli c = {.id = 3, .connect_status = -1};
	uint16_t srv_port = f.port;
	f.port = rs.port;
	cli_start(&f, &c, &opts);
	f.port = srv_port;
	run_until(&f, cli_closed, &c);
	assert_int_equal(c.connect_status, FC_ETIMEOUT);
	assert_int_equal(c.close_code, FC_ETIMEOUT);

	struct fc_netc *nc = NULL;
	assert_int_equal(fc_netc_connect("127.0.0.1", rs.port, 100, &nc, err), FC_ETIMEOUT);
	assert_null(nc);
	assert_non_null(strstr(err, "timed out"));

	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(rs.lfd);
	fx_fini(&f);
}

static void test_netc_errors(void **state)
{
	(void)state;
	struct raw_server rs;
	struct fc_netc *c = NULL;
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	uint8_t fr[64];

	raw_listen(&rs);

	/* Timeout with nothing sent; then a frame split by the timeout is
	 * resumed by the next call; zero-length frames are returned non-NULL. */
	assert_int_equal(fc_netc_connect("127.0.0.1", rs.port, 2000, &c, err), FC_OK);
	int s = accept(rs.lfd, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 20, err), FC_ETIMEOUT);
	assert_non_null(strstr(err, "timed out"));
	size_t n = put_frame(fr, "abcdef", 6);
	raw_send(s, fr, 5);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 20, err), FC_ETIMEOUT);
	raw_send(s, fr + 5, n - 5);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 2000, err), FC_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "abcdef", 6);
	fc_free(buf);
	raw_send(s, fr, put_frame(fr, NULL, 0));
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 2000, err), FC_OK);
	assert_int_equal(len, 0);
	assert_non_null(buf);
	fc_free(buf);
	/* Send arrives framed. */
	assert_int_equal(fc_netc_send(c, "xyz", 3, 2000, err), FC_OK);
	uint8_t in[7];
	assert_int_equal(recv(s, in, sizeof in, MSG_WAITALL), 7);
	assert_memory_equal(in, "\0\0\0\3xyz", 7);
	/* Too big for the caller's max. */
	raw_send(s, fr, put_frame(fr, "0123456789", 10));
	assert_int_equal(fc_netc_recv(c, &buf, &len, 9, 2000, err), FC_ETOOBIG);
	assert_null(buf);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 2000, err), FC_ESTATE);
	assert_int_equal(fc_netc_send(c, "x", 1, 2000, err), FC_ESTATE);
	fc_netc_close(c);
	close(s);

	/* Peer closes mid-frame: EPROTO; at a frame boundary: ECLOSED. */
	assert_int_equal(fc_netc_connect("127.0.0.1", rs.port, 2000, &c, err), FC_OK);
	s = accept(rs.lfd, NULL, NULL);
	raw_send(s, fr, put_frame(fr, "0123456789", 10) - 3);
	close(s);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 2000, err), FC_EPROTO);
	assert_non_null(strstr(err, "mid-frame"));
	fc_netc_close(c);

	assert_int_equal(fc_netc_connect("localhost", rs.port, 2000, &c, err), FC_OK);
	s = accept(rs.lfd, NULL, NULL);
	close(s);
	assert_int_equal(fc_netc_recv(c, &buf, &len, 0, 2000, err), FC_ECLOSED);
	assert_non_null(strstr(err, "localhost:"));
	fc_netc_close(c);
	fc_netc_close(NULL);
	close(rs.lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_many_frames),
	    cmocka_unit_test(test_split_at_every_byte_boundary),
	    cmocka_unit_test(test_garbage_prefix_closes_only_that_connection),
	    cmocka_unit_test(test_truncated_frame_then_close),
	    cmocka_unit_test(test_backpressure_send_side),
	    cmocka_unit_test(test_backpressure_stops_reading),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_send_rules),
	    cmocka_unit_test(test_server_close_with_live_connections),
	    cmocka_unit_test(test_connect_timeout),
	    cmocka_unit_test(test_netc_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
