/*
 * smtp_data_test - the DATA state machine: terminator, dot-unstuffing,
 * smuggling sequences, limits, and input split at every byte position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "smtp_data.h"

#define LIM_LINE	1000
#define LIM_HEADER	(100 * 1024)
#define LIM_SIZE	(1024 * 1024)
#define LIM_RECEIVED	50

struct lim {
	size_t	line, header, size;
	unsigned received;
};

static const struct lim deflim = { LIM_LINE, LIM_HEADER, LIM_SIZE,
    LIM_RECEIVED };

struct run {
	struct smtp_data d;
	struct buf out;
	size_t	consumed;
	bool	done;
};

static void
run_init(struct run *r, const struct lim *l)
{
	smtp_data_init(&r->d, l->line, l->header, l->size, l->received);
	buf_init(&r->out, 0);
	r->consumed = 0;
	r->done = false;
}

/* Feed in[0..len) in pieces split at the given offsets (ascending). */
static void
run_split(struct run *r, const struct lim *l, const char *in, size_t len,
    const size_t *cuts, size_t ncuts)
{
	size_t pos = 0, end, i, n;

	run_init(r, l);
	for (i = 0; i <= ncuts && !r->done; i++) {
		end = i < ncuts ? cuts[i] : len;
		n = smtp_data_feed(&r->d, in + pos, end - pos, &r->out,
		    &r->done);
		assert_true(n <= end - pos);
		if (!r->done)
			assert_int_equal(n, end - pos);
		r->consumed += n;
		pos = end;
	}
}

static void
run_whole(struct run *r, const struct lim *l, const char *in, size_t len)
{
	run_split(r, l, in, len, NULL, 0);
}

static void
run_free(struct run *r)
{
	buf_free(&r->out);
}

/* Feed s whole; expect done after all of it, error err, output want. */
static void
expect(const struct lim *l, const char *s, enum smtp_data_err err,
    const char *want)
{
	struct run r;

	run_whole(&r, l, s, strlen(s));
	if (!r.done)
		fail_msg("not done: \"%s\"", s);
	assert_int_equal(r.consumed, strlen(s));
	if (smtp_data_error(&r.d) != err)
		fail_msg("error %d, want %d for \"%s\"",
		    (int)smtp_data_error(&r.d), (int)err, s);
	if (want != NULL) {
		assert_int_equal(r.out.len, strlen(want));
		assert_memory_equal(r.out.data, want, r.out.len);
		assert_int_equal(r.d.size, strlen(want));
	}
	run_free(&r);
}

/*
 * The same result whichever way the input is split: in two at every
 * position, in three at every pair of positions (short inputs), and byte
 * by byte.
 */
static void
expect_split_invariant(const struct lim *l, const char *in, size_t len)
{
	struct run whole, r;
	size_t cuts[2], i, j, *every;

	run_whole(&whole, l, in, len);
	for (i = 0; i <= len; i++) {
		for (j = i; j <= len; j++) {
			if (len > 64 && j != i)
				continue;
			cuts[0] = i;
			cuts[1] = j;
			run_split(&r, l, in, len, cuts, 2);
			assert_int_equal(r.done, whole.done);
			assert_int_equal(r.consumed, whole.consumed);
			assert_int_equal(smtp_data_error(&r.d),
			    smtp_data_error(&whole.d));
			if (smtp_data_error(&r.d) == SMTP_DATA_OK) {
				assert_int_equal(r.out.len, whole.out.len);
				assert_memory_equal(r.out.data, whole.out.data,
				    r.out.len);
				assert_int_equal(r.d.eightbit,
				    whole.d.eightbit);
			}
			run_free(&r);
		}
	}
	every = calloc(len ? len : 1, sizeof(*every));
	assert_non_null(every);
	for (i = 0; i < len; i++)
		every[i] = i;
	run_split(&r, l, in, len, every, len);
	assert_int_equal(r.done, whole.done);
	assert_int_equal(r.consumed, whole.consumed);
	assert_int_equal(smtp_data_error(&r.d), smtp_data_error(&whole.d));
	if (smtp_data_error(&r.d) == SMTP_DATA_OK) {
		assert_int_equal(r.out.len, whole.out.len);
		assert_memory_equal(r.out.data, whole.out.data, r.out.len);
	}
	run_free(&r);
	free(every);
	run_free(&whole);
}

