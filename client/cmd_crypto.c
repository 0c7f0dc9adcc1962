/* `flexchain crypto ...`: key material for a cluster.
 *
 * `crypto generate` plays the part of Fabric's cryptogen: from the cluster
 * YAML it makes one CA per organisation and a certificate and key for every
 * node and one client per organisation, in the layout of fc_crypto.h
 * ("IDENTITY LAYOUT ON DISK"), so that daemons find them with
 * fc_identity_paths().
 *
 * `crypto issue` adds one identity with an organisation's existing CA: the
 * scale scripts use it for a compute server or memory node that joins a
 * running cluster under an id the YAML does not name. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fc_config.h"
#include "fc_crypto.h"
#include "fc_err.h"
#include "fc_mem.h"

#define WHERE "crypto generate"

static const char generate_usage[] =
    "Usage: flexchain crypto generate --config FILE [--out DIR] [--force] [--days N]\n"
    "\n"
    "Creates the X.509 identities of a cluster: for every organisation of the\n"
    "configuration a CA, a certificate and private key for each of its orderers,\n"
    "storage replicas, memory nodes and compute servers, and one client identity.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE  cluster configuration (YAML)\n"
    "  -o, --out DIR      where to write (default: the configuration's crypto_dir)\n"
    "  -f, --force        overwrite existing material (all of it is regenerated)\n"
    "  -d, --days N       validity of every certificate in days (default 3650)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Layout under DIR (directories 0700, keys 0600):\n"
    "  <org>/ca/ca.crt, ca.key\n"
    "  <org>/<role>/<id>/cert.pem, key.pem     role: orderer, storage, memory, compute\n"
    "  <org>/client/client.<org>/cert.pem, key.pem\n";

/* One identity to write: role NULL is the organisation's CA. */
struct item {
	size_t org;
	const char *role;
	const char *id;
	const char *host;
	char dir[PATH_MAX];
	char cert[PATH_MAX];
	char key[PATH_MAX];
};

struct plan {
	struct item *items;
	size_t n;
	char (*client_ids)[FC_CONFIG_NAME_MAX + 16];
};

/* mkdir -p with mode 0700 for what it creates. */
static int mkdir_p(const char *path, char *errmsg)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return fc_errf(errmsg, FC_EINVAL, "bad directory '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return fc_errf(errmsg, fc_err_from_errno(errno), "mkdir %s: %s", buf,
				       strerror(errno));
		struct stat st;
		if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
			return fc_errf(errmsg, FC_EIO, "%s is not a directory", buf);
		*p = saved;
		if (saved == '\0')
			break;
	}
	return FC_OK;
}

static int build_plan(const struct fc_config *cfg, const char *out, struct plan *pl, char *errmsg)
{
	int rc = FC_OK;
	size_t cap = cfg->n_nodes + 2 * cfg->n_orgs;

	pl->items = fc_calloc(cap, sizeof *pl->items);
	pl->client_ids = fc_calloc(cfg->n_orgs ? cfg->n_orgs : 1, sizeof *pl->client_ids);
	if (!pl->items || !pl->client_ids)
		return fc_errf(errmsg, FC_ENOMEM, "out of memory");
	for (size_t o = 0; o < cfg->n_orgs; o++) {
		const char *org = cfg->orgs[o].name;
		/* The CA first: the org's other items are issued by it. */
		struct item *it = &pl->items[pl->n++];
		it->org = o;
		for (size_t i = 0; i < cfg->n_nodes; i++) {
			const struct fc_config_node *n = &cfg->nodes[i];
			if (n->org_index != o)
				continue;
			it = &pl->items[pl->n++];
			it->org = o;
			it->role = fc_config_node_kind_name(n->kind);
			it->id = n->id;
			it->host = n->host;
		}
		rc =
		    fc_identity_client_id(org, pl->client_ids[o], sizeof pl->client_ids[o], errmsg);
		if (rc != FC_OK)
			return rc;
		it = &pl->items[pl->n++];
		it->org = o;
		it->role = FC_IDENTITY_ROLE_CLIENT;
		it->id = pl->client_ids[o];
	}
	for (size_t i = 0; i < pl->n; i++) {
		struct item *it = &pl->items[i];
		rc = fc_identity_paths(out, cfg->orgs[it->org].name, it->role, it->id, it->dir,
				       it->cert, it->key, PATH_MAX, errmsg);
		if (rc != FC_OK)
			return rc;
	}
	return FC_OK;
}

