/* decide.c - committees, verdicts, certificates, storage fallback and
 * append (see decide.h). Runs on the orderer's loop; only the blocking
 * storage calls run on a thread-pool thread, one at a time. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "fc_canon.h"
#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_validate.h"
#include "fc_wire.h"
#include "orderer_int.h"

#define COMP "orderer"
#define RETRY_MS 500u
#define MAX_QUEUE 256u
#define MEM_BACKOFF_MS 1000u /* a memory node that failed is skipped this long */
#define MEM_CONNECT_MS 1000u /* at most, per connection attempt */
#define FC_ORD_HOST_MAX 255

/* A memory node of the shard map in force: told of every committed block. */
struct memnode {
	char *id, *host;
	uint16_t port;
	struct fc_netc *nc; /* blocking, used by the storage job thread only */
	uint64_t down_until;
	int down_logged;
	int waiting; /* LedgerAppend sent, no answer yet */
};

struct member {
	char *id;
	struct fc_conn *conn;
	uint64_t last_ms;
	char org[FC_CONFIG_NAME_MAX + 1];
	char host[FC_ORD_HOST_MAX + 1]; /* of Register.address; "" if unusable */
	uint16_t port;
	uint16_t metrics_port; /* Register.metrics_port, 0 none */
};

enum dec_state {
	DEC_COLLECTING = 0, /* waiting for committee verdicts */
	DEC_FALLBACK,	    /* storage must validate */
	DEC_VALIDATING,	    /* storage validation job in flight */
	DEC_CERTIFIED,	    /* certificate built, waiting for its append */
	DEC_APPENDING,	    /* append job in flight */
};

struct dec {
	struct dec *next;
	uint64_t height;
	Flexchain__Block *b; /* fc_wire_decode'd */
	uint8_t hash[FC_HASH_LEN];
	char **committee;
	size_t n_committee;
	Flexchain__Verdict **v; /* received, fc_wire_decode'd copies */
	size_t nv;
	enum dec_state state;
	uint64_t deadline_ms;
	uint64_t retry_at;
	Flexchain__Verdict *storage_v; /* fc_wire_free */
	/* certificate (hand-built; fields borrowed from the above) */
	Flexchain__CommitCertificate cert;
	Flexchain__Verdict **cert_v;
	Flexchain__Verdict *rep;
	uint8_t verdict_hash[FC_HASH_LEN];
	uint8_t *sig;
	int orphan; /* leadership lost while a job used it */
};

enum job_kind { JOB_HEIGHT, JOB_VALIDATE, JOB_APPEND };

struct job {
	uv_work_t work;
	struct fc_ord_decider *d;
	enum job_kind kind;
	uint64_t epoch;
	struct dec *dec;
	int rc;
	char err[FC_ERRMSG_LEN];
	struct fc_storage_height height;
	Flexchain__Verdict *verdict;
	/* configuration in force after the job's blocks (NULL: unchanged),
	 * with a storage client for its replicas, for blocks from cc_h on */
	struct fc_chaincfg *cc;
	struct fc_storage_client *sc;
	uint64_t cc_h;
};

struct fc_ord_decider {
	struct fc_ord_decider_env env;
	struct fc_storage_client *sc; /* for the replicas of cc */
	/* The chain-agreed configuration in force for block cc_h, the next
	 * one to append: blocks below cc_h are folded in. Replaced on the
	 * loop thread between storage jobs only, so a job reads it freely. */
	struct fc_chaincfg *cc;
	uint64_t cc_h;
	/* memory nodes of mem_cc (job thread only) */
	struct memnode *mem;
	size_t nmem;
	const struct fc_chaincfg *mem_cc;
	struct member *m;
	size_t nm, mcap;
	/* deregistered (draining) members whose connection is still open:
	 * listed by discovery, never on a committee */
	struct member *lv;
	size_t nlv, lvcap;

	int leading;
	uint64_t epoch;
	int height_known;
	uint64_t next_h; /* next height to open a decision for */
	uint64_t tip_n;	 /* blocks in the local chain */
	struct dec *head, *tail;
	size_t nq;
	uint64_t height_retry_at;
	unsigned height_failures;

	struct job *job; /* in flight */
	void (*stop_cb)(void *);
	void *stop_ud;
	int stopping;
};

static void pump(struct fc_ord_decider *d);

/* ------------------------------------------------------------ members */

static struct member *member_by_conn(struct fc_ord_decider *d, struct fc_conn *conn)
{
	for (size_t i = 0; i < d->nm; i++)
		if (d->m[i].conn == conn)
			return &d->m[i];
	return NULL;
}

static struct member *leaving_by_conn(struct fc_ord_decider *d, struct fc_conn *conn)
{
	for (size_t i = 0; i < d->nlv; i++)
		if (d->lv[i].conn == conn)
			return &d->lv[i];
	return NULL;
}

static void leaving_remove(struct fc_ord_decider *d, size_t i)
{
	fc_free(d->lv[i].id);
	memmove(&d->lv[i], &d->lv[i + 1], (d->nlv - i - 1) * sizeof *d->lv);
	d->nlv--;
}

/* Removes member i. keep: it deregistered and its connection stays open
 * while it drains: it moves to the leaving list (discovery shows it
 * draining) instead of being forgotten. */
static void member_remove_keep(struct fc_ord_decider *d, size_t i, const char *why, int keep)
{
	fc_log(FC_LOG_INFO, COMP, "compute server left", "id=%s reason=\"%s\"", d->m[i].id, why);
	if (keep && d->m[i].conn && d->nlv == d->lvcap) {
		size_t cap = d->lvcap ? 2 * d->lvcap : 8;
		struct member *lv = fc_realloc(d->lv, cap * sizeof *lv);
		if (lv) {
			d->lv = lv;
			d->lvcap = cap;
		}
	}
	if (keep && d->m[i].conn && d->nlv < d->lvcap) {
		for (size_t j = d->nlv; j-- > 0;)
			if (strcmp(d->lv[j].id, d->m[i].id) == 0)
				leaving_remove(d, j);
		d->lv[d->nlv++] = d->m[i]; /* takes the id */
	} else {
		fc_free(d->m[i].id);
	}
	memmove(&d->m[i], &d->m[i + 1], (d->nm - i - 1) * sizeof *d->m);
	d->nm--;
}

