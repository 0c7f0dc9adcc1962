/* The data-plane transport contract, written once and run against each
 * backend.
 *
 *   test_transport                    tcp on 127.0.0.1; rdma too when a
 *                                     device is usable (on the first IPv4
 *                                     address bound to it), reported
 *                                     SKIPPED otherwise
 *   FC_TRANSPORT_BACKEND=rdma FC_TRANSPORT_HOST=192.0.2.1 test_transport
 *                                     only rdma; an unusable device FAILS
 *                                     (this is what tests/rxe runs in a VM)
 *   test_transport --serve <backend> <host>
 *                                     helper process for the "peer
 *                                     disappears" test: serves one client,
 *                                     prints its port, waits to be killed
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_transport.h"

#include <rdma/rdma_cma.h>

extern char **environ;

#define REGION_LEN (64 * 1024)
#define TMO 20000 /* ms: safety bound of every wait, never a threshold */

struct backend {
	enum fc_transport_kind kind;
	const char *host;
	int required; /* explicitly asked for: unusable is a failure */
	int usable;
	char why[FC_ERRMSG_LEN];
};

static const char *g_self; /* path of this binary, for --serve */
static const char *g_host_override;
static int g_only; /* 0: default set; else the one kind asked for */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define CHECK_OK(expr)                                                                   \
	do {                                                                             \
		char em_[FC_ERRMSG_LEN] = "";                                            \
		int rc_ = (expr);                                                        \
		(void)em_;                                                               \
		if (rc_ != FC_OK)                                                        \
			fail_msg("%s -> %s", #expr, fc_strerror(rc_));                   \
	} while (0)

/* ---- fixtures ---------------------------------------------------------- */

struct server {
	struct fc_transport *t;
	unsigned char *region;
	struct fc_transport_mr *mr;
	struct fc_transport_listener *l;
	uint16_t port;
	pthread_t thr;
	int want;
	int accept_tmo;
	int naccepted;
	struct fc_transport_conn *conns[4];
	int rc;
	char err[FC_ERRMSG_LEN];
};

struct client {
	struct fc_transport *t;
	unsigned char *buf;
	size_t buf_len;
	struct fc_transport_mr *mr;
	struct fc_transport_conn *conn;
	struct fc_mr_desc remote;
};

static void *accept_main(void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < s->want; i++) {
		s->rc = fc_transport_accept(s->l, s->accept_tmo ? s->accept_tmo : TMO, &s->conns[i],
					    s->err);
		if (s->rc != FC_OK)
			break;
		s->naccepted++;
	}
	return NULL;
}

static void server_start_tmo(const struct backend *b, struct server *s, int nconns,
			     int accept_tmo)
{
	char err[FC_ERRMSG_LEN] = "";

	memset(s, 0, sizeof *s);
	if (fc_transport_open(b->kind, &s->t, err) != FC_OK)
		fail_msg("server open: %s", err);
	s->region = fc_calloc(1, REGION_LEN);
	assert_non_null(s->region);
	if (fc_transport_reg_mr(s->t, s->region, REGION_LEN, &s->mr, err) != FC_OK)
		fail_msg("server reg_mr: %s", err);
	if (fc_transport_listen(s->t, b->host, 0, s->mr, &s->l, err) != FC_OK)
		fail_msg("listen: %s", err);
	s->port = fc_transport_listener_port(s->l);
	assert_true(s->port != 0);
	s->want = nconns;
	s->accept_tmo = accept_tmo;
	assert_int_equal(pthread_create(&s->thr, NULL, accept_main, s), 0);
}

static void server_start(const struct backend *b, struct server *s, int nconns)
{
	server_start_tmo(b, s, nconns, TMO);
}

static void server_join(struct server *s)
{
	pthread_join(s->thr, NULL);
	if (s->rc != FC_OK)
		fail_msg("accept: %s", s->err);
	assert_int_equal(s->naccepted, s->want);
}

static void server_stop(struct server *s)
{
	for (int i = 0; i < s->naccepted; i++)
		fc_transport_conn_close(s->conns[i]);
	fc_transport_listener_close(s->l);
	fc_transport_dereg_mr(s->mr);
	fc_free(s->region);
	fc_transport_close(s->t);
}

static void client_open(const struct backend *b, struct client *c, uint16_t port)
{
	char err[FC_ERRMSG_LEN] = "";

	memset(c, 0, sizeof *c);
	if (fc_transport_open(b->kind, &c->t, err) != FC_OK)
		fail_msg("client open: %s", err);
	c->buf_len = REGION_LEN;
	c->buf = fc_calloc(1, c->buf_len);
	assert_non_null(c->buf);
	if (fc_transport_reg_mr(c->t, c->buf, c->buf_len, &c->mr, err) != FC_OK)
		fail_msg("client reg_mr: %s", err);
	if (fc_transport_connect(c->t, b->host, port, TMO, &c->conn, err) != FC_OK)
		fail_msg("connect: %s", err);
	fc_transport_conn_remote(c->conn, &c->remote);
}

