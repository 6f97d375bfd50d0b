/*
 * addrcheck_test - address syntax, the typo finder, and the DNS check
 * against a dnsmasq on loopback (skipped when dnsmasq is not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrcheck.h"
#include "mxcheck.h"

static void
ok(const char *a, bool utf8)
{
	struct addrcheck_result r;

	if (addrcheck_syntax(a, strlen(a), &r) != 0)
		fail_msg("\"%s\" rejected: %s", a, addrcheck_error_text(r.error));
	assert_int_equal(r.error, ADDRCHECK_OK);
	assert_int_equal(r.utf8, utf8);
}

static void
bad(const char *a, size_t len, enum addrcheck_error want)
{
	struct addrcheck_result r;

	if (addrcheck_syntax(a, len, &r) == 0)
		fail_msg("\"%.*s\" accepted", (int)len, a);
	if (r.error != want)
		fail_msg("\"%.*s\": error %d (%s), want %d", (int)len, a, r.error,
		    addrcheck_error_text(r.error), want);
}

static void
test_syntax_valid(void **state)
{
	struct addrcheck_result r;

	(void)state;
	ok("user@example.com", false);
	ok("first.last+tag@sub.example.co.uk", false);
	ok("o'brien@example.ie", false);
	ok("x@a-b.example", false);
	ok("<user@example.com>", false);
	ok("  user@example.com \n", false);
	ok("\"john smith\"@example.com", false);
	ok("\"a\\\"b\"@example.com", false);
	ok("user@[192.0.2.1]", false);
	ok("user@[IPv6:2001:db8::1]", false);
	ok("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a", true);			/* RFC 6531 */
	ok("\xc3\xb1o\xc3\xb1o@example.es", true);
	assert_int_equal(addrcheck_syntax("\"q\"@example.com", 15, &r), 0);
	assert_true(r.quoted);
	assert_string_equal(r.local, "\"q\"");
	assert_string_equal(r.domain, "example.com");
	assert_int_equal(addrcheck_syntax("a@[192.0.2.1]", 13, &r), 0);
	assert_true(r.literal);
}

static void
test_syntax_invalid(void **state)
{
	char buf[400];

	(void)state;
	bad("", 0, ADDRCHECK_EMPTY);
	bad("plainaddress", 12, ADDRCHECK_NO_AT);
	bad("@example.com", 12, ADDRCHECK_LOCAL_EMPTY);
	bad("user@", 5, ADDRCHECK_DOMAIN_EMPTY);
	bad("user@@example.com", 17, ADDRCHECK_LOCAL_CHAR);
	bad("user name@example.com", 21, ADDRCHECK_LOCAL_CHAR);
	bad("a,b@example.com", 15, ADDRCHECK_LOCAL_CHAR);
	bad(".user@example.com", 17, ADDRCHECK_LOCAL_DOTS);
	bad("user.@example.com", 17, ADDRCHECK_LOCAL_DOTS);
	bad("us..er@example.com", 18, ADDRCHECK_LOCAL_DOTS);
	bad("\"unclosed@example.com", 21, ADDRCHECK_QUOTE);
	bad("\"a\"b\"@example.com", 17, ADDRCHECK_QUOTE);
	bad("user@example", 12, ADDRCHECK_DOMAIN_NODOT);
	bad("user@-example.com", 17, ADDRCHECK_DOMAIN_LABEL);
	bad("user@example-.com", 17, ADDRCHECK_DOMAIN_LABEL);
	bad("user@example..com", 17, ADDRCHECK_DOMAIN_LABEL);
	bad("user@example.com.", 17, ADDRCHECK_DOMAIN_LABEL);
	bad("user@exa_mple.com", 17, ADDRCHECK_DOMAIN_CHAR);
	bad("user@example.123", 16, ADDRCHECK_DOMAIN_TLD);
	bad("user@[300.0.0.1]", 16, ADDRCHECK_LITERAL);
	bad("user@[IPv6:zz::1]", 17, ADDRCHECK_LITERAL);
	bad("\xff@example.com", 13, ADDRCHECK_UTF8);
	bad("a@ex\xc3" "ample.com", 14, ADDRCHECK_UTF8);
	bad("a\0b@example.com", 15, ADDRCHECK_LOCAL_CHAR);
	memset(buf, 'a', 65);
	memcpy(buf + 65, "@example.com", 12);
	bad(buf, 77, ADDRCHECK_LOCAL_TOO_LONG);
	buf[0] = 'u';
	buf[1] = '@';
	memset(buf + 2, 'b', 64);
	memcpy(buf + 66, ".com", 4);
	bad(buf, 70, ADDRCHECK_DOMAIN_LABEL);	/* a 64-octet label */
	memset(buf, 'c', sizeof(buf));
	buf[10] = '@';
	bad(buf, 300, ADDRCHECK_TOO_LONG);
	assert_string_equal(addrcheck_error_text(ADDRCHECK_NO_AT),
	    "the address has no @ between the name and the domain");
}

static void
suggest(const char *typed, const char *want)
{
	char out[256];
	int got = addrcheck_suggest_domain(typed, out, sizeof(out));

	if (want == NULL) {
		if (got)
			fail_msg("%s: unexpected suggestion %s", typed, out);
		return;
	}
	if (!got)
		fail_msg("%s: no suggestion, want %s", typed, want);
	if (strcmp(out, want) != 0)
		fail_msg("%s: suggested %s, want %s", typed, out, want);
}

