/*
 * suppress - which destinations the relay stops sending to, and why.
 *
 * Owns the suppression policy (DESIGN.md section 3); the rows live in the
 * store.  Sending again and again to an address that does not exist ruins
 * the relay's reputation, so each delivery outcome is recorded here:
 *
 *   - a hard bounce that says the address or domain is gone (reasons
 *     userunknown, hostunknown, hasmoved; and notaccept when the bounce
 *     module calls it hard: a domain that accepts no mail, RFC 7505)
 *     suppresses the destination at once.  A 4xx never does: "user
 *     unknown" with a temporary code is a server having trouble;
 *   - a rejection that speaks about the relay or the message, not the
 *     address, never suppresses: policy, reputation, blocklisting,
 *     authentication, content (mostly 5.7.x: blocked, badreputation,
 *     policyviolation, spamdetected, virusdetected, authfailure,
 *     securityerror, contenterror, rejected, norelaying, requireptr,
 *     filtered), and also - our extension, for the same reason - message
 *     size (mesgtoobig, exceedlimit), protocol (syntaxerror,
 *     notcompliantrfc, failedstarttls) and rate limiting (toomanyconn,
 *     speeding).  They are logged as events for the operator, and warned
 *     about in the log, and leave the failure count alone;
 *   - every other failure is soft and counts: K consecutive failures
 *     (soft_threshold, default 5) spread over at least D (soft_window,
 *     default 3 days) suppress the destination.  A delivery resets the
 *     count (it does not lift a suppression: a forwarding target's MX may
 *     well accept mail and bounce it later, and only the operator or the
 *     TTL ends a suppression);
 *   - vacation and feedback reports are not failures and are ignored.
 * Reasons are the bounce classifier's taxonomy names (bounce.h); with no
 * reason, one is inferred from the enhanced status code (5.1.1 -> user
 * unknown, 5.1.2/5.1.10 -> host unknown, 5.1.6 -> moved, 5.7.x -> policy,
 * anything else -> soft).
 *
 * Suppressions may expire (ttl, default never).  Every failure is logged
 * as a bounce event (store.h) for `bounces report`.
 *
 * A destination key names what the relay delivers to (suppress_key()):
 * for a forward ("user@domain" destination) the target address; for an
 * SMTP or Maildir destination the recipient and the destination
 * ("alice@example.test via smtp://10.0.0.5:25"), since a next hop's "no
 * such user" is about that recipient there.  Keys are lowercased (as route
 * keys are).
 *
 * Blocking: every function here calls the store (store.h): worker threads
 * only.  Time is passed in.  Thread-safe as the store handle is.
 *
 * Callers: the server (RCPT: suppress_check_dests), the delivery engine
 * and queue manager (suppress_record after each attempt), the returned
 * bounce path (suppress_record with source returned-bounce), store_cli.
 */
#ifndef CLEANBOX_SUPPRESS_H
#define CLEANBOX_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct config;

#define SUPPRESS_SOFT_THRESHOLD_DEFAULT	5
#define SUPPRESS_SOFT_WINDOW_DEFAULT	(3u * 86400u)
/* Soft-failure counters untouched this long are dropped by expire. */
#define SUPPRESS_STALE_COUNTER		(30u * 86400u)
/* Room for the 550 text of suppress_reply_text(). */
#define SUPPRESS_REPLY_MAX		200

struct suppress_policy {
	unsigned soft_threshold;	/* K consecutive soft failures */
	unsigned soft_window;		/* D: over at least this many seconds */
	unsigned ttl;			/* seconds a suppression lasts; 0 never */
};

/* The defaults: 5 over 3 days, never expire. */
void	suppress_policy_default(struct suppress_policy *p);
/* From [suppression] of a loaded configuration. */
void	suppress_policy_from_config(struct suppress_policy *p,
	    const struct config *cfg);

enum suppress_source {
	SUPPRESS_SRC_IN_SESSION,	/* the attempt during the SMTP session */
	SUPPRESS_SRC_RETRY,		/* a queued retry */
	SUPPRESS_SRC_RETURNED,		/* a bounce that came back (SRS) */
	SUPPRESS_SRC_OPERATOR,		/* cleanbox-relay suppress add */
};
/* "in-session", "retry", "returned-bounce", "operator". */
const char *suppress_source_name(enum suppress_source s);

enum suppress_class {
	SUPPRESS_CLASS_DELIVERED,	/* a success: resets the count */
	SUPPRESS_CLASS_DEAD,		/* address or domain gone: suppress now */
	SUPPRESS_CLASS_POLICY,		/* about the relay or message: never */
	SUPPRESS_CLASS_SOFT,		/* counts toward K over D */
	SUPPRESS_CLASS_IGNORE,		/* not a failure (vacation, feedback) */
};
/*
 * Classify a failure: reason (taxonomy name, NULL or "" to infer from
 * status), status ("5.1.1", NULL or ""), reply (SMTP code, 0 unknown),
 * hard (1, 0, or -1 unknown).  Pure.
 */
enum suppress_class suppress_classify(const char *reason, const char *status,
	    int reply, int hard);
const char *suppress_class_name(enum suppress_class c);

