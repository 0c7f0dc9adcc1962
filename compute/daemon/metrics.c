/* metrics.c - the compute server's fc_compute_* series and its /metrics,
 * /healthz server (computed.h, fc_ops.h). */
#include <stdio.h>
#include <string.h>

#include "computed.h"
#include "fc_log.h"

#define COMP "compute"

/* Final status label values, by TxStatus value (proto/flexchain.proto). */
static const char *const tx_status_names[CD_TX_STATUSES] = {
    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config"};

static const char *const gw_mode_names[CD_GW_MODES] = {[CD_GW_SUBMIT] = "submit",
						       [CD_GW_SUBMIT_ASYNC] = "submit_async",
						       [CD_GW_EVALUATE] = "evaluate",
						       [CD_GW_ENDORSE] = "endorse",
						       [CD_GW_TX_QUERY] = "tx_query"};

static const char *const gw_outcome_names[CD_GW_OUTCOMES] = {
    [CD_GW_COMMITTED] = "committed", [CD_GW_INVALID] = "invalid", [CD_GW_OK] = "ok",
    [CD_GW_REFUSED] = "refused",     [CD_GW_ERROR] = "error",	  [CD_GW_TIMEOUT] = "timeout"};

double cd_seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------ scrape-time gauges */

static double gw_inflight(void *ud)
{
	struct cd_server *s = ud;
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->inflight;
	pthread_mutex_unlock(&s->mu);
	return (double)n;
}

static double validating(void *ud)
{
	struct cd_server *s = ud;
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->vpending;
	pthread_mutex_unlock(&s->mu);
	return (double)n;
}

/* Keys the memory pool served without a load from storage, over all keys
 * read from it; 0 before any read. */
static double memory_hit_ratio(void *ud)
{
	const struct cd_state_metrics *r = ud;
	double hit = fc_metric_value(r->memory), miss = fc_metric_value(r->memory_load);

	return hit + miss > 0 ? hit / (hit + miss) : 0.0;
}

static int health(void *ud, char *reason, size_t n)
{
	struct cd_server *s = ud;

	if (atomic_load(&s->draining)) {
		snprintf(reason, n, "draining");
		return 0;
	}
	if (!atomic_load(&s->m.serving)) {
		snprintf(reason, n, "starting");
		return 0;
	}
	if (!atomic_load(&s->registered)) {
		snprintf(reason, n, "not registered");
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ registration */

static int reg_series(struct cd_server *s, char *errmsg)
{
	struct cd_metrics *m = &s->m;
	struct fc_metrics *g = m->reg;
	int rc;

	rc = fc_metrics_add_process(g, "compute", errmsg);
	if (rc == FC_OK)
		rc =
		    fc_metrics_gauge(g, "fc_compute_height",
				     "Blocks whose state this server sees applied (the next height "
				     "it validates).",
				     NULL, &m->height, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(g, "fc_compute_registered",
				      "1 while registered with the orderer leader.", NULL,
				      &m->registered, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(g, "fc_compute_draining", "1 once draining (SIGTERM).", NULL,
				      &m->draining, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(g, "fc_compute_blocks_validated_total",
					"Blocks validated by this server (verdicts built).", NULL,
					&m->blocks, errmsg);
	for (size_t i = 0; rc == FC_OK && i < CD_TX_STATUSES; i++) {
		const char *l[] = {"status", tx_status_names[i], NULL};
		rc = fc_metrics_counter(
		    g, "fc_compute_txs_validated_total",
		    i ? NULL : "Transactions in the blocks validated, by final status.", l,
		    &m->txs[i], errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"stage", "v1", NULL};
		rc = fc_metrics_histogram(g, "fc_compute_validation_seconds",
					  "Validation latency of one block in seconds, by stage "
					  "(v1: signatures and policies; v2: versions, after the "
					  "state through the block before is applied).",
					  l, fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->v1_seconds, errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"stage", "v2", NULL};
		rc = fc_metrics_histogram(g, "fc_compute_validation_seconds", NULL, l,
					  fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->v2_seconds, errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_counter(g, "fc_compute_verdicts_sent_total",
					"Signed verdicts sent to the orderer.", NULL, &m->verdicts,
					errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(g, "fc_compute_validate_requests_declined_total",
					"Validate requests left to the rest of the committee "
					"(draining, stale, failed).",
					NULL, &m->declined, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(g, FC_METRIC_GAUGE, "fc_compute_validating",
					 "Validate requests held (not answered yet).", NULL,
					 validating, s, NULL, errmsg);
	if (rc == FC_OK) {
		const char *l[] = {"source", "memory", NULL};
		rc = fc_metrics_counter(g, "fc_compute_state_reads_total",
					"State keys read, by source (memory: one-sided from the "
					"memory pool; memory_load: missed there, loaded from "
					"storage by a memory node; storage: StateQuery).",
					l, &m->reads.memory, errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"source", "memory_load", NULL};
		rc = fc_metrics_counter(g, "fc_compute_state_reads_total", NULL, l,
					&m->reads.memory_load, errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"source", "storage", NULL};
		rc = fc_metrics_counter(g, "fc_compute_state_reads_total", NULL, l,
					&m->reads.storage, errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_callback(g, FC_METRIC_GAUGE, "fc_compute_memory_hit_ratio",
					 "Keys read from the memory pool without a load from "
					 "storage, over all keys read from it (0 before any).",
					 NULL, memory_hit_ratio, &m->reads, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(g, "fc_compute_memory_client_cache_hits_total",
					"Memory-pool reads served by the client's address or data "
					"cache.",
					NULL, &m->reads.mem_cache_hits, errmsg);
	for (size_t i = 0; rc == FC_OK && i < CD_GW_MODES; i++) {
		const char *l[] = {"mode", gw_mode_names[i], NULL};
		rc = fc_metrics_counter(g, "fc_compute_gateway_requests_total",
					i ? NULL
					  : "Gateway, endorse and tx requests taken, by mode.",
					l, &m->gw.requests[i], errmsg);
	}
	for (size_t i = 0; rc == FC_OK && i < CD_GW_OUTCOMES; i++) {
		const char *l[] = {"outcome", gw_outcome_names[i], NULL};
		rc = fc_metrics_counter(g, "fc_compute_gateway_results_total",
					i ? NULL : "Gateway requests answered, by outcome.", l,
					&m->gw.results[i], errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_histogram(g, "fc_compute_gateway_execute_seconds",
					  "Execution of one proposal by this server in seconds.",
					  NULL, fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->gw.execute_seconds, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_histogram(g, "fc_compute_gateway_endorse_seconds",
					  "Gathering the other organisations' endorsements for one "
					  "request in seconds.",
					  NULL, fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->gw.endorse_seconds, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_histogram(g, "fc_compute_gateway_submit_seconds",
					  "A SUBMIT from request to final answer in seconds.", NULL,
					  fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->gw.submit_seconds, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(g, FC_METRIC_GAUGE, "fc_compute_gateway_inflight",
					 "Gateway requests accepted and not answered yet.", NULL,
					 gw_inflight, s, NULL, errmsg);
	return rc;
}

int cd_metrics_start(struct cd_server *s, char *errmsg)
{
	int rc = fc_metrics_create(&s->m.reg, errmsg);

	if (rc == FC_OK)
		rc = reg_series(s, errmsg);
	if (rc == FC_OK && s->self.metrics_port) {
		struct fc_ops_server_opts oo = {.bind = s->cfg->metrics.bind,
						.port = s->self.metrics_port,
						.metrics = s->m.reg,
						.health = health,
						.health_ud = s};
		rc = fc_ops_server_start(&oo, &s->m.ops, errmsg);
	}
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "compute %s: metrics", s->self.id);
	if (s->m.ops)
		fc_log(FC_LOG_INFO, COMP, "metrics serving", "addr=%s:%u",
		       s->cfg->metrics.bind ? s->cfg->metrics.bind : "127.0.0.1",
		       (unsigned)fc_ops_server_port(s->m.ops));
	return FC_OK;
}

void cd_metrics_stop(struct cd_server *s)
{
	fc_ops_server_stop(s->m.ops);
	s->m.ops = NULL;
	fc_metrics_destroy(s->m.reg);
	/* every fc_metric went with the registry */
	memset(&s->m, 0, sizeof s->m);
}

void cd_metrics_registered(struct cd_server *s, int on)
{
	atomic_store(&s->registered, on);
	fc_metric_set(s->m.registered, on ? 1.0 : 0.0);
}

void cd_metrics_probe_height(struct cd_server *s)
{
	struct cd_state_h *h = NULL;
	char err[FC_ERRMSG_LEN] = "";
	uint64_t ah = 0;
	int empty = 1, rc;

	if (cd_state_acquire(s->state, &h, err) != FC_OK)
		return;
	rc = cd_state_ops_of(s->state)->applied(h->h, &ah, &empty, err);
	cd_state_release(s->state, h, rc != FC_OK);
	if (rc == FC_OK)
		fc_metric_set(s->m.height, empty ? 0.0 : (double)ah + 1.0);
}
