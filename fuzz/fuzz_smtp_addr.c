/*
 * fuzz_smtp_addr - smtp_mailbox_parse in both modes, plus xtext.
 * Checks: a mailbox is kept as written (format gives back the input);
 * parse(format(x)) == x; ASCII mode accepts a subset of UTF-8 mode with
 * identical results; what parses as a mailbox parses as a path "<x>";
 * xtext decode(encode(x)) == x and encoding is canonical.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_parsed(const char *s, size_t len, bool allow_utf8,
    const struct smtp_mailbox *mb)
{
	struct smtp_mailbox again;
	char out[SMTP_LOCAL_MAX * 2 + 3 + SMTP_DOMAIN_MAX + 2];
	size_t i;
	int n;

	FUZZ_CHECK(mb->local_len == strlen(mb->local));
	FUZZ_CHECK(mb->domain_len == strlen(mb->domain));
	FUZZ_CHECK(mb->local_len >= 1 && mb->local_len <= SMTP_LOCAL_MAX * 2 + 2);
	FUZZ_CHECK(mb->domain_len >= 1 && mb->domain_len <= SMTP_DOMAIN_MAX);
	FUZZ_CHECK(mb->quoted == (s[0] == '"'));
	FUZZ_CHECK(mb->literal == (mb->domain[0] == '['));
	if (!mb->quoted)
		FUZZ_CHECK(mb->local_len <= SMTP_LOCAL_MAX);
	for (i = 0; i < len; i++) {
		/* No controls, no DEL; non-ASCII only in UTF-8 mode. */
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
		if ((unsigned char)s[i] >= 0x80)
			FUZZ_CHECK(allow_utf8 && mb->utf8);
	}
	if (!allow_utf8)
		FUZZ_CHECK(!mb->utf8);
	FUZZ_CHECK(smtp_domain_check(mb->domain, mb->domain_len, true,
	    allow_utf8) == 0);
	n = smtp_mailbox_format(mb, out, sizeof(out));
	FUZZ_CHECK(n >= 0 && (size_t)n == len && memcmp(out, s, len) == 0);
	FUZZ_CHECK(smtp_mailbox_parse(out, (size_t)n, allow_utf8, &again) == 0);
	FUZZ_CHECK(memcmp(mb, &again, sizeof(again)) == 0);
}

static void
check_path(const char *s, size_t len, const struct smtp_mailbox *mb)
{
	char path[SMTP_PATH_MAX + 16];
	struct smtp_rcpt_args r;
	const char *reply = NULL;

	if (len + 2 > SMTP_PATH_MAX || s[0] == '@')
		return;
	path[0] = '<';
	memcpy(path + 1, s, len);
	path[len + 1] = '>';
	FUZZ_CHECK(smtp_rcpt_parse(path, len + 2, true, &r, &reply) == 0);
	FUZZ_CHECK(!r.postmaster);
	FUZZ_CHECK(memcmp(&r.to, mb, sizeof(*mb)) == 0);
}

static void
check_xtext(const char *s, size_t len)
{
	static char enc[3 * 4096 + 1], dec[4096 + 1], enc2[3 * 4096 + 1];
	int n, m, k;

	if (len > 4096)
		return;
	n = smtp_xtext_encode(s, len, enc, sizeof(enc));
	FUZZ_CHECK(n >= (int)len && n <= 3 * (int)len);
	FUZZ_CHECK(strpbrk(enc, " =") == NULL);
	m = smtp_xtext_decode(enc, (size_t)n, dec, sizeof(dec));
	FUZZ_CHECK(m == (int)len && memcmp(dec, s, len) == 0);
	/* Too small an output buffer fails cleanly. */
	if (n > 0)
		FUZZ_CHECK(smtp_xtext_encode(s, len, enc, (size_t)n) == -1);

	m = smtp_xtext_decode(s, len, dec, sizeof(dec));
	if (m < 0)
		return;
	FUZZ_CHECK(m <= (int)len);
	k = smtp_xtext_encode(dec, (size_t)m, enc2, sizeof(enc2));
	FUZZ_CHECK(k >= 0 && k <= (int)len);	/* canonical form is shortest */
	FUZZ_CHECK(smtp_xtext_decode(enc2, (size_t)k, enc, sizeof(enc)) == m);
	FUZZ_CHECK(memcmp(enc, dec, (size_t)m) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_mailbox a, u;
	int ra, ru;

	ra = smtp_mailbox_parse(s, size, false, &a);
	ru = smtp_mailbox_parse(s, size, true, &u);
	FUZZ_CHECK(ra == 0 || ra == -1);
	FUZZ_CHECK(ru == 0 || ru == -1);
	if (ra == 0) {
		FUZZ_CHECK(ru == 0);
		FUZZ_CHECK(memcmp(&a, &u, sizeof(a)) == 0);
		check_parsed(s, size, false, &a);
	}
	if (ru == 0) {
		check_parsed(s, size, true, &u);
		if (!u.utf8)
			FUZZ_CHECK(ra == 0);
		check_path(s, size, &u);
	}
	check_xtext(s, size);
	return 0;
}
