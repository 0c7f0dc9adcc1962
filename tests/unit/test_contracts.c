/* Unit tests of contract execution (compute/exec) and the built-in contracts
 * (compute/contracts) over an in-memory state: the context's read-your-
 * writes and read/write set rules, sorted unique output that passes
 * fc_wire_check_envelope, each contract function's effects and errors,
 * determinism of ml, conservation of money in smallbank, and allocation
 * failure at every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_contract.h"
#include "fc_err.h"
#include "fc_exec.h"
#include "fc_mem.h"
#include "fc_wire.h"

/* ---------------------------------------------------- in-memory state */

#define MAXKV 4096

struct kv {
	uint8_t key[64];
	size_t klen;
	uint8_t *val;
	size_t vlen;
	uint64_t ver;
};

struct map {
	struct kv e[MAXKV];
	size_t n;
	uint64_t next_ver;    /* versions handed out by map_set / map_apply */
	const char *fail_key; /* get of this key fails with FC_EIO */
	unsigned gets;	      /* reader calls */
};

static struct map M;

static struct kv *map_find(struct map *m, const void *key, size_t klen)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].klen == klen && memcmp(m->e[i].key, key, klen) == 0)
			return &m->e[i];
	return NULL;
}

static void map_put(struct map *m, const void *key, size_t klen, const void *val, size_t vlen,
		    uint64_t ver)
{
	assert_true(klen <= sizeof m->e[0].key);
	struct kv *e = map_find(m, key, klen);
	if (!e) {
		assert_true(m->n < MAXKV);
		e = &m->e[m->n++];
		memcpy(e->key, key, klen);
		e->klen = klen;
	} else {
		free(e->val);
	}
	e->val = malloc(vlen ? vlen : 1);
	memcpy(e->val, val, vlen);
	e->vlen = vlen;
	e->ver = ver;
}

static void map_del(struct map *m, const void *key, size_t klen)
{
	struct kv *e = map_find(m, key, klen);
	if (!e)
		return;
	free(e->val);
	*e = m->e[--m->n];
}

static void map_set(const char *key, const char *val)
{
	map_put(&M, key, strlen(key), val, strlen(val), ++M.next_ver);
}

static void map_clear(struct map *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].val);
	memset(m, 0, sizeof *m);
	m->next_ver = 100;
}

/* Commits a write set (as V3 would), every write at a new version. */
static void map_apply(struct map *m, const Flexchain__RWSet *rw)
{
	uint64_t ver = ++m->next_ver;
	for (size_t i = 0; i < rw->n_writes; i++) {
		const Flexchain__KVWrite *w = rw->writes[i];
		if (w->is_delete)
			map_del(m, w->key.data, w->key.len);
		else
			map_put(m, w->key.data, w->key.len, w->value.data, w->value.len, ver);
	}
}

static int64_t map_int(const char *key)
{
	struct kv *e = map_find(&M, key, strlen(key));
	assert_non_null(e);
	char buf[32];
	assert_true(e->vlen < sizeof buf);
	memcpy(buf, e->val, e->vlen);
	buf[e->vlen] = 0;
	return strtoll(buf, NULL, 10);
}

static int map_get(void *ud, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		   uint64_t *version, char *errmsg)
{
	struct map *m = ud;
	m->gets++;
	if (m->fail_key && strlen(m->fail_key) == klen && memcmp(m->fail_key, key, klen) == 0)
		return fc_errf(errmsg, FC_EIO, "boom");
	struct kv *e = map_find(m, key, klen);
	if (!e)
		return FC_ENOTFOUND;
	*val = e->vlen ? fc_memdup(e->val, e->vlen) : NULL;
	if (e->vlen && !*val)
		return fc_errf(errmsg, FC_ENOMEM, "map: out of memory");
	*len = e->vlen;
	*version = e->ver;
	return FC_OK;
}

static const struct fc_state_reader R = {map_get, &M};

static int setup(void **state)
{
	(void)state;
	map_clear(&M);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	map_clear(&M);
	return 0;
}

/* ------------------------------------------------------------- helpers */

#define TXID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAXARGS 16

struct call {
	ProtobufCBinaryData args[MAXARGS];
	Flexchain__Proposal prop;
};

/* Builds a proposal from NULL-terminated string arguments. */
static void call_init(struct call *c, const char *contract, const char *fn, va_list ap)
{
	memset(c, 0, sizeof *c);
	flexchain__proposal__init(&c->prop);
	c->prop.tx_id = TXID;
	c->prop.contract = (char *)contract;
	c->prop.function = (char *)fn;
	const char *a;
	size_t n = 0;
	while ((a = va_arg(ap, const char *))) {
		assert_true(n < MAXARGS);
		c->args[n].data = (uint8_t *)a;
		c->args[n].len = strlen(a);
		n++;
	}
	c->prop.n_args = n;
	c->prop.args = n ? c->args : NULL;
}

/* Checks what every successful execution must satisfy: a structurally valid
 * rwset inside a valid envelope, which also survives encoding. */
