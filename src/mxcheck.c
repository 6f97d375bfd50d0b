/*
 * mxcheck - blocking MX / A / AAAA / null MX check with c-ares.
 * See mxcheck.h.
 */
#include <arpa/nameser.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ares.h>

#include "mxcheck.h"

static const char *const status_text[] = {
	[MXCHECK_MX] = "the domain has mail servers (MX records)",
	[MXCHECK_IMPLICIT] = "the domain has no MX record but an address record, so mail goes to that host",
	[MXCHECK_NULLMX] = "the domain says it accepts no mail (null MX, RFC 7505)",
	[MXCHECK_NXDOMAIN] = "the domain does not exist",
	[MXCHECK_NOMAIL] = "the domain exists but has no mail server and no address",
	[MXCHECK_ERROR] = "the DNS lookup failed",
};

const char *
mxcheck_status_text(enum mxcheck_status s)
{
	if ((unsigned)s > MXCHECK_ERROR)
		return "unknown";
	return status_text[s];
}

struct query {
	int	done;
	int	status;		/* ARES_* of the answer */
	struct mxcheck_result *r;
	bool	is_mx;
	bool	nullmx;
	bool	has_rr;
};

static void
mxcheck_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct query *q = arg;
	struct ares_mx_reply *mx = NULL, *e;

	(void)timeouts;
	q->done = 1;
	q->status = status;
	if (status != ARES_SUCCESS || abuf == NULL)
		return;
	if (!q->is_mx) {
		/* any answer to A/AAAA is enough: the name has an address */
		q->has_rr = alen > 12 && ((abuf[6] << 8) | abuf[7]) > 0;
		if (!q->has_rr)
			q->status = ARES_ENODATA;
		return;
	}
	if (ares_parse_mx_reply(abuf, alen, &mx) != ARES_SUCCESS) {
		q->status = ARES_ENODATA;
		return;
	}
	for (e = mx; e != NULL; e = e->next) {
		struct mxcheck_result *r = q->r;
		size_t i, at;

		q->has_rr = true;
		/* RFC 7505 3: a single MX of preference 0 and exchange "." */
		if (e->host == NULL || e->host[0] == '\0' ||
		    strcmp(e->host, ".") == 0) {
			q->nullmx = true;
			continue;
		}
		if (r->nhosts >= MXCHECK_HOSTS || strlen(e->host) >= 256)
			continue;
		/* keep hosts sorted by preference */
		for (at = 0; at < r->nhosts && r->prefs[at] <= e->priority; at++)
			;
		for (i = r->nhosts; i > at; i--) {
			memcpy(r->hosts[i], r->hosts[i - 1], 256);
			r->prefs[i] = r->prefs[i - 1];
		}
		snprintf(r->hosts[at], 256, "%s", e->host);
		r->prefs[at] = e->priority;
		r->nhosts++;
	}
	ares_free_data(mx);
}

static long
mxcheck_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drive the channel until every query is done or the deadline passes. */
static void
mxcheck_run(ares_channel ch, struct query **qs, size_t nq, long deadline)
{
	for (;;) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval maxtv, tv, *tvp;
		int bits, n = 0, i, ms, rc;
		long left;
		size_t k;
		bool pending = false;

		for (k = 0; k < nq; k++)
			if (!qs[k]->done)
				pending = true;
		if (!pending)
			return;
		left = deadline - mxcheck_now_ms();
		if (left <= 0) {
			ares_cancel(ch);
			return;
		}
		/*
		 * The ARES_GETSOCK_* macros shift a signed 1 into the sign bit
		 * (undefined behaviour for the 16th socket); test the bits as
		 * unsigned here instead.
		 */
		bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			unsigned ub = (unsigned)bits;
			bool rd = (ub & (1u << i)) != 0;
			bool wr = (ub & (1u << (i + ARES_GETSOCK_MAXNUM))) != 0;

			if (!rd && !wr)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = (short)((rd ? POLLIN : 0) |
			    (wr ? POLLOUT : 0));
			pfd[n].revents = 0;
			n++;
		}
		maxtv.tv_sec = left / 1000;
		maxtv.tv_usec = (left % 1000) * 1000;
		tvp = ares_timeout(ch, &maxtv, &tv);
		ms = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
		if (ms < 1)
			ms = 1;
		rc = poll(pfd, (nfds_t)n, ms);
		if (rc <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < n; i++)
			ares_process_fd(ch,
			    (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			    pfd[i].fd : ARES_SOCKET_BAD,
			    (pfd[i].revents & POLLOUT) ? pfd[i].fd :
			    ARES_SOCKET_BAD);
	}
}

