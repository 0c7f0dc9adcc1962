/* cli.h - the command table of the `flexchain` CLI (internal to client/).
 *
 * `flexchain <group> <command> [options]`. A group is a table of commands;
 * main.c holds the table of groups. To add a group (tx, block, ledger,
 * cluster, ...): write cmd_<group>.c defining a `const struct fc_cli_group`,
 * declare it below and add it to `groups[]` in main.c.
 *
 * Exit codes: 0 success, 1 the command failed, 2 bad usage. Every error is
 * one line on stderr, "flexchain: <group> <command>: <what went wrong>".
 */
#ifndef FC_CLI_H
#define FC_CLI_H

#include <stddef.h>

enum { FC_CLI_OK = 0, FC_CLI_FAIL = 1, FC_CLI_USAGE = 2 };

struct fc_cli_cmd {
	const char *name;
	const char *summary; /* one line for the group's --help */
	/* argv[0] is the command name, options follow; returns an exit code.
	 * Handles its own --help (print usage to stdout, return FC_CLI_OK). */
	int (*run)(int argc, char **argv);
};

struct fc_cli_group {
	const char *name;
	const char *summary;
	const struct fc_cli_cmd *cmds;
	size_t n_cmds;
};

extern const struct fc_cli_group fc_cli_group_crypto;
extern const struct fc_cli_group fc_cli_group_ledger;
extern const struct fc_cli_group fc_cli_group_block;
extern const struct fc_cli_group fc_cli_group_cluster;
extern const struct fc_cli_group fc_cli_group_tx;
extern const struct fc_cli_group fc_cli_group_config;

/* Prints "flexchain: <where>: <message> (see 'flexchain <where> --help')" as
 * one line on stderr and returns FC_CLI_USAGE. */
int fc_cli_usage_error(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "flexchain: <where>: <message>" as one line on stderr and returns
 * FC_CLI_FAIL. */
int fc_cli_fail(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The end of a command's getopt_long switch, for the options every command
 * treats alike (`default: return fc_cli_opt_common(WHERE, c, argv, usage);`):
 * 'h' prints usage to stdout and returns FC_CLI_OK; ':' (an option without
 * its value) and anything else (an unknown option) print a usage error
 * naming argv[optind - 1] and return FC_CLI_USAGE. The caller returns what
 * it returns. usage may be NULL for a caller that handles 'h' itself.
 * Defined in main.c; for the cmd_*.c files. */
int fc_cli_opt_common(const char *where, int c, char *const *argv, const char *usage);

/* Defines `const struct fc_cli_group fc_cli_group_<name>` (declared above)
 * named "<name>" over the command table cmds (an array, not a pointer). */
#define FC_CLI_DEFINE_GROUP(name_, summary_, cmds_)                                                \
	const struct fc_cli_group fc_cli_group_##name_ = {                                         \
	    .name = #name_,                                                                        \
	    .summary = summary_,                                                                   \
	    .cmds = cmds_,                                                                         \
	    .n_cmds = sizeof cmds_ / sizeof cmds_[0],                                              \
	}

#endif
