/* The measuring core of flexchain-bench (bench_core.h). */
#include "bench_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

/* ------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bench_rng_next(struct bench_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double bench_rng_double(struct bench_rng *r)
{
	return (double)(bench_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t bench_rng_below(struct bench_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift; the bias is below 2^-64 * n, irrelevant here */
	return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/* ------------------------------------------------------------- Zipfian */

double bench_zeta(uint64_t n, double theta)
{
	double s = 0;

	for (uint64_t i = 1; i <= n; i++)
		s += 1.0 / pow((double)i, theta);
	return s;
}

int bench_zipf_init(struct bench_zipf *z, uint64_t n, double theta)
{
	double zeta2;

	if (n == 0 || !(theta >= 0 && theta < 1))
		return -1;
	z->n = n;
	z->theta = theta;
	z->alpha = 1.0 / (1.0 - theta);
	z->zetan = bench_zeta(n, theta);
	zeta2 = bench_zeta(2, theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
	z->half_pow_theta = 1.0 + pow(0.5, theta);
	return 0;
}

uint64_t bench_zipf_next(const struct bench_zipf *z, struct bench_rng *r)
{
	double u = bench_rng_double(r), uz = u * z->zetan;
	uint64_t v;

	if (z->n == 1 || uz < 1.0)
		return 0;
	if (uz < z->half_pow_theta)
		return 1;
	v = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	return v < z->n ? v : z->n - 1;
}

/* ----------------------------------------------------------- histogram */

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof *h);
}

size_t bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < BENCH_HIST_SUB)
		return (size_t)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - BENCH_HIST_SUB_BITS;
	return (size_t)(shift + 1) * BENCH_HIST_SUB + (size_t)((v >> shift) - BENCH_HIST_SUB);
}

uint64_t bench_hist_bucket_low(size_t idx)
{
	size_t shift;

	if (idx < BENCH_HIST_SUB)
		return idx;
	shift = idx / BENCH_HIST_SUB - 1;
	return (uint64_t)(BENCH_HIST_SUB + idx % BENCH_HIST_SUB) << shift;
}

uint64_t bench_hist_bucket_high(size_t idx)
{
	size_t shift = idx < BENCH_HIST_SUB ? 0 : idx / BENCH_HIST_SUB - 1;

	return bench_hist_bucket_low(idx) + ((uint64_t)1 << shift) - 1;
}

void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
	h->b[bench_hist_index(v)]++;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	if (p > 100)
		p = 100;
	want = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (want < 1)
		want = 1;
	if (want > h->count)
		want = h->count;
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = bench_hist_bucket_high(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

/* -------------------------------------------------------------- pacing */

uint64_t bench_pace_due(double rate, uint64_t elapsed_us)
{
	/* long double: exact for any realistic rate x duration */
	return (uint64_t)floorl((long double)elapsed_us * (long double)rate / 1e6L) + 1;
}

uint64_t bench_pace_intended_us(double rate, uint64_t k)
{
	return (uint64_t)ceill((long double)k * 1e6L / (long double)rate);
}

/* ----------------------------------------------------------- workloads */

static void op_set(struct bench_op *op, const char *contract, const char *function)
{
	op->contract = contract;
	op->function = function;
	op->nargs = 0;
}

/* Appends the argument <prefix><v> (decimal). */
static void op_arg(struct bench_op *op, const char *prefix, unsigned long long v)
{
	snprintf(op->argbuf[op->nargs], BENCH_ARG_LEN, "%s%llu", prefix, v);
	op->args[op->nargs] = op->argbuf[op->nargs];
	op->nargs++;
}

/* Appends the text argument s. */
static void op_str(struct bench_op *op, const char *s)
{
	snprintf(op->argbuf[op->nargs], BENCH_ARG_LEN, "%s", s);
	op->args[op->nargs] = op->argbuf[op->nargs];
	op->nargs++;
}

void bench_ycsb_key(uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "user%llu", (unsigned long long)i);
}

int bench_ycsb_init(struct bench_ycsb *w, uint64_t records, double read_ratio,
		    enum bench_dist dist, double theta, size_t value_size, struct bench_rng *r)
{
	memset(w, 0, sizeof *w);
	if (records == 0 || !(read_ratio >= 0 && read_ratio <= 1) || value_size == 0 ||
	    value_size > (1u << 20))
		return -1;
	if (bench_zipf_init(&w->zipf, records, dist == BENCH_ZIPF ? theta : 0) != 0)
		return -1;
	w->records = records;
	w->read_ratio = read_ratio;
	w->dist = dist;
	w->value = fc_malloc(value_size + 1);
	if (!w->value)
		return -1;
	for (size_t i = 0; i < value_size; i++)
		w->value[i] = (char)('a' + bench_rng_below(r, 26));
	w->value[value_size] = '\0';
	return 0;
}

