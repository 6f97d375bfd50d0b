/*
 * route - recipient address -> destinations.
 *
 * Owns the route table built from [routes]:
 *   alice@example.test = maildir:/srv/mail/alice, smtp://10.0.0.5:25
 *   *@example.test     = bob@other.test          (catch-all)
 * Lookup order: exact address (local part case-sensitive as RFC 5321 says,
 * compared case-insensitively in practice like every MTA; domain
 * case-insensitive), then the address with a "+detail" suffix removed
 * (alice+news@ -> alice@), then the domain's catch-all.  A domain is hosted
 * when any key names it.
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

struct route_table *route_table_new(void);
void	route_table_free(struct route_table *rt);
/*
 * Add one "key = value" entry.  Returns 0, or -1 with a message in err
 * (e.g. "bad destination 'ftp://x'").  Duplicate keys are an error.
 */
int	route_table_add(struct route_table *rt, const char *key,
	    const char *value, char *err, size_t errlen);
size_t	route_table_count(const struct route_table *rt);
/*
 * Look up local@domain (domain without brackets; an address literal is never
 * hosted).  On ROUTE_FOUND *dests and *ndests point into the table, valid until
 * the table is freed.
 */
enum route_result route_lookup(const struct route_table *rt,
	    const char *local, size_t local_len, const char *domain,
	    size_t domain_len, const struct dest **dests, size_t *ndests);
int	route_domain_hosted(const struct route_table *rt, const char *domain,
	    size_t domain_len);

#endif
