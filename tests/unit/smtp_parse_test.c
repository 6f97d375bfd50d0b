/*
 * smtp_parse_test - command lines, mailboxes, paths, ESMTP parameters,
 * xtext.  Every case asserts the exact outcome (verb, argument, reply
 * code and enhanced code, parsed fields).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_parse.h"

/* ---- helpers ---- */

static void
reply_is(const char *reply, const char *prefix)
{
	if (reply == NULL)
		fail_msg("no reply, want \"%s\"", prefix);
	if (strncmp(reply, prefix, strlen(prefix)) != 0)
		fail_msg("reply \"%s\", want prefix \"%s\"", reply, prefix);
	/* Every reply is a whole line: "ddd d.d.d text", no CR/LF. */
	assert_true(strlen(reply) > 10);
	assert_null(strpbrk(reply, "\r\n"));
	assert_int_equal(reply[3], ' ');
	assert_int_equal(reply[4], reply[0]);
	assert_int_equal(reply[5], '.');
}

static void
cmd_ok(const char *line, enum smtp_verb verb, const char *arg)
{
	struct smtp_cmd cmd;
	const char *reply = "unset";

	if (smtp_cmd_parse(line, strlen(line), &cmd, &reply) != 0)
		fail_msg("\"%s\" refused: %s", line, reply);
	assert_int_equal(cmd.verb, verb);
	assert_int_equal(cmd.arg_len, strlen(arg));
	assert_memory_equal(cmd.arg, arg, cmd.arg_len);
}

static void
cmd_bad_len(const char *line, size_t len, const char *prefix)
{
	struct smtp_cmd cmd;
	const char *reply = NULL;

	if (smtp_cmd_parse(line, len, &cmd, &reply) == 0)
		fail_msg("\"%s\" accepted as verb %d", line, (int)cmd.verb);
	reply_is(reply, prefix);
}

static void
cmd_bad(const char *line, const char *prefix)
{
	cmd_bad_len(line, strlen(line), prefix);
}

static void
mb_ok(const char *s, bool utf8, struct smtp_mailbox *mb)
{
	if (smtp_mailbox_parse(s, strlen(s), utf8, mb) != 0)
		fail_msg("mailbox \"%s\" refused (utf8=%d)", s, utf8);
}

static void
mb_ok2(const char *s, const char *local, const char *domain)
{
	struct smtp_mailbox mb;

	mb_ok(s, false, &mb);
	assert_string_equal(mb.local, local);
	assert_int_equal(mb.local_len, strlen(local));
	assert_string_equal(mb.domain, domain);
	assert_int_equal(mb.domain_len, strlen(domain));
}

static void
mb_bad(const char *s, bool utf8)
{
	struct smtp_mailbox mb;

	if (smtp_mailbox_parse(s, strlen(s), utf8, &mb) == 0)
		fail_msg("mailbox \"%s\" accepted (utf8=%d)", s, utf8);
}

static void
mail_ok(const char *arg, struct smtp_mail_args *m)
{
	const char *reply = NULL;

	if (smtp_mail_parse(arg, strlen(arg), m, &reply) != 0)
		fail_msg("MAIL arg \"%s\" refused: %s", arg, reply);
	assert_null(reply);
}

static void
mail_bad(const char *arg, const char *prefix)
{
	struct smtp_mail_args m;
	const char *reply = NULL;

	if (smtp_mail_parse(arg, strlen(arg), &m, &reply) == 0)
		fail_msg("MAIL arg \"%s\" accepted", arg);
	reply_is(reply, prefix);
}

static void
rcpt_ok(const char *arg, bool utf8_ok, struct smtp_rcpt_args *r)
{
	const char *reply = NULL;

	if (smtp_rcpt_parse(arg, strlen(arg), utf8_ok, r, &reply) != 0)
		fail_msg("RCPT arg \"%s\" refused: %s", arg, reply);
}

static void
rcpt_bad(const char *arg, bool utf8_ok, const char *prefix)
{
	struct smtp_rcpt_args r;
	const char *reply = NULL;

	if (smtp_rcpt_parse(arg, strlen(arg), utf8_ok, &r, &reply) == 0)
		fail_msg("RCPT arg \"%s\" accepted", arg);
	reply_is(reply, prefix);
}

