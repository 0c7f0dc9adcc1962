/* `flexchain cluster status`: one line per node of the cluster as it is
 * now, not only as the cluster file describes it:
 *   - orderers from the cluster file;
 *   - storage replicas and memory nodes of the configuration in force,
 *     rebuilt from the ledger (chainview.h), so that nodes added or removed
 *     by config transactions are shown as such;
 *   - compute servers: the live ones the Raft leader reports (ComputeQuery,
 *     fc_discover.h), including those that joined at run time, plus the
 *     file's that are not live (shown "down").
 * Each node is probed directly, with a bounded timeout per request:
 *   - its /healthz and /metrics over HTTP when its metrics_port is known
 *     (fc_ops_http_get: a plain-socket GET, no libcurl);
 *   - a HeightQuery over the control plane (fc_netc) for storage replicas
 *     and orderers, whose answer is the height shown; compute servers and
 *     memory nodes show the height their metrics report.
 * Orderers' Raft role and term come from their metrics (fc_orderer_raft_*),
 * memory occupancy from fc_memory_*_bytes. A node that answers nothing is
 * "down". */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainview.h"
#include "cli.h"
#include "fc_chaincfg.h"
#include "fc_discover.h"
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
    "Probes every node of the cluster and prints one line each: id, role,\n"
    "host:port, health, height and, for orderers, the Raft role. The nodes are\n"
    "the orderers of the cluster file, the storage replicas and memory nodes of\n"
    "the configuration in force (the file's changed by the chain's config\n"
    "transactions) and the compute servers the Raft leader reports live (those\n"
    "that joined at run time included) plus the file's other compute servers.\n"
    "A node marked '*' is not in the cluster file.\n"
    "Health is what the node's /healthz answers (\"ok\", or \"unhealthy\" with\n"
    "its reason) when it has a metrics_port, otherwise \"up\" when its control\n"
    "port answers; \"draining\" for a compute server the leader reports as\n"
    "leaving; \"down\" when the node answers nothing. Height is the applied\n"
    "height a storage replica or orderer reports over the control plane; for\n"
    "compute servers and memory nodes, the last height their metrics say they\n"
    "applied.\n"
    "A summary follows: live compute servers, memory nodes up and their\n"
    "occupancy, storage replicas up with the write quorum in force, orderers.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML; default ./cluster.yaml)\n"
    "  -t, --timeout MS     per request (default 2000)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 when every node listed is healthy (\"ok\", \"up\" or\n"
    "\"draining\", and storage replicas and orderers report a height), 1 when\n"
    "any node is down or unhealthy, or the configuration cannot be read, 2 bad\n"
    "usage.\n";

/* A node to probe: from the file, the configuration in force or discovery. */
struct target {
	enum fc_node_kind kind;
	char id[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port;
	uint16_t metrics_port; /* 0 unknown / none */
	int not_in_file;
	int draining; /* compute: the leader reports it leaving */
};

struct probe {
	int reachable;	     /* answered anything */
	int healthy;	     /* see usage */
	char health[160];    /* shown */
	char height[32];     /* shown */
	char raft[32];	     /* shown, orderers */
	int is_leader;
	double used_bytes, region_bytes; /* memory, < 0 unknown */
};

/* HeightQuery over the control plane. FC_OK with *empty / *height. */
static int height_query(const struct target *n, unsigned timeout, uint64_t *height,
			int *empty, char *em)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__HeightQuery hq = FLEXCHAIN__HEIGHT_QUERY__INIT;
	Flexchain__ControlMessage *r = NULL;
	int rc;

	cm.request_id = 1;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY;
	cm.height_query = &hq;
	rc = fc_ctl_netc_call(n->host, n->port, &cm, timeout, timeout, &r, em);
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
	return rc;
}

/* Whether something accepts connections on the node's control port. */
static int control_up(const struct target *n, unsigned timeout)
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
static const char *metrics_host(const struct fc_config *cfg, const struct target *n)
{
	const char *b = cfg->metrics.bind ? cfg->metrics.bind : "127.0.0.1";

	if (strcmp(b, "0.0.0.0") == 0 || strcmp(b, "::") == 0 ||
	    (is_loopback(b) && !is_loopback(n->host)))
		return n->host;
	return b;
}