static void check_output(const Flexchain__Proposal *p, const struct fc_exec_result *res)
{
	char err[FC_ERRMSG_LEN] = "";
	assert_non_null(res->rwset);
	assert_int_equal(fc_wire_check_rwset(res->rwset, err), FC_OK);

	Flexchain__Envelope env;
	flexchain__envelope__init(&env);
	env.type = FLEXCHAIN__TX_TYPE__TX_NORMAL;
	env.proposal = (Flexchain__Proposal *)p;
	env.rwset = res->rwset;
	env.response.data = res->response;
	env.response.len = res->response_len;
	if (fc_wire_check_envelope(&env, err) != FC_OK)
		fail_msg("envelope check: %s", err);

	uint8_t *buf;
	size_t len;
	assert_int_equal(fc_wire_encode(&res->rwset->base, &buf, &len, err), FC_OK);
	ProtobufCMessage *back;
	assert_int_equal(
	    fc_wire_decode(&flexchain__rwset__descriptor, buf, len, FC_WIRE_MAX_MSG, &back, err),
	    FC_OK);
	assert_int_equal(fc_wire_check_rwset((Flexchain__RWSet *)back, err), FC_OK);
	fc_wire_free(back);
	fc_free(buf);
}

/* Runs contract.fn(args..., NULL); on success checks the output. */
static int run(struct fc_exec_result *res, char *err, const char *contract, const char *fn, ...)
{
	struct call c;
	va_list ap;
	va_start(ap, fn);
	call_init(&c, contract, fn, ap);
	va_end(ap);
	err[0] = 0;
	int rc = fc_exec_proposal(&c.prop, &R, res, err);
	if (rc == FC_OK)
		check_output(&c.prop, res);
	else
		assert_null(res->rwset);
	return rc;
}

/* Runs and commits; the call must succeed. */
static void run_ok(const char *contract, const char *fn, ...)
{
	struct call c;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN] = "";
	va_list ap;
	va_start(ap, fn);
	call_init(&c, contract, fn, ap);
	va_end(ap);
	int rc = fc_exec_proposal(&c.prop, &R, &res, err);
	if (rc != FC_OK)
		fail_msg("%s.%s: rc %d: %s", contract, fn, rc, err);
	check_output(&c.prop, &res);
	map_apply(&M, res.rwset);
	fc_exec_result_clear(&res);
}

static bool bin_is(ProtobufCBinaryData b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || memcmp(b.data, s, b.len) == 0);
}

static bool resp_is(const struct fc_exec_result *r, const char *s)
{
	return r->response_len == strlen(s) &&
	       (r->response_len == 0 || memcmp(r->response, s, r->response_len) == 0);
}

#define assert_resp(res, s)                                                                        \
	do {                                                                                       \
		if (!resp_is(res, s))                                                              \
			fail_msg("response '%.*s', expected '%s'", (int)(res)->response_len,       \
				 (const char *)(res)->response, s);                                \
	} while (0)

#define assert_err(err, s)                                                                         \
	do {                                                                                       \
		if (strcmp(err, s) != 0)                                                           \
			fail_msg("error '%s', expected '%s'", err, s);                             \
	} while (0)

#define assert_err_has(err, s)                                                                     \
	do {                                                                                       \
		if (!strstr(err, s))                                                               \
			fail_msg("error '%s' lacks '%s'", err, s);                                 \
	} while (0)

/* --------------------------------- a scripted contract for the context
 * Function "run" takes ops: "g:KEY" get (appends the value or "-" and a
 * space to the result), "p:KEY=VAL" put, "d:KEY" delete. */

static int t_run(struct fc_contract_ctx *ctx, char *errmsg)
{
	char out[4096];
	size_t o = 0;
	for (size_t i = 0; i < fc_ctx_nargs(ctx); i++) {
		const uint8_t *a, *v;
		size_t al, vl;
		assert_int_equal(fc_ctx_arg(ctx, i, &a, &al), FC_OK);
		assert_true(al >= 2 && a[1] == ':');
		const uint8_t *k = a + 2;
		size_t kl = al - 2;
		int rc;
		switch (a[0]) {
		case 'g':
			rc = fc_ctx_get(ctx, k, kl, &v, &vl, errmsg);
			if (rc == FC_ENOTFOUND) {
				memcpy(out + o, "- ", 2);
				o += 2;
				break;
			}
			if (rc)
				return rc;
			assert_true(o + vl + 1 < sizeof out);
			if (vl)
				memcpy(out + o, v, vl);
			o += vl;
			out[o++] = ' ';
			break;
		case 'p': {
			const uint8_t *eq = memchr(k, '=', kl);
			assert_non_null(eq);
			rc = fc_ctx_put(ctx, k, (size_t)(eq - k), eq + 1, kl - (size_t)(eq - k) - 1,
					errmsg);
			if (rc)
				return rc;
			break;
		}
		case 'd':
			rc = fc_ctx_del(ctx, k, kl, errmsg);
			if (rc)
				return rc;
			break;
		default:
			return fc_errf(errmsg, FC_EINVAL, "bad op");
		}
	}
	return fc_ctx_set_result(ctx, out, o, errmsg);
}

static const struct fc_contract_func t_funcs[] = {{"run", t_run, "run OP..."}};
static const struct fc_contract T = {FC_CONTRACT_ABI, "t", t_funcs, 1};

static int trun(struct fc_exec_result *res, char *err, ...)
{
	ProtobufCBinaryData args[64];
	size_t n = 0;
	const char *a;
	va_list ap;
	va_start(ap, err);
	while ((a = va_arg(ap, const char *))) {
		assert_true(n < 64);
		args[n].data = (uint8_t *)a;
		args[n].len = strlen(a);
		n++;
	}
	va_end(ap);
	err[0] = 0;
	int rc = fc_exec_contract(&T, "run", args, n, &R, res, err);
	if (rc == FC_OK) {
		Flexchain__Proposal p;
		flexchain__proposal__init(&p);
		p.tx_id = TXID;
		check_output(&p, res);
	}
	return rc;
}

