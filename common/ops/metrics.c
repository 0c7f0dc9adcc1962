/* The metrics registry and its Prometheus text rendering (fc_ops.h).
 *
 * Values live in 64-bit atomics: counters as integers, gauges and histogram
 * sums as the bits of a double updated by compare-and-swap, so no update
 * takes a lock. Histogram buckets are stored per bucket (not cumulated) and
 * cumulated at render time; _count is the sum of the buckets read, so a
 * scrape is internally consistent even while observations race it. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_ops.h"
#include "ops_int.h"

#define MAX_BUCKETS 64

const double fc_metrics_latency_buckets[FC_METRICS_LATENCY_N] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

struct family {
	struct family *next;
	char *name;
	char *help;
	enum fc_metric_type type;
	double *bounds; /* histograms */
	size_t n_bounds;
	struct fc_metric *head, *tail;
};

struct fc_metric {
	struct fc_metric *next;
	struct family *fam;
	char *labels;	    /* rendered `a="x",b="y"`, "" for none */
	_Atomic uint64_t u; /* counter value, or gauge bits */
	double (*fn)(void *ud);
	void *ud;
	_Atomic uint64_t *buckets; /* n_bounds + 1 */
	_Atomic uint64_t sum_bits;
};

struct fc_metrics {
	pthread_mutex_t mu;
	struct family *head, *tail;
};

static uint64_t d2u(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double u2d(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static void atomic_fadd(_Atomic uint64_t *a, double delta)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + delta),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* ------------------------------------------------------------- text buffer */

int fc_sbuf_printf(struct fc_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return FC_ENOMEM;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->buf ? b->buf + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return FC_EINTERNAL;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return FC_OK;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *nb = fc_realloc(b->buf, cap);
		if (!nb) {
			b->failed = 1;
			return FC_ENOMEM;
		}
		b->buf = nb;
		b->cap = cap;
	}
}

void fc_ops_fmt_double(char *buf, size_t size, double v)
{
	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(buf, size, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, size, "%.17g", v);
}

/* -------------------------------------------------------------- validation */

static int valid_name(const char *s, int colon)
{
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p; p++) {
		int ok = isalpha((unsigned char)*p) || *p == '_' || (colon && *p == ':') ||
			 (p != s && isdigit((unsigned char)*p));
		if (!ok || (unsigned char)*p > 127)
			return 0;
	}
	return 1;
}

static int escape_into(struct fc_sbuf *b, const char *s, int quote)
{
	for (const char *p = s; *p; p++) {
		int rc;
		if (*p == '\\')
			rc = fc_sbuf_printf(b, "\\\\");
		else if (*p == '\n')
			rc = fc_sbuf_printf(b, "\\n");
		else if (quote && *p == '"')
			rc = fc_sbuf_printf(b, "\\\"");
		else
			rc = fc_sbuf_printf(b, "%c", *p);
		if (rc != FC_OK)
			return rc;
	}
	return FC_OK;
}

/* Renders the label pairs as `a="x",b="y"` into a new string. */
static int render_labels(fc_metric_labels labels, enum fc_metric_type type, char **out,
			 char *errmsg)
{
	struct fc_sbuf b = {0};
	size_t i;
	int rc = FC_OK;

	*out = NULL;
	fc_sbuf_printf(&b, "%s", "");
	for (i = 0; rc == FC_OK && labels && labels[i]; i += 2) {
		const char *n = labels[i], *v = labels[i + 1];
		if (!v) {
			rc = fc_errf(errmsg, FC_EINVAL, "label '%s' has no value", n);
			break;
		}
		if (!valid_name(n, 0) || strncmp(n, "__", 2) == 0)
			rc = fc_errf(errmsg, FC_EINVAL, "bad label name '%s'", n);
		else if (type == FC_METRIC_HISTOGRAM && strcmp(n, "le") == 0)
			rc = fc_errf(errmsg, FC_EINVAL, "a histogram may not have a label 'le'");
		for (size_t j = 0; rc == FC_OK && j < i; j += 2)
			if (strcmp(labels[j], n) == 0)
				rc = fc_errf(errmsg, FC_EINVAL, "label '%s' given twice", n);
		fc_sbuf_printf(&b, "%s%s=\"", i ? "," : "", n);
		escape_into(&b, v, 1);
		fc_sbuf_printf(&b, "\"");
	}
	if (rc == FC_OK && b.failed)
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
	if (rc == FC_OK && !(*out = fc_strdup(b.buf)))
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
	fc_free(b.buf);
	return rc;
}

