/* The memory pool's view of a cluster config (see mempool_int.h for why this
 * is a file of its own). */
#include "fc_config.h"
#include "mempool_int.h"

void fc_mempool__cluster_fields(const struct fc_config *cfg, const struct fc_config_node *node,
				uint64_t *region_bytes, const char **kind, const char **host,
				uint16_t *port)
{
	*region_bytes = (uint64_t)cfg->memory.region_mb << 20;
	*kind = fc_config_transport_name(cfg->transport);
	if (node) {
		*host = node->host;
		*port = node->data_port;
	}
}
