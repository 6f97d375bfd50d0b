/*
 * smtp_client - the outbound SMTP session state machine.  See smtp_client.h.
 *
 * Shape: the session has one wire state (enum smtpc_state: what has been
 * sent and what answer is awaited) and one transition function,
 * smtpc_step(), fed by events: connected, reply, timeout, connection lost,
 * TLS up, output drained, and "kick" (the API queued something).
 *
 * After the greeting and EHLO, work flows through a FIFO of commands
 * (struct smtpc_cmd): API calls append, smtpc_pump() writes what may be
 * written (RSET/MAIL/RCPT back to back when PIPELINING is offered, RFC 2920
 * 3.1; DATA and QUIT only when nothing else is awaited), and replies pop the
 * head, whose callback runs.  A command answered locally (SIZE, 8BITMIME,
 * SMTPUTF8, failed MAIL) stays in the FIFO until it reaches the head, so
 * every caller sees answers in the order of its calls.
 *
 * Memory safety rule (Redis' freeClientAsync): the session is never freed
 * while one of its callbacks is on the stack.  Every libevent entry point
 * counts depth; smtp_client_free() inside a callback only marks the session,
 * and the outermost entry point frees it on the way out.
 */
#include "smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"

#define SMTPC_BODY_CHUNK	65536
#define SMTPC_BODY_HIGH		(256 * 1024)
#define SMTPC_CMD_MAX		2048	/* our own command lines */

enum smtpc_state {
	SMTPC_S_INIT,		/* new, or connect() queued */
	SMTPC_S_CONNECTING,	/* TCP connect in progress */
	SMTPC_S_GREETING,	/* awaiting 220 */
	SMTPC_S_EHLO,		/* EHLO sent */
	SMTPC_S_HELO,		/* HELO sent (EHLO got a 5xx) */
	SMTPC_S_STARTTLS,	/* STARTTLS sent */
	SMTPC_S_HANDSHAKE,	/* TLS handshake running */
	SMTPC_S_IDLE,		/* ready, no transaction on the wire */
	SMTPC_S_TX,		/* MAIL sent: transaction open on the wire */
	SMTPC_S_DATA,		/* DATA sent, awaiting 354 */
	SMTPC_S_BODY,		/* sending the message / awaiting its reply */
	SMTPC_S_QUIT,		/* QUIT sent */
	SMTPC_S_CLOSED,		/* over; only free is left */
};

enum smtpc_event {
	SMTPC_E_KICK,		/* API call queued work / connect requested */
	SMTPC_E_CONNECTED,
	SMTPC_E_REPLY,
	SMTPC_E_TIMEOUT,
	SMTPC_E_LOST,		/* EOF or socket error */
	SMTPC_E_TLS_UP,
	SMTPC_E_DRAINED,	/* output buffer written out */
};

enum smtpc_cmd_kind { SMTPC_C_RSET, SMTPC_C_MAIL, SMTPC_C_RCPT, SMTPC_C_DATA,
	SMTPC_C_QUIT };

/* Per-transaction facts shared by its commands (refcounted). */
struct smtpc_tx {
	int	refs;
	bool	mail_failed;
	struct smtp_client_reply mail_reply;
	size_t	naccepted;
};

struct smtpc_cmd {
	struct smtpc_cmd *next;
	enum smtpc_cmd_kind kind;
	bool	sent;
	bool	internal;	/* ours (RSET before MAIL, idle QUIT) */
	struct smtp_client_reply *local;	/* answered without sending */
	char	*line;		/* command with CRLF */
	size_t	linelen;
	const char *msg;	/* DATA: the caller's message */
	size_t	msglen;
	struct smtpc_tx *tx;
	smtp_client_reply_cb cb;
	void	*arg;
};

struct smtp_client {
	struct event_base *base;
	struct smtp_client_opts opts;
	char	helo[256];
	struct smtp_client_cbs cbs;
	void	*arg;

	enum smtpc_state state;
	struct bufferevent *bev;
	SSL	*ssl;		/* owned by bev once the filter exists */
	struct event *timer;
	struct event *kick;
	int	depth;
	bool	dying;
	bool	was_ready;	/* reached IDLE once: closed cb, not ready */

	/* destination */
	char	host[256];
	struct sockaddr_storage addrs[SMTPC_MAX_ADDRS];
	size_t	naddrs, ai;
	unsigned port;
	char	addr[INET6_ADDRSTRLEN];
	bool	tls_fallback;	/* retrying this address without TLS */
	struct smtp_client_reply fail;	/* last failure (connect phase) */

	/* server facts from EHLO */
	unsigned ext;
	size_t	size_limit;
	bool	tls_active;

	/* reply assembly */
	struct buf rbuf;
	int	rcode;
	unsigned rlines;

	/* command FIFO */
	struct smtpc_cmd *qhead, *qtail;
	unsigned nsent;		/* commands awaiting a reply */
	struct smtpc_tx *api_tx;/* transaction open at the API level */
	bool	api_data;	/* DATA queued for api_tx */
	bool	wire_dirty;	/* a MAIL went out since the last RSET */
	bool	quit_queued;
	unsigned ntx;
	bool	closing;	/* connection dropped, smtpc_close() pending */
	bool	close_clean;
	struct smtp_client_reply close_why;

	/* body streaming */
	const char *body;
	size_t	bodylen, bodyoff;
	bool	bol, body_final, body_flushed;
	struct buf chunk;
};

static void smtpc_step(struct smtp_client *c, enum smtpc_event ev,
	    const struct smtp_client_reply *r);

/* --- small helpers ------------------------------------------------------ */

static unsigned
smtpc_ms(unsigned v, unsigned def)
{
	return v ? v : def;
}

static void
smtpc_arm(struct smtp_client *c, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
	    1000 };

	evtimer_add(c->timer, &tv);
}

static void
smtpc_kick(struct smtp_client *c)
{
	event_active(c->kick, 0, 0);
}

static void smtpc_text(struct smtp_client_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fill r->text; a longer text is cut (it is for humans). */
static void
smtpc_text(struct smtp_client_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		r->text[0] = '\0';
}

static void
smtpc_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A result made here, stamped with the current peer. */
static void
smtpc_reply_init(struct smtp_client *c, struct smtp_client_reply *r,
    enum smtp_client_kind kind, const char *enh, const char *cmd)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	smtpc_copy(r->enh, sizeof(r->enh), enh);
	smtpc_copy(r->cmd, sizeof(r->cmd), cmd);
	smtpc_copy(r->host, sizeof(r->host), c->host);
	smtpc_copy(r->addr, sizeof(r->addr), c->addr);
	r->port = c->port;
}

enum smtp_client_class
smtp_client_reply_class(const struct smtp_client_reply *r)
{
	switch (r->kind) {
	case SMTPC_REPLY:
		if (r->code >= 200 && r->code < 400)
			return SMTPC_OK;
		return r->code >= 500 ? SMTPC_PERM : SMTPC_TEMP;
	case SMTPC_LOCAL:
		if (r->enh[0] == '5')
			return SMTPC_PERM;
		return r->enh[0] == '2' ? SMTPC_OK : SMTPC_TEMP;
	default:
		return SMTPC_TEMP;
	}
}

static bool
smtpc_is_2xx(const struct smtp_client_reply *r)
{
	return r->kind == SMTPC_REPLY && r->code >= 200 && r->code < 300;
}

/* No control bytes, no space, no angle brackets: nothing to inject. */
static bool
smtpc_safe(const char *s, bool allow_empty)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || (!allow_empty && *s == '\0'))
		return false;
	for (; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

static bool
smtpc_non_ascii(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; p && *p; p++)
		if (*p >= 0x80)
			return true;
	return false;
}

static bool
smtpc_8bit(const char *msg, size_t len)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] >= 0x80)
			return true;
	return false;
}

/* What the session was doing, for "while ..." texts and reply.cmd. */
static const char *
smtpc_phase(const struct smtp_client *c)
{
	switch (c->state) {
	case SMTPC_S_INIT:
	case SMTPC_S_CONNECTING:	return "connect";
	case SMTPC_S_GREETING:		return "greeting";
	case SMTPC_S_EHLO:		return "EHLO";
	case SMTPC_S_HELO:		return "HELO";
	case SMTPC_S_STARTTLS:		return "STARTTLS";
	case SMTPC_S_HANDSHAKE:		return "TLS handshake";
	case SMTPC_S_DATA:		return "DATA";
	case SMTPC_S_BODY:		return "end of DATA";
	case SMTPC_S_QUIT:		return "QUIT";
	case SMTPC_S_IDLE:
	case SMTPC_S_TX:
		if (c->qhead != NULL && c->qhead->sent)
			switch (c->qhead->kind) {
			case SMTPC_C_RSET:	return "RSET";
			case SMTPC_C_MAIL:	return "MAIL FROM";
			case SMTPC_C_RCPT:	return "RCPT TO";
			case SMTPC_C_DATA:	return "DATA";
			case SMTPC_C_QUIT:	return "QUIT";
			}
		return "idle";
	case SMTPC_S_CLOSED:		return "closed";
	}
	return "?";
}

