/*
 * dsn_test - build delivery status notifications and parse them back:
 * header fields, MIME structure, every delivery-status field, NOTIFY
 * rules, RET=FULL vs HDRS, SMTPUTF8 types, hostile remote text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dsn.h"
#include "route.h"

/* ---- a small MIME reader, enough to check what we wrote ---- */

struct part {
	const char *hdr;
	size_t	hdr_len;
	const char *body;
	size_t	body_len;
};

/* Split at the first empty line. */
static void
split_part(const char *p, size_t len, struct part *out)
{
	const char *e;

	if (len >= 2 && memcmp(p, "\r\n", 2) == 0) {
		out->hdr = p;
		out->hdr_len = 0;
		out->body = p + 2;
		out->body_len = len - 2;
		return;
	}
	e = memmem(p, len, "\r\n\r\n", 4);
	assert_non_null(e);
	out->hdr = p;
	out->hdr_len = (size_t)(e - p) + 2;
	out->body = e + 4;
	out->body_len = len - out->hdr_len - 2;
}

/* Unfolded value of the first field called name, or NULL. */
static char *
get_field(const char *hdr, size_t len, const char *name, char *out,
    size_t outsz)
{
	size_t nlen = strlen(name), i = 0, o = 0;

	while (i < len) {
		const char *nl = memmem(hdr + i, len - i, "\r\n", 2);
		size_t le = nl ? (size_t)(nl - hdr) : len;

		if (le - i > nlen && strncasecmp(hdr + i, name, nlen) == 0 &&
		    hdr[i + nlen] == ':') {
			size_t j = i + nlen + 1;

			while (j < le && hdr[j] == ' ')
				j++;
			for (;;) {
				while (j < le && o + 1 < outsz)
					out[o++] = hdr[j++];
				/* continuation lines start with WSP */
				if (le + 2 < len && (hdr[le + 2] == ' ' ||
				    hdr[le + 2] == '\t')) {
					j = le + 2;
					nl = memmem(hdr + j, len - j, "\r\n", 2);
					le = nl ? (size_t)(nl - hdr) : len;
					continue;
				}
				break;
			}
			out[o] = '\0';
			return out;
		}
		i = le + 2;
	}
	return NULL;
}

static size_t
split_multipart(const struct part *top, const char *boundary,
    struct part *parts, size_t max)
{
	char delim[128];
	const char *p = top->body, *end = top->body + top->body_len;
	const char *cur = NULL;
	size_t n = 0, dl;

	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	dl = strlen(delim);
	/* The first delimiter may start the body (after the preamble). */
	p = memmem(p, (size_t)(end - p), delim + 2, dl - 2);
	assert_non_null(p);
	assert_true(p == top->body || p[-1] == '\n');
	p += dl - 2;
	for (;;) {
		const char *next;

		if (p + 2 <= end && memcmp(p, "--", 2) == 0)
			break;	/* close delimiter */
		assert_memory_equal(p, "\r\n", 2);
		cur = p + 2;
		next = memmem(cur, (size_t)(end - cur), delim, dl);
		assert_non_null(next);
		assert_true(n < max);
		split_part(cur, (size_t)(next - cur), &parts[n++]);
		p = next + dl;
	}
	return n;
}

/* Every line ends in CRLF, none is longer than 998 octets. */
static void
assert_wire_clean(const struct buf *b)
{
	size_t i, col = 0;

	assert_true(b->len >= 2);
	assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
	for (i = 0; i < b->len; i++) {
		char c = b->data[i];

		if (c == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(c != '\n');
		assert_true(c != '\0');
		col++;
		assert_true(col <= 998);
	}
}

static bool
is_7bit(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return false;
	return true;
}

/* Split a message/delivery-status body into blocks (blank-line separated). */
static size_t
split_blocks(const struct part *ds, struct part *blocks, size_t max)
{
	const char *p = ds->body, *end = ds->body + ds->body_len;
	size_t n = 0;

	while (p < end) {
		const char *e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		const char *be = e ? e + 2 : end;

		assert_true(n < max);
		blocks[n].hdr = p;
		blocks[n].hdr_len = (size_t)(be - p);
		n++;
		p = e ? e + 4 : end;
		while (p < end && p + 2 <= end && memcmp(p, "\r\n", 2) == 0)
			p += 2;
	}
	return n;
}

#define FIELD(part, name) get_field((part).hdr, (part).hdr_len, name, v, \
	sizeof(v))

static const char orig[] =
    "Received: from client.example.org by relay.example.net\r\n"
    "\twith ESMTP id 65f1a2b30a1c4e9d; Wed, 13 Mar 2024 12:57:23 +0000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.test\r\n"
    "Subject: quarterly numbers\r\n"
    "Message-ID: <abc@example.org>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "\r\n"
    "the numbers.\r\n";