/* ------------------------------------------------------------ registration */

int fc_metrics_create(struct fc_metrics **out, char *errmsg)
{
	struct fc_metrics *m = fc_calloc(1, sizeof *m);

	*out = NULL;
	if (!m)
		return fc_errf(errmsg, FC_ENOMEM, "metrics: out of memory");
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		fc_free(m);
		return fc_errf(errmsg, FC_EIO, "metrics: mutex init failed");
	}
	*out = m;
	return FC_OK;
}

static void metric_free(struct fc_metric *x)
{
	fc_free(x->labels);
	fc_free((void *)x->buckets);
	fc_free(x);
}

void fc_metrics_destroy(struct fc_metrics *m)
{
	if (!m)
		return;
	while (m->head) {
		struct family *f = m->head;
		m->head = f->next;
		while (f->head) {
			struct fc_metric *x = f->head;
			f->head = x->next;
			metric_free(x);
		}
		fc_free(f->name);
		fc_free(f->help);
		fc_free(f->bounds);
		fc_free(f);
	}
	pthread_mutex_destroy(&m->mu);
	fc_free(m);
}

/* Finds or makes the family; checks type, help, bounds. Under m->mu. */
static int family_get(struct fc_metrics *m, const char *name, const char *help,
		      enum fc_metric_type type, const double *bounds, size_t nb,
		      struct family **out, char *errmsg)
{
	struct family *f;

	for (f = m->head; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			break;
	if (f) {
		if (f->type != type)
			return fc_errf(errmsg, FC_EINVAL, "metric %s registered with another type",
				       name);
		if (help && strcmp(help, f->help) != 0)
			return fc_errf(errmsg, FC_EINVAL, "metric %s registered with another help",
				       name);
		if (type == FC_METRIC_HISTOGRAM &&
		    (nb != f->n_bounds || memcmp(bounds, f->bounds, nb * sizeof *bounds) != 0))
			return fc_errf(errmsg, FC_EINVAL,
				       "histogram %s registered with other buckets", name);
		*out = f;
		return FC_OK;
	}
	if (!help)
		return fc_errf(errmsg, FC_EINVAL, "metric %s: help text required", name);
	f = fc_calloc(1, sizeof *f);
	if (!f)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	f->name = fc_strdup(name);
	f->help = fc_strdup(help);
	f->type = type;
	if (nb) {
		f->bounds = fc_memdup(bounds, nb * sizeof *bounds);
		f->n_bounds = nb;
	}
	if (!f->name || !f->help || (nb && !f->bounds)) {
		fc_free(f->name);
		fc_free(f->help);
		fc_free(f->bounds);
		fc_free(f);
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	}
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	*out = f;
	return FC_OK;
}

static int reg(struct fc_metrics *m, enum fc_metric_type type, const char *name, const char *help,
	       fc_metric_labels labels, const double *bounds, size_t nb, double (*fn)(void *),
	       void *ud, struct fc_metric **out, char *errmsg)
{
	struct fc_metric *x = NULL;
	struct family *f = NULL;
	char *lab = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!m)
		return fc_errf(errmsg, FC_EINVAL, "metrics: no registry");
	if (!valid_name(name, 1))
		return fc_errf(errmsg, FC_EINVAL, "metrics: bad metric name '%s'",
			       name ? name : "");
	if (type == FC_METRIC_HISTOGRAM) {
		if (!bounds || nb == 0 || nb > MAX_BUCKETS)
			return fc_errf(errmsg, FC_EINVAL, "metrics: %s: 1 to %d buckets", name,
				       MAX_BUCKETS);
		for (size_t i = 0; i < nb; i++)
			if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
				return fc_errf(errmsg, FC_EINVAL,
					       "metrics: %s: buckets must be finite and increasing",
					       name);
	}
	rc = render_labels(labels, type, &lab, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "metrics: %s", name);
	x = fc_calloc(1, sizeof *x);
	if (!x || (nb && !(x->buckets = fc_calloc(nb + 1, sizeof *x->buckets)))) {
		rc = fc_errf(errmsg, FC_ENOMEM, "metrics: out of memory");
		goto fail;
	}
	x->labels = lab;
	lab = NULL;
	x->fn = fn;
	x->ud = ud;
	pthread_mutex_lock(&m->mu);
	rc = family_get(m, name, help, type, bounds, nb, &f, errmsg);
	if (rc == FC_OK)
		for (struct fc_metric *y = f->head; y; y = y->next)
			if (strcmp(y->labels, x->labels) == 0) {
				rc = fc_errf(errmsg, FC_EEXIST, "series %s{%s} already registered",
					     name, x->labels);
				break;
			}
	if (rc == FC_OK) {
		x->fam = f;
		if (f->tail)
			f->tail->next = x;
		else
			f->head = x;
		f->tail = x;
	}
	pthread_mutex_unlock(&m->mu);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "metrics");
		goto fail;
	}
	if (out)
		*out = x;
	return FC_OK;