/* --- connection --------------------------------------------------------- */

static void
smtpc_drop_conn(struct smtp_client *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);	/* frees the SSL and the fd */
		c->bev = NULL;
	} else if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls_active = false;
	evtimer_del(c->timer);
	buf_reset(&c->rbuf);
	c->rlines = 0;
}

static void smtpc_read_cb(struct bufferevent *bev, void *arg);
static void smtpc_write_cb(struct bufferevent *bev, void *arg);
static void smtpc_event_cb(struct bufferevent *bev, short what, void *arg);

static void
smtpc_maybe_destroy(struct smtp_client *c);

static void
smtpc_sa_text(struct smtp_client *c, const struct sockaddr_storage *ss)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, c->addr, sizeof(c->addr)) == NULL)
		smtpc_copy(c->addr, sizeof(c->addr), "?");
}

/* Start connecting to addrs[ai], skipping addresses that fail at once. */
static void
smtpc_try_next(struct smtp_client *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int err;

	while (c->ai < c->naddrs) {
		ss = c->addrs[c->ai];
		if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)c->port);
			len = sizeof(struct sockaddr_in6);
		} else {
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)c->port);
			len = sizeof(struct sockaddr_in);
		}
		smtpc_sa_text(c, &ss);
		c->ext = 0;
		c->size_limit = 0;
		c->bev = bufferevent_socket_new(c->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			err = ENOMEM;
			goto failed;
		}
		bufferevent_setcb(c->bev, smtpc_read_cb, smtpc_write_cb,
		    smtpc_event_cb, c);
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
		    (int)len) != 0) {
			err = EVUTIL_SOCKET_ERROR();
			goto failed;
		}
		c->state = SMTPC_S_CONNECTING;
		smtpc_arm(c, smtpc_ms(c->opts.timeouts.connect, 30000));
		return;
failed:
		smtpc_drop_conn(c);
		smtpc_reply_init(c, &c->fail, SMTPC_CONNECT, "4.4.1", "connect");
		smtpc_text(&c->fail, "connect to %s[%s]:%u: %s", c->host,
		    c->addr, c->port, evutil_socket_error_to_string(err));
		c->ai++;
		c->tls_fallback = false;
	}
	/* Every address failed: the last failure is the answer. */
	c->state = SMTPC_S_CLOSED;
	if (!c->dying && c->cbs.ready)
		c->cbs.ready(c, &c->fail, c->arg);
}

/*
 * The current address failed before the session was ready: remember why,
 * and go on with the next address (or this one again without TLS when an
 * opportunistic, unverified handshake failed: RFC 3207 leaves it to the
 * client, and refusing mail over a broken TLS stack helps nobody).
 */
static void
smtpc_addr_failed(struct smtp_client *c, const struct smtp_client_reply *r)
{
	bool retry_plain = r->kind == SMTPC_TLS && c->state ==
	    SMTPC_S_HANDSHAKE && c->opts.tls == OUTBOUND_TLS_OPPORTUNISTIC &&
	    !c->opts.tls_verify && !c->tls_fallback;

	c->fail = *r;
	smtpc_drop_conn(c);
	if (retry_plain)
		c->tls_fallback = true;
	else {
		c->ai++;
		c->tls_fallback = false;
	}
	smtpc_try_next(c);
}

static void
smtpc_send_line(struct smtp_client *c, const char *line, size_t len)
{
	if (c->bev == NULL)
		return;
	log_debug("smtp client %s[%s]: >>> %.*s", c->host, c->addr,
	    (int)(len > 2 ? len - 2 : len), line);
	bufferevent_write(c->bev, line, len);
}

static void
smtpc_send_ehlo(struct smtp_client *c, bool helo)
{
	char line[300];
	int n = snprintf(line, sizeof(line), "%s %s\r\n", helo ? "HELO" :
	    "EHLO", c->helo);

	if (n < 0 || (size_t)n >= sizeof(line))
		return;	/* cannot happen: helo is < 256 bytes */
	c->ext = 0;
	c->size_limit = 0;
	smtpc_send_line(c, line, (size_t)n);
	c->state = helo ? SMTPC_S_HELO : SMTPC_S_EHLO;
	smtpc_arm(c, smtpc_ms(c->opts.timeouts.command, 300000));
}

/*
 * Extensions from an EHLO reply (lines after the first, RFC 5321 4.1.1.1),
 * given as the reply text with lines joined by "\n".
 */
static void
smtpc_ehlo_parse(const char *t, size_t len, unsigned *ext, size_t *size_limit)
{
	const char *p = t, *end = t + len;
	const char *nl, *kw;
	size_t kwlen;
	bool first = true;

	*ext = SMTPC_EXT_ESMTP;
	*size_limit = 0;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (first) {
			first = false;
			continue;
		}
		if (nl - p < 4)
			continue;
		kw = p + 4;
		for (kwlen = 0; kw + kwlen < nl && kw[kwlen] != ' ' &&
		    kw[kwlen] != '='; kwlen++)
			;
#define KW(s)	(kwlen == sizeof(s) - 1 && strncasecmp(kw, s, kwlen) == 0)
		if (KW("PIPELINING"))
			*ext |= SMTPC_EXT_PIPELINING;
		else if (KW("8BITMIME"))
			*ext |= SMTPC_EXT_8BITMIME;
		else if (KW("SMTPUTF8"))
			*ext |= SMTPC_EXT_SMTPUTF8;
		else if (KW("DSN"))
			*ext |= SMTPC_EXT_DSN;
		else if (KW("STARTTLS"))
			*ext |= SMTPC_EXT_STARTTLS;
		else if (KW("ENHANCEDSTATUSCODES"))
			*ext |= SMTPC_EXT_ENHANCED;
		else if (KW("SIZE")) {
			/* RFC 1870 4: optional limit, 0 = none. */
			unsigned long long v = 0;
			const char *q = kw + kwlen;

			*ext |= SMTPC_EXT_SIZE;
			while (q < nl && *q == ' ')
				q++;
			for (; q < nl && *q >= '0' && *q <= '9'; q++) {
				if (v > (SIZE_MAX - 9) / 10) {
					v = 0;	/* absurd: treat as no limit */
					break;
				}
				v = v * 10 + (unsigned)(*q - '0');
			}
			*size_limit = (size_t)v;
		}
#undef KW
		if (nl == end)
			break;
	}
}

/* Code, text and enhanced code of a complete reply (lines joined "\n"). */
static void
smtpc_reply_fill(struct smtp_client_reply *r, int code, const char *t,
    size_t len)
{
	size_t n, i;

	r->code = code;
	n = len < sizeof(r->text) - 1 ? len : sizeof(r->text) - 1;
	memcpy(r->text, t, n);
	r->text[n] = '\0';
	r->enh[0] = '\0';
	/*
	 * RFC 3463 / RFC 2034: "class.subject.detail" right after the code of
	 * the first line, its class agreeing with the reply's; subject and
	 * detail of 1 to 3 digits.
	 */
	if (len > 5 && t[4] == code / 100 + '0' && t[5] == '.') {
		int dots = 0, digits = 0;

		for (i = 4; i < len && i - 4 < sizeof(r->enh) - 1; i++) {
			if (t[i] >= '0' && t[i] <= '9') {
				if (++digits > 3)
					break;
			} else if (t[i] == '.' && digits > 0 && dots < 2) {
				dots++;
				digits = 0;
			} else
				break;
		}
		if (dots == 2 && digits > 0 && digits <= 3 && (i == len ||
		    t[i] == ' ' || t[i] == '\n')) {
			memcpy(r->enh, t + 4, i - 4);
			r->enh[i - 4] = '\0';
		}
	}
}

/*
 * Add one reply line (without its line end) to a reply being assembled in
 * b (lines joined by "\n", capped by b's max).  RFC 5321 4.2: "ddd",
 * "ddd text" or "ddd-text", the same code on every line.  Returns 1 when
 * the reply is complete, 0 when more lines follow, or a negative error:
 * -1 malformed, -2 inconsistent codes, -3 too long.
 */
