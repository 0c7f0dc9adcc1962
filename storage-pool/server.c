/* flexchain-storage: the storage pool daemon (see stord.h for threads).
 *
 * Every message is answered on the connection it came on with the request's
 * request_id. Replies refused by back-pressure (FC_EBUSY) wait in a
 * per-connection queue that on_drain flushes; while anything waits there a
 * Deliver stream does not read further, so a slow subscriber costs at most
 * one block of queued memory beyond fc_net's high watermark. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_crypto.h"
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_ledger.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_ops.h"
#include "fc_policy.h"
#include "fc_storage_client.h"
#include "fc_tpool.h"
#include "fc_validate.h"
#include "fc_wire.h"
#include "stord.h"

#define COMP "storage"
#define CATCHUP_BATCH 32
#define CATCHUP_LOG_S 5 /* a long catch-up logs its progress this often */
#define JOIN_ROUNDS 64	/* a joining replica's catch-up rounds, at most */
#define QUERY_MAX_BLOCKS 256

struct outbuf {
	struct outbuf *next;
	uint8_t *buf;
	size_t len;
};

struct stord;

/* Per accepted connection; outlives the fc_conn while jobs refer to it. */
struct sconn {
	struct stord *s;
	struct fc_conn *conn; /* NULL once closed */
	unsigned refs;
	struct outbuf *oq_head, *oq_tail;
	struct sconn *prev, *next; /* s->conns */
	/* Deliver stream */
	struct fc_ledger_iter *it;
	uint64_t deliver_id;
	int with_decisions;
};

struct ajob {
	struct ajob *next;
	struct sconn *sc;
	uint64_t req_id;
	Flexchain__ControlMessage *cm; /* owned */
	uint64_t height;
	int rc;
	char err[FC_ERRMSG_LEN];
};

struct vjob {
	uv_work_t w;
	struct stord *s;
	struct sconn *sc;
	uint64_t req_id;
	Flexchain__ControlMessage *cm; /* owned */
	Flexchain__Verdict *verdict;   /* fc_validate_verdict_free */
	int rc;
	char err[FC_ERRMSG_LEN];
};

