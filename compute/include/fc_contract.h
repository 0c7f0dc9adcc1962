/* fc_contract.h - the contract API: what a contract author writes against.
 *
 * A contract is a named table of functions. A function reads arguments,
 * reads and writes state through its context and sets a result. It must be
 * deterministic: the same arguments and the same state give the same reads,
 * writes and result on every compute server (no clocks, no randomness, no
 * global mutable state, no I/O), since endorsers of different
 * organisations must produce identical read/write sets.
 *
 * Reads see the transaction's own earlier writes (read-your-writes); only
 * reads of committed state enter the read set, each key once, with the
 * version first seen. Writes are buffered and become the write set (last
 * write of a key wins; delete is a write). Nothing reaches state before the
 * transaction is ordered and validated.
 *
 * Ownership: everything a context hands out (arguments, values read) is
 * borrowed from the context and valid until the function returns. Values
 * passed to put/set_result are copied.
 *
 * Errors: a function returns FC_OK, or a project error code with a message
 * in errmsg (fc_errf): FC_EINVAL for bad arguments ("transfer: amount
 * 'x' is not a number"), FC_ENOTFOUND for a missing entity the function
 * requires, FC_EDENIED for a refused business rule (e.g. not the owner).
 * Any error aborts the transaction: nothing is endorsed.
 */
#ifndef FC_CONTRACT_H
#define FC_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_CONTRACT_ABI 1

struct fc_contract_ctx;

/* Arguments: nargs, and arg i (0-based) as bytes. FC_EINVAL when i is out
 * of range. */
size_t fc_ctx_nargs(const struct fc_contract_ctx *ctx);
int fc_ctx_arg(const struct fc_contract_ctx *ctx, size_t i, const uint8_t **p, size_t *len);

/* State. get: FC_OK with *val/*len borrowed, FC_ENOTFOUND when the key does
 * not exist (a read of version 0 is recorded), or a state error to return
 * as is. put/del: FC_OK, FC_EINVAL for an empty key or one over
 * FC_CONTRACT_MAX_KEY bytes, FC_ETOOBIG for a value over
 * FC_CONTRACT_MAX_VALUE, FC_ENOMEM. */
#define FC_CONTRACT_MAX_KEY 1024u
#define FC_CONTRACT_MAX_VALUE (1024u * 1024u)
int fc_ctx_get(struct fc_contract_ctx *ctx, const void *key, size_t klen, const uint8_t **val,
	       size_t *len, char *errmsg);
int fc_ctx_put(struct fc_contract_ctx *ctx, const void *key, size_t klen, const void *val,
	       size_t len, char *errmsg);
int fc_ctx_del(struct fc_contract_ctx *ctx, const void *key, size_t klen, char *errmsg);

/* The function's result (replaces an earlier one). */
int fc_ctx_set_result(struct fc_contract_ctx *ctx, const void *p, size_t len, char *errmsg);

typedef int (*fc_contract_fn)(struct fc_contract_ctx *ctx, char *errmsg);

struct fc_contract_func {
	const char *name;
	fc_contract_fn fn;
	const char *usage; /* "transfer FROM TO AMOUNT": shown in errors */
};

struct fc_contract {
	unsigned abi; /* FC_CONTRACT_ABI */
	const char *name;
	const struct fc_contract_func *funcs;
	size_t n_funcs;
};

/* The contracts built into this binary (kv, smallbank, asset, ml); NULL when
 * unknown. The registry is static and read-only. */
const struct fc_contract *fc_contract_find(const char *name);
const struct fc_contract_func *fc_contract_find_func(const struct fc_contract *c,
						     const char *fn);
/* Every registered contract, for listing. */
size_t fc_contract_count(void);
const struct fc_contract *fc_contract_at(size_t i);

#endif
