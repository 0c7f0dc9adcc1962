/* Tests of fc_chaincfg.h: genesis from a YAML configuration, checks and
 * application of config transactions, two of them in one block through
 * fc_validate, allocation failures; the next config transaction from
 * changes, its signed envelope, folding decided blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_test_chain.h"
#include "fc_wire.h"

static struct fct_pki pki;
static char dir[64];
static struct fc_config *cfg;
static struct fc_chaincfg *gen;

static int group_setup(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "", path[128], yaml[2048];
	snprintf(dir, sizeof dir, "/tmp/fc-chaincfg-XXXXXX");
	if (!mkdtemp(dir) || fct_pki_init(&pki, err) != FC_OK)
		return -1;
	snprintf(path, sizeof path, "%s/org1.crt", dir);
	if (fc_crypto_cert_save_pem(pki.ca[FCT_ORG1], path, 0, err) != FC_OK)
		return -1;
	snprintf(path, sizeof path, "%s/org2.crt", dir);
	if (fc_crypto_cert_save_pem(pki.ca[FCT_ORG2], path, 0, err) != FC_OK)
		return -1;
	snprintf(
	    yaml, sizeof yaml,
	    "cluster: t\ncrypto_dir: %s\n"
	    "organisations:\n"
	    "  - {name: Org1, ca_cert: %s/org1.crt}\n"
	    "  - {name: Org2, ca_cert: %s/org2.crt}\n"
	    "policies:\n"
	    "  - {name: both, rule: \"AND(Org1,Org2)\"}\n"
	    "  - {name: any, rule: \"OR(Org1,Org2)\"}\n"
	    "default_policy: any\n"
	    "contracts:\n  - {name: smallbank, policy: both}\n"
	    "orderers:\n  - {id: orderer0, org: Org1, port: 17050, raft_port: 17060}\n"
	    "storage:\n  write_quorum: 1\n  replicas:\n"
	    "    - {id: storage0, org: Org1, port: 17100}\n"
	    "    - {id: storage1, org: Org2, port: 17101}\n"
	    "memory:\n  nodes:\n    - {id: memory0, org: Org1, port: 17200, data_port: 17201}\n",
	    dir, dir, dir);
	if (fc_config_parse(yaml, strlen(yaml), "t.yaml", dir, &cfg, err) != FC_OK) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	if (fc_chaincfg_genesis(cfg, &gen, err) != FC_OK) {
		fprintf(stderr, "genesis: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char path[128];
	fc_chaincfg_unref(gen);
	fc_config_free(cfg);
	fct_pki_destroy(&pki);
	snprintf(path, sizeof path, "%s/org1.crt", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/org2.crt", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* A config transaction with storage replicas, policies and a shard map the
 * test fills in (all empty = unchanged). */
struct ctx {
	Flexchain__ConfigTx tx;
	Flexchain__NodeAddr st[4], *stp[4], mem[4], *memp[4];
	Flexchain__ShardMap sm;
	Flexchain__PolicyDef pol[4], *polp[4];
	Flexchain__OrgDef org[4], *orgp[4];
};

static void ctx_init(struct ctx *c, uint64_t seq)
{
	memset(c, 0, sizeof *c);
	flexchain__config_tx__init(&c->tx);
	c->tx.sequence = seq;
	for (int i = 0; i < 4; i++) {
		flexchain__node_addr__init(&c->st[i]);
		flexchain__node_addr__init(&c->mem[i]);
		flexchain__policy_def__init(&c->pol[i]);
		flexchain__org_def__init(&c->org[i]);
		c->stp[i] = &c->st[i];
		c->memp[i] = &c->mem[i];
		c->polp[i] = &c->pol[i];
		c->orgp[i] = &c->org[i];
	}
	flexchain__shard_map__init(&c->sm);
	c->sm.memory_nodes = c->memp;
	c->tx.storage_replicas = c->stp;
	c->tx.policies = c->polp;
	c->tx.orgs = c->orgp;
}

static void ctx_storage(struct ctx *c, const char *id, uint32_t port)
{
	size_t i = c->tx.n_storage_replicas++;
	c->st[i].id = (char *)id;
	c->st[i].host = "127.0.0.1";
	c->st[i].port = port;
}

static void ctx_policy(struct ctx *c, const char *name, const char *rule)
{
	size_t i = c->tx.n_policies++;
	c->pol[i].name = (char *)name;
	c->pol[i].rule = (char *)rule;
}

static void ctx_org(struct ctx *c, const char *name, const fc_cert *ca)
{
	size_t i = c->tx.n_orgs++, len;
	const uint8_t *der = fc_crypto_cert_der(ca, &len);
	c->org[i].name = (char *)name;
	c->org[i].ca_cert = (ProtobufCBinaryData){len, (uint8_t *)der};
}