static void
base_report(struct dsn_report *r, struct dsn_rcpt *rc, size_t n)
{
	memset(r, 0, sizeof(*r));
	memset(rc, 0, n * sizeof(*rc));
	r->hostname = "relay.example.net";
	r->sender = "alice@example.org";
	r->queue_id = "65f1a2b30a1c4e9d";
	r->envid = "QQ314159";
	r->arrival = 1710334643;	/* Wed, 13 Mar 2024 12:57:23 */
	r->now = 1710334800;		/* Wed, 13 Mar 2024 13:00:00 */
	r->ret = SMTP_RET_HDRS;
	r->msg = orig;
	r->msg_len = sizeof(orig) - 1;
	r->rcpt = rc;
	r->nrcpt = n;

	rc[0].addr = "bob@example.test";
	rc[0].orcpt = "rfc822;Bob@Example.Test";
	rc[0].action = DSN_ACTION_FAILED;
	rc[0].status = "5.1.1";
	rc[0].reply = 550;
	rc[0].diag = "5.1.1 <bob@example.test>: Recipient address rejected: "
	    "User unknown in virtual mailbox table";
	rc[0].remote_mta = "mx.example.test[192.0.2.25]:25";
	rc[0].last_attempt = 1710334700;	/* 12:58:20 */
	if (n > 1) {
		rc[1].addr = "carol@example.test";
		rc[1].action = DSN_ACTION_FAILED;
		rc[1].status = "4.4.7";
		rc[1].reply = 451;
		rc[1].diag = "4.7.1 Greylisted, come back later";
		rc[1].remote_mta = "mx2.example.test";
		rc[1].last_attempt = 1710334790;	/* 12:59:50 */
	}
}

struct parsed {
	struct buf b;
	struct part top;
	struct part parts[4];
	size_t	nparts;
	struct part blocks[8];
	size_t	nblocks;
	char	boundary[80];
	unsigned needs;
};

static void
build_and_parse(const struct dsn_report *r, struct parsed *p)
{
	char v[1024], *s, *e;

	memset(p, 0, sizeof(*p));
	buf_init(&p->b, 0);
	assert_int_equal(dsn_build(r, &p->b, &p->needs), DSN_OK);
	assert_wire_clean(&p->b);
	split_part(p->b.data, p->b.len, &p->top);
	assert_non_null(get_field(p->top.hdr, p->top.hdr_len, "Content-Type",
	    v, sizeof(v)));
	assert_true(strncmp(v, "multipart/report; report-type=delivery-status;",
	    46) == 0);
	s = strstr(v, "boundary=\"");
	assert_non_null(s);
	s += 10;
	e = strchr(s, '"');
	assert_non_null(e);
	assert_true((size_t)(e - s) < sizeof(p->boundary));
	memcpy(p->boundary, s, (size_t)(e - s));
	p->boundary[e - s] = '\0';
	/* RFC 2046 5.1.1: 1-70 characters. */
	assert_true(strlen(p->boundary) >= 1 && strlen(p->boundary) <= 70);
	p->nparts = split_multipart(&p->top, p->boundary, p->parts, 4);
	if (p->nparts >= 2)
		p->nblocks = split_blocks(&p->parts[1], p->blocks, 8);
}

