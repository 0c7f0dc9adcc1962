/* config.c - cluster YAML loading, defaults and validation (fc_config.h).
 *
 * Two stages. libcyaml maps the document onto "raw" structs in which every
 * field is optional and every scalar is a pointer, so that "absent" and "0"
 * differ and we, not libcyaml, decide what is required: that keeps every
 * message in one shape ("file: field.path: problem"). Integers are read as
 * int64 and range-checked here for the same reason. The second stage builds
 * the public struct fc_config from the raw one, applying defaults, resolving
 * paths and checking cross-references.
 */
#include "fc_config.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_mem.h"
#include "fc_policy.h"

/* A configuration is a few KiB; anything much larger is a mistake. */
#define CONFIG_MAX_FILE_BYTES (4u << 20)
/* Bounds every list so that validation (quadratic duplicate checks) stays
 * cheap on any input. */
#define CONFIG_MAX_LIST 1024

/* ------------------------------------------------------------- raw layer */

struct raw_org {
	char *name;
	char *ca_cert;
	char *ca_key;
};

struct raw_policy {
	char *name;
	char *rule;
};

struct raw_contract {
	char *name;
	char *policy;
};

struct raw_node {
	char *id;
	char *org;
	char *host;
	int64_t *port;
	int64_t *raft_port;
	int64_t *data_port;
	int64_t *metrics_port;
	char *data_dir;
};

struct raw_storage {
	int64_t *write_quorum;
	struct raw_node *replicas;
	unsigned replicas_count;
};

struct raw_memory {
	int64_t *region_mb;
	double *high_watermark;
	double *low_watermark;
	struct raw_node *nodes;
	unsigned nodes_count;
};

struct raw_block {
	int64_t *max_txs;
	int64_t *max_bytes;
	int64_t *timeout_ms;
};

struct raw_validation {
	int64_t *committee_size;
	int64_t *timeout_ms;
	char *parallel; /* booleans are parsed here: libcyaml takes any
			 * word that is not false-like as true */
	int64_t *threads;
};

struct raw_network {
	int64_t *max_frame_bytes;
	int64_t *heartbeat_ms;
	char *tls;
};

struct raw_metrics {
	char *bind;
};

struct raw_top {
	char *cluster;
	char *transport;
	char *crypto_dir;
	struct raw_org *organisations;
	unsigned organisations_count;
	struct raw_policy *policies;
	unsigned policies_count;
	char *default_policy;
	struct raw_contract *contracts;
	unsigned contracts_count;
	struct raw_node *orderers;
	unsigned orderers_count;
	struct raw_storage *storage;
	struct raw_memory *memory;
	struct raw_node *compute;
	unsigned compute_count;
	struct raw_block *block_cutting;
	struct raw_validation *validation;
	struct raw_network *network;
	struct raw_metrics *metrics;
};

#define OPT CYAML_FLAG_OPTIONAL
#define STR(key, st, m) CYAML_FIELD_STRING_PTR(key, OPT | CYAML_FLAG_POINTER, st, m, 0, 4096)
#define I64(key, st, m) CYAML_FIELD_INT_PTR(key, OPT, st, m)

static const cyaml_schema_field_t org_fields[] = {
    STR("name", struct raw_org, name),
    STR("ca_cert", struct raw_org, ca_cert),
    STR("ca_key", struct raw_org, ca_key),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t org_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_org, org_fields),
};

static const cyaml_schema_field_t policy_fields[] = {
    STR("name", struct raw_policy, name),
    STR("rule", struct raw_policy, rule),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t policy_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_policy, policy_fields),
};

static const cyaml_schema_field_t contract_fields[] = {
    STR("name", struct raw_contract, name),
    STR("policy", struct raw_contract, policy),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t contract_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_contract, contract_fields),
};

/* One schema per node kind: a key a kind does not have is an unknown key. */
static const cyaml_schema_field_t orderer_fields[] = {
    STR("id", struct raw_node, id),
    STR("org", struct raw_node, org),
    STR("host", struct raw_node, host),
    I64("port", struct raw_node, port),
    I64("raft_port", struct raw_node, raft_port),
    I64("metrics_port", struct raw_node, metrics_port),
    STR("data_dir", struct raw_node, data_dir),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t replica_fields[] = {
    STR("id", struct raw_node, id),
    STR("org", struct raw_node, org),
    STR("host", struct raw_node, host),
    I64("port", struct raw_node, port),
    I64("metrics_port", struct raw_node, metrics_port),
    STR("data_dir", struct raw_node, data_dir),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t memnode_fields[] = {
    STR("id", struct raw_node, id),
    STR("org", struct raw_node, org),
    STR("host", struct raw_node, host),
    I64("port", struct raw_node, port),
    I64("data_port", struct raw_node, data_port),
    I64("metrics_port", struct raw_node, metrics_port),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t compute_fields[] = {
    STR("id", struct raw_node, id),
    STR("org", struct raw_node, org),
    STR("host", struct raw_node, host),
    I64("port", struct raw_node, port),
    I64("metrics_port", struct raw_node, metrics_port),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t orderer_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_node, orderer_fields),
};
static const cyaml_schema_value_t replica_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_node, replica_fields),
};
static const cyaml_schema_value_t memnode_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_node, memnode_fields),
};
static const cyaml_schema_value_t compute_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_node, compute_fields),
};

#define SEQ(key, st, m, entry)                                                                     \
	CYAML_FIELD_SEQUENCE(key, OPT | CYAML_FLAG_POINTER, st, m, entry, 0, CONFIG_MAX_LIST)

