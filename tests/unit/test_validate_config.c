/* fc_validate and config transactions: the check_config hook of
 * fc_validate_state_ops (TX_BAD_CONFIG, block order, earlier accepted ones
 * of the same block, errors that abort the block, NULL hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fc_test_chain.h"

#define H 9

static struct fct_pki pki;

static int group_setup(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN];
	return fct_pki_init(&pki, err) == FC_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	fct_pki_destroy(&pki);
	return 0;
}

/* A fake configuration: accepts sequence current+1 where current is `base`
 * plus the number of earlier accepted transactions; records the calls. */
struct hook {
	struct fct_state st; /* first: the fct_* ops take ud as this */
	uint64_t base;
	int fail_with; /* returned instead of judging, when set */
	size_t calls;
	size_t earlier[8]; /* n_earlier per call */
	uint64_t seen[8];  /* sequence per call */
};

static int hook_check(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n,
		      const Flexchain__ConfigTx *c, char *why)
{
	struct hook *h = ud;
	uint64_t cur = h->base;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(earlier[i]->sequence, cur + 1);
		cur++;
	}
	if (h->calls < 8) {
		h->earlier[h->calls] = n;
		h->seen[h->calls] = c->sequence;
	}
	h->calls++;
	if (h->fail_with)
		return fc_errf(why, h->fail_with, "configuration store unavailable");
	if (c->sequence != cur + 1)
		return fc_errf(why, FC_ECONFIG, "sequence must be %llu",
			       (unsigned long long)cur + 1);
	return FC_OK;
}

struct cfgtx {
	struct fct_env *e;
	Flexchain__ConfigTx tx;
};

static void cfgtx_init(struct cfgtx *c, uint64_t seq, uint64_t nonce)
{
	char err[FC_ERRMSG_LEN] = "";
	flexchain__config_tx__init(&c->tx);
	c->tx.sequence = seq;
	c->e = fct_env_new();
	fct_env_init(c->e, pki.client[FCT_ORG1].cert, "_config", nonce);
	c->e->env.type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
	c->e->env.config = &c->tx;
	c->e->env.rwset = NULL;
	if (fct_env_sign_client(c->e, pki.client[FCT_ORG1].key, err) != FC_OK)
		fail_msg("sign: %s", err);
}

static struct fct_env *normal_tx(uint64_t nonce, const char *key)
{
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e = fct_env_new();
	fct_env_init(e, pki.client[FCT_ORG1].cert, FCT_CONTRACT, nonce);
	fct_env_add_write(e, key, "v", false);
	if (fct_env_sign_std(e, &pki, FCT_ORG1, err) != FC_OK)
		fail_msg("sign: %s", err);
	return e;
}

/* Validates envs[0..n) with hook h (NULL: no hook); returns the rc. */
static int run(struct hook *h, struct fct_env **envs, size_t n, uint8_t *st, bool parallel,
	       char *err)
{
	struct fct_block blk;
	uint8_t wsh[32];
	struct fct_state plain;
	struct fc_validate_opts o = {.castore = pki.cs, .parallel = parallel};
	int rc;

	assert_int_equal(fct_block_init(&blk, H, envs, n, err), FC_OK);
	if (h) {
		assert_int_equal(fct_state_init(&h->st, 16, pki.pol), FC_OK);
		o.state = fct_state_ops(&h->st);
		o.state.ud = h;
		o.state.check_config = hook_check;
	} else {
		assert_int_equal(fct_state_init(&plain, 16, pki.pol), FC_OK);
		o.state = fct_state_ops(&plain);
	}
	rc = fc_validate_block(&o, &blk.b, st, wsh, err);
	if (h)
		fct_state_destroy(&h->st);
	else
		fct_state_destroy(&plain);
	fct_block_release(&blk);
	return rc;
}

static void test_block_order(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct cfgtx c[4];
	struct fct_env *envs[6];
	uint8_t st[6];
	/* normal, seq 1, seq 3 (refused), normal, seq 2, seq 2 (refused) */
	static const uint64_t seqs[4] = {1, 3, 2, 2};
	for (int i = 0; i < 4; i++)
		cfgtx_init(&c[i], seqs[i], 50 + (uint64_t)i);
	envs[0] = normal_tx(1, "a");
	envs[1] = c[0].e;
	envs[2] = c[1].e;
	envs[3] = normal_tx(2, "b");
	envs[4] = c[2].e;
	envs[5] = c[3].e;
	for (int par = 0; par < 2; par++) {
		struct hook h = {.base = 0};
		memset(st, 0xee, sizeof st);
		assert_int_equal(run(&h, envs, 6, st, par, err), FC_OK);
		assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_VALID);
		assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_VALID);
		assert_int_equal(st[2], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);
		assert_int_equal(st[3], FLEXCHAIN__TX_STATUS__TX_VALID);
		assert_int_equal(st[4], FLEXCHAIN__TX_STATUS__TX_VALID);
		assert_int_equal(st[5], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);
		assert_int_equal(h.calls, 4);
		/* in block order, each seeing the accepted ones before it */
		assert_int_equal(h.seen[0], 1);
		assert_int_equal(h.earlier[0], 0);
		assert_int_equal(h.seen[1], 3);
		assert_int_equal(h.earlier[1], 1);
		assert_int_equal(h.seen[2], 2);
		assert_int_equal(h.earlier[2], 1);
		assert_int_equal(h.seen[3], 2);
		assert_int_equal(h.earlier[3], 2);
	}
	/* without a hook, every signed config transaction is valid */
	memset(st, 0xee, sizeof st);
	assert_int_equal(run(NULL, envs, 6, st, false, err), FC_OK);
	for (int i = 0; i < 6; i++)
		assert_int_equal(st[i], FLEXCHAIN__TX_STATUS__TX_VALID);
	for (int i = 0; i < 4; i++)
		free(c[i].e);
	free(envs[0]);
	free(envs[3]);
}

