/* fc_time.h - the monotonic clock in milliseconds, for deadlines and
 * timeouts (header only; any thread). Wall-clock times (timestamps that
 * leave the process) use CLOCK_REALTIME where they are made. */
#ifndef FC_TIME_H
#define FC_TIME_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline uint64_t fc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
