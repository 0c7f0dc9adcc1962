/* The memory pool: a node (fc_mempool) and one-sided clients (fc_memclient)
 * over the tcp transport on 127.0.0.1, or over the backend named by
 * FC_TRANSPORT_BACKEND on FC_TRANSPORT_HOST (what tests/rxe sets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_memclient.h"
#include "fc_mempool.h"
#include "fc_transport.h"

#define VLEN 100
#define NKEYS 64

static enum fc_transport_kind g_kind = FC_TRANSPORT_TCP;
static const char *g_host = "127.0.0.1";

#define CHECK_OK(expr, err)                                                              \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != FC_OK)                                                        \
			fail_msg("%s -> %s: %s", #expr, fc_strerror(rc_), (err));        \
	} while (0)

/* A value that checks itself: the version, then bytes derived from key
 * index and version. */
static void make_value(unsigned char *v, uint32_t key, uint64_t ver)
{
	uint64_t x = ((uint64_t)key * 0x9e3779b97f4a7c15ull) ^ ver;

	memcpy(v, &ver, 8);
	for (int i = 8; i < VLEN; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		v[i] = (unsigned char)(x >> 56);
	}
}

static int value_ok(const unsigned char *v, uint32_t len, uint32_t key, uint64_t ver)
{
	unsigned char want[VLEN];

	make_value(want, key, ver);
	return len == VLEN && memcmp(v, want, VLEN) == 0;
}

static void key_name(char *buf, uint32_t k)
{
	snprintf(buf, 32, "key-%06u", k);
}

struct fixture {
	struct fc_mempool *mp;
	char err[FC_ERRMSG_LEN];
};

static struct fc_mempool *node_up(uint32_t grace_ms, uint32_t grace_blocks)
{
	struct fc_mempool_config c;
	struct fc_mempool *mp = NULL;
	char err[FC_ERRMSG_LEN] = "";

	fc_mempool_config_init(&c);
	c.region_bytes = 8u << 20;
	c.use_hugepages = 0;
	c.transport = g_kind;
	c.host = g_host;
	c.grace_ms = grace_ms;
	c.grace_blocks = grace_blocks;
	CHECK_OK(fc_mempool_create(&c, &mp, err), err);
	return mp;
}

static struct fc_memclient *client_up(struct fc_mempool *mp, int data_cache)
{
	struct fc_memclient_config c;
	struct fc_memclient *mc = NULL;
	char err[FC_ERRMSG_LEN] = "";

	fc_memclient_config_init(&c);
	c.transport = g_kind;
	c.addr_cache_entries = 4096;
	c.data_cache_entries = data_cache ? 256 : 0;
	CHECK_OK(fc_memclient_connect(g_host, fc_mempool_port(mp), &c, &mc, err), err);
	return mc;
}

/* Applies block h writing keys [k0, k1) at version (h, i). */
static void apply_range(struct fc_mempool *mp, uint64_t h, uint32_t k0, uint32_t k1)
{
	struct fc_mempool_write *w = calloc(k1 - k0, sizeof *w);
	unsigned char(*vals)[VLEN] = calloc(k1 - k0, VLEN);
	char(*keys)[32] = calloc(k1 - k0, 32);
	char err[FC_ERRMSG_LEN] = "";

	assert_non_null(w);
	for (uint32_t k = k0; k < k1; k++) {
		uint32_t i = k - k0;

		key_name(keys[i], k);
		w[i].key = keys[i];
		w[i].key_len = (uint32_t)strlen(keys[i]);
		w[i].version = fc_version_pack(h, i);
		make_value(vals[i], k, w[i].version);
		w[i].value = vals[i];
		w[i].value_len = VLEN;
	}
	CHECK_OK(fc_mempool_apply(mp, h, w, k1 - k0, err), err);
	free(w);
	free(vals);
	free(keys);
}

static int get_key(struct fc_memclient *mc, uint32_t k, unsigned char *buf, uint32_t *len,
		   uint64_t *ver)
{
	char key[32], err[FC_ERRMSG_LEN] = "";

	key_name(key, k);
	return fc_memclient_get(mc, key, (uint32_t)strlen(key), buf, VLEN, len, ver, err);
}

