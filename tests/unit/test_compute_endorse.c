/* Unit tests of the compute server's proposal checks, endorsement and peer
 * endorsement checks (compute/daemon/endorse.h), and of what validators say
 * about envelopes built from them: forged endorsement, policy not met,
 * endorsements over different rwsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "endorse.h"
#include "fc_test_chain.h"

/* A state of at most 8 keys for the state reader. */
struct mstate {
	const char *key[8];
	const char *val[8];
	uint64_t ver[8];
	size_t n;
};

static int mget(void *ud, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		uint64_t *version, char *errmsg)
{
	struct mstate *m = ud;

	(void)errmsg;
	for (size_t i = 0; i < m->n; i++)
		if (strlen(m->key[i]) == klen && memcmp(m->key[i], key, klen) == 0) {
			*len = strlen(m->val[i]);
			*val = fc_memdup(m->val[i], *len);
			*version = m->ver[i];
			return FC_OK;
		}
	return FC_ENOTFOUND;
}

struct prop {
	Flexchain__Proposal p;
	ProtobufCBinaryData args[3];
	uint8_t nonce[16];
	char txid[FC_TXID_HEX_LEN + 1];
	uint8_t *sig;
	size_t siglen;
};

static void make_prop(struct prop *x, const struct fct_id *client, const char *fn, int nargs,
		      const char **args)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	uint8_t d[FC_HASH_LEN];
	size_t dl;
	const uint8_t *der = fc_crypto_cert_der(client->cert, &dl);

	memset(x, 0, sizeof *x);
	flexchain__proposal__init(&x->p);
	for (int i = 0; i < nargs; i++)
		x->args[i] = (ProtobufCBinaryData){strlen(args[i]), (uint8_t *)args[i]};
	assert_int_equal(fc_crypto_random(x->nonce, sizeof x->nonce, NULL), FC_OK);
	x->p.contract = "smallbank";
	x->p.function = (char *)fn;
	x->p.n_args = (size_t)nargs;
	x->p.args = x->args;
	x->p.nonce = (ProtobufCBinaryData){sizeof x->nonce, x->nonce};
	x->p.creator = (ProtobufCBinaryData){dl, (uint8_t *)der};
	assert_int_equal(fc_canon_tx_id_of(&x->p, x->txid), FC_OK);
	x->p.tx_id = x->txid;
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = &x->p;
	assert_int_equal(fc_hash_client_sig(&env, d), FC_OK);
	assert_int_equal(fc_crypto_sign_digest(client->key, d, &x->sig, &x->siglen, NULL), FC_OK);
}

static struct fct_pki pki;
static struct mstate st0 = {
    {"checking_a", "savings_a", "checking_b", "savings_b"},
    {"100", "0", "50", "0"},
    {(2ull << 32) | 1, (2ull << 32) | 1, (3ull << 32) | 4, (3ull << 32) | 4},
    4};

static int setup(void **state)
{
	char err[FC_ERRMSG_LEN];

	(void)state;
	return fct_pki_init(&pki, err) == FC_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fct_pki_destroy(&pki);
	return 0;
}

static void test_check_proposal(void **state)
{
	const char *args[3] = {"a", "b", "5"};
	char err[FC_ERRMSG_LEN];
	const char *org = NULL;
	struct prop x;

	(void)state;
	make_prop(&x, &pki.client[FCT_ORG1], "send_payment", 3, args);
	assert_int_equal(
	    cd_check_proposal(pki.cs, &x.p, (ProtobufCBinaryData){x.siglen, x.sig}, &org, err),
	    FC_OK);
	assert_string_equal(org, "Org1");
	/* A signature byte flipped. */
	x.sig[x.siglen / 2] ^= 1;
	assert_int_equal(
	    cd_check_proposal(pki.cs, &x.p, (ProtobufCBinaryData){x.siglen, x.sig}, NULL, err),
	    FC_EVERIFY);
	assert_non_null(strstr(err, "client signature does not verify"));
	x.sig[x.siglen / 2] ^= 1;
	/* Arguments changed after signing. */
	x.args[2] = (ProtobufCBinaryData){2, (uint8_t *)"50"};
	assert_int_equal(
	    cd_check_proposal(pki.cs, &x.p, (ProtobufCBinaryData){x.siglen, x.sig}, NULL, err),
	    FC_EVERIFY);
	/* A tx id that is not the hash of nonce and creator. */
	x.txid[0] = x.txid[0] == 'a' ? 'b' : 'a';
	assert_int_equal(
	    cd_check_proposal(pki.cs, &x.p, (ProtobufCBinaryData){x.siglen, x.sig}, NULL, err),
	    FC_EINVAL);
	fc_free(x.sig);
	/* A client of an untrusted CA. */
	make_prop(&x, &pki.client[FCT_ROGUE], "send_payment", 3, args);
	assert_int_equal(
	    cd_check_proposal(pki.cs, &x.p, (ProtobufCBinaryData){x.siglen, x.sig}, NULL, err),
	    FC_EVERIFY);
	fc_free(x.sig);
}

