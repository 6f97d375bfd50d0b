/*
 * admin - the command-line subcommands (other than serve).
 *
 * Each subcommand is a function taking (argc, argv) with argv[0] the
 * subcommand's own name; it returns the process exit status.  main() picks
 * one from its table by name.
 */
#ifndef CLEANBOX_ADMIN_H
#define CLEANBOX_ADMIN_H

/* Find "--config FILE" / "--config=FILE" in argv; default if absent. */
const char *admin_config_path(int argc, char **argv);

int	admin_config_cmd(int argc, char **argv);	/* config check */

#endif
