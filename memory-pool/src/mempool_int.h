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

/* fc_mempool_hash of the concatenation a || b; alen must be a multiple of 8
 * (hash.c). */
uint64_t fc_mempool__hash2(const void *a, size_t alen, const void *b, size_t blen, uint64_t seed);

#endif