static const cyaml_schema_field_t storage_fields[] = {
    I64("write_quorum", struct raw_storage, write_quorum),
    SEQ("replicas", struct raw_storage, replicas, &replica_schema),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t memory_fields[] = {
    I64("region_mb", struct raw_memory, region_mb),
    CYAML_FIELD_FLOAT_PTR("high_watermark", OPT, struct raw_memory, high_watermark),
    CYAML_FIELD_FLOAT_PTR("low_watermark", OPT, struct raw_memory, low_watermark),
    SEQ("nodes", struct raw_memory, nodes, &memnode_schema),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t block_fields[] = {
    I64("max_txs", struct raw_block, max_txs),
    I64("max_bytes", struct raw_block, max_bytes),
    I64("timeout_ms", struct raw_block, timeout_ms),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t validation_fields[] = {
    I64("committee_size", struct raw_validation, committee_size),
    I64("timeout_ms", struct raw_validation, timeout_ms),
    STR("parallel", struct raw_validation, parallel),
    I64("threads", struct raw_validation, threads),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t network_fields[] = {
    I64("max_frame_bytes", struct raw_network, max_frame_bytes),
    I64("heartbeat_ms", struct raw_network, heartbeat_ms),
    STR("tls", struct raw_network, tls),
    CYAML_FIELD_END,
};
static const cyaml_schema_field_t metrics_fields[] = {
    STR("bind", struct raw_metrics, bind),
    CYAML_FIELD_END,
};

#define MAP(key, st, m, fields) CYAML_FIELD_MAPPING_PTR(key, OPT, st, m, fields)

static const cyaml_schema_field_t top_fields[] = {
    STR("cluster", struct raw_top, cluster),
    STR("transport", struct raw_top, transport),
    STR("crypto_dir", struct raw_top, crypto_dir),
    SEQ("organisations", struct raw_top, organisations, &org_schema),
    SEQ("policies", struct raw_top, policies, &policy_schema),
    STR("default_policy", struct raw_top, default_policy),
    SEQ("contracts", struct raw_top, contracts, &contract_schema),
    SEQ("orderers", struct raw_top, orderers, &orderer_schema),
    MAP("storage", struct raw_top, storage, storage_fields),
    MAP("memory", struct raw_top, memory, memory_fields),
    SEQ("compute", struct raw_top, compute, &compute_schema),
    MAP("block_cutting", struct raw_top, block_cutting, block_fields),
    MAP("validation", struct raw_top, validation, validation_fields),
    MAP("network", struct raw_top, network, network_fields),
    MAP("metrics", struct raw_top, metrics, metrics_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_top, top_fields),
};

/* libcyaml's allocator contract: size 0 frees. Routed through fc_mem so the
 * fail-Nth-allocation hook reaches libcyaml's allocations too. */
static void *cy_mem(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	if (size == 0) {
		fc_free(ptr);
		return NULL;
	}
	return fc_realloc(ptr, size);
}

/* Collects libcyaml's error lines into one message ("Unexpected key: x",
 * then backtrace lines "in mapping field 'y' (line: 3, column: 5)"). */
struct cy_log {
	char buf[FC_ERRMSG_LEN];
	size_t len;
};

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cy_log *lg = ctx;
	char line[256];

	if (level < CYAML_LOG_ERROR || !lg)
		return;
	vsnprintf(line, sizeof line, fmt, args);
	/* Drop the "Load: " prefixes, the "Backtrace:" header and newlines. */
	char *s = line;
	if (strncmp(s, "Load: ", 6) == 0)
		s += 6;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strcspn(s, "\n");
	s[n] = '\0';
	if (n == 0 || strcmp(s, "Backtrace:") == 0)
		return;
	int w =
	    snprintf(lg->buf + lg->len, sizeof lg->buf - lg->len, "%s%s", lg->len ? "; " : "", s);
	if (w > 0)
		lg->len += (size_t)w;
	if (lg->len >= sizeof lg->buf)
		lg->len = sizeof lg->buf - 1;
}

/* ------------------------------------------------------------ build layer */

struct ctx {
	const char *file; /* name used in messages */
	const char *base; /* absolute directory relative paths resolve against */
	char *errmsg;
	struct fc_config *cfg;
};

static int cfg_err(struct ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_err(struct ctx *c, const char *field, const char *fmt, ...)
{
	char what[FC_ERRMSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return fc_errf(c->errmsg, FC_ECONFIG, "%s: %s: %s", c->file, field, what);
}

static int oom(struct ctx *c)
{
	return fc_errf(c->errmsg, FC_ENOMEM, "%s: out of memory", c->file);
}

/* Lexically normalises an absolute path: collapses "//", drops ".",
 * resolves ".." (never above "/"). Returns a new fc_malloc'd string. */
static char *path_normalise(const char *abs)
{
	size_t len = strlen(abs);
	char *out = fc_malloc(len + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	const char *p = abs;
	out[o++] = '/';
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (o > 1) {
				o--; /* the '/' after the last component */
				while (o > 1 && out[o - 1] != '/')
					o--;
			}
		} else {
			memcpy(out + o, p, n);
			o += n;
			out[o++] = '/';
		}
		p += n;
	}
	if (o > 1)
		o--; /* no trailing '/' except for the root itself */
	out[o] = '\0';
	return out;
}

/* Resolves p (absolute, or relative to base) into a new normalised string.
 * Sets *res; FC_ENOMEM or FC_OK. */
static int path_resolve(const char *base, const char *p, char **res)
{
	*res = NULL;
	if (p[0] == '/') {
		*res = path_normalise(p);
		return *res ? FC_OK : FC_ENOMEM;
	}
	size_t bl = strlen(base), pl = strlen(p);
	char *joined = fc_malloc(bl + pl + 2);
	if (!joined)
		return FC_ENOMEM;
	memcpy(joined, base, bl);
	joined[bl] = '/';
	memcpy(joined + bl + 1, p, pl + 1);
	*res = path_normalise(joined);
	fc_free(joined);
	return *res ? FC_OK : FC_ENOMEM;
}

/* Resolves a path field: the configured value or, when absent, a default
 * built from printf-style parts (relative to base). */
static int path_field(struct ctx *c, const char *field, const char *given, char **res,
		      const char *def_fmt, ...) __attribute__((format(printf, 5, 6)));

static int path_field(struct ctx *c, const char *field, const char *given, char **res,
		      const char *def_fmt, ...)
{
	char def[PATH_MAX];
	if (given) {
		if (!given[0])
			return cfg_err(c, field, "is empty");
		if (strlen(given) >= PATH_MAX)
			return cfg_err(c, field, "path longer than %d characters", PATH_MAX - 1);
		if (path_resolve(c->base, given, res) != FC_OK)
			return oom(c);
		return FC_OK;
	}
	va_list ap;
	va_start(ap, def_fmt);
	int n = vsnprintf(def, sizeof def, def_fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof def)
		return cfg_err(c, field, "default path longer than %d characters", PATH_MAX - 1);
	if (path_resolve(c->base, def, res) != FC_OK)
		return oom(c);
	return FC_OK;
}

static int is_org_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FC_CONFIG_NAME_MAX)
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Node ids end up in file names: no '/', no leading '.'. */
static int is_node_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FC_CONFIG_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Copies a string field; absent -> def (which may be NULL: then required). */
static int str_field(struct ctx *c, const char *field, const char *given, const char *def,
		     char **res)
{
	const char *v = given ? given : def;
	if (!v)
		return cfg_err(c, field, "required");
	if (!v[0])
		return cfg_err(c, field, "is empty");
	*res = fc_strdup(v);
	return *res ? FC_OK : oom(c);
}

static int u64_field(struct ctx *c, const char *field, const int64_t *given, uint64_t def,
		     uint64_t min, uint64_t max, uint64_t *res)
{
	if (!given) {
		*res = def;
		return FC_OK;
	}
	if (*given < 0 || (uint64_t)*given < min)
		return cfg_err(c, field, "%" PRId64 " is below the minimum %" PRIu64, *given, min);
	if ((uint64_t)*given > max)
		return cfg_err(c, field, "%" PRId64 " is above the maximum %" PRIu64, *given, max);
	*res = (uint64_t)*given;
	return FC_OK;
}

static int u32_field(struct ctx *c, const char *field, const int64_t *given, uint32_t def,
		     uint32_t min, uint32_t max, uint32_t *res)
{
	uint64_t v = 0;
	int rc = u64_field(c, field, given, def, min, max, &v);
	if (rc == FC_OK)
		*res = (uint32_t)v;
	return rc;
}

static int bool_field(struct ctx *c, const char *field, const char *given, bool def, bool *res)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};

	*res = def;
	if (!given)
		return FC_OK;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(given, yes[i]) == 0) {
			*res = true;
			return FC_OK;
		}
		if (strcmp(given, no[i]) == 0) {
			*res = false;
			return FC_OK;
		}
	}
	return cfg_err(c, field, "\"%.64s\" is not a boolean (true or false)", given);
}