static void free_plan(struct plan *pl)
{
	fc_free(pl->items);
	fc_free(pl->client_ids);
}

/* Returns the first file of the plan that exists, or NULL. Counts them. */
static const char *existing(const struct plan *pl, size_t *count)
{
	const char *first = NULL;
	struct stat st;

	*count = 0;
	for (size_t i = 0; i < pl->n; i++) {
		const char *paths[2] = {pl->items[i].cert, pl->items[i].key};
		for (int j = 0; j < 2; j++) {
			if (lstat(paths[j], &st) == 0) {
				if (!first)
					first = paths[j];
				(*count)++;
			}
		}
	}
	return first;
}

static int write_pair(const fc_cert *cert, const fc_key *key, const struct item *it, unsigned flags,
		      char *errmsg)
{
	int rc = mkdir_p(it->dir, errmsg);
	if (rc == FC_OK)
		rc = fc_crypto_key_save_pem(key, it->key, flags, errmsg);
	if (rc == FC_OK)
		rc = fc_crypto_cert_save_pem(cert, it->cert, flags, errmsg);
	return rc;
}

static int generate(const struct fc_config *cfg, const struct plan *pl, unsigned days,
		    unsigned flags, char *errmsg)
{
	int rc = FC_OK;
	fc_key *ca_key = NULL;
	fc_cert *ca = NULL;
	size_t n_ids = 0;

	for (size_t i = 0; i < pl->n && rc == FC_OK; i++) {
		const struct item *it = &pl->items[i];
		const char *org = cfg->orgs[it->org].name;
		fc_key *key = NULL;
		fc_cert *cert = NULL;

		if (!it->role) {
			fc_crypto_key_free(ca_key);
			fc_crypto_cert_free(ca);
			ca_key = NULL;
			ca = NULL;
			rc = fc_crypto_ca_create(org, days, &ca_key, &ca, errmsg);
			if (rc == FC_OK)
				rc = write_pair(ca, ca_key, it, flags, errmsg);
			if (rc == FC_OK)
				printf("%-6s %-9s %-16s %s\n", org, "ca", fc_crypto_cert_cn(ca),
				       it->dir);
			continue;
		}
		const char *hosts[1] = {it->host};
		struct fc_crypto_issue_opts o = {
		    .org = org,
		    .cn = it->id,
		    .ou = it->role,
		    .hosts = hosts,
		    .n_hosts = it->host && *it->host ? 1 : 0,
		    .validity_days = days,
		};
		rc = fc_crypto_key_generate(&key, errmsg);
		if (rc == FC_OK)
			rc = fc_crypto_cert_issue(ca, ca_key, key, &o, &cert, errmsg);
		if (rc == FC_OK)
			rc = write_pair(cert, key, it, flags, errmsg);
		if (rc == FC_OK) {
			printf("%-6s %-9s %-16s %s\n", org, it->role, it->id, it->dir);
			n_ids++;
		}
		fc_crypto_cert_free(cert);
		fc_crypto_key_free(key);
	}
	fc_crypto_key_free(ca_key);
	fc_crypto_cert_free(ca);
	if (rc == FC_OK)
		printf("wrote %zu CA%s and %zu identit%s\n", cfg->n_orgs,
		       cfg->n_orgs == 1 ? "" : "s", n_ids, n_ids == 1 ? "y" : "ies");
	return rc;
}

/* The options `crypto generate` and `crypto issue` share: --config, --out,
 * --force, --days, --help and the errors of getopt_long. */
struct common_opts {
	const char *config_path;
	const char *out;
	int force;
	unsigned long days;
};

/* Returned by common_opt when the option was taken and parsing goes on. */
#define OPT_TAKEN (-1)

/* Takes option c (getopt_long's return, optarg set) into co: OPT_TAKEN, or
 * the exit code the command returns (help printed, usage error). */
