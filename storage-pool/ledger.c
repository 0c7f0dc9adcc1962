/* ledger.c - the storage pool's ledger store on RocksDB (fc_ledger.h).
 *
 * Why it looks the way it does:
 * - Everything one block changes goes into one write batch with sync = 1, so
 *   after a crash a block is either fully there (block, verdict, certificate,
 *   index, state, applied height) or not at all, and an acknowledged block
 *   is on disk.
 * - The effects of a block on the derived tables (tx index, state, meta) are
 *   staged by one function, stage_effects(), used both by append and by the
 *   verifier's replay, so "state equals a replay of the ledger" compares the
 *   stored tables with an independent recomputation by the same rules.
 * - The head (height and header hash) is cached in memory: an append needs
 *   no read to check the chain.
 */
#include "fc_ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_wire.h"
#include "ledger_codec.h"

enum cf_id {
	CF_DEFAULT,
	CF_BLOCKS,
	CF_BLOCK_HASH,
	CF_VERDICTS,
	CF_CERTS,
	CF_TXINDEX,
	CF_STATE,
	CF_META,
	CF__COUNT
};

static const char *const cf_names[CF__COUNT] = {
    [CF_DEFAULT] = "default",	[CF_BLOCKS] = "blocks", [CF_BLOCK_HASH] = "block_hash",
    [CF_VERDICTS] = "verdicts", [CF_CERTS] = "certs",	[CF_TXINDEX] = "txindex",
    [CF_STATE] = "state",	[CF_META] = "meta",
};

#define META_FORMAT "format"
#define META_APPLIED_HEIGHT "applied_height"
#define META_APPLIED_HASH "applied_hash"
#define META_CONFIG "config"

struct fc_ledger {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *bbto;
	rocksdb_cache_t *cache;
	rocksdb_column_family_handle_t *cf[CF__COUNT];
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	int skip_hash_checks;

	pthread_mutex_t mu;  /* guards everything below; serialises appends */
	pthread_cond_t cond; /* signalled when the head moves */
	int has_head;
	uint64_t head;
	uint8_t head_hash[FC_HASH_LEN];
	int failed; /* a synced write failed: outcome unknown, reopen */
};

/* Where stage_effects() reads and writes: the ledger itself, or the
 * verifier's scratch database. */
struct effects_target {
	rocksdb_t *db;
	const rocksdb_readoptions_t *ro;
	rocksdb_column_family_handle_t *txindex;
	rocksdb_column_family_handle_t *state;
	rocksdb_column_family_handle_t *meta;
};

/* ---------------------------------------------------------------- helpers */

/* Translates a RocksDB error string (and frees it). */
static int rdb_error(char *errmsg, char *err)
{
	fc_errf(errmsg, FC_ESTORAGE, "rocksdb: %s", err ? err : "unknown error");
	rocksdb_free(err);
	return FC_ESTORAGE;
}

static void hex_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
	/* cap >= 2n + 1 is the caller's job for full output; longer inputs are
	 * cut and marked with "..". */
	size_t max = (cap - 3) / 2;
	if (n <= (cap - 1) / 2) {
		fc_canon_hex(p, n, out);
		return;
	}
	fc_canon_hex(p, max, out);
	memcpy(out + 2 * max, "..", 3);
}

/* Point read through a pinnable slice (no copy). FC_ENOTFOUND when absent. */
static int pget(rocksdb_t *db, const rocksdb_readoptions_t *ro, rocksdb_column_family_handle_t *cf,
		const void *key, size_t klen, rocksdb_pinnableslice_t **slice, const uint8_t **val,
		size_t *vlen, char *errmsg)
{
	char *err = NULL;
	*slice = rocksdb_get_pinned_cf(db, ro, cf, key, klen, &err);
	if (err) {
		*slice = NULL;
		return rdb_error(errmsg, err);
	}
	if (!*slice)
		return FC_ENOTFOUND;
	*val = (const uint8_t *)rocksdb_pinnableslice_value(*slice, vlen);
	return FC_OK;
}

static int get_decoded(rocksdb_t *db, const rocksdb_readoptions_t *ro,
		       rocksdb_column_family_handle_t *cf, const void *key, size_t klen,
		       const ProtobufCMessageDescriptor *desc, size_t max_len,
		       ProtobufCMessage **out, char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	const uint8_t *v;
	size_t vlen;
	int rc;

	*out = NULL;
	rc = pget(db, ro, cf, key, klen, &s, &v, &vlen, errmsg);
	if (rc)
		goto out;
	rc = fc_wire_decode(desc, v, vlen, max_len, out, errmsg);
	/* A stored record that does not decode is storage corruption. */
	if (rc == FC_EPROTO || rc == FC_ETOOBIG)
		rc = fc_errwrap(errmsg, FC_ESTORAGE, "stored record malformed");
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

static int put_meta_format(rocksdb_t *db, const rocksdb_writeoptions_t *wo,
			   rocksdb_column_family_handle_t *meta, char *errmsg)
{
	uint8_t v[4];
	char *err = NULL;

	lc_put_u32(v, FC_LEDGER_FORMAT);
	rocksdb_put_cf(db, wo, meta, META_FORMAT, strlen(META_FORMAT), (const char *)v, sizeof v,
		       &err);
	if (err)
		return fc_errwrap(errmsg, rdb_error(errmsg, err), "write format");
	return FC_OK;
}

/* Last u64 key of a height-keyed column family: FC_ENOTFOUND when empty. */
static int last_height(rocksdb_t *db, const rocksdb_readoptions_t *ro,
		       rocksdb_column_family_handle_t *cf, uint64_t *h, char *errmsg)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf);
	char *err = NULL;
	int rc = FC_ENOTFOUND;

	rocksdb_iter_seek_to_last(it);
	if (rocksdb_iter_valid(it)) {
		size_t klen;
		const char *k = rocksdb_iter_key(it, &klen);
		if (klen != 8) {
			rc = fc_errf(errmsg, FC_ESTORAGE, "height key of %zu bytes", klen);
			goto out;
		}
		*h = lc_get_u64((const uint8_t *)k);
		rc = FC_OK;
	}
	rocksdb_iter_get_error(it, &err);
	if (err)
		rc = rdb_error(errmsg, err);
out:
	rocksdb_iter_destroy(it);
	return rc;
}

/* ------------------------------------------------------------ open/close */

void fc_ledger_opts_init(struct fc_ledger_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->cache_bytes = 64u << 20;
}

