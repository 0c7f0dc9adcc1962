/* state.h - where a compute server reads committed state from, internal to
 * compute/daemon.
 *
 * Two sources, each a table of functions in its own file:
 *   state_storage.c  the storage pool's StateQuery (fc_storage_client.h),
 *                    used when the configuration has no memory nodes;
 *   state_mem.c      the memory pool (fc_memstate.h), otherwise.
 * A source hands out per-thread handles (its clients are single-threaded):
 * cd_state_acquire takes a free handle or opens a new one, cd_state_release
 * returns it. Nothing is cached across calls, so no stale value is ever
 * trusted: every read returns the committed version it saw.
 *
 * Threads: cd_state_acquire/release are thread-safe; a handle belongs to the
 * thread that acquired it until released.
 */
#ifndef CD_STATE_H
#define CD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

struct fc_config;
struct fc_chaincfg;
struct fc_metric;

#define CD_HEIGHT_UNKNOWN UINT64_MAX

/* Where reads went (fc_ops.h counters owned by the server's registry;
 * NULL ones are not counted). Keys, not round trips:
 *   memory          served by the memory pool's one-sided reads
 *   memory_load     missed there and loaded from storage by a memory node
 *                   (MemLoadRequest)
 *   storage         read from the storage pool's StateQuery
 *   mem_cache_hits  fc_memclient's address and data cache hits */
struct cd_state_metrics {
	struct fc_metric *memory, *memory_load, *storage, *mem_cache_hits;
};

struct cd_state_ops {
	const char *name;
	/* Opens one handle (*h owned by the source); reads on it are counted
	 * in *m (borrowed, outlives the handle). */
	int (*open)(const struct fc_config *cfg, const struct cd_state_metrics *m, void **h,
		    char *errmsg);
	void (*close)(void *h);
	/* As fc_state_reader's get: FC_OK with *val (fc_malloc'd), *len,
	 * *version; FC_ENOTFOUND when absent. */
	int (*get)(void *h, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg);
	/* Committed versions of keys[0..n) (0 = absent) and the applied height
	 * the read saw (*as_of; CD_HEIGHT_UNKNOWN when the source cannot say
	 * within the same read). */
	int (*versions)(void *h, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			uint64_t *as_of, char *errmsg);
	/* The height through which state is applied; *empty when none. */
	int (*applied)(void *h, uint64_t *height, int *empty, char *errmsg);
};

/* The storage-pool source (always built). */
extern const struct cd_state_ops cd_state_storage_ops;
/* The memory-pool source, or NULL when this build has none. */
const struct cd_state_ops *cd_state_mem_ops(void);

struct cd_state;
struct cd_state_h {
	struct cd_state_h *next; /* free list */
	void *h;
	uint64_t gen;		/* cd_state_follow generation it was opened at */
	struct fc_chaincfg *cc; /* keeps the configuration h was opened with */
};

/* Picks the memory pool when cfg has memory nodes and this build has the
 * memory source, else the storage pool. cfg and m borrowed (m may be NULL:
 * nothing is counted). */
int cd_state_create(const struct fc_config *cfg, const struct cd_state_metrics *m,
		    struct cd_state **out, char *errmsg);
void cd_state_destroy(struct cd_state *st);
const struct cd_state_ops *cd_state_ops_of(const struct cd_state *st);
/* The storage replicas changed (storage source only; a no-op for the memory
 * source): handles opened from now on use cfg, kept alive by keep (a new
 * reference taken over, may be NULL); older handles are closed when next
 * acquired or released. Thread-safe. */
void cd_state_follow(struct cd_state *st, const struct fc_config *cfg, struct fc_chaincfg *keep);
int cd_state_acquire(struct cd_state *st, struct cd_state_h **out, char *errmsg);
/* broken != 0: the handle saw a connection error; it is closed, not reused. */
void cd_state_release(struct cd_state *st, struct cd_state_h *h, int broken);

#endif
