/*
 * route_test - the route table: lookup order (exact, +detail, catch-all),
 * case folding, hosted domains, destination syntaxes and their errors, and
 * a table of 100,000 keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "route.h"

static char err[512];

static struct route_table *
table(void)
{
	struct route_table *rt = route_table_new();

	assert_non_null(rt);
	assert_int_equal(route_table_add(rt, "alice@example.test",
	    "maildir:/srv/mail/alice", err, sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "bob@example.test",
	    "smtp://10.0.0.5:2525", err, sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "bob+vip@example.test",
	    "maildir:/srv/mail/vip", err, sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "*@catchall.test",
	    "carol@elsewhere.test", err, sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "dave@catchall.test",
	    "maildir:dave", err, sizeof(err)), 0);
	return rt;
}

static enum route_result
look(const struct route_table *rt, const char *addr, const struct dest **d,
    size_t *n)
{
	const char *at = strrchr(addr, '@');

	assert_non_null(at);
	*d = NULL;
	*n = 0;
	return route_lookup(rt, addr, (size_t)(at - addr), at + 1,
	    strlen(at + 1), d, n);
}

static void
test_exact(void **state)
{
	struct route_table *rt = table();
	const struct dest *d;
	size_t n;

	(void)state;
	assert_int_equal(route_table_count(rt), 5);
	assert_int_equal(look(rt, "alice@example.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(n, 1);
	assert_int_equal(d[0].kind, DEST_MAILDIR);
	assert_string_equal(d[0].path, "/srv/mail/alice");
	assert_string_equal(d[0].spec, "maildir:/srv/mail/alice");
	assert_int_equal(look(rt, "bob@example.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_SMTP);
	assert_string_equal(d[0].host, "10.0.0.5");
	assert_int_equal(d[0].port, 2525);
	assert_int_equal(look(rt, "dave@catchall.test", &d, &n), ROUTE_FOUND);
	assert_string_equal(d[0].path, "dave");	/* relative path kept */
	route_table_free(rt);
}

static void
test_case(void **state)
{
	struct route_table *rt = table();
	const struct dest *d;
	size_t n;

	(void)state;
	assert_int_equal(look(rt, "ALICE@EXAMPLE.TEST", &d, &n), ROUTE_FOUND);
	assert_string_equal(d[0].path, "/srv/mail/alice");
	assert_int_equal(look(rt, "Alice@Example.Test", &d, &n), ROUTE_FOUND);
	assert_string_equal(d[0].path, "/srv/mail/alice");
	assert_int_equal(route_domain_hosted(rt, "EXAMPLE.test", 12), 1);
	/* Keys written in capitals are found in small letters too. */
	assert_int_equal(route_table_add(rt, "Eve@Upper.TEST", "maildir:/e",
	    err, sizeof(err)), 0);
	assert_int_equal(look(rt, "eve@upper.test", &d, &n), ROUTE_FOUND);
	/* Non-ASCII bytes are compared as they are. */
	assert_int_equal(route_table_add(rt, "j\xc3\xb6rg@example.test",
	    "maildir:/j", err, sizeof(err)), 0);
	assert_int_equal(look(rt, "j\xc3\xb6rg@example.test", &d, &n),
	    ROUTE_FOUND);
	assert_int_equal(look(rt, "j\xc3\x96rg@example.test", &d, &n),
	    ROUTE_NO_SUCH_USER);
	route_table_free(rt);
}

static void
test_plus_addressing(void **state)
{
	struct route_table *rt = table();
	const struct dest *d;
	size_t n;

	(void)state;
	assert_int_equal(look(rt, "alice+news@example.test", &d, &n),
	    ROUTE_FOUND);
	assert_string_equal(d[0].path, "/srv/mail/alice");
	assert_int_equal(look(rt, "Alice+a+b@example.test", &d, &n),
	    ROUTE_FOUND);
	assert_string_equal(d[0].path, "/srv/mail/alice");
	/* An exact entry for the detail wins over the base address. */
	assert_int_equal(look(rt, "bob+vip@example.test", &d, &n), ROUTE_FOUND);
	assert_string_equal(d[0].path, "/srv/mail/vip");
	assert_int_equal(look(rt, "bob+other@example.test", &d, &n),
	    ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_SMTP);
	/* No base part, or no base entry: nothing. */
	assert_int_equal(look(rt, "+news@example.test", &d, &n),
	    ROUTE_NO_SUCH_USER);
	assert_int_equal(look(rt, "zed+news@example.test", &d, &n),
	    ROUTE_NO_SUCH_USER);
	route_table_free(rt);
}

