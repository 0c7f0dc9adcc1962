/* fc_err.h - the one error model of flexchain.
 *
 * Every function that can fail returns int: FC_OK (0) on success, one of the
 * FC_E* codes below otherwise. Never -1, never errno, never negative errno:
 * those are translated at the boundary where they arise (errno, verbs,
 * RocksDB, OpenSSL, libuv, protobuf-c).
 *
 * Context travels in an errmsg buffer of FC_ERRMSG_LEN bytes that the caller
 * owns (usually a member of a long-lived object). Each layer that passes an
 * error up prefixes what it was doing, so a message reads outermost first:
 *     "storage: put block 17: rocksdb: IO error: No space left on device"
 * A NULL errmsg is allowed everywhere: the text is then dropped.
 */
#ifndef FC_ERR_H
#define FC_ERR_H

#include <stddef.h>

#define FC_ERRMSG_LEN 512

enum fc_err {
	FC_OK = 0,
	FC_ENOMEM,      /* allocation failed */
	FC_EINVAL,      /* bad argument or bad input from a user */
	FC_EIO,         /* I/O or system call failed */
	FC_EPROTO,      /* malformed, truncated or garbage message */
	FC_ETOOBIG,     /* over a configured size limit */
	FC_ECRYPTO,     /* a cryptographic operation failed (OpenSSL) */
	FC_EVERIFY,     /* a signature or certificate did not verify */
	FC_ECONFIG,     /* the cluster configuration is invalid */
	FC_ENOTFOUND,   /* no such key, block, transaction or file */
	FC_EEXIST,      /* already present */
	FC_ETIMEOUT,    /* a bounded wait ran out */
	FC_ECLOSED,     /* the peer or object is closed / disconnected */
	FC_ETRANSPORT,  /* data-plane failure (verbs status, TCP emulation) */
	FC_ESTORAGE,    /* the storage engine (RocksDB) failed */
	FC_EMISMATCH,   /* hash chain, height or content does not match */
	FC_ERANGE,      /* outside a registered region or valid range */
	FC_EBUSY,       /* resource busy / queue full, try later */
	FC_EUNSUPPORTED,/* not available on this machine or build */
	FC_EAGAIN,      /* transient condition, retry */
	FC_ESTATE,      /* call not valid in the object's current state */
	FC_EINTERNAL,   /* a bug: an invariant did not hold */
	FC_EDENIED,     /* refused by a rule (access, ownership, balance) */
	FC_ERR__COUNT
};

/* Static, never NULL, also for unknown codes. */
const char *fc_strerror(int code);

/* Formats into errmsg (may be NULL) and returns code, so that a failing path
 * can be written `return fc_errf(errmsg, FC_EIO, "open %s: %s", p, why);`. */
int fc_errf(char *errmsg, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes "<formatted>: " to what errmsg already says and returns code.
 * If errmsg is empty the result is "<formatted>: <fc_strerror(code)>". */
int fc_errwrap(char *errmsg, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Translates an errno value into a code (ENOMEM -> FC_ENOMEM, ETIMEDOUT ->
 * FC_ETIMEOUT, ...; anything else FC_EIO). */
int fc_err_from_errno(int errnum);

#endif
