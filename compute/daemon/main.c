/* flexchain-compute --config FILE --id ID: one compute server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "computed.h"
#include "fc_daemon.h"

static const char usage[] =
    "Usage: flexchain-compute --config FILE --id ID [--org ORG --host HOST --port PORT]\n"
    "                         [--metrics-port PORT] [--log-level LEVEL]\n"
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
    "  -m, --metrics-port PORT\n"
    "                         its /metrics and /healthz port (default: the node's\n"
    "                         metrics_port in the file; 0 = none)\n"
    "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
    "  -h, --help             show this help\n"
    "\n"
    "On SIGTERM or SIGINT it stops taking gateway requests, finishes those it\n"
    "holds and the blocks it is validating, deregisters and exits. Exit status:\n"
    "0 after a clean stop, 1 when start-up fails, 2 on bad usage.\n";

/* --org, --host, --port, --metrics-port: for a server that joins at run time */
struct extra {
	const char *org, *host, *port, *metrics_port;
};

static int on_extra(void *ud, int val, const char *arg)
{
	struct extra *x = ud;

	if (val == 'o')
		x->org = arg;
	else if (val == 'H')
		x->host = arg;
	else if (val == 'm')
		x->metrics_port = arg;
	else
		x->port = arg;
	return FC_DAEMON_RUN;
}

int main(int argc, char **argv)
{
	static const struct option extra_opts[] = {
	    {"org", required_argument, NULL, 'o'},
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"metrics-port", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	struct extra x = {NULL, NULL, NULL, NULL};
	const struct fc_daemon_cli cli = {.prog = "flexchain-compute",
					  .usage = usage,
					  .extra = extra_opts,
					  .extra_short = "o:H:p:m:",
					  .on_extra = on_extra,
					  .ud = &x};
	struct fc_daemon_args args;
	const char *id, *org, *host, *port;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	const struct fc_config_node *n;
	struct cd_self self;
	long metrics_port = -1; /* -1: the node's, from the file */
	int rc;

	rc = fc_daemon_parse(&cli, argc, argv, &args);
	if (rc != FC_DAEMON_RUN)
		return rc;
	id = args.id;
	org = x.org;
	host = x.host;
	port = x.port;
	if (strlen(id) > FC_CONFIG_NAME_MAX || (org && strlen(org) > FC_CONFIG_NAME_MAX) ||
	    (host && strlen(host) >= sizeof self.host))
		return fc_daemon_bad_usage(&cli, "name too long:", id);
	if (x.metrics_port) {
		char *end = NULL;
		unsigned long mp = strtoul(x.metrics_port, &end, 10);
		if (!*x.metrics_port || !end || *end || mp > 65535)
			return fc_daemon_bad_usage(&cli,
						   "bad --metrics-port (0-65535):", x.metrics_port);
		metrics_port = (long)mp;
	}
	if (fc_daemon_load(&cli, &args, FC_NODE_COMPUTE, NULL, &cfg) != FC_OK)
		return 2;
	memset(&self, 0, sizeof self);
	snprintf(self.id, sizeof self.id, "%s", id);
	n = fc_config_find_node_kind(cfg, FC_NODE_COMPUTE, id);
	if (n) {
		snprintf(self.org, sizeof self.org, "%s", n->org);
		snprintf(self.host, sizeof self.host, "%s", host ? host : n->host);
		self.port = n->port;
		self.metrics_port = n->metrics_port;
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
	if (metrics_port >= 0)
		self.metrics_port = (uint16_t)metrics_port;
	signal(SIGPIPE, SIG_IGN);
	rc = cd_run(cfg, &self, errmsg);
	fc_config_free(cfg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-compute: %s\n", errmsg);
		return 1;
	}
	return 0;
}