/* ------------------------------------------------------------ registry */

static void test_registry(void **state)
{
	(void)state;
	const char *names[] = {"kv", "smallbank", "asset", "ml"};
	assert_int_equal(fc_contract_count(), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct fc_contract *c = fc_contract_find(names[i]);
		assert_non_null(c);
		assert_ptr_equal(c, fc_contract_at(i));
		assert_int_equal(c->abi, FC_CONTRACT_ABI);
		for (size_t j = 0; j < c->n_funcs; j++) {
			assert_ptr_equal(fc_contract_find_func(c, c->funcs[j].name), &c->funcs[j]);
			assert_non_null(c->funcs[j].usage);
			assert_int_equal(
			    strncmp(c->funcs[j].usage, c->funcs[j].name, strlen(c->funcs[j].name)),
			    0);
		}
		assert_null(fc_contract_find_func(c, "nope"));
	}
	assert_null(fc_contract_at(4));
	assert_null(fc_contract_find("nope"));
	assert_null(fc_contract_find(NULL));
}

static void test_unknown_and_usage(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];

	assert_int_equal(run(&res, err, "nope", "read", "k", NULL), FC_ENOTFOUND);
	assert_err(err, "unknown contract 'nope'");
	assert_int_equal(run(&res, err, "kv", "scan", "k", NULL), FC_ENOTFOUND);
	assert_err(err, "contract kv has no function 'scan'");
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "1", "2", NULL), FC_EINVAL);
	assert_err(err, "smallbank.send_payment: usage: send_payment FROM TO AMOUNT");
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "1", "2", "x", NULL),
			 FC_EINVAL);
	assert_err(err, "smallbank.send_payment: AMOUNT 'x' is not a decimal integer (usage: "
			"send_payment FROM TO AMOUNT)");
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "1", "2", "-5", NULL),
			 FC_EINVAL);
	assert_err_has(err, "AMOUNT -5 is out of range 0..");
	assert_int_equal(
	    run(&res, err, "smallbank", "send_payment", "1", "2", "99999999999999999999", NULL),
	    FC_EINVAL);
	assert_err_has(err, "out of range");
	assert_int_equal(run(&res, err, "kv", "read", NULL), FC_EINVAL);
	assert_err(err, "kv.read: usage: read KEY");
	assert_int_equal(run(&res, err, "kv", "read", "", NULL), FC_EINVAL);
	assert_err_has(err, "kv.read: get: empty key (usage: read KEY)");

	/* NULL arguments */
	assert_int_equal(fc_exec_proposal(NULL, &R, &res, err), FC_EINVAL);
	assert_int_equal(fc_exec_contract(NULL, "x", NULL, 0, &R, &res, err), FC_EINVAL);
	fc_exec_result_clear(NULL);
}

static void test_parse_int(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(fc_contract_parse_int("0", 1, &v), FC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fc_contract_parse_int("-42", 3, &v), FC_OK);
	assert_int_equal(v, -42);
	assert_int_equal(fc_contract_parse_int("007", 3, &v), FC_OK);
	assert_int_equal(v, 7);
	assert_int_equal(fc_contract_parse_int("9223372036854775807", 19, &v), FC_OK);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(fc_contract_parse_int("-9223372036854775808", 20, &v), FC_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(fc_contract_parse_int("9223372036854775808", 19, &v), FC_ERANGE);
	assert_int_equal(fc_contract_parse_int("12345678901234567890", 20, &v), FC_ERANGE);
	assert_int_equal(fc_contract_parse_int("", 0, &v), FC_EINVAL);
	assert_int_equal(fc_contract_parse_int("-", 1, &v), FC_EINVAL);
	assert_int_equal(fc_contract_parse_int("+1", 2, &v), FC_EINVAL);
	assert_int_equal(fc_contract_parse_int("1 ", 2, &v), FC_EINVAL);
	assert_int_equal(fc_contract_parse_int("1x", 2, &v), FC_EINVAL);

	char q[FC_CONTRACT_QUOTE_LEN];
	assert_string_equal(fc_contract_quote("a\x01\\", 3, q), "a\\x01\\x5c");
	char big[300];
	memset(big, 'z', sizeof big);
	assert_true(strlen(fc_contract_quote(big, sizeof big, q)) < FC_CONTRACT_QUOTE_LEN);
	assert_non_null(strstr(q, "..."));
}

/* -------------------------------------------------------------- context */

static void test_read_your_writes(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];
	map_set("a", "A0"); /* version 101 */
	map_set("b", "B0"); /* version 102 */
	M.gets = 0;

	assert_int_equal(trun(&res, err, "g:a", "p:a=A1", "g:a", "g:a", "g:zz", "p:c=C1", "g:c",
			      "d:b", "g:b", "p:b=B2", "g:b", "p:a=A2", "g:a", NULL),
			 FC_OK);
	assert_resp(&res, "A0 A1 A1 - C1 - B2 A2 ");
	/* reader called for a and zz only: c and b were written before any
	 * read */
	assert_int_equal(M.gets, 2);
	Flexchain__RWSet *rw = res.rwset;
	assert_int_equal(rw->n_reads, 2);
	assert_true(bin_is(rw->reads[0]->key, "a"));
	assert_int_equal(rw->reads[0]->version, 101);
	assert_true(bin_is(rw->reads[1]->key, "zz"));
	assert_int_equal(rw->reads[1]->version, 0);
	assert_int_equal(rw->n_writes, 3);
	assert_true(bin_is(rw->writes[0]->key, "a"));
	assert_true(bin_is(rw->writes[0]->value, "A2"));
	assert_true(bin_is(rw->writes[1]->key, "b"));
	assert_true(bin_is(rw->writes[1]->value, "B2"));
	assert_false(rw->writes[1]->is_delete);
	assert_true(bin_is(rw->writes[2]->key, "c"));
	fc_exec_result_clear(&res);
	assert_null(res.rwset);

	/* put then delete: a delete wins; reading it back is not found */
	assert_int_equal(trun(&res, err, "p:a=X", "d:a", "g:a", NULL), FC_OK);
	assert_resp(&res, "- ");
	assert_int_equal(res.rwset->n_reads, 0);
	assert_int_equal(res.rwset->n_writes, 1);
	assert_true(res.rwset->writes[0]->is_delete);
	assert_int_equal(res.rwset->writes[0]->value.len, 0);
	fc_exec_result_clear(&res);

	/* an empty value is a value, not a delete */
	assert_int_equal(trun(&res, err, "p:e=", "g:e", NULL), FC_OK);
	assert_resp(&res, " ");
	assert_false(res.rwset->writes[0]->is_delete);
	assert_int_equal(res.rwset->writes[0]->value.len, 0);
	assert_non_null(res.rwset->writes[0]->value.data);
	fc_exec_result_clear(&res);
}

