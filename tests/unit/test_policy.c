/* Unit tests of the endorsement policy language (fc_policy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"

struct eval_case {
	const char *rule;
	const char *orgs; /* comma-separated endorsing organisations */
	bool want;
};

static const struct eval_case eval_cases[] = {
    {"Org1", "Org1", true},
    {"Org1", "Org2", false},
    {"Org1", "", false},
    {"AND(Org1,Org2)", "Org1,Org2", true},
    {"AND(Org1,Org2)", "Org2,Org1", true},
    {"AND(Org1,Org2)", "Org1", false},
    {"AND(Org1,Org2)", "Org1,Org1", false}, /* duplicates count once */
    {"AND(Org1,Org2)", "Org1,Org3,Org2", true},
    {"OR(Org1,Org2)", "Org2", true},
    {"OR(Org1,Org2)", "Org3", false},
    {"OR(Org1,Org2)", "", false},
    {"OutOf(2,Org1,Org2,Org3)", "Org1,Org3", true},
    {"OutOf(2,Org1,Org2,Org3)", "Org3", false},
    {"OutOf(2,Org1,Org2,Org3)", "Org3,Org3,Org3", false},
    {"OutOf(3,Org1,Org2,Org3)", "Org1,Org2,Org3", true},
    {"OutOf(1,Org1)", "Org1", true},
    {"OR(AND(Org1,Org2),AND(Org3,Org4))", "Org3,Org4", true},
    {"OR(AND(Org1,Org2),AND(Org3,Org4))", "Org1,Org4", false},
    {"AND(Org1,OR(Org2,Org3))", "Org1,Org3", true},
    {"AND(Org1,OR(Org2,Org3))", "Org2,Org3", false},
    {"OutOf(2, Org1, AND(Org2,Org3), OR(Org4,Org5))", "Org2,Org3,Org5", true},
    {"OutOf(2, Org1, AND(Org2,Org3), OR(Org4,Org5))", "Org2,Org5", false},
    {"  and ( Org1 ,\n\tor(Org2, Org3) )  ", "Org1,Org2", true},
    {"outof(1, Org1.MSP, org-2_x)", "org-2_x", true},
    {"AND(org1)", "Org1", false}, /* names are case-sensitive */
    {"AND", "AND", true},	  /* without "(" it is an organisation */
    {"AND(AND, OR)", "AND,OR", true},
};

static size_t split(const char *list, char *buf, size_t cap, const char **out, size_t max)
{
	size_t n = 0;
	snprintf(buf, cap, "%s", list);
	if (!buf[0])
		return 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max;
	     t = strtok_r(NULL, ",", &save))
		out[n++] = t;
	return n;
}

static void test_evaluate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof eval_cases / sizeof eval_cases[0]; i++) {
		const struct eval_case *c = &eval_cases[i];
		struct fc_policy *pol = NULL;
		char err[FC_ERRMSG_LEN] = "", buf[256];
		const char *orgs[16];
		if (fc_policy_parse(c->rule, &pol, err) != FC_OK)
			fail_msg("case %zu \"%s\": %s", i, c->rule, err);
		size_t n = split(c->orgs, buf, sizeof buf, orgs, 16);
		if (fc_policy_satisfied(pol, orgs, n) != c->want)
			fail_msg("case %zu: \"%s\" with [%s]: want %d", i, c->rule, c->orgs,
				 c->want);
		assert_string_equal(fc_policy_text(pol), c->rule);
		fc_policy_free(pol);
	}
}

