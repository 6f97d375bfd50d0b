/*
 * addrcheck - address syntax and typo suggestions.  See addrcheck.h.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addrcheck.h"
#include "utf8.h"

static const char *const error_text[] = {
	[ADDRCHECK_OK] = "the address is well formed",
	[ADDRCHECK_EMPTY] = "the address is empty",
	[ADDRCHECK_TOO_LONG] = "the address is longer than the 254 characters mail allows",
	[ADDRCHECK_NO_AT] = "the address has no @ between the name and the domain",
	[ADDRCHECK_LOCAL_EMPTY] = "nothing before the @",
	[ADDRCHECK_LOCAL_TOO_LONG] = "the part before the @ is longer than 64 characters",
	[ADDRCHECK_LOCAL_DOTS] = "the part before the @ starts or ends with a dot, or has two dots in a row",
	[ADDRCHECK_LOCAL_CHAR] = "the part before the @ contains a character that is not allowed (such as a space, comma, or a second @)",
	[ADDRCHECK_QUOTE] = "the quoted part before the @ is not closed or escaped properly",
	[ADDRCHECK_DOMAIN_EMPTY] = "nothing after the @",
	[ADDRCHECK_DOMAIN_TOO_LONG] = "the domain is longer than 253 characters",
	[ADDRCHECK_DOMAIN_LABEL] = "the domain has an empty part (two dots in a row, a leading or trailing dot), a part longer than 63 characters, or a part that starts or ends with a hyphen",
	[ADDRCHECK_DOMAIN_CHAR] = "the domain contains a character that is not allowed (only letters, digits, hyphens and dots)",
	[ADDRCHECK_DOMAIN_NODOT] = "the domain has no dot, so it cannot be reached on the Internet",
	[ADDRCHECK_DOMAIN_TLD] = "the domain ends in a number, which is not a valid top-level domain",
	[ADDRCHECK_LITERAL] = "the [address literal] after the @ is not a valid IP address",
	[ADDRCHECK_UTF8] = "the address contains bytes that are not valid UTF-8",
};

const char *
addrcheck_error_text(enum addrcheck_error e)
{
	if ((unsigned)e > ADDRCHECK_UTF8)
		return "unknown error";
	return error_text[e];
}


/* RFC 5322 3.2.3 atext. */
static bool
addrcheck_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static enum addrcheck_error
addrcheck_local(const char *s, size_t len, struct addrcheck_result *r)
{
	size_t i;

	if (len == 0)
		return ADDRCHECK_LOCAL_EMPTY;
	if (len > ADDRCHECK_LOCAL_MAX)
		return ADDRCHECK_LOCAL_TOO_LONG;
	if (s[0] == '"') {
		/* RFC 5321 4.1.2 Quoted-string: qtextSMTP / quoted-pairSMTP */
		r->quoted = true;
		if (len < 2 || s[len - 1] != '"')
			return ADDRCHECK_QUOTE;
		for (i = 1; i < len - 1; i++) {
			unsigned char c = (unsigned char)s[i];
			size_t n;

			if (c == '\\') {
				if (i + 1 >= len - 1 ||
				    (unsigned char)s[i + 1] < 32 ||
				    (unsigned char)s[i + 1] > 126)
					return ADDRCHECK_QUOTE;
				i++;
				continue;
			}
			if (c == '"')
				return ADDRCHECK_QUOTE;
			if (c >= 0x80) {
				if ((n = utf8_seq_len((const unsigned char *)
				    s + i, len - 1 - i)) == 0)
					return ADDRCHECK_UTF8;
				r->utf8 = true;
				i += n - 1;
				continue;
			}
			if (c < 32 || c > 126)
				return ADDRCHECK_QUOTE;
		}
		return ADDRCHECK_OK;
	}
	/* Dot-string (RFC 5321 4.1.2), atext widened to UTF-8 by RFC 6531 */
	if (s[0] == '.' || s[len - 1] == '.')
		return ADDRCHECK_LOCAL_DOTS;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t n;

		if (c == '.') {
			if (s[i + 1] == '.')
				return ADDRCHECK_LOCAL_DOTS;
			continue;
		}
		if (c >= 0x80) {
			if ((n = utf8_seq_len((const unsigned char *)s + i,
			    len - i)) == 0)
				return ADDRCHECK_UTF8;
			r->utf8 = true;
			i += n - 1;
			continue;
		}
		if (!addrcheck_atext(c))
			return ADDRCHECK_LOCAL_CHAR;
	}
	return ADDRCHECK_OK;
}

static enum addrcheck_error
addrcheck_literal(const char *s, size_t len)
{
	char tmp[64];
	unsigned char bin[16];

	/* RFC 5321 4.1.3 address literals */
	if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(tmp))
		return ADDRCHECK_LITERAL;
	memcpy(tmp, s + 1, len - 2);
	tmp[len - 2] = '\0';
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, bin) == 1 ? ADDRCHECK_OK :
		    ADDRCHECK_LITERAL;
	return inet_pton(AF_INET, tmp, bin) == 1 ? ADDRCHECK_OK :
	    ADDRCHECK_LITERAL;
}