static void client_close(struct client *c)
{
	if (c->conn)
		fc_transport_conn_close(c->conn);
	fc_transport_dereg_mr(c->mr);
	fc_free(c->buf);
	fc_transport_close(c->t);
}

static struct fc_transport_wr mkwr(enum fc_transport_op op, struct client *c, size_t loff,
				   uint32_t len, uint64_t roff, uint64_t wr_id)
{
	struct fc_transport_wr wr = {
		.op = op, .local = c->buf + loff, .len = len, .mr = c->mr,
		.remote_addr = c->remote.addr + roff, .wr_id = wr_id, .signaled = 1,
	};
	return wr;
}

/* Posts one request and waits for its completion. */
static int do_one(struct fc_transport_conn *conn, struct fc_transport_wr wr,
		  struct fc_transport_wc *wc)
{
	char err[FC_ERRMSG_LEN] = "";
	size_t n = 0;
	int64_t end = now_ms() + TMO;
	int rc = fc_transport_post(conn, &wr, 1, err);

	/* Queue still full of unsignaled work: polling retires it. */
	for (int i = 0; rc == FC_EBUSY && i < 1000; i++) {
		if (fc_transport_poll(conn, wc, 1, 10, &n, err) != FC_OK || n != 0)
			fail_msg("unexpected completion while the queue was full");
		rc = fc_transport_post(conn, &wr, 1, err);
	}
	if (rc != FC_OK)
		fail_msg("post: %s", err);
	while (n == 0 && now_ms() < end) {
		rc = fc_transport_poll(conn, wc, 1, 1000, &n, err);
		if (rc != FC_OK)
			fail_msg("poll: %s", err);
	}
	assert_int_equal(n, 1);
	assert_int_equal(wc->wr_id, wr.wr_id);
	return wc->status;
}

/* ---- the contract ------------------------------------------------------ */

static int skip_unusable(void **state)
{
	struct backend *b = *state;

	if (!b->usable) {
		print_message("rdma backend not usable here: %s\n", b->why);
		return 1;
	}
	return 0;
}

#define PRELUDE()                                \
	struct backend *b = *state;              \
	if (skip_unusable(state))                \
		skip();

static void test_read_after_write(void **state)
{
	PRELUDE();
	struct server s;
	struct client c;
	struct fc_transport_wc wc;
	struct fc_transport_stats before, after, cst;

	server_start(b, &s, 1);
	client_open(b, &c, s.port);
	server_join(&s);
	assert_int_equal(c.remote.len, REGION_LEN);
	assert_int_equal(c.remote.addr, (uint64_t)(uintptr_t)s.region);
	fc_transport_stats(s.t, &before);

	for (int i = 0; i < 1024; i++)
		c.buf[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_WRITE, &c, 0, 1024, 100, 1), &wc), FC_OK);
	assert_int_equal(wc.op, FC_TRANSPORT_WRITE);
	/* The bytes are in the server's memory ... */
	assert_memory_equal(s.region + 100, c.buf, 1024);
	/* ... and a READ brings them back, 1 KiB and 64 B. */
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 4096, 1024, 100, 2), &wc), FC_OK);
	assert_int_equal(wc.op, FC_TRANSPORT_READ);
	assert_memory_equal(c.buf + 4096, c.buf, 1024);
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 8192, 64, 164, 3), &wc), FC_OK);
	assert_memory_equal(c.buf + 8192, c.buf + 64, 64);
	/* The last byte of the region is readable. */
	s.region[REGION_LEN - 1] = 0x5a;
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 0, 1, REGION_LEN - 1, 4), &wc),
			 FC_OK);
	assert_int_equal(c.buf[0], 0x5a);

	/* Reads are served by the transport, not by any request handler of
	 * the application: tcp counts them in its workers, rdma's NIC does
	 * them without the server's CPU. */
	fc_transport_stats(s.t, &after);
	fc_transport_stats(c.t, &cst);
	assert_int_equal(cst.posted_read, 3);
	assert_int_equal(cst.posted_write, 1);
	assert_int_equal(cst.completions_ok, 4);
	if (b->kind == FC_TRANSPORT_TCP) {
		assert_int_equal(after.served_read - before.served_read, 3);
		assert_int_equal(after.served_write - before.served_write, 1);
	} else {
		assert_int_equal(after.served_read, 0);
	}
	print_message("backend used: %s (client) / %s (server)\n", fc_transport_name(c.t),
		      fc_transport_name(s.t));
	client_close(&c);
	server_stop(&s);
}

#define RACE_WORDS 128
#define RACE_INCR 200

struct racer {
	struct client *c;
	uint64_t id;
	pthread_barrier_t *bar;
	uint64_t old[RACE_WORDS];
	int rc;
	uint64_t incr_done;
};

/* CAS every word from 0 to my id; then add 1 to the counter word
 * RACE_INCR times with CAS loops. */