static void test_orgs_listed_once_in_order(void **state)
{
	(void)state;
	struct fc_policy *pol = NULL;
	const char *const *orgs = NULL;
	assert_int_equal(
	    fc_policy_parse("OR(AND(Org2,Org1),OutOf(2,Org1,Org3,AND(Org4,Org2)))", &pol, NULL),
	    FC_OK);
	size_t n = fc_policy_orgs(pol, &orgs);
	assert_int_equal(n, 4);
	assert_string_equal(orgs[0], "Org2");
	assert_string_equal(orgs[1], "Org1");
	assert_string_equal(orgs[2], "Org3");
	assert_string_equal(orgs[3], "Org4");
	assert_int_equal(fc_policy_orgs(pol, NULL), 4);
	fc_policy_free(pol);

	/* NULL-safety. */
	assert_int_equal(fc_policy_orgs(NULL, &orgs), 0);
	assert_null(orgs);
	assert_false(fc_policy_satisfied(NULL, NULL, 0));
	assert_null(fc_policy_text(NULL));
	fc_policy_free(NULL);
	assert_int_equal(fc_policy_parse("Org1", &pol, NULL), FC_OK);
	assert_false(fc_policy_satisfied(pol, NULL, 3));
	const char *const with_null[] = {NULL, "Org1"};
	assert_true(fc_policy_satisfied(pol, with_null, 2));
	fc_policy_free(pol);
	assert_int_equal(fc_policy_parse(NULL, &pol, NULL), FC_EINVAL);
	assert_null(pol);
	assert_int_equal(fc_policy_parse("Org1", NULL, NULL), FC_EINVAL);
}

struct syntax_case {
	const char *rule;
	const char *msg; /* exact message */
};

static const struct syntax_case syntax_cases[] = {
    {"AND(Org1,", "policy \"AND(Org1,\": at 9: expected organisation name"},
    {"", "policy \"\": at 0: expected organisation name"},
    {"   ", "policy \"   \": at 3: expected organisation name"},
    {"AND()", "policy \"AND()\": at 4: expected organisation name"},
    {"AND(Org1 Org2)", "policy \"AND(Org1 Org2)\": at 9: expected ',' or ')'"},
    {"AND(Org1,Org2", "policy \"AND(Org1,Org2\": at 13: expected ',' or ')'"},
    {"AND(Org1,,Org2)", "policy \"AND(Org1,,Org2)\": at 9: expected organisation name"},
    {"XOR(Org1)", "policy \"XOR(Org1)\": at 0: unknown operator \"XOR\""},
    {"OutOf(Org1,Org2)", "policy \"OutOf(Org1,Org2)\": at 6: expected a number"},
    {"OutOf(1 Org1)", "policy \"OutOf(1 Org1)\": at 8: expected ','"},
    {"OutOf( 3,Org1,Org2)", "policy \"OutOf( 3,Org1,Org2)\": at 7: OutOf threshold 3 not "
			    "between 1 and 2 (the number of expressions)"},
    {"OutOf(0,Org1)", "policy \"OutOf(0,Org1)\": at 6: OutOf threshold 0 not between 1 and 1 "
		      "(the number of expressions)"},
    {"OutOf(99999999999,Org1)", "policy \"OutOf(99999999999,Org1)\": at 6: OutOf threshold "
				"too large"},
    {"Org1)", "policy \"Org1)\": at 4: unexpected text after the policy"},
    {"Org1 Org2", "policy \"Org1 Org2\": at 5: unexpected text after the policy"},
    {"AND(Org1,Org1)", "policy \"AND(Org1,Org1)\": at 9: repeated organisation \"Org1\""},
    {"1Org", "policy \"1Org\": at 0: expected organisation name"},
    {"OR(Org1,$)", "policy \"OR(Org1,$)\": at 8: expected organisation name"},
};

static void test_syntax_errors_give_position(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof syntax_cases / sizeof syntax_cases[0]; i++) {
		struct fc_policy *pol = (struct fc_policy *)&state; /* must be reset */
		char err[FC_ERRMSG_LEN] = "";
		int rc = fc_policy_parse(syntax_cases[i].rule, &pol, err);
		if (rc != FC_EINVAL || strcmp(err, syntax_cases[i].msg) != 0)
			fail_msg("case %zu: rc=%d \"%s\", want \"%s\"", i, rc, err,
				 syntax_cases[i].msg);
		assert_null(pol);
	}
	/* Name length bound. */
	char name[FC_POLICY_MAX_NAME + 2];
	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	struct fc_policy *pol = NULL;
	char err[FC_ERRMSG_LEN] = "";
	assert_int_equal(fc_policy_parse(name, &pol, err), FC_EINVAL);
	assert_non_null(strstr(err, "at 0: organisation name longer than 64"));
	name[FC_POLICY_MAX_NAME] = '\0';
	assert_int_equal(fc_policy_parse(name, &pol, err), FC_OK);
	fc_policy_free(pol);
}

