/* Unit tests of the benchmark driver's core (bench/driver/bench_core.h):
 * the Zipfian generator's distribution, histogram percentiles against a
 * sort, open-loop pacing arithmetic, the workload mixes and the rendering of
 * the report. The random generator is seeded, so every run draws the same
 * samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_core.h"
#include "fc_err.h"

/* ---------------------------------------------------------------- zipf */

static void test_zipf_shape(void **state)
{
	enum { N = 1000, DRAWS = 1000000 };
	struct bench_zipf z;
	struct bench_rng r;
	uint64_t *cnt = calloc(N, sizeof *cnt);
	double zetan, top_expect = 0, top_seen = 0;

	(void)state;
	assert_non_null(cnt);
	assert_int_equal(bench_zipf_init(&z, N, 0.99), 0);
	zetan = bench_zeta(N, 0.99);
	assert_true(fabs(z.zetan - zetan) < 1e-9);
	bench_rng_seed(&r, 42);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t v = bench_zipf_next(&z, &r);
		assert_true(v < N);
		cnt[v]++;
	}
	/* ranks 0 and 1 are drawn exactly by the method: within 2 % */
	for (int i = 0; i < 2; i++) {
		double p = 1.0 / pow(i + 1, 0.99) / zetan, f = (double)cnt[i] / DRAWS;
		assert_true(fabs(f - p) / p < 0.02);
	}
	/* beyond rank 1 the method approximates the law (it inverts a
	 * continuous approximation of the CDF): rank 2 comes out about 18 %
	 * too often at theta 0.99, ranks 3..49 within 12 %, and the mass of the
	 * 100 most popular within 3 % */
	for (int i = 2; i < 50; i++) {
		double p = 1.0 / pow(i + 1, 0.99) / zetan, f = (double)cnt[i] / DRAWS;
		assert_true(fabs(f - p) / p < (i == 2 ? 0.20 : 0.12));
	}
	for (int i = 0; i < 100; i++) {
		top_expect += 1.0 / pow(i + 1, 0.99) / zetan;
		top_seen += (double)cnt[i] / DRAWS;
	}
	assert_true(fabs(top_seen - top_expect) / top_expect < 0.03);
	/* skewed: rank 0 is far more popular than the median rank */
	assert_true(cnt[0] > 50 * (cnt[N / 2] + 1));
	free(cnt);
}

static void test_zipf_uniform_and_edges(void **state)
{
	enum { N = 10, DRAWS = 200000 };
	struct bench_zipf z;
	struct bench_rng r;
	uint64_t cnt[N] = {0};
	double chi2 = 0, e = (double)DRAWS / N;

	(void)state;
	assert_int_equal(bench_zipf_init(&z, N, 0.0), 0);
	bench_rng_seed(&r, 7);
	for (int i = 0; i < DRAWS; i++)
		cnt[bench_zipf_next(&z, &r)]++;
	for (int i = 0; i < N; i++)
		chi2 += ((double)cnt[i] - e) * ((double)cnt[i] - e) / e;
	assert_true(chi2 < 27.9); /* chi-square, 9 d.o.f., p = 0.001 */
	assert_int_equal(bench_zipf_init(&z, 0, 0.5), -1);
	assert_int_equal(bench_zipf_init(&z, 10, 1.0), -1);
	assert_int_equal(bench_zipf_init(&z, 10, -0.1), -1);
	assert_int_equal(bench_zipf_init(&z, 1, 0.99), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bench_zipf_next(&z, &r), 0);
}

/* ----------------------------------------------------------- histogram */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_hist_buckets(void **state)
{
	(void)state;
	for (size_t i = 0; i + 1 < BENCH_HIST_BUCKETS; i++) {
		assert_int_equal(bench_hist_index(bench_hist_bucket_low(i)), i);
		assert_int_equal(bench_hist_index(bench_hist_bucket_high(i)), i);
		assert_int_equal(bench_hist_bucket_low(i + 1), bench_hist_bucket_high(i) + 1);
		/* relative width never above 1/128 past the exact range */
		if (i >= BENCH_HIST_SUB)
			assert_true(bench_hist_bucket_high(i) - bench_hist_bucket_low(i) + 1 <=
				    bench_hist_bucket_low(i) / BENCH_HIST_SUB);
	}
	assert_int_equal(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
	assert_int_equal(bench_hist_bucket_high(BENCH_HIST_BUCKETS - 1), UINT64_MAX);
}

static void check_percentiles(const struct bench_hist *h, uint64_t *v, size_t n)
{
	static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};

	qsort(v, n, sizeof *v, cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		size_t rank = (size_t)ceil(ps[i] / 100.0 * (double)n);
		uint64_t want = v[rank ? rank - 1 : 0], got = bench_hist_percentile(h, ps[i]);
		/* never below the true sample, at most one bucket width above */
		assert_true(got >= want);
		assert_true(got - want <= want / BENCH_HIST_SUB);
	}
}

