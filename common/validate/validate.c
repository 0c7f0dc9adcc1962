/* V1/V2 validation of a block (see fc_validate.h). */
#include "fc_validate.h"

#include <stdatomic.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_crypto.h"
#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_tpool.h"
#include "fc_wire.h"
#include "keytab.h"

#define V1_CHUNK 8 /* transactions per V1 work item */

struct slot {
	uint64_t version; /* current version: committed, then block writes */
};

struct txref {
	uint32_t *reads;  /* slot numbers of the reads */
	uint32_t *writes; /* slot numbers of the writes, same order as rwset */
};

struct fc_validate_job {
	const struct fc_validate_opts *o;
	const Flexchain__Block *b;
	size_t n;
	uint64_t height;
	uint8_t *status;     /* V1 outcome, then final */
	struct keytab kt;
	struct slot *slots;
	struct txref *refs;
	uint32_t *refmem;
	/* graph scheduling, over a graph built here from the envelopes: V2 is
	 * only as right as its graph, so the block's copy is compared, never
	 * trusted */
	Flexchain__DependencyGraph *graph;
	atomic_uint *pending; /* deps not yet done, per tx */
	uint32_t **succ;      /* successors per tx */
	uint32_t *n_succ;
	uint32_t *succmem;
	struct fc_tpool_group group;
	int v2_done;
	atomic_int v1_err;       /* first V1 error that is not a verdict */
	atomic_size_t v1_err_tx; /* a transaction that hit it */
};

/* ---------------------------------------------------------------- V1 */

static int endorser_counts(const struct fc_validate_opts *o, const Flexchain__Endorsement *e,
			   const uint8_t digest[32], const char **org)
{
	fc_cert *cert = NULL;
	int rc = fc_crypto_castore_verify_der(o->castore, e->endorser.data, e->endorser.len, &cert,
					      org, NULL);
	if (rc != FC_OK)
		return rc;
	rc = fc_crypto_verify_digest(cert, digest, e->signature.data, e->signature.len, NULL);
	if (rc == FC_OK) {
		const char *ou = fc_crypto_cert_ou(cert);
		if (!ou || strcmp(ou, FC_IDENTITY_ROLE_COMPUTE) != 0)
			*org = NULL; /* signed by someone who is not an endorser */
	}
	fc_crypto_cert_free(cert);
	return rc;
}

/* Sorts the outcome of a check on the transaction's own data: FC_EVERIFY
 * (and FC_EINVAL, an unencodable input) is a verdict on the transaction,
 * anything else (out of memory, OpenSSL failing) is this validator's trouble
 * and must abort the block rather than become a status that differs from
 * the other validators'. */
#define V1_VERDICT(rc) ((rc) == FC_EVERIFY || (rc) == FC_EINVAL)

/* V1 of one transaction, apart from duplicates (decided beforehand): FC_OK
 * with *out set, or an error that decides nothing. */
