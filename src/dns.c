/*
 * dns - asynchronous MX and address lookups.  See dns.h for the contract.
 *
 * c-ares tells us through its socket-state callback which sockets it wants
 * watched; each gets a persistent libevent event.  One timer follows
 * ares_timeout() so that retransmissions and timeouts happen even when no
 * packet arrives.  A lookup (struct dns_query) may issue several c-ares
 * requests (the MX query, then one ares_getaddrinfo per MX target); it counts
 * them in `pending` and completes when the count drops to zero.  Completion
 * is reported from a separate event (finish_ev) so that the user callback
 * never runs inside dns_resolve_* or inside c-ares, which may call its own
 * callbacks synchronously (numeric names, hosts file, some errors).
 *
 * Freeing: dns_resolver_free() marks every query cancelled; if c-ares is on
 * the stack (depth > 0) the channel is destroyed after it returns.
 * ares_destroy() calls every outstanding c-ares callback with
 * ARES_EDESTRUCTION, which frees the queries it still owned.
 */
#include "dns.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DNS_MAX_MX_RECORDS	256	/* records looked at before sorting */

struct dns_sock {
	struct dns_resolver *r;
	ares_socket_t fd;
	short	what;
	struct event *ev;
};

struct dns_sub {
	struct dns_query *q;
	size_t	idx;
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;	/* r->queries list */
	dns_cb	cb;
	void	*arg;
	bool	cancelled;
	bool	reporting;		/* user callback running or ran */
	bool	is_mx;
	int	pending;		/* outstanding c-ares callbacks */
	struct event *finish_ev;
	char	domain[DNS_NAME_MAX];

	enum dns_status status;
	bool	implicit;
	size_t	nhosts;
	struct dns_host *hosts;		/* DNS_MAX_HOSTS entries */
	int	host_status[DNS_MAX_HOSTS];	/* ARES_* per host */
	struct dns_sub subs[DNS_MAX_HOSTS];
	char	error[256];
};

struct dns_resolver {
	struct event_base *base;
	ares_channel ch;
	bool	ch_ok;
	struct event *timer;
	struct dns_sock **socks;
	size_t	nsocks, capsocks;
	struct dns_query *queries;
	int	depth;		/* >0 while c-ares or a user callback runs */
	bool	dying;
	uint64_t rng;
};

static void dns_resched(struct dns_resolver *r);
static void dns_resolver_destroy(struct dns_resolver *r);

/* xorshift64*: only for shuffling equal MX preferences, not for secrets. */
static uint64_t
dns_rand(struct dns_resolver *r)
{
	uint64_t x = r->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	return x * 2685821657736338717ULL;
}

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:		return "OK";
	case DNS_TEMPFAIL:	return "TEMPFAIL";
	case DNS_NXDOMAIN:	return "NXDOMAIN";
	case DNS_NULLMX:	return "NULLMX";
	case DNS_NODATA:	return "NODATA";
	case DNS_NOADDR:	return "NOADDR";
	}
	return "?";
}

const char *
dns_status_enhanced(enum dns_status st)
{
	switch (st) {
	case DNS_OK:		return "2.0.0";
	case DNS_TEMPFAIL:	return "4.4.3";	/* RFC 3463: directory server failure */
	case DNS_NXDOMAIN:	return "5.1.2";	/* bad destination system address */
	case DNS_NULLMX:	return "5.1.10";/* RFC 7505 section 4.2 */
	case DNS_NODATA:	return "5.1.2";
	case DNS_NOADDR:	return "5.4.4";	/* unable to route */
	}
	return "4.4.3";
}

bool
dns_status_permanent(enum dns_status st)
{
	return st == DNS_NXDOMAIN || st == DNS_NULLMX || st == DNS_NODATA ||
	    st == DNS_NOADDR;
}

/* --- libevent glue for c-ares ------------------------------------------ */