static void
test_failed_report_fields(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[2];
	struct parsed p;
	char v[1024];
	const char *hdr_end;

	(void)state;
	base_report(&r, rc, 2);
	build_and_parse(&r, &p);
	assert_int_equal(p.needs, 0);
	assert_true(is_7bit(p.b.data, p.b.len));

	/* Top-level header section. */
	assert_string_equal(FIELD(p.top, "From"),
	    "\"Mail Delivery System\" <MAILER-DAEMON@relay.example.net>");
	assert_string_equal(FIELD(p.top, "To"), "<alice@example.org>");
	assert_string_equal(FIELD(p.top, "Subject"),
	    "Undelivered Mail Returned to Sender");
	assert_string_equal(FIELD(p.top, "Date"),
	    "Wed, 13 Mar 2024 13:00:00 +0000");
	assert_non_null(FIELD(p.top, "Message-ID"));
	assert_true(strncmp(v, "<20240313130000.65f1a2b30a1c4e9d.", 33) == 0);
	assert_true(strlen(v) > 33 &&
	    strcmp(v + strlen(v) - 19, "@relay.example.net>") == 0);
	assert_string_equal(FIELD(p.top, "Auto-Submitted"), "auto-replied");
	assert_string_equal(FIELD(p.top, "MIME-Version"), "1.0");
	assert_string_equal(FIELD(p.top, "Content-Transfer-Encoding"), "7bit");

	/* Three parts of the right types. */
	assert_int_equal(p.nparts, 3);
	assert_string_equal(FIELD(p.parts[0], "Content-Type"),
	    "text/plain; charset=us-ascii");
	assert_string_equal(FIELD(p.parts[1], "Content-Type"),
	    "message/delivery-status");
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "text/rfc822-headers");

	/* Part 1 explains, per recipient. */
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "<bob@example.test>", 18));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "does not exist", 14));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "<carol@example.test>", 20));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "time limit", 10));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "Remote server: mx.example.test\r\n", 32));

	/* Part 2: per-message block then one block per recipient. */
	assert_int_equal(p.nblocks, 3);
	assert_string_equal(FIELD(p.blocks[0], "Reporting-MTA"),
	    "dns; relay.example.net");
	assert_string_equal(FIELD(p.blocks[0], "Original-Envelope-Id"),
	    "QQ314159");
	assert_string_equal(FIELD(p.blocks[0], "Arrival-Date"),
	    "Wed, 13 Mar 2024 12:57:23 +0000");

	assert_string_equal(FIELD(p.blocks[1], "Original-Recipient"),
	    "rfc822;Bob@Example.Test");
	assert_string_equal(FIELD(p.blocks[1], "Final-Recipient"),
	    "rfc822; bob@example.test");
	assert_string_equal(FIELD(p.blocks[1], "Action"), "failed");
	assert_string_equal(FIELD(p.blocks[1], "Status"), "5.1.1");
	assert_string_equal(FIELD(p.blocks[1], "Remote-MTA"),
	    "dns; mx.example.test");
	assert_string_equal(FIELD(p.blocks[1], "Diagnostic-Code"),
	    "smtp; 550 5.1.1 <bob@example.test>: Recipient address rejected: "
	    "User unknown in virtual mailbox table");
	assert_string_equal(FIELD(p.blocks[1], "Last-Attempt-Date"),
	    "Wed, 13 Mar 2024 12:58:20 +0000");
	assert_null(FIELD(p.blocks[1], "Will-Retry-Until"));

	assert_null(FIELD(p.blocks[2], "Original-Recipient"));
	assert_string_equal(FIELD(p.blocks[2], "Final-Recipient"),
	    "rfc822; carol@example.test");
	assert_string_equal(FIELD(p.blocks[2], "Action"), "failed");
	assert_string_equal(FIELD(p.blocks[2], "Status"), "4.4.7");
	assert_string_equal(FIELD(p.blocks[2], "Remote-MTA"),
	    "dns; mx2.example.test");
	assert_string_equal(FIELD(p.blocks[2], "Diagnostic-Code"),
	    "smtp; 451 4.7.1 Greylisted, come back later");
	assert_string_equal(FIELD(p.blocks[2], "Last-Attempt-Date"),
	    "Wed, 13 Mar 2024 12:59:50 +0000");

	/* Part 3: exactly the original header section, not its body. */
	hdr_end = strstr(orig, "\r\n\r\n") + 2;
	assert_int_equal(p.parts[2].body_len, (size_t)(hdr_end - orig));
	assert_memory_equal(p.parts[2].body, orig, (size_t)(hdr_end - orig));
	assert_null(memmem(p.b.data, p.b.len, "the numbers.", 12));
	buf_free(&p.b);
}

static void
test_delayed_and_success(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct parsed p;
	char v[1024];

	(void)state;
	base_report(&r, rc, 1);
	rc[0].action = DSN_ACTION_DELAYED;
	rc[0].status = "4.2.2";
	rc[0].reply = 452;
	rc[0].diag = "4.2.2 Mailbox full";
	rc[0].will_retry_until = 1710593843;	/* Sat, 16 Mar 2024 12:57:23 */
	r.envid = NULL;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.top, "Subject"),
	    "Delayed Mail (still being retried)");
	assert_int_equal(p.nblocks, 2);
	assert_null(FIELD(p.blocks[0], "Original-Envelope-Id"));
	assert_string_equal(FIELD(p.blocks[1], "Action"), "delayed");
	assert_string_equal(FIELD(p.blocks[1], "Status"), "4.2.2");
	assert_string_equal(FIELD(p.blocks[1], "Will-Retry-Until"),
	    "Sat, 16 Mar 2024 12:57:23 +0000");
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "Sat, 16 Mar 2024 12:57:23 +0000", 31));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "mailbox is full", 15));
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "do not need to send", 19));
	assert_string_equal(FIELD(p.parts[2], "Content-Description"),
	    "Undelivered Message Headers");
	buf_free(&p.b);

	rc[0].action = DSN_ACTION_RELAYED;
	rc[0].status = "2.0.0";
	rc[0].reply = 250;
	rc[0].diag = "2.0.0 Ok: queued as 4Vx";
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.top, "Subject"),
	    "Delivery Status Notification (Success)");
	assert_string_equal(FIELD(p.blocks[1], "Action"), "relayed");
	assert_string_equal(FIELD(p.blocks[1], "Status"), "2.0.0");
	assert_null(FIELD(p.blocks[1], "Will-Retry-Until"));
	assert_string_equal(FIELD(p.parts[2], "Content-Description"),
	    "Delivered Message Headers");
	buf_free(&p.b);

	/* Without a status the class comes from the reply, then the action. */
	rc[0].action = DSN_ACTION_FAILED;
	rc[0].status = "";
	rc[0].reply = 554;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.blocks[1], "Status"), "5.0.0");
	buf_free(&p.b);
	rc[0].status = "bogus";
	rc[0].reply = 0;
	rc[0].diag = "Host or domain name not found";
	rc[0].remote_mta = NULL;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.blocks[1], "Status"), "5.0.0");
	assert_string_equal(FIELD(p.blocks[1], "Diagnostic-Code"),
	    "X-Cleanbox; Host or domain name not found");
	assert_null(FIELD(p.blocks[1], "Remote-MTA"));
	buf_free(&p.b);
}

