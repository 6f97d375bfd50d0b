/*
 * insession - in-session delivery: the relay asks the destinations while
 * the sender is still connected, and answers the sender with the truth
 * (DESIGN.md section 1, steps 2 and 3).
 *
 * Owns:
 *   - a pool of outbound SMTP sessions per destination host, shared by
 *     every inbound transaction (a session finished by one transaction
 *     takes the next one, after RSET); each session holds one slot of the
 *     queue manager's per-host cap ([outbound] max_per_host, counted in
 *     deliver's struct sched), so the cap holds for both paths together.
 *     A transaction that finds the host at its cap waits for a session to
 *     come free, but never longer than [delivery] in_session_budget; then
 *     its recipients are queued;
 *   - per inbound transaction (struct insession_tx): its recipients, each
 *     expanded into targets (one per destination; forwards to hosted
 *     domains followed through the route table), and one "leg" per
 *     destination host: an outbound session carrying MAIL FROM, one RCPT
 *     per target as the sender's RCPTs arrive, and at the end DATA;
 *   - the answer to each RCPT (with rcpt_check): 250 when a destination
 *     accepted or answered 4xx / did not answer within the budget (that
 *     target is then queued); the destination's own 5xx when every
 *     destination of the recipient refused it permanently, as
 *       550 5.1.1 <bob@dest.test>: mx.dest.test said: 5.1.1 user unknown
 *   - the end of DATA: the message goes to every leg (Maildir targets are
 *     written on a worker thread meanwhile), the replies are awaited for at
 *     most in_session_budget, and then:
 *       every target delivered  -> 250, nothing written to the spool;
 *       every target refused 5xx -> that 5xx to the sender, nothing stored;
 *       delivered and refused   -> 250, and an RFC 3464 DSN for the refused
 *                                  ones is spooled (fsync) before the 250;
 *       any 4xx / timeout / lost -> the message is spooled (fsync) for those
 *                                  targets before the 250, and handed to the
 *                                  queue manager (deliver_enqueue).
 *
 * Invariants: the event loop never blocks (DNS by c-ares, disk work on the
 * workq); no callback to the caller is ever made from inside a call into
 * this module: answers come from the loop, in a turn of their own; an
 * aborted transaction (insession_tx_free) never sends the final dot: its
 * legs are RSET (the session goes back to the pool) or dropped; a target
 * refused by a destination is never queued, a target without a clear
 * answer is never dropped.
 *
 * Callers: smtp_server (RCPT, end of DATA, RSET / disconnect).  The relay
 * creates the pool through smtp_server_new in mode = in-session.
 */
#ifndef CLEANBOX_INSESSION_H
#define CLEANBOX_INSESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "smtp_parse.h"

struct config;
struct deliver;
struct dest;
struct event_base;
struct insession;
struct insession_tx;
struct route_table;
struct smtp_client_reply;
struct spool;
struct spool_envelope;
struct workq;

/* Longest reply line this module hands back (RFC 5321 4.5.3.1.5: 512 with
 * CRLF). */
#define INSESSION_REPLY_MAX	512

/*
 * The pool.  Uses deliver's per-host accounting, resolver and outbound TLS
 * context (dl must outlive the pool), and wq/sp for Maildir copies, spool
 * writes and DSNs.  NULL with a message in err on failure.
 */
struct insession *insession_new(struct event_base *base,
	    const struct config *cfg, struct workq *wq, struct spool *sp,
	    struct deliver *dl, char *err, size_t errlen);
/*
 * Record every destination's answer (RCPT-time refusals, end-of-DATA
 * results) in st under policy pol, on a worker thread (source
 * in-session).  st must outlive p; NULL turns recording off.
 */
struct store;
struct suppress_policy;
void	insession_set_store(struct insession *p, struct store *st,
	    const struct suppress_policy *pol);
/* Rewrite the sender of forwards to foreign domains with srs (NULL: off;
 * deliver_mail_from).  srs must outlive p. */
struct srs;
void	insession_set_srs(struct insession *p, const struct srs *srs);
/* Drop every pooled session (no QUIT).  Transactions must be gone. */
void	insession_free(struct insession *p);
/* Outbound sessions open or opening (for logs and tests). */
size_t	insession_conn_count(const struct insession *p);

/*
 * The answer to a RCPT that was left waiting (INSESSION_RCPT_WAIT): tag as
 * given, code (250, 5xx) and the whole reply line without CRLF.
 */
