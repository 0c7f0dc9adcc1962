/* state_storage.c - state read straight from the storage pool (StateQuery),
 * for clusters without memory nodes. Each handle is one storage client; a
 * replica that fails is skipped for the next one. */
#include <string.h>

#include "fc_config.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_ops.h"
#include "fc_storage_client.h"
#include "fc_wire.h"
#include "state.h"

struct sst {
	struct fc_storage_client *sc;
	size_t replica; /* the one that answered last */
	size_t n;
	const struct cd_state_metrics *m;
};

static int sst_open(const struct fc_config *cfg, const struct cd_state_metrics *m, void **h,
		    char *errmsg)
{
	struct sst *s = fc_calloc(1, sizeof *s);
	struct fc_storage_client_opts o;
	int rc;

	if (!s)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	fc_storage_client_opts_init(&o);
	o.timeout_ms = 5000;
	rc = fc_storage_client_create(cfg, &o, &s->sc, errmsg);
	if (rc != FC_OK) {
		fc_free(s);
		return rc;
	}
	s->n = fc_storage_client_replicas(s->sc);
	s->m = m;
	*h = s;
	return FC_OK;
}

static void sst_close(void *h)
{
	struct sst *s = h;

	if (!s)
		return;
	fc_storage_client_destroy(s->sc);
	fc_free(s);
}

/* One StateQuery, trying each replica once, starting with the last good one. */
static int sst_query(struct sst *s, const ProtobufCBinaryData *keys, size_t n,
		     Flexchain__StateReply **out, char *errmsg)
{
	int rc = FC_EIO;

	for (size_t k = 0; k < s->n; k++) {
		size_t r = (s->replica + k) % s->n;
		rc = fc_storage_get_state(s->sc, r, keys, n, out, errmsg);
		if (rc == FC_OK) {
			if ((*out)->n_entries != n) {
				size_t got = (*out)->n_entries;
				fc_wire_free(&(*out)->base);
				*out = NULL;
				return fc_errf(errmsg, FC_EPROTO,
					       "state query: %zu answers for %zu keys", got, n);
			}
			s->replica = r;
			fc_metric_add(s->m ? s->m->storage : NULL, n);
			return FC_OK;
		}
	}
	return rc;
}

static int sst_get(void *h, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg)
{
	ProtobufCBinaryData k = {klen, (uint8_t *)key};
	Flexchain__StateReply *rep = NULL;
	const Flexchain__StateEntry *e;
	int rc;

	*val = NULL;
	*len = 0;
	rc = sst_query(h, &k, 1, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	e = rep->entries[0];
	if (!e || !e->found || e->version == 0) {
		rc = FC_ENOTFOUND;
		goto out;
	}
	if (e->value.len) {
		*val = fc_memdup(e->value.data, e->value.len);
		if (!*val) {
			rc = fc_errf(errmsg, FC_ENOMEM, "state get: out of memory");
			goto out;
		}
	}
	*len = e->value.len;
	*version = e->version;
out:
	fc_wire_free(&rep->base);
	return rc;
}

static int sst_versions(void *h, const ProtobufCBinaryData *keys, size_t n, uint64_t *versions,
			uint64_t *as_of, char *errmsg)
{
	Flexchain__StateReply *rep = NULL;
	int rc;

	*as_of = CD_HEIGHT_UNKNOWN;
	if (n == 0)
		return FC_OK;
	rc = sst_query(h, keys, n, &rep, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		versions[i] =
		    rep->entries[i] && rep->entries[i]->found ? rep->entries[i]->version : 0;
	*as_of = rep->applied_height;
	fc_wire_free(&rep->base);
	return FC_OK;
}

static int sst_applied(void *h, uint64_t *height, int *empty, char *errmsg)
{
	struct sst *s = h;
	struct fc_storage_height sh;
	int rc = FC_EIO;

	for (size_t k = 0; k < s->n; k++) {
		size_t r = (s->replica + k) % s->n;
		rc = fc_storage_get_height(s->sc, r, &sh, errmsg);
		if (rc == FC_OK) {
			s->replica = r;
			*height = sh.applied_height;
			*empty = sh.empty;
			return FC_OK;
		}
	}
	return rc;
}

const struct cd_state_ops cd_state_storage_ops = {
    .name = "storage",
    .open = sst_open,
    .close = sst_close,
    .get = sst_get,
    .versions = sst_versions,
    .applied = sst_applied,
};