static void
split_str(const struct lim *l, const char *s)
{
	expect_split_invariant(l, s, strlen(s));
}

/* ---- terminator and dot-stuffing ---- */

static void
test_simple(void **state)
{
	(void)state;
	expect(&deflim, "Subject: hi\r\n\r\nbody\r\n.\r\n", SMTP_DATA_OK,
	    "Subject: hi\r\n\r\nbody\r\n");
	expect(&deflim, "no header line\r\n.\r\n", SMTP_DATA_OK,
	    "no header line\r\n");
	/* A dot not alone on its line does not end anything. */
	expect(&deflim, "a\r\n.x\r\n .\r\n.. \r\n.\r\n", SMTP_DATA_OK,
	    "a\r\nx\r\n .\r\n. \r\n");
}

static void
test_dot_unstuffing(void **state)
{
	(void)state;
	/* RFC 5321 4.5.2: a leading dot is removed when more follows. */
	expect(&deflim, "..leading\r\n.x\r\n..\r\nmid.dot\r\n...\r\n.\r\n",
	    SMTP_DATA_OK, ".leading\r\nx\r\n.\r\nmid.dot\r\n..\r\n");
	expect(&deflim, "..\r\n.\r\n", SMTP_DATA_OK, ".\r\n");
	expect(&deflim, "a.\r\n.\r\n", SMTP_DATA_OK, "a.\r\n");
	expect(&deflim, "\r\n..\r\n\r\n.\r\n", SMTP_DATA_OK, "\r\n.\r\n\r\n");
}

static void
test_empty_message(void **state)
{
	(void)state;
	/* The 354 ends a line: "." CRLF first is the terminator. */
	expect(&deflim, ".\r\n", SMTP_DATA_OK, "");
	expect(&deflim, "\r\n.\r\n", SMTP_DATA_OK, "\r\n");
	expect(&deflim, "\r\n\r\n.\r\n", SMTP_DATA_OK, "\r\n\r\n");
}

static void
test_pipelined_after_terminator(void **state)
{
	static const char in[] = "x\r\n.\r\nQUIT\r\n";
	struct run r;
	size_t n;

	(void)state;
	run_whole(&r, &deflim, in, sizeof(in) - 1);
	assert_true(r.done);
	assert_int_equal(r.consumed, 6);
	assert_string_equal(in + r.consumed, "QUIT\r\n");
	assert_int_equal(r.out.len, 3);
	assert_memory_equal(r.out.data, "x\r\n", 3);
	/* Once done, nothing more is consumed. */
	n = smtp_data_feed(&r.d, "more\r\n", 6, &r.out, &r.done);
	assert_int_equal(n, 0);
	assert_true(r.done);
	assert_int_equal(r.out.len, 3);
	run_free(&r);

	/* Empty message followed at once by the next command. */
	run_whole(&r, &deflim, ".\r\nMAIL FROM:<>\r\n", 17);
	assert_true(r.done);
	assert_int_equal(r.consumed, 3);
	assert_int_equal(r.out.len, 0);
	run_free(&r);

	/* Not done: everything consumed, nothing beyond. */
	run_whole(&r, &deflim, "abc\r\n.", 6);
	assert_false(r.done);
	assert_int_equal(r.consumed, 6);
	assert_int_equal(r.out.len, 5);
	run_free(&r);
}