typedef void (*insession_rcpt_cb)(void *arg, size_t tag, int code,
	    const char *reply);
/* The answer to the end of DATA: code (250, 5xx, 452) and reply line. */
typedef void (*insession_done_cb)(void *arg, int code, const char *reply);

/* What the transaction's MAIL FROM said; strings are copied. */
struct insession_mail {
	const char *qid;		/* queue ID given at MAIL */
	const char *sender;		/* "" for the null sender */
	long long size;			/* SIZE=, -1 when absent */
	bool	eightbit;		/* BODY=8BITMIME */
	bool	smtputf8;
	enum smtp_ret ret;
	const char *envid;		/* xtext-decoded, "" when absent */
	struct route_table *routes;	/* a reference is taken */
};

/* A new transaction; rcpt_cb/arg get waiting RCPT answers.  NULL if out of
 * memory. */
struct insession_tx *insession_tx_new(struct insession *p,
	    const struct insession_mail *m, insession_rcpt_cb rcpt_cb,
	    void *arg);
/*
 * Abandon a transaction before insession_data (RSET, new MAIL, a failed
 * DATA, disconnect): no callback follows; outbound sessions are RSET and
 * returned to the pool (never a final dot).  NULL is a no-op.
 */
void	insession_tx_free(struct insession_tx *tx);

enum insession_rcpt_result {
	INSESSION_RCPT_NOW,	/* reply holds the answer (250 or 5xx) */
	INSESSION_RCPT_WAIT,	/* the answer comes through rcpt_cb */
	INSESSION_RCPT_SPLIT,	/* split_by_destination: another host */
	INSESSION_RCPT_ERROR,	/* out of memory: answer 451 */
};

/* One accepted recipient and its route. */
struct insession_rcpt {
	size_t	tag;			/* the caller's, echoed in rcpt_cb */
	const char *addr;		/* as accepted, without <> */
	const char *orcpt;		/* ORCPT "rfc822;..." or "" */
	unsigned notify;		/* SMTP_NOTIFY_* bits */
	const struct dest *dests;	/* from route_lookup (the routes of */
	size_t	ndests;			/*  insession_mail, kept alive) */
};

/*
 * Add a recipient.  Its SMTP destinations get RCPT on their host's leg at
 * once.  With [delivery] rcpt_check the answer waits for theirs (WAIT; a
 * 5xx answer means the recipient is not part of the transaction); without
 * it, or with Maildir destinations only, it is 250 at once (NOW) and the
 * destinations' answers count at the end of DATA.  reply (replysz >= 64)
 * is filled for NOW.
 */
enum insession_rcpt_result insession_rcpt(struct insession_tx *tx,
	    const struct insession_rcpt *r, char *reply, size_t replysz);
/* True when some recipient has an SMTP destination (else the caller's
 * local path does the job). */
bool	insession_tx_outbound(const struct insession_tx *tx);

/*
 * End of DATA: deliver msg (CRLF, Received: already prepended; taken over,
 * *msg is left empty) to every destination.  meta gives the spool
 * envelope's message fields (id, arrival, sender, body, smtputf8, ret,
 * envid, helo, client_ip; its recipients are ignored).  The transaction
 * then belongs to this module: cb is called exactly once, from the loop,
 * and the transaction is freed after it.  Returns 0, or -1 (out of memory;
 * nothing was started, the caller still owns tx).
 */
int	insession_data(struct insession_tx *tx,
	    const struct spool_envelope *meta, struct buf *msg,
	    insession_done_cb cb, void *arg);

/*
 * The sender's reply for a permanent refusal by a destination (pure, for
 * tests): "CODE ENH <rcpt>: HOST said: TEXT" where CODE is the
 * destination's 5xx (else 550, or 554 at DATA when rcpt is NULL), ENH its
 * enhanced code (else 5.0.0), TEXT its reply text without the reply codes,
 * lines joined by spaces, control bytes made '?'.  Local decisions (no
 * reply from the host: DNS, SIZE, 8BITMIME) give "CODE ENH <rcpt>: TEXT".
 * Cut to fit outsz (at most INSESSION_REPLY_MAX - 2 octets).  Returns the
 * code used.
 */
int	insession_reply_reject(char *out, size_t outsz,
	    const struct smtp_client_reply *r, const char *rcpt);

#endif