static enum addrcheck_error
addrcheck_domain(const char *s, size_t len, struct addrcheck_result *r)
{
	size_t i, lab = 0, labstart = 0, ndots = 0;
	bool alldigit = true;

	if (len == 0)
		return ADDRCHECK_DOMAIN_EMPTY;
	if (s[0] == '[') {
		r->literal = true;
		return addrcheck_literal(s, len);
	}
	if (len > 253)
		return ADDRCHECK_DOMAIN_TOO_LONG;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';
		size_t n;

		if (c == '.') {
			/* RFC 1035 2.3.1 / RFC 5890: 1-63 octets, no edge hyphen */
			if (lab == 0 || lab > 63 || s[labstart] == '-' ||
			    s[i - 1] == '-')
				return ADDRCHECK_DOMAIN_LABEL;
			if (i < len) {
				ndots++;
				alldigit = true;
			}
			lab = 0;
			labstart = i + 1;
			continue;
		}
		if (c >= 0x80) {
			if ((n = utf8_seq_len((const unsigned char *)s + i,
			    len - i)) == 0)
				return ADDRCHECK_UTF8;
			r->utf8 = true;
			i += n - 1;
			lab += n;
			alldigit = false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return ADDRCHECK_DOMAIN_CHAR;
		if (!(c >= '0' && c <= '9'))
			alldigit = false;
		lab++;
	}
	if (ndots == 0)
		return ADDRCHECK_DOMAIN_NODOT;
	if (alldigit)
		return ADDRCHECK_DOMAIN_TLD;
	return ADDRCHECK_OK;
}

int
addrcheck_syntax(const char *addr, size_t len, struct addrcheck_result *r)
{
	size_t at, i;
	bool inq = false;

	memset(r, 0, sizeof(*r));
	while (len > 0 && (*addr == ' ' || *addr == '\t'))
		addr++, len--;
	while (len > 0 && (addr[len - 1] == ' ' || addr[len - 1] == '\t' ||
	    addr[len - 1] == '\n' || addr[len - 1] == '\r'))
		len--;
	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>')
		addr++, len -= 2;
	if (len == 0) {
		r->error = ADDRCHECK_EMPTY;
		return -1;
	}
	if (len > ADDRCHECK_ADDR_MAX) {
		r->error = ADDRCHECK_TOO_LONG;
		return -1;
	}
	/* the separating @ is the last one outside a quoted-string */
	at = SIZE_MAX;
	for (i = 0; i < len; i++) {
		if (addr[i] == '\\' && inq) {
			i++;
			continue;
		}
		if (addr[i] == '"')
			inq = !inq;
		else if (addr[i] == '@' && !inq)
			at = i;
	}
	if (at == SIZE_MAX) {
		/* an unbalanced quote hides the @: say what is wrong */
		r->error = inq ? ADDRCHECK_QUOTE : ADDRCHECK_NO_AT;
		return -1;
	}
	if ((r->error = addrcheck_local(addr, at, r)) != ADDRCHECK_OK)
		return -1;
	if ((r->error = addrcheck_domain(addr + at + 1, len - at - 1, r)) !=
	    ADDRCHECK_OK)
		return -1;
	memcpy(r->local, addr, at);
	r->local[at] = '\0';
	memcpy(r->domain, addr + at + 1, len - at - 1);
	r->domain[len - at - 1] = '\0';
	return 0;
}

/* ---- typo finder ------------------------------------------------------ */

/*
 * Major mailbox providers, most used first (ties in distance go to the
 * earlier entry).
 */
static const char *const providers[] = {
	"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
	"aol.com", "live.com", "msn.com", "googlemail.com", "me.com",
	"mac.com", "protonmail.com", "proton.me", "pm.me", "yahoo.co.uk",
	"yahoo.co.jp", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it",
	"yahoo.ca", "yahoo.com.br", "ymail.com", "rocketmail.com",
	"hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it",
	"hotmail.es", "outlook.fr", "outlook.de", "outlook.jp",
	"live.co.uk", "live.fr", "gmx.com", "gmx.de", "gmx.net", "web.de",
	"t-online.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com",
	"zoho.com", "qq.com", "163.com", "126.com", "naver.com",
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net",
	"charter.net", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net",
	"sfr.fr", "libero.it", "virgilio.it", "bigpond.com",
	"btinternet.com", "sky.com", "virginmedia.com", "fastmail.com",
	"tutanota.com", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
	"rambler.ru", "bk.ru", "list.ru", "inbox.ru", "docomo.ne.jp",
	"ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp", "nifty.com",
	"rediffmail.com", "uol.com.br", "bol.com.br", "terra.com.br",
	"shaw.ca", "rogers.com", "telus.net", "optusnet.com.au",
};