static void *race_main(void *arg)
{
	struct racer *r = arg;
	struct client *c = r->c;
	struct fc_transport_wr wrs[RACE_WORDS];
	struct fc_transport_wc wcs[64];
	char err[FC_ERRMSG_LEN] = "";
	size_t got = 0, n;
	int64_t end;

	for (int i = 0; i < RACE_WORDS; i++) {
		wrs[i] = mkwr(FC_TRANSPORT_CAS, c, (size_t)i * 8, 8, (uint64_t)i * 8, (uint64_t)i);
		wrs[i].compare = 0;
		wrs[i].swap = r->id;
	}
	pthread_barrier_wait(r->bar);
	r->rc = fc_transport_post(c->conn, wrs, RACE_WORDS, err);
	end = now_ms() + TMO;
	while (r->rc == FC_OK && got < RACE_WORDS && now_ms() < end) {
		r->rc = fc_transport_poll(c->conn, wcs, 64, 1000, &n, err);
		for (size_t i = 0; i < n; i++) {
			if (wcs[i].status != FC_OK)
				r->rc = wcs[i].status;
			r->old[wcs[i].wr_id] = *(uint64_t *)(void *)(c->buf + wcs[i].wr_id * 8);
		}
		got += n;
	}
	if (r->rc == FC_OK && got != RACE_WORDS)
		r->rc = FC_ETIMEOUT;

	/* Shared counter at word RACE_WORDS. */
	uint64_t expect = 0;
	for (int k = 0; r->rc == FC_OK && k < RACE_INCR * 1000 && r->incr_done < RACE_INCR; k++) {
		struct fc_transport_wc wc;
		struct fc_transport_wr wr =
			mkwr(FC_TRANSPORT_CAS, c, 4096, 8, RACE_WORDS * 8, 100000 + (uint64_t)k);
		wr.compare = expect;
		wr.swap = expect + 1;
		r->rc = fc_transport_post(c->conn, &wr, 1, err);
		n = 0;
		end = now_ms() + TMO;
		while (r->rc == FC_OK && n == 0 && now_ms() < end)
			r->rc = fc_transport_poll(c->conn, &wc, 1, 1000, &n, err);
		if (r->rc == FC_OK && (n != 1 || wc.status != FC_OK))
			r->rc = n ? wc.status : FC_ETIMEOUT;
		uint64_t old = *(uint64_t *)(void *)(c->buf + 4096);
		if (old == expect)
			r->incr_done++;
		expect = old == expect ? expect + 1 : old;
	}
	return NULL;
}

static void test_cas_race_one_winner(void **state)
{
	PRELUDE();
	struct server s;
	struct client c1, c2;
	struct racer r1, r2;
	pthread_barrier_t bar;
	pthread_t th1, th2;
	uint64_t *words;

	server_start(b, &s, 2);
	client_open(b, &c1, s.port);
	client_open(b, &c2, s.port);
	server_join(&s);
	words = (uint64_t *)(void *)s.region;

	pthread_barrier_init(&bar, NULL, 2);
	memset(&r1, 0, sizeof r1);
	memset(&r2, 0, sizeof r2);
	r1 = (struct racer){.c = &c1, .id = 0x1111, .bar = &bar};
	r2 = (struct racer){.c = &c2, .id = 0x2222, .bar = &bar};
	pthread_create(&th1, NULL, race_main, &r1);
	pthread_create(&th2, NULL, race_main, &r2);
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);
	pthread_barrier_destroy(&bar);
	assert_int_equal(r1.rc, FC_OK);
	assert_int_equal(r2.rc, FC_OK);

	int wins1 = 0, wins2 = 0;
	for (int i = 0; i < RACE_WORDS; i++) {
		int w1 = r1.old[i] == 0, w2 = r2.old[i] == 0;
		/* exactly one winner, and the loser saw the winner's value */
		assert_int_equal(w1 + w2, 1);
		assert_int_equal(words[i], w1 ? r1.id : r2.id);
		assert_int_equal(w1 ? r2.old[i] : r1.old[i], words[i]);
		wins1 += w1;
		wins2 += w2;
	}
	/* No increment lost: CAS is atomic against the other client's. */
	assert_int_equal(words[RACE_WORDS], 2 * RACE_INCR);
	print_message("cas race: client1 won %d words, client2 %d; counter %llu\n", wins1, wins2,
		      (unsigned long long)words[RACE_WORDS]);
	client_close(&c1);
	client_close(&c2);
	server_stop(&s);
}

