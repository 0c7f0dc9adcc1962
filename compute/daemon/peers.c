/* peers.c - which compute servers of other organisations a gateway asks to
 * endorse (computed.h "Endorsers").
 *
 * The live registry of the orderer leader (ComputeQuery, fc_discover.h)
 * lists every compute server registered right now, those that joined at run
 * time included. A thread of this module asks for it every
 * PEERS_REFRESH_MS and keeps the answer; the request path only reads that
 * copy. Candidates of an organisation are its live servers that are not
 * draining, fewest endorsement requests in flight first (ties in an order
 * that rotates with every pick), so that endorsement load spreads over
 * every server of the organisation and adding servers adds capacity. While
 * the registry is unknown (never answered, or not for PEERS_STALE_MS), or
 * names no server of the organisation, the configuration file's compute
 * servers of that organisation are the candidates.
 *
 * The registry copy is the server's (struct cd_peers in computed.h). */
#include <string.h>

#include "computed.h"
#include "fc_discover.h"
#include "fc_log.h"
#include "fc_mem.h"

#define COMP "compute"
#define PEERS_REFRESH_MS 2000u
#define PEERS_QUERY_MS 1500u
#define PEERS_STALE_MS 10000u

struct cd_peer_ent {
	struct cd_peer p;
	int draining;
	unsigned inflight; /* endorsement requests sent and not answered */
};

/* Replaces the registry copy with list (mu held), keeping the in-flight
 * counts of servers still listed. */
static int replace(struct cd_peers *pr, const struct fc_compute_info *list, size_t n)
{
	struct cd_peer_ent *e = fc_calloc(n ? n : 1, sizeof *e);
	size_t live = 0, before = 0;

	if (!e)
		return FC_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		snprintf(e[i].p.id, sizeof e[i].p.id, "%s", list[i].id);
		snprintf(e[i].p.org, sizeof e[i].p.org, "%s", list[i].org);
		snprintf(e[i].p.host, sizeof e[i].p.host, "%s", list[i].host);
		e[i].p.port = list[i].port;
		e[i].draining = list[i].draining;
		live += !list[i].draining && list[i].port != 0;
		for (size_t k = 0; k < pr->n; k++)
			if (strcmp(pr->ents[k].p.id, e[i].p.id) == 0)
				e[i].inflight = pr->ents[k].inflight;
	}
	for (size_t k = 0; k < pr->n; k++)
		before += !pr->ents[k].draining && pr->ents[k].p.port != 0;
	if (live != before || !pr->known_ms)
		fc_log(FC_LOG_INFO, COMP, "compute servers in the registry", "live=%zu listed=%zu",
		       live, n);
	fc_free(pr->ents);
	pr->ents = e;
	pr->n = n;
	pr->known_ms = cd_now_ms();
	return FC_OK;
}

static void *peers_main(void *arg)
{
	struct cd_server *s = arg;
	struct cd_peers *pr = &s->peers;

	pthread_mutex_lock(&pr->mu);
	while (!pr->stop && !atomic_load(&s->stop)) {
		struct fc_compute_info *list = NULL;
		size_t n = 0;
		char err[FC_ERRMSG_LEN] = "";
		struct timespec until;
		int rc;

		pthread_mutex_unlock(&pr->mu);
		rc = fc_discover_compute(s->cfg, PEERS_QUERY_MS, &list, &n, err);
		pthread_mutex_lock(&pr->mu);
		if (rc == FC_OK)
			rc = replace(pr, list, n);
		if (rc != FC_OK)
			fc_log(FC_LOG_DEBUG, COMP, "compute registry unknown", "reason=\"%s\"", err);
		fc_free(list);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += PEERS_REFRESH_MS / 1000;
		until.tv_nsec += (long)(PEERS_REFRESH_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!pr->stop)
			pthread_cond_timedwait(&pr->cv, &pr->mu, &until);
	}
	pthread_mutex_unlock(&pr->mu);
	return NULL;
}

void cd_peers_init(struct cd_server *s)
{
	pthread_mutex_init(&s->peers.mu, NULL);
	pthread_cond_init(&s->peers.cv, NULL);
}

void cd_peers_fini(struct cd_server *s)
{
	fc_free(s->peers.ents);
	s->peers.ents = NULL;
	pthread_cond_destroy(&s->peers.cv);
	pthread_mutex_destroy(&s->peers.mu);
}

