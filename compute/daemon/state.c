/* state.c - the handle pool in front of a state source (state.h). */
#include <pthread.h>

#include "fc_chaincfg.h"
#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "state.h"

struct cd_state {
	const struct fc_config *cfg; /* mu */
	struct fc_chaincfg *cc;	     /* keeps cfg when not the file's (mu) */
	uint64_t gen;		     /* mu */
	const struct cd_state_ops *ops;
	struct cd_state_metrics m;
	pthread_mutex_t mu;
	struct cd_state_h *free_list;
};

int cd_state_create(const struct fc_config *cfg, const struct cd_state_metrics *m,
		    struct cd_state **out, char *errmsg)
{
	struct cd_state *st;
	const struct cd_state_ops *ops = &cd_state_storage_ops;

	if (cfg->memory.n_nodes > 0) {
		if (cd_state_mem_ops())
			ops = cd_state_mem_ops();
		else
			fc_log(FC_LOG_WARN, "compute", "memory pool client not built",
			       "using=storage");
	}
	st = fc_calloc(1, sizeof *st);
	if (!st)
		return fc_errf(errmsg, FC_ENOMEM, "state source: out of memory");
	st->cfg = cfg;
	st->ops = ops;
	if (m)
		st->m = *m;
	pthread_mutex_init(&st->mu, NULL);
	*out = st;
	fc_log(FC_LOG_INFO, "compute", "state source", "source=%s", ops->name);
	return FC_OK;
}

static void close_h(struct cd_state *st, struct cd_state_h *h)
{
	st->ops->close(h->h);
	fc_chaincfg_unref(h->cc);
	fc_free(h);
}

void cd_state_destroy(struct cd_state *st)
{
	struct cd_state_h *h, *n;

	if (!st)
		return;
	for (h = st->free_list; h; h = n) {
		n = h->next;
		close_h(st, h);
	}
	fc_chaincfg_unref(st->cc);
	pthread_mutex_destroy(&st->mu);
	fc_free(st);
}

const struct cd_state_ops *cd_state_ops_of(const struct cd_state *st)
{
	return st->ops;
}

void cd_state_follow(struct cd_state *st, const struct fc_config *cfg, struct fc_chaincfg *keep)
{
	struct fc_chaincfg *old;

	if (st->ops != &cd_state_storage_ops) {
		fc_chaincfg_unref(keep);
		return;
	}
	pthread_mutex_lock(&st->mu);
	old = st->cc;
	st->cc = keep;
	st->cfg = cfg;
	st->gen++;
	pthread_mutex_unlock(&st->mu);
	fc_chaincfg_unref(old);
}

int cd_state_acquire(struct cd_state *st, struct cd_state_h **out, char *errmsg)
{
	struct cd_state_h *h, *stale = NULL;
	struct fc_chaincfg *cc;
	const struct fc_config *cfg;
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&st->mu);
	/* handles of earlier storage replicas are closed, not reused */
	while ((h = st->free_list) && h->gen != st->gen) {
		st->free_list = h->next;
		h->next = stale;
		stale = h;
	}
	if (h)
		st->free_list = h->next;
	cfg = st->cfg;
	gen = st->gen;
	cc = st->cc ? fc_chaincfg_ref(st->cc) : NULL;
	pthread_mutex_unlock(&st->mu);
	while (stale) {
		struct cd_state_h *n = stale->next;
		close_h(st, stale);
		stale = n;
	}
	if (h) {
		fc_chaincfg_unref(cc);
		*out = h;
		return FC_OK;
	}
	h = fc_calloc(1, sizeof *h);
	if (!h) {
		fc_chaincfg_unref(cc);
		return fc_errf(errmsg, FC_ENOMEM, "state source: out of memory");
	}
	rc = st->ops->open(cfg, &st->m, &h->h, errmsg);
	if (rc != FC_OK) {
		fc_chaincfg_unref(cc);
		fc_free(h);
		return fc_errwrap(errmsg, rc, "open %s state source", st->ops->name);
	}
	h->gen = gen;
	h->cc = cc;
	*out = h;
	return FC_OK;
}

void cd_state_release(struct cd_state *st, struct cd_state_h *h, int broken)
{
	if (!h)
		return;
	pthread_mutex_lock(&st->mu);
	if (!broken && h->gen == st->gen) {
		h->next = st->free_list;
		st->free_list = h;
		h = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	if (h)
		close_h(st, h);
}
