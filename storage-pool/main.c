/* flexchain-storage --config FILE --id ID: one storage pool replica. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fc_daemon.h"
#include "fc_err.h"
#include "stord.h"

static const char usage[] =
    "Usage: flexchain-storage --config FILE --id ID [--log-level LEVEL]\n"
    "       flexchain-storage --config FILE --id ID --port PORT [--host HOST]\n"
    "                         [--metrics-port PORT] [--data-dir DIR] [--org ORG]\n"
    "                         [--log-level LEVEL]\n"
    "\n"
    "Runs storage replica ID of the cluster described by FILE: the durable\n"
    "ledger and world state (RocksDB in the replica's data_dir), served on its\n"
    "port; validates blocks itself when asked (HyBE fallback).\n"
    "With a metrics_port, serves GET /metrics (Prometheus text) and /healthz\n"
    "over HTTP on metrics.bind (default 127.0.0.1); /healthz answers 200 once\n"
    "the ledger is open and the replica serves, 503 before and while stopping.\n"
    "\n"
    "An ID that is not in the file joins at run time with --port (and --host,\n"
    "--metrics-port, --data-dir, --org): it first catches up the whole ledger\n"
    "and state from the replicas of the file, then reports ready. It receives\n"
    "blocks once `flexchain config update --add-storage ID:HOST:PORT` is VALID;\n"
    "take it out with `flexchain config update --remove-storage ID`, then stop\n"
    "it. Its certificate must exist in the crypto tree\n"
    "(<crypto_dir>/<org>/storage/<id>/, see `flexchain crypto issue`).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE        cluster configuration (YAML)\n"
    "  -i, --id ID              this replica's id (an entry of storage.replicas,\n"
    "                           or a new id that joins)\n"
    "  -p, --port PORT          control port of a joining replica\n"
    "  -H, --host HOST          address it listens on (default 127.0.0.1)\n"
    "  -m, --metrics-port PORT  its /metrics and /healthz port (default none)\n"
    "  -d, --data-dir DIR       its ledger (default <FILE's dir>/data/<ID>)\n"
    "  -o, --org ORG            its organisation (default that of the file's\n"
    "                           first storage replica)\n"
    "  -l, --log-level LEVEL    debug, info, warn or error (default info)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Stops gracefully on SIGTERM or SIGINT. Exit status: 0 after a clean stop,\n"
    "1 when start-up fails (a joining replica: also when no replica of the\n"
    "file answers or the catch-up fails), 2 on bad usage.\n";

#define PROG "flexchain-storage"

/* the options of a replica joining at run time */
struct extra {
	const char *host, *port, *metrics_port, *data_dir, *org;
};

static int on_extra(void *ud, int val, const char *arg)
{
	struct extra *x = ud;

	switch (val) {
	case 'H':
		x->host = arg;
		break;
	case 'p':
		x->port = arg;
		break;
	case 'm':
		x->metrics_port = arg;
		break;
	case 'd':
		x->data_dir = arg;
		break;
	default:
		x->org = arg;
		break;
	}
	return FC_DAEMON_RUN;
}

/* "1".."65535" -> *out; 0 when it is not a port. */
static int parse_port(const char *s, uint16_t *out)
{
	char *end = NULL;
	unsigned long p;

	if (!s || !*s)
		return 0;
	p = strtoul(s, &end, 10);
	if (*end || p == 0 || p > 65535)
		return 0;
	*out = (uint16_t)p;
	return 1;
}

