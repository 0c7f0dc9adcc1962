/* `flexchain tx ...`: submit, evaluate and look up transactions through a
 * compute server acting as gateway (client SDK, fc_gwclient.h). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fc_config.h"
#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_log.h"
#include "fc_mem.h"

static const char common_opts[] =
    "  -c, --config FILE     cluster configuration (YAML)\n"
    "  -o, --org ORG         sign as ORG's client identity (default: the first\n"
    "                        organisation of the configuration)\n"
    "  -g, --gateway ID      compute server to talk to first (default: the first\n"
    "                        one); the others of the configuration are failed\n"
    "                        over to when it cannot be reached\n"
    "  -t, --timeout-ms MS   give up after MS milliseconds (default 30000)\n"
    "  -h, --help            show this help\n";

static const char submit_usage[] =
    "Usage: flexchain tx submit --config FILE [--org ORG] [--gateway ID] [--async]\n"
    "                           CONTRACT FUNCTION [ARGS...]\n"
    "\n"
    "Signs a proposal and submits it: the gateway executes it, has it endorsed\n"
    "and ordered, and answers once the transaction's final status is known.\n"
    "Prints the tx id, final status, block height and index, and the contract's\n"
    "response. Numbers are passed as decimal text, e.g.\n"
    "  flexchain tx submit --config cluster.yaml kv insert user1 hello\n"
    "  flexchain tx submit --config cluster.yaml smallbank deposit_checking 7 100\n"
    "\n"
    "Options:\n"
    "  -a, --async           return once the gateway accepted the transaction for\n"
    "                        ordering (follow it with 'flexchain tx status')\n";

static const char query_usage[] =
    "Usage: flexchain tx query --config FILE [--org ORG] [--gateway ID]\n"
    "                          CONTRACT FUNCTION [ARGS...]\n"
    "\n"
    "Evaluates a contract function read-only on a gateway (nothing is ordered)\n"
    "and prints its response, e.g.\n"
    "  flexchain tx query --config cluster.yaml kv read user1\n"
    "\n"
    "Options:\n";

static const char status_usage[] =
    "Usage: flexchain tx status --config FILE [--org ORG] [--gateway ID] TXID\n"
    "\n"
    "Looks up a transaction by id and prints its final status, block height and\n"
    "index. Exit status 1 when it is not (yet) in the ledger.\n"
    "\n"
    "Options:\n";

static const char exit_text[] = "\nExit status: 0 success, 1 the request failed or the transaction\n"
				"was not committed as valid, 2 bad usage.\n";

struct tx_opts {
	const char *config, *org, *gateway;
	unsigned timeout_ms;
	int async;
	int first_arg; /* index of the first positional argument */
};

