/* Helpers of the crypto module: OpenSSL error translation and file I/O. */
#include "crypto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "fc_err.h"
#include "fc_mem.h"

void fc_crypto__drain(void)
{
	ERR_clear_error();
}

int fc_crypto__ossl_err(char *errmsg, int code, const char *fmt, ...)
{
	char what[256];
	char data[128] = "";
	const char *edata = NULL;
	int eflags = 0;
	unsigned long first;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);

	/* The oldest entry is the root cause; later ones are callers wrapping
	 * it. Copy its data string before the next call can free it. */
	first = ERR_get_error_all(NULL, NULL, NULL, &edata, &eflags);
	if (first && edata && (eflags & ERR_TXT_STRING))
		snprintf(data, sizeof data, " (%s)", edata);
	ERR_clear_error();
	if (!first)
		return fc_errf(errmsg, code, "%s: openssl: unknown error", what);

	const char *lib = ERR_lib_error_string(first);
	const char *reason = ERR_reason_error_string(first);
	char rbuf[32];
	if (!reason) {
		snprintf(rbuf, sizeof rbuf, "reason %d", ERR_GET_REASON(first));
		reason = rbuf;
	}
	if (lib)
		return fc_errf(errmsg, code, "%s: openssl: %s: %s%s", what, lib, reason, data);
	return fc_errf(errmsg, code, "%s: openssl: %s%s", what, reason, data);
}

int fc_crypto__check_name(const char *what, const char *s, char *errmsg)
{
	if (!s || !*s)
		return fc_errf(errmsg, FC_EINVAL, "%s is empty", what);
	size_t n = strlen(s);
	if (n > 64)
		return fc_errf(errmsg, FC_EINVAL, "%s '%.64s...' is longer than 64 bytes", what, s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return fc_errf(errmsg, FC_EINVAL, "%s contains a control character", what);
	}
	return FC_OK;
}

int fc_crypto__write_file(const char *path, const void *data, size_t len, mode_t mode,
			  unsigned flags, char *errmsg)
{
	int rc = FC_OK;
	int fd = -1;
	char *tmp = NULL;
	struct stat st;
	size_t n = strlen(path) + 16;

	if (!(flags & FC_CRYPTO_OVERWRITE) && lstat(path, &st) == 0)
		return fc_errf(errmsg, FC_EEXIST, "%s already exists", path);

	tmp = fc_malloc(n);
	if (!tmp) {
		rc = fc_errf(errmsg, FC_ENOMEM, "write %s: out of memory", path);
		goto out;
	}
	snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "create %s: %s", tmp,
			     strerror(errno));
		goto free_tmp;
	}
	/* The umask may have narrowed the mode; O_TRUNC kept an old one. */
	if (fchmod(fd, mode) != 0) {
		rc =
		    fc_errf(errmsg, fc_err_from_errno(errno), "chmod %s: %s", tmp, strerror(errno));
		goto unlink_tmp;
	}
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = fc_errf(errmsg, FC_EIO, "write %s: %s", tmp,
				     w < 0 ? strerror(errno) : "short write");
			goto unlink_tmp;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto unlink_tmp;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = fc_errf(errmsg, FC_EIO, "close %s: %s", tmp, strerror(errno));
		goto unlink_tmp;
	}
	fd = -1;
	if (!(flags & FC_CRYPTO_OVERWRITE)) {
		/* link(2) fails if the target appeared meanwhile: no clobbering. */
		if (link(tmp, path) != 0) {
			int e = errno;
			rc = fc_errf(errmsg, e == EEXIST ? FC_EEXIST : fc_err_from_errno(e),
				     "%s: %s", path, e == EEXIST ? "already exists" : strerror(e));
			goto unlink_tmp;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "rename %s to %s: %s", tmp, path,
			     strerror(errno));
		goto unlink_tmp;
	}
	goto free_tmp;

unlink_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
free_tmp:
	fc_free(tmp);
out:
	return rc;
}

int fc_crypto__read_file(const char *path, uint8_t **data, size_t *len, char *errmsg)
{
	int rc = FC_OK;
	int fd;
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return fc_errf(errmsg, FC_ENOTFOUND, "%s: no such file", path);
		return fc_errf(errmsg, fc_err_from_errno(errno), "open %s: %s", path,
			       strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rc = fc_errf(errmsg, FC_EIO, "stat %s: %s", path, strerror(errno));
		goto close_fd;
	}
	/* Keys and certificates are a few KiB; refuse anything absurd. */
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		rc = fc_errf(errmsg, FC_EINVAL, "%s: not a regular file of at most 1 MiB", path);
		goto close_fd;
	}
	buf = fc_malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = fc_errf(errmsg, FC_ENOMEM, "read %s: out of memory", path);
		goto close_fd;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fc_errf(errmsg, FC_EIO, "read %s: %s", path, strerror(errno));
			goto free_buf;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
free_buf:
	fc_free(buf);
close_fd:
	close(fd);
	return rc;
}
