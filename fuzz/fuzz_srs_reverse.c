/*
 * fuzz_srs_reverse - srs_reverse on arbitrary addresses (the local part of
 * an RCPT to the SRS domain comes from any sender on the Internet).
 * Checks: no crash or overread; the output is "" unless SRS_OK; a result
 * fits its buffer and a smaller buffer gives the same result or an error,
 * never a prefix; and the input taken as a sender, if forward rewrites it,
 * reverses again: to itself, or (an SRS input, wrapped as SRS1) to an SRS0
 * address at the first forwarder.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "srs.h"

#define NOW	((int64_t)1700000000)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct srs s;
	static int ready;
	char in[SRS_ADDR_MAX], out[SRS_ADDR_MAX], fwd[SRS_ADDR_MAX];
	char back[SRS_ADDR_MAX];
	int rc;

	if (!ready) {
		FUZZ_CHECK(srs_init(&s, "srs.example.net", "fuzz secret", 0) ==
		    SRS_OK);
		ready = 1;
	}
	if (size >= sizeof(in) || memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';

	rc = srs_reverse(&s, in, NOW, out, sizeof(out));
	FUZZ_CHECK(rc <= 0 && rc >= SRS_ECRYPTO);
	if (rc != SRS_OK)
		FUZZ_CHECK(out[0] == '\0');
	else
		FUZZ_CHECK(strlen(out) < sizeof(out) && strchr(out, '@'));
	/* Small buffers: an error or the same result, never a prefix. */
	{
		char small[24];
		int rc2 = srs_reverse(&s, in, NOW, small, sizeof(small));

		if (rc == SRS_OK && strlen(out) < sizeof(small))
			FUZZ_CHECK(rc2 == SRS_OK && strcmp(small, out) == 0);
		else
			FUZZ_CHECK(rc2 != SRS_OK && small[0] == '\0');
	}

	/* Any sender forward accepts comes back unchanged. */
	rc = srs_forward(&s, in, NOW, fwd, sizeof(fwd));
	if (rc == SRS_OK && fwd[0] != '\0' && strcmp(fwd, in) != 0) {
		rc = srs_reverse(&s, fwd, NOW + 86400, back, sizeof(back));
		FUZZ_CHECK(rc == SRS_OK);
		if (!srs_is_srs(in))
			FUZZ_CHECK(strcmp(back, in) == 0);
		else
			FUZZ_CHECK(srs_is_srs(back));
	}
	return 0;
}
