/* fc_crypto.h - hashing, ECDSA P-256 keys and signatures, X.509 identities.
 *
 * DESIGN.md "Membership and configuration": identities are X.509
 * certificates with ECDSA P-256 keys issued by each organisation's CA, and
 * every signature names its certificate (DER, next to the signature in the
 * wire format). This module wraps OpenSSL 3 (EVP / OSSL 3 APIs only).
 *
 * ERRORS
 *   FC_EVERIFY   a signature or certificate did not verify: wrong key,
 *                tampered data, garbage signature bytes, unknown or wrong CA,
 *                expired certificate, organisation mismatch. It is the verdict
 *                on the *input*; validators map it to TX_BAD_SIGNATURE.
 *   FC_ECRYPTO   OpenSSL failed (also: unparseable PEM/DER given to a load or
 *                parse function); errmsg carries OpenSSL's reason string,
 *                e.g. "load certificate x.pem: openssl: PEM routines: no
 *                start line".
 *   FC_EINVAL    bad argument (NULL, empty name, wrong key type, ...).
 *   FC_ENOMEM, FC_EIO, FC_ENOTFOUND (file missing), FC_EEXIST (refusing to
 *                overwrite).
 * OpenSSL's thread-local error queue is always left empty on return.
 *
 * THREADS
 *   fc_key and fc_cert are immutable after creation and may be used from
 *   any number of threads at once (sign, verify, accessors). fc_cert is
 *   reference counted (fc_crypto_cert_ref / fc_crypto_cert_free) so that a
 *   cache can hand the same parsed certificate to many threads. A castore
 *   may be verified against from any number of threads; adding CAs while
 *   verifying is also safe.
 *
 * SIGNATURES
 *   Signatures are ECDSA P-256 over SHA-256, DER-encoded (SEQUENCE {r, s}),
 *   at most FC_CRYPTO_SIG_MAX bytes. fc_crypto_sign_digest() signs a 32-byte
 *   digest *as the SHA-256 hash of the signed message*: the digest is not
 *   hashed again. So a signature over digest d = SHA-256(m) is the standard
 *   ECDSA-with-SHA256 signature of m, and `openssl dgst -sha256 -verify`
 *   accepts it for m. The digests flexchain signs are those of fc_canon.h.
 *
 * IDENTITY LAYOUT ON DISK (written by `flexchain crypto generate`)
 *   <crypto_dir>/<org>/ca/ca.crt                   the org's CA certificate
 *   <crypto_dir>/<org>/ca/ca.key                   the CA's private key
 *   <crypto_dir>/<org>/<role>/<id>/cert.pem        a node's certificate
 *   <crypto_dir>/<org>/<role>/<id>/key.pem         a node's private key
 *   <crypto_dir>/<org>/client/client.<org>/...     the org's client identity
 * role is one of "orderer", "storage", "memory", "compute", "client" (also
 * the certificate's OU). Directories are 0700, private keys 0600,
 * certificates 0644. fc_identity_paths() computes these paths; daemons and
 * the CLI must use it rather than build them by hand.
 *
 * CERTIFICATE PROFILE (fc_crypto_ca_create / fc_crypto_cert_issue)
 *   CA:   subject CN=ca.<org>, O=<org>; self-signed; basicConstraints
 *         critical CA:TRUE; keyUsage critical keyCertSign, cRLSign,
 *         digitalSignature; subjectKeyIdentifier.
 *   leaf: subject O=<org>, OU=<role>, CN=<id>; issued directly by the org's
 *         CA (no intermediates); basicConstraints critical CA:FALSE;
 *         keyUsage critical digitalSignature; extendedKeyUsage serverAuth,
 *         clientAuth; subjectAltName IP:127.0.0.1, DNS:localhost plus the
 *         given hosts (IP literals as IP, others as DNS); SKI, AKI.
 *   Both: X.509 v3, random positive 127-bit serial, signed with ECDSA-SHA256.
 */
