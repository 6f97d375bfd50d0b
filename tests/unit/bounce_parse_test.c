/*
 * bounce_parse_test - real bounces checked field by field (fixtures copied
 * from the shared corpus into tests/fixtures/bounces/), and synthetic edge
 * cases: missing parts, broken MIME, huge headers, non-UTF-8, NULs, mbox,
 * deep nesting, a 20 MB message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bounce.h"
#include "bounce_parse.h"

static char *
read_fixture(const char *name, size_t *len)
{
	const char *root = getenv("SOURCE_DIR");
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/bounces/%s",
	    root ? root : ".", name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s (set SOURCE_DIR)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Every byte sequence in s is valid UTF-8 and there is no control byte. */
static void
assert_clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = 1, i;

		if (*p < 0x20 || *p == 0x7f)
			fail_msg("control byte 0x%02x in \"%s\"", *p, s);
		if (*p < 0x80)
			n = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 4;
		else
			fail_msg("bad UTF-8 lead byte 0x%02x in \"%s\"", *p, s);
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				fail_msg("bad UTF-8 in \"%s\"", s);
		p += n;
	}
}

static void
assert_report_clean(const struct bounce_report *rep)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		assert_clean_utf8(rep->results[i].recipient);
		assert_clean_utf8(rep->results[i].status);
		assert_clean_utf8(rep->results[i].reply);
		assert_clean_utf8(rep->results[i].remote);
		assert_clean_utf8(rep->results[i].diagnostic);
	}
}

struct want {
	const char *recipient;	/* NULL: not checked */
	const char *status;
	const char *reply;
	enum bounce_reason reason;
	int	hard;
};

struct fixture {
	const char *file;
	size_t	n;
	struct want w[4];
};

/* Expected values: the corpus labels (and the addresses in the files). */
static const struct fixture fixtures[] = {
	{ "lhost-exim-01.eml", 1, {
	    { "kijitora@example.ed.jp", "5.7.0", "550", BOUNCE_BLOCKED, 0 } } },
	{ "lhost-sendmail-01.eml", 1, {
	    { "userunknown@bouncehammer.jp", "5.1.1", "550",
	    BOUNCE_USERUNKNOWN, 1 } } },
	{ "lhost-qmail-01.eml", 1, {
	    { "kijitora@example.ne.jp", "5.5.0", "550", BOUNCE_USERUNKNOWN,
	    1 } } },
	{ "lhost-gmail-01.eml", 1, {
	    { "userunknown@example.jp", "5.1.1", "550", BOUNCE_USERUNKNOWN,
	    1 } } },
	{ "lhost-postfix-46.eml", 1, {
	    { "neko-nyaan@ne.auone-net.jp", "5.0.0", "550",
	    BOUNCE_USERUNKNOWN, 1 } } },
	{ "rfc3834-01.eml", 1, {
	    { NULL, "", "", BOUNCE_VACATION, -1 } } },
	{ "arf-01.eml", 1, {
	    { "redacted@example.net", "", "", BOUNCE_FEEDBACK, -1 } } },
	{ "lhost-amazonses-09.eml", 1, {
	    { "bounce@simulator.amazonses.com", "5.1.1", "550",
	    BOUNCE_USERUNKNOWN, 1 } } },
	{ "rhost-cox-01.eml", 2, {
	    { NULL, "5.1.0", "550", BOUNCE_BLOCKED, 0 },
	    { NULL, "5.1.0", "550", BOUNCE_BLOCKED, 0 } } },
	{ "lhost-x2-04.eml", 1, {
	    { "kijitora@example.jp", "5.0.922", "", BOUNCE_MAILBOXFULL, 0 } } },
	{ "lhost-ezweb-01.eml", 1, {
	    { "this-message-rejected-by-the-domain-filter@ezweb.ne.jp",
	    "5.0.910", "", BOUNCE_FILTERED, 0 } } },
	{ "lhost-googlegroups-05.eml", 1, {
	    { "libsisimai@googlegroups.com", "5.0.918", "", BOUNCE_REJECTED,
	    0 } } },
	{ "lhost-mailru-01.eml", 1, {
	    { "kijitora@example.jp", "5.1.1", "550", BOUNCE_USERUNKNOWN, 1 } } },
	{ "lhost-v5sendmail-05.eml", 4, {
	    { "kijitora@example.edu", NULL, "550", BOUNCE_UNDEFINED, 0 },
	    { "kuroneko@example.or.jp", "5.0.912", "550", BOUNCE_HOSTUNKNOWN, 1 },
	    { "kijitora@example.org", "5.0.912", "550", BOUNCE_HOSTUNKNOWN, 1 },
	    { "mikeneko@example.co.jp", "5.0.911", "550", BOUNCE_USERUNKNOWN,
	    1 } } },
	{ "lhost-exchange2003-02.eml", 2, {
	    { "kijitora@example.co.jp", "5.0.911", "", BOUNCE_USERUNKNOWN, 1 },
	    { "mikeneko@example.co.jp", "5.0.911", "", BOUNCE_USERUNKNOWN, 1 } } },
	{ "rfc3464-42.eml", 1, {
	    { NULL, "5.0.0", "", BOUNCE_FILTERED, 0 } } },
};

