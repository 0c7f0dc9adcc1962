/* chain.c - building, signing and verifying blocks. */
#include <string.h>

#include "fc_depgraph.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"
#include "orderer_int.h"

int fc_ord_block_make(uint64_t height, const uint8_t prev_hash[FC_HASH_LEN],
		      Flexchain__Envelope *const *envs, size_t n, uint64_t timestamp_ms,
		      const uint8_t *cert_der, size_t cert_len, const fc_key *key, uint8_t **buf,
		      size_t *len, uint8_t hash[FC_HASH_LEN], char *errmsg)
{
	static Flexchain__Envelope *const no_envs[1] = {NULL};
	Flexchain__DependencyGraph *graph = NULL;
	Flexchain__BlockHeader hdr = FLEXCHAIN__BLOCK_HEADER__INIT;
	Flexchain__Block blk = FLEXCHAIN__BLOCK__INIT;
	uint8_t prev[FC_HASH_LEN], data_hash[FC_HASH_LEN], graph_hash[FC_HASH_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc;

	*buf = NULL;
	*len = 0;
	if (!envs)
		envs = no_envs;
	memcpy(prev, prev_hash, FC_HASH_LEN);
	rc = fc_depgraph_build(envs, n, &graph, errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, rc, "block %llu: dependency graph",
				(unsigned long long)height);
		goto out;
	}
	rc = fc_hash_envelopes(envs, n, data_hash);
	if (rc == FC_OK)
		rc = fc_hash_graph(graph, graph_hash);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "block %llu: hashing: %s", (unsigned long long)height,
			     fc_strerror(rc));
		goto free_graph;
	}
	hdr.height = height;
	hdr.prev_hash = (ProtobufCBinaryData){FC_HASH_LEN, prev};
	hdr.data_hash = (ProtobufCBinaryData){FC_HASH_LEN, data_hash};
	hdr.graph_hash = (ProtobufCBinaryData){FC_HASH_LEN, graph_hash};
	hdr.timestamp_ms = timestamp_ms;
	hdr.orderer = (ProtobufCBinaryData){cert_len, (uint8_t *)cert_der};
	rc = fc_hash_header(&hdr, hash);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "block %llu: header hash", (unsigned long long)height);
		goto free_graph;
	}
	rc = fc_crypto_sign_digest(key, hash, &sig, &siglen, errmsg);
	if (rc != FC_OK) {
		rc = fc_errwrap(errmsg, rc, "block %llu: sign", (unsigned long long)height);
		goto free_graph;
	}
	hdr.signature = (ProtobufCBinaryData){siglen, sig};
	blk.header = &hdr;
	blk.n_envelopes = n;
	blk.envelopes = (Flexchain__Envelope **)envs;
	blk.graph = graph;
	rc = fc_wire_encode(&blk.base, buf, len, errmsg);
	if (rc != FC_OK)
		rc = fc_errwrap(errmsg, rc, "block %llu: encode", (unsigned long long)height);
	fc_free(sig);
free_graph:
	fc_depgraph_free(graph);
out:
	return rc;
}

int fc_ord_block_verify(fc_crypto_castore *cs, const Flexchain__Block *b, uint64_t height,
			const uint8_t *prev_hash, uint8_t hash[FC_HASH_LEN], char *errmsg)
{
	const Flexchain__BlockHeader *h;
	fc_cert *cert = NULL;
	int rc;

	rc = fc_wire_check_block(b, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "malformed block");
	h = b->header;
	if (prev_hash) {
		if (h->height != height)
			return fc_errf(errmsg, FC_EMISMATCH, "block at height %llu, expected %llu",
				       (unsigned long long)h->height, (unsigned long long)height);
		if (memcmp(h->prev_hash.data, prev_hash, FC_HASH_LEN) != 0)
			return fc_errf(errmsg, FC_EMISMATCH, "block %llu: prev hash mismatch",
				       (unsigned long long)h->height);
	}
	rc = fc_canon_check_block_hashes(b, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_hash_header(h, hash);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "block %llu: header hash",
			       (unsigned long long)h->height);
	rc = fc_crypto_castore_verify_der(cs, h->orderer.data, h->orderer.len, &cert, NULL, errmsg);
	if (rc != FC_OK)
		return fc_errwrap(errmsg, rc, "block %llu: orderer certificate",
				  (unsigned long long)h->height);
	if (strcmp(fc_crypto_cert_ou(cert), "orderer") != 0) {
		rc = fc_errf(errmsg, FC_EVERIFY, "block %llu: signer %s is not an orderer",
			     (unsigned long long)h->height, fc_crypto_cert_subject(cert));
		goto out;
	}
	rc = fc_crypto_verify_digest(cert, hash, h->signature.data, h->signature.len, errmsg);
	if (rc != FC_OK)
		rc = fc_errwrap(errmsg, rc, "block %llu: header signature",
				(unsigned long long)h->height);
out:
	fc_crypto_cert_free(cert);
	return rc;
}