static int v1_one(const struct fc_validate_opts *o, const Flexchain__Envelope *env, uint8_t *out)
{
	uint8_t digest[32];
	char txid[FC_TXID_HEX_LEN + 1];
	fc_cert *cert = NULL;
	int rc;

	*out = FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD;
	if (fc_wire_check_envelope(env, NULL) != FC_OK)
		return FC_OK;
	rc = fc_canon_tx_id_of(env->proposal, txid);
	if (rc != FC_OK)
		return V1_VERDICT(rc) ? FC_OK : rc;
	if (strcmp(txid, env->proposal->tx_id) != 0)
		return FC_OK;
	/* a config transaction changes configuration, never state */
	if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && env->rwset &&
	    (env->rwset->n_reads || env->rwset->n_writes))
		return FC_OK;
	/* client signature */
	*out = FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE;
	rc = fc_crypto_castore_verify_der(o->castore, env->proposal->creator.data,
					  env->proposal->creator.len, &cert, NULL, NULL);
	if (rc != FC_OK)
		return V1_VERDICT(rc) ? FC_OK : rc;
	rc = fc_hash_client_sig(env, digest);
	if (rc == FC_OK)
		rc = fc_crypto_verify_digest(cert, digest, env->client_signature.data,
					     env->client_signature.len, NULL);
	fc_crypto_cert_free(cert);
	if (rc != FC_OK)
		return V1_VERDICT(rc) ? FC_OK : rc;
	if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG) {
		*out = FLEXCHAIN__TX_STATUS__TX_VALID;
		return FC_OK;
	}

	/* endorsements and policy */
	rc = fc_hash_endorsement_of(env, digest);
	if (rc != FC_OK) {
		*out = FLEXCHAIN__TX_STATUS__TX_BAD_PAYLOAD;
		return V1_VERDICT(rc) ? FC_OK : rc;
	}
	const char *orgs[64];
	size_t norgs = 0;
	for (size_t i = 0; i < env->n_endorsements; i++) {
		const char *org = NULL;
		rc = endorser_counts(o, env->endorsements[i], digest, &org);
		if (rc != FC_OK)
			return V1_VERDICT(rc) ? FC_OK : rc;
		if (org && norgs < sizeof orgs / sizeof orgs[0])
			orgs[norgs++] = org;
	}
	const struct fc_policy *pol =
		o->state.policy_for ? o->state.policy_for(o->state.ud, env->proposal->contract) : NULL;
	*out = !pol || !fc_policy_satisfied(pol, orgs, norgs)
		       ? FLEXCHAIN__TX_STATUS__TX_ENDORSEMENT_POLICY_FAILURE
		       : FLEXCHAIN__TX_STATUS__TX_VALID;
	return FC_OK;
}

struct v1_chunk {
	struct fc_validate_job *job;
	size_t from, to;
};

static void v1_range(struct fc_validate_job *job, size_t from, size_t to)
{
	for (size_t i = from; i < to && !atomic_load(&job->v1_err); i++) {
		if (job->status[i] != FLEXCHAIN__TX_STATUS__TX_UNKNOWN)
			continue;
		uint8_t st;
		int rc = v1_one(job->o, job->b->envelopes[i], &st);
		if (rc != FC_OK) {
			int none = FC_OK;
			atomic_compare_exchange_strong(&job->v1_err, &none, rc);
			atomic_store(&job->v1_err_tx, i);
			return;
		}
		job->status[i] = st;
	}
}

static void v1_task(void *arg)
{
	struct v1_chunk *c = arg;
	v1_range(c->job, c->from, c->to);
}

/* Marks in-block and ledger duplicates before V1 proper; the first
 * occurrence in block order keeps its tx id. */
static int mark_duplicates(struct fc_validate_job *job, char *errmsg)
{
	int rc = FC_OK;
	const char **ids = fc_calloc(job->n ? job->n : 1, sizeof *ids);
	bool *seen = fc_calloc(job->n ? job->n : 1, sizeof *seen);
	size_t *idx = fc_calloc(job->n ? job->n : 1, sizeof *idx);
	struct keytab t = {0};
	if (!ids || !seen || !idx || keytab_init(&t, job->n) != FC_OK) {
		rc = fc_errf(errmsg, FC_ENOMEM, "validate: out of memory");
		goto out;
	}
	size_t m = 0;
	for (size_t i = 0; i < job->n; i++) {
		const Flexchain__Envelope *env = job->b->envelopes[i];
		if (!env || !env->proposal || !env->proposal->tx_id)
			continue; /* V1 calls it a bad payload */
		int is_new;
		keytab_slot(&t, (const uint8_t *)env->proposal->tx_id, strlen(env->proposal->tx_id),
			    &is_new);
		if (!is_new) {
			job->status[i] = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
			continue;
		}
		ids[m] = env->proposal->tx_id;
		idx[m++] = i;
	}
	if (m && job->o->state.txids_committed) {
		rc = job->o->state.txids_committed(job->o->state.ud, ids, m, seen, errmsg);
		if (rc != FC_OK) {
			fc_errwrap(errmsg, rc, "validate block %llu: tx index",
				   (unsigned long long)job->height);
			goto out;
		}
		for (size_t k = 0; k < m; k++)
			if (seen[k])
				job->status[idx[k]] = FLEXCHAIN__TX_STATUS__TX_DUPLICATE_TXID;
	}
out:
	keytab_destroy(&t);
	fc_free(idx);
	fc_free(seen);
	fc_free(ids);
	return rc;
}

