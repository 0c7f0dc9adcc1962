/* fc_discover.h - compute discovery: which compute servers (gateways) are
 * registered with the ordering service right now, and where they listen.
 *
 * Compute servers may join a running cluster (flexchain-compute --org --host
 * --port) without being in the configuration file; each registers with the
 * orderer leader, giving the host:port of its gateway endpoint. The leader
 * answers ControlMessage{compute_query} with {compute_list} (proto/
 * flexchain.proto "compute discovery"); a follower answers
 * submit_result{FC_EAGAIN, leader host:port}.
 *
 * fc_discover_compute asks the orderers of cfg in file order, follows a
 * follower's redirect to the leader (even to an address not in cfg), and
 * retries while no leader is known, until timeout_ms has passed. Blocking:
 * call it from a thread that may block (a tool's main thread, a libuv work
 * thread); it keeps no state and is safe to call from several threads.
 *
 * OWNERSHIP: *out is an fc_malloc'd array of *n entries (NULL when *n is 0),
 * the caller's to fc_free. cfg is only read during the call.
 */
#ifndef FC_DISCOVER_H
#define FC_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

#include "fc_config.h"

struct fc_compute_info {
	char id[FC_CONFIG_NAME_MAX + 1];
	char org[FC_CONFIG_NAME_MAX + 1];
	char host[256];
	uint16_t port; /* 0: the server registered no usable address */
	int draining;  /* deregistered, finishing its work: send it nothing new */
	uint16_t metrics_port; /* its /metrics and /healthz port, 0 = none */
};

/* Live servers first (sorted by id), then draining ones. timeout_ms 0 means
 * 5000. FC_OK; FC_ETIMEOUT when no orderer leader answered in time (errmsg
 * says what the last attempt got); FC_EUNSUPPORTED when the orderers do not
 * know compute_query; FC_ECONFIG when cfg has no orderer; FC_ENOMEM. */
int fc_discover_compute(const struct fc_config *cfg, unsigned timeout_ms,
			struct fc_compute_info **out, size_t *n, char *errmsg);

#endif
