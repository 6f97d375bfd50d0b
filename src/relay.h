/*
 * relay - the `serve` subcommand: the daemon's life cycle.
 *
 * Owns start-up (config, TLS context, listeners, worker threads), signals
 * (SIGTERM/SIGINT: graceful stop with a deadline; SIGHUP: reload routes
 * without dropping sessions) and the event loop.
 */
#ifndef CLEANBOX_RELAY_H
#define CLEANBOX_RELAY_H

int	relay_serve_cmd(int argc, char **argv);

#endif
