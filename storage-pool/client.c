/* Storage pool client (fc_storage_client.h): blocking sockets, one
 * connection per replica, replies paired with requests by request_id.
 *
 * Appends go to every replica at once and the answers are collected with
 * poll() so that a slow or dead replica does not hold up the quorum; the
 * answers a call stops waiting for are read and dropped by the next call
 * (their request_id is older). */
#include <poll.h>
#include <string.h>
#include <time.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_storage_client.h"
#include "fc_time.h"
#include "fc_wire.h"

struct replica {
	const struct fc_config_node *node;
	struct fc_netc *nc;
	/* per append */
	int state; /* 0 idle, 1 waiting, 2 acked, 3 failed */
};

struct fc_storage_client {
	const struct fc_config *cfg;
	struct fc_storage_client_opts opts;
	struct replica *r;
	size_t n;
	uint64_t next_id;
	size_t max_frame;
};

enum { R_IDLE, R_WAIT, R_ACKED, R_FAILED };

void fc_storage_client_opts_init(struct fc_storage_client_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->timeout_ms = 5000;
	opts->connect_timeout_ms = 1000;
	opts->skip_replica = (size_t)-1;
}

int fc_storage_client_create(const struct fc_config *cfg, const struct fc_storage_client_opts *opts,
			     struct fc_storage_client **out, char *errmsg)
{
	struct fc_storage_client *c;

	if (!cfg || !out)
		return fc_errf(errmsg, FC_EINVAL, "storage client: invalid arguments");
	*out = NULL;
	c = fc_calloc(1, sizeof *c);
	if (!c)
		return fc_errf(errmsg, FC_ENOMEM, "storage client: out of memory");
	if (opts)
		c->opts = *opts;
	else
		fc_storage_client_opts_init(&c->opts);
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = 5000;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = 1000;
	c->n = cfg->storage.n_replicas;
	c->r = fc_calloc(c->n ? c->n : 1, sizeof *c->r);
	if (!c->r) {
		fc_free(c);
		return fc_errf(errmsg, FC_ENOMEM, "storage client: out of memory");
	}
	for (size_t i = 0; i < c->n; i++)
		c->r[i].node = &cfg->storage.replicas[i];
	c->cfg = cfg;
	c->next_id = 1;
	c->max_frame =
	    cfg->network.max_frame_bytes ? cfg->network.max_frame_bytes : FC_NET_DEFAULT_MAX_FRAME;
	*out = c;
	return FC_OK;
}

void fc_storage_client_destroy(struct fc_storage_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		fc_netc_close(c->r[i].nc);
	fc_free(c->r);
	fc_free(c);
}

size_t fc_storage_client_replicas(const struct fc_storage_client *c)
{
	return c ? c->n : 0;
}

static void drop(struct replica *r)
{
	fc_netc_close(r->nc);
	r->nc = NULL;
}

static int ensure_conn(struct fc_storage_client *c, struct replica *r, char *errmsg)
{
	int rc;

	if (r->nc)
		return FC_OK;
	rc = fc_netc_connect(r->node->host, r->node->port, c->opts.connect_timeout_ms, &r->nc,
			     errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "%s (%s:%u)", r->node->id, r->node->host,
				  (unsigned)r->node->port);
	return FC_OK;
}

static int recv_msg(struct fc_storage_client *c, struct replica *r, unsigned timeout,
		    Flexchain__ControlMessage **out, char *errmsg);

/* Reads and drops replies that a previous call stopped waiting for, so
 * they never pile up in the socket. */
static void drain_stale(struct fc_storage_client *c, struct replica *r)
{
	for (int i = 0; r->nc && i < 1024; i++) {
		struct pollfd pf = {.fd = fc_netc_fd(r->nc), .events = POLLIN, .revents = 0};
		Flexchain__ControlMessage *m = NULL;

		if (poll(&pf, 1, 0) <= 0)
			return;
		if (recv_msg(c, r, 1, &m, NULL) != FC_OK)
			return;
		fc_wire_free(&m->base);
	}
}

