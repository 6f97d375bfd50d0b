/*
 * smtp_server - the inbound SMTP session state machine.  See smtp_server.h.
 *
 * Session states:
 *
 *   S_CMD ──DATA──▶ S_DATA ──CRLF.CRLF──▶ S_WAIT ──job done──▶ S_CMD
 *     │                 │ (error: reply, back to S_CMD)
 *     ├─STARTTLS──▶ S_TLS ──handshake──▶ S_CMD (state reset, EHLO again)
 *     └─QUIT/limit/timeout──▶ S_CLOSING ──output flushed──▶ freed
 *
 * In-session delivery (insession.c): a RCPT may wait for the destination's
 * answer.  Its reply takes a slot in the reply queue (rq_*); later RCPTs
 * are still run (their replies queue behind it), any other command waits
 * with input paused until every slot is filled, so replies leave in
 * command order (RFC 2920).  At the end of DATA a transaction with SMTP
 * destinations goes to insession_data (S_WAIT) instead of a spool job.
 *
 * A session whose peer vanishes while a worker job runs is marked dead and
 * freed by the job's completion (the job holds the message buffers).
 */
#include "smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "bounce.h"
#include "bounce_parse.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "maildir.h"
#include "route.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "deliver.h"
#include "insession.h"
#include "spool.h"
#include "srs.h"
#include "store.h"
#include "suppress.h"
#include "workq.h"

/*
 * Longest command line we will buffer while looking for its end.  Longer
 * lines are discarded up to their LF and answered with 500 5.5.2.
 */
#define SRV_LINE_HARD_MAX	4096
/*
 * RFC 5321 4.5.3.1.4 allows 512 octets; RFC 3461 4 adds 100 for MAIL
 * (RET, ENVID) and 500 for RCPT (NOTIFY, ORCPT), and an SMTPUTF8 address
 * may take up to 4 octets per character of a 256-character path.
 */
#define SRV_LINE_MAX		SMTP_CMDLINE_MAX
#define SRV_LINE_MAX_MAIL	(SMTP_CMDLINE_MAX + 100 + 3 * SMTP_PATH_MAX)
#define SRV_LINE_MAX_RCPT	(SMTP_CMDLINE_MAX + 500 + 3 * SMTP_PATH_MAX)
#define SRV_IP_BUCKETS		1024
#define SRV_ADDR_MAX		(SMTP_LOCAL_MAX * 2 + 3 + 1 + SMTP_DOMAIN_MAX + 1)
/* Replies queued behind a waiting RCPT before input is paused. */
#define SRV_RQ_MAX		1000

enum session_state { S_CMD, S_DATA, S_WAIT, S_TLS, S_CLOSING };

struct ip_count {
	struct ip_count *next;
	unsigned n;
	char	ip[INET6_ADDRSTRLEN];
};

/* A reply that waits its turn behind a RCPT answer still to come. */
struct srv_reply {
	struct srv_reply *next;
	bool	ready;
	char	*text;		/* without CRLF */
};

struct rcpt {
	char	addr[SRV_ADDR_MAX];
	struct smtp_rcpt_args args;
	const struct dest *dests;
	size_t	ndests;
	bool	refused;	/* a destination's 5xx came back for it */
	bool	srs;		/* to our SRS domain: a returned bounce */
	struct srv_reply *slot;	/* its reply, while the answer is awaited */
};

/*
 * A recipient's destinations minus the suppressed ones: shallow copies
 * into the transaction's route table.  In-session delivery keeps pointers
 * into it until its transaction ends, after the session's transaction
 * reset, so the blocks belong to the session and go at the next MAIL or
 * at the end of the session.
 */
struct own_dests {
	struct own_dests *next;
	struct dest d[];
};

struct session;

/*
 * One end-of-DATA delivery handed to a worker thread: local Maildir copies
 * written now (in-session mode), everything else committed to the spool
 * before the client hears 250.
 */
struct delivery_job {
	struct session *s;
	struct spool_envelope env;	/* one recipient per (rcpt, dest) */
	struct buf msg;
	struct timeval arrival;
	bool	local_first;		/* try Maildir copies before spooling */
	bool	returned;		/* to an SRS address: record the bounce */
	/* results */
	size_t	delivered;		/* Maildir copies written */
	bool	spooled;
	int	spool_rc;
};

struct session {
	struct smtp_server *srv;
	struct session *prev, *next;
	struct bufferevent *bev;
	enum session_state state;
	bool	dead;		/* peer gone while a job runs */
	bool	skipping_line;	/* discarding an overlong line */
	struct ip_count *ipc;
	char	ip[INET6_ADDRSTRLEN];
	unsigned port;
	char	helo[256];
	bool	helo_seen;
	bool	esmtp;
	bool	tls;
	char	tls_info[128];
	unsigned errors;
	struct event *close_timer;
	unsigned close_polls;

	/* the transaction */
	bool	mail_seen;
	struct smtp_mail_args mail;
	char	sender[SRV_ADDR_MAX];
	struct rcpt *rcpts;
	size_t	nrcpts;
	size_t	rcpt_cap;
	struct route_table *routes;
	char	qid[SPOOL_ID_SIZE];
	struct timeval arrival;
	struct smtp_data data;
	struct buf msg;
	struct insession_tx *ist;	/* in-session mode */
	struct own_dests *owned;	/* see struct own_dests */

	/* replies in command order while RCPT answers are awaited */
	struct srv_reply *rq_head, *rq_tail;
	size_t	rq_len;
	size_t	rq_pending;	/* slots not yet filled */
	bool	paused;		/* EV_READ off until they are */
};

struct smtp_server {
	struct event_base *base;
	const struct config *cfg;
	SSL_CTX	*ssl_ctx;
	struct workq *wq;
	struct spool *spool;
	struct deliver *deliver;
	struct insession *ins;		/* NULL in mode = queue */
	struct route_table *routes;
	struct session *sessions;
	size_t	nsessions;
	bool	shutting_down;
	struct ip_count *ips[SRV_IP_BUCKETS];
	struct store *store;		/* NULL: no suppression check */
	struct suppress_policy policy;
	const struct srs *srs;		/* NULL: SRS off */
};

/*
 * The suppression check of one RCPT, run on a worker (the store blocks).
 * The session waits (S_WAIT, input off) meanwhile; the recipient sits at
 * rcpts[nrcpts], not yet counted.
 */
struct supp_job {
	struct session *s;
	char	rcpt[SRV_ADDR_MAX];
	const char **specs;
	size_t	n;
	bool	*supp;
	int	rc;
	struct suppress_info info;
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_process(struct session *s);
static void session_free(struct session *s);
static int session_received_header(struct session *s, struct buf *out);

/* ---- small helpers ---------------------------------------------------- */

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 5381;

	while (*ip)
		h = h * 33 + (unsigned char)*ip++;
	return h % SRV_IP_BUCKETS;
}

static struct ip_count *
ip_count_get(struct smtp_server *srv, const char *ip)
{
	struct ip_count *c;
	unsigned h = ip_hash(ip);

	for (c = srv->ips[h]; c; c = c->next)
		if (strcmp(c->ip, ip) == 0)
			return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->next = srv->ips[h];
	srv->ips[h] = c;
	return c;
}

