/*
 * cleanbox-relay - one binary, several subcommands.
 *
 * The table below maps a subcommand name to its handler; each handler gets
 * argv starting at the subcommand's name and returns the exit status.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "bounce_cli.h"
#include "queue_cli.h"
#include "relay.h"
#include "store_cli.h"

struct subcommand {
	const char *name;
	int	(*run)(int argc, char **argv);
	const char *usage;
};

static const struct subcommand subcommands[] = {
	{ "serve", relay_serve_cmd, "serve [--config FILE]" },
	{ "config", admin_config_cmd, "config check [--config FILE]" },
	{ "queue", queue_cli_cmd,
	    "queue list|show ID|retry ID|--all|delete ID [--silent] [--config FILE]" },
	{ "bounce", bounce_cli_cmd,
	    "bounce explain [--json] FILE...|-  /  bounce classify --reply N --status X.Y.Z --text T [--json]" },
	{ "check", check_cli_cmd, "check ADDRESS... [--json] [--no-dns]" },
	{ "suppress", suppress_cli_cmd,
	    "suppress list [--all] [--json]|show DEST|add DEST [--reason R]|remove DEST|expire [--config FILE]" },
	{ "bounces", bounces_cli_cmd,
	    "bounces report [--since 7d] [--top N] [--json] [--config FILE]" },
	{ "route", route_cli_cmd,
	    "route list|add KEY DEST[,DEST...]|remove KEY [--config FILE]" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cleanbox-relay COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  cleanbox-relay %s\n", subcommands[i].usage);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cleanbox-relay: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
