/*
 * admin - subcommands that inspect configuration and state.  See admin.h.
 */
#include "admin.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "route.h"

const char *
admin_config_path(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], "--config=", 9) == 0)
			return argv[i] + 9;
	}
	return CONFIG_DEFAULT_PATH;
}

int
admin_config_cmd(int argc, char **argv)
{
	struct config cfg;
	const char *path;
	int n;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: cleanbox-relay config check [--config FILE]\n");
		return 2;
	}
	path = admin_config_path(argc, argv);
	n = config_load(path, &cfg, stderr);
	if (n != 0) {
		if (n > 0)
			fprintf(stderr, "%s: %d problem%s\n", path, n, n == 1 ? "" : "s");
		return 1;
	}
	printf("%s: OK (%zu listener%s, %zu route%s)\n", path, cfg.nlisten,
	    cfg.nlisten == 1 ? "" : "s", route_table_count(cfg.routes),
	    route_table_count(cfg.routes) == 1 ? "" : "s");
	config_free(&cfg);
	return 0;
}