static void
ip_count_put(struct smtp_server *srv, struct ip_count *c)
{
	struct ip_count **pp;

	if (c == NULL || --c->n > 0)
		return;
	for (pp = &srv->ips[ip_hash(c->ip)]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
}

static void
rfc5322_date(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(out, outsz, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static double
elapsed_since(const struct timeval *tv)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - tv->tv_sec) +
	    (double)(now.tv_usec - tv->tv_usec) / 1e6;
}

/* ---- replies ---------------------------------------------------------- */

static void
session_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_rq_append(struct session *s, struct srv_reply *r)
{
	r->next = NULL;
	if (s->rq_tail)
		s->rq_tail->next = r;
	else
		s->rq_head = r;
	s->rq_tail = r;
	s->rq_len++;
}

/* Write the queued replies that are ready, in order. */
static void
session_rq_flush(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct srv_reply *r;

	while ((r = s->rq_head) != NULL && r->ready) {
		evbuffer_add(out, r->text, strlen(r->text));
		evbuffer_add(out, "\r\n", 2);
		s->rq_head = r->next;
		if (s->rq_head == NULL)
			s->rq_tail = NULL;
		s->rq_len--;
		free(r->text);
		free(r);
	}
}

static void
session_rq_free(struct session *s)
{
	struct srv_reply *r;

	while ((r = s->rq_head) != NULL) {
		s->rq_head = r->next;
		free(r->text);
		free(r);
	}
	s->rq_tail = NULL;
	s->rq_len = s->rq_pending = 0;
}

/* Fill a slot; what it held back goes out. */
static void
session_rq_fill(struct session *s, struct srv_reply *slot, const char *text)
{
	slot->text = strdup(text);
	if (slot->text == NULL)
		slot->text = strdup("451 4.3.0 Error: insufficient system "
		    "resources");
	if (slot->text == NULL) {
		/* XXX No memory for even that: the session cannot go on. */
		slot->text = NULL;
	}
	slot->ready = true;
	s->rq_pending--;
	if (slot->text == NULL) {
		session_rq_free(s);
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	session_rq_flush(s);
}

static void
session_reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct srv_reply *r;
	struct buf b;
	va_list ap;

	if (s->rq_head == NULL) {
		va_start(ap, fmt);
		evbuffer_add_vprintf(out, fmt, ap);
		va_end(ap);
		evbuffer_add(out, "\r\n", 2);
		return;
	}
	/* Behind a RCPT answer still to come (RFC 2920: in order). */
	buf_init(&b, 4096);
	va_start(ap, fmt);
	if (buf_vprintf(&b, fmt, ap) != 0 || (r = calloc(1, sizeof(*r))) ==
	    NULL) {
		va_end(ap);
		buf_free(&b);
		return;
	}
	va_end(ap);
	r->ready = true;
	r->text = b.data;	/* NUL-terminated; ours now */
	session_rq_append(s, r);
}

/* ---- closing ---------------------------------------------------------- */

static size_t
session_pending_output(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void
session_close_poll(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	/* Give the peer up to ~10 s to take our last reply, then drop it. */
	if ((session_pending_output(s) == 0 && s->rq_head == NULL) ||
	    ++s->close_polls > 500) {
		session_free(s);
		return;
	}
	evtimer_add(s->close_timer, &tv);
}

/* Stop reading, flush what we said, then free the session. */
static void
session_close(struct session *s)
{
	struct timeval tv = { 0, 0 };

	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(s->srv->base, session_close_poll, s);
	if (s->close_timer == NULL) {
		session_free(s);
		return;
	}
	evtimer_add(s->close_timer, &tv);
}

/* ---- transaction ------------------------------------------------------ */

static void
session_tx_reset(struct session *s)
{
	size_t i;

	/* Abandoned before DATA: outbound sessions get RSET, never a dot. */
	insession_tx_free(s->ist);
	s->ist = NULL;
	for (i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].slot != NULL) {
			/* Not reached: commands wait for these answers. */
			session_rq_fill(s, s->rcpts[i].slot,
			    "451 4.3.0 Error: transaction aborted");
			s->rcpts[i].slot = NULL;
		}
	s->mail_seen = false;
	memset(&s->mail, 0, sizeof(s->mail));
	s->sender[0] = '\0';
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = s->rcpt_cap = 0;
	route_table_free(s->routes);
	s->routes = NULL;
	s->qid[0] = '\0';
	buf_free(&s->msg);
}

static void
session_owned_free(struct session *s)
{
	struct own_dests *o;

	while ((o = s->owned) != NULL) {
		s->owned = o->next;
		free(o);
	}
}

static void
session_free(struct session *s)
{
	struct smtp_server *srv = s->srv;

	if (s->state == S_WAIT) {
		/* A worker holds the job; its completion frees us. */
		s->dead = true;
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	session_tx_reset(s);
	session_owned_free(s);
	session_rq_free(s);
	if (s->close_timer)
		event_free(s->close_timer);
	if (s->bev)
		bufferevent_free(s->bev);
	ip_count_put(srv, s->ipc);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	free(s);
}

/* Count a client error; after max_errors the session ends with 421. */
static bool
session_error_limit(struct session *s)
{
	if (++s->errors < s->srv->cfg->max_errors)
		return false;
	session_reply(s, "421 4.7.0 %s Error: too many errors; closing",
	    s->srv->cfg->hostname);
	log_info("too many errors from [%s]; disconnecting", s->ip);
	session_close(s);
	return true;
}

/* ---- commands --------------------------------------------------------- */

static void
cmd_helo(struct session *s, const struct smtp_cmd *cmd, bool esmtp)
{
	const struct config *cfg = s->srv->cfg;
	size_t n = cmd->arg_len < sizeof(s->helo) - 1 ? cmd->arg_len : sizeof(s->helo) - 1;

	session_tx_reset(s);
	log_sanitize(s->helo, sizeof(s->helo), cmd->arg, n);
	s->helo_seen = true;
	s->esmtp = esmtp;
	if (!esmtp) {
		session_reply(s, "250 %s", cfg->hostname);
		return;
	}
	session_reply(s, "250-%s", cfg->hostname);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %zu", cfg->max_message_size);
	if (s->srv->ssl_ctx != NULL && !s->tls)
		session_reply(s, "250-STARTTLS");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-DSN");
	session_reply(s, "250 SMTPUTF8");
}

static bool
mail_has_esmtp_params(const struct smtp_mail_args *m)
{
	return m->size >= 0 || m->smtputf8 || m->body != SMTP_BODY_7BIT ||
	    m->ret != SMTP_RET_NONE || m->envid[0] != '\0';
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->srv->cfg;
	const char *reply = NULL;

	if (!s->helo_seen) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		session_error_limit(s);
		return;
	}
	if (s->mail_seen) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		session_error_limit(s);
		return;
	}
	session_owned_free(s);	/* the last transaction is over */
	if (smtp_mail_parse(cmd->arg, cmd->arg_len, &s->mail, &reply) != 0) {
		session_reply(s, "%s", reply);
		session_error_limit(s);
		return;
	}
	if (!s->esmtp && mail_has_esmtp_params(&s->mail)) {
		session_reply(s, "555 5.5.4 ESMTP parameters need EHLO");
		session_error_limit(s);
		return;
	}
	if (s->mail.size >= 0 && (unsigned long long)s->mail.size > cfg->max_message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit of %zu bytes",
		    cfg->max_message_size);
		return;
	}
	if (s->mail.null_sender)
		s->sender[0] = '\0';
	else if (smtp_mailbox_format(&s->mail.from, s->sender, sizeof(s->sender)) < 0) {
		session_reply(s, "501 5.1.7 Bad sender address syntax");
		session_error_limit(s);
		return;
	}
	s->mail_seen = true;
	s->routes = route_table_ref(s->srv->routes);
	spool_id_new(s->srv->spool, s->qid);
	gettimeofday(&s->arrival, NULL);
	session_reply(s, "250 2.1.0 Ok");
}

