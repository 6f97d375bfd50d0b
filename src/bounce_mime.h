/*
 * bounce_mime - a bounded MIME reader for bounce messages.
 *
 * Owns: splitting one raw message (bytes: CRLF or LF, 8-bit junk, NULs)
 * into its header fields and its leaf parts, decoding what the bounce
 * parser reads (text parts, delivery-status and feedback-report parts: the
 * transfer encoding and the charset, into UTF-8), and keeping only the
 * header block of attached messages (message/rfc822, text/rfc822-headers).
 *
 * GMime does the decoding work: Content-Type parsing (RFC 2045, RFC 2231
 * parameters), base64 and quoted-printable (g_mime_encoding_*), charset
 * names and conversion (g_mime_charset_iconv_name, g_mime_iconv_open) and
 * RFC 2047 encoded words.  The part walk itself is ours: GMime's parser
 * builds the complete object tree of the returned original message as
 * well (about 70 us per bounce here, most of it allocating header objects
 * nobody reads), and a bounce parser must bound its work on hostile input.
 *
 * Limits, all enforced before work or allocation: BOUNCE_MIME_DEPTH levels
 * of nesting, BOUNCE_MIME_PARTS parts, BOUNCE_MIME_HEADERS header fields per
 * block of at most BOUNCE_MIME_HEADER_BYTES, BOUNCE_MIME_TEXT_MAX decoded
 * bytes per part.  The caller bounds the input length itself.
 *
 * Memory: everything a message yields lives in one arena freed by
 * bounce_mime_free.  Callers: bounce_parse only.
 */
#ifndef CLEANBOX_BOUNCE_MIME_H
#define CLEANBOX_BOUNCE_MIME_H

#include <stdbool.h>
#include <stddef.h>

#define BOUNCE_MIME_DEPTH		8
#define BOUNCE_MIME_PARTS		64
#define BOUNCE_MIME_HEADERS		200
#define BOUNCE_MIME_HEADER_BYTES	(128 * 1024)
#define BOUNCE_MIME_VALUE_MAX		(16 * 1024)
#define BOUNCE_MIME_TEXT_MAX		(256 * 1024)

struct bounce_mime_hdr {
	const char *name;	/* lower-case */
	const char *value;	/* unfolded, trimmed, raw bytes, NUL-terminated */
};

struct bounce_mime_hdrs {
	struct bounce_mime_hdr *v;
	size_t	n;
};

enum bounce_mime_kind {
	BOUNCE_MIME_TEXT,	/* text/plain and unknown text */
	BOUNCE_MIME_HTML,	/* text/html (tags stripped in text) */
	BOUNCE_MIME_DSN,	/* message/delivery-status, global-delivery-status */
	BOUNCE_MIME_ARF,	/* message/feedback-report */
	BOUNCE_MIME_HEADERS_ONLY, /* message/rfc822, text/rfc822-headers: see inner */
	BOUNCE_MIME_OTHER,	/* anything else: not decoded */
};

struct bounce_mime_part {
	enum bounce_mime_kind kind;
	char	type[64];	/* "text/plain", lower-case */
	int	depth;
	bool	in_attachment;	/* inside a message/rfc822 we descended into */
	struct bounce_mime_hdrs inner;	/* HEADERS_ONLY: the enclosed header block */
	const char *text;	/* decoded UTF-8-ish text, NUL-terminated; "" if none */
	size_t	text_len;
	const char *body;	/* HEADERS_ONLY: the enclosed message, decoded */
	size_t	body_len;
};

struct bounce_mime_msg {
	struct bounce_mime_hdrs hdrs;	/* top-level header fields */
	char	type[64];		/* top-level media type */
	char	report_type[32];	/* multipart/report report-type, lower-case */
	struct bounce_mime_part parts[BOUNCE_MIME_PARTS];
	size_t	nparts;
	bool	truncated;		/* a limit cut something off */
	void	*arena;
};

/*
 * Read one message.  Always fills *m (possibly with zero parts); returns 0,
 * or -1 when memory ran out (m is still valid for bounce_mime_free).
 */
int	bounce_mime_parse(const char *data, size_t len,
	    struct bounce_mime_msg *m);
void	bounce_mime_free(struct bounce_mime_msg *m);

/* First header field called name (lower-case); NULL if absent. */
const char *bounce_mime_hdr_get(const struct bounce_mime_hdrs *h,
	    const char *name);

/*
 * Parse a header block at data (len bytes) into h, allocating from the
 * message's arena: for header-like text found inside a body (an inline
 * copy of the original headers, a DSN field group).  *used receives the
 * offset just past the block's terminating blank line (or len).
 */
int	bounce_mime_parse_headers(struct bounce_mime_msg *m, const char *data,
	    size_t len, struct bounce_mime_hdrs *h, size_t *used);

/*
 * Decode RFC 2047 encoded words in a header value into UTF-8, allocating
 * from the arena.  Returns the input itself when there is nothing to decode.
 */
const char *bounce_mime_decode_words(struct bounce_mime_msg *m,
	    const char *value);

/* Allocate n bytes from the message's arena (NULL when out of memory). */
void	*bounce_mime_alloc(struct bounce_mime_msg *m, size_t n);

/* Initialise GMime once per process (thread-safe). */
void	bounce_mime_init(void);

#endif
