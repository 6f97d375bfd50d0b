/*
 * insession_test - the reply a sender gets when its destination refuses:
 * the destination's code and enhanced code, "HOST said:", its text without
 * reply codes, multi-line replies joined, hostile bytes neutralised, the
 * length capped; local decisions without "said".  The session machinery
 * itself is tested end to end in tests/integration/test_insession.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "insession.h"
#include "smtp_client.h"

static void
reply_init(struct smtp_client_reply *r, enum smtp_client_kind kind, int code,
    const char *enh, const char *host, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
test_rcpt_reject(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];
	int code;

	(void)state;
	reply_init(&r, SMTPC_REPLY, 550, "5.1.1", "mx.dest.test",
	    "550 5.1.1 user unknown");
	code = insession_reply_reject(out, sizeof(out), &r, "bob@dest.test");
	assert_int_equal(code, 550);
	assert_string_equal(out, "550 5.1.1 <bob@dest.test>: mx.dest.test "
	    "said: 5.1.1 user unknown");
}

static void
test_data_reject_and_code_kept(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];

	(void)state;
	reply_init(&r, SMTPC_REPLY, 554, "5.7.1", "mx.dest.test",
	    "554 5.7.1 spam");
	assert_int_equal(insession_reply_reject(out, sizeof(out), &r, NULL), 554);
	assert_string_equal(out, "554 5.7.1 mx.dest.test said: 5.7.1 spam");
	reply_init(&r, SMTPC_REPLY, 553, "5.1.3", "h", "553 5.1.3 bad address");
	assert_int_equal(insession_reply_reject(out, sizeof(out), &r, "a@b"),
	    553);
	assert_string_equal(out, "553 5.1.3 <a@b>: h said: 5.1.3 bad address");
}

static void
test_multiline_joined(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];

	(void)state;
	reply_init(&r, SMTPC_REPLY, 550, "5.7.1", "mx.example",
	    "550-5.7.1 The user you are trying to contact is not\n"
	    "550-5.7.1 receiving mail at this time.\n"
	    "550 5.7.1 https://support.example/x");
	insession_reply_reject(out, sizeof(out), &r, "x@y");
	assert_string_equal(out, "550 5.7.1 <x@y>: mx.example said: 5.7.1 The "
	    "user you are trying to contact is not 5.7.1 receiving mail at "
	    "this time. 5.7.1 https://support.example/x");
}

static void
test_no_enhanced_code(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];

	(void)state;
	/* A server without ENHANCEDSTATUSCODES: 5.0.0 (RFC 3463). */
	reply_init(&r, SMTPC_REPLY, 550, "", "old.example", "550 no");
	insession_reply_reject(out, sizeof(out), &r, "a@b");
	assert_string_equal(out, "550 5.0.0 <a@b>: old.example said: no");
	/* A 4xx-looking enhanced code is not passed off as permanent. */
	reply_init(&r, SMTPC_REPLY, 550, "4.2.2", "h", "550 4.2.2 odd");
	insession_reply_reject(out, sizeof(out), &r, "a@b");
	assert_string_equal(out, "550 5.0.0 <a@b>: h said: 4.2.2 odd");
}

static void
test_local_decision(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];

	(void)state;
	reply_init(&r, SMTPC_LOCAL, 0, "5.1.2", "",
	    "DNS lookup of nowhere.test: domain not found");
	assert_int_equal(insession_reply_reject(out, sizeof(out), &r, "a@b"),
	    550);
	assert_string_equal(out, "550 5.1.2 <a@b>: DNS lookup of nowhere.test: "
	    "domain not found");
	assert_int_equal(insession_reply_reject(out, sizeof(out), &r, NULL),
	    554);
	assert_string_equal(out, "554 5.1.2 DNS lookup of nowhere.test: domain "
	    "not found");
}

static void
test_hostile_text(void **state)
{
	struct smtp_client_reply r;
	char out[INSESSION_REPLY_MAX];
	size_t i;

	(void)state;
	reply_init(&r, SMTPC_REPLY, 550, "5.1.1", "h",
	    "550 5.1.1 a\rb\tc\x01" "d\xc3\xa9" "e");
	insession_reply_reject(out, sizeof(out), &r, "a@b");
	/* CR breaks the line like LF; other controls and 8-bit bytes: "?". */
	assert_string_equal(out, "550 5.1.1 <a@b>: h said: 5.1.1 a b?c?d??e");
	/* Long text: cut below the RFC 5321 reply line limit. */
	memset(r.text, 'x', sizeof(r.text) - 1);
	r.text[sizeof(r.text) - 1] = '\0';
	memcpy(r.text, "550 ", 4);
	insession_reply_reject(out, sizeof(out), &r, "a@b");
	assert_true(strlen(out) <= INSESSION_REPLY_MAX - 2);
	for (i = 0; out[i]; i++)
		assert_true(out[i] >= 0x20 && out[i] < 0x7f);
	/* A small buffer is filled, never overrun. */
	{
		char small[16];

		memset(small, 'Z', sizeof(small));
		insession_reply_reject(small, 12, &r, "a@b");
		assert_int_equal(strlen(small), 11);
		assert_int_equal(small[12], 'Z');
		assert_memory_equal(small, "550 5.1.1 <", 11);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_reject),
		cmocka_unit_test(test_data_reject_and_code_kept),
		cmocka_unit_test(test_multiline_joined),
		cmocka_unit_test(test_no_enhanced_code),
		cmocka_unit_test(test_local_decision),
		cmocka_unit_test(test_hostile_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