static void test_get_after_apply(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 1);
	unsigned char buf[VLEN];
	uint32_t len;
	uint64_t ver, h = 0;
	char err[FC_ERRMSG_LEN] = "";

	(void)state;
	assert_int_equal(get_key(mc, 1, buf, &len, &ver), FC_ENOTFOUND);
	apply_range(mp, 1, 0, NKEYS);
	for (uint32_t k = 0; k < NKEYS; k++) {
		assert_int_equal(get_key(mc, k, buf, &len, &ver), FC_OK);
		assert_int_equal(ver, fc_version_pack(1, k));
		assert_true(value_ok(buf, len, k, ver));
	}
	assert_int_equal(get_key(mc, NKEYS + 5, buf, &len, &ver), FC_ENOTFOUND);
	CHECK_OK(fc_memclient_applied_height(mc, &h, err), err);
	assert_int_equal(h, 1);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static void test_versions_deletes_idempotent(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 1);
	struct fc_mempool_stats s1, s2;
	unsigned char buf[VLEN], val[VLEN];
	uint32_t len;
	uint64_t ver;
	char err[FC_ERRMSG_LEN] = "";
	char k3[32];
	struct fc_mempool_write w[2];

	(void)state;
	apply_range(mp, 1, 0, 8);
	assert_int_equal(get_key(mc, 3, buf, &len, &ver), FC_OK); /* cached now */
	/* Block 2: key 3 rewritten, key 4 deleted. */
	key_name(k3, 3);
	make_value(val, 3, fc_version_pack(2, 0));
	w[0] = (struct fc_mempool_write){ .key = k3, .key_len = (uint32_t)strlen(k3),
					  .value = val, .value_len = VLEN,
					  .version = fc_version_pack(2, 0) };
	char k4[32];
	key_name(k4, 4);
	w[1] = (struct fc_mempool_write){ .key = k4, .key_len = (uint32_t)strlen(k4),
					  .version = fc_version_pack(2, 1), .is_delete = 1 };
	CHECK_OK(fc_mempool_apply(mp, 2, w, 2, err), err);
	assert_int_equal(get_key(mc, 3, buf, &len, &ver), FC_OK);
	assert_int_equal(ver, fc_version_pack(2, 0));
	assert_true(value_ok(buf, len, 3, ver));
	assert_int_equal(get_key(mc, 4, buf, &len, &ver), FC_ENOTFOUND);

	/* Applying blocks 1 and 2 again changes nothing. */
	fc_mempool_stats(mp, &s1);
	apply_range(mp, 1, 0, 8);
	CHECK_OK(fc_mempool_apply(mp, 2, w, 2, err), err);
	fc_mempool_stats(mp, &s2);
	assert_int_equal(s1.writes_applied, s2.writes_applied);
	assert_int_equal(s1.deletes_applied, s2.deletes_applied);
	assert_int_equal(s1.records_live, s2.records_live);
	assert_int_equal(s2.applied_height, 2);
	assert_int_equal(get_key(mc, 3, buf, &len, &ver), FC_OK);
	assert_int_equal(ver, fc_version_pack(2, 0));
	assert_int_equal(get_key(mc, 4, buf, &len, &ver), FC_ENOTFOUND);
	assert_int_equal(fc_mempool_get_local(mp, k4, (uint32_t)strlen(k4), NULL, 0, NULL, NULL),
			 FC_ENOTFOUND);
	/* A gap is refused. */
	assert_int_equal(fc_mempool_apply(mp, 5, w, 2, err), FC_ESTATE);
	/* Occupancy. */
	assert_int_equal(s2.records_live, 7);
	assert_int_equal(s2.slots_used, 7);
	assert_true(s2.bytes_retired > 0);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static void test_address_cache_one_round_trip(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 0); /* address cache only */
	struct fc_memclient_stats st;
	unsigned char buf[VLEN];
	uint32_t len;
	uint64_t ver;

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	assert_int_equal(get_key(mc, 7, buf, &len, &ver), FC_OK);
	fc_memclient_stats(mc, &st);
	assert_int_equal(st.round_trips, 2);
	fc_memclient_stats_reset(mc);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(get_key(mc, 7, buf, &len, &ver), FC_OK);
		assert_true(value_ok(buf, len, 7, ver));
	}
	fc_memclient_stats(mc, &st);
	assert_int_equal(st.round_trips, 10);
	assert_int_equal(st.addr_hits, 10);
	assert_int_equal(st.doorbells, 10);
	/* The key moves: the cached record says "superseded", the client falls
	 * back to the index (1 + 2 round trips) and sees the new version. */
	apply_range(mp, 2, 7, 8);
	fc_memclient_stats_reset(mc);
	assert_int_equal(get_key(mc, 7, buf, &len, &ver), FC_OK);
	assert_int_equal(ver, fc_version_pack(2, 0));
	assert_true(value_ok(buf, len, 7, ver));
	fc_memclient_stats(mc, &st);
	assert_int_equal(st.cache_stale, 1);
	assert_int_equal(st.round_trips, 3);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static void test_mget_batch(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 1);
	struct fc_memclient_req rq[32];
	struct fc_memclient_stats st;
	unsigned char bufs[32][VLEN];
	char keys[32][32], err[FC_ERRMSG_LEN] = "";

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	for (int i = 0; i < 32; i++) {
		key_name(keys[i], (uint32_t)(i * 3)); /* i*3 >= 64 for i >= 22: absent */
		rq[i] = (struct fc_memclient_req){ .key = keys[i],
						   .key_len = (uint32_t)strlen(keys[i]),
						   .buf = bufs[i], .cap = VLEN };
	}
	for (int pass = 0; pass < 2; pass++) {
		fc_memclient_stats_reset(mc);
		CHECK_OK(fc_memclient_mget(mc, rq, 32, err), err);
		for (int i = 0; i < 32; i++) {
			if (i * 3 < NKEYS) {
				assert_int_equal(rq[i].rc, FC_OK);
				assert_true(value_ok(bufs[i], rq[i].val_len, (uint32_t)i * 3,
						     rq[i].version));
			} else {
				assert_int_equal(rq[i].rc, FC_ENOTFOUND);
			}
		}
		fc_memclient_stats(mc, &st);
		/* Uncached: windows with one doorbell, then records with one
		 * (absent keys with no fingerprint match read their bucket's
		 * incomplete bit in that second round instead). Cached: the
		 * present keys take one round, absent keys two (window, bit). */
		assert_int_equal(st.doorbells, 2);
		assert_int_equal(st.gets, 32);
	}
	/* The data cache is direct-mapped: a colliding key falls back to its
	 * cached address, still one round trip. */
	assert_int_equal(st.data_hits + st.addr_hits, 22);
	assert_int_equal(st.round_trips, 22 + 2 * 10);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