/* Config transactions that passed V1, in block order: each is judged by
 * state.check_config on the configuration as changed by the earlier
 * accepted ones of this block; a refusal is TX_BAD_CONFIG. */
static int check_configs(struct fc_validate_job *job, char *errmsg)
{
	const struct fc_validate_state_ops *ops = &job->o->state;
	const Flexchain__ConfigTx **acc = NULL;
	size_t n_acc = 0, n_cfg = 0;
	char why[FC_ERRMSG_LEN];
	int rc = FC_OK;

	if (!ops->check_config)
		return FC_OK;
	for (size_t i = 0; i < job->n; i++)
		if (job->status[i] == FLEXCHAIN__TX_STATUS__TX_VALID &&
		    job->b->envelopes[i]->type == FLEXCHAIN__TX_TYPE__TX_CONFIG)
			n_cfg++;
	if (!n_cfg)
		return FC_OK;
	acc = fc_calloc(n_cfg, sizeof *acc);
	if (!acc)
		return fc_errf(errmsg, FC_ENOMEM, "validate block %llu: out of memory",
			       (unsigned long long)job->height);
	for (size_t i = 0; i < job->n; i++) {
		const Flexchain__Envelope *env = job->b->envelopes[i];
		if (job->status[i] != FLEXCHAIN__TX_STATUS__TX_VALID ||
		    env->type != FLEXCHAIN__TX_TYPE__TX_CONFIG)
			continue;
		why[0] = '\0';
		rc = ops->check_config(ops->ud, acc, n_acc, env->config, why);
		if (rc == FC_OK) {
			acc[n_acc++] = env->config;
		} else if (rc == FC_ECONFIG) {
			job->status[i] = FLEXCHAIN__TX_STATUS__TX_BAD_CONFIG;
			rc = FC_OK;
		} else {
			fc_errf(errmsg, rc, "validate block %llu: config tx %zu: %s",
				(unsigned long long)job->height, i, why[0] ? why : fc_strerror(rc));
			break;
		}
	}
	fc_free(acc);
	return rc;
}

void fc_validate_job_free(struct fc_validate_job *job)
{
	if (!job)
		return;
	keytab_destroy(&job->kt);
	fc_depgraph_free(job->graph);
	fc_free(job->slots);
	fc_free(job->refs);
	fc_free(job->refmem);
	fc_free(job->pending);
	fc_free(job->succ);
	fc_free(job->n_succ);
	fc_free(job->succmem);
	fc_free(job->status);
	fc_free(job);
}

static bool use_pool(const struct fc_validate_opts *o)
{
	return o->parallel && o->pool;
}