static void test_outside_region_refused(void **state)
{
	PRELUDE();
	struct server s;
	struct client c;
	struct fc_transport_wc wc;
	struct fc_transport_wr wr;
	char err[FC_ERRMSG_LEN] = "";
	size_t n = 0;

	server_start(b, &s, 1);
	client_open(b, &c, s.port);
	server_join(&s);

	/* Straddling the end, past the end, before the start: refused with
	 * FC_ERANGE and a message naming the peer, nothing sent. */
	wr = mkwr(FC_TRANSPORT_READ, &c, 0, 64, REGION_LEN - 32, 1);
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_ERANGE);
	assert_non_null(strstr(err, fc_transport_conn_peer(c.conn)));
	assert_non_null(strstr(err, "outside the registered region"));
	wr = mkwr(FC_TRANSPORT_WRITE, &c, 0, 8, REGION_LEN, 2);
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_ERANGE);
	wr = mkwr(FC_TRANSPORT_WRITE, &c, 0, 8, 0, 3);
	wr.remote_addr = c.remote.addr - 8;
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_ERANGE);
	wr = mkwr(FC_TRANSPORT_CAS, &c, 0, 8, REGION_LEN, 4);
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_ERANGE);
	wr = mkwr(FC_TRANSPORT_CAS, &c, 0, 8, 4, 5);
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_EINVAL);
	/* Local buffer outside its registration. */
	wr = mkwr(FC_TRANSPORT_READ, &c, c.buf_len - 8, 64, 0, 6);
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_ERANGE);
	/* Nothing was posted: no completion, and the connection still works. */
	assert_int_equal(fc_transport_poll(c.conn, &wc, 1, 100, &n, err), FC_OK);
	assert_int_equal(n, 0);
	s.region[10] = 0x42;
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 0, 16, 0, 7), &wc), FC_OK);
	assert_int_equal(c.buf[10], 0x42);

	/* The remote side refuses too: bypass the wrapper's check. The
	 * completion says FC_ERANGE and the server memory is untouched. */
	memset(c.buf, 0xee, 64);
	wr = mkwr(FC_TRANSPORT_WRITE, &c, 0, 64, REGION_LEN - 32, 8);
	assert_int_equal(fc_transport_get_ops(c.t)->post(c.conn, &wr, 1, err), FC_OK);
	n = 0;
	for (int64_t end = now_ms() + TMO; n == 0 && now_ms() < end;)
		fc_transport_poll(c.conn, &wc, 1, 1000, &n, err);
	assert_int_equal(n, 1);
	assert_int_equal(wc.wr_id, 8);
	assert_int_equal(wc.status, FC_ERANGE);
	assert_non_null(wc.detail);
	print_message("remote refusal: %s\n", wc.detail);
	for (int i = REGION_LEN - 32; i < REGION_LEN; i++)
		assert_int_equal(s.region[i], 0);

	client_close(&c);
	server_stop(&s);
}

/* Starts `self --serve` and reads the port it listens on. */
static pid_t spawn_server(const struct backend *b, uint16_t *port)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)g_self, "--serve", (char *)fc_transport_kind_name(b->kind),
			(char *)b->host, NULL};
	int fds[2];
	pid_t pid;
	char line[32] = "";
	FILE *f;

	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	assert_int_equal(posix_spawn(&pid, g_self, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	assert_non_null(f);
	/* The child exits on its own after 60 s at most, so this ends. */
	if (!fgets(line, sizeof line, f))
		fail_msg("server process printed no port");
	fclose(f);
	*port = (uint16_t)atoi(line);
	assert_true(*port != 0);
	return pid;
}

#define DIE_MAX 4096

static void test_peer_disappears(void **state)
{
	PRELUDE();
	struct client c;
	struct fc_transport_wr wrs[64];
	struct fc_transport_wc wcs[64], wc;
	static unsigned char done[DIE_MAX];
	char err[FC_ERRMSG_LEN] = "";
	uint16_t port;
	pid_t pid;
	int status, saw_error = 0, post_rc = FC_OK;
	uint64_t posted = 0, completed = 0;
	int64_t t0, end;

	memset(done, 0, sizeof done);
	pid = spawn_server(b, &port);
	client_open(b, &c, port);
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 0, 64, 0, DIE_MAX + 1), &wc),
			 FC_OK);

	/* Freeze the server so requests are really in flight, then kill it. */
	kill(pid, SIGSTOP);
	for (int i = 0; i < 64; i++)
		wrs[i] = mkwr(FC_TRANSPORT_READ, &c, (size_t)i * 64, 64, (uint64_t)i * 64, posted + (uint64_t)i);
	assert_int_equal(fc_transport_post(c.conn, wrs, 64, err), FC_OK);
	posted += 64;
	t0 = now_ms();
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);

	/* Keep working until the loss shows; every posted request must
	 * complete exactly once, and the error must come in bounded time. */
	end = t0 + TMO;
	while (now_ms() < end && (!saw_error || completed < posted)) {
		size_t n = 0;
		int rc = fc_transport_poll(c.conn, wcs, 64, 200, &n, err);

		for (size_t i = 0; i < n; i++) {
			assert_true(wcs[i].wr_id < posted);
			assert_int_equal(done[wcs[i].wr_id], 0);
			done[wcs[i].wr_id] = 1;
			completed++;
			if (wcs[i].status != FC_OK) {
				if (!saw_error)
					snprintf(err, sizeof err, "%s: %s",
						 fc_strerror(wcs[i].status), wcs[i].detail);
				saw_error = 1;
			}
		}
		if (rc != FC_OK) {
			assert_int_equal(rc, FC_ECLOSED);
			saw_error = 1;
		}
		if (!saw_error && completed == posted && posted + 16 <= DIE_MAX) {
			/* rdma: the NIC answered while the process was
			 * stopped; keep asking until the loss shows. */
			for (int i = 0; i < 16; i++)
				wrs[i] = mkwr(FC_TRANSPORT_READ, &c, (size_t)i * 64, 64, 0, posted + (uint64_t)i);
			post_rc = fc_transport_post(c.conn, wrs, 16, err);
			if (post_rc == FC_OK)
				posted += 16;
			else
				saw_error = 1;
		}
	}
	print_message("peer killed: error after %lld ms, %llu requests posted, %llu completed "
		      "(first error: %s)\n", (long long)(now_ms() - t0), (unsigned long long)posted,
		      (unsigned long long)completed, err);
	assert_true(saw_error);
	assert_int_equal(completed, posted);
	/* And the connection stays failed. */
	wrs[0] = mkwr(FC_TRANSPORT_READ, &c, 0, 64, 0, 0);
	post_rc = fc_transport_post(c.conn, wrs, 1, err);
	assert_int_equal(post_rc, FC_ECLOSED);
	client_close(&c);
}

