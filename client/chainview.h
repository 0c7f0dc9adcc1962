/* chainview.h - the configuration in force, as the `flexchain` commands see
 * it (client/, not a library of its own).
 *
 * The configuration in force is the cluster file's genesis snapshot changed
 * by every VALID config transaction of the chain (fc_chaincfg_rebuild.h). A
 * cli_chainview rebuilds it from the blocks and certified verdicts the
 * storage replicas serve, talking to the replicas in force as the
 * configuration changes along the way. Used by `config show|update` and
 * `cluster status`.
 *
 * Ownership: the view owns cfg (the cluster file), cc, sc and sc_cc; all are
 * freed by cli_chainview_close. sc is a storage client for the replicas of
 * sc_cc; callers may use it (and pref) between calls but must not keep it
 * across cli_chainview_client/fold/current, which may replace it. */
#ifndef FC_CLI_CHAINVIEW_H
#define FC_CLI_CHAINVIEW_H

#include <stddef.h>
#include <stdint.h>

struct fc_config;
struct fc_chaincfg;
struct fc_storage_client;

/* The configuration in force after blocks [0, next), and a storage client
 * for its replicas (sc borrows sc_cc's view). */
struct cli_chainview {
	struct fc_config *cfg; /* the cluster file: genesis, orderers, crypto */
	struct fc_chaincfg *cc;
	uint64_t next;
	struct fc_storage_client *sc;
	struct fc_chaincfg *sc_cc;
	size_t pref; /* replica to ask first */
};

/* Loads the cluster file at path and starts at its genesis snapshot. Lowers
 * the log level to warnings unless FLEXCHAIN_LOG is set (the "configuration
 * changed" info lines are noise in a command's output). On failure the view
 * must still be closed. */
int cli_chainview_open(struct cli_chainview *v, const char *path, char *em);
/* Frees everything the view owns; the view may be opened again. */
void cli_chainview_close(struct cli_chainview *v);
/* Makes v->sc a storage client for the replicas in force (after a change). */
int cli_chainview_client(struct cli_chainview *v, char *em);
/* Folds blocks [v->next, to) into v->cc, as the nodes do. */
int cli_chainview_fold(struct cli_chainview *v, uint64_t to, char *em);
/* The configuration in force at the chain's height (v->cc); *height is the
 * highest applied height among the replicas that answer, whose replica
 * becomes v->pref (0 and *empty when the chain is empty). FC_EIO when no
 * replica answers. */
int cli_chainview_current(struct cli_chainview *v, uint64_t *height, int *empty, char *em);
/* The id of replica r of v->sc. */
const char *cli_chainview_replica_id(const struct cli_chainview *v, size_t r);

#endif