static void
test_fixtures(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture *fx = &fixtures[i];
		struct bounce_report rep;
		size_t len;
		char *data = read_fixture(fx->file, &len);

		assert_int_equal(bounce_parse(data, len, &rep), 0);
		if (rep.n != fx->n)
			fail_msg("%s: %zu results, want %zu", fx->file, rep.n,
			    fx->n);
		for (k = 0; k < fx->n; k++) {
			const struct want *w = &fx->w[k];
			const struct bounce_result *r = &rep.results[k];

			if (w->recipient != NULL &&
			    strcmp(r->recipient, w->recipient) != 0)
				fail_msg("%s[%zu]: recipient %s, want %s",
				    fx->file, k, r->recipient, w->recipient);
			if (w->status != NULL && strcmp(r->status, w->status))
				fail_msg("%s[%zu]: status %s, want %s", fx->file,
				    k, r->status, w->status);
			if (strcmp(r->reply, w->reply) != 0)
				fail_msg("%s[%zu]: reply %s, want %s", fx->file,
				    k, r->reply, w->reply);
			if (w->reason != BOUNCE_UNDEFINED &&
			    r->verdict.reason != w->reason)
				fail_msg("%s[%zu]: reason %s, want %s", fx->file,
				    k, bounce_reason_name(r->verdict.reason),
				    bounce_reason_name(w->reason));
			if (w->reason != BOUNCE_UNDEFINED &&
			    r->verdict.hard != w->hard)
				fail_msg("%s[%zu]: hard %d, want %d", fx->file,
				    k, r->verdict.hard, w->hard);
			assert_non_null(r->verdict.meaning);
			assert_non_null(r->verdict.fix);
		}
		assert_report_clean(&rep);
		bounce_report_free(&rep);
		free(data);
	}
}

/* Diagnostic and remote host of two layouts, checked to the letter. */
static void
test_fixture_details(void **state)
{
	struct bounce_report rep;
	size_t len;
	char *data;

	(void)state;
	data = read_fixture("lhost-sendmail-01.eml", &len);
	assert_int_equal(bounce_parse(data, len, &rep), 0);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.results[0].diagnostic,
	    "550 5.1.1 <userunknown@bouncehammer.jp>... User Unknown");
	assert_string_equal(rep.results[0].remote, "mx.bouncehammer.jp");
	bounce_report_free(&rep);
	free(data);

	data = read_fixture("lhost-exim-01.eml", &len);
	assert_int_equal(bounce_parse(data, len, &rep), 0);
	assert_int_equal(rep.n, 1);
	assert_non_null(strstr(rep.results[0].diagnostic,
	    "Please use the smtp server of your ISP."));
	assert_string_equal(rep.results[0].remote, "mx.example.jp");
	assert_int_equal(rep.results[0].verdict.actor,
	    BOUNCE_ACTOR_RELAY_OPERATOR);
	bounce_report_free(&rep);
	free(data);
}

static void
parse_str(const char *s, struct bounce_report *rep)
{
	assert_int_equal(bounce_parse(s, strlen(s), rep), 0);
	assert_report_clean(rep);
}

static const char postfix_text[] =
    "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
    "To: sender@example.com\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "\n"
    "This is the mail system at host mx.example.org.\n"
    "\n"
    "<nobody@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1\n"
    "    <nobody@example.net>: Recipient address rejected: User unknown in\n"
    "    local recipient table (in reply to RCPT TO command)\n";

