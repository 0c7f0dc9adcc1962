#include "fc_mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_ulong fail_at; /* absolute allocation number to fail, 0 = none */

static int should_fail(void)
{
	unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
	unsigned long f = atomic_load(&fail_at);
	if (f && n == f) {
		atomic_store(&fail_at, 0);
		return 1;
	}
	return 0;
}

void fc_mem_fail_nth(unsigned long n)
{
	atomic_store(&fail_at, n ? atomic_load(&alloc_count) + n : 0);
}

unsigned long fc_mem_count(void)
{
	return atomic_load(&alloc_count);
}

void *fc_malloc(size_t n)
{
	return should_fail() ? NULL : malloc(n ? n : 1);
}

void *fc_calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *fc_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void *fc_memdup(const void *p, size_t n)
{
	void *q = fc_malloc(n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

char *fc_strdup(const char *s)
{
	return fc_memdup(s, strlen(s) + 1);
}

void fc_free(void *p)
{
	free(p);
}
