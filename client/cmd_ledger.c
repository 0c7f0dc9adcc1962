/* `flexchain ledger ...`: offline inspection of a storage replica's ledger.
 *
 * `ledger verify` walks the whole chain in height order and checks, for each
 * block: structure, the hash link to the previous header, the data and graph
 * hashes, that verdict and certificate name the block, and every signature
 * (orderer header and certificate signatures, verdict signatures) against
 * the configuration's CAs (fc_storage_verify_certified, the daemon's own
 * rules). Then fc_ledger_verify replays the chain and compares the world
 * state, transaction index and meta with what is stored. The first fault is
 * reported with its height. The ledger must not be open by a running
 * daemon (RocksDB holds a lock). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fc_canon.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_ledger.h"
#include "fc_log.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define WHERE "ledger verify"

static const char verify_usage[] =
    "Usage: flexchain ledger verify --config FILE (--id STORAGE_ID | --data-dir DIR)\n"
    "                               [--scratch DIR]\n"
    "\n"
    "Verifies a storage replica's ledger offline (stop the replica first): the\n"
    "hash chain, data and graph hashes, orderer, verdict and certificate\n"
    "signatures against the configuration's CAs, then replays every block and\n"
    "compares the world state and transaction index with what is stored.\n"
    "Reports the first fault with its height; prints a summary when all is well.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE    cluster configuration (YAML)\n"
    "  -i, --id ID          the storage replica whose data_dir to verify\n"
    "  -d, --data-dir DIR   verify the ledger in DIR instead\n"
    "  -s, --scratch DIR    replay on disk under DIR (default: in memory)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 ledger intact, 1 a fault was found or the ledger cannot be\n"
    "read, 2 bad usage.\n";

static const char *const status_names[] = {
    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

static int same(const ProtobufCBinaryData *b, const uint8_t *h)
{
	return b->len == FC_HASH_LEN && memcmp(b->data, h, FC_HASH_LEN) == 0;
}

/* Checks one block; on a fault fills em and returns an error code. */
static int check_entry(fc_crypto_castore *cs, const struct fc_ledger_entry *e, uint64_t want,
		       const uint8_t prev[FC_HASH_LEN], uint8_t hash[FC_HASH_LEN], char *em)
{
	const Flexchain__Block *b = e->block;
	char x[2 * FC_HASH_LEN + 1], y[2 * FC_HASH_LEN + 1];
	int rc;

	if (e->height != want)
		return fc_errf(em, FC_EMISMATCH, "expected height %llu, found %llu",
			       (unsigned long long)want, (unsigned long long)e->height);
	if (!b || !e->verdict || !e->cert)
		return fc_errf(em, FC_EPROTO, "block, verdict or certificate missing");
	rc = fc_wire_check_block(b, em);
	if (rc == FC_OK)
		rc = fc_wire_check_verdict(e->verdict, b->n_envelopes, em);
	if (rc == FC_OK)
		rc = fc_wire_check_certificate(e->cert, em);
	if (rc != FC_OK)
		return fc_errwrap(em, rc, "malformed");
	if (b->header->height != want)
		return fc_errf(em, FC_EMISMATCH, "stored under height %llu but header says %llu",
			       (unsigned long long)want, (unsigned long long)b->header->height);
	if (want > 0 && !same(&b->header->prev_hash, prev)) {
		fc_canon_hex(b->header->prev_hash.data, FC_HASH_LEN, x);
		fc_canon_hex(prev, FC_HASH_LEN, y);
		return fc_errf(em, FC_EMISMATCH,
			       "broken hash link: prev_hash %s does not match header hash %s of "
			       "height %llu",
			       x, y, (unsigned long long)(want - 1));
	}
	rc = fc_canon_check_block_hashes(b, em);
	if (rc != FC_OK)
		return rc;
	rc = fc_hash_header(b->header, hash);
	if (rc != FC_OK)
		return fc_errf(em, rc, "header hash");
	if (!same(&e->verdict->block_hash, hash) || !same(&e->cert->block_hash, hash))
		return fc_errf(em, FC_EMISMATCH, "verdict or certificate names another block");
	return fc_storage_verify_certified(cs, b, e->verdict, e->cert, em);
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},	{"id", required_argument, NULL, 'i'},
	    {"data-dir", required_argument, NULL, 'd'}, {"scratch", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *id = NULL, *dir = NULL, *scratch = NULL;
	struct fc_config *cfg = NULL;
	fc_crypto_castore *cs = NULL;
	struct fc_ledger *l = NULL;
	struct fc_ledger_iter *it = NULL;
	struct fc_ledger_opts lo;
	struct fc_ledger_verify_report rep;
	unsigned long long counts[N_STATUS] = {0};
	uint8_t prev[FC_HASH_LEN] = {0}, hash[FC_HASH_LEN];
	char em[FC_ERRMSG_LEN] = "", hex[2 * FC_HASH_LEN + 1];
	uint64_t head = 0, want = 0;
	int c, rc, ret = FC_CLI_FAIL;

	/* one line per fault on stderr: the ledger's own info lines are noise */
	if (!getenv("FLEXCHAIN_LOG"))
		fc_log_set_level(FC_LOG_WARN);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:d:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 's':
			scratch = optarg;
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return FC_CLI_OK;
		case ':':
			return fc_cli_usage_error(WHERE, "missing value for %s", argv[optind - 1]);
		default:
			return fc_cli_usage_error(WHERE, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fc_cli_usage_error(WHERE, "unexpected argument '%s'", argv[optind]);
	if (!config)
		return fc_cli_usage_error(WHERE, "missing --config");
	if (!id == !dir)
		return fc_cli_usage_error(WHERE, "give exactly one of --id and --data-dir");

	rc = fc_config_load(config, &cfg, em);
	if (rc != FC_OK)
		return fc_cli_fail(WHERE, "%s", em);
	if (id) {
		const struct fc_config_node *n = fc_config_find_node_kind(cfg, FC_NODE_STORAGE, id);
		if (!n) {
			ret = fc_cli_usage_error(WHERE, "%s: no storage replica with id '%s'",
						 cfg->path, id);
			goto free_cfg;
		}
		dir = n->data_dir;
	}
	rc = fc_storage_castore_from_config(cfg, &cs, em);
	if (rc != FC_OK) {
		ret = fc_cli_fail(WHERE, "%s", em);
		goto free_cfg;
	}
	fc_ledger_opts_init(&lo);
	lo.must_exist = 1;
	rc = fc_ledger_open(dir, &lo, &l, em);
	if (rc != FC_OK) {
		ret = fc_cli_fail(WHERE, "cannot open the ledger in %s: %s", dir, em);
		goto free_cs;
	}
	if (fc_ledger_head(l, &head, NULL) != FC_OK) {
		printf("ledger %s is empty: nothing to verify\n", dir);
		ret = FC_CLI_OK;
		goto close_ledger;
	}
	rc = fc_ledger_iter_from(l, 0, head, 0, &it, em);
	if (rc != FC_OK) {
		ret = fc_cli_fail(WHERE, "%s", em);
		goto close_ledger;
	}
	for (;;) {
		const struct fc_ledger_entry *e = NULL;
		rc = fc_ledger_iter_next(it, &e, em);
		if (rc != FC_OK) {
			ret = fc_cli_fail(WHERE, "height %llu: %s", (unsigned long long)want, em);
			goto destroy_iter;
		}
		if (!e)
			break;
		rc = check_entry(cs, e, want, prev, hash, em);
		if (rc != FC_OK) {
			ret = fc_cli_fail(WHERE, "height %llu: %s", (unsigned long long)want, em);
			goto destroy_iter;
		}
		for (size_t i = 0; i < e->verdict->tx_status.len; i++) {
			uint8_t s = e->verdict->tx_status.data[i];
			counts[s < N_STATUS ? s : 0]++;
		}
		memcpy(prev, hash, FC_HASH_LEN);
		want++;
	}
	if (want != head + 1) {
		ret = fc_cli_fail(WHERE, "height %llu: block missing (head is %llu)",
				  (unsigned long long)want, (unsigned long long)head);
		goto destroy_iter;
	}
	rc = fc_ledger_verify(l, scratch, &rep, em);
	if (rc != FC_OK) {
		ret = fc_cli_fail(WHERE, "replay: %s", em);
		goto destroy_iter;
	}
	fc_canon_hex(prev, FC_HASH_LEN, hex);
	printf("ledger %s: ok\n", dir);
	printf("blocks: %llu (heights 0..%llu), head %s\n", (unsigned long long)rep.blocks,
	       (unsigned long long)head, hex);
	printf("transactions: %llu", (unsigned long long)rep.txs);
	for (size_t s = 1; s < N_STATUS; s++)
		if (counts[s])
			printf(" %s=%llu", status_names[s], counts[s]);
	printf("\nstate keys: %llu\n", (unsigned long long)rep.state_keys);
	ret = FC_CLI_OK;
destroy_iter:
	fc_ledger_iter_destroy(it);
close_ledger:
	fc_ledger_close(l);
free_cs:
	fc_crypto_castore_destroy(cs);
free_cfg:
	fc_config_free(cfg);
	return ret;
}

static const struct fc_cli_cmd ledger_cmds[] = {
    {"verify", "check a storage replica's ledger: hash chain, signatures, state", cmd_verify},
};

FC_CLI_DEFINE_GROUP(ledger, "Storage ledgers: offline verification", ledger_cmds);
