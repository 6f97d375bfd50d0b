/*
 * deliver - the queue manager.  See deliver.h.
 *
 * The life of one attempt of one message:
 *
 *   due (timer) ─▶ LOAD data (worker) ─▶ groups by destination ─┬─ maildir (worker)
 *                                                               ├─ smtp://host:port
 *                                                               └─ forward (MX)
 *   all groups done ─▶ outcome per recipient, DSNs built ─▶ PERSIST (worker:
 *   DSNs spooled first, then the envelope updated or the message removed)
 *   ─▶ pending recipients pushed back on the run queue.
 */
#include "deliver.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "bounce.h"
#include "buf.h"
#include "config.h"
#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "maildir.h"
#include "route.h"
#include "schedule.h"
#include "smtp_client.h"
#include "smtp_parse.h"
#include "spool.h"
#include "srs.h"
#include "store.h"
#include "suppress.h"
#include "workq.h"

#define DLV_BUCKETS		4096
#define DLV_BUSY_RETRY		2	/* s: host at its cap, try again soon */
#define DLV_IDLE_MS		5000	/* pooled connection kept this long */
#define DLV_KEY_MAX		320
#define DLV_KEEP_MAX		(256u * 1024)	/* data kept from enqueue to
						   the first attempt */
#define DLV_DSN_MAX_FULL	(10u * 1024 * 1024)

struct deliver;
struct dmsg;

/* A pooled outbound connection to one destination key. */
struct dconn {
	struct deliver	*d;
	struct dconn	*prev, *next;
	struct smtp_client *c;
	char		 key[DLV_KEY_MAX];
	bool		 ready;
	struct dgroup	*g;		/* group using it, NULL when idle */
};

/* What one attempt did to one recipient. */
struct rres {
	bool	tried;
	bool	host_busy;		/* not attempted: host at its cap */
	enum smtp_client_class cls;
	int	reply;
	char	status[16];
	char	host[SPOOL_HOST_MAX + 1];
	char	text[SPOOL_TEXT_MAX + 1];
};

/* The recipients of one message that go to one destination. */
struct dgroup {
	struct dmsg	*m;
	struct dgroup	*next;
	struct dest	 dest;
	char		 key[DLV_KEY_MAX];
	size_t		*idx;
	size_t		 n;
	struct dconn	*conn;
	struct dns_query *q;
	bool		 slot;		/* holds a host slot not yet in a conn */
	/* smtp transaction */
	struct smtp_client_tx tx;
	struct smtp_client_rcpt *rc;
	char		(*notify)[32];
	char		(*orcpt)[SMTP_ORCPT_MAX * 3 + 16];
	char		 envid[SMTP_ENVID_MAX * 3 + 1];
	char		 srsfrom[SRS_ADDR_MAX];
};

/* One attempt's outcome for one recipient, recorded by the persist job. */
struct drec {
	char	rcpt[SPOOL_ADDR_MAX + 1];
	char	dest[SPOOL_DEST_MAX + 1];
	bool	delivered;
	int	reply;
	char	status[16];
	char	text[SPOOL_TEXT_MAX + 1];
};

/* A DSN made by an attempt, spooled by the persist job. */
struct dnew {
	struct dnew	*next;
	struct spool_envelope env;
	struct buf	 msg;
	int		 rc;
};

struct dmsg {
	struct dmsg	*hnext;
	struct deliver	*d;
	struct spool_envelope env;
	struct buf	 data;
	bool		 preloaded;	/* data came with the enqueue */
	bool		 busy;
	unsigned	 groups_left;
	struct dgroup	*groups;
	struct rres	*res;
	struct dnew	*dsns;
	struct drec	*recs;		/* outcomes for the store */
	size_t		 nrecs;
	int64_t		 rec_time;
	bool		 remove;
	int		 persist_rc;
	int		 load_rc;
};

struct deliver {
	struct event_base *base;
	const struct config *cfg;
	struct spool	*sp;
	struct workq	*wq;
	struct dns_resolver *dns;
	SSL_CTX		*ssl_ctx;
	struct sched	*sched;
	struct sched_retry retry;
	struct route_table *routes;
	struct event	*timer;
	struct dmsg	*msgs[DLV_BUCKETS];
	size_t		 nmsgs;
	size_t		 active;	/* busy messages */
	struct dconn	*conns;
	bool		 stopping;
	struct store	*store;		/* NULL: no suppression recording */
	struct suppress_policy policy;
	const struct srs *srs;		/* NULL: SRS off */
};

static void deliver_arm(struct deliver *d);
static void dmsg_attempt_done(struct dmsg *m);
static void dgroup_done(struct dgroup *g);

/* ---- message table ---------------------------------------------------- */

static unsigned
dmsg_hash(const char *id)
{
	unsigned h = 2166136261u;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h % DLV_BUCKETS;
}

static struct dmsg *
dmsg_find(struct deliver *d, const char *id)
{
	struct dmsg *m;

	for (m = d->msgs[dmsg_hash(id)]; m; m = m->hnext)
		if (strcmp(m->env.id, id) == 0)
			return m;
	return NULL;
}