static void probe_node(const struct fc_config *cfg, const struct target *n, unsigned timeout,
		       struct probe *p)
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
	p->used_bytes = p->region_bytes = -1;
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
			/* these count blocks applied (next height); shown, like the
			 * HeightQuery answers, as the last height applied */
			if ((fc_metrics_find(body, blen, "fc_compute_height", &v) == FC_OK ||
			     fc_metrics_find(body, blen, "fc_memory_applied_height", &v) == FC_OK) &&
			    v >= 0) {
				if (v >= 1)
					snprintf(p->height, sizeof p->height, "%.0f", v - 1);
				else
					snprintf(p->height, sizeof p->height, "empty");
			}
			if (fc_metrics_find(body, blen, "fc_memory_used_bytes", &v) == FC_OK)
				p->used_bytes = v;
			if (fc_metrics_find(body, blen, "fc_memory_region_bytes", &v) == FC_OK)
				p->region_bytes = v;
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
	else if (n->draining && http_ok == 1)
		snprintf(p->health, sizeof p->health, "draining");
	p->healthy = http_ok == 1;
}

/* The node list being built: targets[0..n) of capacity cap. */
struct targets {
	struct target *t;
	size_t n, cap;
};

static struct target *targets_add(struct targets *ts)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		struct target *t = fc_realloc(ts->t, cap * sizeof *t);
		if (!t)
			return NULL;
		ts->t = t;
		ts->cap = cap;
	}
	memset(&ts->t[ts->n], 0, sizeof ts->t[ts->n]);
	return &ts->t[ts->n++];
}

/* Adds a node (of the file, of the configuration in force or discovered).
 * Its metrics port is the file's node's of the same kind and id, if that
 * has one, else metrics_port (as the chain or the registry knows it). */
static struct target *add_target(struct targets *ts, const struct fc_config *file,
				 enum fc_node_kind kind, const char *id, const char *host,
				 uint16_t port, uint16_t metrics_port)
{
	const struct fc_config_node *f = fc_config_find_node_kind(file, kind, id);
	struct target *t = targets_add(ts);

	if (!t)
		return NULL;
	t->kind = kind;
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->host, sizeof t->host, "%s", host);
	t->port = port;
	t->metrics_port = f && f->metrics_port ? f->metrics_port : metrics_port;
	t->not_in_file = f == NULL;
	return t;
}

static int add_node(struct targets *ts, const struct fc_config *file,
		    const struct fc_config_node *n)
{
	return add_target(ts, file, n->kind, n->id, n->host, n->port, n->metrics_port) ? FC_OK
										: FC_ENOMEM;
}

/* The nodes to probe (see the file comment). Notes for what could not be
 * learnt go to stdout, one line each. */
static int collect(const char *config, unsigned timeout, struct cli_chainview *v,
		   struct targets *ts, uint32_t *write_quorum, char *em)
{
	const struct fc_config *file, *now;
	struct fc_compute_info *live = NULL;
	size_t n_live = 0;
	char why[FC_ERRMSG_LEN] = "";
	uint64_t height = 0;
	int empty = 0, rc;

	rc = cli_chainview_open(v, config, em);
	if (rc != FC_OK)
		return rc;
	file = v->cfg;
	now = file;
	if (cli_chainview_current(v, &height, &empty, why) == FC_OK)
		now = fc_chaincfg_config(v->cc);
	else
		printf("note: configuration in force unknown (%s); storage and memory as in the "
		       "cluster file\n",
		       why);
	*write_quorum = now->storage.write_quorum;
	if (fc_discover_compute(file, timeout, &live, &n_live, why) != FC_OK) {
		printf("note: live compute servers unknown (%s); compute as in the cluster file\n",
		       why);
		live = NULL;
		n_live = 0;
	}
	for (size_t i = 0; i < file->n_orderers && rc == FC_OK; i++)
		rc = add_node(ts, file, &file->orderers[i]);
	for (size_t i = 0; i < now->storage.n_replicas && rc == FC_OK; i++)
		rc = add_node(ts, file, &now->storage.replicas[i]);
	for (size_t i = 0; i < now->memory.n_nodes && rc == FC_OK; i++)
		rc = add_node(ts, file, &now->memory.nodes[i]);
	for (size_t i = 0; i < n_live && rc == FC_OK; i++) {
		struct target *t = add_target(ts, file, FC_NODE_COMPUTE, live[i].id, live[i].host,
					      live[i].port, live[i].metrics_port);
		if (!t)
			rc = FC_ENOMEM;
		else
			t->draining = live[i].draining;
	}
	/* the file's compute servers that the leader does not report */
	for (size_t i = 0; i < file->n_compute && rc == FC_OK; i++) {
		size_t k = 0;
		while (k < n_live && strcmp(live[k].id, file->compute[i].id) != 0)
			k++;
		if (k == n_live)
			rc = add_node(ts, file, &file->compute[i]);
	}
	fc_free(live);
	if (rc == FC_ENOMEM)
		fc_errf(em, rc, "out of memory");
	return rc;
}