/* Recipients in the transaction (not refused by their destinations). */
static size_t
session_valid_rcpts(const struct session *s, const struct rcpt **first)
{
	size_t i, n = 0;

	for (i = 0; i < s->nrcpts; i++)
		if (!s->rcpts[i].refused) {
			if (n++ == 0 && first != NULL)
				*first = &s->rcpts[i];
		}
	return n;
}

/* Input may flow again once every awaited RCPT answer went out. */
static void
session_rq_resume(struct session *s)
{
	if (s->rq_pending > 0 || s->state != S_CMD)
		return;
	if (s->paused) {
		s->paused = false;
		bufferevent_enable(s->bev, EV_READ);
	}
	session_process(s);
}

/* insession: the destinations answered a RCPT that was left waiting. */
static void
session_rcpt_answer(void *arg, size_t tag, int code, const char *reply)
{
	struct session *s = arg;
	struct rcpt *r;

	if (tag >= s->nrcpts || s->rcpts[tag].slot == NULL)
		return;
	r = &s->rcpts[tag];
	if (code >= 500) {
		r->refused = true;
		log_info("%s: reject RCPT from [%s]: to=<%s>: %s", s->qid, s->ip,
		    r->addr, reply);
	}
	session_rq_fill(s, r->slot, reply);
	r->slot = NULL;
	session_rq_resume(s);
}

static struct insession_tx *
session_insession_tx(struct session *s)
{
	struct insession_mail m;

	memset(&m, 0, sizeof(m));
	m.qid = s->qid;
	m.sender = s->sender;
	m.size = s->mail.size;
	m.eightbit = s->mail.body != SMTP_BODY_7BIT;
	m.smtputf8 = s->mail.smtputf8;
	m.ret = s->mail.ret;
	m.envid = s->mail.envid;
	m.routes = s->routes;
	return insession_tx_new(s->srv->ins, &m, session_rcpt_answer, s);
}

/*
 * In-session mode: hand the recipient to insession.  Returns true when the
 * recipient joins the transaction now (the caller answers 250), false when
 * the answer is given (or left waiting) here.
 */
static bool
session_rcpt_insession(struct session *s, struct rcpt *r)
{
	struct insession_rcpt ir;
	struct srv_reply *slot;
	char reply[INSESSION_REPLY_MAX];

	if (s->ist == NULL && (s->ist = session_insession_tx(s)) == NULL)
		goto nomem;
	if ((slot = calloc(1, sizeof(*slot))) == NULL)
		goto nomem;
	memset(&ir, 0, sizeof(ir));
	ir.tag = s->nrcpts;
	ir.addr = r->addr;
	ir.orcpt = r->args.orcpt;
	ir.notify = r->args.notify;
	ir.dests = r->dests;
	ir.ndests = r->ndests;
	switch (insession_rcpt(s->ist, &ir, reply, sizeof(reply))) {
	case INSESSION_RCPT_NOW:
		free(slot);
		if (reply[0] == '2')
			return true;
		session_reply(s, "%s", reply);
		log_info("%s: reject RCPT from [%s]: to=<%s>: %s", s->qid,
		    s->ip, r->addr, reply);
		return false;
	case INSESSION_RCPT_WAIT:
		r->slot = slot;
		s->nrcpts++;
		session_rq_append(s, slot);
		s->rq_pending++;
		return false;
	case INSESSION_RCPT_SPLIT:
		free(slot);
		/* RFC 5321 4.5.3.1.10: the sender sends it in a new one. */
		session_reply(s, "452 4.5.3 <%s>: Too many recipients for this "
		    "transaction: one destination per message, please send "
		    "it separately", r->addr);
		return false;
	default:
		free(slot);
		break;
	}
nomem:
	session_reply(s, "451 4.3.0 Error: insufficient system resources");
	return false;
}

/* The recipient r (at rcpts[nrcpts]) passed every check: take it. */
static void
session_rcpt_accept(struct session *s, struct rcpt *r)
{
	if (s->srv->ins != NULL && !session_rcpt_insession(s, r))
		return;
	s->nrcpts++;
	session_reply(s, "250 2.1.5 Ok");
}

static void
supp_job_free(struct supp_job *j)
{
	free(j->specs);
	free(j->supp);
	free(j);
}

/* Worker: which destinations of the recipient are suppressed. */
static void
supp_job_work(void *arg)
{
	struct supp_job *j = arg;

	j->rc = suppress_check_dests(j->s->srv->store, j->rcpt, j->specs, j->n,
	    (int64_t)time(NULL), j->supp, &j->info);
}

