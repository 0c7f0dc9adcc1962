/* transport.c - the backend-independent half of fc_transport.h: choosing a
 * backend, checking work requests before a backend sees them, counting. */
#include "transport_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fc_err.h"
#include "fc_log.h"

static const char *const kind_names[] = {
	[FC_TRANSPORT_AUTO] = "auto",
	[FC_TRANSPORT_TCP] = "tcp",
	[FC_TRANSPORT_RDMA] = "rdma",
};

int fc_transport_parse_kind(const char *s, enum fc_transport_kind *out)
{
	for (int k = FC_TRANSPORT_AUTO; s && k <= FC_TRANSPORT_RDMA; k++) {
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum fc_transport_kind)k;
			return FC_OK;
		}
	}
	return FC_EINVAL;
}

const char *fc_transport_kind_name(enum fc_transport_kind kind)
{
	if ((int)kind < FC_TRANSPORT_AUTO || kind > FC_TRANSPORT_RDMA)
		return "unknown";
	return kind_names[kind];
}

void fc_transport_fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%u", host, port);
}

int fc_transport_open(enum fc_transport_kind kind, struct fc_transport **out,
		      char *errmsg)
{
	const struct fc_transport_ops *ops;
	char why[FC_ERRMSG_LEN] = "";
	int rc;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "transport: open: NULL out");
	*out = NULL;
	switch (kind) {
	case FC_TRANSPORT_TCP:
		ops = &fc_transport_tcp_ops;
		break;
	case FC_TRANSPORT_RDMA:
		ops = &fc_transport_rdma_ops;
		break;
	case FC_TRANSPORT_AUTO:
		rc = fc_transport_rdma_probe(why);
		if (rc == FC_OK) {
			rc = fc_transport_rdma_ops.open(out, why);
			if (rc == FC_OK) {
				fc_log(FC_LOG_INFO, "transport", "auto picked rdma", NULL);
				return FC_OK;
			}
		}
		fc_log(FC_LOG_INFO, "transport", "auto picked tcp", "reason=\"%s\"", why);
		ops = &fc_transport_tcp_ops;
		break;
	default:
		return fc_errf(errmsg, FC_EINVAL, "transport: open: unknown kind %d", (int)kind);
	}
	rc = ops->open(out, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "transport: open %s", ops->name);
	return FC_OK;
}

void fc_transport_close(struct fc_transport *t)
{
	if (t)
		t->ops->close(t);
}

const char *fc_transport_name(const struct fc_transport *t)
{
	return t ? t->ops->name : "none";
}

const struct fc_transport_ops *fc_transport_get_ops(const struct fc_transport *t)
{
	return t ? t->ops : NULL;
}

