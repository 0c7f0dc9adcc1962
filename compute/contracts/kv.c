/* kv - a key/value store for the YCSB workload.
 *
 * Keys are the KEY argument as is (1..FC_CONTRACT_MAX_KEY bytes), values the
 * VALUE argument as is (0..FC_CONTRACT_MAX_VALUE bytes).
 *
 *   read KEY          result: the value. FC_ENOTFOUND when absent.
 *                     Reads KEY.
 *   update KEY VALUE  writes VALUE (a blind write, as YCSB's update of a
 *                     record: no read, so it never conflicts on reads).
 *   insert KEY VALUE  writes VALUE; FC_EEXIST when KEY exists. Reads KEY.
 *   rmw KEY VALUE     read-modify-write: reads KEY (FC_ENOTFOUND when
 *                     absent), writes VALUE; result: the old value.
 *   delete KEY        deletes KEY; FC_ENOTFOUND when absent. Reads KEY.
 *
 * YCSB's scan has no counterpart: the state offers no ordered iteration.
 */
#include "contracts.h"

#include "fc_err.h"

/* The key (argument 0) and, when n is 2, the value (argument 1). */
static int kv_args(struct fc_contract_ctx *ctx, size_t n, const uint8_t **k, size_t *kl,
		   const uint8_t **v, size_t *vl, char *errmsg)
{
	int rc = fc_ctx_want_args(ctx, n, errmsg);
	if (rc)
		return rc;
	fc_ctx_arg(ctx, 0, k, kl);
	if (n == 2)
		fc_ctx_arg(ctx, 1, v, vl);
	return FC_OK;
}

static int kv_read(struct fc_contract_ctx *ctx, char *errmsg)
{
	const uint8_t *k, *v;
	size_t kl, vl;
	int rc = kv_args(ctx, 1, &k, &kl, NULL, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_get(ctx, k, kl, &v, &vl, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_set_result(ctx, v, vl, errmsg);
	return rc;
}

static int kv_update(struct fc_contract_ctx *ctx, char *errmsg)
{
	const uint8_t *k, *v;
	size_t kl, vl;
	int rc = kv_args(ctx, 2, &k, &kl, &v, &vl, errmsg);
	return rc ? rc : fc_ctx_put(ctx, k, kl, v, vl, errmsg);
}

static int kv_insert(struct fc_contract_ctx *ctx, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *k, *v, *old;
	size_t kl, vl, ol;
	int rc = kv_args(ctx, 2, &k, &kl, &v, &vl, errmsg);
	if (rc)
		return rc;
	rc = fc_ctx_get(ctx, k, kl, &old, &ol, errmsg);
	if (rc == FC_OK)
		return fc_errf(errmsg, FC_EEXIST, "key '%s' exists", fc_contract_quote(k, kl, q));
	if (rc != FC_ENOTFOUND)
		return rc;
	return fc_ctx_put(ctx, k, kl, v, vl, errmsg);
}

/* Writes VALUE and returns the old value. */
static int kv_rmw(struct fc_contract_ctx *ctx, char *errmsg)
{
	const uint8_t *k, *v, *old;
	size_t kl, vl, ol;
	int rc = kv_args(ctx, 2, &k, &kl, &v, &vl, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_get(ctx, k, kl, &old, &ol, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_set_result(ctx, old, ol, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_put(ctx, k, kl, v, vl, errmsg);
	return rc;
}

/* Deleting a key that does not exist is an error (FC_ENOTFOUND). */
static int kv_delete(struct fc_contract_ctx *ctx, char *errmsg)
{
	const uint8_t *k, *old;
	size_t kl, ol;
	int rc = kv_args(ctx, 1, &k, &kl, NULL, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_get(ctx, k, kl, &old, &ol, errmsg);
	if (rc == FC_OK)
		rc = fc_ctx_del(ctx, k, kl, errmsg);
	return rc;
}

static const struct fc_contract_func kv_funcs[] = {
    {"read", kv_read, "read KEY"},
    {"update", kv_update, "update KEY VALUE"},
    {"insert", kv_insert, "insert KEY VALUE"},
    {"rmw", kv_rmw, "rmw KEY VALUE"},
    {"delete", kv_delete, "delete KEY"},
};

const struct fc_contract fc_contract_kv = {
    .abi = FC_CONTRACT_ABI,
    .name = "kv",
    .funcs = kv_funcs,
    .n_funcs = sizeof kv_funcs / sizeof kv_funcs[0],
};
