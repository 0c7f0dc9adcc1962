/* ctx.h - the execution context behind fc_contract.h (internal to fc_exec).
 *
 * One context per execution. It holds one entry per key the function
 * touched: the committed read (value and version, fetched once through the
 * state reader and cached, so later gets of the key see the same snapshot)
 * and the buffered write (value or delete, last one wins). Values handed out
 * by fc_ctx_get stay valid until exec_ctx_destroy: a value replaced by a
 * later put is parked on a list rather than freed.
 */
#ifndef FC_EXEC_CTX_H
#define FC_EXEC_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc_contract.h"
#include "fc_exec.h"

struct exec_ent {
	uint8_t *key; /* fc_malloc'd copy, klen bytes (never empty) */
	size_t klen;
	uint64_t hash;
	bool has_read; /* a read of committed state happened */
	uint64_t rver; /* version first seen; 0 = absent */
	uint8_t *rval; /* committed value (owned), NULL when absent or empty */
	size_t rlen;
	bool has_write; /* a put or del happened */
	bool wdel;	/* the last write is a delete */
	uint8_t *wval;	/* last value put (owned); NULL for a delete or empty */
	size_t wlen;
};

struct fc_contract_ctx {
	const struct fc_state_reader *reader;
	const char *contract; /* names, for messages */
	const struct fc_contract_func *func;
	const ProtobufCBinaryData *args;
	size_t nargs;

	struct exec_ent *ents; /* in order of first touch */
	size_t n_ents, cap_ents;
	uint32_t *slots; /* open addressing: 0 empty, else entry index + 1 */
	size_t n_slots;	 /* power of two, > 2 * n_ents */

	void **parked; /* replaced values still borrowed by the function */
	size_t n_parked, cap_parked;

	uint8_t *result; /* owned */
	size_t result_len;
};

void exec_ctx_init(struct fc_contract_ctx *ctx, const struct fc_state_reader *r,
		   const char *contract, const struct fc_contract_func *func,
		   const ProtobufCBinaryData *args, size_t nargs);
void exec_ctx_destroy(struct fc_contract_ctx *ctx);

/* Builds the sorted read/write set and copies the result into *out (empty
 * on entry). FC_OK, FC_ENOMEM or FC_ETOOBIG (over FC_CONTRACT_MAX_RWSET);
 * *out stays empty on error. */
int exec_ctx_finish(struct fc_contract_ctx *ctx, struct fc_exec_result *out, char *errmsg);

#endif