int fc_validate_v1(const struct fc_validate_opts *o, const Flexchain__Block *b,
		   struct fc_validate_job **out, char *errmsg)
{
	int rc;
	struct v1_chunk *chunks = NULL;
	if (!o || !b || !out || !o->castore || !o->state.get_versions)
		return fc_errf(errmsg, FC_EINVAL, "validate: invalid arguments");
	*out = NULL;
	if (!b->header)
		return fc_errf(errmsg, FC_EINVAL, "validate: block without header");
	struct fc_validate_job *job = fc_calloc(1, sizeof *job);
	if (!job)
		return fc_errf(errmsg, FC_ENOMEM, "validate: out of memory");
	job->o = o;
	job->b = b;
	job->n = b->n_envelopes;
	job->height = b->header->height;
	if (b->graph && b->graph->n_txs != job->n) {
		rc = fc_errf(errmsg, FC_EINVAL, "validate block %llu: graph has %zu entries for %zu transactions",
			     (unsigned long long)job->height, b->graph->n_txs, job->n);
		goto fail;
	}
	rc = fc_wire_check_graph(b->graph, job->n, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "validate block %llu", (unsigned long long)job->height);
		goto fail;
	}
	rc = fc_depgraph_build(b->envelopes, job->n, &job->graph, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "validate block %llu", (unsigned long long)job->height);
		goto fail;
	}
	if (b->graph) {
		uint8_t mine[32], theirs[32];
		rc = fc_hash_graph(job->graph, mine);
		if (rc == FC_OK)
			rc = fc_hash_graph(b->graph, theirs);
		if (rc == FC_OK && memcmp(mine, theirs, 32) != 0)
			rc = FC_EMISMATCH;
		if (rc != FC_OK) {
			fc_errf(errmsg, rc, "validate block %llu: dependency graph %s",
				(unsigned long long)job->height,
				rc == FC_EMISMATCH ? "does not match the envelopes" : "hash failed");
			goto fail;
		}
	}
	job->status = fc_calloc(job->n ? job->n : 1, 1);
	if (!job->status)
		goto nomem;
	rc = mark_duplicates(job, errmsg);
	if (rc != FC_OK)
		goto fail;

	if (use_pool(o) && job->n > V1_CHUNK) {
		size_t nc = (job->n + V1_CHUNK - 1) / V1_CHUNK;
		chunks = fc_malloc(nc * sizeof *chunks);
		if (!chunks)
			goto nomem;
		fc_tpool_group_init(&job->group, o->pool);
		for (size_t c = 0; c < nc; c++) {
			chunks[c] = (struct v1_chunk){job, c * V1_CHUNK,
						      (c + 1) * V1_CHUNK < job->n ? (c + 1) * V1_CHUNK : job->n};
			if (fc_tpool_group_submit(&job->group, v1_task, &chunks[c]) != FC_OK)
				v1_task(&chunks[c]); /* cannot queue: do it here */
		}
		fc_tpool_group_wait(&job->group);
		fc_free(chunks);
		chunks = NULL;
	} else {
		v1_range(job, 0, job->n);
	}
	rc = atomic_load(&job->v1_err);
	if (rc != FC_OK) {
		fc_errf(errmsg, rc, "validate block %llu: V1 of tx %zu: %s",
			(unsigned long long)job->height, atomic_load(&job->v1_err_tx), fc_strerror(rc));
		goto fail;
	}
	rc = check_configs(job, errmsg);
	if (rc != FC_OK)
		goto fail;
	*out = job;
	return FC_OK;
nomem:
	rc = fc_errf(errmsg, FC_ENOMEM, "validate block %llu: out of memory",
		     (unsigned long long)job->height);
fail:
	fc_free(chunks);
	fc_validate_job_free(job);
	return rc;
}

/* ---------------------------------------------------------------- V2 */

static void v2_one(struct fc_validate_job *job, size_t i)
{
	if (job->status[i] != FLEXCHAIN__TX_STATUS__TX_VALID)
		return;
	const Flexchain__RWSet *rw = job->b->envelopes[i]->rwset;
	if (!rw)
		return;
	for (size_t r = 0; r < rw->n_reads; r++) {
		if (job->slots[job->refs[i].reads[r]].version != rw->reads[r]->version) {
			job->status[i] = FLEXCHAIN__TX_STATUS__TX_MVCC_READ_CONFLICT;
			return;
		}
	}
	uint64_t v = fc_version_pack(job->height, (uint32_t)i);
	for (size_t w = 0; w < rw->n_writes; w++)
		job->slots[job->refs[i].writes[w]].version = rw->writes[w]->is_delete ? 0 : v;
}

/* Maps every read and write of the block to a slot and fetches committed
 * versions of all the slots in one batch. */