static int
smtpc_reply_add_line(struct buf *b, int *code, unsigned *nlines,
    const char *line, size_t len)
{
	int c;

	if (len > SMTPC_LINE_MAX)
		return -3;
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		return -1;
	c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (*nlines > 0 && c != *code)
		return -2;
	*code = c;
	if ((*nlines > 0 && buf_append_byte(b, '\n') != 0) ||
	    buf_append(b, line, len) != 0)
		return -3;
	(*nlines)++;
	return len > 3 && line[3] == '-' ? 0 : 1;
}

int
smtp_client_reply_parse(const char *in, size_t len,
    struct smtp_client_reply *r, unsigned *ext, size_t *size_limit)
{
	struct buf b;
	const char *p = in, *end = in + len, *nl;
	size_t ll;
	int code = 0, rc = 0;
	unsigned nlines = 0;

	memset(r, 0, sizeof(*r));
	r->kind = SMTPC_REPLY;
	*ext = 0;
	*size_limit = 0;
	buf_init(&b, SMTPC_REPLY_MAX);
	while (p < end) {
		/* Lines end at LF; a CR before it is dropped (as libevent's
		 * EVBUFFER_EOL_CRLF does for the session). */
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			rc = (size_t)(end - p) > SMTPC_LINE_MAX ? -1 : 0;
			goto out;
		}
		ll = (size_t)(nl - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		rc = smtpc_reply_add_line(&b, &code, &nlines, p, ll);
		p = nl + 1;
		if (rc < 0) {
			rc = -1;
			goto out;
		}
		if (rc == 1) {
			smtpc_reply_fill(r, code, b.data, b.len);
			if (code / 100 == 2)
				smtpc_ehlo_parse(b.data, b.len, ext,
				    size_limit);
			rc = (int)(p - in);
			goto out;
		}
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static void
smtpc_protocol_error(struct smtp_client *c, const char *what)
{
	struct smtp_client_reply r;

	smtpc_reply_init(c, &r, SMTPC_LOST, "4.5.0", smtpc_phase(c));
	smtpc_text(&r, "%s from %s[%s] while waiting for %s", what, c->host,
	    c->addr, smtpc_phase(c));
	smtpc_step(c, SMTPC_E_LOST, &r);
}

/* Parse every complete reply in the input; one SMTPC_E_REPLY each. */
static void
smtpc_read_replies(struct smtp_client *c)
{
	char line[SMTPC_LINE_MAX + 1];
	struct evbuffer *in;
	struct evbuffer_ptr p;
	size_t eol, len;
	int rc;
	struct smtp_client_reply r;

	while (c->bev != NULL && !c->dying && c->state != SMTPC_S_HANDSHAKE &&
	    c->state != SMTPC_S_CLOSED) {
		in = bufferevent_get_input(c->bev);
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > SMTPC_LINE_MAX)
				smtpc_protocol_error(c, "reply line too long");
			return;
		}
		if ((size_t)p.pos > SMTPC_LINE_MAX) {
			smtpc_protocol_error(c, "reply line too long");
			return;
		}
		len = (size_t)p.pos;
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol);
		line[len] = '\0';
		rc = smtpc_reply_add_line(&c->rbuf, &c->rcode, &c->rlines,
		    line, len);
		if (rc < 0) {
			smtpc_protocol_error(c, rc == -1 ? "malformed reply" :
			    rc == -2 ? "inconsistent multi-line reply" :
			    "reply too long");
			return;
		}
		if (rc == 0)
			continue;
		log_debug("smtp client %s[%s]: <<< %.*s", c->host, c->addr,
		    (int)(c->rbuf.len > 200 ? 200 : c->rbuf.len), c->rbuf.data);
		smtpc_reply_init(c, &r, SMTPC_REPLY, "", smtpc_phase(c));
		smtpc_reply_fill(&r, c->rcode, c->rbuf.data, c->rbuf.len);
		if (c->state == SMTPC_S_EHLO && smtpc_is_2xx(&r))
			smtpc_ehlo_parse(c->rbuf.data, c->rbuf.len, &c->ext,
			    &c->size_limit);
		buf_reset(&c->rbuf);
		c->rlines = 0;
		smtpc_step(c, SMTPC_E_REPLY, &r);
	}
}

static int
smtpc_start_tls(struct smtp_client *c)
{
	struct bufferevent *tb;
	SSL *ssl;
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, c->host, ip) == 1 ||
	    inet_pton(AF_INET6, c->host, ip) == 1;

	if ((ssl = SSL_new(c->opts.ssl_ctx)) == NULL)
		return -1;
	if (!is_ip && c->host[0] != '\0')
		SSL_set_tlsext_host_name(ssl, c->host);	/* SNI */
	if (c->opts.tls_verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (is_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    c->host) != 1)
				goto fail;
		} else if (SSL_set1_host(ssl, c->host) != 1)
			goto fail;
	} else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	tb = bufferevent_openssl_filter_new(c->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL)
		goto fail;
	/* Peers often close without close_notify; that is EOF, not error. */
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	c->bev = tb;
	c->ssl = ssl;
	bufferevent_setcb(tb, smtpc_read_cb, smtpc_write_cb, smtpc_event_cb, c);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
	c->state = SMTPC_S_HANDSHAKE;
	smtpc_arm(c, smtpc_ms(c->opts.timeouts.tls, 60000));
	return 0;
fail:
	SSL_free(ssl);
	return -1;
}

static void
smtpc_tls_error(struct smtp_client *c, struct smtp_client_reply *r)
{
	char e[256] = "handshake failed";
	long vr;
	unsigned long oe;

	smtpc_reply_init(c, r, SMTPC_TLS, "4.7.5", "TLS handshake");
	if (c->ssl != NULL && (vr = SSL_get_verify_result(c->ssl)) !=
	    X509_V_OK && c->opts.tls_verify)
		smtpc_copy(e, sizeof(e), X509_verify_cert_error_string(vr));
	else if (c->bev != NULL && (oe = bufferevent_get_openssl_error(
	    c->bev)) != 0)
		ERR_error_string_n(oe, e, sizeof(e));
	smtpc_text(r, "TLS with %s[%s] failed: %s", c->host, c->addr, e);
}

/* --- the command FIFO --------------------------------------------------- */

static struct smtpc_tx *
smtpc_tx_ref(struct smtpc_tx *tx)
{
	if (tx)
		tx->refs++;
	return tx;
}

static void
smtpc_tx_unref(struct smtpc_tx *tx)
{
	if (tx && --tx->refs == 0)
		free(tx);
}

static void
smtpc_cmd_free(struct smtpc_cmd *cmd)
{
	free(cmd->line);
	free(cmd->local);
	smtpc_tx_unref(cmd->tx);
	free(cmd);
}

/* The transaction open at the API level (holds a reference), or none. */
static void
smtpc_api_tx(struct smtp_client *c, struct smtpc_tx *tx)
{
	smtpc_tx_unref(c->api_tx);
	c->api_tx = smtpc_tx_ref(tx);
	c->api_data = false;
}

static struct smtpc_cmd *
smtpc_cmd_new(struct smtp_client *c, enum smtpc_cmd_kind kind,
    struct smtpc_tx *tx, smtp_client_reply_cb cb, void *arg,
    const char *line, size_t linelen)
{
	struct smtpc_cmd *cmd = calloc(1, sizeof(*cmd));

	if (cmd == NULL)
		return NULL;
	cmd->kind = kind;
	cmd->cb = cb;
	cmd->arg = arg;
	if (line != NULL) {
		if ((cmd->line = malloc(linelen + 1)) == NULL) {
			free(cmd);
			return NULL;
		}
		memcpy(cmd->line, line, linelen);
		cmd->line[linelen] = '\0';
		cmd->linelen = linelen;
	}
	cmd->tx = smtpc_tx_ref(tx);
	if (c->qtail)
		c->qtail->next = cmd;
	else
		c->qhead = cmd;
	c->qtail = cmd;
	return cmd;
}

/* Answer cmd here instead of sending it. */
static int
smtpc_cmd_local(struct smtp_client *c, struct smtpc_cmd *cmd,
    enum smtp_client_kind kind, const char *enh, const char *cmdname,
    const char *text)
{
	if ((cmd->local = malloc(sizeof(*cmd->local))) == NULL)
		return -1;
	smtpc_reply_init(c, cmd->local, kind, enh, cmdname);
	smtpc_copy(cmd->local->text, sizeof(cmd->local->text), text);
	return 0;
}

