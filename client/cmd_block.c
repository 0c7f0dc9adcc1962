/* `flexchain block show HEIGHT`: one block as a storage replica holds it,
 * with its decision (verdict and commit certificate).
 *
 * Asked of the replicas of the configuration in order (or only --replica):
 * the first that has the block answers. Printed: the header (height, header
 * hash, previous hash, data and graph hashes, time, signing orderer), the
 * transaction count, a summary of the dependency graph (edges, the longest
 * dependency chain = the critical path a parallel validator cannot beat,
 * transactions with no edge at all), the verdict (transactions per final
 * status, write-set hash) and who validated it (committee, verdict signers,
 * whether the storage pool validated it, the deciding orderer). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define WHERE "block show"

static const char show_usage[] =
    "Usage: flexchain block show HEIGHT [--config FILE] [--replica ID] [--json]\n"
    "\n"
    "Fetches block HEIGHT and its decision from a storage replica and prints\n"
    "the header (hashes, time, signing orderer), the transaction count, a\n"
    "summary of the dependency graph (edges, longest dependency chain, the\n"
    "transactions independent of all others), the verdict (transactions per\n"
    "final status) and who validated the block (the committee, the verdict\n"
    "signers, whether the storage pool validated it).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML; default ./cluster.yaml)\n"
    "  -r, --replica ID     ask only this storage replica (default: each in\n"
    "                       turn until one has the block)\n"
    "  -j, --json           print one JSON object instead of text\n"
    "  -t, --timeout MS     per-replica timeout (default 3000)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 printed, 1 no replica has the block or none answered,\n"
    "2 bad usage.\n";

static const char *const status_names[] = {
    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

struct graph_sum {
	size_t edges, longest, independent, roots;
};

/* Longest chain of dependent transactions (in transactions) and the count of
 * transactions with no edge in or out. deps[j] < i holds (fc_wire checked). */
static int graph_summary(const Flexchain__Block *b, struct graph_sum *g)
{
	size_t n = b->n_envelopes;
	size_t *depth = fc_calloc(n ? n : 1, sizeof *depth);
	unsigned char *used = fc_calloc(n ? n : 1, 1);

	memset(g, 0, sizeof *g);
	if (!depth || !used) {
		fc_free(depth);
		fc_free(used);
		return FC_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const Flexchain__TxDeps *t =
		    b->graph && i < b->graph->n_txs ? b->graph->txs[i] : NULL;
		size_t nd = t ? t->n_deps : 0;
		depth[i] = 1;
		g->edges += nd;
		if (nd == 0)
			g->roots++;
		else
			used[i] = 1;
		for (size_t k = 0; k < nd; k++) {
			uint32_t d = t->deps[k];
			if (d < i) {
				used[d] = 1;
				if (depth[d] + 1 > depth[i])
					depth[i] = depth[d] + 1;
			}
		}
		if (depth[i] > g->longest)
			g->longest = depth[i];
	}
	for (size_t i = 0; i < n; i++)
		if (!used[i])
			g->independent++;
	fc_free(depth);
	fc_free(used);
	return FC_OK;
}

/* The CN of a DER certificate, "?" when it does not parse. */
static void cert_name(const ProtobufCBinaryData *der, char *out, size_t n)
{
	fc_cert *c = NULL;

	snprintf(out, n, "?");
	if (der->len && fc_crypto_cert_from_der(der->data, der->len, &c, NULL) == FC_OK) {
		const char *cn = fc_crypto_cert_cn(c);
		snprintf(out, n, "%s", cn ? cn : "?");
		fc_crypto_cert_free(c);
	}
}

static void hex32(const ProtobufCBinaryData *b, char out[2 * FC_HASH_LEN + 1])
{
	if (b->len == FC_HASH_LEN)
		fc_canon_hex(b->data, FC_HASH_LEN, out);
	else
		snprintf(out, 2 * FC_HASH_LEN + 1, "-");
}

static void time_str(uint64_t ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		snprintf(out, n, "%llu ms", (unsigned long long)ms);
		return;
	}
	char d[32];
	strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03uZ", d, (unsigned)(ms % 1000));
}