void bench_ycsb_free(struct bench_ycsb *w)
{
	fc_free(w->value);
	w->value = NULL;
}

void bench_ycsb_setup_op(const struct bench_ycsb *w, uint64_t i, struct bench_op *op)
{
	op_set(op, "kv", "insert");
	op_arg(op, "user", (unsigned long long)i);
	op->args[op->nargs++] = w->value;
}

void bench_ycsb_next(const struct bench_ycsb *w, struct bench_rng *r, struct bench_op *op)
{
	uint64_t k = w->dist == BENCH_ZIPF ? bench_zipf_next(&w->zipf, r)
					   : bench_rng_below(r, w->records);

	if (bench_rng_double(r) < w->read_ratio) {
		op_set(op, "kv", "read");
		op_arg(op, "user", (unsigned long long)k);
	} else {
		op_set(op, "kv", "update");
		op_arg(op, "user", (unsigned long long)k);
		op->args[op->nargs++] = w->value;
	}
}

/* The one table of SmallBank functions the driver calls (names as in
 * compute/contracts/smallbank.c); weights of the H-Store mix. */
const struct bench_sb_fn bench_sb_mix[] = {
    {"amalgamate", 2, 0, 15},	     {"balance", 1, 0, 15},	    {"deposit_checking", 1, 1, 15},
    {"send_payment", 2, 1, 25},	     {"transact_savings", 1, 1, 15}, {"write_check", 1, 1, 15},
};
const size_t bench_sb_mix_len = sizeof bench_sb_mix / sizeof bench_sb_mix[0];

int bench_smallbank_init(struct bench_smallbank *w, uint64_t accounts, uint64_t hot,
			 double hot_ratio)
{
	if (accounts < 2 || !(hot_ratio >= 0 && hot_ratio <= 1))
		return -1;
	w->accounts = accounts;
	w->hot = hot == 0 || hot > accounts ? accounts : hot;
	w->hot_ratio = hot_ratio;
	return 0;
}

void bench_smallbank_setup_op(const struct bench_smallbank *w, uint64_t i, struct bench_op *op)
{
	(void)w;
	op_set(op, "smallbank", BENCH_SB_SETUP_FN);
	op_arg(op, "", (unsigned long long)i);
	op_arg(op, "", BENCH_SB_INITIAL_BALANCE);
	op_arg(op, "", BENCH_SB_INITIAL_BALANCE);
}

int bench_ml_init(struct bench_ml *w, uint64_t points, unsigned dim, unsigned k, unsigned iters)
{
	memset(w, 0, sizeof *w);
	if (points < 1 || points > 100000 || dim < 1 || dim > 64 || k < 1 || k > 64 ||
	    k > points || iters < 1 || iters > 1000 ||
	    points * k * iters * dim > BENCH_ML_MAX_WORK)
		return -1;
	w->points = points;
	w->dim = dim;
	w->k = k;
	w->iters = iters;
	snprintf(w->prefix, sizeof w->prefix, "ml.d%u.", dim);
	return 0;
}

uint64_t bench_ml_setup_txs(const struct bench_ml *w)
{
	return (w->points + BENCH_ML_LOAD_CHUNK - 1) / BENCH_ML_LOAD_CHUNK;
}

void bench_ml_setup_op(const struct bench_ml *w, uint64_t i, struct bench_op *op)
{
	uint64_t start = i * BENCH_ML_LOAD_CHUNK, n = w->points - start;

	if (n > BENCH_ML_LOAD_CHUNK)
		n = BENCH_ML_LOAD_CHUNK;
	op_set(op, "ml", "load_points");
	op_str(op, w->prefix);
	op_arg(op, "", (unsigned long long)start);
	op_arg(op, "", (unsigned long long)n);
	op_arg(op, "", w->dim);
	op_arg(op, "", BENCH_ML_SEED);
}

void bench_ml_next(const struct bench_ml *w, struct bench_op *op)
{
	op_set(op, "ml", "kmeans");
	op_str(op, w->prefix);
	op_arg(op, "", (unsigned long long)w->points);
	op_arg(op, "", w->k);
	op_arg(op, "", w->iters);
}

static uint64_t sb_account(const struct bench_smallbank *w, struct bench_rng *r)
{
	if (w->hot < w->accounts && bench_rng_double(r) < w->hot_ratio)
		return bench_rng_below(r, w->hot);
	return bench_rng_below(r, w->accounts);
}

