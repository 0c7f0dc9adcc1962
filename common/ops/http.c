/* A minimal blocking HTTP/1.0 GET (fc_ops.h): enough to read a daemon's
 * /healthz and /metrics from the CLI without libcurl. HTTP/1.0 with
 * "Connection: close" means the body ends where the connection does. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_ops.h"

#define DEFAULT_MAX_BODY (4u << 20)
#define HEAD_MAX 16384

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline. FC_OK, FC_ETIMEOUT, FC_EIO. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		long long left = deadline - now_ms();
		int n;
		if (left <= 0)
			return FC_ETIMEOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return FC_OK;
		if (n == 0)
			return FC_ETIMEOUT;
		if (errno != EINTR)
			return FC_EIO;
	}
}

int fc_ops_http_get(const char *host, uint16_t port, const char *path, unsigned timeout_ms,
		    size_t max_body, int *status, char **body, size_t *body_len, char *errmsg)
{
	long long deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
	char req[1024];
	char *buf = NULL, *hend, *nb;
	size_t len = 0, cap = 0, limit, off = 0;
	int fd = -1, rc, n, st;

	*status = 0;
	*body = NULL;
	*body_len = 0;
	if (!max_body)
		max_body = DEFAULT_MAX_BODY;
	limit = max_body + HEAD_MAX;
	n = snprintf(req, sizeof req,
		     "GET %s HTTP/1.0\r\nHost: %s:%u\r\nConnection: close\r\n"
		     "User-Agent: flexchain\r\n\r\n",
		     path, host, (unsigned)port);
	if (n < 0 || (size_t)n >= sizeof req)
		return fc_errf(errmsg, FC_EINVAL, "http: path too long");
	rc = fc_net_dial(host, port, timeout_ms ? timeout_ms : 5000, &fd, errmsg);
	if (rc != FC_OK)
		return rc;
	while (off < (size_t)n) {
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			rc = fc_errf(errmsg, FC_EIO, "http: send: %s", strerror(errno));
			goto out;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc != FC_OK) {
			rc = fc_errf(errmsg, rc, "http: send to %s:%u timed out", host,
				     (unsigned)port);
			goto out;
		}
	}
	for (;;) {
		ssize_t r;
		if (cap - len < 4097) {
			size_t ncap = cap ? cap * 2 : 8192;
			nb = fc_realloc(buf, ncap);
			if (!nb) {
				rc = fc_errf(errmsg, FC_ENOMEM, "http: out of memory");
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r == 0)
			break;
		if (r > 0) {
			len += (size_t)r;
			if (len > limit) {
				rc = fc_errf(errmsg, FC_ETOOBIG, "http: reply over %zu bytes",
					     limit);
				goto out;
			}
			continue;
		}
		if (errno != EAGAIN && errno != EINTR) {
			rc = fc_errf(errmsg, FC_EIO, "http: receive: %s", strerror(errno));
			goto out;
		}
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc != FC_OK) {
			rc = fc_errf(errmsg, rc, "http: no complete reply from %s:%u in %u ms",
				     host, (unsigned)port, timeout_ms);
			goto out;
		}
	}
	if (!buf) {
		rc = fc_errf(errmsg, FC_EPROTO, "http: empty reply from %s:%u", host,
			     (unsigned)port);
		goto out;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*[01] %d", &st) != 1 || !(hend = strstr(buf, "\r\n\r\n"))) {
		rc = fc_errf(errmsg, FC_EPROTO, "http: not an HTTP reply from %s:%u", host,
			     (unsigned)port);
		goto out;
	}
	hend += 4;
	*body_len = len - (size_t)(hend - buf);
	memmove(buf, hend, *body_len + 1);
	*body = buf;
	buf = NULL;
	*status = st;
	rc = FC_OK;
out:
	fc_free(buf);
	close(fd);
	return rc;
}