static void member_remove(struct fc_ord_decider *d, size_t i, const char *why)
{
	member_remove_keep(d, i, why, 0);
}

/* "host:port" (host may be a bracketed IPv6 address) of a registration;
 * host "" and port 0 when it is not one. */
static void parse_address(const char *a, char host[FC_ORD_HOST_MAX + 1], uint16_t *port)
{
	const char *colon = a ? strrchr(a, ':') : NULL;
	unsigned long v = 0;
	size_t hl;
	char *end;

	host[0] = '\0';
	*port = 0;
	if (!colon || colon == a || !colon[1])
		return;
	v = strtoul(colon + 1, &end, 10);
	if (*end || v == 0 || v > 65535)
		return;
	hl = (size_t)(colon - a);
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
		a++;
		hl -= 2;
	}
	if (hl == 0 || hl > FC_ORD_HOST_MAX)
		return;
	memcpy(host, a, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
}

int fc_ord_decider_register(struct fc_ord_decider *d, struct fc_conn *conn,
			    const Flexchain__Register *r, char *errmsg)
{
	fc_cert *cert = NULL;
	const char *org = NULL;
	size_t i;
	int rc;

	if (!r->node_id || !r->node_id[0] || strlen(r->node_id) > FC_CONFIG_NAME_MAX)
		return fc_errf(errmsg, FC_EPROTO, "register: bad node id");
	rc =
	    fc_crypto_castore_verify_der(d->env.cs, r->cert.data, r->cert.len, &cert, &org, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "register %s: certificate", r->node_id);
	if (strcmp(fc_crypto_cert_ou(cert), FC_IDENTITY_ROLE_COMPUTE) != 0 ||
	    strcmp(fc_crypto_cert_cn(cert), r->node_id) != 0 || !r->org ||
	    strcmp(org, r->org) != 0) {
		rc = fc_errf(errmsg, FC_EVERIFY,
			     "register %s: certificate %s is not this compute "
			     "server's",
			     r->node_id, fc_crypto_cert_subject(cert));
		goto out;
	}
	/* Sorted by id: the rotation is the same whatever the join order. */
	for (i = 0; i < d->nm; i++) {
		int c = strcmp(d->m[i].id, r->node_id);
		if (c == 0) {
			d->m[i].conn = conn; /* re-registration, maybe reconnected */
			d->m[i].last_ms = fc_ord_now_ms();
			parse_address(r->address, d->m[i].host, &d->m[i].port);
			d->m[i].metrics_port = r->metrics_port <= UINT16_MAX ? (uint16_t)r->metrics_port : 0;
			goto out;
		}
		if (c > 0)
			break;
	}
	if (d->nm == d->mcap) {
		size_t cap = d->mcap ? 2 * d->mcap : 16;
		struct member *m = fc_realloc(d->m, cap * sizeof *m);
		if (!m) {
			rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
			goto out;
		}
		d->m = m;
		d->mcap = cap;
	}
	memmove(&d->m[i + 1], &d->m[i], (d->nm - i) * sizeof *d->m);
	d->m[i].id = fc_strdup(r->node_id);
	if (!d->m[i].id) {
		memmove(&d->m[i], &d->m[i + 1], (d->nm - i) * sizeof *d->m);
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
		goto out;
	}
	d->m[i].conn = conn;
	d->m[i].last_ms = fc_ord_now_ms();
	snprintf(d->m[i].org, sizeof d->m[i].org, "%s", r->org);
	parse_address(r->address, d->m[i].host, &d->m[i].port);
	d->m[i].metrics_port = r->metrics_port <= UINT16_MAX ? (uint16_t)r->metrics_port : 0;
	d->nm++;
	/* A server registering again is no longer draining. */
	for (size_t j = d->nlv; j-- > 0;)
		if (strcmp(d->lv[j].id, r->node_id) == 0)
			leaving_remove(d, j);
	fc_log(FC_LOG_INFO, COMP, "compute server joined", "id=%s org=%s address=%s live=%zu",
	       r->node_id, org, r->address ? r->address : "", d->nm);
out:
	fc_crypto_cert_free(cert);
	return rc;
}

void fc_ord_decider_heartbeat(struct fc_ord_decider *d, struct fc_conn *conn,
			      const Flexchain__Heartbeat *hb)
{
	struct member *m = member_by_conn(d, conn);

	if (!m)
		m = leaving_by_conn(d, conn);
	if (m && hb->node_id && strcmp(m->id, hb->node_id) == 0)
		m->last_ms = fc_ord_now_ms();
}

void fc_ord_decider_deregister(struct fc_ord_decider *d, struct fc_conn *conn,
			       const Flexchain__Deregister *dr)
{
	for (size_t i = 0; i < d->nm; i++)
		if (d->m[i].conn == conn && dr->node_id && strcmp(d->m[i].id, dr->node_id) == 0) {
			member_remove_keep(d, i, "deregistered", 1);
			return;
		}
}

void fc_ord_decider_conn_closed(struct fc_ord_decider *d, struct fc_conn *conn)
{
	for (size_t i = d->nm; i-- > 0;)
		if (d->m[i].conn == conn)
			member_remove(d, i, "connection closed");
	for (size_t i = d->nlv; i-- > 0;)
		if (d->lv[i].conn == conn)
			leaving_remove(d, i);
}

