/*
 * fuzz_smtp_client_reply - the outbound client's reply parser (what a
 * remote SMTP server sends us) on arbitrary bytes.  Checks the invariants
 * the session relies on: results are NUL-terminated, codes are 200-599,
 * the enhanced code has the reply's class, a parse never claims more bytes
 * than it was given.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_client_reply r;
	unsigned ext;
	size_t limit, off = 0;
	int n;

	/* Successive replies, as a pipelining server would send them. */
	while (off < size) {
		n = smtp_client_reply_parse((const char *)data + off,
		    size - off, &r, &ext, &limit);
		if (n <= 0)
			break;
		if ((size_t)n > size - off)
			abort();
		if (r.code < 200 || r.code > 599)
			abort();
		if (memchr(r.text, '\0', sizeof(r.text)) == NULL ||
		    memchr(r.enh, '\0', sizeof(r.enh)) == NULL)
			abort();
		if (r.enh[0] != '\0' && r.enh[0] != '0' + r.code / 100)
			abort();
		if (r.code / 100 != 2 && ext != 0)
			abort();
		off += (size_t)n;
	}
	return 0;
}