static void
test_split_every_position(void **state)
{
	static const char msg[] =
	    "Received: from a\r\n"
	    "Subject: caf\xc3\xa9\r\n"
	    "\r\n"
	    "..stuffed\r\n"
	    ".\x01x\r\n"
	    "\r\n"
	    ".\r\n"
	    "QUIT\r\n";
	static const char bad[] = "a\r\n.\nb\r\r\n.\r.\r\n.\r\nNOOP\r\n";
	static const char tiny[] = ".\r\nX";
	struct run r;
	char *big;
	size_t i;

	(void)state;
	expect_split_invariant(&deflim, msg, sizeof(msg) - 1);
	expect_split_invariant(&deflim, bad, sizeof(bad) - 1);
	expect_split_invariant(&deflim, tiny, sizeof(tiny) - 1);

	run_whole(&r, &deflim, msg, sizeof(msg) - 1);
	assert_true(r.done);
	assert_int_equal(r.consumed, sizeof(msg) - 1 - 6);
	assert_true(r.d.eightbit);
	assert_int_equal(r.d.received, 1);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_OK);
	assert_string_equal(r.out.data, "Received: from a\r\n"
	    "Subject: caf\xc3\xa9\r\n\r\n.stuffed\r\n\x01x\r\n\r\n");
	run_free(&r);

	/* A long message with lines crossing every split. */
	big = malloc(5000);
	assert_non_null(big);
	for (i = 0; i < 4990; i++)
		big[i] = (i % 77 == 75) ? '\r' : (i % 77 == 76) ? '\n' :
		    (i % 77 == 0) ? '.' : (char)('a' + i % 26);
	memcpy(big + 4990, "\r\n.\r\n", 5);
	expect_split_invariant(&deflim, big, 4995);
	run_whole(&r, &deflim, big, 4995);
	assert_true(r.done);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_OK);
	/* 65 stuffing dots removed, the 5-octet ".CRLF" not stored... */
	assert_int_equal(r.out.len, 4995 - 65 - 3);
	run_free(&r);
	free(big);
}

/* ---- smuggling ---- */

static void
test_smuggling_sequences(void **state)
{
	static const struct {
		const char *seq;
		enum smtp_data_err err;
	} seqs[] = {
		{ "\n.\n",		SMTP_DATA_BARE_LF },
		{ "\r.\r",		SMTP_DATA_BARE_CR },
		{ "\n.\r\n",		SMTP_DATA_BARE_LF },
		{ "\r\n.\n",		SMTP_DATA_BARE_LF },
		{ "\r\n.\r\r\n",	SMTP_DATA_BARE_CR },
		{ "\r.\r\n",		SMTP_DATA_BARE_CR },
		{ "\n.\r",		SMTP_DATA_BARE_LF },
		{ "\r\n.\r",		SMTP_DATA_BARE_CR },
		{ "\r\r\n.\n",		SMTP_DATA_BARE_CR },
		{ "\r\n\n.\r\n",	SMTP_DATA_BARE_LF },
		{ "\r\n.\n\r\n",	SMTP_DATA_BARE_LF },
	};
	static const char head[] = "Subject: first\r\n\r\nbody";
	static const char smuggled[] = "MAIL FROM:<evil@sender.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n"
	    "evil";
	char in[512];
	struct run r;
	size_t i, n, end;

	(void)state;
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		n = (size_t)snprintf(in, sizeof(in), "%s%s%s\r\n.\r\nQUIT\r\n",
		    head, seqs[i].seq, smuggled);
		end = n - 6;	/* the real terminator ends before QUIT */
		run_whole(&r, &deflim, in, n);
		if (!r.done || r.consumed != end)
			fail_msg("seq %zu: done=%d consumed=%zu want %zu", i,
			    r.done, r.consumed, end);
		if (smtp_data_error(&r.d) != seqs[i].err)
			fail_msg("seq %zu: error %d want %d", i,
			    (int)smtp_data_error(&r.d), (int)seqs[i].err);
		/* Nothing after the bare octet is stored. */
		assert_true(r.out.len <= sizeof(head) - 1 + 2);
		assert_memory_equal(r.out.data, in, r.out.len);
		assert_null(memmem(r.out.data, r.out.len, "evil", 4));
		run_free(&r);
		expect_split_invariant(&deflim, in, n);
	}
}

