/*
 * insession - in-session delivery.  See insession.h.
 *
 * Objects and who owns whom:
 *
 *   struct insession (the pool, one per server)
 *     ├─ ins_conn: one outbound smtp_client to one host key, holding one
 *     │    slot of deliver's per-host cap from creation to free.  Idle
 *     │    (leg == NULL) or lent to one leg.  Outstanding commands are
 *     │    ins_req tickets on the conn, so that a transaction that goes
 *     │    away leaves only orphan tickets behind, never dangling pointers.
 *     └─ waiters: legs waiting for a slot of a host at its cap.
 *
 *   struct insession_tx (one inbound transaction)
 *     ├─ ins_rcpt: one per sender RCPT, with its targets
 *     ├─ ins_target: one per (recipient, destination); Maildir targets
 *     │    have no leg
 *     └─ ins_leg: one per destination host key in this transaction
 *
 * A leg's life:
 *
 *   WAIT_CONN ──slot──▶ CONNECTING ──ready──▶ OPEN (MAIL, RCPT..., DATA)
 *       │                    │                  │ DATA answered / no RCPT
 *       │                    │                  ▼ accepted
 *       └────────────────────┴─ failure, ───▶ BROKEN        DONE (conn back
 *                               budget                           to the pool)
 *
 * Every answer to the caller goes through tx->notify (an event made
 * active), so the caller is never re-entered from inside a call into this
 * module and may free the transaction from inside its callback.
 */
#include "insession.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "deliver.h"
#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "maildir.h"
#include "route.h"
#include "schedule.h"
#include "smtp_client.h"
#include "spool.h"
#include "srs.h"
#include "store.h"
#include "suppress.h"
#include "workq.h"

#define INS_KEY_MAX		320
#define INS_IDLE_MS		5000	/* a pooled session is kept this long */
#define INS_WAIT_POLL_MS	200	/* waiters look for a slot (the queue
					   manager frees slots without telling) */
#define INS_FORWARD_DEPTH	5	/* as smtp_server's job_add_dests */
#define INS_TARGETS_MAX		1000	/* destinations per transaction */
#define INS_DSN_MAX_FULL	(10u * 1024 * 1024)

enum ins_cls { INS_WAIT = 0, INS_OK, INS_TEMP, INS_PERM };

/* One answer: a server's reply or a local description of a failure. */
struct ins_res {
	enum ins_cls cls;
	bool	tried;		/* an attempt was made: counts as one */
	struct smtp_client_reply r;
};

struct ins_leg;

struct ins_rcpt {
	size_t	tag;
	char	addr[SPOOL_ADDR_MAX + 1];
	char	orcpt[SMTP_ORCPT_MAX + 1];
	unsigned notify;
	size_t	first, n;		/* tx->targets[first .. first + n) */
	bool	wait;			/* the caller waits for the answer */
	bool	resolved;		/* every SMTP target answered RCPT */
	bool	answered;		/* the caller got it */
	bool	refused;		/* 5xx: not in the transaction */
	int	code;
	char	reply[INSESSION_REPLY_MAX];
};

struct ins_target {
	struct ins_rcpt *rcpt;
	const struct dest *dest;	/* in tx->routes */
	struct ins_leg *leg;		/* NULL: Maildir */
	bool	issued;			/* RCPT handed to the client */
	struct ins_res rcpt_res;	/* SMTP: the answer to RCPT */
	struct ins_res res;		/* final (Maildir: the worker's) */
};

enum ins_leg_state { L_WAIT_CONN, L_CONNECTING, L_OPEN, L_DONE, L_BROKEN };

struct ins_conn;

struct ins_leg {
	struct insession_tx *tx;
	struct ins_leg *next;		/* in tx->legs */
	struct ins_leg *wprev, *wnext;	/* in the pool's waiters */
	bool	waiting;
	char	key[INS_KEY_MAX];
	const struct dest *dest;	/* the first target's: how to connect */
	enum ins_leg_state state;
	struct ins_conn *conn;
	struct event *timer;		/* budget for what is outstanding */
	unsigned outstanding;		/* commands awaiting their answer */
	bool	want_data;		/* DATA as soon as MAIL is out */
	bool	retried;		/* a pooled session refused MAIL */
	bool	data_issued;
	bool	data_done;
	struct ins_res data_res;
	struct ins_res why;		/* BROKEN: the reason */
	char	srsfrom[SRS_ADDR_MAX];	/* MAIL FROM when SRS rewrote it */
};

enum ins_req_kind { R_MAIL, R_RCPT, R_DATA, R_RSET };

/* A command awaiting its answer; leg NULL when its transaction is gone. */
struct ins_req {
	struct ins_req *prev, *next;
	struct ins_conn *conn;
	struct ins_leg *leg;
	struct ins_target *t;
	enum ins_req_kind kind;
};

struct ins_conn {
	struct insession *p;
	struct ins_conn *prev, *next;
	struct smtp_client *c;
	struct dns_query *q;
	char	key[INS_KEY_MAX];
	enum dest_kind kind;
	char	name[DNS_NAME_MAX];	/* host (smtp://) or domain (forward) */
	unsigned port;
	bool	ready;
	bool	doomed;			/* never lend it again */
	struct ins_leg *leg;
	struct ins_req *reqs;
};

struct insession {
	struct event_base *base;
	const struct config *cfg;
	struct workq *wq;
	struct spool *sp;
	struct deliver *dl;
	struct sched *sched;
	struct dns_resolver *dns;
	struct ssl_ctx_st *ssl_ctx;
	struct sched_retry retry;
	struct ins_conn *conns;
	size_t	nconns;
	struct ins_leg *whead, *wtail;
	struct event *wait_timer;
	struct store *store;		/* NULL: outcomes not recorded */
	struct suppress_policy policy;
	const struct srs *srs;		/* NULL: SRS off */
};

/* One outcome for the store, recorded on a worker (the store blocks). */
struct ins_recjob {
	struct insession *p;
	char	rcpt[SPOOL_ADDR_MAX + 1];
	char	spec[SPOOL_DEST_MAX + 1];
	bool	delivered;
	int	reply;
	char	status[16];
	char	text[SMTPC_TEXT_MAX];
	int64_t	now;
};

struct insession_tx {
	struct insession *p;
	struct route_table *routes;
	insession_rcpt_cb rcpt_cb;
	void	*arg;
	insession_done_cb done_cb;
	void	*done_arg;
	char	qid[SPOOL_ID_SIZE];
	char	sender[SPOOL_ADDR_MAX + 1];
	long long size;
	bool	eightbit, smtputf8;
	enum smtp_ret ret;
	char	envid_x[SMTP_ENVID_MAX * 3 + 1];	/* xtext */
	struct timeval start;

	struct ins_rcpt **rcpts;
	size_t	nrcpts, rcpts_cap;
	struct ins_target **targets;
	size_t	ntargets, targets_cap;
	struct ins_leg *legs;

	struct event *notify;
	struct event *budget;
	int	depth;			/* inside a callback to the caller */
	bool	dying;

	/* end of DATA */
	bool	data_phase;
	bool	local_busy;		/* Maildir worker running */
	bool	finishing;
	bool	finished;
	bool	done_called;
	int	done_code;
	char	done_reply[INSESSION_REPLY_MAX];
	struct spool_envelope meta;	/* message fields only */
	struct buf msg;
	/* what tx_finish stores */
	struct spool_envelope env;
	bool	store_env;
	int	env_rc;
	struct spool_envelope dsn_env;
	struct buf dsn_msg;
	bool	store_dsn;
	int	dsn_rc;
	size_t	nfailed;
};

static void conn_ready_cb(struct smtp_client *c,
	    const struct smtp_client_reply *fail, void *arg);
static void conn_closed_cb(struct smtp_client *c,
	    const struct smtp_client_reply *why, void *arg);
static void req_cb(struct smtp_client *c, const struct smtp_client_reply *r,
	    void *arg);
static void pool_kick(struct insession *p, const char *key);
static void leg_conn_ready(struct ins_leg *leg);
static void leg_break(struct ins_leg *leg, const struct ins_res *why);
static void tx_check(struct insession_tx *tx);
static void reply_text_strip(const struct smtp_client_reply *r, char *out,
	    size_t outsz, bool ascii);

static const struct smtp_client_cbs conn_cbs = { conn_ready_cb, conn_closed_cb };

