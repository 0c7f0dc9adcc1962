/* smallbank - the SmallBank benchmark (Alomari et al., ICDE 2008), with the
 * semantics of its common implementations (H-Store, OLTP-Bench) except that
 * accounts are named by their id directly (no name -> id table).
 *
 * Keys: checking_<ID> and savings_<ID>, each holding a balance in cents as
 * decimal text (may be negative for checking after a write_check). ID is any
 * non-empty byte string of at most 256 bytes. Amounts are decimal integers
 * (cents) of at most 10^15 in magnitude. Missing accounts give
 * FC_ENOTFOUND, refused business rules FC_EDENIED, sums that would overflow
 * FC_ERANGE.
 *
 *   create_account ID CHECKING SAVINGS   setup: both balances >= 0;
 *       FC_EEXIST when either key exists. Reads and writes both keys.
 *   balance ID                           result: checking + savings.
 *       Reads both keys.
 *   deposit_checking ID AMOUNT           AMOUNT >= 0; checking += AMOUNT.
 *       Result: the new checking balance.
 *   transact_savings ID AMOUNT           AMOUNT may be negative (a
 *       withdrawal); FC_EDENIED when savings + AMOUNT < 0. Result: the new
 *       savings balance.
 *   amalgamate FROM TO                   moves all of FROM's money (checking
 *       + savings) into TO's checking; FROM's balances become 0. Result: the
 *       amount moved. Reads FROM's two keys and TO's checking.
 *   write_check ID AMOUNT                AMOUNT >= 0; checking -= AMOUNT,
 *       and 1 more as a penalty when checking + savings < AMOUNT (checking
 *       may go negative). Result: the new checking balance.
 *   send_payment FROM TO AMOUNT          AMOUNT >= 0; FC_EDENIED when FROM's
 *       checking < AMOUNT; moves AMOUNT between the checking balances.
 *       Result: FROM's new checking balance.
 *
 * Only write_check creates or destroys money (the penalty, and a check
 * drawn on the bank); every other function conserves the sum of balances.
 */
#include "contracts.h"

#include <string.h>

#include "fc_err.h"

#define SB_MAX_ID 256
#define SB_MAX_AMOUNT 1000000000000000LL /* 10^15 cents */
#define SB_KEY_LEN (sizeof "checking_" + SB_MAX_ID)

enum acct_kind { CHECKING, SAVINGS };

/* The key of account arg i of kind k into buf (SB_KEY_LEN bytes). */
static int acct_key(struct fc_contract_ctx *ctx, size_t i, enum acct_kind k, char *buf,
		    size_t *klen, char *errmsg)
{
	const char *pre = k == CHECKING ? "checking_" : "savings_";
	size_t pl = strlen(pre);
	const uint8_t *id;
	size_t idl;

	if (fc_ctx_arg(ctx, i, &id, &idl) != FC_OK)
		return fc_ctx_want_args(ctx, i + 1, errmsg);
	if (idl == 0 || idl > SB_MAX_ID)
		return fc_errf(errmsg, FC_EINVAL, "account id of %zu bytes (1..%d)", idl,
			       SB_MAX_ID);
	memcpy(buf, pre, pl);
	memcpy(buf + pl, id, idl);
	*klen = pl + idl;
	return FC_OK;
}

/* Reads a balance; a missing key is a missing account. */
static int get_bal(struct fc_contract_ctx *ctx, size_t i, enum acct_kind k, char *key, size_t *klen,
		   int64_t *bal, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *id;
	size_t idl;
	int rc = acct_key(ctx, i, k, key, klen, errmsg);
	if (rc)
		return rc;
	rc = fc_ctx_get_int(ctx, key, *klen, bal, errmsg);
	if (rc == FC_ENOTFOUND) {
		fc_ctx_arg(ctx, i, &id, &idl);
		return fc_errf(errmsg, rc, "account '%s' not found", fc_contract_quote(id, idl, q));
	}
	return rc;
}

static int add(int64_t a, int64_t b, int64_t *out, char *errmsg)
{
	if (__builtin_add_overflow(a, b, out))
		return fc_errf(errmsg, FC_ERANGE, "balance overflow");
	return FC_OK;
}