/* The first version seen stays, even when committed state moves on during
 * the execution: the value is cached, the reader is asked once. */
static int moving_get(void *ud, const uint8_t *key, size_t klen, uint8_t **val, size_t *len,
		      uint64_t *version, char *errmsg)
{
	unsigned *n = ud;
	(*n)++;
	char buf[16];
	int l = snprintf(buf, sizeof buf, "v%u", *n);
	*val = fc_memdup(buf, (size_t)l);
	*len = (size_t)l;
	*version = *n;
	return *val ? FC_OK : FC_ENOMEM;
}

static void test_first_version(void **state)
{
	(void)state;
	unsigned calls = 0;
	struct fc_state_reader mr = {moving_get, &calls};
	ProtobufCBinaryData args[3] = {
	    {3, (uint8_t *)"g:k"}, {3, (uint8_t *)"g:k"}, {3, (uint8_t *)"g:j"}};
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];
	assert_int_equal(fc_exec_contract(&T, "run", args, 3, &mr, &res, err), FC_OK);
	assert_resp(&res, "v1 v1 v2 ");
	assert_int_equal(calls, 2);
	assert_int_equal(res.rwset->n_reads, 2);
	assert_true(bin_is(res.rwset->reads[0]->key, "j"));
	assert_int_equal(res.rwset->reads[0]->version, 2);
	assert_true(bin_is(res.rwset->reads[1]->key, "k"));
	assert_int_equal(res.rwset->reads[1]->version, 1);
	fc_exec_result_clear(&res);
}

static void test_sorted_unique(void **state)
{
	(void)state;
	char keys[200][16];
	const char *args[64];
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];
	unsigned seed = 7;

	for (int round = 0; round < 20; round++) {
		ProtobufCBinaryData a[64];
		for (int i = 0; i < 64; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 8) % 3, k = (seed >> 12) % 10;
			/* keys that are prefixes of each other, and binary ones */
			const char *base[] = {"a",    "ab",	  "abc",  "b",	"ba",
					      "\x01", "\x01\x01", "\x7f", "zz", "a\x7f"};
			if (r == 1)
				snprintf(keys[i], sizeof keys[i], "p:%s=%u", base[k], seed % 9);
			else
				snprintf(keys[i], sizeof keys[i], "%c:%s", r ? 'd' : 'g', base[k]);
			args[i] = keys[i];
			a[i].data = (uint8_t *)args[i];
			a[i].len = strlen(args[i]);
		}
		if (round % 2)
			map_set("ab", "x");
		assert_int_equal(fc_exec_contract(&T, "run", a, 64, &R, &res, err), FC_OK);
		Flexchain__Proposal p;
		flexchain__proposal__init(&p);
		p.tx_id = TXID;
		check_output(&p, &res); /* strictly increasing keys in both */
		fc_exec_result_clear(&res);
	}
}