static void
dns_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock *s = arg;
	struct dns_resolver *r = s->r;	/* s may be freed inside ares */

	r->depth++;
	ares_process_fd(r->ch, (what & EV_READ) ? (ares_socket_t)fd :
	    ARES_SOCKET_BAD, (what & EV_WRITE) ? (ares_socket_t)fd :
	    ARES_SOCKET_BAD);
	r->depth--;
	if (r->dying && r->depth == 0)
		dns_resolver_destroy(r);
	else
		dns_resched(r);
}

static void
dns_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;

	(void)fd;
	(void)what;
	r->depth++;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	r->depth--;
	if (r->dying && r->depth == 0)
		dns_resolver_destroy(r);
	else
		dns_resched(r);
}

/* c-ares: start, change or stop watching fd. */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_sock *s = NULL;
	size_t i;
	short what;

	for (i = 0; i < r->nsocks; i++)
		if (r->socks[i]->fd == fd) {
			s = r->socks[i];
			break;
		}
	if (!readable && !writable) {
		if (s == NULL)
			return;
		event_free(s->ev);
		free(s);
		r->socks[i] = r->socks[--r->nsocks];
		return;
	}
	what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	if (s != NULL && s->what == what)
		return;
	if (s == NULL) {
		if (r->nsocks == r->capsocks) {
			size_t ncap = r->capsocks ? r->capsocks * 2 : 8;
			struct dns_sock **n = realloc(r->socks,
			    ncap * sizeof(*n));

			if (n == NULL)
				goto fail;
			r->socks = n;
			r->capsocks = ncap;
		}
		if ((s = calloc(1, sizeof(*s))) == NULL)
			goto fail;
		s->r = r;
		s->fd = fd;
		r->socks[r->nsocks++] = s;
	} else {
		event_free(s->ev);
		s->ev = NULL;
	}
	s->what = what;
	s->ev = event_new(r->base, (evutil_socket_t)fd, what | EV_PERSIST,
	    dns_sock_event, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0)
		goto fail;
	return;
fail:
	/*
	 * Cannot watch the socket: the request will end by its timeout (the
	 * timer is independent of socket events), i.e. as a temporary failure.
	 */
	return;
}

static void
dns_resched(struct dns_resolver *r)
{
	struct timeval tvbuf, *tv;

	if (!r->ch_ok)
		return;
	tv = ares_timeout(r->ch, NULL, &tvbuf);
	if (tv == NULL)
		evtimer_del(r->timer);
	else
		evtimer_add(r->timer, tv);
}

/* --- queries ------------------------------------------------------------ */

static void
dns_query_unlink_free(struct dns_query *q)
{
	struct dns_resolver *r = q->r;

	if (q->prev)
		q->prev->next = q->next;
	else if (r != NULL && r->queries == q)
		r->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->finish_ev)
		event_free(q->finish_ev);
	free(q->hosts);
	free(q);
}

static void
dns_query_finish_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_resolver *r = q->r;
	struct dns_mx_result res;

	(void)fd;
	(void)what;
	q->reporting = true;
	if (!q->cancelled) {
		memset(&res, 0, sizeof(res));
		res.status = q->status;
		res.domain = q->domain;
		res.implicit = q->implicit;
		res.nhosts = q->status == DNS_OK ? q->nhosts : 0;
		res.hosts = q->hosts;
		res.error = q->error;
		r->depth++;
		q->cb(&res, q->arg);
		r->depth--;
	}
	dns_query_unlink_free(q);
	if (r->dying && r->depth == 0)
		dns_resolver_destroy(r);
}

/* All c-ares work for q is over: report from the loop, or just free. */
static void
dns_query_complete(struct dns_query *q)
{
	if (q->cancelled) {
		dns_query_unlink_free(q);
		return;
	}
	event_active(q->finish_ev, 0, 0);
}