static int sb_create_account(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck[SB_KEY_LEN], sk[SB_KEY_LEN], q[FC_CONTRACT_QUOTE_LEN];
	size_t ckl, skl, vl;
	const uint8_t *v, *id;
	int64_t c, s;
	int rc = fc_ctx_want_args(ctx, 3, errmsg);
	if (rc)
		return rc;
	if ((rc = acct_key(ctx, 0, CHECKING, ck, &ckl, errmsg)) ||
	    (rc = acct_key(ctx, 0, SAVINGS, sk, &skl, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 1, "CHECKING", 0, SB_MAX_AMOUNT, &c, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 2, "SAVINGS", 0, SB_MAX_AMOUNT, &s, errmsg)))
		return rc;
	for (int i = 0; i < 2; i++) {
		rc = fc_ctx_get(ctx, i ? sk : ck, i ? skl : ckl, &v, &vl, errmsg);
		if (rc == FC_OK) {
			fc_ctx_arg(ctx, 0, &id, &vl);
			return fc_errf(errmsg, FC_EEXIST, "account '%s' exists",
				       fc_contract_quote(id, vl, q));
		}
		if (rc != FC_ENOTFOUND)
			return rc;
	}
	if ((rc = fc_ctx_put_int(ctx, ck, ckl, c, errmsg)) ||
	    (rc = fc_ctx_put_int(ctx, sk, skl, s, errmsg)))
		return rc;
	return FC_OK;
}

