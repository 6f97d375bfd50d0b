/*
 * bounce - the classifier.  See bounce.h.
 *
 * Decision order, and why:
 *  1. a 2.x.x status is a delivery report, not a failure;
 *  2. a reason the report layout itself states (hints->preset) wins: the
 *     parser knows, e.g., that a Gmail group bounce is a rejection;
 *  3. the text rules (bounce_rules.c): what the server says is more
 *     precise than its codes, which are often catch-alls (5.0.0, 5.7.1,
 *     "550 5.5.0 requested action not taken") - but a specific status
 *     code (5.1.1, 5.2.2, ...) stands against rules that are merely
 *     generic wording;
 *  4. the status code's own reason (bounce_codes.c);
 *  5. "delayed"/"expired" reports -> expired; otherwise onhold when there
 *     was text we could not place, undefined when there was nothing.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bounce.h"
#include "bounce_codes.h"
#include "bounce_rules.h"

struct reason_info {
	const char *name;
	enum bounce_actor actor;
	int	hard;		/* 1 hard, 0 soft, -1 not a failure, 2 hard if permanent */
	int	infer;		/* NN of the inferred "C.0.9NN" status, 0 none */
	const char *meaning;
	const char *fix;
};

#define SND BOUNCE_ACTOR_SENDER
#define RCP BOUNCE_ACTOR_RECIPIENT
#define ADM BOUNCE_ACTOR_RECIPIENT_ADMIN
#define OPR BOUNCE_ACTOR_RELAY_OPERATOR

