/* Unit tests of common/config: the cluster YAML (fc_config.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"

static void data_path(char *buf, size_t cap, const char *rel)
{
	const char *d = getenv("FC_TEST_DATA");
	assert_non_null(d);
	int n = snprintf(buf, cap, "%s/%s", d, rel);
	assert_true(n > 0 && (size_t)n < cap);
}

/* deploy/local/cluster.yaml, from tests/unit/data. */
static void shipped_path(char *buf, size_t cap)
{
	data_path(buf, cap, "../../../deploy/local/cluster.yaml");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_shipped_local_cluster(void **state)
{
	(void)state;
	char path[PATH_MAX], err[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;

	shipped_path(path, sizeof path);
	int rc = fc_config_load(path, &cfg, err);
	if (rc != FC_OK)
		fail_msg("load %s: %s", path, err);
	assert_non_null(cfg);

	assert_string_equal(cfg->name, "local");
	assert_int_equal(cfg->transport, FC_TRANSPORT_AUTO);
	assert_true(cfg->path[0] == '/');
	assert_true(ends_with(cfg->path, "/deploy/local/cluster.yaml"));
	assert_true(cfg->crypto_dir[0] == '/');
	assert_true(ends_with(cfg->crypto_dir, "/deploy/local/crypto"));
	assert_null(strstr(cfg->crypto_dir, "/./"));

	assert_int_equal(cfg->n_orgs, 2);
	assert_string_equal(cfg->orgs[0].name, "Org1");
	assert_string_equal(cfg->orgs[1].name, "Org2");
	assert_true(ends_with(cfg->orgs[1].ca_cert, "/deploy/local/crypto/Org2/ca/ca.crt"));
	assert_true(ends_with(cfg->orgs[1].ca_key, "/deploy/local/crypto/Org2/ca/ca.key"));

	assert_int_equal(cfg->n_orderers, 3);
	assert_int_equal(cfg->storage.n_replicas, 1);
	assert_int_equal(cfg->storage.write_quorum, 1);
	assert_int_equal(cfg->memory.n_nodes, 1);
	assert_int_equal(cfg->n_compute, 4);
	assert_int_equal(cfg->n_nodes, 3 + 1 + 1 + 4);
	assert_ptr_equal(cfg->orderers, &cfg->nodes[0]);
	assert_ptr_equal(cfg->storage.replicas, &cfg->nodes[3]);
	assert_ptr_equal(cfg->memory.nodes, &cfg->nodes[4]);
	assert_ptr_equal(cfg->compute, &cfg->nodes[5]);

	size_t per_org[2] = {0, 0};
	for (size_t i = 0; i < cfg->n_compute; i++) {
		assert_int_equal(cfg->compute[i].kind, FC_NODE_COMPUTE);
		assert_int_equal(cfg->compute[i].index, i);
		per_org[cfg->compute[i].org_index]++;
	}
	assert_int_equal(per_org[0], 2);
	assert_int_equal(per_org[1], 2);

	/* Every node on loopback, every listening port distinct and in range. */
	uint16_t seen[64];
	size_t n_seen = 0;
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct fc_config_node *n = &cfg->nodes[i];
		assert_string_equal(n->host, "127.0.0.1");
		assert_string_equal(n->org, cfg->orgs[n->org_index].name);
		assert_true(n->metrics_port >= 9000 && n->metrics_port < 10000);
		uint16_t ports[] = {n->port, n->raft_port, n->data_port, n->metrics_port};
		for (size_t k = 0; k < 4; k++) {
			if (!ports[k])
				continue;
			assert_true(ports[k] >= 7000 && ports[k] < 10000);
			for (size_t j = 0; j < n_seen; j++)
				assert_int_not_equal(seen[j], ports[k]);
			assert_true(n_seen < 64);
			seen[n_seen++] = ports[k];
		}
		if (n->kind == FC_NODE_ORDERER || n->kind == FC_NODE_STORAGE) {
			char want[128];
			snprintf(want, sizeof want, "/tmp/flexchain-local/%s", n->id);
			assert_string_equal(n->data_dir, want);
		} else {
			assert_null(n->data_dir);
		}
		assert_true(n->cert[0] == '/' && ends_with(n->cert, "/cert.pem"));
		assert_true(n->key[0] == '/' && ends_with(n->key, "/key.pem"));
		assert_non_null(strstr(n->cert, n->id));
	}
	/* The certificate paths agree with the crypto module's layout. */
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct fc_config_node *n = &cfg->nodes[i];
		char cert[PATH_MAX], key[PATH_MAX];
		assert_int_equal(fc_identity_paths(cfg->crypto_dir, n->org,
						   fc_config_node_kind_name(n->kind), n->id, NULL,
						   cert, key, sizeof cert, NULL),
				 FC_OK);
		assert_string_equal(n->cert, cert);
		assert_string_equal(n->key, key);
	}
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		char cert[PATH_MAX], key[PATH_MAX];
		assert_int_equal(fc_identity_paths(cfg->crypto_dir, cfg->orgs[i].name, NULL, NULL,
						   NULL, cert, key, sizeof cert, NULL),
				 FC_OK);
		assert_string_equal(cfg->orgs[i].ca_cert, cert);
		assert_string_equal(cfg->orgs[i].ca_key, key);
	}
	for (size_t i = 0; i < cfg->n_orderers; i++)
		assert_true(cfg->orderers[i].raft_port != 0);
	assert_true(cfg->memory.nodes[0].data_port != 0);

	/* Policies: AND(Org1,Org2) for the four contracts. */
	const char *const both[] = {"Org1", "Org2"};
	const char *const one[] = {"Org1"};
	const char *contracts[] = {"smallbank", "kv", "asset", "ml", "unlisted"};
	for (size_t i = 0; i < 5; i++) {
		const struct fc_config_policy *p = fc_config_contract_policy(cfg, contracts[i]);
		assert_non_null(p);
		assert_true(fc_policy_satisfied(p->pol, both, 2));
		assert_false(fc_policy_satisfied(p->pol, one, 1));
	}
	assert_string_equal(fc_config_contract_policy(cfg, "kv")->rule, "AND(Org1,Org2)");

	/* Lookups. */
	const struct fc_config_node *n = fc_config_find_node(cfg, "memory0");
	assert_non_null(n);
	assert_int_equal(n->kind, FC_NODE_MEMORY);
	assert_ptr_equal(fc_config_find_node_kind(cfg, FC_NODE_MEMORY, "memory0"), n);
	assert_null(fc_config_find_node_kind(cfg, FC_NODE_COMPUTE, "memory0"));
	assert_null(fc_config_find_node(cfg, "nobody"));
	assert_null(fc_config_find_node(cfg, NULL));
	assert_ptr_equal(fc_config_find_org(cfg, "Org2"), &cfg->orgs[1]);
	assert_null(fc_config_find_org(cfg, "Org3"));
	assert_non_null(fc_config_find_policy(cfg, "both"));
	assert_null(fc_config_find_policy(cfg, "none"));
	assert_string_equal(fc_config_transport_name(cfg->transport), "auto");
	assert_string_equal(fc_config_node_kind_name(FC_NODE_STORAGE), "storage");
	assert_string_equal(fc_config_node_kind_name(FC_NODE_KIND__COUNT), "unknown");

	fc_config_free(cfg);
	fc_config_free(NULL);
}

