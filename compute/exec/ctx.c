/* The contract context: arguments, state access with read-your-writes, and
 * the read/write set it turns into (see ctx.h for the layout). */
#include "ctx.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

void exec_ctx_init(struct fc_contract_ctx *ctx, const struct fc_state_reader *r,
		   const char *contract, const struct fc_contract_func *func,
		   const ProtobufCBinaryData *args, size_t nargs)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->reader = r;
	ctx->contract = contract;
	ctx->func = func;
	ctx->args = args;
	ctx->nargs = nargs;
}

void exec_ctx_destroy(struct fc_contract_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_ents; i++) {
		fc_free(ctx->ents[i].key);
		fc_free(ctx->ents[i].rval);
		fc_free(ctx->ents[i].wval);
	}
	for (size_t i = 0; i < ctx->n_parked; i++)
		fc_free(ctx->parked[i]);
	fc_free(ctx->ents);
	fc_free(ctx->slots);
	fc_free(ctx->parked);
	fc_free(ctx->result);
	memset(ctx, 0, sizeof *ctx);
}

/* ------------------------------------------------------------- arguments */

size_t fc_ctx_nargs(const struct fc_contract_ctx *ctx)
{
	return ctx->nargs;
}

int fc_ctx_arg(const struct fc_contract_ctx *ctx, size_t i, const uint8_t **p, size_t *len)
{
	if (i >= ctx->nargs)
		return FC_EINVAL;
	*p = ctx->args[i].data;
	*len = ctx->args[i].len;
	return FC_OK;
}

int fc_ctx_want_args(const struct fc_contract_ctx *ctx, size_t n, char *errmsg)
{
	if (ctx->nargs != n)
		return fc_errf(errmsg, FC_EINVAL, "usage: %s", ctx->func->usage);
	return FC_OK;
}

const char *fc_contract_quote(const void *p, size_t len, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		/* room for one escaped byte, "..." and the NUL */
		if (o + 4 + 3 + 1 > FC_CONTRACT_QUOTE_LEN) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\') {
			buf[o++] = (char)b[i];
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[b[i] >> 4];
			buf[o++] = hex[b[i] & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}

int fc_contract_parse_int(const void *p, size_t len, int64_t *out)
{
	const uint8_t *s = p;
	size_t i = 0, digits = 0;
	bool neg = false;
	uint64_t v = 0;

	if (len > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len)
		return FC_EINVAL;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return FC_EINVAL;
		if (v == 0 && s[i] == '0')
			continue; /* a leading zero */
		if (++digits > 19)
			return FC_ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64 */
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return FC_ERANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return FC_ERANGE;
		*out = (int64_t)v;
	}
	return FC_OK;
}

int fc_ctx_arg_int(const struct fc_contract_ctx *ctx, size_t i, const char *name, int64_t min,
		   int64_t max, int64_t *out, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *p;
	size_t len;
	int64_t v;

	if (fc_ctx_arg(ctx, i, &p, &len) != FC_OK)
		return fc_errf(errmsg, FC_EINVAL, "usage: %s", ctx->func->usage);
	int rc = fc_contract_parse_int(p, len, &v);
	if (rc == FC_ERANGE)
		return fc_errf(errmsg, FC_EINVAL, "%s '%s' is out of range %" PRId64 "..%" PRId64,
			       name, fc_contract_quote(p, len, q), min, max);
	if (rc != FC_OK)
		return fc_errf(errmsg, FC_EINVAL, "%s '%s' is not a decimal integer", name,
			       fc_contract_quote(p, len, q));
	if (v < min || v > max)
		return fc_errf(errmsg, FC_EINVAL,
			       "%s %" PRId64 " is out of range %" PRId64 "..%" PRId64, name, v, min,
			       max);
	*out = v;
	return FC_OK;
}

/* ----------------------------------------------------------- entry table */

