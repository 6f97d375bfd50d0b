/*
 * addrcheck - is this email address well formed, and is it a typo?
 *
 * Owns the address syntax check for people typing addresses (RFC 5321
 * 4.1.2 Mailbox, RFC 5322 3.4.1 addr-spec without comments or folding,
 * RFC 6531 3.3 UTF-8 local parts and domains, RFC 1035/5890 label rules,
 * 5321 4.5.3.1 size limits) and the typo finder: Damerau-Levenshtein
 * distance against the domains of major mailbox providers plus a table of
 * common top-level-domain slips (.con, .cmo, .ocm, ...).
 *
 * Pure functions, no allocation, no I/O (the DNS part is mxcheck).  The SMTP
 * server's own path parser is smtp_parse; this module is for the `check`
 * command and for suggesting fixes in bounce explanations.
 *
 * Callers: bounce_cli (`check`), tests.
 */
#ifndef CLEANBOX_ADDRCHECK_H
#define CLEANBOX_ADDRCHECK_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRCHECK_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDRCHECK_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDRCHECK_ADDR_MAX	254	/* path 256 minus the brackets */

enum addrcheck_error {
	ADDRCHECK_OK = 0,
	ADDRCHECK_EMPTY,
	ADDRCHECK_TOO_LONG,
	ADDRCHECK_NO_AT,
	ADDRCHECK_LOCAL_EMPTY,
	ADDRCHECK_LOCAL_TOO_LONG,
	ADDRCHECK_LOCAL_DOTS,		/* leading, trailing or double dot */
	ADDRCHECK_LOCAL_CHAR,		/* a character not allowed unquoted */
	ADDRCHECK_QUOTE,		/* bad quoted-string */
	ADDRCHECK_DOMAIN_EMPTY,
	ADDRCHECK_DOMAIN_TOO_LONG,
	ADDRCHECK_DOMAIN_LABEL,		/* empty, too long, or bad hyphens */
	ADDRCHECK_DOMAIN_CHAR,
	ADDRCHECK_DOMAIN_NODOT,		/* "user@localhost": not on the Internet */
	ADDRCHECK_DOMAIN_TLD,		/* all-numeric top-level domain */
	ADDRCHECK_LITERAL,		/* bad [address literal] */
	ADDRCHECK_UTF8,			/* invalid UTF-8 */
};

struct addrcheck_result {
	enum addrcheck_error error;
	bool	utf8;		/* needs SMTPUTF8 (RFC 6531) to be sent */
	bool	quoted;		/* local part is a quoted-string */
	bool	literal;	/* domain is an address literal */
	char	local[ADDRCHECK_LOCAL_MAX * 2 + 3];
	char	domain[ADDRCHECK_DOMAIN_MAX + 1];
};

/*
 * Check the syntax of addr (len bytes; surrounding blanks and one pair of
 * angle brackets are tolerated).  Fills *r; returns 0 if the address is
 * valid, -1 otherwise (r->error says why).
 */
int	addrcheck_syntax(const char *addr, size_t len,
	    struct addrcheck_result *r);

/* Plain-English text for an error code. */
const char *addrcheck_error_text(enum addrcheck_error e);

/*
 * Suggest a correction for a mistyped domain ("gmial.com" -> "gmail.com",
 * "example.con" -> "example.com").  Writes the corrected domain into out and
 * returns 1; returns 0 when the domain looks fine or nothing is close.
 */
int	addrcheck_suggest_domain(const char *domain, char *out, size_t outsz);

/*
 * Damerau-Levenshtein distance (optimal string alignment: insertions,
 * deletions, substitutions, transpositions of neighbours), ASCII
 * case-insensitive.  Returns a value > max as soon as it exceeds max.
 */
int	addrcheck_distance(const char *a, size_t al, const char *b, size_t bl,
	    int max);

#endif