static void print_bytes(double b)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (b >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		b /= 1024;
		u++;
	}
	printf(u ? "%.1f %s" : "%.0f %s", b, unit[u]);
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
	struct cli_chainview v;
	struct targets ts = {0};
	struct probe *pr = NULL;
	unsigned long timeout = 2000;
	size_t up[FC_NODE_KIND__COUNT] = {0}, total[FC_NODE_KIND__COUNT] = {0};
	size_t healthy = 0, draining = 0, joined = 0;
	double used = 0, region = 0;
	int occupancy = 0;
	uint32_t quorum = 0;
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
	if (collect(config, (unsigned)timeout, &v, &ts, &quorum, em) != FC_OK) {
		cli_chainview_close(&v);
		fc_free(ts.t);
		return fc_cli_fail(WHERE, "%s", em);
	}
	pr = fc_calloc(ts.n ? ts.n : 1, sizeof *pr);
	if (!pr) {
		cli_chainview_close(&v);
		fc_free(ts.t);
		return fc_cli_fail(WHERE, "out of memory");
	}
	printf("cluster %s (%s)\n", v.cfg->name, v.cfg->path);
	printf("%-20s %-8s %-22s %-10s %-9s %s\n", "ID", "ROLE", "ADDRESS", "HEALTH", "HEIGHT",
	       "RAFT");
	for (size_t i = 0; i < ts.n; i++) {
		const struct target *n = &ts.t[i];
		char addr[272], id[FC_CONFIG_NAME_MAX + 2];

		probe_node(v.cfg, n, (unsigned)timeout, &pr[i]);
		snprintf(addr, sizeof addr, "%s:%u", n->host, (unsigned)n->port);
		snprintf(id, sizeof id, "%s%s", n->id, n->not_in_file ? "*" : "");
		printf("%-20s %-8s %-22s %-10s %-9s %s\n", id, fc_config_node_kind_name(n->kind),
		       addr, pr[i].health, pr[i].height, pr[i].raft);
		total[n->kind]++;
		joined += n->not_in_file;
		if (pr[i].healthy) {
			up[n->kind]++;
			healthy++;
			draining += n->draining;
		}
		if (pr[i].used_bytes >= 0 && pr[i].region_bytes > 0) {
			used += pr[i].used_bytes;
			region += pr[i].region_bytes;
			occupancy = 1;
		}
	}
	if (joined)
		printf("(* not in the cluster file: joined at run time or added by a config "
		       "transaction)\n");
	printf("compute servers  %zu of %zu up", up[FC_NODE_COMPUTE], total[FC_NODE_COMPUTE]);
	if (draining)
		printf(" (%zu draining)", draining);
	printf("\nmemory nodes     %zu of %zu up", up[FC_NODE_MEMORY], total[FC_NODE_MEMORY]);
	if (occupancy) {
		printf(", ");
		print_bytes(used);
		printf(" of ");
		print_bytes(region);
		printf(" used (%.1f%%)", 100.0 * used / region);
	}
	printf("\nstorage replicas %zu of %zu up (write quorum %u)\n", up[FC_NODE_STORAGE],
	       total[FC_NODE_STORAGE], (unsigned)quorum);
	printf("orderers         %zu of %zu up\n", up[FC_NODE_ORDERER], total[FC_NODE_ORDERER]);
	printf("%zu of %zu nodes healthy\n", healthy, ts.n);
	rc = healthy == ts.n ? FC_CLI_OK : FC_CLI_FAIL;
	fc_free(pr);
	fc_free(ts.t);
	cli_chainview_close(&v);
	return rc;
}

static const struct fc_cli_cmd cluster_cmds[] = {
    {"status", "every node's role, health and height; live pools", cmd_status},
};

FC_CLI_DEFINE_GROUP(cluster, "Inspect a running cluster", cluster_cmds);
