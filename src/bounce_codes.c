/*
 * bounce_codes - meanings of reply codes and enhanced status codes.
 *
 * The status table is the IANA "Simple Mail Transfer Protocol (SMTP)
 * Enhanced Status Codes Registry": subjects and details of RFC 3463 3.1-3.8
 * plus the later registrations (X.1.9 RFC 3886, X.1.10 and X.7.27 RFC 7505,
 * X.5.6 and X.7.8-X.7.12 RFC 4954, X.6.6 RFC 4468, X.6.7-X.6.10 RFC 6531,
 * X.3.6/X.7.15/X.7.16 RFC 6710, X.7.13/X.7.14 RFC 5248, X.7.17-X.7.19 RFC
 * 7293, X.7.20-X.7.26 RFC 7372, X.7.28 (mail flood), X.7.29 RFC 8617,
 * X.7.30 RFC 8689).  The class digit (RFC 3463 3.1: 2 success, 4 persistent
 * transient, 5 permanent) is not part of the key; the classifier adds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_codes.h"

struct code_entry {
	short	subj;
	short	det;
	const char *text;
	enum bounce_reason reason;
	bool	strong;
};

#define U BOUNCE_UNDEFINED

static const struct code_entry code_table[] = {
	{ 0, 0, "an error the server did not describe with a code", U, false },

	/* X.1: addressing (RFC 3463 3.2) */
	{ 1, 0, "a problem with an address", BOUNCE_USERUNKNOWN, false },
	{ 1, 1, "the mailbox does not exist at the destination (bad or mistyped address)", BOUNCE_USERUNKNOWN, true },
	{ 1, 2, "the domain of the address does not exist or cannot receive mail", BOUNCE_HOSTUNKNOWN, true },
	{ 1, 3, "the recipient address is not written correctly (bad syntax)", BOUNCE_USERUNKNOWN, true },
	{ 1, 4, "the address matches more than one mailbox at the destination", BOUNCE_USERUNKNOWN, false },
	{ 1, 5, "the address is valid (informational)", U, false },
	{ 1, 6, "the mailbox has moved and there is no forwarding address", BOUNCE_HASMOVED, true },
	{ 1, 7, "the sender's address is not written correctly", BOUNCE_REJECTED, true },
	{ 1, 8, "the sender's domain is not valid or does not exist", BOUNCE_REJECTED, true },
	{ 1, 9, "the message was relayed to a system that does not send delivery reports", U, false },
	{ 1, 10, "the recipient's domain declares that it accepts no mail (null MX)", BOUNCE_NOTACCEPT, false },

	/* X.2: mailbox (3.3) */
	{ 2, 0, "a problem with the recipient's mailbox", BOUNCE_FILTERED, false },
	{ 2, 1, "the mailbox is disabled and not accepting messages", BOUNCE_FILTERED, false },
	{ 2, 2, "the recipient's mailbox is full", BOUNCE_MAILBOXFULL, true },
	{ 2, 3, "the message is larger than the recipient's mailbox allows", BOUNCE_EXCEEDLIMIT, true },
	{ 2, 4, "a mailing list could not be expanded", BOUNCE_FILTERED, false },

	/* X.3: mail system (3.4) */
	{ 3, 0, "a problem with the destination mail system", BOUNCE_SYSTEMERROR, false },
	{ 3, 1, "the destination mail system is out of storage", BOUNCE_SYSTEMFULL, true },
	{ 3, 2, "the destination system is not accepting network mail", BOUNCE_NOTACCEPT, false },
	{ 3, 3, "the destination system cannot handle a feature the message needs", BOUNCE_SYSTEMERROR, false },
	{ 3, 4, "the message is larger than the destination system accepts", BOUNCE_MESGTOOBIG, true },
	{ 3, 5, "the destination mail system is misconfigured", BOUNCE_SYSTEMERROR, true },
	{ 3, 6, "the requested message priority was changed", U, false },

	/* X.4: network and routing (3.5) */
	{ 4, 0, "a network or routing problem", BOUNCE_NETWORKERROR, false },
	{ 4, 1, "the destination server did not answer", BOUNCE_EXPIRED, true },
	{ 4, 2, "the connection to the destination server broke", BOUNCE_NETWORKERROR, false },
	{ 4, 3, "a directory (DNS) lookup failed", BOUNCE_SYSTEMERROR, false },
	{ 4, 4, "no route to the destination could be found", BOUNCE_HOSTUNKNOWN, false },
	{ 4, 5, "the mail system is congested", BOUNCE_SYSTEMFULL, false },
	{ 4, 6, "the message was going round in a routing loop", BOUNCE_NETWORKERROR, true },
	{ 4, 7, "the message could not be delivered before its time ran out", BOUNCE_EXPIRED, true },

	/* X.5: mail delivery protocol (3.6) */
	{ 5, 0, "a problem in the mail protocol conversation", U, false },
	{ 5, 1, "a command the server did not recognise", BOUNCE_SYNTAXERROR, false },
	{ 5, 2, "a command with bad syntax", BOUNCE_SYNTAXERROR, false },
	{ 5, 3, "the message has too many recipients", BOUNCE_TOOMANYCONN, false },
	{ 5, 4, "a command with invalid arguments", BOUNCE_SYSTEMERROR, false },
	{ 5, 5, "a protocol version the server does not support", BOUNCE_SYSTEMERROR, false },
	{ 5, 6, "an authentication exchange line was too long", BOUNCE_SYNTAXERROR, false },

	/* X.6: message content or media (3.7) */
	{ 6, 0, "a problem with the message content", BOUNCE_CONTENTERROR, false },
	{ 6, 1, "the message contains a media type the destination does not support", BOUNCE_CONTENTERROR, false },
	{ 6, 2, "the message needed conversion but conversion was not allowed", BOUNCE_CONTENTERROR, false },
	{ 6, 3, "the message needed a conversion that is not supported", BOUNCE_CONTENTERROR, false },
	{ 6, 4, "the message was converted with loss of content", BOUNCE_CONTENTERROR, false },
	{ 6, 5, "converting the message failed", BOUNCE_CONTENTERROR, false },
	{ 6, 6, "the message content was no longer available", BOUNCE_CONTENTERROR, false },
	{ 6, 7, "non-ASCII (international) addresses are not allowed here", BOUNCE_CONTENTERROR, false },
	{ 6, 8, "a UTF-8 reply was needed but the client does not allow it", BOUNCE_CONTENTERROR, false },
	{ 6, 9, "a message with UTF-8 headers cannot be passed on to the recipient", BOUNCE_CONTENTERROR, false },
	{ 6, 10, "a UTF-8 reply was needed but the client does not allow it", BOUNCE_CONTENTERROR, false },

	/* X.7: security or policy (3.8 and later) */
	{ 7, 0, "a security or policy problem", BOUNCE_SECURITYERROR, false },
	{ 7, 1, "the destination refused the message by policy (not authorised)", BOUNCE_SECURITYERROR, false },
	{ 7, 2, "sending to this mailing list is not allowed", BOUNCE_SECURITYERROR, false },
	{ 7, 3, "a required security conversion was not possible", BOUNCE_SECURITYERROR, true },
	{ 7, 4, "a required security feature is not supported", BOUNCE_SECURITYERROR, true },
	{ 7, 5, "a cryptographic operation failed", BOUNCE_SECURITYERROR, true },
	{ 7, 6, "the cryptographic algorithm is not supported", BOUNCE_SECURITYERROR, true },
	{ 7, 7, "the message failed an integrity check", BOUNCE_SECURITYERROR, true },
	{ 7, 8, "the login credentials were refused", BOUNCE_SECURITYERROR, true },
	{ 7, 9, "the login method is too weak", BOUNCE_SECURITYERROR, false },
	{ 7, 10, "an encrypted (TLS) connection is required", BOUNCE_FAILEDSTARTTLS, false },
	{ 7, 11, "encryption is required for the chosen login method", BOUNCE_SECURITYERROR, false },
	{ 7, 12, "a password change is needed", BOUNCE_SECURITYERROR, false },
	{ 7, 13, "the recipient's account is disabled", BOUNCE_SUSPEND, true },
	{ 7, 14, "a trust relationship between the systems is required", BOUNCE_SECURITYERROR, false },
	{ 7, 15, "the message priority is too low", BOUNCE_POLICYVIOLATION, false },
	{ 7, 16, "the message is too big for its priority", BOUNCE_MESGTOOBIG, false },
	{ 7, 17, "the mailbox has a new owner since the address was verified", BOUNCE_HASMOVED, true },
	{ 7, 18, "the domain has a new owner since the address was verified", BOUNCE_HASMOVED, true },
	{ 7, 19, "the ownership check requested by the sender could not be done", U, false },
	{ 7, 20, "the message has no valid DKIM signature", BOUNCE_AUTHFAILURE, true },
	{ 7, 21, "the message has no acceptable DKIM signature", BOUNCE_AUTHFAILURE, true },
	{ 7, 22, "the message has no valid DKIM signature from the author's domain", BOUNCE_AUTHFAILURE, true },
	{ 7, 23, "the sending server is not allowed by the sender domain's SPF record", BOUNCE_AUTHFAILURE, true },
	{ 7, 24, "the SPF check of the sender domain failed with an error", BOUNCE_AUTHFAILURE, true },
	{ 7, 25, "the sending server's IP address has no valid reverse DNS (PTR) name", BOUNCE_REQUIREPTR, true },
	{ 7, 26, "the message failed several authentication checks (SPF, DKIM, DMARC)", BOUNCE_AUTHFAILURE, true },
	{ 7, 27, "the sender's domain declares that it sends and receives no mail (null MX)", BOUNCE_REJECTED, true },
	{ 7, 28, "the server detected a flood of mail from this sender", BOUNCE_SPEEDING, false },
	{ 7, 29, "the message failed an ARC authentication check", BOUNCE_AUTHFAILURE, false },
	{ 7, 30, "the message requires TLS all the way but the next server does not support it", BOUNCE_FAILEDSTARTTLS, false },
};