static void dns_query_fail(struct dns_query *q, enum dns_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
dns_query_fail(struct dns_query *q, enum dns_status st, const char *fmt, ...)
{
	va_list ap;
	int n;

	q->status = st;
	va_start(ap, fmt);
	n = vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	if (n < 0)
		q->error[0] = '\0';
	/* A longer text is cut by vsnprintf: it is for humans only. */
}

static bool
dns_addr_seen(const struct dns_host *h, const struct dns_addr *a)
{
	size_t i;

	for (i = 0; i < h->naddrs; i++)
		if (strcmp(h->addrs[i].text, a->text) == 0)
			return true;
	return false;
}

/* Append one address (port forced to 0) to h unless full or duplicate. */
static void
dns_host_add_addr(struct dns_host *h, const struct sockaddr *sa)
{
	struct dns_addr a;

	if (h->naddrs >= DNS_MAX_ADDRS)
		return;
	memset(&a, 0, sizeof(a));
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		sin.sin_port = 0;
		memcpy(&a.sa, &sin, sizeof(sin));
		a.salen = sizeof(sin);
		inet_ntop(AF_INET, &sin.sin_addr, a.text, sizeof(a.text));
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		sin6.sin6_port = 0;
		memcpy(&a.sa, &sin6, sizeof(sin6));
		a.salen = sizeof(sin6);
		inet_ntop(AF_INET6, &sin6.sin6_addr, a.text, sizeof(a.text));
	} else
		return;
	if (!dns_addr_seen(h, &a))
		h->addrs[h->naddrs++] = a;
}

/* Decide the outcome once every address lookup has answered. */
static void
dns_query_conclude(struct dns_query *q)
{
	size_t i, kept = 0;
	bool temp = false;
	int st0 = q->host_status[0];

	if (q->implicit) {
		if (q->hosts[0].naddrs > 0) {
			q->status = DNS_OK;
			q->nhosts = 1;
		} else if (st0 == ARES_SUCCESS || st0 == ARES_ENODATA ||
		    st0 == ARES_ENOTFOUND) {
			/*
			 * For an MX lookup the domain exists (the MX query
			 * said NODATA), so "not found" here means no A/AAAA.
			 */
			if (!q->is_mx && st0 == ARES_ENOTFOUND)
				dns_query_fail(q, DNS_NXDOMAIN,
				    "host %s not found", q->domain);
			else
				dns_query_fail(q, DNS_NODATA,
				    "%s has no MX and no address records",
				    q->domain);
		} else
			dns_query_fail(q, DNS_TEMPFAIL,
			    "address lookup for %s failed: %s", q->domain,
			    ares_strerror(st0));
		return;
	}
	for (i = 0; i < q->nhosts; i++) {
		if (q->hosts[i].naddrs == 0) {
			if (q->host_status[i] != ARES_SUCCESS &&
			    q->host_status[i] != ARES_ENODATA &&
			    q->host_status[i] != ARES_ENOTFOUND)
				temp = true;
			continue;
		}
		if (kept != i)
			q->hosts[kept] = q->hosts[i];
		kept++;
	}
	q->nhosts = kept;
	if (kept > 0)
		q->status = DNS_OK;
	else if (temp)
		dns_query_fail(q, DNS_TEMPFAIL,
		    "no MX host of %s could be resolved (temporary)",
		    q->domain);
	else
		dns_query_fail(q, DNS_NOADDR,
		    "no MX host of %s has an address", q->domain);
}

static void
dns_addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_sub *sub = arg;
	struct dns_query *q = sub->q;
	struct ares_addrinfo_node *n;

	(void)timeouts;
	q->pending--;
	if (!q->cancelled && status != ARES_EDESTRUCTION) {
		q->host_status[sub->idx] = status;
		if (status == ARES_SUCCESS && res != NULL)
			for (n = res->nodes; n != NULL; n = n->ai_next)
				if (n->ai_addr != NULL)
					dns_host_add_addr(&q->hosts[sub->idx],
					    n->ai_addr);
	}
	if (status == ARES_EDESTRUCTION)
		q->cancelled = true;
	if (res != NULL)
		ares_freeaddrinfo(res);
	if (q->pending > 0)
		return;
	if (!q->cancelled)
		dns_query_conclude(q);
	dns_query_complete(q);
}

