/* flexchain-memory: its view of the configuration and of the storage pool
 * (see memd.h for why this is a file of its own).
 *
 * The storage replicas read are those of the chain configuration in force:
 * the tracker folds the decided blocks (fc_chaincfg_rebuild, from the
 * storage pool) up to the height asked for by memd_store_follow, and when
 * the snapshot's replicas differ from the client's, the client is replaced
 * by one for the new replicas (the loop thread is the only user, so the
 * swap happens between two requests). */
#include <string.h>

#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_wire.h"
#include "memd.h"

#define COMP "memd"

struct memd_store {
	const struct fc_config *cfg; /* the file's */
	struct fc_chaincfg *rcc;     /* whose replicas cl reads; NULL: cfg's */
	struct fc_storage_client *cl;
	fc_crypto_castore *cs;
	struct fc_chaincfg *cc; /* in force at height next */
	uint64_t next, want;	/* folded below next; asked to fold below want */
	size_t pref;		/* replica that answered a BlockQuery last */
};

/* The configuration whose storage replicas cl reads. */
static const struct fc_config *client_cfg(const struct memd_store *s)
{
	return s->rcc ? fc_chaincfg_config(s->rcc) : s->cfg;
}

int memd_conf_get(const struct fc_config *cfg, const char *id, struct memd_conf *out, char *errmsg)
{
	const struct fc_config_node *n = fc_config_find_node_kind(cfg, FC_NODE_MEMORY, id);

	memset(out, 0, sizeof *out);
	if (!n)
		return fc_errf(errmsg, FC_ECONFIG, "%s: no memory node with id '%s'", cfg->path,
			       id);
	out->node = n;
	out->id = n->id;
	out->host = n->host;
	out->port = n->port;
	out->data_port = n->data_port;
	out->high_watermark = cfg->memory.high_watermark;
	out->low_watermark = cfg->memory.low_watermark;
	out->max_frame = cfg->network.max_frame_bytes;
	out->n_nodes = cfg->memory.n_nodes;
	out->node_ids = fc_calloc(out->n_nodes ? out->n_nodes : 1, sizeof *out->node_ids);
	if (!out->node_ids)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	for (size_t i = 0; i < out->n_nodes; i++)
		out->node_ids[i] = cfg->memory.nodes[i].id;
	return FC_OK;
}

void memd_conf_free(struct memd_conf *c)
{
	fc_free(c->node_ids);
	c->node_ids = NULL;
}

int memd_store_open(const struct fc_config *cfg, struct memd_store **out, char *errmsg)
{
	struct memd_store *s = fc_calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	s->cfg = cfg;
	rc = fc_storage_castore_from_config(cfg, &s->cs, errmsg);
	if (rc != FC_OK)
		goto fail;
	rc = fc_chaincfg_genesis(cfg, &s->cc, errmsg);
	if (rc != FC_OK)
		goto fail_cs;
	rc = fc_storage_client_create(cfg, NULL, &s->cl, errmsg);
	if (rc != FC_OK)
		goto fail_cc;
	*out = s;
	return FC_OK;
fail_cc:
	fc_chaincfg_unref(s->cc);
fail_cs:
	fc_crypto_castore_destroy(s->cs);
fail:
	fc_free(s);
	return fc_errwrap(errmsg, rc, "storage client");
}

void memd_store_close(struct memd_store *s)
{
	if (!s)
		return;
	fc_storage_client_destroy(s->cl);
	fc_chaincfg_unref(s->rcc);
	fc_chaincfg_unref(s->cc);
	fc_crypto_castore_destroy(s->cs);
	fc_free(s);
}

static int fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out, char *errmsg)
{
	struct memd_store *s = ud;

	return fc_storage_get_blocks_any(s->cl, &s->pref, from, count, out, errmsg);
}