static void
supp_job_done(void *arg)
{
	struct supp_job *j = arg;
	struct session *s = j->s;
	struct rcpt *r = &s->rcpts[s->nrcpts];
	char text[SUPPRESS_REPLY_MAX];
	struct own_dests *od;
	size_t i, k;

	s->state = S_CMD;
	if (s->dead) {
		supp_job_free(j);
		session_free(s);
		return;
	}
	if (j->rc < 0) {
		/* suppress.h: an unreadable store never refuses mail. */
		log_warn("%s: suppression check for <%s> failed: %s (%s); "
		    "accepting", s->qid, r->addr, store_strerror(j->rc),
		    store_errmsg(s->srv->store));
		session_rcpt_accept(s, r);
	} else if ((size_t)j->rc == j->n && j->n > 0) {
		if (suppress_reply_text(&j->info, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "destination suppressed");
		session_reply(s, "550 5.1.1 <%s>: %s", r->addr, text);
		log_info("%s: reject RCPT from [%s]: suppressed: to=<%s>: %s",
		    s->qid, s->ip, r->addr, text);
	} else if (j->rc > 0 && j->n <= ROUTE_MAX_DESTS &&
	    (od = calloc(1, sizeof(*od) + j->n * sizeof(od->d[0]))) != NULL) {
		/* Fan-out: deliver to the destinations still alive. */
		od->next = s->owned;
		s->owned = od;
		for (i = k = 0; i < j->n; i++) {
			if (j->supp[i]) {
				log_info("%s: to=<%s>: skipping suppressed "
				    "destination %s", s->qid, r->addr,
				    r->dests[i].spec);
				continue;
			}
			od->d[k++] = r->dests[i];
		}
		r->dests = od->d;
		r->ndests = k;
		session_rcpt_accept(s, r);
	} else {
		session_rcpt_accept(s, r);
	}
	supp_job_free(j);
	bufferevent_set_timeouts(s->bev,
	    &(struct timeval){ .tv_sec = s->srv->cfg->command_timeout }, NULL);
	if (!s->paused)
		bufferevent_enable(s->bev, EV_READ);
	session_process(s);	/* commands pipelined behind the RCPT */
}

/*
 * Start the suppression check of r on a worker.  0: the session waits for
 * supp_job_done; -1: could not start (out of memory): go on unchecked.
 */
static int
session_supp_start(struct session *s, struct rcpt *r)
{
	struct supp_job *j;
	size_t i;

	if (r->ndests == 0 || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->s = s;
	j->n = r->ndests;
	snprintf(j->rcpt, sizeof(j->rcpt), "%s", r->addr);
	j->specs = calloc(j->n, sizeof(*j->specs));
	j->supp = calloc(j->n, sizeof(*j->supp));
	if (j->specs == NULL || j->supp == NULL)
		goto fail;
	for (i = 0; i < j->n; i++)
		j->specs[i] = r->dests[i].spec;
	if (workq_submit(s->srv->wq, supp_job_work, supp_job_done, j) != 0)
		goto fail;
	s->state = S_WAIT;
	bufferevent_disable(s->bev, EV_READ);
	return 0;
fail:
	supp_job_free(j);
	return -1;
}

/*
 * RCPT to our SRS domain: a bounce coming back for mail we forwarded.
 * Verify the address (srs.h); a good one goes to the original sender, by
 * its route when we host its domain, else as a forward by MX.  0 with
 * *dests set, or -1 when the RCPT has been answered (refused).
 */
static int
session_srs_rcpt(struct session *s, const char *addr,
    const struct dest **dests, size_t *ndests)
{
	char orig[SRS_ADDR_MAX];
	struct own_dests *od;
	const char *at;
	size_t len;
	int rc;

	rc = srs_reverse(s->srv->srs, addr, (int64_t)time(NULL), orig,
	    sizeof(orig));
	if (rc == SRS_ECRYPTO) {
		session_reply(s, "451 4.3.0 <%s>: local error verifying the "
		    "SRS address", addr);
		log_error("%s: SRS reverse of <%s>: %s", s->qid, addr,
		    srs_strerror(rc));
		return -1;
	}
	if (rc != SRS_OK || (at = strrchr(orig, '@')) == NULL) {
		/* Forged, mangled or aged out: refuse (RFC 5321 4.2.2). */
		session_reply(s, "550 5.7.1 <%s>: invalid SRS address%s", addr,
		    rc == SRS_EEXPIRED ? ": expired" : "");
		log_info("%s: reject RCPT from [%s]: SRS: to=<%s>: %s", s->qid,
		    s->ip, addr, srs_strerror(rc));
		return -1;
	}
	log_info("%s: to=<%s>: SRS address of <%s>: returned bounce", s->qid,
	    addr, orig);
	if (route_domain_hosted(s->routes, at + 1, strlen(at + 1))) {
		if (route_lookup(s->routes, orig, (size_t)(at - orig), at + 1,
		    strlen(at + 1), dests, ndests) != ROUTE_FOUND) {
			session_reply(s, "550 5.1.1 <%s>: Recipient address "
			    "rejected: User unknown", addr);
			log_info("%s: reject RCPT from [%s]: SRS: to=<%s>: "
			    "original sender <%s> unknown", s->qid, s->ip,
			    addr, orig);
			return -1;
		}
		return 0;
	}
	/* A forward to the original sender; the session owns the block. */
	len = strlen(orig) + 1;
	if ((od = calloc(1, sizeof(*od) + sizeof(od->d[0]) + len)) == NULL) {
		session_reply(s, "452 4.3.1 Insufficient system resources");
		return -1;
	}
	od->next = s->owned;
	s->owned = od;
	od->d[0].kind = DEST_FORWARD;
	od->d[0].address = (char *)&od->d[1];
	memcpy(od->d[0].address, orig, len);
	od->d[0].spec = od->d[0].address;
	*dests = od->d;
	*ndests = 1;
	return 0;
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->srv->cfg;
	struct smtp_rcpt_args args;
	const struct dest *dests = NULL;
	size_t ndests = 0;
	const char *reply = NULL;
	char addr[SRV_ADDR_MAX];
	enum route_result rr;
	struct rcpt *r;
	bool is_srs = false;

	if (!s->mail_seen) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error_limit(s);
		return;
	}
	if (s->nrcpts >= cfg->max_recipients) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (smtp_rcpt_parse(cmd->arg, cmd->arg_len, s->mail.smtputf8, &args, &reply) != 0) {
		session_reply(s, "%s", reply);
		session_error_limit(s);
		return;
	}
	if (args.postmaster) {
		/* RFC 5321 4.5.1: <Postmaster> is the hosted postmaster. */
		snprintf(args.to.local, sizeof(args.to.local), "postmaster");
		args.to.local_len = strlen(args.to.local);
		snprintf(args.to.domain, sizeof(args.to.domain), "%s", cfg->hostname);
		args.to.domain_len = strlen(args.to.domain);
	}
	if (smtp_mailbox_format(&args.to, addr, sizeof(addr)) < 0) {
		session_reply(s, "501 5.1.3 Bad recipient address syntax");
		session_error_limit(s);
		return;
	}
	/* An address literal is never one of our domains: no relaying to it. */
	if (args.to.literal)
		rr = ROUTE_NOT_HOSTED;
	else if (s->srv->srs != NULL &&
	    args.to.domain_len == strlen(s->srv->srs->domain) &&
	    strncasecmp(args.to.domain, s->srv->srs->domain,
	    args.to.domain_len) == 0) {
		if (session_srs_rcpt(s, addr, &dests, &ndests) != 0)
			return;		/* answered */
		is_srs = true;
		rr = ROUTE_FOUND;
	}
	else
		rr = route_lookup(s->routes, args.to.local, args.to.local_len,
		    args.to.domain, args.to.domain_len, &dests, &ndests);
	if (rr == ROUTE_NOT_HOSTED) {
		session_reply(s, "550 5.7.1 <%s>: Relay access denied", addr);
		log_info("%s: reject RCPT from [%s]: relay access denied: to=<%s>",
		    s->qid, s->ip, addr);
		return;
	}
	if (rr != ROUTE_FOUND) {
		session_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown", addr);
		log_info("%s: reject RCPT from [%s]: user unknown: to=<%s>",
		    s->qid, s->ip, addr);
		return;
	}
	if (s->nrcpts == s->rcpt_cap) {
		size_t ncap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
		struct rcpt *nr = realloc(s->rcpts, ncap * sizeof(*nr));

		if (nr == NULL) {
			session_reply(s, "452 4.3.1 Insufficient system resources");
			return;
		}
		s->rcpts = nr;
		s->rcpt_cap = ncap;
	}
	r = &s->rcpts[s->nrcpts];
	memset(r, 0, sizeof(*r));
	memcpy(r->addr, addr, sizeof(addr));
	r->args = args;
	r->dests = dests;
	r->ndests = ndests;
	r->srs = is_srs;
	if (s->srv->store != NULL && session_supp_start(s, r) == 0)
		return;		/* session_supp_done goes on */
	session_rcpt_accept(s, r);
}

static void
cmd_data(struct session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->srv->cfg;

	if (cmd->arg_len > 0) {
		session_reply(s, "501 5.5.4 Syntax error: DATA takes no parameters");
		session_error_limit(s);
		return;
	}
	if (!s->mail_seen) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error_limit(s);
		return;
	}
	if (session_valid_rcpts(s, NULL) == 0) {
		session_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	smtp_data_init(&s->data, cfg->max_line_length, cfg->max_header_size,
	    cfg->max_message_size, cfg->max_received_headers);
	/*
	 * Our Received: header goes first, so the message is built in place
	 * and handed on at the end of DATA without a copy.
	 */
	buf_init(&s->msg, cfg->max_message_size + 4096);
	if (session_received_header(s, &s->msg) != 0) {
		buf_free(&s->msg);
		session_reply(s, "451 4.3.0 Error: insufficient system resources");
		return;
	}
	s->state = S_DATA;
	bufferevent_set_timeouts(s->bev,
	    &(struct timeval){ .tv_sec = cfg->data_timeout }, NULL);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_starttls(struct session *s)
{
	struct bufferevent *tlsbev;
	struct evbuffer *in;
	SSL *ssl;

	if (s->srv->ssl_ctx == NULL) {
		session_reply(s, "502 5.5.1 Error: command not implemented");
		session_error_limit(s);
		return;
	}
	if (s->tls) {
		session_reply(s, "503 5.5.1 Error: TLS already active");
		session_error_limit(s);
		return;
	}
	if (!s->helo_seen) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		session_error_limit(s);
		return;
	}
	/*
	 * RFC 3207 4.2 and CVE-2011-0411: anything the client pipelined after
	 * STARTTLS was sent in the clear and must not be executed inside TLS.
	 */
	in = bufferevent_get_input(s->bev);
	if (evbuffer_get_length(in) > 0) {
		log_warn("[%s]: discarding %zu bytes pipelined after STARTTLS",
		    s->ip, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if ((ssl = SSL_new(s->srv->ssl_ctx)) == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to local problem");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	tlsbev = bufferevent_openssl_filter_new(s->srv->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tlsbev == NULL) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	s->bev = tlsbev;
	s->state = S_TLS;
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	session_tx_reset(s);
	s->helo_seen = false;
	s->esmtp = false;
	s->helo[0] = '\0';
	bufferevent_setcb(tlsbev, session_read_cb, NULL, session_event_cb, s);
	bufferevent_set_timeouts(tlsbev,
	    &(struct timeval){ .tv_sec = s->srv->cfg->command_timeout }, NULL);
	bufferevent_enable(tlsbev, EV_READ | EV_WRITE);
}

static void
session_command(struct session *s, const char *line, size_t len)
{
	const struct config *cfg = s->srv->cfg;
	struct smtp_cmd cmd;
	const char *reply = NULL;
	size_t max;

	if (smtp_cmd_parse(line, len, &cmd, &reply) != 0) {
		session_reply(s, "%s", reply);
		session_error_limit(s);
		return;
	}
	max = cmd.verb == SMTP_VERB_MAIL ? SRV_LINE_MAX_MAIL :
	    cmd.verb == SMTP_VERB_RCPT ? SRV_LINE_MAX_RCPT : SRV_LINE_MAX;
	if (len + 2 > max) {
		session_reply(s, "500 5.5.2 Error: command line too long");
		session_error_limit(s);
		return;
	}
	if (s->srv->shutting_down && !s->mail_seen && cmd.verb != SMTP_VERB_QUIT) {
		session_reply(s, "421 4.3.2 %s Service shutting down", cfg->hostname);
		session_close(s);
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
		cmd_helo(s, &cmd, false);
		break;
	case SMTP_VERB_EHLO:
		cmd_helo(s, &cmd, true);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		cmd_data(s, &cmd);
		break;
	case SMTP_VERB_RSET:
		session_tx_reset(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		session_reply(s, "221 2.0.0 Bye");
		session_close(s);
		break;
	case SMTP_VERB_HELP:
		session_reply(s, "214 2.0.0 See RFC 5321; commands: HELO EHLO MAIL "
		    "RCPT DATA RSET NOOP QUIT HELP VRFY STARTTLS");
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252 without confirming anything. */
		session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		session_reply(s, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s);
		break;
	case SMTP_VERB_AUTH:
	case SMTP_VERB_BDAT:
		session_reply(s, "502 5.5.1 Error: command not implemented");
		session_error_limit(s);
		break;
	case SMTP_VERB_UNKNOWN:
	default:
		session_reply(s, "500 5.5.1 Error: command not recognized");
		session_error_limit(s);
		break;
	}
}

/*
 * Take one complete line from the input and run it.  Returns false when
 * there is no complete line yet.
 */
static bool
session_read_line(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char line[SRV_LINE_HARD_MAX + 1];
	struct evbuffer_ptr p;
	size_t len;

	p = evbuffer_search(in, "\n", 1, NULL);
	if (p.pos >= 0 && s->rq_pending > 0) {
		char verb[5];

		/*
		 * RCPT answers are awaited: more RCPTs may run (their replies
		 * queue up), anything else waits for them, with input paused.
		 */
		if (s->rq_len >= SRV_RQ_MAX || p.pos < 5 ||
		    evbuffer_copyout(in, verb, 5) != 5 ||
		    strncasecmp(verb, "RCPT ", 5) != 0) {
			s->paused = true;
			bufferevent_disable(s->bev, EV_READ);
			return false;
		}
	}
	if (p.pos < 0) {
		len = evbuffer_get_length(in);
		if (len > SRV_LINE_HARD_MAX) {
			/* Keep memory bounded: drop it and answer at its end. */
			evbuffer_drain(in, len);
			s->skipping_line = true;
		}
		return false;
	}
	len = (size_t)p.pos;
	if (s->skipping_line || len > SRV_LINE_HARD_MAX) {
		evbuffer_drain(in, len + 1);
		s->skipping_line = false;
		session_reply(s, "500 5.5.2 Error: command line too long");
		session_error_limit(s);
		return true;
	}
	evbuffer_remove(in, line, len + 1);
	if (len == 0 || line[len - 1] != '\r') {
		/* RFC 5321 2.3.8: a command ends with CRLF, never a bare LF. */
		session_reply(s, "500 5.5.2 Error: bare LF in command; "
		    "lines must end with CRLF");
		session_error_limit(s);
		return true;
	}
	session_command(s, line, len - 1);
	return true;
}

/* ---- end of DATA ------------------------------------------------------ */

static int
session_received_header(struct session *s, struct buf *out)
{
	const struct rcpt *first = NULL;
	size_t n = session_valid_rcpts(s, &first);
	const char *with;
	char date[64];

	if (s->mail.smtputf8)
		with = s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->esmtp)
		with = s->tls ? "ESMTPS" : "ESMTP";
	else
		with = s->tls ? "SMTPS" : "SMTP";
	rfc5322_date(time(NULL), date, sizeof(date));
	if (buf_printf(out, "Received: from %s ([%s])\r\n", s->helo, s->ip) ||
	    (s->tls && buf_printf(out, "\t(using %s)\r\n", s->tls_info)) ||
	    buf_printf(out, "\tby %s (Cleanbox Relay) with %s id %s\r\n",
		s->srv->cfg->hostname, with, s->qid) ||
	    (n == 1 && buf_printf(out, "\tfor <%s>", first->addr)) ||
	    buf_printf(out, "%s; %s\r\n", n == 1 ? "" : "\t", date))
		return -1;
	return 0;
}

/* Worker thread: local copies first (in-session mode), then the spool. */
/*
 * A message to an SRS address is a bounce returned for mail we forwarded:
 * record each failed recipient it reports (suppress.h, source returned),
 * which feeds the suppression of the forwarded destination.  Worker
 * thread (the store blocks).  The message itself is delivered as usual.
 */
static void
returned_bounce_record(struct store *st, const struct suppress_policy *pol,
    const char *id, const char *data, size_t len)
{
	struct bounce_report rep;
	size_t i;

	memset(&rep, 0, sizeof(rep));
	if (bounce_parse(data, len, &rep) != 0) {
		log_warn("%s: returned bounce: out of memory parsing it", id);
		goto out;
	}
	if (rep.n == 0)
		log_info("%s: returned bounce: no failure report found", id);
	for (i = 0; i < rep.n; i++) {
		const struct bounce_result *br = &rep.results[i];
		struct suppress_outcome o;
		enum suppress_effect eff;
		char key[STORE_DEST_MAX];
		int rc;

		if (br->recipient[0] == '\0' || br->verdict.hard ==
		    BOUNCE_NOTFAIL)
			continue;
		if (suppress_key(br->recipient, NULL, key, sizeof(key)) < 0)
			continue;
		memset(&o, 0, sizeof(o));
		o.dest = key;
		o.rcpt = br->recipient;
		o.reply = atoi(br->reply);
		o.status = br->status;
		o.reason = bounce_reason_name(br->verdict.reason);
		o.hard = br->verdict.hard;
		o.text = br->diagnostic;
		o.source = SUPPRESS_SRC_RETURNED;
		o.now = (int64_t)time(NULL);
		rc = suppress_record(st, pol, &o, &eff);
		if (rc < 0)
			log_warn("%s: returned bounce for <%s>: cannot record "
			    "it: %s (%s)", id, br->recipient,
			    store_strerror(rc), store_errmsg(st));
		else
			log_info("%s: returned bounce: to=<%s>, dsn=%s, "
			    "reason=%s, %s", id, br->recipient, br->status,
			    o.reason, suppress_effect_name(eff));
	}
out:
	bounce_report_free(&rep);
}

/* In-session delivery has no delivery job: the record goes on its own. */
struct returned_job {
	struct store *st;
	struct suppress_policy pol;
	char	id[SPOOL_ID_SIZE];
	struct buf msg;
};

static void
returned_job_work(void *arg)
{
	struct returned_job *j = arg;

	returned_bounce_record(j->st, &j->pol, j->id, j->msg.data, j->msg.len);
}

static void
returned_job_done(void *arg)
{
	struct returned_job *j = arg;

	buf_free(&j->msg);
	free(j);
}

/* Start recording the returned bounce msg (a copy) of s, if it is one. */
static void
session_returned_start(struct session *s, const struct buf *msg)
{
	struct returned_job *j;
	size_t i;

	if (s->srv->store == NULL)
		return;
	for (i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].srs && !s->rcpts[i].refused)
			break;
	if (i == s->nrcpts)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->st = s->srv->store;
	j->pol = s->srv->policy;
	snprintf(j->id, sizeof(j->id), "%s", s->qid);
	buf_init(&j->msg, 0);
	if (buf_append(&j->msg, msg->data, msg->len) != 0 ||
	    workq_submit(s->srv->wq, returned_job_work, returned_job_done,
	    j) != 0) {
		returned_job_done(j);
		goto fail;
	}
	return;
fail:
	log_warn("%s: returned bounce not recorded: out of memory", s->qid);
}

static void
delivery_job_work(void *arg)
{
	struct delivery_job *job = arg;
	struct spool_envelope *env = &job->env;
	struct dest d;
	const char *why;
	char err[256];
	size_t i;
	bool pending = false;

	if (job->returned && job->s->srv->store != NULL)
		returned_bounce_record(job->s->srv->store, &job->s->srv->policy,
		    env->id, job->msg.data, job->msg.len);
	for (i = 0; i < env->nrcpt; i++) {
		struct spool_rcpt *r = &env->rcpt[i];

		memset(&d, 0, sizeof(d));
		if (job->local_first && strncmp(r->dest, "maildir:", 8) == 0 &&
		    route_dest_parse(r->dest, strlen(r->dest), &d, &why) == 0) {
			if (maildir_deliver(d.path, env->sender, r->addr,
			    job->msg.data, job->msg.len, err, sizeof(err)) == 0) {
				r->state = SPOOL_RCPT_DELIVERED;
				job->delivered++;
				log_info("%s: to=<%s>, relay=local, delay=%.2f, "
				    "dsn=2.0.0, status=sent (delivered to maildir %s)",
				    env->id, r->addr, elapsed_since(&job->arrival),
				    d.path);
			} else {
				/* Not lost: it goes to the spool and is retried. */
				log_warn("%s: to=<%s>, relay=local, delay=%.2f, "
				    "dsn=4.3.0, status=deferred (maildir %s: %s)",
				    env->id, r->addr, elapsed_since(&job->arrival),
				    d.path, err);
			}
		}
		route_dest_clear(&d);
		if (r->state == SPOOL_RCPT_PENDING)
			pending = true;
	}
	if (!pending)
		return;
	job->spool_rc = spool_message_create(job->s->srv->spool, env,
	    job->msg.data, job->msg.len, NULL);
	job->spooled = job->spool_rc == SPOOL_OK;
}

static void
delivery_job_free(struct delivery_job *job)
{
	buf_free(&job->msg);
	spool_envelope_free(&job->env);
	free(job);
}

static void session_wait_over(struct session *s);

/* Loop thread: answer the client with the outcome. */
static void
delivery_job_done(void *arg)
{
	struct delivery_job *job = arg;
	struct session *s = job->s;
	bool ok = job->spool_rc == SPOOL_OK;
	char id[sizeof(job->env.id)];

	snprintf(id, sizeof(id), "%s", job->env.id);
	if (job->spooled)
		deliver_enqueue(s->srv->deliver, &job->env, &job->msg);
	if (!ok)
		log_error("%s: cannot queue the message: %s", id,
		    spool_strerror(job->spool_rc));
	if (s->dead) {
		log_warn("%s: client [%s] gone before the reply; message %s",
		    id, s->ip, ok ? "kept" : "not kept");
		delivery_job_free(job);
		s->state = S_CMD;
		session_free(s);
		return;
	}
	if (ok)
		session_reply(s, "250 2.0.0 Ok: queued as %s", id);
	else
		/*
		 * XXX Maildir copies already written may be written again when
		 * the sender retries; a duplicate is better than a loss.
		 */
		session_reply(s, "452 4.3.1 Insufficient system storage; "
		    "try again later");
	delivery_job_free(job);
	session_wait_over(s);
}

/* The end-of-DATA reply went out: take commands again. */
static void
session_wait_over(struct session *s)
{
	s->state = S_CMD;
	bufferevent_set_timeouts(s->bev,
	    &(struct timeval){ .tv_sec = s->srv->cfg->command_timeout }, NULL);
	bufferevent_enable(s->bev, EV_READ);
	if (s->srv->shutting_down) {
		session_reply(s, "421 4.3.2 %s Service shutting down",
		    s->srv->cfg->hostname);
		session_close(s);
		return;
	}
	session_process(s);	/* commands pipelined behind the message */
}

#define SRV_FORWARD_DEPTH	5

/*
 * Add one spool recipient per destination of r.  A forward to a domain we
 * host is followed through the route table (a few levels deep), so mail
 * for our own users never leaves through DNS.
 */
static int
job_add_dests(struct delivery_job *job, struct route_table *rt,
    const struct rcpt *r, const struct dest *dests, size_t ndests, int depth)
{
	size_t i;

	for (i = 0; i < ndests; i++) {
		const struct dest *d = &dests[i];
		const struct dest *sub;
		size_t nsub;
		struct spool_rcpt *sr;
		const char *at;

		if (d->kind == DEST_FORWARD && depth < SRV_FORWARD_DEPTH &&
		    (at = strrchr(d->address, '@')) != NULL &&
		    route_lookup(rt, d->address, (size_t)(at - d->address), at + 1,
		    strlen(at + 1), &sub, &nsub) == ROUTE_FOUND) {
			if (job_add_dests(job, rt, r, sub, nsub, depth + 1) != 0)
				return -1;
			continue;
		}
		if ((sr = spool_envelope_add_rcpt(&job->env)) == NULL)
			return -1;
		snprintf(sr->addr, sizeof(sr->addr), "%s", r->addr);
		snprintf(sr->orcpt, sizeof(sr->orcpt), "%s", r->args.orcpt);
		sr->notify = r->args.notify;
		snprintf(sr->dest, sizeof(sr->dest), "%s", d->spec);
	}
	return 0;
}

/* The spool envelope's message fields, from the transaction. */
static void
session_env_meta(const struct session *s, struct spool_envelope *env)
{
	snprintf(env->id, sizeof(env->id), "%s", s->qid);
	env->arrival = s->arrival.tv_sec;
	snprintf(env->sender, sizeof(env->sender), "%s", s->sender);
	env->body = s->data.eightbit ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	env->smtputf8 = s->mail.smtputf8;
	env->ret = s->mail.ret;
	snprintf(env->envid, sizeof(env->envid), "%s", s->mail.envid);
	snprintf(env->helo, sizeof(env->helo), "%s", s->helo);
	snprintf(env->client_ip, sizeof(env->client_ip), "%s", s->ip);
}

/* Move the received message (Received: header included) out of s. */
static void
session_take_msg(struct session *s, struct buf *out)
{
	*out = s->msg;
	buf_init(&s->msg, 0);
}

static struct delivery_job *
session_make_job(struct session *s)
{
	const struct config *cfg = s->srv->cfg;
	struct delivery_job *job;
	size_t i;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	job->s = s;
	spool_envelope_init(&job->env);
	buf_init(&job->msg, 0);
	job->arrival = s->arrival;
	job->spool_rc = SPOOL_OK;
	job->local_first = cfg->delivery_mode == DELIVERY_IN_SESSION;
	session_env_meta(s, &job->env);
	for (i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].srs && !s->rcpts[i].refused)
			job->returned = true;
	for (i = 0; i < s->nrcpts; i++)
		if (!s->rcpts[i].refused &&
		    job_add_dests(job, s->routes, &s->rcpts[i], s->rcpts[i].dests,
		    s->rcpts[i].ndests, 0) != 0) {
			delivery_job_free(job);
			return NULL;
		}
	session_take_msg(s, &job->msg);
	return job;
}

/* insession: the destinations' verdict on the message. */
static void
session_insession_done(void *arg, int code, const char *reply)
{
	struct session *s = arg;

	if (s->dead) {
		log_warn("client [%s] gone before the reply (%d)", s->ip, code);
		s->state = S_CMD;
		session_free(s);
		return;
	}
	session_reply(s, "%s", reply);
	session_wait_over(s);
}

/* End of DATA with SMTP destinations: deliver while the sender waits. */
static void
session_data_insession(struct session *s)
{
	struct spool_envelope meta;
	struct buf msg;

	spool_envelope_init(&meta);
	session_env_meta(s, &meta);
	session_take_msg(s, &msg);
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu, client=%s[%s]%s, "
	    "in-session", s->qid, s->sender, msg.len,
	    session_valid_rcpts(s, NULL), s->helo, s->ip, s->tls ? ", tls" : "");
	session_returned_start(s, &msg);
	if (insession_data(s->ist, &meta, &msg, session_insession_done, s) != 0)
		goto nomem;
	s->ist = NULL;		/* insession's now; it calls back */
	session_tx_reset(s);
	s->state = S_WAIT;
	bufferevent_disable(s->bev, EV_READ);
	return;
nomem:
	buf_free(&msg);
	session_reply(s, "451 4.3.0 Error: insufficient system resources");
	session_tx_reset(s);
}

static void
session_data_done(struct session *s)
{
	enum smtp_data_err err = smtp_data_error(&s->data);
	struct delivery_job *job;

	s->state = S_CMD;
	bufferevent_set_timeouts(s->bev,
	    &(struct timeval){ .tv_sec = s->srv->cfg->command_timeout }, NULL);
	if (err != SMTP_DATA_OK) {
		session_reply(s, "%s", smtp_data_reply(err));
		log_info("%s: reject DATA from [%s]: %s", s->qid, s->ip,
		    smtp_data_reply(err));
		session_tx_reset(s);
		return;
	}
	if (s->ist != NULL && insession_tx_outbound(s->ist)) {
		session_data_insession(s);
		return;
	}
	if ((job = session_make_job(s)) == NULL)
		goto nomem;
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu, client=%s[%s]%s", s->qid,
	    s->sender, job->msg.len, session_valid_rcpts(s, NULL), s->helo, s->ip,
	    s->tls ? ", tls" : "");
	session_tx_reset(s);
	if (workq_submit(s->srv->wq, delivery_job_work, delivery_job_done, job) != 0) {
		delivery_job_free(job);
		goto nomem;
	}
	s->state = S_WAIT;
	bufferevent_disable(s->bev, EV_READ);
	return;
nomem:
	session_reply(s, "451 4.3.0 Error: insufficient system resources");
	session_tx_reset(s);
}

