/*
 * buf - growable byte buffer with a hard cap.
 *
 * Every buffer carries its length and capacity, and a maximum it will never
 * grow past: limits are enforced before allocation, never after.  The data
 * is always NUL-terminated one byte past len (a safety net for C string
 * functions), but it may contain NUL bytes, so callers use len.
 */
#ifndef CLEANBOX_BUF_H
#define CLEANBOX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* 0 = no cap beyond SIZE_MAX/2 */
};

#define BUF_OK		 0
#define BUF_ENOMEM	-1
#define BUF_ETOOBIG	-2

void	buf_init(struct buf *b, size_t max);
void	buf_free(struct buf *b);
void	buf_reset(struct buf *b);
/* Make room for extra more bytes; BUF_ETOOBIG if len+extra would pass max. */
int	buf_reserve(struct buf *b, size_t extra);
int	buf_append(struct buf *b, const void *data, size_t len);
int	buf_append_str(struct buf *b, const char *s);
int	buf_append_byte(struct buf *b, char c);
/* printf-style append; the whole formatted text or nothing. */
int	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
/* Remove the first n bytes. */
void	buf_consume(struct buf *b, size_t n);

#endif