/* A key asked for twice in one batch is looked up once: the copies get the
 * same answer (and cost no READs of their own). */
static void test_mget_duplicate_keys(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 0);
	static const uint32_t ks[6] = { 5, 5, NKEYS + 1, 9, NKEYS + 1, 5 };
	struct fc_memclient_req rq[6];
	struct fc_memclient_stats st;
	struct fc_transport_stats t1, t2;
	unsigned char bufs[6][VLEN];
	char keys[6][32], err[FC_ERRMSG_LEN] = "";

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	fc_transport_stats(fc_memclient_transport(mc), &t1);
	for (int i = 0; i < 6; i++) {
		key_name(keys[i], ks[i]);
		rq[i] = (struct fc_memclient_req){ .key = keys[i],
						   .key_len = (uint32_t)strlen(keys[i]),
						   .buf = bufs[i], .cap = VLEN };
	}
	CHECK_OK(fc_memclient_mget(mc, rq, 6, err), err);
	fc_transport_stats(fc_memclient_transport(mc), &t2);
	/* Windows of keys 5, 9 and the absent one, records of 5 and 9, the
	 * absent key's incomplete bit. */
	assert_int_equal(t2.posted_read - t1.posted_read, 6);
	for (int i = 0; i < 6; i++) {
		if (ks[i] >= NKEYS) {
			assert_int_equal(rq[i].rc, FC_ENOTFOUND);
			continue;
		}
		assert_int_equal(rq[i].rc, FC_OK);
		assert_int_equal(rq[i].version, fc_version_pack(1, ks[i]));
		assert_true(value_ok(bufs[i], rq[i].val_len, ks[i], rq[i].version));
	}
	fc_memclient_stats(mc, &st);
	assert_int_equal(st.gets, 6);
	assert_int_equal(st.found, 4);
	assert_int_equal(st.not_found, 2);
	assert_int_equal(st.doorbells, 2);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static void test_read_only_leaves_node_idle(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 1);
	struct fc_transport_stats t1, t2;
	struct fc_mempool_stats m1, m2;
	unsigned char buf[VLEN];
	uint32_t len;
	uint64_t ver;

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	fc_transport_stats(fc_mempool_transport(mp), &t1);
	fc_mempool_stats(mp, &m1);
	for (int r = 0; r < 3; r++)
		for (uint32_t k = 0; k < NKEYS; k++) {
			assert_int_equal(get_key(mc, k, buf, &len, &ver), FC_OK);
			assert_true(value_ok(buf, len, k, ver));
		}
	fc_transport_stats(fc_mempool_transport(mp), &t2);
	fc_mempool_stats(mp, &m2);
	/* The node's own handlers served nothing; only the data plane moved
	 * (tcp: its emulation thread serving READs, counted apart). */
	assert_int_equal(m2.requests_handled, m1.requests_handled);
	assert_int_equal(m2.blocks_applied, m1.blocks_applied);
	assert_int_equal(t2.served_write, t1.served_write);
	assert_int_equal(t2.served_cas, t1.served_cas);
	if (g_kind == FC_TRANSPORT_TCP)
		assert_true(t2.served_read >= t1.served_read + 3 * NKEYS);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static void test_reclaim_with_stale_address(void **state)
{
	struct fc_mempool *mp = node_up(0, 0); /* reclaim at once */
	struct fc_memclient *mc = client_up(mp, 0);
	struct fc_memclient_stats st;
	struct fc_mempool_stats ms;
	unsigned char buf[VLEN];
	uint32_t len;
	uint64_t ver;
	size_t n;

	(void)state;
	apply_range(mp, 1, 0, 4);
	assert_int_equal(get_key(mc, 2, buf, &len, &ver), FC_OK); /* address cached */
	/* Block 2 moves key 2; its old chunk is reclaimed at once, and block 3
	 * writes a new key into that very chunk (same size, LIFO free list). */
	apply_range(mp, 2, 2, 3);
	CHECK_OK(fc_mempool_reclaim(mp, 1, &n), "");
	fc_mempool_stats(mp, &ms);
	assert_true(ms.records_reclaimed >= 1);
	apply_range(mp, 3, 100, 101);
	fc_memclient_stats_reset(mc);
	assert_int_equal(get_key(mc, 2, buf, &len, &ver), FC_OK);
	assert_int_equal(ver, fc_version_pack(2, 0));
	assert_true(value_ok(buf, len, 2, ver));
	fc_memclient_stats(mc, &st);
	assert_int_equal(st.cache_stale, 1);
	assert_int_equal(get_key(mc, 100, buf, &len, &ver), FC_OK);
	assert_true(value_ok(buf, len, 100, ver));
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

/* ---- concurrent readers while blocks are applied ----------------------- */

#define READERS 4
#define BLOCKS 300
#define HOT 16

struct reader {
	struct fc_memclient *mc;
	atomic_int *stop;
	int failures;
	uint64_t gets;
	char why[FC_ERRMSG_LEN + 64];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t last[HOT] = { 0 };
	unsigned char bufs[8][VLEN];
	char keys[8][32], err[FC_ERRMSG_LEN];
	unsigned seed = 12345;

	/* Bounded: stops when the writer is done, or after many rounds. */
	for (int it = 0; it < 200000 && !r->failures; it++) {
		int stopping = atomic_load(r->stop);
		struct fc_memclient_req rq[8];
		int n = (it % 2) ? 8 : 1;
		uint32_t ks[8];

		for (int i = 0; i < n; i++) {
			ks[i] = (uint32_t)(rand_r(&seed) % HOT);
			key_name(keys[i], ks[i]);
			rq[i] = (struct fc_memclient_req){ .key = keys[i],
							   .key_len = (uint32_t)strlen(keys[i]),
							   .buf = bufs[i], .cap = VLEN };
		}
		if (fc_memclient_mget(r->mc, rq, (size_t)n, err) != FC_OK) {
			snprintf(r->why, sizeof r->why, "mget: %s", err);
			r->failures++;
			break;
		}
		for (int i = 0; i < n; i++) {
			r->gets++;
			if (rq[i].rc == FC_EAGAIN)
				continue; /* allowed: kept moving; retried next time */
			if (rq[i].rc != FC_OK) {
				snprintf(r->why, sizeof r->why, "key %u: %s", ks[i],
					 fc_strerror(rq[i].rc));
				r->failures++;
			} else if (!value_ok(bufs[i], rq[i].val_len, ks[i], rq[i].version)) {
				snprintf(r->why, sizeof r->why, "key %u: torn value", ks[i]);
				r->failures++;
			} else if (rq[i].version < last[ks[i]]) {
				snprintf(r->why, sizeof r->why, "key %u: version went back", ks[i]);
				r->failures++;
			} else {
				last[ks[i]] = rq[i].version;
			}
		}
		if (stopping)
			break;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	/* Grace just long enough for reads in flight (the contract), short enough
	 * that chunks are reused many times during the run. */
	struct fc_mempool *mp = node_up(20, 1);
	struct reader rd[READERS];
	pthread_t thr[READERS];
	atomic_int stop = 0;
	uint64_t total = 0;

	(void)state;
	apply_range(mp, 1, 0, HOT);
	for (int i = 0; i < READERS; i++) {
		memset(&rd[i], 0, sizeof rd[i]);
		rd[i].mc = client_up(mp, i % 2);
		rd[i].stop = &stop;
		assert_int_equal(pthread_create(&thr[i], NULL, reader_main, &rd[i]), 0);
	}
	for (uint64_t h = 2; h < 2 + BLOCKS; h++)
		apply_range(mp, h, (uint32_t)(h % 4) * 4, (uint32_t)(h % 4) * 4 + 4);
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++) {
		pthread_join(thr[i], NULL);
		if (rd[i].failures)
			fail_msg("reader %d: %s", i, rd[i].why);
		total += rd[i].gets;
		fc_memclient_close(rd[i].mc);
	}
	assert_true(total > 0);
	fc_mempool_destroy(mp);
}

/* ---- bounded capacity: eviction, completeness, loads -------------------- */

static int mget_one(struct fc_memclient *mc, const char *key, struct fc_memclient_req *rq,
		    unsigned char *buf)
{
	char err[FC_ERRMSG_LEN] = "";

	*rq = (struct fc_memclient_req){ .key = key, .key_len = (uint32_t)strlen(key), .buf = buf,
					 .cap = VLEN };
	CHECK_OK(fc_memclient_mget(mc, rq, 1, err), err);
	return rq->rc;
}

/* An entry is evicted only once durable; its bucket then reads incomplete,
 * a load puts it back at its version, older loads and negative records
 * never hide a newer version. */
static void test_evict_incomplete_load(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 1);
	struct fc_mempool_stats st;
	struct fc_memclient_req rq;
	unsigned char buf[VLEN], val[VLEN];
	char key[32], err[FC_ERRMSG_LEN] = "";
	size_t n = 0;

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	/* complete: a miss is definitive */
	assert_int_equal(mget_one(mc, "nokey", &rq, buf), FC_ENOTFOUND);
	assert_int_equal(rq.incomplete, 0);
	/* nothing durable yet: nothing may go */
	CHECK_OK(fc_mempool_evict(mp, 0.0, &n), err);
	assert_int_equal(n, 0);
	fc_mempool_stats(mp, &st);
	assert_true(st.evict_blocked > 0);
	assert_int_equal(st.records_live, NKEYS);
	fc_mempool_set_durable(mp, 1);
	CHECK_OK(fc_mempool_evict(mp, 0.0, &n), err);
	assert_int_equal(n, NKEYS);
	fc_mempool_stats(mp, &st);
	assert_int_equal(st.records_live, 0);
	assert_int_equal(st.slots_used, 0);
	/* every key now misses with its bucket incomplete (cached or not) */
	for (uint32_t k = 0; k < NKEYS; k++) {
		key_name(key, k);
		assert_int_equal(mget_one(mc, key, &rq, buf), FC_ENOTFOUND);
		assert_int_equal(rq.incomplete, 1);
	}
	/* a load puts key 5 back at its version; an older load is skipped */
	key_name(key, 5);
	make_value(val, 5, fc_version_pack(1, 5));
	{
		struct fc_mempool_write w = { .key = key, .key_len = (uint32_t)strlen(key),
					      .value = val, .value_len = VLEN,
					      .version = fc_version_pack(1, 5) };
		struct fc_mempool_write older = w;

		CHECK_OK(fc_mempool_insert(mp, &w, 1, err), err);
		older.version = fc_version_pack(0, 7);
		CHECK_OK(fc_mempool_insert(mp, &older, 1, err), err);
	}
	assert_int_equal(mget_one(mc, key, &rq, buf), FC_OK);
	assert_int_equal(rq.version, fc_version_pack(1, 5));
	assert_true(value_ok(buf, rq.val_len, 5, rq.version));
	/* a negative record answers "absent" one-sided; a write supersedes it */
	{
		struct fc_mempool_write neg = { .key = "gone", .key_len = 4 };
		struct fc_mempool_write put = { .key = "gone", .key_len = 4, .value = val,
						.value_len = VLEN, .version = fc_version_pack(2, 0) };

		CHECK_OK(fc_mempool_insert(mp, &neg, 1, err), err);
		assert_int_equal(mget_one(mc, "gone", &rq, buf), FC_ENOTFOUND);
		assert_int_equal(rq.incomplete, 0);
		CHECK_OK(fc_mempool_apply(mp, 2, &put, 1, err), err);
		assert_int_equal(mget_one(mc, "gone", &rq, buf), FC_OK);
		assert_int_equal(rq.version, fc_version_pack(2, 0));
		/* and a late negative load never hides it */
		CHECK_OK(fc_mempool_insert(mp, &neg, 1, err), err);
		assert_int_equal(mget_one(mc, "gone", &rq, buf), FC_OK);
	}
	fc_mempool_stats(mp, &st);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.negatives, 1);
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

