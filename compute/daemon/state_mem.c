/* state_mem.c - state read from the memory pool (fc_memstate.h): one-sided
 * reads, misses loaded from storage by the memory nodes. Built only when the
 * memory pool's fc_memstate implementation exists (see CMakeLists.txt). */
#include "fc_config.h"
#include "fc_err.h"
#include "fc_memstate.h"
#include "state.h"

static int mst_open(const struct fc_config *cfg, void **h, char *errmsg)
{
	struct fc_memstate *ms = NULL;
	int rc = fc_memstate_open(cfg, &ms, errmsg);

	if (rc == FC_OK)
		*h = ms;
	return rc;
}

static void mst_close(void *h)
{
	fc_memstate_close(h);
}

static int mst_get(void *h, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg)
{
	return fc_memstate_get(h, key, klen, val, len, version, errmsg);
}

/* The pool applies whole blocks, but nodes apply independently: the versions
 * are as of a known height only when the lowest applied height is the same
 * before and after the read. */
static int mst_versions(void *h, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			uint64_t *as_of, char *errmsg)
{
	uint64_t before = 0, after = 0;
	int rc;

	*as_of = CD_HEIGHT_UNKNOWN;
	rc = fc_memstate_applied_height(h, &before, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_memstate_versions(h, keys, n, versions, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_memstate_applied_height(h, &after, errmsg);
	if (rc != FC_OK)
		return rc;
	if (before == after)
		*as_of = after;
	return FC_OK;
}

static int mst_applied(void *h, uint64_t *height, int *empty, char *errmsg)
{
	int rc = fc_memstate_applied_height(h, height, errmsg);

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
