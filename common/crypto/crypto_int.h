/* crypto_int.h - internals shared by the sources of the crypto module. */
#ifndef FC_CRYPTO_INT_H
#define FC_CRYPTO_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fc_crypto.h"

struct fc_key {
	EVP_PKEY *pkey;
	int has_private;
};

struct fc_cert {
	atomic_uint refs;
	X509 *x509;
	uint8_t *der;
	size_t der_len;
	uint8_t hash[FC_SHA256_LEN];
	char *cn;
	char *org;
	char *ou;
	char *subject;
};

/* Formats "<what>: openssl: <lib>: <reason>" from the first (root-cause)
 * entry of OpenSSL's error queue, empties the queue, returns code. */
int fc_crypto__ossl_err(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Empties OpenSSL's error queue of this thread. */
void fc_crypto__drain(void);

/* Writes data to path with mode through a temporary file in the same
 * directory and rename(2). Without FC_CRYPTO_OVERWRITE an existing path is
 * FC_EEXIST. */
int fc_crypto__write_file(const char *path, const void *data, size_t len, mode_t mode,
			  unsigned flags, char *errmsg);

/* Reads a whole (small) file into a new fc_malloc'd buffer. A missing file
 * is FC_ENOTFOUND. */
int fc_crypto__read_file(const char *path, uint8_t **data, size_t *len, char *errmsg);

/* Wraps x (ownership passes in, also on failure) into a new fc_cert with one
 * reference. der/len: the encoding x was parsed from, or NULL to encode x. */
int fc_crypto__cert_wrap(X509 *x, const uint8_t *der, size_t len, fc_cert **out, char *errmsg);

/* Wraps pkey (ownership passes in, also on failure) into a new fc_key. */
int fc_crypto__key_wrap(EVP_PKEY *pkey, int has_private, fc_key **out, char *errmsg);

/* FC_OK if pkey is an EC key on P-256, FC_EINVAL otherwise. */
int fc_crypto__check_p256(EVP_PKEY *pkey, char *errmsg);

/* Checks a name used in a certificate subject: 1..64 bytes, printable. */
int fc_crypto__check_name(const char *what, const char *s, char *errmsg);

#endif
