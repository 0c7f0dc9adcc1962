/* bench-transport: operations/s and p50/p99 latency of one-sided READ (64 B,
 * 1 KiB) and 8-byte CAS for each data-plane backend this machine can reach.
 * A benchmark, not a test: it asserts nothing.
 *
 *   bench-transport [seconds-per-case] [host]
 *
 * tcp runs on 127.0.0.1; rdma runs when a device is usable, on host (or
 * $FC_TRANSPORT_HOST, default 192.0.2.1, the soft-RoCE VM's address), e.g.
 *   tests/rxe/run-vm.sh --workdir build/vm -- build/bench/bench-transport
 * Numbers measured inside the TCG VM (emulated CPU, software RoCE) say
 * that the path works, nothing about speed: never quote them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_transport.h"

#include "bench_util.h"

#define REGION (1u << 20)
#define WINDOW 64

struct acceptor {
	struct fc_transport_listener *l;
	struct fc_transport_conn *conn;
	int rc;
	char err[FC_ERRMSG_LEN];
};

static void *accept_main(void *arg)
{
	struct acceptor *a = arg;

	a->rc = fc_transport_accept(a->l, 10000, &a->conn, a->err);
	return NULL;
}

static struct fc_transport_wr make(enum fc_transport_op op, uint32_t len, void *local,
				   struct fc_transport_mr *mr, const struct fc_mr_desc *rem,
				   uint64_t i)
{
	struct fc_transport_wr wr = {.op = op, .local = local, .len = len, .mr = mr,
				     .signaled = 1, .wr_id = i};
	uint64_t slots = op == FC_TRANSPORT_CAS ? 1024 : REGION / 4096;

	wr.remote_addr = rem->addr + (i % slots) * (op == FC_TRANSPORT_CAS ? 8 : 4096);
	wr.compare = i;
	wr.swap = i + 1;
	return wr;
}

/* Latency at queue depth 1, then throughput with WINDOW in flight. */
static int run_case(const char *backend, struct fc_transport_conn *conn, struct fc_transport_mr *mr,
		    unsigned char *buf, enum fc_transport_op op, uint32_t len, const char *name,
		    double seconds)
{
	struct fc_mr_desc rem;
	struct fc_transport_wc wcs[WINDOW];
	char err[FC_ERRMSG_LEN] = "";
	size_t cap = 2000000, n_lat = 0, n;
	uint64_t *lat = fc_malloc(cap * sizeof *lat);
	uint64_t t0, end, done = 0, posted = 0;
	int rc = FC_OK;

	if (!lat)
		return FC_ENOMEM;
	fc_transport_conn_remote(conn, &rem);
	end = bench_now_ns() + (uint64_t)(seconds * 1e9);
	while (n_lat < cap && bench_now_ns() < end) {
		struct fc_transport_wr wr = make(op, len, buf, mr, &rem, n_lat);
		uint64_t s = bench_now_ns();
		rc = fc_transport_post(conn, &wr, 1, err);
		for (n = 0; rc == FC_OK && n == 0;)
			rc = fc_transport_poll(conn, wcs, 1, 5000, &n, err);
		if (rc != FC_OK || n == 0 || wcs[0].status != FC_OK)
			goto fail;
		lat[n_lat++] = bench_now_ns() - s;
	}
	qsort(lat, n_lat, sizeof *lat, bench_cmp_u64);

	t0 = bench_now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	while (bench_now_ns() < end || done < posted) {
		if (bench_now_ns() < end && posted - done < WINDOW) {
			struct fc_transport_wr wrs[16];
			size_t k = 0;
			while (k < 16 && posted + k - done < WINDOW) {
				wrs[k] = make(op, len, buf + ((posted + k) % WINDOW) * 1024, mr, &rem,
					      posted + k);
				k++;
			}
			rc = fc_transport_post(conn, wrs, k, err);
			if (rc == FC_OK)
				posted += k;
			else if (rc != FC_EBUSY)
				goto fail;
		}
		rc = fc_transport_poll(conn, wcs, WINDOW, 5000, &n, err);
		if (rc != FC_OK)
			goto fail;
		for (size_t i = 0; i < n; i++)
			if (wcs[i].status != FC_OK) {
				rc = fc_errf(err, wcs[i].status, "%s", wcs[i].detail);
				goto fail;
			}
		done += n;
	}
	printf("%-5s %-10s %12.0f %12.0f %10.1f %10.1f\n", backend, name,
	       n_lat / seconds, done / ((bench_now_ns() - t0) / 1e9), lat[n_lat / 2] / 1e3,
	       lat[(n_lat * 99) / 100] / 1e3);
	fc_free(lat);
	return FC_OK;
fail:
	fprintf(stderr, "%s %s: %s: %s\n", backend, name, fc_strerror(rc), err);
	fc_free(lat);
	return rc ? rc : FC_ETRANSPORT;
}