static uint64_t hash_key(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a final mix */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static struct exec_ent *lookup(struct fc_contract_ctx *ctx, const uint8_t *key, size_t klen,
			       uint64_t h)
{
	if (!ctx->n_slots)
		return NULL;
	size_t mask = ctx->n_slots - 1;
	for (size_t s = h & mask;; s = (s + 1) & mask) {
		uint32_t v = ctx->slots[s];
		if (!v)
			return NULL;
		struct exec_ent *e = &ctx->ents[v - 1];
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	}
}

static void slot_insert(uint32_t *slots, size_t n_slots, uint64_t h, uint32_t idx1)
{
	size_t mask = n_slots - 1;
	size_t s = h & mask;
	while (slots[s])
		s = (s + 1) & mask;
	slots[s] = idx1;
}

/* Finds or adds the entry of key; NULL only on allocation failure. */
static struct exec_ent *touch(struct fc_contract_ctx *ctx, const uint8_t *key, size_t klen,
			      uint64_t h)
{
	struct exec_ent *e = lookup(ctx, key, klen, h);
	if (e)
		return e;
	if (ctx->n_ents >= UINT32_MAX - 1)
		return NULL;
	if (ctx->n_ents == ctx->cap_ents) {
		size_t cap = ctx->cap_ents ? ctx->cap_ents * 2 : 16;
		struct exec_ent *ne = fc_realloc(ctx->ents, cap * sizeof *ne);
		if (!ne)
			return NULL;
		ctx->ents = ne;
		ctx->cap_ents = cap;
	}
	if ((ctx->n_ents + 1) * 2 >= ctx->n_slots) {
		size_t ns = ctx->n_slots ? ctx->n_slots * 2 : 64;
		uint32_t *sl = fc_calloc(ns, sizeof *sl);
		if (!sl)
			return NULL;
		for (size_t i = 0; i < ctx->n_ents; i++)
			slot_insert(sl, ns, ctx->ents[i].hash, (uint32_t)(i + 1));
		fc_free(ctx->slots);
		ctx->slots = sl;
		ctx->n_slots = ns;
	}
	uint8_t *k = fc_memdup(key, klen);
	if (!k)
		return NULL;
	e = &ctx->ents[ctx->n_ents];
	memset(e, 0, sizeof *e);
	e->key = k;
	e->klen = klen;
	e->hash = h;
	slot_insert(ctx->slots, ctx->n_slots, h, (uint32_t)(ctx->n_ents + 1));
	ctx->n_ents++;
	return e;
}

static int check_key(const struct fc_contract_ctx *ctx, const void *key, size_t klen,
		     const char *op, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	if (!key || klen == 0)
		return fc_errf(errmsg, FC_EINVAL, "%s: empty key", op);
	if (klen > FC_CONTRACT_MAX_KEY)
		return fc_errf(errmsg, FC_EINVAL, "%s '%s': key of %zu bytes over the limit of %u",
			       op, fc_contract_quote(key, klen, q), klen, FC_CONTRACT_MAX_KEY);
	return FC_OK;
}

/* --------------------------------------------------------------- state */

int fc_ctx_get(struct fc_contract_ctx *ctx, const void *key, size_t klen, const uint8_t **val,
	       size_t *len, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	int rc = check_key(ctx, key, klen, "get", errmsg);
	if (rc)
		return rc;
	uint64_t h = hash_key(key, klen);
	struct exec_ent *e = lookup(ctx, key, klen, h);

	if (e && e->has_write) {
		if (e->wdel)
			return fc_errf(errmsg, FC_ENOTFOUND, "key '%s' not found",
				       fc_contract_quote(key, klen, q));
		*val = e->wval;
		*len = e->wlen;
		return FC_OK;
	}
	if (!e || !e->has_read) {
		uint8_t *v = NULL;
		size_t vlen = 0;
		uint64_t ver = 0;
		char rmsg[FC_ERRMSG_LEN] = "";

		rc = ctx->reader->get(ctx->reader->ud, key, klen, &v, &vlen, &ver, rmsg);
		if (rc == FC_OK && (ver == 0 || (vlen && !v))) {
			fc_free(v);
			return fc_errf(errmsg, FC_EINTERNAL,
				       "state get '%s': reader returned version 0 or no value",
				       fc_contract_quote(key, klen, q));
		}
		if (rc != FC_OK && rc != FC_ENOTFOUND) {
			fc_free(v);
			if (!rmsg[0])
				return fc_errf(errmsg, rc, "state get '%s': %s",
					       fc_contract_quote(key, klen, q), fc_strerror(rc));
			return fc_errf(errmsg, rc, "state get '%s': %s",
				       fc_contract_quote(key, klen, q), rmsg);
		}
		if (rc == FC_ENOTFOUND) {
			fc_free(v);
			v = NULL;
			vlen = 0;
			ver = 0;
		}
		e = touch(ctx, key, klen, h);
		if (!e) {
			fc_free(v);
			return fc_errf(errmsg, FC_ENOMEM, "get '%s': out of memory",
				       fc_contract_quote(key, klen, q));
		}
		e->has_read = true;
		e->rver = ver;
		e->rval = v;
		e->rlen = vlen;
	}
	if (e->rver == 0)
		return fc_errf(errmsg, FC_ENOTFOUND, "key '%s' not found",
			       fc_contract_quote(key, klen, q));
	*val = e->rval;
	*len = e->rlen;
	return FC_OK;
}

/* Records a write (val NULL and del true for a delete). The value replaced,
 * if any, is parked: the function may still hold it from a get. */
static int write_ent(struct fc_contract_ctx *ctx, const void *key, size_t klen, const void *val,
		     size_t len, bool del, char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	uint8_t *copy = NULL;
	int rc = check_key(ctx, key, klen, del ? "del" : "put", errmsg);
	if (rc)
		return rc;
	if (!del && len > FC_CONTRACT_MAX_VALUE)
		return fc_errf(errmsg, FC_ETOOBIG,
			       "put '%s': value of %zu bytes over the limit of %u",
			       fc_contract_quote(key, klen, q), len, FC_CONTRACT_MAX_VALUE);
	if (!del && len > 0 && !val)
		return fc_errf(errmsg, FC_EINVAL, "put '%s': no value",
			       fc_contract_quote(key, klen, q));
	if (!del && len > 0) {
		copy = fc_memdup(val, len);
		if (!copy)
			goto nomem;
	}
	if (ctx->n_parked == ctx->cap_parked) {
		size_t cap = ctx->cap_parked ? ctx->cap_parked * 2 : 8;
		void **np = fc_realloc(ctx->parked, cap * sizeof *np);
		if (!np)
			goto nomem;
		ctx->parked = np;
		ctx->cap_parked = cap;
	}
	struct exec_ent *e = touch(ctx, key, klen, hash_key(key, klen));
	if (!e)
		goto nomem;
	if (e->wval)
		ctx->parked[ctx->n_parked++] = e->wval;
	e->has_write = true;
	e->wdel = del;
	e->wval = copy;
	e->wlen = del ? 0 : len;
	return FC_OK;
nomem:
	fc_free(copy);
	return fc_errf(errmsg, FC_ENOMEM, "%s '%s': out of memory", del ? "del" : "put",
		       fc_contract_quote(key, klen, q));
}

int fc_ctx_put(struct fc_contract_ctx *ctx, const void *key, size_t klen, const void *val,
	       size_t len, char *errmsg)
{
	return write_ent(ctx, key, klen, val, len, false, errmsg);
}

int fc_ctx_del(struct fc_contract_ctx *ctx, const void *key, size_t klen, char *errmsg)
{
	return write_ent(ctx, key, klen, NULL, 0, true, errmsg);
}

int fc_ctx_set_result(struct fc_contract_ctx *ctx, const void *p, size_t len, char *errmsg)
{
	uint8_t *copy = NULL;
	if (len > 0) {
		if (!p)
			return fc_errf(errmsg, FC_EINVAL, "set result: no data");
		if (len > FC_CONTRACT_MAX_VALUE)
			return fc_errf(errmsg, FC_ETOOBIG,
				       "result of %zu bytes over the limit of %u", len,
				       FC_CONTRACT_MAX_VALUE);
		copy = fc_memdup(p, len);
		if (!copy)
			return fc_errf(errmsg, FC_ENOMEM, "set result: out of memory");
	}
	fc_free(ctx->result);
	ctx->result = copy;
	ctx->result_len = len;
	return FC_OK;
}

int fc_ctx_get_int(struct fc_contract_ctx *ctx, const void *key, size_t klen, int64_t *out,
		   char *errmsg)
{
	char q[FC_CONTRACT_QUOTE_LEN];
	const uint8_t *v;
	size_t len;
	int rc = fc_ctx_get(ctx, key, klen, &v, &len, errmsg);
	if (rc)
		return rc;
	if (fc_contract_parse_int(v, len, out) != FC_OK)
		return fc_errf(errmsg, FC_EPROTO, "value of key '%s' is not a decimal integer",
			       fc_contract_quote(key, klen, q));
	return FC_OK;
}

int fc_ctx_put_int(struct fc_contract_ctx *ctx, const void *key, size_t klen, int64_t v,
		   char *errmsg)
{
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%" PRId64, v);
	return fc_ctx_put(ctx, key, klen, buf, (size_t)n, errmsg);
}

int fc_ctx_set_result_int(struct fc_contract_ctx *ctx, int64_t v, char *errmsg)
{
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%" PRId64, v);
	return fc_ctx_set_result(ctx, buf, (size_t)n, errmsg);
}

/* ------------------------------------------------------- read/write set */

static int cmp_ent(const void *a, const void *b)
{
	const struct exec_ent *x = *(const struct exec_ent *const *)a;
	const struct exec_ent *y = *(const struct exec_ent *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static size_t align_up(size_t n)
{
	size_t a = alignof(max_align_t);
	return (n + a - 1) & ~(a - 1);
}

int exec_ctx_finish(struct fc_contract_ctx *ctx, struct fc_exec_result *out, char *errmsg)
{
	struct exec_ent **rd = NULL, **wr = NULL;
	size_t nr = 0, nw = 0, bytes = 0;
	uint8_t *blob = NULL, *resp = NULL;
	int rc = FC_OK;

	if (ctx->n_ents) {
		rd = fc_malloc(ctx->n_ents * sizeof *rd);
		wr = fc_malloc(ctx->n_ents * sizeof *wr);
		if (!rd || !wr) {
			rc = fc_errf(errmsg, FC_ENOMEM, "read/write set: out of memory");
			goto cleanup;
		}
	}
	for (size_t i = 0; i < ctx->n_ents; i++) {
		struct exec_ent *e = &ctx->ents[i];
		if (e->has_read) {
			rd[nr++] = e;
			bytes += e->klen;
		}
		if (e->has_write) {
			wr[nw++] = e;
			bytes += e->klen + e->wlen;
		}
		/* each term is bounded (1 KiB keys, 1 MiB values): stop before
		 * the sum could wrap */
		if (bytes > FC_CONTRACT_MAX_RWSET) {
			rc =
			    fc_errf(errmsg, FC_ETOOBIG, "read/write set over the limit of %u bytes",
				    FC_CONTRACT_MAX_RWSET);
			goto cleanup;
		}
	}
	if (nr > 1)
		qsort(rd, nr, sizeof *rd, cmp_ent);
	if (nw > 1)
		qsort(wr, nw, sizeof *wr, cmp_ent);

	/* one block: message, read pointers, reads, write pointers, writes,
	 * then the bytes (plus one so that empty values point inside) */
	size_t o_rp = align_up(sizeof(Flexchain__RWSet));
	size_t o_r = align_up(o_rp + nr * sizeof(Flexchain__KVRead *));
	size_t o_wp = align_up(o_r + nr * sizeof(Flexchain__KVRead));
	size_t o_w = align_up(o_wp + nw * sizeof(Flexchain__KVWrite *));
	size_t o_b = o_w + nw * sizeof(Flexchain__KVWrite);
	blob = fc_malloc(o_b + bytes + 1);
	if (!blob) {
		rc = fc_errf(errmsg, FC_ENOMEM, "read/write set: out of memory");
		goto cleanup;
	}
	if (ctx->result_len) {
		resp = fc_memdup(ctx->result, ctx->result_len);
		if (!resp) {
			rc = fc_errf(errmsg, FC_ENOMEM, "response: out of memory");
			goto cleanup;
		}
	}

	Flexchain__RWSet *rw = (Flexchain__RWSet *)blob;
	Flexchain__KVRead **rp = (Flexchain__KVRead **)(blob + o_rp);
	Flexchain__KVRead *r = (Flexchain__KVRead *)(blob + o_r);
	Flexchain__KVWrite **wp = (Flexchain__KVWrite **)(blob + o_wp);
	Flexchain__KVWrite *w = (Flexchain__KVWrite *)(blob + o_w);
	uint8_t *b = blob + o_b;

	flexchain__rwset__init(rw);
	rw->n_reads = nr;
	rw->reads = nr ? rp : NULL;
	rw->n_writes = nw;
	rw->writes = nw ? wp : NULL;
	for (size_t i = 0; i < nr; i++) {
		flexchain__kvread__init(&r[i]);
		memcpy(b, rd[i]->key, rd[i]->klen);
		r[i].key.data = b;
		r[i].key.len = rd[i]->klen;
		b += rd[i]->klen;
		r[i].version = rd[i]->rver;
		rp[i] = &r[i];
	}
	for (size_t i = 0; i < nw; i++) {
		flexchain__kvwrite__init(&w[i]);
		memcpy(b, wr[i]->key, wr[i]->klen);
		w[i].key.data = b;
		w[i].key.len = wr[i]->klen;
		b += wr[i]->klen;
		if (wr[i]->wlen)
			memcpy(b, wr[i]->wval, wr[i]->wlen);
		w[i].value.data = b;
		w[i].value.len = wr[i]->wlen;
		b += wr[i]->wlen;
		w[i].is_delete = wr[i]->wdel;
		wp[i] = &w[i];
	}
	*b = 0;

	out->rwset = rw;
	out->response = resp;
	out->response_len = ctx->result_len;
	blob = NULL;
	resp = NULL;
cleanup:
	fc_free(resp);
	fc_free(blob);
	fc_free(wr);
	fc_free(rd);
	return rc;
}