static int prepare_slots(struct fc_validate_job *job, char *errmsg)
{
	const Flexchain__Block *b = job->b;
	size_t nkeys = 0;
	for (size_t i = 0; i < job->n; i++) {
		const Flexchain__RWSet *rw = b->envelopes[i] ? b->envelopes[i]->rwset : NULL;
		if (rw)
			nkeys += rw->n_reads + rw->n_writes;
	}
	ProtobufCBinaryData *keys = NULL;
	uint64_t *versions = NULL;
	int rc = FC_ENOMEM;
	if (keytab_init(&job->kt, nkeys) != FC_OK)
		goto out;
	job->refs = fc_calloc(job->n ? job->n : 1, sizeof *job->refs);
	job->refmem = fc_malloc((nkeys ? nkeys : 1) * sizeof *job->refmem);
	keys = fc_malloc((nkeys ? nkeys : 1) * sizeof *keys);
	if (!job->refs || !job->refmem || !keys)
		goto out;
	uint32_t *p = job->refmem;
	for (size_t i = 0; i < job->n; i++) {
		const Flexchain__RWSet *rw = b->envelopes[i] ? b->envelopes[i]->rwset : NULL;
		if (!rw)
			continue;
		job->refs[i].reads = p;
		for (size_t r = 0; r < rw->n_reads; r++) {
			int is_new;
			*p = keytab_slot(&job->kt, rw->reads[r]->key.data, rw->reads[r]->key.len, &is_new);
			if (is_new)
				keys[*p] = rw->reads[r]->key;
			p++;
		}
		job->refs[i].writes = p;
		for (size_t w = 0; w < rw->n_writes; w++) {
			int is_new;
			*p = keytab_slot(&job->kt, rw->writes[w]->key.data, rw->writes[w]->key.len,
					 &is_new);
			if (is_new)
				keys[*p] = rw->writes[w]->key;
			p++;
		}
	}
	size_t nslots = job->kt.count;
	job->slots = fc_calloc(nslots ? nslots : 1, sizeof *job->slots);
	versions = fc_calloc(nslots ? nslots : 1, sizeof *versions);
	if (!job->slots || !versions)
		goto out;
	if (nslots) {
		rc = job->o->state.get_versions(job->o->state.ud, keys, nslots, versions, errmsg);
		if (rc != FC_OK) {
			fc_errwrap(errmsg, rc, "validate block %llu: read committed versions",
				   (unsigned long long)job->height);
			goto out_noerr;
		}
	}
	for (size_t s = 0; s < nslots; s++)
		job->slots[s].version = versions[s];
	rc = FC_OK;
	goto out_noerr;
out:
	fc_errf(errmsg, rc, "validate block %llu: out of memory", (unsigned long long)job->height);
out_noerr:
	fc_free(keys);
	fc_free(versions);
	return rc;
}

/* Successor lists from the block's dependency lists. */
static int prepare_graph(struct fc_validate_job *job)
{
	const Flexchain__DependencyGraph *g = job->graph;
	size_t n = job->n, edges = 0;
	for (size_t i = 0; g && i < n; i++)
		edges += g->txs[i]->n_deps;
	job->pending = fc_calloc(n ? n : 1, sizeof *job->pending);
	job->succ = fc_calloc(n ? n : 1, sizeof *job->succ);
	job->n_succ = fc_calloc(n ? n : 1, sizeof *job->n_succ);
	job->succmem = fc_malloc((edges ? edges : 1) * sizeof *job->succmem);
	if (!job->pending || !job->succ || !job->n_succ || !job->succmem)
		return FC_ENOMEM;
	for (size_t i = 0; g && i < n; i++)
		for (size_t d = 0; d < g->txs[i]->n_deps; d++)
			job->n_succ[g->txs[i]->deps[d]]++;
	uint32_t *p = job->succmem;
	for (size_t i = 0; i < n; i++) {
		job->succ[i] = p;
		p += job->n_succ[i];
		job->n_succ[i] = 0;
	}
	for (size_t i = 0; g && i < n; i++) {
		atomic_init(&job->pending[i], (unsigned)g->txs[i]->n_deps);
		for (size_t d = 0; d < g->txs[i]->n_deps; d++) {
			uint32_t j = g->txs[i]->deps[d];
			job->succ[j][job->n_succ[j]++] = (uint32_t)i;
		}
	}
	return FC_OK;
}

