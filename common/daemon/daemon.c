/* The daemons' shared command line (fc_daemon.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fc_daemon.h"
#include "fc_err.h"
#include "fc_log.h"

#define COMMON_SHORT ":c:i:l:h"
#define MAX_OPTS 32

static const struct option common_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"id", required_argument, NULL, 'i'},
    {"log-level", required_argument, NULL, 'l'},
    {"help", no_argument, NULL, 'h'},
};

int fc_daemon_bad_usage(const struct fc_daemon_cli *cli, const char *msg, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s (see '%s --help')\n", cli->prog, msg, arg ? " " : "",
		arg ? arg : "", cli->prog);
	return 2;
}

int fc_daemon_parse(const struct fc_daemon_cli *cli, int argc, char **argv,
		    struct fc_daemon_args *args)
{
	struct option longopts[MAX_OPTS];
	char shortopts[2 * MAX_OPTS + sizeof COMMON_SHORT];
	size_t n = 0, n_common = sizeof common_opts / sizeof common_opts[0];
	enum fc_log_level lvl;
	int c, st;

	memset(args, 0, sizeof *args);
	memcpy(longopts, common_opts, sizeof common_opts);
	n = n_common;
	for (const struct option *o = cli->extra; o && o->name && n < MAX_OPTS - 1; o++)
		longopts[n++] = *o;
	memset(&longopts[n], 0, sizeof longopts[n]);
	snprintf(shortopts, sizeof shortopts, "%s%s", COMMON_SHORT,
		 cli->extra_short ? cli->extra_short : "");

	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			args->config = optarg;
			break;
		case 'i':
			args->id = optarg;
			break;
		case 'l':
			if (fc_log_parse_level(optarg, &lvl) != FC_OK)
				return fc_daemon_bad_usage(cli, "bad log level", optarg);
			fc_log_set_level(lvl);
			break;
		case 'h':
			fputs(cli->usage, stdout);
			return 0;
		case ':':
			return fc_daemon_bad_usage(cli, "missing value for", argv[optind - 1]);
		case '?':
			return fc_daemon_bad_usage(cli, "unknown option", argv[optind - 1]);
		default:
			st = cli->on_extra
				 ? cli->on_extra(cli->ud, c, optarg)
				 : fc_daemon_bad_usage(cli, "unknown option", argv[optind - 1]);
			if (st != FC_DAEMON_RUN)
				return st;
			break;
		}
	}
	if (optind < argc)
		return fc_daemon_bad_usage(cli, "unexpected argument", argv[optind]);
	if (!args->config)
		return fc_daemon_bad_usage(cli, "missing --config", NULL);
	if (!args->id)
		return fc_daemon_bad_usage(cli, "missing --id", NULL);
	return FC_DAEMON_RUN;
}

int fc_daemon_load(const struct fc_daemon_cli *cli, const struct fc_daemon_args *args,
		   enum fc_node_kind kind, const char *what, struct fc_config **cfg)
{
	char errmsg[FC_ERRMSG_LEN] = "";
	int rc;

	*cfg = NULL;
	rc = fc_config_load(args->config, cfg, errmsg);
	if (rc != FC_OK) {
		fprintf(stderr, "%s: %s\n", cli->prog, errmsg);
		return rc;
	}
	if (what && !fc_config_find_node_kind(*cfg, kind, args->id)) {
		fprintf(stderr, "%s: %s: no %s with id '%s'\n", cli->prog, (*cfg)->path, what,
			args->id);
		fc_config_free(*cfg);
		*cfg = NULL;
		return FC_ENOTFOUND;
	}
	return FC_OK;
}

int fc_daemon_main(const struct fc_daemon_cli *cli, int argc, char **argv, enum fc_node_kind kind,
		   const char *what, fc_daemon_run_fn run)
{
	struct fc_daemon_args args;
	struct fc_config *cfg = NULL;
	char errmsg[FC_ERRMSG_LEN] = "";
	int rc;

	rc = fc_daemon_parse(cli, argc, argv, &args);
	if (rc != FC_DAEMON_RUN)
		return rc;
	if (fc_daemon_load(cli, &args, kind, what, &cfg) != FC_OK)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	rc = run(cfg, args.id, errmsg);
	fc_config_free(cfg);
	if (rc != FC_OK) {
		fprintf(stderr, "%s: %s\n", cli->prog, errmsg);
		return 1;
	}
	return 0;
}