static void test_defaults(void **state)
{
	(void)state;
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 64], err[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;

	data_path(path, sizeof path, "config/minimal.yaml");
	assert_non_null(realpath(getenv("FC_TEST_DATA"), dir));
	int rc = fc_config_load(path, &cfg, err);
	if (rc != FC_OK)
		fail_msg("%s", err);

	assert_string_equal(cfg->name, "minimal");
	assert_int_equal(cfg->transport, FC_TRANSPORT_AUTO);
	snprintf(want, sizeof want, "%s/config/crypto", dir);
	assert_string_equal(cfg->crypto_dir, want);
	snprintf(want, sizeof want, "%s/config/crypto/Org1/ca/ca.crt", dir);
	assert_string_equal(cfg->orgs[0].ca_cert, want);
	snprintf(want, sizeof want, "%s/config/crypto/Org1/ca/ca.key", dir);
	assert_string_equal(cfg->orgs[0].ca_key, want);
	snprintf(want, sizeof want, "%s/config/crypto/Org1/orderer/orderer0/cert.pem", dir);
	assert_string_equal(cfg->orderers[0].cert, want);

	const struct fc_config_node *o = &cfg->orderers[0];
	assert_string_equal(o->host, "127.0.0.1");
	assert_int_equal(o->metrics_port, 0);
	assert_int_equal(o->data_port, 0);
	snprintf(want, sizeof want, "%s/config/data/orderer0", dir);
	assert_string_equal(o->data_dir, want);

	assert_int_equal(cfg->storage.write_quorum, 1);
	assert_int_equal(cfg->memory.n_nodes, 0);
	assert_null(cfg->memory.nodes);
	assert_int_equal(cfg->n_compute, 0);
	assert_null(cfg->compute);
	assert_int_equal(cfg->memory.region_mb, 256);
	assert_true(cfg->memory.high_watermark > 0.899 && cfg->memory.high_watermark < 0.901);
	assert_true(cfg->memory.low_watermark > 0.749 && cfg->memory.low_watermark < 0.751);
	assert_int_equal(cfg->block_cutting.max_txs, 500);
	assert_int_equal(cfg->block_cutting.max_bytes, 4u << 20);
	assert_int_equal(cfg->block_cutting.timeout_ms, 200);
	assert_int_equal(cfg->validation.committee_size, 3);
	assert_int_equal(cfg->validation.timeout_ms, 2000);
	assert_true(cfg->validation.parallel);
	assert_int_equal(cfg->validation.threads, 0);
	assert_int_equal(cfg->network.max_frame_bytes, 16u << 20);
	assert_int_equal(cfg->network.heartbeat_ms, 500);
	assert_false(cfg->network.tls);
	assert_string_equal(cfg->metrics.bind, "127.0.0.1");

	/* No policy given: "default", a majority of all organisations. */
	assert_int_equal(cfg->n_policies, 1);
	assert_int_equal(cfg->n_contracts, 0);
	const struct fc_config_policy *p = fc_config_contract_policy(cfg, "anything");
	assert_string_equal(p->name, "default");
	assert_string_equal(p->rule, "OutOf(1,Org1)");
	assert_ptr_equal(fc_config_contract_policy(cfg, NULL), p);
	fc_config_free(cfg);
}