static void
dns_start_addr_lookups(struct dns_query *q)
{
	struct ares_addrinfo_hints hints;
	size_t i;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Count all first: ares_getaddrinfo may call back synchronously. */
	q->pending += (int)q->nhosts;
	for (i = 0; i < q->nhosts; i++) {
		q->subs[i].q = q;
		q->subs[i].idx = i;
		q->host_status[i] = ARES_ENODATA;
		ares_getaddrinfo(q->r->ch, q->hosts[i].name, NULL, &hints,
		    dns_addr_cb, &q->subs[i]);
	}
}

static int
dns_host_cmp(const void *a, const void *b)
{
	const struct dns_host *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

/* Copy a name, dropping one trailing dot; -1 if empty or too long. */
static int
dns_name_copy(char *dst, size_t dstsz, const char *src)
{
	size_t len = strlen(src);

	if (len > 0 && src[len - 1] == '.')
		len--;
	if (len == 0 || len >= dstsz)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* Fill q->hosts from the MX answer: sort, shuffle ties, cap. */
static void
dns_take_mx(struct dns_query *q, struct ares_mx_reply *mx)
{
	struct dns_host *all = NULL;
	struct ares_mx_reply *m;
	size_t n = 0, nrec = 0, i, j, k;

	for (m = mx; m != NULL; m = m->next)
		nrec++;
	/* RFC 7505 3: a null MX is the only MX record, target ".". */
	if (nrec == 1 && (mx->host[0] == '\0' || strcmp(mx->host, ".") == 0)) {
		dns_query_fail(q, DNS_NULLMX,
		    "domain %s does not accept mail (null MX)", q->domain);
		return;
	}
	if (nrec > DNS_MAX_MX_RECORDS)
		nrec = DNS_MAX_MX_RECORDS;
	if ((all = calloc(nrec, sizeof(*all))) == NULL) {
		dns_query_fail(q, DNS_TEMPFAIL, "MX lookup for %s: %s",
		    q->domain, "out of memory");
		return;
	}
	for (m = mx; m != NULL && n < nrec; m = m->next) {
		/* A "." among real MX records is a misconfiguration: skip. */
		if (dns_name_copy(all[n].name, sizeof(all[n].name),
		    m->host) != 0)
			continue;
		all[n].pref = m->priority;
		n++;
	}
	if (n == 0) {
		free(all);
		dns_query_fail(q, DNS_NOADDR, "MX records of %s are unusable",
		    q->domain);
		return;
	}
	qsort(all, n, sizeof(*all), dns_host_cmp);
	/* RFC 5321 5.1: randomize among equal preferences (Fisher-Yates). */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && all[j].pref == all[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			size_t pick = i + (size_t)(dns_rand(q->r) %
			    (uint64_t)(k - i + 1));
			struct dns_host tmp = all[k];

			all[k] = all[pick];
			all[pick] = tmp;
		}
	}
	if (n > DNS_MAX_HOSTS)
		n = DNS_MAX_HOSTS;
	memcpy(q->hosts, all, n * sizeof(*all));
	q->nhosts = n;
	free(all);
	dns_start_addr_lookups(q);
}

static void
dns_mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct ares_mx_reply *mx = NULL;
	int prc;

	(void)timeouts;
	q->pending--;
	if (status == ARES_EDESTRUCTION)
		q->cancelled = true;
	if (q->cancelled)
		goto out;
	switch (status) {
	case ARES_SUCCESS:
		prc = ares_parse_mx_reply(abuf, alen, &mx);
		if (prc == ARES_SUCCESS && mx != NULL)
			dns_take_mx(q, mx);
		else if (prc == ARES_ENODATA || (prc == ARES_SUCCESS &&
		    mx == NULL))
			goto implicit;	/* e.g. only a CNAME chain */
		else
			dns_query_fail(q, DNS_TEMPFAIL,
			    "MX lookup for %s: bad answer: %s", q->domain,
			    ares_strerror(prc));
		break;
	case ARES_ENODATA:
implicit:
		/* RFC 5321 5.1: no MX -> the domain is its own MX. */
		q->implicit = true;
		q->nhosts = 1;
		q->hosts[0].pref = 0;
		memcpy(q->hosts[0].name, q->domain, sizeof(q->hosts[0].name));
		dns_start_addr_lookups(q);
		break;
	case ARES_ENOTFOUND:
		dns_query_fail(q, DNS_NXDOMAIN,
		    "domain %s does not exist (NXDOMAIN)", q->domain);
		break;
	default:
		dns_query_fail(q, DNS_TEMPFAIL, "MX lookup for %s failed: %s",
		    q->domain, ares_strerror(status));
		break;
	}
out:
	if (mx != NULL)
		ares_free_data(mx);
	if (q->pending == 0)
		dns_query_complete(q);
}