/* Reads meta and checks it against the blocks column family. */
static int load_head(struct fc_ledger *l, char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	const uint8_t *v;
	size_t vlen;
	uint64_t last = 0;
	int rc, have_last;

	rc = last_height(l->db, l->ropts, l->cf[CF_BLOCKS], &last, errmsg);
	if (rc && rc != FC_ENOTFOUND)
		goto out;
	have_last = rc == FC_OK;

	rc = pget(l->db, l->ropts, l->cf[CF_META], META_FORMAT, strlen(META_FORMAT), &s, &v, &vlen,
		  errmsg);
	if (rc == FC_ENOTFOUND) {
		if (have_last) {
			rc = fc_errf(errmsg, FC_ESTORAGE, "blocks present but no format record");
			goto out;
		}
		rc = put_meta_format(l->db, l->wopts, l->cf[CF_META], errmsg);
		goto out; /* a new, empty ledger */
	}
	if (rc)
		goto out;
	if (vlen != 4 || lc_get_u32(v) != FC_LEDGER_FORMAT) {
		rc = fc_errf(errmsg, FC_EUNSUPPORTED, "ledger format %u, this build reads %u",
			     vlen == 4 ? lc_get_u32(v) : 0u, FC_LEDGER_FORMAT);
		goto out;
	}
	rocksdb_pinnableslice_destroy(s);
	s = NULL;

	rc = pget(l->db, l->ropts, l->cf[CF_META], META_APPLIED_HEIGHT, strlen(META_APPLIED_HEIGHT),
		  &s, &v, &vlen, errmsg);
	if (rc == FC_ENOTFOUND) {
		rc = have_last
			 ? fc_errf(errmsg, FC_ESTORAGE, "last block %llu but no applied height",
				   (unsigned long long)last)
			 : FC_OK;
		goto out;
	}
	if (rc)
		goto out;
	if (vlen != 8) {
		rc = fc_errf(errmsg, FC_ESTORAGE, "applied height record of %zu bytes", vlen);
		goto out;
	}
	l->head = lc_get_u64(v);
	rocksdb_pinnableslice_destroy(s);
	s = NULL;
	if (!have_last || last != l->head) {
		rc = fc_errf(errmsg, FC_ESTORAGE, "applied height %llu but last block %s%llu",
			     (unsigned long long)l->head, have_last ? "" : "none ",
			     (unsigned long long)last);
		goto out;
	}
	rc = pget(l->db, l->ropts, l->cf[CF_META], META_APPLIED_HASH, strlen(META_APPLIED_HASH), &s,
		  &v, &vlen, errmsg);
	if (rc == FC_ENOTFOUND || (!rc && vlen != FC_HASH_LEN))
		rc = fc_errf(errmsg, FC_ESTORAGE, "applied hash record missing or malformed");
	if (rc)
		goto out;
	memcpy(l->head_hash, v, FC_HASH_LEN);
	l->has_head = 1;
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

int fc_ledger_open(const char *path, const struct fc_ledger_opts *opts, struct fc_ledger **out,
		   char *errmsg)
{
	struct fc_ledger_opts defaults;
	struct fc_ledger *l = NULL;
	const rocksdb_options_t *cf_opts[CF__COUNT];
	pthread_condattr_t ca;
	char *err = NULL;
	int rc = FC_OK;

	if (!path || !out)
		return fc_errf(errmsg, FC_EINVAL, "ledger open: NULL argument");
	*out = NULL;
	if (!opts) {
		fc_ledger_opts_init(&defaults);
		opts = &defaults;
	}
	if (opts->must_exist) {
		char cur[4096];
		struct stat st;
		snprintf(cur, sizeof cur, "%s/CURRENT", path);
		if (stat(cur, &st) != 0)
			return fc_errf(errmsg, FC_ENOTFOUND, "ledger open %s: no ledger there",
				       path);
	}

	l = fc_calloc(1, sizeof *l);
	if (!l)
		return fc_errf(errmsg, FC_ENOMEM, "ledger open %s: out of memory", path);
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		rc = fc_errf(errmsg, FC_ENOMEM, "ledger open %s: mutex", path);
		goto free_l;
	}
	if (pthread_condattr_init(&ca) != 0) {
		rc = fc_errf(errmsg, FC_ENOMEM, "ledger open %s: condattr", path);
		goto free_mutex;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&l->cond, &ca) ? FC_ENOMEM : FC_OK;
	pthread_condattr_destroy(&ca);
	if (rc) {
		fc_errf(errmsg, rc, "ledger open %s: cond", path);
		goto free_mutex;
	}
	l->skip_hash_checks = opts->skip_hash_checks;

	l->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(l->opts, !opts->must_exist);
	rocksdb_options_set_create_missing_column_families(l->opts, 1);
	rocksdb_options_increase_parallelism(l->opts, 2);
	rocksdb_options_set_keep_log_file_num(l->opts, 4);
	rocksdb_options_set_info_log_level(l->opts, 2 /* WARN */);
	/* Point lookups (block_hash, txindex, state) dominate: full bloom
	 * filters; one shared LRU block cache. */
	l->cache = rocksdb_cache_create_lru(opts->cache_bytes ? opts->cache_bytes : 1);
	l->bbto = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(l->bbto, l->cache);
	rocksdb_block_based_options_set_filter_policy(l->bbto,
						      rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_options_set_block_based_table_factory(l->opts, l->bbto);
	for (int i = 0; i < CF__COUNT; i++)
		cf_opts[i] = l->opts;

	l->db =
	    rocksdb_open_column_families(l->opts, path, CF__COUNT, cf_names, cf_opts, l->cf, &err);
	if (err) {
		rc = fc_errwrap(errmsg, rdb_error(errmsg, err), "ledger open %s", path);
		goto free_rocks;
	}
	l->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(l->wopts, 1);
	l->ropts = rocksdb_readoptions_create();

	rc = load_head(l, errmsg);
	if (rc) {
		fc_errwrap(errmsg, rc, "ledger open %s", path);
		goto close_db;
	}
	if (l->has_head)
		fc_log(FC_LOG_INFO, "ledger", "opened", "path=%s applied_height=%llu", path,
		       (unsigned long long)l->head);
	else
		fc_log(FC_LOG_INFO, "ledger", "opened", "path=%s applied_height=none", path);
	*out = l;
	return FC_OK;

close_db:
	rocksdb_readoptions_destroy(l->ropts);
	rocksdb_writeoptions_destroy(l->wopts);
	for (int i = 0; i < CF__COUNT; i++)
		rocksdb_column_family_handle_destroy(l->cf[i]);
	rocksdb_close(l->db);
free_rocks:
	rocksdb_options_destroy(l->opts);
	rocksdb_block_based_options_destroy(l->bbto);
	rocksdb_cache_destroy(l->cache);
	pthread_cond_destroy(&l->cond);
free_mutex:
	pthread_mutex_destroy(&l->mu);
free_l:
	fc_free(l);
	return rc;
}

void fc_ledger_close(struct fc_ledger *l)
{
	if (!l)
		return;
	rocksdb_readoptions_destroy(l->ropts);
	rocksdb_writeoptions_destroy(l->wopts);
	for (int i = 0; i < CF__COUNT; i++)
		rocksdb_column_family_handle_destroy(l->cf[i]);
	rocksdb_close(l->db);
	rocksdb_options_destroy(l->opts);
	rocksdb_block_based_options_destroy(l->bbto);
	rocksdb_cache_destroy(l->cache);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->mu);
	fc_free(l);
}

/* --------------------------------------------------------------- effects */

struct txslot {
	const char *id;
	size_t id_len;
	uint32_t idx;
	int skip; /* already indexed: keep the first occurrence */
};