/* ---- answers ------------------------------------------------------------ */

static void
res_local(struct ins_res *res, enum ins_cls cls, bool tried,
    enum smtp_client_kind kind, const char *enh, const char *host,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
res_local(struct ins_res *res, enum ins_cls cls, bool tried,
    enum smtp_client_kind kind, const char *enh, const char *host,
    const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->cls = cls;
	res->tried = tried;
	res->r.kind = kind;
	snprintf(res->r.enh, sizeof(res->r.enh), "%s", enh);
	snprintf(res->r.host, sizeof(res->r.host), "%s", host ? host : "");
	va_start(ap, fmt);
	if (vsnprintf(res->r.text, sizeof(res->r.text), fmt, ap) < 0)
		res->r.text[0] = '\0';
	va_end(ap);
}

static void
res_from_reply(struct ins_res *res, const struct smtp_client_reply *r)
{
	res->r = *r;
	res->tried = true;
	switch (smtp_client_reply_class(r)) {
	case SMTPC_OK:
		res->cls = INS_OK;
		break;
	case SMTPC_PERM:
		res->cls = INS_PERM;
		break;
	default:
		res->cls = INS_TEMP;
		break;
	}
}

/* "mx.dest.test[127.0.0.1]:25", as deliver writes it. */
static void
res_host(const struct ins_res *res, char *out, size_t outsz)
{
	const struct smtp_client_reply *r = &res->r;
	int n;

	if (r->addr[0])
		n = snprintf(out, outsz, "%s[%s]:%u", r->host, r->addr,
		    r->port);
	else
		n = snprintf(out, outsz, "%s", r->host);
	if (n < 0 || (size_t)n >= outsz)
		out[outsz - 1] = '\0';	/* cut: a diagnostic, still useful */
}

/* Spool error record of an answer (status X.0.0 when the server gave
 * no enhanced code, RFC 3463). */
static void
res_error(const struct ins_res *res, struct spool_error *e)
{
	char host[SPOOL_HOST_MAX + 1];
	char text[sizeof(res->r.text)];
	char status[16];
	const char *st = res->r.enh;

	res_host(res, host, sizeof(host));
	if (st[0] == '\0' && res->r.code >= 200 && res->r.code < 600) {
		snprintf(status, sizeof(status), "%d.0.0", res->r.code / 100);
		st = status;
	}
	reply_text_strip(&res->r, text, sizeof(text), false);
	spool_error_set(e, res->r.code, st, host, text, strlen(text));
}

/*
 * A reply's text without its reply codes ("550-5.1.1 a\n550 5.1.1 b" ->
 * "5.1.1 a 5.1.1 b"), as deliver records it; local texts are kept.  With
 * ascii, control and 8-bit bytes become '?' (text for a reply line).
 */
static void
reply_text_strip(const struct smtp_client_reply *r, char *out, size_t outsz,
    bool ascii)
{
	const char *s = r->text;
	size_t o = 0;
	bool bol = true;

	while (*s != '\0' && o + 1 < outsz) {
		unsigned char ch;

		if (bol && r->kind == SMTPC_REPLY) {
			/* "550-5.1.1 ..." / "550 5.1.1 ...": drop the code. */
			if (isdigit((unsigned char)s[0]) &&
			    isdigit((unsigned char)s[1]) &&
			    isdigit((unsigned char)s[2])) {
				s += 3;
				if (*s == ' ' || *s == '-')
					s++;
			}
			bol = false;
			continue;
		}
		ch = (unsigned char)*s++;
		if (ch == '\n' || ch == '\r') {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
			bol = ch == '\n';
			continue;
		}
		out[o++] = ascii && (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

int
insession_reply_reject(char *out, size_t outsz,
    const struct smtp_client_reply *r, const char *rcpt)
{
	char text[INSESSION_REPLY_MAX];
	const char *enh = r->enh[0] == '5' ? r->enh : "5.0.0";
	size_t cap;
	int code, n;

	code = r->code >= 500 && r->code <= 599 ? r->code : rcpt ? 550 : 554;
	/* Our reply is ASCII without controls whatever they sent. */
	reply_text_strip(r, text, sizeof(text), true);
	cap = outsz < INSESSION_REPLY_MAX - 1 ? outsz : INSESSION_REPLY_MAX - 1;
	if (cap == 0)
		return code;
	if (r->kind == SMTPC_REPLY && r->host[0])
		n = snprintf(out, cap, "%d %s %s%s%s%s said: %s", code, enh,
		    rcpt ? "<" : "", rcpt ? rcpt : "", rcpt ? ">: " : "",
		    r->host, text);
	else
		n = snprintf(out, cap, "%d %s %s%s%s%s", code, enh,
		    rcpt ? "<" : "", rcpt ? rcpt : "", rcpt ? ">: " : "", text);
	/* A cut reply is still a reply; the text is only diagnostic. */
	if (n < 0)
		snprintf(out, cap, "%d %s Rejected by the destination", code,
		    enh);
	return code;
}

/* ---- requests (commands awaiting their answer) --------------------------- */

static struct ins_req *
req_new(struct ins_conn *cn, struct ins_leg *leg, struct ins_target *t,
    enum ins_req_kind kind)
{
	struct ins_req *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->conn = cn;
	q->leg = leg;
	q->t = t;
	q->kind = kind;
	q->next = cn->reqs;
	if (cn->reqs)
		cn->reqs->prev = q;
	cn->reqs = q;
	return q;
}

static void
req_free(struct ins_req *q)
{
	struct ins_conn *cn = q->conn;

	if (q->prev)
		q->prev->next = q->next;
	else
		cn->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q);
}

/* ---- the pool ------------------------------------------------------------ */

static void
waiter_remove(struct ins_leg *leg)
{
	struct insession *p = leg->tx->p;

	if (!leg->waiting)
		return;
	if (leg->wprev)
		leg->wprev->wnext = leg->wnext;
	else
		p->whead = leg->wnext;
	if (leg->wnext)
		leg->wnext->wprev = leg->wprev;
	else
		p->wtail = leg->wprev;
	leg->wprev = leg->wnext = NULL;
	leg->waiting = false;
	if (p->whead == NULL)
		evtimer_del(p->wait_timer);
}

static void
waiter_add(struct ins_leg *leg)
{
	struct insession *p = leg->tx->p;
	struct timeval tv = { 0, INS_WAIT_POLL_MS * 1000 };

	leg->waiting = true;
	leg->wnext = NULL;
	leg->wprev = p->wtail;
	if (p->wtail)
		p->wtail->wnext = leg;
	else
		p->whead = leg;
	p->wtail = leg;
	if (!evtimer_pending(p->wait_timer, NULL))
		evtimer_add(p->wait_timer, &tv);
}

static void
conn_free(struct ins_conn *cn)
{
	struct insession *p = cn->p;

	if (cn->prev)
		cn->prev->next = cn->next;
	else
		p->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	p->nconns--;
	if (cn->q)
		dns_query_cancel(cn->q);
	while (cn->reqs)
		req_free(cn->reqs);
	if (cn->leg)
		cn->leg->conn = NULL;
	smtp_client_free(cn->c);
	sched_host_release(p->sched, cn->key);
	free(cn);
}

/* Drop a connection (no QUIT, never a final dot) and let a waiter have
 * the slot. */
static void
conn_drop(struct ins_conn *cn)
{
	struct insession *p = cn->p;
	char key[INS_KEY_MAX];

	snprintf(key, sizeof(key), "%s", cn->key);
	conn_free(cn);
	pool_kick(p, key);
}

static bool
conn_usable(const struct ins_conn *cn)
{
	return !cn->doomed && !smtp_client_is_closed(cn->c);
}

static void
conn_attach(struct ins_conn *cn, struct ins_leg *leg)
{
	cn->leg = leg;
	leg->conn = cn;
}

static void
conn_detach(struct ins_conn *cn)
{
	if (cn->leg)
		cn->leg->conn = NULL;
	cn->leg = NULL;
}

/* An unused connection to key: ready ones first, else one still
 * connecting. */
static struct ins_conn *
pool_find(struct insession *p, const char *key)
{
	struct ins_conn *cn, *connecting = NULL;

	for (cn = p->conns; cn; cn = cn->next) {
		if (cn->leg != NULL || !conn_usable(cn) ||
		    strcmp(cn->key, key) != 0)
			continue;
		if (cn->ready)
			return cn;
		if (connecting == NULL)
			connecting = cn;
	}
	return connecting;
}

static void
conn_dns_cb(const struct dns_mx_result *res, void *arg)
{
	struct ins_conn *cn = arg;
	struct sockaddr_storage ss[SMTPC_MAX_ADDRS];
	struct ins_leg *leg = cn->leg;
	struct ins_res why;
	size_t n = 0, h, a;

	cn->q = NULL;
	if (res->status == DNS_OK) {
		for (h = 0; h < res->nhosts && n < SMTPC_MAX_ADDRS; h++)
			for (a = 0; a < res->hosts[h].naddrs &&
			    n < SMTPC_MAX_ADDRS; a++)
				ss[n++] = res->hosts[h].addrs[a].sa;
		if (n > 0 && smtp_client_connect(cn->c, res->nhosts ?
		    res->hosts[0].name : res->domain, ss, n, cn->port) == 0)
			return;
		res_local(&why, INS_TEMP, true, SMTPC_CONNECT, "4.4.1",
		    cn->name, "cannot connect to %s", cn->name);
	} else {
		/*
		 * A forward to a domain that does not exist is a permanent
		 * failure (the queue would bounce it too); a smarthost name we
		 * cannot resolve is our own misconfiguration: temporary.
		 */
		res_local(&why, cn->kind == DEST_FORWARD &&
		    dns_status_permanent(res->status) ? INS_PERM : INS_TEMP,
		    true, SMTPC_LOCAL, dns_status_enhanced(res->status), "",
		    "DNS lookup of %s: %s", res->domain, res->error &&
		    res->error[0] ? res->error : dns_status_name(res->status));
	}
	conn_detach(cn);
	conn_drop(cn);
	if (leg)
		leg_break(leg, &why);
}

/*
 * A new connection for leg's host; the caller took the slot.  On failure
 * the slot is given back and NULL returned.
 */
static struct ins_conn *
conn_new(struct insession *p, struct ins_leg *leg)
{
	const struct config *cfg = p->cfg;
	const struct dest *d = leg->dest;
	struct smtp_client_opts opts;
	struct ins_conn *cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		sched_host_release(p->sched, leg->key);
		return NULL;
	}
	cn->p = p;
	snprintf(cn->key, sizeof(cn->key), "%s", leg->key);
	cn->kind = d->kind;
	if (d->kind == DEST_SMTP) {
		snprintf(cn->name, sizeof(cn->name), "%s", d->host);
		cn->port = d->port;
	} else {
		snprintf(cn->name, sizeof(cn->name), "%s",
		    strrchr(d->address, '@') + 1);
		cn->port = cfg->mx_port;
	}
	memset(&opts, 0, sizeof(opts));
	opts.helo_name = cfg->hostname;
	opts.tls = p->ssl_ctx ? cfg->outbound_tls : OUTBOUND_TLS_NONE;
	opts.ssl_ctx = p->ssl_ctx;
	opts.timeouts.idle = INS_IDLE_MS;
	cn->next = p->conns;
	if (p->conns)
		p->conns->prev = cn;
	p->conns = cn;
	p->nconns++;
	if ((cn->c = smtp_client_new(p->base, &opts, &conn_cbs, cn)) == NULL) {
		conn_free(cn);
		return NULL;
	}
	cn->q = d->kind == DEST_SMTP ?
	    dns_resolve_host(p->dns, cn->name, conn_dns_cb, cn) :
	    dns_resolve_mx(p->dns, cn->name, conn_dns_cb, cn);
	if (cn->q == NULL) {
		conn_free(cn);
		return NULL;
	}
	conn_attach(cn, leg);
	return cn;
}

/*
 * Give leg a connection: an unused pooled one, a new one if the host is
 * below its cap.  False when neither is possible now.
 */
static bool
pool_serve(struct insession *p, struct ins_leg *leg)
{
	struct ins_conn *cn;
	struct ins_res why;
	int rc;

	if ((cn = pool_find(p, leg->key)) != NULL) {
		waiter_remove(leg);
		conn_attach(cn, leg);
		if (cn->ready)
			leg_conn_ready(leg);
		else
			leg->state = L_CONNECTING;
		return true;
	}
	rc = sched_host_acquire(p->sched, leg->key);
	if (rc == SCHED_EBUSY)
		return false;
	waiter_remove(leg);
	if (rc != SCHED_OK || conn_new(p, leg) == NULL) {
		res_local(&why, INS_TEMP, false, SMTPC_LOCAL, "4.3.0", "",
		    "local error: no outbound connection to %s", leg->key);
		leg_break(leg, &why);
		return true;
	}
	leg->state = L_CONNECTING;
	return true;
}

/* Serve waiting legs (of key, or of every key) while slots allow. */
static void
pool_kick(struct insession *p, const char *key)
{
	struct ins_leg *leg;

again:
	for (leg = p->whead; leg; leg = leg->wnext) {
		if (key != NULL && strcmp(leg->key, key) != 0)
			continue;
		if (pool_serve(p, leg))
			goto again;
	}
}

static void
pool_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct insession *p = arg;
	struct timeval tv = { 0, INS_WAIT_POLL_MS * 1000 };

	(void)fd;
	(void)what;
	pool_kick(p, NULL);
	if (p->whead != NULL)
		evtimer_add(p->wait_timer, &tv);
}

/* An idle, usable connection: to the first waiter for its host, or kept. */
static void
conn_available(struct ins_conn *cn)
{
	if (!conn_usable(cn)) {
		conn_drop(cn);
		return;
	}
	pool_kick(cn->p, cn->key);
}

/* Return a connection whose transaction is over (rset: still open). */
static void
conn_release(struct ins_conn *cn, bool rset)
{
	struct ins_req *q;

	conn_detach(cn);
	if (rset) {
		if ((q = req_new(cn, NULL, NULL, R_RSET)) == NULL ||
		    smtp_client_rset(cn->c, req_cb, q) != 0) {
			if (q)
				req_free(q);
			conn_drop(cn);
			return;
		}
	}
	conn_available(cn);
}

static void
conn_ready_cb(struct smtp_client *c, const struct smtp_client_reply *fail,
    void *arg)
{
	struct ins_conn *cn = arg;
	struct ins_leg *leg = cn->leg;
	struct ins_res why;

	(void)c;
	if (fail != NULL) {
		/* No session at all is always temporary (RFC 5321 4.2.5). */
		res_from_reply(&why, fail);
		why.cls = INS_TEMP;
		conn_detach(cn);
		conn_drop(cn);
		if (leg)
			leg_break(leg, &why);
		return;
	}
	cn->ready = true;
	if (leg)
		leg_conn_ready(leg);
	else
		conn_available(cn);
}

static void
conn_closed_cb(struct smtp_client *c, const struct smtp_client_reply *why,
    void *arg)
{
	struct ins_conn *cn = arg;
	struct ins_leg *leg = cn->leg;
	struct ins_res w;

	(void)c;
	conn_detach(cn);
	conn_drop(cn);
	if (leg != NULL) {
		if (why != NULL)
			res_from_reply(&w, why);
		else
			res_local(&w, INS_TEMP, true, SMTPC_LOST, "4.4.2", "",
			    "session closed");
		w.cls = INS_TEMP;
		leg_break(leg, &w);
	}
}

/* ---- legs ---------------------------------------------------------------- */

static unsigned
tx_budget(const struct insession_tx *tx)
{
	return tx->p->cfg->in_session_budget;
}

/*
 * The budget runs while the leg waits for anything (a slot, a connection,
 * an answer); progress (an answer) restarts it.
 */
static void
leg_arm(struct ins_leg *leg, bool progress)
{
	struct timeval tv = { (time_t)tx_budget(leg->tx), 0 };
	bool waiting = leg->state == L_WAIT_CONN ||
	    leg->state == L_CONNECTING ||
	    (leg->state == L_OPEN && leg->outstanding > 0);

	if (!waiting)
		evtimer_del(leg->timer);
	else if (progress || !evtimer_pending(leg->timer, NULL))
		evtimer_add(leg->timer, &tv);
}

static void
leg_fail_conn(struct ins_leg *leg, const struct ins_res *why)
{
	struct ins_conn *cn = leg->conn;

	if (cn != NULL) {
		conn_detach(cn);
		conn_drop(cn);
	}
	leg_break(leg, why);
}

/* The leg failed: every target still without an answer gets why. */
static void
leg_break(struct ins_leg *leg, const struct ins_res *why)
{
	struct insession_tx *tx = leg->tx;
	size_t i;

	if (leg->state == L_DONE || leg->state == L_BROKEN)
		return;
	waiter_remove(leg);
	evtimer_del(leg->timer);
	if (leg->conn != NULL) {
		struct ins_conn *cn = leg->conn;

		conn_detach(cn);
		conn_drop(cn);
	}
	leg->state = L_BROKEN;
	leg->why = *why;
	for (i = 0; i < tx->ntargets; i++) {
		struct ins_target *t = tx->targets[i];

		if (t->leg == leg && t->rcpt_res.cls == INS_WAIT)
			t->rcpt_res = *why;
	}
	if (!leg->data_done) {
		leg->data_done = true;
		leg->data_res = *why;
	}
	tx_check(tx);
}

/* The transaction on this leg is over: the connection goes back. */
static void
leg_finish(struct ins_leg *leg)
{
	struct ins_conn *cn = leg->conn;

	leg->state = L_DONE;
	evtimer_del(leg->timer);
	if (cn != NULL)
		conn_release(cn, !leg->data_issued);
}

static void
leg_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ins_leg *leg = arg;
	struct ins_res why;
	const char *host = leg->conn && smtp_client_host(leg->conn->c)[0] ?
	    smtp_client_host(leg->conn->c) : leg->dest->kind == DEST_SMTP ?
	    leg->dest->host : strrchr(leg->dest->address, '@') + 1;

	(void)fd;
	(void)what;
	res_local(&why, INS_TEMP, leg->state != L_WAIT_CONN, SMTPC_TIMEOUT,
	    "4.4.2", host, "%s %s within the in-session budget of %us",
	    leg->state == L_WAIT_CONN ? "no free connection to" :
	    "no answer from", host, tx_budget(leg->tx));
	log_info("%s: in-session: %s", leg->tx->qid, why.r.text);
	leg_fail_conn(leg, &why);
}

