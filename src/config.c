/*
 * config - the relay's one INI configuration file.  See config.h.
 *
 * Reading is done by libinih, guarded.  Debian's libinih (r55) reads lines
 * into a 200-byte buffer and silently splits a longer line into pieces that
 * parse as extra, bogus "key = value" entries while ini_parse() still
 * reports success (DESIGN.md 7).  It also truncates the key name it passes
 * for a continuation line to 49 bytes, and keeps a " ; comment" on a
 * continuation line as part of the value.  So we never let it read the
 * file:
 *
 *   1. config_scan() reads every line first and refuses any line of 200
 *      bytes or more ("line too long (max 199 bytes)") and any control
 *      character, with its line number;
 *   2. libinih then reads through config_reader(), which hands it one line
 *      at a time and classifies the line exactly as libinih will (comment,
 *      section, key, continuation).  Lines already refused, and lines with a
 *      syntax error (reported here, so that every one is reported, not only
 *      the first as ini_parse() would), are handed over blank;
 *   3. config_handler() knows the line number and kind of the line libinih
 *      is reporting, so messages carry "PATH:LINE", and a continuation line
 *      (indented, libinih's multiline mode) is tied to the full key name we
 *      kept ourselves.  Continuations extend list values: [routes] keys get
 *      more destinations, [server] listen more addresses.
 *
 * Every key is one row of config_keys[] (name, type, default, min, max), in
 * the way of Postfix's and Redis's tables.  Defaults are written in file
 * syntax and go through the same parser as the file, so they obey the same
 * bounds.  All problems are collected with their line and printed sorted.
 *
 * Re-entrant: all state lives in struct config_parse on the stack.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "route.h"

#define CONFIG_WHY_MAX		512
#define CONFIG_KEYNAME_MAX	256		/* > CONFIG_LINE_MAX */
#define CONFIG_ROUTE_VALUE_MAX	(64 * 1024)
#define CONFIG_SRS_SECRET_MIN	16

enum config_type {
	CT_LISTEN,	/* host:port list */
	CT_HOSTNAME,	/* a domain name */
	CT_PATH,	/* non-empty string */
	CT_FILE,	/* string, may be empty; checked readable after parse */
	CT_SIZE,	/* size_t, K/M/G */
	CT_UINT,	/* unsigned */
	CT_DURATION,	/* unsigned seconds */
	CT_DURATION_OFF,/* unsigned seconds, "off" or 0 = 0 */
	CT_DECIMAL,	/* double */
	CT_FRACTION,	/* double, "20%" or "0.2" */
	CT_BOOL,	/* yes/no */
	CT_OUTBOUND_TLS,/* none|opportunistic|require */
	CT_DELIVERY,	/* in-session|queue */
	CT_RESOLVER,	/* "" or ip[:port] / [ipv6][:port] */
	CT_STRING,	/* any text, may be empty; one pair of "quotes" removed */
	CT_DOMAIN_OPT,	/* "" or a domain name */
	CT_DURATION_NEVER,/* unsigned seconds, "never" or 0 = 0 */
	CT_STORE_BACKEND,/* sqlite|postgres */
	CT_ROUTES_SOURCE,/* config|store */
};

struct config_key {
	const char	*section;
	const char	*name;
	enum config_type type;
	size_t		 off;	/* offsetof(struct config, field) */
	size_t		 size;	/* sizeof the field */
	const char	*def;	/* default in file syntax; NULL: computed */
	double		 min, max;	/* numeric types only */
};

#define FIELD(f)	offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define K		1024.0
#define MIN		60.0
#define HOUR		3600.0
#define DAY		86400.0

