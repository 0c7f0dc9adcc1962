#include "fc_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[FC_ERR__COUNT] = {
	[FC_OK] = "success",
	[FC_ENOMEM] = "out of memory",
	[FC_EINVAL] = "invalid argument",
	[FC_EIO] = "I/O error",
	[FC_EPROTO] = "malformed message",
	[FC_ETOOBIG] = "too large",
	[FC_ECRYPTO] = "cryptographic operation failed",
	[FC_EVERIFY] = "verification failed",
	[FC_ECONFIG] = "invalid configuration",
	[FC_ENOTFOUND] = "not found",
	[FC_EEXIST] = "already exists",
	[FC_ETIMEOUT] = "timed out",
	[FC_ECLOSED] = "closed",
	[FC_ETRANSPORT] = "transport error",
	[FC_ESTORAGE] = "storage error",
	[FC_EMISMATCH] = "mismatch",
	[FC_ERANGE] = "out of range",
	[FC_EBUSY] = "busy",
	[FC_EUNSUPPORTED] = "not supported",
	[FC_EAGAIN] = "try again",
	[FC_ESTATE] = "invalid state",
	[FC_EINTERNAL] = "internal error",
	[FC_EDENIED] = "denied",
};

const char *fc_strerror(int code)
{
	if (code < 0 || code >= FC_ERR__COUNT || !names[code])
		return "unknown error";
	return names[code];
}

int fc_errf(char *errmsg, int code, const char *fmt, ...)
{
	if (!errmsg)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, FC_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return code;
}

int fc_errwrap(char *errmsg, int code, const char *fmt, ...)
{
	if (!errmsg)
		return code;
	char prefix[FC_ERRMSG_LEN];
	char inner[FC_ERRMSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (errmsg[0])
		snprintf(inner, sizeof inner, "%s", errmsg);
	else
		snprintf(inner, sizeof inner, "%s", fc_strerror(code));
	/* Truncation is intended: the outermost context matters most. */
	size_t n = strlen(prefix);
	memcpy(errmsg, prefix, n);
	if (n + 2 < FC_ERRMSG_LEN) {
		memcpy(errmsg + n, ": ", 2);
		n += 2;
		size_t m = strlen(inner);
		if (m > FC_ERRMSG_LEN - 1 - n)
			m = FC_ERRMSG_LEN - 1 - n;
		memcpy(errmsg + n, inner, m);
		n += m;
	}
	errmsg[n] = '\0';
	return code;
}

int fc_err_from_errno(int errnum)
{
	switch (errnum) {
	case 0: return FC_OK;
	case ENOMEM: return FC_ENOMEM;
	case EINVAL: return FC_EINVAL;
	case ENOENT: return FC_ENOTFOUND;
	case EEXIST: return FC_EEXIST;
	case ETIMEDOUT: return FC_ETIMEOUT;
	case EAGAIN: return FC_EAGAIN;
	case EBUSY: return FC_EBUSY;
	case EPIPE: case ECONNRESET: case ENOTCONN: return FC_ECLOSED;
	case E2BIG: case EMSGSIZE: return FC_ETOOBIG;
	case ERANGE: return FC_ERANGE;
	case ENOTSUP: return FC_EUNSUPPORTED;
	default: return FC_EIO;
	}
}
