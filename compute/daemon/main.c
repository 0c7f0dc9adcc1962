/* flexchain-compute --config FILE --id ID: one compute server. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "computed.h"
#include "fc_log.h"

static const char usage[] =
    "Usage: flexchain-compute --config FILE --id ID [--org ORG --host HOST --port PORT]\n"
    "                         [--log-level LEVEL]\n"
    "\n"
    "Runs compute server ID of the cluster described by FILE: a stateless client\n"
    "gateway (submit, evaluate, status), endorser and validation committee member.\n"
    "Keeps nothing on disk. An ID that is not in the file joins at run time with\n"
    "--org, --host and --port; its certificate must exist in the crypto tree\n"
    "(<crypto_dir>/<org>/compute/<id>/).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      cluster configuration (YAML)\n"
    "  -i, --id ID            this server's id\n"
    "  -o, --org ORG          its organisation (ids not in the file)\n"
    "  -H, --host HOST        address it listens on (default 127.0.0.1)\n"
    "  -p, --port PORT        its control port (ids not in the file)\n"
    "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help             show this help\n"
    "\n"
    "On SIGTERM or SIGINT it stops taking gateway requests, finishes those it\n"
    "holds and the blocks it is validating, deregisters and exits. Exit status:\n"
    "0 after a clean stop, 1 when start-up fails, 2 on bad usage.\n";

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "flexchain-compute: %s%s%s (see 'flexchain-compute --help')\n", msg,
		arg ? " " : "", arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"id", required_argument, NULL, 'i'},
	    {"org", required_argument, NULL, 'o'},    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},   {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *id = NULL, *org = NULL, *host = NULL, *port = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	const struct fc_config_node *n;
	struct cd_self self;
	enum fc_log_level lvl;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:o:H:p:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = optarg;
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
	if (strlen(id) > FC_CONFIG_NAME_MAX || (org && strlen(org) > FC_CONFIG_NAME_MAX) ||
	    (host && strlen(host) >= sizeof self.host))
		return bad_usage("name too long:", id);
	rc = fc_config_load(config, &cfg, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-compute: %s\n", errmsg);
		return 2;
	}
	memset(&self, 0, sizeof self);
	snprintf(self.id, sizeof self.id, "%s", id);
	n = fc_config_find_node_kind(cfg, FC_NODE_COMPUTE, id);
	if (n) {
		snprintf(self.org, sizeof self.org, "%s", n->org);
		snprintf(self.host, sizeof self.host, "%s", host ? host : n->host);
		self.port = n->port;
	} else if (fc_config_find_node(cfg, id)) {
		fprintf(stderr, "flexchain-compute: %s: '%s' is not a compute server\n", cfg->path,
			id);
		fc_config_free(cfg);
		return 2;
	} else {
		char *end = NULL;
		unsigned long p = port ? strtoul(port, &end, 10) : 0;
		if (!org || !port || !end || *end || p == 0 || p > 65535) {
			fprintf(stderr,
				"flexchain-compute: %s: no compute server '%s'; a server joining "
				"at run time needs --org and --port (1-65535)\n",
				cfg->path, id);
			fc_config_free(cfg);
			return 2;
		}
		if (!fc_config_find_org(cfg, org)) {
			fprintf(stderr, "flexchain-compute: %s: no organisation '%s'\n", cfg->path,
				org);
			fc_config_free(cfg);
			return 2;
		}
		snprintf(self.org, sizeof self.org, "%s", org);
		snprintf(self.host, sizeof self.host, "%s", host ? host : "127.0.0.1");
		self.port = (uint16_t)p;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = cd_run(cfg, &self, errmsg);
	fc_config_free(cfg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-compute: %s\n", errmsg);
		return 1;
	}
	return 0;
}