int
mxcheck_domain(const char *domain, const char *resolver, int timeout_ms,
    struct mxcheck_result *r)
{
	struct ares_options opts;
	ares_channel ch = NULL;
	struct query qmx, qa, qaaaa;
	struct query *qs[2];
	long deadline;
	int rc = -1, e;

	memset(r, 0, sizeof(*r));
	r->status = MXCHECK_ERROR;
	if (domain == NULL || *domain == '\0' || strlen(domain) > 253) {
		snprintf(r->error, sizeof(r->error), "bad domain name");
		return -1;
	}
	if (timeout_ms <= 0)
		timeout_ms = 5000;
	if ((e = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(r->error, sizeof(r->error), "%s", ares_strerror(e));
		return -1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.timeout = timeout_ms / 3 > 0 ? timeout_ms / 3 : 1;
	opts.tries = 2;
	if ((e = ares_init_options(&ch, &opts, ARES_OPT_FLAGS |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES)) != ARES_SUCCESS) {
		snprintf(r->error, sizeof(r->error), "%s", ares_strerror(e));
		goto out;
	}
	if (resolver != NULL && *resolver != '\0' &&
	    (e = ares_set_servers_ports_csv(ch, resolver)) != ARES_SUCCESS) {
		snprintf(r->error, sizeof(r->error), "bad resolver '%s': %s",
		    resolver, ares_strerror(e));
		goto out;
	}
	deadline = mxcheck_now_ms() + timeout_ms;

	memset(&qmx, 0, sizeof(qmx));
	qmx.r = r;
	qmx.is_mx = true;
	ares_query(ch, domain, C_IN, T_MX, mxcheck_answer, &qmx);
	qs[0] = &qmx;
	mxcheck_run(ch, qs, 1, deadline);
	if (qmx.status == ARES_SUCCESS && qmx.has_rr) {
		if (qmx.nullmx && r->nhosts == 0)
			r->status = MXCHECK_NULLMX;
		else
			r->status = MXCHECK_MX;
		rc = 0;
		goto out;
	}
	if (qmx.status == ARES_ENOTFOUND) {
		r->status = MXCHECK_NXDOMAIN;
		rc = 0;
		goto out;
	}
	if (qmx.status != ARES_ENODATA && qmx.status != ARES_SUCCESS) {
		snprintf(r->error, sizeof(r->error), "MX lookup: %s",
		    ares_strerror(qmx.status));
		goto out;
	}
	/* RFC 5321 5.1: no MX -> the domain's own address is the MX */
	memset(&qa, 0, sizeof(qa));
	memset(&qaaaa, 0, sizeof(qaaaa));
	qa.r = qaaaa.r = r;
	ares_query(ch, domain, C_IN, T_A, mxcheck_answer, &qa);
	ares_query(ch, domain, C_IN, T_AAAA, mxcheck_answer, &qaaaa);
	qs[0] = &qa;
	qs[1] = &qaaaa;
	mxcheck_run(ch, qs, 2, deadline);
	if ((qa.status == ARES_SUCCESS && qa.has_rr) ||
	    (qaaaa.status == ARES_SUCCESS && qaaaa.has_rr)) {
		r->status = MXCHECK_IMPLICIT;
		rc = 0;
	} else if (qa.status == ARES_ENOTFOUND ||
	    qaaaa.status == ARES_ENOTFOUND) {
		r->status = MXCHECK_NXDOMAIN;
		rc = 0;
	} else if ((qa.status == ARES_ENODATA || qa.status == ARES_SUCCESS) &&
	    (qaaaa.status == ARES_ENODATA || qaaaa.status == ARES_SUCCESS)) {
		r->status = MXCHECK_NOMAIL;
		rc = 0;
	} else {
		snprintf(r->error, sizeof(r->error), "address lookup: %s",
		    ares_strerror(qa.status != ARES_ENODATA ? qa.status :
		    qaaaa.status));
	}
out:
	if (ch != NULL)
		ares_destroy(ch);
	ares_library_cleanup();
	return rc;
}