#define MANY 5000
#define WINDOW 192

static void test_many_in_flight(void **state)
{
	PRELUDE();
	struct server s;
	struct client c;
	struct fc_transport_wr wrs[16];
	struct fc_transport_wc wcs[64];
	static unsigned char seen[MANY];
	char err[FC_ERRMSG_LEN] = "";
	size_t posted = 0, completed = 0, n;
	int64_t end;

	memset(seen, 0, sizeof seen);
	server_start(b, &s, 1);
	client_open(b, &c, s.port);
	server_join(&s);
	for (int i = 0; i < 4096; i++)
		s.region[i] = (unsigned char)i;

	end = now_ms() + 4 * TMO;
	for (int iter = 0; completed < MANY && iter < 10 * MANY && now_ms() < end; iter++) {
		size_t k = 0;
		while (posted + k < MANY && posted - completed + k < WINDOW && k < 16) {
			uint64_t id = posted + k;
			/* a mix of reads, writes to a scratch area and CAS */
			switch (id % 3) {
			case 0:
				wrs[k] = mkwr(FC_TRANSPORT_READ, &c, 8192 + (id % 64) * 64, 64,
					      (id % 64) * 64, id);
				break;
			case 1:
				wrs[k] = mkwr(FC_TRANSPORT_WRITE, &c, 0, 32, 32768 + (id % 256) * 32, id);
				break;
			default:
				wrs[k] = mkwr(FC_TRANSPORT_CAS, &c, 16384 + (id % 64) * 8, 8,
					      49152 + (id % 64) * 8, id);
				wrs[k].compare = 0;
				wrs[k].swap = id;
				break;
			}
			k++;
		}
		if (k) {
			int rc = fc_transport_post(c.conn, wrs, k, err);
			if (rc == FC_OK)
				posted += k;
			else if (rc != FC_EBUSY)
				fail_msg("post: %s", err);
		}
		n = 0;
		if (fc_transport_poll(c.conn, wcs, 64, 1000, &n, err) != FC_OK)
			fail_msg("poll: %s", err);
		for (size_t i = 0; i < n; i++) {
			assert_true(wcs[i].wr_id < posted);
			assert_int_equal(wcs[i].status, FC_OK);
			assert_int_equal(seen[wcs[i].wr_id], 0);
			seen[wcs[i].wr_id] = 1;
			completed++;
		}
	}
	assert_int_equal(posted, MANY);
	assert_int_equal(completed, MANY);
	/* Nothing completes twice or late. */
	n = 0;
	assert_int_equal(fc_transport_poll(c.conn, wcs, 64, 200, &n, err), FC_OK);
	assert_int_equal(n, 0);
	/* The last read of each offset returned the server's bytes. */
	assert_memory_equal(c.buf + 8192, s.region, 64 * 64);
	client_close(&c);
	server_stop(&s);
}

