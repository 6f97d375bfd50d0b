/*
 * bounce - what a delivery failure means: the classifier.
 *
 * Owns the reason taxonomy (the names of the field's reference parser,
 * Sisimai, so results can be compared), the hard/soft decision, who has to
 * act, and the plain-English meaning and fix shown to people.  Pure
 * functions over (reply code, enhanced status code, diagnostic text): no
 * I/O, no allocation, thread-safe after the first call (the rule index is
 * built once, see bounce_rules.h).
 *
 * Invariants:
 *  - every reason has a name, a meaning, a fix and an actor (tables are
 *    checked by the unit tests for completeness);
 *  - "hard" means the address itself is dead (no such user or domain, moved,
 *    domain accepts no mail): sending to it again can never succeed and the
 *    suppression list drops it at once.  A 5xx policy rejection (blocklist,
 *    spam, DMARC) is permanent for that message but soft for the address.
 *    Delivered, feedback and vacation results are neither (hard = -1).
 *
 * Callers: bounce_parse (per recipient of a bounce message), the DSN writer
 * (plain-English part of the reports the relay sends, via
 * bounce_explain_format), the CLI (`bounce classify`), suppression.
 */
#ifndef CLEANBOX_BOUNCE_H
#define CLEANBOX_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

enum bounce_reason {
	BOUNCE_UNDEFINED = 0,
	BOUNCE_USERUNKNOWN,
	BOUNCE_HOSTUNKNOWN,
	BOUNCE_MAILBOXFULL,
	BOUNCE_MESGTOOBIG,
	BOUNCE_EXCEEDLIMIT,
	BOUNCE_BLOCKED,
	BOUNCE_BADREPUTATION,
	BOUNCE_REQUIREPTR,
	BOUNCE_AUTHFAILURE,
	BOUNCE_POLICYVIOLATION,
	BOUNCE_SPAMDETECTED,
	BOUNCE_VIRUSDETECTED,
	BOUNCE_CONTENTERROR,
	BOUNCE_FILTERED,
	BOUNCE_REJECTED,
	BOUNCE_NORELAYING,
	BOUNCE_NOTACCEPT,
	BOUNCE_NETWORKERROR,
	BOUNCE_SYSTEMERROR,
	BOUNCE_SYSTEMFULL,
	BOUNCE_TOOMANYCONN,
	BOUNCE_SPEEDING,
	BOUNCE_SUSPEND,
	BOUNCE_HASMOVED,
	BOUNCE_EXPIRED,
	BOUNCE_ONHOLD,
	BOUNCE_SYNTAXERROR,
	BOUNCE_NOTCOMPLIANTRFC,
	BOUNCE_SECURITYERROR,
	BOUNCE_FAILEDSTARTTLS,
	BOUNCE_MAILERERROR,
	BOUNCE_DELIVERED,
	BOUNCE_FEEDBACK,
	BOUNCE_VACATION,
	BOUNCE_REASON_COUNT
};

/* Who has to do something about it. */
enum bounce_actor {
	BOUNCE_ACTOR_SENDER = 0,	/* whoever wrote or addressed the mail */
	BOUNCE_ACTOR_RECIPIENT,		/* the mailbox owner */
	BOUNCE_ACTOR_RECIPIENT_ADMIN,	/* the recipient domain's mail admin */
	BOUNCE_ACTOR_RELAY_OPERATOR,	/* whoever runs the sending relay */
};

#define BOUNCE_HARD	 1
#define BOUNCE_SOFT	 0
#define BOUNCE_NOTFAIL	-1	/* delivered, feedback, vacation */

struct bounce_verdict {
	enum bounce_reason reason;
	int	hard;		/* BOUNCE_HARD, BOUNCE_SOFT or BOUNCE_NOTFAIL */
	bool	temporary;	/* 4xx / 4.x.x: the server asks to retry later */
	enum bounce_actor actor;
	const char *meaning;	/* one sentence for a non-expert; static */
	const char *fix;	/* what to do; static */
	const char *code_text;	/* meaning of the status or reply code; static, "" if none */
};

/*
 * Extra context a bounce parser knows besides the three classic inputs.
 * All fields optional (zero-initialise the struct).
 */
struct bounce_hints {
	bool	delayed;	/* DSN Action: delayed / expired */
	bool	temporary;	/* the report itself says "temporary"/"deferred" */
	const char *subject;	/* Subject of the bounce, for "cannot send for N days" */
	const char *command;	/* SMTP command that failed ("RCPT", "DATA", "EHLO"...), or NULL */
	const char *diag_type;	/* RFC 3464 diagnostic-type ("smtp", "x-unix"...), or NULL */
	const char *context;	/* the report's text around this recipient, read when
				   the diagnostic itself names no cause; or NULL */
	enum bounce_reason preset;	/* a reason the layout itself states, or BOUNCE_UNDEFINED */
};

/*
 * Classify one failure.  reply is the SMTP reply code (0 if unknown);
 * status the enhanced status code "C.S.D" (NULL or "" if unknown); text the
 * server's diagnostic (NUL-terminated, NULL allowed).  Always fills *v and
 * returns 0; an input it cannot place gives BOUNCE_UNDEFINED (or ONHOLD when
 * there is text but no code it understands).
 */
int	bounce_classify(int reply, const char *status, const char *text,
	    struct bounce_verdict *v);

/* The same, with parser context (hints may be NULL). */
int	bounce_classify_hints(int reply, const char *status, const char *text,
	    const struct bounce_hints *hints, struct bounce_verdict *v);

/*
 * Write the plain-English explanation of a failure into out (size outsz):
 * the meaning, the code's meaning and the fix, as two or three sentences
 * without line breaks.  This is what the DSN writer puts in the
 * human-readable part of its reports.  Returns the length written, or -1 if
 * it did not fit (out then holds a truncated but terminated text).
 */
int	bounce_explain_format(int reply, const char *status, const char *text,
	    char *out, size_t outsz);

/* Reason <-> name ("userunknown", ...).  Unknown name -> -1. */
const char *bounce_reason_name(enum bounce_reason r);
int	bounce_reason_from_name(const char *name);

/* "sender", "recipient", "recipient-admin", "relay-operator". */
const char *bounce_actor_name(enum bounce_actor a);

/* Static per-reason texts (never NULL). */
const char *bounce_reason_meaning(enum bounce_reason r);
const char *bounce_reason_fix(enum bounce_reason r);
enum bounce_actor bounce_reason_actor(enum bounce_reason r);

/*
 * Hard/soft for a reason: 1 hard, 0 soft, -1 not a failure.  notaccept is
 * hard only when permanent (a domain that says "no mail here" with 5xx).
 */
int	bounce_reason_hard(enum bounce_reason r, bool temporary);

/*
 * When a report carries no enhanced code, produce the conventional
 * inferred one: "C.0.9NN" with C = 4 (temporary) or 5 and NN by reason
 * (the convention of the reference parser, e.g. userunknown -> 5.0.911).
 * Writes at most outsz bytes; returns 0 or -1 if not representable
 * (delivered/feedback/vacation) or too small.
 */
int	bounce_status_infer(enum bounce_reason r, bool temporary, char *out,
	    size_t outsz);

#endif