static void test_endorse_and_peers(void **state)
{
	const char *args[3] = {"a", "b", "5"};
	struct fc_state_reader r = {mget, &st0};
	struct mstate st1 = st0;
	struct fc_state_reader r1 = {mget, &st1};
	struct cd_endorsed e1, e2, e3;
	Flexchain__Endorsement forged;
	uint8_t fsig[FC_CRYPTO_SIG_MAX];
	char err[FC_ERRMSG_LEN];
	struct prop x;

	(void)state;
	make_prop(&x, &pki.client[FCT_ORG1], "send_payment", 3, args);
	assert_int_equal(
	    cd_endorse(&x.p, &r, pki.compute[FCT_ORG1].cert, pki.compute[FCT_ORG1].key, &e1, err),
	    FC_OK);
	assert_int_equal(
	    cd_endorse(&x.p, &r, pki.compute[FCT_ORG2].cert, pki.compute[FCT_ORG2].key, &e2, err),
	    FC_OK);
	/* Same state: Org2's endorsement checks out against ours. */
	assert_int_equal(
	    cd_check_peer_endorsement(pki.cs, &e1, e2.res.rwset,
				      (ProtobufCBinaryData){e2.res.response_len, e2.res.response},
				      &e2.end, "Org2", err),
	    FC_OK);
	/* ... but not as Org1's. */
	assert_int_equal(
	    cd_check_peer_endorsement(pki.cs, &e1, e2.res.rwset,
				      (ProtobufCBinaryData){e2.res.response_len, e2.res.response},
				      &e2.end, "Org1", err),
	    FC_EVERIFY);
	/* A forged signature. */
	forged = e2.end;
	memcpy(fsig, e2.end.signature.data, e2.end.signature.len);
	fsig[e2.end.signature.len / 2] ^= 0x40;
	forged.signature.data = fsig;
	assert_int_equal(
	    cd_check_peer_endorsement(pki.cs, &e1, e2.res.rwset,
				      (ProtobufCBinaryData){e2.res.response_len, e2.res.response},
				      &forged, "Org2", err),
	    FC_EVERIFY);
	/* The peer saw another version of a key: rwsets differ. */
	st1.ver[0] = (5ull << 32) | 2;
	assert_int_equal(
	    cd_endorse(&x.p, &r1, pki.compute[FCT_ORG2].cert, pki.compute[FCT_ORG2].key, &e3, err),
	    FC_OK);
	assert_int_equal(
	    cd_check_peer_endorsement(pki.cs, &e1, e3.res.rwset,
				      (ProtobufCBinaryData){e3.res.response_len, e3.res.response},
				      &e3.end, "Org2", err),
	    FC_EMISMATCH);
	assert_non_null(strstr(err, "rwsets differ"));
	cd_endorsed_clear(&e3);
	/* Another value, same versions: the response differs. */
	st1 = st0;
	st1.val[0] = "90";
	assert_int_equal(
	    cd_endorse(&x.p, &r1, pki.compute[FCT_ORG2].cert, pki.compute[FCT_ORG2].key, &e3, err),
	    FC_OK);
	assert_int_equal(
	    cd_check_peer_endorsement(pki.cs, &e1, e3.res.rwset,
				      (ProtobufCBinaryData){e3.res.response_len, e3.res.response},
				      &e3.end, "Org2", err),
	    FC_EMISMATCH);
	cd_endorsed_clear(&e3);
	cd_endorsed_clear(&e2);
	cd_endorsed_clear(&e1);
	fc_free(x.sig);
}

static void test_execution_errors(void **state)
{
	const char *args[3] = {"a", "b", "x5"};
	struct fc_state_reader r = {mget, &st0};
	char err[FC_ERRMSG_LEN];
	struct cd_endorsed e;
	struct prop x;

	(void)state;
	make_prop(&x, &pki.client[FCT_ORG1], "send_payment", 3, args);
	assert_int_equal(
	    cd_endorse(&x.p, &r, pki.compute[FCT_ORG1].cert, pki.compute[FCT_ORG1].key, &e, err),
	    FC_EINVAL);
	fc_free(x.sig);
	make_prop(&x, &pki.client[FCT_ORG1], "no_such_function", 0, NULL);
	assert_int_equal(
	    cd_endorse(&x.p, &r, pki.compute[FCT_ORG1].cert, pki.compute[FCT_ORG1].key, &e, err),
	    FC_ENOTFOUND);
	fc_free(x.sig);
	args[2] = "500"; /* more than a's checking */
	make_prop(&x, &pki.client[FCT_ORG1], "send_payment", 3, args);
	assert_int_equal(
	    cd_endorse(&x.p, &r, pki.compute[FCT_ORG1].cert, pki.compute[FCT_ORG1].key, &e, err),
	    FC_EDENIED);
	fc_free(x.sig);
}