/*
 * Vendor codes outside the registry that are common enough to name
 * (Microsoft 365 / Exchange Online use three-digit details).
 */
static const struct code_entry vendor_table[] = {
	{ 4, 310, "the recipient's domain does not exist in DNS", BOUNCE_HOSTUNKNOWN, true },
	{ 4, 312, "the recipient's domain could not be resolved in DNS", BOUNCE_HOSTUNKNOWN, false },
	{ 4, 316, "the destination server refused the connection", BOUNCE_NETWORKERROR, false },
	{ 7, 509, "the sender's domain fails its own DMARC policy", BOUNCE_AUTHFAILURE, true },
	{ 7, 510, "the recipient does not accept mail over the public internet", BOUNCE_NOTACCEPT, false },
	{ 7, 606, "the sending server's IP address is banned by the recipient's provider", BOUNCE_BLOCKED, true },
	{ 7, 650, "the sending server's IP address has a poor reputation", BOUNCE_BADREPUTATION, true },
	{ 7, 708, "the sending server's IP address has a poor reputation", BOUNCE_BADREPUTATION, true },
};

static const char *const subject_text[8] = {
	"an error of an unknown kind",
	"a problem with an address",
	"a problem with the recipient's mailbox",
	"a problem with the destination mail system",
	"a network or routing problem",
	"a problem in the mail protocol conversation",
	"a problem with the message content",
	"a security or policy problem",
};