static void expect_refused(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx,
			   const char *what)
{
	char err[FC_ERRMSG_LEN] = "";
	struct fc_chaincfg *out = (struct fc_chaincfg *)1;
	assert_int_equal(fc_chaincfg_check(cur, tx, err), FC_ECONFIG);
	if (!strstr(err, what))
		fail_msg("message \"%s\" does not say \"%s\"", err, what);
	assert_int_equal(fc_chaincfg_apply(cur, tx, 5, &out, NULL), FC_ECONFIG);
	assert_null(out);
}

static void test_genesis(void **state)
{
	(void)state;
	const struct fc_config *v = fc_chaincfg_config(gen);
	assert_int_equal(fc_chaincfg_sequence(gen), 0);
	assert_int_equal(fc_chaincfg_from_height(gen), 0);
	assert_int_equal(fc_chaincfg_shard_version(gen), 0);
	assert_int_equal(v->n_orgs, 2);
	assert_int_equal(v->storage.n_replicas, 2);
	assert_int_equal(v->storage.write_quorum, 1);
	assert_int_equal(v->memory.n_nodes, 1);
	assert_string_equal(v->memory.nodes[0].id, "memory0");
	assert_int_equal(v->memory.nodes[0].data_port, 17201);
	assert_string_equal(v->storage.replicas[1].org, "Org2");
	assert_string_equal(v->name, "t");
	assert_int_equal(v->n_orderers, 1);
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(gen, "smallbank")),
			    "AND(Org1,Org2)");
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(gen, "other")), "OR(Org1,Org2)");
	const char *org = NULL;
	size_t len;
	const uint8_t *der = fc_crypto_cert_der(pki.client[FCT_ORG2].cert, &len);
	assert_int_equal(
	    fc_crypto_castore_verify_der(fc_chaincfg_castore(gen), der, len, NULL, &org, NULL),
	    FC_OK);
	assert_string_equal(org, "Org2");
	assert_non_null(fc_chaincfg_org_ca(gen, 1));
	assert_null(fc_chaincfg_org_ca(gen, 2));
}

static void test_apply_chain(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct ctx c;
	struct fc_chaincfg *c1 = NULL, *c2 = NULL, *c3 = NULL;

	/* seq 1: write quorum 2, all else unchanged */
	ctx_init(&c, 1);
	c.tx.storage_write_quorum = 2;
	assert_int_equal(fc_chaincfg_check(gen, &c.tx, err), FC_OK);
	assert_int_equal(fc_chaincfg_apply(gen, &c.tx, 8, &c1, err), FC_OK);
	assert_int_equal(fc_chaincfg_sequence(c1), 1);
	assert_int_equal(fc_chaincfg_from_height(c1), 8);
	assert_int_equal(fc_chaincfg_config(c1)->storage.write_quorum, 2);
	assert_int_equal(fc_chaincfg_config(gen)->storage.write_quorum, 1);
	assert_int_equal(fc_chaincfg_config(c1)->storage.n_replicas, 2);
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(c1, "smallbank")),
			    "AND(Org1,Org2)");
	/* the write quorum is not part of the replica set */
	assert_true(fc_chaincfg_same_storage(cfg, fc_chaincfg_config(c1)));
	assert_true(fc_chaincfg_same_storage(fc_chaincfg_config(gen), fc_chaincfg_config(c1)));

	/* seq 2: a third replica, a new shard map, policies replaced */
	ctx_init(&c, 2);
	ctx_storage(&c, "storage0", 17100);
	ctx_storage(&c, "storage1", 17101);
	ctx_storage(&c, "storage2", 17102);
	c.tx.shard_map = &c.sm;
	c.sm.version = 4;
	c.sm.n_memory_nodes = 2;
	c.mem[0] = c.st[0];
	c.mem[0].id = "memory0";
	c.mem[0].port = 17200;
	c.mem[1] = c.mem[0];
	c.mem[1].id = "memory1";
	c.mem[1].port = 17210;
	ctx_policy(&c, "both", "OutOf(2,Org1,Org2)");
	ctx_policy(&c, "any", "OR(Org1,Org2)");
	assert_int_equal(fc_chaincfg_apply(c1, &c.tx, 9, &c2, err), FC_OK);
	const struct fc_config *v = fc_chaincfg_config(c2);
	assert_int_equal(v->storage.n_replicas, 3);
	assert_int_equal(v->storage.write_quorum, 2);
	assert_string_equal(v->storage.replicas[2].id, "storage2");
	assert_null(v->storage.replicas[2].org);
	assert_string_equal(v->storage.replicas[0].org, "Org1");
	assert_int_equal(fc_chaincfg_shard_version(c2), 4);
	assert_int_equal(v->memory.n_nodes, 2);
	assert_int_equal(v->memory.nodes[0].data_port, 17201);
	assert_int_equal(v->memory.nodes[1].data_port, 0);
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(c2, "smallbank")),
			    "OutOf(2,Org1,Org2)");
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(c1, "smallbank")),
			    "AND(Org1,Org2)");

	/* seq 3: a third organisation (the rogue CA under another name) */
	ctx_init(&c, 3);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "Org2", pki.ca[FCT_ORG2]);
	ctx_org(&c, "Org3", pki.ca[FCT_ROGUE]);
	ctx_policy(&c, "both", "OutOf(2,Org1,Org2,Org3)");
	ctx_policy(&c, "any", "OR(Org1,Org2,Org3)");
	assert_int_equal(fc_chaincfg_apply(c2, &c.tx, 10, &c3, err), FC_OK);
	assert_int_equal(fc_chaincfg_config(c3)->n_orgs, 3);
	assert_null(fc_chaincfg_config(c3)->orgs[2].ca_cert);
	assert_non_null(fc_chaincfg_config(c3)->orgs[0].ca_cert); /* same CA: kept */
	assert_int_equal(fc_chaincfg_shard_version(c3), 4);
	assert_false(fc_chaincfg_same_storage(fc_chaincfg_config(c1), fc_chaincfg_config(c2)));
	assert_true(fc_chaincfg_same_storage(fc_chaincfg_config(c2), fc_chaincfg_config(c3)));

	/* snapshots outlive their predecessors */
	fc_chaincfg_unref(c1);
	fc_chaincfg_unref(c2);
	assert_int_equal(fc_chaincfg_config(c3)->storage.n_replicas, 3);
	struct fc_chaincfg *r = fc_chaincfg_ref(c3);
	assert_ptr_equal(r, c3);
	fc_chaincfg_unref(r);
	fc_chaincfg_unref(c3);
}