struct v2_task_arg {
	struct fc_validate_job *job;
	uint32_t tx;
};

static void v2_task(void *arg);

/* Runs tx, then releases its successors: the first that becomes ready runs
 * on this thread (no queueing for chains), the others go to the pool. */
static void v2_run_from(struct fc_validate_job *job, uint32_t tx, struct v2_task_arg *args)
{
	for (;;) {
		v2_one(job, tx);
		uint32_t next = UINT32_MAX;
		for (uint32_t k = 0; k < job->n_succ[tx]; k++) {
			uint32_t s = job->succ[tx][k];
			if (atomic_fetch_sub_explicit(&job->pending[s], 1, memory_order_acq_rel) != 1)
				continue;
			if (next == UINT32_MAX)
				next = s;
			else if (fc_tpool_group_submit(&job->group, v2_task, &args[s]) != FC_OK)
				v2_run_from(job, s, args); /* cannot queue: run it here */
		}
		if (next == UINT32_MAX)
			return;
		tx = next;
	}
}

static void v2_task(void *arg)
{
	struct v2_task_arg *a = arg;
	v2_run_from(a->job, a->tx, a - a->tx);
}

int fc_validate_v2(struct fc_validate_job *job, uint8_t *tx_status, uint8_t write_set_hash[32],
		   char *errmsg)
{
	int rc;
	struct v2_task_arg *args = NULL;
	if (!job || (!tx_status && job->n) || !write_set_hash)
		return fc_errf(errmsg, FC_EINVAL, "validate: invalid arguments");
	if (job->v2_done)
		return fc_errf(errmsg, FC_ESTATE, "validate block %llu: V2 already ran",
			       (unsigned long long)job->height);
	job->v2_done = 1;
	rc = prepare_slots(job, errmsg);
	if (rc != FC_OK)
		return rc;
	if (use_pool(job->o) && job->n > 1) {
		if (prepare_graph(job) != FC_OK)
			goto nomem;
		args = fc_malloc(job->n * sizeof *args);
		if (!args)
			goto nomem;
		for (size_t i = 0; i < job->n; i++)
			args[i] = (struct v2_task_arg){job, (uint32_t)i};
		fc_tpool_group_init(&job->group, job->o->pool);
		/* Roots are the transactions without dependencies in the graph,
		 * not those whose pending count reads 0 now: tasks already
		 * submitted may have released a successor meanwhile, which
		 * would then run twice. */
		for (size_t i = 0; i < job->n; i++)
			if (job->graph->txs[i]->n_deps == 0 &&
			    fc_tpool_group_submit(&job->group, v2_task, &args[i]) != FC_OK)
				v2_run_from(job, (uint32_t)i, args);
		fc_tpool_group_wait(&job->group);
		fc_free(args);
	} else {
		for (size_t i = 0; i < job->n; i++)
			v2_one(job, i);
	}
	if (job->n)
		memcpy(tx_status, job->status, job->n);
	rc = fc_hash_write_set(job->b, job->status, job->n, write_set_hash);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "validate block %llu: write-set hash: %s",
			       (unsigned long long)job->height, fc_strerror(rc));
	return FC_OK;
nomem:
	return fc_errf(errmsg, FC_ENOMEM, "validate block %llu: out of memory",
		       (unsigned long long)job->height);
}