/* Runs a replica that is not in the file; returns the exit status. */
static int run_join(const struct fc_daemon_cli *cli, const struct fc_config *cfg, const char *id,
		    const struct extra *x)
{
	char dir[PATH_MAX], cwd[PATH_MAX], errmsg[FC_ERRMSG_LEN] = "";
	struct fc_stord_join j;
	const char *slash;
	int n, rc;

	memset(&j, 0, sizeof j);
	j.id = id;
	if (!x->port) {
		fprintf(stderr,
			PROG ": %s: no storage replica '%s'; a replica joining at run time "
			     "needs --port (see '" PROG " --help')\n",
			cfg->path, id);
		return 2;
	}
	if (!parse_port(x->port, &j.port))
		return fc_daemon_bad_usage(cli, "--port must be 1-65535, not", x->port);
	if (x->metrics_port && !parse_port(x->metrics_port, &j.metrics_port))
		return fc_daemon_bad_usage(cli, "--metrics-port must be 1-65535, not",
					   x->metrics_port);
	if (j.metrics_port == j.port)
		return fc_daemon_bad_usage(cli, "--metrics-port must differ from --port", NULL);
	j.host = x->host ? x->host : "127.0.0.1";
	if (!*j.host)
		return fc_daemon_bad_usage(cli, "empty --host", NULL);
	j.org = x->org ? x->org : cfg->storage.replicas[0].org;
	if (!fc_config_find_org(cfg, j.org)) {
		fprintf(stderr, PROG ": %s: no organisation '%s'\n", cfg->path, j.org);
		return 2;
	}
	if (x->data_dir && x->data_dir[0] == '/') {
		n = snprintf(dir, sizeof dir, "%s", x->data_dir);
	} else if (x->data_dir) {
		if (!*x->data_dir)
			return fc_daemon_bad_usage(cli, "empty --data-dir", NULL);
		if (!getcwd(cwd, sizeof cwd)) {
			perror(PROG ": getcwd");
			return 1;
		}
		n = snprintf(dir, sizeof dir, "%s/%s", cwd, x->data_dir);
	} else {
		/* as the file's own default: <yaml dir>/data/<id> */
		slash = strrchr(cfg->path, '/');
		n = slash ? snprintf(dir, sizeof dir, "%.*s/data/%s", (int)(slash - cfg->path),
				     cfg->path, id)
			  : snprintf(dir, sizeof dir, "data/%s", id);
	}
	if (n < 0 || (size_t)n >= sizeof dir)
		return fc_daemon_bad_usage(cli, "data directory path too long", NULL);
	j.data_dir = dir;
	signal(SIGPIPE, SIG_IGN);
	rc = fc_stord_run_join(cfg, &j, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, PROG ": %s\n", errmsg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option extra_opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"metrics-port", required_argument, NULL, 'm'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"org", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	struct extra x = {NULL, NULL, NULL, NULL, NULL};
	const struct fc_daemon_cli cli = {.prog = PROG,
					  .usage = usage,
					  .extra = extra_opts,
					  .extra_short = "H:p:m:d:o:",
					  .on_extra = on_extra,
					  .ud = &x};
	struct fc_daemon_args args;
	struct fc_config *cfg = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	int rc, joining_opts;

	rc = fc_daemon_parse(&cli, argc, argv, &args);
	if (rc != FC_DAEMON_RUN)
		return rc;
	if (strlen(args.id) > FC_CONFIG_NAME_MAX || (x.org && strlen(x.org) > FC_CONFIG_NAME_MAX))
		return fc_daemon_bad_usage(&cli, "name too long:", args.id);
	joining_opts = x.host || x.port || x.metrics_port || x.data_dir || x.org;
	if (x.host && !x.port)
		return fc_daemon_bad_usage(&cli, "--host needs --port", NULL);
	if (fc_daemon_load(&cli, &args, FC_NODE_STORAGE, NULL, &cfg) != FC_OK)
		return 2;
	if (fc_config_find_node_kind(cfg, FC_NODE_STORAGE, args.id)) {
		if (joining_opts) {
			fprintf(stderr,
				PROG ": %s: '%s' is a storage replica of the file; --host, --port, "
				     "--metrics-port, --data-dir and --org are for a replica "
				     "joining at run time\n",
				cfg->path, args.id);
			rc = 2;
		} else {
			signal(SIGPIPE, SIG_IGN);
			rc = fc_stord_run(cfg, args.id, errmsg) == FC_OK ? 0 : 1;
			if (rc)
				fprintf(stderr, PROG ": %s\n", errmsg);
		}
	} else if (fc_config_find_node(cfg, args.id)) {
		fprintf(stderr, PROG ": %s: '%s' is not a storage replica\n", cfg->path, args.id);
		rc = 2;
	} else {
		rc = run_join(&cli, cfg, args.id, &x);
	}
	fc_config_free(cfg);
	return rc;
}
