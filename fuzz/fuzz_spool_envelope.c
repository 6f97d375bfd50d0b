/*
 * fuzz_spool_envelope - the envelope file parser.
 *
 * Envelope files are written by the relay itself, but a damaged disk or a
 * crash mid-write makes any bytes possible, and the start-up scan reads
 * whatever it finds.  Properties checked:
 *   - the parser never crashes, leaks or reads out of bounds;
 *   - the format is canonical: whatever parses formats back to exactly
 *     the same bytes (so nothing is silently reinterpreted);
 *   - a parsed envelope is internally valid (formatting it succeeds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_envelope env;
	struct buf out;

	if (spool_envelope_parse((const char *)data, size, &env) != 0) {
		if (env.rcpt != NULL || env.nrcpt != 0)
			abort();	/* a failed parse leaves nothing */
		return 0;
	}
	buf_init(&out, 0);
	if (spool_envelope_format(&env, &out) != 0)
		abort();
	if (out.len != size || memcmp(out.data, data, size) != 0)
		abort();
	buf_free(&out);
	spool_envelope_free(&env);
	return 0;
}
