/* The on-disk identity layout shared by `flexchain crypto generate` and the
 * daemons (see "IDENTITY LAYOUT ON DISK" in fc_crypto.h). */
#include "crypto_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

/* One path component: never empty, never climbs or descends a directory. */
static int check_component(const char *what, const char *s, char *errmsg)
{
	if (!s || !*s)
		return fc_errf(errmsg, FC_EINVAL, "identity: %s is empty", what);
	if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return fc_errf(errmsg, FC_EINVAL, "identity: %s '%s' is not a valid path component",
			       what, s);
	return FC_OK;
}

static int put(char *buf, size_t len, char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t len, char *errmsg, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!buf)
		return FC_OK;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return fc_errf(errmsg, FC_ETOOBIG, "identity: path of %d bytes is too long", n);
	return FC_OK;
}

int fc_identity_paths(const char *crypto_dir, const char *org, const char *role, const char *id,
		      char *dir_path, char *cert_path, char *key_path, size_t pathlen, char *errmsg)
{
	int rc;

	if (!crypto_dir || !*crypto_dir)
		return fc_errf(errmsg, FC_EINVAL, "identity: crypto directory is empty");
	if (pathlen == 0 && (dir_path || cert_path || key_path))
		return fc_errf(errmsg, FC_ETOOBIG, "identity: path buffer of 0 bytes");
	if ((rc = check_component("organisation", org, errmsg)) != FC_OK)
		return rc;
	if (!role) {
		if ((rc = put(dir_path, pathlen, errmsg, "%s/%s/ca", crypto_dir, org)) != FC_OK ||
		    (rc = put(cert_path, pathlen, errmsg, "%s/%s/ca/ca.crt", crypto_dir, org)) !=
			FC_OK ||
		    (rc = put(key_path, pathlen, errmsg, "%s/%s/ca/ca.key", crypto_dir, org)) !=
			FC_OK)
			return rc;
		return FC_OK;
	}
	if ((rc = check_component("role", role, errmsg)) != FC_OK ||
	    (rc = check_component("id", id, errmsg)) != FC_OK)
		return rc;
	if ((rc = put(dir_path, pathlen, errmsg, "%s/%s/%s/%s", crypto_dir, org, role, id)) !=
		FC_OK ||
	    (rc = put(cert_path, pathlen, errmsg, "%s/%s/%s/%s/cert.pem", crypto_dir, org, role,
		      id)) != FC_OK ||
	    (rc = put(key_path, pathlen, errmsg, "%s/%s/%s/%s/key.pem", crypto_dir, org, role,
		      id)) != FC_OK)
		return rc;
	return FC_OK;
}

int fc_identity_client_id(const char *org, char *buf, size_t buflen, char *errmsg)
{
	int n;
	int rc = check_component("organisation", org, errmsg);

	if (rc != FC_OK)
		return rc;
	if (!buf)
		return fc_errf(errmsg, FC_EINVAL, "identity: NULL buffer");
	n = snprintf(buf, buflen, "client.%s", org);
	if (n < 0 || (size_t)n >= buflen)
		return fc_errf(errmsg, FC_ETOOBIG, "identity: client id of %s is too long", org);
	return FC_OK;
}

int fc_identity_load(const char *crypto_dir, const char *org, const char *role, const char *id,
		     fc_cert **cert_out, fc_key **key_out, char *errmsg)
{
	int rc;
	char *cert_path = NULL;
	char *key_path = NULL;
	size_t len = (crypto_dir ? strlen(crypto_dir) : 0) + (org ? strlen(org) : 0) +
		     (role ? strlen(role) : 0) + (id ? strlen(id) : 0) + 32;
	fc_cert *cert = NULL;
	fc_key *key = NULL;

	if (cert_out)
		*cert_out = NULL;
	if (key_out)
		*key_out = NULL;
	cert_path = fc_malloc(len);
	key_path = fc_malloc(len);
	if (!cert_path || !key_path) {
		rc = fc_errf(errmsg, FC_ENOMEM, "identity: out of memory");
		goto free_paths;
	}
	rc = fc_identity_paths(crypto_dir, org, role, id, NULL, cert_path, key_path, len, errmsg);
	if (rc != FC_OK)
		goto free_paths;
	if ((rc = fc_crypto_cert_load_pem(cert_path, &cert, errmsg)) != FC_OK ||
	    (rc = fc_crypto_key_load_pem(key_path, &key, errmsg)) != FC_OK)
		goto free_objs;
	rc = fc_crypto_cert_matches_key(cert, key, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "%s and %s", cert_path, key_path);
		goto free_objs;
	}
	if (cert_out) {
		*cert_out = cert;
		cert = NULL;
	}
	if (key_out) {
		*key_out = key;
		key = NULL;
	}
free_objs:
	fc_crypto_cert_free(cert);
	fc_crypto_key_free(key);
free_paths:
	fc_free(cert_path);
	fc_free(key_path);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "load identity %s/%s", org ? org : "(null)",
			   role ? (id ? id : "(null)") : "ca");
	return rc;
}