static void
test_bare_cr_lf_continue(void **state)
{
	struct run r;

	(void)state;
	expect(&deflim, "a\nb\r\n.\r\n", SMTP_DATA_BARE_LF, NULL);
	expect(&deflim, "a\rb\r\n.\r\n", SMTP_DATA_BARE_CR, NULL);
	expect(&deflim, "a\r\r\n.\r\n", SMTP_DATA_BARE_CR, NULL);
	expect(&deflim, "\n.\r\n\r\n.\r\n", SMTP_DATA_BARE_LF, NULL);
	expect(&deflim, "\r.\r\n\r\n.\r\n", SMTP_DATA_BARE_CR, NULL);
	expect(&deflim, "\n\r\n.\r\n", SMTP_DATA_BARE_LF, NULL);
	expect(&deflim, ".\n\r\n.\r\n", SMTP_DATA_BARE_LF, NULL);
	expect(&deflim, ".\r.\r\n.\r\n", SMTP_DATA_BARE_CR, NULL);
	/* The first error wins. */
	expect(&deflim, "a\nb\rc\r\n.\r\n", SMTP_DATA_BARE_LF, NULL);
	expect(&deflim, "a\rb\nc\r\n.\r\n", SMTP_DATA_BARE_CR, NULL);

	/* Output stops at the error, input runs on to the terminator. */
	run_whole(&r, &deflim, "good\r\nbad\nmore text\r\nand more\r\n.\r\nX",
	    35);
	assert_true(r.done);
	assert_int_equal(r.consumed, 34);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_BARE_LF);
	assert_int_equal(r.out.len, 9);
	assert_memory_equal(r.out.data, "good\r\nbad", 9);
	run_free(&r);

	/* A bare LF never terminates, even many of them. */
	run_whole(&r, &deflim, "\n.\n\n.\n.\n\r.\r.\r", 13);
	assert_false(r.done);
	assert_int_equal(r.consumed, 13);
	run_free(&r);
}

static void
test_nul(void **state)
{
	static const char a[] = "a\0b\r\n.\r\n";
	static const char b[] = ".\0\r\n.\r\n";
	static const char c[] = "\0\r\n.\r\n";
	struct run r;

	(void)state;
	run_whole(&r, &deflim, a, sizeof(a) - 1);
	assert_true(r.done);
	assert_int_equal(r.consumed, sizeof(a) - 1);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_NUL);
	run_free(&r);
	run_whole(&r, &deflim, b, sizeof(b) - 1);
	assert_true(r.done);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_NUL);
	run_free(&r);
	run_whole(&r, &deflim, c, sizeof(c) - 1);
	assert_true(r.done);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_NUL);
	run_free(&r);
	expect_split_invariant(&deflim, a, sizeof(a) - 1);
}

/* ---- limits ---- */

static void
test_line_length(void **state)
{
	struct lim l = deflim;
	struct run r;
	char *huge;

	(void)state;
	l.line = 10;	/* 8 octets + CRLF fit */
	expect(&l, "12345678\r\n.\r\n", SMTP_DATA_OK, "12345678\r\n");
	expect(&l, "123456789\r\n.\r\n", SMTP_DATA_LINE_TOO_LONG, NULL);
	/* The stuffing dot does not count (RFC 5321 4.5.3.1.6). */
	expect(&l, "..2345678\r\n.\r\n", SMTP_DATA_OK, ".2345678\r\n");
	expect(&l, "..23456789\r\n.\r\n", SMTP_DATA_LINE_TOO_LONG, NULL);
	/* Each line is measured on its own. */
	expect(&l, "12345678\r\n12345678\r\n\r\n.\r\n", SMTP_DATA_OK, NULL);
	expect(&l, "12345678\r\n1234567890123\r\n.\r\n",
	    SMTP_DATA_LINE_TOO_LONG, NULL);
	split_str(&l, "12345678\r\n.\r\n");
	split_str(&l, "123456789\r\n.\r\n");
	split_str(&l, "..23456789\r\n.\r\n");

	/* Even an empty line is two octets. */
	l.line = 1;
	expect(&l, "\r\n.\r\n", SMTP_DATA_LINE_TOO_LONG, NULL);
	expect(&l, ".\r\n", SMTP_DATA_OK, "");
	l.line = 2;
	expect(&l, "\r\n.\r\n", SMTP_DATA_OK, "\r\n");
	expect(&l, "a\r\n.\r\n", SMTP_DATA_LINE_TOO_LONG, NULL);

	/* A megabyte-long line: refused, and the terminator still found. */
	l.line = 1000;
	huge = malloc(1 << 20);
	assert_non_null(huge);
	memset(huge, 'x', 1 << 20);
	memcpy(huge + (1 << 20) - 5, "\r\n.\r\n", 5);
	run_whole(&r, &l, huge, 1 << 20);
	assert_true(r.done);
	assert_int_equal(r.consumed, 1 << 20);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_LINE_TOO_LONG);
	assert_true(r.out.len <= 1000);
	run_free(&r);
	free(huge);

	/* 0 = no limit. */
	l.line = 0;
	expect(&l, "123456789012345678901234567890\r\n.\r\n", SMTP_DATA_OK,
	    NULL);
}