/* Feed buffered input to the DATA machine; true when DATA has ended. */
static bool
session_read_data(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec vec[8];
	bool done = false;
	int i, n;

	while (!done && evbuffer_get_length(in) > 0) {
		size_t total = 0;

		n = evbuffer_peek(in, -1, NULL, vec, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n && !done; i++)
			total += smtp_data_feed(&s->data, vec[i].iov_base,
			    vec[i].iov_len, &s->msg, &done);
		evbuffer_drain(in, total);
	}
	if (done)
		session_data_done(s);
	return done;
}

/* Run whatever complete input we have, in order, until we must wait. */
static void
session_process(struct session *s)
{
	for (;;) {
		if (s->state == S_CMD) {
			if (!session_read_line(s))
				return;
		} else if (s->state == S_DATA) {
			if (!session_read_data(s))
				return;
		} else {
			return;	/* S_WAIT, S_TLS, S_CLOSING */
		}
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state == S_TLS)
		return;	/* handshake still running; CONNECTED event follows */
	session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		if (s->state == S_TLS && ssl != NULL) {
			snprintf(s->tls_info, sizeof(s->tls_info), "%s with cipher %s",
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
			s->tls = true;
			s->state = S_CMD;
			log_info("[%s]: TLS established: %s", s->ip, s->tls_info);
			session_process(s);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == S_CLOSING)
			return;
		log_info("timeout after %s from [%s]",
		    s->state == S_DATA ? "DATA" : "command", s->ip);
		bufferevent_enable(bev, EV_WRITE);
		session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->srv->cfg->hostname);
		session_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state == S_TLS)
			log_info("[%s]: TLS handshake failed", s->ip);
		else if (s->state == S_DATA)
			log_info("%s: lost connection from [%s] in DATA; "
			    "nothing delivered", s->qid, s->ip);
		else if (s->state != S_CLOSING)
			log_debug("disconnect from [%s]", s->ip);
		session_free(s);
	}
}

