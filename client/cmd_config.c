/* `flexchain config show|update`: the chain-agreed configuration
 * (fc_chaincfg.h, DESIGN.md "Membership and configuration").
 *
 * The configuration in force is not stored anywhere as such: it is the
 * genesis snapshot of the cluster file changed by every VALID config
 * transaction of the chain. Both commands rebuild it the way every node
 * does, from the blocks and certified verdicts a storage replica serves
 * (fc_storage_client.h queries), talking to the replicas in force as the
 * configuration changes along the way.
 *
 * `update` makes the next config transaction (fc_chaincfg_next), signs it
 * with the organisation's client identity (fc_chaincfg_envelope), submits
 * it to the orderers (following the leader's redirects, as any client
 * does), then waits until a storage replica has indexed the transaction
 * with its certified status. The reason of a TX_BAD_CONFIG is not part of
 * the ledger: it is recomputed here the way validators judged it, on the
 * configuration in force at the block's height. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chainview.h"
#include "cli.h"
#include "fc_canon.h"
#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_policy.h"
#include "fc_storage_client.h"
#include "fc_time.h"
#include "fc_wire.h"

#define MAX_CHANGES 16

static const char show_usage[] =
    "Usage: flexchain config show [--config FILE]\n"
    "\n"
    "Prints the configuration in force at the chain's height: the genesis\n"
    "configuration of the cluster file changed by every VALID config\n"
    "transaction, read back from a storage replica (the one with the highest\n"
    "height among those that answer). Shows the height read, the config\n"
    "sequence and the height it is in force from, the organisations, the\n"
    "policies (and which is the default), the contracts' policies, the memory\n"
    "shard map (version and nodes), the storage replicas and their write\n"
    "quorum.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML; default ./cluster.yaml)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 shown, 1 no storage replica answers or the chain does not\n"
    "fold into a configuration, 2 bad usage.\n";

static const char update_usage[] =
    "Usage: flexchain config update [--config FILE] [--org ORG] [changes...]\n"
    "\n"
    "Proposes the next config transaction (sequence = current + 1) made from\n"
    "the configuration in force plus the changes given, signs it with the\n"
    "organisation's client identity, submits it to the orderers and waits\n"
    "until the block holding it is decided. Prints the transaction's final\n"
    "status; a TX_BAD_CONFIG comes with the reason the validators refused it.\n"
    "A change that the configuration in force would refuse is not submitted\n"
    "unless --force is given.\n"
    "\n"
    "Changes (each may be repeated, up to 16 times):\n"
    "  --write-quorum N                   storage write quorum\n"
    "  --add-storage ID:HOST:PORT[:METRICS_PORT]\n"
    "                                     add a storage replica\n"
    "  --remove-storage ID                remove a storage replica\n"
    "  --add-memory ID:HOST:PORT:DATA_PORT[:METRICS_PORT]\n"
    "                                     add a memory node (new shard map);\n"
    "                                     DATA_PORT must be the node's data_port\n"
    "                                     in the cluster file; METRICS_PORT is\n"
    "                                     where `flexchain cluster status` reads\n"
    "                                     its /metrics (left out: none); a HOST\n"
    "                                     holding ':' goes in brackets\n"
    "  --remove-memory ID                 remove a memory node (new shard map)\n"
    "  --policy NAME=RULE                 set or add an endorsement policy,\n"
    "                                     e.g. --policy 'both=AND(Org1,Org2)'\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML; default ./cluster.yaml)\n"
    "  -o, --org ORG        sign as client.ORG (default: the first organisation)\n"
    "  -f, --force          submit even when the local check refuses the change\n"
    "  -t, --timeout-s S    give up waiting for the decision after S seconds\n"
    "                       (default 60)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 the transaction is VALID (in force from the next height),\n"
    "1 it was refused (locally, by the orderers or as TX_BAD_CONFIG) or no\n"
    "decision came in time, 2 bad usage.\n";

/* ------------------------------------------------------------ show */