static void
test_header_cap(void **state)
{
	struct lim l = deflim;

	(void)state;
	l.header = 30;
	/* 28 + CRLF = 30: fits; the body does not count. */
	expect(&l, "Subject: 0123456789012345678\r\n\r\n"
	    "a body line longer than thirty octets\r\n.\r\n", SMTP_DATA_OK,
	    NULL);
	expect(&l, "Subject: 01234567890123456789\r\n\r\nb\r\n.\r\n",
	    SMTP_DATA_HEADER_TOO_BIG, NULL);
	/* Two lines: 15 + 15 fits, 16 + 15 does not. */
	expect(&l, "A: 1234567890\r\nB: 1234567890\r\n\r\nb\r\n.\r\n",
	    SMTP_DATA_OK, NULL);
	expect(&l, "A: 12345678901\r\nB: 1234567890\r\n\r\nb\r\n.\r\n",
	    SMTP_DATA_HEADER_TOO_BIG, NULL);
	/* No empty line: the whole message is header section. */
	expect(&l, "A: 1234567890\r\nB: 1234567890\r\nC\r\n.\r\n",
	    SMTP_DATA_HEADER_TOO_BIG, NULL);
	/* Continuation lines count too. */
	expect(&l, "A: 1234567890\r\n 1234567890123\r\n\r\n.\r\n",
	    SMTP_DATA_HEADER_TOO_BIG, NULL);
	split_str(&l, "A: 12345678901\r\nB: 1234567890\r\n\r\nb\r\n.\r\n");
}

static void
test_received_count(void **state)
{
	struct lim l = deflim;
	struct run r;
	static const char many[] =
	    "Received: a\r\n"
	    "received: b\r\n"
	    "RECEIVED :c\r\n"
	    "Received\t \t:d\r\n"
	    ".Received: stuffed\r\n"
	    "X-Received: no\r\n"
	    "Received-SPF: pass\r\n"
	    " Received: continuation\r\n"
	    "\tReceived: continuation\r\n"
	    "Received no colon\r\n"
	    "Receive: short\r\n"
	    "Subject: Received: x\r\n"
	    "\r\n"
	    "Received: in the body\r\n"
	    ".\r\n";

	(void)state;
	l.received = 0;		/* count without limit */
	run_whole(&r, &l, many, sizeof(many) - 1);
	assert_true(r.done);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_OK);
	assert_int_equal(r.d.received, 5);
	run_free(&r);

	l.received = 5;
	expect(&l, many, SMTP_DATA_OK, NULL);
	l.received = 4;
	expect(&l, many, SMTP_DATA_TOO_MANY_HOPS, NULL);
	expect_split_invariant(&l, many, sizeof(many) - 1);

	l.received = 2;
	expect(&l, "Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n",
	    SMTP_DATA_OK, NULL);
	expect(&l, "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n.\r\n",
	    SMTP_DATA_TOO_MANY_HOPS, NULL);
}

