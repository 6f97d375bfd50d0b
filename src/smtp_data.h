/*
 * smtp_data - the DATA phase: terminator state machine and content checks.
 *
 * Input is the raw byte stream after "354"; output is the message with
 * dot-stuffing removed and CRLF line endings.  DATA ends only at
 * CRLF "." CRLF (RFC 5321 4.1.1.4); a bare LF or bare CR never ends it and
 * marks the message as rejected (SMTP smuggling defence), as do NUL bytes,
 * lines longer than max_line (octets including CRLF), a header section
 * longer than max_header, more than max_received Received: headers, and a
 * message larger than max_size.  After an error the machine keeps reading
 * (without storing) until the real terminator, so the session stays in sync
 * and the server can answer with the error reply.
 *
 * Callers: smtp_server; fuzz target fuzz_smtp_data.
 */
#ifndef CLEANBOX_SMTP_DATA_H
#define CLEANBOX_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_LF,	/* 554 5.6.0 */
	SMTP_DATA_BARE_CR,	/* 554 5.6.0 */
	SMTP_DATA_NUL,		/* 554 5.6.0 */
	SMTP_DATA_LINE_TOO_LONG,/* 500 5.5.2? -> we use 552 5.6.0? see reply() */
	SMTP_DATA_HEADER_TOO_BIG,	/* 552 5.3.4 */
	SMTP_DATA_TOO_MANY_HOPS,	/* 554 5.4.6 */
	SMTP_DATA_TOO_BIG,	/* 552 5.3.4 */
	SMTP_DATA_NOMEM,	/* 451 4.3.0 */
};

struct smtp_data {
	/* limits */
	size_t	max_line;
	size_t	max_header;
	size_t	max_size;
	unsigned max_received;

	/* state (private) */
	int	state;
	size_t	line_len;	/* octets in current line so far */
	size_t	header_len;
	bool	in_header;
	bool	line_start_checked;
	unsigned received;
	char	hdrname[16];
	size_t	hdrname_len;
	enum smtp_data_err err;
	bool	eightbit;	/* saw a byte >= 0x80 */
	size_t	size;		/* octets of unstuffed message so far */
};

void	smtp_data_init(struct smtp_data *d, size_t max_line, size_t max_header,
	    size_t max_size, unsigned max_received);
/*
 * Feed len bytes.  Unstuffed message bytes are appended to out until an
 * error occurs.  Returns the number of bytes consumed: less than len only
 * when the terminator was found (*done set true; the rest of the input
 * belongs to the next command, e.g. pipelined after DATA).
 */
size_t	smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
	    struct buf *out, bool *done);
/* The error so far (SMTP_DATA_OK if none), and its full reply line. */
enum smtp_data_err smtp_data_error(const struct smtp_data *d);
const char *smtp_data_reply(enum smtp_data_err err);

#endif
