/*
 * config - the relay's one INI configuration file.
 *
 * Owns: reading and validating the file (sections server, tls, limits,
 * queue, retry, outbound, dns, delivery, store, suppression, srs, routes),
 * defaults, and the parsed struct below.  Unknown sections,
 * unknown keys and bad values are errors reported as "FILE:LINE: message";
 * nothing is silently ignored.  Sizes take K/M/G suffixes, times s/m/h/d.
 *
 * Callers: main (serve, config check, every subcommand's --config), the
 * server (limits), the scheduler (retry), SIGHUP reload (routes).
 */
#ifndef CLEANBOX_CONFIG_H
#define CLEANBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH	"/etc/cleanbox-relay/relay.conf"
#define CONFIG_MAX_LISTEN	16

struct route_table;

struct config_listen {
	char	host[256];	/* "127.0.0.1", "::1", "0.0.0.0", "::" */
	char	port[8];
};

enum outbound_tls { OUTBOUND_TLS_NONE, OUTBOUND_TLS_OPPORTUNISTIC, OUTBOUND_TLS_REQUIRE };
enum delivery_mode { DELIVERY_IN_SESSION, DELIVERY_QUEUE };
enum config_store_backend { CONFIG_STORE_SQLITE, CONFIG_STORE_POSTGRES };
enum config_routes_source { CONFIG_ROUTES_CONFIG, CONFIG_ROUTES_STORE };

struct config {
	char	path[4096];

	/* [server] */
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t	nlisten;		/* default: 127.0.0.1:2525 */
	char	hostname[256];		/* default: gethostname() */

	/* [tls] - STARTTLS offered only when both are set */
	char	tls_cert[4096];
	char	tls_key[4096];

	/* [limits] */
	size_t	max_message_size;	/* 25M */
	unsigned max_recipients;	/* 100 */
	unsigned max_connections;	/* 1000 */
	unsigned max_connections_per_ip;/* 50 */
	unsigned command_timeout;	/* seconds, 300 (RFC 5321 4.5.3.2.7) */
	unsigned data_timeout;		/* seconds, 600 (RFC 5321 4.5.3.2.6) */
	unsigned max_received_headers;	/* 50 */
	size_t	max_header_size;	/* 100K */
	size_t	max_line_length;	/* 1000, including CRLF */
	unsigned max_errors;		/* 10 bad commands, then 421 */

	/* [queue] */
	char	queue_dir[4096];	/* var/queue */

	/* [retry] (seconds) */
	unsigned retry_first;		/* 5m */
	double	retry_factor;		/* 2 */
	unsigned retry_max_interval;	/* 4h */
	double	retry_jitter;		/* 0.2 (written "20%" or "0.2") */
	unsigned retry_lifetime;	/* 3d */
	unsigned retry_delay_warning;	/* 0 = off */

	/* [outbound] */
	enum outbound_tls outbound_tls;	/* opportunistic */
	unsigned mx_port;		/* 25 */
	unsigned max_per_host;		/* 10 */

	/* [dns] */
	char	dns_resolver[300];	/* "" = system resolver; "127.0.0.1:5353" */
	char	dns_resolver_host[64];	/* "127.0.0.1", "::1" (no brackets) */
	unsigned dns_resolver_port;	/* 53 when not written; 0 when unset */

	/* [delivery] */
	enum delivery_mode delivery_mode;	/* in-session */
	bool	rcpt_check;			/* yes */
	unsigned in_session_budget;		/* 30s */
	bool	split_by_destination;		/* no */

	/* [store] - suppression list, bounce events (store.h) */
	enum config_store_backend store_backend;	/* sqlite */
	char	store_path[4096];		/* var/state.db (sqlite) */
	char	store_dsn[1024];		/* libpq conninfo (postgres) */

	/* [suppression] (suppress.h) */
	unsigned suppress_soft_threshold;	/* 5 consecutive soft failures */
	unsigned suppress_soft_window;		/* seconds, 3d */
	unsigned suppress_ttl;			/* seconds, 0 = never expire */

	/* [srs] - off while domain is "" (srs.h) */
	char	srs_domain[256];
	char	srs_secret[257];
	unsigned srs_max_age;			/* seconds, 21d */

	/* [routes] */
	struct route_table *routes;		/* the routes of the file */
	/*
	 * "source = store": the store's routes (cleanbox-relay route add) are
	 * added to cfg->routes by whoever opens the store (store_routes_load);
	 * config_load itself never touches the database.
	 */
	enum config_routes_source routes_source;	/* config */
};

/* Longest line accepted, in bytes without the line ending (see config.c). */
#define CONFIG_LINE_MAX		199
/* Largest configuration file read; big route tables belong in the store. */
#define CONFIG_FILE_MAX		(16u * 1024 * 1024)

/*
 * Fill cfg with defaults, then read path.  Every problem is printed to errs
 * (if not NULL) as "PATH:LINE: message", in line order.  Returns the number
 * of problems (0 = cfg is valid and complete) or -1 if the file cannot be
 * read (a message is printed too).  On success cfg owns cfg->routes (never
 * NULL; empty when there is no [routes]); release with config_free().  On
 * failure cfg->routes is NULL and nothing needs releasing (config_free is
 * still safe).  Re-entrant: no global state, so a SIGHUP reload may call it
 * on a fresh struct while the old one is in use.
 */
int	config_load(const char *path, struct config *cfg, FILE *errs);
void	config_free(struct config *cfg);
/* Fill cfg with the defaults only (no file); cfg->routes is NULL. */
void	config_init(struct config *cfg);

/*
 * Parsers for the value syntaxes, shared with subcommand options.  They
 * take the whole string (no surrounding blanks) and return 0 or -1.
 *   size:     digits with an optional K, M or G suffix (1024-based)
 *   duration: digits with s, m, h or d (a bare number is seconds); several
 *             may be combined, e.g. "1h30m"; the total must fit in unsigned
 */
int	config_parse_size(const char *s, size_t *out);
int	config_parse_duration(const char *s, unsigned *out);

#endif
