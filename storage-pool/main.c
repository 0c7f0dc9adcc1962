/* flexchain-storage --config FILE --id ID: one storage pool replica. */
#include "fc_daemon.h"
#include "stord.h"

static const char usage[] =
    "Usage: flexchain-storage --config FILE --id ID [--log-level LEVEL]\n"
    "\n"
    "Runs storage replica ID of the cluster described by FILE: the durable\n"
    "ledger and world state (RocksDB in the replica's data_dir), served on its\n"
    "port; validates blocks itself when asked (HyBE fallback).\n"
    "With a metrics_port, serves GET /metrics (Prometheus text) and /healthz\n"
    "over HTTP on metrics.bind (default 127.0.0.1); /healthz answers 200 once\n"
    "the ledger is open and the replica serves, 503 before and while stopping.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      cluster configuration (YAML)\n"
    "  -i, --id ID            this replica's id (an entry of storage.replicas)\n"
    "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Stops gracefully on SIGTERM or SIGINT. Exit status: 0 after a clean stop,\n"
    "1 when start-up fails, 2 on bad usage.\n";

int main(int argc, char **argv)
{
	static const struct fc_daemon_cli cli = {.prog = "flexchain-storage", .usage = usage};

	return fc_daemon_main(&cli, argc, argv, FC_NODE_STORAGE, "storage replica", fc_stord_run);
}