static void print_nodes(const struct fc_config_node *n, size_t cnt, int data_port)
{
	for (size_t i = 0; i < cnt; i++) {
		printf("  %s %s:%u", n[i].id, n[i].host, (unsigned)n[i].port);
		if (data_port && n[i].data_port)
			printf(" data_port=%u", (unsigned)n[i].data_port);
		if (n[i].metrics_port)
			printf(" metrics_port=%u", (unsigned)n[i].metrics_port);
		printf("\n");
	}
}

static void print_config(const struct fc_chaincfg *cc)
{
	const struct fc_config *c = fc_chaincfg_config(cc);

	printf("sequence: %llu\n", (unsigned long long)fc_chaincfg_sequence(cc));
	printf("in force from height: %llu\n", (unsigned long long)fc_chaincfg_from_height(cc));
	printf("organisations:");
	for (size_t i = 0; i < c->n_orgs; i++)
		printf(" %s", c->orgs[i].name);
	printf("\npolicies:\n");
	for (size_t i = 0; i < c->n_policies; i++)
		printf("  %s = %s%s\n", c->policies[i].name, c->policies[i].rule,
		       i == c->default_policy ? " (default)" : "");
	if (c->n_contracts) {
		printf("contracts:\n");
		for (size_t i = 0; i < c->n_contracts; i++)
			printf("  %s: %s\n", c->contracts[i].name,
			       c->policies[c->contracts[i].policy_index].name);
	}
	printf("shard map version: %llu\n", (unsigned long long)fc_chaincfg_shard_version(cc));
	printf("memory nodes: %zu\n", c->memory.n_nodes);
	print_nodes(c->memory.nodes, c->memory.n_nodes, 1);
	printf("storage replicas: %zu\n", c->storage.n_replicas);
	print_nodes(c->storage.replicas, c->storage.n_replicas, 0);
	printf("storage write quorum: %u\n", (unsigned)c->storage.write_quorum);
}

static int cmd_show(int argc, char **argv)
{
	static const char where[] = "config show";
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "cluster.yaml";
	char em[FC_ERRMSG_LEN] = "";
	struct cli_chainview v;
	uint64_t height = 0;
	int c, empty = 1, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		default:
			return fc_cli_opt_common(where, c, argv, show_usage);
		}
	}
	if (optind < argc)
		return fc_cli_usage_error(where, "unexpected argument '%s'", argv[optind]);
	rc = cli_chainview_open(&v, config, em);
	if (rc == FC_OK)
		rc = cli_chainview_current(&v, &height, &empty, em);
	if (rc != FC_OK) {
		cli_chainview_close(&v);
		return fc_cli_fail(where, "%s", em);
	}
	if (empty)
		printf("height: none (empty chain, read from %s)\n", cli_chainview_replica_id(&v, v.pref));
	else
		printf("height: %llu (read from %s)\n", (unsigned long long)height,
		       cli_chainview_replica_id(&v, v.pref));
	print_config(v.cc);
	cli_chainview_close(&v);
	return FC_CLI_OK;
}

/* ------------------------------------------------------------ update */

struct changes {
	struct fc_chaincfg_node add_st[MAX_CHANGES], add_mem[MAX_CHANGES];
	const char *rm_st[MAX_CHANGES], *rm_mem[MAX_CHANGES];
	const char *pol_name[MAX_CHANGES], *pol_rule[MAX_CHANGES];
	char buf[4 * MAX_CHANGES][512]; /* copies of the arguments, split */
	size_t n_buf;
	struct fc_chaincfg_changes ch;
};

static int parse_port(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return 0;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > 65535)
		return 0;
	*out = (uint32_t)v;
	return 1;
}

/* ID:HOST:PORT[:METRICS_PORT] (memory: ID:HOST:PORT:DATA_PORT[:METRICS_PORT]).
 * The id ends at the first ':'; a host holding ':' (IPv6) is written in
 * brackets, which are not kept; the ports follow, the last one optional. */