size_t fc_ord_decider_live(const struct fc_ord_decider *d)
{
	return d->nm;
}

static void server_fill(Flexchain__ComputeServer *cs, const struct member *m, int draining)
{
	flexchain__compute_server__init(cs);
	cs->id = m->id;
	cs->org = (char *)m->org;
	cs->host = (char *)m->host;
	cs->port = m->port;
	cs->draining = draining;
	cs->metrics_port = m->metrics_port;
}

int fc_ord_decider_compute_list(const struct fc_ord_decider *d, Flexchain__ComputeList *out)
{
	size_t n = d->nm + d->nlv, k = 0;

	flexchain__compute_list__init(out);
	if (n == 0)
		return FC_OK;
	out->servers = fc_calloc(n, sizeof *out->servers + sizeof **out->servers);
	if (!out->servers)
		return FC_ENOMEM;
	Flexchain__ComputeServer *cs = (Flexchain__ComputeServer *)(out->servers + n);
	for (size_t i = 0; i < d->nm; i++, k++) {
		server_fill(&cs[k], &d->m[i], 0);
		out->servers[k] = &cs[k];
	}
	for (size_t i = 0; i < d->nlv; i++, k++) {
		server_fill(&cs[k], &d->lv[i], 1);
		out->servers[k] = &cs[k];
	}
	out->n_servers = n;
	return FC_OK;
}

void fc_ord_decider_compute_list_free(Flexchain__ComputeList *l)
{
	fc_free(l->servers);
	l->servers = NULL;
	l->n_servers = 0;
}

/* ------------------------------------------------------------ decisions */

static void dec_free(struct dec *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_committee; i++)
		fc_free(x->committee[i]);
	fc_free(x->committee);
	for (size_t i = 0; i < x->nv; i++)
		fc_wire_free(&x->v[i]->base);
	fc_free(x->v);
	fc_wire_free((ProtobufCMessage *)x->storage_v);
	fc_free(x->cert_v);
	fc_free(x->sig);
	fc_wire_free((ProtobufCMessage *)x->b);
	fc_free(x);
}

static void send_validate(struct fc_ord_decider *d, struct dec *x)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__ValidateRequest vr = FLEXCHAIN__VALIDATE_REQUEST__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;

	vr.block = x->b;
	vr.committee = x->committee;
	vr.n_committee = x->n_committee;
	m.request_id = x->height + 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST;
	m.validate_request = &vr;
	if (fc_wire_encode(&m.base, &buf, &len, NULL) != FC_OK)
		return;
	for (size_t i = 0; i < x->n_committee; i++)
		for (size_t j = 0; j < d->nm; j++)
			if (strcmp(d->m[j].id, x->committee[i]) == 0 && d->m[j].conn)
				fc_conn_send(d->m[j].conn, buf, len);
	fc_free(buf);
}

/* Opens the decision of block h: committee, requests, deadline. */
static int dec_open(struct fc_ord_decider *d, uint64_t h)
{
	struct dec *x;
	uint8_t *buf = NULL;
	size_t len = 0, k = d->env.cfg->validation.committee_size, n, *idx = NULL;
	int rc;

	x = fc_calloc(1, sizeof *x);
	if (!x)
		return FC_ENOMEM;
	x->height = h;
	rc = d->env.read_block(d->env.ud, h, &buf, &len);
	if (rc == FC_OK)
		rc = fc_wire_decode(&flexchain__block__descriptor, buf, len, FC_WIRE_MAX_BLOCK,
				    (ProtobufCMessage **)&x->b, NULL);
	fc_free(buf);
	if (rc == FC_OK && (!x->b->header || fc_hash_header(x->b->header, x->hash) != FC_OK))
		rc = FC_EPROTO;
	if (rc != FC_OK)
		goto fail;
	x->committee = fc_calloc(k ? k : 1, sizeof *x->committee);
	idx = fc_calloc(k ? k : 1, sizeof *idx);
	if (!x->committee || !idx) {
		rc = FC_ENOMEM;
		goto fail;
	}
	n = fc_ord_committee(d->nm, k, h, idx);
	for (size_t i = 0; i < n; i++) {
		x->committee[i] = fc_strdup(d->m[idx[i]].id);
		if (!x->committee[i]) {
			rc = FC_ENOMEM;
			goto fail;
		}
		x->n_committee++;
	}
	fc_free(idx);
	idx = NULL;
	if (!fc_ord_committee_viable(n, k)) {
		/* Fewer than a majority of k live: HyBE right away. */
		x->state = DEC_FALLBACK;
	} else {
		x->state = DEC_COLLECTING;
		x->deadline_ms = fc_ord_now_ms() + d->env.cfg->validation.timeout_ms;
		send_validate(d, x);
	}
	if (d->tail)
		d->tail->next = x;
	else
		d->head = x;
	d->tail = x;
	d->nq++;
	return FC_OK;
fail:
	fc_free(idx);
	dec_free(x);
	return rc;
}

static void fill_queue(struct fc_ord_decider *d)
{
	while (d->leading && d->height_known && d->next_h < d->tip_n && d->nq < MAX_QUEUE) {
		int rc = dec_open(d, d->next_h);
		if (rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "cannot open decision", "height=%llu code=%s",
			       (unsigned long long)d->next_h, fc_strerror(rc));
			return;
		}
		d->next_h++;
	}
}