static void
test_notify_matrix(void **state)
{
	static const struct {
		unsigned notify;
		bool failed, delayed, success;
	} m[] = {
		{ SMTP_NOTIFY_NONE, true, true, false },
		{ SMTP_NOTIFY_NEVER, false, false, false },
		{ SMTP_NOTIFY_SUCCESS, false, false, true },
		{ SMTP_NOTIFY_FAILURE, true, false, false },
		{ SMTP_NOTIFY_DELAY, false, true, false },
		{ SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, true, false, true },
		{ SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY, true, true, false },
		{ SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, false, true, true },
		{ SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY,
		  true, true, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		assert_int_equal(dsn_wanted(m[i].notify, DSN_ACTION_FAILED),
		    m[i].failed);
		assert_int_equal(dsn_wanted(m[i].notify, DSN_ACTION_DELAYED),
		    m[i].delayed);
		assert_int_equal(dsn_wanted(m[i].notify, DSN_ACTION_DELIVERED),
		    m[i].success);
		assert_int_equal(dsn_wanted(m[i].notify, DSN_ACTION_RELAYED),
		    m[i].success);
		assert_int_equal(dsn_wanted(m[i].notify, DSN_ACTION_EXPANDED),
		    m[i].success);
		assert_int_equal(dsn_should_send(false, m[i].notify,
		    DSN_ACTION_FAILED), m[i].failed);
		/* The null sender never gets anything. */
		assert_false(dsn_should_send(true, m[i].notify,
		    DSN_ACTION_FAILED));
		assert_false(dsn_should_send(true, m[i].notify,
		    DSN_ACTION_DELAYED));
		assert_false(dsn_should_send(true, m[i].notify,
		    DSN_ACTION_DELIVERED));
	}
	assert_string_equal(dsn_action_name(DSN_ACTION_EXPANDED), "expanded");
}

static void
test_ret_full_vs_hdrs(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct parsed p;
	char v[1024];

	(void)state;
	base_report(&r, rc, 1);
	r.ret = SMTP_RET_FULL;
	build_and_parse(&r, &p);
	assert_int_equal(p.nparts, 3);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "message/rfc822");
	assert_string_equal(FIELD(p.parts[2], "Content-Description"),
	    "Undelivered Message");
	assert_int_equal(p.parts[2].body_len, sizeof(orig) - 1);
	assert_memory_equal(p.parts[2].body, orig, sizeof(orig) - 1);
	buf_free(&p.b);

	/* RET absent behaves as HDRS. */
	r.ret = SMTP_RET_NONE;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "text/rfc822-headers");
	assert_null(memmem(p.parts[2].body, p.parts[2].body_len, "Hello Bob",
	    9));
	buf_free(&p.b);

	/* Too large for FULL: headers, and the text says so. */
	r.ret = SMTP_RET_FULL;
	r.max_full = 100;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "text/rfc822-headers");
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "too large to return in full", 27));
	buf_free(&p.b);

	/* BINARYMIME content is never returned whole. */
	r.max_full = 0;
	r.body = SMTP_BODY_BINARYMIME;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "text/rfc822-headers");
	buf_free(&p.b);

	/* No original at hand: two parts only. */
	r.body = SMTP_BODY_7BIT;
	r.msg = NULL;
	r.msg_len = 0;
	build_and_parse(&r, &p);
	assert_int_equal(p.nparts, 2);
	buf_free(&p.b);

	/* Bare LF in the original becomes CRLF; a message without body. */
	r.msg = "Subject: x\nFrom: a@b\n";
	r.msg_len = strlen(r.msg);
	r.ret = SMTP_RET_HDRS;
	build_and_parse(&r, &p);
	assert_int_equal(p.parts[2].body_len, 23);
	assert_memory_equal(p.parts[2].body, "Subject: x\r\nFrom: a@b\r\n", 23);
	buf_free(&p.b);
}

