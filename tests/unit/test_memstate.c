/* fc_memstate over two in-process memory nodes (tcp): routing by the shard
 * map, one-sided reads, definitive misses without loads, batched versions,
 * the applied height, and shard map switches. Loads (MemLoadRequest) need
 * the daemon and the storage pool: tests/integration/memory_daemon.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_config.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_mempool.h"
#include "fc_memstate.h"

#define NKEYS 200

static struct fc_mempool *g_mp[2];
static struct fc_config *g_cfg;

static void key_name(char *buf, unsigned k)
{
	snprintf(buf, 32, "acct-%05u", k);
}

static struct fc_mempool *test_memstate_node_up(void)
{
	struct fc_mempool_config c;
	struct fc_mempool *mp = NULL;
	char err[FC_ERRMSG_LEN] = "";

	fc_mempool_config_init(&c);
	c.region_bytes = 4u << 20;
	c.use_hugepages = 0;
	c.transport = FC_TRANSPORT_TCP;
	if (fc_mempool_create(&c, &mp, err) != FC_OK)
		fail_msg("mempool: %s", err);
	return mp;
}

static int setup(void **state)
{
	char yaml[2048], err[FC_ERRMSG_LEN] = "";

	(void)state;
	g_mp[0] = test_memstate_node_up();
	g_mp[1] = test_memstate_node_up();
	snprintf(yaml, sizeof yaml,
		 "cluster: t\ntransport: tcp\norganisations:\n  - name: Org1\n"
		 "orderers: [{id: o, org: Org1, port: 1, raft_port: 2}]\n"
		 "storage: {replicas: [{id: s, org: Org1, port: 3, data_dir: /tmp/x}]}\n"
		 "memory:\n  nodes:\n"
		 "    - {id: mem0, org: Org1, port: 4, data_port: %u}\n"
		 "    - {id: mem1, org: Org1, port: 5, data_port: %u}\n",
		 fc_mempool_port(g_mp[0]), fc_mempool_port(g_mp[1]));
	if (fc_config_parse(yaml, strlen(yaml), "t.yaml", "/tmp", &g_cfg, err) != FC_OK)
		fail_msg("config: %s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fc_config_free(g_cfg);
	fc_mempool_destroy(g_mp[0]);
	fc_mempool_destroy(g_mp[1]);
	return 0;
}

/* Block h writes every key to the node the map of ids routes it to (and,
 * with to_all, to both nodes). */
static void apply_keys(uint64_t h, int to_all)
{
	uint64_t nh[2] = {fc_mempool_node_hash("mem0"), fc_mempool_node_hash("mem1")};
	static char keys[NKEYS][32];
	static char vals[NKEYS][32];
	struct fc_mempool_write w[2][NKEYS];
	size_t n[2] = {0, 0};
	char err[FC_ERRMSG_LEN] = "";

	for (unsigned k = 0; k < NKEYS; k++) {
		size_t d =
		    fc_mempool_shard_pick(keys[k], (key_name(keys[k], k), strlen(keys[k])), nh, 2);

		snprintf(vals[k], sizeof vals[k], "v%llu-%u", (unsigned long long)h, k);
		for (size_t j = 0; j < 2; j++) {
			if (j != d && !to_all)
				continue;
			w[j][n[j]++] = (struct fc_mempool_write){
			    .key = keys[k],
			    .key_len = (uint32_t)strlen(keys[k]),
			    .value = vals[k],
			    .value_len = (uint32_t)strlen(vals[k]),
			    .version = fc_version_pack(h, k),
			};
		}
	}
	for (size_t j = 0; j < 2; j++)
		if (fc_mempool_apply(g_mp[j], h, w[j], n[j], err) != FC_OK)
			fail_msg("apply: %s", err);
}

