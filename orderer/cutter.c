/* cutter.c - block cutting policy: count, bytes, timeout. */
#include <time.h>

#include "orderer_int.h"

void fc_ord_cutter_init(struct fc_ord_cutter *c, uint32_t max_txs, uint64_t max_bytes,
			uint32_t timeout_ms)
{
	c->max_txs = max_txs ? max_txs : 1;
	c->max_bytes = max_bytes ? max_bytes : 1;
	c->timeout_ms = timeout_ms;
	fc_ord_cutter_reset(c);
}

enum fc_ord_cut fc_ord_cutter_offer(const struct fc_ord_cutter *c, uint64_t size)
{
	/* A batch never exceeds max_bytes: an envelope that would overflow a
	 * non-empty batch starts the next one. */
	if (c->n > 0 && c->bytes + size > c->max_bytes)
		return FC_ORD_CUT_BEFORE;
	if (c->n + 1 >= c->max_txs || c->bytes + size >= c->max_bytes)
		return FC_ORD_CUT_AFTER;
	return FC_ORD_CUT_NONE;
}

void fc_ord_cutter_add(struct fc_ord_cutter *c, uint64_t size, uint64_t now_ms)
{
	if (c->n == 0)
		c->first_ms = now_ms;
	c->n++;
	c->bytes += size;
}

int fc_ord_cutter_expired(const struct fc_ord_cutter *c, uint64_t now_ms)
{
	return c->n > 0 && now_ms >= c->first_ms + c->timeout_ms;
}

void fc_ord_cutter_reset(struct fc_ord_cutter *c)
{
	c->n = 0;
	c->bytes = 0;
	c->first_ms = 0;
}

uint64_t fc_ord_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
