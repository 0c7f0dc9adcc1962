/* cfgtrack.c - the chain configuration a compute server validates and
 * routes with (fc_chaincfg.h, computed.h).
 *
 * How decisions are learnt: from the storage pool. A block's configuration
 * is the one in force after every earlier block's certified verdict, so the
 * tracker folds the stored blocks with their decisions (BlockQuery, any
 * replica) up to the height asked for (fc_chaincfg_rebuild). This is the
 * simplest correct source: the storage pool holds every decided block with
 * the verdict that was certified, from height 0, at any time, whatever this
 * server was doing; the orderer's Deliver stream only starts where it was
 * subscribed (and again at every change of leader), so it would leave gaps
 * to fill from the storage pool anyway. The events thread advances the
 * tracker as decisions arrive (so folding stays incremental and the gateway
 * sees recent policies); the V2 stage asks for exactly the height of its
 * block once state through the height before is applied, i.e. once every
 * earlier block was stored.
 *
 * Snapshots that were in force at earlier heights are kept (the newest
 * CD_CFG_HIST ones): a block's validation may ask for a height below the
 * newest folded one.
 */
#include <string.h>

#include "computed.h"
#include "fc_err.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#define COMP "compute"

int cd_cfg_init(struct cd_server *s, char *errmsg)
{
	int rc;

	pthread_mutex_init(&s->cc_mu, NULL);
	pthread_mutex_init(&s->fold_mu, NULL);
	s->cc_init = 1;
	rc = fc_chaincfg_genesis(s->cfg, &s->cc, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "chain configuration");
	s->cc_next = 0;
	return FC_OK;
}

void cd_cfg_destroy(struct cd_server *s)
{
	if (!s->cc_init)
		return;
	fc_storage_client_destroy(s->cc_sc);
	s->cc_sc = NULL;
	fc_chaincfg_unref(s->st_cc);
	s->st_cc = NULL;
	fc_chaincfg_unref(s->cc_sc_cfg);
	s->cc_sc_cfg = NULL;
	for (size_t i = 0; i < s->n_hist; i++)
		fc_chaincfg_unref(s->cc_hist[i]);
	s->n_hist = 0;
	fc_chaincfg_unref(s->cc);
	s->cc = NULL;
	pthread_mutex_destroy(&s->fold_mu);
	pthread_mutex_destroy(&s->cc_mu);
	s->cc_init = 0;
}

struct fc_chaincfg *cd_cfg_latest(struct cd_server *s)
{
	struct fc_chaincfg *c;

	pthread_mutex_lock(&s->cc_mu);
	c = fc_chaincfg_ref(s->cc);
	pthread_mutex_unlock(&s->cc_mu);
	return c;
}

/* The snapshot in force at h among those known (cc_mu held): the newest
 * whose first height is <= h; NULL when older than every one kept. */
static struct fc_chaincfg *lookup(struct cd_server *s, uint64_t h)
{
	if (fc_chaincfg_from_height(s->cc) <= h)
		return s->cc;
	for (size_t i = 0; i < s->n_hist; i++)
		if (fc_chaincfg_from_height(s->cc_hist[i]) <= h)
			return s->cc_hist[i];
	return NULL;
}

struct fc_chaincfg *cd_cfg_known(struct cd_server *s, uint64_t h)
{
	struct fc_chaincfg *c;

	pthread_mutex_lock(&s->cc_mu);
	c = fc_chaincfg_ref(lookup(s, h));
	pthread_mutex_unlock(&s->cc_mu);
	return c;
}

/* The configuration whose storage replicas readers use (cc_mu held). */
static const struct fc_config *storage_cfg(const struct cd_server *s)
{
	return s->st_cc ? fc_chaincfg_config(s->st_cc) : s->cfg;
}

/* c becomes the newest snapshot (cc_mu held): when its storage replicas
 * differ from those readers use, readers follow them. */
static void follow_storage(struct cd_server *s, struct fc_chaincfg *c)
{
	const struct fc_config *now = storage_cfg(s);
	const struct fc_config *next = fc_chaincfg_config(c);

	if (fc_chaincfg_same_storage(now, next))
		return;
	fc_chaincfg_unref(s->st_cc);
	s->st_cc = fc_chaincfg_ref(c);
	atomic_fetch_add(&s->st_gen, 1);
	if (s->state)
		cd_state_follow(s->state, next, fc_chaincfg_ref(c));
	fc_log(FC_LOG_INFO, COMP, "storage replicas changed", "from_height=%llu replicas=%zu",
	       (unsigned long long)fc_chaincfg_from_height(c), next->storage.n_replicas);
}

const struct fc_config *cd_cfg_storage(struct cd_server *s, struct fc_chaincfg **keep,
				       uint64_t *gen)
{
	const struct fc_config *cfg;

	pthread_mutex_lock(&s->cc_mu);
	*keep = s->st_cc ? fc_chaincfg_ref(s->st_cc) : NULL;
	cfg = storage_cfg(s);
	if (gen)
		*gen = atomic_load(&s->st_gen);
	pthread_mutex_unlock(&s->cc_mu);
	return cfg;
}