static void test_refusals(void **state)
{
	(void)state;
	struct ctx c;
	uint8_t junk[8] = {0x30, 0x03, 1, 2, 3, 4, 5, 6};

	ctx_init(&c, 0);
	expect_refused(gen, &c.tx, "sequence must be 1");
	ctx_init(&c, 2);
	expect_refused(gen, &c.tx, "sequence must be 1");

	ctx_init(&c, 1);
	ctx_policy(&c, "both", "AND(Org1,");
	ctx_policy(&c, "any", "OR(Org1,Org2)");
	expect_refused(gen, &c.tx, "policies[0] \"both\"");
	ctx_init(&c, 1);
	ctx_policy(&c, "both", "AND(Org1,Org9)");
	ctx_policy(&c, "any", "OR(Org1,Org2)");
	expect_refused(gen, &c.tx, "names unknown organisation Org9");
	ctx_init(&c, 1);
	ctx_policy(&c, "any", "OR(Org1,Org2)");
	expect_refused(gen, &c.tx, "contract smallbank uses policy both");
	ctx_init(&c, 1);
	ctx_policy(&c, "both", "OR(Org1,Org2)");
	expect_refused(gen, &c.tx, "default policy any is gone");
	ctx_init(&c, 1);
	ctx_policy(&c, "both", "OR(Org1,Org2)");
	ctx_policy(&c, "both", "OR(Org1,Org2)");
	expect_refused(gen, &c.tx, "duplicate policy both");

	/* dropping Org2 while policies name it */
	ctx_init(&c, 1);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	expect_refused(gen, &c.tx, "names unknown organisation Org2");
	ctx_init(&c, 1);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "Org2", pki.ca[FCT_ORG2]);
	c.org[1].ca_cert = (ProtobufCBinaryData){sizeof junk, junk};
	expect_refused(gen, &c.tx, "does not parse");
	ctx_init(&c, 1);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "Org2", pki.client[FCT_ORG2].cert);
	expect_refused(gen, &c.tx, "orgs[1] Org2: CA certificate");
	ctx_init(&c, 1);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "Org2", pki.ca[FCT_ORG1]);
	expect_refused(gen, &c.tx, "same CA as another organisation");
	ctx_init(&c, 1);
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "9bad", pki.ca[FCT_ORG2]);
	expect_refused(gen, &c.tx, "orgs[1]: bad name");

	ctx_init(&c, 1);
	c.tx.storage_write_quorum = 3;
	expect_refused(gen, &c.tx, "storage_write_quorum: 3 is not within 1..2");
	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 17100);
	c.tx.storage_write_quorum = 2;
	expect_refused(gen, &c.tx, "storage_write_quorum: 2");
	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 0);
	expect_refused(gen, &c.tx, "storage_replicas[0] storage0: 0 is not a port");
	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 70000);
	expect_refused(gen, &c.tx, "70000 is not a port");
	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 17100);
	ctx_storage(&c, "storage0", 17101);
	expect_refused(gen, &c.tx, "duplicate node id storage0");
	ctx_init(&c, 1);
	ctx_storage(&c, "../x", 17100);
	expect_refused(gen, &c.tx, "bad node id");
	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 17100);
	c.st[0].host = "";
	expect_refused(gen, &c.tx, "bad host");

	ctx_init(&c, 1);
	c.tx.shard_map = &c.sm;
	expect_refused(gen, &c.tx, "shard_map.version 0 is not greater than the current 0");
	ctx_init(&c, 1);
	c.tx.shard_map = &c.sm;
	c.sm.version = 1;
	c.sm.n_memory_nodes = 1;
	c.mem[0].id = "storage1";
	c.mem[0].host = "127.0.0.1";
	c.mem[0].port = 1;
	expect_refused(gen, &c.tx, "both a storage replica and a memory node");

	/* an empty shard map of a higher version is fine: no memory nodes */
	struct fc_chaincfg *out = NULL;
	ctx_init(&c, 1);
	c.tx.shard_map = &c.sm;
	c.sm.version = 1;
	assert_int_equal(fc_chaincfg_apply(gen, &c.tx, 1, &out, NULL), FC_OK);
	assert_int_equal(fc_chaincfg_config(out)->memory.n_nodes, 0);
	fc_chaincfg_unref(out);

	assert_int_equal(fc_chaincfg_check(NULL, &c.tx, NULL), FC_EINVAL);
	assert_int_equal(fc_chaincfg_check(gen, NULL, NULL), FC_EINVAL);
}

