/*
 * bounce_text - reading the human-readable part of a bounce.
 *
 * Owns the heuristics that find, in free text written by an MTA, the
 * failed recipients and what the remote server said about each: where the
 * copy of the original message starts, which addresses are recipients
 * (and which are the sender, the reporting system or message ids), the
 * block of text that belongs to each recipient, and the codes, remote host
 * and SMTP command inside a diagnostic.  Works for the layouts of Exim,
 * Postfix, Sendmail, qmail, Courier, Exchange, Domino, Gmail, Yahoo and
 * others without naming them: what they share is "address, then what went
 * wrong", in lines.
 *
 * Pure functions over (pointer, length); output goes into caller arrays.
 * Callers: bounce_parse.
 */
#ifndef CLEANBOX_BOUNCE_TEXT_H
#define CLEANBOX_BOUNCE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "bounce_parse.h"

#define BOUNCE_TEXT_RCPTS	64

struct bounce_text_rcpt {
	char	addr[BOUNCE_ADDR_MAX + 1];
	char	diag[BOUNCE_DIAG_MAX];	/* what went wrong, one line */
	char	context[BOUNCE_DIAG_MAX];	/* the whole block, one line */
	char	remote[256];
	char	command[8];		/* "RCPT", "DATA", "MAIL", "EHLO", "CONN" or "" */
};

/* Addresses that are not failed recipients (the bounce's own From/To). */
struct bounce_text_ctx {
	const char *skip[8];
	size_t	nskip;
};

/*
 * Length of the text before the copy of the original message (or its
 * headers) begins: the part of a report that describes the failure.
 */
size_t	bounce_text_cut(const char *text, size_t len);

/*
 * Find failed recipients and their diagnostics in report text (already
 * cut).  Returns the number found (at most max).
 */
size_t	bounce_text_scan(const char *text, size_t len,
	    const struct bounce_text_ctx *ctx, struct bounce_text_rcpt *out,
	    size_t max);

/*
 * The first line of report text that carries an SMTP reply or status code
 * (a transcript's "554 5.3.0 unknown mailer error 255"), trimmed, one line.
 * Returns its length, 0 if there is none.
 */
size_t	bounce_text_code_line(const char *text, size_t len, char *out,
	    size_t outsz);

/*
 * The whole report text squeezed into one line for a diagnostic, without
 * the boilerplate lines every MTA adds ("This message was created
 * automatically...").  Writes at most outsz bytes; returns length.
 */
size_t	bounce_text_summary(const char *text, size_t len, char *out,
	    size_t outsz);

/*
 * Codes inside a diagnostic: the SMTP reply code (RFC 5321 4.2: three
 * digits at the start of a reply line) and the enhanced status code
 * (RFC 3463).  *reply = 0 and status "" when absent.
 */
void	bounce_text_codes(const char *s, size_t len, int *reply,
	    char *status, size_t statussz);

/* The SMTP command a diagnostic says failed ("RCPT", ...), or "". */
const char *bounce_text_command(const char *s, size_t len);

/* Remote host named in a diagnostic ("host mx.example.com [..]"). */
void	bounce_text_remote(const char *s, size_t len, char *out, size_t outsz);

/*
 * Extract the first mail address in s into out (bare local@domain, no
 * brackets).  Returns true if one was found.
 */
bool	bounce_text_first_addr(const char *s, size_t len, char *out,
	    size_t outsz);

/*
 * Copy s into out as one line of valid UTF-8: control bytes and white
 * space runs become one blank, invalid UTF-8 bytes become '?', the result
 * is trimmed and truncated at a character boundary.  Returns length.
 */
size_t	bounce_text_oneline(const char *s, size_t len, char *out,
	    size_t outsz);

#endif