static int parse_node(struct changes *ch, const char *arg, int memory, struct fc_chaincfg_node *n)
{
	uint32_t *want[3];
	size_t n_want = 0, n_got = 0;
	char *s, *c, *host;

	if (ch->n_buf == sizeof ch->buf / sizeof ch->buf[0] || strlen(arg) >= sizeof ch->buf[0])
		return 0;
	s = ch->buf[ch->n_buf++];
	strcpy(s, arg);
	want[n_want++] = &n->port;
	if (memory)
		want[n_want++] = &n->data_port;
	want[n_want++] = &n->metrics_port;
	n->data_port = n->metrics_port = 0;
	if (!(c = strchr(s, ':')) || c == s)
		return 0;
	*c = '\0';
	n->id = s;
	host = c + 1;
	if (*host == '[') {
		if (!(c = strchr(++host, ']')) || c[1] != ':')
			return 0;
		*c++ = '\0';
	} else if (!(c = strchr(host, ':'))) {
		return 0;
	}
	*c = '\0';
	if (!*host)
		return 0;
	n->host = host;
	for (s = c + 1; s && n_got < n_want; n_got++) {
		if ((c = strchr(s, ':')))
			*c++ = '\0';
		if (!parse_port(s, want[n_got]))
			return 0;
		s = c;
	}
	/* every field used, and at most the last port (METRICS_PORT) left out */
	return !s && n_got + 1 >= n_want;
}

static int parse_policy(struct changes *ch, const char *arg)
{
	char *s, *eq;
	size_t i = ch->ch.n_policies;

	if (ch->n_buf == sizeof ch->buf / sizeof ch->buf[0] || strlen(arg) >= sizeof ch->buf[0])
		return 0;
	s = ch->buf[ch->n_buf++];
	strcpy(s, arg);
	eq = strchr(s, '=');
	if (!eq || eq == s || !eq[1])
		return 0;
	*eq = '\0';
	ch->pol_name[i] = s;
	ch->pol_rule[i] = eq + 1;
	ch->ch.n_policies++;
	return 1;
}

/* Submits the envelope to the orderers, following the leader's redirects,
 * until one accepts it for ordering (or says it is ordered already). */
static int submit(const struct fc_config *cfg, const Flexchain__Envelope *env, uint64_t deadline,
		  char *em)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	char last[FC_ERRMSG_LEN] = "no orderer answered";
	uint8_t *frame = NULL;
	size_t len = 0;
	size_t target = 0;
	int rc;

	if (!cfg->n_orderers)
		return fc_errf(em, FC_ECONFIG, "no orderers in the configuration");
	m.request_id = 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ENVELOPE;
	m.envelope = (Flexchain__Envelope *)env;
	rc = fc_wire_encode(&m.base, &frame, &len, em);
	if (rc != FC_OK)
		return rc;
	rc = FC_ETIMEOUT;
	while (fc_mono_ms() < deadline) {
		const struct fc_config_node *n = &cfg->orderers[target];
		Flexchain__ControlMessage *r = NULL;
		struct fc_netc *c = NULL;
		uint8_t *in = NULL;
		size_t ilen = 0;
		size_t next = (target + 1) % cfg->n_orderers;

		if (fc_netc_connect(n->host, n->port, 1000, &c, last) == FC_OK &&
		    fc_netc_send(c, frame, len, 5000, last) == FC_OK &&
		    fc_netc_recv(c, &in, &ilen, 0, 10000, last) == FC_OK &&
		    fc_wire_decode(&flexchain__control_message__descriptor, in, ilen,
				   FC_WIRE_MAX_MSG, (ProtobufCMessage **)&r, last) == FC_OK) {
			const Flexchain__SubmitResult *sr = r->submit_result;
			if (r->body_case != FLEXCHAIN__CONTROL_MESSAGE__BODY_SUBMIT_RESULT || !sr) {
				snprintf(last, sizeof last, "%s: unexpected reply", n->id);
			} else if (sr->code == FC_OK || (sr->code == FC_EEXIST &&
							 strstr(sr->message, "ordered in block"))) {
				rc = FC_OK;
			} else if (sr->code == FC_EAGAIN || sr->code == FC_EBUSY ||
				   sr->code == FC_EEXIST) {
				snprintf(last, sizeof last, "%s: %s", n->id, sr->message);
				for (size_t i = 0; sr->leader[0] && i < cfg->n_orderers; i++) {
					char a[300];
					snprintf(a, sizeof a, "%s:%u", cfg->orderers[i].host,
						 (unsigned)cfg->orderers[i].port);
					if (strcmp(a, sr->leader) == 0)
						next = i;
				}
			} else {
				rc = fc_errf(em, (int)sr->code, "refused by %s: %s", n->id,
					     sr->message);
				fc_wire_free(&r->base);
				fc_free(in);
				fc_netc_close(c);
				break;
			}
		}
		fc_wire_free(r ? &r->base : NULL);
		fc_free(in);
		fc_netc_close(c);
		if (rc == FC_OK)
			break;
		target = next;
		usleep(100 * 1000);
	}
	if (rc == FC_ETIMEOUT)
		fc_errf(em, rc, "not accepted by the orderers in time: %s", last);
	fc_free(frame);
	return rc;
}

