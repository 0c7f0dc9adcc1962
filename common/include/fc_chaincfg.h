/* fc_chaincfg.h - the chain-agreed configuration as of a height.
 *
 * DESIGN.md "Membership and configuration": the durable parts of the
 * configuration that every node must agree on (organisations and their CAs,
 * endorsement policies, the memory shard map, the storage replicas and their
 * write quorum) travel as config transactions (Envelope{TX_CONFIG, config})
 * ordered through the chain, so that every node switches at the same height.
 *
 * A struct fc_chaincfg is one immutable snapshot of that configuration:
 *   - the genesis snapshot (sequence 0, in force from height 0) is made from
 *     the loaded YAML configuration by fc_chaincfg_genesis: its
 *     organisations with the CA certificates read from their ca_cert files,
 *     its policies, contracts and default policy, its memory nodes as shard
 *     map version 0, its storage replicas and write quorum;
 *   - a block at height h whose config transaction is VALID gives the
 *     snapshot in force from height h + 1 (fc_chaincfg_apply, or
 *     fc_chaincfg_apply_block for all the valid ones of a block in order).
 *
 * A ConfigTx field left empty means "unchanged": no orgs, no policies, no
 * shard_map, no storage_replicas, storage_write_quorum 0. A list that is
 * given replaces the whole list. fc_chaincfg_check accepts a transaction
 * (FC_OK) only when:
 *   - sequence == current sequence + 1;
 *   - every organisation has a valid unique name ([A-Za-z_][A-Za-z0-9_.-]*,
 *     at most FC_CONFIG_NAME_MAX chars) and a DER CA certificate that parses
 *     and is a CA;
 *   - every policy has a unique valid name, parses (fc_policy.h) and names
 *     only organisations of the resulting set; the default policy and every
 *     contract's policy are still there (by name);
 *   - a shard map has a version greater than the current one; its memory
 *     nodes and the storage replicas have unique valid ids (as org names),
 *     a non-empty host, a port 1-65535, a data_port and a metrics_port
 *     0-65535, and no id serves as both;
 *   - 1 <= write quorum <= number of storage replicas, after the change.
 * Otherwise FC_ECONFIG with a message naming the field and the problem:
 *     "config seq 3: policies[1] \"p2\": names unknown organisation Org9"
 * FC_ENOMEM (and FC_EINVAL for NULL arguments) decide nothing about the
 * transaction.
 *
 * The configuration view (fc_chaincfg_config) is a struct fc_config that
 * every reader of fc_config.h can use: orgs, policies (parsed),
 * default_policy, contracts, storage.{replicas, write_quorum} and
 * memory.nodes are those in force; everything else (cluster name, paths,
 * orderers, compute, tunables, and the `nodes` array used by
 * fc_config_find_node) is the genesis configuration's. Nodes introduced by
 * a config transaction have the id, host, port, data_port and metrics_port
 * it gave; org, data_dir, cert and key (and a data_port or metrics_port it
 * left 0) are taken from the genesis node of the same id and kind when there
 * is one, else NULL / 0. Organisations
 * introduced by a config transaction have ca_cert, ca_key and dir NULL (the
 * CA travels as DER: fc_chaincfg_org_ca), unless the organisation of that
 * name was already there with the same CA certificate: it keeps them.
 *
 * OWNERSHIP AND THREADS: snapshots are reference counted
 * (fc_chaincfg_ref / fc_chaincfg_unref) and immutable; any number of threads
 * may read one at once, including its castore (thread-safe, fc_crypto.h).
 * The genesis struct fc_config is borrowed by every snapshot derived from it
 * and must outlive them all. Pointers returned by accessors are owned by the
 * snapshot and valid while the caller holds a reference.
 */
#ifndef FC_CHAINCFG_H
#define FC_CHAINCFG_H

#include <stddef.h>
#include <stdint.h>

#include "fc_config.h"
#include "fc_crypto.h"
#include "flexchain.pb-c.h"

struct fc_chaincfg;
struct fc_policy;

/* The genesis snapshot (sequence 0, shard map version 0, from height 0) of
 * cfg (borrowed, must outlive every snapshot). Reads every organisation's
 * ca_cert PEM. *out holds one reference. Errors: FC_EINVAL, FC_ENOMEM, and
 * those of fc_crypto_cert_load_pem / fc_crypto_castore_add (FC_ENOTFOUND,
 * FC_ECRYPTO, ...) naming the organisation. */
int fc_chaincfg_genesis(const struct fc_config *cfg, struct fc_chaincfg **out, char *errmsg);

/* A new reference to c (returned). NULL-safe. */
struct fc_chaincfg *fc_chaincfg_ref(struct fc_chaincfg *c);
/* Drops a reference; the last one frees. NULL is a no-op. */
void fc_chaincfg_unref(struct fc_chaincfg *c);

/* Whether config transaction tx is acceptable on top of cur: FC_OK or
 * FC_ECONFIG with the reason (see above). */
int fc_chaincfg_check(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx, char *errmsg);

/* As fc_chaincfg_check on the configuration that cur becomes after the
 * config transactions earlier[0..n_earlier) (each acceptable in turn), as
 * validators judge the config transactions of one block in block order.
 * Shaped for fc_validate_state_ops.check_config. */
int fc_chaincfg_check_after(const struct fc_chaincfg *cur,
			    const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			    const Flexchain__ConfigTx *tx, char *errmsg);

/* fc_chaincfg_check_after as an fc_validate_state_ops.check_config hook:
 * ud is the const struct fc_chaincfg * in force at the block's height. */
int fc_chaincfg_check_config(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			     const Flexchain__ConfigTx *tx, char *why);