void bench_smallbank_next(const struct bench_smallbank *w, struct bench_rng *r,
			  struct bench_op *op)
{
	uint64_t pick = bench_rng_below(r, 100), acc = 0;
	const struct bench_sb_fn *f = &bench_sb_mix[bench_sb_mix_len - 1];
	uint64_t a, b;

	for (size_t i = 0; i < bench_sb_mix_len; i++) {
		acc += bench_sb_mix[i].weight;
		if (pick < acc) {
			f = &bench_sb_mix[i];
			break;
		}
	}
	op_set(op, "smallbank", f->name);
	a = sb_account(w, r);
	op_arg(op, "", (unsigned long long)a);
	if (f->accounts == 2) {
		do
			b = sb_account(w, r);
		while (b == a);
		op_arg(op, "", (unsigned long long)b);
	}
	if (f->amount)
		op_arg(op, "", (unsigned long long)(1 + bench_rng_below(r, 100)));
}

/* -------------------------------------------------------------- report */

const char *bench_status_name(int s)
{
	static const char *const names[BENCH_N_STATUS] = {
	    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
	    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config",
	};

	return s >= 0 && s < BENCH_N_STATUS ? names[s] : "unknown";
}

double bench_report_tps(const struct bench_report *r)
{
	return r->duration_s > 0 ? (double)r->committed / r->duration_s : 0.0;
}

enum bench_outcome bench_classify(int code)
{
	if (code == FC_OK)
		return BENCH_OUT_FINAL;
	if (code == FC_EDENIED)
		return BENCH_OUT_REJECTED_BY_CONTRACT;
	if (code == FC_ETIMEOUT || code == FC_ECLOSED)
		return BENCH_OUT_UNKNOWN;
	return BENCH_OUT_REFUSED;
}

uint64_t bench_report_completed(const struct bench_report *r)
{
	uint64_t n = r->rejected_by_contract + r->errors + r->unknown;

	for (int i = 0; i < BENCH_N_STATUS; i++)
		n += r->status[i];
	return n;
}

uint64_t bench_report_accepted(const struct bench_report *r)
{
	return bench_report_completed(r) - r->rejected_by_contract;
}