/* Builds and signs the certificate over the agreeing verdicts vs[0..n). */
static int certify(struct fc_ord_decider *d, struct dec *x, Flexchain__Verdict **vs, size_t n,
		   int storage)
{
	Flexchain__CommitCertificate *c = &x->cert;
	uint8_t digest[FC_HASH_LEN];
	size_t siglen = 0, dlen = 0;
	char err[FC_ERRMSG_LEN] = "";
	int rc;

	x->cert_v = fc_calloc(n, sizeof *x->cert_v);
	if (!x->cert_v)
		return FC_ENOMEM;
	memcpy(x->cert_v, vs, n * sizeof *vs);
	x->rep = vs[0];
	rc = fc_hash_verdict(x->rep, x->verdict_hash);
	if (rc != FC_OK)
		return rc;
	flexchain__commit_certificate__init(c);
	c->height = x->height;
	c->block_hash = (ProtobufCBinaryData){FC_HASH_LEN, x->hash};
	c->verdict_hash = (ProtobufCBinaryData){FC_HASH_LEN, x->verdict_hash};
	c->n_verdicts = n;
	c->verdicts = x->cert_v;
	c->n_committee = x->n_committee;
	c->committee = x->committee;
	c->storage_validated = storage != 0;
	c->orderer.data = (uint8_t *)fc_crypto_cert_der(d->env.cert, &dlen);
	c->orderer.len = dlen;
	rc = fc_hash_certificate(c, digest);
	if (rc == FC_OK)
		rc = fc_crypto_sign_digest(d->env.key, digest, &x->sig, &siglen, err);
	if (rc != FC_OK)
		return rc;
	c->signature = (ProtobufCBinaryData){siglen, x->sig};
	x->state = DEC_CERTIFIED;
	fc_log(FC_LOG_DEBUG, COMP, "block certified",
	       "height=%llu verdicts=%zu committee=%zu "
	       "storage_validated=%d",
	       (unsigned long long)x->height, n, x->n_committee, storage);
	return FC_OK;
}

static int same_verdict(const Flexchain__Verdict *a, const Flexchain__Verdict *b)
{
	return a->tx_status.len == b->tx_status.len &&
	       (a->tx_status.len == 0 ||
		memcmp(a->tx_status.data, b->tx_status.data, a->tx_status.len) == 0) &&
	       a->write_set_hash.len == b->write_set_hash.len &&
	       memcmp(a->write_set_hash.data, b->write_set_hash.data, a->write_set_hash.len) == 0;
}

void fc_ord_decider_verdict(struct fc_ord_decider *d, struct fc_conn *conn,
			    const Flexchain__Verdict *v)
{
	struct member *m = member_by_conn(d, conn);
	Flexchain__Verdict *copy = NULL, **agree = NULL;
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *buf = NULL;
	size_t len = 0, na = 0;
	const char *org = NULL;
	fc_cert *signer = NULL;
	struct dec *x;
	const char *who;
	int in_committee = 0;

	/* A member that deregistered (draining) or timed out still finishes
	 * the blocks it was assigned: with no member on conn, the verdict's
	 * signer is who it is from, and must be on the block's committee. */
	if (!d->leading)
		return;
	for (x = d->head; x && x->height != v->height; x = x->next)
		;
	if (!x || (x->state != DEC_COLLECTING && x->state != DEC_FALLBACK))
		return; /* late or unknown: ignored */
	if (fc_wire_check_verdict(v, x->b->n_envelopes, err) != FC_OK ||
	    memcmp(v->block_hash.data, x->hash, FC_HASH_LEN) != 0 || v->storage_validated)
		goto bad;
	if (fc_validate_verdict_verify(d->env.cs, v, &org, err) != FC_OK)
		goto bad;
	/* The signer must be the member who sent it, and on the committee. */
	if (fc_crypto_cert_from_der(v->signer.data, v->signer.len, &signer, err) != FC_OK ||
	    (m && strcmp(fc_crypto_cert_cn(signer), m->id) != 0) ||
	    strcmp(fc_crypto_cert_ou(signer), FC_IDENTITY_ROLE_COMPUTE) != 0) {
		snprintf(err, sizeof err, "signer is not %s", m ? m->id : "a compute server");
		goto bad;
	}
	who = fc_crypto_cert_cn(signer);
	for (size_t i = 0; i < x->n_committee; i++)
		in_committee |= strcmp(x->committee[i], who) == 0;
	if (!in_committee) {
		snprintf(err, sizeof err, "%s is not on the committee", who);
		goto bad;
	}
	for (size_t i = 0; i < x->nv; i++)
		if (x->v[i]->signer.len == v->signer.len &&
		    memcmp(x->v[i]->signer.data, v->signer.data, v->signer.len) == 0)
			goto out; /* duplicate */
	/* Keep our own decoded copy: the message is borrowed. */
	if (fc_wire_encode(&v->base, &buf, &len, NULL) != FC_OK ||
	    fc_wire_decode(&flexchain__verdict__descriptor, buf, len, FC_WIRE_MAX_MSG,
			   (ProtobufCMessage **)&copy, NULL) != FC_OK)
		goto out;
	Flexchain__Verdict **nv = fc_realloc(x->v, (x->nv + 1) * sizeof *nv);
	if (!nv) {
		fc_wire_free((ProtobufCMessage *)copy);
		goto out;
	}
	x->v = nv;
	x->v[x->nv++] = copy;
	/* Majority of the committee on the same (tx_status, write-set hash)? */
	agree = fc_calloc(x->nv, sizeof *agree);
	if (!agree)
		goto out;
	for (size_t i = 0; i < x->nv; i++)
		if (same_verdict(x->v[i], copy))
			agree[na++] = x->v[i];
	if (fc_ord_majority(na, x->n_committee)) {
		if (certify(d, x, agree, na, 0) != FC_OK)
			fc_log(FC_LOG_WARN, COMP, "certify failed", "height=%llu",
			       (unsigned long long)x->height);
		else
			pump(d);
	}
	goto out;
bad:
	fc_log(FC_LOG_WARN, COMP, "verdict refused", "height=%llu from=%s reason=\"%s\"",
	       (unsigned long long)v->height, m ? m->id : "(not registered)", err);
out:
	fc_free(agree);
	fc_free(buf);
	fc_crypto_cert_free(signer);
}