static int txslot_cmp(const void *a, const void *b)
{
	const struct txslot *x = a, *y = b;
	size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = memcmp(x->id, y->id, n);
	if (c)
		return c;
	if (x->id_len != y->id_len)
		return x->id_len < y->id_len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Stages the transaction-index entries of block b: one per transaction
 * whose tx id is not indexed yet (in t, or earlier in b). */
static int stage_txindex(const struct effects_target *t, rocksdb_writebatch_t *wb,
			 const Flexchain__Block *b, const uint8_t *status, char *errmsg)
{
	size_t n = b->n_envelopes;
	uint64_t height = b->header->height;
	struct txslot *slots = NULL;
	const char **keys = NULL;
	size_t *klens = NULL, *vlens = NULL;
	const rocksdb_column_family_handle_t **cfs = NULL;
	char **vals = NULL, **errs = NULL;
	int rc = FC_OK;

	if (n == 0)
		return FC_OK;
	slots = fc_calloc(n, sizeof *slots);
	keys = fc_calloc(n, sizeof *keys);
	klens = fc_calloc(n, sizeof *klens);
	vlens = fc_calloc(n, sizeof *vlens);
	cfs = fc_calloc(n, sizeof *cfs);
	vals = fc_calloc(n, sizeof *vals);
	errs = fc_calloc(n, sizeof *errs);
	if (!slots || !keys || !klens || !vlens || !cfs || !vals || !errs) {
		rc = fc_errf(errmsg, FC_ENOMEM, "tx index: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const Flexchain__Envelope *env = b->envelopes[i];
		if (!env || !env->proposal || !env->proposal->tx_id) {
			rc = fc_errf(errmsg, FC_EPROTO, "envelope %zu: no tx id", i);
			goto out;
		}
		slots[i].id = env->proposal->tx_id;
		slots[i].id_len = strlen(slots[i].id);
		slots[i].idx = (uint32_t)i;
		keys[i] = slots[i].id;
		klens[i] = slots[i].id_len;
		cfs[i] = t->txindex;
	}
	rocksdb_multi_get_cf(t->db, t->ro, cfs, n, keys, klens, vals, vlens, errs);
	for (size_t i = 0; i < n; i++) {
		if (errs[i] && rc == FC_OK) {
			rc = fc_errwrap(errmsg, rdb_error(errmsg, errs[i]), "tx index lookup");
			errs[i] = NULL;
		}
		rocksdb_free(errs[i]);
		if (vals[i])
			slots[i].skip = 1;
		rocksdb_free(vals[i]);
	}
	if (rc)
		goto out;
	qsort(slots, n, sizeof *slots, txslot_cmp);
	for (size_t i = 0; i < n; i++) {
		uint8_t v[LC_TXINDEX_LEN];
		if (i > 0 && slots[i].id_len == slots[i - 1].id_len &&
		    memcmp(slots[i].id, slots[i - 1].id, slots[i].id_len) == 0)
			slots[i].skip = 1;
		if (slots[i].skip)
			continue;
		lc_put_txindex(v, height, slots[i].idx, status[slots[i].idx]);
		rocksdb_writebatch_put_cf(wb, t->txindex, slots[i].id, slots[i].id_len,
					  (const char *)v, sizeof v);
	}
out:
	fc_free(errs);
	fc_free(vals);
	fc_free(cfs);
	fc_free(vlens);
	fc_free(klens);
	fc_free(keys);
	fc_free(slots);
	return rc;
}

/* Stages everything block b (already checked) changes in the derived
 * tables: tx index, state, meta config and applied height/hash. */
static int stage_effects(const struct effects_target *t, rocksdb_writebatch_t *wb,
			 const Flexchain__Block *b, const uint8_t *status,
			 const uint8_t hash[FC_HASH_LEN], char *errmsg)
{
	uint64_t height = b->header->height;
	const Flexchain__ConfigTx *config = NULL;
	uint8_t *cbuf = NULL;
	size_t clen = 0;
	uint8_t hbuf[8];
	int rc;

	rc = stage_txindex(t, wb, b, status, errmsg);
	if (rc)
		goto out;

	for (size_t i = 0; i < b->n_envelopes; i++) {
		const Flexchain__Envelope *env = b->envelopes[i];
		const Flexchain__RWSet *rw = env->rwset;
		uint8_t ver[8];

		if (status[i] != FLEXCHAIN__TX_STATUS__TX_VALID)
			continue;
		if (env->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && env->config)
			config = env->config;
		if (!rw || rw->n_writes == 0)
			continue;
		if (height == 0 && i == 0) {
			rc = fc_errf(errmsg, FC_EINVAL,
				     "block 0 transaction 0 writes state: version 0 means absent");
			goto out;
		}
		lc_put_u64(ver, fc_version_pack(height, (uint32_t)i));
		for (size_t w = 0; w < rw->n_writes; w++) {
			const Flexchain__KVWrite *kw = rw->writes[w];
			const char *k = (const char *)kw->key.data;
			size_t klen = kw->key.len;
			if (kw->is_delete) {
				rocksdb_writebatch_delete_cf(wb, t->state, k, klen);
			} else {
				const char *parts[2] = {(const char *)ver,
							(const char *)kw->value.data};
				size_t plens[2] = {sizeof ver, kw->value.len};
				rocksdb_writebatch_putv_cf(wb, t->state, 1, &k, &klen,
							   kw->value.len ? 2 : 1, parts, plens);
			}
		}
	}

	if (config) {
		rc = fc_wire_encode(&config->base, &cbuf, &clen, errmsg);
		if (rc) {
			fc_errwrap(errmsg, rc, "encode config");
			goto out;
		}
		lc_put_u64(hbuf, height);
		const char *k = META_CONFIG;
		size_t klen = strlen(META_CONFIG);
		const char *parts[2] = {(const char *)hbuf, (const char *)cbuf};
		size_t plens[2] = {sizeof hbuf, clen};
		rocksdb_writebatch_putv_cf(wb, t->meta, 1, &k, &klen, 2, parts, plens);
	}
	lc_put_u64(hbuf, height);
	rocksdb_writebatch_put_cf(wb, t->meta, META_APPLIED_HEIGHT, strlen(META_APPLIED_HEIGHT),
				  (const char *)hbuf, sizeof hbuf);
	rocksdb_writebatch_put_cf(wb, t->meta, META_APPLIED_HASH, strlen(META_APPLIED_HASH),
				  (const char *)hash, FC_HASH_LEN);
out:
	fc_free(cbuf);
	return rc;
}

/* ---------------------------------------------------------------- append */

static int bytes_eq(ProtobufCBinaryData a, const uint8_t *b, size_t blen)
{
	return a.len == blen && (blen == 0 || memcmp(a.data, b, blen) == 0);
}

/* Verdict and certificate name the block, and the certificate's verdicts
 * agree with the verdict. Structure was checked before. */
static int check_decision(const Flexchain__Block *b, const uint8_t hash[FC_HASH_LEN],
			  const Flexchain__Verdict *v, const Flexchain__CommitCertificate *c,
			  char *errmsg)
{
	uint64_t h = b->header->height;

	if (v->height != h || !bytes_eq(v->block_hash, hash, FC_HASH_LEN))
		return fc_errf(errmsg, FC_EMISMATCH, "verdict names height %llu, not this block",
			       (unsigned long long)v->height);
	if (c->height != h || !bytes_eq(c->block_hash, hash, FC_HASH_LEN))
		return fc_errf(errmsg, FC_EMISMATCH,
			       "certificate names height %llu, not this block",
			       (unsigned long long)c->height);
	for (size_t i = 0; i < c->n_verdicts; i++) {
		const Flexchain__Verdict *cv = c->verdicts[i];
		if (!bytes_eq(cv->tx_status, v->tx_status.data, v->tx_status.len) ||
		    !bytes_eq(cv->write_set_hash, v->write_set_hash.data, v->write_set_hash.len))
			return fc_errf(errmsg, FC_EMISMATCH,
				       "certificate verdict %zu disagrees with the verdict", i);
	}
	if (!v->storage_validated != !c->storage_validated)
		return fc_errf(errmsg, FC_EMISMATCH,
			       "verdict and certificate disagree on storage_validated");
	return FC_OK;
}

/* A re-append of height h <= head: no-op if it is the stored block. */
static int append_again(struct fc_ledger *l, const Flexchain__Block *b,
			const uint8_t hash[FC_HASH_LEN], const Flexchain__Verdict *v, char *errmsg)
{
	uint64_t h = b->header->height;
	uint8_t key[8], stored[FC_HASH_LEN];
	char hx[2 * FC_HASH_LEN + 1], sx[2 * FC_HASH_LEN + 1];
	rocksdb_pinnableslice_t *s = NULL;
	ProtobufCMessage *m = NULL;
	const uint8_t *val;
	size_t vlen;
	int rc;

	lc_put_u64(key, h);
	rc =
	    pget(l->db, l->ropts, l->cf[CF_BLOCK_HASH], hash, FC_HASH_LEN, &s, &val, &vlen, errmsg);
	if (rc == FC_OK && vlen == 8 && lc_get_u64(val) == h) {
		/* Same block: the verdict must be the same decision. */
		Flexchain__Verdict *sv;
		rc = get_decoded(l->db, l->ropts, l->cf[CF_VERDICTS], key, sizeof key,
				 &flexchain__verdict__descriptor, FC_WIRE_MAX_MSG, &m, errmsg);
		if (rc) {
			fc_errwrap(errmsg, rc, "read verdict");
			goto out;
		}
		sv = (Flexchain__Verdict *)m;
		if (!bytes_eq(v->tx_status, sv->tx_status.data, sv->tx_status.len))
			rc = fc_errf(errmsg, FC_EMISMATCH,
				     "block already stored with a different verdict");
		goto out;
	}
	if (rc && rc != FC_ENOTFOUND)
		goto out;

	/* A different block at a stored height. */
	if (h == l->head) {
		memcpy(stored, l->head_hash, FC_HASH_LEN);
	} else {
		rc = get_decoded(l->db, l->ropts, l->cf[CF_BLOCKS], key, sizeof key,
				 &flexchain__block__descriptor, FC_WIRE_MAX_BLOCK, &m, errmsg);
		if (rc) {
			fc_errwrap(errmsg, rc, "read stored block");
			goto out;
		}
		rc = fc_hash_header(((Flexchain__Block *)m)->header, stored);
		if (rc) {
			fc_errf(errmsg, rc, "hash stored block");
			goto out;
		}
	}
	fc_canon_hex(hash, FC_HASH_LEN, hx);
	fc_canon_hex(stored, FC_HASH_LEN, sx);
	rc = fc_errf(errmsg, FC_EMISMATCH, "header hash %s differs from stored header hash %s", hx,
		     sx);
out:
	fc_wire_free(m);
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

static int append_locked(struct fc_ledger *l, const Flexchain__Block *b,
			 const Flexchain__Verdict *v, const Flexchain__CommitCertificate *c,
			 uint8_t hash[FC_HASH_LEN], char *errmsg)
{
	static const uint8_t zero[FC_HASH_LEN];
	const uint8_t *expect_prev;
	uint64_t h = b->header->height, expect;
	uint8_t *bbuf = NULL, *vbuf = NULL, *cbuf = NULL;
	size_t blen, vlen, clen;
	uint8_t key[8], wsh[FC_HASH_LEN];
	rocksdb_writebatch_t *wb = NULL;
	char *err = NULL;
	int rc;

	rc = fc_hash_header(b->header, hash);
	if (rc)
		return fc_errf(errmsg, rc, "hash header");
	if (l->has_head && h <= l->head)
		return append_again(l, b, hash, v, errmsg);

	expect = l->has_head ? l->head + 1 : 0;
	if (h != expect)
		return fc_errf(errmsg, FC_EMISMATCH, "expected height %llu",
			       (unsigned long long)expect);
	expect_prev = l->has_head ? l->head_hash : zero;
	if (!bytes_eq(b->header->prev_hash, expect_prev, FC_HASH_LEN)) {
		char px[2 * FC_HASH_LEN + 1], ex[2 * FC_HASH_LEN + 1];
		hex_of(b->header->prev_hash.data, b->header->prev_hash.len, px, sizeof px);
		fc_canon_hex(expect_prev, FC_HASH_LEN, ex);
		if (!l->has_head)
			return fc_errf(errmsg, FC_EMISMATCH,
				       "prev_hash %s of the genesis block is not zero", px);
		return fc_errf(errmsg, FC_EMISMATCH,
			       "prev_hash %s does not match header hash %s of height %llu", px, ex,
			       (unsigned long long)(h - 1));
	}
	rc = check_decision(b, hash, v, c, errmsg);
	if (rc)
		return rc;
	if (!l->skip_hash_checks) {
		rc = fc_canon_check_block_hashes(b, errmsg);
		if (rc)
			return rc;
		rc = fc_hash_write_set(b, v->tx_status.data, v->tx_status.len, wsh);
		if (rc)
			return fc_errf(errmsg, rc, "hash write set");
		if (!bytes_eq(v->write_set_hash, wsh, FC_HASH_LEN))
			return fc_errf(
			    errmsg, FC_EMISMATCH,
			    "verdict write-set hash does not match the block's valid writes");
	}

	rc = fc_wire_encode(&b->base, &bbuf, &blen, errmsg);
	if (!rc)
		rc = fc_wire_encode(&v->base, &vbuf, &vlen, errmsg);
	if (!rc)
		rc = fc_wire_encode(&c->base, &cbuf, &clen, errmsg);
	if (rc) {
		fc_errwrap(errmsg, rc, "encode");
		goto out;
	}
	lc_put_u64(key, h);
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_put_cf(wb, l->cf[CF_BLOCKS], (const char *)key, sizeof key,
				  (const char *)bbuf, blen);
	rocksdb_writebatch_put_cf(wb, l->cf[CF_BLOCK_HASH], (const char *)hash, FC_HASH_LEN,
				  (const char *)key, sizeof key);
	rocksdb_writebatch_put_cf(wb, l->cf[CF_VERDICTS], (const char *)key, sizeof key,
				  (const char *)vbuf, vlen);
	rocksdb_writebatch_put_cf(wb, l->cf[CF_CERTS], (const char *)key, sizeof key,
				  (const char *)cbuf, clen);
	{
		struct effects_target t = {l->db, l->ropts, l->cf[CF_TXINDEX], l->cf[CF_STATE],
					   l->cf[CF_META]};
		rc = stage_effects(&t, wb, b, v->tx_status.data, hash, errmsg);
		if (rc)
			goto out;
	}
	rocksdb_write(l->db, l->wopts, wb, &err);
	if (err) {
		/* The WAL may or may not hold the batch: refuse to guess. */
		l->failed = 1;
		rc = fc_errwrap(errmsg, rdb_error(errmsg, err), "synced write");
		fc_log(FC_LOG_ERROR, "ledger", "append write failed, handle disabled",
		       "height=%llu", (unsigned long long)h);
		goto out;
	}
	l->has_head = 1;
	l->head = h;
	memcpy(l->head_hash, hash, FC_HASH_LEN);
	pthread_cond_broadcast(&l->cond);
out:
	if (wb)
		rocksdb_writebatch_destroy(wb);
	fc_free(cbuf);
	fc_free(vbuf);
	fc_free(bbuf);
	return rc;
}

int fc_ledger_append(struct fc_ledger *l, const Flexchain__Block *block,
		     const Flexchain__Verdict *verdict, const Flexchain__CommitCertificate *cert,
		     char *errmsg)
{
	uint8_t hash[FC_HASH_LEN];
	unsigned long long h;
	int rc;

	if (!l || !block || !verdict || !cert)
		return fc_errf(errmsg, FC_EINVAL, "append: NULL argument");
	if (!block->header)
		return fc_errf(errmsg, FC_EPROTO, "append: block has no header");
	h = (unsigned long long)block->header->height;

	rc = fc_wire_check_block(block, errmsg);
	if (rc)
		return fc_errwrap(errmsg, rc, "append height %llu: block", h);
	rc = fc_wire_check_verdict(verdict, block->n_envelopes, errmsg);
	if (rc)
		return fc_errwrap(errmsg, rc, "append height %llu: verdict", h);
	rc = fc_wire_check_certificate(cert, errmsg);
	if (rc)
		return fc_errwrap(errmsg, rc, "append height %llu: certificate", h);

	pthread_mutex_lock(&l->mu);
	if (l->failed)
		rc = fc_errf(
		    errmsg, FC_ESTATE,
		    "append height %llu: an earlier synced write failed; reopen the ledger", h);
	else
		rc = append_locked(l, block, verdict, cert, hash, errmsg);
	pthread_mutex_unlock(&l->mu);
	if (rc && rc != FC_ESTATE)
		fc_errwrap(errmsg, rc, "append height %llu", h);
	return rc;
}

/* ------------------------------------------------------------------ head */

int fc_ledger_head(struct fc_ledger *l, uint64_t *height, uint8_t hash[FC_HASH_LEN])
{
	int rc = FC_ENOTFOUND;

	if (!l)
		return FC_EINVAL;
	pthread_mutex_lock(&l->mu);
	if (l->has_head) {
		if (height)
			*height = l->head;
		if (hash)
			memcpy(hash, l->head_hash, FC_HASH_LEN);
		rc = FC_OK;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int fc_ledger_applied_height(struct fc_ledger *l, uint64_t *height)
{
	return fc_ledger_head(l, height, NULL);
}

int fc_ledger_wait(struct fc_ledger *l, uint64_t height, int timeout_ms)
{
	struct timespec dl;
	int rc = FC_OK;

	if (!l)
		return FC_EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms >= 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&l->mu);
	while (!(l->has_head && l->head >= height)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&l->cond, &l->mu);
		} else if (pthread_cond_timedwait(&l->cond, &l->mu, &dl) == ETIMEDOUT) {
			if (!(l->has_head && l->head >= height))
				rc = FC_ETIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* ----------------------------------------------------------------- reads */

static int get_by_height(struct fc_ledger *l, enum cf_id cf, uint64_t height,
			 const ProtobufCMessageDescriptor *desc, size_t max, ProtobufCMessage **out,
			 const char *what, char *errmsg)
{
	uint8_t key[8];
	int rc;

	if (!l || !out) {
		if (out)
			*out = NULL;
		return fc_errf(errmsg, FC_EINVAL, "get %s: NULL argument", what);
	}
	lc_put_u64(key, height);
	rc = get_decoded(l->db, l->ropts, l->cf[cf], key, sizeof key, desc, max, out, errmsg);
	if (rc == FC_ENOTFOUND)
		return fc_errf(errmsg, rc, "get %s %llu: not found", what,
			       (unsigned long long)height);
	if (rc)
		return fc_errwrap(errmsg, rc, "get %s %llu", what, (unsigned long long)height);
	return FC_OK;
}

int fc_ledger_get_block(struct fc_ledger *l, uint64_t height, Flexchain__Block **out, char *errmsg)
{
	return get_by_height(l, CF_BLOCKS, height, &flexchain__block__descriptor, FC_WIRE_MAX_BLOCK,
			     (ProtobufCMessage **)out, "block", errmsg);
}

int fc_ledger_get_verdict(struct fc_ledger *l, uint64_t height, Flexchain__Verdict **out,
			  char *errmsg)
{
	return get_by_height(l, CF_VERDICTS, height, &flexchain__verdict__descriptor,
			     FC_WIRE_MAX_MSG, (ProtobufCMessage **)out, "verdict", errmsg);
}

int fc_ledger_get_cert(struct fc_ledger *l, uint64_t height, Flexchain__CommitCertificate **out,
		       char *errmsg)
{
	return get_by_height(l, CF_CERTS, height, &flexchain__commit_certificate__descriptor,
			     FC_WIRE_MAX_MSG, (ProtobufCMessage **)out, "certificate", errmsg);
}

int fc_ledger_get_block_raw(struct fc_ledger *l, uint64_t height, uint8_t **buf, size_t *len,
			    char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	const uint8_t *v;
	uint8_t key[8];
	size_t vlen;
	int rc;

	if (!l || !buf || !len)
		return fc_errf(errmsg, FC_EINVAL, "get block: NULL argument");
	*buf = NULL;
	lc_put_u64(key, height);
	rc = pget(l->db, l->ropts, l->cf[CF_BLOCKS], key, sizeof key, &s, &v, &vlen, errmsg);
	if (rc == FC_ENOTFOUND) {
		fc_errf(errmsg, rc, "get block %llu: not found", (unsigned long long)height);
		goto out;
	}
	if (rc) {
		fc_errwrap(errmsg, rc, "get block %llu", (unsigned long long)height);
		goto out;
	}
	*buf = fc_memdup(v, vlen);
	if (!*buf) {
		rc = fc_errf(errmsg, FC_ENOMEM, "get block %llu: out of memory",
			     (unsigned long long)height);
		goto out;
	}
	*len = vlen;
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

int fc_ledger_height_by_hash(struct fc_ledger *l, const uint8_t hash[FC_HASH_LEN], uint64_t *height,
			     char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	char hx[2 * FC_HASH_LEN + 1];
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!l || !hash || !height)
		return fc_errf(errmsg, FC_EINVAL, "get block by hash: NULL argument");
	fc_canon_hex(hash, FC_HASH_LEN, hx);
	rc = pget(l->db, l->ropts, l->cf[CF_BLOCK_HASH], hash, FC_HASH_LEN, &s, &v, &vlen, errmsg);
	if (rc == FC_ENOTFOUND) {
		fc_errf(errmsg, rc, "get block by hash %s: not found", hx);
		goto out;
	}
	if (rc) {
		fc_errwrap(errmsg, rc, "get block by hash %s", hx);
		goto out;
	}
	if (vlen != 8) {
		rc = fc_errf(errmsg, FC_ESTORAGE, "block hash %s: height record of %zu bytes", hx,
			     vlen);
		goto out;
	}
	*height = lc_get_u64(v);
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

int fc_ledger_get_block_by_hash(struct fc_ledger *l, const uint8_t hash[FC_HASH_LEN],
				Flexchain__Block **out, char *errmsg)
{
	uint64_t h;
	int rc;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "get block by hash: NULL argument");
	*out = NULL;
	rc = fc_ledger_height_by_hash(l, hash, &h, errmsg);
	if (rc)
		return rc;
	return fc_ledger_get_block(l, h, out, errmsg);
}

int fc_ledger_get_config(struct fc_ledger *l, Flexchain__ConfigTx **out, uint64_t *height,
			 char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	ProtobufCMessage *m = NULL;
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!l || !out)
		return fc_errf(errmsg, FC_EINVAL, "get config: NULL argument");
	*out = NULL;
	rc = pget(l->db, l->ropts, l->cf[CF_META], META_CONFIG, strlen(META_CONFIG), &s, &v, &vlen,
		  errmsg);
	if (rc == FC_ENOTFOUND) {
		fc_errf(errmsg, rc, "get config: no config transaction applied");
		goto out;
	}
	if (rc) {
		fc_errwrap(errmsg, rc, "get config");
		goto out;
	}
	if (vlen < 8) {
		rc = fc_errf(errmsg, FC_ESTORAGE, "get config: record of %zu bytes", vlen);
		goto out;
	}
	rc = fc_wire_decode(&flexchain__config_tx__descriptor, v + 8, vlen - 8, FC_WIRE_MAX_MSG, &m,
			    errmsg);
	if (rc) {
		if (rc == FC_EPROTO || rc == FC_ETOOBIG)
			rc = FC_ESTORAGE;
		fc_errwrap(errmsg, rc, "get config");
		goto out;
	}
	if (height)
		*height = lc_get_u64(v);
	*out = (Flexchain__ConfigTx *)m;
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

int fc_ledger_get_tx(struct fc_ledger *l, const char *tx_id, struct fc_ledger_tx *out, char *errmsg)
{
	rocksdb_pinnableslice_t *s = NULL;
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (!l || !tx_id || !out)
		return fc_errf(errmsg, FC_EINVAL, "get tx: NULL argument");
	rc = pget(l->db, l->ropts, l->cf[CF_TXINDEX], tx_id, strlen(tx_id), &s, &v, &vlen, errmsg);
	if (rc == FC_ENOTFOUND) {
		fc_errf(errmsg, rc, "get tx %.64s: not found", tx_id);
		goto out;
	}
	if (rc) {
		fc_errwrap(errmsg, rc, "get tx %.64s", tx_id);
		goto out;
	}
	if (vlen != LC_TXINDEX_LEN) {
		rc = fc_errf(errmsg, FC_ESTORAGE, "get tx %.64s: record of %zu bytes", tx_id, vlen);
		goto out;
	}
	lc_get_txindex(v, &out->height, &out->index, &out->status);
out:
	rocksdb_pinnableslice_destroy(s);
	return rc;
}

/* ----------------------------------------------------------------- state */

void fc_ledger_kv_release(struct fc_ledger_kv *kvs, size_t n)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < n; i++) {
		fc_free(kvs[i].value);
		kvs[i].value = NULL;
		kvs[i].value_len = 0;
		kvs[i].found = 0;
		kvs[i].version = 0;
	}
}

int fc_ledger_state_get_batch(struct fc_ledger *l, struct fc_ledger_kv *kvs, size_t n, char *errmsg)
{
	const rocksdb_snapshot_t *snap = NULL;
	rocksdb_readoptions_t *ro = NULL;
	const char **keys = NULL;
	size_t *klens = NULL, *vlens = NULL;
	const rocksdb_column_family_handle_t **cfs = NULL;
	char **vals = NULL, **errs = NULL;
	int rc = FC_OK;

	if (!l || (!kvs && n))
		return fc_errf(errmsg, FC_EINVAL, "state get: NULL argument");
	for (size_t i = 0; i < n; i++) {
		kvs[i].found = 0;
		kvs[i].version = 0;
		kvs[i].value = NULL;
		kvs[i].value_len = 0;
	}
	if (n == 0)
		return FC_OK;
	keys = fc_calloc(n, sizeof *keys);
	klens = fc_calloc(n, sizeof *klens);
	vlens = fc_calloc(n, sizeof *vlens);
	cfs = fc_calloc(n, sizeof *cfs);
	vals = fc_calloc(n, sizeof *vals);
	errs = fc_calloc(n, sizeof *errs);
	if (!keys || !klens || !vlens || !cfs || !vals || !errs) {
		rc = fc_errf(errmsg, FC_ENOMEM, "state get: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!kvs[i].key && kvs[i].key_len) {
			rc = fc_errf(errmsg, FC_EINVAL, "state get: key %zu is NULL", i);
			goto out;
		}
		keys[i] = kvs[i].key ? (const char *)kvs[i].key : "";
		klens[i] = kvs[i].key_len;
		cfs[i] = l->cf[CF_STATE];
	}
	/* One snapshot: every key is read at the same applied height. */
	snap = rocksdb_create_snapshot(l->db);
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, snap);
	rocksdb_multi_get_cf(l->db, ro, cfs, n, keys, klens, vals, vlens, errs);
	for (size_t i = 0; i < n; i++) {
		if (errs[i]) {
			if (rc == FC_OK)
				rc = fc_errwrap(errmsg, rdb_error(errmsg, errs[i]),
						"state get key %zu", i);
			else
				rocksdb_free(errs[i]);
			continue;
		}
		if (!vals[i] || rc)
			continue;
		if (vlens[i] < 8) {
			rc = fc_errf(errmsg, FC_ESTORAGE, "state get key %zu: record of %zu bytes",
				     i, vlens[i]);
			continue;
		}
		kvs[i].value = fc_memdup(vals[i] + 8, vlens[i] - 8);
		if (!kvs[i].value) {
			rc = fc_errf(errmsg, FC_ENOMEM, "state get: out of memory");
			continue;
		}
		kvs[i].value_len = vlens[i] - 8;
		kvs[i].version = lc_get_u64((const uint8_t *)vals[i]);
		kvs[i].found = 1;
	}
	for (size_t i = 0; i < n; i++)
		rocksdb_free(vals[i]);
	if (rc)
		fc_ledger_kv_release(kvs, n);
out:
	if (ro)
		rocksdb_readoptions_destroy(ro);
	if (snap)
		rocksdb_release_snapshot(l->db, snap);
	fc_free(errs);
	fc_free(vals);
	fc_free(cfs);
	fc_free(vlens);
	fc_free(klens);
	fc_free(keys);
	return rc;
}

int fc_ledger_state_get(struct fc_ledger *l, struct fc_ledger_kv *kv, char *errmsg)
{
	return fc_ledger_state_get_batch(l, kv, kv ? 1 : 0, errmsg);
}

/* -------------------------------------------------------------- iterator */

struct fc_ledger_iter {
	struct fc_ledger *l;
	uint64_t next;
	uint64_t to;
	unsigned flags;
	int done;
	rocksdb_pinnableslice_t *s[3];
	struct fc_ledger_entry e;
};

static void iter_release(struct fc_ledger_iter *it)
{
	fc_wire_free(it->e.block ? &it->e.block->base : NULL);
	fc_wire_free(it->e.verdict ? &it->e.verdict->base : NULL);
	fc_wire_free(it->e.cert ? &it->e.cert->base : NULL);
	for (int i = 0; i < 3; i++) {
		rocksdb_pinnableslice_destroy(it->s[i]);
		it->s[i] = NULL;
	}
	memset(&it->e, 0, sizeof it->e);
}

int fc_ledger_iter_from(struct fc_ledger *l, uint64_t from, uint64_t to, unsigned flags,
			struct fc_ledger_iter **out, char *errmsg)
{
	struct fc_ledger_iter *it;

	if (!l || !out)
		return fc_errf(errmsg, FC_EINVAL, "iterator: NULL argument");
	*out = NULL;
	if (flags & ~FC_LEDGER_ITER_RAW)
		return fc_errf(errmsg, FC_EINVAL, "iterator: unknown flags 0x%x", flags);
	it = fc_calloc(1, sizeof *it);
	if (!it)
		return fc_errf(errmsg, FC_ENOMEM, "iterator: out of memory");
	it->l = l;
	it->next = from;
	it->to = to;
	it->flags = flags;
	it->done = from > to;
	*out = it;
	return FC_OK;
}

int fc_ledger_iter_next(struct fc_ledger_iter *it, const struct fc_ledger_entry **out, char *errmsg)
{
	static const enum cf_id cfs[3] = {CF_BLOCKS, CF_VERDICTS, CF_CERTS};
	static const char *const what[3] = {"block", "verdict", "certificate"};
	const uint8_t *v[3];
	size_t vlen[3];
	uint8_t key[8];
	int rc = FC_OK;

	if (!it || !out)
		return fc_errf(errmsg, FC_EINVAL, "iterator: NULL argument");
	*out = NULL;
	iter_release(it);
	if (it->done)
		return FC_OK;
	lc_put_u64(key, it->next);
	/* The batch that wrote the block wrote its verdict and certificate:
	 * once the block is visible they are too. */
	for (int i = 0; i < 3; i++) {
		rc = pget(it->l->db, it->l->ropts, it->l->cf[cfs[i]], key, sizeof key, &it->s[i],
			  &v[i], &vlen[i], errmsg);
		if (rc == FC_ENOTFOUND && i == 0)
			return FC_OK; /* caught up with the head */
		if (rc == FC_ENOTFOUND)
			rc = fc_errf(errmsg, FC_ESTORAGE, "%s missing", what[i]);
		if (rc)
			goto fail;
	}
	if (!(it->flags & FC_LEDGER_ITER_RAW)) {
		ProtobufCMessage *m[3] = {NULL, NULL, NULL};
		static const ProtobufCMessageDescriptor *const desc[3] = {
		    &flexchain__block__descriptor, &flexchain__verdict__descriptor,
		    &flexchain__commit_certificate__descriptor};
		for (int i = 0; i < 3 && rc == FC_OK; i++) {
			rc = fc_wire_decode(desc[i], v[i], vlen[i],
					    i == 0 ? FC_WIRE_MAX_BLOCK : FC_WIRE_MAX_MSG, &m[i],
					    errmsg);
			if (rc == FC_EPROTO || rc == FC_ETOOBIG)
				rc =
				    fc_errwrap(errmsg, FC_ESTORAGE, "stored %s malformed", what[i]);
		}
		it->e.block = (Flexchain__Block *)m[0];
		it->e.verdict = (Flexchain__Verdict *)m[1];
		it->e.cert = (Flexchain__CommitCertificate *)m[2];
		if (rc)
			goto fail;
	}
	it->e.height = it->next;
	it->e.block_raw = v[0];
	it->e.block_len = vlen[0];
	it->e.verdict_raw = v[1];
	it->e.verdict_len = vlen[1];
	it->e.cert_raw = v[2];
	it->e.cert_len = vlen[2];
	if (it->next == it->to)
		it->done = 1;
	else
		it->next++;
	*out = &it->e;
	return FC_OK;
fail:
	iter_release(it);
	return fc_errwrap(errmsg, rc, "iterator at height %llu", (unsigned long long)it->next);
}

void fc_ledger_iter_destroy(struct fc_ledger_iter *it)
{
	if (!it)
		return;
	iter_release(it);
	fc_free(it);
}

/* ------------------------------------------------------------ verification */

enum scratch_cf { SC_DEFAULT, SC_TXINDEX, SC_STATE, SC_META, SC__COUNT };

struct scratch {
	rocksdb_env_t *env;
	rocksdb_options_t *opts;
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[SC__COUNT];
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
	char *dir; /* on disk: created by us, removed at close */
	int created;
};

static void scratch_close(struct scratch *s)
{
	if (s->db) {
		for (int i = 0; i < SC__COUNT; i++)
			rocksdb_column_family_handle_destroy(s->cf[i]);
		rocksdb_close(s->db);
		s->db = NULL;
	}
	if (s->created) {
		char *err = NULL;
		rocksdb_destroy_db(s->opts, s->dir, &err);
		if (err) {
			fc_log(FC_LOG_WARN, "ledger", "cannot remove scratch database",
			       "dir=%s err=\"%s\"", s->dir, err);
			rocksdb_free(err);
		}
		/* destroy_db normally removes the directory itself */
		if (s->env == NULL && rmdir(s->dir) != 0 && errno != ENOENT)
			fc_log(FC_LOG_WARN, "ledger", "cannot remove scratch directory", "dir=%s",
			       s->dir);
	}
	if (s->ro)
		rocksdb_readoptions_destroy(s->ro);
	if (s->wo)
		rocksdb_writeoptions_destroy(s->wo);
	if (s->opts)
		rocksdb_options_destroy(s->opts);
	if (s->env)
		rocksdb_env_destroy(s->env);
	fc_free(s->dir);
	memset(s, 0, sizeof *s);
}

static int scratch_open(struct scratch *s, const char *scratch_dir, char *errmsg)
{
	static const char *const names[SC__COUNT] = {"default", "txindex", "state", "meta"};
	const rocksdb_options_t *cfo[SC__COUNT];
	char *err = NULL;
	int rc;

	memset(s, 0, sizeof *s);
	if (scratch_dir) {
		size_t n = strlen(scratch_dir) + sizeof "/ledger-verify-XXXXXX";
		s->dir = fc_malloc(n);
		if (!s->dir)
			return fc_errf(errmsg, FC_ENOMEM, "scratch: out of memory");
		snprintf(s->dir, n, "%s/ledger-verify-XXXXXX", scratch_dir);
		if (!mkdtemp(s->dir)) {
			rc = fc_errf(errmsg, fc_err_from_errno(errno), "scratch: mkdtemp %s: %s",
				     s->dir, strerror(errno));
			fc_free(s->dir);
			s->dir = NULL;
			return rc;
		}
	} else {
		s->dir = fc_strdup("/fc-ledger-verify");
		if (!s->dir)
			return fc_errf(errmsg, FC_ENOMEM, "scratch: out of memory");
		s->env = rocksdb_create_mem_env();
	}
	s->created = 1;
	s->opts = rocksdb_options_create();
	if (s->env)
		rocksdb_options_set_env(s->opts, s->env);
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_create_missing_column_families(s->opts, 1);
	rocksdb_options_set_info_log_level(s->opts, 3 /* ERROR */);
	for (int i = 0; i < SC__COUNT; i++)
		cfo[i] = s->opts;
	s->db = rocksdb_open_column_families(s->opts, s->dir, SC__COUNT, names, cfo, s->cf, &err);
	if (err) {
		s->db = NULL;
		rc = fc_errwrap(errmsg, rdb_error(errmsg, err), "scratch: open %s", s->dir);
		scratch_close(s);
		return rc;
	}
	s->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(s->wo, 1);
	s->ro = rocksdb_readoptions_create();
	rc = put_meta_format(s->db, s->wo, s->cf[SC_META], errmsg);
	if (rc)
		scratch_close(s);
	return rc;
}

/* Describes a stored value of column family `name` for a difference. */
static void describe(const char *name, const uint8_t *v, size_t n, char *out, size_t cap)
{
	char hx[67];
	if (!v) {
		snprintf(out, cap, "none");
	} else if (strcmp(name, "state") == 0 && n >= 8) {
		snprintf(out, cap, "version 0x%llx, %zu value bytes",
			 (unsigned long long)lc_get_u64(v), n - 8);
	} else if (strcmp(name, "txindex") == 0 && n == LC_TXINDEX_LEN) {
		uint64_t h;
		uint32_t i;
		int st;
		lc_get_txindex(v, &h, &i, &st);
		snprintf(out, cap, "height %llu index %u status %d", (unsigned long long)h, i, st);
	} else {
		hex_of(v, n, hx, sizeof hx);
		snprintf(out, cap, "%zu bytes %s", n, hx);
	}
}

/* Walks two column families in key order; reports the first difference. */
static int compare_cf(const char *name, rocksdb_t *adb, const rocksdb_readoptions_t *aro,
		      rocksdb_column_family_handle_t *acf, rocksdb_t *bdb,
		      const rocksdb_readoptions_t *bro, rocksdb_column_family_handle_t *bcf,
		      uint64_t *count, char *errmsg)
{
	rocksdb_iterator_t *a = rocksdb_create_iterator_cf(adb, aro, acf);
	rocksdb_iterator_t *b = rocksdb_create_iterator_cf(bdb, bro, bcf);
	char *err = NULL;
	int rc = FC_OK;

	*count = 0;
	rocksdb_iter_seek_to_first(a);
	rocksdb_iter_seek_to_first(b);
	for (;;) {
		int av = rocksdb_iter_valid(a), bv = rocksdb_iter_valid(b);
		const char *ak = NULL, *bk = NULL, *avl = NULL, *bvl = NULL;
		size_t akl = 0, bkl = 0, avn = 0, bvn = 0;
		int c;

		if (!av && !bv)
			break;
		if (av)
			ak = rocksdb_iter_key(a, &akl);
		if (bv)
			bk = rocksdb_iter_key(b, &bkl);
		if (!av) {
			c = 1;
		} else if (!bv) {
			c = -1;
		} else {
			size_t m = akl < bkl ? akl : bkl;
			c = memcmp(ak, bk, m);
			if (c == 0 && akl != bkl)
				c = akl < bkl ? -1 : 1;
		}
		if (c <= 0)
			avl = rocksdb_iter_value(a, &avn);
		if (c >= 0)
			bvl = rocksdb_iter_value(b, &bvn);
		if (c != 0 || avn != bvn || memcmp(avl, bvl, avn) != 0) {
			char kx[67], ad[100], bd[100];
			const uint8_t *k = (const uint8_t *)(c <= 0 ? ak : bk);
			hex_of(k, c <= 0 ? akl : bkl, kx, sizeof kx);
			describe(name, (const uint8_t *)avl, avn, ad, sizeof ad);
			describe(name, (const uint8_t *)bvl, bvn, bd, sizeof bd);
			rc = fc_errf(errmsg, FC_EMISMATCH,
				     "%s key %s (hex): replay has %s, stored has %s", name, kx, ad,
				     bd);
			goto out;
		}
		(*count)++;
		rocksdb_iter_next(a);
		rocksdb_iter_next(b);
	}
	rocksdb_iter_get_error(a, &err);
	if (!err)
		rocksdb_iter_get_error(b, &err);
	if (err)
		rc = fc_errwrap(errmsg, rdb_error(errmsg, err), "compare %s", name);
out:
	rocksdb_iter_destroy(b);
	rocksdb_iter_destroy(a);
	return rc;
}

static int count_keys(rocksdb_t *db, const rocksdb_readoptions_t *ro,
		      rocksdb_column_family_handle_t *cf, uint64_t *n, char *errmsg)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf);
	char *err = NULL;
	int rc = FC_OK;

	*n = 0;
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
		(*n)++;
	rocksdb_iter_get_error(it, &err);
	if (err)
		rc = rdb_error(errmsg, err);
	rocksdb_iter_destroy(it);
	return rc;
}

