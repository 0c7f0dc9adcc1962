/* Unit tests of the operations endpoints (fc_ops.h): exact Prometheus text
 * for every type, labels and escaping; registration errors; concurrent
 * updates sum exactly; an HTTP round trip over 127.0.0.1 with a plain
 * socket client (status lines, bodies, 404, 405, /healthz both ways); a
 * port already in use; the CLI's HTTP client and metrics parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_ops.h"

static char *render(struct fc_metrics *m)
{
	char em[FC_ERRMSG_LEN] = "";
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(fc_metrics_render(m, &text, &len, em), FC_OK);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_render_exact(void **state)
{
	char em[FC_ERRMSG_LEN] = "";
	struct fc_metrics *m;
	struct fc_metric *c1, *c2, *g, *h, *hl;
	const char *valid[] = {"status", "valid", NULL};
	const char *conflict[] = {"status", "mvcc_read_conflict", NULL};
	const char *esc[] = {"path", "a\\b\"c\nd", "z", "1", NULL};
	const double b[] = {0.001, 0.1, 1};
	char *text;

	(void)state;
	assert_int_equal(fc_metrics_create(&m, em), FC_OK);
	assert_int_equal(
	    fc_metrics_counter(m, "fc_txs_total", "Transactions by status.", valid, &c1, em),
	    FC_OK);
	assert_int_equal(fc_metrics_counter(m, "fc_txs_total", NULL, conflict, &c2, em), FC_OK);
	assert_int_equal(
	    fc_metrics_gauge(m, "fc_height", "Applied height.\nLine two \\ end.", NULL, &g, em),
	    FC_OK);
	assert_int_equal(fc_metrics_histogram(m, "fc_lat_seconds", "Latency.", NULL, b, 3, &h, em),
			 FC_OK);
	assert_int_equal(fc_metrics_gauge(m, "fc_esc", "Escapes.", esc, NULL, em), FC_OK);
	assert_int_equal(
	    fc_metrics_histogram(m, "fc_lab_seconds", "Labelled.", valid, b, 1, &hl, em), FC_OK);

	fc_metric_add(c1, 41);
	fc_metric_inc(c1);
	fc_metric_inc(c2);
	fc_metric_set(g, 17);
	fc_metric_observe(h, 0.0005);
	fc_metric_observe(h, 0.001); /* le is inclusive */
	fc_metric_observe(h, 0.5);
	fc_metric_observe(h, 7);
	fc_metric_observe(hl, 0.25);
	/* wrong verbs are ignored */
	fc_metric_set(c1, 5);
	fc_metric_inc(g);
	fc_metric_observe(c1, 1);
	fc_metric_inc(NULL);

	text = render(m);
	assert_string_equal(text, "# HELP fc_txs_total Transactions by status.\n"
				  "# TYPE fc_txs_total counter\n"
				  "fc_txs_total{status=\"valid\"} 42\n"
				  "fc_txs_total{status=\"mvcc_read_conflict\"} 1\n"
				  "# HELP fc_height Applied height.\\nLine two \\\\ end.\n"
				  "# TYPE fc_height gauge\n"
				  "fc_height 17\n"
				  "# HELP fc_lat_seconds Latency.\n"
				  "# TYPE fc_lat_seconds histogram\n"
				  "fc_lat_seconds_bucket{le=\"0.001\"} 2\n"
				  "fc_lat_seconds_bucket{le=\"0.1\"} 2\n"
				  "fc_lat_seconds_bucket{le=\"1\"} 3\n"
				  "fc_lat_seconds_bucket{le=\"+Inf\"} 4\n"
				  "fc_lat_seconds_sum 7.5015\n"
				  "fc_lat_seconds_count 4\n"
				  "# HELP fc_esc Escapes.\n"
				  "# TYPE fc_esc gauge\n"
				  "fc_esc{path=\"a\\\\b\\\"c\\nd\",z=\"1\"} 0\n"
				  "# HELP fc_lab_seconds Labelled.\n"
				  "# TYPE fc_lab_seconds histogram\n"
				  "fc_lab_seconds_bucket{status=\"valid\",le=\"0.001\"} 0\n"
				  "fc_lab_seconds_bucket{status=\"valid\",le=\"+Inf\"} 1\n"
				  "fc_lab_seconds_sum{status=\"valid\"} 0.25\n"
				  "fc_lab_seconds_count{status=\"valid\"} 1\n");
	fc_free(text);

	/* special values and the shortest round-tripping form */
	fc_metric_set(g, 0.1);
	text = render(m);
	assert_non_null(strstr(text, "\nfc_height 0.1\n"));
	fc_free(text);
	fc_metric_set(g, 1.0 / 3);
	text = render(m);
	assert_non_null(strstr(text, "\nfc_height 0.33333333333333331\n"));
	fc_free(text);
	fc_metric_set(g, -1.0 / 0.0);
	text = render(m);
	assert_non_null(strstr(text, "\nfc_height -Inf\n"));
	fc_free(text);
	fc_metric_gauge_add(g, 0); /* -Inf + 0 */
	fc_metric_set(g, 2.5);
	fc_metric_gauge_add(g, -3);
	assert_true(fc_metric_value(g) == -0.5);
	assert_true(fc_metric_value(c1) == 42);
	fc_metrics_destroy(m);
}

