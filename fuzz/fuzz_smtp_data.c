/*
 * fuzz_smtp_data - the DATA state machine against a simple reference.
 *
 * Input: 2 bytes split point, 4 bytes of limits, then the stream.  The
 * stream is fed whole, in two pieces at the split point, and byte by byte.
 * Checks:
 *   - consumed <= len; all three feedings agree (done, consumed, error,
 *     and the output while there is no error);
 *   - done exactly at the first CRLF "." CRLF of CRLF + stream;
 *   - the output never holds a bare CR, bare LF or NUL, is a prefix of the
 *     reference message, and stays within max_size;
 *   - when done, the error is OK exactly when the reference finds no
 *     violation, and otherwise is one of the violations it finds; when OK
 *     the output is the reference message exactly.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_common.h"
#include "smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed {
	struct smtp_data d;
	struct buf out;
	size_t	consumed;
	bool	done;
};

struct limits {
	size_t	line, header, size;
	unsigned received;
};

static void
feed_run(struct feed *f, const struct limits *l, const char *in, size_t len,
    size_t step, size_t first)
{
	size_t pos = 0, n, chunk;

	smtp_data_init(&f->d, l->line, l->header, l->size, l->received);
	buf_init(&f->out, 0);
	f->consumed = 0;
	f->done = false;
	while (pos < len && !f->done) {
		chunk = pos == 0 && first > 0 ? first : step;
		if (chunk > len - pos)
			chunk = len - pos;
		n = smtp_data_feed(&f->d, in + pos, chunk, &f->out, &f->done);
		FUZZ_CHECK(n <= chunk);
		FUZZ_CHECK(f->done || n == chunk);
		f->consumed += n;
		pos += chunk;
	}
	/* Once done, nothing more is taken. */
	if (f->done)
		FUZZ_CHECK(smtp_data_feed(&f->d, "x", 1, &f->out,
		    &f->done) == 0 && f->done);
}

static void
check_clean_output(const struct feed *f, const struct limits *l)
{
	const char *p = f->out.data;
	size_t i, n = f->out.len;

	for (i = 0; i < n; i++) {
		FUZZ_CHECK(p[i] != '\0');
		if (p[i] == '\r')
			FUZZ_CHECK(i + 1 < n && p[i + 1] == '\n');
		if (p[i] == '\n')
			FUZZ_CHECK(i > 0 && p[i - 1] == '\r');
	}
	if (l->size)
		FUZZ_CHECK(n <= l->size);
	if (f->d.err == SMTP_DATA_OK)
		FUZZ_CHECK(f->d.size == n);
}

static bool
is_received(const char *s, size_t n)
{
	static const char name[] = "received";
	size_t i;

	if (n < 9)
		return false;
	for (i = 0; i < 8; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != name[i])
			return false;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == ':';
}

#define V(e)	(1u << (e))

