/* fc_policy.h - endorsement policies.
 *
 * Grammar (whitespace between tokens is ignored):
 *
 *   policy := expr
 *   expr   := org | op "(" expr ("," expr)* ")" | "OutOf" "(" n "," expr ("," expr)* ")"
 *   op     := "AND" | "OR"                (keywords are case-insensitive)
 *   org    := [A-Za-z_][A-Za-z0-9_.-]*     (at most FC_POLICY_MAX_NAME chars)
 *   n      := decimal integer, 1 <= n <= number of expressions that follow
 *
 * An identifier followed by "(" is an operator, otherwise an organisation
 * (so an organisation may even be called "AND"). Semantics: an organisation
 * leaf holds when that organisation produced a valid endorsement; AND holds
 * when all its children hold, OR when one does, OutOf(n, ...) when at least
 * n do. Each organisation counts once: sibling leaves must be distinct
 * (AND(Org1,Org1) is rejected) and duplicate entries in the endorsing list
 * change nothing.
 *
 * Limits: FC_POLICY_MAX_LEN characters of text, FC_POLICY_MAX_DEPTH levels
 * of nested operators, FC_POLICY_MAX_CHILDREN expressions per operator.
 * A parsed policy is immutable and may be shared between threads.
 */
#ifndef FC_POLICY_H
#define FC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#define FC_POLICY_MAX_LEN 4096
#define FC_POLICY_MAX_DEPTH 16
#define FC_POLICY_MAX_CHILDREN 256
#define FC_POLICY_MAX_NAME 64

struct fc_policy;

/* Parses str. On success *out is a new policy the caller owns (free with
 * fc_policy_free); on failure *out is NULL and the result is FC_EINVAL (bad
 * syntax or over a limit, message with the 0-based character position:
 *     policy "AND(Org1,": at 9: expected organisation name
 * ) or FC_ENOMEM. */
int fc_policy_parse(const char *str, struct fc_policy **out, char *errmsg);

/* NULL is a no-op. */
void fc_policy_free(struct fc_policy *pol);

/* Whether the organisations in orgs[0..n) (those that produced valid
 * endorsements; duplicates count once, NULL entries are ignored) satisfy
 * the policy. orgs may be NULL when n == 0. False for a NULL policy. */
bool fc_policy_satisfied(const struct fc_policy *pol, const char *const *orgs, size_t n);

/* The distinct organisations the policy names, in order of first
 * appearance: sets *orgs to an array owned by pol (valid until
 * fc_policy_free) and returns its length. orgs may be NULL. */
size_t fc_policy_orgs(const struct fc_policy *pol, const char *const **orgs);

/* The text the policy was parsed from, owned by pol. */
const char *fc_policy_text(const struct fc_policy *pol);

#endif