static void
xtext_or_empty(const char *in, char *out, size_t outsz)
{
	if (smtp_xtext_encode(in, strlen(in), out, outsz) < 0)
		out[0] = '\0';
}

static void
leg_issue_rcpt(struct ins_leg *leg, struct ins_target *t)
{
	const struct ins_rcpt *ir = t->rcpt;
	struct smtp_client_rcpt rc;
	char notify[32] = "", orcpt[SMTP_ORCPT_MAX * 3 + 16] = "";
	char tmp[SMTP_ORCPT_MAX + 16];
	const char *orig = ir->orcpt[0] ? ir->orcpt : NULL, *semi;
	struct ins_req *q;

	t->issued = true;
	memset(&rc, 0, sizeof(rc));
	rc.addr = t->dest->kind == DEST_FORWARD ? t->dest->address : ir->addr;
	/* ORCPT: what the sender gave, else the address we accepted. */
	if (orig == NULL) {
		snprintf(tmp, sizeof(tmp), "rfc822;%s", ir->addr);
		orig = tmp;
	}
	if ((semi = strchr(orig, ';')) != NULL) {
		char enc[SMTP_ORCPT_MAX * 3 + 1];

		xtext_or_empty(semi + 1, enc, sizeof(enc));
		if (enc[0] && snprintf(orcpt, sizeof(orcpt), "%.*s;%s",
		    (int)(semi - orig), orig, enc) < (int)sizeof(orcpt))
			rc.orcpt = orcpt;
	}
	if (ir->notify & SMTP_NOTIFY_NEVER)
		snprintf(notify, sizeof(notify), "NEVER");
	else if (ir->notify)
		snprintf(notify, sizeof(notify), "%s%s%s%s%s",
		    (ir->notify & SMTP_NOTIFY_SUCCESS) ? "SUCCESS" : "",
		    (ir->notify & SMTP_NOTIFY_SUCCESS) &&
		    (ir->notify & (SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY)) ?
		    "," : "",
		    (ir->notify & SMTP_NOTIFY_FAILURE) ? "FAILURE" : "",
		    (ir->notify & SMTP_NOTIFY_FAILURE) &&
		    (ir->notify & SMTP_NOTIFY_DELAY) ? "," : "",
		    (ir->notify & SMTP_NOTIFY_DELAY) ? "DELAY" : "");
	rc.notify = notify[0] ? notify : NULL;
	if ((q = req_new(leg->conn, leg, t, R_RCPT)) == NULL ||
	    smtp_client_rcpt(leg->conn->c, &rc, req_cb, q) != 0) {
		if (q)
			req_free(q);
		res_local(&t->rcpt_res, INS_TEMP, false, SMTPC_LOCAL, "4.3.0",
		    "", "local error: cannot send RCPT TO:<%s>", rc.addr);
		return;
	}
	if (leg->outstanding++ == 0)
		leg_arm(leg, true);
}