/* ------------------------------------------------------------ memory nodes */

static void mem_clear(struct fc_ord_decider *d)
{
	for (size_t i = 0; i < d->nmem; i++) {
		fc_netc_close(d->mem[i].nc);
		fc_free(d->mem[i].id);
		fc_free(d->mem[i].host);
	}
	fc_free(d->mem);
	d->mem = NULL;
	d->nmem = 0;
	d->mem_cc = NULL;
}

/* Makes d->mem the memory nodes of the shard map in force (job thread). */
static void mem_sync(struct fc_ord_decider *d)
{
	const struct fc_config *v = fc_chaincfg_config(d->cc);
	size_t n = v->memory.n_nodes;

	if (d->mem_cc == d->cc)
		return;
	mem_clear(d);
	if (n == 0) {
		d->mem_cc = d->cc;
		return;
	}
	d->mem = fc_calloc(n, sizeof *d->mem);
	if (!d->mem)
		return; /* retried on the next block */
	for (size_t i = 0; i < n; i++) {
		d->mem[i].id = fc_strdup(v->memory.nodes[i].id);
		d->mem[i].host = fc_strdup(v->memory.nodes[i].host);
		d->mem[i].port = v->memory.nodes[i].port;
		d->nmem++;
		if (!d->mem[i].id || !d->mem[i].host) {
			mem_clear(d);
			return;
		}
	}
	d->mem_cc = d->cc;
}

static void mem_down(struct memnode *m, uint64_t height, const char *what, const char *err)
{
	fc_netc_close(m->nc);
	m->nc = NULL;
	m->waiting = 0;
	m->down_until = fc_ord_now_ms() + MEM_BACKOFF_MS;
	if (!m->down_logged)
		fc_log(FC_LOG_WARN, COMP, "memory node unreachable, blocks go on without it",
		       "id=%s height=%llu what=%s reason=\"%s\"", m->id, (unsigned long long)height,
		       what, err);
	m->down_logged = 1;
}

/* One frame from m: an answer to request_id, or a stale one (ignored). */
static void mem_read(struct fc_ord_decider *d, struct memnode *m, const struct dec *x,
		     unsigned left)
{
	char err[FC_ERRMSG_LEN] = "";
	Flexchain__ControlMessage *cm = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, max = d->env.cfg->network.max_frame_bytes;
	int rc = fc_netc_recv(m->nc, &buf, &len, max, left ? left : 1, err);

	if (rc == FC_ETIMEOUT)
		return;
	if (rc == FC_OK)
		rc = fc_wire_decode(&flexchain__control_message__descriptor, buf, len, max,
				    (ProtobufCMessage **)&cm, err);
	fc_free(buf);
	if (rc != FC_OK) {
		mem_down(m, x->height, "receive", err);
		return;
	}
	if (cm->request_id != x->height + 1)
		goto out; /* late answer to an earlier block */
	if (cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK) {
		const Flexchain__LedgerAck *a = cm->ledger_ack;
		m->waiting = 0;
		if (a->height != x->height || a->code != FC_OK || !a->replica ||
		    strcmp(a->replica, m->id) != 0)
			fc_log(FC_LOG_WARN, COMP, "memory node refused a block",
			       "id=%s height=%llu ack_height=%llu code=%u replica=%s reason=\"%s\"",
			       m->id, (unsigned long long)x->height, (unsigned long long)a->height,
			       (unsigned)a->code, a->replica ? a->replica : "",
			       a->message ? a->message : "");
		else if (m->down_logged) {
			fc_log(FC_LOG_INFO, COMP, "memory node back", "id=%s height=%llu", m->id,
			       (unsigned long long)x->height);
			m->down_logged = 0;
		}
	} else if (cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR) {
		m->waiting = 0;
		fc_log(FC_LOG_WARN, COMP, "memory node refused a block",
		       "id=%s height=%llu code=%u reason=\"%s\"", m->id,
		       (unsigned long long)x->height, (unsigned)cm->error->code,
		       cm->error->message ? cm->error->message : "");
	}
out:
	fc_wire_free(&cm->base);
}

/* Hands the certified block x, durable on the storage write quorum, to every
 * memory node of the shard map in force and waits for their LedgerAcks, all
 * within validation.timeout_ms. A node that is down, slow or refuses is
 * logged and skipped for MEM_BACKOFF_MS: it catches up from storage, the
 * chain never waits for it longer than that. Job thread. */