#ifndef FC_CRYPTO_H
#define FC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define FC_SHA256_LEN 32
/* Maximum DER size of an ECDSA P-256 signature. */
#define FC_CRYPTO_SIG_MAX 72

/* ------------------------------------------------------------- hashing */

/* out = SHA-256(data[0..len)). data may be NULL when len is 0. Fails only if
 * OpenSSL does (FC_ECRYPTO); errmsg may be NULL. */
int fc_sha256(const void *data, size_t len, uint8_t out[FC_SHA256_LEN], char *errmsg);

/* Writes 2*len lowercase hex digits and a NUL to out (caller-owned, at least
 * 2*len+1 bytes). Never fails. */
void fc_hex_encode(const void *in, size_t len, char *out);

/* Decodes exactly outlen bytes from hex (upper or lower case), which must be
 * exactly 2*outlen digits long. FC_EINVAL otherwise. */
int fc_hex_decode(const char *hex, void *out, size_t outlen, char *errmsg);

/* Fills buf with n cryptographically strong random bytes (nonces). */
int fc_crypto_random(void *buf, size_t n, char *errmsg);

/* ---------------------------------------------------------------- keys */

/* An ECDSA P-256 key pair (or, from fc_crypto_cert_pubkey, a public key). */
typedef struct fc_key fc_key;

/* Generates a new P-256 key pair. *out is owned by the caller. */
int fc_crypto_key_generate(fc_key **out, char *errmsg);

/* Loads an unencrypted PEM private key (PKCS#8 or SEC1) from a file or a
 * buffer. Only P-256 EC keys are accepted (FC_EINVAL otherwise). Encrypted
 * keys are refused, never prompted for. *out is owned by the caller. */
int fc_crypto_key_load_pem(const char *path, fc_key **out, char *errmsg);
int fc_crypto_key_from_pem(const void *pem, size_t len, fc_key **out, char *errmsg);

/* Flags of the save functions. */
#define FC_CRYPTO_OVERWRITE 0x1u /* replace an existing file instead of FC_EEXIST */

/* Writes the private key as unencrypted PKCS#8 PEM, file mode 0600. The file
 * is written beside the target and renamed into place, so a reader never
 * sees half a key. Without FC_CRYPTO_OVERWRITE an existing file is
 * FC_EEXIST. Fails with FC_EINVAL for a public-only key. */
int fc_crypto_key_save_pem(const fc_key *key, const char *path, unsigned flags, char *errmsg);

/* The public key as DER SubjectPublicKeyInfo: *der is new, caller frees with
 * fc_free. */
int fc_crypto_key_public_der(const fc_key *key, uint8_t **der, size_t *len, char *errmsg);

/* NULL is a no-op. */
void fc_crypto_key_free(fc_key *key);

/* ---------------------------------------------------------- signatures */

/* Signs digest (see SIGNATURES above). On success *sig is a new buffer of
 * *siglen (<= FC_CRYPTO_SIG_MAX) bytes that the caller frees with fc_free. */
int fc_crypto_sign_digest(const fc_key *key, const uint8_t digest[FC_SHA256_LEN], uint8_t **sig,
			  size_t *siglen, char *errmsg);

/* Convenience: fc_crypto_sign_digest(key, SHA-256(msg)). */
int fc_crypto_sign_message(const fc_key *key, const void *msg, size_t len, uint8_t **sig,
			   size_t *siglen, char *errmsg);

typedef struct fc_cert fc_cert;

/* Verifies sig over digest with the certificate's public key. FC_OK, or
 * FC_EVERIFY for any signature that does not verify (including empty or
 * malformed DER). The certificate itself is NOT validated here: callers
 * validate it once with fc_crypto_castore_verify*(). */
int fc_crypto_verify_digest(const fc_cert *cert, const uint8_t digest[FC_SHA256_LEN],
			    const uint8_t *sig, size_t siglen, char *errmsg);

/* As fc_crypto_verify_digest with a key (its public half). */
int fc_crypto_verify_digest_key(const fc_key *key, const uint8_t digest[FC_SHA256_LEN],
				const uint8_t *sig, size_t siglen, char *errmsg);

