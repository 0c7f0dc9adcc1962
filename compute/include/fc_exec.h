/* fc_exec.h - execution (X) of a proposal against current state
 * (DESIGN.md step 2): finds the contract and function, runs it with a
 * context over a state reader, and returns the read/write set and result.
 *
 * The state reader is the caller's (the memory pool client on a compute
 * server, a map in tests). Keys of the read and write sets come out sorted
 * and unique, as fc_wire_check_envelope requires.
 *
 * Threads: fc_exec_proposal may run on many threads at once when the
 * reader allows it (each call has its own context).
 */
#ifndef FC_EXEC_H
#define FC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "flexchain.pb-c.h"

struct fc_state_reader {
	/* Reads key: FC_OK with *val (fc_malloc'd, the caller fc_frees; may
	 * be NULL when *len is 0), *len and *version (!= 0); FC_ENOTFOUND
	 * when absent; another code aborts the execution. */
	int (*get)(void *ud, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg);
	void *ud;
};

/* rwset is a single fc_malloc'd block holding the message, its arrays,
 * keys and values (fc_exec_result_clear or fc_free release it; never
 * protobuf-c's free_unpacked or fc_wire_free). Reads and writes are sorted
 * by key and unique; an empty value's data still points inside the block. */
struct fc_exec_result {
	Flexchain__RWSet *rwset; /* free with fc_exec_result_clear */
	uint8_t *response;	 /* fc_malloc'd, may be NULL when len is 0 */
	size_t response_len;
};

/* Runs p->contract/p->function with p->args. On FC_OK *out is filled (the
 * caller clears it). Errors: FC_ENOTFOUND "unknown contract 'x'" or
 * "contract kv has no function 'y'", or what the function or the reader
 * returned, prefixed with "contract.function: " (for FC_EINVAL the usage
 * string follows: "smallbank.send_payment: usage: send_payment FROM TO
 * AMOUNT", or "... (usage: ...)" after another message); FC_ETOOBIG when
 * the read/write set exceeds FC_CONTRACT_MAX_RWSET; FC_EINVAL for a NULL
 * argument. *out is then empty. */
int fc_exec_proposal(const Flexchain__Proposal *p, const struct fc_state_reader *r,
		     struct fc_exec_result *out, char *errmsg);
/* Runs function `function` of contract c (which need not be registered:
 * tests, or a caller that already looked c up) with nargs arguments; args
 * are borrowed for the call. Same results and errors as fc_exec_proposal,
 * which is fc_contract_find + this. */
struct fc_contract;
int fc_exec_contract(const struct fc_contract *c, const char *function,
		     const ProtobufCBinaryData *args, size_t nargs, const struct fc_state_reader *r,
		     struct fc_exec_result *out, char *errmsg);

void fc_exec_result_clear(struct fc_exec_result *res);

#endif