/* The hook judges only what passed V1: a bad signature or a payload with
 * writes keeps its V1 status and is not shown to the hook. */
static void test_only_v1_valid_judged(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct cfgtx c[3];
	struct fct_env *envs[3];
	uint8_t st[3];
	struct hook h = {.base = 0};
	Flexchain__RWSet rw = FLEXCHAIN__RWSET__INIT;
	Flexchain__KVWrite w = FLEXCHAIN__KVWRITE__INIT, *wp = &w;

	cfgtx_init(&c[0], 1, 70);
	c[0].e->csig[5] ^= 1; /* forged client signature */
	cfgtx_init(&c[1], 1, 71);
	w.key = (ProtobufCBinaryData){1, (uint8_t *)"k"};
	rw.n_writes = 1;
	rw.writes = &wp;
	c[1].e->env.rwset = &rw;
	cfgtx_init(&c[2], 1, 72);
	for (int i = 0; i < 3; i++)
		envs[i] = c[i].e;
	assert_int_equal(run(&h, envs, 3, st, false, err), FC_OK);
	assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE);
	assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD);
	assert_int_equal(st[2], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.seen[0], 1);
	for (int i = 0; i < 3; i++)
		free(c[i].e);
}

/* A hook that cannot judge aborts the block: no statuses. */
static void test_hook_error_aborts(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct cfgtx c;
	struct fct_env *envs[2];
	uint8_t st[2] = {0xee, 0xee};
	struct hook h = {.base = 0, .fail_with = FC_ENOMEM};

	cfgtx_init(&c, 1, 80);
	envs[0] = normal_tx(3, "x");
	envs[1] = c.e;
	assert_int_equal(run(&h, envs, 2, st, false, err), FC_ENOMEM);
	assert_non_null(strstr(err, "config tx 1"));
	assert_non_null(strstr(err, "configuration store unavailable"));
	assert_int_equal(st[0], 0xee);
	assert_int_equal(st[1], 0xee);
	free(c.e);
	free(envs[0]);
}

/* Allocation failures around the hook never change a status. */
static void test_fail_nth_allocation(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct cfgtx c[3];
	struct fct_env *envs[3];
	uint8_t st[3], want[3];
	unsigned long n;
	int done = 0;

	for (int i = 0; i < 3; i++) {
		cfgtx_init(&c[i], (uint64_t)i % 2 + 1, 90 + (uint64_t)i);
		envs[i] = c[i].e;
	}
	struct hook h0 = {.base = 0};
	assert_int_equal(run(&h0, envs, 3, want, false, err), FC_OK);
	assert_int_equal(want[2], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);
	for (n = 1; !done && n < 10000; n++) {
		struct hook h = {.base = 0};
		struct fct_block blk;
		uint8_t wsh[32];
		struct fc_validate_opts o = {.castore = pki.cs};
		assert_int_equal(fct_block_init(&blk, H, envs, 3, err), FC_OK);
		assert_int_equal(fct_state_init(&h.st, 16, pki.pol), FC_OK);
		o.state = fct_state_ops(&h.st);
		o.state.ud = &h;
		o.state.check_config = hook_check;
		memset(st, 0xee, sizeof st);
		unsigned long c0 = fc_mem_count();
		fc_mem_fail_nth(n);
		int rc = fc_validate_block(&o, &blk.b, st, wsh, err);
		fc_mem_fail_nth(0);
		done = fc_mem_count() - c0 < n;
		if (rc == FC_OK)
			assert_memory_equal(st, want, 3);
		else
			for (int i = 0; i < 3; i++)
				assert_int_equal(st[i], 0xee);
		fct_state_destroy(&h.st);
		fct_block_release(&blk);
	}
	assert_true(done);
	for (int i = 0; i < 3; i++)
		free(c[i].e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_order),
	    cmocka_unit_test(test_only_v1_valid_judged),
	    cmocka_unit_test(test_hook_error_aborts),
	    cmocka_unit_test(test_fail_nth_allocation),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