/* required: absent is an error; otherwise absent -> 0 (none). */
static int port_field(struct ctx *c, const char *field, const int64_t *given, bool required,
		      uint16_t *res)
{
	*res = 0;
	if (!given) {
		if (required)
			return cfg_err(c, field, "required");
		return FC_OK;
	}
	if (!required && *given == 0)
		return FC_OK;
	if (*given < 1 || *given > 65535)
		return cfg_err(c, field, "%" PRId64 " is not a port (1-65535)", *given);
	*res = (uint16_t)*given;
	return FC_OK;
}

static const char *const kind_names[FC_NODE_KIND__COUNT] = {
    [FC_NODE_ORDERER] = "orderer",
    [FC_NODE_STORAGE] = "storage",
    [FC_NODE_MEMORY] = "memory",
    [FC_NODE_COMPUTE] = "compute",
};

/* The YAML path of a node: "orderers[1]", "storage.replicas[0]", ... */
static const char *const kind_paths[FC_NODE_KIND__COUNT] = {
    [FC_NODE_ORDERER] = "orderers",
    [FC_NODE_STORAGE] = "storage.replicas",
    [FC_NODE_MEMORY] = "memory.nodes",
    [FC_NODE_COMPUTE] = "compute",
};

static void node_path(char *buf, size_t cap, const struct fc_config_node *n, const char *field)
{
	snprintf(buf, cap, "%s[%zu]%s%s", kind_paths[n->kind], n->index, field ? "." : "",
		 field ? field : "");
}

static int org_index(const struct fc_config *cfg, const char *name, size_t *idx)
{
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		if (strcmp(cfg->orgs[i].name, name) == 0) {
			*idx = i;
			return 1;
		}
	}
	return 0;
}