static void
test_not_a_bounce(void **state)
{
	struct bounce_report rep;

	(void)state;
	parse_str("", &rep);
	assert_int_equal(rep.n, 0);
	bounce_report_free(&rep);
	parse_str("From: alice@example.com\nTo: bob@example.org\n"
	    "Subject: lunch?\n\nShall we meet at noon?\n", &rep);
	assert_int_equal(rep.n, 0);
	bounce_report_free(&rep);
	parse_str("no headers at all, just text", &rep);
	assert_int_equal(rep.n, 0);
	bounce_report_free(&rep);
	assert_int_equal(bounce_parse(NULL, 0, &rep), 0);
	assert_int_equal(rep.n, 0);
	bounce_report_free(&rep);
}

static void
test_text_layout_crlf(void **state)
{
	struct bounce_report a, b;
	char crlf[2048];
	size_t i, o = 0;

	(void)state;
	parse_str(postfix_text, &a);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.results[0].recipient, "nobody@example.net");
	assert_string_equal(a.results[0].status, "5.1.1");
	assert_string_equal(a.results[0].reply, "550");
	assert_int_equal(a.results[0].verdict.reason, BOUNCE_USERUNKNOWN);
	assert_string_equal(a.results[0].remote, "mx.example.net");
	for (i = 0; postfix_text[i]; i++) {
		if (postfix_text[i] == '\n')
			crlf[o++] = '\r';
		crlf[o++] = postfix_text[i];
	}
	crlf[o] = '\0';
	parse_str(crlf, &b);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.results[0].recipient, a.results[0].recipient);
	assert_string_equal(b.results[0].diagnostic, a.results[0].diagnostic);
	assert_int_equal(b.results[0].verdict.reason, BOUNCE_USERUNKNOWN);
	bounce_report_free(&a);
	bounce_report_free(&b);
}

/* Exim: a refusal of MAIL FROM with no enhanced code anywhere */
static const char exim_mail_from[] =
    "From: Mail Delivery System <Mailer-Daemon@mx.example.com>\n"
    "To: sender@example.com\n"
    "Subject: Mail delivery failed: returning message to sender\n"
    "X-Failed-Recipients: someone@example.net\n"
    "\n"
    "This message was created automatically by mail delivery software.\n"
    "\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n"
    "\n"
    "  someone@example.net\n"
    "    SMTP error from remote mail server after MAIL FROM:<sender@example.com> SIZE=1024:\n"
    "    551 Server access forbidden by invalid RDNS record of your mail server (203.0.113.2).\n";

static void
test_mail_from_pseudo_status(void **state)
{
	struct bounce_report rep;

	(void)state;
	parse_str(exim_mail_from, &rep);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.results[0].recipient, "someone@example.net");
	assert_string_equal(rep.results[0].reply, "551");
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_REQUIREPTR);
	/* the sender-side refusal keeps the "on hold" pseudo code */
	assert_string_equal(rep.results[0].status, "5.0.901");
	bounce_report_free(&rep);
}

static void
test_missing_parts(void **state)
{
	struct bounce_report rep;

	(void)state;
	/* multipart/report whose delivery-status part is empty */
	parse_str("From: MAILER-DAEMON@example.org\n"
	    "Subject: Delivery Status Notification (Failure)\n"
	    "Content-Type: multipart/report; report-type=delivery-status; "
	    "boundary=\"b\"\n\n--b\nContent-Type: message/delivery-status\n\n"
	    "--b--\n", &rep);
	assert_int_equal(rep.n, 1);	/* a bounce, recipient unknown */
	assert_string_equal(rep.results[0].recipient, "");
	bounce_report_free(&rep);
	/* DSN fields without a Final-Recipient: kept as defaults */
	parse_str("From: MAILER-DAEMON@example.org\n"
	    "Content-Type: multipart/report; report-type=delivery-status; "
	    "boundary=b\n\n--b\nContent-Type: text/plain\n\n"
	    "I was unable to deliver your message to the following addresses:\n"
	    "\nx@example.net\n\n--b\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mx.example.org\nStatus: 5.2.2\n"
	    "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n--b--\n", &rep);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.results[0].recipient, "x@example.net");
	assert_string_equal(rep.results[0].status, "5.2.2");
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_MAILBOXFULL);
	bounce_report_free(&rep);
}