/* Waits until a replica has indexed the tx with a decided status. */
static int wait_decided(struct cli_chainview *v, const char *txid, uint64_t deadline,
			Flexchain__TxInfo **out, char *em)
{
	char err[FC_ERRMSG_LEN] = "no storage replica answered";
	int rc;

	*out = NULL;
	while (fc_mono_ms() < deadline) {
		rc = cli_chainview_client(v, em);
		if (rc != FC_OK)
			return rc;
		for (size_t r = 0; r < fc_storage_client_replicas(v->sc); r++) {
			Flexchain__TxInfo *ti = NULL;
			if (fc_storage_get_tx(v->sc, r, txid, &ti, err) != FC_OK)
				continue;
			if (ti->found && ti->status != FLEXCHAIN__TX_STATUS__TX_UNKNOWN) {
				*out = ti;
				return FC_OK;
			}
			fc_wire_free(&ti->base);
		}
		usleep(100 * 1000);
	}
	return fc_errf(em, FC_ETIMEOUT, "tx %s: no decision in time (%s)", txid, err);
}

/* Why block `height`'s transaction `index` was refused: judged as the
 * validators did, on the configuration in force at that height changed by
 * the block's earlier VALID config transactions. */
static int bad_config_reason(struct cli_chainview *v, uint64_t height, uint32_t index, char *why,
			     char *em)
{
	const Flexchain__ConfigTx *earlier[64];
	Flexchain__BlockReply *br = NULL;
	char err[FC_ERRMSG_LEN] = "";
	size_t n_earlier = 0;
	int rc;

	rc = cli_chainview_fold(v, height, em);
	if (rc != FC_OK)
		return rc;
	rc = FC_EIO;
	for (size_t r = 0; r < fc_storage_client_replicas(v->sc) && rc != FC_OK; r++)
		rc = fc_storage_get_blocks(v->sc, r, height, 1, &br, err);
	if (rc != FC_OK)
		return fc_errf(em, rc, "read block %llu: %s", (unsigned long long)height, err);
	if (br->n_blocks < 1 || br->n_decisions < 1 || !br->decisions[0]->verdict ||
	    index >= br->blocks[0]->n_envelopes ||
	    br->decisions[0]->verdict->tx_status.len != br->blocks[0]->n_envelopes ||
	    !br->blocks[0]->envelopes[index]->config) {
		rc = fc_errf(em, FC_EPROTO, "block %llu does not hold the tx at %u",
			     (unsigned long long)height, (unsigned)index);
		goto out;
	}
	for (uint32_t i = 0; i < index && n_earlier < 64; i++) {
		const Flexchain__Envelope *e = br->blocks[0]->envelopes[i];
		if (e->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && e->config &&
		    br->decisions[0]->verdict->tx_status.data[i] == FLEXCHAIN__TX_STATUS__TX_VALID)
			earlier[n_earlier++] = e->config;
	}
	rc = fc_chaincfg_check_after(v->cc, earlier, n_earlier,
				     br->blocks[0]->envelopes[index]->config, why);
	if (rc == FC_OK) {
		snprintf(why, FC_ERRMSG_LEN,
			 "refused by the validators, though the configuration in force "
			 "accepts it");
	} else if (rc != FC_ECONFIG) {
		fc_errf(em, rc, "%s", why);
		goto out;
	}
	rc = FC_OK;
out:
	fc_wire_free(&br->base);
	return rc;
}

