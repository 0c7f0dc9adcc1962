/* The chain-agreed configuration (see fc_chaincfg.h).
 *
 * Every snapshot is built the same way: a spec (what the configuration will
 * be, mostly borrowed pointers into the current snapshot or the config
 * transaction) is merged and checked, then copied into a new snapshot that
 * owns all of it. Genesis goes through the same checks. */
#include "fc_chaincfg.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fc_canon.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"
#include "fc_wire.h"

#define HOST_MAX 253

struct fc_chaincfg {
	atomic_uint refs;
	uint64_t seq;
	uint64_t from_height;
	uint64_t shard_version;
	const struct fc_config *base; /* genesis, borrowed */
	struct fc_config view;
	fc_cert **ca;	       /* per view.orgs entry */
	fc_crypto_castore *cs; /* one CA per org */
};

/* ---------------------------------------------------------------- spec */

struct org_spec {
	const char *name, *dir, *ca_cert, *ca_key;
	fc_cert *ca; /* own reference */
};

struct pol_spec {
	const char *name, *rule;
	struct fc_policy *pol; /* owned until moved into a snapshot */
};

struct contract_spec {
	const char *name, *policy;
};

struct node_spec {
	const char *id, *host;
	uint32_t port, data_port; /* data_port: memory nodes, 0 = unknown */
	uint32_t metrics_port;	  /* 0 = none or unknown */
};

struct spec {
	uint64_t seq, shard_version;
	struct org_spec *orgs;
	size_t n_orgs;
	struct pol_spec *pols;
	size_t n_pols;
	const char *default_policy;
	struct contract_spec *contracts;
	size_t n_contracts;
	struct node_spec *storage, *memory;
	size_t n_storage, n_memory;
	uint32_t quorum;
	fc_crypto_castore *cs; /* owned until moved */
};

static void spec_free(struct spec *s)
{
	for (size_t i = 0; s->orgs && i < s->n_orgs; i++)
		fc_crypto_cert_free(s->orgs[i].ca);
	for (size_t i = 0; s->pols && i < s->n_pols; i++)
		fc_policy_free(s->pols[i].pol);
	fc_free(s->orgs);
	fc_free(s->pols);
	fc_free(s->contracts);
	fc_free(s->storage);
	fc_free(s->memory);
	fc_crypto_castore_destroy(s->cs);
	memset(s, 0, sizeof *s);
}

static int name_ok(const char *s, int org)
{
	size_t n;

	if (!s || !s[0])
		return 0;
	n = strlen(s);
	if (n > FC_CONFIG_NAME_MAX)
		return 0;
	if (org && !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int host_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Checks one node list (what = "storage_replicas" or
 * "shard_map.memory_nodes"). */
static int check_nodes(uint64_t seq, const char *what, const struct node_spec *n, size_t cnt,
		       char *errmsg)
{
	for (size_t i = 0; i < cnt; i++) {
		if (!name_ok(n[i].id, 0))
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: %s[%zu]: bad node id \"%s\"",
				       (unsigned long long)seq, what, i, n[i].id ? n[i].id : "");
		if (!host_ok(n[i].host))
			return fc_errf(
			    errmsg, FC_ECONFIG, "config seq %llu: %s[%zu] %s: bad host \"%s\"",
			    (unsigned long long)seq, what, i, n[i].id, n[i].host ? n[i].host : "");
		if (n[i].port == 0 || n[i].port > 65535)
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: %s[%zu] %s: %u is not a port (1-65535)",
				       (unsigned long long)seq, what, i, n[i].id,
				       (unsigned)n[i].port);
		if (n[i].data_port > 65535 || n[i].metrics_port > 65535)
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: %s[%zu] %s: %u is not a port (0-65535)",
				       (unsigned long long)seq, what, i, n[i].id,
				       (unsigned)(n[i].data_port > 65535 ? n[i].data_port
									 : n[i].metrics_port));
		for (size_t j = 0; j < i; j++)
			if (strcmp(n[j].id, n[i].id) == 0)
				return fc_errf(errmsg, FC_ECONFIG,
					       "config seq %llu: %s[%zu]: duplicate node id %s",
					       (unsigned long long)seq, what, i, n[i].id);
	}
	return FC_OK;
}

