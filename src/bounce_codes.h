/*
 * bounce_codes - what SMTP reply codes and enhanced status codes mean.
 *
 * Owns the table of the IANA "SMTP Enhanced Status Codes" registry (RFC 3463
 * and its updates: RFC 3886, 4468, 4954, 5248, 6531, 6710, 7293, 7372, 7505,
 * 8617, 8689) and of the basic reply codes (RFC 5321 4.2, RFC 7504), each
 * with a meaning a non-expert can read, plus the reason a code implies on
 * its own.  Pure lookups over constant tables.
 *
 * Callers: bounce (classifier), bounce_parse (status extraction), tests.
 */
#ifndef CLEANBOX_BOUNCE_CODES_H
#define CLEANBOX_BOUNCE_CODES_H

#include <stdbool.h>
#include <stddef.h>

#include "bounce.h"

/*
 * Parse "C.S.D" (class 2/4/5, subject 0-999, detail 0-999; RFC 3463 2).
 * Exactly the code, no surrounding text.  Returns 0 or -1.
 */
int	bounce_codes_status_parse(const char *s, size_t len, int *cls,
	    int *subj, int *det);

/*
 * Meaning of an enhanced status code, e.g. "5.1.1" -> "the mailbox does not
 * exist".  Codes outside the registry fall back to the meaning of their
 * subject ("X.1.x: a problem with the address").  NULL only for a string
 * that is not a status code at all.
 */
const char *bounce_codes_status_text(const char *status);

/* True if status is listed in the registry table (used by tests). */
bool	bounce_codes_status_registered(const char *status);

/* Meaning of a reply code (e.g. 550), or NULL for a code not in RFC 5321. */
const char *bounce_codes_reply_text(int reply);

/*
 * The reason a status code implies by itself.  *strong is set when the code
 * is specific enough to stand against the text (5.1.1, 5.2.2, ...), and
 * cleared for catch-all codes (5.0.0, 5.7.1, 5.5.0) where the text decides.
 * BOUNCE_UNDEFINED when the code says nothing useful.
 */
enum bounce_reason bounce_codes_status_reason(const char *status,
	    bool *strong);

#endif
