/*
 * dsn - build RFC 3464 delivery status notifications.
 *
 * Owns the bytes of the reports the relay sends to original senders: a
 * multipart/report; report-type=delivery-status message (RFC 6522,
 * formerly RFC 3462) with CRLF line endings and three parts:
 *
 *   1. text/plain: a plain-English explanation per recipient of what
 *      happened and what the sender can do.  The text comes from an
 *      explanation hook (dsn_explain_fn), so the bounce-intelligence
 *      module can supply meaning and fix; dsn_explain_builtin gives a
 *      short built-in text per status class and subject (RFC 3463).
 *   2. message/delivery-status (RFC 3464 section 2): Reporting-MTA,
 *      Original-Envelope-Id (when ENVID), Arrival-Date; per recipient
 *      Original-Recipient (when ORCPT), Final-Recipient, Action, Status,
 *      Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until.
 *   3. the original: text/rfc822-headers (its header section), or with
 *      RET=FULL message/rfc822 (the whole message).  For SMTPUTF8
 *      originals part 2 and 3 use the RFC 6533 types
 *      message/global-delivery-status, message/global-headers and
 *      message/global, and non-ASCII addresses use the "utf-8" type.
 *
 * Header fields are folded below 78 columns where there is whitespace,
 * and never exceed 998; text from remote servers (diagnostics) is
 * reduced to printable ASCII (anything else becomes '?', runs of white
 * space become one space) and cut at DSN_DIAG_MAX characters, so a
 * hostile reply cannot inject fields or lines.  The original message is
 * copied with line endings normalised to CRLF (and lines over 998 octets
 * broken).  Dates are RFC 5322 date-times in UTC.
 *
 * Who gets a DSN (RFC 3461 section 4.1, 6.2):
 *   - never a message whose envelope sender is <> (a DSN, or a bounce):
 *     that would risk bounce loops; the caller logs and drops it;
 *   - NOTIFY absent: failures and delays (not successes);
 *   - NOTIFY=NEVER: nothing;
 *   - otherwise exactly the listed events (SUCCESS covers delivered,
 *     relayed and expanded).
 * dsn_should_send() encodes these rules; dsn_build() does not filter:
 * the caller passes only the recipients that get this report.  A DSN is
 * sent from <> (and so is never itself bounced).
 *
 * Callers: the delivery workers and the in-session path (failures), the
 * scheduler (delays, expiry), admin `queue delete` (without --silent).
 */
#ifndef CLEANBOX_DSN_H
#define CLEANBOX_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "smtp_parse.h"
#include "spool.h"

#define DSN_OK		 0
#define DSN_EINVAL	-1	/* missing or unsafe input */
#define DSN_ENOMEM	-2	/* out of memory / buffer limit */

#define DSN_DIAG_MAX	1000	/* characters of remote text kept */

/* Output requirements for sending the report (bits of *needs). */
#define DSN_NEEDS_8BITMIME	1	/* contains 8-bit octets */
#define DSN_NEEDS_SMTPUTF8	2	/* UTF-8 in header fields/addresses */

enum dsn_action {
	DSN_ACTION_FAILED = 0,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,	/* handed to a next hop without DSN support */
	DSN_ACTION_EXPANDED,	/* delivered to a list/alias expansion */
};

/* "failed", "delayed", ... as in the Action field. */
const char *dsn_action_name(enum dsn_action action);

/* Does NOTIFY (SMTP_NOTIFY_* bits; 0 = parameter absent) ask for a DSN
 * on this action?  See the rules above. */
bool	dsn_wanted(unsigned notify, enum dsn_action action);
/* dsn_wanted, and never for a null envelope sender. */
bool	dsn_should_send(bool sender_is_null, unsigned notify,
	    enum dsn_action action);

/*
 * Explanation hook: append to out a plain-English explanation of one
 * recipient's outcome - what it means, then what the sender can do.
 * Plain text; "\n" separates paragraphs or lines, the builder wraps and
 * indents it and converts it to CRLF; non-ASCII becomes '?'.  reply is
 * the SMTP reply code (0 when there was none, e.g. connection refused),
 * status the enhanced status code ("5.1.1", maybe ""), text the reply
 * text (maybe ""), arg the report's explain_arg.  Returns 0; on non-zero
 * the built-in text is used instead.
 */