static void
test_eightbit_and_smtputf8(void **state)
{
	static const char orig8[] =
	    "From: J\xc3\xbcrgen <j@example.org>\r\nSubject: Gr\xc3\xbc\xc3\x9f"
	    "e\r\n\r\nK\xc3\xa4se\r\n";
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct parsed p;
	char v[1024];

	(void)state;
	/* 8-bit original, ASCII addresses: 8BITMIME only. */
	base_report(&r, rc, 1);
	r.msg = orig8;
	r.msg_len = sizeof(orig8) - 1;
	r.body = SMTP_BODY_8BITMIME;
	r.ret = SMTP_RET_FULL;
	build_and_parse(&r, &p);
	assert_int_equal(p.needs, DSN_NEEDS_8BITMIME);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "message/rfc822");
	assert_string_equal(FIELD(p.parts[2], "Content-Transfer-Encoding"),
	    "8bit");
	assert_string_equal(FIELD(p.top, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(FIELD(p.parts[1], "Content-Transfer-Encoding"),
	    "7bit");
	buf_free(&p.b);

	/* SMTPUTF8 original with a UTF-8 recipient: RFC 6533 types. */
	r.smtputf8 = true;
	rc[0].addr = "j\xc3\xbcrgen@b\xc3\xbc" "cher.example";
	rc[0].orcpt = "utf-8;j\xc3\xbcrgen@b\xc3\xbc" "cher.example";
	build_and_parse(&r, &p);
	assert_int_equal(p.needs, DSN_NEEDS_8BITMIME | DSN_NEEDS_SMTPUTF8);
	assert_string_equal(FIELD(p.parts[0], "Content-Type"),
	    "text/plain; charset=utf-8");
	assert_string_equal(FIELD(p.parts[1], "Content-Type"),
	    "message/global-delivery-status");
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "message/global");
	assert_string_equal(FIELD(p.blocks[1], "Final-Recipient"),
	    "utf-8; j\xc3\xbcrgen@b\xc3\xbc" "cher.example");
	assert_string_equal(FIELD(p.blocks[1], "Original-Recipient"),
	    "utf-8;j\xc3\xbcrgen@b\xc3\xbc" "cher.example");
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "<j\xc3\xbcrgen@b\xc3\xbc" "cher.example>", 22));
	buf_free(&p.b);

	r.ret = SMTP_RET_HDRS;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "message/global-headers");
	buf_free(&p.b);

	/* A UTF-8 sender goes into To: - that needs SMTPUTF8. */
	base_report(&r, rc, 1);
	r.smtputf8 = true;
	r.sender = "\xc3\xa9lodie@example.org";
	build_and_parse(&r, &p);
	assert_true(p.needs & DSN_NEEDS_SMTPUTF8);
	assert_string_equal(FIELD(p.top, "To"), "<\xc3\xa9lodie@example.org>");
	buf_free(&p.b);
}

