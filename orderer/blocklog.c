/* blocklog.c - the orderer's local chain as an append-only, synced file.
 * Raft already makes every committed block durable in its own log; this file
 * is what delivery reads and what survives Raft log compaction. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_net.h"
#include "fc_wire.h"
#include "orderer_int.h"

#define REC_HDR 8u

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int full_pread(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? FC_ENOTFOUND : fc_err_from_errno(errno);
		got += (size_t)r;
	}
	return FC_OK;
}

static int push(struct fc_ord_blocklog *l, uint64_t off, uint32_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *o = fc_realloc(l->off, cap * sizeof *o);
		if (!o)
			return FC_ENOMEM;
		l->off = o;
		uint32_t *ln = fc_realloc(l->len, cap * sizeof *ln);
		if (!ln)
			return FC_ENOMEM;
		l->len = ln;
		l->cap = cap;
	}
	l->off[l->n] = off;
	l->len[l->n] = len;
	l->n++;
	return FC_OK;
}

int fc_ord_blocklog_open(struct fc_ord_blocklog *l, const char *dir,
			 int (*on_block)(void *ud, const Flexchain__Block *b), void *ud,
			 char *errmsg)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t hdr[REC_HDR];
	uint8_t *buf = NULL;
	int rc;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	if ((size_t)snprintf(path, sizeof path, "%s/blocks.log", dir) >= sizeof path)
		return fc_errf(errmsg, FC_ETOOBIG, "block log path too long");
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return fc_errf(errmsg, fc_err_from_errno(errno), "open %s: %s", path,
			       strerror(errno));
	if (fstat(l->fd, &st) != 0) {
		rc =
		    fc_errf(errmsg, fc_err_from_errno(errno), "stat %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Scan: every record must be whole, checksummed and chained. The first
	 * one that is not marks where a crash interrupted an append. */
	while (l->end + REC_HDR <= (uint64_t)st.st_size) {
		Flexchain__Block *b = NULL;
		uint8_t h[FC_HASH_LEN];
		char why[FC_ERRMSG_LEN] = "";
		uint32_t len, sum;

		rc = full_pread(l->fd, hdr, REC_HDR, l->end);
		if (rc != FC_OK)
			break;
		len = fc_net_get_be32(hdr);
		sum = fc_net_get_be32(hdr + 4);
		if (l->end + REC_HDR + len > (uint64_t)st.st_size)
			break;
		buf = fc_malloc(len ? len : 1);
		if (!buf) {
			rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
			goto fail;
		}
		if (full_pread(l->fd, buf, len, l->end + REC_HDR) != FC_OK ||
		    fnv1a(buf, len) != sum)
			break;
		rc = fc_wire_decode(&flexchain__block__descriptor, buf, len, FC_WIRE_MAX_BLOCK,
				    (ProtobufCMessage **)&b, why);
		if (rc != FC_OK || !b->header || b->header->height != l->n ||
		    b->header->prev_hash.len != FC_HASH_LEN ||
		    memcmp(b->header->prev_hash.data, l->tip, FC_HASH_LEN) != 0 ||
		    fc_hash_header(b->header, h) != FC_OK) {
			fc_wire_free((ProtobufCMessage *)b);
			if (rc == FC_ENOMEM) {
				rc = fc_errf(errmsg, rc, "out of memory");
				goto fail;
			}
			break;
		}
		if (on_block) {
			rc = on_block(ud, b);
			if (rc != FC_OK) {
				fc_wire_free((ProtobufCMessage *)b);
				rc = fc_errwrap(errmsg, rc, "block log: block %llu",
						(unsigned long long)l->n);
				goto fail;
			}
		}
		fc_wire_free((ProtobufCMessage *)b);
		fc_free(buf);
		buf = NULL;
		rc = push(l, l->end, len);
		if (rc != FC_OK) {
			rc = fc_errf(errmsg, rc, "out of memory");
			goto fail;
		}
		memcpy(l->tip, h, FC_HASH_LEN);
		l->end += REC_HDR + len;
	}
	fc_free(buf);
	buf = NULL;
	if ((uint64_t)st.st_size != l->end) {
		/* Torn tail: cut it so the next append starts on a boundary. */
		if (ftruncate(l->fd, (off_t)l->end) != 0 || fdatasync(l->fd) != 0) {
			rc = fc_errf(errmsg, fc_err_from_errno(errno), "truncate %s: %s", path,
				     strerror(errno));
			goto fail;
		}
	}
	return FC_OK;
fail:
	fc_free(buf);
	fc_ord_blocklog_close(l);
	return rc;
}

void fc_ord_blocklog_close(struct fc_ord_blocklog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	fc_free(l->off);
	fc_free(l->len);
	l->off = NULL;
	l->len = NULL;
	l->n = l->cap = 0;
}

int fc_ord_blocklog_append(struct fc_ord_blocklog *l, const uint8_t *buf, size_t len,
			   const uint8_t hash[FC_HASH_LEN], char *errmsg)
{
	uint8_t hdr[REC_HDR];
	size_t done = 0;
	int rc;

	if (len > UINT32_MAX)
		return fc_errf(errmsg, FC_ETOOBIG, "block of %zu bytes", len);
	fc_net_put_be32(hdr, (uint32_t)len);
	fc_net_put_be32(hdr + 4, fnv1a(buf, len));
	rc = push(l, l->end, (uint32_t)len);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "out of memory");
	l->n--; /* reserve only: counted once written */
	while (done < REC_HDR + len) {
		ssize_t w;
		if (done < REC_HDR)
			w = pwrite(l->fd, hdr + done, REC_HDR - done, (off_t)(l->end + done));
		else
			w = pwrite(l->fd, buf + (done - REC_HDR), len - (done - REC_HDR),
				   (off_t)(l->end + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto io_error;
		done += (size_t)w;
	}
	if (fdatasync(l->fd) != 0)
		goto io_error;
	l->n++;
	l->end += REC_HDR + len;
	memcpy(l->tip, hash, FC_HASH_LEN);
	return FC_OK;
io_error:
	rc = fc_errf(errmsg, fc_err_from_errno(errno), "block log append %llu: %s",
		     (unsigned long long)l->n, strerror(errno));
	/* Leave no partial record behind for the next append to follow. */
	if (ftruncate(l->fd, (off_t)l->end) != 0) {
		/* reopening will cut it */
	}
	return rc;
}

int fc_ord_blocklog_read(const struct fc_ord_blocklog *l, uint64_t height, uint8_t **buf,
			 size_t *len, char *errmsg)
{
	uint8_t *p;
	int rc;

	*buf = NULL;
	*len = 0;
	if (height >= l->n)
		return fc_errf(errmsg, FC_ENOTFOUND, "block %llu not stored",
			       (unsigned long long)height);
	p = fc_malloc(l->len[height] ? l->len[height] : 1);
	if (!p)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	rc = full_pread(l->fd, p, l->len[height], l->off[height] + REC_HDR);
	if (rc != FC_OK) {
		fc_free(p);
		return fc_errf(errmsg, rc == FC_ENOTFOUND ? FC_EIO : rc, "block log read %llu",
			       (unsigned long long)height);
	}
	*buf = p;
	*len = l->len[height];
	return FC_OK;
}
