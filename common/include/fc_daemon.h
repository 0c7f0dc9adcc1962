/* fc_daemon.h - the command line every flexchain daemon shares:
 *
 *   PROG --config FILE --id ID [--log-level LEVEL] [-h|--help] [extra options]
 *
 * fc_daemon_parse() runs getopt_long over the common options plus a caller's
 * table of extra ones (handed to a callback), applies --log-level, prints the
 * caller's usage text for --help and one line on stderr for bad usage:
 *
 *   PROG: <what> [<arg>] (see 'PROG --help')
 *
 * fc_daemon_load() then loads the configuration and, when asked, checks that
 * ID is a node of the daemon's kind. Daemons (storage-pool, memory-pool,
 * compute, orderer main.c) use it; exit statuses follow the daemons' rule:
 * 0 after --help, 2 on bad usage.
 *
 * Nothing here keeps state; strings point into argv (owned by the caller).
 * fc_daemon_main() wraps both around a run function for the daemons that
 * need nothing else. The configuration fc_daemon_load() returns is the caller's to
 * fc_config_free(). */
#ifndef FC_DAEMON_H
#define FC_DAEMON_H

#include <getopt.h>

#include "fc_config.h"

/* fc_daemon_parse() return value: go on and run the daemon. */
#define FC_DAEMON_RUN (-1)

struct fc_daemon_cli {
	const char *prog;  /* "flexchain-storage": prefix of every message */
	const char *usage; /* printed on stdout for -h/--help */
	/* Extra options (getopt_long entries with a short val, ending with an
	 * all-zero entry) and their short-option string ("o:H:p:"); NULL, NULL
	 * when the daemon has none. They must not reuse c, i, l or h. */
	const struct option *extra;
	const char *extra_short;
	/* Called for each extra option in command-line order with its short
	 * val and argument (NULL for no_argument); returns FC_DAEMON_RUN to go
	 * on or an exit status (e.g. fc_daemon_bad_usage()'s 2). */
	int (*on_extra)(void *ud, int val, const char *arg);
	void *ud;
};

struct fc_daemon_args {
	const char *config; /* --config, never NULL after FC_DAEMON_RUN */
	const char *id;	    /* --id, never NULL after FC_DAEMON_RUN */
};

/* Parses argv (see above). Returns FC_DAEMON_RUN with args filled in, or the
 * status main() should exit with at once (0 after --help, 2 on bad usage,
 * or what on_extra returned). */
int fc_daemon_parse(const struct fc_daemon_cli *cli, int argc, char **argv,
		    struct fc_daemon_args *args);

/* Prints "PROG: msg[ arg] (see 'PROG --help')" on stderr; returns 2. */
int fc_daemon_bad_usage(const struct fc_daemon_cli *cli, const char *msg, const char *arg);

/* Loads args->config into *cfg. With what != NULL also requires args->id to
 * be a node of the given kind, else prints "PROG: PATH: no <what> with id
 * 'ID'" (what is e.g. "storage replica"). Any failure is printed as one line
 * on stderr, leaves *cfg NULL and returns its code (FC_ENOTFOUND for a
 * missing node). */
int fc_daemon_load(const struct fc_daemon_cli *cli, const struct fc_daemon_args *args,
		   enum fc_node_kind kind, const char *what, struct fc_config **cfg);

/* The whole main() of a daemon whose run function needs only the
 * configuration and its id: parse, load and check the node's kind (exit 2 on
 * failure), ignore SIGPIPE, run(cfg, id, errmsg) and free the configuration.
 * Returns the exit status: 0 when run returns FC_OK, 1 (after printing
 * "PROG: errmsg") when it fails, else what parsing or loading gave. */
typedef int (*fc_daemon_run_fn)(const struct fc_config *cfg, const char *id, char *errmsg);
int fc_daemon_main(const struct fc_daemon_cli *cli, int argc, char **argv, enum fc_node_kind kind,
		   const char *what, fc_daemon_run_fn run);

#endif
