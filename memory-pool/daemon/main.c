/* flexchain-memory --config FILE --id ID: one memory pool node. */
#include "fc_daemon.h"
#include "memd.h"

static const char usage[] =
    "Usage: flexchain-memory --config FILE --id ID [--log-level LEVEL]\n"
    "\n"
    "Runs memory node ID of the cluster described by FILE: the world state in\n"
    "one registered region (memory.region_mb), read one-sided by compute servers\n"
    "on its data_port; applies certified blocks sent by the orderer on its port,\n"
    "evicts cold entries to the storage pool and loads misses from it.\n"
    "\n"
    "When the node's metrics_port is set, serves GET /metrics (Prometheus text:\n"
    "fc_memory_applied_height, fc_memory_region_bytes, fc_memory_used_bytes,\n"
    "fc_memory_entries, fc_memory_evictions_total, loads, storage lookups,\n"
    "appends and their latency, one-sided operations served, process series)\n"
    "and GET /healthz (200 while serving; 503 while starting or stopping) on\n"
    "metrics.bind (default 127.0.0.1):metrics_port.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      cluster configuration (YAML)\n"
    "  -i, --id ID            this node's id (an entry of memory.nodes)\n"
    "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Stops gracefully on SIGTERM or SIGINT. Exit status: 0 after a clean stop,\n"
    "1 when start-up fails, 2 on bad usage.\n";

int main(int argc, char **argv)
{
	static const struct fc_daemon_cli cli = {.prog = "flexchain-memory", .usage = usage};

	return fc_daemon_main(&cli, argc, argv, FC_NODE_MEMORY, "memory node", memd_run);
}