/* memcmp that allows the NULL data of an empty buf. */
static bool
same(const char *a, const char *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

/*
 * Reference over the message part p[0..n) (the stream up to, not
 * including, the final ".CRLF").  Returns the set of violations the
 * machine may report first: the kind of the first bad octet (NUL, bare CR,
 * bare LF), and every limit passed before it.  When there is no bad octet
 * the unstuffed message is written to ref.
 */
static unsigned
reference(const char *p, size_t n, const struct limits *l, struct buf *ref)
{
	unsigned v = 0, received = 0;
	size_t i, b, start, len, header = 0, size = 0;
	bool in_header = true, partial;
	const char *line;

	for (b = 0; b < n; b++) {
		if (p[b] == '\0') {
			v |= V(SMTP_DATA_NUL);
			break;
		}
		if (p[b] == '\r' && (b + 1 >= n || p[b + 1] != '\n')) {
			v |= V(SMTP_DATA_BARE_CR);
			break;
		}
		if (p[b] == '\n' && (b == 0 || p[b - 1] != '\r')) {
			v |= V(SMTP_DATA_BARE_LF);
			break;
		}
	}
	/* Lines before b are well formed; the one holding b is partial. */
	for (start = 0; start < n && start <= b; start = i + 2) {
		for (i = start; i < b && !(p[i] == '\r' && p[i + 1] == '\n');
		    i++)
			;
		partial = i == b && b < n;
		line = p + start;
		len = i - start;
		if (len > 0 && line[0] == '.') {
			line++;
			len--;
		}
		/*
		 * The machine checks limits as content octets arrive and at
		 * the CRLF; content + CRLF must fit in max_line either way.
		 */
		if (partial && len == 0)
			break;
		if (l->line && len + 2 > l->line)
			v |= V(SMTP_DATA_LINE_TOO_LONG);
		if (in_header) {
			if (len == 0)
				in_header = false;
			else {
				header += len + (partial ? 0 : 2);
				if (is_received(line, len))
					received++;
			}
		}
		size += len + (partial ? 0 : 2);
		if (l->header && header > l->header)
			v |= V(SMTP_DATA_HEADER_TOO_BIG);
		if (l->received && received > l->received)
			v |= V(SMTP_DATA_TOO_MANY_HOPS);
		if (l->size && size > l->size)
			v |= V(SMTP_DATA_TOO_BIG);
		if (partial)
			break;
		if (b == n) {
			FUZZ_CHECK(buf_append(ref, line, len) == 0);
			FUZZ_CHECK(buf_append(ref, "\r\n", 2) == 0);
		}
	}
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct limits l;
	struct feed whole, split, bytes;
	struct buf ref;
	const char *in, *term;
	char *pre;
	size_t len, cut, end;
	unsigned v;

	if (size < 6)
		return 0;
	cut = (size_t)data[0] << 8 | data[1];
	/* Small limits so that every one of them is reached; 0 = none. */
	l.line = data[2] & 0x80 ? 0 : (size_t)(data[2] & 0x7f);
	l.header = data[3] & 0x80 ? 0 : (size_t)(data[3] & 0x7f) * 4;
	l.size = data[4] & 0x80 ? 0 : (size_t)(data[4] & 0x7f) * 8;
	l.received = data[5] & 0x0f;
	in = (const char *)data + 6;
	len = size - 6;
	if (len > 0)
		cut %= len + 1;
	else
		cut = 0;

	feed_run(&whole, &l, in, len, len ? len : 1, 0);
	feed_run(&split, &l, in, len, len ? len : 1, cut);
	feed_run(&bytes, &l, in, len, 1, 0);
	FUZZ_CHECK(whole.consumed <= len);
	FUZZ_CHECK(split.done == whole.done && bytes.done == whole.done);
	FUZZ_CHECK(split.consumed == whole.consumed &&
	    bytes.consumed == whole.consumed);
	FUZZ_CHECK(split.d.err == whole.d.err && bytes.d.err == whole.d.err);
	if (whole.d.err == SMTP_DATA_OK) {
		FUZZ_CHECK(split.out.len == whole.out.len &&
		    bytes.out.len == whole.out.len);
		FUZZ_CHECK(same(split.out.data, whole.out.data, whole.out.len));
		FUZZ_CHECK(same(bytes.out.data, whole.out.data, whole.out.len));
		FUZZ_CHECK(split.d.eightbit == whole.d.eightbit &&
		    bytes.d.eightbit == whole.d.eightbit);
		FUZZ_CHECK(split.d.received == whole.d.received &&
		    bytes.d.received == whole.d.received);
	}
	check_clean_output(&whole, &l);
	check_clean_output(&split, &l);
	check_clean_output(&bytes, &l);
	if (!whole.done)
		FUZZ_CHECK(whole.consumed == len);

	/* Where must it end?  First CRLF "." CRLF in CRLF + stream. */
	pre = malloc(len + 2);
	FUZZ_CHECK(pre != NULL);
	pre[0] = '\r';
	pre[1] = '\n';
	if (len)
		memcpy(pre + 2, in, len);
	term = memmem(pre, len + 2, "\r\n.\r\n", 5);
	FUZZ_CHECK((term != NULL) == whole.done);
	if (term != NULL) {
		end = (size_t)(term - pre) + 5 - 2;	/* in the stream */
		FUZZ_CHECK(whole.consumed == end);

		/* The message: the stream before ".CRLF". */
		buf_init(&ref, 0);
		v = reference(in, end - 3, &l, &ref);
		if (v == 0) {
			FUZZ_CHECK(whole.d.err == SMTP_DATA_OK);
			FUZZ_CHECK(whole.out.len == ref.len);
			FUZZ_CHECK(same(whole.out.data, ref.data, ref.len));
		} else {
			FUZZ_CHECK(whole.d.err != SMTP_DATA_OK);
			FUZZ_CHECK(v & V(whole.d.err));
		}
		/* Before any error the output is the message's prefix. */
		if (v == 0 || (v & (V(SMTP_DATA_NUL) | V(SMTP_DATA_BARE_CR) |
		    V(SMTP_DATA_BARE_LF))) == 0)
			FUZZ_CHECK(whole.out.len <= ref.len &&
			    same(whole.out.data, ref.data, whole.out.len));
		fuzz_check_reply(smtp_data_reply(whole.d.err));
		buf_free(&ref);
	}
	free(pre);
	buf_free(&whole.out);
	buf_free(&split.out);
	buf_free(&bytes.out);
	return 0;
}