/* Checks the merged spec and builds its castore and parsed policies. */
static int spec_check(struct spec *s, char *errmsg)
{
	unsigned long long seq = (unsigned long long)s->seq;
	char err[FC_ERRMSG_LEN] = "";
	int rc;

	if (s->n_orgs == 0)
		return fc_errf(errmsg, FC_ECONFIG, "config seq %llu: no organisations", seq);
	rc = fc_crypto_castore_create(0, &s->cs, err);
	if (rc != FC_OK)
		return fc_errf(errmsg, rc, "config seq %llu: castore: %s", seq, err);
	for (size_t i = 0; i < s->n_orgs; i++) {
		const struct org_spec *o = &s->orgs[i];
		if (!name_ok(o->name, 1))
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: orgs[%zu]: bad name \"%s\"", seq, i,
				       o->name ? o->name : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->orgs[j].name, o->name) == 0)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: orgs[%zu]: duplicate organisation %s", seq, i,
				    o->name);
		rc = fc_crypto_castore_add(s->cs, o->name, o->ca, err);
		if (rc == FC_ENOMEM)
			return fc_errf(errmsg, rc, "config seq %llu: out of memory", seq);
		if (rc != FC_OK)
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: orgs[%zu] %s: CA certificate: %s", seq, i,
				       o->name,
				       rc == FC_EEXIST ? "same CA as another organisation" : err);
	}
	if (s->n_pols == 0)
		return fc_errf(errmsg, FC_ECONFIG, "config seq %llu: no policies", seq);
	for (size_t i = 0; i < s->n_pols; i++) {
		struct pol_spec *p = &s->pols[i];
		const char *const *porgs = NULL;
		size_t np;

		if (!name_ok(p->name, 0))
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: policies[%zu]: bad name \"%s\"", seq, i,
				       p->name ? p->name : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->pols[j].name, p->name) == 0)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: policies[%zu]: duplicate policy %s", seq, i,
				    p->name);
		rc = fc_policy_parse(p->rule ? p->rule : "", &p->pol, err);
		if (rc == FC_ENOMEM)
			return fc_errf(errmsg, rc, "config seq %llu: out of memory", seq);
		if (rc != FC_OK)
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: policies[%zu] \"%s\": %s", seq, i, p->name,
				       err);
		np = fc_policy_orgs(p->pol, &porgs);
		for (size_t k = 0; k < np; k++) {
			size_t o;
			for (o = 0; o < s->n_orgs && strcmp(s->orgs[o].name, porgs[k]) != 0; o++)
				;
			if (o == s->n_orgs)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: policies[%zu] \"%s\": names unknown "
				    "organisation %s",
				    seq, i, p->name, porgs[k]);
		}
	}
	for (size_t c = 0; c <= s->n_contracts; c++) {
		const char *want = c < s->n_contracts ? s->contracts[c].policy : s->default_policy;
		size_t i;
		for (i = 0; i < s->n_pols && strcmp(s->pols[i].name, want) != 0; i++)
			;
		if (i == s->n_pols) {
			if (c < s->n_contracts)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: policies: contract %s uses policy %s, "
				    "which is gone",
				    seq, s->contracts[c].name, want);
			return fc_errf(errmsg, FC_ECONFIG,
				       "config seq %llu: policies: the default policy %s is gone",
				       seq, want);
		}
	}
	rc = check_nodes(s->seq, "storage_replicas", s->storage, s->n_storage, errmsg);
	if (rc == FC_OK)
		rc = check_nodes(s->seq, "shard_map.memory_nodes", s->memory, s->n_memory, errmsg);
	if (rc != FC_OK)
		return rc;
	for (size_t i = 0; i < s->n_memory; i++)
		for (size_t j = 0; j < s->n_storage; j++)
			if (strcmp(s->memory[i].id, s->storage[j].id) == 0)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: node id %s is both a storage replica "
				    "and a memory node",
				    seq, s->memory[i].id);
	if (s->n_storage == 0)
		return fc_errf(errmsg, FC_ECONFIG, "config seq %llu: storage_replicas: none", seq);
	if (s->quorum < 1 || s->quorum > s->n_storage)
		return fc_errf(errmsg, FC_ECONFIG,
			       "config seq %llu: storage_write_quorum: %u is not within 1..%zu "
			       "(the number of storage replicas)",
			       seq, (unsigned)s->quorum, s->n_storage);
	return FC_OK;
}

static int spec_alloc(struct spec *s, size_t no, size_t np, size_t nc, size_t ns, size_t nm)
{
	s->orgs = fc_calloc(no ? no : 1, sizeof *s->orgs);
	s->pols = fc_calloc(np ? np : 1, sizeof *s->pols);
	s->contracts = fc_calloc(nc ? nc : 1, sizeof *s->contracts);
	s->storage = fc_calloc(ns ? ns : 1, sizeof *s->storage);
	s->memory = fc_calloc(nm ? nm : 1, sizeof *s->memory);
	if (!s->orgs || !s->pols || !s->contracts || !s->storage || !s->memory)
		return FC_ENOMEM;
	return FC_OK;
}

static void nodes_from_config(struct node_spec *out, const struct fc_config_node *n, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		out[i] = (struct node_spec){n[i].id, n[i].host, n[i].port, n[i].data_port,
					    n[i].metrics_port};
}

static void nodes_from_tx(struct node_spec *out, Flexchain__NodeAddr *const *n, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		out[i] = (struct node_spec){n[i] ? n[i]->id : NULL, n[i] ? n[i]->host : NULL,
					    n[i] ? n[i]->port : 0, n[i] ? n[i]->data_port : 0,
					    n[i] ? n[i]->metrics_port : 0};
}

