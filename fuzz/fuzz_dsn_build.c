/*
 * fuzz_dsn_build - delivery status notifications built from hostile text.
 *
 * What a remote server says (reply text, host name) and what the original
 * sender wrote (the message) end up inside the DSN.  The input is split
 * at NUL bytes into: reply text, remote host, recipient address, ORCPT,
 * original message; the first byte picks action, RET, SMTPUTF8 and BODY.
 * Properties checked on the output:
 *   - every line ends in CRLF; no bare CR or LF, no NUL; no line longer
 *     than 998 octets (RFC 5322 2.1.1);
 *   - the top-level header section is 7-bit unless a UTF-8 address is
 *     involved, and contains no field from the remote text;
 *   - the closing boundary ends the message exactly once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
next_piece(const char **p, const char *end, char *store, size_t storesz)
{
	const char *s = *p, *z;
	size_t n;

	if (s >= end)
		return "";
	z = memchr(s, '\0', (size_t)(end - s));
	n = z ? (size_t)(z - s) : (size_t)(end - s);
	if (n >= storesz)
		n = storesz - 1;
	memcpy(store, s, n);
	store[n] = '\0';
	*p = z ? z + 1 : end;
	return store;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char diag[4096], host[512], addr[600], orcpt[600];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	struct dsn_report r;
	struct dsn_rcpt rc;
	struct buf out;
	size_t i, col = 0, hdr_end;
	char close[128];
	const char *bnd;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	memset(&r, 0, sizeof(r));
	memset(&rc, 0, sizeof(rc));
	rc.diag = next_piece(&p, end, diag, sizeof(diag));
	rc.remote_mta = next_piece(&p, end, host, sizeof(host));
	rc.addr = next_piece(&p, end, addr, sizeof(addr));
	rc.orcpt = next_piece(&p, end, orcpt, sizeof(orcpt));
	if (rc.addr[0] == '\0')
		rc.addr = "bob@example.test";
	rc.action = (enum dsn_action)(sel % 5);
	rc.reply = (sel & 8) ? 550 : 0;
	rc.status = (sel & 16) ? "5.1.1" : "";
	rc.last_attempt = 1710334700;
	rc.will_retry_until = 1710600000;
	r.hostname = "relay.example.net";
	r.sender = "alice@example.org";
	r.queue_id = "65f1a2b30a1c4e9d";
	r.envid = (sel & 32) ? rc.diag : NULL;
	r.arrival = 1710334643;
	r.now = 1710334800;
	r.smtputf8 = (sel & 64) != 0;
	r.ret = (sel & 128) ? SMTP_RET_FULL : SMTP_RET_HDRS;
	r.body = (sel & 4) ? SMTP_BODY_BINARYMIME : SMTP_BODY_8BITMIME;
	r.msg = p < end ? p : NULL;
	r.msg_len = p < end ? (size_t)(end - p) : 0;
	r.rcpt = &rc;
	r.nrcpt = 1;

	buf_init(&out, 0);
	if (dsn_build(&r, &out, NULL) != DSN_OK)
		abort();	/* valid sender and host: must build */
	if (out.len < 2 || memcmp(out.data + out.len - 2, "\r\n", 2) != 0)
		abort();
	for (i = 0; i < out.len; i++) {
		char c = out.data[i];

		if (c == '\r') {
			if (i + 1 >= out.len || out.data[i + 1] != '\n')
				abort();
			i++;
			col = 0;
			continue;
		}
		if (c == '\n' || c == '\0' || ++col > 998)
			abort();
	}
	/* The top header section: our fields only. */
	bnd = memmem(out.data, out.len, "\r\n\r\n", 4);
	if (bnd == NULL)
		abort();
	hdr_end = (size_t)(bnd - out.data);
	for (i = 0; i < hdr_end; i++)
		if ((unsigned char)out.data[i] >= 0x80)
			abort();	/* sender and host are ASCII here */
	/* Find the boundary parameter and check the close delimiter. */
	bnd = memmem(out.data, hdr_end, "boundary=\"", 10);
	if (bnd == NULL)
		abort();
	bnd += 10;
	{
		const char *q = memchr(bnd, '"', (size_t)(out.data + hdr_end - bnd));
		size_t bl, cl;
		int n;

		if (q == NULL || (bl = (size_t)(q - bnd)) > 70)
			abort();
		n = snprintf(close, sizeof(close), "--%.*s--\r\n", (int)bl, bnd);
		if (n < 0 || (size_t)n >= sizeof(close))
			abort();
		cl = (size_t)n;
		if (out.len < cl || memcmp(out.data + out.len - cl, close, cl))
			abort();
		if (memmem(out.data, out.len - cl, close, cl - 2) != NULL)
			abort();
	}
	buf_free(&out);
	return 0;
}
