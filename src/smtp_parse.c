/*
 * smtp_parse - SMTP command lines, paths, mailboxes and ESMTP parameters.
 *
 * Owns the grammar of RFC 5321 4.1 (commands, Path, Mailbox, Domain,
 * address literals), its RFC 6531 UTF-8 extension, and the ESMTP
 * parameters we advertise: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8
 * (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461).
 *
 * Invariants: every function works on (pointer, length) input that may
 * contain any byte, including NUL; nothing is allocated; character classes
 * are ASCII tables, never the locale's ctype.  Every failure returns a
 * static, complete reply line (code, enhanced code, text; no CRLF).
 *
 * Callers: smtp_server, admin `check`, fuzz targets.
 */
#include "smtp_parse.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

/* Replies (RFC 5321 4.2.2 codes, RFC 3463 enhanced codes). */
#define R_UNRECOGNIZED	"500 5.5.1 Command unrecognized"
#define R_CONTROL	"500 5.5.2 Syntax error: control character in command line"
#define R_NOPARAMS	"501 5.5.4 Syntax error, no parameters allowed"
#define R_PARAMS	"501 5.5.4 Syntax error in parameters"
#define R_HELO		"501 5.5.4 Syntax: HELO domain or address literal (RFC 5321 4.1.1.1)"
#define R_EHLO		"501 5.5.4 Syntax: EHLO domain or address literal (RFC 5321 4.1.1.1)"
#define R_MAIL_SYNTAX	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT_SYNTAX	"501 5.5.4 Syntax: RCPT TO:<address>"
#define R_MAIL_BAD	"501 5.1.7 Bad sender address syntax"
#define R_MAIL_LONG	"501 5.1.7 Sender path too long (RFC 5321 4.5.3.1.3)"
#define R_RCPT_BAD	"501 5.1.3 Bad recipient address syntax"
#define R_RCPT_LONG	"501 5.1.3 Recipient path too long (RFC 5321 4.5.3.1.3)"
#define R_UTF8		"553 5.6.7 Non-ASCII address requires SMTPUTF8 (RFC 6531)"
#define R_DUP		"501 5.5.4 Duplicate parameter"
#define R_UNKNOWN	"555 5.5.4 Unsupported parameter"
#define R_SIZE		"501 5.5.4 Invalid SIZE value (RFC 1870)"
#define R_BODY		"501 5.5.4 Invalid BODY value (RFC 6152)"
#define R_BINARY	"555 5.5.4 BODY=BINARYMIME requires CHUNKING, which is not offered (RFC 3030)"
#define R_SMTPUTF8	"501 5.5.4 SMTPUTF8 takes no value (RFC 6531 3.4)"
#define R_RET		"501 5.5.4 Invalid RET value (RFC 3461 4.3)"
#define R_ENVID		"501 5.5.4 Invalid ENVID value (RFC 3461 4.4)"
#define R_NOTIFY	"501 5.5.4 Invalid NOTIFY value (RFC 3461 4.1)"
#define R_ORCPT		"501 5.5.4 Invalid ORCPT value (RFC 3461 4.2)"

/* RFC 1035 2.3.4: a label is at most 63 octets. */
#define SMTP_LABEL_MAX	63
/* RFC 1870 4: size-value ::= 1*20DIGIT */
#define SMTP_SIZE_DIGITS 20

/* ---- character classes (ASCII only, independent of the locale) ---- */

static bool
smtp_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
smtp_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
smtp_is_letdig(unsigned char c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c);
}

/* RFC 5322 3.2.3 atext, ASCII part. */
static bool
smtp_is_atext(unsigned char c)
{
	if (smtp_is_letdig(c))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '/': case '=': case '?':
	case '^': case '_': case '`': case '{': case '|': case '}':
	case '~':
		return true;
	default:
		return false;
	}
}