static const char *status_name(uint32_t s)
{
	const ProtobufCEnumValue *e =
	    protobuf_c_enum_descriptor_get_value(&flexchain__tx_status__descriptor, (int)s);

	return e ? e->name : "TX_UNKNOWN";
}

static int cmd_update(int argc, char **argv)
{
	static const char where[] = "config update";
	enum { O_WQ = 256, O_ADD_ST, O_RM_ST, O_ADD_MEM, O_RM_MEM, O_POLICY };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"org", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"timeout-s", required_argument, NULL, 't'},
	    {"write-quorum", required_argument, NULL, O_WQ},
	    {"add-storage", required_argument, NULL, O_ADD_ST},
	    {"remove-storage", required_argument, NULL, O_RM_ST},
	    {"add-memory", required_argument, NULL, O_ADD_MEM},
	    {"remove-memory", required_argument, NULL, O_RM_MEM},
	    {"policy", required_argument, NULL, O_POLICY},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "cluster.yaml", *org = NULL;
	char em[FC_ERRMSG_LEN] = "", why[FC_ERRMSG_LEN] = "", cid[160];
	char txid[FC_TXID_HEX_LEN + 1] = "";
	unsigned long timeout_s = 60, ul;
	struct changes *chg = NULL;
	struct cli_chainview v;
	Flexchain__ConfigTx *tx = NULL;
	Flexchain__Envelope *env = NULL;
	Flexchain__TxInfo *ti = NULL;
	fc_cert *cert = NULL;
	fc_key *key = NULL;
	uint64_t height = 0, deadline;
	int c, empty = 1, force = 0, rc = FC_CLI_FAIL, frc;
	char *end;

	memset(&v, 0, sizeof v);
	chg = fc_calloc(1, sizeof *chg);
	if (!chg)
		return fc_cli_fail(where, "out of memory");
	chg->ch.add_storage = chg->add_st;
	chg->ch.add_memory = chg->add_mem;
	chg->ch.remove_storage = chg->rm_st;
	chg->ch.remove_memory = chg->rm_mem;
	chg->ch.policy_names = chg->pol_name;
	chg->ch.policy_rules = chg->pol_rule;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:ft:h", longopts, NULL)) != -1) {
		struct fc_chaincfg_changes *ch = &chg->ch;
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 't':
			timeout_s = strtoul(optarg, &end, 10);
			if (*end || !*optarg || *optarg == '-' || !timeout_s || timeout_s > 86400) {
				rc = fc_cli_usage_error(where, "bad timeout '%s'", optarg);
				goto out;
			}
			break;
		case O_WQ:
			ul = strtoul(optarg, &end, 10);
			if (*end || !*optarg || *optarg == '-' || !ul || ul > 1000) {
				rc = fc_cli_usage_error(where, "bad write quorum '%s'", optarg);
				goto out;
			}
			ch->write_quorum = (uint32_t)ul;
			break;
		case O_ADD_ST:
		case O_ADD_MEM: {
			int mem = c == O_ADD_MEM;
			size_t *n = mem ? &ch->n_add_memory : &ch->n_add_storage;
			struct fc_chaincfg_node *nd = mem ? &chg->add_mem[*n] : &chg->add_st[*n];
			if (*n == MAX_CHANGES || !parse_node(chg, optarg, mem, nd)) {
				rc =
				    fc_cli_usage_error(where, "bad node '%s' (want %s)", optarg,
						       mem ? "ID:HOST:PORT:DATA_PORT[:METRICS_PORT]"
							   : "ID:HOST:PORT[:METRICS_PORT]");
				goto out;
			}
			(*n)++;
			break;
		}
		case O_RM_ST:
		case O_RM_MEM: {
			int mem = c == O_RM_MEM;
			size_t *n = mem ? &ch->n_remove_memory : &ch->n_remove_storage;
			if (*n == MAX_CHANGES || !*optarg) {
				rc = fc_cli_usage_error(where, "bad or too many removals '%s'",
							optarg);
				goto out;
			}
			(mem ? chg->rm_mem : chg->rm_st)[(*n)++] = optarg;
			break;
		}
		case O_POLICY:
			if (ch->n_policies == MAX_CHANGES || !parse_policy(chg, optarg)) {
				rc = fc_cli_usage_error(where, "bad policy '%s' (want NAME=RULE)",
							optarg);
				goto out;
			}
			break;
		default:
			rc = fc_cli_opt_common(where, c, argv, update_usage);
			goto out;
		}
	}
	if (optind < argc) {
		rc = fc_cli_usage_error(where, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!chg->ch.write_quorum && !chg->ch.n_add_storage && !chg->ch.n_remove_storage &&
	    !chg->ch.n_add_memory && !chg->ch.n_remove_memory && !chg->ch.n_policies) {
		rc = fc_cli_usage_error(where, "no change given");
		goto out;
	}
	deadline = fc_mono_ms() + 1000u * timeout_s;

	if (cli_chainview_open(&v, config, em) != FC_OK) {
		rc = fc_cli_fail(where, "%s", em);
		goto out;
	}
	if (cli_chainview_current(&v, &height, &empty, em) != FC_OK) {
		rc = fc_cli_fail(where, "configuration in force: %s", em);
		goto out;
	}
	if (fc_chaincfg_next(v.cc, &chg->ch, &tx, em) != FC_OK) {
		rc = fc_cli_fail(where, "%s", em);
		goto out;
	}
	frc = fc_chaincfg_check(v.cc, tx, why);
	if (frc != FC_OK && (!force || frc != FC_ECONFIG)) {
		rc = fc_cli_fail(where, "refused by the configuration in force: %s", why);
		goto out;
	}
	if (!org)
		org = v.cfg->orgs[0].name;
	if (fc_identity_client_id(org, cid, sizeof cid, em) != FC_OK ||
	    fc_identity_load(v.cfg->crypto_dir, org, FC_IDENTITY_ROLE_CLIENT, cid, &cert, &key,
			     em) != FC_OK) {
		rc = fc_cli_fail(where, "client identity of %s: %s", org, em);
		goto out;
	}
	if (fc_chaincfg_envelope(tx, cert, key, &env, txid, em) != FC_OK ||
	    submit(v.cfg, env, deadline, em) != FC_OK) {
		rc = fc_cli_fail(where, "%s", em);
		goto out;
	}
	printf("submitted config tx %s (sequence %llu)\n", txid, (unsigned long long)tx->sequence);
	fflush(stdout);
	if (wait_decided(&v, txid, deadline, &ti, em) != FC_OK) {
		rc = fc_cli_fail(where, "%s", em);
		goto out;
	}
	printf("tx=%s height=%llu index=%u status=%s\n", txid, (unsigned long long)ti->height,
	       (unsigned)ti->index, status_name(ti->status));
	if (ti->status == FLEXCHAIN__TX_STATUS__TX_VALID) {
		printf("config sequence %llu in force from height %llu\n",
		       (unsigned long long)tx->sequence, (unsigned long long)ti->height + 1);
		rc = FC_CLI_OK;
		goto out;
	}
	if (ti->status == FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG) {
		if (bad_config_reason(&v, ti->height, ti->index, why, em) != FC_OK)
			snprintf(why, sizeof why, "reason unknown: %s", em);
		rc = fc_cli_fail(where, "tx %.16s TX_BAD_CONFIG at height %llu: %s", txid,
				 (unsigned long long)ti->height, why);
		goto out;
	}
	rc = fc_cli_fail(where, "tx %.16s %s at height %llu", txid, status_name(ti->status),
			 (unsigned long long)ti->height);
out:
	if (ti)
		fc_wire_free(&ti->base);
	if (env)
		fc_wire_free(&env->base);
	fc_chaincfg_tx_free(tx);
	fc_crypto_key_free(key);
	fc_crypto_cert_free(cert);
	cli_chainview_close(&v);
	fc_free(chg);
	return rc;
}

static const struct fc_cli_cmd config_cmds[] = {
    {"show", "the configuration in force at the chain's height", cmd_show},
    {"update", "propose a config transaction and wait for its status", cmd_update},
};

FC_CLI_DEFINE_GROUP(config, "Show and change the chain-agreed configuration", config_cmds);
