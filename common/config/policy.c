/* policy.c - endorsement policy parser and evaluator (fc_policy.h).
 *
 * A small recursive-descent parser. Recursion is bounded by
 * FC_POLICY_MAX_DEPTH, so hostile input cannot exhaust the stack, and the
 * text length by FC_POLICY_MAX_LEN, so it cannot exhaust memory either.
 */
#include "fc_policy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fc_err.h"
#include "fc_mem.h"

enum pnode_type { PN_ORG, PN_AND, PN_OR, PN_OUTOF };

struct pnode {
	enum pnode_type type;
	size_t org;	  /* PN_ORG: index into fc_policy.orgs */
	size_t threshold; /* PN_OUTOF */
	struct pnode **kids;
	size_t n_kids;
};

struct fc_policy {
	char *text;
	struct pnode *root;
	char **orgs; /* distinct, in order of first appearance */
	size_t n_orgs;
};

struct parser {
	const char *s;
	size_t len;
	size_t pos;
	struct fc_policy *pol;
	char *errmsg;
};

static void pnode_free(struct pnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		pnode_free(n->kids[i]);
	fc_free(n->kids);
	fc_free(n);
}

/* Shows at most this much of the policy text in messages. */
#define SHOW_MAX 120

static int perr(struct parser *p, size_t at, const char *what, const char *arg)
{
	int show = p->len > SHOW_MAX ? SHOW_MAX : (int)p->len;
	const char *more = p->len > SHOW_MAX ? "..." : "";
	if (arg)
		return fc_errf(p->errmsg, FC_EINVAL, "policy \"%.*s%s\": at %zu: %s \"%s\"", show,
			       p->s, more, at, what, arg);
	return fc_errf(p->errmsg, FC_EINVAL, "policy \"%.*s%s\": at %zu: %s", show, p->s, more, at,
		       what);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int is_ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static int ieq(const char *a, size_t alen, const char *kw)
{
	size_t kl = strlen(kw);
	if (alen != kl)
		return 0;
	for (size_t i = 0; i < kl; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != kw[i])
			return 0;
	}
	return 1;
}

/* Index of the organisation name s[0..n) in pol->orgs, adding it if new. */
static int intern_org(struct fc_policy *pol, const char *s, size_t n, size_t *idx)
{
	for (size_t i = 0; i < pol->n_orgs; i++) {
		if (strlen(pol->orgs[i]) == n && memcmp(pol->orgs[i], s, n) == 0) {
			*idx = i;
			return FC_OK;
		}
	}
	char **grown = fc_realloc(pol->orgs, (pol->n_orgs + 1) * sizeof *grown);
	if (!grown)
		return FC_ENOMEM;
	pol->orgs = grown;
	char *name = fc_malloc(n + 1);
	if (!name)
		return FC_ENOMEM;
	memcpy(name, s, n);
	name[n] = '\0';
	pol->orgs[pol->n_orgs] = name;
	*idx = pol->n_orgs++;
	return FC_OK;
}

static int parse_expr(struct parser *p, int depth, struct pnode **out);

/* Parses "(n," of OutOf; p->pos is just past "(". */
static int parse_threshold(struct parser *p, size_t *n)
{
	skip_ws(p);
	size_t at = p->pos;
	size_t v = 0;
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		v = v * 10 + (size_t)(p->s[p->pos] - '0');
		if (v > FC_POLICY_MAX_CHILDREN)
			return perr(p, at, "OutOf threshold too large", NULL);
		p->pos++;
	}
	if (p->pos == at)
		return perr(p, at, "expected a number", NULL);
	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != ',')
		return perr(p, p->pos, "expected ','", NULL);
	p->pos++;
	*n = v;
	return FC_OK;
}

/* Parses the children of an operator; p->pos is past "(" (and "n," for
 * OutOf). Consumes the closing ")". */
static int parse_children(struct parser *p, int depth, struct pnode *node)
{
	int rc;
	for (;;) {
		skip_ws(p);
		size_t at = p->pos;
		if (node->n_kids == FC_POLICY_MAX_CHILDREN)
			return perr(p, at, "too many expressions in one operator", NULL);
		struct pnode *kid = NULL;
		rc = parse_expr(p, depth, &kid);
		if (rc != FC_OK)
			return rc;
		if (kid->type == PN_ORG) {
			for (size_t i = 0; i < node->n_kids; i++) {
				if (node->kids[i]->type == PN_ORG &&
				    node->kids[i]->org == kid->org) {
					pnode_free(kid);
					return perr(p, at, "repeated organisation",
						    p->pol->orgs[node->kids[i]->org]);
				}
			}
		}
		struct pnode **grown = fc_realloc(node->kids, (node->n_kids + 1) * sizeof *grown);
		if (!grown) {
			pnode_free(kid);
			return fc_errf(p->errmsg, FC_ENOMEM, "policy: out of memory");
		}
		node->kids = grown;
		node->kids[node->n_kids++] = kid;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ')') {
			p->pos++;
			return FC_OK;
		}
		return perr(p, p->pos, "expected ',' or ')'", NULL);
	}
}