/* CLOCK with reported accesses: the reported half survives an eviction
 * down to half the entries. */
static void test_evict_keeps_reported(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 0);
	uint64_t hashes[NKEYS / 2];
	char key[32], err[FC_ERRMSG_LEN] = "";
	size_t n = 0;
	double f0;

	(void)state;
	apply_range(mp, 1, 0, NKEYS);
	fc_mempool_set_durable(mp, 1);
	for (uint32_t k = 0; k < NKEYS / 2; k++) {
		key_name(key, k);
		hashes[k] = fc_memclient_key_hash(mc, key, (uint32_t)strlen(key));
	}
	fc_mempool_note_access(mp, hashes, NKEYS / 2);
	f0 = fc_mempool_fill(mp);
	CHECK_OK(fc_mempool_evict(mp, f0 / 2, &n), err);
	assert_int_equal(n, NKEYS / 2);
	for (uint32_t k = 0; k < NKEYS; k++) {
		key_name(key, k);
		assert_int_equal(fc_mempool_get_local(mp, key, (uint32_t)strlen(key), NULL, 0, NULL,
						      NULL),
				 k < NKEYS / 2 ? FC_OK : FC_ENOTFOUND);
	}
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

static int keep_even(void *ud, const void *key, uint32_t len)
{
	(void)ud;
	return (((const char *)key)[len - 1] - '0') % 2 == 0;
}