/* ------------------------------------------------- through fc_validate */

/* A block source (fc_chaincfg_rebuild.h) serving rep, which stays the
 * test's: for height `at` only (FC_ENOTFOUND elsewhere), or for any height
 * when `any`. */
struct one_src {
	Flexchain__BlockReply *rep;
	uint64_t at;
	int any;
};

static int one_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
		     char *errmsg)
{
	struct one_src *os = ud;

	(void)count;
	if (!os->any && from != os->at)
		return fc_errf(errmsg, FC_ENOTFOUND, "no block %llu", (unsigned long long)from);
	*out = os->rep;
	return FC_OK;
}

static void one_release(void *ud, Flexchain__BlockReply *br)
{
	(void)ud;
	(void)br;
}

struct vstate {
	struct fct_state st; /* first: fct_* state ops take the ud as this */
	struct fc_chaincfg *cc;
};

static int check_hook(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n,
		      const Flexchain__ConfigTx *c, char *why)
{
	return fc_chaincfg_check_after(((struct vstate *)ud)->cc, earlier, n, c, why);
}

static struct fct_env *config_env(struct ctx *c, uint64_t nonce_seq)
{
	char err[FC_ERRMSG_LEN] = "";
	struct fct_env *e = fct_env_new();
	fct_env_init(e, pki.client[FCT_ORG1].cert, "_config", nonce_seq);
	e->env.type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
	e->env.config = &c->tx;
	e->env.rwset = NULL;
	if (fct_env_sign_client(e, pki.client[FCT_ORG1].key, err) != FC_OK)
		fail_msg("sign: %s", err);
	return e;
}

/* Validates a block of config transactions with sequences seqs[0..n) and
 * returns their statuses in st. */
static void validate_seqs(const uint64_t *seqs, size_t n, uint8_t *st, struct fc_chaincfg **after)
{
	char err[FC_ERRMSG_LEN] = "";
	struct ctx c[4];
	struct fct_env *e[4];
	struct fct_block blk;
	struct vstate vs;
	uint8_t wsh[32];

	assert_int_equal(fct_state_init(&vs.st, 16, pki.pol), FC_OK);
	vs.cc = gen;
	for (size_t i = 0; i < n; i++) {
		ctx_init(&c[i], seqs[i]);
		c[i].tx.storage_write_quorum = (uint32_t)(i % 2 + 1);
		e[i] = config_env(&c[i], 100 + i);
	}
	assert_int_equal(fct_block_init(&blk, 3, e, n, err), FC_OK);
	struct fc_validate_opts o = {.castore = fc_chaincfg_castore(gen)};
	o.state = fct_state_ops(&vs.st);
	o.state.ud = &vs;
	o.state.check_config = check_hook;
	if (fc_validate_block(&o, &blk.b, st, wsh, err) != FC_OK)
		fail_msg("validate: %s", err);
	assert_int_equal(fc_chaincfg_block_changes(&blk.b, st),
			 (size_t)(st[0] == FLEXCHAIN__TX_STATUS__TX_VALID) +
			     (n > 1 && st[1] == FLEXCHAIN__TX_STATUS__TX_VALID));
	if (fc_chaincfg_apply_block(gen, &blk.b, st, after, err) != FC_OK)
		fail_msg("apply block: %s", err);
	fct_block_release(&blk);
	for (size_t i = 0; i < n; i++)
		free(e[i]);
	fct_state_destroy(&vs.st);
}