/* ------------------------------------------------------- certificates */

/* Parse a certificate: the first one in a PEM file or buffer, or exactly one
 * DER certificate (trailing bytes are FC_ECRYPTO). *out is a new reference
 * owned by the caller (release with fc_crypto_cert_free). */
int fc_crypto_cert_load_pem(const char *path, fc_cert **out, char *errmsg);
int fc_crypto_cert_from_pem(const void *pem, size_t len, fc_cert **out, char *errmsg);
int fc_crypto_cert_from_der(const uint8_t *der, size_t len, fc_cert **out, char *errmsg);

/* Writes the certificate as PEM, file mode 0644, like fc_crypto_key_save_pem. */
int fc_crypto_cert_save_pem(const fc_cert *cert, const char *path, unsigned flags, char *errmsg);

/* Takes one more reference; returns cert. Release with fc_crypto_cert_free,
 * which frees the certificate with its last reference. NULL is a no-op. */
fc_cert *fc_crypto_cert_ref(fc_cert *cert);
void fc_crypto_cert_free(fc_cert *cert);

/* Accessors. Returned pointers are borrowed from cert and valid while the
 * caller holds a reference. Absent name fields are "" (never NULL). */
const uint8_t *fc_crypto_cert_der(const fc_cert *cert, size_t *len);
/* SHA-256 of the DER encoding: the certificate's identity in caches. */
const uint8_t *fc_crypto_cert_hash(const fc_cert *cert);
const char *fc_crypto_cert_cn(const fc_cert *cert);
const char *fc_crypto_cert_org(const fc_cert *cert);
const char *fc_crypto_cert_ou(const fc_cert *cert);
/* One-line subject for messages, e.g. "CN=orderer0,OU=orderer,O=Org1". */
const char *fc_crypto_cert_subject(const fc_cert *cert);

/* The certificate's public key: *out is a new public-only key owned by the
 * caller (verify_digest_key accepts it, sign and save refuse it). */
int fc_crypto_cert_pubkey(const fc_cert *cert, fc_key **out, char *errmsg);

/* FC_OK when key is the private half of cert's public key, FC_EMISMATCH
 * otherwise. */
int fc_crypto_cert_matches_key(const fc_cert *cert, const fc_key *key, char *errmsg);

/* ------------------------------------------------------------ issuing */

/* Creates a new CA for org: a fresh key and a self-signed certificate valid
 * from now (minus 5 minutes for clock skew) for validity_days (0 = 3650).
 * Both outputs are new and owned by the caller. org: 1-64 bytes. */
int fc_crypto_ca_create(const char *org, unsigned validity_days, fc_key **key_out,
			fc_cert **cert_out, char *errmsg);

struct fc_crypto_issue_opts {
	const char *org;	  /* O; required; must equal the CA's O */
	const char *cn;		  /* CN; required (node or client id) */
	const char *ou;		  /* role (orderer/compute/memory/storage/client),
				   * NULL or "" for none */
	const char *const *hosts; /* extra subjectAltNames (may be NULL) */
	size_t n_hosts;
	int64_t not_before;	/* unix time; 0 = now minus 5 minutes */
	unsigned validity_days; /* from not_before; 0 = 3650 */
};

/* Issues a leaf certificate for subject_key (only its public half is used),
 * signed by ca_key, whose certificate is ca_cert (ca_key must match it:
 * FC_EMISMATCH). *out is new and owned by the caller. Names: 1-64 bytes;
 * hosts: IP literals or DNS names of [A-Za-z0-9.-] (FC_EINVAL otherwise). */
int fc_crypto_cert_issue(const fc_cert *ca_cert, const fc_key *ca_key, const fc_key *subject_key,
			 const struct fc_crypto_issue_opts *opts, fc_cert **out, char *errmsg);

/* ------------------------------------------------------ per-org CA store */