static void test_hist_percentiles(void **state)
{
	enum { N = 200000 };
	struct bench_hist *h = calloc(1, sizeof *h), *a = calloc(1, sizeof *a);
	struct bench_rng r;
	uint64_t *v = malloc(N * sizeof *v);
	double sum = 0;

	(void)state;
	assert_non_null(h);
	assert_non_null(a);
	assert_non_null(v);
	assert_int_equal(bench_hist_percentile(h, 99), 0);
	bench_rng_seed(&r, 1);
	for (size_t i = 0; i < N; i++) {
		/* log-uniform over 1 us .. ~17 min: every bucket range is used */
		v[i] = (uint64_t)exp(bench_rng_double(&r) * 20.7);
		sum += (double)v[i];
		bench_hist_record(h, v[i]);
		/* half into a, to check merging */
		if (i % 2 == 0)
			bench_hist_record(a, v[i]);
	}
	assert_true(fabs(bench_hist_mean(h) - sum / N) < 1e-6 * sum / N);
	for (size_t i = 1; i < N; i += 2) {
		struct bench_hist *one = calloc(1, sizeof *one);
		assert_non_null(one);
		bench_hist_record(one, v[i]);
		bench_hist_merge(a, one);
		free(one);
	}
	assert_memory_equal(a->b, h->b, sizeof h->b);
	check_percentiles(h, v, N);

	/* small values are exact */
	bench_hist_reset(h);
	for (uint64_t i = 0; i < 100; i++) {
		v[i] = 99 - i;
		bench_hist_record(h, v[i]);
	}
	check_percentiles(h, v, 100);
	assert_int_equal(bench_hist_percentile(h, 50), 49);
	assert_int_equal(bench_hist_percentile(h, 99), 98);
	free(v);
	free(a);
	free(h);
}

/* -------------------------------------------------------------- pacing */

static void test_pacing(void **state)
{
	(void)state;
	/* 1000 tx/s: one every millisecond, the first at once */
	assert_int_equal(bench_pace_due(1000, 0), 1);
	assert_int_equal(bench_pace_due(1000, 999), 1);
	assert_int_equal(bench_pace_due(1000, 1000), 2);
	assert_int_equal(bench_pace_due(1000, 1000000), 1001);
	assert_int_equal(bench_pace_intended_us(1000, 0), 0);
	assert_int_equal(bench_pace_intended_us(1000, 1), 1000);
	assert_int_equal(bench_pace_intended_us(1000, 1000), 1000000);
	/* fractional rates: 0.5 tx/s is one every two seconds */
	assert_int_equal(bench_pace_due(0.5, 1999999), 1);
	assert_int_equal(bench_pace_due(0.5, 2000000), 2);
	assert_int_equal(bench_pace_intended_us(0.5, 3), 6000000);
	/* 3 tx/s: intended times round up, and are consistent with due() */
	for (uint64_t k = 0; k < 1000; k++) {
		uint64_t t = bench_pace_intended_us(3, k);
		assert_true(bench_pace_due(3, t) >= k + 1);
		if (t > 0)
			assert_true(bench_pace_due(3, t - 1) <= k);
	}
	/* a day at a million tx/s neither overflows nor drifts */
	assert_int_equal(bench_pace_due(1e6, 86400ull * 1000000), 86400ull * 1000000 + 1);
}

/* ----------------------------------------------------------- workloads */

