/* flexchain-bench - drives YCSB, SmallBank or ML (k-means) load through the
 * gateways of a cluster (client SDK, fc_gwclient.h) and reports committed
 * throughput, latency percentiles and final statuses.
 *
 * Gateways are discovered from the orderers (fc_discover.h) unless given on
 * the command line, and the list is refreshed every REFRESH_MS on a libuv
 * work thread: a server that joins gets a client and load, one that drains
 * or leaves gets no new transaction (its client closes once idle).
 *
 * One libuv loop carries everything: one pipelined client per compute
 * server used (each failing over to the others), a pacing timer (open loop)
 * or completions (closed loop) that issue transactions, a one-second
 * progress timer that also cuts the per-second series. Latency is measured
 * from a transaction's *intended* start in the open loop (so a stalled
 * cluster shows up as latency, not as a lower offered rate) and from its
 * send in the closed loop, to the gateway's answer with its final status. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bench_core.h"
#include "fc_config.h"
#include "fc_discover.h"
#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_log.h"
#include "fc_mem.h"

#define PROG "flexchain-bench"
#define MAX_SECS 86400
#define REFRESH_MS 2000u	  /* gateway discovery refresh */
#define DISCOVER_TIMEOUT_MS 5000u /* the first discovery */
#define REFRESH_TIMEOUT_MS 1500u  /* each refresh */
#define MAX_GATEWAY_DEFS 64

static const char usage[] =
    "Usage: flexchain-bench --config FILE [options]\n"
    "\n"
    "Runs a workload against a flexchain cluster through its compute servers\n"
    "(gateways): a setup phase that creates the records, accounts or points, then\n"
    "the measured phase, then a report of committed tx/s, latency percentiles and\n"
    "final statuses. Progress goes to stderr, the report to stdout.\n"
    "\n"
    "Cluster:\n"
    "  -c, --config FILE        cluster configuration (YAML)\n"
    "  -o, --org ORG            sign as ORG's client identity (default: first org)\n"
    "  -g, --gateways IDS       load exactly these comma-separated compute servers\n"
    "                           (of the configuration or --gateway); no discovery\n"
    "      --gateway ID=HOST:PORT\n"
    "                           a compute server not in the configuration\n"
    "                           (repeatable); without --gateways, load exactly the\n"
    "                           ones given; no discovery\n"
    "  By default the gateways are discovered from the orderers (the compute\n"
    "  servers registered with the leader, including ones started at run time)\n"
    "  and the list is refreshed every 2 s: servers that join get load, draining\n"
    "  or departed ones get no new transactions. When discovery fails at start,\n"
    "  the configuration's compute servers are used (a notice says so).\n"
    "  Each gateway's client fails over to the others, and sends a transaction\n"
    "  that a draining gateway refused unexecuted to another one.\n"
    "\n"
    "Workload:\n"
    "  -w, --workload NAME      ycsb (default), smallbank or ml\n"
    "      --records N          ycsb: records (default 1000)\n"
    "      --read-ratio R       ycsb: fraction of reads, 0..1 (default 0.5)\n"
    "      --update-ratio R     ycsb: fraction of updates (default 1 - read ratio)\n"
    "      --dist D             ycsb: uniform or zipf (default zipf)\n"
    "      --theta T            ycsb: Zipf skew, 0 <= T < 1 (default 0.99)\n"
    "      --value-size B       ycsb: value bytes (default 100)\n"
    "      --accounts N         smallbank: accounts (default 1000)\n"
    "      --hot-ratio P        smallbank: probability of a hot account (default 0)\n"
    "      --hot-accounts N     smallbank: size of the hot set (default 100)\n"
    "      --ml-points N        ml: points every k-means reads (default 256, max 100000)\n"
    "      --ml-dim D           ml: coordinates a point (default 8, max 64)\n"
    "      --ml-k K             ml: clusters (default 8, max 64)\n"
    "      --ml-iters I         ml: iterations (default 100, max 1000)\n"
    "                           Setup loads the points (ml load_points, 100 a\n"
    "                           transaction); each transaction is ml kmeans over\n"
    "                           them (about N*K*I*D multiply-adds per endorsement;\n"
    "                           it writes only its centroids, blindly, so\n"
    "                           transactions do not conflict)\n"
    "      --no-setup           skip the setup phase (records already exist)\n"
    "      --setup-batch N      setup: asynchronous submits in flight (default 256)\n"
    "\n"
    "Load:\n"
    "  -r, --rate TPS           open loop: offer TPS transactions per second\n"
    "  -n, --concurrency N      closed loop: N outstanding transactions (default 16)\n"
    "  -d, --duration S         measured seconds (default 10)\n"
    "      --timeout-ms MS      per-transaction timeout (default 30000)\n"
    "      --max-outstanding N  open loop: cap on transactions in flight (default 100000)\n"
    "      --seed N             random seed (default: from the clock)\n"
    "\n"
    "Output:\n"
    "      --json FILE          the report as JSON, with a per-second series\n"
    "      --plot FILE.png      throughput and latency over time (needs gnuplot)\n"
    "      --ledger-check FILE  every transaction with a final status, one per line:\n"
    "                           TXID STATUS HEIGHT INDEX (setup ones included)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Outcomes (the report's \"outcomes\" line, the JSON \"status\" map):\n"
    "  valid, mvcc_read_conflict, ...  ordered; the final status in the ledger\n"
    "  rejected_by_contract     the contract refused the transaction at execution\n"
    "                           by a business rule (SmallBank: a balance that cannot\n"
    "                           cover a payment); never ordered, a normal outcome of\n"
    "                           the workload, not a failure\n"
    "  refused                  refused by the system, never ordered: bad signature\n"
    "                           or arguments, endorsement policy not met, every\n"
    "                           gateway draining, orderer refusal, ...\n"
    "  unknown                  timed out or connection lost: outcome unknown\n"
    "                           (JSON: outcome_unknown; TX_UNKNOWN is \"unknown\")\n"
    "  The abort rate counts every completion that is neither valid nor\n"
    "  rejected_by_contract (invalid statuses, refused, unknown), out of the\n"
    "  completions not rejected by the contract.\n"
    "\n"
    "Exit status: 0 the run completed, 1 it could not run, 2 bad usage.\n";

enum phase { PH_SETUP_SUBMIT, PH_SETUP_CONFIRM, PH_MEASURE, PH_DRAIN, PH_DONE };