uint64_t bench_report_aborted(const struct bench_report *r)
{
	return bench_report_accepted(r) - r->status[1];
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

void bench_report_text(const struct bench_report *r, FILE *f)
{
	uint64_t done = bench_report_completed(r), base = bench_report_accepted(r);

	fprintf(f, "flexchain-bench: %s (%s)\n", r->workload, r->params);
	if (strcmp(r->mode, "open") == 0)
		fprintf(f, "load:        open loop at %.1f tx/s for %.1f s\n", r->rate,
			r->duration_s);
	else
		fprintf(f, "load:        closed loop, %u outstanding, for %.1f s\n",
			r->concurrency, r->duration_s);
	fprintf(f,
		"cluster:     %s: %zu orderers, %zu storage replicas (write quorum %zu), %zu "
		"memory nodes, %zu of %zu compute servers used (%s)%s%s\n",
		r->shape.cluster ? r->shape.cluster : "?", r->shape.orderers,
		r->shape.storage_replicas, r->shape.write_quorum, r->shape.memory_nodes,
		r->shape.compute_used, r->shape.compute_configured,
		r->shape.gateways ? r->shape.gateways : "",
		r->shape.gateway_source ? ", " : "",
		r->shape.gateway_source ? r->shape.gateway_source : "");
	if (r->setup_txs)
		fprintf(f, "setup:       %llu transactions in %.1f s (%llu failed)\n",
			(unsigned long long)r->setup_txs, r->setup_s,
			(unsigned long long)r->setup_failed);
	fprintf(f, "throughput:  %.1f committed tx/s (%llu committed, %llu issued, %llu "
		   "completed)\n",
		bench_report_tps(r), (unsigned long long)r->committed,
		(unsigned long long)r->issued, (unsigned long long)done);
	fprintf(f,
		"latency:     p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms "
		"(committed transactions)\n",
		ms(bench_hist_percentile(r->lat, 50)), ms(bench_hist_percentile(r->lat, 95)),
		ms(bench_hist_percentile(r->lat, 99)), ms(r->lat->max),
		bench_hist_mean(r->lat) / 1000.0);
	fprintf(f, "outcomes:    ");
	for (int i = 1; i < BENCH_N_STATUS; i++)
		if (r->status[i] || i == 1)
			fprintf(f, "%s %llu  ", bench_status_name(i),
				(unsigned long long)r->status[i]);
	fprintf(f, "rejected_by_contract %llu  refused %llu  unknown %llu\n",
		(unsigned long long)r->rejected_by_contract, (unsigned long long)r->errors,
		(unsigned long long)(r->unknown + r->status[0]));
	fprintf(f,
		"abort rate:  %.2f %% (conflicts %.2f %%) of %llu completions not rejected by the "
		"contract; rejected by the contract %.2f %% of %llu",
		pct(bench_report_aborted(r), base), pct(r->status[2], base),
		(unsigned long long)base, pct(r->rejected_by_contract, done),
		(unsigned long long)done);
	if (r->failovers)
		fprintf(f, "  gateway failovers %llu", (unsigned long long)r->failovers);
	fprintf(f, "\n");
}

void bench_report_json(const struct bench_report *r, FILE *f)
{
	uint64_t done = bench_report_completed(r), base = bench_report_accepted(r);

	fprintf(f, "{\n  \"workload\": \"%s\",\n  \"params\": \"%s\",\n", r->workload, r->params);
	fprintf(f, "  \"mode\": \"%s\",\n  \"rate\": %.3f,\n  \"concurrency\": %u,\n", r->mode,
		r->rate, r->concurrency);
	fprintf(f, "  \"duration_s\": %.3f,\n", r->duration_s);
	fprintf(f,
		"  \"cluster\": {\"name\": \"%s\", \"orderers\": %zu, \"storage_replicas\": %zu, "
		"\"write_quorum\": %zu, \"memory_nodes\": %zu, \"compute_configured\": %zu, "
		"\"compute_used\": %zu, \"gateways\": \"%s\", \"gateway_source\": \"%s\"},\n",
		r->shape.cluster ? r->shape.cluster : "", r->shape.orderers,
		r->shape.storage_replicas, r->shape.write_quorum, r->shape.memory_nodes,
		r->shape.compute_configured, r->shape.compute_used,
		r->shape.gateways ? r->shape.gateways : "",
		r->shape.gateway_source ? r->shape.gateway_source : "");
	fprintf(f, "  \"setup\": {\"txs\": %llu, \"failed\": %llu, \"seconds\": %.3f},\n",
		(unsigned long long)r->setup_txs, (unsigned long long)r->setup_failed, r->setup_s);
	fprintf(f, "  \"issued\": %llu,\n  \"completed\": %llu,\n  \"committed\": %llu,\n",
		(unsigned long long)r->issued, (unsigned long long)done,
		(unsigned long long)r->committed);
	fprintf(f, "  \"tps\": %.3f,\n", bench_report_tps(r));
	fprintf(f,
		"  \"latency_ms\": {\"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
		"\"mean\": %.3f, \"count\": %llu},\n",
		ms(bench_hist_percentile(r->lat, 50)), ms(bench_hist_percentile(r->lat, 95)),
		ms(bench_hist_percentile(r->lat, 99)), ms(r->lat->max),
		bench_hist_mean(r->lat) / 1000.0, (unsigned long long)r->lat->count);
	fprintf(f, "  \"status\": {");
	for (int i = 0; i < BENCH_N_STATUS; i++)
		fprintf(f, "\"%s\": %llu, ", bench_status_name(i),
			(unsigned long long)r->status[i]);
	fprintf(f, "\"rejected_by_contract\": %llu, \"refused\": %llu, \"outcome_unknown\": %llu},\n",
		(unsigned long long)r->rejected_by_contract, (unsigned long long)r->errors,
		(unsigned long long)r->unknown);
	/* abort and conflict rates: of the completions the contract did not
	 * reject (bench_report_aborted) */
	fprintf(f,
		"  \"abort_rate\": %.6f,\n  \"conflict_rate\": %.6f,\n"
		"  \"rejected_by_contract_rate\": %.6f,\n",
		pct(bench_report_aborted(r), base) / 100.0, pct(r->status[2], base) / 100.0,
		pct(r->rejected_by_contract, done) / 100.0);
	fprintf(f, "  \"failovers\": %llu,\n", (unsigned long long)r->failovers);
	fprintf(f, "  \"per_second\": [");
	for (size_t i = 0; i < r->n_secs; i++)
		fprintf(f,
			"%s\n    {\"second\": %zu, \"committed\": %llu, \"completed\": %llu, "
			"\"p50_ms\": %.3f, \"p99_ms\": %.3f}",
			i ? "," : "", i + 1, (unsigned long long)r->secs[i].committed,
			(unsigned long long)r->secs[i].completed, ms(r->secs[i].p50_us),
			ms(r->secs[i].p99_us));
	fprintf(f, "%s]\n}\n", r->n_secs ? "\n  " : "");
}