static double cb_value(void *ud)
{
	return *(double *)ud;
}

static void test_callbacks_and_errors(void **state)
{
	char em[FC_ERRMSG_LEN] = "";
	struct fc_metrics *m;
	double v = 1234567;
	const double b[] = {1, 2};
	const double bad[] = {2, 1};
	const double other[] = {1, 3};
	const char *le[] = {"le", "x", NULL};
	const char *reserved[] = {"__x", "y", NULL};
	const char *dup[] = {"a", "1", "a", "2", NULL};
	char *text;

	(void)state;
	assert_int_equal(fc_metrics_create(&m, em), FC_OK);
	assert_int_equal(fc_metrics_callback(m, FC_METRIC_GAUGE, "fc_cb", "Callback.", NULL,
					     cb_value, &v, NULL, em),
			 FC_OK);
	text = render(m);
	assert_string_equal(text, "# HELP fc_cb Callback.\n# TYPE fc_cb gauge\nfc_cb 1234567\n");
	fc_free(text);
	v = 2e20;
	text = render(m);
	assert_non_null(strstr(text, "\nfc_cb 2e+20\n"));
	fc_free(text);

	assert_int_equal(fc_metrics_counter(m, "fc_cb", "Callback.", NULL, NULL, em), FC_EINVAL);
	assert_int_equal(
	    fc_metrics_callback(m, FC_METRIC_GAUGE, "fc_cb", NULL, NULL, cb_value, &v, NULL, em),
	    FC_EEXIST);
	assert_int_equal(fc_metrics_counter(m, "9bad", "x", NULL, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_counter(m, "bad-name", "x", NULL, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_counter(m, "fc_new", NULL, NULL, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_counter(m, "fc_r", "x", reserved, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_counter(m, "fc_d", "x", dup, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_histogram(m, "fc_h", "x", NULL, bad, 2, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_histogram(m, "fc_h", "x", le, b, 2, NULL, em), FC_EINVAL);
	assert_int_equal(fc_metrics_histogram(m, "fc_h", "x", NULL, b, 2, NULL, em), FC_OK);
	assert_int_equal(fc_metrics_histogram(m, "fc_h", NULL, NULL, other, 2, NULL, em),
			 FC_EINVAL);
	assert_non_null(strstr(em, "other buckets"));
	/* nothing half-registered */
	text = render(m);
	assert_null(strstr(text, "fc_new"));
	assert_null(strstr(text, "fc_r"));
	fc_free(text);

	/* the standard process series */
	assert_int_equal(fc_metrics_add_process(m, "test", em), FC_OK);
	text = render(m);
	assert_non_null(strstr(text, "# TYPE fc_process_start_time_seconds gauge\n"));
	assert_non_null(strstr(text, "# TYPE fc_process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(text, "fc_build_info{component=\"test\",version=\""));
	{
		double rss = 0, st = 0;
		assert_int_equal(
		    fc_metrics_find(text, strlen(text), "fc_process_resident_memory_bytes", &rss),
		    FC_OK);
		assert_true(rss > 0);
		assert_int_equal(
		    fc_metrics_find(text, strlen(text), "fc_process_start_time_seconds", &st),
		    FC_OK);
		assert_true(st > 1.6e9);
		assert_int_equal(fc_metrics_find(text, strlen(text), "fc_process", &st),
				 FC_ENOTFOUND);
	}
	fc_free(text);
	fc_metrics_destroy(m);
}

#define THREADS 8
#define PER_THREAD 100000

struct hammer {
	struct fc_metric *c, *g, *h;
};

static void *hammer_main(void *arg)
{
	struct hammer *hm = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		fc_metric_inc(hm->c);
		fc_metric_gauge_add(hm->g, 1);
		fc_metric_observe(hm->h, (i % 2) ? 0.5 : 2);
	}
	return NULL;
}

static void test_concurrent_updates(void **state)
{
	char em[FC_ERRMSG_LEN] = "";
	struct fc_metrics *m;
	struct hammer hm;
	pthread_t t[THREADS];
	const double b[] = {1};
	char *text;
	char want[256];

	(void)state;
	assert_int_equal(fc_metrics_create(&m, em), FC_OK);
	assert_int_equal(fc_metrics_counter(m, "fc_c_total", "C.", NULL, &hm.c, em), FC_OK);
	assert_int_equal(fc_metrics_gauge(m, "fc_g", "G.", NULL, &hm.g, em), FC_OK);
	assert_int_equal(fc_metrics_histogram(m, "fc_h", "H.", NULL, b, 1, &hm.h, em), FC_OK);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &hm), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = render(m);
	snprintf(want, sizeof want, "fc_c_total %d\n# HELP fc_g G.\n# TYPE fc_g gauge\nfc_g %d\n",
		 THREADS * PER_THREAD, THREADS * PER_THREAD);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof want,
		 "fc_h_bucket{le=\"1\"} %d\nfc_h_bucket{le=\"+Inf\"} %d\nfc_h_sum %d\n"
		 "fc_h_count %d\n",
		 THREADS * PER_THREAD / 2, THREADS * PER_THREAD, THREADS * PER_THREAD * 5 / 4,
		 THREADS * PER_THREAD);
	assert_non_null(strstr(text, want));
	fc_free(text);
	fc_metrics_destroy(m);
}

/* ------------------------------------------------------------------ HTTP */

/* Sends raw request text to 127.0.0.1:port, reads until close. */
static char *raw_http(uint16_t port, const char *request)
{
	struct sockaddr_in a;
	char *buf = fc_malloc(1 << 20);
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 10};

	assert_non_null(buf);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL),
			 (ssize_t)strlen(request));
	for (;;) {
		ssize_t r = recv(fd, buf + len, (1 << 20) - 1 - len, 0);
		assert_true(r >= 0);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

struct health_state {
	atomic_int ok;
};

static int health_cb(void *ud, char *reason, size_t n)
{
	struct health_state *h = ud;
	if (atomic_load(&h->ok))
		return 1;
	snprintf(reason, n, "ledger not open yet");
	return 0;
}

static void test_http_round_trip(void **state)
{
	char em[FC_ERRMSG_LEN] = "";
	struct fc_metrics *m;
	struct fc_metric *c;
	struct fc_ops_server *srv, *srv2 = NULL;
	struct fc_ops_server_opts o;
	struct health_state hs;
	uint16_t port;
	char *r, *body = NULL;
	size_t blen;
	int status;
	double v;

	(void)state;
	atomic_init(&hs.ok, 0);
	assert_int_equal(fc_metrics_create(&m, em), FC_OK);
	assert_int_equal(fc_metrics_counter(m, "fc_req_total", "Requests.", NULL, &c, em), FC_OK);
	fc_metric_add(c, 3);
	memset(&o, 0, sizeof o);
	o.bind = "127.0.0.1";
	o.port = 0;
	o.metrics = m;
	o.health = health_cb;
	o.health_ud = &hs;
	assert_int_equal(fc_ops_server_start(&o, &srv, em), FC_OK);
	port = fc_ops_server_port(srv);
	assert_true(port > 0);

	r = raw_http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "\r\n\r\n# HELP fc_req_total Requests.\n"
				  "# TYPE fc_req_total counter\nfc_req_total 3\n"));
	fc_free(r);

	r = raw_http(port, "GET /healthz HTTP/1.0\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.0 503 ", 13) == 0 || strncmp(r, "HTTP/1.1 503 ", 13) == 0);
	assert_non_null(strstr(r, "\r\n\r\nledger not open yet\n"));
	fc_free(r);
	atomic_store(&hs.ok, 1);
	r = raw_http(port, "GET /healthz HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 200 OK\r\n"));
	assert_non_null(strstr(r, "\r\n\r\nok\n"));
	assert_null(strstr(strstr(r, "\r\n\r\n"), "ok\nok"));
	fc_free(r);

	r = raw_http(port, "GET /nope HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 404 Not Found\r\n"));
	fc_free(r);
	r = raw_http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			   "Content-Length: 5\r\n\r\nhello");
	assert_non_null(strstr(r, " 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(r, "Allow: GET\r\n"));
	fc_free(r);
	r = raw_http(port, "DELETE /healthz HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, " 405 "));
	fc_free(r);

	/* the CLI's client and parser against the same server */
	assert_int_equal(
	    fc_ops_http_get("127.0.0.1", port, "/metrics", 5000, 0, &status, &body, &blen, em),
	    FC_OK);
	assert_int_equal(status, 200);
	assert_int_equal(fc_metrics_find(body, blen, "fc_req_total", &v), FC_OK);
	assert_true(v == 3);
	fc_free(body);
	assert_int_equal(
	    fc_ops_http_get("127.0.0.1", port, "/healthz", 5000, 0, &status, &body, &blen, em),
	    FC_OK);
	assert_int_equal(status, 200);
	assert_string_equal(body, "ok\n");
	fc_free(body);

	/* the same port again: a clear error */
	o.port = port;
	assert_int_equal(fc_ops_server_start(&o, &srv2, em), FC_EIO);
	assert_null(srv2);
	assert_non_null(strstr(em, "Address already in use"));
	assert_non_null(strstr(em, "127.0.0.1"));
	o.bind = "not-an-address";
	o.port = 0;
	assert_int_equal(fc_ops_server_start(&o, &srv2, em), FC_EINVAL);

	fc_ops_server_stop(srv);
	/* stopped: the port is closed */
	assert_int_not_equal(
	    fc_ops_http_get("127.0.0.1", port, "/healthz", 2000, 0, &status, &body, &blen, em),
	    FC_OK);
	assert_null(body);
	fc_metrics_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_exact),
	    cmocka_unit_test(test_callbacks_and_errors),
	    cmocka_unit_test(test_concurrent_updates),
	    cmocka_unit_test(test_http_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