/* Trusted CAs, one or more per organisation, plus a bounded cache of parsed
 * and verified certificates keyed by the SHA-256 of their DER, so that
 * validating thousands of signatures by the same few signers parses and
 * chain-verifies each certificate once. Thread-safe (see THREADS). */
typedef struct fc_crypto_castore fc_crypto_castore;

/* cache_cap: maximum cached certificates (0 = 4096). *out owned by caller. */
int fc_crypto_castore_create(size_t cache_cap, fc_crypto_castore **out, char *errmsg);

/* Releases the store, its CA references and its cache. Certificates handed
 * out by verify_der stay valid until their holders release them. NULL is a
 * no-op. Must not race with other calls on the store. */
void fc_crypto_castore_destroy(fc_crypto_castore *cs);

/* Trusts ca (which must be a CA certificate: FC_EINVAL otherwise) as a CA of
 * org (copied). The store takes its own reference. Adding a certificate that
 * is already trusted is FC_EEXIST. */
int fc_crypto_castore_add(fc_crypto_castore *cs, const char *org, const fc_cert *ca, char *errmsg);

/* Convenience: loads a PEM CA certificate from path and adds it. */
int fc_crypto_castore_add_pem(fc_crypto_castore *cs, const char *org, const char *path,
			      char *errmsg);

/* Validates cert as an identity: it must be issued by a trusted CA, be within
 * its validity period now, not be a CA itself, and its O must equal the
 * organisation of that CA. On success *org (may be NULL) is set to the
 * organisation's name, borrowed from the store (valid until destroy).
 * Failures are FC_EVERIFY with a message naming the subject and the reason,
 * e.g. "certificate CN=x,O=Org3: unable to get local issuer certificate". */
int fc_crypto_castore_verify(fc_crypto_castore *cs, const fc_cert *cert, const char **org,
			     char *errmsg);

/* As fc_crypto_castore_verify for a DER certificate as carried in messages,
 * through the cache. Unparseable DER is FC_EVERIFY. On success, if cert_out
 * is not NULL, *cert_out is a new reference to the parsed certificate (the
 * caller releases it with fc_crypto_cert_free) to verify signatures with. */
int fc_crypto_castore_verify_der(fc_crypto_castore *cs, const uint8_t *der, size_t len,
				 fc_cert **cert_out, const char **org, char *errmsg);

/* Cache statistics (tests, metrics): lookups answered from the cache, and
 * lookups that had to parse. Either pointer may be NULL. */
void fc_crypto_castore_cache_stats(fc_crypto_castore *cs, uint64_t *hits, uint64_t *misses);

/* ------------------------------------------------------- identity files */

#define FC_IDENTITY_ROLE_ORDERER "orderer"
#define FC_IDENTITY_ROLE_STORAGE "storage"
#define FC_IDENTITY_ROLE_MEMORY "memory"
#define FC_IDENTITY_ROLE_COMPUTE "compute"
#define FC_IDENTITY_ROLE_CLIENT "client"

/* Paths of an identity in the layout above. role NULL means the org's CA
 * (id is then ignored; files ca/ca.crt and ca/ca.key). org, role and id must
 * be non-empty and contain no '/' and not be "." or ".." (FC_EINVAL); a path
 * longer than pathlen-1 is FC_ETOOBIG. cert_path, key_path and dir_path
 * (the directory holding both) are caller-owned buffers of pathlen bytes;
 * any of them may be NULL. */
int fc_identity_paths(const char *crypto_dir, const char *org, const char *role, const char *id,
		      char *dir_path, char *cert_path, char *key_path, size_t pathlen,
		      char *errmsg);

/* The id of an organisation's client identity: "client.<org>" into buf. */
int fc_identity_client_id(const char *org, char *buf, size_t buflen, char *errmsg);

/* Loads an identity's certificate and key from the layout and checks that
 * they belong together (FC_EMISMATCH otherwise). Both outputs are new and
 * owned by the caller; either may be NULL if not wanted. */
int fc_identity_load(const char *crypto_dir, const char *org, const char *role, const char *id,
		     fc_cert **cert_out, fc_key **key_out, char *errmsg);

#endif
