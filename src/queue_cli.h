/*
 * queue_cli - `cleanbox-relay queue list|show|retry|delete`.
 *
 * Works on the spool directory itself, so it also works while the relay is
 * stopped.  While the relay runs, `retry` and `delete` leave a request in
 * DIR/ctl/ and send SIGUSR1 to the pid in DIR/relay.pid: the relay rescans
 * the spool (picking up notices written here) and makes the requested
 * messages due now.  A deleted message's in-memory copy is dropped by the
 * relay when its next envelope update finds the file gone.
 */
#ifndef CLEANBOX_QUEUE_CLI_H
#define CLEANBOX_QUEUE_CLI_H

int	queue_cli_cmd(int argc, char **argv);

#endif