/* Parses the common options; returns -1 to go on, or an exit code. */
static int parse(const char *where, const char *usage, int allow_async, int argc, char **argv,
		 struct tx_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},	  {"org", required_argument, NULL, 'o'},
	    {"gateway", required_argument, NULL, 'g'},	  {"async", no_argument, NULL, 'a'},
	    {"timeout-ms", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	memset(o, 0, sizeof *o);
	o->timeout_ms = 30000;
	optind = 1;
	opterr = 0;
	/* "+": stop at the first positional argument (contract args may start
	 * with '-', e.g. a negative amount, after "--") */
	while ((c = getopt_long(argc, argv, "+:c:o:g:at:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'o':
			o->org = optarg;
			break;
		case 'g':
			o->gateway = optarg;
			break;
		case 'a':
			if (!allow_async)
				return fc_cli_usage_error(where, "unknown option '--async'");
			o->async = 1;
			break;
		case 't':
			o->timeout_ms = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg || o->timeout_ms == 0)
				return fc_cli_usage_error(where, "--timeout-ms: '%s' is not a "
								 "positive number", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			fputs(common_opts, stdout);
			fputs(exit_text, stdout);
			return FC_CLI_OK;
		default:
			return fc_cli_opt_common(where, c, argv, NULL);
		}
	}
	if (!o->config)
		return fc_cli_usage_error(where, "missing --config");
	o->first_arg = optind;
	return -1;
}

struct session {
	struct fc_config *cfg;
	struct fc_gw_identity *id;
	struct fc_gwclient *c;
};

static void session_close(struct session *s)
{
	fc_gwclient_destroy(s->c);
	fc_gw_identity_free(s->id);
	fc_config_free(s->cfg);
}

static int session_open(const char *where, const struct tx_opts *o, struct session *s)
{
	struct fc_gw_endpoint *eps = NULL;
	struct fc_gwclient_opts co;
	size_t n = 0, first = 0;
	char em[FC_ERRMSG_LEN] = "";
	int rc;

	memset(s, 0, sizeof *s);
	/* the CLI speaks in one line per error; the SDK's warnings are noise */
	if (!getenv("FLEXCHAIN_LOG"))
		fc_log_set_level(FC_LOG_ERROR);
	rc = fc_config_load(o->config, &s->cfg, em);
	if (rc == FC_OK)
		rc = fc_gw_identity_load(s->cfg, o->org, &s->id, em);
	if (rc == FC_OK)
		rc = fc_gw_endpoints_from_config(s->cfg, o->gateway, &eps, &n, &first, em);
	if (rc == FC_OK) {
		fc_gwclient_opts_init(&co);
		co.timeout_ms = o->timeout_ms;
		rc = fc_gwclient_create(NULL, eps, n, first, &co, &s->c, em);
	}
	fc_free(eps);
	if (rc != FC_OK) {
		session_close(s);
		return fc_cli_fail(where, "%s", em);
	}
	return FC_CLI_OK;
}

/* Prints a response as text when it is printable, else as hex. */
static void print_response(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isprint(p[i]) && p[i] != '\t')
			break;
	if (i == n) {
		printf("response: %.*s\n", (int)n, (const char *)p);
		return;
	}
	printf("response: 0x");
	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int run_proposal(const char *where, const char *usage, int mode, int argc, char **argv)
{
	struct tx_opts o;
	struct session s;
	struct fc_gw_proposal *p = NULL;
	struct fc_gw_result res;
	char em[FC_ERRMSG_LEN] = "";
	int rc, ret;

	ret = parse(where, usage, mode != FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (o.async)
		mode = FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC;
	if (argc - o.first_arg < 2)
		return fc_cli_usage_error(where, "missing %s",
					  argc - o.first_arg < 1 ? "CONTRACT" : "FUNCTION");
	ret = session_open(where, &o, &s);
	if (ret != FC_CLI_OK)
		return ret;
	rc = fc_gw_proposal_build(s.id, argv[o.first_arg], argv[o.first_arg + 1],
				  (size_t)(argc - o.first_arg - 2),
				  (const char *const *)argv + o.first_arg + 2, NULL, 0, &p, em);
	if (rc != FC_OK) {
		ret = fc_cli_fail(where, "%s", em);
		goto close_session;
	}
	rc = fc_gwclient_send_sync(s.c, (Flexchain__GatewayMode)mode, p, &res);
	if (rc != FC_OK) {
		ret = fc_cli_fail(where, "tx %s: %s", p->tx_id, res.message);
		goto clear_res;
	}
	ret = FC_CLI_OK;
	if (mode != FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE)
		printf("tx_id:    %s\n", p->tx_id);
	if (mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT) {
		printf("status:   %s\n", fc_gw_status_name(res.status));
		printf("height:   %llu\n", (unsigned long long)res.height);
		printf("index:    %u\n", res.index);
		if (res.resolved)
			printf("(outcome read from the ledger after a gateway failover; the "
			       "response was lost with the connection)\n");
	} else if (mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC) {
		printf("status:   accepted for ordering (see 'flexchain tx status %s')\n",
		       p->tx_id);
	}
	if (res.response_len || mode == FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE)
		print_response(res.response, res.response_len);
	fflush(stdout);
	if (mode == FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT &&
	    res.status != FLEXCHAIN__TX_STATUS__TX_VALID)
		ret = fc_cli_fail(where, "tx %s was not committed: %s", p->tx_id,
				  fc_gw_status_name(res.status));
clear_res:
	fc_gw_result_clear(&res);
	fc_gw_proposal_free(p);
close_session:
	session_close(&s);
	return ret;
}

static int cmd_submit(int argc, char **argv)
{
	return run_proposal("tx submit", submit_usage, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, argc,
			    argv);
}

static int cmd_query(int argc, char **argv)
{
	return run_proposal("tx query", query_usage, FLEXCHAIN__GATEWAY_MODE__GW_EVALUATE, argc,
			    argv);
}

static int cmd_status(int argc, char **argv)
{
	static const char where[] = "tx status";
	struct tx_opts o;
	struct session s;
	struct fc_gw_result res;
	const char *txid;
	int rc, ret;

	ret = parse(where, status_usage, 0, argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (argc - o.first_arg != 1)
		return fc_cli_usage_error(where, "%s",
					  argc - o.first_arg < 1 ? "missing TXID" : "too many arguments");
	txid = argv[o.first_arg];
	if (strlen(txid) != FC_TXID_HEX_LEN || strspn(txid, "0123456789abcdef") != FC_TXID_HEX_LEN)
		return fc_cli_usage_error(where, "'%s' is not a tx id (64 lowercase hex digits)",
					  txid);
	ret = session_open(where, &o, &s);
	if (ret != FC_CLI_OK)
		return ret;
	rc = fc_gwclient_status_sync(s.c, txid, &res);
	if (rc != FC_OK)
		ret = fc_cli_fail(where, "tx %s: %s", txid, res.message);
	else if (!res.found)
		ret = fc_cli_fail(where, "tx %s: not found in the ledger", txid);
	else {
		printf("tx_id:    %s\n", txid);
		printf("status:   %s\n", fc_gw_status_name(res.status));
		printf("height:   %llu\n", (unsigned long long)res.height);
		printf("index:    %u\n", res.index);
		ret = FC_CLI_OK;
	}
	fc_gw_result_clear(&res);
	session_close(&s);
	return ret;
}

static const struct fc_cli_cmd tx_cmds[] = {
    {"submit", "sign and submit a transaction, wait for its final status", cmd_submit},
    {"query", "evaluate a contract function read-only", cmd_query},
    {"status", "look up a transaction's final status by id", cmd_status},
};

FC_CLI_DEFINE_GROUP(tx, "submit, evaluate and look up transactions through a gateway", tx_cmds);
