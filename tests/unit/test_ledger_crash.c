/* Crash test of the ledger store: a child process appends certified blocks
 * and reports every acknowledged height through a pipe; the parent SIGKILLs
 * it at a random point, reopens the ledger and checks that every
 * acknowledged block is present, the applied height is consistent, and the
 * state equals a replay of the ledger (fc_ledger_verify). Several rounds on
 * the same ledger, so recovery after a kill is itself killed again.
 *
 * FC_TEST_SEED=<n> reproduces a run (the seed is printed). */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_ledger.h"
#include "fc_log.h"
#include "fc_wire.h"

#include "../../storage-pool/ledger_fixture.h"

#define ROUNDS 6
#define MAX_KILL_AFTER 25    /* acknowledgements before the kill */
#define CHILD_MAX_BLOCKS 200 /* a child stops by itself after this many */
#define TXS_PER_BLOCK 20
#define KEYS 100
#define ACK_TIMEOUT_MS 30000

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Deterministic content of block h: overlapping keys, invalid txs, deletes. */
static struct lf_block *crash_block(uint64_t h, const uint8_t *prev)
{
	static char keys[TXS_PER_BLOCK][2][16];
	static char vals[TXS_PER_BLOCK][2][32];
	struct lf_tx txs[TXS_PER_BLOCK];
	struct lf_sizes sz;

	lf_sizes_small(&sz);
	memset(txs, 0, sizeof txs);
	if (h == 0) {
		txs[0].config_seq = 1;
		return lf_block_new(0, prev, txs, 1, &sz);
	}
	for (int i = 0; i < TXS_PER_BLOCK; i++) {
		uint64_t r = mix(h * 1000 + (uint64_t)i);
		unsigned k1 = (unsigned)(r % KEYS), k2 = (unsigned)((r >> 8) % KEYS);
		txs[i].status = (r >> 20) % 5 == 0 ? FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT
						   : FLEXCHAIN__TX_STATUS__TX_VALID;
		snprintf(keys[i][0], sizeof keys[i][0], "ck%03u", k1);
		snprintf(vals[i][0], sizeof vals[i][0], "v-%llu-%d", (unsigned long long)h, i);
		txs[i].writes[0] = (struct lf_write){.key = keys[i][0],
						     .value = (const uint8_t *)vals[i][0],
						     .value_len = strlen(vals[i][0]),
						     .is_delete = (r >> 30) % 10 == 0};
		txs[i].n_writes = 1;
		if (k2 != k1) {
			snprintf(keys[i][1], sizeof keys[i][1], "ck%03u", k2);
			snprintf(vals[i][1], sizeof vals[i][1], "w-%llu-%d", (unsigned long long)h,
				 i);
			txs[i].writes[1] = (struct lf_write){.key = keys[i][1],
							     .value = (const uint8_t *)vals[i][1],
							     .value_len = strlen(vals[i][1])};
			txs[i].n_writes = 2;
		}
	}
	return lf_block_new(h, prev, txs, TXS_PER_BLOCK, &sz);
}

static void child_run(const char *dir, int fd)
{
	struct fc_ledger *l;
	char msg[FC_ERRMSG_LEN];
	uint8_t prev[FC_HASH_LEN] = {0};
	uint64_t next = 0, head;

	fc_log_set_level(FC_LOG_WARN);
	if (fc_ledger_open(dir, NULL, &l, msg)) {
		fprintf(stderr, "child: open: %s\n", msg);
		_exit(2);
	}
	if (fc_ledger_head(l, &head, prev) == FC_OK)
		next = head + 1;
	for (int i = 0; i < CHILD_MAX_BLOCKS; i++, next++) {
		struct lf_block *b = crash_block(next, prev);
		if (fc_ledger_append(l, b->block, b->verdict, b->cert, msg)) {
			fprintf(stderr, "child: %s\n", msg);
			_exit(3);
		}
		memcpy(prev, b->hash, FC_HASH_LEN);
		lf_block_free(b);
		if (write(fd, &next, sizeof next) != (ssize_t)sizeof next)
			_exit(4);
	}
	fc_ledger_close(l);
	_exit(0);
}