static struct dns_query *
dns_query_new(struct dns_resolver *r, const char *name, dns_cb cb, void *arg)
{
	struct dns_query *q;

	if (r == NULL || r->dying || name == NULL || cb == NULL)
		return NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if (dns_name_copy(q->domain, sizeof(q->domain), name) != 0)
		goto fail;
	if ((q->hosts = calloc(DNS_MAX_HOSTS, sizeof(*q->hosts))) == NULL)
		goto fail;
	if ((q->finish_ev = event_new(r->base, -1, 0, dns_query_finish_event,
	    q)) == NULL)
		goto fail;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->status = DNS_TEMPFAIL;
	q->next = r->queries;
	if (r->queries)
		r->queries->prev = q;
	r->queries = q;
	return q;
fail:
	free(q->hosts);
	free(q);
	return NULL;
}

struct dns_query *
dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_cb cb,
    void *arg)
{
	struct dns_query *q;

	if ((q = dns_query_new(r, domain, cb, arg)) == NULL)
		return NULL;
	q->is_mx = true;
	q->pending = 1;
	ares_query(r->ch, q->domain, ns_c_in, ns_t_mx, dns_mx_cb, q);
	dns_resched(r);
	return q;
}

struct dns_query *
dns_resolve_host(struct dns_resolver *r, const char *name, dns_cb cb,
    void *arg)
{
	struct dns_query *q;
	char lit[DNS_NAME_MAX];
	size_t len;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (name == NULL)
		return NULL;
	/* Strip [brackets] from an address literal. */
	len = strlen(name);
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		if (len - 2 >= sizeof(lit))
			return NULL;
		memcpy(lit, name + 1, len - 2);
		lit[len - 2] = '\0';
	} else if (len < sizeof(lit)) {
		memcpy(lit, name, len + 1);
	} else
		return NULL;
	if ((q = dns_query_new(r, lit, cb, arg)) == NULL)
		return NULL;
	q->implicit = true;
	q->nhosts = 1;
	memcpy(q->hosts[0].name, q->domain, sizeof(q->hosts[0].name));
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, lit, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		dns_host_add_addr(&q->hosts[0], (struct sockaddr *)&sin);
	} else if (inet_pton(AF_INET6, lit, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		dns_host_add_addr(&q->hosts[0], (struct sockaddr *)&sin6);
	}
	if (q->hosts[0].naddrs > 0) {
		q->status = DNS_OK;
		dns_query_complete(q);
		return q;
	}
	dns_start_addr_lookups(q);
	dns_resched(r);
	return q;
}

void
dns_query_cancel(struct dns_query *q)
{
	if (q == NULL || q->cancelled || q->reporting)
		return;
	q->cancelled = true;
	/* Still owned by c-ares: freed by its last callback. */
	if (q->pending == 0)
		dns_query_unlink_free(q);
}

/* --- resolver ----------------------------------------------------------- */

