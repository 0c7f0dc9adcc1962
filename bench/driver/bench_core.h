/* bench_core.h - the measuring core of flexchain-bench, free of I/O to the
 * cluster so that it can be tested on its own: random numbers, the Zipfian
 * generator, a latency histogram, open-loop pacing, the workloads'
 * operation mix, and the rendering of the final report (text and JSON).
 *
 * Ownership: every object here is caller-allocated or returned by a
 * *_create and released by the matching *_destroy. Nothing is thread-safe:
 * the driver runs on one libuv loop.
 */
#ifndef FC_BENCH_CORE_H
#define FC_BENCH_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------- random */

/* xoshiro256** seeded through splitmix64: fast, good enough for workloads. */
struct bench_rng {
	uint64_t s[4];
};

void bench_rng_seed(struct bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(struct bench_rng *r);
/* Uniform double in [0, 1). */
double bench_rng_double(struct bench_rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t bench_rng_below(struct bench_rng *r, uint64_t n);

/* ------------------------------------------------------------- Zipfian */

/* Item ranks 0..n-1 drawn with P(rank i) proportional to 1 / (i+1)^theta,
 * by the method of Gray et al., "Quickly generating billion-record synthetic
 * databases" (SIGMOD 1994), as YCSB does. Rank 0 is the most popular.
 * 0 <= theta < 1 (theta 0 is uniform); n >= 1. Creation is O(n) (zeta). */
struct bench_zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow_theta;
};

/* FC_EINVAL-like failure as -1 when n == 0 or theta is outside [0, 1). */
int bench_zipf_init(struct bench_zipf *z, uint64_t n, double theta);
uint64_t bench_zipf_next(const struct bench_zipf *z, struct bench_rng *r);
/* zeta(n, theta) = sum_{i=1..n} 1/i^theta. */
double bench_zeta(uint64_t n, double theta);

/* ----------------------------------------------------------- histogram */

/* HDR-style log-linear buckets over uint64 values (the driver records
 * microseconds): values below 2^BENCH_HIST_SUB_BITS are exact, larger ones
 * fall in buckets of relative width at most 2^-BENCH_HIST_SUB_BITS. A
 * percentile is reported as the highest value of its bucket (never below the
 * true sample, at most 1/128 above it), capped at the largest value
 * recorded. */
#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count, min, max;
	double sum;
	uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t v);
/* Adds every sample of src to dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The value at percentile p (0 < p <= 100): the smallest recorded value v
 * such that at least ceil(p/100 * count) samples are <= v, to bucket
 * precision. 0 for an empty histogram. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);
double bench_hist_mean(const struct bench_hist *h);
/* Bucket arithmetic (exposed for tests). */
size_t bench_hist_index(uint64_t v);
uint64_t bench_hist_bucket_low(size_t idx);
uint64_t bench_hist_bucket_high(size_t idx);

/* -------------------------------------------------------------- pacing */

/* Open loop at rate tps: transaction k (0-based) is due at k/rate seconds
 * after the start. Number of transactions due once elapsed_us have passed
 * (transaction 0 is due at once). */
uint64_t bench_pace_due(double rate, uint64_t elapsed_us);
/* The intended start of transaction k, in us after the start. */
uint64_t bench_pace_intended_us(double rate, uint64_t k);

/* ----------------------------------------------------------- workloads */

#define BENCH_MAX_ARGS 5
#define BENCH_ARG_LEN 64

/* One operation: contract, function and decimal-text / key arguments. The
 * value argument of a kv write points at the workload's value buffer. */
struct bench_op {
	const char *contract;
	const char *function;
	size_t nargs;
	char argbuf[BENCH_MAX_ARGS][BENCH_ARG_LEN];
	const char *args[BENCH_MAX_ARGS];
};

enum bench_dist { BENCH_UNIFORM, BENCH_ZIPF };

struct bench_ycsb {
	uint64_t records;
	double read_ratio; /* the rest are updates */
	enum bench_dist dist;
	struct bench_zipf zipf;
	char *value; /* value_size printable bytes + NUL, owned */
};

/* -1 on bad parameters (records 0, ratio outside [0, 1], bad theta,
 * value_size 0 or > 1 MiB) or out of memory. */
int bench_ycsb_init(struct bench_ycsb *w, uint64_t records, double read_ratio,
		    enum bench_dist dist, double theta, size_t value_size, struct bench_rng *r);
void bench_ycsb_free(struct bench_ycsb *w);
/* The setup insert of record i, and the next measured operation. */
void bench_ycsb_setup_op(const struct bench_ycsb *w, uint64_t i, struct bench_op *op);
void bench_ycsb_next(const struct bench_ycsb *w, struct bench_rng *r, struct bench_op *op);
/* "user<i>" (the key of record i) into buf. */
void bench_ycsb_key(uint64_t i, char *buf, size_t len);

/* SmallBank (compute/contracts/smallbank.c). The transaction mix of the
 * H-Store / OLTP-Bench implementation, one table; the setup function is
 * create_account. */
struct bench_sb_fn {
	const char *name;
	unsigned accounts; /* 1 or 2 account ids */
	int amount;	   /* takes an AMOUNT */
	unsigned weight;   /* percent of the mix */
};
extern const struct bench_sb_fn bench_sb_mix[];
extern const size_t bench_sb_mix_len;
#define BENCH_SB_SETUP_FN "create_account"
#define BENCH_SB_INITIAL_BALANCE 1000000 /* cents, per balance */

struct bench_smallbank {
	uint64_t accounts;
	uint64_t hot;	   /* the hot set: accounts 0..hot-1 */
	double hot_ratio;  /* probability that an account is drawn from the hot set */
};

