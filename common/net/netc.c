/* Blocking frame client: plain sockets in non-blocking mode plus poll(2),
 * so every wait is bounded by the caller's timeout. recv keeps partial
 * progress in the client so a timeout never desynchronises the stream.
 */
#include "fc_net.h"

#include "fc_err.h"
#include "fc_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fc_netc {
	int fd;
	int broken; /* a stream error happened: only close is valid */
	char peer[80];
	/* partial receive */
	uint8_t hdr[FC_NET_FRAME_HDR];
	size_t hdr_have;
	int in_body;
	uint32_t flen;
	uint8_t *fbuf;
	size_t fhave;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (0 = none). FC_OK or FC_ETIMEOUT/EIO. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		int tmo = -1;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return FC_ETIMEOUT;
			tmo = left > 0x7fffffff ? 0x7fffffff : (int)left;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, tmo);
		if (r > 0)
			return FC_OK;
		if (r == 0)
			return FC_ETIMEOUT;
		if (errno != EINTR)
			return fc_err_from_errno(errno);
	}
}

static long long deadline_of(unsigned timeout_ms)
{
	return timeout_ms ? now_ms() + timeout_ms : 0;
}

int fc_net_split_addr(const char *addr, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	unsigned long v;
	char *end;
	size_t hl;

	if (!colon || colon == addr)
		return 0;
	v = strtoul(colon + 1, &end, 10);
	if (*end || v == 0 || v > 65535)
		return 0;
	hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hlen)
		return 0;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 1;
}

int fc_net_addr_is(const char *addr, const char *host, uint16_t port)
{
	size_t hl = strlen(host);
	char ps[8];

	snprintf(ps, sizeof ps, "%u", (unsigned)port);
	return strncmp(addr, host, hl) == 0 && addr[hl] == ':' && strcmp(addr + hl + 1, ps) == 0;
}

int fc_net_dial(const char *host, uint16_t port, unsigned timeout_ms, int *out, char *errmsg)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	long long deadline = deadline_of(timeout_ms);
	int rc, e, fd = -1;

	if (!host || !out)
		return fc_errf(errmsg, FC_EINVAL, "connect: NULL argument");
	*out = -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof portstr, "%u", port);
	e = getaddrinfo(host, portstr, &hints, &res);
	if (e != 0)
		return fc_errf(errmsg, FC_EINVAL, "connect %s:%u: resolve: %s", host, port,
			       gai_strerror(e));
	/* Try each address; keep the last error. */
	rc = fc_errf(errmsg, FC_EIO, "connect %s:%u: no address", host, port);
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = fc_errf(errmsg, fc_err_from_errno(errno), "connect %s:%u: socket: %s",
				     host, port, strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, deadline);
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (w == FC_OK && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			if (w == FC_ETIMEOUT)
				rc = fc_errf(errmsg, FC_ETIMEOUT,
					     "connect %s:%u: timed out after %u ms", host, port,
					     timeout_ms);
			else
				rc = fc_errf(errmsg, FC_EIO, "connect %s:%u: %s", host, port,
					     strerror(soerr ? soerr : errno));
		} else {
			rc = fc_errf(errmsg, FC_EIO, "connect %s:%u: %s", host, port,
				     strerror(errno));
		}
		close(fd);
		fd = -1;
		if (rc == FC_ETIMEOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return rc;
	*out = fd;
	if (errmsg)
		errmsg[0] = '\0';
	return FC_OK;
}

int fc_netc_connect(const char *host, uint16_t port, unsigned timeout_ms, struct fc_netc **out,
		    char *errmsg)
{
	struct fc_netc *c;
	int rc, fd, one = 1;

	if (!host || !out)
		return fc_errf(errmsg, FC_EINVAL, "netc: connect: NULL argument");
	*out = NULL;
	rc = fc_net_dial(host, port, timeout_ms, &fd, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "netc");
	c = fc_calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return fc_errf(errmsg, FC_ENOMEM, "netc: connect %s:%u: out of memory", host, port);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	snprintf(c->peer, sizeof c->peer, "%s:%u", host, port);
	*out = c;
	return FC_OK;
}

static int send_all(struct fc_netc *c, const uint8_t *p, size_t n, long long deadline, char *errmsg)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(c->fd, POLLOUT, deadline);
			if (rc == FC_ETIMEOUT)
				return fc_errf(errmsg, rc, "netc: send to %s: timed out", c->peer);
			if (rc)
				return fc_errf(errmsg, rc, "netc: send to %s: poll: %s", c->peer,
					       strerror(errno));
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return fc_errf(errmsg, FC_ECLOSED, "netc: send to %s: peer closed (%s)",
				       c->peer, strerror(errno));
		return fc_errf(errmsg, FC_EIO, "netc: send to %s: %s", c->peer, strerror(errno));
	}
	return FC_OK;
}

int fc_netc_send(struct fc_netc *c, const void *buf, size_t len, unsigned timeout_ms, char *errmsg)
{
	long long deadline = deadline_of(timeout_ms);
	uint8_t hdr[FC_NET_FRAME_HDR];
	int rc;

	if (!c || (len && !buf))
		return fc_errf(errmsg, FC_EINVAL, "netc: send: bad argument");
	if (c->broken)
		return fc_errf(errmsg, FC_ESTATE, "netc: send to %s: connection unusable", c->peer);
	if (len > UINT32_MAX)
		return fc_errf(errmsg, FC_ETOOBIG, "netc: send to %s: frame of %zu bytes", c->peer,
			       len);
	fc_net_put_be32(hdr, (uint32_t)len);
	rc = send_all(c, hdr, sizeof hdr, deadline, errmsg);
	if (!rc && len)
		rc = send_all(c, buf, len, deadline, errmsg);
	if (rc)
		c->broken = 1;
	return rc;
}

/* Reads up to n bytes into p; FC_OK with *got > 0, or an error. */
static int recv_some(struct fc_netc *c, uint8_t *p, size_t n, size_t *got, long long deadline,
		     char *errmsg)
{
	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r > 0) {
			*got = (size_t)r;
			return FC_OK;
		}
		if (r == 0) {
			if (c->in_body || c->hdr_have)
				return fc_errf(errmsg, FC_EPROTO,
					       "netc: recv from %s: peer closed mid-frame",
					       c->peer);
			return fc_errf(errmsg, FC_ECLOSED, "netc: recv from %s: peer closed",
				       c->peer);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(c->fd, POLLIN, deadline);
			if (rc == FC_ETIMEOUT)
				return fc_errf(errmsg, rc, "netc: recv from %s: timed out",
					       c->peer);
			if (rc)
				return fc_errf(errmsg, rc, "netc: recv from %s: poll: %s", c->peer,
					       strerror(errno));
			continue;
		}
		if (errno == ECONNRESET)
			return fc_errf(errmsg, FC_ECLOSED, "netc: recv from %s: connection reset",
				       c->peer);
		return fc_errf(errmsg, FC_EIO, "netc: recv from %s: %s", c->peer, strerror(errno));
	}
}

int fc_netc_recv(struct fc_netc *c, uint8_t **buf, size_t *len, size_t max, unsigned timeout_ms,
		 char *errmsg)
{
	long long deadline = deadline_of(timeout_ms);
	size_t got;
	int rc = FC_OK;

	if (!c || !buf || !len)
		return fc_errf(errmsg, FC_EINVAL, "netc: recv: bad argument");
	*buf = NULL;
	*len = 0;
	if (c->broken)
		return fc_errf(errmsg, FC_ESTATE, "netc: recv from %s: connection unusable",
			       c->peer);
	if (!max)
		max = FC_NET_DEFAULT_MAX_FRAME;
	while (!c->in_body) {
		rc = recv_some(c, c->hdr + c->hdr_have, FC_NET_FRAME_HDR - c->hdr_have, &got,
			       deadline, errmsg);
		if (rc)
			goto out;
		c->hdr_have += got;
		if (c->hdr_have < FC_NET_FRAME_HDR)
			continue;
		c->flen = fc_net_get_be32(c->hdr);
		c->hdr_have = 0;
		if (c->flen > max) {
			rc = fc_errf(errmsg, FC_ETOOBIG,
				     "netc: recv from %s: frame of %u bytes over max %zu", c->peer,
				     c->flen, max);
			goto out;
		}
		/* Allocated up front: the peer is a server we chose to talk to
		 * and the length is already capped by max. */
		c->fbuf = fc_malloc(c->flen);
		if (!c->fbuf) {
			rc = fc_errf(errmsg, FC_ENOMEM, "netc: recv from %s: out of memory",
				     c->peer);
			goto out;
		}
		c->in_body = 1;
		c->fhave = 0;
	}
	while (c->fhave < c->flen) {
		rc = recv_some(c, c->fbuf + c->fhave, c->flen - c->fhave, &got, deadline, errmsg);
		if (rc)
			goto out;
		c->fhave += got;
	}
	*buf = c->fbuf;
	*len = c->flen;
	c->fbuf = NULL;
	c->in_body = 0;
	c->fhave = 0;
out:
	if (rc && rc != FC_ETIMEOUT)
		c->broken = 1;
	return rc;
}

int fc_netc_fd(const struct fc_netc *c)
{
	return c->fd;
}

void fc_netc_close(struct fc_netc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	fc_free(c->fbuf);
	fc_free(c);
}
