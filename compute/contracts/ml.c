/* ml - a compute-heavy contract in the spirit of FlexChain's k-means
 * workload: read many points, cluster them, write the centroids.
 *
 * Points live under PREFIX<i> (PREFIX followed by i in decimal, no padding:
 * "pts0", "pts1", ...). A point is DIM (1..64) comma-separated decimal
 * integers, each in -1000000..1000000 ("12,-7,300"): fixed point, the unit
 * is the caller's choice (e.g. 10^-3). All arithmetic is integer, so every
 * endorser computes bit-identical centroids.
 *
 *   kmeans PREFIX NKEYS K ITERS
 *       Reads PREFIX0..PREFIX<NKEYS-1> (NKEYS 1..100000; FC_ENOTFOUND when
 *       one is missing, FC_EPROTO when one is malformed or its DIM differs
 *       from PREFIX0's). K is 1..64 and at most NKEYS, ITERS 1..1000, and
 *       NKEYS*K*ITERS*DIM at most 10^9 (FC_EINVAL otherwise). Centroid j
 *       starts at point j. Each of exactly ITERS iterations assigns every
 *       point to the nearest centroid (squared Euclidean distance, ties to
 *       the lowest index), then moves each centroid to the mean of its
 *       points, each coordinate sum / count with C division (truncation
 *       toward zero); a centroid without points stays. Writes the centroids
 *       to PREFIX.centroids as K points separated by ';' ("0,0;10,10"), and
 *       returns the same text as result.
 *   load_points PREFIX START N DIM SEED
 *       Setup: writes points PREFIX<START>..PREFIX<START+N-1> (START
 *       0..10^9, N 1..10000, DIM 1..64, SEED 0..2^63-1) without reading.
 *       Point i is drawn around one of 8 cluster centres, from splitmix64
 *       over (SEED, i): the same arguments always write the same points.
 *       Result: N.
 *
 * PREFIX is 1..128 bytes.
 */
#include "contracts.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

#define ML_MAX_PREFIX 128
#define ML_MAX_KEYS 100000
#define ML_MAX_K 64
#define ML_MAX_ITERS 1000
#define ML_MAX_DIM 64
#define ML_MAX_WORK 1000000000LL
#define ML_MAX_COORD 1000000
#define ML_MAX_START 1000000000LL
#define ML_MAX_LOAD 10000
#define ML_KEY_LEN (ML_MAX_PREFIX + 24)
#define ML_COORD_TEXT 9 /* "-1000000," */

static int arg_prefix(struct fc_contract_ctx *ctx, const uint8_t **p, size_t *len, char *errmsg)
{
	fc_ctx_arg(ctx, 0, p, len);
	if (*len == 0 || *len > ML_MAX_PREFIX)
		return fc_errf(errmsg, FC_EINVAL, "PREFIX of %zu bytes (1..%d)", *len,
			       ML_MAX_PREFIX);
	return FC_OK;
}

static size_t point_key(const uint8_t *pre, size_t pl, int64_t i, char *key)
{
	memcpy(key, pre, pl);
	return pl + (size_t)snprintf(key + pl, ML_KEY_LEN - pl, "%" PRId64, i);
}

/* Parses a point; *dim 0 means "learn it", otherwise it must match. */
static int parse_point(const uint8_t *v, size_t len, int32_t *out, size_t *dim, const char *key,
		       size_t kl, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	size_t n = 1, start = 0;

	/* count first: out has room for *dim (or ML_MAX_DIM) coordinates */
	for (size_t i = 0; i < len; i++)
		n += v[i] == ',';
	if (n > ML_MAX_DIM)
		return fc_errf(errmsg, FC_EPROTO, "point '%s' has over %d coordinates",
			       fc_contract_quote(key, kl, q), ML_MAX_DIM);
	if (*dim && n != *dim)
		return fc_errf(errmsg, FC_EPROTO, "point '%s' has %zu coordinates, not %zu",
			       fc_contract_quote(key, kl, q), n, *dim);
	n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		int64_t c;
		if (fc_contract_parse_int(v + start, i - start, &c) != FC_OK || c < -ML_MAX_COORD ||
		    c > ML_MAX_COORD)
			return fc_errf(errmsg, FC_EPROTO,
				       "point '%s': coordinate %zu is not an integer in %d..%d",
				       fc_contract_quote(key, kl, q), n, -ML_MAX_COORD,
				       ML_MAX_COORD);
		out[n++] = (int32_t)c;
		start = i + 1;
	}
	*dim = n;
	return FC_OK;
}