static struct smtpc_cmd *
smtpc_pop(struct smtp_client *c)
{
	struct smtpc_cmd *cmd = c->qhead;

	if (cmd == NULL)
		return NULL;
	c->qhead = cmd->next;
	if (c->qhead == NULL)
		c->qtail = NULL;
	if (cmd->sent)
		c->nsent--;
	return cmd;
}

/* Run cmd's callback with r (unless the session is being freed). */
static void
smtpc_deliver(struct smtp_client *c, struct smtpc_cmd *cmd,
    const struct smtp_client_reply *r)
{
	if (cmd->cb != NULL && !c->dying)
		cmd->cb(c, r, cmd->arg);
	smtpc_cmd_free(cmd);
}

/*
 * MAIL was refused: RCPTs of that transaction not yet sent get MAIL's
 * reply instead of going out only to earn a 503.
 */
static void
smtpc_tx_fail_queued(struct smtp_client *c, struct smtpc_tx *tx)
{
	struct smtpc_cmd *cmd;

	for (cmd = c->qhead; cmd != NULL; cmd = cmd->next)
		if (cmd->tx == tx && cmd->kind == SMTPC_C_RCPT && !cmd->sent &&
		    cmd->local == NULL && (cmd->local = malloc(
		    sizeof(*cmd->local))) != NULL)
			*cmd->local = tx->mail_reply;
}

/* Timer for what the head of the FIFO awaits (RFC 5321 4.5.3.2). */
static void
smtpc_arm_for_head(struct smtp_client *c)
{
	const struct smtp_client_timeouts *t = &c->opts.timeouts;

	evtimer_del(c->timer);
	if (c->qhead != NULL && c->qhead->sent) {
		switch (c->qhead->kind) {
		case SMTPC_C_MAIL:
			smtpc_arm(c, smtpc_ms(t->mail, 300000));
			break;
		case SMTPC_C_RCPT:
			smtpc_arm(c, smtpc_ms(t->rcpt, 300000));
			break;
		case SMTPC_C_DATA:
			smtpc_arm(c, smtpc_ms(t->data_init, 120000));
			break;
		default:
			smtpc_arm(c, smtpc_ms(t->command, 300000));
			break;
		}
	} else if (c->qhead == NULL && c->api_tx == NULL && t->idle &&
	    (c->state == SMTPC_S_IDLE || c->state == SMTPC_S_TX))
		smtpc_arm(c, t->idle);
}

/*
 * Deliver local answers that reached the head, then write what may be
 * written.  Only in IDLE/TX (nothing else is written meanwhile).
 */
static void
smtpc_pump(struct smtp_client *c)
{
	struct smtpc_cmd *cmd;
	bool progress = true;

	while (progress && !c->dying && !c->closing && c->bev != NULL &&
	    (c->state == SMTPC_S_IDLE || c->state == SMTPC_S_TX)) {
		progress = false;
		while ((cmd = c->qhead) != NULL && cmd->local != NULL) {
			smtpc_pop(c);
			smtpc_deliver(c, cmd, cmd->local);
			if (c->dying || c->closing || (c->state !=
			    SMTPC_S_IDLE && c->state != SMTPC_S_TX))
				return;
		}
		for (cmd = c->qhead; cmd != NULL && cmd->sent; cmd = cmd->next)
			;
		for (; cmd != NULL; cmd = cmd->next) {
			if (cmd->local != NULL)
				continue;
			if (cmd->kind == SMTPC_C_RSET || cmd->kind ==
			    SMTPC_C_MAIL || cmd->kind == SMTPC_C_RCPT) {
				/* RFC 2920 3.1: these may be pipelined. */
				if (c->nsent > 0 && !(c->ext &
				    SMTPC_EXT_PIPELINING))
					break;
				cmd->sent = true;
				c->nsent++;
				smtpc_send_line(c, cmd->line, cmd->linelen);
				if (cmd->kind == SMTPC_C_MAIL)
					c->state = SMTPC_S_TX;
				else if (cmd->kind == SMTPC_C_RSET)
					c->state = SMTPC_S_IDLE;
				continue;
			}
			/* DATA and QUIT wait for every earlier answer. */
			if (c->nsent > 0)
				break;
			if (cmd->kind == SMTPC_C_DATA) {
				struct smtpc_tx *tx = cmd->tx;

				if (tx->mail_failed) {
					cmd->local = malloc(sizeof(*cmd->local));
					if (cmd->local == NULL)
						break;	/* retried next turn */
					*cmd->local = tx->mail_reply;
					progress = true;
					break;
				}
				if (tx->naccepted == 0) {
					if (smtpc_cmd_local(c, cmd, SMTPC_LOCAL,
					    "5.5.0", "DATA", "DATA not sent: "
					    "no recipient was accepted") != 0)
						break;
					progress = true;
					break;
				}
				cmd->sent = true;
				c->nsent++;
				smtpc_send_line(c, "DATA\r\n", 6);
				c->state = SMTPC_S_DATA;
				break;
			}
			/* QUIT */
			cmd->sent = true;
			c->nsent++;
			smtpc_send_line(c, "QUIT\r\n", 6);
			c->state = SMTPC_S_QUIT;
			break;
		}
	}
	if (!c->dying && !c->closing && c->state != SMTPC_S_CLOSED)
		smtpc_arm_for_head(c);
}

/* --- body --------------------------------------------------------------- */

/*
 * Queue the next part of the message: dot-stuffed (RFC 5321 4.5.2), line
 * ends made CRLF, and "." CRLF appended to the last part in the same write
 * (a lone final segment waits for a delayed ACK: NOTES.md, Haraka).
 */
static void
smtpc_body_fill(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *m = c->body;
	size_t end, j;

	while (!c->body_final && evbuffer_get_length(out) < SMTPC_BODY_HIGH) {
		buf_reset(&c->chunk);
		end = c->bodyoff + SMTPC_BODY_CHUNK;
		if (end > c->bodylen || end < c->bodyoff)
			end = c->bodylen;
		/* Worst case doubles (every byte "." or LF) plus 5. */
		if (buf_reserve(&c->chunk, 2 * (end - c->bodyoff) + 8) != 0)
			goto nomem;
		while (c->bodyoff < end) {
			if (c->bol && m[c->bodyoff] == '.')
				buf_append_byte(&c->chunk, '.');
			for (j = c->bodyoff; j < end && m[j] != '\r' &&
			    m[j] != '\n'; j++)
				;
			if (j > c->bodyoff) {
				buf_append(&c->chunk, m + c->bodyoff,
				    j - c->bodyoff);
				c->bol = false;
				c->bodyoff = j;
				continue;
			}
			/* CRLF, bare CR or bare LF: all become CRLF. */
			buf_append(&c->chunk, "\r\n", 2);
			if (m[j] == '\r' && j + 1 < c->bodylen &&
			    m[j + 1] == '\n')
				c->bodyoff = j + 2;
			else
				c->bodyoff = j + 1;
			c->bol = true;
		}
		if (c->bodyoff >= c->bodylen) {
			if (!c->bol)
				buf_append(&c->chunk, "\r\n", 2);
			buf_append(&c->chunk, ".\r\n", 3);
			c->body_final = true;
		}
		if (bufferevent_write(c->bev, c->chunk.data, c->chunk.len) != 0)
			goto nomem;
	}
	smtpc_arm(c, smtpc_ms(c->opts.timeouts.data_block, 180000));
	return;
nomem:
	{
		struct smtp_client_reply r;

		smtpc_reply_init(c, &r, SMTPC_LOST, "4.3.0", "end of DATA");
		smtpc_text(&r, "out of memory sending the message to %s[%s]",
		    c->host, c->addr);
		smtpc_step(c, SMTPC_E_LOST, &r);
	}
}

/* --- session end -------------------------------------------------------- */

/*
 * The ready session is over: drop the connection, answer everything still
 * queued with why (or, for a clean QUIT, a note), then tell the owner.
 */
static void
smtpc_close(struct smtp_client *c, const struct smtp_client_reply *why)
{
	struct smtpc_cmd *cmd;
	struct smtp_client_reply r;

	smtpc_drop_conn(c);
	c->state = SMTPC_S_CLOSED;
	smtpc_api_tx(c, NULL);
	if (why != NULL)
		r = *why;
	else {
		smtpc_reply_init(c, &r, SMTPC_LOST, "4.4.2", "QUIT");
		smtpc_text(&r, "session with %s[%s] closed", c->host, c->addr);
	}
	while ((cmd = smtpc_pop(c)) != NULL) {
		if (cmd->local != NULL)
			smtpc_deliver(c, cmd, cmd->local);
		else
			smtpc_deliver(c, cmd, &r);
	}
	if (!c->dying && c->cbs.closed)
		c->cbs.closed(c, why, c->arg);
}

