/* mempool_int.h - internal to memory-pool/src. */
#ifndef FC_MEMPOOL_INT_H
#define FC_MEMPOOL_INT_H

#include <stddef.h>
#include <stdint.h>

struct fc_config;
struct fc_config_node;

/* Reads the memory-pool fields of a cluster config (cluster.c): kept in a
 * file of its own because fc_config.h and fc_transport.h both declare enum
 * fc_transport_kind. *kind is the config's transport name ("auto", "tcp",
 * "rdma"); *host borrowed from cfg. node may be NULL. */
void fc_mempool__cluster_fields(const struct fc_config *cfg, const struct fc_config_node *node,
				uint64_t *region_bytes, const char **kind, const char **host,
				uint16_t *port);

/* Memory nodes of a cluster config (cluster.c), for code that cannot
 * include fc_config.h: count, then node i's fields (borrowed from cfg). */
size_t fc_mempool__cluster_nodes(const struct fc_config *cfg);
void fc_mempool__cluster_node(const struct fc_config *cfg, size_t i, const char **id,
			      const char **host, uint16_t *port, uint16_t *data_port);
/* "auto", "tcp" or "rdma". */
const char *fc_mempool__cluster_transport(const struct fc_config *cfg);
size_t fc_mempool__cluster_max_frame(const struct fc_config *cfg);

/* fc_mempool_hash of the concatenation a || b; alen must be a multiple of 8
 * (hash.c). */
uint64_t fc_mempool__hash2(const void *a, size_t alen, const void *b, size_t blen, uint64_t seed);

#endif