/* Checks one stored block against the chain so far, and replays it. */
static int verify_block(struct fc_ledger *l, const rocksdb_readoptions_t *ro, struct scratch *s,
			uint64_t h, uint8_t prev[FC_HASH_LEN], uint64_t *txs, char *errmsg)
{
	static const uint8_t zero[FC_HASH_LEN];
	ProtobufCMessage *mb = NULL, *mv = NULL, *mc = NULL;
	const Flexchain__Block *b;
	const Flexchain__Verdict *v;
	uint8_t key[8], hash[FC_HASH_LEN], hash2[FC_HASH_LEN];
	rocksdb_pinnableslice_t *sl = NULL;
	rocksdb_writebatch_t *wb = NULL;
	const uint8_t *val;
	size_t vlen;
	char *err = NULL;
	int rc;

	lc_put_u64(key, h);
	rc = get_decoded(l->db, ro, l->cf[CF_BLOCKS], key, sizeof key,
			 &flexchain__block__descriptor, FC_WIRE_MAX_BLOCK, &mb, errmsg);
	if (rc == FC_ENOTFOUND)
		rc = fc_errf(errmsg, FC_EMISMATCH, "missing");
	if (rc)
		goto out;
	b = (const Flexchain__Block *)mb;
	rc = fc_wire_check_block(b, errmsg);
	if (rc)
		goto out;
	if (b->header->height != h) {
		rc = fc_errf(errmsg, FC_EMISMATCH, "header says height %llu",
			     (unsigned long long)b->header->height);
		goto out;
	}
	if (!bytes_eq(b->header->prev_hash, h ? prev : zero, FC_HASH_LEN)) {
		rc = fc_errf(errmsg, FC_EMISMATCH,
			     "prev_hash does not match the header hash of height %llu",
			     (unsigned long long)(h - 1));
		goto out;
	}
	rc = fc_hash_header(b->header, hash);
	if (rc) {
		fc_errf(errmsg, rc, "hash header");
		goto out;
	}
	rc = pget(l->db, ro, l->cf[CF_BLOCK_HASH], hash, FC_HASH_LEN, &sl, &val, &vlen, errmsg);
	if (rc == FC_ENOTFOUND || (rc == FC_OK && (vlen != 8 || lc_get_u64(val) != h)))
		rc = fc_errf(errmsg, FC_EMISMATCH, "hash index does not map its header hash to it");
	if (rc)
		goto out;
	rc = get_decoded(l->db, ro, l->cf[CF_VERDICTS], key, sizeof key,
			 &flexchain__verdict__descriptor, FC_WIRE_MAX_MSG, &mv, errmsg);
	if (!rc)
		rc = get_decoded(l->db, ro, l->cf[CF_CERTS], key, sizeof key,
				 &flexchain__commit_certificate__descriptor, FC_WIRE_MAX_MSG, &mc,
				 errmsg);
	if (rc == FC_ENOTFOUND)
		rc = fc_errf(errmsg, FC_EMISMATCH, "verdict or certificate missing");
	if (rc)
		goto out;
	v = (const Flexchain__Verdict *)mv;
	rc = fc_wire_check_verdict(v, b->n_envelopes, errmsg);
	if (!rc)
		rc = fc_wire_check_certificate((const Flexchain__CommitCertificate *)mc, errmsg);
	if (!rc)
		rc = check_decision(b, hash, v, (const Flexchain__CommitCertificate *)mc, errmsg);
	if (rc) {
		if (rc == FC_EPROTO)
			rc = FC_EMISMATCH;
		goto out;
	}
	/* The content hashes, always (appends may have skipped them). */
	rc = fc_canon_check_block_hashes(b, errmsg);
	if (rc)
		goto out;
	rc = fc_hash_write_set(b, v->tx_status.data, v->tx_status.len, hash2);
	if (rc) {
		fc_errf(errmsg, rc, "hash write set");
		goto out;
	}
	if (!bytes_eq(v->write_set_hash, hash2, FC_HASH_LEN)) {
		rc = fc_errf(errmsg, FC_EMISMATCH,
			     "verdict write-set hash does not match the block's valid writes");
		goto out;
	}

	wb = rocksdb_writebatch_create();
	{
		struct effects_target t = {s->db, s->ro, s->cf[SC_TXINDEX], s->cf[SC_STATE],
					   s->cf[SC_META]};
		rc = stage_effects(&t, wb, b, v->tx_status.data, hash, errmsg);
		if (rc)
			goto out;
	}
	rocksdb_write(s->db, s->wo, wb, &err);
	if (err) {
		rc = fc_errwrap(errmsg, rdb_error(errmsg, err), "scratch write");
		goto out;
	}
	memcpy(prev, hash, FC_HASH_LEN);
	*txs += b->n_envelopes;
out:
	if (wb)
		rocksdb_writebatch_destroy(wb);
	rocksdb_pinnableslice_destroy(sl);
	fc_wire_free(mc);
	fc_wire_free(mv);
	fc_wire_free(mb);
	return rc;
}