static int common_opt(const char *where, const char *usage, int c, char **argv,
		      struct common_opts *co)
{
	switch (c) {
	case 'c':
		co->config_path = optarg;
		return OPT_TAKEN;
	case 'o':
		co->out = optarg;
		return OPT_TAKEN;
	case 'f':
		co->force = 1;
		return OPT_TAKEN;
	case 'd': {
		char *end = NULL;
		errno = 0;
		co->days = strtoul(optarg, &end, 10);
		if (errno || !end || *end || optarg[0] == '-' || co->days < 1 || co->days > 36500)
			return fc_cli_usage_error(
			    where, "--days '%s' is not a number of days in 1..36500", optarg);
		return OPT_TAKEN;
	}
	case 'h':
		fputs(usage, stdout);
		return FC_CLI_OK;
	case ':':
		return fc_cli_usage_error(where, "option '%s' needs a value", argv[optind - 1]);
	default:
		if (optopt)
			return fc_cli_usage_error(where, "unknown option '-%c'", optopt);
		return fc_cli_usage_error(where, "unknown option '%s'", argv[optind - 1]);
	}
}

static int cmd_generate(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},	      {"days", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct common_opts co = {0};
	const char *out;
	int c;
	int ret = FC_CLI_OK;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	struct plan pl = {0};
	char abs_out[PATH_MAX];

	optind = 0; /* glibc: full re-initialisation for this argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:o:fd:h", longopts, NULL)) != -1) {
		int orc = common_opt(WHERE, generate_usage, c, argv, &co);
		if (orc != OPT_TAKEN)
			return orc;
	}
	if (optind < argc)
		return fc_cli_usage_error(WHERE, "unexpected argument '%s'", argv[optind]);
	if (!co.config_path)
		return fc_cli_usage_error(WHERE, "--config FILE is required");

	if (fc_config_load(co.config_path, &cfg, errmsg) != FC_OK)
		return fc_cli_fail(WHERE, "%s", errmsg);
	out = co.out ? co.out : cfg->crypto_dir;
	if (strlen(out) >= sizeof abs_out - 256) {
		ret = fc_cli_fail(WHERE, "output directory path is too long");
		goto free_cfg;
	}
	/* Strip trailing slashes so that printed paths look right. */
	snprintf(abs_out, sizeof abs_out, "%s", out);
	for (size_t l = strlen(abs_out); l > 1 && abs_out[l - 1] == '/'; l--)
		abs_out[l - 1] = '\0';

	if (build_plan(cfg, abs_out, &pl, errmsg) != FC_OK) {
		ret = fc_cli_fail(WHERE, "%s", errmsg);
		goto free_plan;
	}
	if (!co.force) {
		size_t n = 0;
		const char *first = existing(&pl, &n);
		if (first) {
			ret = fc_cli_fail(WHERE,
					  "refusing to overwrite existing crypto material in "
					  "%s (%zu file%s, e.g. %s); use --force to regenerate it",
					  abs_out, n, n == 1 ? "" : "s", first);
			goto free_plan;
		}
	}
	if (mkdir_p(abs_out, errmsg) != FC_OK) {
		ret = fc_cli_fail(WHERE, "%s", errmsg);
		goto free_plan;
	}
	if (generate(cfg, &pl, (unsigned)co.days, co.force ? FC_CRYPTO_OVERWRITE : 0, errmsg) !=
	    FC_OK) {
		ret = fc_cli_fail(WHERE, "%s", errmsg);
		goto free_plan;
	}
	printf("crypto material for cluster '%s' is in %s\n", cfg->name, abs_out);
free_plan:
	free_plan(&pl);
free_cfg:
	fc_config_free(cfg);
	return ret;
}

#define ISSUE_WHERE "crypto issue"

