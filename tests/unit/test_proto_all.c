/* Round trip of every message type, found by walking the protobuf-c
 * descriptors from ControlMessage (the one message every frame carries), so
 * a message added to proto/flexchain.proto is covered without editing this
 * file. Each message is filled with non-default values in every field
 * (repeated fields with two elements), encoded with fc_wire_encode, decoded
 * with fc_wire_decode and compared field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"
#include "flexchain.pb-c.h"

#define MAX_DEPTH 10

static unsigned counter = 1; /* makes every scalar differ from the default */

static size_t scalar_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static ProtobufCMessage *make_message(const ProtobufCMessageDescriptor *d, int depth);

/* Writes one non-default value of field f at p. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *p, int depth)
{
	unsigned c = counter++;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)p = -(int32_t)c; break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = c * 7919u; break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		*(int *)p = e->values[e->n_values - 1 - c % (e->n_values - 1)].value;
		break;
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)p = -(int64_t)c * 1000000007LL; break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = ((uint64_t)c << 40) | c; break;
	case PROTOBUF_C_TYPE_FLOAT: *(float *)p = (float)c + 0.5f; break;
	case PROTOBUF_C_TYPE_DOUBLE: *(double *)p = (double)c + 0.25; break;
	case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = 1; break;
	case PROTOBUF_C_TYPE_STRING: {
		char *s = malloc(32);
		snprintf(s, 32, "%s-%u", f->name, c);
		*(char **)p = s;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		b->len = 1 + c % 40;
		b->data = malloc(b->len);
		for (size_t i = 0; i < b->len; i++)
			b->data[i] = (uint8_t)(c + i * 31);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)p = make_message(f->descriptor, depth + 1);
		break;
	}
}

static int in_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* A message with every field set; of a oneof, only its first member unless
 * only_case names another. */
static ProtobufCMessage *make_message_case(const ProtobufCMessageDescriptor *d, int depth,
					   unsigned only_case)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	protobuf_c_message_init(d, m);
	if (depth > MAX_DEPTH)
		return m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m;
		if (in_oneof(f)) {
			uint32_t *qcase = (uint32_t *)(base + f->quantifier_offset);
			if (*qcase != 0)
				continue; /* a member of this oneof is already set */
			if (only_case && f->id != only_case)
				continue;
			*qcase = f->id;
			fill_value(f, base + f->offset, depth);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t *n = (size_t *)(base + f->quantifier_offset);
			size_t sz = scalar_size(f->type);
			void *arr = calloc(2, sz);
			for (size_t k = 0; k < 2; k++)
				fill_value(f, (char *)arr + k * sz, depth);
			*n = 2;
			*(void **)(base + f->offset) = arr;
			continue;
		}
		fill_value(f, base + f->offset, depth);
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	return m;
}

static ProtobufCMessage *make_message(const ProtobufCMessageDescriptor *d, int depth)
{
	return make_message_case(d, depth, 0);
}

static void assert_equal_msgs(const ProtobufCMessage *a, const ProtobufCMessage *b,
			      unsigned *fields_seen);

static void assert_equal_value(const ProtobufCFieldDescriptor *f, const void *pa,
			       const void *pb, unsigned *fields_seen)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		assert_string_equal(*(char *const *)pa, *(char *const *)pb);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *x = pa, *y = pb;
		assert_int_equal(x->len, y->len);
		assert_memory_equal(x->data, y->data, x->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *x = *(ProtobufCMessage *const *)pa;
		const ProtobufCMessage *y = *(ProtobufCMessage *const *)pb;
		assert_true((x == NULL) == (y == NULL));
		if (x)
			assert_equal_msgs(x, y, fields_seen);
		break;
	}
	default:
		assert_memory_equal(pa, pb, scalar_size(f->type));
	}
	(*fields_seen)++;
}

static void assert_equal_msgs(const ProtobufCMessage *a, const ProtobufCMessage *b,
			      unsigned *fields_seen)
{
	assert_ptr_equal(a->descriptor, b->descriptor);
	const ProtobufCMessageDescriptor *d = a->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *ba = (const char *)a, *bb = (const char *)b;
		if (in_oneof(f)) {
			uint32_t ca = *(const uint32_t *)(ba + f->quantifier_offset);
			uint32_t cb = *(const uint32_t *)(bb + f->quantifier_offset);
			assert_int_equal(ca, cb);
			if (ca == f->id)
				assert_equal_value(f, ba + f->offset, bb + f->offset, fields_seen);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na = *(const size_t *)(ba + f->quantifier_offset);
			size_t nb = *(const size_t *)(bb + f->quantifier_offset);
			assert_int_equal(na, nb);
			size_t sz = scalar_size(f->type);
			const char *xa = *(char *const *)(ba + f->offset);
			const char *xb = *(char *const *)(bb + f->offset);
			for (size_t k = 0; k < na; k++)
				assert_equal_value(f, xa + k * sz, xb + k * sz, fields_seen);
			continue;
		}
		assert_equal_value(f, ba + f->offset, bb + f->offset, fields_seen);
	}
}

/* Encodes, decodes and compares m; returns the number of fields compared. */
static unsigned round_trip(const ProtobufCMessage *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_wire_encode(m, &buf, &len, err), FC_OK);
	ProtobufCMessage *back = NULL;
	int rc = fc_wire_decode(m->descriptor, buf, len, len, &back, err);
	if (rc != FC_OK)
		fail_msg("decode %s: %s", m->descriptor->name, err);
	unsigned seen = 0;
	assert_equal_msgs(m, back, &seen);
	fc_wire_free(back);
	fc_free(buf);
	return seen;
}

static void collect(const ProtobufCMessageDescriptor *d, const ProtobufCMessageDescriptor **seen,
		    size_t *n, size_t cap)
{
	for (size_t i = 0; i < *n; i++)
		if (seen[i] == d)
			return;
	assert_true(*n < cap);
	seen[(*n)++] = d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			collect(d->fields[i].descriptor, seen, n, cap);
}

static void test_every_message_type_round_trips(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *all[128];
	size_t n = 0;
	collect(&flexchain__control_message__descriptor, all, &n, 128);
	/* every message of the schema is reachable from ControlMessage */
	assert_true(n >= 38); /* the 38 messages of proto/flexchain.proto today */
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *m = make_message(all[i], 0);
		unsigned seen = round_trip(m);
		unsigned plain = 0;
		for (unsigned k = 0; k < all[i]->n_fields; k++)
			plain += !in_oneof(&all[i]->fields[k]);
		assert_true(seen >= plain);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void test_every_control_body_round_trips(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *d = &flexchain__control_message__descriptor;
	unsigned bodies = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (!in_oneof(&d->fields[i]))
			continue;
		ProtobufCMessage *m = make_message_case(d, 0, d->fields[i].id);
		const Flexchain__ControlMessage *cm = (const Flexchain__ControlMessage *)m;
		assert_int_equal(cm->body_case, d->fields[i].id);
		round_trip(m);
		protobuf_c_message_free_unpacked(m, NULL);
		bodies++;
	}
	assert_true(bodies >= 23);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_message_type_round_trips),
		cmocka_unit_test(test_every_control_body_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
