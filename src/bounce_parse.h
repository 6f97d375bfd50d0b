/*
 * bounce_parse - read bounce messages: who failed, with what code, why.
 *
 * Owns turning raw bytes (one message, or an mbox of several) into one
 * result per failed recipient: RFC 3464 delivery-status reports, RFC 5965
 * ARF feedback reports, RFC 3834 auto-replies, and the human-readable
 * layouts of MTAs and providers that send no machine-readable part
 * (Exim, qmail, Sendmail, Exchange, Domino, Gmail, Yahoo, mail.ru, ...),
 * each result classified by bounce_classify.
 *
 * Invariants:
 *  - bounded work: only the first BOUNCE_PARSE_PREFIX bytes of the input
 *    are read, at most BOUNCE_PARSE_MESSAGES messages and
 *    BOUNCE_PARSE_RESULTS results; MIME limits in bounce_mime.h;
 *  - a message that is not a bounce yields no result, never an error;
 *  - every string in a result is valid UTF-8 without control characters
 *    (safe for JSON and terminals).
 *
 * Callers: bounce_cli (`bounce explain`), the relay's SRS bounce handling,
 * fuzz_bounce_parse, tests.
 */
#ifndef CLEANBOX_BOUNCE_PARSE_H
#define CLEANBOX_BOUNCE_PARSE_H

#include <stddef.h>

#include "bounce.h"

#define BOUNCE_PARSE_PREFIX	(2u * 1024 * 1024)
#define BOUNCE_PARSE_MESSAGES	16
#define BOUNCE_PARSE_RESULTS	256
#define BOUNCE_ADDR_MAX		320	/* RFC 5321 4.5.3.1: 64 + 1 + 255 */
#define BOUNCE_DIAG_MAX		1024	/* diagnostic text kept per result */

struct bounce_result {
	char	recipient[BOUNCE_ADDR_MAX + 1];	/* "" if the report names none */
	char	status[16];	/* "5.1.1"; inferred "5.0.9NN" if none given */
	char	reply[4];	/* "550" or "" */
	char	remote[256];	/* remote MTA host name or address, or "" */
	char	diagnostic[BOUNCE_DIAG_MAX];	/* server text, one line */
	struct bounce_verdict verdict;	/* reason, hard, actor, meaning, fix */
};

struct bounce_report {
	struct bounce_result *results;	/* n entries, heap */
	size_t	n;
	size_t	messages;	/* messages found in the input */
	int	truncated;	/* a limit cut the work short */
};

/*
 * Parse raw input (len bytes, need not be NUL-terminated).  Fills *rep;
 * returns 0 (with rep->n == 0 for mail that is not a bounce), or -1 when
 * memory ran out.  Free with bounce_report_free in every case.
 */
int	bounce_parse(const char *data, size_t len, struct bounce_report *rep);
void	bounce_report_free(struct bounce_report *rep);

#endif