static void test_two_in_one_block(void **state)
{
	(void)state;
	uint8_t st[4];
	struct fc_chaincfg *after = NULL;

	validate_seqs((const uint64_t[]){1, 2}, 2, st, &after);
	assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(fc_chaincfg_sequence(after), 2);
	assert_int_equal(fc_chaincfg_from_height(after), 4);
	assert_int_equal(fc_chaincfg_config(after)->storage.write_quorum, 2);
	fc_chaincfg_unref(after);

	validate_seqs((const uint64_t[]){1, 1}, 2, st, &after);
	assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);
	assert_int_equal(fc_chaincfg_sequence(after), 1);
	fc_chaincfg_unref(after);

	validate_seqs((const uint64_t[]){2, 1}, 2, st, &after);
	assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);
	assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(fc_chaincfg_sequence(after), 1);
	assert_int_equal(fc_chaincfg_config(after)->storage.write_quorum, 2);
	fc_chaincfg_unref(after);

	/* a block whose certified verdict calls a refused config VALID */
	struct ctx c;
	ctx_init(&c, 7);
	struct fct_env *e = config_env(&c, 200);
	struct fct_block blk;
	char err[FC_ERRMSG_LEN] = "";
	uint8_t valid = FLEXCHAIN__TX_STATUS__TX_VALID;
	assert_int_equal(fct_block_init(&blk, 3, &e, 1, err), FC_OK);
	after = (struct fc_chaincfg *)1;
	assert_int_equal(fc_chaincfg_apply_block(gen, &blk.b, &valid, &after, err), FC_EMISMATCH);
	assert_null(after);
	assert_non_null(strstr(err, "sequence must be 1"));
	fct_block_release(&blk);
	free(e);
}

/* Every allocation of genesis and apply may fail: the call then fails with
 * FC_ENOMEM and leaves nothing behind (ASan builds check the leaks). */
static void test_fail_nth_allocation(void **state)
{
	(void)state;
	struct ctx c;
	unsigned long n;
	int done = 0, failed = 0;

	ctx_init(&c, 1);
	ctx_storage(&c, "storage0", 17100);
	ctx_storage(&c, "storage2", 17102);
	ctx_policy(&c, "both", "AND(Org1,Org2)");
	ctx_policy(&c, "any", "OR(Org1,Org2)");
	ctx_org(&c, "Org1", pki.ca[FCT_ORG1]);
	ctx_org(&c, "Org2", pki.ca[FCT_ORG2]);
	c.tx.shard_map = &c.sm;
	c.sm.version = 2;
	c.tx.storage_write_quorum = 2;
	for (n = 1; !done && n < 10000; n++) {
		char err[FC_ERRMSG_LEN] = "";
		struct fc_chaincfg *out = NULL;
		unsigned long c0 = fc_mem_count();
		fc_mem_fail_nth(n);
		int rc = fc_chaincfg_apply(gen, &c.tx, 2, &out, err);
		fc_mem_fail_nth(0);
		done = fc_mem_count() - c0 < n;
		if (rc == FC_OK) {
			assert_int_equal(fc_chaincfg_config(out)->storage.write_quorum, 2);
			assert_int_equal(fc_chaincfg_config(out)->storage.n_replicas, 2);
			fc_chaincfg_unref(out);
		} else {
			assert_false(done);
			assert_null(out);
			/* OpenSSL may fail on its own allocations through
			 * ours: a parse failure is then reported as such */
			assert_true(rc == FC_ENOMEM || rc == FC_ECONFIG);
			assert_true(strlen(err) > 0);
			failed++;
		}
	}
	assert_true(done);
	assert_true(failed > 10);

	done = 0;
	for (n = 1; !done && n < 10000; n++) {
		char err[FC_ERRMSG_LEN] = "";
		struct fc_chaincfg *out = NULL;
		unsigned long c0 = fc_mem_count();
		fc_mem_fail_nth(n);
		int rc = fc_chaincfg_genesis(cfg, &out, err);
		fc_mem_fail_nth(0);
		done = fc_mem_count() - c0 < n;
		if (rc == FC_OK) {
			assert_int_equal(fc_chaincfg_config(out)->n_orgs, 2);
			fc_chaincfg_unref(out);
		} else {
			assert_false(done);
			assert_null(out);
		}
	}
	assert_true(done);
}

