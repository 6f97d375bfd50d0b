/*
 * log - see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level log_min = LOG_LVL_INFO;

static const char *const log_names[] = { "debug", "info", "warning", "error" };

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n, m;

	if (lvl < log_min)
		return;
	n = snprintf(line, sizeof(line), "cleanbox-relay[%ld]: %s: ",
	    (long)getpid(), log_names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	/* Truncated lines are still logged, whole up to the buffer size. */
	n += (size_t)m < sizeof(line) - (size_t)n - 1 ? m
	    : (int)(sizeof(line) - (size_t)n - 2);
	line[n++] = '\n';
	/* One write(2) per line keeps lines whole across threads. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void
log_sanitize(char *out, size_t outsz, const char *in, size_t len)
{
	size_t i, o = 0;

	if (outsz == 0)
		return;
	for (i = 0; i < len && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		/* UTF-8 bytes pass; ASCII control bytes do not. */
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
}
