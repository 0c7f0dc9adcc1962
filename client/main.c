/* flexchain - the command-line client: dispatch `flexchain <group> <command>`
 * to the command tables of cli.h. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef FLEXCHAIN_VERSION
#define FLEXCHAIN_VERSION "unknown"
#endif

static const struct fc_cli_group *const groups[] = {
    &fc_cli_group_crypto,
    &fc_cli_group_ledger,
    &fc_cli_group_block,
    &fc_cli_group_cluster,
    &fc_cli_group_tx,
    &fc_cli_group_config,
};
#define N_GROUPS (sizeof groups / sizeof groups[0])

static void vline(const char *where, const char *fmt, va_list ap, const char *tail)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One line, always: a message with a newline in it is cut there. */
	msg[strcspn(msg, "\n")] = '\0';
	fprintf(stderr, "flexchain: %s: %s%s\n", where, msg, tail);
}

int fc_cli_usage_error(const char *where, const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	snprintf(tail, sizeof tail, " (see 'flexchain %s --help')", where);
	va_start(ap, fmt);
	vline(where, fmt, ap, tail);
	va_end(ap);
	return FC_CLI_USAGE;
}

int fc_cli_fail(const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(where, fmt, ap, "");
	va_end(ap);
	return FC_CLI_FAIL;
}

int fc_cli_opt_common(const char *where, int c, char *const *argv, const char *usage)
{
	switch (c) {
	case 'h':
		if (usage)
			fputs(usage, stdout);
		return FC_CLI_OK;
	case ':':
		return fc_cli_usage_error(where, "missing value for %s", argv[optind - 1]);
	default:
		return fc_cli_usage_error(where, "unknown option '%s'", argv[optind - 1]);
	}
}

static int is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

static void top_usage(FILE *f)
{
	fprintf(f, "Usage: flexchain <group> <command> [options]\n"
		   "       flexchain <group> --help | flexchain --help | flexchain --version\n"
		   "\nThe flexchain command-line client.\n\nGroups:\n");
	for (size_t i = 0; i < N_GROUPS; i++)
		fprintf(f, "  %-10s %s\n", groups[i]->name, groups[i]->summary);
	fprintf(f, "\nRun 'flexchain <group> --help' for the commands of a group.\n");
}

static void group_usage(const struct fc_cli_group *g, FILE *f)
{
	fprintf(f, "Usage: flexchain %s <command> [options]\n\n%s.\n\nCommands:\n", g->name,
		g->summary);
	for (size_t i = 0; i < g->n_cmds; i++)
		fprintf(f, "  %-10s %s\n", g->cmds[i].name, g->cmds[i].summary);
	fprintf(f, "\nRun 'flexchain %s <command> --help' for its options.\n", g->name);
}

static int run_group(const struct fc_cli_group *g, int argc, char **argv)
{
	if (argc < 2)
		return fc_cli_usage_error(g->name, "missing command");
	if (is_help(argv[1])) {
		group_usage(g, stdout);
		return FC_CLI_OK;
	}
	for (size_t i = 0; i < g->n_cmds; i++)
		if (strcmp(argv[1], g->cmds[i].name) == 0)
			return g->cmds[i].run(argc - 1, argv + 1);
	return fc_cli_usage_error(g->name, "unknown command '%s'", argv[1]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "flexchain: missing group (see 'flexchain --help')\n");
		return FC_CLI_USAGE;
	}
	if (is_help(argv[1])) {
		top_usage(stdout);
		return FC_CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("flexchain %s\n", FLEXCHAIN_VERSION);
		return FC_CLI_OK;
	}
	for (size_t i = 0; i < N_GROUPS; i++)
		if (strcmp(argv[1], groups[i]->name) == 0)
			return run_group(groups[i], argc - 1, argv + 1);
	if (argv[1][0] == '-')
		fprintf(stderr, "flexchain: unknown option '%s' (see 'flexchain --help')\n",
			argv[1]);
	else
		fprintf(stderr, "flexchain: unknown group '%s' (see 'flexchain --help')\n",
			argv[1]);
	return FC_CLI_USAGE;
}
