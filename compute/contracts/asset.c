/* asset - ownership of named assets.
 *
 * Key asset_<ID> holds the record "OWNER VALUE": the owner, one space, the
 * value as decimal text. ID and OWNER are 1..128 bytes of [A-Za-z0-9_.:@-];
 * VALUE is an integer in 0..10^15.
 *
 *   create ID OWNER VALUE       FC_EEXIST when the asset exists. Reads and
 *                               writes asset_<ID>.
 *   transfer ID FROM_OWNER TO_OWNER
 *                               FC_ENOTFOUND when the asset does not exist,
 *                               FC_EDENIED unless FROM_OWNER is its current
 *                               owner; sets the owner to TO_OWNER. Result:
 *                               the new record. Reads and writes asset_<ID>.
 *   read ID                     result: the record "OWNER VALUE";
 *                               FC_ENOTFOUND when absent. Reads asset_<ID>.
 */
#include "contracts.h"

#include <stdio.h>
#include <string.h>

#include "fc_err.h"

#define AS_MAX_NAME 128
#define AS_MAX_VALUE 1000000000000000LL
#define AS_PREFIX "asset_"
#define AS_KEY_LEN (sizeof AS_PREFIX + AS_MAX_NAME)
#define AS_REC_LEN (AS_MAX_NAME + 1 + 20)

static int name_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > AS_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

/* Argument i as a name (ID or owner). */
static int arg_name(struct fc_contract_ctx *ctx, size_t i, const char *what, const uint8_t **p,
		    size_t *len, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	fc_ctx_arg(ctx, i, p, len);
	if (!name_ok(*p, *len))
		return fc_errf(errmsg, FC_EINVAL,
			       "%s '%s' is not 1..%d characters of [A-Za-z0-9_.:@-]", what,
			       fc_contract_quote(*p, *len, q), AS_MAX_NAME);
	return FC_OK;
}

static size_t asset_key(const uint8_t *id, size_t idl, char *key)
{
	memcpy(key, AS_PREFIX, sizeof AS_PREFIX - 1);
	memcpy(key + sizeof AS_PREFIX - 1, id, idl);
	return sizeof AS_PREFIX - 1 + idl;
}

/* Splits a stored record into owner and value. */
static int parse_record(const uint8_t *rec, size_t len, const uint8_t *id, size_t idl,
			size_t *owner_len, int64_t *value, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *sp = len ? memchr(rec, ' ', len) : NULL;
	if (!sp || !name_ok(rec, (size_t)(sp - rec)) ||
	    fc_contract_parse_int(sp + 1, len - (size_t)(sp - rec) - 1, value) != FC_OK)
		return fc_errf(errmsg, FC_EPROTO, "asset '%s': malformed record",
			       fc_contract_quote(id, idl, q));
	*owner_len = (size_t)(sp - rec);
	return FC_OK;
}

static int as_create(struct fc_contract_ctx *ctx, char *errmsg)
{
	char key[AS_KEY_LEN], rec[AS_REC_LEN], q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *id, *owner, *old;
	size_t idl, ol, oldl;
	int64_t value = 0;
	int rc = fc_ctx_want_args(ctx, 3, errmsg);
	if (rc)
		return rc;
	if ((rc = arg_name(ctx, 0, "ID", &id, &idl, errmsg)) ||
	    (rc = arg_name(ctx, 1, "OWNER", &owner, &ol, errmsg)) ||
	    (rc = fc_ctx_arg_int(ctx, 2, "VALUE", 0, AS_MAX_VALUE, &value, errmsg)))
		return rc;
	size_t kl = asset_key(id, idl, key);
	rc = fc_ctx_get(ctx, key, kl, &old, &oldl, errmsg);
	if (rc == FC_OK)
		return fc_errf(errmsg, FC_EEXIST, "asset '%s' exists",
			       fc_contract_quote(id, idl, q));
	if (rc != FC_ENOTFOUND)
		return rc;
	int n =
	    snprintf(rec, sizeof rec, "%.*s %lld", (int)ol, (const char *)owner, (long long)value);
	return fc_ctx_put(ctx, key, kl, rec, (size_t)n, errmsg);
}

static int as_get(struct fc_contract_ctx *ctx, const uint8_t *id, size_t idl, char *key, size_t *kl,
		  const uint8_t **rec, size_t *rl, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	*kl = asset_key(id, idl, key);
	int rc = fc_ctx_get(ctx, key, *kl, rec, rl, errmsg);
	if (rc == FC_ENOTFOUND)
		return fc_errf(errmsg, rc, "asset '%s' not found", fc_contract_quote(id, idl, q));
	return rc;
}

static int as_transfer(struct fc_contract_ctx *ctx, char *errmsg)
{
	char key[AS_KEY_LEN], nrec[AS_REC_LEN], q1[FC_CONTRACT_QUOTE_LEN],
	    q2[FC_CONTRACT_QUOTE_LEN], q3[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *id, *from, *to, *rec;
	size_t idl, fl, tl, kl, rl, cur_l = 0;
	int64_t value = 0;
	int rc = fc_ctx_want_args(ctx, 3, errmsg);
	if (rc)
		return rc;
	if ((rc = arg_name(ctx, 0, "ID", &id, &idl, errmsg)) ||
	    (rc = arg_name(ctx, 1, "FROM_OWNER", &from, &fl, errmsg)) ||
	    (rc = arg_name(ctx, 2, "TO_OWNER", &to, &tl, errmsg)) ||
	    (rc = as_get(ctx, id, idl, key, &kl, &rec, &rl, errmsg)) ||
	    (rc = parse_record(rec, rl, id, idl, &cur_l, &value, errmsg)))
		return rc;
	if (cur_l != fl || memcmp(rec, from, fl) != 0)
		return fc_errf(errmsg, FC_EDENIED, "asset '%s' is owned by '%s', not '%s'",
			       fc_contract_quote(id, idl, q1), fc_contract_quote(rec, cur_l, q2),
			       fc_contract_quote(from, fl, q3));
	int n =
	    snprintf(nrec, sizeof nrec, "%.*s %lld", (int)tl, (const char *)to, (long long)value);
	if ((rc = fc_ctx_put(ctx, key, kl, nrec, (size_t)n, errmsg)))
		return rc;
	return fc_ctx_set_result(ctx, nrec, (size_t)n, errmsg);
}

static int as_read(struct fc_contract_ctx *ctx, char *errmsg)
{
	char key[AS_KEY_LEN];
	const uint8_t *id, *rec;
	size_t idl, kl, rl;
	int rc = fc_ctx_want_args(ctx, 1, errmsg);
	if (rc)
		return rc;
	if ((rc = arg_name(ctx, 0, "ID", &id, &idl, errmsg)) ||
	    (rc = as_get(ctx, id, idl, key, &kl, &rec, &rl, errmsg)))
		return rc;
	return fc_ctx_set_result(ctx, rec, rl, errmsg);
}

static const struct fc_contract_func as_funcs[] = {
    {"create", as_create, "create ID OWNER VALUE"},
    {"transfer", as_transfer, "transfer ID FROM_OWNER TO_OWNER"},
    {"read", as_read, "read ID"},
};

const struct fc_contract fc_contract_asset = {
    .abi = FC_CONTRACT_ABI,
    .name = "asset",
    .funcs = as_funcs,
    .n_funcs = sizeof as_funcs / sizeof as_funcs[0],
};