static void test_selective_signaling(void **state)
{
	PRELUDE();
	struct server s;
	struct client c;
	struct fc_transport_wr wrs[32];
	struct fc_transport_wc wcs[8];
	char err[FC_ERRMSG_LEN] = "";
	size_t n = 0, total = 0;

	server_start(b, &s, 1);
	client_open(b, &c, s.port);
	server_join(&s);

	/* 32 writes with one doorbell, only the last one signaled. */
	for (int i = 0; i < 32; i++) {
		c.buf[i] = (unsigned char)(0x80 + i);
		wrs[i] = mkwr(FC_TRANSPORT_WRITE, &c, (size_t)i, 1, (uint64_t)i, (uint64_t)i);
		wrs[i].signaled = i == 31;
	}
	assert_int_equal(fc_transport_post(c.conn, wrs, 32, err), FC_OK);
	for (int64_t end = now_ms() + TMO; total == 0 && now_ms() < end;) {
		assert_int_equal(fc_transport_poll(c.conn, wcs, 8, 1000, &n, err), FC_OK);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(wcs[i].wr_id, 31);
		total += n;
	}
	assert_int_equal(total, 1);
	assert_int_equal(fc_transport_poll(c.conn, wcs, 8, 100, &n, err), FC_OK);
	assert_int_equal(n, 0);
	assert_memory_equal(s.region, c.buf, 32);

	/* A long unsignaled run (more than the queue depth) never wedges
	 * the queue: poll frees slots even when it returns nothing. */
	int posted = 0;
	for (int iter = 0; posted < 4 * FC_TRANSPORT_QUEUE_DEPTH && iter < 100000; iter++) {
		for (int i = 0; i < 16; i++) {
			wrs[i] = mkwr(FC_TRANSPORT_WRITE, &c, 0, 8, 1024 + (uint64_t)i * 8, 1000);
			wrs[i].signaled = 0;
		}
		int rc = fc_transport_post(c.conn, wrs, 16, err);
		if (rc == FC_OK)
			posted += 16;
		else if (rc == FC_EBUSY)
			assert_int_equal(fc_transport_poll(c.conn, wcs, 8, 10, &n, err), FC_OK);
		else
			fail_msg("post: %s", err);
	}
	assert_int_equal(posted, 4 * FC_TRANSPORT_QUEUE_DEPTH);
	struct fc_transport_wc wc;
	assert_int_equal(do_one(c.conn, mkwr(FC_TRANSPORT_READ, &c, 64, 8, 1024, 77), &wc), FC_OK);
	assert_memory_equal(c.buf + 64, c.buf, 8);
	client_close(&c);
	server_stop(&s);
}