static void test_path_resolution(void **state)
{
	(void)state;
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 64], err[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;

	data_path(path, sizeof path, "config/paths.yaml");
	assert_non_null(realpath(getenv("FC_TEST_DATA"), dir));
	if (fc_config_load(path, &cfg, err) != FC_OK)
		fail_msg("%s", err);

	snprintf(want, sizeof want, "%s/config/keys", dir);
	assert_string_equal(cfg->crypto_dir, want);
	assert_string_equal(cfg->orgs[0].ca_cert, "/etc/flexchain/org1-ca.pem");
	snprintf(want, sizeof want, "%s/config/org2.key", dir);
	assert_string_equal(cfg->orgs[1].ca_key, want);
	snprintf(want, sizeof want, "%s/config/keys/Org2/ca/ca.crt", dir);
	assert_string_equal(cfg->orgs[1].ca_cert, want);
	assert_string_equal(cfg->orderers[0].data_dir, "/var/lib/fc/o0");
	snprintf(want, sizeof want, "%s/config/state/o1", dir);
	assert_string_equal(cfg->orderers[1].data_dir, want);
	/* Same port on another host is fine. */
	assert_string_equal(cfg->orderers[1].host, "10.0.0.2");
	assert_int_equal(cfg->orderers[1].port, 7050);
	/* Majority write quorum by default. */
	assert_int_equal(cfg->storage.write_quorum, 2);
	/* First policy is the default one. */
	assert_string_equal(fc_config_contract_policy(cfg, "other")->name, "any");
	assert_string_equal(fc_config_contract_policy(cfg, "kv")->name, "both");
	fc_config_free(cfg);

	/* From a buffer: relative paths against base_dir. */
	static const char yaml[] = "cluster: buf\ncrypto_dir: c\n"
				   "organisations: [{name: A}]\n"
				   "orderers: [{id: o, org: A, port: 1, raft_port: 2}]\n"
				   "storage: {replicas: [{id: s, org: A, port: 3, "
				   "data_dir: ../s}]}\n";
	assert_int_equal(fc_config_parse(yaml, strlen(yaml), "buf.yaml", "/srv/fc/", &cfg, err),
			 FC_OK);
	assert_string_equal(cfg->path, "buf.yaml");
	assert_string_equal(cfg->crypto_dir, "/srv/fc/c");
	assert_string_equal(cfg->storage.replicas[0].data_dir, "/srv/s");
	assert_string_equal(cfg->orderers[0].data_dir, "/srv/fc/data/o");
	fc_config_free(cfg);
}

