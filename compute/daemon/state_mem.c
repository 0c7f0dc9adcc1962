/* state_mem.c - state read from the memory pool (fc_memstate.h): one-sided
 * reads, misses loaded from storage by the memory nodes. Built only when the
 * memory pool's fc_memstate implementation exists (see CMakeLists.txt). */
#include "fc_config.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_memstate.h"
#include "fc_ops.h"
#include "state.h"

/* A memstate handle and the counts it had reported. */
struct mst {
	struct fc_memstate *ms;
	const struct cd_state_metrics *m;
	struct fc_memstate_stats seen;
};

static int mst_open(const struct fc_config *cfg, const struct cd_state_metrics *m, void **h,
		    char *errmsg)
{
	struct mst *x = fc_calloc(1, sizeof *x);
	int rc;

	if (!x)
		return fc_errf(errmsg, FC_ENOMEM, "memory state: out of memory");
	rc = fc_memstate_open(cfg, &x->ms, errmsg);
	if (rc != FC_OK) {
		fc_free(x);
		return rc;
	}
	x->m = m;
	fc_memstate_stats(x->ms, &x->seen);
	*h = x;
	return FC_OK;
}

static void mst_close(void *h)
{
	struct mst *x = h;

	if (!x)
		return;
	fc_memstate_close(x->ms);
	fc_free(x);
}

/* Adds what the handle read since the last call to the counters. */
static void mst_count(struct mst *x)
{
	struct fc_memstate_stats now;
	uint64_t gets, loaded;

	fc_memstate_stats(x->ms, &now);
	gets = now.gets - x->seen.gets;
	loaded = now.load_keys - x->seen.load_keys;
	if (x->m) {
		fc_metric_add(x->m->memory, gets > loaded ? gets - loaded : 0);
		fc_metric_add(x->m->memory_load, loaded);
		fc_metric_add(x->m->mem_cache_hits, now.cache_hits - x->seen.cache_hits);
	}
	x->seen = now;
}

static int mst_get(void *h, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg)
{
	struct mst *x = h;
	int rc = fc_memstate_get(x->ms, key, klen, val, len, version, errmsg);

	mst_count(x);
	return rc;
}

/* The pool applies whole blocks, but nodes apply independently: the versions
 * are as of a known height only when the lowest applied height is the same
 * before and after the read. */
static int mst_versions(void *h, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			uint64_t *as_of, char *errmsg)
{
	struct mst *x = h;
	uint64_t before = 0, after = 0;
	int rc;

	*as_of = CD_HEIGHT_UNKNOWN;
	rc = fc_memstate_applied_height(x->ms, &before, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_memstate_versions(x->ms, keys, n, versions, errmsg);
	mst_count(x);
	if (rc != FC_OK)
		return rc;
	rc = fc_memstate_applied_height(x->ms, &after, errmsg);
	if (rc != FC_OK)
		return rc;
	if (before == after)
		*as_of = after;
	return FC_OK;
}

static int mst_applied(void *h, uint64_t *height, int *empty, char *errmsg)
{
	struct mst *x = h;
	int rc = fc_memstate_applied_height(x->ms, height, errmsg);

	*empty = 0;
	if (rc == FC_ENOTFOUND) {
		*empty = 1;
		*height = 0;
		return FC_OK;
	}
	return rc;
}

static const struct cd_state_ops mem_ops = {
    .name = "memory",
    .open = mst_open,
    .close = mst_close,
    .get = mst_get,
    .versions = mst_versions,
    .applied = mst_applied,
};

const struct cd_state_ops *cd_state_mem_ops(void)
{
	return &mem_ops;
}
