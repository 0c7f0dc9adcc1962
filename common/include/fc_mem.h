/* fc_mem.h - allocation with a test hook.
 *
 * All project code allocates through these so that tests can make the Nth
 * allocation fail (DESIGN.md: "An allocation hook lets tests fail the Nth
 * allocation") and prove that every error path frees what it took.
 * Semantics are those of malloc/calloc/realloc/free/strdup.
 */
#ifndef FC_MEM_H
#define FC_MEM_H

#include <stddef.h>

void *fc_malloc(size_t n);
void *fc_calloc(size_t nmemb, size_t size);
void *fc_realloc(void *p, size_t n);
char *fc_strdup(const char *s);
void *fc_memdup(const void *p, size_t n);
void fc_free(void *p);

/* Test hook: the n-th allocation from now (1 = the next one) fails, and only
 * that one. 0 disarms. Process-wide and thread-safe. */
void fc_mem_fail_nth(unsigned long n);
/* Number of allocations made through fc_* since the process started. */
unsigned long fc_mem_count(void);

#endif