struct cd_sc *cd_sc_ref(struct cd_sc *x)
{
	if (x)
		atomic_fetch_add(&x->refs, 1);
	return x;
}

void cd_sc_unref(struct cd_sc *x)
{
	if (!x || atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	fc_storage_client_destroy(x->sc);
	fc_chaincfg_unref(x->cc);
	fc_free(x);
}

int cd_sc_follow(struct cd_server *s, struct cd_sc **cur, const struct fc_storage_client_opts *opts,
		 char *errmsg)
{
	struct cd_sc *x;
	const struct fc_config *cfg;
	struct fc_chaincfg *keep = NULL;
	uint64_t gen;
	int rc;

	if (*cur && (*cur)->gen == atomic_load(&s->st_gen))
		return FC_OK;
	cfg = cd_cfg_storage(s, &keep, &gen);
	x = fc_calloc(1, sizeof *x);
	if (!x) {
		fc_chaincfg_unref(keep);
		return fc_errf(errmsg, FC_ENOMEM, "storage client: out of memory");
	}
	rc = fc_storage_client_create(cfg, opts, &x->sc, errmsg);
	if (rc != FC_OK) {
		fc_chaincfg_unref(keep);
		fc_free(x);
		return rc;
	}
	atomic_init(&x->refs, 1);
	x->cc = keep;
	x->gen = gen;
	cd_sc_unref(*cur);
	*cur = x;
	return FC_OK;
}

/* A snapshot becomes the newest (cc_mu held; takes the reference). */
static void push(struct cd_server *s, struct fc_chaincfg *c)
{
	follow_storage(s, c);
	if (s->n_hist == CD_CFG_HIST)
		fc_chaincfg_unref(s->cc_hist[--s->n_hist]);
	memmove(&s->cc_hist[1], &s->cc_hist[0], s->n_hist * sizeof *s->cc_hist);
	s->cc_hist[0] = s->cc;
	s->n_hist++;
	s->cc = c;
}

/* fc_chaincfg_source.changed: every snapshot met while folding (fold_mu
 * held). cc_next is set when the fold returns. */
static void on_changed(void *ud, struct fc_chaincfg *c)
{
	struct cd_server *s = ud;

	pthread_mutex_lock(&s->cc_mu);
	push(s, fc_chaincfg_ref(c));
	pthread_mutex_unlock(&s->cc_mu);
}

/* fc_chaincfg_source.fetch: any storage replica, the one that answered
 * last first (a replica that is down costs a connect timeout) (fold_mu
 * held). */
static int fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out, char *errmsg)
{
	struct cd_server *s = ud;

	return fc_storage_get_blocks_any(s->cc_sc, &s->cc_sc_last, from, count, out, errmsg);
}

int cd_cfg_at(struct cd_server *s, uint64_t h, struct fc_chaincfg **out, char *errmsg)
{
	struct fc_chaincfg_source src = {.fetch = fetch, .changed = on_changed, .ud = s};
	struct fc_chaincfg *cur;
	uint64_t next;
	int rc = FC_OK;

	*out = NULL;
	pthread_mutex_lock(&s->fold_mu);
	pthread_mutex_lock(&s->cc_mu);
	cur = fc_chaincfg_ref(s->cc);
	next = s->cc_next;
	pthread_mutex_unlock(&s->cc_mu);
	if (next < h) {
		/* The storage replicas in force now (the client borrows the
		 * snapshot's configuration: keep a reference with it). */
		if (s->cc_sc_cfg != cur) {
			struct fc_storage_client *sc = NULL;
			rc = fc_storage_client_create(fc_chaincfg_config(cur), NULL, &sc, errmsg);
			if (rc == FC_OK) {
				fc_storage_client_destroy(s->cc_sc);
				fc_chaincfg_unref(s->cc_sc_cfg);
				s->cc_sc = sc;
				s->cc_sc_cfg = fc_chaincfg_ref(cur);
				s->cc_sc_last = 0;
			}
		}
		if (rc == FC_OK)
			rc = fc_chaincfg_rebuild(&cur, &next, h, &src, errmsg);
		pthread_mutex_lock(&s->cc_mu);
		s->cc_next = next; /* what was folded stays folded */
		pthread_mutex_unlock(&s->cc_mu);
	}
	fc_chaincfg_unref(cur);
	if (rc == FC_OK) {
		pthread_mutex_lock(&s->cc_mu);
		*out = fc_chaincfg_ref(lookup(s, h));
		pthread_mutex_unlock(&s->cc_mu);
		if (!*out)
			rc = fc_errf(errmsg, FC_ENOTFOUND,
				     "configuration at height %llu: older than every one kept",
				     (unsigned long long)h);
	}
	pthread_mutex_unlock(&s->fold_mu);
	return rc;
}