void fc_transport_stats(struct fc_transport *t, struct fc_transport_stats *out)
{
	const uint64_t *src = (const uint64_t *)&t->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int fc_transport_reg_mr(struct fc_transport *t, void *addr, size_t len,
			struct fc_transport_mr **out, char *errmsg)
{
	if (!t || !addr || !len || !out)
		return fc_errf(errmsg, FC_EINVAL, "transport: reg_mr: bad argument");
	return t->ops->reg_mr(t, addr, len, out, errmsg);
}

void fc_transport_mr_desc(const struct fc_transport_mr *mr, struct fc_mr_desc *out)
{
	*out = mr->desc;
}

void fc_transport_dereg_mr(struct fc_transport_mr *mr)
{
	if (mr)
		mr->t->ops->dereg_mr(mr);
}

int fc_transport_listen(struct fc_transport *t, const char *host, uint16_t port,
			const struct fc_transport_mr *expose,
			struct fc_transport_listener **out, char *errmsg)
{
	if (!t || !host || !out)
		return fc_errf(errmsg, FC_EINVAL, "transport: listen: bad argument");
	if (expose && expose->t != t)
		return fc_errf(errmsg, FC_EINVAL, "transport: listen: mr of another transport");
	return t->ops->listen(t, host, port, expose, out, errmsg);
}

uint16_t fc_transport_listener_port(const struct fc_transport_listener *l)
{
	return l->port;
}

int fc_transport_accept(struct fc_transport_listener *l, int timeout_ms,
			struct fc_transport_conn **out, char *errmsg)
{
	if (!l || !out)
		return fc_errf(errmsg, FC_EINVAL, "transport: accept: bad argument");
	return l->t->ops->accept(l, timeout_ms, out, errmsg);
}

void fc_transport_listener_close(struct fc_transport_listener *l)
{
	if (l)
		l->t->ops->listener_close(l);
}

int fc_transport_connect(struct fc_transport *t, const char *host, uint16_t port,
			 int timeout_ms, struct fc_transport_conn **out, char *errmsg)
{
	if (!t || !host || !out || !port)
		return fc_errf(errmsg, FC_EINVAL, "transport: connect: bad argument");
	return t->ops->connect(t, host, port, timeout_ms, out, errmsg);
}

void fc_transport_conn_remote(const struct fc_transport_conn *c, struct fc_mr_desc *out)
{
	*out = c->remote;
}

const char *fc_transport_conn_peer(const struct fc_transport_conn *c)
{
	return c->peer;
}

static const char *op_name(enum fc_transport_op op)
{
	switch (op) {
	case FC_TRANSPORT_READ:
		return "read";
	case FC_TRANSPORT_WRITE:
		return "write";
	case FC_TRANSPORT_CAS:
		return "cas";
	case FC_TRANSPORT_SEND:
		return "send";
	case FC_TRANSPORT_RECV:
		return "recv";
	}
	return "?";
}

/* Range checks on both ends, so that a bad address is an error for the
 * caller rather than a remote access error that kills an RDMA queue pair. */
static int check_wr(const struct fc_transport_conn *c, const struct fc_transport_wr *wr,
		    size_t i, char *errmsg)
{
	uint64_t len = wr->op == FC_TRANSPORT_CAS ? 8 : wr->len;
	const char *op = op_name(wr->op);
	uintptr_t loc = (uintptr_t)wr->local;

	if (wr->op < FC_TRANSPORT_READ || wr->op > FC_TRANSPORT_RECV)
		return fc_errf(errmsg, FC_EINVAL, "transport: post to %s: wr %zu: bad op %d",
			       c->peer, i, (int)wr->op);
	if (!wr->mr || !wr->local || (len == 0 && wr->op != FC_TRANSPORT_SEND &&
				     wr->op != FC_TRANSPORT_RECV))
		return fc_errf(errmsg, FC_EINVAL,
			       "transport: post %s to %s: wr %zu: no local buffer/mr or zero length",
			       op, c->peer, i);
	if (wr->mr->t != c->t)
		return fc_errf(errmsg, FC_EINVAL, "transport: post %s to %s: mr of another transport",
			       op, c->peer);
	if (len > FC_TRANSPORT_MAX_MSG)
		return fc_errf(errmsg, FC_ETOOBIG, "transport: post %s to %s: %llu bytes > %u", op,
			       c->peer, (unsigned long long)len, FC_TRANSPORT_MAX_MSG);
	if (loc < (uintptr_t)wr->mr->addr || loc + len > (uintptr_t)wr->mr->addr + wr->mr->len)
		return fc_errf(errmsg, FC_ERANGE,
			       "transport: post %s to %s: local buffer outside its mr", op, c->peer);
	if (wr->op == FC_TRANSPORT_SEND || wr->op == FC_TRANSPORT_RECV)
		return FC_OK;
	if (wr->op == FC_TRANSPORT_CAS && (wr->remote_addr & 7))
		return fc_errf(errmsg, FC_EINVAL,
			       "transport: post cas to %s: remote address 0x%llx not 8-aligned",
			       c->peer, (unsigned long long)wr->remote_addr);
	if (c->remote.len == 0 || wr->remote_addr < c->remote.addr ||
	    wr->remote_addr - c->remote.addr > c->remote.len ||
	    len > c->remote.len - (wr->remote_addr - c->remote.addr))
		return fc_errf(errmsg, FC_ERANGE,
			       "transport: post %s to %s: remote [0x%llx, +%llu) outside the "
			       "registered region [0x%llx, +%llu)",
			       op, c->peer, (unsigned long long)wr->remote_addr,
			       (unsigned long long)len, (unsigned long long)c->remote.addr,
			       (unsigned long long)c->remote.len);
	return FC_OK;
}

int fc_transport_post(struct fc_transport_conn *c, const struct fc_transport_wr *wrs,
		      size_t n, char *errmsg)
{
	struct fc_transport_stats *st;
	int rc;

	if (!c || (!wrs && n))
		return fc_errf(errmsg, FC_EINVAL, "transport: post: bad argument");
	if (n == 0)
		return FC_OK;
	if (n > FC_TRANSPORT_QUEUE_DEPTH)
		return fc_errf(errmsg, FC_EINVAL, "transport: post to %s: %zu wrs > queue depth %d",
			       c->peer, n, FC_TRANSPORT_QUEUE_DEPTH);
	for (size_t i = 0; i < n; i++) {
		rc = check_wr(c, &wrs[i], i, errmsg);
		if (rc != FC_OK)
			return rc;
	}
	rc = c->t->ops->post(c, wrs, n, errmsg);
	if (rc != FC_OK)
		return rc;
	st = &c->t->st;
	for (size_t i = 0; i < n; i++) {
		switch (wrs[i].op) {
		case FC_TRANSPORT_READ:
			fc_transport_count(&st->posted_read, 1);
			break;
		case FC_TRANSPORT_WRITE:
			fc_transport_count(&st->posted_write, 1);
			break;
		case FC_TRANSPORT_CAS:
			fc_transport_count(&st->posted_cas, 1);
			break;
		case FC_TRANSPORT_SEND:
			fc_transport_count(&st->posted_send, 1);
			break;
		case FC_TRANSPORT_RECV:
			fc_transport_count(&st->posted_recv, 1);
			break;
		}
	}
	return FC_OK;
}

int fc_transport_poll(struct fc_transport_conn *c, struct fc_transport_wc *wcs,
		      size_t max, int timeout_ms, size_t *n_out, char *errmsg)
{
	size_t ok = 0;
	int rc;

	if (!c || !wcs || !max || !n_out)
		return fc_errf(errmsg, FC_EINVAL, "transport: poll: bad argument");
	*n_out = 0;
	rc = c->t->ops->poll(c, wcs, max, timeout_ms, n_out, errmsg);
	for (size_t i = 0; i < *n_out; i++)
		ok += wcs[i].status == FC_OK;
	fc_transport_count(&c->t->st.completions_ok, ok);
	fc_transport_count(&c->t->st.completions_err, *n_out - ok);
	return rc;
}

void fc_transport_conn_close(struct fc_transport_conn *c)
{
	if (c)
		c->t->ops->conn_close(c);
}
