/* fc_config.h - the cluster configuration (one YAML file per cluster).
 *
 * DESIGN.md "Membership and configuration": one YAML file names the
 * organisations, endorsement policies, orderers, storage replicas, memory
 * nodes, compute servers and the tunables. fc_config_load() reads it with
 * libcyaml, applies the defaults documented below, resolves every path and
 * validates the whole. A loaded configuration is immutable and may be read
 * from any number of threads.
 *
 * File format (every key shown; optional ones carry their default):
 *
 *   cluster: local                  # required, cluster name
 *   transport: auto                 # auto | rdma | tcp
 *   crypto_dir: ./crypto            # relative paths: against the YAML's dir
 *   organisations:                  # required, at least one
 *     - name: Org1                  # [A-Za-z_][A-Za-z0-9_.-]*, <= 64 chars
 *       ca_cert: <crypto_dir>/Org1/ca/ca.crt
 *       ca_key:  <crypto_dir>/Org1/ca/ca.key
 *   policies:                       # endorsement policies, see fc_policy.h
 *     - name: both
 *       rule: "AND(Org1,Org2)"
 *   default_policy: both            # default: the first policy
 *   contracts:                      # contract -> policy; others use default
 *     - name: smallbank
 *       policy: both
 *   orderers:                       # required, at least one
 *     - id: orderer0                # [A-Za-z0-9_.-]+, <= 64 chars, unique
 *       org: Org1                   # must name an organisation
 *       host: 127.0.0.1
 *       port: 7050                  # required, client port
 *       raft_port: 7060             # required
 *       metrics_port: 9050          # 0 / absent: no /metrics endpoint
 *       data_dir: <yaml dir>/data/orderer0
 *   storage:
 *     write_quorum: <majority>      # 1 <= write_quorum <= len(replicas)
 *     replicas:                     # required, at least one
 *       - {id, org, host, port, metrics_port, data_dir}   # as orderers
 *   memory:
 *     region_mb: 256                # registered region per memory node
 *     high_watermark: 0.90          # start evicting above this fill ratio
 *     low_watermark: 0.75           # evict down to this; 0 < low < high <= 1
 *     nodes:                        # may be empty
 *       - {id, org, host, port, data_port (required), metrics_port}
 *   compute:                        # may be empty (they join at run time)
 *     - {id, org, host, port, metrics_port}
 *   block_cutting:
 *     max_txs: 500
 *     max_bytes: 4194304            # 4 MiB
 *     timeout_ms: 200
 *   validation:
 *     committee_size: 3             # k >= 1
 *     timeout_ms: 2000              # then the storage pool validates (HyBE)
 *     parallel: true
 *     threads: 0                    # 0 = all cores
 *   network:
 *     max_frame_bytes: 16777216     # 16 MiB
 *     heartbeat_ms: 500
 *     tls: false                    # mutual TLS on the control plane
 *   metrics:
 *     bind: 127.0.0.1               # address the /metrics servers bind
 *
 * Booleans are true/false (also yes/no, on/off); anything else is an error.
 * block_cutting.max_bytes may not exceed network.max_frame_bytes. Lists hold
 * at most 1024 entries; the file at most 4 MiB; YAML aliases are refused.
 * The default CA and node certificate paths follow the identity layout of
 * fc_crypto.h (<crypto_dir>/<org>/ca/ca.crt, <crypto_dir>/<org>/<role>/<id>/
 * cert.pem with role = fc_config_node_kind_name()).
 * If no policy is given, one named "default" is made: OutOf(majority, every
 * organisation). host defaults to 127.0.0.1 for every node. Node ids are
 * unique across all kinds; every (host, port) pair a node listens on (port,
 * raft_port, data_port, metrics_port) is unique across the cluster.
 *
 * Errors: FC_ENOTFOUND when the file does not exist (the message names the
 * path), FC_ENOMEM, FC_EIO when it cannot be read, FC_ECONFIG for everything
 * else, with a message naming file, field and problem:
 *     "cluster.yaml: orderers[1].port: 70000 is not a port (1-65535)"
 */
#ifndef FC_CONFIG_H
#define FC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc_transport.h"

struct fc_policy; /* fc_policy.h */

#define FC_CONFIG_NAME_MAX 64 /* max length of org names and node ids */

/* `transport:` is an enum fc_transport_kind of fc_transport.h (one
 * definition, so a loaded value can go straight to fc_transport_open). */

enum fc_node_kind {
	FC_NODE_ORDERER = 0,
	FC_NODE_STORAGE,
	FC_NODE_MEMORY,
	FC_NODE_COMPUTE,
	FC_NODE_KIND__COUNT
};

struct fc_config_org {
	char *name;
	char *dir;     /* <crypto_dir>/<name>: the organisation's crypto tree */
	char *ca_cert; /* PEM; default <dir>/ca/ca.crt */
	char *ca_key;  /* PEM; default <dir>/ca/ca.key (only `crypto
			* generate` needs it) */
};

