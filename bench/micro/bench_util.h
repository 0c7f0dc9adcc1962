/* bench_util.h - clocks, a random generator and sort comparators shared by
 * the micro-benchmarks (the programs in bench/micro; nothing else includes it).
 *
 * Everything is static inline and allocates nothing. The generator is
 * xorshift64 over a caller-owned state (never 0): each benchmark keeps its
 * own seed, so its sequence of keys is the same from run to run.
 */
#ifndef FC_BENCH_UTIL_H
#define FC_BENCH_UTIL_H

#include <stdint.h>
#include <time.h>

/* Monotonic clock. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_now_us(void)
{
	return bench_now_ns() / 1000u;
}

static inline double bench_now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

/* Next value of the xorshift64 sequence in *state. */
static inline uint64_t bench_rng(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* qsort comparators, ascending. */
static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif
