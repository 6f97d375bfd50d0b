/*
 * smtp_client - the outbound SMTP session state machine (RFC 5321).
 *
 * Owns: one TCP connection (a bufferevent, TCP_NODELAY, optionally wrapped
 * in TLS after STARTTLS) to one destination host, tried address by address;
 * the greeting, EHLO (HELO fallback on a 5xx to EHLO) and its extension list;
 * opportunistic or required STARTTLS (RFC 3207); the RFC 5321 4.5.3.2 client
 * timeouts; pipelining of RSET/MAIL/RCPT (RFC 2920); the MAIL parameters
 * SIZE (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and the
 * DSN parameters RET/ENVID/NOTIFY/ORCPT (RFC 3461, only when offered);
 * dot-stuffing of the message (RFC 5321 4.5.2) with the final "." written
 * together with the last data; RSET between transactions on a reused
 * connection; QUIT.
 *
 * Local decisions (nothing is sent; reply kind SMTPC_LOCAL, code 0):
 *   - message larger than the server's SIZE          -> 5.3.4
 *   - 8-bit message, server without 8BITMIME         -> 5.6.3.  We fail
 *     rather than downgrade to quoted-printable: a downgrade would rewrite
 *     MIME structure (and break DKIM signatures) of mail we only relay; the
 *     sender gets a clear DSN instead.  Servers without 8BITMIME are rare.
 *   - UTF-8 envelope, server without SMTPUTF8         -> 5.6.7 (RFC 6531 3.4)
 *   - tls=require and no STARTTLS offered / refused   -> 4.7.4 (temporary)
 *
 * Two ways to use a session, on the same state machine:
 *   - store-and-forward: smtp_client_send() runs a whole transaction and
 *     reports every recipient's final result in one callback;
 *   - step by step (in-session delivery): smtp_client_mail(), then
 *     smtp_client_rcpt() per recipient with one answer each as it arrives,
 *     later smtp_client_data() or smtp_client_rset()/smtp_client_quit() to
 *     abandon the transaction without ever sending the final dot.
 * Calls may be made before earlier answers arrived; they are queued and
 * answered in order.  Every callback is called exactly once, from the event
 * loop, never from inside the call that queued it; none is called after
 * smtp_client_free().
 *
 * Invariants: no plaintext received before the TLS handshake is ever read
 * after it (RFC 3207 section 6; CVE-2011-0411 in reverse); every reply line
 * is capped (SMTPC_LINE_MAX) and every reply (SMTPC_REPLY_MAX) before it is
 * stored; addresses and parameters with CR, LF or other control bytes are
 * refused (-1) so nothing can be injected into the command stream.
 *
 * Callers: the delivery engine (store-and-forward), later the in-session
 * path of the SMTP server.  The scheduler owns per-host connection caps and
 * connection caching; this module exposes smtp_client_host(),
 * smtp_client_is_idle() and the ready/closed callbacks for that.
 */
#ifndef CLEANBOX_SMTP_CLIENT_H
#define CLEANBOX_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "config.h"	/* enum outbound_tls */

struct event_base;
struct smtp_client;
typedef struct ssl_ctx_st SSL_CTX;

#define SMTPC_LINE_MAX		2048	/* one reply line (RFC: 512) */
#define SMTPC_REPLY_MAX		16384	/* one whole multi-line reply */
#define SMTPC_TEXT_MAX		1024	/* reply text kept in results */
#define SMTPC_MAX_ADDRS		32	/* addresses tried per connect */

/* Where a result came from. */
enum smtp_client_kind {
	SMTPC_REPLY,	/* the server's own reply; code is its code */
	SMTPC_LOCAL,	/* decided here, nothing sent (SIZE, 8BITMIME, ...) */
	SMTPC_CONNECT,	/* no connection (refused, unreachable, timed out) */
	SMTPC_TIMEOUT,	/* the server did not answer in time */
	SMTPC_LOST,	/* connection lost, bad reply syntax, or aborted */
	SMTPC_TLS,	/* TLS required but not available, or handshake failed */
};

/* 2xx, temporary (4xx and every network condition), permanent (5xx). */
enum smtp_client_class { SMTPC_OK, SMTPC_TEMP, SMTPC_PERM };

struct smtp_client_reply {
	enum smtp_client_kind kind;
	int	code;			/* 3 digits for SMTPC_REPLY, else 0 */
	char	enh[16];		/* "5.1.1" from the reply, or ours; "" */
	char	text[SMTPC_TEXT_MAX];	/* whole reply, lines joined by "\n"
					   (each with its code), or our own
					   description; truncated if longer */
	char	cmd[16];		/* "RCPT TO", "end of DATA", ... */
	char	host[256];		/* who said it: host name, */
	char	addr[INET6_ADDRSTRLEN];	/* its IP address, */
	unsigned port;			/* and port ("" / 0: not connected) */
};

/* OK / TEMP / PERM for any result, by kind, code and enhanced code. */
enum smtp_client_class smtp_client_reply_class(const struct smtp_client_reply *r);

/* Milliseconds; 0 takes the default. */
struct smtp_client_timeouts {
	unsigned connect;	/* 30 s (Postfix smtp_connect_timeout)    */
	unsigned greeting;	/* 5 min  RFC 5321 4.5.3.2.1              */
	unsigned command;	/* 5 min  EHLO, HELO, STARTTLS, RSET, QUIT */
	unsigned tls;		/* 60 s   TLS handshake                   */
	unsigned mail;		/* 5 min  4.5.3.2.2                       */
	unsigned rcpt;		/* 5 min  4.5.3.2.3                       */
	unsigned data_init;	/* 2 min  4.5.3.2.4                       */
	unsigned data_block;	/* 3 min  4.5.3.2.5: per block written     */
	unsigned data_end;	/* 10 min 4.5.3.2.6                       */
	unsigned idle;		/* idle session: QUIT after; 0 = never    */
};

struct smtp_client_opts {
	const char *helo_name;		/* our name in EHLO/HELO; required */
	enum outbound_tls tls;		/* none | opportunistic | require */
	SSL_CTX	*ssl_ctx;		/* from smtp_client_ssl_ctx_new(); needed
					   unless tls is NONE; caller owns it */
	bool	tls_verify;		/* verify chain + host name (needs a CA
					   file in ssl_ctx); a failure is then
					   a temporary failure 4.7.5.  Without
					   it: encrypt, do not verify. */
	struct smtp_client_timeouts timeouts;
};

/* Session-level events. */
struct smtp_client_cbs {
	/*
	 * Connect finished.  fail == NULL: the session is idle and takes
	 * transactions.  Otherwise every address failed and fail is the last
	 * failure (e.g. SMTPC_CONNECT, a 421/554 greeting, SMTPC_TLS); the
	 * session is then closed and only smtp_client_free() is left.
	 */
	void	(*ready)(struct smtp_client *c,
		    const struct smtp_client_reply *fail, void *arg);
	/*
	 * A session that was ready has ended: why == NULL after our QUIT,
	 * else the reason (peer closed, 421, timeout).  Pending commands got
	 * their own callbacks (with the same reason) before this one.
	 */
	void	(*closed)(struct smtp_client *c,
		    const struct smtp_client_reply *why, void *arg);
};

/* MAIL FROM.  Strings are copied when the call is made. */
struct smtp_client_mail {
	const char *from;	/* mailbox without <>; "" for the null path */
	size_t	size;		/* message size for SIZE=; 0 = unknown */
	bool	eightbit;	/* message is 8-bit: send BODY=8BITMIME */
	bool	smtputf8;	/* envelope needs SMTPUTF8 (also detected) */
	const char *ret;	/* DSN RET: "FULL" / "HDRS" / NULL */
	const char *envid;	/* DSN ENVID, already xtext / NULL */
};

/* RCPT TO; also carries the result of smtp_client_send(). */
struct smtp_client_rcpt {
	const char *addr;	/* mailbox without <> */
	const char *notify;	/* DSN NOTIFY: "NEVER", "SUCCESS,FAILURE" */
	const char *orcpt;	/* DSN ORCPT: "rfc822;a@b" (xtext) / NULL */
	/* filled in by smtp_client_send(): */
	struct smtp_client_reply rcpt_reply;	/* answer to RCPT      */
	struct smtp_client_reply result;	/* final: RCPT failure, or
						   the end-of-DATA reply */
};

/* A whole transaction for smtp_client_send(). */
struct smtp_client_tx {
	struct smtp_client_mail mail;
	struct smtp_client_rcpt *rcpts;
	size_t	nrcpts;
	const char *msg;	/* CRLF message; kept alive by the caller */
	size_t	msglen;		/* until the callback */
	/* filled in: */
	struct smtp_client_reply mail_reply;
	struct smtp_client_reply data_reply;	/* kind SMTPC_LOCAL, code 0,
						   when DATA was not sent */
	size_t	naccepted;	/* recipients with a 2xx result */
};

typedef void (*smtp_client_reply_cb)(struct smtp_client *c,
	    const struct smtp_client_reply *r, void *arg);
typedef void (*smtp_client_tx_cb)(struct smtp_client *c,
	    struct smtp_client_tx *tx, void *arg);

/*
 * A client context for outbound STARTTLS.  ca_file (PEM) may be NULL or ""
 * when certificates are not verified.  TLS 1.2 or newer.  NULL + err on
 * failure.  Free with SSL_CTX_free().
 */
SSL_CTX	*smtp_client_ssl_ctx_new(const char *ca_file, char *err, size_t errlen);

/*
 * A new, unconnected session.  opts is copied (helo_name too); ssl_ctx is
 * referenced, not owned.  NULL if out of memory or opts are unusable.
 */
struct smtp_client *smtp_client_new(struct event_base *base,
	    const struct smtp_client_opts *opts,
	    const struct smtp_client_cbs *cbs, void *arg);
/*
 * Free the session at once: the connection is dropped (no QUIT) and no
 * callback is called any more.  Safe inside any of this session's callbacks.
 */
void	smtp_client_free(struct smtp_client *c);

