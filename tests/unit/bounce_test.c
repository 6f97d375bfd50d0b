/*
 * bounce_test - the classifier: reason table, reply and enhanced codes, and
 * the text rules against what real servers say.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bounce.h"
#include "bounce_codes.h"
#include "bounce_rules.h"

static void
test_reason_table(void **state)
{
	int i;

	(void)state;
	assert_int_equal(BOUNCE_REASON_COUNT, 35);
	for (i = 0; i < BOUNCE_REASON_COUNT; i++) {
		const char *name = bounce_reason_name((enum bounce_reason)i);

		assert_non_null(name);
		assert_int_equal(bounce_reason_from_name(name), i);
		assert_true(strlen(bounce_reason_meaning((enum bounce_reason)i)) >
		    20);
		assert_true(strlen(bounce_reason_fix((enum bounce_reason)i)) > 10);
		assert_in_range(bounce_reason_actor((enum bounce_reason)i),
		    BOUNCE_ACTOR_SENDER, BOUNCE_ACTOR_RELAY_OPERATOR);
	}
	assert_int_equal(bounce_reason_from_name("nosuchreason"), -1);
	assert_int_equal(bounce_reason_from_name(NULL), -1);
	assert_string_equal(bounce_reason_name(BOUNCE_USERUNKNOWN),
	    "userunknown");
	assert_string_equal(bounce_reason_name(BOUNCE_NOTCOMPLIANTRFC),
	    "notcompliantrfc");
	assert_string_equal(bounce_actor_name(BOUNCE_ACTOR_RECIPIENT_ADMIN),
	    "recipient-admin");
	assert_string_equal(bounce_actor_name(BOUNCE_ACTOR_RELAY_OPERATOR),
	    "relay-operator");
}

static void
test_hardness(void **state)
{
	(void)state;
	assert_int_equal(bounce_reason_hard(BOUNCE_USERUNKNOWN, false), 1);
	assert_int_equal(bounce_reason_hard(BOUNCE_USERUNKNOWN, true), 1);
	assert_int_equal(bounce_reason_hard(BOUNCE_HOSTUNKNOWN, false), 1);
	assert_int_equal(bounce_reason_hard(BOUNCE_HASMOVED, false), 1);
	assert_int_equal(bounce_reason_hard(BOUNCE_NOTACCEPT, false), 1);
	assert_int_equal(bounce_reason_hard(BOUNCE_NOTACCEPT, true), 0);
	assert_int_equal(bounce_reason_hard(BOUNCE_MAILBOXFULL, false), 0);
	assert_int_equal(bounce_reason_hard(BOUNCE_BLOCKED, false), 0);
	assert_int_equal(bounce_reason_hard(BOUNCE_DELIVERED, false), -1);
	assert_int_equal(bounce_reason_hard(BOUNCE_FEEDBACK, false), -1);
	assert_int_equal(bounce_reason_hard(BOUNCE_VACATION, false), -1);
}

/* The basic reply codes of the issue, each with a readable meaning. */
static void
test_reply_codes(void **state)
{
	static const int codes[] = { 421, 450, 451, 452, 550, 551, 552, 553,
	    554 };
	struct bounce_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *t = bounce_codes_reply_text(codes[i]);

		assert_non_null(t);
		assert_true(strlen(t) > 15);
		bounce_classify(codes[i], NULL, "", &v);
		assert_int_equal(v.temporary, codes[i] < 500);
		assert_string_equal(v.code_text, t);
		/* a bare code says a failure happened, not which */
		assert_int_equal(v.reason, BOUNCE_ONHOLD);
	}
	assert_null(bounce_codes_reply_text(299));
	/* RFC 5321 4.2.2: 50x are syntax errors */
	bounce_classify(500, NULL, "", &v);
	assert_int_equal(v.reason, BOUNCE_SYNTAXERROR);
	bounce_classify(503, NULL, "", &v);
	assert_int_equal(v.reason, BOUNCE_SYNTAXERROR);
}

