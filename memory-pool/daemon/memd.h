/* memd.h - internal to flexchain-memory (memory-pool/daemon).
 *
 * memd.c owns the region, the control plane and the operations endpoints
 * (fc_ops.h: the fc_memory_* metrics registry and, when the node's
 * metrics_port is set, the /metrics + /healthz server, stopped before the
 * region is unmapped since its callbacks read it); store.c is everything
 * the daemon asks of its configuration and of the storage pool. */
#ifndef FC_MEMD_H
#define FC_MEMD_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

struct fc_config;
struct fc_config_node;

/* What the daemon needs of its configuration; strings borrowed from cfg. */
struct memd_conf {
	const struct fc_config_node *node; /* this memory node */
	const char *id, *host;
	uint16_t port, data_port;
	double high_watermark, low_watermark;
	size_t max_frame;
	size_t n_nodes;	       /* memory.nodes: the shard map of version 0 */
	const char **node_ids; /* fc_malloc'd array (strings borrowed); memd_conf_free */
};
int memd_conf_get(const struct fc_config *cfg, const char *id, struct memd_conf *out, char *errmsg);
void memd_conf_free(struct memd_conf *c);

/* The storage pool as the daemon uses it: signature checks, heights, blocks,
 * state. One client (blocking), used from the loop thread only, for the
 * storage replicas of the chain configuration in force (memd_store_follow). */
struct memd_store;
int memd_store_open(const struct fc_config *cfg, struct memd_store **out, char *errmsg);
void memd_store_close(struct memd_store *s);
/* fc_wire_check_* and fc_storage_verify_certified of a LedgerAppend. */
int memd_store_verify(struct memd_store *s, const Flexchain__LedgerAppend *la, char *errmsg);
/* The highest applied height over the reachable replicas; *empty when every
 * reachable replica is empty. FC_EIO when none answers. */
int memd_store_height(struct memd_store *s, int *empty, uint64_t *height, char *errmsg);
/* Blocks from `from` with decisions, from a replica that has them
 * (fc_wire_free(&(*out)->base)). */
int memd_store_blocks(struct memd_store *s, uint64_t from, uint64_t count,
		      Flexchain__BlockReply **out, char *errmsg);
/* The state of keys from a replica whose applied height is >= min_height
 * (one StateQuery to the first such replica). */
int memd_store_state(struct memd_store *s, const ProtobufCBinaryData *keys, size_t n,
		     uint64_t min_height, Flexchain__StateReply **out, char *errmsg);

/* Folds the chain configuration through the decided blocks below `to`
 * (asked earlier and not done yet: retried) and, when the storage replicas
 * in force changed, reads from those from now on. Blocking; loop thread. */
int memd_store_follow(struct memd_store *s, uint64_t to, char *errmsg);

/* Runs the memory node `id` of cfg until SIGTERM/SIGINT (memd.c). */
int memd_run(const struct fc_config *cfg, const char *id, char *errmsg);

#endif