static void check_all(struct fc_memstate *ms, uint64_t h)
{
	ProtobufCBinaryData keys[NKEYS];
	uint64_t vers[NKEYS];
	static char names[NKEYS][32];
	char err[FC_ERRMSG_LEN] = "", want[32];

	for (unsigned k = 0; k < NKEYS; k++) {
		uint8_t *val = NULL;
		size_t len = 0;
		uint64_t ver = 0;

		key_name(names[k], k);
		keys[k].data = (uint8_t *)names[k];
		keys[k].len = strlen(names[k]);
		assert_int_equal(
		    fc_memstate_get(ms, keys[k].data, keys[k].len, &val, &len, &ver, err), FC_OK);
		snprintf(want, sizeof want, "v%llu-%u", (unsigned long long)h, k);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(val, want, len);
		assert_int_equal(ver, fc_version_pack(h, k));
		fc_free(val);
	}
	assert_int_equal(fc_memstate_versions(ms, keys, NKEYS, vers, err), FC_OK);
	for (unsigned k = 0; k < NKEYS; k++)
		assert_int_equal(vers[k], fc_version_pack(h, k));
}

static void test_routing_and_misses(void **state)
{
	struct fc_memstate *ms = NULL;
	struct fc_memstate_stats st;
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *val = NULL;
	size_t len;
	uint64_t ver, h;
	ProtobufCBinaryData absent = {6, (uint8_t *)"nokey1"};

	(void)state;
	assert_int_equal(fc_memstate_open(g_cfg, &ms, err), FC_OK);
	/* no node has applied anything */
	assert_int_equal(fc_memstate_applied_height(ms, &h, err), FC_ENOTFOUND);
	apply_keys(1, 0);
	check_all(ms, 1);
	assert_int_equal(fc_memstate_applied_height(ms, &h, err), FC_OK);
	assert_int_equal(h, 1);
	/* complete nodes: a miss is definitive, no load */
	assert_int_equal(fc_memstate_get(ms, absent.data, absent.len, &val, &len, &ver, err),
			 FC_ENOTFOUND);
	assert_int_equal(fc_memstate_versions(ms, &absent, 1, &ver, err), FC_OK);
	assert_int_equal(ver, 0);
	fc_memstate_stats(ms, &st);
	assert_int_equal(st.loads, 0);
	assert_int_equal(st.gets, 2 * NKEYS + 2);
	assert_int_equal(st.found, 2 * NKEYS);
	/* the second read of every key hit a cache: one round trip */
	assert_true(st.cache_hits >= NKEYS);
	fc_memstate_close(ms);
}

static void test_shard_map_switch(void **state)
{
	struct fc_memstate *ms = NULL;
	Flexchain__ShardMap sm = FLEXCHAIN__SHARD_MAP__INIT;
	Flexchain__NodeAddr a = FLEXCHAIN__NODE_ADDR__INIT, b = FLEXCHAIN__NODE_ADDR__INIT;
	Flexchain__NodeAddr *one[1] = {&b}, *both[2] = {&a, &b};
	char err[FC_ERRMSG_LEN] = "";
	uint64_t h;

	(void)state;
	assert_int_equal(fc_memstate_open(g_cfg, &ms, err), FC_OK);
	apply_keys(2, 1); /* both nodes hold every key */
	a.id = "mem0";
	b.id = "mem1";
	b.port = 5;
	/* version 1: mem1 alone serves every key */
	sm.version = 1;
	sm.n_memory_nodes = 1;
	sm.memory_nodes = one;
	assert_int_equal(fc_memstate_set_shard_map(ms, &sm, err), FC_OK);
	check_all(ms, 2);
	assert_int_equal(fc_memstate_applied_height(ms, &h, err), FC_OK);
	/* an older map is ignored; an unknown node is refused */
	sm.version = 1;
	sm.n_memory_nodes = 2;
	sm.memory_nodes = both;
	assert_int_equal(fc_memstate_set_shard_map(ms, &sm, err), FC_OK);
	a.id = "mem9";
	sm.version = 2;
	assert_int_equal(fc_memstate_set_shard_map(ms, &sm, err), FC_ENOTFOUND);
	check_all(ms, 2);
	/* back to both */
	a.id = "mem0";
	sm.version = 3;
	assert_int_equal(fc_memstate_set_shard_map(ms, &sm, err), FC_OK);
	check_all(ms, 2);
	fc_memstate_close(ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routing_and_misses),
	    cmocka_unit_test(test_shard_map_switch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
