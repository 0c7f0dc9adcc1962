/* Client identities and signed proposals (fc_gwclient.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fc_err.h"
#include "fc_gwclient.h"
#include "fc_mem.h"

int fc_gw_identity_load(const struct fc_config *cfg, const char *org,
			struct fc_gw_identity **out, char *errmsg)
{
	const struct fc_config_org *o;
	struct fc_gw_identity *id = NULL;
	char cid[FC_CONFIG_NAME_MAX + 16];
	int rc;

	*out = NULL;
	if (!cfg || cfg->n_orgs == 0)
		return fc_errf(errmsg, FC_EINVAL, "no configuration");
	o = org ? fc_config_find_org(cfg, org) : &cfg->orgs[0];
	if (!o)
		return fc_errf(errmsg, FC_ENOTFOUND, "%s: no organisation named '%s'", cfg->path,
			       org);
	id = fc_calloc(1, sizeof *id);
	if (!id)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	snprintf(id->org, sizeof id->org, "%s", o->name);
	rc = fc_identity_client_id(o->name, cid, sizeof cid, errmsg);
	if (rc != FC_OK)
		goto free_id;
	rc = fc_identity_load(cfg->crypto_dir, o->name, FC_IDENTITY_ROLE_CLIENT, cid, &id->cert,
			      &id->key, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "client identity of %s (run 'flexchain crypto generate')",
			   o->name);
		goto free_id;
	}
	*out = id;
	return FC_OK;
free_id:
	fc_free(id);
	return rc;
}

void fc_gw_identity_free(struct fc_gw_identity *id)
{
	if (!id)
		return;
	fc_crypto_cert_free(id->cert);
	fc_crypto_key_free(id->key);
	fc_free(id);
}

void fc_gw_proposal_free(struct fc_gw_proposal *p)
{
	if (!p)
		return;
	if (p->prop.args) {
		for (size_t i = 0; i < p->prop.n_args; i++)
			fc_free(p->prop.args[i].data);
		fc_free(p->prop.args);
	}
	fc_free(p->prop.contract);
	fc_free(p->prop.function);
	fc_free(p->prop.creator.data);
	fc_free(p->sig);
	fc_free(p);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fc_gw_proposal_build(const struct fc_gw_identity *id, const char *contract,
			 const char *function, size_t nargs, const char *const *args,
			 const size_t *arg_lens, uint64_t timestamp_ms,
			 struct fc_gw_proposal **out, char *errmsg)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	struct fc_gw_proposal *p;
	uint8_t dig[FC_HASH_LEN];
	const uint8_t *der;
	size_t der_len;
	int rc = FC_ENOMEM;

	*out = NULL;
	if (!id || !contract || !*contract || !function || !*function || (nargs && !args))
		return fc_errf(errmsg, FC_EINVAL, "proposal: contract and function are required");
	p = fc_calloc(1, sizeof *p);
	if (!p)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	flexchain__proposal__init(&p->prop);
	p->prop.tx_id = p->tx_id;
	p->prop.contract = fc_strdup(contract);
	p->prop.function = fc_strdup(function);
	if (!p->prop.contract || !p->prop.function)
		goto fail_nomem;
	if (nargs) {
		p->prop.args = fc_calloc(nargs, sizeof *p->prop.args);
		if (!p->prop.args)
			goto fail_nomem;
		p->prop.n_args = nargs;
		for (size_t i = 0; i < nargs; i++) {
			size_t n = arg_lens ? arg_lens[i] : strlen(args[i]);
			/* never a NULL data pointer, even for an empty argument */
			p->prop.args[i].data = fc_malloc(n ? n : 1);
			if (!p->prop.args[i].data)
				goto fail_nomem;
			memcpy(p->prop.args[i].data, args[i], n);
			p->prop.args[i].len = n;
		}
	}
	rc = fc_crypto_random(p->nonce, sizeof p->nonce, errmsg);
	if (rc != FC_OK)
		goto fail;
	p->prop.nonce.data = p->nonce;
	p->prop.nonce.len = sizeof p->nonce;
	der = fc_crypto_cert_der(id->cert, &der_len);
	p->prop.creator.data = fc_memdup(der, der_len);
	if (!p->prop.creator.data)
		goto fail_nomem;
	p->prop.creator.len = der_len;
	p->prop.timestamp_ms = timestamp_ms ? timestamp_ms : now_ms();
	rc = fc_canon_tx_id_of(&p->prop, p->tx_id);
	if (rc != FC_OK) {
		fc_errf(errmsg, rc, "proposal: tx id: %s", fc_strerror(rc));
		goto fail;
	}
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &p->prop;
	rc = fc_hash_client_sig(&env, dig);
	if (rc != FC_OK) {
		fc_errf(errmsg, rc, "proposal: client-signature digest: %s", fc_strerror(rc));
		goto fail;
	}
	rc = fc_crypto_sign_digest(id->key, dig, &p->sig, &p->sig_len, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "proposal: sign");
		goto fail;
	}
	*out = p;
	return FC_OK;
fail_nomem:
	rc = fc_errf(errmsg, FC_ENOMEM, "out of memory");
fail:
	p->prop.nonce.data = NULL; /* points into p */
	p->prop.tx_id = NULL;
	fc_gw_proposal_free(p);
	return rc;
}

int fc_gw_envelope_sign(const struct fc_gw_identity *id, Flexchain__Envelope *env,
			char *errmsg)
{
	uint8_t dig[FC_HASH_LEN];
	int rc;

	if (!id || !env || !env->proposal)
		return fc_errf(errmsg, FC_EINVAL, "envelope: identity and proposal are required");
	env->type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env->client_signature.data = NULL;
	env->client_signature.len = 0;
	rc = fc_hash_client_sig(env, dig);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "envelope: client-signature digest: %s",
			       fc_strerror(rc));
	rc = fc_crypto_sign_digest(id->key, dig, &env->client_signature.data,
				   &env->client_signature.len, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "envelope: sign");
	return rc;
}

const char *fc_gw_status_name(int status)
{
	static const char *const names[] = {
	    "unknown",	     "valid",	       "mvcc_read_conflict", "endorsement_policy_failure",
	    "bad_signature", "duplicate_txid", "bad_payload",	     "bad_config",
	};

	if (status < 0 || (size_t)status >= sizeof names / sizeof names[0])
		return "unknown";
	return names[status];
}