static unsigned char
smtp_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ASCII case-insensitive equality of s[0..n) with the NUL-terminated lit. */
static bool
smtp_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' ||
		    smtp_lower((unsigned char)s[i]) !=
		    smtp_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[n] == '\0';
}


/* ---- domains and address literals ---- */

/*
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]
 * (RFC 5321 4.1.2); with allow_utf8 a label may also hold UTF-8 (U-label,
 * RFC 6531 3.3), and *utf8 is set when it does.
 */
static int
smtp_domain_name_check(const unsigned char *p, size_t len, bool allow_utf8,
    bool *utf8)
{
	size_t i = 0, start, n;
	bool nonascii;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return -1;
	for (;;) {
		start = i;
		nonascii = false;
		while (i < len && p[i] != '.') {
			if (p[i] >= 0x80) {
				if (!allow_utf8 ||
				    (n = utf8_seq_len(p + i, len - i)) == 0)
					return -1;
				nonascii = true;
				i += n;
				continue;
			}
			if (!smtp_is_letdig(p[i]) && p[i] != '-')
				return -1;
			i++;
		}
		if (i == start || p[start] == '-' || p[i - 1] == '-')
			return -1;
		/*
		 * XXX A U-label's limit applies to its A-label form, which we
		 * do not compute; the 255-octet total still bounds it.
		 */
		if (!nonascii && i - start > SMTP_LABEL_MAX)
			return -1;
		if (nonascii)
			*utf8 = true;
		if (i == len)
			return 0;
		i++;	/* the dot; a trailing dot leaves an empty label */
	}
}

/* IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT <= 255. */
static int
smtp_ipv4_check(const unsigned char *p, size_t len)
{
	size_t i = 0, digits;
	unsigned part, val;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || p[i] != '.')
				return -1;
			i++;
		}
		val = 0;
		for (digits = 0; i < len && smtp_is_digit(p[i]); digits++, i++) {
			if (digits == 3)
				return -1;
			val = val * 10 + (unsigned)(p[i] - '0');
		}
		if (digits == 0 || val > 255)
			return -1;
	}
	return i == len ? 0 : -1;
}

/*
 * address-literal = "[" ( IPv4 / "IPv6:" IPv6-addr / Standardized-tag ":"
 * 1*dcontent ) "]" (RFC 5321 4.1.3), brackets included in p.
 */
static int
smtp_literal_check(const unsigned char *p, size_t len)
{
	const unsigned char *colon, *rest;
	size_t taglen, rlen, i;
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	if (len < 3 || len > SMTP_DOMAIN_MAX || p[0] != '[' ||
	    p[len - 1] != ']')
		return -1;
	p++;
	len -= 2;
	if ((colon = memchr(p, ':', len)) == NULL)
		return smtp_ipv4_check(p, len);
	taglen = (size_t)(colon - p);
	rest = colon + 1;
	rlen = len - taglen - 1;
	if (smtp_ieq((const char *)p, taglen, "IPv6")) {
		/* inet_pton wants a C string: refuse NULs and overlong text. */
		if (rlen == 0 || rlen >= sizeof(tmp) ||
		    memchr(rest, '\0', rlen) != NULL)
			return -1;
		memcpy(tmp, rest, rlen);
		tmp[rlen] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1 ? 0 : -1;
	}
	/* General-address-literal: tag is an Ldh-str ending in Let-dig. */
	if (taglen == 0 || !smtp_is_letdig(p[taglen - 1]) || rlen == 0)
		return -1;
	for (i = 0; i < taglen; i++)
		if (!smtp_is_letdig(p[i]) && p[i] != '-')
			return -1;
	for (i = 0; i < rlen; i++)	/* dcontent = %d33-90 / %d94-126 */
		if (rest[i] < 33 || rest[i] > 126 ||
		    (rest[i] >= 91 && rest[i] <= 93))
			return -1;
	return 0;
}