int cd_peers_start(struct cd_server *s, char *errmsg)
{
	struct cd_peers *pr = &s->peers;

	pthread_mutex_lock(&pr->mu);
	pr->stop = 0;
	pthread_mutex_unlock(&pr->mu);
	if (pthread_create(&pr->th, NULL, peers_main, s) != 0)
		return fc_errf(errmsg, FC_EIO, "compute registry thread");
	pr->running = 1;
	return FC_OK;
}

void cd_peers_stop(struct cd_server *s)
{
	struct cd_peers *pr = &s->peers;

	if (pr->running) {
		pthread_mutex_lock(&pr->mu);
		pr->stop = 1;
		pthread_cond_broadcast(&pr->cv);
		pthread_mutex_unlock(&pr->mu);
		pthread_join(pr->th, NULL);
		pr->running = 0;
	}
	pthread_mutex_lock(&pr->mu);
	fc_free(pr->ents);
	pr->ents = NULL;
	pr->n = 0;
	pr->known_ms = 0;
	pthread_mutex_unlock(&pr->mu);
}

/* The configuration file's servers of org but self, from a rotating start. */
static size_t from_file(struct cd_server *s, const char *org, unsigned rot, struct cd_peer *out,
			size_t max)
{
	const struct fc_config *cfg = s->cfg;
	size_t idx[CD_PEERS_MAX], nc = 0, n = 0;

	for (size_t i = 0; i < cfg->n_compute && nc < CD_PEERS_MAX; i++)
		if (strcmp(cfg->compute[i].org, org) == 0 &&
		    strcmp(cfg->compute[i].id, s->self.id) != 0)
			idx[nc++] = i;
	for (size_t k = 0; k < nc && n < max; k++) {
		const struct fc_config_node *c = &cfg->compute[idx[(rot + k) % nc]];
		snprintf(out[n].id, sizeof out[n].id, "%s", c->id);
		snprintf(out[n].org, sizeof out[n].org, "%s", c->org);
		snprintf(out[n].host, sizeof out[n].host, "%s", c->host);
		out[n].port = c->port;
		n++;
	}
	return n;
}

size_t cd_peers_pick(struct cd_server *s, const char *org, struct cd_peer *out, size_t max,
		     int *from_registry)
{
	size_t idx[CD_PEERS_MAX], in[CD_PEERS_MAX], nc = 0, n = 0;
	unsigned rot;

	struct cd_peers *pr = &s->peers;

	if (max > CD_PEERS_MAX)
		max = CD_PEERS_MAX;
	pthread_mutex_lock(&pr->mu);
	rot = pr->rr++;
	if (pr->known_ms && cd_now_ms() - pr->known_ms < PEERS_STALE_MS) {
		for (size_t i = 0; i < pr->n && nc < CD_PEERS_MAX; i++) {
			const struct cd_peer_ent *e = &pr->ents[i];
			if (!e->draining && e->p.port != 0 && strcmp(e->p.org, org) == 0 &&
			    strcmp(e->p.id, s->self.id) != 0)
				idx[nc++] = i;
		}
		/* rotated, then fewest in flight first (stable) */
		for (size_t k = 0; k < nc; k++)
			in[k] = idx[(rot + k) % nc];
		for (size_t k = 1; k < nc; k++) {
			size_t v = in[k], j = k;
			while (j > 0 && pr->ents[in[j - 1]].inflight > pr->ents[v].inflight) {
				in[j] = in[j - 1];
				j--;
			}
			in[j] = v;
		}
		for (size_t k = 0; k < nc && n < max; k++)
			out[n++] = pr->ents[in[k]].p;
	}
	pthread_mutex_unlock(&pr->mu);
	if (from_registry)
		*from_registry = n > 0;
	if (n == 0)
		n = from_file(s, org, rot, out, max);
	return n;
}

void cd_peers_busy(struct cd_server *s, const struct cd_peer *p, int delta)
{
	struct cd_peers *pr = &s->peers;

	pthread_mutex_lock(&pr->mu);
	for (size_t i = 0; i < pr->n; i++) {
		struct cd_peer_ent *e = &pr->ents[i];
		if (strcmp(e->p.id, p->id) != 0)
			continue;
		if (delta > 0)
			e->inflight++;
		else if (e->inflight > 0)
			e->inflight--;
		break;
	}
	pthread_mutex_unlock(&pr->mu);
}
