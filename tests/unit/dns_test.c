/*
 * dns_test - MX and address lookups against a real dnsmasq on loopback.
 *
 * The group setup starts dnsmasq on a free 127.0.0.1 port with test zones,
 * every test drives a resolver on its own event loop, and the teardown
 * stops dnsmasq (SIGTERM + waitpid).  Timeout tests use a UDP socket that
 * is bound but never answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

static pid_t dnsmasq_pid = -1;
static char dns_server[64];



static int
group_setup(void **state)
{
	unsigned port;
	int attempt;
	char portarg[32];

	(void)state;
	for (attempt = 0; attempt < 5; attempt++) {
		port = testnet_free_port(SOCK_DGRAM);
		snprintf(portarg, sizeof(portarg), "--port=%u", port);
		dnsmasq_pid = fork();
		if (dnsmasq_pid < 0)
			return -1;
		if (dnsmasq_pid == 0) {
			int devnull = open("/dev/null", O_RDWR);

			if (devnull >= 0) {
				dup2(devnull, 0);
				dup2(devnull, 1);
			}
			execl("/usr/sbin/dnsmasq", "dnsmasq", "--no-daemon",
			    "--conf-file=/dev/null", "--pid-file=", portarg,
			    "--listen-address=127.0.0.1", "--bind-interfaces",
			    "--no-resolv", "--no-hosts", "--local=/test/",
			    "--log-facility=-", "--quiet-dhcp",
			    /* four MX hosts, two sharing preference 20 */
			    "--mx-host=dest.test,mx1.dest.test,10",
			    "--mx-host=dest.test,mx2.dest.test,20",
			    "--mx-host=dest.test,mx3.dest.test,20",
			    "--mx-host=dest.test,mx0.dest.test,5",
			    "--host-record=mx0.dest.test,127.0.0.10",
			    "--host-record=mx1.dest.test,127.0.0.11",
			    "--host-record=mx2.dest.test,127.0.0.12,::1",
			    "--host-record=mx3.dest.test,127.0.0.13",
			    "--mx-host=nullmx.test,.,0",
			    "--host-record=nomx.test,127.0.0.1",
			    "--mx-host=noaddr.test,ghost.noaddr.test,10",
			    "--txt-record=empty.test,nothing here",
			    (char *)NULL);
			_exit(127);
		}
		if (testnet_wait_tcp(port, 3000) == 0) {
			snprintf(dns_server, sizeof(dns_server),
			    "127.0.0.1:%u", port);
			return 0;
		}
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	fprintf(stderr, "dnsmasq did not start\n");
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	return 0;
}

/* --- a small harness: run the loop until N callbacks or a deadline ------ */

struct got {
	int	calls;
	enum dns_status status;
	bool	implicit;
	size_t	nhosts;
	struct dns_host hosts[DNS_MAX_HOSTS];
	char	error[256];
	struct event_base *base;
	int	want;
	struct dns_resolver *free_me;	/* free the resolver in the callback */
};

static void
got_cb(const struct dns_mx_result *res, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->status = res->status;
	g->implicit = res->implicit;
	g->nhosts = res->nhosts;
	if (res->nhosts)
		memcpy(g->hosts, res->hosts, res->nhosts * sizeof(*res->hosts));
	snprintf(g->error, sizeof(g->error), "%s", res->error);
	if (g->free_me) {
		dns_resolver_free(g->free_me);
		g->free_me = NULL;
	}
	if (g->calls >= g->want)
		event_base_loopbreak(g->base);
}