/* ------------------------------------------------------------- errors */

#define HEAD "cluster: t\n"
#define ORGS "organisations:\n  - name: Org1\n  - name: Org2\n"
#define ORD                                                                                        \
	"orderers:\n  - {id: o0, org: Org1, port: 7050, raft_port: 7051}\n"                        \
	"  - {id: o1, org: Org2, port: 7060, raft_port: 7061}\n"
#define STO "storage:\n  replicas:\n    - {id: s0, org: Org1, port: 7150}\n"
#define BASE HEAD ORGS ORD STO

struct bad_case {
	const char *yaml;
	const char *field; /* the message must contain "cluster.yaml: <field>" */
	const char *what;  /* and this */
};

static const struct bad_case bad_cases[] = {
    {HEAD ORGS "orderers:\n  - {id: o0, org: Org1, port: 7050, raft_port: 7051}\n"
	       "  - {id: o1, org: Org1, port: 70000, raft_port: 7061}\n" STO,
     "orderers[1].port", "70000 is not a port (1-65535)"},
    {HEAD ORGS "orderers:\n  - {id: o0, org: Org1, port: -1, raft_port: 7051}\n" STO,
     "orderers[0].port", "-1 is not a port"},
    {HEAD ORGS "orderers:\n  - {id: o0, org: Org1, port: 0, raft_port: 7051}\n" STO,
     "orderers[0].port", "0 is not a port"},
    {BASE "compute:\n  - {id: c0, org: Org3, port: 7350}\n", "compute[0].org",
     "unknown organisation \"Org3\""},
    {BASE "compute:\n  - {id: c0, port: 7350}\n", "compute[0].org", "required"},
    {HEAD ORGS "orderers:\n  - {id: o0, org: Org1, port: 7050}\n" STO, "orderers[0].raft_port",
     "required"},
    {HEAD ORGS "orderers:\n  - {org: Org1, port: 7050, raft_port: 7051}\n" STO, "orderers[0].id",
     "required"},
    {HEAD ORGS "orderers:\n  - {id: ../x, org: Org1, port: 7050, raft_port: 7051}\n" STO,
     "orderers[0].id", "is not a node id"},
    {BASE "compute:\n  - {id: c0, org: Org1, port: 7350}\n  - {id: o1, org: Org2, port: 7351}\n",
     "compute[1].id", "duplicate node id \"o1\" (also orderers[1])"},
    {BASE "memory:\n  nodes:\n    - {id: m0, org: Org1, port: 7250, data_port: 7050}\n",
     "memory.nodes[0].data_port", "127.0.0.1:7050 already used by orderers[0].port"},
    {BASE "memory:\n  nodes:\n    - {id: m0, org: Org1, port: 7250}\n", "memory.nodes[0].data_port",
     "required"},
    {BASE "compute:\n  - {id: c0, org: Org1, port: 7350, metrics_port: 7350}\n",
     "compute[0].metrics_port", "already used by compute[0].port"},
    {HEAD ORGS ORD
     "storage:\n  write_quorum: 2\n  replicas:\n    - {id: s0, org: Org1, port: 7150}\n",
     "storage.write_quorum", "exceeds the number of storage replicas (1)"},
    {HEAD ORGS ORD
     "storage:\n  write_quorum: 0\n  replicas:\n    - {id: s0, org: Org1, port: 7150}\n",
     "storage.write_quorum", "must be at least 1"},
    {BASE "validation:\n  committee_size: 0\n", "validation.committee_size",
     "0 is below the minimum 1"},
    {BASE "validation:\n  threads: -3\n", "validation.threads", "below the minimum"},
    {BASE "memory:\n  high_watermark: 0.5\n  low_watermark: 0.8\n", "memory.low_watermark",
     "must be below memory.high_watermark"},
    {BASE "memory:\n  high_watermark: 1.5\n", "memory.high_watermark", "is not in (0, 1]"},
    {BASE "memory:\n  region_mb: 0\n", "memory.region_mb", "below the minimum"},
    {BASE "transport: infiniband\n", "transport", "unknown transport \"infiniband\""},
    {BASE "policies:\n  - {name: p, rule: \"AND(Org1,\"}\n", "policies[0].rule",
     "policy \"AND(Org1,\": at 9: expected organisation name"},
    {BASE "policies:\n  - {name: p, rule: \"OR(Org1, Org3)\"}\n", "policies[0].rule",
     "unknown organisation \"Org3\""},
    {BASE "policies:\n  - {name: p}\n", "policies[0].rule", "required"},
    {BASE "policies:\n  - {name: p, rule: Org1}\n  - {name: p, rule: Org2}\n", "policies[1].name",
     "duplicate policy \"p\""},
    {BASE "policies:\n  - {name: p, rule: Org1}\ncontracts:\n  - {name: kv, policy: q}\n",
     "contracts[0].policy", "unknown policy \"q\""},
    {BASE "contracts:\n  - {name: kv, policy: default}\n  - {name: kv, policy: default}\n",
     "contracts[1].name", "duplicate contract \"kv\""},
    {BASE "default_policy: nope\n", "default_policy", "unknown policy \"nope\""},
    {HEAD ORGS STO, "orderers", "at least one orderer is required"},
    {HEAD ORGS ORD "storage:\n  replicas: []\n", "storage.replicas",
     "at least one storage replica is required"},
    {HEAD ORGS ORD, "storage.replicas", "at least one storage replica is required"},
    {HEAD ORD STO, "organisations", "at least one organisation is required"},
    {ORGS ORD STO, "cluster", "required"},
    {HEAD "organisations:\n  - name: Org1\n  - name: Org1\n" ORD STO, "organisations[1].name",
     "duplicate organisation \"Org1\""},
    {HEAD "organisations:\n  - name: \"Org 1\"\n" ORD STO, "organisations[0].name",
     "is not an organisation name"},
    {BASE "block_cutting:\n  max_bytes: 33554432\n", "block_cutting.max_bytes",
     "exceeds network.max_frame_bytes"},
    {BASE "network:\n  heartbeat_ms: 0\n", "network.heartbeat_ms", "below the minimum"},
    {BASE "crypto_dir: \"\"\n", "crypto_dir", "is empty"},
    {BASE "compute:\n  - {id: c0, org: Org1, host: \"\", port: 7350}\n", "compute[0].host",
     "is empty"},
    /* libcyaml's own errors, wrapped with the file name. */
    {BASE "bogus: 1\n", "Unexpected key: bogus", ""},
    {BASE "compute:\n  - {id: c0, org: Org1, port: 7350, raft_port: 1}\n",
     "Unexpected key: raft_port", ""},
    {BASE "validation:\n  parallel: maybe\n", "validation.parallel", "\"maybe\" is not a boolean"},
    {BASE "network:\n  tls: [1]\n", "Expecting", "SEQUENCE"},
    {BASE "block_cutting:\n  max_txs: many\n", "Invalid INT value", "many"},
    {"just a string\n", "Expecting MAPPING", ""},
};