static void test_workloads(void **state)
{
	struct bench_rng r;
	struct bench_ycsb y;
	struct bench_smallbank sb;
	struct bench_op op;
	unsigned weight = 0, reads = 0, counts[16] = {0};

	(void)state;
	bench_rng_seed(&r, 3);
	assert_int_equal(bench_ycsb_init(&y, 100, 0.9, BENCH_ZIPF, 0.99, 10, &r), 0);
	bench_ycsb_setup_op(&y, 42, &op);
	assert_string_equal(op.contract, "kv");
	assert_string_equal(op.function, "insert");
	assert_int_equal(op.nargs, 2);
	assert_string_equal(op.args[0], "user42");
	assert_int_equal(strlen(op.args[1]), 10);
	for (int i = 0; i < 10000; i++) {
		bench_ycsb_next(&y, &r, &op);
		assert_true(strncmp(op.args[0], "user", 4) == 0 && atoi(op.args[0] + 4) < 100);
		if (strcmp(op.function, "read") == 0) {
			assert_int_equal(op.nargs, 1);
			reads++;
		} else {
			assert_string_equal(op.function, "update");
			assert_int_equal(op.nargs, 2);
		}
	}
	assert_true(reads > 8700 && reads < 9300);
	bench_ycsb_free(&y);
	assert_int_equal(bench_ycsb_init(&y, 0, 0.5, BENCH_UNIFORM, 0, 10, &r), -1);

	for (size_t i = 0; i < bench_sb_mix_len; i++)
		weight += bench_sb_mix[i].weight;
	assert_int_equal(weight, 100);
	assert_int_equal(bench_smallbank_init(&sb, 1000, 10, 1.0), 0);
	bench_smallbank_setup_op(&sb, 7, &op);
	assert_string_equal(op.function, "create_account");
	assert_int_equal(op.nargs, 3);
	assert_string_equal(op.args[0], "7");
	for (int i = 0; i < 20000; i++) {
		size_t k;
		bench_smallbank_next(&sb, &r, &op);
		for (k = 0; k < bench_sb_mix_len; k++)
			if (strcmp(op.function, bench_sb_mix[k].name) == 0)
				break;
		assert_true(k < bench_sb_mix_len);
		counts[k]++;
		assert_int_equal(op.nargs,
				 bench_sb_mix[k].accounts + (bench_sb_mix[k].amount ? 1 : 0));
		/* hot ratio 1: every account in the hot set of 10 */
		assert_true(atoi(op.args[0]) < 10);
		if (bench_sb_mix[k].accounts == 2)
			assert_true(strcmp(op.args[0], op.args[1]) != 0 && atoi(op.args[1]) < 10);
	}
	for (size_t k = 0; k < bench_sb_mix_len; k++) {
		double f = counts[k] / 20000.0, w = bench_sb_mix[k].weight / 100.0;
		assert_true(fabs(f - w) < 0.02);
	}
	assert_int_equal(bench_smallbank_init(&sb, 1, 0, 0), -1);
}

/* -------------------------------------------------------------- report */

static char *render(const struct bench_report *r, int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		bench_report_json(r, f);
	else
		bench_report_text(r, f);
	fclose(f);
	return buf;
}

static void test_report(void **state)
{
	struct bench_hist *h = calloc(1, sizeof *h);
	struct bench_second secs[2] = {{400, 410, 2000, 9000}, {600, 620, 3000, 12000}};
	struct bench_report r;
	char *t, *j, want[64];
	int depth = 0;

	(void)state;
	assert_non_null(h);
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_record(h, v * 100); /* 0.1 .. 10 ms */
	memset(&r, 0, sizeof r);
	r.workload = "ycsb";
	snprintf(r.params, sizeof r.params, "records=1000");
	r.mode = "closed";
	r.concurrency = 16;
	r.duration_s = 2;
	r.shape.cluster = "local";
	r.shape.orderers = 3;
	r.shape.storage_replicas = 2;
	r.shape.write_quorum = 2;
	r.shape.memory_nodes = 1;
	r.shape.compute_configured = 4;
	r.shape.compute_used = 2;
	r.shape.gateways = "c0,c1";
	r.issued = 1050;
	r.committed = 1000;
	r.status[1] = 1000;
	r.status[2] = 30;
	r.errors = 10;
	r.unknown = 0;
	r.lat = h;
	r.secs = secs;
	r.n_secs = 2;
	assert_true(fabs(bench_report_tps(&r) - 500.0) < 1e-9);

	t = render(&r, 0);
	assert_non_null(strstr(t, "500.0 committed tx/s"));
	assert_non_null(strstr(t, "closed loop, 16 outstanding"));
	assert_non_null(strstr(t, "3 orderers, 2 storage replicas (write quorum 2), 1 memory "
				  "nodes, 2 of 4 compute servers used (c0,c1)"));
	/* percentiles to bucket precision: the rendering shows exactly them */
	assert_true(bench_hist_percentile(h, 50) >= 5000 && bench_hist_percentile(h, 50) < 5040);
	snprintf(want, sizeof want, "p50 %.3f ms", bench_hist_percentile(h, 50) / 1000.0);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof want, "p99 %.3f ms", bench_hist_percentile(h, 99) / 1000.0);
	assert_non_null(strstr(t, want));
	assert_non_null(strstr(t, "max 10.000 ms"));
	assert_non_null(strstr(t, "mvcc_read_conflict 30"));
	assert_non_null(strstr(t, "rejected_by_contract 0  refused 10  unknown 0"));
	/* 40 of 1040 completions did not commit */
	assert_non_null(strstr(t, "abort rate:  3.85 % (conflicts 2.88 %) of 1040 completions"));

	j = render(&r, 1);
	assert_non_null(strstr(j, "\"tps\": 500.000"));
	assert_non_null(strstr(j, "\"committed\": 1000"));
	snprintf(want, sizeof want, "\"p99\": %.3f", bench_hist_percentile(h, 99) / 1000.0);
	assert_non_null(strstr(j, want));
	assert_non_null(strstr(j, "\"orderers\": 3"));
	assert_non_null(strstr(j, "\"mvcc_read_conflict\": 30"));
	assert_non_null(strstr(j, "{\"second\": 2, \"committed\": 600, \"completed\": 620, "
				  "\"p50_ms\": 3.000, \"p99_ms\": 12.000}"));
	for (const char *p = j; *p; p++) {
		depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
		assert_true(depth >= 0);
	}
	assert_int_equal(depth, 0);
	free(t);
	free(j);
	free(h);
}

