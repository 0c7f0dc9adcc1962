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

size_t fc_mempool__cluster_nodes(const struct fc_config *cfg)
{
	return cfg->memory.n_nodes;
}

void fc_mempool__cluster_node(const struct fc_config *cfg, size_t i, const char **id,
			      const char **host, uint16_t *port, uint16_t *data_port)
{
	const struct fc_config_node *n = &cfg->memory.nodes[i];

	*id = n->id;
	*host = n->host;
	*port = n->port;
	*data_port = n->data_port;
}

const char *fc_mempool__cluster_transport(const struct fc_config *cfg)
{
	return fc_config_transport_name(cfg->transport);
}

size_t fc_mempool__cluster_max_frame(const struct fc_config *cfg)
{
	return cfg->network.max_frame_bytes;
}