static const struct reason_info reasons[BOUNCE_REASON_COUNT] = {
	[BOUNCE_UNDEFINED] = { "undefined", SND, 0, 900,
	    "The message could not be delivered, but the report does not say why.",
	    "Read the diagnostic text below; if it does not help, ask the recipient's mail administrator." },
	[BOUNCE_USERUNKNOWN] = { "userunknown", SND, 1, 911,
	    "The recipient's mail server says this address does not exist.",
	    "Check the address for typos (try `cleanbox-relay check ADDRESS`); if it is right, the mailbox was closed: remove it from your lists." },
	[BOUNCE_HOSTUNKNOWN] = { "hostunknown", SND, 1, 912,
	    "The domain of the address (the part after @) does not exist or has no mail server.",
	    "Check the domain for typos (try `cleanbox-relay check ADDRESS`); if it is right, the domain has expired or never received mail: remove the address." },
	[BOUNCE_MAILBOXFULL] = { "mailboxfull", RCP, 0, 922,
	    "The recipient's mailbox is full and cannot take new mail.",
	    "Let the recipient know by other means; resend later. If it stays full for weeks, the mailbox is probably abandoned." },
	[BOUNCE_MESGTOOBIG] = { "mesgtoobig", SND, 0, 934,
	    "The message is larger than the recipient's server accepts.",
	    "Send it again without large attachments: share big files by link, or compress them." },
	[BOUNCE_EXCEEDLIMIT] = { "exceedlimit", SND, 0, 923,
	    "The message exceeds a size or count limit set for the recipient.",
	    "Send a smaller message (fewer or smaller attachments, fewer recipients per message)." },
	[BOUNCE_BLOCKED] = { "blocked", OPR, 0, 971,
	    "The recipient's server refused the connection from the sending server, typically because its IP address is on a blocklist or in an address range it does not accept mail from.",
	    "The relay operator should look up the sending IP on the blocklist named in the message, fix the cause (compromised account, open relay, missing PTR) and request delisting." },
	[BOUNCE_BADREPUTATION] = { "badreputation", OPR, 0, 975,
	    "The recipient's provider does not trust mail from the sending server because of its reputation (complaints, volume, or spam from that IP).",
	    "The relay operator should slow down, check for complaints or compromised senders, and follow the provider's sender guidelines before retrying." },
	[BOUNCE_REQUIREPTR] = { "requireptr", OPR, 0, 973,
	    "The recipient's server refused mail because the sending server's IP address has no valid reverse DNS (PTR) name.",
	    "The relay operator should ask the IP address owner for a PTR record that matches the server's HELO name and resolves back to the same address." },
	[BOUNCE_AUTHFAILURE] = { "authfailure", SND, 0, 974,
	    "The message failed the recipient's sender authentication checks (SPF, DKIM or DMARC), so it looked forged.",
	    "The sender's domain administrator should make sure SPF lists the sending server, messages are DKIM-signed for the From: domain, and the DMARC policy matches." },
	[BOUNCE_POLICYVIOLATION] = { "policyviolation", SND, 0, 972,
	    "The message breaks a policy of the recipient's organisation (for example forbidden content, attachment types or senders).",
	    "Read the policy named in the diagnostic and change the message, or ask the recipient to allow it." },
	[BOUNCE_SPAMDETECTED] = { "spamdetected", SND, 0, 980,
	    "The recipient's server judged the message to be spam.",
	    "Review the content (links, wording, attachments), make sure SPF/DKIM/DMARC pass, and send only to people who asked for the mail." },
	[BOUNCE_VIRUSDETECTED] = { "virusdetected", SND, 0, 990,
	    "The recipient's server found a virus or other malware in the message.",
	    "Scan the sender's computer and the attachment; send a clean file, or share it another way." },
	[BOUNCE_CONTENTERROR] = { "contenterror", SND, 0, 960,
	    "The recipient's server could not accept the message's format or content (encoding, MIME structure or headers).",
	    "Send the message again from a standard mail program; avoid unusual encodings or very long header lines." },
	[BOUNCE_FILTERED] = { "filtered", RCP, 0, 910,
	    "The recipient's mail filter or settings refused the message (for example a whitelist, a block of this sender, or a restricted mailbox).",
	    "Ask the recipient by another channel to allow your address or domain." },
	[BOUNCE_REJECTED] = { "rejected", SND, 0, 918,
	    "The recipient's server refused the sender's address (the envelope From).",
	    "Use a sender address whose domain exists, has working DNS and is allowed to send; check that the sender is not blocked by the recipient." },
	[BOUNCE_NORELAYING] = { "norelaying", OPR, 0, 909,
	    "The server that was asked to deliver the message does not handle mail for this recipient's domain and refuses to pass it on (relaying denied).",
	    "The relay operator should check the route and MX records for the recipient's domain; the sender should check the address's domain." },
	[BOUNCE_NOTACCEPT] = { "notaccept", ADM, 2, 932,
	    "The recipient's domain does not accept email at all (for example it publishes a null MX record).",
	    "Use another address for this recipient; this one can never receive mail." },
	[BOUNCE_NETWORKERROR] = { "networkerror", OPR, 0, 944,
	    "The sending server could not reach the recipient's server over the network (DNS trouble, refused or broken connections, or a mail loop).",
	    "Usually temporary: the relay retries. If it persists, the relay operator should check DNS and connectivity to the destination." },
	[BOUNCE_SYSTEMERROR] = { "systemerror", ADM, 0, 930,
	    "The recipient's mail system had an internal error.",
	    "Usually temporary: try again later. If it persists, contact the recipient's mail administrator." },
	[BOUNCE_SYSTEMFULL] = { "systemfull", ADM, 0, 931,
	    "The recipient's mail server is out of disk space.",
	    "Try again later; the recipient's mail administrator has to free space." },
	[BOUNCE_TOOMANYCONN] = { "toomanyconn", OPR, 0, 945,
	    "The recipient's server refused because too many connections were open from the sending server.",
	    "The relay operator should lower the number of simultaneous connections to this destination; the message is retried." },
	[BOUNCE_SPEEDING] = { "speeding", OPR, 0, 946,
	    "The recipient's server is rate-limiting the sending server: too many messages in too short a time.",
	    "Send more slowly; the relay retries later. Spread large mailings over time." },
	[BOUNCE_SUSPEND] = { "suspend", RCP, 0, 921,
	    "The recipient's account exists but is disabled or suspended.",
	    "Contact the recipient another way; if the account stays disabled, remove the address." },
	[BOUNCE_HASMOVED] = { "hasmoved", SND, 1, 916,
	    "The recipient has moved to another address and this one no longer receives mail.",
	    "Use the new address given in the message, if any, and update your address book." },
	[BOUNCE_EXPIRED] = { "expired", ADM, 0, 947,
	    "Delivery was attempted for a long time without success, and the message expired in the queue.",
	    "Check that the recipient's domain and servers are working; send the message again later." },
	[BOUNCE_ONHOLD] = { "onhold", OPR, 0, 901,
	    "Delivery failed, but the cause could not be determined from the report.",
	    "Read the diagnostic text; the relay operator can look up the delivery in the logs." },
	[BOUNCE_SYNTAXERROR] = { "syntaxerror", OPR, 0, 902,
	    "The mail servers did not understand each other: a command in the SMTP conversation was refused as malformed or out of order.",
	    "The relay operator should check the sending server's software and configuration (and any proxy or filter in between)." },
	[BOUNCE_NOTCOMPLIANTRFC] = { "notcompliantrfc", SND, 0, 977,
	    "The message's headers do not follow the email standard (RFC 5322), for example a missing or duplicated From, Date or Message-ID.",
	    "Fix the program that writes the message so that it produces standard headers." },
	[BOUNCE_SECURITYERROR] = { "securityerror", SND, 0, 970,
	    "A security check failed, for example the sending server was required to log in or to use a certificate and did not.",
	    "Check the sending account's credentials and the security settings the recipient's server asks for." },
	[BOUNCE_FAILEDSTARTTLS] = { "failedstarttls", OPR, 0, 976,
	    "The servers could not set up the encrypted (TLS) connection the recipient's server requires.",
	    "The relay operator should check TLS support, certificates and protocol versions on the sending side." },
	[BOUNCE_MAILERERROR] = { "mailererror", ADM, 0, 939,
	    "The program that delivers mail into the recipient's mailbox failed.",
	    "The recipient's mail administrator has to fix the delivery program (filters, scripts, permissions)." },
	[BOUNCE_DELIVERED] = { "delivered", SND, -1, 0,
	    "The message was delivered.",
	    "Nothing to do." },
	[BOUNCE_FEEDBACK] = { "feedback", SND, -1, 0,
	    "A recipient or their provider reported this message as spam or abuse (a feedback report).",
	    "Stop sending to this recipient and check why the mail was unwanted." },
	[BOUNCE_VACATION] = { "vacation", RCP, -1, 0,
	    "This is an automatic reply (for example out of office); the message was delivered.",
	    "Nothing to do; the recipient will read it later." },
};

