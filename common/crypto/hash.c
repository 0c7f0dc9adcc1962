/* SHA-256, hex and randomness. */
#include "crypto_int.h"

#include <string.h>

#include <openssl/rand.h>

#include "fc_err.h"

int fc_sha256(const void *data, size_t len, uint8_t out[FC_SHA256_LEN], char *errmsg)
{
	static const uint8_t empty;
	unsigned int n = 0;

	if (!out || (!data && len))
		return fc_errf(errmsg, FC_EINVAL, "sha256: NULL argument");
	if (EVP_Digest(data ? data : &empty, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != FC_SHA256_LEN)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "sha256");
	return FC_OK;
}

void fc_hex_encode(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fc_hex_decode(const char *hex, void *out, size_t outlen, char *errmsg)
{
	uint8_t *p = out;

	if (!hex || (!out && outlen))
		return fc_errf(errmsg, FC_EINVAL, "hex: NULL argument");
	if (strlen(hex) != 2 * outlen)
		return fc_errf(errmsg, FC_EINVAL, "hex: expected %zu digits, got %zu", 2 * outlen,
			       strlen(hex));
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]);
		int lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return fc_errf(errmsg, FC_EINVAL, "hex: bad digit at offset %zu",
				       hi < 0 ? 2 * i : 2 * i + 1);
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	return FC_OK;
}

int fc_crypto_random(void *buf, size_t n, char *errmsg)
{
	if (!buf && n)
		return fc_errf(errmsg, FC_EINVAL, "random: NULL buffer");
	if (n > 0x7fffffff)
		return fc_errf(errmsg, FC_EINVAL, "random: %zu bytes is too many", n);
	if (n && RAND_bytes(buf, (int)n) != 1)
		return fc_crypto__ossl_err(errmsg, FC_ECRYPTO, "random");
	return FC_OK;
}