/*
 * Connect to host (a name for logs, SNI and certificate checks) at the
 * given addresses (port ignored; at most SMTPC_MAX_ADDRS used) on port,
 * trying them in order until one gives a usable session: a refused or
 * timed-out connection, a 4xx/5xx greeting or EHLO/HELO reply, or a TLS
 * failure moves on to the next address.  Answer via cbs->ready.
 * 0, or -1 if already connecting/connected or the arguments are bad.
 */
int	smtp_client_connect(struct smtp_client *c, const char *host,
	    const struct sockaddr_storage *addrs, size_t naddrs,
	    unsigned port);

/*
 * Step API.  Each returns 0 when the command is queued (cb follows), -1 if
 * the session is not usable for it (not ready, closed, wrong order: mail
 * while a transaction is open, rcpt/data without mail) or an argument
 * holds a control byte, '<' or '>'.
 *
 * smtp_client_mail: start a transaction (RSET first if this connection
 * carried one before).  Local checks (SIZE, 8BITMIME, SMTPUTF8) may answer
 * it with an SMTPC_LOCAL result; the transaction then fails as a whole.
 * smtp_client_rcpt: one recipient; if MAIL failed, cb gets MAIL's reply.
 * smtp_client_data: send the message (msg kept alive until cb) and get
 * the end-of-DATA reply; the transaction is then over.  Not sent (local
 * result) when no recipient was accepted, too big, or 8-bit w/o 8BITMIME.
 * smtp_client_rset: abandon the open transaction (RSET); after DATA has
 * been sent this drops the connection instead (never a final dot).
 */
int	smtp_client_mail(struct smtp_client *c, const struct smtp_client_mail *m,
	    smtp_client_reply_cb cb, void *arg);
int	smtp_client_rcpt(struct smtp_client *c, const struct smtp_client_rcpt *r,
	    smtp_client_reply_cb cb, void *arg);
int	smtp_client_data(struct smtp_client *c, const char *msg, size_t len,
	    smtp_client_reply_cb cb, void *arg);
int	smtp_client_rset(struct smtp_client *c, smtp_client_reply_cb cb,
	    void *arg);
/*
 * Whole transaction: MAIL, every RCPT (pipelined when offered), DATA only
 * if a recipient was accepted.  tx (and what it points to) must stay alive
 * until cb, which gets it back with the results filled in.
 */
int	smtp_client_send(struct smtp_client *c, struct smtp_client_tx *tx,
	    smtp_client_tx_cb cb, void *arg);
/*
 * End the session politely: QUIT after what is queued (a DATA in progress
 * is cut off instead: the final dot is never sent), then cbs->closed with
 * why == NULL.  Before the session was ready this just stops connecting,
 * and no callback (ready or closed) follows.
 */
void	smtp_client_quit(struct smtp_client *c);

/*
 * The reply parser the session uses, on a buffer: parse one complete reply
 * (lines ending in LF or CRLF) from in.  Returns the bytes it took (> 0),
 * 0 if the reply is incomplete, -1 if malformed (bad line, codes that
 * differ between lines, a line over SMTPC_LINE_MAX or a reply over
 * SMTPC_REPLY_MAX).  r gets code, enh and text (kind SMTPC_REPLY, no
 * host); for a 2xx, ext/size_limit get what an EHLO reply would announce.
 * For tests and the fuzz target fuzz_smtp_client_reply.
 */
int	smtp_client_reply_parse(const char *in, size_t len,
	    struct smtp_client_reply *r, unsigned *ext, size_t *size_limit);

/* --- what the scheduler and logs need ---------------------------------- */

#define SMTPC_EXT_PIPELINING	0x01
#define SMTPC_EXT_SIZE		0x02
#define SMTPC_EXT_8BITMIME	0x04
#define SMTPC_EXT_SMTPUTF8	0x08
#define SMTPC_EXT_DSN		0x10
#define SMTPC_EXT_STARTTLS	0x20
#define SMTPC_EXT_ENHANCED	0x40
#define SMTPC_EXT_ESMTP		0x80	/* EHLO accepted (not HELO) */

/* Host name given to connect; "" before. */
const char *smtp_client_host(const struct smtp_client *c);
/* Current peer address text and port (valid once connected). */
const char *smtp_client_addr(const struct smtp_client *c);
unsigned smtp_client_port(const struct smtp_client *c);
/* Ready and no transaction open or queued: can take a new one. */
bool	smtp_client_is_idle(const struct smtp_client *c);
/* The session ended (or never started): only free is left. */
bool	smtp_client_is_closed(const struct smtp_client *c);
/* SMTPC_EXT_* offered by the server (after the last EHLO). */
unsigned smtp_client_extensions(const struct smtp_client *c);
/* SIZE limit announced (0 = none or not announced). */
size_t	smtp_client_size_limit(const struct smtp_client *c);
/* "TLSv1.3" when the session is encrypted, else NULL. */
const char *smtp_client_tls_version(const struct smtp_client *c);
/* Transactions completed (end-of-DATA reply received) on this session. */
unsigned smtp_client_transactions(const struct smtp_client *c);

#endif