static void test_validation_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *bc = &bad_cases[i];
		char err[FC_ERRMSG_LEN] = "", want[256];
		struct fc_config *cfg = (struct fc_config *)&err; /* must be reset */
		int rc =
		    fc_config_parse(bc->yaml, strlen(bc->yaml), "cluster.yaml", "/tmp", &cfg, err);
		snprintf(want, sizeof want, "cluster.yaml: %s", bc->field);
		if (rc != FC_ECONFIG || !strstr(err, want) || !strstr(err, bc->what))
			fail_msg("case %zu: rc=%d msg=\"%s\", want \"%s\" and \"%s\"", i, rc, err,
				 want, bc->what);
		assert_null(cfg);
	}
	/* The base itself is fine. */
	struct fc_config *cfg = NULL;
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_config_parse(BASE, strlen(BASE), "cluster.yaml", NULL, &cfg, err),
			 FC_OK);
	fc_config_free(cfg);
}

static void test_file_errors(void **state)
{
	(void)state;
	char path[PATH_MAX], err[FC_ERRMSG_LEN] = "", want[PATH_MAX + 64];
	struct fc_config *cfg = NULL;

	data_path(path, sizeof path, "config/bad_port.yaml");
	assert_int_equal(fc_config_load(path, &cfg, err), FC_ECONFIG);
	snprintf(want, sizeof want, "%s: orderers[1].port: 70000 is not a port (1-65535)", path);
	assert_string_equal(err, want);
	assert_null(cfg);

	data_path(path, sizeof path, "config/no-such-file.yaml");
	assert_int_equal(fc_config_load(path, &cfg, err), FC_ENOTFOUND);
	assert_non_null(strstr(err, path));

	data_path(path, sizeof path, "config/empty.yaml");
	assert_int_equal(fc_config_load(path, &cfg, err), FC_ECONFIG);
	assert_non_null(strstr(err, "empty.yaml"));

	data_path(path, sizeof path, "config"); /* a directory */
	assert_int_not_equal(fc_config_load(path, &cfg, err), FC_OK);
	assert_null(cfg);

	assert_int_equal(fc_config_load(NULL, &cfg, err), FC_EINVAL);
	assert_int_equal(fc_config_load(path, NULL, err), FC_EINVAL);
	assert_int_equal(fc_config_parse(NULL, 0, "x", NULL, &cfg, NULL), FC_ECONFIG);
}