typedef int (*dsn_explain_fn)(void *arg, enum dsn_action action, int reply,
	    const char *status, const char *text, struct buf *out);
/* Short built-in text per status class and subject (RFC 3463). */
int	dsn_explain_builtin(void *arg, enum dsn_action action, int reply,
	    const char *status, const char *text, struct buf *out);

struct dsn_rcpt {
	const char *addr;		/* Final-Recipient (required) */
	const char *orcpt;		/* ORCPT "type;address", NULL/"" none */
	enum dsn_action action;
	const char *status;		/* "5.1.1"; NULL/"": 5.0.0, 4.0.0 or
					   2.0.0 by action */
	int	reply;			/* SMTP reply code, 0 = none */
	const char *diag;		/* reply text after the code, or a
					   local error text; NULL none */
	const char *remote_mta;		/* remote host, NULL none; a trailing
					   "[ip]:port" is dropped */
	time_t	last_attempt;		/* 0 = none */
	time_t	will_retry_until;	/* delayed only; 0 = none */
};

struct dsn_report {
	const char *hostname;		/* Reporting-MTA, From: domain */
	const char *sender;		/* original envelope sender: To: */
	const char *queue_id;		/* original's queue ID, NULL none */
	const char *envid;		/* ENVID, NULL/"" none */
	time_t	arrival;		/* Arrival-Date */
	time_t	now;			/* Date: */
	bool	smtputf8;		/* the original used SMTPUTF8 */
	enum smtp_body body;		/* the original's BODY= */
	enum smtp_ret ret;		/* RET=; NONE behaves as HDRS */
	const char *msg;		/* the original message, NULL none */
	size_t	msg_len;
	size_t	max_full;		/* RET=FULL larger than this returns
					   headers only; 0 = no limit */
	const struct dsn_rcpt *rcpt;
	size_t	nrcpt;
	dsn_explain_fn explain;		/* NULL = dsn_explain_builtin */
	void	*explain_arg;
};

/*
 * Build the report into out (appended).  *needs (may be NULL) gets
 * DSN_NEEDS_* bits the SMTP client must honour (BODY=8BITMIME,
 * SMTPUTF8).  Returns DSN_OK, DSN_EINVAL (no recipients, no hostname,
 * sender empty or containing control characters: never build a DSN for
 * <>) or DSN_ENOMEM.  On error out is left as it was.
 */
int	dsn_build(const struct dsn_report *r, struct buf *out, unsigned *needs);

/* Fill the report's per-message fields from a spool envelope (pointers
 * into env; rcpt, msg, hostname, now, explain left to the caller). */
void	dsn_report_from_envelope(struct dsn_report *r,
	    const struct spool_envelope *env);
/* Fill a recipient from spool state (pointers into sr), using its last
 * error for status, reply, diagnostic and remote host. */
void	dsn_rcpt_from_spool(struct dsn_rcpt *out, const struct spool_rcpt *sr,
	    enum dsn_action action, time_t will_retry_until);

/* RFC 5322 date-time in UTC ("Thu, 14 Mar 2024 13:37:23 +0000"); 0 or
 * -1 if outsz is too small (32 is enough). */
/*
 * Fill dn (initialised by the caller) as the envelope of a notice: null
 * sender, BODY/SMTPUTF8 from dsn_build's needs, and one recipient per
 * destination of the original sender: its route's destinations when rt
 * hosts its domain (a notice to our own user never leaves through DNS),
 * else the address itself (delivered by MX).  Recipients get NOTIFY=NEVER
 * (RFC 3461 6.2: a notice never asks for notices).  0, or -1 when the
 * sender has no route or memory ran out.
 */
struct route_table;
int	dsn_envelope_make(struct spool_envelope *dn, const char *hostname,
	    const char *sender, const struct route_table *rt, unsigned needs,
	    time_t now);

int	dsn_format_date(time_t t, char *out, size_t outsz);

#endif