int
smtp_domain_check(const char *s, size_t len, bool allow_literal,
    bool allow_utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	bool utf8 = false;

	if (len > 0 && p[0] == '[')
		return allow_literal ? smtp_literal_check(p, len) : -1;
	return smtp_domain_name_check(p, len, allow_utf8, &utf8);
}

/* ---- mailboxes ---- */

int
smtp_mailbox_parse(const char *s, size_t len, bool allow_utf8,
    struct smtp_mailbox *mb)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, content = 0, n, dlen;
	bool need_atom;

	memset(mb, 0, sizeof(*mb));
	if (len == 0)
		return -1;
	if (p[0] == '"') {
		/*
		 * Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP
		 * is "\" followed by printable ASCII or SP (RFC 5321 4.1.2).
		 */
		mb->quoted = true;
		for (i = 1;; ) {
			if (i >= len)
				return -1;
			if (p[i] == '"') {
				i++;
				break;
			}
			if (p[i] == '\\') {
				if (i + 1 >= len || p[i + 1] < 32 || p[i + 1] > 126)
					return -1;
				i += 2;
				content++;
			} else if (p[i] >= 0x80) {
				if (!allow_utf8 ||
				    (n = utf8_seq_len(p + i, len - i)) == 0)
					return -1;
				mb->utf8 = true;
				i += n;
				content += n;
			} else if (p[i] >= 32 && p[i] <= 126) {
				i++;
				content++;
			} else
				return -1;
			/* 64 octets of content, so at most 130 as written. */
			if (content > SMTP_LOCAL_MAX)
				return -1;
		}
	} else {
		/* Dot-string = Atom *("." Atom) */
		need_atom = true;
		while (i < len && p[i] != '@') {
			if (p[i] == '.') {
				if (need_atom)
					return -1;
				need_atom = true;
				i++;
				continue;
			}
			if (p[i] >= 0x80) {
				if (!allow_utf8 ||
				    (n = utf8_seq_len(p + i, len - i)) == 0)
					return -1;
				mb->utf8 = true;
				i += n;
			} else if (smtp_is_atext(p[i]))
				i++;
			else
				return -1;
			need_atom = false;
			if (i > SMTP_LOCAL_MAX)
				return -1;
		}
		if (need_atom)
			return -1;	/* empty, or ends with a dot */
	}
	if (i >= len || p[i] != '@' || i >= sizeof(mb->local))
		return -1;
	memcpy(mb->local, s, i);
	mb->local[i] = '\0';
	mb->local_len = i;

	p += i + 1;
	dlen = len - i - 1;
	if (dlen > SMTP_DOMAIN_MAX)
		return -1;
	if (dlen > 0 && p[0] == '[') {
		if (smtp_literal_check(p, dlen) != 0)
			return -1;
		mb->literal = true;
	} else if (smtp_domain_name_check(p, dlen, allow_utf8, &mb->utf8) != 0)
		return -1;
	memcpy(mb->domain, p, dlen);
	mb->domain[dlen] = '\0';
	mb->domain_len = dlen;
	return 0;
}

int
smtp_mailbox_format(const struct smtp_mailbox *mb, char *out, size_t outsz)
{
	size_t need;

	if (mb->local_len > sizeof(mb->local) - 1 ||
	    mb->domain_len > sizeof(mb->domain) - 1)
		return -1;
	need = mb->local_len + (mb->domain_len ? 1 + mb->domain_len : 0);
	if (need >= outsz || need > INT_MAX)
		return -1;
	memcpy(out, mb->local, mb->local_len);
	if (mb->domain_len) {
		out[mb->local_len] = '@';
		memcpy(out + mb->local_len + 1, mb->domain, mb->domain_len);
	}
	out[need] = '\0';
	return (int)need;
}

/* ---- xtext (RFC 3461 4) ---- */

