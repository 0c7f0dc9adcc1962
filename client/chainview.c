/* chainview.c - the configuration in force, rebuilt from the chain
 * (chainview.h). */
#include <stdlib.h>
#include <string.h>

#include "chainview.h"
#include "fc_chaincfg.h"
#include "fc_chaincfg_rebuild.h"
#include "fc_config.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_storage_client.h"

void cli_chainview_close(struct cli_chainview *v)
{
	fc_storage_client_destroy(v->sc);
	fc_chaincfg_unref(v->sc_cc);
	fc_chaincfg_unref(v->cc);
	fc_config_free(v->cfg);
	memset(v, 0, sizeof *v);
}

/* A storage client for the replicas in force (after a change). */
int cli_chainview_client(struct cli_chainview *v, char *em)
{
	struct fc_storage_client *sc = NULL;
	int rc;

	if (v->sc && v->sc_cc == v->cc)
		return FC_OK;
	rc = fc_storage_client_create(fc_chaincfg_config(v->cc), NULL, &sc, em);
	if (rc != FC_OK)
		return rc;
	fc_storage_client_destroy(v->sc);
	fc_chaincfg_unref(v->sc_cc);
	v->sc = sc;
	v->sc_cc = fc_chaincfg_ref(v->cc);
	v->pref = 0;
	return FC_OK;
}

int cli_chainview_open(struct cli_chainview *v, const char *path, char *em)
{
	int rc;

	memset(v, 0, sizeof *v);
	/* one line per error on stderr: the "configuration changed" info lines
	 * of fc_chaincfg_rebuild are noise here; a VALID config transaction
	 * that the configuration refuses is still reported (an error line) */
	if (!getenv("FLEXCHAIN_LOG"))
		fc_log_set_level(FC_LOG_WARN);
	rc = fc_config_load(path, &v->cfg, em);
	if (rc == FC_OK)
		rc = fc_chaincfg_genesis(v->cfg, &v->cc, em);
	if (rc == FC_OK)
		rc = cli_chainview_client(v, em);
	return rc;
}

const char *cli_chainview_replica_id(const struct cli_chainview *v, size_t r)
{
	return fc_chaincfg_config(v->sc_cc)->storage.replicas[r].id;
}

/* The highest applied height among the replicas in force that answer;
 * the replica that has it becomes the preferred one. */
static int view_height(struct cli_chainview *v, uint64_t *height, int *empty, char *em)
{
	char err[FC_ERRMSG_LEN] = "";
	int found = 0, rc;

	rc = cli_chainview_client(v, em);
	if (rc != FC_OK)
		return rc;
	*empty = 1;
	*height = 0;
	for (size_t r = 0; r < fc_storage_client_replicas(v->sc); r++) {
		struct fc_storage_height h = {0};
		if (fc_storage_get_height(v->sc, r, &h, err) != FC_OK)
			continue;
		if (!found || (!h.empty && (*empty || h.applied_height > *height))) {
			*empty = h.empty;
			*height = h.empty ? 0 : h.applied_height;
			v->pref = r;
		}
		found = 1;
	}
	if (!found)
		return fc_errf(em, FC_EIO, "no storage replica answers (last: %s)", err);
	return FC_OK;
}

/* fc_chaincfg_source.fetch over the replicas in force (ud: the chainview),
 * the preferred one first; a replica with no block at `from` counts as
 * missing it. */
static int view_fetch(void *ud, uint64_t from, uint64_t count, Flexchain__BlockReply **out,
		      char *em)
{
	struct cli_chainview *v = ud;
	int rc;

	rc = cli_chainview_client(v, em);
	if (rc == FC_OK)
		rc = fc_storage_get_blocks_any(v->sc, &v->pref, from, count, out, em);
	return rc; /* fc_chaincfg_rebuild names the height */
}

/* Folds blocks [v->next, to) into the configuration, as the nodes do
 * (fc_chaincfg_rebuild.h). */
int cli_chainview_fold(struct cli_chainview *v, uint64_t to, char *em)
{
	const struct fc_chaincfg_source src = {.fetch = view_fetch, .ud = v};

	return fc_chaincfg_rebuild(&v->cc, &v->next, to, &src, em);
}

/* The configuration in force at the chain's height; *height is the
 * replica's applied height (0 and *empty when the chain is empty). */
int cli_chainview_current(struct cli_chainview *v, uint64_t *height, int *empty, char *em)
{
	int rc = view_height(v, height, empty, em);

	if (rc == FC_OK && !*empty)
		rc = cli_chainview_fold(v, *height + 1, em);
	return rc;
}