/*
 * Hang up now (so nothing more is written, never a final dot) but answer
 * the queue from the loop: API calls never run callbacks synchronously.
 */
static void
smtpc_close_later(struct smtp_client *c, const struct smtp_client_reply *why)
{
	smtpc_drop_conn(c);
	c->closing = true;
	c->close_clean = why == NULL;
	if (why != NULL)
		c->close_why = *why;
	smtpc_kick(c);
}

/* --- the transition function ------------------------------------------- */

static void
smtpc_step(struct smtp_client *c, enum smtpc_event ev,
    const struct smtp_client_reply *r)
{
	struct smtp_client_reply f;
	struct smtpc_cmd *cmd;
	int cls = r ? (int)smtp_client_reply_class(r) : SMTPC_OK;

	if (c->dying)
		return;
	/* Events common to every connected state. */
	if (ev == SMTPC_E_KICK && c->closing) {
		c->closing = false;
		smtpc_close(c, c->close_clean ? NULL : &c->close_why);
		return;
	}
	if (ev == SMTPC_E_TIMEOUT && c->state != SMTPC_S_CONNECTING &&
	    !((c->state == SMTPC_S_IDLE || c->state == SMTPC_S_TX) &&
	    c->nsent == 0) &&
	    c->state != SMTPC_S_INIT && c->state != SMTPC_S_CLOSED) {
		smtpc_reply_init(c, &f, SMTPC_TIMEOUT, "4.4.2", smtpc_phase(c));
		smtpc_text(&f, "conversation with %s[%s] timed out while "
		    "waiting for the reply to %s", c->host, c->addr,
		    smtpc_phase(c));
		r = &f;
		ev = SMTPC_E_LOST;
	}
	if (ev == SMTPC_E_LOST && c->state >= SMTPC_S_CONNECTING &&
	    c->state < SMTPC_S_IDLE) {
		smtpc_addr_failed(c, r);
		return;
	}
	if (ev == SMTPC_E_LOST && c->state >= SMTPC_S_IDLE &&
	    c->state != SMTPC_S_CLOSED) {
		/* A QUIT answered by a plain close is a clean end. */
		smtpc_close(c, c->state == SMTPC_S_QUIT ? NULL : r);
		return;
	}

	switch (c->state) {
	case SMTPC_S_INIT:
		if (ev == SMTPC_E_KICK)
			smtpc_try_next(c);
		break;

	case SMTPC_S_CONNECTING:
		if (ev == SMTPC_E_CONNECTED) {
			int one = 1;
			evutil_socket_t fd = bufferevent_getfd(c->bev);

			/* Small commands must not wait for delayed ACKs. */
			if (fd >= 0)
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
			bufferevent_enable(c->bev, EV_READ | EV_WRITE);
			c->state = SMTPC_S_GREETING;
			smtpc_arm(c, smtpc_ms(c->opts.timeouts.greeting,
			    300000));
		} else if (ev == SMTPC_E_TIMEOUT) {
			smtpc_reply_init(c, &f, SMTPC_CONNECT, "4.4.1",
			    "connect");
			smtpc_text(&f, "connect to %s[%s]:%u: Connection timed "
			    "out", c->host, c->addr, c->port);
			smtpc_addr_failed(c, &f);
		}
		break;

	case SMTPC_S_GREETING:
		if (ev != SMTPC_E_REPLY)
			break;
		if (r->code == 220)
			smtpc_send_ehlo(c, false);
		else
			smtpc_addr_failed(c, r);	/* 421, 554 greeting */
		break;

	case SMTPC_S_EHLO:
	case SMTPC_S_HELO:
		if (ev != SMTPC_E_REPLY)
			break;
		if (c->state == SMTPC_S_EHLO && cls == SMTPC_PERM &&
		    !c->tls_active) {
			smtpc_send_ehlo(c, true);	/* RFC 5321 4.1.4 */
			break;
		}
		if (cls != SMTPC_OK || r->code / 100 != 2) {
			smtpc_addr_failed(c, r);
			break;
		}
		if (c->opts.tls != OUTBOUND_TLS_NONE && !c->tls_active &&
		    !c->tls_fallback) {
			if (c->ext & SMTPC_EXT_STARTTLS) {
				smtpc_send_line(c, "STARTTLS\r\n", 10);
				c->state = SMTPC_S_STARTTLS;
				smtpc_arm(c, smtpc_ms(c->opts.timeouts.command,
				    300000));
				break;
			}
			if (c->opts.tls == OUTBOUND_TLS_REQUIRE) {
				smtpc_reply_init(c, &f, SMTPC_TLS, "4.7.4",
				    "EHLO");
				smtpc_text(&f, "TLS is required, but was not "
				    "offered by host %s[%s]", c->host, c->addr);
				smtpc_addr_failed(c, &f);
				break;
			}
		}
		c->state = SMTPC_S_IDLE;
		evtimer_del(c->timer);
		if (!c->was_ready) {
			c->was_ready = true;
			if (c->cbs.ready)
				c->cbs.ready(c, NULL, c->arg);
		}
		if (!c->dying)
			smtpc_pump(c);
		break;

	case SMTPC_S_STARTTLS:
		if (ev != SMTPC_E_REPLY)
			break;
		if (r->code == 220) {
			/* RFC 3207 6 / CVE-2011-0411: nothing may follow. */
			if (evbuffer_get_length(bufferevent_get_input(c->bev))) {
				smtpc_reply_init(c, &f, SMTPC_TLS, "4.7.5",
				    "STARTTLS");
				smtpc_text(&f, "%s[%s] sent data after its "
				    "STARTTLS reply (injection?)", c->host,
				    c->addr);
				smtpc_addr_failed(c, &f);
			} else if (smtpc_start_tls(c) != 0) {
				smtpc_reply_init(c, &f, SMTPC_TLS, "4.7.5",
				    "STARTTLS");
				smtpc_text(&f, "cannot set up TLS for %s[%s]",
				    c->host, c->addr);
				smtpc_addr_failed(c, &f);
			}
			break;
		}
		if (c->opts.tls == OUTBOUND_TLS_REQUIRE) {
			smtpc_reply_init(c, &f, SMTPC_TLS, "4.7.4", "STARTTLS");
			smtpc_text(&f, "TLS is required, but host %s[%s] "
			    "refused STARTTLS: %s", c->host, c->addr, r->text);
			smtpc_addr_failed(c, &f);
			break;
		}
		/* Opportunistic: carry on in plaintext, same extensions. */
		c->state = SMTPC_S_IDLE;
		evtimer_del(c->timer);
		if (!c->was_ready) {
			c->was_ready = true;
			if (c->cbs.ready)
				c->cbs.ready(c, NULL, c->arg);
		}
		if (!c->dying)
			smtpc_pump(c);
		break;

	case SMTPC_S_HANDSHAKE:
		if (ev == SMTPC_E_TLS_UP) {
			c->tls_active = true;
			smtpc_send_ehlo(c, false);	/* RFC 3207 4.2 */
		}
		break;

	case SMTPC_S_IDLE:
	case SMTPC_S_TX:
		if (ev == SMTPC_E_KICK) {
			smtpc_pump(c);
			break;
		}
		if (ev == SMTPC_E_TIMEOUT) {
			/* Only the idle timer runs with nothing awaited. */
			if (c->qhead == NULL && !c->quit_queued) {
				c->quit_queued = true;
				if (smtpc_cmd_new(c, SMTPC_C_QUIT, NULL, NULL,
				    NULL, NULL, 0) == NULL) {
					smtpc_close(c, NULL);
					break;
				}
				smtpc_pump(c);
			}
			break;
		}
		if (ev != SMTPC_E_REPLY)
			break;
		cmd = c->qhead;
		if (cmd == NULL || !cmd->sent) {
			/* Unsolicited: typically 421 before the server
			 * closes an idle connection. */
			smtpc_close(c, r);
			break;
		}
		smtpc_pop(c);
		switch (cmd->kind) {
		case SMTPC_C_RSET:
			if (cls != SMTPC_OK) {
				smtpc_cmd_free(cmd);
				smtpc_close(c, r);
				return;
			}
			smtpc_deliver(c, cmd, r);
			break;
		case SMTPC_C_MAIL:
			cmd->tx->mail_reply = *r;
			cmd->tx->mail_failed = cls != SMTPC_OK;
			if (cmd->tx->mail_failed) {
				/* No transaction on the server side. */
				c->state = SMTPC_S_IDLE;
				smtpc_tx_fail_queued(c, cmd->tx);
			}
			smtpc_deliver(c, cmd, r);
			break;
		case SMTPC_C_RCPT:
			/* After a failed MAIL the RCPT's 503 says nothing. */
			if (cmd->tx->mail_failed)
				smtpc_deliver(c, cmd, &cmd->tx->mail_reply);
			else {
				if (smtpc_is_2xx(r))
					cmd->tx->naccepted++;
				smtpc_deliver(c, cmd, r);
			}
			break;
		default:
			smtpc_deliver(c, cmd, r);	/* not reached */
			break;
		}
		if (!c->dying && c->state != SMTPC_S_CLOSED)
			smtpc_pump(c);
		break;

	case SMTPC_S_DATA:
		if (ev != SMTPC_E_REPLY)
			break;
		if (r->code == 354) {
			c->state = SMTPC_S_BODY;
			c->body = c->qhead->msg;
			c->bodylen = c->qhead->msglen;
			c->bodyoff = 0;
			c->bol = true;
			c->body_final = c->body_flushed = false;
			smtpc_body_fill(c);
			break;
		}
		cmd = smtpc_pop(c);
		c->state = SMTPC_S_IDLE;	/* RSET comes before any MAIL */
		smtpc_deliver(c, cmd, r);
		if (!c->dying && c->state != SMTPC_S_CLOSED)
			smtpc_pump(c);
		break;

	case SMTPC_S_BODY:
		if (ev == SMTPC_E_DRAINED) {
			if (!c->body_final)
				smtpc_body_fill(c);
			else if (!c->body_flushed) {
				c->body_flushed = true;
				smtpc_arm(c, smtpc_ms(c->opts.timeouts.data_end,
				    600000));
			}
			break;
		}
		if (ev != SMTPC_E_REPLY)
			break;
		if (!c->body_final) {
			/* A reply before the dot (e.g. smtp-sink -A). */
			smtpc_close(c, r);
			break;
		}
		cmd = smtpc_pop(c);
		c->state = SMTPC_S_IDLE;
		c->body = NULL;
		c->ntx++;
		{
			struct smtp_client_reply rr = *r;

			smtpc_copy(rr.cmd, sizeof(rr.cmd), "end of DATA");
			smtpc_deliver(c, cmd, &rr);
		}
		if (!c->dying && c->state != SMTPC_S_CLOSED)
			smtpc_pump(c);
		break;

	case SMTPC_S_QUIT:
		if (ev == SMTPC_E_REPLY) {
			cmd = smtpc_pop(c);
			if (cmd)
				smtpc_deliver(c, cmd, r);
			smtpc_close(c, NULL);
		}
		break;

	case SMTPC_S_CLOSED:
		break;
	}
}

