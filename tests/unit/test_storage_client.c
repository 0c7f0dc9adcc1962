/* Unit tests of the storage client's replication rules (fc_storage_client.h)
 * against fake replicas: listening sockets that accept (in the kernel) but
 * never answer, and a port where nothing listens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fc_config.h"
#include "fc_err.h"
#include "fc_storage_client.h"
#include "fc_wire.h"

#include "../../storage-pool/ledger_fixture.h"

/* A socket listening on 127.0.0.1, port chosen by the kernel. */
static int silent_listener(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct fc_config *make_cfg(uint16_t p0, uint16_t p1, unsigned quorum)
{
	char yaml[2048];
	char err[FC_ERRMSG_LEN];
	struct fc_config *cfg = NULL;

	snprintf(yaml, sizeof yaml,
		 "cluster: t\n"
		 "organisations:\n  - name: Org1\n"
		 "orderers:\n  - { id: orderer0, org: Org1, port: 1, raft_port: 2 }\n"
		 "storage:\n  write_quorum: %u\n  replicas:\n"
		 "    - { id: storage0, org: Org1, port: %u }\n"
		 "    - { id: storage1, org: Org1, port: %u }\n",
		 quorum, (unsigned)p0, (unsigned)p1);
	assert_int_equal(fc_config_parse(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, err), FC_OK);
	return cfg;
}

static struct lf_block *one_block(void)
{
	struct lf_sizes sz;
	struct lf_tx tx;

	lf_sizes_small(&sz);
	memset(&tx, 0, sizeof tx);
	return lf_block_new(0, NULL, &tx, 1, &sz);
}

/* Nobody answers: FC_ETIMEOUT naming both replicas. */
static void test_quorum_timeout_names_replicas(void **state)
{
	uint16_t p0, p1;
	int f0 = silent_listener(&p0), f1 = silent_listener(&p1);
	struct fc_config *cfg = make_cfg(p0, p1, 2);
	struct fc_storage_client_opts o;
	struct fc_storage_client *c = NULL;
	struct fc_storage_append_result res;
	struct lf_block *lb = one_block();
	char err[FC_ERRMSG_LEN] = "";

	(void)state;
	fc_storage_client_opts_init(&o);
	o.timeout_ms = 300;
	assert_int_equal(fc_storage_client_create(cfg, &o, &c, err), FC_OK);
	assert_int_equal(fc_storage_client_replicas(c), 2);
	assert_int_equal(fc_storage_append(c, lb->block, lb->verdict, lb->cert, &res, err),
			 FC_ETIMEOUT);
	assert_non_null(strstr(err, "append height 0"));
	assert_non_null(strstr(err, "write quorum 2"));
	assert_non_null(strstr(err, "storage0, storage1"));
	assert_int_equal(res.acked, 0);

	/* a query to a silent replica times out too */
	struct fc_storage_height hi;
	assert_int_equal(fc_storage_get_height(c, 1, &hi, err), FC_ETIMEOUT);
	assert_non_null(strstr(err, "storage1"));
	assert_int_equal(fc_storage_get_height(c, 5, &hi, err), FC_EINVAL);

	fc_storage_client_destroy(c);
	lf_block_free(lb);
	fc_config_free(cfg);
	close(f0);
	close(f1);
}

/* A replica that is down makes a quorum of 2 unreachable at once: the error
 * is the connection's, naming the replica, without waiting for the timeout. */
static void test_unreachable_replica(void **state)
{
	uint16_t p0, p1;
	int f0 = silent_listener(&p0), f1 = silent_listener(&p1);
	struct fc_config *cfg;
	struct fc_storage_client_opts o;
	struct fc_storage_client *c = NULL;
	struct fc_storage_append_result res;
	struct lf_block *lb = one_block();
	char err[FC_ERRMSG_LEN] = "";
	int rc;

	(void)state;
	close(f1); /* storage1's port: nothing listens any more */
	cfg = make_cfg(p0, p1, 2);
	fc_storage_client_opts_init(&o);
	o.timeout_ms = 5000;
	assert_int_equal(fc_storage_client_create(cfg, &o, &c, err), FC_OK);
	rc = fc_storage_append(c, lb->block, lb->verdict, lb->cert, &res, err);
	assert_int_not_equal(rc, FC_OK);
	assert_int_not_equal(rc, FC_ETIMEOUT);
	assert_non_null(strstr(err, "storage1"));
	assert_int_equal(res.failed, 1);
	fc_storage_client_destroy(c);
	lf_block_free(lb);
	fc_config_free(cfg);
	close(f0);
}

static void test_bad_args(void **state)
{
	struct fc_storage_client *c = NULL;
	char err[FC_ERRMSG_LEN];

	(void)state;
	assert_int_equal(fc_storage_client_create(NULL, NULL, &c, err), FC_EINVAL);
	assert_null(c);
	assert_int_equal(fc_storage_append(NULL, NULL, NULL, NULL, NULL, err), FC_EINVAL);
	assert_int_equal(fc_storage_verify_certified(NULL, NULL, NULL, NULL, err), FC_EINVAL);
	fc_storage_client_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quorum_timeout_names_replicas),
	    cmocka_unit_test(test_unreachable_replica),
	    cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
