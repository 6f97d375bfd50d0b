/*
 * bounce_cli - the `bounce` and `check` subcommands.
 *
 *   cleanbox-relay bounce explain [--json] FILE...|-
 *   cleanbox-relay bounce classify --reply N --status X.Y.Z --text T [--json]
 *   cleanbox-relay check ADDRESS... [--json] [--no-dns] [--resolver H:P]
 *
 * `bounce explain --json` prints exactly one JSON object per input file, one
 * per line: {"file": ..., "results": [...]} or {"file": ..., "error": ...};
 * the exit status is 1 if any file could not be read.  Each handler gets
 * argv starting at its own name and returns the exit status (2 = usage).
 *
 * Callers: main()'s subcommand table.
 */
#ifndef CLEANBOX_BOUNCE_CLI_H
#define CLEANBOX_BOUNCE_CLI_H

int	bounce_cli_cmd(int argc, char **argv);
int	check_cli_cmd(int argc, char **argv);

#endif