/* What validators decide on envelopes built from real endorsements. */
static void test_validation_statuses(void **state)
{
	const char *args[3] = {"a", "b", "5"};
	struct fc_state_reader r = {mget, &st0};
	struct mstate st1 = st0;
	struct fc_state_reader r1 = {mget, &st1};
	struct cd_endorsed e[4][2];
	struct prop x[4];
	Flexchain__Envelope envs[4], *envp[4];
	Flexchain__Endorsement *ends[4][2];
	uint8_t forged[FC_CRYPTO_SIG_MAX];
	struct fct_state fs;
	struct fc_validate_opts o;
	struct fct_block k;
	uint8_t status[4], wsh[32];
	char err[FC_ERRMSG_LEN];

	(void)state;
	assert_int_equal(fct_state_init(&fs, 64, pki.pol), 0);
	for (size_t i = 0; i < 4; i++)
		fct_state_set(&fs, st0.key[i], st0.ver[i]);
	st1.ver[0] = (5ull << 32) | 2;
	for (int i = 0; i < 4; i++) {
		const char *a2[3] = {i % 2 ? "b" : "a", i % 2 ? "a" : "b", "1"};
		(void)args;
		make_prop(&x[i], &pki.client[FCT_ORG1], "send_payment", 3, a2);
		assert_int_equal(cd_endorse(&x[i].p, &r, pki.compute[FCT_ORG1].cert,
					    pki.compute[FCT_ORG1].key, &e[i][0], err),
				 FC_OK);
		/* tx 3: Org2 endorsed what it executed on another state. */
		assert_int_equal(cd_endorse(&x[i].p, i == 3 ? &r1 : &r, pki.compute[FCT_ORG2].cert,
					    pki.compute[FCT_ORG2].key, &e[i][1], err),
				 FC_OK);
		flexchain__envelope__init(&envs[i]);
		envs[i].type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
		envs[i].proposal = &x[i].p;
		envs[i].client_signature = (ProtobufCBinaryData){x[i].siglen, x[i].sig};
		envs[i].rwset = e[i][0].res.rwset;
		envs[i].response =
		    (ProtobufCBinaryData){e[i][0].res.response_len, e[i][0].res.response};
		ends[i][0] = &e[i][0].end;
		ends[i][1] = &e[i][1].end;
		envs[i].endorsements = ends[i];
		envs[i].n_endorsements = 2;
		envp[i] = &envs[i];
	}
	/* tx 1: only Org1 endorsed. */
	envs[1].n_endorsements = 1;
	/* tx 2: Org2's signature forged. */
	uint8_t *orig = e[2][1].end.signature.data;
	memcpy(forged, orig, e[2][1].end.signature.len);
	forged[e[2][1].end.signature.len / 3] ^= 0x11;
	e[2][1].end.signature.data = forged;
	assert_int_equal(fct_block_init_raw(&k, 7, envp, 4, err), FC_OK);
	memset(&o, 0, sizeof o);
	o.castore = pki.cs;
	o.state = fct_state_ops(&fs);
	assert_int_equal(fc_validate_block(&o, &k.b, status, wsh, err), FC_OK);
	assert_int_equal(status[0], FLEXCHAIN__TX_STATUS__TX_VALID);
	assert_int_equal(status[1], FLEXCHAIN__TX_STATUS__TX_ENDORSEMENT_POLICY_FAILURE);
	assert_int_equal(status[2], FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE);
	assert_int_equal(status[3], FLEXCHAIN__TX_STATUS__TX_BAD_SIGNATURE);
	e[2][1].end.signature.data = orig; /* forged is on the stack */
	fct_block_release(&k);
	for (int i = 0; i < 4; i++) {
		cd_endorsed_clear(&e[i][0]);
		cd_endorsed_clear(&e[i][1]);
		fc_free(x[i].sig);
	}
	fct_state_destroy(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_proposal),
	    cmocka_unit_test(test_endorse_and_peers),
	    cmocka_unit_test(test_execution_errors),
	    cmocka_unit_test(test_validation_statuses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
