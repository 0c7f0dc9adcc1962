/* decide.c - committees, verdicts, certificates, storage fallback and
 * append (see decide.h). Runs on the orderer's loop; only the blocking
 * storage calls run on a thread-pool thread, one at a time. */
#include <stdio.h>
#include <string.h>

#include "decide.h"
#include "fc_canon.h"
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

struct member {
	char *id;
	struct fc_conn *conn;
	uint64_t last_ms;
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
};

struct fc_ord_decider {
	struct fc_ord_decider_env env;
	struct fc_storage_client *sc;
	struct member *m;
	size_t nm, mcap;

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

static void member_remove(struct fc_ord_decider *d, size_t i, const char *why)
{
	fc_log(FC_LOG_INFO, COMP, "compute server left", "id=%s reason=\"%s\"", d->m[i].id, why);
	fc_free(d->m[i].id);
	memmove(&d->m[i], &d->m[i + 1], (d->nm - i - 1) * sizeof *d->m);
	d->nm--;
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
	d->nm++;
	fc_log(FC_LOG_INFO, COMP, "compute server joined", "id=%s org=%s live=%zu", r->node_id, org,
	       d->nm);
out:
	fc_crypto_cert_free(cert);
	return rc;
}

void fc_ord_decider_heartbeat(struct fc_ord_decider *d, struct fc_conn *conn,
			      const Flexchain__Heartbeat *hb)
{
	struct member *m = member_by_conn(d, conn);

	if (m && hb->node_id && strcmp(m->id, hb->node_id) == 0)
		m->last_ms = fc_ord_now_ms();
}

void fc_ord_decider_deregister(struct fc_ord_decider *d, struct fc_conn *conn,
			       const Flexchain__Deregister *dr)
{
	for (size_t i = 0; i < d->nm; i++)
		if (d->m[i].conn == conn && dr->node_id && strcmp(d->m[i].id, dr->node_id) == 0) {
			member_remove(d, i, "deregistered");
			return;
		}
}

void fc_ord_decider_conn_closed(struct fc_ord_decider *d, struct fc_conn *conn)
{
	for (size_t i = d->nm; i-- > 0;)
		if (d->m[i].conn == conn)
			member_remove(d, i, "connection closed");
}

size_t fc_ord_decider_live(const struct fc_ord_decider *d)
{
	return d->nm;
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
	int in_committee = 0;

	if (!m || !d->leading)
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
	    strcmp(fc_crypto_cert_cn(signer), m->id) != 0 ||
	    strcmp(fc_crypto_cert_ou(signer), FC_IDENTITY_ROLE_COMPUTE) != 0) {
		snprintf(err, sizeof err, "signer is not %s", m->id);
		goto bad;
	}
	for (size_t i = 0; i < x->n_committee; i++)
		in_committee |= strcmp(x->committee[i], m->id) == 0;
	if (!in_committee) {
		snprintf(err, sizeof err, "%s is not on the committee", m->id);
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
	       (unsigned long long)v->height, m->id, err);
out:
	fc_free(agree);
	fc_free(buf);
	fc_crypto_cert_free(signer);
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
		if (j->rc != FC_OK) {
			/* A deposed leader may have stored this height with
			 * another verdict first: the stored one is final. */
			struct fc_storage_height sh;
			if (fc_storage_get_height(d->sc, 0, &sh, NULL) == FC_OK && !sh.empty &&
			    sh.applied_height >= j->dec->height)
				j->rc = FC_EEXIST;
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
		/* Durable on a write quorum: tell the world, next block. */
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
	rc = fc_storage_client_create(env->cfg, NULL, &d->sc, errmsg);
	if (rc != FC_OK) {
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
	fc_storage_client_destroy(d->sc);
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