/* The one table of keys.  docs/config.md documents each row. */
static const struct config_key config_keys[] = {
	{ "server", "listen", CT_LISTEN, FIELD(listen), "127.0.0.1:2525", 0, 0 },
	{ "server", "hostname", CT_HOSTNAME, FIELD(hostname), NULL, 0, 0 },
	{ "tls", "cert", CT_FILE, FIELD(tls_cert), "", 0, 0 },
	{ "tls", "key", CT_FILE, FIELD(tls_key), "", 0, 0 },
	{ "limits", "max_message_size", CT_SIZE, FIELD(max_message_size),
	    "25M", K, K * K * K },
	/* RFC 5321 4.5.3.1.8: a server MUST accept at least 100 recipients. */
	{ "limits", "max_recipients", CT_UINT, FIELD(max_recipients), "100",
	    1, 100000 },
	{ "limits", "max_connections", CT_UINT, FIELD(max_connections), "1000",
	    1, 100000 },
	{ "limits", "max_connections_per_ip", CT_UINT,
	    FIELD(max_connections_per_ip), "50", 1, 100000 },
	/* RFC 5321 4.5.3.2.7: the server timeout SHOULD be 5 minutes. */
	{ "limits", "command_timeout", CT_DURATION, FIELD(command_timeout),
	    "5m", 1, HOUR },
	/* RFC 5321 4.5.3.2.5/6: clients wait 3 and 10 minutes around DATA. */
	{ "limits", "data_timeout", CT_DURATION, FIELD(data_timeout), "10m",
	    1, HOUR },
	{ "limits", "max_received_headers", CT_UINT,
	    FIELD(max_received_headers), "50", 1, 1000 },
	{ "limits", "max_header_size", CT_SIZE, FIELD(max_header_size),
	    "100K", K, 64 * K * K },
	/* RFC 5321 4.5.3.1.6: 1000 octets including CRLF. */
	{ "limits", "max_line_length", CT_SIZE, FIELD(max_line_length), "1000",
	    80, K * K },
	{ "limits", "max_errors", CT_UINT, FIELD(max_errors), "10", 1, 1000 },
	{ "queue", "dir", CT_PATH, FIELD(queue_dir), "var/queue", 0, 0 },
	{ "retry", "first", CT_DURATION, FIELD(retry_first), "5m", 1, DAY },
	{ "retry", "factor", CT_DECIMAL, FIELD(retry_factor), "2", 1, 10 },
	{ "retry", "max_interval", CT_DURATION, FIELD(retry_max_interval),
	    "4h", 1, 7 * DAY },
	{ "retry", "jitter", CT_FRACTION, FIELD(retry_jitter), "20%", 0, 1 },
	{ "retry", "lifetime", CT_DURATION, FIELD(retry_lifetime), "3d",
	    1, 60 * DAY },
	{ "retry", "delay_warning", CT_DURATION_OFF,
	    FIELD(retry_delay_warning), "off", 1, 30 * DAY },
	{ "outbound", "tls", CT_OUTBOUND_TLS, FIELD(outbound_tls),
	    "opportunistic", 0, 0 },
	{ "outbound", "mx_port", CT_UINT, FIELD(mx_port), "25", 1, 65535 },
	{ "outbound", "max_per_host", CT_UINT, FIELD(max_per_host), "10",
	    1, 1000 },
	{ "dns", "resolver", CT_RESOLVER, FIELD(dns_resolver), "", 0, 0 },
	{ "delivery", "mode", CT_DELIVERY, FIELD(delivery_mode), "in-session",
	    0, 0 },
	{ "delivery", "rcpt_check", CT_BOOL, FIELD(rcpt_check), "yes", 0, 0 },
	/* Well under the sender's 10-minute wait for the DATA reply. */
	{ "delivery", "in_session_budget", CT_DURATION,
	    FIELD(in_session_budget), "30s", 1, 5 * MIN },
	{ "delivery", "split_by_destination", CT_BOOL,
	    FIELD(split_by_destination), "no", 0, 0 },
	{ "store", "backend", CT_STORE_BACKEND, FIELD(store_backend), "sqlite",
	    0, 0 },
	{ "store", "path", CT_PATH, FIELD(store_path), "var/state.db", 0, 0 },
	{ "store", "dsn", CT_STRING, FIELD(store_dsn), "", 0, 0 },
	{ "suppression", "soft_threshold", CT_UINT,
	    FIELD(suppress_soft_threshold), "5", 1, 1000 },
	{ "suppression", "soft_window", CT_DURATION,
	    FIELD(suppress_soft_window), "3d", 0, 365 * DAY },
	{ "suppression", "ttl", CT_DURATION_NEVER, FIELD(suppress_ttl),
	    "never", 1, 3650 * DAY },
	{ "srs", "domain", CT_DOMAIN_OPT, FIELD(srs_domain), "", 0, 0 },
	{ "srs", "secret", CT_STRING, FIELD(srs_secret), "", 0, 0 },
	/* The SRS stamp counts days modulo 1024 (srs.h). */
	{ "srs", "max_age", CT_DURATION, FIELD(srs_max_age), "21d", DAY,
	    1000 * DAY },
	/* The one [routes] key that is not a route (routes contain '@'). */
	{ "routes", "source", CT_ROUTES_SOURCE, FIELD(routes_source), "config",
	    0, 0 },
};
#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

/* Sections; [routes] takes any key (a route), the others their table rows. */
static const char *const config_sections[] = {
	"server", "tls", "limits", "queue", "retry", "outbound", "dns",
	"delivery", "store", "suppression", "srs", "routes",
};
#define CONFIG_NSECTIONS (sizeof(config_sections) / sizeof(config_sections[0]))
#define SEC_NONE	(-1)	/* before any section header */
#define SEC_SKIP	(-2)	/* unknown or broken header: reported already */

enum config_line_kind {
	LK_BLANK,	/* blank, comment, or refused (handed over empty) */
	LK_SECTION,
	LK_KEY,
	LK_CONT,	/* continuation of the previous key */
};

/* What the current key's continuation lines go to. */
enum config_cur {
	CUR_NONE,	/* nothing: continuation lines are ignored */
	CUR_KEY,	/* a config_keys row */
	CUR_ROUTE,	/* a [routes] entry being collected */
};

struct config_msg {
	unsigned line;
	size_t	 seq;
	char	*text;
};

struct config_parse {
	struct config	*cfg;
	const char	*path;

	/* The file, and the reader's position in it. */
	const char	*data;
	size_t		 size;
	size_t		 pos;
	unsigned	 lineno;	/* line last handed to libinih */
	enum config_line_kind kind;	/* its kind */

	/* Reader state, mirroring libinih's own. */
	int		 section;	/* index, SEC_NONE or SEC_SKIP */
	int		 prev_key;	/* a key line since the last section */
	int		 key_broken;	/* last key-ish line was refused */

	/* Handler state: the key continuation lines belong to. */
	enum config_cur	 cur;
	const struct config_key *key;
	char		 keyname[CONFIG_KEYNAME_MAX];
	unsigned	 key_line;
	struct buf	 route_value;
	int		 route_bad;
	int		 listen_bad;
	unsigned	 set_line[CONFIG_NKEYS];	/* 0 = default */

	/* Problems. */
	struct config_msg *msgs;
	size_t		 nmsgs, capmsgs;
	size_t		 nlost;		/* messages we had no memory for */
};

static void
config_problem(struct config_parse *st, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record one problem at line (0 = the file as a whole). */
static void
config_problem(struct config_parse *st, unsigned line, const char *fmt, ...)
{
	struct config_msg *m;
	struct buf b;
	va_list ap;
	int rc;

	if (st->nmsgs == st->capmsgs) {
		size_t ncap = st->capmsgs ? st->capmsgs * 2 : 16;

		if (ncap > SIZE_MAX / sizeof(*m) ||
		    (m = realloc(st->msgs, ncap * sizeof(*m))) == NULL) {
			st->nlost++;
			return;
		}
		st->msgs = m;
		st->capmsgs = ncap;
	}
	buf_init(&b, 4096);
	va_start(ap, fmt);
	rc = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc != BUF_OK) {
		buf_free(&b);
		st->nlost++;
		return;
	}
	m = &st->msgs[st->nmsgs];
	m->line = line;
	m->seq = st->nmsgs;
	m->text = b.data;
	st->nmsgs++;
}