static void test_limits_and_reader_errors(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];
	static char big[FC_CONTRACT_MAX_KEY + 10];

	memset(big, 'k', sizeof big - 1);
	big[0] = 'g';
	big[1] = ':';
	assert_int_equal(trun(&res, err, big, NULL), FC_EINVAL);
	assert_err_has(err, "over the limit of 1024");
	assert_int_equal(run(&res, err, "kv", "update", big + 2, "v", NULL), FC_EINVAL);
	assert_err_has(err, "kv.update: put 'kkkk");

	M.fail_key = "bad";
	assert_int_equal(run(&res, err, "kv", "read", "bad", NULL), FC_EIO);
	assert_err(err, "kv.read: state get 'bad': boom");
	M.fail_key = NULL;

	/* a value just over the limit */
	char *v = malloc(FC_CONTRACT_MAX_VALUE + 2);
	memset(v, 'v', FC_CONTRACT_MAX_VALUE + 1);
	v[FC_CONTRACT_MAX_VALUE + 1] = 0;
	assert_int_equal(run(&res, err, "kv", "update", "k", v, NULL), FC_ETOOBIG);
	v[FC_CONTRACT_MAX_VALUE] = 0;
	assert_int_equal(run(&res, err, "kv", "update", "k", v, NULL), FC_OK);
	fc_exec_result_clear(&res);
	free(v);

	/* 33 values of 1 MiB: over FC_CONTRACT_MAX_RWSET in all */
	enum { NBIG = 33 };
	ProtobufCBinaryData a[NBIG];
	for (int i = 0; i < NBIG; i++) {
		size_t len = 6 + (FC_CONTRACT_MAX_VALUE - 1);
		uint8_t *b = malloc(len);
		memset(b, 'v', len);
		snprintf((char *)b, 6, "p:%02d", i);
		b[5] = '=';
		a[i].data = b;
		a[i].len = len;
	}
	assert_int_equal(fc_exec_contract(&T, "run", a, NBIG - 2, &R, &res, err), FC_OK);
	fc_exec_result_clear(&res);
	assert_int_equal(fc_exec_contract(&T, "run", a, NBIG, &R, &res, err), FC_ETOOBIG);
	assert_err(err, "t.run: read/write set over the limit of 33554432 bytes");
	assert_null(res.rwset);
	for (int i = 0; i < NBIG; i++)
		free(a[i].data);
}

/* ------------------------------------------------------------------ kv */

static void test_kv(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];

	assert_int_equal(run(&res, err, "kv", "insert", "user1", "v1", NULL), FC_OK);
	assert_int_equal(res.rwset->n_reads, 1);
	assert_int_equal(res.rwset->reads[0]->version, 0);
	assert_int_equal(res.rwset->n_writes, 1);
	assert_true(bin_is(res.rwset->writes[0]->value, "v1"));
	map_apply(&M, res.rwset);
	uint64_t ver = M.next_ver;
	fc_exec_result_clear(&res);

	assert_int_equal(run(&res, err, "kv", "insert", "user1", "v2", NULL), FC_EEXIST);
	assert_err(err, "kv.insert: key 'user1' exists");

	assert_int_equal(run(&res, err, "kv", "read", "user1", NULL), FC_OK);
	assert_resp(&res, "v1");
	assert_int_equal(res.rwset->n_reads, 1);
	assert_int_equal(res.rwset->reads[0]->version, ver);
	assert_int_equal(res.rwset->n_writes, 0);
	fc_exec_result_clear(&res);

	assert_int_equal(run(&res, err, "kv", "read", "user2", NULL), FC_ENOTFOUND);
	assert_err(err, "kv.read: key 'user2' not found");

	assert_int_equal(run(&res, err, "kv", "update", "user2", "u", NULL), FC_OK);
	assert_int_equal(res.rwset->n_reads, 0); /* blind */
	assert_int_equal(res.rwset->n_writes, 1);
	fc_exec_result_clear(&res);

	assert_int_equal(run(&res, err, "kv", "rmw", "user1", "v3", NULL), FC_OK);
	assert_resp(&res, "v1");
	assert_int_equal(res.rwset->n_reads, 1);
	assert_true(bin_is(res.rwset->writes[0]->value, "v3"));
	map_apply(&M, res.rwset);
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "kv", "rmw", "nope", "x", NULL), FC_ENOTFOUND);

	assert_int_equal(run(&res, err, "kv", "delete", "user1", NULL), FC_OK);
	assert_true(res.rwset->writes[0]->is_delete);
	map_apply(&M, res.rwset);
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "kv", "delete", "user1", NULL), FC_ENOTFOUND);
	assert_int_equal(run(&res, err, "kv", "update", "a", NULL), FC_EINVAL);
	assert_err(err, "kv.update: usage: update KEY VALUE");
}

/* ----------------------------------------------------------- smallbank */