static const char issue_usage[] =
    "Usage: flexchain crypto issue --config FILE --org ORG --kind KIND --id ID\n"
    "                              [--host H]... [--out DIR] [--force] [--days N]\n"
    "\n"
    "Issues one new identity (certificate and private key) with the existing CA\n"
    "of organisation ORG, for a node that joins a running cluster. The files go\n"
    "where daemons look for them: DIR/ORG/KIND/ID/cert.pem and key.pem.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE  cluster configuration (YAML)\n"
    "  -g, --org ORG      organisation whose CA signs (must be in the configuration)\n"
    "  -k, --kind KIND    compute, memory, storage or orderer (the certificate's OU)\n"
    "  -i, --id ID        node id (the certificate's CN); if the configuration names\n"
    "                     it, its organisation and kind must match and its host is\n"
    "                     added to the subjectAltNames\n"
    "  -H, --host H       an extra subjectAltName (IP or DNS name); repeatable, up to 8\n"
    "  -o, --out DIR      crypto tree holding ORG/ca/ca.crt and ca.key (default: the\n"
    "                     configuration's crypto_dir and the org's CA paths)\n"
    "  -f, --force        replace an existing identity with that id\n"
    "  -d, --days N       validity in days (default 3650)\n"
    "  -h, --help         show this help\n";

#define ISSUE_HOSTS_MAX 9

static int parse_kind(const char *s, enum fc_node_kind *out)
{
	for (int k = 0; k < FC_NODE_KIND__COUNT; k++) {
		if (strcmp(s, fc_config_node_kind_name((enum fc_node_kind)k)) == 0) {
			*out = (enum fc_node_kind)k;
			return 0;
		}
	}
	return -1;
}