static int
config_msg_cmp(const void *a, const void *b)
{
	const struct config_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print the problems sorted by line, free them, return their number. */
static int
config_report(struct config_parse *st, FILE *errs)
{
	size_t i, n = st->nmsgs + st->nlost;

	if (st->nmsgs > 1)
		qsort(st->msgs, st->nmsgs, sizeof(*st->msgs), config_msg_cmp);
	for (i = 0; i < st->nmsgs; i++) {
		if (errs != NULL) {
			if (st->msgs[i].line)
				fprintf(errs, "%s:%u: %s\n", st->path,
				    st->msgs[i].line, st->msgs[i].text);
			else
				fprintf(errs, "%s: %s\n", st->path,
				    st->msgs[i].text);
		}
		free(st->msgs[i].text);
	}
	if (st->nlost && errs != NULL)
		fprintf(errs, "%s: out of memory (%zu more problems not shown)\n",
		    st->path, st->nlost);
	free(st->msgs);
	st->msgs = NULL;
	st->nmsgs = st->capmsgs = st->nlost = 0;
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* ------------------------------------------------------------------ */
/* Value syntaxes.                                                     */

static int
config_digits(const char **sp, unsigned long long *v)
{
	const char *s = *sp;
	unsigned long long x = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (ULLONG_MAX - 9) / 10)
			return -1;
		x = x * 10 + (unsigned long long)(*s - '0');
	}
	*sp = s;
	*v = x;
	return 0;
}

int
config_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mult = 1;

	if (config_digits(&s, &v) == -1)
		return -1;
	switch (*s) {
	case '\0':
		break;
	case 'k': case 'K':
		mult = 1024ULL;
		s++;
		break;
	case 'm': case 'M':
		mult = 1024ULL * 1024;
		s++;
		break;
	case 'g': case 'G':
		mult = 1024ULL * 1024 * 1024;
		s++;
		break;
	default:
		return -1;
	}
	if (*s != '\0' || v > SIZE_MAX / mult)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

int
config_parse_duration(const char *s, unsigned *out)
{
	unsigned long long v, mult, total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (config_digits(&s, &v) == -1)
			return -1;
		switch (*s) {
		case '\0':
			/* A bare number is seconds, but only on its own. */
			if (total != 0)
				return -1;
			mult = 1;
			break;
		case 's':
			mult = 1;
			s++;
			break;
		case 'm':
			mult = 60;
			s++;
			break;
		case 'h':
			mult = 3600;
			s++;
			break;
		case 'd':
			mult = 86400;
			s++;
			break;
		default:
			return -1;
		}
		if (v > UINT_MAX / mult || v * mult > UINT_MAX - total)
			return -1;
		total += v * mult;
	}
	*out = (unsigned)total;
	return 0;
}

/*
 * DIGITS[.DIGITS], locale-independent (strtod follows LC_NUMERIC and
 * accepts "inf", hex floats and the like, none of which belong here).
 */
static int
config_parse_decimal(const char *s, size_t len, double *out)
{
	double v = 0, scale = 1;
	size_t i = 0, nint = 0, nfrac = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nint++)
		v = v * 10 + (s[i] - '0');
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
			scale /= 10;
			v += (s[i] - '0') * scale;
		}
	}
	if (i != len || nint + nfrac == 0 || nint > 15 || nfrac > 15)
		return -1;
	*out = v;
	return 0;
}

static void
config_fmt_size(char *out, size_t outsz, double v)
{
	unsigned long long x = (unsigned long long)v;

	if (x >= 1024ULL * 1024 * 1024 && x % (1024ULL * 1024 * 1024) == 0)
		(void)snprintf(out, outsz, "%lluG", x / (1024ULL * 1024 * 1024));
	else if (x >= 1024ULL * 1024 && x % (1024ULL * 1024) == 0)
		(void)snprintf(out, outsz, "%lluM", x / (1024ULL * 1024));
	else if (x >= 1024 && x % 1024 == 0)
		(void)snprintf(out, outsz, "%lluK", x / 1024);
	else
		(void)snprintf(out, outsz, "%llu", x);
}

static void
config_fmt_duration(char *out, size_t outsz, double v)
{
	unsigned long long x = (unsigned long long)v;

	if (x >= 86400 && x % 86400 == 0)
		(void)snprintf(out, outsz, "%llud", x / 86400);
	else if (x >= 3600 && x % 3600 == 0)
		(void)snprintf(out, outsz, "%lluh", x / 3600);
	else if (x >= 60 && x % 60 == 0)
		(void)snprintf(out, outsz, "%llum", x / 60);
	else
		(void)snprintf(out, outsz, "%llus", x);
}

static int
config_range(const struct config_key *k, double v, char *why, size_t whylen)
{
	char lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return 0;
	switch (k->type) {
	case CT_SIZE:
		config_fmt_size(lo, sizeof(lo), k->min);
		config_fmt_size(hi, sizeof(hi), k->max);
		break;
	case CT_DURATION:
	case CT_DURATION_OFF:
	case CT_DURATION_NEVER:
		config_fmt_duration(lo, sizeof(lo), k->min);
		config_fmt_duration(hi, sizeof(hi), k->max);
		break;
	case CT_FRACTION:
		(void)snprintf(lo, sizeof(lo), "%g%%", k->min * 100);
		(void)snprintf(hi, sizeof(hi), "%g%%", k->max * 100);
		break;
	default:
		(void)snprintf(lo, sizeof(lo), "%g", k->min);
		(void)snprintf(hi, sizeof(hi), "%g", k->max);
		break;
	}
	(void)snprintf(why, whylen, "out of range (%s..%s)", lo, hi);
	return -1;
}