static void test_smallbank(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];

	run_ok("smallbank", "create_account", "1", "1000", "500", NULL);
	run_ok("smallbank", "create_account", "2", "100", "0", NULL);
	assert_int_equal(map_int("checking_1"), 1000);
	assert_int_equal(map_int("savings_1"), 500);
	assert_int_equal(run(&res, err, "smallbank", "create_account", "1", "1", "1", NULL),
			 FC_EEXIST);
	assert_err(err, "smallbank.create_account: account '1' exists");
	assert_int_equal(run(&res, err, "smallbank", "create_account", "3", "-1", "1", NULL),
			 FC_EINVAL);

	assert_int_equal(run(&res, err, "smallbank", "balance", "1", NULL), FC_OK);
	assert_resp(&res, "1500");
	assert_int_equal(res.rwset->n_reads, 2);
	assert_int_equal(res.rwset->n_writes, 0);
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "smallbank", "balance", "9", NULL), FC_ENOTFOUND);
	assert_err(err, "smallbank.balance: account '9' not found");

	run_ok("smallbank", "deposit_checking", "1", "50", NULL);
	assert_int_equal(map_int("checking_1"), 1050);
	assert_int_equal(run(&res, err, "smallbank", "deposit_checking", "1", "-5", NULL),
			 FC_EINVAL);

	run_ok("smallbank", "transact_savings", "1", "-200", NULL);
	assert_int_equal(map_int("savings_1"), 300);
	assert_int_equal(run(&res, err, "smallbank", "transact_savings", "1", "-301", NULL),
			 FC_EDENIED);
	assert_err_has(err, "smallbank.transact_savings: savings balance 300");

	run_ok("smallbank", "send_payment", "1", "2", "50", NULL);
	assert_int_equal(map_int("checking_1"), 1000);
	assert_int_equal(map_int("checking_2"), 150);
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "2", "1", "151", NULL),
			 FC_EDENIED);
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "2", "7", "1", NULL),
			 FC_ENOTFOUND);
	assert_err(err, "smallbank.send_payment: account '7' not found");
	/* to oneself: read-your-writes keeps the balance */
	assert_int_equal(run(&res, err, "smallbank", "send_payment", "1", "1", "10", NULL), FC_OK);
	assert_resp(&res, "1000");
	assert_int_equal(res.rwset->n_reads, 1);
	assert_int_equal(res.rwset->n_writes, 1);
	assert_true(bin_is(res.rwset->writes[0]->value, "1000"));
	fc_exec_result_clear(&res);

	/* write_check: covered, then overdrawn with the penalty of 1 */
	run_ok("smallbank", "write_check", "2", "100", NULL); /* total 150 >= 100 */
	assert_int_equal(map_int("checking_2"), 50);
	run_ok("smallbank", "write_check", "2", "60", NULL); /* total 50 < 60 */
	assert_int_equal(map_int("checking_2"), -11);

	run_ok("smallbank", "amalgamate", "1", "2", NULL);
	assert_int_equal(map_int("checking_1"), 0);
	assert_int_equal(map_int("savings_1"), 0);
	assert_int_equal(map_int("checking_2"), 1289);
	assert_int_equal(run(&res, err, "smallbank", "amalgamate", "2", "2", NULL), FC_OK);
	assert_resp(&res, "1289");
	fc_exec_result_clear(&res);
}

static int64_t total_money(int n)
{
	int64_t t = 0;
	char k[32];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof k, "checking_%d", i);
		t += map_int(k);
		snprintf(k, sizeof k, "savings_%d", i);
		t += map_int(k);
	}
	return t;
}

static void test_smallbank_conservation(void **state)
{
	(void)state;
	enum { NACC = 12, NTX = 600 };
	char id[2][8], amt[24], c0[24], s0[24];
	int64_t expect = 0;
	unsigned seed = 12345;

	for (int i = 0; i < NACC; i++) {
		snprintf(id[0], sizeof id[0], "%d", i);
		snprintf(c0, sizeof c0, "%d", 1000 + 37 * i);
		snprintf(s0, sizeof s0, "%d", 500 + 11 * i);
		run_ok("smallbank", "create_account", id[0], c0, s0, NULL);
		expect += 1500 + 48 * i;
	}
	assert_int_equal(total_money(NACC), expect);

	int ok = 0, refused = 0;
	for (int t = 0; t < NTX; t++) {
		seed = seed * 1103515245u + 12345u;
		int op = (int)((seed >> 16) % 6);
		int a = (int)((seed >> 4) % NACC), b = (int)((seed >> 20) % NACC);
		int64_t x = (int64_t)((seed >> 8) % 700);
		snprintf(id[0], sizeof id[0], "%d", a);
		snprintf(id[1], sizeof id[1], "%d", b);
		char ck[32], sk[32];
		snprintf(ck, sizeof ck, "checking_%d", a);
		snprintf(sk, sizeof sk, "savings_%d", a);
		int64_t before_c = map_int(ck), before_s = map_int(sk);

		struct fc_exec_result res;
		char err[FC_ERRMSG_LEN];
		int rc;
		int64_t delta = 0; /* money created (+) or destroyed (-) */
		switch (op) {
		case 0:
			snprintf(amt, sizeof amt, "%" PRId64, x);
			rc = run(&res, err, "smallbank", "send_payment", id[0], id[1], amt, NULL);
			break;
		case 1:
			rc = run(&res, err, "smallbank", "amalgamate", id[0], id[1], NULL);
			break;
		case 2:
			snprintf(amt, sizeof amt, "%" PRId64, x);
			rc = run(&res, err, "smallbank", "deposit_checking", id[0], amt, NULL);
			delta = x;
			break;
		case 3:
			snprintf(amt, sizeof amt, "%" PRId64, x - 350);
			rc = run(&res, err, "smallbank", "transact_savings", id[0], amt, NULL);
			delta = x - 350;
			break;
		case 4:
			snprintf(amt, sizeof amt, "%" PRId64, x);
			rc = run(&res, err, "smallbank", "write_check", id[0], amt, NULL);
			delta = -(before_c + before_s < x ? x + 1 : x);
			break;
		default:
			rc = run(&res, err, "smallbank", "balance", id[0], NULL);
			if (rc == FC_OK) {
				char want[32];
				snprintf(want, sizeof want, "%" PRId64, before_c + before_s);
				assert_resp(&res, want);
			}
			break;
		}
		if (rc == FC_OK) {
			map_apply(&M, res.rwset);
			fc_exec_result_clear(&res);
			expect += delta;
			ok++;
		} else {
			if (rc != FC_EDENIED)
				fail_msg("tx %d: %s", t, err);
			refused++;
		}
		assert_int_equal(total_money(NACC), expect);
	}
	assert_true(ok > NTX / 2);
	assert_true(refused > 0);
}

