/* flexchain-memory --config FILE --id ID: one memory pool node. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
#include "memd.h"

static const char usage[] =
    "Usage: flexchain-memory --config FILE --id ID [--log-level LEVEL]\n"
    "\n"
    "Runs memory node ID of the cluster described by FILE: the world state in\n"
    "one registered region (memory.region_mb), read one-sided by compute servers\n"
    "on its data_port; applies certified blocks sent by the orderer on its port,\n"
    "evicts cold entries to the storage pool and loads misses from it.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      cluster configuration (YAML)\n"
    "  -i, --id ID            this node's id (an entry of memory.nodes)\n"
    "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Stops gracefully on SIGTERM or SIGINT. Exit status: 0 after a clean stop,\n"
    "1 when start-up fails, 2 on bad usage.\n";

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "flexchain-memory: %s%s%s (see 'flexchain-memory --help')\n", msg,
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
		fprintf(stderr, "flexchain-memory: %s\n", errmsg);
		return 2;
	}
	if (!fc_config_find_node_kind(cfg, FC_NODE_MEMORY, id)) {
		fprintf(stderr, "flexchain-memory: %s: no memory node with id '%s'\n", cfg->path,
			id);
		fc_config_free(cfg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = memd_run(cfg, id, errmsg);
	fc_config_free(cfg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-memory: %s\n", errmsg);
		return 1;
	}
	return 0;
}