/* Final transaction statuses (TxStatus of flexchain.proto), as metric labels. */
static const char *const status_names[] = {
    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

enum { Q_HEIGHT, Q_BLOCKS, Q_TX, Q_STATE, Q_DELIVER, Q__COUNT };
static const char *const query_names[Q__COUNT] = {"height", "blocks", "tx", "state", "deliver"};

/* The fc_storage_* series (fc_ops.h); updated from the loop, the appender
 * and the libuv pool, read by the metrics server's thread. */
struct stord_metrics {
	struct fc_metrics *reg;
	struct fc_metric *height;	     /* gauge: applied height, -1 when empty */
	struct fc_metric *blocks;	     /* counter */
	struct fc_metric *txs[N_STATUS];     /* counter by final status */
	struct fc_metric *append_seconds;    /* histogram: ledger append (synced write) */
	struct fc_metric *queries[Q__COUNT]; /* counter by query kind */
	struct fc_metric *validations_ok;    /* counter: HyBE verdicts produced */
	struct fc_metric *validations_err;   /* counter: validations refused or failed */
	struct fc_metric *subscribers;	     /* gauge: open Deliver streams */
	struct fc_metric *refused;	     /* counter: appends refused */
};

struct stord {
	const struct fc_config *cfg;
	const struct fc_config_node *self;
	size_t self_index;
	fc_cert *cert;
	fc_key *key;
	/* The chain configuration in force at cc_next = applied height + 1 (0
	 * on an empty ledger): its organisations verify appended blocks and
	 * it judges ValidateRequests for height cc_next. Written by the
	 * appender only (before it starts: by fc_stord_run), under cc_mu;
	 * cc_cv signals each advance. */
	struct fc_chaincfg *cc;
	uint64_t cc_next;
	pthread_mutex_t cc_mu;
	pthread_cond_t cc_cv;
	struct fc_ledger *ledger;
	struct fc_tpool *pool;
	size_t max_frame;

	uv_loop_t loop;
	struct fc_net_server *srv;
	uv_signal_t sigterm, sigint;
	uv_async_t async;
	int closing;
	struct sconn *conns;

	pthread_t appender;
	int appender_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ajob *q_head, *q_tail;	    /* to the appender */
	struct ajob *done_head, *done_tail; /* back to the loop */
	atomic_int stopping;

	struct stord_metrics m;
	struct fc_ops_server *ops;
	atomic_int serving; /* ledger open and the port listening: /healthz ok */

	/* Joining at run time (fc_stord_run_join): self is join_node (its
	 * strings borrowed from the caller), self_index (size_t)-1. The
	 * appender reports ready once caught up; a failed catch-up is left in
	 * join_rc / join_err (under mu) and ends the run. */
	int joining;
	struct fc_config_node join_node;
	int join_rc;
	char join_err[FC_ERRMSG_LEN];
};

/* ----------------------------------------------------------------- metrics */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int metrics_init(struct stord *s, char *errmsg)
{
	struct stord_metrics *m = &s->m;
	int rc;

	rc = fc_metrics_create(&m->reg, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_add_process(m->reg, "storage", errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(m->reg, "fc_storage_applied_height",
				      "Height of the last block applied to the ledger and state "
				      "(-1 when empty).",
				      NULL, &m->height, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(m->reg, "fc_storage_blocks_appended_total",
					"Certified blocks appended to the ledger (also by "
					"catch-up).",
					NULL, &m->blocks, errmsg);
	for (size_t i = 0; rc == FC_OK && i < N_STATUS; i++) {
		const char *l[] = {"status", status_names[i], NULL};
		rc = fc_metrics_counter(m->reg, "fc_storage_txs_total",
					"Transactions appended, by final status.", l, &m->txs[i],
					errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_histogram(m->reg, "fc_storage_append_seconds",
					  "Latency of one ledger append (block, verdict, state, "
					  "synced) in seconds.",
					  NULL, fc_metrics_latency_buckets, FC_METRICS_LATENCY_N,
					  &m->append_seconds, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_counter(m->reg, "fc_storage_appends_refused_total",
					"Appends refused (bad block, signature, gap).", NULL,
					&m->refused, errmsg);
	for (size_t i = 0; rc == FC_OK && i < Q__COUNT; i++) {
		const char *l[] = {"query", query_names[i], NULL};
		rc = fc_metrics_counter(m->reg, "fc_storage_queries_total",
					"Queries served, by kind.", l, &m->queries[i], errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"result", "ok", NULL};
		rc = fc_metrics_counter(m->reg, "fc_storage_validations_total",
					"Blocks validated by this replica (HyBE fallback), by "
					"result.",
					l, &m->validations_ok, errmsg);
	}
	if (rc == FC_OK) {
		const char *l[] = {"result", "error", NULL};
		rc = fc_metrics_counter(m->reg, "fc_storage_validations_total", NULL, l,
					&m->validations_err, errmsg);
	}
	if (rc == FC_OK)
		rc = fc_metrics_gauge(m->reg, "fc_storage_deliver_subscribers",
				      "Open Deliver streams.", NULL, &m->subscribers, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "metrics");
	return rc;
}

/* After a successful append of block (and its verdict). Appender thread. */
static void note_appended(struct stord *s, const Flexchain__Block *b, const Flexchain__Verdict *v,
			  double secs)
{
	fc_metric_observe(s->m.append_seconds, secs);
	fc_metric_inc(s->m.blocks);
	fc_metric_set(s->m.height, (double)b->header->height);
	for (size_t i = 0; v && i < v->tx_status.len; i++) {
		uint8_t st = v->tx_status.data[i];
		fc_metric_inc(s->m.txs[st < N_STATUS ? st : 0]);
	}
}

static int health(void *ud, char *reason, size_t n)
{
	struct stord *s = ud;

	if (atomic_load(&s->serving))
		return 1;
	snprintf(reason, n, "%s",
		 atomic_load(&s->stopping) ? "shutting down"
		 : s->joining		   ? "catching up from the replicas of the configuration"
					   : "starting");
	return 0;
}

/* The Deliver stream of sc ends (error or close). */
static void stream_end(struct sconn *sc)
{
	if (!sc->it)
		return;
	fc_ledger_iter_destroy(sc->it);
	sc->it = NULL;
	fc_metric_gauge_add(sc->s->m.subscribers, -1);
}

/* ------------------------------------------------------------ connections */

static void sc_unref(struct sconn *sc)
{
	if (--sc->refs > 0)
		return;
	while (sc->oq_head) {
		struct outbuf *o = sc->oq_head;
		sc->oq_head = o->next;
		fc_free(o->buf);
		fc_free(o);
	}
	fc_ledger_iter_destroy(sc->it);
	fc_free(sc);
}

/* Sends buf (owned, fc_malloc'd) in order after anything already queued. */
static void sc_send(struct sconn *sc, uint8_t *buf, size_t len)
{
	struct outbuf *o;
	int rc;

	if (!sc->conn) {
		fc_free(buf);
		return;
	}
	if (!sc->oq_head) {
		rc = fc_conn_send_owned(sc->conn, buf, len);
		if (rc == FC_OK)
			return;
		if (rc != FC_EBUSY) {
			fc_free(buf);
			return;
		}
		fc_log(FC_LOG_DEBUG, COMP, "peer slow, queueing until drained", "peer=%s",
		       fc_conn_peer(sc->conn));
	}
	o = fc_malloc(sizeof *o);
	if (!o) {
		/* cannot keep order without it: give the connection up */
		fc_free(buf);
		fc_conn_close(sc->conn);
		return;
	}
	o->next = NULL;
	o->buf = buf;
	o->len = len;
	if (sc->oq_tail)
		sc->oq_tail->next = o;
	else
		sc->oq_head = o;
	sc->oq_tail = o;
}

static void reply(struct sconn *sc, Flexchain__ControlMessage *cm)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char em[FC_ERRMSG_LEN];

	if (!sc->conn)
		return;
	if (fc_wire_encode(&cm->base, &buf, &len, em) != FC_OK) {
		fc_log(FC_LOG_ERROR, COMP, "encode reply failed", "peer=%s reason=\"%s\"",
		       fc_conn_peer(sc->conn), em);
		fc_conn_close(sc->conn);
		return;
	}
	sc_send(sc, buf, len);
}

static void reply_error(struct sconn *sc, uint64_t id, int code, const char *msg)
{
	Flexchain__ControlMessage cm;
	Flexchain__Error e;

	fc_ctl_error(&cm, &e, id, code, msg);
	reply(sc, &cm);
}

/* Streams what the ledger has beyond the subscriber's position. */
static void pump(struct sconn *sc)
{
	char em[FC_ERRMSG_LEN];

	while (sc->it && sc->conn && !sc->oq_head) {
		const struct fc_ledger_entry *e = NULL;
		Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
		int rc = fc_ledger_iter_next(sc->it, &e, em);

		if (rc != FC_OK) {
			fc_log(FC_LOG_ERROR, COMP, "deliver failed", "peer=%s reason=\"%s\"",
			       fc_conn_peer(sc->conn), em);
			reply_error(sc, sc->deliver_id, rc, em);
			stream_end(sc);
			return;
		}
		if (!e)
			return; /* caught up: the next append wakes us */
		cm.request_id = sc->deliver_id;
		cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK;
		cm.block = e->block;
		reply(sc, &cm);
		if (sc->with_decisions) {
			Flexchain__Decision d = FLEXCHAIN__DECISION__INIT;
			d.height = e->height;
			d.verdict = e->verdict;
			d.certificate = e->cert;
			cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_DECISION;
			cm.decision = &d;
			reply(sc, &cm);
		}
	}
}

static void on_drain(struct fc_conn *conn, void *ud)
{
	struct sconn *sc = ud;

	while (sc->oq_head && sc->conn) {
		struct outbuf *o = sc->oq_head;
		int rc = fc_conn_send_owned(sc->conn, o->buf, o->len);
		if (rc == FC_EBUSY)
			return;
		if (rc != FC_OK)
			fc_free(o->buf);
		sc->oq_head = o->next;
		if (!sc->oq_head)
			sc->oq_tail = NULL;
		fc_free(o);
	}
	pump(sc);
}

static void on_accept(struct fc_conn *conn, void *ud)
{
	struct stord *s = ud;
	struct sconn *sc = fc_calloc(1, sizeof *sc);

	if (!sc) {
		fc_conn_set_data(conn, NULL);
		fc_conn_close(conn);
		return;
	}
	sc->s = s;
	sc->conn = conn;
	sc->refs = 1;
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	fc_conn_set_data(conn, sc);
}

static void on_close(struct fc_conn *conn, int code, const char *reason, void *ud)
{
	struct sconn *sc = ud;

	(void)conn;
	(void)code;
	(void)reason;
	if (!sc)
		return;
	sc->conn = NULL;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		sc->s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	stream_end(sc);
	sc_unref(sc);
}

/* ----------------------------------------------------------------- appends */

static int check_certified(struct stord *s, const Flexchain__LedgerAppend *la, char *em)
{
	int rc;

	if (!la || !la->block || !la->block->header || !la->verdict || !la->certificate)
		return fc_errf(em, FC_EPROTO, "append: block, verdict and certificate required");
	rc = fc_wire_check_block(la->block, em);
	if (rc == FC_OK)
		rc = fc_wire_check_verdict(la->verdict, la->block->n_envelopes, em);
	if (rc == FC_OK)
		rc = fc_wire_check_certificate(la->certificate, em);
	if (rc != FC_OK)
		return fc_errwrap(em, rc, "block %llu",
				  (unsigned long long)la->block->header->height);
	/* The organisations in force at the block's height (blocks arrive
	 * in order: that is cc_next; an idempotent resend of an older block
	 * is checked against the newer ones). */
	return fc_storage_verify_certified(fc_chaincfg_castore(s->cc), la->block, la->verdict,
					   la->certificate, em);
}

static void ledger_release(void *ud, Flexchain__BlockReply *br);

/* fc_chaincfg_source over the local ledger: blocks [from, from + count)
 * with their certified verdicts, as far as stored. */
static int ledger_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
			char *errmsg)
{
	struct fc_ledger *l = ud;
	Flexchain__BlockReply *br;
	int rc = FC_OK;

	*out = NULL;
	br = fc_calloc(1, sizeof *br);
	if (!br)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	flexchain__block_reply__init(br);
	br->blocks = fc_calloc(count ? count : 1, sizeof *br->blocks);
	br->decisions = fc_calloc(count ? count : 1, sizeof *br->decisions);
	if (!br->blocks || !br->decisions) {
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t h = from; h < from + count; h++) {
		Flexchain__Block *b = NULL;
		Flexchain__Decision *d = fc_calloc(1, sizeof *d);

		if (!d) {
			rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
			break;
		}
		flexchain__decision__init(d);
		d->height = h;
		rc = fc_ledger_get_block(l, h, &b, errmsg);
		if (rc == FC_OK)
			rc = fc_ledger_get_verdict(l, h, &d->verdict, errmsg);
		if (rc != FC_OK) {
			if (b)
				fc_wire_free(&b->base);
			fc_free(d);
			break;
		}
		br->blocks[br->n_blocks++] = b;
		br->decisions[br->n_decisions++] = d;
	}
	if (rc == FC_ENOTFOUND && br->n_blocks > 0)
		rc = FC_OK; /* fewer than asked: the head */
out:
	if (rc == FC_OK)
		*out = br;
	else
		ledger_release(ud, br);
	return rc;
}

static void ledger_release(void *ud, Flexchain__BlockReply *br)
{
	(void)ud;
	if (!br)
		return;
	for (size_t i = 0; i < br->n_blocks; i++)
		fc_wire_free(&br->blocks[i]->base);
	for (size_t i = 0; i < br->n_decisions; i++) {
		if (br->decisions[i]->verdict)
			fc_wire_free(&br->decisions[i]->verdict->base);
		fc_free(br->decisions[i]);
	}
	fc_free(br->blocks);
	fc_free(br->decisions);
	fc_free(br);
}

/* Brings the configuration up to the ledger's head: applied height + 1
 * (appender thread, or fc_stord_run before it starts). b, the block just
 * appended with its verdict v, is folded directly when it is the next
 * one (may be NULL); anything else is read back from the ledger (at
 * start, or after a failure). On error the configuration stays behind
 * and the next append tries again. */
static int cc_sync(struct stord *s, const Flexchain__Block *b, const Flexchain__Verdict *v,
		   char *em)
{
	struct fc_chaincfg_source src = {
	    .fetch = ledger_fetch, .release = ledger_release, .ud = s->ledger};
	struct fc_chaincfg *cc;
	uint64_t applied, next;
	int rc = FC_OK;

	if (fc_ledger_applied_height(s->ledger, &applied) != FC_OK)
		return FC_OK; /* empty: genesis */
	if (s->cc_next > applied)
		return FC_OK;
	cc = fc_chaincfg_ref(s->cc);
	next = s->cc_next;
	if (b && b->header->height == next) {
		rc = fc_chaincfg_advance(&cc, b, v->tx_status.data, em);
		if (rc == FC_OK)
			next++;
	}
	if (rc == FC_OK && next <= applied)
		rc = fc_chaincfg_rebuild(&cc, &next, applied + 1, &src, em);
	if (rc != FC_OK)
		fc_log(FC_LOG_ERROR, COMP, "configuration behind the ledger",
		       "height=%llu reason=\"%s\"", (unsigned long long)next, em);
	pthread_mutex_lock(&s->cc_mu);
	fc_chaincfg_unref(s->cc);
	s->cc = cc;
	s->cc_next = next; /* what was folded stays folded */
	pthread_cond_broadcast(&s->cc_cv);
	pthread_mutex_unlock(&s->cc_mu);
	return rc;
}

/* Pulls what the most advanced peer has beyond our head. Appender thread.
 * Returns FC_OK when it got what that peer had (*pulled blocks, 0 when we
 * were level or every peer is empty), FC_ENOTFOUND when no peer answered,
 * else the error that stopped it (em); FC_ECLOSED when stopping. */
static int catch_up(struct stord *s, struct fc_storage_client *cl, uint64_t *pulled, char *em)
{
	struct fc_storage_height hi;
	char pe[FC_ERRMSG_LEN];
	uint64_t best_h = 0, mine, first;
	size_t best = (size_t)-1, answered = 0, failed = 0;
	struct timespec t_log;
	int have_best = 0, empty;

	*pulled = 0;
	snprintf(em, FC_ERRMSG_LEN, "no peer replica in the configuration");
	for (size_t i = 0; i < s->cfg->storage.n_replicas; i++) {
		if (i == s->self_index)
			continue;
		if (fc_storage_get_height(cl, i, &hi, pe) != FC_OK) {
			fc_log(FC_LOG_DEBUG, COMP, "peer unreachable", "peer=%s reason=\"%s\"",
			       s->cfg->storage.replicas[i].id, pe);
			if (!failed++)
				snprintf(em, FC_ERRMSG_LEN, "no peer replica answered (%s: %.400s)",
					 s->cfg->storage.replicas[i].id, pe);
			continue;
		}
		answered++;
		if (!hi.empty && (!have_best || hi.applied_height > best_h)) {
			best_h = hi.applied_height;
			best = i;
			have_best = 1;
		}
	}
	if (!answered) {
		if (failed > 1)
			snprintf(em + strlen(em), FC_ERRMSG_LEN - strlen(em), " and %zu more",
				 failed - 1);
		return FC_ENOTFOUND;
	}
	em[0] = '\0';
	if (!have_best)
		return FC_OK;
	empty = fc_ledger_applied_height(s->ledger, &mine) != FC_OK;
	if (!empty && mine >= best_h)
		return FC_OK;
	first = empty ? 0 : mine + 1;
	fc_log(FC_LOG_INFO, COMP, "catching up", "peer=%s from=%llu to=%llu",
	       s->cfg->storage.replicas[best].id, (unsigned long long)first,
	       (unsigned long long)best_h);
	clock_gettime(CLOCK_MONOTONIC, &t_log);
	for (uint64_t h = first; h <= best_h;) {
		Flexchain__BlockReply *br = NULL;
		int rc;

		if (atomic_load(&s->stopping))
			return fc_errf(em, FC_ECLOSED,
				       "catch-up stopped at height %llu: shutting down",
				       (unsigned long long)h);
		if (seconds_since(&t_log) >= CATCHUP_LOG_S) {
			fc_log(FC_LOG_INFO, COMP, "catch-up progress",
			       "peer=%s height=%llu to=%llu", s->cfg->storage.replicas[best].id,
			       (unsigned long long)h, (unsigned long long)best_h);
			clock_gettime(CLOCK_MONOTONIC, &t_log);
		}
		rc = fc_storage_get_blocks(cl, best, h, CATCHUP_BATCH, &br, em);
		if (rc == FC_OK && (br->n_blocks == 0 || br->n_decisions != br->n_blocks))
			rc = fc_errf(em, FC_EPROTO, "empty or unpaired block reply");
		for (size_t j = 0; rc == FC_OK && j < br->n_blocks; j++) {
			Flexchain__LedgerAppend la = FLEXCHAIN__LEDGER_APPEND__INIT;
			Flexchain__Decision *d = br->decisions[j];
			la.block = br->blocks[j];
			la.verdict = d ? d->verdict : NULL;
			la.certificate = d ? d->certificate : NULL;
			rc = check_certified(s, &la, em);
			if (rc == FC_OK && la.block->header->height != h)
				rc = fc_errf(em, FC_EPROTO, "peer sent height %llu for %llu",
					     (unsigned long long)la.block->header->height,
					     (unsigned long long)h);
			if (rc == FC_OK) {
				struct timespec t0;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				rc = fc_ledger_append(s->ledger, la.block, la.verdict,
						      la.certificate, em);
				if (rc == FC_OK) {
					note_appended(s, la.block, la.verdict, seconds_since(&t0));
					/* the next block is checked with its
					 * organisations */
					rc = cc_sync(s, la.block, la.verdict, em);
				}
			}
			if (rc == FC_OK) {
				h++;
				(*pulled)++;
			}
		}
		if (br)
			fc_wire_free(&br->base);
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "catch-up stopped",
			       "peer=%s height=%llu reason=\"%s\"",
			       s->cfg->storage.replicas[best].id, (unsigned long long)h, em);
			return fc_errwrap(em, rc, "catch-up from %s at height %llu",
					  s->cfg->storage.replicas[best].id, (unsigned long long)h);
		}
	}
	fc_log(FC_LOG_INFO, COMP, "caught up", "peer=%s height=%llu",
	       s->cfg->storage.replicas[best].id, (unsigned long long)best_h);
	return FC_OK;
}

/* A joining replica's first catch-up: rounds until one finds nothing new
 * (the peers keep appending meanwhile), at most JOIN_ROUNDS; what is left
 * after that reaches it through the gap catch-up of its first append. */
static int join_catch_up(struct stord *s, struct fc_storage_client *cl, char *em)
{
	uint64_t pulled = 0, total = 0, h = 0;
	int rc = FC_OK;

	for (int round = 0; round < JOIN_ROUNDS; round++) {
		rc = catch_up(s, cl, &pulled, em);
		if (rc != FC_OK)
			return rc;
		total += pulled;
		if (pulled == 0)
			break;
	}
	if (fc_ledger_applied_height(s->ledger, &h) == FC_OK)
		fc_log(FC_LOG_INFO, COMP, "joined: ledger caught up",
		       "height=%llu blocks_pulled=%llu", (unsigned long long)h,
		       (unsigned long long)total);
	else
		fc_log(FC_LOG_INFO, COMP, "joined: the chain is empty", NULL);
	return rc;
}

static void do_append(struct stord *s, struct fc_storage_client *cl, struct ajob *j)
{
	const Flexchain__LedgerAppend *la = j->cm->ledger_append;
	const struct fc_chaincfg *checked_with;
	char em[FC_ERRMSG_LEN] = "";
	struct timespec t0;
	uint64_t applied = 0;
	int empty;

	/* the configuration behind the ledger after a failure: again */
	j->rc = cc_sync(s, NULL, NULL, j->err);
	if (j->rc != FC_OK)
		return;
	checked_with = s->cc;
	j->rc = check_certified(s, la, j->err);
	if (j->rc != FC_OK)
		return;
	j->height = la->block->header->height;
	empty = fc_ledger_applied_height(s->ledger, &applied) != FC_OK;
	if (cl && (empty ? j->height > 0 : j->height > applied + 1)) {
		/* a gap: we missed blocks while down, or before a config
		 * transaction made us a write target. What fails here shows in
		 * the append below. */
		uint64_t pulled;
		(void)catch_up(s, cl, &pulled, em);
	}
	if (s->cc != checked_with) {
		/* the gap changed the organisations: check with those */
		j->rc = check_certified(s, la, j->err);
		if (j->rc != FC_OK)
			return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	j->rc = fc_ledger_append(s->ledger, la->block, la->verdict, la->certificate, j->err);
	if (j->rc == FC_OK) {
		note_appended(s, la->block, la->verdict, seconds_since(&t0));
		cc_sync(s, la->block, la->verdict, em);
	}
}

static void *appender_main(void *arg)
{
	struct stord *s = arg;
	struct fc_storage_client *cl = NULL;
	struct fc_storage_client_opts o;
	char em[FC_ERRMSG_LEN] = "";
	uint64_t pulled;
	int rc = FC_OK;

	if (s->joining || s->cfg->storage.n_replicas > 1) {
		fc_storage_client_opts_init(&o);
		o.skip_replica = s->self_index;
		o.timeout_ms = 3000;
		o.connect_timeout_ms = 500;
		rc = fc_storage_client_create(s->cfg, &o, &cl, em);
		if (rc != FC_OK)
			fc_log(FC_LOG_WARN, COMP, "no peer client", "reason=\"%s\"", em);
		else if (s->joining)
			rc = join_catch_up(s, cl, em);
		else
			(void)catch_up(s, cl, &pulled, em);
	}
	if (s->joining) {
		if (rc == FC_OK && !atomic_load(&s->stopping)) {
			atomic_store(&s->serving, 1);
			sd_notify(0, "READY=1");
			fc_log(FC_LOG_INFO, COMP, "storage replica ready", "id=%s", s->self->id);
		} else if (rc != FC_OK) {
			/* the loop ends the run (on_async) */
			pthread_mutex_lock(&s->mu);
			s->join_rc = rc;
			snprintf(s->join_err, sizeof s->join_err, "join: %s", em);
			pthread_mutex_unlock(&s->mu);
			uv_async_send(&s->async);
		}
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct ajob *j;
		while (!s->q_head && !atomic_load(&s->stopping))
			pthread_cond_wait(&s->cv, &s->mu);
		j = s->q_head;
		if (!j)
			break;
		s->q_head = j->next;
		if (!s->q_head)
			s->q_tail = NULL;
		j->next = NULL;
		if (atomic_load(&s->stopping)) {
			j->rc = fc_errf(j->err, FC_ECLOSED, "storage replica shutting down");
		} else {
			pthread_mutex_unlock(&s->mu);
			do_append(s, cl, j);
			pthread_mutex_lock(&s->mu);
		}
		if (s->done_tail)
			s->done_tail->next = j;
		else
			s->done_head = j;
		s->done_tail = j;
		uv_async_send(&s->async);
	}
	pthread_mutex_unlock(&s->mu);
	fc_storage_client_destroy(cl);
	return NULL;
}

static void ajob_free(struct ajob *j)
{
	fc_wire_free(&j->cm->base);
	sc_unref(j->sc);
	fc_free(j);
}

static void begin_shutdown(struct stord *s, const char *why);

static void on_async(uv_async_t *a)
{
	struct stord *s = a->data;
	struct ajob *list;
	int appended = 0, join_failed;

	pthread_mutex_lock(&s->mu);
	list = s->done_head;
	s->done_head = s->done_tail = NULL;
	join_failed = s->join_rc != FC_OK;
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct ajob *j = list;
		Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
		Flexchain__LedgerAck ack = FLEXCHAIN__LEDGER_ACK__INIT;

		list = j->next;
		if (j->rc == FC_OK)
			appended = 1;
		else
			fc_metric_inc(s->m.refused);
		if (j->rc != FC_OK)
			fc_log(FC_LOG_WARN, COMP, "append refused",
			       "height=%llu code=%s reason=\"%s\"", (unsigned long long)j->height,
			       fc_strerror(j->rc), j->err);
		ack.height = j->height;
		ack.code = (uint32_t)j->rc;
		ack.message = j->rc == FC_OK ? (char *)"" : j->err;
		ack.replica = s->self->id;
		cm.request_id = j->req_id;
		cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK;
		cm.ledger_ack = &ack;
		reply(j->sc, &cm);
		ajob_free(j);
	}
	if (appended)
		for (struct sconn *sc = s->conns; sc; sc = sc->next)
			pump(sc);
	if (join_failed && !s->closing) {
		fc_log(FC_LOG_ERROR, COMP, "cannot join", "reason=\"%s\"", s->join_err);
		begin_shutdown(s, "catch-up failed");
	}
}

static void enqueue_append(struct stord *s, struct sconn *sc, Flexchain__ControlMessage *cm)
{
	struct ajob *j = fc_calloc(1, sizeof *j);

	if (!j) {
		reply_error(sc, cm->request_id, FC_ENOMEM, "out of memory");
		fc_wire_free(&cm->base);
		return;
	}
	j->sc = sc;
	sc->refs++;
	j->req_id = cm->request_id;
	j->cm = cm;
	if (cm->ledger_append && cm->ledger_append->block && cm->ledger_append->block->header)
		j->height = cm->ledger_append->block->header->height;
	pthread_mutex_lock(&s->mu);
	if (s->q_tail)
		s->q_tail->next = j;
	else
		s->q_head = j;
	s->q_tail = j;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* -------------------------------------------------------------- validation */

static int st_get_versions(void *ud, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			   char *errmsg)
{
	struct stord *s = ud;
	struct fc_ledger_kv *kvs = fc_calloc(n ? n : 1, sizeof *kvs);
	int rc;

	if (!kvs)
		return fc_errf(errmsg, FC_ENOMEM, "state: out of memory");
	for (size_t i = 0; i < n; i++) {
		kvs[i].key = keys[i].data;
		kvs[i].key_len = keys[i].len;
	}
	rc = fc_ledger_state_get_batch(s->ledger, kvs, n, errmsg);
	if (rc == FC_OK)
		for (size_t i = 0; i < n; i++)
			versions[i] = kvs[i].found ? kvs[i].version : 0;
	fc_ledger_kv_release(kvs, n);
	fc_free(kvs);
	return rc;
}

static int st_txids(void *ud, const char *const *ids, size_t n, bool *seen, char *errmsg)
{
	struct stord *s = ud;

	for (size_t i = 0; i < n; i++) {
		struct fc_ledger_tx tx;
		int rc = fc_ledger_get_tx(s->ledger, ids[i], &tx, errmsg);
		if (rc == FC_OK)
			seen[i] = true;
		else if (rc == FC_ENOTFOUND)
			seen[i] = false;
		else
			return rc;
	}
	return FC_OK;
}

/* The state ops of a validation: the replica, and the configuration in
 * force at the block's height. */
struct vctx {
	struct stord *s;
	struct fc_chaincfg *cc;
};

static int st_get_versions_v(void *ud, const ProtobufCBinaryData *keys, size_t n,
			     uint64_t *versions, char *errmsg)
{
	return st_get_versions(((struct vctx *)ud)->s, keys, n, versions, errmsg);
}

static int st_txids_v(void *ud, const char *const *ids, size_t n, bool *seen, char *errmsg)
{
	return st_txids(((struct vctx *)ud)->s, ids, n, seen, errmsg);
}

static const struct fc_policy *st_policy(void *ud, const char *contract)
{
	return fc_chaincfg_policy_for(((struct vctx *)ud)->cc, contract);
}

static int st_check_config(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			   const Flexchain__ConfigTx *c, char *why)
{
	return fc_chaincfg_check_after(((struct vctx *)ud)->cc, earlier, n_earlier, c, why);
}

/* The configuration in force at height h, waiting up to timeout_ms for the
 * appender to fold block h - 1 (new reference); NULL when it does not. */
static struct fc_chaincfg *cc_at(struct stord *s, uint64_t h, int timeout_ms)
{
	struct fc_chaincfg *cc = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->cc_mu);
	while (s->cc_next < h && !atomic_load(&s->stopping))
		if (pthread_cond_timedwait(&s->cc_cv, &s->cc_mu, &ts) != 0)
			break;
	if (s->cc_next == h)
		cc = fc_chaincfg_ref(s->cc);
	pthread_mutex_unlock(&s->cc_mu);
	return cc;
}

static void validate_work(uv_work_t *w)
{
	struct vjob *j = w->data;
	struct stord *s = j->s;
	const Flexchain__ValidateRequest *vr = j->cm->validate_request;
	const Flexchain__Block *b = vr ? vr->block : NULL;
	struct fc_validate_opts o;
	struct vctx vc = {s, NULL};
	uint8_t wsh[FC_HASH_LEN];
	uint8_t *status = NULL;
	uint64_t h, applied = 0;
	int empty;
	int timeout = (int)(s->cfg->validation.timeout_ms ? s->cfg->validation.timeout_ms : 2000);

	if (!b || !b->header) {
		j->rc = fc_errf(j->err, FC_EPROTO, "validate: no block");
		return;
	}
	h = b->header->height;
	if (h > 0) {
		j->rc = fc_ledger_wait(s->ledger, h - 1, timeout);
		if (j->rc != FC_OK) {
			empty = fc_ledger_applied_height(s->ledger, &applied) != FC_OK;
			j->rc =
			    fc_errf(j->err, j->rc,
				    "validate block %llu: state through %llu not applied within "
				    "%d ms (applied height %s%llu)",
				    (unsigned long long)h, (unsigned long long)(h - 1), timeout,
				    empty ? "none " : "", (unsigned long long)applied);
			return;
		}
	}
	empty = fc_ledger_applied_height(s->ledger, &applied) != FC_OK;
	if (!empty && (h == 0 || applied != h - 1)) {
		j->rc = fc_errf(j->err, FC_ESTATE,
				"validate block %llu: already applied (applied height %llu)",
				(unsigned long long)h, (unsigned long long)applied);
		return;
	}
	/* judged by the configuration in force at the block's height */
	vc.cc = cc_at(s, h, timeout);
	if (!vc.cc) {
		j->rc = fc_errf(j->err, FC_EAGAIN,
				"validate block %llu: configuration at that height not known",
				(unsigned long long)h);
		goto cleanup;
	}
	status = fc_calloc(b->n_envelopes ? b->n_envelopes : 1, 1);
	if (!status) {
		j->rc = fc_errf(j->err, FC_ENOMEM, "validate: out of memory");
		goto cleanup;
	}
	memset(&o, 0, sizeof o);
	o.castore = fc_chaincfg_castore(vc.cc);
	o.pool = s->pool;
	o.parallel = s->cfg->validation.parallel && s->pool;
	o.state.get_versions = st_get_versions_v;
	o.state.txids_committed = st_txids_v;
	o.state.policy_for = st_policy;
	o.state.check_config = st_check_config;
	o.state.ud = &vc;
	j->rc = fc_validate_block(&o, b, status, wsh, j->err);
	if (j->rc != FC_OK) {
		fc_errwrap(j->err, j->rc, "validate block %llu", (unsigned long long)h);
		goto cleanup;
	}
	/* an append that raced the reads would make the verdict stale */
	empty = fc_ledger_applied_height(s->ledger, &applied) != FC_OK;
	if (h > 0 && (empty || applied != h - 1)) {
		j->rc = fc_errf(j->err, FC_EAGAIN, "validate block %llu: state moved, retry",
				(unsigned long long)h);
		goto cleanup;
	}
	j->rc =
	    fc_validate_verdict_sign(b, status, wsh, true, s->cert, s->key, &j->verdict, j->err);
cleanup:
	fc_free(status);
	fc_chaincfg_unref(vc.cc);
	/* libuv's pool threads live until process exit without running
	 * OpenSSL's thread-exit cleanup: free this thread's OpenSSL state now
	 * (re-created on the next use) so a clean shutdown leaks nothing. */
	OPENSSL_thread_stop();
}

static void validate_done(uv_work_t *w, int status)
{
	struct vjob *j = w->data;

	(void)status;
	fc_metric_inc(j->rc == FC_OK ? j->s->m.validations_ok : j->s->m.validations_err);
	if (j->rc == FC_OK) {
		Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
		cm.request_id = j->req_id;
		cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_VERDICT;
		cm.verdict = j->verdict;
		reply(j->sc, &cm);
		fc_log(FC_LOG_INFO, COMP, "block validated", "height=%llu",
		       (unsigned long long)j->verdict->height);
	} else {
		fc_log(FC_LOG_WARN, COMP, "validation failed", "reason=\"%s\"", j->err);
		reply_error(j->sc, j->req_id, j->rc, j->err);
	}
	fc_validate_verdict_free(j->verdict);
	fc_wire_free(&j->cm->base);
	sc_unref(j->sc);
	fc_free(j);
}

static void enqueue_validate(struct stord *s, struct sconn *sc, Flexchain__ControlMessage *cm)
{
	struct vjob *j = fc_calloc(1, sizeof *j);

	if (!j) {
		reply_error(sc, cm->request_id, FC_ENOMEM, "out of memory");
		fc_wire_free(&cm->base);
		return;
	}
	j->s = s;
	j->sc = sc;
	j->req_id = cm->request_id;
	j->cm = cm;
	j->w.data = j;
	sc->refs++;
	if (uv_queue_work(&s->loop, &j->w, validate_work, validate_done) != 0) {
		reply_error(sc, cm->request_id, FC_EIO, "cannot queue validation");
		sc_unref(sc);
		fc_wire_free(&cm->base);
		fc_free(j);
	}
}

/* ----------------------------------------------------------------- queries */

static void q_height(struct stord *s, struct sconn *sc, uint64_t id)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__HeightInfo hi = FLEXCHAIN__HEIGHT_INFO__INIT;
	uint8_t hash[FC_HASH_LEN];
	uint64_t h = 0;

	if (fc_ledger_head(s->ledger, &h, hash) == FC_OK) {
		hi.applied_height = h;
		hi.last_hash.data = hash;
		hi.last_hash.len = FC_HASH_LEN;
	} else {
		hi.empty = 1;
	}
	hi.node_id = s->self->id;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO;
	cm.height_info = &hi;
	reply(sc, &cm);
}

static void q_blocks(struct stord *s, struct sconn *sc, uint64_t id, const Flexchain__BlockQuery *q)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__BlockReply br = FLEXCHAIN__BLOCK_REPLY__INIT;
	Flexchain__Block **blocks = NULL;
	Flexchain__Decision **decs = NULL;
	Flexchain__Decision *dmem = NULL;
	char em[FC_ERRMSG_LEN];
	uint64_t from = q->height, count = q->count ? q->count : 1;
	size_t n = 0, bytes = 0;
	int rc = FC_OK;

	if (q->hash.len) {
		if (q->hash.len != FC_HASH_LEN) {
			reply_error(sc, id, FC_EINVAL, "block query: hash must be 32 bytes");
			return;
		}
		rc = fc_ledger_height_by_hash(s->ledger, q->hash.data, &from, em);
		if (rc != FC_OK) {
			reply_error(sc, id, rc, em);
			return;
		}
	}
	if (count > QUERY_MAX_BLOCKS)
		count = QUERY_MAX_BLOCKS;
	blocks = fc_calloc(count, sizeof *blocks);
	decs = fc_calloc(count, sizeof *decs);
	dmem = fc_calloc(count, sizeof *dmem);
	if (!blocks || !decs || !dmem) {
		reply_error(sc, id, FC_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (; n < count; n++) {
		Flexchain__Block *b = NULL;
		Flexchain__Verdict *v = NULL;
		Flexchain__CommitCertificate *c = NULL;

		rc = fc_ledger_get_block(s->ledger, from + n, &b, em);
		if (rc == FC_OK)
			rc = fc_ledger_get_verdict(s->ledger, from + n, &v, em);
		if (rc == FC_OK)
			rc = fc_ledger_get_cert(s->ledger, from + n, &c, em);
		if (rc != FC_OK) {
			fc_wire_free(b ? &b->base : NULL);
			fc_wire_free(v ? &v->base : NULL);
			break;
		}
		flexchain__decision__init(&dmem[n]);
		dmem[n].height = from + n;
		dmem[n].verdict = v;
		dmem[n].certificate = c;
		blocks[n] = b;
		decs[n] = &dmem[n];
		bytes += protobuf_c_message_get_packed_size(&b->base) +
			 protobuf_c_message_get_packed_size(&c->base) * 2;
		if (bytes > s->max_frame / 2) {
			n++;
			break;
		}
	}
	if (n == 0) {
		reply_error(sc, id, rc == FC_OK ? FC_ENOTFOUND : rc, rc == FC_OK ? "no block" : em);
		goto cleanup;
	}
	br.n_blocks = n;
	br.blocks = blocks;
	br.n_decisions = n;
	br.decisions = decs;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK_REPLY;
	cm.block_reply = &br;
	reply(sc, &cm);
cleanup:
	for (size_t i = 0; i < n; i++) {
		fc_wire_free(&blocks[i]->base);
		fc_wire_free(&dmem[i].verdict->base);
		fc_wire_free(&dmem[i].certificate->base);
	}
	fc_free(blocks);
	fc_free(decs);
	fc_free(dmem);
}

/* Fills ti for tx_id (borrowed); FC_OK also when the tx is not found. */
static int fill_txinfo(struct stord *s, const char *tx_id, Flexchain__TxInfo *ti, char *em)
{
	struct fc_ledger_tx tx;
	int rc = fc_ledger_get_tx(s->ledger, tx_id, &tx, em);

	if (rc != FC_OK && rc != FC_ENOTFOUND)
		return rc;
	flexchain__tx_info__init(ti);
	ti->tx_id = (char *)tx_id;
	if (rc == FC_OK) {
		ti->found = 1;
		ti->height = tx.height;
		ti->index = tx.index;
		ti->status = (Flexchain__TxStatus)tx.status;
	}
	return FC_OK;
}

static void q_tx(struct stord *s, struct sconn *sc, uint64_t id, const Flexchain__TxQuery *q)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__TxInfo ti;
	char em[FC_ERRMSG_LEN];
	int rc = fill_txinfo(s, q->tx_id ? q->tx_id : "", &ti, em);

	if (rc != FC_OK) {
		reply_error(sc, id, rc, em);
		return;
	}
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO;
	cm.tx_info = &ti;
	reply(sc, &cm);
}

static void q_txs(struct stord *s, struct sconn *sc, uint64_t id, const Flexchain__TxBatchQuery *q)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__TxBatchInfo bi = FLEXCHAIN__TX_BATCH_INFO__INIT;
	size_t n = q->n_tx_ids;
	Flexchain__TxInfo *tis = fc_calloc(n ? n : 1, sizeof *tis);
	Flexchain__TxInfo **ptrs = fc_calloc(n ? n : 1, sizeof *ptrs);
	char em[FC_ERRMSG_LEN];
	int rc = tis && ptrs ? FC_OK : fc_errf(em, FC_ENOMEM, "out of memory");

	for (size_t i = 0; i < n && rc == FC_OK; i++) {
		rc = fill_txinfo(s, q->tx_ids[i] ? q->tx_ids[i] : "", &tis[i], em);
		ptrs[i] = &tis[i];
	}
	if (rc != FC_OK) {
		reply_error(sc, id, rc, em);
	} else {
		bi.n_txs = n;
		bi.txs = ptrs;
		cm.request_id = id;
		cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_BATCH_INFO;
		cm.tx_batch_info = &bi;
		reply(sc, &cm);
	}
	fc_free(ptrs);
	fc_free(tis);
}

static void q_state(struct stord *s, struct sconn *sc, uint64_t id, const Flexchain__StateQuery *q)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__StateReply sr = FLEXCHAIN__STATE_REPLY__INIT;
	struct fc_ledger_kv *kvs = fc_calloc(q->n_keys ? q->n_keys : 1, sizeof *kvs);
	Flexchain__StateEntry *ents = fc_calloc(q->n_keys ? q->n_keys : 1, sizeof *ents);
	Flexchain__StateEntry **ptrs = fc_calloc(q->n_keys ? q->n_keys : 1, sizeof *ptrs);
	char em[FC_ERRMSG_LEN];
	uint64_t applied = 0;
	int rc;

	if (!kvs || !ents || !ptrs) {
		reply_error(sc, id, FC_ENOMEM, "out of memory");
		goto cleanup;
	}
	(void)fc_ledger_applied_height(s->ledger, &applied);
	for (size_t i = 0; i < q->n_keys; i++) {
		kvs[i].key = q->keys[i].data;
		kvs[i].key_len = q->keys[i].len;
	}
	rc = fc_ledger_state_get_batch(s->ledger, kvs, q->n_keys, em);
	if (rc != FC_OK) {
		reply_error(sc, id, rc, em);
		goto cleanup;
	}
	for (size_t i = 0; i < q->n_keys; i++) {
		flexchain__state_entry__init(&ents[i]);
		ents[i].key = q->keys[i];
		ents[i].found = kvs[i].found;
		ents[i].version = kvs[i].version;
		ents[i].value.data = kvs[i].value;
		ents[i].value.len = kvs[i].value_len;
		ptrs[i] = &ents[i];
	}
	sr.n_entries = q->n_keys;
	sr.entries = ptrs;
	sr.applied_height = applied;
	cm.request_id = id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_REPLY;
	cm.state_reply = &sr;
	reply(sc, &cm);
	fc_ledger_kv_release(kvs, q->n_keys);
cleanup:
	fc_free(kvs);
	fc_free(ents);
	fc_free(ptrs);
}