/* s = c repeated n times, NUL-terminated (s must hold n + 1). */
static char *
rep(char *s, char c, size_t n)
{
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- command lines ---- */

static void
test_cmd_verbs(void **state)
{
	(void)state;
	cmd_ok("HELO mx.example.com", SMTP_VERB_HELO, "mx.example.com");
	cmd_ok("ehlo mx.example.com", SMTP_VERB_EHLO, "mx.example.com");
	cmd_ok("EhLo   [192.0.2.1]  ", SMTP_VERB_EHLO, "[192.0.2.1]");
	cmd_ok("EHLO [IPv6:2001:db8::1]", SMTP_VERB_EHLO, "[IPv6:2001:db8::1]");
	cmd_ok("DATA", SMTP_VERB_DATA, "");
	cmd_ok("data ", SMTP_VERB_DATA, "");
	cmd_ok("RSET", SMTP_VERB_RSET, "");
	cmd_ok("QUIT", SMTP_VERB_QUIT, "");
	cmd_ok("StartTLS", SMTP_VERB_STARTTLS, "");
	cmd_ok("NOOP", SMTP_VERB_NOOP, "");
	cmd_ok("NOOP hello there", SMTP_VERB_NOOP, "hello there");
	cmd_ok("HELP", SMTP_VERB_HELP, "");
	cmd_ok("HELP MAIL", SMTP_VERB_HELP, "MAIL");
	cmd_ok("VRFY", SMTP_VERB_VRFY, "");
	cmd_ok("VRFY <bob@example.com>", SMTP_VERB_VRFY, "<bob@example.com>");
	cmd_ok("EXPN list", SMTP_VERB_EXPN, "list");
	cmd_ok("AUTH PLAIN", SMTP_VERB_AUTH, "PLAIN");
	cmd_ok("BDAT 100 LAST", SMTP_VERB_BDAT, "100 LAST");
	/* UTF-8 in an argument is not a control byte. */
	cmd_ok("NOOP \xc3\xa9", SMTP_VERB_NOOP, "\xc3\xa9");
}

static void
test_cmd_mail_rcpt(void **state)
{
	(void)state;
	cmd_ok("MAIL FROM:<a@b.example>", SMTP_VERB_MAIL, "<a@b.example>");
	cmd_ok("mail from:<>", SMTP_VERB_MAIL, "<>");
	cmd_ok("MAIL FROM: <a@b.example> SIZE=10", SMTP_VERB_MAIL,
	    "<a@b.example> SIZE=10");
	cmd_ok("MAIL  FROM:   <a@b.example>   ", SMTP_VERB_MAIL,
	    "<a@b.example>");
	cmd_ok("Mail From:", SMTP_VERB_MAIL, "");
	cmd_ok("RCPT TO:<x@y.example>", SMTP_VERB_RCPT, "<x@y.example>");
	cmd_ok("rcpt to: <Postmaster>", SMTP_VERB_RCPT, "<Postmaster>");

	cmd_bad("MAIL", "501 5.5.4");
	cmd_bad("MAIL FROM <a@b>", "501 5.5.4");
	cmd_bad("MAIL TO:<a@b>", "501 5.5.4");
	cmd_bad("MAIL FROM :<a@b>", "501 5.5.4");
	cmd_bad("RCPT", "501 5.5.4");
	cmd_bad("RCPT FROM:<a@b>", "501 5.5.4");
	cmd_bad("RCPT T:<a@b>", "501 5.5.4");
	cmd_bad("MAILFROM:<a@b>", "500 5.5.1");
	cmd_bad("MAIL:FROM:<a@b>", "500 5.5.1");
}

static void
test_cmd_helo(void **state)
{
	(void)state;
	cmd_ok("HELO localhost", SMTP_VERB_HELO, "localhost");
	cmd_ok("EHLO [1.2.3.4]", SMTP_VERB_EHLO, "[1.2.3.4]");
	cmd_bad("HELO", "501 5.5.4");
	cmd_bad("EHLO", "501 5.5.4");
	cmd_bad("EHLO    ", "501 5.5.4");
	cmd_bad("EHLO bad_host.example", "501 5.5.4");
	cmd_bad("EHLO host.example extra", "501 5.5.4");
	cmd_bad("EHLO host..example", "501 5.5.4");
	cmd_bad("EHLO -host.example", "501 5.5.4");
	cmd_bad("EHLO [300.1.1.1]", "501 5.5.4");
	cmd_bad("EHLO [IPv6:zz]", "501 5.5.4");
	cmd_bad("EHLO \xe4\xbe\x8b\xe5\xad\x90.example", "501 5.5.4");
	cmd_bad("HELO a@b", "501 5.5.4");
}

static void
test_cmd_no_params(void **state)
{
	(void)state;
	cmd_bad("DATA now", "501 5.5.4 Syntax error, no parameters allowed");
	cmd_bad("RSET x", "501 5.5.4 Syntax error, no parameters allowed");
	cmd_bad("QUIT bye", "501 5.5.4 Syntax error, no parameters allowed");
	cmd_bad("STARTTLS x", "501 5.5.4 Syntax error, no parameters allowed");
	cmd_bad("AUTH", "501 5.5.4");
	cmd_bad("BDAT  ", "501 5.5.4");
}

static void
test_cmd_control_and_unknown(void **state)
{
	(void)state;
	cmd_bad_len("NOOP a\0b", 8, "500 5.5.2");
	cmd_bad_len("\0", 1, "500 5.5.2");
	cmd_bad("NOOP\tx", "500 5.5.2");
	cmd_bad("MAIL FROM:<a@b>\r", "500 5.5.2");
	cmd_bad("RCPT TO:<a@b>\nDATA", "500 5.5.2");
	cmd_bad("NOOP \x7f", "500 5.5.2");
	cmd_bad("NOOP \x1b[2J", "500 5.5.2");

	cmd_bad("", "500 5.5.1 Command unrecognized");
	cmd_bad_len(NULL, 0, "500 5.5.1");
	cmd_bad("   ", "500 5.5.1");
	cmd_bad("FOO", "500 5.5.1");
	cmd_bad("DATAX", "500 5.5.1");
	cmd_bad("DAT", "500 5.5.1");
	cmd_bad(" DATA", "500 5.5.1");
	cmd_bad("STARTTLSX", "500 5.5.1");
	cmd_bad("\xc4\x90" "ATA", "500 5.5.1");
	cmd_bad("GET / HTTP/1.1", "500 5.5.1");
}

/* ---- mailboxes ---- */

static void
test_mailbox_dot_string(void **state)
{
	char buf[600];
	char local[80];

	(void)state;
	mb_ok2("user@example.com", "user", "example.com");
	mb_ok2("first.last@example.com", "first.last", "example.com");
	mb_ok2("!#$%&'*+-/=?^_`{|}~@x", "!#$%&'*+-/=?^_`{|}~", "x");
	mb_ok2("UPPER@Example.COM", "UPPER", "Example.COM");
	mb_bad("", false);
	mb_bad("@example.com", false);
	mb_bad("user", false);
	mb_bad("user@", false);
	mb_bad(".user@x", false);
	mb_bad("user.@x", false);
	mb_bad("us..er@x", false);
	mb_bad("us er@x", false);
	mb_bad("us(er@x", false);
	mb_bad("us,er@x", false);
	mb_bad("a@b@c", false);
	mb_bad("a\"b@x", false);

	/* RFC 5321 4.5.3.1.1: 64 octets. */
	snprintf(buf, sizeof(buf), "%s@x", rep(local, 'a', 64));
	mb_ok2(buf, local, "x");
	snprintf(buf, sizeof(buf), "%s@x", rep(local, 'a', 65));
	mb_bad(buf, false);
	mb_bad(buf, true);
}

static void
test_mailbox_quoted(void **state)
{
	struct smtp_mailbox mb;
	char buf[600], local[200];
	size_t i;

	(void)state;
	mb_ok("\"john doe\"@example.com", false, &mb);
	assert_true(mb.quoted);
	assert_string_equal(mb.local, "\"john doe\"");
	assert_string_equal(mb.domain, "example.com");
	mb_ok2("\"a\\\"b\"@x", "\"a\\\"b\"", "x");
	mb_ok2("\"a\\\\b\"@x", "\"a\\\\b\"", "x");
	mb_ok2("\"a>b\"@x", "\"a>b\"", "x");
	mb_ok2("\"@\"@x", "\"@\"", "x");
	mb_ok2("\"\"@x", "\"\"", "x");
	mb_ok2("\"a.\"@x", "\"a.\"", "x");
	mb_ok("plain@x", false, &mb);
	assert_false(mb.quoted);

	mb_bad("\"unterminated@x", false);
	mb_bad("\"a\"b@x", false);		/* text after the quote */
	mb_bad("\"a\".b@x", false);
	mb_bad("\"a\\\"@x", false);		/* escaped closing quote */
	mb_bad("\"a\tb\"@x", false);		/* HTAB not in qtextSMTP */
	mb_bad("\"a\\\tb\"@x", false);		/* nor in quoted-pairSMTP */
	mb_bad("\"a\rb\"@x", false);
	{
		static const char nul[] = "\"a\0b\"@x";

		assert_int_equal(smtp_mailbox_parse(nul, sizeof(nul) - 1,
		    true, &mb), -1);
	}

	/* 64 octets of content; every one escaped = 130 as written. */
	local[0] = '"';
	for (i = 0; i < 64; i++) {
		local[1 + 2 * i] = '\\';
		local[2 + 2 * i] = 'q';
	}
	local[129] = '"';
	local[130] = '\0';
	snprintf(buf, sizeof(buf), "%s@x", local);
	mb_ok(buf, false, &mb);
	assert_int_equal(mb.local_len, 130);
	assert_string_equal(mb.local, local);
	/* 65 octets of content. */
	local[0] = '"';
	rep(local + 1, 'b', 65);
	local[66] = '"';
	local[67] = '\0';
	snprintf(buf, sizeof(buf), "%s@x", local);
	mb_bad(buf, false);
	local[65] = '"';
	local[66] = '\0';
	snprintf(buf, sizeof(buf), "%s@x", local);
	mb_ok(buf, false, &mb);
	assert_int_equal(mb.local_len, 66);
}

static void
test_mailbox_domains(void **state)
{
	char buf[700], label[80];
	struct smtp_mailbox mb;
	size_t n;

	(void)state;
	mb_ok2("a@localhost", "a", "localhost");
	mb_ok2("a@x-y.example", "a", "x-y.example");
	mb_ok2("a@1.example", "a", "1.example");
	mb_ok2("a@xn--bcher-kva.example", "a", "xn--bcher-kva.example");
	mb_bad("a@-x.example", false);
	mb_bad("a@x-.example", false);
	mb_bad("a@x..example", false);
	mb_bad("a@.example", false);
	mb_bad("a@example.", false);
	mb_bad("a@ex_ample.com", false);
	mb_bad("a@ex ample.com", false);
	mb_bad("a@exa!mple.com", false);

	/* 63-octet labels pass, 64 fail (RFC 1035 2.3.4). */
	snprintf(buf, sizeof(buf), "a@%s.com", rep(label, 'l', 63));
	mb_ok(buf, false, &mb);
	snprintf(buf, sizeof(buf), "a@%s.com", rep(label, 'l', 64));
	mb_bad(buf, false);

	/* Domain of exactly 255 octets passes, 256 fails. */
	rep(label, 'd', 50);
	n = (size_t)snprintf(buf, sizeof(buf), "a@%s.%s.%s.%s.", label,
	    label, label, label);	/* 2 + 4 * 51 */
	rep(label, 'e', 51);
	snprintf(buf + n, sizeof(buf) - n, "%s", label);
	mb_ok(buf, false, &mb);
	assert_int_equal(mb.domain_len, 255);
	rep(label, 'e', 52);
	snprintf(buf + n, sizeof(buf) - n, "%s", label);
	mb_bad(buf, false);
}

static void
test_mailbox_literals(void **state)
{
	struct smtp_mailbox mb;

	(void)state;
	mb_ok("a@[192.0.2.1]", false, &mb);
	assert_true(mb.literal);
	assert_string_equal(mb.domain, "[192.0.2.1]");
	mb_ok2("a@[0.0.0.0]", "a", "[0.0.0.0]");
	mb_ok2("a@[255.255.255.255]", "a", "[255.255.255.255]");
	mb_ok2("a@[001.2.3.4]", "a", "[001.2.3.4]");	/* Snum = 1*3DIGIT */
	mb_bad("a@[256.1.1.1]", false);
	mb_bad("a@[1.2.3]", false);
	mb_bad("a@[1.2.3.4.5]", false);
	mb_bad("a@[1.2.3.]", false);
	mb_bad("a@[1234.1.1.1]", false);
	mb_bad("a@[1.2.3.4", false);
	mb_bad("a@1.2.3.4]", false);
	mb_bad("a@[]", false);
	mb_bad("a@[ 1.2.3.4]", false);
	mb_bad("a@[-1.2.3.4]", false);

	mb_ok2("a@[IPv6:::1]", "a", "[IPv6:::1]");
	mb_ok2("a@[ipv6:2001:DB8::1]", "a", "[ipv6:2001:DB8::1]");
	mb_ok2("a@[IPv6:1:2:3:4:5:6:7:8]", "a", "[IPv6:1:2:3:4:5:6:7:8]");
	mb_ok2("a@[IPv6:::ffff:192.0.2.1]", "a", "[IPv6:::ffff:192.0.2.1]");
	mb_ok2("a@[IPv6:fe80::]", "a", "[IPv6:fe80::]");
	mb_bad("a@[IPv6:1:2:3:4:5:6:7:8:9]", false);
	mb_bad("a@[IPv6:1:2:3:4:5:6:7]", false);
	mb_bad("a@[IPv6:gg::1]", false);
	mb_bad("a@[IPv6:]", false);
	mb_bad("a@[IPv6:1::2::3]", false);
	mb_bad("a@[IPv6:fe80::1%eth0]", false);
	mb_bad("a@[IPv6:12345::]", false);
	mb_bad("a@[IPv6:::ffff:300.0.2.1]", false);
	mb_bad("a@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]",
	    false);

	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	mb_ok("a@[x-tag:some.content!]", false, &mb);
	assert_true(mb.literal);
	mb_ok2("a@[Tag9:a:b:c]", "a", "[Tag9:a:b:c]");
	mb_bad("a@[tag:]", false);
	mb_bad("a@[:content]", false);
	mb_bad("a@[tag-:content]", false);
	mb_bad("a@[t_g:content]", false);
	mb_bad("a@[tag:a]b]", false);
	mb_bad("a@[tag:a[b]", false);
	mb_bad("a@[tag:a\\b]", false);
	mb_bad("a@[tag:a b]", false);
	mb_bad("a@[tag:\xc3\xa9]", true);
}

static void
test_mailbox_utf8(void **state)
{
	struct smtp_mailbox mb;

	(void)state;
	/* "用户@例子.广告" */
	static const char cjk[] = "\xe7\x94\xa8\xe6\x88\xb7@"
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a";

	mb_ok(cjk, true, &mb);
	assert_true(mb.utf8);
	assert_int_equal(mb.local_len, 6);
	mb_bad(cjk, false);
	mb_ok("ascii@example.com", true, &mb);
	assert_false(mb.utf8);
	mb_ok("j\xc3\xb6rg@example.com", true, &mb);	/* local only */
	assert_true(mb.utf8);
	mb_bad("j\xc3\xb6rg@example.com", false);
	mb_ok("joerg@b\xc3\xbc" "cher.example", true, &mb);	/* domain only */
	assert_true(mb.utf8);
	mb_bad("joerg@b\xc3\xbc" "cher.example", false);
	mb_ok("\"j\xc3\xb6 rg\"@example.com", true, &mb);	/* quoted */
	assert_true(mb.utf8);
	mb_bad("\"j\xc3\xb6 rg\"@example.com", false);
	mb_ok("\xf0\x9f\x98\x80@example.com", true, &mb);	/* U+1F600 */
	mb_ok("\xf4\x8f\xbf\xbf@example.com", true, &mb);	/* U+10FFFF */
	mb_ok("\xef\xbf\xbd@example.com", true, &mb);		/* U+FFFD */

	mb_bad("\xc0\xaf@example.com", true);		/* overlong '/' */
	mb_bad("\xc1\xbf@example.com", true);		/* overlong */
	mb_bad("\xe0\x80\xaf@example.com", true);	/* overlong 3-byte */
	mb_bad("\xf0\x80\x80\xaf@example.com", true);	/* overlong 4-byte */
	mb_bad("\xed\xa0\x80@example.com", true);	/* U+D800 surrogate */
	mb_bad("\xed\xbf\xbf@example.com", true);	/* U+DFFF */
	mb_bad("\xf4\x90\x80\x80@example.com", true);	/* > U+10FFFF */
	mb_bad("\xf5\x80\x80\x80@example.com", true);
	mb_bad("\xff@example.com", true);
	mb_bad("\x80@example.com", true);		/* lone continuation */
	mb_bad("\xe4\xb8@example.com", true);		/* truncated */
	mb_bad("a@example.\xe4\xb8", true);		/* truncated at end */
	mb_bad("a@\xe4\xb8\xad-.example", true);	/* hyphen rules still */
	mb_bad("a@ex\xc2\xa0mple\xc0.com", true);
}

static void
test_mailbox_format(void **state)
{
	struct smtp_mailbox mb, mb2;
	char out[SMTP_LOCAL_MAX * 2 + 3 + SMTP_DOMAIN_MAX + 2];

	(void)state;
	mb_ok("\"a b\"@[IPv6:::1]", false, &mb);
	assert_int_equal(smtp_mailbox_format(&mb, out, sizeof(out)), 16);
	assert_string_equal(out, "\"a b\"@[IPv6:::1]");
	mb_ok(out, false, &mb2);
	assert_memory_equal(&mb, &mb2, sizeof(mb));
	/* Exactly fits (16 + NUL), one short fails. */
	assert_int_equal(smtp_mailbox_format(&mb, out, 17), 16);
	assert_int_equal(smtp_mailbox_format(&mb, out, 16), -1);
	assert_int_equal(smtp_mailbox_format(&mb, out, 0), -1);

	memset(&mb, 0, sizeof(mb));
	memcpy(mb.local, "Postmaster", 11);
	mb.local_len = 10;
	assert_int_equal(smtp_mailbox_format(&mb, out, sizeof(out)), 10);
	assert_string_equal(out, "Postmaster");
}

static void
test_domain_check(void **state)
{
	(void)state;
	assert_int_equal(smtp_domain_check("example.com", 11, false, false), 0);
	assert_int_equal(smtp_domain_check("[1.2.3.4]", 9, true, false), 0);
	assert_int_equal(smtp_domain_check("[1.2.3.4]", 9, false, false), -1);
	assert_int_equal(smtp_domain_check("", 0, true, true), -1);
	assert_int_equal(smtp_domain_check("b\xc3\xbc.de", 6, false, true), 0);
	assert_int_equal(smtp_domain_check("b\xc3\xbc.de", 6, false, false), -1);
}

/* ---- MAIL FROM ---- */

static void
test_mail_paths(void **state)
{
	struct smtp_mail_args m;
	char buf[600], local[80], label[80];

	(void)state;
	mail_ok("<bob@example.com>", &m);
	assert_false(m.null_sender);
	assert_string_equal(m.from.local, "bob");
	assert_string_equal(m.from.domain, "example.com");
	assert_int_equal(m.size, -1);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_false(m.smtputf8);
	assert_int_equal(m.ret, SMTP_RET_NONE);
	assert_string_equal(m.envid, "");

	mail_ok("<>", &m);
	assert_true(m.null_sender);
	assert_int_equal(m.from.local_len, 0);
	mail_ok("  <>  ", &m);
	assert_true(m.null_sender);
	mail_ok("<\"a>b c\"@example.com>", &m);
	assert_string_equal(m.from.local, "\"a>b c\"");
	mail_ok("<a@[x-tag:a>b]> SIZE=5", &m);
	assert_string_equal(m.from.domain, "[x-tag:a>b]");
	assert_int_equal(m.size, 5);
	mail_bad("<a@[x-tag:a>", "501 5.1.7");

	/* Source routes: accepted and ignored (RFC 5321 C). */
	mail_ok("<@relay.example:bob@example.com>", &m);
	assert_string_equal(m.from.local, "bob");
	assert_string_equal(m.from.domain, "example.com");
	mail_ok("<@a.example,@b.example:bob@example.com>", &m);
	assert_string_equal(m.from.domain, "example.com");
	mail_bad("<@a.example:>", "501 5.1.7");
	mail_bad("<@:bob@example.com>", "501 5.1.7");
	mail_bad("<@a.example,bob@example.com>", "501 5.1.7");
	mail_bad("<@a.example,:bob@example.com>", "501 5.1.7");
	mail_bad("<@a_b.example:bob@example.com>", "501 5.1.7");
	mail_bad("<@[1.2.3.4]:bob@example.com>", "501 5.1.7");
	mail_bad("<@a.example bob@example.com>", "501 5.1.7");

	mail_bad("", "501 5.1.7");
	mail_bad("bob@example.com", "501 5.1.7");
	mail_bad("<bob@example.com", "501 5.1.7");
	mail_bad("bob@example.com>", "501 5.1.7");
	mail_bad("<bob>", "501 5.1.7");
	mail_bad("<Postmaster>", "501 5.1.7");
	mail_bad("<bob@example.com>x", "501 5.1.7");
	mail_bad("<bob@example.com>SIZE=1", "501 5.1.7");
	mail_bad("<<bob@example.com>>", "501 5.1.7");
	mail_bad("<bob@@example.com>", "501 5.1.7");
	mail_bad("< bob@example.com>", "501 5.1.7");

	/* Path limit 256 octets including the brackets (4.5.3.1.3). */
	rep(local, 'l', 64);
	rep(label, 'd', 63);
	snprintf(buf, sizeof(buf), "<%s@%s.%s.%.61s>", local, label, label,
	    label);
	assert_int_equal(strlen(buf), 256);
	mail_ok(buf, &m);
	snprintf(buf, sizeof(buf), "<%s@%s.%s.%.62s>", local, label, label,
	    label);
	mail_bad(buf, "501 5.1.7 Sender path too long");
	snprintf(buf, sizeof(buf), "<@%s:%s@%s.%.61s>", label, local, label,
	    label);
	assert_int_equal(strlen(buf), 257);
	mail_bad(buf, "501 5.1.7 Sender path too long");
}

static void
test_mail_params(void **state)
{
	struct smtp_mail_args m;

	(void)state;
	mail_ok("<a@b.example> SIZE=12345 BODY=8BITMIME RET=HDRS "
	    "ENVID=QQ+2B+3Dx SMTPUTF8", &m);
	assert_int_equal(m.size, 12345);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_int_equal(m.ret, SMTP_RET_HDRS);
	assert_string_equal(m.envid, "QQ+=x");
	assert_true(m.smtputf8);

	mail_ok("<> size=0 body=7bit ret=full smtputf8", &m);
	assert_int_equal(m.size, 0);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_int_equal(m.ret, SMTP_RET_FULL);
	assert_true(m.smtputf8);
	mail_ok("<a@b.example>    SIZE=1     BODY=7BIT   ", &m);
	assert_int_equal(m.size, 1);

	/* SIZE: 1*20DIGIT; overflow clamps so the size check refuses it. */
	mail_ok("<> SIZE=99999999999999999999", &m);
	assert_int_equal(m.size, LLONG_MAX);
	mail_ok("<> SIZE=9223372036854775807", &m);
	assert_int_equal(m.size, LLONG_MAX);
	mail_ok("<> SIZE=9223372036854775806", &m);
	assert_int_equal(m.size, LLONG_MAX - 1);
	mail_ok("<> SIZE=00000000000000000042", &m);
	assert_int_equal(m.size, 42);
	mail_bad("<> SIZE=100000000000000000000", "501 5.5.4");
	mail_bad("<> SIZE=-1", "501 5.5.4");
	mail_bad("<> SIZE=1k", "501 5.5.4");
	mail_bad("<> SIZE", "501 5.5.4");
	mail_bad("<> SIZE=", "501 5.5.4");

	mail_bad("<> BODY=BINARYMIME", "555 5.5.4");
	mail_bad("<> BODY=8BIT", "501 5.5.4");
	mail_bad("<> BODY", "501 5.5.4");
	mail_bad("<> SMTPUTF8=yes", "501 5.5.4");
	mail_bad("<> RET=ALL", "501 5.5.4");
	mail_bad("<> RET", "501 5.5.4");

	/* Duplicates, unknown, malformed. */
	mail_bad("<> SIZE=1 SIZE=2", "501 5.5.4 Duplicate");
	mail_bad("<> BODY=7BIT body=8bitmime", "501 5.5.4 Duplicate");
	mail_bad("<> SMTPUTF8 SMTPUTF8", "501 5.5.4 Duplicate");
	mail_bad("<> RET=FULL RET=FULL", "501 5.5.4 Duplicate");
	mail_bad("<> ENVID=a ENVID=a", "501 5.5.4 Duplicate");
	mail_bad("<> AUTH=<>", "555 5.5.4");
	mail_bad("<> NOTIFY=NEVER", "555 5.5.4");
	mail_bad("<> X-FOO", "555 5.5.4");
	mail_bad("<> =1", "501 5.5.4");
	mail_bad("<> SI_ZE=1", "501 5.5.4");
	mail_bad("<> -SIZE=1", "501 5.5.4");
	mail_bad("<> SIZE==1", "501 5.5.4");
	mail_bad("<> SIZE=1=2", "501 5.5.4");
	mail_bad("<> X-FOO=\x7f", "501 5.5.4");
}

static void
test_mail_envid(void **state)
{
	struct smtp_mail_args m;
	char buf[400], v[320];
	size_t i;

	(void)state;
	/* 100 decoded octets pass, 101 fail (RFC 3461 4.4). */
	snprintf(buf, sizeof(buf), "<> ENVID=%s", rep(v, 'e', 100));
	mail_ok(buf, &m);
	assert_int_equal(strlen(m.envid), 100);
	snprintf(buf, sizeof(buf), "<> ENVID=%s", rep(v, 'e', 101));
	mail_bad(buf, "501 5.5.4");
	/* 100 decoded from 300 encoded octets. */
	for (i = 0; i < 100; i++)
		memcpy(v + 3 * i, "+41", 3);
	v[300] = '\0';
	snprintf(buf, sizeof(buf), "<> ENVID=%s", v);
	mail_ok(buf, &m);
	assert_string_equal(m.envid, rep(v, 'A', 100));

	mail_ok("<> ENVID=a+20b", &m);		/* space is printable */
	assert_string_equal(m.envid, "a b");
	mail_bad("<> ENVID=a+0Db", "501 5.5.4");	/* CR: header injection */
	mail_bad("<> ENVID=a+00", "501 5.5.4");
	mail_bad("<> ENVID=a+C3+A9", "501 5.5.4");	/* not ASCII */
	mail_bad("<> ENVID=a+4", "501 5.5.4");
	mail_bad("<> ENVID=a+GG", "501 5.5.4");
	mail_bad("<> ENVID", "501 5.5.4");
	mail_bad("<> ENVID=\xc3\xa9", "501 5.5.4");
}

static void
test_mail_utf8(void **state)
{
	struct smtp_mail_args m;

	(void)state;
	mail_bad("<j\xc3\xb6rg@example.com>", "553 5.6.7");
	mail_bad("<a@b\xc3\xbc" "cher.example> SIZE=1", "553 5.6.7");
	mail_ok("<j\xc3\xb6rg@example.com> SMTPUTF8", &m);
	assert_true(m.from.utf8);
	assert_string_equal(m.from.local, "j\xc3\xb6rg");
	/* Malformed UTF-8 is bad syntax, whatever the parameters. */
	mail_bad("<j\xc0\xafrg@example.com> SMTPUTF8", "501 5.1.7");
	mail_bad("<j\xed\xa0\x80rg@example.com> SMTPUTF8", "501 5.1.7");
	/* Syntax errors come before the UTF-8 check. */
	mail_bad("<j\xc3\xb6rg@example.com> SIZE=x", "501 5.5.4");
}

/* ---- RCPT TO ---- */

static void
test_rcpt_paths(void **state)
{
	struct smtp_rcpt_args r;

	(void)state;
	rcpt_ok("<alice@example.com>", false, &r);
	assert_false(r.postmaster);
	assert_string_equal(r.to.local, "alice");
	assert_string_equal(r.to.domain, "example.com");
	assert_int_equal(r.notify, SMTP_NOTIFY_NONE);
	assert_string_equal(r.orcpt, "");

	rcpt_ok("<Postmaster>", false, &r);
	assert_true(r.postmaster);
	assert_string_equal(r.to.local, "Postmaster");
	assert_int_equal(r.to.domain_len, 0);
	rcpt_ok("<POSTMASTER>", false, &r);
	assert_true(r.postmaster);
	rcpt_ok("<postmaster> NOTIFY=NEVER", false, &r);
	assert_true(r.postmaster);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	rcpt_ok("<postmaster@example.com>", false, &r);
	assert_false(r.postmaster);
	assert_string_equal(r.to.domain, "example.com");
	rcpt_bad("<@a.example:Postmaster>", false, "501 5.1.3");
	rcpt_bad("<Postmaster2>", false, "501 5.1.3");
	rcpt_bad("<\"Postmaster\">", false, "501 5.1.3");

	rcpt_ok("<@hop.example:alice@example.com>", false, &r);
	assert_string_equal(r.to.local, "alice");

	rcpt_bad("<>", false, "501 5.1.3");
	rcpt_bad("", false, "501 5.1.3");
	rcpt_bad("alice@example.com", false, "501 5.1.3");
	rcpt_bad("<alice>", false, "501 5.1.3");
	rcpt_bad("<alice@example.com", false, "501 5.1.3");
	rcpt_bad("<alice@example.com>NOTIFY=NEVER", false, "501 5.1.3");
	rcpt_bad("<a..b@example.com>", false, "501 5.1.3");

	rcpt_bad("<j\xc3\xb6rg@example.com>", false, "553 5.6.7");
	rcpt_ok("<j\xc3\xb6rg@example.com>", true, &r);
	assert_true(r.to.utf8);
	rcpt_bad("<j\xc3\xb6rg@example.com> SMTPUTF8", true, "555 5.5.4");
	rcpt_bad("<a\xff@example.com>", true, "501 5.1.3");
}

static void
test_rcpt_notify(void **state)
{
	struct smtp_rcpt_args r;

	(void)state;
	rcpt_ok("<a@b.example> NOTIFY=NEVER", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	rcpt_ok("<a@b.example> NOTIFY=SUCCESS", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_SUCCESS);
	rcpt_ok("<a@b.example> notify=failure,delay", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
	rcpt_ok("<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY);
	rcpt_bad("<a@b.example> NOTIFY=NEVER,SUCCESS", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=SUCCESS,NEVER", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=SUCCESS,", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=,SUCCESS", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=SUCCESS,,DELAY", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=ALWAYS", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY", false, "501 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=NEVER NOTIFY=NEVER", false,
	    "501 5.5.4 Duplicate");
	rcpt_bad("<a@b.example> SIZE=10", false, "555 5.5.4");
	rcpt_bad("<a@b.example> X-FOO=1", false, "555 5.5.4");
	rcpt_bad("<a@b.example> NOTIFY=NEVER =", false, "501 5.5.4");
}

static void
test_rcpt_orcpt(void **state)
{
	struct smtp_rcpt_args r;
	char buf[1200], v[600];

	(void)state;
	rcpt_ok("<a@b.example> ORCPT=rfc822;bob@example.com", false, &r);
	assert_string_equal(r.orcpt, "rfc822;bob@example.com");
	rcpt_ok("<a@b.example> ORCPT=rfc822;b+2Bo+3Db@example.com "
	    "NOTIFY=DELAY", false, &r);
	assert_string_equal(r.orcpt, "rfc822;b+o=b@example.com");
	assert_int_equal(r.notify, SMTP_NOTIFY_DELAY);
	rcpt_ok("<a@b.example> ORCPT=utf-8;j\\x{00F6}rg@example.com", false,
	    &r);
	assert_string_equal(r.orcpt, "utf-8;j\\x{00F6}rg@example.com");

	rcpt_bad("<a@b.example> ORCPT=bob@example.com", false, "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=;bob@example.com", false, "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=rfc822;", false, "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=rf(c;bob@example.com", false,
	    "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=rfc822;bob+0A@example.com", false,
	    "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=rfc822;b+zz", false, "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT", false, "501 5.5.4");
	rcpt_bad("<a@b.example> ORCPT=rfc822;a ORCPT=rfc822;a", false,
	    "501 5.5.4 Duplicate");

	/* 500 octets stored in all pass, 501 fail. */
	snprintf(buf, sizeof(buf), "<a@b.example> ORCPT=rfc822;%s",
	    rep(v, 'o', 493));
	rcpt_ok(buf, false, &r);
	assert_int_equal(strlen(r.orcpt), 500);
	snprintf(buf, sizeof(buf), "<a@b.example> ORCPT=rfc822;%s",
	    rep(v, 'o', 494));
	rcpt_bad(buf, false, "501 5.5.4");
}

/* ---- xtext ---- */

static void
test_xtext(void **state)
{
	char out[1024], back[1024], all[256];
	int n, i;

	(void)state;
	n = smtp_xtext_encode("a+b=c d\x01\xff~!", 11, out, sizeof(out));
	assert_int_equal(n, 21);
	assert_string_equal(out, "a+2Bb+3Dc+20d+01+FF~!");
	n = smtp_xtext_decode(out, (size_t)n, back, sizeof(back));
	assert_int_equal(n, 11);
	assert_memory_equal(back, "a+b=c d\x01\xff~!", 11);

	/* Every byte round-trips; encoding uses uppercase hex. */
	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	n = smtp_xtext_encode(all, 256, out, sizeof(out));
	/* 94 xchars minus '+' and '=' pass through, 164 become "+XX". */
	assert_int_equal(n, 92 + 3 * 164);
	for (i = 0; i < n; i++) {
		assert_true(out[i] >= 33 && out[i] <= 126 && out[i] != '=');
		if (out[i] == '+') {
			assert_non_null(strchr("0123456789ABCDEF", out[i + 1]));
			assert_non_null(strchr("0123456789ABCDEF", out[i + 2]));
			i += 2;
		}
	}
	n = smtp_xtext_decode(out, strlen(out), back, sizeof(back));
	assert_int_equal(n, 256);
	assert_memory_equal(back, all, 256);

	n = smtp_xtext_decode("+2b+3d", 6, back, sizeof(back));
	assert_int_equal(n, 2);
	assert_string_equal(back, "+=");
	n = smtp_xtext_decode("", 0, back, sizeof(back));
	assert_int_equal(n, 0);
	assert_string_equal(back, "");
	assert_int_equal(smtp_xtext_decode("+", 1, back, sizeof(back)), -1);
	assert_int_equal(smtp_xtext_decode("+4", 2, back, sizeof(back)), -1);
	assert_int_equal(smtp_xtext_decode("+4G", 3, back, sizeof(back)), -1);
	assert_int_equal(smtp_xtext_decode("a=b", 3, back, sizeof(back)), -1);
	assert_int_equal(smtp_xtext_decode("a b", 3, back, sizeof(back)), -1);
	assert_int_equal(smtp_xtext_decode("\xc3\xa9", 2, back, sizeof(back)),
	    -1);

	/* Output size: exact fit (with NUL) passes, one less fails. */
	assert_int_equal(smtp_xtext_decode("abc", 3, back, 4), 3);
	assert_int_equal(smtp_xtext_decode("abc", 3, back, 3), -1);
	assert_int_equal(smtp_xtext_decode("", 0, back, 0), -1);
	assert_int_equal(smtp_xtext_encode("a b", 3, out, 6), 5);
	assert_string_equal(out, "a+20b");
	assert_int_equal(smtp_xtext_encode("a b", 3, out, 5), -1);
	assert_int_equal(smtp_xtext_encode(" ", 1, out, 3), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_verbs),
		cmocka_unit_test(test_cmd_mail_rcpt),
		cmocka_unit_test(test_cmd_helo),
		cmocka_unit_test(test_cmd_no_params),
		cmocka_unit_test(test_cmd_control_and_unknown),
		cmocka_unit_test(test_mailbox_dot_string),
		cmocka_unit_test(test_mailbox_quoted),
		cmocka_unit_test(test_mailbox_domains),
		cmocka_unit_test(test_mailbox_literals),
		cmocka_unit_test(test_mailbox_utf8),
		cmocka_unit_test(test_mailbox_format),
		cmocka_unit_test(test_domain_check),
		cmocka_unit_test(test_mail_paths),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_envid),
		cmocka_unit_test(test_mail_utf8),
		cmocka_unit_test(test_rcpt_paths),
		cmocka_unit_test(test_rcpt_notify),
		cmocka_unit_test(test_rcpt_orcpt),
		cmocka_unit_test(test_xtext),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