static void
test_typos(void **state)
{
	(void)state;
	suggest("gmial.com", "gmail.com");
	suggest("gmai.com", "gmail.com");
	suggest("gmail.co", "gmail.com");
	suggest("gmaill.com", "gmail.com");
	suggest("GMAIL.CON", "gmail.com");
	suggest("gmial.con", "gmail.com");
	suggest("hotmial.com", "hotmail.com");
	suggest("hotmail.cmo", "hotmail.com");
	suggest("yahooo.com", "yahoo.com");
	suggest("yaho.com", "yahoo.com");
	suggest("outlook.co", "outlook.com");
	suggest("outlok.com", "outlook.com");
	suggest("iclod.com", "icloud.com");
	suggest("protonmial.com", "protonmail.com");
	suggest("example.con", "example.com");
	suggest("example.cmo", "example.com");
	suggest("example.ocm", "example.com");
	suggest("example.nte", "example.net");
	suggest("example.ogr", "example.org");
	/* right as typed, or nothing close */
	suggest("gmail.com", NULL);
	suggest("yahoo.co.jp", NULL);
	suggest("example.com", NULL);
	suggest("example.org", NULL);
	suggest("university.edu", NULL);
	suggest("max.com", NULL);		/* short names: too many neighbours */
	suggest("", NULL);
}

static void
test_distance(void **state)
{
	(void)state;
	assert_int_equal(addrcheck_distance("ab", 2, "ba", 2, 5), 1);
	assert_int_equal(addrcheck_distance("kitten", 6, "sitting", 7, 5), 3);
	assert_int_equal(addrcheck_distance("same", 4, "SAME", 4, 5), 0);
	assert_int_equal(addrcheck_distance("", 0, "abc", 3, 5), 3);
	assert_int_equal(addrcheck_distance("gmial.com", 9, "gmail.com", 9, 2),
	    1);
	/* early exit: anything above max comes back as max + 1 */
	assert_int_equal(addrcheck_distance("aaaaaaaa", 8, "bbbbbbbb", 8, 2),
	    3);
	assert_int_equal(addrcheck_distance("a", 1, "abcdefgh", 8, 2), 3);
}

/* ---- DNS against dnsmasq on loopback ---------------------------------- */

struct dns_env {
	pid_t	pid;
	char	resolver[64];
};

static int
dns_setup(void **state)
{
	static struct dns_env env;
	char port[16], opt[64];
	struct mxcheck_result r;
	int tries;

	if (access("/usr/sbin/dnsmasq", X_OK) != 0) {
		*state = NULL;
		return 0;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(port, sizeof(port), "%d", 20000 + rand() % 20000);
	snprintf(opt, sizeof(opt), "--port=%s", port);
	snprintf(env.resolver, sizeof(env.resolver), "127.0.0.1:%s", port);
	if ((env.pid = fork()) == 0) {
		execl("/usr/sbin/dnsmasq", "dnsmasq", "--no-daemon", opt,
		    "--listen-address=127.0.0.1", "--bind-interfaces",
		    "--no-resolv", "--no-hosts", "--local=/test/",
		    "--mx-host=dest.test,mx.dest.test,10",
		    "--mx-host=dest.test,mx2.dest.test,20",
		    "--host-record=mx.dest.test,127.0.0.1",
		    "--host-record=plain.test,127.0.0.2",
		    "--mx-host=nullmx.test,.,0", "--conf-file=/dev/null",
		    "--log-facility=/dev/null", (char *)NULL);
		_exit(127);
	}
	/* wait until it answers */
	for (tries = 0; tries < 50; tries++) {
		if (mxcheck_domain("dest.test", env.resolver, 200, &r) == 0)
			break;
		usleep(100 * 1000);
	}
	*state = &env;
	return 0;
}

static int
dns_teardown(void **state)
{
	struct dns_env *env = *state;

	if (env != NULL && env->pid > 0) {
		kill(env->pid, SIGTERM);
		waitpid(env->pid, NULL, 0);
	}
	return 0;
}

static void
test_mxcheck(void **state)
{
	struct dns_env *env = *state;
	struct mxcheck_result r;

	if (env == NULL)
		skip();
	assert_int_equal(mxcheck_domain("dest.test", env->resolver, 3000, &r),
	    0);
	assert_int_equal(r.status, MXCHECK_MX);
	assert_int_equal(r.nhosts, 2);
	assert_string_equal(r.hosts[0], "mx.dest.test");
	assert_int_equal(r.prefs[0], 10);
	assert_string_equal(r.hosts[1], "mx2.dest.test");
	assert_int_equal(mxcheck_domain("nullmx.test", env->resolver, 3000, &r),
	    0);
	assert_int_equal(r.status, MXCHECK_NULLMX);
	assert_int_equal(mxcheck_domain("plain.test", env->resolver, 3000, &r),
	    0);
	assert_int_equal(r.status, MXCHECK_IMPLICIT);
	assert_int_equal(mxcheck_domain("nosuch.test", env->resolver, 3000,
	    &r), 0);
	assert_int_equal(r.status, MXCHECK_NXDOMAIN);
	/* a resolver that does not answer: an error within the budget */
	assert_int_equal(mxcheck_domain("dest.test", "127.0.0.1:9", 600, &r),
	    -1);
	assert_int_equal(r.status, MXCHECK_ERROR);
	assert_int_equal(mxcheck_domain("dest.test", "not a resolver", 600,
	    &r), -1);
	assert_non_null(mxcheck_status_text(MXCHECK_NULLMX));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_valid),
		cmocka_unit_test(test_syntax_invalid),
		cmocka_unit_test(test_typos),
		cmocka_unit_test(test_distance),
		cmocka_unit_test_setup_teardown(test_mxcheck, dns_setup,
		    dns_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
