/* fc_ops.h - operations endpoints: metrics registry, Prometheus text
 * rendering, and the /metrics + /healthz HTTP server of every daemon.
 *
 * DESIGN.md "Transport": every daemon serves /metrics (Prometheus text) and
 * /healthz over HTTP on its node's metrics_port, bound to metrics.bind
 * (default 127.0.0.1); metrics_port 0 means no server.
 *
 * REGISTRY. A struct fc_metrics owns a set of metric families (one name,
 * one HELP text, one type) and their series (one per distinct set of
 * constant labels). Series are registered at start-up; each registration
 * returns a struct fc_metric that the registry owns and frees in
 * fc_metrics_destroy. Updates (inc/add/set/observe) are lock-free atomics,
 * callable from any thread, and are no-ops on a NULL metric, so code may
 * update metrics unconditionally whether or not they were registered.
 * Registration and rendering take the registry's mutex; registration may
 * run concurrently with rendering.
 *
 * Names follow Prometheus: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"; a histogram may not
 * have a label "le". Label values and HELP text are arbitrary UTF-8; they
 * are escaped on output.
 *
 * TEXT FORMAT 0.0.4 (fc_metrics_render), families in registration order,
 * series in registration order within a family:
 *     # HELP fc_storage_blocks_appended_total Blocks appended to the ledger.
 *     # TYPE fc_storage_blocks_appended_total counter
 *     fc_storage_blocks_appended_total 17
 *     # HELP fc_storage_append_seconds Ledger append latency.
 *     # TYPE fc_storage_append_seconds histogram
 *     fc_storage_append_seconds_bucket{le="0.001"} 3
 *     fc_storage_append_seconds_bucket{le="+Inf"} 17
 *     fc_storage_append_seconds_sum 0.25
 *     fc_storage_append_seconds_count 17
 * Constant labels come first in the order given, "le" last. HELP escapes
 * '\' and newline; label values escape '\', '"' and newline. Numbers: the
 * shortest decimal that reads back to the same double ("%.15g", else
 * "%.17g"), "+Inf", "-Inf", "NaN"; counters are unsigned 64-bit integers.
 * Within one histogram series _count equals the +Inf bucket even while
 * observations race the scrape.
 *
 * HTTP SERVER (libmicrohttpd, one internal thread): GET /metrics answers 200
 * with the rendering (Content-Type text/plain; version=0.0.4); GET /healthz
 * answers 200 "ok\n" when the health callback says healthy, else 503 with
 * the callback's reason and "\n"; any other path 404; any other method
 * than GET 405 (with "Allow: GET"). The health callback and gauge
 * callbacks run on the server's thread: they must be thread-safe.
 */
#ifndef FC_OPS_H
#define FC_OPS_H

#include <stddef.h>
#include <stdint.h>

struct fc_metrics;
struct fc_metric;

enum fc_metric_type { FC_METRIC_COUNTER, FC_METRIC_GAUGE, FC_METRIC_HISTOGRAM };

/* Label pairs for registration: {"status", "valid", "org", "Org1", NULL};
 * NULL (or {NULL}) for none. Copied. */
typedef const char *const *fc_metric_labels;

/* A new, empty registry owned by the caller (fc_metrics_destroy).
 * FC_ENOMEM, FC_EIO (mutex). */
int fc_metrics_create(struct fc_metrics **out, char *errmsg);
/* Frees the registry and every fc_metric it handed out. NULL is a no-op.
 * Stop any server using it first. */
void fc_metrics_destroy(struct fc_metrics *m);

/* Registration. help is required for the first series of a family and
 * must match for later ones (NULL = "same as before"). *out is owned by the
 * registry. FC_EINVAL (bad name, label, bounds, or the name registered
 * with another type / other histogram bounds), FC_EEXIST (same name and
 * labels), FC_ENOMEM. */
int fc_metrics_counter(struct fc_metrics *m, const char *name, const char *help,
		       fc_metric_labels labels, struct fc_metric **out, char *errmsg);
int fc_metrics_gauge(struct fc_metrics *m, const char *name, const char *help,
		     fc_metric_labels labels, struct fc_metric **out, char *errmsg);
/* A series whose value is read by fn(ud) at scrape time (type COUNTER or
 * GAUGE). fn runs on the scraping thread. out may be NULL. */
int fc_metrics_callback(struct fc_metrics *m, enum fc_metric_type type, const char *name,
			const char *help, fc_metric_labels labels, double (*fn)(void *ud), void *ud,
			struct fc_metric **out, char *errmsg);