static void
test_hostile_remote_text(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct parsed p;
	char v[4096], *diag, *lw;
	size_t i;

	(void)state;
	base_report(&r, rc, 1);
	diag = malloc(3000);
	assert_non_null(diag);
	memcpy(diag, "5.7.1 no\r\nBcc: victim@example.org\r\n\r\n--x\x01\x7f"
	    "\xff\xfe ", 44);
	for (i = 44; i < 2999; i++)
		diag[i] = (i % 10) ? 'a' : ' ';
	diag[2999] = '\0';
	rc[0].diag = diag;
	rc[0].status = "5.7.1";
	rc[0].remote_mta = "evil\r\nX-Injected: 1";
	build_and_parse(&r, &p);
	assert_true(is_7bit(p.b.data, p.b.len));
	assert_null(memmem(p.b.data, p.b.len, "\r\nBcc:", 6));
	assert_null(memmem(p.b.data, p.b.len, "\r\nX-Injected", 12));
	assert_int_equal(p.nparts, 3);
	assert_int_equal(p.nblocks, 2);
	assert_non_null(FIELD(p.blocks[1], "Diagnostic-Code"));
	{
		static const char want[] = "smtp; 550 5.7.1 no Bcc: "
		    "victim@example.org --x????aaaaaa aaaaaaaaa a";

		if (strncmp(v, want, sizeof(want) - 1) != 0)
			fail_msg("got '%.80s'", v);
	}
	/* Cut at DSN_DIAG_MAX input characters, marked; the two line
	 * breaks (2 + 4 characters) collapsed into single spaces. */
	assert_int_equal(strlen(v), strlen("smtp; 550 ") + DSN_DIAG_MAX - 4 +
	    strlen(" ..."));
	assert_string_equal(v + strlen(v) - 5, "a ...");
	assert_string_equal(FIELD(p.blocks[1], "Remote-MTA"),
	    "dns; evil??X-Injected:?1");
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "policy", 6));
	buf_free(&p.b);

	/* One 2000-character word: lines still within 998 (checked by
	 * build_and_parse), and nothing is lost in the report. */
	lw = malloc(2001);
	assert_non_null(lw);
	memset(lw, 'x', 2000);
	lw[2000] = '\0';
	rc[0].diag = lw;
	rc[0].remote_mta = NULL;
	build_and_parse(&r, &p);
	assert_non_null(FIELD(p.blocks[1], "Diagnostic-Code"));
	/* the unfolded value keeps every x (a split leaves one space) */
	{
		size_t x = 0;

		for (i = 0; v[i]; i++)
			x += v[i] == 'x';
		assert_int_equal(x, DSN_DIAG_MAX);
	}
	buf_free(&p.b);

	/* An original with over-long lines (a relay configured beyond RFC
	 * 5322): the header line is folded, the body line broken, nothing
	 * lost (checked by build_and_parse: lines <= 998). */
	{
		struct buf m;
		size_t x = 0;

		buf_init(&m, 0);
		buf_append_str(&m, "Subject: ");
		for (i = 0; i < 1500; i++)
			buf_append_byte(&m, 'h');
		buf_append_str(&m, "\r\nFrom: a@b\r\n\r\n");
		for (i = 0; i < 2500; i++)
			buf_append_byte(&m, 'b');
		buf_append_str(&m, "\r\n");
		r.msg = m.data;
		r.msg_len = m.len;
		r.ret = SMTP_RET_FULL;
		rc[0].diag = "x";
		build_and_parse(&r, &p);
		assert_int_equal(p.nparts, 3);
		assert_non_null(get_field(p.parts[2].body, p.parts[2].body_len,
		    "Subject", v, sizeof(v)));
		for (i = 0; v[i]; i++)
			x += v[i] == 'h';
		assert_int_equal(x, 1500);
		assert_non_null(get_field(p.parts[2].body, p.parts[2].body_len,
		    "From", v, sizeof(v)));
		assert_string_equal(v, "a@b");
		for (i = 0, x = 0; i < p.parts[2].body_len; i++)
			x += p.parts[2].body[i] == 'b';
		assert_int_equal(x, 2500 + 2);	/* + "Subject", "a@b" */
		buf_free(&p.b);
		buf_free(&m);
	}
	free(lw);
	free(diag);
}

struct hook_seen {
	int	calls;
	int	reply;
	char	status[16];
	char	text[128];
	bool	fail;
};

static int
my_explain(void *arg, enum dsn_action action, int reply, const char *status,
    const char *text, struct buf *out)
{
	struct hook_seen *h = arg;

	(void)action;
	h->calls++;
	h->reply = reply;
	snprintf(h->status, sizeof(h->status), "%s", status);
	snprintf(h->text, sizeof(h->text), "%s", text);
	if (h->fail)
		return -1;
	return buf_append_str(out, "MEANING: user unknown.\nFIX: check the "
	    "spelling\r\x01.") ? -1 : 0;
}

static void
test_explain_hook(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct parsed p;
	struct hook_seen h;

	(void)state;
	memset(&h, 0, sizeof(h));
	base_report(&r, rc, 1);
	r.explain = my_explain;
	r.explain_arg = &h;
	build_and_parse(&r, &p);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.reply, 550);
	assert_string_equal(h.status, "5.1.1");
	assert_true(strncmp(h.text, "5.1.1 <bob@example.test>", 24) == 0);
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "    MEANING: user unknown.\r\n    FIX: check the spelling?.\r\n",
	    59));
	assert_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "does not exist", 14));
	buf_free(&p.b);

	/* A failing hook falls back to the built-in text. */
	h.fail = true;
	build_and_parse(&r, &p);
	assert_int_equal(h.calls, 2);
	assert_non_null(memmem(p.parts[0].body, p.parts[0].body_len,
	    "does not exist", 14));
	buf_free(&p.b);
}

static void
test_builtin_texts(void **state)
{
	static const struct {
		enum dsn_action a;
		int reply;
		const char *status, *want;
	} t[] = {
		{ DSN_ACTION_FAILED, 550, "5.1.1", "does not exist" },
		{ DSN_ACTION_FAILED, 550, "5.1.2", "domain does not exist" },
		{ DSN_ACTION_FAILED, 556, "5.1.10", "null MX" },
		{ DSN_ACTION_FAILED, 552, "5.2.2", "mailbox is full" },
		{ DSN_ACTION_FAILED, 552, "5.3.4", "larger than" },
		{ DSN_ACTION_FAILED, 451, "4.4.7", "time limit" },
		{ DSN_ACTION_FAILED, 0, "4.4.1", "could not be reached" },
		{ DSN_ACTION_FAILED, 554, "5.6.0", "content" },
		{ DSN_ACTION_FAILED, 554, "5.7.1", "policy" },
		{ DSN_ACTION_FAILED, 554, "", "permanently" },
		{ DSN_ACTION_DELAYED, 421, "", "temporary" },
		{ DSN_ACTION_DELIVERED, 250, "2.0.0", "delivered" },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		assert_int_equal(dsn_explain_builtin(NULL, t[i].a, t[i].reply,
		    t[i].status, "", &b), 0);
		assert_non_null(b.data);
		if (strstr(b.data, t[i].want) == NULL)
			fail_msg("%s: '%s' not in '%s'", t[i].status, t[i].want,
			    b.data);
	}
	buf_free(&b);
}

