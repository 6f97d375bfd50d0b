/*
 * mxcheck - does a domain accept mail, according to DNS?
 *
 * Owns the one-shot, blocking lookup the `check` command makes: MX records
 * (RFC 5321 5.1), the implicit MX of an A/AAAA record when there is no MX,
 * and the null MX of RFC 7505 ("0 ." = this domain accepts no mail).  Uses
 * c-ares, driven synchronously by poll() until the answers arrive or the
 * time budget runs out; the relay's event-loop lookups are the dns module's.
 *
 * Callers: bounce_cli (`check`), tests (against dnsmasq on loopback).
 */
#ifndef CLEANBOX_MXCHECK_H
#define CLEANBOX_MXCHECK_H

#include <stddef.h>

#define MXCHECK_HOSTS	8

enum mxcheck_status {
	MXCHECK_MX = 0,		/* has MX records: accepts mail */
	MXCHECK_IMPLICIT,	/* no MX but an address record (RFC 5321 5.1) */
	MXCHECK_NULLMX,		/* RFC 7505 null MX: accepts no mail */
	MXCHECK_NXDOMAIN,	/* the domain does not exist */
	MXCHECK_NOMAIL,		/* exists, but neither MX nor address records */
	MXCHECK_ERROR,		/* lookup failed (timeout, SERVFAIL, refused) */
};

struct mxcheck_result {
	enum mxcheck_status status;
	char	hosts[MXCHECK_HOSTS][256];	/* MX hosts, best preference first */
	int	prefs[MXCHECK_HOSTS];
	size_t	nhosts;
	char	error[128];		/* for MXCHECK_ERROR */
};

/*
 * Look the domain up.  resolver is "HOST:PORT" (or "HOST", or NULL for the
 * system's resolv.conf); timeout_ms bounds the whole check.  Returns 0 when
 * the lookup produced an answer (any status but MXCHECK_ERROR), -1 otherwise.
 */
int	mxcheck_domain(const char *domain, const char *resolver, int timeout_ms,
	    struct mxcheck_result *r);

/* One-line plain-English text for a status. */
const char *mxcheck_status_text(enum mxcheck_status s);

#endif