static int send_msg(struct fc_storage_client *c, struct replica *r, Flexchain__ControlMessage *cm,
		    char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = ensure_conn(c, r, errmsg);

	if (rc != FC_OK)
		return rc;
	rc = fc_wire_encode(&cm->base, &buf, &len, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_netc_send(r->nc, buf, len, c->opts.timeout_ms, errmsg);
	fc_free(buf);
	if (rc != FC_OK) {
		drop(r);
		return fc_errwrap(errmsg, rc, "%s: send", r->node->id);
	}
	return FC_OK;
}

/* Receives one frame and decodes it; timeout in ms (>= 1). */
static int recv_msg(struct fc_storage_client *c, struct replica *r, unsigned timeout,
		    Flexchain__ControlMessage **out, char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ProtobufCMessage *m = NULL;
	int rc = fc_netc_recv(r->nc, &buf, &len, c->max_frame, timeout ? timeout : 1, errmsg);

	*out = NULL;
	if (rc == FC_ETIMEOUT)
		return rc;
	if (rc != FC_OK) {
		drop(r);
		return fc_errwrap(errmsg, rc, "%s: receive", r->node->id);
	}
	rc = fc_wire_decode(&flexchain__control_message__descriptor, buf, len, c->max_frame, &m,
			    errmsg);
	fc_free(buf);
	if (rc != FC_OK) {
		drop(r);
		return fc_errwrap(errmsg, rc, "%s: reply", r->node->id);
	}
	*out = (Flexchain__ControlMessage *)m;
	return FC_OK;
}

/* One request, one reply of body case `want` (or Error). On FC_OK *out is
 * the whole ControlMessage (fc_wire_free). */
static int roundtrip(struct fc_storage_client *c, size_t replica, Flexchain__ControlMessage *req,
		     int want, Flexchain__ControlMessage **out, char *errmsg)
{
	struct replica *r;
	uint64_t deadline;
	int rc;

	*out = NULL;
	if (replica >= c->n)
		return fc_errf(errmsg, FC_EINVAL, "no storage replica %zu", replica);
	r = &c->r[replica];
	req->request_id = c->next_id++;
	rc = send_msg(c, r, req, errmsg);
	if (rc != FC_OK)
		return rc;
	deadline = fc_mono_ms() + c->opts.timeout_ms;
	for (;;) {
		Flexchain__ControlMessage *cm = NULL;
		uint64_t now = fc_mono_ms();

		if (now >= deadline) {
			/* the reply may still come: the connection is out of step */
			drop(r);
			return fc_errf(errmsg, FC_ETIMEOUT, "%s: no reply within %u ms",
				       r->node->id, c->opts.timeout_ms);
		}
		rc = recv_msg(c, r, (unsigned)(deadline - now), &cm, errmsg);
		if (rc == FC_ETIMEOUT)
			continue;
		if (rc != FC_OK)
			return rc;
		if (cm->request_id != req->request_id) {
			fc_wire_free(&cm->base); /* a late answer to an earlier call */
			continue;
		}
		if (cm->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR && cm->error) {
			int code = cm->error->code ? (int)cm->error->code : FC_EPROTO;
			rc = fc_errf(errmsg, code, "%s: %s", r->node->id,
				     cm->error->message ? cm->error->message : "error");
			fc_wire_free(&cm->base);
			return rc;
		}
		if ((int)cm->body_case != want) {
			fc_wire_free(&cm->base);
			return fc_errf(errmsg, FC_EPROTO, "%s: unexpected reply (body %d)",
				       r->node->id, (int)cm->body_case);
		}
		*out = cm;
		return FC_OK;
	}
}

/* ------------------------------------------------------------- replication */

int fc_storage_append(struct fc_storage_client *c, const Flexchain__Block *block,
		      const Flexchain__Verdict *verdict, const Flexchain__CommitCertificate *cert,
		      struct fc_storage_append_result *res, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT;
	Flexchain__LedgerAppend la = FLEXCHAIN__LEDGER_APPEND__INIT;
	char first_err[FC_ERRMSG_LEN] = "";
	int first_code = FC_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t quorum, acked = 0, failed = 0, eligible = 0;
	unsigned long long h;
	uint64_t deadline, id;
	int rc;

	if (res)
		memset(res, 0, sizeof *res);
	if (!c || !block || !block->header || !verdict || !cert)
		return fc_errf(errmsg, FC_EINVAL, "append: invalid arguments");
	h = (unsigned long long)block->header->height;
	quorum = c->cfg->storage.write_quorum ? c->cfg->storage.write_quorum : 1;
	la.block = (Flexchain__Block *)block;
	la.verdict = (Flexchain__Verdict *)verdict;
	la.certificate = (Flexchain__CommitCertificate *)cert;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_APPEND;
	cm.ledger_append = &la;
	id = c->next_id++;
	cm.request_id = id;
	rc = fc_wire_encode(&cm.base, &buf, &len, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "append height %llu", h);

	for (size_t i = 0; i < c->n; i++) {
		struct replica *r = &c->r[i];
		char em[FC_ERRMSG_LEN] = "";
		r->state = R_IDLE;
		if (i == c->opts.skip_replica)
			continue;
		eligible++;
		if (r->nc)
			drain_stale(c, r);
		rc = ensure_conn(c, r, em);
		if (rc == FC_OK) {
			rc = fc_netc_send(r->nc, buf, len, c->opts.timeout_ms, em);
			if (rc != FC_OK) {
				drop(r);
				fc_errwrap(em, rc, "%s: send", r->node->id);
			}
		}
		if (rc != FC_OK) {
			r->state = R_FAILED;
			failed++;
			if (first_code == FC_OK) {
				first_code = rc;
				snprintf(first_err, sizeof first_err, "%s", em);
			}
			continue;
		}
		r->state = R_WAIT;
	}
	fc_free(buf);
	if (quorum > eligible)
		quorum = eligible;

	deadline = fc_mono_ms() + c->opts.timeout_ms;
	while (acked < quorum && eligible - failed >= quorum) {
		struct pollfd pf[64];
		size_t map[64], np = 0;
		uint64_t now = fc_mono_ms();
		int n;

		for (size_t i = 0; i < c->n && np < 64; i++)
			if (c->r[i].state == R_WAIT) {
				pf[np].fd = fc_netc_fd(c->r[i].nc);
				pf[np].events = POLLIN;
				pf[np].revents = 0;
				map[np++] = i;
			}
		if (np == 0 || now >= deadline)
			break;
		n = poll(pf, np, (int)(deadline - now));
		if (n < 0)
			continue; /* EINTR */
		for (size_t k = 0; k < np; k++) {
			struct replica *r = &c->r[map[k]];
			Flexchain__ControlMessage *m = NULL;
			char em[FC_ERRMSG_LEN] = "";

			if (!pf[k].revents)
				continue;
			rc = recv_msg(c, r, 1, &m, em);
			if (rc == FC_ETIMEOUT)
				continue; /* partial frame: more to come */
			if (rc == FC_OK && m->request_id != id) {
				fc_wire_free(&m->base); /* late answer to an earlier append */
				continue;
			}
			if (rc == FC_OK) {
				if (m->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK &&
				    m->ledger_ack && m->ledger_ack->code == 0) {
					r->state = R_ACKED;
					acked++;
					fc_wire_free(&m->base);
					continue;
				}
				if (m->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_LEDGER_ACK &&
				    m->ledger_ack) {
					rc = (int)m->ledger_ack->code;
					fc_errf(em, rc, "%s: %s", r->node->id,
						m->ledger_ack->message ? m->ledger_ack->message
								       : fc_strerror(rc));
				} else if (m->body_case == FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR &&
					   m->error) {
					rc = m->error->code ? (int)m->error->code : FC_EPROTO;
					fc_errf(em, rc, "%s: %s", r->node->id,
						m->error->message ? m->error->message : "error");
				} else {
					rc = fc_errf(em, FC_EPROTO, "%s: unexpected reply",
						     r->node->id);
				}
				fc_wire_free(&m->base);
			}
			r->state = R_FAILED;
			failed++;
			if (first_code == FC_OK) {
				first_code = rc;
				snprintf(first_err, sizeof first_err, "%s", em);
			}
		}
	}
	if (res) {
		res->acked = acked;
		res->failed = failed;
	}
	if (acked >= quorum && quorum > 0)
		return FC_OK;
	if (eligible - failed < quorum || quorum == 0) {
		if (first_code == FC_OK)
			return fc_errf(errmsg, FC_EINVAL, "append height %llu: no replica", h);
		return fc_errf(errmsg, first_code, "append height %llu: %s", h, first_err);
	}
	{
		char names[FC_ERRMSG_LEN / 2] = "";
		size_t off = 0;
		for (size_t i = 0; i < c->n; i++)
			if (c->r[i].state == R_WAIT) {
				int w = snprintf(names + off, sizeof names - off, "%s%s",
						 off ? ", " : "", c->r[i].node->id);
				if (w > 0 && (size_t)w < sizeof names - off)
					off += (size_t)w;
			}
		return fc_errf(
		    errmsg, FC_ETIMEOUT,
		    "append height %llu: write quorum %u not reached in %u ms: no answer "
		    "from %s",
		    h, quorum, c->opts.timeout_ms, names);
	}
}

/* ----------------------------------------------------------------- queries */

int fc_storage_get_height(struct fc_storage_client *c, size_t replica,
			  struct fc_storage_height *out, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__HeightQuery q = FLEXCHAIN__HEIGHT_QUERY__INIT;
	int rc;

	if (!c || !out)
		return fc_errf(errmsg, FC_EINVAL, "height: invalid arguments");
	memset(out, 0, sizeof *out);
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_QUERY;
	cm.height_query = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_HEIGHT_INFO, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	out->empty = rep->height_info->empty;
	out->applied_height = rep->height_info->applied_height;
	if (!out->empty) {
		if (rep->height_info->last_hash.len != FC_HASH_LEN) {
			fc_wire_free(&rep->base);
			return fc_errf(errmsg, FC_EPROTO, "height: bad last_hash");
		}
		memcpy(out->last_hash, rep->height_info->last_hash.data, FC_HASH_LEN);
	}
	fc_wire_free(&rep->base);
	return FC_OK;
}

int fc_storage_get_blocks(struct fc_storage_client *c, size_t replica, uint64_t from,
			  uint64_t count, Flexchain__BlockReply **out, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__BlockQuery q = FLEXCHAIN__BLOCK_QUERY__INIT;
	int rc;

	if (!c || !out)
		return fc_errf(errmsg, FC_EINVAL, "blocks: invalid arguments");
	*out = NULL;
	q.height = from;
	q.count = count;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK_QUERY;
	cm.block_query = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_BLOCK_REPLY, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	*out = rep->block_reply;
	rep->block_reply = NULL;
	rep->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
	fc_wire_free(&rep->base);
	return FC_OK;
}

int fc_storage_get_blocks_any(struct fc_storage_client *c, size_t *pref, uint64_t from,
			      uint64_t count, Flexchain__BlockReply **out, char *errmsg)
{
	size_t n = c ? c->n : 0, first = pref ? *pref : 0;
	int rc = fc_errf(errmsg, FC_ENOTFOUND, "blocks: no replica");

	for (size_t k = 0; k < n && rc != FC_OK; k++) {
		size_t r = (first + k) % n;
		rc = fc_storage_get_blocks(c, r, from, count, out, errmsg);
		if (rc == FC_OK && (*out)->n_blocks == 0) {
			fc_wire_free(&(*out)->base);
			*out = NULL;
			rc = fc_errf(errmsg, FC_ENOTFOUND, "%s: no block %llu", c->r[r].node->id,
				     (unsigned long long)from);
		}
		if (rc == FC_OK && pref)
			*pref = r;
	}
	return rc;
}

int fc_storage_get_tx(struct fc_storage_client *c, size_t replica, const char *tx_id,
		      Flexchain__TxInfo **out, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__TxQuery q = FLEXCHAIN__TX_QUERY__INIT;
	int rc;

	if (!c || !out || !tx_id)
		return fc_errf(errmsg, FC_EINVAL, "tx: invalid arguments");
	*out = NULL;
	q.tx_id = (char *)tx_id;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_QUERY;
	cm.tx_query = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_INFO, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	*out = rep->tx_info;
	rep->tx_info = NULL;
	rep->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
	fc_wire_free(&rep->base);
	return FC_OK;
}

int fc_storage_get_txs(struct fc_storage_client *c, size_t replica, const char *const *ids,
		       size_t n, Flexchain__TxBatchInfo **out, char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__TxBatchQuery q = FLEXCHAIN__TX_BATCH_QUERY__INIT;
	int rc;

	if (!c || !out || (n && !ids))
		return fc_errf(errmsg, FC_EINVAL, "txs: invalid arguments");
	*out = NULL;
	q.n_tx_ids = n;
	q.tx_ids = (char **)ids;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_BATCH_QUERY;
	cm.tx_batch_query = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_TX_BATCH_INFO, &rep,
		       errmsg);
	if (rc != FC_OK)
		return rc;
	if (rep->tx_batch_info->n_txs != n) {
		rc = fc_errf(errmsg, FC_EPROTO, "txs: %zu answers for %zu ids",
			     rep->tx_batch_info->n_txs, n);
	} else {
		*out = rep->tx_batch_info;
		rep->tx_batch_info = NULL;
		rep->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
	}
	fc_wire_free(&rep->base);
	return rc;
}