static int
config_is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* Copy s into a field of fieldsz bytes; -1 if it does not fit. */
static int
config_copy(char *field, size_t fieldsz, const char *s, size_t len)
{
	if (len >= fieldsz)
		return -1;
	memcpy(field, s, len);
	field[len] = '\0';
	return 0;
}

/* Is s (len) a numeric address of family af? */
static int
config_is_ip(int af, const char *s, size_t len)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(af, tmp, addr) == 1;
}

static int
config_digits_dots(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
			return 0;
	return 1;
}

/*
 * Split "[v6]:port", "[v6]", "host:port" or "host" into host and port
 * text.  The host of the bracket form is returned without brackets.
 */
static int
config_split_hostport(const char *s, size_t len, const char **host,
    size_t *hlen, const char **port, size_t *plen, int *bracketed,
    const char **why)
{
	const char *close, *colon;

	*bracketed = 0;
	*port = NULL;
	*plen = 0;
	if (len > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', len)) == NULL) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		*bracketed = 1;
		*host = s + 1;
		*hlen = (size_t)(close - s - 1);
		if (close + 1 < s + len) {
			if (close[1] != ':') {
				*why = "expected ':PORT' after ']'";
				return -1;
			}
			*port = close + 2;
			*plen = len - (size_t)(close + 2 - s);
		}
		return 0;
	}
	*host = s;
	colon = memchr(s, ':', len);
	if (colon != NULL && memchr(colon + 1, ':', len -
	    (size_t)(colon + 1 - s)) != NULL) {
		*why = "an IPv6 address must be written in brackets: [::1]:2525";
		return -1;
	}
	if (colon == NULL) {
		*hlen = len;
		return 0;
	}
	*hlen = (size_t)(colon - s);
	*port = colon + 1;
	*plen = len - (size_t)(colon + 1 - s);
	return 0;
}

/* Append the listen addresses in value to cfg->listen. */
static int
config_set_listen(struct config *cfg, const char *value, char *why,
    size_t whylen)
{
	struct config_listen *l;
	const char *p = value, *tok, *host, *port, *err;
	size_t len, hlen, plen, i;
	unsigned portnum;
	int br;

	for (;;) {
		while (*p != '\0' && config_is_sep(*p))
			p++;
		if (*p == '\0')
			return 0;
		tok = p;
		while (*p != '\0' && !config_is_sep(*p))
			p++;
		len = (size_t)(p - tok);
		if (config_split_hostport(tok, len, &host, &hlen, &port, &plen,
		    &br, &err) == -1)
			goto bad;
		if (port == NULL) {
			err = "missing port (write HOST:PORT)";
			goto bad;
		}
		if (route_port_parse(port, plen, &portnum) == -1) {
			err = "bad port (1..65535)";
			goto bad;
		}
		if (br ? !config_is_ip(AF_INET6, host, hlen) :
		    config_digits_dots(host, hlen) ?
		    !config_is_ip(AF_INET, host, hlen) :
		    !route_domain_valid(host, hlen)) {
			err = br ? "bad IPv6 address" : "bad host";
			goto bad;
		}
		if (cfg->nlisten == CONFIG_MAX_LISTEN) {
			(void)snprintf(why, whylen, "more than %d addresses",
			    CONFIG_MAX_LISTEN);
			return -1;
		}
		l = &cfg->listen[cfg->nlisten];
		if (config_copy(l->host, sizeof(l->host), host, hlen) == -1 ||
		    config_copy(l->port, sizeof(l->port), port, plen) == -1) {
			err = "address too long";
			goto bad;
		}
		for (i = 0; i < cfg->nlisten; i++) {
			if (strcasecmp(cfg->listen[i].host, l->host) == 0 &&
			    strcmp(cfg->listen[i].port, l->port) == 0) {
				err = "listed twice";
				goto bad;
			}
		}
		cfg->nlisten++;
	}
bad:
	(void)snprintf(why, whylen, "'%.*s': %s", (int)(len > 100 ? 100 : len),
	    tok, err);
	return -1;
}

static int
config_set_resolver(struct config *cfg, const char *value, char *why,
    size_t whylen)
{
	const char *host, *port, *err;
	size_t len = strlen(value), hlen, plen;
	unsigned portnum = 53;
	int br;

	cfg->dns_resolver[0] = cfg->dns_resolver_host[0] = '\0';
	cfg->dns_resolver_port = 0;
	if (len == 0)
		return 0;	/* the system resolver */
	if (config_split_hostport(value, len, &host, &hlen, &port, &plen, &br,
	    &err) == -1)
		goto bad;
	if (port != NULL && route_port_parse(port, plen, &portnum) == -1) {
		err = "bad port (1..65535)";
		goto bad;
	}
	/* The resolver is asked by address: a name would need a resolver. */
	if (br ? !config_is_ip(AF_INET6, host, hlen) :
	    !config_is_ip(AF_INET, host, hlen)) {
		err = "expected an IP address, e.g. 127.0.0.1:5353 or [::1]:53";
		goto bad;
	}
	if (config_copy(cfg->dns_resolver, sizeof(cfg->dns_resolver), value,
	    len) == -1 || config_copy(cfg->dns_resolver_host,
	    sizeof(cfg->dns_resolver_host), host, hlen) == -1) {
		err = "too long";
		goto bad;
	}
	cfg->dns_resolver_port = portnum;
	return 0;
bad:
	cfg->dns_resolver[0] = cfg->dns_resolver_host[0] = '\0';
	(void)snprintf(why, whylen, "'%s': %s", value, err);
	return -1;
}