static int
smtp_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	/* RFC 3461 asks for uppercase; accepting lowercase costs nothing. */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
smtp_xtext_decode(const char *in, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;
	int hi, lo;
	unsigned char v;

	if (outsz == 0 || outsz - 1 > INT_MAX)
		return -1;
	while (i < len) {
		if (p[i] == '+') {
			if (len - i < 3 || (hi = smtp_hexval(p[i + 1])) < 0 ||
			    (lo = smtp_hexval(p[i + 2])) < 0)
				return -1;
			v = (unsigned char)(hi << 4 | lo);
			i += 3;
		} else if (p[i] >= 33 && p[i] <= 126 && p[i] != '=') {
			v = p[i++];
		} else
			return -1;
		if (o + 1 >= outsz)
			return -1;
		out[o++] = (char)v;
	}
	out[o] = '\0';
	return (int)o;
}

int
smtp_xtext_encode(const char *in, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)in;
	size_t i, o = 0, w;

	if (outsz == 0 || outsz - 1 > INT_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		w = (p[i] >= 33 && p[i] <= 126 && p[i] != '+' && p[i] != '=') ?
		    1 : 3;
		if (o + w >= outsz)
			return -1;
		if (w == 1)
			out[o++] = (char)p[i];
		else {
			out[o++] = '+';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 0x0f];
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* ---- command lines ---- */

enum smtp_argkind {
	SMTP_ARG_NONE,		/* no argument allowed */
	SMTP_ARG_OPTIONAL,
	SMTP_ARG_REQUIRED,
	SMTP_ARG_DOMAIN,	/* HELO/EHLO: Domain / address-literal */
	SMTP_ARG_PATH,		/* MAIL FROM: / RCPT TO: */
};

static const struct smtp_verb_def {
	const char	*name;
	enum smtp_verb	 verb;
	enum smtp_argkind kind;
} smtp_verbs[] = {
	{ "HELO",	SMTP_VERB_HELO,		SMTP_ARG_DOMAIN },
	{ "EHLO",	SMTP_VERB_EHLO,		SMTP_ARG_DOMAIN },
	{ "MAIL",	SMTP_VERB_MAIL,		SMTP_ARG_PATH },
	{ "RCPT",	SMTP_VERB_RCPT,		SMTP_ARG_PATH },
	{ "DATA",	SMTP_VERB_DATA,		SMTP_ARG_NONE },
	{ "RSET",	SMTP_VERB_RSET,		SMTP_ARG_NONE },
	{ "NOOP",	SMTP_VERB_NOOP,		SMTP_ARG_OPTIONAL },
	{ "QUIT",	SMTP_VERB_QUIT,		SMTP_ARG_NONE },
	{ "HELP",	SMTP_VERB_HELP,		SMTP_ARG_OPTIONAL },
	{ "VRFY",	SMTP_VERB_VRFY,		SMTP_ARG_OPTIONAL },
	{ "EXPN",	SMTP_VERB_EXPN,		SMTP_ARG_OPTIONAL },
	{ "STARTTLS",	SMTP_VERB_STARTTLS,	SMTP_ARG_NONE },
	{ "AUTH",	SMTP_VERB_AUTH,		SMTP_ARG_REQUIRED },
	{ "BDAT",	SMTP_VERB_BDAT,		SMTP_ARG_REQUIRED },
};

int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
    const char **reply)
{
	const struct smtp_verb_def *def = NULL;
	const unsigned char *p = (const unsigned char *)line;
	const char *kw;
	size_t i, vlen, a, kwlen;

	if (line == NULL) {	/* no pointer arithmetic on NULL */
		line = "";
		p = (const unsigned char *)line;
		len = 0;
	}
	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = line + len;
	cmd->arg_len = 0;
	*reply = NULL;

	/*
	 * RFC 5321 2.3.8 / 4.1.1: a command line is printable text; any
	 * control byte (NUL, bare CR or LF, TAB, DEL) is refused outright so
	 * nothing later can mistake it for a separator.
	 */
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			*reply = R_CONTROL;
			return -1;
		}
	}
	/* Trailing spaces are common and harmless. */
	while (len > 0 && p[len - 1] == ' ')
		len--;

	for (vlen = 0; vlen < len && p[vlen] != ' '; vlen++)
		;
	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
		if (smtp_ieq(line, vlen, smtp_verbs[i].name)) {
			def = &smtp_verbs[i];
			break;
		}
	}
	if (def == NULL) {
		*reply = R_UNRECOGNIZED;
		return -1;
	}
	for (a = vlen; a < len && p[a] == ' '; a++)
		;

	switch (def->kind) {
	case SMTP_ARG_NONE:
		if (a < len) {
			*reply = R_NOPARAMS;
			return -1;
		}
		break;
	case SMTP_ARG_OPTIONAL:
		break;
	case SMTP_ARG_REQUIRED:
		if (a == len) {
			*reply = R_PARAMS;
			return -1;
		}
		break;
	case SMTP_ARG_DOMAIN:
		/*
		 * ehlo = "EHLO" SP ( Domain / address-literal ) (RFC 5321
		 * 4.1.1.1); one argument only, ASCII only (the client has not
		 * seen SMTPUTF8 advertised yet).
		 */
		if (a == len || smtp_domain_check(line + a, len - a, true,
		    false) != 0) {
			*reply = def->verb == SMTP_VERB_HELO ? R_HELO : R_EHLO;
			return -1;
		}
		break;
	case SMTP_ARG_PATH:
		/* "MAIL FROM:" / "RCPT TO:"; the keyword is case-insensitive. */
		kw = def->verb == SMTP_VERB_MAIL ? "FROM:" : "TO:";
		kwlen = strlen(kw);
		if (a == vlen || len - a < kwlen ||
		    !smtp_ieq(line + a, kwlen, kw)) {
			*reply = def->verb == SMTP_VERB_MAIL ? R_MAIL_SYNTAX :
			    R_RCPT_SYNTAX;
			return -1;
		}
		/* Tolerate "MAIL FROM: <a@b>", as every MTA does. */
		for (a += kwlen; a < len && p[a] == ' '; a++)
			;
		break;
	}
	cmd->verb = def->verb;
	cmd->arg = line + a;
	cmd->arg_len = len - a;
	return 0;
}