static int sb_balance(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck[SB_KEY_LEN], sk[SB_KEY_LEN];
	size_t ckl, skl;
	int64_t c, s, t;
	int rc = fc_ctx_want_args(ctx, 1, errmsg);
	if (rc)
		return rc;
	if ((rc = get_bal(ctx, 0, CHECKING, ck, &ckl, &c, errmsg)) ||
	    (rc = get_bal(ctx, 0, SAVINGS, sk, &skl, &s, errmsg)) || (rc = add(c, s, &t, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, t, errmsg);
}

static int sb_deposit_checking(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck[SB_KEY_LEN];
	size_t ckl;
	int64_t amt, c;
	int rc = fc_ctx_want_args(ctx, 2, errmsg);
	if (rc)
		return rc;
	if ((rc = fc_ctx_arg_int(ctx, 1, "AMOUNT", 0, SB_MAX_AMOUNT, &amt, errmsg)) ||
	    (rc = get_bal(ctx, 0, CHECKING, ck, &ckl, &c, errmsg)) ||
	    (rc = add(c, amt, &c, errmsg)) || (rc = fc_ctx_put_int(ctx, ck, ckl, c, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, c, errmsg);
}

static int sb_transact_savings(struct fc_contract_ctx *ctx, char *errmsg)
{
	char sk[SB_KEY_LEN];
	size_t skl;
	int64_t amt, s, ns;
	int rc = fc_ctx_want_args(ctx, 2, errmsg);
	if (rc)
		return rc;
	if ((rc = fc_ctx_arg_int(ctx, 1, "AMOUNT", -SB_MAX_AMOUNT, SB_MAX_AMOUNT, &amt, errmsg)) ||
	    (rc = get_bal(ctx, 0, SAVINGS, sk, &skl, &s, errmsg)) ||
	    (rc = add(s, amt, &ns, errmsg)))
		return rc;
	if (ns < 0)
		return fc_errf(errmsg, FC_EDENIED,
			       "savings balance %lld cannot cover a withdrawal of %lld",
			       (long long)s, (long long)-amt);
	if ((rc = fc_ctx_put_int(ctx, sk, skl, ns, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, ns, errmsg);
}

static int sb_amalgamate(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck0[SB_KEY_LEN], sk0[SB_KEY_LEN], ck1[SB_KEY_LEN];
	size_t ck0l, sk0l, ck1l;
	int64_t c0, s0, c1, total, nc1;
	int rc = fc_ctx_want_args(ctx, 2, errmsg);
	if (rc)
		return rc;
	if ((rc = get_bal(ctx, 0, CHECKING, ck0, &ck0l, &c0, errmsg)) ||
	    (rc = get_bal(ctx, 0, SAVINGS, sk0, &sk0l, &s0, errmsg)) ||
	    (rc = get_bal(ctx, 1, CHECKING, ck1, &ck1l, &c1, errmsg)) ||
	    (rc = add(c0, s0, &total, errmsg)) ||
	    (rc = fc_ctx_put_int(ctx, ck0, ck0l, 0, errmsg)) ||
	    (rc = fc_ctx_put_int(ctx, sk0, sk0l, 0, errmsg)))
		return rc;
	/* re-read TO's checking: when FROM == TO it was just zeroed */
	if ((rc = fc_ctx_get_int(ctx, ck1, ck1l, &c1, errmsg)) ||
	    (rc = add(c1, total, &nc1, errmsg)) ||
	    (rc = fc_ctx_put_int(ctx, ck1, ck1l, nc1, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, total, errmsg);
}

static int sb_write_check(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck[SB_KEY_LEN], sk[SB_KEY_LEN];
	size_t ckl, skl;
	int64_t amt, c, s, total, nc;
	int rc = fc_ctx_want_args(ctx, 2, errmsg);
	if (rc)
		return rc;
	if ((rc = fc_ctx_arg_int(ctx, 1, "AMOUNT", 0, SB_MAX_AMOUNT, &amt, errmsg)) ||
	    (rc = get_bal(ctx, 0, CHECKING, ck, &ckl, &c, errmsg)) ||
	    (rc = get_bal(ctx, 0, SAVINGS, sk, &skl, &s, errmsg)) ||
	    (rc = add(c, s, &total, errmsg)))
		return rc;
	int64_t debit = total < amt ? amt + 1 : amt; /* overdraft penalty of 1 */
	if ((rc = add(c, -debit, &nc, errmsg)) || (rc = fc_ctx_put_int(ctx, ck, ckl, nc, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, nc, errmsg);
}

static int sb_send_payment(struct fc_contract_ctx *ctx, char *errmsg)
{
	char ck0[SB_KEY_LEN], ck1[SB_KEY_LEN];
	size_t ck0l, ck1l;
	int64_t amt, c0, c1, nc0, nc1;
	int rc = fc_ctx_want_args(ctx, 3, errmsg);
	if (rc)
		return rc;
	if ((rc = fc_ctx_arg_int(ctx, 2, "AMOUNT", 0, SB_MAX_AMOUNT, &amt, errmsg)) ||
	    (rc = get_bal(ctx, 0, CHECKING, ck0, &ck0l, &c0, errmsg)) ||
	    (rc = get_bal(ctx, 1, CHECKING, ck1, &ck1l, &c1, errmsg)))
		return rc;
	if (c0 < amt)
		return fc_errf(errmsg, FC_EDENIED, "checking balance %lld cannot cover %lld",
			       (long long)c0, (long long)amt);
	nc0 = c0 - amt;
	if ((rc = fc_ctx_put_int(ctx, ck0, ck0l, nc0, errmsg)))
		return rc;
	/* re-read TO's checking: when FROM == TO it was just debited */
	if ((rc = fc_ctx_get_int(ctx, ck1, ck1l, &c1, errmsg)) ||
	    (rc = add(c1, amt, &nc1, errmsg)) || (rc = fc_ctx_put_int(ctx, ck1, ck1l, nc1, errmsg)))
		return rc;
	return fc_ctx_set_result_int(ctx, ck0l == ck1l && memcmp(ck0, ck1, ck0l) == 0 ? nc1 : nc0,
				     errmsg);
}

static const struct fc_contract_func sb_funcs[] = {
    {"create_account", sb_create_account, "create_account ID CHECKING SAVINGS"},
    {"balance", sb_balance, "balance ID"},
    {"deposit_checking", sb_deposit_checking, "deposit_checking ID AMOUNT"},
    {"transact_savings", sb_transact_savings, "transact_savings ID AMOUNT"},
    {"amalgamate", sb_amalgamate, "amalgamate FROM TO"},
    {"write_check", sb_write_check, "write_check ID AMOUNT"},
    {"send_payment", sb_send_payment, "send_payment FROM TO AMOUNT"},
};

const struct fc_contract fc_contract_smallbank = {
    .abi = FC_CONTRACT_ABI,
    .name = "smallbank",
    .funcs = sb_funcs,
    .n_funcs = sizeof sb_funcs / sizeof sb_funcs[0],
};