/* --------------------------------------------------------------- asset */

static void test_asset(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];

	run_ok("asset", "create", "car1", "alice", "2500", NULL);
	assert_int_equal(run(&res, err, "asset", "create", "car1", "bob", "1", NULL), FC_EEXIST);
	assert_err(err, "asset.create: asset 'car1' exists");
	assert_int_equal(run(&res, err, "asset", "create", "car 2", "bob", "1", NULL), FC_EINVAL);
	assert_err_has(err, "asset.create: ID 'car 2' is not");
	assert_int_equal(run(&res, err, "asset", "create", "car2", "bob", "x", NULL), FC_EINVAL);

	assert_int_equal(run(&res, err, "asset", "read", "car1", NULL), FC_OK);
	assert_resp(&res, "alice 2500");
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "asset", "read", "car9", NULL), FC_ENOTFOUND);
	assert_err(err, "asset.read: asset 'car9' not found");

	assert_int_equal(run(&res, err, "asset", "transfer", "car1", "bob", "carol", NULL),
			 FC_EDENIED);
	assert_err(err, "asset.transfer: asset 'car1' is owned by 'alice', not 'bob'");
	assert_int_equal(run(&res, err, "asset", "transfer", "car9", "bob", "carol", NULL),
			 FC_ENOTFOUND);
	assert_int_equal(run(&res, err, "asset", "transfer", "car1", "alice", "bob", NULL), FC_OK);
	assert_resp(&res, "bob 2500");
	assert_int_equal(res.rwset->n_reads, 1);
	assert_int_equal(res.rwset->n_writes, 1);
	assert_true(bin_is(res.rwset->writes[0]->key, "asset_car1"));
	map_apply(&M, res.rwset);
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "asset", "transfer", "car1", "alice", "bob", NULL),
			 FC_EDENIED);

	map_set("asset_junk", "nospace");
	assert_int_equal(run(&res, err, "asset", "transfer", "junk", "a", "b", NULL), FC_EPROTO);
}

/* ------------------------------------------------------------------ ml */

static void test_ml_hand_case(void **state)
{
	(void)state;
	struct fc_exec_result res;
	char err[FC_ERRMSG_LEN];

	/* see the comment of ml.c: init (0,0),(1,0); iteration 1 gives
	 * {p0} -> (0,0) and {p1,p2,p3} -> (22/3, 20/3) = (7,6); iteration 2
	 * gives {p0,p1} -> (1/2, 0) = (0,0) and {p2,p3} -> (21/2, 10) =
	 * (10,10) */
	map_set("p0", "0,0");
	map_set("p1", "1,0");
	map_set("p2", "10,10");
	map_set("p3", "11,10");
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "4", "2", "1", NULL), FC_OK);
	assert_resp(&res, "0,0;7,6");
	fc_exec_result_clear(&res);
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "4", "2", "2", NULL), FC_OK);
	assert_resp(&res, "0,0;10,10");
	assert_int_equal(res.rwset->n_reads, 4);
	assert_int_equal(res.rwset->n_writes, 1);
	assert_true(bin_is(res.rwset->writes[0]->key, "p.centroids"));
	assert_true(bin_is(res.rwset->writes[0]->value, "0,0;10,10"));
	fc_exec_result_clear(&res);

	/* negative coordinates divide toward zero: (-1 + -2) / 2 = -1 */
	map_set("n0", "-1");
	map_set("n1", "-2");
	assert_int_equal(run(&res, err, "ml", "kmeans", "n", "2", "1", "1", NULL), FC_OK);
	assert_resp(&res, "-1");
	fc_exec_result_clear(&res);

	/* errors */
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "4", "5", "1", NULL), FC_EINVAL);
	assert_err(err, "ml.kmeans: K 5 is over NKEYS 4 (usage: kmeans PREFIX NKEYS K ITERS)");
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "4", "0", "1", NULL), FC_EINVAL);
	assert_err_has(err, "K 0 is out of range 1..64");
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "4", "2", "1001", NULL), FC_EINVAL);
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "100001", "2", "1", NULL), FC_EINVAL);
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "100000", "64", "1000", NULL),
			 FC_EINVAL);
	assert_err_has(err, "work limit");
	assert_int_equal(run(&res, err, "ml", "kmeans", "p", "5", "2", "1", NULL), FC_ENOTFOUND);
	assert_err(err, "ml.kmeans: key 'p4' not found");
	map_set("q0", "1,2");
	map_set("q1", "1,2,3");
	assert_int_equal(run(&res, err, "ml", "kmeans", "q", "2", "1", "1", NULL), FC_EPROTO);
	assert_err(err, "ml.kmeans: point 'q1' has 3 coordinates, not 2");
	map_set("q1", "1,x");
	assert_int_equal(run(&res, err, "ml", "kmeans", "q", "2", "1", "1", NULL), FC_EPROTO);
	map_set("q1", "1,2000000");
	assert_int_equal(run(&res, err, "ml", "kmeans", "q", "2", "1", "1", NULL), FC_EPROTO);
	map_set("q1", "1,");
	assert_int_equal(run(&res, err, "ml", "kmeans", "q", "2", "1", "1", NULL), FC_EPROTO);
	char wide[65 * 2 + 1] = "";
	for (int i = 0; i < 65; i++)
		strcat(wide, i ? ",1" : "1");
	map_set("w0", wide);
	assert_int_equal(run(&res, err, "ml", "kmeans", "w", "1", "1", "1", NULL), FC_EPROTO);
	assert_err(err, "ml.kmeans: point 'w0' has over 64 coordinates");
}