/* ---- paths and ESMTP parameters ---- */

struct smtp_path {
	const char *mbox;	/* between the brackets, source route skipped */
	size_t	mbox_len;
	bool	route;		/* a source route was present */
	size_t	end;		/* offset just past '>' */
};

/*
 * Path = "<" [ A-d-l ":" ] Mailbox ">" (RFC 5321 4.1.2), located at the
 * start of s after optional spaces.  The closing '>' is the first one
 * outside a quoted local part and outside an address literal.  A source route is checked and skipped
 * (RFC 5321 4.1.2, Appendix C: "MUST BE accepted, SHOULD NOT be
 * generated, and SHOULD be ignored").  Returns 0, -1 on syntax errors,
 * -2 if the path is longer than SMTP_PATH_MAX (4.5.3.1.3).
 */
static int
smtp_path_split(const char *s, size_t len, struct smtp_path *path)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, open, close, ilen, j, ds;
	bool inq = false, inlit = false, utf8 = false;
	const unsigned char *in;

	while (i < len && p[i] == ' ')
		i++;
	if (i == len || p[i] != '<')
		return -1;
	open = i++;
	/* dcontent of a general address literal may hold '>' too. */
	for (; i < len; i++) {
		if (inq) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				inq = false;
		} else if (inlit) {
			if (p[i] == ']')
				inlit = false;
		} else if (p[i] == '"')
			inq = true;
		else if (p[i] == '[')
			inlit = true;
		else if (p[i] == '>')
			break;
	}
	if (i >= len)
		return -1;
	close = i;
	if (close - open + 1 > SMTP_PATH_MAX)
		return -2;
	in = p + open + 1;
	ilen = close - open - 1;
	path->route = false;
	if (ilen > 0 && in[0] == '@') {
		/* A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain */
		path->route = true;
		for (j = 0;; ) {
			if (j >= ilen || in[j] != '@')
				return -1;
			ds = ++j;
			while (j < ilen && in[j] != ',' && in[j] != ':')
				j++;
			if (smtp_domain_name_check(in + ds, j - ds, true,
			    &utf8) != 0 || j >= ilen)
				return -1;
			if (in[j++] == ':')
				break;
		}
		in += j;
		ilen -= j;
		if (ilen == 0)
			return -1;
	}
	path->mbox = (const char *)in;
	path->mbox_len = ilen;
	path->end = close + 1;
	return 0;
}