int memd_store_follow(struct memd_store *s, uint64_t to, char *errmsg)
{
	struct fc_chaincfg_source src = {.fetch = fetch, .ud = s};
	struct fc_storage_client *cl = NULL;
	const struct fc_config *next;
	int rc;

	if (to > s->want)
		s->want = to;
	if (s->want <= s->next)
		return FC_OK;
	rc = fc_chaincfg_rebuild(&s->cc, &s->next, s->want, &src, errmsg);
	next = fc_chaincfg_config(s->cc);
	/* what was folded counts even when the rest failed */
	if (fc_chaincfg_same_storage(client_cfg(s), next))
		return rc;
	if (fc_storage_client_create(next, NULL, &cl, errmsg) != FC_OK)
		return fc_errwrap(errmsg, FC_EIO, "storage client for the replicas in force");
	fc_storage_client_destroy(s->cl);
	fc_chaincfg_unref(s->rcc);
	s->cl = cl;
	s->rcc = fc_chaincfg_ref(s->cc);
	s->pref = 0;
	fc_log(FC_LOG_INFO, COMP, "storage replicas changed", "from_height=%llu replicas=%zu",
	       (unsigned long long)fc_chaincfg_from_height(s->cc), next->storage.n_replicas);
	return rc;
}

int memd_store_verify(struct memd_store *s, const Flexchain__LedgerAppend *la, char *errmsg)
{
	int rc;

	if (!la || !la->block || !la->block->header || !la->verdict || !la->certificate)
		return fc_errf(errmsg, FC_EPROTO,
			       "append: block, verdict and certificate required");
	rc = fc_wire_check_block(la->block, errmsg);
	if (rc == FC_OK)
		rc = fc_wire_check_verdict(la->verdict, la->block->n_envelopes, errmsg);
	if (rc == FC_OK)
		rc = fc_wire_check_certificate(la->certificate, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "block %llu",
				  (unsigned long long)la->block->header->height);
	return fc_storage_verify_certified(s->cs, la->block, la->verdict, la->certificate, errmsg);
}

int memd_store_height(struct memd_store *s, int *empty, uint64_t *height, char *errmsg)
{
	int any = 0, rc = FC_EIO;

	*empty = 1;
	*height = 0;
	for (size_t i = 0; i < fc_storage_client_replicas(s->cl); i++) {
		struct fc_storage_height hi;

		rc = fc_storage_get_height(s->cl, i, &hi, errmsg);
		if (rc != FC_OK)
			continue;
		any = 1;
		if (!hi.empty && (*empty || hi.applied_height > *height)) {
			*empty = 0;
			*height = hi.applied_height;
		}
	}
	if (!any)
		return fc_errwrap(errmsg, rc, "no storage replica answers");
	return FC_OK;
}

int memd_store_blocks(struct memd_store *s, uint64_t from, uint64_t count,
		      Flexchain__BlockReply **out, char *errmsg)
{
	int rc = FC_EIO;

	for (size_t i = 0; i < fc_storage_client_replicas(s->cl); i++) {
		rc = fc_storage_get_blocks(s->cl, i, from, count, out, errmsg);
		if (rc == FC_OK && (*out)->n_blocks > 0)
			return FC_OK;
		if (rc == FC_OK) {
			fc_wire_free(&(*out)->base);
			*out = NULL;
			rc = fc_errf(errmsg, FC_ENOTFOUND, "no block %llu",
				     (unsigned long long)from);
		}
	}
	return fc_errwrap(errmsg, rc, "blocks from %llu", (unsigned long long)from);
}

int memd_store_state(struct memd_store *s, const ProtobufCBinaryData *keys, size_t n,
		     uint64_t min_height, Flexchain__StateReply **out, char *errmsg)
{
	int rc = FC_EIO;

	for (size_t i = 0; i < fc_storage_client_replicas(s->cl); i++) {
		rc = fc_storage_get_state(s->cl, i, keys, n, out, errmsg);
		if (rc != FC_OK)
			continue;
		if ((*out)->applied_height >= min_height && (*out)->n_entries == n)
			return FC_OK;
		/* A lagging replica could hand back versions older than ours. */
		rc = fc_errf(errmsg, FC_EAGAIN, "%s is at height %llu, below %llu",
			     client_cfg(s)->storage.replicas[i].id,
			     (unsigned long long)(*out)->applied_height,
			     (unsigned long long)min_height);
		fc_wire_free(&(*out)->base);
		*out = NULL;
	}
	return fc_errwrap(errmsg, rc, "state of %zu keys", n);
}