static void mem_notify(struct fc_ord_decider *d, const struct dec *x)
{
	Flexchain__ControlMessage m = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__LedgerAppend la = FLEXCHAIN__LEDGER_APPEND__INIT;
	char err[FC_ERRMSG_LEN] = "";
	uint64_t now = fc_ord_now_ms(), deadline = now + d->env.cfg->validation.timeout_ms;
	uint8_t *buf = NULL;
	size_t len = 0, n_wait = 0;
	struct pollfd *pf = NULL;
	size_t *who = NULL;

	mem_sync(d);
	if (!d->nmem)
		return;
	la.block = x->b;
	la.verdict = x->rep;
	la.certificate = (Flexchain__CommitCertificate *)&x->cert;
	m.request_id = x->height + 1;
	m.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_APPEND;
	m.ledger_append = &la;
	pf = fc_calloc(d->nmem, sizeof *pf);
	who = fc_calloc(d->nmem, sizeof *who);
	if (!pf || !who || fc_wire_encode(&m.base, &buf, &len, err) != FC_OK) {
		fc_log(FC_LOG_WARN, COMP, "cannot hand block to memory nodes", "height=%llu",
		       (unsigned long long)x->height);
		goto out;
	}
	for (size_t i = 0; i < d->nmem; i++) {
		struct memnode *mn = &d->mem[i];
		unsigned left;
		int rc;

		mn->waiting = 0;
		now = fc_ord_now_ms();
		if (now < mn->down_until || now >= deadline)
			continue;
		left = (unsigned)(deadline - now);
		if (!mn->nc) {
			rc = fc_netc_connect(mn->host, mn->port,
					     left < MEM_CONNECT_MS ? left : MEM_CONNECT_MS, &mn->nc,
					     err);
			if (rc != FC_OK) {
				mem_down(mn, x->height, "connect", err);
				continue;
			}
		}
		rc = fc_netc_send(mn->nc, buf, len, left, err);
		if (rc != FC_OK) {
			mem_down(mn, x->height, "send", err);
			continue;
		}
		mn->waiting = 1;
	}
	for (;;) {
		now = fc_ord_now_ms();
		n_wait = 0;
		for (size_t i = 0; i < d->nmem; i++)
			if (d->mem[i].waiting && d->mem[i].nc) {
				pf[n_wait] = (struct pollfd){fc_netc_fd(d->mem[i].nc), POLLIN, 0};
				who[n_wait++] = i;
			}
		if (!n_wait || now >= deadline)
			break;
		if (poll(pf, n_wait, (int)(deadline - now)) <= 0)
			continue; /* timeout (then the deadline ends it) or EINTR */
		for (size_t k = 0; k < n_wait; k++)
			if (pf[k].revents)
				mem_read(d, &d->mem[who[k]], x,
					 (unsigned)(deadline > fc_ord_now_ms()
							? deadline - fc_ord_now_ms()
							: 1));
	}
	for (size_t k = 0; k < n_wait; k++) {
		struct memnode *mn = &d->mem[who[k]];
		fc_log(FC_LOG_WARN, COMP, "memory node did not acknowledge in time",
		       "id=%s height=%llu timeout_ms=%u", mn->id, (unsigned long long)x->height,
		       (unsigned)d->env.cfg->validation.timeout_ms);
		mn->waiting = 0;
		mn->down_until = fc_ord_now_ms() + MEM_BACKOFF_MS;
	}
out:
	fc_free(who);
	fc_free(pf);
	fc_free(buf);
}

/* ------------------------------------------------------------ configuration */

/* A storage client for the replicas of j->cc (job thread). */
static int job_new_client(struct fc_ord_decider *d, struct job *j)
{
	(void)d;
	j->rc = fc_storage_client_create(fc_chaincfg_config(j->cc), NULL, &j->sc, j->err);
	return j->rc;
}

/* Folds the VALID config transactions of block b (statuses st) into the
 * configuration after the job's: j->cc (fc_chaincfg_advance). */
static int job_fold(struct fc_ord_decider *d, struct job *j, const Flexchain__Block *b,
		    const uint8_t *st)
{
	struct fc_chaincfg *cur = j->cc ? j->cc : d->cc;
	struct fc_chaincfg *cc = fc_chaincfg_ref(cur);
	int rc = fc_chaincfg_advance(&cc, b, st, j->err);

	if (rc == FC_OK && cc != cur) {
		fc_chaincfg_unref(j->cc);
		j->cc = cc;
	} else {
		fc_chaincfg_unref(cc);
	}
	return rc;
}

/* fc_chaincfg_source over the storage replicas: any replica will do, every
 * one holds the whole ledger (job thread). */
static int replay_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
			char *errmsg)
{
	return fc_storage_get_blocks_any(ud, NULL, from, count, out, errmsg);
}

/* Brings the configuration from d->cc_h up to block `to` (exclusive) from
 * the decisions stored on the storage pool: a new leader, or one that was
 * not leading while blocks were decided. */
static int job_replay(struct fc_ord_decider *d, struct job *j, uint64_t to)
{
	struct fc_chaincfg_source src = {.fetch = replay_fetch, .ud = d->sc};
	struct fc_chaincfg *cur = j->cc ? j->cc : d->cc;
	struct fc_chaincfg *cc = fc_chaincfg_ref(cur);
	uint64_t h = d->cc_h;
	int rc = fc_chaincfg_rebuild(&cc, &h, to, &src, j->err);

	if (cc != cur) {
		fc_chaincfg_unref(j->cc);
		j->cc = cc;
	} else {
		fc_chaincfg_unref(cc);
	}
	j->cc_h = h;
	if (rc == FC_OK && j->cc)
		rc = job_new_client(d, j);
	return rc;
}

/* After block x is stored: the configuration for x->height + 1, from the
 * verdict that was stored (ours, or a previous leader's on FC_EEXIST). */
static int job_config_after_append(struct fc_ord_decider *d, struct job *j, struct dec *x,
				   int stored_by_other)
{
	int rc;

	if (x->height != d->cc_h)
		return FC_OK; /* not in step: the next leadership replays */
	if (!stored_by_other) {
		rc = job_fold(d, j, x->b, x->rep->tx_status.data);
		j->cc_h = x->height + 1;
	} else {
		rc = job_replay(d, j, x->height + 1);
		return rc;
	}
	if (rc == FC_OK && j->cc)
		rc = job_new_client(d, j);
	return rc;
}

/* Installs what a job computed (loop thread, no job in flight). */
static void install_config(struct fc_ord_decider *d, struct job *j)
{
	if (j->cc) {
		fc_chaincfg_unref(d->cc);
		d->cc = j->cc;
		j->cc = NULL;
		fc_storage_client_destroy(d->sc);
		d->sc = j->sc;
		j->sc = NULL;
	}
	d->cc_h = j->cc_h;
}

/* ------------------------------------------------------------ storage jobs */

