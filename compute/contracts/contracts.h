/* contracts.h - the built-in contracts (internal to fc_exec), listed by
 * exec/registry.c. Each is documented in its own file. */
#ifndef FC_CONTRACTS_H
#define FC_CONTRACTS_H

#include "fc_contract.h"

extern const struct fc_contract fc_contract_kv;	       /* contracts/kv.c */
extern const struct fc_contract fc_contract_smallbank; /* contracts/smallbank.c */
extern const struct fc_contract fc_contract_asset;     /* contracts/asset.c */
extern const struct fc_contract fc_contract_ml;	       /* contracts/ml.c */

#endif
