/* bench-validate: block validation (V1 + V2) throughput, sequential versus
 * graph-parallel, against the machine's raw ECDSA P-256 verify rate.
 *
 *   bench-validate [--blocks N] [--txs N] [--accounts N] [--seconds S]
 *                  [--rounds R]
 *
 * Defaults: 20 blocks of 500 SmallBank-like transactions; each reads and
 * writes 2 distinct accounts drawn uniformly from 100000 (low conflict), at
 * their committed versions. Endorsement policy AND(Org1,Org2), so each
 * transaction costs 3 ECDSA verifications (client + 2 endorsers).
 * Certificates are chain-verified once (the castore cache is warmed by one
 * unmeasured block). S (default 1) is the duration of each raw verify-rate
 * measurement. Prints; asserts nothing.
 *
 * Every one of R rounds (default 3) measures the raw verify rates, then
 * sequential, then graph-parallel validation, so that each is taken under
 * the same conditions as its bound; the summary takes the best round of
 * each measure (other load only ever slows a run down). The machine must be
 * otherwise idle for the numbers to mean anything: the load average before
 * the run is printed, and for the parallel runs the CPU time the process got
 * per second of wall time and the time its threads spent runnable but
 * waiting for a CPU (run-queue wait, from /proc/self/task/<tid>/schedstat)
 * tell a starved run (other processes held the cores: CPUs well under the
 * usable count, long run-queue wait) from a serialised one (threads idle on
 * a lock or an empty queue: CPUs low, little run-queue wait). Some wait is
 * the process's own: the pool's threads plus the caller helping in
 * fc_tpool_group_wait are one more thread than CPUs.
 */
#define _GNU_SOURCE /* getloadavg */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_tpool.h"

#include "../../tests/unit/fc_test_chain.h"
#include "bench_util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* ------------------------------------------------------ raw verify rate */

struct vctx {
	const fc_cert *cert;
	const uint8_t *digest;
	const uint8_t *sig;
	size_t siglen;
	double seconds;
	atomic_int *go;
	unsigned long count;
	int failed;
};

static void *verify_loop(void *arg)
{
	struct vctx *c = arg;
	while (!atomic_load(c->go))
		;
	double t0 = bench_now_s(), t;
	unsigned long n = 0;
	do {
		for (int i = 0; i < 16; i++)
			if (fc_crypto_verify_digest(c->cert, c->digest, c->sig, c->siglen, NULL) !=
			    FC_OK)
				c->failed = 1;
		n += 16;
		t = bench_now_s();
	} while (t - t0 < c->seconds);
	c->count = n;
	c->seconds = t - t0;
	return NULL;
}