static void
leg_issue_data(struct ins_leg *leg)
{
	struct insession_tx *tx = leg->tx;
	struct ins_res why;
	struct ins_req *q;
	bool open = false;
	size_t i;

	leg->want_data = false;
	for (i = 0; i < tx->ntargets; i++) {
		const struct ins_target *t = tx->targets[i];

		if (t->leg == leg && (t->rcpt_res.cls == INS_WAIT ||
		    t->rcpt_res.cls == INS_OK))
			open = true;
	}
	if (!open) {
		/* Nothing accepted here: no DATA, just end the transaction. */
		leg_finish(leg);
		return;
	}
	if ((q = req_new(leg->conn, leg, NULL, R_DATA)) == NULL ||
	    smtp_client_data(leg->conn->c, tx->msg.data, tx->msg.len, req_cb,
	    q) != 0) {
		if (q)
			req_free(q);
		res_local(&why, INS_TEMP, false, SMTPC_LOCAL, "4.3.0", "",
		    "local error: cannot send DATA");
		leg_fail_conn(leg, &why);
		return;
	}
	leg->data_issued = true;
	if (leg->outstanding++ == 0)
		leg_arm(leg, true);
}

/* A connection is ready for this leg: MAIL, the RCPTs so far, DATA. */
static void
leg_conn_ready(struct ins_leg *leg)
{
	struct insession_tx *tx = leg->tx;
	struct smtp_client_mail m;
	struct ins_res why;
	struct ins_req *q;
	size_t i;

	leg->state = L_OPEN;
	memset(&m, 0, sizeof(m));
	m.from = deliver_mail_from(tx->p->srs, tx->routes, leg->dest,
	    tx->sender, leg->srsfrom, sizeof(leg->srsfrom));
	m.size = tx->size > 0 ? (size_t)tx->size : 0;
	m.eightbit = tx->eightbit;
	m.smtputf8 = tx->smtputf8;
	m.ret = tx->ret == SMTP_RET_FULL ? "FULL" :
	    tx->ret == SMTP_RET_HDRS ? "HDRS" : NULL;
	m.envid = tx->envid_x[0] ? tx->envid_x : NULL;
	if ((q = req_new(leg->conn, leg, NULL, R_MAIL)) == NULL ||
	    smtp_client_mail(leg->conn->c, &m, req_cb, q) != 0) {
		struct ins_conn *cn = leg->conn;

		if (q)
			req_free(q);
		cn->doomed = true;
		res_local(&why, INS_TEMP, false, SMTPC_LOCAL, "4.3.0", "",
		    "local error: cannot start a transaction with %s",
		    smtp_client_host(cn->c));
		if (q != NULL && !leg->retried) {
			/*
			 * A pooled session that just timed out (QUIT queued)
			 * refuses new work: try once more with another.
			 */
			leg->retried = true;
			conn_detach(cn);
			conn_drop(cn);
			leg->state = L_WAIT_CONN;
			if (!pool_serve(tx->p, leg))
				waiter_add(leg);
			return;
		}
		leg_fail_conn(leg, &why);
		return;
	}
	leg->outstanding++;
	leg_arm(leg, true);
	for (i = 0; i < tx->ntargets && leg->state == L_OPEN; i++) {
		struct ins_target *t = tx->targets[i];

		if (t->leg == leg && !t->issued)
			leg_issue_rcpt(leg, t);
	}
	if (leg->state == L_OPEN && leg->want_data)
		leg_issue_data(leg);
	tx_check(tx);
}