/* Checks tx on top of cur and makes the next snapshot, in force from height
 * from_height (the config block's height + 1). *out holds one reference;
 * cur is unchanged. Errors as fc_chaincfg_check, FC_ENOMEM. */
int fc_chaincfg_apply(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx,
		      uint64_t from_height, struct fc_chaincfg **out, char *errmsg);

/* Applies, in block order, every config transaction of block b whose
 * tx_status[i] (the certified verdict) is TX_VALID. *out is a new reference:
 * to cur itself when the block has none. A VALID config transaction that
 * cur refuses is FC_EMISMATCH (validators and this node disagree about the
 * configuration: a bug or a wrong starting snapshot). */
int fc_chaincfg_apply_block(struct fc_chaincfg *cur, const Flexchain__Block *b,
			    const uint8_t *tx_status, struct fc_chaincfg **out, char *errmsg);

/* Number of VALID config transactions in b (0: the block changes nothing). */
size_t fc_chaincfg_block_changes(const Flexchain__Block *b, const uint8_t *tx_status);

/* ------------------------------------------------------------- accessors */

uint64_t fc_chaincfg_sequence(const struct fc_chaincfg *c);
/* First height at which c is in force (0 for genesis). */
uint64_t fc_chaincfg_from_height(const struct fc_chaincfg *c);
uint64_t fc_chaincfg_shard_version(const struct fc_chaincfg *c);
/* The configuration view (see above), owned by c. */
const struct fc_config *fc_chaincfg_config(const struct fc_chaincfg *c);
/* The trust roots in force: one CA per organisation. Owned by c. */
fc_crypto_castore *fc_chaincfg_castore(const struct fc_chaincfg *c);
/* The policy that endorses contract (its own or the default); never NULL.
 * Owned by c. */
const struct fc_policy *fc_chaincfg_policy_for(const struct fc_chaincfg *c, const char *contract);
/* The CA certificate of orgs[i] of the view, owned by c; NULL out of range. */
const fc_cert *fc_chaincfg_org_ca(const struct fc_chaincfg *c, size_t i);
/* 1 when a and b list the same storage replicas: as many, and the same id,
 * host and port at every index; 0 otherwise. a and b are any two
 * configurations (a snapshot's view, fc_chaincfg_config, or the loaded
 * file's), only read. The nodes that follow the chain configuration (the
 * compute and memory daemons) make a new storage client for the replicas in
 * force only when this says 0: other node fields (data, metrics port) and
 * the write quorum are not compared. */
int fc_chaincfg_same_storage(const struct fc_config *a, const struct fc_config *b);

/* ------------------------------------------------- making config transactions
 *
 * What a client (`flexchain config update`, the scale scripts) needs to
 * propose a change: the next ConfigTx, made from the snapshot in force plus
 * a set of changes, and a signed TX_CONFIG envelope carrying it.
 */

/* A node address as a config transaction carries it (NodeAddr). */
struct fc_chaincfg_node {
	const char *id, *host;
	uint32_t port;
	uint32_t data_port;    /* memory nodes: data plane port */
	uint32_t metrics_port; /* /metrics, /healthz; 0 = none or unknown */
};

/* Changes to the snapshot in force; every pointer is borrowed for the call.
 * Zero / empty fields change nothing. */
struct fc_chaincfg_changes {
	uint32_t write_quorum; /* 0 = unchanged */
	const struct fc_chaincfg_node *add_storage;
	size_t n_add_storage;
	const char *const *remove_storage; /* replica ids */
	size_t n_remove_storage;
	const struct fc_chaincfg_node *add_memory; /* shard map: version + 1 */
	size_t n_add_memory;
	const char *const *remove_memory; /* memory node ids */
	size_t n_remove_memory;
	/* name = rule: replaces the rule of policy `name`, or adds it */
	const char *const *policy_names, *const *policy_rules;
	size_t n_policies;
};

/* The next config transaction on top of cur: sequence = current + 1, and
 * for each part the changes touch, the whole resulting list (storage
 * replicas; the shard map with version current + 1; the policies) or the
 * write quorum; untouched parts are left empty ("unchanged"). Nothing else
 * is judged here: fc_chaincfg_check says whether the result is acceptable.
 * FC_EINVAL with a message for a change that does not apply ("remove
 * storage replica storage7: no such replica", "add storage replica
 * storage0: already a replica", no change at all). *out is owned by the
 * caller: fc_chaincfg_tx_free. */
int fc_chaincfg_next(const struct fc_chaincfg *cur, const struct fc_chaincfg_changes *ch,
		     Flexchain__ConfigTx **out, char *errmsg);

/* Frees a ConfigTx made by fc_chaincfg_next. NULL is a no-op. */
void fc_chaincfg_tx_free(Flexchain__ConfigTx *tx);

/* A signed TX_CONFIG envelope carrying tx (only read; copied): a proposal
 * with contract "", function "config", a fresh 16-byte random nonce, the
 * creator cert's DER and the current time; tx id = fc_canon_tx_id_of; the
 * client signature by key over fc_hash_client_sig (which covers the
 * config). key must be cert's key (FC_EINVAL otherwise). *out is owned by the
 * caller, freed with fc_wire_free; txid (may be NULL; FC_TXID_HEX_LEN + 1
 * bytes, fc_canon.h) receives the tx id.
 * Errors: FC_EINVAL, FC_ENOMEM, FC_ECRYPTO. */
int fc_chaincfg_envelope(const Flexchain__ConfigTx *tx, const fc_cert *cert, const fc_key *key,
			 Flexchain__Envelope **out, char *txid, char *errmsg);

#endif