/* The spec of cur changed by tx (NULL: cur as it is, with the same seq). */
static int spec_merge(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx, struct spec *s,
		      char *errmsg)
{
	const struct fc_config *v = &cur->view;
	unsigned long long seq = (unsigned long long)(tx ? tx->sequence : cur->seq);
	char err[FC_ERRMSG_LEN] = "";
	size_t no = tx && tx->n_orgs ? tx->n_orgs : v->n_orgs;
	size_t np = tx && tx->n_policies ? tx->n_policies : v->n_policies;
	size_t ns = tx && tx->n_storage_replicas ? tx->n_storage_replicas : v->storage.n_replicas;
	size_t nm = tx && tx->shard_map ? tx->shard_map->n_memory_nodes : v->memory.n_nodes;
	int rc;

	memset(s, 0, sizeof *s);
	s->seq = seq;
	if (tx && tx->sequence != cur->seq + 1)
		return fc_errf(errmsg, FC_ECONFIG, "config seq %llu: sequence must be %llu", seq,
			       (unsigned long long)cur->seq + 1);
	if (spec_alloc(s, no, np, v->n_contracts, ns, nm) != FC_OK)
		return fc_errf(errmsg, FC_ENOMEM, "config seq %llu: out of memory", seq);
	s->n_orgs = no;
	if (tx && tx->n_orgs) {
		for (size_t i = 0; i < no; i++) {
			const Flexchain__OrgDef *o = tx->orgs[i];
			s->orgs[i].name = o ? o->name : NULL;
			if (!o || !o->ca_cert.len)
				return fc_errf(errmsg, FC_ECONFIG,
					       "config seq %llu: orgs[%zu]: no CA certificate", seq,
					       i);
			rc = fc_crypto_cert_from_der(o->ca_cert.data, o->ca_cert.len,
						     &s->orgs[i].ca, err);
			if (rc == FC_ENOMEM)
				return fc_errf(errmsg, rc, "config seq %llu: out of memory", seq);
			if (rc != FC_OK)
				return fc_errf(
				    errmsg, FC_ECONFIG,
				    "config seq %llu: orgs[%zu] %s: CA certificate does not "
				    "parse: %s",
				    seq, i, o->name ? o->name : "", err);
			/* the same organisation with the same CA keeps its files */
			for (size_t k = 0; o->name && k < v->n_orgs; k++) {
				size_t l1, l2;
				const uint8_t *d1 = fc_crypto_cert_der(cur->ca[k], &l1);
				const uint8_t *d2 = fc_crypto_cert_der(s->orgs[i].ca, &l2);
				if (strcmp(v->orgs[k].name, o->name) == 0 && l1 == l2 &&
				    memcmp(d1, d2, l1) == 0) {
					s->orgs[i].dir = v->orgs[k].dir;
					s->orgs[i].ca_cert = v->orgs[k].ca_cert;
					s->orgs[i].ca_key = v->orgs[k].ca_key;
				}
			}
		}
	} else {
		for (size_t i = 0; i < no; i++) {
			const struct fc_config_org *o = &v->orgs[i];
			s->orgs[i] = (struct org_spec){o->name, o->dir, o->ca_cert, o->ca_key,
						       fc_crypto_cert_ref(cur->ca[i])};
		}
	}
	s->n_pols = np;
	for (size_t i = 0; i < np; i++) {
		if (tx && tx->n_policies)
			s->pols[i] =
			    (struct pol_spec){tx->policies[i] ? tx->policies[i]->name : NULL,
					      tx->policies[i] ? tx->policies[i]->rule : NULL, NULL};
		else
			s->pols[i] =
			    (struct pol_spec){v->policies[i].name, v->policies[i].rule, NULL};
	}
	s->default_policy = v->policies[v->default_policy].name;
	s->n_contracts = v->n_contracts;
	for (size_t i = 0; i < v->n_contracts; i++)
		s->contracts[i] = (struct contract_spec){
		    v->contracts[i].name, v->policies[v->contracts[i].policy_index].name};
	s->n_storage = ns;
	if (tx && tx->n_storage_replicas)
		nodes_from_tx(s->storage, tx->storage_replicas, ns);
	else
		nodes_from_config(s->storage, v->storage.replicas, ns);
	s->n_memory = nm;
	s->shard_version = cur->shard_version;
	if (tx && tx->shard_map) {
		if (tx->shard_map->version <= cur->shard_version)
			return fc_errf(
			    errmsg, FC_ECONFIG,
			    "config seq %llu: shard_map.version %llu is not greater than "
			    "the current %llu",
			    seq, (unsigned long long)tx->shard_map->version,
			    (unsigned long long)cur->shard_version);
		s->shard_version = tx->shard_map->version;
		nodes_from_tx(s->memory, tx->shard_map->memory_nodes, nm);
	} else {
		nodes_from_config(s->memory, v->memory.nodes, nm);
	}
	s->quorum =
	    tx && tx->storage_write_quorum ? tx->storage_write_quorum : v->storage.write_quorum;
	return spec_check(s, errmsg);
}

/* ------------------------------------------------------------ snapshots */