/* A node following the chain from a height holds nothing for sure; keys
 * moved away by a shard map are dropped. */
static void test_start_at_and_drop(void **state)
{
	struct fc_mempool *mp = node_up(1000, 2);
	struct fc_memclient *mc = client_up(mp, 0);
	struct fc_memclient_req rq;
	unsigned char buf[VLEN];
	char key[32], err[FC_ERRMSG_LEN] = "";
	uint64_t h = 1;
	int started = 1;
	size_t n = 0;

	(void)state;
	CHECK_OK(fc_memclient_applied_info(mc, &h, &started, err), err);
	assert_int_equal(started, 0);
	CHECK_OK(fc_mempool_start_at(mp, 10, err), err);
	assert_int_equal(fc_mempool_start_at(mp, 11, err), FC_ESTATE);
	CHECK_OK(fc_memclient_applied_info(mc, &h, &started, err), err);
	assert_int_equal(started, 1);
	assert_int_equal(h, 10);
	assert_int_equal(mget_one(mc, "anything", &rq, buf), FC_ENOTFOUND);
	assert_int_equal(rq.incomplete, 1);
	key_name(key, 0);
	{
		struct fc_mempool_write w = { .key = key, .key_len = (uint32_t)strlen(key),
					      .value = "v", .value_len = 1,
					      .version = fc_version_pack(12, 0) };

		assert_int_equal(fc_mempool_apply(mp, 12, &w, 1, err), FC_ESTATE);
	}
	apply_range(mp, 11, 0, NKEYS);
	CHECK_OK(fc_mempool_drop_if(mp, keep_even, NULL, &n), err);
	assert_int_equal(n, NKEYS / 2);
	for (uint32_t k = 0; k < NKEYS; k++) {
		key_name(key, k);
		assert_int_equal(mget_one(mc, key, &rq, buf), k % 2 ? FC_ENOTFOUND : FC_OK);
	}
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
}