static int build_orgs(struct ctx *c, const struct raw_top *raw)
{
	struct fc_config *cfg = c->cfg;
	char field[128];
	int rc;

	if (raw->organisations_count == 0)
		return cfg_err(c, "organisations", "at least one organisation is required");
	cfg->orgs = fc_calloc(raw->organisations_count, sizeof *cfg->orgs);
	if (!cfg->orgs)
		return oom(c);
	for (size_t i = 0; i < raw->organisations_count; i++) {
		const struct raw_org *ro = &raw->organisations[i];
		struct fc_config_org *o = &cfg->orgs[i];
		snprintf(field, sizeof field, "organisations[%zu].name", i);
		if (!ro->name)
			return cfg_err(c, field, "required");
		if (!is_org_name(ro->name))
			return cfg_err(
			    c, field,
			    "\"%.64s\" is not an organisation name ([A-Za-z_][A-Za-z0-9_.-]*, "
			    "at most %d characters)",
			    ro->name, FC_CONFIG_NAME_MAX);
		size_t dup;
		if (org_index(cfg, ro->name, &dup))
			return cfg_err(c, field,
				       "duplicate organisation \"%s\" (also organisations[%zu])",
				       ro->name, dup);
		o->name = fc_strdup(ro->name);
		if (!o->name)
			return oom(c);
		cfg->n_orgs++;
		snprintf(field, sizeof field, "organisations[%zu]", i);
		rc = path_field(c, field, NULL, &o->dir, "%s/%s", cfg->crypto_dir, o->name);
		if (rc != FC_OK)
			return rc;
		snprintf(field, sizeof field, "organisations[%zu].ca_cert", i);
		rc = path_field(c, field, ro->ca_cert, &o->ca_cert, "%s/ca/ca.crt", o->dir);
		if (rc != FC_OK)
			return rc;
		snprintf(field, sizeof field, "organisations[%zu].ca_key", i);
		rc = path_field(c, field, ro->ca_key, &o->ca_key, "%s/ca/ca.key", o->dir);
		if (rc != FC_OK)
			return rc;
	}
	return FC_OK;
}

static int build_node(struct ctx *c, const struct raw_node *rn, struct fc_config_node *n)
{
	struct fc_config *cfg = c->cfg;
	char field[160];
	int rc;

	node_path(field, sizeof field, n, "id");
	if (!rn->id)
		return cfg_err(c, field, "required");
	if (!is_node_id(rn->id))
		return cfg_err(c, field,
			       "\"%.64s\" is not a node id ([A-Za-z0-9_.-], not starting with '.' "
			       "or '-', at most %d characters)",
			       rn->id, FC_CONFIG_NAME_MAX);
	n->id = fc_strdup(rn->id);
	if (!n->id)
		return oom(c);

	node_path(field, sizeof field, n, "org");
	if (!rn->org)
		return cfg_err(c, field, "required");
	if (!org_index(cfg, rn->org, &n->org_index))
		return cfg_err(c, field, "unknown organisation \"%.64s\"", rn->org);
	n->org = fc_strdup(rn->org);
	if (!n->org)
		return oom(c);

	node_path(field, sizeof field, n, "host");
	if (rn->host && strlen(rn->host) > 255)
		return cfg_err(c, field, "longer than 255 characters");
	rc = str_field(c, field, rn->host, "127.0.0.1", &n->host);
	if (rc != FC_OK)
		return rc;

	node_path(field, sizeof field, n, "port");
	rc = port_field(c, field, rn->port, true, &n->port);
	if (rc != FC_OK)
		return rc;
	if (n->kind == FC_NODE_ORDERER) {
		node_path(field, sizeof field, n, "raft_port");
		rc = port_field(c, field, rn->raft_port, true, &n->raft_port);
		if (rc != FC_OK)
			return rc;
	}
	if (n->kind == FC_NODE_MEMORY) {
		node_path(field, sizeof field, n, "data_port");
		rc = port_field(c, field, rn->data_port, true, &n->data_port);
		if (rc != FC_OK)
			return rc;
	}
	node_path(field, sizeof field, n, "metrics_port");
	rc = port_field(c, field, rn->metrics_port, false, &n->metrics_port);
	if (rc != FC_OK)
		return rc;

	if (n->kind == FC_NODE_ORDERER || n->kind == FC_NODE_STORAGE) {
		node_path(field, sizeof field, n, "data_dir");
		rc = path_field(c, field, rn->data_dir, &n->data_dir, "data/%s", n->id);
		if (rc != FC_OK)
			return rc;
	}
	const char *odir = cfg->orgs[n->org_index].dir;
	node_path(field, sizeof field, n, NULL);
	rc = path_field(c, field, NULL, &n->cert, "%s/%s/%s/cert.pem", odir, kind_names[n->kind],
			n->id);
	if (rc != FC_OK)
		return rc;
	return path_field(c, field, NULL, &n->key, "%s/%s/%s/key.pem", odir, kind_names[n->kind],
			  n->id);
}

struct endpoint {
	const struct fc_config_node *node;
	const char *field;
	uint16_t port;
};

static int check_uniqueness(struct ctx *c)
{
	struct fc_config *cfg = c->cfg;
	struct endpoint *eps = NULL;
	size_t n_eps = 0;
	char field[160], other[160];
	int rc = FC_OK;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct fc_config_node *a = &cfg->nodes[i];
		for (size_t j = 0; j < i; j++) {
			if (strcmp(a->id, cfg->nodes[j].id) == 0) {
				node_path(field, sizeof field, a, "id");
				node_path(other, sizeof other, &cfg->nodes[j], NULL);
				return cfg_err(c, field, "duplicate node id \"%s\" (also %s)",
					       a->id, other);
			}
		}
	}

	eps = fc_calloc(cfg->n_nodes * 4, sizeof *eps);
	if (!eps)
		return oom(c);
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct fc_config_node *a = &cfg->nodes[i];
		const struct {
			const char *name;
			uint16_t port;
		} mine[] = {{"port", a->port},
			    {"raft_port", a->raft_port},
			    {"data_port", a->data_port},
			    {"metrics_port", a->metrics_port}};
		for (size_t k = 0; k < sizeof mine / sizeof mine[0]; k++) {
			if (mine[k].port == 0)
				continue;
			for (size_t j = 0; j < n_eps; j++) {
				if (eps[j].port == mine[k].port &&
				    strcmp(eps[j].node->host, a->host) == 0) {
					node_path(field, sizeof field, a, mine[k].name);
					node_path(other, sizeof other, eps[j].node, eps[j].field);
					rc = cfg_err(c, field, "%s:%u already used by %s", a->host,
						     mine[k].port, other);
					goto out_eps;
				}
			}
			eps[n_eps++] = (struct endpoint){a, mine[k].name, mine[k].port};
		}
	}