/* Writes dim coordinates as text at buf; returns the length. */
static size_t format_point(const int32_t *c, size_t dim, char *buf)
{
	size_t o = 0;
	for (size_t d = 0; d < dim; d++)
		o += (size_t)sprintf(buf + o, d ? ",%d" : "%d", (int)c[d]);
	return o;
}

static int ml_kmeans(struct fc_contract_ctx *ctx, char *errmsg)
{
	char key[ML_KEY_LEN];
	const uint8_t *pre, *v;
	size_t pl, vl, kl, dim = 0;
	int64_t nkeys, k, iters;
	int32_t *pts = NULL, *cent = NULL, first[ML_MAX_DIM];
	int64_t *sums = NULL;
	uint32_t *count = NULL;
	char *text = NULL;
	int rc = fc_ctx_want_args(ctx, 4, errmsg);
	if (rc)
		return rc;
	if ((rc = arg_prefix(ctx, &pre, &pl, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 1, "NKEYS", 1, ML_MAX_KEYS, &nkeys, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 2, "K", 1, ML_MAX_K, &k, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 3, "ITERS", 1, ML_MAX_ITERS, &iters, errmsg)))
		return rc;
	if (k > nkeys)
		return fc_errf(errmsg, FC_EINVAL, "K %" PRId64 " is over NKEYS %" PRId64, k, nkeys);
	if (nkeys * k * iters > ML_MAX_WORK)
		return fc_errf(errmsg, FC_EINVAL,
			       "NKEYS*K*ITERS %" PRId64 " is over the work limit %lld",
			       nkeys * k * iters, ML_MAX_WORK);

	/* the first point fixes DIM and the rest of the work bound */
	kl = point_key(pre, pl, 0, key);
	if ((rc = fc_ctx_get(ctx, key, kl, &v, &vl, errmsg)) ||
	    (rc = parse_point(v, vl, first, &dim, key, kl, errmsg)))
		goto cleanup;
	if (nkeys * k * iters * (int64_t)dim > ML_MAX_WORK) {
		rc = fc_errf(errmsg, FC_EINVAL,
			     "NKEYS*K*ITERS*DIM %" PRId64 " is over the work limit %lld",
			     nkeys * k * iters * (int64_t)dim, ML_MAX_WORK);
		goto cleanup;
	}
	size_t n = (size_t)nkeys, kk = (size_t)k;
	pts = fc_malloc(n * dim * sizeof *pts);
	cent = fc_malloc(kk * dim * sizeof *cent);
	sums = fc_malloc(kk * dim * sizeof *sums);
	count = fc_malloc(kk * sizeof *count);
	text = fc_malloc(kk * dim * ML_COORD_TEXT + kk);
	if (!pts || !cent || !sums || !count || !text) {
		rc = fc_errf(errmsg, FC_ENOMEM, "out of memory for %zu points", n);
		goto cleanup;
	}
	memcpy(pts, first, dim * sizeof *pts);
	for (size_t i = 1; i < n; i++) {
		kl = point_key(pre, pl, (int64_t)i, key);
		if ((rc = fc_ctx_get(ctx, key, kl, &v, &vl, errmsg)) ||
		    (rc = parse_point(v, vl, pts + i * dim, &dim, key, kl, errmsg)))
			goto cleanup;
	}

	memcpy(cent, pts, kk * dim * sizeof *cent);
	for (int64_t it = 0; it < iters; it++) {
		memset(sums, 0, kk * dim * sizeof *sums);
		memset(count, 0, kk * sizeof *count);
		for (size_t i = 0; i < n; i++) {
			const int32_t *p = pts + i * dim;
			uint64_t best = UINT64_MAX;
			size_t bj = 0;
			for (size_t j = 0; j < kk; j++) {
				const int32_t *c = cent + j * dim;
				uint64_t d2 = 0;
				for (size_t d = 0; d < dim; d++) {
					int64_t diff = (int64_t)p[d] - c[d];
					d2 += (uint64_t)(diff * diff);
				}
				if (d2 < best) {
					best = d2;
					bj = j;
				}
			}
			count[bj]++;
			for (size_t d = 0; d < dim; d++)
				sums[bj * dim + d] += p[d];
		}
		for (size_t j = 0; j < kk; j++) {
			if (!count[j])
				continue;
			for (size_t d = 0; d < dim; d++)
				cent[j * dim + d] =
				    (int32_t)(sums[j * dim + d] / (int64_t)count[j]);
		}
	}

	size_t tl = 0;
	for (size_t j = 0; j < kk; j++) {
		if (j)
			text[tl++] = ';';
		tl += format_point(cent + j * dim, dim, text + tl);
	}
	memcpy(key, pre, pl);
	memcpy(key + pl, ".centroids", sizeof ".centroids" - 1);
	kl = pl + sizeof ".centroids" - 1;
	if ((rc = fc_ctx_put(ctx, key, kl, text, tl, errmsg)))
		goto cleanup;
	rc = fc_ctx_set_result(ctx, text, tl, errmsg);
cleanup:
	fc_free(text);
	fc_free(count);
	fc_free(sums);
	fc_free(cent);
	fc_free(pts);
	return rc;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A draw in 0..range-1 from (seed, a, b). */
static int64_t draw(uint64_t seed, uint64_t a, uint64_t b, uint64_t range)
{
	return (int64_t)(splitmix64(splitmix64(seed ^ splitmix64(a)) ^ b) % range);
}

static int ml_load_points(struct fc_contract_ctx *ctx, char *errmsg)
{
	char key[ML_KEY_LEN], val[ML_MAX_DIM * ML_COORD_TEXT];
	const uint8_t *pre;
	size_t pl;
	int64_t start, n, dim, seed;
	int32_t c[ML_MAX_DIM];
	int rc = fc_ctx_want_args(ctx, 5, errmsg);
	if (rc)
		return rc;
	if ((rc = arg_prefix(ctx, &pre, &pl, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 1, "START", 0, ML_MAX_START, &start, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 2, "N", 1, ML_MAX_LOAD, &n, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 3, "DIM", 1, ML_MAX_DIM, &dim, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 4, "SEED", 0, INT64_MAX, &seed, errmsg)))
		return rc;
	for (int64_t i = start; i < start + n; i++) {
		/* centres in +-800000, points within +-100000 of theirs */
		uint64_t cl = (uint64_t)draw((uint64_t)seed, (uint64_t)i, 1000, 8);
		for (int64_t d = 0; d < dim; d++) {
			int64_t centre =
			    draw((uint64_t)seed, 1u << 20 | cl, (uint64_t)d, 1600001) - 800000;
			int64_t off =
			    draw((uint64_t)seed, (uint64_t)i, (uint64_t)d, 200001) - 100000;
			c[d] = (int32_t)(centre + off);
		}
		size_t vl = format_point(c, (size_t)dim, val);
		size_t kl = point_key(pre, pl, i, key);
		if ((rc = fc_ctx_put(ctx, key, kl, val, vl, errmsg)))
			return rc;
	}
	return fc_ctx_set_result_int(ctx, n, errmsg);
}

static const struct fc_contract_func ml_funcs[] = {
    {"kmeans", ml_kmeans, "kmeans PREFIX NKEYS K ITERS"},
    {"load_points", ml_load_points, "load_points PREFIX START N DIM SEED"},
};

const struct fc_contract fc_contract_ml = {
    .abi = FC_CONTRACT_ABI,
    .name = "ml",
    .funcs = ml_funcs,
    .n_funcs = sizeof ml_funcs / sizeof ml_funcs[0],
};