static int
bounce_codes_num(const char *s, size_t len, size_t *pos, int maxdig)
{
	int v = 0, n = 0;

	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		if (++n > maxdig)
			return -1;
		v = v * 10 + (s[*pos] - '0');
		(*pos)++;
	}
	return n == 0 ? -1 : v;
}

int
bounce_codes_status_parse(const char *s, size_t len, int *cls, int *subj,
    int *det)
{
	size_t pos = 0;
	int c, a, b;

	if (s == NULL)
		return -1;
	if ((c = bounce_codes_num(s, len, &pos, 1)) < 0 ||
	    (c != 2 && c != 4 && c != 5))
		return -1;
	if (pos >= len || s[pos++] != '.')
		return -1;
	if ((a = bounce_codes_num(s, len, &pos, 3)) < 0)
		return -1;
	if (pos >= len || s[pos++] != '.')
		return -1;
	if ((b = bounce_codes_num(s, len, &pos, 3)) < 0)
		return -1;
	if (pos != len)
		return -1;
	*cls = c;
	*subj = a;
	*det = b;
	return 0;
}

static const struct code_entry *
bounce_codes_find(const char *status, int *cls)
{
	int subj, det;
	size_t i;

	if (status == NULL ||
	    bounce_codes_status_parse(status, strlen(status), cls, &subj,
	    &det) < 0)
		return NULL;
	for (i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
		if (code_table[i].subj == subj && code_table[i].det == det)
			return &code_table[i];
	for (i = 0; i < sizeof(vendor_table) / sizeof(vendor_table[0]); i++)
		if (vendor_table[i].subj == subj && vendor_table[i].det == det)
			return &vendor_table[i];
	return NULL;
}

const char *
bounce_codes_status_text(const char *status)
{
	const struct code_entry *e;
	int cls, subj, det;

	if (status == NULL ||
	    bounce_codes_status_parse(status, strlen(status), &cls, &subj,
	    &det) < 0)
		return NULL;
	if (cls == 2)
		return "the message was delivered";
	if ((e = bounce_codes_find(status, &cls)) != NULL)
		return e->text;
	if (subj >= 0 && subj < 8)
		return subject_text[subj];
	return subject_text[0];
}

bool
bounce_codes_status_registered(const char *status)
{
	int cls, subj, det;
	size_t i;

	if (status == NULL ||
	    bounce_codes_status_parse(status, strlen(status), &cls, &subj,
	    &det) < 0)
		return false;
	for (i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
		if (code_table[i].subj == subj && code_table[i].det == det)
			return true;
	return false;
}

enum bounce_reason
bounce_codes_status_reason(const char *status, bool *strong)
{
	const struct code_entry *e;
	int cls;

	*strong = false;
	if ((e = bounce_codes_find(status, &cls)) == NULL)
		return BOUNCE_UNDEFINED;
	if (cls == 2) {
		*strong = true;
		return BOUNCE_DELIVERED;
	}
	*strong = e->strong;
	/* "4.3.0": a passing system problem says nothing about the cause */
	if (cls == 4 && e->subj == 3 && e->det == 0)
		return BOUNCE_UNDEFINED;
	return e->reason;
}

struct reply_entry {
	int	code;
	const char *text;
};

/* RFC 5321 4.2.2-4.2.3, RFC 7504 (521/556), RFC 4954 (530/534/535/538). */
static const struct reply_entry reply_table[] = {
	{ 211, "system status" },
	{ 214, "help message" },
	{ 220, "service ready" },
	{ 221, "service closing the connection" },
	{ 235, "authentication succeeded" },
	{ 250, "requested action completed" },
	{ 251, "user not local; the server will forward the message" },
	{ 252, "cannot verify the user, but the server will try to deliver" },
	{ 354, "start the message input" },
	{ 421, "the server is not available right now and closed the connection; try again later" },
	{ 432, "a password transition is needed" },
	{ 450, "the mailbox is unavailable right now (busy, or blocked for the moment); try again later" },
	{ 451, "the server hit a local error while processing; try again later" },
	{ 452, "the server has not enough storage right now, or too many recipients; try again later" },
	{ 454, "a temporary authentication or TLS failure" },
	{ 455, "the server cannot accommodate the parameters right now" },
	{ 500, "the command was not recognised (syntax error)" },
	{ 501, "the command's arguments had a syntax error" },
	{ 502, "the command is not implemented" },
	{ 503, "the commands were sent in the wrong order" },
	{ 504, "a command parameter is not implemented" },
	{ 521, "this host does not accept mail at all" },
	{ 530, "authentication is required" },
	{ 534, "the authentication method is too weak" },
	{ 535, "the login credentials were refused" },
	{ 538, "encryption is required for the authentication method" },
	{ 550, "the requested action was not taken: the mailbox is unavailable (not found, no access, or refused by policy)" },
	{ 551, "the user is not local here; the message was not forwarded" },
	{ 552, "the message exceeds the storage allocation (mailbox full or message too large)" },
	{ 553, "the mailbox name is not allowed (for example bad address syntax)" },
	{ 554, "the transaction failed (often a policy or spam rejection, or no valid recipients)" },
	{ 555, "the MAIL FROM or RCPT TO parameters were not recognised" },
	{ 556, "the domain does not accept mail (null MX)" },
};

const char *
bounce_codes_reply_text(int reply)
{
	size_t i;

	for (i = 0; i < sizeof(reply_table) / sizeof(reply_table[0]); i++)
		if (reply_table[i].code == reply)
			return reply_table[i].text;
	return NULL;
}