static const char *const actor_names[] = {
	"sender", "recipient", "recipient-admin", "relay-operator",
};

const char *
bounce_reason_name(enum bounce_reason r)
{
	if ((unsigned)r >= BOUNCE_REASON_COUNT)
		r = BOUNCE_UNDEFINED;
	return reasons[r].name;
}

int
bounce_reason_from_name(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < BOUNCE_REASON_COUNT; i++)
		if (strcmp(reasons[i].name, name) == 0)
			return i;
	return -1;
}

const char *
bounce_actor_name(enum bounce_actor a)
{
	if ((unsigned)a > BOUNCE_ACTOR_RELAY_OPERATOR)
		a = BOUNCE_ACTOR_SENDER;
	return actor_names[a];
}

const char *
bounce_reason_meaning(enum bounce_reason r)
{
	if ((unsigned)r >= BOUNCE_REASON_COUNT)
		r = BOUNCE_UNDEFINED;
	return reasons[r].meaning;
}

const char *
bounce_reason_fix(enum bounce_reason r)
{
	if ((unsigned)r >= BOUNCE_REASON_COUNT)
		r = BOUNCE_UNDEFINED;
	return reasons[r].fix;
}

enum bounce_actor
bounce_reason_actor(enum bounce_reason r)
{
	if ((unsigned)r >= BOUNCE_REASON_COUNT)
		r = BOUNCE_UNDEFINED;
	return reasons[r].actor;
}

int
bounce_reason_hard(enum bounce_reason r, bool temporary)
{
	if ((unsigned)r >= BOUNCE_REASON_COUNT)
		return 0;
	if (reasons[r].hard == 2)
		return temporary ? BOUNCE_SOFT : BOUNCE_HARD;
	return reasons[r].hard;
}

