/* fc_memstate.h - a compute server's view of the whole memory pool: routes
 * each key to its memory node by the shard map, reads it one-sided through
 * fc_memclient (one client per node), and turns a miss on a node that may
 * not hold every key (evicted entries, restarted empty, shard moved) into
 * one two-sided MemLoadRequest (proto/flexchain.proto) to that node, which
 * loads the key from the storage pool, promotes it and answers. It also
 * samples reads into AccessReport messages for eviction.
 *
 * Versions returned are committed versions (fc_version_pack); 0 is never a
 * version of an existing key.
 *
 * Threads: a handle is used by one thread at a time (it owns connections);
 * open one per thread. Opening is cheap enough to do per worker.
 */
#ifndef FC_MEMSTATE_H
#define FC_MEMSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

struct fc_config;
struct fc_memstate;

/* Connects to every memory node of the shard map (cfg's memory.nodes,
 * version 0, until fc_memstate_set_shard_map says otherwise). cfg is
 * borrowed and must outlive the handle. *out owned by the caller.
 * FC_ENOTFOUND when the config has no memory nodes. */
int fc_memstate_open(const struct fc_config *cfg, struct fc_memstate **out, char *errmsg);
void fc_memstate_close(struct fc_memstate *ms);

/* The latest committed value of key: FC_OK with *val (fc_malloc'd, caller
 * fc_frees; NULL when *len is 0), *len, *version; FC_ENOTFOUND when the key
 * exists nowhere (at most one storage lookup, made by the memory node);
 * transport or load errors otherwise. */
int fc_memstate_get(struct fc_memstate *ms, const uint8_t *key, size_t klen, uint8_t **val,
		    size_t *len, uint64_t *version, char *errmsg);

/* Committed versions of keys[0..n) (0 = absent), batched per node (one
 * doorbell per node per round). Same shape as fc_validate_state_ops'
 * get_versions. */
int fc_memstate_versions(struct fc_memstate *ms, const ProtobufCBinaryData *keys, size_t n,
			 uint64_t *versions, char *errmsg);

/* The lowest applied height over the nodes of the map (one-sided reads);
 * FC_ENOTFOUND when some node has applied no block yet. */
int fc_memstate_applied_height(struct fc_memstate *ms, uint64_t *height, char *errmsg);

/* Switches to a newer shard map (a config transaction took effect);
 * connects to new nodes, closes dropped ones. Older versions are ignored. */
int fc_memstate_set_shard_map(struct fc_memstate *ms, const Flexchain__ShardMap *map,
			      char *errmsg);

/* gets: keys asked (get and versions); found: of which present; round_trips:
 * one-sided round trips (fc_memclient's count) plus one per load; loads:
 * MemLoadRequests sent (each one storage lookup by the node), load_keys:
 * keys in them; cache_hits: served from the address or data cache;
 * reports: AccessReports sent. Cumulative since open. */
struct fc_memstate_stats {
	uint64_t gets, found, round_trips, loads, load_keys, cache_hits, reports;
};
void fc_memstate_stats(const struct fc_memstate *ms, struct fc_memstate_stats *out);

#endif