/* ---- server ----------------------------------------------------------- */

struct smtp_server *
smtp_server_new(struct event_base *base, const struct config *cfg,
    SSL_CTX *ssl_ctx, struct workq *wq, struct spool *sp, struct deliver *dl)
{
	struct smtp_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->base = base;
	srv->cfg = cfg;
	srv->ssl_ctx = ssl_ctx;
	srv->wq = wq;
	srv->spool = sp;
	srv->deliver = dl;
	if (dl != NULL && cfg->delivery_mode == DELIVERY_IN_SESSION) {
		char err[256];

		if ((srv->ins = insession_new(base, cfg, wq, sp, dl, err,
		    sizeof(err))) == NULL) {
			log_error("in-session delivery: %s", err);
			free(srv);
			return NULL;
		}
	}
	return srv;
}

void
smtp_server_set_routes(struct smtp_server *srv, struct route_table *rt)
{
	route_table_free(srv->routes);
	srv->routes = rt;
}

static void
reject_connection(evutil_socket_t fd, const char *msg)
{
	/* A fresh socket's send buffer takes one short line without blocking. */
	if (write(fd, msg, strlen(msg)) < 0)
		log_debug("reject write: %s", strerror(errno));
	evutil_closesocket(fd);
}

void
smtp_server_accept(struct smtp_server *srv, evutil_socket_t fd,
    const struct sockaddr *sa, int salen)
{
	const struct config *cfg = srv->cfg;
	struct session *s;
	struct ip_count *ipc;
	char ip[INET6_ADDRSTRLEN] = "unknown";
	unsigned port = 0;
	int one = 1;

	(void)salen;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	}
	if (srv->shutting_down) {
		reject_connection(fd, "421 4.3.2 Service shutting down\r\n");
		return;
	}
	if (srv->nsessions >= cfg->max_connections) {
		log_warn("connection limit %u reached; refusing [%s]",
		    cfg->max_connections, ip);
		reject_connection(fd, "421 4.7.0 Too many connections; try again later\r\n");
		return;
	}
	if ((ipc = ip_count_get(srv, ip)) == NULL) {
		reject_connection(fd, "421 4.3.2 Insufficient system resources\r\n");
		return;
	}
	if (ipc->n >= cfg->max_connections_per_ip) {
		log_warn("per-client limit %u reached; refusing [%s]",
		    cfg->max_connections_per_ip, ip);
		ipc->n++;
		ip_count_put(srv, ipc);
		reject_connection(fd, "421 4.7.0 Too many connections from your "
		    "address; try again later\r\n");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		ipc->n++;
		ip_count_put(srv, ipc);
		reject_connection(fd, "421 4.3.2 Insufficient system resources\r\n");
		return;
	}
	ipc->n++;
	s->ipc = ipc;
	s->srv = srv;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->port = port;
	snprintf(s->helo, sizeof(s->helo), "unknown");
	evutil_make_socket_nonblocking(fd);
	/* Replies are small; don't let Nagle hold them (NOTES.md). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		session_free(s);
		return;
	}
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	bufferevent_set_timeouts(s->bev,
	    &(struct timeval){ .tv_sec = cfg->command_timeout }, NULL);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_debug("connect from [%s]:%u", ip, port);
	session_reply(s, "220 %s ESMTP Cleanbox Relay", cfg->hostname);
}

void
smtp_server_shutdown(struct smtp_server *srv)
{
	struct session *s, *next;

	srv->shutting_down = true;
	for (s = srv->sessions; s; s = next) {
		next = s->next;
		if (s->state == S_CMD && !s->mail_seen) {
			session_reply(s, "421 4.3.2 %s Service shutting down",
			    srv->cfg->hostname);
			session_close(s);
		}
	}
}

void
smtp_server_set_store(struct smtp_server *srv, struct store *st,
    const struct suppress_policy *p, const struct srs *srs)
{
	srv->store = st;
	if (p != NULL)
		srv->policy = *p;
	else
		suppress_policy_default(&srv->policy);
	srv->srs = srs;
	if (srv->ins != NULL) {
		insession_set_store(srv->ins, st, &srv->policy);
		insession_set_srs(srv->ins, srs);
	}
}

void
smtp_server_close_all(struct smtp_server *srv)
{
	struct session *s, *next;

	for (s = srv->sessions; s; s = next) {
		next = s->next;
		if (s->state != S_WAIT)
			session_free(s);
	}
}

size_t
smtp_server_session_count(const struct smtp_server *srv)
{
	return srv->nsessions;
}

void
smtp_server_free(struct smtp_server *srv)
{
	size_t i;
	struct ip_count *c, *n;

	if (srv == NULL)
		return;
	smtp_server_close_all(srv);
	insession_free(srv->ins);
	route_table_free(srv->routes);
	for (i = 0; i < SRV_IP_BUCKETS; i++)
		for (c = srv->ips[i]; c; c = n) {
			n = c->next;
			free(c);
		}
	free(srv);
}