static void q_deliver(struct stord *s, struct sconn *sc, uint64_t id,
		      const Flexchain__DeliverRequest *q)
{
	char em[FC_ERRMSG_LEN];
	int rc;

	if (sc->it) {
		reply_error(sc, id, FC_ESTATE,
			    "a deliver stream is already open on this connection");
		return;
	}
	rc = fc_ledger_iter_from(s->ledger, q->from_height, FC_LEDGER_ITER_FOLLOW, 0, &sc->it, em);
	if (rc != FC_OK) {
		reply_error(sc, id, rc, em);
		return;
	}
	fc_metric_gauge_add(s->m.subscribers, 1);
	sc->deliver_id = id;
	sc->with_decisions = q->with_decisions;
	pump(sc);
}

static void on_frame(struct fc_conn *conn, const uint8_t *payload, size_t len, void *ud)
{
	struct sconn *sc = ud;
	struct stord *s = sc->s;
	Flexchain__ControlMessage *cm = NULL;
	char em[FC_ERRMSG_LEN];
	int rc;

	rc = fc_ctl_decode(payload, len, s->max_frame, &cm, em);
	if (rc != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "bad frame", "peer=%s reason=\"%s\"", fc_conn_peer(conn),
		       em);
		reply_error(sc, 0, rc, em);
		return;
	}
	if (s->closing) {
		reply_error(sc, cm->request_id, FC_ECLOSED, "storage replica shutting down");
		fc_wire_free(&cm->base);
		return;
	}
	switch (cm->body_case) {
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_APPEND:
		enqueue_append(s, sc, cm);
		return; /* cm now owned by the job */
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST:
		enqueue_validate(s, sc, cm);
		return;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY:
		fc_metric_inc(s->m.queries[Q_HEIGHT]);
		q_height(s, sc, cm->request_id);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK_QUERY:
		fc_metric_inc(s->m.queries[Q_BLOCKS]);
		q_blocks(s, sc, cm->request_id, cm->block_query);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_BATCH_QUERY:
		fc_metric_inc(s->m.queries[Q_TX]);
		q_txs(s, sc, cm->request_id, cm->tx_batch_query);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY:
		fc_metric_inc(s->m.queries[Q_TX]);
		q_tx(s, sc, cm->request_id, cm->tx_query);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_QUERY:
		fc_metric_inc(s->m.queries[Q_STATE]);
		q_state(s, sc, cm->request_id, cm->state_query);
		break;
	case FLEXCHAIN__CONTROL_MESSAGE__BODY_DELIVER_REQUEST:
		fc_metric_inc(s->m.queries[Q_DELIVER]);
		q_deliver(s, sc, cm->request_id, cm->deliver_request);
		break;
	default:
		reply_error(sc, cm->request_id, FC_EINVAL,
			    "message not served by a storage replica");
		break;
	}
	fc_wire_free(&cm->base);
}

