/* The /metrics + /healthz HTTP server (fc_ops.h) on libmicrohttpd.
 *
 * We bind and listen ourselves and hand the socket to libmicrohttpd
 * (MHD_OPTION_LISTEN_SOCKET): MHD_start_daemon only says "NULL" when the
 * port is taken, and an operator deserves "Address already in use". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_ops.h"

#define REASON_LEN 256

struct fc_ops_server {
	struct MHD_Daemon *d;
	struct fc_metrics *metrics;
	fc_ops_health_fn health;
	void *health_ud;
	uint16_t port;
};

/* A marker for "first call of this request seen" (MHD's con_cls). */
static int seen_marker;

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *body, size_t len,
				 int owned, const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (owned)
		r = MHD_create_response_from_buffer_with_free_callback(len, body, fc_free);
	else
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			fc_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char ctype_text[] = "text/plain; charset=utf-8";

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct fc_ops_server *s = cls;
	char em[FC_ERRMSG_LEN];

	(void)version;
	(void)upload;
	/* first call: headers only; answer once any request body is read */
	if (!*con_cls) {
		*con_cls = &seen_marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, (char *)"method not allowed\n", 19,
				 0, ctype_text);
	if (strcmp(url, "/metrics") == 0) {
		char *text = NULL;
		size_t len = 0;
		if (fc_metrics_render(s->metrics, &text, &len, em) != FC_OK)
			return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					 (char *)"out of memory\n", 14, 0, ctype_text);
		return send_text(c, MHD_HTTP_OK, text, len, 1,
				 "text/plain; version=0.0.4; charset=utf-8");
	}
	if (strcmp(url, "/healthz") == 0) {
		char reason[REASON_LEN] = "";
		char *body;
		size_t n;
		if (!s->health || s->health(s->health_ud, reason, sizeof reason))
			return send_text(c, MHD_HTTP_OK, (char *)"ok\n", 3, 0, ctype_text);
		reason[sizeof reason - 1] = '\0';
		reason[strcspn(reason, "\n")] = '\0';
		if (!reason[0])
			snprintf(reason, sizeof reason, "unhealthy");
		n = strlen(reason);
		body = fc_malloc(n + 2);
		if (!body)
			return MHD_NO;
		memcpy(body, reason, n);
		body[n] = '\n';
		body[n + 1] = '\0';
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, body, n + 1, 1, ctype_text);
	}
	return send_text(c, MHD_HTTP_NOT_FOUND, (char *)"not found\n", 10, 0, ctype_text);
}

static int listen_on(const char *bind_addr, uint16_t port, int *fd_out, uint16_t *port_out,
		     char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = -1, one = 1, e;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, bind_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		sl = sizeof *a;
	} else if (inet_pton(AF_INET6, bind_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		sl = sizeof *a;
	} else {
		return fc_errf(errmsg, FC_EINVAL, "metrics: bind address '%s' is not an IP address",
			       bind_addr);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0)
		goto fail;
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto fail;
	*port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	*fd_out = fd;
	return FC_OK;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	return fc_errf(errmsg, fc_err_from_errno(e), "metrics: bind %s:%u: %s", bind_addr,
		       (unsigned)port, strerror(e));
}

int fc_ops_server_start(const struct fc_ops_server_opts *opts, struct fc_ops_server **out,
			char *errmsg)
{
	struct fc_ops_server *s;
	const char *addr;
	int fd = -1, rc;

	*out = NULL;
	if (!opts)
		return fc_errf(errmsg, FC_EINVAL, "metrics: no options");
	addr = opts->bind && opts->bind[0] ? opts->bind : "127.0.0.1";
	s = fc_calloc(1, sizeof *s);
	if (!s)
		return fc_errf(errmsg, FC_ENOMEM, "metrics: out of memory");
	s->metrics = opts->metrics;
	s->health = opts->health;
	s->health_ud = opts->health_ud;
	rc = listen_on(addr, opts->port, &fd, &s->port, errmsg);
	if (rc != FC_OK)
		goto out_free;
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, s,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		rc = fc_errf(errmsg, FC_EIO, "metrics: cannot start the HTTP server on %s:%u", addr,
			     (unsigned)s->port);
		goto out_free;
	}
	fc_log(FC_LOG_INFO, "ops", "metrics server listening", "addr=%s port=%u", addr,
	       (unsigned)s->port);
	*out = s;
	return FC_OK;
out_free:
	fc_free(s);
	return rc;
}

uint16_t fc_ops_server_port(const struct fc_ops_server *s)
{
	return s ? s->port : 0;
}

void fc_ops_server_stop(struct fc_ops_server *s)
{
	if (!s)
		return;
	/* joins the thread, closes every connection and the listen socket */
	MHD_stop_daemon(s->d);
	fc_free(s);
}