static void
run_loop(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static struct dns_resolver *
new_resolver(struct event_base *base, const char *server, unsigned tmo_ms,
    unsigned tries)
{
	struct dns_opts o = { tmo_ms, tries };
	char err[256] = "";
	struct dns_resolver *r = dns_resolver_new(base, server, &o, err,
	    sizeof(err));

	if (r == NULL)
		fprintf(stderr, "resolver: %s\n", err);
	assert_non_null(r);
	return r;
}

static void
lookup_mx(struct event_base *base, struct dns_resolver *r, const char *d,
    struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->base = base;
	g->want = 1;
	assert_non_null(dns_resolve_mx(r, d, got_cb, g));
	assert_int_equal(g->calls, 0);	/* never called synchronously */
	run_loop(base, 10000);
	assert_int_equal(g->calls, 1);
}

/* --- tests -------------------------------------------------------------- */

static void
test_mx_order(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = new_resolver(base, dns_server, 1000, 2);
	struct got g;
	int run, seen23 = 0, seen32 = 0;

	(void)state;
	for (run = 0; run < 24; run++) {
		lookup_mx(base, r, "dest.test", &g);
		assert_int_equal(g.status, DNS_OK);
		assert_false(g.implicit);
		assert_int_equal(g.nhosts, 4);
		assert_string_equal(g.hosts[0].name, "mx0.dest.test");
		assert_int_equal(g.hosts[0].pref, 5);
		assert_string_equal(g.hosts[1].name, "mx1.dest.test");
		assert_int_equal(g.hosts[1].pref, 10);
		assert_int_equal(g.hosts[2].pref, 20);
		assert_int_equal(g.hosts[3].pref, 20);
		assert_int_equal(g.hosts[0].naddrs, 1);
		assert_string_equal(g.hosts[0].addrs[0].text, "127.0.0.10");
		assert_int_equal(g.hosts[0].addrs[0].sa.ss_family, AF_INET);
		assert_string_equal(g.hosts[1].addrs[0].text, "127.0.0.11");
		if (strcmp(g.hosts[2].name, "mx2.dest.test") == 0) {
			assert_string_equal(g.hosts[3].name, "mx3.dest.test");
			seen23++;
		} else {
			assert_string_equal(g.hosts[2].name, "mx3.dest.test");
			assert_string_equal(g.hosts[3].name, "mx2.dest.test");
			seen32++;
		}
	}
	/* Equal preferences are shuffled: both orders occur (p ~ 1e-7). */
	assert_true(seen23 > 0);
	assert_true(seen32 > 0);
	/* mx2 has A and AAAA: both are returned. */
	lookup_mx(base, r, "dest.test.", &g);
	{
		size_t i;
		const struct dns_host *h = NULL;
		bool v4 = false, v6 = false;

		for (i = 0; i < g.nhosts; i++)
			if (strcmp(g.hosts[i].name, "mx2.dest.test") == 0)
				h = &g.hosts[i];
		assert_non_null(h);
		assert_int_equal(h->naddrs, 2);
		for (i = 0; i < h->naddrs; i++) {
			if (strcmp(h->addrs[i].text, "127.0.0.12") == 0)
				v4 = true;
			if (strcmp(h->addrs[i].text, "::1") == 0) {
				v6 = true;
				assert_int_equal(h->addrs[i].sa.ss_family,
				    AF_INET6);
			}
		}
		assert_true(v4 && v6);
	}
	dns_resolver_free(r);
	event_base_free(base);
}

static void
test_implicit_mx(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = new_resolver(base, dns_server, 1000, 2);
	struct got g;

	(void)state;
	lookup_mx(base, r, "nomx.test", &g);
	assert_int_equal(g.status, DNS_OK);
	assert_true(g.implicit);
	assert_int_equal(g.nhosts, 1);
	assert_string_equal(g.hosts[0].name, "nomx.test");
	assert_int_equal(g.hosts[0].naddrs, 1);
	assert_string_equal(g.hosts[0].addrs[0].text, "127.0.0.1");
	dns_resolver_free(r);
	event_base_free(base);
}

static void
test_permanent_failures(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = new_resolver(base, dns_server, 1000, 2);
	struct got g;

	(void)state;
	lookup_mx(base, r, "nullmx.test", &g);
	assert_int_equal(g.status, DNS_NULLMX);
	assert_int_equal(g.nhosts, 0);
	assert_string_equal(dns_status_enhanced(g.status), "5.1.10");
	assert_true(dns_status_permanent(g.status));
	assert_non_null(strstr(g.error, "null MX"));

	lookup_mx(base, r, "nosuch.test", &g);
	assert_int_equal(g.status, DNS_NXDOMAIN);
	assert_string_equal(dns_status_enhanced(g.status), "5.1.2");
	assert_non_null(strstr(g.error, "nosuch.test"));

	lookup_mx(base, r, "empty.test", &g);
	assert_int_equal(g.status, DNS_NODATA);
	assert_string_equal(dns_status_enhanced(g.status), "5.1.2");

	lookup_mx(base, r, "noaddr.test", &g);
	assert_int_equal(g.status, DNS_NOADDR);
	assert_string_equal(dns_status_enhanced(g.status), "5.4.4");
	dns_resolver_free(r);
	event_base_free(base);
}

static void
test_host_lookup(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = new_resolver(base, dns_server, 1000, 2);
	struct got g;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.base = base;
	g.want = 1;
	assert_non_null(dns_resolve_host(r, "mx1.dest.test", got_cb, &g));
	run_loop(base, 10000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.nhosts, 1);
	assert_int_equal(g.hosts[0].naddrs, 1);
	assert_string_equal(g.hosts[0].addrs[0].text, "127.0.0.11");

	memset(&g, 0, sizeof(g));
	g.base = base;
	g.want = 1;
	assert_non_null(dns_resolve_host(r, "[::1]", got_cb, &g));
	assert_int_equal(g.calls, 0);
	run_loop(base, 10000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_OK);
	assert_string_equal(g.hosts[0].addrs[0].text, "::1");
	assert_int_equal(g.hosts[0].addrs[0].sa.ss_family, AF_INET6);

	memset(&g, 0, sizeof(g));
	g.base = base;
	g.want = 1;
	assert_non_null(dns_resolve_host(r, "nosuch.test", got_cb, &g));
	run_loop(base, 10000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_NXDOMAIN);
	dns_resolver_free(r);
	event_base_free(base);
}

/* A UDP socket that receives queries and never answers. */
static int
silent_server(char *server, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(server, len, "127.0.0.1:%u", ntohs(sin.sin_port));
	return fd;
}

static void
test_timeout_tempfail(void **state)
{
	struct event_base *base = event_base_new();
	char server[64];
	int fd = silent_server(server, sizeof(server));
	struct dns_resolver *r = new_resolver(base, server, 200, 2);
	struct got g;
	struct timespec t0, t1;
	long ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	lookup_mx(base, r, "dest.test", &g);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(g.status, DNS_TEMPFAIL);
	assert_false(dns_status_permanent(g.status));
	assert_string_equal(dns_status_enhanced(g.status), "4.4.3");
	assert_non_null(strstr(g.error, "imeout"));
	/* Two tries of 200 ms (c-ares may back off): well under 5 s. */
	assert_true(ms >= 150);
	assert_true(ms < 5000);
	dns_resolver_free(r);
	close(fd);
	event_base_free(base);
}

static void
test_refused_port_tempfail(void **state)
{
	struct event_base *base = event_base_new();
	char server[64];
	struct dns_resolver *r;
	struct got g;

	(void)state;
	snprintf(server, sizeof(server), "127.0.0.1:%u", testnet_free_port(SOCK_DGRAM));
	r = new_resolver(base, server, 300, 2);
	lookup_mx(base, r, "dest.test", &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
	dns_resolver_free(r);
	event_base_free(base);
}

/* A fake DNS server on the test's own loop that answers with an rcode. */
struct fake_dns {
	int	fd;
	int	rcode;
	int	queries;
};

static void
fake_dns_answer(evutil_socket_t fd, short what, void *arg)
{
	struct fake_dns *f = arg;
	unsigned char q[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t i;

	(void)what;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	if (n < 12)
		return;
	f->queries++;
	/* Keep header + question: skip QNAME labels, then QTYPE/QCLASS. */
	for (i = 12; i < (size_t)n && q[i] != 0; i += (size_t)q[i] + 1)
		;
	i += 5;
	if (i > (size_t)n)
		return;
	q[2] |= 0x80;				/* QR: response */
	q[3] = (unsigned char)(0x80 | f->rcode);	/* RA + RCODE */
	memset(q + 6, 0, 6);			/* no AN/NS/AR records */
	sendto(fd, q, i, 0, (struct sockaddr *)&from, fl);
}

static void
test_servfail_refused_tempfail(void **state)
{
	struct event_base *base = event_base_new();
	char server[64];
	struct fake_dns f;
	struct event *ev;
	struct dns_resolver *r;
	struct got g;
	int rcodes[] = { 2 /* SERVFAIL */, 5 /* REFUSED */ };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&f, 0, sizeof(f));
		f.fd = silent_server(server, sizeof(server));
		f.rcode = rcodes[i];
		ev = event_new(base, f.fd, EV_READ | EV_PERSIST,
		    fake_dns_answer, &f);
		event_add(ev, NULL);
		r = new_resolver(base, server, 1000, 1);
		lookup_mx(base, r, "dest.test", &g);
		assert_true(f.queries >= 1);
		assert_int_equal(g.status, DNS_TEMPFAIL);
		assert_false(dns_status_permanent(g.status));
		/* An answer, not a timeout (the text says which). */
		assert_non_null(strstr(g.error, "dest.test"));
		assert_null(strstr(g.error, "imeout"));
		dns_resolver_free(r);
		event_free(ev);
		close(f.fd);
	}
	event_base_free(base);
}

static void
test_cancel_and_free(void **state)
{
	struct event_base *base = event_base_new();
	char server[64];
	int fd = silent_server(server, sizeof(server));
	struct dns_resolver *r = new_resolver(base, server, 200, 1);
	struct got g1, g2, g3;
	struct dns_query *q;

	(void)state;
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	memset(&g3, 0, sizeof(g3));
	g1.base = g2.base = g3.base = base;
	g1.want = g2.want = g3.want = 1;
	/* A cancelled lookup never calls back, even after its timeout. */
	q = dns_resolve_mx(r, "dest.test", got_cb, &g1);
	assert_non_null(q);
	dns_query_cancel(q);
	/* A literal answer cancelled before the loop runs: same. */
	q = dns_resolve_host(r, "127.0.0.1", got_cb, &g2);
	assert_non_null(q);
	dns_query_cancel(q);
	run_loop(base, 1000);
	assert_int_equal(g1.calls, 0);
	assert_int_equal(g2.calls, 0);

	/* Freeing the resolver with lookups pending: no callback, no leak. */
	assert_non_null(dns_resolve_mx(r, "dest.test", got_cb, &g3));
	assert_non_null(dns_resolve_host(r, "::1", got_cb, &g3));
	dns_resolver_free(r);
	run_loop(base, 500);
	assert_int_equal(g3.calls, 0);
	close(fd);
	event_base_free(base);
}

static void
test_free_inside_callback(void **state)
{
	struct event_base *base = event_base_new();
	struct dns_resolver *r = new_resolver(base, dns_server, 1000, 2);
	struct got g1, g2;

	(void)state;
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	g1.base = g2.base = base;
	g1.want = g2.want = 1;
	g1.free_me = r;
	/* The literal completes first; its callback frees the resolver. */
	assert_non_null(dns_resolve_host(r, "10.1.2.3", got_cb, &g1));
	assert_non_null(dns_resolve_mx(r, "dest.test", got_cb, &g2));
	run_loop(base, 2000);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g1.status, DNS_OK);
	assert_string_equal(g1.hosts[0].addrs[0].text, "10.1.2.3");
	assert_int_equal(g2.calls, 0);
	event_base_free(base);
}

static void
test_bad_server(void **state)
{
	struct event_base *base = event_base_new();
	char err[256] = "";
	const char *bad[] = { "localhost:53", "127.0.0.1:99999", "::1:53",
	    "[::1", "127.0.0.1:", "1.2.3:53" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(dns_resolver_new(base, bad[i], NULL, err,
		    sizeof(err)));
		assert_non_null(strstr(err, "bad DNS server"));
	}
	{
		struct dns_resolver *r = dns_resolver_new(base, "[::1]:53",
		    NULL, err, sizeof(err));

		assert_non_null(r);
		dns_resolver_free(r);
	}
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_permanent_failures),
		cmocka_unit_test(test_host_lookup),
		cmocka_unit_test(test_timeout_tempfail),
		cmocka_unit_test(test_refused_port_tempfail),
		cmocka_unit_test(test_servfail_refused_tempfail),
		cmocka_unit_test(test_cancel_and_free),
		cmocka_unit_test(test_free_inside_callback),
		cmocka_unit_test(test_bad_server),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