static void
test_broken_mime(void **state)
{
	struct bounce_report rep;
	char buf[4096];

	(void)state;
	/* boundary declared, never used: read as text */
	snprintf(buf, sizeof(buf), "From: MAILER-DAEMON@mx.example.org\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "Content-Type: multipart/mixed; boundary=\"nowhere\"\n\n%s",
	    strstr(postfix_text, "<nobody"));
	parse_str(buf, &rep);
	assert_int_equal(rep.n, 1);
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_USERUNKNOWN);
	bounce_report_free(&rep);
	/* multipart without a boundary parameter, unterminated quotes */
	parse_str("From: MAILER-DAEMON@x.example\nContent-Type: multipart/"
	    "report; boundary=\"unterminated\n\n--unterminated\n\n", &rep);
	bounce_report_free(&rep);
	/* bad base64, header without a colon, lone CR */
	parse_str("From: MAILER-DAEMON@x.example\nX-Broken\r\r\n"
	    "Content-Transfer-Encoding: base64\n\n!!!!====%%%%\n", &rep);
	bounce_report_free(&rep);
}

static void
test_non_utf8_and_nul(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@mx.example.org\n"
	    "Subject: Undelivered Mail Returned to Sender \xff\xfe\n"
	    "Content-Type: text/plain; charset=iso-8859-1\n\n"
	    "<m\xfcller@example.net>: host mx.example.net[192.0.2.1] said: "
	    "552 5.2.2 Postfach voll \xe4\xf6\xfc\x00 trailing\x01\x02\n";
	struct bounce_report rep;

	(void)state;
	assert_int_equal(bounce_parse(msg, sizeof(msg) - 1, &rep), 0);
	assert_report_clean(&rep);
	assert_int_equal(rep.n, 1);
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_MAILBOXFULL);
	/* latin-1 converted to UTF-8 */
	assert_non_null(strstr(rep.results[0].diagnostic, "\xc3\xa4"));
	bounce_report_free(&rep);
}

static void
test_huge_headers(void **state)
{
	size_t n = 400 * 1024, o = 0;
	char *buf = malloc(n + 1024);
	struct bounce_report rep;

	(void)state;
	assert_non_null(buf);
	o += (size_t)snprintf(buf, n + 1024, "From: MAILER-DAEMON@mx.example.org\n");
	while (o < n)
		o += (size_t)snprintf(buf + o, n + 1024 - o, "X-Filler: %0100d\n",
		    0);
	o += (size_t)snprintf(buf + o, n + 1024 - o, "Subject: x\n\n");
	/* one folded header line of 200 KB as well */
	assert_int_equal(bounce_parse(buf, o, &rep), 0);
	assert_report_clean(&rep);
	bounce_report_free(&rep);
	memset(buf, 'a', n);
	memcpy(buf, "Subject: ", 9);
	buf[n] = '\n';
	assert_int_equal(bounce_parse(buf, n + 1, &rep), 0);
	bounce_report_free(&rep);
	free(buf);
}

static void
test_mbox(void **state)
{
	char buf[8192];
	struct bounce_report rep;

	(void)state;
	snprintf(buf, sizeof(buf), "From MAILER-DAEMON  Thu Jul  2 12:05:05 "
	    "2020\n%s\nFrom double-bounce@example.org  Thu Jul  2 12:05:06 "
	    "2020\n%s", postfix_text, postfix_text);
	parse_str(buf, &rep);
	assert_int_equal(rep.messages, 2);
	assert_int_equal(rep.n, 2);
	bounce_report_free(&rep);
	/* a "From " line that is body text, not an mbox separator */
	snprintf(buf, sizeof(buf), "%s\nFrom me to you, greetings\n",
	    postfix_text);
	parse_str(buf, &rep);
	assert_int_equal(rep.messages, 1);
	bounce_report_free(&rep);
}