static void
test_catchall(void **state)
{
	struct route_table *rt = table();
	const struct dest *d;
	size_t n;
	char longlocal[200];

	(void)state;
	assert_int_equal(look(rt, "anyone@catchall.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_FORWARD);
	assert_string_equal(d[0].address, "carol@elsewhere.test");
	/* Exact and plus-addressing come before the catch-all. */
	assert_int_equal(look(rt, "dave@catchall.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_MAILDIR);
	assert_int_equal(look(rt, "dave+x@catchall.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_MAILDIR);
	/* A local part longer than any key still reaches the catch-all. */
	memset(longlocal, 'x', 100);
	memcpy(longlocal + 100, "@catchall.test", sizeof("@catchall.test"));
	assert_int_equal(look(rt, longlocal, &d, &n), ROUTE_FOUND);
	assert_int_equal(d[0].kind, DEST_FORWARD);
	assert_int_equal(look(rt, "\"quoted\"@catchall.test", &d, &n),
	    ROUTE_FOUND);
	route_table_free(rt);
}

static void
test_not_hosted_and_unknown(void **state)
{
	struct route_table *rt = table();
	const struct dest *d = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(look(rt, "alice@other.test", &d, &n),
	    ROUTE_NOT_HOSTED);
	assert_int_equal(look(rt, "alice@sub.example.test", &d, &n),
	    ROUTE_NOT_HOSTED);
	assert_int_equal(look(rt, "alice@example", &d, &n), ROUTE_NOT_HOSTED);
	assert_int_equal(look(rt, "alice@[127.0.0.1]", &d, &n),
	    ROUTE_NOT_HOSTED);
	assert_int_equal(look(rt, "alice@", &d, &n), ROUTE_NOT_HOSTED);
	assert_int_equal(look(rt, "zed@example.test", &d, &n),
	    ROUTE_NO_SUCH_USER);
	assert_int_equal(look(rt, "@example.test", &d, &n), ROUTE_NO_SUCH_USER);
	assert_int_equal(route_domain_hosted(rt, "example.test", 12), 1);
	assert_int_equal(route_domain_hosted(rt, "catchall.test", 13), 1);
	assert_int_equal(route_domain_hosted(rt, "example.tes", 11), 0);
	assert_int_equal(route_domain_hosted(rt, "example.test.", 13), 0);
	/* Length counts: a prefix of a hosted domain is not hosted. */
	assert_int_equal(route_domain_hosted(rt, "example.testXYZ", 12), 1);
	assert_int_equal(route_domain_hosted(NULL, "example.test", 12), 0);
	assert_int_equal(route_lookup(NULL, "a", 1, "example.test", 12, &d, &n),
	    ROUTE_NOT_HOSTED);
	route_table_free(rt);
}

static void
test_fan_out(void **state)
{
	struct route_table *rt = route_table_new();
	const struct dest *d;
	size_t n;

	(void)state;
	assert_int_equal(route_table_add(rt, "team@example.test",
	    "maildir:var/mail/team, smtp://mx.example.net,\tsmtp://[::1]:2526 "
	    "lead@other.test,,smtp://192.0.2.7", err, sizeof(err)), 0);
	assert_int_equal(look(rt, "team@example.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(n, 5);
	assert_int_equal(d[0].kind, DEST_MAILDIR);
	assert_string_equal(d[0].path, "var/mail/team");
	assert_int_equal(d[1].kind, DEST_SMTP);
	assert_string_equal(d[1].host, "mx.example.net");
	assert_int_equal(d[1].port, 25);
	assert_string_equal(d[1].spec, "smtp://mx.example.net");
	assert_int_equal(d[2].kind, DEST_SMTP);
	assert_string_equal(d[2].host, "::1");	/* no brackets */
	assert_int_equal(d[2].port, 2526);
	assert_string_equal(d[2].spec, "smtp://[::1]:2526");
	assert_int_equal(d[3].kind, DEST_FORWARD);
	assert_string_equal(d[3].address, "lead@other.test");
	assert_int_equal(d[4].kind, DEST_SMTP);
	assert_string_equal(d[4].host, "192.0.2.7");
	assert_int_equal(d[4].port, 25);
	assert_int_equal(route_value_check("maildir:/a smtp://b:1", err,
	    sizeof(err)), 2);
	assert_int_equal(route_value_check(" , ", err, sizeof(err)), 0);
	route_table_free(rt);
}

static void
test_ipv6_smtp(void **state)
{
	struct route_table *rt = route_table_new();
	const struct dest *d;
	size_t n;

	(void)state;
	assert_int_equal(route_table_add(rt, "v6@example.test",
	    "smtp://[2001:db8::1], SMTP://[::ffff:192.0.2.1]:587", err,
	    sizeof(err)), 0);
	assert_int_equal(look(rt, "v6@example.test", &d, &n), ROUTE_FOUND);
	assert_int_equal(n, 2);
	assert_string_equal(d[0].host, "2001:db8::1");
	assert_int_equal(d[0].port, 25);
	assert_string_equal(d[1].host, "::ffff:192.0.2.1");
	assert_int_equal(d[1].port, 587);
	route_table_free(rt);
}

static void
bad_dest(const char *value, const char *want)
{
	struct route_table *rt = route_table_new();

	assert_int_equal(route_table_add(rt, "x@example.test", value, err,
	    sizeof(err)), -1);
	if (strcmp(err, want) != 0)
		fail_msg("value '%s'\n  want: %s\n  got:  %s", value, want, err);
	/* All or nothing: the table did not change. */
	assert_int_equal(route_table_count(rt), 0);
	assert_int_equal(route_domain_hosted(rt, "example.test", 12), 0);
	if (value[0] != '\0')
		assert_int_equal(route_value_check(value, err, sizeof(err)), -1);
	route_table_free(rt);
}

static void
test_bad_dests(void **state)
{
	(void)state;
	bad_dest("ftp://x", "bad destination 'ftp://x': expected "
	    "maildir:PATH, smtp://HOST[:PORT] or user@domain");
	bad_dest("maildir:/ok /var/mail", "bad destination '/var/mail': "
	    "expected maildir:PATH, smtp://HOST[:PORT] or user@domain");
	bad_dest("maildir:", "bad destination 'maildir:': empty Maildir path");
	bad_dest("smtp://", "bad destination 'smtp://': missing host");
	bad_dest("smtp://:25", "bad destination 'smtp://:25': missing host");
	bad_dest("smtp://[::1", "bad destination 'smtp://[::1': missing ']' "
	    "after IPv6 address");
	bad_dest("smtp://[zz::1]:25", "bad destination 'smtp://[zz::1]:25': "
	    "bad IPv6 address");
	bad_dest("smtp://[]:25", "bad destination 'smtp://[]:25': bad IPv6 "
	    "address");
	bad_dest("smtp://::1:25", "bad destination 'smtp://::1:25': an IPv6 "
	    "address must be written in brackets: smtp://[::1]:25");
	bad_dest("smtp://h:0", "bad destination 'smtp://h:0': bad port "
	    "(expected :1..65535 after the host)");
	bad_dest("smtp://h:65536", "bad destination 'smtp://h:65536': bad port "
	    "(expected :1..65535 after the host)");
	bad_dest("smtp://h:", "bad destination 'smtp://h:': bad port "
	    "(expected :1..65535 after the host)");
	bad_dest("smtp://h:25/x", "bad destination 'smtp://h:25/x': bad port "
	    "(expected :1..65535 after the host)");
	bad_dest("smtp://[::1]x", "bad destination 'smtp://[::1]x': bad port "
	    "(expected :1..65535 after the host)");
	bad_dest("smtp://1.2.3.999", "bad destination 'smtp://1.2.3.999': bad "
	    "IPv4 address");
	bad_dest("smtp://-bad.test", "bad destination 'smtp://-bad.test': bad "
	    "host name");
	bad_dest("user@", "bad destination 'user@': bad forward address "
	    "(expected user@domain)");
	bad_dest("@x.test", "bad destination '@x.test': bad forward address "
	    "(expected user@domain)");
	bad_dest("a@b@c.test", "bad destination 'a@b@c.test': bad forward "
	    "address (expected user@domain)");
	bad_dest("a\"b@c.test", "bad destination 'a\"b@c.test': bad forward "
	    "address (expected user@domain)");
	bad_dest("maildir:/a,ftp://b", "bad destination 'ftp://b': expected "
	    "maildir:PATH, smtp://HOST[:PORT] or user@domain");
	bad_dest("", "no destinations for 'x@example.test'");
}

static void
test_bad_keys(void **state)
{
	static const char *keys[] = {
		"nodomain", "a@b@c.test", "@example.test", "a@", "a@-x.test",
		"a@x-.test", "a@x..test", "a@.x.test", "a@x.test.", "*@*.x.test",
		"a b@x.test", "a\"b@x.test", "a@[127.0.0.1]",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"@x.test",	/* 65 octets */
	};
	struct route_table *rt = route_table_new();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (route_table_add(rt, keys[i], "maildir:/a", err,
		    sizeof(err)) != -1)
			fail_msg("key '%s' accepted", keys[i]);
		assert_non_null(strstr(err, "route key"));
	}
	assert_int_equal(route_table_count(rt), 0);
	/* 64 octets is the limit (RFC 5321 4.5.3.1.1). */
	assert_int_equal(route_table_add(rt,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@x.test", "maildir:/a", err, sizeof(err)), 0);
	/* Duplicates, in any case. */
	assert_int_equal(route_table_add(rt, "a@x.test", "maildir:/a", err,
	    sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "A@X.TEST", "maildir:/b", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "duplicate route key 'a@x.test'");
	assert_int_equal(route_table_add(rt, "*@x.test", "maildir:/c", err,
	    sizeof(err)), 0);
	assert_int_equal(route_table_add(rt, "*@X.test", "maildir:/c", err,
	    sizeof(err)), -1);
	assert_int_equal(route_table_count(rt), 3);
	route_table_free(rt);
}

static void
test_domain_valid(void **state)
{
	char label[80], big[300];

	(void)state;
	assert_int_equal(route_domain_valid("example.test", 12), 1);
	assert_int_equal(route_domain_valid("localhost", 9), 1);
	assert_int_equal(route_domain_valid("a-b.c0", 6), 1);
	assert_int_equal(route_domain_valid("", 0), 0);
	assert_int_equal(route_domain_valid("a_b.test", 8), 0);
	assert_int_equal(route_domain_valid("a..b", 4), 0);
	assert_int_equal(route_domain_valid("-a.b", 4), 0);
	assert_int_equal(route_domain_valid("a-.b", 4), 0);
	assert_int_equal(route_domain_valid("a.b-", 4), 0);
	assert_int_equal(route_domain_valid("a.b.", 4), 0);
	memset(label, 'a', 63);
	assert_int_equal(route_domain_valid(label, 63), 1);
	memset(label, 'a', 64);
	assert_int_equal(route_domain_valid(label, 64), 0);
	memset(big, 'a', sizeof(big));
	for (size_t i = 49; i < sizeof(big); i += 50)
		big[i] = '.';
	assert_int_equal(route_domain_valid(big, 255), 1);
	assert_int_equal(route_domain_valid(big, 256), 0);
}

/* 100,000 keys over 1,000 domains; every one found, misses missed. */
static void
test_large_table(void **state)
{
	struct route_table *rt = route_table_new();
	char key[128], val[128], local[64], domain[64];
	const struct dest *d;
	size_t n, i;
	clock_t t0;
	double secs;

	(void)state;
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "user%zu@d%zu.example.test", i,
		    i % 1000);
		snprintf(val, sizeof(val), "maildir:/srv/mail/%zu", i);
		assert_int_equal(route_table_add(rt, key, val, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(route_table_count(rt), 100000);
	t0 = clock();
	for (i = 0; i < 100000; i++) {
		snprintf(local, sizeof(local), "User%zu", i);
		snprintf(domain, sizeof(domain), "D%zu.example.test", i % 1000);
		snprintf(val, sizeof(val), "/srv/mail/%zu", i);
		assert_int_equal(route_lookup(rt, local, strlen(local), domain,
		    strlen(domain), &d, &n), ROUTE_FOUND);
		assert_int_equal(n, 1);
		if (strcmp(d[0].path, val) != 0)
			fail_msg("%s@%s -> %s, want %s", local, domain,
			    d[0].path, val);
		/* The same user under another of the hosted domains: none. */
		snprintf(domain, sizeof(domain), "d%zu.example.test",
		    (i + 1) % 1000);
		assert_int_equal(route_lookup(rt, local, strlen(local), domain,
		    strlen(domain), &d, &n), ROUTE_NO_SUCH_USER);
	}
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	/* 200,000 lookups; a linear scan would take minutes, not seconds. */
	assert_true(secs < 10.0);
	assert_int_equal(route_domain_hosted(rt, "d999.example.test", 17), 1);
	assert_int_equal(route_domain_hosted(rt, "d1000.example.test", 18), 0);
	route_table_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_plus_addressing),
		cmocka_unit_test(test_catchall),
		cmocka_unit_test(test_not_hosted_and_unknown),
		cmocka_unit_test(test_fan_out),
		cmocka_unit_test(test_ipv6_smtp),
		cmocka_unit_test(test_bad_dests),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_domain_valid),
		cmocka_unit_test(test_large_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