static void
test_size_cap(void **state)
{
	struct lim l = deflim;
	struct run r;

	(void)state;
	l.size = 10;
	expect(&l, "12345678\r\n.\r\n", SMTP_DATA_OK, "12345678\r\n");
	expect(&l, "123456789\r\n.\r\n", SMTP_DATA_TOO_BIG, NULL);
	expect(&l, "1234\r\n1234\r\n.\r\n", SMTP_DATA_TOO_BIG, NULL);
	expect(&l, "1234\r\n12\r\n.\r\n", SMTP_DATA_OK, "1234\r\n12\r\n");
	/* Stuffing dots are not message octets. */
	expect(&l, "..234\r\n..2\r\n.\r\n", SMTP_DATA_OK, ".234\r\n.2\r\n");
	split_str(&l, "1234\r\n1234\r\n.\r\n");

	/* The output buffer's own cap is reported as too big as well. */
	smtp_data_init(&r.d, 1000, 1000, 0, 0);
	buf_init(&r.out, 8);
	smtp_data_feed(&r.d, "123456789\r\n.\r\n", 14, &r.out, &r.done);
	assert_true(r.done);
	assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_TOO_BIG);
	assert_true(r.out.len <= 8);
	buf_free(&r.out);
}

static void
test_eightbit(void **state)
{
	struct run r;
	char line[64];
	size_t i;

	(void)state;
	run_whole(&r, &deflim, "caf\xc3\xa9\r\n.\r\n", 10);
	assert_true(r.d.eightbit);
	run_free(&r);
	run_whole(&r, &deflim, "cafe\x7f\r\n.\r\n", 10);
	assert_false(r.d.eightbit);
	run_free(&r);
	run_whole(&r, &deflim, ".\xff\r\n.\r\n", 7);
	assert_true(r.d.eightbit);
	assert_int_equal(r.out.len, 3);
	run_free(&r);

	/* One high octet at every position of a 37-octet line. */
	for (i = 0; i <= 37; i++) {
		memset(line, 'a', 37);
		if (i < 37)
			line[i] = (char)0x80;
		memcpy(line + 37, "\r\n.\r\n", 5);
		run_whole(&r, &deflim, line, 42);
		assert_true(r.done);
		assert_int_equal(smtp_data_error(&r.d), SMTP_DATA_OK);
		assert_int_equal(r.d.eightbit, i < 37);
		run_free(&r);
	}
}

static void
test_replies(void **state)
{
	static const struct {
		enum smtp_data_err err;
		const char *prefix;
	} t[] = {
		{ SMTP_DATA_OK,			"250 2." },
		{ SMTP_DATA_BARE_LF,		"554 5.6.0 Message contains bare LF" },
		{ SMTP_DATA_BARE_CR,		"554 5.6.0 Message contains bare CR" },
		{ SMTP_DATA_NUL,		"554 5.6.0 Message contains NUL" },
		{ SMTP_DATA_LINE_TOO_LONG,	"552 5.6.0 " },
		{ SMTP_DATA_HEADER_TOO_BIG,	"552 5.3.4 " },
		{ SMTP_DATA_TOO_MANY_HOPS,	"554 5.4.6 " },
		{ SMTP_DATA_TOO_BIG,		"552 5.3.4 " },
		{ SMTP_DATA_NOMEM,		"451 4.3.0 " },
	};
	const char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		s = smtp_data_reply(t[i].err);
		assert_non_null(s);
		if (strncmp(s, t[i].prefix, strlen(t[i].prefix)) != 0)
			fail_msg("reply \"%s\", want \"%s\"", s, t[i].prefix);
		assert_null(strpbrk(s, "\r\n"));
		assert_true(strlen(s) > 10);
	}
	assert_string_equal(smtp_data_reply(SMTP_DATA_LINE_TOO_LONG),
	    "552 5.6.0 Message has a line longer than permitted "
	    "(RFC 5321 4.5.3.1.6)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_pipelined_after_terminator),
		cmocka_unit_test(test_split_every_position),
		cmocka_unit_test(test_smuggling_sequences),
		cmocka_unit_test(test_bare_cr_lf_continue),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_header_cap),
		cmocka_unit_test(test_received_count),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_eightbit),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