int bench_smallbank_init(struct bench_smallbank *w, uint64_t accounts, uint64_t hot,
			 double hot_ratio);
void bench_smallbank_setup_op(const struct bench_smallbank *w, uint64_t i, struct bench_op *op);
void bench_smallbank_next(const struct bench_smallbank *w, struct bench_rng *r,
			  struct bench_op *op);

/* ML (compute/contracts/ml.c): k-means over a fixed set of points. The
 * setup loads points 0..points-1 under the prefix "ml.d<DIM>." (load_points
 * with a fixed seed, BENCH_ML_LOAD_CHUNK points a transaction, so the same
 * parameters always write the same points); every measured transaction is
 * `kmeans PREFIX points k iters`. kmeans reads the points, which nothing
 * writes while measuring, and writes PREFIX.centroids without reading it (a
 * blind write): concurrent transactions do not MVCC-conflict. */
#define BENCH_ML_LOAD_CHUNK 100
#define BENCH_ML_SEED 20260101
#define BENCH_ML_MAX_WORK 1000000000ULL /* the contract's points*k*iters*dim bound */

struct bench_ml {
	uint64_t points;
	unsigned dim, k, iters;
	char prefix[24];
};

/* -1 on parameters the contract refuses: points 1..100000, dim 1..64,
 * k 1..64 and <= points, iters 1..1000, points*k*iters*dim <= 10^9. */
int bench_ml_init(struct bench_ml *w, uint64_t points, unsigned dim, unsigned k, unsigned iters);
/* Setup transactions needed to load the points. */
uint64_t bench_ml_setup_txs(const struct bench_ml *w);
void bench_ml_setup_op(const struct bench_ml *w, uint64_t i, struct bench_op *op);
void bench_ml_next(const struct bench_ml *w, struct bench_op *op);

/* -------------------------------------------------------------- report */

#define BENCH_N_STATUS 8 /* TxStatus values 0..7 */

/* How the driver counts one measured completion, from the code of its
 * gateway result (fc_gwclient.h):
 *   BENCH_OUT_FINAL       FC_OK: the transaction has a final status (TxStatus,
 *                         TX_UNKNOWN when none was decided in time).
 *   BENCH_OUT_REJECTED_BY_CONTRACT
 *                         FC_EDENIED: the contract itself refused the
 *                         transaction at execution by a business rule
 *                         (SmallBank: "checking balance 0 cannot cover 100").
 *                         Nothing was endorsed nor ordered; a normal outcome
 *                         of the workload, not a failure of the system. The
 *                         gateway answers FC_EDENIED for nothing else
 *                         (compute/daemon/gateway.c).
 *   BENCH_OUT_UNKNOWN     FC_ETIMEOUT, FC_ECLOSED: the outcome is unknown.
 *   BENCH_OUT_REFUSED     anything else: refused by the system, never ordered
 *                         (bad signature or arguments, endorsement policy not
 *                         met, endorsements differing, every gateway
 *                         draining, orderer refusal, out of memory, ...). */
enum bench_outcome {
	BENCH_OUT_FINAL,
	BENCH_OUT_REJECTED_BY_CONTRACT,
	BENCH_OUT_REFUSED,
	BENCH_OUT_UNKNOWN,
};

enum bench_outcome bench_classify(int code);

struct bench_shape {
	const char *cluster;
	size_t orderers, storage_replicas, write_quorum, memory_nodes, compute_configured;
	size_t compute_used;
	const char *gateways; /* comma-separated ids used */
	const char *gateway_source; /* how they were found, e.g. "discovered
				     * from the orderers"; NULL: not shown */
};

struct bench_second {
	uint64_t committed; /* TX_VALID completions in this second */
	uint64_t completed; /* every completion */
	uint64_t p50_us, p99_us;
};

struct bench_report {
	const char *workload; /* "ycsb" | "smallbank" | "ml" */
	char params[256];     /* the workload's parameters, one line */
	const char *mode;     /* "open" | "closed" */
	double rate;	      /* open loop */
	unsigned concurrency; /* closed loop */
	double duration_s;    /* measured window */
	struct bench_shape shape;
	uint64_t setup_txs, setup_failed;
	double setup_s;
	uint64_t issued;
	uint64_t committed;		    /* TX_VALID within the window */
	uint64_t status[BENCH_N_STATUS];    /* final statuses of completions */
	uint64_t rejected_by_contract;	    /* BENCH_OUT_REJECTED_BY_CONTRACT */
	uint64_t errors;		    /* BENCH_OUT_REFUSED: refused by the system */
	uint64_t unknown;		    /* BENCH_OUT_UNKNOWN: timeout / connection lost */
	uint64_t failovers;
	struct bench_hist *lat; /* latency of committed (VALID) transactions, us */
	const struct bench_second *secs;
	size_t n_secs;
};

double bench_report_tps(const struct bench_report *r);
/* Every completion (final statuses, rejected by the contract, refused,
 * unknown); the ones the contract did not reject (the base of the abort
 * rate); and the aborts among them: every completion that is neither VALID
 * nor rejected by the contract (invalid final statuses, TX_UNKNOWN, refused
 * by the system, outcome unknown). A contract's rejection is no abort: the
 * transaction ran and the contract said no. */
uint64_t bench_report_completed(const struct bench_report *r);
uint64_t bench_report_accepted(const struct bench_report *r);
uint64_t bench_report_aborted(const struct bench_report *r);
void bench_report_text(const struct bench_report *r, FILE *f);
void bench_report_json(const struct bench_report *r, FILE *f);
/* Names of TxStatus values as in fc_gw_status_name. */
const char *bench_status_name(int s);

#endif