int fc_validate_block(const struct fc_validate_opts *o, const Flexchain__Block *b,
		      uint8_t *tx_status, uint8_t write_set_hash[32], char *errmsg)
{
	struct fc_validate_job *job = NULL;
	int rc = fc_validate_v1(o, b, &job, errmsg);
	if (rc == FC_OK)
		rc = fc_validate_v2(job, tx_status, write_set_hash, errmsg);
	fc_validate_job_free(job);
	return rc;
}

/* ----------------------------------------------------------- verdicts */

struct verdict_mem {
	Flexchain__Verdict v; /* first: the verdict pointer is the allocation */
	uint8_t block_hash[32];
	uint8_t wsh[32];
};

void fc_validate_verdict_free(Flexchain__Verdict *v)
{
	if (!v)
		return;
	fc_free(v->tx_status.data);
	fc_free(v->signer.data);
	fc_free(v->signature.data);
	fc_free(v);
}

int fc_validate_verdict_sign(const Flexchain__Block *b, const uint8_t *tx_status,
			     const uint8_t write_set_hash[32], bool storage_validated,
			     const fc_cert *signer_cert, const fc_key *signer_key,
			     Flexchain__Verdict **out, char *errmsg)
{
	if (!b || !b->header || (!tx_status && b->n_envelopes) || !write_set_hash ||
	    !signer_cert || !signer_key || !out)
		return fc_errf(errmsg, FC_EINVAL, "verdict: invalid arguments");
	*out = NULL;
	int rc;
	struct verdict_mem *m = fc_calloc(1, sizeof *m);
	if (!m)
		return fc_errf(errmsg, FC_ENOMEM, "verdict: out of memory");
	Flexchain__Verdict *v = &m->v;
	flexchain__verdict__init(v);
	v->height = b->header->height;
	rc = fc_hash_header(b->header, m->block_hash);
	if (rc != FC_OK) {
		fc_errf(errmsg, rc, "verdict block %llu: header hash", (unsigned long long)v->height);
		goto fail;
	}
	memcpy(m->wsh, write_set_hash, 32);
	v->block_hash = (ProtobufCBinaryData){32, m->block_hash};
	v->write_set_hash = (ProtobufCBinaryData){32, m->wsh};
	v->storage_validated = storage_validated;
	size_t derlen;
	const uint8_t *der = fc_crypto_cert_der(signer_cert, &derlen);
	v->tx_status.data = fc_memdup(tx_status ? tx_status : (const uint8_t *)"", b->n_envelopes);
	v->tx_status.len = b->n_envelopes;
	v->signer.data = fc_memdup(der, derlen);
	v->signer.len = derlen;
	if (!v->tx_status.data || !v->signer.data) {
		rc = fc_errf(errmsg, FC_ENOMEM, "verdict: out of memory");
		goto fail;
	}
	uint8_t digest[32];
	rc = fc_hash_verdict(v, digest);
	if (rc == FC_OK)
		rc = fc_crypto_sign_digest(signer_key, digest, &v->signature.data, &v->signature.len,
					   errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "verdict block %llu: sign", (unsigned long long)v->height);
		goto fail;
	}
	*out = v;
	return FC_OK;
fail:
	fc_validate_verdict_free(v);
	return rc;
}

int fc_validate_verdict_verify(fc_crypto_castore *cs, const Flexchain__Verdict *v,
			       const char **org, char *errmsg)
{
	if (!cs || !v)
		return fc_errf(errmsg, FC_EINVAL, "verdict: invalid arguments");
	fc_cert *cert = NULL;
	uint8_t digest[32];
	int rc = fc_crypto_castore_verify_der(cs, v->signer.data, v->signer.len, &cert, org, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "verdict block %llu: signer",
				  (unsigned long long)v->height);
	rc = fc_hash_verdict(v, digest);
	if (rc == FC_OK)
		rc = fc_crypto_verify_digest(cert, digest, v->signature.data, v->signature.len,
					     errmsg);
	fc_crypto_cert_free(cert);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "verdict block %llu: signature",
				  (unsigned long long)v->height);
	return FC_OK;
}
