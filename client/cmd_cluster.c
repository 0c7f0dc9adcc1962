/* `flexchain cluster status`: one line per node of the configuration.
 *
 * Each node is probed directly, with a bounded timeout per request:
 *   - its /healthz and /metrics over HTTP when it has a metrics_port
 *     (fc_ops_http_get: a plain-socket GET, no libcurl);
 *   - a HeightQuery over the control plane (fc_netc) for storage replicas
 *     and orderers, whose answer is the height shown.
 * Orderers' Raft role and term come from their metrics (fc_orderer_raft_*),
 * the leader's live compute servers from fc_orderer_live_compute_servers;
 * the memory shards and storage replicas counted are the nodes that
 * answered. A node that answers nothing is "down". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fc_config.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_ops.h"
#include "fc_wire.h"

#define WHERE "cluster status"

static const char status_usage[] =
    "Usage: flexchain cluster status [--config FILE] [--timeout MS]\n"
    "\n"
    "Probes every node of the cluster configuration and prints one line each:\n"
    "id, role, host:port, health, height and, for orderers, the Raft role.\n"
    "Health is what the node's /healthz answers (\"ok\", or \"unhealthy\" with\n"
    "its reason) when it has a metrics_port, otherwise \"up\" when its control\n"
    "port answers; \"down\" when the node answers nothing. Height is the\n"
    "applied height a storage replica or orderer reports over the control\n"
    "plane (HeightQuery). A summary follows: live compute servers (as the Raft\n"
    "leader's metrics report them, else those that answered), memory shards\n"
    "and storage replicas that answered, out of those configured.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML; default ./cluster.yaml)\n"
    "  -t, --timeout MS     per request (default 2000)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 when every configured node is healthy (\"ok\" or \"up\", and\n"
    "storage replicas and orderers report a height), 1 when any node is down\n"
    "or unhealthy, or the configuration cannot be read, 2 bad usage.\n";

struct probe {
	int reachable;	     /* answered anything */
	int healthy;	     /* see usage */
	char health[160];    /* shown */
	char height[32];     /* shown */
	char raft[32];	     /* shown, orderers */
	double live_compute; /* from metrics, < 0 unknown */
	int is_leader;
};

/* HeightQuery over the control plane. FC_OK with *empty / *height. */
static int height_query(const struct fc_config_node *n, unsigned timeout, uint64_t *height,
			int *empty, char *em)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__HeightQuery hq = FLEXCHAIN__HEIGHT_QUERY__INIT;
	Flexchain__ControlMessage *r = NULL;
	struct fc_netc *c = NULL;
	int rc;

	cm.request_id = 1;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY;
	cm.height_query = &hq;
	rc = fc_netc_connect(n->host, n->port, timeout, &c, em);
	if (rc == FC_OK)
		rc = fc_ctl_netc_send(c, &cm, timeout, em);
	if (rc == FC_OK)
		rc = fc_ctl_netc_recv(c, FC_NET_DEFAULT_MAX_FRAME, timeout, &r, em);
	if (rc == FC_OK) {
		if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO &&
		    r->height_info) {
			*height = r->height_info->applied_height;
			*empty = r->height_info->empty;
		} else if (r->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR && r->error) {
			rc = fc_errf(em, FC_EPROTO, "%s",
				     r->error->message ? r->error->message : "");
		} else {
			rc = fc_errf(em, FC_EPROTO, "unexpected reply to a height query");
		}
	}
	if (r)
		fc_wire_free(&r->base);
	fc_netc_close(c);
	return rc;
}

/* Whether something accepts connections on the node's control port. */
static int control_up(const struct fc_config_node *n, unsigned timeout)
{
	struct fc_netc *c = NULL;

	if (fc_netc_connect(n->host, n->port, timeout, &c, NULL) != FC_OK)
		return 0;
	fc_netc_close(c);
	return 1;
}

