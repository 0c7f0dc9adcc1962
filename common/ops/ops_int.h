/* ops_int.h - internals shared by the fc_ops sources. */
#ifndef FC_OPS_INT_H
#define FC_OPS_INT_H

#include <stddef.h>

/* A growing text buffer (fc_realloc); after a failure every later append is
 * a no-op and failed stays set. buf is NUL-terminated once anything was
 * appended. */
struct fc_sbuf {
	char *buf;
	size_t len, cap;
	int failed;
};

int fc_sbuf_printf(struct fc_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text format's number: shortest round-tripping decimal, +Inf, -Inf,
 * NaN. */
void fc_ops_fmt_double(char *buf, size_t size, double v);

#endif