int fc_ledger_verify(struct fc_ledger *l, const char *scratch_dir,
		     struct fc_ledger_verify_report *rep, char *errmsg)
{
	struct fc_ledger_verify_report r = {0};
	const rocksdb_snapshot_t *snap = NULL;
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_pinnableslice_t *sl = NULL;
	struct scratch s;
	uint8_t prev[FC_HASH_LEN] = {0};
	const uint8_t *val;
	size_t vlen;
	uint64_t applied = 0, last, n;
	int rc, have = 0;

	memset(&s, 0, sizeof s);
	if (!l)
		return fc_errf(errmsg, FC_EINVAL, "verify: NULL argument");
	if (rep)
		memset(rep, 0, sizeof *rep);
	snap = rocksdb_create_snapshot(l->db);
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, snap);

	rc = pget(l->db, ro, l->cf[CF_META], META_APPLIED_HEIGHT, strlen(META_APPLIED_HEIGHT), &sl,
		  &val, &vlen, errmsg);
	if (rc == FC_OK) {
		if (vlen != 8) {
			rc = fc_errf(errmsg, FC_EMISMATCH, "meta applied height malformed");
			goto out;
		}
		applied = lc_get_u64(val);
		have = 1;
	} else if (rc != FC_ENOTFOUND) {
		goto out;
	}
	rc = FC_OK;

	/* Nothing beyond the applied height in the height-keyed families. */
	{
		static const enum cf_id hcf[3] = {CF_BLOCKS, CF_VERDICTS, CF_CERTS};
		for (int i = 0; i < 3; i++) {
			rc = last_height(l->db, ro, l->cf[hcf[i]], &last, errmsg);
			if (rc == FC_ENOTFOUND && !have) {
				rc = FC_OK;
				continue;
			}
			if (rc == FC_OK && (!have || last != applied))
				rc = fc_errf(errmsg, FC_EMISMATCH,
					     "%s: last height %llu, applied height %s%llu",
					     cf_names[hcf[i]], (unsigned long long)last,
					     have ? "" : "none ", (unsigned long long)applied);
			else if (rc == FC_ENOTFOUND)
				rc = fc_errf(errmsg, FC_EMISMATCH, "%s: empty, applied height %llu",
					     cf_names[hcf[i]], (unsigned long long)applied);
			if (rc)
				goto out;
		}
	}

	rc = scratch_open(&s, scratch_dir, errmsg);
	if (rc)
		goto out;
	for (uint64_t h = 0; have && h <= applied; h++) {
		rc = verify_block(l, ro, &s, h, prev, &r.txs, errmsg);
		if (rc) {
			fc_errwrap(errmsg, rc, "block %llu", (unsigned long long)h);
			goto out;
		}
		r.blocks++;
	}
	/* Hash index: one entry per block (each block's entry was checked). */
	rc = count_keys(l->db, ro, l->cf[CF_BLOCK_HASH], &n, errmsg);
	if (rc)
		goto out;
	if (n != r.blocks) {
		rc = fc_errf(errmsg, FC_EMISMATCH, "block_hash has %llu entries for %llu blocks",
			     (unsigned long long)n, (unsigned long long)r.blocks);
		goto out;
	}
	rc = compare_cf("state", s.db, s.ro, s.cf[SC_STATE], l->db, ro, l->cf[CF_STATE],
			&r.state_keys, errmsg);
	if (!rc)
		rc = compare_cf("txindex", s.db, s.ro, s.cf[SC_TXINDEX], l->db, ro,
				l->cf[CF_TXINDEX], &n, errmsg);
	if (!rc)
		rc = compare_cf("meta", s.db, s.ro, s.cf[SC_META], l->db, ro, l->cf[CF_META], &n,
				errmsg);
out:
	scratch_close(&s);
	rocksdb_pinnableslice_destroy(sl);
	rocksdb_readoptions_destroy(ro);
	rocksdb_release_snapshot(l->db, snap);
	if (rc)
		fc_errwrap(errmsg, rc, "verify");
	if (rep)
		*rep = r;
	return rc;
}