static void
test_invalid_input(void **state)
{
	struct dsn_report r;
	struct dsn_rcpt rc[1];
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	base_report(&r, rc, 1);
	r.sender = "";		/* <>: never */
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	r.sender = "a@b\r\nBcc: x@y";
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	r.sender = "alice@example.org";
	r.hostname = "";
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	r.hostname = "a b";
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	r.hostname = "relay.example.net";
	r.nrcpt = 0;
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	r.nrcpt = 1;
	rc[0].addr = "";
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_EINVAL);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");

	/* A buffer limit is reported, and leaves out as it was. */
	rc[0].addr = "bob@example.test";
	buf_free(&b);
	buf_init(&b, 300);
	buf_append_str(&b, "keep");
	assert_int_equal(dsn_build(&r, &b, NULL), DSN_ENOMEM);
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

static void
test_date_format(void **state)
{
	char d[40];

	(void)state;
	assert_int_equal(dsn_format_date(0, d, sizeof(d)), 0);
	assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
	assert_int_equal(dsn_format_date(1710334643, d, sizeof(d)), 0);
	assert_string_equal(d, "Wed, 13 Mar 2024 12:57:23 +0000");
	assert_int_equal(dsn_format_date(951782400, d, sizeof(d)), 0);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 +0000");
	assert_int_equal(dsn_format_date(0, d, 10), -1);
}

static void
test_from_spool(void **state)
{
	struct spool_envelope env;
	struct spool_rcpt *sr;
	struct dsn_report r;
	struct dsn_rcpt rc;
	struct parsed p;
	char v[1024];

	(void)state;
	spool_envelope_init(&env);
	memcpy(env.id, "65f1a2b30a1c4e9d", SPOOL_ID_SIZE);
	env.arrival = 1710334643;
	snprintf(env.sender, sizeof(env.sender), "alice@example.org");
	snprintf(env.envid, sizeof(env.envid), "ENV-1");
	env.ret = SMTP_RET_FULL;
	sr = spool_envelope_add_rcpt(&env);
	assert_non_null(sr);
	snprintf(sr->addr, sizeof(sr->addr), "bob@example.test");
	snprintf(sr->orcpt, sizeof(sr->orcpt), "rfc822;bob@example.test");
	sr->last_attempt = 1710334700;
	spool_error_set(&sr->last_error, 421, "4.4.2", "mx.example.test[::1]",
	    "4.4.2 timeout", 13);

	memset(&r, 0, sizeof(r));
	dsn_report_from_envelope(&r, &env);
	dsn_rcpt_from_spool(&rc, sr, DSN_ACTION_DELAYED, 1710600000);
	assert_string_equal(r.sender, "alice@example.org");
	assert_int_equal(r.ret, SMTP_RET_FULL);
	r.hostname = "relay.example.net";
	r.now = 1710334800;
	r.rcpt = &rc;
	r.nrcpt = 1;
	r.msg = orig;
	r.msg_len = sizeof(orig) - 1;
	build_and_parse(&r, &p);
	assert_string_equal(FIELD(p.blocks[0], "Original-Envelope-Id"), "ENV-1");
	assert_string_equal(FIELD(p.blocks[1], "Status"), "4.4.2");
	assert_string_equal(FIELD(p.blocks[1], "Diagnostic-Code"),
	    "smtp; 421 4.4.2 timeout");
	assert_string_equal(FIELD(p.blocks[1], "Remote-MTA"),
	    "dns; mx.example.test");
	assert_string_equal(FIELD(p.blocks[1], "Will-Retry-Until"),
	    "Sat, 16 Mar 2024 14:40:00 +0000");
	assert_string_equal(FIELD(p.parts[2], "Content-Type"),
	    "message/rfc822");
	buf_free(&p.b);
	spool_envelope_free(&env);
}

/* Run tests/unit/dsn_pycheck.py (Python's email package) on a report. */
static int
pycheck(const struct dsn_report *r, const char *expect)
{
	const char *src = getenv("SOURCE_DIR");
	char path[] = "/tmp/dsn_test.XXXXXX", cmd[2048];
	struct buf b;
	FILE *f;
	int fd, n, rc;

	buf_init(&b, 0);
	assert_int_equal(dsn_build(r, &b, NULL), DSN_OK);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
	assert_int_equal(fclose(f), 0);
	n = snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/unit/"
	    "dsn_pycheck.py %s %s", src, path, expect);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	rc = system(cmd);
	unlink(path);
	buf_free(&b);
	return rc;
}