out_eps:
	fc_free(eps);
	return rc;
}

static int build_nodes(struct ctx *c, const struct raw_top *raw)
{
	struct fc_config *cfg = c->cfg;
	const struct raw_node *lists[FC_NODE_KIND__COUNT] = {
	    raw->orderers,
	    raw->storage ? raw->storage->replicas : NULL,
	    raw->memory ? raw->memory->nodes : NULL,
	    raw->compute,
	};
	size_t counts[FC_NODE_KIND__COUNT] = {
	    raw->orderers_count,
	    raw->storage ? raw->storage->replicas_count : 0,
	    raw->memory ? raw->memory->nodes_count : 0,
	    raw->compute_count,
	};
	struct fc_config_node *starts[FC_NODE_KIND__COUNT] = {NULL};
	int rc;

	if (counts[FC_NODE_ORDERER] == 0)
		return cfg_err(c, "orderers", "at least one orderer is required");
	if (counts[FC_NODE_STORAGE] == 0)
		return cfg_err(c, "storage.replicas", "at least one storage replica is required");

	size_t total = 0;
	for (int k = 0; k < FC_NODE_KIND__COUNT; k++)
		total += counts[k];
	cfg->nodes = fc_calloc(total, sizeof *cfg->nodes);
	if (!cfg->nodes)
		return oom(c);
	for (int k = 0; k < FC_NODE_KIND__COUNT; k++) {
		if (counts[k])
			starts[k] = &cfg->nodes[cfg->n_nodes];
		for (size_t i = 0; i < counts[k]; i++) {
			struct fc_config_node *n = &cfg->nodes[cfg->n_nodes++];
			n->kind = (enum fc_node_kind)k;
			n->index = i;
			rc = build_node(c, &lists[k][i], n);
			if (rc != FC_OK)
				return rc;
		}
	}
	cfg->orderers = starts[FC_NODE_ORDERER];
	cfg->n_orderers = counts[FC_NODE_ORDERER];
	cfg->storage.replicas = starts[FC_NODE_STORAGE];
	cfg->storage.n_replicas = counts[FC_NODE_STORAGE];
	cfg->memory.nodes = starts[FC_NODE_MEMORY];
	cfg->memory.n_nodes = counts[FC_NODE_MEMORY];
	cfg->compute = starts[FC_NODE_COMPUTE];
	cfg->n_compute = counts[FC_NODE_COMPUTE];
	return check_uniqueness(c);
}

static int add_policy(struct ctx *c, const char *field, const char *name, const char *rule)
{
	struct fc_config *cfg = c->cfg;
	struct fc_config_policy *p = &cfg->policies[cfg->n_policies];
	char perr[FC_ERRMSG_LEN] = "";
	int rc;

	p->name = fc_strdup(name);
	p->rule = fc_strdup(rule);
	cfg->n_policies++; /* counted now so that fc_config_free frees it */
	if (!p->name || !p->rule)
		return oom(c);
	rc = fc_policy_parse(rule, &p->pol, perr);
	if (rc == FC_ENOMEM)
		return oom(c);
	if (rc != FC_OK)
		return cfg_err(c, field, "%s", perr);
	const char *const *orgs;
	size_t n = fc_policy_orgs(p->pol, &orgs);
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		if (!org_index(cfg, orgs[i], &idx))
			return cfg_err(c, field, "unknown organisation \"%s\" in \"%.200s\"",
				       orgs[i], rule);
	}
	return FC_OK;
}

