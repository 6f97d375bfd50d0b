/*
 * dns - asynchronous MX and address lookups (c-ares on the libevent loop).
 *
 * Owns: one c-ares channel per resolver, the libevent events that drive its
 * sockets and its timeout, and the turning of DNS answers into the mail
 * routing facts of RFC 5321 section 5.1:
 *   - MX records sorted by preference, equal preferences shuffled
 *     (RFC 5321 5.1: "the SMTP client SHOULD randomize them");
 *   - every MX target resolved to its A and AAAA addresses;
 *   - no MX record at all -> the domain itself is the implicit MX, with its
 *     own A/AAAA addresses;
 *   - a null MX (RFC 7505: the single record "0 .") -> permanent 5.1.10;
 *   - NXDOMAIN -> permanent 5.1.2; no MX and no address -> permanent 5.1.2;
 *   - MX targets of which none has an address -> permanent 5.4.4;
 *   - SERVFAIL, REFUSED, timeouts, malformed answers -> temporary (4.4.3).
 *
 * Invariants: a user callback is called exactly once per lookup, always
 * from the event loop (never from inside dns_resolve_*), and never after the
 * lookup was cancelled or the resolver freed.  The result handed to the
 * callback is valid only during the callback: copy what you keep.
 *
 * Callers: the delivery engine (MX lookups for forwarded addresses, address
 * lookups for smtp://name:port destinations), address checks.
 */
#ifndef CLEANBOX_DNS_H
#define CLEANBOX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct event_base;
struct dns_resolver;
struct dns_query;

/* Caps enforced before allocation; real domains stay far below them. */
#define DNS_MAX_HOSTS	16	/* MX hosts kept per domain (by preference) */
#define DNS_MAX_ADDRS	8	/* addresses kept per host */
#define DNS_NAME_MAX	256	/* 255 octets + NUL (RFC 1035 2.3.4) */

enum dns_status {
	DNS_OK = 0,
	DNS_TEMPFAIL,	/* SERVFAIL, REFUSED, timeout, bad answer: 4.4.3 */
	DNS_NXDOMAIN,	/* the domain does not exist: 5.1.2 */
	DNS_NULLMX,	/* RFC 7505 null MX: 5.1.10 */
	DNS_NODATA,	/* neither MX nor address records: 5.1.2 */
	DNS_NOADDR,	/* MX hosts exist but none has an address: 5.4.4 */
};

struct dns_addr {
	struct sockaddr_storage sa;	/* port 0; AF_INET or AF_INET6 */
	socklen_t salen;
	char	text[INET6_ADDRSTRLEN];	/* "127.0.0.1", "::1" */
};

struct dns_host {
	char	name[DNS_NAME_MAX];	/* MX target, without trailing dot */
	unsigned pref;			/* MX preference; 0 for implicit MX */
	size_t	naddrs;
	struct dns_addr addrs[DNS_MAX_ADDRS];
};

struct dns_mx_result {
	enum dns_status status;
	const char *domain;		/* as asked */
	bool	implicit;		/* no MX: hosts[0] is the domain itself */
	size_t	nhosts;			/* > 0 only when status == DNS_OK */
	const struct dns_host *hosts;	/* in the order to try */
	const char *error;		/* human text for logs/DSNs; "" if OK */
};

typedef void (*dns_cb)(const struct dns_mx_result *res, void *arg);

struct dns_opts {
	unsigned timeout_ms;	/* per try; default 3000 */
	unsigned tries;		/* default 3 */
};

/*
 * Create a resolver on base.  server is "" or NULL for the system resolver
 * (resolv.conf, and /etc/hosts for names), or "IP[:PORT]" / "[IPv6]:PORT"
 * (e.g. "127.0.0.1:5353", "[::1]:53"): that server only, DNS only.
 * opts may be NULL for the defaults.  Returns NULL with a message in err.
 */
struct dns_resolver *dns_resolver_new(struct event_base *base,
	    const char *server, const struct dns_opts *opts, char *err,
	    size_t errlen);
/*
 * Free the resolver.  Pending lookups are dropped: their callbacks are never
 * called and their handles become invalid.  Safe to call from inside a dns
 * callback.
 */
void	dns_resolver_free(struct dns_resolver *r);

/*
 * Start an MX lookup for domain (an ASCII / A-label name, trailing dot
 * optional).  cb is called once, later, from the loop.  Returns a handle
 * valid until cb has been called or dns_query_cancel() was called, or NULL
 * on a local error (bad name, out of memory) and then cb is never called.
 */
struct dns_query *dns_resolve_mx(struct dns_resolver *r, const char *domain,
	    dns_cb cb, void *arg);
/*
 * Look up the A and AAAA addresses of name (for smtp://name:port
 * destinations).  The result has status DNS_OK and one host (pref 0,
 * implicit) or DNS_NXDOMAIN / DNS_NODATA / DNS_TEMPFAIL.  An IP literal
 * ("10.0.0.5", "::1", brackets allowed) is answered without DNS.
 * Handle and callback rules as for dns_resolve_mx().
 */
struct dns_query *dns_resolve_host(struct dns_resolver *r, const char *name,
	    dns_cb cb, void *arg);
/* Cancel a pending lookup: its callback will not be called. */
void	dns_query_cancel(struct dns_query *q);

/* "OK", "TEMPFAIL", ... for logs. */
const char *dns_status_name(enum dns_status st);
/* Enhanced status code for a failed lookup ("4.4.3", "5.1.2", ...). */
const char *dns_status_enhanced(enum dns_status st);
/* True for the permanent failures (NXDOMAIN, NULLMX, NODATA, NOADDR). */
bool	dns_status_permanent(enum dns_status st);

#endif