static void
test_python_email_parses(void **state)
{
	static const char orig8[] =
	    "From: J\xc3\xbcrgen <j@example.org>\r\nSubject: x\r\n\r\n"
	    "K\xc3\xa4se\r\n";
	struct dsn_report r;
	struct dsn_rcpt rc[2];

	(void)state;
	if (getenv("SOURCE_DIR") == NULL || access("/usr/bin/python3", X_OK)) {
		skip();
		return;
	}
	base_report(&r, rc, 2);
	assert_int_equal(pycheck(&r, "0:text/plain 1:message/delivery-status "
	    "2:text/rfc822-headers ds:Action=failed ds:Status=5.1.1 "
	    "'ds:Final-Recipient=rfc822; bob@example.test' "
	    "'ds:Remote-MTA=dns; mx.example.test' "
	    "'ds:Diagnostic-Code=smtp; 550 5.1.1 <bob@example.test>: "
	    "Recipient address rejected: User unknown in virtual mailbox "
	    "table'"), 0);
	r.ret = SMTP_RET_FULL;
	r.msg = orig8;
	r.msg_len = sizeof(orig8) - 1;
	assert_int_equal(pycheck(&r, "2:message/rfc822"), 0);
	rc[0].action = DSN_ACTION_DELAYED;
	rc[0].will_retry_until = 1710593843;
	r.nrcpt = 1;
	assert_int_equal(pycheck(&r, "ds:Action=delayed "
	    "'ds:Will-Retry-Until=Sat, 16 Mar 2024 12:57:23 +0000'"), 0);
	r.smtputf8 = true;
	rc[0].addr = "j\xc3\xbcrgen@example.test";
	assert_int_equal(pycheck(&r, "1:message/global-delivery-status "
	    "2:message/global"), 0);
	/* The checker does fail on a wrong expectation. */
	assert_int_not_equal(pycheck(&r, "2:message/rfc822"), 0);
}

/* Where a notice goes: hosted senders by route, others to themselves. */
static void
test_envelope_make(void **state)
{
	struct route_table *rt = route_table_new();
	struct spool_envelope dn;
	char err[128];

	(void)state;
	assert_non_null(rt);
	assert_int_equal(route_table_add(rt, "s@hosted.test",
	    "maildir:/tmp/a, smtp://127.0.0.1:25", err, sizeof(err)), 0);

	spool_envelope_init(&dn);
	assert_int_equal(dsn_envelope_make(&dn, "relay.test", "s@hosted.test",
	    rt, DSN_NEEDS_8BITMIME, 1000), 0);
	assert_string_equal(dn.sender, "");
	assert_int_equal(dn.body, SMTP_BODY_8BITMIME);
	assert_int_equal(dn.arrival, 1000);
	assert_int_equal(dn.nrcpt, 2);
	assert_string_equal(dn.rcpt[0].addr, "s@hosted.test");
	assert_string_equal(dn.rcpt[0].dest, "maildir:/tmp/a");
	assert_string_equal(dn.rcpt[1].dest, "smtp://127.0.0.1:25");
	assert_int_equal(dn.rcpt[0].notify, SMTP_NOTIFY_NEVER);
	spool_envelope_free(&dn);

	spool_envelope_init(&dn);
	assert_int_equal(dsn_envelope_make(&dn, "relay.test", "x@elsewhere.test",
	    rt, 0, 1000), 0);
	assert_int_equal(dn.nrcpt, 1);
	assert_string_equal(dn.rcpt[0].dest, "x@elsewhere.test");
	spool_envelope_free(&dn);

	/* Hosted domain, unknown user: nowhere to send it. */
	spool_envelope_init(&dn);
	assert_int_equal(dsn_envelope_make(&dn, "relay.test", "nobody@hosted.test",
	    rt, 0, 1000), -1);
	spool_envelope_free(&dn);
	spool_envelope_init(&dn);
	assert_int_equal(dsn_envelope_make(&dn, "relay.test", "no-at-sign",
	    rt, 0, 1000), -1);
	spool_envelope_free(&dn);
	route_table_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_report_fields),
		cmocka_unit_test(test_delayed_and_success),
		cmocka_unit_test(test_notify_matrix),
		cmocka_unit_test(test_ret_full_vs_hdrs),
		cmocka_unit_test(test_eightbit_and_smtputf8),
		cmocka_unit_test(test_hostile_remote_text),
		cmocka_unit_test(test_explain_hook),
		cmocka_unit_test(test_builtin_texts),
		cmocka_unit_test(test_invalid_input),
		cmocka_unit_test(test_date_format),
		cmocka_unit_test(test_from_spool),
		cmocka_unit_test(test_python_email_parses),
		cmocka_unit_test(test_envelope_make),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
