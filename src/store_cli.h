/*
 * store_cli - operator commands over the store: the suppression list,
 * the bounce report, and stored routes.
 *
 *   cleanbox-relay suppress list [--all] [--json]
 *   cleanbox-relay suppress show DEST [--json]
 *   cleanbox-relay suppress add DEST [--reason R]
 *   cleanbox-relay suppress remove DEST
 *   cleanbox-relay suppress expire
 *   cleanbox-relay bounces report [--since 7d] [--top N] [--json]
 *   cleanbox-relay route list | add KEY DEST[,DEST...] | remove KEY
 *
 * Every command also takes --config FILE and opens the store [store]
 * names.  DEST is a destination key (suppress.h): a forward target
 * "user@domain", a recipient "user@domain", or "user@domain via
 * smtp://host:port"; letter case does not matter.  Exit status: 0 done,
 * 1 failed or not found, 2 usage.
 *
 * Callers: main's subcommand table.
 */
#ifndef CLEANBOX_STORE_CLI_H
#define CLEANBOX_STORE_CLI_H

int	suppress_cli_cmd(int argc, char **argv);
int	bounces_cli_cmd(int argc, char **argv);
int	route_cli_cmd(int argc, char **argv);

#endif
