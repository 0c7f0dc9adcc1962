/* bench-mempool: one memory node and one client in one process, over the
 * tcp transport on loopback (or --transport rdma --host ADDR). Loads N keys
 * of 100-byte values, then measures one-sided gets, single and batched,
 * under uniform and zipf(0.99) key choice: gets/s, latency p50/p99 (per get;
 * per batch for batched), cache hit ratio and round trips per get at steady
 * state (after one batched pass over every key). Not a test: asserts nothing.
 *
 *   bench-mempool [--keys N] [--seconds S] [--batch B] [--transport tcp|rdma|auto]
 *                 [--host ADDR]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"
#include "fc_memclient.h"
#include "fc_mempool.h"

#include "bench_util.h"

#define VLEN 100
#define LOAD_BLOCK 10000u
#define MAX_SAMPLES (4u << 20)

static void key_name(char *buf, uint64_t k)
{
	snprintf(buf, 32, "key-%010llu", (unsigned long long)k);
}

struct dist {
	const char *name;
	double *cdf; /* NULL: uniform */
	uint64_t n;
};

static uint64_t dist_pick(const struct dist *d, uint64_t *rng)
{
	double u;
	uint64_t lo = 0, hi;

	if (!d->cdf)
		return bench_rng(rng) % d->n;
	u = (double)(bench_rng(rng) >> 11) / (double)(1ull << 53);
	hi = d->n - 1;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (d->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Scatter hot ranks over the key space. */
	return (lo * 0x9e3779b97f4a7c15ull) % d->n;
}

static int run(struct fc_memclient *mc, const struct dist *d, size_t batch, double seconds,
	       int measure, double *samples)
{
	struct fc_memclient_req rq[FC_MEMCLIENT_MAX_BATCH];
	static unsigned char bufs[FC_MEMCLIENT_MAX_BATCH][VLEN];
	char keys[FC_MEMCLIENT_MAX_BATCH][32], err[FC_ERRMSG_LEN] = "";
	uint64_t rng = 88172645463325252ull, gets = 0, nsamp = 0, errors = 0;
	double t0 = bench_now_s(), t_end = t0 + seconds, t;
	struct fc_memclient_stats st;

	fc_memclient_stats_reset(mc);
	while ((t = bench_now_s()) < t_end) {
		double t1;

		for (size_t i = 0; i < batch; i++) {
			key_name(keys[i], dist_pick(d, &rng));
			rq[i] = (struct fc_memclient_req){ .key = keys[i],
							   .key_len = (uint32_t)strlen(keys[i]),
							   .buf = bufs[i], .cap = VLEN };
		}
		if (fc_memclient_mget(mc, rq, batch, err) != FC_OK) {
			fprintf(stderr, "mget: %s\n", err);
			return 1;
		}
		t1 = bench_now_s();
		for (size_t i = 0; i < batch; i++)
			if (rq[i].rc != FC_OK)
				errors++;
		if (measure && nsamp < MAX_SAMPLES)
			samples[nsamp++] = (t1 - t) * 1e6;
		gets += batch;
	}
	if (!measure)
		return 0;
	t = bench_now_s() - t0;
	fc_memclient_stats(mc, &st);
	qsort(samples, nsamp, sizeof *samples, bench_cmp_double);
	printf("%-8s %-6s batch=%-3zu gets/s=%9.0f p50_us=%7.1f p99_us=%7.1f "
	       "hit_ratio=%.3f rt_per_get=%.3f doorbells_per_get=%.3f retries=%llu errors=%llu\n",
	       d->name, batch > 1 ? "batch" : "single", batch, (double)gets / t,
	       nsamp ? samples[nsamp / 2] : 0.0, nsamp ? samples[nsamp * 99 / 100] : 0.0,
	       st.gets ? (double)(st.addr_hits + st.data_hits) / (double)st.gets : 0.0,
	       st.gets ? (double)st.round_trips / (double)st.gets : 0.0,
	       st.gets ? (double)st.doorbells / (double)st.gets : 0.0,
	       (unsigned long long)st.retries, (unsigned long long)errors);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t nkeys = 1000000;
	double seconds = 3;
	size_t batch = 32;
	const char *host = "127.0.0.1";
	enum fc_transport_kind kind = FC_TRANSPORT_TCP;
	struct fc_mempool_config mcfg;
	struct fc_memclient_config ccfg;
	struct fc_mempool *mp = NULL;
	struct fc_memclient *mc = NULL;
	struct fc_mempool_write *w = NULL;
	unsigned char *vals = NULL;
	char (*keys)[32] = NULL;
	double *samples = NULL, *cdf = NULL, t0;
	char err[FC_ERRMSG_LEN] = "";
	struct fc_mempool_stats ms;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			nkeys = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else if (!strcmp(argv[i], "--transport") && i + 1 < argc &&
			 fc_transport_parse_kind(argv[i + 1], &kind) == FC_OK)
			i++;
		else {
			fprintf(stderr, "usage: %s [--keys N] [--seconds S] [--batch B] "
					"[--transport tcp|rdma|auto] [--host ADDR]\n", argv[0]);
			return 2;
		}
	}
	if (nkeys < 1 || batch < 1 || batch > FC_MEMCLIENT_MAX_BATCH || seconds <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	fc_log_set_level(FC_LOG_WARN);

	fc_mempool_config_init(&mcfg);
	mcfg.region_bytes = ((nkeys * 320 + (64u << 20)) + (1u << 20) - 1) & ~((uint64_t)(1u << 20) - 1);
	mcfg.transport = kind;
	mcfg.host = host;
	if (fc_mempool_create(&mcfg, &mp, err) != FC_OK) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* Load through the node's own apply path, in blocks. */
	w = fc_calloc(LOAD_BLOCK, sizeof *w);
	vals = fc_malloc((size_t)LOAD_BLOCK * VLEN);
	keys = fc_malloc((size_t)LOAD_BLOCK * 32);
	samples = fc_malloc(MAX_SAMPLES * sizeof *samples);
	cdf = fc_malloc(nkeys * sizeof *cdf);
	if (!w || !vals || !keys || !samples || !cdf) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	t0 = bench_now_s();
	for (uint64_t k0 = 0, h = 1; k0 < nkeys; k0 += LOAD_BLOCK, h++) {
		uint32_t n = (uint32_t)(nkeys - k0 < LOAD_BLOCK ? nkeys - k0 : LOAD_BLOCK);

		for (uint32_t i = 0; i < n; i++) {
			key_name(keys[i], k0 + i);
			memset(vals + (size_t)i * VLEN, (int)((k0 + i) & 0xff), VLEN);
			w[i] = (struct fc_mempool_write){
				.key = keys[i], .key_len = (uint32_t)strlen(keys[i]),
				.value = vals + (size_t)i * VLEN, .value_len = VLEN,
				.version = fc_version_pack(h, i),
			};
		}
		if (fc_mempool_apply(mp, h, w, n, err) != FC_OK) {
			fprintf(stderr, "load: %s\n", err);
			goto out;
		}
	}
	fc_mempool_stats(mp, &ms);
	printf("loaded keys=%llu value_bytes=%d in %.2fs: region_bytes=%llu hugepages=%d "
	       "buckets=%llu slots_used=%llu/%llu bytes_live=%llu transport=%s\n",
	       (unsigned long long)nkeys, VLEN, bench_now_s() - t0,
	       (unsigned long long)mcfg.region_bytes, ms.hugepages,
	       (unsigned long long)ms.bucket_count, (unsigned long long)ms.slots_used,
	       (unsigned long long)ms.slots_total, (unsigned long long)ms.bytes_live,
	       fc_transport_name(fc_mempool_transport(mp)));

	fc_memclient_config_init(&ccfg);
	ccfg.transport = kind;
	ccfg.addr_cache_entries = (uint32_t)(nkeys * 4 < (1u << 31) ? nkeys * 4 : (1u << 31));
	if (fc_memclient_connect(host, fc_mempool_port(mp), &ccfg, &mc, err) != FC_OK) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	{
		double sum = 0;
		struct dist dists[2] = { { "uniform", NULL, nkeys }, { "zipf0.99", cdf, nkeys } };

		for (uint64_t i = 0; i < nkeys; i++)
			sum += 1.0 / pow((double)(i + 1), 0.99);
		for (uint64_t i = 0; i < nkeys; i++)
			cdf[i] = (i ? cdf[i - 1] : 0.0) + 1.0 / pow((double)(i + 1), 0.99) / sum;
		/* Steady state: the client has seen every key once (one pass of
		 * batched gets over the key space fills its address cache). */
		t0 = bench_now_s();
		for (uint64_t k0 = 0; k0 < nkeys; k0 += FC_MEMCLIENT_MAX_BATCH) {
			struct fc_memclient_req rq[FC_MEMCLIENT_MAX_BATCH];
			size_t n = nkeys - k0 < FC_MEMCLIENT_MAX_BATCH ? nkeys - k0
								       : FC_MEMCLIENT_MAX_BATCH;

			for (size_t i = 0; i < n; i++) {
				key_name(keys[i], k0 + i);
				rq[i] = (struct fc_memclient_req){
					.key = keys[i], .key_len = (uint32_t)strlen(keys[i]) };
			}
			if (fc_memclient_mget(mc, rq, n, err) != FC_OK) {
				fprintf(stderr, "warm-up: %s\n", err);
				goto out;
			}
		}
		printf("warm-up: one batched pass over all keys in %.2fs\n", bench_now_s() - t0);
		for (int di = 0; di < 2; di++) {
			size_t sizes[2] = { 1, batch };

			for (int si = 0; si < 2; si++)
				if (run(mc, &dists[di], sizes[si], seconds, 1, samples))
					goto out;
		}
	}
	{
		struct fc_transport_stats ts;

		fc_transport_stats(fc_mempool_transport(mp), &ts);
		fc_mempool_stats(mp, &ms);
		printf("node: requests_handled=%llu (load blocks only) served_read=%llu "
		       "served_write=%llu served_cas=%llu\n",
		       (unsigned long long)ms.requests_handled, (unsigned long long)ts.served_read,
		       (unsigned long long)ts.served_write, (unsigned long long)ts.served_cas);
	}
	rc = 0;
out:
	fc_memclient_close(mc);
	fc_mempool_destroy(mp);
	fc_free(cdf);
	fc_free(samples);
	fc_free(keys);
	fc_free(vals);
	fc_free(w);
	return rc;
}