/* --- libevent entry points ---------------------------------------------- */

static void
smtpc_destroy(struct smtp_client *c)
{
	struct smtpc_cmd *cmd;

	smtpc_drop_conn(c);
	while ((cmd = smtpc_pop(c)) != NULL)
		smtpc_cmd_free(cmd);
	smtpc_tx_unref(c->api_tx);
	event_free(c->timer);
	event_free(c->kick);
	buf_free(&c->rbuf);
	buf_free(&c->chunk);
	free(c);
}

static void
smtpc_maybe_destroy(struct smtp_client *c)
{
	if (c->dying && c->depth == 0)
		smtpc_destroy(c);
}

static void
smtpc_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	if (bev != c->bev)
		return;		/* a connection already given up */
	c->depth++;
	smtpc_read_replies(c);
	c->depth--;
	smtpc_maybe_destroy(c);
}

static void
smtpc_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	if (bev != c->bev)
		return;
	c->depth++;
	smtpc_step(c, SMTPC_E_DRAINED, NULL);
	c->depth--;
	smtpc_maybe_destroy(c);
}

static void
smtpc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	struct smtp_client_reply r;
	int err = EVUTIL_SOCKET_ERROR();

	if (bev != c->bev)
		return;
	c->depth++;
	if (what & BEV_EVENT_CONNECTED) {
		smtpc_step(c, c->state == SMTPC_S_HANDSHAKE ? SMTPC_E_TLS_UP :
		    SMTPC_E_CONNECTED, NULL);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* Replies that arrived with the close still count. */
		if (c->state != SMTPC_S_CONNECTING &&
		    c->state != SMTPC_S_HANDSHAKE)
			smtpc_read_replies(c);
		if (!c->dying && c->state != SMTPC_S_CLOSED && c->bev == bev) {
			if (c->state == SMTPC_S_CONNECTING) {
				smtpc_reply_init(c, &r, SMTPC_CONNECT, "4.4.1",
				    "connect");
				smtpc_text(&r, "connect to %s[%s]:%u: %s",
				    c->host, c->addr, c->port,
				    evutil_socket_error_to_string(err));
			} else if (c->state == SMTPC_S_HANDSHAKE) {
				smtpc_tls_error(c, &r);
			} else {
				smtpc_reply_init(c, &r, SMTPC_LOST, "4.4.2",
				    smtpc_phase(c));
				smtpc_text(&r, "lost connection with %s[%s] "
				    "while waiting for the reply to %s",
				    c->host, c->addr, smtpc_phase(c));
				if (c->state == SMTPC_S_IDLE && c->qhead == NULL)
					smtpc_text(&r, "%s[%s] closed the idle "
					    "connection", c->host, c->addr);
			}
			smtpc_step(c, SMTPC_E_LOST, &r);
		}
	}
	c->depth--;
	smtpc_maybe_destroy(c);
}

static void
smtpc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	(void)fd;
	(void)what;
	c->depth++;
	smtpc_step(c, SMTPC_E_TIMEOUT, NULL);
	c->depth--;
	smtpc_maybe_destroy(c);
}

static void
smtpc_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	(void)fd;
	(void)what;
	c->depth++;
	smtpc_step(c, SMTPC_E_KICK, NULL);
	c->depth--;
	smtpc_maybe_destroy(c);
}

/* --- public API ---------------------------------------------------------- */

SSL_CTX *
smtp_client_ssl_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned long e;

	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		e = ERR_get_error();
		snprintf(err, errlen, "cannot load CA file %s: %s", ca_file,
		    e ? ERR_reason_error_string(e) : "unknown error");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct smtp_client *
smtp_client_new(struct event_base *base, const struct smtp_client_opts *opts,
    const struct smtp_client_cbs *cbs, void *arg)
{
	struct smtp_client *c;

	if (base == NULL || opts == NULL || cbs == NULL ||
	    !smtpc_safe(opts->helo_name, false) ||
	    strlen(opts->helo_name) >= sizeof(c->helo) ||
	    (opts->tls != OUTBOUND_TLS_NONE && opts->ssl_ctx == NULL))
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	c->opts = *opts;
	smtpc_copy(c->helo, sizeof(c->helo), opts->helo_name);
	c->opts.helo_name = c->helo;
	c->cbs = *cbs;
	c->arg = arg;
	c->state = SMTPC_S_INIT;
	buf_init(&c->rbuf, SMTPC_REPLY_MAX);
	buf_init(&c->chunk, 0);
	c->timer = evtimer_new(base, smtpc_timer_cb, c);
	c->kick = event_new(base, -1, 0, smtpc_kick_cb, c);
	if (c->timer == NULL || c->kick == NULL) {
		if (c->timer)
			event_free(c->timer);
		if (c->kick)
			event_free(c->kick);
		free(c);
		return NULL;
	}
	return c;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL || c->dying)
		return;
	c->dying = true;
	smtpc_maybe_destroy(c);
}

int
smtp_client_connect(struct smtp_client *c, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, unsigned port)
{
	size_t i;

	if (c == NULL || c->dying || c->state != SMTPC_S_INIT ||
	    c->naddrs != 0 || host == NULL || addrs == NULL || naddrs == 0 ||
	    port == 0 || port > 65535)
		return -1;
	for (i = 0; i < naddrs && i < SMTPC_MAX_ADDRS; i++) {
		if (addrs[i].ss_family != AF_INET &&
		    addrs[i].ss_family != AF_INET6)
			return -1;
		c->addrs[i] = addrs[i];
	}
	c->naddrs = i;
	c->ai = 0;
	c->port = port;
	smtpc_copy(c->host, sizeof(c->host), host);
	smtpc_kick(c);	/* connect from the loop: ready is never synchronous */
	return 0;
}