static void test_limits(void **state)
{
	(void)state;
	static char buf[FC_POLICY_MAX_LEN + 64];
	struct fc_policy *pol = NULL;
	char err[FC_ERRMSG_LEN] = "";

	/* FC_POLICY_MAX_DEPTH nested operators parse... */
	size_t o = 0;
	for (int i = 0; i < FC_POLICY_MAX_DEPTH; i++)
		o += (size_t)sprintf(buf + o, "AND(");
	o += (size_t)sprintf(buf + o, "Org1");
	for (int i = 0; i < FC_POLICY_MAX_DEPTH; i++)
		buf[o++] = ')';
	buf[o] = '\0';
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_OK);
	const char *const org1[] = {"Org1"};
	assert_true(fc_policy_satisfied(pol, org1, 1));
	fc_policy_free(pol);

	/* ...one more does not, and the position is the innermost operator. */
	o = 0;
	for (int i = 0; i < FC_POLICY_MAX_DEPTH + 1; i++)
		o += (size_t)sprintf(buf + o, "OR(");
	o += (size_t)sprintf(buf + o, "Org1");
	for (int i = 0; i < FC_POLICY_MAX_DEPTH + 1; i++)
		buf[o++] = ')';
	buf[o] = '\0';
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_EINVAL);
	assert_null(pol);
	char want[64];
	snprintf(want, sizeof want, "at %d: operators nested deeper than %d",
		 3 * FC_POLICY_MAX_DEPTH, FC_POLICY_MAX_DEPTH);
	assert_non_null(strstr(err, want));

	/* Very deep nesting (stack exhaustion attempt) fails cleanly. */
	o = 0;
	while (o + 3 < FC_POLICY_MAX_LEN)
		o += (size_t)sprintf(buf + o, "OR(");
	buf[o] = '\0';
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_EINVAL);

	/* Length bound. */
	memset(buf, ' ', FC_POLICY_MAX_LEN + 1);
	memcpy(buf, "Org1", 4);
	buf[FC_POLICY_MAX_LEN + 1] = '\0';
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_EINVAL);
	assert_non_null(strstr(err, "longer than 4096 characters"));
	buf[FC_POLICY_MAX_LEN] = '\0';
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_OK);
	fc_policy_free(pol);

	/* Children bound. */
	o = (size_t)sprintf(buf, "OR(");
	for (int i = 0; i <= FC_POLICY_MAX_CHILDREN; i++)
		o += (size_t)sprintf(buf + o, "%sO%d", i ? "," : "", i);
	sprintf(buf + o, ")");
	assert_true(strlen(buf) <= FC_POLICY_MAX_LEN);
	assert_int_equal(fc_policy_parse(buf, &pol, err), FC_EINVAL);
	assert_non_null(strstr(err, "too many expressions in one operator"));
}

static void test_fail_nth_allocation(void **state)
{
	(void)state;
	const char *rule = "OR(AND(Org1,Org2),OutOf(2,Org1,Org3,AND(Org4,Org2)),Org5)";
	struct fc_policy *pol = NULL;
	char err[FC_ERRMSG_LEN];
	int rc = FC_ENOMEM;
	unsigned long nth;
	for (nth = 1; nth < 1000; nth++) {
		err[0] = '\0';
		fc_mem_fail_nth(nth);
		rc = fc_policy_parse(rule, &pol, err);
		fc_mem_fail_nth(0);
		if (rc == FC_OK)
			break;
		assert_int_equal(rc, FC_ENOMEM);
		assert_null(pol);
	}
	assert_int_equal(rc, FC_OK);
	assert_true(nth > 5);
	assert_int_equal(fc_policy_orgs(pol, NULL), 5);
	fc_policy_free(pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_evaluate_table),
	    cmocka_unit_test(test_orgs_listed_once_in_order),
	    cmocka_unit_test(test_syntax_errors_give_position),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_fail_nth_allocation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