static int is_loopback(const char *h)
{
	return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

/* Where a node's metrics server is reached: the servers bind metrics.bind,
 * so that address, unless it is a wildcard or a loopback address while the
 * node lives on another host: then the node's own host. */
static const char *metrics_host(const struct fc_config *cfg, const struct fc_config_node *n)
{
	const char *b = cfg->metrics.bind ? cfg->metrics.bind : "127.0.0.1";

	if (strcmp(b, "0.0.0.0") == 0 || strcmp(b, "::") == 0 ||
	    (is_loopback(b) && !is_loopback(n->host)))
		return n->host;
	return b;
}

static void probe_node(const struct fc_config *cfg, const struct fc_config_node *n,
		       unsigned timeout, struct probe *p)
{
	char em[FC_ERRMSG_LEN] = "";
	const char *host = metrics_host(cfg, n);
	int has_height = n->kind == FC_NODE_STORAGE || n->kind == FC_NODE_ORDERER;
	int http_ok = -1; /* -1 no metrics port, 0 unhealthy/down, 1 ok */
	int status = 0;
	char *body = NULL;
	size_t blen = 0;
	double v;

	memset(p, 0, sizeof *p);
	p->live_compute = -1;
	snprintf(p->height, sizeof p->height, "-");
	snprintf(p->raft, sizeof p->raft, "-");
	if (n->metrics_port) {
		http_ok = 0;
		if (fc_ops_http_get(host, n->metrics_port, "/healthz", timeout, 4096, &status,
				    &body, &blen, em) == FC_OK) {
			p->reachable = 1;
			body[strcspn(body, "\r\n")] = '\0';
			if (status == 200) {
				http_ok = 1;
				snprintf(p->health, sizeof p->health, "ok");
			} else {
				snprintf(p->health, sizeof p->health, "unhealthy (%d %.100s)",
					 status, body);
			}
		}
		fc_free(body);
		body = NULL;
		if (fc_ops_http_get(host, n->metrics_port, "/metrics", timeout, 0, &status, &body,
				    &blen, em) == FC_OK &&
		    status == 200) {
			p->reachable = 1;
			if (fc_metrics_find(body, blen, "fc_orderer_raft_leader", &v) == FC_OK) {
				double term = 0;
				p->is_leader = v > 0;
				if (fc_metrics_find(body, blen, "fc_orderer_raft_term", &term) ==
				    FC_OK)
					snprintf(p->raft, sizeof p->raft, "%s (term %.0f)",
						 p->is_leader ? "leader" : "follower", term);
				else
					snprintf(p->raft, sizeof p->raft, "%s",
						 p->is_leader ? "leader" : "follower");
			}
			if (fc_metrics_find(body, blen, "fc_orderer_live_compute_servers", &v) ==
			    FC_OK)
				p->live_compute = v;
		}
		fc_free(body);
	}
	if (has_height) {
		uint64_t h = 0;
		int empty = 0;
		if (height_query(n, timeout, &h, &empty, em) == FC_OK) {
			p->reachable = 1;
			if (empty)
				snprintf(p->height, sizeof p->height, "empty");
			else
				snprintf(p->height, sizeof p->height, "%llu",
					 (unsigned long long)h);
			if (http_ok == -1) {
				http_ok = 1;
				snprintf(p->health, sizeof p->health, "up");
			}
		} else if (http_ok == 1) {
			/* healthz ok but the control plane does not answer */
			http_ok = 0;
			snprintf(p->health, sizeof p->health, "unhealthy (control port: %.100s)",
				 em);
		}
	} else if (http_ok == -1 && control_up(n, timeout)) {
		p->reachable = 1;
		http_ok = 1;
		snprintf(p->health, sizeof p->health, "up");
	}
	if (!p->reachable)
		snprintf(p->health, sizeof p->health, "down");
	p->healthy = http_ok == 1;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "cluster.yaml";
	char em[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	struct probe *pr = NULL;
	unsigned long timeout = 2000;
	size_t up[FC_NODE_KIND__COUNT] = {0}, total[FC_NODE_KIND__COUNT] = {0};
	size_t healthy = 0;
	double live = -1;
	char *end;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 't':
			timeout = strtoul(optarg, &end, 10);
			if (*end || !*optarg || *optarg == '-' || timeout == 0 || timeout > 600000)
				return fc_cli_usage_error(WHERE, "bad timeout '%s'", optarg);
			break;
		default:
			return fc_cli_opt_common(WHERE, c, argv, status_usage);
		}
	}
	if (optind < argc)
		return fc_cli_usage_error(WHERE, "unexpected argument '%s'", argv[optind]);
	if (fc_config_load(config, &cfg, em) != FC_OK)
		return fc_cli_fail(WHERE, "%s", em);
	pr = fc_calloc(cfg->n_nodes ? cfg->n_nodes : 1, sizeof *pr);
	if (!pr) {
		fc_config_free(cfg);
		return fc_cli_fail(WHERE, "out of memory");
	}
	printf("cluster %s (%s)\n", cfg->name, cfg->path);
	printf("%-20s %-8s %-22s %-10s %-9s %s\n", "ID", "ROLE", "ADDRESS", "HEALTH", "HEIGHT",
	       "RAFT");
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct fc_config_node *n = &cfg->nodes[i];
		char addr[96];

		probe_node(cfg, n, (unsigned)timeout, &pr[i]);
		snprintf(addr, sizeof addr, "%s:%u", n->host, (unsigned)n->port);
		printf("%-20s %-8s %-22s %-10s %-9s %s\n", n->id, fc_config_node_kind_name(n->kind),
		       addr, pr[i].health, pr[i].height, pr[i].raft);
		total[n->kind]++;
		if (pr[i].healthy) {
			up[n->kind]++;
			healthy++;
		}
		if (n->kind == FC_NODE_ORDERER && pr[i].is_leader && pr[i].live_compute >= 0)
			live = pr[i].live_compute;
	}
	if (live >= 0)
		printf("compute servers  %.0f live (leader), %zu of %zu configured answer\n", live,
		       up[FC_NODE_COMPUTE], total[FC_NODE_COMPUTE]);
	else
		printf("compute servers  %zu of %zu configured answer\n", up[FC_NODE_COMPUTE],
		       total[FC_NODE_COMPUTE]);
	printf("memory shards    %zu of %zu up\n", up[FC_NODE_MEMORY], total[FC_NODE_MEMORY]);
	printf("storage replicas %zu of %zu up (write quorum %u)\n", up[FC_NODE_STORAGE],
	       total[FC_NODE_STORAGE], (unsigned)cfg->storage.write_quorum);
	printf("orderers         %zu of %zu up\n", up[FC_NODE_ORDERER], total[FC_NODE_ORDERER]);
	printf("%zu of %zu nodes healthy\n", healthy, cfg->n_nodes);
	rc = healthy == cfg->n_nodes ? FC_CLI_OK : FC_CLI_FAIL;
	fc_free(pr);
	fc_config_free(cfg);
	return rc;
}

static const struct fc_cli_cmd cluster_cmds[] = {
    {"status", "every node's role, health and height; live pools", cmd_status},
};

FC_CLI_DEFINE_GROUP(cluster, "Inspect a running cluster", cluster_cmds);