static void job_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct fc_ord_decider *d = j->d;

	switch (j->kind) {
	case JOB_HEIGHT:
		j->rc = fc_storage_get_height(d->sc, 0, &j->height, j->err);
		if (j->rc != FC_OK) {
			/* Any replica will do: the write quorum overlaps them. */
			for (size_t r = 1; r < fc_storage_client_replicas(d->sc) && j->rc != FC_OK;
			     r++)
				j->rc = fc_storage_get_height(d->sc, r, &j->height, j->err);
		}
		if (j->rc == FC_OK)
			j->rc =
			    job_replay(d, j, j->height.empty ? 0 : j->height.applied_height + 1);
		break;
	case JOB_VALIDATE:
		j->rc = FC_EUNSUPPORTED;
		for (size_t r = 0; r < fc_storage_client_replicas(d->sc) && j->rc != FC_OK; r++) {
			j->rc = fc_storage_validate(d->sc, r, j->dec->b, j->dec->committee,
						    j->dec->n_committee, &j->verdict, j->err);
			if (j->rc == FC_OK &&
			    (fc_wire_check_verdict(j->verdict, j->dec->b->n_envelopes, j->err) !=
				 FC_OK ||
			     fc_validate_verdict_verify(d->env.cs, j->verdict, NULL, j->err) !=
				 FC_OK ||
			     !j->verdict->storage_validated ||
			     memcmp(j->verdict->block_hash.data, j->dec->hash, FC_HASH_LEN) != 0)) {
				fc_wire_free((ProtobufCMessage *)j->verdict);
				j->verdict = NULL;
				j->rc = FC_EVERIFY;
			}
		}
		break;
	case JOB_APPEND:
		j->rc =
		    fc_storage_append(d->sc, j->dec->b, j->dec->rep, &j->dec->cert, NULL, j->err);
		if (j->rc == FC_EMISMATCH) {
			/* A deposed leader may have stored this height with
			 * another verdict first: the stored one is final. Any
			 * other failure (write quorum not reached) is retried:
			 * one replica holding the block is not a quorum. */
			struct fc_storage_height sh;
			if (fc_storage_get_height(d->sc, 0, &sh, NULL) == FC_OK && !sh.empty &&
			    sh.applied_height >= j->dec->height)
				j->rc = FC_EEXIST;
		}
		if (j->rc == FC_OK)
			mem_notify(d, j->dec);
		if (j->rc == FC_OK || j->rc == FC_EEXIST) {
			int rc = job_config_after_append(d, j, j->dec, j->rc == FC_EEXIST);
			if (rc != FC_OK)
				j->rc = rc; /* retried: then FC_EEXIST, from the stored verdict */
		}
		break;
	}
}

static void job_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct fc_ord_decider *d = j->d;
	struct dec *x = j->dec;
	int current = j->epoch == d->epoch && d->leading && !d->stopping;

	d->job = NULL;
	if (status != 0 && j->rc == FC_OK)
		j->rc = FC_EINTERNAL;
	if (x && x->orphan) {
		dec_free(x);
		x = NULL;
		current = 0;
	}
	switch (j->kind) {
	case JOB_HEIGHT:
		if (!current)
			break;
		if (j->rc != FC_OK) {
			if (d->height_failures++ % 20 == 0)
				fc_log(FC_LOG_WARN, COMP, "storage height unknown",
				       "failures=%u reason=\"%s\"", d->height_failures, j->err);
			d->height_retry_at = fc_ord_now_ms() + RETRY_MS;
			break;
		}
		d->height_known = 1;
		d->next_h = j->height.empty ? 0 : j->height.applied_height + 1;
		install_config(d, j);
		fc_log(FC_LOG_INFO, COMP, "deciding", "from_height=%llu chain_blocks=%llu",
		       (unsigned long long)d->next_h, (unsigned long long)d->tip_n);
		fill_queue(d);
		break;
	case JOB_VALIDATE:
		if (!current || x->state != DEC_VALIDATING) {
			fc_wire_free((ProtobufCMessage *)j->verdict);
			break;
		}
		if (j->rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "storage validation failed",
			       "height=%llu reason=\"%s\"", (unsigned long long)x->height, j->err);
			x->state = DEC_FALLBACK;
			x->retry_at = fc_ord_now_ms() + RETRY_MS;
			break;
		}
		x->storage_v = j->verdict;
		if (certify(d, x, &x->storage_v, 1, 1) != FC_OK) {
			x->state = DEC_FALLBACK;
			x->retry_at = fc_ord_now_ms() + RETRY_MS;
		}
		break;
	case JOB_APPEND:
		if (!current)
			break;
		if (j->rc == FC_EEXIST) {
			fc_log(FC_LOG_WARN, COMP, "block decided by a previous leader",
			       "height=%llu reason=\"%s\"", (unsigned long long)x->height, j->err);
		} else if (j->rc != FC_OK) {
			fc_log(FC_LOG_WARN, COMP, "storage append failed",
			       "height=%llu reason=\"%s\"", (unsigned long long)x->height, j->err);
			x->state = DEC_CERTIFIED;
			x->retry_at = fc_ord_now_ms() + RETRY_MS;
			break;
		}
		/* Durable on a write quorum (and handed to the memory nodes):
		 * the configuration for the next block, then tell the world. */
		install_config(d, j);
		if (j->rc == FC_OK)
			d->env.publish(d->env.ud, x->b, x->rep, &x->cert);
		d->head = x->next;
		if (!d->head)
			d->tail = NULL;
		d->nq--;
		dec_free(x);
		fill_queue(d);
		break;
	}
	fc_chaincfg_unref(j->cc);
	fc_storage_client_destroy(j->sc);
	fc_free(j);
	if (d->stopping) {
		if (d->stop_cb)
			d->stop_cb(d->stop_ud);
		return;
	}
	pump(d);
}