static int
config_word(const char *value, const char *const *words, size_t nwords)
{
	size_t i;

	for (i = 0; i < nwords; i++)
		if (strcasecmp(value, words[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Set one key from its text.  For CT_LISTEN the addresses are appended
 * (the caller resets the list at the key's first line).  Returns 0, or -1
 * with a reason in why.
 */
static int
config_set(struct config *cfg, const struct config_key *k, const char *value,
    char *why, size_t whylen)
{
	static const char *const bools[] = {
		"no", "yes", "false", "true", "off", "on", "0", "1" };
	static const char *const tls_modes[] = {
		"none", "opportunistic", "require" };
	static const char *const modes[] = { "in-session", "queue" };
	static const char *const backends[] = { "sqlite", "postgres" };
	static const char *const sources[] = { "config", "store" };
	char *field = (char *)cfg + k->off;
	size_t len = strlen(value), sz;
	unsigned u;
	unsigned long long ull;
	const char *p;
	double d;
	int i;

	switch (k->type) {
	case CT_LISTEN:
		return config_set_listen(cfg, value, why, whylen);
	case CT_RESOLVER:
		return config_set_resolver(cfg, value, why, whylen);
	case CT_HOSTNAME:
		if (!route_domain_valid(value, len)) {
			(void)snprintf(why, whylen, "'%s' is not a valid host "
			    "name", value);
			return -1;
		}
		/* FALLTHROUGH */
	case CT_DOMAIN_OPT:
		if (len > 0 && !route_domain_valid(value, len)) {
			(void)snprintf(why, whylen, "'%s' is not a valid domain "
			    "name", value);
			return -1;
		}
		/* FALLTHROUGH */
	case CT_STRING:
		/* A value written in double quotes (a libpq DSN, say). */
		if (k->type == CT_STRING && len >= 2 && value[0] == '"' &&
		    value[len - 1] == '"') {
			value++;
			len -= 2;
		}
		/* FALLTHROUGH */
	case CT_PATH:
	case CT_FILE:
		if (len == 0 && k->type != CT_FILE && k->type != CT_STRING &&
		    k->type != CT_DOMAIN_OPT) {
			(void)snprintf(why, whylen, "empty value");
			return -1;
		}
		if (config_copy(field, k->size, value, len) == -1) {
			(void)snprintf(why, whylen, "too long (max %zu bytes)",
			    k->size - 1);
			return -1;
		}
		return 0;
	case CT_SIZE:
		if (config_parse_size(value, &sz) == -1) {
			(void)snprintf(why, whylen, "'%s' is not a size (bytes, "
			    "or a number with K, M or G)", value);
			return -1;
		}
		if (config_range(k, (double)sz, why, whylen) == -1)
			return -1;
		*(size_t *)(void *)field = sz;
		return 0;
	case CT_UINT:
		p = value;
		if (config_digits(&p, &ull) == -1 || *p != '\0') {
			(void)snprintf(why, whylen, "'%s' is not a whole number",
			    value);
			return -1;
		}
		if (config_range(k, (double)ull, why, whylen) == -1)
			return -1;
		*(unsigned *)(void *)field = (unsigned)ull;
		return 0;
	case CT_DURATION_OFF:
		if (strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0) {
			*(unsigned *)(void *)field = 0;
			return 0;
		}
		/* FALLTHROUGH */
	case CT_DURATION_NEVER:
		if (k->type == CT_DURATION_NEVER &&
		    (strcasecmp(value, "never") == 0 || strcmp(value, "0") == 0)) {
			*(unsigned *)(void *)field = 0;
			return 0;
		}
		/* FALLTHROUGH */
	case CT_DURATION:
		if (config_parse_duration(value, &u) == -1) {
			(void)snprintf(why, whylen, "'%s' is not a duration "
			    "(e.g. 30s, 5m, 4h, 3d; a bare number is seconds)%s",
			    value, k->type == CT_DURATION_OFF ? " or off" :
			    k->type == CT_DURATION_NEVER ? " or never" : "");
			return -1;
		}
		if (config_range(k, (double)u, why, whylen) == -1)
			return -1;
		*(unsigned *)(void *)field = u;
		return 0;
	case CT_DECIMAL:
	case CT_FRACTION:
		if (k->type == CT_FRACTION && len > 0 && value[len - 1] == '%') {
			if (config_parse_decimal(value, len - 1, &d) == -1)
				goto badnum;
			d /= 100;
		} else if (config_parse_decimal(value, len, &d) == -1)
			goto badnum;
		if (config_range(k, d, why, whylen) == -1)
			return -1;
		*(double *)(void *)field = d;
		return 0;
	badnum:
		(void)snprintf(why, whylen, "'%s' is not a number%s", value,
		    k->type == CT_FRACTION ? " (e.g. 0.2 or 20%)" : "");
		return -1;
	case CT_BOOL:
		if ((i = config_word(value, bools, 8)) == -1) {
			(void)snprintf(why, whylen, "'%s': expected yes or no",
			    value);
			return -1;
		}
		*(bool *)(void *)field = (i % 2) == 1;
		return 0;
	case CT_OUTBOUND_TLS:
		if ((i = config_word(value, tls_modes, 3)) == -1) {
			(void)snprintf(why, whylen, "'%s': expected none, "
			    "opportunistic or require", value);
			return -1;
		}
		*(enum outbound_tls *)(void *)field = (enum outbound_tls)i;
		return 0;
	case CT_DELIVERY:
		if ((i = config_word(value, modes, 2)) == -1) {
			(void)snprintf(why, whylen, "'%s': expected in-session "
			    "or queue", value);
			return -1;
		}
		*(enum delivery_mode *)(void *)field = i == 0 ?
		    DELIVERY_IN_SESSION : DELIVERY_QUEUE;
		return 0;
	case CT_STORE_BACKEND:
		if ((i = config_word(value, backends, 2)) == -1) {
			(void)snprintf(why, whylen, "'%s': expected sqlite or "
			    "postgres", value);
			return -1;
		}
		*(enum config_store_backend *)(void *)field = i == 0 ?
		    CONFIG_STORE_SQLITE : CONFIG_STORE_POSTGRES;
		return 0;
	case CT_ROUTES_SOURCE:
		if ((i = config_word(value, sources, 2)) == -1) {
			(void)snprintf(why, whylen, "'%s': expected config or "
			    "store", value);
			return -1;
		}
		*(enum config_routes_source *)(void *)field = i == 0 ?
		    CONFIG_ROUTES_CONFIG : CONFIG_ROUTES_STORE;
		return 0;
	}
	(void)snprintf(why, whylen, "internal error: unknown type");
	return -1;
}

void
config_init(struct config *cfg)
{
	char why[CONFIG_WHY_MAX];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].def == NULL)
			continue;
		/* Defaults obey the table (a unit test loads an empty file). */
		(void)config_set(cfg, &config_keys[i], config_keys[i].def, why,
		    sizeof(why));
	}
	if (gethostname(cfg->hostname, sizeof(cfg->hostname)) == -1 ||
	    cfg->hostname[0] == '\0')
		(void)snprintf(cfg->hostname, sizeof(cfg->hostname), "localhost");
	cfg->hostname[sizeof(cfg->hostname) - 1] = '\0';
	cfg->routes = NULL;
}

/* ------------------------------------------------------------------ */
/* The guard around libinih.                                           */

/* Next line of the file: [*start, *start + *len), line ending excluded. */
static int
config_next_line(const char *data, size_t size, size_t *pos,
    const char **start, size_t *len)
{
	const char *nl;

	if (*pos >= size)
		return 0;
	*start = data + *pos;
	nl = memchr(*start, '\n', size - *pos);
	*len = nl ? (size_t)(nl - *start) : size - *pos;
	*pos += *len + (nl != NULL);
	if (*len > 0 && (*start)[*len - 1] == '\r')
		(*len)--;	/* CRLF files are fine */
	return 1;
}

/* The first control byte in the line (tab is fine), or -1. */
static int
config_ctrl(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return (unsigned char)s[i];
	return -1;
}

static int
config_line_refused(const char *s, size_t len)
{
	return len > CONFIG_LINE_MAX || config_ctrl(s, len) != -1;
}

/* Pass 1: every line too long or holding a control byte, by number. */
static void
config_scan(struct config_parse *st, size_t start)
{
	const char *line;
	size_t pos = start, len;
	unsigned lineno = 0;
	int c;

	while (config_next_line(st->data, st->size, &pos, &line, &len)) {
		lineno++;
		if (len > CONFIG_LINE_MAX)
			config_problem(st, lineno, "line too long (max %d bytes)",
			    CONFIG_LINE_MAX);
		else if ((c = config_ctrl(line, len)) != -1)
			config_problem(st, lineno, "control character 0x%02x "
			    "in line", (unsigned)c);
	}
}

static int
config_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/*
 * First of chars in s[0..len), or the start of an inline comment (';'
 * after whitespace), or len: the rule libinih applies to name and section
 * lines.
 */
static size_t
config_find(const char *s, size_t len, const char *chars)
{
	size_t i;
	int was_space = 0;

	for (i = 0; i < len; i++) {
		if (strchr(chars, s[i]) != NULL)
			return i;
		if (was_space && s[i] == ';')
			return i;
		was_space = config_isspace(s[i]);
	}
	return len;
}

static int
config_section_index(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_NSECTIONS; i++)
		if (strlen(config_sections[i]) == len &&
		    memcmp(config_sections[i], s, len) == 0)
			return (int)i;
	return -1;
}

/*
 * Classify a line as libinih will, report syntax errors, and update the
 * section state.  Returns the kind; LK_BLANK for lines to hand over empty.
 */
static enum config_line_kind
config_classify(struct config_parse *st, const char *line, size_t len)
{
	const char *s = line;
	size_t n = len, i, close;
	int sec;

	while (n > 0 && config_isspace(*s)) {
		s++;
		n--;
	}
	while (n > 0 && config_isspace(s[n - 1]))
		n--;
	if (n == 0 || *s == ';' || *s == '#')
		return LK_BLANK;
	if (s > line && st->prev_key) {
		/* libinih: indented line after a key = continuation. */
		return st->key_broken ? LK_BLANK : LK_CONT;
	}
	if (*s == '[') {
		close = config_find(s + 1, n - 1, "]") + 1;
		if (close >= n || s[close] != ']') {
			config_problem(st, st->lineno, "missing ']' in section "
			    "header");
			goto broken_section;
		}
		for (i = close + 1; i < n && config_isspace(s[i]); i++)
			;
		if (i < n && s[i] != ';' && s[i] != '#') {
			config_problem(st, st->lineno, "unexpected text after "
			    "']'");
			goto broken_section;
		}
		if ((sec = config_section_index(s + 1, close - 1)) == -1) {
			config_problem(st, st->lineno, "unknown section [%.*s]",
			    (int)(close - 1), s + 1);
			sec = SEC_SKIP;
		}
		st->section = sec;
		st->prev_key = st->key_broken = 0;
		return LK_SECTION;
	}
	i = config_find(s, n, "=:");
	if (i == n || (s[i] != '=' && s[i] != ':')) {
		config_problem(st, st->lineno, "expected 'key = value'");
		st->key_broken = 1;
		return LK_BLANK;
	}
	if (i == 0) {
		config_problem(st, st->lineno, "missing key name before '%c'",
		    s[i]);
		st->key_broken = 1;
		return LK_BLANK;
	}
	st->prev_key = 1;
	st->key_broken = 0;
	return LK_KEY;

broken_section:
	/* Keys under a header we could not read would only add noise. */
	st->section = SEC_SKIP;
	st->key_broken = 1;
	return LK_BLANK;
}

/*
 * A refused line is handed over blank, so libinih's state does not change;
 * ours notes that what follows must not attach to the key before it.
 */
static void
config_refused(struct config_parse *st, const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && config_isspace(line[i]))
		i++;
	if (i == len || line[i] == ';' || line[i] == '#')
		return;		/* a comment: nothing to protect */
	st->key_broken = 1;
	if (line[i] == '[')
		st->section = SEC_SKIP;
}

