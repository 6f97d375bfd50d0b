/*
 * config_test - config_load() against real files written to a temp dir:
 * defaults, every key, every unit, FILE:LINE messages, the libinih guard
 * (long lines, continuation lines), duplicates, cross-key rules, and the
 * shipped example and reference staying true to the key table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "route.h"

static char tmpdir[256];
static char errbuf[16384];

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/config_test.XXXXXX",
	    t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write text to tmpdir/name; return the path (static buffer per call). */
static const char *
write_file(const char *name, const char *text, size_t len)
{
	static char path[4][512];
	static int turn;
	char *p = path[turn++ % 4];
	FILE *f;

	snprintf(p, 512, "%s/%s", tmpdir, name);
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

static const char *
conf(const char *text)
{
	return write_file("relay.conf", text, strlen(text));
}

/* config_load with messages captured in errbuf. */
static int
load(const char *path, struct config *cfg)
{
	FILE *f = fmemopen(errbuf, sizeof(errbuf), "w");
	int n;

	assert_non_null(f);
	memset(errbuf, 0, sizeof(errbuf));
	n = config_load(path, cfg, f);
	fclose(f);
	return n;
}

/* errbuf contains "PATH:LINE: msg" as a whole line. */
static void
assert_msg(const char *path, int line, const char *msg)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s:%d: %s\n", path, line, msg);
	if (strstr(errbuf, want) == NULL)
		fail_msg("missing message\n  want: %s  got:\n%s", want, errbuf);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_defaults(void **state)
{
	struct config cfg;
	char host[256] = "";

	(void)state;
	assert_int_equal(load(conf("; nothing but a comment\n"), &cfg), 0);
	assert_string_equal(errbuf, "");
	assert_int_equal(cfg.nlisten, 1);
	assert_string_equal(cfg.listen[0].host, "127.0.0.1");
	assert_string_equal(cfg.listen[0].port, "2525");
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(cfg.hostname, host[0] ? host : "localhost");
	assert_string_equal(cfg.tls_cert, "");
	assert_string_equal(cfg.tls_key, "");
	assert_int_equal(cfg.max_message_size, 25 * 1024 * 1024);
	assert_int_equal(cfg.max_recipients, 100);
	assert_int_equal(cfg.max_connections, 1000);
	assert_int_equal(cfg.max_connections_per_ip, 50);
	assert_int_equal(cfg.command_timeout, 300);
	assert_int_equal(cfg.data_timeout, 600);
	assert_int_equal(cfg.max_received_headers, 50);
	assert_int_equal(cfg.max_header_size, 100 * 1024);
	assert_int_equal(cfg.max_line_length, 1000);
	assert_int_equal(cfg.max_errors, 10);
	assert_string_equal(cfg.queue_dir, "var/queue");
	assert_int_equal(cfg.retry_first, 300);
	assert_true(cfg.retry_factor == 2.0);
	assert_int_equal(cfg.retry_max_interval, 4 * 3600);
	assert_true(cfg.retry_jitter > 0.19999 && cfg.retry_jitter < 0.20001);
	assert_int_equal(cfg.retry_lifetime, 3 * 86400);
	assert_int_equal(cfg.retry_delay_warning, 0);
	assert_int_equal(cfg.outbound_tls, OUTBOUND_TLS_OPPORTUNISTIC);
	assert_int_equal(cfg.mx_port, 25);
	assert_int_equal(cfg.max_per_host, 10);
	assert_string_equal(cfg.dns_resolver, "");
	assert_int_equal(cfg.dns_resolver_port, 0);
	assert_int_equal(cfg.delivery_mode, DELIVERY_IN_SESSION);
	assert_true(cfg.rcpt_check);
	assert_int_equal(cfg.in_session_budget, 30);
	assert_false(cfg.split_by_destination);
	assert_int_equal(cfg.store_backend, CONFIG_STORE_SQLITE);
	assert_string_equal(cfg.store_path, "var/state.db");
	assert_string_equal(cfg.store_dsn, "");
	assert_int_equal(cfg.suppress_soft_threshold, 5);
	assert_int_equal(cfg.suppress_soft_window, 3 * 86400);
	assert_int_equal(cfg.suppress_ttl, 0);
	assert_string_equal(cfg.srs_domain, "");
	assert_string_equal(cfg.srs_secret, "");
	assert_int_equal(cfg.srs_max_age, 21 * 86400);
	assert_int_equal(cfg.routes_source, CONFIG_ROUTES_CONFIG);
	assert_non_null(cfg.routes);
	assert_int_equal(route_table_count(cfg.routes), 0);
	config_free(&cfg);
	assert_null(cfg.routes);

	/* An empty file is as good. */
	assert_int_equal(load(conf(""), &cfg), 0);
	config_free(&cfg);
}

static void
test_every_key(void **state)
{
	struct config cfg;
	const char *cert, *key, *path;
	char text[4096];
	const struct dest *d;
	size_t nd;

	(void)state;
	cert = write_file("cert.pem", "cert\n", 5);
	key = write_file("key.pem", "key\n", 4);
	snprintf(text, sizeof(text),
	    "[server]\n"
	    "listen = 0.0.0.0:25 [::1]:2525,localhost:26\n"
	    "hostname = mx1.Example.TEST\n"
	    "[tls]\n"
	    "cert = %s\n"
	    "key = %s\n"
	    "[limits]\n"
	    "max_message_size = 10M\n"
	    "max_recipients = 500\n"
	    "max_connections = 200\n"
	    "max_connections_per_ip = 20\n"
	    "command_timeout = 2m\n"
	    "data_timeout = 900\n"
	    "max_received_headers = 30\n"
	    "max_header_size = 64K\n"
	    "max_line_length = 2K\n"
	    "max_errors = 3\n"
	    "[queue]\n"
	    "dir = /var/spool/cleanbox\n"
	    "[retry]\n"
	    "first = 1m\n"
	    "factor = 1.5\n"
	    "max_interval = 2h\n"
	    "jitter = 0.1\n"
	    "lifetime = 5d\n"
	    "delay_warning = 4h\n"
	    "[outbound]\n"
	    "tls = require\n"
	    "mx_port = 2526\n"
	    "max_per_host = 3\n"
	    "[dns]\n"
	    "resolver = 127.0.0.1:5353\n"
	    "[delivery]\n"
	    "mode = queue\n"
	    "rcpt_check = no\n"
	    "in_session_budget = 45s\n"
	    "split_by_destination = yes\n"
	    "[store]\n"
	    "backend = postgres\n"
	    "path = /var/lib/cleanbox/state.db\n"
	    "dsn = \"host=db1.example.test port=5433 dbname=cleanbox\"\n"
	    "[suppression]\n"
	    "soft_threshold = 3\n"
	    "soft_window = 2d\n"
	    "ttl = 90d\n"
	    "[srs]\n"
	    "domain = srs.Example.TEST\n"
	    "secret = 0123456789abcdef0123\n"
	    "max_age = 10d\n"
	    "[routes]\n"
	    "source = store\n"
	    "alice@example.test = maildir:var/mail/alice\n"
	    "*@example.test = smtp://10.0.0.5:2525\n", cert, key);
	path = conf(text);
	assert_int_equal(load(path, &cfg), 0);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.nlisten, 3);
	assert_string_equal(cfg.listen[0].host, "0.0.0.0");
	assert_string_equal(cfg.listen[0].port, "25");
	assert_string_equal(cfg.listen[1].host, "::1");
	assert_string_equal(cfg.listen[1].port, "2525");
	assert_string_equal(cfg.listen[2].host, "localhost");
	assert_string_equal(cfg.listen[2].port, "26");
	assert_string_equal(cfg.hostname, "mx1.Example.TEST");
	assert_string_equal(cfg.tls_cert, cert);
	assert_string_equal(cfg.tls_key, key);
	assert_int_equal(cfg.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(cfg.max_recipients, 500);
	assert_int_equal(cfg.max_connections, 200);
	assert_int_equal(cfg.max_connections_per_ip, 20);
	assert_int_equal(cfg.command_timeout, 120);
	assert_int_equal(cfg.data_timeout, 900);
	assert_int_equal(cfg.max_received_headers, 30);
	assert_int_equal(cfg.max_header_size, 64 * 1024);
	assert_int_equal(cfg.max_line_length, 2048);
	assert_int_equal(cfg.max_errors, 3);
	assert_string_equal(cfg.queue_dir, "/var/spool/cleanbox");
	assert_int_equal(cfg.retry_first, 60);
	assert_true(cfg.retry_factor == 1.5);
	assert_int_equal(cfg.retry_max_interval, 7200);
	assert_true(cfg.retry_jitter > 0.09999 && cfg.retry_jitter < 0.10001);
	assert_int_equal(cfg.retry_lifetime, 5 * 86400);
	assert_int_equal(cfg.retry_delay_warning, 4 * 3600);
	assert_int_equal(cfg.outbound_tls, OUTBOUND_TLS_REQUIRE);
	assert_int_equal(cfg.mx_port, 2526);
	assert_int_equal(cfg.max_per_host, 3);
	assert_string_equal(cfg.dns_resolver, "127.0.0.1:5353");
	assert_string_equal(cfg.dns_resolver_host, "127.0.0.1");
	assert_int_equal(cfg.dns_resolver_port, 5353);
	assert_int_equal(cfg.delivery_mode, DELIVERY_QUEUE);
	assert_false(cfg.rcpt_check);
	assert_int_equal(cfg.in_session_budget, 45);
	assert_true(cfg.split_by_destination);
	assert_int_equal(cfg.store_backend, CONFIG_STORE_POSTGRES);
	assert_string_equal(cfg.store_path, "/var/lib/cleanbox/state.db");
	assert_string_equal(cfg.store_dsn,
	    "host=db1.example.test port=5433 dbname=cleanbox");
	assert_int_equal(cfg.suppress_soft_threshold, 3);
	assert_int_equal(cfg.suppress_soft_window, 2 * 86400);
	assert_int_equal(cfg.suppress_ttl, 90 * 86400);
	assert_string_equal(cfg.srs_domain, "srs.Example.TEST");
	assert_string_equal(cfg.srs_secret, "0123456789abcdef0123");
	assert_int_equal(cfg.srs_max_age, 10 * 86400);
	assert_int_equal(cfg.routes_source, CONFIG_ROUTES_STORE);
	assert_int_equal(route_table_count(cfg.routes), 2);
	assert_int_equal(route_lookup(cfg.routes, "alice", 5, "example.test",
	    12, &d, &nd), ROUTE_FOUND);
	assert_int_equal(nd, 1);
	assert_string_equal(d[0].path, "var/mail/alice");
	assert_int_equal(route_lookup(cfg.routes, "zed", 3, "example.test",
	    12, &d, &nd), ROUTE_FOUND);
	assert_string_equal(d[0].host, "10.0.0.5");
	assert_int_equal(d[0].port, 2525);
	config_free(&cfg);
}

static void
test_parse_size(void **state)
{
	size_t v;

	(void)state;
	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("1000", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(config_parse_size("1K", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(config_parse_size("3k", &v), 0);
	assert_int_equal(v, 3072);
	assert_int_equal(config_parse_size("25M", &v), 0);
	assert_int_equal(v, 25u << 20);
	assert_int_equal(config_parse_size("2m", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(config_parse_size("1G", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(config_parse_size("4g", &v), 0);
	assert_int_equal(v, (size_t)4 << 30);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size("K", &v), -1);
	assert_int_equal(config_parse_size("1KB", &v), -1);
	assert_int_equal(config_parse_size("1T", &v), -1);
	assert_int_equal(config_parse_size("-1", &v), -1);
	assert_int_equal(config_parse_size("+1", &v), -1);
	assert_int_equal(config_parse_size("1.5M", &v), -1);
	assert_int_equal(config_parse_size(" 1", &v), -1);
	assert_int_equal(config_parse_size("1 K", &v), -1);
	assert_int_equal(config_parse_size("0x10", &v), -1);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_size("17179869184G", &v), -1);
}

static void
test_parse_duration(void **state)
{
	unsigned v;

	(void)state;
	assert_int_equal(config_parse_duration("30", &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(config_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_duration("45s", &v), 0);
	assert_int_equal(v, 45);
	assert_int_equal(config_parse_duration("5m", &v), 0);
	assert_int_equal(v, 300);
	assert_int_equal(config_parse_duration("4h", &v), 0);
	assert_int_equal(v, 14400);
	assert_int_equal(config_parse_duration("3d", &v), 0);
	assert_int_equal(v, 259200);
	assert_int_equal(config_parse_duration("1h30m", &v), 0);
	assert_int_equal(v, 5400);
	assert_int_equal(config_parse_duration("1d2h3m4s", &v), 0);
	assert_int_equal(v, 86400 + 7200 + 180 + 4);
	assert_int_equal(config_parse_duration("4294967295", &v), 0);
	assert_int_equal(v, 4294967295u);
	assert_int_equal(config_parse_duration("", &v), -1);
	assert_int_equal(config_parse_duration("m", &v), -1);
	assert_int_equal(config_parse_duration("5x", &v), -1);
	assert_int_equal(config_parse_duration("5M", &v), -1);
	assert_int_equal(config_parse_duration("5 m", &v), -1);
	assert_int_equal(config_parse_duration("1h30", &v), -1);
	assert_int_equal(config_parse_duration("-1", &v), -1);
	assert_int_equal(config_parse_duration("1.5h", &v), -1);
	assert_int_equal(config_parse_duration("4294967296", &v), -1);
	assert_int_equal(config_parse_duration("49711d", &v), -1);
	assert_int_equal(config_parse_duration("49710d86400s", &v), -1);
}

/* Units and words through the file: jitter, factor, bools, enums, off. */
static void
test_units_in_file(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(load(conf("[retry]\njitter = 12.5%\nfactor = 3\n"
	    "delay_warning = 0\nlifetime = 1d12h\n[delivery]\nrcpt_check = "
	    "Yes\nsplit_by_destination = true\nmode = QUEUE\n[outbound]\n"
	    "tls = none\n[limits]\nmax_message_size = 512K\n"
	    "max_line_length = 80\ncommand_timeout = 1\n"), &cfg), 0);
	assert_true(cfg.retry_jitter > 0.12499 && cfg.retry_jitter < 0.12501);
	assert_true(cfg.retry_factor == 3.0);
	assert_int_equal(cfg.retry_delay_warning, 0);
	assert_int_equal(cfg.retry_lifetime, 86400 + 43200);
	assert_true(cfg.rcpt_check);
	assert_true(cfg.split_by_destination);
	assert_int_equal(cfg.delivery_mode, DELIVERY_QUEUE);
	assert_int_equal(cfg.outbound_tls, OUTBOUND_TLS_NONE);
	assert_int_equal(cfg.max_message_size, 512 * 1024);
	assert_int_equal(cfg.max_line_length, 80);
	assert_int_equal(cfg.command_timeout, 1);
	config_free(&cfg);

	assert_int_equal(load(conf("[retry]\ndelay_warning = off\n"
	    "jitter = 0\n[dns]\nresolver = [::1]:53\n"), &cfg), 0);
	assert_int_equal(cfg.retry_delay_warning, 0);
	assert_true(cfg.retry_jitter == 0.0);
	assert_string_equal(cfg.dns_resolver_host, "::1");
	assert_int_equal(cfg.dns_resolver_port, 53);
	config_free(&cfg);

	assert_int_equal(load(conf("[dns]\nresolver = 192.0.2.1\n"), &cfg), 0);
	assert_string_equal(cfg.dns_resolver_host, "192.0.2.1");
	assert_int_equal(cfg.dns_resolver_port, 53);
	config_free(&cfg);

	assert_int_equal(load(conf("[retry]\njitter = 100%\n"), &cfg), 0);
	assert_true(cfg.retry_jitter == 1.0);
	config_free(&cfg);
}

static void
test_bad_values(void **state)
{
	struct config cfg;
	const char *p;
	int n;

	(void)state;
	p = conf("[limits]\n"				/* 1 */
	    "max_message_size = 25MB\n"			/* 2 */
	    "max_recipients = 0\n"			/* 3 */
	    "max_line_length = 79\n"			/* 4 */
	    "command_timeout = 5 minutes\n"		/* 5 */
	    "max_errors = ten\n"			/* 6 */
	    "max_message_size = 2G\n"			/* 7: duplicate */
	    "[retry]\n"					/* 8 */
	    "jitter = 150%\n"				/* 9 */
	    "factor = 0.5\n"				/* 10 */
	    "first = 2d\n"				/* 11 */
	    "delay_warning = never\n"			/* 12 */
	    "[outbound]\n"				/* 13 */
	    "tls = maybe\n"				/* 14 */
	    "mx_port = 65536\n"				/* 15 */
	    "[delivery]\n"				/* 16 */
	    "rcpt_check = perhaps\n"			/* 17 */
	    "mode = later\n"				/* 18 */
	    "in_session_budget = 10m\n"			/* 19 */
	    "[dns]\n"					/* 20 */
	    "resolver = dns.example.test\n"		/* 21 */
	    "[server]\n"				/* 22 */
	    "listen = 127.0.0.1\n"			/* 23 */
	    "hostname = bad_host!\n"			/* 24 */
	    "[queue]\n"					/* 25 */
	    "dir =\n");					/* 26 */
	n = load(p, &cfg);
	assert_msg(p, 2, "max_message_size: '25MB' is not a size (bytes, or a "
	    "number with K, M or G)");
	assert_msg(p, 3, "max_recipients: out of range (1..100000)");
	assert_msg(p, 4, "max_line_length: out of range (80..1M)");
	assert_msg(p, 5, "command_timeout: '5 minutes' is not a duration "
	    "(e.g. 30s, 5m, 4h, 3d; a bare number is seconds)");
	assert_msg(p, 6, "max_errors: 'ten' is not a whole number");
	assert_msg(p, 7, "duplicate key 'max_message_size' (first set on "
	    "line 2)");
	assert_msg(p, 9, "jitter: out of range (0%..100%)");
	assert_msg(p, 10, "factor: out of range (1..10)");
	assert_msg(p, 11, "first: out of range (1s..1d)");
	assert_msg(p, 12, "delay_warning: 'never' is not a duration (e.g. 30s, "
	    "5m, 4h, 3d; a bare number is seconds) or off");
	assert_msg(p, 14, "tls: 'maybe': expected none, opportunistic or "
	    "require");
	assert_msg(p, 15, "mx_port: out of range (1..65535)");
	assert_msg(p, 17, "rcpt_check: 'perhaps': expected yes or no");
	assert_msg(p, 18, "mode: 'later': expected in-session or queue");
	assert_msg(p, 19, "in_session_budget: out of range (1s..5m)");
	assert_msg(p, 21, "resolver: 'dns.example.test': expected an IP "
	    "address, e.g. 127.0.0.1:5353 or [::1]:53");
	assert_msg(p, 23, "listen: '127.0.0.1': missing port (write "
	    "HOST:PORT)");
	assert_msg(p, 24, "hostname: 'bad_host!' is not a valid host name");
	assert_msg(p, 26, "dir: empty value");
	assert_int_equal(n, 19);
	assert_int_equal(count_lines(errbuf), 19);
	assert_null(cfg.routes);
	config_free(&cfg);	/* safe after failure */
}

/* [store], [suppression], [srs] and [routes] source: values and rules. */
static void
test_store_suppression_srs(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("[store]\n"				/* 1 */
	    "backend = mysql\n"				/* 2 */
	    "path =\n"					/* 3 */
	    "[suppression]\n"				/* 4 */
	    "soft_threshold = 0\n"			/* 5 */
	    "soft_window = 366d\n"			/* 6 */
	    "ttl = forever\n"				/* 7 */
	    "[srs]\n"					/* 8 */
	    "domain = not a domain\n"			/* 9 */
	    "max_age = 12h\n"				/* 10 */
	    "[routes]\n"					/* 11 */
	    "source = ldap\n");				/* 12 */
	assert_int_equal(load(p, &cfg), 8);
	assert_msg(p, 2, "backend: 'mysql': expected sqlite or postgres");
	assert_msg(p, 3, "path: empty value");
	assert_msg(p, 5, "soft_threshold: out of range (1..1000)");
	assert_msg(p, 6, "soft_window: out of range (0s..365d)");
	assert_msg(p, 7, "ttl: 'forever' is not a duration (e.g. 30s, 5m, 4h, "
	    "3d; a bare number is seconds) or never");
	assert_msg(p, 9, "domain: 'not a domain' is not a valid domain name");
	assert_msg(p, 10, "max_age: out of range (1d..1000d)");
	assert_msg(p, 12, "source: 'ldap': expected config or store");

	/* Rules across keys. */
	p = conf("[store]\nbackend = postgres\n[srs]\ndomain = srs.example."
	    "test\nsecret = short\n");
	assert_int_equal(load(p, &cfg), 2);
	assert_msg(p, 2, "[store] backend = postgres needs a dsn");
	assert_msg(p, 5, "[srs] domain needs a secret of at least 16 bytes");
	p = conf("[srs]\ndomain = srs.example.test\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "[srs] domain needs a secret of at least 16 bytes");

	/* Words, quotes, zero. */
	p = conf("[store]\nbackend = PostgreSQL\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "backend: 'PostgreSQL': expected sqlite or postgres");
	p = conf("[store]\nbackend = Postgres\ndsn = \"dbname=x\"\n"
	    "[suppression]\nttl = 0\nsoft_window = 0\n[srs]\n"
	    "secret = \"a secret \"with\" quotes\"\ndomain = s.example\n");
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(cfg.store_backend, CONFIG_STORE_POSTGRES);
	assert_string_equal(cfg.store_dsn, "dbname=x");
	assert_int_equal(cfg.suppress_ttl, 0);
	assert_int_equal(cfg.suppress_soft_window, 0);
	assert_string_equal(cfg.srs_secret, "a secret \"with\" quotes");
	config_free(&cfg);
	p = conf("[suppression]\nttl = never\n[routes]\nsource = STORE\n"
	    "a@b.test = maildir:x\n");
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(cfg.suppress_ttl, 0);
	assert_int_equal(cfg.routes_source, CONFIG_ROUTES_STORE);
	assert_int_equal(route_table_count(cfg.routes), 1);
	config_free(&cfg);
	/* source is a setting, not a route; twice is a duplicate. */
	p = conf("[routes]\nsource = config\nsource = store\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 3, "duplicate key 'source' (first set on line 2)");
}

static void
test_bad_listen(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("[server]\nlisten = ::1:25\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: '::1:25': an IPv6 address must be written "
	    "in brackets: [::1]:2525");
	p = conf("[server]\nlisten = [::1]:25, [::1]:25\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: '[::1]:25': listed twice");
	p = conf("[server]\nlisten = [fe80::zz]:25\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: '[fe80::zz]:25': bad IPv6 address");
	p = conf("[server]\nlisten = 127.0.0.256:25\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: '127.0.0.256:25': bad host");
	p = conf("[server]\nlisten = 127.0.0.1:0\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: '127.0.0.1:0': bad port (1..65535)");
	p = conf("[server]\nlisten =\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "listen: no address given");
	p = conf("[server]\nlisten = 1.1.1.1:1 1.1.1.1:2 1.1.1.1:3 1.1.1.1:4 "
	    "1.1.1.1:5 1.1.1.1:6 1.1.1.1:7 1.1.1.1:8 1.1.1.1:9\n"
	    "  1.1.1.1:10 1.1.1.1:11 1.1.1.1:12 1.1.1.1:13 1.1.1.1:14 "
	    "1.1.1.1:15 1.1.1.1:16 1.1.1.1:17\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 3, "listen: more than 16 addresses");
}

static void
test_unknown_key_and_section(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("[server]\n"
	    "listne = 127.0.0.1:25\n"		/* 2 */
	    "[srever]\n"			/* 3 */
	    "listen = 127.0.0.1:25\n"		/* 4: under an unknown section */
	    "[limits]\n"
	    "max_size = 1M\n"			/* 6 */
	    "dir = x\n"				/* 7: right name, wrong section */
	    "[queue ]\n");			/* 8 */
	assert_int_equal(load(p, &cfg), 5);
	assert_msg(p, 2, "unknown key 'listne' in [server]");
	assert_msg(p, 3, "unknown section [srever]");
	assert_msg(p, 6, "unknown key 'max_size' in [limits]");
	assert_msg(p, 7, "unknown key 'dir' in [limits]");
	assert_msg(p, 8, "unknown section [queue ]");
}

static void
test_syntax_errors(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("hostname = early.test\n"	/* 1: before any section */
	    "[server\n"				/* 2 */
	    "listen = 1.2.3.4:5\n"		/* 3: under the broken header */
	    "[limits] trailing\n"		/* 4 */
	    "[queue]\n"
	    "just some words\n"			/* 6 */
	    "= value\n"				/* 7 */
	    "dir ; = x\n"			/* 8: ';' comment before '=' */
	    "[limits]\n"
	    "max_errors = 5 ; a comment is fine\n");
	assert_int_equal(load(p, &cfg), 6);
	assert_msg(p, 1, "'hostname' is outside any section");
	assert_msg(p, 2, "missing ']' in section header");
	assert_msg(p, 4, "unexpected text after ']'");
	assert_msg(p, 6, "expected 'key = value'");
	assert_msg(p, 7, "missing key name before '='");
	assert_msg(p, 8, "expected 'key = value'");

	/* Comments in all their places, a colon separator, CRLF, a BOM. */
	p = conf("\xEF\xBB\xBF# top\r\n[limits] ; note\r\n  ; indented "
	    "comment\r\nmax_errors: 7 ; seven\r\n\r\n");
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(cfg.max_errors, 7);
	config_free(&cfg);

	p = conf("[limits]\nmax_errors = 7\x01\n");
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "control character 0x01 in line");
}

/* A line of 200 bytes (without its newline). */
static void
make_line(char *out, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	while (n < len)
		out[n++] = 'a';
	out[n] = '\0';
}

static void
test_long_lines(void **state)
{
	struct config cfg;
	char line[512], text[2048];
	const char *p;
	const struct dest *d;
	size_t nd;

	(void)state;
	/*
	 * Without the guard libinih would cut this 200-byte line after 199
	 * bytes and read the rest as an entry of its own.
	 */
	make_line(line, 200, "alice@example.test = maildir:/srv/");
	snprintf(text, sizeof(text), "[routes]\nbob@example.test = "
	    "maildir:/b\n%s\ncarol@example.test = maildir:/c\n", line);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 3, "line too long (max 199 bytes)");
	assert_int_equal(count_lines(errbuf), 1);

	/* Comments and blank-looking lines are measured too. */
	make_line(line, 300, "# ");
	snprintf(text, sizeof(text), "%s\n[limits]\n%s", line, line);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 2);
	assert_msg(p, 1, "line too long (max 199 bytes)");
	assert_msg(p, 3, "line too long (max 199 bytes)");

	/* 199 bytes is fine, and the whole value arrives. */
	make_line(line, 199, "alice@example.test = maildir:/srv/");
	snprintf(text, sizeof(text), "[routes]\r\n%s\r\n", line);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(route_lookup(cfg.routes, "alice", 5, "example.test",
	    12, &d, &nd), ROUTE_FOUND);
	assert_int_equal(strlen(d[0].path), 199 - strlen("alice@example.test "
	    "= maildir:"));
	config_free(&cfg);

	/* A too-long key line's continuations do not join the key before. */
	make_line(line, 250, "carol@example.test = maildir:/");
	snprintf(text, sizeof(text), "[routes]\nbob@example.test = "
	    "maildir:/b\n%s\n   maildir:/c2\n", line);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 3, "line too long (max 199 bytes)");
}

static void
test_continuation(void **state)
{
	struct config cfg;
	const struct dest *d;
	size_t nd;
	const char *p;

	(void)state;
	p = conf("[routes]\n"
	    "team@example.test = maildir:var/mail/a,\n"
	    "    smtp://[2001:db8::5]:2525, smtp://mx.example.net\n"
	    "\n"
	    "    ; a comment between continuation lines\n"
	    "\tbob@other.test   ; forward\n"
	    "long@example.test =\n"
	    "    maildir:/x\n"
	    "[server]\n"
	    "listen = 127.0.0.1:2525,\n"
	    "    [::1]:2525\n"
	    "    127.0.0.1:2526\n");
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(route_lookup(cfg.routes, "team", 4, "example.test",
	    12, &d, &nd), ROUTE_FOUND);
	assert_int_equal(nd, 4);
	assert_int_equal(d[0].kind, DEST_MAILDIR);
	assert_string_equal(d[0].path, "var/mail/a");
	assert_int_equal(d[1].kind, DEST_SMTP);
	assert_string_equal(d[1].host, "2001:db8::5");
	assert_int_equal(d[1].port, 2525);
	assert_string_equal(d[2].host, "mx.example.net");
	assert_int_equal(d[2].port, 25);
	assert_int_equal(d[3].kind, DEST_FORWARD);
	assert_string_equal(d[3].address, "bob@other.test");
	assert_int_equal(route_lookup(cfg.routes, "long", 4, "example.test",
	    12, &d, &nd), ROUTE_FOUND);
	assert_int_equal(nd, 1);
	assert_int_equal(cfg.nlisten, 3);
	assert_string_equal(cfg.listen[2].port, "2526");
	config_free(&cfg);

	/* A key longer than libinih's 49-byte continuation name buffer. */
	p = conf("[routes]\n"
	    "a.very.long.local.part.indeed@a-rather-long-domain.example.test"
	    " = maildir:/one\n"
	    "    maildir:/two\n");
	assert_int_equal(load(p, &cfg), 0);
	assert_int_equal(route_lookup(cfg.routes,
	    "a.very.long.local.part.indeed", 29,
	    "a-rather-long-domain.example.test", 33, &d, &nd), ROUTE_FOUND);
	assert_int_equal(nd, 2);
	assert_string_equal(d[1].path, "/two");
	config_free(&cfg);

	/* The bad destination is reported on its own line. */
	p = conf("[routes]\n"
	    "x@example.test = maildir:/a\n"
	    "    ftp://nope\n"
	    "empty@example.test =\n"
	    "[limits]\n"
	    "max_errors = 5\n"
	    "    6\n");
	assert_int_equal(load(p, &cfg), 3);
	assert_msg(p, 3, "x@example.test: bad destination 'ftp://nope': "
	    "expected maildir:PATH, smtp://HOST[:PORT] or user@domain");
	assert_msg(p, 4, "no destinations for 'empty@example.test'");
	assert_msg(p, 7, "max_errors takes one value; only lists (listen, "
	    "routes) continue on indented lines");
}

static void
test_duplicates(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("[server]\nhostname = a.test\n[limits]\nmax_errors = 1\n"
	    "[server]\nhostname = b.test\n"
	    "[routes]\nalice@example.test = maildir:/a\n"
	    "[routes]\nALICE@Example.Test = maildir:/b\n");
	assert_int_equal(load(p, &cfg), 2);
	assert_msg(p, 6, "duplicate key 'hostname' (first set on line 2)");
	assert_msg(p, 10, "duplicate route key 'alice@example.test'");
}

static void
test_route_errors(void **state)
{
	struct config cfg;
	const char *p;

	(void)state;
	p = conf("[routes]\n"
	    "nodomain = maildir:/a\n"
	    "a@b@c.test = maildir:/a\n"
	    "*@*.example.test = maildir:/a\n"
	    "x@example.test = smtp://[::1\n"
	    "y@example.test = smtp://host:99999\n"
	    "z@example.test = maildir:\n");
	assert_int_equal(load(p, &cfg), 6);
	assert_msg(p, 2, "bad route key 'nodomain' (expected local@domain or "
	    "*@domain)");
	assert_msg(p, 3, "bad route key 'a@b@c.test' (expected local@domain or "
	    "*@domain)");
	assert_msg(p, 4, "bad domain in route key '*@*.example.test'");
	assert_msg(p, 5, "x@example.test: bad destination 'smtp://[::1': "
	    "missing ']' after IPv6 address");
	assert_msg(p, 6, "y@example.test: bad destination 'smtp://host:99999': "
	    "bad port (expected :1..65535 after the host)");
	assert_msg(p, 7, "z@example.test: bad destination 'maildir:': empty "
	    "Maildir path");
}

static void
test_tls_and_cross_checks(void **state)
{
	struct config cfg;
	char text[2048];
	const char *p, *cert;

	(void)state;
	cert = write_file("c.pem", "x", 1);
	snprintf(text, sizeof(text), "[tls]\ncert = %s\n", cert);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 1);
	assert_msg(p, 2, "[tls] needs both cert and key, or neither");

	snprintf(text, sizeof(text), "[tls]\ncert = %s\nkey = %s/missing.pem\n",
	    cert, tmpdir);
	p = conf(text);
	assert_int_equal(load(p, &cfg), 1);
	snprintf(text, sizeof(text), "key '%s/missing.pem': No such file or "
	    "directory", tmpdir);
	assert_msg(p, 3, text);

	p = conf("[retry]\nfirst = 1h\nmax_interval = 30m\n"
	    "lifetime = 1d\ndelay_warning = 2d\n"
	    "[limits]\nmax_connections = 10\nmax_connections_per_ip = 20\n"
	    "max_message_size = 64K\n");
	assert_int_equal(load(p, &cfg), 4);
	assert_msg(p, 3, "retry max_interval (1800s) is shorter than first "
	    "(3600s)");
	assert_msg(p, 5, "retry delay_warning (172800s) must be shorter than "
	    "lifetime (86400s)");
	assert_msg(p, 8, "max_connections_per_ip (20) exceeds max_connections "
	    "(10)");
	assert_msg(p, 9, "max_header_size exceeds max_message_size");
}

static void
test_unreadable_and_reload(void **state)
{
	struct config a, b;
	char path[512];
	const char *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	assert_int_equal(load(path, &a), -1);
	assert_non_null(strstr(errbuf, "No such file or directory"));
	assert_null(a.routes);

	/* SIGHUP: a second load on a fresh struct while the first lives. */
	p = conf("[routes]\n*@example.test = maildir:/m\n");
	assert_int_equal(load(p, &a), 0);
	assert_int_equal(load(p, &b), 0);
	assert_ptr_not_equal(a.routes, b.routes);
	assert_int_equal(route_domain_hosted(a.routes, "example.test", 12), 1);
	config_free(&a);
	assert_int_equal(route_domain_hosted(b.routes, "EXAMPLE.test", 12), 1);
	config_free(&b);
}

/* The keys as the tests know them; the table in config.c must agree. */
static const char *const all_keys[][2] = {
	{ "server", "listen" }, { "server", "hostname" },
	{ "tls", "cert" }, { "tls", "key" },
	{ "limits", "max_message_size" }, { "limits", "max_recipients" },
	{ "limits", "max_connections" }, { "limits", "max_connections_per_ip" },
	{ "limits", "command_timeout" }, { "limits", "data_timeout" },
	{ "limits", "max_received_headers" }, { "limits", "max_header_size" },
	{ "limits", "max_line_length" }, { "limits", "max_errors" },
	{ "queue", "dir" },
	{ "retry", "first" }, { "retry", "factor" },
	{ "retry", "max_interval" }, { "retry", "jitter" },
	{ "retry", "lifetime" }, { "retry", "delay_warning" },
	{ "outbound", "tls" }, { "outbound", "mx_port" },
	{ "outbound", "max_per_host" },
	{ "dns", "resolver" },
	{ "delivery", "mode" }, { "delivery", "rcpt_check" },
	{ "delivery", "in_session_budget" },
	{ "delivery", "split_by_destination" },
	{ "store", "backend" }, { "store", "path" }, { "store", "dsn" },
	{ "suppression", "soft_threshold" }, { "suppression", "soft_window" },
	{ "suppression", "ttl" },
	{ "srs", "domain" }, { "srs", "secret" }, { "srs", "max_age" },
	{ "routes", "source" },
};

static char *
slurp(const char *rel)
{
	const char *src = getenv("SOURCE_DIR");
	char path[1024];
	char *data;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = calloc(1, (size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return data;
}

/*
 * examples/relay.conf loads cleanly; with every "#key = value" sample
 * uncommented it still loads, and the samples are the true defaults.
 */
static void
test_example_file(void **state)
{
	struct config ex, un, def;
	char *text, *out, *o, path[1024];
	const char *src = getenv("SOURCE_DIR"), *s, *line;
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/examples/relay.conf",
	    src ? src : ".");
	assert_int_equal(load(path, &ex), 0);
	assert_int_equal(ex.nlisten, 1);
	assert_string_equal(ex.listen[0].host, "127.0.0.1");
	assert_string_equal(ex.listen[0].port, "2525");
	assert_string_equal(ex.hostname, "relay.example.test");
	assert_string_equal(ex.queue_dir, "var/queue");
	assert_int_equal(route_domain_hosted(ex.routes, "example.test", 12), 1);

	text = slurp("examples/relay.conf");
	out = calloc(1, strlen(text) + 1);
	assert_non_null(out);
	o = out;
	for (line = text; *line; line = s) {
		s = strchr(line, '\n');
		s = s ? s + 1 : line + strlen(line);
		/* "#name = value" (no space after '#') is a sample setting. */
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z')
			line++;
		memcpy(o, line, (size_t)(s - line));
		o += s - line;
	}
	assert_int_equal(load(write_file("uncommented.conf", out, strlen(out)),
	    &un), 0);
	config_init(&def);
	/* Everything but what the example really sets equals the default. */
	memcpy(def.listen, ex.listen, sizeof(def.listen));
	def.nlisten = ex.nlisten;
	memcpy(def.hostname, ex.hostname, sizeof(def.hostname));
	memcpy(def.queue_dir, ex.queue_dir, sizeof(def.queue_dir));
	memcpy(def.path, un.path, sizeof(def.path));
	assert_int_equal(memcmp(def.listen, un.listen, sizeof(un.listen)), 0);
	assert_string_equal(def.hostname, un.hostname);
	assert_int_equal(un.max_message_size, def.max_message_size);
	assert_int_equal(un.max_recipients, def.max_recipients);
	assert_int_equal(un.max_connections, def.max_connections);
	assert_int_equal(un.max_connections_per_ip, def.max_connections_per_ip);
	assert_int_equal(un.command_timeout, def.command_timeout);
	assert_int_equal(un.data_timeout, def.data_timeout);
	assert_int_equal(un.max_received_headers, def.max_received_headers);
	assert_int_equal(un.max_header_size, def.max_header_size);
	assert_int_equal(un.max_line_length, def.max_line_length);
	assert_int_equal(un.max_errors, def.max_errors);
	assert_int_equal(un.retry_first, def.retry_first);
	assert_true(un.retry_factor == def.retry_factor);
	assert_int_equal(un.retry_max_interval, def.retry_max_interval);
	assert_true(un.retry_jitter == def.retry_jitter);
	assert_int_equal(un.retry_lifetime, def.retry_lifetime);
	assert_int_equal(un.retry_delay_warning, def.retry_delay_warning);
	assert_int_equal(un.outbound_tls, def.outbound_tls);
	assert_int_equal(un.mx_port, def.mx_port);
	assert_int_equal(un.max_per_host, def.max_per_host);
	assert_string_equal(un.dns_resolver, def.dns_resolver);
	assert_int_equal(un.delivery_mode, def.delivery_mode);
	assert_int_equal(un.rcpt_check, def.rcpt_check);
	assert_int_equal(un.in_session_budget, def.in_session_budget);
	assert_int_equal(un.split_by_destination, def.split_by_destination);
	assert_int_equal(un.store_backend, def.store_backend);
	assert_string_equal(un.store_path, def.store_path);
	assert_string_equal(un.store_dsn, def.store_dsn);
	assert_int_equal(un.suppress_soft_threshold,
	    def.suppress_soft_threshold);
	assert_int_equal(un.suppress_soft_window, def.suppress_soft_window);
	assert_int_equal(un.suppress_ttl, def.suppress_ttl);
	assert_string_equal(un.srs_domain, def.srs_domain);
	assert_string_equal(un.srs_secret, def.srs_secret);
	assert_int_equal(un.srs_max_age, def.srs_max_age);
	assert_int_equal(un.routes_source, def.routes_source);
	assert_string_equal(un.tls_cert, "");

	/* Every key has a sample line in the example. */
	for (i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
		char want[128];
		int found;

		snprintf(want, sizeof(want), "\n#%s =", all_keys[i][1]);
		found = strstr(text, want) != NULL;
		snprintf(want, sizeof(want), "\n%s =", all_keys[i][1]);
		found |= strstr(text, want) != NULL;
		if (!found)
			fail_msg("examples/relay.conf lacks %s", all_keys[i][1]);
	}
	free(text);
	free(out);
	config_free(&ex);
	config_free(&un);
}

/* docs/config.md documents every key of the table, under its section. */
static void
test_docs_cover_keys(void **state)
{
	struct config cfg;
	char *doc, want[128];
	const char *sec;
	size_t i;

	(void)state;
	doc = slurp("docs/config.md");
	for (i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
		snprintf(want, sizeof(want), "## [%s]", all_keys[i][0]);
		sec = strstr(doc, want);
		if (sec == NULL)
			fail_msg("docs/config.md lacks section %s", want);
		snprintf(want, sizeof(want), "| `%s` |", all_keys[i][1]);
		if (strstr(sec, want) == NULL)
			fail_msg("docs/config.md lacks %s", want);
	}
	/* And the list above is the table: each key is known to config. */
	for (i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
		char text[256];
		const char *p;

		snprintf(text, sizeof(text), "[%s]\n%s = 1\n", all_keys[i][0],
		    all_keys[i][1]);
		p = conf(text);
		(void)load(p, &cfg);
		config_free(&cfg);
		if (strstr(errbuf, "unknown key") != NULL)
			fail_msg("%s", errbuf);
	}
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_units_in_file),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_store_suppression_srs),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_unknown_key_and_section),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_route_errors),
		cmocka_unit_test(test_tls_and_cross_checks),
		cmocka_unit_test(test_unreadable_and_reload),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_docs_cover_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
