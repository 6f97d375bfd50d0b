/*
 * bounce_rules - what real mail servers say, and which reason it means.
 *
 * Owns the ordered table of text rules (phrases from Gmail, Microsoft,
 * Yahoo, Apple, Proton, Postfix, Exim, Sendmail, qmail, Exchange, Zimbra,
 * Amazon SES, Mimecast, Barracuda, blocklists, SPF/DKIM/DMARC checks,
 * greylisting, rate limits, quota messages in several languages) and the
 * matcher.  Rules are keyed on server wording, never on addresses or host
 * names of particular samples.
 *
 * A pattern is lower-case text where '*' stands for any run of characters
 * (possibly none).  It is matched against normalised text (see
 * bounce_rules_normalize): ASCII lower-cased, every run of white space one
 * blank, and one blank added at each end so a pattern may start or end
 * with ' ' to ask for a word boundary.
 *
 * Invariants: matching is linear-ish in text length times rule count, with
 * a bigram prefilter so that most rules cost two bit tests; no allocation.
 * Callers: bounce (classifier), tests.
 */
#ifndef CLEANBOX_BOUNCE_RULES_H
#define CLEANBOX_BOUNCE_RULES_H

#include <stddef.h>

#include "bounce.h"

/* Longest text the rules look at; longer input is cut (bounded work). */
#define BOUNCE_RULES_TEXT_MAX	4096

/*
 * Normalise text for matching into out (size outsz, at least 3): lower-case
 * ASCII, white space runs -> ' ', control bytes -> ' ', leading and trailing
 * blank.  Input beyond what fits is dropped.  Returns the length written.
 */
size_t	bounce_rules_normalize(const char *in, size_t len, char *out,
	    size_t outsz);

/* How much a rule's wording weighs against the status code. */
enum bounce_rule_tier {
	BOUNCE_RULE_NORMAL = 0,	/* loses to a specific status code */
	BOUNCE_RULE_DECISIVE,	/* wins over any status code */
	BOUNCE_RULE_LOCAL,	/* a local delivery agent's own statement */
	BOUNCE_RULE_WEAK,	/* counts only when the status code says nothing */
};

/*
 * First rule (in priority order) whose pattern occurs in the normalised
 * text; BOUNCE_UNDEFINED if none.  tier (may be NULL) receives the rule's
 * tier; which (may be NULL) the matching pattern, for diagnostics and tests.
 */
enum bounce_reason bounce_rules_match(const char *norm, size_t len,
	    int *tier, const char **which);

/* True if any rule for reason r matches the normalised text. */
int	bounce_rules_match_reason(const char *norm, size_t len,
	    enum bounce_reason r);

/* True if the text reads like an auto-reply (out of office, vacation). */
int	bounce_rules_is_autoreply(const char *norm, size_t len);

/* True if the text says the server is greylisting the sender. */
int	bounce_rules_is_greylisting(const char *norm, size_t len);

/* True if the text says the failure is temporary (deferred, will retry). */
int	bounce_rules_is_temporary(const char *norm, size_t len);

/*
 * Find needle (nlen bytes) in hay (hlen bytes), byte-exact: memchr on the
 * first byte, then compare.  Cheaper than memmem for the many short
 * searches the rules make (no per-call preprocessing).
 */
const char *bounce_rules_find(const char *hay, size_t hlen,
	    const char *needle, size_t nlen);

/* A needle whose length and rarest byte are measured on first use. */
struct bounce_needle {
	const char *str;
	size_t	len;
	size_t	rare;
};

/* Measure a needle once (call before the first search, e.g. in a once). */
void	bounce_rules_needle_init(struct bounce_needle *n);

/* bounce_rules_find for an initialised needle. */
const char *bounce_rules_find_needle(const char *hay, size_t hlen,
	    const struct bounce_needle *n);

/* The index of needle's rarest byte in mail text (what memchr looks for). */
size_t	bounce_rules_rare_index(const char *needle, size_t nlen);

/* bounce_rules_find with the rare index computed in advance. */
const char *bounce_rules_find_at(const char *hay, size_t hlen,
	    const char *needle, size_t nlen, size_t rare);

/* Match one pattern (exposed for tests). */
int	bounce_rules_pattern_match(const char *norm, size_t len,
	    const char *pattern);

#endif