/* Top-level domain slips that are not real TLDs. */
static const struct { const char *bad; const char *good; } tld_typos[] = {
	{ "con", "com" }, { "cmo", "com" }, { "ocm", "com" },
	{ "comm", "com" }, { "coom", "com" }, { "vom", "com" },
	{ "xom", "com" }, { "cpm", "com" }, { "clm", "com" },
	{ "cim", "com" }, { "cok", "com" }, { "c0m", "com" },
	{ "comn", "com" }, { "ccom", "com" }, { "om", "com" },
	{ "nte", "net" }, { "ner", "net" }, { "nett", "net" },
	{ "met", "net" }, { "ogr", "org" }, { "orgg", "org" },
	{ "rog", "org" }, { "irg", "org" }, { "eud", "edu" },
};

static int
addrcheck_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

int
addrcheck_distance(const char *a, size_t al, const char *b, size_t bl,
    int max)
{
	/* three rows of the OSA matrix; domains are at most 255 bytes */
	int rows[3][ADDRCHECK_DOMAIN_MAX + 2];
	int *pp, *p, *c;
	size_t i, j;

	if (al > ADDRCHECK_DOMAIN_MAX || bl > ADDRCHECK_DOMAIN_MAX)
		return max + 1;
	if ((al > bl ? al - bl : bl - al) > (size_t)max)
		return max + 1;
	pp = rows[0];
	p = rows[1];
	c = rows[2];
	for (j = 0; j <= bl; j++)
		p[j] = (int)j;
	for (i = 1; i <= al; i++) {
		int rowmin;
		int *t;

		c[0] = (int)i;
		rowmin = c[0];
		for (j = 1; j <= bl; j++) {
			int ca = addrcheck_lower((unsigned char)a[i - 1]);
			int cb = addrcheck_lower((unsigned char)b[j - 1]);
			int cost = ca == cb ? 0 : 1;
			int v = p[j] + 1;

			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 &&
			    ca == addrcheck_lower((unsigned char)b[j - 2]) &&
			    addrcheck_lower((unsigned char)a[i - 2]) == cb &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
			if (v < rowmin)
				rowmin = v;
		}
		if (rowmin > max)
			return max + 1;
		t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[bl];
}

static int
addrcheck_copy(char *out, size_t outsz, const char *s, size_t n)
{
	if (n >= outsz)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

int
addrcheck_suggest_domain(const char *domain, char *out, size_t outsz)
{
	size_t dl, i, best = SIZE_MAX, sld;
	int bestd = 3;
	const char *dot, *tld;
	char fixed[ADDRCHECK_DOMAIN_MAX + 1];

	char low[ADDRCHECK_DOMAIN_MAX + 1];

	if (domain == NULL || outsz == 0)
		return 0;
	dl = strlen(domain);
	if (dl == 0 || dl > ADDRCHECK_DOMAIN_MAX)
		return 0;
	/* domains are case-insensitive (RFC 1035 2.3.3): compare and answer
	 * in lower case */
	for (i = 0; i <= dl; i++)
		low[i] = (char)addrcheck_lower((unsigned char)domain[i]);
	domain = low;
	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcasecmp(domain, providers[i]) == 0)
			return 0;

	/* a slipped top-level domain: fix it first, then look again */
	if ((dot = strrchr(domain, '.')) != NULL) {
		tld = dot + 1;
		for (i = 0; i < sizeof(tld_typos) / sizeof(tld_typos[0]); i++) {
			if (strcasecmp(tld, tld_typos[i].bad) != 0)
				continue;
			if ((size_t)(tld - domain) + strlen(tld_typos[i].good) >=
			    sizeof(fixed))
				return 0;
			memcpy(fixed, domain, (size_t)(tld - domain));
			memcpy(fixed + (tld - domain), tld_typos[i].good,
			    strlen(tld_typos[i].good) + 1);
			if (!addrcheck_suggest_domain(fixed, out, outsz))
				return addrcheck_copy(out, outsz, fixed,
				    strlen(fixed));
			return 1;
		}
	}

	/*
	 * Distance to the provider list.  Very short names (aol, msn, gmx)
	 * are one letter away from many real domains, so they only count
	 * as a typo target when the typed name is not shorter than 5.
	 */
	dot = strchr(domain, '.');
	sld = dot ? (size_t)(dot - domain) : dl;
	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		size_t pl = strlen(providers[i]);
		int lim = (sld >= 6 && pl >= 9) ? 2 : 1;
		int d;

		if (sld < 4)
			continue;
		d = addrcheck_distance(domain, dl, providers[i], pl, lim);
		if (d <= lim && d < bestd) {
			bestd = d;
			best = i;
		}
	}
	if (best == SIZE_MAX)
		return 0;
	return addrcheck_copy(out, outsz, providers[best],
	    strlen(providers[best]));
}