static bool
smtpc_usable(const struct smtp_client *c)
{
	return c != NULL && !c->dying && c->was_ready && !c->quit_queued &&
	    !c->closing && c->state >= SMTPC_S_IDLE &&
	    c->state <= SMTPC_S_BODY;
}

static int
smtpc_dsn_param(struct buf *b, const char *name, const char *val)
{
	if (val == NULL || val[0] == '\0')
		return 0;
	if (!smtpc_safe(val, false))
		return -1;
	return buf_printf(b, " %s=%s", name, val) == 0 ? 0 : -1;
}

int
smtp_client_mail(struct smtp_client *c, const struct smtp_client_mail *m,
    smtp_client_reply_cb cb, void *arg)
{
	struct buf line;
	struct smtpc_tx *tx = NULL;
	struct smtpc_cmd *cmd;
	bool utf8;
	const char *why = NULL, *enh = NULL;
	char text[SMTPC_TEXT_MAX];
	int rc = -1;

	if (!smtpc_usable(c) || c->api_tx != NULL || m == NULL ||
	    !smtpc_safe(m->from, true))
		return -1;
	buf_init(&line, SMTPC_CMD_MAX);
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		goto out;
	tx->refs = 1;
	utf8 = m->smtputf8 || smtpc_non_ascii(m->from);
	if (buf_printf(&line, "MAIL FROM:<%s>", m->from) != 0)
		goto out;
	if ((c->ext & SMTPC_EXT_SIZE) && m->size > 0 &&
	    buf_printf(&line, " SIZE=%zu", m->size) != 0)
		goto out;
	if (m->eightbit && (c->ext & SMTPC_EXT_8BITMIME) &&
	    buf_append_str(&line, " BODY=8BITMIME") != 0)
		goto out;
	if (utf8 && (c->ext & SMTPC_EXT_SMTPUTF8) &&
	    buf_append_str(&line, " SMTPUTF8") != 0)
		goto out;
	if ((c->ext & SMTPC_EXT_DSN) && (smtpc_dsn_param(&line, "RET",
	    m->ret) != 0 || smtpc_dsn_param(&line, "ENVID", m->envid) != 0))
		goto out;
	if (buf_append(&line, "\r\n", 2) != 0)
		goto out;

	/* Local refusals: nothing that the server said it cannot take. */
	if ((c->ext & SMTPC_EXT_SIZE) && c->size_limit > 0 &&
	    m->size > c->size_limit) {
		snprintf(text, sizeof(text), "message size %zu exceeds size "
		    "limit %zu of server %s[%s]", m->size, c->size_limit,
		    c->host, c->addr);
		why = text;
		enh = "5.3.4";
	} else if (m->eightbit && !(c->ext & SMTPC_EXT_8BITMIME)) {
		snprintf(text, sizeof(text), "8-bit message, but server "
		    "%s[%s] does not offer 8BITMIME", c->host, c->addr);
		why = text;
		enh = "5.6.3";
	} else if (utf8 && !(c->ext & SMTPC_EXT_SMTPUTF8)) {
		snprintf(text, sizeof(text), "internationalized address, but "
		    "server %s[%s] does not offer SMTPUTF8", c->host, c->addr);
		why = text;
		enh = "5.6.7";
	}

	/* RSET between transactions on a reused connection. */
	if (c->wire_dirty) {
		if ((cmd = smtpc_cmd_new(c, SMTPC_C_RSET, NULL, NULL, NULL,
		    "RSET\r\n", 6)) == NULL)
			goto out;
		cmd->internal = true;
		c->wire_dirty = false;
	}
	if ((cmd = smtpc_cmd_new(c, SMTPC_C_MAIL, tx, cb, arg, line.data,
	    line.len)) == NULL)
		goto out;
	if (why != NULL) {
		if (smtpc_cmd_local(c, cmd, SMTPC_LOCAL, enh, "MAIL FROM",
		    why) != 0)
			goto out;	/* the queued cmd answers as lost */
		tx->mail_failed = true;
		tx->mail_reply = *cmd->local;
	} else
		c->wire_dirty = true;
	smtpc_api_tx(c, tx);
	smtpc_kick(c);
	rc = 0;
out:
	buf_free(&line);
	smtpc_tx_unref(tx);	/* the queued MAIL holds its own reference */
	return rc;
}

int
smtp_client_rcpt(struct smtp_client *c, const struct smtp_client_rcpt *r,
    smtp_client_reply_cb cb, void *arg)
{
	struct buf line;
	struct smtpc_cmd *cmd;
	struct smtpc_tx *tx;
	char text[SMTPC_TEXT_MAX];
	int rc = -1;

	if (!smtpc_usable(c) || (tx = c->api_tx) == NULL || c->api_data ||
	    r == NULL || !smtpc_safe(r->addr, false))
		return -1;
	buf_init(&line, SMTPC_CMD_MAX);
	if (buf_printf(&line, "RCPT TO:<%s>", r->addr) != 0)
		goto out;
	if ((c->ext & SMTPC_EXT_DSN) && (smtpc_dsn_param(&line, "NOTIFY",
	    r->notify) != 0 || smtpc_dsn_param(&line, "ORCPT", r->orcpt) != 0))
		goto out;
	if (buf_append(&line, "\r\n", 2) != 0)
		goto out;
	if ((cmd = smtpc_cmd_new(c, SMTPC_C_RCPT, tx, cb, arg, line.data,
	    line.len)) == NULL)
		goto out;
	if (tx->mail_failed) {
		/* MAIL already refused (here or by the server). */
		cmd->local = malloc(sizeof(*cmd->local));
		if (cmd->local == NULL)
			goto out;
		*cmd->local = tx->mail_reply;
	} else if (smtpc_non_ascii(r->addr) &&
	    !(c->ext & SMTPC_EXT_SMTPUTF8)) {
		/* RFC 6531 3.4: only with SMTPUTF8 on MAIL. */
		snprintf(text, sizeof(text), "internationalized address, but "
		    "server %s[%s] does not offer SMTPUTF8", c->host, c->addr);
		if (smtpc_cmd_local(c, cmd, SMTPC_LOCAL, "5.6.7", "RCPT TO",
		    text) != 0)
			goto out;
	}
	smtpc_kick(c);
	rc = 0;
out:
	buf_free(&line);
	return rc;
}

int
smtp_client_data(struct smtp_client *c, const char *msg, size_t len,
    smtp_client_reply_cb cb, void *arg)
{
	struct smtpc_cmd *cmd;
	struct smtpc_tx *tx;
	char text[SMTPC_TEXT_MAX];

	if (!smtpc_usable(c) || (tx = c->api_tx) == NULL || c->api_data ||
	    (msg == NULL && len > 0))
		return -1;
	if ((cmd = smtpc_cmd_new(c, SMTPC_C_DATA, tx, cb, arg, NULL, 0)) ==
	    NULL)
		return -1;
	cmd->msg = msg;
	cmd->msglen = len;
	if (tx->mail_failed) {
		if ((cmd->local = malloc(sizeof(*cmd->local))) != NULL)
			*cmd->local = tx->mail_reply;
	} else if ((c->ext & SMTPC_EXT_SIZE) && c->size_limit > 0 &&
	    len > c->size_limit) {
		snprintf(text, sizeof(text), "message size %zu exceeds size "
		    "limit %zu of server %s[%s]", len, c->size_limit, c->host,
		    c->addr);
		smtpc_cmd_local(c, cmd, SMTPC_LOCAL, "5.3.4", "DATA", text);
	} else if (!(c->ext & SMTPC_EXT_8BITMIME) && smtpc_8bit(msg, len)) {
		snprintf(text, sizeof(text), "8-bit message, but server "
		    "%s[%s] does not offer 8BITMIME", c->host, c->addr);
		smtpc_cmd_local(c, cmd, SMTPC_LOCAL, "5.6.3", "DATA", text);
	}
	/* A failed malloc above leaves a plain DATA: the server decides. */
	smtpc_api_tx(c, NULL);
	smtpc_kick(c);
	return 0;
}

