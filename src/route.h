/*
 * route - recipient address -> destinations.
 *
 * Owns the route table built from [routes]:
 *   alice@example.test = maildir:/srv/mail/alice, smtp://10.0.0.5:25
 *   *@example.test     = bob@other.test          (catch-all)
 * Lookup order: exact address, then the address with a "+detail" suffix
 * removed (alice+news@ -> alice@, only when alice+news has no entry of its
 * own), then the domain's catch-all "*@domain".
 *
 * Case: domains are case-insensitive (RFC 5321 2.4).  Local parts are
 * case-sensitive in principle (RFC 5321 2.4), but we compare them
 * case-insensitively (ASCII only): users type "Alice@" and expect alice's
 * mail to arrive, and every MTA's alias lookup (Postfix, Exim, OpenSMTPD)
 * folds case the same way.  Keys are therefore stored lowercased, and two
 * keys differing only in case are duplicates.
 *
 * A domain is hosted when any key names it.  Destinations:
 *   maildir:PATH            a Maildir (PATH may be relative: to the cwd)
 *   smtp://HOST[:PORT]      an SMTP next hop; HOST a name, an IPv4 address
 *                           or [IPv6]; PORT defaults to 25
 *   user@domain             forward to another mailbox
 * A value lists one or more destinations separated by commas and/or
 * whitespace (so a Maildir path cannot contain either).
 *
 * Invariants: the table is immutable once built, so lookups from any number
 * of threads are safe without locks; a reload builds a new table.  Lookup
 * is one or two hash probes (O(1)) whatever the table size.
 *
 * Callers: config (building it from [routes]), smtp_server (RCPT), the
 * delivery engine, admin (config check).
 */
#ifndef CLEANBOX_ROUTE_H
#define CLEANBOX_ROUTE_H

#include <stddef.h>

enum dest_kind {
	DEST_MAILDIR,	/* maildir:/path        */
	DEST_SMTP,	/* smtp://host:port     */
	DEST_FORWARD,	/* user@other.domain    */
};

struct dest {
	enum dest_kind kind;
	char	*spec;		/* as written, for logs: "smtp://h:25" */
	char	*path;		/* DEST_MAILDIR: directory */
	char	*host;		/* DEST_SMTP: host (no brackets for IPv6) */
	unsigned port;		/* DEST_SMTP */
	char	*address;	/* DEST_FORWARD: target mailbox */
};

enum route_result {
	ROUTE_FOUND = 0,
	ROUTE_NOT_HOSTED = -1,	/* 550 5.7.1 relaying denied */
	ROUTE_NO_SUCH_USER = -2,/* 550 5.1.1 */
};

struct route_table;

/* Most destinations one key may fan out to. */
#define ROUTE_MAX_DESTS	100

/* Returns NULL when out of memory. */
struct route_table *route_table_new(void);
/*
 * Tables are reference counted so that a SIGHUP reload can replace the
 * table while sessions and queued deliveries still use the old one:
 * route_table_ref adds a holder, route_table_free drops one and frees the
 * table with the last.  Not thread-safe: the loop thread owns the counts.
 */
struct route_table *route_table_ref(struct route_table *rt);
void	route_table_free(struct route_table *rt);
/*
 * Parse one destination ("maildir:PATH", "smtp://HOST[:PORT]", "user@dom")
 * into d (zeroed by the caller).  0, or -1 with *why set.  Release the
 * strings with route_dest_clear().  Used for spooled destination specs.
 */
int	route_dest_parse(const char *s, size_t len, struct dest *d,
	    const char **why);
void	route_dest_clear(struct dest *d);
/* A TCP port 1..65535 in decimal digits only; 0 or -1.  Also for config. */
int	route_port_parse(const char *s, size_t len, unsigned *port);	/* NULL is a no-op */
/*
 * Add one "key = value" entry: key is "local@domain" or "*@domain", value
 * one or more destinations.  All or nothing: returns 0, or -1 with a
 * message in err (e.g. "bad destination 'ftp://x': ...") and the table
 * unchanged.  Duplicate keys (case-insensitively) are an error.
 */
int	route_table_add(struct route_table *rt, const char *key,
	    const char *value, char *err, size_t errlen);
/*
 * Check a destination list without adding it (config uses it to report a
 * bad destination on the continuation line that holds it).  An empty list
 * is fine here.  Returns the number of destinations, or -1 with err set.
 */
int	route_value_check(const char *value, char *err, size_t errlen);
/* Number of keys (exact and catch-all); NULL counts as 0. */
size_t	route_table_count(const struct route_table *rt);
/*
 * Look up local@domain (domain without brackets; an address literal is never
 * hosted).  On ROUTE_FOUND, *dests and *ndests point into the table, valid
 * until the table is freed.  A NULL table hosts nothing.
 */
enum route_result route_lookup(const struct route_table *rt,
	    const char *local, size_t local_len, const char *domain,
	    size_t domain_len, const struct dest **dests, size_t *ndests);
/*
 * Syntax check shared with config (hostname, listen hosts): a domain name of
 * letters, digits and hyphens (or UTF-8 bytes, RFC 6531 U-labels), labels
 * of 1..63 octets not starting or ending with '-', at most 255 octets, no
 * trailing dot.  Returns 1 if valid, else 0.
 */
int	route_domain_valid(const char *s, size_t len);
/* 1 if some key names domain (case-insensitively), else 0. */
int	route_domain_hosted(const struct route_table *rt, const char *domain,
	    size_t domain_len);

#endif