/* Start a new leg: a connection now, or a place among the waiters. */
static void
leg_start(struct ins_leg *leg)
{
	struct insession *p = leg->tx->p;

	leg->state = L_WAIT_CONN;
	leg_arm(leg, true);
	if (!pool_serve(p, leg))
		waiter_add(leg);
}

static void
req_cb(struct smtp_client *c, const struct smtp_client_reply *r, void *arg)
{
	struct ins_req *q = arg;
	struct ins_leg *leg = q->leg;
	struct ins_target *t = q->t;
	enum ins_req_kind kind = q->kind;

	(void)c;
	req_free(q);
	if (leg == NULL)
		return;		/* its transaction is gone, or our RSET */
	leg->outstanding--;
	switch (kind) {
	case R_RCPT:
		res_from_reply(&t->rcpt_res, r);
		log_debug("%s: in-session RCPT <%s> at %s: %s", leg->tx->qid,
		    t->rcpt->addr, r->host, r->text);
		break;
	case R_DATA:
		leg->data_done = true;
		res_from_reply(&leg->data_res, r);
		leg_finish(leg);
		break;
	default:
		/* MAIL: a refusal reaches every RCPT of it. */
		break;
	}
	if (leg->state == L_OPEN)
		leg_arm(leg, true);
	tx_check(leg->tx);
}

/* ---- transaction --------------------------------------------------------- */

static void tx_notify_cb(evutil_socket_t fd, short what, void *arg);
static void tx_budget_cb(evutil_socket_t fd, short what, void *arg);

struct insession_tx *
insession_tx_new(struct insession *p, const struct insession_mail *m,
    insession_rcpt_cb rcpt_cb, void *arg)
{
	struct insession_tx *tx;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return NULL;
	tx->p = p;
	tx->rcpt_cb = rcpt_cb;
	tx->arg = arg;
	snprintf(tx->qid, sizeof(tx->qid), "%s", m->qid ? m->qid : "");
	snprintf(tx->sender, sizeof(tx->sender), "%s", m->sender);
	tx->size = m->size;
	tx->eightbit = m->eightbit;
	tx->smtputf8 = m->smtputf8;
	tx->ret = m->ret;
	if (m->envid && m->envid[0])
		xtext_or_empty(m->envid, tx->envid_x, sizeof(tx->envid_x));
	gettimeofday(&tx->start, NULL);
	spool_envelope_init(&tx->meta);
	spool_envelope_init(&tx->env);
	spool_envelope_init(&tx->dsn_env);
	buf_init(&tx->msg, 0);
	buf_init(&tx->dsn_msg, 0);
	tx->notify = event_new(p->base, -1, 0, tx_notify_cb, tx);
	tx->budget = evtimer_new(p->base, tx_budget_cb, tx);
	if (tx->notify == NULL || tx->budget == NULL) {
		if (tx->notify)
			event_free(tx->notify);
		if (tx->budget)
			event_free(tx->budget);
		free(tx);
		return NULL;
	}
	tx->routes = route_table_ref(m->routes);
	return tx;
}

/* Let go of a leg whose transaction ends: RSET or drop its connection.
 * No answer is recorded and nothing is re-checked (the tx is going). */
static void
leg_abandon(struct ins_leg *leg)
{
	struct ins_conn *cn = leg->conn;
	struct ins_req *q;

	waiter_remove(leg);
	evtimer_del(leg->timer);
	if (cn != NULL) {
		for (q = cn->reqs; q; q = q->next)
			if (q->leg == leg) {
				q->leg = NULL;
				q->t = NULL;
			}
		conn_detach(cn);
		if (leg->state == L_OPEN && leg->data_issued)
			conn_drop(cn);	/* mid-DATA: only hanging up stops it */
		else if (leg->state == L_OPEN)
			conn_release(cn, true);
		/* still connecting: the connection is the pool's now */
	}
	leg->state = L_DONE;
}

static void
tx_destroy(struct insession_tx *tx)
{
	struct ins_leg *leg, *next;
	size_t i;

	/* Out of the waiters first, so no leg of ours is served now. */
	for (leg = tx->legs; leg; leg = leg->next)
		waiter_remove(leg);
	for (leg = tx->legs; leg; leg = leg->next)
		leg_abandon(leg);
	for (leg = tx->legs; leg; leg = next) {
		next = leg->next;
		event_free(leg->timer);
		free(leg);
	}
	for (i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	for (i = 0; i < tx->ntargets; i++)
		free(tx->targets[i]);
	free(tx->targets);
	event_free(tx->notify);
	event_free(tx->budget);
	route_table_free(tx->routes);
	spool_envelope_free(&tx->meta);
	spool_envelope_free(&tx->env);
	spool_envelope_free(&tx->dsn_env);
	buf_free(&tx->msg);
	buf_free(&tx->dsn_msg);
	free(tx);
}

void
insession_tx_free(struct insession_tx *tx)
{
	if (tx == NULL)
		return;
	if (tx->depth > 0) {
		tx->dying = true;	/* freed when its callback returns */
		return;
	}
	tx_destroy(tx);
}

static void
tx_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct insession_tx *tx = arg;
	size_t i;

	(void)fd;
	(void)what;
	tx->depth++;
	for (i = 0; i < tx->nrcpts && !tx->dying; i++) {
		struct ins_rcpt *r = tx->rcpts[i];

		if (r->wait && r->resolved && !r->answered) {
			r->answered = true;
			tx->rcpt_cb(tx->arg, r->tag, r->code, r->reply);
		}
	}
	if (!tx->dying && tx->finished && !tx->done_called) {
		tx->done_called = true;
		tx->done_cb(tx->done_arg, tx->done_code, tx->done_reply);
		tx->dying = true;	/* the transaction ends with its answer */
	}
	tx->depth--;
	if (tx->dying && tx->depth == 0)
		tx_destroy(tx);
}

static void
ins_recjob_work(void *arg)
{
	struct ins_recjob *j = arg;

	suppress_record_attempt(j->p->store, &j->p->policy, j->rcpt, j->spec,
	    j->delivered, j->reply, j->status, j->text,
	    SUPPRESS_SRC_IN_SESSION, j->now);
}

static void
ins_recjob_done(void *arg)
{
	free(arg);
}

/*
 * Record target t's outcome res in the store (suppression list, bounce
 * events).  Only a destination's own answer counts as a failure: a budget
 * timeout or a lost connection says nothing about the address, and the
 * queue manager records its retries.
 */
static void
ins_record(struct insession_tx *tx, const struct ins_target *t,
    const struct ins_res *res)
{
	struct insession *p = tx->p;
	struct ins_recjob *j;

	if (p->store == NULL || t->dest == NULL || t->dest->spec == NULL ||
	    (res->cls != INS_OK && (res->cls == INS_WAIT ||
	    res->r.kind != SMTPC_REPLY)))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->p = p;
	snprintf(j->rcpt, sizeof(j->rcpt), "%s", t->rcpt->addr);
	snprintf(j->spec, sizeof(j->spec), "%s", t->dest->spec);
	j->delivered = res->cls == INS_OK;
	j->reply = res->r.code;
	snprintf(j->status, sizeof(j->status), "%s", res->r.enh);
	snprintf(j->text, sizeof(j->text), "%s", res->r.text);
	j->now = (int64_t)time(NULL);
	if (workq_submit(p->wq, ins_recjob_work, ins_recjob_done, j) != 0)
		free(j);
}

/* The answer to RCPT once every SMTP destination answered. */
static void
rcpt_decide(struct insession_tx *tx, struct ins_rcpt *r)
{
	const struct ins_target *perm = NULL;
	bool accept = r->n == 0;
	size_t i;

	for (i = r->first; i < r->first + r->n; i++) {
		const struct ins_target *t = tx->targets[i];

		if (t->leg == NULL || t->rcpt_res.cls != INS_PERM)
			accept = true;
		else if (perm == NULL)
			perm = t;
	}
	if (accept || perm == NULL) {
		r->code = 250;
		snprintf(r->reply, sizeof(r->reply), "250 2.1.5 Ok");
		return;
	}
	/* Every destination refused it: their word is the answer. */
	r->refused = true;
	for (i = r->first; i < r->first + r->n; i++)
		ins_record(tx, tx->targets[i], &tx->targets[i]->rcpt_res);
	r->code = insession_reply_reject(r->reply, sizeof(r->reply),
	    &perm->rcpt_res.r, r->addr);
}

