/* flexchain-storage --config FILE --id ID: one storage pool replica. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
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

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "flexchain-storage: %s%s%s (see 'flexchain-storage --help')\n", msg,
		arg ? " " : "", arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"id", required_argument, NULL, 'i'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *id = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	enum fc_log_level lvl;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'l':
			if (fc_log_parse_level(optarg, &lvl) != FC_OK)
				return bad_usage("bad log level", optarg);
			fc_log_set_level(lvl);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			return bad_usage("missing value for", argv[optind - 1]);
		default:
			return bad_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument", argv[optind]);
	if (!config)
		return bad_usage("missing --config", NULL);
	if (!id)
		return bad_usage("missing --id", NULL);
	rc = fc_config_load(config, &cfg, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-storage: %s\n", errmsg);
		return 2;
	}
	if (!fc_config_find_node_kind(cfg, FC_NODE_STORAGE, id)) {
		fprintf(stderr, "flexchain-storage: %s: no storage replica with id '%s'\n",
			cfg->path, id);
		fc_config_free(cfg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = fc_stord_run(cfg, id, errmsg);
	fc_config_free(cfg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-storage: %s\n", errmsg);
		return 1;
	}
	return 0;
}
