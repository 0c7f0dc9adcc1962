/* The registry of built-in contracts: a static, read-only table. A new
 * contract is a file in contracts/ plus one line here. */
#include <string.h>

#include "contracts.h"
#include "fc_contract.h"

static const struct fc_contract *const registry[] = {
    &fc_contract_kv,
    &fc_contract_smallbank,
    &fc_contract_asset,
    &fc_contract_ml,
};

#define N_REGISTRY (sizeof registry / sizeof registry[0])

const struct fc_contract *fc_contract_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_REGISTRY; i++)
		if (registry[i]->abi == FC_CONTRACT_ABI && strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const struct fc_contract_func *fc_contract_find_func(const struct fc_contract *c, const char *fn)
{
	if (!c || !fn)
		return NULL;
	for (size_t i = 0; i < c->n_funcs; i++)
		if (strcmp(c->funcs[i].name, fn) == 0)
			return &c->funcs[i];
	return NULL;
}

size_t fc_contract_count(void)
{
	return N_REGISTRY;
}

const struct fc_contract *fc_contract_at(size_t i)
{
	return i < N_REGISTRY ? registry[i] : NULL;
}