static bool
rcpt_resolved(const struct insession_tx *tx, const struct ins_rcpt *r)
{
	size_t i;

	for (i = r->first; i < r->first + r->n; i++)
		if (tx->targets[i]->leg != NULL &&
		    tx->targets[i]->rcpt_res.cls == INS_WAIT)
			return false;
	return true;
}

static void tx_finish(struct insession_tx *tx);

static bool
tx_data_complete(const struct insession_tx *tx)
{
	const struct ins_leg *leg;

	if (tx->local_busy)
		return false;
	for (leg = tx->legs; leg; leg = leg->next)
		if (leg->state != L_DONE && leg->state != L_BROKEN)
			return false;
	return true;
}

/* Something changed: answer RCPTs that can be answered, end DATA when
 * every destination is done. */
static void
tx_check(struct insession_tx *tx)
{
	bool notify = false;
	size_t i;

	for (i = 0; i < tx->nrcpts; i++) {
		struct ins_rcpt *r = tx->rcpts[i];

		if (r->resolved || !rcpt_resolved(tx, r))
			continue;
		r->resolved = true;
		if (r->wait) {
			rcpt_decide(tx, r);
			notify = true;
		}
	}
	if (tx->data_phase && !tx->finishing && tx_data_complete(tx))
		tx_finish(tx);
	if (notify)
		event_active(tx->notify, 0, 0);
}

static void
tx_budget_cb(evutil_socket_t fd, short what, void *arg)
{
	struct insession_tx *tx = arg;
	struct ins_leg *leg;
	struct ins_res why;

	(void)fd;
	(void)what;
	for (leg = tx->legs; leg; leg = leg->next) {
		if (leg->state == L_DONE || leg->state == L_BROKEN)
			continue;
		res_local(&why, INS_TEMP, leg->state != L_WAIT_CONN,
		    SMTPC_TIMEOUT, "4.4.2", leg->conn ?
		    smtp_client_host(leg->conn->c) : "",
		    "delivery to %s did not finish within the in-session "
		    "budget of %us", leg->key, tx_budget(tx));
		log_info("%s: in-session: %s", tx->qid, why.r.text);
		leg_fail_conn(leg, &why);
	}
	tx_check(tx);
}

/* Grow an array to hold need elements; the new pointer, or NULL (the old
 * array is then untouched). */
static void *
tx_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 4;
	void *na;

	if (need == 0)
		need = 1;
	if (need <= *cap && arr != NULL)
		return arr;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem || (na = realloc(arr, ncap * elem)) == NULL)
		return NULL;
	*cap = ncap;
	return na;
}

/*
 * The destinations of a route, forwards to hosted domains followed through
 * the route table (a few levels), so mail for our own users never leaves
 * through DNS.  Same expansion as the store-and-forward path.
 */
static int
tx_expand(struct insession_tx *tx, const struct dest *dests, size_t ndests,
    int depth, const struct dest ***out, size_t *n, size_t *cap)
{
	size_t i;

	for (i = 0; i < ndests; i++) {
		const struct dest *d = &dests[i];
		const struct dest *sub;
		size_t nsub;
		const char *at;

		if (d->kind == DEST_FORWARD && depth < INS_FORWARD_DEPTH &&
		    (at = strrchr(d->address, '@')) != NULL &&
		    route_lookup(tx->routes, d->address,
		    (size_t)(at - d->address), at + 1, strlen(at + 1), &sub,
		    &nsub) == ROUTE_FOUND) {
			if (tx_expand(tx, sub, nsub, depth + 1, out, n, cap) != 0)
				return -1;
			continue;
		}
		const struct dest **na;

		if (*n >= INS_TARGETS_MAX ||
		    (na = tx_grow(*out, cap, *n + 1, sizeof(**out))) == NULL)
			return -1;
		*out = na;
		(*out)[(*n)++] = d;
	}
	return 0;
}

static struct ins_leg *
tx_leg_find(struct insession_tx *tx, const char *key)
{
	struct ins_leg *leg;

	for (leg = tx->legs; leg; leg = leg->next)
		if (strcmp(leg->key, key) == 0)
			return leg;
	return NULL;
}

enum insession_rcpt_result
insession_rcpt(struct insession_tx *tx, const struct insession_rcpt *in,
    char *reply, size_t replysz)
{
	const struct config *cfg = tx->p->cfg;
	const struct dest **ds = NULL;
	struct ins_leg *newlegs[ROUTE_MAX_DESTS];
	size_t nds = 0, dscap = 0, nnew = 0, i;
	struct ins_rcpt *r = NULL, **nr;
	struct ins_target **nt;
	enum insession_rcpt_result rv = INSESSION_RCPT_ERROR;
	char key[INS_KEY_MAX];

	if (tx->data_phase || tx_expand(tx, in->dests, in->ndests, 0, &ds,
	    &nds, &dscap) != 0)
		goto out;
	if (tx->ntargets + nds > INS_TARGETS_MAX)
		goto out;
	if (cfg->split_by_destination && tx->legs != NULL) {
		/* RFC 5321 4.5.3.1.10: 452 makes the sender try it later. */
		for (i = 0; i < nds; i++) {
			if (ds[i]->kind == DEST_MAILDIR)
				continue;
			deliver_dest_key(ds[i], key, sizeof(key));
			if (tx_leg_find(tx, key) == NULL) {
				rv = INSESSION_RCPT_SPLIT;
				goto out;
			}
		}
	}
	if ((nr = tx_grow(tx->rcpts, &tx->rcpts_cap, tx->nrcpts + 1,
	    sizeof(*tx->rcpts))) == NULL)
		goto out;
	tx->rcpts = nr;
	if ((nt = tx_grow(tx->targets, &tx->targets_cap, tx->ntargets + nds,
	    sizeof(*tx->targets))) == NULL)
		goto out;
	tx->targets = nt;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto out;
	r->tag = in->tag;
	snprintf(r->addr, sizeof(r->addr), "%s", in->addr);
	snprintf(r->orcpt, sizeof(r->orcpt), "%s", in->orcpt ? in->orcpt : "");
	r->notify = in->notify;
	r->first = tx->ntargets;
	/* All allocations before anything is started. */
	for (i = 0; i < nds; i++) {
		struct ins_target *t = calloc(1, sizeof(*t));

		if (t == NULL)
			goto undo;
		t->rcpt = r;
		t->dest = ds[i];
		tx->targets[r->first + r->n++] = t;
		if (ds[i]->kind == DEST_MAILDIR)
			continue;
		deliver_dest_key(ds[i], key, sizeof(key));
		if ((t->leg = tx_leg_find(tx, key)) == NULL) {
			struct ins_leg *leg = calloc(1, sizeof(*leg));

			if (leg == NULL || nnew >= ROUTE_MAX_DESTS ||
			    (leg->timer = evtimer_new(tx->p->base,
			    leg_timer_cb, leg)) == NULL) {
				free(leg);
				goto undo;
			}
			leg->tx = tx;
			snprintf(leg->key, sizeof(leg->key), "%s", key);
			leg->dest = ds[i];
			leg->state = L_WAIT_CONN;
			leg->next = tx->legs;
			tx->legs = leg;
			newlegs[nnew++] = leg;
			t->leg = leg;
		}
	}
	tx->rcpts[tx->nrcpts++] = r;
	tx->ntargets += r->n;
	/* Now start: RCPT on open legs, connections for new ones. */
	for (i = r->first; i < r->first + r->n; i++) {
		struct ins_target *t = tx->targets[i];

		if (t->leg == NULL)
			continue;
		if (t->leg->state == L_OPEN)
			leg_issue_rcpt(t->leg, t);
		else if (t->leg->state == L_BROKEN)
			t->rcpt_res = t->leg->why;
		else if (t->leg->state == L_DONE)
			res_local(&t->rcpt_res, INS_TEMP, false, SMTPC_LOCAL,
			    "4.3.0", "", "local error: transaction over");
	}
	for (i = 0; i < nnew; i++)
		leg_start(newlegs[i]);
	if (rcpt_resolved(tx, r)) {
		/* Every answer is known already (Maildir only, or broken). */
		r->resolved = true;
		rcpt_decide(tx, r);
		if (!cfg->rcpt_check && r->refused) {
			/* Without the check its fate is told at DATA. */
			r->refused = false;
			r->code = 250;
			snprintf(r->reply, sizeof(r->reply), "250 2.1.5 Ok");
		}
		snprintf(reply, replysz, "%s", r->reply);
		rv = INSESSION_RCPT_NOW;
	} else if (cfg->rcpt_check) {
		r->wait = true;
		rv = INSESSION_RCPT_WAIT;
	} else {
		snprintf(reply, replysz, "250 2.1.5 Ok");
		rv = INSESSION_RCPT_NOW;
	}
	if (r->refused) {
		/* Not part of the transaction: its targets are never used. */
		log_info("%s: in-session: to=<%s> refused: %s", tx->qid,
		    r->addr, r->reply);
	}
	goto out;
undo:
	for (i = r->first; i < r->first + r->n; i++)
		free(tx->targets[i]);
	for (i = 0; i < nnew; i++) {
		struct ins_leg **pp;

		for (pp = &tx->legs; *pp; pp = &(*pp)->next)
			if (*pp == newlegs[i]) {
				*pp = newlegs[i]->next;
				break;
			}
		event_free(newlegs[i]->timer);
		free(newlegs[i]);
	}
	free(r);
out:
	free(ds);
	return rv;
}