static void test_send_recv(void **state)
{
	PRELUDE();
	struct server s;
	struct client c;
	struct fc_transport_conn *sc;
	struct fc_transport_wr wr;
	struct fc_transport_wc wcs[8];
	char err[FC_ERRMSG_LEN] = "";
	size_t n, got = 0;

	server_start(b, &s, 1);
	client_open(b, &c, s.port);
	server_join(&s);
	sc = s.conns[0];

	/* The server posts 4 receive buffers in its region. */
	struct fc_transport_wr rwrs[4];
	for (int i = 0; i < 4; i++)
		rwrs[i] = (struct fc_transport_wr){.op = FC_TRANSPORT_RECV,
						   .local = s.region + 1024 * i, .len = 1024,
						   .mr = s.mr, .wr_id = 500 + (uint64_t)i};
	assert_int_equal(fc_transport_post(sc, rwrs, 4, err), FC_OK);

	for (int i = 0; i < 4; i++) {
		int len = snprintf((char *)c.buf, 64, "message %d", i);
		wr = mkwr(FC_TRANSPORT_SEND, &c, 0, (uint32_t)len + 1, 0, 10 + (uint64_t)i);
		struct fc_transport_wc wc;
		assert_int_equal(do_one(c.conn, wr, &wc), FC_OK);
		assert_int_equal(wc.op, FC_TRANSPORT_SEND);
	}
	for (int64_t end = now_ms() + TMO; got < 4 && now_ms() < end;) {
		assert_int_equal(fc_transport_poll(sc, wcs + got, 8 - got, 1000, &n, err), FC_OK);
		got += n;
	}
	assert_int_equal(got, 4);
	for (int i = 0; i < 4; i++) {
		char want[32];
		snprintf(want, sizeof want, "message %d", i);
		assert_int_equal(wcs[i].wr_id, 500 + (uint64_t)i);
		assert_int_equal(wcs[i].op, FC_TRANSPORT_RECV);
		assert_int_equal(wcs[i].status, FC_OK);
		assert_int_equal(wcs[i].byte_len, strlen(want) + 1);
		assert_string_equal((char *)s.region + 1024 * i, want);
	}

	/* And back: the server answers into a client RECV. */
	wr = (struct fc_transport_wr){.op = FC_TRANSPORT_RECV, .local = c.buf + 2048, .len = 256,
				      .mr = c.mr, .wr_id = 900};
	assert_int_equal(fc_transport_post(c.conn, &wr, 1, err), FC_OK);
	memcpy(s.region + 8192, "pong", 5);
	wr = (struct fc_transport_wr){.op = FC_TRANSPORT_SEND, .local = s.region + 8192, .len = 5,
				      .mr = s.mr, .wr_id = 901, .signaled = 1};
	struct fc_transport_wc wc;
	assert_int_equal(do_one(sc, wr, &wc), FC_OK);
	n = 0;
	for (int64_t end = now_ms() + TMO; n == 0 && now_ms() < end;)
		assert_int_equal(fc_transport_poll(c.conn, &wc, 1, 1000, &n, err), FC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(wc.wr_id, 900);
	assert_int_equal(wc.byte_len, 5);
	assert_string_equal((char *)c.buf + 2048, "pong");
	client_close(&c);
	server_stop(&s);
}

static void test_connect_to_nobody_fails(void **state)
{
	PRELUDE();
	struct fc_transport *t;
	struct fc_transport_conn *conn = NULL;
	struct fc_transport_listener *l;
	char err[FC_ERRMSG_LEN] = "";
	uint16_t port;
	int64_t t0;
	int rc;

	/* A port that was just free: listen, note it, close. */
	CHECK_OK(fc_transport_open(b->kind, &t, em_));
	CHECK_OK(fc_transport_listen(t, b->host, 0, NULL, &l, em_));
	port = fc_transport_listener_port(l);
	fc_transport_listener_close(l);
	t0 = now_ms();
	rc = fc_transport_connect(t, b->host, port, 5000, &conn, err);
	print_message("connect to a closed port: %s after %lld ms: %s\n", fc_strerror(rc),
		      (long long)(now_ms() - t0), err);
	assert_int_not_equal(rc, FC_OK);
	assert_null(conn);
	assert_true(strlen(err) > 0);
	/* and accept with nobody coming times out */
	CHECK_OK(fc_transport_listen(t, b->host, 0, NULL, &l, em_));
	rc = fc_transport_accept(l, 100, &conn, err);
	assert_int_equal(rc, FC_ETIMEOUT);
	fc_transport_listener_close(l);
	fc_transport_close(t);
}

static void test_auto_picks_and_parses(void **state)
{
	struct backend *b = *state;
	struct fc_transport *t;
	enum fc_transport_kind k;
	char err[FC_ERRMSG_LEN] = "";
	int rdma_ok = fc_transport_rdma_probe(err) == FC_OK;

	(void)b;
	assert_int_equal(fc_transport_parse_kind("auto", &k), FC_OK);
	assert_int_equal(k, FC_TRANSPORT_AUTO);
	assert_int_equal(fc_transport_parse_kind("rdma", &k), FC_OK);
	assert_int_equal(k, FC_TRANSPORT_RDMA);
	assert_int_equal(fc_transport_parse_kind("infiniband", &k), FC_EINVAL);
	assert_int_equal(fc_transport_open(FC_TRANSPORT_AUTO, &t, err), FC_OK);
	assert_string_equal(fc_transport_name(t), rdma_ok ? "rdma" : "tcp");
	assert_int_equal(fc_transport_get_ops(t)->version, FC_TRANSPORT_OPS_VERSION);
	fc_transport_close(t);
	if (!rdma_ok) {
		assert_int_equal(fc_transport_open(FC_TRANSPORT_RDMA, &t, err), FC_EUNSUPPORTED);
		assert_true(strlen(err) > 0);
	}
}

static void test_alloc_failures_are_clean(void **state)
{
	PRELUDE();
	/* Every allocation of a connect/accept pair fails in turn; each
	 * failure is an error, never a crash or leak (ASan checks the
	 * latter in the sanitizer build). */
	for (unsigned long k = 1; k <= 3; k++) {
		struct server s;
		struct client c;
		char err[FC_ERRMSG_LEN] = "";

		server_start_tmo(b, &s, 1, 2000);
		memset(&c, 0, sizeof c);
		CHECK_OK(fc_transport_open(b->kind, &c.t, em_));
		c.buf_len = 4096;
		c.buf = fc_calloc(1, c.buf_len);
		CHECK_OK(fc_transport_reg_mr(c.t, c.buf, c.buf_len, &c.mr, em_));
		fc_mem_fail_nth(k);
		int rc = fc_transport_connect(c.t, b->host, s.port, 3000, &c.conn, err);
		fc_mem_fail_nth(0);
		if (rc != FC_OK)
			c.conn = NULL;
		/* Unblock the acceptor if the client never arrived. */
		pthread_join(s.thr, NULL);
		client_close(&c);
		server_stop(&s);
	}
}

/* ---- runner ------------------------------------------------------------ */

static int serve_main(int argc, char **argv)
{
	enum fc_transport_kind kind;
	struct fc_transport *t;
	struct fc_transport_mr *mr;
	struct fc_transport_listener *l;
	struct fc_transport_conn *conn;
	char err[FC_ERRMSG_LEN] = "";
	void *region;

	if (argc < 4 || fc_transport_parse_kind(argv[2], &kind) != FC_OK)
		return 2;
	region = fc_calloc(1, REGION_LEN);
	if (!region || fc_transport_open(kind, &t, err) != FC_OK ||
	    fc_transport_reg_mr(t, region, REGION_LEN, &mr, err) != FC_OK ||
	    fc_transport_listen(t, argv[3], 0, mr, &l, err) != FC_OK) {
		fprintf(stderr, "serve: %s\n", err);
		return 1;
	}
	printf("%u\n", fc_transport_listener_port(l));
	fflush(stdout);
	if (fc_transport_accept(l, TMO, &conn, err) != FC_OK) {
		fprintf(stderr, "serve: %s\n", err);
		return 1;
	}
	sleep(60); /* killed long before this */
	return 0;
}

/* An IPv4 address that rdma_cm can bind to an RDMA device, so that the
 * default run finds e.g. an rxe or RoCE netdev's address by itself. */
static int find_rdma_addr(char *out, size_t len)
{
	struct ifaddrs *ifs = NULL, *i;
	struct rdma_event_channel *ch = rdma_create_event_channel();
	int found = 0;

	if (!ch || getifaddrs(&ifs) != 0)
		goto out;
	for (i = ifs; i && !found; i = i->ifa_next) {
		struct rdma_cm_id *id = NULL;
		struct sockaddr_in sin;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		memcpy(&sin, i->ifa_addr, sizeof sin);
		if ((ntohl(sin.sin_addr.s_addr) >> 24) == 127)
			continue; /* rdma_cm to 127.x fails even with rxe on lo */
		sin.sin_port = 0;
		if (rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) != 0)
			continue;
		if (rdma_bind_addr(id, (struct sockaddr *)&sin) == 0 && id->verbs) {
			inet_ntop(AF_INET, &sin.sin_addr, out, (socklen_t)len);
			found = 1;
		}
		rdma_destroy_id(id);
	}
out:
	if (ifs)
		freeifaddrs(ifs);
	if (ch)
		rdma_destroy_event_channel(ch);
	return found;
}

