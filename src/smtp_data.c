/*
 * smtp_data - the DATA phase: terminator state machine and content checks.
 *
 * Owns the byte stream between the 354 reply and the end-of-data
 * indication.  One explicit state machine (enum smtp_data_state, one
 * transition function smtp_data_step) decides line structure:
 *
 *   BOL    --"."-->  DOT    --CR-->  DOT_CR  --LF-->  DONE
 *   BOL/DOT/TEXT --CR--> CR --LF--> BOL        (a real CRLF ends a line)
 *   anything else --> TEXT
 *
 * Invariants (RFC 5321 4.1.1.4, 2.3.8; SMTP smuggling):
 *   - DONE is reached exactly at the first CRLF "." CRLF in the stream
 *     prefixed by the CRLF that ended the DATA command; BOL is entered
 *     only after a real CRLF, so a bare LF or bare CR never starts a line
 *     and never ends DATA;
 *   - a bare CR, bare LF or NUL is an error, but never changes where the
 *     data ends;
 *   - the first error wins; after it nothing more is stored, but the
 *     machine runs on to the real terminator to keep the session in sync.
 *
 * Ordinary bytes inside a line are not stepped one at a time: smtp_data_run
 * finds the run up to the next CR/LF/NUL with memchr and smtp_data_text
 * accounts and appends it at once.  A run moves BOL, DOT or TEXT to TEXT,
 * exactly as stepping its bytes would.
 *
 * Callers: smtp_server; fuzz target fuzz_smtp_data.
 */
#include "smtp_data.h"

#include <stdint.h>
#include <string.h>

enum smtp_data_state {
	SMTP_DS_BOL = 0,	/* start of a line (after CRLF, or the 354) */
	SMTP_DS_DOT,		/* "." at the start of a line */
	SMTP_DS_DOT_CR,		/* "." CR at the start of a line */
	SMTP_DS_TEXT,		/* inside a line */
	SMTP_DS_CR,		/* CR inside a line: a line end if LF follows */
	SMTP_DS_DONE,		/* CRLF "." CRLF seen */
};

/*
 * hdr_match: 0..8 = octets of "received" matched at the start of a header
 * line; SMTP_HDR_WSP = name matched, WSP may precede the colon (RFC 5322
 * 4.5 obs-optional); SMTP_HDR_DECIDED = this line is settled.
 */
#define SMTP_HDR_NAME		"received"
#define SMTP_HDR_WSP		8
#define SMTP_HDR_DECIDED	9

void
smtp_data_init(struct smtp_data *d, size_t max_line, size_t max_header,
    size_t max_size, unsigned max_received)
{
	memset(d, 0, sizeof(*d));
	d->max_line = max_line;
	d->max_header = max_header;
	d->max_size = max_size;
	d->max_received = max_received;
	d->state = SMTP_DS_BOL;
	d->in_header = true;
	d->err = SMTP_DATA_OK;
}

static void
smtp_data_fail(struct smtp_data *d, enum smtp_data_err err)
{
	if (d->err == SMTP_DATA_OK)
		d->err = err;
}

/* Would have + add pass max?  (max 0 = no limit; no overflow.) */
static bool
smtp_data_over(size_t have, size_t add, size_t max)
{
	return max != 0 && (add > max || have > max - add);
}

static void
smtp_data_append(struct smtp_data *d, struct buf *out, const char *s,
    size_t n)
{
	int rc;

	if ((rc = buf_append(out, s, n)) != BUF_OK)
		smtp_data_fail(d, rc == BUF_ETOOBIG ? SMTP_DATA_TOO_BIG :
		    SMTP_DATA_NOMEM);
	else
		d->size += n;
}

/* Advance the Received: matcher over the first bytes of a header line. */
static void
smtp_data_hdr_match(struct smtp_data *d, const char *s, size_t n)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < n && d->hdr_match != SMTP_HDR_DECIDED; i++) {
		c = (unsigned char)s[i];
		if (d->hdr_match < SMTP_HDR_WSP) {
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + ('a' - 'A'));
			if (c == (unsigned char)SMTP_HDR_NAME[d->hdr_match])
				d->hdr_match++;
			else	/* another field, or a continuation line */
				d->hdr_match = SMTP_HDR_DECIDED;
		} else if (c == ':') {
			d->hdr_match = SMTP_HDR_DECIDED;
			d->received++;
			/* RFC 5321 6.3: a loop shows as many Received: lines. */
			if (d->max_received != 0 &&
			    d->received > d->max_received)
				smtp_data_fail(d, SMTP_DATA_TOO_MANY_HOPS);
		} else if (c != ' ' && c != '\t')
			d->hdr_match = SMTP_HDR_DECIDED;
	}
}

