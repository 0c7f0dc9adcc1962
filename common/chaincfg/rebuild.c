/* rebuild.c - the chain configuration in force at a height, folded from
 * decided blocks (see fc_chaincfg_rebuild.h). */
#include "fc_chaincfg_rebuild.h"

#include <stdio.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_wire.h"

#define COMP "chaincfg"

int fc_chaincfg_advance(struct fc_chaincfg **cc, const Flexchain__Block *b,
			const uint8_t *tx_status, char *errmsg)
{
	struct fc_chaincfg *next = NULL;
	const struct fc_config *v;
	uint64_t h;
	int rc;

	if (!cc || !*cc || !b || !b->header || (!tx_status && b->n_envelopes))
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	if (!fc_chaincfg_block_changes(b, tx_status))
		return FC_OK;
	h = b->header->height;
	rc = fc_chaincfg_apply_block(*cc, b, tx_status, &next, errmsg);
	if (rc == FC_EMISMATCH) {
		/* Certified VALID by the validators, refused here: keep the
		 * configuration rather than stall the chain. */
		fc_log(FC_LOG_ERROR, COMP, "config transaction not applied",
		       "height=%llu reason=\"%s\"", (unsigned long long)h, errmsg ? errmsg : "");
		return FC_OK;
	}
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "configuration at height %llu",
				  (unsigned long long)h);
	fc_chaincfg_unref(*cc);
	*cc = next;
	v = fc_chaincfg_config(next);
	fc_log(FC_LOG_INFO, COMP, "configuration changed",
	       "from_height=%llu sequence=%llu storage_replicas=%zu write_quorum=%u "
	       "shard_version=%llu memory_nodes=%zu orgs=%zu",
	       (unsigned long long)fc_chaincfg_from_height(next),
	       (unsigned long long)fc_chaincfg_sequence(next), v->storage.n_replicas,
	       (unsigned)v->storage.write_quorum,
	       (unsigned long long)fc_chaincfg_shard_version(next), v->memory.n_nodes, v->n_orgs);
	return FC_OK;
}

static void release(const struct fc_chaincfg_source *src, Flexchain__BlockReply *br)
{
	if (!br)
		return;
	if (src->release)
		src->release(src->ud, br);
	else
		fc_wire_free(&br->base);
}

int fc_chaincfg_rebuild(struct fc_chaincfg **cc, uint64_t *next, uint64_t to,
			const struct fc_chaincfg_source *src, char *errmsg)
{
	int rc = FC_OK;

	if (!cc || !*cc || !next || !src || !src->fetch)
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	while (*next < to && rc == FC_OK) {
		Flexchain__BlockReply *br = NULL;
		uint64_t from = *next;
		uint64_t want =
		    to - from < FC_CHAINCFG_REBUILD_BATCH ? to - from : FC_CHAINCFG_REBUILD_BATCH;

		rc = src->fetch(src->ud, from, want, &br, errmsg);
		if (rc != FC_OK)
			return fc_errwrap(errmsg, rc, "rebuild configuration at height %llu",
					  (unsigned long long)from);
		if (!br || br->n_blocks == 0 || br->n_decisions != br->n_blocks)
			rc = fc_errf(errmsg, FC_EPROTO,
				     "rebuild configuration at height %llu: %zu blocks, %zu "
				     "decisions",
				     (unsigned long long)from, br ? br->n_blocks : 0,
				     br ? br->n_decisions : 0);
		for (size_t i = 0; rc == FC_OK && i < br->n_blocks && *next < to; i++) {
			const Flexchain__Block *b = br->blocks[i];
			const Flexchain__Decision *d = br->decisions[i];

			if (!b || !b->header || b->header->height != *next || !d || !d->verdict ||
			    d->verdict->tx_status.len != b->n_envelopes) {
				rc = fc_errf(errmsg, FC_EPROTO,
					     "rebuild configuration at height %llu: block or "
					     "decision missing or malformed",
					     (unsigned long long)*next);
				break;
			}
			struct fc_chaincfg *before = fc_chaincfg_ref(*cc);
			rc = fc_chaincfg_advance(cc, b, d->verdict->tx_status.data, errmsg);
			if (rc == FC_OK) {
				(*next)++;
				if (*cc != before && src->changed)
					src->changed(src->ud, *cc);
			}
			fc_chaincfg_unref(before);
		}
		release(src, br);
	}
	return rc;
}
