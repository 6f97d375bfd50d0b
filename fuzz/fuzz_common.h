/*
 * fuzz_common - checks shared by the fuzz targets.  A failed check aborts,
 * which libFuzzer reports as a crash with the input that caused it.
 */
#ifndef CLEANBOX_FUZZ_COMMON_H
#define CLEANBOX_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * A reply line: "ddd x.y.z text", code 2xx-5xx, enhanced class equal to
 * the code's first digit, no CR/LF, not absurdly long.
 */
static inline void
fuzz_check_reply(const char *r)
{
	size_t n;

	FUZZ_CHECK(r != NULL);
	n = strlen(r);
	FUZZ_CHECK(n > 10 && n < 200);
	FUZZ_CHECK(r[0] >= '2' && r[0] <= '5');
	FUZZ_CHECK(r[1] >= '0' && r[1] <= '9' && r[2] >= '0' && r[2] <= '9');
	FUZZ_CHECK(r[3] == ' ' && r[4] == r[0] && r[5] == '.');
	FUZZ_CHECK(strpbrk(r, "\r\n") == NULL);
}

#endif