/* Rendezvous routing: stable, and adding a node moves keys only to it. */
static void test_shard_pick(void **state)
{
	uint64_t h2[2] = { fc_mempool_node_hash("mem0"), fc_mempool_node_hash("mem1") };
	uint64_t h3[3] = { h2[0], h2[1], fc_mempool_node_hash("mem2") };
	size_t moved = 0, count[3] = { 0, 0, 0 };
	char key[32];

	(void)state;
	for (uint32_t k = 0; k < 3000; k++) {
		size_t a, b;

		key_name(key, k);
		a = fc_mempool_shard_pick(key, strlen(key), h2, 2);
		b = fc_mempool_shard_pick(key, strlen(key), h3, 3);
		assert_int_equal(a, fc_mempool_shard_pick(key, strlen(key), h2, 2));
		if (a != b) {
			assert_int_equal(b, 2);
			moved++;
		}
		count[b]++;
	}
	assert_true(moved > 500 && moved < 1500);
	assert_true(count[0] > 500 && count[1] > 500);
}

int main(void)
{
	const char *b = getenv("FC_TRANSPORT_BACKEND");
	const char *h = getenv("FC_TRANSPORT_HOST");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_after_apply),
		cmocka_unit_test(test_versions_deletes_idempotent),
		cmocka_unit_test(test_address_cache_one_round_trip),
		cmocka_unit_test(test_mget_batch),
		cmocka_unit_test(test_mget_duplicate_keys),
		cmocka_unit_test(test_read_only_leaves_node_idle),
		cmocka_unit_test(test_reclaim_with_stale_address),
		cmocka_unit_test(test_concurrent_readers),
		cmocka_unit_test(test_evict_incomplete_load),
		cmocka_unit_test(test_evict_keeps_reported),
		cmocka_unit_test(test_start_at_and_drop),
		cmocka_unit_test(test_shard_pick),
	};

	if (b && fc_transport_parse_kind(b, &g_kind) != FC_OK) {
		fprintf(stderr, "bad FC_TRANSPORT_BACKEND %s\n", b);
		return 2;
	}
	if (h)
		g_host = h;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