static int build_policies(struct ctx *c, const struct raw_top *raw)
{
	struct fc_config *cfg = c->cfg;
	char field[128];
	int rc;

	cfg->policies =
	    fc_calloc(raw->policies_count ? raw->policies_count : 1, sizeof *cfg->policies);
	if (!cfg->policies)
		return oom(c);
	if (raw->policies_count == 0) {
		/* Default: a majority of all organisations. */
		size_t cap = 32 + cfg->n_orgs * (FC_CONFIG_NAME_MAX + 1);
		char *rule = fc_malloc(cap);
		if (!rule)
			return oom(c);
		size_t o = (size_t)snprintf(rule, cap, "OutOf(%zu", cfg->n_orgs / 2 + 1);
		for (size_t i = 0; i < cfg->n_orgs; i++)
			o += (size_t)snprintf(rule + o, cap - o, ",%s", cfg->orgs[i].name);
		snprintf(rule + o, cap - o, ")");
		rc = add_policy(c, "policies", "default", rule);
		fc_free(rule);
		if (rc != FC_OK)
			return rc;
	}
	for (size_t i = 0; i < raw->policies_count; i++) {
		const struct raw_policy *rp = &raw->policies[i];
		snprintf(field, sizeof field, "policies[%zu].name", i);
		if (!rp->name)
			return cfg_err(c, field, "required");
		if (!rp->name[0] || strlen(rp->name) > FC_CONFIG_NAME_MAX)
			return cfg_err(c, field, "must have 1 to %d characters",
				       FC_CONFIG_NAME_MAX);
		for (size_t j = 0; j < cfg->n_policies; j++)
			if (strcmp(cfg->policies[j].name, rp->name) == 0)
				return cfg_err(c, field,
					       "duplicate policy \"%s\" (also policies[%zu])",
					       rp->name, j);
		snprintf(field, sizeof field, "policies[%zu].rule", i);
		if (!rp->rule)
			return cfg_err(c, field, "required");
		rc = add_policy(c, field, rp->name, rp->rule);
		if (rc != FC_OK)
			return rc;
	}

	cfg->default_policy = 0;
	if (raw->default_policy) {
		const struct fc_config_policy *d = fc_config_find_policy(cfg, raw->default_policy);
		if (!d)
			return cfg_err(c, "default_policy", "unknown policy \"%.64s\"",
				       raw->default_policy);
		cfg->default_policy = (size_t)(d - cfg->policies);
	}

	if (raw->contracts_count) {
		cfg->contracts = fc_calloc(raw->contracts_count, sizeof *cfg->contracts);
		if (!cfg->contracts)
			return oom(c);
	}
	for (size_t i = 0; i < raw->contracts_count; i++) {
		const struct raw_contract *rc_ = &raw->contracts[i];
		struct fc_config_contract *k = &cfg->contracts[i];
		snprintf(field, sizeof field, "contracts[%zu].name", i);
		if (!rc_->name)
			return cfg_err(c, field, "required");
		if (!rc_->name[0] || strlen(rc_->name) > FC_CONFIG_NAME_MAX)
			return cfg_err(c, field, "must have 1 to %d characters",
				       FC_CONFIG_NAME_MAX);
		for (size_t j = 0; j < cfg->n_contracts; j++)
			if (strcmp(cfg->contracts[j].name, rc_->name) == 0)
				return cfg_err(c, field,
					       "duplicate contract \"%s\" (also contracts[%zu])",
					       rc_->name, j);
		snprintf(field, sizeof field, "contracts[%zu].policy", i);
		if (!rc_->policy)
			return cfg_err(c, field, "required");
		const struct fc_config_policy *p = fc_config_find_policy(cfg, rc_->policy);
		if (!p)
			return cfg_err(c, field, "unknown policy \"%.64s\"", rc_->policy);
		k->name = fc_strdup(rc_->name);
		if (!k->name)
			return oom(c);
		k->policy_index = (size_t)(p - cfg->policies);
		cfg->n_contracts++;
	}
	return FC_OK;
}

static int build_tunables(struct ctx *c, const struct raw_top *raw)
{
	struct fc_config *cfg = c->cfg;
	const int64_t *nil = NULL;
	int rc;

	/* storage */
	const struct raw_storage *rs = raw->storage;
	uint32_t nrep = (uint32_t)cfg->storage.n_replicas;
	if (rs && rs->write_quorum) {
		if (*rs->write_quorum < 1)
			return cfg_err(c, "storage.write_quorum", "%" PRId64 " must be at least 1",
				       *rs->write_quorum);
		if (*rs->write_quorum > (int64_t)nrep)
			return cfg_err(c, "storage.write_quorum",
				       "%" PRId64 " exceeds the number of storage replicas (%u)",
				       *rs->write_quorum, nrep);
		cfg->storage.write_quorum = (uint32_t)*rs->write_quorum;
	} else {
		cfg->storage.write_quorum = nrep / 2 + 1;
	}

	/* memory */
	const struct raw_memory *rm = raw->memory;
	rc = u32_field(c, "memory.region_mb", rm ? rm->region_mb : nil, 256, 1, 1u << 20,
		       &cfg->memory.region_mb);
	if (rc != FC_OK)
		return rc;
	cfg->memory.high_watermark = rm && rm->high_watermark ? *rm->high_watermark : 0.90;
	cfg->memory.low_watermark = rm && rm->low_watermark ? *rm->low_watermark : 0.75;
	double hi = cfg->memory.high_watermark, lo = cfg->memory.low_watermark;
	if (!(hi > 0.0 && hi <= 1.0))
		return cfg_err(c, "memory.high_watermark", "%g is not in (0, 1]", hi);
	if (!(lo > 0.0 && lo <= 1.0))
		return cfg_err(c, "memory.low_watermark", "%g is not in (0, 1]", lo);
	if (!(lo < hi))
		return cfg_err(c, "memory.low_watermark",
			       "%g must be below memory.high_watermark (%g)", lo, hi);

	/* block cutting */
	const struct raw_block *rb = raw->block_cutting;
	rc = u32_field(c, "block_cutting.max_txs", rb ? rb->max_txs : nil, 500, 1, 1000000,
		       &cfg->block_cutting.max_txs);
	if (rc == FC_OK)
		rc = u64_field(c, "block_cutting.max_bytes", rb ? rb->max_bytes : nil, 4u << 20, 1,
			       1u << 30, &cfg->block_cutting.max_bytes);
	if (rc == FC_OK)
		rc = u32_field(c, "block_cutting.timeout_ms", rb ? rb->timeout_ms : nil, 200, 1,
			       3600000, &cfg->block_cutting.timeout_ms);
	if (rc != FC_OK)
		return rc;

	/* validation */
	const struct raw_validation *rv = raw->validation;
	rc = u32_field(c, "validation.committee_size", rv ? rv->committee_size : nil, 3, 1,
		       CONFIG_MAX_LIST, &cfg->validation.committee_size);
	if (rc == FC_OK)
		rc = u32_field(c, "validation.timeout_ms", rv ? rv->timeout_ms : nil, 2000, 1,
			       3600000, &cfg->validation.timeout_ms);
	if (rc == FC_OK)
		rc = u32_field(c, "validation.threads", rv ? rv->threads : nil, 0, 0, 4096,
			       &cfg->validation.threads);
	if (rc == FC_OK)
		rc = bool_field(c, "validation.parallel", rv ? rv->parallel : NULL, true,
				&cfg->validation.parallel);
	if (rc != FC_OK)
		return rc;

	/* network */
	const struct raw_network *rn = raw->network;
	rc = u64_field(c, "network.max_frame_bytes", rn ? rn->max_frame_bytes : nil, 16u << 20,
		       1024, 1u << 30, &cfg->network.max_frame_bytes);
	if (rc == FC_OK)
		rc = u32_field(c, "network.heartbeat_ms", rn ? rn->heartbeat_ms : nil, 500, 1,
			       3600000, &cfg->network.heartbeat_ms);
	if (rc == FC_OK)
		rc = bool_field(c, "network.tls", rn ? rn->tls : NULL, false, &cfg->network.tls);
	if (rc != FC_OK)
		return rc;
	if (cfg->block_cutting.max_bytes > cfg->network.max_frame_bytes)
		return cfg_err(c, "block_cutting.max_bytes",
			       "%" PRIu64 " exceeds network.max_frame_bytes (%" PRIu64
			       "): a block must fit in a frame",
			       cfg->block_cutting.max_bytes, cfg->network.max_frame_bytes);

	/* metrics */
	return str_field(c, "metrics.bind", raw->metrics ? raw->metrics->bind : NULL, "127.0.0.1",
			 &cfg->metrics.bind);
}