fail:
	fc_free(lab);
	if (x)
		metric_free(x);
	return rc;
}

int fc_metrics_counter(struct fc_metrics *m, const char *name, const char *help,
		       fc_metric_labels labels, struct fc_metric **out, char *errmsg)
{
	return reg(m, FC_METRIC_COUNTER, name, help, labels, NULL, 0, NULL, NULL, out, errmsg);
}

int fc_metrics_gauge(struct fc_metrics *m, const char *name, const char *help,
		     fc_metric_labels labels, struct fc_metric **out, char *errmsg)
{
	return reg(m, FC_METRIC_GAUGE, name, help, labels, NULL, 0, NULL, NULL, out, errmsg);
}

int fc_metrics_callback(struct fc_metrics *m, enum fc_metric_type type, const char *name,
			const char *help, fc_metric_labels labels, double (*fn)(void *ud), void *ud,
			struct fc_metric **out, char *errmsg)
{
	if (!fn || type == FC_METRIC_HISTOGRAM)
		return fc_errf(errmsg, FC_EINVAL,
			       "metrics: callback series need a counter or "
			       "gauge type and a function");
	return reg(m, type, name, help, labels, NULL, 0, fn, ud, out, errmsg);
}

int fc_metrics_histogram(struct fc_metrics *m, const char *name, const char *help,
			 fc_metric_labels labels, const double *bounds, size_t n,
			 struct fc_metric **out, char *errmsg)
{
	return reg(m, FC_METRIC_HISTOGRAM, name, help, labels, bounds, n, NULL, NULL, out, errmsg);
}

/* ----------------------------------------------------------------- updates */

void fc_metric_inc(struct fc_metric *c)
{
	fc_metric_add(c, 1);
}

void fc_metric_add(struct fc_metric *c, uint64_t n)
{
	if (c && c->fam->type == FC_METRIC_COUNTER && !c->fn)
		atomic_fetch_add_explicit(&c->u, n, memory_order_relaxed);
}

void fc_metric_set(struct fc_metric *g, double v)
{
	if (g && g->fam->type == FC_METRIC_GAUGE && !g->fn)
		atomic_store_explicit(&g->u, d2u(v), memory_order_relaxed);
}

void fc_metric_gauge_add(struct fc_metric *g, double delta)
{
	if (g && g->fam->type == FC_METRIC_GAUGE && !g->fn)
		atomic_fadd(&g->u, delta);
}