/* Pass 2: libinih's fgets(); one line per call, refused lines blank. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *st = stream;
	const char *line;
	size_t len;

	if (num < 2 ||
	    !config_next_line(st->data, st->size, &st->pos, &line, &len))
		return NULL;
	st->lineno++;
	if (config_line_refused(line, len)) {
		/* Reported by config_scan(); keep its continuations away. */
		config_refused(st, line, len);
		st->kind = LK_BLANK;
	} else if (len >= (size_t)num) {
		/* Only if libinih was built with a smaller buffer. */
		config_problem(st, st->lineno, "line too long for the INI "
		    "reader (max %d bytes)", num - 1);
		st->kind = LK_BLANK;
	} else
		st->kind = config_classify(st, line, len);
	if (st->kind == LK_BLANK)
		len = 0;
	else if (st->kind == LK_CONT) {
		/*
		 * libinih r55 keeps a " ; comment" on a continuation line as
		 * part of the value (later versions strip it); strip it here
		 * so both read the same.
		 */
		len = config_find(line, len, "");
	}
	memcpy(str, line, len);
	str[len] = '\0';
	return str;
}

/* ------------------------------------------------------------------ */
/* The handler.                                                        */

/* Finish the key whose continuation lines we were collecting. */
static void
config_flush(struct config_parse *st)
{
	char err[CONFIG_WHY_MAX];

	if (st->cur == CUR_ROUTE && !st->route_bad) {
		if (route_table_add(st->cfg->routes, st->keyname,
		    st->route_value.data ? st->route_value.data : "", err,
		    sizeof(err)) == -1)
			config_problem(st, st->key_line, "%s", err);
	} else if (st->cur == CUR_KEY && st->key->type == CT_LISTEN &&
	    !st->listen_bad && st->cfg->nlisten == 0)
		config_problem(st, st->key_line, "listen: no address given");
	st->cur = CUR_NONE;
	st->key = NULL;
	buf_reset(&st->route_value);
}