static void start_job(struct fc_ord_decider *d, enum job_kind kind, struct dec *x)
{
	struct job *j = fc_calloc(1, sizeof *j);

	if (!j)
		return;
	j->d = d;
	j->kind = kind;
	j->dec = x;
	j->epoch = d->epoch;
	j->cc_h = d->cc_h;
	j->work.data = j;
	if (uv_queue_work(d->env.loop, &j->work, job_work, job_done) != 0) {
		fc_free(j);
		return;
	}
	d->job = j;
	if (x)
		x->state = kind == JOB_VALIDATE ? DEC_VALIDATING : DEC_APPENDING;
}

/* Starts the next storage job, if any and none is running. Appends go
 * strictly in order (the head only); so does fallback validation, because
 * the storage pool validates block h only on the state through h-1. */
static void pump(struct fc_ord_decider *d)
{
	uint64_t now = fc_ord_now_ms();
	struct dec *x = d->head;

	if (d->job || !d->leading || d->stopping)
		return;
	if (!d->height_known) {
		if (now >= d->height_retry_at)
			start_job(d, JOB_HEIGHT, NULL);
		return;
	}
	if (!x || now < x->retry_at)
		return;
	if (x->state == DEC_CERTIFIED)
		start_job(d, JOB_APPEND, x);
	else if (x->state == DEC_FALLBACK)
		start_job(d, JOB_VALIDATE, x);
}

/* ------------------------------------------------------------ lifecycle */

static void drop_queue(struct fc_ord_decider *d)
{
	struct dec *x = d->head, *nx;

	for (; x; x = nx) {
		nx = x->next;
		if (d->job && d->job->dec == x)
			x->orphan = 1; /* freed when the job returns */
		else
			dec_free(x);
	}
	d->head = d->tail = NULL;
	d->nq = 0;
}

void fc_ord_decider_lead(struct fc_ord_decider *d, uint64_t n_blocks)
{
	drop_queue(d);
	d->epoch++;
	d->leading = 1;
	d->height_known = 0;
	d->height_retry_at = 0;
	d->tip_n = n_blocks;
	pump(d);
}

void fc_ord_decider_unlead(struct fc_ord_decider *d)
{
	if (!d->leading)
		return;
	d->leading = 0;
	d->epoch++;
	drop_queue(d);
	/* Members registered with us as leader: close their connections so
	 * that they re-register and get redirected to the new leader. */
	for (size_t i = 0; i < d->nm; i++)
		if (d->m[i].conn)
			fc_conn_close(d->m[i].conn);
}

void fc_ord_decider_block(struct fc_ord_decider *d, uint64_t height)
{
	if (height + 1 > d->tip_n)
		d->tip_n = height + 1;
	fill_queue(d);
	pump(d);
}

void fc_ord_decider_tick(struct fc_ord_decider *d, uint64_t now_ms)
{
	uint64_t dead = 3ull * d->env.cfg->network.heartbeat_ms;

	for (size_t i = d->nm; i-- > 0;)
		if (d->m[i].last_ms + dead < now_ms)
			member_remove(d, i, "heartbeats missed");
	for (size_t i = d->nlv; i-- > 0;)
		if (d->lv[i].last_ms + dead < now_ms)
			leaving_remove(d, i);
	if (!d->leading)
		return;
	for (struct dec *x = d->head; x; x = x->next)
		if (x->state == DEC_COLLECTING && now_ms >= x->deadline_ms) {
			fc_log(FC_LOG_INFO, COMP, "no verdict majority, storage validates",
			       "height=%llu verdicts=%zu committee=%zu",
			       (unsigned long long)x->height, x->nv, x->n_committee);
			x->state = DEC_FALLBACK;
		}
	fill_queue(d);
	pump(d);
}

int fc_ord_decider_create(const struct fc_ord_decider_env *env, struct fc_ord_decider **out,
			  char *errmsg)
{
	struct fc_ord_decider *d = fc_calloc(1, sizeof *d);
	int rc;

	*out = NULL;
	if (!d)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	d->env = *env;
	rc = fc_chaincfg_genesis(env->cfg, &d->cc, errmsg);
	if (rc != FC_OK) {
		fc_free(d);
		return rc;
	}
	rc = fc_storage_client_create(fc_chaincfg_config(d->cc), NULL, &d->sc, errmsg);
	if (rc != FC_OK) {
		fc_chaincfg_unref(d->cc);
		fc_free(d);
		return fc_errwrap(errmsg, rc, "storage client");
	}
	*out = d;
	return FC_OK;
}

void fc_ord_decider_stop(struct fc_ord_decider *d, void (*cb)(void *ud), void *ud)
{
	d->stopping = 1;
	d->leading = 0;
	drop_queue(d);
	if (d->job) {
		d->stop_cb = cb;
		d->stop_ud = ud;
		return;
	}
	if (cb)
		cb(ud);
}

void fc_ord_decider_destroy(struct fc_ord_decider *d)
{
	if (!d)
		return;
	drop_queue(d);
	for (size_t i = 0; i < d->nm; i++)
		fc_free(d->m[i].id);
	fc_free(d->m);
	for (size_t i = 0; i < d->nlv; i++)
		fc_free(d->lv[i].id);
	fc_free(d->lv);
	fc_storage_client_destroy(d->sc);
	mem_clear(d);
	fc_chaincfg_unref(d->cc);
	fc_free(d);
}

/* ------------------------------------------------------------ policy */

size_t fc_ord_committee(size_t n_live, size_t k, uint64_t height, size_t *idx)
{
	size_t n = n_live < k ? n_live : k;

	for (size_t i = 0; i < n; i++)
		idx[i] = (size_t)((height + i) % n_live);
	return n;
}

int fc_ord_committee_viable(size_t n_committee, size_t k)
{
	return n_committee >= k / 2 + 1;
}

int fc_ord_majority(size_t n_agree, size_t n_committee)
{
	return n_committee > 0 && n_agree * 2 > n_committee;
}
