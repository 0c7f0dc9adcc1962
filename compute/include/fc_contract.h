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

/* State. get: FC_OK with *val and *len borrowed (*val may be NULL when *len is
 * 0), FC_ENOTFOUND when the key does not exist (a read of version 0 is
 * recorded) or the transaction deleted it, or a state error to return as is.
 * The first get of a key reads committed state and fixes its value for the
 * rest of the execution (a snapshot per key); later gets return the
 * transaction's own last write when there is one. put/del: FC_OK, FC_EINVAL
 * for an empty key or one over FC_CONTRACT_MAX_KEY bytes (get too),
 * FC_ETOOBIG for a value over FC_CONTRACT_MAX_VALUE, FC_ENOMEM. A blind
 * put/del (no get before) records no read. */
#define FC_CONTRACT_MAX_KEY 1024u
#define FC_CONTRACT_MAX_VALUE (1024u * 1024u)
int fc_ctx_get(struct fc_contract_ctx *ctx, const void *key, size_t klen, const uint8_t **val,
	       size_t *len, char *errmsg);
int fc_ctx_put(struct fc_contract_ctx *ctx, const void *key, size_t klen, const void *val,
	       size_t len, char *errmsg);
int fc_ctx_del(struct fc_contract_ctx *ctx, const void *key, size_t klen, char *errmsg);

/* The function's result (replaces an earlier one). */
int fc_ctx_set_result(struct fc_contract_ctx *ctx, const void *p, size_t len, char *errmsg);

/* ------------------------------------------------ helpers for contracts
 * Numbers travel as decimal text: an optional '-' and at least one digit,
 * nothing else (no '+', no spaces; leading zeros are allowed), within the
 * range of int64_t. Results and stored numbers are written the same way,
 * without leading zeros. */

/* Limit on one read/write set: keys of reads and writes plus the values
 * written; fc_exec_proposal fails with FC_ETOOBIG above it. */
#define FC_CONTRACT_MAX_RWSET (32u * 1024u * 1024u)

/* FC_OK when the function got exactly n arguments, else FC_EINVAL with
 * "usage: <usage string>" (fc_exec_proposal prefixes "contract.function: "). */
int fc_ctx_want_args(const struct fc_contract_ctx *ctx, size_t n, char *errmsg);

/* Parses len bytes at p as a decimal int64: FC_OK, FC_EINVAL when not
 * decimal text, FC_ERANGE when it does not fit. */
int fc_contract_parse_int(const void *p, size_t len, int64_t *out);

/* Argument i as a decimal integer in [min, max]; FC_EINVAL otherwise, with a
 * message naming the argument: "AMOUNT 'x' is not a decimal integer",
 * "K 0 is out of range 1..64". */
int fc_ctx_arg_int(const struct fc_contract_ctx *ctx, size_t i, const char *name, int64_t min,
		   int64_t max, int64_t *out, char *errmsg);

/* A value held as decimal text: get (FC_ENOTFOUND when absent, FC_EPROTO
 * when the stored value is not a decimal int64), put, and result. */
int fc_ctx_get_int(struct fc_contract_ctx *ctx, const void *key, size_t klen, int64_t *out,
		   char *errmsg);
int fc_ctx_put_int(struct fc_contract_ctx *ctx, const void *key, size_t klen, int64_t v,
		   char *errmsg);
int fc_ctx_set_result_int(struct fc_contract_ctx *ctx, int64_t v, char *errmsg);

/* Renders bytes for a message into buf (FC_CONTRACT_QUOTE_LEN bytes):
 * printable ASCII as is, other bytes as \xNN, cut with "..." when long.
 * Returns buf. */
#define FC_CONTRACT_QUOTE_LEN 80
const char *fc_contract_quote(const void *p, size_t len, char *buf);

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
