/*
 * fuzz_smtp_cmd - smtp_cmd_parse on a command line, then smtp_mail_parse
 * / smtp_rcpt_parse on its argument (and on the raw input, which may hold
 * any byte).  Checks: replies are well-formed lines; arg lies inside the
 * line; parsed results keep their invariants (mailbox round trip, NOTIFY
 * combinations, printable ENVID/ORCPT, UTF-8 only with SMTPUTF8).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *s)
{
	for (; *s; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 &&
		    (unsigned char)*s <= 0x7e);
}

static void
check_mailbox(const struct smtp_mailbox *mb, bool utf8_allowed)
{
	struct smtp_mailbox again;
	char out[SMTP_LOCAL_MAX * 2 + 3 + SMTP_DOMAIN_MAX + 2];
	int n;

	FUZZ_CHECK(mb->local_len == strlen(mb->local));
	FUZZ_CHECK(mb->domain_len == strlen(mb->domain));
	FUZZ_CHECK(mb->local_len <= SMTP_LOCAL_MAX * 2 + 2);
	FUZZ_CHECK(mb->domain_len >= 1 && mb->domain_len <= SMTP_DOMAIN_MAX);
	FUZZ_CHECK(!mb->utf8 || utf8_allowed);
	n = smtp_mailbox_format(mb, out, sizeof(out));
	FUZZ_CHECK(n == (int)(mb->local_len + 1 + mb->domain_len));
	FUZZ_CHECK(smtp_mailbox_parse(out, (size_t)n, true, &again) == 0);
	FUZZ_CHECK(memcmp(mb, &again, sizeof(again)) == 0);
}

static void
check_mail(const char *arg, size_t len)
{
	struct smtp_mail_args m;
	const char *reply = NULL;

	if (smtp_mail_parse(arg, len, &m, &reply) != 0) {
		fuzz_check_reply(reply);
		return;
	}
	FUZZ_CHECK(reply == NULL);
	if (m.null_sender)
		FUZZ_CHECK(m.from.local_len == 0 && m.from.domain_len == 0);
	else
		check_mailbox(&m.from, m.smtputf8);
	FUZZ_CHECK(m.size >= -1);
	FUZZ_CHECK(m.body == SMTP_BODY_7BIT || m.body == SMTP_BODY_8BITMIME);
	FUZZ_CHECK(strlen(m.envid) <= SMTP_ENVID_MAX);
	check_printable(m.envid);
}

static void
check_rcpt(const char *arg, size_t len)
{
	struct smtp_rcpt_args r, r2;
	const char *reply = NULL, *reply2 = NULL;
	int rc, rc2;
	unsigned sfd = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY;

	rc = smtp_rcpt_parse(arg, len, true, &r, &reply);
	rc2 = smtp_rcpt_parse(arg, len, false, &r2, &reply2);
	if (rc2 == 0) {
		/* What passes without SMTPUTF8 passes with it, the same. */
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(memcmp(&r, &r2, sizeof(r)) == 0);
		FUZZ_CHECK(!r2.to.utf8);
	} else {
		fuzz_check_reply(reply2);
		if (rc == 0)
			FUZZ_CHECK(r.to.utf8 &&
			    strncmp(reply2, "553 5.6.7", 9) == 0);
	}
	if (rc != 0) {
		fuzz_check_reply(reply);
		return;
	}
	if (r.postmaster) {
		FUZZ_CHECK(r.to.domain_len == 0);
		FUZZ_CHECK(r.to.local_len == 10);
	} else
		check_mailbox(&r.to, true);
	FUZZ_CHECK(r.notify == SMTP_NOTIFY_NONE ||
	    r.notify == SMTP_NOTIFY_NEVER ||
	    ((r.notify & ~sfd) == 0 && r.notify != 0));
	FUZZ_CHECK(strlen(r.orcpt) <= SMTP_ORCPT_MAX);
	FUZZ_CHECK(r.orcpt[0] == '\0' || strchr(r.orcpt, ';') != NULL);
	check_printable(r.orcpt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	const char *reply = NULL;
	struct smtp_cmd cmd;
	size_t i;

	if (smtp_cmd_parse(line, size, &cmd, &reply) != 0) {
		fuzz_check_reply(reply);
		FUZZ_CHECK(reply[0] == '5');
	} else {
		FUZZ_CHECK(reply == NULL);
		FUZZ_CHECK(cmd.verb != SMTP_VERB_UNKNOWN);
		FUZZ_CHECK(cmd.arg >= line && cmd.arg_len <= size &&
		    (size_t)(cmd.arg - line) <= size - cmd.arg_len);
		for (i = 0; i < cmd.arg_len; i++)
			FUZZ_CHECK((unsigned char)cmd.arg[i] >= 0x20 &&
			    cmd.arg[i] != 0x7f);
		if (cmd.arg_len > 0)
			FUZZ_CHECK(cmd.arg[0] != ' ' &&
			    cmd.arg[cmd.arg_len - 1] != ' ');
		switch (cmd.verb) {
		case SMTP_VERB_HELO:
		case SMTP_VERB_EHLO:
			FUZZ_CHECK(smtp_domain_check(cmd.arg, cmd.arg_len,
			    true, false) == 0);
			break;
		case SMTP_VERB_DATA:
		case SMTP_VERB_RSET:
		case SMTP_VERB_QUIT:
		case SMTP_VERB_STARTTLS:
			FUZZ_CHECK(cmd.arg_len == 0);
			break;
		case SMTP_VERB_MAIL:
			check_mail(cmd.arg, cmd.arg_len);
			break;
		case SMTP_VERB_RCPT:
			check_rcpt(cmd.arg, cmd.arg_len);
			break;
		default:
			break;
		}
	}
	/* The argument parsers on raw bytes (NUL, controls included). */
	check_mail(line, size);
	check_rcpt(line, size);
	return 0;
}
