/*
 * utf8 - see utf8.h.  Table-free: the second byte's allowed range is what
 * rules out overlongs, surrogates and code points above U+10FFFF, so no
 * code point is ever assembled.
 */
#include "utf8.h"

size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c == 0xe0) {
		n = 3;
		lo = 0xa0;	/* overlong below U+0800 */
	} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
		n = 3;
	else if (c == 0xed) {
		n = 3;
		hi = 0x9f;	/* U+D800..U+DFFF are surrogates */
	} else if (c == 0xf0) {
		n = 4;
		lo = 0x90;	/* overlong below U+10000 */
	} else if (c >= 0xf1 && c <= 0xf3)
		n = 4;
	else if (c == 0xf4) {
		n = 4;
		hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;	/* continuation byte, C0/C1 lead, F5..FF */
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}