/* Every code of the IANA registry that RFC 3463 and its updates define. */
static void
test_registry(void **state)
{
	static const char *const reg[] = {
		"0.0", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7",
		"1.8", "1.9", "1.10", "2.0", "2.1", "2.2", "2.3", "2.4", "3.0",
		"3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "4.0", "4.1", "4.2",
		"4.3", "4.4", "4.5", "4.6", "4.7", "5.0", "5.1", "5.2", "5.3",
		"5.4", "5.5", "5.6", "6.0", "6.1", "6.2", "6.3", "6.4", "6.5",
		"6.6", "6.7", "6.8", "6.9", "6.10", "7.0", "7.1", "7.2", "7.3",
		"7.4", "7.5", "7.6", "7.7", "7.8", "7.9", "7.10", "7.11", "7.12",
		"7.13", "7.14", "7.15", "7.16", "7.17", "7.18", "7.19", "7.20",
		"7.21", "7.22", "7.23", "7.24", "7.25", "7.26", "7.27", "7.28",
		"7.29", "7.30",
	};
	char code[16];
	size_t i;
	int c, s, d;

	(void)state;
	for (i = 0; i < sizeof(reg) / sizeof(reg[0]); i++) {
		const char *t4, *t5;

		snprintf(code, sizeof(code), "4.%s", reg[i]);
		assert_true(bounce_codes_status_registered(code));
		t4 = bounce_codes_status_text(code);
		snprintf(code, sizeof(code), "5.%s", reg[i]);
		assert_true(bounce_codes_status_registered(code));
		t5 = bounce_codes_status_text(code);
		assert_non_null(t4);
		assert_true(strlen(t5) > 10);
		assert_string_equal(t4, t5);	/* the class is not part of it */
	}
	assert_false(bounce_codes_status_registered("5.1.99"));
	/* outside the table: the subject's meaning */
	assert_string_equal(bounce_codes_status_text("5.1.99"),
	    "a problem with an address");
	assert_null(bounce_codes_status_text("5.1"));
	assert_null(bounce_codes_status_text("6.1.1"));
	assert_int_equal(bounce_codes_status_parse("5.7.509", 7, &c, &s, &d), 0);
	assert_int_equal(c * 1000000 + s * 1000 + d, 5007509);
	assert_int_equal(bounce_codes_status_parse("5.7.5090", 8, &c, &s, &d),
	    -1);
	assert_int_equal(bounce_codes_status_parse("5.7.", 4, &c, &s, &d), -1);
	assert_int_equal(bounce_codes_status_parse("3.1.1", 5, &c, &s, &d), -1);
}

struct code_case {
	int	reply;
	const char *status;
	enum bounce_reason reason;
	int	hard;
};

/* The enhanced codes named by the issue, with no text at all. */
static void
test_enhanced_codes(void **state)
{
	static const struct code_case cases[] = {
		{ 0, "5.1.1", BOUNCE_USERUNKNOWN, 1 },
		{ 550, "5.1.1", BOUNCE_USERUNKNOWN, 1 },
		{ 550, "5.1.2", BOUNCE_HOSTUNKNOWN, 1 },
		{ 552, "5.2.2", BOUNCE_MAILBOXFULL, 0 },
		{ 452, "4.2.2", BOUNCE_MAILBOXFULL, 0 },
		{ 554, "5.7.1", BOUNCE_SECURITYERROR, 0 },
		{ 450, "4.7.1", BOUNCE_SECURITYERROR, 0 },
		{ 550, "5.1.6", BOUNCE_HASMOVED, 1 },
		{ 553, "5.1.8", BOUNCE_REJECTED, 0 },
		{ 552, "5.3.4", BOUNCE_MESGTOOBIG, 0 },
		{ 550, "5.7.26", BOUNCE_AUTHFAILURE, 0 },
		{ 550, "5.7.25", BOUNCE_REQUIREPTR, 0 },
		{ 550, "5.7.13", BOUNCE_SUSPEND, 0 },
		{ 556, "5.1.10", BOUNCE_NOTACCEPT, 1 },
		{ 421, "4.4.7", BOUNCE_EXPIRED, 0 },
		{ 250, "2.0.0", BOUNCE_DELIVERED, -1 },
	};
	struct bounce_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bounce_classify(cases[i].reply, cases[i].status, NULL, &v);
		if (v.reason != cases[i].reason)
			fail_msg("%d %s: got %s, want %s", cases[i].reply,
			    cases[i].status, bounce_reason_name(v.reason),
			    bounce_reason_name(cases[i].reason));
		assert_int_equal(v.hard, cases[i].hard);
		assert_true(v.code_text[0] != '\0');
	}
	/* a malformed status is ignored, not trusted */
	bounce_classify(550, "5.x.1", "", &v);
	assert_int_equal(v.reason, BOUNCE_ONHOLD);
}