int fc_storage_get_state(struct fc_storage_client *c, size_t replica,
			 const ProtobufCBinaryData *keys, size_t n, Flexchain__StateReply **out,
			 char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__StateQuery q = FLEXCHAIN__STATE_QUERY__INIT;
	int rc;

	if (!c || !out || (n && !keys))
		return fc_errf(errmsg, FC_EINVAL, "state: invalid arguments");
	*out = NULL;
	q.n_keys = n;
	q.keys = (ProtobufCBinaryData *)keys;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_QUERY;
	cm.state_query = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_STATE_REPLY, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	if (rep->state_reply->n_entries != n) {
		fc_wire_free(&rep->base);
		return fc_errf(errmsg, FC_EPROTO,
			       "state: %zu keys asked, answer has a different count", n);
	}
	*out = rep->state_reply;
	rep->state_reply = NULL;
	rep->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
	fc_wire_free(&rep->base);
	return FC_OK;
}

int fc_storage_validate(struct fc_storage_client *c, size_t replica, const Flexchain__Block *block,
			char *const *committee, size_t n_committee, Flexchain__Verdict **out,
			char *errmsg)
{
	Flexchain__ControlMessage cm = FLEXCHAIN__CONTROL_MESSAGE__INIT, *rep = NULL;
	Flexchain__ValidateRequest q = FLEXCHAIN__VALIDATE_REQUEST__INIT;
	int rc;

	if (!c || !out || !block)
		return fc_errf(errmsg, FC_EINVAL, "validate: invalid arguments");
	*out = NULL;
	q.block = (Flexchain__Block *)block;
	q.committee = (char **)committee;
	q.n_committee = committee ? n_committee : 0;
	cm.body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_VALIDATE_REQUEST;
	cm.validate_request = &q;
	rc = roundtrip(c, replica, &cm, FLEXCHAIN__CONTROL_MESSAGE__BODY_VERDICT, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	*out = rep->verdict;
	rep->verdict = NULL;
	rep->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY__NOT_SET;
	fc_wire_free(&rep->base);
	return FC_OK;
}