/* Reads one acknowledged height; 0 at EOF, -1 on timeout/error. */
static int read_ack(int fd, uint64_t *h, int timeout_ms)
{
	size_t got = 0;
	while (got < sizeof *h) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, timeout_ms);
		if (n <= 0)
			return -1;
		ssize_t r = read(fd, (char *)h + got, sizeof *h - got);
		if (r == 0)
			return got ? -1 : 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 1;
}

static void test_kill9_during_appends(void **state)
{
	(void)state;
	char dir[] = "/tmp/fc-ledger-crash-XXXXXX";
	char msg[FC_ERRMSG_LEN];
	unsigned seed;
	int have_ack = 0;
	uint64_t last_ack = 0;
	const char *env = getenv("FC_TEST_SEED");

	seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	fprintf(stderr, "test_ledger_crash: FC_TEST_SEED=%u\n", seed);
	srand(seed);
	assert_non_null(mkdtemp(dir));

	for (int round = 0; round < ROUNDS; round++) {
		int fds[2], status, acks = 0, kill_after = rand() % (MAX_KILL_AFTER + 1);
		uint64_t h;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_run(dir, fds[1]);
		}
		close(fds[1]);
		while (acks < kill_after) {
			int r = read_ack(fds[0], &h, ACK_TIMEOUT_MS);
			assert_true(r >= 0);
			if (r == 0)
				break; /* child finished or failed: checked below */
			assert_true(!have_ack || h == last_ack + 1);
			last_ack = h;
			have_ack = 1;
			acks++;
		}
		/* A random moment: right away, or during a later append. */
		usleep((useconds_t)(rand() % 5000));
		kill(pid, SIGKILL);
		/* Acknowledgements already sent before the kill count too. */
		for (;;) {
			int r = read_ack(fds[0], &h, ACK_TIMEOUT_MS);
			assert_true(r >= 0);
			if (r == 0)
				break;
			assert_true(!have_ack || h == last_ack + 1);
			last_ack = h;
			have_ack = 1;
		}
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
			    (WIFEXITED(status) && WEXITSTATUS(status) == 0));

		/* Restart. */
		struct fc_ledger *l;
		struct fc_ledger_verify_report rep;
		uint64_t applied;
		int rc = fc_ledger_open(dir, NULL, &l, msg);
		if (rc)
			fprintf(stderr, "reopen: %s\n", msg);
		assert_int_equal(rc, FC_OK);
		rc = fc_ledger_applied_height(l, &applied);
		if (have_ack) {
			assert_int_equal(rc, FC_OK);
			assert_true(applied >= last_ack);
			for (uint64_t x = 0; x <= last_ack; x++) {
				Flexchain__Block *b;
				assert_int_equal(fc_ledger_get_block(l, x, &b, msg), FC_OK);
				assert_int_equal(b->header->height, x);
				fc_wire_free(&b->base);
			}
		}
		rc = fc_ledger_verify(l, NULL, &rep, msg);
		if (rc)
			fprintf(stderr, "verify: %s\n", msg);
		assert_int_equal(rc, FC_OK);
		fprintf(stderr,
			"round %d: killed after %d acks, last acked %lld, applied %lld, %llu "
			"state keys\n",
			round, acks, have_ack ? (long long)last_ack : -1LL,
			rc == FC_OK && rep.blocks ? (long long)rep.blocks - 1 : -1LL,
			(unsigned long long)rep.state_keys);
		/* Later rounds continue from what survived. */
		if (rep.blocks) {
			last_ack = rep.blocks - 1;
			have_ack = 1;
		}
		fc_ledger_close(l);
	}
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill9_during_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