/* One piece of a route's destination list (key line or continuation). */
static void
config_route_piece(struct config_parse *st, const char *value)
{
	char err[CONFIG_WHY_MAX];

	if (route_value_check(value, err, sizeof(err)) == -1) {
		config_problem(st, st->lineno, "%s: %s", st->keyname, err);
		st->route_bad = 1;
		return;
	}
	if ((st->route_value.len > 0 &&
	    buf_append_byte(&st->route_value, ',') != BUF_OK) ||
	    buf_append_str(&st->route_value, value) != BUF_OK) {
		config_problem(st, st->lineno, "%s: destination list too long "
		    "(max %d bytes)", st->keyname, CONFIG_ROUTE_VALUE_MAX);
		st->route_bad = 1;
	}
}

static const struct config_key *
config_key_find(const char *section, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0) {
			*idx = i;
			return &config_keys[i];
		}
	}
	return NULL;
}

static void
config_key_line(struct config_parse *st, const char *name, const char *value)
{
	char why[CONFIG_WHY_MAX];
	const struct config_key *k;
	const char *section;
	size_t idx;

	config_flush(st);
	if (st->section == SEC_SKIP)
		return;
	if (st->section == SEC_NONE) {
		config_problem(st, st->lineno, "'%s' is outside any section",
		    name);
		return;
	}
	section = config_sections[st->section];
	if (config_copy(st->keyname, sizeof(st->keyname), name,
	    strlen(name)) == -1) {
		config_problem(st, st->lineno, "key name too long");
		return;
	}
	st->key_line = st->lineno;
	if (strcmp(section, "routes") == 0 &&
	    config_key_find(section, name, &idx) == NULL) {
		st->cur = CUR_ROUTE;
		st->route_bad = 0;
		config_route_piece(st, value);
		return;
	}
	if ((k = config_key_find(section, name, &idx)) == NULL) {
		config_problem(st, st->lineno, "unknown key '%s' in [%s]", name,
		    section);
		return;
	}
	if (st->set_line[idx] != 0) {
		config_problem(st, st->lineno, "duplicate key '%s' (first set "
		    "on line %u)", name, st->set_line[idx]);
		return;
	}
	st->set_line[idx] = st->lineno;
	st->cur = CUR_KEY;
	st->key = k;
	st->listen_bad = 0;
	if (k->type == CT_LISTEN)
		st->cfg->nlisten = 0;	/* the file replaces the default */
	if (config_set(st->cfg, k, value, why, sizeof(why)) == -1) {
		config_problem(st, st->lineno, "%s: %s", name, why);
		st->listen_bad = 1;
	}
}

static void
config_cont_line(struct config_parse *st, const char *value)
{
	char why[CONFIG_WHY_MAX];

	switch (st->cur) {
	case CUR_NONE:
		break;	/* its key was refused already */
	case CUR_ROUTE:
		config_route_piece(st, value);
		break;
	case CUR_KEY:
		if (st->key->type != CT_LISTEN) {
			config_problem(st, st->lineno, "%s takes one value; "
			    "only lists (listen, routes) continue on indented "
			    "lines", st->key->name);
			break;
		}
		if (config_set(st->cfg, st->key, value, why, sizeof(why)) ==
		    -1) {
			config_problem(st, st->lineno, "%s: %s", st->key->name,
			    why);
			st->listen_bad = 1;
		}
		break;
	}
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parse *st = user;

	(void)section;	/* ours is complete; libinih's is cut at 49 bytes */
	if (st->kind == LK_CONT)
		config_cont_line(st, value);
	else if (st->kind == LK_KEY)
		config_key_line(st, name, value);
	else
		config_problem(st, st->lineno, "internal error: unexpected "
		    "entry '%s'", name);
	return 1;	/* we report our own errors */
}