int main(int argc, char **argv)
{
	static struct backend tcp_b = {.kind = FC_TRANSPORT_TCP, .host = "127.0.0.1"};
	static struct backend rdma_b = {.kind = FC_TRANSPORT_RDMA, .host = "192.0.2.1"};
	const char *be = getenv("FC_TRANSPORT_BACKEND");
	int failures = 0;

	g_self = "/proc/self/exe";
	{
		static char self[4096];
		ssize_t r = readlink("/proc/self/exe", self, sizeof self - 1);
		if (r > 0) {
			self[r] = '\0';
			g_self = self;
		}
	}
	if (argc >= 2 && strcmp(argv[1], "--serve") == 0)
		return serve_main(argc, argv);
	if (argc >= 2)
		be = argv[1];
	g_host_override = argc >= 3 ? argv[2] : getenv("FC_TRANSPORT_HOST");
	if (be && *be) {
		enum fc_transport_kind k;
		if (fc_transport_parse_kind(be, &k) != FC_OK || k == FC_TRANSPORT_AUTO) {
			fprintf(stderr, "usage: %s [tcp|rdma [host]]\n", argv[0]);
			return 2;
		}
		g_only = (int)k;
	}
	if (g_host_override) {
		tcp_b.host = g_host_override;
		rdma_b.host = g_host_override;
	}
	tcp_b.usable = 1;
	rdma_b.usable = fc_transport_rdma_probe(rdma_b.why) == FC_OK;
	if (rdma_b.usable && !g_host_override) {
		static char addr[INET_ADDRSTRLEN];
		if (find_rdma_addr(addr, sizeof addr)) {
			rdma_b.host = addr;
		} else {
			rdma_b.usable = 0;
			snprintf(rdma_b.why, sizeof rdma_b.why,
				 "a device is present but no IPv4 address binds to it; set "
				 "FC_TRANSPORT_HOST");
		}
	}
	rdma_b.required = g_only == FC_TRANSPORT_RDMA;

	const struct CMUnitTest contract[] = {
		cmocka_unit_test(test_read_after_write),
		cmocka_unit_test(test_cas_race_one_winner),
		cmocka_unit_test(test_outside_region_refused),
		cmocka_unit_test(test_peer_disappears),
		cmocka_unit_test(test_many_in_flight),
		cmocka_unit_test(test_selective_signaling),
		cmocka_unit_test(test_send_recv),
		cmocka_unit_test(test_connect_to_nobody_fails),
		cmocka_unit_test(test_alloc_failures_are_clean),
		cmocka_unit_test(test_auto_picks_and_parses),
	};
	struct CMUnitTest tcp_tests[sizeof contract / sizeof contract[0]];
	struct CMUnitTest rdma_tests[sizeof contract / sizeof contract[0]];
	for (size_t i = 0; i < sizeof contract / sizeof contract[0]; i++) {
		tcp_tests[i] = contract[i];
		tcp_tests[i].initial_state = &tcp_b;
		rdma_tests[i] = contract[i];
		rdma_tests[i].initial_state = &rdma_b;
	}
	if (!g_only || g_only == FC_TRANSPORT_TCP) {
		printf("transport contract: backend tcp on %s\n", tcp_b.host);
		failures += _cmocka_run_group_tests("transport_tcp", tcp_tests,
						    sizeof tcp_tests / sizeof tcp_tests[0], NULL,
						    NULL);
	}
	if (!g_only || g_only == FC_TRANSPORT_RDMA) {
		if (rdma_b.usable) {
			printf("transport contract: backend rdma on %s (device usable)\n",
			       rdma_b.host);
		} else if (rdma_b.required) {
			printf("transport contract: backend rdma REQUIRED but not usable: %s\n",
			       rdma_b.why);
			return 1;
		} else {
			printf("transport contract: backend rdma SKIPPED: %s\n", rdma_b.why);
		}
		failures += _cmocka_run_group_tests("transport_rdma", rdma_tests,
						    sizeof rdma_tests / sizeof rdma_tests[0], NULL,
						    NULL);
	}
	return failures ? 1 : 0;
}