struct text_case {
	int	reply;
	const char *status;
	const char *command;
	const char *text;
	enum bounce_reason reason;
};

/* What real servers say (wording as published or seen in bounces). */
static const struct text_case texts[] = {
	/* Gmail */
	{ 550, "5.1.1", "RCPT", "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.", BOUNCE_USERUNKNOWN },
	{ 452, "4.2.2", "RCPT", "452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp", BOUNCE_MAILBOXFULL },
	{ 550, "5.7.26", "DATA", "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain", BOUNCE_AUTHFAILURE },
	{ 550, "5.7.1", "DATA", "550-5.7.1 This message does not have authentication information or fails to pass authentication checks (SPF or DKIM).", BOUNCE_AUTHFAILURE },
	{ 550, "5.7.1", "DATA", "550-5.7.1 Messages missing a valid address in From: header, or having no From: header, are not accepted.", BOUNCE_NOTCOMPLIANTRFC },
	{ 550, "5.7.1", "DATA", "550-5.7.1 This message is not RFC 5322 compliant. There are multiple Subject headers.", BOUNCE_NOTCOMPLIANTRFC },
	{ 550, "5.7.1", "DATA", "550-5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.", BOUNCE_SPAMDETECTED },
	{ 421, "4.7.28", "DATA", "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address.", BOUNCE_SPEEDING },
	{ 550, "5.2.1", "RCPT", "550-5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.", BOUNCE_SPEEDING },
	/* Microsoft 365 / Outlook.com / Exchange */
	{ 550, "5.5.0", NULL, "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).", BOUNCE_USERUNKNOWN },
	{ 550, "5.1.10", NULL, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", BOUNCE_USERUNKNOWN },
	{ 550, "5.4.1", "RCPT", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", BOUNCE_USERUNKNOWN },
	{ 550, "5.7.606", "EHLO", "550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/", BOUNCE_BLOCKED },
	{ 550, "5.2.3", NULL, "550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient", BOUNCE_EXCEEDLIMIT },
	{ 554, "5.4.14", NULL, "554 5.4.14 Hop count exceeded - possible mail loop", BOUNCE_NETWORKERROR },
	{ 0, NULL, NULL, "The recipient name is not recognized", BOUNCE_USERUNKNOWN },
	/* Yahoo / AOL */
	{ 554, "5.0.0", "RCPT", "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - mta1234.mail.example.yahoo.com", BOUNCE_USERUNKNOWN },
	{ 421, "4.7.0", "MAIL", "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1", BOUNCE_BADREPUTATION },
	{ 554, "5.7.9", "DATA", "554 5.7.9 Message not accepted for policy reasons. See https://senders.yahooinc.com/error-codes", BOUNCE_POLICYVIOLATION },
	/* Apple iCloud, Proton */
	{ 550, "5.1.1", "RCPT", "550 5.1.1 <x@icloud.com>: user does not exist", BOUNCE_USERUNKNOWN },
	{ 554, "5.7.1", "DATA", "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", BOUNCE_POLICYVIOLATION },
	{ 550, "5.1.1", "RCPT", "550 5.1.1 Address does not exist", BOUNCE_USERUNKNOWN },
	/* Postfix */
	{ 550, "5.1.1", "RCPT", "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table", BOUNCE_USERUNKNOWN },
	{ 554, "5.7.1", "RCPT", "554 5.7.1 <x@example.org>: Relay access denied", BOUNCE_NORELAYING },
	{ 450, "4.7.1", "RCPT", "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", BOUNCE_REQUIREPTR },
	{ 0, "5.4.4", NULL, "Host or domain name not found. Name service error for name=example.invalid type=A: Host not found", BOUNCE_HOSTUNKNOWN },
	{ 0, "4.4.1", NULL, "connect to mx.example.org[192.0.2.1]:25: Connection timed out", BOUNCE_EXPIRED },
	/* Exim */
	{ 0, NULL, NULL, "Unrouteable address", BOUNCE_HOSTUNKNOWN },
	{ 0, NULL, NULL, "retry timeout exceeded", BOUNCE_EXPIRED },
	{ 550, NULL, "MAIL", "550 5.7.0 <x@example.jp>... Please use the smtp server of your ISP.", BOUNCE_BLOCKED },
	/* Sendmail */
	{ 553, "5.1.8", "MAIL", "553 5.1.8 <x@example.org>... Domain of sender address y@nowhere.invalid does not exist", BOUNCE_REJECTED },
	{ 552, "5.2.3", NULL, "552 5.2.3 Message size exceeds fixed maximum message size (10485760)", BOUNCE_EXCEEDLIMIT },
	{ 554, "5.3.0", NULL, "554 5.3.0 unknown mailer error 255", BOUNCE_MAILERERROR },
	/* qmail */
	{ 0, "5.1.1", NULL, "Sorry, no mailbox here by that name. (#5.1.1)", BOUNCE_USERUNKNOWN },
	{ 0, "4.4.1", NULL, "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", BOUNCE_NETWORKERROR },
	{ 0, "5.4.4", NULL, "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", BOUNCE_NOTACCEPT },
	/* Zimbra, Amazon SES, Mimecast, Barracuda, blocklists */
	{ 552, "5.2.2", "RCPT", "552 5.2.2 Over quota", BOUNCE_MAILBOXFULL },
	{ 554, NULL, "MAIL", "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1", BOUNCE_NORELAYING },
	{ 550, NULL, "RCPT", "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550", BOUNCE_FILTERED },
	{ 554, NULL, "CONN", "554 Host network not allowed - https://community.mimecast.com/docs/DOC-1369#554", BOUNCE_POLICYVIOLATION },
	{ 554, NULL, "CONN", "554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation, see http://www.barracudanetworks.com/reputation/", BOUNCE_BLOCKED },
	{ 554, "5.7.1", "RCPT", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1", BOUNCE_BLOCKED },
	{ 550, "5.7.1", "DATA", "550 5.7.1 Message content rejected, UBE, id=00000-00-000", BOUNCE_SPAMDETECTED },
	{ 554, "5.7.1", "DATA", "554 5.7.1 Virus found in message (Eicar-Test-Signature)", BOUNCE_VIRUSDETECTED },
	/* SPF, DKIM, DMARC */
	{ 550, "5.7.23", "RCPT", "550 5.7.23 The message was rejected because of Sender Policy Framework violation", BOUNCE_AUTHFAILURE },
	{ 550, "5.7.20", "DATA", "550 5.7.20 No passing DKIM signature found", BOUNCE_AUTHFAILURE },
	{ 550, "5.7.509", "DATA", "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.", BOUNCE_AUTHFAILURE },
	/* rate limits, connections */
	{ 421, "4.7.0", "MAIL", "421 4.7.0 Rate limit exceeded, try again later", BOUNCE_SPEEDING },
	{ 421, NULL, "CONN", "421 Too many concurrent SMTP connections from this IP address; please try again later.", BOUNCE_TOOMANYCONN },
	/* quota in several languages */
	{ 552, NULL, "RCPT", "552 Postfach voll", BOUNCE_MAILBOXFULL },
	{ 552, NULL, "RCPT", "552 Boite du destinataire pleine. Recipient mailbox full", BOUNCE_MAILBOXFULL },
	{ 552, NULL, "RCPT", "552 El buz\xc3\xb3n lleno", BOUNCE_MAILBOXFULL },
	{ 0, NULL, NULL, "\xe9\x80\x81\xe4\xbf\xa1\xe5\x85\x88\xe3\x81\xae\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab\xe3\x83\x9c\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9\xe3\x81\x8c\xe4\xb8\x80\xe6\x9d\xaf\xe3\x81\xae\xe3\x81\x9f\xe3\x82\x81", BOUNCE_MAILBOXFULL },
	/* provider codes */
	{ 550, "5.2.0", "DATA", "550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]", BOUNCE_SPAMDETECTED },
	{ 550, "5.1.0", "MAIL", "550 5.1.0 <x@example.com> sender rejected. AUP#CXBL", BOUNCE_BLOCKED },
	/* the sender address was refused */
	{ 550, NULL, "MAIL", "Connected to 192.0.2.1 but sender was rejected. Remote host said: 550 Access denied", BOUNCE_REJECTED },
	{ 0, NULL, NULL, "You are not a member of this mailing list", BOUNCE_REJECTED },
	/* null MX (RFC 7505) */
	{ 0, NULL, NULL, "The domain example.org doesn't receive email according to the administrator: returned Null MX", BOUNCE_NOTACCEPT },
};

static void
test_text_rules(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct bounce_hints h;
		struct bounce_verdict v;

		memset(&h, 0, sizeof(h));
		h.command = texts[i].command;
		bounce_classify_hints(texts[i].reply, texts[i].status,
		    texts[i].text, &h, &v);
		if (v.reason != texts[i].reason)
			fail_msg("case %zu \"%.60s\": got %s, want %s", i,
			    texts[i].text, bounce_reason_name(v.reason),
			    bounce_reason_name(texts[i].reason));
	}
}

/*
 * "User unknown" answered to RCPT TO is the address; said after the data,
 * or with no command known, it is the recipient side filtering (the
 * reference vocabulary); a local agent's statement is always the address.
 */
static void
test_user_unknown_by_command(void **state)
{
	struct bounce_hints h;
	struct bounce_verdict v;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.command = "RCPT";
	bounce_classify_hints(550, NULL, "550 Unknown user x@example.jp", &h,
	    &v);
	assert_int_equal(v.reason, BOUNCE_USERUNKNOWN);
	assert_int_equal(v.hard, BOUNCE_HARD);
	h.command = "DATA";
	bounce_classify_hints(550, NULL, "550 Unknown user x@example.jp", &h,
	    &v);
	assert_int_equal(v.reason, BOUNCE_FILTERED);
	assert_int_equal(v.hard, BOUNCE_SOFT);
	/* the status code agrees: trusted whatever the command */
	bounce_classify_hints(550, "5.1.1", "550 5.1.1 User unknown", &h, &v);
	assert_int_equal(v.reason, BOUNCE_USERUNKNOWN);
	/* refused at MAIL FROM: about the sender */
	h.command = "MAIL";
	bounce_classify_hints(553, "5.1.0", "553 5.1.0 nosuch.example does not exist", &h, &v);
	assert_int_equal(v.reason, BOUNCE_REJECTED);
	/* refused at connection time with no words: blocked */
	h.command = "CONN";
	bounce_classify_hints(554, NULL, "554 mx.example.net", &h, &v);
	assert_int_equal(v.reason, BOUNCE_BLOCKED);
}

static void
test_greylisting(void **state)
{
	struct bounce_verdict v;

	(void)state;
	bounce_classify(450, "4.2.0", "450 4.2.0 <x@example.org>: Recipient "
	    "address rejected: Greylisted, see http://postgrey.schweikert.ch/",
	    &v);
	assert_int_equal(v.reason, BOUNCE_SPAMDETECTED);
	assert_true(v.temporary);
	assert_int_equal(v.hard, BOUNCE_SOFT);
	assert_non_null(strstr(v.meaning, "greylisting"));
}

static void
test_hints(void **state)
{
	struct bounce_hints h;
	struct bounce_verdict v;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.delayed = true;
	bounce_classify_hints(0, NULL, "", &h, &v);
	assert_int_equal(v.reason, BOUNCE_EXPIRED);
	memset(&h, 0, sizeof(h));
	h.preset = BOUNCE_VACATION;
	bounce_classify_hints(0, NULL, "I am out of the office", &h, &v);
	assert_int_equal(v.reason, BOUNCE_VACATION);
	assert_int_equal(v.hard, BOUNCE_NOTFAIL);
	/* x-unix: a local program; only causes a program can report */
	memset(&h, 0, sizeof(h));
	h.diag_type = "x-unix";
	bounce_classify_hints(0, "5.1.1", "procmail: No such user", &h, &v);
	assert_int_equal(v.reason, BOUNCE_MAILERERROR);
	bounce_classify_hints(0, "4.3.0", "Quota exceeded message delivery "
	    "failed", &h, &v);
	assert_int_equal(v.reason, BOUNCE_MAILBOXFULL);
	/* context: the report's words when the reply names no cause */
	memset(&h, 0, sizeof(h));
	h.context = "Connected to 192.0.2.1 but my name was rejected.";
	bounce_classify_hints(501, "5.0.0", "501 5.0.0 Invalid domain name",
	    &h, &v);
	assert_int_equal(v.reason, BOUNCE_BLOCKED);
	/* the report's summary names a disabled account: not "unknown" */
	memset(&h, 0, sizeof(h));
	h.command = "RCPT";
	h.context = "The user(s) account is disabled.";
	bounce_classify_hints(550, "5.0.0", "550 user unknown", &h, &v);
	assert_int_equal(v.reason, BOUNCE_SUSPEND);
	assert_int_equal(v.hard, BOUNCE_SOFT);
	/* ... but a summary naming no better cause leaves the reply's */
	h.context = "Delivery to the following recipients failed.";
	bounce_classify_hints(550, "5.0.0", "550 user unknown", &h, &v);
	assert_int_equal(v.reason, BOUNCE_USERUNKNOWN);
	/* no input at all */
	bounce_classify(0, NULL, NULL, &v);
	assert_int_equal(v.reason, BOUNCE_UNDEFINED);
}

static void
test_status_infer(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(bounce_status_infer(BOUNCE_USERUNKNOWN, false, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "5.0.911");
	assert_int_equal(bounce_status_infer(BOUNCE_MAILBOXFULL, true, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "4.0.922");
	assert_int_equal(bounce_status_infer(BOUNCE_EXPIRED, false, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "5.0.947");
	assert_int_equal(bounce_status_infer(BOUNCE_DELIVERED, false, out,
	    sizeof(out)), -1);
	assert_int_equal(bounce_status_infer(BOUNCE_USERUNKNOWN, false, out,
	    4), -1);
}

/* The DSN writer's entry point. */
static void
test_explain_format(void **state)
{
	char out[1024], tiny[16];
	int n;

	(void)state;
	n = bounce_explain_format(550, "5.1.1", "550 5.1.1 User unknown", out,
	    sizeof(out));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	assert_non_null(strstr(out, "does not exist"));
	assert_non_null(strstr(out, "550 5.1.1"));
	assert_null(strchr(out, '\n'));
	n = bounce_explain_format(421, NULL, "421 Too many connections", out,
	    sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "too many connections"));
	assert_int_equal(bounce_explain_format(550, "5.1.1", "x", tiny,
	    sizeof(tiny)), -1);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void
test_rules_engine(void **state)
{
	char norm[256];
	size_t n;
	int tier;
	const char *which;
	static const char in[] = "  550-5.7.1 Messages  with\tmultiple\r\n"
	    "550-5.7.1 addresses in From: header";

	(void)state;
	n = bounce_rules_normalize(in, sizeof(in) - 1, norm, sizeof(norm));
	assert_string_equal(norm, " messages with multiple addresses in from: header ");
	assert_int_equal(n, strlen(norm));
	assert_true(bounce_rules_pattern_match(norm, n, "multiple*from"));
	assert_false(bounce_rules_pattern_match(norm, n, "from*multiple"));
	assert_int_equal(bounce_rules_match(norm, n, &tier, &which),
	    BOUNCE_NOTCOMPLIANTRFC);
	assert_int_equal(tier, BOUNCE_RULE_DECISIVE);
	assert_string_equal(which, "multiple addresses in from");
	/* truncation keeps the terminator and stays in bounds */
	n = bounce_rules_normalize("abcdef", 6, norm, 4);
	assert_int_equal(n, strlen(norm));
	assert_true(n < 4);
	assert_non_null(bounce_rules_find("hello world", 11, "world", 5));
	assert_null(bounce_rules_find("hello", 5, "hello!", 6));
	assert_true(bounce_rules_is_autoreply(" i am out of the office ", 24));
	assert_false(bounce_rules_is_autoreply(" user unknown ", 14));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_table),
		cmocka_unit_test(test_hardness),
		cmocka_unit_test(test_reply_codes),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_enhanced_codes),
		cmocka_unit_test(test_text_rules),
		cmocka_unit_test(test_user_unknown_by_command),
		cmocka_unit_test(test_greylisting),
		cmocka_unit_test(test_hints),
		cmocka_unit_test(test_status_infer),
		cmocka_unit_test(test_explain_format),
		cmocka_unit_test(test_rules_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