static void try_parse(const char *buf, size_t len)
{
	struct fc_config *cfg = NULL;
	char err[FC_ERRMSG_LEN] = "";
	int rc = fc_config_parse(buf, len, "g.yaml", "/tmp", &cfg, err);
	if (rc == FC_OK) {
		assert_non_null(cfg);
		fc_config_free(cfg);
	} else {
		assert_null(cfg);
		assert_true(strlen(err) > 0);
	}
}

static void test_garbage_does_not_crash(void **state)
{
	(void)state;
	static const char *const garbage[] = {
	    "",
	    " ",
	    "\n\n\n",
	    "---\n",
	    "---\n...\n---\n",
	    "::::",
	    "[",
	    "{",
	    "]]]]",
	    "- - - -",
	    "cluster: [1, 2",
	    "cluster: {a: b}",
	    "cluster: ~",
	    "cluster: t\norganisations: 7\n",
	    "cluster: t\norganisations: [1, 2]\n",
	    "cluster: t\norganisations: [{name: [x]}]\n",
	    "cluster: t\nstorage: []\n",
	    "cluster: t\ncluster: u\n",
	    "a: &x [1]\nb: *x\n",
	    "%YAML 9.9\n---\ncluster: t\n",
	    "!!binary AAAA",
	    "\t\tcluster:\t\n",
	    "cluster: \"unterminated\n",
	    "\xff\xfe\x00\x01",
	    "cluster: t\nvalidation: {committee_size: 99999999999999999999999}\n",
	    "cluster: t\nmemory: {high_watermark: .nan, low_watermark: .nan}\n",
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		try_parse(garbage[i], strlen(garbage[i]));
	try_parse("\0\0\0\0", 4);

	/* Deep nesting. */
	char deep[4096];
	memset(deep, '[', sizeof deep);
	try_parse(deep, sizeof deep);

	/* Deterministic pseudo-random bytes, biased towards YAML punctuation. */
	static const char alphabet[] = "{}[]:-,#&*!|>'\"%@` \n\tabcOrg1port0123456789";
	uint32_t x = 12345;
	char buf[256];
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)(round % (int)sizeof buf);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = round % 3 ? alphabet[(x >> 16) % (sizeof alphabet - 1)]
					   : (char)(x >> 16);
		}
		try_parse(buf, len);
	}

	/* Every prefix of the shipped file. */
	char path[PATH_MAX];
	shipped_path(path, sizeof path);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char whole[65536];
	size_t n = fread(whole, 1, sizeof whole, f);
	fclose(f);
	assert_true(n > 0 && n < sizeof whole);
	for (size_t len = 0; len <= n; len++)
		try_parse(whole, len);
}

static void test_fail_nth_allocation(void **state)
{
	(void)state;
	char path[PATH_MAX], err[FC_ERRMSG_LEN];
	struct fc_config *cfg = NULL;
	int rc = FC_ENOMEM;
	unsigned long nth;

	shipped_path(path, sizeof path);
	for (nth = 1; nth < 100000; nth++) {
		err[0] = '\0';
		fc_mem_fail_nth(nth);
		rc = fc_config_load(path, &cfg, err);
		fc_mem_fail_nth(0);
		if (rc == FC_OK)
			break;
		if (rc != FC_ENOMEM)
			fail_msg("allocation %lu: rc=%d %s", nth, rc, err);
		assert_null(cfg);
		assert_non_null(strstr(err, "out of memory"));
	}
	assert_int_equal(rc, FC_OK);
	assert_true(nth > 10);
	assert_int_equal(cfg->n_nodes, 9);
	fc_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_local_cluster),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_path_resolution),
	    cmocka_unit_test(test_validation_errors),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_garbage_does_not_crash),
	    cmocka_unit_test(test_fail_nth_allocation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