/* ---------------------------------------------------------------- lifecycle */

/* mkdir -p, mode 0700 for what it creates: the data dir holds the ledger. */
static int mkdir_p(const char *path, char *errmsg)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return fc_errf(errmsg, FC_EINVAL, "bad directory '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		char saved = *p;
		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return fc_errf(errmsg, fc_err_from_errno(errno), "mkdir %s: %s", buf,
				       strerror(errno));
		*p = saved;
		if (saved == '\0')
			break;
	}
	return FC_OK;
}

static void stop_appender(struct stord *s)
{
	if (!s->appender_started)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stopping, 1);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->appender, NULL);
	s->appender_started = 0;
}

static void begin_shutdown(struct stord *s, const char *why)
{
	if (s->closing)
		return;
	s->closing = 1;
	atomic_store(&s->serving, 0);
	sd_notify(0, "STOPPING=1");
	fc_log(FC_LOG_INFO, COMP, "shutting down", "id=%s reason=%s", s->self->id, why);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	if (s->srv) {
		fc_net_server_close(s->srv, NULL, NULL);
		s->srv = NULL;
	}
	/* finishes the append in flight; queued ones are refused */
	stop_appender(s);
	on_async(&s->async);
	uv_close((uv_handle_t *)&s->async, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	begin_shutdown(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Runs replica id of cfg, or (join != NULL) the replica join describes. */
static int run(const struct fc_config *cfg, const char *id, const struct fc_stord_join *join,
	       char *errmsg)
{
	struct stord *s;
	struct fc_ledger_opts lo;
	struct fc_net_opts no;
	struct fc_net_cbs cbs;
	uint64_t h = 0;
	char hs[24] = "none";
	int rc, loop_ok = 0, mu_ok = 0, async_ok = 0;

	s = fc_calloc(1, sizeof *s);
	if (!s)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	s->cfg = cfg;
	if (join) {
		/* not a node of the file: strings borrowed from join */
		if (fc_config_find_node(cfg, join->id)) {
			rc = fc_errf(errmsg, FC_ECONFIG,
				     "%s: '%s' is a node of the file, not a "
				     "replica joining at run time",
				     cfg->path, join->id);
			goto out_free;
		}
		s->joining = 1;
		s->join_node.kind = FC_NODE_STORAGE;
		s->join_node.index = (size_t)-1;
		s->join_node.id = (char *)join->id;
		s->join_node.org = (char *)join->org;
		s->join_node.host = (char *)join->host;
		s->join_node.port = join->port;
		s->join_node.metrics_port = join->metrics_port;
		s->join_node.data_dir = (char *)join->data_dir;
		s->self = &s->join_node;
	} else {
		s->self = fc_config_find_node_kind(cfg, FC_NODE_STORAGE, id);
	}
	if (!s->self) {
		rc = fc_errf(errmsg, FC_ECONFIG, "%s: no storage replica with id '%s'", cfg->path,
			     id);
		goto out_free;
	}
	id = s->self->id;
	s->self_index = s->self->index;
	s->max_frame =
	    cfg->network.max_frame_bytes ? cfg->network.max_frame_bytes : FC_NET_DEFAULT_MAX_FRAME;
	rc = fc_identity_load(cfg->crypto_dir, s->self->org, FC_IDENTITY_ROLE_STORAGE, id, &s->cert,
			      &s->key, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "identity of %s", id);
		goto out_free;
	}
	rc = fc_chaincfg_genesis(cfg, &s->cc, errmsg);
	if (rc != FC_OK)
		goto out_identity;
	rc = fc_tpool_create(cfg->validation.threads, &s->pool, errmsg);
	if (rc != FC_OK)
		goto out_castore;
	rc = metrics_init(s, errmsg);
	if (rc != FC_OK)
		goto out_pool;
	/* up before the ledger opens: /healthz says "starting" meanwhile */
	if (s->self->metrics_port) {
		struct fc_ops_server_opts oo = {
		    .bind = cfg->metrics.bind,
		    .port = s->self->metrics_port,
		    .metrics = s->m.reg,
		    .health = health,
		    .health_ud = s,
		};
		rc = fc_ops_server_start(&oo, &s->ops, errmsg);
		if (rc != FC_OK)
			goto out_pool;
	}
	rc = mkdir_p(s->self->data_dir, errmsg);
	if (rc != FC_OK)
		goto out_pool;
	fc_ledger_opts_init(&lo);
	rc = fc_ledger_open(s->self->data_dir, &lo, &s->ledger, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "open ledger %s", s->self->data_dir);
		goto out_pool;
	}
	fc_metric_set(s->m.height,
		      fc_ledger_applied_height(s->ledger, &h) == FC_OK ? (double)h : -1.0);
	if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_cond_init(&s->cv, NULL) != 0 ||
	    pthread_mutex_init(&s->cc_mu, NULL) != 0 || pthread_cond_init(&s->cc_cv, NULL) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "mutex init failed");
		goto out_ledger;
	}
	mu_ok = 1;
	/* the configuration in force after the stored blocks */
	rc = cc_sync(s, NULL, NULL, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "chain configuration of ledger %s", s->self->data_dir);
		goto out_ledger;
	}
	if (uv_loop_init(&s->loop) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "uv_loop_init failed");
		goto out_ledger;
	}
	loop_ok = 1;
	uv_async_init(&s->loop, &s->async, on_async);
	s->async.data = s;
	async_ok = 1;
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	s->sigterm.data = s->sigint.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_signal_start(&s->sigint, on_signal, SIGINT);

	memset(&no, 0, sizeof no);
	no.max_frame_bytes = s->max_frame;
	memset(&cbs, 0, sizeof cbs);
	cbs.on_accept = on_accept;
	cbs.on_frame = on_frame;
	cbs.on_drain = on_drain;
	cbs.on_close = on_close;
	rc = fc_net_listen(&s->loop, s->self->host, s->self->port, &no, &cbs, s, &s->srv, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "listen %s:%u", s->self->host, (unsigned)s->self->port);
		goto out_handles;
	}
	if (pthread_create(&s->appender, NULL, appender_main, s) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "cannot start the appender thread");
		fc_net_server_close(s->srv, NULL, NULL);
		s->srv = NULL;
		goto out_handles;
	}
	s->appender_started = 1;

	if (fc_ledger_applied_height(s->ledger, &h) == FC_OK)
		snprintf(hs, sizeof hs, "%llu", (unsigned long long)h);
	fc_log(FC_LOG_INFO, COMP, s->joining ? "storage replica joining" : "storage replica started",
	       "id=%s port=%u data_dir=%s height=%s", id, (unsigned)s->self->port,
	       s->self->data_dir, hs);
	if (!s->joining) {
		/* a joining replica is ready once caught up (appender) */
		atomic_store(&s->serving, 1);
		sd_notify(0, "READY=1");
	}
	uv_run(&s->loop, UV_RUN_DEFAULT);
	rc = FC_OK;
	if (s->join_rc != FC_OK) {
		rc = s->join_rc;
		snprintf(errmsg, FC_ERRMSG_LEN, "%s", s->join_err);
	}
	fc_log(FC_LOG_INFO, COMP, "storage replica stopped", "id=%s", id);
	goto out_loop;