/* One daemon. Fields a kind does not have are 0 / NULL. */
struct fc_config_node {
	enum fc_node_kind kind;
	size_t index; /* position within its kind's array (orderers[index]) */
	char *id;
	char *org; /* == cfg->orgs[org_index].name */
	size_t org_index;
	char *host;	       /* default "127.0.0.1" */
	uint16_t port;	       /* control plane (clients, peers) */
	uint16_t raft_port;    /* orderers only */
	uint16_t data_port;    /* memory nodes only: data plane */
	uint16_t metrics_port; /* 0 = no /metrics, /healthz */
	char *data_dir;	       /* orderers and storage only; absolute;
				* default <yaml dir>/data/<id> */
	char *cert;	       /* <org dir>/<kind name>/<id>/cert.pem */
	char *key;	       /* <org dir>/<kind name>/<id>/key.pem */
};

struct fc_config_policy {
	char *name;
	char *rule;	       /* the text as written */
	struct fc_policy *pol; /* parsed; every org it names exists */
};

struct fc_config_contract {
	char *name;
	size_t policy_index; /* into cfg->policies */
};

struct fc_config {
	char *path; /* the file loaded, absolute (or the name given to
		     * fc_config_parse) */
	char *name; /* cluster name */
	enum fc_transport_kind transport;
	char *crypto_dir; /* absolute; default <yaml dir>/crypto */

	struct fc_config_org *orgs;
	size_t n_orgs;

	struct fc_config_policy *policies; /* n_policies >= 1 */
	size_t n_policies;
	size_t default_policy; /* index into policies */
	struct fc_config_contract *contracts;
	size_t n_contracts;

	/* Every node, grouped by kind in this order: orderers, storage
	 * replicas, memory nodes, compute servers. The per-kind pointers below
	 * point into this one array (NULL when the kind has none). Iterate
	 * nodes[0..n_nodes) to visit every daemon (e.g. to issue certs). */
	struct fc_config_node *nodes;
	size_t n_nodes;

	struct fc_config_node *orderers; /* n_orderers >= 1 */
	size_t n_orderers;

	struct {
		uint32_t write_quorum;		 /* default majority of replicas */
		struct fc_config_node *replicas; /* n_replicas >= 1 */
		size_t n_replicas;
	} storage;

	struct {
		uint32_t region_mb;    /* default 256, >= 1 */
		double high_watermark; /* default 0.90 */
		double low_watermark;  /* default 0.75 */
		struct fc_config_node *nodes;
		size_t n_nodes;
	} memory;

	struct fc_config_node *compute;
	size_t n_compute;

	struct {
		uint32_t max_txs;    /* default 500, >= 1 */
		uint64_t max_bytes;  /* default 4 MiB, >= 1 */
		uint32_t timeout_ms; /* default 200, >= 1 */
	} block_cutting;

	struct {
		uint32_t committee_size; /* default 3, >= 1 */
		uint32_t timeout_ms;	 /* default 2000, >= 1 */
		bool parallel;		 /* default true */
		uint32_t threads;	 /* default 0 = all cores */
	} validation;

	struct {
		uint64_t max_frame_bytes; /* default 16 MiB, >= 1 KiB */
		uint32_t heartbeat_ms;	  /* default 500, >= 1 */
		bool tls;		  /* default false */
	} network;

	struct {
		char *bind; /* default "127.0.0.1" */
	} metrics;
};

/* Loads, defaults, resolves and validates the YAML file at path. On success
 * *out is a new configuration the caller owns (free with fc_config_free); on
 * failure *out is NULL. Errors: see above. */
int fc_config_load(const char *path, struct fc_config **out, char *errmsg);

/* As fc_config_load, from a buffer (tests, config transactions). name is
 * used in messages and stored as cfg->path; relative paths are resolved
 * against base_dir (NULL = the current directory). yaml need not be
 * NUL-terminated. */
int fc_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
		    struct fc_config **out, char *errmsg);

/* Frees everything the configuration owns. NULL is a no-op. */
void fc_config_free(struct fc_config *cfg);

/* Frees the strings node n owns (id, org, host, data_dir, cert, key), not n
 * itself; for fc_config_free and for owners of nodes built outside it (the
 * snapshots of fc_chaincfg.h). */
void fc_config_node_free(struct fc_config_node *n);

/* Lookups. The result points into cfg (valid until fc_config_free) or is
 * NULL when there is no such entry. */
const struct fc_config_org *fc_config_find_org(const struct fc_config *cfg, const char *name);
/* By id across every kind. */
const struct fc_config_node *fc_config_find_node(const struct fc_config *cfg, const char *id);
/* By id and kind: NULL when the id exists but is of another kind. */
const struct fc_config_node *fc_config_find_node_kind(const struct fc_config *cfg,
						      enum fc_node_kind kind, const char *id);
const struct fc_config_policy *fc_config_find_policy(const struct fc_config *cfg, const char *name);
/* The policy that endorses `contract`: its own, or the default one. Never
 * NULL for a loaded configuration (contract may be NULL: the default). */
const struct fc_config_policy *fc_config_contract_policy(const struct fc_config *cfg,
							 const char *contract);

/* Static names, never NULL: "auto"/"rdma"/"tcp";
 * "orderer"/"storage"/"memory"/"compute" ("unknown" out of range). */
const char *fc_config_transport_name(enum fc_transport_kind t);
const char *fc_config_node_kind_name(enum fc_node_kind k);

#endif