static char *dup_opt(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = fc_strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

static void snap_free(struct fc_chaincfg *c)
{
	struct fc_config *v = &c->view;

	for (size_t i = 0; v->orgs && i < v->n_orgs; i++) {
		fc_free(v->orgs[i].name);
		fc_free(v->orgs[i].dir);
		fc_free(v->orgs[i].ca_cert);
		fc_free(v->orgs[i].ca_key);
	}
	for (size_t i = 0; c->ca && i < v->n_orgs; i++)
		fc_crypto_cert_free(c->ca[i]);
	for (size_t i = 0; v->policies && i < v->n_policies; i++) {
		fc_free(v->policies[i].name);
		fc_free(v->policies[i].rule);
		fc_policy_free(v->policies[i].pol);
	}
	for (size_t i = 0; v->contracts && i < v->n_contracts; i++)
		fc_free(v->contracts[i].name);
	for (size_t i = 0; v->storage.replicas && i < v->storage.n_replicas; i++)
		fc_config_node_free(&v->storage.replicas[i]);
	for (size_t i = 0; v->memory.nodes && i < v->memory.n_nodes; i++)
		fc_config_node_free(&v->memory.nodes[i]);
	fc_free(v->orgs);
	fc_free(c->ca);
	fc_free(v->policies);
	fc_free(v->contracts);
	fc_free(v->storage.replicas);
	fc_free(v->memory.nodes);
	fc_crypto_castore_destroy(c->cs);
	fc_free(c);
}

static size_t org_index(const struct fc_config *v, const char *name)
{
	for (size_t i = 0; name && i < v->n_orgs; i++)
		if (v->orgs[i].name && strcmp(v->orgs[i].name, name) == 0)
			return i;
	return 0;
}

/* Fills out[0..cnt) of kind from spec nodes, completing them from the
 * genesis node of the same id and kind. */
static int nodes_build(const struct fc_config *base, const struct fc_config *v,
		       enum fc_node_kind kind, const struct node_spec *sn, size_t cnt,
		       struct fc_config_node *out)
{
	int fail = 0;

	for (size_t i = 0; i < cnt; i++) {
		const struct fc_config_node *g = fc_config_find_node_kind(base, kind, sn[i].id);
		struct fc_config_node *n = &out[i];

		n->kind = kind;
		n->index = i;
		n->id = dup_opt(sn[i].id, &fail);
		n->host = dup_opt(sn[i].host, &fail);
		n->port = (uint16_t)sn[i].port;
		n->data_port = (uint16_t)sn[i].data_port;
		n->metrics_port = (uint16_t)sn[i].metrics_port;
		if (g) {
			n->org = dup_opt(g->org, &fail);
			n->org_index = org_index(v, g->org);
			if (!n->data_port)
				n->data_port = g->data_port;
			if (!n->metrics_port)
				n->metrics_port = g->metrics_port;
			n->data_dir = dup_opt(g->data_dir, &fail);
			n->cert = dup_opt(g->cert, &fail);
			n->key = dup_opt(g->key, &fail);
		}
	}
	return fail ? FC_ENOMEM : FC_OK;
}

/* Moves the checked spec s into a new snapshot. */
static int snap_build(const struct fc_config *base, struct spec *s, uint64_t from_height,
		      struct fc_chaincfg **out, char *errmsg)
{
	struct fc_chaincfg *c = fc_calloc(1, sizeof *c);
	struct fc_config *v;
	int fail = 0;

	if (!c)
		goto nomem;
	atomic_init(&c->refs, 1);
	c->seq = s->seq;
	c->from_height = from_height;
	c->shard_version = s->shard_version;
	c->base = base;
	v = &c->view;
	*v = *base;
	v->orgs = NULL;
	v->policies = NULL;
	v->contracts = NULL;
	v->storage.replicas = NULL;
	v->memory.nodes = NULL;
	v->n_orgs = v->n_policies = v->n_contracts = 0;
	v->storage.n_replicas = v->memory.n_nodes = 0;

	v->orgs = fc_calloc(s->n_orgs, sizeof *v->orgs);
	c->ca = fc_calloc(s->n_orgs, sizeof *c->ca);
	if (!v->orgs || !c->ca)
		goto nomem;
	v->n_orgs = s->n_orgs;
	for (size_t i = 0; i < s->n_orgs; i++) {
		v->orgs[i].name = dup_opt(s->orgs[i].name, &fail);
		v->orgs[i].dir = dup_opt(s->orgs[i].dir, &fail);
		v->orgs[i].ca_cert = dup_opt(s->orgs[i].ca_cert, &fail);
		v->orgs[i].ca_key = dup_opt(s->orgs[i].ca_key, &fail);
		c->ca[i] = s->orgs[i].ca;
		s->orgs[i].ca = NULL;
	}
	v->policies = fc_calloc(s->n_pols, sizeof *v->policies);
	if (!v->policies)
		goto nomem;
	v->n_policies = s->n_pols;
	for (size_t i = 0; i < s->n_pols; i++) {
		v->policies[i].name = dup_opt(s->pols[i].name, &fail);
		v->policies[i].rule = dup_opt(s->pols[i].rule, &fail);
		v->policies[i].pol = s->pols[i].pol;
		s->pols[i].pol = NULL;
		if (strcmp(s->pols[i].name, s->default_policy) == 0)
			v->default_policy = i;
	}
	v->contracts = fc_calloc(s->n_contracts ? s->n_contracts : 1, sizeof *v->contracts);
	if (!v->contracts)
		goto nomem;
	v->n_contracts = s->n_contracts;
	for (size_t i = 0; i < s->n_contracts; i++) {
		v->contracts[i].name = dup_opt(s->contracts[i].name, &fail);
		for (size_t p = 0; p < s->n_pols; p++)
			if (strcmp(s->pols[p].name, s->contracts[i].policy) == 0)
				v->contracts[i].policy_index = p;
	}
	v->storage.replicas = fc_calloc(s->n_storage, sizeof *v->storage.replicas);
	v->memory.nodes = fc_calloc(s->n_memory ? s->n_memory : 1, sizeof *v->memory.nodes);
	if (!v->storage.replicas || !v->memory.nodes)
		goto nomem;
	v->storage.n_replicas = s->n_storage;
	v->memory.n_nodes = s->n_memory;
	v->storage.write_quorum = s->quorum;
	if (nodes_build(base, v, FC_NODE_STORAGE, s->storage, s->n_storage, v->storage.replicas) !=
		FC_OK ||
	    nodes_build(base, v, FC_NODE_MEMORY, s->memory, s->n_memory, v->memory.nodes) !=
		FC_OK ||
	    fail)
		goto nomem;
	if (s->n_memory == 0) {
		fc_free(v->memory.nodes);
		v->memory.nodes = NULL;
	}
	c->cs = s->cs;
	s->cs = NULL;
	*out = c;
	return FC_OK;
nomem:
	if (c)
		snap_free(c);
	return fc_errf(errmsg, FC_ENOMEM, "config seq %llu: out of memory",
		       (unsigned long long)s->seq);
}

int fc_chaincfg_genesis(const struct fc_config *cfg, struct fc_chaincfg **out, char *errmsg)
{
	struct spec s = {0};
	char err[FC_ERRMSG_LEN] = "";
	int rc;

	if (!cfg || !out || !cfg->n_policies)
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	*out = NULL;
	if (spec_alloc(&s, cfg->n_orgs, cfg->n_policies, cfg->n_contracts, cfg->storage.n_replicas,
		       cfg->memory.n_nodes) != FC_OK) {
		rc = fc_errf(errmsg, FC_ENOMEM, "chain config: out of memory");
		goto out;
	}
	s.n_orgs = cfg->n_orgs;
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		const struct fc_config_org *o = &cfg->orgs[i];
		s.orgs[i] = (struct org_spec){o->name, o->dir, o->ca_cert, o->ca_key, NULL};
		rc = fc_crypto_cert_load_pem(o->ca_cert, &s.orgs[i].ca, err);
		if (rc != FC_OK) {
			rc = fc_errf(errmsg, rc, "chain config: organisation %s: %s", o->name, err);
			goto out;
		}
	}
	s.n_pols = cfg->n_policies;
	for (size_t i = 0; i < cfg->n_policies; i++)
		s.pols[i] = (struct pol_spec){cfg->policies[i].name, cfg->policies[i].rule, NULL};
	s.default_policy = cfg->policies[cfg->default_policy].name;
	s.n_contracts = cfg->n_contracts;
	for (size_t i = 0; i < cfg->n_contracts; i++)
		s.contracts[i] = (struct contract_spec){
		    cfg->contracts[i].name, cfg->policies[cfg->contracts[i].policy_index].name};
	s.n_storage = cfg->storage.n_replicas;
	nodes_from_config(s.storage, cfg->storage.replicas, s.n_storage);
	s.n_memory = cfg->memory.n_nodes;
	nodes_from_config(s.memory, cfg->memory.nodes, s.n_memory);
	s.quorum = cfg->storage.write_quorum;
	rc = spec_check(&s, errmsg);
	if (rc == FC_OK)
		rc = snap_build(cfg, &s, 0, out, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "chain config %s", cfg->path ? cfg->path : "");
out:
	spec_free(&s);
	return rc;
}

