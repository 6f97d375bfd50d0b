/*
 * fuzz_bounce_parse - libFuzzer target for the bounce-message parser.
 *
 * Feeds arbitrary bytes to bounce_parse (MIME walk, DSN/ARF/SES/text
 * layouts, classification) and checks the parser's promises: it returns,
 * every result string is NUL-terminated valid UTF-8 without control bytes,
 * and the result count stays within BOUNCE_PARSE_RESULTS.
 *
 * Build: make fuzz; run: build-fuzz/fuzz_bounce_parse -max_total_time=600
 * (seed with tests/fixtures/bounces/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_utf8(const char *s, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strnlen(s, cap);

	if (len == cap)
		abort();	/* not terminated */
	while (*p) {
		size_t n, i;

		if (*p < 0x20 || *p == 0x7f)
			abort();
		if (*p < 0x80)
			n = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 4;
		else
			abort();
		for (i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				abort();
		p += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounce_report rep;
	size_t i;

	if (bounce_parse((const char *)data, size, &rep) == 0) {
		if (rep.n > BOUNCE_PARSE_RESULTS)
			abort();
		for (i = 0; i < rep.n; i++) {
			const struct bounce_result *r = &rep.results[i];

			fuzz_check_utf8(r->recipient, sizeof(r->recipient));
			fuzz_check_utf8(r->status, sizeof(r->status));
			fuzz_check_utf8(r->reply, sizeof(r->reply));
			fuzz_check_utf8(r->remote, sizeof(r->remote));
			fuzz_check_utf8(r->diagnostic, sizeof(r->diagnostic));
			if (r->verdict.meaning == NULL || r->verdict.fix == NULL)
				abort();
		}
	}
	bounce_report_free(&rep);
	return 0;
}