static int build(struct ctx *c, const struct raw_top *raw)
{
	struct fc_config *cfg = c->cfg;
	int rc;

	if (!raw)
		return fc_errf(c->errmsg, FC_ECONFIG, "%s: empty document", c->file);
	rc = str_field(c, "cluster", raw->cluster, NULL, &cfg->name);
	if (rc != FC_OK)
		return rc;

	if (!raw->transport || strcmp(raw->transport, "auto") == 0)
		cfg->transport = FC_TRANSPORT_AUTO;
	else if (strcmp(raw->transport, "rdma") == 0)
		cfg->transport = FC_TRANSPORT_RDMA;
	else if (strcmp(raw->transport, "tcp") == 0)
		cfg->transport = FC_TRANSPORT_TCP;
	else
		return cfg_err(c, "transport", "unknown transport \"%.64s\" (auto, rdma or tcp)",
			       raw->transport);

	rc = path_field(c, "crypto_dir", raw->crypto_dir, &cfg->crypto_dir, "crypto");
	if (rc == FC_OK)
		rc = build_orgs(c, raw);
	if (rc == FC_OK)
		rc = build_nodes(c, raw);
	if (rc == FC_OK)
		rc = build_policies(c, raw);
	if (rc == FC_OK)
		rc = build_tunables(c, raw);
	return rc;
}

static int parse_in(const char *yaml, size_t len, const char *name, const char *base,
		    const char *stored_path, struct fc_config **out, char *errmsg)
{
	struct raw_top *raw = NULL;
	struct fc_config *cfg = NULL;
	struct cy_log lg = {.len = 0};
	int rc;

	const cyaml_config_t cy = {
	    .log_fn = cy_log_fn,
	    .log_ctx = &lg,
	    .mem_fn = cy_mem,
	    .mem_ctx = NULL,
	    .log_level = CYAML_LOG_ERROR,
	    /* Aliases would let a tiny file expand exponentially. */
	    .flags = CYAML_CFG_NO_ALIAS,
	};
	lg.buf[0] = '\0';

	if (len == 0) {
		rc = fc_errf(errmsg, FC_ECONFIG, "%s: empty document", name);
		goto out;
	}
	cyaml_err_t cerr = cyaml_load_data((const uint8_t *)yaml, len, &cy, &top_schema,
					   (cyaml_data_t **)&raw, NULL);
	if (cerr == CYAML_ERR_OOM) {
		rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	if (cerr != CYAML_OK) {
		rc = fc_errf(errmsg, FC_ECONFIG, "%s: %s", name,
			     lg.len ? lg.buf : cyaml_strerror(cerr));
		goto out;
	}

	cfg = fc_calloc(1, sizeof *cfg);
	if (!cfg) {
		rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	cfg->path = fc_strdup(stored_path);
	if (!cfg->path) {
		rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	struct ctx c = {.file = name, .base = base, .errmsg = errmsg, .cfg = cfg};
	rc = build(&c, raw);
	if (rc != FC_OK)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	fc_config_free(cfg);
	if (raw)
		cyaml_free(&cy, &top_schema, raw, 0);
	return rc;
}

/* Makes dir absolute and normalised (against the current directory). */
static int absolute_dir(const char *dir, char **res, const char *name, char *errmsg)
{
	char cwd[PATH_MAX];
	*res = NULL;
	if (dir && dir[0] == '/') {
		*res = path_normalise(dir);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return fc_errf(errmsg, fc_err_from_errno(errno), "%s: getcwd: %s", name,
				       strerror(errno));
		if (path_resolve(cwd, dir && dir[0] ? dir : ".", res) != FC_OK)
			*res = NULL;
	}
	if (!*res)
		return fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", name);
	return FC_OK;
}

int fc_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
		    struct fc_config **out, char *errmsg)
{
	char *base = NULL;
	int rc;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "config: no output pointer");
	*out = NULL;
	if (!name)
		name = "<config>";
	if (!yaml && len)
		return fc_errf(errmsg, FC_EINVAL, "%s: no data", name);
	if (len > CONFIG_MAX_FILE_BYTES)
		return fc_errf(errmsg, FC_ECONFIG, "%s: larger than %u bytes", name,
			       CONFIG_MAX_FILE_BYTES);
	rc = absolute_dir(base_dir, &base, name, errmsg);
	if (rc == FC_OK)
		rc = parse_in(yaml, len, name, base, name, out, errmsg);
	fc_free(base);
	return rc;
}

int fc_config_load(const char *path, struct fc_config **out, char *errmsg)
{
	FILE *f = NULL;
	char *buf = NULL, *dir = NULL, *abs = NULL;
	size_t len = 0;
	struct stat st;
	int rc;

	if (!out)
		return fc_errf(errmsg, FC_EINVAL, "config: no output pointer");
	*out = NULL;
	if (!path || !path[0])
		return fc_errf(errmsg, FC_EINVAL, "config: no file name");

	f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		rc = e == ENOENT || e == ENOTDIR ? FC_ENOTFOUND : fc_err_from_errno(e);
		return fc_errf(errmsg, rc, "%s: %s", path, strerror(e));
	}
	if (fstat(fileno(f), &st) != 0) {
		rc = fc_errf(errmsg, fc_err_from_errno(errno), "%s: stat: %s", path,
			     strerror(errno));
		goto out_file;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fc_errf(errmsg, FC_ECONFIG, "%s: not a regular file", path);
		goto out_file;
	}
	if (st.st_size > (off_t)CONFIG_MAX_FILE_BYTES) {
		rc = fc_errf(errmsg, FC_ECONFIG, "%s: larger than %u bytes", path,
			     CONFIG_MAX_FILE_BYTES);
		goto out_file;
	}
	buf = fc_malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", path);
		goto out_file;
	}
	len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		rc = fc_errf(errmsg, FC_EIO, "%s: read failed", path);
		goto out_buf;
	}

	/* Relative paths resolve against the file's directory. */
	const char *slash = strrchr(path, '/');
	const char *base_name = slash ? slash + 1 : path;
	if (slash) {
		size_t dl = slash == path ? 1 : (size_t)(slash - path);
		char *d = fc_malloc(dl + 1);
		if (!d) {
			rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", path);
			goto out_buf;
		}
		memcpy(d, path, dl);
		d[dl] = '\0';
		rc = absolute_dir(d, &dir, path, errmsg);
		fc_free(d);
	} else {
		rc = absolute_dir(".", &dir, path, errmsg);
	}
	if (rc != FC_OK)
		goto out_buf;
	if (path_resolve(dir, base_name, &abs) != FC_OK) {
		rc = fc_errf(errmsg, FC_ENOMEM, "%s: out of memory", path);
		goto out_dir;
	}
	rc = parse_in(buf, len, path, dir, abs, out, errmsg);

	fc_free(abs);