int
bounce_status_infer(enum bounce_reason r, bool temporary, char *out,
    size_t outsz)
{
	int n;

	if ((unsigned)r >= BOUNCE_REASON_COUNT || reasons[r].infer == 0)
		return -1;
	n = snprintf(out, outsz, "%c.0.%d", temporary ? '4' : '5',
	    reasons[r].infer);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

/*
 * With a status code that says "user unknown", these wordings still win:
 * the code is the server's generic refusal, the words the actual cause
 * (e.g. "550 5.1.1 Mailbox full").
 */
static bool
bounce_reason_beats_userunknown(enum bounce_reason r)
{
	switch (r) {
	case BOUNCE_NORELAYING:
	case BOUNCE_BLOCKED:
	case BOUNCE_MAILBOXFULL:
	case BOUNCE_HASMOVED:
	case BOUNCE_REJECTED:
	case BOUNCE_NOTACCEPT:
		return true;
	default:
		return false;
	}
}

static bool
bounce_reason_local_program(enum bounce_reason r)
{
	switch (r) {
	case BOUNCE_MAILBOXFULL:
	case BOUNCE_SPAMDETECTED:
	case BOUNCE_POLICYVIOLATION:
	case BOUNCE_VIRUSDETECTED:
	case BOUNCE_NORELAYING:
	case BOUNCE_SECURITYERROR:
	case BOUNCE_SYSTEMERROR:
	case BOUNCE_NETWORKERROR:
	case BOUNCE_SUSPEND:
	case BOUNCE_EXPIRED:
	case BOUNCE_CONTENTERROR:
	case BOUNCE_SYSTEMFULL:
	case BOUNCE_NOTACCEPT:
	case BOUNCE_MAILERERROR:
		return true;
	default:
		return false;
	}
}

static bool
bounce_streq(const char *a, const char *b)
{
	return a != NULL && strcasecmp(a, b) == 0;
}

int
bounce_classify_hints(int reply, const char *status, const char *text,
    const struct bounce_hints *hints, struct bounce_verdict *v)
{
	static const struct bounce_hints nohints;
	char norm[BOUNCE_RULES_TEXT_MAX];
	size_t nlen = 0;
	enum bounce_reason r = BOUNCE_UNDEFINED, tr, sr;
	int cls = 0, subj, det, tier = BOUNCE_RULE_NORMAL;
	bool strong = false, temporary;
	const char *ct = NULL, *cmd;

	if (hints == NULL)
		hints = &nohints;
	cmd = hints->command;
	if (status != NULL && *status != '\0' &&
	    bounce_codes_status_parse(status, strlen(status), &cls, &subj,
	    &det) < 0)
		status = NULL;
	if (status != NULL && *status == '\0')
		status = NULL;
	if (reply < 200 || reply > 599)
		reply = 0;
	if (text != NULL)
		nlen = bounce_rules_normalize(text, strlen(text), norm,
		    sizeof(norm));

	/* RFC 3463 3.1 / RFC 5321 4.2.1: the first digit says permanence */
	if (cls != 0)
		temporary = cls == 4;
	else if (reply != 0)
		temporary = reply < 500;
	else
		temporary = hints->temporary;

	if (cls == 2 || (cls == 0 && reply >= 200 && reply < 300)) {
		r = BOUNCE_DELIVERED;
		goto out;
	}
	if (hints->preset != BOUNCE_UNDEFINED) {
		r = hints->preset;
		goto out;
	}
	/*
	 * Greylisting (a deliberate "try again later" for unknown senders)
	 * is spam control in the taxonomy's terms, but the person reading
	 * the explanation needs to hear that it is routine and temporary.
	 */
	if (bounce_rules_is_greylisting(norm, nlen)) {
		r = BOUNCE_SPAMDETECTED;
		temporary = true;
		v->reason = r;
		v->temporary = true;
		v->hard = BOUNCE_SOFT;
		v->actor = BOUNCE_ACTOR_RELAY_OPERATOR;
		v->meaning = "The recipient's server deferred the message on "
		    "purpose (greylisting): unknown senders must retry later, "
		    "which spam software rarely does.";
		v->fix = "Nothing to do: the relay retries and the next "
		    "attempt is normally accepted; only a retry that is still "
		    "refused after an hour needs a look.";
		ct = status ? bounce_codes_status_text(status) : NULL;
		if (ct == NULL && reply != 0)
			ct = bounce_codes_reply_text(reply);
		v->code_text = ct ? ct : "";
		return 0;
	}
	tr = bounce_rules_match(norm, nlen, &tier, NULL);
	/*
	 * Servers answer "user unknown" for an account that exists but is
	 * disabled or full; a reporting MTA that knows better says so in its
	 * own summary ("The user(s) account is disabled.", "Not enough disk
	 * space"), so that summary is read against a bare "user unknown".
	 */
	if (hints->context != NULL && (tr == BOUNCE_UNDEFINED ||
	    tier == BOUNCE_RULE_WEAK || tr == BOUNCE_USERUNKNOWN)) {
		/*
		 * The report's own words around the server reply ("Connected
		 * to x but sender was rejected.") count when the reply names
		 * no cause, or only a generic one.
		 */
		char cnorm[BOUNCE_RULES_TEXT_MAX];
		size_t cl = bounce_rules_normalize(hints->context,
		    strlen(hints->context), cnorm, sizeof(cnorm));
		int ctier;
		enum bounce_reason cr = bounce_rules_match(cnorm, cl, &ctier,
		    NULL);

		if (tr == BOUNCE_USERUNKNOWN && tier != BOUNCE_RULE_WEAK) {
			if (cr == BOUNCE_SUSPEND || cr == BOUNCE_MAILBOXFULL) {
				tr = cr;
				tier = BOUNCE_RULE_DECISIVE;
			}
		} else if (cr != BOUNCE_UNDEFINED && (tr == BOUNCE_UNDEFINED ||
		    ctier != BOUNCE_RULE_WEAK)) {
			tr = cr;
			tier = ctier;
		}
	}
	/*
	 * RFC 3464 2.3.6: an "x-unix" diagnostic comes from a local delivery
	 * program; its words count only for causes a program can report.
	 */
	if (bounce_streq(hints->diag_type, "x-unix")) {
		r = bounce_reason_local_program(tr) ? tr : BOUNCE_MAILERERROR;
		goto out;
	}
	sr = status ? bounce_codes_status_reason(status, &strong) :
	    BOUNCE_UNDEFINED;
	if (tr != BOUNCE_UNDEFINED) {
		if (tier == BOUNCE_RULE_WEAK)
			r = sr != BOUNCE_UNDEFINED ? sr : tr;
		else if (tier != BOUNCE_RULE_NORMAL || !strong ||
		    sr == BOUNCE_UNDEFINED)
			r = tr;
		else if (sr == BOUNCE_USERUNKNOWN &&
		    bounce_reason_beats_userunknown(tr))
			r = tr;
		else
			r = sr;
	} else
		r = sr;

	/*
	 * "User unknown" wording is taken at its word when the refusal came
	 * in answer to RCPT TO, or the status code agrees.  Said after the
	 * message data, or with no command known, it is the recipient
	 * side's filter refusing this message (the reference parser's
	 * convention, which the labels follow).
	 */
	if (r == BOUNCE_USERUNKNOWN && tr == BOUNCE_USERUNKNOWN &&
	    tier != BOUNCE_RULE_LOCAL && sr != BOUNCE_USERUNKNOWN &&
	    !bounce_streq(cmd, "RCPT"))
		r = BOUNCE_FILTERED;

	/* a refusal of MAIL FROM is about the sender, not the recipient */
	if (bounce_streq(cmd, "MAIL") && (r == BOUNCE_USERUNKNOWN ||
	    r == BOUNCE_HOSTUNKNOWN || r == BOUNCE_FILTERED ||
	    r == BOUNCE_UNDEFINED))
		r = BOUNCE_REJECTED;
	if (r != BOUNCE_UNDEFINED)
		goto out;

	if (bounce_streq(cmd, "CONN") || bounce_streq(cmd, "EHLO"))
		r = BOUNCE_BLOCKED;	/* refused before any address was sent */
	else if (hints->delayed)
		r = BOUNCE_EXPIRED;
	else if (reply >= 500 && reply <= 504)
		r = BOUNCE_SYNTAXERROR;	/* RFC 5321 4.2.2: 50x are syntax errors */
	else if (bounce_streq(hints->diag_type, "x-postfix"))
		r = BOUNCE_MAILERERROR;
	else if (nlen > 2 || reply != 0 || status != NULL)
		r = BOUNCE_ONHOLD;

out:
	v->reason = r;
	v->temporary = temporary;
	v->hard = bounce_reason_hard(r, temporary);
	v->actor = reasons[r].actor;
	v->meaning = reasons[r].meaning;
	v->fix = reasons[r].fix;
	if (status != NULL)
		ct = bounce_codes_status_text(status);
	if (ct == NULL && reply != 0)
		ct = bounce_codes_reply_text(reply);
	v->code_text = ct ? ct : "";
	return 0;
}

int
bounce_classify(int reply, const char *status, const char *text,
    struct bounce_verdict *v)
{
	return bounce_classify_hints(reply, status, text, NULL, v);
}

int
bounce_explain_format(int reply, const char *status, const char *text,
    char *out, size_t outsz)
{
	struct bounce_verdict v;
	char code[40] = "";
	int n;

	if (outsz == 0)
		return -1;
	bounce_classify(reply, status, text, &v);
	if (status != NULL && *status != '\0' && reply != 0)
		n = snprintf(code, sizeof(code), "%d %s", reply, status);
	else if (status != NULL && *status != '\0')
		n = snprintf(code, sizeof(code), "%s", status);
	else if (reply != 0)
		n = snprintf(code, sizeof(code), "%d", reply);
	else
		n = 0;
	if (n < 0 || (size_t)n >= sizeof(code))
		code[0] = '\0';
	if (code[0] != '\0' && v.code_text[0] != '\0')
		n = snprintf(out, outsz, "%s Code %s means %s. %s", v.meaning,
		    code, v.code_text, v.fix);
	else
		n = snprintf(out, outsz, "%s %s", v.meaning, v.fix);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return n;
}