static void
test_nesting_and_parts(void **state)
{
	size_t cap = 1 << 20, o = 0;
	char *buf = malloc(cap);
	struct bounce_report rep;
	int i;

	(void)state;
	assert_non_null(buf);
	o += (size_t)snprintf(buf, cap, "From: MAILER-DAEMON@x.example\n"
	    "Content-Type: multipart/mixed; boundary=\"b0\"\n\n");
	for (i = 0; i < 60; i++)
		o += (size_t)snprintf(buf + o, cap - o, "--b%d\nContent-Type: "
		    "multipart/mixed; boundary=\"b%d\"\n\n", i, i + 1);
	o += (size_t)snprintf(buf + o, cap - o, "--b60\n\n%s\n",
	    strstr(postfix_text, "<nobody"));
	assert_int_equal(bounce_parse(buf, o, &rep), 0);
	assert_true(rep.truncated);	/* depth cap reached */
	bounce_report_free(&rep);

	o = (size_t)snprintf(buf, cap, "From: MAILER-DAEMON@x.example\n"
	    "Content-Type: multipart/mixed; boundary=\"p\"\n\n");
	for (i = 0; i < 5000; i++)
		o += (size_t)snprintf(buf + o, cap - o, "--p\n\npart %d\n", i);
	assert_int_equal(bounce_parse(buf, o, &rep), 0);
	assert_true(rep.truncated);	/* part cap reached */
	bounce_report_free(&rep);
	free(buf);
}

/* A 20 MB bounce (big attachment) is read in a bounded prefix, fast. */
static void
test_twenty_megabytes(void **state)
{
	size_t n = 20u * 1024 * 1024, o;
	char *buf = malloc(n + 4096);
	struct bounce_report rep;
	struct timespec t0, t1;
	double ms;

	(void)state;
	assert_non_null(buf);
	o = (size_t)snprintf(buf, n + 4096, "From: MAILER-DAEMON@mx.example.org\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "Content-Type: multipart/report; report-type=delivery-status; "
	    "boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mx.example.org\n\n"
	    "Final-Recipient: rfc822; big@example.net\nAction: failed\n"
	    "Status: 5.3.4\nDiagnostic-Code: smtp; 552 5.3.4 Message too big "
	    "for system\n\n--B\nContent-Type: message/rfc822\n\n"
	    "Subject: big\nContent-Type: application/octet-stream\n"
	    "Content-Transfer-Encoding: base64\n\n");
	while (o + 77 < n) {
		memcpy(buf + o, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw"
		    "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=\n", 77);
		o += 77;
	}
	o += (size_t)snprintf(buf + o, n + 4096 - o, "\n--B--\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(bounce_parse(buf, o, &rep), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.results[0].recipient, "big@example.net");
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_MESGTOOBIG);
	assert_true(rep.truncated);	/* only the prefix was read */
	/* generous for sanitizer builds on a busy machine; milliseconds
	 * in a release build */
	if (ms > 2000.0)
		fail_msg("20 MB input took %.0f ms", ms);
	bounce_report_free(&rep);
	free(buf);
}

static void
test_autoreply_and_arf(void **state)
{
	struct bounce_report rep;

	(void)state;
	parse_str("From: bob@example.org\nTo: alice@example.com\n"
	    "Auto-Submitted: auto-replied\nSubject: Out of Office: lunch?\n\n"
	    "I am away until Monday.\n", &rep);
	assert_int_equal(rep.n, 1);
	assert_int_equal(rep.results[0].verdict.reason, BOUNCE_VACATION);
	assert_int_equal(rep.results[0].verdict.hard, BOUNCE_NOTFAIL);
	assert_string_equal(rep.results[0].recipient, "bob@example.org");
	bounce_report_free(&rep);

	parse_str("From: fbl@isp.example\nContent-Type: multipart/report; "
	    "report-type=feedback-report; boundary=\"f\"\n\n--f\n"
	    "Content-Type: text/plain\n\nThis is an abuse report\n--f\n"
	    "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
	    "User-Agent: x/1\nVersion: 1\nOriginal-Rcpt-To: <u1@isp.example>\n"
	    "Original-Rcpt-To: u2@isp.example\n--f--\n", &rep);
	assert_int_equal(rep.n, 2);
	assert_string_equal(rep.results[0].recipient, "u1@isp.example");
	assert_string_equal(rep.results[1].recipient, "u2@isp.example");
	assert_int_equal(rep.results[1].verdict.reason, BOUNCE_FEEDBACK);
	bounce_report_free(&rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_fixture_details),
		cmocka_unit_test(test_not_a_bounce),
		cmocka_unit_test(test_text_layout_crlf),
		cmocka_unit_test(test_missing_parts),
		cmocka_unit_test(test_broken_mime),
		cmocka_unit_test(test_non_utf8_and_nul),
		cmocka_unit_test(test_huge_headers),
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_nesting_and_parts),
		cmocka_unit_test(test_twenty_megabytes),
		cmocka_unit_test(test_autoreply_and_arf),
		cmocka_unit_test(test_mail_from_pseudo_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