out_handles:
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	if (async_ok)
		uv_close((uv_handle_t *)&s->async, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
out_loop:
	if (loop_ok && uv_loop_close(&s->loop) != 0)
		fc_log(FC_LOG_WARN, COMP, "loop not empty at close", NULL);
out_ledger:
	if (mu_ok) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->cc_mu);
		pthread_cond_destroy(&s->cc_cv);
	}
	fc_ledger_close(s->ledger);
out_pool:
	fc_ops_server_stop(s->ops);
	fc_metrics_destroy(s->m.reg);
	fc_tpool_destroy(s->pool);
out_castore:
	fc_chaincfg_unref(s->cc);
out_identity:
	fc_crypto_cert_free(s->cert);
	fc_crypto_key_free(s->key);
out_free:
	fc_free(s);
	return rc;
}

int fc_stord_run(const struct fc_config *cfg, const char *id, char *errmsg)
{
	return run(cfg, id, NULL, errmsg);
}

int fc_stord_run_join(const struct fc_config *cfg, const struct fc_stord_join *j, char *errmsg)
{
	if (!j || !j->id || !j->org || !j->host || !j->data_dir || !j->port)
		return fc_errf(errmsg, FC_EINVAL, "join: id, org, host, port and data_dir needed");
	return run(cfg, j->id, j, errmsg);
}