static void
dmsg_unlink_free(struct dmsg *m)
{
	struct deliver *d = m->d;
	struct dmsg **pp;

	for (pp = &d->msgs[dmsg_hash(m->env.id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			d->nmsgs--;
			break;
		}
	sched_queue_remove(d->sched, m->env.id);
	spool_envelope_free(&m->env);
	buf_free(&m->data);
	free(m->res);
	free(m->recs);
	free(m);
}

/* Push every pending recipient on the run queue at its next attempt. */
static void
dmsg_schedule(struct dmsg *m)
{
	size_t i;

	for (i = 0; i < m->env.nrcpt; i++) {
		const struct spool_rcpt *r = &m->env.rcpt[i];

		if (r->state == SPOOL_RCPT_PENDING &&
		    sched_queue_push(m->d->sched, r->next_attempt, m->env.id,
		    (unsigned)i) != SCHED_OK)
			log_error("%s: out of memory scheduling a retry", m->env.id);
	}
}

/* ---- results and logging ---------------------------------------------- */

static void
copy_cut(char *dst, size_t dstsz, const char *src)
{
	size_t n = src ? strnlen(src, dstsz - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
rres_set(struct rres *rr, enum smtp_client_class cls, int reply,
    const char *status, const char *host, const char *text)
{
	rr->tried = true;
	rr->cls = cls;
	rr->reply = reply;
	/* Diagnostics: a cut is fine, they are not addresses. */
	copy_cut(rr->status, sizeof(rr->status), status);
	copy_cut(rr->host, sizeof(rr->host), host);
	copy_cut(rr->text, sizeof(rr->text), text);
	/* Keep reply text on one line for logs and envelopes. */
	for (char *p = rr->text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/*
 * The reply's text without its reply codes: "550-5.1.1 a\n550 5.1.1 b"
 * becomes "5.1.1 a 5.1.1 b" (reports print the code once, in front).
 */
static void
reply_text_strip(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = in;

	while (*p && o + 1 < outsz) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len >= 4 && isdigit((unsigned char)p[0]) &&
		    isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
		    (p[3] == ' ' || p[3] == '-')) {
			p += 4;
			len -= 4;
		}
		if (o > 0 && o + 1 < outsz)
			out[o++] = ' ';
		while (len > 0 && o + 1 < outsz) {
			out[o++] = *p++;
			len--;
		}
		p += len;
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	out[o] = '\0';
}

static void
rres_from_reply(struct rres *rr, const struct smtp_client_reply *r)
{
	char text[sizeof(r->text)];
	char host[sizeof(r->host) + sizeof(r->addr) + 16];
	const char *status = r->enh;
	char fallback[16];

	if (r->addr[0])
		snprintf(host, sizeof(host), "%s[%s]:%u", r->host, r->addr, r->port);
	else
		snprintf(host, sizeof(host), "%s", r->host);
	if (status[0] == '\0' && r->code >= 200 && r->code < 600) {
		/* No enhanced code from the server: X.0.0 by class (RFC 3463). */
		snprintf(fallback, sizeof(fallback), "%d.0.0", (r->code / 100) % 10);
		status = fallback;
	}
	if (r->kind == SMTPC_REPLY)
		reply_text_strip(r->text, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", r->text);
	rres_set(rr, smtp_client_reply_class(r), r->code, status, host, text);
}

static void
dmsg_log(const struct dmsg *m, const struct spool_rcpt *r,
    const struct rres *rr, const char *status, const char *dest)
{
	double delay = difftime(time(NULL), m->env.arrival);

	log_info("%s: to=<%s>, %s%s%srelay=%s, delay=%.0f, attempts=%u, dsn=%s, "
	    "status=%s (%s)", m->env.id, r->addr,
	    dest ? "dest=" : "", dest ? dest : "", dest ? ", " : "",
	    rr->host[0] ? rr->host : "none", delay, r->attempts,
	    rr->status[0] ? rr->status : "-", status, rr->text);
}

/* ---- DSNs ------------------------------------------------------------- */

/*
 * The plain-English part of a notice comes from the bounce classifier, so
 * the relay's own reports explain a failure the same way `bounce explain`
 * does: what it means, then what to do.
 */
static int
deliver_explain(void *arg, enum dsn_action action, int reply,
    const char *status, const char *text, struct buf *out)
{
	struct bounce_verdict v;

	if (action != DSN_ACTION_FAILED && action != DSN_ACTION_DELAYED)
		return dsn_explain_builtin(arg, action, reply, status, text, out);
	bounce_classify(reply, status, text, &v);
	if (v.meaning == NULL || v.meaning[0] == '\0')
		return dsn_explain_builtin(arg, action, reply, status, text, out);
	if (buf_append_str(out, v.meaning) != 0 ||
	    (v.code_text && v.code_text[0] && status && status[0] &&
	    buf_printf(out, "\nCode %s means: %s.", status, v.code_text) != 0) ||
	    (action == DSN_ACTION_DELAYED && buf_append_str(out,
	    "\nNothing is lost: the relay keeps trying and will tell you if it "
	    "gives up.") != 0) ||
	    (v.fix && v.fix[0] && (buf_append_str(out, "\nWhat to do: ") != 0 ||
	    buf_append_str(out, v.fix) != 0)))
		return -1;
	return 0;
}

/*
 * Build one DSN with the given action for the recipients flagged in pick,
 * and queue it on m->dsns for the persist job to spool.
 */
static void
dmsg_make_dsn(struct dmsg *m, enum dsn_action action, const bool *pick)
{
	struct deliver *d = m->d;
	struct dsn_rcpt *dr = NULL;
	struct dsn_report rep;
	struct dnew *dn = NULL;
	unsigned needs = 0;
	size_t i, n = 0;
	time_t until = 0;

	if ((dr = calloc(m->env.nrcpt, sizeof(*dr))) == NULL)
		goto fail;
	if (action == DSN_ACTION_DELAYED)
		until = m->env.arrival + (time_t)d->retry.lifetime;
	for (i = 0; i < m->env.nrcpt; i++)
		if (pick[i])
			dsn_rcpt_from_spool(&dr[n++], &m->env.rcpt[i], action, until);
	if (n == 0)
		goto out;
	if ((dn = calloc(1, sizeof(*dn))) == NULL)
		goto fail;
	spool_envelope_init(&dn->env);
	buf_init(&dn->msg, 0);
	memset(&rep, 0, sizeof(rep));
	dsn_report_from_envelope(&rep, &m->env);
	rep.hostname = d->cfg->hostname;
	rep.now = time(NULL);
	rep.msg = m->data.data;
	rep.msg_len = m->data.len;
	rep.max_full = DLV_DSN_MAX_FULL;
	rep.rcpt = dr;
	rep.nrcpt = n;
	rep.explain = deliver_explain;
	if (dsn_build(&rep, &dn->msg, &needs) != DSN_OK)
		goto fail;
	if (dsn_envelope_make(&dn->env, d->cfg->hostname, m->env.sender,
	    d->routes, needs, rep.now) != 0) {
		log_warn("%s: sender <%s> has no route; %s notice dropped",
		    m->env.id, m->env.sender, dsn_action_name(action));
		goto drop;
	}
	dn->next = m->dsns;
	m->dsns = dn;
	goto out;
fail:
	log_error("%s: cannot build the %s notice for <%s>", m->env.id,
	    dsn_action_name(action), m->env.sender);
drop:
	if (dn) {
		spool_envelope_free(&dn->env);
		buf_free(&dn->msg);
		free(dn);
	}
out:
	free(dr);
}

/* ---- persisting (worker) ---------------------------------------------- */

static void
dmsg_persist_work(void *arg)
{
	struct dmsg *m = arg;
	struct deliver *d = m->d;
	struct dnew *dn;
	size_t i;

	/* Outcomes feed the suppression list (blocking: hence here). */
	for (i = 0; i < m->nrecs; i++) {
		struct drec *rc = &m->recs[i];

		suppress_record_attempt(d->store, &d->policy, rc->rcpt, rc->dest,
		    rc->delivered, rc->reply, rc->status, rc->text,
		    SUPPRESS_SRC_RETRY, m->rec_time);
	}
	/* Notices first: a crash now repeats a notice, never loses one. */
	for (dn = m->dsns; dn; dn = dn->next)
		dn->rc = spool_message_create(d->sp, &dn->env, dn->msg.data,
		    dn->msg.len, NULL);
	if (m->remove)
		m->persist_rc = spool_message_remove(d->sp, m->env.id);
	else
		m->persist_rc = spool_envelope_update(d->sp, &m->env);
}

static void
dmsg_persist_done(void *arg)
{
	struct dmsg *m = arg;
	struct deliver *d = m->d;
	struct dnew *dn, *next;

	for (dn = m->dsns; dn; dn = next) {
		next = dn->next;
		if (dn->rc == SPOOL_OK) {
			log_info("%s: sender notice %s for <%s> from %s", dn->env.id,
			    "queued", m->env.sender, m->env.id);
			deliver_enqueue(d, &dn->env, &dn->msg);
		} else {
			log_error("%s: cannot spool the notice to <%s>: %s",
			    m->env.id, m->env.sender, spool_strerror(dn->rc));
		}
		spool_envelope_free(&dn->env);
		buf_free(&dn->msg);
		free(dn);
	}
	m->dsns = NULL;
	free(m->recs);
	m->recs = NULL;
	m->nrecs = 0;
	buf_free(&m->data);
	m->busy = false;
	d->active--;
	if (m->persist_rc != SPOOL_OK && m->persist_rc != SPOOL_ENOENT)
		log_error("%s: cannot update the queue file: %s; state kept in "
		    "memory", m->env.id, spool_strerror(m->persist_rc));
	if (m->remove || m->persist_rc == SPOOL_ENOENT) {
		if (m->remove)
			log_info("%s: removed", m->env.id);
		else
			log_info("%s: gone from the queue (deleted by an operator)",
			    m->env.id);
		dmsg_unlink_free(m);
	} else {
		dmsg_schedule(m);
	}
	deliver_arm(d);
}

/* ---- outcome of an attempt -------------------------------------------- */

static void
dmsg_attempt_done(struct dmsg *m)
{
	struct deliver *d = m->d;
	const struct config *cfg = d->cfg;
	bool *fail = NULL, *delay = NULL, *ok = NULL;
	struct timeval tv;
	time_t now;
	bool null_sender = m->env.sender[0] == '\0';
	size_t i;

	/*
	 * Retry times are whole seconds: count from the next full second so
	 * an interval is never shorter than the schedule says.
	 */
	gettimeofday(&tv, NULL);
	now = tv.tv_sec + (tv.tv_usec > 0 ? 1 : 0);
	fail = calloc(m->env.nrcpt + 1, sizeof(bool));
	delay = calloc(m->env.nrcpt + 1, sizeof(bool));
	ok = calloc(m->env.nrcpt + 1, sizeof(bool));
	if (d->store != NULL) {
		free(m->recs);
		m->nrecs = 0;
		m->rec_time = tv.tv_sec;
		m->recs = calloc(m->env.nrcpt + 1, sizeof(*m->recs));
	}
	for (i = 0; i < m->env.nrcpt; i++) {
		struct spool_rcpt *r = &m->env.rcpt[i];
		struct rres *rr = &m->res[i];
		enum sched_verdict v;
		time_t next;

		if (!rr->tried)
			continue;
		if (rr->host_busy) {
			r->next_attempt = now + DLV_BUSY_RETRY;
			continue;
		}
		r->attempts++;
		r->last_attempt = now;
		if (r->first_attempt == 0)
			r->first_attempt = m->env.arrival ? m->env.arrival : now;
		spool_error_set(&r->last_error, rr->reply, rr->status, rr->host,
		    rr->text, strlen(rr->text));
		if (m->recs != NULL) {
			struct drec *rc = &m->recs[m->nrecs++];

			snprintf(rc->rcpt, sizeof(rc->rcpt), "%s", r->addr);
			snprintf(rc->dest, sizeof(rc->dest), "%s", r->dest);
			rc->delivered = rr->cls == SMTPC_OK;
			rc->reply = rr->reply;
			snprintf(rc->status, sizeof(rc->status), "%s", rr->status);
			snprintf(rc->text, sizeof(rc->text), "%s", rr->text);
		}
		if (rr->cls != SMTPC_OK && r->first_error.reply == 0 &&
		    r->first_error.text[0] == '\0')
			r->first_error = r->last_error;
		switch (rr->cls) {
		case SMTPC_OK:
			r->state = SPOOL_RCPT_DELIVERED;
			dmsg_log(m, r, rr, "sent", r->dest);
			if (ok && dsn_should_send(null_sender, r->notify, DSN_ACTION_DELIVERED) &&
			    !(r->dsn_sent & SMTP_NOTIFY_SUCCESS)) {
				ok[i] = true;
				r->dsn_sent |= SMTP_NOTIFY_SUCCESS;
			}
			break;
		case SMTPC_PERM:
			r->state = SPOOL_RCPT_FAILED;
			dmsg_log(m, r, rr, "bounced", r->dest);
			goto failed;
		case SMTPC_TEMP:
		default:
			v = sched_next_attempt(now, r->first_attempt, r->attempts,
			    &d->retry, sched_rand_default, NULL, &next);
			if (v == SCHED_EXPIRED) {
				r->state = SPOOL_RCPT_FAILED;
				if (r->last_error.status[0] == '\0')
					snprintf(r->last_error.status,
					    sizeof(r->last_error.status), "4.4.7");
				dmsg_log(m, r, rr, "expired, returned to sender", r->dest);
				goto failed;
			}
			r->next_attempt = next;
			dmsg_log(m, r, rr, "deferred", r->dest);
			if (delay && cfg->retry_delay_warning &&
			    !(r->dsn_sent & SMTP_NOTIFY_DELAY) &&
			    sched_delay_warning_due(now, r->first_attempt,
			    cfg->retry_delay_warning) &&
			    dsn_should_send(null_sender, r->notify, DSN_ACTION_DELAYED)) {
				delay[i] = true;
				r->dsn_sent |= SMTP_NOTIFY_DELAY;
			}
			break;
		}
		continue;
failed:
		if (fail && dsn_should_send(null_sender, r->notify, DSN_ACTION_FAILED) &&
		    !(r->dsn_sent & SMTP_NOTIFY_FAILURE)) {
			fail[i] = true;
			r->dsn_sent |= SMTP_NOTIFY_FAILURE;
		} else if (null_sender) {
			log_info("%s: to=<%s>: failed notice from <> dropped "
			    "(a notice is never bounced)", m->env.id, r->addr);
		}
	}
	if (fail)
		dmsg_make_dsn(m, DSN_ACTION_FAILED, fail);
	if (delay)
		dmsg_make_dsn(m, DSN_ACTION_DELAYED, delay);
	if (ok)
		dmsg_make_dsn(m, DSN_ACTION_DELIVERED, ok);
	free(fail);
	free(delay);
	free(ok);
	free(m->res);
	m->res = NULL;
	m->remove = spool_envelope_done(&m->env);
	if (workq_submit(d->wq, dmsg_persist_work, dmsg_persist_done, m) != 0) {
		/* XXX no memory for a job: do it inline rather than lose state. */
		dmsg_persist_work(m);
		dmsg_persist_done(m);
	}
}

/* ---- groups ----------------------------------------------------------- */

static void
dgroup_free(struct dgroup *g)
{
	route_dest_clear(&g->dest);
	free(g->idx);
	free(g->rc);
	free(g->notify);
	free(g->orcpt);
	free(g);
}

static void
dgroup_fail_all(struct dgroup *g, enum smtp_client_class cls, int reply,
    const char *status, const char *host, const char *text)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		rres_set(&g->m->res[g->idx[i]], cls, reply, status, host, text);
}

static void
dgroup_done(struct dgroup *g)
{
	struct dmsg *m = g->m;

	if (--m->groups_left == 0) {
		struct dgroup *x, *next;

		for (x = m->groups; x; x = next) {
			next = x->next;
			dgroup_free(x);
		}
		m->groups = NULL;
		dmsg_attempt_done(m);
	}
}

/* Worker: write each recipient's copy into the Maildir. */
static void
dgroup_maildir_work(void *arg)
{
	struct dgroup *g = arg;
	struct dmsg *m = g->m;
	char err[256];
	size_t i;

	for (i = 0; i < g->n; i++) {
		const struct spool_rcpt *r = &m->env.rcpt[g->idx[i]];

		if (maildir_deliver(g->dest.path, m->env.sender, r->addr,
		    m->data.data, m->data.len, err, sizeof(err)) == 0)
			rres_set(&m->res[g->idx[i]], SMTPC_OK, 250, "2.0.0",
			    "local", "delivered to maildir");
		else
			rres_set(&m->res[g->idx[i]], SMTPC_TEMP, 451, "4.3.0",
			    "local", err);
	}
}

static void
dgroup_maildir_done(void *arg)
{
	dgroup_done(arg);
}

static void dconn_free(struct dconn *dc);

static void
dgroup_tx_done(struct smtp_client *c, struct smtp_client_tx *tx, void *arg)
{
	struct dgroup *g = arg;
	struct dconn *dc = g->conn;
	size_t i;

	(void)c;
	for (i = 0; i < g->n; i++)
		rres_from_reply(&g->m->res[g->idx[i]], &tx->rcpts[i].result);
	dc->g = NULL;
	g->conn = NULL;
	if (g->m->d->stopping)
		smtp_client_quit(dc->c);	/* closed cb frees it */
	dgroup_done(g);
}

static void
xtext_or_empty(const char *in, char *out, size_t outsz)
{
	if (smtp_xtext_encode(in, strlen(in), out, outsz) < 0)
		out[0] = '\0';
}

static void
dgroup_send(struct dgroup *g, struct dconn *dc)
{
	struct dmsg *m = g->m;
	const struct spool_envelope *env = &m->env;
	size_t i;

	g->conn = dc;
	dc->g = g;
	memset(&g->tx, 0, sizeof(g->tx));
	g->tx.mail.from = deliver_mail_from(m->d->srs, m->d->routes, &g->dest,
	    env->sender, g->srsfrom, sizeof(g->srsfrom));
	g->tx.mail.size = m->data.len;
	g->tx.mail.eightbit = env->body != SMTP_BODY_7BIT;
	g->tx.mail.smtputf8 = env->smtputf8;
	g->tx.mail.ret = env->ret == SMTP_RET_FULL ? "FULL" :
	    env->ret == SMTP_RET_HDRS ? "HDRS" : NULL;
	if (env->envid[0]) {
		xtext_or_empty(env->envid, g->envid, sizeof(g->envid));
		g->tx.mail.envid = g->envid[0] ? g->envid : NULL;
	}
	for (i = 0; i < g->n; i++) {
		const struct spool_rcpt *r = &env->rcpt[g->idx[i]];
		struct smtp_client_rcpt *rc = &g->rc[i];
		const char *orig = r->orcpt[0] ? r->orcpt : NULL;
		char tmp[SMTP_ORCPT_MAX + 16];
		const char *semi;

		rc->addr = g->dest.kind == DEST_FORWARD ? g->dest.address : r->addr;
		/* ORCPT: what the sender gave, else the address we accepted. */
		if (orig == NULL) {
			snprintf(tmp, sizeof(tmp), "rfc822;%s", r->addr);
			orig = tmp;
		}
		if ((semi = strchr(orig, ';')) != NULL) {
			char enc[SMTP_ORCPT_MAX * 3 + 1];

			xtext_or_empty(semi + 1, enc, sizeof(enc));
			snprintf(g->orcpt[i], sizeof(g->orcpt[i]), "%.*s;%s",
			    (int)(semi - orig), orig, enc);
			rc->orcpt = enc[0] ? g->orcpt[i] : NULL;
		}
		if (r->notify & SMTP_NOTIFY_NEVER)
			snprintf(g->notify[i], sizeof(g->notify[i]), "NEVER");
		else if (r->notify)
			snprintf(g->notify[i], sizeof(g->notify[i]), "%s%s%s%s%s",
			    (r->notify & SMTP_NOTIFY_SUCCESS) ? "SUCCESS" : "",
			    (r->notify & SMTP_NOTIFY_SUCCESS) &&
			    (r->notify & (SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY)) ? "," : "",
			    (r->notify & SMTP_NOTIFY_FAILURE) ? "FAILURE" : "",
			    (r->notify & SMTP_NOTIFY_FAILURE) &&
			    (r->notify & SMTP_NOTIFY_DELAY) ? "," : "",
			    (r->notify & SMTP_NOTIFY_DELAY) ? "DELAY" : "");
		rc->notify = g->notify[i][0] ? g->notify[i] : NULL;
	}
	g->tx.rcpts = g->rc;
	g->tx.nrcpts = g->n;
	g->tx.msg = m->data.data;
	g->tx.msglen = m->data.len;
	if (smtp_client_send(dc->c, &g->tx, dgroup_tx_done, g) != 0) {
		dc->g = NULL;
		g->conn = NULL;
		dgroup_fail_all(g, SMTPC_TEMP, 0, "4.3.0", smtp_client_host(dc->c),
		    "local error: cannot start the transaction");
		smtp_client_quit(dc->c);
		dgroup_done(g);
	}
}

static void
dconn_unlink(struct dconn *dc)
{
	struct deliver *d = dc->d;

	if (dc->prev)
		dc->prev->next = dc->next;
	else if (d->conns == dc)
		d->conns = dc->next;
	if (dc->next)
		dc->next->prev = dc->prev;
	dc->prev = dc->next = NULL;
}

static void
dconn_free(struct dconn *dc)
{
	dconn_unlink(dc);
	sched_host_release(dc->d->sched, dc->key);
	smtp_client_free(dc->c);
	free(dc);
}

static void
dconn_ready_cb(struct smtp_client *c, const struct smtp_client_reply *fail,
    void *arg)
{
	struct dconn *dc = arg;
	struct dgroup *g = dc->g;
	struct rres rr;

	(void)c;
	if (fail != NULL) {
		memset(&rr, 0, sizeof(rr));
		rres_from_reply(&rr, fail);
		if (g != NULL) {
			/* A connection failure is always temporary (RFC 5321 4.2.5). */
			dgroup_fail_all(g, rr.cls == SMTPC_OK ? SMTPC_TEMP : rr.cls,
			    rr.reply, rr.status[0] ? rr.status : "4.4.1",
			    rr.host, rr.text);
			g->conn = NULL;
		}
		dconn_free(dc);
		if (g != NULL)
			dgroup_done(g);
		return;
	}
	dc->ready = true;
	if (g != NULL)
		dgroup_send(g, dc);
}

static void
dconn_closed_cb(struct smtp_client *c, const struct smtp_client_reply *why,
    void *arg)
{
	struct dconn *dc = arg;

	(void)c;
	(void)why;
	/* Any group using it already got its results from the tx callback. */
	if (dc->g != NULL) {
		dc->g->conn = NULL;
		dc->g = NULL;
	}
	dconn_free(dc);
}

static struct dconn *
dconn_find_idle(struct deliver *d, const char *key)
{
	struct dconn *dc;

	for (dc = d->conns; dc; dc = dc->next)
		if (dc->ready && dc->g == NULL && strcmp(dc->key, key) == 0 &&
		    smtp_client_is_idle(dc->c))
			return dc;
	return NULL;
}

static void
dgroup_dns_cb(const struct dns_mx_result *res, void *arg)
{
	struct dgroup *g = arg;
	struct deliver *d = g->m->d;
	struct sockaddr_storage ss[SMTPC_MAX_ADDRS];
	struct smtp_client_opts opts;
	static const struct smtp_client_cbs cbs = { dconn_ready_cb, dconn_closed_cb };
	struct dconn *dc;
	unsigned port;
	size_t n = 0, h, a;

	g->q = NULL;
	if (res->status != DNS_OK) {
		char text[512];

		snprintf(text, sizeof(text), "DNS lookup of %s: %s", res->domain,
		    res->error ? res->error : dns_status_name(res->status));
		dgroup_fail_all(g, dns_status_permanent(res->status) ? SMTPC_PERM :
		    SMTPC_TEMP, 0, dns_status_enhanced(res->status), "", text);
		sched_host_release(d->sched, g->key);
		g->slot = false;
		dgroup_done(g);
		return;
	}
	for (h = 0; h < res->nhosts && n < SMTPC_MAX_ADDRS; h++)
		for (a = 0; a < res->hosts[h].naddrs && n < SMTPC_MAX_ADDRS; a++)
			ss[n++] = res->hosts[h].addrs[a].sa;
	port = g->dest.kind == DEST_SMTP ? g->dest.port : d->cfg->mx_port;
	memset(&opts, 0, sizeof(opts));
	opts.helo_name = d->cfg->hostname;
	opts.tls = d->ssl_ctx ? d->cfg->outbound_tls : OUTBOUND_TLS_NONE;
	opts.ssl_ctx = d->ssl_ctx;
	opts.timeouts.idle = DLV_IDLE_MS;
	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		goto fail;
	dc->d = d;
	snprintf(dc->key, sizeof(dc->key), "%s", g->key);
	if ((dc->c = smtp_client_new(d->base, &opts, &cbs, dc)) == NULL) {
		free(dc);
		goto fail;
	}
	g->slot = false;	/* the connection owns the host slot now */
	dc->next = d->conns;
	if (d->conns)
		d->conns->prev = dc;
	d->conns = dc;
	dc->g = g;
	g->conn = dc;
	if (smtp_client_connect(dc->c, res->nhosts ? res->hosts[0].name : res->domain,
	    ss, n, port) != 0) {
		g->conn = NULL;
		dc->g = NULL;
		dconn_free(dc);
		dgroup_fail_all(g, SMTPC_TEMP, 0, "4.4.1", "", "cannot connect");
		dgroup_done(g);
	}
	return;
fail:
	sched_host_release(d->sched, g->key);
	g->slot = false;
	dgroup_fail_all(g, SMTPC_TEMP, 0, "4.3.0", "", "local error: out of memory");
	dgroup_done(g);
}

static void
dgroup_start(struct dgroup *g)
{
	struct deliver *d = g->m->d;
	struct dconn *dc;
	size_t i;

	if (g->dest.kind == DEST_MAILDIR) {
		if (workq_submit(d->wq, dgroup_maildir_work, dgroup_maildir_done, g) != 0) {
			dgroup_fail_all(g, SMTPC_TEMP, 0, "4.3.0", "local", "out of memory");
			dgroup_done(g);
		}
		return;
	}
	if ((dc = dconn_find_idle(d, g->key)) != NULL) {
		dgroup_send(g, dc);
		return;
	}
	if (sched_host_acquire(d->sched, g->key) != SCHED_OK) {
		for (i = 0; i < g->n; i++) {
			g->m->res[g->idx[i]].tried = true;
			g->m->res[g->idx[i]].host_busy = true;
		}
		dgroup_done(g);
		return;
	}
	g->slot = true;
	if (g->dest.kind == DEST_SMTP)
		g->q = dns_resolve_host(d->dns, g->dest.host, dgroup_dns_cb, g);
	else
		g->q = dns_resolve_mx(d->dns, strrchr(g->dest.address, '@') + 1,
		    dgroup_dns_cb, g);
	if (g->q == NULL) {
		sched_host_release(d->sched, g->key);
		g->slot = false;
		dgroup_fail_all(g, SMTPC_TEMP, 0, "4.3.0", "", "local error: DNS");
		dgroup_done(g);
	}
}

const char *
deliver_mail_from(const struct srs *srs, const struct route_table *rt,
    const struct dest *dst, const char *sender, char *buf, size_t bufsz)
{
	const char *at;
	int rc;

	/* RFC 5321 4.5.5: <> stays <>; only forwards leave our domains. */
	if (srs == NULL || sender[0] == '\0' || dst->kind != DEST_FORWARD ||
	    (at = strrchr(dst->address, '@')) == NULL)
		return sender;
	if (rt != NULL && route_domain_hosted(rt, at + 1, strlen(at + 1)))
		return sender;
	rc = srs_forward(srs, sender, (int64_t)time(NULL), buf, bufsz);
	if (rc != SRS_OK) {
		log_warn("SRS: cannot rewrite <%s>: %s; sending it as is",
		    sender, srs_strerror(rc));
		return sender;
	}
	return buf;
}

static void
dest_key(const struct dest *dst, char *key, size_t keysz)
{
	size_t i;

	if (dst->kind == DEST_MAILDIR)
		snprintf(key, keysz, "maildir:%s", dst->path);
	else if (dst->kind == DEST_SMTP)
		snprintf(key, keysz, "smtp:%s:%u", dst->host, dst->port);
	else
		snprintf(key, keysz, "mx:%s", strrchr(dst->address, '@') + 1);
	for (i = 0; key[i]; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
}

/* Sort the message's due recipients into groups by destination. */
static int
dmsg_make_groups(struct dmsg *m, time_t now)
{
	struct dgroup *g;
	size_t i;

	for (i = 0; i < m->env.nrcpt; i++) {
		const struct spool_rcpt *r = &m->env.rcpt[i];
		struct dest dst;
		char key[DLV_KEY_MAX];
		const char *why;
		size_t *nidx;

		if (r->state != SPOOL_RCPT_PENDING || r->next_attempt > now)
			continue;
		memset(&dst, 0, sizeof(dst));
		if (route_dest_parse(r->dest, strlen(r->dest), &dst, &why) != 0) {
			rres_set(&m->res[i], SMTPC_PERM, 0, "5.3.5", "",
			    "bad destination in queue file");
			route_dest_clear(&dst);
			continue;
		}
		dest_key(&dst, key, sizeof(key));
		for (g = m->groups; g; g = g->next)
			if (strcmp(g->key, key) == 0)
				break;
		if (g == NULL) {
			if ((g = calloc(1, sizeof(*g))) == NULL) {
				route_dest_clear(&dst);
				return -1;
			}
			g->m = m;
			g->dest = dst;
			snprintf(g->key, sizeof(g->key), "%s", key);
			g->next = m->groups;
			m->groups = g;
			m->groups_left++;
		} else {
			route_dest_clear(&dst);
		}
		if ((nidx = realloc(g->idx, (g->n + 1) * sizeof(size_t))) == NULL)
			return -1;
		g->idx = nidx;
		g->idx[g->n++] = i;
	}
	for (g = m->groups; g; g = g->next) {
		g->rc = calloc(g->n, sizeof(*g->rc));
		g->notify = calloc(g->n, sizeof(*g->notify));
		g->orcpt = calloc(g->n, sizeof(*g->orcpt));
		if (!g->rc || !g->notify || !g->orcpt)
			return -1;
	}
	return 0;
}

/* ---- attempts --------------------------------------------------------- */

static void
dmsg_load_work(void *arg)
{
	struct dmsg *m = arg;
	struct spool_envelope tmp;

	buf_init(&m->data, 0);
	m->load_rc = spool_message_load(m->d->sp, m->env.id, &tmp, &m->data);
	spool_envelope_free(&tmp);
}

static void
dmsg_load_done(void *arg)
{
	struct dmsg *m = arg;
	struct deliver *d = m->d;
	struct dgroup *g, *next;
	time_t now = time(NULL);

	if (m->load_rc != SPOOL_OK || d->stopping) {
		if (m->load_rc != SPOOL_OK)
			log_error("%s: cannot read the queue file: %s", m->env.id,
			    spool_strerror(m->load_rc));
		buf_free(&m->data);
		m->busy = false;
		d->active--;
		if (m->load_rc == SPOOL_ENOENT || m->load_rc == SPOOL_ECORRUPT)
			dmsg_unlink_free(m);
		else if (!d->stopping) {
			size_t i;

			for (i = 0; i < m->env.nrcpt; i++)
				if (m->env.rcpt[i].next_attempt <= now)
					m->env.rcpt[i].next_attempt = now + 60;
			dmsg_schedule(m);
		}
		return;
	}
	if ((m->res = calloc(m->env.nrcpt + 1, sizeof(*m->res))) == NULL ||
	    dmsg_make_groups(m, now) != 0) {
		log_error("%s: out of memory starting an attempt", m->env.id);
		for (g = m->groups; g; g = next) {
			next = g->next;
			dgroup_free(g);
		}
		m->groups = NULL;
		m->groups_left = 0;
		free(m->res);
		m->res = NULL;
		buf_free(&m->data);
		m->busy = false;
		d->active--;
		dmsg_schedule(m);
		return;
	}
	if (m->groups == NULL) {
		/* Nothing due (or only bad destinations): record and go on. */
		dmsg_attempt_done(m);
		return;
	}
	/* Start every group; the last one to finish closes the attempt. */
	m->groups_left++;
	for (g = m->groups; g; g = g->next)
		dgroup_start(g);
	if (--m->groups_left == 0) {
		for (g = m->groups; g; g = next) {
			next = g->next;
			dgroup_free(g);
		}
		m->groups = NULL;
		dmsg_attempt_done(m);
	}
}

static void
dmsg_attempt_start(struct dmsg *m)
{
	struct deliver *d = m->d;

	m->busy = true;
	d->active++;
	if (m->preloaded) {
		m->preloaded = false;
		m->load_rc = SPOOL_OK;
		dmsg_load_done(m);
		return;
	}
	if (workq_submit(d->wq, dmsg_load_work, dmsg_load_done, m) != 0) {
		m->busy = false;
		d->active--;
		log_error("%s: out of memory", m->env.id);
	}
}

static void
deliver_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *d = arg;
	struct sched_entry e;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	while (sched_queue_pop_due(d->sched, now, &e)) {
		struct dmsg *m = dmsg_find(d, e.id);

		/* Stale entries (busy, done, rescheduled) are just triggers. */
		if (m == NULL || m->busy || e.rcpt >= m->env.nrcpt)
			continue;
		if (m->env.rcpt[e.rcpt].state != SPOOL_RCPT_PENDING ||
		    m->env.rcpt[e.rcpt].next_attempt > now)
			continue;
		dmsg_attempt_start(m);
	}
	deliver_arm(d);
}

static void
deliver_arm(struct deliver *d)
{
	struct sched_entry e;
	struct timeval tv = { 0, 0 }, now;

	if (d->stopping || !sched_queue_peek(d->sched, &e))
		return;
	gettimeofday(&now, NULL);
	if (e.when > now.tv_sec) {
		/* Wake at the start of the due second, to the microsecond. */
		tv.tv_sec = e.when - now.tv_sec - 1;
		tv.tv_usec = 1000000 - now.tv_usec;
		if (tv.tv_usec >= 1000000) {
			tv.tv_sec++;
			tv.tv_usec -= 1000000;
		}
	}
	evtimer_add(d->timer, &tv);
}

/* ---- public ----------------------------------------------------------- */

void
deliver_set_store(struct deliver *d, struct store *st,
    const struct suppress_policy *p, const struct srs *srs)
{
	d->store = st;
	if (p != NULL)
		d->policy = *p;
	else
		suppress_policy_default(&d->policy);
	d->srs = srs;
}

struct deliver *
deliver_new(struct event_base *base, const struct config *cfg,
    struct spool *sp, struct workq *wq, char *err, size_t errlen)
{
	struct deliver *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->base = base;
	d->cfg = cfg;
	d->sp = sp;
	d->wq = wq;
	sched_retry_from_config(cfg, &d->retry);
	if ((d->sched = sched_new(cfg->max_per_host)) == NULL ||
	    (d->timer = evtimer_new(base, deliver_timer_cb, d)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((d->dns = dns_resolver_new(base, cfg->dns_resolver, NULL, err,
	    errlen)) == NULL)
		goto fail;
	if (cfg->outbound_tls != OUTBOUND_TLS_NONE &&
	    (d->ssl_ctx = smtp_client_ssl_ctx_new(NULL, err, errlen)) == NULL)
		goto fail;
	return d;
fail:
	deliver_free(d);
	return NULL;
}

void
deliver_free(struct deliver *d)
{
	size_t i;

	if (d == NULL)
		return;
	d->stopping = true;
	while (d->conns) {
		struct dconn *dc = d->conns;

		dc->g = NULL;
		dconn_free(dc);
	}
	if (d->dns)
		dns_resolver_free(d->dns);
	for (i = 0; i < DLV_BUCKETS; i++)
		while (d->msgs[i]) {
			struct dmsg *m = d->msgs[i];
			struct dgroup *g, *next;

			for (g = m->groups; g; g = next) {
				next = g->next;
				dgroup_free(g);
			}
			m->groups = NULL;
			dmsg_unlink_free(m);
		}
	if (d->timer)
		event_free(d->timer);
	if (d->sched)
		sched_free(d->sched);
	route_table_free(d->routes);
	SSL_CTX_free(d->ssl_ctx);
	free(d);
}

void
deliver_set_routes(struct deliver *d, struct route_table *rt)
{
	route_table_free(d->routes);
	d->routes = route_table_ref(rt);
}

static int
deliver_recover_one(const struct spool_envelope *env, void *arg)
{
	struct deliver *d = arg;
	struct spool_envelope copy;

	if (spool_envelope_copy(&copy, env) != SPOOL_OK)
		return -1;
	deliver_enqueue(d, &copy, NULL);
	spool_envelope_free(&copy);
	return 0;
}

static int
deliver_rescan_one(const struct spool_envelope *env, void *arg)
{
	struct deliver *d = arg;

	if (dmsg_find(d, env->id) != NULL)
		return 0;
	return deliver_recover_one(env, arg);
}

long
deliver_rescan(struct deliver *d)
{
	size_t before = d->nmsgs;
	int rc;

	/*
	 * XXX This reads envelopes on the loop thread; it runs only when an
	 * operator asks (queue delete/retry), and never deletes young files.
	 */
	rc = spool_scan(d->sp, 24 * 3600, deliver_rescan_one, d, NULL);
	if (rc != 0)
		return rc < 0 ? rc : SPOOL_ELOCAL;
	return (long)(d->nmsgs - before);
}

long
deliver_recover(struct deliver *d)
{
	size_t found = 0;
	int rc;

	rc = spool_scan(d->sp, 0, deliver_recover_one, d, &found);
	if (rc != 0)
		return rc < 0 ? rc : SPOOL_ELOCAL;
	return (long)found;
}

void
deliver_enqueue(struct deliver *d, struct spool_envelope *env,
    struct buf *data)
{
	struct dmsg *m;
	unsigned h;

	if (dmsg_find(d, env->id) != NULL) {
		/* Already ours (a rescan raced with the server's hand-over). */
		spool_envelope_free(env);
		spool_envelope_init(env);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_error("%s: out of memory; the message waits for a restart",
		    env->id);
		return;
	}
	m->d = d;
	m->env = *env;
	/* The envelope's recipients now belong to m. */
	spool_envelope_init(env);
	buf_init(&m->data, 0);
	if (data != NULL && data->len > 0 && data->len <= DLV_KEEP_MAX) {
		/* Still in memory: the first attempt need not read it back. */
		m->data = *data;
		buf_init(data, 0);
		m->preloaded = true;
	}
	h = dmsg_hash(m->env.id);
	m->hnext = d->msgs[h];
	d->msgs[h] = m;
	d->nmsgs++;
	dmsg_schedule(m);
	deliver_arm(d);
}

size_t
deliver_retry_now(struct deliver *d, const char *id)
{
	time_t now = time(NULL);
	size_t i, b, n = 0;

	for (b = 0; b < DLV_BUCKETS; b++) {
		struct dmsg *m;

		for (m = d->msgs[b]; m; m = m->hnext) {
			if (id != NULL && strcmp(m->env.id, id) != 0)
				continue;
			if (m->busy)
				continue;
			for (i = 0; i < m->env.nrcpt; i++)
				if (m->env.rcpt[i].state == SPOOL_RCPT_PENDING) {
					m->env.rcpt[i].next_attempt = now;
					n++;
				}
			dmsg_schedule(m);
		}
	}
	deliver_arm(d);
	return n;
}

void
deliver_stop(struct deliver *d)
{
	struct dconn *dc, *next;

	d->stopping = true;
	evtimer_del(d->timer);
	for (dc = d->conns; dc; dc = next) {
		next = dc->next;
		if (dc->g == NULL)
			dconn_free(dc);
	}
}

bool
deliver_idle(const struct deliver *d)
{
	return d->active == 0;
}

size_t
deliver_queue_size(const struct deliver *d)
{
	return d->nmsgs;
}

/* ---- shared with in-session delivery ----------------------------------- */

struct sched *
deliver_sched(struct deliver *d)
{
	return d->sched;
}

struct dns_resolver *
deliver_dns(struct deliver *d)
{
	return d->dns;
}

struct ssl_ctx_st *
deliver_ssl_ctx(struct deliver *d)
{
	return d->ssl_ctx;
}

void
deliver_dest_key(const struct dest *dst, char *key, size_t keysz)
{
	dest_key(dst, key, keysz);
}

int
deliver_dsn_explain(void *arg, enum dsn_action action, int reply,
    const char *status, const char *text, struct buf *out)
{
	return deliver_explain(arg, action, reply, status, text, out);
}