/* Verifications per second on nthreads threads at once. */
static double verify_rate(unsigned nthreads, const fc_cert *cert, const uint8_t *digest,
			  const uint8_t *sig, size_t siglen, double seconds)
{
	pthread_t *th = calloc(nthreads, sizeof *th);
	struct vctx *c = calloc(nthreads, sizeof *c);
	atomic_int go = 0;
	double rate = 0;
	if (!th || !c)
		goto out;
	for (unsigned i = 0; i < nthreads; i++) {
		c[i] = (struct vctx){cert, digest, sig, siglen, seconds, &go, 0, 0};
		if (pthread_create(&th[i], NULL, verify_loop, &c[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	atomic_store(&go, 1);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		if (c[i].failed)
			fprintf(stderr, "warning: a verification failed\n");
		rate += (double)c[i].count / c[i].seconds;
	}
out:
	free(th);
	free(c);
	return rate;
}

/* ---------------------------------------------------------- validation */

/* CPU time of the whole process (every thread), seconds. */
static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Sum over the live threads of the process of the time spent runnable but
 * not running (schedstat's second field), seconds; -1 when unavailable. */
static double runq_wait_s(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	double sum = 0;
	int any = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned long long run, wait;
		if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
			sum += (double)wait / 1e9;
			any = 1;
		}
		fclose(f);
	}
	closedir(d);
	return any ? sum : -1;
}

struct run {
	double seconds;
	double cpu;  /* CPU seconds the process used meanwhile */
	double runq; /* seconds its threads waited for a CPU, -1 unknown */
	unsigned long valid, total;
};

static int validate_all(struct fc_validate_opts *o, struct fct_block *blocks, size_t nblocks,
			size_t ntx, struct run *r)
{
	char err[FC_ERRMSG_LEN] = "";
	uint8_t *st = malloc(ntx ? ntx : 1), wsh[32];
	if (!st)
		return FC_ENOMEM;
	memset(r, 0, sizeof *r);
	double q0 = runq_wait_s(), c0 = cpu_s();
	double t0 = bench_now_s();
	for (size_t b = 0; b < nblocks; b++) {
		int rc = fc_validate_block(o, &blocks[b].b, st, wsh, err);
		if (rc != FC_OK) {
			fprintf(stderr, "validate block %zu: %s\n", b, err);
			free(st);
			return rc;
		}
		for (size_t i = 0; i < ntx; i++)
			r->valid += st[i] == FLEXCHAIN__TX_STATUS__TX_VALID;
		r->total += ntx;
	}
	r->seconds = bench_now_s() - t0;
	r->cpu = cpu_s() - c0;
	double q1 = runq_wait_s();
	r->runq = q0 >= 0 && q1 >= 0 ? q1 - q0 : -1;
	free(st);
	return FC_OK;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-validate [--blocks N] [--txs N] [--accounts N] [--seconds S]\n"
		"                      [--rounds R]\n");
}

int main(int argc, char **argv)
{
	unsigned long nblocks = 20, ntx = 500, naccounts = 100000, nrounds = 3;
	double vsec = 1.0;
	char err[FC_ERRMSG_LEN] = "";
	struct fct_pki pki;
	struct fct_state st;
	struct fc_tpool *pool = NULL;
	struct fct_env **envs = NULL;
	struct fct_block *blocks = NULL;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (strcmp(a, "--blocks") == 0)
			nblocks = strtoul(v, NULL, 10);
		else if (strcmp(a, "--txs") == 0)
			ntx = strtoul(v, NULL, 10);
		else if (strcmp(a, "--accounts") == 0)
			naccounts = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			vsec = strtod(v, NULL);
		else if (strcmp(a, "--rounds") == 0)
			nrounds = strtoul(v, NULL, 10);
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (nblocks < 1 || ntx < 1 || naccounts < 2 || naccounts > 99999999 || vsec <= 0 ||
	    nrounds < 1 || nrounds > 100) {
		usage();
		return 2;
	}
	fc_log_set_level(FC_LOG_WARN);
	double load0[1] = {-1};
	if (getloadavg(load0, 1) != 1)
		load0[0] = -1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nonline = ncpu > 0 ? (unsigned)ncpu : 1;
	/* the CPUs this process may use: the pool and the all-core bound
	 * both use exactly these */
	unsigned nproc = fc_tpool_ncpus();

	if (fct_pki_init(&pki, err) != FC_OK ||
	    fct_state_init(&st, 2 * naccounts, pki.pol) != FC_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	if (fc_tpool_create(nproc, &pool, err) != FC_OK) {
		fprintf(stderr, "thread pool: %s\n", err);
		goto out;
	}
	/* committed state: every account exists at some earlier version */
	char key[2][FCT_KEY_MAX];
	for (unsigned long a = 0; a < naccounts; a++) {
		snprintf(key[0], sizeof key[0], "acct%08lu", a);
		fct_state_set(&st, key[0], fc_version_pack(1 + a % 7, (uint32_t)(a % 500)));
	}

	/* build and sign the blocks (not measured) */
	double t0 = bench_now_s();
	envs = calloc(nblocks * ntx, sizeof *envs);
	blocks = calloc(nblocks, sizeof *blocks);
	if (!envs || !blocks)
		goto nomem;
	for (unsigned long b = 0; b < nblocks; b++) {
		for (unsigned long i = 0; i < ntx; i++) {
			struct fct_env *e = fct_env_new();
			int org = (int)(i % 2);
			envs[b * ntx + i] = e;
			fct_env_init(e, pki.client[org].cert, FCT_CONTRACT, b * ntx + i + 1);
			unsigned long x = bench_rng(&rng_state) % naccounts, y;
			do
				y = bench_rng(&rng_state) % naccounts;
			while (y == x);
			for (int k = 0; k < 2; k++) {
				unsigned long acct = k ? y : x;
				snprintf(key[k], sizeof key[k], "acct%08lu", acct);
				fct_env_add_read(e, key[k],
						 fc_version_pack(1 + acct % 7, (uint32_t)(acct % 500)));
				fct_env_add_write(e, key[k], k ? "credit" : "debit", false);
			}
			fct_env_sort(e);
			if (fct_env_sign_std(e, &pki, org, err) != FC_OK) {
				fprintf(stderr, "sign: %s\n", err);
				goto out;
			}
		}
		if (fct_block_init(&blocks[b], 2, envs + b * ntx, ntx, err) != FC_OK) {
			fprintf(stderr, "block: %s\n", err);
			goto out;
		}
	}
	double t_build = bench_now_s() - t0;
	size_t edges = 0;
	for (unsigned long b = 0; b < nblocks; b++)
		edges += fc_depgraph_edges(blocks[b].g);

	/* (a) raw verify rate, (b) validation, in rounds */
	uint8_t digest[32];
	struct fct_env *e0 = envs[0];
	if (fc_hash_endorsement_of(&e0->env, digest) != FC_OK)
		goto out;
	const fc_cert *vc = pki.compute[FCT_ORG1].cert;
	const uint8_t *vs = e0->esig[0];
	size_t vslen = e0->endo[0].signature.len;

	struct fc_validate_opts seq = {.castore = pki.cs, .pool = NULL, .parallel = false,
				       .state = fct_state_ops(&st)};
	struct fc_validate_opts par = seq;
	par.pool = pool;
	par.parallel = true;
	struct run rs, rp;
	/* warm the certificate cache with one block first */
	if (validate_all(&seq, blocks, 1, ntx, &rs) != FC_OK)
		goto out;

	printf("bench-validate: %lu blocks x %lu txs, %lu accounts, policy %s, "
	       "%u usable CPUs (%u online), pool of %u threads, %lu rounds\n",
	       nblocks, ntx, naccounts, FCT_POLICY, nproc, nonline, fc_tpool_size(pool), nrounds);
	if (load0[0] >= 0)
		printf("  load average (1 min) before the run: %.2f\n", load0[0]);
	printf("  setup (sign + graphs, not measured): %.2f s; graph edges/block: %.1f\n", t_build,
	       (double)edges / (double)nblocks);
	printf("\n  %5s %12s %12s %10s %10s %9s %11s\n", "round", "verify 1thr", "verify all",
	       "seq tx/s", "par tx/s", "par CPUs", "par runq-s");
	double r1 = 0, rn = 0, tps_s = 0, tps_p = 0, par_cpus = 0, par_runq = -1;
	unsigned long valid_s = 0, valid_p = 0, total = 0;
	for (unsigned long round = 0; round < nrounds; round++) {
		double a1 = verify_rate(1, vc, digest, vs, vslen, vsec);
		double an = verify_rate(nproc, vc, digest, vs, vslen, vsec);
		if (validate_all(&seq, blocks, nblocks, ntx, &rs) != FC_OK ||
		    validate_all(&par, blocks, nblocks, ntx, &rp) != FC_OK)
			goto out;
		double ts = (double)rs.total / rs.seconds, tp = (double)rp.total / rp.seconds;
		double cpus = rp.cpu / rp.seconds;
		printf("  %5lu %10.0f/s %10.0f/s %8.0f/s %8.0f/s %9.2f %11.2f\n", round + 1, a1, an,
		       ts, tp, cpus, rp.runq);
		if (a1 > r1)
			r1 = a1;
		if (an > rn)
			rn = an;
		if (ts > tps_s)
			tps_s = ts;
		if (tp > tps_p) {
			tps_p = tp;
			par_cpus = cpus;
			par_runq = rp.runq;
		}
		valid_s = rs.valid;
		valid_p = rp.valid;
		total = rs.total;
	}
	double bound1 = r1 / 3.0, bound = rn / 3.0;

	printf("\n  best of %lu rounds; valid txs: sequential %lu/%lu, parallel %lu/%lu%s\n",
	       nrounds, valid_s, total, valid_p, total, valid_s == valid_p ? "" : "  ** DIFFER **");
	printf("  %-50s %14s\n", "measure", "value");
	printf("  %-50s %14s\n", "--------------------------------------------------",
	       "--------------");
	printf("  %-50s %12.0f/s\n", "(a) ECDSA P-256 verify, 1 thread", r1);
	printf("  %-50s %12.0f/s\n", "(a) ECDSA P-256 verify, all usable CPUs", rn);
	printf("  %-50s %12.0f/s\n", "(b) validation, sequential (parallel=false)", tps_s);
	printf("  %-50s %12.0f/s\n", "      1-thread bound: 1-thread verify rate / 3", bound1);
	printf("  %-50s %13.1f%%\n", "      sequential / 1-thread bound", 100.0 * tps_s / bound1);
	printf("  %-50s %12.0f/s\n", "(b) validation, graph-parallel (pool)", tps_p);
	printf("  %-50s %12.0f/s\n", "      all-core bound: all-core verify rate / 3", bound);
	printf("  %-50s %13.1f%%\n", "      parallel / all-core bound (goal >= 80%)",
	       100.0 * tps_p / bound);
	printf("  %-50s %13.2fx\n", "(c) speedup parallel vs sequential", tps_p / tps_s);
	printf("  %-50s %13.2fx\n", "    ideal on these CPUs (all-core / 1-thread verify)",
	       rn / r1);
	if ((load0[0] >= 0 && load0[0] > 0.5) || par_cpus < 0.9 * nproc)
		printf("\n  warning: the machine was not idle (load %.2f before the run; the best "
		       "parallel run\n  got %.2f of %u CPUs and waited %.2f s for a CPU): numbers "
		       "are not quotable\n",
		       load0[0], par_cpus, nproc, par_runq);
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "out of memory\n");
out:
	for (unsigned long b = 0; blocks && b < nblocks; b++)
		fct_block_release(&blocks[b]);
	for (unsigned long i = 0; envs && i < nblocks * ntx; i++)
		free(envs[i]);
	free(blocks);
	free(envs);
	fc_tpool_destroy(pool);
	fct_state_destroy(&st);
	fct_pki_destroy(&pki);
	return rc;
}