int
smtp_client_rset(struct smtp_client *c, smtp_client_reply_cb cb, void *arg)
{
	struct smtpc_cmd *cmd;
	struct smtp_client_reply r;

	if (!smtpc_usable(c))
		return -1;
	for (cmd = c->qhead; cmd != NULL; cmd = cmd->next) {
		if (cmd->kind != SMTPC_C_DATA || cmd->local != NULL)
			continue;
		if (cmd->sent) {
			/* Mid-DATA there is no way back but to hang up. */
			smtpc_reply_init(c, &r, SMTPC_LOST, "4.4.2", "DATA");
			smtpc_text(&r, "transaction with %s[%s] aborted during "
			    "DATA", c->host, c->addr);
			/* The RSET is answered too: with the same reason. */
			cmd = smtpc_cmd_new(c, SMTPC_C_RSET, NULL, cb, arg,
			    NULL, 0);
			if (cmd != NULL && (cmd->local = malloc(sizeof(r))) !=
			    NULL)
				*cmd->local = r;
			smtpc_close_later(c, &r);
			return 0;
		}
		if (smtpc_cmd_local(c, cmd, SMTPC_LOST, "4.4.2", "DATA",
		    "transaction aborted before DATA") != 0)
			return -1;
	}
	if (smtpc_cmd_new(c, SMTPC_C_RSET, NULL, cb, arg, "RSET\r\n", 6) ==
	    NULL)
		return -1;
	smtpc_api_tx(c, NULL);
	c->wire_dirty = false;
	smtpc_kick(c);
	return 0;
}

void
smtp_client_quit(struct smtp_client *c)
{
	struct smtpc_cmd *cmd;

	if (c == NULL || c->dying || c->quit_queued)
		return;
	if (c->state < SMTPC_S_IDLE || c->state == SMTPC_S_CLOSED) {
		/* Not connected yet (or over): just stop, no callback. */
		smtpc_drop_conn(c);
		c->state = SMTPC_S_CLOSED;
		return;
	}
	if (c->closing)
		return;
	for (cmd = c->qhead; cmd != NULL; cmd = cmd->next)
		if (cmd->kind == SMTPC_C_DATA && cmd->sent) {
			smtpc_close_later(c, NULL);
			return;
		}
	if (smtpc_cmd_new(c, SMTPC_C_QUIT, NULL, NULL, NULL, NULL, 0) == NULL) {
		smtpc_close_later(c, NULL);
		return;
	}
	c->quit_queued = true;
	smtpc_api_tx(c, NULL);
	smtpc_kick(c);
}

/* --- smtp_client_send: the whole transaction ----------------------------- */

struct smtpc_send {
	struct smtp_client_tx *tx;
	smtp_client_tx_cb cb;
	void	*arg;
	size_t	nreplied;
};

static void
smtpc_send_finish(struct smtp_client *c, struct smtpc_send *s)
{
	size_t i;
	struct smtp_client_tx *tx = s->tx;

	tx->naccepted = 0;
	for (i = 0; i < tx->nrcpts; i++)
		if (smtp_client_reply_class(&tx->rcpts[i].result) == SMTPC_OK)
			tx->naccepted++;
	if (s->cb && !c->dying)
		s->cb(c, tx, s->arg);
	free(s);
}

static void
smtpc_send_data_cb(struct smtp_client *c, const struct smtp_client_reply *r,
    void *arg)
{
	struct smtpc_send *s = arg;
	size_t i;

	s->tx->data_reply = *r;
	for (i = 0; i < s->tx->nrcpts; i++)
		if (smtpc_is_2xx(&s->tx->rcpts[i].rcpt_reply))
			s->tx->rcpts[i].result = *r;
	smtpc_send_finish(c, s);
}

static void
smtpc_send_mail_cb(struct smtp_client *c, const struct smtp_client_reply *r,
    void *arg)
{
	struct smtpc_send *s = arg;

	(void)c;
	s->tx->mail_reply = *r;
}

static void
smtpc_send_rcpt_cb(struct smtp_client *c, const struct smtp_client_reply *r,
    void *arg)
{
	struct smtpc_send *s = arg;
	struct smtp_client_tx *tx = s->tx;
	size_t i, accepted = 0;

	if (s->nreplied >= tx->nrcpts)
		return;		/* cannot happen: one answer per RCPT */
	tx->rcpts[s->nreplied].rcpt_reply = *r;
	tx->rcpts[s->nreplied].result = *r;
	if (++s->nreplied < tx->nrcpts)
		return;
	for (i = 0; i < tx->nrcpts; i++)
		if (smtpc_is_2xx(&tx->rcpts[i].rcpt_reply))
			accepted++;
	if (accepted > 0 && smtp_client_data(c, tx->msg, tx->msglen,
	    smtpc_send_data_cb, s) == 0)
		return;
	/* Nothing to send (or the session just ended): end the tx here. */
	smtpc_reply_init(c, &tx->data_reply, SMTPC_LOCAL, "", "DATA");
	smtpc_copy(tx->data_reply.text, sizeof(tx->data_reply.text),
	    accepted ? "session ended before DATA" : "DATA not sent: no "
	    "recipient was accepted");
	if (accepted > 0) {
		/* Accepted but the session died: every such one is TEMP. */
		tx->data_reply.kind = SMTPC_LOST;
		smtpc_copy(tx->data_reply.enh, sizeof(tx->data_reply.enh),
		    "4.4.2");
		for (i = 0; i < tx->nrcpts; i++)
			if (smtpc_is_2xx(&tx->rcpts[i].rcpt_reply))
				tx->rcpts[i].result = tx->data_reply;
	}
	smtpc_api_tx(c, NULL);	/* the next MAIL is preceded by RSET */
	smtpc_send_finish(c, s);
}

int
smtp_client_send(struct smtp_client *c, struct smtp_client_tx *tx,
    smtp_client_tx_cb cb, void *arg)
{
	struct smtpc_send *s;
	struct smtp_client_mail m;
	size_t i;

	if (!smtpc_usable(c) || c->api_tx != NULL || tx == NULL ||
	    tx->nrcpts == 0 || tx->rcpts == NULL ||
	    (tx->msg == NULL && tx->msglen > 0))
		return -1;
	for (i = 0; i < tx->nrcpts; i++)
		if (!smtpc_safe(tx->rcpts[i].addr, false))
			return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->tx = tx;
	s->cb = cb;
	s->arg = arg;
	m = tx->mail;
	if (m.size == 0)
		m.size = tx->msglen;
	if (!m.eightbit && smtpc_8bit(tx->msg, tx->msglen))
		m.eightbit = true;
	for (i = 0; i < tx->nrcpts; i++)
		if (smtpc_non_ascii(tx->rcpts[i].addr))
			m.smtputf8 = true;
	if (smtp_client_mail(c, &m, smtpc_send_mail_cb, s) != 0) {
		free(s);
		return -1;
	}
	for (i = 0; i < tx->nrcpts; i++)
		if (smtp_client_rcpt(c, &tx->rcpts[i], smtpc_send_rcpt_cb,
		    s) != 0) {
			/*
			 * Only an allocation failure gets here (arguments
			 * were checked): drop the connection, which answers
			 * what is queued and so completes s.
			 */
			struct smtp_client_reply r;

			for (; i < tx->nrcpts; i++) {
				smtpc_reply_init(c, &tx->rcpts[i].result,
				    SMTPC_LOST, "4.3.0", "RCPT TO");
				smtpc_copy(tx->rcpts[i].result.text,
				    sizeof(tx->rcpts[i].result.text),
				    "out of memory");
				tx->rcpts[i].rcpt_reply = tx->rcpts[i].result;
			}
			smtpc_reply_init(c, &r, SMTPC_LOST, "4.3.0", "RCPT TO");
			smtpc_copy(r.text, sizeof(r.text), "out of memory");
			smtpc_close_later(c, &r);
			return 0;
		}
	return 0;
}

/* --- accessors ----------------------------------------------------------- */

const char *
smtp_client_host(const struct smtp_client *c)
{
	return c->host;
}

const char *
smtp_client_addr(const struct smtp_client *c)
{
	return c->addr;
}

unsigned
smtp_client_port(const struct smtp_client *c)
{
	return c->port;
}

bool
smtp_client_is_idle(const struct smtp_client *c)
{
	/* TX here: a transaction that ended without DATA, RSET pending. */
	return smtpc_usable(c) && (c->state == SMTPC_S_IDLE ||
	    c->state == SMTPC_S_TX) && c->qhead == NULL && c->api_tx == NULL;
}

bool
smtp_client_is_closed(const struct smtp_client *c)
{
	return c->state == SMTPC_S_CLOSED;
}

unsigned
smtp_client_extensions(const struct smtp_client *c)
{
	return c->ext;
}

size_t
smtp_client_size_limit(const struct smtp_client *c)
{
	return c->size_limit;
}

const char *
smtp_client_tls_version(const struct smtp_client *c)
{
	return c->tls_active && c->ssl ? SSL_get_version(c->ssl) : NULL;
}

unsigned
smtp_client_transactions(const struct smtp_client *c)
{
	return c->ntx;
}