/* ------------------------------------------------------------------ */
/* After the file: rules that span keys.                               */

static unsigned
config_line_of(const struct config_parse *st, const char *section,
    const char *name)
{
	size_t i;

	return config_key_find(section, name, &i) ? st->set_line[i] : 0;
}

/* The line to blame for a rule between two keys: the later one set. */
static unsigned
config_blame(const struct config_parse *st, const char *sa, const char *a,
    const char *sb, const char *b)
{
	unsigned la = config_line_of(st, sa, a), lb = config_line_of(st, sb, b);

	return la > lb ? la : lb;
}

static void
config_check_file(struct config_parse *st, const char *what,
    const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		config_problem(st, config_line_of(st, "tls", what),
		    "%s '%s': %s", what, path, strerror(errno));
		return;
	}
	close(fd);
}

static void
config_cross_check(struct config_parse *st)
{
	struct config *cfg = st->cfg;

	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0'))
		config_problem(st, config_blame(st, "tls", "cert", "tls", "key"),
		    "[tls] needs both cert and key, or neither");
	if (cfg->tls_cert[0] != '\0')
		config_check_file(st, "cert", cfg->tls_cert);
	if (cfg->tls_key[0] != '\0')
		config_check_file(st, "key", cfg->tls_key);
	if (cfg->retry_max_interval < cfg->retry_first)
		config_problem(st, config_blame(st, "retry", "first", "retry",
		    "max_interval"), "retry max_interval (%us) is shorter than "
		    "first (%us)", cfg->retry_max_interval, cfg->retry_first);
	if (cfg->retry_delay_warning != 0 &&
	    cfg->retry_delay_warning >= cfg->retry_lifetime)
		config_problem(st, config_blame(st, "retry", "delay_warning",
		    "retry", "lifetime"), "retry delay_warning (%us) must be "
		    "shorter than lifetime (%us)", cfg->retry_delay_warning,
		    cfg->retry_lifetime);
	if (cfg->max_connections_per_ip > cfg->max_connections)
		config_problem(st, config_blame(st, "limits",
		    "max_connections_per_ip", "limits", "max_connections"),
		    "max_connections_per_ip (%u) exceeds max_connections (%u)",
		    cfg->max_connections_per_ip, cfg->max_connections);
	if (cfg->max_header_size > cfg->max_message_size)
		config_problem(st, config_blame(st, "limits", "max_header_size",
		    "limits", "max_message_size"), "max_header_size exceeds "
		    "max_message_size");
	if (cfg->store_backend == CONFIG_STORE_POSTGRES &&
	    cfg->store_dsn[0] == '\0')
		config_problem(st, config_blame(st, "store", "backend", "store",
		    "dsn"), "[store] backend = postgres needs a dsn");
	/* A guessable secret would let anyone forge SRS bounces. */
	if (cfg->srs_domain[0] != '\0' &&
	    strlen(cfg->srs_secret) < CONFIG_SRS_SECRET_MIN)
		config_problem(st, config_blame(st, "srs", "domain", "srs",
		    "secret"), "[srs] domain needs a secret of at least %d "
		    "bytes", CONFIG_SRS_SECRET_MIN);
}

/* ------------------------------------------------------------------ */

/* Read the whole file (at most CONFIG_FILE_MAX bytes), NUL-terminated. */
static int
config_read_file(const char *path, char **data, size_t *size, FILE *errs)
{
	struct buf b;
	ssize_t n;
	int fd, rc = -1;

	buf_init(&b, CONFIG_FILE_MAX);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (buf_reserve(&b, 65536) != BUF_OK &&
		    buf_reserve(&b, 1) != BUF_OK) {
			if (errs)
				fprintf(errs, "%s: file too large (max %u "
				    "bytes)\n", path, CONFIG_FILE_MAX);
			goto out;
		}
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errs)
				fprintf(errs, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
	}
	if (buf_reserve(&b, 0) != BUF_OK) {
		if (errs)
			fprintf(errs, "%s: out of memory\n", path);
		goto out;
	}
	b.data[b.len] = '\0';
	*data = b.data;
	*size = b.len;
	b.data = NULL;
	rc = 0;
out:
	close(fd);
	buf_free(&b);
	return rc;
}

int
config_load(const char *path, struct config *cfg, FILE *errs)
{
	struct config_parse st;
	char *data = NULL;
	size_t size = 0, start = 0;
	int rc, n;

	config_init(cfg);
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.path = path;
	st.section = SEC_NONE;
	buf_init(&st.route_value, CONFIG_ROUTE_VALUE_MAX);

	if (config_read_file(path, &data, &size, errs) == -1)
		return -1;
	if (config_copy(cfg->path, sizeof(cfg->path), path, strlen(path)) == -1)
		config_problem(&st, 0, "path too long");
	if ((cfg->routes = route_table_new()) == NULL)
		config_problem(&st, 0, "out of memory");

	/* A UTF-8 byte order mark is harmless; drop it. */
	if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		start = 3;
	st.data = data;
	st.size = size;
	st.pos = start;

	config_scan(&st, start);
	if (cfg->routes != NULL) {
		rc = ini_parse_stream(config_reader, &st, config_handler, &st);
		config_flush(&st);
		if (rc == -2)
			config_problem(&st, 0, "out of memory");
		else if (rc != 0 && st.nmsgs == 0)
			/* Cannot happen: we hand libinih only good lines. */
			config_problem(&st, (unsigned)rc, "syntax error");
		config_cross_check(&st);
	}

	buf_free(&st.route_value);
	free(data);
	n = config_report(&st, errs);
	if (n != 0) {
		route_table_free(cfg->routes);
		cfg->routes = NULL;
	}
	return n;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	route_table_free(cfg->routes);
	cfg->routes = NULL;
}