/* Ids and CNs are [A-Za-z0-9_.-]; quote anyway, escaping what JSON needs. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned)(unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int print_block(const char *replica, const Flexchain__Block *b, const Flexchain__Decision *d,
		       int json)
{
	const Flexchain__BlockHeader *h = b->header;
	const Flexchain__Verdict *v = d ? d->verdict : NULL;
	const Flexchain__CommitCertificate *c = d ? d->certificate : NULL;
	uint8_t hh[FC_HASH_LEN];
	char hash[2 * FC_HASH_LEN + 1], prev[2 * FC_HASH_LEN + 1], data[2 * FC_HASH_LEN + 1];
	char graph[2 * FC_HASH_LEN + 1], wsh[2 * FC_HASH_LEN + 1];
	char when[64], orderer[128], decider[128];
	size_t counts[N_STATUS] = {0};
	struct graph_sum g;
	int storage_validated;

	if (fc_hash_header(h, hh) != FC_OK)
		return fc_cli_fail(WHERE, "cannot hash the header of block %llu",
				   (unsigned long long)h->height);
	fc_canon_hex(hh, FC_HASH_LEN, hash);
	hex32(&h->prev_hash, prev);
	hex32(&h->data_hash, data);
	hex32(&h->graph_hash, graph);
	time_str(h->timestamp_ms, when, sizeof when);
	cert_name(&h->orderer, orderer, sizeof orderer);
	if (graph_summary(b, &g) != FC_OK)
		return fc_cli_fail(WHERE, "out of memory");
	if (v) {
		for (size_t i = 0; i < v->tx_status.len; i++) {
			uint8_t st = v->tx_status.data[i];
			counts[st < N_STATUS ? st : 0]++;
		}
		hex32(&v->write_set_hash, wsh);
	} else {
		snprintf(wsh, sizeof wsh, "-");
	}
	storage_validated = (c && c->storage_validated) || (v && v->storage_validated);
	if (c)
		cert_name(&c->orderer, decider, sizeof decider);
	else
		snprintf(decider, sizeof decider, "-");

	if (json) {
		printf("{\"height\":%llu,\"replica\":", (unsigned long long)h->height);
		json_str(replica);
		printf(",\"hash\":\"%s\",\"prev_hash\":\"%s\",\"data_hash\":\"%s\","
		       "\"graph_hash\":\"%s\",\"timestamp_ms\":%llu,\"time\":\"%s\",\"orderer\":",
		       hash, prev, data, graph, (unsigned long long)h->timestamp_ms, when);
		json_str(orderer);
		printf(",\"txs\":%zu,\"graph\":{\"edges\":%zu,\"longest_chain\":%zu,"
		       "\"independent\":%zu,\"roots\":%zu},\"verdict\":{",
		       b->n_envelopes, g.edges, g.longest, g.independent, g.roots);
		for (size_t i = 0, first = 1; i < N_STATUS; i++) {
			if (!counts[i])
				continue;
			printf("%s\"%s\":%zu", first ? "" : ",", status_names[i], counts[i]);
			first = 0;
		}
		printf("},\"write_set_hash\":\"%s\",\"validated_by\":{\"storage_validated\":%s,"
		       "\"committee\":[",
		       wsh, storage_validated ? "true" : "false");
		for (size_t i = 0; c && i < c->n_committee; i++) {
			if (i)
				putchar(',');
			json_str(c->committee[i]);
		}
		printf("],\"signers\":[");
		for (size_t i = 0; c && i < c->n_verdicts; i++) {
			char who[128];
			cert_name(&c->verdicts[i]->signer, who, sizeof who);
			if (i)
				putchar(',');
			json_str(who);
		}
		printf("],\"decided_by\":");
		json_str(decider);
		printf("}}\n");
		return FC_CLI_OK;
	}
	printf("block %llu (from %s)\n", (unsigned long long)h->height, replica);
	printf("  hash         %s\n", hash);
	printf("  prev hash    %s\n", prev);
	printf("  data hash    %s\n", data);
	printf("  graph hash   %s\n", graph);
	printf("  time         %s\n", when);
	printf("  orderer      %s\n", orderer);
	printf("transactions   %zu\n", b->n_envelopes);
	printf("graph          %zu edges, longest chain %zu, %zu independent, %zu without "
	       "dependencies\n",
	       g.edges, g.longest, g.independent, g.roots);
	printf("verdict       ");
	if (!v)
		printf(" none");
	for (size_t i = 0; i < N_STATUS; i++)
		if (counts[i])
			printf(" %s=%zu", status_names[i], counts[i]);
	printf("\n  write set    %s\n", wsh);
	printf("validated by   %s\n",
	       storage_validated ? "storage pool (HyBE fallback)" : "compute committee");
	printf("  committee   ");
	if (!c || c->n_committee == 0)
		printf(" -");
	for (size_t i = 0; c && i < c->n_committee; i++)
		printf(" %s", c->committee[i]);
	printf("\n  signers     ");
	if (!c || c->n_verdicts == 0)
		printf(" -");
	for (size_t i = 0; c && i < c->n_verdicts; i++) {
		char who[128];
		cert_name(&c->verdicts[i]->signer, who, sizeof who);
		printf(" %s", who);
	}
	printf("\n  decided by   %s\n", decider);
	return FC_CLI_OK;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return 0;
	*out = v;
	return 1;
}

static int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"replica", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},	      {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *config = "cluster.yaml", *replica = NULL, *hs = NULL;
	char em[FC_ERRMSG_LEN] = "", last[FC_ERRMSG_LEN] = "";
	struct fc_storage_client_opts o;
	struct fc_storage_client *cl = NULL;
	struct fc_config *cfg = NULL;
	uint64_t height = 0, timeout = 3000;
	int json = 0, c, rc = FC_CLI_FAIL, notfound = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:r:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			replica = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			if (!parse_u64(optarg, &timeout) || timeout == 0 || timeout > 600000)
				return fc_cli_usage_error(WHERE, "bad timeout '%s'", optarg);
			break;
		default:
			return fc_cli_opt_common(WHERE, c, argv, show_usage);
		}
	}
	if (optind < argc)
		hs = argv[optind++];
	if (!hs)
		return fc_cli_usage_error(WHERE, "missing HEIGHT");
	if (optind < argc)
		return fc_cli_usage_error(WHERE, "unexpected argument '%s'", argv[optind]);
	if (!parse_u64(hs, &height))
		return fc_cli_usage_error(WHERE, "HEIGHT must be a block height, not '%s'", hs);
	if (fc_config_load(config, &cfg, em) != FC_OK)
		return fc_cli_fail(WHERE, "%s", em);
	if (replica && !fc_config_find_node_kind(cfg, FC_NODE_STORAGE, replica)) {
		rc = fc_cli_usage_error(WHERE, "no storage replica '%s' in %s", replica, cfg->path);
		goto out_cfg;
	}
	fc_storage_client_opts_init(&o);
	o.timeout_ms = (unsigned)timeout;
	o.connect_timeout_ms = (unsigned)(timeout < 1000 ? timeout : 1000);
	if (fc_storage_client_create(cfg, &o, &cl, em) != FC_OK) {
		rc = fc_cli_fail(WHERE, "%s", em);
		goto out_cfg;
	}
	for (size_t i = 0; i < cfg->storage.n_replicas; i++) {
		const struct fc_config_node *r = &cfg->storage.replicas[i];
		Flexchain__BlockReply *br = NULL;
		int qrc;

		if (replica && strcmp(replica, r->id) != 0)
			continue;
		qrc = fc_storage_get_blocks(cl, i, height, 1, &br, em);
		if (qrc == FC_OK && (br->n_blocks < 1 || !br->blocks[0]->header ||
				     br->blocks[0]->header->height != height)) {
			qrc = FC_EPROTO;
			snprintf(em, sizeof em, "%s answered with another block", r->id);
		}
		if (qrc == FC_OK) {
			rc = print_block(r->id, br->blocks[0],
					 br->n_decisions ? br->decisions[0] : NULL, json);
			fc_wire_free(&br->base);
			goto out_client;
		}
		if (br)
			fc_wire_free(&br->base);
		if (qrc == FC_ENOTFOUND)
			notfound = 1;
		snprintf(last, sizeof last, "%s", em);
	}
	if (notfound)
		rc = fc_cli_fail(WHERE, "no block at height %llu (%s)", (unsigned long long)height,
				 last);
	else
		rc = fc_cli_fail(WHERE, "no storage replica answered: %s", last);
out_client:
	fc_storage_client_destroy(cl);
out_cfg:
	fc_config_free(cfg);
	return rc;
}

static const struct fc_cli_cmd block_cmds[] = {
    {"show", "show a block: header, graph summary, verdict, who validated it", cmd_show},
};

FC_CLI_DEFINE_GROUP(block, "Inspect blocks held by the storage pool", block_cmds);