/* --gateway ID=HOST:PORT */
struct gwdef {
	char id[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port;
};

struct opts {
	const char *config, *org, *gateways, *workload, *json, *plot, *ledger;
	struct gwdef defs[MAX_GATEWAY_DEFS];
	size_t ndefs;
	uint64_t ml_points, ml_dim, ml_k, ml_iters;
	uint64_t records, accounts, hot_accounts, setup_batch, max_outstanding, seed;
	double read_ratio, update_ratio, theta, hot_ratio, rate, duration;
	int dist_zipf, no_setup, have_seed;
	size_t value_size;
	unsigned concurrency, timeout_ms;
};

/* A gateway: one pipelined client. active: gets new transactions; an
 * inactive one (drained or gone from discovery) is closed once idle. */
struct gw {
	char id[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port;
	struct fc_gwclient *cl; /* NULL once closed */
	int active;
	int used; /* was given a transaction */
};

enum wkind { W_YCSB, W_SMALLBANK, W_ML };

struct bench {
	struct opts o;
	uv_loop_t loop;
	struct fc_config *cfg;
	struct fc_gw_identity *id;
	struct gw *gw;
	size_t ngw, gwcap, rr, cl_open;
	char gateways[4096];
	const char *gw_source;
	/* discovery refresh (dynamic gateways only) */
	int dynamic;
	uv_timer_t refresh;
	uv_work_t dwork;
	int dbusy, dfail_noted;
	struct fc_compute_info *dres;
	size_t dn;
	int drc;
	char dem[FC_ERRMSG_LEN];
	struct bench_rng rng;
	enum wkind kind;
	struct bench_ycsb y;
	struct bench_smallbank sb;
	struct bench_ml ml;
	enum phase phase;
	int fatal;
	char em[FC_ERRMSG_LEN];
	FILE *ledger;
	int tty;
	uint64_t last_line_us;
	/* setup */
	uint64_t setup_n, s_next, s_done, s_failed, s_out, s_t0;
	char (*s_ids)[FC_TXID_HEX_LEN + 1];
	uint64_t *retry;
	size_t n_retry;
	uint64_t c_next, c_done, c_progress_at;
	uv_timer_t setup_timer;
	/* measure */
	uint64_t t0, issued, outstanding;
	uv_timer_t pace, tick;
	struct bench_hist *lat, *sec_lat;
	uint64_t sec_committed, sec_completed;
	struct bench_second *secs;
	size_t n_secs;
	struct bench_report rep;
};

struct txctx {
	struct bench *b;
	uint64_t start_us;
	uint64_t idx;
};

static uint64_t now_us(void)
{
	return uv_hrtime() / 1000u;
}

/* ------------------------------------------------------------- helpers */

static int build_op(struct bench *b, const struct bench_op *op, struct fc_gw_proposal **p)
{
	int rc = fc_gw_proposal_build(b->id, op->contract, op->function, op->nargs, op->args, NULL,
				      0, p, b->em);
	if (rc != FC_OK)
		b->fatal = 1;
	return rc;
}

/* The client of the next active gateway, round robin; NULL if none (b->em
 * says so). */
static struct fc_gwclient *next_client(struct bench *b)
{
	for (size_t k = 0; k < b->ngw; k++) {
		struct gw *g = &b->gw[b->rr++ % b->ngw];
		if (g->active && g->cl) {
			g->used = 1;
			return g->cl;
		}
	}
	snprintf(b->em, sizeof b->em, "no gateway left to send to");
	return NULL;
}

static void ledger_line(struct bench *b, const struct fc_gw_result *res)
{
	if (!b->ledger || res->code != FC_OK || res->status == FLEXCHAIN__TX_STATUS__TX_UNKNOWN)
		return;
	fprintf(b->ledger, "%s %s %" PRIu64 " %u\n", res->tx_id, fc_gw_status_name(res->status),
		res->height, res->index);
}

/* The live progress line: rewritten in place on a terminal. last: a line
 * that must not be skipped in a pipe. */
static void progress(struct bench *b, int last, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void progress(struct bench *b, int last, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (b->tty) {
		fprintf(stderr, "\r\033[K%s", line);
	} else {
		/* a pipe gets plain lines, at most one a second */
		uint64_t now = now_us();
		if (b->last_line_us && now - b->last_line_us < 1000000u && !last)
			return;
		b->last_line_us = now;
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
}

static void end_progress(struct bench *b)
{
	if (b->tty)
		fputc('\n', stderr);
}

/* One line on stderr that the progress line does not overwrite. */
static void note(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->tty)
		fputs("\r\033[K", stderr);
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void clients_closed(void *ud)
{
	struct bench *b = ud;

	b->cl_open--;
}

static void stop_all(struct bench *b)
{
	if (b->phase == PH_DONE)
		return;
	b->phase = PH_DONE;
	uv_timer_stop(&b->pace);
	uv_timer_stop(&b->tick);
	uv_timer_stop(&b->setup_timer);
	uv_timer_stop(&b->refresh);
	for (size_t i = 0; i < b->ngw; i++)
		if (b->gw[i].cl) {
			fc_gwclient_close(b->gw[i].cl, clients_closed, b);
			b->gw[i].cl = NULL;
		}
	uv_close((uv_handle_t *)&b->pace, NULL);
	uv_close((uv_handle_t *)&b->tick, NULL);
	uv_close((uv_handle_t *)&b->setup_timer, NULL);
	uv_close((uv_handle_t *)&b->refresh, NULL);
}

/* --------------------------------------------------------------- setup */

static void start_measure(struct bench *b);
static void setup_pump(struct bench *b);

static void setup_op(struct bench *b, uint64_t i, struct bench_op *op)
{
	if (b->kind == W_SMALLBANK)
		bench_smallbank_setup_op(&b->sb, i, op);
	else if (b->kind == W_ML)
		bench_ml_setup_op(&b->ml, i, op);
	else
		bench_ycsb_setup_op(&b->y, i, op);
}

static void setup_submitted(const struct fc_gw_result *res, void *ud)
{
	struct txctx *t = ud;
	struct bench *b = t->b;

	b->s_out--;
	if (b->phase != PH_DONE) {
		if (res->code != FC_OK) {
			b->s_failed++;
			b->s_ids[t->idx][0] = '\0';
			if (b->s_failed == 1)
				note(b, "first refused setup transaction: tx %s: %s", res->tx_id,
				     res->message);
		}
		b->s_done++;
		setup_pump(b);
	}
	fc_free(t);
}

static void setup_confirmed(const struct fc_gw_result *res, void *ud)
{
	struct txctx *t = ud;
	struct bench *b = t->b;

	b->s_out--;
	if (b->phase != PH_DONE) {
		if (res->code == FC_OK && res->found) {
			ledger_line(b, res);
			if (res->status != FLEXCHAIN__TX_STATUS__TX_VALID)
				b->s_failed++;
			b->c_done++;
			b->c_progress_at = now_us();
		} else {
			b->retry[b->n_retry++] = t->idx; /* not committed yet: ask again */
		}
		setup_pump(b);
	}
	fc_free(t);
}

/* Asks the status of setup transaction i (answered in setup_confirmed). On
 * failure the run is stopped as fatal. */
static int setup_confirm(struct bench *b, uint64_t i)
{
	struct txctx *t = fc_calloc(1, sizeof *t);
	struct fc_gwclient *c = next_client(b);

	if (!t || !c || fc_gwclient_status(c, b->s_ids[i], setup_confirmed, t, b->em) != FC_OK) {
		fc_free(t);
		b->fatal = 1;
		stop_all(b);
		return FC_EIO;
	}
	t->b = b;
	t->idx = i;
	b->s_out++;
	return FC_OK;
}

/* Status queries of setup transactions not yet in the ledger go out again
 * from this timer, not straight away. */
static void setup_timer_cb(uv_timer_t *h)
{
	struct bench *b = h->data;

	while (b->phase == PH_SETUP_CONFIRM && b->n_retry && b->s_out < b->o.setup_batch) {
		if (setup_confirm(b, b->retry[--b->n_retry]) != FC_OK)
			return;
	}
	setup_pump(b);
}

static void setup_pump(struct bench *b)
{
	struct bench_op op;
	struct fc_gw_proposal *p;
	struct txctx *t;

	if (b->phase == PH_SETUP_SUBMIT) {
		while (b->s_next < b->setup_n && b->s_out < b->o.setup_batch) {
			uint64_t i = b->s_next++;
			setup_op(b, i, &op);
			if (build_op(b, &op, &p) != FC_OK || !(t = fc_calloc(1, sizeof *t))) {
				fc_gw_proposal_free(p);
				b->fatal = 1;
				stop_all(b);
				return;
			}
			t->b = b;
			t->idx = i;
			memcpy(b->s_ids[i], p->tx_id, sizeof b->s_ids[i]);
			struct fc_gwclient *c = next_client(b);
			if (!c || fc_gwclient_send(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT_ASYNC, p,
						   setup_submitted, t, b->em) != FC_OK) {
				fc_free(t);
				fc_gw_proposal_free(p);
				b->fatal = 1;
				stop_all(b);
				return;
			}
			fc_gw_proposal_free(p);
			b->s_out++;
		}
		if (b->s_done % 100 == 0 || b->s_done == b->setup_n)
			progress(b, b->s_done == b->setup_n,
				 "setup: %" PRIu64 "/%" PRIu64 " submitted (%" PRIu64 " refused)",
				 b->s_done, b->setup_n, b->s_failed);
		if (b->s_done < b->setup_n)
			return;
		if (b->s_failed == b->setup_n) {
			end_progress(b);
			snprintf(b->em, sizeof b->em,
				 "setup: every one of %" PRIu64 " transactions was refused (see above; "
				 "--no-setup if the records exist)",
				 b->setup_n);
			b->fatal = 1;
			stop_all(b);
			return;
		}
		b->phase = PH_SETUP_CONFIRM;
		b->c_progress_at = now_us();
		uv_timer_start(&b->setup_timer, setup_timer_cb, 200, 200);
	}
	if (b->phase != PH_SETUP_CONFIRM)
		return;
	/* confirm: every accepted setup transaction must reach the ledger */
	for (;;) {
		uint64_t i;
		if (b->s_out >= b->o.setup_batch)
			break;
		while (b->c_next < b->setup_n && !b->s_ids[b->c_next][0]) {
			b->c_next++; /* refused at submit: nothing to confirm */
			b->c_done++;
		}
		if (b->c_next < b->setup_n)
			i = b->c_next++;
		else
			break;
		if (setup_confirm(b, i) != FC_OK)
			return;
	}
	progress(b, b->c_done >= b->setup_n, "setup: %" PRIu64 "/%" PRIu64 " committed",
		 b->c_done, b->setup_n);
	if (b->c_done >= b->setup_n && b->s_out == 0) {
		end_progress(b);
		uv_timer_stop(&b->setup_timer);
		b->rep.setup_txs = b->setup_n;
		b->rep.setup_failed = b->s_failed;
		b->rep.setup_s = (double)(now_us() - b->s_t0) / 1e6;
		start_measure(b);
		return;
	}
	if (now_us() - b->c_progress_at > (uint64_t)b->o.timeout_ms * 1000u) {
		end_progress(b);
		snprintf(b->em, sizeof b->em,
			 "setup: %" PRIu64 " of %" PRIu64 " transactions not committed after %u ms",
			 b->setup_n - b->c_done, b->setup_n, b->o.timeout_ms);
		b->fatal = 1;
		stop_all(b);
		return;
	}
}

/* ------------------------------------------------------------- measure */

static void issue(struct bench *b, uint64_t start_us);
static void gw_reap(struct bench *b);

static void finish_if_drained(struct bench *b)
{
	if (b->phase == PH_DRAIN && b->outstanding == 0) {
		end_progress(b);
		stop_all(b);
	}
}

static void tx_done(const struct fc_gw_result *res, void *ud)
{
	struct txctx *t = ud;
	struct bench *b = t->b;
	uint64_t now = now_us();
	uint64_t lat = now > t->start_us ? now - t->start_us : 0;

	/* A transaction that a draining gateway refused unexecuted (FC_EAGAIN)
	 * was sent to another one by the client; FC_EAGAIN here means every
	 * gateway refused it. */
	b->outstanding--;
	fc_free(t);
	if (b->phase == PH_DONE)
		return;
	b->sec_completed++;
	if (res->code == FC_OK) {
		int s = res->status >= 0 && res->status < BENCH_N_STATUS ? res->status : 0;
		b->rep.status[s]++;
		if (s == FLEXCHAIN__TX_STATUS__TX_UNKNOWN && b->rep.status[s] == 1)
			note(b, "first transaction without a final status: tx %s (height %" PRIu64
				"): %s",
			     res->tx_id, res->height, res->message);
		ledger_line(b, res);
		if (s == FLEXCHAIN__TX_STATUS__TX_VALID) {
			bench_hist_record(b->lat, lat);
			bench_hist_record(b->sec_lat, lat);
			b->sec_committed++;
			if (b->phase == PH_MEASURE)
				b->rep.committed++;
		}
	} else if (bench_classify(res->code) == BENCH_OUT_REJECTED_BY_CONTRACT) {
		if (b->rep.rejected_by_contract == 0)
			note(b,
			     "first transaction rejected by the contract (a business rule at "
			     "execution, not ordered; counted as rejected_by_contract, not as a "
			     "failure): tx %s: %s",
			     res->tx_id, res->message);
		b->rep.rejected_by_contract++;
	} else if (bench_classify(res->code) == BENCH_OUT_UNKNOWN) {
		if (b->rep.unknown == 0)
			note(b, "first transaction with an unknown outcome: tx %s: %s", res->tx_id,
			     res->message);
		b->rep.unknown++;
	} else {
		if (b->rep.errors == 0)
			note(b, "first transaction refused by the system (not ordered): tx %s: %s (%s)",
			     res->tx_id, res->message, fc_strerror(res->code));
		b->rep.errors++;
	}
	if (b->phase == PH_MEASURE && b->o.rate <= 0)
		issue(b, now_us()); /* closed loop: one out, one in */
	finish_if_drained(b);
}

static void issue(struct bench *b, uint64_t start_us)
{
	struct bench_op op;
	struct fc_gw_proposal *p = NULL;
	struct fc_gwclient *c;
	struct txctx *t;

	if (b->kind == W_SMALLBANK)
		bench_smallbank_next(&b->sb, &b->rng, &op);
	else if (b->kind == W_ML)
		bench_ml_next(&b->ml, &op);
	else
		bench_ycsb_next(&b->y, &b->rng, &op);
	if (build_op(b, &op, &p) != FC_OK)
		goto fail;
	t = fc_calloc(1, sizeof *t);
	if (!t)
		goto fail;
	t->b = b;
	t->start_us = start_us;
	c = next_client(b);
	if (!c || fc_gwclient_send(c, FLEXCHAIN__GATEWAY_MODE__GW_SUBMIT, p, tx_done, t, b->em) !=
		      FC_OK) {
		fc_free(t);
		goto fail;
	}
	fc_gw_proposal_free(p);
	b->issued++;
	b->outstanding++;
	return;
fail:
	fc_gw_proposal_free(p);
	b->fatal = 1;
	end_progress(b);
	stop_all(b);
}

static void pace_cb(uv_timer_t *h)
{
	struct bench *b = h->data;
	uint64_t now = now_us(), due = bench_pace_due(b->o.rate, now - b->t0);
	unsigned n = 0;

	/* at most 2000 per tick so that completions and timers keep running */
	while (b->phase == PH_MEASURE && b->issued < due && n++ < 2000 &&
	       b->outstanding < b->o.max_outstanding)
		issue(b, b->t0 + bench_pace_intended_us(b->o.rate, b->issued));
}

static void tick_cb(uv_timer_t *h)
{
	struct bench *b = h->data;
	uint64_t el = now_us() - b->t0;

	gw_reap(b);
	if (b->phase == PH_MEASURE && b->n_secs < MAX_SECS) {
		struct bench_second *s = &b->secs[b->n_secs++];
		s->committed = b->sec_committed;
		s->completed = b->sec_completed;
		s->p50_us = bench_hist_percentile(b->sec_lat, 50);
		s->p99_us = bench_hist_percentile(b->sec_lat, 99);
		if (b->tty || b->n_secs % 5 == 0)
			progress(b, 1,
				 "[%5.1fs] committed %" PRIu64 "  tps %" PRIu64
				 "  p99 %.1f ms  outstanding %" PRIu64
				 "  rejected_by_contract %" PRIu64 "  refused %" PRIu64,
				 (double)el / 1e6, b->rep.committed, s->committed,
				 (double)bench_hist_percentile(b->lat, 99) / 1000.0,
				 b->outstanding, b->rep.rejected_by_contract, b->rep.errors);
		b->sec_committed = b->sec_completed = 0;
		bench_hist_reset(b->sec_lat);
		if ((double)b->n_secs >= b->o.duration) {
			b->phase = PH_DRAIN;
			uv_timer_stop(&b->pace);
			progress(b, 1, "[%5.1fs] measured; waiting for %" PRIu64 " outstanding",
				 (double)el / 1e6, b->outstanding);
			finish_if_drained(b);
		}
	} else if (b->phase == PH_DRAIN) {
		progress(b, 1, "[%5.1fs] waiting for %" PRIu64 " outstanding", (double)el / 1e6,
			 b->outstanding);
	}
}

static void start_measure(struct bench *b)
{
	b->phase = PH_MEASURE;
	b->t0 = now_us();
	uv_timer_start(&b->tick, tick_cb, 1000, 1000);
	if (b->o.rate > 0) {
		uv_timer_start(&b->pace, pace_cb, 0, 1);
	} else {
		for (unsigned i = 0; i < b->o.concurrency && b->phase == PH_MEASURE; i++)
			issue(b, now_us());
	}
}

/* ------------------------------------------------------------- options */

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || s[0] == '-' || v < min) {
		fprintf(stderr, PROG ": --%s: '%s' is not a number >= %llu (see '" PROG
				" --help')\n",
			name, s, (unsigned long long)min);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *name, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !*s || !(v >= min && v <= max)) {
		fprintf(stderr, PROG ": --%s: '%s' is not a number in [%g, %g] (see '" PROG
				" --help')\n",
			name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see '" PROG " --help')\n", msg, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

enum {
	O_RECORDS = 256, O_READ, O_UPDATE, O_DIST, O_THETA, O_VALUE, O_ACCOUNTS, O_HOT,
	O_HOTACC, O_NOSETUP, O_SETUPB, O_TIMEOUT, O_MAXOUT, O_SEED, O_JSON, O_PLOT, O_LEDGER,
	O_GATEWAY, O_MLPOINTS, O_MLDIM, O_MLK, O_MLITERS
};

/* ID=HOST:PORT into d; -1 (with a message) if it is not one. */
static int parse_gwdef(const char *s, struct gwdef *d)
{
	const char *eq = strchr(s, '='), *colon = strrchr(s, ':');
	unsigned long v = 0;
	char *end = NULL;
	size_t il, hl;

	if (eq && colon && colon > eq) {
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
	}
	if (!eq || !colon || colon < eq || !end || *end || errno || v == 0 || v > 65535 ||
	    (il = (size_t)(eq - s)) == 0 || il > FC_CONFIG_NAME_MAX ||
	    (hl = (size_t)(colon - eq - 1)) == 0 || hl >= sizeof d->host) {
		fprintf(stderr,
			PROG ": --gateway: '%s' is not ID=HOST:PORT (see '" PROG " --help')\n", s);
		return -1;
	}
	memcpy(d->id, s, il);
	d->id[il] = '\0';
	memcpy(d->host, eq + 1, hl);
	d->host[hl] = '\0';
	d->port = (uint16_t)v;
	return 0;
}

/* 0 to run, else an exit code (help: 0 via *help). */
static int parse_opts(int argc, char **argv, struct opts *o, int *help)
{
	static const struct option lo[] = {
	    {"config", required_argument, NULL, 'c'},	  {"org", required_argument, NULL, 'o'},
	    {"gateways", required_argument, NULL, 'g'},	  {"workload", required_argument, NULL, 'w'},
	    {"records", required_argument, NULL, O_RECORDS},
	    {"read-ratio", required_argument, NULL, O_READ},
	    {"update-ratio", required_argument, NULL, O_UPDATE},
	    {"dist", required_argument, NULL, O_DIST},	  {"theta", required_argument, NULL, O_THETA},
	    {"value-size", required_argument, NULL, O_VALUE},
	    {"accounts", required_argument, NULL, O_ACCOUNTS},
	    {"hot-ratio", required_argument, NULL, O_HOT},
	    {"hot-accounts", required_argument, NULL, O_HOTACC},
	    {"no-setup", no_argument, NULL, O_NOSETUP},
	    {"setup-batch", required_argument, NULL, O_SETUPB},
	    {"rate", required_argument, NULL, 'r'},	  {"concurrency", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"max-outstanding", required_argument, NULL, O_MAXOUT},
	    {"seed", required_argument, NULL, O_SEED},	  {"json", required_argument, NULL, O_JSON},
	    {"plot", required_argument, NULL, O_PLOT},
	    {"ledger-check", required_argument, NULL, O_LEDGER},
	    {"gateway", required_argument, NULL, O_GATEWAY},
	    {"ml-points", required_argument, NULL, O_MLPOINTS},
	    {"ml-dim", required_argument, NULL, O_MLDIM},
	    {"ml-k", required_argument, NULL, O_MLK},
	    {"ml-iters", required_argument, NULL, O_MLITERS},
	    {"help", no_argument, NULL, 'h'},		  {NULL, 0, NULL, 0},
	};
	uint64_t u;
	int c, have_read = 0, have_update = 0, have_rate = 0, have_conc = 0;

	memset(o, 0, sizeof *o);
	o->workload = "ycsb";
	o->records = o->accounts = 1000;
	o->hot_accounts = 100;
	o->setup_batch = 256;
	o->max_outstanding = 100000;
	o->read_ratio = 0.5;
	o->theta = 0.99;
	o->dist_zipf = 1;
	o->duration = 10;
	o->value_size = 100;
	o->concurrency = 16;
	o->timeout_ms = 30000;
	o->ml_points = 256;
	o->ml_dim = 8;
	o->ml_k = 8;
	o->ml_iters = 100;
	*help = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:g:w:r:n:d:h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'o': o->org = optarg; break;
		case 'g': o->gateways = optarg; break;
		case 'w': o->workload = optarg; break;
		case O_RECORDS: bad = parse_u64("records", optarg, 1, &o->records); break;
		case O_READ:
			bad = parse_double("read-ratio", optarg, 0, 1, &o->read_ratio);
			have_read = 1;
			break;
		case O_UPDATE:
			bad = parse_double("update-ratio", optarg, 0, 1, &o->update_ratio);
			have_update = 1;
			break;
		case O_DIST:
			if (strcmp(optarg, "zipf") == 0)
				o->dist_zipf = 1;
			else if (strcmp(optarg, "uniform") == 0)
				o->dist_zipf = 0;
			else
				return usage_error("--dist must be uniform or zipf, not", optarg);
			break;
		case O_THETA:
			bad = parse_double("theta", optarg, 0, 0.999999, &o->theta);
			break;
		case O_VALUE:
			bad = parse_u64("value-size", optarg, 1, &u);
			if (!bad && u > (1u << 20))
				return usage_error("--value-size: at most 1048576 bytes, not", optarg);
			o->value_size = (size_t)u;
			break;
		case O_ACCOUNTS: bad = parse_u64("accounts", optarg, 2, &o->accounts); break;
		case O_HOT: bad = parse_double("hot-ratio", optarg, 0, 1, &o->hot_ratio); break;
		case O_HOTACC: bad = parse_u64("hot-accounts", optarg, 1, &o->hot_accounts); break;
		case O_NOSETUP: o->no_setup = 1; break;
		case O_SETUPB: bad = parse_u64("setup-batch", optarg, 1, &o->setup_batch); break;
		case 'r':
			bad = parse_double("rate", optarg, 0.001, 1e7, &o->rate);
			have_rate = 1;
			break;
		case 'n':
			bad = parse_u64("concurrency", optarg, 1, &u);
			if (!bad && u > 1000000)
				return usage_error("--concurrency: at most 1000000, not", optarg);
			o->concurrency = (unsigned)u;
			have_conc = 1;
			break;
		case 'd': bad = parse_double("duration", optarg, 1, MAX_SECS, &o->duration); break;
		case O_TIMEOUT:
			bad = parse_u64("timeout-ms", optarg, 1, &u);
			o->timeout_ms = u > 3600000 ? 3600000 : (unsigned)u;
			break;
		case O_MAXOUT:
			bad = parse_u64("max-outstanding", optarg, 1, &o->max_outstanding);
			break;
		case O_SEED:
			bad = parse_u64("seed", optarg, 0, &o->seed);
			o->have_seed = 1;
			break;
		case O_JSON: o->json = optarg; break;
		case O_PLOT: o->plot = optarg; break;
		case O_LEDGER: o->ledger = optarg; break;
		case O_GATEWAY:
			if (o->ndefs == MAX_GATEWAY_DEFS)
				return usage_error("--gateway: at most 64 of them", NULL);
			bad = parse_gwdef(optarg, &o->defs[o->ndefs]);
			o->ndefs += !bad;
			break;
		case O_MLPOINTS:
			bad = parse_u64("ml-points", optarg, 1, &o->ml_points);
			break;
		case O_MLDIM: bad = parse_u64("ml-dim", optarg, 1, &o->ml_dim); break;
		case O_MLK: bad = parse_u64("ml-k", optarg, 1, &o->ml_k); break;
		case O_MLITERS: bad = parse_u64("ml-iters", optarg, 1, &o->ml_iters); break;
		case 'h':
			fputs(usage, stdout);
			*help = 1;
			return 0;
		case ':': return usage_error("missing value for", argv[optind - 1]);
		default: return usage_error("unknown option", argv[optind - 1]);
		}
		if (bad)
			return 2;
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (!o->config)
		return usage_error("missing --config", NULL);
	if (strcmp(o->workload, "ycsb") != 0 && strcmp(o->workload, "smallbank") != 0 &&
	    strcmp(o->workload, "ml") != 0)
		return usage_error("--workload must be ycsb, smallbank or ml, not", o->workload);
	if (strcmp(o->workload, "ml") == 0) {
		struct bench_ml ml;
		if (o->ml_points > 100000 || o->ml_dim > 64 || o->ml_k > 64 ||
		    o->ml_iters > 1000 || o->ml_k > o->ml_points ||
		    bench_ml_init(&ml, o->ml_points, (unsigned)o->ml_dim, (unsigned)o->ml_k,
				  (unsigned)o->ml_iters) != 0)
			return usage_error("ml: the contract refuses these parameters (points "
					   "<= 100000, dim <= 64, k <= 64 and <= points, iters <= "
					   "1000, points*k*iters*dim <= 10^9)",
					   NULL);
	}
	if (have_rate && have_conc)
		return usage_error("give --rate (open loop) or --concurrency (closed loop), not both",
				   NULL);
	if (have_update && !have_read)
		o->read_ratio = 1.0 - o->update_ratio;
	else if (have_update && have_read && o->read_ratio + o->update_ratio > 1.000001)
		return usage_error("--read-ratio + --update-ratio exceed 1", NULL);
	if (o->plot && strpbrk(o->plot, "'\n"))
		return usage_error("--plot: the file name may not contain a quote:", o->plot);
	return 0;
}

/* ---------------------------------------------------------------- setup */

/* Adds gateway id at host:port with a client that fails over to every
 * other active gateway. */
static int gw_add(struct bench *b, const char *id, const char *host, uint16_t port)
{
	struct fc_gw_endpoint *eps = NULL;
	struct fc_gwclient_opts co;
	struct gw *g;
	size_t n = 0;
	int rc;

	if (b->ngw == b->gwcap) {
		size_t cap = b->gwcap ? 2 * b->gwcap : 8;
		struct gw *v = fc_realloc(b->gw, cap * sizeof *v);
		if (!v)
			return fc_errf(b->em, FC_ENOMEM, "out of memory");
		b->gw = v;
		b->gwcap = cap;
	}
	g = &b->gw[b->ngw];
	memset(g, 0, sizeof *g);
	snprintf(g->id, sizeof g->id, "%s", id);
	snprintf(g->host, sizeof g->host, "%s", host);
	g->port = port;
	eps = fc_calloc(b->ngw + 1, sizeof *eps);
	if (!eps)
		return fc_errf(b->em, FC_ENOMEM, "out of memory");
	eps[n++] = (struct fc_gw_endpoint){g->id, g->host, g->port};
	for (size_t i = 0; i < b->ngw; i++)
		if (b->gw[i].active)
			eps[n++] = (struct fc_gw_endpoint){b->gw[i].id, b->gw[i].host,
							   b->gw[i].port};
	fc_gwclient_opts_init(&co);
	co.timeout_ms = b->o.timeout_ms;
	rc = fc_gwclient_create(&b->loop, eps, n, 0, &co, &g->cl, b->em);
	fc_free(eps);
	if (rc != FC_OK)
		return rc;
	g->active = 1;
	b->ngw++;
	b->cl_open++;
	return FC_OK;
}

static struct gw *gw_find(struct bench *b, const char *id, const char *host, uint16_t port)
{
	for (size_t i = 0; i < b->ngw; i++)
		if (b->gw[i].cl && strcmp(b->gw[i].id, id) == 0 &&
		    strcmp(b->gw[i].host, host) == 0 && b->gw[i].port == port)
			return &b->gw[i];
	return NULL;
}

static size_t gw_active(const struct bench *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->ngw; i++)
		n += b->gw[i].active && b->gw[i].cl;
	return n;
}

/* Closes the clients of inactive gateways with nothing pending. */
static void gw_reap(struct bench *b)
{
	for (size_t i = 0; i < b->ngw; i++) {
		struct gw *g = &b->gw[i];
		if (!g->active && g->cl && fc_gwclient_pending(g->cl) == 0) {
			fc_gwclient_close(g->cl, clients_closed, b);
			g->cl = NULL;
		}
	}
}

/* Gives every client the current failover list: its own gateway first
 * while active, then the other active ones. A client whose gateway drains
 * keeps that connection for what it awaits there (fc_gwclient.h). */
static int gw_sync_endpoints(struct bench *b)
{
	struct fc_gw_endpoint *eps = fc_calloc(b->ngw ? b->ngw : 1, sizeof *eps);
	int rc = FC_OK;

	if (!eps)
		return fc_errf(b->em, FC_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->ngw && rc == FC_OK; i++) {
		struct gw *g = &b->gw[i];
		size_t n = 0;
		if (!g->cl)
			continue;
		if (g->active)
			eps[n++] = (struct fc_gw_endpoint){g->id, g->host, g->port};
		for (size_t j = 0; j < b->ngw; j++)
			if (j != i && b->gw[j].active && b->gw[j].cl)
				eps[n++] = (struct fc_gw_endpoint){b->gw[j].id, b->gw[j].host,
								   b->gw[j].port};
		if (n)
			rc = fc_gwclient_set_endpoints(g->cl, eps, n, b->em);
	}
	fc_free(eps);
	return rc;
}

static int usable(const struct fc_compute_info *c)
{
	return c->port != 0 && c->host[0] && !c->draining;
}

/* Makes the active set the usable servers of a discovery answer: new ones
 * get a client, missing or draining ones get no new transaction. An answer
 * with no usable server changes nothing (the clients fail over meanwhile). */
static int gw_apply(struct bench *b, const struct fc_compute_info *v, size_t n, int quiet)
{
	size_t nu = 0;
	int rc = FC_OK;

	for (size_t j = 0; j < n; j++)
		nu += usable(&v[j]);
	if (nu == 0)
		return FC_OK;
	for (size_t i = 0; i < b->ngw; i++) {
		struct gw *g = &b->gw[i];
		int keep = 0;
		for (size_t j = 0; j < n && !keep; j++)
			keep = usable(&v[j]) && strcmp(v[j].id, g->id) == 0 &&
			       strcmp(v[j].host, g->host) == 0 && v[j].port == g->port;
		if (g->active && !keep) {
			g->active = 0;
			if (!quiet)
				note(b, "gateway %s (%s:%u) is draining or gone: no new transactions",
				     g->id, g->host, (unsigned)g->port);
		}
	}
	for (size_t j = 0; j < n && rc == FC_OK; j++) {
		struct gw *g;
		if (!usable(&v[j]))
			continue;
		g = gw_find(b, v[j].id, v[j].host, v[j].port);
		if (g) {
			g->active = 1;
			continue;
		}
		rc = gw_add(b, v[j].id, v[j].host, v[j].port);
		if (rc == FC_OK && !quiet)
			note(b, "gateway %s (%s:%u) joined", v[j].id, v[j].host,
			     (unsigned)v[j].port);
	}
	gw_reap(b);
	if (rc == FC_OK)
		rc = gw_sync_endpoints(b);
	return rc;
}

static void discover_work(uv_work_t *w)
{
	struct bench *b = w->data;

	b->dem[0] = '\0';
	b->drc = fc_discover_compute(b->cfg, REFRESH_TIMEOUT_MS, &b->dres, &b->dn, b->dem);
}

static void discover_done(uv_work_t *w, int status)
{
	struct bench *b = w->data;

	(void)status;
	b->dbusy = 0;
	if (b->phase != PH_DONE) {
		if (b->drc == FC_OK) {
			b->gw_source = "discovered from the orderers";
			if (gw_apply(b, b->dres, b->dn, 0) != FC_OK)
				note(b, "gateway refresh: %s", b->em);
		} else if (!b->dfail_noted) {
			b->dfail_noted = 1;
			note(b, "gateway refresh failed (keeping %zu gateways): %s", gw_active(b),
			     b->dem);
		}
	}
	fc_free(b->dres);
	b->dres = NULL;
	b->dn = 0;
}

static void refresh_cb(uv_timer_t *h)
{
	struct bench *b = h->data;

	if (b->phase == PH_DONE || b->dbusy)
		return;
	b->dbusy = 1;
	b->dwork.data = b;
	if (uv_queue_work(&b->loop, &b->dwork, discover_work, discover_done) != 0)
		b->dbusy = 0;
}

/* The configuration's compute servers, or those of --gateways IDS (from the
 * configuration and --gateway), or the --gateway ones. */
static int gw_static(struct bench *b, const char *ids)
{
	int rc = FC_OK;

	if (!ids && b->o.ndefs) {
		for (size_t i = 0; i < b->o.ndefs && rc == FC_OK; i++)
			rc = gw_add(b, b->o.defs[i].id, b->o.defs[i].host, b->o.defs[i].port);
		return rc;
	}
	if (!ids) {
		for (size_t i = 0; i < b->cfg->n_compute && rc == FC_OK; i++)
			rc = gw_add(b, b->cfg->compute[i].id, b->cfg->compute[i].host,
				    b->cfg->compute[i].port);
		if (rc == FC_OK && b->ngw == 0)
			rc = fc_errf(b->em, FC_ECONFIG, "%s has no compute server", b->cfg->path);
		return rc;
	}
	for (const char *s = ids; *s && rc == FC_OK;) {
		size_t k = strcspn(s, ",");
		char id[FC_CONFIG_NAME_MAX + 1];
		int hit = 0;
		if (k == 0 || k > FC_CONFIG_NAME_MAX) {
			s += k + (s[k] == ',');
			continue;
		}
		memcpy(id, s, k);
		id[k] = '\0';
		s += k + (s[k] == ',');
		for (size_t i = 0; i < b->o.ndefs && !hit; i++)
			if (strcmp(b->o.defs[i].id, id) == 0) {
				hit = 1;
				rc = gw_add(b, id, b->o.defs[i].host, b->o.defs[i].port);
			}
		for (size_t i = 0; i < b->cfg->n_compute && !hit; i++)
			if (strcmp(b->cfg->compute[i].id, id) == 0) {
				hit = 1;
				rc = gw_add(b, id, b->cfg->compute[i].host, b->cfg->compute[i].port);
			}
		if (!hit)
			rc = fc_errf(b->em, FC_ENOTFOUND,
				     "--gateways: %s is no compute server of %s nor a --gateway", id,
				     b->cfg->path);
	}
	if (rc == FC_OK && b->ngw == 0)
		rc = fc_errf(b->em, FC_ENOTFOUND, "--gateways '%s' names no compute server", ids);
	return rc;
}

static int open_clients(struct bench *b)
{
	struct fc_compute_info *v = NULL;
	char why[FC_ERRMSG_LEN] = "";
	size_t n = 0;
	int rc;

	if (b->o.gateways || b->o.ndefs) {
		b->gw_source = b->o.gateways ? "--gateways" : "--gateway";
		rc = gw_static(b, b->o.gateways);
		return rc == FC_OK ? gw_sync_endpoints(b) : rc;
	}
	b->dynamic = 1;
	if (fc_discover_compute(b->cfg, DISCOVER_TIMEOUT_MS, &v, &n, why) == FC_OK) {
		rc = gw_apply(b, v, n, 1);
		fc_free(v);
		if (rc != FC_OK)
			return rc;
		if (b->ngw == 0)
			snprintf(why, sizeof why, "no compute server with an address is registered");
		else
			b->gw_source = "discovered from the orderers";
	}
	rc = FC_OK;
	if (b->ngw == 0) {
		note(b, "gateway discovery failed (%s): using the configuration's compute servers",
		     why);
		b->gw_source = "configured (discovery failed)";
		b->em[0] = '\0';
		rc = gw_static(b, NULL);
		if (rc == FC_OK)
			rc = gw_sync_endpoints(b);
	}
	return rc;
}

/* "id,id,..." of every gateway that was given transactions (or, if none
 * was, of the active ones) and how many. */
static size_t gw_used_list(struct bench *b)
{
	size_t n = 0, len = 0;
	int any = 0;

	for (size_t i = 0; i < b->ngw; i++)
		any |= b->gw[i].used;
	b->gateways[0] = '\0';
	for (size_t i = 0; i < b->ngw; i++) {
		int dup = 0;
		if (any ? !b->gw[i].used : !b->gw[i].active)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(b->gw[j].id, b->gw[i].id) == 0 &&
			      (any ? b->gw[j].used : b->gw[j].active);
		if (dup)
			continue;
		len += (size_t)snprintf(b->gateways + len,
					len < sizeof b->gateways ? sizeof b->gateways - len : 0,
					"%s%s", n ? "," : "", b->gw[i].id);
		if (len >= sizeof b->gateways)
			len = sizeof b->gateways - 1;
		n++;
	}
	return n;
}

/* Compute servers known: the configuration's and every other id seen. */
static size_t gw_known(const struct bench *b)
{
	size_t n = b->cfg->n_compute;

	for (size_t i = 0; i < b->ngw; i++) {
		int seen = 0;
		for (size_t j = 0; j < b->cfg->n_compute && !seen; j++)
			seen = strcmp(b->cfg->compute[j].id, b->gw[i].id) == 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(b->gw[j].id, b->gw[i].id) == 0;
		n += !seen;
	}
	return n;
}

static int write_plot(struct bench *b)
{
	FILE *g = popen("gnuplot", "w");
	int st;

	if (!g)
		return fc_errf(b->em, FC_EIO, "--plot: cannot run gnuplot: %s", strerror(errno));
	fprintf(g, "set terminal png size 1000,700\nset output '%s'\n", b->o.plot);
	fprintf(g, "$d << EOD\n");
	for (size_t i = 0; i < b->n_secs; i++)
		fprintf(g, "%zu %" PRIu64 " %.3f %.3f\n", i + 1, b->secs[i].committed,
			(double)b->secs[i].p50_us / 1000.0, (double)b->secs[i].p99_us / 1000.0);
	fprintf(g, "EOD\n");
	fprintf(g, "set multiplot layout 2,1 title 'flexchain-bench %s (%s)'\n", b->rep.workload,
		b->rep.mode);
	fprintf(g, "set grid\nset xlabel 'second'\nset ylabel 'committed tx/s'\n"
		   "plot $d using 1:2 with linespoints title 'committed tx/s'\n"
		   "set ylabel 'latency (ms)'\n"
		   "plot $d using 1:3 with linespoints title 'p50', $d using 1:4 with "
		   "linespoints title 'p99'\n"
		   "unset multiplot\n");
	st = pclose(g);
	if (st != 0)
		return fc_errf(b->em, FC_EIO, "--plot: gnuplot failed (status %d) writing %s", st,
			       b->o.plot);
	return FC_OK;
}

static int write_json(struct bench *b)
{
	FILE *f = fopen(b->o.json, "w");

	if (!f)
		return fc_errf(b->em, FC_EIO, "--json: %s: %s", b->o.json, strerror(errno));
	bench_report_json(&b->rep, f);
	if (fclose(f) != 0)
		return fc_errf(b->em, FC_EIO, "--json: %s: %s", b->o.json, strerror(errno));
	return FC_OK;
}

int main(int argc, char **argv)
{
	struct bench *b;
	int help, ret = 1, rc;

	b = fc_calloc(1, sizeof *b);
	if (!b) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	ret = parse_opts(argc, argv, &b->o, &help);
	if (ret != 0 || help)
		goto free_b;
	ret = 1;
	if (!getenv("FLEXCHAIN_LOG"))
		fc_log_set_level(FC_LOG_ERROR); /* the run reports what matters */
	if (b->o.plot && system("command -v gnuplot >/dev/null 2>&1") != 0) {
		fprintf(stderr, PROG ": --plot needs gnuplot, which is not installed "
				"(apt-get install gnuplot-nox)\n");
		goto free_b;
	}
	b->tty = isatty(STDERR_FILENO);
	bench_rng_seed(&b->rng, b->o.have_seed ? b->o.seed : uv_hrtime());
	b->kind = strcmp(b->o.workload, "smallbank") == 0 ? W_SMALLBANK
		  : strcmp(b->o.workload, "ml") == 0	  ? W_ML
							  : W_YCSB;
	b->lat = fc_calloc(1, sizeof *b->lat);
	b->sec_lat = fc_calloc(1, sizeof *b->sec_lat);
	b->secs = fc_calloc((size_t)b->o.duration + 1, sizeof *b->secs);
	if (!b->lat || !b->sec_lat || !b->secs) {
		snprintf(b->em, sizeof b->em, "out of memory");
		goto fail;
	}
	if (b->kind == W_ML) {
		if (bench_ml_init(&b->ml, b->o.ml_points, (unsigned)b->o.ml_dim,
				  (unsigned)b->o.ml_k, (unsigned)b->o.ml_iters) != 0) {
			snprintf(b->em, sizeof b->em, "bad ml parameters");
			goto fail;
		}
		snprintf(b->rep.params, sizeof b->rep.params,
			 "points=%" PRIu64 " dim=%u k=%u iters=%u prefix=%s (about %.1f M "
			 "multiply-adds per execution)",
			 b->ml.points, b->ml.dim, b->ml.k, b->ml.iters, b->ml.prefix,
			 (double)b->ml.points * b->ml.k * b->ml.iters * b->ml.dim / 1e6);
		b->setup_n = bench_ml_setup_txs(&b->ml);
	} else if (b->kind == W_SMALLBANK) {
		if (bench_smallbank_init(&b->sb, b->o.accounts, b->o.hot_accounts,
					 b->o.hot_ratio) != 0) {
			snprintf(b->em, sizeof b->em, "bad smallbank parameters");
			goto fail;
		}
		snprintf(b->rep.params, sizeof b->rep.params,
			 "accounts=%" PRIu64 " hot_accounts=%" PRIu64 " hot_ratio=%.3f",
			 b->sb.accounts, b->sb.hot, b->sb.hot_ratio);
		b->setup_n = b->o.accounts;
	} else {
		if (bench_ycsb_init(&b->y, b->o.records, b->o.read_ratio,
				    b->o.dist_zipf ? BENCH_ZIPF : BENCH_UNIFORM, b->o.theta,
				    b->o.value_size, &b->rng) != 0) {
			snprintf(b->em, sizeof b->em, "bad ycsb parameters or out of memory");
			goto fail;
		}
		if (b->o.dist_zipf)
			snprintf(b->rep.params, sizeof b->rep.params,
				 "records=%" PRIu64 " read_ratio=%.3f update_ratio=%.3f "
				 "dist=zipf theta=%.3f value_size=%zu",
				 b->o.records, b->o.read_ratio, 1.0 - b->o.read_ratio, b->o.theta,
				 b->o.value_size);
		else
			snprintf(b->rep.params, sizeof b->rep.params,
				 "records=%" PRIu64 " read_ratio=%.3f update_ratio=%.3f "
				 "dist=uniform value_size=%zu",
				 b->o.records, b->o.read_ratio, 1.0 - b->o.read_ratio,
				 b->o.value_size);
		b->setup_n = b->o.records;
	}
	if (b->o.no_setup)
		b->setup_n = 0;
	rc = fc_config_load(b->o.config, &b->cfg, b->em);
	if (rc == FC_OK)
		rc = fc_gw_identity_load(b->cfg, b->o.org, &b->id, b->em);
	if (rc != FC_OK)
		goto fail;
	if (b->o.ledger && !(b->ledger = fopen(b->o.ledger, "w"))) {
		snprintf(b->em, sizeof b->em, "--ledger-check: %s: %s", b->o.ledger,
			 strerror(errno));
		goto fail;
	}
	if (b->setup_n) {
		b->s_ids = fc_calloc(b->setup_n, sizeof *b->s_ids);
		b->retry = fc_calloc(b->setup_n, sizeof *b->retry);
		if (!b->s_ids || !b->retry) {
			snprintf(b->em, sizeof b->em, "out of memory");
			goto fail;
		}
	}
	if (uv_loop_init(&b->loop) != 0) {
		snprintf(b->em, sizeof b->em, "uv_loop_init failed");
		goto fail;
	}
	uv_timer_init(&b->loop, &b->pace);
	uv_timer_init(&b->loop, &b->tick);
	uv_timer_init(&b->loop, &b->setup_timer);
	uv_timer_init(&b->loop, &b->refresh);
	b->pace.data = b->tick.data = b->setup_timer.data = b->refresh.data = b;
	rc = open_clients(b);
	if (rc != FC_OK) {
		b->phase = PH_DONE;
		uv_close((uv_handle_t *)&b->pace, NULL);
		uv_close((uv_handle_t *)&b->tick, NULL);
		uv_close((uv_handle_t *)&b->setup_timer, NULL);
		uv_close((uv_handle_t *)&b->refresh, NULL);
		for (size_t i = 0; i < b->ngw; i++)
			if (b->gw[i].cl)
				fc_gwclient_close(b->gw[i].cl, clients_closed, b);
		uv_run(&b->loop, UV_RUN_DEFAULT);
		uv_loop_close(&b->loop);
		goto fail;
	}
	if (b->dynamic)
		uv_timer_start(&b->refresh, refresh_cb, REFRESH_MS, REFRESH_MS);
	b->rep.workload = b->o.workload;
	b->rep.mode = b->o.rate > 0 ? "open" : "closed";
	b->rep.rate = b->o.rate;
	b->rep.concurrency = b->o.rate > 0 ? 0 : b->o.concurrency;
	b->rep.shape.cluster = b->cfg->name;
	b->rep.shape.orderers = b->cfg->n_orderers;
	b->rep.shape.storage_replicas = b->cfg->storage.n_replicas;
	b->rep.shape.write_quorum = b->cfg->storage.write_quorum;
	b->rep.shape.memory_nodes = b->cfg->memory.n_nodes;
	b->rep.shape.gateways = b->gateways;
	b->rep.lat = b->lat;

	b->s_t0 = now_us();
	if (b->setup_n) {
		b->phase = PH_SETUP_SUBMIT;
		setup_pump(b);
	} else {
		start_measure(b);
	}
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
	if (b->fatal)
		goto fail;

	b->rep.shape.compute_used = gw_used_list(b);
	b->rep.shape.compute_configured = gw_known(b);
	b->rep.shape.gateway_source = b->gw_source;
	b->rep.duration_s = (double)b->n_secs;
	b->rep.issued = b->issued;
	b->rep.secs = b->secs;
	b->rep.n_secs = b->n_secs;
	bench_report_text(&b->rep, stdout);
	fflush(stdout);
	ret = 0;
	if (b->o.json && write_json(b) != FC_OK)
		goto fail;
	if (b->o.plot && write_plot(b) != FC_OK)
		goto fail;
	goto cleanup;
fail:
	ret = 1;
	fprintf(stderr, PROG ": %s\n", b->em[0] ? b->em : "failed");
cleanup:
	if (b->ledger && fclose(b->ledger) != 0 && ret == 0) {
		fprintf(stderr, PROG ": --ledger-check: %s: %s\n", b->o.ledger, strerror(errno));
		ret = 1;
	}
	fc_free(b->gw);
	fc_free(b->s_ids);
	fc_free(b->retry);
	fc_free(b->lat);
	fc_free(b->sec_lat);
	fc_free(b->secs);
	bench_ycsb_free(&b->y);
	fc_gw_identity_free(b->id);
	fc_config_free(b->cfg);
free_b:
	fc_free(b);
	return ret;
}