void fc_metric_observe(struct fc_metric *h, double v)
{
	size_t i, n;

	if (!h || h->fam->type != FC_METRIC_HISTOGRAM || isnan(v))
		return;
	n = h->fam->n_bounds;
	for (i = 0; i < n && v > h->fam->bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fadd(&h->sum_bits, v);
}

double fc_metric_value(const struct fc_metric *x)
{
	if (!x || x->fam->type == FC_METRIC_HISTOGRAM)
		return 0;
	if (x->fn)
		return x->fn(x->ud);
	if (x->fam->type == FC_METRIC_COUNTER)
		return (double)atomic_load_explicit(&((struct fc_metric *)x)->u,
						    memory_order_relaxed);
	return u2d(atomic_load_explicit(&((struct fc_metric *)x)->u, memory_order_relaxed));
}

/* --------------------------------------------------------------- rendering */

static const char *type_name(enum fc_metric_type t)
{
	return t == FC_METRIC_COUNTER ? "counter" : t == FC_METRIC_GAUGE ? "gauge" : "histogram";
}

static void render_series(struct fc_sbuf *b, const struct family *f, struct fc_metric *x)
{
	char num[64];
	const char *lb = x->labels[0] ? "{" : "", *rb = x->labels[0] ? "}" : "";

	if (f->type != FC_METRIC_HISTOGRAM) {
		if (x->fn)
			fc_ops_fmt_double(num, sizeof num, x->fn(x->ud));
		else if (f->type == FC_METRIC_COUNTER)
			snprintf(
			    num, sizeof num, "%llu",
			    (unsigned long long)atomic_load_explicit(&x->u, memory_order_relaxed));
		else
			fc_ops_fmt_double(num, sizeof num,
					  u2d(atomic_load_explicit(&x->u, memory_order_relaxed)));
		fc_sbuf_printf(b, "%s%s%s%s %s\n", f->name, lb, x->labels, rb, num);
		return;
	}
	uint64_t cum = 0;
	const char *sep = x->labels[0] ? "," : "";
	for (size_t i = 0; i <= f->n_bounds; i++) {
		cum += atomic_load_explicit(&x->buckets[i], memory_order_relaxed);
		if (i < f->n_bounds)
			fc_ops_fmt_double(num, sizeof num, f->bounds[i]);
		else
			snprintf(num, sizeof num, "+Inf");
		fc_sbuf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, x->labels, sep, num,
			       (unsigned long long)cum);
	}
	fc_ops_fmt_double(num, sizeof num,
			  u2d(atomic_load_explicit(&x->sum_bits, memory_order_relaxed)));
	fc_sbuf_printf(b, "%s_sum%s%s%s %s\n", f->name, lb, x->labels, rb, num);
	fc_sbuf_printf(b, "%s_count%s%s%s %llu\n", f->name, lb, x->labels, rb,
		       (unsigned long long)cum);
}

int fc_metrics_render(struct fc_metrics *m, char **out, size_t *len, char *errmsg)
{
	struct fc_sbuf b = {0};

	*out = NULL;
	*len = 0;
	fc_sbuf_printf(&b, "%s", "");
	if (m) {
		pthread_mutex_lock(&m->mu);
		for (struct family *f = m->head; f; f = f->next) {
			fc_sbuf_printf(&b, "# HELP %s ", f->name);
			escape_into(&b, f->help, 0);
			fc_sbuf_printf(&b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
			for (struct fc_metric *x = f->head; x; x = x->next)
				render_series(&b, f, x);
		}
		pthread_mutex_unlock(&m->mu);
	}
	if (b.failed) {
		fc_free(b.buf);
		return fc_errf(errmsg, FC_ENOMEM, "metrics: render: out of memory");
	}
	*out = b.buf;
	*len = b.len;
	return FC_OK;
}

/* ----------------------------------------------------------------- parsing */

int fc_metrics_find(const char *text, size_t len, const char *series, double *out)
{
	size_t sl = strlen(series);
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > sl && memcmp(p, series, sl) == 0 && p[sl] == ' ') {
			char num[64];
			size_t n = (size_t)(le - p) - sl - 1;
			char *e;
			if (n == 0 || n >= sizeof num)
				return FC_EPROTO;
			memcpy(num, p + sl + 1, n);
			num[n] = '\0';
			/* a timestamp may follow the value */
			num[strcspn(num, " ")] = '\0';
			*out = strtod(num, &e);
			return *e == '\0' && e != num ? FC_OK : FC_EPROTO;
		}
		p = le + 1;
	}
	return FC_ENOTFOUND;
}