struct fc_chaincfg *fc_chaincfg_ref(struct fc_chaincfg *c)
{
	if (c)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void fc_chaincfg_unref(struct fc_chaincfg *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		snap_free(c);
}

int fc_chaincfg_check(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx, char *errmsg)
{
	struct spec s;
	int rc;

	if (!cur || !tx)
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	rc = spec_merge(cur, tx, &s, errmsg);
	spec_free(&s);
	return rc;
}

int fc_chaincfg_apply(const struct fc_chaincfg *cur, const Flexchain__ConfigTx *tx,
		      uint64_t from_height, struct fc_chaincfg **out, char *errmsg)
{
	struct spec s;
	int rc;

	if (!cur || !tx || !out)
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	*out = NULL;
	rc = spec_merge(cur, tx, &s, errmsg);
	if (rc == FC_OK)
		rc = snap_build(cur->base, &s, from_height, out, errmsg);
	spec_free(&s);
	return rc;
}

int fc_chaincfg_check_after(const struct fc_chaincfg *cur,
			    const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			    const Flexchain__ConfigTx *tx, char *errmsg)
{
	struct fc_chaincfg *c = NULL, *next = NULL;
	int rc = FC_OK;

	if (!cur || !tx || (n_earlier && !earlier))
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	for (size_t i = 0; i < n_earlier && rc == FC_OK; i++) {
		rc = fc_chaincfg_apply(c ? c : cur, earlier[i], cur->from_height, &next, errmsg);
		if (rc == FC_OK) {
			fc_chaincfg_unref(c);
			c = next;
		}
	}
	if (rc == FC_OK)
		rc = fc_chaincfg_check(c ? c : cur, tx, errmsg);
	fc_chaincfg_unref(c);
	return rc;
}

int fc_chaincfg_check_config(void *ud, const Flexchain__ConfigTx *const *earlier, size_t n_earlier,
			     const Flexchain__ConfigTx *tx, char *why)
{
	return fc_chaincfg_check_after(ud, earlier, n_earlier, tx, why);
}

static int is_valid_config(const Flexchain__Block *b, const uint8_t *tx_status, size_t i)
{
	const Flexchain__Envelope *e = b->envelopes[i];

	return e && e->type == FLEXCHAIN__TX_TYPE__TX_CONFIG && e->config &&
	       tx_status[i] == FLEXCHAIN__TX_STATUS__TX_VALID;
}

size_t fc_chaincfg_block_changes(const Flexchain__Block *b, const uint8_t *tx_status)
{
	size_t n = 0;

	for (size_t i = 0; b && tx_status && i < b->n_envelopes; i++)
		n += is_valid_config(b, tx_status, i) ? 1 : 0;
	return n;
}

int fc_chaincfg_apply_block(struct fc_chaincfg *cur, const Flexchain__Block *b,
			    const uint8_t *tx_status, struct fc_chaincfg **out, char *errmsg)
{
	struct fc_chaincfg *c, *next = NULL;
	int rc = FC_OK;

	if (!cur || !b || !b->header || (!tx_status && b->n_envelopes) || !out)
		return fc_errf(errmsg, FC_EINVAL, "chain config: invalid arguments");
	*out = NULL;
	c = fc_chaincfg_ref(cur);
	for (size_t i = 0; i < b->n_envelopes && rc == FC_OK; i++) {
		if (!is_valid_config(b, tx_status, i))
			continue;
		rc = fc_chaincfg_apply(c, b->envelopes[i]->config, b->header->height + 1, &next,
				       errmsg);
		if (rc == FC_OK) {
			fc_chaincfg_unref(c);
			c = next;
		} else {
			if (rc == FC_ECONFIG)
				rc = FC_EMISMATCH;
			fc_errwrap(errmsg, rc,
				   "block %llu tx %zu: valid config transaction refused",
				   (unsigned long long)b->header->height, i);
		}
	}
	if (rc != FC_OK) {
		fc_chaincfg_unref(c);
		return rc;
	}
	*out = c;
	return FC_OK;
}

/* ------------------------------------------------------------ accessors */

uint64_t fc_chaincfg_sequence(const struct fc_chaincfg *c)
{
	return c->seq;
}

uint64_t fc_chaincfg_from_height(const struct fc_chaincfg *c)
{
	return c->from_height;
}

uint64_t fc_chaincfg_shard_version(const struct fc_chaincfg *c)
{
	return c->shard_version;
}

const struct fc_config *fc_chaincfg_config(const struct fc_chaincfg *c)
{
	return &c->view;
}

fc_crypto_castore *fc_chaincfg_castore(const struct fc_chaincfg *c)
{
	return c->cs;
}

int fc_chaincfg_same_storage(const struct fc_config *a, const struct fc_config *b)
{
	if (a->storage.n_replicas != b->storage.n_replicas)
		return 0;
	for (size_t i = 0; i < a->storage.n_replicas; i++) {
		const struct fc_config_node *x = &a->storage.replicas[i], *y = &b->storage.replicas[i];
		if (strcmp(x->id, y->id) != 0 || strcmp(x->host, y->host) != 0 ||
		    x->port != y->port)
			return 0;
	}
	return 1;
}

const struct fc_policy *fc_chaincfg_policy_for(const struct fc_chaincfg *c, const char *contract)
{
	return fc_config_contract_policy(&c->view, contract)->pol;
}

const fc_cert *fc_chaincfg_org_ca(const struct fc_chaincfg *c, size_t i)
{
	return i < c->view.n_orgs ? c->ca[i] : NULL;
}

/* ------------------------------------------- making config transactions */

static int node_index(const struct fc_config_node *n, size_t cnt, const char *id)
{
	for (size_t i = 0; i < cnt; i++)
		if (n[i].id && strcmp(n[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* The resulting node list of one kind: cur's minus removals plus additions,
 * as NodeAddrs pointing into cur and ch (borrowed). *touched says whether
 * anything changed. */
static int next_nodes(const char *what, const struct fc_config_node *cur, size_t n_cur,
		      const struct fc_chaincfg_node *add, size_t n_add, const char *const *rm,
		      size_t n_rm, Flexchain__NodeAddr **addrs, Flexchain__NodeAddr ***ptrs,
		      size_t *n_out, int *touched, char *errmsg)
{
	size_t cap = n_cur + n_add, n = 0;

	*addrs = NULL;
	*ptrs = NULL;
	*n_out = 0;
	*touched = n_add || n_rm;
	for (size_t i = 0; i < n_rm; i++)
		if (!rm[i] || node_index(cur, n_cur, rm[i]) < 0)
			return fc_errf(errmsg, FC_EINVAL, "remove %s %s: no such node", what,
				       rm[i] ? rm[i] : "");
	for (size_t i = 0; i < n_add; i++) {
		if (!add[i].id || node_index(cur, n_cur, add[i].id) >= 0)
			return fc_errf(errmsg, FC_EINVAL, "add %s %s: already there", what,
				       add[i].id ? add[i].id : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(add[j].id, add[i].id) == 0)
				return fc_errf(errmsg, FC_EINVAL, "add %s %s: given twice", what,
					       add[i].id);
	}
	*addrs = fc_calloc(cap ? cap : 1, sizeof **addrs);
	*ptrs = fc_calloc(cap ? cap : 1, sizeof **ptrs);
	if (!*addrs || !*ptrs)
		return fc_errf(errmsg, FC_ENOMEM, "next config: out of memory");
	for (size_t i = 0; i < n_cur; i++) {
		int gone = 0;
		for (size_t j = 0; j < n_rm && !gone; j++)
			gone = strcmp(rm[j], cur[i].id) == 0;
		if (gone)
			continue;
		flexchain__node_addr__init(&(*addrs)[n]);
		(*addrs)[n].id = cur[i].id;
		(*addrs)[n].host = cur[i].host ? cur[i].host : "";
		(*addrs)[n].port = cur[i].port;
		(*addrs)[n].data_port = cur[i].data_port;
		(*addrs)[n].metrics_port = cur[i].metrics_port;
		(*ptrs)[n] = &(*addrs)[n];
		n++;
	}
	for (size_t i = 0; i < n_add; i++) {
		flexchain__node_addr__init(&(*addrs)[n]);
		(*addrs)[n].id = (char *)add[i].id;
		(*addrs)[n].host = (char *)(add[i].host ? add[i].host : "");
		(*addrs)[n].port = add[i].port;
		(*addrs)[n].data_port = add[i].data_port;
		(*addrs)[n].metrics_port = add[i].metrics_port;
		(*ptrs)[n] = &(*addrs)[n];
		n++;
	}
	*n_out = n;
	return FC_OK;
}

int fc_chaincfg_next(const struct fc_chaincfg *cur, const struct fc_chaincfg_changes *ch,
		     Flexchain__ConfigTx **out, char *errmsg)
{
	const struct fc_config *v;
	Flexchain__ConfigTx tx = FLEXCHAIN__CONFIG_TX__INIT;
	Flexchain__ShardMap sm = FLEXCHAIN__SHARD_MAP__INIT;
	Flexchain__NodeAddr *st = NULL, **stp = NULL, *mem = NULL, **memp = NULL;
	Flexchain__PolicyDef *pol = NULL, **polp = NULL;
	size_t n_st = 0, n_mem = 0, n_pol = 0;
	int st_touched = 0, mem_touched = 0, rc;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!cur || !ch || !out || (ch->n_policies && (!ch->policy_names || !ch->policy_rules)))
		return fc_errf(errmsg, FC_EINVAL, "next config: invalid arguments");
	*out = NULL;
	v = &cur->view;
	tx.sequence = cur->seq + 1;
	if (!ch->write_quorum && !ch->n_add_storage && !ch->n_remove_storage && !ch->n_add_memory &&
	    !ch->n_remove_memory && !ch->n_policies) {
		rc = fc_errf(errmsg, FC_EINVAL, "next config: no change given");
		goto out;
	}
	tx.storage_write_quorum = ch->write_quorum;
	rc = next_nodes("storage replica", v->storage.replicas, v->storage.n_replicas,
			ch->add_storage, ch->n_add_storage, ch->remove_storage,
			ch->n_remove_storage, &st, &stp, &n_st, &st_touched, errmsg);
	if (rc == FC_OK)
		rc = next_nodes("memory node", v->memory.nodes, v->memory.n_nodes, ch->add_memory,
				ch->n_add_memory, ch->remove_memory, ch->n_remove_memory, &mem,
				&memp, &n_mem, &mem_touched, errmsg);
	if (rc != FC_OK)
		goto out;
	if (st_touched) {
		tx.n_storage_replicas = n_st;
		tx.storage_replicas = stp;
	}
	if (mem_touched) {
		sm.version = cur->shard_version + 1;
		sm.n_memory_nodes = n_mem;
		sm.memory_nodes = memp;
		tx.shard_map = &sm;
	}
	if (ch->n_policies) {
		size_t cap = v->n_policies + ch->n_policies;
		pol = fc_calloc(cap, sizeof *pol);
		polp = fc_calloc(cap, sizeof *polp);
		if (!pol || !polp) {
			rc = fc_errf(errmsg, FC_ENOMEM, "next config: out of memory");
			goto out;
		}
		for (size_t i = 0; i < v->n_policies; i++) {
			flexchain__policy_def__init(&pol[n_pol]);
			pol[n_pol].name = v->policies[i].name;
			pol[n_pol].rule = v->policies[i].rule ? v->policies[i].rule : "";
			polp[n_pol] = &pol[n_pol];
			n_pol++;
		}
		for (size_t i = 0; i < ch->n_policies; i++) {
			const char *name = ch->policy_names[i], *rule = ch->policy_rules[i];
			size_t k;
			if (!name || !rule) {
				rc = fc_errf(errmsg, FC_EINVAL, "next config: policy %zu: no %s", i,
					     name ? "rule" : "name");
				goto out;
			}
			for (k = 0; k < n_pol && strcmp(pol[k].name, name) != 0; k++)
				;
			if (k == n_pol) {
				flexchain__policy_def__init(&pol[k]);
				polp[k] = &pol[k];
				n_pol++;
			}
			pol[k].name = (char *)name;
			pol[k].rule = (char *)rule;
		}
		tx.n_policies = n_pol;
		tx.policies = polp;
	}
	/* a copy that owns everything: encode, decode */
	rc = fc_wire_encode(&tx.base, &buf, &len, errmsg);
	if (rc == FC_OK)
		rc = fc_wire_decode(&flexchain__config_tx__descriptor, buf, len, FC_WIRE_MAX_MSG,
				    (ProtobufCMessage **)out, errmsg);
	if (rc != FC_OK)
		fc_errwrap(errmsg, rc, "next config");
out:
	fc_free(buf);
	fc_free(st);
	fc_free(stp);
	fc_free(mem);
	fc_free(memp);
	fc_free(pol);
	fc_free(polp);
	return rc;
}

void fc_chaincfg_tx_free(Flexchain__ConfigTx *tx)
{
	fc_wire_free((ProtobufCMessage *)tx);
}

int fc_chaincfg_envelope(const Flexchain__ConfigTx *tx, const fc_cert *cert, const fc_key *key,
			 Flexchain__Envelope **out, char *txid, char *errmsg)
{
	Flexchain__Envelope env = FLEXCHAIN__ENVELOPE__INIT;
	Flexchain__Proposal p = FLEXCHAIN__PROPOSAL__INIT;
	char id[FC_TXID_HEX_LEN + 1], err[FC_ERRMSG_LEN] = "";
	uint8_t nonce[16], digest[FC_HASH_LEN], *sig = NULL, *buf = NULL;
	size_t siglen = 0, dlen = 0, len = 0;
	const uint8_t *der;
	struct timespec ts;
	int rc;

	if (!tx || !cert || !key || !out)
		return fc_errf(errmsg, FC_EINVAL, "config envelope: invalid arguments");
	*out = NULL;
	if (fc_crypto_cert_matches_key(cert, key, NULL) != FC_OK)
		return fc_errf(errmsg, FC_EINVAL,
			       "config envelope: the key is not the certificate's");
	rc = fc_crypto_random(nonce, sizeof nonce, err);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "config envelope: nonce: %s", err);
		goto out;
	}
	der = fc_crypto_cert_der(cert, &dlen);
	clock_gettime(CLOCK_REALTIME, &ts);
	p.contract = "";
	p.function = "config";
	p.nonce = (ProtobufCBinaryData){sizeof nonce, nonce};
	p.creator = (ProtobufCBinaryData){dlen, (uint8_t *)der};
	p.timestamp_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	rc = fc_canon_tx_id_of(&p, id);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "config envelope: tx id: %s", fc_strerror(rc));
		goto out;
	}
	p.tx_id = id;
	env.type = FLEXCHAIN__TX_TYPE__TX_CONFIG;
	env.proposal = &p;
	env.config = (Flexchain__ConfigTx *)tx;
	rc = fc_hash_client_sig(&env, digest);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "config envelope: digest: %s", fc_strerror(rc));
		goto out;
	}
	rc = fc_crypto_sign_digest(key, digest, &sig, &siglen, err);
	if (rc != FC_OK) {
		rc = fc_errf(errmsg, rc, "config envelope: sign: %s", err);
		goto out;
	}
	env.client_signature = (ProtobufCBinaryData){siglen, sig};
	rc = fc_wire_encode(&env.base, &buf, &len, errmsg);
	if (rc == FC_OK)
		rc = fc_wire_decode(&flexchain__envelope__descriptor, buf, len, FC_WIRE_MAX_MSG,
				    (ProtobufCMessage **)out, errmsg);
	if (rc != FC_OK) {
		fc_errwrap(errmsg, rc, "config envelope");
		goto out;
	}
	if (txid)
		memcpy(txid, id, sizeof id);
out:
	fc_free(buf);
	fc_free(sig);
	return rc;
}