static int cmd_issue(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"org", required_argument, NULL, 'g'},
	    {"kind", required_argument, NULL, 'k'},   {"id", required_argument, NULL, 'i'},
	    {"host", required_argument, NULL, 'H'},   {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},	      {"days", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct common_opts co = {0};
	const char *org_name = NULL, *kind_name = NULL, *id = NULL;
	const char *hosts[ISSUE_HOSTS_MAX];
	size_t n_hosts = 0;
	enum fc_node_kind kind = FC_NODE_COMPUTE;
	int c;
	int ret = FC_CLI_OK;
	char errmsg[FC_ERRMSG_LEN] = "";
	struct fc_config *cfg = NULL;
	fc_key *ca_key = NULL, *key = NULL;
	fc_cert *ca = NULL, *cert = NULL;
	struct item it = {0};
	char ca_cert_path[PATH_MAX], ca_key_path[PATH_MAX], tree[PATH_MAX];

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:g:k:i:H:o:fd:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			org_name = optarg;
			break;
		case 'k':
			kind_name = optarg;
			if (parse_kind(optarg, &kind) != 0)
				return fc_cli_usage_error(ISSUE_WHERE,
							  "--kind '%s' is not one of compute, "
							  "memory, storage, orderer",
							  optarg);
			break;
		case 'i':
			id = optarg;
			break;
		case 'H':
			if (n_hosts >= ISSUE_HOSTS_MAX - 1)
				return fc_cli_usage_error(ISSUE_WHERE,
							  "more than %d --host options",
							  ISSUE_HOSTS_MAX - 1);
			hosts[n_hosts++] = optarg;
			break;
		default: {
			int orc = common_opt(ISSUE_WHERE, issue_usage, c, argv, &co);
			if (orc != OPT_TAKEN)
				return orc;
		}
		}
	}
	if (optind < argc)
		return fc_cli_usage_error(ISSUE_WHERE, "unexpected argument '%s'", argv[optind]);
	if (!co.config_path)
		return fc_cli_usage_error(ISSUE_WHERE, "--config FILE is required");
	if (!org_name)
		return fc_cli_usage_error(ISSUE_WHERE, "--org ORG is required");
	if (!kind_name)
		return fc_cli_usage_error(ISSUE_WHERE, "--kind KIND is required");
	if (!id || !*id)
		return fc_cli_usage_error(ISSUE_WHERE, "--id ID is required");

	if (fc_config_load(co.config_path, &cfg, errmsg) != FC_OK)
		return fc_cli_fail(ISSUE_WHERE, "%s", errmsg);
	const struct fc_config_org *org = fc_config_find_org(cfg, org_name);
	if (!org) {
		ret = fc_cli_fail(ISSUE_WHERE, "organisation '%s' is not in %s", org_name,
				  co.config_path);
		goto free_cfg;
	}
	/* An id the configuration already names keeps its organisation and
	 * kind: a second certificate under another OU or O would let one node
	 * id stand for two different principals. */
	const struct fc_config_node *known = fc_config_find_node(cfg, id);
	if (known) {
		if (known->kind != kind ||
		    strcmp(cfg->orgs[known->org_index].name, org_name) != 0) {
			ret = fc_cli_fail(ISSUE_WHERE, "'%s' is a %s of %s in %s, not a %s of %s",
					  id, fc_config_node_kind_name(known->kind),
					  cfg->orgs[known->org_index].name, co.config_path,
					  kind_name, org_name);
			goto free_cfg;
		}
		if (known->host && *known->host)
			hosts[n_hosts++] = known->host;
	}

	snprintf(tree, sizeof tree, "%s", co.out ? co.out : cfg->crypto_dir);
	for (size_t l = strlen(tree); l > 1 && tree[l - 1] == '/'; l--)
		tree[l - 1] = '\0';
	if (co.out) {
		if (fc_identity_paths(tree, org_name, NULL, NULL, NULL, ca_cert_path, ca_key_path,
				      PATH_MAX, errmsg) != FC_OK) {
			ret = fc_cli_fail(ISSUE_WHERE, "%s", errmsg);
			goto free_cfg;
		}
	} else {
		snprintf(ca_cert_path, sizeof ca_cert_path, "%s", org->ca_cert);
		snprintf(ca_key_path, sizeof ca_key_path, "%s", org->ca_key);
	}
	if (fc_identity_paths(tree, org_name, fc_config_node_kind_name(kind), id, it.dir, it.cert,
			      it.key, PATH_MAX, errmsg) != FC_OK) {
		ret = fc_cli_fail(ISSUE_WHERE, "%s", errmsg);
		goto free_cfg;
	}
	if (!co.force) {
		struct stat st;
		const char *there = lstat(it.cert, &st) == 0  ? it.cert
				    : lstat(it.key, &st) == 0 ? it.key
							      : NULL;
		if (there) {
			ret = fc_cli_fail(ISSUE_WHERE,
					  "refusing to overwrite the existing identity %s; use "
					  "--force to replace it",
					  there);
			goto free_cfg;
		}
	}

	if (fc_crypto_cert_load_pem(ca_cert_path, &ca, errmsg) != FC_OK ||
	    fc_crypto_key_load_pem(ca_key_path, &ca_key, errmsg) != FC_OK) {
		ret =
		    fc_cli_fail(ISSUE_WHERE, "CA of %s: %s (run 'flexchain crypto generate' first)",
				org_name, errmsg);
		goto free_keys;
	}
	if (strcmp(fc_crypto_cert_org(ca), org_name) != 0) {
		ret = fc_cli_fail(ISSUE_WHERE, "%s is the CA of '%s', not of '%s'", ca_cert_path,
				  fc_crypto_cert_org(ca), org_name);
		goto free_keys;
	}
	struct fc_crypto_issue_opts o = {
	    .org = org_name,
	    .cn = id,
	    .ou = fc_config_node_kind_name(kind),
	    .hosts = hosts,
	    .n_hosts = n_hosts,
	    .validity_days = (unsigned)co.days,
	};
	if (fc_crypto_key_generate(&key, errmsg) != FC_OK ||
	    fc_crypto_cert_issue(ca, ca_key, key, &o, &cert, errmsg) != FC_OK ||
	    write_pair(cert, key, &it, co.force ? FC_CRYPTO_OVERWRITE : 0, errmsg) != FC_OK) {
		ret = fc_cli_fail(ISSUE_WHERE, "%s %s of %s: %s", kind_name, id, org_name, errmsg);
		goto free_keys;
	}
	printf("%-6s %-9s %-16s %s\n", org_name, kind_name, id, it.dir);
free_keys:
	fc_crypto_cert_free(cert);
	fc_crypto_key_free(key);
	fc_crypto_cert_free(ca);
	fc_crypto_key_free(ca_key);
free_cfg:
	fc_config_free(cfg);
	return ret;
}

static const struct fc_cli_cmd crypto_cmds[] = {
    {"generate", "create CAs, node and client certificates for a cluster", cmd_generate},
    {"issue", "issue one node identity with an organisation's existing CA", cmd_issue},
};

FC_CLI_DEFINE_GROUP(crypto, "Key material: certificates and keys of a cluster", crypto_cmds);
