/* state_mem_none.c - stands in for state_mem.c in builds without the memory
 * pool client: no memory source, so the storage pool serves state. */
#include <stddef.h>

#include "state.h"

const struct cd_state_ops *cd_state_mem_ops(void)
{
	return NULL;
}