bool
insession_tx_outbound(const struct insession_tx *tx)
{
	size_t i;

	for (i = 0; tx != NULL && i < tx->ntargets; i++)
		if (tx->targets[i]->leg != NULL &&
		    !tx->targets[i]->rcpt->refused)
			return true;
	return false;
}

/* ---- end of DATA ---------------------------------------------------------- */

static bool
target_live(const struct ins_target *t)
{
	return !t->rcpt->refused;
}

static void
tx_local_work(void *arg)
{
	struct insession_tx *tx = arg;
	char err[256];
	size_t i;

	for (i = 0; i < tx->ntargets; i++) {
		struct ins_target *t = tx->targets[i];

		if (t->leg != NULL || !target_live(t))
			continue;
		if (maildir_deliver(t->dest->path, tx->meta.sender,
		    t->rcpt->addr, tx->msg.data, tx->msg.len, err,
		    sizeof(err)) == 0)
			res_local(&t->res, INS_OK, true, SMTPC_LOCAL, "2.0.0",
			    "local", "delivered to maildir %s", t->dest->path);
		else
			res_local(&t->res, INS_TEMP, true, SMTPC_LOCAL, "4.3.0",
			    "local", "maildir %s: %s", t->dest->path, err);
	}
}

static void
tx_local_done(void *arg)
{
	struct insession_tx *tx = arg;

	tx->local_busy = false;
	tx_check(tx);
}

static void
tx_done(struct insession_tx *tx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
tx_done(struct insession_tx *tx, int code, const char *fmt, ...)
{
	va_list ap;

	tx->finished = true;
	tx->done_code = code;
	va_start(ap, fmt);
	if (vsnprintf(tx->done_reply, sizeof(tx->done_reply), fmt, ap) < 0)
		snprintf(tx->done_reply, sizeof(tx->done_reply), "%d", code);
	va_end(ap);
	event_active(tx->notify, 0, 0);
}

/* Final outcome of a target from its answers. */
static void
target_settle(struct ins_target *t)
{
	if (t->leg == NULL) {
		if (t->res.cls == INS_WAIT)
			res_local(&t->res, INS_TEMP, false, SMTPC_LOCAL, "4.3.0",
			    "local", "maildir copy not written");
		return;
	}
	if (t->rcpt_res.cls != INS_OK) {
		t->res = t->rcpt_res;
		if (t->res.cls == INS_WAIT)
			res_local(&t->res, INS_TEMP, false, SMTPC_LOCAL, "4.4.2",
			    "", "no answer to RCPT");
		return;
	}
	if (t->leg->data_done && t->leg->data_res.cls != INS_WAIT)
		t->res = t->leg->data_res;
	else
		res_local(&t->res, INS_TEMP, true, SMTPC_LOCAL, "4.4.2", "",
		    "no answer to DATA");
	if (t->res.cls == INS_OK || t->res.cls == INS_PERM)
		return;
	t->res.cls = INS_TEMP;
}

static double
tx_elapsed(const struct insession_tx *tx)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - tx->start.tv_sec) +
	    (double)(now.tv_usec - tx->start.tv_usec) / 1e6;
}