struct suppress_outcome {
	const char *dest;	/* suppress_key() */
	const char *rcpt;	/* the recipient, for the log (NULL ok) */
	bool	delivered;	/* true: accepted (2xx); the rest is ignored */
	int	reply;		/* SMTP reply code, 0 unknown */
	const char *status;	/* enhanced status, NULL/"" unknown */
	const char *reason;	/* taxonomy name, NULL/"" to infer */
	int	hard;		/* the classifier's verdict: 1, 0, -1 unknown */
	const char *text;	/* the destination's text (NULL ok) */
	enum suppress_source source;
	int64_t	now;
};

enum suppress_effect {
	SUPPRESS_EFF_NONE,		/* nothing stored (vacation, ...) */
	SUPPRESS_EFF_RESET,		/* delivered: the count went back to 0 */
	SUPPRESS_EFF_COUNTED,		/* a soft failure counted */
	SUPPRESS_EFF_SUPPRESSED,	/* this outcome suppressed it */
	SUPPRESS_EFF_ALREADY,		/* it was suppressed already */
	SUPPRESS_EFF_POLICY,		/* logged for the operator only */
};
const char *suppress_effect_name(enum suppress_effect e);

/*
 * Record one delivery outcome: update the destination's row atomically and
 * log the failure as a bounce event, in one transaction.  *effect (may be
 * NULL) says what happened.  Returns STORE_OK or a store error.
 */
int	suppress_record(struct store *st, const struct suppress_policy *p,
	    const struct suppress_outcome *o, enum suppress_effect *effect);

struct suppress_info {
	bool	suppressed;
	int64_t	since;
	int64_t	expires_at;		/* 0: never */
	unsigned count;
	bool	hard;
	int	reply;
	char	reason[STORE_REASON_MAX];
	char	status[STORE_STATUS_MAX];
	char	source[STORE_SOURCE_MAX];
	char	text[STORE_TEXT_MAX];
};
/*
 * Is dest suppressed at now (an expired entry is not)?  Returns 1 (info
 * filled), 0 (not suppressed; info zeroed), or a negative store error.
 * Callers that cannot tell must not refuse mail on an error: an unreadable
 * store means "not suppressed" plus a log line, never a lost message.
 */
int	suppress_lookup(struct store *st, const char *dest, int64_t now,
	    struct suppress_info *info);
/*
 * The text after "550 5.1.1 " for a suppressed destination: "destination
 * suppressed since 2026-01-02 10:00 UTC after 5.1.1 (userunknown)".  ASCII
 * only, safe in an SMTP reply.  Returns the length, or -1 (out too small;
 * out is then "").
 */
int	suppress_reply_text(const struct suppress_info *info, char *out,
	    size_t outsz);

/*
 * Check every destination of a route for recipient rcpt: suppressed[i]
 * (array of n, may be NULL) tells which are suppressed; *first (may be
 * NULL) gets the first suppressed one's info.  Returns the number of
 * suppressed destinations (== n: refuse the RCPT with 550 5.1.1; fewer:
 * deliver to the others), or a negative store error.
 */
int	suppress_check_dests(struct store *st, const char *rcpt,
	    const char *const *specs, size_t n, int64_t now, bool *suppressed,
	    struct suppress_info *first);

/*
 * Suppress dest by hand (source operator): reason "operator" when NULL;
 * the policy's ttl applies.  Replaces an existing row.
 */
int	suppress_add(struct store *st, const struct suppress_policy *p,
	    const char *dest, const char *reason, int64_t now);
/* Lift dest: STORE_OK, STORE_NOTFOUND or an error. */
int	suppress_remove(struct store *st, const char *dest);
/*
 * Drop expired suppressions and stale soft-failure counters (last failure
 * over SUPPRESS_STALE_COUNTER ago).  Call now and then (e.g. hourly).
 */
int	suppress_expire(struct store *st, int64_t now, uint64_t *n);

/*
 * The destination key for recipient rcpt delivered to destination spec
 * (as a route or the spool writes it: "maildir:PATH", "smtp://HOST:PORT",
 * "user@domain"; NULL or "" for rcpt itself).  Lowercased.  Returns the
 * length, or -1 if it does not fit (out is then "").
 */
int	suppress_key(const char *rcpt, const char *spec, char *out,
	    size_t outsz);
/*
 * The destination's domain for reports: a forward's or address's domain,
 * an SMTP destination's host, "maildir" for Maildir.  Returns 0 or -1.
 */
int	suppress_key_domain(const char *key, char *out, size_t outsz);

/*
 * Record the outcome of one delivery attempt of recipient rcpt to
 * destination spec (as the spool writes it): the key is suppress_key(rcpt,
 * spec), a failure is classified by the bounce module (bounce_classify on
 * reply, status, text) and recorded with suppress_record.  delivered: the
 * destination accepted it.  Blocking (worker threads only).  Returns
 * STORE_OK or a store error (logged here).
 */
int	suppress_record_attempt(struct store *st,
	    const struct suppress_policy *p, const char *rcpt,
	    const char *spec, bool delivered, int reply, const char *status,
	    const char *text, enum suppress_source source, int64_t now);

#endif