struct smtp_param {
	const char *kw;
	size_t	kwlen;
	const char *val;	/* NULL when there is no "=" */
	size_t	vallen;
};

/*
 * Next esmtp-param (RFC 5321 4.1.2: esmtp-keyword ["=" esmtp-value],
 * separated by SP; RFC 6531 3.3 lets values hold UTF-8, which only the
 * parameter's own check may accept).  Returns 1 with *pp set, 0 at the
 * end, -1 on bad syntax.
 */
static int
smtp_param_next(const char *s, size_t len, size_t *pos, struct smtp_param *pp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = *pos;

	while (i < len && p[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	if (!smtp_is_letdig(p[i]))
		return -1;
	pp->kw = s + i;
	while (i < len && (smtp_is_letdig(p[i]) || p[i] == '-'))
		i++;
	pp->kwlen = (size_t)(s + i - pp->kw);
	pp->val = NULL;
	pp->vallen = 0;
	if (i < len && p[i] == '=') {
		pp->val = s + ++i;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		while (i < len && p[i] != ' ') {
			if (p[i] < 33 || p[i] == '=' || p[i] == 127)
				return -1;
			i++;
		}
		pp->vallen = (size_t)(s + i - pp->val);
		if (pp->vallen == 0)
			return -1;
	} else if (i < len && p[i] != ' ')
		return -1;
	*pos = i;
	return 1;
}

/*
 * RFC 3461 4.2/4.4: the decoded ENVID and ORCPT address are printable
 * US-ASCII.  We also refuse controls because both end up in DSN header
 * fields and logs.
 */
static bool
smtp_printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* SIZE=1*20DIGIT; values past LLONG_MAX clamp, so the server says 552. */
static int
smtp_size_value(const char *v, size_t n, long long *out)
{
	long long acc = 0;
	size_t i;
	int d;

	if (n == 0 || n > SMTP_SIZE_DIGITS)
		return -1;
	for (i = 0; i < n; i++) {
		if (!smtp_is_digit((unsigned char)v[i]))
			return -1;
		d = v[i] - '0';
		if (acc > (LLONG_MAX - d) / 10)
			acc = LLONG_MAX;
		else
			acc = acc * 10 + d;
	}
	*out = acc;
	return 0;
}

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1) */
static int
smtp_notify_value(const char *v, size_t n, unsigned *out)
{
	size_t i = 0, start;
	unsigned bits = 0;

	if (smtp_ieq(v, n, "NEVER")) {
		*out = SMTP_NOTIFY_NEVER;
		return 0;
	}
	for (;;) {
		start = i;
		while (i < n && v[i] != ',')
			i++;
		if (smtp_ieq(v + start, i - start, "SUCCESS"))
			bits |= SMTP_NOTIFY_SUCCESS;
		else if (smtp_ieq(v + start, i - start, "FAILURE"))
			bits |= SMTP_NOTIFY_FAILURE;
		else if (smtp_ieq(v + start, i - start, "DELAY"))
			bits |= SMTP_NOTIFY_DELAY;
		else
			return -1;	/* includes NEVER in a list, empty item */
		if (i == n)
			break;
		i++;
	}
	*out = bits;
	return 0;
}

/*
 * ORCPT=addr-type ";" xtext (RFC 3461 4.2), addr-type an RFC 5322 atom.
 * Stored as "addr-type;decoded-address" (at most SMTP_ORCPT_MAX octets).
 */
static int
smtp_orcpt_value(const char *v, size_t n, char *out, size_t outsz)
{
	const char *semi;
	size_t tlen, i;
	int dlen;

	if ((semi = memchr(v, ';', n)) == NULL)
		return -1;
	tlen = (size_t)(semi - v);
	if (tlen == 0 || tlen + 1 >= outsz)
		return -1;
	for (i = 0; i < tlen; i++)
		if (!smtp_is_atext((unsigned char)v[i]))
			return -1;
	memcpy(out, v, tlen + 1);
	dlen = smtp_xtext_decode(semi + 1, n - tlen - 1, out + tlen + 1,
	    outsz - tlen - 1);
	if (dlen <= 0 || !smtp_printable(out + tlen + 1, (size_t)dlen))
		return -1;
	return 0;
}

#define SMTP_P_SIZE	0x01
#define SMTP_P_BODY	0x02
#define SMTP_P_SMTPUTF8	0x04
#define SMTP_P_RET	0x08
#define SMTP_P_ENVID	0x10
#define SMTP_P_NOTIFY	0x20
#define SMTP_P_ORCPT	0x40

/* Mark a parameter seen; RFC 1870/3461/6152/6531 each allow it once. */
static bool
smtp_param_once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

static const char *
smtp_mail_param(const struct smtp_param *pp, unsigned *seen,
    struct smtp_mail_args *out)
{
	const char *v = pp->val;
	size_t n = pp->vallen;
	int dlen;

	if (smtp_ieq(pp->kw, pp->kwlen, "SIZE")) {
		if (!smtp_param_once(seen, SMTP_P_SIZE))
			return R_DUP;
		if (v == NULL || smtp_size_value(v, n, &out->size) != 0)
			return R_SIZE;
	} else if (smtp_ieq(pp->kw, pp->kwlen, "BODY")) {
		if (!smtp_param_once(seen, SMTP_P_BODY))
			return R_DUP;
		if (v != NULL && smtp_ieq(v, n, "7BIT"))
			out->body = SMTP_BODY_7BIT;
		else if (v != NULL && smtp_ieq(v, n, "8BITMIME"))
			out->body = SMTP_BODY_8BITMIME;
		else if (v != NULL && smtp_ieq(v, n, "BINARYMIME"))
			return R_BINARY;
		else
			return R_BODY;
	} else if (smtp_ieq(pp->kw, pp->kwlen, "SMTPUTF8")) {
		if (!smtp_param_once(seen, SMTP_P_SMTPUTF8))
			return R_DUP;
		if (v != NULL)
			return R_SMTPUTF8;
		out->smtputf8 = true;
	} else if (smtp_ieq(pp->kw, pp->kwlen, "RET")) {
		if (!smtp_param_once(seen, SMTP_P_RET))
			return R_DUP;
		if (v != NULL && smtp_ieq(v, n, "FULL"))
			out->ret = SMTP_RET_FULL;
		else if (v != NULL && smtp_ieq(v, n, "HDRS"))
			out->ret = SMTP_RET_HDRS;
		else
			return R_RET;
	} else if (smtp_ieq(pp->kw, pp->kwlen, "ENVID")) {
		if (!smtp_param_once(seen, SMTP_P_ENVID))
			return R_DUP;
		if (v == NULL || (dlen = smtp_xtext_decode(v, n, out->envid,
		    sizeof(out->envid))) <= 0 ||
		    !smtp_printable(out->envid, (size_t)dlen)) {
			out->envid[0] = '\0';
			return R_ENVID;
		}
	} else
		return R_UNKNOWN;
	return NULL;
}

static const char *
smtp_rcpt_param(const struct smtp_param *pp, unsigned *seen,
    struct smtp_rcpt_args *out)
{
	if (smtp_ieq(pp->kw, pp->kwlen, "NOTIFY")) {
		if (!smtp_param_once(seen, SMTP_P_NOTIFY))
			return R_DUP;
		if (pp->val == NULL ||
		    smtp_notify_value(pp->val, pp->vallen, &out->notify) != 0)
			return R_NOTIFY;
	} else if (smtp_ieq(pp->kw, pp->kwlen, "ORCPT")) {
		if (!smtp_param_once(seen, SMTP_P_ORCPT))
			return R_DUP;
		if (pp->val == NULL || smtp_orcpt_value(pp->val, pp->vallen,
		    out->orcpt, sizeof(out->orcpt)) != 0) {
			out->orcpt[0] = '\0';
			return R_ORCPT;
		}
	} else
		return R_UNKNOWN;
	return NULL;
}

int
smtp_mail_parse(const char *arg, size_t len, struct smtp_mail_args *out,
    const char **reply)
{
	struct smtp_path path;
	struct smtp_param pp;
	size_t pos;
	unsigned seen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->size = -1;
	out->body = SMTP_BODY_7BIT;
	out->ret = SMTP_RET_NONE;
	*reply = NULL;

	if ((rc = smtp_path_split(arg, len, &path)) != 0) {
		*reply = rc == -2 ? R_MAIL_LONG : R_MAIL_BAD;
		return -1;
	}
	if (path.end < len && arg[path.end] != ' ') {
		*reply = R_MAIL_BAD;
		return -1;
	}
	if (path.mbox_len == 0)
		out->null_sender = true;	/* "<>": bounces (4.5.5) */
	else if (smtp_mailbox_parse(path.mbox, path.mbox_len, true,
	    &out->from) != 0) {
		*reply = R_MAIL_BAD;
		return -1;
	}
	pos = path.end;
	while ((rc = smtp_param_next(arg, len, &pos, &pp)) == 1) {
		if ((*reply = smtp_mail_param(&pp, &seen, out)) != NULL)
			return -1;
	}
	if (rc < 0) {
		*reply = R_PARAMS;
		return -1;
	}
	/* Checked last: SMTPUTF8 may follow the path (RFC 6531 3.4). */
	if (out->from.utf8 && !out->smtputf8) {
		*reply = R_UTF8;
		return -1;
	}
	return 0;
}

int
smtp_rcpt_parse(const char *arg, size_t len, bool utf8_ok,
    struct smtp_rcpt_args *out, const char **reply)
{
	struct smtp_path path;
	struct smtp_param pp;
	size_t pos;
	unsigned seen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->notify = SMTP_NOTIFY_NONE;
	*reply = NULL;

	if ((rc = smtp_path_split(arg, len, &path)) != 0) {
		*reply = rc == -2 ? R_RCPT_LONG : R_RCPT_BAD;
		return -1;
	}
	if (path.end < len && arg[path.end] != ' ') {
		*reply = R_RCPT_BAD;
		return -1;
	}
	if (!path.route && smtp_ieq(path.mbox, path.mbox_len, "Postmaster")) {
		/* "<Postmaster>" with no domain (RFC 5321 4.1.1.3, 4.5.1). */
		out->postmaster = true;
		memcpy(out->to.local, path.mbox, path.mbox_len);
		out->to.local[path.mbox_len] = '\0';
		out->to.local_len = path.mbox_len;
	} else if (smtp_mailbox_parse(path.mbox, path.mbox_len, true,
	    &out->to) != 0) {
		*reply = R_RCPT_BAD;
		return -1;
	}
	pos = path.end;
	while ((rc = smtp_param_next(arg, len, &pos, &pp)) == 1) {
		if ((*reply = smtp_rcpt_param(&pp, &seen, out)) != NULL)
			return -1;
	}
	if (rc < 0) {
		*reply = R_PARAMS;
		return -1;
	}
	if (out->to.utf8 && !utf8_ok) {
		*reply = R_UTF8;
		return -1;
	}
	return 0;
}
