/* ledger_codec.h - fixed-width big-endian encodings of the ledger's keys and
 * values (layouts documented in fc_ledger.h). Internal to storage-pool/. */
#ifndef FC_LEDGER_CODEC_H
#define FC_LEDGER_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* txindex value: u64 height, u32 index, u8 status */
#define LC_TXINDEX_LEN 13

static inline void lc_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t lc_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void lc_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t lc_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void lc_put_txindex(uint8_t *p, uint64_t height, uint32_t idx, uint8_t status)
{
	lc_put_u64(p, height);
	lc_put_u32(p + 8, idx);
	p[12] = status;
}

static inline void lc_get_txindex(const uint8_t *p, uint64_t *height, uint32_t *idx, int *status)
{
	*height = lc_get_u64(p);
	*idx = lc_get_u32(p + 8);
	*status = p[12];
}

#endif