/* Any octet >= 0x80 in p[0..n)?  A word at a time: this is per octet. */
static bool
smtp_data_has8bit(const unsigned char *p, size_t n)
{
	uint64_t w, acc = 0;
	size_t i = 0;

	for (; n - i >= sizeof(w); i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return (acc & UINT64_C(0x8080808080808080)) != 0;
}

/* How many more octets fit when have are used of max (0 = no limit). */
static size_t
smtp_data_room(size_t have, size_t max)
{
	if (max == 0)
		return (size_t)-1;
	return have >= max ? 0 : max - have;
}

/*
 * n ordinary octets (no CR, LF, NUL) of the current line's content.  The
 * error reported is the one stepping the octets singly would meet first:
 * the earliest octet over a limit (ties: line, header, size), unless a
 * Received: colon comes before it.
 */
static void
smtp_data_text(struct smtp_data *d, const char *s, size_t n,
    struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	enum smtp_data_err limit = SMTP_DATA_OK;
	size_t fit = n, r;

	if (d->err != SMTP_DATA_OK)
		return;
	/* RFC 5321 4.5.3.1.6: the line limit counts the CRLF. */
	if ((r = smtp_data_room(d->line_len + 2, d->max_line)) < fit) {
		fit = r;
		limit = SMTP_DATA_LINE_TOO_LONG;
	}
	if (d->in_header && (r = smtp_data_room(d->header_len + d->line_len,
	    d->max_header)) < fit) {
		fit = r;
		limit = SMTP_DATA_HEADER_TOO_BIG;
	}
	if ((r = smtp_data_room(d->size, d->max_size)) < fit) {
		fit = r;
		limit = SMTP_DATA_TOO_BIG;
	}
	if (d->in_header && d->hdr_match != SMTP_HDR_DECIDED) {
		smtp_data_hdr_match(d, s, fit);
		if (d->err != SMTP_DATA_OK)
			return;
	}
	if (limit != SMTP_DATA_OK) {
		smtp_data_fail(d, limit);
		return;
	}
	if (!d->eightbit)
		d->eightbit = smtp_data_has8bit(p, n);
	d->line_len += n;
	smtp_data_append(d, out, s, n);
}

/* A real CRLF ended the current line. */
static void
smtp_data_eol(struct smtp_data *d, struct buf *out)
{
	if (d->err == SMTP_DATA_OK) {
		if (smtp_data_over(d->line_len, 2, d->max_line))
			smtp_data_fail(d, SMTP_DATA_LINE_TOO_LONG);
		else if (d->in_header && d->line_len > 0 &&
		    smtp_data_over(d->header_len + d->line_len, 2,
		    d->max_header))
			smtp_data_fail(d, SMTP_DATA_HEADER_TOO_BIG);
		else if (smtp_data_over(d->size, 2, d->max_size))
			smtp_data_fail(d, SMTP_DATA_TOO_BIG);
		else
			smtp_data_append(d, out, "\r\n", 2);
		if (d->in_header) {
			if (d->line_len == 0)	/* RFC 5322 2.1: body follows */
				d->in_header = false;
			else
				d->header_len += d->line_len + 2;
		}
	}
	d->line_len = 0;
	d->hdr_match = 0;
}

/* The transition function: one byte in state d->state. */
static enum smtp_data_state
smtp_data_step(struct smtp_data *d, unsigned char c, struct buf *out)
{
	switch ((enum smtp_data_state)d->state) {
	case SMTP_DS_BOL:
		if (c == '.')
			return SMTP_DS_DOT;
		break;
	case SMTP_DS_DOT:
		if (c == '\r')
			return SMTP_DS_DOT_CR;
		/* RFC 5321 4.5.2: drop the leading dot; c starts the line. */
		break;
	case SMTP_DS_DOT_CR:
		if (c == '\n')
			return SMTP_DS_DONE;
		smtp_data_fail(d, SMTP_DATA_BARE_CR);	/* "\r\n.\r" + x */
		if (c == '\r')
			return SMTP_DS_CR;
		break;
	case SMTP_DS_CR:
		if (c == '\n') {
			smtp_data_eol(d, out);
			return SMTP_DS_BOL;
		}
		smtp_data_fail(d, SMTP_DATA_BARE_CR);
		if (c == '\r')
			return SMTP_DS_CR;
		break;
	case SMTP_DS_TEXT:
		break;
	case SMTP_DS_DONE:
		return SMTP_DS_DONE;
	}
	/* c is a byte inside a line. */
	switch (c) {
	case '\r':
		return SMTP_DS_CR;
	case '\n':
		/* Bare LF: an error, and not a line end (smuggling). */
		smtp_data_fail(d, SMTP_DATA_BARE_LF);
		return SMTP_DS_TEXT;
	case '\0':
		smtp_data_fail(d, SMTP_DATA_NUL);
		return SMTP_DS_TEXT;
	default:
		smtp_data_text(d, (const char *)&c, 1, out);
		return SMTP_DS_TEXT;
	}
}

/*
 * Length of the run of ordinary octets at s: up to the next CR, LF or NUL,
 * and at most one octet past what the line limit allows (so an endless
 * line is caught without scanning it).  After an error only CR matters:
 * LF and NUL inside a line leave the state at TEXT.
 */
static size_t
smtp_data_run(const struct smtp_data *d, const char *s, size_t len)
{
	const char *e;
	size_t room;

	if (d->err != SMTP_DATA_OK) {
		e = memchr(s, '\r', len);
		return e ? (size_t)(e - s) : len;
	}
	if (d->max_line != 0) {
		room = d->max_line > d->line_len + 2 ?
		    d->max_line - d->line_len - 2 : 0;
		if (len > room + 1)
			len = room + 1;
	}
	if ((e = memchr(s, '\r', len)) != NULL)
		len = (size_t)(e - s);
	if ((e = memchr(s, '\n', len)) != NULL)
		len = (size_t)(e - s);
	if ((e = memchr(s, '\0', len)) != NULL)
		len = (size_t)(e - s);
	return len;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
    struct buf *out, bool *done)
{
	size_t i = 0, n;

	while (i < len && d->state != SMTP_DS_DONE) {
		/*
		 * Fast path: in TEXT, in DOT (the dot is dropped), and in BOL
		 * unless the line starts with '.', a run of ordinary octets
		 * is line content and leads to TEXT.
		 */
		if (d->state == SMTP_DS_TEXT || d->state == SMTP_DS_DOT ||
		    (d->state == SMTP_DS_BOL && in[i] != '.')) {
			n = smtp_data_run(d, in + i, len - i);
			if (n > 0) {
				smtp_data_text(d, in + i, n, out);
				d->state = SMTP_DS_TEXT;
				i += n;
				continue;
			}
		}
		d->state = smtp_data_step(d, (unsigned char)in[i], out);
		i++;
	}
	*done = d->state == SMTP_DS_DONE;
	return i;
}

enum smtp_data_err
smtp_data_error(const struct smtp_data *d)
{
	return d->err;
}

const char *
smtp_data_reply(enum smtp_data_err err)
{
	switch (err) {
	case SMTP_DATA_OK:
		return "250 2.0.0 OK";
	case SMTP_DATA_BARE_LF:
		return "554 5.6.0 Message contains bare LF; lines must end "
		    "with CRLF (RFC 5321 2.3.8)";
	case SMTP_DATA_BARE_CR:
		return "554 5.6.0 Message contains bare CR; lines must end "
		    "with CRLF (RFC 5321 2.3.8)";
	case SMTP_DATA_NUL:
		return "554 5.6.0 Message contains NUL bytes";
	case SMTP_DATA_LINE_TOO_LONG:
		return "552 5.6.0 Message has a line longer than permitted "
		    "(RFC 5321 4.5.3.1.6)";
	case SMTP_DATA_HEADER_TOO_BIG:
		return "552 5.3.4 Message header section too large";
	case SMTP_DATA_TOO_MANY_HOPS:
		return "554 5.4.6 Too many Received headers: routing loop";
	case SMTP_DATA_TOO_BIG:
		return "552 5.3.4 Message size exceeds fixed limit";
	case SMTP_DATA_NOMEM:
		break;
	}
	return "451 4.3.0 Local error in processing: out of memory";
}
