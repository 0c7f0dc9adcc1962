/* flexchain-orderer: one member of the ordering cluster.
 *
 *   flexchain-orderer --config FILE --id ID [--log-level LEVEL]
 *
 * Runs until SIGINT or SIGTERM, then closes Raft and every connection. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_orderer.h"

static const char usage[] =
    "Usage: flexchain-orderer --config FILE --id ID [--log-level LEVEL]\n"
    "                         [--snapshot-threshold N] [--snapshot-trailing N]\n"
    "                         [--txid-window N]\n"
    "Runs orderer ID of the cluster described by FILE.\n"
    "  --snapshot-threshold N  Raft entries between snapshots (default 256)\n"
    "  --snapshot-trailing N   entries kept after a snapshot (default 128)\n"
    "  --txid-window N         ordered tx ids remembered for duplicate checks\n"
    "                          (default 1000000)\n";

struct app {
	struct fc_orderer *o;
	uv_signal_t sigint, sigterm;
	int stopped;
};

static void closed(void *ud)
{
	struct app *a = ud;

	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;

	if (a->stopped)
		return;
	a->stopped = 1;
	fc_log(FC_LOG_INFO, "orderer", "stopping", "signal=%d", signum);
	fc_orderer_stop(a->o, closed, a);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"id", required_argument, NULL, 'i'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"snapshot-threshold", required_argument, NULL, 'S'},
	    {"snapshot-trailing", required_argument, NULL, 'T'},
	    {"txid-window", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cfg_path = NULL, *id = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	struct fc_orderer_opts oopts;
	struct app a;
	uv_loop_t loop;
	enum fc_log_level lvl;
	int c, rc, status = 1;

	memset(&a, 0, sizeof a);
	memset(&oopts, 0, sizeof oopts);
	while ((c = getopt_long(argc, argv, "c:i:l:S:T:W:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'l':
			if (fc_log_parse_level(optarg, &lvl) != FC_OK) {
				fprintf(stderr, "flexchain-orderer: bad log level %s\n", optarg);
				return 2;
			}
			fc_log_set_level(lvl);
			break;
		case 'S':
			oopts.snapshot_threshold = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			oopts.snapshot_trailing = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'W':
			oopts.txid_window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "flexchain-orderer: bad usage (see --help)\n");
			return 2;
		}
	}
	if (!cfg_path || !id || optind != argc) {
		fprintf(stderr, "flexchain-orderer: --config and --id are required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = fc_config_load(cfg_path, &cfg, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-orderer: %s\n", errmsg);
		return 1;
	}
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "flexchain-orderer: cannot create event loop\n");
		goto free_cfg;
	}
	rc = fc_orderer_create(&loop, cfg, id, &oopts, &a.o, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-orderer: %s\n", errmsg);
		goto close_loop;
	}
	uv_signal_init(&loop, &a.sigint);
	uv_signal_init(&loop, &a.sigterm);
	a.sigint.data = a.sigterm.data = &a;
	uv_signal_start(&a.sigint, on_signal, SIGINT);
	uv_signal_start(&a.sigterm, on_signal, SIGTERM);
	rc = fc_orderer_start(a.o, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "flexchain-orderer: %s\n", errmsg);
		a.stopped = 1;
		fc_orderer_stop(a.o, closed, &a);
		uv_run(&loop, UV_RUN_DEFAULT);
		goto destroy;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	status = 0;
destroy:
	fc_orderer_destroy(a.o);
close_loop:
	if (uv_loop_close(&loop) != 0)
		fc_log(FC_LOG_WARN, "orderer", "event loop closed with live handles", NULL);
free_cfg:
	fc_config_free(cfg);
	return status;
}