static void bench_backend(enum fc_transport_kind kind, const char *host, double seconds)
{
	struct fc_transport *st = NULL, *ct = NULL;
	struct fc_transport_mr *smr = NULL, *cmr = NULL;
	struct fc_transport_conn *conn = NULL;
	struct acceptor a = {0};
	unsigned char *region = fc_calloc(1, REGION), *buf = fc_calloc(1, WINDOW * 1024);
	char err[FC_ERRMSG_LEN] = "";
	const char *name = fc_transport_kind_name(kind);
	pthread_t th;

	if (!region || !buf || fc_transport_open(kind, &st, err) || fc_transport_open(kind, &ct, err) ||
	    fc_transport_reg_mr(st, region, REGION, &smr, err) ||
	    fc_transport_reg_mr(ct, buf, WINDOW * 1024, &cmr, err) ||
	    fc_transport_listen(st, host, 0, smr, &a.l, err)) {
		printf("%-5s unavailable: %s\n", name, err);
		goto out;
	}
	pthread_create(&th, NULL, accept_main, &a);
	if (fc_transport_connect(ct, host, fc_transport_listener_port(a.l), 10000, &conn, err))
		printf("%-5s connect failed: %s\n", name, err);
	pthread_join(th, NULL);
	if (conn && a.rc == FC_OK) {
		run_case(name, conn, cmr, buf, FC_TRANSPORT_READ, 64, "read-64B", seconds);
		run_case(name, conn, cmr, buf, FC_TRANSPORT_READ, 1024, "read-1KiB", seconds);
		run_case(name, conn, cmr, buf, FC_TRANSPORT_CAS, 8, "cas-8B", seconds);
	}
	fc_transport_conn_close(conn);
	fc_transport_conn_close(a.conn);
	fc_transport_listener_close(a.l);
out:
	fc_transport_dereg_mr(cmr);
	fc_transport_dereg_mr(smr);
	fc_transport_close(ct);
	fc_transport_close(st);
	fc_free(buf);
	fc_free(region);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	const char *rdma_host = argc > 2 ? argv[2] : getenv("FC_TRANSPORT_HOST");
	char why[FC_ERRMSG_LEN] = "";

	if (seconds <= 0 || seconds > 60)
		seconds = 1.0;
	printf("bench-transport: %.1f s per case; latency at queue depth 1, throughput with %d "
	       "in flight.\nNumbers from inside the TCG soft-RoCE VM measure correctness only.\n",
	       seconds, WINDOW);
	printf("%-5s %-10s %12s %12s %10s %10s\n", "back", "op", "ops/s(qd1)", "ops/s(qd64)",
	       "p50(us)", "p99(us)");
	bench_backend(FC_TRANSPORT_TCP, "127.0.0.1", seconds);
	if (fc_transport_rdma_probe(why) == FC_OK)
		bench_backend(FC_TRANSPORT_RDMA, rdma_host ? rdma_host : "192.0.2.1", seconds);
	else
		printf("rdma  skipped: %s\n", why);
	return 0;
}
