/*
 * smtp_parse - SMTP command lines, paths, mailboxes and ESMTP parameters.
 *
 * Pure functions over (pointer, length) input from the network; no
 * allocation, no I/O.  Every failure comes with the exact reply the server
 * should send (a static string such as "501 5.5.4 Syntax error in
 * parameters"), so the server never has to guess a code.
 *
 * Callers: smtp_server (inbound), admin `check` (address syntax), fuzz
 * targets fuzz_smtp_cmd and fuzz_smtp_addr.
 */
#ifndef CLEANBOX_SMTP_PARSE_H
#define CLEANBOX_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1 sizes (octets). */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
#define SMTP_CMDLINE_MAX	512	/* including CRLF */
#define SMTP_ENVID_MAX		100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 4.2 */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT,
	SMTP_VERB_HELP, SMTP_VERB_VRFY, SMTP_VERB_EXPN, SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH, SMTP_VERB_BDAT,
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;	/* points into the line: after "MAIL FROM:" etc. */
	size_t	arg_len;
};

/*
 * Parse one command line (without its CRLF).  Verbs are case-insensitive;
 * "MAIL FROM:" and "RCPT TO:" are recognised with the colon (a space before
 * '<' is tolerated, as every MTA does).  Returns 0, or -1 with *reply set
 * (e.g. unknown verb -> "500 5.5.1 Command unrecognized", missing/extra
 * argument -> "501 5.5.4 ...").  A NUL or other control byte in the line
 * (0x00-0x1f, 0x7f; TAB included) -> "500 5.5.2 ...".
 *
 * Details: trailing spaces are ignored.  HELO/EHLO need exactly one
 * ASCII Domain or address literal.  DATA, RSET, QUIT, STARTTLS take no
 * argument; NOOP, HELP, VRFY, EXPN an optional one; AUTH and BDAT a
 * required one (we do not offer them; the server answers 502).  For
 * MAIL/RCPT, arg is what follows the colon (leading spaces skipped) and
 * may be empty; the path itself is checked by smtp_mail/rcpt_parse.
 * On success arg points into line (arg_len 0 when there is none); the
 * line length limit (RFC 5321 4.5.3.1.4, raised by extensions) is the
 * caller's business.
 */
int	smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
	    const char **reply);

/*
 * A parsed mailbox.  Strings are NUL-terminated copies, as written (case
 * and quoting kept; "\"a\"@x" and "a@x" are not merged).  The local part
 * limit of 64 octets (RFC 5321 4.5.3.1.1) counts its content, so a quoted
 * one may be up to 130 octets as written.  The RCPT TO:<Postmaster> form
 * has domain_len 0.
 */
struct smtp_mailbox {
	char	local[SMTP_LOCAL_MAX * 2 + 3];	/* as written, quotes kept */
	size_t	local_len;
	char	domain[SMTP_DOMAIN_MAX + 1];	/* literal keeps its brackets */
	size_t	domain_len;
	bool	quoted;		/* local part was a quoted-string */
	bool	literal;	/* domain is an address literal [..] */
	bool	utf8;		/* contains non-ASCII (RFC 6531) */
};

/*
 * Parse a Mailbox (local-part "@" domain, RFC 5321 4.1.2), with UTF-8
 * allowed only when allow_utf8 (RFC 6531 3.3; well-formed UTF-8 only, no
 * overlong forms or surrogates).  The whole of s must be the mailbox.
 * Domain: LDH labels of 1..63 octets, at most 255 in all, or an address
 * literal: [IPv4], [IPv6:...] (checked with inet_pton) or a general
 * literal [tag:content].  Returns 0 or -1 (*mb is then unspecified).
 */
int	smtp_mailbox_parse(const char *s, size_t len, bool allow_utf8,
	    struct smtp_mailbox *mb);

/*
 * Check a Domain, or also an address literal when allow_literal, as in
 * EHLO (RFC 5321 4.1.1.1) or a configured domain.  Returns 0 or -1.
 */
int	smtp_domain_check(const char *s, size_t len, bool allow_literal,
	    bool allow_utf8);

/*
 * Write "local@domain" (just "local" when domain_len is 0) into out,
 * NUL-terminated; returns the length or -1 if it does not fit.
 * smtp_mailbox_parse() of the result gives back the same mailbox.
 */
int	smtp_mailbox_format(const struct smtp_mailbox *mb, char *out,
	    size_t outsz);

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NONE	0	/* not given: default (FAILURE,DELAY) */
#define SMTP_NOTIFY_NEVER	1
#define SMTP_NOTIFY_SUCCESS	2
#define SMTP_NOTIFY_FAILURE	4
#define SMTP_NOTIFY_DELAY	8

struct smtp_mail_args {
	bool	null_sender;		/* MAIL FROM:<> */
	struct smtp_mailbox from;	/* unset when null_sender */
	long long size;			/* SIZE=, -1 when absent */
	enum smtp_body body;
	bool	smtputf8;
	enum smtp_ret ret;
	char	envid[SMTP_ENVID_MAX + 1];	/* xtext-decoded; "" absent */
};

struct smtp_rcpt_args {
	struct smtp_mailbox to;
	bool	postmaster;		/* RCPT TO:<Postmaster> without domain */
	unsigned notify;		/* SMTP_NOTIFY_* bits */
	char	orcpt[SMTP_ORCPT_MAX + 1];	/* "rfc822;addr", decoded */
};

/*
 * Parse the argument of MAIL FROM: / RCPT TO: (what follows the colon):
 * a path in angle brackets, an optional source route ("@a,@b:" - accepted
 * and ignored, RFC 5321 C), then ESMTP parameters.  Unknown parameters ->
 * "555 5.5.4"; bad path -> "501 5.1.7" (MAIL) / "501 5.1.3" (RCPT); UTF-8
 * address without SMTPUTF8 -> "553 5.6.7".  For RCPT, utf8_ok says whether
 * the transaction's MAIL had SMTPUTF8.
 *
 * Paths: the whole "<...>" is at most SMTP_PATH_MAX octets; "<>" only for
 * MAIL; "<Postmaster>" (any case, no domain, no route) only for RCPT.
 * Parameters are separated by spaces; keywords and the values below are
 * case-insensitive; each may appear once ("501 5.5.4 Duplicate
 * parameter").  MAIL: SIZE=1*20DIGIT (clamped to LLONG_MAX, so the
 * caller's size check refuses it), BODY=7BIT|8BITMIME (BINARYMIME ->
 * 555: no CHUNKING), SMTPUTF8 (no value), RET=FULL|HDRS, ENVID=xtext.
 * RCPT: NOTIFY=NEVER|list of SUCCESS,FAILURE,DELAY, ORCPT=type;xtext.
 * Decoded ENVID/ORCPT must be printable ASCII (they reach DSN headers).
 * Returns 0, or -1 with *reply set; *out is then unspecified.
 */
int	smtp_mail_parse(const char *arg, size_t len, struct smtp_mail_args *out,
	    const char **reply);
int	smtp_rcpt_parse(const char *arg, size_t len, bool utf8_ok,
	    struct smtp_rcpt_args *out, const char **reply);

/*
 * Decode RFC 3461 xtext into out (NUL-terminated; the data may hold NUL
 * from "+00", so use the returned length); -1 on bad encoding or if it
 * does not fit.  Lowercase hex after '+' is accepted.
 */
int	smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz);
/* Encode into xtext (uppercase hex), NUL-terminated; length or -1. */
int	smtp_xtext_encode(const char *in, size_t len, char *out, size_t outsz);

#endif