static void
target_log(const struct insession_tx *tx, const struct ins_target *t,
    const char *status)
{
	char host[SPOOL_HOST_MAX + 1];
	char line[sizeof(t->res.r.text)], text[sizeof(t->res.r.text)];
	size_t i;

	res_host(&t->res, host, sizeof(host));
	snprintf(line, sizeof(line), "%s", t->res.r.text);
	for (i = 0; line[i]; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	log_sanitize(text, sizeof(text), line, strlen(line));
	log_info("%s: to=<%s>, dest=%s, relay=%s, delay=%.2f, dsn=%s, "
	    "status=%s (in-session: %s)", tx->qid, t->rcpt->addr,
	    t->dest->spec, host[0] ? host : "none", tx_elapsed(tx),
	    t->res.r.enh[0] ? t->res.r.enh : "-", status, text);
}


/* Build the failure notice for the recipients picked in env. */
static int
tx_make_dsn(struct insession_tx *tx, const bool *pick)
{
	const struct config *cfg = tx->p->cfg;
	struct dsn_rcpt *dr;
	struct dsn_report rep;
	unsigned needs = 0;
	size_t i, n = 0;
	int rc = -1;

	if ((dr = calloc(tx->env.nrcpt + 1, sizeof(*dr))) == NULL)
		return -1;
	for (i = 0; i < tx->env.nrcpt; i++)
		if (pick[i])
			dsn_rcpt_from_spool(&dr[n++], &tx->env.rcpt[i],
			    DSN_ACTION_FAILED, 0);
	memset(&rep, 0, sizeof(rep));
	dsn_report_from_envelope(&rep, &tx->env);
	rep.hostname = cfg->hostname;
	rep.now = time(NULL);
	rep.msg = tx->msg.data;
	rep.msg_len = tx->msg.len;
	rep.max_full = INS_DSN_MAX_FULL;
	rep.rcpt = dr;
	rep.nrcpt = n;
	rep.explain = deliver_dsn_explain;	/* notices read alike */
	if (n == 0 || dsn_build(&rep, &tx->dsn_msg, &needs) != DSN_OK)
		goto out;
	if (dsn_envelope_make(&tx->dsn_env, cfg->hostname, tx->sender,
	    tx->routes, needs, rep.now) != 0) {
		log_warn("%s: sender <%s> has no route; failure notice dropped",
		    tx->qid, tx->sender);
		goto out;
	}
	rc = 0;
out:
	free(dr);
	return rc;
}

static void
tx_store_work(void *arg)
{
	struct insession_tx *tx = arg;
	struct spool *sp = tx->p->sp;

	/* Notice first: a crash now repeats a notice, never loses one. */
	if (tx->store_dsn)
		tx->dsn_rc = spool_message_create(sp, &tx->dsn_env,
		    tx->dsn_msg.data, tx->dsn_msg.len, NULL);
	if (tx->store_env)
		tx->env_rc = spool_message_create(sp, &tx->env, tx->msg.data,
		    tx->msg.len, NULL);
}

static void
tx_store_done(void *arg)
{
	struct insession_tx *tx = arg;
	struct deliver *dl = tx->p->dl;
	bool ok = true;

	if (tx->store_dsn) {
		if (tx->dsn_rc == SPOOL_OK) {
			log_info("%s: sender notice queued for <%s> from %s",
			    tx->dsn_env.id, tx->sender, tx->qid);
			deliver_enqueue(dl, &tx->dsn_env, NULL);
		} else {
			log_error("%s: cannot spool the notice to <%s>: %s",
			    tx->qid, tx->sender, spool_strerror(tx->dsn_rc));
			ok = false;
		}
	}
	if (tx->store_env) {
		if (tx->env_rc == SPOOL_OK)
			deliver_enqueue(dl, &tx->env, NULL);
		else {
			log_error("%s: cannot queue the message: %s", tx->qid,
			    spool_strerror(tx->env_rc));
			ok = false;
		}
	}
	if (!ok)
		/*
		 * XXX Destinations that took the message get it again when
		 * the sender retries; a duplicate is better than a loss.
		 */
		tx_done(tx, 452, "452 4.3.1 Insufficient system storage; "
		    "try again later");
	else if (tx->store_env)
		tx_done(tx, 250, "250 2.0.0 Ok: queued as %s", tx->qid);
	else
		tx_done(tx, 250, "250 2.0.0 Ok: delivered as %s; a failure "
		    "notice for %zu recipient(s) follows", tx->qid,
		    tx->nfailed);
}

/* One spool recipient per live target, with its outcome. */
static int
tx_build_env(struct insession_tx *tx, time_t now, bool *pick, size_t *npick)
{
	struct insession *p = tx->p;
	bool null_sender = tx->sender[0] == '\0';
	size_t i;

	tx->env = tx->meta;
	tx->env.rcpt = NULL;
	tx->env.nrcpt = tx->env.rcpt_cap = 0;
	*npick = 0;
	for (i = 0; i < tx->ntargets; i++) {
		const struct ins_target *t = tx->targets[i];
		struct spool_rcpt *sr;
		time_t next;

		if (!target_live(t))
			continue;
		if ((sr = spool_envelope_add_rcpt(&tx->env)) == NULL)
			return -1;
		snprintf(sr->addr, sizeof(sr->addr), "%s", t->rcpt->addr);
		snprintf(sr->orcpt, sizeof(sr->orcpt), "%s", t->rcpt->orcpt);
		sr->notify = t->rcpt->notify;
		snprintf(sr->dest, sizeof(sr->dest), "%s", t->dest->spec);
		if (t->res.tried) {
			sr->attempts = 1;
			sr->first_attempt = tx->meta.arrival ? tx->meta.arrival :
			    now;
			sr->last_attempt = now;
			res_error(&t->res, &sr->last_error);
			if (t->res.cls != INS_OK)
				sr->first_error = sr->last_error;
		}
		switch (t->res.cls) {
		case INS_OK:
			sr->state = SPOOL_RCPT_DELIVERED;
			break;
		case INS_PERM:
			sr->state = SPOOL_RCPT_FAILED;
			break;
		default:
			sr->state = SPOOL_RCPT_PENDING;
			sr->next_attempt = now;
			if (t->res.tried && sched_next_attempt(now,
			    sr->first_attempt, 1, &p->retry, NULL, NULL,
			    &next) == SCHED_RETRY)
				sr->next_attempt = next;
			else if (t->res.tried) {
				/* lifetime 0: no retry at all */
				sr->state = SPOOL_RCPT_FAILED;
				snprintf(sr->last_error.status,
				    sizeof(sr->last_error.status), "4.4.7");
			}
			break;
		}
		if (sr->state == SPOOL_RCPT_FAILED) {
			if (dsn_should_send(null_sender, sr->notify,
			    DSN_ACTION_FAILED)) {
				pick[tx->env.nrcpt - 1] = true;
				sr->dsn_sent |= SMTP_NOTIFY_FAILURE;
				(*npick)++;
			} else if (null_sender)
				log_info("%s: to=<%s>: failed notice from <> "
				    "dropped (a notice is never bounced)",
				    tx->qid, sr->addr);
		}
	}
	return 0;
}

static void
tx_finish(struct insession_tx *tx)
{
	const struct ins_target *perm = NULL;
	size_t i, nok = 0, nperm = 0, ntemp = 0, npick = 0;
	time_t now = time(NULL);
	bool *pick = NULL;
	char reply[INSESSION_REPLY_MAX];
	int code;

	tx->finishing = true;
	evtimer_del(tx->budget);
	for (i = 0; i < tx->ntargets; i++) {
		struct ins_target *t = tx->targets[i];

		if (!target_live(t))
			continue;
		target_settle(t);
		ins_record(tx, t, &t->res);
		switch (t->res.cls) {
		case INS_OK:
			nok++;
			target_log(tx, t, "sent");
			break;
		case INS_PERM:
			nperm++;
			if (perm == NULL)
				perm = t;
			target_log(tx, t, "bounced");
			break;
		default:
			ntemp++;
			target_log(tx, t, "deferred");
			break;
		}
	}
	if (nperm == 0 && ntemp == 0) {
		/* The promise: accepted by every destination, nothing stored. */
		tx_done(tx, 250, "250 2.0.0 Ok: delivered as %s", tx->qid);
		return;
	}
	if (ntemp == 0 && nok == 0 && perm != NULL) {
		/* Every destination refused: one reply says so for all. */
		code = insession_reply_reject(reply, sizeof(reply), &perm->res.r,
		    perm->rcpt_res.cls == INS_PERM ? perm->rcpt->addr : NULL);
		tx_done(tx, code, "%s", reply);
		return;
	}
	if ((pick = calloc(tx->ntargets + 1, sizeof(*pick))) == NULL ||
	    tx_build_env(tx, now, pick, &npick) != 0)
		goto nomem;
	tx->nfailed = npick;
	tx->store_env = !spool_envelope_done(&tx->env);
	if (npick > 0 && tx_make_dsn(tx, pick) == 0)
		tx->store_dsn = true;
	free(pick);
	pick = NULL;
	if (!tx->store_env && !tx->store_dsn) {
		tx_done(tx, 250, "250 2.0.0 Ok: delivered as %s", tx->qid);
		return;
	}
	if (workq_submit(tx->p->wq, tx_store_work, tx_store_done, tx) != 0)
		goto nomem;
	return;
nomem:
	free(pick);
	log_error("%s: out of memory storing the message", tx->qid);
	tx_done(tx, 451, "451 4.3.0 Error: insufficient system resources");
}

int
insession_data(struct insession_tx *tx, const struct spool_envelope *meta,
    struct buf *msg, insession_done_cb cb, void *arg)
{
	struct timeval tv = { (time_t)tx_budget(tx), 0 };
	struct ins_leg *leg;
	bool local = false;
	size_t i;

	if (tx->data_phase || tx->dying)
		return -1;
	tx->meta = *meta;
	tx->meta.rcpt = NULL;
	tx->meta.nrcpt = tx->meta.rcpt_cap = 0;
	tx->msg = *msg;
	buf_init(msg, 0);
	tx->done_cb = cb;
	tx->done_arg = arg;
	tx->data_phase = true;
	for (i = 0; i < tx->ntargets; i++)
		if (tx->targets[i]->leg == NULL && target_live(tx->targets[i]))
			local = true;
	if (local) {
		tx->local_busy = true;
		if (workq_submit(tx->p->wq, tx_local_work, tx_local_done,
		    tx) != 0)
			tx->local_busy = false;	/* settled as not written */
	}
	evtimer_add(tx->budget, &tv);
	for (leg = tx->legs; leg; leg = leg->next) {
		if (leg->state == L_OPEN)
			leg_issue_data(leg);
		else if (leg->state == L_WAIT_CONN ||
		    leg->state == L_CONNECTING)
			leg->want_data = true;
	}
	tx_check(tx);
	return 0;
}

/* ---- the pool's life ------------------------------------------------------ */

struct insession *
insession_new(struct event_base *base, const struct config *cfg,
    struct workq *wq, struct spool *sp, struct deliver *dl, char *err,
    size_t errlen)
{
	struct insession *p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->wait_timer = evtimer_new(base, pool_wait_cb, p)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->base = base;
	p->cfg = cfg;
	p->wq = wq;
	p->sp = sp;
	p->dl = dl;
	p->sched = deliver_sched(dl);
	p->dns = deliver_dns(dl);
	p->ssl_ctx = deliver_ssl_ctx(dl);
	sched_retry_from_config(cfg, &p->retry);
	return p;
}

void
insession_set_store(struct insession *p, struct store *st,
    const struct suppress_policy *pol)
{
	p->store = st;
	if (pol != NULL)
		p->policy = *pol;
	else
		suppress_policy_default(&p->policy);
}

void
insession_set_srs(struct insession *p, const struct srs *srs)
{
	p->srs = srs;
}

void
insession_free(struct insession *p)
{
	if (p == NULL)
		return;
	while (p->conns) {
		conn_detach(p->conns);
		conn_free(p->conns);
	}
	event_free(p->wait_timer);
	free(p);
}

size_t
insession_conn_count(const struct insession *p)
{
	return p ? p->nconns : 0;
}