/* ------------------------------------- next config and its envelope */

static Flexchain__ConfigTx *next_of(const struct fc_chaincfg *cur,
				    const struct fc_chaincfg_changes *ch)
{
	char err[FC_ERRMSG_LEN] = "";
	Flexchain__ConfigTx *tx = NULL;
	if (fc_chaincfg_next(cur, ch, &tx, err) != FC_OK)
		fail_msg("next: %s", err);
	return tx;
}

static void test_next(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "";
	struct fc_chaincfg_changes ch;
	Flexchain__ConfigTx *tx = (Flexchain__ConfigTx *)1;
	struct fc_chaincfg *c1 = NULL;

	/* the write quorum alone: everything else left empty */
	memset(&ch, 0, sizeof ch);
	ch.write_quorum = 2;
	tx = next_of(gen, &ch);
	assert_int_equal(tx->sequence, 1);
	assert_int_equal(tx->storage_write_quorum, 2);
	assert_int_equal(tx->n_storage_replicas, 0);
	assert_int_equal(tx->n_policies, 0);
	assert_int_equal(tx->n_orgs, 0);
	assert_null(tx->shard_map);
	assert_int_equal(fc_chaincfg_apply(gen, tx, 5, &c1, err), FC_OK);
	fc_chaincfg_tx_free(tx);

	/* on top of seq 1: replicas, memory nodes and policies */
	const struct fc_chaincfg_node add_st = {"storage2", "10.0.0.2", 17102, 0, 19102};
	const struct fc_chaincfg_node add_mem = {"memory1", "10.0.0.3", 17210, 17211, 19210};
	const char *rm_st[] = {"storage0"}, *rm_mem[] = {"memory0"};
	const char *pn[] = {"any", "org1"}, *pr[] = {"OR(Org2,Org1)", "AND(Org1)"};
	memset(&ch, 0, sizeof ch);
	ch.add_storage = &add_st;
	ch.n_add_storage = 1;
	ch.remove_storage = rm_st;
	ch.n_remove_storage = 1;
	ch.add_memory = &add_mem;
	ch.n_add_memory = 1;
	ch.remove_memory = rm_mem;
	ch.n_remove_memory = 1;
	ch.policy_names = pn;
	ch.policy_rules = pr;
	ch.n_policies = 2;
	tx = next_of(c1, &ch);
	assert_int_equal(tx->sequence, 2);
	assert_int_equal(tx->storage_write_quorum, 0);
	assert_int_equal(tx->n_storage_replicas, 2);
	assert_string_equal(tx->storage_replicas[0]->id, "storage1");
	assert_string_equal(tx->storage_replicas[1]->id, "storage2");
	assert_string_equal(tx->storage_replicas[1]->host, "10.0.0.2");
	assert_int_equal(tx->storage_replicas[1]->port, 17102);
	assert_int_equal(tx->storage_replicas[1]->metrics_port, 19102);
	assert_int_equal(tx->storage_replicas[0]->metrics_port, 0);
	assert_non_null(tx->shard_map);
	assert_int_equal(tx->shard_map->version, 1);
	assert_int_equal(tx->shard_map->n_memory_nodes, 1);
	assert_string_equal(tx->shard_map->memory_nodes[0]->id, "memory1");
	assert_int_equal(tx->shard_map->memory_nodes[0]->data_port, 17211);
	assert_int_equal(tx->shard_map->memory_nodes[0]->metrics_port, 19210);
	assert_int_equal(tx->n_policies, 3);
	assert_string_equal(tx->policies[0]->name, "both");
	assert_string_equal(tx->policies[0]->rule, "AND(Org1,Org2)");
	assert_string_equal(tx->policies[1]->rule, "OR(Org2,Org1)");
	assert_string_equal(tx->policies[2]->name, "org1");
	struct fc_chaincfg *c2 = NULL;
	assert_int_equal(fc_chaincfg_apply(c1, tx, 6, &c2, err), FC_OK);
	const struct fc_config *v = fc_chaincfg_config(c2);
	assert_int_equal(v->storage.n_replicas, 2);
	assert_int_equal(v->storage.write_quorum, 2);
	assert_int_equal(fc_chaincfg_shard_version(c2), 1);
	assert_string_equal(v->storage.replicas[1].id, "storage2");
	assert_int_equal(v->storage.replicas[1].metrics_port, 19102);
	assert_string_equal(v->memory.nodes[0].id, "memory1");
	assert_int_equal(v->memory.nodes[0].metrics_port, 19210);
	assert_string_equal(fc_policy_text(fc_chaincfg_policy_for(c2, "other")), "OR(Org2,Org1)");
	fc_chaincfg_tx_free(tx);

	/* the next transaction on top of c2 keeps the metrics ports in force */
	const char *rm_st2[] = {"storage1"};
	memset(&ch, 0, sizeof ch);
	ch.remove_storage = rm_st2;
	ch.n_remove_storage = 1;
	ch.write_quorum = 1;
	tx = next_of(c2, &ch);
	assert_int_equal(tx->n_storage_replicas, 1);
	assert_int_equal(tx->storage_replicas[0]->metrics_port, 19102);
	/* a metrics port beyond 65535 is refused */
	tx->storage_replicas[0]->metrics_port = 65536;
	assert_int_equal(fc_chaincfg_check(c2, tx, err), FC_ECONFIG);
	assert_non_null(strstr(err, "65536 is not a port"));
	fc_chaincfg_tx_free(tx);
	fc_chaincfg_unref(c2);

	/* made, but refused by the check: a rule naming an unknown org */
	const char *bn[] = {"any"}, *br[] = {"OR(Org1,Org9)"};
	memset(&ch, 0, sizeof ch);
	ch.policy_names = bn;
	ch.policy_rules = br;
	ch.n_policies = 1;
	tx = next_of(c1, &ch);
	assert_int_equal(fc_chaincfg_check(c1, tx, err), FC_ECONFIG);
	assert_non_null(strstr(err, "Org9"));
	fc_chaincfg_tx_free(tx);

	/* changes that do not apply */
	memset(&ch, 0, sizeof ch);
	tx = (Flexchain__ConfigTx *)1;
	assert_int_equal(fc_chaincfg_next(c1, &ch, &tx, err), FC_EINVAL);
	assert_null(tx);
	const char *rm_bad[] = {"storage7"};
	ch.remove_storage = rm_bad;
	ch.n_remove_storage = 1;
	assert_int_equal(fc_chaincfg_next(c1, &ch, &tx, err), FC_EINVAL);
	assert_non_null(strstr(err, "storage7"));
	const struct fc_chaincfg_node dup = {"storage1", "h", 1, 0, 0};
	memset(&ch, 0, sizeof ch);
	ch.add_storage = &dup;
	ch.n_add_storage = 1;
	assert_int_equal(fc_chaincfg_next(c1, &ch, &tx, err), FC_EINVAL);
	assert_non_null(strstr(err, "already there"));
	assert_int_equal(fc_chaincfg_next(NULL, &ch, &tx, err), FC_EINVAL);
	fc_chaincfg_tx_free(NULL);
	fc_chaincfg_unref(c1);
}

