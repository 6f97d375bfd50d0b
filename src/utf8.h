/*
 * utf8 - the one UTF-8 well-formedness check (RFC 3629 section 4).
 *
 * Callers: smtp_parse (SMTPUTF8 addresses), addrcheck, bounce_text, store
 * (cleaning text before it is stored).
 */
#ifndef CLEANBOX_UTF8_H
#define CLEANBOX_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed sequence at s (len bytes available): 1 for an
 * ASCII byte, 2-4 for a multi-byte character, 0 when the bytes there are
 * malformed or truncated (overlong forms, surrogates, above U+10FFFF,
 * stray continuation bytes, C0/C1 lead bytes, F5..FF).  len must be > 0.
 */
size_t	utf8_seq_len(const unsigned char *s, size_t len);

#endif
