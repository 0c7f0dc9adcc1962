/* Unit tests of common/base: error model, allocation hook, logging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_log.h"
#include "fc_mem.h"

static void test_strerror_covers_all_codes(void **state)
{
	(void)state;
	for (int c = 0; c < FC_ERR__COUNT; c++)
		assert_string_not_equal(fc_strerror(c), "unknown error");
	assert_string_equal(fc_strerror(-1), "unknown error");
	assert_string_equal(fc_strerror(FC_ERR__COUNT), "unknown error");
}

static void test_errwrap_prefixes_outermost_first(void **state)
{
	(void)state;
	char msg[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_errf(msg, FC_EIO, "rocksdb: %s", "IO error"), FC_EIO);
	assert_int_equal(fc_errwrap(msg, FC_EIO, "put block %d", 17), FC_EIO);
	assert_int_equal(fc_errwrap(msg, FC_EIO, "storage"), FC_EIO);
	assert_string_equal(msg, "storage: put block 17: rocksdb: IO error");

	char empty[FC_ERRMSG_LEN] = "";
	fc_errwrap(empty, FC_ETIMEOUT, "wait");
	assert_string_equal(empty, "wait: timed out");
	/* NULL errmsg is allowed */
	assert_int_equal(fc_errf(NULL, FC_EINVAL, "x"), FC_EINVAL);
	assert_int_equal(fc_errwrap(NULL, FC_EINVAL, "x"), FC_EINVAL);
}

static void test_errwrap_truncates_safely(void **state)
{
	(void)state;
	char msg[FC_ERRMSG_LEN];
	memset(msg, 'a', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	for (int i = 0; i < 5; i++)
		fc_errwrap(msg, FC_EIO, "layer%d", i);
	assert_true(strlen(msg) < FC_ERRMSG_LEN);
	assert_memory_equal(msg, "layer4: layer3", 14);
}

static void test_errno_translation(void **state)
{
	(void)state;
	assert_int_equal(fc_err_from_errno(0), FC_OK);
	assert_int_equal(fc_err_from_errno(12 /* ENOMEM */), FC_ENOMEM);
	assert_int_equal(fc_err_from_errno(110 /* ETIMEDOUT */), FC_ETIMEOUT);
	assert_int_equal(fc_err_from_errno(5 /* EIO */), FC_EIO);
}

static void test_fail_nth_allocation(void **state)
{
	(void)state;
	fc_mem_fail_nth(2);
	void *a = fc_malloc(8);
	void *b = fc_malloc(8);
	void *c = fc_malloc(8);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c);
	fc_free(a);
	fc_free(c);
	fc_mem_fail_nth(1);
	assert_null(fc_strdup("x"));
	char *s = fc_strdup("hello");
	assert_string_equal(s, "hello");
	fc_free(s);
}

static void test_log_line_format(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fc_log_set_fd(fds[1]);
	fc_log_set_level(FC_LOG_INFO);
	fc_log(FC_LOG_DEBUG, "test", "hidden", NULL);
	fc_log(FC_LOG_WARN, "storage", "block appended", "height=%d txs=%d", 17, 500);
	fc_log_set_fd(2);
	close(fds[1]);
	char buf[512] = {0};
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	close(fds[0]);
	assert_true(n > 0);
	assert_null(strstr(buf, "hidden"));
	assert_non_null(strstr(buf, "level=warn comp=storage msg=\"block appended\" height=17 txs=500\n"));
	assert_memory_equal(buf, "ts=", 3);

	enum fc_log_level l;
	assert_int_equal(fc_log_parse_level("debug", &l), FC_OK);
	assert_int_equal(l, FC_LOG_DEBUG);
	assert_int_equal(fc_log_parse_level("loud", &l), FC_EINVAL);
	assert_int_equal(fc_log_parse_level(NULL, &l), FC_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_covers_all_codes),
		cmocka_unit_test(test_errwrap_prefixes_outermost_first),
		cmocka_unit_test(test_errwrap_truncates_safely),
		cmocka_unit_test(test_errno_translation),
		cmocka_unit_test(test_fail_nth_allocation),
		cmocka_unit_test(test_log_line_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
