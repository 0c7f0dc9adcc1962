/* transport_int.h - what the generic layer and the backends share.
 *
 * Every opaque handle of fc_transport.h starts with one of these structs;
 * a backend allocates a larger struct with it as the first member, so the
 * wrappers can read the common part and the backend can cast back.
 */
#ifndef FC_TRANSPORT_INT_H
#define FC_TRANSPORT_INT_H

#include "fc_transport.h"

struct fc_transport {
	const struct fc_transport_ops *ops;
	struct fc_transport_stats st; /* updated with __atomic builtins */
};

struct fc_transport_mr {
	struct fc_transport *t;
	void *addr;
	size_t len;
	struct fc_mr_desc desc; /* what fc_transport_mr_desc returns */
};

struct fc_transport_listener {
	struct fc_transport *t;
	const struct fc_transport_mr *expose; /* borrowed, may be NULL */
	uint16_t port;
};

#define FC_TRANSPORT_PEER_LEN 64

struct fc_transport_conn {
	struct fc_transport *t;
	struct fc_mr_desc remote; /* region the peer exposed, len 0 if none */
	char peer[FC_TRANSPORT_PEER_LEN];
};

static inline void fc_transport_count(uint64_t *ctr, uint64_t n)
{
	__atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

/* Formats "host:port" of a socket address into buf. */
struct sockaddr;
void fc_transport_fmt_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