out_dir:
	fc_free(dir);
out_buf:
	fc_free(buf);
out_file:
	fclose(f);
	return rc;
}

void fc_config_node_free(struct fc_config_node *n)
{
	fc_free(n->id);
	fc_free(n->org);
	fc_free(n->host);
	fc_free(n->data_dir);
	fc_free(n->cert);
	fc_free(n->key);
}

void fc_config_free(struct fc_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_orgs; i++) {
		fc_free(cfg->orgs[i].name);
		fc_free(cfg->orgs[i].dir);
		fc_free(cfg->orgs[i].ca_cert);
		fc_free(cfg->orgs[i].ca_key);
	}
	fc_free(cfg->orgs);
	for (size_t i = 0; i < cfg->n_policies; i++) {
		fc_free(cfg->policies[i].name);
		fc_free(cfg->policies[i].rule);
		fc_policy_free(cfg->policies[i].pol);
	}
	fc_free(cfg->policies);
	for (size_t i = 0; i < cfg->n_contracts; i++)
		fc_free(cfg->contracts[i].name);
	fc_free(cfg->contracts);
	for (size_t i = 0; i < cfg->n_nodes; i++)
		fc_config_node_free(&cfg->nodes[i]);
	fc_free(cfg->nodes);
	fc_free(cfg->metrics.bind);
	fc_free(cfg->crypto_dir);
	fc_free(cfg->name);
	fc_free(cfg->path);
	fc_free(cfg);
}

/* ---------------------------------------------------------------- lookups */

const struct fc_config_org *fc_config_find_org(const struct fc_config *cfg, const char *name)
{
	size_t i;
	if (!cfg || !name || !org_index(cfg, name, &i))
		return NULL;
	return &cfg->orgs[i];
}

const struct fc_config_node *fc_config_find_node(const struct fc_config *cfg, const char *id)
{
	if (!cfg || !id)
		return NULL;
	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].id, id) == 0)
			return &cfg->nodes[i];
	return NULL;
}

const struct fc_config_node *fc_config_find_node_kind(const struct fc_config *cfg,
						      enum fc_node_kind kind, const char *id)
{
	const struct fc_config_node *n = fc_config_find_node(cfg, id);
	return n && n->kind == kind ? n : NULL;
}

const struct fc_config_policy *fc_config_find_policy(const struct fc_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_policies; i++)
		if (strcmp(cfg->policies[i].name, name) == 0)
			return &cfg->policies[i];
	return NULL;
}

const struct fc_config_policy *fc_config_contract_policy(const struct fc_config *cfg,
							 const char *contract)
{
	if (!cfg || cfg->n_policies == 0)
		return NULL;
	if (contract)
		for (size_t i = 0; i < cfg->n_contracts; i++)
			if (strcmp(cfg->contracts[i].name, contract) == 0)
				return &cfg->policies[cfg->contracts[i].policy_index];
	return &cfg->policies[cfg->default_policy];
}

const char *fc_config_transport_name(enum fc_transport_kind t)
{
	switch (t) {
	case FC_TRANSPORT_AUTO:
		return "auto";
	case FC_TRANSPORT_RDMA:
		return "rdma";
	case FC_TRANSPORT_TCP:
		return "tcp";
	}
	return "unknown";
}

const char *fc_config_node_kind_name(enum fc_node_kind k)
{
	if ((int)k < 0 || k >= FC_NODE_KIND__COUNT)
		return "unknown";
	return kind_names[k];
}