/* bounds[0..n) strictly increasing and finite (the +Inf bucket is implicit),
 * 1 <= n <= 64; copied. */
int fc_metrics_histogram(struct fc_metrics *m, const char *name, const char *help,
			 fc_metric_labels labels, const double *bounds, size_t n,
			 struct fc_metric **out, char *errmsg);

/* Default latency buckets in seconds, 100 us .. 10 s (FC_METRICS_LATENCY_N). */
#define FC_METRICS_LATENCY_N 15
extern const double fc_metrics_latency_buckets[FC_METRICS_LATENCY_N];

/* Updates: lock-free, any thread, NULL-safe. inc/add on counters; set/add on
 * gauges (add may be negative); observe on histograms. Using the wrong verb
 * for a type is ignored. */
void fc_metric_inc(struct fc_metric *c);
void fc_metric_add(struct fc_metric *c, uint64_t n);
void fc_metric_set(struct fc_metric *g, double v);
void fc_metric_gauge_add(struct fc_metric *g, double delta);
void fc_metric_observe(struct fc_metric *h, double v);
/* Current value of a counter or gauge (tests); 0 for others / NULL. */
double fc_metric_value(const struct fc_metric *x);

/* Renders every series in text format 0.0.4. *out is fc_malloc'd and
 * NUL-terminated (caller fc_free), *len excludes the NUL. FC_ENOMEM. */
int fc_metrics_render(struct fc_metrics *m, char **out, size_t *len, char *errmsg);

/* Standard series: fc_process_start_time_seconds (gauge),
 * fc_process_resident_memory_bytes, fc_process_virtual_memory_bytes,
 * fc_process_open_fds (callback gauges from /proc/self),
 * fc_process_cpu_seconds_total (callback counter), and
 * fc_build_info{component="<component>",version="<project version>"} 1. */
int fc_metrics_add_process(struct fc_metrics *m, const char *component, char *errmsg);

/* Finds the sample line whose series is exactly `series` (as rendered:
 * name plus its "{...}" labels, e.g. "fc_storage_txs_total{status=\"valid\"}")
 * in a text-format document text[0..len) and parses its value. FC_ENOTFOUND
 * when absent, FC_EPROTO when the value does not parse. */
int fc_metrics_find(const char *text, size_t len, const char *series, double *out);

/* ------------------------------------------------------------ HTTP server */

struct fc_ops_server;

/* Returns 1 when healthy; otherwise 0 with a one-line reason written to
 * reason[0..reason_len). Called on the server's thread. */
typedef int (*fc_ops_health_fn)(void *ud, char *reason, size_t reason_len);

struct fc_ops_server_opts {
	const char *bind;	    /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
	uint16_t port;		    /* 0 = an ephemeral port (fc_ops_server_port) */
	struct fc_metrics *metrics; /* borrowed; NULL = /metrics is empty */
	fc_ops_health_fn health;    /* NULL = always healthy */
	void *health_ud;
};

/* Binds, listens and starts serving on a thread of its own. *out is owned
 * by the caller (fc_ops_server_stop). FC_EINVAL (bad address), FC_EIO with
 * "metrics: bind 127.0.0.1:9050: Address already in use" when the port is
 * taken, FC_ENOMEM. opts is copied; metrics must outlive the server. */
int fc_ops_server_start(const struct fc_ops_server_opts *opts, struct fc_ops_server **out,
			char *errmsg);
/* The port actually bound. */
uint16_t fc_ops_server_port(const struct fc_ops_server *s);
/* Stops serving (waits for the server thread, closes the socket and every
 * connection) and frees s. NULL is a no-op. */
void fc_ops_server_stop(struct fc_ops_server *s);

/* ------------------------------------------------------------ HTTP client */

/* A minimal blocking HTTP/1.0 GET of http://host:port/path (for the CLI),
 * the whole exchange bounded by timeout_ms. On FC_OK *status is the HTTP
 * status and *body (fc_malloc'd, NUL-terminated, caller fc_free) the body of
 * at most max_body bytes (0 = 4 MiB). FC_EIO / FC_ETIMEOUT (connect, send or
 * receive), FC_EPROTO (not HTTP), FC_ETOOBIG, FC_ENOMEM. */
int fc_ops_http_get(const char *host, uint16_t port, const char *path, unsigned timeout_ms,
		    size_t max_body, int *status, char **body, size_t *body_len, char *errmsg);

#endif
