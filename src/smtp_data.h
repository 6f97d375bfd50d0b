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
	SMTP_DATA_LINE_TOO_LONG,/* 552 5.6.0 (RFC 5321 4.5.3.1.6) */
	SMTP_DATA_HEADER_TOO_BIG,	/* 552 5.3.4 */
	SMTP_DATA_TOO_MANY_HOPS,	/* 554 5.4.6 */
	SMTP_DATA_TOO_BIG,	/* 552 5.3.4 */
	SMTP_DATA_NOMEM,	/* 451 4.3.0 */
};

struct smtp_data {
	/* limits; 0 means no limit */
	size_t	max_line;	/* octets per line including CRLF */
	size_t	max_header;	/* octets of header lines including CRLFs */
	size_t	max_size;	/* octets of the unstuffed message */
	unsigned max_received;	/* Received: fields in the header section */

	/* state (private to smtp_data.c) */
	int	state;		/* enum smtp_data_state */
	size_t	line_len;	/* unstuffed octets in current line, no CRLF */
	size_t	header_len;	/* octets of completed header lines */
	bool	in_header;	/* before the first empty line */
	unsigned hdr_match;	/* progress matching "Received" *WSP ":" */
	unsigned received;	/* Received: fields counted */
	enum smtp_data_err err;

	/* results, meaningful while err is SMTP_DATA_OK */
	bool	eightbit;	/* saw a byte >= 0x80 */
	size_t	size;		/* octets of unstuffed message so far */
};

/* Start a DATA phase (also resets a used struct). */
void	smtp_data_init(struct smtp_data *d, size_t max_line, size_t max_header,
	    size_t max_size, unsigned max_received);
/*
 * Feed len bytes.  Unstuffed message bytes are appended to out until an
 * error occurs.  Returns the number of bytes consumed: less than len only
 * when the terminator was found (*done set true; the rest of the input
 * belongs to the next command, e.g. pipelined after DATA).
 *
 * The input may be split anywhere; the result is the same as feeding it
 * whole.  The stream is taken to start at a line start (the 354 reply
 * ends the previous line), so "." CRLF as the very first line ends an
 * empty message.  Output: the message exactly, CRLF line ends, the CRLF
 * before the final "." included.  Once done, further calls consume
 * nothing.  out should be capped (buf max) no lower than max_size; a
 * buffer refusal becomes SMTP_DATA_TOO_BIG or SMTP_DATA_NOMEM.
 */
size_t	smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
	    struct buf *out, bool *done);
/*
 * The error so far (SMTP_DATA_OK if none; the first error wins), and its
 * full reply line without CRLF (SMTP_DATA_OK gives a plain "250 2.0.0";
 * the server normally words its own 250 with the queue id).
 */
enum smtp_data_err smtp_data_error(const struct smtp_data *d);
const char *smtp_data_reply(enum smtp_data_err err);

#endif