static void test_envelope(void **state)
{
	(void)state;
	char err[FC_ERRMSG_LEN] = "", txid[FC_TXID_HEX_LEN + 1] = "", id2[FC_TXID_HEX_LEN + 1];
	struct fc_chaincfg_changes ch;
	Flexchain__Envelope *env = NULL, *env2 = NULL;
	uint8_t digest[FC_HASH_LEN], st[2], wsh[32];
	const struct fct_id *cl = &pki.client[FCT_ORG2];

	memset(&ch, 0, sizeof ch);
	ch.write_quorum = 2;
	Flexchain__ConfigTx *tx = next_of(gen, &ch);
	assert_int_equal(fc_chaincfg_envelope(tx, cl->cert, cl->key, &env, txid, err), FC_OK);
	/* a well-formed TX_CONFIG carrying a copy of the config */
	assert_int_equal(fc_wire_check_envelope(env, err), FC_OK);
	assert_int_equal(env->type, FLEXCHAIN__TX_TYPE__TX_CONFIG);
	assert_non_null(env->config);
	assert_ptr_not_equal(env->config, tx);
	assert_int_equal(env->config->sequence, 1);
	assert_int_equal(env->config->storage_write_quorum, 2);
	assert_null(env->rwset);
	assert_int_equal(env->n_endorsements, 0);
	/* tx id from nonce + creator, creator = the client's certificate */
	size_t dlen;
	const uint8_t *der = fc_crypto_cert_der(cl->cert, &dlen);
	assert_int_equal(env->proposal->creator.len, dlen);
	assert_memory_equal(env->proposal->creator.data, der, dlen);
	assert_true(env->proposal->nonce.len >= 16);
	assert_int_equal(fc_canon_tx_id_of(env->proposal, id2), FC_OK);
	assert_string_equal(env->proposal->tx_id, id2);
	assert_string_equal(txid, id2);
	/* the client signature covers the config */
	assert_int_equal(fc_hash_client_sig(env, digest), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(cl->cert, digest, env->client_signature.data,
						 env->client_signature.len, err),
			 FC_OK);
	env->config->storage_write_quorum = 1;
	assert_int_equal(fc_hash_client_sig(env, digest), FC_OK);
	assert_int_equal(fc_crypto_verify_digest(cl->cert, digest, env->client_signature.data,
						 env->client_signature.len, NULL),
			 FC_EVERIFY);
	env->config->storage_write_quorum = 2;

	/* two envelopes of the same config: fresh nonces, distinct ids */
	assert_int_equal(fc_chaincfg_envelope(tx, cl->cert, cl->key, &env2, NULL, err), FC_OK);
	assert_string_not_equal(env->proposal->tx_id, env2->proposal->tx_id);

	/* a validator accepts the first and refuses the replay of seq 1 */
	struct vstate vs;
	struct fct_block blk;
	Flexchain__Envelope *envs[2] = {env, env2};
	assert_int_equal(fct_state_init(&vs.st, 16, pki.pol), FC_OK);
	vs.cc = gen;
	assert_int_equal(fct_block_init_raw(&blk, 4, envs, 2, err), FC_OK);
	struct fc_validate_opts o = {.castore = fc_chaincfg_castore(gen)};
	o.state = fct_state_ops(&vs.st);
	o.state.ud = &vs;
	o.state.check_config = check_hook;
	if (fc_validate_block(&o, &blk.b, st, wsh, err) != FC_OK)
		fail_msg("validate: %s", err);
	assert_int_equal(st[0], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(st[1], FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG);

	/* folding the decided block: seq 1 in force from height 5 */
	Flexchain__Verdict vd = FLEXCHAIN__VERDICT__INIT;
	Flexchain__Decision dec = FLEXCHAIN__DECISION__INIT, *decp = &dec;
	Flexchain__Block *bp = &blk.b;
	Flexchain__BlockReply rep = FLEXCHAIN__BLOCK_REPLY__INIT;
	struct fc_chaincfg *cc = fc_chaincfg_ref(gen);
	uint64_t next = 4;
	vd.tx_status = (ProtobufCBinaryData){2, st};
	dec.height = 4;
	dec.verdict = &vd;
	rep.n_blocks = rep.n_decisions = 1;
	rep.blocks = &bp;
	rep.decisions = &decp;
	struct one_src os = {.rep = &rep, .at = 4};
	const struct fc_chaincfg_source src = {
	    .fetch = one_fetch, .release = one_release, .ud = &os};
	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, 4, &src, err), FC_OK);
	assert_int_equal(next, 4); /* stops before `to` */
	assert_ptr_equal(cc, gen);
	/* block 4 folded, then no block 5: the source's error, block 4 kept */
	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, 10, &src, err), FC_ENOTFOUND);
	assert_int_equal(next, 5);
	assert_int_equal(fc_chaincfg_sequence(cc), 1);
	assert_int_equal(fc_chaincfg_from_height(cc), 5);
	assert_int_equal(fc_chaincfg_config(cc)->storage.write_quorum, 2);
	/* a reply that does not start at next */
	os.any = 1;
	assert_int_equal(fc_chaincfg_rebuild(&cc, &next, 10, &src, err), FC_EPROTO);
	assert_int_equal(next, 5);
	fc_chaincfg_unref(cc);
	fct_block_release(&blk);
	fct_state_destroy(&vs.st);

	/* the key must be the certificate's */
	Flexchain__Envelope *bad = (Flexchain__Envelope *)1;
	assert_int_equal(
	    fc_chaincfg_envelope(tx, cl->cert, pki.client[FCT_ORG1].key, &bad, NULL, err),
	    FC_EINVAL);
	assert_null(bad);
	assert_int_equal(fc_chaincfg_envelope(NULL, cl->cert, cl->key, &bad, NULL, err), FC_EINVAL);

	fc_wire_free(&env->base);
	fc_wire_free(&env2->base);

	/* every allocation may fail: FC_ENOMEM or another error, nothing
	 * left behind */
	int done = 0;
	for (unsigned long n = 1; !done && n < 10000; n++) {
		Flexchain__Envelope *e = NULL;
		unsigned long c0 = fc_mem_count();
		fc_mem_fail_nth(n);
		int rc = fc_chaincfg_envelope(tx, cl->cert, cl->key, &e, NULL, err);
		fc_mem_fail_nth(0);
		done = fc_mem_count() - c0 < n;
		if (rc == FC_OK) {
			assert_int_equal(e->config->sequence, 1);
			fc_wire_free(&e->base);
		} else {
			assert_false(done);
			assert_null(e);
		}
	}
	assert_true(done);
	fc_chaincfg_tx_free(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_genesis),
	    cmocka_unit_test(test_apply_chain),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_two_in_one_block),
	    cmocka_unit_test(test_fail_nth_allocation),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test(test_envelope),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