/* Check "IP", "IP:PORT" or "[IP6]:PORT" so errors are ours, not c-ares'. */
static int
dns_server_check(const char *server, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *p, *port = NULL;
	unsigned char tmp[sizeof(struct in6_addr)];
	size_t hl;

	if (server[0] == '[') {
		if ((p = strchr(server, ']')) == NULL)
			goto bad;
		hl = (size_t)(p - server - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, server + 1, hl);
		host[hl] = '\0';
		if (p[1] == ':')
			port = p + 2;
		else if (p[1] != '\0')
			goto bad;
		if (inet_pton(AF_INET6, host, tmp) != 1)
			goto bad;
	} else {
		p = strchr(server, ':');
		if (p != NULL && strchr(p + 1, ':') != NULL)
			goto bad;	/* bare IPv6 with a port is ambiguous */
		hl = p ? (size_t)(p - server) : strlen(server);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, server, hl);
		host[hl] = '\0';
		if (p)
			port = p + 1;
		if (inet_pton(AF_INET, host, tmp) != 1)
			goto bad;
	}
	if (port != NULL) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(port, &end, 10);
		if (port[0] == '\0' || *end != '\0' || errno || v == 0 ||
		    v > 65535)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad DNS server '%s' (want IP, IP:PORT or "
	    "[IPv6]:PORT)", server);
	return -1;
}

struct dns_resolver *
dns_resolver_new(struct event_base *base, const char *server,
    const struct dns_opts *opts, char *err, size_t errlen)
{
	struct dns_resolver *r = NULL;
	struct ares_options ao;
	int mask, rc;
	bool custom = server != NULL && server[0] != '\0';
	uint64_t seed = 0;
	char lookups_dns[] = "b", lookups_sys[] = "fb";

	if (custom && dns_server_check(server, err, errlen) != 0)
		return NULL;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(rc));
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->base = base;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	r->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	if ((r->timer = evtimer_new(base, dns_timer_event, r)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	memset(&ao, 0, sizeof(ao));
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_DOMAINS | ARES_OPT_NDOTS | ARES_OPT_LOOKUPS;
	ao.sock_state_cb = dns_sock_state;
	ao.sock_state_cb_data = r;
	ao.timeout = (opts && opts->timeout_ms) ? (int)opts->timeout_ms : 3000;
	ao.tries = (opts && opts->tries) ? (int)opts->tries : 3;
	/* Mail domains are absolute: never append search domains. */
	ao.domains = NULL;
	ao.ndomains = 0;
	ao.ndots = 1;
	/* A configured server means DNS only (tests, explicit setups). */
	ao.lookups = custom ? lookups_dns : lookups_sys;
	if ((rc = ares_init_options(&r->ch, &ao, mask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(rc));
		goto fail;
	}
	r->ch_ok = true;
	if (custom && (rc = ares_set_servers_ports_csv(r->ch, server)) !=
	    ARES_SUCCESS) {
		snprintf(err, errlen, "DNS server '%s': %s", server,
		    ares_strerror(rc));
		goto fail;
	}
	return r;
fail:
	if (r != NULL) {
		if (r->ch_ok)
			ares_destroy(r->ch);
		if (r->timer)
			event_free(r->timer);
		free(r);
	}
	ares_library_cleanup();
	return NULL;
}

static void
dns_resolver_destroy(struct dns_resolver *r)
{
	struct dns_query *q, *next;
	size_t i;

	/* Outstanding c-ares callbacks run now with ARES_EDESTRUCTION. */
	r->depth++;
	ares_destroy(r->ch);
	r->ch_ok = false;
	r->depth--;
	/* What is left waits only for its finish event: drop it. */
	for (q = r->queries; q != NULL; q = next) {
		next = q->next;
		q->r = NULL;
		q->prev = q->next = NULL;
		if (q->finish_ev)
			event_free(q->finish_ev);
		free(q->hosts);
		free(q);
	}
	r->queries = NULL;
	for (i = 0; i < r->nsocks; i++) {
		event_free(r->socks[i]->ev);
		free(r->socks[i]);
	}
	free(r->socks);
	event_free(r->timer);
	free(r);
	ares_library_cleanup();
}

void
dns_resolver_free(struct dns_resolver *r)
{
	struct dns_query *q;

	if (r == NULL || r->dying)
		return;
	r->dying = true;
	for (q = r->queries; q != NULL; q = q->next)
		q->cancelled = true;
	if (r->depth == 0)
		dns_resolver_destroy(r);
}