static void encode(const struct fc_exec_result *res, uint8_t **buf, size_t *len)
{
	char err[FC_ERRMSG_LEN];
	assert_int_equal(fc_wire_encode(&res->rwset->base, buf, len, err), FC_OK);
}

static void test_ml_determinism(void **state)
{
	(void)state;
	struct fc_exec_result r1, r2;
	char err[FC_ERRMSG_LEN];
	uint8_t *b1, *b2;
	size_t l1, l2;

	/* load_points: the same arguments write the same bytes */
	assert_int_equal(run(&r1, err, "ml", "load_points", "pt", "0", "300", "4", "42", NULL),
			 FC_OK);
	assert_int_equal(run(&r2, err, "ml", "load_points", "pt", "0", "300", "4", "42", NULL),
			 FC_OK);
	assert_resp(&r1, "300");
	assert_int_equal(r1.rwset->n_reads, 0);
	assert_int_equal(r1.rwset->n_writes, 300);
	encode(&r1, &b1, &l1);
	encode(&r2, &b2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	fc_free(b1);
	fc_free(b2);
	fc_exec_result_clear(&r2);
	/* another seed gives other points */
	assert_int_equal(run(&r2, err, "ml", "load_points", "pt", "0", "300", "4", "43", NULL),
			 FC_OK);
	ProtobufCBinaryData v1 = r1.rwset->writes[0]->value, v2 = r2.rwset->writes[0]->value;
	assert_false(v1.len == v2.len && memcmp(v1.data, v2.data, v1.len) == 0);
	fc_exec_result_clear(&r2);
	map_apply(&M, r1.rwset);
	fc_exec_result_clear(&r1);
	assert_int_equal(run(&r1, err, "ml", "load_points", "pt", "0", "1", "65", "1", NULL),
			 FC_EINVAL);

	/* two k-means runs give identical read/write sets and results */
	assert_int_equal(run(&r1, err, "ml", "kmeans", "pt", "300", "8", "10", NULL), FC_OK);
	assert_int_equal(run(&r2, err, "ml", "kmeans", "pt", "300", "8", "10", NULL), FC_OK);
	assert_int_equal(r1.rwset->n_reads, 300);
	encode(&r1, &b1, &l1);
	encode(&r2, &b2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	assert_int_equal(r1.response_len, r2.response_len);
	assert_memory_equal(r1.response, r2.response, r1.response_len);
	/* K points of DIM 4 */
	size_t semis = 0, commas = 0;
	for (size_t i = 0; i < r1.response_len; i++) {
		semis += r1.response[i] == ';';
		commas += r1.response[i] == ',';
	}
	assert_int_equal(semis, 7);
	assert_int_equal(commas, 8 * 3);
	fc_free(b1);
	fc_free(b2);
	fc_exec_result_clear(&r1);
	fc_exec_result_clear(&r2);
}

/* --------------------------------------------------- allocation failure */

static void fail_nth_loop(const char *contract, const char *fn, ...)
{
	struct call c;
	va_list ap;
	va_start(ap, fn);
	call_init(&c, contract, fn, ap);
	va_end(ap);

	unsigned long n;
	for (n = 1; n < 100000; n++) {
		struct fc_exec_result res;
		char err[FC_ERRMSG_LEN] = "";
		fc_mem_fail_nth(n);
		int rc = fc_exec_proposal(&c.prop, &R, &res, err);
		fc_mem_fail_nth(0);
		if (rc == FC_OK) {
			check_output(&c.prop, &res);
			fc_exec_result_clear(&res);
			break;
		}
		if (rc != FC_ENOMEM)
			fail_msg("%s.%s fail at %lu: rc %d: %s", contract, fn, n, rc, err);
		assert_null(res.rwset);
		assert_null(res.response);
		assert_non_null(strstr(err, contract));
	}
	assert_true(n > 1);
	assert_true(n < 100000);
}

static void test_fail_nth(void **state)
{
	(void)state;
	run_ok("smallbank", "create_account", "1", "100", "100", NULL);
	run_ok("smallbank", "create_account", "2", "100", "100", NULL);
	run_ok("asset", "create", "a1", "alice", "5", NULL);
	run_ok("ml", "load_points", "pt", "0", "40", "3", "9", NULL);
	map_set("k", "v");

	fail_nth_loop("smallbank", "send_payment", "1", "2", "5", NULL);
	fail_nth_loop("smallbank", "amalgamate", "1", "2", NULL);
	fail_nth_loop("smallbank", "write_check", "1", "500", NULL);
	fail_nth_loop("kv", "insert", "k2", "v2", NULL);
	fail_nth_loop("kv", "rmw", "k", "v2", NULL);
	fail_nth_loop("asset", "transfer", "a1", "alice", "bob", NULL);
	fail_nth_loop("ml", "load_points", "pu", "0", "40", "3", "9", NULL);
	fail_nth_loop("ml", "kmeans", "pt", "40", "3", "5", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_and_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_int, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_your_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sorted_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_and_reader_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_smallbank, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_smallbank_conservation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_asset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ml_hand_case, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ml_determinism, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_nth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
