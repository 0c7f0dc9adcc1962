/* flexchain-orderer: one member of the ordering cluster.
 *
 *   flexchain-orderer --config FILE --id ID [--log-level LEVEL]
 *
 * Runs until SIGINT or SIGTERM, then closes Raft and every connection. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <systemd/sd-daemon.h>

#include "fc_config.h"
#include "fc_daemon.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_ops.h"
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
	/* /metrics, /healthz (fc_ops.h): gauges sampled on the loop by tick,
	 * since the orderer's accessors belong to the loop thread */
	struct fc_metrics *reg;
	struct fc_ops_server *ops;
	struct fc_metric *height, *leader, *term, *live, *decided, *storage_validated;
	struct fc_metric *txs[8]; /* decided transactions by TxStatus value */
	uv_timer_t tick;
	int tick_on;
	atomic_int serving;
};

static void on_tick(uv_timer_t *t)
{
	struct app *a = t->data;

	fc_metric_set(a->height, (double)fc_orderer_height(a->o));
	fc_metric_set(a->leader, fc_orderer_is_leader(a->o) ? 1 : 0);

	struct fc_orderer_stats st;
	fc_orderer_stats(a->o, &st);
	fc_metric_set(a->term, (double)st.raft_term);
	fc_metric_set(a->live, (double)st.live_compute);
	fc_metric_set(a->decided, (double)st.blocks_decided);
	fc_metric_set(a->storage_validated, (double)st.blocks_storage_validated);
	for (size_t i = 0; i < 8; i++)
		fc_metric_set(a->txs[i], (double)st.txs_by_status[i]);
}

/* Status label values, by TxStatus value (proto/flexchain.proto). */
static const char *const tx_status_names[8] = {
    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config"};

static int health(void *ud, char *reason, size_t n)
{
	struct app *a = ud;

	if (atomic_load(&a->serving))
		return 1;
	snprintf(reason, n, "%s", a->stopped ? "shutting down" : "starting");
	return 0;
}

/* Registry and, with a metrics_port, the HTTP server. */
static int ops_start(struct app *a, const struct fc_config *cfg, const char *id, char *errmsg)
{
	const struct fc_config_node *n = fc_config_find_node_kind(cfg, FC_NODE_ORDERER, id);
	int rc = fc_metrics_create(&a->reg, errmsg);

	if (rc == FC_OK)
		rc = fc_metrics_add_process(a->reg, "orderer", errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_height",
				      "Blocks in the local chain (applied height + 1).", NULL,
				      &a->height, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_raft_leader",
				      "1 while this orderer is the Raft leader.", NULL, &a->leader,
				      errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_raft_term", "Current Raft term.", NULL,
				      &a->term, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_live_compute_servers",
				      "Live compute servers (on the leader; 0 on followers).", NULL,
				      &a->live, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_blocks_decided",
				      "Blocks certified, stored and published by this orderer.",
				      NULL, &a->decided, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(a->reg, "fc_orderer_blocks_storage_validated",
				      "Decided blocks validated by the storage pool (fallback).",
				      NULL, &a->storage_validated, errmsg);
	for (size_t i = 0; i < 8 && rc == FC_OK; i++) {
		const char *labels[] = {"status", tx_status_names[i], NULL};
		rc = fc_metrics_gauge(a->reg, "fc_orderer_txs_decided",
				      i ? NULL : "Decided transactions by final status.", labels,
				      &a->txs[i], errmsg);
	}
	if (rc == FC_OK && n && n->metrics_port) {
		struct fc_ops_server_opts oo = {.bind = cfg->metrics.bind,
						.port = n->metrics_port,
						.metrics = a->reg,
						.health = health,
						.health_ud = a};
		rc = fc_ops_server_start(&oo, &a->ops, errmsg);
	}
	return rc;
}

static void closed(void *ud)
{
	struct app *a = ud;

	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	if (a->tick_on)
		uv_close((uv_handle_t *)&a->tick, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;

	if (a->stopped)
		return;
	a->stopped = 1;
	atomic_store(&a->serving, 0);
	sd_notify(0, "STOPPING=1");
	fc_log(FC_LOG_INFO, "orderer", "stopping", "signal=%d", signum);
	fc_orderer_stop(a->o, closed, a);
}

/* --snapshot-threshold, --snapshot-trailing, --txid-window */
static int on_extra(void *ud, int val, const char *arg)
{
	struct fc_orderer_opts *oo = ud;
	unsigned v = (unsigned)strtoul(arg, NULL, 10);

	if (val == 'S')
		oo->snapshot_threshold = v;
	else if (val == 'T')
		oo->snapshot_trailing = v;
	else
		oo->txid_window = v;
	return FC_DAEMON_RUN;
}

int main(int argc, char **argv)
{
	static const struct option extra_opts[] = {
	    {"snapshot-threshold", required_argument, NULL, 'S'},
	    {"snapshot-trailing", required_argument, NULL, 'T'},
	    {"txid-window", required_argument, NULL, 'W'},
	    {NULL, 0, NULL, 0},
	};
	struct fc_orderer_opts oopts;
	const struct fc_daemon_cli cli = {.prog = "flexchain-orderer",
					  .usage = usage,
					  .extra = extra_opts,
					  .extra_short = "S:T:W:",
					  .on_extra = on_extra,
					  .ud = &oopts};
	struct fc_daemon_args args;
	const char *id;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	struct app a;
	uv_loop_t loop;
	int rc, status = 1;

	memset(&a, 0, sizeof a);
	memset(&oopts, 0, sizeof oopts);
	rc = fc_daemon_parse(&cli, argc, argv, &args);
	if (rc != FC_DAEMON_RUN)
		return rc;
	id = args.id;
	signal(SIGPIPE, SIG_IGN);
	/* an unknown id is refused by fc_orderer_create (start-up failure) */
	if (fc_daemon_load(&cli, &args, FC_NODE_ORDERER, NULL, &cfg) != FC_OK)
		return 1;
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "flexchain-orderer: cannot create event loop\n");
		goto free_cfg;
	}
	rc = ops_start(&a, cfg, id, errmsg);
	if (rc == FC_OK)
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
	uv_timer_init(&loop, &a.tick);
	a.tick.data = &a;
	a.tick_on = 1;
	uv_timer_start(&a.tick, on_tick, 0, 250);
	atomic_store(&a.serving, 1);
	/* listening on the client and Raft ports: ready for systemd
	 * (Type=notify); a no-op when not run by systemd */
	sd_notify(0, "READY=1");
	uv_run(&loop, UV_RUN_DEFAULT);
	status = 0;
destroy:
	fc_orderer_destroy(a.o);
close_loop:
	fc_ops_server_stop(a.ops);
	fc_metrics_destroy(a.reg);
	if (uv_loop_close(&loop) != 0)
		fc_log(FC_LOG_WARN, "orderer", "event loop closed with live handles", NULL);
free_cfg:
	fc_config_free(cfg);
	return status;
}