static void test_outcomes(void **state)
{
	struct bench_hist *h = calloc(1, sizeof *h);
	struct bench_report r;
	char *t, *j;

	(void)state;
	assert_non_null(h);
	/* the gateway's codes: only FC_EDENIED is the contract's own refusal */
	assert_int_equal(bench_classify(FC_OK), BENCH_OUT_FINAL);
	assert_int_equal(bench_classify(FC_EDENIED), BENCH_OUT_REJECTED_BY_CONTRACT);
	assert_int_equal(bench_classify(FC_ETIMEOUT), BENCH_OUT_UNKNOWN);
	assert_int_equal(bench_classify(FC_ECLOSED), BENCH_OUT_UNKNOWN);
	const int refused[] = {FC_EVERIFY,  FC_EINVAL, FC_ENOTFOUND, FC_EMISMATCH, FC_EBUSY,
			       FC_EAGAIN,   FC_ESTATE, FC_ECONFIG,   FC_ENOMEM,    FC_EIO,
			       FC_ETOOBIG,  FC_EEXIST, FC_EPROTO,    FC_EINTERNAL};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		assert_int_equal(bench_classify(refused[i]), BENCH_OUT_REFUSED);

	/* the README demo's numbers: 72 business refusals are no failure */
	memset(&r, 0, sizeof r);
	r.workload = "smallbank";
	r.mode = "closed";
	r.concurrency = 16;
	r.duration_s = 10;
	r.lat = h;
	r.committed = r.status[1] = 2089;
	r.status[2] = 23;
	r.rejected_by_contract = 72;
	r.errors = 3;
	r.unknown = 1;
	r.status[0] = 1;
	assert_int_equal(bench_report_completed(&r), 2189);
	assert_int_equal(bench_report_accepted(&r), 2117);
	assert_int_equal(bench_report_aborted(&r), 28); /* 23 + 3 + 1 + 1 */
	t = render(&r, 0);
	assert_non_null(strstr(t, "outcomes:    valid 2089  mvcc_read_conflict 23  "
				  "rejected_by_contract 72  refused 3  unknown 2\n"));
	assert_non_null(strstr(t, "abort rate:  1.32 % (conflicts 1.09 %) of 2117 completions "
				  "not rejected by the contract; rejected by the contract 3.29 % "
				  "of 2189"));
	j = render(&r, 1);
	assert_non_null(strstr(j, "\"rejected_by_contract\": 72, \"refused\": 3, "
				  "\"outcome_unknown\": 1}"));
	assert_non_null(strstr(j, "\"completed\": 2189"));
	assert_non_null(strstr(j, "\"abort_rate\": 0.013226"));
	assert_non_null(strstr(j, "\"conflict_rate\": 0.010864"));
	assert_non_null(strstr(j, "\"rejected_by_contract_rate\": 0.032892"));
	free(t);
	free(j);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zipf_shape),	    cmocka_unit_test(test_zipf_uniform_and_edges),
	    cmocka_unit_test(test_hist_buckets),    cmocka_unit_test(test_hist_percentiles),
	    cmocka_unit_test(test_pacing),	    cmocka_unit_test(test_workloads),
	    cmocka_unit_test(test_report),	    cmocka_unit_test(test_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