static int parse_expr(struct parser *p, int depth, struct pnode **out)
{
	struct pnode *node = NULL;
	int rc;

	skip_ws(p);
	size_t at = p->pos;
	if (p->pos >= p->len || !is_ident_start(p->s[p->pos]))
		return perr(p, at, "expected organisation name", NULL);
	while (p->pos < p->len && is_ident_char(p->s[p->pos]))
		p->pos++;
	const char *id = p->s + at;
	size_t idlen = p->pos - at;
	skip_ws(p);

	node = fc_calloc(1, sizeof *node);
	if (!node)
		return fc_errf(p->errmsg, FC_ENOMEM, "policy: out of memory");

	if (p->pos < p->len && p->s[p->pos] == '(') {
		char kw[16];
		if (ieq(id, idlen, "and")) {
			node->type = PN_AND;
		} else if (ieq(id, idlen, "or")) {
			node->type = PN_OR;
		} else if (ieq(id, idlen, "outof")) {
			node->type = PN_OUTOF;
		} else {
			size_t n = idlen < sizeof kw - 1 ? idlen : sizeof kw - 1;
			memcpy(kw, id, n);
			kw[n] = '\0';
			rc = perr(p, at, "unknown operator", kw);
			goto fail_node;
		}
		if (depth >= FC_POLICY_MAX_DEPTH) {
			char why[64];
			snprintf(why, sizeof why, "operators nested deeper than %d",
				 FC_POLICY_MAX_DEPTH);
			rc = perr(p, at, why, NULL);
			goto fail_node;
		}
		p->pos++; /* '(' */
		size_t th_at = p->pos;
		if (node->type == PN_OUTOF) {
			skip_ws(p);
			th_at = p->pos;
			rc = parse_threshold(p, &node->threshold);
			if (rc != FC_OK)
				goto fail_node;
		}
		rc = parse_children(p, depth + 1, node);
		if (rc != FC_OK)
			goto fail_node;
		if (node->type == PN_OUTOF &&
		    (node->threshold < 1 || node->threshold > node->n_kids)) {
			char why[96];
			snprintf(why, sizeof why,
				 "OutOf threshold %zu not between 1 and %zu (the number of "
				 "expressions)",
				 node->threshold, node->n_kids);
			rc = perr(p, th_at, why, NULL);
			goto fail_node;
		}
	} else {
		if (idlen > FC_POLICY_MAX_NAME) {
			rc = perr(p, at, "organisation name longer than 64 characters", NULL);
			goto fail_node;
		}
		node->type = PN_ORG;
		rc = intern_org(p->pol, id, idlen, &node->org);
		if (rc != FC_OK) {
			rc = fc_errf(p->errmsg, rc, "policy: out of memory");
			goto fail_node;
		}
	}
	*out = node;
	return FC_OK;

fail_node:
	pnode_free(node);
	return rc;
}

void fc_policy_free(struct fc_policy *pol)
{
	if (!pol)
		return;
	pnode_free(pol->root);
	for (size_t i = 0; i < pol->n_orgs; i++)
		fc_free(pol->orgs[i]);
	fc_free(pol->orgs);
	fc_free(pol->text);
	fc_free(pol);
}

int fc_policy_parse(const char *str, struct fc_policy **out, char *errmsg)
{
	struct fc_policy *pol = NULL;
	int rc;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "policy: no output pointer");
	*out = NULL;
	if (!str)
		return fc_errf(errmsg, FC_EINVAL, "policy: missing rule");
	size_t len = strnlen(str, FC_POLICY_MAX_LEN + 1);
	if (len > FC_POLICY_MAX_LEN)
		return fc_errf(errmsg, FC_EINVAL,
			       "policy \"%.*s...\": at %d: longer than %d characters", SHOW_MAX,
			       str, FC_POLICY_MAX_LEN, FC_POLICY_MAX_LEN);

	pol = fc_calloc(1, sizeof *pol);
	if (!pol) {
		rc = fc_errf(errmsg, FC_ENOMEM, "policy: out of memory");
		goto fail;
	}
	pol->text = fc_strdup(str);
	if (!pol->text) {
		rc = fc_errf(errmsg, FC_ENOMEM, "policy: out of memory");
		goto fail;
	}
	struct parser p = {.s = str, .len = len, .pos = 0, .pol = pol, .errmsg = errmsg};
	rc = parse_expr(&p, 0, &pol->root);
	if (rc != FC_OK)
		goto fail;
	skip_ws(&p);
	if (p.pos < p.len) {
		rc = perr(&p, p.pos, "unexpected text after the policy", NULL);
		goto fail;
	}
	*out = pol;
	return FC_OK;

fail:
	fc_policy_free(pol);
	return rc;
}

static bool org_present(const char *name, const char *const *orgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (orgs[i] && strcmp(orgs[i], name) == 0)
			return true;
	return false;
}

static bool eval(const struct fc_policy *pol, const struct pnode *node, const char *const *orgs,
		 size_t n)
{
	size_t yes = 0;

	switch (node->type) {
	case PN_ORG:
		return org_present(pol->orgs[node->org], orgs, n);
	case PN_AND:
		for (size_t i = 0; i < node->n_kids; i++)
			if (!eval(pol, node->kids[i], orgs, n))
				return false;
		return true;
	case PN_OR:
		for (size_t i = 0; i < node->n_kids; i++)
			if (eval(pol, node->kids[i], orgs, n))
				return true;
		return false;
	case PN_OUTOF:
		for (size_t i = 0; i < node->n_kids && yes < node->threshold; i++)
			if (eval(pol, node->kids[i], orgs, n))
				yes++;
		return yes >= node->threshold;
	}
	return false;
}

bool fc_policy_satisfied(const struct fc_policy *pol, const char *const *orgs, size_t n)
{
	if (!pol || !pol->root)
		return false;
	if (!orgs)
		n = 0;
	return eval(pol, pol->root, orgs, n);
}

size_t fc_policy_orgs(const struct fc_policy *pol, const char *const **orgs)
{
	if (!pol) {
		if (orgs)
			*orgs = NULL;
		return 0;
	}
	if (orgs)
		*orgs = (const char *const *)pol->orgs;
	return pol->n_orgs;
}

const char *fc_policy_text(const struct fc_policy *pol)
{
	return pol ? pol->text : NULL;
}
